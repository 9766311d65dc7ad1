//! `cv`: the coefficient of variation over a window, as Graphite's composition
//! `divideSeries(stdev(x, N), movingAverage(x, N))` computes it, scored against its own
//! recent level.
//!
//! The figure follows Graphite: population stdev from running sums (window tolerance as in
//! `stdev`), the mean of the window's values summed oldest first, `None` when either is
//! missing or the mean is 0. Streaming from the first point there is nothing to bootstrap,
//! so the first `N − 1` means use a partial window, as the stdev does.
//!
//! Score: rising variability is the anomaly (a burst, a spike, a dip, a noisier source), so
//! the score is the upward z of the CV against an exponentially weighted mean and mean
//! absolute deviation of its own past values (half-life four windows), through
//! [`z_score`](super::z_score). A falling CV scores 0.

use serde::{Deserialize, Serialize};

use super::util::{Ewma, clean, rate_for_half_life, unit, z_score};
use super::{Detector, MAX_FIGURES, Scored};
use crate::graphite::GraphiteStdev;

pub(super) const COLUMNS: &[&str] = &["cv"];

/// Coefficient of variation (stdev / mean over a window) against its own recent level.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CvDetector {
    stdev: GraphiteStdev,
    ring: Vec<Option<f64>>,
    next: usize,
    level: Ewma,
    seen: u64,
    warmup: u64,
}

impl CvDetector {
    /// A window of `points` slots with Graphite's `window_tolerance`; no score for the first
    /// `warmup` points.
    pub fn new(points: usize, window_tolerance: f64, warmup: u64) -> Self {
        let points = points.max(1);
        CvDetector {
            stdev: GraphiteStdev::new(points, window_tolerance),
            ring: vec![None; points],
            next: 0,
            level: Ewma::new(rate_for_half_life(4.0 * points as f64)),
            seen: 0,
            warmup,
        }
    }

    /// Graphite's `movingAverage` over the ring: the present values, oldest first.
    fn moving_average(&self) -> Option<f64> {
        let (newer, older) = self.ring.split_at(self.next);
        let (mut sum, mut n) = (0.0, 0u64);
        for v in older.iter().chain(newer).flatten() {
            sum += v;
            n += 1;
        }
        (n > 0).then(|| sum / n as f64)
    }
}

impl Detector for CvDetector {
    fn columns(&self) -> &'static [&'static str] {
        COLUMNS
    }

    fn push(&mut self, _time: i64, value: Option<f64>) -> Scored {
        let value = clean(value);
        let sd = self.stdev.push(value);
        self.ring[self.next] = value;
        self.next = (self.next + 1) % self.ring.len();
        let mean = self.moving_average();
        let cv = match (sd, mean) {
            (Some(s), Some(m)) if m != 0.0 => Some(s / m),
            _ => None,
        };
        let warm = self.seen >= self.warmup;
        self.seen += 1;
        let mut score = 0.0;
        if let (Some(_), Some(c)) = (value, cv) {
            if warm && let Some(z) = self.level.z(c) {
                score = if z > 0.0 { z_score(z) } else { 0.0 };
            }
            self.level.update(c);
        }
        let mut figures = [None; MAX_FIGURES];
        figures[0] = cv;
        Scored { score: unit(score), figures }
    }
}
