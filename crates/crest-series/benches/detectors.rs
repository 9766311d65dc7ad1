//! Throughput of the streaming detectors: Graphite's Holt-Winters and the ensemble, each over
//! 10 million points of a daily-seasonal series at 60 s (season 1440 points).
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::hint::black_box;

use crest_series::detect::{AnyDetector, Detector, Method, MethodParams};
use crest_series::graphite::HoltWinters;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const POINTS: usize = 10_000_000;
const STEP: i64 = 60;

/// A daily sine with deterministic noise and a missing value now and then.
fn series(n: usize) -> Vec<Option<f64>> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    (0..n)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            if state.is_multiple_of(1000) {
                return None;
            }
            let noise = (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
            let phase = (i % 1440) as f64 / 1440.0 * std::f64::consts::TAU;
            Some(100.0 + 30.0 * phase.sin() + 4.0 * noise)
        })
        .collect()
}

fn detectors(c: &mut Criterion) {
    let values = series(POINTS);
    let mut group = c.benchmark_group("detectors");
    group.sample_size(10);
    group.throughput(Throughput::Elements(POINTS as u64));
    group.bench_function("graphite_holt_winters_push_10M", |b| {
        b.iter(|| {
            let mut hw = HoltWinters::new(1440);
            let mut acc = 0.0;
            for v in &values {
                let p = hw.push(*v);
                acc += p.deviation;
            }
            black_box(acc)
        })
    });
    for method in [Method::Hw, Method::Ensemble] {
        group.bench_function(format!("{method}_detector_10M"), |b| {
            b.iter(|| {
                let mut d = AnyDetector::new(method, &MethodParams::default(), STEP).unwrap();
                let mut acc = 0.0;
                for (i, v) in values.iter().enumerate() {
                    acc += d.push(i as i64 * STEP, *v).score;
                }
                black_box(acc)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, detectors);
criterion_main!(benches);
