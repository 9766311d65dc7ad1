//! Printing `crest flows` results: a table for people, JSON, JSON Lines and CSV for machines.

use comfy_table::{Cell, CellAlignment, LineStyle, Table, TableStyle};
use crest_flows::analysis::Outcome;
use crest_flows::evidence::{Evidence, Kind};
use crest_flows::flow::FlowRef;
use crest_flows::trust::HostScore;
use serde_json::{Value, json};

use super::OutFormat;

/// An epoch time as RFC 3339 UTC with microseconds (or the number itself if out of range).
fn time(ts: f64) -> String {
    let us = (ts * 1e6).round() as i64;
    match jiff::Timestamp::from_microsecond(us) {
        Ok(t) => t.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        Err(_) => ts.to_string(),
    }
}

/// An epoch time to the second, for tables.
fn short_time(ts: f64) -> String {
    match jiff::Timestamp::from_second(ts.floor() as i64) {
        Ok(t) => t.strftime("%Y-%m-%d %H:%M:%S").to_string(),
        Err(_) => ts.to_string(),
    }
}

/// Rounds for display and JSON (scores carry no meaning past 4 decimals).
fn r4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

fn flow_json(f: &FlowRef) -> Value {
    json!({
        "ts": time(f.ts),
        "proto": f.proto.name(),
        "src": f.src.to_string(),
        "src_port": f.src_port,
        "dst": f.dst.to_string(),
        "dst_port": f.dst_port,
        "state": f.state.name(),
        "bytes_up": f.bytes_up,
        "bytes_down": f.bytes_down,
    })
}

fn evidence_json(e: &Evidence, weight: f64) -> Value {
    json!({
        "kind": e.kind.name(),
        "host": e.host.to_string(),
        "peer": e.peer.map(|p| p.to_string()),
        "port": e.port,
        "first_seen": time(e.first_ts),
        "ts": time(e.ts),
        "threat": e.threat.name(),
        "confidence": r4(e.confidence),
        "weight": r4(weight),
        "score": r4(e.score),
        "description": e.description,
        "flow_count": e.flow_count,
        "flows": e.flows.iter().map(flow_json).collect::<Vec<_>>(),
    })
}

fn host_json(outcome: &Outcome, h: &HostScore) -> Value {
    let report = &outcome.report;
    let best = &h.windows[h.best];
    json!({
        "host": h.host.to_string(),
        "verdict": h.verdict.name(),
        "score": r4(h.score),
        "internal": h.internal,
        "window_start": time(best.start),
        "evidence_count": h.evidence_count,
        "evidence": best.evidence.iter().map(|&i| evidence_json(&report.evidence[i], report.weights[i])).collect::<Vec<_>>(),
        "windows": h.windows.iter().map(|w| json!({
            "start": time(w.start),
            "score": r4(w.score),
            "verdict": w.verdict.name(),
            "evidence": w.evidence.len(),
        })).collect::<Vec<_>>(),
    })
}

fn new_table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table.load_style(TableStyle::new().header_separator(LineStyle::none().fill('─').junction('─')));
    table.set_header(header.iter().map(Cell::new).collect::<Vec<_>>());
    table
}

/// The ranked hosts.
pub(crate) fn hosts(outcome: &Outcome, format: OutFormat, top: usize) -> String {
    let report = &outcome.report;
    match format {
        OutFormat::Table => {
            let mut table =
                new_table(&["#", "host", "verdict", "score", "window", "evidence", "top evidence"]);
            for (rank, h) in report.hosts.iter().take(top).enumerate() {
                let best = &h.windows[h.best];
                let mut kinds: Vec<Kind> = Vec::new();
                let mut lines: Vec<String> = Vec::new();
                for &i in &best.evidence {
                    let e = &report.evidence[i];
                    if !kinds.contains(&e.kind) && lines.len() < 3 {
                        kinds.push(e.kind);
                        lines.push(format!("[{}] {}", e.threat, e.description));
                    }
                }
                table.add_row(vec![
                    Cell::new(rank + 1).set_alignment(CellAlignment::Right),
                    Cell::new(h.host),
                    Cell::new(h.verdict),
                    Cell::new(format!("{:.3}", h.score)).set_alignment(CellAlignment::Right),
                    Cell::new(short_time(best.start)),
                    Cell::new(h.evidence_count).set_alignment(CellAlignment::Right),
                    Cell::new(lines.join("\n")),
                ]);
            }
            let mut out = format!("{table}\n");
            if report.hosts.len() > top {
                out.push_str(&format!(
                    "({} more hosts with evidence; --top N shows more, --format json all)\n",
                    report.hosts.len() - top
                ));
            }
            out
        }
        OutFormat::Json => {
            let doc = json!({
                "flows": outcome.flows,
                "dns_queries": outcome.dns_queries,
                "first_seen": outcome.first_ts.map(time),
                "last_seen": outcome.last_ts.map(time),
                "hosts": report.hosts.iter().map(|h| host_json(outcome, h)).collect::<Vec<_>>(),
            });
            format!("{}\n", serde_json::to_string_pretty(&doc).expect("JSON values serialise"))
        }
        OutFormat::Jsonl => {
            report.hosts.iter().map(|h| format!("{}\n", host_json(outcome, h))).collect()
        }
        OutFormat::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            let _ = w.write_record([
                "rank",
                "host",
                "verdict",
                "score",
                "window_start",
                "evidence_count",
                "top_evidence",
            ]);
            for (rank, h) in report.hosts.iter().enumerate() {
                let best = &h.windows[h.best];
                let top = best
                    .evidence
                    .first()
                    .map(|&i| report.evidence[i].description.clone())
                    .unwrap_or_default();
                let _ = w.write_record([
                    (rank + 1).to_string(),
                    h.host.to_string(),
                    h.verdict.name().to_string(),
                    format!("{:.4}", h.score),
                    time(best.start),
                    h.evidence_count.to_string(),
                    top,
                ]);
            }
            String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
        }
    }
}

/// One detector's ranked findings (`crest flows beacons|scans|long-conns`).
pub(crate) fn evidence(outcome: &Outcome, kinds: &[Kind], format: OutFormat, top: usize) -> String {
    let report = &outcome.report;
    let mut idx: Vec<usize> =
        (0..report.evidence.len()).filter(|&i| kinds.contains(&report.evidence[i].kind)).collect();
    idx.sort_by(|&a, &b| {
        let (ea, eb) = (&report.evidence[a], &report.evidence[b]);
        eb.score.total_cmp(&ea.score).then(a.cmp(&b))
    });
    match format {
        OutFormat::Table => {
            let mut table = new_table(&[
                "#", "kind", "host", "peer", "port", "score", "weight", "flows", "finding",
            ]);
            for (rank, &i) in idx.iter().take(top).enumerate() {
                let e = &report.evidence[i];
                table.add_row(vec![
                    Cell::new(rank + 1).set_alignment(CellAlignment::Right),
                    Cell::new(e.kind),
                    Cell::new(e.host),
                    Cell::new(e.peer.map(|p| p.to_string()).unwrap_or_default()),
                    Cell::new(e.port.map(|p| p.to_string()).unwrap_or_default()),
                    Cell::new(format!("{:.3}", e.score)).set_alignment(CellAlignment::Right),
                    Cell::new(format!("{:.3}", report.weights[i]))
                        .set_alignment(CellAlignment::Right),
                    Cell::new(e.flow_count).set_alignment(CellAlignment::Right),
                    Cell::new(&e.description),
                ]);
            }
            let mut out = format!("{table}\n");
            if idx.len() > top {
                out.push_str(&format!("({} more; --top N shows more)\n", idx.len() - top));
            }
            out
        }
        OutFormat::Json => {
            let list: Vec<Value> = idx
                .iter()
                .map(|&i| evidence_json(&report.evidence[i], report.weights[i]))
                .collect();
            format!(
                "{}\n",
                serde_json::to_string_pretty(&Value::Array(list)).expect("JSON values serialise")
            )
        }
        OutFormat::Jsonl => idx
            .iter()
            .map(|&i| format!("{}\n", evidence_json(&report.evidence[i], report.weights[i])))
            .collect(),
        OutFormat::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            let _ = w.write_record([
                "rank",
                "kind",
                "host",
                "peer",
                "port",
                "score",
                "threat",
                "flow_count",
                "first_seen",
                "ts",
                "description",
            ]);
            for (rank, &i) in idx.iter().enumerate() {
                let e = &report.evidence[i];
                let _ = w.write_record([
                    (rank + 1).to_string(),
                    e.kind.name().to_string(),
                    e.host.to_string(),
                    e.peer.map(|p| p.to_string()).unwrap_or_default(),
                    e.port.map(|p| p.to_string()).unwrap_or_default(),
                    format!("{:.4}", e.score),
                    e.threat.name().to_string(),
                    e.flow_count.to_string(),
                    time(e.first_ts),
                    time(e.ts),
                    e.description.clone(),
                ]);
            }
            String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
        }
    }
}
