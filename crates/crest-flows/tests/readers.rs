//! The readers on the real flow logs in `../shared/data/flows` (see its README for the
//! expected content): row counts, labels, and the scans and beacons the files are known for.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crest_flows::flow::{ConnState, Flow, Label, Proto};
use crest_flows::read::{Format, ReadOptions, ReadStats, read_flows, sniff};

fn flows_dir(test: &str) -> Option<PathBuf> {
    crest_testing::shared_dir(test).map(|s| s.join("data/flows"))
}

fn open(path: &Path) -> Box<dyn BufRead> {
    let file = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if path.extension().is_some_and(|e| e == "gz") {
        Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(file)))
    } else {
        Box::new(BufReader::new(file))
    }
}

/// Reads a file strictly, checking that `sniff` recognises it as `format` first.
fn read(path: &Path, format: Format) -> (ReadStats, Vec<Flow>) {
    let mut head = vec![0; 4096];
    let n = open(path).read(&mut head).unwrap();
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(sniff(&name, &head[..n]), Some(format), "sniffing {name}");
    let mut flows = Vec::new();
    let stats =
        read_flows(open(path), &name, format, &ReadOptions::default(), &mut |f| flows.push(f))
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stats.rows, flows.len() as u64);
    assert_eq!((stats.skipped, &stats.first_skipped), (0, &None));
    (stats, flows)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Distinct destinations of `src` on `port`/`proto`.
fn targets(flows: &[Flow], src: &str, port: u16, proto: Proto) -> usize {
    let src = ip(src);
    flows
        .iter()
        .filter(|f| f.src == src && f.dst_port == port && f.proto == proto)
        .map(|f| f.dst)
        .collect::<BTreeSet<_>>()
        .len()
}

/// Distinct destination ports from `src` to `dst`.
fn ports(flows: &[Flow], src: &str, dst: &str) -> usize {
    let (src, dst) = (ip(src), ip(dst));
    flows
        .iter()
        .filter(|f| f.src == src && f.dst == dst)
        .map(|f| f.dst_port)
        .collect::<BTreeSet<_>>()
        .len()
}

fn labels(flows: &[Flow]) -> BTreeMap<Label, usize> {
    let mut m = BTreeMap::new();
    for f in flows {
        *m.entry(f.label).or_insert(0) += 1;
    }
    m
}

#[test]
fn zeek_tsv_horizontal_scan() {
    let Some(dir) = flows_dir("zeek_tsv_horizontal_scan") else { return };
    let (_, flows) = read(&dir.join("slips/dataset/port-scans/horizontal/conn.log"), Format::Zeek);
    assert_eq!(flows.len(), 41);
    let scanner = ip("10.0.2.112");
    assert!(flows.iter().all(|f| f.src == scanner));
    assert_eq!(flows[0].ts, 928.943457);
    assert_eq!((flows[0].dst, flows[0].dst_port), (ip("195.113.214.219"), 80));
    assert_eq!(targets(&flows, "10.0.2.112", 80, Proto::Tcp), 25);
}

#[test]
fn zeek_json_vertical_scan() {
    let Some(dir) = flows_dir("zeek_json_vertical_scan") else { return };
    let (_, flows) = read(&dir.join("slips/dataset/port-scans/vertical/conn.log"), Format::Zeek);
    assert_eq!(flows.len(), 50);
    assert_eq!(ports(&flows, "192.168.1.9", "45.33.32.156"), 44);
    let rej =
        flows.iter().filter(|f| f.dst == ip("45.33.32.156") && f.state == ConnState::Rej).count();
    assert_eq!(rej, 43);
    assert_eq!(flows[0].ts, 1700828217.314165);
}

#[test]
fn zeek_json_mixed() {
    let Some(dir) = flows_dir("zeek_json_mixed") else { return };
    let (_, flows) = read(&dir.join("slips/dataset/test9-mixed-zeek-dir/conn.log"), Format::Zeek);
    assert_eq!(flows.len(), 576);
    // Slips expects a non-HTTP established connection to port 80 of 194.132.197.198.
    assert!(
        flows
            .iter()
            .any(|f| f.dst == ip("194.132.197.198") && f.dst_port == 80 && f.state.established())
    );
}

#[test]
fn zeek_tsv_indented_header_ipv6() {
    let Some(dir) = flows_dir("zeek_tsv_indented_header_ipv6") else { return };
    let (_, flows) = read(&dir.join("slips/dataset/test10-mixed-zeek-dir/conn.log"), Format::Zeek);
    assert_eq!(flows.len(), 141);
    let v6 = flows.iter().filter(|f| f.src.is_ipv6()).count();
    assert!(v6 > 0 && v6 < 141, "{v6} IPv6 flows");
    assert_eq!(flows[0].src, ip("2001:718:2:1663:dc58:6d9:ef13:51a5"));
}

#[test]
fn zeek_tsv_labelled_ctu_sme_11() {
    let Some(dir) = flows_dir("zeek_tsv_labelled_ctu_sme_11") else { return };
    let path =
        dir.join("slips/dataset/test18-malicious-ctu-sme-11-win/zeek-labeled/conn.log.labeled");
    let (_, flows) = read(&path, Format::Zeek);
    assert_eq!(flows.len(), 766);
    let by_label = labels(&flows);
    assert_eq!(by_label.get(&Label::Malicious), Some(&719));
    assert_eq!(by_label.get(&Label::Benign), Some(&44));
    assert_eq!(by_label.get(&Label::Unknown), Some(&3));
    // The RemcosRAT exfiltration: every malicious flow goes to 66.63.168.35 and fails (718
    // rejected, one unanswered: the README's "all REJ" is one short).
    let c2 = ip("66.63.168.35");
    let malicious: Vec<&Flow> = flows.iter().filter(|f| f.label == Label::Malicious).collect();
    assert!(malicious.iter().all(|f| f.dst == c2 && f.state.failed()));
    assert_eq!(malicious.iter().filter(|f| f.state == ConnState::Rej).count(), 718);
}

#[test]
fn argus_binetflows() {
    let Some(dir) = flows_dir("argus_binetflows") else { return };
    let d = dir.join("slips/dataset");

    let (stats, flows) = read(&d.join("test2-malicious.binetflow"), Format::Argus);
    assert_eq!((stats.rows, stats.other_events), (6751, 0));
    assert_eq!(targets(&flows, "10.8.0.69", 443, Proto::Tcp), 434);
    assert!(flows.iter().all(|f| f.src_pkts.is_some() && f.label == Label::None));
    assert!(flows.iter().any(|f| f.duration.is_some_and(|d| d > 1500.0)), "a long connection");

    let (stats, flows) = read(&d.join("test3-mixed.binetflow"), Format::Argus);
    assert_eq!(stats.rows, 89);
    assert_eq!(targets(&flows, "46.166.151.160", 3389, Proto::Tcp), 28);

    // Two of the 394 records are ARP, not IP flows.
    let (stats, flows) = read(&d.join("test4-malicious.binetflow"), Format::Argus);
    assert_eq!((stats.rows, stats.other_events), (392, 2));
    assert_eq!(targets(&flows, "192.168.2.12", 81, Proto::Tcp), 64);
    assert!(flows.iter().all(|f| f.src_pkts.is_none()), "no SrcPkts column");

    // Tab-separated; an Argus management record, an LLC and two ARP records are not IP flows.
    let (stats, flows) = read(&d.join("test5-mixed.binetflow"), Format::Argus);
    assert_eq!((stats.rows, stats.other_events), (296, 4));
    let by_label = labels(&flows);
    assert_eq!(by_label.get(&Label::Malicious), Some(&(197 + 80)));
    // 21 Background records, of which two are ARP and one LLC; one label has no verdict.
    assert_eq!(by_label.get(&Label::Benign), Some(&18));
    assert_eq!(by_label.get(&Label::Unknown), Some(&1));
    assert!(flows.iter().any(|f| f.duration.is_some_and(|d| d > 1500.0)), "a long connection");

    // ICMP "ports" in hexadecimal.
    let (stats, flows) = read(&d.join("test11-portscan.binetflow"), Format::Argus);
    assert_eq!(stats.rows, 66);
    let icmp: BTreeSet<IpAddr> = flows
        .iter()
        .filter(|f| f.proto == Proto::Icmp && f.src == ip("10.8.0.69"))
        .map(|f| f.dst)
        .collect();
    assert_eq!(icmp.len(), 21);
    assert!(flows.iter().any(|f| f.proto == Proto::Icmp && f.dst_port == 0x7208));
}

#[test]
fn suricata_eve() {
    let Some(dir) = flows_dir("suricata_eve") else { return };
    let (stats, flows) =
        read(&dir.join("slips/dataset/test6-malicious.suricata.json"), Format::Suricata);
    assert_eq!((stats.rows, stats.other_events), (3512, 5000 - 3512));
    // The inbound vertical scan.
    assert_eq!(ports(&flows, "193.46.255.92", "192.168.1.129"), 482);
    let scan: Vec<&Flow> = flows.iter().filter(|f| f.src == ip("193.46.255.92")).collect();
    assert!(scan.iter().filter(|f| !f.state.established()).count() * 10 > scan.len() * 9);
    assert!(flows.iter().all(|f| f.duration.is_some() && f.ts > 1.6e9));
}

#[test]
fn rita_missing_host_three_days() {
    let Some(dir) = flows_dir("rita_missing_host_three_days") else { return };
    let dir = dir.join("rita-missing-host");
    let mut days: Vec<PathBuf> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    days.sort();
    assert_eq!(days.len(), 3);
    let (mut conn, mut open_conn) = (Vec::new(), Vec::new());
    for day in &days {
        let mut files: Vec<PathBuf> =
            std::fs::read_dir(day).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        for file in files {
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            let (_, mut flows) = read(&file, Format::Zeek);
            if name.starts_with("open_conn") {
                flows.iter_mut().for_each(|f| f.open = true);
                open_conn.extend(flows);
            } else {
                conn.extend(flows);
            }
        }
    }
    // The README's 105,918 rows are the conn logs'; the open_conn logs hold 72 more.
    assert_eq!((conn.len(), open_conn.len()), (105_918, 72));
    // The beacon: 73.54.23.243 → 64.225.56.201 over HTTP every 200–350 s.
    let beacon: Vec<f64> = conn
        .iter()
        .filter(|f| f.src == ip("73.54.23.243") && f.dst == ip("64.225.56.201") && f.dst_port == 80)
        .map(|f| f.ts)
        .collect();
    assert!(beacon.len() > 600, "{} beacon connections", beacon.len());
    // The SSH session open for all three days.
    let ssh: Vec<&Flow> =
        open_conn.iter().filter(|f| f.dst_port == 22 && f.src == ip("73.54.23.243")).collect();
    assert!(!ssh.is_empty());
    assert!(ssh.iter().any(|f| f.duration.is_some_and(|d| d > 2.0 * 86_400.0)));
}

#[test]
fn nfdump_is_not_netflow() {
    let Some(dir) = flows_dir("nfdump_is_not_netflow") else { return };
    let path = dir.join("slips/dataset/test1-malicious.nfdump");
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(sniff("test1-malicious.nfdump", &bytes[..4096]), None);
    let err = read_flows(
        &bytes[..],
        "test1-malicious.nfdump",
        Format::NetFlow,
        &ReadOptions::default(),
        &mut |_| {},
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "test1-malicious.nfdump: packet 0 at byte 0: not a NetFlow v5/v7/v9 or IPFIX packet (version 3237)"
    );
}
