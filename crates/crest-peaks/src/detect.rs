//! The peak rule: which pairs of the window stand out against their baseline.

use crest_core::num::{PyNum, py_float_repr, round2};
use crest_core::pyjson::PyJson;

use crate::accumulate::PairKey;
use crate::config::{PEAK_GLOBAL_COUNT_WEIGHT, PEAK_MIN_SAMP_SUB_RATIO};
use crate::global::{GlobalTable, GstEntry, nest};
use crate::local::{LocalStats, LocalTable};

/// Which of the three tests made a pair a peak (at least one holds for every peak).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeakRules {
    /// (a) Samples are re-submitted more than 80% of the historical maximum rate.
    pub rate_above_history: bool,
    /// (b) One sample makes up more than half of the submissions (pairs above 50 only).
    pub dominant_sample: bool,
    /// (c) The busiest sample is more than one standard deviation above the mean.
    pub outlier_sample: bool,
}

/// A pair whose window is a peak, with the figures that justify it.
#[derive(Clone, Debug)]
pub struct Peak {
    /// The pair's dimension values.
    pub key: PairKey,
    /// Its statistics in the window.
    pub stats: LocalStats,
    /// The baseline's highest submissions per sample (`gmax`).
    pub global_samp_sub_count_max: PyNum,
    /// The threshold applied: the baseline's suggestion, or the user's override.
    pub global_threshold_suggested: PyNum,
    /// Which tests held.
    pub rules: PeakRules,
    /// The baseline entry it was compared with.
    pub baseline: GstEntry,
    /// The most submitted samples of the window (evidence).
    pub top_samples: Vec<(String, u64)>,
}

/// Finds the peaks of the window, in the local table's order.
///
/// A pair is a peak when it has a baseline, reaches the threshold (`threshold` when given and
/// non-zero, else the baseline's suggestion) and passes at least one of the three tests of
/// [`PeakRules`]. A pair without a baseline is never a peak: it is seen for the first time.
pub fn detect(local: &LocalTable, global: &GlobalTable, threshold: Option<i64>) -> Vec<Peak> {
    let mut peaks = Vec::new();
    for entry in &local.entries {
        let Some(g) = global.entries.get(&entry.key) else { continue };
        let thr = match threshold {
            Some(t) if t != 0 => PyNum::Int(t),
            _ => g.threshold_suggested,
        };
        let gmax = g.samp_sub_count_max;
        let s = &entry.stats;
        if !PyNum::Int(s.sub_count).ge(thr) {
            continue;
        }
        let rules = PeakRules {
            rate_above_history: s
                .samp_sub_count_mean
                .gt(PyNum::Float(PEAK_GLOBAL_COUNT_WEIGHT * gmax.to_f64())),
            dominant_sample: s.samp_sub_ratio > PEAK_MIN_SAMP_SUB_RATIO,
            outlier_sample: PyNum::Int(s.samp_sub_count_max)
                .gt(PyNum::Float(s.samp_sub_count_mean.to_f64() + s.samp_sub_count_std)),
        };
        if rules.rate_above_history || rules.dominant_sample || rules.outlier_sample {
            peaks.push(Peak {
                key: entry.key.clone(),
                stats: *s,
                global_samp_sub_count_max: gmax,
                global_threshold_suggested: thr,
                rules,
                baseline: g.clone(),
                top_samples: entry.top_samples.clone(),
            });
        }
    }
    peaks
}

impl Peak {
    /// The eight reported values with their names, in the reference's order.
    pub fn values(&self) -> [(&'static str, PyNum); 8] {
        let s = &self.stats;
        [
            ("sub_count", PyNum::Int(s.sub_count)),
            ("samp_count", PyNum::Int(s.samp_count)),
            ("samp_sub_count_max", PyNum::Int(s.samp_sub_count_max)),
            ("samp_sub_count_mean", s.samp_sub_count_mean),
            ("samp_sub_count_std", PyNum::Float(s.samp_sub_count_std)),
            ("samp_sub_ratio", PyNum::Float(s.samp_sub_ratio)),
            ("global_samp_sub_count_max", self.global_samp_sub_count_max),
            ("global_threshold_suggested", self.global_threshold_suggested),
        ]
    }

    /// The reference's log lines for this peak: `TelemetryPeak(a, b)` then one
    /// `\tname: value` line per value, floats rounded to two places.
    pub fn log_lines(&self) -> Vec<String> {
        let mut lines = vec![format!("TelemetryPeak({})", self.key.join(", "))];
        for (name, v) in self.values() {
            let shown = match v {
                PyNum::Int(i) => i.to_string(),
                PyNum::Float(f) => py_float_repr(round2(f)),
            };
            lines.push(format!("\t{name}: {shown}"));
        }
        lines
    }
}

/// The peaks as the reference's `-o` file holds them: nested by dimension, eight values each.
pub fn peaks_to_json(peaks: &[Peak]) -> String {
    nest(peaks.iter().map(|p| {
        (p.key.as_slice(), PyJson::Array(p.values().iter().map(|(_, v)| PyJson::Num(*v)).collect()))
    }))
    .to_pretty_string()
}
