//! Scan detection: horizontal scans (one port, many hosts), vertical scans (one host, many
//! ports) and the Threshold Random Walk (flows.md Part 3 §4.2 and §8).
//!
//! [`ScanDetector`] counts, per time window, the distinct targets of each would-be scanner's
//! *failed* attempts, and reports by one of two rules ([`ScanRule`]):
//!
//! * **Slips** (the default): per (src, dst port, proto), distinct destination IPs over flows
//!   that were not established ([`ConnState::established`] false); per (src, dst, proto),
//!   distinct destination ports over the same. Evidence when the count is above 5 and
//!   ⌊log10(count)⌋ exceeds the value at the last report (from 0): at 10 targets, then 100,
//!   1000… Windows of one hour. Threat high; confidence from the packets the scan's
//!   not-established flows carried: more than 10 → 1, none → 0.3, else packets/10. A flow
//!   whose format carries no packet count counts as one packet (an attempt is at least one
//!   SYN or datagram). ICMP requests (echo, timestamp, information, address mask; ICMPv6
//!   echo) make horizontal "sweeps" keyed on their ICMP type (a flow's `src_port`), answered
//!   or not, as Slips' ICMP sweep does: a ping sweep is a horizontal scan of type 8. ICMP
//!   makes no vertical scan.
//! * **Zeek** (`policy/misc/scan.zeek`): TCP only; an attempt counts when it failed as Zeek
//!   means it — no answer (S0, SH, RSTOS0), rejected (REJ), reset with no payload either way
//!   (RSTO/RSTR with zero bytes: a connect scan of an open port), or not established in a
//!   format that says only that. RSTRH and SHR are reversed: the responder is the scanner.
//!   Evidence once per key and epoch when 25 distinct hosts on one port, or 15 distinct ports
//!   on one host, are reached, in 5-minute epochs; Zeek's own wording ("… scanned at least 25
//!   unique hosts on port 80/tcp in 0m32s").
//!
//! Both rules ignore flows to multicast, broadcast or unspecified addresses ([`unicast`]) and
//! UDP flows that look like replies seen backwards ([`udp_reply`]): service port to
//! ephemeral port, as hundreds of SSDP answers to one client are. (A scanner that sends from
//! source port 53 to high UDP ports is missed for it.)
//!
//! Slips' rule has a known weakness: a busy client whose connections fail a few percent of
//! the time reaches 10 distinct failed servers on 443 within the hour (on the synthetic
//! office log of `crest_testing::flows`, 240 hosts with 3% failures, 4,795 reports in 48
//! hours). [`ScanConfig::min_failed_share`] (off by default, to keep the rule as published)
//! asks that failed targets also make a share of all the key's targets; every scan of the
//! test data has 40% or more, and at 0.2 the office log keeps its two planted scans and one
//! false report.
//!
//! The two rules are alternatives: one detector runs one rule. To report both, run two
//! detectors. Slips' rule is the default because it finds every scan of the test data's
//! table (the horizontal scan of `port-scans/horizontal` has only 10 failed targets, below
//! Zeek's 25).
//!
//! # Counts and the final summary
//!
//! Evidence is emitted as soon as a threshold is crossed, with the count at that moment (10
//! for Slips' first level). When the window closes (a flow of a later window arrives, or the
//! input ends) every key that was reported and has grown since gets a **summary**: the same
//! kind, host, peer and port, threat [`ThreatLevel::Info`] (so a trust score does not count
//! the scan twice), and the window's totals: the distinct targets of *all* the scanner's flows
//! on that key (established ones included) and, in brackets, how many of them failed —
//! "Horizontal port scan to port http 80/tcp. From 10.0.2.112 to 25 unique destination IPs
//! (10 not established)". Counting established targets costs a set over all
//! (src, dst, port, proto) tuples of the window; [`ScanConfig::all_targets`] = false keeps
//! only the failed ones (Slips' own memory).
//!
//! Windows start at the first flow seen (as Slips' time windows and Zeek's epochs do) and
//! close as time advances; a late flow, from a window already closed, is counted in the open
//! one. Memory is bounded by the keys of one window. Input far out of time order (Slips'
//! Suricata sample, whose flow starts span a day in random order) therefore lands mostly in
//! one window: the counts stay right, the windows lose their meaning.
//!
//! # Threshold Random Walk
//!
//! [`Trw`] (Jung, Paxson, Berger, Balakrishnan 2004): per source, only its first contact with
//! each distinct destination counts; an established contact multiplies the likelihood ratio Λ
//! by θ1/θ0 (0.25 by default), a failed one by (1−θ1)/(1−θ0) (4). Λ ≥ η1 = P_D/P_F (99)
//! declares a scanner: evidence once, and the source is no longer tracked. Λ ≤ η0 =
//! (1−P_D)/(1−P_F) (≈ 0.0101) declares it benign, and the walk goes on from Λ = η0 with an
//! empty contact set: a host that turns to scanning later is still caught (after 7 net
//! failures: η0·4⁷ ≥ 99), and a benign host's memory stays small. Restarting from Λ = 1
//! instead, as a fresh walk, gives a busy client thousands of walks a day and so, sooner or
//! later, four failures in a row: on the synthetic office log (3% of connections fail) that
//! flagged a benign host, which starting from η0 does not. A walk that reaches
//! [`TrwConfig::max_contacts`] undecided forgets its contacts and goes on.
//!
//! Contacts neither established nor failed (unknown state, OTH) are ignored, and so are flows
//! to multicast or broadcast addresses and backwards UDP replies (as for the scan rules). By
//! default every source is tracked; with [`TrwConfig::internal`] only outside sources
//! contacting inside hosts, as in the paper. Threat medium, confidence 1: four failed first
//! contacts are a cheap signal (a client with stale peers gives it too); the scan rules'
//! evidence is the high one.

use std::hash::{BuildHasher, Hash, Hasher};
use std::net::IpAddr;

use foldhash::fast::FixedState;
use hashbrown::hash_map::Entry;
use hashbrown::{HashMap, HashTable, hash_table};
use serde::Deserialize;

use crate::detect::Detector;
use crate::evidence::{Evidence, FlowSample, Kind, ThreatLevel};
use crate::flow::{ConnState, Flow, Proto};
use crate::net::PrefixSet;
pub use crate::seed::ConfigError;
use crate::seed::{Ip, SmallSet, next_bound};

type Map<K, V> = HashMap<K, V, FixedState>;

/// Slips' guard: no evidence for 5 targets or fewer.
pub const SLIPS_MIN_TARGETS: u32 = 5;

/// Which published rule decides that a count of failed targets is a scan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScanRule {
    /// Slips: failed = not established; evidence at 10, 100, 1000… targets; 1-hour windows.
    #[default]
    Slips,
    /// Zeek scan.zeek: TCP failures; 25 hosts on a port / 15 ports on a host; 5-minute epochs.
    Zeek,
}

impl ScanRule {
    /// The rule's own window width in seconds (Slips 3600, Zeek 300).
    pub fn default_window(self) -> f64 {
        match self {
            ScanRule::Slips => 3600.0,
            ScanRule::Zeek => 300.0,
        }
    }
}

/// The scan detector's parameters.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScanConfig {
    /// The rule.
    pub rule: ScanRule,
    /// Window width in seconds; `None` for the rule's own (Slips 1 h, Zeek 5 min).
    pub window: Option<f64>,
    /// Zeek: distinct hosts on one port that make a horizontal scan (default 25).
    pub horizontal_threshold: u32,
    /// Zeek: distinct ports on one host that make a vertical scan (default 15).
    pub vertical_threshold: u32,
    /// Also count established targets, for the totals of the window summaries.
    pub all_targets: bool,
    /// Emit a summary with the window's totals for every reported key that grew.
    pub summaries: bool,
    /// Fewest failed targets, as a share of all the key's targets in the window, for a report
    /// (needs `all_targets`). 0, the default, is the rule as published; 0.2 keeps most busy
    /// clients with a few percent of failed connections from looking like scanners.
    pub min_failed_share: f64,
}

impl Default for ScanConfig {
    fn default() -> ScanConfig {
        ScanConfig::slips()
    }
}

impl ScanConfig {
    /// Slips' rule with its defaults.
    pub fn slips() -> ScanConfig {
        ScanConfig {
            rule: ScanRule::Slips,
            window: None,
            horizontal_threshold: 25,
            vertical_threshold: 15,
            all_targets: true,
            summaries: true,
            min_failed_share: 0.0,
        }
    }

    /// Zeek's rule with its defaults.
    pub fn zeek() -> ScanConfig {
        ScanConfig { rule: ScanRule::Zeek, ..ScanConfig::slips() }
    }
}

/// Per scan key (horizontal: src, port, proto; vertical: src, dst, proto), in one window.
struct Agg {
    /// First flow on the key.
    first_ts: f64,
    /// Last flow on the key.
    last_ts: f64,
    /// First failed flow on the key (NaN before one).
    first_failed_ts: f64,
    /// Distinct targets of all flows (when tracked).
    all: u32,
    /// Distinct targets of failed flows.
    failed: u32,
    /// Packets of the failed flows (a flow without a count counts 1).
    packets: u64,
    /// Slips: ⌊log10⌋ of the last reported count; Zeek: 1 once reported.
    level: u32,
    /// The count in the last evidence (0: not reported).
    reported: u32,
    /// The failed flows.
    sample: FlowSample,
}

impl Agg {
    fn new(ts: f64) -> Agg {
        Agg {
            first_ts: ts,
            last_ts: ts,
            first_failed_ts: f64::NAN,
            all: 0,
            failed: 0,
            packets: 0,
            level: 0,
            reported: 0,
            sample: FlowSample::default(),
        }
    }

    fn update(&mut self, f: &Flow, new_tuple: bool, failed: bool, newly_failed: bool) {
        self.first_ts = self.first_ts.min(f.ts);
        self.last_ts = self.last_ts.max(f.ts);
        self.all += u32::from(new_tuple);
        if failed {
            if self.first_failed_ts.is_nan() || f.ts < self.first_failed_ts {
                self.first_failed_ts = f.ts;
            }
            self.packets += f.packets().unwrap_or(1);
            self.sample.push(f);
        }
        self.failed += u32::from(newly_failed);
    }

    /// The first failed flow's time (the first flow's, before any failed).
    fn first_failed(&self) -> f64 {
        if self.first_failed_ts.is_nan() { self.first_ts } else { self.first_failed_ts }
    }

    /// Slips' confidence from the packets sent.
    fn confidence(&self) -> f64 {
        match self.packets {
            0 => 0.3,
            p if p > 10 => 1.0,
            p => p as f64 / 10.0,
        }
    }
}

/// A protocol as a small number, for hashing.
fn proto_code(p: Proto) -> u16 {
    match p {
        Proto::Tcp => 0,
        Proto::Udp => 1,
        Proto::Icmp => 2,
        Proto::Other(n) => 0x100 | u16::from(n),
    }
}

/// Writes `ip` as one integer (see [`Ip`]).
#[inline]
fn hash_ip<H: Hasher>(ip: IpAddr, state: &mut H) {
    match ip {
        IpAddr::V4(a) => state.write_u32(a.to_bits()),
        IpAddr::V6(a) => state.write_u128(a.to_bits()),
    }
}

/// A horizontal key: scanner, port, protocol.
#[derive(Clone, Copy, PartialEq, Eq)]
struct HKey {
    scanner: IpAddr,
    port: u16,
    proto: Proto,
}

impl Hash for HKey {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_ip(self.scanner, state);
        state.write_u32(u32::from(self.port) << 16 | u32::from(proto_code(self.proto)));
    }
}

/// A (scanner, target, protocol) pair: the vertical key, and the home of the pair's tuples.
#[derive(Clone, Copy)]
struct PairKey {
    scanner: IpAddr,
    target: IpAddr,
    proto: Proto,
}

/// A port mark: the port in the low 16 bits, then whether a failed flow used it, and that the
/// mark is taken (an empty mark is 0).
const FAILED: u32 = 1 << 16;
const PRESENT: u32 = 1 << 17;
/// In a pair's first mark: its ports have moved to [`PairCold::spill`].
const SPILLED: u32 = u32::MAX;
/// In [`PairHot::tag`]: `pair` holds address ids, not two IPv4 addresses.
const IDS: u32 = 1 << 16;

/// How many ports a pair marks inline before it needs a map.
const INLINE_PORTS: usize = 4;

/// The hot part of a window's (scanner, target, proto) pair, 32 bytes: its key and its first
/// ports. Together with [`PairCold::spill`] the marks are the window's (scanner, target, port,
/// proto) tuples, each with whether a failed flow was seen; most pairs use one or two ports.
#[derive(Clone, Copy)]
struct PairHot {
    /// Scanner and target: two IPv4 addresses, or two ids from [`ScanDetector::ids`].
    pair: u64,
    /// The protocol's code, | [`IDS`] when `pair` holds ids.
    tag: u32,
    /// The pair's index in [`ScanDetector::cold`].
    slot: u32,
    marks: [u32; INLINE_PORTS],
}

/// The cold part of a pair: its key, its vertical aggregate (unused for ICMP, which makes no
/// vertical scan) and its ports beyond the inline ones.
struct PairCold {
    key: PairKey,
    vertical: Agg,
    /// Port → failed seen, once the pair used more than [`INLINE_PORTS`] ports (empty before).
    spill: Map<u16, bool>,
}

/// Records a flow on `port` of a pair; returns whether the tuple is new and whether it was
/// newly marked failed.
#[inline]
fn mark(hot: &mut PairHot, cold: &mut [PairCold], port: u16, failed: bool) -> (bool, bool) {
    if hot.marks[0] != SPILLED {
        let flag = if failed { FAILED } else { 0 };
        for m in &mut hot.marks {
            if *m == 0 {
                *m = PRESENT | flag | u32::from(port);
                return (true, failed);
            }
            if *m as u16 == port {
                let fresh = failed && *m & FAILED == 0;
                *m |= flag;
                return (false, fresh);
            }
        }
        let spill = &mut cold[hot.slot as usize].spill;
        spill.reserve(2 * INLINE_PORTS);
        spill.extend(hot.marks.iter().map(|&m| (m as u16, m & FAILED != 0)));
        hot.marks = [0; INLINE_PORTS];
        hot.marks[0] = SPILLED;
    }
    match cold[hot.slot as usize].spill.entry(port) {
        Entry::Vacant(v) => {
            v.insert(failed);
            (true, failed)
        }
        Entry::Occupied(mut o) => {
            let fresh = failed && !*o.get();
            if fresh {
                *o.get_mut() = true;
            }
            (false, fresh)
        }
    }
}

/// Which kind of scan a key is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Axis {
    Horizontal,
    Vertical,
}

/// A scan key as evidence names it.
#[derive(Clone, Copy)]
struct Key {
    rule: ScanRule,
    axis: Axis,
    scanner: IpAddr,
    /// The scanned host (vertical).
    target: Option<IpAddr>,
    /// The scanned port or ICMP type (horizontal).
    port: u16,
    proto: Proto,
}

/// Horizontal and vertical scan detection by Slips' or Zeek's rule.
pub struct ScanDetector {
    rule: ScanRule,
    width: f64,
    h_threshold: u32,
    v_threshold: u32,
    all_targets: bool,
    summaries: bool,
    min_share: f64,
    origin: Option<f64>,
    current: i64,
    /// The open window's end in widths from the origin (see [`next_bound`]).
    next: f64,
    /// The window's pairs (scanner, target, proto), hot parts; see [`PairHot`].
    hot: HashTable<PairHot>,
    /// Their cold parts, in order of arrival.
    cold: Vec<PairCold>,
    /// Ids of the window's addresses in pairs that are not IPv4 both.
    ids: Map<Ip, u32>,
    horizontal: Map<HKey, Agg>,
    closing: Vec<Evidence>,
}

/// One flow as the rule sees it.
struct Probe {
    scanner: IpAddr,
    target: IpAddr,
    port: u16,
    failed: bool,
    vertical: bool,
}

impl ScanDetector {
    /// A detector with `config`, checked first.
    pub fn new(config: ScanConfig) -> Result<ScanDetector, ConfigError> {
        let width = config.window.unwrap_or(config.rule.default_window());
        if !(width.is_finite() && width > 0.0) {
            return Err(ConfigError {
                param: "window",
                rule: "a positive number of seconds",
                value: width.to_string(),
            });
        }
        let share = config.min_failed_share;
        if !(0.0..=1.0).contains(&share) {
            return Err(ConfigError {
                param: "min_failed_share",
                rule: "in [0, 1]",
                value: share.to_string(),
            });
        }
        for (param, v) in [
            ("horizontal_threshold", config.horizontal_threshold),
            ("vertical_threshold", config.vertical_threshold),
        ] {
            if v == 0 {
                return Err(ConfigError { param, rule: "at least 1", value: "0".into() });
            }
        }
        Ok(ScanDetector {
            rule: config.rule,
            width,
            h_threshold: config.horizontal_threshold,
            v_threshold: config.vertical_threshold,
            all_targets: config.all_targets,
            summaries: config.summaries,
            min_share: share,
            origin: None,
            current: 0,
            next: next_bound(0),
            hot: HashTable::new(),
            cold: Vec::new(),
            ids: Map::default(),
            horizontal: Map::default(),
            closing: Vec::new(),
        })
    }

    /// The rule it runs.
    pub fn rule(&self) -> ScanRule {
        self.rule
    }

    fn probe(&self, f: &Flow) -> Option<Probe> {
        if udp_reply(f) {
            return None;
        }
        let probe = match (self.rule, f.proto) {
            (ScanRule::Slips, Proto::Tcp | Proto::Udp) => Some(Probe {
                scanner: f.src,
                target: f.dst,
                port: f.dst_port,
                failed: !f.state.established(),
                vertical: true,
            }),
            (ScanRule::Slips, Proto::Icmp) if icmp_type_name(f.src_port).is_some() => Some(Probe {
                scanner: f.src,
                target: f.dst,
                port: f.src_port,
                failed: true,
                vertical: false,
            }),
            (ScanRule::Zeek, Proto::Tcp) => Some(match zeek_failed(f) {
                Some(true) => Probe {
                    scanner: f.dst,
                    target: f.src,
                    port: f.src_port,
                    failed: true,
                    vertical: true,
                },
                failed => Probe {
                    scanner: f.src,
                    target: f.dst,
                    port: f.dst_port,
                    failed: failed.is_some(),
                    vertical: true,
                },
            }),
            _ => None,
        };
        probe.filter(|p| unicast(p.target))
    }

    /// Closes the open window if `ts` belongs to a later one.
    #[inline]
    fn roll(&mut self, ts: f64, out: &mut Vec<Evidence>) {
        let origin = *self.origin.get_or_insert(ts);
        let x = (ts - origin) / self.width;
        if x < self.next {
            // ⌊x⌋ ≤ current: the open window (or a closed one).
            return;
        }
        let idx = x.floor() as i64;
        if idx > self.current {
            self.close(out);
            self.current = idx;
            self.next = next_bound(idx);
        }
    }

    /// Emits the summaries of the open window and forgets it.
    fn close(&mut self, out: &mut Vec<Evidence>) {
        if self.summaries {
            let rule = self.rule;
            // Every key gives a distinct (kind, host, peer, port, description), so the sort
            // alone fixes the order, whatever the tables' order.
            for (&HKey { scanner, port, proto }, agg) in self.horizontal.iter_mut() {
                let key = Key { rule, axis: Axis::Horizontal, scanner, target: None, port, proto };
                self.closing.extend(summary(key, agg));
            }
            for pair in self.cold.iter_mut() {
                let PairKey { scanner, target, proto } = pair.key;
                let target = Some(target);
                let key = Key { rule, axis: Axis::Vertical, scanner, target, port: 0, proto };
                self.closing.extend(summary(key, &mut pair.vertical));
            }
            crate::evidence::sort(&mut self.closing);
            out.append(&mut self.closing);
        }
        let len = self.hot.len();
        self.hot.clear();
        if self.hot.capacity() > 4 * len + 1024 {
            self.hot.shrink_to(len, |h| pair_hash(h.pair, h.tag));
        }
        let len = self.cold.len();
        self.cold.clear();
        if self.cold.capacity() > 4 * len + 1024 {
            self.cold.shrink_to(len);
        }
        clear(&mut self.ids);
        clear(&mut self.horizontal);
    }

    /// The (pair, tag) of [`PairHot`] for a scanner, a target and a protocol.
    #[inline]
    fn pair_code(&mut self, scanner: IpAddr, target: IpAddr, proto: Proto) -> (u64, u32) {
        let code = u32::from(proto_code(proto));
        if let (IpAddr::V4(s), IpAddr::V4(t)) = (scanner, target) {
            return ((u64::from(s.to_bits()) << 32) | u64::from(t.to_bits()), code);
        }
        let next = self.ids.len() as u32;
        let s = *self.ids.entry(Ip(scanner)).or_insert(next);
        let next = self.ids.len() as u32;
        let t = *self.ids.entry(Ip(target)).or_insert(next);
        ((u64::from(s) << 32) | u64::from(t), code | IDS)
    }
}

/// The hash of a [`PairHot`] key.
#[inline]
fn pair_hash(pair: u64, tag: u32) -> u64 {
    FixedState::default().hash_one((u128::from(pair) << 32) | u128::from(tag))
}

/// Empties `map`, giving back memory a much larger past window left behind.
fn clear<K: std::hash::Hash + Eq, V>(map: &mut Map<K, V>) {
    let len = map.len();
    map.clear();
    if map.capacity() > 4 * len + 1024 {
        map.shrink_to(len);
    }
}

/// Whether `ip` can be a scan target: not multicast, broadcast or unspecified (discovery
/// protocols send to those, and no handshake can complete there).
pub fn unicast(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => !(a.is_multicast() || a.is_broadcast() || a.is_unspecified()),
        IpAddr::V6(a) => !(a.is_multicast() || a.is_unspecified()),
    }
}

/// Whether a UDP flow looks like a reply whose direction the sensor got backwards: from a
/// service port (below 1024, or SSDP 1900, WS-Discovery 3702, mDNS 5353, LLMNR 5355) to an
/// ephemeral one (1024 and up). Hundreds of SSDP answers to one client's ephemeral ports
/// are no vertical scan.
pub fn udp_reply(f: &Flow) -> bool {
    f.proto == Proto::Udp
        && f.dst_port >= 1024
        && (f.src_port < 1024 || matches!(f.src_port, 1900 | 3702 | 5353 | 5355))
}

/// Zeek's scan.zeek failure: `Some(false)` failed, `Some(true)` failed with the roles reversed
/// (the responder scanned), `None` not a failure.
fn zeek_failed(f: &Flow) -> Option<bool> {
    match f.state {
        ConnState::S0
        | ConnState::Rej
        | ConnState::Rstos0
        | ConnState::Sh
        | ConnState::NotEstablished => Some(false),
        ConnState::Rstrh | ConnState::Shr => Some(true),
        ConnState::Rsto | ConnState::Rstr if f.src_bytes == Some(0) && f.dst_bytes == Some(0) => {
            Some(false)
        }
        _ => None,
    }
}

/// Checks the rule after a key's failed-target count grew; returns the count to report.
fn crossed(rule: ScanRule, threshold: u32, min_share: f64, agg: &mut Agg) -> Option<u32> {
    let n = agg.failed;
    if f64::from(n) < min_share * f64::from(agg.all) {
        return None;
    }
    match rule {
        ScanRule::Slips => {
            if n > SLIPS_MIN_TARGETS && n.ilog10() > agg.level {
                agg.level = n.ilog10();
                agg.reported = n;
                return Some(n);
            }
        }
        ScanRule::Zeek => {
            if n >= threshold && agg.level == 0 {
                agg.level = 1;
                agg.reported = n;
                return Some(n);
            }
        }
    }
    None
}

/// The evidence for a key whose count crossed the rule's threshold: `n` targets at `ts`.
fn evidence(key: Key, n: u32, ts: f64, agg: &Agg) -> Evidence {
    let kind = match key.axis {
        Axis::Horizontal => Kind::HorizontalScan,
        Axis::Vertical => Kind::VerticalScan,
    };
    let mut e = Evidence::new(kind, key.scanner, ts, ThreatLevel::High, describe(key, n, agg));
    e.first_ts = agg.first_failed();
    e.peer = key.target;
    e.port = (key.axis == Axis::Horizontal).then_some(key.port);
    e.confidence = agg.confidence();
    e.score = f64::from(n);
    e.flows = agg.sample.flows.clone();
    e.flow_count = agg.sample.count;
    e
}

/// The window's summary for a reported key that grew since its last evidence.
fn summary(key: Key, agg: &mut Agg) -> Option<Evidence> {
    if agg.reported == 0 || (agg.failed == agg.reported && agg.all <= agg.failed) {
        return None;
    }
    let total = agg.all.max(agg.failed);
    let flows = std::mem::take(&mut agg.sample.flows);
    let mut e = evidence(key, total, agg.last_ts, agg);
    if total > agg.failed {
        let what = match key.rule {
            ScanRule::Slips => "not established",
            ScanRule::Zeek => "failed",
        };
        e.description.push_str(&format!(" ({} {what})", agg.failed));
    }
    e.threat = ThreatLevel::Info;
    e.flows = flows;
    Some(e)
}

/// The alert text for `n` targets, in the wording of the rule's tool.
fn describe(key: Key, n: u32, agg: &Agg) -> String {
    let Key { rule, axis, scanner, target, port, proto } = key;
    let target = target.map(|t| t.to_string()).unwrap_or_default();
    match (rule, axis) {
        (ScanRule::Slips, Axis::Horizontal) if proto == Proto::Icmp => {
            let name = icmp_type_name(port).map(|s| format!("{s}, ")).unwrap_or_default();
            format!("ICMP sweep ({name}type {port}). From {scanner} to {n} unique destination IPs")
        }
        (ScanRule::Slips, Axis::Horizontal) => format!(
            "Horizontal port scan to port {}. From {scanner} to {n} unique destination IPs",
            port_label(port, proto)
        ),
        (ScanRule::Slips, Axis::Vertical) => {
            let ports =
                if proto == Proto::Tcp { "ports".to_string() } else { format!("{proto} ports") };
            format!(
                "Vertical port scan to IP {target} from {scanner}. It tried {n} different {ports}"
            )
        }
        (ScanRule::Zeek, axis) => {
            let d = (agg.last_ts - agg.first_failed()).max(0.0);
            let dur = format!("{}m{}s", (d / 60.0).floor() as u64, (d % 60.0).floor() as u64);
            match axis {
                Axis::Horizontal => format!(
                    "{scanner} scanned at least {n} unique hosts on port {port}/{proto} in {dur}"
                ),
                Axis::Vertical => {
                    format!("{scanner} scanned at least {n} unique ports of host {target} in {dur}")
                }
            }
        }
    }
}

/// "http 80/tcp" for a well-known port, "3390/tcp" for another.
pub fn port_label(port: u16, proto: Proto) -> String {
    match service_name(port, proto) {
        Some(name) => format!("{name} {port}/{proto}"),
        None => format!("{port}/{proto}"),
    }
}

/// The IANA service name of a well-known TCP/UDP port (a short list of the common ones).
pub fn service_name(port: u16, proto: Proto) -> Option<&'static str> {
    let both = match port {
        53 => "dns",
        67 => "dhcp",
        123 => "ntp",
        137 => "netbios-ns",
        161 => "snmp",
        389 => "ldap",
        443 => "https",
        500 => "isakmp",
        1900 => "ssdp",
        5353 => "mdns",
        _ => "",
    };
    if !both.is_empty() {
        return Some(both);
    }
    if proto != Proto::Tcp {
        return None;
    }
    Some(match port {
        20 => "ftp-data",
        21 => "ftp",
        22 => "ssh",
        23 => "telnet",
        25 => "smtp",
        80 => "http",
        110 => "pop3",
        111 => "rpcbind",
        135 => "msrpc",
        139 => "netbios-ssn",
        143 => "imap",
        445 => "microsoft-ds",
        465 => "smtps",
        587 => "submission",
        993 => "imaps",
        995 => "pop3s",
        1433 => "ms-sql-s",
        1521 => "oracle",
        3306 => "mysql",
        3389 => "ms-wbt-server",
        5432 => "postgresql",
        5900 => "vnc",
        6379 => "redis",
        8080 => "http-alt",
        8443 => "https-alt",
        _ => return None,
    })
}

/// The name of an ICMP request type, the types a sweep sends (replies and errors are not
/// probes).
fn icmp_type_name(t: u16) -> Option<&'static str> {
    match t {
        8 => Some("echo request"),
        13 => Some("timestamp request"),
        15 => Some("information request"),
        17 => Some("address mask request"),
        128 => Some("ICMPv6 echo request"),
        _ => None,
    }
}

impl Detector for ScanDetector {
    fn observe(&mut self, f: &Flow, out: &mut Vec<Evidence>) {
        let Some(p) = self.probe(f) else { return };
        if !p.failed && !self.all_targets {
            return;
        }
        self.roll(f.ts, out);
        // One lookup for most flows: a tuple seen before, and not newly failed, changes no
        // target count.
        let (pair, tag) = self.pair_code(p.scanner, p.target, f.proto);
        let cold = &mut self.cold;
        let hot = match self.hot.entry(
            pair_hash(pair, tag),
            |h| h.pair == pair && h.tag == tag,
            |h| pair_hash(h.pair, h.tag),
        ) {
            hash_table::Entry::Occupied(o) => o.into_mut(),
            hash_table::Entry::Vacant(v) => {
                let slot = u32::try_from(cold.len()).expect("fewer than 2^32 pairs");
                cold.push(PairCold {
                    key: PairKey { scanner: p.scanner, target: p.target, proto: f.proto },
                    vertical: Agg::new(f.ts),
                    spill: Map::default(),
                });
                v.insert(PairHot { pair, tag, slot, marks: [0; INLINE_PORTS] }).into_mut()
            }
        };
        let slot = hot.slot as usize;
        let (new_tuple, newly_failed) = mark(hot, cold, p.port, p.failed);
        if !new_tuple && !p.failed {
            return;
        }
        let rule = self.rule;
        let h = self
            .horizontal
            .entry(HKey { scanner: p.scanner, port: p.port, proto: f.proto })
            .or_insert_with(|| Agg::new(f.ts));
        h.update(f, new_tuple, p.failed, newly_failed);
        // The rule is checked only when a key's failed count grew.
        let n =
            if newly_failed { crossed(rule, self.h_threshold, self.min_share, h) } else { None };
        if let Some(n) = n {
            let key = Key {
                rule,
                axis: Axis::Horizontal,
                scanner: p.scanner,
                target: None,
                port: p.port,
                proto: f.proto,
            };
            out.push(evidence(key, n, f.ts, h));
        }
        if p.vertical {
            let v = &mut self.cold[slot].vertical;
            v.update(f, new_tuple, p.failed, newly_failed);
            let n = if newly_failed {
                crossed(rule, self.v_threshold, self.min_share, v)
            } else {
                None
            };
            if let Some(n) = n {
                let key = Key {
                    rule,
                    axis: Axis::Vertical,
                    scanner: p.scanner,
                    target: Some(p.target),
                    port: 0,
                    proto: f.proto,
                };
                out.push(evidence(key, n, f.ts, v));
            }
        }
    }

    fn finish(&mut self, out: &mut Vec<Evidence>) {
        self.close(out);
        self.origin = None;
        self.current = 0;
        self.next = next_bound(0);
    }
}

// ---------------------------------------------------------------------------------------------
// Threshold Random Walk.

/// The Threshold Random Walk's parameters (the paper's defaults).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrwConfig {
    /// P[success | benign] (0.8).
    pub theta0: f64,
    /// P[success | scanner] (0.2), below `theta0`.
    pub theta1: f64,
    /// Desired detection probability (0.99).
    pub p_d: f64,
    /// Tolerated false-positive probability (0.01), below `p_d`.
    pub p_f: f64,
    /// Most destinations one undecided walk remembers; when reached the walk restarts.
    pub max_contacts: usize,
    /// When set, only sources outside it contacting hosts inside it are tracked (the paper's
    /// inbound setting); when unset, every source.
    #[serde(skip)]
    pub internal: Option<PrefixSet>,
}

impl Default for TrwConfig {
    fn default() -> TrwConfig {
        TrwConfig {
            theta0: 0.8,
            theta1: 0.2,
            p_d: 0.99,
            p_f: 0.01,
            max_contacts: 4096,
            internal: None,
        }
    }
}

/// How many contacts a walk keeps in a list before it needs a hash set (a benign walk restarts
/// every few contacts).
const INLINE_CONTACTS: usize = 4;

/// One source's walk.
struct Walk {
    /// Λ.
    lambda: f64,
    /// Destinations contacted in this walk.
    contacts: SmallSet<Ip, INLINE_CONTACTS>,
    /// Failed first contacts in this walk.
    failures: u32,
    /// Successful first contacts in this walk.
    successes: u32,
    /// Declared a scanner (no longer tracked).
    scanner: bool,
    /// The walk's first contacts.
    sample: FlowSample,
    /// The walk's first contact.
    first_ts: f64,
}

impl Walk {
    /// A walk with Λ = `lambda`, no contact yet.
    fn new(lambda: f64) -> Walk {
        Walk {
            lambda,
            contacts: SmallSet::new(Ip(IpAddr::from([0u8; 4]))),
            failures: 0,
            successes: 0,
            scanner: false,
            sample: FlowSample::default(),
            first_ts: 0.0,
        }
    }
}

/// Where a source's walk stands.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TrwState {
    /// Never seen (or not tracked).
    Unknown,
    /// Undecided, with its current likelihood ratio Λ.
    Pending(f64),
    /// Declared a scanner.
    Scanner,
}

/// The Threshold Random Walk scan detector.
pub struct Trw {
    success: f64,
    failure: f64,
    eta1: f64,
    eta0: f64,
    max_contacts: usize,
    internal: Option<PrefixSet>,
    walks: Map<Ip, Walk>,
    benign: u64,
}

impl Trw {
    /// A detector with `config`, checked first.
    pub fn new(config: TrwConfig) -> Result<Trw, ConfigError> {
        let TrwConfig { theta0, theta1, p_d, p_f, max_contacts, internal } = config;
        if !(0.0 < theta1 && theta1 < theta0 && theta0 < 1.0) {
            return Err(ConfigError {
                param: "theta0/theta1",
                rule: "0 < theta1 < theta0 < 1",
                value: format!("{theta0}/{theta1}"),
            });
        }
        if !(0.0 < p_f && p_f < p_d && p_d < 1.0) {
            return Err(ConfigError {
                param: "p_d/p_f",
                rule: "0 < p_f < p_d < 1",
                value: format!("{p_d}/{p_f}"),
            });
        }
        if max_contacts == 0 {
            return Err(ConfigError {
                param: "max_contacts",
                rule: "at least 1",
                value: "0".into(),
            });
        }
        Ok(Trw {
            success: theta1 / theta0,
            failure: (1.0 - theta1) / (1.0 - theta0),
            eta1: p_d / p_f,
            eta0: (1.0 - p_d) / (1.0 - p_f),
            max_contacts,
            internal,
            walks: Map::default(),
            benign: 0,
        })
    }

    /// Where `ip`'s walk stands.
    pub fn state(&self, ip: IpAddr) -> TrwState {
        match self.walks.get(&Ip(ip)) {
            None => TrwState::Unknown,
            Some(w) if w.scanner => TrwState::Scanner,
            Some(w) => TrwState::Pending(w.lambda),
        }
    }

    /// How many times a walk ended benign (and restarted).
    pub fn benign_declarations(&self) -> u64 {
        self.benign
    }
}

impl Detector for Trw {
    fn observe(&mut self, f: &Flow, out: &mut Vec<Evidence>) {
        let success = if f.state.established() {
            true
        } else if f.state.failed() {
            false
        } else {
            return;
        };
        if !unicast(f.dst) || udp_reply(f) {
            return;
        }
        // With an internal set, only outside sources contacting inside hosts.
        let not_inbound =
            |internal: &PrefixSet| internal.contains(f.src) || !internal.contains(f.dst);
        if self.internal.as_ref().is_some_and(not_inbound) {
            return;
        }
        let w = self.walks.entry(Ip(f.src)).or_insert_with(|| Walk::new(1.0));
        if w.scanner || !w.contacts.insert(Ip(f.dst)) {
            return;
        }
        if w.contacts.len() == 1 {
            w.first_ts = f.ts;
        }
        w.sample.push(f);
        if success {
            w.successes += 1;
            w.lambda *= self.success;
        } else {
            w.failures += 1;
            w.lambda *= self.failure;
        }
        if w.lambda >= self.eta1 {
            let n = w.successes + w.failures;
            let mut e = Evidence::new(
                Kind::TrwScanner,
                f.src,
                f.ts,
                ThreatLevel::Medium,
                format!(
                    "Threshold random walk: {} is a scanner; {} of its first contacts with {n} \
                     hosts failed (likelihood ratio {} ≥ {})",
                    f.src,
                    w.failures,
                    w.lambda.round(),
                    self.eta1.round()
                ),
            );
            e.first_ts = w.first_ts;
            e.score = w.lambda;
            std::mem::take(&mut w.sample).attach(&mut e);
            out.push(e);
            *w = Walk { scanner: true, ..Walk::new(0.0) };
        } else if w.lambda <= self.eta0 || w.contacts.len() >= self.max_contacts {
            if w.lambda <= self.eta0 {
                // Benign: the walk restarts from the benign threshold, not from 1 (see the
                // module documentation).
                self.benign += 1;
                w.lambda = self.eta0;
            }
            w.contacts.clear();
            w.failures = 0;
            w.successes = 0;
            w.sample = FlowSample { flows: std::mem::take(&mut w.sample.flows), count: 0 };
            w.sample.flows.clear();
        }
    }

    fn finish(&mut self, _out: &mut Vec<Evidence>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn flow(ts: f64, src: &str, dst: &str, dport: u16, state: ConnState) -> Flow {
        Flow {
            ts,
            proto: Proto::Tcp,
            src: ip(src),
            src_port: 40000,
            dst: ip(dst),
            dst_port: dport,
            state,
            src_bytes: Some(0),
            dst_bytes: Some(0),
            src_pkts: Some(1),
            dst_pkts: Some(1),
            ..Flow::default()
        }
    }

    fn run(det: &mut dyn Detector, flows: &[Flow]) -> Vec<Evidence> {
        let mut out = Vec::new();
        for f in flows {
            det.observe(f, &mut out);
        }
        det.finish(&mut out);
        out
    }

    fn slips() -> ScanDetector {
        ScanDetector::new(ScanConfig::slips()).unwrap()
    }

    fn zeek() -> ScanDetector {
        ScanDetector::new(ScanConfig::zeek()).unwrap()
    }

    /// `n` failed attempts from 10.0.0.1 to 10.1.0.x on `port`, one a second from `t`.
    fn horizontal(t: f64, n: u32, port: u16, state: ConnState) -> Vec<Flow> {
        (0..n)
            .map(|i| {
                let dst = format!("10.1.{}.{}", i / 256, i % 256);
                flow(t + f64::from(i), "10.0.0.1", &dst, port, state)
            })
            .collect()
    }

    fn vertical(t: f64, n: u16, state: ConnState) -> Vec<Flow> {
        (0..n).map(|i| flow(t + f64::from(i), "10.0.0.1", "10.2.0.1", 1000 + i, state)).collect()
    }

    fn texts(ev: &[Evidence]) -> Vec<(ThreatLevel, String)> {
        ev.iter().map(|e| (e.threat, e.description.clone())).collect()
    }

    #[test]
    fn slips_horizontal_reports_at_10_and_100_then_summarises() {
        let ev = run(&mut slips(), &horizontal(0.0, 150, 80, ConnState::S0));
        assert_eq!(
            texts(&ev),
            [
                (ThreatLevel::High, "Horizontal port scan to port http 80/tcp. From 10.0.0.1 to 10 unique destination IPs".into()),
                (ThreatLevel::High, "Horizontal port scan to port http 80/tcp. From 10.0.0.1 to 100 unique destination IPs".into()),
                (ThreatLevel::Info, "Horizontal port scan to port http 80/tcp. From 10.0.0.1 to 150 unique destination IPs".into()),
            ]
        );
        let e = &ev[0];
        assert_eq!(
            (e.kind, e.host, e.peer, e.port),
            (Kind::HorizontalScan, ip("10.0.0.1"), None, Some(80))
        );
        assert_eq!((e.ts, e.first_ts, e.score), (9.0, 0.0, 10.0));
        // 10 flows of 2 packets: 20 > 10.
        assert_eq!(e.confidence, 1.0);
        assert_eq!((e.flow_count, e.flows.len()), (10, 10));
        assert_eq!((ev[2].score, ev[2].flow_count, ev[2].ts), (150.0, 150, 149.0));
    }

    #[test]
    fn established_flows_do_not_count_but_join_the_total() {
        let mut flows = horizontal(0.0, 15, 80, ConnState::Sf);
        flows.extend(horizontal(100.0, 10, 80, ConnState::S0).into_iter().map(|mut f| {
            f.dst = ip(&f.dst.to_string().replace("10.1.", "10.7."));
            f
        }));
        let ev = run(&mut slips(), &flows);
        assert_eq!(
            texts(&ev),
            [
                (ThreatLevel::High, "Horizontal port scan to port http 80/tcp. From 10.0.0.1 to 10 unique destination IPs".into()),
                (ThreatLevel::Info, "Horizontal port scan to port http 80/tcp. From 10.0.0.1 to 25 unique destination IPs (10 not established)".into()),
            ]
        );
        // A share of failed targets: 10 of 25 is 40%.
        let cfg = ScanConfig { min_failed_share: 0.4, ..ScanConfig::slips() };
        assert_eq!(run(&mut ScanDetector::new(cfg).unwrap(), &flows).len(), 2);
        let cfg = ScanConfig { min_failed_share: 0.41, ..ScanConfig::slips() };
        assert!(run(&mut ScanDetector::new(cfg).unwrap(), &flows).is_empty());
        // Without the totals: Slips' count only, no summary needed.
        let cfg = ScanConfig { all_targets: false, ..ScanConfig::slips() };
        let ev = run(&mut ScanDetector::new(cfg).unwrap(), &flows);
        assert_eq!(ev.len(), 1);
        // Nine failures are not a scan.
        let ev = run(&mut slips(), &horizontal(0.0, 9, 80, ConnState::Rej));
        assert!(ev.is_empty());
    }

    #[test]
    fn slips_vertical_and_its_confidence() {
        let mut flows = vertical(0.0, 12, ConnState::Rej);
        for f in &mut flows {
            (f.src_pkts, f.dst_pkts) = (None, None);
        }
        // A repeated port does not count twice.
        flows.push(flows[3]);
        let ev = run(&mut slips(), &flows);
        assert_eq!(
            texts(&ev),
            [
                (
                    ThreatLevel::High,
                    "Vertical port scan to IP 10.2.0.1 from 10.0.0.1. It tried 10 different ports"
                        .into()
                ),
                (
                    ThreatLevel::Info,
                    "Vertical port scan to IP 10.2.0.1 from 10.0.0.1. It tried 12 different ports"
                        .into()
                ),
            ]
        );
        let e = &ev[0];
        assert_eq!(
            (e.kind, e.host, e.peer, e.port),
            (Kind::VerticalScan, ip("10.0.0.1"), Some(ip("10.2.0.1")), None)
        );
        // No packet counts: one per attempt, 10 attempts → 10/10.
        assert_eq!(e.confidence, 1.0);
        let mut flows = vertical(0.0, 10, ConnState::S0);
        for f in &mut flows {
            (f.src_pkts, f.dst_pkts) = (Some(0), Some(0));
        }
        assert_eq!(run(&mut slips(), &flows)[0].confidence, 0.3);
        let mut udp = vertical(0.0, 10, ConnState::S0);
        for f in &mut udp {
            f.proto = Proto::Udp;
            (f.src_pkts, f.dst_pkts) = (Some(0), None);
        }
        udp[0].src_pkts = Some(7);
        let ev = run(&mut slips(), &udp);
        assert_eq!(
            ev[0].description,
            "Vertical port scan to IP 10.2.0.1 from 10.0.0.1. It tried 10 different udp ports"
        );
        assert_eq!(ev[0].confidence, 0.7);
    }

    #[test]
    fn icmp_sweeps_are_horizontal_on_the_type() {
        let mut flows = horizontal(0.0, 21, 0, ConnState::Unknown);
        for f in &mut flows {
            f.proto = Proto::Icmp;
            f.src_port = 8;
            f.dst_port = 0x7208;
        }
        let ev = run(&mut slips(), &flows);
        assert_eq!(
            texts(&ev),
            [
                (
                    ThreatLevel::High,
                    "ICMP sweep (echo request, type 8). From 10.0.0.1 to 10 unique destination IPs"
                        .into()
                ),
                (
                    ThreatLevel::Info,
                    "ICMP sweep (echo request, type 8). From 10.0.0.1 to 21 unique destination IPs"
                        .into()
                ),
            ]
        );
        assert_eq!(ev[1].port, Some(8));
        assert!(run(&mut zeek(), &flows).is_empty(), "Zeek counts TCP only");
    }

    #[test]
    fn discovery_traffic_and_replies_are_no_scan() {
        // Broadcast and multicast destinations.
        let mut flows = Vec::new();
        for i in 0..20u16 {
            let mut f =
                flow(f64::from(i), "192.168.1.129", "255.255.255.255", 2000 + i, ConnState::S0);
            f.proto = Proto::Udp;
            flows.push(f);
            let mut g =
                flow(f64::from(i), "fe80::1", &format!("ff02::{:x}", i + 1), 5355, ConnState::S0);
            g.proto = Proto::Udp;
            flows.push(g);
        }
        assert!(run(&mut slips(), &flows).is_empty());
        assert!(run(&mut trw(), &flows).is_empty());
        // SSDP answers to a client's ephemeral ports, as a sensor logs them.
        let mut ssdp = vertical(0.0, 50, ConnState::S0);
        for f in &mut ssdp {
            f.proto = Proto::Udp;
            f.src_port = 1900;
            f.dst_port += 40000;
        }
        assert!(run(&mut slips(), &ssdp).is_empty());
        // A real UDP scan from an ephemeral port is one.
        for f in &mut ssdp {
            f.src_port = 50000;
        }
        assert_eq!(run(&mut slips(), &ssdp)[0].kind, Kind::VerticalScan);
        // ICMP echo replies and errors are not sweeps.
        let mut replies = horizontal(0.0, 20, 0, ConnState::Unknown);
        for f in &mut replies {
            f.proto = Proto::Icmp;
            f.src_port = 0;
        }
        assert!(run(&mut slips(), &replies).is_empty());
        for f in &mut replies {
            f.src_port = 3;
        }
        assert!(run(&mut slips(), &replies).is_empty());
    }

    #[test]
    fn windows_close_and_restart_the_count() {
        // 8 failures in the first hour, 8 in the next: no scan in either.
        let mut flows = horizontal(0.0, 8, 22, ConnState::S0);
        flows.extend(horizontal(3600.0, 8, 22, ConnState::S0));
        assert!(run(&mut slips(), &flows).is_empty());
        // Evidence in the first hour, the summary when the second hour's first flow arrives.
        let mut det = slips();
        let mut out = Vec::new();
        for f in horizontal(10.0, 12, 22, ConnState::S0) {
            det.observe(&f, &mut out);
        }
        assert_eq!(out.len(), 1);
        det.observe(&flow(3611.0, "10.0.0.9", "10.0.0.8", 22, ConnState::Sf), &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(
            out[1].description,
            "Horizontal port scan to port ssh 22/tcp. From 10.0.0.1 to 12 unique destination IPs"
        );
        // A late flow joins the open window.
        det.observe(&flow(5.0, "10.0.0.1", "10.9.9.9", 22, ConnState::S0), &mut out);
        det.finish(&mut out);
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn zeek_thresholds_and_wording() {
        let ev = run(&mut zeek(), &horizontal(0.0, 30, 3389, ConnState::S0));
        assert_eq!(
            texts(&ev),
            [
                (
                    ThreatLevel::High,
                    "10.0.0.1 scanned at least 25 unique hosts on port 3389/tcp in 0m24s".into()
                ),
                (
                    ThreatLevel::Info,
                    "10.0.0.1 scanned at least 30 unique hosts on port 3389/tcp in 0m29s".into()
                ),
            ]
        );
        assert!(run(&mut zeek(), &horizontal(0.0, 24, 3389, ConnState::S0)).is_empty());
        // Vertical: 15 ports, REJ and data-less resets alike; resets with data do not count.
        let mut flows = vertical(0.0, 14, ConnState::Rej);
        let mut open = flow(20.0, "10.0.0.1", "10.2.0.1", 80, ConnState::Rsto);
        open.src_bytes = Some(10);
        flows.push(open);
        assert!(run(&mut zeek(), &flows).is_empty());
        flows.push(flow(70.0, "10.0.0.1", "10.2.0.1", 443, ConnState::Rsto));
        let ev = run(&mut zeek(), &flows);
        assert_eq!(
            texts(&ev),
            [
                (ThreatLevel::High, "10.0.0.1 scanned at least 15 unique ports of host 10.2.0.1 in 1m10s".into()),
                (ThreatLevel::Info, "10.0.0.1 scanned at least 16 unique ports of host 10.2.0.1 in 1m10s (15 failed)".into()),
            ]
        );
        // Five-minute epochs: 20 hosts in each of two epochs is no scan.
        let mut flows = horizontal(0.0, 20, 23, ConnState::S0);
        flows.extend(horizontal(300.0, 20, 23, ConnState::S0));
        assert!(run(&mut zeek(), &flows).is_empty());
    }

    #[test]
    fn zeek_reversed_states_blame_the_responder() {
        let flows: Vec<Flow> = (0..15)
            .map(|i| {
                let mut f = flow(
                    f64::from(i),
                    &format!("10.3.0.{i}"),
                    "10.0.0.66",
                    40000,
                    ConnState::Rstrh,
                );
                f.src_port = 22;
                f
            })
            .collect();
        let ev = run(&mut zeek(), &flows);
        assert_eq!(ev.len(), 0, "15 hosts on port 22 is below 25");
        let flows: Vec<Flow> = (0..15)
            .map(|i| {
                let mut f = flow(f64::from(i), "10.3.0.1", "10.0.0.66", 40000, ConnState::Shr);
                f.src_port = 1000 + i as u16;
                f
            })
            .collect();
        let ev = run(&mut zeek(), &flows);
        assert_eq!(
            ev[0].description,
            "10.0.0.66 scanned at least 15 unique ports of host 10.3.0.1 in 0m14s"
        );
    }

    #[test]
    fn config_is_validated_and_deserialised() {
        let cfg = ScanConfig { window: Some(-1.0), ..ScanConfig::slips() };
        assert_eq!(
            ScanDetector::new(cfg).err().unwrap().to_string(),
            "window must be a positive number of seconds, got -1"
        );
        let cfg: ScanConfig = serde_json::from_str(r#"{"rule": "zeek"}"#).unwrap();
        assert_eq!(cfg, ScanConfig::zeek());
        assert_eq!(ScanDetector::new(cfg).unwrap().rule(), ScanRule::Zeek);
        assert!(serde_json::from_str::<ScanConfig>(r#"{"rules": "zeek"}"#).is_err());
        assert!(Trw::new(TrwConfig { theta1: 0.9, ..TrwConfig::default() }).is_err());
        assert!(Trw::new(TrwConfig { p_f: 0.995, ..TrwConfig::default() }).is_err());
    }

    #[test]
    fn port_labels() {
        assert_eq!(port_label(80, Proto::Tcp), "http 80/tcp");
        assert_eq!(port_label(53, Proto::Udp), "dns 53/udp");
        assert_eq!(port_label(80, Proto::Udp), "80/udp");
        assert_eq!(port_label(3390, Proto::Tcp), "3390/tcp");
    }

    fn trw() -> Trw {
        Trw::new(TrwConfig::default()).unwrap()
    }

    #[test]
    fn trw_declares_a_scanner_after_four_net_failures() {
        let mut flows = horizontal(0.0, 3, 445, ConnState::S0);
        // Repeat contacts do not count.
        flows.extend(horizontal(10.0, 3, 445, ConnState::S0));
        let mut t = trw();
        assert!(run(&mut t, &flows).is_empty());
        assert!(matches!(t.state(ip("10.0.0.1")), TrwState::Pending(l) if (l - 64.0).abs() < 1e-9));
        flows.extend(horizontal(20.0, 5, 445, ConnState::Rej));
        let ev = run(&mut t, &flows);
        assert_eq!(ev.len(), 1);
        let e = &ev[0];
        assert_eq!(
            e.description,
            "Threshold random walk: 10.0.0.1 is a scanner; 4 of its first contacts with 4 hosts failed (likelihood ratio 256 ≥ 99)"
        );
        assert_eq!(
            (e.kind, e.host, e.threat, e.ts, e.first_ts),
            (Kind::TrwScanner, ip("10.0.0.1"), ThreatLevel::Medium, 23.0, 0.0)
        );
        assert_eq!(e.flow_count, 4);
        assert_eq!(t.state(ip("10.0.0.1")), TrwState::Scanner);
        // Once only.
        assert!(run(&mut t, &horizontal(100.0, 50, 445, ConnState::S0)).is_empty());
    }

    #[test]
    fn trw_successes_cancel_failures_and_benign_walks_restart() {
        let mut t = trw();
        let mut flows = Vec::new();
        // Alternating success and failure: Λ stays at 1.
        for i in 0..40u32 {
            let state = if i % 2 == 0 { ConnState::Sf } else { ConnState::S0 };
            flows.push(flow(f64::from(i), "10.0.0.1", &format!("10.5.0.{i}"), 80, state));
        }
        assert!(run(&mut t, &flows).is_empty());
        assert!(matches!(t.state(ip("10.0.0.1")), TrwState::Pending(l) if (l - 1.0).abs() < 1e-9));
        // Four successes: benign, and the walk goes on from the benign threshold; then four
        // failures are not enough, seven are.
        let mut flows: Vec<Flow> = horizontal(100.0, 4, 80, ConnState::Sf);
        flows.extend(horizontal(200.0, 4, 80, ConnState::S0));
        let ev = run(&mut t, &flows);
        assert_eq!(t.benign_declarations(), 1);
        assert!(ev.is_empty());
        let ev = run(&mut t, &horizontal(300.0, 7, 80, ConnState::S0));
        assert_eq!(ev.len(), 1, "the same hosts are first contacts again after the verdict");
        assert!(ev[0].description.contains("7 of its first contacts with 7 hosts failed"));
        // Unknown states are ignored; with an internal set, only inbound sources count.
        let mut t = Trw::new(TrwConfig {
            internal: Some(PrefixSet::default_internal()),
            ..TrwConfig::default()
        })
        .unwrap();
        let mut flows = horizontal(0.0, 6, 80, ConnState::S0);
        for f in &mut flows {
            f.src = ip("8.8.8.8");
        }
        flows.extend(horizontal(0.0, 6, 80, ConnState::S0));
        let ev = run(&mut t, &flows);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].host, ip("8.8.8.8"));
        assert_eq!(t.state(ip("10.0.0.1")), TrwState::Unknown);
        let mut t = trw();
        assert!(run(&mut t, &horizontal(0.0, 6, 80, ConnState::Oth)).is_empty());
        assert_eq!(t.state(ip("10.0.0.1")), TrwState::Unknown);
    }
}
