//! The global statistics table (GST): each pair's long-run baseline, kept between runs.
//!
//! The table is what `global_table.json` holds, and its rules are the reference's, warts
//! included (they are listed in the README): a baseline built from the input covers whole
//! calendar days and the full cross product of the values seen; a refresh is an expanding mean
//! rounded to an integer at each step; maxima and thresholds only grow.

use std::collections::BTreeMap;

use crest_core::num::{Overflow, PyNum};
use crest_core::pyjson::PyJson;
use crest_core::time::WallTime;

use crate::accumulate::{DayTable, PairKey, Window};
use crate::config::{DEFAULT_GLOBAL_TABLE_AGE_DAYS, Floors};
use crate::local::{LocalStats, LocalTable};

/// One pair's baseline: the ten values of a `global_table.json` entry, in file order.
#[derive(Clone, Debug)]
pub struct GstEntry {
    /// Start of the first window the baseline covers.
    pub start_ts: WallTime,
    /// End of the last window the baseline covers.
    pub end_ts: WallTime,
    /// Number of windows averaged.
    pub window_count: PyNum,
    /// Mean submissions per window (rounded).
    pub sub_count_avg: PyNum,
    /// Most submissions in one window.
    pub sub_count_max: PyNum,
    /// Mean distinct samples per window (rounded).
    pub samp_count_avg: PyNum,
    /// Most distinct samples in one window.
    pub samp_count_max: PyNum,
    /// Mean submissions per sample (rounded).
    pub samp_sub_count_avg: PyNum,
    /// Highest submissions per sample of a window (the `gmax` of peak rule a).
    pub samp_sub_count_max: PyNum,
    /// Submissions a window needs to be a peak.
    pub threshold_suggested: PyNum,
}

impl GstEntry {
    fn to_pyjson(&self) -> PyJson {
        PyJson::Array(vec![
            PyJson::Str(self.start_ts.to_string()),
            PyJson::Str(self.end_ts.to_string()),
            self.window_count.into(),
            self.sub_count_avg.into(),
            self.sub_count_max.into(),
            self.samp_count_avg.into(),
            self.samp_count_max.into(),
            self.samp_sub_count_avg.into(),
            self.samp_sub_count_max.into(),
            self.threshold_suggested.into(),
        ])
    }

    /// A new entry from one window alone (the reference's `infer`).
    fn infer(stats: &LocalStats, window: Window, floor: i64) -> Result<GstEntry, Overflow> {
        let rate = PyNum::Float(crest_core::num::int_true_div(stats.sub_count, stats.samp_count))
            .round_half_even()?;
        Ok(GstEntry {
            start_ts: window.start,
            end_ts: window.end,
            window_count: PyNum::Int(1),
            sub_count_avg: PyNum::Int(stats.sub_count),
            sub_count_max: PyNum::Int(stats.sub_count),
            samp_count_avg: PyNum::Int(stats.samp_count),
            samp_count_max: PyNum::Int(stats.samp_count),
            samp_sub_count_avg: PyNum::Int(rate),
            samp_sub_count_max: PyNum::Int(rate),
            threshold_suggested: PyNum::max_keep_first(
                PyNum::Int(stats.sub_count),
                PyNum::Int(floor),
            ),
        })
    }

    /// Folds one more window into the entry (the reference's `update`): an expanding mean
    /// rounded half to even at every step; maxima and threshold never go down, and a tie keeps
    /// the stored value and its type.
    fn update(&mut self, stats: &LocalStats, end: WallTime) -> Result<(), Overflow> {
        let k = self.window_count;
        let k1 = k.plus(PyNum::Int(1))?;
        let sub = PyNum::Int(stats.sub_count);
        let samp = PyNum::Int(stats.samp_count);
        let rate = PyNum::Int(
            PyNum::Float(crest_core::num::int_true_div(stats.sub_count, stats.samp_count))
                .round_half_even()?,
        );
        let mean = |avg: PyNum, x: PyNum| -> Result<PyNum, Overflow> {
            let total = avg.times(k)?.plus(x)?;
            let q = total.true_div(k1).ok_or(Overflow)?;
            PyNum::Float(q).round_half_even().map(PyNum::Int)
        };
        let sub_avg = mean(self.sub_count_avg, sub)?;
        self.samp_count_avg = mean(self.samp_count_avg, samp)?;
        self.samp_sub_count_avg = mean(self.samp_sub_count_avg, rate)?;
        self.sub_count_avg = sub_avg;
        self.sub_count_max = PyNum::max_keep_first(self.sub_count_max, sub);
        self.samp_count_max = PyNum::max_keep_first(self.samp_count_max, samp);
        self.samp_sub_count_max = PyNum::max_keep_first(self.samp_sub_count_max, rate);
        self.threshold_suggested = PyNum::max_keep_first(self.threshold_suggested, sub_avg);
        self.end_ts = end;
        self.window_count = k1;
        Ok(())
    }
}

/// Why a global table could not be read.
#[derive(Debug, thiserror::Error)]
pub enum GstError {
    /// The text is not JSON.
    #[error("invalid JSON at line {line}, column {column}: {message}")]
    Json {
        /// Line of the error, from 1.
        line: usize,
        /// Column of the error, from 1.
        column: usize,
        /// What serde_json reported.
        message: String,
    },
    /// The JSON does not have the table's shape.
    #[error("{at}: {reason}")]
    Shape {
        /// Where in the table (`malicious → ZipArchiveFile → [3]`).
        at: String,
        /// What is wrong.
        reason: String,
    },
}

/// The global statistics table: a baseline entry per pair.
#[derive(Clone, Debug, Default)]
pub struct GlobalTable {
    /// Entries by pair, in key order (the order they are written in).
    pub entries: BTreeMap<PairKey, GstEntry>,
}

impl GlobalTable {
    /// Reads a table written by crest or the reference, with `depth` levels of dimension keys.
    /// Dates keep their first 19 characters, as the reference's loader does.
    pub fn from_json(text: &str, depth: usize) -> Result<GlobalTable, GstError> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| GstError::Json {
            line: e.line(),
            column: e.column(),
            message: strip_position(&e),
        })?;
        let mut table = GlobalTable::default();
        let mut key = Vec::with_capacity(depth);
        walk(&value, depth, &mut key, &mut table)?;
        Ok(table)
    }

    /// The table as `global_table.json` holds it (Python's `json.dump(indent=2, sort_keys=True)`).
    pub fn to_json(&self) -> String {
        nest(self.entries.iter().map(|(k, e)| (k.as_slice(), e.to_pyjson()))).to_pretty_string()
    }

    /// Builds the initial table from the baseline week's days (the reference's JSON-backend
    /// `stats`): averages over the days with data, every combination of the values seen, the
    /// entry dated `[now − 7 days, now)`.
    pub fn from_baseline(
        days: &[DayTable],
        now: WallTime,
        depth: usize,
        floors: &Floors,
    ) -> Result<GlobalTable, Overflow> {
        let mut table = GlobalTable::default();
        if days.is_empty() {
            return Ok(table);
        }
        let start = now.add_days(-DEFAULT_GLOBAL_TABLE_AGE_DAYS).unwrap_or(now);
        let windows = PyNum::Int(window_count(start, now));
        // The values each dimension took on any day: their cross product gets an entry each.
        let mut values: Vec<std::collections::BTreeSet<&str>> = vec![Default::default(); depth];
        for day in days {
            for key in day.pairs.keys() {
                for (set, v) in values.iter_mut().zip(key) {
                    set.insert(v);
                }
            }
        }
        let n_days = days.len() as i64;
        for key in cross_product(&values) {
            let (mut sub_sum, mut sub_max, mut samp_sum, mut samp_max) = (0i64, 0i64, 0i64, 0i64);
            let mut ratio_max: Option<PyNum> = None;
            for day in days {
                let (sub, samp) = day.pairs.get(&key).copied().unwrap_or((0, 0));
                let ratio = if samp > 0 {
                    PyNum::Float(crest_core::num::int_true_div(sub, samp))
                } else {
                    PyNum::Int(0)
                };
                sub_sum = sub_sum.checked_add(sub).ok_or(Overflow)?;
                samp_sum = samp_sum.checked_add(samp).ok_or(Overflow)?;
                sub_max = sub_max.max(sub);
                samp_max = samp_max.max(samp);
                ratio_max = Some(match ratio_max {
                    None => ratio,
                    Some(m) => PyNum::max_keep_first(m, ratio),
                });
            }
            let sub_avg = PyNum::int_mean(sub_sum, n_days);
            let samp_avg = PyNum::int_mean(samp_sum, n_days);
            let rate_avg = if samp_avg.to_f64() == 0.0 {
                0
            } else {
                PyNum::Float(sub_avg.true_div(samp_avg).ok_or(Overflow)?).round_half_even()?
            };
            let sub_avg_int = sub_avg.round_half_even()?;
            let entry = GstEntry {
                start_ts: start,
                end_ts: now,
                window_count: windows,
                sub_count_avg: PyNum::Int(sub_avg_int),
                sub_count_max: PyNum::Int(sub_max),
                samp_count_avg: PyNum::Int(samp_avg.round_half_even()?),
                samp_count_max: PyNum::Int(samp_max),
                samp_sub_count_avg: PyNum::Int(rate_avg),
                samp_sub_count_max: ratio_max.unwrap_or(PyNum::Int(0)),
                threshold_suggested: PyNum::max_keep_first(
                    PyNum::Int(sub_avg_int),
                    PyNum::Int(floors.get(&key[0])),
                ),
            };
            table.entries.insert(key, entry);
        }
        Ok(table)
    }

    /// Folds the window's statistics into the table (the reference's "sliding window" refresh):
    /// new pairs get an entry from this window alone; known pairs are updated unless the window
    /// starts before the end of what the entry already covers.
    pub fn refresh(
        &mut self,
        local: &LocalTable,
        window: Window,
        floors: &Floors,
    ) -> Result<(), Overflow> {
        for entry in &local.entries {
            match self.entries.get_mut(&entry.key) {
                Some(g) if window.start < g.end_ts => {}
                Some(g) => g.update(&entry.stats, window.end)?,
                None => {
                    let inferred =
                        GstEntry::infer(&entry.stats, window, floors.get(&entry.key[0]))?;
                    self.entries.insert(entry.key.clone(), inferred);
                }
            }
        }
        Ok(())
    }
}

/// The reference's window count between two times: whole hours, reported in days when they
/// make whole days (so a 7-day age gives 7, a 36-hour one 36), and never 0.
pub fn window_count(start: WallTime, end: WallTime) -> i64 {
    let hours = (end.whole_seconds() - start.whole_seconds()).div_euclid(3600);
    let w = if hours % 24 == 0 { hours / 24 } else { hours };
    if w == 0 { 1 } else { w }
}

/// Every combination of one value per dimension, in sorted order.
fn cross_product(values: &[std::collections::BTreeSet<&str>]) -> Vec<PairKey> {
    let mut out: Vec<PairKey> = vec![Vec::new()];
    for set in values {
        out = out
            .iter()
            .flat_map(|prefix| {
                set.iter().map(move |v| {
                    let mut k = prefix.clone();
                    k.push(v.to_string());
                    k
                })
            })
            .collect();
    }
    if values.iter().any(|s| s.is_empty()) { Vec::new() } else { out }
}

/// Nests `(key, value)` leaves into objects, one level per dimension.
pub fn nest<'k, I>(leaves: I) -> PyJson
where
    I: IntoIterator<Item = (&'k [String], PyJson)>,
{
    let mut root: Vec<(String, PyJson)> = Vec::new();
    for (key, leaf) in leaves {
        insert_leaf(&mut root, key, leaf);
    }
    PyJson::Object(root)
}

fn insert_leaf(level: &mut Vec<(String, PyJson)>, key: &[String], leaf: PyJson) {
    let (first, rest) = key.split_first().expect("a pair key has at least one dimension");
    if rest.is_empty() {
        level.push((first.clone(), leaf));
        return;
    }
    let pos = match level.iter().position(|(k, _)| k == first) {
        Some(p) => p,
        None => {
            level.push((first.clone(), PyJson::Object(Vec::new())));
            level.len() - 1
        }
    };
    if let PyJson::Object(children) = &mut level[pos].1 {
        insert_leaf(children, rest, leaf);
    }
}

fn strip_position(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

fn walk(
    value: &serde_json::Value,
    depth: usize,
    key: &mut Vec<String>,
    table: &mut GlobalTable,
) -> Result<(), GstError> {
    let at = |key: &[String]| {
        if key.is_empty() {
            "global table".to_string()
        } else {
            format!("entry {}", key.join(" → "))
        }
    };
    if key.len() == depth {
        let entry = parse_entry(value).map_err(|(i, reason)| GstError::Shape {
            at: match i {
                Some(i) => format!("{} → [{i}]", at(key)),
                None => at(key),
            },
            reason,
        })?;
        table.entries.insert(key.clone(), entry);
        return Ok(());
    }
    let serde_json::Value::Object(map) = value else {
        let reason = if key.is_empty() {
            "expected an object of pairs".to_string()
        } else {
            format!(
                "expected an object keyed by dimension {} (the table has fewer dimensions than configured)",
                key.len() + 1
            )
        };
        return Err(GstError::Shape { at: at(key), reason });
    };
    for (k, v) in map {
        key.push(k.clone());
        walk(v, depth, key, table)?;
        key.pop();
    }
    Ok(())
}

fn parse_entry(value: &serde_json::Value) -> Result<GstEntry, (Option<usize>, String)> {
    let serde_json::Value::Array(items) = value else {
        return Err((
            None,
            format!(
                "expected a list of 10 values (the table may have more dimensions than configured), found {}",
                kind(value)
            ),
        ));
    };
    if items.len() != 10 {
        return Err((None, format!("expected a list of 10 values, found {}", items.len())));
    }
    let date = |i: usize| -> Result<WallTime, (Option<usize>, String)> {
        match &items[i] {
            serde_json::Value::String(s) => {
                WallTime::parse_python_prefix(s).map_err(|e| (Some(i), e.to_string()))
            }
            other => Err((Some(i), format!("expected a date string, found {}", kind(other)))),
        }
    };
    let num = |i: usize| -> Result<PyNum, (Option<usize>, String)> {
        match &items[i] {
            serde_json::Value::Number(n) => {
                if let Some(x) = n.as_i64() {
                    Ok(PyNum::Int(x))
                } else if n.is_u64() {
                    Err((Some(i), format!("integer {n} is out of range")))
                } else {
                    Ok(PyNum::Float(n.as_f64().unwrap_or(f64::NAN)))
                }
            }
            other => Err((Some(i), format!("expected a number, found {}", kind(other)))),
        }
    };
    Ok(GstEntry {
        start_ts: date(0)?,
        end_ts: date(1)?,
        window_count: num(2)?,
        sub_count_avg: num(3)?,
        sub_count_max: num(4)?,
        samp_count_avg: num(5)?,
        samp_count_max: num(6)?,
        samp_sub_count_avg: num(7)?,
        samp_sub_count_max: num(8)?,
        threshold_suggested: num(9)?,
    })
}

fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wt(s: &str) -> WallTime {
        WallTime::parse_cli(s).unwrap()
    }

    #[test]
    fn window_count_in_days_or_hours() {
        assert_eq!(window_count(wt("2020-10-28 09:00:00.5"), wt("2020-11-04 09:00:00.5")), 7);
        assert_eq!(window_count(wt("2020-11-01"), wt("2020-11-02 12:00:00")), 36);
        assert_eq!(window_count(wt("2020-11-01"), wt("2020-11-01 00:30:00")), 1);
    }

    #[test]
    fn round_trips_reference_entries() {
        let text = "{\n  \"benign\": {\n    \"PdfDocFile\": [\n      \"2021-08-26 00:00:00\",\n      \"2021-09-02 00:00:00\",\n      7,\n      194,\n      194,\n      176,\n      176,\n      1,\n      1.1022727272727273,\n      500\n    ]\n  }\n}";
        let t = GlobalTable::from_json(text, 2).unwrap();
        assert_eq!(t.to_json(), text);
        let err = GlobalTable::from_json(text, 1).unwrap_err().to_string();
        assert!(err.contains("more dimensions than configured"), "{err}");
        let err = GlobalTable::from_json(text, 3).unwrap_err().to_string();
        assert!(err.contains("fewer dimensions than configured"), "{err}");
    }

    #[test]
    fn loader_drops_microseconds_and_names_bad_values() {
        let t = GlobalTable::from_json(r#"{"a": {"b": ["2020-10-28 09:05:01.250000", "2020-11-04 09:05:01.250000", 7, 1, 1, 1, 1, 1, 1.0, 0]}}"#, 2).unwrap();
        assert!(t.to_json().contains("\"2020-10-28 09:05:01\""));
        let err = GlobalTable::from_json(
            r#"{"a": {"b": ["2020-10-28", "x", 7, 1, 1, 1, 1, 1, 1, 0]}}"#,
            2,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "entry a → b → [0]: invalid date-time '2020-10-28' (expected YYYY-MM-DD HH:MM:SS)"
        );
        let err = GlobalTable::from_json("{\"a\": [1,", 2).unwrap_err();
        assert!(matches!(err, GstError::Json { line: 1, .. }), "{err}");
        let err = GlobalTable::from_json(r#"{"a": {"b": ["2020-10-28 00:00:00", "2020-10-28 00:00:00", "7", 1, 1, 1, 1, 1, 1, 0]}}"#, 2).unwrap_err();
        assert_eq!(err.to_string(), "entry a → b → [2]: expected a number, found a string");
    }

    #[test]
    fn update_is_an_expanding_mean_with_ties_to_even() {
        // The worked example of the spec (A_readme_flow, malicious/ZipArchiveFile).
        let mut g = GstEntry {
            start_ts: wt("2020-11-01"),
            end_ts: wt("2020-11-04"),
            window_count: PyNum::Int(1),
            sub_count_avg: PyNum::Int(178),
            sub_count_max: PyNum::Int(178),
            samp_count_avg: PyNum::Int(115),
            samp_count_max: PyNum::Int(115),
            samp_sub_count_avg: PyNum::Int(2),
            samp_sub_count_max: PyNum::Int(2),
            threshold_suggested: PyNum::Int(178),
        };
        let stats = LocalStats {
            sub_count: 1543,
            samp_count: 366,
            samp_sub_count_max: 202,
            samp_sub_count_mean: PyNum::Float(1543.0 / 366.0),
            samp_sub_count_std: 11.492695486899816,
            samp_sub_ratio: 0.13,
        };
        g.update(&stats, wt("2020-11-05")).unwrap();
        let json = nest([(&["k".to_string()][..], g.to_pyjson())]).to_pretty_string();
        let values: Vec<&str> =
            json.lines().skip(2).take(10).map(|l| l.trim().trim_end_matches(',')).collect();
        assert_eq!(
            values,
            [
                "\"2020-11-01 00:00:00\"",
                "\"2020-11-05 00:00:00\"",
                "2",
                "860",
                "1543",
                "240",
                "366",
                "3",
                "4",
                "860"
            ]
        );
    }

    #[test]
    fn max_tie_keeps_the_stored_float() {
        let mut g = GstEntry {
            start_ts: wt("2021-08-26"),
            end_ts: wt("2021-09-02"),
            window_count: PyNum::Int(7),
            sub_count_avg: PyNum::Int(2),
            sub_count_max: PyNum::Int(2),
            samp_count_avg: PyNum::Int(2),
            samp_count_max: PyNum::Int(2),
            samp_sub_count_avg: PyNum::Int(1),
            samp_sub_count_max: PyNum::Float(1.0),
            threshold_suggested: PyNum::Int(0),
        };
        let stats = LocalStats {
            sub_count: 2,
            samp_count: 2,
            samp_sub_count_max: 1,
            samp_sub_count_mean: PyNum::Int(1),
            samp_sub_count_std: 0.0,
            samp_sub_ratio: 0.0,
        };
        g.update(&stats, wt("2021-09-03")).unwrap();
        assert!(matches!(g.samp_sub_count_max, PyNum::Float(f) if f == 1.0));
    }
}
