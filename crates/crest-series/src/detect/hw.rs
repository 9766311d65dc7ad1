//! `hw`: Graphite's Holt-Winters, streaming, with its confidence band and aberration.
//!
//! The figures are exactly Graphite's for a model run from the first point fed
//! (`holtWintersForecast`, `holtWintersConfidenceLower/Upper`, `holtWintersAberration`):
//! the band at a slot is `forecast ± delta·d` where `d` already contains that slot's own
//! error, as Graphite computes it. The score is crest's: how far outside the band the value
//! lies, in band half-widths `r`, mapped to `r / (1 + r)`.

use serde::{Deserialize, Serialize};

use super::util::{clean, unit};
use super::{Detector, MAX_FIGURES, Scored};
use crate::graphite::{HoltWinters, aberration_at};

pub(super) const COLUMNS: &[&str] = &["forecast", "lower", "upper", "aberration"];

/// Graphite-exact Holt-Winters with a score from its aberration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HwDetector {
    model: HoltWinters,
    delta: f64,
    warmup: u64,
}

impl HwDetector {
    /// A detector with a season of `season` points, band width `delta` and no score for the
    /// first `warmup` points.
    pub fn new(season: usize, delta: f64, warmup: u64) -> Self {
        HwDetector { model: HoltWinters::new(season), delta, warmup }
    }

    /// The Graphite model inside.
    pub fn model(&self) -> &HoltWinters {
        &self.model
    }
}

impl Detector for HwDetector {
    fn columns(&self) -> &'static [&'static str] {
        COLUMNS
    }

    #[inline]
    fn push(&mut self, _time: i64, value: Option<f64>) -> Scored {
        let value = clean(value);
        let index = self.model.seen();
        // The band's memory for this phase; 0 in the first season and one season after a
        // gap (Graphite's gap echo), where any error would be "outside".
        let history = self.model.next_seasonal_deviation();
        let p = self.model.push(value);
        let (lower, upper) = match p.prediction {
            Some(f) => (Some(f - self.delta * p.deviation), Some(f + self.delta * p.deviation)),
            None => (None, None),
        };
        let aberration = aberration_at(value, lower, upper);
        let half_width = self.delta * p.deviation;
        let score = if index < self.warmup || history == 0.0 || aberration == 0.0 {
            0.0
        } else if half_width > 0.0 {
            let r = aberration.abs() / half_width;
            if r.is_finite() { r / (1.0 + r) } else { 1.0 }
        } else {
            1.0
        };
        let mut figures = [None; MAX_FIGURES];
        figures[0] = p.prediction;
        figures[1] = lower;
        figures[2] = upper;
        figures[3] = Some(aberration);
        Scored { score: unit(score), figures }
    }
}
