//! Pieces shared by the detectors: input hygiene, the common score map, an exponentially
//! weighted location/scale and a rolling median with its MAD.

use serde::{Deserialize, Serialize};

/// Largest magnitude a detector accepts; larger finite values are clamped to it.
///
/// 1e100 keeps squares (1e200) and their sums over any realistic window finite.
pub const MAX_ABS: f64 = 1e100;

/// Normal-consistency factor of the MAD (σ ≈ 1.4826 · MAD for normal data).
pub(crate) const MAD_TO_SIGMA: f64 = 1.482_602_218_505_602;
/// Normal-consistency factor of the mean absolute deviation (σ ≈ 1.2533 · E|x − μ|).
pub(crate) const MEAN_AD_TO_SIGMA: f64 = 1.253_314_137_315_500_3;

/// A value as the detectors see it: non-finite → missing, then clamped to `±MAX_ABS`.
#[inline]
pub(crate) fn clean(value: Option<f64>) -> Option<f64> {
    value.filter(|x| x.is_finite()).map(|x| x.clamp(-MAX_ABS, MAX_ABS))
}

/// The common map from a z-like statistic to a score: 0 up to |z| = 2, then
/// `e / (e + 4)` with `e = |z| − 2` (|z| = 3 → 0.2, 6 → 0.5, 10 → 0.67, ∞ → 1).
///
/// It never saturates early, so thresholds keep their resolution on strong anomalies.
#[inline]
pub fn z_score(z: f64) -> f64 {
    let e = z.abs() - 2.0;
    if e.is_nan() || e <= 0.0 {
        0.0
    } else if e.is_infinite() {
        1.0
    } else {
        e / (e + 4.0)
    }
}

/// Clamps a score into `[0, 1]`, NaN to 0.
#[inline]
pub(crate) fn unit(score: f64) -> f64 {
    if score.is_nan() { 0.0 } else { score.clamp(0.0, 1.0) }
}

/// A small positive floor for a scale around `level`, so that a constant run does not
/// divide by zero.
#[inline]
pub(crate) fn scale_floor(level: f64) -> f64 {
    1e-9 * level.abs().max(1.0)
}

/// `1 − 0.5^(1 / half_life)`: the per-update weight of an EWMA with that half-life.
pub(crate) fn rate_for_half_life(half_life: f64) -> f64 {
    1.0 - 0.5f64.powf(1.0 / half_life.max(1.0))
}

/// An exponentially weighted mean and mean absolute deviation of a statistic; the first
/// updates are plain running means, so it needs no prior.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Ewma {
    mean: f64,
    mad: f64,
    n: u64,
    rate: f64,
}

impl Ewma {
    /// A tracker with the given per-update weight once warm.
    pub(crate) fn new(rate: f64) -> Self {
        Ewma { mean: 0.0, mad: 0.0, n: 0, rate }
    }

    /// How many standard deviations `v` lies above the tracked mean (`None` before 2 updates).
    pub(crate) fn z(&self, v: f64) -> Option<f64> {
        (self.n >= 2).then(|| {
            let sigma = MEAN_AD_TO_SIGMA * self.mad;
            (v - self.mean) / sigma.max(scale_floor(self.mean))
        })
    }

    /// Folds `v` in; the deviation is updated against the mean before `v` moved it.
    pub(crate) fn update(&mut self, v: f64) {
        self.n += 1;
        let w = self.rate.max(1.0 / self.n as f64);
        let dev = (v - self.mean).abs();
        if self.n > 1 {
            self.mad += w * (dev - self.mad);
        }
        self.mean += w * (v - self.mean);
    }
}

/// The values of the last `len` slots, kept sorted, for a rolling median and MAD.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct RollingMedian {
    ring: Vec<Option<f64>>,
    next: usize,
    seen: u64,
    sorted: Vec<f64>,
}

impl RollingMedian {
    /// A window of `len` slots (at least 1).
    pub(crate) fn new(len: usize) -> Self {
        let len = len.max(1);
        RollingMedian { ring: vec![None; len], next: 0, seen: 0, sorted: Vec::with_capacity(len) }
    }

    /// Values in the window.
    pub(crate) fn count(&self) -> usize {
        self.sorted.len()
    }

    /// Adds the next slot; the slot `len` back leaves the window.
    pub(crate) fn push(&mut self, value: Option<f64>) {
        if self.seen >= self.ring.len() as u64
            && let Some(old) = self.ring[self.next]
        {
            let at = self.sorted.partition_point(|v| v.total_cmp(&old).is_lt());
            self.sorted.remove(at);
        }
        if let Some(x) = value {
            let at = self.sorted.partition_point(|v| v.total_cmp(&x).is_lt());
            self.sorted.insert(at, x);
        }
        self.ring[self.next] = value;
        self.next = (self.next + 1) % self.ring.len();
        self.seen += 1;
    }

    /// The median of the window (mean of the two middle values for an even count).
    pub(crate) fn median(&self) -> Option<f64> {
        let n = self.sorted.len();
        match n {
            0 => None,
            _ if n % 2 == 1 => Some(self.sorted[n / 2]),
            _ => Some(0.5 * (self.sorted[n / 2 - 1] + self.sorted[n / 2])),
        }
    }

    /// The median absolute deviation from `median`, in O(log n): the distances below and
    /// above the median are two sorted sequences, and the k-th of their union is found by
    /// binary search without building either.
    pub(crate) fn mad(&self, median: f64) -> Option<f64> {
        let n = self.sorted.len();
        if n == 0 {
            return None;
        }
        let lo = (n - 1) / 2;
        let hi = n / 2;
        let a = self.kth_distance(median, lo);
        Some(if lo == hi { a } else { 0.5 * (a + self.kth_distance(median, hi)) })
    }

    /// The `k`-th smallest (0-based) of `|x − median|` over the window.
    fn kth_distance(&self, median: f64, k: usize) -> f64 {
        let s = &self.sorted;
        let split = s.partition_point(|v| *v < median);
        let (m1, m2) = (split, s.len() - split);
        // Below the median, ascending distances; at or above it, ascending too.
        let left = |i: usize| median - s[split - 1 - i];
        let right = |j: usize| s[split + j] - median;
        let take = k + 1;
        let (mut lo, mut hi) = (take.saturating_sub(m2), take.min(m1));
        while lo < hi {
            let i = (lo + hi) / 2;
            if left(i) < right(take - i - 1) { lo = i + 1 } else { hi = i }
        }
        let (i, j) = (lo, take - lo);
        let a = if i > 0 { left(i - 1) } else { f64::NEG_INFINITY };
        let b = if j > 0 { right(j - 1) } else { f64::NEG_INFINITY };
        a.max(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute_mad(values: &[f64]) -> (f64, f64) {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let med = |v: &[f64]| {
            let n = v.len();
            if n % 2 == 1 { v[n / 2] } else { 0.5 * (v[n / 2 - 1] + v[n / 2]) }
        };
        let m = med(&v);
        let mut d: Vec<f64> = v.iter().map(|x| (x - m).abs()).collect();
        d.sort_by(f64::total_cmp);
        (m, med(&d))
    }

    #[test]
    fn rolling_mad_matches_brute_force() {
        let mut state = 12345u64;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) as f64 / (1u64 << 31) as f64
        };
        for len in [1, 2, 3, 7, 10, 31] {
            let mut rm = RollingMedian::new(len);
            let mut history: Vec<Option<f64>> = Vec::new();
            for i in 0..300 {
                let r = next();
                let v = if r < 0.1 {
                    None
                } else if r < 0.3 {
                    Some(5.0)
                } else {
                    Some((next() * 20.0).round())
                };
                rm.push(v);
                history.push(v);
                let window: Vec<f64> = history[history.len().saturating_sub(len)..]
                    .iter()
                    .flatten()
                    .copied()
                    .collect();
                if window.is_empty() {
                    assert_eq!(rm.median(), None);
                    continue;
                }
                let (m, mad) = brute_mad(&window);
                assert_eq!(rm.median(), Some(m), "len {len} step {i}");
                assert_eq!(rm.mad(m), Some(mad), "len {len} step {i}");
            }
        }
    }

    #[test]
    fn z_score_is_monotone_and_bounded() {
        assert_eq!(z_score(1.0), 0.0);
        assert_eq!(z_score(f64::NAN), 0.0);
        assert_eq!(z_score(f64::INFINITY), 1.0);
        assert!((z_score(6.0) - 0.5).abs() < 1e-12);
        assert!(z_score(-10.0) > z_score(6.0));
    }
}
