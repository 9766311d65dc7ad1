//! `crest run`'s config file: named sources, pipelines and sinks, in TOML.
//!
//! [`Config::parse`] reads and validates a whole file; every error names the key (`
//! pipelines.logins.step`) and, where the file has it, the line. Unknown keys are errors, so a
//! typo never silently falls back to a default. `crest config example` prints [`EXAMPLE`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use crest_series::detect::{AnyDetector, Method, MethodParams};
use serde::{Deserialize, Deserializer};

/// A commented example of every section, printed by `crest config example`.
pub const EXAMPLE: &str = include_str!("example.toml");

/// The whole config file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Service-wide settings.
    #[serde(default)]
    pub service: ServiceConfig,
    /// Where events come from, by name.
    #[serde(default)]
    pub sources: BTreeMap<String, SourceConfig>,
    /// What watches the events, by name.
    #[serde(default)]
    pub pipelines: BTreeMap<String, PipelineConfig>,
    /// Where findings go, by name.
    #[serde(default)]
    pub sinks: BTreeMap<String, SinkConfig>,
}

/// The `[service]` table.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceConfig {
    /// Where checkpoints live (default: crest's data directory, or `--data-dir`).
    pub data_dir: Option<PathBuf>,
    /// How often pipeline state and source positions are checkpointed.
    pub checkpoint_interval: Duration,
    /// The HTTP address (`127.0.0.1:8080`); no HTTP server when absent.
    pub listen: Option<String>,
    /// The environment variable holding the API token; required when `listen` is not a
    /// loopback address.
    pub token_env: Option<String>,
    /// Events per batch handed from a source to the pipelines.
    pub batch_size: usize,
    /// Batches waiting between the sources and the pipelines (backpressure beyond).
    pub queue: usize,
    /// Findings kept in memory for the HTTP API (the oldest go first).
    pub findings_kept: usize,
    /// Where checkpoints go: the data directory (default) or PostgreSQL, shared by workers.
    pub store: StoreConfig,
}

/// The `[service.store]` table.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `embedded` (files in the data directory) or `postgres`.
    pub kind: StoreKind,
    /// PostgreSQL connection string (`host=127.0.0.1 user=postgres dbname=test`).
    pub url: Option<String>,
    /// PostgreSQL schema for crest's tables.
    pub schema: String,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig { kind: StoreKind::Embedded, url: None, schema: "crest_run".into() }
    }
}

/// Where checkpoints are kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// A file in the data directory, written atomically.
    #[default]
    Embedded,
    /// A row per worker partition in PostgreSQL, each owned by one worker at a time.
    Postgres,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            data_dir: None,
            checkpoint_interval: Duration(10),
            listen: None,
            token_env: None,
            batch_size: 1024,
            queue: 16,
            findings_kept: 10_000,
            store: StoreConfig::default(),
        }
    }
}

/// One `[sources.NAME]` table.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum SourceConfig {
    /// A file of JSON Lines (gzip or zstd by extension), read once or followed.
    File {
        /// The file.
        path: PathBuf,
        /// Keep reading as the file grows, and reopen it when it is rotated.
        #[serde(default)]
        follow: bool,
        /// Skip (and count) lines that are not JSON objects instead of stopping.
        #[serde(default)]
        skip_invalid: bool,
    },
    /// JSON Lines on standard input.
    Stdin {
        /// Skip (and count) lines that are not JSON objects instead of stopping.
        #[serde(default)]
        skip_invalid: bool,
    },
    /// A NATS JetStream stream, read by a durable pull consumer; a message is acknowledged
    /// only once the checkpoint holding its effect is written.
    Jetstream(JetstreamSource),
}

/// `type = "jetstream"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JetstreamSource {
    /// The server.
    #[serde(default = "default_nats_url")]
    pub url: String,
    /// The stream's name.
    pub stream: String,
    /// The subject read (wildcards allowed); with `partitions`, the prefix of the partitions'
    /// subjects `SUBJECT.0` … `SUBJECT.N-1`.
    pub subject: String,
    /// How many partitions the subject is split into (0: none); a worker started with
    /// `--partition P` reads `SUBJECT.P` only.
    #[serde(default)]
    pub partitions: u32,
    /// The durable consumer's name (a partition's worker appends `-P`).
    #[serde(default = "default_durable")]
    pub durable: String,
    /// Create the stream when it does not exist (subjects `SUBJECT` or `SUBJECT.*`).
    #[serde(default = "default_true")]
    pub create_stream: bool,
    /// How long the server waits for an acknowledgement before delivering again (default:
    /// three checkpoint intervals, at least 30s).
    pub ack_wait: Option<Duration>,
    /// Skip (and count) messages that are not JSON objects instead of stopping.
    #[serde(default)]
    pub skip_invalid: bool,
}

fn default_nats_url() -> String {
    "nats://127.0.0.1:4222".into()
}
fn default_durable() -> String {
    "crest".into()
}
fn default_true() -> bool {
    true
}

/// One `[pipelines.NAME]` table: a detector and its parameters.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "detector", rename_all = "lowercase", deny_unknown_fields)]
pub enum PipelineConfig {
    /// Counts (or sums) per key per time step, each series scored by a streaming detector.
    Series(SeriesConfig),
    /// Submissions per pair of dimension values per window against the pair's baseline
    /// (telemetry-peak-analyzer's rules).
    Peaks(PeaksConfig),
}

impl PipelineConfig {
    /// The sources feeding this pipeline.
    pub fn sources(&self) -> &[String] {
        match self {
            PipelineConfig::Series(s) => &s.sources,
            PipelineConfig::Peaks(p) => &p.sources,
        }
    }

    /// The detector family's name, as findings carry it.
    pub fn detector(&self) -> &'static str {
        match self {
            PipelineConfig::Series(_) => "series",
            PipelineConfig::Peaks(_) => "peaks",
        }
    }

    /// The least score that makes a finding (charts mark the points at or above it).
    pub fn threshold(&self) -> f64 {
        match self {
            PipelineConfig::Series(s) => s.threshold,
            // A peak window's chart point has score 1, every other window's 0.
            PipelineConfig::Peaks(_) => 1.0,
        }
    }
}

/// A series pipeline: `detector = "series"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesConfig {
    /// The sources feeding it.
    pub sources: Vec<String>,
    /// Field conditions an event must meet (a value, or a list of accepted values).
    #[serde(default)]
    pub filter: BTreeMap<String, Match>,
    /// The field holding the event's time (RFC 3339 text or epoch seconds/milliseconds).
    #[serde(default = "default_time_field")]
    pub time_field: String,
    /// The fields naming a series (one series per distinct combination); none: one series.
    #[serde(default)]
    pub key: Vec<String>,
    /// A numeric field to sum per step; absent: events are counted.
    pub value_field: Option<String>,
    /// The series' step.
    pub step: Duration,
    /// The detector (`ensemble`, `hw`, `stdev`, `cv`, `timeshift`, `mad`, `seasonal`).
    #[serde(default = "default_method")]
    pub method: String,
    /// Season length (`hw`, `ensemble`).
    pub season: Option<Duration>,
    /// Window in points (`stdev`, `cv`, `mad`, `ensemble`).
    pub window: Option<usize>,
    /// Band half-width (`hw`, `seasonal`).
    pub delta: Option<f64>,
    /// Least share of valid points in a window (`stdev`, `cv`).
    pub window_tolerance: Option<f64>,
    /// Shift (`timeshift`).
    pub shift: Option<Duration>,
    /// Time without scores at the start of each series (default: the method's own).
    pub warmup: Option<Duration>,
    /// Least score that makes a finding.
    #[serde(default = "default_threshold")]
    pub threshold: f64,
    /// Least score of a `high` finding (below it: `medium`).
    #[serde(default = "default_high")]
    pub high: f64,
    /// How long after a step ends events may still arrive for it.
    #[serde(default)]
    pub lateness: Duration,
    /// The most series kept; events of further keys are counted and dropped.
    #[serde(default = "default_max_keys")]
    pub max_keys: usize,
    /// Sample events kept per step as a finding's evidence.
    #[serde(default = "default_evidence")]
    pub evidence: usize,
}

impl SeriesConfig {
    /// The detector's method.
    pub fn method(&self) -> Result<Method, String> {
        Method::parse(&self.method).ok_or_else(|| {
            format!(
                "unknown method '{}' (one of: ensemble, hw, stdev, cv, timeshift, mad, seasonal)",
                self.method
            )
        })
    }

    /// The detector's parameters, defaults filled in.
    pub fn params(&self) -> MethodParams {
        let d = MethodParams::default();
        MethodParams {
            season_s: self.season.map_or(d.season_s, |s| s.0),
            delta: self.delta.unwrap_or(d.delta),
            window: self.window.unwrap_or(d.window),
            window_tolerance: self.window_tolerance.unwrap_or(d.window_tolerance),
            shift_s: self.shift.map_or(d.shift_s, |s| s.0),
            warmup_s: self.warmup.map(|w| w.0),
        }
    }
}

fn default_time_field() -> String {
    "time".into()
}
fn default_method() -> String {
    "ensemble".into()
}
fn default_threshold() -> f64 {
    0.9
}
fn default_high() -> f64 {
    0.99
}
fn default_max_keys() -> usize {
    100_000
}
fn default_evidence() -> usize {
    3
}

/// A peaks pipeline: `detector = "peaks"`.
///
/// Each tumbling `window` (UTC-aligned), every pair of `dimensions` values counts its
/// submissions (events) and distinct samples (`sample_field` values). When the window closes,
/// each pair is checked against its baseline with telemetry-peak-analyzer's rules, then the
/// window is folded into the baseline: the same as running `crest peaks` once per window with
/// a kept `global_table.json`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeaksConfig {
    /// The sources feeding it.
    pub sources: Vec<String>,
    /// Field conditions an event must meet (a value, or a list of accepted values).
    #[serde(default)]
    pub filter: BTreeMap<String, Match>,
    /// `file` (sandbox submissions: `task.severity` × `file.llfile_type`, samples
    /// `file.sha1`) or `network` (`event.impact` × `threat.name.keyword`, samples `event.id`):
    /// the default fields and floors.
    #[serde(default = "default_preset")]
    pub preset: String,
    /// The field holding the event's time (default `utc_timestamp`; epoch milliseconds,
    /// seconds or RFC 3339 text).
    pub time_field: Option<String>,
    /// The field naming the sample submitted (default: the preset's).
    pub sample_field: Option<String>,
    /// The fields whose values make a pair (default: the preset's two).
    pub dimensions: Option<Vec<String>>,
    /// Least threshold per value of the first dimension (default: the preset's, `malicious`
    /// 90 and `benign` 500 for files).
    pub floors: Option<BTreeMap<String, i64>>,
    /// The window's length (default one day, as the reference runs daily).
    #[serde(default = "default_peak_window")]
    pub window: Duration,
    /// Submissions every pair needs to be a peak, instead of its baseline's suggestion
    /// (the reference's `-t`; 0 means none).
    pub threshold: Option<i64>,
    /// How long after a window ends events may still arrive for it.
    #[serde(default)]
    pub lateness: Duration,
    /// A telemetry-peak-analyzer `global_table.json` to start the baseline from (read once,
    /// when the pipeline has no checkpoint); relative to the config file.
    pub global_table: Option<PathBuf>,
    /// Least score of a `high` finding. A peak's score is how unlikely fewer submissions
    /// would be: `P(X < submissions)` for `X` Poisson with the baseline's mean; below 0.9 a
    /// peak is `low`, below `high` `medium`.
    #[serde(default = "default_high")]
    pub high: f64,
    /// The most pairs counted in the open windows; events of further pairs are counted and
    /// dropped.
    #[serde(default = "default_max_keys")]
    pub max_pairs: usize,
    /// Most submitted samples kept as a finding's evidence.
    #[serde(default = "default_evidence")]
    pub evidence: usize,
}

impl PeaksConfig {
    /// The preset named by `preset`.
    pub fn preset(&self) -> Result<crest_peaks::Preset, String> {
        crest_peaks::Preset::from_name(&self.preset)
            .ok_or_else(|| format!("unknown preset '{}' (one of: file, network)", self.preset))
    }

    /// The time field.
    pub fn time_field(&self) -> &str {
        self.time_field.as_deref().unwrap_or("utc_timestamp")
    }

    /// The sample field.
    pub fn sample_field(&self) -> String {
        self.sample_field.clone().unwrap_or_else(|| self.preset_or_file().fields().sample)
    }

    /// The dimension fields.
    pub fn dimensions(&self) -> Vec<String> {
        self.dimensions.clone().unwrap_or_else(|| self.preset_or_file().fields().dims)
    }

    /// The threshold floors.
    pub fn floors(&self) -> crest_peaks::Floors {
        match &self.floors {
            Some(f) => crest_peaks::Floors::new(f.clone()),
            None => self.preset_or_file().floors(),
        }
    }

    fn preset_or_file(&self) -> crest_peaks::Preset {
        self.preset().unwrap_or(crest_peaks::Preset::File)
    }
}

fn default_preset() -> String {
    "file".into()
}
fn default_peak_window() -> Duration {
    Duration(86_400)
}

/// What a filter accepts for a field: one value or any of several.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Match {
    /// Exactly this value.
    One(Scalar),
    /// Any of these values.
    Any(Vec<Scalar>),
}

/// A plain value in a filter.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    /// A boolean.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// A number with a fraction.
    Float(f64),
    /// Text.
    Text(String),
}

/// One `[sinks.NAME]` table.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    /// What kind of sink.
    #[serde(rename = "type")]
    pub kind: SinkType,
    /// The file (`jsonl`, `csv`).
    pub path: Option<PathBuf>,
    /// The URL (`webhook`: `http://` or `https://`; `jetstream`: the NATS server, default
    /// `nats://127.0.0.1:4222`).
    pub url: Option<String>,
    /// The subject findings are published to (`jetstream`).
    pub subject: Option<String>,
    /// Attempts per finding before it is counted as failed (`webhook`).
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// The first wait between attempts; it doubles each time (`webhook`).
    #[serde(default = "default_backoff")]
    pub backoff: Duration,
    /// The most time one request may take (`webhook`).
    #[serde(default = "default_timeout")]
    pub timeout: Duration,
    /// The pipelines whose findings go here (default: all).
    #[serde(default)]
    pub pipelines: Vec<String>,
    /// Findings below this severity are not sent here.
    #[serde(default)]
    pub min_severity: crate::finding::Severity,
}

/// The kinds of sink.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SinkType {
    /// One line per finding on standard output.
    Terminal,
    /// One JSON object per line, appended to a file.
    Jsonl,
    /// CSV with a header, appended to a file.
    Csv,
    /// Each finding POSTed as JSON, retried with exponential backoff.
    Webhook,
    /// Each finding published to a JetStream subject (message id: the finding's id, so the
    /// stream drops a finding published twice within its duplicate window).
    Jetstream,
}

fn default_attempts() -> u32 {
    5
}
fn default_backoff() -> Duration {
    Duration(1)
}
fn default_timeout() -> Duration {
    Duration(10)
}

/// A duration in whole seconds, written as `30s`, `5min`, `1h`, `2d`, `1w`…
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(pub i64);

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        crest_series::parse_duration(&text).ok().filter(|&s| s >= 0).map(Duration).ok_or_else(
            || {
                serde::de::Error::custom(format!(
                    "'{text}' is not a duration (e.g. \"30s\", \"5min\", \"1h\", \"2d\")"
                ))
            },
        )
    }
}

/// A config that cannot be used, with where.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub struct ConfigError {
    /// The file, as given.
    pub file: String,
    /// The line (from 1), when known.
    pub line: Option<usize>,
    /// The key at fault (`pipelines.logins.step`), when known.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl Config {
    /// Parses and validates a config file's text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| text[..s.start.min(text.len())].lines().count().max(1));
            ConfigError {
                file: file.into(),
                line,
                key: None,
                message: e.message().trim().to_string(),
            }
        })?;
        config.validate(text, file)?;
        Ok(config)
    }

    fn validate(&self, text: &str, file: &str) -> Result<(), ConfigError> {
        let err = |table: &str, name: &str, key: &str, message: String| ConfigError {
            file: file.into(),
            line: line_of(text, &format!("{table}.{name}"), key),
            key: Some(format!("{table}.{name}.{key}")),
            message,
        };
        if self.pipelines.is_empty() {
            return Err(ConfigError {
                file: file.into(),
                line: None,
                key: Some("pipelines".into()),
                message: "no pipeline is defined: add a [pipelines.NAME] table".into(),
            });
        }
        let s = &self.service;
        if s.batch_size == 0 || s.queue == 0 {
            return Err(err(
                "service",
                "",
                "batch_size",
                "batch_size and queue must be ≥ 1".into(),
            ));
        }
        if s.checkpoint_interval.0 == 0 {
            return Err(err("service", "", "checkpoint_interval", "must be at least 1s".into()));
        }
        if s.store.kind == StoreKind::Postgres && s.store.url.is_none() {
            return Err(err("service", "store", "url", "a postgres store needs 'url'".into()));
        }
        let mut stdin = 0;
        for (name, source) in &self.sources {
            if let SourceConfig::File { path, follow: true, .. } = source
                && path.extension().is_some_and(|e| e == "gz" || e == "zst" || e == "zstd")
            {
                return Err(err(
                    "sources",
                    name,
                    "follow",
                    "a compressed file cannot be followed (it is read once)".into(),
                ));
            }
            if let SourceConfig::Jetstream(j) = source
                && (j.stream.is_empty() || j.stream.contains(['.', ' ', '*', '>']))
            {
                return Err(err(
                    "sources",
                    name,
                    "stream",
                    format!("'{}' is not a stream name (no dots, spaces or wildcards)", j.stream),
                ));
            }
            if let SourceConfig::Stdin { .. } = source {
                stdin += 1;
                if stdin > 1 {
                    return Err(err(
                        "sources",
                        name,
                        "type",
                        "only one source can read standard input".into(),
                    ));
                }
            }
        }
        for (name, pipeline) in &self.pipelines {
            if pipeline.sources().is_empty() {
                return Err(err("pipelines", name, "sources", "name at least one source".into()));
            }
            for source in pipeline.sources() {
                if !self.sources.contains_key(source) {
                    return Err(err(
                        "pipelines",
                        name,
                        "sources",
                        format!("no source is named '{source}' (known: {})", names(&self.sources)),
                    ));
                }
            }
            match pipeline {
                PipelineConfig::Series(c) => {
                    let method = c.method().map_err(|m| err("pipelines", name, "method", m))?;
                    if c.step.0 <= 0 {
                        return Err(err("pipelines", name, "step", "must be at least 1s".into()));
                    }
                    AnyDetector::new(method, &c.params(), c.step.0)
                        .map_err(|e| err("pipelines", name, "method", e.to_string()))?;
                    for (key, v) in [("threshold", c.threshold), ("high", c.high)] {
                        if !(0.0..=1.0).contains(&v) {
                            return Err(err(
                                "pipelines",
                                name,
                                key,
                                format!("{v} is not in [0, 1]"),
                            ));
                        }
                    }
                    if c.max_keys == 0 {
                        return Err(err("pipelines", name, "max_keys", "must be ≥ 1".into()));
                    }
                }
                PipelineConfig::Peaks(c) => {
                    c.preset().map_err(|m| err("pipelines", name, "preset", m))?;
                    if c.window.0 <= 0 {
                        return Err(err("pipelines", name, "window", "must be at least 1s".into()));
                    }
                    if c.dimensions().is_empty() {
                        return Err(err(
                            "pipelines",
                            name,
                            "dimensions",
                            "name at least one field".into(),
                        ));
                    }
                    if !(0.0..=1.0).contains(&c.high) {
                        return Err(err(
                            "pipelines",
                            name,
                            "high",
                            format!("{} is not in [0, 1]", c.high),
                        ));
                    }
                    if c.max_pairs == 0 {
                        return Err(err("pipelines", name, "max_pairs", "must be ≥ 1".into()));
                    }
                }
            }
        }
        for (name, sink) in &self.sinks {
            for p in &sink.pipelines {
                if !self.pipelines.contains_key(p) {
                    return Err(err(
                        "sinks",
                        name,
                        "pipelines",
                        format!("no pipeline is named '{p}' (known: {})", names(&self.pipelines)),
                    ));
                }
            }
            let needs = |key: &str, present: bool, wanted: bool| {
                if present == wanted {
                    return Ok(());
                }
                let kind = format!("{:?}", sink.kind).to_lowercase();
                Err(err(
                    "sinks",
                    name,
                    key,
                    if wanted {
                        format!("a {kind} sink needs '{key}'")
                    } else {
                        format!("a {kind} sink has no '{key}'")
                    },
                ))
            };
            let file = matches!(sink.kind, SinkType::Jsonl | SinkType::Csv);
            needs("path", sink.path.is_some(), file)?;
            if sink.kind != SinkType::Jetstream {
                needs("url", sink.url.is_some(), sink.kind == SinkType::Webhook)?;
            }
            needs("subject", sink.subject.is_some(), sink.kind == SinkType::Jetstream)?;
            if let Some(url) = &sink.url
                && sink.kind == SinkType::Webhook
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                return Err(err("sinks", name, "url", format!("'{url}' is not an http(s) URL")));
            }
            if sink.attempts == 0 {
                return Err(err("sinks", name, "attempts", "must be ≥ 1".into()));
            }
        }
        Ok(())
    }
}

fn names<V>(map: &BTreeMap<String, V>) -> String {
    if map.is_empty() {
        return "none".into();
    }
    map.keys().map(String::as_str).collect::<Vec<_>>().join(", ")
}

/// The line of `key` inside table `[table]` (or the table's header, or nothing).
fn line_of(text: &str, table: &str, key: &str) -> Option<usize> {
    let table = table.trim_end_matches('.');
    let mut header = None;
    let mut inside = false;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if let Some(h) = t.strip_prefix('[') {
            let h = h.trim_start_matches('[').split(']').next().unwrap_or("").trim();
            let h: String = h.chars().filter(|c| !matches!(c, '"' | '\'' | ' ')).collect();
            inside = h == table;
            if inside {
                header = Some(i + 1);
            }
            continue;
        }
        if inside {
            let k = t.split('=').next().unwrap_or("").trim();
            if k == key {
                return Some(i + 1);
            }
        }
    }
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_is_valid() {
        let c = Config::parse(EXAMPLE, "example.toml").unwrap();
        assert!(!c.pipelines.is_empty());
    }

    #[test]
    fn errors_name_the_key_and_line() {
        let text = "[sources.a]\ntype = \"stdin\"\n\n[pipelines.p]\ndetector = \"series\"\n\
                    sources = [\"a\"]\nstep = \"5min\"\nthreshold = 1.5\n";
        let e = Config::parse(text, "c.toml").unwrap_err();
        assert_eq!(e.to_string(), "c.toml:8: pipelines.p.threshold: 1.5 is not in [0, 1]");

        let text = "[sources.a]\ntype = \"stdin\"\n[pipelines.p]\ndetector = \"series\"\n\
                    sources = [\"b\"]\nstep = \"5min\"\n";
        let e = Config::parse(text, "c.toml").unwrap_err();
        assert_eq!(e.line, Some(5));
        assert!(e.message.contains("no source is named 'b' (known: a)"), "{e}");

        let e = Config::parse("[service]\nlisten = 1\nbogus = 2\n", "c.toml").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");

        let text = "[sources.a]\ntype = \"stdin\"\n[pipelines.p]\ndetector = \"series\"\n\
                    sources = [\"a\"]\nstep = \"five\"\n";
        let e = Config::parse(text, "c.toml").unwrap_err();
        assert!(e.message.contains("'five' is not a duration"), "{e}");
        assert!(e.line.is_some());
    }

    #[test]
    fn unknown_keys_and_kinds_are_refused() {
        let text = "[sources.a]\ntype = \"kafka\"\n";
        assert!(Config::parse(text, "c").unwrap_err().message.contains("kafka"));
        let text = "[sources.a]\ntype = \"stdin\"\n[pipelines.p]\ndetector = \"series\"\n\
                    sources = [\"a\"]\nstep = \"1h\"\nstpe = \"2h\"\n";
        assert!(Config::parse(text, "c").unwrap_err().message.contains("stpe"));
    }
}
