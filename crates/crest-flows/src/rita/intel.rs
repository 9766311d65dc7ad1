//! Threat-intel matching, RITA style: feeds of addresses (and prefixes) and domains, one per
//! line; the external side of each pair is looked up, DNS names are joined on their registrable
//! domain. A hit is a fixed "high" finding (0.8), plus 0.15 when the pair moved 25 MB or more.

use std::net::IpAddr;

use foldhash::fast::FixedState;
use hashbrown::HashSet;
use ipnet::IpNet;

use crate::net::{PrefixSet, parse_entry};

/// A feed line that is neither an address, a CIDR prefix nor a domain name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{feed}:{line}: not an IP address, CIDR prefix or domain: '{entry}'")]
pub struct FeedError {
    /// The feed's name (its file or URL).
    pub feed: String,
    /// The line, from 1.
    pub line: usize,
    /// The entry as written.
    pub entry: String,
}

/// How many entries a feed added.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FeedStats {
    /// Addresses and prefixes.
    pub ips: usize,
    /// Domain names.
    pub domains: usize,
}

/// Threat-intel feeds: addresses/prefixes and domain names.
#[derive(Clone, Debug, Default)]
pub struct ThreatIntel {
    /// Blocklisted addresses and prefixes.
    ips: PrefixSet,
    /// Blocklisted names, exactly as listed (lower case, no trailing dot).
    domains: HashSet<String, FixedState>,
    /// The registrable domains of the listed names (for the DNS join).
    registrable: HashSet<String, FixedState>,
}

impl ThreatIntel {
    /// No feeds.
    pub fn new() -> ThreatIntel {
        ThreatIntel::default()
    }

    /// Adds a feed in RITA's format: one IP address, CIDR prefix or domain per line; `#`
    /// starts a comment; blank lines are ignored. `name` names the feed in errors.
    pub fn add_feed(&mut self, text: &str, name: &str) -> Result<FeedStats, FeedError> {
        let mut stats = FeedStats::default();
        for (i, line) in text.lines().enumerate() {
            let entry = line.split('#').next().unwrap_or("").trim();
            if entry.is_empty() {
                continue;
            }
            if let Some(net) = parse_entry(entry) {
                self.ips.insert(net);
                stats.ips += 1;
            } else if let Some(domain) = normalise_domain(entry) {
                self.add_domain(&domain);
                stats.domains += 1;
            } else {
                return Err(FeedError {
                    feed: name.to_string(),
                    line: i + 1,
                    entry: entry.to_string(),
                });
            }
        }
        Ok(stats)
    }

    /// Adds one address or prefix.
    pub fn add_ip(&mut self, net: IpNet) {
        self.ips.insert(net);
    }

    /// Adds one domain name (lower-cased, trailing dot removed).
    pub fn add_domain(&mut self, domain: &str) {
        let d = domain.trim().trim_end_matches('.').to_ascii_lowercase();
        if d.is_empty() {
            return;
        }
        let reg = psl::domain_str(&d).unwrap_or(&d).to_string();
        self.registrable.insert(reg);
        self.domains.insert(d);
    }

    /// The listed prefix holding `ip` (the longest), if any.
    pub fn match_ip(&self, ip: IpAddr) -> Option<IpNet> {
        if self.ips.is_empty() { None } else { self.ips.longest_match(ip) }
    }

    /// Whether `fqdn` is listed exactly.
    pub fn match_domain(&self, fqdn: &str) -> bool {
        self.domains.contains(fqdn)
    }

    /// Whether a registrable domain is the registrable domain of a listed name (RITA's join of
    /// DNS rows with the feed).
    pub fn match_registrable(&self, registrable: &str) -> bool {
        self.registrable.contains(registrable)
    }

    /// Whether any address feed entries are loaded.
    pub fn has_ips(&self) -> bool {
        !self.ips.is_empty()
    }

    /// Whether any domain feed entries are loaded.
    pub fn has_domains(&self) -> bool {
        !self.domains.is_empty()
    }

    /// How many distinct prefixes and domains are loaded.
    pub fn len(&self) -> usize {
        self.ips.len() + self.domains.len()
    }

    /// Whether nothing is loaded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A plausible DNS name, lower-cased without its trailing dot: letters, digits, `-`, `_`,
/// dots between labels, at least two labels.
fn normalise_domain(entry: &str) -> Option<String> {
    let d = entry.trim_end_matches('.').to_ascii_lowercase();
    let ok = d.contains('.')
        && !d.starts_with('.')
        && !d.contains("..")
        && d.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    ok.then_some(d)
}

/// A pair whose external side is on an address feed.
#[derive(Clone, Debug, PartialEq)]
pub struct IntelHit {
    /// The originator.
    pub src: IpAddr,
    /// The responder.
    pub dst: IpAddr,
    /// The listed (external) address.
    pub external: IpAddr,
    /// The other side.
    pub internal: IpAddr,
    /// The feed entry it matched (longest prefix).
    pub matched: IpNet,
    /// Connections of the pair over the whole input (open ones once).
    pub conns: u64,
    /// Bytes both ways over the whole input (open connections at their latest count).
    pub bytes: u64,
    /// First connection, epoch seconds.
    pub first_ts: f64,
    /// Last connection start, epoch seconds.
    pub last_ts: f64,
    /// The data-size modifier: 0.15 when `bytes` ≥ 25 MB, else 0.
    pub modifier: f64,
    /// The impact (0.8) plus the modifier.
    pub score: f64,
}

impl IntelHit {
    /// The one-line description used in evidence.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "Threat intel: {} → {}: {} is listed ({}), {} connections, {} bytes",
            self.src, self.dst, self.external, self.matched, self.conns, self.bytes
        );
        if self.modifier > 0.0 {
            s.push_str(&format!(" (+{:.2}: ≥ 25 MB moved)", self.modifier));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feeds_mix_addresses_and_domains() {
        let mut ti = ThreatIntel::new();
        let feed = "# Feodo\n1.2.3.4\n10.9.0.0/16 # a net\n\nEvil.Example.COM.\nbad.co.uk\n";
        let s = ti.add_feed(feed, "feed.txt").unwrap();
        assert_eq!(s, FeedStats { ips: 2, domains: 2 });
        assert_eq!(ti.len(), 4);
        assert_eq!(ti.match_ip("1.2.3.4".parse().unwrap()), Some("1.2.3.4/32".parse().unwrap()));
        assert_eq!(ti.match_ip("10.9.8.7".parse().unwrap()), Some("10.9.0.0/16".parse().unwrap()));
        assert_eq!(ti.match_ip("1.2.3.5".parse().unwrap()), None);
        assert!(ti.match_domain("evil.example.com"));
        assert!(!ti.match_domain("example.com"));
        assert!(ti.match_registrable("example.com"));
        assert!(ti.match_registrable("bad.co.uk"));
        assert!(!ti.match_registrable("co.uk"));
        let err = ti.add_feed("1.1.1.1\nhttp://x/y", "f").unwrap_err();
        assert_eq!(err.line, 2);
        assert_eq!(err.to_string(), "f:2: not an IP address, CIDR prefix or domain: 'http://x/y'");
    }
}
