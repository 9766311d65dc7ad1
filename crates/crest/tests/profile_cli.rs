//! `crest profile` through the real binary: the heartbeat example against ScryWarden's own
//! run, the bundled authentication logs, migration from ScryWarden's YAML, and bad input.

mod common;

use std::path::Path;

use common::{crest, shared_dir, workspace_root};

fn run(dir: &Path, args: &[&str]) -> (String, String) {
    let out = crest().current_dir(dir).args(args).output().expect("crest runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "crest {args:?} failed:\n{stderr}");
    (stdout, stderr)
}

fn example(name: &str) -> String {
    workspace_root().join("examples").join(name).display().to_string()
}

/// The bundled authentication logs into PostgreSQL (a connection per profile) give the same
/// counts, events and profiles as into the embedded store.
#[test]
fn postgres_collect_matches_embedded() {
    const URL: &str = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=5";
    let mut admin = match postgres::Client::connect(URL, postgres::NoTls) {
        Ok(c) => c,
        Err(e) if !crest_testing::services_required() => {
            eprintln!("SKIPPED postgres_collect_matches_embedded: no PostgreSQL ({e})");
            return;
        }
        Err(e) => panic!("CREST_TEST_SERVICES=1 but PostgreSQL is unreachable: {e}"),
    };
    let schema = format!("crest_cli_{}", std::process::id());
    let drop = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
    admin.batch_execute(&drop).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let cfg = example("auth.toml");
    let data = dir.join("state").display().to_string();
    let pg = ["--store", "postgres", "--url", URL, "--schema", &schema];
    // Small batches: many commits, each profile on its own connection.
    let collect = ["profile", "collect", "-c", &cfg, "--data-dir", &data, "--batch-size", "700"];
    let tally = |err: &str| -> Vec<String> {
        err.lines().filter(|l| l.starts_with("  ")).map(str::to_string).collect()
    };
    let (_, embedded) = run(dir, &collect);
    let (_, on_pg) = run(dir, &[&collect[..], &pg[..]].concat());
    assert!(on_pg.contains("into the postgres store"), "{on_pg}");
    assert_eq!(tally(&on_pg), tally(&embedded));
    assert_eq!(tally(&on_pg).len(), 2, "{on_pg}");
    let show = ["profile", "show", "-c", &cfg, "--data-dir", &data, "u019", "--format", "json"];
    let profiles = |out: &str| -> Vec<(serde_json::Value, serde_json::Value, serde_json::Value)> {
        let doc: serde_json::Value = serde_json::from_str(out).unwrap();
        doc.as_array()
            .unwrap()
            .iter()
            .map(|p| (p["features"].clone(), p["events"].clone(), p["anomalies"].clone()))
            .collect()
    };
    let (a, _) = run(dir, &show);
    let (b, _) = run(dir, &[&show[..], &pg[..]].concat());
    // Decayed counts: PostgreSQL decays with its own float arithmetic, equal to ~1e-15.
    fn close(a: &serde_json::Value, b: &serde_json::Value) -> bool {
        use serde_json::Value::{Array, Number, Object};
        match (a, b) {
            (Number(x), Number(y)) => {
                let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                (x - y).abs() <= 1e-9 * x.abs().max(1.0)
            }
            (Array(x), Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| close(x, y)),
            (Object(x), Object(y)) => {
                x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| close(v, w)))
            }
            _ => a == b,
        }
    }
    let (a, b) = (profiles(&a), profiles(&b));
    assert_eq!(a.len(), 2);
    for (x, y) in a.iter().zip(&b) {
        assert!(close(&x.0, &y.0), "features differ:\n{:?}\n{:?}", x.0, y.0);
        assert_eq!((&x.1, &x.2), (&y.1, &y.2));
    }
    admin.batch_execute(&drop).unwrap();
}

/// ScryWarden's README heartbeat, end to end with `--once`: three events on the first batch,
/// none after, and three malicious anomalies after investigate, as in
/// `shared/data/profiles/`.
#[test]
fn heartbeat_reproduces_scrywarden() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let cfg = example("heartbeat.toml");
    let data = dir.join("state").display().to_string();
    let (_, err) = run(dir, &["profile", "collect", "-c", &cfg, "--data-dir", &data]);
    assert!(err.contains("collected 15 messages in 3 batches"), "{err}");
    assert!(err.contains("example: 15 matched, 3 events, 3 anomalies"), "{err}");

    // Every actor's greeting counted five times, as in db-after-collect.txt.
    let (show, _) = run(
        dir,
        &["profile", "show", "-c", &cfg, "--data-dir", &data, "George", "--format", "json"],
    );
    let doc: serde_json::Value = serde_json::from_str(&show).unwrap();
    assert_eq!(doc[0]["features"][0]["values"], serde_json::json!([["\"hello\"", 5.0]]));
    assert_eq!(doc[0]["events"], 1);

    let (out, err) =
        run(dir, &["profile", "investigate", "-c", &cfg, "--data-dir", &data, "--once"]);
    assert!(err.contains("1 window(s) investigated"), "{err}");
    // The reference's window: (first event − 1 s, + 60 s].
    assert!(out.contains("(2026-11-22T23:55:03.815301Z → 2026-11-22T23:56:03.815301Z]: 3 anomalies, 3 malicious events"), "{out}");
    let alerts = std::fs::read_to_string(dir.join("alerts.csv")).unwrap();
    let lines: Vec<&str> = alerts.lines().collect();
    assert_eq!(lines[0], "event_id,message_id,actor_id,created_at,anomaly_id,field_id,score");
    assert_eq!(lines.len(), 4, "{alerts}");
    for l in &lines[1..] {
        let cols: Vec<&str> = l.split(',').collect();
        assert_eq!(cols[3], "2026-11-22 23:55:04.815301+00:00");
        assert_eq!((cols[5], cols[6]), ("1", "1.0"));
    }
    // A second run finds nothing new and ships nothing.
    let (_, err) = run(dir, &["profile", "investigate", "-c", &cfg, "--data-dir", &data, "--once"]);
    assert!(err.contains("0 window(s) investigated"), "{err}");
    assert_eq!(std::fs::read_to_string(dir.join("alerts.csv")).unwrap(), alerts);

    // Against the reference's files, where ../shared is present.
    if let Some(shared) = shared_dir("heartbeat_reproduces_scrywarden") {
        let reference = std::fs::read_to_string(shared.join("data/profiles/alerts.csv")).unwrap();
        let want: Vec<Vec<&str>> =
            reference.lines().skip(1).map(|l| l.split(',').collect()).collect();
        assert_eq!(reference.lines().next(), Some(lines[0]));
        assert_eq!(want.len(), lines.len() - 1);
        for (w, got) in want.iter().zip(&lines[1..]) {
            let got: Vec<&str> = got.split(',').collect();
            // Same field, same score, same first tick (to the millisecond: the reference stamped
            // each message separately).
            assert_eq!((w[5], w[6]), (got[5], got[6]));
            assert_eq!(&w[3][..23], &got[3][..23]);
        }
        let db =
            std::fs::read_to_string(shared.join("data/profiles/db-after-collect.txt")).unwrap();
        assert!(db.contains(r#""hello"       |     5"#));
    }
}

/// ScryWarden's own YAML config is read as it is (its live heartbeat would run forever, so
/// this checks the config and the profile it gives).
#[test]
fn scrywarden_yaml_is_accepted() {
    let Some(shared) = shared_dir("scrywarden_yaml_is_accepted") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let cfg = shared.join("data/profiles/scrywarden.yml").display().to_string();
    // `show` reads the config and opens the store: the YAML names PostgreSQL on port 5441,
    // which is not running here, so point it at an empty embedded store instead.
    let out = crest()
        .current_dir(tmp.path())
        .args(["profile", "show", "-c", &cfg, "--store", "embedded", "--data-dir", "d", "George"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no actor 'George' in the store (embedded)"), "{err}");
}

/// The bundled logs: the planted account takeover and insider are found, with evidence.
#[test]
fn auth_example_finds_the_planted_incidents() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let cfg = example("auth.toml");
    let data = dir.join("state").display().to_string();
    let (_, err) = run(dir, &["profile", "collect", "-c", &cfg, "--data-dir", &data]);
    assert!(err.contains("collected 26044 messages"), "{err}");
    let jsonl = dir.join("findings.jsonl");
    // Ship JSON Lines through a config of our own beside the example.
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "[[shipper]]\nkind = \"terminal\"",
        &format!("[[shipper]]\nkind = \"jsonl\"\npath = {:?}", jsonl.display().to_string()),
    );
    let cfg2 = dir.join("auth.toml");
    std::fs::write(
        &cfg2,
        text.replace("\"auth-logs.jsonl.gz\"", &format!("{:?}", example("auth-logs.jsonl.gz"))),
    )
    .unwrap();
    run(
        dir,
        &["profile", "investigate", "-c", cfg2.to_str().unwrap(), "--data-dir", &data, "--once"],
    );
    let findings: Vec<serde_json::Value> = std::fs::read_to_string(&jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let keys: std::collections::BTreeSet<&str> =
        findings.iter().map(|f| f["key"].as_str().unwrap()).collect();
    // The generator planted two account takeovers (u016, u019: logins from abroad with a
    // scripting client, then unusual processes) and one insider (u015, subtler: its own
    // country and client, off hours, new archive tools, large uploads). All three are found.
    let log = {
        use std::io::Read;
        let mut s = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(example("auth-logs.jsonl.gz")).unwrap())
            .read_to_string(&mut s)
            .unwrap();
        s
    };
    let mut planted = std::collections::BTreeSet::new();
    for l in log.lines().filter(|l| !l.contains("\"benign\"")) {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        planted.insert(v["user"].as_str().unwrap().to_string());
    }
    for user in &planted {
        assert!(
            keys.contains(user.as_str()),
            "planted incident of {user} not found; flagged: {keys:?}"
        );
    }
    // Evidence names the value and how often it was seen.
    let f = findings.iter().find(|f| f["key"] == "u019").unwrap();
    assert!(
        f["anomalies"][0]["why"].as_str().unwrap().contains("seen")
            || f["anomalies"][0]["why"].as_str().unwrap().contains("never")
    );
    // Fewer findings than a flood: a handful of users out of 40.
    assert!(keys.len() <= 10, "{keys:?}");
}

#[test]
fn malformed_input_names_file_and_line_or_is_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("in.jsonl"), "{\"person\":\"a\",\"greeting\":\"hi\"}\n{\"person\":\n{\"person\":\"b\",\"greeting\":\"yo\"}\n").unwrap();
    std::fs::write(
        dir.join("p.toml"),
        "[profile.p]\nactor = \"person\"\n[[profile.p.feature]]\nfield = \"greeting\"\n",
    )
    .unwrap();
    let out = crest()
        .current_dir(dir)
        .args(["profile", "collect", "-c", "p.toml", "--data-dir", "d", "in.jsonl"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("in.jsonl: line 2, column") && err.contains("malformed JSON"), "{err}");
    let (_, err) = run(
        dir,
        &["profile", "collect", "-c", "p.toml", "--data-dir", "d2", "in.jsonl", "--skip-invalid"],
    );
    assert!(
        err.contains("collected 3 messages") && err.contains("skipped 1 malformed records"),
        "{err}"
    );
    assert!(err.contains("p: 2 matched, 2 events"), "{err}");
    // An actor that is not a string.
    std::fs::write(dir.join("bad.jsonl"), "{\"person\":7,\"greeting\":\"hi\"}\n").unwrap();
    let out = crest()
        .current_dir(dir)
        .args(["profile", "collect", "-c", "p.toml", "--data-dir", "d3", "bad.jsonl"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("field 'person': the actor must be a string, got 7"), "{err}");
}

#[test]
fn bad_config_names_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("p.toml"), "[profile.p]\nactor = \"person\"\n[[profile.p.feature]]\nfield = \"greeting\"\nwieght = 2\n").unwrap();
    let out = crest()
        .current_dir(dir)
        .args(["profile", "collect", "-c", "p.toml", "x.jsonl"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("line 5") && err.contains("wieght"), "{err}");
    std::fs::write(dir.join("q.toml"), "[profile.p]\nactor = \"person\"\nlearning = \"7 days\"\n[[profile.p.feature]]\nfield = \"greeting\"\nweight = -1\n").unwrap();
    let out = crest()
        .current_dir(dir)
        .args(["profile", "collect", "-c", "q.toml", "x.jsonl"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("profile 'p': learning:") && err.contains("profile 'p': feature[0].weight"),
        "{err}"
    );
}

/// SIGTERM during a live heartbeat: the batch in flight is processed and saved, not lost (the
/// reference loses it).
#[test]
fn sigterm_keeps_the_batch_in_flight() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(
        dir.join("hb.toml"),
        "[pipeline]\ntimeout = \"1h\"\n[[source]]\nkind = \"heartbeat\"\ninterval = \"0.1s\"\n\
         [profile.example]\nactor = \"person\"\nscoring = \"scrywarden\"\n\
         [[profile.example.feature]]\nfield = \"greeting\"\n",
    )
    .unwrap();
    let bin = assert_cmd::cargo::cargo_bin("crest");
    let child = std::process::Command::new(&bin)
        .current_dir(dir)
        .args(["profile", "collect", "-c", "hb.toml", "--data-dir", "d"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    // No batch was due (timeout 1 h): everything was in flight, and all of it was kept.
    assert!(err.contains("in 1 batches"), "{err}");
    assert!(err.contains("example: ") && err.contains(", 3 events, 3 anomalies"), "{err}");
    let (show, _) = run(
        dir,
        &["profile", "show", "-c", "hb.toml", "--data-dir", "d", "George", "--format", "json"],
    );
    let doc: serde_json::Value = serde_json::from_str(&show).unwrap();
    assert!(doc[0]["features"][0]["values"][0][1].as_f64().unwrap() >= 5.0, "{show}");
}
