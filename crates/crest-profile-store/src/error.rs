//! Errors of the profile stores, each naming the file or the server.

use std::path::PathBuf;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file that cannot be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A snapshot that is not a valid crest profile snapshot.
    #[error("{}: corrupt profile snapshot: {reason}", path.display())]
    Corrupt {
        /// The snapshot file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Another process holds the embedded store.
    #[error("{}: the profile store is in use by process {pid} (remove the lock file if that process is gone)", path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// The holder's process id, as written in the lock file.
        pid: String,
    },
    /// The stored profile does not fit the configured one.
    #[error("profile '{profile}': {reason}")]
    Mismatch {
        /// The profile's name.
        profile: String,
        /// What differs.
        reason: String,
    },
    /// A store setting is unusable.
    #[error("store {key}: {message}")]
    Setting {
        /// The setting (`schema`, `url`…).
        key: String,
        /// What is wrong, with the bad value.
        message: String,
    },
    /// PostgreSQL refused or failed.
    #[error("postgres: {context}: {source}")]
    Postgres {
        /// What the store was doing.
        context: String,
        /// The client's error.
        source: postgres::Error,
    },
}
