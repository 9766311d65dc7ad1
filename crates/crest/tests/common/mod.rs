//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// The read-only `../shared` folder beside the checkout (see `crest_testing::shared_dir`).
pub fn shared_dir(test: &str) -> Option<PathBuf> {
    crest_testing::shared_dir(test)
}

/// A `crest` command.
pub fn crest() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("crest").expect("crest binary");
    cmd.env_remove("CREST_TEST_SERVICES");
    cmd
}

/// The peak lines of a reference-format log (`TelemetryPeak(...)` and the `\tname: value`
/// lines after it), without the `LEVEL -> [time] [mem]` prefix.
pub fn peak_log_lines(log: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_peak = false;
    for line in log.lines() {
        let Some((_, msg)) = line.split_once("mb] ") else { continue };
        if msg.starts_with("TelemetryPeak(") {
            in_peak = true;
            out.push(msg.to_string());
        } else if in_peak && msg.starts_with('\t') {
            out.push(msg.to_string());
        } else {
            in_peak = false;
        }
    }
    out
}

/// The reference-format log lines (`LEVEL -> [time] [mem] message`) as `LEVEL message`, with
/// absolute paths of the run's directory replaced by `<dir>`: the parts two runs in different
/// places and at different times share.
pub fn comparable_log_lines(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|line| {
            let (level, rest) = line.split_once(" -> [")?;
            let (_, msg) = rest.split_once("mb] ")?;
            Some(format!("{level} {}", escape_terminal_controls(&normalize_paths(msg))))
        })
        .collect()
}

/// Replaces `/any/absolute/path/` before `data/…`, `global_table.json` or `peaks.json` with
/// `<dir>/`.
fn normalize_paths(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(start) = rest.find('/') {
        let (head, tail) = rest.split_at(start);
        out.push_str(head);
        let end = tail.find(|c: char| c.is_whitespace() || c == '\'').unwrap_or(tail.len());
        let path = &tail[..end];
        let kept = ["/data/", "/global_table.json", "/peaks.json"]
            .iter()
            .filter_map(|m| path.rfind(m).map(|i| &path[i + 1..]))
            .next();
        match kept {
            Some(k) => {
                out.push_str("<dir>/");
                out.push_str(k);
            }
            None => out.push_str(path),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// crest's log lines escape the characters that can drive a terminal (a deliberate difference:
/// dimension values come from untrusted telemetry); this applies the same rule to the
/// reference's lines so the rest can be compared. Already escaped text is left as it is.
fn escape_terminal_controls(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    for ch in msg.chars() {
        match ch {
            '\x1b' => out.push_str("\\x1b"),
            '\x07' => out.push_str("\\x07"),
            '\x08' => out.push_str("\\x08"),
            '\x0c' => out.push_str("\\x0c"),
            '\x7f' => out.push_str("\\x7f"),
            c if ('\u{80}'..='\u{9f}').contains(&c) => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// A child process killed when the test ends, passed or not.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl std::ops::Deref for Running {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

/// `crest ARGS` started in the background, its standard error as asked.
pub fn spawn_crest(args: &[&str], stderr: Stdio) -> Running {
    Running(
        Command::new(env!("CARGO_BIN_EXE_crest"))
            .args(args)
            .env_remove("CREST_TEST_SERVICES")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("crest starts"),
    )
}

/// Polls `done` until it holds; fails the test after `timeout`.
pub fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends SIGTERM.
pub fn sigterm(child: &Child) {
    // SAFETY: kill(2) with a pid we spawned and a plain signal number.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
}

/// Synthetic logins: `users` users a few times a minute for `minutes` minutes from
/// `from_minute`, with a burst now and then; each minute's events lie inside that minute, so
/// none is late whatever the order of users or partitions. RFC 3339 times, JSON Lines.
pub fn minute_events(users: usize, minutes: i64, from_minute: i64) -> String {
    let mut out = String::new();
    for m in from_minute..from_minute + minutes {
        for u in 0..users {
            let burst = (m * 7 + u as i64 * 13) % 997 == 0;
            let n = if burst { 40 } else { 2 + (m as usize + u) % 3 };
            for i in 0..n {
                let t = 1_790_000_040 + m * 60 + (i as i64 * 59 / n as i64);
                let time = jiff::Timestamp::from_second(t).expect("a valid time");
                out.push_str(&format!(
                    "{{\"time\":\"{time}\",\"user\":\"u{u:03}\",\"kind\":\"login\",\"bytes\":{}}}\n",
                    100 + (i * 37 + u * 11) % 500
                ));
            }
        }
    }
    out
}
