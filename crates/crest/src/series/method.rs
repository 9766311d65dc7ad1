//! The detector flags `score`, `check` and `plot` share, and the detector they build.

use clap::Args;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use crest_series::detect::{AnyDetector, Method, MethodParams};
use crest_series::extract::Step;

use super::input::ReadSpec;
use crate::Failure;

/// The detector and how to read its input.
#[derive(Debug, Args)]
pub(crate) struct DetectorArgs {
    /// The detector.
    #[arg(short = 'm', long = "method", default_value = "ensemble", value_parser = method_parser())]
    pub(crate) method: Method,

    /// Season length of hw (Graphite's `seasonality`), as a duration: 1d, 7d, 12h.
    #[arg(long = "season", value_name = "DURATION", default_value = "1d")]
    pub(crate) season: String,

    /// Band width of hw in deviations (Graphite's `delta`).
    #[arg(long = "delta", value_name = "N", default_value_t = 3.0)]
    pub(crate) delta: f64,

    /// Window of stdev, cv and mad, in points.
    #[arg(long = "window", value_name = "POINTS", default_value_t = 60)]
    pub(crate) window: usize,

    /// Least fraction of a stdev window that must have values (Graphite's `windowTolerance`).
    #[arg(long = "window-tolerance", value_name = "FRACTION", default_value_t = 0.1)]
    pub(crate) window_tolerance: f64,

    /// How far back timeshift compares, as a duration (Graphite's `timeShift`).
    #[arg(long = "shift", value_name = "DURATION", default_value = "1d")]
    pub(crate) shift: String,

    /// No score for this long at the start, as a duration (default: the method's own, e.g.
    /// one season for hw).
    #[arg(long = "warmup", value_name = "DURATION")]
    pub(crate) warmup: Option<String>,

    /// The grid step, as a duration (60s, 5min, 1h); inferred from the rows when not given.
    #[arg(long = "step", value_name = "DURATION")]
    pub(crate) step: Option<String>,

    /// Skip unreadable, duplicate and out-of-order rows (counted) instead of stopping.
    #[arg(long = "skip-invalid")]
    pub(crate) skip_invalid: bool,
}

impl DetectorArgs {
    /// How to read the input.
    pub(crate) fn read_spec(&self) -> Result<ReadSpec, Failure> {
        let step = match &self.step {
            Some(s) => Some(positive_duration("--step", s)?),
            None => None,
        };
        Ok(ReadSpec { step, skip_invalid: self.skip_invalid })
    }

    /// The detector's parameters (their ranges are checked when the detector is built).
    pub(crate) fn params(&self) -> Result<MethodParams, Failure> {
        Ok(MethodParams {
            season_s: positive_duration("--season", &self.season)?,
            delta: self.delta,
            window: self.window,
            window_tolerance: self.window_tolerance,
            shift_s: positive_duration("--shift", &self.shift)?,
            warmup_s: match &self.warmup {
                Some(w) if w.trim() == "0" => Some(0),
                Some(w) => Some(positive_duration("--warmup", w)?),
                None => None,
            },
        })
    }

    /// A fresh detector for a series with this step.
    pub(crate) fn build(&self, step_s: i64) -> Result<AnyDetector, String> {
        let params = self.params().map_err(|f| match f {
            Failure::Usage(m) => m,
            Failure::Run(e) => format!("{e:#}"),
        })?;
        AnyDetector::new(self.method, &params, step_s).map_err(|e| e.to_string())
    }

    /// The settings a checkpoint must have been made with to be resumed.
    pub(crate) fn settings_text(&self) -> String {
        format!(
            "method={} season={} delta={} window={} window-tolerance={} shift={} warmup={}",
            self.method,
            self.season,
            self.delta,
            self.window,
            self.window_tolerance,
            self.shift,
            self.warmup.as_deref().unwrap_or("default")
        )
    }
}

/// Parses a positive duration flag as `--step` reads one (`m` is minutes: `--step 1m`).
pub(crate) fn positive_duration(flag: &str, text: &str) -> Result<i64, Failure> {
    Step::parse(text).map(Step::seconds).map_err(|e| Failure::Usage(format!("{flag}: {e}")))
}

/// `--method`: the names of [`Method::ALL`], with their descriptions in `--help`.
fn method_parser() -> impl TypedValueParser<Value = Method> {
    PossibleValuesParser::new(Method::ALL.map(|m| PossibleValue::new(m.name()).help(m.describe())))
        .map(|name| Method::parse(&name).expect("one of the possible values"))
}
