//! Labeled series for the detector benchmark: seasonal counters with planted anomalies of
//! known windows, missing stretches that are not anomalies, and the event-level scoring.
//!
//! A series is a daily (and, for two thirds of the seeds, weekly) pattern with Gaussian
//! noise and a slow drift, at 60 s (3 weeks), 300 s (4 weeks) or 3600 s (8 weeks). The
//! first week is clean history. After it, six anomalies are planted, one per equal part of
//! the rest: a spike, a dip, a level shift, a trend change, a variance change and one more
//! spike or dip, sized in multiples of the series' noise σ. Three missing stretches and
//! scattered missing points lie outside the anomaly windows; a detector must not fire on
//! them. Everything is deterministic for a seed and a step.

use crate::Rng;

/// The sampling rates of the benchmark, in seconds.
pub const BENCH_STEPS: [i64; 3] = [60, 300, 3600];
/// Seeds on which detector thresholds are chosen.
pub const TUNING_SEEDS: std::ops::Range<u64> = 1..9;
/// Seeds reported after tuning (never used to choose anything).
pub const HELD_OUT_SEEDS: std::ops::Range<u64> = 101..117;
/// Monday 2023-11-20 00:00:00 UTC, the start of every series.
pub const SERIES_START: i64 = 1_700_438_400;

const DAY: i64 = 86_400;

/// What kind of anomaly is planted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AnomalyKind {
    /// A few points far above normal.
    Spike,
    /// A short drop far below normal.
    Dip,
    /// The level moves by several σ for 12–36 hours, then returns.
    LevelShift,
    /// A ramp away from normal over 12–36 hours, then back in a quarter of that time.
    TrendChange,
    /// The noise grows 3–5 times for 6–24 hours.
    VarianceChange,
}

impl AnomalyKind {
    /// Every kind, in report order.
    pub const ALL: [AnomalyKind; 5] = [
        AnomalyKind::Spike,
        AnomalyKind::Dip,
        AnomalyKind::LevelShift,
        AnomalyKind::TrendChange,
        AnomalyKind::VarianceChange,
    ];

    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            AnomalyKind::Spike => "spike",
            AnomalyKind::Dip => "dip",
            AnomalyKind::LevelShift => "level shift",
            AnomalyKind::TrendChange => "trend change",
            AnomalyKind::VarianceChange => "variance",
        }
    }

    fn index(self) -> usize {
        AnomalyKind::ALL.iter().position(|k| *k == self).unwrap_or(0)
    }
}

/// A planted anomaly: slots `start..end` of its series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Anomaly {
    /// What was planted.
    pub kind: AnomalyKind,
    /// First slot of the window.
    pub start: usize,
    /// One past the last slot of the window.
    pub end: usize,
}

/// A series with its labels.
#[derive(Clone, Debug, PartialEq)]
pub struct LabeledSeries {
    /// `seed/step`, for reports.
    pub name: String,
    /// Start of the first slot, seconds since the epoch.
    pub start: i64,
    /// Slot width in seconds.
    pub step: i64,
    /// One value per slot; `None` is missing.
    pub values: Vec<Option<f64>>,
    /// The planted anomaly windows, in order.
    pub anomalies: Vec<Anomaly>,
    /// The missing stretches (`start..end`), which are not anomalies.
    pub missing: Vec<(usize, usize)>,
}

impl LabeledSeries {
    /// The timestamp of slot `i`.
    pub fn time(&self, i: usize) -> i64 {
        self.start + i as i64 * self.step
    }
}

/// A standard normal draw (Box-Muller).
fn normal(rng: &mut Rng) -> f64 {
    let u1 = rng.unit().max(1e-300);
    let u2 = rng.unit();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn uniform(rng: &mut Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.unit()
}

/// The labeled series of one seed at one step.
pub fn labeled_series(seed: u64, step: i64) -> LabeledSeries {
    let step = step.max(1);
    // Decorrelate steps of the same seed.
    let mut rng = Rng::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ step as u64);
    let weeks = match step {
        ..=60 => 3,
        61..=300 => 4,
        _ => 8,
    };
    let n = (weeks * 7 * DAY / step) as usize;
    let points = |seconds: f64| ((seconds / step as f64).round() as usize).max(1);

    let level = 20.0 + 980.0 * rng.unit().powi(2);
    let sigma = level * uniform(&mut rng, 0.02, 0.06);
    let amplitude = level * uniform(&mut rng, 0.2, 0.6);
    let peak = uniform(&mut rng, 0.3, 0.7);
    let harmonic = uniform(&mut rng, -0.3, 0.3);
    let weekend = if rng.below(3) == 0 { 1.0 } else { uniform(&mut rng, 0.5, 0.85) };
    let drift = level * uniform(&mut rng, -0.1, 0.1);

    // Anomaly windows: one per equal part of the time after the first week, with margins.
    let first = points(7.0 * DAY as f64);
    let last = n - points(DAY as f64);
    let mut kinds = vec![
        AnomalyKind::Spike,
        AnomalyKind::Dip,
        AnomalyKind::LevelShift,
        AnomalyKind::TrendChange,
        AnomalyKind::VarianceChange,
        if rng.below(2) == 0 { AnomalyKind::Spike } else { AnomalyKind::Dip },
    ];
    for i in (1..kinds.len()).rev() {
        kinds.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let part = (last - first) / kinds.len();
    let mut anomalies = Vec::new();
    let mut effects: Vec<(Anomaly, f64, usize)> = Vec::new();
    for (k, kind) in kinds.into_iter().enumerate() {
        let sign = if rng.below(2) == 0 { 1.0 } else { -1.0 };
        let (len, magnitude, body) = match kind {
            AnomalyKind::Spike => (1 + rng.below(4) as usize, uniform(&mut rng, 6.0, 12.0), 0),
            AnomalyKind::Dip => (2 + rng.below(10) as usize, -uniform(&mut rng, 6.0, 12.0), 0),
            AnomalyKind::LevelShift => {
                let len = points(uniform(&mut rng, 0.5, 1.5) * DAY as f64).max(6);
                (len, sign * uniform(&mut rng, 4.0, 8.0), 0)
            }
            AnomalyKind::TrendChange => {
                let ramp = points(uniform(&mut rng, 0.5, 1.5) * DAY as f64).max(8);
                (ramp + ramp / 4, sign * uniform(&mut rng, 6.0, 10.0), ramp)
            }
            AnomalyKind::VarianceChange => {
                let len = points(uniform(&mut rng, 0.25, 1.0) * DAY as f64).max(6);
                (len, uniform(&mut rng, 3.0, 5.0), 0)
            }
        };
        let lo = first + k * part;
        let room = part.saturating_sub(len + points(DAY as f64 / 4.0)).max(1);
        let start = lo + rng.below(room as u64) as usize;
        let a = Anomaly { kind, start, end: (start + len).min(last) };
        anomalies.push(a);
        effects.push((a, magnitude, body));
    }

    let mut values = Vec::with_capacity(n);
    for i in 0..n {
        let t = SERIES_START + i as i64 * step;
        let tod = t.rem_euclid(DAY) as f64 / DAY as f64;
        let dow = (t - SERIES_START).div_euclid(DAY).rem_euclid(7);
        let phase = std::f64::consts::TAU * (tod - peak);
        let shape = phase.cos() + harmonic * (2.0 * phase).cos();
        // Weekends start and end smoothly over the six hours around midnight.
        let hours = t.rem_euclid(DAY) as f64 / 3600.0;
        let into = |d: i64| if d >= 5 { 1.0 } else { 0.0 };
        let ramp = |h: f64| {
            let u = (h / 6.0 + 0.5).clamp(0.0, 1.0);
            u * u * (3.0 - 2.0 * u)
        };
        let (today, other, w) = if hours < 3.0 {
            (into(dow), into((dow + 6) % 7), ramp(hours))
        } else if hours > 21.0 {
            (into(dow), into((dow + 1) % 7), 1.0 - ramp(hours - 24.0))
        } else {
            (into(dow), into(dow), 1.0)
        };
        let share = w * today + (1.0 - w) * other;
        let week = 1.0 + share * (weekend - 1.0);
        let mut noise = sigma * normal(&mut rng);
        let mut x = week * (level + amplitude * shape) + drift * i as f64 / n as f64;
        for (a, magnitude, body) in &effects {
            if i < a.start || i >= a.end {
                continue;
            }
            let j = (i - a.start) as f64;
            match a.kind {
                AnomalyKind::Spike | AnomalyKind::Dip | AnomalyKind::LevelShift => {
                    x += magnitude * sigma
                }
                AnomalyKind::TrendChange => {
                    let ramp = *body as f64;
                    let down = (a.end - a.start - body) as f64;
                    let f = if j < ramp { j / ramp } else { 1.0 - (j - ramp) / down };
                    x += magnitude * sigma * f;
                }
                AnomalyKind::VarianceChange => noise *= magnitude,
            }
        }
        values.push(Some((x + noise).max(0.0)));
    }

    // Missing data away from the anomaly windows (a tolerance's margin around them).
    let clear = |lo: usize, hi: usize| {
        anomalies.iter().all(|a| hi + 3 < a.start || lo > a.end + tolerance(a) + 3)
    };
    let mut missing = Vec::new();
    while missing.len() < 3 {
        let len = points(uniform(&mut rng, 1200.0, 6.0 * 3600.0)).max(2);
        let lo = points(DAY as f64) + rng.below((n - len - points(DAY as f64)) as u64) as usize;
        let hi = lo + len;
        if clear(lo, hi) && missing.iter().all(|(a, b)| hi + 10 < *a || lo > b + 10) {
            missing.push((lo, hi));
        }
    }
    missing.sort_unstable();
    for (lo, hi) in &missing {
        values[*lo..*hi].iter_mut().for_each(|v| *v = None);
    }
    for (i, v) in values.iter_mut().enumerate() {
        if rng.below(1000) < 3 && clear(i, i + 1) {
            *v = None;
        }
    }

    LabeledSeries {
        name: format!("{seed}/{step}s"),
        start: SERIES_START,
        step,
        values,
        anomalies,
        missing,
    }
}

/// The series of every seed at every benchmark step.
pub fn labeled_suite(seeds: impl IntoIterator<Item = u64>) -> Vec<LabeledSeries> {
    seeds.into_iter().flat_map(|s| BENCH_STEPS.map(|step| labeled_series(s, step))).collect()
}

/// How long after a window an alert still counts for it: 10 % of its length, at least 3
/// slots (recovery takes a moment).
pub fn tolerance(a: &Anomaly) -> usize {
    ((a.end - a.start) / 10).max(3)
}

/// Alerts in the first week are not scored: it is the history every detector learns from
/// (a probation period, as in the Numenta benchmark); no anomaly is planted there.
pub const PROBATION_S: i64 = 7 * DAY;

/// Alerts separated by at most this many slots outside every window are one false event.
pub const FALSE_EVENT_GAP: usize = 5;

/// Event-level counts of one or more series.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// Labeled windows.
    pub windows: usize,
    /// Windows with an alert inside (or within the tolerance after).
    pub detected: usize,
    /// Alert events outside every window (+ tolerance).
    pub false_events: usize,
    /// Slots from window start to first alert, per detected window.
    pub delays: Vec<usize>,
    /// The same in seconds.
    pub delays_s: Vec<i64>,
    /// Windows per kind (in [`AnomalyKind::ALL`] order).
    pub windows_by_kind: [usize; 5],
    /// Detected windows per kind.
    pub detected_by_kind: [usize; 5],
}

impl Outcome {
    /// Adds another outcome's counts.
    pub fn add(&mut self, other: &Outcome) {
        self.windows += other.windows;
        self.detected += other.detected;
        self.false_events += other.false_events;
        self.delays.extend_from_slice(&other.delays);
        self.delays_s.extend_from_slice(&other.delays_s);
        for k in 0..5 {
            self.windows_by_kind[k] += other.windows_by_kind[k];
            self.detected_by_kind[k] += other.detected_by_kind[k];
        }
    }

    /// Detected windows over all alert events.
    pub fn precision(&self) -> f64 {
        let events = self.detected + self.false_events;
        if events == 0 { 0.0 } else { self.detected as f64 / events as f64 }
    }

    /// Detected windows over labeled windows.
    pub fn recall(&self) -> f64 {
        if self.windows == 0 { 0.0 } else { self.detected as f64 / self.windows as f64 }
    }

    /// Harmonic mean of precision and recall.
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) }
    }

    /// Mean detection delay in slots (`None` when nothing was detected).
    pub fn mean_delay(&self) -> Option<f64> {
        mean(self.delays.iter().map(|d| *d as f64))
    }

    /// Mean detection delay in seconds.
    pub fn mean_delay_s(&self) -> Option<f64> {
        mean(self.delays_s.iter().map(|d| *d as f64))
    }

    /// Recall of one kind (`None` when none was planted).
    pub fn recall_of(&self, kind: AnomalyKind) -> Option<f64> {
        let k = kind.index();
        (self.windows_by_kind[k] > 0)
            .then(|| self.detected_by_kind[k] as f64 / self.windows_by_kind[k] as f64)
    }
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// The thresholds tried when tuning: 0.005, 0.010, … 0.995.
pub fn thresholds() -> impl Iterator<Item = f64> {
    (1..200).map(|i| i as f64 / 200.0)
}

/// The pooled outcome of `scores` (one vector per series) at `threshold`.
pub fn outcome_at(series: &[LabeledSeries], scores: &[Vec<f64>], threshold: f64) -> Outcome {
    let mut total = Outcome::default();
    for (s, sc) in series.iter().zip(scores) {
        let alert: Vec<bool> = sc.iter().map(|&v| v > 0.0 && v >= threshold).collect();
        total.add(&evaluate(s, &alert));
    }
    total
}

/// The threshold with the best pooled F1 (the lowest on ties), and its outcome.
pub fn best_threshold(series: &[LabeledSeries], scores: &[Vec<f64>]) -> (f64, Outcome) {
    let mut best = (0.5, Outcome::default());
    let mut best_f1 = -1.0;
    for t in thresholds() {
        let o = outcome_at(series, scores, t);
        if o.f1() > best_f1 {
            best_f1 = o.f1();
            best = (t, o);
        }
    }
    best
}

/// Scores one series: `alert[i]` says whether the detector fired at slot `i`.
pub fn evaluate(series: &LabeledSeries, alert: &[bool]) -> Outcome {
    let mut out = Outcome { windows: series.anomalies.len(), ..Outcome::default() };
    let mut covered = vec![false; alert.len()];
    for a in &series.anomalies {
        let k = a.kind.index();
        out.windows_by_kind[k] += 1;
        let hi = (a.end + tolerance(a)).min(alert.len());
        covered[a.start.min(hi)..hi].iter_mut().for_each(|c| *c = true);
        if let Some(first) = (a.start..hi).find(|&i| alert[i]) {
            out.detected += 1;
            out.detected_by_kind[k] += 1;
            out.delays.push(first - a.start);
            out.delays_s.push((first - a.start) as i64 * series.step);
        }
    }
    let probation = (PROBATION_S / series.step.max(1)) as usize;
    let mut last_false: Option<usize> = None;
    for (i, (&fired, &inside)) in alert.iter().zip(&covered).enumerate() {
        if !fired || inside || i < probation {
            continue;
        }
        if last_false.is_none_or(|l| i - l > FALSE_EVENT_GAP) {
            out.false_events += 1;
        }
        last_false = Some(i);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_with_labels_inside_and_gaps_outside() {
        for step in BENCH_STEPS {
            let s = labeled_series(7, step);
            assert_eq!(s, labeled_series(7, step));
            assert_eq!(s.anomalies.len(), 6);
            for a in &s.anomalies {
                assert!(a.start < a.end && a.end <= s.values.len());
                assert!(s.values[a.start..a.end].iter().all(|v| v.is_some()), "{}", s.name);
            }
            assert!(s.values.iter().filter(|v| v.is_none()).count() >= 3);
        }
    }

    #[test]
    fn evaluation_counts_events() {
        let mut s = labeled_series(1, 3600);
        s.anomalies = vec![Anomaly { kind: AnomalyKind::Spike, start: 10, end: 12 }];
        let mut alert = vec![false; s.values.len()];
        alert[11] = true; // detected, delay 1
        alert[14] = true; // within the tolerance (3 slots after 12)
        alert[3] = true; // in the probation week: not scored
        alert[200] = true; // one false event …
        alert[203] = true; // … merged with this one
        alert[300] = true; // a second false event
        let o = evaluate(&s, &alert);
        assert_eq!((o.detected, o.false_events, o.delays.clone()), (1, 2, vec![1]));
        assert!((o.precision() - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(o.recall(), 1.0);
    }
}
