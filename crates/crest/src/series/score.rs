//! `crest series score`: every point of a `timestamp,value` CSV scored by a detector.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use crest_series::detect::{AnyDetector, Detector};
use serde::{Deserialize, Serialize};

use super::input::{self, InputSeries, Row};
use super::method::DetectorArgs;
use super::{csv_field, write_stdout};
use crate::Failure;
use crate::fsutil;

/// Arguments of `crest series score`.
#[derive(Debug, Args)]
#[command(after_help = "Output: CSV `timestamp,value,anomaly_score` then the method's columns \
                        (e.g. forecast,lower,upper,aberration for hw), one row per input row, \
                        in input order. Scores are in [0, 1].")]
pub(crate) struct ScoreArgs {
    /// The series: CSV with a header naming `timestamp` and `value` (and optionally `metric`
    /// and `key`); plain, gzip or zstd; `-` for standard input.
    #[arg(value_name = "INPUT.csv")]
    pub(crate) input: String,

    #[command(flatten)]
    pub(crate) detector: DetectorArgs,

    /// Write the CSV here instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,

    /// Resume from this checkpoint if it exists, and save the detectors' state to it at the
    /// end (atomically): scoring a file in pieces gives the same scores as in one go.
    #[arg(long = "state", value_name = "FILE")]
    pub(crate) state: Option<PathBuf>,
}

/// A checkpoint: each series' detector and the last slot it saw.
#[derive(Debug, Serialize, Deserialize)]
struct Checkpoint {
    /// What the detectors were built from, so a resume with other settings is refused.
    settings: String,
    /// Per series, by its `metric key` (empty for a file of one series).
    series: BTreeMap<String, SeriesState>,
}

#[derive(Debug, Serialize, Deserialize)]
struct SeriesState {
    last_time: i64,
    step: i64,
    detector: AnyDetector,
}

/// Runs `crest series score`.
pub(crate) fn run(args: &ScoreArgs) -> Result<(), Failure> {
    let spec = args.detector.read_spec()?;
    let readout = input::read_path(&args.input, &spec)?;
    let settings = args.detector.settings_text();
    let mut checkpoint = match &args.state {
        Some(path) if path.exists() => load_checkpoint(path, &settings)?,
        _ => Checkpoint { settings: settings.clone(), series: BTreeMap::new() },
    };
    let grouped = readout.series.iter().any(|s| !s.key.is_empty());

    // Rows of every series, scored, keyed by input line so the output keeps the input order.
    let mut lines: Vec<(u64, String)> = Vec::new();
    let mut columns: &'static [&'static str] = &[];
    for series in &readout.series {
        let state = match checkpoint.series.remove(&series.key) {
            Some(state) => resume(state, series)?,
            None => SeriesState {
                last_time: series.rows[0].time - series.step,
                step: series.step,
                detector: args.detector.build(series.step).map_err(Failure::Usage)?,
            },
        };
        let (state, scored) = score_series(state, series, grouped);
        columns = state.detector.columns();
        checkpoint.series.insert(series.key.clone(), state);
        lines.extend(scored);
    }
    lines.sort_by_key(|(line, _)| *line);

    let mut out = String::with_capacity(lines.len() * 48);
    if grouped {
        out.push_str("series,");
    }
    out.push_str("timestamp,value,anomaly_score");
    for c in columns {
        out.push(',');
        out.push_str(c);
    }
    out.push('\n');
    for (_, line) in &lines {
        out.push_str(line);
        out.push('\n');
    }
    match &args.output {
        Some(path) => fsutil::write_atomic(path, out.as_bytes())
            .with_context(|| format!("{}: cannot write", path.display()))?,
        None => write_stdout(out.as_bytes())?,
    }
    if let Some(path) = &args.state {
        let json = serde_json::to_vec(&checkpoint).context("cannot encode the checkpoint")?;
        fsutil::write_atomic(path, &json)
            .with_context(|| format!("{}: cannot write the checkpoint", path.display()))?;
    }
    if readout.skipped > 0 {
        eprintln!(
            "crest: skipped {} invalid row(s); first: {}",
            readout.skipped,
            readout.first_skip.as_deref().unwrap_or("")
        );
    }
    Ok(())
}

fn load_checkpoint(path: &std::path::Path, settings: &str) -> Result<Checkpoint> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let cp: Checkpoint = serde_json::from_slice(&bytes)
        .with_context(|| format!("{}: not a crest series checkpoint", path.display()))?;
    if cp.settings != settings {
        bail!(
            "{}: the checkpoint was made with other settings ({}); now: {}",
            path.display(),
            cp.settings,
            settings
        );
    }
    Ok(cp)
}

/// Continues a series from its checkpoint: new rows must follow its last slot on its grid.
fn resume(state: SeriesState, series: &InputSeries) -> Result<SeriesState> {
    let first: &Row = &series.rows[0];
    if first.time <= state.last_time {
        bail!(
            "line {}: timestamp '{}' was already scored (the checkpoint of series '{}' ends at {})",
            first.line,
            first.time_text,
            series.name,
            state.last_time
        );
    }
    if (first.time - state.last_time) % state.step != 0 || series.step % state.step != 0 {
        bail!(
            "line {}: timestamp '{}' is not on the {} s grid of the checkpoint of series '{}'",
            first.line,
            first.time_text,
            state.step,
            series.name
        );
    }
    Ok(state)
}

/// Scores one series from `state`, returning the new state and its output lines.
fn score_series(
    mut state: SeriesState,
    series: &InputSeries,
    grouped: bool,
) -> (SeriesState, Vec<(u64, String)>) {
    use std::fmt::Write as _;
    let step = state.step;
    let ncols = state.detector.columns().len();
    let mut lines = Vec::with_capacity(series.rows.len());
    let mut last = state.last_time;
    // Slots without a row (between the checkpoint and the first row, and gaps) are missing;
    // walk the checkpoint's grid, which the series' own may be coarser than.
    for row in &series.rows {
        while last + step < row.time {
            last += step;
            state.detector.push(last, None);
        }
        let scored = state.detector.push(row.time, row.value);
        last = row.time;
        let mut line = String::with_capacity(64);
        if grouped {
            line.push_str(&csv_field(&series.key));
            line.push(',');
        }
        let _ = write!(line, "{},{},{}", csv_field(&row.time_text), row.value_text, scored.score);
        for f in &scored.figures[..ncols] {
            line.push(',');
            if let Some(v) = f {
                let _ = write!(line, "{v}");
            }
        }
        lines.push((row.line, line));
    }
    state.last_time = last;
    (state, lines)
}
