//! `seasonal`: a robust baseline from hour-of-day and hour-of-week profiles.
//!
//! Telemetry follows the working day and the working week; this detector learns both from
//! `time` (UTC) rather than from positions, so gaps and irregular starts do not shift it.
//!
//! The baseline at a slot comes from two profiles of the values, each read by linear
//! interpolation between the centres of the two nearest hours (a smooth curve, not a
//! staircase):
//! * `day` — 24 hour-of-day buckets, each an EWMA of its hour's values with half-life
//!   7 days (a plain running mean at first): the baseline of the first week;
//! * `week` — 168 hour-of-week buckets (weeks start Monday 00:00 UTC), half-life 3 weeks,
//!   which take over from the day profile over each bucket's first week of history, so
//!   weekends and Monday mornings get their own baseline.
//!
//! There is deliberately no fast level term: it would chase noise and absorb level shifts;
//! the profiles follow slow drift through their own half-lives.
//!
//! Updates are robust: the residual is clipped to ±4σ before it moves anything, so a spike
//! does not drag the baseline. σ per hour-of-day bucket is 1.2533 × an EWMA of the absolute
//! residual, never below half the series-wide one. `z = (x − baseline) / σ`; the band is
//! `baseline ± delta·σ`; no score during the warm-up (default 2 days).

use serde::{Deserialize, Serialize};

use super::util::{MEAN_AD_TO_SIGMA, clean, rate_for_half_life, scale_floor, unit, z_score};
use super::{Detector, MAX_FIGURES, Scored};

pub(super) const COLUMNS: &[&str] = &["baseline", "lower", "upper", "z"];
const DAY_S: i64 = 86_400;
const WEEK_S: i64 = 7 * DAY_S;
/// 1970-01-01 was a Thursday; weeks in the profile start on Monday 00:00 UTC.
const WEEK_ORIGIN_S: i64 = 3 * DAY_S;
/// Residuals are clipped to this many σ before they update the baseline.
const CLIP_SIGMA: f64 = 4.0;

/// One profile bucket: a location, the mean absolute residual, and how many updates each
/// has seen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Bucket {
    loc: f64,
    n: u64,
    scale: f64,
    scale_n: u64,
}

/// The baseline's parts at one slot, before the slot updates them.
struct Parts {
    day: Option<f64>,
    week: f64,
    day_bucket: usize,
    week_bucket: usize,
}

/// Seasonal baseline by hour of day and hour of week, with a robust z-score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeasonalDetector {
    day: Vec<Bucket>,
    week: Vec<Bucket>,
    global_scale: f64,
    global_n: u64,
    step: i64,
    delta: f64,
    samples_per_hour: f64,
    day_rate: f64,
    week_rate: f64,
    global_rate: f64,
    first_time: Option<i64>,
    warmup_s: i64,
}

impl SeasonalDetector {
    /// A detector for a series with `step` seconds per slot, band `±delta·σ`, and no score
    /// until `warmup_s` seconds after the first slot.
    pub fn new(step: i64, delta: f64, warmup_s: i64) -> Self {
        let step = step.max(1);
        let samples_per_hour = (3600.0 / step as f64).max(1.0);
        SeasonalDetector {
            day: vec![Bucket::default(); 24],
            week: vec![Bucket::default(); 168],
            global_scale: 0.0,
            global_n: 0,
            step,
            delta,
            samples_per_hour,
            // Each hour-of-day bucket gets `samples_per_hour` updates a day.
            day_rate: rate_for_half_life(7.0 * samples_per_hour),
            week_rate: rate_for_half_life(3.0 * samples_per_hour),
            global_rate: rate_for_half_life((DAY_S as f64 / step as f64).max(24.0)),
            first_time: None,
            warmup_s,
        }
    }

    /// Interpolates a profile at `hours` into its cycle; also returns the bucket holding it.
    fn read(buckets: &[Bucket], hours: f64) -> (Option<f64>, usize) {
        let len = buckets.len();
        let here = (hours.floor() as i64).rem_euclid(len as i64) as usize;
        let pos = hours - 0.5;
        let i0 = (pos.floor() as i64).rem_euclid(len as i64) as usize;
        let i1 = (i0 + 1) % len;
        let w = pos - pos.floor();
        let (b0, b1) = (&buckets[i0], &buckets[i1]);
        let value = match (b0.n > 0, b1.n > 0) {
            (true, true) => Some((1.0 - w) * b0.loc + w * b1.loc),
            (true, false) => Some(b0.loc),
            (false, true) => Some(b1.loc),
            (false, false) => None,
        };
        (value, here)
    }

    fn parts(&self, time: i64) -> Parts {
        // The slot's centre, so an hourly slot reads exactly its own hour.
        let centre = time as f64 + 0.5 * self.step as f64;
        let day_hours = centre.rem_euclid(DAY_S as f64) / 3600.0;
        let week_hours = (centre - WEEK_ORIGIN_S as f64).rem_euclid(WEEK_S as f64) / 3600.0;
        let (day, day_bucket) = Self::read(&self.day, day_hours);
        let (week, week_bucket) = Self::read(&self.week, week_hours);
        // Once an hour of the week has a week of history it replaces the hour of day.
        let weeks = (self.week[week_bucket].n as f64 / self.samples_per_hour).min(1.0);
        let week = match (week, day) {
            (Some(w), Some(d)) => w * weeks - d * weeks,
            _ => 0.0,
        };
        Parts { day, week, day_bucket, week_bucket }
    }

    /// σ at a day bucket: its own scale once it has a few residuals, never below half the
    /// series-wide scale.
    fn sigma(&self, bucket: usize, level: f64) -> Option<f64> {
        if self.global_n < 2 {
            return None;
        }
        let b = &self.day[bucket];
        let own = if b.scale_n >= 3 { b.scale } else { self.global_scale };
        Some((MEAN_AD_TO_SIGMA * own.max(0.5 * self.global_scale)).max(scale_floor(level)))
    }
}

impl Detector for SeasonalDetector {
    fn columns(&self) -> &'static [&'static str] {
        COLUMNS
    }

    fn push(&mut self, time: i64, value: Option<f64>) -> Scored {
        let value = clean(value);
        let first = *self.first_time.get_or_insert(time);
        let parts = self.parts(time);
        let baseline = parts.day.map(|d| d + parts.week);
        let sigma = baseline.and_then(|b| self.sigma(parts.day_bucket, b));
        let mut figures = [None; MAX_FIGURES];
        figures[0] = baseline;
        if let (Some(b), Some(s)) = (baseline, sigma) {
            figures[1] = Some(b - self.delta * s);
            figures[2] = Some(b + self.delta * s);
        }
        let Some(x) = value else {
            return Scored { score: 0.0, figures };
        };
        let residual = baseline.map_or(0.0, |b| x - b);
        let z = sigma.map(|s| residual / s);
        figures[3] = z;
        let warm = time.saturating_sub(first) >= self.warmup_s;
        let score = match z {
            Some(z) if warm => z_score(z),
            _ => 0.0,
        };

        // Learn from the clipped residual, so one wild value moves nothing far.
        let clipped = match sigma {
            Some(s) => residual.clamp(-CLIP_SIGMA * s, CLIP_SIGMA * s),
            None => residual,
        };
        let x_c = baseline.map_or(x, |b| b + clipped);
        let day_target = x_c;
        let week_target = Some(x_c);
        let b = &mut self.day[parts.day_bucket];
        b.n += 1;
        b.loc += self.day_rate.max(1.0 / b.n as f64) * (day_target - b.loc);
        if let Some(target) = week_target {
            let w = &mut self.week[parts.week_bucket];
            w.n += 1;
            w.loc += self.week_rate.max(1.0 / w.n as f64) * (target - w.loc);
        }
        if baseline.is_some() {
            let dev = match sigma {
                Some(s) => residual.abs().min(1.5 * CLIP_SIGMA * s),
                None => residual.abs(),
            };
            let b = &mut self.day[parts.day_bucket];
            b.scale_n += 1;
            b.scale += self.day_rate.max(1.0 / b.scale_n as f64) * (dev - b.scale);
            self.global_n += 1;
            self.global_scale +=
                self.global_rate.max(1.0 / self.global_n as f64) * (dev - self.global_scale);
        }
        Scored { score: unit(score), figures }
    }
}
