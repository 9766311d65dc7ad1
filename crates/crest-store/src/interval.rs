//! Intervals: how wide a bucket is, how many are kept, and the optional finer resolution.
//!
//! Buckets are aligned to the Unix epoch in UTC: a seconds step puts `ts` in bucket
//! `floor(ts / step)`, so bucket ids are deterministic and mergeable across nodes. Calendar
//! steps (ISO weeks, months, years) number their buckets consecutively from 1970 so that
//! "N buckets older" is a subtraction for every kind of step.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::SpecError;

/// Seconds in a day.
const DAY: i64 = 86_400;

/// Timestamps beyond ±2^40 s (about 34,800 years) are rejected, so bucket math never overflows.
pub const MAX_ABS_TIMESTAMP: i64 = 1 << 40;

/// Clamps a timestamp into ±[`MAX_ABS_TIMESTAMP`], where bucket math cannot overflow.
pub(crate) fn clamp_ts(ts: i64) -> i64 {
    ts.clamp(-MAX_ABS_TIMESTAMP, MAX_ABS_TIMESTAMP)
}

/// The longest seconds step or resolution accepted (about 100 years).
const MAX_STEP_SECONDS: u64 = 100 * 366 * 86_400;

/// The width of an interval's buckets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// A fixed number of seconds, epoch-aligned (`daily` is `Seconds(86400)`: UTC days).
    Seconds(u64),
    /// ISO weeks in UTC, Monday 00:00 to Monday 00:00.
    Weekly,
    /// Calendar months in UTC.
    Monthly,
    /// Calendar years in UTC.
    Yearly,
}

impl Step {
    /// Parses seconds (`"90"`), kairos's shorthands (`"30s"`, `"5m"`, `"1h"`, `"30d"`, `"2w"`,
    /// `"1M"` = 30 days, `"1y"` = 365 days) or a calendar unit
    /// (`"daily"`, `"weekly"`, `"monthly"`, `"yearly"`).
    pub fn parse(text: &str) -> Result<Step, SpecError> {
        match text {
            "daily" => return Ok(Step::Seconds(DAY as u64)),
            "weekly" => return Ok(Step::Weekly),
            "monthly" => return Ok(Step::Monthly),
            "yearly" => return Ok(Step::Yearly),
            _ => {}
        }
        let bad = || SpecError::BadDuration { text: text.to_owned() };
        let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let (digits, unit) = text.split_at(split);
        let count: u64 = digits.parse().map_err(|_| bad())?;
        // kairos's table: lower-case m is minutes, upper-case M is a 30-day month.
        let unit_seconds = match unit {
            "" | "s" => 1,
            "m" => 60,
            "h" => 3_600,
            "d" => 86_400,
            "w" => 7 * 86_400,
            "M" => 30 * 86_400,
            "y" => 365 * 86_400,
            _ => return Err(bad()),
        };
        let seconds = count.checked_mul(unit_seconds).ok_or_else(bad)?;
        Step::seconds(seconds)
    }

    /// A seconds step, checked to be between 1 s and about 100 years.
    pub fn seconds(seconds: u64) -> Result<Step, SpecError> {
        if seconds == 0 || seconds > MAX_STEP_SECONDS {
            return Err(SpecError::StepOutOfRange { seconds });
        }
        Ok(Step::Seconds(seconds))
    }

    /// The bucket id holding `ts` (Unix seconds).
    fn bucket_of(self, ts: i64) -> i64 {
        match self {
            Step::Seconds(s) => ts.div_euclid(s as i64),
            // 1970-01-01 was a Thursday: the week of day d starts 3 days before day 0's week.
            Step::Weekly => (ts.div_euclid(DAY) + 3).div_euclid(7),
            Step::Monthly => {
                let (y, m, _) = civil_from_days(ts.div_euclid(DAY));
                (y - 1970) * 12 + (m as i64 - 1)
            }
            Step::Yearly => civil_from_days(ts.div_euclid(DAY)).0 - 1970,
        }
    }

    /// The first second of bucket `id`.
    fn bucket_start(self, id: i64) -> i64 {
        match self {
            Step::Seconds(s) => id.saturating_mul(s as i64),
            Step::Weekly => id.saturating_mul(7).saturating_sub(3).saturating_mul(DAY),
            Step::Monthly => {
                let (y, m) = (1970 + id.div_euclid(12), id.rem_euclid(12) as u32 + 1);
                days_from_civil(y, m, 1).saturating_mul(DAY)
            }
            Step::Yearly => days_from_civil(1970i64.saturating_add(id), 1, 1).saturating_mul(DAY),
        }
    }

    /// The longest resolution unit that tiles every bucket exactly.
    fn tile(self) -> u64 {
        match self {
            Step::Seconds(s) => s,
            // Weeks, months and years start at UTC midnight and are whole days long.
            Step::Weekly | Step::Monthly | Step::Yearly => DAY as u64,
        }
    }
}

impl FromStr for Step {
    type Err = SpecError;
    fn from_str(text: &str) -> Result<Step, SpecError> {
        Step::parse(text)
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Seconds(s) => write!(f, "{s}s"),
            Step::Weekly => f.write_str("weekly"),
            Step::Monthly => f.write_str("monthly"),
            Step::Yearly => f.write_str("yearly"),
        }
    }
}

/// One interval of a metric: bucket width, retention and optional finer resolution.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "IntervalConfig", into = "IntervalConfig")]
pub struct IntervalSpec {
    name: String,
    step: Step,
    steps: Option<u64>,
    /// `None` when the interval is coarse (resolution equal to the step).
    resolution: Option<u64>,
}

impl IntervalSpec {
    /// An interval, validated: `steps` (retention in buckets) must be at least 1, and a
    /// `resolution` (seconds) must divide the step (a day, for calendar steps).
    pub fn new(
        name: &str,
        step: Step,
        steps: Option<u64>,
        resolution: Option<u64>,
    ) -> Result<IntervalSpec, SpecError> {
        crate::schema::check_segment("interval name", name)?;
        if let Step::Seconds(s) = step {
            Step::seconds(s)?;
        }
        if steps == Some(0) {
            return Err(SpecError::ZeroSteps { interval: name.to_owned() });
        }
        let resolution = match resolution {
            None => None,
            Some(r) if Step::Seconds(r) == step => None,
            Some(r) if r == 0 || !step.tile().is_multiple_of(r) => {
                return Err(SpecError::BadResolution {
                    interval: name.to_owned(),
                    resolution: r,
                    tile: step.tile(),
                });
            }
            Some(r) => Some(r),
        };
        Ok(IntervalSpec { name: name.to_owned(), step, steps, resolution })
    }

    /// An interval from text, as in a config file: `parse("hour", "1h", Some(720), Some("1m"))`.
    pub fn parse(
        name: &str,
        step: &str,
        steps: Option<u64>,
        resolution: Option<&str>,
    ) -> Result<IntervalSpec, SpecError> {
        let resolution = match resolution.map(Step::parse).transpose()? {
            None => None,
            Some(Step::Seconds(s)) => Some(s),
            Some(other) => {
                return Err(SpecError::CalendarResolution {
                    interval: name.to_owned(),
                    text: other.to_string(),
                });
            }
        };
        IntervalSpec::new(name, Step::parse(step)?, steps, resolution)
    }

    /// The interval's name (`"minute"`, `"daily"`…), used in reads and in Redis keys.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bucket width.
    pub fn step(&self) -> Step {
        self.step
    }

    /// How many buckets are retained, counting the current one; `None` keeps them forever.
    pub fn steps(&self) -> Option<u64> {
        self.steps
    }

    /// The sub-bucket width in seconds, when finer than the step.
    pub fn resolution(&self) -> Option<u64> {
        self.resolution
    }

    /// The id of the bucket holding `ts` (Unix seconds).
    pub fn bucket_of(&self, ts: i64) -> i64 {
        self.step.bucket_of(ts)
    }

    /// The first second of bucket `id`.
    pub fn bucket_start(&self, id: i64) -> i64 {
        self.step.bucket_start(id)
    }

    /// The oldest bucket id still retained when the clock reads `now`, if retention is set.
    ///
    /// kairos's rule: a bucket `steps` or more buckets older than the bucket of `now` is gone.
    pub fn oldest_retained(&self, now: i64) -> Option<i64> {
        let steps = i64::try_from(self.steps?).unwrap_or(i64::MAX);
        Some(self.bucket_of(now).saturating_sub(steps).saturating_add(1))
    }

    /// Whether a write at `ts` is kept when the clock reads `now`.
    pub fn retains(&self, ts: i64, now: i64) -> bool {
        self.oldest_retained(now).is_none_or(|oldest| self.bucket_of(ts) >= oldest)
    }

    /// Seconds from `now` until bucket `id` leaves retention (Redis's `EXPIRE`); `None` when
    /// retention is unlimited, 0 when the bucket is already gone.
    ///
    /// This is exact, where kairos's `(steps - age) * step` counts from the start of the current
    /// bucket and so overshoots by up to one step.
    pub fn ttl(&self, id: i64, now: i64) -> Option<u64> {
        let steps = i64::try_from(self.steps?).unwrap_or(i64::MAX);
        let gone_at = self.bucket_start(id.saturating_add(steps));
        Some(gone_at.saturating_sub(now).max(0) as u64)
    }

    /// The id of the cell (sub-bucket when fine, bucket when coarse) holding `ts`.
    pub(crate) fn cell_of(&self, ts: i64) -> i64 {
        match self.resolution {
            Some(r) => ts.div_euclid(r as i64),
            None => self.bucket_of(ts),
        }
    }

    /// The bucket a cell belongs to.
    pub(crate) fn bucket_of_cell(&self, cell: i64) -> i64 {
        match self.resolution {
            Some(r) => self.bucket_of(cell * r as i64),
            None => cell,
        }
    }

    /// The first second of a cell.
    pub(crate) fn cell_start(&self, cell: i64) -> i64 {
        match self.resolution {
            Some(r) => cell * r as i64,
            None => self.bucket_start(cell),
        }
    }

    /// The first cell of bucket `id` (cells of one bucket are consecutive).
    pub(crate) fn first_cell(&self, id: i64) -> i64 {
        match self.resolution {
            Some(r) => self.bucket_start(id).div_euclid(r as i64),
            None => id,
        }
    }
}

impl fmt::Display for IntervalSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.name, self.step)?;
        if let Some(steps) = self.steps {
            write!(f, "×{steps}")?;
        }
        if let Some(r) = self.resolution {
            write!(f, "/{r}s")?;
        }
        Ok(())
    }
}

/// An interval as written in a config file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct IntervalConfig {
    /// The interval's name, used in reads and in Redis keys.
    name: String,
    /// Bucket width: seconds, a shorthand (`"1h"`) or `daily|weekly|monthly|yearly`.
    step: Duration,
    /// Buckets retained, counting the current one; absent keeps them forever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    steps: Option<u64>,
    /// Sub-bucket width (seconds or a shorthand); absent means the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    resolution: Option<Duration>,
}

/// A duration in a config file: a number of seconds or a text form.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum Duration {
    Seconds(u64),
    Text(String),
}

impl TryFrom<IntervalConfig> for IntervalSpec {
    type Error = SpecError;
    fn try_from(c: IntervalConfig) -> Result<IntervalSpec, SpecError> {
        let text = |d: Duration| match d {
            Duration::Seconds(s) => s.to_string(),
            Duration::Text(t) => t,
        };
        let resolution = c.resolution.map(text);
        IntervalSpec::parse(&c.name, &text(c.step), c.steps, resolution.as_deref())
    }
}

impl From<IntervalSpec> for IntervalConfig {
    fn from(s: IntervalSpec) -> IntervalConfig {
        IntervalConfig {
            step: match s.step {
                Step::Seconds(n) => Duration::Seconds(n),
                other => Duration::Text(other.to_string()),
            },
            name: s.name,
            steps: s.steps,
            resolution: s.resolution.map(Duration::Seconds),
        }
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a day number (inverse of [`days_from_civil`]).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(step: &str, steps: Option<u64>, resolution: Option<&str>) -> IntervalSpec {
        IntervalSpec::parse("i", step, steps, resolution).unwrap()
    }

    #[test]
    fn shorthands_follow_kairos() {
        let table = [
            ("90", 90),
            ("30s", 30),
            ("5m", 300),
            ("1h", 3_600),
            ("daily", 86_400),
            ("30d", 2_592_000),
            ("2w", 1_209_600),
            ("1M", 2_592_000),
            ("1y", 31_536_000),
        ];
        for (text, seconds) in table {
            assert_eq!(Step::parse(text).unwrap(), Step::Seconds(seconds), "{text}");
        }
        for bad in ["", "h", "1x", "-5", "0s", "1.5h", "99999999999999999999y"] {
            assert!(Step::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn seconds_buckets_are_epoch_aligned_floors() {
        let s = spec("60", None, None);
        let table = [(0, 0), (59, 0), (60, 1), (119, 1), (-1, -1), (-60, -1), (-61, -2)];
        for (ts, id) in table {
            assert_eq!(s.bucket_of(ts), id, "ts {ts}");
            assert!(s.bucket_start(id) <= ts && ts < s.bucket_start(id + 1));
        }
    }

    #[test]
    fn calendar_buckets() {
        // 2021-03-01 00:00:00 UTC, a Monday.
        let mar1 = 1_614_556_800;
        let week = spec("weekly", None, None);
        assert_eq!(week.bucket_start(week.bucket_of(mar1 + 6 * DAY + 5)), mar1);
        assert_eq!(week.bucket_start(week.bucket_of(mar1 - 1)), mar1 - 7 * DAY);
        assert_eq!(week.bucket_start(0), -3 * DAY); // Monday 1969-12-29

        let month = spec("monthly", None, None);
        let feb1 = mar1 - 28 * DAY;
        assert_eq!(month.bucket_of(mar1) - month.bucket_of(mar1 - 1), 1);
        assert_eq!(month.bucket_start(month.bucket_of(mar1 - 1)), feb1);
        assert_eq!(month.bucket_of(0), 0);
        assert_eq!(month.bucket_of(-1), -1);
        assert_eq!(month.bucket_start(-1), -31 * DAY);

        let year = spec("yearly", None, None);
        assert_eq!(year.bucket_of(mar1), 51);
        assert_eq!(year.bucket_start(51), 1_609_459_200); // 2021-01-01
        assert_eq!(year.bucket_start(2), 730 * DAY); // 1972-01-01, after a leap year
    }

    #[test]
    fn civil_round_trip() {
        for day in (-800_000..800_000).step_by(97) {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(18_687), (2021, 3, 1));
    }

    #[test]
    fn exactly_steps_buckets_old_is_dropped() {
        let s = spec("60", Some(3), None);
        let now = 10 * 60 + 30; // bucket 10
        assert_eq!(s.oldest_retained(now), Some(8));
        assert!(s.retains(8 * 60, now)); // 2 buckets old
        assert!(!s.retains(8 * 60 - 1, now)); // 3 buckets old: exactly `steps`
        assert!(!s.retains(0, now));
        assert!(s.retains(now + 3_600, now)); // the future is kept
        assert!(spec("60", None, None).retains(i64::MIN / 2, now));
    }

    #[test]
    fn ttl_is_the_time_left_in_retention() {
        let s = spec("60", Some(3), None);
        let now = 10 * 60 + 30;
        assert_eq!(s.ttl(10, now), Some(2 * 60 + 30)); // gone when bucket 13 starts
        assert_eq!(s.ttl(8, now), Some(30));
        assert_eq!(s.ttl(7, now), Some(0));
        assert_eq!(spec("60", None, None).ttl(7, now), None);
    }

    #[test]
    fn resolution_must_tile_the_step() {
        assert!(IntervalSpec::parse("h", "1h", None, Some("1m")).is_ok());
        assert!(IntervalSpec::parse("h", "1h", None, Some("7m")).is_err());
        assert!(IntervalSpec::parse("m", "monthly", None, Some("1h")).is_ok());
        assert!(IntervalSpec::parse("m", "monthly", None, Some("5h")).is_err());
        assert!(IntervalSpec::parse("m", "1h", None, Some("weekly")).is_err());
        assert!(IntervalSpec::parse("h", "1h", Some(0), None).is_err());
        assert!(IntervalSpec::parse("a:b", "1h", None, None).is_err());
        // A resolution equal to the step is a coarse interval.
        assert_eq!(spec("1h", None, Some("60m")).resolution(), None);
    }

    #[test]
    fn cells_of_fine_intervals() {
        let s = spec("1h", None, Some("15m"));
        let ts = 7_200 + 1_000; // bucket 2, sub-bucket 9
        assert_eq!(s.cell_of(ts), 9);
        assert_eq!(s.bucket_of_cell(9), 2);
        assert_eq!(s.cell_start(9), 8_100);
        assert_eq!(s.first_cell(2), 8);
        let month = spec("monthly", None, Some("daily"));
        let mar1 = 1_614_556_800;
        assert_eq!(month.first_cell(month.bucket_of(mar1)), mar1 / DAY);
    }

    #[test]
    fn config_form_round_trips() {
        let json = r#"{"name":"hour","step":"1h","steps":720,"resolution":"1m"}"#;
        let parsed: IntervalSpec = serde_json::from_str(json).unwrap();
        assert_eq!(parsed, IntervalSpec::parse("hour", "1h", Some(720), Some("1m")).unwrap());
        let text = serde_json::to_string(&parsed).unwrap();
        assert_eq!(text, r#"{"name":"hour","step":3600,"steps":720,"resolution":60}"#);
        let weekly: IntervalSpec = serde_json::from_str(r#"{"name":"w","step":"weekly"}"#).unwrap();
        assert_eq!(weekly.step(), Step::Weekly);
        let typo = serde_json::from_str::<IntervalSpec>(r#"{"name":"h","step":60,"step":1}"#);
        assert!(typo.is_err());
        let unknown = serde_json::from_str::<IntervalSpec>(r#"{"name":"h","step":60,"stpes":1}"#);
        assert!(unknown.unwrap_err().to_string().contains("stpes"));
    }
}
