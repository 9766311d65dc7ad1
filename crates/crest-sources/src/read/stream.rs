//! Streams: compressed files and standard input, decoded on one thread and scanned on another.

use std::io::{self, BufReader, Read};
use std::sync::mpsc::{Receiver, sync_channel};

use crest_core::record::{Location, RecordSink};

use super::region::{Frame, RegionState, Stop, scan_region};
use super::source::Compression;
use super::{Ctx, PartError, PartResult, Progress, STREAM_BLOCK_BYTES, Skipped, line_col};
use crate::error::ReadError;

/// One decoded block from a stream, or why decoding stopped.
type Block = Result<Vec<u8>, ReadError>;

/// Counts compressed bytes for the progress display as they are read.
pub(super) struct Counting<'p, R> {
    pub(super) inner: R,
    pub(super) progress: Option<&'p Progress>,
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
pub(super) fn utf8_boundary(buf: &[u8]) -> usize {
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
pub(super) fn scan_stream<S: RecordSink>(
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
