//! RITA v5's detectors — beacons, strobes, long connections, threat-intel matches and (from
//! `dns.log`) DNS tunnelling — with RITA's statistics reproduced to the digit, and RITA's final
//! score: the largest bucketed indicator plus modifiers.
//!
//! [`Rita`] is a streaming [`Detector`]: it keeps per (src, dst) pair the connections of the
//! last 24 hours of the input (pruned as the input moves on, so memory grows with the number
//! of distinct pairs, not with the input) and scores everything in
//! [`finish`](Detector::finish) or [`Rita::report`].
//!
//! # What RITA does and what is reproduced
//!
//! * **Import filter** ([`SubnetFilter`]): internal→internal and external→external pairs are
//!   dropped, external→internal too unless `filter_external_to_internal` is off;
//!   `always_included` subnets override everything, `never_included` ones drop the pair.
//! * **Window** ([`Window`]): the last 24 h of the input, `min = max(first, last − 24 h)`,
//!   `max = last` (whole seconds over every kept flow, open rows included). A pair's rows are
//!   taken from the top of the hour holding `min` (RITA selects
//!   `toStartOfHour(ts) >= toStartOfHour(min)`), which is how RITA counts 331 connections for
//!   its planted beacon where a strict 24 h gives 317.
//! * **Beacons** ([`beacon`]): pairs with ≥ 4 distinct seconds and < 86,400 connections; the
//!   v5 score with its four sub-scores. Evidence from a bucket > 0 (score ≥ 0.5).
//! * **Strobes**: pairs with ≥ 86,400 connections in the window, fixed 0.8.
//! * **Long connections** ([`long_conn`]): the window's closed connections plus open ones
//!   (`Flow::open`), each open connection once at its longest, ≥ 1 h in total. A connection
//!   counts when it was active in the window (it ends at or after the window's start).
//! * **Threat intel** ([`intel`]): the external side of each pair on an address feed: 0.8,
//!   plus 0.15 from 25 MB moved (whole input).
//! * **DNS** ([`dns`]): separate, it reads [`DnsQuery`](crate::flow::DnsQuery) rows.
//! * **Final score** ([`ThreatScore`], [`final_score`]): `max(beacon bucket, long-connection
//!   bucket, strobe, threat intel) + modifiers`; the modifiers computed from connections are
//!   prevalence (±0.15), first seen (±0.15, only for rolling datasets, off by default) and the
//!   threat-intel data size. RITA's missing-Host-header, rare-signature and MIME/URI-mismatch
//!   modifiers need `http.log`/`ssl.log`, which flows do not carry: they are left out. (On
//!   RITA's missing-host test data that is exactly the 0.25 between RITA's final 1.05 and
//!   ours, 0.8.)
//!
//! # Evidence
//!
//! Beacons: [`Kind::Beacon`] against the originator, `score` = the beacon score, threat from
//! the bucket ([`ThreatLevel::from_score`]), confidence `min(1, connections/24)` (one
//! connection per hour of the window gives full confidence; a 4-connection beacon is weak
//! evidence however regular). Strobes: [`Kind::Strobe`], high, score 0.8. Long connections:
//! [`Kind::LongConnection`], threat from the bucket, `score` = the bucket, the port of the
//! longest connection. Threat intel: [`Kind::Blacklist`] against the internal side, high,
//! `score` = 0.8 plus the data-size modifier (0.95). Flows are not attached (keeping sample
//! flows per pair would cost more memory than the pair itself); `flow_count` says how many.

pub mod beacon;
pub mod dns;
pub mod intel;
pub mod long_conn;
pub mod stats;

use std::net::{IpAddr, Ipv6Addr};

use foldhash::fast::FixedState;
use hashbrown::hash_map::Entry;
use hashbrown::{HashMap, HashSet};

use crate::detect::Detector;
use crate::evidence::{Evidence, Kind, ThreatLevel};
use crate::flow::{Flow, Proto};
use crate::net::PrefixSet;

pub use beacon::{BeaconConfig, BeaconScore, BeaconWeights, Window};
pub use dns::{DnsConfig, DnsTunnel, DnsTunnels};
pub use intel::{FeedError, IntelHit, ThreatIntel};
pub use long_conn::LongConnection;
pub use stats::Thresholds;

use long_conn::ConnSummary;

/// A RITA setting out of range.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// A beacon weight outside [0, 1].
    #[error("{name} score weight {value} is outside [0, 1]")]
    Weight {
        /// Which weight.
        name: &'static str,
        /// Its value.
        value: f64,
    },
    /// Beacon weights that do not sum to 1.
    #[error("beacon score weights sum to {0}, not 1")]
    WeightSum(f64),
    /// Another setting out of its range.
    #[error("setting {name} = {value} is out of range")]
    Setting {
        /// The setting.
        name: &'static str,
        /// Its value.
        value: f64,
    },
    /// Score thresholds that are not ascending.
    #[error("{0} score thresholds are not ascending")]
    Thresholds(&'static str),
}

/// Which way a kept pair goes, by the internal-subnet list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Internal originator, external responder (the usual case).
    Outbound,
    /// External originator, internal responder (kept only when configured).
    Inbound,
    /// Both internal (kept only through `always_included`).
    Internal,
    /// Both external (kept only through `always_included`).
    External,
}

impl Direction {
    /// The side matched against threat intel and counted for prevalence: the responder,
    /// except for inbound pairs.
    pub fn external(self, src: IpAddr, dst: IpAddr) -> IpAddr {
        if self == Direction::Inbound { src } else { dst }
    }

    /// The internal side, if any (the originator of internal pairs).
    pub fn internal(self, src: IpAddr, dst: IpAddr) -> Option<IpAddr> {
        match self {
            Direction::Outbound | Direction::Internal => Some(src),
            Direction::Inbound => Some(dst),
            Direction::External => None,
        }
    }
}

/// RITA's import filter (`filtering` in its config).
#[derive(Clone, Debug)]
pub struct SubnetFilter {
    /// The internal network (default: [`PrefixSet::default_internal`]).
    pub internal: PrefixSet,
    /// Pairs touching these are always kept, overriding everything else.
    pub always_included: PrefixSet,
    /// Pairs touching these are dropped.
    pub never_included: PrefixSet,
    /// Drop external→internal pairs (default true).
    pub filter_external_to_internal: bool,
}

impl Default for SubnetFilter {
    fn default() -> SubnetFilter {
        SubnetFilter {
            internal: PrefixSet::default_internal(),
            always_included: PrefixSet::new(),
            never_included: PrefixSet::new(),
            filter_external_to_internal: true,
        }
    }
}

impl SubnetFilter {
    /// The direction of a pair to keep, or `None` to drop it.
    pub fn check(&self, src: IpAddr, dst: IpAddr) -> Option<Direction> {
        let dir = match (self.internal.contains(src), self.internal.contains(dst)) {
            (true, false) => Direction::Outbound,
            (false, true) => Direction::Inbound,
            (true, true) => Direction::Internal,
            (false, false) => Direction::External,
        };
        if !self.always_included.is_empty()
            && (self.always_included.contains(src) || self.always_included.contains(dst))
        {
            return Some(dir);
        }
        if !self.never_included.is_empty()
            && (self.never_included.contains(src) || self.never_included.contains(dst))
        {
            return None;
        }
        match dir {
            Direction::Outbound => Some(dir),
            Direction::Inbound if !self.filter_external_to_internal => Some(dir),
            _ => None,
        }
    }
}

/// RITA's score modifiers (`modifiers` in its config).
#[derive(Clone, Debug, PartialEq)]
pub struct Modifiers {
    /// Added to a threat-intel hit that moved at least the threshold (0.15).
    pub threat_intel_score_increase: f64,
    /// Bytes, both ways, for the threat-intel increase (25,000,000).
    pub threat_intel_datasize_threshold: u64,
    /// Added when at most the increase threshold of internal hosts talk to the external
    /// host (0.15).
    pub prevalence_score_increase: f64,
    /// 0.02.
    pub prevalence_increase_threshold: f64,
    /// Subtracted when at least the decrease threshold of internal hosts do (0.15).
    pub prevalence_score_decrease: f64,
    /// 0.5.
    pub prevalence_decrease_threshold: f64,
    /// Apply the first-seen modifier (RITA does for rolling datasets only; default off).
    pub first_seen: bool,
    /// Added when the pair was first seen at most the increase threshold ago (0.15).
    pub first_seen_score_increase: f64,
    /// Days, counted back from the end of the input (7).
    pub first_seen_increase_threshold: f64,
    /// Subtracted when first seen at least the decrease threshold ago (0.15).
    pub first_seen_score_decrease: f64,
    /// Days (30).
    pub first_seen_decrease_threshold: f64,
}

impl Default for Modifiers {
    fn default() -> Modifiers {
        Modifiers {
            threat_intel_score_increase: 0.15,
            threat_intel_datasize_threshold: 25_000_000,
            prevalence_score_increase: 0.15,
            prevalence_increase_threshold: 0.02,
            prevalence_score_decrease: 0.15,
            prevalence_decrease_threshold: 0.5,
            first_seen: false,
            first_seen_score_increase: 0.15,
            first_seen_increase_threshold: 7.0,
            first_seen_score_decrease: 0.15,
            first_seen_decrease_threshold: 30.0,
        }
    }
}

/// Every RITA setting; `Default` is RITA's `default_config.hjson`.
#[derive(Clone, Debug)]
pub struct RitaConfig {
    /// The import filter.
    pub filter: SubnetFilter,
    /// The analysis window, seconds back from the end of the input (86,400).
    pub window_secs: i64,
    /// Beacon settings.
    pub beacon: BeaconConfig,
    /// Total seconds a pair needs to be a long connection (3,600).
    pub long_connection_minimum_duration: f64,
    /// Long-connection bucketing, seconds (1 h / 4 h / 8 h / 12 h).
    pub long_connection_thresholds: Thresholds,
    /// A strobe's score (RITA's "high" category, 0.8).
    pub strobe_score: f64,
    /// A threat-intel hit's score (RITA's "high" category, 0.8).
    pub threat_intel_score: f64,
    /// Score modifiers.
    pub modifiers: Modifiers,
    /// Closed connections at least this long (seconds, default 60) are remembered so that
    /// `open_conn` rows of the same connection read after them are not counted again (Zeek's
    /// hourly folders sort `conn.*` before `open_conn.*`). Shorter ones are not: a connection
    /// logged open and then closed in under this time may be counted twice, by at most this
    /// much.
    pub open_match_min_duration: f64,
}

impl Default for RitaConfig {
    fn default() -> RitaConfig {
        RitaConfig {
            filter: SubnetFilter::default(),
            window_secs: 86_400,
            beacon: BeaconConfig::default(),
            long_connection_minimum_duration: 3600.0,
            long_connection_thresholds: Thresholds::LONG_CONNECTION,
            strobe_score: stats::HIGH_CATEGORY_SCORE,
            threat_intel_score: stats::HIGH_CATEGORY_SCORE,
            modifiers: Modifiers::default(),
            open_match_min_duration: 60.0,
        }
    }
}

impl RitaConfig {
    /// Checks every setting (see [`BeaconConfig::validate`]).
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.beacon.validate()?;
        let bad = |name: &'static str, value: f64| Err(ConfigError::Setting { name, value });
        if self.window_secs < 1 {
            return bad("window_secs", self.window_secs as f64);
        }
        if !self.long_connection_thresholds.is_valid() {
            return Err(ConfigError::Thresholds("long connection"));
        }
        let m = &self.modifiers;
        if m.prevalence_decrease_threshold <= m.prevalence_increase_threshold {
            return bad("prevalence_decrease_threshold", m.prevalence_decrease_threshold);
        }
        if m.first_seen_decrease_threshold <= m.first_seen_increase_threshold {
            return bad("first_seen_decrease_threshold", m.first_seen_decrease_threshold);
        }
        if self.open_match_min_duration.is_nan() || self.open_match_min_duration < 0.0 {
            return bad("open_match_min_duration", self.open_match_min_duration);
        }
        Ok(())
    }
}

/// `max(base scores) + Σ modifiers`: RITA's final score of a pair (0 without a base score).
pub fn final_score(base_scores: &[f64], modifiers: &[f64]) -> f64 {
    let base = base_scores.iter().copied().fold(0.0, f64::max);
    if base <= 0.0 { 0.0 } else { base + modifiers.iter().sum::<f64>() }
}

/// One applied modifier.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Modifier {
    /// RITA's name: `prevalence`, `first_seen`, `threat_intel_datasize`.
    pub name: &'static str,
    /// Its signed score.
    pub score: f64,
}

/// One pair's final RITA score.
#[derive(Clone, Debug, PartialEq)]
pub struct ThreatScore {
    /// The originator.
    pub src: IpAddr,
    /// The responder.
    pub dst: IpAddr,
    /// Beacon bucket (0 when not a beacon).
    pub beacon: f64,
    /// Long-connection bucket.
    pub long_conn: f64,
    /// Strobe score.
    pub strobe: f64,
    /// Threat-intel score (without its modifier).
    pub threat_intel: f64,
    /// The largest of the four.
    pub base: f64,
    /// Share of the internal hosts that talk to the pair's external side.
    pub prevalence: f64,
    /// Modifiers applied (non-zero only).
    pub modifiers: Vec<Modifier>,
    /// `base + Σ modifiers`.
    pub final_score: f64,
}

/// A strobe: a pair with at least 86,400 connections in the window.
#[derive(Clone, Debug, PartialEq)]
pub struct Strobe {
    /// The originator.
    pub src: IpAddr,
    /// The responder.
    pub dst: IpAddr,
    /// Connections in the window.
    pub conns: u64,
    /// The most used destination port and protocol.
    pub port: Option<(u16, Proto)>,
    /// First connection of the pair (whole input), epoch seconds.
    pub first_ts: f64,
    /// Last connection, epoch seconds.
    pub last_ts: f64,
    /// The strobe score (0.8).
    pub score: f64,
}

impl Strobe {
    /// The one-line description used in evidence.
    pub fn describe(&self) -> String {
        format!("Strobe {} → {}: {} connections in the window", self.src, self.dst, self.conns)
    }
}

/// Everything [`Rita`] found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RitaReport {
    /// The analysis window (`None` when no flow was kept).
    pub window: Option<Window>,
    /// Every scored pair (any score), highest score first.
    pub beacons: Vec<BeaconScore>,
    /// Strobes, most connections first.
    pub strobes: Vec<Strobe>,
    /// Pairs with at least the minimum total duration, longest total first.
    pub long_connections: Vec<LongConnection>,
    /// Threat-intel hits, most bytes first.
    pub intel_hits: Vec<IntelHit>,
    /// Final scores of the pairs with a base indicator, highest first.
    pub threats: Vec<ThreatScore>,
    /// Pairs that had enough distinct timestamps but could not be scored (too few non-zero
    /// intervals, say).
    pub unscored: u64,
}

impl RitaReport {
    /// The report as evidence (see the module documentation).
    pub fn evidence(&self, out: &mut Vec<Evidence>) {
        for b in self.beacons.iter().filter(|b| b.bucket > 0.0) {
            let mut e = Evidence::new(
                Kind::Beacon,
                b.src,
                b.last_ts as f64,
                ThreatLevel::from_score(b.bucket),
                b.describe(),
            );
            e.peer = Some(b.dst);
            e.port = b.port.map(|p| p.0);
            e.first_ts = b.first_ts as f64;
            e.confidence = (b.conns as f64 / 24.0).min(1.0);
            e.score = b.score;
            e.flow_count = b.conns;
            out.push(e);
        }
        for s in &self.strobes {
            let mut e = Evidence::new(
                Kind::Strobe,
                s.src,
                s.last_ts,
                ThreatLevel::from_score(s.score),
                s.describe(),
            );
            e.peer = Some(s.dst);
            e.port = s.port.map(|p| p.0);
            e.first_ts = s.first_ts;
            e.score = s.score;
            e.flow_count = s.conns;
            out.push(e);
        }
        for l in self.long_connections.iter().filter(|l| l.bucket > 0.0) {
            let mut e = Evidence::new(
                Kind::LongConnection,
                l.src,
                l.last_ts,
                ThreatLevel::from_score(l.bucket),
                l.describe(),
            );
            e.peer = Some(l.dst);
            e.port = Some(l.longest_port);
            e.first_ts = l.first_ts;
            e.score = l.bucket;
            e.flow_count = l.conns;
            out.push(e);
        }
        for h in &self.intel_hits {
            let mut e = Evidence::new(
                Kind::Blacklist,
                h.internal,
                h.last_ts,
                ThreatLevel::High,
                h.describe(),
            );
            e.peer = Some(h.external);
            e.first_ts = h.first_ts;
            e.score = h.score;
            e.flow_count = h.conns;
            out.push(e);
        }
    }
}

/// Counters of what [`Rita`] saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RitaCounts {
    /// Flows observed.
    pub flows: u64,
    /// Flows kept by the filter.
    pub kept: u64,
    /// Kept flows that were open-connection rows.
    pub open_rows: u64,
}

/// A pair of hosts, as two 128-bit numbers (IPv4 as IPv4-mapped IPv6): hashed and compared
/// as two words, with none of `IpAddr`'s enum bytes. An IPv6 input address of the form
/// `::ffff:a.b.c.d` is therefore the same host as `a.b.c.d`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct PairKey {
    src: u128,
    dst: u128,
}

impl PairKey {
    fn new(src: IpAddr, dst: IpAddr) -> PairKey {
        PairKey { src: ip_bits(src), dst: ip_bits(dst) }
    }

    fn src(&self) -> IpAddr {
        Ipv6Addr::from(self.src).to_canonical()
    }

    fn dst(&self) -> IpAddr {
        Ipv6Addr::from(self.dst).to_canonical()
    }
}

fn ip_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// One connection, as Zeek identifies it across `open_conn` and `conn` rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct ConnKey {
    src: IpAddr,
    dst: IpAddr,
    src_port: u16,
    dst_port: u16,
    proto: Proto,
    ts_bits: u64,
}

impl ConnKey {
    fn of(f: &Flow) -> ConnKey {
        ConnKey {
            src: f.src,
            dst: f.dst,
            src_port: f.src_port,
            dst_port: f.dst_port,
            proto: f.proto,
            ts_bits: f.ts.to_bits(),
        }
    }
}

/// A closed connection kept in a pair's window (32 bytes).
#[derive(Clone, Copy, Debug)]
struct Conn {
    /// Start, whole epoch seconds.
    ts: u32,
    port: u16,
    proto: Proto,
    /// Originator bytes (IP level, else payload): the beacon data size.
    up: u64,
    /// Bytes both ways.
    total: u64,
    /// Seconds.
    dur: f64,
}

impl Conn {
    fn active_since(&self, start: i64) -> bool {
        self.ts as i64 >= start || self.ts as f64 + self.dur >= start as f64
    }
}

/// Connections evicted from a strobe-sized list, tallied per hour.
#[derive(Clone, Copy, Debug)]
struct HourTally {
    hour: i64,
    conns: u64,
    dur: f64,
    bytes: u64,
    longest: Conn,
}

/// An open connection, at its longest report.
#[derive(Clone, Copy, Debug)]
struct OpenConn {
    pair: PairKey,
    ts: f64,
    dur: f64,
    bytes: u64,
    port: u16,
    proto: Proto,
}

/// Distinct (port, protocol) slots tallied per pair.
const PORTS: usize = 3;
/// A pair's list is first pruned at this length.
const MIN_PRUNE: usize = 32;

/// What is kept per pair.
#[derive(Clone, Debug)]
struct Pair {
    conns: Vec<Conn>,
    /// The list length at which to prune next.
    prune_at: u32,
    /// Tallies of connections evicted past the cap (strobe-sized pairs only); boxed so that
    /// the other pairs pay 8 bytes for it, not 24.
    #[allow(clippy::box_collection)]
    evicted: Option<Box<Vec<HourTally>>>,
    dir: Direction,
    intel: bool,
    first: f64,
    last: f64,
    closed: u64,
    bytes: u64,
    ports: [(u16, Proto, u32); PORTS],
}

impl Pair {
    fn new(f: &Flow, dir: Direction, intel: bool) -> Pair {
        Pair {
            conns: Vec::new(),
            prune_at: MIN_PRUNE as u32,
            evicted: None,
            dir,
            intel,
            first: f.ts,
            last: f.ts,
            closed: 0,
            bytes: 0,
            ports: [(0, Proto::Tcp, 0); PORTS],
        }
    }

    fn count_port(&mut self, port: u16, proto: Proto) {
        for slot in self.ports.iter_mut() {
            if slot.2 == 0 {
                *slot = (port, proto, 1);
                return;
            }
            if slot.0 == port && slot.1 == proto {
                slot.2 += 1;
                return;
            }
        }
    }

    fn top_port(&self) -> Option<(u16, Proto)> {
        self.ports.iter().filter(|s| s.2 > 0).max_by_key(|s| s.2).map(|s| (s.0, s.1))
    }

    /// Drops connections that ended before `cutoff`, and the oldest beyond `cap` (tallied).
    fn prune(&mut self, cutoff: i64, cap: usize) {
        self.conns.retain(|c| c.active_since(cutoff));
        if self.conns.len() > cap {
            self.conns.sort_by_key(|c| c.ts);
            let excess = self.conns.len() - cap;
            for c in self.conns.drain(..excess) {
                let hour = (c.ts as i64).div_euclid(3600);
                let evicted = self.evicted.get_or_insert_default();
                match evicted.last_mut() {
                    Some(t) if t.hour == hour => {
                        t.conns += 1;
                        t.dur += c.dur;
                        t.bytes += c.total;
                        if c.dur > t.longest.dur {
                            t.longest = c;
                        }
                    }
                    _ => evicted.push(HourTally {
                        hour,
                        conns: 1,
                        dur: c.dur,
                        bytes: c.total,
                        longest: c,
                    }),
                }
            }
        }
        if let Some(evicted) = &mut self.evicted {
            evicted.retain(|t| t.hour * 3600 >= cutoff);
        }
        let upper = cap + cap / 8 + 1;
        self.prune_at =
            (self.conns.len() * 2).max(MIN_PRUNE).min(upper).min(u32::MAX as usize) as u32;
    }
}

/// RITA's beacon, strobe, long-connection and threat-intel detectors over flows.
#[derive(Debug)]
pub struct Rita {
    cfg: RitaConfig,
    intel: Option<ThreatIntel>,
    pairs: HashMap<PairKey, Pair, FixedState>,
    /// Pairs the filter dropped, so that their later flows cost one lookup, not two prefix
    /// searches.
    dropped: HashSet<PairKey, FixedState>,
    open: HashMap<ConnKey, OpenConn, FixedState>,
    open_prune_at: usize,
    closed_long: HashMap<ConnKey, f64, FixedState>,
    closed_prune_at: usize,
    min_ts: i64,
    max_ts: i64,
    /// `max − window` rounded down to the hour: nothing before it can be in the window.
    cutoff: i64,
    counts: RitaCounts,
    last_report: Option<RitaReport>,
}

impl Rita {
    /// A detector with validated settings and no threat intel.
    pub fn new(cfg: RitaConfig) -> Result<Rita, ConfigError> {
        cfg.validate()?;
        Ok(Rita {
            cfg,
            intel: None,
            pairs: HashMap::default(),
            dropped: HashSet::default(),
            open: HashMap::default(),
            open_prune_at: 1024,
            closed_long: HashMap::default(),
            closed_prune_at: 1024,
            min_ts: i64::MAX,
            max_ts: i64::MIN,
            cutoff: i64::MIN,
            counts: RitaCounts::default(),
            last_report: None,
        })
    }

    /// Matches pairs against threat-intel feeds (address entries; domains are matched by
    /// [`DnsTunnels`]). Set it before the first flow.
    pub fn with_intel(mut self, intel: ThreatIntel) -> Rita {
        self.intel = Some(intel);
        self
    }

    /// The settings.
    pub fn config(&self) -> &RitaConfig {
        &self.cfg
    }

    /// What was seen so far.
    pub fn counts(&self) -> RitaCounts {
        self.counts
    }

    /// Distinct pairs kept.
    pub fn pairs(&self) -> usize {
        self.pairs.len()
    }

    /// The report made by [`finish`](Detector::finish), if it ran.
    pub fn last_report(&self) -> Option<&RitaReport> {
        self.last_report.as_ref()
    }

    /// The window over the input seen so far.
    pub fn window(&self) -> Option<Window> {
        (self.max_ts >= self.min_ts)
            .then(|| Window::of_dataset(self.min_ts, self.max_ts, self.cfg.window_secs))
    }

    /// The first and last whole second of the flows kept so far.
    pub fn bounds(&self) -> Option<(i64, i64)> {
        (self.max_ts >= self.min_ts).then_some((self.min_ts, self.max_ts))
    }

    /// Widens the dataset's bounds to include `min..=max`: when the input is split among
    /// several detectors (by pair), each must score against the whole dataset's window.
    pub fn widen_bounds(&mut self, min: i64, max: i64) {
        self.min_ts = self.min_ts.min(min);
        if max > self.max_ts {
            self.max_ts = max;
            self.cutoff = (max - self.cfg.window_secs).div_euclid(3600) * 3600;
        }
    }

    /// The external side of every kept pair: the addresses connected to directly (for the
    /// DNS "c2_over_dns_direct_conn" modifier).
    pub fn destinations(&self) -> HashSet<IpAddr, FixedState> {
        self.pairs.iter().map(|(k, p)| p.dir.external(k.src(), k.dst())).collect()
    }

    /// (internal host, external peer) of every kept pair that crosses the boundary: who talks
    /// to whom, for RITA's prevalence.
    pub fn host_peers(&self) -> impl Iterator<Item = (IpAddr, IpAddr)> + '_ {
        self.pairs.iter().filter_map(|(k, p)| match p.dir {
            Direction::Outbound => Some((k.src(), k.dst())),
            Direction::Inbound => Some((k.dst(), k.src())),
            Direction::Internal | Direction::External => None,
        })
    }

    fn observe_open(&mut self, pair: PairKey, f: &Flow, dur: f64, bytes: u64) {
        let key = ConnKey::of(f);
        if self.closed_long.contains_key(&key) {
            return;
        }
        match self.open.entry(key) {
            Entry::Occupied(mut e) => {
                let o = e.get_mut();
                if dur >= o.dur {
                    o.dur = dur;
                    o.bytes = bytes;
                }
            }
            Entry::Vacant(e) => {
                e.insert(OpenConn { pair, ts: f.ts, dur, bytes, port: f.dst_port, proto: f.proto });
            }
        }
        if self.open.len() >= self.open_prune_at {
            let cut = self.cutoff as f64;
            self.open.retain(|_, o| o.ts + o.dur >= cut);
            self.open_prune_at = (self.open.len() * 2).max(1024);
        }
    }

    fn observe_long_closed(&mut self, f: &Flow, dur: f64) {
        let key = ConnKey::of(f);
        self.open.remove(&key);
        self.closed_long.insert(key, f.ts + dur);
        if self.closed_long.len() >= self.closed_prune_at {
            let cut = self.cutoff as f64;
            self.closed_long.retain(|_, end| *end >= cut);
            self.closed_prune_at = (self.closed_long.len() * 2).max(1024);
        }
    }

    /// Scores everything seen so far (the input may go on afterwards).
    pub fn report(&self) -> RitaReport {
        let Some(window) = self.window() else {
            return RitaReport::default();
        };
        let start = window.start;
        let cfg = &self.cfg;

        let mut open_by_pair: HashMap<PairKey, Vec<&OpenConn>, FixedState> = HashMap::default();
        let mut open_bytes: HashMap<PairKey, (u64, u64), FixedState> = HashMap::default();
        for o in self.open.values() {
            let b = open_bytes.entry(o.pair).or_default();
            b.0 += 1;
            b.1 += o.bytes;
            if o.ts + o.dur >= start as f64 {
                open_by_pair.entry(o.pair).or_default().push(o);
            }
        }

        // Prevalence: distinct internal hosts per external host, over all internal hosts.
        let mut internal_hosts: HashSet<IpAddr, FixedState> = HashSet::default();
        let mut links: HashSet<(IpAddr, IpAddr), FixedState> = HashSet::default();
        for (k, p) in &self.pairs {
            if let Some(int) = p.dir.internal(k.src(), k.dst()) {
                internal_hosts.insert(int);
                links.insert((p.dir.external(k.src(), k.dst()), int));
            }
        }
        let mut talkers: HashMap<IpAddr, u64, FixedState> = HashMap::default();
        for (ext, _) in &links {
            *talkers.entry(*ext).or_default() += 1;
        }
        let n_internal = internal_hosts.len().max(1) as f64;

        let mut report = RitaReport { window: Some(window), ..RitaReport::default() };
        let mut ts_buf: Vec<i64> = Vec::new();
        let mut size_buf: Vec<u64> = Vec::new();
        for (key, pair) in &self.pairs {
            let (src, dst) = (key.src(), key.dst());
            ts_buf.clear();
            size_buf.clear();
            let mut long = LongConnection::new(src, dst);
            long.first_ts = pair.first;
            long.last_ts = pair.last;
            for c in &pair.conns {
                if c.ts as i64 >= start {
                    ts_buf.push(c.ts as i64);
                    size_buf.push(c.up);
                }
                if c.active_since(start) {
                    long.add(&summary(c, 1, c.dur, c.total, false));
                }
            }
            let mut conns = ts_buf.len() as u64;
            for t in pair.evicted.iter().flat_map(|e| e.iter()).filter(|t| t.hour * 3600 >= start) {
                conns += t.conns;
                long.add(&summary(&t.longest, t.conns, t.dur, t.bytes, false));
            }
            if let Some(open) = open_by_pair.get(key) {
                for o in open {
                    long.add(&ConnSummary {
                        duration: o.dur,
                        longest: o.dur,
                        conns: 1,
                        bytes: o.bytes,
                        port: o.port,
                        proto: o.proto,
                        open: true,
                        ts: o.ts,
                    });
                }
            }
            long.score(&cfg.long_connection_thresholds);

            let mut beacon_bucket = 0.0;
            let mut strobe = 0.0;
            if conns >= cfg.beacon.strobe_threshold {
                strobe = cfg.strobe_score;
                report.strobes.push(Strobe {
                    src,
                    dst,
                    conns,
                    port: pair.top_port(),
                    first_ts: pair.first,
                    last_ts: pair.last,
                    score: cfg.strobe_score,
                });
            } else if !ts_buf.is_empty() {
                ts_buf.sort_unstable();
                let unique = 1 + ts_buf.windows(2).filter(|w| w[0] != w[1]).count() as u64;
                if unique >= cfg.beacon.unique_connection_threshold {
                    size_buf.sort_unstable();
                    match beacon::score_pair(&ts_buf, &size_buf, &window, &cfg.beacon) {
                        Ok(p) => {
                            beacon_bucket = stats::bucket(p.score * 100.0, &cfg.beacon.thresholds);
                            report.beacons.push(BeaconScore {
                                src,
                                dst,
                                port: pair.top_port(),
                                score: p.score,
                                ts: p.ts.score,
                                ds: p.ds.score,
                                dur: p.dur.score,
                                hist: p.hist.score,
                                conns,
                                unique_ts: unique,
                                bucket: beacon_bucket,
                                first_ts: ts_buf[0],
                                last_ts: ts_buf[ts_buf.len() - 1],
                                bytes: size_buf.iter().sum(),
                                ts_skew: p.ts.skew,
                                ts_mad: p.ts.mad,
                                ts_mode: (p.ts.mode, p.ts.mode_count),
                                ds_skew: p.ds.skew,
                                ds_mad: p.ds.mad,
                                ds_mode: (p.ds.mode, p.ds.mode_count),
                                coverage: p.dur.coverage,
                                consistency: p.dur.consistency,
                                cv_score: p.hist.cv_score,
                                bimodal_fit: p.hist.bimodal_fit,
                                bars: p.hist.histogram.bars,
                                longest_run: p.hist.histogram.longest_run,
                                histogram: p.hist.histogram.freq,
                            });
                        }
                        Err(_) => report.unscored += 1,
                    }
                }
            }

            let long_bucket = if long.total_duration >= cfg.long_connection_minimum_duration {
                long.bucket
            } else {
                0.0
            };

            let external = pair.dir.external(src, dst);
            let mut intel_score = 0.0;
            let mut intel_modifier = 0.0;
            if pair.intel
                && let Some(matched) = self.intel.as_ref().and_then(|ti| ti.match_ip(external))
            {
                let (open_n, open_b) = open_bytes.get(key).copied().unwrap_or((0, 0));
                let bytes = pair.bytes + open_b;
                if bytes >= cfg.modifiers.threat_intel_datasize_threshold {
                    intel_modifier = cfg.modifiers.threat_intel_score_increase;
                }
                intel_score = cfg.threat_intel_score;
                report.intel_hits.push(IntelHit {
                    src,
                    dst,
                    external,
                    internal: pair.dir.internal(src, dst).unwrap_or(src),
                    matched,
                    conns: pair.closed + open_n,
                    bytes,
                    first_ts: pair.first,
                    last_ts: pair.last,
                    modifier: intel_modifier,
                    score: intel_score + intel_modifier,
                });
            }

            if long_bucket > 0.0 {
                report.long_connections.push(long);
            }

            let base = beacon_bucket.max(long_bucket).max(strobe).max(intel_score);
            if base > 0.0 {
                let m = &cfg.modifiers;
                let mut modifiers = Vec::new();
                let prevalence = match pair.dir.internal(src, dst) {
                    Some(_) => talkers.get(&external).copied().unwrap_or(0) as f64 / n_internal,
                    None => 0.0,
                };
                if pair.dir != Direction::External {
                    if prevalence <= m.prevalence_increase_threshold {
                        modifiers.push(Modifier {
                            name: "prevalence",
                            score: m.prevalence_score_increase,
                        });
                    } else if prevalence >= m.prevalence_decrease_threshold {
                        modifiers.push(Modifier {
                            name: "prevalence",
                            score: -m.prevalence_score_decrease,
                        });
                    }
                }
                if m.first_seen {
                    let days = (window.max as f64 - pair.first) / 86_400.0;
                    if days <= m.first_seen_increase_threshold {
                        modifiers.push(Modifier {
                            name: "first_seen",
                            score: m.first_seen_score_increase,
                        });
                    } else if days >= m.first_seen_decrease_threshold {
                        modifiers.push(Modifier {
                            name: "first_seen",
                            score: -m.first_seen_score_decrease,
                        });
                    }
                }
                if intel_modifier > 0.0 {
                    modifiers
                        .push(Modifier { name: "threat_intel_datasize", score: intel_modifier });
                }
                let scores: Vec<f64> = modifiers.iter().map(|m| m.score).collect();
                report.threats.push(ThreatScore {
                    src,
                    dst,
                    beacon: beacon_bucket,
                    long_conn: long_bucket,
                    strobe,
                    threat_intel: intel_score,
                    base,
                    prevalence,
                    final_score: final_score(&[base], &scores),
                    modifiers,
                });
            }
        }

        let by_pair = |a: (IpAddr, IpAddr), b: (IpAddr, IpAddr)| a.cmp(&b);
        report.beacons.sort_by(|a, b| {
            b.score.total_cmp(&a.score).then(by_pair((a.src, a.dst), (b.src, b.dst)))
        });
        report
            .strobes
            .sort_by(|a, b| b.conns.cmp(&a.conns).then(by_pair((a.src, a.dst), (b.src, b.dst))));
        report.long_connections.sort_by(|a, b| {
            b.total_duration
                .total_cmp(&a.total_duration)
                .then(by_pair((a.src, a.dst), (b.src, b.dst)))
        });
        report
            .intel_hits
            .sort_by(|a, b| b.bytes.cmp(&a.bytes).then(by_pair((a.src, a.dst), (b.src, b.dst))));
        report.threats.sort_by(|a, b| {
            b.final_score.total_cmp(&a.final_score).then(by_pair((a.src, a.dst), (b.src, b.dst)))
        });
        report
    }
}

/// A closed connection as a long-connection summary.
fn summary(c: &Conn, conns: u64, duration: f64, bytes: u64, open: bool) -> ConnSummary {
    ConnSummary {
        duration,
        longest: c.dur,
        conns,
        bytes,
        port: c.port,
        proto: c.proto,
        open,
        ts: c.ts as f64,
    }
}

impl Detector for Rita {
    fn observe(&mut self, flow: &Flow, _out: &mut Vec<Evidence>) {
        self.counts.flows += 1;
        if !flow.ts.is_finite() {
            return;
        }
        // One hash lookup: a pair already kept has passed the filter (a pure function of the
        // two addresses); the filter runs for new pairs only.
        let key = PairKey::new(flow.src, flow.dst);
        let pair = match self.pairs.entry(key) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                if self.dropped.contains(&key) {
                    return;
                }
                let Some(dir) = self.cfg.filter.check(flow.src, flow.dst) else {
                    self.dropped.insert(key);
                    return;
                };
                let ext = dir.external(flow.src, flow.dst);
                let hit = self.intel.as_ref().is_some_and(|ti| ti.match_ip(ext).is_some());
                e.insert(Pair::new(flow, dir, hit))
            }
        };
        self.counts.kept += 1;
        let secs = (flow.ts.floor() as i64).clamp(0, u32::MAX as i64);
        self.min_ts = self.min_ts.min(secs);
        if secs > self.max_ts {
            self.max_ts = secs;
            // A lower bound of the final window's start whatever comes later (an earlier
            // flow may still lower the dataset's min, never its max).
            self.cutoff = (secs - self.cfg.window_secs).div_euclid(3600) * 3600;
        }
        let dur = match flow.duration {
            Some(d) if d.is_finite() && d > 0.0 => d,
            _ => 0.0,
        };
        let bytes = flow.bytes_up().saturating_add(flow.bytes_down());
        pair.count_port(flow.dst_port, flow.proto);
        pair.first = pair.first.min(flow.ts);
        pair.last = pair.last.max(flow.ts);
        if flow.open {
            self.counts.open_rows += 1;
            self.observe_open(key, flow, dur, bytes);
            return;
        }
        pair.closed += 1;
        pair.bytes = pair.bytes.saturating_add(bytes);
        if pair.conns.capacity() == 0 {
            // Most pairs of a scan or of background traffic see one connection: 32 bytes
            // then, not the 128 of a default first allocation.
            pair.conns.reserve_exact(1);
        }
        pair.conns.push(Conn {
            ts: secs as u32,
            port: flow.dst_port,
            proto: flow.proto,
            up: flow.bytes_up(),
            total: bytes,
            dur,
        });
        if pair.conns.len() >= pair.prune_at as usize {
            pair.prune(self.cutoff, self.cfg.beacon.max_timestamps);
        }
        if dur >= self.cfg.open_match_min_duration {
            self.observe_long_closed(flow, dur);
        }
    }

    fn finish(&mut self, out: &mut Vec<Evidence>) {
        let report = self.report();
        report.evidence(out);
        self.last_report = Some(report);
    }
}

#[cfg(test)]
mod tests;
