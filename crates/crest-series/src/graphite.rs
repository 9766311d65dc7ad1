//! Graphite's series functions, computed exactly as graphite-web computes them.
//!
//! Dashboards and Seyren checks built on Graphite alert on these numbers, so crest reproduces
//! them bit for bit (tested against outputs of graphite-web's own code): the Holt-Winters
//! family with its hard-coded constants, bootstrap and `None` quirks; the moving standard
//! deviation with its running sums; `timeShift`, `summarize`, `divideSeries` and the two
//! heuristics built from them. Everything is plain IEEE arithmetic in Graphite's order.

use serde::{Deserialize, Serialize};

use crate::series::Series;

/// Holt-Winters level smoothing (hard-coded in Graphite).
pub const HW_ALPHA: f64 = 0.1;
/// Holt-Winters trend smoothing (hard-coded in Graphite).
pub const HW_BETA: f64 = 0.0035;
/// Holt-Winters seasonal and deviation smoothing (hard-coded in Graphite).
pub const HW_GAMMA: f64 = 0.1;

/// Graphite's season length in points: `seasonality // step`, at least 2.
pub fn season_length(seasonality_s: i64, step_s: i64) -> usize {
    (seasonality_s.div_euclid(step_s.max(1))).max(2) as usize
}

/// One step of Holt-Winters: what Graphite's `holtWintersAnalysis` records for a slot.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HwPoint {
    /// The one-step-ahead forecast made for this slot (`None` right after a gap).
    pub prediction: Option<f64>,
    /// The Brutlag deviation after this slot (0 at a missing slot).
    pub deviation: f64,
    /// The level after this slot (`None` at a missing slot).
    pub intercept: Option<f64>,
    /// The trend after this slot (0 at a missing slot).
    pub slope: f64,
    /// The seasonal component after this slot (0 at a missing slot).
    pub seasonal: f64,
}

/// Graphite's additive Holt-Winters with Brutlag deviation, one point at a time.
///
/// The state is what the next point needs: the last season of seasonal components and
/// deviations (ring buffers), the level, the trend and the pending forecast. Feeding a
/// series point by point gives exactly Graphite's `holtWintersAnalysis` over it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HoltWinters {
    seasonals: Vec<f64>,
    deviations: Vec<f64>,
    index: u64,
    level: Option<f64>,
    trend: f64,
    next_prediction: Option<f64>,
}

impl HoltWinters {
    /// A model with a season of `season` points (at least 2).
    pub fn new(season: usize) -> Self {
        let season = season.max(2);
        HoltWinters {
            seasonals: vec![0.0; season],
            deviations: vec![0.0; season],
            index: 0,
            level: None,
            trend: 0.0,
            next_prediction: None,
        }
    }

    /// The season length in points.
    pub fn season(&self) -> usize {
        self.seasonals.len()
    }

    /// Points seen so far.
    pub fn seen(&self) -> u64 {
        self.index
    }

    /// The deviation recorded one season before the next slot (0 during the first season):
    /// the band width the next point will be judged by, before its own error is mixed in.
    pub fn next_seasonal_deviation(&self) -> f64 {
        self.deviations[(self.index % self.season() as u64) as usize]
    }

    /// The forecast for the next slot, if there is one.
    pub fn next_prediction(&self) -> Option<f64> {
        self.next_prediction
    }

    /// Feeds the value of the next slot (`None` for a missing value).
    #[inline]
    pub fn push(&mut self, value: Option<f64>) -> HwPoint {
        let season = self.season() as u64;
        let slot = (self.index % season) as usize;
        let next_slot = ((self.index + 1) % season) as usize;
        let Some(x) = value else {
            let point = HwPoint {
                prediction: self.next_prediction,
                deviation: 0.0,
                intercept: None,
                slope: 0.0,
                seasonal: 0.0,
            };
            self.seasonals[slot] = 0.0;
            self.deviations[slot] = 0.0;
            self.level = None;
            self.trend = 0.0;
            self.next_prediction = None;
            self.index += 1;
            return point;
        };
        let (last_intercept, last_slope, prediction) = if self.index == 0 {
            (x, 0.0, Some(x))
        } else {
            (self.level.unwrap_or(x), self.trend, self.next_prediction)
        };
        // Before this slot is written, the rings hold the values of one season ago (or 0).
        let last_seasonal = self.seasonals[slot];
        let last_seasonal_dev = self.deviations[slot];
        let next_last_seasonal = self.seasonals[next_slot];

        let intercept =
            HW_ALPHA * (x - last_seasonal) + (1.0 - HW_ALPHA) * (last_intercept + last_slope);
        let slope = HW_BETA * (intercept - last_intercept) + (1.0 - HW_BETA) * last_slope;
        let seasonal = HW_GAMMA * (x - intercept) + (1.0 - HW_GAMMA) * last_seasonal;
        let next_prediction = intercept + slope + next_last_seasonal;
        // A missing forecast counts as 0 (Graphite's quirk after a gap).
        let error = x - prediction.unwrap_or(0.0);
        let deviation = HW_GAMMA * error.abs() + (1.0 - HW_GAMMA) * last_seasonal_dev;

        self.seasonals[slot] = seasonal;
        self.deviations[slot] = deviation;
        self.level = Some(intercept);
        self.trend = slope;
        self.next_prediction = Some(next_prediction);
        self.index += 1;
        HwPoint { prediction, deviation, intercept: Some(intercept), slope, seasonal }
    }
}

/// Graphite's `holtWintersAnalysis` over a whole series.
pub fn holt_winters_analysis(values: &[Option<f64>], season: usize) -> Vec<HwPoint> {
    let mut hw = HoltWinters::new(season);
    values.iter().map(|&v| hw.push(v)).collect()
}

/// The result of a bootstrapped Holt-Winters run, on the requested window's grid.
#[derive(Clone, Debug, PartialEq)]
pub struct HwBands {
    /// `holtWintersForecast`.
    pub forecast: Vec<Option<f64>>,
    /// The deviation behind the bands.
    pub deviation: Vec<Option<f64>>,
    /// `holtWintersConfidenceLower` (`None` where forecast or deviation is).
    pub lower: Vec<Option<f64>>,
    /// `holtWintersConfidenceUpper`.
    pub upper: Vec<Option<f64>>,
    /// `holtWintersAberration` against the window's own values.
    pub aberration: Vec<f64>,
}

/// The four `holtWinters*` functions at once, as Graphite computes them for a window.
///
/// `extended` is the series re-fetched over `[window start − bootstrap, end)` (Graphite's
/// bootstrap); the model runs over all of it and the first `bootstrap // step` points are
/// dropped. `window` holds the window's own values, which aberration compares with the
/// bands (by position, as Graphite does). `delta` widens the bands (Graphite's default 3).
pub fn holt_winters_bands(
    extended: &Series,
    window: &[Option<f64>],
    bootstrap_s: i64,
    season: usize,
    delta: f64,
) -> HwBands {
    let skip = (bootstrap_s.div_euclid(extended.step.max(1))).max(0) as usize;
    let analysis = holt_winters_analysis(&extended.values, season);
    let visible = analysis.get(skip..).unwrap_or(&[]);
    let forecast: Vec<Option<f64>> = visible.iter().map(|p| p.prediction).collect();
    let deviation: Vec<Option<f64>> = visible.iter().map(|p| Some(p.deviation)).collect();
    let band = |sign: f64| -> Vec<Option<f64>> {
        visible
            .iter()
            .map(|p| {
                p.prediction.map(|f| {
                    if sign > 0.0 { f + delta * p.deviation } else { f - delta * p.deviation }
                })
            })
            .collect()
    };
    let lower = band(-1.0);
    let upper = band(1.0);
    let aberration = window
        .iter()
        .enumerate()
        .map(|(i, v)| {
            aberration_at(*v, lower.get(i).copied().flatten(), upper.get(i).copied().flatten())
        })
        .collect();
    HwBands { forecast, deviation, lower, upper, aberration }
}

/// Graphite's aberration of one value against its band: the distance outside, signed.
#[inline]
pub fn aberration_at(value: Option<f64>, lower: Option<f64>, upper: Option<f64>) -> f64 {
    match value {
        None => 0.0,
        Some(v) => match (lower, upper) {
            (_, Some(u)) if v > u => v - u,
            (Some(l), _) if v < l => v - l,
            _ => 0.0,
        },
    }
}

/// Graphite's moving standard deviation, one point at a time: running sums over the last
/// `points` slots (the dropped value subtracted, then the new one added), population
/// deviation, `None` when fewer than `window_tolerance` of the slots have values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GraphiteStdev {
    points: usize,
    window_tolerance: f64,
    window: Vec<Option<f64>>,
    index: u64,
    sum: f64,
    sum_sq: f64,
    count: u64,
}

impl GraphiteStdev {
    /// A moving standard deviation over `points` slots (at least 1).
    pub fn new(points: usize, window_tolerance: f64) -> Self {
        let points = points.max(1);
        GraphiteStdev {
            points,
            window_tolerance,
            window: vec![None; points],
            index: 0,
            sum: 0.0,
            sum_sq: 0.0,
            count: 0,
        }
    }

    /// The window length in points.
    pub fn points(&self) -> usize {
        self.points
    }

    /// Feeds the next slot; returns the deviation over the window ending at it.
    #[inline]
    pub fn push(&mut self, value: Option<f64>) -> Option<f64> {
        let slot = (self.index % self.points as u64) as usize;
        if self.index >= self.points as u64
            && let Some(old) = self.window[slot]
        {
            self.sum -= old;
            self.sum_sq -= py_square(old);
            self.count -= 1;
        }
        if let Some(x) = value {
            self.sum += x;
            self.sum_sq += py_square(x);
            self.count += 1;
        }
        self.window[slot] = value;
        self.index += 1;
        self.current()
    }

    /// The deviation over the current window.
    pub fn current(&self) -> Option<f64> {
        if self.count == 0 || (self.count as f64 / self.points as f64) < self.window_tolerance {
            return None;
        }
        let n = self.count as f64;
        let variance_n2 = n * self.sum_sq - py_square(self.sum);
        if variance_n2 < 0.0 { None } else { Some(variance_n2.sqrt() / n) }
    }

    /// The mean of the values in the current window (`None` when it has none).
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }
}

/// Python's `x**2`: the C library's `pow(x, 2)`, which (in glibc) is not always the correctly
/// rounded `x * x`; the running sums drift by those last bits, and so does Graphite.
#[inline]
fn py_square(x: f64) -> f64 {
    // An opaque exponent keeps the compiler from turning the call into `x * x`.
    x.powf(std::hint::black_box(2.0))
}

/// Graphite's `stdev(series, points, windowTolerance)` over a whole series.
pub fn stdev(values: &[Option<f64>], points: usize, window_tolerance: f64) -> Vec<Option<f64>> {
    let mut s = GraphiteStdev::new(points, window_tolerance);
    values.iter().map(|&v| s.push(v)).collect()
}

/// Graphite's `movingAverage(series, points)`: the mean of the non-missing values among the
/// last `points` slots, including the current one; `extended` starts `points` slots before
/// the window (Graphite's bootstrap) and the result covers the window.
pub fn moving_average(extended: &[Option<f64>], points: usize) -> Vec<Option<f64>> {
    let points = points.max(1);
    let mut out = Vec::with_capacity(extended.len().saturating_sub(points));
    for i in points..extended.len() {
        let window = &extended[i + 1 - points..=i];
        let values: Vec<f64> = window.iter().flatten().copied().collect();
        out.push((!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64));
    }
    out
}

/// Graphite's `timeShift(series, shift)` for a grid: the value at slot `i` is the value
/// observed `shift_points` slots earlier (positive shifts look into the past).
pub fn time_shift(values: &[Option<f64>], shift_points: usize) -> Vec<Option<f64>> {
    (0..values.len()).map(|i| i.checked_sub(shift_points).and_then(|j| values[j])).collect()
}

/// Graphite's `diffSeries(a, b)` for two aligned series: the first non-missing value minus
/// the other, so a missing `a` gives `b` itself and a missing `b` gives `a`.
pub fn diff_series(a: &[Option<f64>], b: &[Option<f64>]) -> Vec<Option<f64>> {
    let n = a.len().max(b.len());
    (0..n)
        .map(|i| match (a.get(i).copied().flatten(), b.get(i).copied().flatten()) {
            (Some(x), Some(y)) => Some(x - y),
            (Some(x), None) => Some(x),
            (None, Some(y)) => Some(y),
            (None, None) => None,
        })
        .collect()
}

/// The aggregation functions of Graphite's `summarize`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SummarizeFn {
    /// Sum (Python's left-to-right `sum`).
    Sum,
    /// Mean.
    Avg,
    /// Minimum.
    Min,
    /// Maximum.
    Max,
    /// Number of values.
    Count,
    /// Last value.
    Last,
}

impl SummarizeFn {
    /// Parses Graphite's names (`sum`, `avg`/`average`, `min`, `max`, `count`, `last`/`current`).
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "sum" | "total" => SummarizeFn::Sum,
            "avg" | "average" => SummarizeFn::Avg,
            "min" => SummarizeFn::Min,
            "max" => SummarizeFn::Max,
            "count" => SummarizeFn::Count,
            "last" | "current" => SummarizeFn::Last,
            _ => return None,
        })
    }

    fn apply(self, values: &[f64]) -> f64 {
        match self {
            SummarizeFn::Sum => values.iter().fold(0.0, |a, v| a + v),
            SummarizeFn::Avg => values.iter().fold(0.0, |a, v| a + v) / values.len() as f64,
            SummarizeFn::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
            SummarizeFn::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            SummarizeFn::Count => values.len() as f64,
            SummarizeFn::Last => *values.last().expect("non-empty"),
        }
    }
}

/// Graphite's `summarize(series, interval, func, alignToFrom)`: re-buckets into `interval`
/// seconds, buckets aligned to the epoch (or to the series start), `None` for empty buckets.
pub fn summarize(
    series: &Series,
    interval_s: i64,
    func: SummarizeFn,
    align_to_from: bool,
) -> Series {
    let interval = interval_s.max(1);
    let end = series.end();
    let (new_start, new_end) = if align_to_from {
        let span = end - series.start;
        let buckets = span.div_euclid(interval) + i64::from(span.rem_euclid(interval) != 0);
        (series.start, series.start + buckets * interval)
    } else {
        (
            series.start - series.start.rem_euclid(interval),
            end - end.rem_euclid(interval) + interval,
        )
    };
    let n = ((new_end - new_start) / interval).max(0) as usize;
    let mut buckets: Vec<Vec<f64>> = vec![Vec::new(); n];
    for (i, v) in series.values.iter().enumerate() {
        let Some(v) = v else { continue };
        let t = series.start + i as i64 * series.step;
        let b = ((t - new_start).div_euclid(interval)) as usize;
        if let Some(bucket) = buckets.get_mut(b) {
            bucket.push(*v);
        }
    }
    let values = buckets.iter().map(|b| (!b.is_empty()).then(|| func.apply(b))).collect();
    Series { start: new_start, step: interval, values }
}

/// Graphite's `divideSeries(a, b)` for two series on the same grid: `a / b`, `None` where
/// either is missing or the divisor is 0.
pub fn divide_series(a: &[Option<f64>], b: &[Option<f64>]) -> Vec<Option<f64>> {
    let n = a.len().max(b.len());
    (0..n)
        .map(|i| match (a.get(i).copied().flatten(), b.get(i).copied().flatten()) {
            (Some(x), Some(y)) if y != 0.0 => Some(x / y),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_points_match_the_golden_analysis() {
        // Rows 0 and 1 of a_daily_60s.holtWintersAnalysis.csv.
        let mut hw = HoltWinters::new(1440);
        let p0 = hw.push(Some(70.165));
        assert_eq!(
            (p0.prediction, p0.deviation, p0.intercept, p0.slope, p0.seasonal),
            (Some(70.165), 0.0, Some(70.165), 0.0, 0.0)
        );
        let p1 = hw.push(Some(68.445));
        assert_eq!(p1.prediction, Some(70.165));
        assert_eq!(p1.deviation, 0.17200000000000132);
        assert_eq!(p1.intercept, Some(69.99300000000001));
        assert_eq!(p1.slope, -0.0006019999999999897);
        assert_eq!(p1.seasonal, -0.1548000000000016);
    }

    #[test]
    fn graphite_unit_test_stdev() {
        // test_functions.py: stdev([0..9], 2) → [0.0, 0.5, 0.5, …]
        let values: Vec<Option<f64>> = (0..10).map(|i| Some(i as f64)).collect();
        let out = stdev(&values, 2, 0.1);
        assert_eq!(out[0], Some(0.0));
        assert!(out[1..].iter().all(|v| *v == Some(0.5)));
    }

    #[test]
    fn diff_series_keeps_the_present_side() {
        assert_eq!(
            diff_series(&[Some(5.0), None, Some(2.0), None], &[Some(1.0), Some(3.0), None, None]),
            [Some(4.0), Some(3.0), Some(2.0), None]
        );
    }
}
