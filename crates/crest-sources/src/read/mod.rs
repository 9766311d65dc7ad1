//! Reading records from inputs: framing, parallel chunks, decompression and error locations.
//!
//! **Framing.** An input is either one JSON array of objects or a stream of objects (JSON
//! Lines); the first non-blank byte decides. Every element must be an object: a record.
//!
//! **Parallel chunks.** A large plain file is memory-mapped and cut into regions at places that
//! look like record boundaries (`}` `,` `{` in an array, `}` newline `{` in JSON Lines). Each
//! region is scanned on its own thread, on the guess that it starts at a record. The guess is
//! then checked in order: the region before must end exactly where this one began. A wrong
//! guess (the pattern sat inside a string, say) costs one sequential rescan of that region,
//! never a wrong result.
//!
//! **Streams.** Compressed files and standard input are decoded on one thread and scanned on
//! another, through a bounded queue, so memory stays flat whatever the input size.

mod chunks;
mod csv;
mod region;
mod source;
mod stream;

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crest_core::record::{Location, RecordError, RecordOrder, RecordSeq, RecordSink};
use crest_core::value::Projection;
use rayon::prelude::*;

use self::chunks::{Layout, layout_of, scan_part, split_points, verify_chunks};
use self::region::{Frame, RegionState, Stop, scan_region};
use self::source::{Buffer, Compression, Source, open};
use self::stream::scan_stream;
use crate::error::ReadError;
use crate::input::Input;
use crate::scan::Matcher;

pub use self::csv::read_csv;

/// Files smaller than this are read into memory instead of memory-mapped.
const MMAP_MIN_BYTES: u64 = 1 << 20;
/// Regions are at least this large by default, so that small files are not split for nothing.
const MIN_CHUNK_BYTES: usize = 8 << 20;
/// How far past a nominal cut point to look for a record boundary before giving up.
const SPLIT_SEARCH_BYTES: usize = 16 << 20;
/// Size of the blocks a decompressing reader hands to the scanner.
const STREAM_BLOCK_BYTES: usize = 1 << 20;
/// How often (in bytes scanned) progress counters are updated.
const PROGRESS_STEP: usize = 1 << 20;

/// How to read.
#[derive(Clone, Debug, Default)]
pub struct ReadOptions {
    /// Skip records the detector rejects (and, in JSON Lines, malformed lines), counting them,
    /// instead of stopping at the first one.
    pub skip_invalid: bool,
    /// Live counters for a progress display.
    pub progress: Option<Arc<Progress>>,
    /// Regions per worker thread for large files (0: a sensible default).
    pub chunks_per_thread: usize,
    /// Smallest region a large file is cut into, in bytes (0: 8 MiB).
    pub min_chunk_bytes: usize,
}

/// Counters a progress display can poll while reading runs.
#[derive(Debug, Default)]
pub struct Progress {
    bytes: AtomicU64,
    records: AtomicU64,
}

impl Progress {
    /// Input bytes read so far (compressed bytes for compressed inputs).
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Records scanned so far.
    pub fn records(&self) -> u64 {
        self.records.load(Ordering::Relaxed)
    }

    /// Counts `bytes` more input bytes and `records` more records.
    pub fn add(&self, bytes: u64, records: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.records.fetch_add(records, Ordering::Relaxed);
    }
}

/// Records skipped at the user's request, by cause.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Skipped {
    /// How many records were skipped in all.
    pub total: u64,
    /// How many were skipped for each cause (`missing field 'file.sha1'`, `malformed JSON`…).
    pub by_cause: BTreeMap<String, u64>,
    /// The first skipped record and why.
    pub first: Option<(Location, String)>,
}

impl Skipped {
    /// The causes and the first skipped record, as a log line says them:
    /// `2 missing field 'x', 1 malformed JSON; first at FILE: record 3…: why`.
    pub fn summary(&self) -> String {
        let causes: Vec<String> = self.by_cause.iter().map(|(c, n)| format!("{n} {c}")).collect();
        let first = self
            .first
            .as_ref()
            .map(|(loc, why)| format!("; first at {loc}: {why}"))
            .unwrap_or_default();
        format!("{}{first}", causes.join(", "))
    }

    /// Adds another tally (appended after this one in input order).
    pub fn absorb(&mut self, other: Skipped) {
        self.total += other.total;
        for (cause, n) in other.by_cause {
            *self.by_cause.entry(cause).or_default() += n;
        }
        if self.first.is_none() {
            self.first = other.first;
        }
    }

    /// Counts one skipped record.
    pub fn note(
        &mut self,
        cause: String,
        location: impl FnOnce() -> Location,
        message: impl FnOnce() -> String,
    ) {
        self.total += 1;
        *self.by_cause.entry(cause).or_default() += 1;
        if self.first.is_none() {
            self.first = Some((location(), message()));
        }
    }
}

/// What reading produced: one sink per part of the input, in input order, and the tallies.
pub struct Readout<S> {
    /// The sinks, one per part read, in input order; merge them in this order.
    pub parts: Vec<S>,
    /// Records read (including skipped ones).
    pub records: u64,
    /// Bytes of (decompressed) input scanned.
    pub bytes: u64,
    /// Records skipped at the user's request.
    pub skipped: Skipped,
    locator: Locator,
}

/// Reads records from bytes already in memory (a JSON array or JSON Lines), on the calling
/// thread, into one sink. `name` names the input in messages.
pub fn read_slice<S: RecordSink>(
    bytes: &[u8],
    name: &str,
    projection: &Projection,
    options: &ReadOptions,
    mut sink: S,
) -> Result<Readout<S>, ReadError> {
    let matcher = Matcher::new(projection.fields());
    let ctx = Ctx::new(&matcher, projection, options);
    let locate =
        |offset: usize, record: Option<u64>| locate_in(name, Some(bytes), offset as u64, record);
    if let Err(e) = simdutf8::compat::from_utf8(bytes) {
        return Err(ReadError::Encoding { location: Box::new(locate(e.valid_up_to(), None)) });
    }
    let mut state = RegionState::new(ctx.nslots);
    scan_region(bytes, 0, bytes.len(), true, Frame::Start, &ctx, &mut state, &mut sink, 0, 0, 0);
    let mut skipped = state.skipped;
    if let Some((loc, _)) = skipped.first.as_mut() {
        *loc = locate(loc.offset as usize, state.first_skip_index.map(|i| i + 1));
    }
    if let Some(err) = state.error {
        return Err(err.into_read_error(|offset, index| locate(offset, index.map(|i| i + 1))));
    }
    let locator = Locator {
        inputs: vec![InputLocator { name: name.to_string(), buffer: None, part_bases: vec![0] }],
    };
    Ok(Readout {
        parts: vec![sink],
        records: state.records,
        bytes: bytes.len() as u64,
        skipped,
        locator,
    })
}

impl<S> Readout<S> {
    /// Where the record at `order`/`seq` is, as precisely as the input allows (line and
    /// column for plain files; record number always).
    pub fn locate(&self, order: RecordOrder, seq: RecordSeq) -> Location {
        self.locator.locate(order, seq)
    }
}

/// Reads every input, calling a sink from `make_sink` for each part, in parallel where it pays.
///
/// On error, the error is the first one in input order (file order, then byte order).
pub fn read<S, F>(
    inputs: &[Input],
    projection: &Projection,
    options: &ReadOptions,
    make_sink: F,
) -> Result<Readout<S>, ReadError>
where
    S: RecordSink + Send,
    F: Fn() -> S + Sync,
{
    let matcher = Matcher::new(projection.fields());
    let ctx = Ctx::new(&matcher, projection, options);
    let threads = rayon::current_num_threads().max(1);
    let chunks_per_thread =
        if options.chunks_per_thread == 0 { 1 } else { options.chunks_per_thread };
    let min_chunk =
        if options.min_chunk_bytes == 0 { MIN_CHUNK_BYTES } else { options.min_chunk_bytes };

    // Open everything first, so that a missing file fails before any work is done.
    let mut jobs = Vec::new();
    let mut buffers: Vec<Option<Arc<Buffer>>> = Vec::with_capacity(inputs.len());
    for (i, input) in inputs.iter().enumerate() {
        match open(input)? {
            Source::Buffer(buf) => {
                let cuts = split_points(&buf, threads * chunks_per_thread, min_chunk);
                for (part, w) in cuts.windows(2).enumerate() {
                    jobs.push(Job::Chunk {
                        input: i as u32,
                        part: part as u32,
                        buf: Arc::clone(&buf),
                        start: w[0],
                        end: w[1],
                    });
                }
                buffers.push(Some(buf));
            }
            Source::Stream(reader, format) => {
                jobs.push(Job::Stream { input: i as u32, name: input.name(), reader, format });
                buffers.push(None);
            }
        }
    }

    let mut results: Vec<PartResult<S>> =
        jobs.into_par_iter().map(|job| run_job(job, &ctx, &make_sink)).collect();
    results.sort_by_key(|r| (r.input, r.part));

    // Verify the chunk guesses input by input, rescanning where a guess was wrong.
    let mut readout = Readout {
        parts: Vec::new(),
        records: 0,
        bytes: 0,
        skipped: Skipped::default(),
        locator: Locator::default(),
    };
    let mut results = results.into_iter().peekable();
    for (i, (input, buffer)) in inputs.iter().zip(buffers).enumerate() {
        let name = input.name();
        let mut mine = Vec::new();
        while let Some(r) = results.next_if(|r| r.input == i as u32) {
            mine.push(r);
        }
        let verified = match &buffer {
            Some(buf) => verify_chunks(buf, mine, &ctx, &make_sink),
            None => mine,
        };
        let bytes = buffer.as_deref().map(|b| &b[..]);
        let mut part_bases = Vec::with_capacity(verified.len());
        let mut records_before = 0u64;
        for part in verified {
            part_bases.push(records_before);
            let locate = |offset: usize, index: Option<u64>| {
                locate_in(&name, bytes, offset as u64, index.map(|x| records_before + x + 1))
            };
            readout.bytes += part.bytes;
            readout.records += part.records;
            let mut skipped = part.skipped;
            if let Some((loc, _)) = skipped.first.as_mut()
                && loc.input.is_empty()
            {
                *loc = locate(loc.offset as usize, part.first_skip_index);
            }
            readout.skipped.absorb(skipped);
            if let Some(err) = part.error {
                return Err(err.into_read_error(locate));
            }
            records_before += part.records;
            readout.parts.push(part.sink);
        }
        readout.locator.inputs.push(InputLocator { name, buffer, part_bases });
    }
    Ok(readout)
}

/// Turns record positions into locations after reading.
#[derive(Default)]
struct Locator {
    inputs: Vec<InputLocator>,
}

struct InputLocator {
    name: String,
    buffer: Option<Arc<Buffer>>,
    /// Records before each part.
    part_bases: Vec<u64>,
}

impl Locator {
    fn locate(&self, order: RecordOrder, seq: RecordSeq) -> Location {
        let Some(input) = self.inputs.get(order.input as usize) else {
            return Location {
                input: format!("input {}", order.input),
                record: None,
                line: None,
                column: None,
                offset: order.offset,
            };
        };
        let record = input.part_bases.get(seq.part as usize).map(|base| base + seq.index + 1);
        locate_in(&input.name, input.buffer.as_deref().map(|b| &b[..]), order.offset, record)
    }
}

/// Builds a location, computing line and column when the bytes are at hand.
fn locate_in(name: &str, bytes: Option<&[u8]>, offset: u64, record: Option<u64>) -> Location {
    let (line, column) = match bytes {
        Some(b) if (offset as usize) <= b.len() => {
            let (line, col) = line_col(&b[..offset as usize]);
            (Some(line), Some(col))
        }
        _ => (None, None),
    };
    Location { input: name.to_string(), record, line, column, offset }
}

/// 1-based line and column of the byte just after `before`.
fn line_col(before: &[u8]) -> (u64, u64) {
    let line = memchr::memchr_iter(b'\n', before).count() as u64 + 1;
    let col = match memchr::memrchr(b'\n', before) {
        Some(nl) => before.len() - nl,
        None => before.len() + 1,
    };
    (line, col as u64)
}

enum Job<'s> {
    Chunk { input: u32, part: u32, buf: Arc<Buffer>, start: usize, end: usize },
    Stream { input: u32, name: String, reader: Box<dyn Read + Send + 's>, format: Compression },
}

/// The parts of a read that do not change per region.
struct Ctx<'m> {
    matcher: &'m Matcher,
    nslots: usize,
    skip_invalid: bool,
    progress: Option<&'m Progress>,
}

impl<'m> Ctx<'m> {
    fn new(matcher: &'m Matcher, projection: &Projection, options: &'m ReadOptions) -> Self {
        Ctx {
            matcher,
            nslots: projection.len(),
            skip_invalid: options.skip_invalid,
            progress: options.progress.as_deref(),
        }
    }
}

/// An error found in a part, located by buffer offset (turned into a [`Location`] once the
/// parts before it are known), or already final.
enum PartError {
    Syntax { offset: usize, message: &'static str },
    Encoding { offset: usize },
    Record { offset: usize, index: u64, error: RecordError },
    Final(ReadError),
}

impl PartError {
    /// The final error, located by `locate(offset, record index within the part)`.
    fn into_read_error(self, locate: impl Fn(usize, Option<u64>) -> Location) -> ReadError {
        match self {
            PartError::Syntax { offset, message } => ReadError::Syntax {
                location: Box::new(locate(offset, None)),
                message: message.to_string(),
            },
            PartError::Encoding { offset } => {
                ReadError::Encoding { location: Box::new(locate(offset, None)) }
            }
            PartError::Record { offset, index, error } => {
                ReadError::Record { location: Box::new(locate(offset, Some(index))), error }
            }
            PartError::Final(e) => e,
        }
    }

    fn offset(&self) -> usize {
        match self {
            PartError::Syntax { offset, .. }
            | PartError::Encoding { offset }
            | PartError::Record { offset, .. } => *offset,
            PartError::Final(_) => usize::MAX,
        }
    }
}

/// The outcome of scanning one part of an input.
struct PartResult<S> {
    input: u32,
    part: u32,
    /// Where the scan began (for checking chunk guesses).
    start: usize,
    stop: Stop,
    sink: S,
    records: u64,
    bytes: u64,
    skipped: Skipped,
    /// Record index of the first skipped record, to number it once parts are verified.
    first_skip_index: Option<u64>,
    error: Option<PartError>,
}

fn run_job<S, F>(job: Job<'_>, ctx: &Ctx<'_>, make_sink: &F) -> PartResult<S>
where
    S: RecordSink,
    F: Fn() -> S,
{
    match job {
        Job::Chunk { input, part, buf, start, end } => {
            let frame = if start == 0 {
                Frame::Start
            } else if layout_of(&buf) == Layout::Array {
                Frame::ArrayRecord
            } else {
                Frame::Lines
            };
            scan_part(&buf, input, part, start, end, frame, ctx, make_sink(), true)
        }
        Job::Stream { input, name, reader, format } => {
            scan_stream(input, &name, reader, format, ctx, make_sink())
        }
    }
}

#[cfg(test)]
mod tests;
