//! TEMPORARY (crest-flows perf work): old vs new detectors, outputs compared. Delete me.
#![allow(missing_docs, dead_code, unreachable_pub, clippy::all)]

#[path = "/tmp/eq/old_scan.rs"]
mod old_scan;
#[path = "/tmp/eq/old_seed.rs"]
mod old_seed;

use std::net::IpAddr;
use std::time::Instant;

use crest_flows::detect::Detector;
use crest_flows::evidence::Evidence;
use crest_flows::flow::{ConnState, Flow, Proto};
use crest_flows::net::PrefixSet;
use crest_flows::read::{Format, ReadOptions, read_flows};
use crest_flows::{scan, seed};
use crest_testing::Rng;

fn run_pair(name: &str, old: &mut dyn Detector, new: &mut dyn Detector, flows: &[Flow]) -> bool {
    let mut a: Vec<Evidence> = Vec::new();
    let mut b: Vec<Evidence> = Vec::new();
    let t = Instant::now();
    for f in flows {
        old.observe(f, &mut a);
    }
    old.finish(&mut a);
    let t_old = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for f in flows {
        new.observe(f, &mut b);
    }
    new.finish(&mut b);
    let t_new = t.elapsed().as_secs_f64();
    let ok = format!("{a:?}") == format!("{b:?}");
    if flows.len() > 100_000 {
        println!(
            "{name:<28} {} evidence {:>7}  old {:6.2} M/s  new {:6.2} M/s",
            if ok { "OK  " } else { "DIFF" },
            a.len(),
            flows.len() as f64 / t_old / 1e6,
            flows.len() as f64 / t_new / 1e6
        );
    }
    if !ok {
        let i = a.iter().zip(&b).position(|(x, y)| format!("{x:?}") != format!("{y:?}"));
        println!("{name}: DIFF lens {} {} first at {i:?}", a.len(), b.len());
        if let Some(i) = i {
            println!("  old {:?}\n  new {:?}", a[i], b[i]);
        }
    }
    ok
}

fn seed_pair(
    name: &str,
    cfg_old: old_seed::SeedConfig,
    cfg_new: seed::SeedConfig,
    flows: &[Flow],
) -> bool {
    let mut old = old_seed::Seed::new(cfg_old).unwrap();
    let mut new = seed::Seed::new(cfg_new).unwrap();
    let mut a = Vec::new();
    let mut b = Vec::new();
    let mut ok = true;
    for f in flows {
        let before = old.last_window().first().map(|p| (p.window, p.src, p.dst));
        old.observe(f, &mut a);
        new.observe(f, &mut b);
        let after = old.last_window().first().map(|p| (p.window, p.src, p.dst));
        if before != after || a.len() != b.len() {
            if format!("{:?}", old.last_window()) != format!("{:?}", new.last_window()) {
                println!("{name}: last_window differs at ts {}", f.ts);
                ok = false;
                break;
            }
            if old.ports_threshold() != new.ports_threshold() {
                println!("{name}: threshold differs");
                ok = false;
                break;
            }
        }
    }
    old.finish(&mut a);
    new.finish(&mut b);
    ok &= format!("{:?}", old.last_window()) == format!("{:?}", new.last_window());
    ok &= format!("{a:?}") == format!("{b:?}");
    ok &= format!("{:?}", old.port_stats()) == format!("{:?}", new.port_stats());
    let mut ia: Vec<String> = old.ip_stats().map(|s| format!("{s:?}")).collect();
    let mut ib: Vec<String> = new.ip_stats().map(|s| format!("{s:?}")).collect();
    ia.sort();
    ib.sort();
    ok &= ia == ib;
    ok &= old.ports_threshold() == new.ports_threshold();
    if let Some(f) = flows.first() {
        ok &= format!("{:?}", old.ip(f.src)) == format!("{:?}", new.ip(f.src));
    }
    if !ok {
        println!("{name}: SEED DIFF (evidence {} vs {})", a.len(), b.len());
    }
    ok
}

fn check_all(label: &str, flows: &[Flow]) -> bool {
    let mut ok = true;
    let bl = "192.168.1.77\n91.92.109.0/24\n10.0.0.0/8\n2001:db8::/32\n45.155.205.233";
    let mut bo = old_seed::SeedConfig::default();
    bo.blacklist.extend_from_list(bl, "bl").unwrap();
    let mut bn = seed::SeedConfig::default();
    bn.blacklist.extend_from_list(bl, "bl").unwrap();
    ok &= seed_pair(
        &format!("{label} seed"),
        old_seed::SeedConfig::default(),
        seed::SeedConfig::default(),
        flows,
    );
    ok &= seed_pair(&format!("{label} seed+bl"), bo, bn, flows);
    let small_o = old_seed::SeedConfig {
        min_ips: 2,
        min_ports: 2,
        window: 3.0,
        port_ageing: 7.0,
        hard_limit: 5,
        ..old_seed::SeedConfig::default()
    };
    let small_n = seed::SeedConfig {
        min_ips: 2,
        min_ports: 2,
        window: 3.0,
        port_ageing: 7.0,
        hard_limit: 5,
        ..seed::SeedConfig::default()
    };
    ok &= seed_pair(&format!("{label} seed-small"), small_o, small_n, flows);
    if flows.len() > 100_000 {
        // timing only
        run_pair(
            &format!("{label} seed(time)"),
            &mut old_seed::Seed::new(old_seed::SeedConfig::default()).unwrap(),
            &mut seed::Seed::new(seed::SeedConfig::default()).unwrap(),
            flows,
        );
    }
    let scans: Vec<(&str, old_scan::ScanConfig, scan::ScanConfig)> = vec![
        ("slips", old_scan::ScanConfig::slips(), scan::ScanConfig::slips()),
        ("zeek", old_scan::ScanConfig::zeek(), scan::ScanConfig::zeek()),
        (
            "slips-noall",
            old_scan::ScanConfig { all_targets: false, ..old_scan::ScanConfig::slips() },
            scan::ScanConfig { all_targets: false, ..scan::ScanConfig::slips() },
        ),
        (
            "slips-nosum",
            old_scan::ScanConfig { summaries: false, ..old_scan::ScanConfig::slips() },
            scan::ScanConfig { summaries: false, ..scan::ScanConfig::slips() },
        ),
        (
            "slips-share",
            old_scan::ScanConfig {
                min_failed_share: 0.2,
                window: Some(600.0),
                ..old_scan::ScanConfig::slips()
            },
            scan::ScanConfig {
                min_failed_share: 0.2,
                window: Some(600.0),
                ..scan::ScanConfig::slips()
            },
        ),
        (
            "zeek-60",
            old_scan::ScanConfig {
                window: Some(60.0),
                horizontal_threshold: 3,
                vertical_threshold: 2,
                ..old_scan::ScanConfig::zeek()
            },
            scan::ScanConfig {
                window: Some(60.0),
                horizontal_threshold: 3,
                vertical_threshold: 2,
                ..scan::ScanConfig::zeek()
            },
        ),
    ];
    for (n, co, cn) in scans {
        ok &= run_pair(
            &format!("{label} scan-{n}"),
            &mut old_scan::ScanDetector::new(co).unwrap(),
            &mut scan::ScanDetector::new(cn).unwrap(),
            flows,
        );
    }
    let trws: Vec<(&str, old_scan::TrwConfig, scan::TrwConfig)> = vec![
        ("default", old_scan::TrwConfig::default(), scan::TrwConfig::default()),
        (
            "internal",
            old_scan::TrwConfig {
                internal: Some(PrefixSet::default_internal()),
                ..old_scan::TrwConfig::default()
            },
            scan::TrwConfig {
                internal: Some(PrefixSet::default_internal()),
                ..scan::TrwConfig::default()
            },
        ),
        (
            "max3",
            old_scan::TrwConfig { max_contacts: 3, ..old_scan::TrwConfig::default() },
            scan::TrwConfig { max_contacts: 3, ..scan::TrwConfig::default() },
        ),
        (
            "max20-theta",
            old_scan::TrwConfig {
                max_contacts: 20,
                theta0: 0.6,
                theta1: 0.5,
                ..old_scan::TrwConfig::default()
            },
            scan::TrwConfig {
                max_contacts: 20,
                theta0: 0.6,
                theta1: 0.5,
                ..scan::TrwConfig::default()
            },
        ),
    ];
    for (n, co, cn) in trws {
        let mut o = old_scan::Trw::new(co).unwrap();
        let mut nn = scan::Trw::new(cn).unwrap();
        ok &= run_pair(&format!("{label} trw-{n}"), &mut o, &mut nn, flows);
        let mut srcs: Vec<IpAddr> = flows.iter().map(|f| f.src).collect();
        srcs.sort();
        srcs.dedup();
        for s in srcs {
            if format!("{:?}", o.state(s)) != format!("{:?}", nn.state(s)) {
                println!("{label} trw-{n}: state differs for {s}");
                ok = false;
                break;
            }
        }
        if o.benign_declarations() != nn.benign_declarations() {
            println!("{label} trw-{n}: benign differs");
            ok = false;
        }
    }
    ok
}

fn random_flows(seed: u64, n: usize) -> Vec<Flow> {
    let mut rng = Rng::new(seed);
    let hosts = 2 + rng.below(40);
    let wide = rng.below(2) == 0;
    let ports = 1 + rng.below(if wide { 12 } else { 400 });
    let states = [
        ConnState::S0,
        ConnState::S1,
        ConnState::Sf,
        ConnState::Rej,
        ConnState::Rsto,
        ConnState::Rstr,
        ConnState::Rstos0,
        ConnState::Rstrh,
        ConnState::Sh,
        ConnState::Shr,
        ConnState::Oth,
        ConnState::Established,
        ConnState::NotEstablished,
        ConnState::Unknown,
    ];
    let mut ts = 1_000_000.0 + rng.below(100) as f64;
    let ip = |rng: &mut Rng| -> IpAddr {
        let i = rng.below(hosts);
        match rng.below(20) {
            0 => format!("2001:db8::{:x}", i % 7).parse().unwrap(),
            1 => "255.255.255.255".parse().unwrap(),
            2 => "0.0.0.0".parse().unwrap(),
            3 => "224.0.0.251".parse().unwrap(),
            4 => format!("::ffff:10.0.0.{}", i % 5).parse().unwrap(),
            5 => format!("8.8.{}.{}", i % 3, i).parse().unwrap(),
            _ => format!("10.0.{}.{}", i / 200, i % 200).parse().unwrap(),
        }
    };
    (0..n)
        .map(|_| {
            ts += rng.unit() * if rng.below(50) == 0 { 400.0 } else { 2.0 };
            let t = if rng.below(30) == 0 { ts - rng.unit() * 900.0 } else { ts };
            let t = if rng.below(200) == 0 { (t * 1e3).round() / 1e3 } else { t };
            let proto = match rng.below(10) {
                0 => Proto::Icmp,
                1 | 2 | 3 => Proto::Udp,
                4 => Proto::Other(47),
                _ => Proto::Tcp,
            };
            let src = ip(&mut rng);
            let dst = if rng.below(40) == 0 { src } else { ip(&mut rng) };
            let popular = [80u16, 443, 53, 22, 0, 81, 82, 8, 13, 128];
            let dport = if rng.below(3) == 0 {
                popular[rng.below(10) as usize]
            } else {
                1000 + rng.below(ports) as u16
            };
            let sport = match rng.below(6) {
                0 => 53,
                1 => 1900,
                2 => [8u16, 13, 15, 17, 128, 0, 3][rng.below(7) as usize],
                _ => 1024 + rng.below(60000) as u16,
            };
            let opt =
                |rng: &mut Rng, m: u64| if rng.below(8) == 0 { None } else { Some(rng.below(m)) };
            Flow {
                ts: t,
                proto,
                src,
                src_port: sport,
                dst,
                dst_port: dport,
                state: states[rng.below(states.len() as u64) as usize],
                src_bytes: opt(&mut rng, 3),
                dst_bytes: opt(&mut rng, 3),
                src_ip_bytes: opt(&mut rng, 3000),
                dst_ip_bytes: opt(&mut rng, 3000),
                src_pkts: opt(&mut rng, 8),
                dst_pkts: opt(&mut rng, 8),
                ..Flow::default()
            }
        })
        .collect()
}

fn read(path: &std::path::Path, format: Format) -> Vec<Flow> {
    let data = std::fs::read(path).unwrap();
    let mut flows = Vec::new();
    let _ = read_flows(&data[..], "x", format, &ReadOptions { skip_invalid: true }, &mut |f| {
        flows.push(f)
    });
    flows
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut ok = true;
    match args.get(1).map(String::as_str) {
        Some("random") => {
            let n: u64 = args.get(2).map_or(200, |s| s.parse().unwrap());
            for s in 0..n {
                let len = 50 + (s as usize * 37) % 4000;
                if !check_all(&format!("rand{s}"), &random_flows(s, len)) {
                    ok = false;
                    println!("random seed {s} failed");
                }
            }
        }
        Some("zeek") => {
            for p in &args[2..] {
                let flows = read(std::path::Path::new(p), Format::Zeek);
                println!("{p}: {} flows", flows.len());
                ok &= check_all(p, &flows);
            }
        }
        Some("dataset") => {
            let root = std::path::Path::new(&args[2]);
            let mut stack = vec![root.to_path_buf()];
            while let Some(d) = stack.pop() {
                for e in std::fs::read_dir(&d).unwrap() {
                    let p = e.unwrap().path();
                    if p.is_dir() {
                        stack.push(p);
                        continue;
                    }
                    let s = p.to_string_lossy().to_string();
                    let fmt = if s.ends_with("conn.log") || s.ends_with("conn.log.labeled") {
                        Format::Zeek
                    } else if s.ends_with(".binetflow") {
                        Format::Argus
                    } else if s.contains("suricata") && s.ends_with(".json") {
                        Format::Suricata
                    } else if s.ends_with(".nfdump") {
                        continue;
                    } else {
                        continue;
                    };
                    let flows = read(&p, fmt);
                    if flows.is_empty() {
                        continue;
                    }
                    println!("{s}: {} flows", flows.len());
                    ok &= check_all(&s, &flows);
                }
            }
        }
        _ => panic!("mode"),
    }
    println!("{}", if ok { "ALL OK" } else { "FAILURES" });
    if !ok {
        std::process::exit(1);
    }
}
