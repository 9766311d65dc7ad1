//! The trust aggregator on labelled captures: how the per-host score ranks the hosts that send
//! malicious traffic, and which flows its evidence covers, against the hand-made labels of
//! CTU-SME-11 (Slips' `test18`) and the Stratosphere labels of Slips' `test5` Argus capture.
//!
//! Host labels: a host is malicious if it originates at least one flow labelled malicious.
//! A flow is *flagged* if it is covered (see [`crest_flows::analysis::covers`]) by evidence
//! that counted (weight > 0) against a host whose verdict is suspicious or malicious.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::BufReader;
use std::net::IpAddr;
use std::path::Path;

use crest_flows::analysis::{Analysis, AnalysisConfig, Outcome, covers};
use crest_flows::flow::{Flow, Label};
use crest_flows::read::{Format, ReadOptions, read_flows};
use crest_flows::trust::Verdict;

fn read(path: &Path, format: Format) -> Vec<Flow> {
    let file = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut flows = Vec::new();
    let name = path.display().to_string();
    read_flows(BufReader::new(file), &name, format, &ReadOptions::default(), &mut |f| {
        flows.push(f)
    })
    .unwrap_or_else(|e| panic!("{e}"));
    flows
}

fn analyse(flows: &[Flow]) -> Outcome {
    let mut a = Analysis::new(AnalysisConfig::default()).unwrap();
    for f in flows {
        a.observe(f);
    }
    a.finish()
}

/// Figures of one labelled capture.
#[derive(Debug)]
struct Eval {
    malicious_hosts: BTreeSet<IpAddr>,
    ranked: Vec<(IpAddr, f64, Verdict)>,
    precision_at_5: f64,
    precision_at_10: f64,
    flow_recall: f64,
    flow_fpr: f64,
}

fn precision_at(ranked: &[(IpAddr, f64, Verdict)], bad: &BTreeSet<IpAddr>, k: usize) -> f64 {
    let top: Vec<_> = ranked.iter().filter(|h| h.2 != Verdict::Benign).take(k).collect();
    if top.is_empty() {
        return 0.0;
    }
    top.iter().filter(|h| bad.contains(&h.0)).count() as f64 / top.len() as f64
}

fn evaluate(flows: &[Flow]) -> Eval {
    let outcome = analyse(flows);
    let report = &outcome.report;
    let malicious_hosts: BTreeSet<IpAddr> =
        flows.iter().filter(|f| f.label == Label::Malicious).map(|f| f.src).collect();
    let ranked: Vec<(IpAddr, f64, Verdict)> =
        report.hosts.iter().map(|h| (h.host, h.score, h.verdict)).collect();
    let flagged_hosts: BTreeSet<IpAddr> =
        report.hosts.iter().filter(|h| h.verdict != Verdict::Benign).map(|h| h.host).collect();
    let counted: Vec<usize> = (0..report.evidence.len())
        .filter(|&i| report.weights[i] > 0.0 && flagged_hosts.contains(&report.evidence[i].host))
        .collect();
    let (mut tp, mut pos, mut fp, mut neg) = (0u64, 0u64, 0u64, 0u64);
    for f in flows {
        let flagged = counted.iter().any(|&i| covers(&report.evidence[i], f));
        match f.label {
            Label::Malicious => {
                pos += 1;
                tp += flagged as u64;
            }
            Label::Benign => {
                neg += 1;
                fp += flagged as u64;
            }
            _ => {}
        }
    }
    Eval {
        precision_at_5: precision_at(&ranked, &malicious_hosts, 5),
        precision_at_10: precision_at(&ranked, &malicious_hosts, 10),
        flow_recall: tp as f64 / pos.max(1) as f64,
        flow_fpr: fp as f64 / neg.max(1) as f64,
        malicious_hosts,
        ranked,
    }
}

#[test]
fn ctu_sme_11_ranks_the_remcos_host_first() {
    let Some(shared) = crest_testing::shared_dir("ctu_sme_11_ranks_the_remcos_host_first") else {
        return;
    };
    let path = shared.join(
        "data/flows/slips/dataset/test18-malicious-ctu-sme-11-win/zeek-labeled/conn.log.labeled",
    );
    let flows = read(&path, Format::Zeek);
    assert_eq!(flows.len(), 766);
    let eval = evaluate(&flows);
    eprintln!("ctu-sme-11: {eval:#?}");
    let infected: IpAddr = "192.168.1.107".parse().unwrap();
    assert_eq!(eval.malicious_hosts, BTreeSet::from([infected]));
    assert_eq!(eval.ranked[0].0, infected, "{:?}", eval.ranked);
    assert_eq!(eval.ranked[0].2, Verdict::Malicious);
    assert_eq!(eval.precision_at_5, 1.0);
    assert_eq!(eval.precision_at_10, 1.0);
    assert!(eval.flow_recall >= 0.99, "{}", eval.flow_recall);
    assert!(eval.flow_fpr <= 0.05, "{}", eval.flow_fpr);
}

#[test]
fn test5_argus_capture() {
    let Some(shared) = crest_testing::shared_dir("test5_argus_capture") else {
        return;
    };
    let path = shared.join("data/flows/slips/dataset/test5-mixed.binetflow");
    let flows = read(&path, Format::Argus);
    let eval = evaluate(&flows);
    eprintln!("test5: {eval:#?}");
    assert!(!eval.malicious_hosts.is_empty());
}
