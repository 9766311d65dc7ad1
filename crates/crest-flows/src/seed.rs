//! The seed analyzer's checks (`analyzer.py`, flows.md Part 1 steps 0–4), with its bugs fixed.
//!
//! One [`Seed`] detector runs every check on each flow, in the reference's order:
//!
//! 0. **Basic checks.** A TCP/UDP flow to an *interesting* destination port (0, 81, 82) alerts
//!    "Using interesting port number N"; a flow to 255.255.255.255 alerts as a DHCP discover
//!    (from 0.0.0.0) or as a malformed DHCP / local-gateway flow (from anything else). The
//!    reference compared strings by identity and never fired the second check; this one does.
//! 1. **Blacklist.** Source and destination are each looked up in a [`PrefixSet`] (addresses
//!    and CIDR prefixes), alerting "Blacklisted source IP: X" / "Blacklisted dest IP: Y" with
//!    the right address in each (the reference printed the source twice and skipped the
//!    destination check once the source was clean).
//! 2. **Port activity** (TCP/UDP flows to non-popular ports): per destination port, bytes up
//!    and down, connections, first use, and the number of distinct source and destination IPs.
//!    No alert, statistics only ([`Seed::port_stats`]). The distinct counts are exact up to
//!    [`EXACT_DISTINCT`] addresses per port, then a HyperLogLog estimate (about 3% error), so
//!    memory stays bounded by the number of ports.
//! 3. **IP activity**, for source and destination alike: bytes sent and received (the first
//!    flow's included: the reference dropped them), connections, distinct destination ports
//!    ([`Seed::ip_stats`]). An IP whose distinct-port count exceeds the 90th percentile of all
//!    IPs' counts (taken after the flow is counted, for both of its IPs), on a flow to a
//!    non-popular port, alerts once "IP X using too many ports: N"; one with more than 100
//!    ports alerts once "IP X using more than 100 ports: N", on whatever port tips it over.
//! 4. **IQR outliers per 10-second window.** Per (src, dst) pair in the window: connections,
//!    distinct destination ports, bytes, packets and destination ports new to the pair (unseen
//!    for 10 minutes). A pair whose connection count or distinct-port count is above
//!    Q3 + 1.5·IQR of the window's pairs alerts "Flagged by IQR based outlier detection for
//!    ports or connections", with the pair's flows ([`Seed::last_window`] has every pair's
//!    numbers). The rule is noisy by nature: when most pairs have one connection the fence is
//!    1, and any pair with two is an outlier (about 77,000 reports on the 3.3 million flows of
//!    the synthetic office log); hence threat low, confidence 0.5.
//!
//! # Definitions
//!
//! * **Percentile** (step 3): *nearest rank*. Over the N IPs seen so far, sorted by
//!   distinct-port count, the p-th percentile is the count at 1-based rank ⌈p·N⌉. An IP alerts
//!   when its count is strictly greater, so the top IP of a population of one never does. The
//!   counts live in a histogram (count → number of IPs) kept as a Fenwick tree
//!   ([`CountHistogram`]): each flow moves an IP from count c to c + 1 in O(log max-count), and
//!   the percentile is one O(log max-count) descent, never a re-sort. Two guards keep a tiny
//!   or quiet population quiet: at least [`SeedConfig::min_ips`] IPs seen (default 10) and at
//!   least [`SeedConfig::min_ports`] distinct ports on the IP itself (default 10).
//! * **Quartiles** (step 4): linear interpolation between order statistics (Hyndman & Fan
//!   type 7, numpy's and R's default): over n sorted values, Qp = x[⌊h⌋] + (h − ⌊h⌋)(x[⌊h⌋+1] −
//!   x[⌊h⌋]) with h = (n − 1)p. A window needs at least [`SeedConfig::iqr_min_pairs`] pairs
//!   (default 4) to be judged.
//! * **Ports** are counted for TCP and UDP flows only (an ICMP flow's "ports" are its type
//!   and code); the port number alone is the key, as in the reference.
//! * **Windows** (step 4) are aligned to the epoch: a flow at `ts` belongs to the window
//!   starting ⌊ts/10⌋·10. The window closes when a flow of a later window arrives (or at
//!   [`Detector::finish`]); a late flow, from a window already closed, is counted in the open
//!   one.
//!
//! # Threat levels (Slips' scale) and confidence
//!
//! | alert | threat | confidence | host | why |
//! |---|---|---|---|---|
//! | interesting port | low | 1 | source | odd, not harmful by itself |
//! | broadcast from 0.0.0.0 | info | 1 | 0.0.0.0 | a normal DHCP discover |
//! | broadcast from another address | low | 1 | source | malformed DHCP or gateway noise |
//! | blacklisted source / dest IP | high | 1 | the other side | a known-bad address |
//! | too many ports (percentile) | medium | 0.5 | the IP | relative: any population's top decile |
//! | more than 100 ports | high | 1 | the IP | absolute |
//! | either, about the destination side | info | as above | the IP | a target, not an actor |
//! | IQR outlier | low | 0.5 | the pair's source | statistical, per 10 s |
//!
//! A blacklist alert counts against the *other* side of the flow (the host that talked to the
//! listed address), as [`Evidence::host`] prescribes; the listed address is the `peer`.
//!
//! The reference alerts on every flow; crest reports the per-flow checks once per key:
//! interesting port once per (src, dst, port), broadcast once per source, blacklist once per
//! (listed address, other side, direction), too-many-ports and more-than-100 once per IP.

use std::cmp::Ordering;
use std::hash::{BuildHasher, Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr};

use foldhash::fast::FixedState;
use hashbrown::hash_map::Entry;
use hashbrown::{HashMap, HashSet};
use serde::Deserialize;

use crate::detect::Detector;
use crate::evidence::{Evidence, FlowSample, Kind, ThreatLevel};
use crate::flow::{Flow, FlowRef, Proto};
use crate::net::PrefixSet;

type Map<K, V> = HashMap<K, V, FixedState>;
type Set<K> = HashSet<K, FixedState>;

/// How many distinct addresses per port are counted exactly before switching to an estimate.
pub const EXACT_DISTINCT: usize = 64;

/// The IQR alert's text, as the seed words it.
pub const IQR_DESCRIPTION: &str = "Flagged by IQR based outlier detection for ports or connections";

/// The limited broadcast address.
const BROADCAST: IpAddr = IpAddr::V4(Ipv4Addr::BROADCAST);

/// At most this many evidence-flow buffers are kept for reuse between IQR windows.
const POOL_MAX: usize = 4096;

/// A parameter outside its allowed range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{param} must be {rule}, got {value}")]
pub struct ConfigError {
    /// The parameter's name.
    pub param: &'static str,
    /// The rule it breaks, in words.
    pub rule: &'static str,
    /// The value given.
    pub value: String,
}

/// The seed analyzer's parameters; the defaults are the reference's.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SeedConfig {
    /// Ports of ordinary traffic: no port statistics, no too-many-ports alert on them.
    pub popular_ports: Vec<u16>,
    /// Destination ports that alert on sight (0 reserved, 81 Tor, 82 Tor control).
    pub interesting_ports: Vec<u16>,
    /// Listed addresses and prefixes (filled from files by the caller; not part of the TOML).
    #[serde(skip)]
    pub blacklist: PrefixSet,
    /// IQR window width in seconds (> 0).
    pub window: f64,
    /// The too-many-ports percentile, in (0, 1].
    pub percentile: f64,
    /// More distinct ports than this alerts "using more than N ports" (≥ 1).
    pub hard_limit: u32,
    /// Seconds after which a pair's destination port counts as new again (≥ 0).
    pub port_ageing: f64,
    /// Fewest distinct ports an IP needs before the percentile rule may flag it.
    pub min_ports: u32,
    /// Fewest IPs seen before the percentile rule applies at all.
    pub min_ips: u64,
    /// Fewest pairs a window needs for its IQR to be judged (≥ 2).
    pub iqr_min_pairs: usize,
}

impl Default for SeedConfig {
    fn default() -> SeedConfig {
        SeedConfig {
            popular_ports: vec![80, 8080, 443, 22, 53, 123, 143, 993],
            interesting_ports: vec![0, 81, 82],
            blacklist: PrefixSet::new(),
            window: 10.0,
            percentile: 0.9,
            hard_limit: 100,
            port_ageing: 600.0,
            min_ports: 10,
            min_ips: 10,
            iqr_min_pairs: 4,
        }
    }
}

impl SeedConfig {
    /// Checks every parameter, reporting the first one out of range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |param, rule, value: String| Err(ConfigError { param, rule, value });
        if !(self.window.is_finite() && self.window > 0.0) {
            return bad("window", "a positive number of seconds", self.window.to_string());
        }
        if !(self.percentile > 0.0 && self.percentile <= 1.0) {
            return bad("percentile", "in (0, 1]", self.percentile.to_string());
        }
        if self.hard_limit == 0 {
            return bad("hard_limit", "at least 1", "0".into());
        }
        if self.port_ageing.is_nan() || self.port_ageing < 0.0 {
            return bad("port_ageing", "≥ 0 seconds", self.port_ageing.to_string());
        }
        if self.iqr_min_pairs < 2 {
            return bad("iqr_min_pairs", "at least 2", self.iqr_min_pairs.to_string());
        }
        Ok(())
    }
}

/// A set of ports as a 65,536-bit bitmap.
#[derive(Clone)]
struct PortBits(Box<[u64; 1024]>);

impl PortBits {
    fn new(ports: &[u16]) -> PortBits {
        let mut bits = PortBits(Box::new([0; 1024]));
        for &p in ports {
            bits.0[p as usize >> 6] |= 1 << (p & 63);
        }
        bits
    }

    #[inline]
    fn contains(&self, p: u16) -> bool {
        self.0[p as usize >> 6] & (1 << (p & 63)) != 0
    }
}

// ---------------------------------------------------------------------------------------------
// The percentile histogram.

/// How many items hold each count, for counts that only grow by one: a Fenwick tree over
/// counts, answering nearest-rank percentiles in O(log max-count).
#[derive(Clone, Debug)]
pub struct CountHistogram {
    /// 1-based Fenwick array over counts 0..size (index c + 1); size is a power of two.
    tree: Vec<u64>,
    /// Items in all.
    total: u64,
}

impl Default for CountHistogram {
    fn default() -> CountHistogram {
        CountHistogram::new()
    }
}

impl CountHistogram {
    /// An empty histogram.
    pub fn new() -> CountHistogram {
        CountHistogram { tree: vec![0; 65], total: 0 }
    }

    /// How many items it holds.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// Whether it holds no item.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    fn size(&self) -> usize {
        self.tree.len() - 1
    }

    /// Adds `delta` (±1) at `count`, doubling the tree until it covers the count.
    fn add(&mut self, count: u32, delta: i64) {
        let mut i = count as usize + 1;
        while i > self.size() {
            // Doubling a power-of-two Fenwick tree: the new top node covers everything, the
            // nodes between cover only the new (empty) counts.
            let n = self.size();
            self.tree.resize(2 * n + 1, 0);
            self.tree[2 * n] = self.total;
        }
        let size = self.size();
        while i <= size {
            self.tree[i] = self.tree[i].wrapping_add_signed(delta);
            i += i & i.wrapping_neg();
        }
    }

    /// Adds an item with count `count`.
    pub fn insert(&mut self, count: u32) {
        self.add(count, 1);
        self.total += 1;
    }

    /// Moves one item from `count` to `count + 1`.
    pub fn increment(&mut self, count: u32) {
        // Add before removing: a doubling in `add` copies the total, which must then match
        // the tree's sum.
        self.add(count + 1, 1);
        self.add(count, -1);
    }

    /// The smallest count c such that at least `rank` items have a count ≤ c (1-based rank),
    /// or `None` if `rank` is 0 or above the number of items.
    pub fn at_rank(&self, rank: u64) -> Option<u32> {
        if rank == 0 || rank > self.total {
            return None;
        }
        let size = self.size();
        let (mut pos, mut rem, mut step) = (0usize, rank, size);
        while step > 0 {
            if pos + step <= size && self.tree[pos + step] < rem {
                pos += step;
                rem -= self.tree[pos];
            }
            step >>= 1;
        }
        // pos + 1 is the first index whose prefix reaches the rank; index c + 1 holds count c.
        Some(pos as u32)
    }

    /// The nearest-rank `p`-percentile of the counts (see [`nearest_rank`]), if any item.
    pub fn percentile(&self, p: f64) -> Option<u32> {
        self.at_rank(nearest_rank(p, self.total))
    }
}

/// The 1-based nearest rank of the `p`-percentile among `n` sorted values: ⌈p·n⌉, at least 1
/// and at most n (0 when n is 0). A hair below the ceiling is forgiven, so 0.9 × 10 is rank 9.
pub fn nearest_rank(p: f64, n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    let r = (p * n as f64 - 1e-9).ceil();
    (r.max(1.0) as u64).min(n)
}

// ---------------------------------------------------------------------------------------------
// Distinct counting with bounded memory.

/// HyperLogLog precision: 2^10 registers, a standard error of about 3.3%.
const HLL_P: u32 = 10;
const HLL_M: usize = 1 << HLL_P;

/// A HyperLogLog sketch of a set of addresses.
#[derive(Clone)]
struct Hll(Box<[u8; HLL_M]>);

impl Hll {
    fn new() -> Hll {
        Hll(Box::new([0; HLL_M]))
    }

    fn insert(&mut self, ip: IpAddr) {
        let h = mix64(FixedState::with_seed(0x5eed).hash_one(ip));
        let idx = (h >> (64 - HLL_P)) as usize;
        let rest = (h << HLL_P) | (1 << (HLL_P - 1));
        let rho = rest.leading_zeros() as u8 + 1;
        if self.0[idx] < rho {
            self.0[idx] = rho;
        }
    }

    fn estimate(&self) -> u64 {
        let m = HLL_M as f64;
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let (mut sum, mut zeros) = (0.0, 0usize);
        for &r in self.0.iter() {
            sum += (-(r as f64)).exp2();
            zeros += usize::from(r == 0);
        }
        let raw = alpha * m * m / sum;
        let est = if raw <= 2.5 * m && zeros > 0 { m * (m / zeros as f64).ln() } else { raw };
        est.round() as u64
    }
}

/// SplitMix64's finaliser, to spread a hash's entropy over all 64 bits.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Distinct addresses: exact up to [`EXACT_DISTINCT`], a HyperLogLog estimate beyond.
#[derive(Clone)]
enum Distinct {
    Exact(Set<Ip>),
    Sketch(Hll),
}

impl Default for Distinct {
    fn default() -> Distinct {
        Distinct::Exact(Set::default())
    }
}

impl Distinct {
    fn insert(&mut self, ip: IpAddr) {
        match self {
            Distinct::Exact(set) => {
                if set.len() < EXACT_DISTINCT || set.contains(&Ip(ip)) {
                    set.insert(Ip(ip));
                } else {
                    let mut hll = Hll::new();
                    for a in set.iter() {
                        hll.insert(a.0);
                    }
                    hll.insert(ip);
                    *self = Distinct::Sketch(hll);
                }
            }
            Distinct::Sketch(hll) => hll.insert(ip),
        }
    }

    fn count(&self) -> u64 {
        match self {
            Distinct::Exact(set) => set.len() as u64,
            Distinct::Sketch(hll) => hll.estimate(),
        }
    }

    fn exact(&self) -> bool {
        matches!(self, Distinct::Exact(_))
    }
}

// ---------------------------------------------------------------------------------------------
// Cheap keys and small sets (the scan detectors use them too).

/// An address that hashes as one integer (`IpAddr`'s own hash writes its variant too). Equal
/// addresses hash equally, which is all a table needs; an IPv4 address is one 32-bit write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ip(pub(crate) IpAddr);

impl Hash for Ip {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self.0 {
            IpAddr::V4(a) => state.write_u32(a.to_bits()),
            IpAddr::V6(a) => state.write_u128(a.to_bits()),
        }
    }
}

/// A set that is usually tiny: up to `N` items in an inline list searched in order, then a hash
/// set holding them all.
pub(crate) struct SmallSet<T, const N: usize> {
    /// How many items `inline` holds (0 once spilled).
    len: usize,
    inline: [T; N],
    /// Every item, once there were more than `N` (empty before).
    spill: Set<T>,
}

impl<T: Copy + Eq + Hash, const N: usize> SmallSet<T, N> {
    /// An empty set; `fill` pads the inline list and is never read.
    pub(crate) fn new(fill: T) -> Self {
        SmallSet { len: 0, inline: [fill; N], spill: Set::default() }
    }

    /// Adds `x`; whether it was new.
    #[inline]
    pub(crate) fn insert(&mut self, x: T) -> bool {
        if !self.spill.is_empty() {
            return self.spill.insert(x);
        }
        if self.inline[..self.len].contains(&x) {
            return false;
        }
        if self.len < N {
            self.inline[self.len] = x;
            self.len += 1;
            return true;
        }
        self.spill.reserve(2 * N);
        self.spill.extend(self.inline.iter().copied());
        self.spill.insert(x);
        self.len = 0;
        true
    }

    /// How many items it holds.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len + self.spill.len()
    }

    /// Empties the set, keeping the hash set's memory for the next items.
    pub(crate) fn clear(&mut self) {
        self.len = 0;
        self.spill.clear();
    }
}

// ---------------------------------------------------------------------------------------------
// Statistics exposed for output.

/// Step 2's statistics for one non-popular destination port.
#[derive(Clone, Debug, PartialEq)]
pub struct PortStats {
    /// The destination port.
    pub port: u16,
    /// Flows to it.
    pub conns: u64,
    /// Bytes sent by the originators.
    pub bytes_up: u64,
    /// Bytes sent by the responders.
    pub bytes_down: u64,
    /// First use (epoch seconds).
    pub first_ts: f64,
    /// Last use (epoch seconds).
    pub last_ts: f64,
    /// The first flow's source.
    pub first_src: IpAddr,
    /// The first flow's destination.
    pub first_dst: IpAddr,
    /// Distinct source IPs (exact when `exact`, else a HyperLogLog estimate).
    pub src_ips: u64,
    /// Distinct destination IPs (exact when `exact`, else an estimate).
    pub dst_ips: u64,
    /// Whether both distinct counts are exact.
    pub exact: bool,
}

/// Step 3's statistics for one IP (as source and as destination).
#[derive(Clone, Debug, PartialEq)]
pub struct IpStats {
    /// The address.
    pub ip: IpAddr,
    /// Bytes it sent.
    pub bytes_up: u64,
    /// Bytes it received.
    pub bytes_down: u64,
    /// Flows it took part in.
    pub conns: u64,
    /// Distinct destination ports of its TCP/UDP flows (either side).
    pub ports: u32,
    /// Its first flow (epoch seconds).
    pub first_ts: f64,
    /// Its last flow (epoch seconds).
    pub last_ts: f64,
}

/// Step 4's statistics for one (src, dst) pair in a closed window.
#[derive(Clone, Debug, PartialEq)]
pub struct PairStats {
    /// The window's start (epoch seconds).
    pub window: f64,
    /// The pair's source.
    pub src: IpAddr,
    /// The pair's destination.
    pub dst: IpAddr,
    /// Flows in the window.
    pub conns: u64,
    /// Distinct destination ports in the window (TCP/UDP).
    pub ports: u32,
    /// Destination ports the pair had not used within the ageing period.
    pub new_ports: u32,
    /// Bytes sent by the source.
    pub bytes_up: u64,
    /// Bytes sent by the destination.
    pub bytes_down: u64,
    /// Packets, when any flow carried a count.
    pub packets: Option<u64>,
    /// Whether the pair was flagged as an IQR outlier.
    pub outlier: bool,
}

// ---------------------------------------------------------------------------------------------
// Internal state.

const ALERTED_SOFT: u8 = 1;
const ALERTED_HARD: u8 = 2;

/// How many distinct ports an IP keeps in a list before it needs a hash set.
const INLINE_PORTS: usize = 8;

struct IpEntry {
    ip: IpAddr,
    bytes_up: u64,
    bytes_down: u64,
    conns: u64,
    ports: SmallSet<u16, INLINE_PORTS>,
    first_ts: f64,
    last_ts: f64,
    alerted: u8,
}

struct PortEntry {
    conns: u64,
    bytes_up: u64,
    bytes_down: u64,
    first_ts: f64,
    last_ts: f64,
    first_src: IpAddr,
    first_dst: IpAddr,
    srcs: Distinct,
    dsts: Distinct,
}

struct PairWindow {
    first_ts: f64,
    last_ts: f64,
    conns: u64,
    ports: u32,
    new_ports: u32,
    bytes_up: u64,
    bytes_down: u64,
    packets: Option<u64>,
    sample: FlowSample,
}

/// One (src, dst) pair of the open window.
struct PairSlot {
    src: IpAddr,
    dst: IpAddr,
    w: PairWindow,
}

impl PairSlot {
    /// Starts the pair at `ts`, reusing `flows`' memory for its sample.
    fn new(src: IpAddr, dst: IpAddr, ts: f64, mut flows: Vec<FlowRef>) -> PairSlot {
        flows.clear();
        PairSlot {
            src,
            dst,
            w: PairWindow {
                first_ts: ts,
                last_ts: ts,
                conns: 0,
                ports: 0,
                new_ports: 0,
                bytes_up: 0,
                bytes_down: 0,
                packets: None,
                sample: FlowSample { flows, count: 0 },
            },
        }
    }

    /// The order pairs are reported in: first flow, then addresses.
    fn order(&self, other: &PairSlot) -> Ordering {
        self.w
            .first_ts
            .total_cmp(&other.w.first_ts)
            .then_with(|| (self.src, self.dst).cmp(&(other.src, other.dst)))
    }
}

/// When a pair last used a destination port, and in which window.
struct PortSeen {
    last_ts: f64,
    window: i64,
}

/// The IQR windows (step 4). Addresses are known by their index in [`Seed`]'s IP table.
struct Windows {
    width: f64,
    ageing: f64,
    min_pairs: usize,
    current: Option<i64>,
    /// ⌊ts/width⌋ ≤ current for any ts/width below this (−∞ when that shortcut is unsafe).
    next: f64,
    /// (src, dst) as ids → the pair's index in `slots`, for the open window.
    index: Map<u64, u32>,
    /// The open window's pairs in order of arrival (the first `live`), then spare slots kept for
    /// their sample buffers (at most [`POOL_MAX`] in all).
    slots: Vec<PairSlot>,
    live: usize,
    /// (src, dst, port) as ids → when last used.
    seen: Map<u128, PortSeen>,
    last_sweep: f64,
    closed: Vec<PairStats>,
    values: Vec<u64>,
    order: Vec<u32>,
}

/// The seed analyzer as a streaming detector.
pub struct Seed {
    popular: PortBits,
    interesting: PortBits,
    blacklist: PrefixSet,
    percentile: f64,
    hard_limit: u32,
    min_ports: u32,
    min_ips: u64,
    interesting_seen: Set<(IpAddr, IpAddr, u16)>,
    broadcast_seen: Set<IpAddr>,
    blacklist_seen: Set<(IpAddr, IpAddr, bool)>,
    port_index: Vec<u32>,
    ports: Vec<(u16, PortEntry)>,
    /// Every IP seen → its index in `ips`.
    ip_ids: Map<Ip, u32>,
    ips: Vec<IpEntry>,
    counts: CountHistogram,
    windows: Windows,
}

impl Seed {
    /// A detector with `config`, checked first.
    pub fn new(config: SeedConfig) -> Result<Seed, ConfigError> {
        config.validate()?;
        Ok(Seed {
            popular: PortBits::new(&config.popular_ports),
            interesting: PortBits::new(&config.interesting_ports),
            blacklist: config.blacklist,
            percentile: config.percentile,
            hard_limit: config.hard_limit,
            min_ports: config.min_ports,
            min_ips: config.min_ips,
            interesting_seen: Set::default(),
            broadcast_seen: Set::default(),
            blacklist_seen: Set::default(),
            port_index: vec![u32::MAX; 1 << 16],
            ports: Vec::new(),
            ip_ids: Map::default(),
            ips: Vec::new(),
            counts: CountHistogram::new(),
            windows: Windows {
                width: config.window,
                ageing: config.port_ageing,
                min_pairs: config.iqr_min_pairs,
                current: None,
                next: f64::NEG_INFINITY,
                index: Map::default(),
                slots: Vec::new(),
                live: 0,
                seen: Map::default(),
                last_sweep: f64::NEG_INFINITY,
                closed: Vec::new(),
                values: Vec::new(),
                order: Vec::new(),
            },
        })
    }

    /// Step 2's statistics, one row per non-popular destination port seen, by port.
    pub fn port_stats(&self) -> Vec<PortStats> {
        let mut rows: Vec<PortStats> = self
            .ports
            .iter()
            .map(|(port, e)| PortStats {
                port: *port,
                conns: e.conns,
                bytes_up: e.bytes_up,
                bytes_down: e.bytes_down,
                first_ts: e.first_ts,
                last_ts: e.last_ts,
                first_src: e.first_src,
                first_dst: e.first_dst,
                src_ips: e.srcs.count(),
                dst_ips: e.dsts.count(),
                exact: e.srcs.exact() && e.dsts.exact(),
            })
            .collect();
        rows.sort_by_key(|r| r.port);
        rows
    }

    /// Step 3's statistics for one IP, if seen.
    pub fn ip(&self, ip: IpAddr) -> Option<IpStats> {
        self.ip_ids.get(&Ip(ip)).map(|&id| ip_stats(&self.ips[id as usize]))
    }

    /// Step 3's statistics for every IP seen, in no particular order.
    pub fn ip_stats(&self) -> impl Iterator<Item = IpStats> + '_ {
        self.ips.iter().map(ip_stats)
    }

    /// The current too-many-ports threshold: the percentile of all IPs' distinct-port counts.
    pub fn ports_threshold(&self) -> Option<u32> {
        self.counts.percentile(self.percentile)
    }

    /// Step 4's pairs of the most recently closed window, in order of first flow.
    pub fn last_window(&self) -> &[PairStats] {
        &self.windows.closed
    }

    /// The id of `ip`, a new entry (with no port yet) if first seen at `ts`.
    #[inline]
    fn intern(&mut self, ip: IpAddr, ts: f64) -> u32 {
        match self.ip_ids.entry(Ip(ip)) {
            Entry::Occupied(o) => *o.get(),
            Entry::Vacant(v) => {
                let id = u32::try_from(self.ips.len()).expect("fewer than 2^32 addresses");
                v.insert(id);
                self.counts.insert(0);
                self.ips.push(IpEntry {
                    ip,
                    bytes_up: 0,
                    bytes_down: 0,
                    conns: 0,
                    ports: SmallSet::new(0),
                    first_ts: ts,
                    last_ts: ts,
                    alerted: 0,
                });
                id
            }
        }
    }

    fn basic_checks(&mut self, f: &Flow, ported: bool, out: &mut Vec<Evidence>) {
        if ported
            && self.interesting.contains(f.dst_port)
            && self.interesting_seen.insert((f.src, f.dst, f.dst_port))
        {
            let mut e = Evidence::new(
                Kind::InterestingPort,
                f.src,
                f.ts,
                ThreatLevel::Low,
                format!("Using interesting port number {}", f.dst_port),
            );
            e.peer = Some(f.dst);
            e.port = Some(f.dst_port);
            e.push_flow(f);
            out.push(e);
        }
        if f.dst == BROADCAST && self.broadcast_seen.insert(f.src) {
            let (threat, what) = if f.src == IpAddr::V4(Ipv4Addr::UNSPECIFIED) {
                (ThreatLevel::Info, "a DHCP discover")
            } else {
                (ThreatLevel::Low, "a malformed DHCP or local gateway flow")
            };
            let mut e = Evidence::new(
                Kind::Broadcast,
                f.src,
                f.ts,
                threat,
                format!("Broadcast flow from {} to 255.255.255.255: {what}", f.src),
            );
            e.peer = Some(f.dst);
            e.port = Some(f.dst_port);
            e.push_flow(f);
            out.push(e);
        }
    }

    fn blacklist_checks(&mut self, f: &Flow, out: &mut Vec<Evidence>) {
        for (listed, other, is_src) in [(f.src, f.dst, true), (f.dst, f.src, false)] {
            if self.blacklist.contains(listed)
                && self.blacklist_seen.insert((listed, other, is_src))
            {
                let which = if is_src { "source" } else { "dest" };
                let mut e = Evidence::new(
                    Kind::Blacklist,
                    other,
                    f.ts,
                    ThreatLevel::High,
                    format!("Blacklisted {which} IP: {listed}"),
                );
                e.peer = Some(listed);
                e.port = Some(f.dst_port);
                e.push_flow(f);
                out.push(e);
            }
        }
    }

    fn port_activity(&mut self, f: &Flow) {
        let slot = &mut self.port_index[f.dst_port as usize];
        if *slot == u32::MAX {
            *slot = self.ports.len() as u32;
            self.ports.push((
                f.dst_port,
                PortEntry {
                    conns: 0,
                    bytes_up: 0,
                    bytes_down: 0,
                    first_ts: f.ts,
                    last_ts: f.ts,
                    first_src: f.src,
                    first_dst: f.dst,
                    srcs: Distinct::default(),
                    dsts: Distinct::default(),
                },
            ));
        }
        let e = &mut self.ports[*slot as usize].1;
        e.conns += 1;
        e.bytes_up += f.bytes_up();
        e.bytes_down += f.bytes_down();
        e.first_ts = e.first_ts.min(f.ts);
        e.last_ts = e.last_ts.max(f.ts);
        e.srcs.insert(f.src);
        e.dsts.insert(f.dst);
    }

    /// Updates the activity of the IP with id `id`; returns its distinct-port count and alert
    /// flags. `port` is the flow's destination port when it has one (TCP/UDP).
    #[inline]
    fn ip_activity(
        &mut self,
        id: u32,
        ts: f64,
        sent: u64,
        received: u64,
        port: Option<u16>,
    ) -> (u32, u8) {
        let e = &mut self.ips[id as usize];
        e.bytes_up += sent;
        e.bytes_down += received;
        e.conns += 1;
        e.first_ts = e.first_ts.min(ts);
        e.last_ts = e.last_ts.max(ts);
        if let Some(port) = port {
            let before = e.ports.len() as u32;
            if e.ports.insert(port) {
                self.counts.increment(before);
            }
        }
        (e.ports.len() as u32, e.alerted)
    }

    #[inline]
    fn port_alerts(
        &mut self,
        id: u32,
        n: u32,
        alerted: u8,
        popular: bool,
        f: &Flow,
        out: &mut Vec<Evidence>,
    ) {
        // The common case first: nothing can fire.
        let soft = alerted & ALERTED_SOFT == 0 && !popular && n >= self.min_ports;
        let hard = alerted & ALERTED_HARD == 0 && n > self.hard_limit;
        if !soft && !hard {
            return;
        }
        let ip = self.ips[id as usize].ip;
        let mut flag = 0;
        // An IP counted as the destination is being contacted on many ports (a scan's victim,
        // or a busy server): the alert stands, as the seed words it, but it is no evidence
        // against the IP itself, so it carries no threat.
        let target = ip == f.dst && ip != f.src;
        let level = |threat| if target { ThreatLevel::Info } else { threat };
        if soft
            && self.counts.len() >= self.min_ips
            && self.counts.percentile(self.percentile).is_some_and(|t| n > t)
        {
            let mut e = Evidence::new(
                Kind::TooManyPorts,
                ip,
                f.ts,
                level(ThreatLevel::Medium),
                format!("IP {ip} using too many ports: {n}"),
            );
            e.confidence = 0.5;
            e.score = n as f64;
            e.port = Some(f.dst_port);
            e.push_flow(f);
            out.push(e);
            flag |= ALERTED_SOFT;
        }
        if hard {
            let mut e = Evidence::new(
                Kind::TooManyPortsHard,
                ip,
                f.ts,
                level(ThreatLevel::High),
                format!("IP {ip} using more than {} ports: {n}", self.hard_limit),
            );
            e.score = n as f64;
            e.port = Some(f.dst_port);
            e.push_flow(f);
            out.push(e);
            flag |= ALERTED_HARD;
        }
        self.ips[id as usize].alerted |= flag;
    }
}

fn ip_stats(e: &IpEntry) -> IpStats {
    IpStats {
        ip: e.ip,
        bytes_up: e.bytes_up,
        bytes_down: e.bytes_down,
        conns: e.conns,
        ports: e.ports.len() as u32,
        first_ts: e.first_ts,
        last_ts: e.last_ts,
    }
}

/// The first window index after `idx`, as a time bound in window widths: any ts/width below it
/// has ⌊ts/width⌋ ≤ idx. −∞ (no shortcut) where floats no longer hold every integer.
pub(crate) fn next_bound(idx: i64) -> f64 {
    const EXACT: i64 = 1 << 52;
    if (-EXACT..EXACT).contains(&idx) { (idx + 1) as f64 } else { f64::NEG_INFINITY }
}

impl Windows {
    /// Puts `f`, from the pair of addresses `src` and `dst` (ids `pair`), into its window,
    /// closing the open one first if `f` belongs to a later one.
    #[inline]
    fn observe(
        &mut self,
        f: &Flow,
        pair: u64,
        (src, dst): (IpAddr, IpAddr),
        ported: bool,
        out: &mut Vec<Evidence>,
    ) {
        let x = f.ts / self.width;
        let w = match self.current {
            // The usual case, without the floor: f is in the open window or a closed one.
            Some(cur) if x < self.next => cur,
            current => {
                let idx = x.floor() as i64;
                match current {
                    Some(cur) if idx <= cur => cur,
                    Some(_) => {
                        self.close(out);
                        self.current = Some(idx);
                        self.next = next_bound(idx);
                        idx
                    }
                    None => {
                        self.current = Some(idx);
                        self.next = next_bound(idx);
                        idx
                    }
                }
            }
        };
        let mut fresh_port = false;
        let mut new_port = false;
        if ported {
            match self.seen.entry((u128::from(pair) << 16) | u128::from(f.dst_port)) {
                Entry::Occupied(mut o) => {
                    let s = o.get_mut();
                    if s.window != w {
                        fresh_port = true;
                        new_port = f.ts - s.last_ts > self.ageing;
                        s.window = w;
                    }
                    s.last_ts = s.last_ts.max(f.ts);
                }
                Entry::Vacant(v) => {
                    v.insert(PortSeen { last_ts: f.ts, window: w });
                    fresh_port = true;
                    new_port = true;
                }
            }
        }
        let slot = match self.index.entry(pair) {
            Entry::Occupied(o) => *o.get() as usize,
            Entry::Vacant(v) => {
                let i = self.live;
                v.insert(i as u32);
                self.live += 1;
                if i == self.slots.len() {
                    self.slots.push(PairSlot::new(src, dst, f.ts, Vec::new()));
                } else {
                    let flows = std::mem::take(&mut self.slots[i].w.sample.flows);
                    self.slots[i] = PairSlot::new(src, dst, f.ts, flows);
                }
                i
            }
        };
        let p = &mut self.slots[slot].w;
        p.first_ts = p.first_ts.min(f.ts);
        p.last_ts = p.last_ts.max(f.ts);
        p.conns += 1;
        p.ports += u32::from(fresh_port);
        p.new_ports += u32::from(new_port);
        p.bytes_up += f.bytes_up();
        p.bytes_down += f.bytes_down();
        if let Some(n) = f.packets() {
            p.packets = Some(p.packets.unwrap_or(0) + n);
        }
        p.sample.push(f);
    }

    /// Closes the open window: judges its pairs and forgets them.
    fn close(&mut self, out: &mut Vec<Evidence>) {
        let Some(w) = self.current else { return };
        self.closed.clear();
        if self.live == 0 {
            return;
        }
        let pairs = &mut self.slots[..self.live];
        let fences = if pairs.len() >= self.min_pairs {
            self.values.clear();
            self.values.extend(pairs.iter().map(|p| p.w.conns));
            let conns = upper_fence(&mut self.values);
            self.values.clear();
            self.values.extend(pairs.iter().map(|p| u64::from(p.w.ports)));
            let ports = upper_fence(&mut self.values);
            Some((conns, ports))
        } else {
            None
        };
        let start = w as f64 * self.width;
        // Pairs arrive in order of first flow unless the input is out of time order (or two
        // first flows share a time): sort only then. Every pair is distinct, so the order is
        // total and unique.
        self.order.clear();
        self.order.extend(0..pairs.len() as u32);
        if !pairs.is_sorted_by(|a, b| a.order(b) != Ordering::Greater) {
            self.order.sort_unstable_by(|&a, &b| pairs[a as usize].order(&pairs[b as usize]));
        }
        for &i in &self.order {
            let PairSlot { src, dst, w: p } = &mut pairs[i as usize];
            let (src, dst) = (*src, *dst);
            let outlier =
                fences.is_some_and(|(fc, fp)| p.conns as f64 > fc || f64::from(p.ports) > fp);
            self.closed.push(PairStats {
                window: start,
                src,
                dst,
                conns: p.conns,
                ports: p.ports,
                new_ports: p.new_ports,
                bytes_up: p.bytes_up,
                bytes_down: p.bytes_down,
                packets: p.packets,
                outlier,
            });
            if outlier {
                let (fc, fp) = fences.expect("an outlier has fences");
                let mut e = Evidence::new(
                    Kind::IqrOutlier,
                    src,
                    p.last_ts,
                    ThreatLevel::Low,
                    IQR_DESCRIPTION.to_string(),
                );
                e.first_ts = p.first_ts;
                e.peer = Some(dst);
                e.confidence = 0.5;
                e.score = (p.conns as f64 - fc).max(f64::from(p.ports) - fp);
                std::mem::take(&mut p.sample).attach(&mut e);
                out.push(e);
            }
        }
        self.index.clear();
        self.live = 0;
        self.slots.truncate(POOL_MAX);
        // Forget ports unused for longer than the ageing period, once per period of data time.
        let end = start + self.width;
        if end - self.last_sweep >= self.ageing.max(self.width) {
            let horizon = end - self.ageing;
            self.seen.retain(|_, s| s.last_ts >= horizon);
            self.last_sweep = end;
        }
    }
}

/// Q3 + 1.5·IQR of `values` (sorted in place), quartiles by linear interpolation (type 7).
fn upper_fence(values: &mut [u64]) -> f64 {
    sort_counts(values);
    let q1 = quantile_sorted(values, 0.25);
    let q3 = quantile_sorted(values, 0.75);
    q3 + 1.5 * (q3 - q1)
}

/// Sorts `values`, by counting when they are all small (a window's pairs mostly have a
/// connection or two, and a port or two).
fn sort_counts(values: &mut [u64]) {
    const SMALL: usize = 64;
    if values.iter().any(|&v| v >= SMALL as u64) {
        values.sort_unstable();
        return;
    }
    let mut hist = [0u32; SMALL];
    for &v in values.iter() {
        hist[v as usize] += 1;
    }
    let mut at = 0;
    for (v, &n) in hist.iter().enumerate() {
        values[at..at + n as usize].fill(v as u64);
        at += n as usize;
    }
}

/// The `p`-quantile of sorted `values` by linear interpolation between order statistics
/// (Hyndman & Fan type 7): h = (n − 1)p, x[⌊h⌋] + (h − ⌊h⌋)(x[⌊h⌋ + 1] − x[⌊h⌋]).
pub fn quantile_sorted(values: &[u64], p: f64) -> f64 {
    match values.len() {
        0 => f64::NAN,
        n => {
            let h = (n - 1) as f64 * p;
            let lo = h.floor() as usize;
            let hi = (lo + 1).min(n - 1);
            let (a, b) = (values[lo] as f64, values[hi] as f64);
            a + (h - lo as f64) * (b - a)
        }
    }
}

impl Detector for Seed {
    fn observe(&mut self, f: &Flow, out: &mut Vec<Evidence>) {
        let ported = matches!(f.proto, Proto::Tcp | Proto::Udp);
        // Both addresses by id first: the IP table grows only here, in the order (source,
        // destination) the activity step would add them.
        let src = self.intern(f.src, f.ts);
        let dst = if f.dst == f.src { src } else { self.intern(f.dst, f.ts) };
        // Step 4 first: a flow of a later window closes the open one before anything else.
        let pair = (u64::from(src) << 32) | u64::from(dst);
        self.windows.observe(f, pair, (f.src, f.dst), ported, out);
        self.basic_checks(f, ported, out);
        if !self.blacklist.is_empty() {
            self.blacklist_checks(f, out);
        }
        let popular = !ported || self.popular.contains(f.dst_port);
        if !popular {
            self.port_activity(f);
        }
        let (up, down) = (f.bytes_up(), f.bytes_down());
        let port = ported.then_some(f.dst_port);
        let (n_src, a_src) = self.ip_activity(src, f.ts, up, down, port);
        let dst_side = (f.dst != f.src).then(|| self.ip_activity(dst, f.ts, down, up, port));
        self.port_alerts(src, n_src, a_src, popular, f, out);
        if let Some((n_dst, a_dst)) = dst_side {
            self.port_alerts(dst, n_dst, a_dst, popular, f, out);
        }
    }

    fn finish(&mut self, out: &mut Vec<Evidence>) {
        self.windows.close(out);
        self.windows.current = None;
        self.windows.next = f64::NEG_INFINITY;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::ConnState;
    use proptest::prelude::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn flow(ts: f64, src: &str, dst: &str, dport: u16) -> Flow {
        Flow {
            ts,
            proto: Proto::Tcp,
            src: ip(src),
            src_port: 40000,
            dst: ip(dst),
            dst_port: dport,
            state: ConnState::Sf,
            src_bytes: Some(100),
            dst_bytes: Some(1000),
            ..Flow::default()
        }
    }

    fn seed() -> Seed {
        Seed::new(SeedConfig::default()).unwrap()
    }

    fn run(seed: &mut Seed, flows: &[Flow]) -> Vec<Evidence> {
        let mut out = Vec::new();
        for f in flows {
            seed.observe(f, &mut out);
        }
        seed.finish(&mut out);
        out
    }

    fn descriptions(ev: &[Evidence], kind: Kind) -> Vec<String> {
        ev.iter().filter(|e| e.kind == kind).map(|e| e.description.clone()).collect()
    }

    #[test]
    fn interesting_ports_alert_once_per_key_and_not_for_icmp() {
        let mut s = seed();
        let mut icmp = flow(1.0, "10.0.0.1", "10.0.0.2", 0);
        icmp.proto = Proto::Icmp;
        let ev = run(
            &mut s,
            &[
                flow(1.0, "10.0.0.1", "1.2.3.4", 81),
                flow(2.0, "10.0.0.1", "1.2.3.4", 81),
                flow(3.0, "10.0.0.1", "1.2.3.5", 82),
                flow(4.0, "10.0.0.1", "1.2.3.5", 0),
                icmp,
                flow(5.0, "10.0.0.1", "1.2.3.5", 80),
            ],
        );
        assert_eq!(
            descriptions(&ev, Kind::InterestingPort),
            [
                "Using interesting port number 81",
                "Using interesting port number 82",
                "Using interesting port number 0"
            ]
        );
        let e = ev.iter().find(|e| e.kind == Kind::InterestingPort).unwrap();
        assert_eq!(
            (e.host, e.peer, e.port, e.threat),
            (ip("10.0.0.1"), Some(ip("1.2.3.4")), Some(81), ThreatLevel::Low)
        );
    }

    #[test]
    fn broadcast_fires_for_dhcp_and_for_other_sources() {
        let mut s = seed();
        let mut dhcp = flow(1.0, "0.0.0.0", "255.255.255.255", 67);
        dhcp.proto = Proto::Udp;
        let mut other = flow(2.0, "192.168.1.7", "255.255.255.255", 67);
        other.proto = Proto::Udp;
        let ev = run(&mut s, &[dhcp, dhcp, other]);
        assert_eq!(
            descriptions(&ev, Kind::Broadcast),
            [
                "Broadcast flow from 0.0.0.0 to 255.255.255.255: a DHCP discover",
                "Broadcast flow from 192.168.1.7 to 255.255.255.255: a malformed DHCP or local gateway flow"
            ]
        );
        let levels: Vec<_> =
            ev.iter().filter(|e| e.kind == Kind::Broadcast).map(|e| e.threat).collect();
        assert_eq!(levels, [ThreatLevel::Info, ThreatLevel::Low]);
    }

    #[test]
    fn blacklist_checks_both_sides_with_the_right_address() {
        let mut cfg = SeedConfig::default();
        cfg.blacklist.extend_from_list("6.6.6.0/24\n7.7.7.7", "bl").unwrap();
        let mut s = Seed::new(cfg).unwrap();
        let ev = run(
            &mut s,
            &[
                flow(1.0, "6.6.6.6", "10.0.0.1", 22),
                flow(2.0, "10.0.0.2", "7.7.7.7", 443),
                flow(3.0, "10.0.0.2", "7.7.7.7", 443),
                flow(4.0, "6.6.6.1", "7.7.7.7", 443),
                flow(5.0, "10.0.0.3", "8.8.8.8", 53),
            ],
        );
        let got: Vec<_> = ev
            .iter()
            .filter(|e| e.kind == Kind::Blacklist)
            .map(|e| (e.description.as_str(), e.host, e.peer.unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                ("Blacklisted source IP: 6.6.6.6", ip("10.0.0.1"), ip("6.6.6.6")),
                ("Blacklisted dest IP: 7.7.7.7", ip("10.0.0.2"), ip("7.7.7.7")),
                ("Blacklisted source IP: 6.6.6.1", ip("7.7.7.7"), ip("6.6.6.1")),
                ("Blacklisted dest IP: 7.7.7.7", ip("6.6.6.1"), ip("7.7.7.7")),
            ]
        );
        assert!(
            ev.iter().filter(|e| e.kind == Kind::Blacklist).all(|e| e.threat == ThreatLevel::High)
        );
    }

    #[test]
    fn port_and_ip_activity_count_every_byte() {
        let mut s = seed();
        let mut u = flow(1.0, "10.0.0.1", "10.0.0.2", 5555);
        u.proto = Proto::Udp;
        run(
            &mut s,
            &[
                flow(1.0, "10.0.0.1", "10.0.0.2", 5555),
                flow(2.0, "10.0.0.3", "10.0.0.2", 5555),
                u,
                flow(3.0, "10.0.0.1", "10.0.0.2", 443),
            ],
        );
        let ports = s.port_stats();
        assert_eq!(ports.len(), 1, "443 is popular");
        let p = &ports[0];
        assert_eq!((p.port, p.conns, p.bytes_up, p.bytes_down), (5555, 3, 300, 3000));
        assert_eq!((p.src_ips, p.dst_ips, p.exact), (2, 1, true));
        assert_eq!((p.first_src, p.first_dst, p.first_ts), (ip("10.0.0.1"), ip("10.0.0.2"), 1.0));
        // The first flow's bytes count (the reference dropped them).
        let a = s.ip(ip("10.0.0.1")).unwrap();
        assert_eq!((a.bytes_up, a.bytes_down, a.conns, a.ports), (300, 3000, 3, 2));
        let b = s.ip(ip("10.0.0.2")).unwrap();
        assert_eq!((b.bytes_up, b.bytes_down, b.conns, b.ports), (4000, 400, 4, 2));
        assert_eq!(s.ip_stats().count(), 3);
    }

    #[test]
    fn distinct_counts_stay_bounded_and_close() {
        let mut d = Distinct::default();
        for i in 0..20_000u32 {
            d.insert(IpAddr::from(i.to_be_bytes()));
            d.insert(IpAddr::from(i.to_be_bytes()));
        }
        assert!(!d.exact());
        let n = d.count() as f64;
        assert!((n - 20_000.0).abs() / 20_000.0 < 0.08, "{n}");
        let mut small = Distinct::default();
        for i in 0..200u32 {
            small.insert(IpAddr::from(i.to_be_bytes()));
        }
        let n = small.count() as f64;
        assert!((n - 200.0).abs() < 12.0, "{n}");
    }

    /// A population of `quiet` IPs with 1 port each, then `host` contacting ports 1000.. in turn.
    fn population(quiet: usize, host_ports: u16) -> Vec<Flow> {
        let mut flows = Vec::new();
        for i in 0..quiet {
            flows.push(flow(1.0, &format!("10.1.0.{i}"), &format!("10.2.0.{i}"), 7000));
        }
        for p in 0..host_ports {
            flows.push(flow(2.0, "10.9.9.9", "10.8.8.8", 1000 + p));
        }
        flows
    }

    #[test]
    fn too_many_ports_fires_once_above_the_percentile() {
        let mut s = seed();
        let ev = run(&mut s, &population(30, 40));
        // 60 quiet IPs with one port, so p90 is 1 throughout: the scanner and its target both
        // pass at the minimum of 10 ports, once each.
        assert_eq!(
            descriptions(&ev, Kind::TooManyPorts),
            ["IP 10.9.9.9 using too many ports: 10", "IP 10.8.8.8 using too many ports: 10"]
        );
        assert!(descriptions(&ev, Kind::TooManyPortsHard).is_empty());
        assert_eq!(s.ports_threshold(), Some(1));
    }

    #[test]
    fn too_many_ports_needs_a_population_and_a_non_popular_port() {
        // Two IPs only: below min_ips.
        let mut s = seed();
        let ev = run(&mut s, &population(0, 40));
        assert!(descriptions(&ev, Kind::TooManyPorts).is_empty());
        // Enough IPs, but the port that tips it over is popular: no alert on that flow.
        let mut s = seed();
        let mut flows = population(30, 9);
        flows.push(flow(3.0, "10.9.9.9", "10.8.8.8", 443));
        let ev = run(&mut s, &flows);
        assert!(descriptions(&ev, Kind::TooManyPorts).is_empty());
        // The next non-popular one fires.
        flows.push(flow(4.0, "10.9.9.9", "10.8.8.8", 9999));
        let mut s = seed();
        let ev = run(&mut s, &flows);
        assert_eq!(ev.iter().filter(|e| e.kind == Kind::TooManyPorts).count(), 2);
    }

    #[test]
    fn more_than_100_ports_fires_once() {
        let mut s = seed();
        let ev = run(&mut s, &population(30, 150));
        assert_eq!(
            descriptions(&ev, Kind::TooManyPortsHard),
            [
                "IP 10.9.9.9 using more than 100 ports: 101",
                "IP 10.8.8.8 using more than 100 ports: 101"
            ]
        );
        assert_eq!(descriptions(&ev, Kind::TooManyPorts).len(), 2);
        let hard = ev.iter().find(|e| e.kind == Kind::TooManyPortsHard).unwrap();
        assert_eq!((hard.threat, hard.host), (ThreatLevel::High, ip("10.9.9.9")));
    }

    /// Four pairs with one flow each and one pair with `n` flows to `ports` ports, in the
    /// window starting at `t`.
    fn window_flows(t: f64, n: u16, ports: u16) -> Vec<Flow> {
        let mut flows = Vec::new();
        for i in 0..4 {
            flows.push(flow(t + 0.5, &format!("10.0.0.{i}"), "10.0.1.1", 5000));
        }
        for i in 0..n {
            flows.push(flow(
                t + 1.0 + f64::from(i) * 0.01,
                "10.0.0.9",
                "10.0.1.9",
                6000 + i % ports,
            ));
        }
        flows
    }

    #[test]
    fn iqr_flags_the_outlier_pair_when_its_window_closes() {
        let mut s = seed();
        let mut out = Vec::new();
        for f in window_flows(100.0, 30, 1) {
            s.observe(&f, &mut out);
        }
        assert!(descriptions(&out, Kind::IqrOutlier).is_empty(), "window still open");
        // A flow of the next window closes it.
        s.observe(&flow(110.0, "10.0.0.1", "10.0.1.1", 5000), &mut out);
        let iqr: Vec<_> = out.iter().filter(|e| e.kind == Kind::IqrOutlier).collect();
        assert_eq!(iqr.len(), 1);
        let e = iqr[0];
        assert_eq!(e.description, IQR_DESCRIPTION);
        assert_eq!(
            (e.host, e.peer, e.threat),
            (ip("10.0.0.9"), Some(ip("10.0.1.9")), ThreatLevel::Low)
        );
        assert_eq!((e.flow_count, e.flows.len()), (30, crate::evidence::EVIDENCE_FLOWS));
        assert!((e.ts - 101.29).abs() < 1e-9, "{}", e.ts);
        let last = s.last_window();
        assert_eq!(last.len(), 5);
        assert_eq!(last.iter().filter(|p| p.outlier).count(), 1);
        let p = last.iter().find(|p| p.outlier).unwrap();
        assert_eq!((p.window, p.conns, p.ports, p.new_ports), (100.0, 30, 1, 1));
        // The open window (110) closes at the end: one pair, too few to judge.
        let mut rest = Vec::new();
        s.finish(&mut rest);
        assert!(rest.is_empty());
        assert_eq!(s.last_window().len(), 1);
    }

    #[test]
    fn iqr_flags_many_ports_and_needs_four_pairs() {
        let mut s = seed();
        let ev = run(&mut s, &window_flows(200.0, 12, 12));
        assert_eq!(descriptions(&ev, Kind::IqrOutlier).len(), 1);
        assert_eq!(s.last_window().iter().find(|p| p.outlier).unwrap().ports, 12);
        // Three pairs in a window are not judged.
        let mut s = seed();
        let mut flows = window_flows(200.0, 12, 12);
        flows.drain(..2);
        let ev = run(&mut s, &flows);
        assert!(descriptions(&ev, Kind::IqrOutlier).is_empty());
        // No outlier among equals.
        let mut s = seed();
        let ev = run(&mut s, &window_flows(200.0, 1, 1));
        assert!(descriptions(&ev, Kind::IqrOutlier).is_empty());
    }

    #[test]
    fn windows_are_aligned_and_late_flows_join_the_open_window() {
        let mut s = seed();
        let mut out = Vec::new();
        s.observe(&flow(19.99, "10.0.0.1", "10.0.0.2", 5000), &mut out);
        s.observe(&flow(20.0, "10.0.0.1", "10.0.0.2", 5000), &mut out);
        assert_eq!(s.last_window()[0].window, 10.0);
        s.observe(&flow(15.0, "10.0.0.1", "10.0.0.2", 5000), &mut out); // late
        s.finish(&mut out);
        let w = &s.last_window()[0];
        assert_eq!((w.window, w.conns), (20.0, 2));
    }

    #[test]
    fn new_ports_age_out_after_ten_minutes() {
        let mut s = seed();
        let mut out = Vec::new();
        let mut news = Vec::new();
        for t in [0.0, 10.0, 300.0, 1000.0, 1010.0] {
            s.observe(&flow(t, "10.0.0.1", "10.0.0.2", 5000), &mut out);
            s.observe(&flow(t, "10.0.0.1", "10.0.0.2", 5001), &mut out);
            news.push(s.last_window().first().map(|p| (p.ports, p.new_ports)));
        }
        s.finish(&mut out);
        news.push(s.last_window().first().map(|p| (p.ports, p.new_ports)));
        // Each entry is the window closed by that step: 0 (new), 10 (seen), 300 (seen),
        // 1000 (700 s later: new again), then 1010 at the end.
        assert_eq!(
            news,
            [None, Some((2, 2)), Some((2, 0)), Some((2, 0)), Some((2, 2)), Some((2, 0))]
        );
    }

    #[test]
    fn config_is_validated() {
        let cfg = SeedConfig { window: 0.0, ..SeedConfig::default() };
        assert_eq!(
            Seed::new(cfg).err().unwrap().to_string(),
            "window must be a positive number of seconds, got 0"
        );
        let cfg = SeedConfig { percentile: 1.5, ..SeedConfig::default() };
        assert_eq!(Seed::new(cfg).err().unwrap().param, "percentile");
        let cfg: SeedConfig = serde_json::from_str(r#"{"hard_limit": 50}"#).unwrap();
        assert_eq!((cfg.hard_limit, cfg.window), (50, 10.0));
        assert!(serde_json::from_str::<SeedConfig>(r#"{"treshold": 1}"#).is_err());
    }

    #[test]
    fn quartiles_interpolate_linearly() {
        let v = [1, 2, 3, 4];
        assert_eq!(quantile_sorted(&v, 0.25), 1.75);
        assert_eq!(quantile_sorted(&v, 0.75), 3.25);
        assert_eq!(quantile_sorted(&[7], 0.75), 7.0);
        let mut w = [1, 1, 1, 1, 30];
        assert_eq!(upper_fence(&mut w), 1.0);
    }

    #[test]
    fn nearest_rank_matches_its_definition() {
        assert_eq!(nearest_rank(0.9, 10), 9);
        assert_eq!(nearest_rank(0.9, 11), 10);
        assert_eq!(nearest_rank(0.9, 1), 1);
        assert_eq!(nearest_rank(0.5, 4), 2);
        assert_eq!(nearest_rank(1.0, 7), 7);
        assert_eq!(nearest_rank(0.01, 7), 1);
        assert_eq!(nearest_rank(0.9, 0), 0);
    }

    fn naive_percentile(counts: &[u32], p: f64) -> Option<u32> {
        let mut sorted = counts.to_vec();
        sorted.sort_unstable();
        let r = nearest_rank(p, sorted.len() as u64);
        (r > 0).then(|| sorted[r as usize - 1])
    }

    proptest! {
        #[test]
        fn histogram_percentile_matches_naive(
            ops in prop::collection::vec((0u8..4, 0usize..64), 1..600),
            p in prop::sample::select(vec![0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0]),
        ) {
            let mut hist = CountHistogram::new();
            let mut counts: Vec<u32> = Vec::new();
            for (op, pick) in ops {
                if op == 0 || counts.is_empty() {
                    counts.push(0);
                    hist.insert(0);
                } else {
                    // Increments dominate, some by long runs, so counts pass the first
                    // tree size (64) and the tree has to grow.
                    let i = pick % counts.len();
                    let runs = if op == 3 { 40 } else { 1 };
                    for _ in 0..runs {
                        hist.increment(counts[i]);
                        counts[i] += 1;
                    }
                }
                prop_assert_eq!(hist.len(), counts.len() as u64);
                prop_assert_eq!(hist.percentile(p), naive_percentile(&counts, p));
            }
            for r in 0..=counts.len() as u64 + 1 {
                let mut sorted = counts.clone();
                sorted.sort_unstable();
                let want = (r >= 1 && r <= sorted.len() as u64).then(|| sorted[r as usize - 1]);
                prop_assert_eq!(hist.at_rank(r), want);
            }
        }

        #[test]
        fn too_many_ports_matches_a_naive_recomputation(
            flows in prop::collection::vec((0u8..12, 0u8..12, 1000u16..1040), 1..300),
        ) {
            // The detector's alerts equal a from-scratch recomputation over all IPs after
            // every flow (the reference's quadratic method), with the same guards.
            let cfg = SeedConfig { min_ips: 3, min_ports: 2, ..SeedConfig::default() };
            let mut s = Seed::new(cfg).unwrap();
            let mut out = Vec::new();
            let mut ports: std::collections::BTreeMap<IpAddr, std::collections::BTreeSet<u16>> =
                Default::default();
            let mut alerted = std::collections::BTreeSet::new();
            let mut want = Vec::new();
            for (i, (a, b, port)) in flows.iter().enumerate() {
                let f = flow(i as f64, &format!("10.0.0.{a}"), &format!("10.0.1.{b}"), *port);
                s.observe(&f, &mut out);
                ports.entry(f.src).or_default().insert(*port);
                ports.entry(f.dst).or_default().insert(*port);
                let counts: Vec<u32> = ports.values().map(|s| s.len() as u32).collect();
                let t = naive_percentile(&counts, 0.9).unwrap();
                for host in [f.src, f.dst] {
                    let n = ports[&host].len() as u32;
                    if counts.len() >= 3 && n >= 2 && n > t && alerted.insert(host) {
                        want.push(format!("IP {host} using too many ports: {n}"));
                    }
                }
            }
            prop_assert_eq!(descriptions(&out, Kind::TooManyPorts), want);
        }
    }
}
