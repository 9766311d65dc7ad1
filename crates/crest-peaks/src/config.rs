//! What the peak detector reads and the constants of its rules.

use std::collections::BTreeMap;

use crest_core::time::TimeFormat;

/// Submissions a pair needs in the window before its top sample's share counts (rule b).
pub const LOCAL_MIN_COUNT: i64 = 50;
/// A pair whose samples are re-submitted more than this share of the historical maximum
/// rate is suspicious (rule a).
pub const PEAK_GLOBAL_COUNT_WEIGHT: f64 = 0.8;
/// A pair where one sample makes up more than this share of submissions is suspicious (rule b).
pub const PEAK_MIN_SAMP_SUB_RATIO: f64 = 0.5;
/// Days before "now" from which the input builds a baseline when there is no table yet.
pub const DEFAULT_GLOBAL_TABLE_AGE_DAYS: i64 = 7;

/// Which fields of a record the detector reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeakFields {
    /// The record's timestamp.
    pub time: String,
    /// The sample: the thing submitted again and again (a file hash, an event id).
    pub sample: String,
    /// The dimensions: one series per combination of their values (1 or more).
    pub dims: Vec<String>,
    /// Fields that must be present but affect nothing (the reference groups on them).
    pub cross: Vec<String>,
}

/// Per-value floors on the first dimension: a pair's suggested threshold never starts below
/// its floor (the file preset asks 90 submissions of `malicious` and 500 of `benign`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Floors(BTreeMap<String, i64>);

impl Floors {
    /// Floors from `(first-dimension value, floor)` pairs.
    pub fn new<I: IntoIterator<Item = (String, i64)>>(floors: I) -> Self {
        Floors(floors.into_iter().collect())
    }

    /// The floor for a first-dimension value (0 when none is set).
    pub fn get(&self, dim0: &str) -> i64 {
        self.0.get(dim0).copied().unwrap_or(0)
    }

    /// Sets or replaces one floor.
    pub fn set(&mut self, dim0: String, floor: i64) {
        self.0.insert(dim0, floor);
    }

    /// All floors, sorted by value.
    pub fn iter(&self) -> impl Iterator<Item = (&str, i64)> {
        self.0.iter().map(|(k, v)| (k.as_str(), *v))
    }
}

/// The two analyzers of telemetry-peak-analyzer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// `FileTypePeakAnalyzer`: sandbox file submissions by verdict and file type.
    File,
    /// `NetworkTypePeakAnalyzer`: network events by impact and threat name.
    Network,
}

impl Preset {
    /// Recognises a preset by crest's short name or the reference's class path.
    pub fn from_name(name: &str) -> Option<Preset> {
        match name {
            "file" | "telemetry_peak_analyzer.analyzers.FileTypePeakAnalyzer" => Some(Preset::File),
            "network" | "telemetry_peak_analyzer.analyzers.NetworkTypePeakAnalyzer" => {
                Some(Preset::Network)
            }
            _ => None,
        }
    }

    /// The reference's class name, for its log lines.
    pub fn class_name(self) -> &'static str {
        match self {
            Preset::File => "FileTypePeakAnalyzer",
            Preset::Network => "NetworkTypePeakAnalyzer",
        }
    }

    /// The fields the preset reads.
    pub fn fields(self) -> PeakFields {
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        match self {
            Preset::File => PeakFields {
                time: "utc_timestamp".into(),
                sample: "file.sha1".into(),
                dims: owned(&["task.severity", "file.llfile_type"]),
                cross: owned(&["source.user_id", "source.origin"]),
            },
            Preset::Network => PeakFields {
                time: "utc_timestamp".into(),
                sample: "event.id".into(),
                dims: owned(&["event.impact", "threat.name.keyword"]),
                cross: owned(&["source.user_id"]),
            },
        }
    }

    /// The preset's threshold floors.
    pub fn floors(self) -> Floors {
        match self {
            Preset::File => {
                Floors::new([("malicious".to_string(), 90), ("benign".to_string(), 500)])
            }
            Preset::Network => Floors::default(),
        }
    }
}

/// Everything the detector needs to know about its input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeakConfig {
    /// The fields read.
    pub fields: PeakFields,
    /// How the time field encodes an instant.
    pub time_format: TimeFormat,
    /// Threshold floors per first-dimension value.
    pub floors: Floors,
}

impl PeakConfig {
    /// The configuration of a preset.
    pub fn preset(preset: Preset) -> Self {
        PeakConfig {
            fields: preset.fields(),
            time_format: TimeFormat::EpochMillis,
            floors: preset.floors(),
        }
    }

    /// The record fields in slot order: time, sample, dimensions, cross dimensions.
    pub fn slot_fields(&self) -> Vec<String> {
        let f = &self.fields;
        let mut v = vec![f.time.clone(), f.sample.clone()];
        v.extend(f.dims.iter().cloned());
        v.extend(f.cross.iter().cloned());
        v
    }
}
