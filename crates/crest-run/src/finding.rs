//! What every pipeline reports: a [`Finding`].

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// How urgent a finding is, least first.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth a look.
    #[default]
    Low,
    /// Unusual.
    Medium,
    /// Very unusual.
    High,
    /// Act now.
    Critical,
}

impl Severity {
    /// The lowercase name (`high`).
    pub fn name(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Reads a lowercase name.
    pub fn parse(text: &str) -> Option<Severity> {
        [Severity::Low, Severity::Medium, Severity::High, Severity::Critical]
            .into_iter()
            .find(|s| s.name() == text)
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One finding: which pipeline and detector, which key, when, how anomalous, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable id: the same pipeline, key and time give the same id on every run, so a sink
    /// (or its reader) can drop a finding delivered twice.
    pub id: String,
    /// The pipeline that reported it.
    pub pipeline: String,
    /// The detector (`series/ensemble`).
    pub detector: String,
    /// What it is about: the key fields and their values (empty for a pipeline's one series).
    pub key: BTreeMap<String, String>,
    /// The start of the time it concerns, RFC 3339 UTC.
    pub time: String,
    /// The same, in microseconds since the Unix epoch.
    pub time_us: i64,
    /// Anomaly score in `[0, 1]`.
    pub score: f64,
    /// How urgent.
    pub severity: Severity,
    /// The statistics that justify it (the value, the detector's band…), by name.
    pub stats: BTreeMap<String, f64>,
    /// Sample events, as they arrived.
    pub evidence: Vec<serde_json::Value>,
}

impl Finding {
    /// The stable id of a finding of `pipeline` about `key` at `time_us`: FNV-1a (64 bits) over
    /// the three, as 16 hex digits. Documented and fixed: ids stay valid across versions.
    pub fn id_of(pipeline: &str, key: &BTreeMap<String, String>, time_us: i64) -> String {
        let mut h = Fnv1a::default();
        let mut eat = |bytes: &[u8]| {
            h.write(bytes);
            // A separator no UTF-8 text holds, so ("ab", "c") and ("a", "bc") differ.
            h.write(&[0xff]);
        };
        eat(pipeline.as_bytes());
        for (k, v) in key {
            eat(k.as_bytes());
            eat(v.as_bytes());
        }
        eat(&time_us.to_le_bytes());
        format!("{:016x}", h.finish())
    }

    /// The key as one text: `user=u038,host=ws-038` (`-` when empty).
    pub fn key_text(&self) -> String {
        join_key(self.key.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }
}

/// `k=v` pairs (in key order) joined with commas; `-` for none.
pub(crate) fn join_key<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let text = pairs.map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
    if text.is_empty() { "-".into() } else { text }
}

/// FNV-1a, 64 bits: a fixed, documented hash that other programs can compute too (finding ids,
/// stream partitions).
#[derive(Clone, Copy, Debug)]
pub struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a {
    /// Adds bytes.
    pub fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// The hash so far.
    pub fn finish(self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_distinct() {
        let key = |pairs: &[(&str, &str)]| {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        let a = Finding::id_of("p", &key(&[("user", "ab")]), 1);
        assert_eq!(a, Finding::id_of("p", &key(&[("user", "ab")]), 1));
        // Pinned: a change here breaks every stored id.
        assert_eq!(Finding::id_of("p", &BTreeMap::new(), 0), "18910bd628d9353d");
        assert_ne!(a, Finding::id_of("p", &key(&[("user", "a"), ("b", "")]), 1));
        assert_ne!(a, Finding::id_of("p", &key(&[("user", "ab")]), 2));
        assert_ne!(a, Finding::id_of("q", &key(&[("user", "ab")]), 1));
    }

    #[test]
    fn severities_order_and_parse() {
        assert!(Severity::Low < Severity::Critical);
        for s in [Severity::Low, Severity::Medium, Severity::High, Severity::Critical] {
            assert_eq!(Severity::parse(s.name()), Some(s));
        }
    }
}
