//! `crest run`: the always-on service, and `crest config`.
//!
//! Sources (threads, [`source`]) read JSON Lines into batches on one bounded channel; this
//! thread parses each event once, gives it to every pipeline its source feeds, and sends the
//! findings to the sinks ([`sink`]) and to the HTTP API ([`http`]). At each checkpoint
//! interval, on a stop (SIGINT/SIGTERM) and at the end of finite sources, the sinks are
//! flushed and then the checkpoint is written atomically: each source's position, each file
//! sink's length and each pipeline's state. A restart resumes from it: sources seek to their
//! positions and file sinks are cut back to their lengths, so a crash loses nothing and
//! counts nothing twice.

mod http;
mod jetstream;
mod sink;
mod source;
mod store;

pub(crate) use jetstream::{PublishArgs, publish};

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::{RecvTimeoutError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use crest_run::config::{PipelineConfig, SourceConfig};
use crest_run::pipeline::StateRef;
use crest_run::series::Counters;
use crest_run::{Config, Finding, Pipeline};
use serde::{Deserialize, Serialize};

use crate::Failure;
use sink::Sink;
use source::{Message, Origin, Position, Reader};

/// `crest run`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 after a clean stop (SIGINT, SIGTERM, or finite sources read), \
                        1 on an error, 2 on a usage error or an invalid config."
)]
pub(crate) struct RunArgs {
    /// The config file (see `crest config example`).
    #[arg(short, long, value_name = "FILE")]
    config: PathBuf,
    /// Where checkpoints live (default: the config's service.data_dir, else crest's data
    /// directory); each config keeps its own under run/NAME.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Log lines as text or as JSON objects (on standard error).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub(crate) log_format: LogFormat,
    /// The HTTP address, instead of the config's service.listen.
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// This worker's partition of the JetStream sources (0…N-1), or `all`: each partition is
    /// run by one worker at a time, with its own checkpoint.
    #[arg(long, value_name = "P", default_value = "all")]
    partition: String,
    /// Stop (cleanly) once no event has arrived for this long, e.g. `5s`: drains a stream,
    /// then exits.
    #[arg(long, value_name = "DURATION")]
    until_idle: Option<String>,
}

/// How `crest run` writes its log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// Readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `crest config`.
#[derive(Debug, Args)]
pub(crate) struct ConfigArgs {
    #[command(subcommand)]
    command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validates a config file without running it.
    Check {
        /// The config file.
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Prints a commented example config.
    Example,
}

/// Runs `crest config`.
pub(crate) fn config(args: &ConfigArgs) -> Result<(), Failure> {
    match &args.command {
        ConfigCommand::Example => {
            print!("{}", crest_run::config::EXAMPLE);
            Ok(())
        }
        ConfigCommand::Check { config } => {
            let c = load(config)?;
            println!(
                "{}: valid — {} source(s), {} pipeline(s), {} sink(s)",
                config.display(),
                c.sources.len(),
                c.pipelines.len(),
                c.sinks.len()
            );
            Ok(())
        }
    }
}

fn load(path: &Path) -> Result<Config, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::Usage(format!("{}: cannot read: {e}", path.display())))?;
    Config::parse(&text, &path.display().to_string()).map_err(|e| Failure::Usage(e.to_string()))
}

/// What the service saves at each checkpoint (read back; [`CheckpointOut`] writes the same
/// shape without copying the pipelines' state).
#[derive(Debug, Default, Deserialize)]
struct Checkpoint {
    /// Each source's position, by name.
    sources: BTreeMap<String, Position>,
    /// Each file sink's length, by name.
    sinks: BTreeMap<String, u64>,
    /// Each pipeline's state, by name.
    pipelines: BTreeMap<String, PipelineState>,
}

#[derive(Debug, Deserialize)]
struct PipelineState {
    /// The pipeline's config, as text: a changed config does not resume an old state.
    config: String,
    state: serde_json::Value,
}

/// A checkpoint as written: the pipelines' state by reference.
#[derive(Serialize)]
struct CheckpointOut<'a> {
    sources: BTreeMap<&'a str, Position>,
    sinks: BTreeMap<&'a str, u64>,
    pipelines: BTreeMap<&'a str, PipelineStateOut<'a>>,
}

#[derive(Serialize)]
struct PipelineStateOut<'a> {
    config: &'a str,
    state: StateRef<'a>,
}

/// A pipeline in the running service.
struct Running {
    name: String,
    detector: &'static str,
    config_text: String,
    pipeline: Pipeline,
}

/// What the HTTP API reads while the service runs.
pub(crate) struct Shared {
    started: Instant,
    /// Events parsed, in all.
    events: AtomicU64,
    /// Events per source, in source order.
    source_events: Vec<(String, AtomicU64)>,
    /// Lines that were not JSON objects, skipped.
    invalid: AtomicU64,
    /// Errors (sources that failed, sinks that could not write).
    errors: AtomicU64,
    /// Microseconds since the epoch of the last checkpoint.
    checkpoint_us: AtomicI64,
    /// The latest findings, oldest first.
    findings: Mutex<VecDeque<Finding>>,
    kept: usize,
    /// Each pipeline's name, detector, series count, counters and newest event time.
    pipelines: Mutex<Vec<PipelineStatus>>,
    /// Each sink's name, findings sent and failed.
    sinks: Vec<(String, Arc<AtomicU64>, Arc<AtomicU64>)>,
    /// Recent scored steps of recently active series, for the dashboard's charts.
    history: Mutex<History>,
    /// Each pipeline's threshold, by name.
    thresholds: BTreeMap<String, f64>,
    /// Each peaks pipeline's pairs and baseline, refreshed about once a second.
    peaks: Mutex<BTreeMap<String, PeaksStatus>>,
}

/// A peaks pipeline as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct PeaksStatus {
    /// The window's length in seconds.
    window_s: i64,
    /// The newest open window's start, RFC 3339.
    open_window: Option<String>,
    /// Every pair with a baseline or counts in the open window, sorted by key.
    pairs: Vec<crest_run::peaks::PairStatus>,
    /// The baseline as telemetry-peak-analyzer's `global_table.json` holds it.
    #[serde(skip)]
    global_table: String,
}

/// Points kept per series for charts.
const HISTORY_POINTS: usize = 500;
/// Series kept for charts; beyond, the least recently updated half goes.
const HISTORY_SERIES: usize = 2000;

/// Recent points of recently active series, bounded in both directions.
#[derive(Default)]
pub(crate) struct History {
    series: std::collections::HashMap<(String, String), (u64, VecDeque<crest_run::series::Point>)>,
    tick: u64,
}

impl History {
    fn add(&mut self, pipeline: &str, points: Vec<crest_run::series::Point>) {
        self.tick += 1;
        for p in points {
            let entry = self
                .series
                .entry((pipeline.to_string(), p.key.clone()))
                .or_insert_with(|| (0, VecDeque::new()));
            entry.0 = self.tick;
            if entry.1.len() >= HISTORY_POINTS {
                entry.1.pop_front();
            }
            entry.1.push_back(p);
        }
        if self.series.len() > HISTORY_SERIES {
            let mut ticks: Vec<u64> = self.series.values().map(|(t, _)| *t).collect();
            ticks.sort_unstable();
            let cut = ticks[ticks.len() / 2];
            self.series.retain(|_, (t, _)| *t > cut);
        }
    }

    /// The points of one series, oldest first.
    pub(crate) fn points(&self, pipeline: &str, key: &str) -> Vec<crest_run::series::Point> {
        self.series
            .get(&(pipeline.to_string(), key.to_string()))
            .map(|(_, p)| p.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The series kept: pipeline, key, points, newest step (µs), sorted.
    pub(crate) fn list(&self) -> Vec<(String, String, usize, i64)> {
        let mut out: Vec<_> = self
            .series
            .iter()
            .map(|((p, k), (_, pts))| {
                (p.clone(), k.clone(), pts.len(), pts.back().map_or(0, |x| x.time_us))
            })
            .collect();
        out.sort();
        out
    }
}

/// A pipeline as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct PipelineStatus {
    name: String,
    detector: String,
    series: usize,
    newest: Option<String>,
    newest_us: Option<i64>,
    counters: Counters,
}

fn now_us() -> i64 {
    jiff::Timestamp::now().as_microsecond()
}

/// Runs `crest run`.
pub(crate) fn run(args: &RunArgs) -> Result<(), Failure> {
    let config = load(&args.config)?;
    let base = args.config.parent().map(Path::to_path_buf).unwrap_or_default();
    let base = if base.as_os_str().is_empty() { PathBuf::from(".") } else { base };
    let stem = args.config.file_stem().map_or("crest".into(), |s| s.to_string_lossy().to_string());
    let root = match (&args.data_dir, &config.service.data_dir) {
        (Some(d), _) => d.clone(),
        (None, Some(d)) => base.join(d),
        (None, None) => crate::fsutil::data_dir(None)?,
    };
    let dir = root.join("run").join(&stem);
    let partition: Option<u32> = match args.partition.as_str() {
        "all" => None,
        p => Some(p.parse().map_err(|_| {
            Failure::Usage(format!("--partition: '{p}' is not a partition number or 'all'"))
        })?),
    };
    let label = partition.map_or("all".to_string(), |p| p.to_string());
    for (name, s) in &config.sources {
        if let (SourceConfig::Jetstream(j), Some(p)) = (s, partition)
            && p >= j.partitions.max(1)
        {
            return Err(Failure::Usage(format!(
                "--partition {p}: source '{name}' has {} partition(s)",
                j.partitions
            )));
        }
    }
    let until_idle =
        match &args.until_idle {
            None => None,
            Some(t) => Some(Duration::from_secs(
                crest_series::parse_duration(t).ok().filter(|s| *s > 0).ok_or_else(|| {
                    Failure::Usage(format!("--until-idle: '{t}' is not a duration"))
                })? as u64,
            )),
        };
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // A second signal while draining exits at once.
        let _ = ctrlc::set_handler(move || {
            if stop.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
        });
    }
    let mut store = store::Store::open(&config.service.store, &dir, &stem, &label, &stop)?;
    let saved: Checkpoint = match store.load()? {
        Some(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: not a crest checkpoint", store.describe()))?,
        None => Checkpoint::default(),
    };

    // Pipelines, resumed where their config is unchanged.
    let mut pipelines = Vec::new();
    let mut saved_pipelines = saved.pipelines;
    for (name, p) in &config.pipelines {
        let config_text = format!("{p:?}");
        let pipeline = match saved_pipelines.remove(name) {
            Some(s) if s.config == config_text => Pipeline::new(name, p, Some(s.state), None)
                .map_err(|e| anyhow::anyhow!("{}: pipeline '{name}': {e}", store.describe()))?,
            Some(_) => {
                return Err(Failure::Usage(format!(
                    "pipeline '{name}' changed since its checkpoint ({}): its state no longer \
                     fits; remove that checkpoint to start over, or give the changed pipeline a \
                     new name",
                    store.describe()
                )));
            }
            None => {
                let table = match p {
                    PipelineConfig::Peaks(c) => match &c.global_table {
                        Some(path) => {
                            let path = base.join(path);
                            Some(std::fs::read_to_string(&path).with_context(|| {
                                format!("pipeline '{name}': cannot read {}", path.display())
                            })?)
                        }
                        None => None,
                    },
                    PipelineConfig::Series(_) => None,
                };
                Pipeline::new(name, p, None, table.as_deref())
                    .map_err(|e| Failure::Usage(format!("pipeline '{name}': {e}")))?
            }
        };
        pipelines.push(Running {
            name: name.clone(),
            detector: p.detector(),
            config_text,
            pipeline,
        });
    }
    // Which pipelines each source feeds.
    let source_names: Vec<String> = config.sources.keys().cloned().collect();
    let feeds: Vec<Vec<usize>> = source_names
        .iter()
        .map(|s| {
            config
                .pipelines
                .values()
                .enumerate()
                .filter(|(_, p)| p.sources().contains(s))
                .map(|(i, _)| i)
                .collect()
        })
        .collect();

    let mut sinks = Vec::new();
    for (name, s) in &config.sinks {
        sinks.push(Sink::open(name, s, &base, saved.sinks.get(name).copied(), &label)?);
    }
    let shared = Arc::new(Shared {
        started: Instant::now(),
        events: AtomicU64::new(0),
        source_events: source_names.iter().map(|n| (n.clone(), AtomicU64::new(0))).collect(),
        invalid: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        checkpoint_us: AtomicI64::new(0),
        findings: Mutex::new(VecDeque::new()),
        kept: config.service.findings_kept,
        pipelines: Mutex::new(Vec::new()),
        sinks: sinks.iter().map(|s| (s.name.clone(), s.sent.clone(), s.failed.clone())).collect(),
        history: Mutex::new(History::default()),
        thresholds: config.pipelines.iter().map(|(n, p)| (n.clone(), p.threshold())).collect(),
        peaks: Mutex::new(BTreeMap::new()),
    });
    let listen = args.listen.clone().or_else(|| config.service.listen.clone());
    let server = match &listen {
        Some(addr) => {
            let token = match &config.service.token_env {
                Some(var) => {
                    Some(std::env::var(var).ok().filter(|t| !t.is_empty()).ok_or_else(|| {
                        Failure::Usage(format!("service.token_env: ${var} is not set"))
                    })?)
                }
                None => None,
            };
            Some(http::Server::start(addr, token, shared.clone())?)
        }
        None => None,
    };
    if server.is_some() {
        for p in &mut pipelines {
            p.pipeline.record_points();
        }
    }

    // Sources, from their checkpointed positions.
    let (tx, rx) = sync_channel(config.service.queue);
    let mut positions: Vec<Position> = Vec::new();
    let mut skip_invalid = Vec::new();
    let mut acks = Vec::new();
    let mut threads = Vec::new();
    let mut once: Vec<Box<dyn FnOnce() + Send>> = Vec::new();
    let ack_wait = Duration::from_secs((3 * config.service.checkpoint_interval.0).max(30) as u64);
    for (i, (name, s)) in config.sources.iter().enumerate() {
        let resume = saved.sources.get(name).copied().unwrap_or_default();
        let tx = tx.clone();
        let stop = stop.clone();
        let batch_size = config.service.batch_size;
        let (resume, skip, ack, run): (_, _, _, Box<dyn FnOnce() + Send>) = match s {
            SourceConfig::File { path, follow, skip_invalid } => {
                let origin = Origin::File { path: base.join(path), follow: *follow };
                let reader = Reader { index: i, origin, resume, batch_size, stop };
                (resume, *skip_invalid, None, Box::new(move || reader.run(tx)))
            }
            // Standard input is new input on every run.
            SourceConfig::Stdin { skip_invalid } => {
                let resume = Position::default();
                let reader = Reader { index: i, origin: Origin::Stdin, resume, batch_size, stop };
                (resume, *skip_invalid, None, Box::new(move || reader.run(tx)))
            }
            SourceConfig::Jetstream(j) => {
                let (ack_tx, ack_rx) = std::sync::mpsc::channel();
                let reader = jetstream::JsReader {
                    index: i,
                    config: j.clone(),
                    partition,
                    resume,
                    batch_size,
                    ack_wait: j
                        .ack_wait
                        .map_or(ack_wait, |w| Duration::from_secs(w.0.max(1) as u64)),
                    stop,
                    acks: ack_rx,
                };
                (resume, j.skip_invalid, Some(ack_tx), Box::new(move || reader.run(tx)))
            }
        };
        positions.push(resume);
        skip_invalid.push(skip);
        acks.push(ack);
        // Files read once are read one after another, in config order, on one thread: the
        // same input then gives the same findings in the same order on every run.
        if matches!(s, SourceConfig::File { follow: false, .. }) {
            once.push(run);
            continue;
        }
        let handle = std::thread::Builder::new()
            .name(format!("source-{name}"))
            .spawn(run)
            .context("cannot start a source thread")?;
        // Standard input may block forever in a read: that thread is not waited for.
        if !matches!(s, SourceConfig::Stdin { .. }) {
            threads.push(handle);
        }
    }
    if !once.is_empty() {
        let handle = std::thread::Builder::new()
            .name("source-files".into())
            .spawn(move || once.into_iter().for_each(|run| run()))
            .context("cannot start a source thread")?;
        threads.push(handle);
    }
    drop(tx);

    let mut service = Service {
        pipelines,
        sinks,
        shared,
        store,
        acks,
        source_names,
        positions,
        stdin: config.sources.values().map(|s| matches!(s, SourceConfig::Stdin { .. })).collect(),
        peaks_published: None,
        peaks_changed: true,
    };
    // A first checkpoint before any work: a crash before the next one cuts the sinks back to
    // what they held when the service started.
    service.checkpoint()?;
    tracing::info!(
        "crest run: worker {label}: {} source(s), {} pipeline(s), {} sink(s); checkpoints in {}{}",
        service.source_names.len(),
        service.pipelines.len(),
        service.sinks.len(),
        service.store.describe(),
        server.as_ref().map(|s| format!("; http://{}", s.addr)).unwrap_or_default()
    );

    let interval = Duration::from_secs(config.service.checkpoint_interval.0.max(1) as u64);
    let mut last = Instant::now();
    let mut last_event = Instant::now();
    // From the first batch to the last one processed: the rate the summary reports.
    let mut busy: Option<(Instant, Instant)> = None;
    let mut done = vec![false; service.source_names.len()];
    let mut findings = Vec::new();
    let mut outcome: Result<(), Failure> = Ok(());
    loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(Message::Batch(batch)) => {
                last_event = Instant::now();
                let skip = skip_invalid[batch.source];
                if let Err(e) = service.process(&batch, skip, &feeds[batch.source], &mut findings) {
                    outcome = Err(e.into());
                    break;
                }
                let now = Instant::now();
                busy = Some((busy.map_or(now, |(first, _)| first), now));
            }
            Ok(Message::Done(i)) => done[i] = true,
            Ok(Message::Failed(i, e)) => {
                service.shared.errors.fetch_add(1, Ordering::Relaxed);
                outcome = Err(anyhow::anyhow!("source '{}': {e}", service.source_names[i]).into());
                break;
            }
            // Idle: the peaks' status catches up with the last batches.
            Err(RecvTimeoutError::Timeout) => service.publish_peaks(),
            Err(RecvTimeoutError::Disconnected) => break,
        }
        // Followed files are never done unless stopped; standard input may block a stop.
        let all_done = done.iter().all(|d| *d);
        let stopping = stop.load(Ordering::Relaxed)
            && done.iter().zip(&service.stdin).all(|(d, stdin)| *d || *stdin);
        if all_done || stopping {
            break;
        }
        if until_idle.is_some_and(|idle| last_event.elapsed() >= idle)
            && !stop.load(Ordering::SeqCst)
        {
            tracing::info!(
                "crest run: no event for {}; stopping",
                args.until_idle.as_deref().unwrap_or("")
            );
            stop.store(true, Ordering::SeqCst);
        }
        if last.elapsed() >= interval {
            service.checkpoint()?;
            last = Instant::now();
        }
    }
    stop.store(true, Ordering::SeqCst);
    // Batches read before the stop are processed: nothing read is left behind.
    while let Ok(m) = rx.recv_timeout(Duration::from_millis(50)) {
        if let (Message::Batch(batch), Ok(())) = (m, &outcome) {
            let skip = skip_invalid[batch.source];
            if let Err(e) = service.process(&batch, skip, &feeds[batch.source], &mut findings) {
                outcome = Err(e.into());
            }
        }
    }
    // What was processed is checkpointed even when a source failed.
    service.checkpoint()?;
    let Service { sinks, shared, acks, .. } = service;
    drop(acks); // the sources acknowledge the last checkpoint, then end
    for t in threads {
        let _ = t.join();
    }
    for s in sinks {
        s.close()?;
    }
    if let Some(server) = server {
        server.stop();
    }
    let found: u64 =
        shared.pipelines.lock().map(|p| p.iter().map(|p| p.counters.findings).sum()).unwrap_or(0);
    let events = shared.events.load(Ordering::Relaxed);
    let secs = busy.map_or(0.0, |(a, b)| (b - a).as_secs_f64());
    tracing::info!(
        "crest run: stopped: {events} events read this run ({} invalid lines skipped), {:.0}/s \
         from the first batch to the last; findings since the pipelines started: {found}",
        shared.invalid.load(Ordering::Relaxed),
        events as f64 / secs.max(1e-6),
    );
    outcome
}

struct Service {
    pipelines: Vec<Running>,
    sinks: Vec<Sink>,
    shared: Arc<Shared>,
    store: store::Store,
    /// Per source: where to say which stream sequence a checkpoint holds (JetStream).
    acks: Vec<Option<std::sync::mpsc::Sender<u64>>>,
    source_names: Vec<String>,
    positions: Vec<Position>,
    stdin: Vec<bool>,
    /// When the peaks pipelines' status was last copied for the API.
    peaks_published: Option<Instant>,
    /// Whether they changed since.
    peaks_changed: bool,
}

impl Service {
    /// Parses a batch's events, feeds them to `feeds`' pipelines, and sends the findings on.
    fn process(
        &mut self,
        batch: &source::Batch,
        skip_invalid: bool,
        feeds: &[usize],
        findings: &mut Vec<Finding>,
    ) -> anyhow::Result<()> {
        let mut start = 0;
        let mut events = 0u64;
        for (n, &end) in batch.ends.iter().enumerate() {
            let line = batch.data[start..end].trim_ascii();
            start = end;
            // A JSON array written one element per line (as telemetry exports and
            // crest's generator write them) reads as JSON Lines: its brackets are skipped and
            // the commas after its elements dropped.
            let line = match line {
                b"" | b"[" | b"]" => continue,
                [body @ .., b','] => body,
                _ => line,
            };
            let event: serde_json::Value = match serde_json::from_slice(line) {
                Ok(v @ serde_json::Value::Object(_)) => v,
                Ok(_) | Err(_) if skip_invalid => {
                    self.shared.invalid.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                Ok(_) => anyhow::bail!(
                    "source '{}', line {}: not a JSON object",
                    self.source_names[batch.source],
                    batch.start.line + n as u64 + 1
                ),
                Err(e) => anyhow::bail!(
                    "source '{}', line {}: not JSON: {e} (skip_invalid = true skips such lines)",
                    self.source_names[batch.source],
                    batch.start.line + n as u64 + 1
                ),
            };
            events += 1;
            for &p in feeds {
                self.pipelines[p].pipeline.push(&event, findings);
            }
            if !findings.is_empty() {
                self.emit(findings)?;
            }
        }
        for &p in feeds {
            let points = self.pipelines[p].pipeline.take_points();
            if !points.is_empty() {
                let mut history = self.shared.history.lock().unwrap_or_else(|e| e.into_inner());
                history.add(&self.pipelines[p].name, points);
            }
        }
        self.positions[batch.source] = batch.end;
        self.shared.events.fetch_add(events, Ordering::Relaxed);
        self.shared.source_events[batch.source].1.fetch_add(events, Ordering::Relaxed);
        self.publish();
        Ok(())
    }

    fn emit(&mut self, findings: &mut Vec<Finding>) -> anyhow::Result<()> {
        for f in findings.iter() {
            for s in &mut self.sinks {
                if s.wants(f)
                    && let Err(e) = s.emit(f)
                {
                    self.shared.errors.fetch_add(1, Ordering::Relaxed);
                    return Err(e.context(format!("sink '{}'", s.name)));
                }
            }
        }
        let mut kept = self.shared.findings.lock().unwrap_or_else(|e| e.into_inner());
        for f in findings.drain(..) {
            if kept.len() >= self.shared.kept {
                kept.pop_front();
            }
            kept.push_back(f);
        }
        Ok(())
    }

    /// Copies the pipelines' figures for the API.
    fn publish(&mut self) {
        let status = self
            .pipelines
            .iter()
            .map(|p| PipelineStatus {
                name: p.name.clone(),
                detector: p.detector.to_string(),
                series: p.pipeline.series_count(),
                newest: p.pipeline.newest().map(crest_run::series::rfc3339),
                newest_us: p.pipeline.newest(),
                counters: p.pipeline.counters().clone(),
            })
            .collect();
        *self.shared.pipelines.lock().unwrap_or_else(|e| e.into_inner()) = status;
        self.peaks_changed = true;
        self.publish_peaks();
    }

    /// Copies the peaks pipelines' pairs for the API when they changed, at most about once a
    /// second (they cost more to copy).
    fn publish_peaks(&mut self) {
        if self.peaks_changed
            && self.peaks_published.is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
        {
            self.peaks_published = Some(Instant::now());
            self.peaks_changed = false;
            let mut peaks = BTreeMap::new();
            for p in &self.pipelines {
                if let Pipeline::Peaks(peak) = &p.pipeline {
                    let (open, pairs) = peak.status();
                    peaks.insert(
                        p.name.clone(),
                        PeaksStatus {
                            window_s: peak.window_s(),
                            open_window: open.map(crest_run::series::rfc3339),
                            pairs,
                            global_table: peak.global_table_json(),
                        },
                    );
                }
            }
            *self.shared.peaks.lock().unwrap_or_else(|e| e.into_inner()) = peaks;
        }
    }

    /// Flushes the sinks, then writes the checkpoint (temporary file, renamed).
    fn checkpoint(&mut self) -> anyhow::Result<()> {
        let mut sinks = BTreeMap::new();
        for s in &mut self.sinks {
            if let Some(len) = s.flush().with_context(|| format!("sink '{}'", s.name))? {
                sinks.insert(s.name.as_str(), len);
            }
        }
        let sources = self
            .source_names
            .iter()
            .zip(&self.positions)
            .zip(&self.stdin)
            .filter(|(_, stdin)| !**stdin)
            .map(|((n, p), _)| (n.as_str(), *p))
            .collect();
        let pipelines = self
            .pipelines
            .iter()
            .map(|p| {
                let state = PipelineStateOut { config: &p.config_text, state: p.pipeline.state() };
                (p.name.as_str(), state)
            })
            .collect();
        let checkpoint = CheckpointOut { sources, sinks, pipelines };
        let bytes = serde_json::to_vec(&checkpoint).context("cannot encode the checkpoint")?;
        self.store.save(&bytes)?;
        // Only now may a stream forget what the checkpoint holds.
        for (ack, at) in self.acks.iter().zip(&self.positions) {
            if let Some(ack) = ack
                && at.offset > 0
            {
                let _ = ack.send(at.offset);
            }
        }
        self.shared.checkpoint_us.store(now_us(), Ordering::Relaxed);
        self.peaks_published = None;
        self.publish();
        Ok(())
    }
}
