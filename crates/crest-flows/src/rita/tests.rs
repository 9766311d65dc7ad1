//! The detector end to end on synthetic flows.

use super::*;
use crate::flow::{ConnState, Service};
use proptest::prelude::*;

const T0: f64 = 1_700_000_000.0; // 2023-11-14 22:13:20 UTC
const DAY: f64 = 86_400.0;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn flow(ts: f64, src: &str, dst: &str, port: u16, up: u64) -> Flow {
    Flow {
        ts,
        duration: Some(0.5),
        src: ip(src),
        src_port: 40000,
        dst: ip(dst),
        dst_port: port,
        state: ConnState::Sf,
        service: Service::Http,
        src_bytes: Some(up / 2),
        src_ip_bytes: Some(up),
        dst_ip_bytes: Some(1000),
        ..Flow::default()
    }
}

fn run(rita: &mut Rita, flows: &[Flow]) -> Vec<Evidence> {
    let mut out = Vec::new();
    for f in flows {
        rita.observe(f, &mut out);
    }
    rita.finish(&mut out);
    out
}

fn default_rita() -> Rita {
    Rita::new(RitaConfig::default()).unwrap()
}

/// A jittery 5-minute beacon from 10.0.0.5 to 1.2.3.4 over `days`.
fn beacon_flows(days: f64) -> Vec<Flow> {
    let mut flows = Vec::new();
    let mut t = T0;
    let mut i = 0u64;
    while t < T0 + days * DAY {
        flows.push(flow(t, "10.0.0.5", "1.2.3.4", 443, 900 + (i % 3) * 10));
        t += 290.0 + ((i * 7919) % 21) as f64;
        i += 1;
    }
    flows
}

#[test]
fn the_filter_keeps_outbound_pairs() {
    let f = SubnetFilter::default();
    assert_eq!(f.check(ip("10.0.0.1"), ip("8.8.8.8")), Some(Direction::Outbound));
    assert_eq!(f.check(ip("8.8.8.8"), ip("10.0.0.1")), None);
    assert_eq!(f.check(ip("10.0.0.1"), ip("192.168.1.1")), None);
    assert_eq!(f.check(ip("8.8.8.8"), ip("1.1.1.1")), None);
    assert_eq!(f.check(ip("fd00::1"), ip("2001:db8::1")), Some(Direction::Outbound));
    let mut f = SubnetFilter { filter_external_to_internal: false, ..SubnetFilter::default() };
    assert_eq!(f.check(ip("8.8.8.8"), ip("10.0.0.1")), Some(Direction::Inbound));
    f.never_included.insert("10.0.0.0/24".parse().unwrap());
    assert_eq!(f.check(ip("10.0.0.1"), ip("8.8.8.8")), None);
    assert_eq!(f.check(ip("10.0.1.1"), ip("8.8.8.8")), Some(Direction::Outbound));
    // always_included overrides the internal/external rule and never_included.
    f.always_included.insert("10.0.0.1/32".parse().unwrap());
    f.always_included.insert("1.1.1.1/32".parse().unwrap());
    assert_eq!(f.check(ip("10.0.0.1"), ip("8.8.8.8")), Some(Direction::Outbound));
    assert_eq!(f.check(ip("10.0.0.1"), ip("10.0.0.2")), Some(Direction::Internal));
    assert_eq!(f.check(ip("8.8.8.8"), ip("1.1.1.1")), Some(Direction::External));
    assert_eq!(Direction::Inbound.external(ip("8.8.8.8"), ip("10.0.0.1")), ip("8.8.8.8"));
    assert_eq!(Direction::External.internal(ip("8.8.8.8"), ip("1.1.1.1")), None);
}

#[test]
fn config_is_validated() {
    let mut c = RitaConfig::default();
    assert!(c.validate().is_ok());
    c.beacon.weights.ts = 0.3;
    assert!(matches!(Rita::new(c.clone()), Err(ConfigError::WeightSum(_))));
    c.beacon.weights = BeaconWeights { ts: 1.5, ds: -0.5, dur: 0.0, hist: 0.0 };
    assert!(matches!(c.validate(), Err(ConfigError::Weight { name: "timestamp", .. })));
    c.beacon.weights = BeaconWeights { ts: 0.1, ds: 0.2, dur: 0.3, hist: 0.4 };
    assert!(c.validate().is_ok());
    c.beacon.duration_consistency_ideal_hours_seen = 0;
    assert!(matches!(c.validate(), Err(ConfigError::Setting { .. })));
    let mut c = RitaConfig::default();
    c.long_connection_thresholds.low = 1.0;
    assert_eq!(c.validate(), Err(ConfigError::Thresholds("long connection")));
    let mut c = RitaConfig::default();
    c.modifiers.prevalence_decrease_threshold = 0.01;
    assert!(c.validate().is_err());
}

#[test]
fn final_score_is_the_largest_base_plus_modifiers() {
    assert_eq!(final_score(&[0.726, 0.8, 0.0], &[-0.15, 0.15, 0.1, 0.15]), 0.8 + 0.25);
    assert_eq!(final_score(&[0.0, 0.0], &[0.15]), 0.0);
    assert_eq!(final_score(&[], &[]), 0.0);
}

#[test]
fn a_beacon_is_found_and_described() {
    let mut rita = default_rita();
    let out = run(&mut rita, &beacon_flows(2.0));
    let report = rita.last_report().unwrap();
    assert_eq!(report.beacons.len(), 1);
    let b = &report.beacons[0];
    assert!(b.score > 0.9 && b.ts > 0.9 && b.ds > 0.9 && b.hist > 0.9, "{b:?}");
    assert_eq!((b.dur, b.bars, b.longest_run), (1.0, 24, 24));
    assert_eq!(b.port, Some((443, Proto::Tcp)));
    let w = report.window.unwrap();
    assert_eq!(w.start % 3600, 0);
    assert!(w.start <= w.min && w.min - w.start < 3600);
    assert!(b.first_ts >= w.start && b.first_ts < w.start + 310);
    let ev: Vec<&Evidence> = out.iter().filter(|e| e.kind == Kind::Beacon).collect();
    assert_eq!(ev.len(), 1);
    assert_eq!(
        (ev[0].host, ev[0].peer, ev[0].port),
        (ip("10.0.0.5"), Some(ip("1.2.3.4")), Some(443))
    );
    assert_eq!(ev[0].threat, ThreatLevel::High);
    assert_eq!((ev[0].score, ev[0].confidence, ev[0].flow_count), (b.score, 1.0, b.conns));
    assert!(
        ev[0].description.starts_with("Beacon 10.0.0.5 → 1.2.3.4: score 0."),
        "{}",
        ev[0].description
    );
    assert!(ev[0].description.ends_with(&format!("), {} connections", b.conns)));
    // Final score: the beacon bucket, prevalence 1/1 → −0.15.
    let t = &report.threats[0];
    assert_eq!(t.prevalence, 1.0);
    assert_eq!(t.modifiers, vec![Modifier { name: "prevalence", score: -0.15 }]);
    assert!((t.final_score - (t.beacon - 0.15)).abs() < 1e-12);
}

#[test]
fn the_window_starts_at_the_top_of_the_hour() {
    // Connections every 10 minutes; the last at 49h 59m 30s. The window's min is 25h 59m 30s
    // after T0's hour, so rows from the hour holding it count: 6 more than a strict 24 h.
    let hour0 = (T0 / 3600.0).floor() * 3600.0;
    let flows: Vec<Flow> = (0..=299)
        .map(|i| flow(hour0 + 30.0 + i as f64 * 600.0, "10.0.0.5", "1.2.3.4", 80, 500))
        .collect();
    let mut rita = default_rita();
    run(&mut rita, &flows);
    let r = rita.last_report().unwrap();
    let w = r.window.unwrap();
    let last = hour0 as i64 + 30 + 299 * 600;
    assert_eq!((w.max, w.min, w.start), (last, last - 86_400, (last - 86_400) / 3600 * 3600));
    let strict = flows.iter().filter(|f| f.ts as i64 >= w.min).count() as u64;
    let b = &r.beacons[0];
    assert_eq!(b.conns, flows.iter().filter(|f| f.ts as i64 >= w.start).count() as u64);
    assert!(b.conns > strict);
    assert_eq!((b.ts, b.ds), (1.0, 1.0));
    // The rows before the window's min fall into the first bin.
    assert_eq!(b.histogram.iter().map(|&n| n as u64).sum::<u64>(), b.conns);
    assert!(b.histogram[0] > b.histogram[1]);
}

#[test]
fn gating_needs_four_distinct_seconds() {
    let mut rita = default_rita();
    let mut flows: Vec<Flow> =
        (0..3).map(|i| flow(T0 + i as f64 * 60.0, "10.0.0.5", "1.2.3.4", 80, 100)).collect();
    flows.push(flow(T0 + 120.4, "10.0.0.5", "1.2.3.4", 80, 100)); // same second as the third
    run(&mut rita, &flows);
    let r = rita.last_report().unwrap();
    assert!(r.beacons.is_empty());
    assert_eq!(r.unscored, 0);
    // Four distinct seconds but only two non-zero intervals… cannot happen: 4 distinct
    // seconds give 3 intervals. Equal seconds are dropped from the intervals, not the count.
    let mut rita = default_rita();
    flows.push(flow(T0 + 180.0, "10.0.0.5", "1.2.3.4", 80, 100));
    run(&mut rita, &flows);
    let r = rita.last_report().unwrap();
    assert_eq!((r.beacons.len(), r.beacons[0].conns, r.beacons[0].unique_ts), (1, 5, 4));
}

#[test]
fn strobes_are_counted_exactly_past_the_list_cap() {
    let mut cfg = RitaConfig::default();
    cfg.beacon.max_timestamps = 1000;
    cfg.beacon.strobe_threshold = 5000;
    let mut rita = Rita::new(cfg).unwrap();
    let mut flows: Vec<Flow> =
        (0..6000).map(|i| flow(T0 + i as f64 * 2.0, "10.0.0.5", "1.2.3.4", 53, 80)).collect();
    flows.extend((0..4500).map(|i| flow(T0 + i as f64 * 2.0, "10.0.0.6", "1.2.3.4", 53, 80)));
    flows.sort_by(|a, b| a.ts.total_cmp(&b.ts));
    let out = run(&mut rita, &flows);
    let pair = &rita.pairs[&PairKey::new(ip("10.0.0.5"), ip("1.2.3.4"))];
    assert!(pair.conns.len() <= 1000 + 1000 / 8 + 1);
    let r = rita.last_report().unwrap();
    assert_eq!(r.strobes.len(), 1);
    assert_eq!((r.strobes[0].src, r.strobes[0].conns), (ip("10.0.0.5"), 6000));
    assert!(r.beacons.iter().all(|b| b.src != ip("10.0.0.5")));
    let s: Vec<&Evidence> = out.iter().filter(|e| e.kind == Kind::Strobe).collect();
    assert_eq!(
        (s.len(), s[0].threat, s[0].score, s[0].port),
        (1, ThreatLevel::High, 0.8, Some(53))
    );
    // The 4,500-connection pair is not a strobe; its list is capped at the newest 1,000.
    assert_eq!(r.beacons.iter().find(|b| b.src == ip("10.0.0.6")).unwrap().conns, 4500);
}

#[test]
fn memory_is_bounded_by_the_window() {
    // One connection a minute for ten days: the list holds about a day, not ten.
    let flows: Vec<Flow> =
        (0..14_400).map(|i| flow(T0 + i as f64 * 60.0, "10.0.0.5", "1.2.3.4", 80, 100)).collect();
    let mut rita = default_rita();
    let mut out = Vec::new();
    let mut peak = 0;
    for f in &flows {
        rita.observe(f, &mut out);
        peak = peak.max(rita.pairs.values().map(|p| p.conns.len()).max().unwrap_or(0));
    }
    assert!(peak <= 2 * (1440 + 60) + 2, "peak {peak}");
    rita.finish(&mut out);
    let b = &rita.last_report().unwrap().beacons[0];
    assert!(b.conns >= 1440 && b.conns < 1440 + 60);
}

fn open_row(start: f64, dur: f64, sport: u16) -> Flow {
    Flow {
        ts: start,
        duration: Some(dur),
        src: ip("10.0.0.9"),
        src_port: sport,
        dst: ip("5.6.7.8"),
        dst_port: 22,
        src_ip_bytes: Some(dur as u64),
        dst_ip_bytes: Some(2 * dur as u64),
        open: true,
        ..Flow::default()
    }
}

#[test]
fn open_connections_count_once_at_their_longest() {
    // A session open for 30 hours, reported hourly, never closed; a short one beside it.
    let start = T0;
    let mut flows = vec![flow(start + 10.0, "10.0.0.9", "5.6.7.8", 80, 100)];
    for h in 1..=30 {
        flows.push(flow(start + h as f64 * 3600.0, "10.0.0.9", "5.6.7.8", 80, 100));
        flows.push(open_row(start, h as f64 * 3600.0 - 5.0, 50000));
    }
    let mut rita = default_rita();
    let out = run(&mut rita, &flows);
    let r = rita.last_report().unwrap();
    assert_eq!(r.long_connections.len(), 1);
    let l = &r.long_connections[0];
    assert_eq!((l.open_conns, l.longest_port, l.longest_open), (1, 22, true));
    assert_eq!(l.longest, 30.0 * 3600.0 - 5.0);
    // The open row counts once; the window's closed rows add 0.5 s each.
    let closed_in_window = l.conns - 1;
    assert!((l.total_duration - (l.longest + 0.5 * closed_in_window as f64)).abs() < 1e-6);
    assert_eq!(l.bucket, 0.8);
    let e = out.iter().find(|e| e.kind == Kind::LongConnection).unwrap();
    assert_eq!(
        (e.host, e.peer, e.port, e.threat),
        (ip("10.0.0.9"), Some(ip("5.6.7.8")), Some(22), ThreatLevel::High)
    );
    assert!(
        e.description.contains("longest 30h 59m 55s (22/tcp, still open)")
            || e.description.contains("longest 29h 59m 55s (22/tcp, still open)"),
        "{}",
        e.description
    );
}

#[test]
fn a_closed_row_replaces_its_open_rows_in_either_order() {
    let start = T0;
    let closed = Flow { open: false, ..open_row(start, 5.0 * 3600.0, 50001) };
    let opens: Vec<Flow> =
        (1..5).map(|h| open_row(start, h as f64 * 3600.0 - 1.0, 50001)).collect();
    let mut later = opens.clone();
    later.push(closed);
    let mut earlier = vec![closed];
    earlier.extend(opens.iter().copied());
    for flows in [later, earlier] {
        let mut rita = default_rita();
        run(&mut rita, &flows);
        let r = rita.last_report().unwrap();
        let l = &r.long_connections[0];
        assert_eq!((l.conns, l.open_conns, l.total_duration), (1, 0, 5.0 * 3600.0));
        assert!(!l.longest_open);
        assert_eq!(l.bucket, 0.2 + 0.2 * (18_000.0 - 14_400.0) / (28_800.0 - 14_400.0) + 0.2);
    }
    // Short pairs are not long connections.
    let mut rita = default_rita();
    run(&mut rita, &[Flow { duration: Some(3599.0), ..flow(T0, "10.0.0.1", "9.9.9.9", 443, 1) }]);
    assert!(rita.last_report().unwrap().long_connections.is_empty());
}

#[test]
fn long_connections_outside_the_window_are_dropped() {
    let mut flows =
        vec![Flow { duration: Some(7200.0), ..flow(T0, "10.0.0.1", "9.9.9.9", 443, 1) }];
    flows.push(flow(T0 + 3.0 * DAY, "10.0.0.2", "9.9.9.8", 443, 1));
    let mut rita = default_rita();
    run(&mut rita, &flows);
    assert!(rita.last_report().unwrap().long_connections.is_empty());
    // But one that started before the window and ended in it counts.
    flows[0].duration = Some(2.5 * DAY);
    let mut rita = default_rita();
    run(&mut rita, &flows);
    assert_eq!(rita.last_report().unwrap().long_connections.len(), 1);
}

#[test]
fn threat_intel_hits_and_the_data_size_modifier() {
    let mut ti = ThreatIntel::new();
    ti.add_feed("1.2.3.0/24\nevil.example.com\n", "feed").unwrap();
    let mut rita = default_rita().with_intel(ti);
    let flows = vec![
        flow(T0, "10.0.0.5", "1.2.3.4", 443, 20_000_000),
        flow(T0 + 60.0, "10.0.0.5", "1.2.3.4", 443, 5_000_000),
        flow(T0 + 90.0, "10.0.0.6", "1.2.3.9", 443, 100),
        flow(T0 + 99.0, "10.0.0.6", "4.4.4.4", 443, 100),
    ];
    let out = run(&mut rita, &flows);
    let r = rita.last_report().unwrap();
    assert_eq!(r.intel_hits.len(), 2);
    let big = &r.intel_hits[0];
    assert_eq!((big.internal, big.external, big.conns), (ip("10.0.0.5"), ip("1.2.3.4"), 2));
    assert_eq!(big.matched, "1.2.3.0/24".parse::<ipnet::IpNet>().unwrap());
    assert_eq!((big.bytes, big.modifier), (25_002_000, 0.15));
    assert!((big.score - 0.95).abs() < 1e-12);
    assert_eq!((r.intel_hits[1].modifier, r.intel_hits[1].score), (0.0, 0.8));
    let ev: Vec<&Evidence> = out.iter().filter(|e| e.kind == Kind::Blacklist).collect();
    assert_eq!(ev.len(), 2);
    assert_eq!(
        (ev[0].host, ev[0].peer, ev[0].threat),
        (ip("10.0.0.5"), Some(ip("1.2.3.4")), ThreatLevel::High)
    );
    assert!(ev[0].description.contains("(+0.15: ≥ 25 MB moved)"), "{}", ev[0].description);
    // Final: 0.8 + 0.15 (data size) − 0.15 (2 internal hosts, 1 talks to it: 50%).
    let t = r.threats.iter().find(|t| t.dst == ip("1.2.3.4")).unwrap();
    assert_eq!(t.prevalence, 0.5);
    assert!((t.final_score - 0.8).abs() < 1e-12);
    assert_eq!(t.modifiers.len(), 2);
}

#[test]
fn prevalence_raises_rare_and_lowers_common_destinations() {
    let mut flows = beacon_flows(1.5);
    for h in 0..100 {
        flows.push(flow(T0 + 100.0 + h as f64, &format!("10.1.0.{h}"), "8.8.8.8", 53, 60));
    }
    flows.sort_by(|a, b| a.ts.total_cmp(&b.ts));
    let mut rita = default_rita();
    run(&mut rita, &flows);
    let r = rita.last_report().unwrap();
    let t = r.threats.iter().find(|t| t.dst == ip("1.2.3.4")).unwrap();
    assert!((t.prevalence - 1.0 / 101.0).abs() < 1e-12);
    assert_eq!(t.modifiers, vec![Modifier { name: "prevalence", score: 0.15 }]);
    // First seen, when enabled: the pair is 1.5 days old → +0.15.
    let mut cfg = RitaConfig::default();
    cfg.modifiers.first_seen = true;
    let mut rita = Rita::new(cfg).unwrap();
    run(&mut rita, &flows);
    let t = rita
        .last_report()
        .unwrap()
        .threats
        .iter()
        .find(|t| t.dst == ip("1.2.3.4"))
        .cloned()
        .unwrap();
    assert_eq!(t.modifiers.len(), 2);
    assert!((t.final_score - t.beacon - 0.3).abs() < 1e-12);
}

#[test]
fn dns_direct_conn_modifier_from_the_pairs() {
    let mut rita = default_rita();
    run(&mut rita, &[flow(T0, "10.0.0.5", "203.0.113.7", 443, 10)]);
    let dests = rita.destinations();
    assert!(dests.contains(&ip("203.0.113.7")));
    let mut dns = DnsTunnels::new(DnsConfig::default());
    for i in 0..120 {
        dns.observe(&crate::flow::DnsQuery {
            ts: T0 + i as f64,
            src: ip("10.0.0.5"),
            dst: ip("10.0.0.53"),
            query: format!("q{i}.exfil.example.net"),
            answers: vec![ip("203.0.113.7")],
        });
    }
    let contacted = |a: IpAddr| dests.contains(&a);
    let r = dns.report(None, Some(&contacted));
    // 120 leaves, exfil.example.net and example.net.
    assert_eq!((r[0].subdomains, r[0].direct_conn_modifier), (122, Some(0.0)));
}

#[test]
fn nothing_in_nothing_out() {
    let mut rita = default_rita();
    let out = run(&mut rita, &[]);
    assert!(out.is_empty());
    assert_eq!(rita.last_report(), Some(&RitaReport::default()));
    let mut rita = default_rita();
    let out = run(
        &mut rita,
        &[flow(f64::NAN, "10.0.0.1", "1.1.1.1", 1, 1), flow(T0, "8.8.8.8", "1.1.1.1", 1, 1)],
    );
    assert!(out.is_empty());
    assert_eq!(rita.counts(), RitaCounts { flows: 2, kept: 0, open_rows: 0 });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn reports_do_not_depend_on_input_order(
        offsets in prop::collection::vec((0u32..3 * 86_400, 0u64..3000, 0usize..3), 4..160),
        seed in any::<u64>(),
    ) {
        let dsts = ["1.2.3.4", "5.6.7.8", "9.9.9.9"];
        let flows: Vec<Flow> = offsets
            .iter()
            .map(|&(o, b, d)| Flow { duration: Some(b as f64), ..flow(T0 + o as f64, "10.0.0.5", dsts[d], 80, b) })
            .collect();
        let mut shuffled = flows.clone();
        let mut s = seed;
        for i in (1..shuffled.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (s >> 33) as usize % (i + 1));
        }
        let mut a = default_rita();
        let mut b = default_rita();
        let mut ea = run(&mut a, &flows);
        let mut eb = run(&mut b, &shuffled);
        let (ra, rb) = (a.last_report().unwrap(), b.last_report().unwrap());
        prop_assert_eq!(&ra.beacons, &rb.beacons);
        prop_assert_eq!(ra.long_connections.len(), rb.long_connections.len());
        for (x, y) in ra.long_connections.iter().zip(&rb.long_connections) {
            prop_assert!((x.total_duration - y.total_duration).abs() < 1e-6);
            prop_assert_eq!(x.conns, y.conns);
        }
        crate::evidence::sort(&mut ea);
        crate::evidence::sort(&mut eb);
        prop_assert_eq!(ea.len(), eb.len());
        for b in &ra.beacons {
            for s in [b.score, b.ts, b.ds, b.dur, b.hist, b.cv_score, b.bimodal_fit, b.coverage, b.consistency] {
                prop_assert!((0.0..=1.0).contains(&s), "{:?}", b);
            }
            prop_assert!((0.0..=0.8).contains(&b.bucket));
        }
    }
}
