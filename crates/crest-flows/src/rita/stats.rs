//! RITA's statistics, reproduced to the digit: median, Tukey-hinge quartiles, Bowley skew, the
//! median absolute deviation, the "statistical score" shared by the timestamp and data-size
//! sub-scores, RITA's two roundings, the connection histogram (CV and bimodal fit), the duration
//! score and the piecewise-linear bucketing that turns a raw figure into a threat category.
//!
//! Every function takes plain slices and returns `None` where RITA returns an error (empty
//! input, too few values, an empty or inverted range), so the detectors can skip a pair the way
//! RITA does.

/// RITA's "none" category score (the floor of a reported finding).
pub const NONE_CATEGORY_SCORE: f64 = 0.2;
/// RITA's "low" category score.
pub const LOW_CATEGORY_SCORE: f64 = 0.4;
/// RITA's "medium" category score.
pub const MEDIUM_CATEGORY_SCORE: f64 = 0.6;
/// RITA's "high" category score (the ceiling of every bucketed score).
pub const HIGH_CATEGORY_SCORE: f64 = 0.8;

/// Rounds to 3 decimals, half away from zero, exactly as Go's `math.Round(x*1000)/1000` does
/// (same IEEE multiplication, same rounding; so `r3(0.5055)` is 0.505, as in Go, because
/// `0.5055*1000` is `505.49999999999994` in binary).
pub fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Ceiling to 3 decimals ("c3"), immune to representation error.
///
/// A naive `ceil(x*1000)/1000` turns values that are mathematically a multiple of 0.001 but
/// land a hair above it in binary into the next step (`0.1 + 0.2` would give 0.301,
/// `1.1` 1.101). Here `x*1000` is first snapped to the nearest integer when it lies within
/// `1e-9` (relative, at least 1e-9 absolute) of it: that absorbs every error of a few float
/// operations (≈ 1e-16 relative) while a genuine excess is only lost if it is below one part in
/// a billion of the value. `c3(0.5)` is 0.5, `c3(0.5001)` is 0.501.
pub fn c3(x: f64) -> f64 {
    let y = x * 1000.0;
    let nearest = y.round();
    if (y - nearest).abs() <= 1e-9 * nearest.abs().max(1.0) {
        nearest / 1000.0
    } else {
        y.ceil() / 1000.0
    }
}

/// The median of sorted values: the middle one, or the mean of the two middle ones.
pub fn median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    Some(if n % 2 == 1 { sorted[n / 2] } else { (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0 })
}

/// The three quartiles of a sorted list.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quartiles {
    /// Lower hinge: the median of the lower half.
    pub q1: f64,
    /// The median.
    pub q2: f64,
    /// Upper hinge: the median of the upper half.
    pub q3: f64,
}

/// Tukey's hinges ("median of halves"): for even n the halves are the first and last n/2
/// values, for odd n the first and last (n−1)/2 (the median is in neither). This is not
/// numpy's default interpolation: `1,2,25,42,90,299,500,1500,4975` gives 13.5, 90, 1000.
/// A single value is all three quartiles; an empty list has none.
pub fn quartiles(sorted: &[f64]) -> Option<Quartiles> {
    let n = sorted.len();
    let q2 = median(sorted)?;
    if n == 1 {
        return Some(Quartiles { q1: q2, q2, q3: q2 });
    }
    let half = n / 2;
    let q1 = median(&sorted[..half])?;
    let q3 = median(&sorted[n - half..])?;
    Some(Quartiles { q1, q2, q3 })
}

/// A Bowley skewness and its score.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Skew {
    /// `(Q1 + Q3 − 2·Q2)/(Q3 − Q1)`, or 0 where RITA deems it unreliable.
    pub skew: f64,
    /// `1 − |skew|`.
    pub score: f64,
    /// The quartiles it came from.
    pub quartiles: Quartiles,
}

/// Bowley (quartile) skewness of a sorted list with RITA's guards: forced to 0 unless
/// `Q3 − Q1 ≥ 10`, `Q2 ≠ Q1` and `Q2 ≠ Q3`. Needs at least 3 values.
pub fn bowley_skew(sorted: &[f64]) -> Option<Skew> {
    if sorted.len() < 3 {
        return None;
    }
    let q = quartiles(sorted)?;
    let iqr = q.q3 - q.q1;
    let skew = if iqr >= 10.0 && q.q2 != q.q1 && q.q2 != q.q3 {
        (q.q1 + q.q3 - 2.0 * q.q2) / iqr
    } else {
        0.0
    };
    Some(Skew { skew, score: 1.0 - skew.abs(), quartiles: q })
}

/// A median absolute deviation and its score.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mad {
    /// The median of the values.
    pub median: f64,
    /// `median(|x − median|)`.
    pub mad: f64,
    /// `(median − MAD)/median` when the median is ≥ 1, else the default; negatives and NaN
    /// are 0.
    pub score: f64,
}

/// The median absolute deviation about the median of a sorted list, and RITA's score for it
/// (`default_score` when the median is below 1: 1 for intervals, 0 for sizes).
pub fn mad(sorted: &[f64], default_score: f64) -> Option<Mad> {
    let m = median(sorted)?;
    let mut dev: Vec<f64> = sorted.iter().map(|x| (x - m).abs()).collect();
    dev.sort_unstable_by(f64::total_cmp);
    let mad = median(&dev)?;
    let raw = if m >= 1.0 { (m - mad) / m } else { default_score };
    let score = if raw.is_nan() || raw < 0.0 { 0.0 } else { raw };
    Some(Mad { median: m, mad, score })
}

/// RITA's shared statistical score of a list (used by the timestamp and data-size scores).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StatScore {
    /// `r3((skew score + MAD score)/2)`.
    pub score: f64,
    /// The Bowley skew.
    pub skew: Skew,
    /// The MAD.
    pub mad: Mad,
}

/// `r3((skewScore + madScore)/2)` over a sorted list of at least 3 values.
pub fn stat_score(sorted: &[f64], default_mad_score: f64) -> Option<StatScore> {
    debug_assert!(sorted.is_sorted_by(|a, b| a <= b), "stat_score wants sorted input");
    let skew = bowley_skew(sorted)?;
    let mad = mad(sorted, default_mad_score)?;
    Some(StatScore { score: r3((skew.score + mad.score) / 2.0), skew, mad })
}

/// The distinct values of a sorted list with their counts, and its mode.
#[derive(Clone, Debug, PartialEq)]
pub struct Distinct<T> {
    /// Each distinct value with its count, in order.
    pub values: Vec<(T, u64)>,
    /// The first (smallest) of the most frequent values, with its count; `None` when empty.
    pub mode: Option<(T, u64)>,
}

/// Counts the distinct values of a sorted list and finds the mode (ties go to the first).
pub fn distinct_counts<T: Copy + PartialEq>(sorted: &[T]) -> Distinct<T> {
    let mut values: Vec<(T, u64)> = Vec::new();
    for &v in sorted {
        match values.last_mut() {
            Some((last, n)) if *last == v => *n += 1,
            _ => values.push((v, 1)),
        }
    }
    let mut mode: Option<(T, u64)> = None;
    for &(v, n) in &values {
        if mode.is_none_or(|(_, m)| n > m) {
            mode = Some((v, n));
        }
    }
    Distinct { values, mode }
}

/// Score thresholds of a bucketed indicator (RITA's `score_thresholds`), in the indicator's
/// own unit: beacon score × 100, seconds of connection, subdomains.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Thresholds {
    /// Below this nothing is reported (score 0); at it the score is 0.2.
    pub base: f64,
    /// Where the score reaches 0.4.
    pub low: f64,
    /// Where the score reaches 0.6.
    pub medium: f64,
    /// Where the score reaches 0.8 (and stays).
    pub high: f64,
}

impl Thresholds {
    /// Beacon thresholds: 50 / 70 / 90 / 100 (on score × 100).
    pub const BEACON: Thresholds = Thresholds { base: 50.0, low: 70.0, medium: 90.0, high: 100.0 };
    /// Long-connection thresholds: 1 h / 4 h / 8 h / 12 h (seconds).
    pub const LONG_CONNECTION: Thresholds =
        Thresholds { base: 3600.0, low: 14400.0, medium: 28800.0, high: 43200.0 };
    /// C2-over-DNS thresholds: 100 / 500 / 800 / 1000 subdomains.
    pub const DNS: Thresholds = Thresholds { base: 100.0, low: 500.0, medium: 800.0, high: 1000.0 };

    /// Whether the thresholds are finite and ascending (`base ≤ low ≤ medium ≤ high`).
    pub fn is_valid(&self) -> bool {
        [self.base, self.low, self.medium, self.high].iter().all(|v| v.is_finite())
            && self.base <= self.low
            && self.low <= self.medium
            && self.medium <= self.high
    }
}

/// RITA's piecewise-linear bucketing: below `base` 0 (not reported); `[base, low)` maps
/// linearly onto 0.2..0.4, `[low, medium)` onto 0.4..0.6, `[medium, high]` onto 0.6..0.8, and
/// anything above `high` is 0.8. Read back with
/// [`ThreatLevel::from_score`](crate::evidence::ThreatLevel::from_score).
pub fn bucket(value: f64, t: &Thresholds) -> f64 {
    fn lerp(v: f64, lo: f64, hi: f64, from: f64) -> f64 {
        if hi > lo { from + (v - lo) / (hi - lo) * 0.2 } else { from + 0.2 }
    }
    if value.is_nan() || value < t.base {
        0.0
    } else if value < t.low {
        lerp(value, t.base, t.low, NONE_CATEGORY_SCORE)
    } else if value < t.medium {
        lerp(value, t.low, t.medium, LOW_CATEGORY_SCORE)
    } else if value < t.high {
        lerp(value, t.medium, t.high, MEDIUM_CATEGORY_SCORE)
    } else {
        HIGH_CATEGORY_SCORE
    }
}

/// Histogram bin edges: `bins + 1` edges from `min` in steps of `(max − min)/bins`, the last
/// forced to `max`. `None` without bins or with `max ≤ min`.
pub fn bin_edges(min: f64, max: f64, bins: usize) -> Option<Vec<f64>> {
    if bins == 0 || max.partial_cmp(&min) != Some(std::cmp::Ordering::Greater) {
        return None;
    }
    let step = (max - min) / bins as f64;
    let mut edges: Vec<f64> = (0..bins).map(|i| min + i as f64 * step).collect();
    edges.push(max);
    Some(edges)
}

/// A connection histogram.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    /// Connections per bin.
    pub freq: Vec<u32>,
    /// Non-empty bins.
    pub bars: u32,
    /// The longest run of consecutive non-empty bins, wrapping from the last bin to the first.
    pub longest_run: u32,
}

/// Counts timestamps per bin: bin `i` holds `edges[i] ≤ t < edges[i+1]`, the last bin also
/// holds `t = max`. Timestamps before the first edge count in the first bin and those after the
/// last edge in the last bin (RITA's beacon lists start at the top of the window's first hour,
/// a little before the window itself; counting those rows in the first bin is what reproduces
/// RITA's published CV score). `None` with fewer than 2 edges or no timestamps.
pub fn histogram(edges: &[f64], ts: &[i64]) -> Option<Histogram> {
    if edges.len() < 2 || ts.is_empty() {
        return None;
    }
    let bins = edges.len() - 1;
    let inner = &edges[1..bins];
    let mut freq = vec![0u32; bins];
    for &t in ts {
        let t = t as f64;
        let i = inner.partition_point(|&e| e <= t);
        freq[i] += 1;
    }
    let bars = freq.iter().filter(|&&f| f > 0).count() as u32;
    let longest_run = longest_run(&freq);
    Some(Histogram { freq, bars, longest_run })
}

/// The longest run of consecutive non-zero bins, wrapping around (end joins start), at most
/// the number of bins.
pub fn longest_run(freq: &[u32]) -> u32 {
    let n = freq.len();
    let Some(zero) = freq.iter().position(|&f| f == 0) else {
        return n as u32;
    };
    // Walk once around the circle starting just after a zero: no run crosses the start.
    let (mut best, mut run) = (0u32, 0u32);
    for k in 1..=n {
        if freq[(zero + k) % n] > 0 {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

/// Groups the heights of the non-empty bars into buckets of width
/// `ceil(max_height × sensitivity)` (bucket = `floor(h/width)·width`) and counts bars per
/// bucket, sorted by bucket. The width is computed in plain binary floating point, as RITA
/// does (so `ceil(11 × 0.2)` is 3).
pub fn frequency_counts(freq: &[u32], sensitivity: f64) -> Vec<(u64, u32)> {
    let max = freq.iter().copied().max().unwrap_or(0);
    if max == 0 {
        return Vec::new();
    }
    let width = (max as f64 * sensitivity).ceil().max(1.0);
    let mut counts: Vec<(u64, u32)> = Vec::new();
    for &h in freq.iter().filter(|&&h| h > 0) {
        let b = ((h as f64 / width).floor() * width) as u64;
        match counts.iter_mut().find(|(k, _)| *k == b) {
            Some((_, n)) => *n += 1,
            None => counts.push((b, 1)),
        }
    }
    counts.sort_unstable();
    counts
}

/// The coefficient-of-variation score of a histogram: `cv = sd/mean` (population standard
/// deviation); 0 when `cv > 1`, else `r3(1 − cv)`. `None` for an empty or all-zero histogram.
pub fn cv_score(freq: &[u32]) -> Option<f64> {
    let n = freq.len() as f64;
    let total: u64 = freq.iter().map(|&f| f as u64).sum();
    if freq.is_empty() || total == 0 {
        return None;
    }
    let mean = total as f64 / n;
    let var = freq.iter().map(|&f| (f as f64 - mean).powi(2)).sum::<f64>() / n;
    let cv = var.sqrt() / mean;
    Some(if cv > 1.0 { 0.0 } else { r3(1.0 - cv) })
}

/// The bimodal-fit score: with at least `min_hours` bars (values below 6 are replaced by
/// RITA's default 11), `min(1, r3((n1 + n2)/max(bars − outlier_removal, 1)))` where n1, n2 are
/// the bar counts of the two most populated buckets; 0 with fewer bars. `None` without bars or
/// buckets.
pub fn bimodal_fit(
    counts: &[(u64, u32)],
    bars: u32,
    outlier_removal: u32,
    min_hours: u32,
) -> Option<f64> {
    if bars == 0 || counts.is_empty() {
        return None;
    }
    let min_hours = if min_hours < 6 { 11 } else { min_hours };
    if bars < min_hours {
        return Some(0.0);
    }
    let (mut n1, mut n2) = (0u32, 0u32);
    for &(_, n) in counts {
        if n > n1 {
            n2 = n1;
            n1 = n;
        } else if n > n2 {
            n2 = n;
        }
    }
    let denom = bars.saturating_sub(outlier_removal).max(1);
    Some(r3((n1 + n2) as f64 / denom as f64).min(1.0))
}

/// A histogram sub-score with its parts.
#[derive(Clone, Debug, PartialEq)]
pub struct HistScore {
    /// `max(cv_score, bimodal_fit)`.
    pub score: f64,
    /// The coefficient-of-variation score.
    pub cv_score: f64,
    /// The bimodal-fit score.
    pub bimodal_fit: f64,
    /// The histogram.
    pub histogram: Histogram,
}

/// RITA's histogram score over `bins` equal bins from `min` to `max`: see [`histogram`],
/// [`cv_score`], [`frequency_counts`] and [`bimodal_fit`].
pub fn histogram_score(
    min: f64,
    max: f64,
    ts: &[i64],
    bins: usize,
    sensitivity: f64,
    outlier_removal: u32,
    min_hours: u32,
) -> Option<HistScore> {
    let edges = bin_edges(min, max, bins)?;
    let histogram = histogram(&edges, ts)?;
    let cv = cv_score(&histogram.freq)?;
    let counts = frequency_counts(&histogram.freq, sensitivity);
    let bimodal = bimodal_fit(&counts, histogram.bars, outlier_removal, min_hours)?;
    Some(HistScore { score: cv.max(bimodal), cv_score: cv, bimodal_fit: bimodal, histogram })
}

/// A duration sub-score with its parts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DurScore {
    /// `max(coverage, consistency)`, or 0 below the minimum number of bars.
    pub score: f64,
    /// `min(1, c3((last − first)/(window max − window min)))`.
    pub coverage: f64,
    /// `min(1, c3(longest run / ideal hours))`.
    pub consistency: f64,
}

/// RITA's duration score: 0 when `bars < min_hours`; otherwise the larger of the coverage
/// (how much of the window lies between the pair's first and last connection) and the
/// consistency (the longest run of non-empty hours over the ideal). `None` when a parameter is
/// below 1 or a range is empty or inverted (`window_max ≤ window_min`, `last < first`).
#[allow(clippy::too_many_arguments)]
pub fn duration_score(
    window_min: f64,
    window_max: f64,
    first: f64,
    last: f64,
    bars: u32,
    longest_run: u32,
    min_hours: u32,
    ideal_hours: u32,
) -> Option<DurScore> {
    if min_hours < 1 || ideal_hours < 1 || window_max <= window_min || last < first {
        return None;
    }
    if bars < min_hours {
        return Some(DurScore { score: 0.0, coverage: 0.0, consistency: 0.0 });
    }
    let coverage = c3((last - first) / (window_max - window_min)).min(1.0);
    let consistency = c3(longest_run as f64 / ideal_hours as f64).min(1.0);
    Some(DurScore { score: coverage.max(consistency), coverage, consistency })
}

#[cfg(test)]
mod tests {
    //! Expected values are RITA's own unit-test expectations (`analysis/beacons_test.go`,
    //! inputs and expected figures only) or computed by hand in the comments.

    use super::*;

    fn near(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    fn sorted(v: &[f64]) -> Vec<f64> {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v
    }

    #[test]
    fn rounding() {
        assert_eq!(r3(0.1235), 0.124);
        assert_eq!(r3(-0.1235), -0.124);
        assert_eq!(r3(0.0005), 0.001);
        assert_eq!(r3(0.96275), 0.963);
        assert_eq!(r3(0.5055), 0.505); // as in Go: 0.5055*1000 = 505.49999999999994
        assert_eq!(c3(0.5), 0.5);
        assert_eq!(c3(0.5001), 0.501);
        assert_eq!(c3(0.1 + 0.2), 0.3); // naive ceil gives 0.301
        assert_eq!(c3(1.1), 1.1); // naive ceil gives 1.101
        assert_eq!(c3(7.0 / 12.0), 0.584);
        assert_eq!(c3(1.0388078703703705), 1.039);
        assert_eq!(c3(0.0), 0.0);
        assert_eq!(c3(0.0000001), 0.001);
    }

    #[test]
    fn median_and_quartiles() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0]), Some(3.0));
        assert_eq!(median(&[1.0, 2.0, 3.0, 4.0]), Some(2.5));
        // The doc's pinned example (Tukey hinges, odd n, median excluded from both halves).
        let q = quartiles(&[1., 2., 25., 42., 90., 299., 500., 1500., 4975.]).unwrap();
        assert_eq!((q.q1, q.q2, q.q3), (13.5, 90.0, 1000.0));
        // Even n: halves are the first and last n/2.
        let q = quartiles(&[1., 2., 3., 4., 5., 6., 7., 8., 9., 10.]).unwrap();
        assert_eq!((q.q1, q.q2, q.q3), (3.0, 5.5, 8.0));
        let q = quartiles(&sorted(&[524885., 1., 5000., 98654., 50., 41., 965842., 3.])).unwrap();
        assert_eq!((q.q1, q.q2, q.q3), (22.0, 2525.0, 311769.5));
        let q = quartiles(&[4.0]).unwrap();
        assert_eq!((q.q1, q.q2, q.q3), (4.0, 4.0, 4.0));
        let q = quartiles(&[4.0, 6.0]).unwrap();
        assert_eq!((q.q1, q.q2, q.q3), (4.0, 5.0, 6.0));
        assert_eq!(quartiles(&[]), None);
    }

    #[test]
    fn bowley_skew_cases() {
        // RITA TestCalculateBowleySkewness.
        let s = bowley_skew(&[1., 2., 25., 42., 90., 299., 500., 1500., 4975.]).unwrap();
        assert!(near(s.skew, 833.5 / 986.5), "{}", s.skew);
        assert_eq!(r3(s.skew), 0.845);
        assert_eq!(r3(s.score), 0.155);
        let s = bowley_skew(&sorted(&[524885., 1., 5000., 98654., 50., 41., 965842., 3.])).unwrap();
        assert!((s.skew - 0.984).abs() < 0.001 && (s.score - 0.016).abs() < 0.001);
        for v in [
            &[1., 2., 3., 4., 5., 6., 7., 8., 9., 10.][..], // IQR 5 < 10
            &[60.; 9],
            &[98., 99., 99., 100., 100., 100., 101., 101., 102.], // IQR 2
            &sorted(&[7., 8., 7., 8., 7., 8., 7., 8., 7.]),       // Q1 == Q2
            &[1., 1., 2., 2., 2., 2.],                            // Q2 == Q3
            &sorted(&[7.7, 6.6, 4.4, 1.1, 5.5, 3.3, 2.2]),
        ] {
            let s = bowley_skew(v).unwrap();
            assert_eq!((s.skew, s.score), (0.0, 1.0), "{v:?}");
        }
        assert_eq!(bowley_skew(&[]), None);
        assert_eq!(bowley_skew(&[1.0, 2.0]), None);
    }

    #[test]
    fn mad_cases() {
        // RITA TestCalculateMedianAbsoluteDeviation.
        let m = mad(&[1., 2., 2., 3., 3., 3., 4., 5., 5.], 1.0).unwrap();
        assert_eq!(m.mad, 1.0);
        assert!((m.score - 0.6667).abs() < 0.001);
        let m = mad(&[11., 12., 12., 14., 15., 16.], 1.0).unwrap();
        assert_eq!(m.mad, 1.5);
        assert!((m.score - 0.8846).abs() < 0.001);
        let big = [1000., 1500., 2000., 2500., 3000., 3500., 4000., 4500., 5000., 5500.];
        let m = mad(&big, 1.0).unwrap();
        assert_eq!(m.mad, 1250.0);
        assert!((m.score - 0.6154).abs() < 0.001);
        assert_eq!(mad(&[], 1.0), None);
        // Median below 1: the default, whatever the MAD.
        assert_eq!(mad(&[0.0; 10], 0.0).unwrap().score, 0.0);
        assert_eq!(mad(&[0.0; 10], 1.0).unwrap().score, 1.0);
        // A MAD above the median clamps to 0: median 1, MAD 101.
        let m = mad(&[-100.0, -100.0, 1.0, 1.0, 102.0, 102.0], 1.0).unwrap();
        assert_eq!((m.median, m.mad, m.score), (1.0, 101.0, 0.0));
    }

    #[test]
    fn stat_score_cases() {
        // RITA TestCalculateStatisticalScore and the doc's section 3.7.2.
        let s = stat_score(&[1., 2., 3., 4., 5., 6., 7., 8., 9., 10.], 0.0).unwrap();
        assert_eq!((s.skew.skew, s.mad.mad, s.score), (0.0, 2.5, 0.773));
        let s = stat_score(&[60.; 9], 0.0).unwrap();
        assert_eq!((s.skew.skew, s.mad.mad, s.score), (0.0, 0.0, 1.0));
        let s = stat_score(&[98., 99., 99., 100., 100., 100., 101., 101., 102.], 1.0).unwrap();
        assert_eq!((s.skew.skew, s.mad.mad, s.score), (0.0, 1.0, 0.995));
        let s = stat_score(&sorted(&[1., 299., 25., 4975., 90., 2., 42., 500., 1500.]), 1.0);
        let s = s.unwrap();
        assert_eq!((r3(s.skew.skew), s.mad.mad, s.score), (0.845, 89.0, 0.083));
        let v = sorted(&[524885., 1., 5000., 98654., 50., 41., 965842., 3.]);
        let s = stat_score(&v, 0.0).unwrap();
        // RITA's test tables disagree here (0.008 with skew 0.984 in one, 0.009 with 0.983 in
        // the other, both within their 0.001 tolerance): skew = 306741.5/311747.5 = 0.98394…,
        // MAD 2523, score r3((0.01606 + 0.00079)/2) = r3(0.008425) = 0.008.
        assert_eq!((r3(s.skew.skew), s.mad.mad, s.score), (0.984, 2523.0, 0.008));
        let s = stat_score(&[0.0; 10], 0.0).unwrap();
        assert_eq!(s.score, 0.5);
        let s = stat_score(&[0.0; 10], 1.0).unwrap();
        assert_eq!(s.score, 1.0);
        let s = stat_score(&sorted(&[-1., -2., -3., -4., -5., -6., -7., -8., -9., -10.]), 0.0);
        let s = s.unwrap();
        assert_eq!((s.skew.skew, s.mad.mad, s.score), (0.0, 2.5, 0.5));
        let s = stat_score(&sorted(&[7., 8., 7., 8., 7., 8., 7., 8., 7.]), 1.0).unwrap();
        assert_eq!((s.mad.mad, s.score), (0.0, 1.0));
        let s = stat_score(&[1., 1., 2., 2., 2., 2.], 1.0).unwrap();
        assert_eq!((s.mad.mad, s.score), (0.0, 1.0));
        assert_eq!(stat_score(&[], 0.0), None);
    }

    #[test]
    fn distinct_counts_and_mode() {
        // RITA TestCalculateDistinctCounts.
        let d = distinct_counts(&[1, 2, 2, 3, 3, 3, 4, 5, 5]);
        assert_eq!(d.values, vec![(1, 1), (2, 2), (3, 3), (4, 1), (5, 2)]);
        assert_eq!(d.mode, Some((3, 3)));
        let d = distinct_counts(&[1517338924i64, 1517338924, 1517338924, 1609459200, 1609459200]);
        assert_eq!(d.values, vec![(1517338924, 3), (1609459200, 2)]);
        assert_eq!(d.mode, Some((1517338924, 3)));
        assert_eq!(distinct_counts(&[1, 2, 3]).mode, Some((1, 1)), "ties go to the first");
        assert_eq!(distinct_counts::<i64>(&[]), Distinct { values: vec![], mode: None });
    }

    #[test]
    fn bucketing() {
        let t = Thresholds::BEACON;
        assert_eq!(bucket(49.9, &t), 0.0);
        assert!(near(bucket(50.0, &t), 0.2));
        assert!(near(bucket(60.0, &t), 0.3));
        assert!(near(bucket(70.0, &t), 0.4));
        assert!(near(bucket(80.0, &t), 0.5));
        assert!(near(bucket(90.0, &t), 0.6));
        assert!(near(bucket(96.3, &t), 0.726));
        assert!(near(bucket(100.0, &t), 0.8));
        assert!(near(bucket(150.0, &t), 0.8));
        let l = Thresholds::LONG_CONNECTION;
        assert_eq!(bucket(3599.0, &l), 0.0);
        assert!(near(bucket(3600.0, &l), 0.2));
        assert!(near(bucket(9000.0, &l), 0.3));
        assert!(near(bucket(270036.6, &l), 0.8));
        let d = Thresholds::DNS;
        assert!(near(bucket(100.0, &d), 0.2));
        assert!(near(bucket(650.0, &d), 0.5));
        assert!(near(bucket(1000.0, &d), 0.8));
        assert_eq!(bucket(f64::NAN, &d), 0.0);
        // Degenerate thresholds do not divide by zero.
        let flat = Thresholds { base: 1.0, low: 1.0, medium: 1.0, high: 1.0 };
        assert_eq!(bucket(1.0, &flat), 0.8);
        assert!(t.is_valid() && l.is_valid() && d.is_valid());
        assert!(!Thresholds { base: 2.0, low: 1.0, medium: 3.0, high: 4.0 }.is_valid());
    }

    #[test]
    fn bin_edges_cases() {
        // RITA TestComputeHistogramBins.
        assert_eq!(bin_edges(0.0, 10.0, 2).unwrap(), vec![0.0, 5.0, 10.0]);
        assert_eq!(bin_edges(0.0, 100.0, 5).unwrap(), vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        let e = bin_edges(0.0, 24.0, 24).unwrap();
        assert_eq!(e, (0..=24).map(f64::from).collect::<Vec<_>>());
        let e = bin_edges(0.0, 10.0, 24).unwrap();
        assert_eq!(e.len(), 25);
        assert!((e[1] - 0.4167).abs() < 0.01 && (e[23] - 9.5833).abs() < 0.01 && e[24] == 10.0);
        let e = bin_edges(1517336042.0, 1517422440.0, 24).unwrap();
        assert!((e[1] - (1517336042.0 + 3599.9167)).abs() < 0.01);
        assert_eq!(e[24], 1517422440.0);
        assert_eq!(bin_edges(0.0, 100.0, 0), None);
        assert_eq!(bin_edges(10.0, 5.0, 5), None);
        assert_eq!(bin_edges(0.0, 0.0, 5), None);
    }

    #[test]
    fn histogram_cases() {
        // RITA TestCreateHistogram (bars, runs, and the frequency counts at 0.05 unless noted).
        let h = histogram(&[0., 10., 20., 30.], &[1, 5, 11, 15, 21, 25]).unwrap();
        assert_eq!((h.freq.clone(), h.bars, h.longest_run), (vec![2, 2, 2], 3, 3));
        assert_eq!(frequency_counts(&h.freq, 0.05), vec![(2, 3)]);
        let h = histogram(&[0., 100., 200.], &[10, 20, 30, 40]).unwrap();
        assert_eq!((h.freq, h.bars, h.longest_run), (vec![4, 0], 1, 1));
        let h = histogram(&[0., 100.], &[10, 20, 30, 40, 50]).unwrap();
        assert_eq!((h.freq, h.bars, h.longest_run), (vec![5], 1, 1));
        let h = histogram(&[0., 50., 100., 150., 200., 250.], &[10, 20, 100, 110, 110, 220]);
        let h = h.unwrap();
        assert_eq!((h.freq.clone(), h.bars, h.longest_run), (vec![2, 0, 3, 0, 1], 3, 2));
        assert_eq!(frequency_counts(&h.freq, 0.05), vec![(1, 1), (2, 1), (3, 1)]);
        let edges: Vec<f64> = (0..=10).map(|i| i as f64 * 10.0).collect();
        let ts = [
            1, 2, 3, 4, 15, 21, 22, 23, 24, 35, 41, 42, 43, 44, 55, 61, 62, 63, 64, 75, 81, 82, 83,
            84, 95,
        ];
        let h = histogram(&edges, &ts).unwrap();
        assert_eq!(h.freq, vec![4, 1, 4, 1, 4, 1, 4, 1, 4, 1]);
        assert_eq!((h.bars, h.longest_run), (10, 10));
        assert_eq!(frequency_counts(&h.freq, 0.05), vec![(1, 5), (4, 5)]);
        // A timestamp equal to the last edge goes in the last bin.
        let edges = [98., 98.5, 99., 99.5, 100., 100.5, 101., 101.5, 102.];
        let h = histogram(&edges, &[98, 99, 99, 100, 100, 100, 101, 101, 102]).unwrap();
        assert_eq!(h.freq, vec![1, 0, 2, 0, 3, 0, 2, 1]);
        assert_eq!((h.bars, h.longest_run), (5, 3));
        assert_eq!(frequency_counts(&h.freq, 0.05), vec![(1, 2), (2, 2), (3, 1)]);
        // Unsorted input.
        let h = histogram(&[0., 100., 200., 300., 400., 500.], &[450, 10, 30, 205, 299]).unwrap();
        assert_eq!((h.freq.clone(), h.bars, h.longest_run), (vec![2, 0, 2, 0, 1], 3, 2));
        assert_eq!(frequency_counts(&h.freq, 0.05), vec![(1, 1), (2, 2)]);
        // Timestamps outside the edges are clamped into the end bins.
        let h = histogram(&[10., 20., 30.], &[0, 5, 15, 40]).unwrap();
        assert_eq!(h.freq, vec![3, 1]);
        assert_eq!(histogram(&[10.0], &[15, 22, 35]), None);
        assert_eq!(histogram(&[10., 20., 30., 40.], &[]), None);
    }

    #[test]
    fn modal_sensitivity() {
        // RITA TestCreateHistogram "High/Low Modal Sensitivity" and "Bimodal - High/Low".
        let one = [9, 10, 11, 10, 11, 9, 10, 11, 10, 9];
        assert_eq!(frequency_counts(&one, 0.2), vec![(9, 10)]);
        assert_eq!(frequency_counts(&one, 0.05), vec![(9, 3), (10, 4), (11, 3)]);
        let two = [9, 10, 11, 10, 11, 9, 10, 11, 10, 9, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2];
        assert_eq!(frequency_counts(&two, 0.3), vec![(0, 10), (8, 10)]);
        assert_eq!(frequency_counts(&two, 0.05), vec![(2, 5), (3, 5), (9, 3), (10, 4), (11, 3)]);
        assert_eq!(longest_run(&two), 20);
        // RITA TestGetFrequencyCounts.
        assert_eq!(frequency_counts(&[2; 10], 0.05), vec![(2, 10)]);
        let gaps = [2, 0, 2, 0, 2, 0, 2, 0, 2, 0];
        assert_eq!((frequency_counts(&gaps, 0.05), longest_run(&gaps)), (vec![(2, 5)], 1));
        let h = [2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 4, 4, 4, 4, 0];
        assert_eq!((frequency_counts(&h, 0.05), longest_run(&h)), (vec![(2, 5), (4, 4)], 5));
        let h = [900, 901, 899, 900, 899, 902, 900, 901];
        assert_eq!(frequency_counts(&h, 0.05), vec![(874, 8)]);
        let h = [100, 105, 100, 300, 305, 300];
        assert_eq!(frequency_counts(&h, 0.1), vec![(93, 3), (279, 3)]);
        let h = [100, 105, 100, 300, 305, 300, 500, 505, 500, 700, 705, 700];
        assert_eq!(frequency_counts(&h, 0.1), vec![(71, 3), (284, 3), (497, 3), (639, 3)]);
        let h = [100, 100, 101, 101, 102, 200, 200, 201, 201, 202, 300, 300, 301, 301, 302];
        assert_eq!(frequency_counts(&h, 0.001).len(), 9);
        assert_eq!(frequency_counts(&h, 0.1), vec![(93, 5), (186, 5), (279, 5)]);
        let wrap = [2002, 2000, 1999, 2005, 1990, 0, 0, 0, 0, 0, 0, 2000, 2001, 2002, 2003, 2004];
        assert_eq!((frequency_counts(&wrap, 0.05), longest_run(&wrap)), (vec![(1919, 10)], 10));
        assert_eq!(frequency_counts(&[], 0.05), vec![]);
        assert_eq!(longest_run(&[]), 0);
        assert_eq!(longest_run(&[0, 0]), 0);
        assert_eq!(longest_run(&[1, 0, 1, 1]), 3);
    }

    #[test]
    fn cv_cases() {
        // RITA TestCalculateCoefficientOfVariationScore.
        assert_eq!(cv_score(&[1; 10]), Some(1.0));
        assert_eq!(cv_score(&[950, 970, 990, 1010, 1030, 1050, 1070]), Some(0.96));
        let s = cv_score(&[1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009]).unwrap();
        assert!((s - 0.9971406).abs() < 0.001);
        assert_eq!(cv_score(&[1, 5, 10, 50, 100, 500, 1000, 5000, 10000]), Some(0.0));
        assert_eq!(cv_score(&[]), None);
        assert_eq!(cv_score(&[0; 5]), None);
    }

    #[test]
    fn bimodal_cases() {
        // RITA TestCalculateBimodalFitScore.
        assert_eq!(bimodal_fit(&[(1, 10)], 10, 1, 10), Some(1.0));
        assert_eq!(bimodal_fit(&[(1, 50), (2, 5)], 60, 1, 10), Some(0.932));
        assert_eq!(bimodal_fit(&[(1, 10), (2, 1)], 11, 1, 10), Some(1.0));
        assert_eq!(bimodal_fit(&[(1, 50), (2, 1), (3, 1)], 56, 1, 10), Some(0.927));
        assert_eq!(bimodal_fit(&[(1, 10), (2, 10)], 20, 1, 10), Some(1.0));
        assert_eq!(bimodal_fit(&[(1, 50), (2, 30), (3, 1), (4, 2)], 83, 1, 10), Some(0.976));
        assert_eq!(bimodal_fit(&[(1, 10), (2, 10), (3, 1)], 21, 1, 10), Some(1.0));
        let c = [(1, 50), (2, 30), (3, 1), (4, 2), (5, 1)];
        assert_eq!(bimodal_fit(&c, 84, 1, 10), Some(0.964));
        assert_eq!(bimodal_fit(&[(1, 2), (2, 3)], 5, 1, 11), Some(0.0));
        // A minimum below 6 is replaced by 11 (else 2 bars would always fit "bimodally").
        assert_eq!(bimodal_fit(&[(1, 1), (2, 1)], 2, 1, 2), Some(0.0));
        assert_eq!(bimodal_fit(&[(1, 2), (2, 3)], 0, 1, 11), None);
        assert_eq!(bimodal_fit(&[], 20, 1, 11), None);
    }

    #[test]
    fn histogram_score_cases() {
        // RITA TestGetHistogramScore: the four published scores 0.478 / 0.064 / 1.0 / 0.028.
        let ts: Vec<i64> = (1..=10).flat_map(|i| std::iter::repeat_n(i, i as usize)).collect();
        let h = histogram_score(1.0, 11.0, &ts, 10, 0.05, 1, 6).unwrap();
        assert_eq!(h.histogram.freq, (1..=10).collect::<Vec<u32>>());
        assert_eq!((h.histogram.bars, h.histogram.longest_run), (10, 10));
        // mean 5.5, sd √8.25 = 2.8723, cv 0.5222 → 0.478; bimodal (1+1)/9 = 0.222.
        assert_eq!((h.cv_score, h.bimodal_fit, h.score), (0.478, 0.222, 0.478));

        let base = 1517338924i64;
        let ts: Vec<i64> = (0..24).map(|i| base + i * 3600).collect();
        let h = histogram_score(base as f64, (base + 86400) as f64, &ts, 24, 0.05, 1, 11).unwrap();
        assert_eq!(h.histogram.freq, vec![1; 24]);
        assert_eq!((h.histogram.bars, h.histogram.longest_run, h.score), (24, 24, 1.0));

        let ts = [98, 99, 99, 100, 100, 100, 101, 101, 102];
        let h = histogram_score(98.0, 102.0, &ts, 8, 0.05, 1, 6).unwrap();
        assert_eq!(h.histogram.freq, vec![1, 0, 2, 0, 3, 0, 2, 1]);
        // mean 1.125, sd 1.05327, cv 0.936 → 0.064; 5 bars < 6 → no bimodal score.
        assert_eq!((h.cv_score, h.bimodal_fit, h.score), (0.064, 0.0, 0.064));

        let ts = [524885, 1, 5000, 98654, 50, 41, 965842, 3, 12001, 200400, 104001, 199999];
        let h = histogram_score(0.0, 1e6, &ts, 10, 0.05, 1, 6).unwrap();
        assert_eq!(h.histogram.freq, vec![7, 2, 1, 0, 0, 1, 0, 0, 0, 1]);
        assert_eq!((h.histogram.bars, h.histogram.longest_run, h.score), (5, 4, 0.0));

        let ts = [
            1, 2, 3, 4, 15, 21, 22, 23, 24, 35, 41, 42, 43, 44, 55, 61, 62, 63, 64, 75, 81, 82, 83,
            84, 95,
        ];
        let h = histogram_score(0.0, 100.0, &ts, 10, 0.05, 1, 6).unwrap();
        // cv 1.5/2.5 = 0.6 → 0.4; bimodal 10/9 capped at 1.
        assert_eq!((h.cv_score, h.bimodal_fit, h.score), (0.4, 1.0, 1.0));

        let h = histogram_score(0.0, 250.0, &[10, 20, 100, 110, 110, 220], 5, 0.05, 1, 6).unwrap();
        assert_eq!((h.histogram.bars, h.histogram.longest_run), (3, 2));
        // mean 1.2, sd 1.1662, cv 0.9718 → 0.028.
        assert_eq!((h.cv_score, h.score), (0.028, 0.028));

        let ts: Vec<i64> = (0..10).map(|i| base + i * 60).collect();
        for min_hours in [11, 1] {
            let h =
                histogram_score(base as f64, (base + 86400) as f64, &ts, 24, 0.05, 1, min_hours);
            let h = h.unwrap();
            assert_eq!((h.histogram.bars, h.histogram.longest_run, h.score), (1, 1, 0.0));
        }
        assert_eq!(histogram_score(0.0, 10.0, &[], 24, 0.05, 1, 11), None);
        assert_eq!(histogram_score(1.0, 0.0, &[1, 2, 3], 24, 0.05, 1, 11), None);
        assert_eq!(histogram_score(1.0, 1.0, &[1; 10], 24, 0.05, 1, 11), None);
    }

    #[test]
    fn duration_cases() {
        // RITA TestGetDurationScore: (window, first..last, bars, run) → coverage, consistency.
        let b = 1517338924.0;
        let h = 3600.0;
        let day = 24.0 * h;
        let cases = [
            (b, b + day, 24, 24, 1.0, 1.0, 1.0),
            (b, b + day, 6, 0, 1.0, 0.0, 1.0),
            (b + 12.0 * h, b + day, 6, 0, 0.5, 0.0, 0.5),
            (b, b + 12.0 * h, 6, 0, 0.5, 0.0, 0.5),
            (b + 6.0 * h, b + day, 6, 0, 0.75, 0.0, 0.75),
            (b + 12.0 * h, b + day, 12, 12, 0.5, 1.0, 1.0),
            (b + 12.0 * h, b + 18.0 * h, 6, 6, 0.25, 0.5, 0.5),
            (b + 6.0 * h, b + 18.0 * h, 12, 6, 0.5, 0.5, 0.5),
            (b + 6.0 * h, b + 18.0 * h, 3, 1, 0.0, 0.0, 0.0),
        ];
        for (first, last, bars, run, cov, cons, score) in cases {
            let d = duration_score(b, b + day, first, last, bars, run, 6, 12).unwrap();
            assert_eq!((d.coverage, d.consistency, d.score), (cov, cons, score));
        }
        assert_eq!(duration_score(b, b + day, b, b + day, 12, 6, 6, 0), None);
        assert_eq!(duration_score(b, b + day, b, b + day, 12, 6, 0, 12), None);
        assert_eq!(duration_score(1.0, 0.0, 0.0, 1.0, 6, 12, 6, 12), None);
        assert_eq!(duration_score(0.0, 1.0, 1.0, 0.0, 6, 12, 6, 12), None);
        // 7/12 = 0.58333… ceils to 0.584; coverage over 1 is capped.
        let d = duration_score(0.0, 100.0, -10.0, 100.0, 7, 7, 6, 12).unwrap();
        assert_eq!((d.coverage, d.consistency, d.score), (1.0, 0.584, 1.0));
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        fn sorted_vec(v: Vec<u32>) -> Vec<f64> {
            let mut v: Vec<f64> = v.into_iter().map(f64::from).collect();
            v.sort_by(f64::total_cmp);
            v
        }

        proptest! {
            #[test]
            fn rounding_stays_within_a_step(x in -1e6f64..1e6) {
                prop_assert!((r3(x) - x).abs() <= 0.0005 + 1e-9 * x.abs().max(1.0));
                let c = c3(x);
                prop_assert!(c >= x - 1e-9 * x.abs().max(1.0) && c - x < 0.001 + 1e-9);
                prop_assert_eq!(c3(r3(x)), r3(x));
            }

            #[test]
            fn quartiles_are_ordered_and_scores_bounded(v in prop::collection::vec(0u32..100_000, 3..200)) {
                let v = sorted_vec(v);
                let q = quartiles(&v).unwrap();
                prop_assert!(v[0] <= q.q1 && q.q1 <= q.q2 && q.q2 <= q.q3 && q.q3 <= v[v.len() - 1]);
                for default in [0.0, 1.0] {
                    let s = stat_score(&v, default).unwrap();
                    prop_assert!((0.0..=1.0).contains(&s.score));
                    prop_assert!((-1.0..=1.0).contains(&s.skew.skew));
                    prop_assert!((0.0..=1.0).contains(&s.mad.score));
                }
            }

            #[test]
            fn histograms_count_every_timestamp(
                ts in prop::collection::vec(0i64..10_000, 1..300),
                bins in 1usize..40,
                sensitivity in 0.01f64..1.0,
            ) {
                let h = histogram_score(0.0, 10_000.0, &ts, bins, sensitivity, 1, 11).unwrap();
                let freq = &h.histogram.freq;
                prop_assert_eq!(freq.len(), bins);
                prop_assert_eq!(freq.iter().map(|&f| f as usize).sum::<usize>(), ts.len());
                prop_assert!(h.histogram.longest_run <= h.histogram.bars);
                prop_assert!(h.histogram.bars as usize <= bins);
                for s in [h.score, h.cv_score, h.bimodal_fit] {
                    prop_assert!((0.0..=1.0).contains(&s));
                }
                let counts = frequency_counts(freq, sensitivity);
                prop_assert_eq!(counts.iter().map(|c| c.1).sum::<u32>(), h.histogram.bars);
                // Rotating the histogram changes neither the bars nor the wrapping run.
                let mut rot = freq.clone();
                rot.rotate_left(bins / 2);
                prop_assert_eq!(longest_run(&rot), h.histogram.longest_run);
            }

            #[test]
            fn buckets_are_monotone(a in 0f64..2000.0, b in 0f64..2000.0) {
                let t = Thresholds::DNS;
                let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
                prop_assert!(bucket(lo, &t) <= bucket(hi, &t));
                prop_assert!((0.0..=HIGH_CATEGORY_SCORE).contains(&bucket(a, &t)));
            }
        }
    }
}
