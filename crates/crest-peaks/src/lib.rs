//! The peak detector of crest: waves of submissions that stand out against a baseline.
//!
//! This is VMware's telemetry-peak-analyzer, rule for rule and digit for digit. Telemetry is
//! split into one series per *pair* of dimension values (verdict × file type, impact × threat
//! name…). For the window under test, the **local table** ([`LocalTable`]) counts each pair's
//! submissions and distinct samples; the **global table** ([`GlobalTable`]) holds each pair's
//! baseline from earlier windows. A pair is a **peak** ([`detect`]) when it reaches its
//! threshold and its samples behave unlike its history. Afterwards the window is folded into
//! the global table ([`GlobalTable::refresh`]).
//!
//! The detector is pure: it never opens files or reads clocks. A source feeds records to
//! [`PeakAccumulator`]s (one per part of the input), the caller merges them and calls
//! [`PeakAccumulator::finish`], and loads and saves the global table as text.
//!
//! ```
//! use crest_core::time::{LocalClock, WallTime};
//! use crest_peaks::{GlobalTable, PeakConfig, PeakPlan, Preset, Window, detect};
//!
//! let window = Window {
//!     start: WallTime::parse_cli("2020-11-04").unwrap(),
//!     end: WallTime::parse_cli("2020-11-05").unwrap(),
//! };
//! let plan = PeakPlan::new(PeakConfig::preset(Preset::File), window, LocalClock::utc());
//! let tallies = plan.accumulator().finish(); // a source would feed records first
//! let global = GlobalTable::default();
//! assert!(detect(&tallies.local, &global, None).is_empty());
//! ```

mod accumulate;
mod config;
mod detect;
mod global;
mod local;

pub use accumulate::{
    DayTable, InvalidRecord, PairKey, PeakAccumulator, PeakPlan, Tallies, Unusable, Window,
};
pub use config::{
    DEFAULT_GLOBAL_TABLE_AGE_DAYS, Floors, LOCAL_MIN_COUNT, PEAK_GLOBAL_COUNT_WEIGHT,
    PEAK_MIN_SAMP_SUB_RATIO, PeakConfig, PeakFields, Preset,
};
pub use detect::{Peak, PeakRules, detect, peaks_to_json};
pub use global::{GlobalTable, GstEntry, GstError, nest, window_count};
pub use local::{LocalEntry, LocalStats, LocalTable, SampleCounts, TableFull};
