//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// Whether tests that need the services and `../shared` must run (set by `.ci/run`).
pub fn required() -> bool {
    std::env::var("CREST_TEST_SERVICES").is_ok_and(|v| v == "1")
}

/// The read-only `../shared` folder beside the checkout, when it is there.
///
/// Under `CREST_TEST_SERVICES=1` (CI) a missing folder fails the test; otherwise the test says
/// plainly that it was skipped and passes (a user's fresh clone has no `../shared`).
pub fn shared_dir(test: &str) -> Option<PathBuf> {
    let dir = workspace_root().join("../shared");
    if dir.join("data").is_dir() {
        return Some(dir.canonicalize().expect("shared dir"));
    }
    assert!(
        !required(),
        "{test}: ../shared is missing but CREST_TEST_SERVICES=1 requires it ({})",
        dir.display()
    );
    eprintln!(
        "SKIPPED {test}: ../shared not found beside the checkout (set CREST_TEST_SERVICES=1 to require it)"
    );
    None
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
