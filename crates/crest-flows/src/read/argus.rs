//! Argus binetflow: `ra` output with a header line naming the columns (`StartTime,Dur,Proto,
//! SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,dTos,TotPkts,TotBytes,SrcBytes[,SrcPkts],Label`),
//! comma- or tab-separated (told by the header). Columns are found by name, case-insensitively.
//!
//! `StartTime` is `YYYY/MM/DD HH:MM:SS.ffffff` in the capture's local time, taken as UTC (or
//! epoch seconds); ports are decimal, `0x`-hexadecimal (ICMP) or empty (0); `src_bytes` ←
//! `SrcBytes`, `dst_bytes` ← `DstBytes` or `TotBytes − SrcBytes`, likewise packets;
//! `label` ← `Label`. Records of non-IP protocols (`arp`, `llc`, `man`…) are counted as other
//! events.
//!
//! States (documented mapping onto [`ConnState`]):
//! - TCP flag states `<src flags>_<dst flags>`: the destination sent SYN and ACK (`S_SA`,
//!   `SPA_SPA`, `FSPA_FSPA`) → `Established`; both sides ACKed without a handshake seen
//!   (`PA_PA`, mid-stream) → `Established`; the destination reset (`S_RA`, `S_R`) → `REJ`;
//!   nothing from the destination: `S_` → `S0`, a SYN and a RST without ACK → `RSTOS0`, other
//!   (`SRPA_`) → `NotEstablished`; anything else → `NotEstablished`.
//! - Word states, any protocol: `CON`, `EST`, `ACC`, `FIN`, `CLO`, `RSP` → `Established`;
//!   `INT`, `REQ`, `TIM` → `NotEstablished`; `RST` → `REJ`; Zeek's names (`S0`, `REJ`, `SF`…)
//!   as Zeek means them.
//! - ICMP: `ECR` (echo reply) or `CON` → `Established`; any other (`ECO`, `URP`, `URH`, `URN`,
//!   `TXD`…) → `NotEstablished`.
//! - Anything else → `Unknown`.

use std::io::BufRead;

use super::text::{self, parse_port, parse_u64};
use super::{Bad, Ctx, Lines, ReadError};
use crate::flow::{ConnState, Flow, Proto};

const COLUMNS: [&str; 15] = [
    "starttime",
    "dur",
    "proto",
    "srcaddr",
    "sport",
    "dstaddr",
    "dport",
    "state",
    "totpkts",
    "totbytes",
    "srcbytes",
    "srcpkts",
    "dstbytes",
    "dstpkts",
    "label",
];
const NAMES: [&str; 15] = [
    "StartTime",
    "Dur",
    "Proto",
    "SrcAddr",
    "Sport",
    "DstAddr",
    "Dport",
    "State",
    "TotPkts",
    "TotBytes",
    "SrcBytes",
    "SrcPkts",
    "DstBytes",
    "DstPkts",
    "Label",
];
const START: usize = 0;
const DUR: usize = 1;
const PROTO: usize = 2;
const SRC: usize = 3;
const SPORT: usize = 4;
const DST: usize = 5;
const DPORT: usize = 6;
const STATE: usize = 7;
const TOT_PKTS: usize = 8;
const TOT_BYTES: usize = 9;
const SRC_BYTES: usize = 10;
const SRC_PKTS: usize = 11;
const DST_BYTES: usize = 12;
const DST_PKTS: usize = 13;
const LABEL: usize = 14;

/// Link-layer and management "protocols" Argus reports that are not IP flows.
const NON_IP: [&str; 9] = ["arp", "rarp", "llc", "man", "ipx", "stp", "lldp", "ether", "802.1q"];

struct Header {
    sep: u8,
    /// Column index of each known field.
    index: [Option<usize>; 15],
    columns: usize,
    /// The label column is the last one: extra separators belong to it.
    label_last: bool,
}

impl Header {
    fn parse(line: &[u8]) -> Result<Header, Bad> {
        let sep = if memchr::memchr(b'\t', line).is_some() { b'\t' } else { b',' };
        let names: Vec<&[u8]> = line.split(|&b| b == sep).map(|n| n.trim_ascii()).collect();
        let mut index = [None; 15];
        for (i, n) in names.iter().enumerate() {
            if let Some(k) = COLUMNS.iter().position(|c| c.as_bytes().eq_ignore_ascii_case(n)) {
                index[k].get_or_insert(i);
            }
        }
        for k in [START, PROTO, SRC, DST] {
            if index[k].is_none() {
                return Err(Bad::field(NAMES[k], "missing from the header line"));
            }
        }
        let label_last = index[LABEL] == Some(names.len() - 1);
        Ok(Header { sep, index, columns: names.len(), label_last })
    }
}

/// The state of a flow (see the module documentation).
pub(crate) fn state(proto: Proto, s: &str) -> ConnState {
    let s = s.trim();
    if s.is_empty() {
        return ConnState::Unknown;
    }
    if proto == Proto::Icmp {
        return match s {
            "ECR" | "CON" => ConnState::Established,
            _ => ConnState::NotEstablished,
        };
    }
    if let Some((src, dst)) = s.split_once('_') {
        let has = |side: &str, c: char| side.contains(c);
        return if has(dst, 'S') && has(dst, 'A') || has(src, 'A') && has(dst, 'A') {
            ConnState::Established
        } else if has(dst, 'R') {
            ConnState::Rej
        } else if dst.is_empty() && src == "S" {
            ConnState::S0
        } else if dst.is_empty() && has(src, 'S') && has(src, 'R') && !has(src, 'A') {
            ConnState::Rstos0
        } else {
            ConnState::NotEstablished
        };
    }
    match s.to_ascii_uppercase().as_str() {
        "CON" | "EST" | "ACC" | "FIN" | "CLO" | "RSP" => ConnState::Established,
        "INT" | "REQ" | "TIM" => ConnState::NotEstablished,
        "RST" => ConnState::Rej,
        _ => text::zeek_state(s.as_bytes()),
    }
}

fn count<'l>(get: &impl Fn(usize) -> &'l [u8], h: &Header, k: usize) -> Result<Option<u64>, Bad> {
    if h.index[k].is_none() {
        return Ok(None);
    }
    let v = get(k);
    if v.is_empty() {
        return Ok(None);
    }
    parse_u64(v).map(Some).ok_or_else(|| Bad::value(NAMES[k], "a count", v))
}

/// Splits `line` into the column ranges (trimmed) in `cols`.
fn split_columns(h: &Header, line: &[u8], cols: &mut Vec<(usize, usize)>) -> Result<(), Bad> {
    cols.clear();
    let mut start = 0;
    for end in memchr::memchr_iter(h.sep, line).chain(std::iter::once(line.len())) {
        if cols.len() + 1 == h.columns && h.label_last {
            // A label holding the separator: the rest of the line is the label.
            cols.push((start, line.len()));
            break;
        }
        cols.push((start, end));
        start = end + 1;
    }
    if cols.len() > h.columns {
        return Err(Bad::Row(format!(
            "{} columns, but the header names {}",
            cols.len(),
            h.columns
        )));
    }
    if cols.len() < h.columns {
        let missing = h.index.iter().position(|i| i.is_some_and(|i| i >= cols.len()));
        let name = missing.map_or("(unnamed)", |k| NAMES[k]);
        return Err(Bad::field(
            name,
            format!(
                "missing (the row has {} of the {} columns in the header)",
                cols.len(),
                h.columns
            ),
        ));
    }
    Ok(())
}

fn flow(h: &Header, line: &[u8], cols: &mut Vec<(usize, usize)>) -> Result<Option<Flow>, Bad> {
    split_columns(h, line, cols)?;
    let cols = &*cols;
    let get = |k: usize| h.index[k].map_or(&b""[..], |i| line[cols[i].0..cols[i].1].trim_ascii());
    let proto_text = std::str::from_utf8(get(PROTO)).unwrap_or("");
    if NON_IP.iter().any(|n| proto_text.eq_ignore_ascii_case(n)) {
        return Ok(None);
    }
    let proto = text::parse_proto(proto_text)
        .ok_or_else(|| Bad::value("Proto", "a protocol", get(PROTO)))?;
    let start = get(START);
    let ts = text::parse_civil_utc(start)
        .or_else(|| text::parse_f64(start))
        .ok_or_else(|| Bad::value("StartTime", "a time", start))?;
    let dur = get(DUR);
    let duration = if dur.is_empty() {
        None
    } else {
        Some(
            text::parse_f64(dur)
                .filter(|d| *d >= 0.0)
                .ok_or_else(|| Bad::value("Dur", "a duration", dur))?,
        )
    };
    let ip = |k: usize| {
        let v = get(k);
        text::parse_ip(v).ok_or_else(|| Bad::value(NAMES[k], "an IP address", v))
    };
    let port = |k: usize| {
        let v = get(k);
        if v.is_empty() {
            Ok(0)
        } else {
            parse_port(v).ok_or_else(|| Bad::value(NAMES[k], "a port", v))
        }
    };
    let (src, dst) = (ip(SRC)?, ip(DST)?);
    let (src_port, dst_port) = (port(SPORT)?, port(DPORT)?);
    let split =
        |src_k: usize, dst_k: usize, tot_k: usize| -> Result<(Option<u64>, Option<u64>), Bad> {
            let s = count(&get, h, src_k)?;
            let d = count(&get, h, dst_k)?;
            let t = count(&get, h, tot_k)?;
            let d = match (d, s, t) {
                (Some(d), _, _) => Some(d),
                (None, Some(s), Some(t)) => Some(t.checked_sub(s).ok_or_else(|| {
                    Bad::field(NAMES[src_k], format!("{s} is more than {} ({t})", NAMES[tot_k]))
                })?),
                _ => None,
            };
            Ok((s, d))
        };
    let (src_bytes, dst_bytes) = split(SRC_BYTES, DST_BYTES, TOT_BYTES)?;
    let (src_pkts, dst_pkts) = split(SRC_PKTS, DST_PKTS, TOT_PKTS)?;
    let state_text = std::str::from_utf8(get(STATE)).unwrap_or("");
    Ok(Some(Flow {
        ts,
        duration,
        proto,
        src,
        src_port,
        dst,
        dst_port,
        state: state(proto, state_text),
        service: Default::default(),
        src_bytes,
        dst_bytes,
        src_ip_bytes: None,
        dst_ip_bytes: None,
        src_pkts,
        dst_pkts,
        open: false,
        label: text::label(get(LABEL)),
    }))
}

/// Reads a binetflow file.
pub(crate) fn read<R: BufRead>(
    reader: R,
    ctx: &mut Ctx<'_>,
    sink: &mut dyn FnMut(Flow),
) -> Result<(), ReadError> {
    let mut lines = Lines::new(reader);
    let mut header: Option<Header> = None;
    let mut cols: Vec<(usize, usize)> = Vec::new();
    while let Some((lineno, line)) = lines.next_line(ctx.name)? {
        if line.trim_ascii().is_empty() {
            continue;
        }
        let t = line.trim_ascii_start();
        if t.len() >= 9 && t[..9].eq_ignore_ascii_case(b"StartTime") {
            header = Some(Header::parse(line.trim_ascii()).map_err(|bad| ctx.error(lineno, bad))?);
            continue;
        }
        let Some(h) = &header else {
            ctx.reject(lineno, Bad::Row("a data row before the 'StartTime,…' header line".into()))?;
            continue;
        };
        ctx.deliver(lineno, flow(h, line, &mut cols), sink)?;
    }
    Ok(())
}
