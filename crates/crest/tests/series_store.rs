//! `crest series store` through the real binary: extract → write → read, schemas, bad rows,
//! retention drops, list/delete/drop, and the same round trip on Redis.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use common::crest;

/// 2020-11-04 00:00:00 UTC.
const T0: i64 = 1_604_448_000;

/// Connections over about three hours: one every 37 s, from three hosts in turn.
fn jsonl() -> String {
    (0..300)
        .map(|i| {
            let src = ["10.0.0.1", "10.0.0.2", "10.0.0.3"][i % 3];
            format!("{{\"timestamp\": {}, \"src_ip\": \"{src}\"}}\n", T0 + 37 * i as i64)
        })
        .collect()
}

/// Runs `crest` with `args` and `stdin`; returns (status, stdout, stderr).
fn run(args: &[&str], stdin: &str) -> (i32, String, String) {
    let out = crest().args(args).write_stdin(stdin).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `crest series store ARGS --data-dir DIR`.
fn store(dir: &Path, args: &[&str], stdin: &str) -> (i32, String, String) {
    let d = dir.to_str().unwrap();
    run(&[&["series", "store"][..], args, &["--data-dir", d]].concat(), stdin)
}

/// `crest series extract` of the connections at one minute: count, and count by source.
fn extracted(dir: &Path) -> String {
    fs::write(dir.join("conn.jsonl"), jsonl()).unwrap();
    let conn = dir.join("conn.jsonl");
    let args = ["series", "extract", conn.to_str().unwrap(), "-m", "count", "-m"];
    let (code, out, err) = run(&[&args[..], &["count by src_ip", "--step", "1m"]].concat(), "");
    assert_eq!(code, 0, "{err}");
    out
}

/// The `timestamp,value` rows of extract's output for one metric and key.
fn rows_of(extract: &str, metric: &str, key: &str) -> Vec<(i64, f64)> {
    extract
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0] == metric && f[1] == key).then(|| (f[2].parse().unwrap(), f[3].parse().unwrap()))
        })
        .collect()
}

/// Parses `timestamp,value` CSV (an empty value is `None`).
fn parse_read(csv: &str) -> Vec<(i64, Option<f64>)> {
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("timestamp,value"));
    lines
        .map(|l| {
            let (t, v) = l.split_once(',').unwrap();
            (t.parse().unwrap(), (!v.is_empty()).then(|| v.parse().unwrap()))
        })
        .collect()
}

/// Sums minute rows into hours.
fn hourly(rows: &[(i64, f64)]) -> Vec<(i64, Option<f64>)> {
    let mut hours: BTreeMap<i64, f64> = BTreeMap::new();
    for (t, v) in rows {
        *hours.entry(t.div_euclid(3600) * 3600).or_default() += v;
    }
    hours.into_iter().map(|(t, v)| (t, Some(v))).collect()
}

#[test]
fn extract_write_read_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let csv = extracted(dir.path());
    let (code, _, err) = store(&data, &["write", "-"], &csv);
    assert_eq!(code, 0, "{err}");
    let rows = csv.lines().count() - 1;
    assert!(err.contains(&format!("{rows} row(s) written, 0 rejected")), "{err}");
    assert!(err.contains("dropped as older than retention: minute 0, hour 0, day 0"), "{err}");
    assert!(data.join("series/default/metrics.snapshot").is_file());

    for (metric, key, name) in
        [("count", "", "count"), ("count by src_ip", "10.0.0.2", "count by src_ip 10.0.0.2")]
    {
        let want = rows_of(&csv, metric, key);
        assert!(want.len() > 150, "{metric} {key}: {}", want.len());
        let (code, out, err) = store(&data, &["read", name, "--interval", "minute"], "");
        assert_eq!(code, 0, "{err}");
        let got = parse_read(&out);
        let want_minutes: Vec<(i64, Option<f64>)> =
            want.iter().map(|&(t, v)| (t, Some(v))).collect();
        assert_eq!(got, want_minutes, "{name} by minute");
        let (code, out, err) = store(&data, &["read", name, "-i", "hour"], "");
        assert_eq!(code, 0, "{err}");
        assert_eq!(parse_read(&out), hourly(&want), "{name} by hour");
    }

    // An explicit range pads with empty buckets: 0 for a count.
    let (start, end) = ((T0 - 120).to_string(), (T0 + 59).to_string());
    let args = ["read", "count", "-i", "minute", "--start", &start, "--end", &end];
    let (code, out, err) = store(&data, &args, "");
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, format!("timestamp,value\n{},0\n{},0\n{T0},2\n", T0 - 120, T0 - 60));

    // What read writes goes straight into score.
    let (_, out, _) = store(&data, &["read", "count", "-i", "minute"], "");
    let (code, scored, err) = run(&["series", "score", "--method", "mad", "-"], &out);
    assert_eq!(code, 0, "{err}");
    assert!(scored.starts_with("timestamp,value,anomaly_score"), "{scored}");

    let (code, _, err) = store(&data, &["read", "nothing", "-i", "minute"], "");
    assert_eq!(code, 1);
    assert!(err.contains("\"nothing\" has no data in interval minute"), "{err}");
    let (code, _, err) = store(&data, &["read", "count", "-i", "week"], "");
    assert_eq!(code, 2);
    assert!(err.contains("the store has minute, hour, day"), "{err}");
}

#[test]
fn schema_is_remembered_and_a_mismatch_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let gauge = ["--type", "gauge", "--interval", "m=1m:60", "--interval", "h=1h"];
    let rows = format!("name,timestamp,value\nq,{T0},5\nq,{},7\nq,{},3\n", T0 + 30, T0 + 120);
    let (code, _, err) = store(data, &[&["write"][..], &gauge].concat(), &rows);
    assert_eq!(code, 0, "{err}");
    assert!(data.join("series/default/schema.json").is_file());

    // No flags: the stored schema (a gauge keeps the last value; an empty bucket is missing).
    let (code, out, err) = store(data, &["read", "q", "-i", "m"], "");
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, format!("timestamp,value\n{T0},7\n{},\n{},3\n", T0 + 60, T0 + 120));
    let more = format!("name,timestamp,value\nq,{},9\n", T0 + 3600);
    let (code, _, err) = store(data, &["write"], &more);
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = store(data, &["read", "q", "-i", "h"], "");
    assert_eq!(out, format!("timestamp,value\n{T0},3\n{},9\n", T0 + 3600));

    // Another schema for the same store is refused, naming both.
    let (code, _, err) = store(data, &["write", "--type", "count"], &more);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("store default has another schema"), "{err}");
    assert!(err.contains("gauge: m=60s×60 h=3600s") && err.contains("count:"), "{err}");
    // …but another --name is another store.
    let (code, _, err) = store(data, &["write", "--type", "count", "--name", "other"], &more);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = store(data, &["write", "--interval", "m=0s"], &more);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn bad_rows_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let input = dir.path().join("in.csv");
    let text = format!("metric,key,timestamp,value\nc,,{T0},1\nc,,yesterday,1\nc,,{T0},x\n");
    fs::write(&input, text).unwrap();
    let path = input.to_str().unwrap();
    let (code, _, err) = store(&data, &["write", path], "");
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!("{path}: line 3: timestamp: cannot read \"yesterday\"")),
        "{err}"
    );
    assert!(!data.join("series/default/metrics.snapshot").exists(), "nothing written on error");

    let (code, _, err) = store(&data, &["write", path, "--skip-invalid"], "");
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("1 row(s) written") && err.contains("2 skipped (invalid)"), "{err}");
    assert!(err.contains("first invalid row: ") && err.contains("line 3"), "{err}");

    let colon = format!("metric,key,timestamp,value\nc,host:1,{T0},1\n");
    let (code, _, err) = store(&data, &["write"], &colon);
    assert_eq!(code, 1);
    assert!(err.contains("<stdin>: line 2: metric name \"c host:1\" is invalid"), "{err}");
    let (code, _, err) = store(&data, &["write"], "timestamp,value\n1,2\n");
    assert_eq!(code, 1);
    assert!(err.contains("line 1: the header needs a `name` or a `metric` column"), "{err}");
}

#[test]
fn writes_older_than_retention_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let schema = ["--interval", "minute=1m:5", "--interval", "hour=1h:3"];
    let rows =
        format!("name,timestamp,value\nc,{},1\nc,{},1\nc,{},1\n", T0 + 600, T0 + 7000, T0 + 7200);
    let (code, _, err) = store(dir.path(), &[&["write"][..], &schema].concat(), &rows);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("3 row(s) written"), "{err}");
    assert!(err.contains("dropped as older than retention: minute 1, hour 0"), "{err}");
    // --now moves the clock: two hours later the first hour leaves retention too.
    let now = (T0 + 3 * 3600).to_string();
    let (code, _, err) =
        store(dir.path(), &["write", "--now", &now], &format!("name,timestamp,value\nc,{T0},1\n"));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("dropped as older than retention: minute 1, hour 1"), "{err}");
    let (_, out, _) = store(dir.path(), &["read", "c", "-i", "hour"], "");
    assert_eq!(out, format!("timestamp,value\n{},1\n{},1\n", T0 + 3600, T0 + 7200));
}

#[test]
fn list_delete_and_drop() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let rows = format!(
        "metric,key,timestamp,value\nb,,{T0},1\na,x y,{},2\na,x y,{},3\n",
        T0 + 59,
        T0 + 3600
    );
    let (code, _, err) = store(data, &["write"], &rows);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = store(data, &["list"], "");
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "a x y\tminute 2020-11-04 00:00:00..2020-11-04 01:00:00\thour 2020-11-04 00:00:00..\
         2020-11-04 01:00:00\tday 2020-11-04 00:00:00..2020-11-04 00:00:00\n\
         b\tminute 2020-11-04 00:00:00..2020-11-04 00:00:00\thour 2020-11-04 00:00:00..\
         2020-11-04 00:00:00\tday 2020-11-04 00:00:00..2020-11-04 00:00:00\n"
    );
    let (code, _, err) = store(data, &["delete", "b", "zzz"], "");
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("\"zzz\" is not in the store"), "{err}");
    let (_, out, _) = store(data, &["list"], "");
    assert!(out.starts_with("a x y\t") && out.lines().count() == 1, "{out}");
    let (code, _, err) = store(data, &["drop"], "");
    assert_eq!(code, 0, "{err}");
    assert!(!data.join("series/default").exists());
    // A missing store lists as empty and is not created by reading it.
    let (code, out, _) = store(data, &["list", "--name", "never"], "");
    assert_eq!((code, out.as_str()), (0, ""));
    assert!(!data.join("series/never").exists());
}

/// Whether the Redis tests can run: with CREST_TEST_SERVICES=1 the server must be there.
fn redis_up(test: &str) -> bool {
    let addr = "127.0.0.1:6379".parse().unwrap();
    let up = std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(1)).is_ok();
    if !up {
        assert!(
            !crest_testing::services_required(),
            "{test}: CREST_TEST_SERVICES=1 but Redis is not reachable at 127.0.0.1:6379"
        );
        println!("SKIPPED {test}: Redis not reachable at 127.0.0.1:6379");
    }
    up
}

/// Drops the store under a Redis prefix when the test ends, passed or failed.
struct DropPrefix(String);

impl Drop for DropPrefix {
    fn drop(&mut self) {
        let at = ["series", "store", "drop", "--store", "redis://127.0.0.1:6379", "--prefix"];
        let _ = crest().args(at).arg(&self.0).output();
    }
}

#[test]
fn redis_round_trip() {
    if !redis_up("redis_round_trip") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let csv = extracted(dir.path());
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let prefix = format!("crest-test-store-{}-{}", std::process::id(), nanos.as_nanos());
    let _cleanup = DropPrefix(prefix.clone());
    let at = ["--store", "redis://127.0.0.1:6379", "--prefix", prefix.as_str()];
    let redis =
        |args: &[&str], stdin: &str| run(&[&["series", "store"][..], args, &at].concat(), stdin);

    let (code, _, err) = redis(&["write"], &csv);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("dropped as older than retention: minute 0, hour 0, day 0"), "{err}");
    let name = "count by src_ip 10.0.0.3";
    let want = rows_of(&csv, "count by src_ip", "10.0.0.3");
    let (code, out, err) = redis(&["read", name, "-i", "minute"], "");
    assert_eq!(code, 0, "{err}");
    assert_eq!(parse_read(&out), want.iter().map(|&(t, v)| (t, Some(v))).collect::<Vec<_>>());
    let (_, out, _) = redis(&["read", name, "-i", "hour"], "");
    assert_eq!(parse_read(&out), hourly(&want));
    let (_, out, _) = redis(&["list"], "");
    assert_eq!(out.lines().count(), 4, "{out}");

    // The schema key remembers the type.
    let (code, _, err) = redis(&["write", "--type", "set"], &csv);
    assert_eq!(code, 1);
    assert!(err.contains(&format!("redis key \"{prefix}:schema\" holds schema `count:")), "{err}");

    let (code, _, err) = redis(&["delete", name], "");
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = redis(&["list"], "");
    assert_eq!(out.lines().count(), 3, "{out}");
    let (code, _, err) = redis(&["drop"], "");
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = redis(&["list"], "");
    assert_eq!(out, "");
    // After drop the prefix is free for another schema (then dropped again).
    let (code, _, err) = redis(&["write", "--type", "set"], "name,timestamp,value\ns,1,a\n");
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = redis(&["drop"], "");
    assert_eq!(code, 0, "{err}");
}
