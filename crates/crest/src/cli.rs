//! Command-line arguments, as typed: parsed and checked for form, with no I/O.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use crest_core::time::{Day, WallTime};

/// crest finds peaks and anomalies in security telemetry.
#[derive(Debug, Parser)]
#[command(name = "crest", version, about, long_about = None, propagate_version = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// crest's commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Find waves of submissions per pair of dimensions (a drop-in for telemetry-peak-analyzer).
    #[command(infer_long_args = true)]
    Peaks(Box<PeaksArgs>),
    /// Metric series from events: extract, score, check and plot (Graphite, Seyren, kairos).
    Series(crate::series::SeriesArgs),
    /// Behavioural profiles per actor: collect, investigate, show (ScryWarden's model).
    Profile(crate::profile::ProfileArgs),
    /// Hunt in flow logs: scans, beacons, long connections, blacklisted peers, ranked hosts.
    Flows(Box<crate::flows::FlowsArgs>),
    /// The always-on service: sources → pipelines → sinks from one config file, with an HTTP API.
    Run(crate::run::RunArgs),
    /// Check a `crest run` config file, or print a commented example.
    Config(crate::run::ConfigArgs),
    /// Load JSON Lines into a NATS JetStream stream, partitioned by key (for `crest run`).
    Publish(crate::run::PublishArgs),
}

/// How to print peaks on standard output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// A readable table (the default on a terminal).
    Table,
    /// The `-o` JSON document.
    Json,
    /// One JSON finding per line.
    Jsonl,
}

/// How a record's time field encodes an instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum TimeFormatArg {
    /// Integer milliseconds since the Unix epoch.
    EpochMs,
    /// Seconds since the Unix epoch (fractions allowed).
    EpochS,
    /// RFC 3339 strings such as 2020-11-04T10:00:00Z.
    Rfc3339,
}

/// `crest peaks`: the flags of telemetry-peak-analyzer, then crest's own.
#[derive(Debug, Args)]
#[command(
    about = "Find waves of submissions per pair of dimensions (a drop-in for telemetry-peak-analyzer)",
    after_help = "Dates are calendar days in --tz (default UTC); the window is [start 00:00, end 00:00).\n\
                  Without -s/-e the window is the -d days ending -k days before today (UTC).\n\
                  Exit status: 0 when the analysis ran (peaks or not), 1 on an error, 2 on a usage error."
)]
pub(crate) struct PeaksArgs {
    /// Input files: a glob pattern (quote it), a path, or '-' for standard input. Repeatable.
    /// JSON arrays or JSON Lines, plain, gzip or zstd.
    #[arg(short = 'n', long = "backend-input", value_name = "GLOB", required = true)]
    pub(crate) input: Vec<String>,

    /// First day of the window (YYYY-MM-DD).
    #[arg(short = 's', long = "start-date", value_name = "DATE", value_parser = parse_day)]
    pub(crate) start: Option<Day>,

    /// Day after the window (YYYY-MM-DD): the window ends at its midnight.
    #[arg(short = 'e', long = "end-date", value_name = "DATE", value_parser = parse_day)]
    pub(crate) end: Option<Day>,

    /// Window length in days, when -s or -e is missing.
    #[arg(
        short = 'd',
        long = "delta",
        value_name = "DAYS",
        default_value_t = 1,
        allow_negative_numbers = true
    )]
    pub(crate) delta: i64,

    /// Days between today (UTC) and the window's end, when neither -s nor -e is given.
    #[arg(
        short = 'k',
        long = "delay",
        value_name = "DAYS",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    pub(crate) delay: i64,

    /// Submissions a pair needs to be a peak, for every pair (0: each pair's own baseline).
    #[arg(short = 't', long = "threshold", value_name = "N", allow_negative_numbers = true)]
    pub(crate) threshold: Option<i64>,

    /// Analyzer preset: 'file' (verdict × file type) or 'network' (impact × threat name), or
    /// the reference's class path.
    #[arg(
        short = 'a',
        long = "analyzer",
        value_name = "PRESET",
        default_value = "telemetry_peak_analyzer.analyzers.FileTypePeakAnalyzer"
    )]
    pub(crate) analyzer: String,

    /// Backend: 'json' (files), or the reference's class path.
    #[arg(
        short = 'b',
        long = "backend-class",
        value_name = "BACKEND",
        default_value = "telemetry_peak_analyzer.backends.JsonBackend"
    )]
    pub(crate) backend: String,

    /// The global table (baseline) to read at start and write back at the end.
    #[arg(
        short = 'm',
        long = "global-table",
        value_name = "PATH",
        default_value = "global_table.json"
    )]
    pub(crate) global_table: PathBuf,

    /// Also write the peaks to this file, as JSON.
    #[arg(short = 'o', long = "output-file", value_name = "PATH")]
    pub(crate) output: Option<PathBuf>,

    /// The reference's INI file for its Elasticsearch backend (accepted and ignored).
    #[arg(
        short = 'c',
        long = "config-file",
        value_name = "PATH",
        default_value = "./data/config.ini"
    )]
    pub(crate) config: PathBuf,

    /// Log debugging detail as well.
    #[arg(short = 'v', long = "verbose")]
    pub(crate) verbose: bool,

    /// Log warnings and errors only.
    #[arg(short = 'q', long = "quiet", conflicts_with = "verbose")]
    pub(crate) quiet: bool,

    /// Pin the clock: "YYYY-MM-DD HH:MM:SS" (UTC wall clock), as if the run happened then.
    #[arg(long, value_name = "DATETIME", value_parser = parse_wall_time)]
    pub(crate) now: Option<WallTime>,

    /// Time zone (IANA name) whose calendar days the records fall into.
    #[arg(long, value_name = "ZONE", default_value = "UTC")]
    pub(crate) tz: String,

    /// Field holding the record's time (default: the preset's, utc_timestamp).
    #[arg(long, value_name = "FIELD")]
    pub(crate) time: Option<String>,

    /// How the time field is written.
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t = TimeFormatArg::EpochMs)]
    pub(crate) time_format: TimeFormatArg,

    /// Field naming the sample: the thing submitted again and again (default: the preset's).
    #[arg(long, value_name = "FIELD")]
    pub(crate) sample: Option<String>,

    /// Dimension fields, comma-separated: one series per combination of values (default: the
    /// preset's two). Replaces the preset's threshold floors and cross dimensions.
    #[arg(long, value_name = "FIELDS", value_delimiter = ',')]
    pub(crate) dims: Option<Vec<String>>,

    /// Threshold floor for a value of the first dimension, as VALUE=N (repeatable).
    #[arg(long = "floor", value_name = "VALUE=N", value_parser = parse_floor)]
    pub(crate) floors: Vec<(String, i64)>,

    /// How to print the peaks on standard output [default: table on a terminal, nothing in a
    /// pipe].
    #[arg(long, value_name = "FORMAT", value_enum)]
    pub(crate) format: Option<Format>,

    /// Skip records with missing or invalid fields (and malformed JSON Lines) and count them,
    /// instead of stopping at the first.
    #[arg(long)]
    pub(crate) skip_invalid: bool,

    /// Neither read nor write a global table: build the baseline from the input's week before
    /// --now, every run.
    #[arg(long)]
    pub(crate) no_state: bool,

    /// Never show a progress bar.
    #[arg(long)]
    pub(crate) no_progress: bool,

    /// Worker threads (default: one per core).
    #[arg(short = 'j', long, value_name = "N")]
    pub(crate) threads: Option<usize>,
}

fn parse_day(s: &str) -> Result<Day, String> {
    Day::parse_lenient(s).map_err(|e| e.to_string())
}

fn parse_wall_time(s: &str) -> Result<WallTime, String> {
    WallTime::parse_cli(s).map_err(|e| e.to_string())
}

fn parse_floor(s: &str) -> Result<(String, i64), String> {
    let (value, n) = s.rsplit_once('=').ok_or_else(|| format!("expected VALUE=N, got '{s}'"))?;
    let n: i64 = n.trim().parse().map_err(|_| format!("'{n}' is not an integer"))?;
    Ok((value.to_string(), n))
}
