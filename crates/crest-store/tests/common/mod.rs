//! Shared by the store's integration tests: a naive model of the store, random workloads and
//! the Redis gate.

#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};

use crest_store::{
    Bucket, DropCount, Extent, FinePoint, IntervalSpec, MetricStore, MetricType, Moments,
    Observation, Point, Schema, Step, Value, member_text,
};
use proptest::prelude::*;

/// 2021-03-01 00:00:00 UTC: a Monday, a month start and a multiple of every step used here.
pub const BASE: i64 = 1_614_556_800;

/// The intervals of the random workloads: coarse and fine, with and without retention.
pub fn intervals() -> Vec<IntervalSpec> {
    vec![
        IntervalSpec::new("minute", Step::Seconds(60), Some(5), None).unwrap(),
        IntervalSpec::new("hour", Step::Seconds(3_600), Some(2), Some(600)).unwrap(),
        IntervalSpec::new("day", Step::Seconds(86_400), None, Some(3_600)).unwrap(),
        IntervalSpec::new("month", Step::Monthly, Some(2), Some(86_400)).unwrap(),
    ]
}

/// An owned observation, as the random workloads generate them.
#[derive(Clone, Debug)]
pub struct Obs {
    pub name: String,
    pub ts: i64,
    pub value: Val,
}

/// An owned value.
#[derive(Clone, Debug)]
pub enum Val {
    Num(f64),
    Text(String),
}

impl Obs {
    pub fn borrow(&self) -> Observation<'_> {
        let value = match &self.value {
            Val::Num(x) => Value::Num(*x),
            Val::Text(s) => Value::Text(s),
        };
        Observation { name: &self.name, timestamp: self.ts, value }
    }
}

/// A batch of observations with the clock it is written at.
#[derive(Clone, Debug)]
pub struct Batch {
    pub now: i64,
    pub obs: Vec<Obs>,
}

impl Batch {
    pub fn observations(&self) -> Vec<Observation<'_>> {
        self.obs.iter().map(Obs::borrow).collect()
    }
}

/// Random observations: a few names, times around [`BASE`] (some old enough to be dropped,
/// a month back so the monthly interval drops some too), quarter values so that every sum is
/// exact in any order, and texts that are also numbers.
pub fn batches(max_batches: usize, max_obs: usize) -> impl Strategy<Value = Vec<Batch>> {
    let name = prop::sample::select(vec!["logins", "dns.queries", "host-7"]).prop_map(String::from);
    let ts = prop_oneof![
        4 => (BASE - 9_000)..(BASE + 900),
        1 => (BASE - 70 * 86_400)..(BASE + 86_400),
    ];
    let value = prop_oneof![
        4 => (-400i32..400).prop_map(|k| Val::Num(f64::from(k) / 4.0)),
        2 => prop::sample::select(vec!["zip", "exe", "443", "0.5"])
            .prop_map(|s| Val::Text(s.to_owned())),
    ];
    let obs = (name, ts, value).prop_map(|(name, ts, value)| Obs { name, ts, value });
    let batch = ((BASE - 600)..(BASE + 900), prop::collection::vec(obs, 0..max_obs))
        .prop_map(|(now, obs)| Batch { now, obs });
    prop::collection::vec(batch, 1..max_batches)
}

/// Any metric type.
pub fn metric_type() -> impl Strategy<Value = MetricType> {
    prop::sample::select(vec![
        MetricType::Count,
        MetricType::Gauge,
        MetricType::Histogram,
        MetricType::Set,
        MetricType::Moments,
    ])
}

/// What a store must hold after the batches, recomputed from the raw observations.
pub struct Naive {
    pub schema: Schema,
    /// Per name, per interval: every accepted raw value with its time, in write order.
    pub accepted: BTreeMap<String, Vec<Vec<(i64, Val)>>>,
    pub dropped: BTreeMap<(String, usize), u64>,
    pub rejected: u64,
    pub now: Option<i64>,
}

impl Naive {
    pub fn new(schema: Schema) -> Naive {
        Naive {
            schema,
            accepted: BTreeMap::new(),
            dropped: BTreeMap::new(),
            rejected: 0,
            now: None,
        }
    }

    /// Bucket id of `ts`, by plain floor division for seconds steps.
    fn bucket(spec: &IntervalSpec, ts: i64) -> i64 {
        match spec.step() {
            Step::Seconds(s) => ts.div_euclid(s as i64),
            _ => spec.bucket_of(ts),
        }
    }

    /// The oldest bucket kept at clock `now`: `steps - 1` before the bucket of `now`.
    fn oldest(spec: &IntervalSpec, now: Option<i64>) -> i64 {
        match (spec.steps(), now) {
            (Some(steps), Some(now)) => Self::bucket(spec, now) - steps as i64 + 1,
            _ => i64::MIN,
        }
    }

    /// Records a batch, returning the expected rejected count and drops per interval.
    pub fn write(&mut self, batch: &Batch) -> (u64, Vec<u64>) {
        let now = self.now.map_or(batch.now, |n| n.max(batch.now));
        self.now = Some(now);
        let numeric = matches!(
            self.schema.metric_type(),
            MetricType::Count | MetricType::Gauge | MetricType::Moments
        );
        let intervals = self.schema.intervals().to_vec();
        let mut rejected = 0;
        let mut dropped = vec![0; intervals.len()];
        for obs in &batch.obs {
            if numeric && matches!(obs.value, Val::Text(_)) {
                rejected += 1;
                continue;
            }
            for (i, spec) in intervals.iter().enumerate() {
                if Self::bucket(spec, obs.ts) < Self::oldest(spec, Some(now)) {
                    dropped[i] += 1;
                    *self.dropped.entry((obs.name.clone(), i)).or_default() += 1;
                    continue;
                }
                let per_interval = self
                    .accepted
                    .entry(obs.name.clone())
                    .or_insert_with(|| vec![Vec::new(); intervals.len()]);
                per_interval[i].push((obs.ts, obs.value.clone()));
            }
        }
        self.rejected += rejected;
        (rejected, dropped)
    }

    /// The retained raw values of `name` in interval `i`, by bucket then sub-bucket (the bucket
    /// itself for coarse intervals), each in write order.
    fn cells(&self, name: &str, i: usize) -> BTreeMap<i64, BTreeMap<i64, Vec<Val>>> {
        let spec = &self.schema.intervals()[i];
        let oldest = Self::oldest(spec, self.now);
        let mut out: BTreeMap<i64, BTreeMap<i64, Vec<Val>>> = BTreeMap::new();
        for (ts, value) in self.accepted.get(name).map_or(&[][..], |v| &v[i][..]) {
            let bucket = Self::bucket(spec, *ts);
            if bucket < oldest {
                continue;
            }
            let start = spec.bucket_start(bucket);
            let sub = match spec.resolution() {
                Some(r) => ts.div_euclid(r as i64) * r as i64,
                None => start,
            };
            out.entry(start).or_default().entry(sub).or_default().push(value.clone());
        }
        out
    }

    /// The value of raw values written in this order, by the type's definition.
    fn fold(&self, values: &[&Val]) -> Bucket {
        let num = |v: &Val| match v {
            Val::Num(x) => *x,
            Val::Text(_) => unreachable!("texts of numeric types are rejected"),
        };
        let text = |v: &Val| match v {
            Val::Num(x) => member_text(*x),
            Val::Text(s) => s.clone(),
        };
        match self.schema.metric_type() {
            MetricType::Count => Bucket::Count(values.iter().map(|v| num(v)).sum()),
            MetricType::Gauge => Bucket::Gauge(num(values.last().unwrap())),
            MetricType::Histogram => {
                let mut h = BTreeMap::new();
                for v in values {
                    *h.entry(text(v)).or_insert(0) += 1;
                }
                Bucket::Histogram(h)
            }
            MetricType::Set => Bucket::Set(values.iter().map(|v| text(v)).collect::<BTreeSet<_>>()),
            MetricType::Moments => {
                let xs: Vec<f64> = values.iter().map(|v| num(v)).collect();
                Bucket::Moments(Moments {
                    count: xs.len() as u64,
                    sum: xs.iter().sum(),
                    sumsq: xs.iter().map(|x| x * x).sum(),
                    min: xs.iter().copied().fold(f64::INFINITY, f64::min),
                    max: xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                })
            }
        }
    }

    /// The expected condensed series.
    pub fn series(&self, name: &str, i: usize) -> Vec<Point> {
        let gauge = self.schema.metric_type() == MetricType::Gauge;
        let mut out = Vec::new();
        for (start, subs) in self.cells(name, i) {
            // A condensed gauge is the latest sub-bucket's value; the rest fold every value.
            let values: Vec<&Val> = if gauge {
                subs.values().next_back().unwrap().iter().collect()
            } else {
                subs.values().flatten().collect()
            };
            out.push(Point { start, value: self.fold(&values) });
        }
        out
    }

    /// The expected series with sub-buckets.
    pub fn series_fine(&self, name: &str, i: usize) -> Vec<FinePoint> {
        let mut out = Vec::new();
        for (start, subs) in self.cells(name, i) {
            let parts = subs
                .iter()
                .map(|(sub, values)| Point {
                    start: *sub,
                    value: self.fold(&values.iter().collect::<Vec<_>>()),
                })
                .collect();
            out.push(FinePoint { start, parts });
        }
        out
    }

    /// Names with at least one retained value.
    pub fn names(&self) -> Vec<String> {
        let n = self.schema.intervals().len();
        let names = self.accepted.keys();
        names.filter(|name| (0..n).any(|i| !self.cells(name, i).is_empty())).cloned().collect()
    }

    /// The expected extents.
    pub fn properties(&self, name: &str) -> Vec<Extent> {
        let mut out = Vec::new();
        for (i, spec) in self.schema.intervals().iter().enumerate() {
            let cells = self.cells(name, i);
            if let (Some(first), Some(last)) = (cells.keys().next(), cells.keys().next_back()) {
                out.push(Extent { interval: spec.name().to_owned(), first: *first, last: *last });
            }
        }
        out
    }

    /// The expected drop counts.
    pub fn drop_counts(&self) -> Vec<DropCount> {
        let intervals = self.schema.intervals();
        let counts = self.dropped.iter().map(|((name, i), n)| DropCount {
            name: name.clone(),
            interval: intervals[*i].name().to_owned(),
            dropped: *n,
        });
        counts.collect()
    }

    /// Checks every read of `store` against the model (proptest assertions).
    pub fn check(&self, store: &mut dyn MetricStore) -> Result<(), TestCaseError> {
        let far = 200 * 86_400;
        for name in ["logins", "dns.queries", "host-7"] {
            for (i, spec) in self.schema.intervals().iter().enumerate() {
                let interval = spec.name();
                let got = store.series(name, interval, BASE - far, BASE + far).unwrap();
                prop_assert_eq!(got, self.series(name, i), "{} {}", name, interval);
                let got = store.series_fine(name, interval, BASE - far, BASE + far).unwrap();
                prop_assert_eq!(got, self.series_fine(name, i), "{} {} fine", name, interval);
            }
            prop_assert_eq!(store.properties(name).unwrap(), self.properties(name), "{}", name);
        }
        prop_assert_eq!(store.names().unwrap(), self.names());
        prop_assert_eq!(store.drop_counts(), self.drop_counts());
        Ok(())
    }
}

/// Where the Redis tests find their server.
pub const REDIS_URL: &str = "redis://127.0.0.1:6379";

/// A connection to the test Redis, or `None` (with a SKIPPED line) when it is unreachable and
/// `CREST_TEST_SERVICES=1` does not require it.
pub fn redis(test: &str) -> Option<redis::Connection> {
    let connect = || -> redis::RedisResult<redis::Connection> {
        let client = redis::Client::open(REDIS_URL)?;
        let mut conn = client.get_connection_with_timeout(std::time::Duration::from_secs(1))?;
        redis::cmd("PING").query::<String>(&mut conn)?;
        Ok(conn)
    };
    match connect() {
        Ok(conn) => Some(conn),
        Err(e) => {
            assert!(
                !crest_testing::services_required(),
                "{test}: Redis not reachable at 127.0.0.1:6379, and CREST_TEST_SERVICES=1 requires it: {e}"
            );
            eprintln!(
                "SKIPPED {test}: Redis not reachable at 127.0.0.1:6379 (set CREST_TEST_SERVICES=1 to require it)"
            );
            None
        }
    }
}

/// A key prefix no other test or process uses.
pub fn unique_prefix(test: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("crest-test:{}:{n}:{test}:", std::process::id())
}

/// The keys under `prefix`, found with `SCAN` (tests only: the store itself never scans).
pub fn keys_under(conn: &mut redis::Connection, prefix: &str) -> Vec<String> {
    let pattern = format!("{}*", prefix.replace('[', "\\[").replace('*', "\\*"));
    let mut cursor = 0u64;
    let mut keys = Vec::new();
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query(conn)
            .unwrap();
        keys.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    keys.sort();
    keys
}

/// Deletes every key under a prefix when dropped, so a failing test leaves nothing behind.
pub struct Cleanup {
    pub prefix: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Ok(client) = redis::Client::open(REDIS_URL)
            && let Ok(mut conn) = client.get_connection()
        {
            let keys = keys_under(&mut conn, &self.prefix);
            for chunk in keys.chunks(500) {
                let _ = redis::cmd("DEL").arg(chunk).query::<()>(&mut conn);
            }
        }
    }
}
