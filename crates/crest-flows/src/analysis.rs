//! Every detector over one stream of flows, and the trust aggregator over their evidence.
//!
//! [`Analysis`] feeds each flow to the seed checks, RITA (beacons, strobes, long connections,
//! threat intel), the scan detector and the Threshold Random Walk (prevalence — how many
//! internal hosts talk to each external one — comes from RITA's pairs at the end), and
//! merges repeated evidence (the same alert about the same host, peer and port) into one
//! finding with a flow count, so memory grows with distinct findings, not with flows.
//! [`Analysis::finish`] adds what only the whole input shows and aggregates per host.

use std::hash::BuildHasher;
use std::net::IpAddr;

use foldhash::fast::FixedState;
use hashbrown::HashMap;

use crate::detect::Detector;
use crate::evidence::{EVIDENCE_FLOWS, Evidence, Kind, ThreatLevel};
use crate::flow::{DnsQuery, Flow};
use crate::net::PrefixSet;
use crate::rita::{DnsConfig, DnsTunnels, Rita, RitaConfig, ThreatIntel};
use crate::scan::{ScanConfig, ScanDetector, Trw, TrwConfig};
use crate::seed::{Seed, SeedConfig};
use crate::trust::{self, Prevalence, Report, TrustConfig};

/// Every setting of an analysis.
#[derive(Clone, Debug)]
pub struct AnalysisConfig {
    /// Internal subnets (RITA's filter, prevalence, the TRW's inbound setting).
    pub internal: PrefixSet,
    /// Blacklisted addresses and prefixes (the seed's check).
    pub blacklist: PrefixSet,
    /// Threat-intel feeds (RITA: listed domains, matched against DNS queries).
    pub intel: ThreatIntel,
    /// The seed checks.
    pub seed: SeedConfig,
    /// RITA.
    pub rita: RitaConfig,
    /// DNS tunnelling.
    pub dns: DnsConfig,
    /// Scans.
    pub scan: ScanConfig,
    /// The Threshold Random Walk.
    pub trw: TrwConfig,
    /// The aggregator.
    pub trust: TrustConfig,
}

impl Default for AnalysisConfig {
    fn default() -> AnalysisConfig {
        AnalysisConfig {
            internal: PrefixSet::default_internal(),
            blacklist: PrefixSet::new(),
            intel: ThreatIntel::new(),
            seed: SeedConfig::default(),
            rita: RitaConfig::default(),
            dns: DnsConfig::default(),
            scan: ScanConfig::default(),
            trw: TrwConfig::default(),
            trust: TrustConfig::default(),
        }
    }
}

/// A setting out of range, named.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A seed, scan or TRW setting.
    #[error(transparent)]
    Seed(#[from] crate::seed::ConfigError),
    /// A RITA setting.
    #[error(transparent)]
    Rita(#[from] crate::rita::ConfigError),
}

/// Addresses RITA's detectors never pair with: multicast, broadcast, unspecified.
const NOT_PEERS: [&str; 5] =
    ["224.0.0.0/4", "255.255.255.255/32", "0.0.0.0/32", "ff00::/8", "::/128"];

/// A scan finding's identity: kind, scanner, target, port.
type ScanKey = (Kind, IpAddr, Option<IpAddr>, Option<u16>);

/// Identifies repeated evidence: kind, host, peer, port and wording.
type EvidenceKey = (Kind, IpAddr, Option<IpAddr>, Option<u16>, String);

/// The analysis in progress.
pub struct Analysis {
    seed: Seed,
    /// RITA, split by pair over two detectors so that it runs on both cores.
    rita: [Rita; 2],
    dns: DnsTunnels,
    intel: ThreatIntel,
    scans: ScanDetector,
    trw: Trw,
    prevalence: Prevalence,
    trust: TrustConfig,
    evidence: Vec<Evidence>,
    index: HashMap<EvidenceKey, usize, FixedState>,
    pending: Vec<Evidence>,
    side: Vec<Evidence>,
    flows: u64,
    dns_queries: u64,
    first_ts: f64,
    last_ts: f64,
}

/// What an analysis found.
pub struct Outcome {
    /// Evidence and ranked hosts.
    pub report: Report,
    /// Flows analysed.
    pub flows: u64,
    /// DNS queries analysed.
    pub dns_queries: u64,
    /// The first flow's time.
    pub first_ts: Option<f64>,
    /// The last flow's time.
    pub last_ts: Option<f64>,
}

impl Analysis {
    /// An analysis with validated settings.
    pub fn new(config: AnalysisConfig) -> Result<Analysis, ConfigError> {
        let AnalysisConfig {
            internal,
            blacklist,
            intel,
            mut seed,
            mut rita,
            dns,
            scan,
            mut trw,
            trust,
        } = config;
        seed.blacklist = blacklist;
        rita.filter.internal = internal.clone();
        // Multicast, broadcast and unspecified addresses are nobody's peer: a host announcing
        // itself by SSDP every few minutes is not beaconing.
        for net in NOT_PEERS {
            rita.filter.never_included.insert(net.parse().expect("a valid built-in prefix"));
        }
        if trw.internal.is_none() {
            trw.internal = Some(internal.clone());
        }
        Ok(Analysis {
            seed: Seed::new(seed)?,
            rita: [Rita::new(rita.clone())?, Rita::new(rita)?],
            dns: DnsTunnels::new(dns),
            intel,
            scans: ScanDetector::new(scan)?,
            trw: Trw::new(trw)?,
            prevalence: Prevalence::new(internal),
            trust,
            evidence: Vec::new(),
            index: HashMap::default(),
            pending: Vec::new(),
            side: Vec::new(),
            flows: 0,
            dns_queries: 0,
            first_ts: f64::INFINITY,
            last_ts: f64::NEG_INFINITY,
        })
    }

    /// Analyses one flow.
    pub fn observe(&mut self, flow: &Flow) {
        self.flows += 1;
        self.first_ts = self.first_ts.min(flow.ts);
        self.last_ts = self.last_ts.max(flow.ts);
        self.seed.observe(flow, &mut self.pending);
        self.rita[rita_shard(flow)].observe(flow, &mut self.pending);
        self.scans.observe(flow, &mut self.pending);
        self.trw.observe(flow, &mut self.pending);
        if !self.pending.is_empty() {
            self.absorb();
        }
    }

    /// Analyses a batch of flows, in order, on rayon's pool: RITA's two halves (pairs split by
    /// a hash) and the seed checks, scans and TRW run side by side; evidence is merged in a
    /// fixed order afterwards, so the result is the same as flow-by-flow
    /// [`observe`](Analysis::observe).
    pub fn observe_batch(&mut self, flows: &[Flow]) {
        for f in flows {
            self.first_ts = self.first_ts.min(f.ts);
            self.last_ts = self.last_ts.max(f.ts);
        }
        self.flows += flows.len() as u64;
        let mut side = std::mem::take(&mut self.side);
        let [rita0, rita1] = &mut self.rita;
        let (seed, scans, trw) = (&mut self.seed, &mut self.scans, &mut self.trw);
        // RITA reports only at the end: its shards need no evidence buffer of their own.
        let rita_part = |rita: &mut Rita, shard: usize| {
            let mut none = Vec::new();
            for f in flows.iter().filter(|f| rita_shard(f) == shard) {
                rita.observe(f, &mut none);
            }
        };
        rayon::join(
            || rayon::join(|| rita_part(rita0, 0), || rita_part(rita1, 1)),
            || {
                for f in flows {
                    seed.observe(f, &mut side);
                    scans.observe(f, &mut side);
                    trw.observe(f, &mut side);
                }
            },
        );
        self.pending.append(&mut side);
        self.side = side;
        if !self.pending.is_empty() {
            self.absorb();
        }
    }

    /// Analyses one DNS query.
    pub fn observe_dns(&mut self, query: &DnsQuery) {
        self.dns_queries += 1;
        self.dns.observe(query);
    }

    /// Merges new evidence into what is kept.
    fn absorb(&mut self) {
        for e in self.pending.drain(..) {
            let key = (e.kind, e.host, e.peer, e.port, e.description.clone());
            match self.index.get(&key) {
                Some(&i) => merge(&mut self.evidence[i], e),
                None => {
                    self.index.insert(key, self.evidence.len());
                    self.evidence.push(e);
                }
            }
        }
    }

    /// Ends the input: whole-input detectors report, and the evidence is aggregated per host.
    pub fn finish(mut self) -> Outcome {
        self.seed.finish(&mut self.pending);
        let bounds =
            self.rita.iter().filter_map(Rita::bounds).reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)));
        for rita in &mut self.rita {
            if let Some((min, max)) = bounds {
                rita.widen_bounds(min, max);
            }
            rita.finish(&mut self.pending);
        }
        self.scans.finish(&mut self.pending);
        self.trw.finish(&mut self.pending);
        self.absorb();
        let intel = (self.intel.has_domains()).then_some(&self.intel);
        let mut destinations = self.rita[0].destinations();
        destinations.extend(self.rita[1].destinations());
        let contacted = |ip: IpAddr| destinations.contains(&ip);
        let tunnels = self.dns.report(intel, Some(&contacted));
        DnsTunnels::evidence(&tunnels, &mut self.pending);
        self.absorb();
        fold_scan_summaries(&mut self.evidence);
        for (host, peer) in self.rita.iter().flat_map(Rita::host_peers) {
            self.prevalence.observe_pair(host, peer);
        }
        let report = trust::aggregate(self.evidence, &self.prevalence, &self.trust);
        let seen = self.flows > 0;
        Outcome {
            report,
            flows: self.flows,
            dns_queries: self.dns_queries,
            first_ts: seen.then_some(self.first_ts),
            last_ts: seen.then_some(self.last_ts),
        }
    }
}

/// Folds a repeat of `e` into `kept`: flows added (bounded), times widened, the stronger
/// score, threat and confidence kept.
fn merge(kept: &mut Evidence, e: Evidence) {
    kept.first_ts = kept.first_ts.min(e.first_ts);
    kept.ts = kept.ts.max(e.ts);
    kept.threat = kept.threat.max(e.threat);
    kept.confidence = kept.confidence.max(e.confidence);
    kept.score = kept.score.max(e.score);
    kept.flow_count += e.flow_count.max(1);
    let room = EVIDENCE_FLOWS.saturating_sub(kept.flows.len());
    kept.flows.extend(e.flows.into_iter().take(room));
}

/// Which RITA half a flow's pair belongs to (a fixed hash of the two addresses).
fn rita_shard(flow: &Flow) -> usize {
    (FixedState::with_seed(0).hash_one((flow.src, flow.dst)) & 1) as usize
}

/// Folds each scan summary (threat info: the window's real totals, see [`crate::scan`]) into
/// the scan evidence it sums up — the latest evidence of the same kind, host, peer and port
/// before it — so one finding says "to 254 unique destination IPs", not "to 10" plus a note.
fn fold_scan_summaries(evidence: &mut Vec<Evidence>) {
    let is_scan = |k: Kind| matches!(k, Kind::HorizontalScan | Kind::VerticalScan);
    let mut latest: HashMap<ScanKey, usize, FixedState> = HashMap::default();
    let mut order: Vec<usize> =
        (0..evidence.len()).filter(|&i| is_scan(evidence[i].kind)).collect();
    // Time order; at equal times the evidence before its summary.
    order.sort_by(|&a, &b| {
        let (ea, eb) = (&evidence[a], &evidence[b]);
        ea.ts
            .total_cmp(&eb.ts)
            .then((ea.threat == ThreatLevel::Info).cmp(&(eb.threat == ThreatLevel::Info)))
            .then(a.cmp(&b))
    });
    let mut dropped = vec![false; evidence.len()];
    for i in order {
        let e = &evidence[i];
        let key = (e.kind, e.host, e.peer, e.port);
        if e.threat != ThreatLevel::Info {
            latest.insert(key, i);
            continue;
        }
        let Some(&j) = latest.get(&key) else { continue };
        let summary = evidence[i].clone();
        let kept = &mut evidence[j];
        kept.description = summary.description;
        kept.ts = kept.ts.max(summary.ts);
        kept.flow_count = kept.flow_count.max(summary.flow_count);
        let room = EVIDENCE_FLOWS.saturating_sub(kept.flows.len());
        kept.flows.extend(summary.flows.into_iter().take(room));
        dropped[i] = true;
    }
    let mut k = 0;
    evidence.retain(|_| {
        k += 1;
        !dropped[k - 1]
    });
}

/// Whether `flow` is one of the flows `evidence` is about.
///
/// Evidence that kept all its flows (at most [`EVIDENCE_FLOWS`]) covers exactly those. Larger
/// findings cover by key: the evidence's host is one side of the flow, its peer (if any) the
/// other, and its port (if any) the destination port; host-wide findings (too many ports, the
/// TRW) cover the host's failed attempts, and a vertical scan its flows to the target.
pub fn covers(evidence: &Evidence, flow: &Flow) -> bool {
    if evidence.flow_count as usize <= evidence.flows.len() {
        return evidence.flows.iter().any(|r| {
            r.ts == flow.ts
                && r.src == flow.src
                && r.dst == flow.dst
                && r.src_port == flow.src_port
                && r.dst_port == flow.dst_port
        });
    }
    let other = if flow.src == evidence.host {
        flow.dst
    } else if flow.dst == evidence.host {
        flow.src
    } else {
        return false;
    };
    if evidence.peer.is_some_and(|p| p != other) {
        return false;
    }
    match evidence.kind {
        Kind::VerticalScan => flow.src == evidence.host,
        Kind::TooManyPorts | Kind::TooManyPortsHard | Kind::TrwScanner => {
            flow.src == evidence.host && !flow.state.established()
        }
        _ => evidence.port.is_none_or(|p| p == flow.dst_port),
    }
}
