//! Labelled evaluation: crest's default profiles against ScryWarden's model on the same
//! synthetic authentication and process logs (300 users, 4 weeks, 12 account takeovers and 8
//! insiders planted in the last two weeks; `crest_testing::actors`).
//!
//! Run: `cargo run --release -p crest-profile --example labeled_eval [-- SEED…]`
//!
//! Both read the same fields. crest: `examples/auth.toml`'s profiles as shipped (event time,
//! learning week, half-life, rarity/hour/numeric reporters, the evidence analyzer over 1-hour
//! windows). ScryWarden: the categorical fields with Mandatory, its batch semantics (batches of
//! 500), arrival time = event time, and its decay analyzer over 60-second windows. A flagged
//! event is a true positive when the generator labelled it `ato` or `insider`.

use std::collections::{BTreeMap, BTreeSet};

use crest_profile::analyzer::{Analyzer, AnomalyRow};
use crest_profile::config::{FeatureSpec, Profile, ProfileSpec, ReporterKind, Scoring};
use crest_profile::model::{Message, ModelState};
use crest_testing::actors::{ActorLogSpec, Label, actor_logs};

#[derive(Default)]
struct Score {
    flagged: u64,
    true_pos: u64,
    attack_events: u64,
    attack_flagged: u64,
    incidents: BTreeSet<u32>,
    incidents_found: BTreeSet<u32>,
    benign_actors_flagged: BTreeSet<String>,
}

fn crest_profiles() -> Vec<Profile> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/auth.toml");
    let text = std::fs::read_to_string(path).expect("examples/auth.toml");
    let doc: toml::Table = toml::from_str(&text).expect("valid TOML");
    let profiles: BTreeMap<String, ProfileSpec> =
        doc["profile"].clone().try_into().expect("profiles as crest reads them");
    profiles.iter().map(|(n, s)| Profile::build(n, s).expect("valid profile")).collect()
}

fn scrywarden_profiles() -> Vec<Profile> {
    let mandatory = |field: Option<&str>, fields: Option<&[&str]>| FeatureSpec {
        field: field.map(str::to_string),
        fields: fields.map(|f| f.iter().map(|s| s.to_string()).collect()),
        reporter: ReporterKind::Mandatory,
        ..Default::default()
    };
    let spec = |kind: &str, features: Vec<FeatureSpec>| ProfileSpec {
        matches: BTreeMap::from([(
            "type".to_string(),
            crest_profile::config::Expect::One(kind.into()),
        )]),
        actor: "user".into(),
        scoring: Scoring::Scrywarden,
        features,
        analyzer: Some(Analyzer::scrywarden()),
        ..Default::default()
    };
    vec![
        Profile::build(
            "logins",
            &spec(
                "auth",
                vec![
                    mandatory(Some("country"), None),
                    mandatory(Some("user_agent"), None),
                    mandatory(Some("app"), None),
                    mandatory(None, Some(&["country", "src_ip"])),
                ],
            ),
        )
        .unwrap(),
        Profile::build(
            "processes",
            &spec(
                "process",
                vec![mandatory(Some("host"), None), mandatory(None, Some(&["parent", "process"]))],
            ),
        )
        .unwrap(),
    ]
}

fn evaluate(
    name: &str,
    profiles: &[Profile],
    batch: usize,
    events: &[crest_testing::actors::LabeledEvent],
) -> Score {
    let messages: Vec<Message> = events
        .iter()
        .map(|e| Message {
            arrival_us: e.time_s * 1_000_000,
            data: serde_json::from_str::<serde_json::Value>(&e.json).unwrap().into(),
        })
        .collect();
    let mut score = Score::default();
    for e in events {
        if e.label != Label::Benign {
            score.attack_events += 1;
            score.incidents.insert(e.incident.unwrap());
        }
    }
    let mut flagged_messages: BTreeSet<usize> = BTreeSet::new();
    let started = std::time::Instant::now();
    for p in profiles {
        let mut state = ModelState::new(p);
        let mut rows: Vec<AnomalyRow> = Vec::new();
        let mut actor_ids: BTreeMap<String, i64> = BTreeMap::new();
        for (b, chunk) in messages.chunks(batch).enumerate() {
            let out = state.score_batch(p, chunk);
            for ev in out.events {
                let n = actor_ids.len() as i64;
                let actor_id = *actor_ids.entry(ev.actor.clone()).or_insert(n + 1);
                let message = b * batch + ev.message;
                for a in ev.anomalies {
                    rows.push(AnomalyRow {
                        event_id: message as i64,
                        message_id: message as i64,
                        actor_id,
                        actor: ev.actor.clone(),
                        time: ev.time,
                        anomaly_id: rows.len() as i64,
                        field_id: a.feature as i64,
                        field: p.features[a.feature].name.clone(),
                        value: a.value,
                        score: a.score,
                        evidence: a.evidence,
                    });
                }
            }
        }
        // Consecutive windows of the collector's length over event time.
        rows.sort_by_key(|r| (r.time, r.event_id, r.anomaly_id));
        let w = p.collector.window_us;
        let mut i = 0;
        while i < rows.len() {
            let start = rows[i].time.div_euclid(w) * w;
            let j =
                rows[i..].iter().position(|r| r.time >= start + w).map_or(rows.len(), |k| i + k);
            for f in p.analyzer.analyze(&rows[i..j]) {
                flagged_messages.insert(f.event_id as usize);
                if std::env::var_os("EVAL_DEBUG").is_some()
                    && events[f.event_id as usize].label == Label::Benign
                {
                    let fields: Vec<String> = f
                        .rows
                        .iter()
                        .map(|&k| format!("{}={:.2}", rows[i + k].field, rows[i + k].score))
                        .collect();
                    eprintln!("FP {} {} {}", name.replace(' ', "_"), p.name, fields.join(" "));
                }
            }
            i = j;
        }
    }
    for &m in &flagged_messages {
        score.flagged += 1;
        let e = &events[m];
        if e.label != Label::Benign {
            score.true_pos += 1;
            score.attack_flagged += 1;
            score.incidents_found.insert(e.incident.unwrap());
        } else {
            let v: serde_json::Value = serde_json::from_str(&e.json).unwrap();
            score.benign_actors_flagged.insert(v["user"].as_str().unwrap().to_string());
        }
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!("{name}: {} messages scored and analysed in {secs:.2} s", messages.len());
    score
}

fn main() {
    let seeds: Vec<u64> = std::env::args().skip(1).map(|s| s.parse().expect("a seed")).collect();
    let seeds = if seeds.is_empty() { vec![7, 8, 9] } else { seeds };
    let mut table = Vec::new();
    for seed in seeds {
        let spec = ActorLogSpec { seed, ..Default::default() };
        let events = actor_logs(&spec);
        for (name, profiles, batch) in [
            ("crest default", crest_profiles(), 5000),
            ("ScryWarden model", scrywarden_profiles(), 500),
        ] {
            let s = evaluate(name, &profiles, batch, &events);
            table.push((seed, name, s));
        }
    }
    println!(
        "| seed | model | flagged events | precision | event recall | incidents found | benign users flagged |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (seed, name, s) in &table {
        println!(
            "| {seed} | {name} | {} | {:.3} | {:.3} | {}/{} | {} |",
            s.flagged,
            s.true_pos as f64 / (s.flagged as f64).max(1.0),
            s.attack_flagged as f64 / (s.attack_events as f64).max(1.0),
            s.incidents_found.len(),
            s.incidents.len(),
            s.benign_actors_flagged.len()
        );
    }
}
