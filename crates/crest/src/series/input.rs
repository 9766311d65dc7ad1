//! Reading `timestamp,value` CSV into series on a regular grid.
//!
//! The header names the columns: `timestamp` and `value` are required (any order, other
//! columns are carried along untouched); `metric` and `key`, when present, split the rows into
//! one series per (metric, key), as `crest series extract` writes them. Timestamps are
//! `YYYY-MM-DD HH:MM:SS` (UTC), RFC 3339, or epoch seconds (milliseconds above 1e11); an empty value is a missing point. Plain, gzip or zstd, detected from the
//! bytes. Rows must be sorted and unique, and lie on one grid: the step is given or inferred
//! as the smallest gap between rows, and every gap must be a whole number of steps.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, bail};
use crest_core::time::parse_instant_text;

/// The most grid slots one series may span (a wrong step or a stray timestamp would
/// otherwise ask for billions of empty slots).
const MAX_SLOTS: i64 = 200_000_000;

/// One input row, as read.
#[derive(Clone, Debug)]
pub(crate) struct Row {
    /// Line number in the file (1-based; the header is line 1).
    pub(crate) line: u64,
    /// Slot start, seconds since the Unix epoch.
    pub(crate) time: i64,
    /// The timestamp as written.
    pub(crate) time_text: String,
    /// The value as written (empty for a missing point).
    pub(crate) value_text: String,
    /// The value (`None` for a missing point).
    pub(crate) value: Option<f64>,
}

/// One series: its rows in input order, on a grid of `step` seconds.
#[derive(Clone, Debug)]
pub(crate) struct InputSeries {
    /// `metric key` from the columns of those names, else the file's stem.
    pub(crate) name: String,
    /// `metric key` from the columns of those names, empty for a file of one series: what
    /// identifies the series across files (a checkpoint resumes it).
    pub(crate) key: String,
    /// The grid step in seconds.
    pub(crate) step: i64,
    /// The rows, sorted by time, unique.
    pub(crate) rows: Vec<Row>,
}

impl InputSeries {
    /// The values slot by slot from the first row to the last, `None` where no row is: what a
    /// detector is fed. Calls `each(slot_time, value, row)` with `row` the input row of that
    /// slot, if any.
    pub(crate) fn for_each_slot(&self, mut each: impl FnMut(i64, Option<f64>, Option<&Row>)) {
        let mut next = self.rows.first().map_or(0, |r| r.time);
        for row in &self.rows {
            while next < row.time {
                each(next, None, None);
                next += self.step;
            }
            each(row.time, row.value, Some(row));
            next = row.time + self.step;
        }
    }
}

/// How to read.
#[derive(Clone, Debug, Default)]
pub(crate) struct ReadSpec {
    /// The grid step, when given (`None`: inferred).
    pub(crate) step: Option<i64>,
    /// Skip bad rows (counted) instead of stopping at the first.
    pub(crate) skip_invalid: bool,
}

/// What was read, with the rows skipped by `--skip-invalid`.
#[derive(Debug)]
pub(crate) struct Readout {
    /// The series, in order of first appearance.
    pub(crate) series: Vec<InputSeries>,
    /// Rows skipped, and the first skipped row's error.
    pub(crate) skipped: u64,
    /// The first skipped row's error.
    pub(crate) first_skip: Option<String>,
}

/// Reads a file (or `-` for standard input).
pub(crate) fn read_path(path: &str, spec: &ReadSpec) -> Result<Readout> {
    let (shown, text) = read_text(path)?;
    let stem = if path == "-" {
        "stdin".to_string()
    } else {
        Path::new(path)
            .file_name()
            .and_then(|n| n.to_str())
            .map(|n| n.split('.').next().unwrap_or(n).to_string())
            .unwrap_or_else(|| path.to_string())
    };
    parse(&shown, &stem, &text, spec)
}

/// Reads a file (or `-` for standard input) as text, decompressing gzip or zstd: the name to
/// show in errors, and the text.
pub(crate) fn read_text(path: &str) -> Result<(String, String)> {
    let (shown, bytes) = if path == "-" {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf).context("<stdin>: cannot read")?;
        ("<stdin>".to_string(), buf)
    } else {
        (path.to_string(), std::fs::read(path).with_context(|| format!("{path}: cannot read"))?)
    };
    let text = decode(&shown, bytes)?;
    Ok((shown, text))
}

/// Decompresses gzip or zstd (from the magic bytes) and checks the text is UTF-8.
fn decode(shown: &str, bytes: Vec<u8>) -> Result<String> {
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .with_context(|| format!("{shown}: cannot decompress (gzip)"))?;
        out
    } else if bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        zstd::stream::decode_all(&bytes[..])
            .with_context(|| format!("{shown}: cannot decompress (zstd)"))?
    } else {
        bytes
    };
    String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{shown}: not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}

/// Parses CSV text; `shown` names the input in errors, `stem` names a lone series.
pub(crate) fn parse(shown: &str, stem: &str, text: &str, spec: &ReadSpec) -> Result<Readout> {
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(text.as_bytes());
    let header = reader.headers().with_context(|| format!("{shown}: cannot read the header"))?;
    if header.is_empty() || (header.len() == 1 && header[0].trim().is_empty()) {
        bail!("{shown}: empty file (expected a header line with 'timestamp,value')");
    }
    let find = |name: &str| header.iter().position(|h| h.trim() == name);
    let (Some(t_col), Some(v_col)) = (find("timestamp"), find("value")) else {
        bail!(
            "{shown}: line 1: the header must name a 'timestamp' and a 'value' column (found '{}')",
            header.iter().collect::<Vec<_>>().join(",")
        );
    };
    let group_cols: Vec<usize> = ["metric", "key"].iter().filter_map(|n| find(n)).collect();

    let mut groups: BTreeMap<String, (usize, Vec<Row>)> = BTreeMap::new();
    let mut skipped = 0u64;
    let mut first_skip = None;
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line();
        let row = match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => read_row(&record, line, t_col, v_col),
            Err(e) => Err(format!("malformed CSV: {e}")),
        };
        let row = match row {
            Ok(row) => row,
            Err(msg) => {
                let msg = format!("{shown}: line {line}: {msg}");
                if !spec.skip_invalid {
                    bail!(msg);
                }
                skipped += 1;
                first_skip.get_or_insert(msg);
                continue;
            }
        };
        let key =
            group_cols.iter().map(|&c| record.get(c).unwrap_or("")).collect::<Vec<_>>().join(" ");
        let order = groups.len();
        groups.entry(key).or_insert_with(|| (order, Vec::new())).1.push(row);
    }
    if groups.is_empty() {
        bail!("{shown}: no rows after the header");
    }

    let mut series = Vec::with_capacity(groups.len());
    for (key, (order, rows)) in groups {
        let name = if key.is_empty() { stem.to_string() } else { key.clone() };
        let rows = check_order(shown, rows, spec, &mut skipped, &mut first_skip)?;
        let step = grid_step(shown, &name, &rows, spec.step)?;
        series.push((order, InputSeries { name, key, step, rows }));
    }
    series.sort_by_key(|(order, _)| *order);
    Ok(Readout { series: series.into_iter().map(|(_, s)| s).collect(), skipped, first_skip })
}

fn read_row(
    record: &csv::StringRecord,
    line: u64,
    t_col: usize,
    v_col: usize,
) -> Result<Row, String> {
    let time_text = record.get(t_col).unwrap_or("").trim();
    let value_text = record.get(v_col).unwrap_or("").trim();
    let time = parse_time(time_text).map_err(|e| format!("field 'timestamp': {e}"))?;
    let value = if value_text.is_empty() {
        None
    } else {
        match value_text.parse::<f64>() {
            Ok(v) if v.is_finite() => Some(v),
            Ok(_) => return Err(format!("field 'value': not a finite number: '{value_text}'")),
            Err(_) => return Err(format!("field 'value': not a number: '{value_text}'")),
        }
    };
    Ok(Row {
        line,
        time,
        time_text: time_text.to_string(),
        value_text: value_text.to_string(),
        value,
    })
}

/// Sorted and unique, or an error naming the line (with skipping, out-of-order and duplicate
/// rows are dropped and counted).
fn check_order(
    shown: &str,
    rows: Vec<Row>,
    spec: &ReadSpec,
    skipped: &mut u64,
    first_skip: &mut Option<String>,
) -> Result<Vec<Row>> {
    let mut kept: Vec<Row> = Vec::with_capacity(rows.len());
    for row in rows {
        if let Some(prev) = kept.last() {
            let problem = if row.time == prev.time {
                Some(format!(
                    "duplicate timestamp '{}' (also on line {})",
                    row.time_text, prev.line
                ))
            } else if row.time < prev.time {
                Some(format!(
                    "timestamp '{}' is before the previous row's '{}' (rows must be sorted)",
                    row.time_text, prev.time_text
                ))
            } else {
                None
            };
            if let Some(problem) = problem {
                let msg = format!("{shown}: line {}: {problem}", row.line);
                if !spec.skip_invalid {
                    bail!(msg);
                }
                *skipped += 1;
                first_skip.get_or_insert(msg);
                continue;
            }
        }
        kept.push(row);
    }
    Ok(kept)
}

/// The step: given, or the smallest gap; every gap must be a whole number of steps.
fn grid_step(shown: &str, name: &str, rows: &[Row], given: Option<i64>) -> Result<i64> {
    let step = match given {
        Some(s) => s,
        None => rows.windows(2).map(|w| w[1].time - w[0].time).min().unwrap_or(60),
    };
    if step <= 0 {
        bail!("{shown}: the step must be positive");
    }
    let first = rows[0].time;
    for row in rows {
        let offset = row.time - first;
        if offset % step != 0 {
            bail!(
                "{shown}: line {}: timestamp '{}' is not on the {step} s grid of series '{name}' \
                 (it is {offset} s after the first row); give --step to match the data",
                row.line,
                row.time_text
            );
        }
        if offset / step > MAX_SLOTS {
            bail!(
                "{shown}: line {}: timestamp '{}' is {} steps of {step} s after the first row, \
                 more than the {MAX_SLOTS} a series may span; is the step right?",
                row.line,
                row.time_text,
                offset / step
            );
        }
    }
    Ok(step)
}

/// Parses a timestamp ([`parse_instant_text`]'s forms) into whole seconds since the epoch.
pub(crate) fn parse_time(text: &str) -> Result<i64, String> {
    if text.is_empty() {
        return Err("empty".to_string());
    }
    let us = parse_instant_text(text).ok_or_else(|| {
        format!("cannot read '{text}' as a time (expected YYYY-MM-DD HH:MM:SS, RFC 3339 or epoch seconds)")
    })?;
    if us % 1_000_000 != 0 {
        return Err(format!("'{text}' is not a whole second"));
    }
    Ok(us / 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Readout> {
        parse("t.csv", "t", text, &ReadSpec::default())
    }

    #[test]
    fn timestamps_in_every_form() {
        assert_eq!(parse_time("1700000000"), Ok(1_700_000_000));
        assert_eq!(parse_time("1700000000000"), Ok(1_700_000_000));
        assert_eq!(parse_time("2023-11-14 22:13:20"), Ok(1_700_000_000));
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Ok(1_700_000_000));
        assert_eq!(parse_time("2023-11-14T23:13:20+01:00"), Ok(1_700_000_000));
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("1700000000500").is_err());
    }

    #[test]
    fn gaps_become_missing_slots() {
        let r = read("timestamp,value\n0,1\n60,\n180,3\n").unwrap();
        let s = &r.series[0];
        assert_eq!((s.name.as_str(), s.step), ("t", 60));
        let mut slots = Vec::new();
        s.for_each_slot(|t, v, row| slots.push((t, v, row.map(|r| r.line))));
        assert_eq!(
            slots,
            [
                (0, Some(1.0), Some(2)),
                (60, None, Some(3)),
                (120, None, None),
                (180, Some(3.0), Some(4))
            ]
        );
    }

    #[test]
    fn metric_and_key_columns_split_series() {
        let r = read("metric,key,timestamp,value\nc,a,0,1\nc,b,0,2\nc,a,60,3\n").unwrap();
        let names: Vec<_> = r.series.iter().map(|s| (s.name.as_str(), s.rows.len())).collect();
        assert_eq!(names, [("c a", 2), ("c b", 1)]);
    }

    #[test]
    fn bad_rows_name_the_line() {
        let err = |text: &str| format!("{:#}", read(text).unwrap_err());
        assert_eq!(err(""), "t.csv: empty file (expected a header line with 'timestamp,value')");
        assert!(err("timestamp,value\n").contains("no rows"));
        assert!(err("time,v\n0,1\n").contains("line 1: the header must name"));
        assert!(
            err("timestamp,value\n0,1\n60,x\n")
                .contains("line 3: field 'value': not a number: 'x'")
        );
        assert!(
            err("timestamp,value\n0,1\n0,2\n")
                .contains("line 3: duplicate timestamp '0' (also on line 2)")
        );
        assert!(err("timestamp,value\n60,1\n0,2\n").contains("line 3: timestamp '0' is before"));
        assert!(
            err("timestamp,value\n0,1\n60,2\n150,3\n")
                .contains("line 4: timestamp '150' is not on the 60 s grid")
        );
        assert!(err("timestamp,value\n0,1\n1,2\n99999999999,3\n").contains("more than"));
        assert!(err("timestamp,value\n0,1,2\n").contains("line 2: malformed CSV"));
    }

    #[test]
    fn skipping_counts_bad_rows() {
        let spec = ReadSpec { skip_invalid: true, ..ReadSpec::default() };
        let r =
            parse("t.csv", "t", "timestamp,value\n0,1\n60,x\n60,2\n30,4\n120,3\n", &spec).unwrap();
        assert_eq!(r.skipped, 2);
        assert_eq!(r.series[0].rows.len(), 3);
        assert!(r.first_skip.unwrap().contains("line 3"));
    }
}
