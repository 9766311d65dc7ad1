//! Where `crest run` keeps its checkpoints, and who owns them.
//!
//! A worker is one config and one partition (`all` when it reads every partition); its
//! checkpoint is one document. Embedded: `DATA/run/CONFIG/PARTITION/checkpoint.json`, written
//! to a temporary file and renamed, and a lock file held while the worker runs. PostgreSQL:
//! one row per worker in `SCHEMA.run_checkpoint`, written in one statement, and a session
//! advisory lock per worker, so that of two workers started for one partition one runs and the
//! other waits, and takes over when the first dies (its session ends, the lock goes with it).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use crest_run::config::{StoreConfig, StoreKind};

/// A worker's checkpoint, with the lock that makes it the only writer.
pub(crate) enum Store {
    /// A file in the data directory.
    File {
        /// The checkpoint.
        path: PathBuf,
        /// Held (locked) while the worker runs.
        _lock: File,
    },
    /// A row in PostgreSQL.
    Postgres {
        /// The session holding the worker's advisory lock.
        client: Box<postgres::Client>,
        /// The table, schema-qualified.
        table: String,
        /// The worker's key (`CONFIG/PARTITION`).
        key: String,
    },
}

impl Store {
    /// Opens the store of worker `partition` of config `name` and takes its lock, waiting
    /// while another worker holds it (until `stop`). `dir` is the config's own directory.
    pub(crate) fn open(
        config: &StoreConfig,
        dir: &Path,
        name: &str,
        partition: &str,
        stop: &AtomicBool,
    ) -> anyhow::Result<Store> {
        let key = &format!("{name}/{partition}");
        match config.kind {
            StoreKind::Embedded => {
                let dir = dir.join(partition);
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                let lock_path = dir.join("lock");
                let lock = File::create(&lock_path)
                    .with_context(|| format!("cannot create {}", lock_path.display()))?;
                take_over(key, stop, || Ok(lock.try_lock().is_ok()))?;
                Ok(Store::File { path: dir.join("checkpoint.json"), _lock: lock })
            }
            StoreKind::Postgres => {
                let url = config.url.as_deref().unwrap_or_default();
                let mut client =
                    postgres::Client::connect(url, postgres::NoTls).with_context(|| {
                        format!("service.store: cannot connect to PostgreSQL ({url})")
                    })?;
                let schema = quote_ident(&config.schema);
                let table = format!("{schema}.run_checkpoint");
                // Concurrent first starts may race to create the table: a lock held until the
                // transaction commits serialises them.
                client
                    .batch_execute(&format!(
                        "BEGIN; \
                         SELECT pg_advisory_xact_lock(hashtext('crest_run_schema')); \
                         CREATE SCHEMA IF NOT EXISTS {schema}; \
                         CREATE TABLE IF NOT EXISTS {table} (\
                           worker text PRIMARY KEY, \
                           data bytea NOT NULL, \
                           saved_at timestamptz NOT NULL DEFAULT now()); \
                         COMMIT;"
                    ))
                    .context("service.store: cannot create the checkpoint table")?;
                take_over(key, stop, || {
                    let row = client
                        .query_one(
                            "SELECT pg_try_advisory_lock(hashtext('crest_run'), hashtext($1))",
                            &[&key],
                        )
                        .context("service.store: cannot take the worker's lock")?;
                    Ok(row.get::<_, bool>(0))
                })?;
                Ok(Store::Postgres { client: Box::new(client), table, key: key.to_string() })
            }
        }
    }

    /// Where the checkpoint is, for messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Store::File { path, .. } => path.display().to_string(),
            Store::Postgres { table, key, .. } => format!("PostgreSQL {table}, worker '{key}'"),
        }
    }

    /// The last checkpoint, if any.
    pub(crate) fn load(&mut self) -> anyhow::Result<Option<Vec<u8>>> {
        match self {
            Store::File { path, .. } => match std::fs::read(&*path) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
            },
            Store::Postgres { client, table, key } => {
                let row = client
                    .query_opt(&format!("SELECT data FROM {table} WHERE worker = $1"), &[key])
                    .context("cannot read the checkpoint from PostgreSQL")?;
                Ok(row.map(|r| r.get::<_, Vec<u8>>(0)))
            }
        }
    }

    /// Replaces the checkpoint (atomically: the old one or the new one, never a mix).
    pub(crate) fn save(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        match self {
            Store::File { path, .. } => crate::fsutil::write_atomic(path, bytes),
            Store::Postgres { client, table, key } => {
                client
                    .execute(
                        &format!(
                            "INSERT INTO {table} (worker, data) VALUES ($1, $2) \
                             ON CONFLICT (worker) DO UPDATE SET data = excluded.data, saved_at = now()"
                        ),
                        &[key, &bytes],
                    )
                    .context("cannot write the checkpoint to PostgreSQL")?;
                Ok(())
            }
        }
    }
}

/// Takes worker `key`'s lock with `try_lock`, standing by while another process holds it
/// (until `stop`).
fn take_over(
    key: &str,
    stop: &AtomicBool,
    mut try_lock: impl FnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let mut waited = false;
    while !try_lock()? {
        if !waited {
            tracing::info!("worker {key}: another process runs it; standing by");
            waited = true;
        }
        if stop.load(Ordering::Relaxed) {
            anyhow::bail!("stopped while standing by for worker {key}");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    if waited {
        tracing::info!("worker {key}: taking over");
    }
    Ok(())
}

/// A PostgreSQL identifier, quoted.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
