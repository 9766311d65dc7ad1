//! The local statistics table (LST): how each pair behaved in the window under test.

use crest_core::num::{PyNum, round2, sample_std};
use crest_core::record::RecordOrder;

use crate::accumulate::PairKey;
use crate::config::LOCAL_MIN_COUNT;

/// Submissions per distinct sample of one pair (in the window, or on one day).
///
/// This is where the detector's memory goes, so it is packed: sample identities (see
/// `RawValue::write_identity`; a SHA-1 digest takes 21 bytes) live back to back in one arena
/// behind a one-byte length, and the hash table holds 8-byte `(offset, count)` slots. Counts
/// beyond `u32::MAX` (never seen in practice, but possible) spill into a side map, so every
/// count stays exact.
#[derive(Clone, Default)]
pub struct SampleCounts {
    table: hashbrown::HashTable<SampleSlot>,
    arena: Vec<u8>,
    /// Counts above `u32::MAX`, by offset: the part of the count the slot cannot hold.
    overflow: Option<Box<hashbrown::HashMap<u32, u64>>>,
}

/// The hash of a sample identity, the same for every table of the process (so a record
/// counted in two tables is hashed once), seeded at random per process against collision
/// attacks from hostile sample ids.
#[inline]
pub(crate) fn sample_hash(identity: &[u8]) -> u64 {
    use std::hash::BuildHasher;
    static SEED: std::sync::OnceLock<foldhash::fast::FixedState> = std::sync::OnceLock::new();
    SEED.get_or_init(|| {
        use std::hash::BuildHasher as _;
        // A per-process random seed, drawn from the standard library's randomly keyed hasher.
        let seed = std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64);
        foldhash::fast::FixedState::with_seed(seed)
    })
    .hash_one(identity)
}

#[derive(Clone, Copy)]
struct SampleSlot {
    offset: u32,
    count: u32,
}

/// The arena of one table is addressed with 32-bit offsets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("more than 4 GiB of distinct sample ids in one pair and day")]
pub struct TableFull;

/// The identity stored at `offset` of an arena: a length byte (255: a 4-byte length follows),
/// then the bytes.
#[inline]
fn stored(arena: &[u8], offset: u32) -> &[u8] {
    let at = offset as usize;
    match arena[at] {
        255 => {
            let len =
                u32::from_le_bytes(arena[at + 1..at + 5].try_into().expect("4 bytes")) as usize;
            &arena[at + 5..at + 5 + len]
        }
        len => &arena[at + 1..at + 1 + len as usize],
    }
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
    /// Counts `n` more submissions of the sample with this identity.
    #[inline]
    pub fn add(&mut self, identity: &[u8], n: u64) -> Result<(), TableFull> {
        self.add_hashed(identity, sample_hash(identity), n)
    }

    /// [`add`](Self::add) with the identity's [`sample_hash`] already computed.
    #[inline]
    pub fn add_hashed(&mut self, identity: &[u8], hash: u64, n: u64) -> Result<(), TableFull> {
        let arena = &self.arena;
        if let Some(slot) = self.table.find_mut(hash, |s| stored(arena, s.offset) == identity) {
            let total = slot.count as u64 + n;
            if total <= u32::MAX as u64 {
                slot.count = total as u32;
            } else {
                let offset = slot.offset;
                slot.count = u32::MAX;
                *self.overflow.get_or_insert_with(Default::default).entry(offset).or_insert(0) +=
                    total - u32::MAX as u64;
            }
            return Ok(());
        }
        let offset = u32::try_from(self.arena.len()).map_err(|_| TableFull)?;
        if identity.len() < 255 {
            self.arena.push(identity.len() as u8);
        } else {
            let len = u32::try_from(identity.len()).map_err(|_| TableFull)?;
            self.arena.push(255);
            self.arena.extend_from_slice(&len.to_le_bytes());
        }
        self.arena.extend_from_slice(identity);
        let arena = &self.arena;
        let slot = SampleSlot { offset, count: 0 };
        self.table.insert_unique(hash, slot, |s| sample_hash(stored(arena, s.offset)));
        // Counting through the path above keeps the overflow rule in one place.
        self.add_hashed(identity, hash, n)
    }

    /// Adds another table's counts.
    pub fn merge(&mut self, mut other: SampleCounts) -> Result<(), TableFull> {
        if other.table.len() > self.table.len() {
            std::mem::swap(self, &mut other);
        }
        for (identity, n) in other.iter() {
            self.add(identity, n)?;
        }
        Ok(())
    }

    /// Every `(identity, count)`, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], u64)> {
        self.table.iter().map(|s| {
            let spill = self.overflow.as_ref().and_then(|o| o.get(&s.offset)).copied().unwrap_or(0);
            (stored(&self.arena, s.offset), s.count as u64 + spill)
        })
    }

    /// Total submissions.
    pub fn submissions(&self) -> u64 {
        self.iter().map(|(_, n)| n).sum()
    }

    /// Distinct samples.
    pub fn samples(&self) -> u64 {
        self.table.len() as u64
    }

    /// The `n` most submitted samples with their counts, most first (ties by sample).
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
    if let Some(text) = crest_core::value::identity_string(id) {
        return text;
    }
    match id.split_first() {
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

    pub(crate) fn merge(&mut self, other: LocalPair) -> Result<(), TableFull> {
        self.first_seen = self.first_seen.min(other.first_seen);
        self.counts.merge(other.counts)
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
            s.add(format!("ss{i}").as_bytes(), c).unwrap();
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
        c.add(b"sx", 10).unwrap();
        c.add(b"sy", 40).unwrap();
        assert_eq!(LocalStats::from_counts(&c).samp_sub_ratio, 0.5);
    }

    #[test]
    fn merging_adds_counts() {
        let mut a = counts(&[1, 2]);
        let mut b = SampleCounts::default();
        b.add(b"ss1", 5).unwrap();
        b.add(b"sz", 7).unwrap();
        a.merge(b).unwrap();
        assert_eq!((a.samples(), a.submissions()), (3, 15));
        assert_eq!(a.top(1), [("s1".to_string(), 7)]);
    }

    #[test]
    fn counts_beyond_32_bits_stay_exact() {
        let mut c = SampleCounts::default();
        c.add(b"sbig", u32::MAX as u64 - 1).unwrap();
        c.add(b"sbig", 5).unwrap();
        c.add(b"sbig", 1 << 40).unwrap();
        let long = vec![b's'; 300];
        c.add(&long, 2).unwrap();
        assert_eq!(c.submissions(), u32::MAX as u64 + 4 + (1 << 40) + 2);
        assert_eq!(c.top(1), [("big".to_string(), u32::MAX as u64 + 4 + (1 << 40))]);
        assert_eq!(c.top(2)[1].0.len(), 299);
    }

    #[test]
    fn top_samples_are_deterministic() {
        let c = counts(&[5, 9, 9, 1]);
        assert_eq!(c.top(3), [("s1".to_string(), 9), ("s2".to_string(), 9), ("s0".to_string(), 5)]);
    }
}
