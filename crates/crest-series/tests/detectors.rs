//! The streaming detectors: Graphite exactness of `hw` against the golden files, scores in
//! `[0, 1]` for any input, checkpoint/restore equivalence for every method, and the labeled
//! benchmark's headline (the ensemble beats each member).

use std::path::Path;

use crest_series::detect::{AnyDetector, Detector, Method, MethodParams, Scored};
use crest_series::graphite::season_length;
use proptest::prelude::*;

/// A golden CSV's column (`None` for empty fields).
fn column(path: &Path, name: &str) -> Vec<Option<f64>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let at = header.iter().position(|h| *h == name).expect("column");
    lines
        .map(|l| {
            let f = l.split(',').nth(at).unwrap_or("");
            (!f.is_empty()).then(|| f.parse::<f64>().expect("number"))
        })
        .collect()
}

fn same_bits(what: &str, got: &[Option<f64>], want: &[Option<f64>]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let ok = match (g, w) {
            (Some(a), Some(b)) => a.to_bits() == b.to_bits() || (*a == 0.0 && *b == 0.0),
            (None, None) => true,
            _ => false,
        };
        assert!(ok, "{what}: row {i}: got {g:?}, want {w:?}");
    }
}

#[test]
fn hw_detector_reproduces_graphite_bands_and_aberration() {
    let Some(shared) = crest_testing::shared_dir("hw detector golden") else { return };
    let dir = shared.join("data/series-golden");
    for (case, step, seasons) in [
        ("a_daily_60s", 60, &[("", 86_400)][..]),
        ("b_daily_60s_gaps", 60, &[("", 86_400)][..]),
        ("c_weekly_300s", 300, &[("", 86_400), ("_season7d", 604_800)][..]),
        ("d_short_60s", 60, &[("", 86_400)][..]),
    ] {
        let input = dir.join(format!("{case}.input.csv"));
        let values = column(&input, "value");
        let times: Vec<i64> =
            column(&input, "timestamp").iter().map(|t| t.unwrap() as i64).collect();
        for (suffix, season_s) in seasons {
            let params = MethodParams { season_s: *season_s, ..MethodParams::default() };
            let mut d = AnyDetector::new(Method::Hw, &params, step).unwrap();
            assert_eq!(d.columns(), ["forecast", "lower", "upper", "aberration"]);
            let out: Vec<Scored> = times.iter().zip(&values).map(|(t, v)| d.push(*t, *v)).collect();
            // The bootstrapped files start 7 days in; the short case is the whole series
            // and differs only at its first point (Graphite's bootstrap saw None before it).
            let skip = if case.starts_with('d') { 1 } else { (604_800 / step) as usize };
            let fig = |k: usize| out[skip..].iter().map(|o| o.figures[k]).collect::<Vec<_>>();
            let file = |f: &str| dir.join(format!("{case}.{f}{suffix}.csv"));
            let tail =
                |v: Vec<Option<f64>>| v[if case.starts_with('d') { 1 } else { 0 }..].to_vec();
            let what = |c: &str| format!("{case}{suffix} {c}");
            same_bits(
                &what("forecast"),
                &fig(0),
                &tail(column(&file("holtWintersForecast"), "forecast")),
            );
            let bands = file("holtWintersConfidenceBands");
            same_bits(&what("lower"), &fig(1), &tail(column(&bands, "lower")));
            same_bits(&what("upper"), &fig(2), &tail(column(&bands, "upper")));
            let ab = column(&file("holtWintersAberration"), "aberration");
            same_bits(&what("aberration"), &fig(3), &tail(ab));
            assert!(season_length(*season_s, step) >= 2);
        }
    }
}

/// A series of slots: values with gaps, constant runs, huge and non-finite values.
fn series() -> impl Strategy<Value = Vec<Option<f64>>> {
    let value = prop_oneof![
        6 => (0.0f64..1000.0).prop_map(Some),
        2 => Just(None),
        2 => Just(Some(5.0)),
        1 => (-1e12f64..1e12).prop_map(Some),
        1 => prop_oneof![
            Just(Some(f64::NAN)),
            Just(Some(f64::INFINITY)),
            Just(Some(f64::NEG_INFINITY)),
            Just(Some(1e300)),
            Just(Some(-1e300)),
            Just(Some(0.0)),
            Just(Some(-0.0)),
        ],
    ];
    prop::collection::vec(value, 1..400)
}

/// Small parameters so that windows, seasons and warm-ups all turn over in a short series.
fn small_params() -> MethodParams {
    MethodParams {
        season_s: 1200,
        window: 7,
        shift_s: 600,
        warmup_s: Some(300),
        ..MethodParams::default()
    }
}

const STEP: i64 = 60;

fn run(d: &mut AnyDetector, values: &[Option<f64>], from: usize) -> Vec<Scored> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| d.push(1_700_000_000 + ((from + i) as i64) * STEP, *v))
        .collect()
}

fn bits(s: &Scored) -> (u64, Vec<Option<u64>>) {
    (s.score.to_bits(), s.figures.iter().map(|f| f.map(f64::to_bits)).collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn scores_are_finite_and_in_unit_range(values in series()) {
        for m in Method::ALL {
            for params in [small_params(), MethodParams::default()] {
                let mut d = AnyDetector::new(m, &params, STEP).unwrap();
                for (i, s) in run(&mut d, &values, 0).iter().enumerate() {
                    prop_assert!(s.score.is_finite() && (0.0..=1.0).contains(&s.score), "{m}: {}", s.score);
                    if !values[i].is_some_and(f64::is_finite) {
                        prop_assert_eq!(s.score, 0.0, "{}: missing value scored", m);
                    }
                }
            }
        }
    }

    #[test]
    fn checkpoint_and_restore_continue_identically(values in series(), cut in 0usize..400) {
        let cut = cut.min(values.len());
        for m in Method::ALL {
            let mut whole = AnyDetector::new(m, &small_params(), STEP).unwrap();
            let want: Vec<_> = run(&mut whole, &values, 0).iter().map(bits).collect();
            let mut first = AnyDetector::new(m, &small_params(), STEP).unwrap();
            let mut got: Vec<_> = run(&mut first, &values[..cut], 0).iter().map(bits).collect();
            let json = serde_json::to_string(&first).unwrap();
            let mut restored: AnyDetector = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(&restored, &first, "{}: state differs after a round trip", m);
            got.extend(run(&mut restored, &values[cut..], cut).iter().map(bits));
            prop_assert_eq!(&got, &want, "{}: outputs differ after restore at {}", m, cut);
            prop_assert_eq!(restored.method(), m);
        }
    }
}

#[test]
fn ensemble_beats_every_member_on_a_small_benchmark() {
    use crest_testing::series::{best_threshold, labeled_suite, outcome_at};
    // Tune on two seeds, judge on two others (a corner of the full benchmark).
    let tuning = labeled_suite(1..3);
    let held_out = labeled_suite(101..103);
    let scores = |m: Method, suite: &[crest_testing::series::LabeledSeries]| -> Vec<Vec<f64>> {
        suite
            .iter()
            .map(|s| {
                let mut d = AnyDetector::new(m, &MethodParams::default(), s.step).unwrap();
                s.values.iter().enumerate().map(|(i, v)| d.push(s.time(i), *v).score).collect()
            })
            .collect()
    };
    let f1 = |m: Method| {
        let (t, _) = best_threshold(&tuning, &scores(m, &tuning));
        outcome_at(&held_out, &scores(m, &held_out), t).f1()
    };
    let ensemble = f1(Method::Ensemble);
    for m in Method::ALL.into_iter().filter(|m| *m != Method::Ensemble) {
        let member = f1(m);
        assert!(ensemble >= member, "ensemble F1 {ensemble:.3} < {m} F1 {member:.3}");
    }
}
