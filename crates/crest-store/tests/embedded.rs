//! The embedded store against a naive recomputation, and its snapshot file.

mod common;

use std::path::Path;

use common::{BASE, Batch, Naive, batches, intervals, metric_type};
use crest_store::{
    EmbeddedStore, IntervalSpec, MetricStore, MetricType, Observation, SNAPSHOT_FILE, Schema, Step,
    StoreError, Value,
};
use proptest::prelude::*;

fn schema(ty: MetricType) -> Schema {
    Schema::new(ty, intervals()).unwrap()
}

fn write_all(store: &mut dyn MetricStore, naive: &mut Naive, batches: &[Batch]) {
    for batch in batches {
        let report = store.insert_batch(&batch.observations(), batch.now).unwrap();
        let (rejected, dropped) = naive.write(batch);
        assert_eq!(report.observations, batch.obs.len() as u64);
        assert_eq!((report.rejected, report.dropped), (rejected, dropped));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every interval's buckets, sub-buckets, extents, names and drop counts equal a
    /// recomputation from the raw observations, before and after a snapshot round trip.
    #[test]
    fn rollups_agree_with_naive_recomputation(ty in metric_type(), batches in batches(5, 40)) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = EmbeddedStore::open(dir.path(), schema(ty)).unwrap();
        let mut naive = Naive::new(schema(ty));
        write_all(&mut store, &mut naive, &batches);
        naive.check(&mut store)?;

        store.checkpoint().unwrap();
        let mut reopened = EmbeddedStore::open(dir.path(), schema(ty)).unwrap();
        prop_assert_eq!(reopened.now(), store.now());
        naive.check(&mut reopened)?;
    }

    /// One write at a time gives the same store as batches.
    #[test]
    fn single_inserts_equal_batches(ty in metric_type(), batches in batches(3, 30)) {
        let mut one = EmbeddedStore::in_memory(schema(ty));
        let mut naive = Naive::new(schema(ty));
        for batch in &batches {
            one.insert_batch(&[], batch.now).unwrap(); // the clock moves even without writes
            for obs in batch.observations() {
                one.insert(obs.name, obs.timestamp, obs.value, batch.now).unwrap();
            }
            naive.write(batch);
        }
        naive.check(&mut one)?;
    }
}

#[test]
fn snapshot_round_trip_keeps_every_read() {
    let dir = tempfile::tempdir().unwrap();
    let ty = MetricType::Histogram;
    let mut store = EmbeddedStore::open(dir.path(), schema(ty)).unwrap();
    let obs = [
        Observation::new("files", BASE, "zip"),
        Observation::new("files", BASE + 30, "exe"),
        Observation::new("files", BASE + 700, 443.0),
        Observation::new("files", BASE - 40 * 86_400, "zip"), // dropped in minute and hour
    ];
    store.insert_batch(&obs, BASE + 700).unwrap();
    store.checkpoint().unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
    assert_eq!(leftovers.len(), 1, "only the snapshot, no temporary files");
    assert_eq!(leftovers[0].file_name(), SNAPSHOT_FILE);

    let mut reopened = EmbeddedStore::open(dir.path(), schema(ty)).unwrap();
    for spec in intervals() {
        let (a, b) = (BASE - 90 * 86_400, BASE + 86_400);
        assert_eq!(
            reopened.series_fine("files", spec.name(), a, b).unwrap(),
            store.series_fine("files", spec.name(), a, b).unwrap()
        );
    }
    assert_eq!(reopened.names().unwrap(), ["files"]);
    assert_eq!(reopened.properties("files").unwrap(), store.properties("files").unwrap());
    assert_eq!(reopened.drop_counts(), store.drop_counts());
    assert_eq!(reopened.drop_counts().len(), 3); // minute, hour and month

    // Writing on goes on from the saved state.
    reopened.insert("files", BASE + 10, Value::Text("zip"), BASE + 700).unwrap();
    let hour = reopened.series("files", "hour", BASE, BASE).unwrap();
    let crest_store::Bucket::Histogram(h) = &hour[0].value else { panic!("{hour:?}") };
    assert_eq!((h["zip"], h["exe"], h["443"]), (2, 1, 1));
}

#[test]
fn checkpoint_evicts_and_forgets_empty_names() {
    let dir = tempfile::tempdir().unwrap();
    let spec = IntervalSpec::new("minute", Step::Seconds(60), Some(2), None).unwrap();
    let schema = Schema::new(MetricType::Count, vec![spec]).unwrap();
    let mut store = EmbeddedStore::open(dir.path(), schema.clone()).unwrap();
    store.insert("old", 0, Value::Num(1.0), 0).unwrap();
    store.insert("new", 600, Value::Num(1.0), 600).unwrap();
    assert_eq!(store.names().unwrap(), ["new"]);
    store.checkpoint().unwrap();
    let bytes = std::fs::read(dir.path().join(SNAPSHOT_FILE)).unwrap();
    assert!(!bytes.windows(3).any(|w| w == b"old"), "an expired name is not saved");
    let mut reopened = EmbeddedStore::open(dir.path(), schema).unwrap();
    assert_eq!(reopened.names().unwrap(), ["new"]);
}

fn corrupt(dir: &Path, ty: MetricType, bytes: &[u8]) -> String {
    std::fs::write(dir.join(SNAPSHOT_FILE), bytes).unwrap();
    match EmbeddedStore::open(dir, schema(ty)) {
        Err(e @ (StoreError::Corrupt { .. } | StoreError::SchemaMismatch { .. })) => e.to_string(),
        other => panic!("expected a corrupt snapshot error, got {other:?}"),
    }
}

#[test]
fn a_corrupt_snapshot_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let ty = MetricType::Moments;
    let mut store = EmbeddedStore::open(dir.path(), schema(ty)).unwrap();
    let obs: Vec<_> =
        (0..50).map(|i| Observation::new("latency", BASE + i * 7, i as f64)).collect();
    store.insert_batch(&obs, BASE + 400).unwrap();
    store.checkpoint().unwrap();
    let path = dir.path().join(SNAPSHOT_FILE);
    let good = std::fs::read(&path).unwrap();
    let file = path.display().to_string();

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "bad header"),
        ("json", b"{\"metrics\": []}".to_vec(), "bad header"),
        ("truncated", good[..good.len() - 5].to_vec(), "truncated or padded"),
        ("padded", [&good[..], b"x"].concat(), "truncated or padded"),
        ("flipped", flip(&good, good.len() - 9), "checksum mismatch"),
        ("version", set_version(&good, 9), "format version 9 is not supported"),
    ];
    for (case, bytes, expected) in cases {
        let message = corrupt(dir.path(), ty, &bytes);
        assert!(message.starts_with(&file), "{case}: {message}");
        assert!(message.contains(expected), "{case}: {message}");
    }

    // A valid file with the right checksum but an undecodable payload.
    let mut junk = good[..24].to_vec();
    let payload = [0xff; 16];
    junk[12..16].copy_from_slice(&crc32fast_hash(&payload).to_le_bytes());
    junk[16..24].copy_from_slice(&(payload.len() as u64).to_le_bytes());
    junk.extend_from_slice(&payload);
    let message = corrupt(dir.path(), ty, &junk);
    assert!(message.contains("undecodable"), "{message}");

    // The right file opened with another schema.
    std::fs::write(&path, &good).unwrap();
    let message = corrupt(dir.path(), MetricType::Count, &good);
    assert!(message.contains("holds schema `moments: minute=60s×5"), "{message}");
    assert!(message.contains("opened with `count:"), "{message}");
}

fn flip(bytes: &[u8], at: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[at] ^= 0x10;
    out
}

fn set_version(bytes: &[u8], version: u32) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[8..12].copy_from_slice(&version.to_le_bytes());
    out
}

/// CRC-32 (IEEE), bit by bit, to forge a matching checksum without the crate's internals.
fn crc32fast_hash(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[test]
fn an_unreadable_directory_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    let err = EmbeddedStore::open(&file, schema(MetricType::Count)).unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
    assert!(err.to_string().starts_with(&file.display().to_string()));
}
