//! The whole analysis on our own synthetic office log (`crest_testing::flows`): the planted
//! threats rank first, and batching (the two-thread path) changes nothing.

use std::net::IpAddr;

use crest_flows::analysis::{Analysis, AnalysisConfig};
use crest_flows::flow::Flow;
use crest_flows::read::{Format, ReadOptions, read_flows};
use crest_flows::trust::Verdict;
use crest_testing::flows::{FlowLogSpec, Planted, zeek_conn_log};

fn flows(spec: &FlowLogSpec) -> Vec<Flow> {
    let mut log = Vec::new();
    zeek_conn_log(spec, &mut log).unwrap();
    let mut flows = Vec::new();
    read_flows(&log[..], "conn.log", Format::Zeek, &ReadOptions::default(), &mut |f| flows.push(f))
        .unwrap();
    flows
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn batches_give_the_same_report_as_flow_by_flow() {
    let flows =
        flows(&FlowLogSpec { hosts: 12, conns_per_host_hour: 20, ..FlowLogSpec::default() });
    let mut one = Analysis::new(AnalysisConfig::default()).unwrap();
    for f in &flows {
        one.observe(f);
    }
    let one = one.finish();
    for size in [1, 7, 4096] {
        let mut batched = Analysis::new(AnalysisConfig::default()).unwrap();
        for chunk in flows.chunks(size) {
            batched.observe_batch(chunk);
        }
        let batched = batched.finish();
        assert_eq!(batched.report, one.report, "batches of {size}");
        assert_eq!(batched.flows, one.flows);
    }
}

#[test]
fn planted_threats_rank_first() {
    let flows = flows(&FlowLogSpec::default());
    let mut config = AnalysisConfig::default();
    config.blacklist.insert(crest_flows::net::parse_entry(Planted::BLACKLISTED_DST).unwrap());
    let mut a = Analysis::new(config).unwrap();
    a.observe_batch(&flows);
    let outcome = a.finish();
    let malicious: Vec<IpAddr> = outcome
        .report
        .hosts
        .iter()
        .filter(|h| h.verdict == Verdict::Malicious)
        .map(|h| h.host)
        .collect();
    let mut want = vec![
        ip(Planted::BEACON_SRC),
        ip(Planted::SCANNER),
        ip(Planted::VSCANNER),
        ip(Planted::LONG_SRC),
        ip(Planted::BLACKLISTED_SRC),
    ];
    want.sort();
    let mut got = malicious.clone();
    got.sort();
    assert_eq!(got, want);
    // The update server every host polls hourly is a perfect beacon, but a common one.
    let updaters = outcome.report.hosts.iter().filter(|h| {
        outcome
            .report
            .evidence
            .iter()
            .any(|e| e.host == h.host && e.peer == Some(ip(Planted::UPDATES)))
    });
    assert!(updaters.clone().count() >= 10);
    assert!(updaters.clone().all(|h| h.verdict == Verdict::Benign || malicious.contains(&h.host)));
}
