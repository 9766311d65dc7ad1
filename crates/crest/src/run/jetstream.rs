//! NATS JetStream for `crest run`: the source (a durable pull consumer), the sink's publisher,
//! and `crest publish`, which loads JSON Lines into a stream, partitioned by key.
//!
//! Exactly-once effect: the source hands batches to the service and keeps, per batch, the
//! batch's last message; after the service writes a checkpoint it says up to which stream
//! sequence the checkpoint holds, and the source acknowledges that message (the consumer
//! acknowledges all earlier ones with it: `AckPolicy::All`). When a worker starts, it
//! (re)creates its durable consumer at the sequence after its checkpoint's, so what a dead
//! worker had read but not checkpointed is read again, and what it had checkpointed is not.
//! A message delivered twice while running (an acknowledgement that came late) is dropped by
//! its sequence number.
//!
//! Partitions: with `partitions = N` a source reads `SUBJECT.P` for the worker's partition P
//! (every partition's subject with `--partition all`). Producers put each event on partition
//! `fnv1a64(key values joined by U+001F) mod N` — `crest publish --key FIELD` does — so that
//! each key, and the state kept for it, belongs to one partition and one worker at a time.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::time::{Duration, Instant};

use anyhow::Context;
use async_nats::jetstream::{self, consumer, stream};
use crest_run::config::JetstreamSource;
use futures_util::StreamExt;

use super::source::{Batch, Message, Position};

/// The partition of an event whose key values are `values`: FNV-1a (64 bits) over the values
/// joined by U+001F, modulo `partitions`. Fixed and documented: producers compute it too.
pub(crate) fn partition_of<'a>(values: impl IntoIterator<Item = &'a str>, partitions: u32) -> u32 {
    let mut h = crest_run::Fnv1a::default();
    for (i, v) in values.into_iter().enumerate() {
        if i > 0 {
            h.write("\u{1f}".as_bytes());
        }
        h.write(v.as_bytes());
    }
    (h.finish() % u64::from(partitions.max(1))) as u32
}

/// The subject a worker of `partition` reads, and the stream's subjects.
pub(crate) fn subjects(config: &JetstreamSource, partition: Option<u32>) -> (String, String) {
    if config.partitions == 0 {
        return (config.subject.clone(), config.subject.clone());
    }
    let all = format!("{}.*", config.subject);
    match partition {
        Some(p) => (format!("{}.{p}", config.subject), all),
        None => (all.clone(), all),
    }
}

/// A JetStream source's thread.
pub(crate) struct JsReader {
    /// The source's index.
    pub index: usize,
    /// Its config.
    pub config: JetstreamSource,
    /// The worker's partition (`None`: all).
    pub partition: Option<u32>,
    /// The last stream sequence the checkpoint holds.
    pub resume: Position,
    /// Messages per batch.
    pub batch_size: usize,
    /// Unacknowledged messages wait this long before the server delivers them again.
    pub ack_wait: Duration,
    /// Set when the service stops.
    pub stop: Arc<AtomicBool>,
    /// Stream sequences the service has checkpointed, to acknowledge; closed at the end.
    pub acks: Receiver<u64>,
}

impl JsReader {
    /// Runs until a stop, then acknowledges what the last checkpoint holds and ends.
    pub(crate) fn run(self, tx: SyncSender<Message>) {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.send(Message::Failed(self.index, format!("cannot start: {e}")));
                return;
            }
        };
        let index = self.index;
        if let Err(e) = runtime.block_on(self.consume(&tx)) {
            let _ = tx.send(Message::Failed(index, format!("{e:#}")));
        }
    }

    async fn consume(self, tx: &SyncSender<Message>) -> anyhow::Result<()> {
        let c = &self.config;
        let client = tokio::time::timeout(Duration::from_secs(10), async_nats::connect(&c.url))
            .await
            .map_err(|_| anyhow::anyhow!("cannot connect to {}: timed out", c.url))?
            .with_context(|| format!("cannot connect to {}", c.url))?;
        let js = jetstream::new(client);
        let (filter, stream_subjects) = subjects(c, self.partition);
        let stream = if c.create_stream {
            js.get_or_create_stream(stream::Config {
                name: c.stream.clone(),
                subjects: vec![stream_subjects],
                ..Default::default()
            })
            .await
            .with_context(|| format!("cannot open or create stream {}", c.stream))?
        } else {
            js.get_stream(&c.stream).await.with_context(|| format!("no stream {}", c.stream))?
        };
        let durable = match self.partition {
            Some(p) if c.partitions > 0 => format!("{}-{p}", c.durable),
            _ => c.durable.clone(),
        };
        // The checkpoint says where to start: the consumer is made anew from there, so that
        // nothing a dead worker read after its checkpoint is lost or waits for ack_wait.
        let _ = stream.delete_consumer(&durable).await;
        let deliver_policy = match self.resume.offset {
            0 => consumer::DeliverPolicy::All,
            seq => consumer::DeliverPolicy::ByStartSequence { start_sequence: seq + 1 },
        };
        let consumer: consumer::PullConsumer = stream
            .create_consumer(consumer::pull::Config {
                durable_name: Some(durable.clone()),
                deliver_policy,
                ack_policy: consumer::AckPolicy::All,
                ack_wait: self.ack_wait,
                filter_subject: filter.clone(),
                max_ack_pending: -1,
                ..Default::default()
            })
            .await
            .with_context(|| format!("cannot create consumer {durable} on {}", c.stream))?;
        tracing::info!(
            "source {}: stream {} subject {filter}, consumer {durable}, from sequence {}",
            self.index,
            c.stream,
            self.resume.offset + 1
        );

        let mut at = self.resume;
        // The last message of each batch handed over, by stream sequence, until acknowledged.
        let mut unacked: VecDeque<(u64, jetstream::Message)> = VecDeque::new();
        // A continuous pull: the client keeps requests outstanding, so the server never waits
        // for a round trip.
        let mut messages = consumer
            .stream()
            .max_messages_per_batch(self.batch_size)
            .heartbeat(Duration::from_secs(5))
            .messages()
            .await
            .context("cannot start pulling")?;
        // The consumer numbers its deliveries 1, 2, 3…: a gap means the client lost messages
        // (that acknowledging a later one would acknowledge), so reading stops there.
        let mut delivered = 0u64;
        while !self.stop.load(Ordering::Relaxed) {
            while let Ok(seq) = self.acks.try_recv() {
                ack_through(&mut unacked, seq).await?;
            }
            let mut batch = Batch {
                source: self.index,
                data: Vec::new(),
                ends: Vec::new(),
                start: at,
                end: at,
            };
            let mut last = None;
            let deadline = tokio::time::Instant::now() + Duration::from_millis(100);
            while batch.ends.len() < self.batch_size {
                let next = match tokio::time::timeout_at(deadline, messages.next()).await {
                    Err(_) => break, // the batch waits no longer
                    Ok(None) => anyhow::bail!("the server ended the pull"),
                    Ok(Some(m)) => m.map_err(|e| anyhow::anyhow!("cannot receive: {e}"))?,
                };
                let info = next.info().map_err(|e| anyhow::anyhow!("odd message: {e}"))?;
                let (seq, consumer_seq) = (info.stream_sequence, info.consumer_sequence);
                if delivered > 0 && consumer_seq != delivered + 1 && info.delivered == 1 {
                    anyhow::bail!(
                        "deliveries {}..{} never arrived (a slow client?); restart resumes \
                         from the last checkpoint",
                        delivered + 1,
                        consumer_seq - 1
                    );
                }
                delivered = delivered.max(consumer_seq);
                if seq <= at.offset {
                    continue; // delivered again: its effect is in already
                }
                // A message holds one event, or several, one per line.
                for line in next.payload.split(|&b| b == b'\n') {
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    if line.is_empty() {
                        continue;
                    }
                    batch.data.extend_from_slice(line);
                    batch.ends.push(batch.data.len());
                    at.line += 1;
                }
                at.offset = seq;
                last = Some((seq, next));
            }
            batch.end = at;
            if let Some(last) = last {
                unacked.push_back(last);
                if tx.send(Message::Batch(batch)).is_err() {
                    return Ok(());
                }
            }
        }
        let _ = tx.send(Message::Done(self.index));
        // The service's last checkpoint comes after the stop: acknowledge it, then end.
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            match self.acks.recv_timeout(Duration::from_millis(100)) {
                Ok(seq) => ack_through(&mut unacked, seq).await?,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        Ok(())
    }
}

/// Acknowledges the newest kept message at or before `seq` (and with it, all before).
async fn ack_through(
    unacked: &mut VecDeque<(u64, jetstream::Message)>,
    seq: u64,
) -> anyhow::Result<()> {
    let mut newest = None;
    while unacked.front().is_some_and(|(s, _)| *s <= seq) {
        newest = unacked.pop_front();
    }
    if let Some((_, m)) = newest {
        m.double_ack().await.map_err(|e| anyhow::anyhow!("cannot acknowledge: {e}"))?;
    }
    Ok(())
}

/// Publishes findings to a subject from a thread of its own (see `sink::Courier`).
pub(crate) struct Publisher {
    runtime: tokio::runtime::Runtime,
    js: jetstream::Context,
    subject: String,
}

impl Publisher {
    /// Connects to `url`.
    pub(crate) fn connect(url: &str, subject: &str) -> Result<Publisher, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        // The context must be made inside the runtime (it spawns a task of its own).
        let js = runtime.block_on(async {
            let client = tokio::time::timeout(Duration::from_secs(10), async_nats::connect(url))
                .await
                .map_err(|_| format!("cannot connect to {url}: timed out"))?
                .map_err(|e| format!("cannot connect to {url}: {e}"))?;
            Ok::<_, String>(jetstream::new(client))
        })?;
        Ok(Publisher { runtime, js, subject: subject.to_string() })
    }

    /// Publishes one finding and waits for the stream's acknowledgement.
    pub(crate) fn publish(&self, id: &str, body: &str) -> Result<(), String> {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", id);
        self.runtime.block_on(async {
            let ack = self
                .js
                .publish_with_headers(self.subject.clone(), headers, body.to_string().into())
                .await
                .map_err(|e| e.to_string())?;
            ack.await.map(|_| ()).map_err(|e| e.to_string())
        })
    }
}

/// `crest publish`: JSON Lines into a JetStream stream.
#[derive(Debug, clap::Args)]
pub(crate) struct PublishArgs {
    /// JSON Lines files (`-` or none: standard input; .gz and .zst are decompressed).
    files: Vec<std::path::PathBuf>,
    /// The NATS server.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    url: String,
    /// The stream (created with subjects SUBJECT or SUBJECT.* when missing).
    #[arg(long)]
    stream: String,
    /// The subject; with --partitions, the prefix of SUBJECT.0 … SUBJECT.N-1.
    #[arg(long)]
    subject: String,
    /// Split events into this many partitions by --key.
    #[arg(long, default_value_t = 0)]
    partitions: u32,
    /// The fields whose values choose an event's partition (comma-separated).
    #[arg(long, value_delimiter = ',')]
    key: Vec<String>,
    /// Acknowledgements awaited at a time.
    #[arg(long, default_value_t = 4096)]
    window: usize,
    /// Create the stream with at most this many bytes (the oldest messages go first); 0: no
    /// limit.
    #[arg(long, default_value_t = 0)]
    max_bytes: i64,
    /// Events per message, one per line (a stream of many small messages keeps the server
    /// busier than crest; `crest run` reads both).
    #[arg(long, default_value_t = 1)]
    lines_per_message: usize,
}

/// Runs `crest publish`.
pub(crate) fn publish(args: &PublishArgs) -> Result<(), crate::Failure> {
    if args.partitions > 0 && args.key.is_empty() {
        return Err(crate::Failure::Usage("--partitions needs --key".into()));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let started = Instant::now();
    let n = runtime.block_on(publish_all(args))?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "published {n} events to {} in {secs:.2} s ({:.0}/s)",
        args.stream,
        n as f64 / secs.max(1e-9)
    );
    Ok(())
}

async fn publish_all(args: &PublishArgs) -> anyhow::Result<u64> {
    use std::io::BufRead;
    let client = async_nats::connect(&args.url)
        .await
        .with_context(|| format!("cannot connect to {}", args.url))?;
    let js = jetstream::new(client);
    let all =
        if args.partitions > 0 { format!("{}.*", args.subject) } else { args.subject.clone() };
    js.get_or_create_stream(stream::Config {
        name: args.stream.clone(),
        subjects: vec![all],
        max_bytes: if args.max_bytes > 0 { args.max_bytes } else { -1 },
        ..Default::default()
    })
    .await
    .with_context(|| format!("cannot open or create stream {}", args.stream))?;
    let files: Vec<std::path::PathBuf> =
        if args.files.is_empty() { vec!["-".into()] } else { args.files.clone() };
    let mut pending = VecDeque::new();
    let mut n = 0u64;
    // Lines waiting to go, by subject, until --lines-per-message have been read.
    let mut groups: std::collections::BTreeMap<String, Vec<u8>> = Default::default();
    let mut grouped = 0usize;
    for file in &files {
        let reader = super::source::open_lines(file)?;
        for (i, line) in reader.split(b'\n').enumerate() {
            let mut line = line.with_context(|| format!("{}: cannot read", file.display()))?;
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let subject = if args.partitions > 0 {
                let event: serde_json::Value = serde_json::from_slice(&line)
                    .with_context(|| format!("{}, line {}: not JSON", file.display(), i + 1))?;
                let values: Vec<String> = args
                    .key
                    .iter()
                    .map(|k| {
                        crest_run::event::field(&event, k)
                            .and_then(crest_run::event::key_text)
                            .unwrap_or_default()
                    })
                    .collect();
                let p = partition_of(values.iter().map(String::as_str), args.partitions);
                format!("{}.{p}", args.subject)
            } else {
                args.subject.clone()
            };
            let group = groups.entry(subject).or_default();
            if !group.is_empty() {
                group.push(b'\n');
            }
            group.extend_from_slice(&line);
            n += 1;
            grouped += 1;
            if grouped >= args.lines_per_message.max(1) {
                grouped = 0;
                for (subject, payload) in std::mem::take(&mut groups) {
                    pending.push_back(
                        js.publish(subject, payload.into()).await.context("cannot publish")?,
                    );
                }
            }
            if pending.len() >= args.window {
                // Await the older half: the server keeps working on the rest meanwhile.
                for _ in 0..args.window / 2 {
                    if let Some(ack) = pending.pop_front() {
                        ack.await.context("the stream refused an event")?;
                    }
                }
            }
        }
    }
    for (subject, payload) in groups {
        pending.push_back(js.publish(subject, payload.into()).await.context("cannot publish")?);
    }
    for ack in pending {
        ack.await.context("the stream refused an event")?;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_fixed() {
        // Pinned: producers in other languages compute the same.
        assert_eq!(partition_of(["u019"], 4), partition_of(["u019"], 4));
        let spread: std::collections::BTreeSet<u32> =
            (0..100).map(|i| partition_of([format!("u{i:03}").as_str()], 4)).collect();
        assert_eq!(spread.len(), 4);
        assert_eq!(partition_of(["a", "b"], 1 << 31), partition_of(["a\u{1f}b"], 1 << 31));
    }
}
