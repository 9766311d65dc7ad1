//! The Redis store against a real server at 127.0.0.1:6379.
//!
//! Each test skips with a `SKIPPED` line when Redis is unreachable, and fails instead under
//! `CREST_TEST_SERVICES=1`. Every test works under its own key prefix and deletes its keys.

mod common;

use common::{BASE, Batch, Cleanup, Naive, batches, intervals, keys_under, metric_type};
use crest_store::{
    Bucket, IntervalSpec, MetricStore, MetricType, Moments, Observation, RedisStore, Schema, Step,
    StoreError, Value,
};
use proptest::test_runner::{Config, TestRunner};
use redis::Connection;

/// A store under a fresh prefix, with the guard that deletes its keys.
fn store(conn: Connection, test: &str, schema: Schema) -> (RedisStore, Cleanup) {
    let prefix = common::unique_prefix(test);
    let cleanup = Cleanup { prefix: prefix.clone() };
    (RedisStore::with_connection(conn, &prefix, schema).unwrap(), cleanup)
}

fn raw(store: &mut RedisStore) -> &mut Connection {
    store.connection()
}

#[test]
fn redis_rollups_agree_with_naive_recomputation() {
    let test = "redis_rollups_agree_with_naive_recomputation";
    let Some(mut conn) = common::redis(test) else { return };
    let mut runner = TestRunner::new(Config { cases: 48, ..Config::default() });
    let result = runner.run(&(metric_type(), batches(4, 40)), |(ty, batches)| {
        // One clock at a bucket boundary: Redis expires keys on its own (real) clock, and this
        // keeps every TTL at least a minute, longer than a case runs.
        let batches: Vec<Batch> = batches.into_iter().map(|b| Batch { now: BASE, ..b }).collect();
        let client = redis::Client::open(common::REDIS_URL).unwrap();
        let schema = Schema::new(ty, intervals()).unwrap();
        let (mut store, _cleanup) = store(client.get_connection().unwrap(), test, schema.clone());
        let mut naive = Naive::new(schema);
        for batch in &batches {
            let report = store.insert_batch(&batch.observations(), batch.now).unwrap();
            let (rejected, dropped) = naive.write(batch);
            assert_eq!((report.rejected, report.dropped), (rejected, dropped));
        }
        naive.check(&mut store)?;
        for name in naive.names() {
            assert!(store.delete(&name).unwrap());
        }
        let prefix = store.prefix().to_owned();
        let left = keys_under(raw(&mut store), &prefix);
        assert!(left.is_empty(), "delete left keys behind: {left:?}");
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    redis::cmd("PING").query::<String>(&mut conn).unwrap();
}

#[test]
fn redis_key_layout_is_kairos_shaped() {
    let test = "redis_key_layout_is_kairos_shaped";
    let Some(conn) = common::redis(test) else { return };
    let minute = IntervalSpec::new("minute", Step::Seconds(60), Some(10), None).unwrap();
    let hour = IntervalSpec::new("hour", Step::Seconds(3_600), None, Some(600)).unwrap();
    let schema = Schema::new(MetricType::Count, vec![minute.clone(), hour]).unwrap();
    let (mut store, _cleanup) = store(conn, test, schema);
    let p = store.prefix().to_owned();
    let now = BASE + 30;
    let obs = [
        Observation::new("logins", BASE + 5, 1.5),
        Observation::new("logins", BASE + 25, 1.0),
        Observation::new("logins", BASE + 700, 2.0),
    ];
    store.insert_batch(&obs, now).unwrap();

    let (m, h) = (BASE / 60, BASE / 3_600);
    let mut keys = keys_under(raw(&mut store), &p);
    keys.iter_mut().for_each(|k| *k = k[p.len()..].to_owned());
    let expected = [
        format!("logins:hour:{h}"),
        format!("logins:hour:{h}:{}", BASE / 600),
        format!("logins:hour:{h}:{}", BASE / 600 + 1),
        "logins:hour:buckets".to_owned(),
        format!("logins:minute:{m}"),
        format!("logins:minute:{}", m + 11),
        "logins:minute:buckets".to_owned(),
        "names".to_owned(),
    ];
    let mut expected = expected.to_vec();
    expected.sort();
    assert_eq!(keys, expected);

    let conn = raw(&mut store);
    let get = |conn: &mut Connection, key: String| -> String {
        redis::cmd("GET").arg(format!("{p}{key}")).query(conn).unwrap()
    };
    // A fractional count reads back (kairos's int() of it raised).
    assert_eq!(get(conn, format!("logins:minute:{m}")), "2.5");
    let subs: Vec<i64> =
        redis::cmd("SMEMBERS").arg(format!("{p}logins:hour:{h}")).query(conn).unwrap();
    assert_eq!(subs.len(), 2);
    let ttl = |conn: &mut Connection, key: &str| -> i64 {
        redis::cmd("TTL").arg(format!("{p}{key}")).query(conn).unwrap()
    };
    let expected_ttl = minute.ttl(m, now).unwrap() as i64; // 10 minutes minus 30 s
    assert_eq!(expected_ttl, 570);
    assert!((expected_ttl - 2..=expected_ttl).contains(&ttl(conn, &format!("logins:minute:{m}"))));
    let index_ttl = ttl(conn, "logins:minute:buckets");
    let newest_ttl = minute.ttl(m + 11, now).unwrap() as i64;
    assert!((newest_ttl - 2..=newest_ttl).contains(&index_ttl), "{index_ttl}");
    assert_eq!(ttl(conn, &format!("logins:hour:{h}")), -1, "no retention, no expiry");
    assert_eq!(ttl(conn, "names"), -1);

    let hour = store.series("logins", "hour", BASE, BASE).unwrap();
    assert_eq!(hour[0].value, Bucket::Count(4.5));
}

#[test]
fn redis_moments_merge_min_and_max_across_writes() {
    let test = "redis_moments_merge_min_and_max_across_writes";
    let Some(conn) = common::redis(test) else { return };
    let day = IntervalSpec::parse("day", "daily", Some(7), None).unwrap();
    let (mut store, _cleanup) =
        store(conn, test, Schema::new(MetricType::Moments, vec![day]).unwrap());
    for (x, now) in [(5.0, BASE), (-2.5, BASE + 1), (9.0, BASE + 2), (0.1, BASE + 3)] {
        store.insert("bytes.out", BASE + 60, Value::Num(x), now).unwrap();
    }
    let got = store.series("bytes.out", "day", BASE, BASE).unwrap();
    let Bucket::Moments(m) = got[0].value else { panic!("{got:?}") };
    let expected = Moments { count: 4, sum: 11.6, sumsq: 112.26, min: -2.5, max: 9.0 };
    assert_eq!((m.count, m.min, m.max), (expected.count, expected.min, expected.max));
    assert!((m.sum - expected.sum).abs() < 1e-12 && (m.sumsq - expected.sumsq).abs() < 1e-9);
}

#[test]
fn redis_rejects_colons_and_unknown_intervals() {
    let test = "redis_rejects_colons_and_unknown_intervals";
    let Some(conn) = common::redis(test) else { return };
    let (mut store, _cleanup) =
        store(conn, test, Schema::new(MetricType::Set, intervals()).unwrap());
    let batch = [Observation::new("ok", BASE, "a"), Observation::new("evil:name", BASE, "a")];
    let err = store.insert_batch(&batch, BASE).unwrap_err();
    assert!(err.to_string().contains("\"evil:name\" is invalid"), "{err}");
    assert!(store.names().unwrap().is_empty(), "nothing of the batch was written");
    assert!(matches!(store.series("a:b", "minute", 0, 0), Err(StoreError::Name(_))));
    assert!(matches!(store.series("ok", "week", 0, 0), Err(StoreError::UnknownInterval { .. })));
    let conn = redis::Client::open(common::REDIS_URL).unwrap().get_connection().unwrap();
    assert!(
        RedisStore::with_connection(conn, "", Schema::new(MetricType::Set, intervals()).unwrap())
            .is_err()
    );
}

#[test]
fn redis_metadata_follows_expired_keys() {
    let test = "redis_metadata_follows_expired_keys";
    let Some(conn) = common::redis(test) else { return };
    let minute = IntervalSpec::new("minute", Step::Seconds(60), Some(10), None).unwrap();
    let (mut store, _cleanup) =
        store(conn, test, Schema::new(MetricType::Gauge, vec![minute]).unwrap());
    let p = store.prefix().to_owned();
    let obs = [
        Observation::new("queue", BASE, 3.0),
        Observation::new("queue", BASE + 60, 4.0),
        Observation::new("disk", BASE, 0.5),
    ];
    store.insert_batch(&obs, BASE + 60).unwrap();
    assert_eq!(store.names().unwrap(), ["disk", "queue"]);
    let extent = &store.properties("queue").unwrap()[0];
    assert_eq!((extent.first, extent.last), (BASE, BASE + 60));

    // As if the server had expired the oldest bucket of "queue" and everything of "disk".
    let m = BASE / 60;
    let conn = raw(&mut store);
    redis::cmd("DEL").arg(format!("{p}queue:minute:{m}")).query::<()>(conn).unwrap();
    let disk = [format!("{p}disk:minute:{m}"), format!("{p}disk:minute:buckets")];
    redis::cmd("DEL").arg(&disk).query::<()>(conn).unwrap();
    let extent = &store.properties("queue").unwrap()[0];
    assert_eq!((extent.first, extent.last), (BASE + 60, BASE + 60));
    assert_eq!(store.series("queue", "minute", 0, BASE * 2).unwrap().len(), 1);
    assert_eq!(store.names().unwrap(), ["queue"]);
    let names: Vec<String> =
        redis::cmd("SMEMBERS").arg(format!("{p}names")).query(raw(&mut store)).unwrap();
    assert_eq!(names, ["queue"], "the expired name was forgotten");

    // Drops are counted per name and interval.
    let report = store.insert("queue", BASE - 3_600, Value::Num(1.0), BASE + 60).unwrap();
    assert_eq!(report.dropped, [1]);
    assert_eq!(store.drop_counts()[0].dropped, 1);
}
