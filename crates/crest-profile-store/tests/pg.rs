//! The PostgreSQL store against a real server (127.0.0.1:5432, database `test`, user
//! `postgres`): round trips, migrations, and two collectors writing one profile at once.
//!
//! Without a server the tests say they were skipped; with `CREST_TEST_SERVICES=1` (CI) a
//! missing server fails them. Each test works in a schema of its own, dropped at the end.

use std::collections::BTreeSet;

use crest_profile::config::{Extract, FeatureSpec, Profile, ProfileSpec, ReporterKind};
use crest_profile::model::{Message, ModelState, Outcome};
use crest_profile::value::{Doc, canonical};
use crest_profile_store::{Counts, PgStore, ProfileStore, StoreError};
use crest_testing::actors::{ActorLogSpec, actor_logs};
use crest_testing::services_required;
use postgres::{Client, NoTls};
use serde_json::{Value, json};

const URL: &str = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=5";

/// A schema of the test's own, dropped (with everything in it) when the test ends, even by a
/// panic.
struct Schema {
    name: String,
}

impl Schema {
    /// A fresh schema `crest_test_<tag>_<pid>` for `test`, or `None` (after saying so) when
    /// the server is unreachable and not required.
    fn new(test: &str, tag: &str) -> Option<Schema> {
        let mut client = match Client::connect(URL, NoTls) {
            Ok(c) => c,
            Err(e) => {
                assert!(
                    !services_required(),
                    "{test}: PostgreSQL not reachable on 127.0.0.1:5432 \
                     but CREST_TEST_SERVICES=1 requires it: {e}"
                );
                eprintln!(
                    "SKIPPED {test}: PostgreSQL not reachable on 127.0.0.1:5432 \
                     (set CREST_TEST_SERVICES=1 to require it)"
                );
                return None;
            }
        };
        let name = format!("crest_test_{tag}_{}", std::process::id());
        client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
            .expect("drop a stale schema");
        Some(Schema { name })
    }

    fn store(&self) -> PgStore {
        PgStore::connect(URL, &self.name).expect("connect")
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if let Ok(mut c) = Client::connect(URL, NoTls) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        }
    }
}

fn feature(field: &str, reporter: ReporterKind) -> FeatureSpec {
    FeatureSpec { field: Some(field.into()), reporter, ..Default::default() }
}

/// The round trip's profile: country (mandatory) and app (optional) per user.
fn small_profile(half_life: Option<&str>) -> Profile {
    let spec = ProfileSpec {
        actor: "user".into(),
        time: Some("time".into()),
        learning: Some("0s".into()),
        half_life: half_life.map(Into::into),
        features: vec![
            feature("country", ReporterKind::Mandatory),
            feature("app", ReporterKind::Optional),
        ],
        ..Default::default()
    };
    Profile::build("auth", &spec).expect("valid profile")
}

/// The collectors' profile over the synthetic authentication and process logs, with a
/// rarity feature (population counts) and an hour habit.
fn logs_profile(half_life: Option<&str>) -> Profile {
    let spec = ProfileSpec {
        actor: "user".into(),
        time: Some("time".into()),
        learning: Some("1d".into()),
        half_life: half_life.map(Into::into),
        features: vec![
            feature("country", ReporterKind::Mandatory),
            feature("app", ReporterKind::Optional),
            feature("user_agent", ReporterKind::Mandatory),
            feature("process", ReporterKind::Rarity),
            FeatureSpec { reporter: ReporterKind::Hour, ..Default::default() },
        ],
        ..Default::default()
    };
    Profile::build("logs", &spec).expect("valid profile")
}

/// 2026-10-05T00:00:00Z in seconds.
const T0: i64 = 1_791_158_400;

/// A login at `T0 + hours` (plus a fraction of a second, to check microseconds survive).
fn login(user: &str, country: &str, app: Option<&str>, hours: i64) -> Message {
    let time = format!("{}.123457", T0 + hours * 3600);
    let mut data = json!({"user": user, "country": country, "time": time});
    if let Some(app) = app {
        data["app"] = json!(app);
    }
    Message::new(0, data)
}

/// What a shared store must load before a batch: its actors and its rarity values (as
/// `crest profile collect` does).
fn touched(profile: &Profile, batch: &[Message]) -> (Vec<String>, Vec<(usize, String)>) {
    let mut actors = BTreeSet::new();
    let mut values = BTreeSet::new();
    for m in batch.iter().filter(|m| profile.matches(&m.data)) {
        if let Some(a) = profile.actor.get(&m.data).as_ref().and_then(|a| a.as_str()) {
            actors.insert(a.to_string());
        }
        for (f, feature) in profile.features.iter().enumerate() {
            if let (ReporterKind::Rarity, Extract::Single(p)) = (feature.reporter, &feature.extract)
            {
                values.insert((f, canonical(p.get(&m.data))));
            }
        }
    }
    (actors.into_iter().collect(), values.into_iter().collect())
}

/// One batch through a shared store: load its actors, score, commit.
fn collect(
    store: &mut PgStore,
    profile: &Profile,
    state: &mut ModelState,
    batch: &[Message],
) -> Outcome {
    let (actors, values) = touched(profile, batch);
    let actors: Vec<&str> = actors.iter().map(String::as_str).collect();
    let values: Vec<(usize, &str)> = values.iter().map(|(f, v)| (*f, v.as_str())).collect();
    store.load(profile, state, &actors, &values).expect("load");
    let out = state.score_batch(profile, batch);
    store.commit(profile, batch, &out).expect("commit");
    out
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// Every count of `got` equals (or, with a half-life, nearly equals) the reference's.
fn assert_same_state(profile: &Profile, want: &ModelState, got: &ModelState, actors: &[&str]) {
    for name in actors {
        let (w, g) = (want.actor(name).unwrap(), got.actor(name).unwrap());
        assert_eq!(w.first_seen(), g.first_seen(), "first_seen of {name}");
        for (f, feature) in profile.features.iter().enumerate() {
            let (wr, gr) = (w.feature(f).ranked(), g.feature(f).ranked());
            assert_eq!(wr.len(), gr.len(), "{name}.{}: {wr:?} vs {gr:?}", feature.name);
            for ((wv, wc), (gv, gc)) in wr.iter().zip(&gr) {
                assert_eq!(wv, gv, "{name}.{}", feature.name);
                assert!(close(*wc, *gc), "{name}.{}.{wv}: {wc} vs {gc}", feature.name);
            }
            assert_eq!(w.feature(f).as_of(), g.feature(f).as_of(), "{name}.{} as_of", feature.name);
        }
    }
}

fn round_trip(test: &str, tag: &str, half_life: Option<&str>) {
    let Some(schema) = Schema::new(test, tag) else { return };
    let profile = small_profile(half_life);
    let batches = vec![
        vec![
            login("alice", "US", Some("mail"), 0),
            login("alice", "US", Some("mail"), 1),
            login("bob", "DE", Some("vpn"), 1),
            login("alice", "US", Some("wiki"), 2),
        ],
        vec![
            login("alice", "FR", Some("mail"), 30),
            login("bob", "DE", None, 31),
            login("carol", "GB", Some("crm"), 32),
            login("alice", "US", Some("mail"), 33),
        ],
        vec![login("alice", "US", Some("mail"), 60), login("bob", "BR", Some("vpn"), 61)],
    ];

    // The same batches through the store and through a model that keeps everything: loading
    // before each batch must give the model what it would have held.
    let mut store = schema.store();
    assert_eq!((store.kind(), store.shared()), ("postgres", true));
    let mut state = store.open(&profile).expect("open");
    assert_eq!(state.actor_count(), 0);
    let mut reference = ModelState::new(&profile);
    let mut outcomes = Vec::new();
    for batch in &batches {
        let out = collect(&mut store, &profile, &mut state, batch);
        let want = reference.score_batch(&profile, batch);
        if half_life.is_none() {
            assert_eq!(out.events, want.events);
        } else {
            assert_eq!(out.events.len(), want.events.len());
        }
        outcomes.push(out);
    }
    store.flush(&profile, &state).expect("flush");
    let events: Vec<_> = outcomes.iter().flat_map(|o| &o.events).collect();
    assert!(events.len() >= 3, "expected events, got {events:?}");

    // A second process sees the counts.
    let mut other = schema.store();
    let mut fresh = other.open(&profile).expect("open again");
    other.load(&profile, &mut fresh, &["alice", "bob", "carol", "nobody"], &[]).expect("load");
    assert_eq!(fresh.actor_count(), 3);
    assert_same_state(&profile, &reference, &fresh, &["alice", "bob", "carol"]);

    let anomalies: usize = events.iter().map(|e| e.anomalies.len()).sum();
    let features: usize =
        reference.actors().iter().flat_map(|a| a.features()).map(|h| h.groups()).sum();
    assert_eq!(
        other.counts(&profile).expect("counts"),
        Counts {
            actors: 3,
            features: features as u64,
            messages: events.len() as u64,
            events: events.len() as u64,
            anomalies: anomalies as u64,
            investigations: 0,
        }
    );

    // Anomalies of a window, in event order, with names and evidence.
    let until = (T0 + 100 * 3600) * 1_000_000;
    let rows = other.anomalies(&profile, 0, until).expect("anomalies");
    let want: Vec<_> =
        events.iter().flat_map(|e| e.anomalies.iter().map(move |a| (*e, a))).collect();
    assert_eq!(rows.len(), want.len());
    for (row, (event, a)) in rows.iter().zip(&want) {
        assert_eq!(row.actor, event.actor);
        assert_eq!(row.time, event.time);
        assert_eq!(row.field, profile.features[a.feature].name);
        assert_eq!(row.value, a.value);
        assert_eq!(row.score, a.score);
        assert_eq!(row.evidence, a.evidence);
    }
    assert!(
        rows.windows(2)
            .all(|w| (w[0].event_id, w[0].anomaly_id) < (w[1].event_id, w[1].anomaly_id))
    );
    // Microseconds survive exactly.
    assert_eq!(rows[0].time % 1_000_000, 123_457);

    // Windows: after < time ≤ until.
    let mut times: Vec<i64> = events.iter().map(|e| e.time).collect();
    times.sort_unstable();
    times.dedup();
    assert_eq!(other.first_event(&profile).expect("first"), Some(times[0]));
    assert_eq!(other.next_event_after(&profile, times[0]).expect("next"), Some(times[1]));
    assert_eq!(other.next_event_after(&profile, times[0] - 1).expect("next"), Some(times[0]));
    assert_eq!(other.next_event_after(&profile, *times.last().unwrap()).expect("next"), None);
    let first_window = other.anomalies(&profile, 0, times[0]).expect("window");
    assert!(!first_window.is_empty() && first_window.iter().all(|r| r.time == times[0]));
    assert!(other.anomalies(&profile, times[0], times[0]).expect("empty window").is_empty());

    // Investigations: one claimer per index.
    assert_eq!(store.last_investigation(&profile).expect("last"), None);
    let event_ids: Vec<i64> = first_window.iter().map(|r| r.event_id).collect();
    let id =
        store.begin_investigation(&profile, 1, 0, times[0], &event_ids, times[0]).expect("claim");
    let id = id.expect("first claim wins");
    assert_eq!(
        other.begin_investigation(&profile, 1, 0, times[0], &event_ids, times[0]).expect("claim"),
        None
    );
    store.complete_investigation(&profile, id, &[first_window[0].anomaly_id]).expect("complete");
    let last = other.last_investigation(&profile).expect("last").expect("one investigation");
    assert_eq!(
        (last.id, last.index, last.after, last.until, last.last_event),
        (id, 1, 0, times[0], times[0])
    );
    assert_eq!((last.events, last.completed), (event_ids.len() as u64, true));
    assert_eq!(last.malicious, vec![first_window[0].anomaly_id]);
    let second =
        other.begin_investigation(&profile, 2, times[0], times[1], &[], times[1]).expect("claim");
    assert!(second.is_some());
    let last = store.last_investigation(&profile).expect("last").expect("two investigations");
    assert_eq!((last.index, last.completed, last.events), (2, false, 0));
    assert_eq!(store.counts(&profile).expect("counts").investigations, 2);

    // One actor, as `crest profile show` prints it.
    let alice = other.actor(&profile, "alice").expect("actor").expect("alice is stored");
    let held = reference.actor("alice").unwrap();
    assert_eq!(alice.first_seen, held.first_seen());
    assert_eq!(alice.features.len(), 2);
    for (f, (name, values)) in alice.features.iter().enumerate() {
        assert_eq!(name, &profile.features[f].name);
        let want = held.feature(f).ranked();
        assert_eq!(values.len(), want.len());
        for ((v, c), (wv, wc)) in values.iter().zip(&want) {
            assert_eq!(v, wv);
            assert!(close(*c, *wc), "alice {name} {v}: {c} vs {wc}");
        }
    }
    let mine: Vec<_> = events.iter().filter(|e| e.actor == "alice").collect();
    assert_eq!(alice.events, mine.len() as u64);
    assert_eq!(alice.anomalies, mine.iter().map(|e| e.anomalies.len() as u64).sum::<u64>());
    assert_eq!(other.actor(&profile, "nobody").expect("actor"), None);

    // A profile never opened reads as empty, and reading does not create it.
    let mut unknown = profile.clone();
    unknown.name = "never-opened".into();
    assert_eq!(other.counts(&unknown).expect("counts"), Counts::default());
    assert_eq!(other.first_event(&unknown).expect("first"), None);
    assert!(other.anomalies(&unknown, 0, until).expect("anomalies").is_empty());
    assert_eq!(other.last_investigation(&unknown).expect("last"), None);
    let mut fresh = ModelState::new(&unknown);
    other.load(&unknown, &mut fresh, &["alice"], &[(0, "\"US\"")]).expect("load");
    assert_eq!(fresh.actor_count(), 0);
    let mut admin = Client::connect(URL, NoTls).expect("connect");
    let n: i64 = admin
        .query_one(&format!("SELECT count(*) FROM {}.profile", schema.name), &[])
        .expect("profiles")
        .get(0);
    assert_eq!(n, 1);
}

#[test]
fn round_trip_through_postgres() {
    round_trip("round_trip_through_postgres", "round_trip", None);
}

#[test]
fn round_trip_with_a_half_life() {
    round_trip("round_trip_with_a_half_life", "round_trip_hl", Some("6h"));
}

#[test]
fn population_counts_come_from_every_writer() {
    let Some(schema) = Schema::new("population_counts_come_from_every_writer", "population") else {
        return;
    };
    let spec = ProfileSpec {
        actor: "user".into(),
        learning: Some("0s".into()),
        features: vec![feature("process", ReporterKind::Rarity)],
        ..Default::default()
    };
    let profile = Profile::build("procs", &spec).expect("valid profile");
    let msg = |u: &str, p: &str| Message::new(1, json!({"user": u, "process": p}));
    let mut store = schema.store();
    let mut state = store.open(&profile).expect("open");
    collect(
        &mut store,
        &profile,
        &mut state,
        &[msg("a", "x.exe"), msg("b", "x.exe"), msg("c", "y.exe")],
    );
    let mut other = schema.store();
    let mut fresh = other.open(&profile).expect("open");
    let (x, y, z) = ("\"x.exe\"", "\"y.exe\"", "\"z.exe\"");
    other.load(&profile, &mut fresh, &[], &[(0, x), (0, y), (0, z)]).expect("load");
    assert_eq!(fresh.population(0, x), Some(2));
    assert_eq!(fresh.population(0, y), Some(1));
    assert_eq!(fresh.population(0, z), Some(0));
    assert_eq!(fresh.population_actors(0), 3);
}

/// A writer keeps what it loaded while it is the only writer, and loads again once another
/// one has committed: two stores taking turns score as one model seeing every batch.
#[test]
fn writers_taking_turns_see_each_others_batches() {
    let Some(schema) = Schema::new("writers_taking_turns_see_each_others_batches", "turns") else {
        return;
    };
    let spec = ProfileSpec {
        actor: "user".into(),
        learning: Some("0s".into()),
        features: vec![
            feature("country", ReporterKind::Mandatory),
            feature("process", ReporterKind::Rarity),
        ],
        ..Default::default()
    };
    let profile = Profile::build("turns", &spec).expect("valid profile");
    let msg =
        |u: &str, c: &str, p: &str| Message::new(1, json!({"user": u, "country": c, "process": p}));
    let batches = [
        vec![msg("a", "US", "x.exe"), msg("b", "US", "x.exe")],
        vec![msg("a", "US", "x.exe"), msg("b", "DE", "y.exe")],
        // Writer 2: b's new country and a's new process.
        vec![msg("b", "DE", "y.exe"), msg("a", "FR", "y.exe")],
        // Writer 1 again: must know b is used to DE and that two users run y.exe.
        vec![msg("b", "DE", "y.exe"), msg("a", "FR", "z.exe"), msg("c", "US", "y.exe")],
        vec![msg("a", "FR", "y.exe"), msg("c", "US", "x.exe")],
    ];
    let writer = [0, 0, 1, 0, 0];
    let mut stores = [schema.store(), schema.store()];
    let mut states: Vec<ModelState> =
        stores.iter_mut().map(|s| s.open(&profile).expect("open")).collect();
    let mut reference = ModelState::new(&profile);
    for (batch, &w) in batches.iter().zip(&writer) {
        let out = collect(&mut stores[w], &profile, &mut states[w], batch);
        let want = reference.score_batch(&profile, batch);
        assert_eq!(out.events, want.events, "writer {w}");
    }
    assert_same_state(&profile, &reference, &states[0], &["a", "b", "c"]);
}

#[test]
fn messages_with_nul_characters_are_stored() {
    let Some(schema) = Schema::new("messages_with_nul_characters_are_stored", "nul") else {
        return;
    };
    let profile = small_profile(None);
    let mut store = schema.store();
    let mut state = store.open(&profile).expect("open");
    // jsonb refuses U+0000; the message is kept with U+FFFD instead, the value as canonical
    // JSON text (escaped).
    let mut m = login("dave", "U\u{0}S", Some("mail"), 0);
    if let Doc::Whole(data) = &mut m.data {
        data["note\u{0}"] = json!(["a\u{0}b", {"k": "\u{0}"}]);
    }
    let out = collect(&mut store, &profile, &mut state, &[m]);
    assert_eq!(out.events.len(), 1);
    let rows = store.anomalies(&profile, 0, (T0 + 3600) * 1_000_000).expect("anomalies");
    assert_eq!(rows[0].value, "\"U\\u0000S\"");
    let mut admin = Client::connect(URL, NoTls).expect("connect");
    let data: String = admin
        .query_one(&format!("SELECT data::text FROM {}.message", schema.name), &[])
        .expect("message")
        .get(0);
    let data: Value = serde_json::from_str(&data).expect("JSON");
    assert_eq!(data["country"], json!("U\u{fffd}S"));
    assert_eq!(data["note\u{fffd}"], json!(["a\u{fffd}b", {"k": "\u{fffd}"}]));
}

#[test]
fn migrations_are_idempotent_and_safe_to_race() {
    let Some(schema) = Schema::new("migrations_are_idempotent_and_safe_to_race", "migrations")
    else {
        return;
    };
    // Four processes starting at once, then one more later.
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let name = schema.name.clone();
            std::thread::spawn(move || PgStore::connect(URL, &name).map(|s| s.schema().to_string()))
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().expect("thread").expect("connect"), schema.name);
    }
    let mut store = schema.store();
    let profile = small_profile(None);
    store.open(&profile).expect("open");
    drop(store);
    let mut store = schema.store();
    assert_eq!(store.counts(&profile).expect("counts"), Counts::default());

    let mut admin = Client::connect(URL, NoTls).expect("connect");
    let versions: Vec<i32> = admin
        .query(
            &format!("SELECT version FROM {}.crest_migrations ORDER BY version", schema.name),
            &[],
        )
        .expect("versions")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, vec![1, 2]);
    let tables: i64 = admin
        .query_one("SELECT count(*) FROM pg_tables WHERE schemaname = $1", &[&schema.name])
        .expect("tables")
        .get(0);
    assert_eq!(tables, 11, "ten tables and crest_migrations");

    // The schema name is spliced into SQL: anything but an identifier is refused.
    for bad in ["", "1abc", "a-b", "x\"; DROP TABLE y; --", "a b", &"s".repeat(64)] {
        match PgStore::connect(URL, bad) {
            Err(StoreError::Setting { key, .. }) => assert_eq!(key, "schema"),
            other => panic!("schema {bad:?}: {other:?}"),
        }
    }
}

/// The feature table of a schema: (field, actor, value, count, as_of), sorted.
fn feature_table(admin: &mut Client, schema: &str) -> Vec<(String, String, String, f64, i64)> {
    let sql = format!(
        "SELECT fl.name, a.name, f.value, f.count, (extract(epoch from f.as_of) * 1000000)::int8 \
         FROM {schema}.feature f JOIN {schema}.field fl ON fl.field_id = f.field_id \
         JOIN {schema}.actor a ON a.actor_id = f.actor_id ORDER BY 1, 2, 3"
    );
    admin
        .query(&sql, &[])
        .expect("features")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect()
}

fn actor_names(admin: &mut Client, schema: &str) -> Vec<String> {
    let sql = format!("SELECT name FROM {schema}.actor ORDER BY name");
    admin.query(&sql, &[]).expect("actors").iter().map(|r| r.get(0)).collect()
}

/// Two collectors on two halves of the messages, at once, on one schema, learn exactly what
/// one collector learns from all of them.
fn two_collectors(test: &str, tag: &str, half_life: Option<&str>) {
    let Some(shared) = Schema::new(test, tag) else { return };
    let Some(single) = Schema::new(test, &format!("{tag}_one")) else { return };
    let spec = ActorLogSpec {
        actors: 40,
        days: 7,
        attack_from_day: 3,
        ato_incidents: 2,
        insider_incidents: 1,
        ..Default::default()
    };
    let messages: Vec<Message> = actor_logs(&spec)
        .iter()
        .map(|e| Message {
            arrival_us: e.time_s * 1_000_000,
            data: serde_json::from_str::<serde_json::Value>(&e.json).expect("JSON").into(),
        })
        .collect();
    assert!(messages.len() > 2_000, "{} messages", messages.len());
    let profile = logs_profile(half_life);
    const BATCH: usize = 250;

    // Interleaved halves: both collectors write the same actors' rows at the same time.
    let halves: Vec<Vec<Message>> =
        (0..2).map(|h| messages.iter().skip(h).step_by(2).cloned().collect()).collect();
    let events: usize = std::thread::scope(|s| {
        let handles: Vec<_> = halves
            .iter()
            .map(|half| {
                let (name, profile) = (shared.name.clone(), profile.clone());
                s.spawn(move || {
                    let mut store = PgStore::connect(URL, &name).expect("connect");
                    let mut state = store.open(&profile).expect("open");
                    half.chunks(BATCH)
                        .map(|b| collect(&mut store, &profile, &mut state, b).events.len())
                        .sum::<usize>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("collector")).sum()
    });
    assert!(events > 0);

    let mut store = single.store();
    let mut state = store.open(&profile).expect("open");
    for b in messages.chunks(BATCH) {
        collect(&mut store, &profile, &mut state, b);
    }

    let mut admin = Client::connect(URL, NoTls).expect("connect");
    assert_eq!(actor_names(&mut admin, &shared.name), actor_names(&mut admin, &single.name));
    let (two, one) =
        (feature_table(&mut admin, &shared.name), feature_table(&mut admin, &single.name));
    assert_eq!(two.len(), one.len());
    for (t, o) in two.iter().zip(&one) {
        assert_eq!((&t.0, &t.1, &t.2, t.4), (&o.0, &o.1, &o.2, o.4));
        if half_life.is_none() {
            assert_eq!(t.3, o.3, "{t:?} vs {o:?}");
        } else {
            // Decayed merges differ only by float rounding.
            assert!(close(t.3, o.3), "{t:?} vs {o:?}");
        }
    }
    let total: f64 = one.iter().filter(|r| r.0 == "country").map(|r| r.3).sum();
    if half_life.is_none() {
        assert_eq!(total, messages.len() as f64);
    }
}

#[test]
fn two_concurrent_collectors_learn_what_one_learns() {
    two_collectors("two_concurrent_collectors_learn_what_one_learns", "two", None);
}

#[test]
fn two_concurrent_collectors_with_a_half_life() {
    two_collectors("two_concurrent_collectors_with_a_half_life", "two_hl", Some("2d"));
}
