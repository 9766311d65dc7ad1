//! The interface both backends implement, and the plain data it returns.

use crate::bucket::{Bucket, Observation, Value};
use crate::error::StoreError;
use crate::schema::Schema;

/// A store of named metrics in multi-resolution time buckets.
///
/// Every write fans out to all of the schema's intervals. Writes carry the caller's clock,
/// `now` (Unix seconds): a write whose bucket is `steps` or more buckets older than the bucket
/// of `now` is dropped and counted, as kairos drops it. A store remembers the latest `now` it
/// was given and reads hide buckets that have left retention by that clock. A live service
/// passes its wall clock; a replay of old telemetry passes the newest timestamp it has read.
pub trait MetricStore {
    /// The metric type and intervals every name shares.
    fn schema(&self) -> &Schema;

    /// Writes one observation to every interval.
    fn insert(
        &mut self,
        name: &str,
        timestamp: i64,
        value: Value<'_>,
        now: i64,
    ) -> Result<WriteReport, StoreError> {
        self.insert_batch(&[Observation { name, timestamp, value }], now)
    }

    /// Writes many observations, in order (a gauge keeps the last one of a bucket).
    ///
    /// A name that is empty or contains `:` fails the whole batch before anything is written;
    /// unusable values are skipped and counted in [`WriteReport::rejected`].
    fn insert_batch(
        &mut self,
        batch: &[Observation<'_>],
        now: i64,
    ) -> Result<WriteReport, StoreError>;

    /// The buckets of `name` in `interval` from the bucket holding `start` to the one holding
    /// `end` (Unix seconds, both included), in time order, fine resolutions condensed.
    /// Buckets without data are left out.
    fn series(
        &mut self,
        name: &str,
        interval: &str,
        start: i64,
        end: i64,
    ) -> Result<Vec<Point>, StoreError> {
        let fine = self.series_fine(name, interval, start, end)?;
        Ok(fine.into_iter().filter_map(FinePoint::condensed).collect())
    }

    /// As [`series`](Self::series), with each bucket's sub-buckets (a coarse interval's
    /// bucket is its own single part).
    fn series_fine(
        &mut self,
        name: &str,
        interval: &str,
        start: i64,
        end: i64,
    ) -> Result<Vec<FinePoint>, StoreError>;

    /// The names that hold data, sorted.
    fn names(&mut self) -> Result<Vec<String>, StoreError>;

    /// The first and last bucket of `name` per interval (intervals without data left out).
    fn properties(&mut self, name: &str) -> Result<Vec<Extent>, StoreError>;

    /// Removes `name` and all its buckets; whether it held anything.
    fn delete(&mut self, name: &str) -> Result<bool, StoreError>;

    /// Writes dropped as older than retention, per name and interval, since the store was
    /// opened (the embedded store keeps them across snapshots).
    fn drop_counts(&self) -> Vec<DropCount>;
}

/// What a write call did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteReport {
    /// Observations given.
    pub observations: u64,
    /// Observations skipped as unusable: a text for a numeric type, a non-finite number or a
    /// timestamp beyond ±2^40 s.
    pub rejected: u64,
    /// Per interval, in schema order: writes dropped as older than retention.
    pub dropped: Vec<u64>,
}

impl WriteReport {
    /// An empty report for `intervals` intervals.
    pub(crate) fn new(observations: usize, intervals: usize) -> WriteReport {
        WriteReport { observations: observations as u64, rejected: 0, dropped: vec![0; intervals] }
    }

    /// All writes dropped, over every interval.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().sum()
    }
}

/// One bucket of a series: its first second and its value.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// The bucket's (or sub-bucket's) first second, Unix time.
    pub start: i64,
    /// Its value.
    pub value: Bucket,
}

/// One bucket of a fine-resolution series, with its sub-buckets.
#[derive(Clone, Debug, PartialEq)]
pub struct FinePoint {
    /// The bucket's first second, Unix time.
    pub start: i64,
    /// The sub-buckets that hold data, in time order.
    pub parts: Vec<Point>,
}

impl FinePoint {
    /// The bucket's value: its parts condensed (`None` without parts).
    pub fn condensed(self) -> Option<Point> {
        let value = Bucket::condense(self.parts.into_iter().map(|p| p.value))?;
        Some(Point { start: self.start, value })
    }
}

/// The first and last bucket of a name in one interval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extent {
    /// The interval's name.
    pub interval: String,
    /// The first second of the oldest bucket holding data.
    pub first: i64,
    /// The first second of the newest bucket holding data.
    pub last: i64,
}

/// Writes dropped as too old for one name and interval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DropCount {
    /// The metric's name.
    pub name: String,
    /// The interval's name.
    pub interval: String,
    /// How many writes were dropped.
    pub dropped: u64,
}

/// Groups cells `(cell id, value)` in time order into fine points of `spec`'s buckets.
pub(crate) fn group_cells(
    spec: &crate::interval::IntervalSpec,
    cells: impl IntoIterator<Item = (i64, Bucket)>,
) -> Vec<FinePoint> {
    let mut out: Vec<FinePoint> = Vec::new();
    let mut current = None;
    for (cell, value) in cells {
        let bucket = spec.bucket_of_cell(cell);
        let part = Point { start: spec.cell_start(cell), value };
        match out.last_mut() {
            Some(last) if current == Some(bucket) => last.parts.push(part),
            _ => {
                current = Some(bucket);
                out.push(FinePoint { start: spec.bucket_start(bucket), parts: vec![part] });
            }
        }
    }
    out
}
