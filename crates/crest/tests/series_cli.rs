//! `crest series score|check|plot` through the real binary.

mod common;

use std::path::Path;

use common::{crest, shared_dir};
use predicates::prelude::*;

/// A day of minutes with a daily sine, a spike at 10:00 and a missing stretch.
fn minutes_csv(days: i64) -> String {
    let mut out = String::from("timestamp,value\n");
    for i in 0..days * 1440 {
        let t = 1_700_000_000 - 1_700_000_000 % 86_400 + i * 60;
        let phase = (i % 1440) as f64 / 1440.0 * std::f64::consts::TAU;
        let noise = ((i * 7919) % 13) as f64 / 13.0;
        let mut v = 100.0 + 30.0 * phase.sin() + noise;
        if i == (days - 1) * 1440 + 600 {
            v += 200.0;
        }
        if (days - 1) * 1440 + 900 <= i && i < (days - 1) * 1440 + 910 {
            out.push_str(&format!("{t},\n"));
            continue;
        }
        out.push_str(&format!("{t},{v}\n"));
    }
    out
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

fn parse_rows(csv: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut lines = csv.lines();
    let header = lines.next().unwrap().split(',').map(String::from).collect();
    (header, lines.map(|l| l.split(',').map(String::from).collect()).collect())
}

#[test]
fn score_keeps_rows_and_scores_in_range() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "m.csv", &minutes_csv(3));
    for method in ["hw", "stdev", "cv", "timeshift", "mad", "seasonal", "ensemble"] {
        let out = crest().args(["series", "score", "--method", method, &input]).output().unwrap();
        assert!(out.status.success(), "{method}: {}", String::from_utf8_lossy(&out.stderr));
        let (header, rows) = parse_rows(&String::from_utf8(out.stdout).unwrap());
        assert_eq!(header[..3], ["timestamp", "value", "anomaly_score"], "{method}");
        assert_eq!(rows.len(), 3 * 1440, "{method}");
        for row in &rows {
            assert_eq!(row.len(), header.len(), "{method}");
            let score: f64 = row[2].parse().unwrap();
            assert!((0.0..=1.0).contains(&score), "{method}: {score}");
        }
        // The spike is the most anomalous point of the last day.
        let last_day = &rows[2 * 1440..];
        let top = last_day
            .iter()
            .max_by(|a, b| a[2].parse::<f64>().unwrap().total_cmp(&b[2].parse::<f64>().unwrap()))
            .unwrap();
        if method != "cv" {
            assert_eq!(top[0], last_day[600][0], "{method}: top score is not the spike");
        }
    }
}

#[test]
fn score_hw_gives_graphite_forecast_and_bands() {
    let Some(shared) = shared_dir("series score hw against graphite") else { return };
    let golden = shared.join("data/series-golden");
    let input = golden.join("a_daily_60s.input.csv");
    let out = crest()
        .args(["series", "score", "--method", "hw", input.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (header, rows) = parse_rows(&String::from_utf8(out.stdout).unwrap());
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let analysis =
        std::fs::read_to_string(golden.join("a_daily_60s.holtWintersAnalysis.csv")).unwrap();
    let (gh, grows) = parse_rows(&analysis);
    let gcol = gh.iter().position(|h| h == "prediction").unwrap();
    assert_eq!(rows.len(), grows.len());
    for (row, g) in rows.iter().zip(&grows) {
        let got: f64 = row[col("forecast")].parse().unwrap();
        let want: f64 = g[gcol].parse().unwrap();
        assert_eq!(got.to_bits(), want.to_bits(), "row {}", row[0]);
    }
    // The bootstrapped bands are the model's bands from 7 days on.
    let bands =
        std::fs::read_to_string(golden.join("a_daily_60s.holtWintersConfidenceBands.csv")).unwrap();
    let (bh, brows) = parse_rows(&bands);
    for (row, b) in rows[10_080..].iter().zip(&brows) {
        for name in ["lower", "upper"] {
            let bi = bh.iter().position(|h| h == name).unwrap();
            assert_eq!(row[col(name)], b[bi].trim_end_matches(".0"), "{name} at {}", row[0]);
        }
    }
}

#[test]
fn score_in_pieces_with_state_equals_one_go() {
    let dir = tempfile::tempdir().unwrap();
    let text = minutes_csv(2);
    let mut lines: Vec<&str> = text.lines().collect();
    let header = lines.remove(0);
    let (a, b) = lines.split_at(1700);
    let first = write(dir.path(), "a.csv", &format!("{header}\n{}\n", a.join("\n")));
    let second = write(dir.path(), "b.csv", &format!("{header}\n{}\n", b.join("\n")));
    let whole = write(dir.path(), "w.csv", &text);
    let state = dir.path().join("state.json");
    let state = state.to_str().unwrap();
    let run = |args: &[&str]| {
        let out = crest().args(["series", "score"]).args(args).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let one_go = run(&[&whole]);
    let part1 = run(&["--state", state, &first]);
    let part2 = run(&["--state", state, &second]);
    let pieces: Vec<&str> = part1.lines().chain(part2.lines().skip(1)).collect();
    let whole: Vec<&str> = one_go.lines().collect();
    assert_eq!(pieces.len(), whole.len());
    if let Some(i) = (0..whole.len()).find(|&i| pieces[i] != whole[i]) {
        panic!("line {}: in pieces '{}', in one go '{}'", i + 1, pieces[i], whole[i]);
    }
    // The same rows again are refused: they were already scored.
    crest()
        .args(["series", "score", "--state", state, &second])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("was already scored"));
    // Other settings cannot resume that state.
    crest()
        .args(["series", "score", "--method", "hw", "--state", state, &second])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("other settings"));
}

#[test]
fn bad_series_input_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("empty.csv", "", "empty file"),
        ("header.csv", "timestamp,value\n", "no rows after the header"),
        ("cols.csv", "time,v\n0,1\n", "line 1: the header must name a 'timestamp' and a 'value'"),
        ("num.csv", "timestamp,value\n0,1\n60,abc\n", "line 3: field 'value': not a number: 'abc'"),
        ("dup.csv", "timestamp,value\n0,1\n60,2\n60,3\n", "line 4: duplicate timestamp '60'"),
        ("sort.csv", "timestamp,value\n60,1\n0,2\n", "line 3: timestamp '0' is before"),
        (
            "time.csv",
            "timestamp,value\n0,1\nnoon,2\n",
            "line 3: field 'timestamp': cannot read 'noon'",
        ),
        (
            "grid.csv",
            "timestamp,value\n0,1\n60,2\n150,3\n",
            "line 4: timestamp '150' is not on the 60 s grid",
        ),
    ];
    for (name, text, message) in cases {
        let path = write(dir.path(), name, text);
        crest()
            .args(["series", "score", &path])
            .assert()
            .code(1)
            .stderr(predicate::str::contains(path.clone()).and(predicate::str::contains(message)));
    }
    let path = write(dir.path(), "step.csv", "timestamp,value\n0,1\n60,2\n");
    crest()
        .args(["series", "score", "--step", "45s", &path])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("line 3: timestamp '60' is not on the 45 s grid"));
    crest().args(["series", "score", "--step", "zero", &path]).assert().code(2);
    crest().args(["series", "score", "--window", "0", &path]).assert().code(2);
    crest()
        .args(["series", "score", dir.path().join("nope.csv").to_str().unwrap()])
        .assert()
        .code(1);

    let path = write(dir.path(), "skip.csv", "timestamp,value\n0,1\n60,x\n60,2\n30,9\n120,3\n");
    let out = crest().args(["series", "score", "--skip-invalid", &path]).output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 1 + 3);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("skipped 2 invalid row(s)") && stderr.contains("line 3"), "{stderr}");
}

#[test]
fn garbage_series_input_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for i in 0..40 {
        let mut bytes = Vec::new();
        if i % 2 == 0 {
            bytes.extend_from_slice(b"timestamp,value\n");
        }
        for _ in 0..(i * 7) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            bytes.push(b"0123456789,.-e\n\"x "[(seed % 18) as usize]);
        }
        let path = dir.path().join(format!("g{i}.csv"));
        std::fs::write(&path, &bytes).unwrap();
        let out = crest().args(["series", "score", path.to_str().unwrap()]).output().unwrap();
        let code = out.status.code().expect("exit code, not a signal");
        assert!(code == 0 || code == 1, "{i}: {code} {}", String::from_utf8_lossy(&out.stderr));
        assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    }
}

#[test]
fn check_reports_state_changes_seyren_style() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "c.csv",
        "timestamp,value\n0,1\n60,6\n120,7\n180,\n240,12\n300,11\n360,0\n420,0.5\n",
    );
    let out = crest()
        .args(["series", "check", "--on", "value", "--warn", "5", "--error", "10", &path])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "1970-01-01 00:01:00  c  OK -> WARN  value 6 (warn 5, error 10)",
            "1970-01-01 00:04:00  c  WARN -> ERROR  value 12 (warn 5, error 10)",
            "1970-01-01 00:06:00  c  ERROR -> OK  value 0 (warn 5, error 10)",
            "c: OK at the end (3 change(s))",
        ]
    );
    // Low values are bad when warn > error.
    let out = crest()
        .args([
            "series", "check", "--on", "value", "--warn", "5", "--error", "1", "--format", "jsonl",
            &path,
        ])
        .output()
        .unwrap();
    let findings: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let changes: Vec<(i64, &str, &str)> = findings
        .iter()
        .map(|f| {
            (f["time"].as_i64().unwrap(), f["from"].as_str().unwrap(), f["to"].as_str().unwrap())
        })
        .collect();
    assert_eq!(changes, [(0, "OK", "ERROR"), (60, "ERROR", "OK"), (360, "OK", "ERROR")]);
    crest()
        .args(["series", "check", "--on", "nonsense", "--warn", "1", "--error", "2", &path])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no such column"));
}

#[test]
fn plot_writes_svg_and_png() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "m.csv", &minutes_csv(2));
    let svg = dir.path().join("m.svg");
    crest()
        .args(["series", "plot", "--method", "hw", &input, "-o", svg.to_str().unwrap()])
        .assert()
        .success()
        .stderr(predicate::str::contains("anomal"));
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(
        text.starts_with("<svg") && text.contains("anomaly ("),
        "{}",
        &text[..200.min(text.len())]
    );
    let png = dir.path().join("m.png");
    crest().args(["series", "plot", &input, "-o", png.to_str().unwrap()]).assert().success();
    assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
    crest().args(["series", "plot", &input, "-o", "x.gif"]).assert().code(2);
}
