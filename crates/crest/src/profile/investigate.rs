//! `crest profile investigate`: windows of stored events → the analyzer → shippers.
//!
//! ScryWarden's time-range collector, with its bugs fixed: the first window starts a second
//! before the first event; each next window starts at the latest event the previous one
//! claimed; a window is read only once its end (plus `delay`) is past; after a gap, the window
//! starts just before the next event, so that event is investigated too. Investigations are
//! numbered per profile and claimed in the store, so several investigators can share it.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use crest_profile::analyzer::{AnomalyRow, Flagged};
use crest_profile::config::Profile;
use crest_profile_store::ProfileStore;
use serde_json::json;

use super::settings::ShipperSettings;
use super::source::now_us;

/// One investigated window and what was found malicious.
pub(crate) struct Finding {
    pub(crate) profile: String,
    pub(crate) index: i64,
    pub(crate) after: i64,
    pub(crate) until: i64,
    pub(crate) anomalies: usize,
    pub(crate) rows: Vec<AnomalyRow>,
    pub(crate) flagged: Vec<Flagged>,
}

/// Investigates every complete window of every profile; with `once`, stops when none is left,
/// else waits for more until `stop`.
pub(crate) fn run(
    profiles: &[Profile],
    store: &mut dyn ProfileStore,
    shippers: &[ShipperSettings],
    once: bool,
    now: Option<i64>,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<u64> {
    let mut windows = 0;
    loop {
        let mut progressed = false;
        let mut pause = i64::MAX;
        for p in profiles {
            match step(p, store, now.unwrap_or_else(now_us))? {
                Step::Found(f) => {
                    windows += 1;
                    progressed = true;
                    ship(shippers, p, &f)?;
                }
                Step::Claimed => progressed = true,
                Step::Wait(us) => pause = pause.min(us),
            }
        }
        if progressed {
            continue;
        }
        if once || stop.load(Ordering::Relaxed) {
            return Ok(windows);
        }
        let until = std::time::Instant::now()
            + Duration::from_micros(pause.clamp(10_000, 3_600_000_000) as u64);
        while std::time::Instant::now() < until && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
        }
        if stop.load(Ordering::Relaxed) {
            return Ok(windows);
        }
    }
}

enum Step {
    Found(Finding),
    /// Another investigator claimed the window: look again at once.
    Claimed,
    /// Nothing to do for this long.
    Wait(i64),
}

fn step(p: &Profile, store: &mut dyn ProfileStore, now: i64) -> anyhow::Result<Step> {
    let c = p.collector;
    let prev = store.last_investigation(p)?;
    let mut after = match &prev {
        Some(inv) => inv.last_event,
        None => match store.first_event(p)? {
            Some(t) => t - 1_000_000,
            None => return Ok(Step::Wait(c.interval_us)),
        },
    };
    let ready = |after: i64| after + c.window_us + c.delay_us <= now;
    if !ready(after) {
        return Ok(Step::Wait(after + c.window_us + c.delay_us - now));
    }
    let mut rows = store.anomalies(p, after, after + c.window_us)?;
    if rows.is_empty() {
        // A gap: start just before the next event (ScryWarden started at it, and lost it).
        match store.next_event_after(p, after)? {
            Some(t) => {
                after = t - 1;
                if !ready(after) {
                    return Ok(Step::Wait(after + c.window_us + c.delay_us - now));
                }
                rows = store.anomalies(p, after, after + c.window_us)?;
            }
            None => return Ok(Step::Wait(c.interval_us)),
        }
    }
    let until = after + c.window_us;
    let mut events: Vec<i64> = rows.iter().map(|r| r.event_id).collect();
    events.dedup();
    let last_event = rows.iter().map(|r| r.time).max().unwrap_or(until);
    let index = prev.map_or(1, |i| i.index + 1);
    let Some(id) = store.begin_investigation(p, index, after, until, &events, last_event)? else {
        return Ok(Step::Claimed);
    };
    let flagged = p.analyzer.analyze(&rows);
    let malicious: Vec<i64> =
        flagged.iter().flat_map(|f| f.rows.iter().map(|&i| rows[i].anomaly_id)).collect();
    store.complete_investigation(p, id, &malicious)?;
    Ok(Step::Found(Finding {
        profile: p.name.clone(),
        index,
        after,
        until,
        anomalies: rows.len(),
        rows,
        flagged,
    }))
}

/// `2026-11-22 23:55:04.815301+00:00`, as pandas writes a UTC timestamp.
pub(crate) fn pandas_time(us: i64) -> String {
    let ts = jiff::Timestamp::from_microsecond(us).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let frac = us.rem_euclid(1_000_000);
    let base = ts.strftime("%Y-%m-%d %H:%M:%S").to_string();
    if frac == 0 { format!("{base}+00:00") } else { format!("{base}.{frac:06}+00:00") }
}

/// RFC 3339 with microseconds when there are any.
pub(crate) fn rfc3339(us: i64) -> String {
    let ts = jiff::Timestamp::from_microsecond(us).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let frac = us.rem_euclid(1_000_000);
    let base = ts.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    if frac == 0 { format!("{base}Z") } else { format!("{base}.{frac:06}Z") }
}

/// A score as Python prints a float (`1.0`, `0.9523809523809523`).
fn py_float(x: f64) -> String {
    crest_core::num::py_float_repr(x)
}

fn append(path: &Path) -> anyhow::Result<(std::fs::File, bool)> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("{}: cannot open for appending", path.display()))?;
    let empty = f.metadata().map(|m| m.len() == 0).unwrap_or(true);
    Ok((f, empty))
}

fn ship(shippers: &[ShipperSettings], p: &Profile, f: &Finding) -> anyhow::Result<()> {
    let terminal = [ShipperSettings::Terminal];
    let shippers = if shippers.is_empty() { &terminal[..] } else { shippers };
    for s in shippers {
        match s {
            ShipperSettings::Csv { path } => {
                let (mut file, empty) = append(path)?;
                let mut out = String::new();
                if empty {
                    out.push_str(
                        "event_id,message_id,actor_id,created_at,anomaly_id,field_id,score\n",
                    );
                }
                for fl in &f.flagged {
                    for &i in &fl.rows {
                        let r = &f.rows[i];
                        out.push_str(&format!(
                            "{},{},{},{},{},{},{}\n",
                            r.event_id,
                            r.message_id,
                            r.actor_id,
                            pandas_time(r.time),
                            r.anomaly_id,
                            r.field_id,
                            py_float(r.score)
                        ));
                    }
                }
                file.write_all(out.as_bytes())
                    .with_context(|| format!("{}: cannot write", path.display()))?;
            }
            ShipperSettings::Jsonl { path } => {
                let (mut file, _) = append(path)?;
                let mut out = String::new();
                for line in findings_jsonl(p, f) {
                    out.push_str(&line);
                    out.push('\n');
                }
                file.write_all(out.as_bytes())
                    .with_context(|| format!("{}: cannot write", path.display()))?;
            }
            ShipperSettings::Terminal => print_table(f),
        }
    }
    Ok(())
}

/// One JSON finding per malicious event: detector, key, time, score, severity, evidence.
pub(crate) fn findings_jsonl(p: &Profile, f: &Finding) -> Vec<String> {
    f.flagged
        .iter()
        .map(|fl| {
            let first = &f.rows[fl.rows[0]];
            let anomalies: Vec<serde_json::Value> = fl
                .rows
                .iter()
                .map(|&i| {
                    let r = &f.rows[i];
                    json!({
                        "field": r.field,
                        "value": r.value,
                        "score": r.score,
                        "why": why(r),
                        "evidence": r.evidence,
                    })
                })
                .collect();
            json!({
                "detector": "profile",
                "profile": p.name,
                "investigation": f.index,
                "id": format!("{}:{}:{}", p.name, first.event_id, first.message_id),
                "key": first.actor,
                "time": rfc3339(first.time),
                "score": fl.score,
                "severity": severity(fl.score),
                "event_id": first.event_id,
                "anomalies": anomalies,
            })
            .to_string()
        })
        .collect()
}

fn severity(score: f64) -> &'static str {
    if score >= 0.9 {
        "high"
    } else if score >= 0.7 {
        "medium"
    } else {
        "low"
    }
}

/// Why an anomaly scored, in words: "seen 0 times of 412; usual: "US" ×400, "DE" ×12".
pub(crate) fn why(r: &AnomalyRow) -> String {
    let e = &r.evidence;
    let mut s = if e.total == 0.0 {
        "the actor's first value".to_string()
    } else if e.seen == 0.0 {
        format!("never seen in {} values", trim(e.total))
    } else {
        format!("seen {} times of {}", trim(e.seen), trim(e.total))
    };
    if let Some((users, of)) = e.population {
        s.push_str(&format!("; {users} of {of} actors use it"));
    }
    if let Some((median, dev)) = e.range {
        s.push_str(&format!("; usual ≈{} (±{} doublings)", trim(median), trim(dev)));
    }
    if !e.usual.is_empty() {
        let usual: Vec<String> =
            e.usual.iter().map(|(v, c)| format!("{v} ×{}", trim(*c))).collect();
        s.push_str(&format!("; usual: {}", usual.join(", ")));
    }
    s
}

fn trim(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 { format!("{}", x as i64) } else { format!("{x:.2}") }
}

fn print_table(f: &Finding) {
    // Quiet windows are counted at the end, not listed.
    if f.flagged.is_empty() {
        return;
    }
    let mut t = comfy_table::Table::new();
    t.load_style(
        comfy_table::TableStyle::new()
            .header_separator(comfy_table::LineStyle::none().fill('─').junction('─')),
    );
    t.set_header(["actor", "time", "field", "value", "score", "why"]);
    for fl in &f.flagged {
        for &i in &fl.rows {
            let r = &f.rows[i];
            t.add_row([
                r.actor.clone(),
                rfc3339(r.time),
                r.field.clone(),
                r.value.clone(),
                format!("{:.3}", r.score),
                why(r),
            ]);
        }
    }
    println!(
        "{} investigation {}: ({} → {}]: {} anomalies, {} malicious events",
        f.profile,
        f.index,
        rfc3339(f.after),
        rfc3339(f.until),
        f.anomalies,
        f.flagged.len()
    );
    println!("{t}");
}
