//! The local statistics table (LST): how each pair behaved in the window under test.

use crest_core::num::{PyNum, round2, sample_std};
use crest_core::record::RecordOrder;

use crate::accumulate::PairKey;
use crate::config::LOCAL_MIN_COUNT;

/// Submissions per distinct sample of one pair.
///
/// Sample identities live back to back in one arena (a 4-byte length, then the bytes) and the
/// hash table holds only `(offset, count)`: no allocation per sample, and about 60 bytes per
/// distinct 40-character hash instead of twice that with boxed keys.
#[derive(Clone, Default)]
pub struct SampleCounts {
    table: hashbrown::HashTable<SampleSlot>,
    arena: Vec<u8>,
    hasher: foldhash::fast::RandomState,
}

#[derive(Clone, Copy)]
struct SampleSlot {
    offset: u64,
    count: u64,
}

/// The identity stored at `offset` of an arena.
#[inline]
fn stored(arena: &[u8], offset: u64) -> &[u8] {
    let at = offset as usize;
    let len = u32::from_le_bytes(arena[at..at + 4].try_into().expect("4 bytes")) as usize;
    &arena[at + 4..at + 4 + len]
}

impl std::fmt::Debug for SampleCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SampleCounts")
            .field("samples", &self.samples())
            .field("submissions", &self.submissions())
            .finish()
    }
}

impl SampleCounts {
    /// Counts `n` more submissions of the sample with this identity (at most 4 GiB long).
    #[inline]
    pub fn add(&mut self, identity: &[u8], n: u64) {
        use std::hash::BuildHasher;
        let hash = self.hasher.hash_one(identity);
        let arena = &self.arena;
        if let Some(slot) = self.table.find_mut(hash, |s| stored(arena, s.offset) == identity) {
            slot.count += n;
            return;
        }
        let offset = self.arena.len() as u64;
        let len = u32::try_from(identity.len())
            .expect("sample identities are limited to 4 GiB by the accumulator");
        self.arena.extend_from_slice(&len.to_le_bytes());
        self.arena.extend_from_slice(identity);
        let (arena, hasher) = (&self.arena, &self.hasher);
        self.table.insert_unique(hash, SampleSlot { offset, count: n }, |s| {
            hasher.hash_one(stored(arena, s.offset))
        });
    }

    /// Adds another pair's counts.
    pub fn merge(&mut self, mut other: SampleCounts) {
        if other.table.len() > self.table.len() {
            std::mem::swap(self, &mut other);
        }
        for slot in other.table.iter() {
            self.add(stored(&other.arena, slot.offset), slot.count);
        }
    }

    /// Every `(identity, count)`.
    fn iter(&self) -> impl Iterator<Item = (&[u8], u64)> {
        self.table.iter().map(|s| (stored(&self.arena, s.offset), s.count))
    }

    /// Total submissions.
    pub fn submissions(&self) -> u64 {
        self.table.iter().map(|s| s.count).sum()
    }

    /// Distinct samples.
    pub fn samples(&self) -> u64 {
        self.table.len() as u64
    }

    /// The `n` most submitted samples, most first (ties by sample, for determinism).
    pub fn top(&self, n: usize) -> Vec<(String, u64)> {
        let mut all: Vec<(&[u8], u64)> = self.iter().collect();
        let n = n.min(all.len());
        if n == 0 {
            return Vec::new();
        }
        let by_count =
            |a: &(&[u8], u64), b: &(&[u8], u64)| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0));
        all.select_nth_unstable_by(n - 1, by_count);
        all.truncate(n);
        all.sort_by(by_count);
        all.into_iter().map(|(k, c)| (identity_text(k), c)).collect()
    }
}

/// Renders a sample identity (see `RawValue::write_identity`) as text.
fn identity_text(id: &[u8]) -> String {
    match id.split_first() {
        Some((b's', rest)) => String::from_utf8_lossy(rest).into_owned(),
        Some((b'i', rest)) if rest.len() == 8 => {
            i64::from_le_bytes(rest.try_into().expect("8 bytes")).to_string()
        }
        Some((b'f', rest)) if rest.len() == 8 => {
            f64::from_bits(u64::from_le_bytes(rest.try_into().expect("8 bytes"))).to_string()
        }
        Some((b'I', rest)) => match rest.split_last() {
            Some((b'-', digits)) => format!("-{}", String::from_utf8_lossy(digits)),
            _ => String::from_utf8_lossy(rest).into_owned(),
        },
        Some((b'n', _)) => "null".into(),
        _ => String::from_utf8_lossy(id).into_owned(),
    }
}

/// A pair's window counts while reading.
#[derive(Clone, Debug)]
pub(crate) struct LocalPair {
    pub(crate) counts: SampleCounts,
    pub(crate) first_seen: RecordOrder,
}

impl LocalPair {
    pub(crate) fn new(first_seen: RecordOrder) -> Self {
        LocalPair { counts: SampleCounts::default(), first_seen }
    }

    pub(crate) fn merge(&mut self, other: LocalPair) {
        self.counts.merge(other.counts);
        self.first_seen = self.first_seen.min(other.first_seen);
    }
}

/// A pair's statistics in the window, exactly as the reference computes them.
#[derive(Clone, Copy, Debug)]
pub struct LocalStats {
    /// Submissions (records) of the pair.
    pub sub_count: i64,
    /// Distinct samples.
    pub samp_count: i64,
    /// Submissions of the most submitted sample.
    pub samp_sub_count_max: i64,
    /// Mean submissions per sample: an `int` when exact, else the correctly rounded float.
    pub samp_sub_count_mean: PyNum,
    /// Sample standard deviation of submissions per sample (0.0 below two samples), correctly
    /// rounded as Python 3.11 computes it.
    pub samp_sub_count_std: f64,
    /// The top sample's share of submissions, `round(max / sub, 2)`, when the pair has more
    /// than 50 submissions; else 0.0.
    pub samp_sub_ratio: f64,
}

impl LocalStats {
    /// The statistics of a pair's sample counts.
    pub fn from_counts(counts: &SampleCounts) -> LocalStats {
        let (mut sum, mut sum_sq, mut max) = (0u128, 0u128, 0u64);
        for (_, c) in counts.iter() {
            sum += c as u128;
            sum_sq += (c as u128) * (c as u128);
            max = max.max(c);
        }
        let n = counts.samples();
        let sub = sum as i64;
        let samp = n as i64;
        let ratio = if sub > LOCAL_MIN_COUNT { round2(max as f64 / sub as f64) } else { 0.0 };
        LocalStats {
            sub_count: sub,
            samp_count: samp,
            samp_sub_count_max: max as i64,
            samp_sub_count_mean: PyNum::int_mean(sub, samp),
            samp_sub_count_std: sample_std(n, sum, sum_sq),
            samp_sub_ratio: ratio,
        }
    }
}

/// One pair of the local table.
#[derive(Clone, Debug)]
pub struct LocalEntry {
    /// The pair's dimension values.
    pub key: PairKey,
    /// Its statistics.
    pub stats: LocalStats,
    /// Its most submitted samples with their counts (evidence).
    pub top_samples: Vec<(String, u64)>,
}

/// The local statistics table: every pair with at least one record in the window, in the
/// order the reference iterates them (first appearance, nested by dimension).
#[derive(Clone, Debug, Default)]
pub struct LocalTable {
    /// The pairs.
    pub entries: Vec<LocalEntry>,
}

/// How many top samples each entry keeps as evidence.
const TOP_SAMPLES: usize = 3;

impl LocalTable {
    /// Builds the table from per-pair counts, keeping their order.
    pub fn from_counts<I: IntoIterator<Item = (PairKey, SampleCounts)>>(pairs: I) -> Self {
        let entries = pairs
            .into_iter()
            .map(|(key, counts)| LocalEntry {
                stats: LocalStats::from_counts(&counts),
                top_samples: counts.top(TOP_SAMPLES),
                key,
            })
            .collect();
        LocalTable { entries }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(cs: &[u64]) -> SampleCounts {
        let mut s = SampleCounts::default();
        for (i, &c) in cs.iter().enumerate() {
            s.add(format!("ss{i}").as_bytes(), c);
        }
        s
    }

    #[test]
    fn the_reference_test_pair() {
        // Two samples submitted 10 times each: sub 20, samp 2, max 10, mean 10, std 0.0,
        // ratio 0.0 (20 ≤ 50).
        let st = LocalStats::from_counts(&counts(&[10, 10]));
        assert_eq!((st.sub_count, st.samp_count, st.samp_sub_count_max), (20, 2, 10));
        assert!(matches!(st.samp_sub_count_mean, PyNum::Int(10)));
        assert_eq!((st.samp_sub_count_std, st.samp_sub_ratio), (0.0, 0.0));
    }

    #[test]
    fn ratio_rounds_exact_ties_to_even() {
        // 10 of 80 = 0.125 → 0.12; 30 of 80 = 0.375 → 0.38.
        let st = LocalStats::from_counts(&counts(&[10, 70]));
        assert_eq!(st.samp_sub_ratio, 0.88);
        let st = LocalStats::from_counts(&counts(&[10; 8]));
        assert_eq!(st.samp_sub_ratio, 0.12);
        let st = LocalStats::from_counts(&counts(&[30, 50]));
        assert_eq!(st.samp_sub_ratio, 0.62);
        let mut c = counts(&[30]);
        c.add(b"sx", 10);
        c.add(b"sy", 40);
        assert_eq!(LocalStats::from_counts(&c).samp_sub_ratio, 0.5);
    }

    #[test]
    fn top_samples_are_deterministic() {
        let c = counts(&[5, 9, 9, 1]);
        assert_eq!(c.top(3), [("s1".to_string(), 9), ("s2".to_string(), 9), ("s0".to_string(), 5)]);
    }
}
