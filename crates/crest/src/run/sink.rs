//! `crest run`'s sinks: where findings go.
//!
//! File sinks (JSON Lines, CSV) report their length at each checkpoint; on restart they are
//! cut back to it, so findings written after the last checkpoint, which the restarted service
//! writes again, appear once. A webhook posts each finding on its own thread, retrying with
//! exponential backoff; a checkpoint waits until every finding before it was delivered (or
//! failed every attempt), so a restart never skips one (a finding may arrive twice after a
//! crash: its id says so).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use crest_run::config::{SinkConfig, SinkType};
use crest_run::{Finding, Severity};

/// One sink with its routing.
pub(crate) struct Sink {
    /// Its name in the config.
    pub name: String,
    pipelines: Vec<String>,
    min_severity: Severity,
    out: Out,
    /// Findings sent here.
    pub sent: Arc<AtomicU64>,
    /// Findings that could not be delivered.
    pub failed: Arc<AtomicU64>,
}

enum Out {
    Terminal,
    Jsonl(FileOut),
    Csv(FileOut),
    Courier(Courier),
}

impl Sink {
    /// Opens a sink; a file sink is cut back to `resume` bytes (its checkpointed length).
    /// `partition` replaces `{partition}` in a file sink's path.
    pub(crate) fn open(
        name: &str,
        config: &SinkConfig,
        base: &Path,
        resume: Option<u64>,
        partition: &str,
    ) -> anyhow::Result<Sink> {
        let failed = Arc::new(AtomicU64::new(0));
        let backoff = Duration::from_secs(config.backoff.0.max(0) as u64);
        // `{partition}` in a path is the worker's partition, so that workers write apart.
        let path = |p: &Option<PathBuf>| {
            let p = p.as_deref().unwrap_or(Path::new("")).to_string_lossy();
            base.join(p.replace("{partition}", partition))
        };
        let out = match config.kind {
            SinkType::Terminal => Out::Terminal,
            SinkType::Jsonl => Out::Jsonl(FileOut::open(&path(&config.path), resume)?),
            SinkType::Csv => {
                let mut f = FileOut::open(&path(&config.path), resume)?;
                if f.len == 0 {
                    f.write(CSV_HEADER.as_bytes())?;
                }
                Out::Csv(f)
            }
            SinkType::Webhook => {
                let url = config.url.clone().unwrap_or_default();
                let timeout = Duration::from_secs(config.timeout.0.max(1) as u64);
                Out::Courier(Courier::start(
                    name,
                    config.attempts,
                    backoff,
                    failed.clone(),
                    move || webhook(url, timeout),
                ))
            }
            SinkType::Jetstream => {
                let url = config.url.clone().unwrap_or_else(|| "nats://127.0.0.1:4222".into());
                let subject = config.subject.clone().unwrap_or_default();
                Out::Courier(Courier::start(
                    name,
                    config.attempts,
                    backoff,
                    failed.clone(),
                    move || {
                        let publisher = super::jetstream::Publisher::connect(&url, &subject)?;
                        Ok(Box::new(move |id: &str, body: &str| publisher.publish(id, body))
                            as Deliver)
                    },
                ))
            }
        };
        Ok(Sink {
            name: name.into(),
            pipelines: config.pipelines.clone(),
            min_severity: config.min_severity,
            out,
            sent: Arc::new(AtomicU64::new(0)),
            failed,
        })
    }

    /// Whether this sink takes `f`.
    pub(crate) fn wants(&self, f: &Finding) -> bool {
        f.severity >= self.min_severity
            && (self.pipelines.is_empty() || self.pipelines.contains(&f.pipeline))
    }

    /// Sends one finding.
    pub(crate) fn emit(&mut self, f: &Finding) -> anyhow::Result<()> {
        self.sent.fetch_add(1, Ordering::Relaxed);
        match &mut self.out {
            Out::Terminal => {
                let mut out = std::io::stdout().lock();
                writeln!(out, "{}", terminal_line(f)).context("cannot write to standard output")
            }
            Out::Jsonl(file) => {
                let mut line = serde_json::to_vec(f).context("cannot encode a finding")?;
                line.push(b'\n');
                file.write(&line)
            }
            Out::Csv(file) => file.write(csv_line(f).as_bytes()),
            Out::Courier(c) => c.send(f),
        }
    }

    /// Makes everything sent so far durable (or delivered); returns a file sink's length.
    pub(crate) fn flush(&mut self) -> anyhow::Result<Option<u64>> {
        match &mut self.out {
            Out::Terminal => {
                std::io::stdout().flush().ok();
                Ok(None)
            }
            Out::Jsonl(file) | Out::Csv(file) => file.flush().map(Some),
            Out::Courier(c) => {
                c.drain();
                Ok(None)
            }
        }
    }

    /// Flushes and stops (the webhook thread delivers what it holds first).
    pub(crate) fn close(mut self) -> anyhow::Result<Option<u64>> {
        let len = self.flush()?;
        if let Out::Courier(c) = self.out {
            c.stop();
        }
        Ok(len)
    }
}

/// The CSV sink's columns.
const CSV_HEADER: &str = "id,time,pipeline,detector,key,score,severity,stats,evidence\n";

fn csv_line(f: &Finding) -> String {
    let stats = serde_json::to_string(&f.stats).unwrap_or_default();
    let evidence = serde_json::to_string(&f.evidence).unwrap_or_default();
    let fields = [
        f.id.as_str(),
        f.time.as_str(),
        f.pipeline.as_str(),
        f.detector.as_str(),
        &f.key_text(),
        &format!("{}", f.score),
        f.severity.name(),
        &stats,
        &evidence,
    ];
    let mut line = fields.iter().map(|s| csv_field(s)).collect::<Vec<_>>().join(",");
    line.push('\n');
    line
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `2026-10-12T03:00:00Z  high    bytes-out  user=u038  0.998  value=912345 median=5120 …`
fn terminal_line(f: &Finding) -> String {
    let stats: Vec<String> = f.stats.iter().map(|(k, v)| format!("{k}={}", short(*v))).collect();
    format!(
        "{}  {:<8}  {}  {}  {:.3}  {}",
        f.time,
        f.severity.name(),
        f.pipeline,
        f.key_text(),
        f.score,
        stats.join(" ")
    )
}

fn short(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{v:.0}") } else { format!("{v:.4}") }
}

/// A file appended to, whose length is known.
struct FileOut {
    path: PathBuf,
    out: BufWriter<File>,
    len: u64,
}

impl FileOut {
    fn open(path: &Path, resume: Option<u64>) -> anyhow::Result<FileOut> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        let mut len = file.metadata().map(|m| m.len()).unwrap_or(0);
        if let Some(keep) = resume {
            if len > keep {
                file.set_len(keep).with_context(|| {
                    format!("cannot cut {} back to its checkpoint", path.display())
                })?;
                len = keep;
            } else if len < keep {
                tracing::warn!(
                    "{}: shorter ({len} bytes) than at the checkpoint ({keep}); appending to it",
                    path.display()
                );
            }
        }
        Ok(FileOut { path: path.to_path_buf(), out: BufWriter::with_capacity(1 << 16, file), len })
    }

    fn write(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.out
            .write_all(bytes)
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    fn flush(&mut self) -> anyhow::Result<u64> {
        self.out.flush().with_context(|| format!("cannot write {}", self.path.display()))?;
        self.out
            .get_ref()
            .sync_data()
            .with_context(|| format!("cannot sync {}", self.path.display()))?;
        Ok(self.len)
    }
}

/// How a courier delivers one finding (its id, its JSON): one attempt.
type Deliver = Box<dyn FnMut(&str, &str) -> Result<(), String>>;

/// Findings delivered from a thread of their own, each retried with exponential backoff.
struct Courier {
    tx: Option<SyncSender<(String, String)>>,
    pending: Arc<(Mutex<u64>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Courier {
    /// Starts the thread; `connect` makes the delivery function there (an error is logged
    /// and every finding then counts as failed).
    fn start(
        name: &str,
        attempts: u32,
        backoff: Duration,
        failed: Arc<AtomicU64>,
        connect: impl FnOnce() -> Result<Deliver, String> + Send + 'static,
    ) -> Courier {
        let (tx, rx) = sync_channel::<(String, String)>(1024);
        let pending = Arc::new((Mutex::new(0u64), Condvar::new()));
        let p = pending.clone();
        let name = name.to_string();
        let thread = std::thread::Builder::new()
            .name(format!("sink-{name}"))
            .spawn(move || {
                let mut deliver = connect().map_err(|e| {
                    tracing::error!("sink {name}: {e}");
                    e
                });
                deliver_all(&name, attempts, backoff, &rx, &p, &failed, &mut deliver)
            })
            .ok();
        Courier { tx: Some(tx), pending, thread }
    }

    fn send(&mut self, f: &Finding) -> anyhow::Result<()> {
        let body = serde_json::to_string(f).context("cannot encode a finding")?;
        *self.pending.0.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.tx
            .as_ref()
            .context("the sink has stopped")?
            .send((f.id.clone(), body))
            .map_err(|_| anyhow::anyhow!("the sink's thread has stopped"))
    }

    /// Waits until every finding sent so far was delivered or given up on.
    fn drain(&self) {
        let (lock, cv) = &*self.pending;
        let mut n = lock.lock().unwrap_or_else(|e| e.into_inner());
        while *n > 0 && self.thread.as_ref().is_some_and(|t| !t.is_finished()) {
            n = cv.wait_timeout(n, Duration::from_millis(200)).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    fn stop(mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn deliver_all(
    name: &str,
    attempts: u32,
    backoff: Duration,
    rx: &Receiver<(String, String)>,
    pending: &(Mutex<u64>, Condvar),
    failed: &AtomicU64,
    deliver: &mut Result<Deliver, String>,
) {
    for (id, body) in rx {
        let mut wait = backoff;
        let mut last = String::new();
        let mut delivered = false;
        for attempt in 1..=attempts {
            match deliver {
                Ok(d) => match d(&id, &body) {
                    Ok(()) => {
                        delivered = true;
                        break;
                    }
                    Err(e) => last = e,
                },
                Err(e) => {
                    last = e.clone();
                    break;
                }
            }
            if attempt < attempts {
                tracing::debug!(
                    "sink {name}: attempt {attempt} failed ({last}); again in {wait:?}"
                );
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_secs(300));
            }
        }
        if !delivered {
            failed.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                "sink {name}: finding {id} not delivered after {attempts} attempts: {last}"
            );
        }
        let (lock, cv) = pending;
        let mut n = lock.lock().unwrap_or_else(|e| e.into_inner());
        *n = n.saturating_sub(1);
        cv.notify_all();
    }
}

/// A webhook: each finding POSTed as JSON; any 2xx status is a delivery.
fn webhook(url: String, timeout: Duration) -> Result<Deliver, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .build()
        .into();
    Ok(Box::new(move |_id: &str, body: &str| {
        match agent.post(&url).header("Content-Type", "application/json").send(body) {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("HTTP {}", r.status())),
            Err(e) => Err(e.to_string()),
        }
    }))
}
