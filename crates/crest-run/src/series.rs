//! The series pipeline: events counted (or summed) per key per time step, each key's series
//! scored by one of crest's streaming detectors as its steps close.
//!
//! A step `[s, s + step)` closes when the newest event time seen, less the configured
//! lateness, reaches `s + step`; every known key then gets the step's value (0 when it had no
//! events: a count that stops is news too), in key order, and a score. Events of a closed step
//! are late: counted, not used. An open step is never scored early, so the last, incomplete
//! step of a finite input stays open in the checkpoint and is completed by a later run.
//!
//! The state ([`SeriesState`]) serialises whole: a checkpoint restored with the same config
//! continues exactly where it stopped.

use std::collections::BTreeMap;

use crest_series::detect::{AnyDetector, Detector};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{Duration, Match, SeriesConfig};
use crate::event;
use crate::finding::{Finding, Severity};

/// Steps one key may catch up at once; beyond, its detector starts over (a gap that long
/// leaves nothing of the series' history worth comparing with).
pub const MAX_CATCH_UP: i64 = 100_000;

/// Counts of what a pipeline did with the events it was given.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Events given to the pipeline.
    pub events: u64,
    /// Events the filter let through and that were counted.
    pub used: u64,
    /// Events the filter left out.
    pub filtered: u64,
    /// Events without a readable time.
    pub no_time: u64,
    /// Events without a key field (or with a null, object or array there).
    pub no_key: u64,
    /// Events without a numeric value field.
    pub no_value: u64,
    /// Events of a step that had closed already.
    pub late: u64,
    /// Events of new keys beyond `max_keys`.
    pub over_max_keys: u64,
    /// Series whose detector started over after a gap over [`MAX_CATCH_UP`] steps.
    pub restarts: u64,
    /// Steps scored.
    pub scored: u64,
    /// Findings reported.
    pub findings: u64,
    /// Windows whose baseline update overflowed (peaks: figures beyond 64 bits), left out.
    #[serde(default)]
    pub overflows: u64,
}

/// One key's series.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct KeySeries {
    /// The key's values, in the config's key order.
    key: Vec<String>,
    /// The next step to score (µs).
    next: i64,
    /// Steps with events, not scored yet: value and sample events (JSON text).
    open: BTreeMap<i64, Step>,
    detector: AnyDetector,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Step {
    value: f64,
    /// Sample events with what each added: the first ones of a count, the largest of a sum.
    evidence: Vec<(f64, String)>,
}

/// Everything a series pipeline remembers; serialise it to checkpoint.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SeriesState {
    /// The newest event time and what has closed.
    #[serde(flatten)]
    time: Watermark,
    /// The series, by their key values joined with U+001F.
    series: BTreeMap<String, KeySeries>,
    /// What happened to the events.
    pub counters: Counters,
}

/// Event time as a pipeline tracks it: the newest seen, and before when its slots (steps,
/// windows) are closed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Watermark {
    /// Slots starting before this are closed (µs); `None` before the first event.
    pub(crate) closed_until: Option<i64>,
    /// The newest event time seen (µs).
    pub(crate) newest: Option<i64>,
}

impl Watermark {
    /// The start of the `step_us`-wide slot holding `t`, or `None` when it has closed.
    pub(crate) fn slot(&self, t: i64, step_us: i64) -> Option<i64> {
        let slot = t.div_euclid(step_us) * step_us;
        self.closed_until.is_none_or(|closed| slot >= closed).then_some(slot)
    }

    /// Takes `t` as seen: when the newest time less `lateness` now closes more slots, the
    /// start of the first slot still open (every slot before it is to be closed).
    pub(crate) fn advance(&mut self, t: i64, lateness: Duration, step_us: i64) -> Option<i64> {
        let newest = self.newest.map_or(t, |n| n.max(t));
        self.newest = Some(newest);
        let watermark = newest.saturating_sub(lateness.0.saturating_mul(1_000_000));
        let closed = watermark.div_euclid(step_us) * step_us;
        if self.closed_until.is_some_and(|c| closed <= c) {
            return None;
        }
        self.closed_until = Some(closed);
        Some(closed)
    }
}

/// The checks every pipeline makes of an event, counted in `c`: it passes `filter`, has a
/// time in `time_field`, and a value in each `key` field; the values are joined with U+001F
/// into `key_buf`. The event's time (µs) when it passes.
pub(crate) fn admit(
    e: &Value,
    filter: &BTreeMap<String, Match>,
    time_field: &str,
    key: &[String],
    key_buf: &mut String,
    c: &mut Counters,
) -> Option<i64> {
    c.events += 1;
    if !event::matches(e, filter) {
        c.filtered += 1;
        return None;
    }
    let Some(t) = event::field(e, time_field).and_then(event::instant) else {
        c.no_time += 1;
        return None;
    };
    key_buf.clear();
    for (i, name) in key.iter().enumerate() {
        if i > 0 {
            key_buf.push('\u{1f}');
        }
        if !event::field(e, name).is_some_and(|v| event::push_key_text(v, key_buf)) {
            c.no_key += 1;
            return None;
        }
    }
    Some(t)
}

/// One scored step of one series, for charts: the value, the detector's band and the score.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Point {
    /// The series' key text (`user=u038`; `-` for a pipeline's one series).
    pub key: String,
    /// The step's start (µs since the epoch).
    pub time_us: i64,
    /// The step's count or sum.
    pub value: f64,
    /// The score.
    pub score: f64,
    /// The band's lower edge, when the detector has one (its `lower`, or median − 3σ from the
    /// MAD, or mean − 3σ).
    pub lower: Option<f64>,
    /// The band's upper edge.
    pub upper: Option<f64>,
}

/// A series pipeline: its config and its state.
#[derive(Clone, Debug)]
pub struct SeriesPipeline {
    name: String,
    config: SeriesConfig,
    step_us: i64,
    state: SeriesState,
    key_buf: String,
    /// Scored steps since the last [`SeriesPipeline::take_points`], when recording.
    points: Option<Vec<Point>>,
}

impl SeriesPipeline {
    /// A new pipeline named `name` (config validated by [`crate::Config::parse`]).
    pub fn new(name: &str, config: SeriesConfig) -> Self {
        Self::restore(name, config, SeriesState::default())
    }

    /// A pipeline continuing from a checkpointed state.
    pub fn restore(name: &str, config: SeriesConfig, state: SeriesState) -> Self {
        let step_us = config.step.0.max(1) * 1_000_000;
        SeriesPipeline {
            name: name.into(),
            config,
            step_us,
            state,
            key_buf: String::new(),
            points: None,
        }
    }

    /// Keeps every scored step from now on, for [`SeriesPipeline::take_points`].
    pub fn record_points(&mut self) {
        self.points.get_or_insert_with(Vec::new);
    }

    /// The scored steps recorded since the last call.
    pub fn take_points(&mut self) -> Vec<Point> {
        self.points.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// The state, to checkpoint.
    pub fn state(&self) -> &SeriesState {
        &self.state
    }

    /// The number of series.
    pub fn series_count(&self) -> usize {
        self.state.series.len()
    }

    /// The newest event time seen (µs).
    pub fn newest(&self) -> Option<i64> {
        self.state.time.newest
    }

    /// Takes one event; findings of the steps it closes go to `out`.
    pub fn push(&mut self, e: &Value, out: &mut Vec<Finding>) {
        let c = &mut self.state.counters;
        let cfg = &self.config;
        let Some(t) = admit(e, &cfg.filter, &cfg.time_field, &cfg.key, &mut self.key_buf, c) else {
            return;
        };
        let Some(slot) = self.state.time.slot(t, self.step_us) else {
            c.late += 1;
            return;
        };
        let value = match &self.config.value_field {
            None => 1.0,
            Some(name) => match event::field(e, name).and_then(event::number) {
                Some(v) if v.is_finite() => v,
                _ => {
                    c.no_value += 1;
                    return;
                }
            },
        };
        let series = match self.state.series.get_mut(self.key_buf.as_str()) {
            Some(s) => s,
            None => {
                if self.state.series.len() >= self.config.max_keys {
                    c.over_max_keys += 1;
                    return;
                }
                let key = if self.config.key.is_empty() {
                    Vec::new()
                } else {
                    self.key_buf.split('\u{1f}').map(str::to_string).collect()
                };
                let fresh = KeySeries {
                    key,
                    next: slot,
                    open: BTreeMap::new(),
                    detector: detector_of(&self.config),
                };
                self.state.series.entry(self.key_buf.clone()).or_insert(fresh)
            }
        };
        c.used += 1;
        let step = series.open.entry(slot).or_insert(Step { value: 0.0, evidence: Vec::new() });
        step.value += value;
        if step.evidence.len() < self.config.evidence {
            step.evidence.push((value, e.to_string()));
        } else if let Some(smallest) =
            step.evidence.iter_mut().min_by(|a, b| a.0.total_cmp(&b.0)).filter(|(v, _)| value > *v)
        {
            // A sum's evidence is what made it large.
            *smallest = (value, e.to_string());
        }
        if let Some(closed) = self.state.time.advance(t, self.config.lateness, self.step_us) {
            self.close(closed, out);
        }
    }

    /// Scores every key's steps before `until`.
    fn close(&mut self, until: i64, out: &mut Vec<Finding>) {
        let step_us = self.step_us;
        let c = &mut self.state.counters;
        for series in self.state.series.values_mut() {
            if (until - series.next) / step_us > MAX_CATCH_UP {
                c.restarts += 1;
                series.detector = detector_of(&self.config);
                let first = series.open.keys().next().copied().unwrap_or(until);
                series.next = first.max(until - MAX_CATCH_UP * step_us);
                series.open.retain(|&s, _| s >= series.next);
            }
            while series.next < until {
                let at = series.next;
                series.next += step_us;
                let step = series.open.remove(&at);
                let value = step.as_ref().map_or(0.0, |s| s.value);
                let scored = series.detector.push(at.div_euclid(1_000_000), Some(value));
                c.scored += 1;
                if let Some(points) = &mut self.points {
                    let (lower, upper) = band(series.detector.columns(), &scored.figures);
                    points.push(Point {
                        key: key_text(&self.config.key, &series.key),
                        time_us: at,
                        value,
                        score: scored.score,
                        lower,
                        upper,
                    });
                }
                if scored.score < self.config.threshold {
                    continue;
                }
                c.findings += 1;
                let key: BTreeMap<String, String> =
                    self.config.key.iter().cloned().zip(series.key.iter().cloned()).collect();
                let mut stats = BTreeMap::new();
                stats.insert("value".to_string(), value);
                for (name, figure) in series.detector.columns().iter().zip(scored.figures) {
                    if let Some(f) = figure {
                        stats.insert((*name).to_string(), f);
                    }
                }
                let evidence = step
                    .map(|mut s| {
                        // Largest contribution first; a count's samples keep their order.
                        s.evidence.sort_by(|a, b| b.0.total_cmp(&a.0));
                        s.evidence
                            .iter()
                            .filter_map(|(_, e)| serde_json::from_str(e).ok())
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(Finding {
                    id: Finding::id_of(&self.name, &key, at),
                    pipeline: self.name.clone(),
                    detector: format!("series/{}", series.detector.method().name()),
                    key,
                    time: rfc3339(at),
                    time_us: at,
                    score: scored.score,
                    severity: if scored.score >= self.config.high {
                        Severity::High
                    } else {
                        Severity::Medium
                    },
                    stats,
                    evidence,
                });
            }
        }
    }
}

/// A point's key, as [`Finding::key_text`] writes a finding's.
pub(crate) fn key_text(names: &[String], values: &[String]) -> String {
    let mut pairs: Vec<(&String, &String)> = names.iter().zip(values).collect();
    pairs.sort();
    crate::finding::join_key(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// A detector's band from its figures: `lower`/`upper` when it has them, else three robust σ
/// around the median (`median`, `mad`), else three σ around the mean (`mean`, `stdev`).
fn band(columns: &[&str], figures: &[Option<f64>]) -> (Option<f64>, Option<f64>) {
    let get = |name: &str| columns.iter().position(|c| *c == name).and_then(|i| figures[i]);
    if let (Some(l), Some(u)) = (get("lower"), get("upper")) {
        return (Some(l), Some(u));
    }
    let around = |centre: Option<f64>, sigma: Option<f64>| match (centre, sigma) {
        (Some(c), Some(s)) => (Some(c - 3.0 * s), Some(c + 3.0 * s)),
        _ => (None, None),
    };
    if get("median").is_some() {
        return around(get("median"), get("mad").map(|m| m * 1.482_602_218_505_602));
    }
    around(get("mean"), get("stdev"))
}

/// The detector of a new series. The config was validated: its method and parameters build;
/// should they not, the default detector stands in.
fn detector_of(config: &SeriesConfig) -> AnyDetector {
    let method = config.method().unwrap_or_default();
    AnyDetector::new(method, &config.params(), config.step.0.max(1))
        .or_else(|_| AnyDetector::new(Default::default(), &Default::default(), 86_400))
        .expect("the default detector builds for a one-day step")
}

/// Microseconds since the epoch as RFC 3339 UTC (`2026-11-25T03:00:00Z`).
pub fn rfc3339(us: i64) -> String {
    jiff::Timestamp::from_microsecond(us).map_or_else(|_| us.to_string(), |t| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;
    use serde_json::json;

    fn pipeline(extra: &str) -> SeriesPipeline {
        let text = format!(
            "[sources.s]\ntype = \"stdin\"\n[pipelines.p]\ndetector = \"series\"\nsources = [\"s\"]\n\
             step = \"1min\"\nmethod = \"mad\"\nwindow = 10\nthreshold = 0.8\n{extra}"
        );
        let config = Config::parse(&text, "t").unwrap();
        let crate::config::PipelineConfig::Series(c) = config.pipelines["p"].clone() else {
            panic!("a series pipeline")
        };
        SeriesPipeline::new("p", c)
    }

    /// Minute `m`'s `n` events for `user`.
    fn feed(p: &mut SeriesPipeline, user: &str, m: i64, n: usize, out: &mut Vec<Finding>) {
        for i in 0..n {
            p.push(&json!({"time": m * 60 + (i as i64 % 60), "user": user}), out);
        }
    }

    #[test]
    fn a_burst_is_found_with_its_evidence() {
        let mut p = pipeline("key = [\"user\"]\n");
        let mut out = Vec::new();
        for m in 0..40 {
            let n = if m == 30 { 50 } else { 3 + (m % 2) as usize };
            feed(&mut p, "alice", m, n, &mut out);
            feed(&mut p, "bob", m, 2, &mut out);
        }
        assert_eq!(out.len(), 1, "{out:#?}");
        let f = &out[0];
        assert_eq!(f.key.get("user").map(String::as_str), Some("alice"));
        assert_eq!(f.time, "1970-01-01T00:30:00Z");
        assert_eq!(f.stats["value"], 50.0);
        assert_eq!(f.evidence.len(), 3);
        assert_eq!(f.detector, "series/mad");
        assert!(f.score >= 0.8);
        // Minute 39 is still open: nothing scored it.
        assert_eq!(p.state().counters.scored, 2 * 39);
    }

    #[test]
    fn silence_counts_as_zero_and_late_events_are_counted() {
        let mut p = pipeline("");
        let mut out = Vec::new();
        for m in 0..30 {
            feed(&mut p, "x", m, 20, &mut out);
        }
        feed(&mut p, "x", 35, 20, &mut out); // minutes 30..34 had nothing
        assert!(!out.is_empty());
        for f in &out {
            assert_eq!(f.stats["value"], 0.0);
            assert!((30 * 60_000_000..35 * 60_000_000).contains(&f.time_us), "{f:?}");
        }
        feed(&mut p, "x", 3, 1, &mut out);
        assert_eq!(p.state().counters.late, 1);
    }

    #[test]
    fn a_restored_state_continues_exactly() {
        let run = |cut: Option<i64>| {
            let mut p = pipeline("key = [\"user\"]\n");
            let mut out = Vec::new();
            for m in 0..60 {
                if Some(m) == cut {
                    let text = serde_json::to_string(p.state()).unwrap();
                    let state: SeriesState = serde_json::from_str(&text).unwrap();
                    p = SeriesPipeline::restore("p", p.config.clone(), state);
                }
                let n = if m % 17 == 16 { 40 } else { 5 + (m % 3) as usize };
                feed(&mut p, "u1", m, n, &mut out);
                feed(&mut p, "u2", m, 3, &mut out);
            }
            (out, serde_json::to_string(p.state()).unwrap())
        };
        let whole = run(None);
        assert!(!whole.0.is_empty());
        for cut in [1, 17, 33, 59] {
            assert_eq!(run(Some(cut)), whole, "cut at minute {cut}");
        }
    }

    #[test]
    fn keys_beyond_the_limit_and_bad_events_are_counted() {
        let mut p = pipeline("key = [\"user\"]\nmax_keys = 1\nfilter = { kind = \"login\" }\n");
        let mut out = Vec::new();
        p.push(&json!({"time": 1, "user": "a", "kind": "login"}), &mut out);
        p.push(&json!({"time": 1, "user": "b", "kind": "login"}), &mut out);
        p.push(&json!({"time": 1, "user": "a", "kind": "logout"}), &mut out);
        p.push(&json!({"time": "yesterday", "user": "a", "kind": "login"}), &mut out);
        p.push(&json!({"time": 1, "user": null, "kind": "login"}), &mut out);
        let c = &p.state().counters;
        assert_eq!(
            (c.events, c.used, c.over_max_keys, c.filtered, c.no_time, c.no_key),
            (5, 1, 1, 1, 1, 1)
        );
    }

    #[test]
    fn recorded_points_carry_the_band() {
        let mut p = pipeline("key = [\"user\"]\n");
        p.record_points();
        let mut out = Vec::new();
        for m in 0..20 {
            feed(&mut p, "alice", m, 3 + (m % 2) as usize, &mut out);
        }
        let points = p.take_points();
        assert_eq!(points.len(), 19);
        assert!(points.iter().all(|pt| pt.key == "user=alice"));
        let last = points.last().unwrap();
        assert_eq!(last.time_us, 18 * 60_000_000);
        let (lo, hi) = (last.lower.unwrap(), last.upper.unwrap());
        assert!(lo < 3.0 && hi > 4.0, "{lo} {hi}");
        assert!(p.take_points().is_empty());
    }

    #[test]
    fn a_long_gap_restarts_the_series() {
        let mut p = pipeline("");
        let mut out = Vec::new();
        feed(&mut p, "x", 0, 1, &mut out);
        feed(&mut p, "x", 1, 1, &mut out);
        feed(&mut p, "x", 10 * MAX_CATCH_UP, 1, &mut out);
        let c = &p.state().counters;
        assert_eq!(c.restarts, 1);
        assert!(c.scored <= MAX_CATCH_UP as u64 + 1);
    }
}
