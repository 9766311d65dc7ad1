//! One pass over the records: counts per pair and sample, for the window and for the baseline.
//!
//! The reference reads its input once for the local table and, when it must build a baseline,
//! once more per day of the last week. crest does all of it in one pass: a record in the
//! window `[start, end)` counts toward the local table, and a record whose local date could
//! belong to the baseline week counts toward that day's table. Which days the baseline really
//! uses is known only at the end (a day counts when at least one of its records falls inside
//! `[now − 7 days, now)`), so candidate days are kept until then: at most eight of them.
//!
//! Memory is one counter per distinct (pair, sample) in the window, plus one per distinct
//! (day, pair, sample) on candidate days: bounded by keys, not by the size of the input.
//!
//! Which fields a record must have follows the reference exactly: the time field always; the
//! dimensions, cross dimensions and sample in the window; and, when the baseline is built from
//! the input and its week has data, the dimensions and sample of *every* record (the
//! reference reads them from the whole input once per baseline day, before it looks at the
//! date). That last rule is decided at the end, so such records are set aside until then.

use std::collections::BTreeMap;

use crest_core::record::{Record, RecordError, RecordOrder, RecordSeq, RecordSink};
use crest_core::time::{Day, LocalClock, TimeError, WallTime};
use crest_core::value::Projection;

use crate::config::{DEFAULT_GLOBAL_TABLE_AGE_DAYS, PeakConfig};
use crate::local::{LocalPair, LocalTable, SampleCounts, TableFull, sample_hash};

/// A half-open span of wall-clock time `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// First instant inside.
    pub start: WallTime,
    /// First instant after.
    pub end: WallTime,
}

impl Window {
    /// Whether `t` lies in `[start, end)`.
    pub fn contains(&self, t: WallTime) -> bool {
        self.start <= t && t < self.end
    }
}

/// The values of a pair's dimensions, in dimension order.
pub type PairKey = Vec<String>;

/// What one run counts: the window under test and, optionally, the baseline week.
#[derive(Clone, Debug)]
pub struct PeakPlan {
    config: PeakConfig,
    window: Window,
    baseline: Option<Window>,
    clock: LocalClock,
}

impl PeakPlan {
    /// A plan counting the window only (a global table exists already).
    pub fn new(config: PeakConfig, window: Window, clock: LocalClock) -> Self {
        PeakPlan { config, window, baseline: None, clock }
    }

    /// Also counts the baseline week `[now − 7 days, now)` (no global table exists yet).
    /// `now` is the UTC wall clock, as the reference reads it.
    pub fn with_baseline(mut self, now: WallTime) -> Self {
        let from = now.add_days(-DEFAULT_GLOBAL_TABLE_AGE_DAYS).unwrap_or(now);
        self.baseline = Some(Window { start: from, end: now });
        self
    }

    /// The configuration.
    pub fn config(&self) -> &PeakConfig {
        &self.config
    }

    /// The window under test.
    pub fn window(&self) -> Window {
        self.window
    }

    /// The baseline week, when one is counted.
    pub fn baseline(&self) -> Option<Window> {
        self.baseline
    }

    /// The fields to ask the source for.
    pub fn projection(&self) -> Projection {
        Projection::new(self.config.slot_fields())
    }

    /// A fresh accumulator for one part of the input.
    pub fn accumulator(&self) -> PeakAccumulator<'_> {
        // Calendar days that can hold a record inside the baseline week.
        let days = self.baseline.map(|w| {
            let last = WallTime::from_micros(w.end.micros() - 1).day();
            (w.start.day(), last.max(w.start.day()))
        });
        PeakAccumulator {
            plan: self,
            clock: self.clock.clone(),
            candidate_days: days
                .filter(|(a, b)| a <= b && self.baseline.is_some_and(|w| w.start < w.end)),
            pairs: Pairs::default(),
            local: Vec::new(),
            days: BTreeMap::new(),
            unusable: Unusable::default(),
            key_buf: Vec::new(),
            id_buf: Vec::new(),
        }
    }
}

/// Interns pair keys: encoded bytes ↔ small ids.
#[derive(Default)]
struct Pairs {
    index: hashbrown::HashMap<Box<[u8]>, u32, foldhash::fast::RandomState>,
    encoded: Vec<Box<[u8]>>,
}

impl Pairs {
    fn intern(&mut self, encoded: &[u8]) -> u32 {
        if let Some(&id) = self.index.get(encoded) {
            return id;
        }
        let id = self.encoded.len() as u32;
        self.encoded.push(encoded.into());
        self.index.insert(encoded.into(), id);
        id
    }

    /// Decodes a key written by [`encode_dim`]: length-prefixed UTF-8 values.
    fn decode(&self, id: u32) -> PairKey {
        let mut bytes = &self.encoded[id as usize][..];
        let mut key = Vec::new();
        while bytes.len() >= 4 {
            let len = u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes")) as usize;
            key.push(String::from_utf8_lossy(&bytes[4..4 + len]).into_owned());
            bytes = &bytes[4 + len..];
        }
        key
    }
}

fn encode_dim(buf: &mut Vec<u8>, text: &[u8]) {
    buf.extend_from_slice(&(text.len() as u32).to_le_bytes());
    buf.extend_from_slice(text);
}

/// Counts of one candidate baseline day.
#[derive(Default)]
struct DayCounts {
    /// Whether a record of this day lies inside the baseline week.
    in_window: bool,
    /// Sample counts per pair id.
    pairs: BTreeMap<u32, SampleCounts>,
}

/// A record that could not be used, with where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidRecord {
    /// The record's position, for ordering.
    pub order: RecordOrder,
    /// The record's part and index, for numbering.
    pub seq: RecordSeq,
    /// What is wrong with it.
    pub error: RecordError,
}

/// Counts of one part of the input; merge parts in input order, then [`finish`](Self::finish).
pub struct PeakAccumulator<'p> {
    plan: &'p PeakPlan,
    clock: LocalClock,
    candidate_days: Option<(Day, Day)>,
    pairs: Pairs,
    /// Window counts by pair id (`None` for pairs seen only on baseline days).
    local: Vec<Option<LocalPair>>,
    days: BTreeMap<Day, DayCounts>,
    /// Records outside the window without the fields a baseline from the input needs: an
    /// error only if the baseline week turns out to have data.
    unusable: Unusable,
    key_buf: Vec<u8>,
    id_buf: Vec<u8>,
}

impl RecordSink for PeakAccumulator<'_> {
    fn accept(&mut self, record: &Record<'_, '_>) -> Result<(), RecordError> {
        let fields = &self.plan.config.fields;
        let time =
            record.slots[0].ok_or_else(|| RecordError::Missing { field: fields.time.clone() })?;
        let invalid_time = |e: TimeError| RecordError::Invalid {
            field: fields.time.clone(),
            reason: match e {
                TimeError::OutOfRange(_) => {
                    format!("{} is outside the years 1..9999", time.describe())
                }
                other => other.to_string(),
            },
        };
        let instant = self.plan.config.time_format.instant(&time).map_err(invalid_time)?;
        let wall = self.clock.wall_time(instant).map_err(invalid_time)?;

        let in_window = self.plan.window.contains(wall);
        let day = wall.day();
        let on_candidate_day = self.candidate_days.is_some_and(|(a, b)| a <= day && day <= b);
        if on_candidate_day && self.plan.baseline.is_some_and(|w| w.contains(wall)) {
            // Deciding which days the baseline uses needs only the timestamp.
            self.days.entry(day).or_default().in_window = true;
        }
        if !in_window && !on_candidate_day {
            if self.plan.baseline.is_some()
                && let Err(error) = self.check_baseline_fields(record)
            {
                self.unusable.note(InvalidRecord { order: record.order, seq: record.seq, error });
            }
            return Ok(());
        }
        let pair = match self.pair_and_sample(record, in_window) {
            Ok(pair) => pair,
            Err(error) if in_window => return Err(error),
            Err(error) => {
                self.unusable.note(InvalidRecord { order: record.order, seq: record.seq, error });
                return Ok(());
            }
        };
        let full = |_| RecordError::Invalid {
            field: fields.sample.clone(),
            reason:
                "more than 4 GiB of distinct values in one pair and day (split the input by day)"
                    .into(),
        };
        let hash = sample_hash(&self.id_buf);
        if in_window {
            let slot = &mut self.local[pair as usize];
            let lp = slot.get_or_insert_with(|| LocalPair::new(record.order));
            lp.counts.add_hashed(&self.id_buf, hash, 1).map_err(full)?;
            lp.first_seen = lp.first_seen.min(record.order);
        }
        if on_candidate_day {
            let counts = self.days.entry(day).or_default().pairs.entry(pair).or_default();
            counts.add_hashed(&self.id_buf, hash, 1).map_err(full)?;
        }
        Ok(())
    }
}

impl PeakAccumulator<'_> {
    /// Checks, without counting, that a record has the dimensions and sample a baseline built
    /// from the input reads.
    fn check_baseline_fields(&self, record: &Record<'_, '_>) -> Result<(), RecordError> {
        let fields = &self.plan.config.fields;
        for (i, name) in fields.dims.iter().enumerate() {
            scalar(record, 2 + i, name)?;
        }
        scalar(record, 1, &fields.sample)
    }

    /// Reads the dimensions, the cross dimensions (only `with_cross`: the reference reads them
    /// in the window alone) and the sample of a record, in the reference's order so that the
    /// first missing field named is the one it trips on; returns the pair id and leaves the
    /// sample's identity in `id_buf`.
    fn pair_and_sample(
        &mut self,
        record: &Record<'_, '_>,
        with_cross: bool,
    ) -> Result<u32, RecordError> {
        let fields = &self.plan.config.fields;
        let nd = fields.dims.len();
        self.key_buf.clear();
        for (i, name) in fields.dims.iter().enumerate() {
            let v =
                record.slots[2 + i].ok_or_else(|| RecordError::Missing { field: name.clone() })?;
            let text = v
                .text_bytes()
                .map_err(|e| RecordError::Invalid { field: name.clone(), reason: e.to_string() })?;
            encode_dim(&mut self.key_buf, &text);
        }
        if with_cross {
            for (j, name) in fields.cross.iter().enumerate() {
                scalar(record, 2 + nd + j, name)?;
            }
        }
        let sample =
            record.slots[1].ok_or_else(|| RecordError::Missing { field: fields.sample.clone() })?;
        sample.write_identity(&mut self.id_buf).map_err(|e| RecordError::Invalid {
            field: fields.sample.clone(),
            reason: e.to_string(),
        })?;
        if self.id_buf.len() > u32::MAX as usize {
            return Err(RecordError::Invalid {
                field: fields.sample.clone(),
                reason: "longer than 4 GiB".into(),
            });
        }
        let id = self.pairs.intern(&self.key_buf);
        if self.local.len() <= id as usize {
            self.local.resize_with(id as usize + 1, || None);
        }
        Ok(id)
    }

    /// Adds the counts of `other` (another part of the input).
    pub fn merge(&mut self, other: PeakAccumulator<'_>) -> Result<(), TableFull> {
        self.unusable.absorb(other.unusable);
        let ids: Vec<u32> = other.pairs.encoded.iter().map(|k| self.pairs.intern(k)).collect();
        if self.local.len() < self.pairs.encoded.len() {
            self.local.resize_with(self.pairs.encoded.len(), || None);
        }
        for (oid, lp) in other.local.into_iter().enumerate() {
            let Some(lp) = lp else { continue };
            match &mut self.local[ids[oid] as usize] {
                Some(mine) => mine.merge(lp)?,
                slot @ None => *slot = Some(lp),
            }
        }
        for (day, theirs) in other.days {
            let mine = self.days.entry(day).or_default();
            mine.in_window |= theirs.in_window;
            for (oid, counts) in theirs.pairs {
                mine.pairs.entry(ids[oid as usize]).or_default().merge(counts)?;
            }
        }
        Ok(())
    }

    /// The local table, the baseline days and the records the baseline could not use.
    pub fn finish(self) -> Tallies {
        let pairs = &self.pairs;
        let local: Vec<(RecordOrder, PairKey, SampleCounts)> = self
            .local
            .into_iter()
            .enumerate()
            .filter_map(|(id, lp)| lp.map(|lp| (lp.first_seen, pairs.decode(id as u32), lp.counts)))
            .collect();
        let local = LocalTable::from_counts(first_appearance_order(local));

        let mut days = Vec::new();
        for (day, counts) in self.days {
            if !counts.in_window {
                continue;
            }
            let pairs: BTreeMap<PairKey, (i64, i64)> = counts
                .pairs
                .into_iter()
                .map(|(id, c)| (pairs.decode(id), (c.submissions() as i64, c.samples() as i64)))
                .collect();
            days.push(DayTable { day, pairs });
        }
        // Set-aside records matter only if the baseline reads the whole input again.
        let unusable = if days.is_empty() { Unusable::default() } else { self.unusable };
        Tallies { local, baseline_days: days, unusable }
    }
}

/// Orders pairs as the reference's nested dictionaries iterate: first values of the first
/// dimension in the order first seen, then within each the second dimension's values in the
/// order first seen, and so on.
fn first_appearance_order(
    pairs: Vec<(RecordOrder, PairKey, SampleCounts)>,
) -> Vec<(PairKey, SampleCounts)> {
    let depth = pairs.first().map_or(0, |p| p.1.len());
    let mut first_of_prefix: Vec<BTreeMap<&[String], RecordOrder>> = vec![BTreeMap::new(); depth];
    for (order, key, _) in &pairs {
        for (k, firsts) in first_of_prefix.iter_mut().enumerate() {
            let e = firsts.entry(&key[..=k]).or_insert(*order);
            *e = (*e).min(*order);
        }
    }
    let rank = |key: &PairKey| -> Vec<RecordOrder> {
        (0..key.len()).map(|k| first_of_prefix[k][&key[..=k]]).collect()
    };
    let ranks: Vec<Vec<RecordOrder>> = pairs.iter().map(|(_, key, _)| rank(key)).collect();
    let mut ranked: Vec<(Vec<RecordOrder>, PairKey, SampleCounts)> =
        ranks.into_iter().zip(pairs).map(|(r, (_, key, counts))| (r, key, counts)).collect();
    ranked.sort_by(|a, b| a.0.cmp(&b.0));
    ranked.into_iter().map(|(_, key, counts)| (key, counts)).collect()
}

/// One day of the baseline week: submissions and distinct samples per pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DayTable {
    /// The local calendar date.
    pub day: Day,
    /// `(submissions, distinct samples)` per pair seen that day.
    pub pairs: BTreeMap<PairKey, (i64, i64)>,
}

/// Records outside the window that lack a field the baseline from the input reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Unusable {
    /// How many.
    pub count: u64,
    /// The first, in input order.
    pub first: Option<InvalidRecord>,
}

impl Unusable {
    fn note(&mut self, record: InvalidRecord) {
        self.count += 1;
        if self.first.as_ref().is_none_or(|f| record.order < f.order) {
            self.first = Some(record);
        }
    }

    fn absorb(&mut self, other: Unusable) {
        self.count += other.count;
        if let Some(f) = other.first
            && self.first.as_ref().is_none_or(|m| f.order < m.order)
        {
            self.first = Some(f);
        }
    }
}

/// The field in `slot`, which must be present and a scalar (the reference uses it as a
/// dictionary key).
fn scalar(record: &Record<'_, '_>, slot: usize, name: &str) -> Result<(), RecordError> {
    let v = record.slots[slot].ok_or_else(|| RecordError::Missing { field: name.to_string() })?;
    if v.is_scalar() {
        Ok(())
    } else {
        let reason = format!("expected a scalar, found {}", v.kind_name());
        Err(RecordError::Invalid { field: name.to_string(), reason })
    }
}

/// What a pass over the input produced.
#[derive(Debug)]
pub struct Tallies {
    /// Statistics of the window under test.
    pub local: LocalTable,
    /// The days of the baseline week that have data, in date order (empty when no baseline
    /// was counted).
    pub baseline_days: Vec<DayTable>,
    /// Records outside the window without the fields the baseline from the input read
    /// (only when that baseline has data).
    pub unusable: Unusable,
}
