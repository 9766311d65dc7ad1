//! Printing peaks for people (a table) and for programs (JSON Lines findings).

use comfy_table::{CellAlignment, LineStyle, Table, TableStyle};
use crest_core::num::PyNum;
use crest_peaks::{Peak, Window};
use serde_json::json;

/// A readable table of peaks with their baseline, and a line saying what was checked.
pub(crate) fn table(
    peaks: &[Peak],
    dims: &[String],
    window: Window,
    tz: &str,
    pairs_checked: usize,
) -> String {
    let span = format!("{} → {} ({tz})", window.start, window.end);
    if peaks.is_empty() {
        return format!("No peaks in {span}: {pairs_checked} pairs checked.\n");
    }
    let mut t = Table::new();
    t.load_style(TableStyle::new().header_separator(LineStyle::none().fill('─').junction('─')));
    let mut header: Vec<String> = dims.to_vec();
    header.extend(
        [
            "submissions",
            "threshold",
            "× avg",
            "samples",
            "per sample",
            "top sample",
            "top share",
            "why",
        ]
        .map(String::from),
    );
    t.set_header(header);
    // Most unusual first: submissions over the baseline's average (new pairs last).
    let mut ordered: Vec<&Peak> = peaks.iter().collect();
    let times_avg = |p: &Peak| {
        let avg = p.baseline.sub_count_avg.to_f64();
        if avg > 0.0 { p.stats.sub_count as f64 / avg } else { f64::NEG_INFINITY }
    };
    ordered.sort_by(|a, b| times_avg(b).total_cmp(&times_avg(a)).then_with(|| a.key.cmp(&b.key)));
    for p in ordered {
        let s = &p.stats;
        let avg = p.baseline.sub_count_avg.to_f64();
        let times_avg =
            if avg > 0.0 { format!("{:.1}", s.sub_count as f64 / avg) } else { "new".into() };
        let top = p
            .top_samples
            .first()
            .map_or(String::new(), |(sample, n)| format!("{} ×{n}", shorten(sample, 13)));
        let mut row: Vec<String> = p.key.clone();
        row.extend([
            s.sub_count.to_string(),
            show(p.global_threshold_suggested),
            times_avg,
            s.samp_count.to_string(),
            format!("{:.2} ± {:.2}", s.samp_sub_count_mean.to_f64(), s.samp_sub_count_std),
            top,
            // The reference only weighs the top share above 50 submissions.
            if s.sub_count > crest_peaks::LOCAL_MIN_COUNT {
                format!("{:.0}%", s.samp_sub_ratio * 100.0)
            } else {
                "–".into()
            },
            reasons(p).join(", "),
        ]);
        t.add_row(row);
    }
    for i in dims.len()..dims.len() + 8 {
        if let Some(c) = t.column_mut(i)
            && i != dims.len() + 5
            && i != dims.len() + 7
        {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    let n = peaks.len();
    format!(
        "{n} peak{} in {span}, {pairs_checked} pairs checked\n{t}\n\
         why: rate = samples resubmitted above 80% of their historical rate; dominant = one sample \
         is over half the submissions; outlier = top sample above mean + 1 std\n",
        if n == 1 { "" } else { "s" },
    )
}

fn show(n: PyNum) -> String {
    match n {
        PyNum::Int(i) => i.to_string(),
        PyNum::Float(f) => format!("{f:.2}"),
    }
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let head: String = s.chars().take(max - 1).collect();
    format!("{head}…")
}

fn reasons(p: &Peak) -> Vec<&'static str> {
    let mut why = Vec::new();
    if p.rules.rate_above_history {
        why.push("rate");
    }
    if p.rules.dominant_sample {
        why.push("dominant");
    }
    if p.rules.outlier_sample {
        why.push("outlier");
    }
    why
}

fn num(n: PyNum) -> serde_json::Value {
    match n {
        PyNum::Int(i) => json!(i),
        PyNum::Float(f) => json!(f),
    }
}

/// One JSON finding per peak, one per line.
pub(crate) fn jsonl(peaks: &[Peak], dims: &[String], window: Window) -> String {
    let mut out = String::new();
    for p in peaks {
        let key: serde_json::Map<String, serde_json::Value> =
            dims.iter().zip(&p.key).map(|(d, v)| (d.clone(), json!(v))).collect();
        let stats: serde_json::Map<String, serde_json::Value> =
            p.values().iter().map(|(name, v)| (name.to_string(), num(*v))).collect();
        let b = &p.baseline;
        let threshold = p.global_threshold_suggested.to_f64();
        let finding = json!({
            "detector": "peaks",
            "window": { "start": window.start.to_string(), "end": window.end.to_string() },
            "key": key,
            "score": if threshold > 0.0 { p.stats.sub_count as f64 / threshold } else { p.stats.sub_count as f64 },
            "stats": stats,
            "baseline": {
                "start_ts": b.start_ts.to_string(),
                "end_ts": b.end_ts.to_string(),
                "window_count": num(b.window_count),
                "sub_count_avg": num(b.sub_count_avg),
                "sub_count_max": num(b.sub_count_max),
                "samp_count_avg": num(b.samp_count_avg),
                "samp_count_max": num(b.samp_count_max),
                "samp_sub_count_avg": num(b.samp_sub_count_avg),
                "samp_sub_count_max": num(b.samp_sub_count_max),
                "threshold_suggested": num(b.threshold_suggested),
            },
            "rules": reasons(p),
            "evidence": {
                "top_samples": p.top_samples.iter().map(|(s, n)| json!({ "sample": s, "count": n })).collect::<Vec<_>>(),
            },
        });
        out.push_str(&finding.to_string());
        out.push('\n');
    }
    out
}
