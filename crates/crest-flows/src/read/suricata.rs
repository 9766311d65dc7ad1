//! Suricata EVE JSON lines: `flow` events become flows; other events (alerts, dns, http…)
//! are counted in [`ReadStats::other_events`](super::ReadStats::other_events).
//!
//! Mapping: `src`/`dst` ← `src_ip`/`dest_ip` (Suricata's client/server guess), ports ←
//! `src_port`/`dest_port` (ICMP: `icmp_type`/`icmp_code`), `ts` ← `flow.start` (else
//! `timestamp`), `duration` ← `flow.end − flow.start`, `src_bytes`/`dst_bytes` ←
//! `flow.bytes_toserver`/`bytes_toclient` (whole packets, headers included), packets ←
//! `pkts_toserver`/`pkts_toclient`, `service` ← `app_proto`.
//!
//! State, TCP, from the per-direction flags `tcp.tcp_flags_ts`/`tcp_flags_tc` (hex) when
//! present:
//! - the server sent SYN and ACK → `Established`;
//! - the client sent no SYN (mid-stream) → `OTH`;
//! - the server sent a RST (and no SYN-ACK) → `REJ`;
//! - the server sent nothing: `RSTOS0` if the client reset, `SH` if it sent a FIN, else `S0`;
//! - otherwise (the server answered without SYN-ACK or RST) → `NotEstablished`.
//!
//! Without those flags (or with both zero): `flow.state` `established`/`closed` with packets to the client →
//! `Established`; no packets to the client, or `new` → `NotEstablished`; else `Unknown`.
//! Other protocols: packets to the client → `Established`, none → `NotEstablished`.

use std::io::BufRead;

use serde::Deserialize;

use super::json::{Obj, Val};
use super::text;
use super::zeek::{json_proto, parse_json};
use super::{Bad, Ctx, Lines, ReadError};
use crate::flow::{ConnState, Flow, Proto};

#[derive(Deserialize)]
struct Eve<'a> {
    #[serde(default, borrow)]
    event_type: Val<'a>,
    #[serde(default, borrow)]
    timestamp: Val<'a>,
    #[serde(default, borrow)]
    src_ip: Val<'a>,
    #[serde(default, borrow)]
    src_port: Val<'a>,
    #[serde(default, borrow)]
    dest_ip: Val<'a>,
    #[serde(default, borrow)]
    dest_port: Val<'a>,
    #[serde(default, borrow)]
    proto: Val<'a>,
    #[serde(default, borrow)]
    app_proto: Val<'a>,
    #[serde(default, borrow)]
    icmp_type: Val<'a>,
    #[serde(default, borrow)]
    icmp_code: Val<'a>,
    #[serde(default, borrow)]
    flow: Obj<EveFlow<'a>>,
    #[serde(default, borrow)]
    tcp: Obj<EveTcp<'a>>,
}

#[derive(Deserialize)]
struct EveFlow<'a> {
    #[serde(default, borrow)]
    pkts_toserver: Val<'a>,
    #[serde(default, borrow)]
    pkts_toclient: Val<'a>,
    #[serde(default, borrow)]
    bytes_toserver: Val<'a>,
    #[serde(default, borrow)]
    bytes_toclient: Val<'a>,
    #[serde(default, borrow)]
    start: Val<'a>,
    #[serde(default, borrow)]
    end: Val<'a>,
    #[serde(default, borrow)]
    state: Val<'a>,
}

#[derive(Deserialize)]
struct EveTcp<'a> {
    #[serde(default, borrow)]
    tcp_flags_ts: Val<'a>,
    #[serde(default, borrow)]
    tcp_flags_tc: Val<'a>,
}

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;

/// Hex TCP flags (`"1b"`), `None` when absent.
fn flags(v: &Val<'_>, field: &'static str) -> Result<Option<u8>, Bad> {
    match v {
        Val::Null => Ok(None),
        Val::S(s) => u8::from_str_radix(s.trim(), 16)
            .map(Some)
            .map_err(|_| Bad::value(field, "hex TCP flags", s.as_bytes())),
        Val::U(n) if *n <= 255 => Ok(Some(*n as u8)),
        _ => Err(Bad::field(field, "not hex TCP flags")),
    }
}

/// The state of a TCP flow from the flags each side sent (see the module documentation).
pub(crate) fn tcp_state(ts: u8, tc: u8, pkts_toclient: u64) -> ConnState {
    if tc & (SYN | ACK) == SYN | ACK {
        ConnState::Established
    } else if ts & SYN == 0 {
        ConnState::Oth
    } else if tc & RST != 0 {
        ConnState::Rej
    } else if pkts_toclient == 0 && tc == 0 {
        if ts & RST != 0 {
            ConnState::Rstos0
        } else if ts & FIN != 0 {
            ConnState::Sh
        } else {
            ConnState::S0
        }
    } else {
        ConnState::NotEstablished
    }
}

fn flow_event(line: &[u8]) -> Result<Option<Flow>, Bad> {
    let e: Eve<'_> = parse_json(line)?;
    match &e.event_type {
        Val::S(t) if t == "flow" => {}
        Val::S(_) => return Ok(None),
        Val::Null => return Err(Bad::field("event_type", "missing")),
        _ => return Err(Bad::field("event_type", "not a string")),
    }
    let flow = match e.flow {
        Obj::Present(f) => f,
        Obj::Missing => return Err(Bad::field("flow", "missing")),
        Obj::NotObject => return Err(Bad::field("flow", "not an object")),
    };
    let proto = json_proto(&e.proto, "proto")?;
    let start = flow.start.time("flow.start")?;
    let end = flow.end.time("flow.end")?;
    let ts = match start {
        Some(t) => t,
        None => e.timestamp.time_req("timestamp")?,
    };
    let exact = |v: &Val<'_>| v.as_str().and_then(text::iso_nanos);
    let duration = match (exact(&flow.start), exact(&flow.end), start, end) {
        (Some(s), Some(e), _, _) => Some((e - s).max(0) as f64 / 1e9),
        (_, _, Some(s), Some(e)) => Some((e - s).max(0.0)),
        _ => None,
    };
    let (src_port, dst_port) = if proto == Proto::Icmp && e.src_port.is_unset() {
        (e.icmp_type.port("icmp_type")?, e.icmp_code.port("icmp_code")?)
    } else {
        (e.src_port.port("src_port")?, e.dest_port.port("dest_port")?)
    };
    let pkts_toclient = flow.pkts_toclient.count("flow.pkts_toclient")?;
    let state = if proto == Proto::Tcp {
        let (ts_flags, tc_flags) = match &e.tcp {
            Obj::Present(t) => (
                flags(&t.tcp_flags_ts, "tcp.tcp_flags_ts")?,
                flags(&t.tcp_flags_tc, "tcp.tcp_flags_tc")?,
            ),
            _ => (None, None),
        };
        match (ts_flags, tc_flags) {
            (Some(a), b) if a != 0 || b.is_some_and(|b| b != 0) => {
                tcp_state(a, b.unwrap_or(0), pkts_toclient.unwrap_or(0))
            }
            _ => match (flow.state.as_str(), pkts_toclient) {
                (_, Some(0)) | (Some("new"), _) => ConnState::NotEstablished,
                (Some("established" | "closed"), Some(_)) => ConnState::Established,
                _ => ConnState::Unknown,
            },
        }
    } else {
        match pkts_toclient {
            Some(0) => ConnState::NotEstablished,
            Some(_) => ConnState::Established,
            None => ConnState::Unknown,
        }
    };
    let service = match &e.app_proto {
        Val::S(s) => text::zeek_service(s.as_bytes(), b"(empty)"),
        _ => Default::default(),
    };
    Ok(Some(Flow {
        ts,
        duration,
        proto,
        src: e.src_ip.ip("src_ip")?,
        src_port,
        dst: e.dest_ip.ip("dest_ip")?,
        dst_port,
        state,
        service,
        src_bytes: flow.bytes_toserver.count("flow.bytes_toserver")?,
        dst_bytes: flow.bytes_toclient.count("flow.bytes_toclient")?,
        src_ip_bytes: None,
        dst_ip_bytes: None,
        src_pkts: flow.pkts_toserver.count("flow.pkts_toserver")?,
        dst_pkts: pkts_toclient,
        open: false,
        label: Default::default(),
    }))
}

/// Reads EVE JSON lines.
pub(crate) fn read<R: BufRead>(
    reader: R,
    ctx: &mut Ctx<'_>,
    sink: &mut dyn FnMut(Flow),
) -> Result<(), ReadError> {
    let mut lines = Lines::new(reader);
    while let Some((lineno, line)) = lines.next_line(ctx.name)? {
        let line = line.trim_ascii();
        if line.is_empty() {
            continue;
        }
        ctx.deliver(lineno, flow_event(line), sink)?;
    }
    Ok(())
}
