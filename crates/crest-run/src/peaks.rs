//! The peaks pipeline: telemetry-peak-analyzer's rules over tumbling windows of a stream.
//!
//! Events are counted per *pair* of dimension values (verdict × file type…) and per sample
//! (file hash…) in UTC-aligned windows. A window `[s, s + window)` closes when the newest event
//! time seen, less the configured lateness, reaches its end; its pairs are then checked
//! against their baselines ([`crest_peaks::detect`]) and the window is folded into the
//! baseline ([`crest_peaks::GlobalTable::refresh`]). Closing windows one after another is what
//! the reference's daily cron job does with a kept `global_table.json`, and the findings carry
//! the same eight figures as its peaks file: the two agree to the last digit (tested through
//! the binaries).
//!
//! Events of a closed window are late: counted, not used. A window is never closed early, so
//! the last one of a finite input stays open in the checkpoint.

use std::collections::BTreeMap;

use crest_core::time::WallTime;
use crest_core::value::{RawKind, RawValue};
use crest_peaks::{Floors, GlobalTable, GstError, LocalTable, SampleCounts, Window};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::PeaksConfig;
use crate::event;
use crate::finding::{Finding, Severity};
use crate::series::{Counters, Point, Watermark, admit, key_text, rfc3339};

/// One pair's counts in an open window.
#[derive(Clone, Debug, Default)]
struct OpenPair {
    samples: SampleCounts,
    submissions: u64,
}

/// An open window's pairs by their values joined with U+001F (hashed: looked up per event;
/// sorted wherever they are listed).
type Pairs =
    std::collections::HashMap<String, (Vec<String>, OpenPair), foldhash::fast::RandomState>;

/// A window's pairs sorted by key.
fn sorted(pairs: &Pairs) -> Vec<&(Vec<String>, OpenPair)> {
    let mut list: Vec<_> = pairs.values().collect();
    list.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    list
}

/// An open pair as a checkpoint holds it: samples sorted, identities in hex.
#[derive(Serialize, Deserialize)]
struct SavedPair {
    key: Vec<String>,
    samples: Vec<(String, u64)>,
}

/// Everything a peaks pipeline remembers; serialise it to checkpoint.
#[derive(Clone, Debug, Default)]
pub struct PeaksState {
    /// The newest event time and what has closed.
    time: Watermark,
    /// Open windows by start (µs): pairs by their values joined with U+001F.
    open: BTreeMap<i64, Pairs>,
    /// Pairs counted in the open windows.
    pairs: usize,
    /// Each pair's baseline.
    global: GlobalTable,
    /// What happened to the events.
    pub counters: Counters,
}

#[derive(Serialize, Deserialize)]
struct SavedState {
    #[serde(flatten)]
    time: Watermark,
    open: BTreeMap<i64, Vec<SavedPair>>,
    /// The baseline, as the reference's `global_table.json` writes it.
    global_table: String,
    counters: Counters,
}

impl PeaksState {
    fn saved(&self) -> SavedState {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let hex = |id: &[u8]| {
            id.iter()
                .flat_map(|b| {
                    [DIGITS[(b >> 4) as usize] as char, DIGITS[(b & 15) as usize] as char]
                })
                .collect::<String>()
        };
        let open = self
            .open
            .iter()
            .map(|(&start, pairs)| {
                let pairs = sorted(pairs)
                    .into_iter()
                    .map(|(key, pair)| {
                        let mut samples: Vec<(String, u64)> =
                            pair.samples.iter().map(|(id, n)| (hex(id), n)).collect();
                        samples.sort_unstable();
                        SavedPair { key: key.clone(), samples }
                    })
                    .collect();
                (start, pairs)
            })
            .collect();
        SavedState {
            time: self.time.clone(),
            open,
            global_table: self.global.to_json(),
            counters: self.counters.clone(),
        }
    }

    fn from_saved(saved: SavedState, depth: usize) -> Result<PeaksState, String> {
        let global = GlobalTable::from_json(&saved.global_table, depth)
            .map_err(|e| format!("global_table: {e}"))?;
        let mut state = PeaksState {
            time: saved.time,
            global,
            counters: saved.counters,
            ..PeaksState::default()
        };
        for (start, pairs) in saved.open {
            let window = state.open.entry(start).or_default();
            for p in pairs {
                let mut pair = OpenPair::default();
                for (hex, n) in p.samples {
                    let id = unhex(&hex).ok_or_else(|| format!("sample '{hex}' is not hex"))?;
                    pair.samples.add(&id, n).map_err(|e| e.to_string())?;
                    pair.submissions += n;
                }
                window.insert(p.key.join("\u{1f}"), (p.key, pair));
                state.pairs += 1;
            }
        }
        Ok(state)
    }
}

impl Serialize for PeaksState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.saved().serialize(s)
    }
}

impl<'de> Deserialize<'de> for PeaksState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let saved = SavedState::deserialize(d)?;
        // The table's depth is the number of dimensions; every key of an open pair has it,
        // and a table's entries all share it.
        let depth = saved
            .open
            .values()
            .flatten()
            .map(|p| p.key.len())
            .next()
            .or_else(|| table_depth(&saved.global_table))
            .unwrap_or(2);
        PeaksState::from_saved(saved, depth).map_err(serde::de::Error::custom)
    }
}

/// How deeply a `global_table.json` nests before its entries (arrays).
fn table_depth(text: &str) -> Option<usize> {
    let mut at: Value = serde_json::from_str(text).ok()?;
    let mut depth = 0;
    loop {
        match at {
            Value::Object(map) => match map.into_iter().next() {
                Some((_, v)) => {
                    at = v;
                    depth += 1;
                }
                None => return None,
            },
            Value::Array(_) => return Some(depth),
            _ => return None,
        }
    }
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

/// A pair's baseline and open counts, for the API.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PairStatus {
    /// The pair's key text (`file.llfile_type=ZipArchiveFile,task.severity=malicious`).
    pub key: String,
    /// Submissions in the newest open window.
    pub submissions: u64,
    /// Distinct samples in the newest open window.
    pub samples: u64,
    /// Windows in the baseline (0: no baseline yet).
    pub baseline_windows: f64,
    /// The baseline's mean submissions per window.
    pub baseline_mean: Option<f64>,
    /// The baseline's most submissions in a window.
    pub baseline_max: Option<f64>,
    /// Submissions the pair needs to be a peak (the override, or the baseline's suggestion).
    pub threshold: Option<f64>,
}

/// A peaks pipeline: its config and its state.
#[derive(Clone, Debug)]
pub struct PeaksPipeline {
    name: String,
    config: PeaksConfig,
    dims: Vec<String>,
    sample_field: String,
    floors: Floors,
    window_us: i64,
    state: PeaksState,
    key_buf: String,
    id_buf: Vec<u8>,
    points: Option<Vec<Point>>,
}

impl PeaksPipeline {
    /// A new pipeline named `name` (config validated by [`crate::Config::parse`]), its baseline
    /// empty or read from a reference `global_table.json`'s text.
    pub fn new(
        name: &str,
        config: PeaksConfig,
        global_table: Option<&str>,
    ) -> Result<Self, GstError> {
        let mut state = PeaksState::default();
        if let Some(text) = global_table {
            state.global = GlobalTable::from_json(text, config.dimensions().len())?;
        }
        Ok(Self::restore(name, config, state))
    }

    /// A pipeline continuing from a checkpointed state.
    pub fn restore(name: &str, config: PeaksConfig, state: PeaksState) -> Self {
        PeaksPipeline {
            name: name.into(),
            dims: config.dimensions(),
            sample_field: config.sample_field(),
            floors: config.floors(),
            window_us: config.window.0.max(1) * 1_000_000,
            config,
            state,
            key_buf: String::new(),
            id_buf: Vec::new(),
            points: None,
        }
    }

    /// Keeps every checked pair's window from now on, for [`PeaksPipeline::take_points`]:
    /// the value is its submissions, the band runs from its baseline's mean to its threshold,
    /// the score is 1 for a peak and 0 otherwise.
    pub fn record_points(&mut self) {
        self.points.get_or_insert_with(Vec::new);
    }

    /// The windows recorded since the last call.
    pub fn take_points(&mut self) -> Vec<Point> {
        self.points.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// The state, to checkpoint.
    pub fn state(&self) -> &PeaksState {
        &self.state
    }

    /// The number of pairs with a baseline.
    pub fn pair_count(&self) -> usize {
        self.state.global.entries.len()
    }

    /// The newest event time seen (µs).
    pub fn newest(&self) -> Option<i64> {
        self.state.time.newest
    }

    /// The window's length in seconds.
    pub fn window_s(&self) -> i64 {
        self.window_us / 1_000_000
    }

    /// The baseline as the reference's `global_table.json` holds it.
    pub fn global_table_json(&self) -> String {
        self.state.global.to_json()
    }

    /// The newest open window's start (µs) and every pair with a baseline or counts in it,
    /// sorted by key.
    pub fn status(&self) -> (Option<i64>, Vec<PairStatus>) {
        let newest = self.state.open.iter().next_back();
        let mut out: BTreeMap<String, PairStatus> = BTreeMap::new();
        let fixed = self.config.threshold.filter(|&t| t != 0).map(|t| t as f64);
        for (key, g) in &self.state.global.entries {
            let text = self.key_text(key);
            out.insert(
                text.clone(),
                PairStatus {
                    key: text,
                    submissions: 0,
                    samples: 0,
                    baseline_windows: g.window_count.to_f64(),
                    baseline_mean: Some(g.sub_count_avg.to_f64()),
                    baseline_max: Some(g.sub_count_max.to_f64()),
                    threshold: Some(fixed.unwrap_or(g.threshold_suggested.to_f64())),
                },
            );
        }
        if let Some((_, pairs)) = newest {
            for (key, pair) in pairs.values() {
                let text = self.key_text(key);
                let status = out.entry(text.clone()).or_insert(PairStatus {
                    key: text,
                    submissions: 0,
                    samples: 0,
                    baseline_windows: 0.0,
                    baseline_mean: None,
                    baseline_max: None,
                    threshold: fixed,
                });
                status.submissions = pair.submissions;
                status.samples = pair.samples.samples();
            }
        }
        (newest.map(|(s, _)| *s), out.into_values().collect())
    }

    fn key_text(&self, values: &[String]) -> String {
        key_text(&self.dims, values)
    }

    /// Takes one event; findings of the windows it closes go to `out`.
    pub fn push(&mut self, e: &Value, out: &mut Vec<Finding>) {
        let c = &mut self.state.counters;
        let (filter, time_field) = (&self.config.filter, self.config.time_field());
        let Some(t) = admit(e, filter, time_field, &self.dims, &mut self.key_buf, c) else {
            return;
        };
        let Some(start) = self.state.time.slot(t, self.window_us) else {
            c.late += 1;
            return;
        };
        if event::field(e, &self.sample_field)
            .is_none_or(|v| sample_identity(v, &mut self.id_buf).is_none())
        {
            c.no_key += 1;
            return;
        }
        let window = self.state.open.entry(start).or_default();
        if !window.contains_key(self.key_buf.as_str()) {
            if self.state.pairs >= self.config.max_pairs {
                c.over_max_keys += 1;
                if window.is_empty() {
                    self.state.open.remove(&start);
                }
                return;
            }
            self.state.pairs += 1;
            let key = self.key_buf.split('\u{1f}').map(str::to_string).collect();
            window.insert(self.key_buf.clone(), (key, OpenPair::default()));
        }
        let Some((_, pair)) = window.get_mut(self.key_buf.as_str()) else { return };
        if pair.samples.add(&self.id_buf, 1).is_err() {
            // Over 4 GiB of distinct sample ids in one pair and window.
            c.over_max_keys += 1;
            return;
        }
        pair.submissions += 1;
        c.used += 1;
        if let Some(closed) = self.state.time.advance(t, self.config.lateness, self.window_us) {
            while let Some(entry) = self.state.open.first_entry() {
                if *entry.key() >= closed {
                    break;
                }
                let (start, pairs) = entry.remove_entry();
                self.state.pairs -= pairs.len();
                self.close(start, pairs, out);
            }
        }
    }

    /// Checks a window's pairs against their baselines, then folds it into them.
    fn close(&mut self, start: i64, pairs: Pairs, out: &mut Vec<Finding>) {
        let window = Window {
            start: WallTime::from_micros(start),
            end: WallTime::from_micros(start + self.window_us),
        };
        // Sorted by pair: the order findings come out in.
        let mut counts: Vec<(Vec<String>, SampleCounts)> =
            pairs.into_values().map(|(key, pair)| (key, pair.samples)).collect();
        counts.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let top: Vec<Vec<(String, u64)>> =
            counts.iter().map(|(_, s)| s.top(self.config.evidence)).collect();
        let local = LocalTable::from_counts(counts);
        let peaks = crest_peaks::detect(&local, &self.state.global, self.config.threshold);
        let c = &mut self.state.counters;
        c.scored += local.entries.len() as u64;
        if let Some(points) = &mut self.points {
            let fixed = self.config.threshold.filter(|&t| t != 0).map(|t| t as f64);
            for entry in &local.entries {
                let g = self.state.global.entries.get(&entry.key);
                let peak = peaks.iter().any(|p| p.key == entry.key);
                points.push(Point {
                    key: key_text(&self.dims, &entry.key),
                    time_us: start,
                    value: entry.stats.sub_count as f64,
                    score: if peak { 1.0 } else { 0.0 },
                    lower: g.map(|g| g.sub_count_avg.to_f64()),
                    upper: g.map(|g| fixed.unwrap_or(g.threshold_suggested.to_f64())),
                });
            }
        }
        for peak in &peaks {
            c.findings += 1;
            let key: BTreeMap<String, String> =
                self.dims.iter().cloned().zip(peak.key.iter().cloned()).collect();
            let mut stats: BTreeMap<String, f64> =
                peak.values().iter().map(|(name, v)| (name.to_string(), v.to_f64())).collect();
            let b = &peak.baseline;
            stats.insert("baseline_windows".into(), b.window_count.to_f64());
            stats.insert("baseline_sub_count_avg".into(), b.sub_count_avg.to_f64());
            stats.insert("baseline_sub_count_max".into(), b.sub_count_max.to_f64());
            stats.insert("rule_rate".into(), f64::from(u8::from(peak.rules.rate_above_history)));
            stats.insert("rule_dominant".into(), f64::from(u8::from(peak.rules.dominant_sample)));
            stats.insert("rule_outlier".into(), f64::from(u8::from(peak.rules.outlier_sample)));
            let mean = b.sub_count_avg.to_f64();
            let score = 1.0 - poisson_at_least(peak.stats.sub_count.max(0) as u64, mean);
            let at = local.entries.iter().position(|e| e.key == peak.key).unwrap_or(0);
            let evidence = top[at]
                .iter()
                .map(|(sample, n)| {
                    serde_json::json!({ self.sample_field.as_str(): sample, "submissions": n })
                })
                .collect();
            out.push(Finding {
                id: Finding::id_of(&self.name, &key, start),
                pipeline: self.name.clone(),
                detector: "peaks".into(),
                key,
                time: rfc3339(start),
                time_us: start,
                score,
                severity: if score >= self.config.high {
                    Severity::High
                } else if score >= MEDIUM {
                    Severity::Medium
                } else {
                    Severity::Low
                },
                stats,
                evidence,
            });
        }
        if self.state.global.refresh(&local, window, &self.floors).is_err() {
            c.overflows += 1;
        }
    }
}

/// Least score of a `medium` peak (below: `low`), as a series finding needs by default.
pub const MEDIUM: f64 = 0.9;

/// `P(X ≥ k)` for `X` Poisson with mean `mean`: how likely a window with at least `k`
/// submissions is for a pair that averages `mean`. Summed from `k` away from the mode, where
/// the terms shrink geometrically, in log space so that large counts neither overflow nor
/// lose the tail.
pub fn poisson_at_least(k: u64, mean: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if mean <= 0.0 || !mean.is_finite() {
        return 0.0;
    }
    let term = |j: u64| (j as f64 * mean.ln() - mean - ln_factorial(j)).exp();
    if k as f64 > mean {
        let (mut sum, mut t, mut j) = (0.0, term(k), k);
        while t > 0.0 && t >= sum * 1e-17 {
            sum += t;
            j += 1;
            t *= mean / j as f64;
        }
        sum.min(1.0)
    } else {
        // 1 − P(X ≤ k − 1), summed down from k − 1.
        let (mut sum, mut j) = (0.0, k - 1);
        let mut t = term(j);
        while t > 0.0 && t >= sum * 1e-17 {
            sum += t;
            if j == 0 {
                break;
            }
            t *= j as f64 / mean;
            j -= 1;
        }
        (1.0 - sum).clamp(0.0, 1.0)
    }
}

/// `ln(n!)`: summed up to 256, Stirling's series beyond (relative error below 1e-15).
fn ln_factorial(n: u64) -> f64 {
    if n <= 256 {
        return (2..=n).map(|i| (i as f64).ln()).sum();
    }
    let x = n as f64;
    x * x.ln() - x + 0.5 * (std::f64::consts::TAU * x).ln() + 1.0 / (12.0 * x)
        - 1.0 / (360.0 * x * x * x)
}

/// The identity of a sample value, as `crest peaks` computes it from the raw JSON: text and
/// numbers differ (`"1"` is not `1`), `1.0` is `1`. `None` for objects and arrays.
fn sample_identity(value: &Value, out: &mut Vec<u8>) -> Option<()> {
    let number;
    let raw = match value {
        Value::String(s) => RawValue::new(RawKind::Str { escaped: false }, s.as_bytes()),
        Value::Number(n) => {
            number = n.to_string();
            RawValue::new(RawKind::Number { integer: !n.is_f64() }, number.as_bytes())
        }
        Value::Bool(true) => RawValue::new(RawKind::True, b"true"),
        Value::Bool(false) => RawValue::new(RawKind::False, b"false"),
        Value::Null => RawValue::new(RawKind::Null, b"null"),
        Value::Object(_) | Value::Array(_) => return None,
    };
    raw.write_identity(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;
    use serde_json::json;

    fn pipeline(extra: &str) -> PeaksPipeline {
        let text = format!(
            "[sources.s]\ntype = \"stdin\"\n[pipelines.p]\ndetector = \"peaks\"\n\
             sources = [\"s\"]\n{extra}"
        );
        let config = Config::parse(&text, "t").unwrap();
        let crate::config::PipelineConfig::Peaks(c) = config.pipelines["p"].clone() else {
            panic!("a peaks pipeline")
        };
        PeaksPipeline::new("p", c, None).unwrap()
    }

    const DAY_MS: i64 = 86_400_000;
    /// 2020-11-01T00:00:00Z in epoch milliseconds.
    const BASE_MS: i64 = 1_604_188_800_000;

    /// `n` submissions on day `d` of `kind` files, `samples` distinct hashes.
    fn feed(
        p: &mut PeaksPipeline,
        d: i64,
        kind: &str,
        n: usize,
        samples: usize,
        out: &mut Vec<Finding>,
    ) {
        for i in 0..n {
            p.push(
                &json!({
                    "utc_timestamp": BASE_MS + d * DAY_MS + (i as i64 * 1000) % DAY_MS,
                    "task.severity": "malicious",
                    "file.llfile_type": kind,
                    "file.sha1": format!("{:040x}", i % samples),
                }),
                out,
            );
        }
    }

    #[test]
    fn a_wave_against_its_baseline_is_a_peak() {
        let mut p = pipeline("");
        let mut out = Vec::new();
        for d in 0..5 {
            // Day 0 infers the baselines (threshold 120 for zip files, the floor of 90 for
            // executables); days 1..4 stay below them.
            feed(&mut p, d, "ZipArchiveFile", if d == 0 { 120 } else { 100 }, 90, &mut out);
            feed(&mut p, d, "PeExeFile", 20, 20, &mut out);
        }
        assert!(out.is_empty(), "{out:#?}");
        feed(&mut p, 5, "ZipArchiveFile", 900, 100, &mut out);
        feed(&mut p, 5, "PeExeFile", 20, 20, &mut out);
        assert!(out.is_empty(), "day 5 is still open");
        feed(&mut p, 6, "PeExeFile", 1, 1, &mut out);
        assert_eq!(out.len(), 1, "{out:#?}");
        let f = &out[0];
        assert_eq!(f.detector, "peaks");
        assert_eq!(f.key["file.llfile_type"], "ZipArchiveFile");
        assert_eq!(f.time, "2020-11-06T00:00:00Z");
        assert_eq!(f.stats["sub_count"], 900.0);
        assert_eq!(f.stats["samp_count"], 100.0);
        assert_eq!(f.stats["global_threshold_suggested"], 120.0);
        assert_eq!(f.stats["baseline_sub_count_avg"], 104.0);
        assert_eq!(f.stats["baseline_windows"], 5.0);
        assert_eq!(f.evidence.len(), 3);
        assert_eq!(f.evidence[0]["submissions"], 9);
        assert_eq!(f.score, 1.0, "900 submissions where 104 are usual");
        assert_eq!(f.severity, Severity::High);
        let c = &p.state().counters;
        assert_eq!((c.scored, c.findings), (12, 1));
    }

    #[test]
    fn a_restored_state_continues_exactly() {
        let run = |cut: Option<usize>| {
            let mut p = pipeline("lateness = \"1min\"\n");
            let mut out = Vec::new();
            let mut step = 0;
            for d in 0..8 {
                for (kind, n, s) in
                    [("ZipArchiveFile", 60 + 200 * (d / 6), 30), ("PdfDocFile", 10, 2)]
                {
                    if Some(step) == cut {
                        let text = serde_json::to_string(p.state()).unwrap();
                        let state: PeaksState = serde_json::from_str(&text).unwrap();
                        p = PeaksPipeline::restore("p", p.config.clone(), state);
                    }
                    step += 1;
                    feed(&mut p, d, kind, n as usize, s, &mut out);
                }
            }
            (out, serde_json::to_string(p.state()).unwrap())
        };
        let whole = run(None);
        assert!(!whole.0.is_empty());
        for cut in [1, 2, 7, 12, 15] {
            assert_eq!(run(Some(cut)), whole, "cut before feed {cut}");
        }
    }

    #[test]
    fn late_and_unusable_events_are_counted() {
        let mut p = pipeline("max_pairs = 1\n");
        let mut out = Vec::new();
        feed(&mut p, 3, "A", 1, 1, &mut out);
        feed(&mut p, 3, "B", 1, 1, &mut out); // a second pair: over max_pairs
        feed(&mut p, 1, "A", 1, 1, &mut out); // day 1 closed: late
        p.push(&json!({"utc_timestamp": BASE_MS + 3 * DAY_MS, "task.severity": "x"}), &mut out);
        p.push(&json!({"utc_timestamp": "soon"}), &mut out);
        let c = &p.state().counters;
        assert_eq!(
            (c.events, c.used, c.over_max_keys, c.late, c.no_key, c.no_time),
            (5, 1, 1, 1, 1, 1)
        );
    }

    #[test]
    fn poisson_tails() {
        // Checked against a direct sum in Python (1 − Σ_{j<k} e^(j ln λ − λ − lgamma(j+1))).
        for (k, mean, want) in [
            (4, 3.0, 0.35276811121776874),
            (19, 8.0, 0.0006503681480940493),
            (2, 5.0, 0.9595723180054871),
            (1200, 1000.0, 4.686717680613128e-10),
            (950, 1000.0, 0.945793326110996),
        ] {
            let got = poisson_at_least(k, mean);
            assert!((got - want).abs() <= 1e-9 * want.max(1e-3), "P(X ≥ {k} | {mean}) = {got}");
        }
        assert_eq!(poisson_at_least(0, 0.0), 1.0);
        assert_eq!(poisson_at_least(5, 0.0), 0.0);
        assert_eq!(poisson_at_least(1_000_000, 19.0), 0.0);
    }

    proptest::proptest! {
        #[test]
        fn poisson_tails_fall_as_k_grows(k in 0u64..5_000, mean in 0.0f64..3_000.0) {
            let (a, b) = (poisson_at_least(k, mean), poisson_at_least(k + 1, mean));
            proptest::prop_assert!((0.0..=1.0).contains(&a) && b <= a + 1e-12, "{a} {b}");
        }
    }

    #[test]
    fn sample_identities_follow_crest_peaks() {
        let id = |v: Value| {
            let mut out = Vec::new();
            sample_identity(&v, &mut out).map(|_| out)
        };
        assert_ne!(id(json!("1")), id(json!(1)));
        assert_eq!(id(json!(1.0)), id(json!(1)));
        assert_eq!(id(json!([1])), None);
        let sha = "327c011be435c2fa9d8a7b9f1c3e5a7d9b1c3e5f";
        let mut counts = SampleCounts::default();
        counts.add(&id(json!(sha)).unwrap(), 2).unwrap();
        assert_eq!(counts.top(1), [(sha.to_string(), 2)]);
    }

    #[test]
    fn a_reference_global_table_seeds_the_baseline() {
        let table = r#"{"malicious": {"ZipArchiveFile": ["2020-11-01 00:00:00", "2020-11-04 00:00:00", 3, 20, 30, 18, 25, 1, 2, 90]}}"#;
        let text = "[sources.s]\ntype = \"stdin\"\n[pipelines.p]\ndetector = \"peaks\"\nsources = [\"s\"]\n";
        let crate::config::PipelineConfig::Peaks(c) =
            Config::parse(text, "t").unwrap().pipelines["p"].clone()
        else {
            panic!()
        };
        let p = PeaksPipeline::new("p", c.clone(), Some(table)).unwrap();
        let (_, pairs) = p.status();
        assert_eq!(pairs.len(), 1);
        assert_eq!(pairs[0].threshold, Some(90.0));
        assert_eq!(pairs[0].baseline_windows, 3.0);
        assert!(PeaksPipeline::new("p", c, Some("{\"a\": 1}")).is_err());
    }
}
