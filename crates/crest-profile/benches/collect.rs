//! Messages per second through a profile's model (`score_batch`): the pure part of
//! `crest profile collect`, on the labelled authentication logs, for crest's scoring and
//! ScryWarden's. Run: `cargo bench -p crest-profile --bench collect`.

use std::time::Instant;

use crest_profile::config::{FeatureSpec, Profile, ProfileSpec, ReporterKind, Scoring};
use crest_profile::model::{Message, ModelState};
use crest_testing::actors::{ActorLogSpec, actor_logs};

fn profile(scoring: Scoring) -> Profile {
    let f = |field: &str, reporter| FeatureSpec {
        field: Some(field.into()),
        reporter,
        ..Default::default()
    };
    let crest = scoring == Scoring::Crest;
    let mut features = vec![
        f("host", if crest { ReporterKind::Rarity } else { ReporterKind::Mandatory }),
        f("process", ReporterKind::Mandatory),
        f("parent", ReporterKind::Optional),
    ];
    if crest {
        features.push(f("bytes_out", ReporterKind::Numeric));
        features.push(FeatureSpec { reporter: ReporterKind::Hour, ..Default::default() });
    }
    let spec = ProfileSpec {
        actor: "user".into(),
        time: crest.then(|| "time".into()),
        scoring,
        learning: crest.then(|| "7d".into()),
        half_life: crest.then(|| "30d".into()),
        features,
        ..Default::default()
    };
    Profile::build("processes", &spec).unwrap()
}

fn main() {
    let events = actor_logs(&ActorLogSpec { actors: 1000, days: 28, ..Default::default() });
    let messages: Vec<Message> = events
        .iter()
        .map(|e| Message {
            arrival_us: e.time_s * 1_000_000,
            data: serde_json::from_str::<serde_json::Value>(&e.json).unwrap().into(),
        })
        .collect();
    // Deltas are what a shared store (PostgreSQL) writes; the embedded store needs none.
    for (name, scoring, batch, deltas) in [
        ("crest", Scoring::Crest, 5000, false),
        ("crest", Scoring::Crest, 5000, true),
        ("scrywarden", Scoring::Scrywarden, 500, false),
        ("scrywarden", Scoring::Scrywarden, 5000, false),
    ] {
        let p = profile(scoring);
        let mut best = f64::MAX;
        for _ in 0..3 {
            let mut state = ModelState::new(&p);
            let t = Instant::now();
            let mut events = 0;
            for chunk in messages.chunks(batch) {
                events += state.score_batch_with(&p, chunk, deltas).events.len();
            }
            best = best.min(t.elapsed().as_secs_f64());
            std::hint::black_box(events);
        }
        println!(
            "{name:>10} scoring, batches of {batch:>5}, deltas {deltas:>5}: {} messages in {:.3} s = {:.2}M messages/s (one core)",
            messages.len(),
            best,
            messages.len() as f64 / best / 1e6
        );
    }
}
