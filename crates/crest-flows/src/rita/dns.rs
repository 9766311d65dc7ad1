//! DNS tunnelling / "C2 over DNS", RITA style: the distinct names queried under each
//! registrable domain, each name exploded into all its parents down to the registrable domain
//! (`a.b.example.com` counts `a.b.example.com`, `b.example.com` and `example.com`), counted
//! over the last 24 hours of the DNS log. A domain is flagged from 100 names and bucketed at
//! 100 / 500 / 800 / 1000.
//!
//! Registrable domains come from the public suffix list (the `psl` crate, compiled in): the
//! registrable domain of `x.y.example.co.uk` is `example.co.uk`. Names under `.arpa` and
//! `.local`, and names that are themselves public suffixes, are ignored.
//!
//! Memory is bounded by the number of distinct names seen in the window, not by the number of
//! queries: names are kept as 64-bit hashes (a collision, at about 2⁻⁶⁴ per pair of names,
//! would undercount by one) with their last-seen second, and names older than the window are
//! dropped as it moves (amortised).
//!
//! The "c2_over_dns_direct_conn" modifier (+0.15: the domain's resolved addresses were never
//! contacted directly, so it is only used through DNS) needs the connection data; pass a
//! predicate "was this address contacted?" to [`DnsTunnels::report`] (for instance built from
//! [`Rita::destinations`](super::Rita::destinations)) or `None` to leave it out.

use std::hash::BuildHasher;
use std::net::IpAddr;

use foldhash::fast::FixedState;
use hashbrown::HashMap;

use super::intel::ThreatIntel;
use super::stats::{Thresholds, bucket};
use crate::evidence::{Evidence, Kind, ThreatLevel};
use crate::flow::DnsQuery;

/// DNS settings; `Default` is RITA's.
#[derive(Clone, Debug, PartialEq)]
pub struct DnsConfig {
    /// Names (exploded) a registrable domain needs to be reported (100).
    pub subdomain_threshold: u64,
    /// Bucketing thresholds on the name count (100 / 500 / 800 / 1000).
    pub thresholds: Thresholds,
    /// The window, seconds back from the last query (86,400), rounded down to the hour like
    /// the beacon window; `None` counts the whole input.
    pub window_secs: Option<i64>,
    /// The "c2_over_dns_direct_conn" modifier (0.15).
    pub direct_conn_score_increase: f64,
    /// Resolved addresses kept per domain for the modifier (64).
    pub max_resolved: usize,
    /// Impact of a threat-intel hit on a queried domain (0.8).
    pub threat_intel_score: f64,
}

impl Default for DnsConfig {
    fn default() -> DnsConfig {
        DnsConfig {
            subdomain_threshold: 100,
            thresholds: Thresholds::DNS,
            window_secs: Some(86_400),
            direct_conn_score_increase: 0.15,
            max_resolved: 64,
            threat_intel_score: 0.8,
        }
    }
}

/// The clients kept per domain (the rest are counted together).
const CLIENTS: usize = 4;
/// Names a domain keeps before its first pruning.
const MIN_PRUNE: usize = 64;

#[derive(Debug)]
struct DomainState {
    /// Name hash → last second seen.
    names: HashMap<u64, u32, FixedState>,
    prune_at: usize,
    queries: u64,
    first: f64,
    last: f64,
    clients: [(IpAddr, u64); CLIENTS],
    other_clients: u64,
    resolved: Vec<IpAddr>,
}

/// The DNS-tunnelling detector: feed it [`DnsQuery`] rows, then ask for its [`report`].
///
/// [`report`]: DnsTunnels::report
#[derive(Debug)]
pub struct DnsTunnels {
    cfg: DnsConfig,
    domains: HashMap<String, DomainState, FixedState>,
    hasher: FixedState,
    scratch: String,
    min_ts: i64,
    max_ts: i64,
    queries: u64,
    ignored: u64,
}

/// One registrable domain's DNS figures.
#[derive(Clone, Debug, PartialEq)]
pub struct DnsTunnel {
    /// The registrable domain.
    pub domain: String,
    /// Distinct (exploded) names under it in the window.
    pub subdomains: u64,
    /// Queries for names under it (whole input).
    pub queries: u64,
    /// The clients that asked most, with their query counts, most first.
    pub clients: Vec<(IpAddr, u64)>,
    /// Queries by other clients.
    pub other_clients: u64,
    /// Distinct resolved addresses seen (up to the configured cap).
    pub resolved: usize,
    /// First query, epoch seconds.
    pub first_ts: f64,
    /// Last query, epoch seconds.
    pub last_ts: f64,
    /// The bucketed score (0 below the base threshold, then 0.2..0.8).
    pub bucket: f64,
    /// The "c2_over_dns_direct_conn" modifier, when connection data was given.
    pub direct_conn_modifier: Option<f64>,
    /// Whether the domain is on a threat-intel feed.
    pub threat_intel: bool,
    /// `max(bucket, threat intel impact)` plus the modifier.
    pub final_score: f64,
}

impl DnsTunnel {
    /// The one-line description used in evidence.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "DNS tunnelling: {} has {} distinct subdomains in {} queries",
            self.domain, self.subdomains, self.queries
        );
        if self.direct_conn_modifier.is_some_and(|m| m > 0.0) {
            s.push_str(", never contacted directly");
        }
        s
    }
}

impl DnsTunnels {
    /// A detector with the given settings.
    pub fn new(cfg: DnsConfig) -> DnsTunnels {
        DnsTunnels {
            cfg,
            domains: HashMap::default(),
            hasher: FixedState::with_seed(0x5eed_d115),
            scratch: String::new(),
            min_ts: i64::MAX,
            max_ts: i64::MIN,
            queries: 0,
            ignored: 0,
        }
    }

    /// Queries seen, and how many of them were ignored (`.arpa`, `.local`, no registrable
    /// domain).
    pub fn counts(&self) -> (u64, u64) {
        (self.queries, self.ignored)
    }

    /// The first second of the window, given the queries seen so far.
    fn window_start(&self) -> i64 {
        match self.cfg.window_secs {
            Some(span) if self.max_ts >= self.min_ts => {
                (self.min_ts.max(self.max_ts - span)).div_euclid(3600) * 3600
            }
            _ => i64::MIN,
        }
    }

    /// Looks at one query.
    pub fn observe(&mut self, q: &DnsQuery) {
        self.queries += 1;
        let raw = q.query.trim_end_matches('.');
        if raw.bytes().any(|b| b.is_ascii_uppercase()) {
            let mut buf = std::mem::take(&mut self.scratch);
            buf.clear();
            buf.push_str(raw);
            buf.make_ascii_lowercase();
            self.observe_name(q, &buf);
            self.scratch = buf;
        } else {
            self.observe_name(q, raw);
        }
    }

    fn observe_name(&mut self, q: &DnsQuery, name: &str) {
        if name.is_empty()
            || name == "arpa"
            || name.ends_with(".arpa")
            || name == "local"
            || name.ends_with(".local")
        {
            self.ignored += 1;
            return;
        }
        let Some(reg) = psl::domain_str(name) else {
            self.ignored += 1;
            return;
        };
        let secs = if q.ts.is_finite() { q.ts.floor() as i64 } else { 0 };
        self.min_ts = self.min_ts.min(secs);
        self.max_ts = self.max_ts.max(secs);
        // Names last seen before this cannot be in the final window, whatever comes later.
        let cutoff = match self.cfg.window_secs {
            Some(span) => (self.max_ts - span).div_euclid(3600) * 3600,
            None => i64::MIN,
        };
        let seen = secs.clamp(0, u32::MAX as i64) as u32;
        let state = self.domains.entry_ref(reg).or_insert_with(|| DomainState {
            names: HashMap::default(),
            prune_at: MIN_PRUNE,
            queries: 0,
            first: q.ts,
            last: q.ts,
            clients: [(q.src, 0); CLIENTS],
            other_clients: 0,
            resolved: Vec::new(),
        });
        state.queries += 1;
        state.first = state.first.min(q.ts);
        state.last = state.last.max(q.ts);
        tally(&mut state.clients, &mut state.other_clients, q.src);
        for &ip in &q.answers {
            if state.resolved.len() < self.cfg.max_resolved && !state.resolved.contains(&ip) {
                state.resolved.push(ip);
            }
        }
        // Explode: the name itself, then each parent down to the registrable domain.
        let stop = name.len() - reg.len();
        let mut at = 0;
        loop {
            let h = self.hasher.hash_one(&name[at..]);
            let e = state.names.entry(h).or_insert(seen);
            *e = (*e).max(seen);
            if at >= stop {
                break;
            }
            match name[at..stop].find('.') {
                Some(dot) => at += dot + 1,
                None => break,
            }
        }
        if state.names.len() >= state.prune_at {
            let keep = cutoff.clamp(0, u32::MAX as i64) as u32;
            state.names.retain(|_, last| *last >= keep);
            state.prune_at = (state.names.len() * 2).max(MIN_PRUNE);
        }
    }

    /// Every domain's figures: those with at least the threshold of names (bucketed, so
    /// below the bucketing base their bucket is 0), and those on a domain feed when `intel` is
    /// given; highest final score first. `contacted` tells whether
    /// an address was connected to directly (for the "c2_over_dns_direct_conn" modifier);
    /// `None` leaves the modifier out.
    pub fn report(
        &self,
        intel: Option<&ThreatIntel>,
        contacted: Option<&dyn Fn(IpAddr) -> bool>,
    ) -> Vec<DnsTunnel> {
        let keep = self.window_start().clamp(0, u32::MAX as i64) as u32;
        let mut out = Vec::new();
        for (domain, st) in &self.domains {
            let subdomains = st.names.values().filter(|&&t| t >= keep).count() as u64;
            let listed = intel.is_some_and(|ti| ti.match_registrable(domain));
            let flagged = subdomains >= self.cfg.subdomain_threshold;
            if !flagged && !listed {
                continue;
            }
            let b = if flagged { bucket(subdomains as f64, &self.cfg.thresholds) } else { 0.0 };
            let direct_conn_modifier = contacted.map(|f| {
                if b > 0.0 && !st.resolved.iter().any(|&ip| f(ip)) {
                    self.cfg.direct_conn_score_increase
                } else {
                    0.0
                }
            });
            let base = if listed { b.max(self.cfg.threat_intel_score) } else { b };
            let mut clients: Vec<(IpAddr, u64)> =
                st.clients.iter().copied().filter(|c| c.1 > 0).collect();
            clients.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            out.push(DnsTunnel {
                domain: domain.to_string(),
                subdomains,
                queries: st.queries,
                clients,
                other_clients: st.other_clients,
                resolved: st.resolved.len(),
                first_ts: st.first,
                last_ts: st.last,
                bucket: b,
                direct_conn_modifier,
                threat_intel: listed,
                final_score: base + direct_conn_modifier.unwrap_or(0.0),
            });
        }
        out.sort_by(|a, b| {
            b.final_score
                .total_cmp(&a.final_score)
                .then(b.subdomains.cmp(&a.subdomains))
                .then_with(|| a.domain.cmp(&b.domain))
        });
        out
    }

    /// The report as evidence: a [`Kind::DnsTunnel`] finding per flagged domain and a
    /// [`Kind::Blacklist`] one per listed domain, against the client that asked most.
    pub fn evidence(report: &[DnsTunnel], out: &mut Vec<Evidence>) {
        for d in report {
            let Some(&(host, _)) = d.clients.first() else { continue };
            if d.bucket > 0.0 {
                let mut e = Evidence::new(
                    Kind::DnsTunnel,
                    host,
                    d.last_ts,
                    ThreatLevel::from_score(d.bucket),
                    d.describe(),
                );
                e.first_ts = d.first_ts;
                e.score = d.bucket + d.direct_conn_modifier.unwrap_or(0.0);
                e.flow_count = d.queries;
                out.push(e);
            }
            if d.threat_intel {
                let mut e = Evidence::new(
                    Kind::Blacklist,
                    host,
                    d.last_ts,
                    ThreatLevel::High,
                    format!("Threat intel: {} is listed, {} queries", d.domain, d.queries),
                );
                e.first_ts = d.first_ts;
                e.flow_count = d.queries;
                out.push(e);
            }
        }
    }
}

/// Counts a query for `ip` in a small fixed table (a full table counts the rest together).
fn tally(clients: &mut [(IpAddr, u64); CLIENTS], other: &mut u64, ip: IpAddr) {
    for c in clients.iter_mut() {
        if c.1 > 0 && c.0 == ip {
            c.1 += 1;
            return;
        }
    }
    match clients.iter_mut().find(|c| c.1 == 0) {
        Some(c) => *c = (ip, 1),
        None => *other += 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(ts: f64, src: &str, name: &str) -> DnsQuery {
        DnsQuery {
            ts,
            src: src.parse().unwrap(),
            dst: "10.0.0.53".parse().unwrap(),
            query: name.to_string(),
            answers: vec![],
        }
    }

    #[test]
    fn explodes_names_under_the_registrable_domain() {
        let mut d = DnsTunnels::new(DnsConfig { subdomain_threshold: 1, ..DnsConfig::default() });
        d.observe(&q(0.0, "10.0.0.1", "a.b.example.co.uk"));
        d.observe(&q(1.0, "10.0.0.1", "c.b.example.co.uk."));
        d.observe(&q(2.0, "10.0.0.2", "Example.CO.uk"));
        d.observe(&q(3.0, "10.0.0.2", "1.0.168.192.in-addr.arpa"));
        d.observe(&q(4.0, "10.0.0.2", "printer.local"));
        d.observe(&q(5.0, "10.0.0.2", "co.uk"));
        let r = d.report(None, None);
        assert_eq!(r.len(), 1);
        // a.b.example.co.uk, c.b.example.co.uk, b.example.co.uk, example.co.uk.
        assert_eq!((r[0].domain.as_str(), r[0].subdomains, r[0].queries), ("example.co.uk", 4, 3));
        assert_eq!(r[0].clients[0], ("10.0.0.1".parse().unwrap(), 2));
        assert_eq!(d.counts(), (6, 3));
    }

    #[test]
    fn flags_a_tunnel_and_its_modifier() {
        let mut d = DnsTunnels::new(DnsConfig::default());
        let resolved: IpAddr = "203.0.113.9".parse().unwrap();
        for i in 0..650u32 {
            let mut query = q(1e9 + i as f64, "10.0.0.7", &format!("{i:x}.t.tunnel.example"));
            query.answers.push(resolved);
            d.observe(&query);
            d.observe(&q(1e9 + i as f64, "10.0.0.8", "www.benign.example"));
        }
        // 650 leaves + t.tunnel.example + tunnel.example = 652 names: 0.4 + 152/300·0.2.
        let r = d.report(None, Some(&|ip| ip != resolved));
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].subdomains, r[0].queries), (652, 650));
        assert!((r[0].bucket - (0.4 + 152.0 / 300.0 * 0.2)).abs() < 1e-12);
        assert_eq!(r[0].direct_conn_modifier, Some(0.15));
        assert!((r[0].final_score - r[0].bucket - 0.15).abs() < 1e-12);
        let r = d.report(None, Some(&|_| true));
        assert_eq!(r[0].direct_conn_modifier, Some(0.0));
        let r = d.report(None, None);
        assert_eq!(r[0].direct_conn_modifier, None);
        let mut ev = Vec::new();
        DnsTunnels::evidence(&r, &mut ev);
        assert_eq!(ev.len(), 1);
        assert_eq!((ev[0].kind, ev[0].threat), (Kind::DnsTunnel, ThreatLevel::Medium));
        assert_eq!(ev[0].host, "10.0.0.7".parse::<IpAddr>().unwrap());
        // A listed domain is reported whatever its count.
        let mut ti = ThreatIntel::new();
        ti.add_domain("www.benign.example");
        let r = d.report(Some(&ti), None);
        assert_eq!(r.len(), 2);
        assert!(r[0].threat_intel && r[0].final_score == 0.8 && r[0].domain == "benign.example");
    }

    #[test]
    fn the_window_forgets_old_names() {
        let mut d = DnsTunnels::new(DnsConfig::default());
        let day = 86_400.0;
        for i in 0..200 {
            d.observe(&q(1e9 + i as f64, "10.0.0.7", &format!("old{i}.tunnel.example")));
        }
        for i in 0..150 {
            d.observe(&q(
                1e9 + 3.0 * day + i as f64,
                "10.0.0.7",
                &format!("new{i}.tunnel.example"),
            ));
        }
        let r = d.report(None, None);
        assert_eq!(r[0].subdomains, 151);
        let mut all = DnsTunnels::new(DnsConfig { window_secs: None, ..DnsConfig::default() });
        for i in 0..200 {
            all.observe(&q(1e9 + i as f64, "10.0.0.7", &format!("old{i}.tunnel.example")));
        }
        assert_eq!(all.report(None, None)[0].subdomains, 201);
    }
}
