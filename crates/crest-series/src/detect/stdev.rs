//! `stdev`: Graphite's moving standard deviation, and a score from how far the new value
//! lies from the previous window.
//!
//! The figures are Graphite's `stdev(x, window, windowTolerance)` and the window's mean
//! (both including the current slot). The score compares the value with the window that
//! ends just before it, `|x − mean| / stdev` (no look-ahead, and the value does not widen
//! its own yardstick), through [`z_score`](super::z_score).

use serde::{Deserialize, Serialize};

use super::util::{clean, scale_floor, unit, z_score};
use super::{Detector, MAX_FIGURES, Scored};
use crate::graphite::GraphiteStdev;

pub(super) const COLUMNS: &[&str] = &["stdev", "mean"];

/// Graphite's moving standard deviation with a z-score of each value against it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StdevDetector {
    stdev: GraphiteStdev,
    seen: u64,
    warmup: u64,
}

impl StdevDetector {
    /// A window of `points` slots with Graphite's `window_tolerance`; no score for the first
    /// `warmup` points.
    pub fn new(points: usize, window_tolerance: f64, warmup: u64) -> Self {
        StdevDetector { stdev: GraphiteStdev::new(points, window_tolerance), seen: 0, warmup }
    }
}

impl Detector for StdevDetector {
    fn columns(&self) -> &'static [&'static str] {
        COLUMNS
    }

    fn push(&mut self, _time: i64, value: Option<f64>) -> Scored {
        let value = clean(value);
        let (before_sd, before_mean) = (self.stdev.current(), self.stdev.mean());
        let sd = self.stdev.push(value);
        let warm = self.seen >= self.warmup;
        self.seen += 1;
        let score = match (value, before_sd, before_mean) {
            (Some(x), Some(s), Some(m)) if warm => {
                let diff = (x - m).abs();
                if diff == 0.0 { 0.0 } else { z_score(diff / s.max(scale_floor(m))) }
            }
            _ => 0.0,
        };
        let mut figures = [None; MAX_FIGURES];
        figures[0] = sd;
        figures[1] = self.stdev.mean();
        Scored { score: unit(score), figures }
    }
}
