//! The behavioural model: per actor and feature, how often each value has been seen.
//!
//! [`ModelState`] is what a profile remembers (the feature counts of ScryWarden's `feature`
//! table, plus when each actor was first seen and how many actors use each value);
//! [`ModelState::score_batch`] scores a batch of messages against it and learns from them,
//! returning the events (messages with at least one anomalous feature) and the count changes a
//! store must persist. Nothing here does I/O or reads a clock: the arrival time of each message
//! is given.
//!
//! Actor names and feature values are numbered as they are first seen ([`crate::intern`]), so
//! that scoring a message looks up integers; the texts come back in events, deltas and views.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use hashbrown::HashMap;
use rayon::prelude::*;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::config::{Feature, Profile, ReporterKind, Scoring};
pub use crate::extract::Extraction;
use crate::intern::{Interner, text_hash};
use crate::scrywarden::{self, Row, Scored};
use crate::value::Doc;

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

/// An actor's counts of one feature's values (by value id), decayed to `as_of` when a
/// half-life is set.
///
/// Counts are kept multiplied by `1 / scale` so that decaying every value of the histogram is
/// one multiplication of `scale`; they are folded back when `scale` gets small.
#[derive(Clone, Debug, Default)]
struct Hist {
    counts: Map<u32, f64>,
    total: f64,
    scale: f64,
    as_of: i64,
    /// numeric: (total when computed, median bin, robust deviation in bins), recomputed when
    /// the history has grown by more than 2 % since; saved with the state, so that a restart
    /// scores as an uninterrupted run does.
    range: std::cell::Cell<Option<(f64, i64, f64)>>,
}

impl Hist {
    fn scale(&self) -> f64 {
        if self.scale == 0.0 { 1.0 } else { self.scale }
    }

    fn groups(&self) -> usize {
        self.counts.len()
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

    /// Adds `n` occurrences of value `id` at `t`; true when the value was new to this
    /// histogram.
    fn add(&mut self, id: u32, n: f64, t: i64, half_life_us: Option<i64>) -> bool {
        self.advance(t, half_life_us);
        let inc = n / self.scale();
        self.total += inc;
        match self.counts.get_mut(&id) {
            Some(c) => {
                *c += inc;
                false
            }
            None => {
                self.counts.insert(id, inc);
                true
            }
        }
    }

    /// Sets a value's count as stored at `as_of` (loading from a store).
    fn set(&mut self, id: u32, count: f64, as_of: i64, half_life_us: Option<i64>) {
        // Bring both to the later time, then write the stored count in scaled units.
        let count = match half_life_us {
            Some(h) if as_of < self.as_of => {
                count * 0.5f64.powf((self.as_of - as_of) as f64 / h as f64)
            }
            _ => count,
        };
        self.advance(as_of, half_life_us);
        let inc = count / self.scale();
        let old = self.counts.insert(id, inc).unwrap_or(0.0);
        self.total += inc - old;
    }

    /// The histogram as scoring reads it, with the texts of its values.
    fn view<'a>(&'a self, values: &'a Interner) -> HistView<'a> {
        HistView { hist: self, values, scale: self.scale(), as_of: self.as_of }
    }
}

/// What the model remembers of one actor.
#[derive(Clone, Debug)]
struct ActorState {
    /// When the actor was first seen (microseconds).
    first_seen: i64,
    /// One histogram per feature, in the profile's order.
    hists: Vec<Hist>,
}

impl ActorState {
    fn new(features: usize, first_seen: i64) -> ActorState {
        ActorState { first_seen, hists: vec![Hist::default(); features] }
    }
}

/// The remembered state of one profile.
#[derive(Clone, Debug, Default)]
pub struct ModelState {
    /// Actor names, numbered.
    names: Interner,
    /// By actor number; `None` for an actor forgotten (or not loaded) from a shared store.
    actors: Vec<Option<ActorState>>,
    /// How many of `actors` are held.
    held: usize,
    /// Per feature: its values, numbered.
    values: Vec<Interner>,
    /// Per feature, by value number: how many actors have reported it.
    population: Vec<Vec<u32>>,
    /// Per feature: how many actors have reported any value.
    population_actors: Vec<u32>,
}

/// One actor's counts, as a store or `crest profile show` reads them.
#[derive(Clone, Copy, Debug)]
pub struct ActorCounts<'a> {
    name: &'a str,
    state: &'a ActorState,
    values: &'a [Interner],
}

impl<'a> ActorCounts<'a> {
    /// The actor's name.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// When the actor was first seen (microseconds).
    pub fn first_seen(&self) -> i64 {
        self.state.first_seen
    }

    /// The counts of feature `f` (in the profile's order).
    pub fn feature(&self, f: usize) -> FeatureCounts<'a> {
        FeatureCounts { hist: &self.state.hists[f], values: &self.values[f] }
    }

    /// The counts of every feature, in the profile's order.
    pub fn features(&self) -> impl Iterator<Item = FeatureCounts<'a>> + 'a {
        let values = self.values;
        self.state
            .hists
            .iter()
            .enumerate()
            .map(move |(f, hist)| FeatureCounts { hist, values: &values[f] })
    }
}

/// An actor's counts of one feature's values, decayed to [`as_of`](Self::as_of).
#[derive(Clone, Copy, Debug)]
pub struct FeatureCounts<'a> {
    hist: &'a Hist,
    values: &'a Interner,
}

impl<'a> FeatureCounts<'a> {
    /// The count of `value` (0 if never seen).
    pub fn count(&self, value: &str) -> f64 {
        self.hist.view(self.values).count_text(text_hash(value), value)
    }

    /// The sum of all counts.
    pub fn total(&self) -> f64 {
        self.hist.total * self.hist.scale()
    }

    /// The number of distinct values seen (ScryWarden's feature rows).
    pub fn groups(&self) -> usize {
        self.hist.groups()
    }

    /// The time the counts are decayed to (microseconds).
    pub fn as_of(&self) -> i64 {
        self.hist.as_of
    }

    /// Every value with its count, most frequent first (ties by value).
    pub fn ranked(&self) -> Vec<(&'a str, f64)> {
        let s = self.hist.scale();
        let mut v: Vec<(&str, f64)> =
            self.hist.counts.iter().map(|(&id, c)| (self.values.text(id), c * s)).collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
        v
    }
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

impl ModelState {
    /// An empty state for a profile.
    pub fn new(profile: &Profile) -> ModelState {
        let n = profile.features.len();
        ModelState {
            values: vec![Interner::default(); n],
            population: vec![Vec::new(); n],
            population_actors: vec![0; n],
            ..ModelState::default()
        }
    }

    /// The counts of the actor named, if held.
    pub fn actor(&self, name: &str) -> Option<ActorCounts<'_>> {
        let id = self.names.get(text_hash(name), name)?;
        self.counts_of(id)
    }

    /// Every actor held, by name.
    pub fn actors(&self) -> Vec<ActorCounts<'_>> {
        let mut all: Vec<ActorCounts<'_>> =
            (0..self.actors.len() as u32).filter_map(|id| self.counts_of(id)).collect();
        all.sort_unstable_by(|a, b| a.name.cmp(b.name));
        all
    }

    fn counts_of(&self, id: u32) -> Option<ActorCounts<'_>> {
        let state = self.actors.get(id as usize)?.as_ref()?;
        Some(ActorCounts { name: self.names.text(id), state, values: &self.values })
    }

    /// How many actors are held.
    pub fn actor_count(&self) -> usize {
        self.held
    }

    /// How many actors have reported `value` of `feature` (`None` when it was never counted).
    pub fn population(&self, feature: usize, value: &str) -> Option<u32> {
        let id = self.values.get(feature)?.get(text_hash(value), value)?;
        self.population[feature].get(id as usize).copied()
    }

    /// How many actors have reported any value of `feature`.
    pub fn population_actors(&self, feature: usize) -> u32 {
        self.population_actors.get(feature).copied().unwrap_or(0)
    }

    /// The number of an actor's name, its state created (first seen at `time`) when missing;
    /// true when it was created.
    fn held_actor(&mut self, features: usize, name: &str, hash: u64, time: i64) -> (u32, bool) {
        let id = self.names.intern(hash, name);
        let at = id as usize;
        if at >= self.actors.len() {
            self.actors.resize_with(at + 1, || None);
        }
        let slot = &mut self.actors[at];
        let created = slot.is_none();
        if created {
            *slot = Some(ActorState::new(features, time));
            self.held += 1;
        }
        (id, created)
    }

    /// The number of a value of feature `f`, with room for it in the population counts.
    fn value_id(&mut self, f: usize, text: &str, hash: u64) -> u32 {
        let id = self.values[f].intern(hash, text);
        if id as usize >= self.population[f].len() {
            self.population[f].resize(id as usize + 1, 0);
        }
        id
    }

    fn state(&self, actor: u32) -> &ActorState {
        self.actors[actor as usize].as_ref().expect("actor created before scoring")
    }

    /// Sets a stored count (loading from a store): the actor is created if missing.
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
        let (id, _) = self.held_actor(profile.features.len(), actor, text_hash(actor), first_seen);
        let v = self.value_id(feature, value, text_hash(value));
        let a = self.actors[id as usize].as_mut().expect("held above");
        a.first_seen = a.first_seen.min(first_seen);
        a.hists[feature].set(v, count, as_of, profile.half_life_us);
    }

    /// Sets how many actors report `value` of `feature`, and how many report any (from a store
    /// shared with other writers).
    pub fn load_population(&mut self, feature: usize, value: &str, actors: u32, of: u32) {
        let v = self.value_id(feature, value, text_hash(value));
        self.population[feature][v as usize] = actors;
        self.population_actors[feature] = of;
    }

    /// Forgets the actors named (before reloading them from a shared store).
    pub fn forget(&mut self, actors: &[&str]) {
        for a in actors {
            if let Some(id) = self.names.get(text_hash(a), a)
                && self.actors[id as usize].take().is_some()
            {
                self.held -= 1;
            }
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
        self.score_extracted(profile, Extraction::of(profile, batch), deltas)
    }

    /// Scores what [`Extraction::of`] pulled out of a batch, and learns from it: the second
    /// half of [`score_batch_with`](Self::score_batch_with), the half that needs the state.
    ///
    /// Under crest's scoring, a large batch is scored on all cores, its actors split between
    /// them; the result is the same as one core's.
    pub fn score_extracted(
        &mut self,
        profile: &Profile,
        extraction: Extraction,
        want_deltas: bool,
    ) -> Outcome {
        let shards = if extraction.len() >= SHARD_ROWS { rayon::current_num_threads() } else { 1 };
        self.score_extracted_in(profile, extraction, want_deltas, shards)
    }

    /// [`score_extracted`](Self::score_extracted), crest's scoring split `shards` ways.
    fn score_extracted_in(
        &mut self,
        profile: &Profile,
        mut extraction: Extraction,
        want_deltas: bool,
        shards: usize,
    ) -> Outcome {
        let e = &mut extraction;
        let mut out = Outcome {
            matched: e.matched,
            skipped: std::mem::take(&mut e.skipped),
            ..Outcome::default()
        };
        let e = &extraction;
        let (n, rows) = (profile.features.len(), e.len());
        // Each row's actor, created at its first sighting; `learning` holds while the row is
        // within the actor's learning period. Then each row's values, numbered.
        let mut actor_of = Vec::with_capacity(rows);
        let mut learning = Vec::with_capacity(rows);
        for r in 0..rows {
            let ((name, hash), t) = (e.actor(r), e.time(r));
            let (id, created) = self.held_actor(n, name, hash, t);
            if created {
                out.new_actors.push((name.to_string(), t));
            }
            actor_of.push(id);
            learning.push(t - self.state(id).first_seen < profile.learning_us);
        }
        let mut ids = Vec::with_capacity(rows * n);
        for r in 0..rows {
            for f in 0..n {
                let (v, hash) = e.value(r, f);
                ids.push(self.value_id(f, v, hash));
            }
        }
        // ScryWarden keeps every score above 0; crest drops the faint ones (below
        // `CREST_MIN_SCORE`), which only clutter the evidence.
        match profile.scoring {
            Scoring::Crest => {
                self.score_crest(profile, e, (&actor_of, &ids, &learning), shards, &mut out);
            }
            Scoring::Scrywarden => {
                let scored = self.score_scrywarden(profile, e, &actor_of);
                for (r, scores) in scored.into_iter().enumerate() {
                    let anomalies = scores
                        .into_iter()
                        .enumerate()
                        .filter(|(_, (s, _))| s.score >= f64::MIN_POSITIVE)
                        .map(|(f, (s, evidence))| Anomaly {
                            feature: f,
                            value: e.value(r, f).0.to_string(),
                            score: s.score,
                            evidence,
                        })
                        .collect();
                    report(&mut out, e, r, learning[r], anomalies);
                }
                for r in 0..rows {
                    self.learn(profile, actor_of[r], e.time(r), &ids[r * n..(r + 1) * n]);
                }
            }
        }
        if want_deltas {
            out.deltas = self.deltas(profile, e, &actor_of, &ids);
        }
        out
    }

    /// The count changes of a batch, by (actor, feature, value), sorted by their texts.
    fn deltas(
        &self,
        profile: &Profile,
        e: &Extraction,
        actor_of: &[u32],
        ids: &[u32],
    ) -> Vec<FeatureDelta> {
        let n = profile.features.len();
        let mut deltas: Map<(u32, usize, u32), (f64, i64)> = Map::default();
        for (r, &a) in actor_of.iter().enumerate() {
            let t = e.time(r);
            for (f, &v) in ids[r * n..(r + 1) * n].iter().enumerate() {
                let d = deltas.entry((a, f, v)).or_insert((0.0, t));
                // The delta is valued at its latest time; earlier occurrences are decayed to it.
                match profile.half_life_us {
                    Some(h) if t > d.1 => {
                        d.0 = d.0 * 0.5f64.powf((t - d.1) as f64 / h as f64) + 1.0;
                        d.1 = t;
                    }
                    Some(h) => d.0 += 0.5f64.powf((d.1 - t) as f64 / h as f64),
                    None => {
                        d.0 += 1.0;
                        d.1 = d.1.max(t);
                    }
                }
            }
        }
        let mut deltas: Vec<FeatureDelta> = deltas
            .into_iter()
            .map(|((a, feature, v), (count, as_of))| FeatureDelta {
                actor: self.names.text(a).to_string(),
                feature,
                value: self.values[feature].text(v).to_string(),
                count,
                as_of,
            })
            .collect();
        deltas
            .sort_by(|a, b| (&a.actor, a.feature, &a.value).cmp(&(&b.actor, b.feature, &b.value)));
        deltas
    }

    /// Adds one message's values to its actor's histograms and to the population counts.
    fn learn(&mut self, profile: &Profile, actor: u32, t: i64, values: &[u32]) {
        let ModelState { actors, population, population_actors, .. } = self;
        let actor = actors[actor as usize].as_mut().expect("actor created before scoring");
        learn_actor(actor, profile, t, values, |f, v, first| {
            population[f][v as usize] += 1;
            if first {
                population_actors[f] += 1;
            }
        });
    }

    /// crest's scoring of a batch: each message against everything before it, then learned.
    /// An actor still learning is not scored: nothing it does is reported yet.
    ///
    /// Actors are independent but for rarity, which weighs a value by how many actors have
    /// reported it: so the batch's actors are split into `shards`, each shard scores and
    /// learns its actors' messages in order on a core of its own (rarity's novelty only), and
    /// one pass in batch order then applies the population counts and finishes rarity's scores,
    /// exactly as scoring the messages one by one would.
    fn score_crest(
        &mut self,
        profile: &Profile,
        e: &Extraction,
        (actor_of, ids, learning): (&[u32], &[u32], &[bool]),
        shards: usize,
        out: &mut Outcome,
    ) {
        let (n, shards) = (profile.features.len(), shards.max(1));
        // Each actor's state moves to its shard for the batch: (shard, place in it).
        let mut place: Map<u32, (usize, usize)> = Map::default();
        let mut moved: Vec<Vec<Held>> = (0..shards).map(|_| Vec::new()).collect();
        let mut rows: Vec<Vec<(usize, usize)>> = (0..shards).map(|_| Vec::new()).collect();
        let mut shard_of = Vec::with_capacity(e.len());
        for (r, &a) in actor_of.iter().enumerate() {
            let (s, at) = *place.entry(a).or_insert_with(|| {
                let s = a as usize % shards;
                let state = self.actors[a as usize].take().expect("actor created before scoring");
                moved[s].push((a, state));
                (s, moved[s].len() - 1)
            });
            rows[s].push((r, at));
            shard_of.push(s);
        }
        let values = &self.values;
        let run = |(moved, rows): (&mut Vec<Held>, &Vec<(usize, usize)>)| {
            let mut o = ShardOut::default();
            for &(r, at) in rows {
                let actor = &mut moved[at].1;
                let (t, vals) = (e.time(r), &ids[r * n..(r + 1) * n]);
                if !learning[r] {
                    for (f, feature) in profile.features.iter().enumerate() {
                        let mut hist = actor.hists[f].view(&values[f]);
                        hist.advance(t, profile.half_life_us);
                        let found = score_one(feature, &hist, vals[f], e.value(r, f).0);
                        if found.score >= CREST_MIN_SCORE {
                            o.found.push((f, found));
                        }
                    }
                }
                learn_actor(actor, profile, t, vals, |f, v, first| o.new.push((f, v, first)));
                o.ends.push((o.found.len(), o.new.len()));
            }
            o
        };
        let mut outs: Vec<ShardOut> = if shards == 1 {
            vec![run((&mut moved[0], &rows[0]))]
        } else {
            moved.par_iter_mut().zip(rows.par_iter()).map(run).collect()
        };
        // In batch order: rarity against the population as it stood, then the row's changes.
        let mut next = vec![(0, 0, 0); shards];
        for (r, &s) in shard_of.iter().enumerate() {
            let (row, found_at, new_at) = next[s];
            let (found_end, new_end) = outs[s].ends[row];
            let mut anomalies = Vec::new();
            for (f, found) in outs[s].found[found_at..found_end].iter_mut() {
                let f = *f;
                let score = match found.novelty {
                    None => found.score,
                    Some(novelty) => {
                        let users = self.population[f][ids[r * n + f] as usize];
                        let of = self.population_actors[f];
                        found.evidence.population = Some((users, of));
                        let raw = if novelty == 0.0 || of == 0 {
                            novelty
                        } else {
                            novelty * (1.0 - f64::from(users) / f64::from(of))
                        };
                        raw * profile.features[f].weight
                    }
                };
                if score >= CREST_MIN_SCORE {
                    let evidence = std::mem::take(&mut found.evidence);
                    let value = e.value(r, f).0.to_string();
                    anomalies.push(Anomaly { feature: f, value, score, evidence });
                }
            }
            report(out, e, r, learning[r], anomalies);
            for &(f, v, first) in &outs[s].new[new_at..new_end] {
                self.population[f][v as usize] += 1;
                if first {
                    self.population_actors[f] += 1;
                }
            }
            next[s] = (row + 1, found_end, new_end);
        }
        for (a, state) in moved.into_iter().flatten() {
            self.actors[a as usize] = Some(state);
        }
    }

    /// ScryWarden's batch scoring: every row against the counts stored before the batch.
    fn score_scrywarden(
        &self,
        profile: &Profile,
        e: &Extraction,
        actor_of: &[u32],
    ) -> Vec<Vec<(Scored, Evidence)>> {
        // Actors numbered densely within the batch, as the reporters take them.
        let mut local: Map<u32, u32> = Map::default();
        let mut held: Vec<&ActorState> = Vec::new();
        let dense: Vec<u32> = actor_of
            .iter()
            .map(|&a| {
                *local.entry(a).or_insert_with(|| {
                    held.push(self.state(a));
                    (held.len() - 1) as u32
                })
            })
            .collect();
        let mut out: Vec<Vec<(Scored, Evidence)>> =
            (0..e.len()).map(|_| Vec::with_capacity(profile.features.len())).collect();
        for (f, feature) in profile.features.iter().enumerate() {
            let batch: Vec<Row<'_>> = (0..e.len())
                .map(|r| Row { actor: dense[r], time: e.time(r), value: e.value(r, f).0 })
                .collect();
            let stored = Snapshot { actors: &held, values: &self.values[f], feature: f };
            let scored = match feature.reporter {
                ReporterKind::Optional => scrywarden::optional(&batch, &stored, feature.weight),
                _ => scrywarden::mandatory(&batch, &stored, feature.weight),
            };
            for (i, s) in scored.into_iter().enumerate() {
                let mut ev = Evidence { seen: s.count, total: s.total, ..Default::default() };
                if s.score > 0.0 {
                    ev.usual = stored.hist(batch[i].actor).view(stored.values).usual(3);
                }
                out[i].push((s, ev));
            }
        }
        out
    }
}

/// Under crest's scoring, batches of at least this many matched messages are scored on all
/// cores.
const SHARD_ROWS: usize = 2048;

/// An actor's state, moved to a shard for a batch, and its number.
type Held = (u32, ActorState);

/// What one shard of a batch found, row by row (its rows in batch order).
#[derive(Default)]
struct ShardOut {
    /// Per row: where its findings and its population changes end.
    ends: Vec<(usize, usize)>,
    /// Features that scored at least [`CREST_MIN_SCORE`] (rarity: that may, once the
    /// population is known), by feature index.
    found: Vec<(usize, Found)>,
    /// Values new to their actor: (feature, value, the actor's first value of the feature).
    new: Vec<(usize, u32, bool)>,
}

/// One feature of a message as crest scores it.
struct Found {
    /// The score, times the weight; for rarity, the most it can be (the novelty, weighted).
    score: f64,
    /// Rarity only: the novelty, which the value's rarity across actors then scales.
    novelty: Option<f64>,
    /// The counts behind the score (rarity: all but the population).
    evidence: Evidence,
}

/// One value (number `id`, text `value`) against one histogram, by the feature's reporter.
fn score_one(feature: &Feature, hist: &HistView<'_>, id: u32, value: &str) -> Found {
    let c = hist.count(id);
    let total = hist.total();
    let mut evidence = Evidence { seen: c, total, ..Default::default() };
    let mut novelty = None;
    let raw = match feature.reporter {
        ReporterKind::Mandatory => mandatory(value, c, total, hist.groups()),
        ReporterKind::Optional => {
            if value.is_empty() || c > 0.0 {
                0.0
            } else if total == 0.0 {
                1.0
            } else {
                hist.count_text(*EMPTY_HASH, "") / total
            }
        }
        ReporterKind::Rarity => {
            // Novelty fades with every sighting (1, 1/2, 1/3 …) rather than staying near 1
            // until the value is as common as the actor's average one; how many actors know
            // the value scales it down afterwards.
            let n = if total == 0.0 { 0.0 } else { 1.0 / (1.0 + c) };
            novelty = Some(n);
            n
        }
        ReporterKind::Hour | ReporterKind::Weekday => {
            let buckets = if feature.reporter == ReporterKind::Hour { 24 } else { 7 };
            habit(hist, id, buckets, feature.min_history)
        }
        ReporterKind::Numeric => {
            let (score, range) = numeric(hist, id, value, feature.deviations, feature.min_history);
            evidence.range = range;
            score
        }
    };
    let score = raw * feature.weight;
    if score >= CREST_MIN_SCORE {
        evidence.usual = hist.usual(3);
    }
    Found { score, novelty, evidence }
}

/// Adds one message's values (by number) to an actor's histograms at `t`; `new(f, v, first)`
/// hears of each value new to the actor, and whether it is the actor's first of the feature.
fn learn_actor(
    actor: &mut ActorState,
    profile: &Profile,
    t: i64,
    values: &[u32],
    mut new: impl FnMut(usize, u32, bool),
) {
    for (f, &v) in values.iter().enumerate() {
        let hist = &mut actor.hists[f];
        let first = hist.groups() == 0;
        if hist.add(v, 1.0, t, profile.half_life_us) {
            new(f, v, first);
        }
    }
}

/// Records a scored message: counted while its actor learns, an event when anomalous.
fn report(out: &mut Outcome, e: &Extraction, r: usize, learning: bool, anomalies: Vec<Anomaly>) {
    if learning {
        out.learning += 1;
    } else if !anomalies.is_empty() {
        out.events.push(Event {
            message: e.message(r),
            actor: e.actor(r).0.to_string(),
            time: e.time(r),
            anomalies,
        });
    }
}

/// The stored counts of one feature, as ScryWarden's reporters see them.
struct Snapshot<'a> {
    actors: &'a [&'a ActorState],
    values: &'a Interner,
    feature: usize,
}

impl scrywarden::Stored for Snapshot<'_> {
    fn count(&self, actor: u32, value: &str) -> f64 {
        self.hist(actor).view(self.values).count_text(text_hash(value), value)
    }
    fn groups(&self, actor: u32) -> f64 {
        self.hist(actor).groups() as f64
    }
    fn total(&self, actor: u32) -> f64 {
        let h = self.hist(actor);
        h.total * h.scale()
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
    values: &'a Interner,
    scale: f64,
    as_of: i64,
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
    fn count(&self, id: u32) -> f64 {
        self.hist.counts.get(&id).map_or(0.0, |c| c * self.scale)
    }
    fn count_text(&self, hash: u64, text: &str) -> f64 {
        self.values.get(hash, text).map_or(0.0, |id| self.count(id))
    }
    fn total(&self) -> f64 {
        self.hist.total * self.scale
    }
    fn groups(&self) -> usize {
        self.hist.groups()
    }
    /// The `n` most frequent values (ties by value), in one pass.
    fn usual(&self, n: usize) -> Vec<(String, f64)> {
        let mut top: Vec<(&str, f64)> = Vec::with_capacity(n + 1);
        let before = |a: &(&str, f64), b: &(&str, f64)| b.1 < a.1 || (b.1 == a.1 && a.0 < b.0);
        for (&id, &c) in &self.hist.counts {
            let item = (self.values.text(id), c);
            if top.len() == n && !before(&item, &top[n - 1]) {
                continue;
            }
            let at = top.iter().position(|t| before(&item, t)).unwrap_or(top.len());
            top.insert(at, item);
            top.truncate(n);
        }
        top.into_iter().map(|(k, c)| (k.to_string(), round6(c * self.scale))).collect()
    }
    fn buckets(&self) -> impl Iterator<Item = (i64, f64)> + '_ {
        self.hist.counts.iter().filter_map(|(&id, c)| {
            Some((self.values.text(id).parse::<i64>().ok()?, c * self.scale))
        })
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

/// The hashes of [`BUCKET_NAMES`].
static BUCKET_HASHES: LazyLock<[u64; 24]> =
    LazyLock::new(|| std::array::from_fn(|k| text_hash(BUCKET_NAMES[k])));

/// The hash of the empty value (null).
static EMPTY_HASH: LazyLock<u64> = LazyLock::new(|| text_hash(""));

/// Share of the average active bucket below which a time is unusual for the actor.
const HABIT_TOLERANCE: f64 = 0.1;

/// An hour (or weekday) against the actor's habit: neighbours count half (hours only), and a
/// bucket holding at least a tenth of an average active bucket is usual.
fn habit(hist: &HistView<'_>, id: u32, buckets: i64, min_history: f64) -> f64 {
    let total = hist.total();
    if total < min_history {
        return 0.0;
    }
    let Some(b) = hist.values.number(id) else { return 0.0 };
    let at = |k: i64| {
        let k = k.rem_euclid(buckets) as usize;
        hist.count_text(BUCKET_HASHES[k], BUCKET_NAMES[k])
    };
    let c = if buckets == 24 { at(b) + 0.5 * (at(b - 1) + at(b + 1)) } else { at(b) };
    let active = hist.groups().max(1) as f64;
    let usual = HABIT_TOLERANCE * total / active;
    (1.0 - c / usual).max(0.0)
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
    id: u32,
    value: &str,
    k: f64,
    min_history: f64,
) -> (f64, Option<(f64, f64)>) {
    let total = hist.total();
    if value.is_empty() || total < min_history {
        return (0.0, None);
    }
    let Some(x) = hist.values.number(id) else { return (0.0, None) };
    let raw = hist.hist.total;
    let (median, sigma) = match hist.hist.range.get() {
        Some((at, m, s)) if raw <= at * 1.02 => (m, s),
        _ => {
            let mut bins: Vec<(i64, f64)> = hist.buckets().collect();
            bins.sort_unstable_by_key(|b| b.0);
            let median = weighted_median(&bins, total);
            let mad = median_deviation(&bins, median, total) as f64;
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

/// The weighted median of the distances of sorted bins from `median`: the distances are
/// taken in increasing order by walking out from the median on both sides.
fn median_deviation(sorted: &[(i64, f64)], median: i64, total: f64) -> i64 {
    let split = sorted.partition_point(|b| b.0 < median);
    let (mut left, mut right) = (split, split);
    let (mut acc, mut last) = (0.0, 0);
    loop {
        let below = left.checked_sub(1).map(|i| (median - sorted[i].0, sorted[i].1));
        let above = sorted.get(right).map(|&(b, c)| (b - median, c));
        let (d, c) = match (below, above) {
            (Some(l), Some(r)) if l.0 < r.0 => {
                left -= 1;
                l
            }
            (_, Some(r)) => {
                right += 1;
                r
            }
            (Some(l), None) => {
                left -= 1;
                l
            }
            (None, None) => return last,
        };
        acc += c;
        last = d;
        if acc >= total / 2.0 {
            return d;
        }
    }
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

// The saved form of a state is the one crest has always written: actors by name, each with one
// map of value text → count per feature, and the population by value text. Texts, not numbers,
// so that a state reads back whatever order its values were first seen in; maps are written
// sorted, so that the same state gives the same bytes.

impl Serialize for ModelState {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Wire<'a> {
            actors: Sorted<&'a str, ActorWire<'a>>,
            population: Vec<Sorted<&'a str, u32>>,
            population_actors: &'a [u32],
        }
        #[derive(Serialize)]
        struct ActorWire<'a> {
            first_seen: i64,
            hists: Vec<HistWire<'a>>,
        }
        #[derive(Serialize)]
        struct HistWire<'a> {
            counts: Sorted<&'a str, f64>,
            total: f64,
            scale: f64,
            as_of: i64,
            range: Option<(f64, i64, f64)>,
        }
        let actors = self
            .actors()
            .into_iter()
            .map(|a| {
                let hists = a
                    .state
                    .hists
                    .iter()
                    .zip(a.values)
                    .map(|(h, values)| HistWire {
                        counts: Sorted::new(h.counts.iter().map(|(&id, &c)| (values.text(id), c))),
                        total: h.total,
                        scale: h.scale,
                        as_of: h.as_of,
                        range: h.range.get(),
                    })
                    .collect();
                (a.name, ActorWire { first_seen: a.state.first_seen, hists })
            })
            .collect();
        let population = self
            .population
            .iter()
            .zip(&self.values)
            .map(|(counts, values)| {
                Sorted::new(
                    counts
                        .iter()
                        .enumerate()
                        .filter(|(_, n)| **n > 0)
                        .map(|(id, &n)| (values.text(id as u32), n)),
                )
            })
            .collect();
        Wire { actors: Sorted(actors), population, population_actors: &self.population_actors }
            .serialize(s)
    }
}

/// A map written in key order.
struct Sorted<K, V>(Vec<(K, V)>);

impl<K: Ord, V> Sorted<K, V> {
    fn new(pairs: impl Iterator<Item = (K, V)>) -> Self {
        let mut v: Vec<(K, V)> = pairs.collect();
        v.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Sorted(v)
    }
}

impl<K: Serialize, V: Serialize> Serialize for Sorted<K, V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

impl<'de> Deserialize<'de> for ModelState {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ModelState, D::Error> {
        #[derive(Deserialize)]
        struct Wire {
            actors: BTreeMap<String, ActorWire>,
            population: Vec<BTreeMap<String, u32>>,
            population_actors: Vec<u32>,
        }
        #[derive(Deserialize)]
        struct ActorWire {
            first_seen: i64,
            hists: Vec<HistWire>,
        }
        #[derive(Deserialize)]
        struct HistWire {
            counts: BTreeMap<String, f64>,
            total: f64,
            scale: f64,
            as_of: i64,
            #[serde(default)]
            range: Option<(f64, i64, f64)>,
        }
        let wire = Wire::deserialize(d)?;
        let n = wire.actors.values().map(|a| a.hists.len()).max().unwrap_or(0);
        let n = n.max(wire.population.len()).max(wire.population_actors.len());
        let mut state = ModelState {
            values: vec![Interner::default(); n],
            population: vec![Vec::new(); n],
            population_actors: wire.population_actors,
            ..ModelState::default()
        };
        state.population_actors.resize(n, 0);
        for (f, counts) in wire.population.into_iter().enumerate() {
            for (value, users) in counts {
                let v = state.value_id(f, &value, text_hash(&value));
                state.population[f][v as usize] = users;
            }
        }
        for (name, actor) in wire.actors {
            let (id, _) = state.held_actor(n, &name, text_hash(&name), actor.first_seen);
            let mut hists = vec![Hist::default(); n];
            for (f, (h, w)) in hists.iter_mut().zip(actor.hists).enumerate() {
                for (value, c) in w.counts {
                    let v = state.value_id(f, &value, text_hash(&value));
                    h.counts.insert(v, c);
                }
                (h.total, h.scale, h.as_of) = (w.total, w.scale, w.as_of);
                h.range.set(w.range);
            }
            state.actors[id as usize] = Some(ActorState { first_seen: actor.first_seen, hists });
        }
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{FeatureSpec, ProfileSpec};
    use serde_json::json;

    /// Scoring a batch's actors on several cores gives what one core gives: the same events
    /// (rarity included) and the same state, batch after batch.
    #[test]
    fn sharded_scoring_is_exact() {
        use crest_testing::actors::{ActorLogSpec, actor_logs};
        let spec: ProfileSpec = toml::from_str(
            r#"
            actor = "user"
            time = "time"
            learning = "2d"
            half_life = "5d"
            match = { type = "process" }
            [[feature]]
            field = "host"
            reporter = "rarity"
            [[feature]]
            fields = ["parent", "process"]
            reporter = "rarity"
            [[feature]]
            field = "bytes_out"
            reporter = "numeric"
            [[feature]]
            reporter = "hour"
            [[feature]]
            field = "process"
            reporter = "optional"
            "#,
        )
        .unwrap();
        let p = Profile::build("processes", &spec).unwrap();
        let logs = actor_logs(&ActorLogSpec { actors: 40, days: 12, ..Default::default() });
        let messages: Vec<Message> = logs
            .iter()
            .map(|l| Message::new(l.time_s * 1_000_000, serde_json::from_str(&l.json).unwrap()))
            .collect();
        let (mut one, mut many) = (ModelState::new(&p), ModelState::new(&p));
        let mut events = 0;
        for batch in messages.chunks(3000) {
            let a = one.score_extracted_in(&p, Extraction::of(&p, batch), true, 1);
            let b = many.score_extracted_in(&p, Extraction::of(&p, batch), true, 3);
            assert_eq!(a.events, b.events);
            assert_eq!(a.deltas, b.deltas);
            assert_eq!((a.new_actors, a.learning), (b.new_actors, b.learning));
            events += a.events.len();
        }
        assert!(events > 100, "{events} events");
        assert_eq!(postcard::to_allocvec(&one).unwrap(), postcard::to_allocvec(&many).unwrap());
    }

    /// A state saves as texts and reads back to one that scores the same.
    #[test]
    fn saved_state_reads_back_the_same() {
        let spec = ProfileSpec {
            actor: "user".into(),
            half_life: Some("1h".into()),
            features: vec![
                FeatureSpec { field: Some("app".into()), ..Default::default() },
                FeatureSpec {
                    field: Some("country".into()),
                    reporter: ReporterKind::Rarity,
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let p = Profile::build("p", &spec).unwrap();
        let msg = |t: i64, u: &str, app: &str, c: &str| {
            Message::new(t * 60_000_000, json!({"user": u, "app": app, "country": c}))
        };
        let batch: Vec<Message> = (0..40)
            .map(|i| {
                msg(i, ["ann", "bob", "cy"][i as usize % 3], ["mail", "vpn"][i as usize % 2], "US")
            })
            .collect();
        let mut state = ModelState::new(&p);
        state.score_batch(&p, &batch);
        let bytes = postcard::to_allocvec(&state).unwrap();
        let back: ModelState = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(postcard::to_allocvec(&back).unwrap(), bytes, "same bytes again");
        assert_eq!(back.actor_count(), 3);
        let (a, b) = (state.actor("bob").unwrap(), back.actor("bob").unwrap());
        assert_eq!(a.feature(0).ranked(), b.feature(0).ranked());
        assert_eq!(back.population(1, "\"US\""), Some(3));
        assert_eq!(back.population_actors(1), 3);
        let next = [msg(50, "ann", "wiki", "FR"), msg(51, "dan", "mail", "US")];
        let (mut s1, mut s2) = (state.clone(), back);
        assert_eq!(s1.score_batch(&p, &next).events, s2.score_batch(&p, &next).events);
    }
}
