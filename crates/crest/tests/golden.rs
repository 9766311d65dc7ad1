//! Byte-exact parity with telemetry-peak-analyzer 0.1.6: every golden run of the reference.
//!
//! Three manifests in the same format: the reference runs shipped in `../shared` (skipped
//! when it is absent, required under `CREST_TEST_SERVICES=1`), and two sets of runs this
//! repository owns, `tests/golden/peaks-extra` and `tests/golden/peaks-edge` (inputs made with
//! our generator and small crafted files, outputs from the reference itself; see their
//! READMEs).
//!
//! Each step runs the real binary in a scratch directory holding `./data/<inputs>` and, when
//! the step starts from a table, `global_table.json`, with the clock pinned to `now` and the
//! zone to `tz`. The exit status must agree (2 for usage errors), and `peaks.json`,
//! `global_table.json` and (where recorded) the log lines must equal the reference's.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// A step where crest deliberately differs from the reference (README, "Differences").
enum Deviation {
    /// Same outputs once the ignored argument is removed: the reference silently ignores a
    /// lone `-s`/`-e`; crest completes it with `-d`.
    DropArgs(&'static [&'static str]),
    /// The reference runs on an empty input; crest stops with this error (exit 1).
    Fails(&'static str),
}

fn deviation(step: &str) -> Option<Deviation> {
    match step {
        "X_cli/4_only_s_ignored" => Some(Deviation::DropArgs(&["-s", "2020-11-01"])),
        "X_cli/5_no_matching_file" => {
            Some(Deviation::Fails("no input file matches './data/does_not_exist.json'"))
        }
        _ => None,
    }
}

struct Outcome {
    passed: usize,
    failures: Vec<String>,
}

/// Runs every step of `manifest`, with inputs found in `data_dirs` (by file name).
fn run_manifest(manifest: &Path, data_dirs: &[PathBuf]) -> Outcome {
    let golden = manifest.parent().expect("manifest dir");
    let m: Value =
        serde_json::from_slice(&fs::read(manifest).expect("manifest")).expect("manifest JSON");
    let mut inputs: BTreeMap<String, PathBuf> = BTreeMap::new();
    for dir in data_dirs {
        for entry in fs::read_dir(dir).expect("data dir").flatten() {
            if entry.path().is_file() {
                inputs
                    .entry(entry.file_name().to_string_lossy().into_owned())
                    .or_insert(entry.path());
            }
        }
    }
    let scratch = tempfile::tempdir().expect("tempdir");
    let mut chains: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut outcome = Outcome { passed: 0, failures: Vec::new() };
    for step in m["steps"].as_array().expect("steps") {
        let name = step["step"].as_str().expect("step name");
        let chain = name.split('/').next().expect("chain");
        let dir = chains
            .entry(chain.to_string())
            .or_insert_with(|| {
                let d = scratch.path().join(chain);
                fs::create_dir_all(d.join("data")).expect("mkdir");
                for (file, path) in &inputs {
                    // Inputs kept gzipped in the repository are unpacked: the reference reads
                    // plain JSON, and so the steps name the plain file.
                    match file.strip_suffix(".gz") {
                        Some(plain) => {
                            let mut text = Vec::new();
                            let gz = fs::File::open(path).expect("open input");
                            std::io::Read::read_to_end(
                                &mut flate2::read::GzDecoder::new(gz),
                                &mut text,
                            )
                            .expect("gunzip input");
                            fs::write(d.join("data").join(plain), text).expect("write input");
                        }
                        None => {
                            fs::copy(path, d.join("data").join(file)).expect("copy input");
                        }
                    }
                }
                d
            })
            .clone();
        let expected = golden.join(name);
        let files = &step["files"];
        // A step starts from the table the manifest gives, or from none.
        match files["gst_before"].as_str() {
            Some(before) => {
                fs::copy(expected.join(before), dir.join("global_table.json"))
                    .expect("copy gst_before");
            }
            None => {
                let _ = fs::remove_file(dir.join("global_table.json"));
            }
        }
        let _ = fs::remove_file(dir.join("peaks.json"));

        let mut args: Vec<String> = step["args"]
            .as_array()
            .expect("args")
            .iter()
            .map(|a| a.as_str().expect("arg").to_string())
            .collect();
        let deviation = deviation(name);
        if let Some(Deviation::DropArgs(drop)) = &deviation {
            let at =
                args.windows(drop.len()).position(|w| w == *drop).expect("deviation args present");
            args.drain(at..at + drop.len());
        }
        let mut cmd = common::crest();
        cmd.current_dir(&dir).arg("peaks").args(&args).arg("--no-progress");
        cmd.arg("--tz").arg(step["tz"].as_str().unwrap_or("UTC"));
        if let Some(now) = step["now"].as_str() {
            cmd.arg("--now").arg(now);
        }
        let out = cmd.output().expect("run crest");
        let rc = out.status.code().unwrap_or(-1);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let want_rc = step["rc"].as_i64().expect("rc");
        let mut problems = Vec::new();
        if let Some(Deviation::Fails(message)) = &deviation {
            if rc != 1 || !stderr.contains(message) {
                problems.push(format!(
                    "expected crest's deliberate error '{message}' (exit 1), got exit {rc}"
                ));
            }
        } else {
            if (rc == 0) != (want_rc == 0) || (rc == 2) != (want_rc == 2) {
                problems.push(format!("exit status {rc}, the reference's was {want_rc}"));
            }
            if want_rc == 0 {
                for (key, file) in [("gst_after", "global_table.json"), ("peaks", "peaks.json")] {
                    let Some(want) = files[key].as_str() else { continue };
                    let want = fs::read(expected.join(want)).expect("expected file");
                    match fs::read(dir.join(file)) {
                        Ok(got) if got == want => {}
                        Ok(got) => problems.push(format!(
                            "{file} differs\n--- reference\n{}\n--- crest\n{}",
                            String::from_utf8_lossy(&want),
                            String::from_utf8_lossy(&got)
                        )),
                        Err(e) => problems.push(format!("{file} not written: {e}")),
                    }
                }
                if let Ok(log) = fs::read_to_string(expected.join("log.txt")) {
                    // Every log line, once the time, memory and directory are set aside; the
                    // peak lines in particular, in the reference's order.
                    let want = common::comparable_log_lines(&log);
                    let got = common::comparable_log_lines(&stderr);
                    if want != got {
                        problems.push(format!(
                            "log lines differ\n--- reference\n{want:#?}\n--- crest\n{got:#?}"
                        ));
                    }
                    assert_eq!(common::peak_log_lines(&log).len() % 9, 0, "whole peaks logged");
                }
            }
        }
        if problems.is_empty() {
            outcome.passed += 1;
        } else {
            outcome.failures.push(format!("{name}: {}\nstderr:\n{stderr}", problems.join("\n")));
        }
    }
    outcome
}

fn check(outcome: Outcome, what: &str) {
    assert!(outcome.passed > 0, "{what}: no steps ran");
    assert!(
        outcome.failures.is_empty(),
        "{what}: {} step(s) failed:\n\n{}",
        outcome.failures.len(),
        outcome.failures.join("\n\n")
    );
    eprintln!("{what}: {} steps byte-exact", outcome.passed);
}

#[test]
fn reference_golden_runs() {
    let Some(shared) = common::shared_dir("reference_golden_runs") else { return };
    let data = shared.join("data/peak-analyzer");
    let outcome =
        run_manifest(&data.join("golden/manifest.json"), &[data.clone(), data.join("synthetic")]);
    check(outcome, "shared golden manifest");
}

#[test]
fn extra_golden_runs() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/peaks-extra");
    let outcome = run_manifest(&golden.join("manifest.json"), &[golden.join("inputs")]);
    check(outcome, "extra golden manifest");
}

#[test]
fn edge_case_golden_runs() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/peaks-edge");
    let outcome = run_manifest(&golden.join("manifest.json"), &[golden.join("inputs")]);
    check(outcome, "edge-case golden manifest");
}
