//! The Redis store: kairos's key layout, with index keys instead of `KEYS` scans.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use redis::{Cmd, Connection, Pipeline};

use crate::bucket::{Bucket, Moments, Observation, Sample};
use crate::error::StoreError;
use crate::interval::{IntervalSpec, clamp_ts};
use crate::schema::{MetricType, Schema, check_name};
use crate::store::{DropCount, Extent, FinePoint, MetricStore, WriteReport, group_cells};

/// Merges partial moments into a HASH: `KEYS[1]`; `ARGV` = count, sum, sumsq, min, max.
/// Numbers travel as the client's exact text; Lua only compares them.
const MOMENTS_LUA: &str = r"
local k = KEYS[1]
redis.call('HINCRBY', k, 'count', ARGV[1])
redis.call('HINCRBYFLOAT', k, 'sum', ARGV[2])
redis.call('HINCRBYFLOAT', k, 'sumsq', ARGV[3])
local min = redis.call('HGET', k, 'min')
if (not min) or tonumber(ARGV[4]) < tonumber(min) then redis.call('HSET', k, 'min', ARGV[4]) end
local max = redis.call('HGET', k, 'max')
if (not max) or tonumber(ARGV[5]) > tonumber(max) then redis.call('HSET', k, 'max', ARGV[5]) end
return 1
";

/// Keys deleted per `DEL` command.
const DEL_CHUNK: usize = 512;

/// A metric store on a Redis server, through one synchronous connection.
///
/// With prefix `P` (a `:` is appended if missing), metric `N` and interval `I`:
///
/// | key | type | holds |
/// |---|---|---|
/// | `P:N:I:<bucket>` | by metric type | a coarse interval's bucket |
/// | `P:N:I:<bucket>` | SET | a fine interval's sub-bucket ids that hold data |
/// | `P:N:I:<bucket>:<sub>` | by metric type | one sub-bucket of a fine interval |
/// | `P:N:I:buckets` | ZSET | index: bucket ids holding data (score = id) |
/// | `P:names` | SET | index: metric names |
///
/// Bucket ids are the integer `floor(ts / step)` (consecutive ISO weeks, months or years for
/// calendar steps), sub-bucket ids `floor(ts / resolution)`. Values: count → STRING
/// (`INCRBYFLOAT`; fractional counts read back fine, unlike kairos), gauge → STRING (`SET`),
/// histogram → HASH member → occurrences (`HINCRBY`), set → SET (`SADD`), moments → HASH
/// `count sum sumsq min max` (merged by a Lua script, so min and max stay atomic).
///
/// With retention, every bucket key gets `EXPIRE` with the exact time left in retention, and
/// the index ZSET expires with its newest bucket; writes trim index entries that left
/// retention. `names`, `properties`, `delete` and range reads go through the two indexes and
/// never scan. Names can therefore not contain `:`; they are rejected rather than escaped so
/// that keys stay readable and kairos-shaped.
///
/// A batch is first aggregated per cell in this process, then sent as one pipeline: one write
/// per cell, one `EXPIRE` per key. The pipeline is not a transaction: if the server fails
/// half-way, the cells before the failure are written. Drop counts live in this process.
pub struct RedisStore {
    conn: Connection,
    /// The key prefix, ending in `:`.
    prefix: String,
    schema: Schema,
    /// The latest clock given to a write.
    now: Option<i64>,
    /// Writes dropped as too old, per name and interval (kept in this process only).
    drops: BTreeMap<String, Vec<u64>>,
    moments: redis::Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("schema", &self.schema.to_string())
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

/// One cell of a write batch: where the aggregated value goes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct CellKey<'a> {
    name: &'a str,
    interval: usize,
    cell: i64,
}

impl RedisStore {
    /// Connects to `url` (`redis://127.0.0.1:6379`) with a 2-second timeout.
    pub fn connect(url: &str, prefix: &str, schema: Schema) -> Result<RedisStore, StoreError> {
        let client = redis::Client::open(url)?;
        let conn = client.get_connection_with_timeout(Duration::from_secs(2))?;
        RedisStore::with_connection(conn, prefix, schema)
    }

    /// A store on an open connection, keeping its keys under `prefix` (non-empty).
    pub fn with_connection(
        conn: Connection,
        prefix: &str,
        schema: Schema,
    ) -> Result<RedisStore, StoreError> {
        if prefix.is_empty() || prefix == ":" {
            return Err(crate::error::SpecError::BadName {
                what: "key prefix",
                name: prefix.to_owned(),
            }
            .into());
        }
        let mut prefix = prefix.to_owned();
        if !prefix.ends_with(':') {
            prefix.push(':');
        }
        Ok(RedisStore {
            conn,
            prefix,
            schema,
            now: None,
            drops: BTreeMap::new(),
            moments: redis::Script::new(MOMENTS_LUA),
        })
    }

    /// The key prefix, ending in `:`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The latest clock given to a write (Unix seconds).
    pub fn now(&self) -> Option<i64> {
        self.now
    }

    /// The connection, for commands this store does not offer.
    pub fn connection(&mut self) -> &mut Connection {
        &mut self.conn
    }

    fn names_key(&self) -> String {
        format!("{}names", self.prefix)
    }

    fn bucket_key(&self, name: &str, interval: &str, bucket: i64) -> String {
        format!("{}{name}:{interval}:{bucket}", self.prefix)
    }

    fn sub_key(&self, name: &str, interval: &str, bucket: i64, sub: i64) -> String {
        format!("{}{name}:{interval}:{bucket}:{sub}", self.prefix)
    }

    fn index_key(&self, name: &str, interval: &str) -> String {
        format!("{}{name}:{interval}:buckets", self.prefix)
    }

    /// The oldest bucket id still retained by the store's clock.
    fn oldest(&self, spec: &IntervalSpec) -> i64 {
        self.now.and_then(|now| spec.oldest_retained(now)).unwrap_or(i64::MIN)
    }

    /// The bucket ids of `name` in `interval` from `lo` to `hi` (inclusive), per the index.
    fn indexed(&mut self, index: &str, lo: i64, hi: i64) -> Result<Vec<i64>, StoreError> {
        let ids: Vec<i64> =
            redis::cmd("ZRANGEBYSCORE").arg(index).arg(lo).arg(hi).query(&mut self.conn)?;
        Ok(ids)
    }

    /// Folds a batch into one value per cell, counting what is rejected or dropped.
    fn aggregate<'a>(
        &mut self,
        batch: &[Observation<'a>],
        now: i64,
        report: &mut WriteReport,
    ) -> Vec<(CellKey<'a>, Bucket)> {
        let ty = self.schema.metric_type();
        let intervals = self.schema.intervals();
        let min_ts: Vec<i64> = intervals
            .iter()
            .map(|s| s.oldest_retained(now).map_or(i64::MIN, |b| s.bucket_start(b)))
            .collect();
        let mut slots: hashbrown::HashMap<CellKey<'a>, usize, foldhash::fast::RandomState> =
            Default::default();
        let mut cells: Vec<(CellKey<'a>, Bucket)> = Vec::new();
        for obs in batch {
            let Some(sample) = Sample::check(ty, obs) else {
                report.rejected += 1;
                continue;
            };
            for (i, spec) in intervals.iter().enumerate() {
                if obs.timestamp < min_ts[i] {
                    report.dropped[i] += 1;
                    let counts = match self.drops.get_mut(obs.name) {
                        Some(counts) => counts,
                        None => self.drops.entry(obs.name.to_owned()).or_default(),
                    };
                    counts.resize(intervals.len(), 0);
                    counts[i] += 1;
                    continue;
                }
                let key =
                    CellKey { name: obs.name, interval: i, cell: spec.cell_of(obs.timestamp) };
                match slots.get(&key) {
                    Some(&slot) => cells[slot].1.add(&sample),
                    None => {
                        slots.insert(key, cells.len());
                        cells.push((key, Bucket::first(ty, &sample)));
                    }
                }
            }
        }
        cells
    }

    /// The pipeline that writes aggregated cells: values, sub-bucket sets, `EXPIRE`s (one per
    /// key), the bucket indexes and the name index.
    fn pipeline(&self, cells: &[(CellKey<'_>, Bucket)], now: i64) -> Pipeline {
        let intervals = self.schema.intervals();
        let mut pipe = redis::pipe();
        if self.schema.metric_type() == MetricType::Moments {
            // Loaded in the same pipeline, so EVALSHA cannot miss it after a server restart.
            pipe.cmd("SCRIPT").arg("LOAD").arg(MOMENTS_LUA).ignore();
        }
        // Per (name, interval): bucket → sub-bucket ids (empty for coarse intervals).
        let mut buckets: BTreeMap<(&str, usize), BTreeMap<i64, Vec<i64>>> = BTreeMap::new();
        for (key, value) in cells {
            let spec = &intervals[key.interval];
            let bucket = spec.bucket_of_cell(key.cell);
            let subs = buckets.entry((key.name, key.interval)).or_default().entry(bucket);
            let target = match spec.resolution() {
                Some(_) => {
                    subs.or_default().push(key.cell);
                    self.sub_key(key.name, spec.name(), bucket, key.cell)
                }
                None => {
                    subs.or_default();
                    self.bucket_key(key.name, spec.name(), bucket)
                }
            };
            self.push_write(&mut pipe, &target, value);
            if let Some(ttl) = spec.ttl(bucket, now) {
                pipe.cmd("EXPIRE").arg(&target).arg(ttl.max(1)).ignore();
            }
        }
        let mut names: Vec<&str> = Vec::new();
        for (&(name, i), per_bucket) in &buckets {
            let spec = &intervals[i];
            let index = self.index_key(name, spec.name());
            let mut zadd = redis::cmd("ZADD");
            zadd.arg(&index);
            let mut newest_ttl = None;
            for (&bucket, subs) in per_bucket {
                zadd.arg(bucket).arg(bucket);
                let ttl = spec.ttl(bucket, now).map(|t| t.max(1));
                newest_ttl = newest_ttl.max(ttl);
                if !subs.is_empty() {
                    let set = self.bucket_key(name, spec.name(), bucket);
                    pipe.cmd("SADD").arg(&set).arg(subs).ignore();
                    if let Some(ttl) = ttl {
                        pipe.cmd("EXPIRE").arg(&set).arg(ttl).ignore();
                    }
                }
            }
            pipe.add_command(zadd).ignore();
            if let Some(ttl) = newest_ttl {
                // The index lives as long as its newest bucket: set if unset, else only extend.
                pipe.cmd("EXPIRE").arg(&index).arg(ttl).arg("NX").ignore();
                pipe.cmd("EXPIRE").arg(&index).arg(ttl).arg("GT").ignore();
                let oldest = spec.oldest_retained(now).unwrap_or(i64::MIN);
                let before_oldest = format!("({oldest}");
                pipe.cmd("ZREMRANGEBYSCORE").arg(&index).arg("-inf").arg(before_oldest).ignore();
            }
            if names.last() != Some(&name) {
                names.push(name);
            }
        }
        pipe.cmd("SADD").arg(self.names_key()).arg(names).ignore();
        pipe
    }

    /// Adds the command that writes `value` into `key`.
    fn push_write(&self, pipe: &mut Pipeline, key: &str, value: &Bucket) {
        match value {
            Bucket::Count(x) => {
                pipe.cmd("INCRBYFLOAT").arg(key).arg(*x).ignore();
            }
            Bucket::Gauge(x) => {
                pipe.cmd("SET").arg(key).arg(*x).ignore();
            }
            Bucket::Histogram(h) => {
                for (member, n) in h {
                    pipe.cmd("HINCRBY").arg(key).arg(member).arg(*n).ignore();
                }
            }
            Bucket::Set(s) => {
                pipe.cmd("SADD").arg(key).arg(s.iter().collect::<Vec<_>>()).ignore();
            }
            Bucket::Moments(m) => {
                pipe.cmd("EVALSHA")
                    .arg(self.moments.get_hash())
                    .arg(1)
                    .arg(key)
                    .arg(m.count)
                    .arg(m.sum)
                    .arg(m.sumsq)
                    .arg(m.min)
                    .arg(m.max)
                    .ignore();
            }
        }
    }

    /// Reads the cells `(cell id, key)` in one pipeline; missing keys are left out.
    fn fetch(&mut self, cells: Vec<(i64, String)>) -> Result<Vec<(i64, Bucket)>, StoreError> {
        if cells.is_empty() {
            return Ok(Vec::new());
        }
        let ty = self.schema.metric_type();
        let mut pipe = redis::pipe();
        for (_, key) in &cells {
            pipe.add_command(read_cmd(ty, key));
        }
        let values: Vec<redis::Value> = pipe.query(&mut self.conn)?;
        let mut out = Vec::with_capacity(cells.len());
        for ((cell, key), value) in cells.into_iter().zip(values) {
            if let Some(bucket) = decode(ty, &key, value)? {
                out.push((cell, bucket));
            }
        }
        Ok(out)
    }
}

/// The command that reads a bucket of type `ty`.
fn read_cmd(ty: MetricType, key: &str) -> Cmd {
    let name = match ty {
        MetricType::Count | MetricType::Gauge => "GET",
        MetricType::Histogram | MetricType::Moments => "HGETALL",
        MetricType::Set => "SMEMBERS",
    };
    let mut cmd = redis::cmd(name);
    cmd.arg(key);
    cmd
}

/// Converts a reply, with Redis's own error for a reply of the wrong shape.
fn parse<T: redis::FromRedisValue>(value: redis::Value) -> Result<T, StoreError> {
    redis::from_redis_value(value).map_err(|e| StoreError::Redis(e.into()))
}

/// A bucket from Redis's reply to [`read_cmd`]; `None` for a missing key.
fn decode(ty: MetricType, key: &str, value: redis::Value) -> Result<Option<Bucket>, StoreError> {
    let bad = |detail: String| StoreError::BadReply { key: key.to_owned(), detail };
    let number = |field: &str, text: &str| {
        text.parse::<f64>().map_err(|_| bad(format!("{field} {text:?} is not a number")))
    };
    Ok(match ty {
        MetricType::Count | MetricType::Gauge => {
            let Some(text) = parse::<Option<String>>(value)? else {
                return Ok(None);
            };
            let x = number("value", &text)?;
            Some(if ty == MetricType::Count { Bucket::Count(x) } else { Bucket::Gauge(x) })
        }
        MetricType::Histogram => {
            let fields: HashMap<String, String> = parse(value)?;
            let mut h = BTreeMap::new();
            for (member, n) in fields {
                let n = n.parse().map_err(|_| bad(format!("count {n:?} of {member:?}")))?;
                h.insert(member, n);
            }
            (!h.is_empty()).then_some(Bucket::Histogram(h))
        }
        MetricType::Set => {
            let members: Vec<String> = parse(value)?;
            (!members.is_empty()).then(|| Bucket::Set(members.into_iter().collect()))
        }
        MetricType::Moments => {
            let fields: HashMap<String, String> = parse(value)?;
            if fields.is_empty() {
                return Ok(None);
            }
            let field = |name: &str| {
                let text = fields.get(name).ok_or_else(|| bad(format!("no field {name:?}")))?;
                number(name, text)
            };
            let count = fields.get("count").and_then(|c| c.parse().ok());
            let count = count.ok_or_else(|| bad("count is missing or not an integer".into()))?;
            Some(Bucket::Moments(Moments {
                count,
                sum: field("sum")?,
                sumsq: field("sumsq")?,
                min: field("min")?,
                max: field("max")?,
            }))
        }
    })
}

impl MetricStore for RedisStore {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn insert_batch(
        &mut self,
        batch: &[Observation<'_>],
        now: i64,
    ) -> Result<WriteReport, StoreError> {
        for obs in batch {
            check_name(obs.name)?;
        }
        let now = clamp_ts(now);
        let now = self.now.map_or(now, |n| n.max(now));
        self.now = Some(now);
        let mut report = WriteReport::new(batch.len(), self.schema.intervals().len());
        let cells = self.aggregate(batch, now, &mut report);
        if !cells.is_empty() {
            self.pipeline(&cells, now).query::<()>(&mut self.conn)?;
        }
        Ok(report)
    }

    fn series_fine(
        &mut self,
        name: &str,
        interval: &str,
        start: i64,
        end: i64,
    ) -> Result<Vec<FinePoint>, StoreError> {
        check_name(name)?;
        let (_, spec) = self.schema.lookup(interval)?;
        let spec = spec.clone();
        let lo = spec.bucket_of(clamp_ts(start)).max(self.oldest(&spec));
        let hi = spec.bucket_of(clamp_ts(end));
        if hi < lo {
            return Ok(Vec::new());
        }
        let ids = self.indexed(&self.index_key(name, spec.name()), lo, hi)?;
        let cells = match spec.resolution() {
            None => {
                let keys = ids.iter().map(|&b| (b, self.bucket_key(name, spec.name(), b)));
                keys.collect()
            }
            Some(_) => {
                let mut pipe = redis::pipe();
                for &b in &ids {
                    pipe.cmd("SMEMBERS").arg(self.bucket_key(name, spec.name(), b));
                }
                let subs: Vec<Vec<i64>> =
                    if ids.is_empty() { Vec::new() } else { pipe.query(&mut self.conn)? };
                let mut keys = Vec::new();
                for (&b, mut subs) in ids.iter().zip(subs) {
                    subs.sort_unstable();
                    keys.extend(
                        subs.into_iter().map(|s| (s, self.sub_key(name, spec.name(), b, s))),
                    );
                }
                keys
            }
        };
        let cells = self.fetch(cells)?;
        Ok(group_cells(&spec, cells))
    }

    fn names(&mut self) -> Result<Vec<String>, StoreError> {
        let names_key = self.names_key();
        let mut names: Vec<String> =
            redis::cmd("SMEMBERS").arg(&names_key).query(&mut self.conn)?;
        names.sort_unstable();
        if names.is_empty() {
            return Ok(names);
        }
        // A name whose indexes all expired holds nothing any more: forget it.
        let mut pipe = redis::pipe();
        for name in &names {
            let indexes: Vec<String> =
                self.schema.intervals().iter().map(|s| self.index_key(name, s.name())).collect();
            pipe.cmd("EXISTS").arg(indexes);
        }
        let live: Vec<u64> = pipe.query(&mut self.conn)?;
        let (kept, gone): (Vec<_>, Vec<_>) =
            names.into_iter().zip(live).partition(|(_, live)| *live > 0);
        if !gone.is_empty() {
            let gone: Vec<String> = gone.into_iter().map(|(n, _)| n).collect();
            redis::cmd("SREM").arg(&names_key).arg(gone).query::<()>(&mut self.conn)?;
        }
        Ok(kept.into_iter().map(|(n, _)| n).collect())
    }

    fn properties(&mut self, name: &str) -> Result<Vec<Extent>, StoreError> {
        check_name(name)?;
        let intervals = self.schema.intervals().to_vec();
        let mut out = Vec::new();
        for spec in &intervals {
            let index = self.index_key(name, spec.name());
            let ids = self.indexed(&index, self.oldest(spec), i64::MAX)?;
            if ids.is_empty() {
                continue;
            }
            // The index can outlive a bucket that expired on the server's clock.
            let mut pipe = redis::pipe();
            for &b in &ids {
                pipe.cmd("EXISTS").arg(self.bucket_key(name, spec.name(), b));
            }
            let exists: Vec<bool> = pipe.query(&mut self.conn)?;
            let mut live = ids.iter().zip(exists).filter(|(_, e)| *e).map(|(b, _)| *b);
            let Some(first) = live.next() else { continue };
            let last = live.next_back().unwrap_or(first);
            out.push(Extent {
                interval: spec.name().to_owned(),
                first: spec.bucket_start(first),
                last: spec.bucket_start(last),
            });
        }
        Ok(out)
    }

    fn delete(&mut self, name: &str) -> Result<bool, StoreError> {
        check_name(name)?;
        let intervals = self.schema.intervals().to_vec();
        let mut keys = Vec::new();
        for spec in &intervals {
            let index = self.index_key(name, spec.name());
            let ids: Vec<i64> =
                redis::cmd("ZRANGE").arg(&index).arg(0).arg(-1).query(&mut self.conn)?;
            let bucket_keys: Vec<String> =
                ids.iter().map(|&b| self.bucket_key(name, spec.name(), b)).collect();
            if spec.resolution().is_some() && !ids.is_empty() {
                let mut pipe = redis::pipe();
                for key in &bucket_keys {
                    pipe.cmd("SMEMBERS").arg(key);
                }
                let subs: Vec<Vec<i64>> = pipe.query(&mut self.conn)?;
                for (&b, subs) in ids.iter().zip(subs) {
                    keys.extend(subs.into_iter().map(|s| self.sub_key(name, spec.name(), b, s)));
                }
            }
            keys.extend(bucket_keys);
            keys.push(index);
        }
        let mut pipe = redis::pipe();
        for chunk in keys.chunks(DEL_CHUNK) {
            pipe.cmd("DEL").arg(chunk);
        }
        pipe.cmd("SREM").arg(self.names_key()).arg(name);
        let counts: Vec<u64> = pipe.query(&mut self.conn)?;
        self.drops.remove(name);
        Ok(counts.iter().any(|&n| n > 0))
    }

    fn drop_counts(&self) -> Vec<DropCount> {
        let mut out = Vec::new();
        for (name, counts) in &self.drops {
            for (spec, &dropped) in self.schema.intervals().iter().zip(counts) {
                if dropped > 0 {
                    out.push(DropCount {
                        name: name.clone(),
                        interval: spec.name().to_owned(),
                        dropped,
                    });
                }
            }
        }
        out
    }
}
