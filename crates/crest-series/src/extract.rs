//! From events to metric series: `count`, `sum(FIELD)` and `distinct(FIELD)`, each `by KEY…`,
//! on an epoch-aligned grid.
//!
//! An [`Extractor`] takes observations (a bucket from [`Extractor::admit`], the key values and
//! the field value) and accumulates one value per (metric, key tuple, bucket), where the bucket
//! of an event at `t` seconds is `floor(t / step)`. It never reads a file: sources decode the
//! events, this module only counts.
//!
//! **Parallel and deterministic.** Extractors of different parts of the input [`merge`]
//! (counts add, sums add, distinct sets unite) and the result does not depend on how the input
//! was cut: sums are exact until the one final rounding (Shewchuk's partials, as Python's
//! `math.fsum`), so floating-point sums do not change in the last bits with the thread count,
//! and a distinct set's final form depends only on its members.
//!
//! **Distinct values** are kept exactly, as 64-bit hashes (a collision among a million values
//! has a chance of about 3 in 10⁸), until a bucket holds more than the exact limit; then the
//! bucket switches to a HyperLogLog sketch of 2¹⁴ registers (16 KiB, standard error 0.81%).
//! The sketch is our own, some eighty lines: merging needs register-level access and a state
//! that depends only on the set, and Ertl's improved estimator needs no bias tables, which the
//! crates we looked at (`hyperloglogplus`, `cardinality-estimator`) either lack or hide behind
//! their own exact phases and hashers.
//!
//! **Memory and retention.** Without retention every bucket stays open until the end. With
//! [`ExtractConfig::retain`] `= Some(n)`, only the newest bucket seen and the `n` before it
//! stay open; older buckets close into one 16-byte point each (a hash set or sketch is
//! dropped), and a later event for a closed bucket is counted as dropped. Open state is then
//! bounded by keys × (n + 1) buckets.
//!
//! **Gaps.** A series runs from its key's first bucket to its last; a bucket in between with no
//! event is 0 for every metric (nothing happened: no events, no bytes, no distinct values).
//! That dense grid is what detectors want; [`Gaps::Omit`] gives only the observed buckets.
//!
//! [`merge`]: Extractor::merge

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::str::FromStr;

use crate::series::parse_duration;

/// Why a metric spec, a step or a merge is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    /// A metric spec cannot be read.
    #[error("invalid metric '{spec}': {reason}")]
    Spec {
        /// The spec as written.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A step cannot be read or is not positive.
    #[error("invalid step '{text}': {reason}")]
    Step {
        /// The step as written.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Extractors that close buckets cannot be merged (a closed distinct count cannot unite).
    #[error("extractors with retention read their input in order and cannot be merged")]
    MergeRetained,
    /// Extractors of different metrics or settings cannot be merged.
    #[error("extractors of different metrics or settings cannot be merged")]
    MergeMismatch,
}

/// What a metric computes per bucket.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Aggregate {
    /// The number of events.
    Count,
    /// The sum of a numeric field.
    Sum(String),
    /// The number of distinct values of a field.
    Distinct(String),
}

/// One metric: an aggregate, split by the values of zero or more key fields.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MetricSpec {
    /// What is computed.
    pub aggregate: Aggregate,
    /// The key fields, in the order written (`by src_ip,dst_ip`).
    pub by: Vec<String>,
}

impl MetricSpec {
    /// The field the aggregate reads (`None` for `count`).
    pub fn field(&self) -> Option<&str> {
        match &self.aggregate {
            Aggregate::Count => None,
            Aggregate::Sum(f) | Aggregate::Distinct(f) => Some(f),
        }
    }
}

impl fmt::Display for MetricSpec {
    /// The canonical text: `count`, `sum(bytes) by src_ip,dst_ip`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.aggregate {
            Aggregate::Count => write!(f, "count")?,
            Aggregate::Sum(x) => write!(f, "sum({x})")?,
            Aggregate::Distinct(x) => write!(f, "distinct({x})")?,
        }
        if !self.by.is_empty() {
            write!(f, " by {}", self.by.join(","))?;
        }
        Ok(())
    }
}

impl FromStr for MetricSpec {
    type Err = ExtractError;

    /// Reads `count`, `sum(FIELD)` or `distinct(FIELD)`, optionally followed by
    /// `by KEY[,KEY…]`; names of aggregates are case-insensitive, spaces are free.
    fn from_str(text: &str) -> Result<Self, ExtractError> {
        let bad = |reason: String| ExtractError::Spec { spec: text.to_string(), reason };
        let t = text.trim();
        if t.is_empty() {
            return Err(bad(
                "empty (expected count, sum(FIELD) or distinct(FIELD), then by KEY…)".into()
            ));
        }
        // The aggregate ends at its closing parenthesis, or at the first space for `count`.
        let (head, rest) = match t.find(')') {
            Some(close) if t[..close].contains('(') => (&t[..=close], &t[close + 1..]),
            _ => t.split_at(t.find(char::is_whitespace).unwrap_or(t.len())),
        };
        let head = head.trim();
        let (name, arg) = match head.split_once('(') {
            Some((name, arg)) => {
                let arg = arg.strip_suffix(')').ok_or_else(|| bad("missing ')'".into()))?;
                (name.trim(), Some(arg.trim()))
            }
            None => (head, None),
        };
        let aggregate = match (name.to_ascii_lowercase().as_str(), arg) {
            ("count", None) => Aggregate::Count,
            ("count", Some(_)) => {
                return Err(bad("count takes no field: write 'count' (every event counts)".into()));
            }
            ("sum", Some(f)) => Aggregate::Sum(field_name(f).map_err(bad)?),
            ("distinct", Some(f)) => Aggregate::Distinct(field_name(f).map_err(bad)?),
            ("sum" | "distinct", None) => {
                return Err(bad(format!("{name} needs a field: {name}(FIELD)")));
            }
            _ => {
                return Err(bad(format!(
                    "unknown aggregate '{name}': expected count, sum(FIELD) or distinct(FIELD)"
                )));
            }
        };
        let rest = rest.trim();
        let mut by = Vec::new();
        if !rest.is_empty() {
            let keys =
                rest.strip_prefix("by").filter(|k| k.starts_with(char::is_whitespace)).ok_or_else(
                    || bad(format!("expected 'by KEY[,KEY…]' after the aggregate, found '{rest}'")),
                )?;
            for key in keys.split(',') {
                let key = field_name(key.trim()).map_err(bad)?;
                if by.contains(&key) {
                    return Err(bad(format!("key '{key}' is given twice")));
                }
                by.push(key);
            }
        }
        Ok(MetricSpec { aggregate, by })
    }
}

/// A field name: not empty, no spaces, commas or parentheses.
fn field_name(name: &str) -> Result<String, String> {
    if name.is_empty() {
        return Err("a field name is empty".into());
    }
    if let Some(c) = name.chars().find(|c| c.is_whitespace() || ",()".contains(*c)) {
        return Err(format!("field name '{name}' contains '{c}'"));
    }
    Ok(name.to_string())
}

/// The grid step in whole seconds, positive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Step(i64);

impl Step {
    /// A step of `seconds`, which must be positive.
    pub fn from_seconds(seconds: i64) -> Result<Step, ExtractError> {
        if seconds <= 0 {
            return Err(ExtractError::Step {
                text: format!("{seconds}s"),
                reason: "the step must be positive".into(),
            });
        }
        Ok(Step(seconds))
    }

    /// Reads a step such as `60s`, `1m`, `5min`, `1h` or `1d`: Graphite's units (see
    /// [`parse_duration`]) plus `m` for minutes, as people write steps.
    pub fn parse(text: &str) -> Result<Step, ExtractError> {
        let bad =
            |reason: &str| ExtractError::Step { text: text.to_string(), reason: reason.into() };
        // Graphite has no `m`; for a step it can only mean minutes (months are `mon`).
        let mut fixed = String::with_capacity(text.len() + 4);
        let mut letters = String::new();
        for c in text.trim().chars().chain(std::iter::once(' ')) {
            if c.is_ascii_alphabetic() {
                letters.push(c);
                continue;
            }
            fixed.push_str(if letters == "m" { "min" } else { &letters });
            letters.clear();
            if c != ' ' {
                fixed.push(c);
            }
        }
        let seconds = parse_duration(&fixed)
            .map_err(|_| bad("expected a duration such as 60s, 1m, 5min, 1h or 1d"))?;
        if seconds <= 0 {
            return Err(bad("the step must be positive"));
        }
        Ok(Step(seconds))
    }

    /// The step in seconds.
    pub fn seconds(self) -> i64 {
        self.0
    }

    /// The bucket of an instant: `floor(time / step)`.
    pub fn bucket(self, time: i64) -> i64 {
        time.div_euclid(self.0)
    }
}

/// How an extractor runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtractConfig {
    /// The grid step.
    pub step: Step,
    /// Buckets kept open behind the newest bucket seen (`None`: all, until the end).
    pub retain: Option<u64>,
    /// A bucket counts distinct values exactly up to this many, then estimates them.
    pub distinct_exact_limit: usize,
}

impl ExtractConfig {
    /// The default exact limit of distinct values per bucket.
    pub const DEFAULT_EXACT_LIMIT: usize = 4096;

    /// A config with the given step, no retention and the default exact limit.
    pub fn new(step: Step) -> Self {
        ExtractConfig { step, retain: None, distinct_exact_limit: Self::DEFAULT_EXACT_LIMIT }
    }
}

/// The value an event gives a metric.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Observation<'a> {
    /// An event for `count` (no field).
    Event,
    /// A finite number for `sum`.
    Number(f64),
    /// A value for `distinct`, by its text.
    Value(&'a [u8]),
}

/// Accumulates metric series from observations.
#[derive(Clone, Debug)]
pub struct Extractor {
    specs: Vec<MetricSpec>,
    config: ExtractConfig,
    /// Per metric: encoded key tuple → its buckets.
    keys: Vec<HashMap<Box<[u8]>, KeyState>>,
    /// The newest bucket seen (tracked only with retention).
    newest: Option<i64>,
    /// Buckets before this one are closed (only with retention).
    horizon: Option<i64>,
    dropped: u64,
    scratch: Vec<u8>,
}

#[derive(Clone, Debug, Default)]
struct KeyState {
    open: BTreeMap<i64, Acc>,
    /// Closed buckets, ascending, each before every open one.
    closed: Vec<(i64, f64)>,
}

impl Extractor {
    /// An empty extractor of the given metrics.
    pub fn new(specs: Vec<MetricSpec>, config: ExtractConfig) -> Self {
        let keys = specs.iter().map(|_| HashMap::new()).collect();
        Extractor {
            specs,
            config,
            keys,
            newest: None,
            horizon: None,
            dropped: 0,
            scratch: Vec::new(),
        }
    }

    /// The metrics, in the order given.
    pub fn specs(&self) -> &[MetricSpec] {
        &self.specs
    }

    /// The settings.
    pub fn config(&self) -> &ExtractConfig {
        &self.config
    }

    /// Events dropped because their bucket had closed (with retention only).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Admits an event at `time` (seconds since the epoch): its bucket, or `None` when the
    /// bucket has closed (the event is counted as dropped). Advancing the newest bucket closes
    /// the buckets that fall out of retention.
    pub fn admit(&mut self, time: i64) -> Option<i64> {
        let bucket = self.config.step.bucket(time);
        if self.horizon.is_some_and(|h| bucket < h) {
            self.dropped += 1;
            return None;
        }
        if let Some(retain) = self.config.retain
            && self.newest.is_none_or(|n| bucket > n)
        {
            self.newest = Some(bucket);
            let horizon = bucket.saturating_sub(retain.min(i64::MAX as u64) as i64);
            if self.horizon.is_none_or(|h| horizon > h) {
                self.horizon = Some(horizon);
                self.close_before(horizon);
            }
        }
        Some(bucket)
    }

    /// Adds one observation of metric `metric` (an index into [`specs`](Self::specs)) to a
    /// bucket from [`admit`](Self::admit), for the key values `key` (one per `by` field).
    /// A `sum` takes [`Observation::Number`] and a `distinct` [`Observation::Value`]; anything
    /// else is ignored, as are non-finite numbers.
    pub fn observe(&mut self, metric: usize, bucket: i64, key: &[&[u8]], value: Observation<'_>) {
        let Some(spec) = self.specs.get(metric) else { return };
        let seed = match (&spec.aggregate, value) {
            (Aggregate::Count, _) => Acc::Count(0),
            (Aggregate::Sum(_), Observation::Number(x)) if x.is_finite() => {
                Acc::Sum(ExactSum::default())
            }
            (Aggregate::Distinct(_), Observation::Value(_)) => Acc::Distinct(Distinct::default()),
            _ => return,
        };
        self.scratch.clear();
        for part in key {
            self.scratch.extend_from_slice(&(part.len() as u32).to_le_bytes());
            self.scratch.extend_from_slice(part);
        }
        let keys = &mut self.keys[metric];
        let state = match keys.get_mut(&self.scratch[..]) {
            Some(s) => s,
            None => keys.entry(self.scratch.clone().into_boxed_slice()).or_default(),
        };
        let acc = state.open.entry(bucket).or_insert(seed);
        match (acc, value) {
            (Acc::Count(n), _) => *n += 1,
            (Acc::Sum(s), Observation::Number(x)) => s.add(x),
            (Acc::Distinct(d), Observation::Value(v)) => {
                d.insert(hash64(v), self.config.distinct_exact_limit);
            }
            _ => {}
        }
    }

    /// Folds `other` (another part of the same input) into this one. The result is the same
    /// whatever the parts and the merge order.
    pub fn merge(&mut self, mut other: Extractor) -> Result<(), ExtractError> {
        if self.specs != other.specs || self.config != other.config {
            return Err(ExtractError::MergeMismatch);
        }
        if self.config.retain.is_some() {
            return Err(ExtractError::MergeRetained);
        }
        let limit = self.config.distinct_exact_limit;
        for (mine, theirs) in self.keys.iter_mut().zip(other.keys.iter_mut()) {
            // Fold the smaller map into the larger one.
            if theirs.len() > mine.len() {
                std::mem::swap(mine, theirs);
            }
            for (key, state) in theirs.drain() {
                let into = mine.entry(key).or_default();
                for (bucket, acc) in state.open {
                    match into.open.entry(bucket) {
                        std::collections::btree_map::Entry::Vacant(v) => {
                            v.insert(acc);
                        }
                        std::collections::btree_map::Entry::Occupied(mut o) => {
                            o.get_mut().merge(acc, limit);
                        }
                    }
                }
            }
        }
        self.dropped += other.dropped;
        Ok(())
    }

    /// Closes every open bucket before `horizon`.
    fn close_before(&mut self, horizon: i64) {
        for keys in &mut self.keys {
            for state in keys.values_mut() {
                if state.open.first_key_value().is_some_and(|(b, _)| *b < horizon) {
                    let keep = state.open.split_off(&horizon);
                    let closed = std::mem::replace(&mut state.open, keep);
                    state.closed.extend(closed.into_iter().map(|(b, acc)| (b, acc.value())));
                }
            }
        }
    }

    /// The series, sorted by (metric, key, bucket).
    pub fn finish(mut self) -> Extracted {
        let mut series = Vec::new();
        for (metric, keys) in std::mem::take(&mut self.keys).into_iter().enumerate() {
            let mut mine: Vec<ExtractedSeries> = keys
                .into_iter()
                .map(|(key, state)| {
                    let mut points = state.closed;
                    points.extend(state.open.into_iter().map(|(b, acc)| (b, acc.value())));
                    ExtractedSeries { metric, key: decode_key(&key), points }
                })
                .collect();
            mine.sort_by(|a, b| a.key.cmp(&b.key));
            series.extend(mine);
        }
        Extracted { specs: self.specs, step: self.config.step, series, dropped: self.dropped }
    }
}

fn decode_key(mut bytes: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    while bytes.len() >= 4 {
        let len = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        let end = (4 + len).min(bytes.len());
        out.push(String::from_utf8_lossy(&bytes[4..end]).into_owned());
        bytes = &bytes[end..];
    }
    out
}

/// Which grid points a series gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Gaps {
    /// Every bucket from the key's first to its last; unobserved ones are 0.
    #[default]
    Zero,
    /// Only the buckets that had events.
    Omit,
}

/// The result of an extraction: series sorted by (metric, key, bucket).
#[derive(Clone, Debug, PartialEq)]
pub struct Extracted {
    /// The metrics, in the order given; [`ExtractedSeries::metric`] indexes this.
    pub specs: Vec<MetricSpec>,
    /// The grid step.
    pub step: Step,
    /// The series.
    pub series: Vec<ExtractedSeries>,
    /// Events dropped because their bucket had closed.
    pub dropped: u64,
}

/// One series: a metric for one key tuple.
#[derive(Clone, Debug, PartialEq)]
pub struct ExtractedSeries {
    /// Index of the metric in [`Extracted::specs`].
    pub metric: usize,
    /// The key values, one per `by` field (empty without `by`).
    pub key: Vec<String>,
    /// Observed buckets and their values, ascending.
    points: Vec<(i64, f64)>,
}

impl ExtractedSeries {
    /// Grid slots from the first observed bucket to the last, both included.
    pub fn span(&self) -> u64 {
        match (self.points.first(), self.points.last()) {
            (Some(a), Some(b)) => (b.0 - a.0) as u64 + 1,
            _ => 0,
        }
    }

    /// Observed buckets, as many as [`points`](Self::points) gives with [`Gaps::Omit`].
    pub fn observed(&self) -> usize {
        self.points.len()
    }

    /// The points as (bucket start in seconds since the epoch, value), ascending.
    pub fn points(&self, step: Step, gaps: Gaps) -> impl Iterator<Item = (i64, f64)> + '_ {
        let s = step.seconds();
        let mut next = self.points.first().map_or(0, |p| p.0);
        let mut it = self.points.iter().peekable();
        std::iter::from_fn(move || {
            let &&(bucket, value) = it.peek()?;
            if gaps == Gaps::Zero && next < bucket {
                next += 1;
                return Some(((next - 1) * s, 0.0));
            }
            it.next();
            next = bucket + 1;
            Some((bucket * s, value))
        })
    }
}

/// One bucket's accumulator.
#[derive(Clone, Debug)]
enum Acc {
    Count(u64),
    Sum(ExactSum),
    Distinct(Distinct),
}

impl Acc {
    fn merge(&mut self, other: Acc, limit: usize) {
        match (self, other) {
            (Acc::Count(a), Acc::Count(b)) => *a += b,
            (Acc::Sum(a), Acc::Sum(b)) => a.merge(&b),
            (Acc::Distinct(a), Acc::Distinct(b)) => a.merge(b, limit),
            _ => {}
        }
    }

    fn value(&self) -> f64 {
        match self {
            Acc::Count(n) => *n as f64,
            Acc::Sum(s) => s.total(),
            Acc::Distinct(d) => d.count(),
        }
    }
}

/// An exact sum of floats: non-overlapping partials whose exact total is the sum of every
/// number added (Shewchuk's algorithm, as Python's `math.fsum`), rounded once at the end.
#[derive(Clone, Debug, Default, PartialEq)]
struct ExactSum {
    partials: Vec<f64>,
}

impl ExactSum {
    fn add(&mut self, mut x: f64) {
        let mut kept = 0;
        for j in 0..self.partials.len() {
            let mut y = self.partials[j];
            if x.abs() < y.abs() {
                std::mem::swap(&mut x, &mut y);
            }
            let hi = x + y;
            let lo = y - (hi - x);
            if lo != 0.0 {
                self.partials[kept] = lo;
                kept += 1;
            }
            x = hi;
        }
        self.partials.truncate(kept);
        self.partials.push(x);
    }

    fn merge(&mut self, other: &ExactSum) {
        for &p in &other.partials {
            self.add(p);
        }
    }

    /// The exact sum, correctly rounded (half to even), as `math.fsum` rounds it.
    fn total(&self) -> f64 {
        let p = &self.partials;
        let Some(mut n) = p.len().checked_sub(1) else { return 0.0 };
        let mut hi = p[n];
        let mut lo = 0.0;
        while n > 0 {
            n -= 1;
            let x = hi;
            let y = p[n];
            hi = x + y;
            lo = y - (hi - x);
            if lo != 0.0 {
                break;
            }
        }
        // Half-way cases: the partials below decide which way to round.
        if n > 0 && ((lo < 0.0 && p[n - 1] < 0.0) || (lo > 0.0 && p[n - 1] > 0.0)) {
            let y = lo * 2.0;
            let x = hi + y;
            if y == x - hi {
                hi = x;
            }
        }
        hi
    }
}

/// Hashes are already uniform: the set uses them as they are.
#[derive(Default)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ b as u64;
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = x;
    }
}

type HashSet64 = HashSet<u64, BuildHasherDefault<IdentityHasher>>;

/// Distinct values of one bucket: exact hashes, then a sketch beyond the limit.
#[derive(Clone, Debug)]
enum Distinct {
    Exact(HashSet64),
    Sketch(Box<Hll>),
}

impl Default for Distinct {
    fn default() -> Self {
        Distinct::Exact(HashSet64::default())
    }
}

impl Distinct {
    fn insert(&mut self, hash: u64, limit: usize) {
        match self {
            Distinct::Exact(set) => {
                set.insert(hash);
                if set.len() > limit {
                    *self = Distinct::Sketch(Box::new(Hll::from_hashes(set.iter().copied())));
                }
            }
            Distinct::Sketch(h) => h.insert(hash),
        }
    }

    fn merge(&mut self, other: Distinct, limit: usize) {
        match other {
            Distinct::Exact(set) => {
                for h in set {
                    self.insert(h, limit);
                }
            }
            Distinct::Sketch(theirs) => match self {
                Distinct::Sketch(mine) => mine.merge(&theirs),
                Distinct::Exact(set) => {
                    let mut sketch = theirs;
                    for &h in set.iter() {
                        sketch.insert(h);
                    }
                    *self = Distinct::Sketch(sketch);
                }
            },
        }
    }

    fn count(&self) -> f64 {
        match self {
            Distinct::Exact(set) => set.len() as f64,
            Distinct::Sketch(h) => h.estimate().round(),
        }
    }
}

/// Index bits of the sketch: 2¹⁴ registers.
const HLL_P: u32 = 14;
const HLL_M: usize = 1 << HLL_P;
/// Largest register value: the rank of a hash whose 50 remaining bits are all zero.
const HLL_Q: u32 = 64 - HLL_P;

/// A HyperLogLog sketch of 64-bit hashes (registers merge by maximum).
#[derive(Clone, Debug, PartialEq)]
struct Hll {
    registers: Box<[u8]>,
}

impl Hll {
    fn from_hashes(hashes: impl Iterator<Item = u64>) -> Self {
        let mut h = Hll { registers: vec![0u8; HLL_M].into_boxed_slice() };
        for x in hashes {
            h.insert(x);
        }
        h
    }

    fn insert(&mut self, hash: u64) {
        let index = (hash >> HLL_Q) as usize;
        let rest = hash << HLL_P;
        let rank = (rest.leading_zeros() + 1).min(HLL_Q + 1) as u8;
        let r = &mut self.registers[index];
        *r = (*r).max(rank);
    }

    fn merge(&mut self, other: &Hll) {
        for (a, &b) in self.registers.iter_mut().zip(other.registers.iter()) {
            *a = (*a).max(b);
        }
    }

    /// Ertl's improved estimator ("New cardinality estimation algorithms for HyperLogLog
    /// sketches", 2017): unbiased from small to large counts without empirical tables.
    fn estimate(&self) -> f64 {
        let m = HLL_M as f64;
        let q = HLL_Q as usize;
        let mut hist = [0u32; 66];
        for &r in self.registers.iter() {
            hist[r as usize] += 1;
        }
        let mut z = m * tau(1.0 - hist[q + 1] as f64 / m);
        for k in (1..=q).rev() {
            z = 0.5 * (z + hist[k] as f64);
        }
        z += m * sigma(hist[0] as f64 / m);
        m * m / (2.0 * std::f64::consts::LN_2) / z
    }
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if z == before {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        z -= (1.0 - x).powi(2) * y;
        if z == before {
            return z / 3.0;
        }
    }
}

/// A fixed, well-mixed 64-bit hash of bytes (a folded multiply per 8 bytes, then murmur3's
/// finaliser), so that sketches are the same on every run and machine.
fn hash64(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let fold = |a: u64, b: u64| {
        let p = (a as u128) * (b as u128);
        (p as u64) ^ ((p >> 64) as u64)
    };
    let mut h = fold(bytes.len() as u64 ^ 0x2d35_8dcc_aa6c_78a5, K);
    for chunk in bytes.chunks(8) {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        h = fold(h ^ u64::from_le_bytes(w), 0x8bb8_4b93_962e_acc9);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn spec(text: &str) -> MetricSpec {
        text.parse().unwrap()
    }

    fn config(step: i64) -> ExtractConfig {
        ExtractConfig::new(Step::from_seconds(step).unwrap())
    }

    /// (time, key, value) events fed to every metric of `specs`.
    fn run(specs: &[&str], cfg: ExtractConfig, events: &[(i64, &str, &str)]) -> Extracted {
        let mut ex = Extractor::new(specs.iter().map(|s| spec(s)).collect(), cfg);
        feed(&mut ex, events);
        ex.finish()
    }

    fn feed(ex: &mut Extractor, events: &[(i64, &str, &str)]) {
        for &(t, key, value) in events {
            let Some(bucket) = ex.admit(t) else { continue };
            for m in 0..ex.specs().len() {
                let keys: Vec<&[u8]> =
                    if ex.specs()[m].by.is_empty() { vec![] } else { vec![key.as_bytes()] };
                let obs = match ex.specs()[m].aggregate {
                    Aggregate::Count => Observation::Event,
                    Aggregate::Sum(_) => Observation::Number(value.parse().unwrap()),
                    Aggregate::Distinct(_) => Observation::Value(value.as_bytes()),
                };
                ex.observe(m, bucket, &keys, obs);
            }
        }
    }

    fn rows(out: &Extracted, gaps: Gaps) -> Vec<(String, String, i64, f64)> {
        out.series
            .iter()
            .flat_map(|s| {
                s.points(out.step, gaps)
                    .map(move |(t, v)| (out.specs[s.metric].to_string(), s.key.join(","), t, v))
            })
            .collect()
    }

    #[test]
    fn specs_parse_and_print_canonically() {
        for (text, want) in [
            ("count", "count"),
            ("  COUNT  ", "count"),
            ("count by src_ip", "count by src_ip"),
            ("sum(bytes) by src_ip,dst_ip", "sum(bytes) by src_ip,dst_ip"),
            ("sum( bytes )by src_ip", "sum(bytes) by src_ip"),
            ("distinct(dst_port) by src_ip", "distinct(dst_port) by src_ip"),
            (
                "Distinct(id.resp_p)  by  id.orig_h , proto",
                "distinct(id.resp_p) by id.orig_h,proto",
            ),
        ] {
            assert_eq!(spec(text).to_string(), want, "{text}");
        }
        assert_eq!(spec("sum(bytes)").field(), Some("bytes"));
        assert_eq!(spec("count by a").field(), None);
    }

    #[test]
    fn bad_specs_say_why() {
        let err = |t: &str| t.parse::<MetricSpec>().unwrap_err().to_string();
        assert_eq!(
            err(""),
            "invalid metric '': empty (expected count, sum(FIELD) or distinct(FIELD), then by KEY…)"
        );
        assert!(
            err("avg(bytes)")
                .contains("unknown aggregate 'avg': expected count, sum(FIELD) or distinct(FIELD)")
        );
        assert!(err("sum").contains("sum needs a field: sum(FIELD)"));
        assert!(err("sum()").contains("a field name is empty"));
        assert!(err("sum(bytes").contains("missing ')'"));
        assert!(err("count(x)").contains("count takes no field"));
        assert!(
            err("count src_ip")
                .contains("expected 'by KEY[,KEY…]' after the aggregate, found 'src_ip'")
        );
        assert!(err("count by").contains("expected 'by KEY"));
        assert!(err("count by a,,b").contains("a field name is empty"));
        assert!(err("count by a,a").contains("key 'a' is given twice"));
        assert!(err("count by a b").contains("field name 'a b' contains ' '"));
    }

    #[test]
    fn steps_accept_m_for_minutes() {
        for (text, want) in [
            ("60s", 60),
            ("60", 60),
            ("1m", 60),
            ("5min", 300),
            ("1h", 3600),
            ("1h30m", 5400),
            ("1d", 86_400),
            ("1mon", 2_592_000),
        ] {
            assert_eq!(Step::parse(text).unwrap().seconds(), want, "{text}");
        }
        for bad in ["", "0s", "-1m", "5x", "m", "1.5m"] {
            assert!(Step::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Step::parse("0").unwrap_err().to_string(),
            "invalid step '0': the step must be positive"
        );
        assert_eq!(Step::from_seconds(60).unwrap().bucket(-1), -1);
    }

    #[test]
    fn counts_sums_and_distincts_by_key_on_an_aligned_grid() {
        let events = [
            (61, "a", "10"),
            (119, "a", "10"),
            (125, "b", "2.5"),
            (300, "a", "11"),
            (301, "b", "2.5"),
        ];
        let out =
            run(&["count by k", "sum(v) by k", "distinct(v) by k", "count"], config(60), &events);
        let got = rows(&out, Gaps::Zero);
        let want: Vec<(String, String, i64, f64)> = [
            ("count by k", "a", 60, 2.0),
            ("count by k", "a", 120, 0.0),
            ("count by k", "a", 180, 0.0),
            ("count by k", "a", 240, 0.0),
            ("count by k", "a", 300, 1.0),
            ("count by k", "b", 120, 1.0),
            ("count by k", "b", 180, 0.0),
            ("count by k", "b", 240, 0.0),
            ("count by k", "b", 300, 1.0),
            ("sum(v) by k", "a", 60, 20.0),
            ("sum(v) by k", "a", 120, 0.0),
            ("sum(v) by k", "a", 180, 0.0),
            ("sum(v) by k", "a", 240, 0.0),
            ("sum(v) by k", "a", 300, 11.0),
            ("sum(v) by k", "b", 120, 2.5),
            ("sum(v) by k", "b", 180, 0.0),
            ("sum(v) by k", "b", 240, 0.0),
            ("sum(v) by k", "b", 300, 2.5),
            ("distinct(v) by k", "a", 60, 1.0),
            ("distinct(v) by k", "a", 120, 0.0),
            ("distinct(v) by k", "a", 180, 0.0),
            ("distinct(v) by k", "a", 240, 0.0),
            ("distinct(v) by k", "a", 300, 1.0),
            ("distinct(v) by k", "b", 120, 1.0),
            ("distinct(v) by k", "b", 180, 0.0),
            ("distinct(v) by k", "b", 240, 0.0),
            ("distinct(v) by k", "b", 300, 1.0),
            ("count", "", 60, 2.0),
            ("count", "", 120, 1.0),
            ("count", "", 180, 0.0),
            ("count", "", 240, 0.0),
            ("count", "", 300, 2.0),
        ]
        .iter()
        .map(|&(m, k, t, v)| (m.to_string(), k.to_string(), t, v))
        .collect();
        assert_eq!(got, want);
        let sparse = rows(&out, Gaps::Omit);
        assert_eq!(sparse.len(), 15);
        assert_eq!(out.series[0].span(), 5);
        assert_eq!(out.series[0].observed(), 2);
    }

    #[test]
    fn negative_times_floor() {
        let out = run(&["count"], config(60), &[(-1, "", ""), (-60, "", ""), (-61, "", "")]);
        assert_eq!(
            rows(&out, Gaps::Zero).iter().map(|r| (r.2, r.3)).collect::<Vec<_>>(),
            [(-120, 1.0), (-60, 2.0)]
        );
    }

    #[test]
    fn multi_key_tuples_stay_apart() {
        let mut ex = Extractor::new(vec![spec("count by a,b")], config(60));
        let b = ex.admit(0).unwrap();
        // Length-prefixed keys: ("ab", "c") is not ("a", "bc").
        ex.observe(0, b, &[b"ab", b"c"], Observation::Event);
        ex.observe(0, b, &[b"a", b"bc"], Observation::Event);
        ex.observe(0, b, &[b"a", b"bc"], Observation::Event);
        let out = ex.finish();
        let keys: Vec<_> = out.series.iter().map(|s| (s.key.clone(), s.points[0].1)).collect();
        assert_eq!(
            keys,
            [
                (vec!["a".to_string(), "bc".to_string()], 2.0),
                (vec!["ab".to_string(), "c".to_string()], 1.0)
            ]
        );
    }

    #[test]
    fn sums_are_exact_until_the_end() {
        let mut s = ExactSum::default();
        for x in [1e16, 1.0, -1e16, 0.1, 0.2] {
            s.add(x);
        }
        assert_eq!(s.total(), 1.3);
        let mut a = ExactSum::default();
        for _ in 0..10 {
            a.add(0.1);
        }
        assert_eq!(a.total(), 1.0);
        assert_eq!(ExactSum::default().total(), 0.0);
    }

    #[test]
    fn retention_closes_old_buckets_and_drops_late_events() {
        let cfg = ExtractConfig { retain: Some(1), ..config(60) };
        let events = [
            (0, "a", "x"),
            (61, "a", "y"),
            (5, "a", "z"),
            (130, "a", "x"),
            (10, "a", "late"),
            (70, "a", "ok"),
        ];
        let out = run(&["count by k", "distinct(v) by k"], cfg.clone(), &events);
        assert_eq!(out.dropped, 1);
        let got: Vec<_> = rows(&out, Gaps::Zero).iter().map(|r| (r.0.clone(), r.2, r.3)).collect();
        assert_eq!(
            got,
            [
                ("count by k".to_string(), 0, 2.0),
                ("count by k".to_string(), 60, 2.0),
                ("count by k".to_string(), 120, 1.0),
                ("distinct(v) by k".to_string(), 0, 2.0),
                ("distinct(v) by k".to_string(), 60, 2.0),
                ("distinct(v) by k".to_string(), 120, 1.0),
            ]
        );
        let mut ex = Extractor::new(vec![spec("count")], cfg);
        feed(&mut ex, &events);
        let other = ex.clone();
        assert_eq!(ex.merge(other), Err(ExtractError::MergeRetained));
        let mut ex = Extractor::new(vec![spec("count")], config(60));
        assert_eq!(
            ex.merge(Extractor::new(vec![spec("count by a")], config(60))),
            Err(ExtractError::MergeMismatch)
        );
    }

    #[test]
    fn distinct_switches_to_a_sketch_past_the_limit() {
        let cfg = ExtractConfig { distinct_exact_limit: 100, ..config(60) };
        let values: Vec<String> = (0..100).map(|i| format!("v{i}")).collect();
        let exact: Vec<(i64, &str, &str)> = values.iter().map(|v| (0, "", v.as_str())).collect();
        let out = run(&["distinct(v)"], cfg.clone(), &exact);
        assert_eq!(out.series[0].points[0].1, 100.0);
        let more: Vec<String> = (0..5000).map(|i| format!("v{i}")).collect();
        let events: Vec<(i64, &str, &str)> = more.iter().map(|v| (0, "", v.as_str())).collect();
        let est = run(&["distinct(v)"], cfg, &events).series[0].points[0].1;
        assert!((est - 5000.0).abs() < 5000.0 * 0.03, "{est}");
    }

    #[test]
    fn sketch_estimates_within_the_error_bound() {
        // Standard error 1.04 / sqrt(2^14) = 0.81%; allow three of them.
        for n in [1_000u64, 30_000, 100_000, 1_000_000] {
            let h = Hll::from_hashes((0..n).map(|i| hash64(format!("10.0.{i}").as_bytes())));
            let est = h.estimate();
            let err = (est - n as f64).abs() / n as f64;
            assert!(err < 0.0245, "n = {n}: estimate {est}, error {err:.4}");
        }
        assert_eq!(Hll::from_hashes(std::iter::empty()).estimate(), 0.0);
    }

    proptest! {
        /// One extractor over everything, or k extractors over consecutive chunks merged in
        /// any order: the same series, bit for bit (sums included).
        #[test]
        fn merging_chunks_changes_nothing(
            events in proptest::collection::vec((0i64..2000, 0u8..4, -1e6f64..1e6, 0u16..300), 0..400),
            cuts in proptest::collection::vec(0usize..400, 0..6),
            limit in 1usize..50,
            reverse in any::<bool>(),
        ) {
            let specs: Vec<MetricSpec> = ["count", "count by k", "sum(v) by k", "distinct(d) by k", "distinct(d)"]
                .iter().map(|s| spec(s)).collect();
            let cfg = ExtractConfig { distinct_exact_limit: limit, ..config(60) };
            let push = |ex: &mut Extractor, evs: &[(i64, u8, f64, u16)]| {
                for &(t, k, v, d) in evs {
                    let b = ex.admit(t).unwrap();
                    let key = [k];
                    let d = d.to_string();
                    ex.observe(0, b, &[], Observation::Event);
                    ex.observe(1, b, &[&key], Observation::Event);
                    ex.observe(2, b, &[&key], Observation::Number(v));
                    ex.observe(3, b, &[&key], Observation::Value(d.as_bytes()));
                    ex.observe(4, b, &[], Observation::Value(d.as_bytes()));
                }
            };
            let mut whole = Extractor::new(specs.clone(), cfg.clone());
            push(&mut whole, &events);
            let whole = whole.finish();

            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(events.len())).collect();
            cuts.push(0);
            cuts.push(events.len());
            cuts.sort_unstable();
            let mut parts: Vec<Extractor> = cuts.windows(2).map(|w| {
                let mut ex = Extractor::new(specs.clone(), cfg.clone());
                push(&mut ex, &events[w[0]..w[1]]);
                ex
            }).collect();
            if reverse {
                parts.reverse();
            }
            let mut merged = parts.remove(0);
            for p in parts {
                merged.merge(p).unwrap();
            }
            let merged = merged.finish();
            prop_assert_eq!(whole.series.len(), merged.series.len());
            for (a, b) in whole.series.iter().zip(&merged.series) {
                prop_assert_eq!(&a.key, &b.key);
                let pa: Vec<(i64, u64)> = a.points.iter().map(|p| (p.0, p.1.to_bits())).collect();
                let pb: Vec<(i64, u64)> = b.points.iter().map(|p| (p.0, p.1.to_bits())).collect();
                prop_assert_eq!(pa, pb);
            }
        }

        /// The exact sum equals the correctly rounded sum of the same numbers in any order.
        #[test]
        fn exact_sums_ignore_order(xs in proptest::collection::vec(-1e300f64..1e300, 0..50)) {
            let mut a = ExactSum::default();
            let mut b = ExactSum::default();
            for &x in &xs { a.add(x); }
            for &x in xs.iter().rev() { b.add(x); }
            prop_assert_eq!(a.total().to_bits(), b.total().to_bits());
        }
    }
}
