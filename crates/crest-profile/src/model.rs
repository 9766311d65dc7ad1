//! The behavioural model: per actor and feature, how often each value has been seen.
//!
//! [`ModelState`] is what a profile remembers (the feature counts of ScryWarden's `feature`
//! table, plus when each actor was first seen and how many actors use each value);
//! [`ModelState::score_batch`] scores a batch of messages against it and learns from them,
//! returning the events (messages with at least one anomalous feature) and the count changes a
//! store must persist. Nothing here does I/O or reads a clock: the arrival time of each message
//! is given.

use hashbrown::HashMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{Extract, Feature, Profile, ReporterKind, Scoring};
use crate::scrywarden::{self, Row, Scored};
use crate::value::{Doc, canonical, canonical_multi, plain};

/// Under crest's scoring, an anomaly must score at least this much to be kept.
pub const CREST_MIN_SCORE: f64 = 0.05;

type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// One message to score: when it arrived and what it says.
#[derive(Clone, Debug)]
pub struct Message {
    /// When the message was read (microseconds since the epoch): ScryWarden's timestamp.
    pub arrival_us: i64,
    /// The message.
    pub data: Doc,
}

impl Message {
    /// A message from a decoded JSON document.
    pub fn new(arrival_us: i64, data: Value) -> Message {
        Message { arrival_us, data: Doc::Whole(data) }
    }
}

/// An actor's counts of one feature's values, decayed to `as_of` when a half-life is set.
///
/// Counts are kept multiplied by `1 / scale` so that decaying every value of the histogram is
/// one multiplication of `scale`; they are folded back when `scale` gets small.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Hist {
    counts: Map<String, f64>,
    total: f64,
    scale: f64,
    as_of: i64,
    /// numeric: (total when computed, median bin, robust deviation in bins), recomputed when
    /// the history has grown by more than 2 % since; saved with the state, so that a restart
    /// scores as an uninterrupted run does.
    #[serde(default)]
    range: std::cell::Cell<Option<(f64, i64, f64)>>,
}

impl Hist {
    fn scale(&self) -> f64 {
        if self.scale == 0.0 { 1.0 } else { self.scale }
    }

    /// The count of `value` (0 if never seen).
    pub fn count(&self, value: &str) -> f64 {
        self.counts.get(value).map_or(0.0, |c| c * self.scale())
    }

    /// The sum of all counts.
    pub fn total(&self) -> f64 {
        self.total * self.scale()
    }

    /// The number of distinct values seen (ScryWarden's feature rows).
    pub fn groups(&self) -> usize {
        self.counts.len()
    }

    /// The time the counts are decayed to (microseconds).
    pub fn as_of(&self) -> i64 {
        self.as_of
    }

    /// Every value with its count, most frequent first (ties by value).
    pub fn ranked(&self) -> Vec<(&str, f64)> {
        let s = self.scale();
        let mut v: Vec<(&str, f64)> =
            self.counts.iter().map(|(k, c)| (k.as_str(), c * s)).collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
        v
    }

    /// Decays the counts to `t` (never backwards).
    fn advance(&mut self, t: i64, half_life_us: Option<i64>) {
        let Some(h) = half_life_us else {
            self.as_of = self.as_of.max(t);
            return;
        };
        if t <= self.as_of {
            return;
        }
        if self.counts.is_empty() {
            self.as_of = t;
            return;
        }
        self.scale = self.scale() * 0.5f64.powf((t - self.as_of) as f64 / h as f64);
        self.as_of = t;
        if self.scale < 1e-100 {
            let s = self.scale;
            self.counts.values_mut().for_each(|c| *c *= s);
            self.total *= s;
            self.scale = 1.0;
        }
    }

    /// Adds `n` occurrences of `value` at `t`; true when the value was new to this histogram.
    fn add(&mut self, value: &str, n: f64, t: i64, half_life_us: Option<i64>) -> bool {
        self.advance(t, half_life_us);
        let inc = n / self.scale();
        self.total += inc;
        match self.counts.get_mut(value) {
            Some(c) => {
                *c += inc;
                false
            }
            None => {
                self.counts.insert(value.to_string(), inc);
                true
            }
        }
    }

    /// Sets a value's count as stored at `as_of` (loading from a store).
    pub fn set(&mut self, value: &str, count: f64, as_of: i64, half_life_us: Option<i64>) {
        // Bring both to the later time, then write the stored count in scaled units.
        let count = match half_life_us {
            Some(h) if as_of < self.as_of => {
                count * 0.5f64.powf((self.as_of - as_of) as f64 / h as f64)
            }
            _ => count,
        };
        self.advance(as_of, half_life_us);
        let inc = count / self.scale();
        let old = self.counts.insert(value.to_string(), inc).unwrap_or(0.0);
        self.total += inc - old;
    }
}

/// What the model remembers of one actor.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ActorState {
    /// When the actor was first seen (microseconds).
    pub first_seen: i64,
    /// One histogram per feature, in the profile's order.
    pub hists: Vec<Hist>,
}

/// The remembered state of one profile.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ModelState {
    /// Actors by name.
    pub actors: Map<String, ActorState>,
    /// Per feature: for each value, how many actors have reported it.
    pub population: Vec<Map<String, u32>>,
    /// Per feature: how many actors have reported any value.
    pub population_actors: Vec<u32>,
}

/// Why an anomaly scored what it did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// How often the actor had reported this value before.
    pub seen: f64,
    /// How many values of this feature the actor had reported before.
    pub total: f64,
    /// The actor's usual values, most frequent first (at most three), with their counts.
    pub usual: Vec<(String, f64)>,
    /// How many actors had reported this value, of how many (rarity only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub population: Option<(u32, u32)>,
    /// The actor's range for numbers: median and robust deviation (numeric only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<(f64, f64)>,
}

/// One anomalous feature of a message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Anomaly {
    /// The feature's index in the profile.
    pub feature: usize,
    /// The value's canonical text.
    pub value: String,
    /// The score in [0, weight].
    pub score: f64,
    /// The counts behind the score.
    pub evidence: Evidence,
}

/// A message with at least one anomalous feature.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The message's index in the batch.
    pub message: usize,
    /// The actor's name.
    pub actor: String,
    /// The event's time (the time field, or the arrival time).
    pub time: i64,
    /// The anomalous features, in the profile's order.
    pub anomalies: Vec<Anomaly>,
}

/// A change of one stored count: add `count` (decayed to `as_of`) to (actor, feature, value).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureDelta {
    /// The actor's name.
    pub actor: String,
    /// The feature's index in the profile.
    pub feature: usize,
    /// The value's canonical text.
    pub value: String,
    /// How much to add.
    pub count: f64,
    /// When `count` is valued.
    pub as_of: i64,
}

/// A message the profile could not use, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Skip {
    /// The message's index in the batch.
    pub message: usize,
    /// The field at fault.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

/// What scoring a batch produced.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Messages the profile matched.
    pub matched: usize,
    /// Anomalous messages, in batch order.
    pub events: Vec<Event>,
    /// Count changes, sorted by (actor, feature, value) so that concurrent writers lock rows in
    /// one order.
    pub deltas: Vec<FeatureDelta>,
    /// Actors first seen in this batch, with the time.
    pub new_actors: Vec<(String, i64)>,
    /// Messages that matched but could not be used.
    pub skipped: Vec<Skip>,
    /// Messages of actors still in their learning period (learned from, never reported).
    pub learning: usize,
}

/// A batch as one profile sees it: how many messages matched, which could not be used and
/// why, and each usable one's actor, time and feature values. It does not depend on the
/// model's state, so parts of a batch can be extracted on several cores and joined in order.
#[derive(Clone, Debug, Default)]
pub struct Extraction {
    matched: usize,
    skipped: Vec<Skip>,
    rows: Vec<Extracted>,
}

impl Extraction {
    /// The extraction of `batch`, whose first message is message `offset` of the whole batch
    /// (0 unless `batch` is a part of it).
    pub fn of(profile: &Profile, batch: &[Message], offset: usize) -> Extraction {
        let mut out = Extraction::default();
        let mut rows = Vec::new();
        for (i, m) in batch.iter().enumerate() {
            let i = i + offset;
            if !profile.matches(&m.data) {
                continue;
            }
            out.matched += 1;
            let skip =
                |field: &str, reason: String| Skip { message: i, field: field.to_string(), reason };
            let actor = match profile.actor.get(&m.data) {
                Some(Value::String(s)) => s.clone(),
                Some(other) => {
                    out.skipped.push(skip(
                        &profile.actor.display(),
                        format!("the actor must be a string, got {other}"),
                    ));
                    continue;
                }
                None => {
                    out.skipped.push(skip(&profile.actor.display(), "missing actor".into()));
                    continue;
                }
            };
            let time = match &profile.time {
                None => m.arrival_us,
                Some(p) => match p.get(&m.data).and_then(instant) {
                    Some(t) => t,
                    None => {
                        let got = p.get(&m.data).map_or("nothing".to_string(), |v| v.to_string());
                        out.skipped.push(skip(&p.display(), format!("not a time: {got}")));
                        continue;
                    }
                },
            };
            let mut values = Vec::with_capacity(profile.features.len());
            let mut bad = None;
            for f in &profile.features {
                let v = match (&f.extract, f.reporter) {
                    (Extract::Time, ReporterKind::Hour) => {
                        time.div_euclid(3_600_000_000).rem_euclid(24).to_string()
                    }
                    (Extract::Time, _) => {
                        (time.div_euclid(86_400_000_000) + 3).rem_euclid(7).to_string()
                    }
                    (Extract::Single(p), ReporterKind::Numeric) => match p.get(&m.data) {
                        None | Some(Value::Null) => String::new(),
                        Some(v) => match number(v) {
                            Some(x) => bin_of(x).to_string(),
                            None => {
                                bad = Some(skip(&p.display(), format!("not a number: {v}")));
                                break;
                            }
                        },
                    },
                    (Extract::Single(p), _) => canonical(p.get(&m.data)),
                    (Extract::Multi(ps), _) => canonical_multi(&m.data, ps),
                };
                values.push(v);
            }
            if let Some(b) = bad {
                out.skipped.push(b);
                continue;
            }
            rows.push(Extracted { message: i, actor, time, values });
        }
        out.rows = rows;
        out
    }

    /// Appends the extraction of the part of the batch that follows this one's.
    pub fn append(&mut self, next: Extraction) {
        self.matched += next.matched;
        self.skipped.extend(next.skipped);
        self.rows.extend(next.rows);
    }

    /// The actors it names and the values its rarity features take, sorted: what a store
    /// shared with other writers must load before it is scored.
    pub fn touched(&self, profile: &Profile) -> (Vec<&str>, Vec<(usize, &str)>) {
        let mut actors: Vec<&str> = self.rows.iter().map(|r| r.actor.as_str()).collect();
        let mut values = Vec::new();
        for (f, feature) in profile.features.iter().enumerate() {
            if feature.reporter == ReporterKind::Rarity {
                values.extend(self.rows.iter().map(|r| (f, r.values[f].as_str())));
            }
        }
        actors.sort_unstable();
        actors.dedup();
        values.sort_unstable();
        values.dedup();
        (actors, values)
    }
}

/// One matched message, its values extracted.
#[derive(Clone, Debug)]
struct Extracted {
    message: usize,
    actor: String,
    time: i64,
    values: Vec<String>,
}

impl ModelState {
    /// An empty state for a profile.
    pub fn new(profile: &Profile) -> ModelState {
        let n = profile.features.len();
        ModelState {
            actors: Map::default(),
            population: (0..n).map(|_| Map::default()).collect(),
            population_actors: vec![0; n],
        }
    }

    /// Sets a stored count (loading from a store): the actor is created if missing, and the
    /// population is counted as the value is new to the actor.
    // One stored feature row, as the stores' rows hold it.
    #[allow(clippy::too_many_arguments)]
    pub fn load_feature(
        &mut self,
        profile: &Profile,
        actor: &str,
        first_seen: i64,
        feature: usize,
        value: &str,
        count: f64,
        as_of: i64,
    ) {
        let n = profile.features.len();
        let a = self
            .actors
            .entry_ref(actor)
            .or_insert_with(|| ActorState { first_seen, hists: vec![Hist::default(); n] });
        a.first_seen = a.first_seen.min(first_seen);
        a.hists[feature].set(value, count, as_of, profile.half_life_us);
    }

    /// Sets how many actors report `value` of `feature`, and how many report any (from a store
    /// shared with other writers).
    pub fn load_population(&mut self, feature: usize, value: &str, actors: u32, of: u32) {
        self.population[feature].insert(value.to_string(), actors);
        self.population_actors[feature] = of;
    }

    /// Forgets the actors named (before reloading them from a shared store).
    pub fn forget(&mut self, actors: &[&str]) {
        for a in actors {
            self.actors.remove(*a);
        }
    }

    /// Scores a batch and learns from it. Messages the profile does not match are ignored;
    /// matched messages that cannot be used are listed in [`Outcome::skipped`].
    pub fn score_batch(&mut self, profile: &Profile, batch: &[Message]) -> Outcome {
        self.score_batch_with(profile, batch, true)
    }

    /// [`score_batch`](Self::score_batch), leaving [`Outcome::deltas`] empty unless `deltas`:
    /// a store that keeps the whole state (the embedded one) does not need them.
    pub fn score_batch_with(
        &mut self,
        profile: &Profile,
        batch: &[Message],
        deltas: bool,
    ) -> Outcome {
        self.score_extracted(profile, Extraction::of(profile, batch, 0), deltas)
    }

    /// Scores what [`Extraction::of`] pulled out of a batch, and learns from it: the second
    /// half of [`score_batch_with`](Self::score_batch_with), the half that needs the state.
    pub fn score_extracted(
        &mut self,
        profile: &Profile,
        extraction: Extraction,
        deltas: bool,
    ) -> Outcome {
        let want_deltas = deltas;
        let Extraction { matched, skipped, rows } = extraction;
        let mut out = Outcome { matched, skipped, ..Outcome::default() };
        let n = profile.features.len();
        // Each row's actor, created at its first sighting; `learning` holds while the row is
        // within the actor's learning period.
        let learning: Vec<bool> = rows
            .iter()
            .map(|r| {
                let first_seen = match self.actors.get(r.actor.as_str()) {
                    Some(a) => a.first_seen,
                    None => {
                        self.actors.insert(
                            r.actor.clone(),
                            ActorState { first_seen: r.time, hists: vec![Hist::default(); n] },
                        );
                        out.new_actors.push((r.actor.clone(), r.time));
                        r.time
                    }
                };
                r.time - first_seen < profile.learning_us
            })
            .collect();
        let scored: Vec<Vec<(Scored, Evidence)>> = match profile.scoring {
            Scoring::Scrywarden => self.score_scrywarden(profile, &rows),
            Scoring::Crest => rows
                .iter()
                .zip(&learning)
                .map(|(r, &learning)| self.score_and_learn(profile, r, learning))
                .collect(),
        };
        let mut deltas: Map<(&str, usize, &str), (f64, i64)> = Map::default();
        for ((r, scores), &learning) in rows.iter().zip(scored).zip(&learning) {
            let mut anomalies = Vec::new();
            // ScryWarden keeps every score above 0; crest drops the faint ones (below
            // `CREST_MIN_SCORE`), which only clutter the evidence.
            let floor =
                if profile.scoring == Scoring::Crest { CREST_MIN_SCORE } else { f64::MIN_POSITIVE };
            for (f, (s, ev)) in scores.into_iter().enumerate() {
                if s.score >= floor {
                    anomalies.push(Anomaly {
                        feature: f,
                        value: r.values[f].clone(),
                        score: s.score,
                        evidence: ev,
                    });
                }
            }
            if learning {
                out.learning += 1;
            } else if !anomalies.is_empty() {
                out.events.push(Event {
                    message: r.message,
                    actor: r.actor.clone(),
                    time: r.time,
                    anomalies,
                });
            }
            for (f, v) in r.values.iter().enumerate().filter(|_| want_deltas) {
                let d = deltas.entry((r.actor.as_str(), f, v.as_str())).or_insert((0.0, r.time));
                // The delta is valued at its latest time; earlier occurrences are decayed to it.
                match profile.half_life_us {
                    Some(h) if r.time > d.1 => {
                        d.0 = d.0 * 0.5f64.powf((r.time - d.1) as f64 / h as f64) + 1.0;
                        d.1 = r.time;
                    }
                    Some(h) => d.0 += 0.5f64.powf((d.1 - r.time) as f64 / h as f64),
                    None => {
                        d.0 += 1.0;
                        d.1 = d.1.max(r.time);
                    }
                }
            }
        }
        if profile.scoring == Scoring::Scrywarden {
            for r in &rows {
                self.learn(profile, r);
            }
        }
        let mut deltas: Vec<FeatureDelta> = deltas
            .into_iter()
            .map(|((actor, feature, value), (count, as_of))| FeatureDelta {
                actor: actor.to_string(),
                feature,
                value: value.to_string(),
                count,
                as_of,
            })
            .collect();
        deltas
            .sort_by(|a, b| (&a.actor, a.feature, &a.value).cmp(&(&b.actor, b.feature, &b.value)));
        out.deltas = deltas;
        out
    }

    /// Adds one message's values to its actor's histograms and the population.
    fn learn(&mut self, profile: &Profile, r: &Extracted) {
        let actor = self.actors.get_mut(r.actor.as_str()).expect("actor created before scoring");
        learn_into(actor, &mut self.population, &mut self.population_actors, profile, r);
    }

    /// crest's scoring: one message against everything before it, then learned.
    /// An actor still learning is not scored: nothing it does is reported yet.
    fn score_and_learn(
        &mut self,
        profile: &Profile,
        r: &Extracted,
        learning: bool,
    ) -> Vec<(Scored, Evidence)> {
        let ModelState { actors, population, population_actors } = self;
        let actor = actors.get_mut(r.actor.as_str()).expect("actor created before scoring");
        if learning {
            learn_into(actor, population, population_actors, profile, r);
            return Vec::new();
        }
        let scores = profile
            .features
            .iter()
            .enumerate()
            .map(|(f, feature)| {
                let mut hist = actor.hists[f].clone_light();
                hist.advance(r.time, profile.half_life_us);
                let rarity = (&population[f], population_actors[f]);
                score_one(rarity, feature, &hist, &r.values[f])
            })
            .collect();
        learn_into(actor, population, population_actors, profile, r);
        scores
    }

    /// ScryWarden's batch scoring: every row against the counts stored before the batch.
    fn score_scrywarden(
        &self,
        profile: &Profile,
        rows: &[Extracted],
    ) -> Vec<Vec<(Scored, Evidence)>> {
        let mut ids: Map<&str, u32> = Map::default();
        let mut names: Vec<&str> = Vec::new();
        for r in rows {
            ids.entry(r.actor.as_str()).or_insert_with(|| {
                names.push(r.actor.as_str());
                (names.len() - 1) as u32
            });
        }
        let refs: Vec<&ActorState> = names.iter().map(|n| &self.actors[*n]).collect();
        let mut out: Vec<Vec<(Scored, Evidence)>> =
            rows.iter().map(|_| Vec::with_capacity(profile.features.len())).collect();
        for (f, feature) in profile.features.iter().enumerate() {
            let batch: Vec<Row<'_>> = rows
                .iter()
                .map(|r| Row { actor: ids[r.actor.as_str()], time: r.time, value: &r.values[f] })
                .collect();
            let stored = Snapshot { actors: &refs, feature: f };
            let scored = match feature.reporter {
                ReporterKind::Optional => scrywarden::optional(&batch, &stored, feature.weight),
                _ => scrywarden::mandatory(&batch, &stored, feature.weight),
            };
            for (i, s) in scored.into_iter().enumerate() {
                let mut ev = Evidence { seen: s.count, total: s.total, ..Default::default() };
                if s.score > 0.0 {
                    ev.usual =
                        self.actors[names[batch[i].actor as usize]].hists[f].clone_light().usual(3);
                }
                out[i].push((s, ev));
            }
        }
        out
    }
}

/// Adds one message's values to its actor's histograms and to the population counts.
fn learn_into(
    actor: &mut ActorState,
    population: &mut [Map<String, u32>],
    population_actors: &mut [u32],
    profile: &Profile,
    r: &Extracted,
) {
    for (f, v) in r.values.iter().enumerate() {
        let was_empty = actor.hists[f].groups() == 0;
        if actor.hists[f].add(v, 1.0, r.time, profile.half_life_us) {
            *population[f].entry_ref(v.as_str()).or_insert(0) += 1;
            if was_empty {
                population_actors[f] += 1;
            }
        }
    }
}

/// One value against one histogram, by the feature's reporter.
fn score_one(
    rarity: (&Map<String, u32>, u32),
    feature: &Feature,
    hist: &HistView<'_>,
    value: &str,
) -> (Scored, Evidence) {
    let c = hist.count(value);
    let total = hist.total();
    let usual = || hist.usual(3);
    let mut ev = Evidence { seen: c, total, ..Default::default() };
    let raw = match feature.reporter {
        ReporterKind::Mandatory => mandatory(value, c, total, hist.groups()),
        ReporterKind::Optional => {
            if value.is_empty() || c > 0.0 {
                0.0
            } else if total == 0.0 {
                1.0
            } else {
                hist.count("") / total
            }
        }
        ReporterKind::Rarity => {
            // Novelty fades with every sighting (1, 1/2, 1/3 …) rather than staying near 1
            // until the value is as common as the actor's average one.
            let novelty = if total == 0.0 { 0.0 } else { 1.0 / (1.0 + c) };
            let users = rarity.0.get(value).copied().unwrap_or(0);
            let of = rarity.1;
            ev.population = Some((users, of));
            if novelty == 0.0 || of == 0 {
                novelty
            } else {
                novelty * (1.0 - f64::from(users) / f64::from(of))
            }
        }
        ReporterKind::Hour | ReporterKind::Weekday => {
            let buckets = if feature.reporter == ReporterKind::Hour { 24 } else { 7 };
            habit(hist, value, buckets, feature.min_history)
        }
        ReporterKind::Numeric => {
            let (score, range) = numeric(hist, value, feature.deviations, feature.min_history);
            ev.range = range;
            score
        }
    };
    let score = raw * feature.weight;
    if score >= CREST_MIN_SCORE {
        ev.usual = usual();
    }
    (Scored { score, count: c, total }, ev)
}

/// The stored counts of one feature, as ScryWarden's reporters see them.
struct Snapshot<'a> {
    actors: &'a [&'a ActorState],
    feature: usize,
}

impl scrywarden::Stored for Snapshot<'_> {
    fn count(&self, actor: u32, value: &str) -> f64 {
        self.hist(actor).count(value)
    }
    fn groups(&self, actor: u32) -> f64 {
        self.hist(actor).groups() as f64
    }
    fn total(&self, actor: u32) -> f64 {
        self.hist(actor).total()
    }
}

impl Snapshot<'_> {
    fn hist(&self, actor: u32) -> &Hist {
        &self.actors[actor as usize].hists[self.feature]
    }
}

/// A histogram read at a time, without copying its values.
struct HistView<'a> {
    hist: &'a Hist,
    scale: f64,
    as_of: i64,
}

impl Hist {
    fn clone_light(&self) -> HistView<'_> {
        HistView { hist: self, scale: self.scale(), as_of: self.as_of }
    }
}

impl HistView<'_> {
    fn advance(&mut self, t: i64, half_life_us: Option<i64>) {
        if let Some(h) = half_life_us
            && t > self.as_of
            && self.hist.groups() > 0
        {
            self.scale *= 0.5f64.powf((t - self.as_of) as f64 / h as f64);
            self.as_of = t;
        }
    }
    fn count(&self, value: &str) -> f64 {
        self.hist.counts.get(value).map_or(0.0, |c| c * self.scale)
    }
    fn total(&self) -> f64 {
        self.hist.total * self.scale
    }
    fn groups(&self) -> usize {
        self.hist.groups()
    }
    /// The `n` most frequent values (ties by value), in one pass.
    fn usual(&self, n: usize) -> Vec<(String, f64)> {
        let mut top: Vec<(&String, f64)> = Vec::with_capacity(n + 1);
        let before =
            |a: &(&String, f64), b: &(&String, f64)| b.1 < a.1 || (b.1 == a.1 && a.0 < b.0);
        for (k, &c) in &self.hist.counts {
            let item = (k, c);
            if top.len() == n && !before(&item, &top[n - 1]) {
                continue;
            }
            let at = top.iter().position(|t| before(&item, t)).unwrap_or(top.len());
            top.insert(at, item);
            top.truncate(n);
        }
        top.into_iter().map(|(k, c)| (k.clone(), round6(c * self.scale))).collect()
    }
    fn buckets(&self) -> impl Iterator<Item = (i64, f64)> + '_ {
        self.hist.counts.iter().filter_map(|(k, c)| Some((k.parse::<i64>().ok()?, c * self.scale)))
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// Mandatory for one message against everything before it: ScryWarden's rule with a batch of
/// one (the value's count against the mean count of the actor's values).
fn mandatory(value: &str, c: f64, total: f64, groups: usize) -> f64 {
    if value.is_empty() || c == 0.0 {
        1.0
    } else if c < total / groups as f64 {
        1.0 - c / total
    } else {
        0.0
    }
}

/// The texts of hour and weekday buckets, so that looking one up allocates nothing.
const BUCKET_NAMES: [&str; 24] = [
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
    "17", "18", "19", "20", "21", "22", "23",
];

/// Share of the average active bucket below which a time is unusual for the actor.
const HABIT_TOLERANCE: f64 = 0.1;

/// An hour (or weekday) against the actor's habit: neighbours count half (hours only), and a
/// bucket holding at least a tenth of an average active bucket is usual.
fn habit(hist: &HistView<'_>, value: &str, buckets: i64, min_history: f64) -> f64 {
    let total = hist.total();
    if total < min_history {
        return 0.0;
    }
    let Ok(b) = value.parse::<i64>() else { return 0.0 };
    let at = |k: i64| hist.count(BUCKET_NAMES[k.rem_euclid(buckets) as usize]);
    let c = if buckets == 24 { at(b) + 0.5 * (at(b - 1) + at(b + 1)) } else { at(b) };
    let active = hist.groups().max(1) as f64;
    let usual = HABIT_TOLERANCE * total / active;
    (1.0 - c / usual).max(0.0)
}

/// Numbers are binned on a log scale, four bins per doubling, so that an actor's range is a
/// histogram like any other feature (it decays and merges across writers the same way).
fn bin_of(x: f64) -> i64 {
    let b = (4.0 * (1.0 + x.abs()).log2()).round() as i64;
    if x < 0.0 { -b } else { b }
}

/// The value a numeric feature's bin stands for (its centre): bins are four per doubling.
pub fn bin_value(b: i64) -> f64 {
    let v = 2f64.powf(b.unsigned_abs() as f64 / 4.0) - 1.0;
    if b < 0 { -v } else { v }
}

/// A binned number against the actor's median and MAD (in bins): beyond `k` robust
/// deviations the score rises towards 1 as 1 − k/z.
fn numeric(
    hist: &HistView<'_>,
    value: &str,
    k: f64,
    min_history: f64,
) -> (f64, Option<(f64, f64)>) {
    let total = hist.total();
    if value.is_empty() || total < min_history {
        return (0.0, None);
    }
    let Ok(x) = value.parse::<i64>() else { return (0.0, None) };
    let raw = hist.hist.total;
    let (median, sigma) = match hist.hist.range.get() {
        Some((at, m, s)) if raw <= at * 1.02 => (m, s),
        _ => {
            let mut bins: Vec<(i64, f64)> = hist.buckets().collect();
            bins.sort_unstable_by_key(|b| b.0);
            let median = weighted_median(&bins, total);
            let mut dev: Vec<(i64, f64)> =
                bins.iter().map(|&(b, c)| ((b - median).abs(), c)).collect();
            dev.sort_unstable_by_key(|d| d.0);
            let mad = weighted_median(&dev, total) as f64;
            // One bin is the resolution: a spread below it is no spread.
            let sigma = (1.4826 * mad).max(1.0);
            hist.hist.range.set(Some((raw, median, sigma)));
            (median, sigma)
        }
    };
    let z = (x - median).abs() as f64 / sigma;
    let range = Some((round6(bin_value(median)), round6(sigma / 4.0)));
    if z <= k { (0.0, range) } else { (1.0 - k / z, range) }
}

fn weighted_median(sorted: &[(i64, f64)], total: f64) -> i64 {
    let mut acc = 0.0;
    for &(b, c) in sorted {
        acc += c;
        if acc >= total / 2.0 {
            return b;
        }
    }
    sorted.last().map_or(0, |b| b.0)
}

/// A JSON value as a number (numbers, or strings holding one).
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|x| x.is_finite()),
        _ => None,
    }
}

/// A JSON value as an instant in microseconds.
fn instant(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => crest_core::time::parse_instant_text(&n.to_string()),
        Value::String(s) => crest_core::time::parse_instant_text(s),
        _ => None,
    }
    .or_else(|| crest_core::time::parse_instant_text(&plain(v)))
}
