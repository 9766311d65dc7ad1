//! Sources: where crest's records come from.
//!
//! A source turns input bytes into [`Record`](crest_core::value::Record)s holding the fields a
//! detector asked for, and hands them to a [`RecordSink`](crest_core::value::RecordSink).
//! This crate reads telemetry files: one JSON array of objects or JSON Lines ([`read`]), or CSV
//! with a header row ([`read_csv`]), plain, gzip or zstd (detected from the bytes), from paths,
//! globs or standard input. Large plain JSON files are memory-mapped and cut into chunks that
//! are scanned in parallel; compressed input and pipes are decompressed on one thread and
//! scanned on another; CSV files are read in parallel, one thread per file.

mod error;
mod input;
mod read;
mod scan;

pub use error::ReadError;
pub use input::{Input, absolutize, expand};
pub use read::{Progress, ReadOptions, Readout, Skipped, read, read_csv, read_slice};
pub use scan::{JsonError, KeyScanner};
