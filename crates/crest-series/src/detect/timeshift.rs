//! `timeshift`: relative change against the same slot one shift ago,
//! `|x − timeShift(x, shift)| / x`, as Graphite's composition
//! `divideSeries(absolute(diffSeries(x, timeShift(x, shift))), x)` computes it.
//!
//! The figures keep Graphite's quirks: `diffSeries` keeps the present side, so a missing
//! shifted value gives a change of `|x| / x` (1, or −1 for a negative x); a missing or zero
//! `x` gives no change. The score only compares two real values (a gap a shift ago is not an
//! anomaly now): the upward z of `|change|` against an exponentially weighted mean and mean
//! absolute deviation of its own past values (half-life one shift), through
//! [`z_score`](super::z_score).

use serde::{Deserialize, Serialize};

use super::util::{Ewma, clean, rate_for_half_life, unit, z_score};
use super::{Detector, MAX_FIGURES, Scored};

pub(super) const COLUMNS: &[&str] = &["shifted", "change"];

/// Relative change against one shift ago, scored against its own typical size.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimeShiftDetector {
    ring: Vec<Option<f64>>,
    next: usize,
    seen: u64,
    level: Ewma,
    warmup: u64,
}

impl TimeShiftDetector {
    /// Compares each slot with the one `shift` points earlier; no score for the first
    /// `warmup` points.
    pub fn new(shift: usize, warmup: u64) -> Self {
        let shift = shift.max(1);
        TimeShiftDetector {
            ring: vec![None; shift],
            next: 0,
            seen: 0,
            level: Ewma::new(rate_for_half_life(shift as f64)),
            warmup,
        }
    }
}

impl Detector for TimeShiftDetector {
    fn columns(&self) -> &'static [&'static str] {
        COLUMNS
    }

    fn push(&mut self, _time: i64, value: Option<f64>) -> Scored {
        let value = clean(value);
        // The ring slot about to be overwritten holds the value of one shift ago.
        let shifted = if self.seen >= self.ring.len() as u64 { self.ring[self.next] } else { None };
        self.ring[self.next] = value;
        self.next = (self.next + 1) % self.ring.len();
        let warm = self.seen >= self.warmup;
        self.seen += 1;
        let diff = match (value, shifted) {
            (Some(x), Some(s)) => Some(x - s),
            (Some(x), None) => Some(x),
            (None, Some(s)) => Some(s),
            (None, None) => None,
        };
        let change = match (diff, value) {
            (Some(d), Some(x)) if x != 0.0 => Some(d.abs() / x),
            _ => None,
        };
        let mut score = 0.0;
        if let (Some(c), Some(_)) = (change, shifted) {
            let c = c.abs();
            if warm && let Some(z) = self.level.z(c) {
                score = if z > 0.0 { z_score(z) } else { 0.0 };
            }
            self.level.update(c);
        }
        let mut figures = [None; MAX_FIGURES];
        figures[0] = shifted;
        figures[1] = change;
        Scored { score: unit(score), figures }
    }
}
