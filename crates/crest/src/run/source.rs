//! `crest run`'s sources: threads that read JSON Lines and hand batches of lines to the
//! pipelines through one bounded channel (a full channel makes the readers wait).
//!
//! A file source resumes at the position of its checkpoint: plain files seek there,
//! compressed ones decompress and skip that many bytes. A followed file is polled as it grows;
//! when its inode changes (rotated) or it shrinks (truncated), it is reopened from the start.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Where a source stands: what the pipelines have consumed of it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Position {
    /// Bytes consumed (of the decompressed text).
    pub offset: u64,
    /// Lines consumed.
    pub line: u64,
    /// The file's inode when it was read (a rotated file has another).
    pub inode: Option<u64>,
}

/// Lines read by a source, in order.
pub(crate) struct Batch {
    /// The source's index.
    pub source: usize,
    /// The lines' bytes, each without its newline.
    pub data: Vec<u8>,
    /// Where each line ends in `data`.
    pub ends: Vec<usize>,
    /// The position of the first line.
    pub start: Position,
    /// The position after the last line.
    pub end: Position,
}

/// What a source thread says.
pub(crate) enum Message {
    /// Lines to process.
    Batch(Batch),
    /// The source has nothing more (a file read once, or standard input, at its end).
    Done(usize),
    /// The source cannot go on.
    Failed(usize, String),
}

/// What a source reads.
pub(crate) enum Origin {
    /// A file, read once or followed.
    File {
        /// The file.
        path: PathBuf,
        /// Keep reading as it grows.
        follow: bool,
    },
    /// Standard input.
    Stdin,
}

/// How a source thread runs.
pub(crate) struct Reader {
    /// The source's index.
    pub index: usize,
    /// What it reads.
    pub origin: Origin,
    /// Where to start (a file's checkpointed position).
    pub resume: Position,
    /// Lines per batch.
    pub batch_size: usize,
    /// Set when the service stops: the reader sends what it has and ends.
    pub stop: Arc<AtomicBool>,
}

/// How long a followed file waits between looks, and the longest a partial batch waits.
const POLL: Duration = Duration::from_millis(100);

impl Reader {
    /// Runs the source until its end, a stop, or an error; tells `tx` each.
    pub(crate) fn run(self, tx: SyncSender<Message>) {
        let index = self.index;
        let outcome = match &self.origin {
            Origin::Stdin => {
                let stdin = std::io::stdin();
                self.pump(&mut stdin.lock(), Position::default(), &tx, None)
            }
            Origin::File { path, follow } => self.file(path, *follow, &tx),
        };
        let last = match outcome {
            Ok(()) => Message::Done(index),
            Err(e) => Message::Failed(index, e),
        };
        let _ = tx.send(last);
    }

    fn file(&self, path: &Path, follow: bool, tx: &SyncSender<Message>) -> Result<(), String> {
        let mut resume = self.resume;
        loop {
            let (mut reader, inode) = open(path, resume)?;
            if resume.inode.is_some() && inode.is_some() && resume.inode != inode {
                tracing::warn!(
                    "{}: the file was replaced since the checkpoint; reading it from the start",
                    path.display()
                );
                resume = Position::default();
                continue;
            }
            let start = Position { inode, ..resume };
            let watch = follow.then_some(Watch { path, inode });
            match self.pump(&mut reader, start, tx, watch.as_ref())? {
                () if !follow || self.stop.load(Ordering::Relaxed) => return Ok(()),
                // Rotated or truncated: the new file from its start.
                () => resume = Position::default(),
            }
        }
    }

    /// Reads lines into batches until the end (or, when watching a followed file, until a
    /// stop, a rotation or a truncation).
    fn pump(
        &self,
        reader: &mut dyn BufRead,
        mut at: Position,
        tx: &SyncSender<Message>,
        watch: Option<&Watch<'_>>,
    ) -> Result<(), String> {
        let mut batch = self.batch(at);
        let mut partial: Vec<u8> = Vec::new();
        let mut waiting_since = Instant::now();
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return self.send(batch, tx);
            }
            let before = partial.len();
            let n = reader
                .read_until(b'\n', &mut partial)
                .map_err(|e| format!("line {}: cannot read: {e}", at.line + 1))?;
            if n == 0 || partial.last() != Some(&b'\n') {
                // The end for now. A followed file may grow: keep the partial line and look
                // again; otherwise a last line without a newline is a line.
                if let Some(w) = watch {
                    if !batch.ends.is_empty() && waiting_since.elapsed() >= POLL {
                        self.send(std::mem::replace(&mut batch, self.batch(at)), tx)?;
                    }
                    if w.moved(at.offset + partial.len() as u64) {
                        self.send(batch, tx)?;
                        return Ok(());
                    }
                    if n == 0 || partial.len() == before {
                        std::thread::sleep(POLL);
                    }
                    continue;
                }
                if !partial.is_empty() {
                    at.offset += partial.len() as u64;
                    at.line += 1;
                    self.push(&mut batch, &partial, at);
                }
                return self.send(batch, tx);
            }
            at.offset += partial.len() as u64;
            at.line += 1;
            partial.pop();
            if partial.last() == Some(&b'\r') {
                partial.pop();
            }
            self.push(&mut batch, &partial, at);
            partial.clear();
            if batch.ends.len() >= self.batch_size {
                self.send(std::mem::replace(&mut batch, self.batch(at)), tx)?;
                waiting_since = Instant::now();
            }
        }
    }

    fn batch(&self, start: Position) -> Batch {
        Batch { source: self.index, data: Vec::new(), ends: Vec::new(), start, end: start }
    }

    /// Adds a line; `at` is the position after it.
    fn push(&self, batch: &mut Batch, line: &[u8], at: Position) {
        batch.data.extend_from_slice(line);
        batch.ends.push(batch.data.len());
        batch.end = at;
    }

    fn send(&self, batch: Batch, tx: &SyncSender<Message>) -> Result<(), String> {
        if batch.ends.is_empty() {
            return Ok(());
        }
        tx.send(Message::Batch(batch)).map_err(|_| "the service stopped".to_string())
    }
}

/// A followed file, to notice rotation and truncation.
struct Watch<'a> {
    path: &'a Path,
    inode: Option<u64>,
}

impl Watch<'_> {
    /// Whether the path now names another file, or a shorter one than what was read.
    fn moved(&self, read: u64) -> bool {
        match std::fs::metadata(self.path) {
            Ok(m) => inode_of(&m) != self.inode || m.len() < read,
            // Gone for a moment during a rotation: wait for the new one.
            Err(_) => false,
        }
    }
}

#[cfg(unix)]
fn inode_of(m: &std::fs::Metadata) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    Some(m.ino())
}

#[cfg(not(unix))]
fn inode_of(_: &std::fs::Metadata) -> Option<u64> {
    None
}

/// Opens a file at a position: seeks a plain file, skips into a compressed one.
fn open(path: &Path, at: Position) -> Result<(Box<dyn BufRead + Send>, Option<u64>), String> {
    let mut file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let inode = file.metadata().ok().as_ref().and_then(inode_of);
    let name = path.to_string_lossy();
    let compressed: Option<Box<dyn Read + Send>> = if name.ends_with(".gz") {
        Some(Box::new(flate2::read::MultiGzDecoder::new(
            file.try_clone().map_err(|e| e.to_string())?,
        )))
    } else if name.ends_with(".zst") || name.ends_with(".zstd") {
        Some(Box::new(
            zstd::Decoder::new(file.try_clone().map_err(|e| e.to_string())?)
                .map_err(|e| format!("cannot read zstd: {e}"))?,
        ))
    } else {
        None
    };
    let reader: Box<dyn BufRead + Send> = match compressed {
        Some(r) => {
            let mut r = BufReader::with_capacity(1 << 20, r);
            let skipped = std::io::copy(&mut (&mut r).take(at.offset), &mut std::io::sink())
                .map_err(|e| format!("cannot decompress: {e}"))?;
            if skipped < at.offset {
                return Err(format!(
                    "the checkpoint is at byte {} but the file has {skipped}",
                    at.offset
                ));
            }
            Box::new(r)
        }
        None => {
            file.seek(SeekFrom::Start(at.offset)).map_err(|e| format!("cannot seek: {e}"))?;
            Box::new(BufReader::with_capacity(1 << 20, file))
        }
    };
    Ok((reader, inode))
}

/// A file's lines (`-`: standard input), decompressed by extension, for `crest publish`.
pub(crate) fn open_lines(path: &Path) -> anyhow::Result<Box<dyn BufRead + Send>> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(BufReader::new(std::io::stdin())));
    }
    open(path, Position::default())
        .map(|(r, _)| r)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}
