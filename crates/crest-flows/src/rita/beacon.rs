//! RITA v5's beacon score: four sub-scores over a pair's connections in the last 24 hours —
//! timestamp regularity (TS), data-size regularity (DS), persistence over the day (DUR) and the
//! shape of the hourly histogram (HIST) — weighted into one score in [0, 1].
//!
//! The functions here are pure: they take a pair's sorted timestamps and sizes and the window.
//! Collecting those per pair, with bounded memory, is [`Rita`](super::Rita)'s job.

use std::net::IpAddr;

use super::ConfigError;
use super::stats::{
    DurScore, HistScore, Thresholds, distinct_counts, duration_score, histogram_score, r3,
    stat_score,
};
use crate::flow::Proto;

/// The weights of the four sub-scores (RITA's `*_score_weight`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BeaconWeights {
    /// Timestamp (interval regularity) weight.
    pub ts: f64,
    /// Data-size weight.
    pub ds: f64,
    /// Duration (persistence) weight.
    pub dur: f64,
    /// Histogram weight.
    pub hist: f64,
}

impl Default for BeaconWeights {
    fn default() -> BeaconWeights {
        BeaconWeights { ts: 0.25, ds: 0.25, dur: 0.25, hist: 0.25 }
    }
}

impl BeaconWeights {
    /// Checks RITA's rule: each weight in [0, 1] and the four summing to exactly 1 (up to a
    /// float error of 1e-9, so that 0.1 + 0.2 + 0.3 + 0.4 passes).
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (name, w) in [
            ("timestamp", self.ts),
            ("datasize", self.ds),
            ("duration", self.dur),
            ("histogram", self.hist),
        ] {
            if !(0.0..=1.0).contains(&w) {
                return Err(ConfigError::Weight { name, value: w });
            }
        }
        let sum = self.ts + self.ds + self.dur + self.hist;
        if (sum - 1.0).abs() > 1e-9 {
            return Err(ConfigError::WeightSum(sum));
        }
        Ok(())
    }
}

/// Beacon settings; `Default` is RITA's `default_config.hjson`.
#[derive(Clone, Debug, PartialEq)]
pub struct BeaconConfig {
    /// Minimum distinct timestamps (whole seconds) for a pair to be scored (4).
    pub unique_connection_threshold: u64,
    /// Pairs with at least this many connections in the window are strobes, not beacons
    /// (86,400: one a second over a day).
    pub strobe_threshold: u64,
    /// The most timestamps kept per pair (86,400); more only happen for strobes, which are
    /// not scored.
    pub max_timestamps: usize,
    /// Sub-score weights (0.25 each).
    pub weights: BeaconWeights,
    /// Bars needed for a duration score (6).
    pub duration_min_hours_seen: u32,
    /// Longest run of non-empty bins that scores full consistency (12).
    pub duration_consistency_ideal_hours_seen: u32,
    /// Histogram bucket width as a share of the tallest bar (0.05).
    pub histogram_mode_sensitivity: f64,
    /// Bars that may be outliers in the bimodal fit (1).
    pub histogram_bimodal_outlier_removal: u32,
    /// Bars needed for a bimodal-fit score (11; values below 6 mean 11).
    pub histogram_bimodal_min_hours_seen: u32,
    /// Histogram bins over the window (24: hours of a day).
    pub histogram_bins: usize,
    /// Bucketing thresholds on score × 100 (50 / 70 / 90 / 100).
    pub thresholds: Thresholds,
}

impl Default for BeaconConfig {
    fn default() -> BeaconConfig {
        BeaconConfig {
            unique_connection_threshold: 4,
            strobe_threshold: 86_400,
            max_timestamps: 86_400,
            weights: BeaconWeights::default(),
            duration_min_hours_seen: 6,
            duration_consistency_ideal_hours_seen: 12,
            histogram_mode_sensitivity: 0.05,
            histogram_bimodal_outlier_removal: 1,
            histogram_bimodal_min_hours_seen: 11,
            histogram_bins: 24,
            thresholds: Thresholds::BEACON,
        }
    }
}

impl BeaconConfig {
    /// Checks the weights and the other settings' ranges.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.weights.validate()?;
        let bad = |name: &'static str, value: f64| Err(ConfigError::Setting { name, value });
        if self.duration_min_hours_seen < 1 {
            return bad("duration_min_hours_seen", self.duration_min_hours_seen as f64);
        }
        if self.duration_consistency_ideal_hours_seen < 1 {
            let v = self.duration_consistency_ideal_hours_seen as f64;
            return bad("duration_consistency_ideal_hours_seen", v);
        }
        let s = self.histogram_mode_sensitivity;
        if s.is_nan() || s <= 0.0 || s > 1.0 {
            return bad("histogram_mode_sensitivity", s);
        }
        if self.histogram_bins == 0 {
            return bad("histogram_bins", 0.0);
        }
        if self.max_timestamps == 0 {
            return bad("max_timestamps", 0.0);
        }
        if !self.thresholds.is_valid() {
            return Err(ConfigError::Thresholds("beacon"));
        }
        Ok(())
    }
}

/// Why a pair was not scored (RITA skips such pairs).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum BeaconError {
    /// The timestamp score needs 4 timestamps.
    #[error("fewer than 4 timestamps")]
    TooFewTimestamps,
    /// The timestamp score needs 3 non-zero intervals.
    #[error("fewer than 3 non-zero intervals between timestamps")]
    TooFewIntervals,
    /// The data-size score needs 3 sizes.
    #[error("fewer than 3 data sizes")]
    TooFewSizes,
    /// The window is empty or inverted.
    #[error("empty or inverted beacon window")]
    BadWindow,
    /// A sub-score fell outside [0, 1].
    #[error("{name} score {value} is outside [0, 1]")]
    ScoreOutOfRange {
        /// Which sub-score.
        name: &'static str,
        /// Its value.
        value: f64,
    },
    /// The weights are invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// The analysis window, in whole epoch seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// `max(dataset min, dataset max − span)`: the histogram's first edge.
    pub min: i64,
    /// The dataset's last second: the histogram's last edge.
    pub max: i64,
    /// `min` rounded down to the hour: pair rows from here on are analysed (RITA selects rows
    /// by `toStartOfHour(ts) >= toStartOfHour(min)`).
    pub start: i64,
}

impl Window {
    /// The window over the last `span` seconds of a dataset spanning `dataset_min..=dataset_max`.
    pub fn of_dataset(dataset_min: i64, dataset_max: i64, span: i64) -> Window {
        let min = dataset_min.max(dataset_max - span);
        Window { min, max: dataset_max, start: min.div_euclid(3600) * 3600 }
    }
}

/// The timestamp sub-score with its parts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TsScore {
    /// The score.
    pub score: f64,
    /// Bowley skew of the intervals.
    pub skew: f64,
    /// MAD of the intervals, seconds.
    pub mad: f64,
    /// The most common interval, seconds.
    pub mode: i64,
    /// How often it occurs.
    pub mode_count: u64,
    /// How many distinct intervals.
    pub distinct: usize,
}

/// RITA's timestamp score: the statistical score (MAD default 1) of the sorted non-zero
/// intervals between consecutive sorted timestamps. Needs 4 timestamps and 3 non-zero
/// intervals.
pub fn timestamp_score(sorted_ts: &[i64]) -> Result<TsScore, BeaconError> {
    if sorted_ts.len() < 4 {
        return Err(BeaconError::TooFewTimestamps);
    }
    let mut intervals: Vec<i64> =
        sorted_ts.windows(2).map(|w| w[1] - w[0]).filter(|&d| d != 0).collect();
    if intervals.len() < 3 {
        return Err(BeaconError::TooFewIntervals);
    }
    intervals.sort_unstable();
    let distinct = distinct_counts(&intervals);
    let (mode, mode_count) = distinct.mode.unwrap_or((0, 0));
    let values: Vec<f64> = intervals.iter().map(|&d| d as f64).collect();
    let s = stat_score(&values, 1.0).ok_or(BeaconError::TooFewIntervals)?;
    Ok(TsScore {
        score: s.score,
        skew: s.skew.skew,
        mad: s.mad.mad,
        mode,
        mode_count,
        distinct: distinct.values.len(),
    })
}

/// The data-size sub-score with its parts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DsScore {
    /// The score.
    pub score: f64,
    /// Bowley skew of the sizes.
    pub skew: f64,
    /// MAD of the sizes, bytes.
    pub mad: f64,
    /// The most common size, bytes.
    pub mode: u64,
    /// How often it occurs.
    pub mode_count: u64,
    /// How many distinct sizes.
    pub distinct: usize,
}

/// RITA's data-size score: the statistical score (MAD default 0) of the sorted per-connection
/// source bytes. Needs 3 sizes; zeros are kept (all zeros score 0.5).
pub fn data_size_score(sorted_sizes: &[u64]) -> Result<DsScore, BeaconError> {
    if sorted_sizes.len() < 3 {
        return Err(BeaconError::TooFewSizes);
    }
    let distinct = distinct_counts(sorted_sizes);
    let (mode, mode_count) = distinct.mode.unwrap_or((0, 0));
    let values: Vec<f64> = sorted_sizes.iter().map(|&b| b as f64).collect();
    let s = stat_score(&values, 0.0).ok_or(BeaconError::TooFewSizes)?;
    Ok(DsScore {
        score: s.score,
        skew: s.skew.skew,
        mad: s.mad.mad,
        mode,
        mode_count,
        distinct: distinct.values.len(),
    })
}

/// `r3(w_ts·ts + w_ds·ds + w_dur·dur + w_hist·hist)`, after checking every sub-score is in
/// [0, 1] and the weights are valid.
pub fn beacon_score(
    ts: f64,
    ds: f64,
    dur: f64,
    hist: f64,
    weights: &BeaconWeights,
) -> Result<f64, BeaconError> {
    for (name, value) in
        [("timestamp", ts), ("datasize", ds), ("duration", dur), ("histogram", hist)]
    {
        if !(0.0..=1.0).contains(&value) {
            return Err(BeaconError::ScoreOutOfRange { name, value });
        }
    }
    weights.validate()?;
    Ok(r3(weights.ts * ts + weights.ds * ds + weights.dur * dur + weights.hist * hist))
}

/// Every part of one pair's beacon analysis.
#[derive(Clone, Debug, PartialEq)]
pub struct BeaconParts {
    /// The weighted score.
    pub score: f64,
    /// Timestamp sub-score.
    pub ts: TsScore,
    /// Data-size sub-score.
    pub ds: DsScore,
    /// Duration sub-score.
    pub dur: DurScore,
    /// Histogram sub-score.
    pub hist: HistScore,
}

/// Scores one pair from its sorted whole-second timestamps and sorted source-byte counts in the
/// window (rows from `window.start` on).
pub fn score_pair(
    sorted_ts: &[i64],
    sorted_sizes: &[u64],
    window: &Window,
    cfg: &BeaconConfig,
) -> Result<BeaconParts, BeaconError> {
    let ts = timestamp_score(sorted_ts)?;
    let ds = data_size_score(sorted_sizes)?;
    let (min, max) = (window.min as f64, window.max as f64);
    let hist = histogram_score(
        min,
        max,
        sorted_ts,
        cfg.histogram_bins,
        cfg.histogram_mode_sensitivity,
        cfg.histogram_bimodal_outlier_removal,
        cfg.histogram_bimodal_min_hours_seen,
    )
    .ok_or(BeaconError::BadWindow)?;
    let (first, last) = (sorted_ts[0] as f64, sorted_ts[sorted_ts.len() - 1] as f64);
    let dur = duration_score(
        min,
        max,
        first,
        last,
        hist.histogram.bars,
        hist.histogram.longest_run,
        cfg.duration_min_hours_seen,
        cfg.duration_consistency_ideal_hours_seen,
    )
    .ok_or(BeaconError::BadWindow)?;
    let score = beacon_score(ts.score, ds.score, dur.score, hist.score, &cfg.weights)?;
    Ok(BeaconParts { score, ts, ds, dur, hist })
}

/// One scored pair, as `crest flows beacons` lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct BeaconScore {
    /// The originator.
    pub src: IpAddr,
    /// The responder.
    pub dst: IpAddr,
    /// The pair's most used destination port and protocol.
    pub port: Option<(u16, Proto)>,
    /// The beacon score.
    pub score: f64,
    /// Timestamp sub-score.
    pub ts: f64,
    /// Data-size sub-score.
    pub ds: f64,
    /// Duration sub-score.
    pub dur: f64,
    /// Histogram sub-score.
    pub hist: f64,
    /// Connections in the window.
    pub conns: u64,
    /// Distinct timestamps (seconds) in the window.
    pub unique_ts: u64,
    /// The bucketed score (0 below the base threshold, then 0.2..0.8).
    pub bucket: f64,
    /// First connection in the window, epoch seconds.
    pub first_ts: i64,
    /// Last connection in the window, epoch seconds.
    pub last_ts: i64,
    /// Source bytes of the window's connections, summed.
    pub bytes: u64,
    /// Bowley skew of the intervals.
    pub ts_skew: f64,
    /// MAD of the intervals, seconds.
    pub ts_mad: f64,
    /// Most common interval, seconds, and its count.
    pub ts_mode: (i64, u64),
    /// Bowley skew of the sizes.
    pub ds_skew: f64,
    /// MAD of the sizes, bytes.
    pub ds_mad: f64,
    /// Most common size, bytes, and its count.
    pub ds_mode: (u64, u64),
    /// Duration coverage.
    pub coverage: f64,
    /// Duration consistency.
    pub consistency: f64,
    /// Histogram CV score.
    pub cv_score: f64,
    /// Histogram bimodal fit.
    pub bimodal_fit: f64,
    /// Non-empty histogram bins.
    pub bars: u32,
    /// Longest run of non-empty bins (wrapping).
    pub longest_run: u32,
    /// Connections per histogram bin.
    pub histogram: Vec<u32>,
}

impl BeaconScore {
    /// The one-line description used in evidence, e.g. `Beacon 10.0.0.1 → 1.2.3.4: score 0.963
    /// (ts 0.852, ds 1.000, dur 1.000, hist 1.000), 331 connections`.
    pub fn describe(&self) -> String {
        format!(
            "Beacon {} → {}: score {:.3} (ts {:.3}, ds {:.3}, dur {:.3}, hist {:.3}), {} connections",
            self.src, self.dst, self.score, self.ts, self.ds, self.dur, self.hist, self.conns
        )
    }
}

#[cfg(test)]
mod tests {
    //! RITA's unit-test expectations (`analysis/beacons_test.go`: inputs and expected values).

    use super::*;

    fn near(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn timestamp_scores() {
        let s = timestamp_score(&(1..=10).collect::<Vec<i64>>()).unwrap();
        assert_eq!(
            (s.score, s.skew, s.mad, s.mode, s.mode_count, s.distinct),
            (1.0, 0.0, 0.0, 1, 9, 1)
        );
        let b = 1517338924;
        let s = timestamp_score(&(0..10).map(|i| b + 60 * i).collect::<Vec<_>>()).unwrap();
        assert_eq!((s.score, s.mode, s.mode_count), (1.0, 60, 9));
        let close = [
            b, 1517339022, 1517339121, 1517339220, 1517339320, 1517339420, 1517339520, 1517339621,
            1517339722, 1517339824,
        ];
        let s = timestamp_score(&close).unwrap();
        assert_eq!(
            (s.score, s.skew, s.mad, s.mode, s.mode_count, s.distinct),
            (0.995, 0.0, 1.0, 100, 3, 5)
        );
        // Alternating 98/300 intervals: Q 98/199/300, skew 0, MAD 101, (1 + 98/199)/2 = 0.746.
        let mut alt = vec![b];
        for i in 0..10 {
            alt.push(alt[i] + if i % 2 == 0 { 98 } else { 300 });
        }
        let s = timestamp_score(&alt).unwrap();
        assert_eq!((s.score, s.skew, s.mad, s.mode, s.mode_count), (0.746, 0.0, 101.0, 98, 5));
        let mut random = [
            1517338924, 1517338925, 1517339224, 1517339249, 1517344224, 1517344314, 1517344316,
            1517344358, 1517344858, 1517346358,
        ];
        random.sort_unstable();
        let s = timestamp_score(&random).unwrap();
        assert_eq!(
            (s.score, r3(s.skew), s.mad, s.mode, s.mode_count, s.distinct),
            (0.083, 0.845, 89.0, 1, 1, 9)
        );
        assert_eq!(timestamp_score(&[60; 9]), Err(BeaconError::TooFewIntervals));
        assert_eq!(timestamp_score(&[b, b + 1]), Err(BeaconError::TooFewTimestamps));
        assert_eq!(timestamp_score(&[]), Err(BeaconError::TooFewTimestamps));
        // Zero gaps are dropped, not counted.
        let s = timestamp_score(&[0, 10, 10, 20, 20, 30]).unwrap();
        assert_eq!((s.score, s.mode_count), (1.0, 3));
    }

    #[test]
    fn data_size_scores() {
        let s = data_size_score(&(1..=10).collect::<Vec<u64>>()).unwrap();
        assert_eq!(
            (s.score, s.skew, s.mad, s.mode, s.mode_count, s.distinct),
            (0.773, 0.0, 2.5, 1, 1, 10)
        );
        let s = data_size_score(&[60; 9]).unwrap();
        assert_eq!((s.score, s.mode, s.mode_count), (1.0, 60, 9));
        let s = data_size_score(&[98, 99, 99, 100, 100, 100, 101, 101, 102]).unwrap();
        assert_eq!((s.score, s.mad, s.mode, s.mode_count), (0.995, 1.0, 100, 3));
        let mut random = [524885, 1, 5000, 98654, 50, 41, 965842, 3];
        random.sort_unstable();
        let s = data_size_score(&random).unwrap();
        assert_eq!((s.score, r3(s.skew), s.mad, s.mode), (0.008, 0.984, 2523.0, 1));
        let s = data_size_score(&[0; 10]).unwrap();
        assert_eq!((s.score, s.mad, s.mode, s.mode_count), (0.5, 0.0, 0, 10));
        assert_eq!(data_size_score(&[100, 200]), Err(BeaconError::TooFewSizes));
        assert_eq!(data_size_score(&[]), Err(BeaconError::TooFewSizes));
    }

    #[test]
    fn weighted_scores() {
        // RITA TestGetBeaconScore.
        let w = |ts, ds, dur, hist| BeaconWeights { ts, ds, dur, hist };
        let ok = [
            ((0.8, 0.7, 0.6, 0.5), w(0.2, 0.2, 0.3, 0.3), 0.63),
            ((1.0, 1.0, 1.0, 1.0), w(0.25, 0.25, 0.25, 0.25), 1.0),
            ((1.0, 1.0, 1.0, 1.0), w(0.1, 0.2, 0.3, 0.4), 1.0),
            ((0.1, 0.2, 0.3, 0.4), w(0.25, 0.25, 0.25, 0.25), 0.25),
            ((0.1, 0.2, 0.3, 0.4), w(0.1, 0.2, 0.3, 0.4), 0.3),
            ((0.111, 0.222, 0.333, 0.444), w(0.173, 0.325, 0.299, 0.203), 0.281),
            ((0.1001, 0.1002, 0.1003, 0.1004), w(0.249, 0.251, 0.250, 0.250), 0.10025),
            ((0.25, 1.0, 1.0, 1.0), w(1.0, 0.0, 0.0, 0.0), 0.25),
        ];
        for ((ts, ds, dur, hist), weights, expected) in ok {
            let s = beacon_score(ts, ds, dur, hist, &weights).unwrap();
            assert!(near(s, expected, 0.001), "{s} vs {expected}");
        }
        let bad = [
            ((-0.1, 0.5, 0.5, 0.5), w(0.25, 0.25, 0.25, 0.25)),
            ((1.1, 0.5, 0.5, 0.5), w(0.25, 0.25, 0.25, 0.25)),
            ((0.5, 0.5, 0.5, 0.5), w(-0.1, 0.25, 0.25, 0.25)),
            ((0.5, 0.5, 0.5, 0.5), w(1.1, 0.25, 0.25, 0.25)),
            ((0.5, 0.5, 0.5, 0.5), w(0.3, 0.3, 0.3, 0.3)),
            ((0.5, 0.5, 0.5, 0.5), w(0.3, 0.3, 0.2, 0.1)),
            ((0.5, 0.5, 0.5, 0.5), w(0.3, 0.3, 0.3, 0.2)),
            ((f64::NAN, 0.5, 0.5, 0.5), w(0.25, 0.25, 0.25, 0.25)),
        ];
        for ((ts, ds, dur, hist), weights) in bad {
            assert!(beacon_score(ts, ds, dur, hist, &weights).is_err(), "{ts} {weights:?}");
        }
    }

    #[test]
    fn window_starts_on_the_hour() {
        // RITA's missing-host integration test: max 1713743991, min = max − 24 h.
        let w = Window::of_dataset(1713470872, 1713743991, 86_400);
        assert_eq!((w.min, w.max, w.start), (1713657591, 1713743991, 1713654000));
        let w = Window::of_dataset(1713700000, 1713743991, 86_400);
        assert_eq!((w.min, w.start), (1713700000, 1713697200));
    }

    #[test]
    fn a_perfect_beacon_scores_one() {
        let day = 86_400;
        let ts: Vec<i64> = (0..288).map(|i| 1_700_000_000 + i * 300).collect();
        let w = Window::of_dataset(ts[0], ts[0] + day, day);
        let p = score_pair(&ts, &[512; 288], &w, &BeaconConfig::default()).unwrap();
        assert_eq!(
            (p.ts.score, p.ds.score, p.dur.score, p.hist.score, p.score),
            (1.0, 1.0, 1.0, 1.0, 1.0)
        );
        assert_eq!(p.hist.histogram.freq, vec![12; 24]);
    }
}
