//! Address sets: internal subnets, blacklists and threat-intel feeds, with longest-prefix
//! lookup over IPv4 and IPv6 alike.

use std::net::IpAddr;

use foldhash::fast::FixedState;
use hashbrown::HashMap;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// A list entry that is neither an address nor a CIDR prefix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{list}:{line}: not an IP address or CIDR prefix: '{entry}'")]
pub struct ListError {
    /// The list's name (its file).
    pub list: String,
    /// The line, from 1.
    pub line: usize,
    /// The entry as written.
    pub entry: String,
}

/// A set of IPv4/IPv6 prefixes answering "which is the longest prefix holding this address?".
///
/// One hash table per prefix length in use, probed from the longest length down: lookups cost
/// at most as many probes as there are distinct lengths (a handful in practice), and a list of
/// plain addresses is a single exact-match table.
#[derive(Clone, Debug, Default)]
pub struct PrefixSet {
    /// Per IPv4 prefix length, the network addresses (as u32) in the set; lengths descending.
    v4: Vec<(u8, HashMap<u32, (), FixedState>)>,
    /// Per IPv6 prefix length, the network addresses (as u128); lengths descending.
    v6: Vec<(u8, HashMap<u128, (), FixedState>)>,
    /// How many distinct prefixes.
    len: usize,
}

fn mask4(addr: u32, len: u8) -> u32 {
    if len == 0 { 0 } else { addr & (u32::MAX << (32 - len)) }
}

fn mask6(addr: u128, len: u8) -> u128 {
    if len == 0 { 0 } else { addr & (u128::MAX << (128 - len)) }
}

impl PrefixSet {
    /// An empty set.
    pub fn new() -> PrefixSet {
        PrefixSet::default()
    }

    /// The default internal subnets: RITA's (RFC 1918 and the IPv6 unique-local fd00::/8) plus
    /// loopback and link-local, IPv4 and IPv6.
    pub fn default_internal() -> PrefixSet {
        let mut set = PrefixSet::new();
        for net in [
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "127.0.0.0/8",
            "169.254.0.0/16",
            "fd00::/8",
            "fe80::/10",
            "::1/128",
        ] {
            set.insert(net.parse().expect("a valid built-in prefix"));
        }
        set
    }

    /// Adds a prefix (its host bits are ignored).
    pub fn insert(&mut self, net: IpNet) {
        let fresh = match net {
            IpNet::V4(n) => {
                let len = n.prefix_len();
                let key = mask4(u32::from(n.addr()), len);
                table(&mut self.v4, len).insert(key, ()).is_none()
            }
            IpNet::V6(n) => {
                let len = n.prefix_len();
                let key = mask6(u128::from(n.addr()), len);
                table(&mut self.v6, len).insert(key, ()).is_none()
            }
        };
        if fresh {
            self.len += 1;
        }
    }

    /// Adds the entries of a list: one address or CIDR prefix per line (commas also separate,
    /// as in the seed's one-row CSV), `#` starts a comment, blank lines are ignored. `name`
    /// names the list in errors.
    pub fn extend_from_list(&mut self, text: &str, name: &str) -> Result<(), ListError> {
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("");
            for entry in line.split(',') {
                let entry = entry.trim();
                if entry.is_empty() {
                    continue;
                }
                let net = parse_entry(entry).ok_or_else(|| ListError {
                    list: name.to_string(),
                    line: i + 1,
                    entry: entry.to_string(),
                })?;
                self.insert(net);
            }
        }
        Ok(())
    }

    /// The longest prefix in the set that holds `ip`, if any.
    pub fn longest_match(&self, ip: IpAddr) -> Option<IpNet> {
        match ip {
            IpAddr::V4(a) => {
                let bits = u32::from(a);
                self.v4.iter().find_map(|(len, t)| {
                    let key = mask4(bits, *len);
                    t.contains_key(&key)
                        .then(|| IpNet::V4(Ipv4Net::new(key.into(), *len).expect("length ≤ 32")))
                })
            }
            IpAddr::V6(a) => {
                if let Some(v4) = a.to_ipv4_mapped() {
                    return self.longest_match(IpAddr::V4(v4));
                }
                let bits = u128::from(a);
                self.v6.iter().find_map(|(len, t)| {
                    let key = mask6(bits, *len);
                    t.contains_key(&key)
                        .then(|| IpNet::V6(Ipv6Net::new(key.into(), *len).expect("length ≤ 128")))
                })
            }
        }
    }

    /// Whether some prefix in the set holds `ip`.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.longest_match(ip).is_some()
    }

    /// How many distinct prefixes the set holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The table for prefix length `len`, created in descending order of length if missing.
fn table<K>(
    tables: &mut Vec<(u8, HashMap<K, (), FixedState>)>,
    len: u8,
) -> &mut HashMap<K, (), FixedState> {
    let at = match tables.iter().position(|(l, _)| *l <= len) {
        Some(i) if tables[i].0 == len => i,
        Some(i) => {
            tables.insert(i, (len, HashMap::default()));
            i
        }
        None => {
            tables.push((len, HashMap::default()));
            tables.len() - 1
        }
    };
    &mut tables[at].1
}

/// Parses an address (a /32 or /128) or a CIDR prefix.
pub fn parse_entry(entry: &str) -> Option<IpNet> {
    if let Ok(net) = entry.parse::<IpNet>() {
        return Some(net);
    }
    entry.parse::<IpAddr>().ok().map(IpNet::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn longest_prefix_wins() {
        let mut set = PrefixSet::new();
        set.extend_from_list(
            "10.0.0.0/8\n10.1.0.0/16 # a comment\n\n10.1.2.3\n2001:db8::/32",
            "list",
        )
        .unwrap();
        assert_eq!(set.len(), 4);
        assert_eq!(set.longest_match(ip("10.1.2.3")), Some("10.1.2.3/32".parse().unwrap()));
        assert_eq!(set.longest_match(ip("10.1.9.9")), Some("10.1.0.0/16".parse().unwrap()));
        assert_eq!(set.longest_match(ip("10.200.0.1")), Some("10.0.0.0/8".parse().unwrap()));
        assert_eq!(set.longest_match(ip("11.0.0.1")), None);
        assert!(set.contains(ip("2001:db8:1::5")));
        assert!(!set.contains(ip("2001:db9::5")));
        assert!(set.contains(ip("::ffff:10.1.2.3")));
    }

    #[test]
    fn seed_csv_row_and_errors() {
        let mut set = PrefixSet::new();
        set.extend_from_list("1.2.3.4,5.6.7.8, 9.9.9.9", "bl.csv").unwrap();
        assert_eq!(set.len(), 3);
        let err = set.extend_from_list("1.1.1.1\nnot-an-ip", "bl.csv").unwrap_err();
        assert_eq!(err.to_string(), "bl.csv:2: not an IP address or CIDR prefix: 'not-an-ip'");
    }

    #[test]
    fn internal_defaults() {
        let set = PrefixSet::default_internal();
        assert!(set.contains(ip("192.168.1.9")));
        assert!(set.contains(ip("fd12::1")));
        assert!(!set.contains(ip("8.8.8.8")));
        assert!(!set.contains(ip("2001:4860::8888")));
    }
}
