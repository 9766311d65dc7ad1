//! Regular series: a start, a step and one value (or none) per slot.

use serde::{Deserialize, Serialize};

/// A series on a regular grid, as Graphite and crest's store hold them: slot `i` starts at
/// `start + i·step` seconds since the Unix epoch; `None` is a missing value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Start of the first slot, seconds since the Unix epoch.
    pub start: i64,
    /// Slot width in seconds.
    pub step: i64,
    /// One value per slot.
    pub values: Vec<Option<f64>>,
}

impl Series {
    /// End of the last slot (exclusive).
    pub fn end(&self) -> i64 {
        self.start + self.values.len() as i64 * self.step
    }

    /// The timestamp of slot `i`.
    pub fn time(&self, i: usize) -> i64 {
        self.start + i as i64 * self.step
    }
}

/// Why a duration could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration '{0}' (expected a number and a unit: 60s, 10min, 1h, 1d, 2w, 1mon, 1y)")]
pub struct DurationError(pub String);

/// Parses a duration as Graphite's `parseTimeOffset` does, into seconds: `s`, `min`, `h`, `d`,
/// `w`, `mon` (30 days), `y` (365 days), and their long forms (`minutes`, `days`…); a leading
/// `+` or `-` keeps its sign; several terms add up (`1d12h`).
pub fn parse_duration(text: &str) -> Result<i64, DurationError> {
    let err = || DurationError(text.to_string());
    let t = text.trim();
    let (sign, mut rest) = match t.strip_prefix('-') {
        Some(r) => (-1, r),
        None => (1, t.strip_prefix('+').unwrap_or(t)),
    };
    if rest.is_empty() {
        return Err(err());
    }
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return Err(err());
        }
        let n: i64 = rest[..digits].parse().map_err(|_| err())?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let seconds = match unit {
            "" | "s" | "sec" | "secs" | "second" | "seconds" => 1,
            "min" | "mins" | "minute" | "minutes" => 60,
            "h" | "hour" | "hours" => 3600,
            "d" | "day" | "days" => 86_400,
            "w" | "week" | "weeks" => 604_800,
            "mon" | "month" | "months" => 30 * 86_400,
            "y" | "year" | "years" => 365 * 86_400,
            _ => return Err(err()),
        };
        total = n.checked_mul(seconds).and_then(|s| total.checked_add(s)).ok_or_else(err)?;
    }
    Ok(sign * total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_like_graphite() {
        for (text, want) in [
            ("7d", 604_800),
            ("1d", 86_400),
            ("10min", 600),
            ("-1h", -3600),
            ("+2w", 1_209_600),
            ("1mon", 2_592_000),
            ("1y", 31_536_000),
            ("90", 90),
            ("1d12h", 129_600),
        ] {
            assert_eq!(parse_duration(text), Ok(want), "{text}");
        }
        for bad in ["", "d", "1x", "1m", "-"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
