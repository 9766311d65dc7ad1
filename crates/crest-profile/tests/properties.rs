//! Properties users rely on: crest's scores do not depend on how messages are batched, and
//! ScryWarden's reporters keep their scores in [0, weight].

use crest_profile::config::{FeatureSpec, Profile, ProfileSpec, ReporterKind, Scoring};
use crest_profile::model::{Message, ModelState};
use crest_profile::scrywarden::{self, Row, Stored};
use proptest::prelude::*;
use serde_json::json;

fn profile(scoring: Scoring) -> Profile {
    let f = |field: &str, reporter| FeatureSpec {
        field: Some(field.into()),
        reporter,
        ..Default::default()
    };
    let crest = scoring == Scoring::Crest;
    let mut features = vec![f("a", ReporterKind::Mandatory), f("b", ReporterKind::Optional)];
    if crest {
        features.push(f("a", ReporterKind::Rarity));
        features[2].name = Some("a-rarity".into());
        features.push(f("n", ReporterKind::Numeric));
        features.push(FeatureSpec {
            reporter: ReporterKind::Hour,
            min_history: Some(3.0),
            ..Default::default()
        });
    }
    let spec = ProfileSpec {
        actor: "user".into(),
        time: crest.then(|| "t".into()),
        scoring,
        learning: crest.then(|| "2h".into()),
        half_life: crest.then(|| "1d".into()),
        features,
        ..Default::default()
    };
    Profile::build("p", &spec).unwrap()
}

/// Messages from a few actors with few values, so that values recur.
fn messages() -> impl Strategy<Value = Vec<Message>> {
    prop::collection::vec((0u8..4, 0u8..5, prop::option::of(0u8..3), 0u32..5000, 0i64..600), 1..120)
        .prop_map(|v| {
            let mut t = 1_700_000_000i64;
            v.into_iter()
                .map(|(u, a, b, n, dt)| {
                    t += dt * 60;
                    let mut data =
                        json!({"user": format!("u{u}"), "a": format!("v{a}"), "n": n, "t": t});
                    if let Some(b) = b {
                        data["b"] = json!(b);
                    }
                    Message::new(t * 1_000_000, data)
                })
                .collect()
        })
}

proptest! {
    #[test]
    fn crest_scores_do_not_depend_on_batches(msgs in messages(), sizes in prop::collection::vec(1usize..40, 1..10)) {
        let p = profile(Scoring::Crest);
        let mut whole = ModelState::new(&p);
        let one = whole.score_batch(&p, &msgs);
        let mut split = ModelState::new(&p);
        let mut events = Vec::new();
        let (mut at, mut k) = (0, 0);
        while at < msgs.len() {
            let n = sizes[k % sizes.len()].min(msgs.len() - at);
            let mut out = split.score_batch(&p, &msgs[at..at + n]);
            for e in &mut out.events {
                e.message += at;
            }
            events.extend(out.events);
            at += n;
            k += 1;
        }
        prop_assert_eq!(one.events, events);
    }

    #[test]
    fn scrywarden_scores_stay_in_range(msgs in messages(), weight in 0.0f64..3.0) {
        struct Empty;
        impl Stored for Empty {
            fn count(&self, _: u32, _: &str) -> f64 { 0.0 }
            fn groups(&self, _: u32) -> f64 { 0.0 }
            fn total(&self, _: u32) -> f64 { 0.0 }
        }
        let values: Vec<String> = msgs.iter().map(|m| m.data.to_value()["a"].to_string()).collect();
        let rows: Vec<Row<'_>> = msgs
            .iter()
            .zip(&values)
            .map(|(m, v)| Row { actor: m.data.to_value()["user"].as_str().unwrap().as_bytes()[1] as u32, time: m.arrival_us, value: v })
            .collect();
        for s in scrywarden::mandatory(&rows, &Empty, weight).into_iter().chain(scrywarden::optional(&rows, &Empty, weight)) {
            prop_assert!((0.0..=weight).contains(&s.score), "{} outside [0, {}]", s.score, weight);
        }
    }

    #[test]
    fn scrywarden_batches_learn_every_value(msgs in messages()) {
        // Whatever the batches, the counts learned are the number of messages per value.
        let p = profile(Scoring::Scrywarden);
        let mut state = ModelState::new(&p);
        for chunk in msgs.chunks(7) {
            state.score_batch(&p, chunk);
        }
        let total: f64 = state.actors().iter().map(|a| a.feature(0).total()).sum();
        prop_assert_eq!(total, msgs.len() as f64);
    }
}
