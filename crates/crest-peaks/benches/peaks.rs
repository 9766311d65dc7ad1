//! The peak detector's hot path: accumulating records into tables, then detecting.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use crest_core::time::{LocalClock, WallTime};
use crest_peaks::{GlobalTable, PeakConfig, PeakPlan, Preset, Tallies, Window, detect};
use crest_sources::{ReadOptions, read_slice};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn window(start: &str, end: &str) -> Window {
    Window { start: WallTime::parse_cli(start).unwrap(), end: WallTime::parse_cli(end).unwrap() }
}

/// Reads `data` once through the plan's accumulator.
fn tally(data: &[u8], plan: &PeakPlan) -> Tallies {
    let readout =
        read_slice(data, "bench", &plan.projection(), &ReadOptions::default(), plan.accumulator())
            .unwrap();
    readout.parts.into_iter().next().unwrap().finish()
}

fn peaks(c: &mut Criterion) {
    let data = crest_testing::sandbox_telemetry(20_000, 7, 2_000, 42);
    let config = PeakConfig::preset(Preset::File);
    let mut group = c.benchmark_group("peaks");
    group.throughput(Throughput::Bytes(data.len() as u64));

    // The whole week in the window: every record is counted.
    let all_week =
        PeakPlan::new(config.clone(), window("2020-11-01", "2020-11-08"), LocalClock::utc());
    group.bench_function("scan_and_count_week", |b| {
        b.iter(|| tally(&data, &all_week).local.entries.len())
    });

    // One day in the window plus the baseline week counted per day (no table yet).
    let baseline =
        PeakPlan::new(config.clone(), window("2020-11-04", "2020-11-05"), LocalClock::utc())
            .with_baseline(WallTime::parse_cli("2020-11-04").unwrap());
    group.bench_function("scan_and_count_day_with_baseline", |b| {
        b.iter(|| tally(&data, &baseline).baseline_days.len())
    });
    group.finish();

    // Detection and refresh against a baseline built from the same data.
    let tallies = tally(&data, &baseline);
    let global = GlobalTable::from_baseline(
        &tallies.baseline_days,
        WallTime::parse_cli("2020-11-04").unwrap(),
        2,
        &config.floors,
    )
    .unwrap();
    c.bench_function("detect_and_refresh", |b| {
        b.iter(|| {
            let found = detect(&tallies.local, &global, None);
            let mut g = global.clone();
            g.refresh(&tallies.local, window("2020-11-04", "2020-11-05"), &config.floors).unwrap();
            (found.len(), g.to_json().len())
        })
    });
}

criterion_group!(benches, peaks);
criterion_main!(benches);
