//! Detector throughput in flows per second on one core: the synthetic office log of
//! `crest_testing::flows` (12 hours, 240 hosts, 500 connections per host and busy hour, about
//! 0.8 million flows), parsed once, then fed to each detector in turn.
//! Run: `cargo bench -p crest-flows --bench detectors`.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use crest_flows::detect::Detector;
use crest_flows::evidence::Evidence;
use crest_flows::flow::Flow;
use crest_flows::net::PrefixSet;
use crest_flows::read::{Format, ReadOptions, read_flows};
use crest_flows::scan::{ScanConfig, ScanDetector, Trw, TrwConfig};
use crest_flows::seed::{Seed, SeedConfig};
use crest_testing::flows::{FlowLogSpec, zeek_conn_log};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn flows() -> Vec<Flow> {
    let spec =
        FlowLogSpec { hosts: 240, hours: 12, conns_per_host_hour: 500, ..FlowLogSpec::default() };
    let mut log = Vec::new();
    zeek_conn_log(&spec, &mut log).unwrap();
    let mut flows = Vec::new();
    read_flows(&log[..], "bench", Format::Zeek, &ReadOptions::default(), &mut |f| flows.push(f))
        .unwrap();
    flows
}

/// Feeds every flow to a fresh detector, returning how much evidence it gave.
fn run(mut det: impl Detector, flows: &[Flow]) -> usize {
    let mut out: Vec<Evidence> = Vec::new();
    for f in flows {
        det.observe(f, &mut out);
    }
    det.finish(&mut out);
    out.len()
}

fn detectors(c: &mut Criterion) {
    let flows = flows();
    println!("detectors: {} flows", flows.len());
    let mut group = c.benchmark_group("detectors");
    group.sample_size(10);
    group.throughput(Throughput::Elements(flows.len() as u64));
    group.bench_function("seed", |b| {
        b.iter(|| run(Seed::new(SeedConfig::default()).unwrap(), &flows))
    });
    group.bench_function("scan_slips", |b| {
        b.iter(|| run(ScanDetector::new(ScanConfig::slips()).unwrap(), &flows))
    });
    group.bench_function("scan_zeek", |b| {
        b.iter(|| run(ScanDetector::new(ScanConfig::zeek()).unwrap(), &flows))
    });
    group
        .bench_function("trw", |b| b.iter(|| run(Trw::new(TrwConfig::default()).unwrap(), &flows)));
    group.bench_function("trw_internal", |b| {
        b.iter(|| {
            let cfg =
                TrwConfig { internal: Some(PrefixSet::default_internal()), ..TrwConfig::default() };
            run(Trw::new(cfg).unwrap(), &flows)
        })
    });
    group.finish();
}

criterion_group!(benches, detectors);
criterion_main!(benches);
