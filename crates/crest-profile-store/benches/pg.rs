//! Messages per second through `load → score_batch → commit` on PostgreSQL, as
//! `crest profile collect` drives a shared store: the two profiles of `examples/auth.toml`
//! (logins and processes) over 200,000 synthetic authentication and process messages, in
//! batches of 5,000.
//!
//! Run with `cargo bench -p crest-profile-store --bench pg` (server on 127.0.0.1:5432,
//! database `test`, user `postgres`); `CREST_BENCH_MESSAGES` and `CREST_BENCH_BATCH` change
//! the sizes, `CREST_BENCH_WRITERS=2` splits the messages between two concurrent writers.
//! Works in a schema of its own, dropped at the end (kept with `CREST_BENCH_KEEP=1`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crest_profile::config::{Expect, FeatureSpec, Profile, ProfileSpec, ReporterKind};
use crest_profile::model::{Extraction, Message, ModelState};
use crest_profile_store::{PgStore, ProfileStore};
use crest_testing::actors::{ActorLogSpec, actor_logs};
use postgres::{Client, NoTls};
use serde_json::json;

const URL: &str = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=5";

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn feature(field: &str, reporter: ReporterKind) -> FeatureSpec {
    FeatureSpec { field: Some(field.into()), reporter, ..Default::default() }
}

/// The profiles of `examples/auth.toml`.
fn profiles() -> Vec<Profile> {
    let base = |kind: &str, features: Vec<FeatureSpec>| ProfileSpec {
        matches: BTreeMap::from([("type".to_string(), Expect::One(json!(kind)))]),
        actor: "user".into(),
        time: Some("time".into()),
        learning: Some("7d".into()),
        half_life: Some("30d".into()),
        features,
        ..Default::default()
    };
    let logins = base(
        "auth",
        vec![
            feature("country", ReporterKind::Rarity),
            feature("user_agent", ReporterKind::Rarity),
            feature("app", ReporterKind::Rarity),
            FeatureSpec {
                name: Some("subnet".into()),
                fields: Some(vec!["country".into(), "src_ip".into()]),
                weight: Some(0.3),
                ..Default::default()
            },
            FeatureSpec { reporter: ReporterKind::Hour, ..Default::default() },
        ],
    );
    let processes = base(
        "process",
        vec![
            feature("host", ReporterKind::Rarity),
            FeatureSpec {
                name: Some("parent+process".into()),
                fields: Some(vec!["parent".into(), "process".into()]),
                reporter: ReporterKind::Rarity,
                ..Default::default()
            },
            feature("bytes_out", ReporterKind::Numeric),
            FeatureSpec { reporter: ReporterKind::Hour, ..Default::default() },
        ],
    );
    vec![
        Profile::build("logins", &logins).expect("valid profile"),
        Profile::build("processes", &processes).expect("valid profile"),
    ]
}

#[derive(Default)]
struct Tally {
    load: Duration,
    score: Duration,
    commit: Duration,
    matched: usize,
    events: usize,
    anomalies: usize,
    deltas: usize,
    batches: usize,
}

/// One writer: every batch through every profile.
fn run(schema: &str, messages: &[Message], batch: usize) -> Tally {
    let profiles = profiles();
    let mut store = PgStore::connect(URL, schema).expect("connect");
    let mut states: Vec<ModelState> =
        profiles.iter().map(|p| store.open(p).expect("open")).collect();
    let mut t = Tally::default();
    for b in messages.chunks(batch) {
        t.batches += 1;
        for (profile, state) in profiles.iter().zip(&mut states) {
            let start = Instant::now();
            let extraction = Extraction::of(profile, b);
            let (actors, values) = extraction.touched(profile);
            store.load(profile, state, &actors, &values).expect("load");
            let loaded = Instant::now();
            let out = state.score_extracted(profile, extraction, true);
            let scored = Instant::now();
            store.commit(profile, b, &out).expect("commit");
            t.load += loaded - start;
            t.score += scored - loaded;
            t.commit += scored.elapsed();
            t.matched += out.matched;
            t.events += out.events.len();
            t.anomalies += out.events.iter().map(|e| e.anomalies.len()).sum::<usize>();
            t.deltas += out.deltas.len();
        }
    }
    t
}

fn main() {
    let total = env("CREST_BENCH_MESSAGES", 200_000);
    let batch = env("CREST_BENCH_BATCH", 5_000).max(1);
    let writers = env("CREST_BENCH_WRITERS", 1).max(1);
    let mut admin = match Client::connect(URL, NoTls) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("SKIPPED pg bench: PostgreSQL not reachable on 127.0.0.1:5432: {e}");
            return;
        }
    };
    let schema = format!("crest_bench_{}", std::process::id());
    admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).expect("drop schema");

    let spec = ActorLogSpec { actors: 300, days: 28, ..Default::default() };
    let messages: Vec<Message> = actor_logs(&spec)
        .into_iter()
        .take(total)
        .map(|e| Message {
            arrival_us: e.time_s * 1_000_000,
            data: serde_json::from_str::<serde_json::Value>(&e.json).expect("JSON").into(),
        })
        .collect();
    let n = messages.len();

    let start = Instant::now();
    let tallies: Vec<Tally> = if writers == 1 {
        vec![run(&schema, &messages, batch)]
    } else {
        let parts: Vec<Vec<Message>> = (0..writers)
            .map(|w| messages.iter().skip(w).step_by(writers).cloned().collect())
            .collect();
        std::thread::scope(|s| {
            let handles: Vec<_> =
                parts.iter().map(|p| s.spawn(|| run(&schema, p, batch))).collect();
            handles.into_iter().map(|h| h.join().expect("writer")).collect()
        })
    };
    let elapsed = start.elapsed();

    let sum = |f: fn(&Tally) -> usize| tallies.iter().map(f).sum::<usize>();
    let time = |f: fn(&Tally) -> Duration| tallies.iter().map(f).sum::<Duration>();
    let batches = sum(|t| t.batches) as f64;
    let per_batch = |d: Duration| d.as_secs_f64() * 1e3 / batches;
    println!(
        "pg: {n} messages in batches of {batch}, {writers} writer(s): {:.2} s, {:.0} messages/s",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  per batch (both profiles): load {:.1} ms, score {:.1} ms, commit {:.1} ms",
        per_batch(time(|t| t.load)),
        per_batch(time(|t| t.score)),
        per_batch(time(|t| t.commit))
    );
    let events = sum(|t| t.events);
    println!(
        "  matched {}, events {events} ({:.2} % of messages), anomalies {}, count changes {}",
        sum(|t| t.matched),
        100.0 * events as f64 / n as f64,
        sum(|t| t.anomalies),
        sum(|t| t.deltas)
    );
    if std::env::var("CREST_BENCH_KEEP").is_ok_and(|v| v == "1") {
        println!("  kept schema {schema}");
    } else {
        admin
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .expect("drop schema");
    }
}
