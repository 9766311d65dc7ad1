//! Profile definitions: which messages, whose, which features and how each is scored.
//!
//! [`ProfileSpec`] is the raw, serializable form read from `crest.toml` (unknown keys are
//! errors); [`Profile::build`] checks it and turns it into the typed form the model runs.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::value::{Field, FieldPath, Fields};

/// Why a profile definition is unusable; names the profile and the key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("profile '{profile}': {key}: {message}")]
pub struct SpecError {
    /// The profile's name.
    pub profile: String,
    /// The offending key, as written in the config (`feature[2].weight`).
    pub key: String,
    /// What is wrong, with the bad value.
    pub message: String,
}

/// How scores treat the messages of one batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scoring {
    /// crest's: every message is scored against everything before it, one at a time, so scores
    /// do not depend on batch boundaries or sizes.
    #[default]
    Crest,
    /// ScryWarden's: a batch is scored against the counts stored before it, with its in-batch
    /// counting rules, so the same batches give ScryWarden's scores to the last digit.
    Scrywarden,
}

/// The scoring function of one feature.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReporterKind {
    /// ScryWarden's Mandatory: unseen → 1; rarer than the actor's average value → 1 − c/N.
    #[default]
    Mandatory,
    /// ScryWarden's Optional: unseen → the actor's share of nulls; seen or null → 0.
    Optional,
    /// A number against the actor's robust range (median and MAD of its history).
    Numeric,
    /// The hour of day (UTC) against the actor's daily habit.
    Hour,
    /// The day of week (UTC) against the actor's weekly habit.
    Weekday,
    /// Novelty for the actor (1 when unseen, then 1/2, 1/3 … as it recurs), scaled by how rare
    /// the value is across all actors.
    Rarity,
}

impl ReporterKind {
    /// The name used in configs and output.
    pub fn name(self) -> &'static str {
        match self {
            ReporterKind::Mandatory => "mandatory",
            ReporterKind::Optional => "optional",
            ReporterKind::Numeric => "numeric",
            ReporterKind::Hour => "hour",
            ReporterKind::Weekday => "weekday",
            ReporterKind::Rarity => "rarity",
        }
    }

    /// Whether the reporter reads the event time rather than a field.
    pub fn is_temporal(self) -> bool {
        matches!(self, ReporterKind::Hour | ReporterKind::Weekday)
    }
}

/// A field condition's expected value(s): one value, or a list of which any may match.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Expect {
    /// Any of these values.
    AnyOf(Vec<Value>),
    /// Exactly this value.
    One(Value),
}

/// One feature of a profile, as written in the config.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSpec {
    /// The feature's name (defaults to the field, or the fields joined by '+').
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// One field, by dotted name (ScryWarden's `Single`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// One field, by explicit keys into nested JSON (list elements by decimal index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<Vec<String>>,
    /// Several fields combined into one value (ScryWarden's `Multi`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<String>>,
    /// How the value is scored.
    #[serde(default)]
    pub reporter: ReporterKind,
    /// Multiplies the score (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
    /// numeric: how many robust deviations from the median count as normal (default 3.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deviations: Option<f64>,
    /// numeric: values the actor must have before it is scored (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_history: Option<f64>,
}

/// A profile as written in the config.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileSpec {
    /// Conditions a message must meet, field → value (or list of values, any of which).
    #[serde(default, rename = "match", skip_serializing_if = "BTreeMap::is_empty")]
    pub matches: BTreeMap<String, Expect>,
    /// Fields a message must have (any value but null).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub require: Vec<String>,
    /// The field naming the actor (a string).
    pub actor: String,
    /// The field holding the event time (RFC 3339, `YYYY-MM-DD HH:MM:SS`, or epoch seconds or
    /// milliseconds); without it, the time the message was read (ScryWarden's only choice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// `crest` (default: batch-independent) or `scrywarden` (its batch semantics, exactly).
    #[serde(default)]
    pub scoring: Scoring,
    /// No anomalies for an actor during its first this-long (e.g. "7d"); "0s" alerts at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learning: Option<String>,
    /// Counts halve over this duration (e.g. "30d"), so old habits fade; "none" keeps them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub half_life: Option<String>,
    /// The features.
    #[serde(default, rename = "feature")]
    pub features: Vec<FeatureSpec>,
    /// How `investigate` picks windows of events.
    #[serde(default)]
    pub collector: CollectorSpec,
    /// How `investigate` decides what is malicious (default: ScryWarden's decay analyzer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analyzer: Option<crate::analyzer::Analyzer>,
}

/// ScryWarden's time-range collector: windows of events, investigated in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectorSpec {
    /// The window's length (default "60s").
    #[serde(default = "default_window")]
    pub window: String,
    /// How long to wait before looking again when nothing is new (default "10s").
    #[serde(default = "default_interval")]
    pub interval: String,
    /// How far a window's end must be in the past before it is read, for late events
    /// (default "0s"; ScryWarden could not set it).
    #[serde(default = "default_delay")]
    pub delay: String,
}

fn default_window() -> String {
    "60s".into()
}
fn default_interval() -> String {
    "10s".into()
}
fn default_delay() -> String {
    "0s".into()
}

impl Default for CollectorSpec {
    fn default() -> Self {
        CollectorSpec {
            window: default_window(),
            interval: default_interval(),
            delay: default_delay(),
        }
    }
}

/// A checked collector: durations in microseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Collector {
    /// The window's length.
    pub window_us: i64,
    /// The pause when nothing is new.
    pub interval_us: i64,
    /// How far in the past a window must end.
    pub delay_us: i64,
}

/// How a feature's value is pulled from a message.
#[derive(Clone, Debug, PartialEq)]
pub enum Extract {
    /// One field.
    Single(FieldPath),
    /// Several fields as one JSON array.
    Multi(Vec<FieldPath>),
    /// The event time (for the temporal reporters).
    Time,
}

/// A checked feature.
#[derive(Clone, Debug, PartialEq)]
pub struct Feature {
    /// The feature's name (a field name in ScryWarden's terms).
    pub name: String,
    /// Where its value comes from.
    pub extract: Extract,
    /// How it is scored.
    pub reporter: ReporterKind,
    /// Multiplies the score.
    pub weight: f64,
    /// numeric: robust deviations counted as normal.
    pub deviations: f64,
    /// numeric: history needed before scoring.
    pub min_history: f64,
}

/// A checked profile, ready for the model.
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    /// The profile's name.
    pub name: String,
    /// Conditions, each a path and the values any of which matches.
    pub matches: Vec<(FieldPath, Vec<Value>)>,
    /// Fields that must be present.
    pub require: Vec<FieldPath>,
    /// The actor's field.
    pub actor: FieldPath,
    /// The event time's field, if any.
    pub time: Option<FieldPath>,
    /// Batch semantics.
    pub scoring: Scoring,
    /// The learning period per actor, in microseconds.
    pub learning_us: i64,
    /// The half-life of counts, in microseconds (`None`: counts never fade).
    pub half_life_us: Option<i64>,
    /// The features, in order.
    pub features: Vec<Feature>,
    /// How windows are picked.
    pub collector: Collector,
    /// How windows are judged.
    pub analyzer: crate::analyzer::Analyzer,
}

/// Parses a duration: a number of seconds, or a number with a unit `ms`, `s`, `m`, `h`, `d`,
/// `w` ("90s", "1.5h", "7d"). Microseconds.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a duration (e.g. 90s, 15m, 12h, 7d)"))?;
    let scale = match unit.trim() {
        "" | "s" => 1e6,
        "ms" => 1e3,
        "m" | "min" => 60e6,
        "h" => 3600e6,
        "d" => 86_400e6,
        "w" => 7.0 * 86_400e6,
        u => return Err(format!("'{text}': unknown unit '{u}' (use ms, s, m, h, d or w)")),
    };
    let us = n * scale;
    if !(0.0..9e18).contains(&us) {
        return Err(format!("'{text}' is not a non-negative duration"));
    }
    Ok(us.round() as i64)
}

impl fmt::Display for Scoring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scoring::Crest => "crest",
            Scoring::Scrywarden => "scrywarden",
        })
    }
}

impl Profile {
    /// Checks a spec and builds the profile; every problem is reported, not only the first.
    pub fn build(name: &str, spec: &ProfileSpec) -> Result<Profile, Vec<SpecError>> {
        let mut errors = Vec::new();
        let mut err = |key: String, message: String| {
            errors.push(SpecError { profile: name.to_string(), key, message })
        };
        if spec.actor.trim().is_empty() {
            err("actor".into(), "must name the field holding the actor".into());
        }
        let learning_us = match spec.learning.as_deref().map(parse_duration).transpose() {
            Ok(v) => v.unwrap_or(0),
            Err(e) => {
                err("learning".into(), e);
                0
            }
        };
        let half_life_us = match spec.half_life.as_deref() {
            None | Some("none") => None,
            Some(t) => match parse_duration(t) {
                Ok(0) => {
                    err("half_life".into(), "must be longer than 0 (or \"none\")".into());
                    None
                }
                Ok(v) => Some(v),
                Err(e) => {
                    err("half_life".into(), e);
                    None
                }
            },
        };
        if spec.scoring == Scoring::Scrywarden && half_life_us.is_some() {
            err(
                "half_life".into(),
                "scoring = \"scrywarden\" counts without decay; remove half_life".into(),
            );
        }
        if spec.features.is_empty() {
            err("feature".into(), "a profile needs at least one feature".into());
        }
        let mut features: Vec<Feature> = Vec::new();
        for (i, f) in spec.features.iter().enumerate() {
            let key = |k: &str| format!("feature[{i}].{k}");
            let given = [f.field.is_some(), f.path.is_some(), f.fields.is_some()];
            let extract = if f.reporter.is_temporal() {
                if given.iter().any(|g| *g) {
                    err(
                        key("field"),
                        format!("'{}' reads the event time, not a field", f.reporter.name()),
                    );
                }
                Extract::Time
            } else {
                match (&f.field, &f.path, &f.fields) {
                    (Some(x), None, None) => Extract::Single(FieldPath::dotted(x)),
                    (None, Some(p), None) if !p.is_empty() => {
                        Extract::Single(FieldPath::keys(p.clone()))
                    }
                    (None, None, Some(fs)) if !fs.is_empty() => {
                        Extract::Multi(fs.iter().map(|x| FieldPath::dotted(x)).collect())
                    }
                    _ => {
                        err(
                            key("field"),
                            "give exactly one of field, path or fields (non-empty)".into(),
                        );
                        continue;
                    }
                }
            };
            if f.reporter == ReporterKind::Numeric && matches!(extract, Extract::Multi(_)) {
                err(key("fields"), "a numeric feature reads one field".into());
            }
            if spec.scoring == Scoring::Scrywarden
                && !matches!(f.reporter, ReporterKind::Mandatory | ReporterKind::Optional)
            {
                err(
                    key("reporter"),
                    format!(
                        "'{}' is crest's; scoring = \"scrywarden\" has mandatory and optional",
                        f.reporter.name()
                    ),
                );
            }
            let weight = f.weight.unwrap_or(1.0);
            if !(weight.is_finite() && weight >= 0.0) {
                err(key("weight"), format!("must be a number ≥ 0, got {weight}"));
            }
            let deviations = f.deviations.unwrap_or(3.5);
            if !(deviations.is_finite() && deviations > 0.0) {
                err(key("deviations"), format!("must be a number > 0, got {deviations}"));
            }
            let min_history = f.min_history.unwrap_or(10.0);
            if !(min_history.is_finite() && min_history >= 1.0) {
                err(key("min_history"), format!("must be a number ≥ 1, got {min_history}"));
            }
            let name = f.name.clone().unwrap_or_else(|| match &extract {
                Extract::Single(p) => p.display(),
                Extract::Multi(ps) => {
                    ps.iter().map(FieldPath::display).collect::<Vec<_>>().join("+")
                }
                Extract::Time => f.reporter.name().to_string(),
            });
            if features.iter().any(|g| g.name == name) {
                err(key("name"), format!("two features are named '{name}'"));
            }
            features.push(Feature {
                name,
                extract,
                reporter: f.reporter,
                weight,
                deviations,
                min_history,
            });
        }
        let mut duration = |key: &str, text: &str, min: i64| match parse_duration(text) {
            Ok(v) if v >= min => v,
            Ok(_) => {
                err(format!("collector.{key}"), format!("must be longer than 0, got '{text}'"));
                min
            }
            Err(e) => {
                err(format!("collector.{key}"), e);
                min
            }
        };
        let collector = Collector {
            window_us: duration("window", &spec.collector.window, 1),
            interval_us: duration("interval", &spec.collector.interval, 1),
            delay_us: duration("delay", &spec.collector.delay, 0),
        };
        let analyzer = spec.analyzer.unwrap_or_default();
        if let Err(e) = analyzer.validate() {
            err("analyzer".into(), e);
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Profile {
            collector,
            analyzer,
            name: name.to_string(),
            matches: spec
                .matches
                .iter()
                .map(|(k, e)| {
                    let values = match e {
                        Expect::AnyOf(v) => v.clone(),
                        Expect::One(v) => vec![v.clone()],
                    };
                    (FieldPath::dotted(k), values)
                })
                .collect(),
            require: spec.require.iter().map(|r| FieldPath::dotted(r)).collect(),
            actor: FieldPath::dotted(&spec.actor),
            time: spec.time.as_deref().map(FieldPath::dotted),
            scoring: spec.scoring,
            learning_us,
            half_life_us,
            features,
        })
    }

    /// The top-level keys of a message this profile reads (for a scanner's projection).
    pub fn top_keys(&self) -> Vec<&str> {
        let mut paths: Vec<&FieldPath> = self.matches.iter().map(|(p, _)| p).collect();
        paths.extend(&self.require);
        paths.push(&self.actor);
        paths.extend(&self.time);
        for f in &self.features {
            match &f.extract {
                Extract::Single(p) => paths.push(p),
                Extract::Multi(ps) => paths.extend(ps),
                Extract::Time => {}
            }
        }
        paths.into_iter().flat_map(FieldPath::top_keys).collect()
    }

    /// Whether a message belongs to this profile.
    pub fn matches<F: Fields + ?Sized>(&self, message: &F) -> bool {
        self.matches.iter().all(|(path, expect)| match path.get(message) {
            Some(v) => expect.iter().any(|e| v.equals(e) || plain_eq(e, &v)),
            None => false,
        }) && self.require.iter().all(|p| p.get(message).is_some_and(|v| !v.is_null()))
    }
}

/// A string condition matches a number or boolean written the same way ("80" and 80), since
/// CSV sources give every field as a string.
// A number's text is needed to compare it with a string; the allocation is the point.
#[allow(clippy::cmp_owned)]
fn plain_eq(expect: &Value, got: &Field<'_>) -> bool {
    match (expect, got.as_str()) {
        (Value::String(s), None) => {
            let got = got.to_value();
            (got.is_number() || got.is_boolean()) && *s == got.to_string()
        }
        (Value::Number(_) | Value::Bool(_), Some(s)) => *s == expect.to_string(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(90_000_000));
        assert_eq!(parse_duration("1.5h"), Ok(5_400_000_000));
        assert_eq!(parse_duration("7d"), Ok(7 * 86_400_000_000));
        assert_eq!(parse_duration("10"), Ok(10_000_000));
        assert!(parse_duration("7 days").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn every_error_is_reported_with_its_key() {
        let spec = ProfileSpec {
            actor: "user".into(),
            scoring: Scoring::Scrywarden,
            half_life: Some("3x".into()),
            features: vec![
                FeatureSpec { field: Some("a".into()), weight: Some(-1.0), ..Default::default() },
                FeatureSpec { reporter: ReporterKind::Hour, ..Default::default() },
                FeatureSpec::default(),
            ],
            ..Default::default()
        };
        let errors = Profile::build("p", &spec).unwrap_err();
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            ["half_life", "feature[0].weight", "feature[1].reporter", "feature[2].field"]
        );
        assert_eq!(
            errors[1].to_string(),
            "profile 'p': feature[0].weight: must be a number ≥ 0, got -1"
        );
    }

    #[test]
    fn matching() {
        let spec = ProfileSpec {
            matches: BTreeMap::from([
                ("type".into(), Expect::One(json!("auth"))),
                ("port".into(), Expect::AnyOf(vec![json!(22), json!(443)])),
            ]),
            require: vec!["user".into()],
            actor: "user".into(),
            features: vec![FeatureSpec { field: Some("country".into()), ..Default::default() }],
            ..Default::default()
        };
        let p = Profile::build("p", &spec).unwrap();
        assert!(p.matches(&json!({"type": "auth", "port": 22, "user": "a"})));
        assert!(p.matches(&json!({"type": "auth", "port": "443", "user": "a"})));
        assert!(!p.matches(&json!({"type": "auth", "port": 80, "user": "a"})));
        assert!(!p.matches(&json!({"type": "auth", "port": 22, "user": null})));
        assert!(!p.matches(&json!({"type": "proc", "port": 22, "user": "a"})));
    }
}
