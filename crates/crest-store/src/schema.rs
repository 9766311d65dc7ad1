//! What a store holds: one metric type and a set of intervals, shared by every name in it.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{SpecError, StoreError};
use crate::interval::IntervalSpec;

/// What each bucket of a metric accumulates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricType {
    /// A sum of increments (logins, bytes); condensed by adding.
    Count,
    /// The last value written (queue depth); condensed to the latest sub-bucket's value.
    Gauge,
    /// Occurrences per distinct value (file types, ports); condensed by adding per value.
    Histogram,
    /// Distinct values (hosts seen); condensed by union.
    Set,
    /// Count, sum, sum of squares, min and max, for mean and variance without raw values.
    Moments,
}

impl MetricType {
    /// The lower-case name, as in config files.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Count => "count",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::Set => "set",
            MetricType::Moments => "moments",
        }
    }
}

/// A store's layout: the metric type and the intervals every write fans out to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "SchemaConfig", into = "SchemaConfig")]
pub struct Schema {
    metric_type: MetricType,
    intervals: Vec<IntervalSpec>,
}

impl Schema {
    /// A schema, checked to have at least one interval and no two with the same name.
    pub fn new(metric_type: MetricType, intervals: Vec<IntervalSpec>) -> Result<Schema, SpecError> {
        if intervals.is_empty() {
            return Err(SpecError::NoIntervals);
        }
        for (i, spec) in intervals.iter().enumerate() {
            if intervals[..i].iter().any(|s| s.name() == spec.name()) {
                return Err(SpecError::DuplicateInterval { interval: spec.name().to_owned() });
            }
        }
        Ok(Schema { metric_type, intervals })
    }

    /// What each bucket accumulates.
    pub fn metric_type(&self) -> MetricType {
        self.metric_type
    }

    /// The intervals, in the order reports list them.
    pub fn intervals(&self) -> &[IntervalSpec] {
        &self.intervals
    }

    /// The position and spec of the interval called `name`.
    pub fn interval(&self, name: &str) -> Option<(usize, &IntervalSpec)> {
        self.intervals.iter().enumerate().find(|(_, s)| s.name() == name)
    }

    /// The interval called `name`, with its position, or an error listing the known ones.
    pub(crate) fn lookup(&self, name: &str) -> Result<(usize, &IntervalSpec), StoreError> {
        self.interval(name).ok_or_else(|| {
            let known: Vec<&str> = self.intervals.iter().map(IntervalSpec::name).collect();
            StoreError::UnknownInterval { interval: name.to_owned(), known: known.join(", ") }
        })
    }
}

impl fmt::Display for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.metric_type.as_str())?;
        for spec in &self.intervals {
            write!(f, " {spec}")?;
        }
        Ok(())
    }
}

/// A schema as written in a config file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SchemaConfig {
    /// What each bucket accumulates: count, gauge, histogram, set or moments.
    #[serde(rename = "type")]
    metric_type: MetricType,
    /// The intervals every write fans out to.
    intervals: Vec<IntervalSpec>,
}

impl TryFrom<SchemaConfig> for Schema {
    type Error = SpecError;
    fn try_from(c: SchemaConfig) -> Result<Schema, SpecError> {
        Schema::new(c.metric_type, c.intervals)
    }
}

impl From<Schema> for SchemaConfig {
    fn from(s: Schema) -> SchemaConfig {
        SchemaConfig { metric_type: s.metric_type, intervals: s.intervals }
    }
}

/// Checks a metric or interval name: non-empty and free of `:`, the Redis key separator.
pub(crate) fn check_segment(what: &'static str, name: &str) -> Result<(), SpecError> {
    if name.is_empty() || memchr::memchr(b':', name.as_bytes()).is_some() {
        return Err(SpecError::BadName { what, name: name.to_owned() });
    }
    Ok(())
}

/// Checks a metric name (non-empty, no `:`).
pub fn check_name(name: &str) -> Result<(), SpecError> {
    check_segment("metric name", name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interval::Step;

    #[test]
    fn schema_rules() {
        let minute = IntervalSpec::new("minute", Step::Seconds(60), Some(60), None).unwrap();
        assert_eq!(Schema::new(MetricType::Count, vec![]), Err(SpecError::NoIntervals));
        let twice = Schema::new(MetricType::Count, vec![minute.clone(), minute.clone()]);
        assert!(matches!(twice, Err(SpecError::DuplicateInterval { .. })));
        let schema = Schema::new(MetricType::Moments, vec![minute]).unwrap();
        assert_eq!(schema.to_string(), "moments: minute=60s×60");
        assert_eq!(schema.interval("minute").unwrap().0, 0);
        assert!(schema.interval("hour").is_none());
    }

    #[test]
    fn names() {
        assert!(check_name("logins.failed").is_ok());
        assert!(check_name("").is_err());
        let err = check_name("host:1").unwrap_err();
        assert_eq!(
            err.to_string(),
            "metric name \"host:1\" is invalid: it must be non-empty and contain no ':'"
        );
    }

    #[test]
    fn config_form() {
        let json = r#"{"type":"histogram","intervals":[{"name":"day","step":"daily","steps":30}]}"#;
        let schema: Schema = serde_json::from_str(json).unwrap();
        assert_eq!(schema.metric_type(), MetricType::Histogram);
        assert_eq!(schema.intervals()[0].steps(), Some(30));
        assert!(serde_json::from_str::<Schema>(r#"{"type":"count","intervals":[]}"#).is_err());
        assert!(serde_json::from_str::<Schema>(r#"{"type":"list","intervals":[]}"#).is_err());
    }
}
