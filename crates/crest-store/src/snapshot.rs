//! The embedded store's snapshot file: a checked header, then the data in postcard.
//!
//! Layout (integers little-endian):
//!
//! | bytes | content |
//! |---|---|
//! | 0..8 | magic `b"crestms\n"` |
//! | 8..12 | format version, `1` |
//! | 12..16 | CRC-32 (IEEE) of the payload |
//! | 16..24 | payload length |
//! | 24.. | payload: postcard encoding of [`SnapshotV1`] |
//!
//! The checksum catches flipped bits that would still decode; every structural rule (cells
//! in order, one series per interval, bucket types matching the schema) is checked on load,
//! so a damaged file is an error naming it, never a panic or silently wrong data.

use std::collections::VecDeque;
use std::io::Write;
use std::path::Path;

use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

use crate::bucket::Bucket;
use crate::embedded::{Cell, Series};
use crate::error::StoreError;
use crate::interval::{IntervalSpec, Step};
use crate::schema::{MetricType, Schema, check_name};

const MAGIC: &[u8; 8] = b"crestms\n";
const VERSION: u32 = 1;
const HEADER: usize = 24;

/// A decoded snapshot.
pub(crate) struct Loaded {
    pub(crate) now: Option<i64>,
    /// Each name with its series, one per interval.
    pub(crate) metrics: Vec<(Box<str>, Vec<Series>)>,
}

/// The payload of format version 1.
#[derive(Serialize, Deserialize)]
struct SnapshotV1<M> {
    schema: SchemaRecord,
    now: Option<i64>,
    metrics: M,
}

#[derive(Serialize, Deserialize, PartialEq)]
struct SchemaRecord {
    metric_type: MetricType,
    intervals: Vec<IntervalRecord>,
}

#[derive(Serialize, Deserialize, PartialEq)]
struct IntervalRecord {
    name: String,
    step: StepRecord,
    steps: Option<u64>,
    resolution: Option<u64>,
}

#[derive(Serialize, Deserialize, PartialEq)]
enum StepRecord {
    Seconds(u64),
    Weekly,
    Monthly,
    Yearly,
}

#[derive(Deserialize)]
struct MetricRecord {
    name: String,
    series: Vec<SeriesRecord>,
}

#[derive(Deserialize)]
struct SeriesRecord {
    dropped: u64,
    cells: Vec<(i64, Bucket)>,
}

impl SchemaRecord {
    fn of(schema: &Schema) -> SchemaRecord {
        let record = |s: &IntervalSpec| IntervalRecord {
            name: s.name().to_owned(),
            step: match s.step() {
                Step::Seconds(n) => StepRecord::Seconds(n),
                Step::Weekly => StepRecord::Weekly,
                Step::Monthly => StepRecord::Monthly,
                Step::Yearly => StepRecord::Yearly,
            },
            steps: s.steps(),
            resolution: s.resolution(),
        };
        SchemaRecord {
            metric_type: schema.metric_type(),
            intervals: schema.intervals().iter().map(record).collect(),
        }
    }

    /// The schema this record describes, if it is a valid one.
    fn to_schema(&self) -> Option<Schema> {
        let spec = |r: &IntervalRecord| {
            let step = match r.step {
                StepRecord::Seconds(n) => Step::Seconds(n),
                StepRecord::Weekly => Step::Weekly,
                StepRecord::Monthly => Step::Monthly,
                StepRecord::Yearly => Step::Yearly,
            };
            IntervalSpec::new(&r.name, step, r.steps, r.resolution).ok()
        };
        let intervals = self.intervals.iter().map(spec).collect::<Option<Vec<_>>>()?;
        Schema::new(self.metric_type, intervals).ok()
    }
}

/// Serializes the metrics without copying them. Postcard writes a struct as the tuple of its
/// fields, so these tuples decode as [`MetricRecord`] and [`SeriesRecord`].
struct MetricsOut<'a>(Vec<MetricOut<'a>>);
struct MetricOut<'a>(&'a str, &'a [Series]);
struct SeriesOut<'a>(&'a Series);
struct CellsOut<'a>(&'a VecDeque<Cell>);

impl Serialize for MetricsOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(&self.0)
    }
}

impl Serialize for MetricOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (self.0, self.1.iter().map(SeriesOut).collect::<Vec<_>>()).serialize(s)
    }
}

impl Serialize for SeriesOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (self.0.dropped, CellsOut(&self.0.cells)).serialize(s)
    }
}

impl Serialize for CellsOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for cell in self.0 {
            seq.serialize_element(&(cell.id, &cell.value))?;
        }
        seq.end()
    }
}

/// The snapshot bytes of a store: its schema, clock, and each name with its series.
pub(crate) fn encode<'a>(
    schema: &Schema,
    now: Option<i64>,
    metrics: impl Iterator<Item = (&'a Box<str>, &'a [Series])>,
) -> Vec<u8> {
    let metrics = MetricsOut(metrics.map(|(name, series)| MetricOut(name, series)).collect());
    let payload = SnapshotV1 { schema: SchemaRecord::of(schema), now, metrics };
    // Serializing plain data into a Vec cannot fail.
    let payload = postcard::to_stdvec(&payload).expect("snapshot serializes");
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

/// Decodes and checks a snapshot read from `path` for a store opened with `schema`.
pub(crate) fn decode(bytes: &[u8], path: &Path, schema: &Schema) -> Result<Loaded, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt { path: path.to_owned(), reason };
    if bytes.len() < HEADER || &bytes[..8] != MAGIC {
        return Err(corrupt("not a crest metric store snapshot (bad header)".into()));
    }
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let version = word(8);
    if version != VERSION {
        return Err(corrupt(format!(
            "format version {version} is not supported (this crest reads version {VERSION})"
        )));
    }
    let length = u64::from_le_bytes(bytes[16..24].try_into().expect("8 bytes"));
    let payload = &bytes[HEADER..];
    if payload.len() as u64 != length {
        return Err(corrupt(format!(
            "truncated or padded: {} payload bytes, the header says {length}",
            payload.len()
        )));
    }
    if crc32fast::hash(payload) != word(12) {
        return Err(corrupt("checksum mismatch".into()));
    }
    let (snapshot, rest): (SnapshotV1<Vec<MetricRecord>>, _) =
        postcard::take_from_bytes(payload).map_err(|e| corrupt(format!("undecodable: {e}")))?;
    if !rest.is_empty() {
        return Err(corrupt(format!("{} bytes after the data", rest.len())));
    }
    if snapshot.schema != SchemaRecord::of(schema) {
        let found = snapshot.schema.to_schema().map_or("(invalid)".into(), |s| s.to_string());
        return Err(StoreError::SchemaMismatch {
            path: path.to_owned(),
            expected: schema.to_string(),
            found,
        });
    }
    let mut names = std::collections::HashSet::new();
    let mut metrics = Vec::with_capacity(snapshot.metrics.len());
    for record in snapshot.metrics {
        check_name(&record.name).map_err(|e| corrupt(e.to_string()))?;
        if !names.insert(record.name.clone()) {
            return Err(corrupt(format!("metric {:?} appears twice", record.name)));
        }
        if record.series.len() != schema.intervals().len() {
            return Err(corrupt(format!(
                "metric {:?} has {} series for {} intervals",
                record.name,
                record.series.len(),
                schema.intervals().len()
            )));
        }
        let mut series = Vec::with_capacity(record.series.len());
        for s in record.series {
            let mut cells = VecDeque::with_capacity(s.cells.len());
            let mut previous = None;
            for (id, value) in s.cells {
                if previous.is_some_and(|p| p >= id) {
                    return Err(corrupt(format!("metric {:?}: cells out of order", record.name)));
                }
                if value.metric_type() != schema.metric_type() {
                    return Err(corrupt(format!(
                        "metric {:?}: a {} bucket in a {} store",
                        record.name,
                        value.metric_type().as_str(),
                        schema.metric_type().as_str()
                    )));
                }
                previous = Some(id);
                cells.push_back(Cell { id, value });
            }
            series.push(Series::restored(cells, s.dropped));
        }
        metrics.push((record.name.into(), series));
    }
    Ok(Loaded { now: snapshot.now, metrics })
}

/// Writes `bytes` to `path` through a synced temporary file in the same directory, renamed
/// over the target, then syncs the directory so that the rename itself is durable.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| StoreError::Io { path, source }
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".metrics-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io(dir))?;
    tmp.write_all(bytes).map_err(io(tmp.path()))?;
    tmp.as_file().sync_all().map_err(io(tmp.path()))?;
    tmp.persist(path).map_err(|e| e.error).map_err(io(path))?;
    #[cfg(unix)]
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))?;
    Ok(())
}
