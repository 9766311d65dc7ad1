//! `crest run` against the real NATS JetStream (127.0.0.1:4222) and PostgreSQL
//! (127.0.0.1:5432): exactly one effect across a worker restart, and two workers sharing a
//! partitioned stream, one killed mid-stream and taken over by a standby, giving the totals of
//! one worker. Skipped (and saying so) when a server is missing, unless
//! `CREST_TEST_SERVICES=1`, which makes a missing server a failure.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::{crest, minute_events, sigterm, spawn_crest, wait_for};

const NATS: &str = "nats://127.0.0.1:4222";
const PG: &str = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=5";

/// Whether the servers a test needs answer; a skip is said, a missing server under
/// `CREST_TEST_SERVICES=1` fails.
fn services(test: &str, postgres: bool) -> bool {
    let nats = std::net::TcpStream::connect_timeout(
        &"127.0.0.1:4222".parse().unwrap(),
        Duration::from_secs(2),
    );
    let pg = if postgres { postgres::Client::connect(PG, postgres::NoTls).err() } else { None };
    let missing = match (nats, pg) {
        (Err(e), _) => format!("NATS at 127.0.0.1:4222 ({e})"),
        (_, Some(e)) => format!("PostgreSQL ({e})"),
        _ => return true,
    };
    assert!(!crest_testing::services_required(), "{test}: CREST_TEST_SERVICES=1 but no {missing}");
    eprintln!("SKIPPED {test}: no {missing} (set CREST_TEST_SERVICES=1 to require it)");
    false
}

/// A name no other run uses.
fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    format!("{prefix}{}x{}", std::process::id(), nanos.as_nanos() % 1_000_000_000)
}

fn publish(dir: &Path, name: &str, text: &str, stream: &str, subject: &str, partitions: u32) {
    let file = dir.join(name);
    std::fs::write(&file, text).unwrap();
    let p = partitions.to_string();
    let mut args = vec!["publish", "--stream", stream, "--subject", subject, "--partitions", &p];
    if partitions > 0 {
        args.extend(["--key", "user"]);
    }
    crest().args(&args).arg(&file).assert().success();
}

/// A config reading `stream` with durable `durable`, a per-user series pipeline and a peaks
/// pipeline per (kind, user), findings to `findings-{partition}.jsonl` beside it.
fn config(
    dir: &Path,
    name: &str,
    stream: &str,
    subject: &str,
    partitions: u32,
    durable: &str,
    pg: Option<&str>,
) -> String {
    let store = pg
        .map(|schema| {
            format!("[service.store]\nkind = \"postgres\"\nurl = \"{PG}\"\nschema = \"{schema}\"\n")
        })
        .unwrap_or_default();
    let text = format!(
        "[service]\ncheckpoint_interval = \"1s\"\n{store}\
         [sources.bus]\ntype = \"jetstream\"\nurl = \"{NATS}\"\nstream = \"{stream}\"\n\
         subject = \"{subject}\"\npartitions = {partitions}\ndurable = \"{durable}\"\n\
         [pipelines.logins]\ndetector = \"series\"\nsources = [\"bus\"]\nkey = [\"user\"]\n\
         step = \"1min\"\nmethod = \"mad\"\nwindow = 30\nthreshold = 0.8\n\
         [pipelines.bursts]\ndetector = \"peaks\"\nsources = [\"bus\"]\ntime_field = \"time\"\n\
         dimensions = [\"kind\", \"user\"]\nsample_field = \"bytes\"\nfloors = {{}}\n\
         window = \"10min\"\n\
         [sinks.out]\ntype = \"jsonl\"\npath = \"findings-{name}-{{partition}}.jsonl\"\n"
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn embedded_checkpoint(state: &Path, name: &str, partition: &str) -> Option<serde_json::Value> {
    let path = state.join("run").join(name).join(partition).join("checkpoint.json");
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Messages a checkpoint holds the effect of.
fn lines(cp: &serde_json::Value) -> u64 {
    cp["sources"]["bus"]["line"].as_u64().unwrap_or(0)
}

fn sorted_lines(paths: &[PathBuf]) -> Vec<String> {
    let mut all: Vec<String> = paths
        .iter()
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .unwrap_or_default()
                .lines()
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect();
    all.sort();
    all
}

/// Runs a future to completion on a runtime of its own.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
}

fn delete_stream(stream: &str) {
    block_on(async {
        if let Ok(c) = async_nats::connect(NATS).await {
            let _ = async_nats::jetstream::new(c).delete_stream(stream).await;
        }
    });
}

/// The consumer's acknowledgement floor and its messages waiting for an acknowledgement.
fn consumer_acks(stream: &str, durable: &str) -> (u64, usize) {
    block_on(async {
        let js = async_nats::jetstream::new(async_nats::connect(NATS).await.unwrap());
        let s = js.get_stream(stream).await.unwrap();
        let info = s.consumer_info(durable).await.unwrap();
        (info.ack_floor.stream_sequence, info.num_ack_pending)
    })
}

/// A worker killed after its checkpoint, with more messages read and findings written since,
/// resumes from the checkpoint: the same findings, byte for byte, as a worker never
/// interrupted; the stream holds every message acknowledged, none pending.
#[test]
fn a_jetstream_worker_restarted_after_a_crash_counts_each_message_once() {
    if !services("a_jetstream_worker_restarted_after_a_crash_counts_each_message_once", false) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (stream, subject) = (unique("CRESTTEST"), unique("crest.test."));
    let first = minute_events(30, 400, 0);
    let second = minute_events(30, 400, 400);
    let n1 = first.lines().count() as u64;
    let n = n1 + second.lines().count() as u64;
    publish(dir, "first.jsonl", &first, &stream, &subject, 0);
    let state = dir.join("state");
    let st = state.to_str().unwrap();
    let worker = config(dir, "crash", &stream, &subject, 0, "crash", None);
    let mut child = spawn_crest(&["run", "-c", &worker, "--data-dir", st], Stdio::inherit());
    wait_for("the first half's checkpoint", Duration::from_secs(60), || {
        embedded_checkpoint(&state, "crash", "all").is_some_and(|c| lines(&c) == n1)
    });
    publish(dir, "second.jsonl", &second, &stream, &subject, 0);
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    let cp = embedded_checkpoint(&state, "crash", "all").unwrap();
    eprintln!("killed with {} of {n} messages checkpointed", lines(&cp));
    crest().args(["run", "-c", &worker, "--data-dir", st, "--until-idle", "2s"]).assert().success();
    assert_eq!(lines(&embedded_checkpoint(&state, "crash", "all").unwrap()), n);

    let reference = config(dir, "ref", &stream, &subject, 0, "ref", None);
    crest()
        .args(["run", "-c", &reference, "--data-dir", st, "--until-idle", "2s"])
        .assert()
        .success();
    let a = std::fs::read(dir.join("findings-ref-all.jsonl")).unwrap();
    let b = std::fs::read(dir.join("findings-crash-all.jsonl")).unwrap();
    assert!(!a.is_empty());
    assert!(a == b, "the restarted worker's findings differ from an uninterrupted run's");
    let ra = embedded_checkpoint(&state, "ref", "all").unwrap();
    let rb = embedded_checkpoint(&state, "crash", "all").unwrap();
    assert_eq!(ra["pipelines"]["logins"]["state"], rb["pipelines"]["logins"]["state"]);
    assert_eq!(consumer_acks(&stream, "crash"), (n, 0));

    // The findings published to a stream of their own, then the whole run done again from
    // scratch: the stream keeps one message per finding (the id is the message id).
    let (found, found_subject) = (unique("CRESTFOUND"), unique("crest.found."));
    create_stream(&found, &found_subject);
    let publishing = config(dir, "pub", &stream, &subject, 0, "pub", None);
    let mut text = std::fs::read_to_string(&publishing).unwrap();
    text.push_str(&format!(
        "[sinks.bus]\ntype = \"jetstream\"\nurl = \"{NATS}\"\nsubject = \"{found_subject}\"\n"
    ));
    std::fs::write(&publishing, text).unwrap();
    for again in ["state-pub-1", "state-pub-2"] {
        let st = dir.join(again);
        crest()
            .args([
                "run",
                "-c",
                &publishing,
                "--data-dir",
                st.to_str().unwrap(),
                "--until-idle",
                "2s",
            ])
            .assert()
            .success();
    }
    let findings = String::from_utf8(a).unwrap();
    assert_eq!(stream_messages(&found), findings.lines().count() as u64);
    delete_stream(&found);
    delete_stream(&stream);
}

fn create_stream(name: &str, subject: &str) {
    block_on(async {
        let js = async_nats::jetstream::new(async_nats::connect(NATS).await.unwrap());
        js.get_or_create_stream(async_nats::jetstream::stream::Config {
            name: name.to_string(),
            subjects: vec![subject.to_string()],
            ..Default::default()
        })
        .await
        .unwrap();
    });
}

fn stream_messages(name: &str) -> u64 {
    block_on(async {
        let js = async_nats::jetstream::new(async_nats::connect(NATS).await.unwrap());
        js.get_stream(name).await.unwrap().info().await.unwrap().state.messages
    })
}

fn pg_checkpoints(schema: &str, name: &str) -> Vec<(String, serde_json::Value)> {
    let mut c = postgres::Client::connect(PG, postgres::NoTls).unwrap();
    let rows = c
        .query(
            &format!("SELECT worker, data FROM \"{schema}\".run_checkpoint WHERE worker LIKE $1 ORDER BY worker"),
            &[&format!("{name}/%")],
        )
        .unwrap_or_default();
    rows.iter()
        .map(|r| (r.get(0), serde_json::from_slice(&r.get::<_, Vec<u8>>(1)).unwrap()))
        .collect()
}

/// Two workers share a stream split in two partitions by user, checkpointing to PostgreSQL.
/// Partition 1's worker is killed mid-stream; a standby started for partition 1, waiting on
/// the partition's lock, takes over from its checkpoint. Together they report exactly the
/// findings and counts of one worker reading everything.
#[test]
fn two_workers_one_killed_and_taken_over_give_the_totals_of_one() {
    if !services("two_workers_one_killed_and_taken_over_give_the_totals_of_one", true) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (stream, subject) = (unique("CRESTPART"), unique("crest.part."));
    let schema = unique("crest_run_test_");
    let first = minute_events(40, 300, 0);
    let second = minute_events(40, 300, 300);
    let n1 = first.lines().count() as u64;
    let n = n1 + second.lines().count() as u64;
    publish(dir, "first.jsonl", &first, &stream, &subject, 2);
    let state = dir.join("state");
    let st = state.to_str().unwrap();
    let shared = config(dir, "shared", &stream, &subject, 2, "w", Some(&schema));
    let mut p0 = spawn_crest(
        &["run", "-c", &shared, "--data-dir", st, "--partition", "0"],
        Stdio::inherit(),
    );
    let mut p1 = spawn_crest(
        &["run", "-c", &shared, "--data-dir", st, "--partition", "1"],
        Stdio::inherit(),
    );
    let held = || pg_checkpoints(&schema, "shared").iter().map(|(_, c)| lines(c)).sum::<u64>();
    wait_for("both workers' first checkpoints", Duration::from_secs(60), || held() == n1);
    let mut standby = spawn_crest(
        &["run", "-c", &shared, "--data-dir", st, "--partition", "1"],
        Stdio::inherit(),
    );
    std::thread::sleep(Duration::from_millis(500)); // the standby waits on the lock
    publish(dir, "second.jsonl", &second, &stream, &subject, 2);
    std::thread::sleep(Duration::from_millis(200));
    p1.kill().unwrap();
    p1.wait().unwrap();
    wait_for("the standby to take over and finish", Duration::from_secs(90), || held() == n);
    sigterm(&p0);
    sigterm(&standby);
    assert!(p0.wait().unwrap().success());
    assert!(standby.wait().unwrap().success());

    let single = config(dir, "single", &stream, &subject, 2, "single", None);
    crest().args(["run", "-c", &single, "--data-dir", st, "--until-idle", "2s"]).assert().success();
    let one = sorted_lines(&[dir.join("findings-single-all.jsonl")]);
    let two =
        sorted_lines(&[dir.join("findings-shared-0.jsonl"), dir.join("findings-shared-1.jsonl")]);
    assert!(!one.is_empty());
    let single_cp = embedded_checkpoint(&state, "single", "all").unwrap();
    let parts = pg_checkpoints(&schema, "shared");
    assert_eq!(parts.len(), 2);
    for pipeline in ["logins", "bursts"] {
        let total = |c: &serde_json::Value, field: &str| {
            c["pipelines"][pipeline]["state"]["counters"][field].as_u64().unwrap()
        };
        assert_eq!(total(&single_cp, "late"), 0, "the data has no late events");
        assert!(total(&single_cp, "findings") > 0, "{pipeline} finds nothing");
        for field in ["events", "used", "late", "scored", "findings"] {
            let sum: u64 = parts.iter().map(|(_, c)| total(c, field)).sum();
            assert_eq!(sum, total(&single_cp, field), "{pipeline}.{field}: two workers vs one");
        }
    }
    assert_eq!(one.len(), two.len(), "findings of one worker vs two");
    assert!(one == two, "the two workers' findings differ from one worker's");
    delete_stream(&stream);
    let mut c = postgres::Client::connect(PG, postgres::NoTls).unwrap();
    c.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE")).unwrap();
}
