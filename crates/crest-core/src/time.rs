//! Time: instants, naive wall-clock times, time zones and calendar days.
//!
//! Security tools disagree about clocks, and the disagreement shows in results. The peak
//! analyzer, for one, files records into *local* calendar days but reads "now" from the *UTC*
//! wall clock. crest keeps the two ideas apart so each rule can be stated exactly:
//!
//! - an **instant** is microseconds since the Unix epoch (what a record's timestamp means);
//! - a [`WallTime`] is a naive date-time with no zone (what a window bound or a
//!   `global_table.json` date means), and a [`Day`] a naive calendar date;
//! - a [`LocalClock`] turns instants into wall times in one IANA time zone, fast.

use std::fmt;

use jiff::tz::TimeZone;

use crate::value::{RawKind, RawValue};

/// Microseconds in a second.
pub const SECOND_US: i64 = 1_000_000;
/// Microseconds in a day.
pub const DAY_US: i64 = 86_400 * SECOND_US;

/// The earliest wall time Python's `datetime` accepts: 0001-01-01 00:00:00.
const MIN_WALL_US: i64 = -62_135_596_800 * SECOND_US;
/// Just past the latest wall time Python's `datetime` accepts: 10000-01-01 00:00:00.
const END_WALL_US: i64 = 253_402_300_800 * SECOND_US;

/// A problem with a time value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// The text is not a date or date-time in the expected format.
    #[error("invalid {what} '{text}' (expected {expected})")]
    Parse {
        /// What was being parsed ("date", "date-time").
        what: &'static str,
        /// The offending text.
        text: String,
        /// The accepted format.
        expected: &'static str,
    },
    /// The value lies outside the years 1..9999.
    #[error("{0} is outside the years 1..9999")]
    OutOfRange(String),
    /// The value has the wrong JSON type or form for the chosen time format.
    #[error("{0}")]
    Value(String),
}

/// A naive calendar date, as days since 1970-01-01.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(i32);

impl Day {
    /// The day from its number of days since 1970-01-01.
    pub fn from_days(days: i32) -> Self {
        Day(days)
    }

    /// Days since 1970-01-01.
    pub fn days(self) -> i32 {
        self.0
    }

    /// The date from a year, month and day, validated (leap years included).
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Option<Day> {
        if !(1..=9999).contains(&year) || !(1..=12).contains(&month) || day == 0 {
            return None;
        }
        if day > days_in_month(year, month) {
            return None;
        }
        Some(Day(days_from_civil(year, month, day)))
    }

    /// Year, month and day.
    pub fn ymd(self) -> (i32, u32, u32) {
        civil_from_days(self.0)
    }

    /// Parses `YYYY-MM-DD` as Python's `strptime(s, "%Y-%m-%d")` does: four-digit year,
    /// one- or two-digit month and day (`2020-1-5` is accepted), validated.
    pub fn parse_lenient(text: &str) -> Result<Day, TimeError> {
        let err = || TimeError::Parse { what: "date", text: text.into(), expected: "YYYY-MM-DD" };
        let mut parts = text.split('-');
        let (Some(y), Some(m), Some(d), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(err());
        };
        let year = digits(y, 4, 4).ok_or_else(err)?;
        let month = digits(m, 1, 2).ok_or_else(err)?;
        let day = digits(d, 1, 2).ok_or_else(err)?;
        Day::from_ymd(year as i32, month, day).ok_or_else(err)
    }

    /// Midnight at the start of this day.
    pub fn midnight(self) -> WallTime {
        WallTime(self.0 as i64 * DAY_US)
    }

    /// The day `n` days later (or earlier, for negative `n`).
    pub fn add_days(self, n: i64) -> Option<Day> {
        let d = self.0 as i64 + n;
        let day = Day(i32::try_from(d).ok()?);
        day.midnight().in_python_range().then_some(day)
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

/// A naive wall-clock date-time (no time zone), as microseconds since 1970-01-01 00:00:00.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WallTime(i64);

impl WallTime {
    /// The wall time from microseconds since 1970-01-01 00:00:00.
    pub fn from_micros(us: i64) -> Self {
        WallTime(us)
    }

    /// Microseconds since 1970-01-01 00:00:00.
    pub fn micros(self) -> i64 {
        self.0
    }

    /// The calendar day this wall time falls on.
    pub fn day(self) -> Day {
        Day(self.0.div_euclid(DAY_US) as i32)
    }

    /// Whole seconds since 1970-01-01 00:00:00, truncated toward negative infinity.
    pub fn whole_seconds(self) -> i64 {
        self.0.div_euclid(SECOND_US)
    }

    /// This wall time shifted by whole days, if it stays within the years 1..9999.
    pub fn add_days(self, n: i64) -> Option<WallTime> {
        let t = WallTime(self.0.checked_add(n.checked_mul(DAY_US)?)?);
        t.in_python_range().then_some(t)
    }

    /// Whether Python's `datetime` can hold this value (years 1..9999).
    pub fn in_python_range(self) -> bool {
        (MIN_WALL_US..END_WALL_US).contains(&self.0)
    }

    /// Parses Python's `strptime(text[:19], "%Y-%m-%d %H:%M:%S")`: the first 19 characters,
    /// so fractional seconds are dropped (as the peak analyzer's table loader does).
    pub fn parse_python_prefix(text: &str) -> Result<WallTime, TimeError> {
        let head: String = text.chars().take(19).collect();
        Self::parse_date_time(&head, false).map_err(|_| TimeError::Parse {
            what: "date-time",
            text: text.into(),
            expected: "YYYY-MM-DD HH:MM:SS",
        })
    }

    /// Parses `YYYY-MM-DD HH:MM:SS[.ffffff]` (or `T` between date and time), or a date alone
    /// meaning midnight.
    pub fn parse_cli(text: &str) -> Result<WallTime, TimeError> {
        let text = text.trim();
        if !text.contains([' ', 'T']) {
            return Day::parse_lenient(text).map(Day::midnight);
        }
        Self::parse_date_time(text, true).map_err(|_| TimeError::Parse {
            what: "date-time",
            text: text.into(),
            expected: "YYYY-MM-DD HH:MM:SS[.ffffff]",
        })
    }

    fn parse_date_time(text: &str, allow_fraction: bool) -> Result<WallTime, ()> {
        let (date, time) = text.split_once([' ', 'T']).ok_or(())?;
        let day = Day::parse_lenient(date).map_err(|_| ())?;
        let (hms, frac) = match time.split_once('.') {
            Some((hms, frac)) if allow_fraction => (hms, Some(frac)),
            Some(_) => return Err(()),
            None => (time, None),
        };
        let mut parts = hms.split(':');
        let (Some(h), Some(m), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(());
        };
        let (h, m, s) =
            (digits(h, 1, 2).ok_or(())?, digits(m, 1, 2).ok_or(())?, digits(s, 1, 2).ok_or(())?);
        if h > 23 || m > 59 || s > 59 {
            return Err(());
        }
        let micros = match frac {
            None => 0,
            Some(f) if (1..=6).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_digit()) => {
                let padded = format!("{f:0<6}");
                padded.parse::<i64>().map_err(|_| ())?
            }
            Some(_) => return Err(()),
        };
        let secs = h as i64 * 3600 + m as i64 * 60 + s as i64;
        Ok(WallTime(day.midnight().0 + secs * SECOND_US + micros))
    }
}

impl fmt::Display for WallTime {
    /// Python's `str(datetime)`: `YYYY-MM-DD HH:MM:SS`, plus `.ffffff` when there are
    /// microseconds.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let day = self.day();
        let in_day = self.0 - day.midnight().0;
        let (secs, micros) = (in_day / SECOND_US, in_day % SECOND_US);
        write!(f, "{day} {:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)?;
        if micros != 0 {
            write!(f, ".{micros:06}")?;
        }
        Ok(())
    }
}

/// Parses an unsigned decimal of `min..=max` digits.
fn digits(s: &str, min: usize, max: usize) -> Option<u32> {
    if (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

fn is_leap(y: i32) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i32, m: u32, d: u32) -> i32 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe as u32 * 365 + yoe as u32 / 4 - yoe as u32 / 100 + doy;
    era * 146_097 + doe as i32 - 719_468
}

/// The proleptic Gregorian date of a day count since 1970-01-01.
fn civil_from_days(z: i32) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = (z - era * 146_097) as u32;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe as i32 + era * 400 + i32::from(m <= 2);
    (y, m, d)
}

/// How many offset intervals a [`LocalClock`] remembers.
const CLOCK_CACHE: usize = 8;

/// Turns instants into wall-clock times in one time zone, as `datetime.fromtimestamp` does
/// under `TZ=zone`.
///
/// Looking up a zone's offset is the costly part, so the clock remembers the intervals between
/// transitions it has seen; telemetry from one period hits the same few intervals again and
/// again. Each worker thread owns its own clock (clone it).
#[derive(Clone, Debug)]
pub struct LocalClock {
    tz: TimeZone,
    /// `Some(offset)` for zones with one fixed offset (UTC included): no lookups at all.
    fixed: Option<i64>,
    /// Remembered `(from, until, offset)` intervals, microseconds, most recent first.
    cache: Vec<(i64, i64, i64)>,
}

impl LocalClock {
    /// A clock for the given zone.
    pub fn new(tz: TimeZone) -> Self {
        let fixed = if tz.iana_name() == Some("UTC") || tz.iana_name() == Some("Etc/UTC") {
            Some(0)
        } else {
            // A zone without transitions has one offset forever.
            let probe = jiff::Timestamp::UNIX_EPOCH;
            let no_transitions =
                tz.following(probe).next().is_none() && tz.preceding(probe).next().is_none();
            no_transitions.then(|| tz.to_offset(probe).seconds() as i64 * SECOND_US)
        };
        LocalClock { tz, fixed, cache: Vec::with_capacity(CLOCK_CACHE) }
    }

    /// A clock for UTC.
    pub fn utc() -> Self {
        LocalClock::new(TimeZone::UTC)
    }

    /// The zone's name, for messages.
    pub fn zone_name(&self) -> &str {
        self.tz.iana_name().unwrap_or("(fixed offset)")
    }

    /// The wall time of an instant (microseconds since the Unix epoch) in this zone.
    pub fn wall_time(&mut self, instant_us: i64) -> Result<WallTime, TimeError> {
        let offset = match self.fixed {
            Some(off) => off,
            None => self.offset_at(instant_us)?,
        };
        let wall =
            WallTime(instant_us.checked_add(offset).ok_or_else(|| out_of_range(instant_us))?);
        if wall.in_python_range() { Ok(wall) } else { Err(out_of_range(instant_us)) }
    }

    fn offset_at(&mut self, t: i64) -> Result<i64, TimeError> {
        if let Some(i) = self.cache.iter().position(|&(from, until, _)| from <= t && t < until) {
            let hit = self.cache[i];
            if i > 0 {
                self.cache.remove(i);
                self.cache.insert(0, hit);
            }
            return Ok(hit.2);
        }
        let ts = jiff::Timestamp::from_microsecond(t).map_err(|_| out_of_range(t))?;
        let offset = self.tz.to_offset(ts).seconds() as i64 * SECOND_US;
        let until =
            self.tz.following(ts).next().map_or(i64::MAX, |tr| tr.timestamp().as_microsecond());
        // The interval starts at the last transition at or before `t`, unless a transition
        // falls between it and `t` (then it starts at `t` itself).
        let from = match self.tz.preceding(ts).next() {
            Some(prev) => {
                let prev_us = prev.timestamp().as_microsecond();
                let next_after_prev = self.tz.following(prev.timestamp()).next();
                if next_after_prev.map(|tr| tr.timestamp().as_microsecond()) == Some(until) {
                    prev_us
                } else {
                    t
                }
            }
            None => i64::MIN,
        };
        if self.cache.len() == CLOCK_CACHE {
            self.cache.pop();
        }
        self.cache.insert(0, (from, until, offset));
        Ok(offset)
    }
}

fn out_of_range(instant_us: i64) -> TimeError {
    TimeError::OutOfRange(format!("timestamp {instant_us} µs"))
}

/// Epoch numbers larger than this (in absolute value) are taken as milliseconds: as seconds
/// they would be past the year 5000.
pub const EPOCH_MILLIS_ABOVE: f64 = 1e11;

/// Reads a time written as text, as exports and CSV files write them: RFC 3339
/// (`2023-11-14T22:13:20Z`), `YYYY-MM-DD HH:MM:SS` in UTC, or epoch seconds (fractions kept to
/// the microsecond; milliseconds above [`EPOCH_MILLIS_ABOVE`]). Microseconds since the epoch.
pub fn parse_instant_text(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Some(us) = utc_seconds(text.as_bytes()) {
        return Some(us);
    }
    let first = *text.as_bytes().first()?;
    if first.is_ascii_digit() || first == b'-' || first == b'+' {
        if let Ok(n) = text.parse::<i64>() {
            return if n.unsigned_abs() as f64 > EPOCH_MILLIS_ABOVE {
                n.checked_mul(1000)
            } else {
                n.checked_mul(SECOND_US)
            };
        }
        if let Ok(x) = text.parse::<f64>() {
            let scale = if x.abs() > EPOCH_MILLIS_ABOVE { 1000.0 } else { SECOND_US as f64 };
            let us = (x * scale).round();
            return (us.is_finite() && us.abs() < 9.2e18).then_some(us as i64);
        }
    }
    if let Ok(ts) = text.parse::<jiff::Timestamp>() {
        return Some(ts.as_microsecond());
    }
    let dt = text.parse::<jiff::civil::DateTime>().ok()?;
    dt.to_zoned(TimeZone::UTC).ok().map(|z| z.timestamp().as_microsecond())
}

/// The common form `YYYY-MM-DDTHH:MM:SSZ`, read without a parser (µs); `None` for anything
/// else, including invalid dates and leap seconds, which the parser then judges.
fn utc_seconds(b: &[u8]) -> Option<i64> {
    let [
        y0,
        y1,
        y2,
        y3,
        b'-',
        m0,
        m1,
        b'-',
        d0,
        d1,
        b'T',
        h0,
        h1,
        b':',
        i0,
        i1,
        b':',
        s0,
        s1,
        b'Z',
    ] = *b
    else {
        return None;
    };
    let num = |digits: &[u8]| -> Option<i64> {
        digits
            .iter()
            .try_fold(0i64, |n, &c| c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0')))
    };
    let (y, m, d) = (num(&[y0, y1, y2, y3])?, num(&[m0, m1])?, num(&[d0, d1])?);
    let (h, min, sec) = (num(&[h0, h1])?, num(&[i0, i1])?, num(&[s0, s1])?);
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    // Years the parser's range holds whole (it ends in the last days of 9999).
    if !(1..=9998).contains(&y)
        || !(1..=12).contains(&m)
        || d < 1
        || d > month_days[m as usize - 1]
        || h > 23
        || min > 59
        || sec > 59
    {
        return None;
    }
    // Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + h) * 60 + min) * 60_000_000 + sec * SECOND_US)
}

/// How a record's time field encodes an instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TimeFormat {
    /// An integer number of milliseconds since the Unix epoch (the peak analyzer's
    /// `utc_timestamp`). Fractions and strings are errors, as they crash the reference.
    #[default]
    EpochMillis,
    /// A number of seconds since the Unix epoch; fractions are kept to the microsecond
    /// (Zeek's `ts`).
    EpochSeconds,
    /// An RFC 3339 string such as `2020-11-04T10:00:00Z` or `2020-11-04T10:00:00.5+01:00`.
    Rfc3339,
}

impl TimeFormat {
    /// The instant (microseconds since the Unix epoch) a field value denotes.
    pub fn instant(self, value: &RawValue<'_>) -> Result<i64, TimeError> {
        let bad = |want: &str| {
            TimeError::Value(format!(
                "expected {want}, found {} {}",
                value.kind_name(),
                value.describe()
            ))
        };
        match self {
            TimeFormat::EpochMillis => {
                let ms = match value.kind() {
                    RawKind::Number { integer: true } => {
                        value.as_i64().map_err(|e| TimeError::Value(e.to_string()))?
                    }
                    _ => return Err(bad("an integer number of milliseconds")),
                };
                ms.checked_mul(1000).ok_or_else(|| out_of_range(ms))
            }
            TimeFormat::EpochSeconds => match value.kind() {
                RawKind::Number { integer: true } => {
                    let s = value.as_i64().map_err(|e| TimeError::Value(e.to_string()))?;
                    s.checked_mul(SECOND_US).ok_or_else(|| out_of_range(s))
                }
                RawKind::Number { integer: false } => {
                    let text = std::str::from_utf8(value.raw()).unwrap_or("");
                    let secs: f64 = text.parse().map_err(|_| bad("a number of seconds"))?;
                    let us = (secs * SECOND_US as f64).round();
                    if us.is_finite() && us.abs() < 9.2e18 {
                        Ok(us as i64)
                    } else {
                        Err(bad("a number of seconds in range"))
                    }
                }
                _ => Err(bad("a number of seconds")),
            },
            TimeFormat::Rfc3339 => {
                let text = value.as_str().ok_or_else(|| bad("an RFC 3339 string"))?;
                let ts: jiff::Timestamp = text.parse().map_err(|_| bad("an RFC 3339 date-time"))?;
                Ok(ts.as_microsecond())
            }
        }
    }
}

#[cfg(test)]
mod tests {

    /// The shortcut for `YYYY-MM-DDTHH:MM:SSZ` agrees with the parser, day by day over four
    /// centuries' leap rules, and leaves what it cannot judge to it.
    #[test]
    fn utc_shortcut_agrees_with_the_parser() {
        let jiff = |t: &str| t.parse::<jiff::Timestamp>().ok().map(|ts| ts.as_microsecond());
        for (y, m, d) in [(1600, 2, 29), (1700, 2, 29), (1900, 2, 28), (1970, 1, 1), (2000, 2, 29)]
            .into_iter()
            .chain(
                (1..=12).flat_map(|m| [(2024, m, 1), (2023, m, 31), (2026, m, 30), (9999, m, 28)]),
            )
            .chain((0..200).map(|i| (1800 + i * 3, 1 + i % 12, 1 + i % 31)))
        {
            for (h, mi, se) in [(0, 0, 0), (23, 59, 59), (12, 34, 56), (7, 5, 60)] {
                let t = format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{se:02}Z");
                assert_eq!(parse_instant_text(&t), jiff(&t), "{t}");
                if let Some(us) = utc_seconds(t.as_bytes()) {
                    assert_eq!(Some(us), jiff(&t), "{t}");
                }
            }
        }
        for odd in [
            "2023-02-29T00:00:00Z",
            "2023-13-01T00:00:00Z",
            "2023-01-01T24:00:00Z",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:00:00Z",
            "2023-01-01t00:00:00z",
        ] {
            assert_eq!(parse_instant_text(odd), jiff(odd), "{odd}");
        }
    }

    use super::*;

    #[test]
    fn instants_from_text() {
        let s = |x: i64| Some(x * SECOND_US);
        assert_eq!(parse_instant_text("1700000000"), s(1_700_000_000));
        assert_eq!(parse_instant_text("1700000000000"), s(1_700_000_000));
        assert_eq!(parse_instant_text("1700000000.5"), Some(1_700_000_000_500_000));
        assert_eq!(parse_instant_text(" 2023-11-14 22:13:20 "), s(1_700_000_000));
        assert_eq!(parse_instant_text("2023-11-14T23:13:20+01:00"), s(1_700_000_000));
        assert_eq!(parse_instant_text("-60"), s(-60));
        for bad in ["", "noon", "1e400", "99999999999999999999", "2023-13-01 00:00:00"] {
            assert_eq!(parse_instant_text(bad), None, "{bad}");
        }
    }
    use proptest::prelude::*;

    #[test]
    fn lenient_dates_like_strptime() {
        assert_eq!(Day::parse_lenient("2020-1-5").unwrap().to_string(), "2020-01-05");
        assert_eq!(Day::parse_lenient("2020-11-04").unwrap().to_string(), "2020-11-04");
        for bad in
            ["2020-13-01", "2021-02-29", "20-11-04", "2020-11", "2020-11-04x", "", "2020-011-04"]
        {
            assert!(Day::parse_lenient(bad).is_err(), "{bad}");
        }
        assert!(Day::parse_lenient("2020-02-29").is_ok());
    }

    #[test]
    fn wall_times_print_like_python() {
        let t = WallTime::parse_cli("2020-11-04 13:30:00").unwrap();
        assert_eq!(t.to_string(), "2020-11-04 13:30:00");
        let t = WallTime::parse_cli("2020-10-28 09:05:01.25").unwrap();
        assert_eq!(t.to_string(), "2020-10-28 09:05:01.250000");
        assert_eq!(WallTime::parse_cli("2020-11-04").unwrap().to_string(), "2020-11-04 00:00:00");
        let loaded = WallTime::parse_python_prefix("2020-10-28 09:05:01.250000").unwrap();
        assert_eq!(loaded.to_string(), "2020-10-28 09:05:01");
        assert!(WallTime::parse_python_prefix("2020-10-28").is_err());
        assert_eq!(Day::from_ymd(1, 1, 1).unwrap().midnight().to_string(), "0001-01-01 00:00:00");
    }

    #[test]
    fn clock_follows_daylight_saving() {
        let mut ny = LocalClock::new(TimeZone::get("America/New_York").unwrap());
        // 2020-11-01 05:30 UTC is 01:30 EDT; 06:30 UTC is 01:30 EST (the hour repeats).
        let t1 = 1_604_208_600 * SECOND_US;
        assert_eq!(ny.wall_time(t1).unwrap().to_string(), "2020-11-01 01:30:00");
        assert_eq!(ny.wall_time(t1 + 3600 * SECOND_US).unwrap().to_string(), "2020-11-01 01:30:00");
        assert_eq!(
            ny.wall_time(t1 - 86_400 * SECOND_US).unwrap().to_string(),
            "2020-10-31 01:30:00"
        );
        let mut kolkata = LocalClock::new(TimeZone::get("Asia/Kolkata").unwrap());
        assert_eq!(kolkata.wall_time(0).unwrap().to_string(), "1970-01-01 05:30:00");
    }

    #[test]
    fn time_formats() {
        let ms = RawValue::new(RawKind::Number { integer: true }, b"1630479598000");
        assert_eq!(TimeFormat::EpochMillis.instant(&ms), Ok(1_630_479_598 * SECOND_US));
        let frac = RawValue::new(RawKind::Number { integer: false }, b"1604448000000.5");
        assert!(TimeFormat::EpochMillis.instant(&frac).is_err());
        let s = RawValue::new(RawKind::Number { integer: false }, b"1604448000.25");
        assert_eq!(TimeFormat::EpochSeconds.instant(&s), Ok(1_604_448_000_250_000));
        let r = RawValue::new(RawKind::Str { escaped: false }, b"2020-11-04T10:00:00+01:00");
        assert_eq!(TimeFormat::Rfc3339.instant(&r), Ok(1_604_480_400 * SECOND_US));
        let str_ms = RawValue::new(RawKind::Str { escaped: false }, b"1630479598000");
        assert!(TimeFormat::EpochMillis.instant(&str_ms).is_err());
    }

    proptest! {
        #[test]
        fn civil_round_trips(days in -719_162i32..2_932_896) {
            let (y, m, d) = civil_from_days(days);
            prop_assert_eq!(Day::from_ymd(y, m, d), Some(Day(days)));
        }

        #[test]
        fn clock_matches_jiff(t in -2_000_000_000i64..4_000_000_000, zone in prop::sample::select(vec!["America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Kolkata", "America/Santiago"])) {
            let tz = TimeZone::get(zone).unwrap();
            let mut clock = LocalClock::new(tz.clone());
            // Warm the cache with a nearby instant first, then check the exact one.
            let _ = clock.wall_time((t - 40_000) * SECOND_US);
            let wall = clock.wall_time(t * SECOND_US).unwrap();
            let civil = jiff::Timestamp::from_second(t).unwrap().to_zoned(tz).datetime();
            prop_assert_eq!(wall.to_string(), civil.strftime("%Y-%m-%d %H:%M:%S").to_string());
        }
    }
}
