//! `crest series store`: the kairos-style metric store (`crest-store`) from the command line.
//!
//! A store is either embedded (a snapshot in `<data-dir>/series/<name>/`) or on Redis (keys
//! under `--prefix`). Either way it has one schema, a metric type and its intervals, which is
//! remembered: next to the snapshot as `schema.json` (the snapshot holds it too and the
//! library refuses another one), or as JSON at `<prefix>:schema` on Redis.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Subcommand};
use crest_core::time::parse_instant_text;
use crest_store::{
    Bucket, EmbeddedStore, IntervalSpec, MAX_ABS_TIMESTAMP, MetricStore, MetricType, Observation,
    RedisStore, SNAPSHOT_FILE, Schema, StoreError, Value,
};

use super::write_stdout;
use crate::Failure;
use crate::fsutil;

/// Observations per `insert_batch` call: large enough to amortise a Redis round trip.
const BATCH: usize = 65_536;

/// The most rows `read` writes (a wide range at a fine interval would be billions).
const MAX_READ_ROWS: i64 = 10_000_000;

/// The schema file the CLI keeps beside an embedded store's snapshot.
const SCHEMA_FILE: &str = "schema.json";

/// Arguments of `crest series store`.
#[derive(Debug, Args)]
#[command(after_help = "`write` creates a store; its --type and --interval default to count, \
                        minute=1m:1440, hour=1h:720 and day=daily:365. An existing store keeps \
                        its schema: --type/--interval on a later write are checked against it.")]
pub(crate) struct StoreArgs {
    #[command(flatten)]
    pub(crate) place: PlaceArgs,

    #[command(subcommand)]
    pub(crate) command: StoreCommand,
}

/// Which store.
#[derive(Debug, Args)]
pub(crate) struct PlaceArgs {
    /// `embedded` (a snapshot in the data directory) or `redis://HOST:PORT[/DB]`.
    #[arg(long = "store", value_name = "embedded|URL", default_value = "embedded", global = true)]
    pub(crate) store: String,

    /// The data directory [default: $CREST_DATA_DIR, $XDG_DATA_HOME/crest, ~/.local/share/crest].
    #[arg(long = "data-dir", value_name = "DIR", global = true)]
    pub(crate) data_dir: Option<PathBuf>,

    /// The embedded store's name, to keep several: `<data-dir>/series/<NAME>` [default: default].
    #[arg(long = "name", value_name = "NAME", global = true)]
    pub(crate) store_name: Option<String>,

    /// The Redis key prefix [default: crest].
    #[arg(long = "prefix", value_name = "PREFIX", global = true)]
    pub(crate) prefix: Option<String>,
}

/// The schema of a new store, or the one an existing store is checked to have.
#[derive(Debug, Args)]
pub(crate) struct SchemaArgs {
    /// The metric type of a new store (count, gauge, histogram, set, moments).
    #[arg(long = "type", value_name = "TYPE", value_parser = type_parser())]
    pub(crate) metric_type: Option<MetricType>,

    /// An interval of a new store, `NAME=STEP[:STEPS[:RESOLUTION]]` (e.g. `hour=1h:720`,
    /// `day=daily:365:1h`; empty STEPS keeps buckets forever); repeatable.
    #[arg(long = "interval", value_name = "SPEC")]
    pub(crate) intervals: Vec<String>,
}

/// The subcommands of `crest series store`.
#[derive(Debug, Subcommand)]
pub(crate) enum StoreCommand {
    /// Write `timestamp,value` rows (with `name`, or `metric,key` as extract writes them).
    Write(WriteArgs),
    /// Read one name's buckets in one interval as `timestamp,value` CSV (for `series score`).
    Read(ReadArgs),
    /// List the names, with each interval's first and last bucket (UTC).
    List,
    /// Delete names and all their buckets.
    Delete(DeleteArgs),
    /// Delete the whole store: every name, and the remembered schema.
    Drop,
}

/// Arguments of `crest series store write`.
#[derive(Debug, Args)]
#[command(after_help = "A row's name is its `name` column, else `metric` + ' ' + `key` (just \
                        `metric` when key is empty). Names may not contain ':' (the Redis key \
                        separator): such a row is an error naming its line. An empty value is a \
                        missing point and is not written.")]
pub(crate) struct WriteArgs {
    /// The rows: CSV with a header; plain, gzip or zstd; `-` for standard input.
    #[arg(value_name = "INPUT.csv", default_value = "-")]
    pub(crate) input: String,

    /// The clock for retention (epoch, RFC 3339 or `YYYY-MM-DD HH:MM:SS` UTC) [default: the
    /// newest timestamp in the input, as for a replay of old telemetry].
    #[arg(long = "now", value_name = "TIME")]
    pub(crate) now: Option<String>,

    /// Skip unreadable rows (counted) instead of stopping at the first.
    #[arg(long = "skip-invalid")]
    pub(crate) skip_invalid: bool,

    #[command(flatten)]
    pub(crate) schema: SchemaArgs,
}

/// Arguments of `crest series store read`.
#[derive(Debug, Args)]
#[command(after_help = "Output: CSV `timestamp,value`, one row per bucket from start to end, \
                        timestamps in epoch seconds. Empty buckets read 0 for count, histogram, \
                        set and the count and sum of moments; empty (missing) for gauge and the \
                        other moments.")]
pub(crate) struct ReadArgs {
    /// The metric's name (as `list` shows it).
    #[arg(value_name = "NAME")]
    pub(crate) metric: String,

    /// The interval to read (one of the schema's).
    #[arg(long = "interval", short = 'i', value_name = "INTERVAL")]
    pub(crate) interval: String,

    /// The first bucket: the one holding this time [default: the name's first bucket].
    #[arg(long = "start", value_name = "TIME")]
    pub(crate) start: Option<String>,

    /// The last bucket: the one holding this time [default: the name's last bucket].
    #[arg(long = "end", value_name = "TIME")]
    pub(crate) end: Option<String>,

    /// What to read of a bucket: moments `count|sum|mean|min|max|stdev` (default mean; stdev
    /// is the population's), histogram `total|distinct` (default total).
    #[arg(long = "stat", value_name = "STAT")]
    pub(crate) stat: Option<String>,

    /// Write the CSV here instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
}

/// Arguments of `crest series store delete`.
#[derive(Debug, Args)]
pub(crate) struct DeleteArgs {
    /// The names to delete.
    #[arg(value_name = "NAME", required = true)]
    pub(crate) names: Vec<String>,
}

/// Runs `crest series store`.
pub(crate) fn run(args: &StoreArgs) -> Result<(), Failure> {
    let place = Place::of(&args.place)?;
    let schema = match &args.command {
        StoreCommand::Write(a) => Some(&a.schema),
        _ => None,
    };
    let mut store = Opened::open(&place, schema)?;
    match &args.command {
        StoreCommand::Write(a) => write(&mut store, &place, a),
        StoreCommand::Read(a) => read(&mut store, a),
        StoreCommand::List => list(&mut store),
        StoreCommand::Delete(a) => delete(&mut store, &a.names),
        StoreCommand::Drop => drop_all(store),
    }
}

/// Where the store is, resolved from the flags.
#[derive(Debug)]
enum Place {
    /// An embedded store's directory and name.
    Embedded { dir: PathBuf, name: String },
    /// A Redis URL and key prefix.
    Redis { url: String, prefix: String },
}

impl Place {
    /// Resolves `--store`, `--data-dir`, `--name` and `--prefix`.
    fn of(a: &PlaceArgs) -> Result<Place, Failure> {
        if a.store == "embedded" {
            if a.prefix.is_some() {
                return Err(Failure::Usage("--prefix is for a Redis --store".to_string()));
            }
            let name = a.store_name.clone().unwrap_or_else(|| "default".to_string());
            let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
            if name.is_empty() || name.starts_with('.') || !name.chars().all(plain) {
                return Err(Failure::Usage(format!(
                    "--name {name:?}: use letters, digits, '.', '_' and '-' (not first '.')"
                )));
            }
            let dir = crate::fsutil::data_dir(a.data_dir.as_deref())?.join("series").join(&name);
            Ok(Place::Embedded { dir, name })
        } else if a.store.starts_with("redis://") {
            if a.store_name.is_some() || a.data_dir.is_some() {
                return Err(Failure::Usage(
                    "--name and --data-dir are for the embedded store; use --prefix with Redis"
                        .to_string(),
                ));
            }
            let prefix = a.prefix.clone().unwrap_or_else(|| "crest".to_string());
            Ok(Place::Redis { url: a.store.clone(), prefix })
        } else {
            Err(Failure::Usage(format!(
                "--store {:?}: expected `embedded` or `redis://HOST:PORT[/DB]`",
                a.store
            )))
        }
    }

    /// The store as messages name it.
    fn label(&self) -> String {
        match self {
            Place::Embedded { name, .. } => format!("store {name}"),
            Place::Redis { url, prefix } => format!("store {url} prefix {prefix}"),
        }
    }
}

/// The schema the flags give: each part `None` when not given.
fn given_schema(
    a: Option<&SchemaArgs>,
) -> Result<(Option<MetricType>, Option<Vec<IntervalSpec>>), Failure> {
    let Some(a) = a else { return Ok((None, None)) };
    let intervals = if a.intervals.is_empty() {
        None
    } else {
        Some(a.intervals.iter().map(|s| parse_interval(s)).collect::<Result<Vec<_>, _>>()?)
    };
    Ok((a.metric_type, intervals))
}

/// The schema to open with: the flags' parts, else the stored schema's, else the defaults.
fn resolve_schema(a: Option<&SchemaArgs>, stored: Option<&Schema>) -> Result<Schema, Failure> {
    let (ty, intervals) = given_schema(a)?;
    let ty = ty.or(stored.map(Schema::metric_type)).unwrap_or(MetricType::Count);
    let intervals = match (intervals, stored) {
        (Some(i), _) => i,
        (None, Some(s)) => s.intervals().to_vec(),
        (None, None) => ["minute=1m:1440", "hour=1h:720", "day=daily:365"]
            .iter()
            .map(|s| parse_interval(s))
            .collect::<Result<_, _>>()?,
    };
    Schema::new(ty, intervals).map_err(|e| Failure::Usage(format!("--interval: {e}")))
}

/// Parses `NAME=STEP[:STEPS[:RESOLUTION]]`.
fn parse_interval(text: &str) -> Result<IntervalSpec, Failure> {
    let bad = |why: String| Failure::Usage(format!("--interval {text:?}: {why}"));
    let (name, rest) = text
        .split_once('=')
        .ok_or_else(|| bad("expected NAME=STEP[:STEPS[:RESOLUTION]]".to_string()))?;
    let mut parts = rest.splitn(3, ':');
    let step = parts.next().unwrap_or_default();
    let steps = match parts.next().filter(|s| !s.is_empty()) {
        Some(s) => Some(s.parse::<u64>().map_err(|_| bad(format!("STEPS {s:?} is not a count")))?),
        None => None,
    };
    let resolution = parts.next().filter(|s| !s.is_empty());
    IntervalSpec::parse(name, step, steps, resolution).map_err(|e| bad(e.to_string()))
}

/// `--type`: the five metric types.
fn type_parser() -> impl TypedValueParser<Value = MetricType> {
    PossibleValuesParser::new(["count", "gauge", "histogram", "set", "moments"]).map(|t| {
        match t.as_str() {
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "set" => MetricType::Set,
            "moments" => MetricType::Moments,
            _ => MetricType::Count,
        }
    })
}

/// An open store of either backend.
enum Opened {
    /// An embedded store; `exists` when it has a snapshot (else it is in memory only).
    Embedded { store: EmbeddedStore, dir: PathBuf, exists: bool },
    /// A Redis store, its schema key, and whether that key was empty when opened.
    Redis { store: RedisStore, schema_key: String, new: bool },
}

impl Opened {
    /// Opens the store at `place`; `given` is a write's schema flags. Only a write creates a
    /// store: other commands see a missing one as empty and leave nothing behind.
    fn open(place: &Place, given: Option<&SchemaArgs>) -> Result<Opened, Failure> {
        let writing = given.is_some();
        match place {
            Place::Embedded { dir, name } => {
                let exists = dir.join(SNAPSHOT_FILE).is_file();
                let stored = read_schema_file(&dir.join(SCHEMA_FILE))?;
                let schema = resolve_schema(given, stored.as_ref())?;
                let store = if exists || writing {
                    EmbeddedStore::open(dir, schema).map_err(|e| match e {
                        StoreError::SchemaMismatch { .. } => anyhow!(e).context(format!(
                            "store {name} has another schema: omit --type and --interval to \
                             use it, or choose another --name"
                        )),
                        e => anyhow!(e).context(format!("cannot open store {name}")),
                    })?
                } else {
                    EmbeddedStore::in_memory(schema)
                };
                Ok(Opened::Embedded { store, dir: dir.clone(), exists })
            }
            Place::Redis { url, prefix } => {
                let schema_key = format!("{}:schema", prefix.trim_end_matches(':'));
                let redis_err = |e: redis::RedisError| anyhow!(e).context(format!("redis {url}"));
                let client = redis::Client::open(url.as_str()).map_err(redis_err)?;
                let mut conn = client
                    .get_connection_with_timeout(Duration::from_secs(2))
                    .map_err(redis_err)?;
                let stored = redis_schema(&mut conn, &schema_key)?;
                let schema = resolve_schema(given, stored.as_ref())?;
                match stored {
                    Some(found) if found != schema => {
                        return Err(mismatch(&schema_key, &found, &schema));
                    }
                    _ => {}
                }
                let store = RedisStore::with_connection(conn, prefix, schema)
                    .map_err(|e| Failure::Usage(format!("--prefix: {e}")))?;
                Ok(Opened::Redis { store, schema_key, new: stored.is_none() })
            }
        }
    }

    /// Stores a new Redis store's schema (just before its first write, so that a failed
    /// parse leaves nothing behind); an embedded store's goes with its snapshot.
    fn claim_schema(&mut self) -> Result<(), Failure> {
        let Opened::Redis { store, schema_key, new: new @ true } = self else { return Ok(()) };
        let schema = store.schema().clone();
        let json = serde_json::to_string(&schema).context("cannot encode the schema")?;
        let redis_err = |e: redis::RedisError| anyhow!(e).context(format!("redis: {schema_key:?}"));
        // NX: of two first writers racing, one schema wins and the other is checked against it.
        let set: Option<String> = redis::cmd("SET")
            .arg(&*schema_key)
            .arg(&json)
            .arg("NX")
            .query(store.connection())
            .map_err(redis_err)?;
        if set.is_none()
            && let Some(found) = redis_schema(store.connection(), schema_key)?
            && found != schema
        {
            return Err(mismatch(schema_key, &found, &schema));
        }
        *new = false;
        Ok(())
    }

    /// The store behind either backend.
    fn store(&mut self) -> &mut dyn MetricStore {
        match self {
            Opened::Embedded { store, .. } => store,
            Opened::Redis { store, .. } => store,
        }
    }

    /// Saves an embedded store (snapshot, then the schema file); Redis writes as it goes.
    fn save(&mut self) -> anyhow::Result<()> {
        let Opened::Embedded { store, dir, exists } = self else { return Ok(()) };
        if !*exists && store.snapshot_path().is_none() {
            return Ok(());
        }
        store.checkpoint().context("cannot save the store")?;
        let path = dir.join(SCHEMA_FILE);
        let json = serde_json::to_string_pretty(store.schema()).context("cannot encode schema")?;
        if std::fs::read_to_string(&path).ok().as_deref() != Some(json.as_str()) {
            fsutil::write_atomic(&path, json.as_bytes())
                .with_context(|| format!("{}: cannot write", path.display()))?;
        }
        *exists = true;
        Ok(())
    }
}

/// The error for a Redis schema key that holds another schema.
fn mismatch(key: &str, found: &Schema, given: &Schema) -> Failure {
    Failure::Run(anyhow!(
        "redis key {key:?} holds schema `{found}`, but the store was opened with `{given}`: \
         omit --type and --interval to use it, or choose another --prefix"
    ))
}

/// The schema stored at `key` on Redis, if any.
fn redis_schema(conn: &mut redis::Connection, key: &str) -> Result<Option<Schema>, Failure> {
    let json: Option<String> = redis::cmd("GET")
        .arg(key)
        .query(conn)
        .map_err(|e| anyhow!(e).context(format!("redis: cannot read {key:?}")))?;
    json.map(|j| {
        serde_json::from_str(&j)
            .map_err(|e| Failure::Run(anyhow!("redis key {key:?}: not a crest store schema: {e}")))
    })
    .transpose()
}

/// The schema file beside an embedded snapshot, if there is one.
fn read_schema_file(path: &Path) -> Result<Option<Schema>, Failure> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            Failure::Run(anyhow!("{}: not a crest store schema: {e}", path.display()))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Failure::Run(anyhow!(e).context(format!("{}: cannot read", path.display())))),
    }
}

/// One row to write, owned (the observations borrow from it).
struct Row {
    name: String,
    time: i64,
    num: f64,
    text: String,
}

/// Runs `crest series store write`.
fn write(store: &mut Opened, place: &Place, args: &WriteArgs) -> Result<(), Failure> {
    let now = match &args.now {
        Some(t) => Some(parse_time("--now", t)?),
        None => None,
    };
    let (shown, text) = super::input::read_text(&args.input)?;
    let ty = store.store().schema().metric_type();
    let parsed = parse_rows(&shown, &text, ty, args.skip_invalid)?;
    let rows = parsed.rows;
    let now = now.or_else(|| rows.iter().map(|r| r.time).max());
    store.claim_schema()?;

    let intervals = store.store().schema().intervals().len();
    let (mut written, mut rejected, mut dropped) = (0u64, 0u64, vec![0u64; intervals]);
    if let Some(now) = now {
        for chunk in rows.chunks(BATCH) {
            let batch: Vec<Observation<'_>> = chunk
                .iter()
                .map(|r| {
                    let value = match ty {
                        MetricType::Histogram | MetricType::Set => Value::Text(&r.text),
                        _ => Value::Num(r.num),
                    };
                    Observation { name: &r.name, timestamp: r.time, value }
                })
                .collect();
            let report = store
                .store()
                .insert_batch(&batch, now)
                .with_context(|| format!("{shown}: cannot write to the {}", place.label()))?;
            written += report.observations - report.rejected;
            rejected += report.rejected;
            for (d, n) in dropped.iter_mut().zip(&report.dropped) {
                *d += n;
            }
        }
    }
    store.save()?;

    let schema = store.store().schema();
    let per_interval: Vec<String> =
        schema.intervals().iter().zip(&dropped).map(|(s, n)| format!("{} {n}", s.name())).collect();
    let mut summary = format!(
        "crest: {}: {written} row(s) written, {rejected} rejected, {} skipped (missing value)",
        place.label(),
        parsed.missing
    );
    if args.skip_invalid {
        summary.push_str(&format!(", {} skipped (invalid)", parsed.skipped));
    }
    summary.push_str(&format!("; dropped as older than retention: {}", per_interval.join(", ")));
    eprintln!("{summary}");
    if let Some(first) = parsed.first_skip {
        eprintln!("crest: first invalid row: {first}");
    }
    Ok(())
}

/// Rows read from the input, and what was left out.
struct Parsed {
    rows: Vec<Row>,
    /// Rows with an empty value (missing points).
    missing: u64,
    /// Rows skipped by `--skip-invalid`, and the first one's error.
    skipped: u64,
    first_skip: Option<String>,
}

/// Parses the CSV rows for a store of type `ty`.
fn parse_rows(
    shown: &str,
    text: &str,
    ty: MetricType,
    skip_invalid: bool,
) -> anyhow::Result<Parsed> {
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(text.as_bytes());
    let header = reader.headers().with_context(|| format!("{shown}: cannot read the header"))?;
    let find = |name: &str| header.iter().position(|h| h.trim() == name);
    let (Some(time_col), Some(value_col)) = (find("timestamp"), find("value")) else {
        anyhow::bail!(
            "{shown}: line 1: the header needs `timestamp` and `value` columns, and `name` or \
             `metric` (and `key`)"
        );
    };
    let name_cols = match (find("name"), find("metric"), find("key")) {
        (Some(n), _, _) => (n, None),
        (None, Some(m), k) => (m, k),
        (None, None, _) => {
            anyhow::bail!("{shown}: line 1: the header needs a `name` or a `metric` column")
        }
    };
    let numeric = !matches!(ty, MetricType::Histogram | MetricType::Set);
    let mut out = Parsed { rows: Vec::new(), missing: 0, skipped: 0, first_skip: None };
    let mut last_checked = String::new();
    for record in reader.records() {
        let parsed = record.map_err(|e| anyhow!("{shown}: {e}")).and_then(|rec| {
            let line = rec.position().map_or(0, |p| p.line());
            let at = |what: String| anyhow!("{shown}: line {line}: {what}");
            let mut name = rec[name_cols.0].trim().to_string();
            if let Some(k) = name_cols.1.map(|k| rec[k].trim()).filter(|k| !k.is_empty()) {
                name.push(' ');
                name.push_str(k);
            }
            if name != last_checked {
                crest_store::check_name(&name).map_err(|e| at(e.to_string()))?;
                last_checked.clone_from(&name);
            }
            let time_text = rec[time_col].trim();
            let time = parse_instant_text(time_text)
                .map(|us| us.div_euclid(1_000_000))
                .filter(|t| t.unsigned_abs() <= MAX_ABS_TIMESTAMP as u64)
                .ok_or_else(|| at(format!("timestamp: cannot read {time_text:?}")))?;
            let value = rec[value_col].trim();
            if value.is_empty() {
                return Ok(None);
            }
            let num = if numeric {
                value
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .ok_or_else(|| at(format!("value: {value:?} is not a finite number")))?
            } else {
                0.0
            };
            let text = if numeric { String::new() } else { value.to_string() };
            Ok(Some(Row { name, time, num, text }))
        });
        match parsed {
            Ok(Some(row)) => out.rows.push(row),
            Ok(None) => out.missing += 1,
            Err(e) if skip_invalid => {
                out.skipped += 1;
                out.first_skip.get_or_insert_with(|| e.to_string());
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Parses a time flag (epoch, RFC 3339 or `YYYY-MM-DD HH:MM:SS` UTC) to whole seconds.
fn parse_time(flag: &str, text: &str) -> Result<i64, Failure> {
    parse_instant_text(text)
        .map(|us| us.div_euclid(1_000_000))
        .filter(|t| t.unsigned_abs() <= MAX_ABS_TIMESTAMP as u64)
        .ok_or_else(|| {
            Failure::Usage(format!(
                "{flag} {text:?}: expected epoch seconds, RFC 3339 or YYYY-MM-DD HH:MM:SS (UTC)"
            ))
        })
}

/// What `read` reports of a bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stat {
    /// The bucket's count, gauge value, set cardinality or histogram total.
    Plain,
    /// Moments: count, sum, mean, min, max, population stdev.
    Count,
    Sum,
    Mean,
    Min,
    Max,
    Stdev,
    /// Histogram: distinct members.
    Distinct,
}

impl Stat {
    /// The `--stat` for a metric type (its default when not given).
    fn of(ty: MetricType, text: Option<&str>) -> Result<Stat, Failure> {
        let stat = match (ty, text) {
            (MetricType::Moments, None | Some("mean")) => Stat::Mean,
            (MetricType::Moments, Some("count")) => Stat::Count,
            (MetricType::Moments, Some("sum")) => Stat::Sum,
            (MetricType::Moments, Some("min")) => Stat::Min,
            (MetricType::Moments, Some("max")) => Stat::Max,
            (MetricType::Moments, Some("stdev")) => Stat::Stdev,
            (MetricType::Histogram, None | Some("total")) => Stat::Plain,
            (MetricType::Histogram, Some("distinct")) => Stat::Distinct,
            (_, None) => Stat::Plain,
            (ty, Some(s)) => {
                let allowed = match ty {
                    MetricType::Moments => "count, sum, mean, min, max or stdev",
                    MetricType::Histogram => "total or distinct",
                    _ => "nothing (only moments and histogram stores have statistics)",
                };
                return Err(Failure::Usage(format!(
                    "--stat {s:?}: a {} store takes {allowed}",
                    ty.as_str()
                )));
            }
        };
        Ok(stat)
    }

    /// The value of a bucket; `None` prints as an empty (missing) value.
    fn value(self, bucket: &Bucket) -> Option<f64> {
        match (bucket, self) {
            (Bucket::Count(c), _) => Some(*c),
            (Bucket::Gauge(g), _) => Some(*g),
            (Bucket::Set(s), _) => Some(s.len() as f64),
            (Bucket::Histogram(h), Stat::Distinct) => Some(h.len() as f64),
            (Bucket::Histogram(h), _) => Some(h.values().sum::<u64>() as f64),
            (Bucket::Moments(m), stat) => match stat {
                Stat::Count => Some(m.count as f64),
                Stat::Sum => Some(m.sum),
                _ if m.count == 0 => None,
                Stat::Min => Some(m.min),
                Stat::Max => Some(m.max),
                Stat::Stdev => Some(m.variance().sqrt()),
                _ => Some(m.mean()),
            },
        }
    }

    /// The value of an empty bucket: 0 for what counts, missing for what measures.
    fn empty(self, ty: MetricType) -> Option<f64> {
        match (ty, self) {
            (MetricType::Gauge, _) => None,
            (MetricType::Moments, Stat::Count | Stat::Sum) => Some(0.0),
            (MetricType::Moments, _) => None,
            _ => Some(0.0),
        }
    }
}

/// Runs `crest series store read`.
fn read(store: &mut Opened, args: &ReadArgs) -> Result<(), Failure> {
    use std::fmt::Write as _;
    let store = store.store();
    let schema = store.schema().clone();
    let Some((_, spec)) = schema.interval(&args.interval) else {
        let known: Vec<&str> = schema.intervals().iter().map(IntervalSpec::name).collect();
        return Err(Failure::Usage(format!(
            "--interval {:?}: the store has {}",
            args.interval,
            known.join(", ")
        )));
    };
    let stat = Stat::of(schema.metric_type(), args.stat.as_deref())?;
    let start = args.start.as_deref().map(|t| parse_time("--start", t)).transpose()?;
    let end = args.end.as_deref().map(|t| parse_time("--end", t)).transpose()?;
    let (start, end) = match (start, end) {
        (Some(s), Some(e)) => (s, e),
        (s, e) => {
            let extents = store.properties(&args.metric).context("cannot read the store")?;
            let Some(extent) = extents.into_iter().find(|x| x.interval == args.interval) else {
                return Err(Failure::Run(anyhow!(
                    "{:?} has no data in interval {} (give --start and --end, or see `crest \
                     series store list`)",
                    args.metric,
                    args.interval
                )));
            };
            (s.unwrap_or(extent.first), e.unwrap_or(extent.last))
        }
    };
    let (first, last) = (spec.bucket_of(start), spec.bucket_of(end));
    if last < first {
        return Err(Failure::Usage(format!("--end {end} is before --start {start}")));
    }
    if last - first >= MAX_READ_ROWS {
        return Err(Failure::Usage(format!(
            "{} buckets from --start to --end: more than {MAX_READ_ROWS}; narrow the range",
            last - first + 1
        )));
    }
    let points = store.series(&args.metric, &args.interval, start, end).context("cannot read")?;
    let mut points = points.into_iter().peekable();
    let mut out = String::from("timestamp,value\n");
    for id in first..=last {
        let t = spec.bucket_start(id);
        // Skip points before the bucket (there are none, but a calendar step must not stall).
        while points.peek().is_some_and(|p| p.start < t) {
            points.next();
        }
        let value = match points.next_if(|p| p.start == t) {
            Some(p) => stat.value(&p.value),
            None => stat.empty(schema.metric_type()),
        };
        let _ = write!(out, "{t},");
        if let Some(v) = value {
            let _ = write!(out, "{v}");
        }
        out.push('\n');
    }
    match &args.output {
        Some(path) => fsutil::write_atomic(path, out.as_bytes())
            .with_context(|| format!("{}: cannot write", path.display()))?,
        None => write_stdout(out.as_bytes())?,
    }
    Ok(())
}

/// Runs `crest series store list`: `NAME<TAB>INTERVAL FIRST..LAST<TAB>…` per name.
fn list(store: &mut Opened) -> Result<(), Failure> {
    let store = store.store();
    let mut out = String::new();
    for name in store.names().context("cannot list the names")? {
        // Names are free text: a tab or line break would break the columns.
        out.push_str(&name.replace(['\t', '\n', '\r'], " "));
        for x in store.properties(&name).with_context(|| format!("{name:?}: cannot read"))? {
            out.push_str(&format!(
                "\t{} {}..{}",
                x.interval,
                super::utc_text(x.first),
                super::utc_text(x.last)
            ));
        }
        out.push('\n');
    }
    write_stdout(out.as_bytes())?;
    Ok(())
}

/// Runs `crest series store delete`: a name not in the store is a warning, not an error.
fn delete(store: &mut Opened, names: &[String]) -> Result<(), Failure> {
    for name in names {
        if !store.store().delete(name).with_context(|| format!("{name:?}: cannot delete"))? {
            eprintln!("crest: warning: {name:?} is not in the store");
        }
    }
    store.save()?;
    Ok(())
}

/// Runs `crest series store drop`: every name, then the schema (and an embedded store's files).
fn drop_all(mut store: Opened) -> Result<(), Failure> {
    for name in store.store().names().context("cannot list the names")? {
        store.store().delete(&name).with_context(|| format!("{name:?}: cannot delete"))?;
    }
    match &mut store {
        Opened::Embedded { dir, exists, .. } => {
            if *exists {
                for file in [SNAPSHOT_FILE, SCHEMA_FILE] {
                    let path = dir.join(file);
                    match std::fs::remove_file(&path) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                            return Err(Failure::Run(
                                anyhow!(e).context(format!("{}: cannot remove", path.display())),
                            ));
                        }
                        _ => {}
                    }
                }
                // Only an empty directory goes: anything else in it is not ours to delete.
                let _ = std::fs::remove_dir(&*dir);
            }
        }
        Opened::Redis { store, schema_key, .. } => {
            let _: i64 = redis::cmd("DEL")
                .arg(&*schema_key)
                .query(store.connection())
                .map_err(|e| anyhow!(e).context(format!("redis: cannot delete {schema_key:?}")))?;
        }
    }
    Ok(())
}
