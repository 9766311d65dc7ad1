//! Sources of messages for `crest profile collect`: files, standard input and the heartbeat.
//!
//! Each source runs on its own thread and sends [`Entry`]s into one bounded channel, so a
//! fast source waits for the pipeline instead of filling memory. Entries carry many messages
//! (a block of JSON Lines as read, or a run of decoded documents), so the channel costs little
//! per message; JSON text is parsed by the pipeline, on all cores, one batch at a time.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::time::Duration;

use anyhow::{Context, anyhow};
use crest_profile::config::parse_duration;
use crest_sources::Input;
use serde_json::{Value, json};

use super::settings::SourceSettings;

/// Lines of JSON text as read: whole lines, UTF-8, blank ones left out.
pub(crate) struct Block {
    /// The input's name.
    pub(crate) input: Arc<str>,
    /// The text of consecutive lines.
    pub(crate) text: Arc<str>,
    /// Each non-blank line: its span in `text` (without the newline) and its line number.
    pub(crate) lines: Vec<(std::ops::Range<usize>, u64)>,
}

/// Messages as a source hands them over.
pub(crate) enum Payload {
    /// JSON Lines, one message per line.
    Lines(Arc<Block>),
    /// Decoded documents (CSV rows, JSON arrays, the heartbeat).
    Values(Vec<Value>),
}

/// Decoded documents are sent this many at a time.
const VALUES_PER_ENTRY: usize = 1024;
/// A block of lines is sent once it holds this many bytes (or the input pauses).
const BLOCK_BYTES: usize = 64 << 10;

/// What a source sends to the pipeline.
pub(crate) enum Entry {
    /// Messages and their arrival time (µs).
    Messages(i64, Payload),
    /// The source has ended.
    Done,
    /// The source failed; the pipeline processes what it has, then reports this.
    Failed(anyhow::Error),
}

/// Wall-clock microseconds since the epoch.
pub(crate) fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// A source's body: reads until it ends, a stop is asked for, or it fails.
type Job = Box<dyn FnOnce(&SyncSender<Entry>, &AtomicBool) -> anyhow::Result<()> + Send>;

/// Starts a thread per source; returns how many run and whether any stamps simulated time.
pub(crate) fn start(
    sources: &[SourceSettings],
    tx: &SyncSender<Entry>,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<(usize, bool)> {
    let mut simulated = false;
    let cwd = std::env::current_dir().context("cannot read the working directory")?;
    let mut jobs: Vec<Job> = Vec::new();
    for s in sources {
        match s.clone() {
            SourceSettings::File { path } => {
                let inputs = crest_sources::expand(&path, &cwd)?;
                jobs.push(Box::new(move |tx, stop| read_inputs(&inputs, tx, stop)));
            }
            SourceSettings::Stdin => {
                jobs.push(Box::new(|tx, stop| read_inputs(&[Input::Stdin], tx, stop)))
            }
            SourceSettings::Heartbeat { interval, count, mixed, ticks, start } => {
                let interval =
                    parse_duration(&interval).map_err(|e| anyhow!("heartbeat interval: {e}"))?;
                let start = match start {
                    Some(t) => Some(
                        crest_core::time::parse_instant_text(&t)
                            .ok_or_else(|| anyhow!("heartbeat start: '{t}' is not a time"))?,
                    ),
                    None => None,
                };
                simulated |= start.is_some();
                jobs.push(Box::new(move |tx, stop| {
                    heartbeat(interval, count, mixed, ticks, start, tx, stop)
                }));
            }
        }
    }
    let n = jobs.len();
    for job in jobs {
        let tx = tx.clone();
        let stop = Arc::clone(stop);
        std::thread::spawn(move || {
            let end = match job(&tx, &stop) {
                Ok(()) => Entry::Done,
                Err(e) => Entry::Failed(e),
            };
            let _ = tx.send(end);
        });
    }
    Ok((n, simulated))
}

/// ScryWarden's heartbeat messages.
fn heartbeat_data(mixed: bool) -> Vec<Value> {
    let mut v = vec![json!({"person": "George", "greeting": "hello"})];
    if mixed {
        v.push(json!({"person": "Ben", "greeting": "howdy"}));
        v.push(json!({"person": "Susan", "greeting": "salutations"}));
    }
    v
}

fn heartbeat(
    interval: i64,
    count: usize,
    mixed: bool,
    ticks: Option<u64>,
    start: Option<i64>,
    tx: &SyncSender<Entry>,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let data = heartbeat_data(mixed);
    let mut tick = 0u64;
    while !stop.load(Ordering::Relaxed) && ticks.is_none_or(|n| tick < n) {
        let at = start.map_or_else(now_us, |s| s + tick as i64 * interval);
        if !send_values((0..count).flat_map(|_| data.iter().cloned()), || at, tx, stop) {
            return Ok(());
        }
        tick += 1;
        if start.is_none() && ticks.is_none_or(|n| tick < n) {
            sleep_unless_stopped(Duration::from_micros(interval as u64), stop);
        }
    }
    Ok(())
}

fn sleep_unless_stopped(d: Duration, stop: &AtomicBool) {
    let until = std::time::Instant::now() + d;
    while !stop.load(Ordering::Relaxed) {
        let left = until.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

/// Opens an input, decompressing gzip or zstd (recognised by their magic bytes).
fn open(input: &Input) -> anyhow::Result<Box<dyn BufRead + Send>> {
    let name = input.name();
    let raw: Box<dyn Read + Send> = match input {
        Input::Stdin => Box::new(std::io::stdin()),
        Input::File(p) => Box::new(File::open(p).with_context(|| format!("{name}: cannot open"))?),
    };
    let mut r = BufReader::with_capacity(1 << 20, raw);
    let head = r.fill_buf().with_context(|| format!("{name}: cannot read"))?;
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(BufReader::with_capacity(1 << 20, flate2::read::MultiGzDecoder::new(r)))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(BufReader::with_capacity(
            1 << 20,
            zstd::Decoder::with_buffer(r).with_context(|| format!("{name}: cannot read zstd"))?,
        ))
    } else {
        Box::new(r)
    })
}

fn is_csv(input: &Input) -> bool {
    let Input::File(p) = input else { return false };
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let stem = name.trim_end_matches(".gz").trim_end_matches(".zst").trim_end_matches(".zstd");
    Path::new(stem).extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"))
}

fn read_inputs(inputs: &[Input], tx: &SyncSender<Entry>, stop: &AtomicBool) -> anyhow::Result<()> {
    for input in inputs {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let name: Arc<str> = Arc::from(input.name());
        let mut r = open(input)?;
        if is_csv(input) {
            read_csv(&name, r, tx, stop)?;
            continue;
        }
        let io = |e: std::io::Error| anyhow!("{name}: cannot read: {e}");
        // A JSON array is one document; JSON Lines are read line by line.
        let first = loop {
            let buf = r.fill_buf().map_err(io)?;
            match buf.iter().position(|b| !b.is_ascii_whitespace()) {
                Some(i) => {
                    let b = buf[i];
                    break Some(b);
                }
                None if buf.is_empty() => break None,
                None => {
                    let n = buf.len();
                    r.consume(n);
                }
            }
        };
        if first == Some(b'[') {
            let docs: Vec<Value> = serde_json::from_reader(r).map_err(|e| {
                anyhow!(
                    "{name}: line {}, column {}: malformed JSON array: {e}",
                    e.line(),
                    e.column()
                )
            })?;
            if !send_values(docs, now_us, tx, stop) {
                return Ok(());
            }
            continue;
        }
        if !read_lines(&name, &mut r, tx, stop)? {
            return Ok(());
        }
    }
    Ok(())
}

/// Sends decoded documents [`VALUES_PER_ENTRY`] at a time, each entry stamped by `at`; false
/// when a stop is asked for or the pipeline stopped listening.
fn send_values(
    values: impl IntoIterator<Item = Value>,
    at: impl Fn() -> i64,
    tx: &SyncSender<Entry>,
    stop: &AtomicBool,
) -> bool {
    let mut values = values.into_iter().peekable();
    while values.peek().is_some() {
        let chunk: Vec<Value> = values.by_ref().take(VALUES_PER_ENTRY).collect();
        if stop.load(Ordering::Relaxed)
            || tx.send(Entry::Messages(at(), Payload::Values(chunk))).is_err()
        {
            return false;
        }
    }
    true
}

/// Reads JSON Lines in blocks of whole lines; false when the pipeline stopped listening.
fn read_lines(
    name: &Arc<str>,
    r: &mut Box<dyn BufRead + Send>,
    tx: &SyncSender<Entry>,
    stop: &AtomicBool,
) -> anyhow::Result<bool> {
    // One buffer for the whole input: a block copies its lines out of it.
    let mut pending: Vec<u8> = Vec::with_capacity(BLOCK_BYTES * 2);
    let mut line_no = 0u64;
    loop {
        let buf =
            r.fill_buf().map_err(|e| anyhow!("{name}: line {}: cannot read: {e}", line_no + 1))?;
        let eof = buf.is_empty();
        // A short read means the input has nothing more for now (a pipe, a growing file): what
        // is whole goes on at once rather than waiting for a full block.
        let paused = buf.len() < BLOCK_BYTES;
        let n = buf.len().min(BLOCK_BYTES);
        pending.extend_from_slice(&buf[..n]);
        r.consume(n);
        // Whole lines only; the rest waits for more input (or the end).
        let take = if eof {
            pending.len()
        } else {
            match memchr::memrchr(b'\n', &pending) {
                Some(i) if pending.len() >= BLOCK_BYTES || paused => i + 1,
                _ => 0,
            }
        };
        if take > 0 {
            let block = block_of(name, &pending[..take], &mut line_no)?;
            pending.drain(..take);
            if stop.load(Ordering::Relaxed) {
                return Ok(false);
            }
            if !block.lines.is_empty()
                && tx.send(Entry::Messages(now_us(), Payload::Lines(Arc::new(block)))).is_err()
            {
                return Ok(false);
            }
        }
        if eof {
            return Ok(true);
        }
    }
}

/// The block of `bytes` (whole lines), numbering its lines after `line_no`.
fn block_of(name: &Arc<str>, bytes: &[u8], line_no: &mut u64) -> anyhow::Result<Block> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        let line = *line_no + 1 + memchr::memchr_iter(b'\n', &bytes[..at]).count() as u64;
        let column = at - memchr::memrchr(b'\n', &bytes[..at]).map_or(0, |i| i + 1) + 1;
        anyhow!("{name}: line {line}, column {column}: invalid UTF-8")
    })?;
    let mut lines = Vec::new();
    let mut start = 0;
    let b = text.as_bytes();
    while start < b.len() {
        let end = memchr::memchr(b'\n', &b[start..]).map_or(b.len(), |i| start + i);
        *line_no += 1;
        if !b[start..end].iter().all(u8::is_ascii_whitespace) {
            lines.push((start..end, *line_no));
        }
        start = end + 1;
    }
    Ok(Block { input: Arc::clone(name), text: Arc::from(text), lines })
}

fn read_csv(
    name: &str,
    r: Box<dyn BufRead + Send>,
    tx: &SyncSender<Entry>,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let mut rdr = csv::ReaderBuilder::new().flexible(false).from_reader(r);
    let headers =
        rdr.headers().map_err(|e| anyhow!("{name}: line 1: bad CSV header: {e}"))?.clone();
    let mut rows = Vec::with_capacity(VALUES_PER_ENTRY);
    for rec in rdr.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            anyhow!("{name}: line {line}: malformed CSV: {e}")
        })?;
        let obj: serde_json::Map<String, Value> = headers
            .iter()
            .zip(rec.iter())
            .map(|(h, v)| (h.to_string(), Value::String(v.to_string())))
            .collect();
        rows.push(Value::Object(obj));
        if rows.len() == VALUES_PER_ENTRY {
            let full = std::mem::replace(&mut rows, Vec::with_capacity(VALUES_PER_ENTRY));
            if stop.load(Ordering::Relaxed)
                || tx.send(Entry::Messages(now_us(), Payload::Values(full))).is_err()
            {
                return Ok(());
            }
        }
    }
    if !rows.is_empty() && !stop.load(Ordering::Relaxed) {
        let _ = tx.send(Entry::Messages(now_us(), Payload::Values(rows)));
    }
    Ok(())
}
