//! `crest series extract`: events (JSON, JSON Lines or CSV; plain, gzip or zstd) to metric
//! series on an epoch-aligned grid.
//!
//! The flags resolve into a [`Plan`] (which fields to read and what each metric takes from
//! them); a [`EventSink`] per part of the input decodes those fields and feeds a pure
//! [`Extractor`]; the parts merge (in input order, exactly) and the series are written as
//! `metric,key,timestamp,value` CSV, which `crest series score` reads as it is, or JSON Lines.

use std::borrow::Cow;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{Context, anyhow};
use clap::{Args, ValueEnum};
use crest_core::record::{Record, RecordError, RecordSink};
use crest_core::time::{TimeFormat, parse_instant_text};
use crest_core::value::{Projection, RawKind, RawValue};
use crest_series::extract::{
    Aggregate, ExtractConfig, Extracted, Extractor, Gaps, MetricSpec, Observation, Step,
};
use crest_sources::{Input, Progress, ReadOptions, Readout, Skipped};
use rayon::prelude::*;

use crate::Failure;
use crate::progress::ProgressDisplay;

/// The most grid slots one series may span with `--gaps zero` (a step far too small for the
/// data, or one stray timestamp, would otherwise write billions of zeros).
const MAX_SPAN: u64 = 10_000_000;

/// Arguments of `crest series extract`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  crest series extract conn.jsonl.gz --metric 'distinct(dst_port) by src_ip' --step 1m
  crest series extract 'logs/*.csv' -m count -m 'sum(bytes) by host' --step 5min -o series.csv
  crest series extract conn.jsonl -m 'count by src_ip' --step 1m --key 10.0.0.5 | crest series score -

Output: one row per (metric, key, bucket), sorted, CSV `metric,key,timestamp,value` (timestamp =
bucket start, epoch seconds; key = the by-values joined by ','), which `crest series score` reads
as one series per (metric, key). Buckets between a key's first and last with no events are 0.")]
pub(crate) struct ExtractArgs {
    /// Input files (glob patterns; quote them) or `-` for standard input.
    #[arg(value_name = "INPUT", required = true)]
    pub(crate) inputs: Vec<String>,
    /// A metric: `count`, `sum(FIELD)` or `distinct(FIELD)`, optionally `by KEY[,KEY…]`;
    /// repeatable.
    #[arg(short, long = "metric", value_name = "SPEC", required = true)]
    pub(crate) metrics: Vec<String>,
    /// The grid step: 60s, 1m, 5min, 1h, 1d… (buckets start at multiples of it since the epoch).
    #[arg(long, value_name = "DURATION")]
    pub(crate) step: String,
    /// The field holding each event's time.
    #[arg(long, value_name = "FIELD", default_value = "timestamp")]
    pub(crate) time: String,
    /// How the time field is written.
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t = TimeFormatArg::Auto)]
    pub(crate) time_format: TimeFormatArg,
    /// The input format (`auto`: CSV for names ending .csv, .csv.gz or .csv.zst, else JSON).
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t = InputFormat::Auto)]
    pub(crate) input_format: InputFormat,
    /// The output format.
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t = OutputFormat::Csv)]
    pub(crate) format: OutputFormat,
    /// Write to this file instead of standard output.
    #[arg(short, long, value_name = "PATH")]
    pub(crate) output: Option<PathBuf>,
    /// Only the series of this key (as in the `key` column: by-values joined by `,`);
    /// repeatable.
    #[arg(long, value_name = "VALUE")]
    pub(crate) key: Vec<String>,
    /// Buckets without events between a key's first and last: written as 0, or left out.
    #[arg(long, value_name = "HOW", value_enum, default_value_t = GapsArg::Zero)]
    pub(crate) gaps: GapsArg,
    /// Keep only the newest bucket and N before it open, closing older ones (bounded memory
    /// for long inputs); events for a closed bucket are dropped and counted. Inputs are then
    /// read in order, on one thread.
    #[arg(long, value_name = "N")]
    pub(crate) retain: Option<u64>,
    /// Count distinct values exactly up to N per bucket, then estimate (HyperLogLog, ±0.8%).
    #[arg(long, value_name = "N", default_value_t = ExtractConfig::DEFAULT_EXACT_LIMIT)]
    pub(crate) distinct_exact_limit: usize,
    /// Skip (and count) events with missing or invalid fields instead of stopping.
    #[arg(long)]
    pub(crate) skip_invalid: bool,
    /// No progress bar.
    #[arg(long)]
    pub(crate) no_progress: bool,
    /// Worker threads (default: one per core).
    #[arg(short = 'j', long, value_name = "N")]
    pub(crate) threads: Option<usize>,
}

/// How event times are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum TimeFormatArg {
    /// Numbers: seconds, or milliseconds when above 1e11; strings: RFC 3339,
    /// `YYYY-MM-DD HH:MM:SS` (UTC) or digits.
    Auto,
    /// Seconds since the Unix epoch (fractions allowed).
    EpochS,
    /// Integer milliseconds since the Unix epoch.
    EpochMs,
    /// RFC 3339 strings such as 2020-11-04T10:00:00Z.
    Rfc3339,
}

/// The format of the inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum InputFormat {
    /// By file name (standard input: JSON).
    Auto,
    /// One JSON array of objects, or JSON Lines.
    Json,
    /// CSV with a header row naming the fields.
    Csv,
}

/// The output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    /// `metric,key,timestamp,value` with a header row.
    Csv,
    /// One JSON object per point: metric, key, keys (by field), timestamp, value.
    Jsonl,
}

/// Grid buckets without events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum GapsArg {
    /// Written as 0 (nothing happened).
    Zero,
    /// Left out.
    Omit,
}

/// Runs `crest series extract`.
pub(crate) fn run(args: &ExtractArgs) -> Result<(), Failure> {
    let plan = Plan::resolve(args)?;
    if let Some(n) = args.threads {
        // Only fails if a pool exists already, which cannot happen this early.
        let _ = rayon::ThreadPoolBuilder::new().num_threads(n.max(1)).build_global();
    }
    execute(args, &plan).map_err(Failure::Run)
}

/// What to read and what each metric takes from a record.
#[derive(Debug)]
struct Plan {
    config: ExtractConfig,
    specs: Vec<MetricSpec>,
    /// Slot 0 is the time field; then every other field a metric reads, once.
    projection: Projection,
    time_format: TimeFormatArg,
    /// Per slot: whether its text (keys, distinct) and its number (sum) are needed.
    uses: Vec<(bool, bool)>,
    /// Per metric: the slots of its keys and of its value.
    metrics: Vec<(Vec<usize>, Option<usize>)>,
}

impl Plan {
    fn resolve(args: &ExtractArgs) -> Result<Plan, Failure> {
        let step = Step::parse(&args.step).map_err(|e| Failure::Usage(format!("--step: {e}")))?;
        let mut specs: Vec<MetricSpec> = Vec::new();
        for text in &args.metrics {
            let spec: MetricSpec =
                text.parse().map_err(|e| Failure::Usage(format!("--metric: {e}")))?;
            if specs.contains(&spec) {
                return Err(Failure::Usage(format!("--metric: '{spec}' is given twice")));
            }
            specs.push(spec);
        }
        if args.distinct_exact_limit == 0 {
            return Err(Failure::Usage("--distinct-exact-limit must be at least 1".into()));
        }
        let mut fields = vec![args.time.clone()];
        let mut uses = vec![(false, false)];
        let mut slot = |name: &str, text: bool, number: bool| {
            let i = fields.iter().position(|f| f == name).unwrap_or_else(|| {
                fields.push(name.to_string());
                uses.push((false, false));
                fields.len() - 1
            });
            uses[i].0 |= text;
            uses[i].1 |= number;
            i
        };
        let metrics = specs
            .iter()
            .map(|spec| {
                let keys = spec.by.iter().map(|k| slot(k, true, false)).collect();
                let value = match &spec.aggregate {
                    Aggregate::Count => None,
                    Aggregate::Sum(f) => Some(slot(f, false, true)),
                    Aggregate::Distinct(f) => Some(slot(f, true, false)),
                };
                (keys, value)
            })
            .collect();
        let config = ExtractConfig {
            step,
            retain: args.retain,
            distinct_exact_limit: args.distinct_exact_limit,
        };
        Ok(Plan {
            config,
            specs,
            projection: Projection::new(fields),
            time_format: args.time_format,
            uses,
            metrics,
        })
    }

    fn extractor(&self) -> Extractor {
        Extractor::new(self.specs.clone(), self.config.clone())
    }

    fn field(&self, slot: usize) -> String {
        self.projection.fields()[slot].clone()
    }
}

/// Decodes the planned fields of each record and feeds them to an extractor.
struct EventSink<'p> {
    plan: &'p Plan,
    extractor: Extractor,
    /// Inputs (by index in the list read) that held at least one record.
    seen: Vec<u32>,
}

impl<'p> EventSink<'p> {
    fn new(plan: &'p Plan, extractor: Extractor) -> Self {
        EventSink { plan, extractor, seen: Vec::new() }
    }
}

impl RecordSink for EventSink<'_> {
    fn accept(&mut self, record: &Record<'_, '_>) -> Result<(), RecordError> {
        if self.seen.last() != Some(&record.order.input) {
            self.seen.push(record.order.input);
        }
        let plan = self.plan;
        let missing = |slot: usize| RecordError::Missing { field: plan.field(slot) };
        let invalid =
            |slot: usize, reason: String| RecordError::Invalid { field: plan.field(slot), reason };
        let time = record.slots[0].ok_or_else(|| missing(0))?;
        let seconds = event_time(&time, plan.time_format).map_err(|r| invalid(0, r))?;
        // Decode every field first, so that a bad record leaves no trace in any metric.
        let mut texts: Vec<Cow<'_, [u8]>> = vec![Cow::Borrowed(&[]); plan.uses.len()];
        let mut numbers = vec![0.0; plan.uses.len()];
        for (i, &(text, number)) in plan.uses.iter().enumerate() {
            if !text && !number {
                continue;
            }
            let value = record.slots[i].ok_or_else(|| missing(i))?;
            if text {
                texts[i] = value.text_bytes().map_err(|e| invalid(i, e.to_string()))?;
            }
            if number {
                numbers[i] = event_number(&value).map_err(|r| invalid(i, r))?;
            }
        }
        let Some(bucket) = self.extractor.admit(seconds) else { return Ok(()) };
        let mut key: Vec<&[u8]> = Vec::new();
        for (m, (keys, value)) in plan.metrics.iter().enumerate() {
            key.clear();
            key.extend(keys.iter().map(|&s| &texts[s][..]));
            let observation = match (&plan.specs[m].aggregate, value) {
                (Aggregate::Sum(_), Some(v)) => Observation::Number(numbers[*v]),
                (Aggregate::Distinct(_), Some(v)) => Observation::Value(&texts[*v]),
                _ => Observation::Event,
            };
            self.extractor.observe(m, bucket, &key, observation);
        }
        Ok(())
    }
}

/// Seconds since the epoch (floored) of a time field.
fn event_time(value: &RawValue<'_>, format: TimeFormatArg) -> Result<i64, String> {
    let micros = match format {
        TimeFormatArg::EpochS => TimeFormat::EpochSeconds.instant(value),
        TimeFormatArg::EpochMs => TimeFormat::EpochMillis.instant(value),
        TimeFormatArg::Rfc3339 => TimeFormat::Rfc3339.instant(value),
        TimeFormatArg::Auto => return auto_time(value),
    };
    micros.map(|us| us.div_euclid(1_000_000)).map_err(|e| e.to_string())
}

fn auto_time(value: &RawValue<'_>) -> Result<i64, String> {
    let text: Cow<'_, str> = match value.kind() {
        RawKind::Number { .. } => String::from_utf8_lossy(value.raw()),
        RawKind::Str { .. } => value.as_str().unwrap_or_default(),
        _ => Cow::Borrowed(""),
    };
    parse_instant_text(&text).map(|us| us.div_euclid(1_000_000)).ok_or_else(|| {
        format!(
            "expected epoch seconds or milliseconds, RFC 3339 or YYYY-MM-DD HH:MM:SS, found {} {}",
            value.kind_name(),
            value.describe()
        )
    })
}

/// A finite number from a number, or from a string holding one (exports often quote them).
fn event_number(value: &RawValue<'_>) -> Result<f64, String> {
    let text: Cow<'_, str> = match value.kind() {
        RawKind::Number { .. } => String::from_utf8_lossy(value.raw()),
        RawKind::Str { .. } => value.as_str().unwrap_or_default(),
        _ => Cow::Borrowed(""),
    };
    let text = text.trim();
    let numeric = text.bytes().next().is_some_and(|b| b.is_ascii_digit() || b == b'-' || b == b'.');
    match text.parse::<f64>() {
        Ok(x) if numeric && x.is_finite() => Ok(x),
        Ok(_) if numeric => Err(format!("number {} is out of range", value.describe())),
        _ => Err(format!("expected a number, found {} {}", value.kind_name(), value.describe())),
    }
}

fn execute(args: &ExtractArgs, plan: &Plan) -> anyhow::Result<()> {
    let cwd = std::env::current_dir().context("cannot read the working directory")?;
    let inputs = crest_sources::expand(&args.inputs, &cwd)?;
    let formats: Vec<InputFormat> =
        inputs.iter().map(|i| format_of(i, args.input_format)).collect();

    let counters = Arc::new(Progress::default());
    let total = crate::progress::total_bytes(&inputs);
    let display = ProgressDisplay::start(Arc::clone(&counters), total, !args.no_progress);
    let mut options = ReadOptions {
        skip_invalid: args.skip_invalid,
        progress: Some(counters),
        ..Default::default()
    };
    let result = if plan.config.retain.is_some() {
        // In input order through one extractor: one part per input.
        options.min_chunk_bytes = 1 << 60;
        read_in_order(plan, &inputs, &formats, &options)
    } else {
        read_parallel(plan, &inputs, &formats, &options)
    };
    display.finish();
    let (extracted, skipped, empty) = result?;

    if let Some(&i) = empty.first() {
        let name = inputs[i].name();
        if !args.skip_invalid {
            return Err(anyhow!("{name}: no events (the input is empty)"));
        }
        let more =
            if empty.len() > 1 { format!(" and {} more", empty.len() - 1) } else { String::new() };
        warn(&format!("skipped {} empty input(s): {name}{more}", empty.len()));
    }
    if empty.len() == inputs.len() {
        return Err(anyhow!("no events in any input"));
    }
    check_spans(&extracted, args)?;

    let mut text = Vec::new();
    write_series(&mut text, &extracted, args)?;
    match &args.output {
        Some(path) => crate::fsutil::write_atomic(path, &text)?,
        None => super::write_stdout(&text)?,
    }

    if skipped.total > 0 {
        warn(&format!("skipped {} invalid event(s): {}", skipped.total, skipped.summary()));
    }
    if extracted.dropped > 0 {
        warn(&format!(
            "dropped {} late event(s): their bucket had closed (more than --retain {} buckets \
             behind the newest)",
            extracted.dropped,
            plan.config.retain.unwrap_or(0)
        ));
    }
    Ok(())
}

fn warn(msg: &str) {
    eprintln!("crest: warning: {msg}");
}

fn format_of(input: &Input, given: InputFormat) -> InputFormat {
    match (given, input) {
        (InputFormat::Auto, Input::File(p)) => {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("").to_ascii_lowercase();
            let csv =
                [".csv", ".csv.gz", ".csv.zst", ".csv.zstd"].iter().any(|s| name.ends_with(s));
            if csv { InputFormat::Csv } else { InputFormat::Json }
        }
        (InputFormat::Auto, Input::Stdin) => InputFormat::Json,
        (f, _) => f,
    }
}

/// Reads `inputs` (all of one format) into one sink per part.
fn read_group<'p, F>(
    inputs: &[Input],
    format: InputFormat,
    plan: &'p Plan,
    options: &ReadOptions,
    make_sink: F,
) -> anyhow::Result<Readout<EventSink<'p>>>
where
    F: Fn() -> EventSink<'p> + Sync,
{
    let readout = match format {
        InputFormat::Csv => crest_sources::read_csv(inputs, &plan.projection, options, make_sink),
        _ => crest_sources::read(inputs, &plan.projection, options, make_sink),
    };
    Ok(readout?)
}

/// The series, what was skipped, and the indices of inputs without any record.
type Outcome = (Extracted, Skipped, Vec<usize>);

/// Every part on its own extractor, on all cores; the parts merge in input order.
fn read_parallel(
    plan: &Plan,
    inputs: &[Input],
    formats: &[InputFormat],
    options: &ReadOptions,
) -> anyhow::Result<Outcome> {
    let mut parts = Vec::new();
    let mut skipped = Skipped::default();
    let mut seen = vec![false; inputs.len()];
    for format in [InputFormat::Json, InputFormat::Csv] {
        let indices: Vec<usize> = (0..inputs.len()).filter(|&i| formats[i] == format).collect();
        if indices.is_empty() {
            continue;
        }
        let group: Vec<Input> = indices.iter().map(|&i| inputs[i].clone()).collect();
        let readout =
            read_group(&group, format, plan, options, || EventSink::new(plan, plan.extractor()))?;
        skipped.absorb(readout.skipped);
        for sink in readout.parts {
            for &local in &sink.seen {
                seen[indices[local as usize]] = true;
            }
            parts.push(sink.extractor);
        }
    }
    let merged = parts
        .into_par_iter()
        .map(Ok)
        .try_reduce_with(|mut a, b| a.merge(b).map(|()| a))
        .transpose()
        .map_err(|e| anyhow!("{e}"))?
        .unwrap_or_else(|| plan.extractor());
    let empty = (0..inputs.len()).filter(|&i| !seen[i]).collect();
    Ok((merged.finish(), skipped, empty))
}

/// One input after the other through one extractor, so that retention sees input order.
fn read_in_order(
    plan: &Plan,
    inputs: &[Input],
    formats: &[InputFormat],
    options: &ReadOptions,
) -> anyhow::Result<Outcome> {
    let current = Mutex::new(Some(plan.extractor()));
    let mut skipped = Skipped::default();
    let mut empty = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        let take = || current.lock().map(|mut c| c.take()).ok().flatten();
        let readout = read_group(std::slice::from_ref(input), formats[i], plan, options, || {
            EventSink::new(plan, take().unwrap_or_else(|| plan.extractor()))
        })?;
        skipped.absorb(readout.skipped);
        let mut parts = readout.parts.into_iter();
        let first = parts.next();
        if parts.next().is_some() {
            return Err(anyhow!("{}: read in several parts despite --retain", input.name()));
        }
        match first {
            Some(sink) => {
                if sink.seen.is_empty() {
                    empty.push(i);
                }
                *current.lock().map_err(|_| anyhow!("a reader thread failed"))? =
                    Some(sink.extractor);
            }
            None => empty.push(i),
        }
    }
    let extractor = current.into_inner().ok().flatten().unwrap_or_else(|| plan.extractor());
    Ok((extractor.finish(), skipped, empty))
}

/// A series spanning more slots than [`MAX_SPAN`] means the step does not fit the data.
fn check_spans(extracted: &Extracted, args: &ExtractArgs) -> anyhow::Result<()> {
    if args.gaps == GapsArg::Omit {
        return Ok(());
    }
    let step = extracted.step.seconds();
    for s in &extracted.series {
        let span = s.span();
        if span > MAX_SPAN {
            let mut points = s.points(extracted.step, Gaps::Omit);
            let first = points.next().map_or(0, |p| p.0);
            let last = points.last().map_or(first, |p| p.0);
            return Err(anyhow!(
                "--step {}: series '{}' key '{}' runs from {} to {}, {span} steps of {step} s, \
                 more than the {MAX_SPAN} a series may span; use a larger --step (or --gaps omit)",
                args.step,
                extracted.specs[s.metric],
                s.key.join(","),
                show_time(first),
                show_time(last),
            ));
        }
    }
    Ok(())
}

fn show_time(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds).map_or_else(|_| format!("{seconds} s"), |t| t.to_string())
}

/// Writes the series (sorted by metric, key, time) as CSV or JSON Lines.
fn write_series(
    out: &mut Vec<u8>,
    extracted: &Extracted,
    args: &ExtractArgs,
) -> anyhow::Result<()> {
    let gaps = if args.gaps == GapsArg::Zero { Gaps::Zero } else { Gaps::Omit };
    let step = extracted.step;
    let mut csv = csv::WriterBuilder::new().from_writer(Vec::new());
    if args.format == OutputFormat::Csv {
        csv.write_record(["metric", "key", "timestamp", "value"])?;
    }
    for s in &extracted.series {
        let key = s.key.join(",");
        if !args.key.is_empty() && !args.key.contains(&key) {
            continue;
        }
        let spec = &extracted.specs[s.metric];
        let metric = spec.to_string();
        match args.format {
            OutputFormat::Csv => {
                for (t, v) in s.points(step, gaps) {
                    csv.write_record([&metric, &key, &t.to_string(), &v.to_string()])?;
                }
            }
            OutputFormat::Jsonl => {
                let keys: serde_json::Map<String, serde_json::Value> = spec
                    .by
                    .iter()
                    .zip(&s.key)
                    .map(|(f, v)| (f.clone(), serde_json::Value::String(v.clone())))
                    .collect();
                for (t, v) in s.points(step, gaps) {
                    let value = if v.fract() == 0.0 && v.abs() < 9e15 {
                        serde_json::Value::from(v as i64)
                    } else {
                        serde_json::Value::from(v)
                    };
                    let row = serde_json::json!({
                        "metric": metric, "key": key, "keys": keys, "timestamp": t, "value": value,
                    });
                    out.extend_from_slice(row.to_string().as_bytes());
                    out.push(b'\n');
                }
            }
        }
    }
    if args.format == OutputFormat::Csv {
        out.extend_from_slice(&csv.into_inner().map_err(|e| anyhow!("{}", e.error()))?);
    }
    if out.is_empty() && !args.key.is_empty() && std::io::stderr().is_terminal() {
        warn("no series has the key(s) given with --key");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(extra: &[&str]) -> ExtractArgs {
        let mut argv = vec!["crest", "series", "extract", "x.json"];
        argv.extend_from_slice(extra);
        let cli = crate::cli::Cli::try_parse_from(argv).expect("parses");
        let crate::cli::Command::Series(s) = cli.command else { panic!("not series") };
        match s.command {
            crate::series::SeriesCommand::Extract(a) => *a,
            _ => panic!("not extract"),
        }
    }

    #[test]
    fn plan_reads_each_field_once() {
        let a = args(&[
            "-m",
            "count by src",
            "-m",
            "distinct(port) by src",
            "-m",
            "sum(bytes)",
            "--step",
            "1m",
        ]);
        let plan = Plan::resolve(&a).unwrap();
        assert_eq!(plan.projection.fields(), ["timestamp", "src", "port", "bytes"]);
        assert_eq!(plan.uses, [(false, false), (true, false), (true, false), (false, true)]);
        assert_eq!(plan.metrics, [(vec![1], None), (vec![1], Some(2)), (vec![], Some(3))]);
        assert_eq!(plan.config.step.seconds(), 60);
    }

    #[test]
    fn bad_flags_are_usage_errors() {
        let usage = |extra: &[&str]| match Plan::resolve(&args(extra)) {
            Err(Failure::Usage(m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(usage(&["-m", "count", "--step", "5x"]).starts_with("--step: invalid step '5x'"));
        assert!(usage(&["-m", "avg(x)", "--step", "1m"]).contains("unknown aggregate 'avg'"));
        assert!(usage(&["-m", "count", "-m", "count", "--step", "1m"]).contains("given twice"));
    }

    #[test]
    fn times_in_every_form() {
        let num = |t: &'static str| {
            RawValue::new(RawKind::Number { integer: !t.contains('.') }, t.as_bytes())
        };
        let s = |t: &'static str| RawValue::new(RawKind::Str { escaped: false }, t.as_bytes());
        let auto = |v| event_time(&v, TimeFormatArg::Auto);
        assert_eq!(auto(num("1700000000")), Ok(1_700_000_000));
        assert_eq!(auto(num("1700000000999")), Ok(1_700_000_000));
        assert_eq!(auto(num("1700000000.75")), Ok(1_700_000_000));
        assert_eq!(auto(num("-0.5")), Ok(-1));
        assert_eq!(auto(s("2023-11-14T22:13:20.5Z")), Ok(1_700_000_000));
        assert_eq!(auto(s("2023-11-14 22:13:20")), Ok(1_700_000_000));
        assert_eq!(auto(s("1700000000")), Ok(1_700_000_000));
        assert!(auto(s("yesterday")).unwrap_err().contains("found a string \"yesterday\""));
        assert!(auto(RawValue::new(RawKind::Null, b"null")).is_err());
        assert_eq!(event_time(&num("1700000000000"), TimeFormatArg::EpochMs), Ok(1_700_000_000));
        assert!(event_time(&s("x"), TimeFormatArg::EpochS).is_err());
    }

    #[test]
    fn numbers_from_numbers_and_numeric_strings() {
        let num = |t: &'static str| RawValue::new(RawKind::Number { integer: false }, t.as_bytes());
        let s = |t: &'static str| RawValue::new(RawKind::Str { escaped: false }, t.as_bytes());
        assert_eq!(event_number(&num("1.5")), Ok(1.5));
        assert_eq!(event_number(&s(" 42 ")), Ok(42.0));
        assert_eq!(
            event_number(&s("lots")),
            Err("expected a number, found a string \"lots\"".into())
        );
        assert!(event_number(&s("inf")).is_err());
        assert!(event_number(&s("NaN")).is_err());
        assert!(event_number(&num("1e999")).unwrap_err().contains("out of range"));
        assert!(event_number(&RawValue::new(RawKind::True, b"true")).is_err());
    }
}
