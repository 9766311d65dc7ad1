//! `ensemble`: the members combined into one calibrated score (crest's default).
//!
//! Members and what each brings:
//! * `seasonal` — the baseline: it knows the daily and weekly shape, so its residual
//!   `x − baseline`, in its per-hour σ, is what is left to explain;
//! * `mad` — run on that residual, it judges it against the *local* noise of the last
//!   `window` points (a noisy afternoon is not an anomaly; in a quiet night a small jump is);
//! * `hw` — Graphite's Holt-Winters model, a second, fast-adapting forecast: its error in
//!   units of the per-phase deviation. It counts only where it agrees in sign with the
//!   seasonal residual and never for more than it (its slow, gap-echoing band must not raise
//!   alerts on its own).
//!
//! Calibration: every member's statistic is a z in σ units of its own noise model (seasonal
//! per-hour σ, 1.4826·MAD, 1.2533·Brutlag deviation), so they are on one scale without
//! further fitting. (Re-calibrating each online by its recent typical magnitude was tried
//! on the tuning seeds and lost: long anomalies teach the calibration and hide themselves.)
//! Combination: the mean of the two largest |z|, so two members must agree for a strong
//! score (one member's noise is not enough) while any two can carry it; then the common map
//! [`z_score`](super::z_score). No score during the warm-up (default 2 days).
//! Figures: the seasonal baseline and its band (for plotting) and each member's z.

use serde::{Deserialize, Serialize};

use super::util::{MEAN_AD_TO_SIGMA, clean, unit, z_score};
use super::{Detector, MAX_FIGURES, MadDetector, Scored, SeasonalDetector};
use crate::graphite::HoltWinters;

pub(super) const COLUMNS: &[&str] =
    &["baseline", "lower", "upper", "seasonal_z", "local_z", "hw_z"];

/// Seasonal, MAD and Holt-Winters members combined into one calibrated score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnsembleDetector {
    seasonal: SeasonalDetector,
    mad: MadDetector,
    hw: HoltWinters,
    seen: u64,
    warmup: u64,
}

impl EnsembleDetector {
    /// An ensemble for `step_s` seconds per slot, a Holt-Winters season of `season` points, a
    /// MAD window of `window` points, a plotted band of `±delta·σ`, and no score for the first
    /// `warmup` points.
    pub fn new(step_s: i64, season: usize, window: usize, delta: f64, warmup: u64) -> Self {
        EnsembleDetector {
            seasonal: SeasonalDetector::new(step_s, delta, 0),
            mad: MadDetector::new(window, 0),
            hw: HoltWinters::new(season),
            seen: 0,
            warmup,
        }
    }
}

impl Detector for EnsembleDetector {
    fn columns(&self) -> &'static [&'static str] {
        COLUMNS
    }

    fn push(&mut self, time: i64, value: Option<f64>) -> Scored {
        let value = clean(value);
        let s = self.seasonal.push(time, value);
        let residual = match (value, s.figures[0]) {
            (Some(x), Some(b)) => Some(x - b),
            _ => None,
        };
        let (_, _, local_z) = self.mad.judge(residual);
        self.mad.learn(residual);
        let history = self.hw.next_seasonal_deviation();
        let p = self.hw.push(value);
        let hw_z = match (value, p.prediction) {
            (Some(x), Some(f)) if history > 0.0 => Some((x - f) / (MEAN_AD_TO_SIGMA * history)),
            _ => None,
        };
        let warm = self.seen >= self.warmup;
        self.seen += 1;

        let mut figures = [None; MAX_FIGURES];
        figures[..3].copy_from_slice(&s.figures[..3]);
        figures[3] = s.figures[3];
        figures[4] = local_z;
        figures[5] = hw_z;
        let Some(z) = s.figures[3].filter(|z| z.is_finite()) else {
            return Scored { score: 0.0, figures };
        };
        let agreeing = |other: Option<f64>, cap: f64| {
            other.filter(|o| o.is_finite() && o * z > 0.0).map_or(0.0, |o| o.abs().min(cap))
        };
        // The local z may exceed the seasonal one (a quiet stretch), within reason.
        let mut zs = [z.abs(), agreeing(local_z, 4.0 * z.abs()), agreeing(hw_z, z.abs())];
        zs.sort_by(|a, b| b.total_cmp(a));
        let combined = 0.5 * (zs[0] + zs[1]);
        let score = if warm { z_score(combined) } else { 0.0 };
        Scored { score: unit(score), figures }
    }
}
