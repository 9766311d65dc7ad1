//! `crest flows` through the real binary: the bundled example logs with their planted threats,
//! every output format, the per-detector views, and bad input.

mod common;

use std::io::Write;
use std::path::Path;

use common::{crest, workspace_root};
use serde_json::Value;

fn example(name: &str) -> String {
    workspace_root().join("examples/flows").join(name).display().to_string()
}

fn run(args: &[&str]) -> (String, String) {
    let out = crest().args(args).output().expect("crest runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "crest {args:?} failed:\n{stderr}");
    (stdout, stderr)
}

fn fail(args: &[&str]) -> (i32, String) {
    let out = crest().args(args).output().expect("crest runs");
    assert!(!out.status.success(), "crest {args:?} should fail");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn hosts(stdout: &str) -> Vec<Value> {
    stdout.lines().map(|l| serde_json::from_str(l).expect("one JSON object per line")).collect()
}

fn verdict_of<'a>(hosts: &'a [Value], host: &str) -> Option<&'a str> {
    hosts.iter().find(|h| h["host"] == host).and_then(|h| h["verdict"].as_str())
}

/// The planted threats come out malicious; hosts that only poll the update server every hour
/// (a perfect but common beacon) and the victim of the vertical scan do not.
#[test]
fn example_ranks_planted_threats_above_benign_periodic_traffic() {
    let conn = example("conn.log.gz");
    let bl = example("blacklist.txt");
    let (out, err) = run(&["flows", "--zeek", &conn, "--blacklist", &bl, "--format", "jsonl"]);
    assert!(err.contains("crest flows: 9800 flows from 1 file"), "{err}");
    let hosts = hosts(&out);
    for planted in
        ["192.168.1.23", "192.168.1.40", "192.168.1.66", "192.168.1.77", "45.155.205.233"]
    {
        assert_eq!(verdict_of(&hosts, planted), Some("malicious"), "{planted}:\n{out}");
    }
    let malicious: Vec<&str> = hosts
        .iter()
        .filter(|h| h["verdict"] == "malicious")
        .map(|h| h["host"].as_str().unwrap())
        .collect();
    assert_eq!(malicious.len(), 5, "{malicious:?}");
    // Ranked first, above every benign host.
    let top: Vec<&str> = hosts[..5].iter().map(|h| h["host"].as_str().unwrap()).collect();
    assert!(malicious.iter().all(|m| top.contains(m)), "{top:?}");
    assert_ne!(verdict_of(&hosts, "192.168.1.15"), Some("malicious"));
    assert_eq!(verdict_of(&hosts, "192.168.1.10"), Some("benign"));

    // The evidence names the detector, the peer and the flows.
    let beacon = hosts.iter().find(|h| h["host"] == "192.168.1.23").unwrap();
    let ev = &beacon["evidence"][0];
    assert_eq!(ev["kind"], "beacon");
    assert_eq!(ev["peer"], "185.100.87.202");
    assert!(ev["flow_count"].as_u64().unwrap() >= 290, "{ev}");
    assert!(ev["flows"].as_array().unwrap().len() <= 10);

    // Same input, same bytes.
    let (again, _) = run(&["flows", "--zeek", &conn, "--blacklist", &bl, "--format", "jsonl"]);
    assert_eq!(out, again);
}

#[test]
fn views_rank_one_detector() {
    let conn = example("conn.log.gz");
    let (out, _) = run(&["flows", "beacons", "--zeek", &conn, "--format", "jsonl"]);
    let beacons = hosts(&out);
    assert!(beacons.iter().all(|b| b["kind"] == "beacon" || b["kind"] == "strobe"));
    assert!(beacons.iter().any(|b| b["host"] == "192.168.1.23" && b["peer"] == "185.100.87.202"));
    let scores: Vec<f64> = beacons.iter().map(|b| b["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");

    let (out, _) = run(&["flows", "long-conns", "--zeek", &conn, "--format", "jsonl"]);
    let first: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(first["host"], "192.168.1.40");
    assert_eq!(first["peer"], "203.0.113.50");

    let (out, _) = run(&["flows", "scans", "--zeek", &conn, "--format", "csv"]);
    let mut lines = out.lines();
    assert_eq!(
        lines.next().unwrap(),
        "rank,kind,host,peer,port,score,threat,flow_count,first_seen,ts,description"
    );
    assert!(out.contains("horizontal-scan,192.168.1.66,,445"), "{out}");
    assert!(out.contains("vertical-scan,45.155.205.233,192.168.1.15"), "{out}");
}

#[test]
fn table_and_json_formats() {
    let conn = example("conn.log.gz");
    let (out, _) = run(&["flows", "--zeek", &conn, "--format", "table", "--top", "3"]);
    assert!(out.contains("verdict"), "{out}");
    assert!(out.contains("more hosts with evidence"), "{out}");
    assert_eq!(out.lines().filter(|l| l.contains("malicious")).count(), 3, "{out}");

    let (out, _) = run(&["flows", "--zeek", &conn, "--format", "json"]);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["flows"], 9800);
    assert_eq!(doc["first_seen"].as_str().unwrap().get(..10), Some("2026-11-02"));
    assert!(doc["hosts"].as_array().unwrap().len() > 5);
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn bad_rows_are_errors_naming_file_line_and_field_or_counted_when_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = write(
        tmp.path(),
        "flows.csv",
        "2024-01-01 00:00:00,tcp,SF,10.0.0.1,1234,8.8.8.8,53,10,20\n\
         2024-01-01 00:00:01,tcp,SF,10.0.0.x,1234,8.8.8.8,53,10,20\n\
         2024-01-01 00:00:02,tcp,SF,10.0.0.1,1234,8.8.8.8,53,10\n\
         2024-01-01 00:00:03,tcp,SF,10.0.0.1,1234,8.8.8.8,81,10,20\n",
    );
    let (code, err) = fail(&["flows", "--csv", &csv]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("flows.csv:2"), "{err}");
    assert!(err.contains("src_ip"), "{err}");

    let (out, err) = run(&["flows", "--csv", &csv, "--skip-invalid", "--format", "jsonl"]);
    assert!(err.contains("2 flows from 1 file"), "{err}");
    assert!(err.contains("skipped 2 invalid rows"), "{err}");
    assert!(out.contains("Using interesting port number 81"), "{out}");
}

#[test]
fn truncated_gzip_is_an_error_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let text = std::fs::read(workspace_root().join("examples/flows/conn.log.gz")).unwrap();
    let mut plain = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&text[..]), &mut plain)
        .unwrap();
    gz.write_all(&plain).unwrap();
    let bytes = gz.finish().unwrap();
    let path = tmp.path().join("conn.log.gz");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let (code, err) = fail(&["flows", "--zeek", &path.display().to_string()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("conn.log.gz"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn usage_errors() {
    let (code, err) = fail(&["flows"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no input"), "{err}");
    let (code, err) = fail(&["flows", "--zeek", "/nonexistent/conn.log"]);
    assert_eq!(code, 2, "{err}");
    let conn = example("conn.log.gz");
    let (code, err) = fail(&["flows", "--zeek", &conn, "--window", "1w"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--window"), "{err}");
    let (code, err) = fail(&["flows", "--zeek", &conn, "--internal", "10.0.0.0/33"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("10.0.0.0/33"), "{err}");
}

/// RITA's own `missing_host` logs (three days of hourly folders, gzip, an extra column before
/// `ts`, still-open connections) with RITA's test configuration: the planted beacon scores
/// RITA's 0.963 and the three-day SSH session is the top long connection.
#[test]
fn rita_missing_host_through_the_cli() {
    let Some(shared) = common::shared_dir("rita_missing_host_through_the_cli") else { return };
    let dir = shared.join("data/flows/rita-missing-host").display().to_string();
    let rita = [
        "--zeek",
        &dir,
        "--internal",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "64.225.56.201/32",
        "--keep-inbound",
        "--format",
        "jsonl",
    ];
    let (out, err) = run(&[&["flows", "beacons"][..], &rita[..]].concat());
    assert!(err.contains("105990 flows from 144 files"), "{err}");
    let beacon = hosts(&out)
        .into_iter()
        .find(|b| b["host"] == "73.54.23.243" && b["peer"] == "64.225.56.201")
        .expect("the planted beacon");
    assert_eq!(beacon["score"], 0.963);
    assert_eq!(beacon["flow_count"], 331);
    let (out, _) = run(&[&["flows", "long-conns"][..], &rita[..]].concat());
    let top: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(
        (top["host"].as_str(), top["peer"].as_str(), top["port"].as_u64()),
        (Some("73.54.23.243"), Some("64.225.56.201"), Some(22))
    );
}

/// A folder with a conn log and a Zeek `dns.log` whose client asks for 150 distinct names under
/// one domain: RITA's DNS-tunnelling check flags the domain (≥ 100 subdomains) against that
/// client, which was never seen connecting to the domain's addresses.
#[test]
fn dns_tunnelling_from_a_zeek_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let header =
        "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tdns\n";
    let mut dns = format!(
        "{header}#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tquery\tanswers\n"
    );
    for i in 0..150 {
        dns.push_str(&format!(
            "{}.000000\tC{i}\t192.168.5.9\t5353\t192.168.5.1\t53\tudp\tx{i:04x}.tunnel.example.com\t203.0.113.9\n",
            1_793_577_600 + i * 30
        ));
    }
    write(tmp.path(), "dns.log", &dns);
    let conn = format!(
        "{header}#fields\tts\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tconn_state\n1793577600.000000\t192.168.5.9\t5353\t192.168.5.1\t53\tudp\tSF\n"
    );
    write(tmp.path(), "conn.log", &conn);
    let dir = tmp.path().display().to_string();
    let (out, err) = run(&["flows", "--zeek", &dir, "--format", "jsonl"]);
    assert!(err.contains("1 flows and 150 DNS queries from 2 files"), "{err}");
    let host = hosts(&out).into_iter().find(|h| h["host"] == "192.168.5.9").expect("the client");
    let ev = &host["evidence"][0];
    assert_eq!(ev["kind"], "dns-tunnel", "{host}");
    assert!(ev["description"].as_str().unwrap().contains("example.com"), "{ev}");
}
