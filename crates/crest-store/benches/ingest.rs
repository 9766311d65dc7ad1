//! Store ingest throughput, in observations per second: the embedded store per metric type,
//! and bulk inserts into Redis at 127.0.0.1:6379 (skipped with a message when unreachable).
//!
//! The workload is telemetry-shaped: 1,000 names, time-ordered observations, three intervals
//! (minutes kept a day, hours at 5-minute resolution kept a week, days kept a month).
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::hint::black_box;
use std::time::Duration;

use crest_store::{
    EmbeddedStore, IntervalSpec, MetricStore, MetricType, Observation, RedisStore, Schema,
};
use crest_testing::Rng;
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

/// 2020-11-04 00:00:00 UTC.
const START: i64 = 1_604_448_000;
const NAMES: usize = 1_000;
const MEMBERS: [&str; 8] =
    ["PeExeFile", "PdfDocFile", "ZipArchiveFile", "RtfDocFile", "443", "80", "53", "22"];

fn schema(ty: MetricType) -> Schema {
    let intervals = vec![
        IntervalSpec::parse("minute", "1m", Some(1_440), None).unwrap(),
        IntervalSpec::parse("hour", "1h", Some(168), Some("5m")).unwrap(),
        IntervalSpec::parse("day", "daily", Some(30), None).unwrap(),
    ];
    Schema::new(ty, intervals).unwrap()
}

fn names() -> Vec<String> {
    (0..NAMES).map(|i| format!("host-{i:04}.logins.failed")).collect()
}

/// `n` observations spread evenly over `span` seconds, names and values drawn at random.
fn workload<'a>(names: &'a [String], n: usize, span: i64, ty: MetricType) -> Vec<Observation<'a>> {
    let mut rng = Rng::new(7);
    (0..n)
        .map(|i| {
            let name = &names[rng.below(names.len() as u64) as usize];
            let ts = START + i as i64 * span / n as i64;
            match ty {
                MetricType::Histogram | MetricType::Set => {
                    Observation::new(name, ts, MEMBERS[rng.below(MEMBERS.len() as u64) as usize])
                }
                MetricType::Count => Observation::new(name, ts, 1.0),
                _ => Observation::new(name, ts, rng.unit() * 100.0),
            }
        })
        .collect()
}

/// The same observations `hours` hours later.
fn shifted<'a>(batch: &[Observation<'a>], hours: i64) -> Vec<Observation<'a>> {
    batch.iter().map(|o| Observation { timestamp: o.timestamp + hours * 3_600, ..*o }).collect()
}

fn embedded(c: &mut Criterion) {
    let names = names();
    let n = 1_000_000;
    let mut group = c.benchmark_group("embedded_ingest");
    group.throughput(Throughput::Elements(n as u64)).sample_size(20);
    for ty in [MetricType::Count, MetricType::Gauge, MetricType::Moments, MetricType::Histogram] {
        // Each iteration writes the next hour of telemetry (~280 observations a second), so
        // the store reaches its steady state: new cells at the back, old ones evicted.
        let hour = workload(&names, n, 3_600, ty);
        let mut store = EmbeddedStore::in_memory(schema(ty));
        let mut hours = 0;
        group.bench_function(BenchmarkId::from_parameter(ty.as_str()), |b| {
            b.iter_batched(
                || {
                    hours += 1;
                    shifted(&hour, hours)
                },
                |batch| {
                    let now = batch.last().unwrap().timestamp;
                    black_box(store.insert_batch(&batch, now).unwrap())
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

fn redis(c: &mut Criterion) {
    let url = "redis://127.0.0.1:6379";
    let connect = redis::Client::open(url)
        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(1)));
    let Ok(conn) = connect else {
        eprintln!("SKIPPED redis_ingest: Redis not reachable at 127.0.0.1:6379");
        return;
    };
    let names = names();
    let n = 100_000;
    let prefix = format!("crest-bench:{}", std::process::id());
    let mut store = RedisStore::with_connection(conn, &prefix, schema(MetricType::Count)).unwrap();
    let mut group = c.benchmark_group("redis_ingest");
    group.throughput(Throughput::Elements(n as u64)).sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    // Ten minutes of telemetry per batch: ~10 observations per name and minute to aggregate.
    let batch = workload(&names, n, 600, MetricType::Count);
    let now = batch.last().unwrap().timestamp;
    group.bench_function("count_bulk_100k", |b| {
        b.iter(|| black_box(store.insert_batch(black_box(&batch), now).unwrap()))
    });
    group.finish();
    for name in &names {
        store.delete(name).unwrap();
    }
}

criterion_group!(benches, embedded, redis);
criterion_main!(benches);
