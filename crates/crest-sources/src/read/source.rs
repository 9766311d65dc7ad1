//! Opening inputs: memory maps for large plain files, decoders for compressed ones and pipes.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::sync::Arc;

use super::{MMAP_MIN_BYTES, STREAM_BLOCK_BYTES};
use crate::error::ReadError;
use crate::input::Input;

/// Input bytes held in memory: a memory map or a buffer.
pub(super) enum Buffer {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

/// Pages of a mapped input the scan has moved past are handed back in steps of this size, so
/// that resident memory stays small however large the file is.
pub(super) const RELEASE_STEP: usize = 1 << 20;

/// How far ahead of the scan pages of a mapped input are faulted in, in one call.
pub(super) const POPULATE_STEP: usize = 1 << 20;

impl Buffer {
    /// Faults in the pages of `[from, to)` in one call (Linux), rather than one page fault per
    /// 4 KiB as the scan touches them. Best effort: elsewhere, or on failure, pages fault in
    /// as usual.
    pub(super) fn populate(&self, from: usize, to: usize) {
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
    pub(super) fn release(&self, from: usize, to: usize) {
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
pub(super) enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub(super) fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Compression::None => "plain",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

pub(super) enum Source {
    Buffer(Arc<Buffer>),
    Stream(Box<dyn Read + Send>, Compression),
}

pub(super) fn open(input: &Input) -> Result<Source, ReadError> {
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
