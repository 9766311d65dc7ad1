//! The embedded store: buckets in memory, persisted as a snapshot in a data directory.
//!
//! Each (name, interval) keeps its cells (sub-buckets for fine intervals, buckets otherwise)
//! in a deque sorted by cell id, and remembers the *hot* cell it wrote last. Telemetry arrives
//! roughly in time order, so almost every write lands in the hot cell and costs two compares
//! and an add. Moving on to another cell is when cells that left retention are popped from the
//! front; a new newest cell is pushed at the back, a late write finds its cell by binary
//! search. Memory is thus bounded by names × retained cells.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use crate::bucket::{Bucket, Observation, Sample};
use crate::error::StoreError;
use crate::interval::{IntervalSpec, clamp_ts};
use crate::schema::{MetricType, Schema, check_name};
use crate::snapshot;
use crate::store::{DropCount, Extent, FinePoint, MetricStore, WriteReport, group_cells};

/// The snapshot's file name inside the data directory.
pub const SNAPSHOT_FILE: &str = "metrics.snapshot";

type Names = hashbrown::HashMap<Box<str>, usize, foldhash::fast::RandomState>;

/// A metric store in this process's memory, saved to a data directory on [`checkpoint`].
///
/// The snapshot is one file, [`SNAPSHOT_FILE`] in the directory given to [`open`]: a 24-byte
/// header (magic `crestms\n`, format version 1, CRC-32 and length of the payload, all
/// little-endian), then the schema, the clock, and every name's cells and drop counts in
/// postcard. Opening checks all of it, so a damaged or foreign file is an error naming it.
/// Nothing is saved implicitly: call [`checkpoint`] (on shutdown, or every few minutes).
///
/// [`checkpoint`]: EmbeddedStore::checkpoint
/// [`open`]: EmbeddedStore::open
#[derive(Debug)]
pub struct EmbeddedStore {
    schema: Schema,
    /// The snapshot file, for a store opened on a directory.
    path: Option<PathBuf>,
    /// Interned names: name → metric index.
    ids: Names,
    /// Metric index → name.
    names: Vec<Box<str>>,
    /// Metric index × intervals + interval → that series (one flat table, no indirection).
    series: Vec<Series>,
    /// The latest clock given to a write.
    now: Option<i64>,
    /// The metric index of each observation of the batch being written (reused).
    scratch: Vec<usize>,
}

/// One name's cells in one interval.
#[derive(Debug, Default)]
pub(crate) struct Series {
    /// Cells by ascending id.
    pub(crate) cells: VecDeque<Cell>,
    /// The cell written last, and its span `[start, end)` in Unix seconds (empty if none).
    hot: usize,
    hot_start: i64,
    hot_end: i64,
    /// Writes dropped as older than retention.
    pub(crate) dropped: u64,
}

/// One cell and its value.
#[derive(Debug)]
pub(crate) struct Cell {
    pub(crate) id: i64,
    pub(crate) value: Bucket,
}

/// Where retention starts for one interval at the store's clock.
#[derive(Clone, Copy, Debug)]
struct Window {
    /// Writes before this second are dropped.
    min_ts: i64,
    /// Cells before this id are evicted.
    min_cell: i64,
}

impl Window {
    fn of(spec: &IntervalSpec, now: Option<i64>) -> Window {
        match now.and_then(|now| spec.oldest_retained(now)) {
            Some(oldest) => {
                Window { min_ts: spec.bucket_start(oldest), min_cell: spec.first_cell(oldest) }
            }
            None => Window { min_ts: i64::MIN, min_cell: i64::MIN },
        }
    }
}

impl Series {
    /// A series read from a snapshot, its cells in ascending order.
    pub(crate) fn restored(cells: VecDeque<Cell>, dropped: u64) -> Series {
        Series { cells, dropped, ..Series::default() }
    }

    /// Adds a sample at `ts`, which the caller checked is within retention.
    #[inline]
    fn add(&mut self, ty: MetricType, spec: &IntervalSpec, w: Window, ts: i64, s: &Sample<'_>) {
        if ts >= self.hot_start
            && ts < self.hot_end
            && let Some(hot) = self.cells.get_mut(self.hot)
        {
            hot.value.add(s);
            return;
        }
        self.add_elsewhere(ty, spec, w, ts, s);
    }

    /// Adds a sample outside the hot cell, which then becomes the hot one: usually a new
    /// newest cell, else a late write found by binary search.
    #[inline(never)]
    fn add_elsewhere(
        &mut self,
        ty: MetricType,
        spec: &IntervalSpec,
        w: Window,
        ts: i64,
        s: &Sample,
    ) {
        self.evict(w);
        let id = spec.cell_of(ts);
        let at = match self.cells.back() {
            Some(back) if back.id >= id => self.cells.binary_search_by_key(&id, |c| c.id),
            _ => Err(self.cells.len()),
        };
        self.hot = match at {
            Ok(i) => {
                self.cells[i].value.add(s);
                i
            }
            Err(i) => {
                self.cells.insert(i, Cell { id, value: Bucket::first(ty, s) });
                i
            }
        };
        (self.hot_start, self.hot_end) = (spec.cell_start(id), spec.cell_start(id + 1));
    }

    /// Removes the cells that left retention (and forgets the hot cell, whose index moves).
    fn evict(&mut self, w: Window) {
        while self.cells.front().is_some_and(|c| c.id < w.min_cell) {
            self.cells.pop_front();
        }
        (self.hot_start, self.hot_end) = (0, 0);
    }

    /// The retained cells from id `lo` (inclusive) to `hi` (exclusive).
    fn range(&self, w: Window, lo: i64, hi: i64) -> impl Iterator<Item = &Cell> {
        let lo = lo.max(w.min_cell);
        let from = self.cells.partition_point(|c| c.id < lo);
        self.cells.range(from..).take_while(move |c| c.id < hi)
    }
}

impl EmbeddedStore {
    /// An empty store that lives only in memory ([`checkpoint`](Self::checkpoint) writes
    /// nothing).
    pub fn in_memory(schema: Schema) -> EmbeddedStore {
        EmbeddedStore {
            schema,
            path: None,
            ids: Names::default(),
            names: Vec::new(),
            series: Vec::new(),
            now: None,
            scratch: Vec::new(),
        }
    }

    /// Opens the store saved in `dir` (created if missing), or an empty one if it holds no
    /// snapshot yet. A snapshot with another schema or a damaged one is an error naming the
    /// file.
    pub fn open(dir: &Path, schema: Schema) -> Result<EmbeddedStore, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|source| StoreError::Io { path: dir.to_owned(), source })?;
        let path = dir.join(SNAPSHOT_FILE);
        let mut store = EmbeddedStore::in_memory(schema);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let loaded = snapshot::decode(&bytes, &path, &store.schema)?;
                store.now = loaded.now;
                for (name, series) in loaded.metrics {
                    store.ids.insert(name.clone(), store.names.len());
                    store.names.push(name);
                    store.series.extend(series);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(StoreError::Io { path, source }),
        }
        store.path = Some(path);
        Ok(store)
    }

    /// The snapshot file, for a store opened on a directory.
    pub fn snapshot_path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The latest clock given to a write (Unix seconds).
    pub fn now(&self) -> Option<i64> {
        self.now
    }

    /// Evicts what left retention, then saves the store to its snapshot atomically: a
    /// temporary file in the same directory, synced, then renamed over the old snapshot, so a
    /// crash leaves the old snapshot or the new one, never a mix.
    pub fn checkpoint(&mut self) -> Result<(), StoreError> {
        self.sweep();
        let Some(path) = &self.path else { return Ok(()) };
        let metrics = self.names.iter().zip(self.series.chunks(self.schema.intervals().len()));
        let bytes = snapshot::encode(&self.schema, self.now, metrics);
        snapshot::write_atomic(path, &bytes)
    }

    /// Evicts expired cells everywhere and forgets names left with no data and no drop
    /// counts, so that memory follows retention even for names no longer written.
    fn sweep(&mut self) {
        let windows = self.windows();
        let n = windows.len();
        for (i, series) in self.series.iter_mut().enumerate() {
            series.evict(windows[i % n]);
        }
        let names = std::mem::take(&mut self.names);
        let mut series = std::mem::take(&mut self.series).into_iter();
        self.ids.clear();
        for name in names {
            let block: Vec<Series> = series.by_ref().take(n).collect();
            if block.iter().any(|s| !s.cells.is_empty() || s.dropped > 0) {
                self.ids.insert(name.clone(), self.names.len());
                self.names.push(name);
                self.series.extend(block);
            }
        }
    }

    fn windows(&self) -> Vec<Window> {
        self.schema.intervals().iter().map(|spec| Window::of(spec, self.now)).collect()
    }

    /// The series of `name` in interval `i`, if the name is known.
    fn find(&self, name: &str, i: usize) -> Option<&Series> {
        let id = *self.ids.get(name)?;
        Some(&self.series[id * self.schema.intervals().len() + i])
    }

    /// The metric index of `name`, interning it (after checking it) on first sight.
    #[inline]
    fn intern(&mut self, name: &str) -> Result<usize, StoreError> {
        if let Some(&id) = self.ids.get(name) {
            return Ok(id);
        }
        check_name(name)?;
        let id = self.names.len();
        let name: Box<str> = name.into();
        self.names.push(name.clone());
        self.ids.insert(name, id);
        self.series.extend((0..self.schema.intervals().len()).map(|_| Series::default()));
        Ok(id)
    }
}

impl MetricStore for EmbeddedStore {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn insert_batch(
        &mut self,
        batch: &[Observation<'_>],
        now: i64,
    ) -> Result<WriteReport, StoreError> {
        // Resolve every name first, so that a bad one fails the batch before any write (new
        // names interned by then hold no data and stay invisible).
        let mut ids = std::mem::take(&mut self.scratch);
        ids.clear();
        for obs in batch {
            match self.intern(obs.name) {
                Ok(id) => ids.push(id),
                Err(e) => {
                    self.scratch = ids;
                    return Err(e);
                }
            }
        }
        let now = clamp_ts(now);
        self.now = Some(self.now.map_or(now, |n| n.max(now)));
        let windows = self.windows();
        let intervals = self.schema.intervals();
        let n = intervals.len();
        let ty = self.schema.metric_type();
        let mut report = WriteReport::new(batch.len(), n);
        for (obs, &id) in batch.iter().zip(&ids) {
            let Some(sample) = Sample::check(ty, obs) else {
                report.rejected += 1;
                continue;
            };
            let block = &mut self.series[id * n..(id + 1) * n];
            for (i, ((spec, w), series)) in intervals.iter().zip(&windows).zip(block).enumerate() {
                if obs.timestamp < w.min_ts {
                    series.dropped += 1;
                    report.dropped[i] += 1;
                    continue;
                }
                series.add(ty, spec, *w, obs.timestamp, &sample);
            }
        }
        self.scratch = ids;
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
        let (i, spec) = self.schema.lookup(interval)?;
        let w = Window::of(spec, self.now);
        let Some(series) = self.find(name, i) else { return Ok(Vec::new()) };
        let (first, last) = (spec.bucket_of(clamp_ts(start)), spec.bucket_of(clamp_ts(end)));
        if last < first {
            return Ok(Vec::new());
        }
        let cells = series.range(w, spec.first_cell(first), spec.first_cell(last + 1));
        Ok(group_cells(spec, cells.map(|c| (c.id, c.value.clone()))))
    }

    fn names(&mut self) -> Result<Vec<String>, StoreError> {
        let windows = self.windows();
        let n = windows.len();
        let mut names = Vec::new();
        for (name, block) in self.names.iter().zip(self.series.chunks(n)) {
            let live =
                |(s, w): (&Series, &Window)| s.cells.back().is_some_and(|c| c.id >= w.min_cell);
            if block.iter().zip(&windows).any(live) {
                names.push(name.to_string());
            }
        }
        names.sort_unstable();
        Ok(names)
    }

    fn properties(&mut self, name: &str) -> Result<Vec<Extent>, StoreError> {
        check_name(name)?;
        let mut out = Vec::new();
        for (i, spec) in self.schema.intervals().iter().enumerate() {
            let Some(series) = self.find(name, i) else { break };
            let mut live = series.range(Window::of(spec, self.now), i64::MIN, i64::MAX);
            let Some(first) = live.next() else { continue };
            let last = series.cells.back().unwrap_or(first);
            let start = |cell: &Cell| spec.bucket_start(spec.bucket_of_cell(cell.id));
            out.push(Extent {
                interval: spec.name().to_owned(),
                first: start(first),
                last: start(last),
            });
        }
        Ok(out)
    }

    fn delete(&mut self, name: &str) -> Result<bool, StoreError> {
        check_name(name)?;
        let Some(id) = self.ids.remove(name) else { return Ok(false) };
        // Move the last metric into the hole.
        let n = self.schema.intervals().len();
        let last = self.names.len() - 1;
        for i in 0..n {
            self.series.swap(id * n + i, last * n + i);
        }
        self.series.truncate(last * n);
        self.names.swap_remove(id);
        if let Some(moved) = self.names.get(id) {
            self.ids.insert(moved.clone(), id);
        }
        Ok(true)
    }

    fn drop_counts(&self) -> Vec<DropCount> {
        let n = self.schema.intervals().len();
        let mut out = Vec::new();
        for (name, block) in self.names.iter().zip(self.series.chunks(n)) {
            for (spec, series) in self.schema.intervals().iter().zip(block) {
                if series.dropped > 0 {
                    out.push(DropCount {
                        name: name.to_string(),
                        interval: spec.name().to_owned(),
                        dropped: series.dropped,
                    });
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bucket::Value;
    use crate::interval::Step;
    use crate::schema::MetricType;

    fn schema(ty: MetricType) -> Schema {
        let minute = IntervalSpec::new("minute", Step::Seconds(60), Some(3), None).unwrap();
        let hour = IntervalSpec::new("hour", Step::Seconds(3600), None, Some(600)).unwrap();
        Schema::new(ty, vec![minute, hour]).unwrap()
    }

    #[test]
    fn fan_out_drop_and_evict() {
        let mut store = EmbeddedStore::in_memory(schema(MetricType::Count));
        let now = 10 * 60;
        let batch = [
            Observation::new("logins", 10 * 60 + 5, 1.0),
            Observation::new("logins", 8 * 60, 2.0), // 2 minutes old: kept
            Observation::new("logins", 8 * 60 - 1, 4.0), // 3 minutes old: dropped there
            Observation::new("logins", 10 * 60, "x"), // a text for a count: rejected
        ];
        let report = store.insert_batch(&batch, now).unwrap();
        assert_eq!(report, WriteReport { observations: 4, rejected: 1, dropped: vec![1, 0] });
        let minute = store.series("logins", "minute", 0, 3600).unwrap();
        let starts: Vec<(i64, Bucket)> = minute.into_iter().map(|p| (p.start, p.value)).collect();
        assert_eq!(starts, vec![(480, Bucket::Count(2.0)), (600, Bucket::Count(1.0))]);
        let hour = store.series_fine("logins", "hour", 0, 0).unwrap();
        assert_eq!(hour.len(), 1);
        let parts: Vec<i64> = hour[0].parts.iter().map(|p| p.start).collect();
        assert_eq!(parts, vec![0, 600]); // sub-buckets 0 (480, 479 s) and 1 (600, 605 s)
        assert_eq!(hour[0].clone().condensed().unwrap().value, Bucket::Count(7.0));

        // Three minutes later the minute buckets 8 and 10 age out (12 is the oldest kept).
        store.insert("logins", 14 * 60, Value::Num(1.0), 14 * 60).unwrap();
        let minute = store.series("logins", "minute", 0, 3600).unwrap();
        assert_eq!(minute.iter().map(|p| p.start).collect::<Vec<_>>(), vec![840]);
        let kept: Vec<i64> = store.series[0].cells.iter().map(|c| c.id).collect();
        assert_eq!(kept, vec![14], "evicted, not just hidden");
        let extents = store.properties("logins").unwrap();
        assert_eq!(extents[0], Extent { interval: "minute".into(), first: 840, last: 840 });
        assert_eq!(extents[1], Extent { interval: "hour".into(), first: 0, last: 0 });
        let drops = store.drop_counts();
        assert_eq!(
            drops,
            vec![DropCount { name: "logins".into(), interval: "minute".into(), dropped: 1 }]
        );
    }

    #[test]
    fn bad_names_fail_the_batch_before_any_write() {
        let mut store = EmbeddedStore::in_memory(schema(MetricType::Count));
        let batch = [Observation::new("ok", 0, 1.0), Observation::new("host:1", 0, 1.0)];
        assert!(matches!(store.insert_batch(&batch, 0), Err(StoreError::Name(_))));
        assert!(store.names().unwrap().is_empty());
    }

    #[test]
    fn names_and_delete() {
        let mut store = EmbeddedStore::in_memory(schema(MetricType::Gauge));
        for name in ["b", "a", "c"] {
            store.insert(name, 60, Value::Num(1.0), 60).unwrap();
        }
        assert_eq!(store.names().unwrap(), ["a", "b", "c"]);
        assert!(store.delete("b").unwrap());
        assert!(!store.delete("b").unwrap());
        assert_eq!(store.names().unwrap(), ["a", "c"]);
        assert_eq!(store.series("c", "minute", 0, 60).unwrap().len(), 1);
        let unknown = store.series("c", "day", 0, 60).unwrap_err();
        assert_eq!(unknown.to_string(), "unknown interval \"day\" (the schema has minute, hour)");
    }

    #[test]
    fn gauge_keeps_last_written_and_condenses_to_latest_sub_bucket() {
        let mut store = EmbeddedStore::in_memory(schema(MetricType::Gauge));
        let batch = [
            Observation::new("q", 700, 5.0), // sub-bucket 1
            Observation::new("q", 100, 9.0), // sub-bucket 0, written later
            Observation::new("q", 110, 3.0),
        ];
        store.insert_batch(&batch, 120).unwrap();
        let minute = store.series("q", "minute", 100, 100).unwrap();
        assert_eq!(minute[0].value, Bucket::Gauge(3.0));
        let hour = store.series("q", "hour", 0, 0).unwrap();
        assert_eq!(hour[0].value, Bucket::Gauge(5.0));
    }
}
