//! Scanner throughput: projecting the peak analyzer's fields out of full 27-field records.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use crest_core::record::{Record, RecordError, RecordSink};
use crest_core::value::Projection;
use crest_sources::{ReadOptions, read_slice};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// Counts records and touches every projected value, as a detector would.
#[derive(Default)]
struct Touch(u64);

impl RecordSink for Touch {
    fn accept(&mut self, record: &Record<'_, '_>) -> Result<(), RecordError> {
        self.0 += record.slots.iter().flatten().map(|v| v.raw().len() as u64).sum::<u64>();
        Ok(())
    }
}

fn scan(c: &mut Criterion) {
    let data = crest_testing::sandbox_telemetry(20_000, 7, 500, 42);
    let fields = Projection::new([
        "utc_timestamp",
        "file.sha1",
        "task.severity",
        "file.llfile_type",
        "source.user_id",
        "source.origin",
    ]);
    let mut group = c.benchmark_group("scan");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.bench_function("sandbox_telemetry_20k_full_records", |b| {
        b.iter(|| {
            read_slice(&data, "bench", &fields, &ReadOptions::default(), Touch::default())
                .unwrap()
                .records
        })
    });
    let lines: Vec<u8> = String::from_utf8(data.clone())
        .unwrap()
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| l.trim_end_matches(',').to_string() + "\n")
        .collect::<String>()
        .into_bytes();
    group.throughput(Throughput::Bytes(lines.len() as u64));
    group.bench_function("sandbox_telemetry_20k_json_lines", |b| {
        b.iter(|| {
            read_slice(&lines, "bench", &fields, &ReadOptions::default(), Touch::default())
                .unwrap()
                .records
        })
    });
    group.finish();
}

criterion_group!(benches, scan);
criterion_main!(benches);
