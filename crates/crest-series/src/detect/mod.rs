//! Streaming detectors: each consumes one slot at a time (no look-ahead), keeps serialisable
//! state (a checkpoint restored with serde continues exactly where it stopped), and scores
//! every slot in `[0, 1]` with its own figures beside the score.
//!
//! Slots are on a regular grid: the caller feeds `None` for a slot without a value, so a
//! detector never has to guess where the gaps are. `time` is the slot's start in seconds
//! since the Unix epoch (seasonal detectors read the hour of day and of week from it).
//!
//! Input hygiene, the same for every detector: a non-finite value (NaN, ±inf) is treated as
//! missing, and a finite value is clamped to `±`[`MAX_ABS`] so that running sums and
//! squares stay finite (a checkpoint must hold finite numbers only). Scores are always
//! finite and in `[0, 1]`; a missing value scores 0.
//!
//! The methods (see [`Method`]): `hw` (Graphite's Holt-Winters, exact), `stdev`, `cv`,
//! `timeshift` (Graphite's functions and compositions), `mad` (rolling median / MAD),
//! `seasonal` (hour-of-day and hour-of-week profiles) and `ensemble`, the default, which
//! combines them. Most scores come from a z-like statistic through one common map,
//! [`z_score`], so that members are comparable.

/// The most figures a detector reports beside its score.
pub const MAX_FIGURES: usize = 6;

/// What a detector says about one slot.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scored {
    /// Anomaly score in `[0, 1]`: 0 is normal, 1 is certainly anomalous. 0 for a missing value
    /// and while the detector is still learning.
    pub score: f64,
    /// The detector's own figures, in the order of [`Detector::columns`]; unused places are
    /// `None`.
    pub figures: [Option<f64>; MAX_FIGURES],
}

impl Scored {
    /// A score with no figures.
    pub const fn bare(score: f64) -> Self {
        Scored { score, figures: [None; MAX_FIGURES] }
    }
}

/// A streaming anomaly detector over one series.
pub trait Detector {
    /// The names of the figures [`Detector::push`] reports, in order (at most
    /// [`MAX_FIGURES`]), e.g. `["forecast", "lower", "upper"]`.
    fn columns(&self) -> &'static [&'static str];

    /// Scores the next slot (`value` is `None` when the slot has no value).
    fn push(&mut self, time: i64, value: Option<f64>) -> Scored;
}

mod cv;
mod ensemble;
mod hw;
mod mad;
mod method;
mod seasonal;
mod stdev;
mod timeshift;
mod util;

pub use cv::CvDetector;
pub use ensemble::EnsembleDetector;
pub use hw::HwDetector;
pub use mad::MadDetector;
pub use method::{AnyDetector, Method, MethodParams, ParamError};
pub use seasonal::SeasonalDetector;
pub use stdev::StdevDetector;
pub use timeshift::TimeShiftDetector;
pub use util::{MAX_ABS, z_score};
