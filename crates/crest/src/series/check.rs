//! `crest series check`: Seyren's warn/error checks on any detector output.

use clap::{Args, ValueEnum};
use crest_series::check::{AlertState, Check, CheckRule};
use crest_series::detect::Detector;

use super::method::DetectorArgs;
use super::{csv_field, input, write_stdout};
use crate::Failure;

/// How to print state changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum CheckFormat {
    /// One readable line per change, then each series' final state.
    Text,
    /// One JSON finding per change.
    Jsonl,
    /// CSV, one row per change.
    Csv,
}

/// Arguments of `crest series check`.
#[derive(Debug, Args)]
#[command(after_help = "Seyren's rules: high values are bad when warn <= error, low values when \
                        warn > error; thresholds are inclusive; a missing value leaves the state \
                        as it was; only changes are reported, ERROR -> OK included.")]
pub(crate) struct CheckArgs {
    /// Series: `timestamp,value` CSV files (with `metric`/`key` columns, one series per pair).
    #[arg(value_name = "INPUT.csv", required = true)]
    pub(crate) inputs: Vec<String>,

    /// The warn threshold.
    #[arg(long = "warn", value_name = "VALUE", allow_negative_numbers = true)]
    pub(crate) warn: f64,

    /// The error threshold.
    #[arg(long = "error", value_name = "VALUE", allow_negative_numbers = true)]
    pub(crate) error: f64,

    /// What to check: `score` (the detector's anomaly score), `value` (the raw series, as a
    /// plain Seyren check), or one of the method's columns (e.g. `aberration` for hw).
    #[arg(long = "on", value_name = "COLUMN", default_value = "score")]
    pub(crate) on: String,

    /// Announce a new state only after it held for this many consecutive values (crest's
    /// option against flapping; 1 is Seyren's behaviour).
    #[arg(long = "persist", value_name = "N", default_value_t = 1)]
    pub(crate) persist: u32,

    #[command(flatten)]
    pub(crate) detector: DetectorArgs,

    /// Output format.
    #[arg(long = "format", value_enum, default_value = "text")]
    pub(crate) format: CheckFormat,
}

/// Where the checked number comes from.
#[derive(Clone, Copy)]
enum Source {
    Score,
    Value,
    Column(usize),
}

/// Runs `crest series check`.
pub(crate) fn run(args: &CheckArgs) -> Result<(), Failure> {
    if !(args.warn.is_finite() && args.error.is_finite()) {
        return Err(Failure::Usage("--warn and --error must be finite numbers".to_string()));
    }
    if args.persist == 0 {
        return Err(Failure::Usage("--persist must be at least 1".to_string()));
    }
    let rule = CheckRule { warn: args.warn, error: args.error, persist: args.persist };
    let spec = args.detector.read_spec()?;
    let mut out = String::new();
    if args.format == CheckFormat::Csv {
        out.push_str("series,timestamp,time,from,to,value,warn,error\n");
    }
    let mut finals = Vec::new();
    for path in &args.inputs {
        let readout = input::read_path(path, &spec)?;
        if readout.skipped > 0 {
            eprintln!(
                "crest: {path}: skipped {} invalid row(s); first: {}",
                readout.skipped,
                readout.first_skip.as_deref().unwrap_or("")
            );
        }
        for series in &readout.series {
            let mut detector = args.detector.build(series.step).map_err(Failure::Usage)?;
            let source = match args.on.as_str() {
                "score" => Source::Score,
                "value" => Source::Value,
                c => match detector.columns().iter().position(|x| *x == c) {
                    Some(i) => Source::Column(i),
                    None => {
                        return Err(Failure::Usage(format!(
                            "--on {c}: the {} method has no such column (choose score, value, {})",
                            args.detector.method,
                            detector.columns().join(", ")
                        )));
                    }
                },
            };
            let mut check = Check::new(rule);
            let mut changes = 0usize;
            series.for_each_slot(|time, value, row| {
                let scored = detector.push(time, value);
                let Some(row) = row else { return };
                let checked = match source {
                    Source::Score => value.map(|_| scored.score),
                    Source::Value => value,
                    Source::Column(i) => scored.figures[i],
                };
                if let Some(t) = check.push(time, checked) {
                    changes += 1;
                    write_change(&mut out, args, &series.name, &row.time_text, t);
                }
            });
            finals.push((series.name.clone(), check.state(), changes));
        }
    }
    if args.format == CheckFormat::Text {
        for (name, state, changes) in &finals {
            out.push_str(&format!("{name}: {state} at the end ({changes} change(s))\n"));
        }
    }
    write_stdout(out.as_bytes())?;
    Ok(())
}

fn severity(state: AlertState) -> &'static str {
    match state {
        AlertState::Error => "error",
        AlertState::Warn => "warning",
        _ => "info",
    }
}

fn write_change(
    out: &mut String,
    args: &CheckArgs,
    series: &str,
    time_text: &str,
    t: crest_series::check::Transition,
) {
    match args.format {
        CheckFormat::Text => out.push_str(&format!(
            "{}  {series}  {} -> {}  {} {} (warn {}, error {})\n",
            super::utc_text(t.time),
            t.from,
            t.to,
            args.on,
            short_number(t.value),
            args.warn,
            args.error
        )),
        CheckFormat::Csv => out.push_str(&format!(
            "{},{},{},{},{},{},{},{}\n",
            csv_field(series),
            csv_field(time_text),
            t.time,
            t.from,
            t.to,
            t.value,
            args.warn,
            args.error
        )),
        CheckFormat::Jsonl => {
            let finding = serde_json::json!({
                "detector": "series.check",
                "id": format!("series.check:{series}:{}:{}", t.time, t.to),
                "key": series,
                "time": t.time,
                "timestamp": time_text,
                "from": t.from,
                "to": t.to,
                "severity": severity(t.to),
                "score": t.value,
                "stats": {
                    "on": args.on,
                    "method": args.detector.method.to_string(),
                    "value": t.value,
                    "warn": args.warn,
                    "error": args.error,
                },
            });
            out.push_str(&finding.to_string());
            out.push('\n');
        }
    }
}

/// A number for a reader: at most three decimals, no trailing zeros.
fn short_number(x: f64) -> String {
    let text = format!("{x:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" { "0".to_string() } else { text.to_string() }
}
