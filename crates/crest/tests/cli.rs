//! `crest peaks` through the real binary: inputs, formats, errors and exit statuses.

mod common;

use std::fs;
use std::io::Write;
use std::path::Path;

use common::crest;
use predicates::prelude::*;

const DAY_MS: i64 = 86_400_000;
/// 2020-11-01 00:00:00 UTC in milliseconds.
const NOV1: i64 = 1_604_188_800_000;

/// One file-preset record as a JSON object.
fn record(ts: i64, severity: &str, file_type: &str, sha1: &str) -> String {
    format!(
        r#"{{"utc_timestamp": {ts}, "file.sha1": "{sha1}", "task.severity": "{severity}", "file.llfile_type": "{file_type}", "source.user_id": 1, "source.origin": "API"}}"#
    )
}

/// Three quiet days then a wave of one malicious ZIP on day four.
fn wave_records() -> Vec<String> {
    let mut recs = Vec::new();
    for day in 0..4 {
        for i in 0..120 {
            let ts = NOV1 + day * DAY_MS + i * 600_000;
            recs.push(record(ts, "malicious", "ZipArchiveFile", &format!("h{day}-{}", i % 60)));
            recs.push(record(ts + 1000, "benign", "PdfDocFile", &format!("p{day}-{i}")));
        }
    }
    for i in 0..400 {
        recs.push(record(
            NOV1 + 3 * DAY_MS + i * 1000,
            "malicious",
            "ZipArchiveFile",
            &format!("w{}", i % 5),
        ));
    }
    recs
}

fn array(recs: &[String]) -> String {
    format!("[\n{}\n]\n", recs.join(",\n"))
}

fn lines(recs: &[String]) -> String {
    recs.join("\n") + "\n"
}

fn write(dir: &Path, name: &str, content: impl AsRef<[u8]>) {
    fs::write(dir.join(name), content).unwrap();
}

/// Builds the table over three days, then detects day four; returns (peaks.json, table).
fn build_and_detect(dir: &Path, input: &str, extra: &[&str]) -> (String, String) {
    crest()
        .current_dir(dir)
        .args(["peaks", "-n", input, "-s", "2020-11-01", "-e", "2020-11-04", "-m", "gst.json"])
        .args(extra)
        .assert()
        .success();
    crest()
        .current_dir(dir)
        .args([
            "peaks",
            "-n",
            input,
            "-s",
            "2020-11-04",
            "-e",
            "2020-11-05",
            "-m",
            "gst.json",
            "-o",
            "peaks.json",
        ])
        .args(extra)
        .assert()
        .success();
    (
        fs::read_to_string(dir.join("peaks.json")).unwrap(),
        fs::read_to_string(dir.join("gst.json")).unwrap(),
    )
}

#[test]
fn finds_the_planted_wave_in_every_input_shape() {
    let recs = wave_records();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.json", array(&recs));
    let (peaks, gst) = build_and_detect(dir.path(), "a.json", &[]);
    assert!(peaks.contains("\"ZipArchiveFile\": [\n      520,"), "{peaks}");
    assert!(!peaks.ends_with('\n'), "no trailing newline, like the reference");

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(array(&recs).as_bytes()).unwrap();
    let shapes: Vec<(&str, Vec<u8>)> = vec![
        ("b.jsonl", lines(&recs).into_bytes()),
        ("c.json.gz", gz.finish().unwrap()),
        ("d.jsonl.zst", zstd::encode_all(lines(&recs).as_bytes(), 3).unwrap()),
    ];
    for (name, bytes) in shapes {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), name, bytes);
        assert_eq!(build_and_detect(d.path(), name, &[]), (peaks.clone(), gst.clone()), "{name}");
    }
}

#[test]
fn reads_standard_input() {
    let recs = wave_records();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.json", array(&recs));
    let (peaks, _) = build_and_detect(dir.path(), "a.json", &[]);
    let d = tempfile::tempdir().unwrap();
    for (window, output) in [
        (["-s", "2020-11-01", "-e", "2020-11-04"], None),
        (["-s", "2020-11-04", "-e", "2020-11-05"], Some("peaks.json")),
    ] {
        let mut cmd = crest();
        cmd.current_dir(d.path()).args(["peaks", "-n", "-", "-m", "gst.json"]).args(window);
        if let Some(o) = output {
            cmd.args(["-o", o]);
        }
        cmd.write_stdin(lines(&recs)).assert().success();
    }
    assert_eq!(fs::read_to_string(d.path().join("peaks.json")).unwrap(), peaks);
}

#[test]
fn any_number_of_dimensions_nests_the_json() {
    let recs = wave_records();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.json", array(&recs));
    let dims =
        ["--dims", "task.severity,file.llfile_type,source.origin", "--floor", "malicious=90"];
    let (peaks, gst) = build_and_detect(dir.path(), "a.json", &dims);
    let peaks: serde_json::Value = serde_json::from_str(&peaks).unwrap();
    assert_eq!(peaks["malicious"]["ZipArchiveFile"]["API"][0], 520, "{peaks}");
    let gst: serde_json::Value = serde_json::from_str(&gst).unwrap();
    assert_eq!(gst["benign"]["PdfDocFile"]["API"].as_array().unwrap().len(), 10);
    // One dimension: entries directly under the value.
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "a.json", array(&recs));
    let (_, gst) = build_and_detect(d.path(), "a.json", &["--dims", "file.llfile_type"]);
    let gst: serde_json::Value = serde_json::from_str(&gst).unwrap();
    assert_eq!(gst["ZipArchiveFile"].as_array().unwrap().len(), 10, "{gst}");
}

#[test]
fn custom_field_names_and_time_formats() {
    let dir = tempfile::tempdir().unwrap();
    let recs: Vec<String> = wave_records()
        .iter()
        .map(|r| {
            let v: serde_json::Value = serde_json::from_str(r).unwrap();
            let ts = v["utc_timestamp"].as_i64().unwrap();
            let when = jiff::Timestamp::from_millisecond(ts).unwrap().to_string();
            serde_json::json!({"@timestamp": when, "hash": v["file.sha1"], "verdict": {"name": v["task.severity"]}, "kind": v["file.llfile_type"]}).to_string()
        })
        .collect();
    write(dir.path(), "e.jsonl", lines(&recs));
    let args = [
        "--time",
        "@timestamp",
        "--time-format",
        "rfc3339",
        "--sample",
        "hash",
        "--dims",
        "verdict.name,kind",
        "--floor",
        "malicious=90",
    ];
    let (peaks, _) = build_and_detect(dir.path(), "e.jsonl", &args);
    assert!(peaks.contains("\"ZipArchiveFile\": [\n      520,"), "{peaks}");
}

#[test]
fn a_missing_field_names_file_record_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let mut recs = wave_records();
    recs.insert(1, r#"{"utc_timestamp": 1604448000000, "task.severity": "benign", "file.llfile_type": "PdfDocFile", "source.user_id": 1, "source.origin": "API"}"#.into());
    write(dir.path(), "m.json", array(&recs));
    crest()
        .current_dir(dir.path())
        .args(["peaks", "-n", "m.json", "-s", "2020-11-04", "-e", "2020-11-05", "--no-state"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "m.json: record 2, line 3, column 1: missing field 'file.sha1'",
        ));
    // Outside the window the reference never reads the field, and neither does crest.
    crest()
        .current_dir(dir.path())
        .args(["peaks", "-n", "m.json", "-s", "2020-11-01", "-e", "2020-11-02", "--no-state"])
        .assert()
        .success();
}

#[test]
fn malformed_json_names_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let mut recs = wave_records();
    recs[2] = recs[2].replace("\"API\"", "API");
    write(dir.path(), "bad.json", array(&recs));
    crest()
        .current_dir(dir.path())
        .args(["peaks", "-n", "bad.json", "--no-state"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::is_match(
                r"bad\.json: line 4, column \d+: malformed JSON: expected a value",
            )
            .unwrap(),
        );
}

#[test]
fn bad_timestamps_are_errors_or_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut recs = wave_records();
    recs[5] = recs[5]
        .replace("\"utc_timestamp\": ", "\"utc_timestamp\": \"")
        .replace(", \"file.sha1\"", "\", \"file.sha1\"");
    recs[9] = recs[9].replace("000, \"file.sha1\"", "000.5, \"file.sha1\"");
    recs[12] = r#"{"utc_timestamp": 1604448000000, "task.severity": "benign", "file.llfile_type": "PdfDocFile", "source.user_id": 1, "source.origin": "API"}"#.into();
    write(dir.path(), "t.jsonl", lines(&recs));
    crest()
        .current_dir(dir.path())
        .args(["peaks", "-n", "t.jsonl", "--no-state"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "t.jsonl: record 6, line 6, column 1: field 'utc_timestamp': expected an integer number of milliseconds, found a string",
        ));
    crest()
        .current_dir(dir.path())
        .args(["peaks", "-n", "t.jsonl", "-s", "2020-11-04", "-e", "2020-11-05", "--no-state", "--skip-invalid"])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "WARNING -> ",
        ))
        .stderr(predicate::str::contains(
            "Skipped 3 invalid record(s): 2 invalid field 'utc_timestamp', 1 missing field 'file.sha1'; first at ",
        ))
        .stderr(predicate::str::contains("t.jsonl: record 6, line 6, column 1: field 'utc_timestamp'"));
}

#[test]
fn no_matching_input_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    crest()
        .current_dir(dir.path())
        .args(["peaks", "-n", "./data/*.json", "-s", "2020-11-01", "-e", "2020-11-04"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no input file matches './data/*.json'"));
    assert!(!dir.path().join("global_table.json").exists());
}

#[test]
fn an_invalid_global_table_is_an_error_and_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.json", array(&wave_records()));
    for (garbage, message) in [
        ("{\"malicious\": [", "invalid global table: invalid JSON at line 1, column 15"),
        (
            "{\"malicious\": {\"ZipArchiveFile\": [1, 2]}}",
            "invalid global table: entry malicious → ZipArchiveFile: expected a list of 10 values, found 2",
        ),
        ("[]", "invalid global table: global table: expected an object of pairs"),
    ] {
        write(dir.path(), "global_table.json", garbage);
        crest()
            .current_dir(dir.path())
            .args(["peaks", "-n", "a.json", "-s", "2020-11-04", "-e", "2020-11-05"])
            .assert()
            .code(1)
            .stderr(predicate::str::contains(message));
        assert_eq!(fs::read_to_string(dir.path().join("global_table.json")).unwrap(), garbage);
    }
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        vec!["peaks", "-s", "2020-11-01"],
        vec!["peaks", "-n", "x.json", "-s", "2020-13-01"],
        vec!["peaks", "-n", "x.json", "-t", "many"],
        vec!["peaks", "-n", "x.json", "--tz", "Mars/Olympus"],
        vec!["peaks", "-n", "x.json", "--format", "xml"],
        vec!["nosuchcommand"],
    ] {
        crest().args(&args).assert().code(2);
    }
}

#[test]
fn run_errors_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.json", array(&wave_records()));
    for args in [
        vec!["peaks", "-n", "a.json", "-s", "2020-11-05", "-e", "2020-11-04"],
        vec!["peaks", "-n", "a.json", "-s", "2020-11-05", "-e", "2020-11-05"],
        vec!["peaks", "-n", "a.json", "-a", "mypackage.MyAnalyzer"],
        vec!["peaks", "-n", "a.json", "-b", "telemetry_peak_analyzer.backends.tina.TinaBackend"],
        vec!["peaks", "-n", "a.json", "-o", "no/such/dir/peaks.json", "--no-state"],
    ] {
        crest().current_dir(dir.path()).args(&args).assert().code(1).stderr(
            predicate::str::starts_with("crest: error: ")
                .or(predicate::str::contains("\ncrest: error: ")),
        );
    }
}

#[test]
fn a_lone_start_or_end_date_is_completed_with_delta() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.json", array(&wave_records()));
    let run = |args: &[&str]| {
        crest()
            .current_dir(dir.path())
            .args([
                "peaks",
                "-n",
                "a.json",
                "--no-state",
                "--now",
                "2020-11-04 00:00:00",
                "--format",
                "json",
            ])
            .args(args)
            .output()
            .unwrap()
    };
    let explicit = run(&["-s", "2020-11-03", "-e", "2020-11-05"]);
    assert!(explicit.status.success());
    assert_eq!(run(&["-s", "2020-11-03", "-d", "2"]).stdout, explicit.stdout);
    assert_eq!(run(&["-e", "2020-11-05", "-d", "2"]).stdout, explicit.stdout);
    let stderr = String::from_utf8(run(&["-s", "2020-11-03", "-d", "2"]).stderr).unwrap();
    assert!(
        stderr.contains(
            "Loading Peak Analyzer from 2020-11-03 00:00:00 to 2020-11-05 00:00:00 with t=None"
        ),
        "{stderr}"
    );
}

#[test]
fn output_formats() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.json", array(&wave_records()));
    let base = [
        "peaks",
        "-n",
        "a.json",
        "--no-state",
        "--now",
        "2020-11-04 00:00:00",
        "-s",
        "2020-11-04",
        "-e",
        "2020-11-05",
    ];
    // In a pipe, nothing on standard output unless asked (like the reference).
    crest().current_dir(dir.path()).args(base).assert().success().stdout("");
    let json =
        crest().current_dir(dir.path()).args(base).args(["--format", "json"]).output().unwrap();
    let json = String::from_utf8(json.stdout).unwrap();
    assert!(json.ends_with("]\n  }\n}\n"), "{json}");
    let jsonl =
        crest().current_dir(dir.path()).args(base).args(["--format", "jsonl"]).output().unwrap();
    let jsonl = String::from_utf8(jsonl.stdout).unwrap();
    let first: serde_json::Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    assert_eq!(first["detector"], "peaks");
    assert_eq!(first["key"]["file.llfile_type"], "ZipArchiveFile");
    assert_eq!(first["stats"]["sub_count"], 520);
    assert_eq!(first["evidence"]["top_samples"][0]["count"], 80);
    let table =
        crest().current_dir(dir.path()).args(base).args(["--format", "table"]).output().unwrap();
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(
        table.starts_with(
            "1 peak in 2020-11-04 00:00:00 → 2020-11-05 00:00:00 (UTC), 2 pairs checked\n"
        ),
        "{table}"
    );
    assert!(table.contains("ZipArchiveFile"), "{table}");
}

#[test]
fn the_table_is_written_atomically() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.json", array(&wave_records()));
    build_and_detect(dir.path(), "a.json", &[]);
    let leftovers: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // --no-state neither reads nor writes a table.
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "a.json", array(&wave_records()));
    crest().current_dir(d.path()).args(["peaks", "-n", "a.json", "--no-state"]).assert().success();
    assert!(!d.path().join("global_table.json").exists());
}

#[test]
fn garbage_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("binary", (0..=255u8).cycle().take(5000).collect()),
        ("truncated.gz", {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(array(&wave_records()).as_bytes()).unwrap();
            let v = gz.finish().unwrap();
            v[..v.len() / 2].to_vec()
        }),
        ("deep", format!("[{{\"a\": {}}}]", "[".repeat(100_000)).into_bytes()),
        ("scalar", b"42".to_vec()),
        ("objects", b"[{\"utc_timestamp\": {}}]".to_vec()),
        ("huge_ts", b"[{\"utc_timestamp\": 99999999999999999}]".to_vec()),
        ("neg_ts", b"[{\"utc_timestamp\": -99999999999999999}]".to_vec()),
    ];
    for (name, bytes) in cases {
        write(dir.path(), name, bytes);
        let out = crest()
            .current_dir(dir.path())
            .args(["peaks", "-n", name, "--no-state", "-s", "2020-11-01"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(name),
            "{name}: error names the file"
        );
    }
}
