//! The labeled detector benchmark: every method on crest-testing's labeled series, each
//! method's threshold chosen on the tuning seeds (best F1), reported on held-out seeds.
//!
//! `cargo run --release -p crest-series --example labeled_benchmark` prints the Markdown
//! table kept in `bench/series-detectors.md`; `-- --tuning` also prints the tuning figures.

use crest_series::detect::{AnyDetector, Detector, Method, MethodParams};
use crest_testing::series::{
    AnomalyKind, HELD_OUT_SEEDS, LabeledSeries, Outcome, TUNING_SEEDS, best_threshold,
    labeled_suite, outcome_at,
};

/// One method's scores over each series, with default parameters.
fn scores(method: Method, suite: &[LabeledSeries]) -> Vec<Vec<f64>> {
    suite
        .iter()
        .map(|s| {
            let mut d = AnyDetector::new(method, &MethodParams::default(), s.step)
                .expect("default parameters are valid");
            s.values.iter().enumerate().map(|(i, v)| d.push(s.time(i), *v).score).collect()
        })
        .collect()
}

fn row(method: Method, threshold: f64, o: &Outcome) -> String {
    let delay = |d: Option<f64>| d.map_or("–".to_string(), |d| format!("{d:.1}"));
    let kinds: Vec<String> = AnomalyKind::ALL
        .iter()
        .map(|k| o.recall_of(*k).map_or("–".to_string(), |r| format!("{r:.2}")))
        .collect();
    format!(
        "| {} | {threshold:.3} | {:.3} | {:.3} | **{:.3}** | {}/{} | {} | {} | {} | {} |",
        method.name(),
        o.precision(),
        o.recall(),
        o.f1(),
        o.detected,
        o.false_events,
        delay(o.mean_delay()),
        delay(o.mean_delay_s().map(|s| s / 60.0)),
        kinds.join(" | "),
        o.windows,
    )
}

fn header() -> String {
    let kinds: Vec<&str> = AnomalyKind::ALL.iter().map(|k| k.name()).collect();
    format!(
        "| method | threshold | precision | recall | F1 | detected/false | delay (slots) | delay (min) | {} | windows |\n|{}",
        kinds.join(" | "),
        "---|".repeat(9 + kinds.len())
    )
}

fn main() {
    let show_tuning = std::env::args().any(|a| a == "--tuning");
    let tuning = labeled_suite(TUNING_SEEDS);
    let held_out = labeled_suite(HELD_OUT_SEEDS);
    let mut tuned = Vec::new();
    let mut reported = Vec::new();
    for method in Method::ALL {
        let (threshold, on_tuning) = best_threshold(&tuning, &scores(method, &tuning));
        let on_held_out = outcome_at(&held_out, &scores(method, &held_out), threshold);
        tuned.push(row(method, threshold, &on_tuning));
        reported.push(row(method, threshold, &on_held_out));
    }
    let points: usize = held_out.iter().map(|s| s.values.len()).sum();
    println!(
        "Held-out seeds {}..{} ({} series, {} points), thresholds from seeds {}..{}:\n",
        HELD_OUT_SEEDS.start,
        HELD_OUT_SEEDS.end - 1,
        held_out.len(),
        points,
        TUNING_SEEDS.start,
        TUNING_SEEDS.end - 1
    );
    println!("{}\n{}", header(), reported.join("\n"));
    if show_tuning {
        println!("\nTuning seeds (where the thresholds were chosen):\n");
        println!("{}\n{}", header(), tuned.join("\n"));
    }
}
