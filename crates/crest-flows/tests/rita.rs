//! RITA's detectors on RITA's own integration-test data (`../shared/data/flows/rita-missing-host`,
//! three days of hourly Zeek `conn`/`open_conn` logs): the planted HTTP beacon
//! 73.54.23.243 → 64.225.56.201 must score RITA's 0.963 on RITA's 331 connections, and the SSH
//! session that stays open for the three days must be the top long connection.
//!
//! RITA's test imports the data with 64.225.56.201 (the sensor's own address) added to the
//! internal subnets and `filter_external_to_internal` off; so does this one.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::path::Path;

use crest_flows::detect::Detector;
use crest_flows::evidence::{Evidence, Kind, ThreatLevel};
use crest_flows::flow::Proto;
use crest_flows::net::PrefixSet;
use crest_flows::read::{Format, ReadOptions, read_flows};
use crest_flows::rita::{Rita, RitaConfig};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn open(path: &Path) -> Box<dyn BufRead> {
    let file = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(file)))
}

/// Feeds every `conn.*.log.gz` and `open_conn.*.log.gz` of the day folders, in name order, to
/// the detectors; returns how many flows were read.
fn feed(root: &Path, detectors: &mut [&mut Rita], out: &mut Vec<Evidence>) -> u64 {
    let mut days: Vec<_> = std::fs::read_dir(root).unwrap().map(|e| e.unwrap().path()).collect();
    days.sort();
    let mut rows = 0;
    for day in days.iter().filter(|d| d.is_dir()) {
        let mut files: Vec<_> =
            std::fs::read_dir(day).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        for path in files {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let is_open = name.starts_with("open_conn.");
            if !(is_open || name.starts_with("conn.")) || !name.ends_with(".log.gz") {
                continue;
            }
            let stats = read_flows(
                open(&path),
                &name,
                Format::Zeek,
                &ReadOptions::default(),
                &mut |mut f| {
                    f.open = is_open;
                    for d in detectors.iter_mut() {
                        d.observe(&f, out);
                    }
                },
            )
            .unwrap_or_else(|e| panic!("{e}"));
            rows += stats.rows;
        }
    }
    for d in detectors.iter_mut() {
        d.finish(out);
    }
    rows
}

#[test]
fn missing_host_beacon_and_ssh_session() {
    let Some(shared) = crest_testing::shared_dir("rita missing-host") else { return };
    let root = shared.join("data/flows/rita-missing-host");
    // RITA's default_config.hjson internal subnets (PrefixSet::default_internal adds loopback
    // and link-local, which would make fe80:: hosts internal and change the prevalence).
    let mut cfg = RitaConfig::default();
    cfg.filter.internal = PrefixSet::new();
    cfg.filter
        .internal
        .extend_from_list(
            "10.0.0.0/8\n172.16.0.0/12\n192.168.0.0/16\nfd00::/8\n64.225.56.201/32",
            "rita",
        )
        .unwrap();
    cfg.filter.filter_external_to_internal = false;
    let mut rita = Rita::new(cfg.clone()).unwrap();
    let mut rolling = Rita::new(RitaConfig {
        modifiers: crest_flows::rita::Modifiers { first_seen: true, ..cfg.modifiers.clone() },
        ..cfg
    })
    .unwrap();
    let mut defaults = Rita::new(RitaConfig::default()).unwrap();
    let mut out = Vec::new();
    let rows = feed(&root, &mut [&mut rita, &mut rolling, &mut defaults], &mut out);
    assert_eq!(rows, 105_990, "105,918 conn rows + 72 open_conn rows");

    let (src, dst) = (ip("73.54.23.243"), ip("64.225.56.201"));
    let report = rita.last_report().unwrap();
    // RITA's GetBeaconMinMaxTimestamps in its test: 1713657591 .. 1713743991.
    let w = report.window.unwrap();
    assert_eq!((w.min, w.max, w.start), (1713657591, 1713743991, 1713654000));

    let b = report.beacons.iter().find(|b| b.src == src && b.dst == dst).expect("the beacon");
    eprintln!("beacon: {b:?}");
    assert_eq!(b.score, 0.963, "RITA's beacon score");
    assert_eq!(b.conns, 331, "RITA's connection count");
    assert_eq!((b.ts, b.ds, b.dur, b.hist), (0.852, 1.0, 1.0, 1.0));
    assert_eq!((b.cv_score, b.bimodal_fit, b.bars, b.longest_run), (0.793, 1.0, 24, 24));
    assert_eq!((b.coverage, b.consistency), (1.0, 1.0));
    assert_eq!(b.port, Some((80, Proto::Tcp)));
    assert!((b.bucket - 0.726).abs() < 1e-9);
    for b in report.beacons.iter().take(5) {
        eprintln!("top beacon: {}", b.describe());
    }

    let l = &report.long_connections[0];
    eprintln!(
        "top long connections: {:?}",
        &report.long_connections[..report.long_connections.len().min(5)]
    );
    assert_eq!((l.src, l.dst), (src, dst));
    assert_eq!((l.longest_port, l.longest_proto, l.longest_open), (22, Proto::Tcp, true));
    assert!((l.longest - 270001.331436).abs() < 1e-6, "{}", l.longest);
    // RITA's totals for the pair: 270036.631115 s and 1,679,442 bytes (the 331 HTTP
    // connections of the window plus the SSH session once).
    assert!((l.total_duration - 270036.631115).abs() < 0.01, "{}", l.total_duration);
    assert_eq!((l.bytes, l.conns, l.open_conns), (1_679_442, 332, 1));
    assert_eq!((l.bucket, l.first_ts.floor()), (0.8, 1713470872.0));

    // RITA's final score 1.05 = long connection 0.8 − prevalence 0.15 + first seen 0.15 +
    // missing Host header 0.1 + rare signature 0.15; the last two need http.log.
    let t = report.threats.iter().find(|t| t.src == src && t.dst == dst).unwrap();
    assert_eq!((t.base, t.long_conn, t.prevalence), (0.8, 0.8, 1.0));
    assert!((t.final_score - 0.65).abs() < 1e-9, "{t:?}");
    let r = rolling.last_report().unwrap();
    let t = r.threats.iter().find(|t| t.src == src && t.dst == dst).unwrap();
    assert!((t.final_score - (1.05 - 0.1 - 0.15)).abs() < 1e-9, "{t:?}");

    let e = out.iter().find(|e| e.kind == Kind::Beacon && e.host == src).unwrap();
    assert_eq!(
        e.description,
        "Beacon 73.54.23.243 → 64.225.56.201: score 0.963 (ts 0.852, ds 1.000, dur 1.000, hist 1.000), 331 connections"
    );
    assert_eq!((e.threat, e.peer, e.port), (ThreatLevel::High, Some(dst), Some(80)));
    let e = out.iter().find(|e| e.kind == Kind::LongConnection && e.host == src).unwrap();
    assert_eq!((e.threat, e.port), (ThreatLevel::High, Some(22)));
    eprintln!("{}", e.description);

    // With RITA's default subnets both hosts are external: the pair is filtered out.
    let d = defaults.last_report().unwrap();
    assert!(d.beacons.iter().all(|b| b.src != src));
    assert!(d.long_connections.iter().all(|l| l.src != src));
}

/// Throughput of `Rita::observe` on synthetic traffic over two days: 2,000,000 flows between
/// 2,000 internal hosts and 50 external peers each (100,000 pairs), 1,000,000 flows that are
/// nearly all new pairs (a scan-like worst case), and the same 1,000,000 the other way round
/// (external → internal, dropped by the default filter); and the time to score each.
/// Run with `cargo test --release -p crest-flows --test rita -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check"]
fn observe_throughput() {
    use crest_flows::flow::{ConnState, Flow};
    use std::net::Ipv4Addr;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for (n, peers, inbound) in
        [(2_000_000u64, 50u64, false), (1_000_000, 1 << 40, false), (1_000_000, 1 << 40, true)]
    {
        let flows: Vec<Flow> = (0..n)
            .map(|i| {
                let r = next();
                let host = r % 2000;
                let peer = (host * 7919 + (r >> 11) % peers) % 16_000_000;
                let (a, b) = (
                    Ipv4Addr::from(0x0a00_0000 | host as u32),
                    Ipv4Addr::from(0x0800_0000 | peer as u32),
                );
                let (src, dst) = if inbound { (b, a) } else { (a, b) };
                Flow {
                    ts: 1.7e9 + i as f64 * (2.0 * 86_400.0 / n as f64),
                    duration: Some(((r >> 40) % 1000) as f64 / 100.0),
                    src: src.into(),
                    src_port: (r >> 20) as u16,
                    dst: dst.into(),
                    dst_port: 443,
                    state: ConnState::Sf,
                    src_ip_bytes: Some((r >> 33) % 5000),
                    dst_ip_bytes: Some((r >> 45) % 50_000),
                    ..Flow::default()
                }
            })
            .collect();
        let mut rita = Rita::new(RitaConfig::default()).unwrap();
        let mut out = Vec::new();
        let t = std::time::Instant::now();
        for f in &flows {
            rita.observe(f, &mut out);
        }
        let observe = t.elapsed();
        let t = std::time::Instant::now();
        rita.finish(&mut out);
        let finish = t.elapsed();
        eprintln!(
            "{} flows{}, {} pairs: observe {:.2?} ({:.2} M flows/s), finish {:.2?}, {} evidence",
            n,
            if inbound { " (inbound, filtered)" } else { "" },
            rita.pairs(),
            observe,
            n as f64 / observe.as_secs_f64() / 1e6,
            finish,
            out.len()
        );
    }
}
