//! The trust aggregator: every detector's evidence, added up per host and time window into one
//! score and a verdict, with the evidence that made it.
//!
//! Two published designs were weighed. Slips sums threat × confidence per host and hour and
//! alerts at a fixed total (15 for 1-h windows); that suits per-flow evidence, but crest's
//! detectors report a finding once (a beacon, a scan) rather than once per flow, so a sum would
//! rank a host by how chatty a detector is. RITA takes the maximum of its bucketed scores and
//! adds modifiers. crest combines the two:
//!
//! 1. each piece of evidence weighs `threat × confidence` (Slips' levels: low 0.2, medium 0.5,
//!    high 0.8, critical 1);
//! 2. within a host's window, each detector kind counts once, with its heaviest evidence — ten
//!    "too many ports" alerts are not ten times the evidence;
//! 3. kinds corroborate by a noisy-OR: `score = 1 − Π (1 − w_kind)`. One high finding gives 0.8;
//!    a beacon that also hits a blacklist gives 0.96; three low findings give 0.49;
//! 4. **prevalence** (RITA's modifier): evidence about a peer that many internal hosts talk to
//!    (≥ `common_share` of them, at least `common_min_hosts`) is discounted by `common_discount`
//!    — periodic software updates and telemetry are popular, command-and-control is not.
//!
//! The verdict: `malicious` at ≥ `malicious` (0.75), `suspicious` at ≥ `suspicious` (0.4),
//! otherwise `benign`. A host's overall score is its best window's.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use foldhash::fast::FixedState;
use hashbrown::{HashMap, HashSet};

use crate::evidence::{Evidence, Kind};
use crate::net::PrefixSet;

/// Settings of the aggregator.
#[derive(Clone, Debug, PartialEq)]
pub struct TrustConfig {
    /// Window width in seconds (0: one window over the whole input).
    pub window_s: f64,
    /// Score at which a window is `suspicious`.
    pub suspicious: f64,
    /// Score at which a window is `malicious`.
    pub malicious: f64,
    /// Share of internal hosts talking to a peer above which the peer is common.
    pub common_share: f64,
    /// A peer is common only if at least this many internal hosts talk to it.
    pub common_min_hosts: usize,
    /// Factor applied to the weight of evidence about a common peer.
    pub common_discount: f64,
}

impl Default for TrustConfig {
    fn default() -> TrustConfig {
        TrustConfig {
            window_s: 3600.0,
            suspicious: 0.4,
            malicious: 0.75,
            common_share: 0.5,
            common_min_hosts: 3,
            common_discount: 0.25,
        }
    }
}

/// What the aggregator concludes about a host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verdict {
    /// Below the suspicious threshold.
    Benign,
    /// Worth a look.
    Suspicious,
    /// Act on it.
    Malicious,
}

impl Verdict {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Benign => "benign",
            Verdict::Suspicious => "suspicious",
            Verdict::Malicious => "malicious",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One host's verdict in one window.
///
/// Its evidence is listed heaviest first; at equal weight, the higher detector score first
/// (the scan that reached 254 targets before its first report at 10), then in time order.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowScore {
    /// Window start (epoch seconds; the first evidence's time when windows are off).
    pub start: f64,
    /// The combined score in [0, 1].
    pub score: f64,
    /// The verdict for the score.
    pub verdict: Verdict,
    /// The evidence of the window, heaviest first (indices into [`Report::evidence`]).
    pub evidence: Vec<usize>,
}

/// One host, ranked.
#[derive(Clone, Debug, PartialEq)]
pub struct HostScore {
    /// The host.
    pub host: IpAddr,
    /// Its best window's score.
    pub score: f64,
    /// Its best window's verdict.
    pub verdict: Verdict,
    /// Whether the host is inside the internal subnets.
    pub internal: bool,
    /// Every window with evidence, in time order.
    pub windows: Vec<WindowScore>,
    /// Index of the best window in `windows`.
    pub best: usize,
    /// How many pieces of evidence in all.
    pub evidence_count: usize,
}

impl HostScore {
    /// The best window's evidence, heaviest first (indices into [`Report::evidence`]).
    pub fn top_evidence(&self) -> &[usize] {
        &self.windows[self.best].evidence
    }
}

/// Counts, per external peer, the distinct internal hosts that talk to it (RITA's prevalence).
#[derive(Clone, Debug)]
pub struct Prevalence {
    internal: PrefixSet,
    peers: HashMap<IpAddr, HashSet<IpAddr, FixedState>, FixedState>,
    hosts: HashSet<IpAddr, FixedState>,
}

impl Prevalence {
    /// Prevalence over `internal` subnets.
    pub fn new(internal: PrefixSet) -> Prevalence {
        Prevalence { internal, peers: HashMap::default(), hosts: HashSet::default() }
    }

    /// Counts that internal `host` talks to external `peer`.
    pub fn observe_pair(&mut self, host: IpAddr, peer: IpAddr) {
        self.hosts.insert(host);
        let talkers = self.peers.entry(peer).or_default();
        // Bounded: past the point where a peer is surely common, more talkers change nothing.
        if talkers.len() < 65_536 {
            talkers.insert(host);
        }
    }

    /// How many internal hosts were seen.
    pub fn internal_hosts(&self) -> usize {
        self.hosts.len()
    }

    /// How many internal hosts talk to `peer`.
    pub fn talkers(&self, peer: IpAddr) -> usize {
        self.peers.get(&peer).map_or(0, |s| s.len())
    }

    /// Whether the given subnets hold `ip`.
    pub fn is_internal(&self, ip: IpAddr) -> bool {
        self.internal.contains(ip)
    }
}

/// The aggregator's output.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// Every piece of evidence, in canonical order (see [`crate::evidence::sort`]).
    pub evidence: Vec<Evidence>,
    /// The weight each piece of evidence counted with (after the prevalence discount).
    pub weights: Vec<f64>,
    /// Hosts ranked by score (highest first; ties by address).
    pub hosts: Vec<HostScore>,
}

/// Adds up `evidence` per host and window.
pub fn aggregate(
    mut evidence: Vec<Evidence>,
    prevalence: &Prevalence,
    config: &TrustConfig,
) -> Report {
    crate::evidence::sort(&mut evidence);
    let internal_hosts = prevalence.internal_hosts();
    let weights: Vec<f64> = evidence
        .iter()
        .map(|e| {
            let mut w = e.weight();
            if let Some(peer) = e.peer
                && !prevalence.is_internal(peer)
            {
                let talkers = prevalence.talkers(peer);
                if talkers >= config.common_min_hosts
                    && talkers as f64 >= config.common_share * internal_hosts as f64
                {
                    w *= config.common_discount;
                }
            }
            w.clamp(0.0, 1.0)
        })
        .collect();

    // host → window start → evidence indices.
    let mut grouped: BTreeMap<IpAddr, BTreeMap<i64, Vec<usize>>> = BTreeMap::new();
    for (i, e) in evidence.iter().enumerate() {
        let slot = if config.window_s > 0.0 { (e.ts / config.window_s).floor() as i64 } else { 0 };
        grouped.entry(e.host).or_default().entry(slot).or_default().push(i);
    }

    let mut hosts: Vec<HostScore> = grouped
        .into_iter()
        .map(|(host, windows)| {
            let mut evidence_count = 0;
            let windows: Vec<WindowScore> = windows
                .into_iter()
                .map(|(slot, mut idx)| {
                    evidence_count += idx.len();
                    let mut best: BTreeMap<Kind, f64> = BTreeMap::new();
                    for &i in &idx {
                        let w = best.entry(evidence[i].kind).or_insert(0.0);
                        *w = w.max(weights[i]);
                    }
                    let score = 1.0 - best.values().fold(1.0, |acc, w| acc * (1.0 - w));
                    idx.sort_by(|&a, &b| {
                        weights[b]
                            .total_cmp(&weights[a])
                            .then(evidence[b].score.total_cmp(&evidence[a].score))
                            .then(a.cmp(&b))
                    });
                    let start = if config.window_s > 0.0 {
                        slot as f64 * config.window_s
                    } else {
                        idx.iter().map(|&i| evidence[i].first_ts).fold(f64::INFINITY, f64::min)
                    };
                    WindowScore { start, score, verdict: verdict(score, config), evidence: idx }
                })
                .collect();
            let best = (0..windows.len())
                .max_by(|&a, &b| windows[a].score.total_cmp(&windows[b].score).then(b.cmp(&a)))
                .unwrap_or(0);
            HostScore {
                host,
                score: windows[best].score,
                verdict: windows[best].verdict,
                internal: prevalence.is_internal(host),
                windows,
                best,
                evidence_count,
            }
        })
        .collect();
    hosts.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.host.cmp(&b.host)));
    Report { evidence, weights, hosts }
}

/// The verdict for `score`.
pub fn verdict(score: f64, config: &TrustConfig) -> Verdict {
    if score >= config.malicious {
        Verdict::Malicious
    } else if score >= config.suspicious {
        Verdict::Suspicious
    } else {
        Verdict::Benign
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::ThreatLevel;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn ev(kind: Kind, host: &str, peer: Option<&str>, ts: f64, threat: ThreatLevel) -> Evidence {
        let mut e = Evidence::new(kind, ip(host), ts, threat, format!("{kind}"));
        e.peer = peer.map(ip);
        e
    }

    #[test]
    fn kinds_corroborate_and_repeats_do_not_pile_up() {
        let prev = Prevalence::new(PrefixSet::default_internal());
        let evidence = vec![
            ev(Kind::Beacon, "10.0.0.1", Some("1.2.3.4"), 100.0, ThreatLevel::High),
            ev(Kind::Blacklist, "10.0.0.1", Some("1.2.3.4"), 200.0, ThreatLevel::High),
            ev(Kind::InterestingPort, "10.0.0.2", None, 100.0, ThreatLevel::Low),
            ev(Kind::InterestingPort, "10.0.0.2", None, 110.0, ThreatLevel::Low),
            ev(Kind::InterestingPort, "10.0.0.2", None, 120.0, ThreatLevel::Low),
            ev(Kind::VerticalScan, "10.0.0.3", Some("5.5.5.5"), 100.0, ThreatLevel::High),
        ];
        let report = aggregate(evidence, &prev, &TrustConfig::default());
        let scores: Vec<(IpAddr, f64, Verdict)> = report
            .hosts
            .iter()
            .map(|h| (h.host, (h.score * 1000.0).round() / 1000.0, h.verdict))
            .collect();
        assert_eq!(
            scores,
            [
                (ip("10.0.0.1"), 0.96, Verdict::Malicious),
                (ip("10.0.0.3"), 0.8, Verdict::Malicious),
                (ip("10.0.0.2"), 0.2, Verdict::Benign),
            ]
        );
        assert_eq!(report.hosts[2].evidence_count, 3);
    }

    #[test]
    fn windows_split_and_the_best_one_counts() {
        let prev = Prevalence::new(PrefixSet::default_internal());
        let evidence = vec![
            ev(Kind::InterestingPort, "10.0.0.1", None, 10.0, ThreatLevel::Low),
            ev(Kind::TooManyPorts, "10.0.0.1", None, 4000.0, ThreatLevel::Medium),
            ev(Kind::IqrOutlier, "10.0.0.1", None, 4100.0, ThreatLevel::Low),
        ];
        let report = aggregate(evidence, &prev, &TrustConfig::default());
        let host = &report.hosts[0];
        assert_eq!(host.windows.len(), 2);
        assert_eq!(host.windows[0].start, 0.0);
        assert_eq!(host.windows[1].start, 3600.0);
        assert_eq!(host.best, 1);
        assert!((host.score - 0.6).abs() < 1e-12);
        assert_eq!(host.verdict, Verdict::Suspicious);
        // Heaviest first.
        assert_eq!(report.evidence[host.top_evidence()[0]].kind, Kind::TooManyPorts);
    }

    #[test]
    fn common_peers_are_discounted() {
        let mut prev = Prevalence::new(PrefixSet::default_internal());
        for h in 1..=4 {
            prev.observe_pair(ip(&format!("10.0.0.{h}")), ip("93.184.216.34"));
        }
        prev.observe_pair(ip("10.0.0.1"), ip("66.63.168.35"));
        assert_eq!(prev.internal_hosts(), 4);
        assert_eq!(prev.talkers(ip("93.184.216.34")), 4);
        let evidence = vec![
            ev(Kind::Beacon, "10.0.0.2", Some("93.184.216.34"), 100.0, ThreatLevel::High),
            ev(Kind::Beacon, "10.0.0.1", Some("66.63.168.35"), 100.0, ThreatLevel::High),
        ];
        let report = aggregate(evidence, &prev, &TrustConfig::default());
        assert_eq!(report.hosts[0].host, ip("10.0.0.1"));
        assert_eq!(report.hosts[0].verdict, Verdict::Malicious);
        assert!((report.hosts[1].score - 0.2).abs() < 1e-12);
        assert_eq!(report.hosts[1].verdict, Verdict::Benign);
    }

    #[test]
    fn one_window_when_windows_are_off() {
        let prev = Prevalence::new(PrefixSet::default_internal());
        let evidence = vec![
            ev(Kind::InterestingPort, "10.0.0.1", None, 10.0, ThreatLevel::Low),
            ev(Kind::TooManyPorts, "10.0.0.1", None, 99_999.0, ThreatLevel::Medium),
        ];
        let config = TrustConfig { window_s: 0.0, ..TrustConfig::default() };
        let report = aggregate(evidence, &prev, &config);
        assert_eq!(report.hosts[0].windows.len(), 1);
        assert_eq!(report.hosts[0].windows[0].start, 10.0);
        assert!((report.hosts[0].score - 0.6).abs() < 1e-12);
    }
}
