//! `crest peaks`: the shell around the peak detector.
//!
//! Two steps, as ripgrep splits its arguments: [`Settings::resolve`] turns the typed
//! arguments into a runnable plan without touching any file (so its rules are unit-tested),
//! then [`run`] does the I/O: expand inputs, load the global table, read once, detect, write.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, anyhow};
use crest_core::time::{Day, LocalClock, TimeFormat, WallTime};
use crest_peaks::{
    Floors, GlobalTable, PeakAccumulator, PeakConfig, PeakFields, PeakPlan, Preset, Window, detect,
    peaks_to_json,
};
use crest_sources::{Input, Progress, ReadOptions, Skipped};
use rayon::prelude::*;
use tracing::{debug, info, warn};

use crate::Failure;
use crate::cli::{Format, PeaksArgs, TimeFormatArg};
use crate::fsutil::{python_os_error, write_atomic};
use crate::progress::ProgressDisplay;

/// The reference's JSON backend, by crest's short name and by its class path.
const JSON_BACKENDS: [&str; 2] = ["json", "telemetry_peak_analyzer.backends.JsonBackend"];

/// What a `crest peaks` run will do, resolved from its arguments.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) preset: Preset,
    pub(crate) config: PeakConfig,
    pub(crate) window: Window,
    pub(crate) now: WallTime,
    pub(crate) threshold: Option<i64>,
    pub(crate) zone: String,
    /// Absolute path of the global table, or `None` with `--no-state`.
    pub(crate) global_table: Option<PathBuf>,
    pub(crate) output: Option<PathBuf>,
    pub(crate) format: Option<Format>,
}

impl Settings {
    /// Resolves the arguments against the working directory and the current UTC wall clock.
    pub(crate) fn resolve(
        args: &PeaksArgs,
        cwd: &Path,
        utc_now: WallTime,
    ) -> Result<Settings, Failure> {
        let preset = Preset::from_name(&args.analyzer).ok_or_else(|| {
            Failure::Run(anyhow!(
                "unknown analyzer '{}' (expected 'file', 'network', or the reference's \
                 telemetry_peak_analyzer.analyzers.FileTypePeakAnalyzer / NetworkTypePeakAnalyzer)",
                args.analyzer
            ))
        })?;
        if !JSON_BACKENDS.contains(&args.backend.as_str()) {
            let why = if args.backend.contains("tina") {
                "the Elasticsearch (tina) backends need VMware's private client; export the telemetry to JSON files and use the json backend"
            } else {
                "expected 'json' or telemetry_peak_analyzer.backends.JsonBackend"
            };
            return Err(Failure::Run(anyhow!("unsupported backend '{}': {why}", args.backend)));
        }

        let mut config = PeakConfig::preset(preset);
        config.time_format = match args.time_format {
            TimeFormatArg::EpochMs => TimeFormat::EpochMillis,
            TimeFormatArg::EpochS => TimeFormat::EpochSeconds,
            TimeFormatArg::Rfc3339 => TimeFormat::Rfc3339,
        };
        let fields: &mut PeakFields = &mut config.fields;
        if let Some(time) = &args.time {
            fields.time = time.clone();
        }
        if let Some(sample) = &args.sample {
            fields.sample = sample.clone();
        }
        if let Some(dims) = &args.dims {
            let dims: Vec<String> = dims.iter().map(|d| d.trim().to_string()).collect();
            if dims.is_empty() || dims.iter().any(String::is_empty) {
                return Err(Failure::Usage(
                    "--dims needs one or more field names, comma-separated".into(),
                ));
            }
            fields.dims = dims;
            fields.cross.clear();
            config.floors = Floors::default();
        }
        for (value, floor) in &args.floors {
            config.floors.set(value.clone(), *floor);
        }

        let now = args.now.unwrap_or(utc_now);
        let window =
            window(args.start, args.end, args.delta, args.delay, now).map_err(Failure::Run)?;
        let zone = args.tz.clone();
        Ok(Settings {
            preset,
            config,
            window,
            now,
            threshold: args.threshold,
            zone,
            global_table: (!args.no_state)
                .then(|| crest_sources::absolutize(&args.global_table, cwd)),
            output: args.output.as_ref().map(|o| crest_sources::absolutize(o, cwd)),
            format: args.format,
        })
    }
}

/// The window under test: both dates given, one completed with `-d` days, or the `-d` days
/// ending `-k` days before today.
fn window(
    start: Option<Day>,
    end: Option<Day>,
    delta: i64,
    delay: i64,
    now: WallTime,
) -> anyhow::Result<Window> {
    let out_of_range = || anyhow!("the window falls outside the years 1..9999 (check -d and -k)");
    let (s, e) = match (start, end) {
        (Some(s), Some(e)) => (s, e),
        (Some(s), None) => (s, s.add_days(delta).ok_or_else(out_of_range)?),
        (None, Some(e)) => (e.add_days(-delta).ok_or_else(out_of_range)?, e),
        (None, None) => {
            // As the reference: no check, so -d 0 gives an empty window.
            let end = now.add_days(-delay).ok_or_else(out_of_range)?.day();
            let start = end.add_days(-delta).ok_or_else(out_of_range)?;
            return Ok(Window { start: start.midnight(), end: end.midnight() });
        }
    };
    if e <= s {
        return Err(anyhow!("the end date {e} must be after the start date {s}"));
    }
    Ok(Window { start: s.midnight(), end: e.midnight() })
}

/// Runs `crest peaks`.
pub(crate) fn run(args: &PeaksArgs) -> Result<(), Failure> {
    let cwd = std::env::current_dir()
        .context("cannot read the working directory")
        .map_err(Failure::Run)?;
    let utc_now = WallTime::from_micros(jiff::Timestamp::now().as_microsecond());
    let settings = Settings::resolve(args, &cwd, utc_now)?;
    // UTC needs no time zone database.
    let tz = if settings.zone == "UTC" {
        jiff::tz::TimeZone::UTC
    } else {
        jiff::tz::TimeZone::get(&settings.zone).map_err(|e| {
            Failure::Usage(format!("--tz: unknown time zone '{}': {e}", settings.zone))
        })?
    };
    if let Some(n) = args.threads {
        // Only fails if a pool exists already, which cannot happen this early.
        let _ = rayon::ThreadPoolBuilder::new().num_threads(n.max(1)).build_global();
    }
    execute(args, &settings, &cwd, LocalClock::new(tz)).map_err(Failure::Run)
}

fn execute(
    args: &PeaksArgs,
    settings: &Settings,
    cwd: &Path,
    clock: LocalClock,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let window = settings.window;
    let t = settings.threshold.map_or("None".to_string(), |t| t.to_string());
    info!("Loading Peak Analyzer from {} to {} with t={t}", window.start, window.end);
    info!("Loading backend 'JsonBackend'");
    let inputs = crest_sources::expand(&args.input, cwd)?;
    info!("Loaded files:");
    for input in &inputs {
        info!("\t{}", input.name());
    }
    info!("Loading analyzer '{}' with backend 'JsonBackend'", settings.preset.class_name());

    let depth = settings.config.fields.dims.len();
    let mut global = None;
    if let Some(path) = &settings.global_table {
        info!("Loading global tables from file '{}'", path.display());
        match std::fs::read(path) {
            Ok(bytes) => {
                let text = String::from_utf8(bytes).map_err(|_| {
                    anyhow!("{}: invalid global table: not UTF-8 text", path.display())
                })?;
                let table = GlobalTable::from_json(&text, depth)
                    .map_err(|e| anyhow!("{}: invalid global table: {e}", path.display()))?;
                global = Some(table);
            }
            Err(e) => {
                info!("\tFailed: {}", python_os_error(&e, path));
                info!("Loading global tables from the backend");
            }
        }
    } else {
        info!("Loading global tables from the backend");
    }

    info!("Loading local tables");
    let mut plan = PeakPlan::new(settings.config.clone(), window, clock);
    if global.is_none() {
        plan = plan.with_baseline(settings.now);
    }
    let (tallies, skipped) = read_tallies(args, &plan, &inputs)?;
    debug!(
        "read {} pair(s) in the window and {} baseline day(s) in {:.3}s",
        tallies.local.entries.len(),
        tallies.baseline_days.len(),
        started.elapsed().as_secs_f64()
    );
    let mut global = match global {
        Some(g) => g,
        None => GlobalTable::from_baseline(
            &tallies.baseline_days,
            settings.now,
            depth,
            &settings.config.floors,
        )
        .map_err(|e| anyhow!("baseline: {e}"))?,
    };

    let peaks = detect(&tallies.local, &global, settings.threshold);
    info!("Getting peaks");
    for peak in &peaks {
        for line in peak.log_lines() {
            info!("{line}");
        }
    }
    if let Some(path) = &settings.output {
        info!("Saving output to: {}", path.display());
        write_atomic(path, peaks_to_json(&peaks).as_bytes())?;
    }
    info!("Refreshing global tables");
    global
        .refresh(&tallies.local, window, &settings.config.floors)
        .map_err(|e| anyhow!("refreshing the global table: {e}"))?;
    if let Some(path) = &settings.global_table {
        info!("Saving global tables to '{}'", path.display());
        write_atomic(path, global.to_json().as_bytes())?;
    }

    let format =
        settings.format.or_else(|| std::io::stdout().is_terminal().then_some(Format::Table));
    let dims = &settings.config.fields.dims;
    let text = match format {
        None => String::new(),
        Some(Format::Json) => peaks_to_json(&peaks) + "\n",
        Some(Format::Jsonl) => crate::output::jsonl(&peaks, dims, window),
        Some(Format::Table) => {
            crate::output::table(&peaks, dims, window, &settings.zone, tallies.local.entries.len())
        }
    };
    print_stdout(&text)?;
    if skipped.total > 0 {
        warn!("Skipped {} invalid record(s): {}", skipped.total, skipped.summary());
    }
    debug!("done in {:.3}s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Reads every input once and merges the parts' counts.
fn read_tallies(
    args: &PeaksArgs,
    plan: &PeakPlan,
    inputs: &[Input],
) -> anyhow::Result<(crest_peaks::Tallies, Skipped)> {
    let counters = Arc::new(Progress::default());
    let total = crate::progress::total_bytes(inputs);
    let display =
        ProgressDisplay::start(Arc::clone(&counters), total, !args.no_progress && !args.quiet);
    let options = ReadOptions {
        skip_invalid: args.skip_invalid,
        progress: Some(counters),
        ..Default::default()
    };
    let read_started = Instant::now();
    let result = crest_sources::read(inputs, &plan.projection(), &options, || plan.accumulator());
    display.finish();
    let mut readout = result?;
    debug!(
        "scanned {} record(s), {} byte(s) in {:.3}s",
        readout.records,
        readout.bytes,
        read_started.elapsed().as_secs_f64()
    );
    let parts = std::mem::take(&mut readout.parts);
    let merged: Option<Result<PeakAccumulator<'_>, _>> =
        parts.into_par_iter().map(Ok).try_reduce_with(|mut a, b| a.merge(b).map(|()| a));
    let merged = merged.transpose().map_err(|e| anyhow!("{e}"))?;
    let tallies = merged.unwrap_or_else(|| plan.accumulator()).finish();
    let mut skipped = std::mem::take(&mut readout.skipped);
    if let Some(first) = &tallies.unusable.first {
        let location = readout.locate(first.order, first.seq);
        if !args.skip_invalid {
            return Err(anyhow!("{location}: {}", first.error));
        }
        skipped.absorb(Skipped {
            total: tallies.unusable.count,
            by_cause: [(first.error.cause(), tallies.unusable.count)].into_iter().collect(),
            first: Some((location, first.error.to_string())),
        });
    }
    Ok((tallies, skipped))
}

/// Writes to standard output; a closed pipe (`| head`) is not an error.
fn print_stdout(text: &str) -> anyhow::Result<()> {
    if text.is_empty() {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to standard output"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn settings(args: &[&str]) -> Result<Settings, Failure> {
        let mut argv = vec!["crest", "peaks", "-n", "x.json"];
        argv.extend_from_slice(args);
        let cli = crate::cli::Cli::try_parse_from(argv).expect("parses");
        let crate::cli::Command::Peaks(p) = cli.command else { unreachable!("a peaks command") };
        Settings::resolve(
            &p,
            Path::new("/run"),
            WallTime::parse_cli("2020-11-05 13:30:00").unwrap(),
        )
    }

    fn span(s: &Settings) -> String {
        format!("{} {}", s.window.start, s.window.end)
    }

    #[test]
    fn windows() {
        let s = settings(&["-s", "2020-11-04", "-e", "2020-11-05"]).ok().unwrap();
        assert_eq!(span(&s), "2020-11-04 00:00:00 2020-11-05 00:00:00");
        // No dates: the -d days ending -k days before today (UTC).
        let s = settings(&["-d", "3", "-k", "1"]).ok().unwrap();
        assert_eq!(span(&s), "2020-11-01 00:00:00 2020-11-04 00:00:00");
        // -d 0 gives an empty window, like the reference.
        let s = settings(&["-d", "0"]).ok().unwrap();
        assert_eq!(span(&s), "2020-11-05 00:00:00 2020-11-05 00:00:00");
        // A lone -s or -e is completed with -d (the reference ignores it).
        let s = settings(&["-s", "2020-11-01", "-d", "2"]).ok().unwrap();
        assert_eq!(span(&s), "2020-11-01 00:00:00 2020-11-03 00:00:00");
        let s = settings(&["-e", "2020-11-01"]).ok().unwrap();
        assert_eq!(span(&s), "2020-10-31 00:00:00 2020-11-01 00:00:00");
        // --now pins today.
        let s = settings(&["--now", "2020-11-05 00:00:00"]).ok().unwrap();
        assert_eq!(span(&s), "2020-11-04 00:00:00 2020-11-05 00:00:00");
        assert!(matches!(
            settings(&["-s", "2020-11-05", "-e", "2020-11-05"]),
            Err(Failure::Run(_))
        ));
        assert!(matches!(settings(&["-s", "2020-11-05", "-d", "-1"]), Err(Failure::Run(_))));
    }

    #[test]
    fn presets_and_fields() {
        let s = settings(&["-a", "network"]).ok().unwrap();
        assert_eq!(s.config.fields.dims, ["event.impact", "threat.name.keyword"]);
        let s = settings(&["-a", "telemetry_peak_analyzer.analyzers.NetworkTypePeakAnalyzer"])
            .ok()
            .unwrap();
        assert_eq!(s.preset, Preset::Network);
        let s = settings(&["--dims", "a,b,c", "--sample", "h", "--time", "ts", "--floor", "x=5"])
            .ok()
            .unwrap();
        assert_eq!(s.config.fields.dims, ["a", "b", "c"]);
        assert!(s.config.fields.cross.is_empty());
        assert_eq!((s.config.fields.sample.as_str(), s.config.fields.time.as_str()), ("h", "ts"));
        assert_eq!((s.config.floors.get("x"), s.config.floors.get("malicious")), (5, 0));
        assert!(matches!(settings(&["-a", "nope.Analyzer"]), Err(Failure::Run(_))));
        assert!(matches!(
            settings(&["-b", "telemetry_peak_analyzer.backends.tina.TinaBackend"]),
            Err(Failure::Run(_))
        ));
        assert!(settings(&["-b", "json"]).is_ok());
    }

    #[test]
    fn paths_are_absolute_and_no_state_drops_the_table() {
        let s = settings(&["-m", "./t/../gst.json", "-o", "out.json"]).ok().unwrap();
        assert_eq!(s.global_table.unwrap(), PathBuf::from("/run/gst.json"));
        assert_eq!(s.output.unwrap(), PathBuf::from("/run/out.json"));
        assert!(settings(&["--no-state"]).ok().unwrap().global_table.is_none());
    }
}
