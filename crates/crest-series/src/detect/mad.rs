//! `mad`: robust z-score of each value against the median and MAD of the previous window.
//!
//! The window holds the `window` slots before the current one (the value being judged is not
//! in its own yardstick); missing slots just age out. `z = (x − median) / (1.4826 · MAD)`, so
//! a threshold is in robust standard deviations, not raw counts; a constant window has a
//! tiny floor instead of a zero MAD. Median and MAD cost O(log n) per point on a sorted
//! window (plus the insert and remove).

use serde::{Deserialize, Serialize};

use super::util::{MAD_TO_SIGMA, RollingMedian, clean, scale_floor, unit, z_score};
use super::{Detector, MAX_FIGURES, Scored};

pub(super) const COLUMNS: &[&str] = &["median", "mad", "z"];

/// Rolling median / MAD z-score over a trailing window of previous points.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MadDetector {
    window: RollingMedian,
    min_count: usize,
    seen: u64,
    warmup: u64,
}

impl MadDetector {
    /// A trailing window of `points` slots; no score for the first `warmup` points, nor while
    /// the window holds fewer than half its slots' values.
    pub fn new(points: usize, warmup: u64) -> Self {
        let points = points.max(1);
        MadDetector {
            window: RollingMedian::new(points),
            min_count: (points / 2).max(3),
            seen: 0,
            warmup,
        }
    }

    /// The robust z of `x` against the current window (`None` while it is too thin), with the
    /// median and MAD behind it.
    pub(crate) fn judge(&self, x: Option<f64>) -> (Option<f64>, Option<f64>, Option<f64>) {
        let median = self.window.median();
        let mad = median.and_then(|m| self.window.mad(m));
        let z = match (x, median, mad) {
            (Some(x), Some(m), Some(d)) if self.window.count() >= self.min_count => {
                let diff = x - m;
                Some(if diff == 0.0 { 0.0 } else { diff / (MAD_TO_SIGMA * d).max(scale_floor(m)) })
            }
            _ => None,
        };
        (median, mad, z)
    }

    /// Adds the slot to the window after it was judged.
    pub(crate) fn learn(&mut self, x: Option<f64>) {
        self.window.push(x);
        self.seen += 1;
    }
}

impl Detector for MadDetector {
    fn columns(&self) -> &'static [&'static str] {
        COLUMNS
    }

    fn push(&mut self, _time: i64, value: Option<f64>) -> Scored {
        let value = clean(value);
        let (median, mad, z) = self.judge(value);
        let warm = self.seen >= self.warmup;
        self.learn(value);
        let score = match z {
            Some(z) if warm => z_score(z),
            _ => 0.0,
        };
        let mut figures = [None; MAX_FIGURES];
        figures[0] = median;
        figures[1] = mad;
        figures[2] = z;
        Scored { score: unit(score), figures }
    }
}
