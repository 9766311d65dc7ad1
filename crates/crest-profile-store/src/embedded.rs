//! The embedded store: each profile in one snapshot file in crest's data directory.
//!
//! The whole profile (model state, actors, anomalous messages, events, anomalies and
//! investigations) lives in memory while crest runs and is saved on [`ProfileStore::flush`] to
//! `<dir>/<profile>.profile`, written to a temporary file, synced and renamed, so a crash
//! leaves the previous snapshot. A `<profile>.lock` file holding the process id keeps a second
//! writer out.
//!
//! Layout (integers little-endian): magic `b"crestpf\n"`, format version `1` (u32), CRC-32 of
//! the payload (u32), payload length (u64), then the payload in postcard.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};

use crest_profile::analyzer::AnomalyRow;
use crest_profile::config::Profile;
use crest_profile::model::{Evidence, Message, ModelState, Outcome};
use serde::{Deserialize, Serialize};

use crate::{ActorView, Counts, Investigation, ProfileStore, StoreError};

const MAGIC: &[u8; 8] = b"crestpf\n";
const VERSION: u32 = 1;
const HEADER: usize = 24;

/// One stored event and its anomalies.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct EventRec {
    id: i64,
    message_id: i64,
    actor_id: i64,
    time: i64,
    /// (anomaly id, feature index, value, score, evidence as JSON).
    anomalies: Vec<(i64, usize, String, f64, String)>,
}

/// Everything the store keeps of one profile.
#[derive(Debug, Default, Serialize, Deserialize)]
struct ProfileDb {
    features: Vec<String>,
    state: ModelState,
    /// Actor name → (id, first seen).
    actors: BTreeMap<String, (i64, i64)>,
    /// Message id → the message as JSON text (a JSON line as read).
    messages: Vec<(i64, String)>,
    events: Vec<EventRec>,
    investigations: Vec<Investigation>,
    /// The last id given, per table: actors, messages, events, anomalies (like SQL serials).
    last_ids: [i64; 4],
}

const ACTOR: usize = 0;
const MESSAGE: usize = 1;
const EVENT: usize = 2;
const ANOMALY: usize = 3;

impl ProfileDb {
    fn as_ref(&self) -> ProfileDbRef<'_> {
        ProfileDbRef {
            features: &self.features,
            state: &self.state,
            actors: &self.actors,
            messages: &self.messages,
            events: &self.events,
            investigations: &self.investigations,
            last_ids: self.last_ids,
        }
    }

    fn next(&mut self, table: usize) -> i64 {
        self.last_ids[table] += 1;
        self.last_ids[table]
    }
}

/// Borrowed form of [`ProfileDb`] for saving without copying the model.
#[derive(Serialize)]
struct ProfileDbRef<'a> {
    features: &'a Vec<String>,
    state: &'a ModelState,
    actors: &'a BTreeMap<String, (i64, i64)>,
    messages: &'a Vec<(i64, String)>,
    events: &'a Vec<EventRec>,
    investigations: &'a Vec<Investigation>,
    last_ids: [i64; 4],
}

struct Open {
    db: ProfileDb,
    lock: Option<PathBuf>,
}

/// Profiles kept in files in a directory, or only in memory.
pub struct EmbeddedStore {
    dir: Option<PathBuf>,
    profiles: BTreeMap<String, Open>,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl EmbeddedStore {
    /// A store in `dir` (created if missing); profiles are read when first opened.
    pub fn open(dir: &Path) -> Result<EmbeddedStore, StoreError> {
        fs::create_dir_all(dir)
            .map_err(|source| StoreError::Io { path: dir.to_path_buf(), source })?;
        Ok(EmbeddedStore { dir: Some(dir.to_path_buf()), profiles: BTreeMap::new() })
    }

    /// A store that keeps nothing on disk (tests, dry runs).
    pub fn in_memory() -> EmbeddedStore {
        EmbeddedStore { dir: None, profiles: BTreeMap::new() }
    }

    /// The snapshot file of a profile.
    pub fn path_of(dir: &Path, profile: &str) -> PathBuf {
        dir.join(format!("{}.profile", file_name(profile)))
    }

    /// Opens a profile for reading only (no lock): `crest profile show` and `investigate`
    /// while a collector runs see the last flushed snapshot.
    fn db(&mut self, profile: &Profile) -> Result<&mut ProfileDb, StoreError> {
        if !self.profiles.contains_key(&profile.name) {
            let db = match &self.dir {
                Some(dir) => read_snapshot(&Self::path_of(dir, &profile.name))?.unwrap_or_default(),
                None => ProfileDb::default(),
            };
            self.profiles.insert(profile.name.clone(), Open { db, lock: None });
        }
        let db = &mut self.profiles.get_mut(&profile.name).expect("inserted above").db;
        let names: Vec<String> = profile.features.iter().map(|f| f.name.clone()).collect();
        if db.features.is_empty() && db.state.actor_count() == 0 {
            db.features = names;
            db.state = ModelState::new(profile);
        } else if db.features != names {
            return Err(StoreError::Mismatch {
                profile: profile.name.clone(),
                reason: format!(
                    "the store was built with features [{}], the config has [{}]; use another data directory or profile name",
                    db.features.join(", "),
                    names.join(", ")
                ),
            });
        }
        Ok(db)
    }

    fn lock(&mut self, profile: &str) -> Result<(), StoreError> {
        let Some(dir) = &self.dir else { return Ok(()) };
        let open = self.profiles.get_mut(profile).expect("db opened first");
        if open.lock.is_some() {
            return Ok(());
        }
        let path = dir.join(format!("{}.lock", file_name(profile)));
        match fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut f) => {
                let _ = write!(f, "{}", std::process::id());
                open.lock = Some(path);
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let pid = fs::read_to_string(&path).unwrap_or_default().trim().to_string();
                Err(StoreError::Locked { path, pid })
            }
            Err(source) => Err(StoreError::Io { path, source }),
        }
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        for open in self.profiles.values() {
            if let Some(lock) = &open.lock {
                let _ = fs::remove_file(lock);
            }
        }
    }
}

/// A profile name as a file name: letters, digits, '-', '_' and '.' kept, others as '_'.
fn file_name(profile: &str) -> String {
    profile
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' })
        .collect()
}

fn read_snapshot(path: &Path) -> Result<Option<ProfileDb>, StoreError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(StoreError::Io { path: path.to_path_buf(), source }),
    };
    let corrupt = |reason: String| StoreError::Corrupt { path: path.to_path_buf(), reason };
    if bytes.len() < HEADER || &bytes[..8] != MAGIC {
        return Err(corrupt("not a crest profile snapshot".into()));
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version != VERSION {
        return Err(corrupt(format!(
            "format version {version}; this crest reads version {VERSION}"
        )));
    }
    let crc = u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes"));
    let len = u64::from_le_bytes(bytes[16..24].try_into().expect("8 bytes"));
    let payload = &bytes[HEADER..];
    if payload.len() as u64 != len {
        return Err(corrupt(format!("truncated: {} of {len} payload bytes", payload.len())));
    }
    if crc32fast::hash(payload) != crc {
        return Err(corrupt("checksum mismatch".into()));
    }
    postcard::from_bytes(payload).map(Some).map_err(|e| corrupt(e.to_string()))
}

fn write_snapshot(path: &Path, db: &ProfileDbRef<'_>) -> Result<(), StoreError> {
    let io = |source| StoreError::Io { path: path.to_path_buf(), source };
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    // The payload streams to the file (no copy of it in memory); its checksum and length,
    // which the header holds, are written once known.
    let mut out = Checksummed {
        inner: std::io::BufWriter::with_capacity(1 << 20, tmp.as_file_mut()),
        crc: crc32fast::Hasher::new(),
        len: 0,
    };
    out.inner.write_all(MAGIC).map_err(io)?;
    out.inner.write_all(&VERSION.to_le_bytes()).map_err(io)?;
    out.inner.write_all(&[0; 12]).map_err(io)?;
    let mut out = postcard::to_io(db, out).map_err(|e| match e {
        postcard::Error::SerializeBufferFull => io(std::io::Error::other("write failed")),
        e => StoreError::Corrupt { path: path.to_path_buf(), reason: e.to_string() },
    })?;
    let (crc, len) = (std::mem::take(&mut out.crc).finalize(), out.len);
    out.inner.flush().map_err(io)?;
    drop(out);
    let file = tmp.as_file_mut();
    file.seek(std::io::SeekFrom::Start((MAGIC.len() + 4) as u64)).map_err(io)?;
    file.write_all(&crc.to_le_bytes()).map_err(io)?;
    file.write_all(&len.to_le_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

/// A writer that checksums and counts what passes through it.
struct Checksummed<W: Write> {
    inner: W,
    crc: crc32fast::Hasher,
    len: u64,
}

impl<W: Write> Write for Checksummed<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn evidence_of(json: &str) -> Evidence {
    serde_json::from_str(json).unwrap_or_default()
}

impl ProfileStore for EmbeddedStore {
    fn kind(&self) -> &'static str {
        "embedded"
    }

    fn shared(&self) -> bool {
        false
    }

    fn open(&mut self, profile: &Profile) -> Result<ModelState, StoreError> {
        self.db(profile)?;
        self.lock(&profile.name)?;
        // The model takes the state; the store gets it back at each flush.
        Ok(std::mem::take(&mut self.db(profile)?.state))
    }

    fn load(
        &mut self,
        _: &Profile,
        _: &mut ModelState,
        _: &[&str],
        _: &[(usize, &str)],
    ) -> Result<(), StoreError> {
        // One writer: the model already holds every actor.
        Ok(())
    }

    fn commit(
        &mut self,
        profile: &Profile,
        batch: &[Message],
        outcome: &Outcome,
    ) -> Result<(), StoreError> {
        let db = self.db(profile)?;
        for (name, first_seen) in &outcome.new_actors {
            if !db.actors.contains_key(name) {
                let id = db.next(ACTOR);
                db.actors.insert(name.clone(), (id, *first_seen));
            }
        }
        for e in &outcome.events {
            let message_id = db.next(MESSAGE);
            db.messages.push((message_id, batch[e.message].data.json_text().into_owned()));
            let id = db.next(EVENT);
            let actor_id = match db.actors.get(&e.actor) {
                Some(a) => a.0,
                None => {
                    let a = db.next(ACTOR);
                    db.actors.insert(e.actor.clone(), (a, e.time));
                    a
                }
            };
            let mut anomalies = Vec::with_capacity(e.anomalies.len());
            for a in &e.anomalies {
                let ev = serde_json::to_string(&a.evidence).unwrap_or_default();
                anomalies.push((db.next(ANOMALY), a.feature, a.value.clone(), a.score, ev));
            }
            db.events.push(EventRec { id, message_id, actor_id, time: e.time, anomalies });
        }
        Ok(())
    }

    fn flush(&mut self, profile: &Profile, state: &ModelState) -> Result<(), StoreError> {
        let dir = self.dir.clone();
        let db = self.db(profile)?;
        let Some(dir) = dir else {
            db.state = state.clone();
            return Ok(());
        };
        let r = ProfileDbRef { state, ..db.as_ref() };
        write_snapshot(&EmbeddedStore::path_of(&dir, &profile.name), &r)
    }

    fn first_event(&mut self, profile: &Profile) -> Result<Option<i64>, StoreError> {
        Ok(self.db(profile)?.events.iter().map(|e| e.time).min())
    }

    fn next_event_after(
        &mut self,
        profile: &Profile,
        after: i64,
    ) -> Result<Option<i64>, StoreError> {
        Ok(self.db(profile)?.events.iter().map(|e| e.time).filter(|&t| t > after).min())
    }

    fn anomalies(
        &mut self,
        profile: &Profile,
        after: i64,
        until: i64,
    ) -> Result<Vec<AnomalyRow>, StoreError> {
        let db = self.db(profile)?;
        let names: BTreeMap<i64, &str> =
            db.actors.iter().map(|(n, (id, _))| (*id, n.as_str())).collect();
        let mut rows = Vec::new();
        for e in db.events.iter().filter(|e| after < e.time && e.time <= until) {
            for (id, feature, value, score, ev) in &e.anomalies {
                rows.push(AnomalyRow {
                    event_id: e.id,
                    message_id: e.message_id,
                    actor_id: e.actor_id,
                    actor: names.get(&e.actor_id).copied().unwrap_or_default().to_string(),
                    time: e.time,
                    anomaly_id: *id,
                    field_id: *feature as i64 + 1,
                    field: db.features.get(*feature).cloned().unwrap_or_default(),
                    value: value.clone(),
                    score: *score,
                    evidence: evidence_of(ev),
                });
            }
        }
        rows.sort_by_key(|r| (r.event_id, r.anomaly_id));
        Ok(rows)
    }

    fn last_investigation(
        &mut self,
        profile: &Profile,
    ) -> Result<Option<Investigation>, StoreError> {
        Ok(self.db(profile)?.investigations.iter().max_by_key(|i| i.index).cloned())
    }

    fn begin_investigation(
        &mut self,
        profile: &Profile,
        index: i64,
        after: i64,
        until: i64,
        events: &[i64],
        last_event: i64,
    ) -> Result<Option<i64>, StoreError> {
        self.db(profile)?;
        // Investigations write the snapshot: one writer at a time.
        self.lock(&profile.name)?;
        let db = self.db(profile)?;
        if db.investigations.iter().any(|i| i.index == index) {
            return Ok(None);
        }
        let id = db.investigations.iter().map(|i| i.id).max().unwrap_or(0) + 1;
        db.investigations.push(Investigation {
            id,
            index,
            after,
            until,
            last_event,
            events: events.len() as u64,
            malicious: Vec::new(),
            completed: false,
        });
        Ok(Some(id))
    }

    fn complete_investigation(
        &mut self,
        profile: &Profile,
        id: i64,
        malicious: &[i64],
    ) -> Result<(), StoreError> {
        let dir = self.dir.clone();
        let db = self.db(profile)?;
        if let Some(inv) = db.investigations.iter_mut().find(|i| i.id == id) {
            inv.malicious = malicious.to_vec();
            inv.completed = true;
        }
        // Saved at once, so a crash never repeats a shipped investigation.
        match dir {
            Some(dir) => write_snapshot(&EmbeddedStore::path_of(&dir, &profile.name), &db.as_ref()),
            None => Ok(()),
        }
    }

    fn actor(&mut self, profile: &Profile, name: &str) -> Result<Option<ActorView>, StoreError> {
        let db = self.db(profile)?;
        let Some(state) = db.state.actor(name) else { return Ok(None) };
        let (id, _) = db.actors.get(name).copied().unwrap_or((0, state.first_seen()));
        let features = db
            .features
            .iter()
            .zip(state.features())
            .map(|(f, h)| {
                (f.clone(), h.ranked().into_iter().map(|(v, c)| (v.to_string(), c)).collect())
            })
            .collect();
        let mine = db.events.iter().filter(|e| e.actor_id == id);
        let (events, anomalies) =
            mine.fold((0, 0), |(e, a), ev| (e + 1, a + ev.anomalies.len() as u64));
        Ok(Some(ActorView {
            id,
            name: name.to_string(),
            first_seen: state.first_seen(),
            features,
            events,
            anomalies,
        }))
    }

    fn counts(&mut self, profile: &Profile) -> Result<Counts, StoreError> {
        let db = self.db(profile)?;
        Ok(Counts {
            actors: db.state.actor_count() as u64,
            features: db
                .state
                .actors()
                .iter()
                .flat_map(|a| a.features())
                .map(|h| h.groups() as u64)
                .sum(),
            messages: db.messages.len() as u64,
            events: db.events.len() as u64,
            anomalies: db.events.iter().map(|e| e.anomalies.len() as u64).sum(),
            investigations: db.investigations.len() as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A snapshot reads back as written; a flipped bit or a cut file is refused, never read.
    #[test]
    fn snapshots_round_trip_and_damage_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.snapshot");
        let features = vec!["country".to_string()];
        let state = ModelState::default();
        let actors = BTreeMap::from([("alice".to_string(), (1, 5))]);
        let messages = vec![(1, "{\"user\":\"alice\"}".to_string()); 3];
        let db = ProfileDbRef {
            features: &features,
            state: &state,
            actors: &actors,
            messages: &messages,
            events: &Vec::new(),
            investigations: &Vec::new(),
            last_ids: [1, 3, 0, 0],
        };
        write_snapshot(&path, &db).unwrap();
        let back = read_snapshot(&path).unwrap().unwrap();
        assert_eq!((back.features, back.actors, back.messages), (features, actors, messages));
        assert_eq!(back.last_ids, [1, 3, 0, 0]);

        let bytes = std::fs::read(&path).unwrap();
        let mut flipped = bytes.clone();
        *flipped.last_mut().unwrap() ^= 1;
        std::fs::write(&path, &flipped).unwrap();
        assert!(matches!(read_snapshot(&path), Err(StoreError::Corrupt { .. })));
        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        assert!(matches!(read_snapshot(&path), Err(StoreError::Corrupt { .. })));
    }
}
