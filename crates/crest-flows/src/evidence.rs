//! What detectors report: evidence against a host, with a threat level, a confidence and the
//! flows that show it.

use std::fmt;
use std::net::IpAddr;

use crate::flow::{Flow, FlowRef};

/// How many evidence flows a finding keeps verbatim (the rest are counted).
pub const EVIDENCE_FLOWS: usize = 10;

/// Slips' threat levels, with their numeric values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ThreatLevel {
    /// 0: informational, adds nothing to a host's score.
    Info,
    /// 0.2.
    Low,
    /// 0.5.
    Medium,
    /// 0.8.
    High,
    /// 1.
    Critical,
}

impl ThreatLevel {
    /// The level's weight: 0, 0.2, 0.5, 0.8 or 1.
    pub fn value(self) -> f64 {
        match self {
            ThreatLevel::Info => 0.0,
            ThreatLevel::Low => 0.2,
            ThreatLevel::Medium => 0.5,
            ThreatLevel::High => 0.8,
            ThreatLevel::Critical => 1.0,
        }
    }

    /// The level whose band holds a RITA-style score in [0, 1] (high ≥ 0.6, medium ≥ 0.4,
    /// low ≥ 0.2, else info).
    pub fn from_score(score: f64) -> ThreatLevel {
        if score >= 0.6 {
            ThreatLevel::High
        } else if score >= 0.4 {
            ThreatLevel::Medium
        } else if score >= 0.2 {
            ThreatLevel::Low
        } else {
            ThreatLevel::Info
        }
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            ThreatLevel::Info => "info",
            ThreatLevel::Low => "low",
            ThreatLevel::Medium => "medium",
            ThreatLevel::High => "high",
            ThreatLevel::Critical => "critical",
        }
    }
}

impl fmt::Display for ThreatLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which detector produced a piece of evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Seed step 0: a flow to an "interesting" port (0, 81, 82).
    InterestingPort,
    /// Seed step 0: a flow to 255.255.255.255.
    Broadcast,
    /// Seed step 1 / RITA threat intel: a blacklisted address or prefix.
    Blacklist,
    /// Seed step 3: more distinct ports than the 90th percentile of all IPs.
    TooManyPorts,
    /// Seed step 3: more than 100 distinct ports.
    TooManyPortsHard,
    /// Seed step 4: a pair that is an IQR outlier in its 10-second window.
    IqrOutlier,
    /// RITA: a beacon.
    Beacon,
    /// RITA: a strobe (≥ 86,400 connections in the window).
    Strobe,
    /// RITA: a long connection.
    LongConnection,
    /// RITA: DNS tunnelling / C2 over DNS.
    DnsTunnel,
    /// A horizontal scan (one port, many hosts).
    HorizontalScan,
    /// A vertical scan (one host, many ports).
    VerticalScan,
    /// The Threshold Random Walk declared the host a scanner.
    TrwScanner,
}

impl Kind {
    /// Every kind, in output order.
    pub const ALL: [Kind; 13] = [
        Kind::InterestingPort,
        Kind::Broadcast,
        Kind::Blacklist,
        Kind::TooManyPorts,
        Kind::TooManyPortsHard,
        Kind::IqrOutlier,
        Kind::Beacon,
        Kind::Strobe,
        Kind::LongConnection,
        Kind::DnsTunnel,
        Kind::HorizontalScan,
        Kind::VerticalScan,
        Kind::TrwScanner,
    ];

    /// A stable kebab-case name for machines.
    pub fn name(self) -> &'static str {
        match self {
            Kind::InterestingPort => "interesting-port",
            Kind::Broadcast => "broadcast",
            Kind::Blacklist => "blacklist",
            Kind::TooManyPorts => "too-many-ports",
            Kind::TooManyPortsHard => "too-many-ports-hard",
            Kind::IqrOutlier => "iqr-outlier",
            Kind::Beacon => "beacon",
            Kind::Strobe => "strobe",
            Kind::LongConnection => "long-connection",
            Kind::DnsTunnel => "dns-tunnel",
            Kind::HorizontalScan => "horizontal-scan",
            Kind::VerticalScan => "vertical-scan",
            Kind::TrwScanner => "trw-scanner",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One finding against a host.
#[derive(Clone, Debug, PartialEq)]
pub struct Evidence {
    /// The detector.
    pub kind: Kind,
    /// The host the evidence counts against (the scanner, the beaconing client, the internal
    /// side of a blacklisted pair…).
    pub host: IpAddr,
    /// The other side, when there is one.
    pub peer: Option<IpAddr>,
    /// The port concerned, when there is one.
    pub port: Option<u16>,
    /// When the evidence was established (epoch seconds): the flow that tipped it.
    pub ts: f64,
    /// The first flow's time (epoch seconds).
    pub first_ts: f64,
    /// Threat level.
    pub threat: ThreatLevel,
    /// Confidence in [0, 1].
    pub confidence: f64,
    /// The detector's own score (beacon score, RITA bucket, count…), for ranking within a kind.
    pub score: f64,
    /// The alert text, as the seed or the reference tool words it.
    pub description: String,
    /// Up to [`EVIDENCE_FLOWS`] flows that show it.
    pub flows: Vec<FlowRef>,
    /// How many flows are behind it in all.
    pub flow_count: u64,
}

impl Evidence {
    /// A piece of evidence about `host` with no flows attached yet.
    pub fn new(
        kind: Kind,
        host: IpAddr,
        ts: f64,
        threat: ThreatLevel,
        description: String,
    ) -> Evidence {
        Evidence {
            kind,
            host,
            peer: None,
            port: None,
            ts,
            first_ts: ts,
            threat,
            confidence: 1.0,
            score: threat.value(),
            description,
            flows: Vec::new(),
            flow_count: 0,
        }
    }

    /// Adds `flow` to the evidence (kept if fewer than [`EVIDENCE_FLOWS`] are kept).
    pub fn push_flow(&mut self, flow: &Flow) {
        if self.flows.len() < EVIDENCE_FLOWS {
            self.flows.push(FlowRef::from(flow));
        }
        self.flow_count += 1;
    }

    /// threat × confidence: what the evidence adds to a host's score.
    pub fn weight(&self) -> f64 {
        self.threat.value() * self.confidence
    }
}

/// Sorts evidence into its canonical order: time, host, kind, peer, port, description.
pub fn sort(evidence: &mut [Evidence]) {
    evidence.sort_by(|a, b| {
        a.ts.total_cmp(&b.ts)
            .then_with(|| a.host.cmp(&b.host))
            .then_with(|| a.kind.cmp(&b.kind))
            .then_with(|| a.peer.cmp(&b.peer))
            .then_with(|| a.port.cmp(&b.port))
            .then_with(|| a.description.cmp(&b.description))
    });
}

/// A bounded list of evidence flows with a total count, for detectors that gather flows before
/// they know whether they will report.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FlowSample {
    /// The first flows.
    pub flows: Vec<FlowRef>,
    /// How many flows in all.
    pub count: u64,
}

impl FlowSample {
    /// Records `flow`.
    pub fn push(&mut self, flow: &Flow) {
        if self.flows.len() < EVIDENCE_FLOWS {
            self.flows.push(FlowRef::from(flow));
        }
        self.count += 1;
    }

    /// Moves the sample into `evidence`.
    pub fn attach(self, evidence: &mut Evidence) {
        evidence.flows = self.flows;
        evidence.flow_count = self.count;
    }
}
