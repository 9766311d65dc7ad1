//! `crest series extract` through the real binary: formats, metrics, errors and exit statuses.

mod common;

use std::fs;
use std::io::Write;
use std::path::Path;

use common::crest;
use predicates::prelude::*;

/// 2020-11-04 00:00:00 UTC.
const T0: i64 = 1_604_448_000;

/// Connections: three quiet hosts on three ports, and one host sweeping 120 ports in minute 2.
/// 90 quiet events, 30 a minute in minutes 0-2; the 120 sweep events all fall in minute 2.
fn events() -> Vec<(i64, &'static str, u32, u64)> {
    let mut out = Vec::new();
    for i in 0..90 {
        let src = ["10.0.0.1", "10.0.0.2", "10.0.0.3"][i % 3];
        out.push((T0 + 2 * i as i64, src, [80, 443, 53][i / 3 % 3], 100 + i as u64));
    }
    for p in 0..120 {
        out.push((T0 + 120 + p as i64 / 4, "10.0.0.66", 1000 + p, 60));
    }
    out.sort_by_key(|e| e.0);
    out
}

fn json_objects() -> Vec<String> {
    events()
        .iter()
        .map(|(t, src, port, bytes)| {
            format!(
                r#"{{"timestamp": {t}, "src_ip": "{src}", "dst_port": {port}, "bytes": {bytes}}}"#
            )
        })
        .collect()
}

fn jsonl() -> String {
    json_objects().join("\n") + "\n"
}

fn csv_text() -> String {
    let mut s = String::from("timestamp,src_ip,dst_port,bytes\n");
    for (t, src, port, bytes) in events() {
        s.push_str(&format!("{t},{src},{port},{bytes}\n"));
    }
    s
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

fn write(dir: &Path, name: &str, content: impl AsRef<[u8]>) {
    fs::write(dir.join(name), content).unwrap();
}

/// Runs `crest series extract` in `dir`; returns (status, stdout, stderr).
fn extract(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = crest().current_dir(dir).args(["series", "extract"]).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const METRICS: [&str; 8] = [
    "-m",
    "count",
    "-m",
    "sum(bytes) by src_ip",
    "-m",
    "distinct(dst_port) by src_ip",
    "--step",
    "1m",
];

#[test]
fn counts_sums_and_distincts_from_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "conn.jsonl", jsonl());
    let (code, out, err) = extract(dir.path(), &[&["conn.jsonl"][..], &METRICS].concat());
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "metric,key,timestamp,value");
    assert_eq!(
        lines[1..4],
        ["count,,1604448000,30", "count,,1604448060,30", "count,,1604448120,150"]
    );
    assert!(lines.contains(&"sum(bytes) by src_ip,10.0.0.66,1604448120,7200"));
    assert!(lines.contains(&"distinct(dst_port) by src_ip,10.0.0.1,1604448000,3"));
    // Sorted by metric (in the order given), key, then time.
    let metrics: Vec<&str> = lines[1..].iter().map(|l| l.rsplitn(4, ',').last().unwrap()).collect();
    let mut sorted = metrics.clone();
    sorted.dedup();
    assert_eq!(sorted, ["count", "sum(bytes) by src_ip", "distinct(dst_port) by src_ip"]);
}

#[test]
fn json_array_csv_and_compressed_inputs_agree() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "conn.jsonl", jsonl());
    write(dir.path(), "conn.json", format!("[\n{}\n]\n", json_objects().join(",\n")));
    write(dir.path(), "conn.jsonl.gz", gzip(jsonl().as_bytes()));
    write(dir.path(), "conn.csv", csv_text());
    write(dir.path(), "conn.csv.gz", gzip(csv_text().as_bytes()));
    write(dir.path(), "conn.csv.zst", zstd::encode_all(csv_text().as_bytes(), 0).unwrap());
    let run = |input: &str| {
        let (code, out, err) = extract(dir.path(), &[&[input][..], &METRICS].concat());
        assert_eq!(code, 0, "{input}: {err}");
        out
    };
    let want = run("conn.jsonl");
    for input in ["conn.json", "conn.jsonl.gz", "conn.csv", "conn.csv.gz", "conn.csv.zst"] {
        assert_eq!(run(input), want, "{input}");
    }
    // Standard input, and the CSV format forced on a name that does not say it.
    let out = crest()
        .current_dir(dir.path())
        .args(["series", "extract", "-"])
        .args(METRICS)
        .write_stdin(gzip(jsonl().as_bytes()))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), want);
    write(dir.path(), "conn.txt", csv_text());
    let (_, out, _) =
        extract(dir.path(), &[&["conn.txt", "--input-format", "csv"][..], &METRICS].concat());
    assert_eq!(out, want);
}

#[test]
fn distinct_ports_by_source_finds_the_scanner() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "conn.jsonl", jsonl());
    let (code, out, err) = extract(
        dir.path(),
        &["conn.jsonl", "--metric", "distinct(dst_port) by src_ip", "--step", "1m"],
    );
    assert_eq!(code, 0, "{err}");
    let top = out
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[3].parse::<f64>().unwrap(), f[1].to_string())
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .unwrap();
    assert_eq!(top, (120.0, "10.0.0.66".to_string()));
    // One series out, as `crest series score` reads it.
    let (_, one, _) = extract(
        dir.path(),
        &["conn.jsonl", "-m", "distinct(dst_port) by src_ip", "--step", "1m", "--key", "10.0.0.66"],
    );
    assert_eq!(
        one,
        "metric,key,timestamp,value\n\
         distinct(dst_port) by src_ip,10.0.0.66,1604448120,120\n"
    );
}

#[test]
fn gaps_are_zero_or_omitted_and_jsonl_is_typed() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "e.csv", "timestamp,host\n0,a\n5,a\n200,a\n");
    let (_, out, _) = extract(dir.path(), &["e.csv", "-m", "count by host", "--step", "1m"]);
    assert_eq!(
        out,
        "metric,key,timestamp,value\ncount by host,a,0,2\ncount by host,a,60,0\ncount by host,a,120,0\ncount by host,a,180,1\n"
    );
    let (_, out, _) = extract(
        dir.path(),
        &["e.csv", "-m", "count by host", "--step", "1m", "--gaps", "omit", "--format", "jsonl"],
    );
    assert_eq!(
        out,
        "{\"key\":\"a\",\"keys\":{\"host\":\"a\"},\"metric\":\"count by host\",\"timestamp\":0,\"value\":2}\n\
         {\"key\":\"a\",\"keys\":{\"host\":\"a\"},\"metric\":\"count by host\",\"timestamp\":180,\"value\":1}\n"
    );
    let (code, _, _) =
        extract(dir.path(), &["e.csv", "-m", "count", "--step", "1m", "-o", "out.csv"]);
    assert_eq!(code, 0);
    assert!(fs::read_to_string(dir.path().join("out.csv")).unwrap().starts_with("metric,key"));
}

#[test]
fn bad_input_names_the_file_record_and_field() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "m.jsonl",
        "{\"timestamp\": 0, \"src_ip\": \"a\", \"bytes\": 1}\n{\"timestamp\": 1, \"bytes\": 2}\n",
    );
    write(dir.path(), "n.csv", "timestamp,src_ip,bytes\n0,a,1\n1,a,lots\n");
    write(dir.path(), "t.jsonl", "{\"timestamp\": \"soon\", \"src_ip\": \"a\", \"bytes\": 1}\n");
    write(dir.path(), "h.csv", "time,src_ip\n0,a\n");
    write(dir.path(), "empty.jsonl", "");
    write(dir.path(), "empty.csv", "timestamp,src_ip,bytes\n");
    let root = dir.path().canonicalize().unwrap();
    let fails = |input: &str, want: &str| {
        let (code, out, err) =
            extract(dir.path(), &[input, "-m", "sum(bytes) by src_ip", "--step", "1m"]);
        assert_eq!(code, 1, "{input}: {err}");
        assert!(out.is_empty(), "{input}: {out}");
        assert_eq!(err.trim_end(), format!("crest: error: {}/{want}", root.display()), "{input}");
    };
    fails("m.jsonl", "m.jsonl: record 2, line 2, column 1: missing field 'src_ip'");
    fails(
        "n.csv",
        "n.csv: record 2, line 3: field 'bytes': expected a number, found a string \"lots\"",
    );
    fails(
        "t.jsonl",
        "t.jsonl: record 1, line 1, column 1: field 'timestamp': expected epoch seconds or \
         milliseconds, RFC 3339 or YYYY-MM-DD HH:MM:SS, found a string \"soon\"",
    );
    fails("h.csv", "h.csv: line 1: the header has no column 'timestamp' (columns: time, src_ip)");
    fails("empty.jsonl", "empty.jsonl: no events (the input is empty)");
    fails("empty.csv", "empty.csv: no events (the input is empty)");
}

#[test]
fn steps_that_cannot_be_or_do_not_fit() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "e.csv", "timestamp,host\n0,a\n1600000000,a\n");
    crest()
        .current_dir(dir.path())
        .args(["series", "extract", "e.csv", "-m", "count", "--step", "5x"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--step: invalid step '5x': expected a duration"));
    crest()
        .current_dir(dir.path())
        .args(["series", "extract", "e.csv", "-m", "count", "--step", "0s"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("the step must be positive"));
    crest()
        .current_dir(dir.path())
        .args(["series", "extract", "e.csv", "-m", "count by host", "--step", "1s"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains(
            "--step 1s: series 'count by host' key 'a' runs from 1970-01-01T00:00:00Z to \
             2020-09-13T12:26:40Z, 1600000001 steps of 1 s, more than the 10000000",
        ));
    crest()
        .current_dir(dir.path())
        .args([
            "series",
            "extract",
            "e.csv",
            "-m",
            "count by host",
            "--step",
            "1s",
            "--gaps",
            "omit",
        ])
        .assert()
        .success();
    crest()
        .current_dir(dir.path())
        .args(["series", "extract", "e.csv", "-m", "median(x)", "--step", "1m"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown aggregate 'median'"));
}

#[test]
fn skip_invalid_counts_what_it_skipped() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "e.jsonl",
        "{\"timestamp\": 0, \"bytes\": 1}\n{\"timestamp\": 1}\n{\"timestamp\": 2, \"bytes\": \"x\"}\nnot json\n{\"timestamp\": 3, \"bytes\": 4}\n",
    );
    write(dir.path(), "empty.csv", "");
    let (code, out, err) = extract(
        dir.path(),
        &["e.jsonl", "empty.csv", "-m", "sum(bytes)", "--step", "1m", "--skip-invalid"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "metric,key,timestamp,value\nsum(bytes),,0,5\n");
    assert!(err.contains("crest: warning: skipped 1 empty input(s): "), "{err}");
    assert!(
        err.contains("crest: warning: skipped 3 invalid event(s): 1 invalid field 'bytes', 1 malformed JSON, 1 missing field 'bytes'; first at "),
        "{err}"
    );
    assert!(err.contains("e.jsonl: record 2, line 2, column 1: missing field 'bytes'"), "{err}");
}

#[test]
fn retention_drops_late_events_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "e.csv", "timestamp,host\n0,a\n70,a\n130,a\n10,a\n75,a\n");
    let (code, out, err) =
        extract(dir.path(), &["e.csv", "-m", "count", "--step", "1m", "--retain", "1"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "metric,key,timestamp,value\ncount,,0,1\ncount,,60,2\ncount,,120,1\n");
    assert!(err.contains("dropped 1 late event(s)"), "{err}");
    let (_, all, _) = extract(dir.path(), &["e.csv", "-m", "count", "--step", "1m"]);
    assert_eq!(all, "metric,key,timestamp,value\ncount,,0,2\ncount,,60,2\ncount,,120,1\n");
}

#[test]
fn garbage_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let alphabet = b"{}[],:\"\\ \n0123456789.-eE+tfnulrsa\xff\xc3timestampbytes";
    for case in 0..40 {
        let len = (next() % 300) as usize;
        let mut bytes: Vec<u8> =
            (0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect();
        if case % 4 == 0 {
            bytes = [b"timestamp,bytes,k\n".as_slice(), &bytes].concat();
        }
        for name in ["g.jsonl", "g.csv"] {
            write(dir.path(), name, &bytes);
            for skip in [false, true] {
                let mut args =
                    vec![name, "-m", "sum(bytes) by k", "-m", "distinct(k)", "--step", "1m"];
                if skip {
                    args.push("--skip-invalid");
                }
                let (code, _, err) = extract(dir.path(), &args);
                assert!(code == 0 || code == 1, "case {case} {name}: exit {code}: {err}");
                assert!(!err.contains("panicked"), "case {case} {name}: {err}");
            }
        }
    }
}
