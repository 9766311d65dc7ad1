//! `crest run` and `crest config` through the real binary: config errors, the example, exactly
//! one effect across a crash (file sources here; JetStream and PostgreSQL in `run_services.rs`),
//! webhook retries, the HTTP API and its token, and a clean stop on SIGTERM.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Running, crest, minute_events, sigterm, spawn_crest, wait_for, workspace_root};

fn example(name: &str) -> PathBuf {
    workspace_root().join("examples").join(name)
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

/// Runs `DIR/crest.toml` to its end with its state in `DIR/state`; it must succeed.
fn run_in(dir: &Path) -> std::process::Output {
    crest()
        .args(["run", "-c"])
        .arg(dir.join("crest.toml"))
        .arg("--data-dir")
        .arg(dir.join("state"))
        .assert()
        .success()
        .get_output()
        .clone()
}

#[test]
fn the_printed_example_is_a_valid_config() {
    let out = crest().args(["config", "example"]).assert().success().get_output().stdout.clone();
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("crest.toml");
    std::fs::write(&cfg, out).unwrap();
    crest()
        .args(["config", "check", "-c"])
        .arg(&cfg)
        .assert()
        .success()
        .stdout(predicates::str::contains("valid — 2 source(s), 3 pipeline(s), 2 sink(s)"));
    crest().args(["config", "check", "-c"]).arg(example("crest.toml")).assert().success();
}

#[test]
fn config_errors_name_file_line_and_key() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("bad.toml");
    write(
        &cfg,
        "[sources.a]\ntype = \"stdin\"\n\n[pipelines.p]\ndetector = \"series\"\n\
         sources = [\"a\"]\nstep = \"1h\"\nmethod = \"holt\"\n",
    );
    let out =
        crest().args(["config", "check", "-c"]).arg(&cfg).assert().code(2).get_output().clone();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:8: pipelines.p.method: unknown method 'holt'"), "{err}");
    write(&cfg, "[sources.a]\ntype = \"stdin\"\npath = \"x\"\n");
    let out = crest().args(["run", "-c"]).arg(&cfg).assert().code(2).get_output().clone();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:") && err.contains("path"), "{err}");
}

/// The shipped example finds the account takeover's exfiltration (u019, 2.7 GB on
/// 2026-10-21) and the wave of malicious zip files (2020-11-04), and a second run over the
/// same data adds nothing.
#[test]
fn the_example_finds_the_exfiltration_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    for data in ["auth-logs.jsonl.gz", "sandbox-telemetry.json.gz"] {
        std::fs::copy(example(data), dir.join(data)).unwrap();
    }
    let text = std::fs::read_to_string(example("crest.toml")).unwrap();
    let text = text.replace("../target/crest-run/findings.jsonl", "findings.jsonl");
    write(&dir.join("crest.toml"), &text);
    let run = || run_in(dir);
    let out = run();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let exfil: Vec<&str> = stdout.lines().filter(|l| l.contains("  exfil  ")).collect();
    assert_eq!(exfil.len(), 1, "{stdout}");
    assert!(exfil[0].starts_with("2026-10-21T00:00:00Z  high      exfil  user=u019  0.999"));
    let wave = "2020-11-04T00:00:00Z  high      waves  \
                file.llfile_type=ZipArchiveFile,task.severity=malicious  1.000";
    assert!(stdout.lines().any(|l| l.starts_with(wave)), "{stdout}");
    let findings = std::fs::read_to_string(dir.join("findings.jsonl")).unwrap();
    let f: serde_json::Value = serde_json::from_str(
        findings.lines().find(|l| l.contains("\"exfil\"")).expect("the exfil finding"),
    )
    .unwrap();
    assert_eq!(f["stats"]["value"], 2_721_674_896.0);
    assert_eq!(f["key"]["user"], "u019");
    assert_eq!(f["evidence"].as_array().unwrap().len(), 3);
    // A sum's evidence is its largest parts: the exfiltration itself first.
    assert_eq!(f["evidence"][0]["process"], "rclone.exe");
    assert_eq!(f["evidence"][0]["bytes_out"], 2_428_213_357_u64);
    let again = run();
    assert!(again.stdout.is_empty());
    assert_eq!(std::fs::read_to_string(dir.join("findings.jsonl")).unwrap(), findings);
}

/// The peaks pipeline over the bundled sandbox week gives what `crest peaks` gives run once a
/// day with a kept global table (the reference's cron job): the same peaks with the same eight
/// figures, and at the end the same `global_table.json`, byte for byte.
#[test]
fn the_peaks_pipeline_equals_crest_peaks_run_daily() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = example("sandbox-telemetry.json.gz");
    write(
        &dir.join("crest.toml"),
        &format!(
            "[sources.sandbox]\ntype = \"file\"\npath = {:?}\n\
             [pipelines.waves]\ndetector = \"peaks\"\nsources = [\"sandbox\"]\n\
             [sinks.out]\ntype = \"jsonl\"\npath = \"findings.jsonl\"\n",
            data.display().to_string()
        ),
    );
    run_in(dir);
    const FIGURES: [&str; 8] = [
        "sub_count",
        "samp_count",
        "samp_sub_count_max",
        "samp_sub_count_mean",
        "samp_sub_count_std",
        "samp_sub_ratio",
        "global_samp_sub_count_max",
        "global_threshold_suggested",
    ];
    // (day, verdict, file type) → the eight figures.
    let mut streamed = std::collections::BTreeMap::new();
    for line in std::fs::read_to_string(dir.join("findings.jsonl")).unwrap().lines() {
        let f: serde_json::Value = serde_json::from_str(line).unwrap();
        let key = (
            f["time"].as_str().unwrap()[..10].to_string(),
            f["key"]["task.severity"].as_str().unwrap().to_string(),
            f["key"]["file.llfile_type"].as_str().unwrap().to_string(),
        );
        let figures: Vec<f64> = FIGURES.iter().map(|n| f["stats"][n].as_f64().unwrap()).collect();
        streamed.insert(key, figures);
    }
    // The last day (11-07) is still open in the stream: the daily runs stop before it.
    let mut daily = std::collections::BTreeMap::new();
    for day in 1..=6 {
        let out = dir.join(format!("peaks-{day}.json"));
        crest()
            .arg("peaks")
            .arg("-n")
            .arg(&data)
            .args(["--now", "2020-11-01 00:00:00", "-q"])
            .args(["-s", &format!("2020-11-0{day}"), "-e", &format!("2020-11-0{}", day + 1)])
            .arg("-m")
            .arg(dir.join("global_table.json"))
            .arg("-o")
            .arg(&out)
            .assert()
            .success();
        let peaks: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        for (verdict, types) in peaks.as_object().unwrap() {
            for (kind, values) in types.as_object().unwrap() {
                let figures: Vec<f64> =
                    values.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
                daily.insert((format!("2020-11-0{day}"), verdict.clone(), kind.clone()), figures);
            }
        }
    }
    assert!(daily.len() > 20, "{daily:?}");
    assert!(daily.contains_key(&(
        "2020-11-04".to_string(),
        "malicious".to_string(),
        "ZipArchiveFile".to_string()
    )));
    assert_eq!(streamed, daily);
    let state = checkpoint(&dir.join("state"), "crest").expect("a checkpoint");
    let table = state["pipelines"]["waves"]["state"]["global_table"].as_str().unwrap();
    assert_eq!(table, std::fs::read_to_string(dir.join("global_table.json")).unwrap());
}

const PIPELINE: &str = r#"
[pipelines.logins]
detector = "series"
sources = ["events"]
key = ["user"]
step = "1min"
method = "mad"
window = 30
threshold = 0.8

[pipelines.bursts]
detector = "peaks"
sources = ["events"]
time_field = "time"
dimensions = ["kind", "user"]
sample_field = "bytes"
floors = {}
window = "10min"
"#;

fn checkpoint(dir: &Path, config: &str) -> Option<serde_json::Value> {
    let bytes = std::fs::read(dir.join("run").join(config).join("all/checkpoint.json")).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// A worker killed (SIGKILL) after it wrote findings past its last checkpoint, then started
/// again, leaves the same findings file, byte for byte, and the same pipeline state (series and
/// peaks) as a run that was never interrupted.
#[test]
fn a_crash_loses_nothing_and_repeats_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let first = minute_events(40, 600, 0);
    let second = minute_events(40, 600, 600);
    let config = |name: &str, follow: bool| {
        let text = format!(
            "[service]\ncheckpoint_interval = \"1s\"\n[sources.events]\ntype = \"file\"\n\
             path = \"events-{name}.jsonl\"\nfollow = {follow}\n{PIPELINE}\n\
             [sinks.out]\ntype = \"jsonl\"\npath = \"findings-{name}.jsonl\"\n"
        );
        let path = dir.join(format!("{name}.toml"));
        write(&path, &text);
        path.display().to_string()
    };
    // Uninterrupted.
    write(&dir.join("events-ref.jsonl"), &(first.clone() + &second));
    let state = dir.join("state").display().to_string();
    crest().args(["run", "-c", &config("ref", false), "--data-dir", &state]).assert().success();
    let reference = std::fs::read(dir.join("findings-ref.jsonl")).unwrap();
    assert!(reference.len() > 1000, "the data should give findings");

    // Followed: the first half is read and checkpointed, the second half arrives, and the
    // worker dies moments later, before its next checkpoint.
    write(&dir.join("events-crash.jsonl"), &first);
    let mut child =
        spawn_crest(&["run", "-c", &config("crash", true), "--data-dir", &state], Stdio::piped());
    let cp = |d: &Path| checkpoint(d, "crash");
    let first_len = first.len() as u64;
    wait_for("the first half's checkpoint", Duration::from_secs(60), || {
        cp(&dir.join("state")).is_some_and(|c| c["sources"]["events"]["offset"] == first_len)
    });
    let sink_at_checkpoint = cp(&dir.join("state")).unwrap()["sinks"]["out"].as_u64().unwrap();
    let mut f =
        std::fs::OpenOptions::new().append(true).open(dir.join("events-crash.jsonl")).unwrap();
    f.write_all(second.as_bytes()).unwrap();
    drop(f);
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    let written = std::fs::metadata(dir.join("findings-crash.jsonl")).unwrap().len();
    let checkpointed = cp(&dir.join("state")).unwrap()["sinks"]["out"].as_u64().unwrap();
    eprintln!(
        "killed with {written} bytes of findings, {checkpointed} checkpointed \
         ({sink_at_checkpoint} after the first half)"
    );
    // Started again (reading once): the file sink is cut back to the checkpoint, and what the
    // dead worker did after it is done again.
    crest().args(["run", "-c", &config("crash", false), "--data-dir", &state]).assert().success();
    let recovered = std::fs::read(dir.join("findings-crash.jsonl")).unwrap();
    assert!(recovered == reference, "findings differ after the crash");
    let a = checkpoint(&dir.join("state"), "ref").unwrap();
    let b = checkpoint(&dir.join("state"), "crash").unwrap();
    assert_eq!(a["pipelines"]["logins"]["state"], b["pipelines"]["logins"]["state"]);
    assert_eq!(a["pipelines"]["bursts"]["state"], b["pipelines"]["bursts"]["state"]);
    let peaks = a["pipelines"]["bursts"]["state"]["counters"]["findings"].as_u64().unwrap();
    assert!(peaks > 0, "the bursts should be peaks");
}

/// A local HTTP server that answers 500 to the first `failures` requests, then 200, and keeps
/// the bodies it was sent.
fn flaky_server(failures: usize) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = bodies.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let n = {
                let mut b = seen.lock().unwrap();
                b.push(String::from_utf8_lossy(&body).into_owned());
                b.len()
            };
            let status = if n <= failures { "500 Internal Server Error" } else { "200 OK" };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
        }
    });
    (url, bodies)
}

#[test]
fn a_webhook_is_retried_until_it_takes_the_finding() {
    let (url, bodies) = flaky_server(2);
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("hook.toml");
    let data = example("auth-logs.jsonl.gz");
    write(
        &cfg,
        &format!(
            "[sources.auth]\ntype = \"file\"\npath = {data:?}\n\
             [pipelines.exfil]\ndetector = \"series\"\nsources = [\"auth\"]\n\
             filter = {{ type = \"process\" }}\nkey = [\"user\"]\nvalue_field = \"bytes_out\"\n\
             step = \"1d\"\nmethod = \"mad\"\nwindow = 7\nthreshold = 0.99\n\
             [sinks.hook]\ntype = \"webhook\"\nurl = \"{url}\"\nattempts = 4\nbackoff = \"1s\"\n"
        ),
    );
    crest()
        .args(["run", "-c"])
        .arg(&cfg)
        .arg("--data-dir")
        .arg(tmp.path().join("state"))
        .assert()
        .success();
    let bodies = bodies.lock().unwrap();
    assert_eq!(bodies.len(), 3, "two failures, then the delivery");
    assert!(bodies.iter().all(|b| b == &bodies[0]), "the same finding each time");
    let f: serde_json::Value = serde_json::from_str(&bodies[0]).unwrap();
    assert_eq!(f["key"]["user"], "u019");
}

/// Reads the child's log until it names its HTTP address.
fn http_address(child: &mut Child) -> String {
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(i) = line.find("http://") {
            let addr = line[i + 7..].trim().to_string();
            // Keep draining the log so the child never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines {});
            return addr;
        }
    }
    panic!("the service never said where it listens");
}

fn get(url: &str, token: Option<&str>) -> (u16, String) {
    let agent: ureq::Agent =
        ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut req = agent.get(url);
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    let mut r = req.call().unwrap();
    (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
}

/// The example's events, decompressed into `dir` (a followed file is plain text).
fn plain_minute_events(dir: &Path) -> PathBuf {
    let path = dir.join("auth-logs.jsonl");
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(example("auth-logs.jsonl.gz")).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    write(&path, &text);
    path
}

fn service_config(dir: &Path, listen: &str, token_env: Option<&str>) -> PathBuf {
    let cfg = dir.join("svc.toml");
    let data = plain_minute_events(dir);
    let sandbox = dir.join("sandbox.json");
    let mut text = String::new();
    let gz = std::fs::File::open(example("sandbox-telemetry.json.gz")).unwrap();
    flate2::read::MultiGzDecoder::new(gz).read_to_string(&mut text).unwrap();
    write(&sandbox, &text);
    let token = token_env.map(|t| format!("token_env = \"{t}\"\n")).unwrap_or_default();
    write(
        &cfg,
        &format!(
            "[service]\nlisten = \"{listen}\"\n{token}\
             [sources.auth]\ntype = \"file\"\npath = {data:?}\nfollow = true\n\
             [pipelines.exfil]\ndetector = \"series\"\nsources = [\"auth\"]\n\
             filter = {{ type = \"process\" }}\nkey = [\"user\"]\nvalue_field = \"bytes_out\"\n\
             step = \"1d\"\nmethod = \"mad\"\nwindow = 7\nthreshold = 0.99\n\
             [sources.sandbox]\ntype = \"file\"\npath = {sandbox:?}\nfollow = true\n\
             [pipelines.waves]\ndetector = \"peaks\"\nsources = [\"sandbox\"]\n"
        ),
    );
    cfg
}

/// Health, metrics, findings and the peaks' baselines over HTTP while the service follows two
/// files; SIGTERM stops it cleanly with a final checkpoint.
#[test]
fn the_api_serves_findings_and_metrics_and_sigterm_stops_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = service_config(tmp.path(), "127.0.0.1:0", None);
    let state = tmp.path().join("state");
    let args = ["run", "-c", cfg.to_str().unwrap(), "--data-dir", state.to_str().unwrap()];
    let mut child = spawn_crest(&args, Stdio::piped());
    let base = format!("http://{}", http_address(&mut child));
    wait_for("every event and the finding", Duration::from_secs(30), || {
        get(&format!("{base}/metrics"), None).1.contains("crest_events_total 33844")
            && get(&format!("{base}/api/findings?pipeline=exfil"), None).1.contains("\"total\":1")
    });
    let (status, body) = get(&format!("{base}/api/findings?severity=high&key=u019&limit=5"), None);
    assert_eq!(status, 200);
    let page: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(page["findings"][0]["key"]["user"], "u019");
    let (_, none) = get(&format!("{base}/api/findings?since=2026-10-22T00:00:00Z"), None);
    assert!(none.contains("\"total\":0"), "{none}");
    let (status, _) = get(&format!("{base}/api/findings?severity=urgent"), None);
    assert_eq!(status, 400);
    let (_, metrics) = get(&format!("{base}/metrics"), None);
    for line in [
        "crest_events_total 33844",
        "crest_source_events_total{source=\"auth\"} 26044",
        "crest_source_events_total{source=\"sandbox\"} 7800",
        "crest_findings_total{pipeline=\"exfil\",detector=\"series\"} 1",
        "crest_findings_total{pipeline=\"waves\",detector=\"peaks\"} 33",
        "crest_pipeline_series{pipeline=\"exfil\"} 40",
        "# TYPE crest_checkpoint_age_seconds gauge",
    ] {
        assert!(metrics.contains(line), "no '{line}' in\n{metrics}");
    }
    // The wave of 2020-11-04, and the peaks' state: the open window (11-07) against each
    // pair's baseline, and the baseline as the reference's global_table.json.
    let (_, body) = get(&format!("{base}/api/findings?detector=peaks&severity=high"), None);
    assert!(body.contains("\"sub_count\":824.0") && body.contains("ZipArchiveFile"), "{body}");
    // The pairs are copied for the API about once a second.
    let mut peaks = serde_json::Value::Null;
    wait_for("the peaks' status", Duration::from_secs(10), || {
        let (status, body) = get(&format!("{base}/api/peaks?pipeline=waves"), None);
        assert_eq!(status, 200);
        peaks = serde_json::from_str(&body).unwrap();
        peaks["peaks"][0]["open_window"].is_string()
    });
    let waves = &peaks["peaks"][0];
    assert_eq!(waves["open_window"], "2020-11-07T00:00:00Z");
    let zip = waves["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["key"] == "file.llfile_type=ZipArchiveFile,task.severity=malicious")
        .expect("the zip pair");
    // The wave raised the threshold for good: the mean after it, (19·3 + 824) / 4 → 220.
    let figures = (zip["baseline_windows"].as_f64(), zip["threshold"].as_f64());
    assert_eq!(figures, (Some(6.0), Some(220.0)));
    let (status, table) = get(&format!("{base}/api/peaks/global_table?pipeline=waves"), None);
    assert_eq!(status, 200);
    assert!(table.starts_with("{\n  \"benign\": {"), "{table}");
    assert_eq!(get(&format!("{base}/api/peaks/global_table?pipeline=exfil"), None).0, 404);
    let (status, health) = get(&format!("{base}/health"), None);
    assert_eq!(status, 200);
    assert!(health.contains("\"status\":\"ok\""));
    let (status, page) = get(&format!("{base}/"), None);
    assert_eq!(status, 200);
    assert!(page.contains("<title>crest</title>"));
    sigterm(&child);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    let cp = checkpoint(&state, "svc").unwrap();
    assert_eq!(cp["pipelines"]["exfil"]["state"]["counters"]["findings"], 1);
}

#[test]
fn other_addresses_need_a_token_and_the_api_checks_it() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let cfg = service_config(tmp.path(), "0.0.0.0:0", None);
    let out = crest()
        .args(["run", "-c", cfg.to_str().unwrap(), "--data-dir", state.to_str().unwrap()])
        .assert()
        .code(2)
        .get_output()
        .clone();
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs a token"));

    let cfg = service_config(tmp.path(), "0.0.0.0:0", Some("CREST_TEST_API_TOKEN"));
    let mut child = Running(
        Command::new(env!("CARGO_BIN_EXE_crest"))
            .args(["run", "-c", cfg.to_str().unwrap(), "--data-dir", state.to_str().unwrap()])
            .env("CREST_TEST_API_TOKEN", "s3cret")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let addr = http_address(&mut child);
    let port = addr.rsplit(':').next().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    assert_eq!(get(&format!("{base}/api/findings"), None).0, 401);
    assert_eq!(get(&format!("{base}/metrics"), Some("wrong")).0, 401);
    assert_eq!(get(&format!("{base}/api/peaks"), None).0, 401);
    assert_eq!(get(&format!("{base}/api/findings"), Some("s3cret")).0, 200);
    assert_eq!(get(&format!("{base}/health"), None).0, 200);
    sigterm(&child);
    assert!(child.wait().unwrap().success());
}

/// A followed file that is rotated (renamed, a new one created in its place) is read on from
/// the new file's start: every event of both is counted once.
#[test]
fn a_followed_file_is_read_across_a_rotation() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (first, second) = (minute_events(5, 30, 0), minute_events(5, 30, 30));
    let log = dir.join("events.jsonl");
    write(&log, &first);
    let cfg = dir.join("rot.toml");
    write(
        &cfg,
        &format!(
            "[service]\ncheckpoint_interval = \"1s\"\n[sources.events]\ntype = \"file\"\n\
             path = \"events.jsonl\"\nfollow = true\n{PIPELINE}"
        ),
    );
    let state = dir.join("state");
    let args = ["run", "-c", cfg.to_str().unwrap(), "--data-dir", state.to_str().unwrap()];
    let child = spawn_crest(&args, Stdio::null());
    let events = || {
        checkpoint(&state, "rot")
            .and_then(|c| c["pipelines"]["logins"]["state"]["counters"]["events"].as_u64())
    };
    let n1 = first.lines().count() as u64;
    wait_for("the first file", Duration::from_secs(30), || events() == Some(n1));
    std::fs::rename(&log, dir.join("events.jsonl.1")).unwrap();
    write(&log, &second);
    let n = n1 + second.lines().count() as u64;
    wait_for("the rotated file", Duration::from_secs(30), || events() == Some(n));
    sigterm(&child);
    let mut child = child;
    assert!(child.wait().unwrap().success());
    assert_eq!(events(), Some(n));
}
