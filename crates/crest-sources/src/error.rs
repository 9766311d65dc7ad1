//! Errors of reading inputs, each naming where it happened.

use crest_core::record::{Location, RecordError};

/// Why reading the inputs failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// An input could not be opened or read.
    #[error("{input}: {source}")]
    Io {
        /// The input's name.
        input: String,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },
    /// A glob pattern is malformed.
    #[error("invalid input pattern '{pattern}': {reason}")]
    Pattern {
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A pattern matched no file.
    #[error("no input file matches '{pattern}'")]
    NoMatch {
        /// The pattern as given.
        pattern: String,
    },
    /// The input is not valid JSON.
    #[error("{location}: malformed JSON: {message}")]
    Syntax {
        /// Where the problem is.
        location: Box<Location>,
        /// What was expected.
        message: String,
    },
    /// A CSV input is malformed or its header lacks a column.
    #[error("{location}: {message}")]
    Csv {
        /// Where the problem is.
        location: Box<Location>,
        /// What is wrong.
        message: String,
    },
    /// The input is not valid UTF-8.
    #[error("{location}: invalid UTF-8")]
    Encoding {
        /// Where the first invalid byte is.
        location: Box<Location>,
    },
    /// A compressed input is corrupt or truncated.
    #[error("{input}: cannot decompress ({format}): {message}")]
    Decompress {
        /// The input's name.
        input: String,
        /// `gzip` or `zstd`.
        format: &'static str,
        /// What the decoder reported.
        message: String,
    },
    /// A record is unusable for the detector.
    #[error("{location}: {error}")]
    Record {
        /// Where the record is.
        location: Box<Location>,
        /// What is wrong with it.
        error: RecordError,
    },
}
