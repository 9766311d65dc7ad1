//! The store's errors: one for building a schema, one for using a store.

use std::path::PathBuf;

/// A schema or interval that cannot be built, with the rule it breaks and the bad value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpecError {
    /// A duration that is neither seconds, a shorthand nor a calendar unit.
    #[error(
        "invalid duration {text:?}: expected seconds, a shorthand like 30s/5m/1h/30d/2w/1M/1y, \
         or daily/weekly/monthly/yearly"
    )]
    BadDuration {
        /// The text given.
        text: String,
    },
    /// A seconds step or resolution of 0 or over about 100 years.
    #[error("step of {seconds} s is out of range: it must be between 1 s and 100 years")]
    StepOutOfRange {
        /// The seconds given.
        seconds: u64,
    },
    /// A retention of zero buckets.
    #[error("interval {interval:?}: steps must be at least 1 (omit it to keep data forever)")]
    ZeroSteps {
        /// The interval's name.
        interval: String,
    },
    /// A resolution that does not tile the step.
    #[error(
        "interval {interval:?}: resolution of {resolution} s must divide {tile} s exactly \
         (the step, or a day for calendar steps)"
    )]
    BadResolution {
        /// The interval's name.
        interval: String,
        /// The resolution given, in seconds.
        resolution: u64,
        /// What it must divide, in seconds.
        tile: u64,
    },
    /// A calendar unit given as a resolution.
    #[error("interval {interval:?}: resolution {text:?} must be a number of seconds")]
    CalendarResolution {
        /// The interval's name.
        interval: String,
        /// The resolution given.
        text: String,
    },
    /// A metric or interval name that is empty or contains `:`.
    #[error("{what} {name:?} is invalid: it must be non-empty and contain no ':'")]
    BadName {
        /// What was being named.
        what: &'static str,
        /// The name given.
        name: String,
    },
    /// Two intervals with the same name.
    #[error("interval {interval:?} is defined twice")]
    DuplicateInterval {
        /// The repeated name.
        interval: String,
    },
    /// A schema without intervals.
    #[error("a schema needs at least one interval")]
    NoIntervals,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A metric name that is empty or contains `:` (the key separator).
    #[error(transparent)]
    Name(#[from] SpecError),
    /// A read of an interval the schema does not have.
    #[error("unknown interval {interval:?} (the schema has {known})")]
    UnknownInterval {
        /// The interval asked for.
        interval: String,
        /// The schema's interval names, comma-separated.
        known: String,
    },
    /// A file that cannot be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A snapshot that is not a valid crest store snapshot.
    #[error("{}: corrupt metric store snapshot: {reason}", path.display())]
    Corrupt {
        /// The snapshot file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A snapshot written with another schema than the one the store is opened with.
    #[error("{}: the snapshot holds schema `{found}`, but the store was opened with `{expected}`", path.display())]
    SchemaMismatch {
        /// The snapshot file.
        path: PathBuf,
        /// The schema asked for.
        expected: String,
        /// The schema in the file.
        found: String,
    },
    /// An error from the Redis client or server.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// A Redis value that this store could not have written.
    #[error("redis key {key:?}: unexpected value: {detail}")]
    BadReply {
        /// The key read.
        key: String,
        /// What was wrong.
        detail: String,
    },
}
