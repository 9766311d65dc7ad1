//! Seyren's checks: a value per run, warn and error thresholds, OK/WARN/ERROR per target, and
//! a notification only when a target's state changes.
//!
//! The compatible behaviour is Seyren's `DefaultValueChecker` and `CheckRunner` (master,
//! 1.5.0 era): high values are bad iff `warn ≤ error`; thresholds are inclusive; a run without
//! a value leaves the state as it was; every change notifies, ERROR→OK included; no
//! hysteresis. crest adds one opt-in improvement, [`CheckRule::persist`]: a new state must
//! hold for that many consecutive values before it is announced, so a value flapping around
//! a threshold stops paging someone at every crossing.

use serde::{Deserialize, Serialize};

/// A target's state, ordered as Seyren orders them (`UNKNOWN < OK < WARN < ERROR`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AlertState {
    /// No value has been seen yet.
    Unknown,
    /// Inside both thresholds.
    Ok,
    /// At or past the warn threshold.
    Warn,
    /// At or past the error threshold.
    Error,
}

impl AlertState {
    /// Seyren's name for the state.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Unknown => "UNKNOWN",
            AlertState::Ok => "OK",
            AlertState::Warn => "WARN",
            AlertState::Error => "ERROR",
        }
    }
}

impl std::fmt::Display for AlertState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which side of the thresholds is bad.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    /// High values are bad (`warn ≤ error`).
    High,
    /// Low values are bad (`warn > error`).
    Low,
}

/// A check's thresholds and rules.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckRule {
    /// The warn threshold (inclusive).
    pub warn: f64,
    /// The error threshold (inclusive).
    pub error: f64,
    /// Consecutive values a new state must hold before it is announced (1: Seyren, every
    /// crossing notifies).
    pub persist: u32,
}

impl CheckRule {
    /// Seyren's rule: thresholds only, every change announced at once.
    pub fn seyren(warn: f64, error: f64) -> Self {
        CheckRule { warn, error, persist: 1 }
    }

    /// The bad side, inferred as Seyren infers it: high values are bad iff `warn ≤ error`.
    pub fn direction(&self) -> Direction {
        if self.warn <= self.error { Direction::High } else { Direction::Low }
    }

    /// The state of one value (Seyren's `DefaultValueChecker`).
    pub fn state_of(&self, value: f64) -> AlertState {
        match self.direction() {
            Direction::High if value >= self.error => AlertState::Error,
            Direction::High if value >= self.warn => AlertState::Warn,
            Direction::Low if value <= self.error => AlertState::Error,
            Direction::Low if value <= self.warn => AlertState::Warn,
            _ => AlertState::Ok,
        }
    }
}

/// A change of state, the only thing a check announces.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    /// When the new state was established (the time of the value that settled it).
    pub time: i64,
    /// The value that settled it.
    pub value: f64,
    /// The state before.
    pub from: AlertState,
    /// The state after.
    pub to: AlertState,
}

/// One target's check, fed one value at a time; serialisable, so it resumes after a restart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Check {
    rule: CheckRule,
    /// The last announced state (OK before any alert, as Seyren assumes).
    state: AlertState,
    /// A state seen but not yet held long enough, and for how many values.
    pending: Option<(AlertState, u32)>,
    /// Whether any value has been seen.
    seen: bool,
}

impl Check {
    /// A check that starts in OK, as Seyren's targets do before their first alert.
    pub fn new(rule: CheckRule) -> Self {
        Check { rule, state: AlertState::Ok, pending: None, seen: false }
    }

    /// The rule.
    pub fn rule(&self) -> &CheckRule {
        &self.rule
    }

    /// The announced state (`Unknown` until a value has been seen).
    pub fn state(&self) -> AlertState {
        if self.seen { self.state } else { AlertState::Unknown }
    }

    /// Feeds the value of one run; `None` (no value) leaves the state alone. Returns the
    /// transition when the announced state changes.
    pub fn push(&mut self, time: i64, value: Option<f64>) -> Option<Transition> {
        let value = value.filter(|v| !v.is_nan())?;
        self.seen = true;
        let now = self.rule.state_of(value);
        if now == self.state {
            self.pending = None;
            return None;
        }
        let held = match self.pending {
            Some((s, n)) if s == now => n + 1,
            _ => 1,
        };
        if held < self.rule.persist.max(1) {
            self.pending = Some((now, held));
            return None;
        }
        self.pending = None;
        let from = std::mem::replace(&mut self.state, now);
        Some(Transition { time, value, from, to: now })
    }
}

/// The worst state over targets, as Seyren computes a check's state: `Unknown` when no target
/// has produced a value.
pub fn worst_state<'a>(checks: impl IntoIterator<Item = &'a Check>) -> AlertState {
    checks.into_iter().map(Check::state).max().unwrap_or(AlertState::Unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rule: CheckRule, values: &[Option<f64>]) -> Vec<(i64, AlertState, AlertState)> {
        let mut check = Check::new(rule);
        values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| check.push(i as i64, *v).map(|t| (t.time, t.from, t.to)))
            .collect()
    }

    #[test]
    fn direction_comes_from_warn_versus_error() {
        use AlertState::*;
        let high = CheckRule::seyren(5.0, 10.0);
        assert_eq!(high.direction(), Direction::High);
        assert_eq!([4.9, 5.0, 9.99, 10.0].map(|v| high.state_of(v)), [Ok, Warn, Warn, Error]);
        let low = CheckRule::seyren(10.0, 5.0);
        assert_eq!(low.direction(), Direction::Low);
        assert_eq!([10.1, 10.0, 5.01, 5.0].map(|v| low.state_of(v)), [Ok, Warn, Warn, Error]);
        // Equal thresholds: high is bad, and the error wins.
        assert_eq!(CheckRule::seyren(3.0, 3.0).state_of(3.0), Error);
    }

    #[test]
    fn only_changes_are_announced_error_to_ok_included() {
        use AlertState::*;
        let got = run(
            CheckRule::seyren(5.0, 10.0),
            &[Some(1.0), Some(6.0), Some(7.0), None, Some(12.0), Some(11.0), Some(0.0), Some(0.5)],
        );
        assert_eq!(got, [(1, Ok, Warn), (4, Warn, Error), (6, Error, Ok)]);
    }

    #[test]
    fn missing_values_leave_the_state_alone() {
        let mut check = Check::new(CheckRule::seyren(1.0, 2.0));
        assert_eq!(check.state(), AlertState::Unknown);
        assert_eq!(check.push(0, None), None);
        assert_eq!(check.state(), AlertState::Unknown);
        assert!(check.push(1, Some(3.0)).is_some());
        assert_eq!(check.push(2, None), None);
        assert_eq!(check.push(3, Some(f64::NAN)), None);
        assert_eq!(check.state(), AlertState::Error);
    }

    #[test]
    fn flapping_notifies_every_crossing_unless_persistence_is_asked() {
        let flap: Vec<Option<f64>> =
            (0..6).map(|i| Some(if i % 2 == 0 { 6.0 } else { 1.0 })).collect();
        assert_eq!(run(CheckRule::seyren(5.0, 10.0), &flap).len(), 6);
        let calm = CheckRule { persist: 2, ..CheckRule::seyren(5.0, 10.0) };
        assert!(run(calm, &flap).is_empty());
        let held = [Some(6.0), Some(6.0), Some(1.0), Some(1.0)];
        use AlertState::*;
        assert_eq!(run(calm, &held), [(1, Ok, Warn), (3, Warn, Ok)]);
    }

    #[test]
    fn worst_state_over_targets() {
        let rule = CheckRule::seyren(5.0, 10.0);
        let mut a = Check::new(rule);
        let mut b = Check::new(rule);
        assert_eq!(worst_state([&a, &b]), AlertState::Unknown);
        a.push(0, Some(1.0));
        assert_eq!(worst_state([&a, &b]), AlertState::Ok);
        b.push(0, Some(20.0));
        assert_eq!(worst_state([&a, &b]), AlertState::Error);
    }
}
