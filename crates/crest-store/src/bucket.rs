//! Bucket values: what one bucket of each metric type holds, how a write updates it, and how
//! sub-buckets condense into their bucket.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::interval::MAX_ABS_TIMESTAMP;
use crate::schema::MetricType;

/// The value of one observation: a number, or a text for histograms and sets.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    /// An increment (count), a reading (gauge, moments) or a member (histogram, set).
    Num(f64),
    /// A member of a histogram or set (a file type, a host).
    Text(&'a str),
}

impl From<f64> for Value<'_> {
    fn from(x: f64) -> Self {
        Value::Num(x)
    }
}

impl From<i64> for Value<'_> {
    fn from(x: i64) -> Self {
        Value::Num(x as f64)
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(s: &'a str) -> Self {
        Value::Text(s)
    }
}

/// One observation: a metric name, a time in Unix seconds and a value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Observation<'a> {
    /// The metric's name (non-empty, no `:`).
    pub name: &'a str,
    /// When it happened, in Unix seconds.
    pub timestamp: i64,
    /// What was observed.
    pub value: Value<'a>,
}

impl<'a> Observation<'a> {
    /// An observation of `value` for `name` at `timestamp` (Unix seconds).
    pub fn new(name: &'a str, timestamp: i64, value: impl Into<Value<'a>>) -> Self {
        Observation { name, timestamp, value: value.into() }
    }
}

/// A value checked against the metric type: a finite number, or a member text.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Sample<'a> {
    Num(f64),
    Member(Cow<'a, str>),
}

impl<'a> Sample<'a> {
    /// The usable form of `obs` for `ty`, or `None` when it must be rejected: a text for a
    /// numeric type, a non-finite number, or a timestamp beyond [`MAX_ABS_TIMESTAMP`].
    #[inline]
    pub(crate) fn check(ty: MetricType, obs: &Observation<'a>) -> Option<Sample<'a>> {
        if obs.timestamp.unsigned_abs() > MAX_ABS_TIMESTAMP as u64 {
            return None;
        }
        match (ty, obs.value) {
            (MetricType::Histogram | MetricType::Set, Value::Text(s)) => {
                Some(Sample::Member(Cow::Borrowed(s)))
            }
            (MetricType::Histogram | MetricType::Set, Value::Num(x)) if x.is_finite() => {
                Some(Sample::Member(Cow::Owned(member_text(x))))
            }
            (_, Value::Num(x)) if x.is_finite() => Some(Sample::Num(x)),
            _ => None,
        }
    }
}

/// The member text of a number: Rust's shortest round-trip decimal, `-0` written `0`.
pub fn member_text(x: f64) -> String {
    format!("{}", if x == 0.0 { 0.0 } else { x })
}

/// Count, sum, sum of squares, min and max of the values in a bucket.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Moments {
    /// How many values.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// The sum of their squares.
    pub sumsq: f64,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
}

impl Moments {
    /// No values yet: merging it changes nothing.
    const EMPTY: Moments =
        Moments { count: 0, sum: 0.0, sumsq: 0.0, min: f64::INFINITY, max: f64::NEG_INFINITY };

    /// The moments of one value.
    pub fn of(x: f64) -> Moments {
        Moments { count: 1, sum: x, sumsq: x * x, min: x, max: x }
    }

    /// Adds one value.
    #[inline]
    pub fn add(&mut self, x: f64) {
        self.count += 1;
        self.sum += x;
        self.sumsq += x * x;
        self.min = self.min.min(x);
        self.max = self.max.max(x);
    }

    /// Folds in the moments of other values.
    pub fn merge(&mut self, other: &Moments) {
        self.count += other.count;
        self.sum += other.sum;
        self.sumsq += other.sumsq;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// The mean.
    pub fn mean(&self) -> f64 {
        self.sum / self.count as f64
    }

    /// The population variance (clamped at 0: sums of squares lose precision when the
    /// spread is tiny next to the mean).
    pub fn variance(&self) -> f64 {
        let n = self.count as f64;
        (self.sumsq / n - self.mean() * self.mean()).max(0.0)
    }

    /// The sample variance (n - 1 in the denominator); `None` below two values.
    pub fn sample_variance(&self) -> Option<f64> {
        (self.count >= 2).then(|| self.variance() * self.count as f64 / (self.count - 1) as f64)
    }
}

/// The value of one bucket (or sub-bucket).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Bucket {
    /// The sum of the increments.
    Count(f64),
    /// The last value written.
    Gauge(f64),
    /// Occurrences per member.
    Histogram(BTreeMap<String, u64>),
    /// The distinct members.
    Set(BTreeSet<String>),
    /// Count, sum, sum of squares, min and max.
    Moments(Moments),
}

impl Bucket {
    /// A bucket holding one sample.
    pub(crate) fn first(ty: MetricType, sample: &Sample<'_>) -> Bucket {
        let mut bucket = match ty {
            MetricType::Count => Bucket::Count(0.0),
            MetricType::Gauge => Bucket::Gauge(0.0),
            MetricType::Histogram => Bucket::Histogram(BTreeMap::new()),
            MetricType::Set => Bucket::Set(BTreeSet::new()),
            MetricType::Moments => Bucket::Moments(Moments::EMPTY),
        };
        bucket.add(sample);
        bucket
    }

    /// Adds one sample that [`Sample::check`] accepted for this bucket's type.
    #[inline]
    pub(crate) fn add(&mut self, sample: &Sample<'_>) {
        match (self, sample) {
            (Bucket::Count(c), Sample::Num(x)) => *c += x,
            (Bucket::Gauge(g), Sample::Num(x)) => *g = *x,
            (Bucket::Moments(m), Sample::Num(x)) => m.add(*x),
            (bucket, sample) => bucket.add_member(sample),
        }
    }

    /// Adds a member to a histogram or set (kept out of line: it allocates on a new member).
    #[inline(never)]
    fn add_member(&mut self, sample: &Sample<'_>) {
        match (self, sample) {
            (Bucket::Histogram(h), Sample::Member(s)) => match h.get_mut(s.as_ref()) {
                Some(n) => *n += 1,
                None => {
                    h.insert(s.clone().into_owned(), 1);
                }
            },
            (Bucket::Set(set), Sample::Member(s)) => {
                if !set.contains(s.as_ref()) {
                    set.insert(s.clone().into_owned());
                }
            }
            _ => debug_assert!(false, "sample does not fit the bucket's type"),
        }
    }

    /// Condenses a later bucket (or sub-bucket) into this one: counts and histograms add,
    /// sets unite, moments merge, and a gauge takes the later value.
    pub fn merge(&mut self, later: Bucket) {
        match (self, later) {
            (Bucket::Count(a), Bucket::Count(b)) => *a += b,
            (Bucket::Gauge(a), Bucket::Gauge(b)) => *a = b,
            (Bucket::Moments(a), Bucket::Moments(b)) => a.merge(&b),
            (Bucket::Histogram(a), Bucket::Histogram(b)) => {
                for (k, n) in b {
                    *a.entry(k).or_insert(0) += n;
                }
            }
            (Bucket::Set(a), Bucket::Set(b)) => a.extend(b),
            _ => debug_assert!(false, "cannot merge buckets of different types"),
        }
    }

    /// The type of metric this bucket belongs to.
    pub fn metric_type(&self) -> MetricType {
        match self {
            Bucket::Count(_) => MetricType::Count,
            Bucket::Gauge(_) => MetricType::Gauge,
            Bucket::Histogram(_) => MetricType::Histogram,
            Bucket::Set(_) => MetricType::Set,
            Bucket::Moments(_) => MetricType::Moments,
        }
    }

    /// Condenses buckets in time order into one; `None` for none.
    pub fn condense(parts: impl IntoIterator<Item = Bucket>) -> Option<Bucket> {
        let mut parts = parts.into_iter();
        let mut first = parts.next()?;
        for part in parts {
            first.merge(part);
        }
        Some(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(value: Value<'_>) -> Observation<'_> {
        Observation { name: "m", timestamp: 0, value }
    }

    fn bucket_of(ty: MetricType, values: &[Value<'_>]) -> Bucket {
        let mut samples = values.iter().map(|v| Sample::check(ty, &obs(*v)).unwrap());
        let mut b = Bucket::first(ty, &samples.next().unwrap());
        samples.for_each(|s| b.add(&s));
        b
    }

    #[test]
    fn writes_per_type() {
        use Value::{Num, Text};
        assert_eq!(bucket_of(MetricType::Count, &[Num(1.0), Num(2.5)]), Bucket::Count(3.5));
        assert_eq!(bucket_of(MetricType::Gauge, &[Num(7.0), Num(2.0)]), Bucket::Gauge(2.0));
        let h = bucket_of(MetricType::Histogram, &[Text("zip"), Num(443.0), Text("zip")]);
        let expected = BTreeMap::from([("443".to_owned(), 1), ("zip".to_owned(), 2)]);
        assert_eq!(h, Bucket::Histogram(expected));
        let s = bucket_of(MetricType::Set, &[Text("a"), Text("b"), Text("a"), Num(-0.0)]);
        let expected = BTreeSet::from(["0".to_owned(), "a".to_owned(), "b".to_owned()]);
        assert_eq!(s, Bucket::Set(expected));
        let m = bucket_of(MetricType::Moments, &[Num(2.0), Num(4.0), Num(-1.0)]);
        let expected = Moments { count: 3, sum: 5.0, sumsq: 21.0, min: -1.0, max: 4.0 };
        assert_eq!(m, Bucket::Moments(expected));
    }

    #[test]
    fn rejected_values() {
        let check = |ty, v| Sample::check(ty, &obs(v));
        assert_eq!(check(MetricType::Count, Value::Text("1")), None);
        assert_eq!(check(MetricType::Moments, Value::Num(f64::NAN)), None);
        assert_eq!(check(MetricType::Set, Value::Num(f64::INFINITY)), None);
        assert!(check(MetricType::Set, Value::Text("")).is_some());
        let far = Observation { name: "m", timestamp: MAX_ABS_TIMESTAMP + 1, value: 1.0.into() };
        assert_eq!(Sample::check(MetricType::Count, &far), None);
    }

    #[test]
    fn condense_rules() {
        let c = Bucket::condense([Bucket::Count(1.0), Bucket::Count(2.0), Bucket::Count(0.5)]);
        assert_eq!(c, Some(Bucket::Count(3.5)));
        let g = Bucket::condense([Bucket::Gauge(1.0), Bucket::Gauge(9.0), Bucket::Gauge(4.0)]);
        assert_eq!(g, Some(Bucket::Gauge(4.0)));
        let h = |pairs: &[(&str, u64)]| {
            Bucket::Histogram(pairs.iter().map(|(k, n)| (k.to_string(), *n)).collect())
        };
        let merged = Bucket::condense([h(&[("a", 1), ("b", 2)]), h(&[("b", 3), ("c", 1)])]);
        assert_eq!(merged, Some(h(&[("a", 1), ("b", 5), ("c", 1)])));
        let s = |items: &[&str]| Bucket::Set(items.iter().map(|s| s.to_string()).collect());
        assert_eq!(Bucket::condense([s(&["a", "b"]), s(&["b", "c"])]), Some(s(&["a", "b", "c"])));
        let mut m = Moments::of(3.0);
        m.add(5.0);
        let merged = Bucket::condense([Bucket::Moments(Moments::of(-2.0)), Bucket::Moments(m)]);
        let expected = Moments { count: 3, sum: 6.0, sumsq: 38.0, min: -2.0, max: 5.0 };
        assert_eq!(merged, Some(Bucket::Moments(expected)));
        assert_eq!(Bucket::condense(Vec::new()), None);
    }

    #[test]
    fn moment_statistics() {
        let mut m = Moments::of(2.0);
        for x in [4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0] {
            m.add(x);
        }
        assert_eq!(m.mean(), 5.0);
        assert_eq!(m.variance(), 4.0);
        assert_eq!(m.sample_variance(), Some(32.0 / 7.0));
        assert_eq!(Moments::of(1.0).sample_variance(), None);
    }
}
