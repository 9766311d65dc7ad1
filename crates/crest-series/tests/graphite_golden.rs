//! Graphite parity: every function in `../shared/data/series-golden/`, against the outputs
//! of graphite-web's own code. Values must agree bit for bit (the acceptance bound is 1e-9
//! relative; crest keeps Graphite's evaluation order, so it needs no slack at all).

use std::collections::BTreeMap;
use std::path::Path;

use crest_series::Series;
use crest_series::graphite::{
    SummarizeFn, diff_series, holt_winters_analysis, holt_winters_bands, season_length, stdev,
    summarize, time_shift,
};

/// A golden CSV: timestamps and named columns (`None` for empty fields).
struct Table {
    timestamps: Vec<i64>,
    columns: BTreeMap<String, Vec<Option<f64>>>,
}

fn read_table(path: &Path) -> Table {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let mut timestamps = Vec::new();
    let mut columns: BTreeMap<String, Vec<Option<f64>>> =
        header[1..].iter().map(|h| (h.to_string(), Vec::new())).collect();
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        timestamps.push(fields[0].parse().expect("timestamp"));
        for (h, f) in header[1..].iter().zip(&fields[1..]) {
            let v = if f.is_empty() { None } else { Some(f.parse::<f64>().expect("number")) };
            columns.get_mut(*h).expect("column").push(v);
        }
    }
    Table { timestamps, columns }
}

/// Asserts two value columns are identical (same `None`s, same bits).
fn assert_same(what: &str, got: &[Option<f64>], want: &[Option<f64>]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut bad = Vec::new();
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let same = match (g, w) {
            (Some(a), Some(b)) => a.to_bits() == b.to_bits() || (*a == 0.0 && *b == 0.0),
            (None, None) => true,
            _ => false,
        };
        if !same {
            bad.push(format!("row {i}: got {g:?}, want {w:?}"));
        }
    }
    assert!(
        bad.is_empty(),
        "{what}: {} of {} values differ, first: {}",
        bad.len(),
        got.len(),
        bad[..bad.len().min(5)].join("; ")
    );
}

struct Case {
    name: &'static str,
    step: i64,
}

const CASES: [Case; 4] = [
    Case { name: "a_daily_60s", step: 60 },
    Case { name: "b_daily_60s_gaps", step: 60 },
    Case { name: "c_weekly_300s", step: 300 },
    Case { name: "d_short_60s", step: 60 },
];

const DAY: i64 = 86_400;
const WEEK: i64 = 7 * DAY;

fn golden_dir() -> Option<std::path::PathBuf> {
    crest_testing::shared_dir("graphite golden").map(|s| s.join("data/series-golden"))
}

fn input(dir: &Path, case: &Case) -> Series {
    let t = read_table(&dir.join(format!("{}.input.csv", case.name)));
    Series { start: t.timestamps[0], step: case.step, values: t.columns["value"].clone() }
}

#[test]
fn holt_winters_analysis_matches_graphite() {
    let Some(dir) = golden_dir() else { return };
    for case in &CASES {
        let series = input(&dir, case);
        let mut variants = vec![("", DAY)];
        if case.name.starts_with('c') {
            variants.push(("_season7d", WEEK));
        }
        for (suffix, seasonality) in variants {
            let want =
                read_table(&dir.join(format!("{}.holtWintersAnalysis{suffix}.csv", case.name)));
            let got = holt_winters_analysis(&series.values, season_length(seasonality, case.step));
            let what = |c: &str| format!("{}{suffix} {c}", case.name);
            assert_same(
                &what("prediction"),
                &got.iter().map(|p| p.prediction).collect::<Vec<_>>(),
                &want.columns["prediction"],
            );
            assert_same(
                &what("deviation"),
                &got.iter().map(|p| Some(p.deviation)).collect::<Vec<_>>(),
                &want.columns["deviation"],
            );
            assert_same(
                &what("intercept"),
                &got.iter().map(|p| p.intercept).collect::<Vec<_>>(),
                &want.columns["intercept"],
            );
            assert_same(
                &what("slope"),
                &got.iter().map(|p| Some(p.slope)).collect::<Vec<_>>(),
                &want.columns["slope"],
            );
            assert_same(
                &what("seasonal"),
                &got.iter().map(|p| Some(p.seasonal)).collect::<Vec<_>>(),
                &want.columns["seasonal"],
            );
        }
    }
}

#[test]
fn holt_winters_forecast_bands_and_aberration_match_graphite() {
    let Some(dir) = golden_dir() else { return };
    for case in &CASES {
        let series = input(&dir, case);
        let mut variants = vec![("", DAY)];
        if case.name.starts_with('c') {
            variants.push(("_season7d", WEEK));
        }
        for (suffix, seasonality) in variants {
            // Graphite's bootstrap: the request window starts 7 days into the data (or is the
            // whole series for the short case), and the model runs from 7 days before it.
            let bootstrap = WEEK;
            let skip_window =
                if case.name.starts_with('d') { 0 } else { (bootstrap / case.step) as usize };
            let window_start = series.start + skip_window as i64 * case.step;
            let pad = ((bootstrap / case.step) as usize).saturating_sub(skip_window);
            let mut extended = vec![None; pad];
            extended.extend_from_slice(&series.values);
            let extended =
                Series { start: window_start - bootstrap, step: case.step, values: extended };
            let window = &series.values[skip_window..];
            let bands = holt_winters_bands(
                &extended,
                window,
                bootstrap,
                season_length(seasonality, case.step),
                3.0,
            );

            let what = |f: &str, c: &str| format!("{}.{f}{suffix} {c}", case.name);
            let forecast =
                read_table(&dir.join(format!("{}.holtWintersForecast{suffix}.csv", case.name)));
            assert_eq!(forecast.timestamps[0], window_start, "{}", what("forecast", "start"));
            assert_same(
                &what("forecast", "forecast"),
                &bands.forecast,
                &forecast.columns["forecast"],
            );
            let ci = read_table(
                &dir.join(format!("{}.holtWintersConfidenceBands{suffix}.csv", case.name)),
            );
            assert_same(&what("bands", "lower"), &bands.lower, &ci.columns["lower"]);
            assert_same(&what("bands", "upper"), &bands.upper, &ci.columns["upper"]);
            let ab =
                read_table(&dir.join(format!("{}.holtWintersAberration{suffix}.csv", case.name)));
            let got: Vec<Option<f64>> = bands.aberration.iter().map(|a| Some(*a)).collect();
            assert_same(&what("aberration", "aberration"), &got, &ab.columns["aberration"]);
        }
    }
}

#[test]
fn stdev_matches_graphite() {
    let Some(dir) = golden_dir() else { return };
    for case in &CASES {
        let series = input(&dir, case);
        let want = read_table(&dir.join(format!("{}.stdev.csv", case.name)));
        for (column, points, tolerance) in [
            ("stdev_10", 10, 0.1),
            ("stdev_30", 30, 0.1),
            ("stdev_60", 60, 0.1),
            ("stdev_30_tol0p5", 30, 0.5),
        ] {
            assert_same(
                &format!("{} {column}", case.name),
                &stdev(&series.values, points, tolerance),
                &want.columns[column],
            );
        }
    }
}

#[test]
fn time_shift_matches_graphite() {
    let Some(dir) = golden_dir() else { return };
    for case in &CASES {
        let series = input(&dir, case);
        let want = read_table(&dir.join(format!("{}.timeShift.csv", case.name)));
        assert_same(&format!("{} value", case.name), &series.values, &want.columns["value"]);
        let day = time_shift(&series.values, (DAY / case.step) as usize);
        assert_same(&format!("{} shift_1d", case.name), &day, &want.columns["shift_1d"]);
        let week = time_shift(&series.values, (WEEK / case.step) as usize);
        assert_same(&format!("{} shift_7d", case.name), &week, &want.columns["shift_7d"]);
        assert_same(
            &format!("{} diff_vs_7d", case.name),
            &diff_series(&series.values, &week),
            &want.columns["diff_vs_7d"],
        );
    }
}

#[test]
fn summarize_matches_graphite() {
    let Some(dir) = golden_dir() else { return };
    for case in &CASES {
        let series = input(&dir, case);
        let mut variants = vec![("1h", 3600, false), ("1d", DAY, false)];
        if case.name.starts_with('d') {
            variants.push(("1h_alignToFrom", 3600, true));
        }
        for (label, interval, align) in variants {
            let want = read_table(&dir.join(format!("{}.summarize_{label}.csv", case.name)));
            for (column, func) in [("sum", SummarizeFn::Sum), ("avg", SummarizeFn::Avg)] {
                let got = summarize(&series, interval, func, align);
                let what = format!("{} summarize_{label} {column}", case.name);
                assert_eq!(got.start, want.timestamps[0], "{what}: start");
                assert_same(&what, &got.values, &want.columns[column]);
            }
        }
    }
}
