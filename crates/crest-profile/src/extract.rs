//! What a profile takes from a batch: matched messages' actor, time and feature values.
//!
//! Extraction needs no model state, so parts of a batch can be extracted on several cores and
//! joined in order ([`Extraction::append`]). The texts of a batch live in one buffer, each with
//! its hash, so that the scorer allocates nothing and hashes nothing per value.

use serde_json::Value;

use crate::config::{Extract, Profile, ReporterKind};
use crate::intern::text_hash;
use crate::model::{Message, Skip};
use crate::value::{Field, Fields, canonical_into, canonical_multi_into, plain};

/// A batch as one profile sees it: how many messages matched, which could not be used and
/// why, and each usable one's actor, time and feature values.
#[derive(Clone, Debug, Default)]
pub struct Extraction {
    pub(crate) matched: usize,
    pub(crate) skipped: Vec<Skip>,
    /// Usable messages: index in the batch and time.
    rows: Vec<(usize, i64)>,
    /// Per row, `width` texts: the actor's name, then each feature's value.
    cells: Vec<Cell>,
    width: usize,
    text: String,
}

/// One text of an extraction: `text[start..end]`, and its hash.
#[derive(Clone, Copy, Debug)]
struct Cell {
    start: usize,
    end: usize,
    hash: u64,
}

impl Extraction {
    /// The extraction of a batch.
    pub fn of(profile: &Profile, batch: &[Message]) -> Extraction {
        let mut out = Extraction::empty(profile);
        for (i, m) in batch.iter().enumerate() {
            out.push(profile, i, m.arrival_us, &m.data);
        }
        out
    }

    /// An extraction of nothing yet, for `profile`.
    pub fn empty(profile: &Profile) -> Extraction {
        Extraction { width: 1 + profile.features.len(), ..Extraction::default() }
    }

    /// Adds message `index` of the batch, which arrived at `arrival_us`, if the profile
    /// matches it.
    pub fn push<F: Fields + ?Sized>(
        &mut self,
        profile: &Profile,
        index: usize,
        arrival_us: i64,
        m: &F,
    ) {
        if !profile.matches(m) {
            return;
        }
        self.matched += 1;
        let (text_len, cells_len) = (self.text.len(), self.cells.len());
        match self.try_push(profile, index, arrival_us, m) {
            Ok(()) => {}
            Err((field, reason)) => {
                self.text.truncate(text_len);
                self.cells.truncate(cells_len);
                self.skipped.push(Skip { message: index, field, reason });
            }
        }
    }

    fn try_push<F: Fields + ?Sized>(
        &mut self,
        profile: &Profile,
        index: usize,
        arrival_us: i64,
        m: &F,
    ) -> Result<(), (String, String)> {
        let actor = profile.actor.get(m);
        match (actor.as_ref().and_then(Field::as_str), &actor) {
            (Some(name), _) => self.text.push_str(name),
            (None, Some(other)) => {
                return Err((
                    profile.actor.display(),
                    format!("the actor must be a string, got {other}"),
                ));
            }
            (None, None) => return Err((profile.actor.display(), "missing actor".into())),
        }
        self.close_cell();
        let time = match &profile.time {
            None => arrival_us,
            Some(p) => match p.get(m).and_then(|f| instant(&f)) {
                Some(t) => t,
                None => {
                    let got = p.get(m).map_or("nothing".to_string(), |v| v.to_string());
                    return Err((p.display(), format!("not a time: {got}")));
                }
            },
        };
        for f in &profile.features {
            let text = &mut self.text;
            match (&f.extract, f.reporter) {
                (Extract::Time, ReporterKind::Hour) => {
                    push_int(text, time.div_euclid(3_600_000_000).rem_euclid(24));
                }
                (Extract::Time, _) => {
                    push_int(text, (time.div_euclid(86_400_000_000) + 3).rem_euclid(7));
                }
                (Extract::Single(p), ReporterKind::Numeric) => match p.get(m) {
                    None => {}
                    Some(v) if v.is_null() => {}
                    Some(v) => match number(&v) {
                        Some(x) => push_int(text, bin_of(x)),
                        None => return Err((p.display(), format!("not a number: {v}"))),
                    },
                },
                (Extract::Single(p), _) => canonical_into(text, p.get(m)),
                (Extract::Multi(ps), _) => canonical_multi_into(text, m, ps),
            }
            self.close_cell();
        }
        self.rows.push((index, time));
        Ok(())
    }

    /// Ends the text begun after the last cell.
    fn close_cell(&mut self) {
        let start = self.cells.last().map_or(0, |c| c.end);
        let end = self.text.len();
        let hash = text_hash(&self.text[start..end]);
        self.cells.push(Cell { start, end, hash });
    }

    /// Appends the extraction of the part of the batch that follows this one's, whose message
    /// indices are `shift` less than in the whole batch.
    pub fn append(&mut self, next: Extraction, shift: usize) {
        self.matched += next.matched;
        self.skipped
            .extend(next.skipped.into_iter().map(|s| Skip { message: s.message + shift, ..s }));
        self.rows.extend(next.rows.into_iter().map(|(i, t)| (i + shift, t)));
        let base = self.text.len();
        self.text.push_str(&next.text);
        self.cells.extend(next.cells.into_iter().map(|c| Cell {
            start: c.start + base,
            end: c.end + base,
            ..c
        }));
        self.width = self.width.max(next.width);
    }

    /// Makes room for appending `others` without growing again.
    pub fn reserve_for<'a>(&mut self, others: impl Iterator<Item = &'a Extraction> + Clone) {
        self.rows.reserve(others.clone().map(|e| e.rows.len()).sum());
        self.cells.reserve(others.clone().map(|e| e.cells.len()).sum());
        self.text.reserve(others.map(|e| e.text.len()).sum());
    }

    /// How many messages are usable.
    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    /// Row `r`'s message index in the batch.
    pub(crate) fn message(&self, r: usize) -> usize {
        self.rows[r].0
    }

    /// Row `r`'s time (µs).
    pub(crate) fn time(&self, r: usize) -> i64 {
        self.rows[r].1
    }

    /// Row `r`'s actor name and its hash.
    pub(crate) fn actor(&self, r: usize) -> (&str, u64) {
        self.cell(r * self.width)
    }

    /// Row `r`'s value of feature `f` (canonical text, `""` for null) and its hash.
    pub(crate) fn value(&self, r: usize, f: usize) -> (&str, u64) {
        self.cell(r * self.width + 1 + f)
    }

    fn cell(&self, k: usize) -> (&str, u64) {
        let c = self.cells[k];
        (&self.text[c.start..c.end], c.hash)
    }

    /// The actors it names and the values its rarity features take, sorted: what a store
    /// shared with other writers must load before it is scored.
    pub fn touched(&self, profile: &Profile) -> (Vec<&str>, Vec<(usize, &str)>) {
        let mut actors: Vec<&str> = (0..self.len()).map(|r| self.actor(r).0).collect();
        let mut values = Vec::new();
        for (f, feature) in profile.features.iter().enumerate() {
            if feature.reporter == ReporterKind::Rarity {
                values.extend((0..self.len()).map(|r| (f, self.value(r, f).0)));
            }
        }
        actors.sort_unstable();
        actors.dedup();
        values.sort_unstable();
        values.dedup();
        (actors, values)
    }
}

/// Appends an integer's decimal text.
fn push_int(out: &mut String, n: i64) {
    use std::fmt::Write;
    let _ = write!(out, "{n}");
}

/// Numbers are binned on a log scale, four bins per doubling, so that an actor's range is a
/// histogram like any other feature (it decays and merges across writers the same way).
pub(crate) fn bin_of(x: f64) -> i64 {
    let b = (4.0 * (1.0 + x.abs()).log2()).round() as i64;
    if x < 0.0 { -b } else { b }
}

/// A value as a number (numbers, or strings holding one).
fn number(v: &Field<'_>) -> Option<f64> {
    if let Some(s) = v.as_str() {
        return s.trim().parse::<f64>().ok().filter(|x| x.is_finite());
    }
    match v.to_value() {
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

/// A value as an instant in microseconds: a string (RFC 3339 or epoch digits) or a number.
fn instant(v: &Field<'_>) -> Option<i64> {
    if let Some(s) = v.as_str() {
        return crest_core::time::parse_instant_text(s);
    }
    let v = v.to_value();
    match &v {
        Value::Number(n) => crest_core::time::parse_instant_text(&n.to_string()),
        _ => None,
    }
    .or_else(|| crest_core::time::parse_instant_text(&plain(&v)))
}
