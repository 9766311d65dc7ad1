//! The registry of methods: a name per detector, one parameter set the CLI can fill, and an
//! enum over all detectors so that any of them can be built by name and checkpointed.

use serde::{Deserialize, Serialize};

use super::{
    CvDetector, Detector, EnsembleDetector, HwDetector, MadDetector, Scored, SeasonalDetector,
    StdevDetector, TimeShiftDetector,
};
use crate::graphite::season_length;

/// A detection method, by its CLI name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Graphite's Holt-Winters band and aberration, exact.
    Hw,
    /// Graphite's moving standard deviation.
    Stdev,
    /// Coefficient of variation over a window.
    Cv,
    /// Relative change against one shift ago.
    Timeshift,
    /// Rolling median / MAD robust z-score.
    Mad,
    /// Hour-of-day and hour-of-week baseline.
    Seasonal,
    /// The members combined into one calibrated score (the default).
    #[default]
    Ensemble,
}

impl Method {
    /// Every method, in the order of the docs.
    pub const ALL: [Method; 7] = [
        Method::Hw,
        Method::Stdev,
        Method::Cv,
        Method::Timeshift,
        Method::Mad,
        Method::Seasonal,
        Method::Ensemble,
    ];

    /// The CLI name.
    pub fn name(self) -> &'static str {
        match self {
            Method::Hw => "hw",
            Method::Stdev => "stdev",
            Method::Cv => "cv",
            Method::Timeshift => "timeshift",
            Method::Mad => "mad",
            Method::Seasonal => "seasonal",
            Method::Ensemble => "ensemble",
        }
    }

    /// The method with this CLI name.
    pub fn parse(name: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.name() == name)
    }

    /// One line on what the method watches.
    pub fn describe(self) -> &'static str {
        match self {
            Method::Hw => "Graphite's Holt-Winters forecast, confidence band and aberration",
            Method::Stdev => "distance from the previous window, in Graphite's moving stdevs",
            Method::Cv => "coefficient of variation (stdev / mean) rising above its usual level",
            Method::Timeshift => "relative change |x - x(t - shift)| / x above its usual size",
            Method::Mad => "robust z-score against the median / MAD of the previous window",
            Method::Seasonal => "robust z-score against hour-of-day and hour-of-week profiles",
            Method::Ensemble => "seasonal, mad and hw combined into one calibrated score",
        }
    }

    /// The figure names the method reports, in order.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Method::Hw => super::hw::COLUMNS,
            Method::Stdev => super::stdev::COLUMNS,
            Method::Cv => super::cv::COLUMNS,
            Method::Timeshift => super::timeshift::COLUMNS,
            Method::Mad => super::mad::COLUMNS,
            Method::Seasonal => super::seasonal::COLUMNS,
            Method::Ensemble => super::ensemble::COLUMNS,
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Method {
    type Err = ParamError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Method::parse(s).ok_or_else(|| ParamError::UnknownMethod(s.to_string()))
    }
}

/// The parameters of every method in one place; each method reads the fields it needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MethodParams {
    /// Season length in seconds (`hw`, `ensemble`); Graphite's default 1 day.
    pub season_s: i64,
    /// Band half-width: Graphite's `delta` for `hw` (default 3), σ for `seasonal` and the
    /// ensemble's plotted band.
    pub delta: f64,
    /// Window in points (`stdev`, `cv`, `mad`, `ensemble`); default 60.
    pub window: usize,
    /// Graphite's `windowTolerance` (`stdev`, `cv`): least share of valid points; default 0.1.
    pub window_tolerance: f64,
    /// Shift in seconds (`timeshift`); default 1 day.
    pub shift_s: i64,
    /// Seconds without a score at the start; `None` is the method's own: one season (`hw`),
    /// one window (`stdev`, `cv`, `mad`), one shift (`timeshift`), 2 days (`seasonal`,
    /// `ensemble`).
    pub warmup_s: Option<i64>,
}

impl Default for MethodParams {
    fn default() -> Self {
        MethodParams {
            season_s: 86_400,
            delta: 3.0,
            window: 60,
            window_tolerance: 0.1,
            shift_s: 86_400,
            warmup_s: None,
        }
    }
}

/// Why a detector could not be built.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ParamError {
    /// No method has this name.
    #[error(
        "unknown method '{0}' (expected one of hw, stdev, cv, timeshift, mad, seasonal, ensemble)"
    )]
    UnknownMethod(String),
    /// A parameter is out of its range.
    #[error("{name} must be {rule}, got {value}")]
    OutOfRange {
        /// The parameter's field name.
        name: &'static str,
        /// The rule it breaks, e.g. "at least 1".
        rule: &'static str,
        /// The value given.
        value: String,
    },
}

fn out_of_range(name: &'static str, rule: &'static str, value: impl ToString) -> ParamError {
    ParamError::OutOfRange { name, rule, value: value.to_string() }
}

impl MethodParams {
    /// Checks the ranges every method relies on.
    pub fn validate(&self, step_s: i64) -> Result<(), ParamError> {
        if step_s < 1 {
            return Err(out_of_range("step", "at least 1 second", step_s));
        }
        if self.season_s < 1 {
            return Err(out_of_range("season_s", "at least 1 second", self.season_s));
        }
        if !(self.delta.is_finite() && self.delta >= 0.0) {
            return Err(out_of_range("delta", "finite and at least 0", self.delta));
        }
        if !(1..=1_000_000).contains(&self.window) {
            return Err(out_of_range("window", "between 1 and 1000000 points", self.window));
        }
        if !(0.0..=1.0).contains(&self.window_tolerance) {
            return Err(out_of_range("window_tolerance", "between 0 and 1", self.window_tolerance));
        }
        if self.shift_s < step_s {
            return Err(out_of_range("shift_s", "at least one step", self.shift_s));
        }
        if self.shift_s / step_s > 10_000_000 {
            return Err(out_of_range("shift_s", "at most 10 million steps", self.shift_s));
        }
        if season_length(self.season_s, step_s) > 10_000_000 {
            return Err(out_of_range("season_s", "at most 10 million steps", self.season_s));
        }
        if let Some(w) = self.warmup_s.filter(|w| *w < 0) {
            return Err(out_of_range("warmup_s", "at least 0", w));
        }
        Ok(())
    }

    /// The warm-up in points for a default of `default_points`.
    fn warmup_points(&self, step_s: i64, default_points: u64) -> u64 {
        self.warmup_s.map_or(default_points, |w| w.div_euclid(step_s).max(0) as u64)
    }
}

/// Any detector, built by [`Method`]; serialise it to checkpoint it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnyDetector {
    /// See [`HwDetector`].
    Hw(HwDetector),
    /// See [`StdevDetector`].
    Stdev(StdevDetector),
    /// See [`CvDetector`].
    Cv(CvDetector),
    /// See [`TimeShiftDetector`].
    Timeshift(TimeShiftDetector),
    /// See [`MadDetector`].
    Mad(MadDetector),
    /// See [`SeasonalDetector`].
    Seasonal(SeasonalDetector),
    /// See [`EnsembleDetector`].
    Ensemble(Box<EnsembleDetector>),
}

impl AnyDetector {
    /// Builds the detector of `method` for a series with `step_s` seconds per slot.
    pub fn new(method: Method, params: &MethodParams, step_s: i64) -> Result<Self, ParamError> {
        params.validate(step_s)?;
        let p = params;
        let season = season_length(p.season_s, step_s);
        let window = p.window as u64;
        let two_days = (2 * 86_400 / step_s) as u64;
        Ok(match method {
            Method::Hw => AnyDetector::Hw(HwDetector::new(
                season,
                p.delta,
                p.warmup_points(step_s, season as u64),
            )),
            Method::Stdev => AnyDetector::Stdev(StdevDetector::new(
                p.window,
                p.window_tolerance,
                p.warmup_points(step_s, window),
            )),
            Method::Cv => AnyDetector::Cv(CvDetector::new(
                p.window,
                p.window_tolerance,
                p.warmup_points(step_s, window),
            )),
            Method::Timeshift => {
                let shift = (p.shift_s / step_s) as usize;
                AnyDetector::Timeshift(TimeShiftDetector::new(
                    shift,
                    p.warmup_points(step_s, shift as u64),
                ))
            }
            Method::Mad => {
                AnyDetector::Mad(MadDetector::new(p.window, p.warmup_points(step_s, window)))
            }
            Method::Seasonal => AnyDetector::Seasonal(SeasonalDetector::new(
                step_s,
                p.delta,
                p.warmup_s.unwrap_or(2 * 86_400),
            )),
            Method::Ensemble => AnyDetector::Ensemble(Box::new(EnsembleDetector::new(
                step_s,
                season,
                p.window,
                p.delta,
                p.warmup_points(step_s, two_days),
            ))),
        })
    }

    /// The method of this detector.
    pub fn method(&self) -> Method {
        match self {
            AnyDetector::Hw(_) => Method::Hw,
            AnyDetector::Stdev(_) => Method::Stdev,
            AnyDetector::Cv(_) => Method::Cv,
            AnyDetector::Timeshift(_) => Method::Timeshift,
            AnyDetector::Mad(_) => Method::Mad,
            AnyDetector::Seasonal(_) => Method::Seasonal,
            AnyDetector::Ensemble(_) => Method::Ensemble,
        }
    }
}

impl Detector for AnyDetector {
    fn columns(&self) -> &'static [&'static str] {
        match self {
            AnyDetector::Hw(d) => d.columns(),
            AnyDetector::Stdev(d) => d.columns(),
            AnyDetector::Cv(d) => d.columns(),
            AnyDetector::Timeshift(d) => d.columns(),
            AnyDetector::Mad(d) => d.columns(),
            AnyDetector::Seasonal(d) => d.columns(),
            AnyDetector::Ensemble(d) => d.columns(),
        }
    }

    #[inline]
    fn push(&mut self, time: i64, value: Option<f64>) -> Scored {
        match self {
            AnyDetector::Hw(d) => d.push(time, value),
            AnyDetector::Stdev(d) => d.push(time, value),
            AnyDetector::Cv(d) => d.push(time, value),
            AnyDetector::Timeshift(d) => d.push(time, value),
            AnyDetector::Mad(d) => d.push(time, value),
            AnyDetector::Seasonal(d) => d.push(time, value),
            AnyDetector::Ensemble(d) => d.push(time, value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_columns_fit() {
        for m in Method::ALL {
            assert_eq!(Method::parse(m.name()), Some(m));
            assert_eq!(m.name().parse::<Method>(), Ok(m));
            let cols = m.columns();
            assert!(!cols.is_empty() && cols.len() <= super::super::MAX_FIGURES, "{m}");
        }
        assert!("nope".parse::<Method>().is_err());
        assert_eq!(Method::default(), Method::Ensemble);
    }

    #[test]
    fn bad_params_are_rejected_with_the_rule() {
        let p = MethodParams { window: 0, ..MethodParams::default() };
        let err = AnyDetector::new(Method::Mad, &p, 60).unwrap_err();
        assert_eq!(err.to_string(), "window must be between 1 and 1000000 points, got 0");
        assert!(AnyDetector::new(Method::Hw, &MethodParams::default(), 0).is_err());
    }
}
