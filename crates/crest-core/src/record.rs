//! Records as detectors receive them, and the contract between sources and detectors.
//!
//! A source scans its input and calls [`RecordSink::accept`] once per record, in input order
//! within each part of the input. A detector's accumulator implements the trait; when a source
//! reads parts of an input in parallel, it gives each part its own sink and the detector merges
//! them afterwards, using [`RecordOrder`] wherever input order matters.

use std::fmt;

use crate::value::RawValue;

/// One record as a detector sees it: the projected fields, each present or absent.
#[derive(Clone, Copy, Debug)]
pub struct Record<'r, 'a> {
    /// One slot per projected field, in projection order.
    pub slots: &'r [Option<RawValue<'a>>],
    /// Where the record sits in the input, for ordering.
    pub order: RecordOrder,
    /// Which part of the input and which record of that part, for locating it in messages.
    pub seq: RecordSeq,
}

/// A record's position: input number, then byte offset within it. Comparing positions gives
/// input order, even when parts of a file are read in parallel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct RecordOrder {
    /// The input's index in the sorted list of inputs.
    pub input: u32,
    /// The byte offset of the record's first byte in the (decompressed) input.
    pub offset: u64,
}

/// A record's number within the part of the input that a source read it from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RecordSeq {
    /// The part (chunk) of the input.
    pub part: u32,
    /// The record's index within that part, from 0.
    pub index: u64,
}

/// Receives records from a source.
pub trait RecordSink {
    /// Takes one record. An error names the field at fault; the source adds the location and
    /// either stops or, when asked to skip invalid records, counts it and goes on.
    fn accept(&mut self, record: &Record<'_, '_>) -> Result<(), RecordError>;
}

/// A problem with one record that a detector reports; the source adds where the record is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// A field the detector needs is absent.
    #[error("missing field '{field}'")]
    Missing {
        /// The field name.
        field: String,
    },
    /// A field is present but unusable.
    #[error("field '{field}': {reason}")]
    Invalid {
        /// The field name.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl RecordError {
    /// A short, stable label for counting skipped records by cause.
    pub fn cause(&self) -> String {
        match self {
            RecordError::Missing { field } => format!("missing field '{field}'"),
            RecordError::Invalid { field, .. } => format!("invalid field '{field}'"),
        }
    }
}

/// Where something is in the input, as precisely as the source knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The input's name (an absolute path, or `<stdin>`).
    pub input: String,
    /// The record number in the input, from 1.
    pub record: Option<u64>,
    /// The line number, from 1.
    pub line: Option<u64>,
    /// The column (byte in the line), from 1.
    pub column: Option<u64>,
    /// The byte offset in the (decompressed) input.
    pub offset: u64,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.input)?;
        let mut parts = Vec::new();
        if let Some(r) = self.record {
            parts.push(format!("record {r}"));
        }
        match (self.line, self.column) {
            (Some(l), Some(c)) => parts.push(format!("line {l}, column {c}")),
            (Some(l), None) => parts.push(format!("line {l}")),
            _ => parts.push(format!("byte {}", self.offset)),
        }
        write!(f, ": {}", parts.join(", "))
    }
}
