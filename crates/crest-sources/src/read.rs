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

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};

use crest_core::record::{Location, Record, RecordError, RecordOrder, RecordSeq, RecordSink};
use crest_core::value::{Projection, RawValue};
use rayon::prelude::*;

use crate::error::ReadError;
use crate::input::Input;
use crate::scan::{Cursor, Matcher, ScanError, ScanErrorKind, Slot};

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

    fn add(&self, bytes: u64, records: u64) {
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
    let ctx = Ctx {
        matcher: &matcher,
        nslots: projection.len(),
        skip_invalid: options.skip_invalid,
        progress: options.progress.as_deref(),
    };
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
    let ctx = Ctx {
        matcher: &matcher,
        nslots: projection.len(),
        skip_invalid: options.skip_invalid,
        progress: options.progress.as_deref(),
    };
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
            if let Some((loc, _)) = skipped.first.as_mut() {
                if loc.input.is_empty() {
                    *loc = locate(loc.offset as usize, part.first_skip_index);
                }
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

/// Input bytes held in memory: a memory map or a buffer.
enum Buffer {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

/// Pages of a mapped input the scan has moved past are handed back in steps of this size, so
/// that resident memory stays small however large the file is.
const RELEASE_STEP: usize = 1 << 20;

/// How far ahead of the scan pages of a mapped input are faulted in, in one call.
const POPULATE_STEP: usize = 1 << 20;

impl Buffer {
    /// Faults in the pages of `[from, to)` in one call (Linux), rather than one page fault per
    /// 4 KiB as the scan touches them. Best effort: elsewhere, or on failure, pages fault in
    /// as usual.
    fn populate(&self, from: usize, to: usize) {
        #[cfg(target_os = "linux")]
        if let Buffer::Mapped(map) = self {
            const PAGE: usize = 4096;
            let start = (from / PAGE) * PAGE;
            let end = to.min(map.len());
            if end > start {
                let _ = map.advise_range(memmap2::Advice::PopulateRead, start, end - start);
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (from, to);
    }

    /// Tells the kernel the scan no longer needs `[from, to)` (whole pages inside it): they
    /// leave this process's resident set but stay in the page cache, and are read back
    /// transparently should anything touch them again (a rescan, an error location).
    fn release(&self, from: usize, to: usize) {
        const PAGE: usize = 4096;
        if let Buffer::Mapped(map) = self {
            let start = from.div_ceil(PAGE) * PAGE;
            let end = (to / PAGE) * PAGE;
            if end > start {
                // SAFETY: the map is a read-only view of a file; dropped pages are re-read
                // from the file on the next access, so no data visible to us changes.
                let _ = unsafe {
                    map.unchecked_advise_range(
                        memmap2::UncheckedAdvice::DontNeed,
                        start,
                        end - start,
                    )
                };
            }
        }
    }
}

impl std::ops::Deref for Buffer {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Buffer::Mapped(m) => m,
            Buffer::Owned(v) => v,
        }
    }
}

/// A compression format, recognised by its magic bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    fn name(self) -> &'static str {
        match self {
            Compression::None => "plain",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

enum Source {
    Buffer(Arc<Buffer>),
    Stream(Box<dyn Read + Send>, Compression),
}

fn open(input: &Input) -> Result<Source, ReadError> {
    let io_err = |source| ReadError::Io { input: input.name(), source };
    match input {
        Input::Stdin => {
            let mut reader = BufReader::with_capacity(STREAM_BLOCK_BYTES, io::stdin());
            let format = Compression::sniff(reader.fill_buf().map_err(io_err)?);
            Ok(Source::Stream(Box::new(reader), format))
        }
        Input::File(path) => {
            let mut file = File::open(path).map_err(io_err)?;
            let mut head = [0u8; 4];
            let n = read_up_to(&mut file, &mut head).map_err(io_err)?;
            let format = Compression::sniff(&head[..n]);
            let file = File::open(path).map_err(io_err)?;
            if format != Compression::None {
                return Ok(Source::Stream(Box::new(file), format));
            }
            let len = file.metadata().map_err(io_err)?.len();
            let buffer = if len >= MMAP_MIN_BYTES && file.metadata().map_err(io_err)?.is_file() {
                // SAFETY: the map is read-only; as with any tool that maps its input, a file
                // truncated by another process while it is read can fault the process.
                let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io_err)?;
                let _ = map.advise(memmap2::Advice::Sequential);
                Buffer::Mapped(map)
            } else {
                let mut v = Vec::with_capacity(len as usize);
                let mut file = file;
                file.read_to_end(&mut v).map_err(io_err)?;
                Buffer::Owned(v)
            };
            Ok(Source::Buffer(Arc::new(buffer)))
        }
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The framing an input uses, from its first non-blank byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    Array,
    Lines,
    Unknown,
}

fn layout_of(buf: &[u8]) -> Layout {
    match buf.iter().find(|b| !matches!(b, b' ' | b'\n' | b'\r' | b'\t')) {
        Some(b'[') => Layout::Array,
        Some(b'{') => Layout::Lines,
        _ => Layout::Unknown,
    }
}

/// Region boundaries `0 = c0 < c1 < … < ck = len` at likely record starts.
fn split_points(buf: &[u8], want: usize, min_chunk: usize) -> Vec<usize> {
    let mut cuts = vec![0];
    let layout = layout_of(buf);
    if layout != Layout::Unknown && want > 1 && buf.len() >= 2 * min_chunk {
        let step = (buf.len() / want).max(min_chunk);
        let mut nominal = step;
        while nominal < buf.len() {
            let from = nominal.max(*cuts.last().expect("non-empty") + 1);
            match find_record_start(buf, from, layout) {
                Some(c) if c < buf.len() => {
                    cuts.push(c);
                    nominal = c + step;
                }
                _ => break,
            }
        }
    }
    cuts.push(buf.len());
    cuts.dedup();
    cuts
}

/// The next `{` at or after `from` that looks like the start of a top-level record.
fn find_record_start(buf: &[u8], from: usize, layout: Layout) -> Option<usize> {
    let limit = from.saturating_add(SPLIT_SEARCH_BYTES).min(buf.len());
    let mut at = from;
    while let Some(rel) = memchr::memchr(b'{', &buf[at..limit]) {
        let p = at + rel;
        let mut j = p;
        let mut saw_newline = false;
        let mut back = |j: &mut usize| {
            while *j > 0 && matches!(buf[*j - 1], b' ' | b'\n' | b'\r' | b'\t') {
                saw_newline |= buf[*j - 1] == b'\n';
                *j -= 1;
            }
        };
        back(&mut j);
        let ok = match layout {
            Layout::Array => {
                if j > 0 && buf[j - 1] == b',' {
                    j -= 1;
                    back(&mut j);
                    j > 0 && buf[j - 1] == b'}'
                } else {
                    false
                }
            }
            Layout::Lines => saw_newline && j > 0 && buf[j - 1] == b'}',
            Layout::Unknown => false,
        };
        if ok {
            return Some(p);
        }
        at = p + 1;
    }
    None
}

enum Job<'s> {
    Chunk { input: u32, part: u32, buf: Arc<Buffer>, start: usize, end: usize },
    Stream { input: u32, name: String, reader: Box<dyn Read + Send + 's>, format: Compression },
}

/// Where the framing of the input stands between records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Frame {
    /// Before the first byte: an array or a stream of objects follows.
    Start,
    /// Inside the array, where a record must start.
    ArrayRecord,
    /// Inside the array, after a record: `,` or `]` follows.
    ArrayAfter,
    /// After the closing `]`: only whitespace may follow.
    ArrayClosed,
    /// In a stream of objects, between records.
    Lines,
}

/// Why a region scan stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    /// Reached the next region: a record starts at `pos` with framing `frame`.
    Handover(usize, Frame),
    /// The buffer ended inside a record starting at `pos`; more input is needed.
    NeedMore(usize, Frame),
    /// The input is complete.
    Done,
    /// An error stopped the scan.
    Failed,
}

/// The parts of a read that do not change per region.
struct Ctx<'m> {
    matcher: &'m Matcher,
    nslots: usize,
    skip_invalid: bool,
    progress: Option<&'m Progress>,
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

/// Scans `buf[start..]` as part `part` until the first record start at or after `end`.
///
/// With `check_utf8`, the region's own bytes `[start, end)` are validated as UTF-8 as the scan
/// goes (a rescan of a region already checked passes `false`).
#[allow(clippy::too_many_arguments)]
fn scan_part<S: RecordSink>(
    buf: &Buffer,
    input: u32,
    part: u32,
    start: usize,
    end: usize,
    frame: Frame,
    ctx: &Ctx<'_>,
    mut sink: S,
    check_utf8: bool,
) -> PartResult<S> {
    let mut state = RegionState::new(ctx.nslots);
    state.mapped = Some(buf);
    state.released = start;
    state.utf8 = check_utf8.then_some(Utf8Check { checked: start, end, error: None });
    let mut stop =
        scan_region(buf, start, end, true, frame, ctx, &mut state, &mut sink, input, part, 0);
    if let Some(check) = &mut state.utf8 {
        check.advance(buf, end);
        if let Some(offset) = check.error {
            if state.error.as_ref().is_none_or(|e| e.offset() > offset) {
                state.error = Some(PartError::Encoding { offset });
                stop = Stop::Failed;
            }
        }
    }
    let bytes = match stop {
        Stop::Handover(p, _) => p - start,
        _ => buf.len() - start,
    } as u64;
    PartResult {
        input,
        part,
        start,
        stop,
        sink,
        records: state.records,
        bytes,
        skipped: state.skipped,
        first_skip_index: state.first_skip_index,
        error: state.error,
    }
}

/// Checks that each chunk began where the one before it ended; rescans the ones that did not.
fn verify_chunks<S, F>(
    buf: &Arc<Buffer>,
    parts: Vec<PartResult<S>>,
    ctx: &Ctx<'_>,
    make_sink: &F,
) -> Vec<PartResult<S>>
where
    S: RecordSink,
    F: Fn() -> S,
{
    let ends: Vec<usize> =
        parts.iter().skip(1).map(|p| p.start).chain(std::iter::once(buf.len())).collect();
    let mut out: Vec<PartResult<S>> = Vec::with_capacity(parts.len());
    let mut expect: Option<(usize, Frame)> = None;
    for (part, end) in parts.into_iter().zip(ends) {
        let chosen = match expect {
            None => part,
            Some((pos, _)) if pos == part.start => part,
            Some((pos, frame)) => {
                // The guess was wrong (or the previous part ran past it): rescan from the true
                // boundary to this region's end. Region boundaries are not record boundaries
                // any more, so later parts are checked against this one's handover as usual.
                if pos >= end {
                    // The previous part already covered this whole region.
                    continue;
                }
                scan_part(buf, part.input, part.part, pos, end, frame, ctx, make_sink(), false)
            }
        };
        let stop = chosen.stop;
        let failed = chosen.error.is_some();
        out.push(chosen);
        match stop {
            Stop::Handover(pos, frame) if !failed => expect = Some((pos, frame)),
            _ => break,
        }
    }
    // Parts renumbered by position so record numbers stay consistent.
    for (i, p) in out.iter_mut().enumerate() {
        p.part = i as u32;
    }
    out
}

/// Mutable state of a region scan.
struct RegionState<'a> {
    records: u64,
    skipped: Skipped,
    first_skip_index: Option<u64>,
    error: Option<PartError>,
    slots: Vec<Slot<'a>>,
    values: Vec<Option<RawValue<'a>>>,
    /// Whether scanned bytes count as progress (streams count compressed bytes instead).
    count_bytes: bool,
    /// The mapped input, whose pages behind the scan are released as it goes.
    mapped: Option<&'a Buffer>,
    /// Up to where pages have been released.
    released: usize,
    /// Up to where pages have been faulted in.
    populated: usize,
    /// UTF-8 validation of the region, kept just ahead of the scan.
    utf8: Option<Utf8Check>,
}

/// Validates a region as UTF-8 in steps, so the check reads bytes while they are hot.
struct Utf8Check {
    checked: usize,
    end: usize,
    error: Option<usize>,
}

impl Utf8Check {
    /// Validates up to `to` (capped at the region's end); stops at the first error.
    fn advance(&mut self, buf: &[u8], to: usize) {
        let to = to.min(self.end);
        if self.error.is_some() || to <= self.checked {
            return;
        }
        match simdutf8::compat::from_utf8(&buf[self.checked..to]) {
            Ok(_) => self.checked = to,
            // A character cut by the step boundary: resume from its first byte next time.
            Err(e) if e.error_len().is_none() && to < self.end => self.checked += e.valid_up_to(),
            Err(e) => self.error = Some(self.checked + e.valid_up_to()),
        }
    }
}

impl RegionState<'_> {
    fn new(nslots: usize) -> Self {
        RegionState {
            records: 0,
            skipped: Skipped::default(),
            first_skip_index: None,
            error: None,
            slots: vec![Slot::EMPTY; nslots],
            values: vec![None; nslots],
            count_bytes: true,
            mapped: None,
            released: 0,
            populated: 0,
            utf8: None,
        }
    }
}

/// Scans records from `pos` until a record would start at or after `end`, the input ends,
/// or more input is needed (when `at_eof` is false). Offsets in `state` are buffer offsets;
/// record orders are `base + offset`.
#[allow(clippy::too_many_arguments)]
fn scan_region<'a, S: RecordSink>(
    buf: &'a [u8],
    mut pos: usize,
    end: usize,
    at_eof: bool,
    mut frame: Frame,
    ctx: &Ctx<'_>,
    state: &mut RegionState<'a>,
    sink: &mut S,
    input: u32,
    part: u32,
    base: u64,
) -> Stop {
    let mut cursor = Cursor::new(buf, pos);
    let mut reported = (pos, state.records);
    let fail = |state: &mut RegionState<'a>, err: PartError| {
        state.error = Some(err);
        Stop::Failed
    };
    let stop = loop {
        if let Some(progress) = ctx.progress {
            if pos - reported.0 >= PROGRESS_STEP {
                let counted =
                    if state.count_bytes { pos.min(end).saturating_sub(reported.0) } else { 0 };
                progress.add(counted as u64, state.records - reported.1);
                reported = (pos, state.records);
            }
        }
        if let Some(check) = &mut state.utf8 {
            if pos + PROGRESS_STEP > check.checked {
                check.advance(buf, pos + PROGRESS_STEP);
            }
        }
        if let Some(map) = state.mapped {
            if pos + POPULATE_STEP / 2 > state.populated {
                let from = state.populated.max(pos);
                state.populated = pos + POPULATE_STEP;
                map.populate(from, state.populated);
            }
            if pos >= state.released + RELEASE_STEP {
                map.release(state.released, pos);
                state.released = pos;
            }
        }
        cursor.pos = pos;
        cursor.skip_ws();
        pos = cursor.pos;
        let at_end = pos >= buf.len();
        match frame {
            Frame::Start => {
                if at_end {
                    break if at_eof { Stop::Done } else { Stop::NeedMore(pos, frame) };
                }
                match buf[pos] {
                    b'[' => {
                        pos += 1;
                        cursor.pos = pos;
                        cursor.skip_ws();
                        match cursor.peek() {
                            Ok(b']') => {
                                pos = cursor.pos + 1;
                                frame = Frame::ArrayClosed;
                            }
                            Ok(_) => {
                                pos = cursor.pos;
                                frame = Frame::ArrayRecord;
                            }
                            Err(_) if !at_eof => break Stop::NeedMore(0, Frame::Start),
                            Err(_) => {
                                break fail(
                                    state,
                                    PartError::Syntax {
                                        offset: pos,
                                        message: "unexpected end of input inside the array",
                                    },
                                );
                            }
                        }
                    }
                    b'{' => frame = Frame::Lines,
                    _ => {
                        break fail(
                            state,
                            PartError::Syntax {
                                offset: pos,
                                message: "expected a JSON array of records or JSON Lines objects",
                            },
                        );
                    }
                }
            }
            Frame::ArrayAfter => {
                if at_end {
                    break if at_eof {
                        fail(
                            state,
                            PartError::Syntax {
                                offset: pos,
                                message: "unexpected end of input (expected ',' or ']')",
                            },
                        )
                    } else {
                        Stop::NeedMore(pos, frame)
                    };
                }
                match buf[pos] {
                    b',' => {
                        pos += 1;
                        frame = Frame::ArrayRecord;
                    }
                    b']' => {
                        pos += 1;
                        frame = Frame::ArrayClosed;
                    }
                    _ => {
                        break fail(
                            state,
                            PartError::Syntax {
                                offset: pos,
                                message: "expected ',' or ']' after a record",
                            },
                        );
                    }
                }
            }
            Frame::ArrayClosed => {
                if at_end {
                    break if at_eof { Stop::Done } else { Stop::NeedMore(pos, frame) };
                }
                break fail(
                    state,
                    PartError::Syntax {
                        offset: pos,
                        message: "unexpected data after the closing ']'",
                    },
                );
            }
            Frame::ArrayRecord | Frame::Lines => {
                if at_end {
                    break match (frame, at_eof) {
                        (_, false) => Stop::NeedMore(pos, frame),
                        (Frame::Lines, true) => Stop::Done,
                        _ => fail(
                            state,
                            PartError::Syntax {
                                offset: pos,
                                message: "unexpected end of input (expected a record)",
                            },
                        ),
                    };
                }
                if pos >= end {
                    break Stop::Handover(pos, frame);
                }
                let record_start = pos;
                state.slots.fill(Slot::EMPTY);
                cursor.pos = pos;
                match cursor.record(ctx.matcher, &mut state.slots, 0) {
                    Ok(()) => {
                        pos = cursor.pos;
                        let index = state.records;
                        state.records += 1;
                        for (v, s) in state.values.iter_mut().zip(&state.slots) {
                            *v = s.value;
                        }
                        let record = Record {
                            slots: &state.values,
                            order: RecordOrder { input, offset: base + record_start as u64 },
                            seq: RecordSeq { part, index },
                        };
                        if let Err(error) = sink.accept(&record) {
                            if ctx.skip_invalid {
                                note_skip(
                                    state,
                                    error.cause(),
                                    base,
                                    record_start,
                                    index,
                                    &error.to_string(),
                                );
                            } else {
                                break fail(
                                    state,
                                    PartError::Record { offset: record_start, index, error },
                                );
                            }
                        }
                        if frame == Frame::ArrayRecord {
                            frame = Frame::ArrayAfter;
                        }
                    }
                    Err(ScanError { kind: ScanErrorKind::Eof, offset }) => {
                        if !at_eof {
                            break Stop::NeedMore(record_start, frame);
                        }
                        break fail(
                            state,
                            PartError::Syntax {
                                offset,
                                message: "unexpected end of input inside a record",
                            },
                        );
                    }
                    Err(ScanError { kind: ScanErrorKind::Syntax(message), offset }) => {
                        if ctx.skip_invalid && frame == Frame::Lines {
                            // A malformed line: skip to the next line and go on.
                            let index = state.records;
                            state.records += 1;
                            note_skip(
                                state,
                                "malformed JSON".into(),
                                base,
                                record_start,
                                index,
                                message,
                            );
                            match memchr::memchr(b'\n', &buf[offset.min(buf.len())..]) {
                                Some(nl) => pos = offset + nl + 1,
                                None if at_eof => pos = buf.len(),
                                None => break Stop::NeedMore(record_start, frame),
                            }
                        } else {
                            break fail(state, PartError::Syntax { offset, message });
                        }
                    }
                }
            }
        }
    };
    if let Some(progress) = ctx.progress {
        let stop_at = match stop {
            Stop::Handover(p, _) | Stop::NeedMore(p, _) => p,
            _ => buf.len(),
        };
        let counted =
            if state.count_bytes { stop_at.min(end).saturating_sub(reported.0) } else { 0 };
        progress.add(counted as u64, state.records - reported.1);
    }
    stop
}

fn note_skip(
    state: &mut RegionState<'_>,
    cause: String,
    base: u64,
    offset: usize,
    index: u64,
    message: &str,
) {
    if state.skipped.first.is_none() {
        state.first_skip_index = Some(index);
    }
    state.skipped.note(
        cause,
        || Location {
            input: String::new(),
            record: None,
            line: None,
            column: None,
            offset: base + offset as u64,
        },
        || message.to_string(),
    );
}

/// One decoded block from a stream, or why decoding stopped.
type Block = Result<Vec<u8>, ReadError>;

/// Counts compressed bytes for the progress display as they are read.
struct Counting<'p, R> {
    inner: R,
    progress: Option<&'p Progress>,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(p) = self.progress {
            p.add(n as u64, 0);
        }
        Ok(n)
    }
}

/// Decodes `reader` into UTF-8-validated blocks, sending them to `tx` (runs on its own thread).
fn decode_blocks(
    name: &str,
    reader: impl Read + Send,
    format: Compression,
    tx: std::sync::mpsc::SyncSender<Block>,
) {
    let mut reader: Box<dyn Read + Send + '_> = match format {
        Compression::None => Box::new(reader),
        Compression::Gzip => {
            Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(1 << 16, reader)))
        }
        Compression::Zstd => match zstd::stream::read::Decoder::new(reader) {
            Ok(d) => Box::new(d),
            Err(e) => {
                let _ = tx.send(Err(ReadError::Decompress {
                    input: name.into(),
                    format: "zstd",
                    message: e.to_string(),
                }));
                return;
            }
        },
    };
    let mut carry: Vec<u8> = Vec::new();
    let mut consumed = 0u64;
    let mut lines = 0u64;
    loop {
        let mut block = Vec::with_capacity(STREAM_BLOCK_BYTES + carry.len());
        block.append(&mut carry);
        let mut eof = false;
        while block.len() < STREAM_BLOCK_BYTES {
            let len = block.len();
            block.resize(STREAM_BLOCK_BYTES, 0);
            match reader.read(&mut block[len..]) {
                Ok(0) => {
                    block.truncate(len);
                    eof = true;
                    break;
                }
                Ok(n) => block.truncate(len + n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => block.truncate(len),
                Err(e) => {
                    let err = match format {
                        Compression::None => ReadError::Io { input: name.into(), source: e },
                        f => ReadError::Decompress {
                            input: name.into(),
                            format: f.name(),
                            message: e.to_string(),
                        },
                    };
                    let _ = tx.send(Err(err));
                    return;
                }
            }
        }
        // Cut at a character boundary so each block validates on its own.
        let cut = if eof { block.len() } else { utf8_boundary(&block) };
        carry = block.split_off(cut);
        if let Err(e) = simdutf8::compat::from_utf8(&block) {
            let (line, column) = line_col(&block[..e.valid_up_to()]);
            let location = Location {
                input: name.into(),
                record: None,
                line: Some(lines + line),
                column: Some(column),
                offset: consumed + e.valid_up_to() as u64,
            };
            let _ = tx.send(Err(ReadError::Encoding { location: Box::new(location) }));
            return;
        }
        consumed += block.len() as u64;
        lines += memchr::memchr_iter(b'\n', &block).count() as u64;
        if tx.send(Ok(block)).is_err() || eof {
            return;
        }
    }
}

/// The largest `i <= buf.len()` such that `buf[..i]` ends on a UTF-8 character boundary.
fn utf8_boundary(buf: &[u8]) -> usize {
    // Find the last lead byte (at most three continuation bytes back) and keep its
    // character only if it is complete.
    for back in 1..=4.min(buf.len()) {
        let i = buf.len() - back;
        let b = buf[i];
        if b & 0xC0 != 0x80 {
            let need = match b {
                0x00..=0x7F => 1,
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                _ => 4,
            };
            return if back >= need { buf.len() } else { i };
        }
    }
    buf.len()
}

/// Scans a stream (compressed file or standard input) with a decoding thread beside it.
fn scan_stream<S: RecordSink>(
    input: u32,
    name: &str,
    reader: Box<dyn Read + Send + '_>,
    format: Compression,
    ctx: &Ctx<'_>,
    mut sink: S,
) -> PartResult<S> {
    let r = std::thread::scope(|scope| {
        let (tx, rx) = sync_channel::<Block>(4);
        let counted = Counting { inner: reader, progress: ctx.progress };
        scope.spawn(move || decode_blocks(name, counted, format, tx));
        // Dropping `rx` when the scan stops early lets the decoder thread finish.
        stream_loop(rx, input, name, ctx, &mut sink)
    });
    PartResult {
        input: r.input,
        part: r.part,
        start: r.start,
        stop: r.stop,
        sink,
        records: r.records,
        bytes: r.bytes,
        skipped: r.skipped,
        first_skip_index: r.first_skip_index,
        error: r.error,
    }
}

/// Scans blocks as they arrive. Locations are resolved on the spot, while the bytes are here.
fn stream_loop<S: RecordSink>(
    rx: Receiver<Block>,
    input: u32,
    name: &str,
    ctx: &Ctx<'_>,
    sink: &mut S,
) -> PartResult<()> {
    let mut out = PartResult {
        input,
        part: 0,
        start: 0,
        stop: Stop::Done,
        sink: (),
        records: 0,
        bytes: 0,
        skipped: Skipped::default(),
        first_skip_index: None,
        error: None,
    };
    let mut buf: Vec<u8> = Vec::new();
    let mut base = 0u64; // stream offset of buf[0]
    let mut lines_before = 0u64; // newlines before buf[0]
    let mut frame = Frame::Start;
    let mut at_eof = false;
    let locate = |buf: &[u8], base: u64, lines_before: u64, rel: usize, record: Option<u64>| {
        let (line, column) = line_col(&buf[..rel.min(buf.len())]);
        Location {
            input: name.to_string(),
            record,
            line: Some(lines_before + line),
            column: Some(column),
            offset: base + rel as u64,
        }
    };
    loop {
        // Take at least as much new input as is left over, so that a record larger than a
        // block is rescanned only a logarithmic number of times.
        let leftover = buf.len();
        let mut received = 0usize;
        while !at_eof && (received == 0 || received < leftover) {
            match rx.recv() {
                Ok(Ok(block)) => {
                    received += block.len();
                    buf.extend_from_slice(&block);
                }
                Ok(Err(e)) => {
                    out.error = Some(PartError::Final(e));
                    out.stop = Stop::Failed;
                    out.bytes = base + buf.len() as u64;
                    return out;
                }
                Err(_) => at_eof = true,
            }
        }
        let mut state = RegionState::new(ctx.nslots);
        state.records = out.records;
        state.count_bytes = false;
        let stop =
            scan_region(&buf, 0, usize::MAX, at_eof, frame, ctx, &mut state, sink, input, 0, base);
        out.records = state.records;
        if let Some((loc, _)) = state.skipped.first.as_mut() {
            *loc = locate(
                &buf,
                base,
                lines_before,
                (loc.offset - base) as usize,
                state.first_skip_index.map(|i| i + 1),
            );
        }
        if out.skipped.first.is_none() {
            out.first_skip_index = state.first_skip_index;
        }
        out.skipped.absorb(std::mem::take(&mut state.skipped));
        match stop {
            Stop::NeedMore(pos, f) if !at_eof => {
                lines_before += memchr::memchr_iter(b'\n', &buf[..pos]).count() as u64;
                buf.drain(..pos);
                base += pos as u64;
                frame = f;
            }
            _ => {
                out.stop = stop;
                out.bytes = base + buf.len() as u64;
                out.error = state.error.take().map(|err| {
                    PartError::Final(err.into_read_error(|offset, index| {
                        locate(&buf, base, lines_before, offset, index.map(|i| i + 1))
                    }))
                });
                return out;
            }
        }
    }
}

#[cfg(test)]
mod tests;
