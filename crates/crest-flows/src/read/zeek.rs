//! Zeek logs: `conn.log` and `dns.log`, TSV with `#` headers or JSON lines.
//!
//! TSV: the `#separator` (written escaped, `\x09`), `#set_separator`, `#empty_field` and
//! `#unset_field` lines are honoured, the column order comes from `#fields` (never assumed),
//! extra columns are ignored, and a file may hold several header blocks. Header lines may be
//! indented. A line starting with `{` outside a TSV block is a JSON object with the same
//! (dotted) keys; absent keys are unset, `ts` may be epoch seconds or ISO 8601.

use std::io::BufRead;
use std::net::IpAddr;

use serde::Deserialize;

use super::json::Val;
use super::text::{self, parse_f64, parse_ip, parse_time, parse_u64};
use super::{Bad, Ctx, Lines, ReadError};
use crate::flow::{DnsQuery, Flow, Proto};

const NONE: u8 = u8::MAX;

/// The header state of the current TSV block.
pub(crate) struct Header {
    sep: u8,
    set_sep: Vec<u8>,
    empty: Vec<u8>,
    unset: Vec<u8>,
    /// Column names from `#fields`.
    fields: Vec<String>,
    /// For each column, the index of the wanted field it holds, or `NONE`.
    roles: Vec<u8>,
    /// One past the last column holding a wanted field.
    last: usize,
    /// Whether a `#fields` line has been seen.
    active: bool,
}

impl Header {
    fn new() -> Header {
        Header {
            sep: b'\t',
            set_sep: b",".to_vec(),
            empty: b"(empty)".to_vec(),
            unset: b"-".to_vec(),
            fields: Vec::new(),
            roles: Vec::new(),
            last: 0,
            active: false,
        }
    }

    /// Whether `v` is unset: the unset token, the empty token, or nothing.
    #[inline]
    fn is_unset(&self, v: &[u8]) -> bool {
        v.is_empty() || v == self.unset.as_slice() || v == self.empty.as_slice()
    }

    /// Reads one `#` line (already without its leading whitespace).
    fn directive(
        &mut self,
        line: &[u8],
        lineno: u64,
        ctx: &Ctx<'_>,
        wanted: &[&'static str],
        required: &[usize],
    ) -> Result<(), ReadError> {
        if let Some(rest) = line.strip_prefix(b"#separator") {
            let value = text::unescape(rest.trim_ascii());
            match value.as_slice() {
                [b] => self.sep = *b,
                _ => {
                    return Err(ctx.header_error(
                        lineno,
                        format!(
                            "'#separator' must be a single byte, not '{}'",
                            super::shown(rest.trim_ascii())
                        ),
                    ));
                }
            }
            return Ok(());
        }
        let (key, value) = match memchr::memchr(self.sep, line) {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => (line, &b""[..]),
        };
        match key {
            b"#set_separator" => self.set_sep = text::unescape(value),
            b"#empty_field" => self.empty = text::unescape(value),
            b"#unset_field" => self.unset = text::unescape(value),
            b"#fields" => {
                self.fields = value
                    .split(|&b| b == self.sep)
                    .map(|f| String::from_utf8_lossy(f).into_owned())
                    .collect();
                self.roles = self
                    .fields
                    .iter()
                    .map(|f| wanted.iter().position(|w| w == f).map_or(NONE, |i| i as u8))
                    .collect();
                self.last = self.roles.iter().rposition(|&r| r != NONE).map_or(0, |i| i + 1);
                for &r in required {
                    if !self.roles.contains(&(r as u8)) {
                        return Err(ctx.error(
                            lineno,
                            Bad::field(wanted[r], "missing from the '#fields' header"),
                        ));
                    }
                }
                self.active = true;
            }
            _ => {}
        }
        Ok(())
    }

    /// Splits a data row, checking its column count, and calls `f(role, value)` for each
    /// wanted column. `seps` is scratch space for the separator positions.
    #[inline]
    fn each(
        &self,
        line: &[u8],
        seps: &mut Vec<usize>,
        mut f: impl FnMut(u8, &[u8]) -> Result<(), Bad>,
    ) -> Result<(), Bad> {
        if !self.active {
            return Err(Bad::Row("a data row before any '#fields' header".into()));
        }
        text::separators(line, self.sep, seps);
        let (n, cols) = (self.fields.len(), seps.len() + 1);
        if cols != n {
            return Err(if cols < n {
                Bad::field(
                    self.fields[cols].clone(),
                    format!("missing (the row has {cols} of the {n} columns in '#fields')"),
                )
            } else {
                Bad::Row(format!("{cols} columns, but '#fields' names {n}"))
            });
        }
        let mut start = 0;
        for (col, &role) in self.roles[..self.last].iter().enumerate() {
            let end = seps.get(col).copied().unwrap_or(line.len());
            if role != NONE {
                f(role, &line[start..end])?;
            }
            start = end + 1;
        }
        Ok(())
    }
}

/// Reads a Zeek log, one record per data row or JSON line; `None` records are counted as
/// other events.
fn read_zeek<R: BufRead, T>(
    reader: R,
    ctx: &mut Ctx<'_>,
    wanted: &[&'static str],
    required: &[usize],
    mut tsv_row: impl FnMut(&Header, &[u8], &mut Vec<usize>) -> Result<Option<T>, Bad>,
    mut json_row: impl FnMut(&[u8]) -> Result<Option<T>, Bad>,
    sink: &mut dyn FnMut(T),
) -> Result<(), ReadError> {
    let mut lines = Lines::new(reader);
    let mut header = Header::new();
    let mut seps = Vec::with_capacity(64);
    while let Some((lineno, line)) = lines.next_line(ctx.name)? {
        let trimmed = line.trim_ascii_start();
        let record = match trimmed.first() {
            None => continue,
            Some(b'#') => {
                header.directive(trimmed, lineno, ctx, wanted, required)?;
                continue;
            }
            Some(b'{') if !header.active => json_row(trimmed),
            Some(_) => tsv_row(&header, line, &mut seps),
        };
        match record {
            Ok(Some(r)) => {
                ctx.stats.rows += 1;
                sink(r);
            }
            Ok(None) => ctx.stats.other_events += 1,
            Err(bad) => ctx.reject(lineno, bad)?,
        }
    }
    Ok(())
}

const CONN_FIELDS: [&str; 16] = [
    "ts",
    "id.orig_h",
    "id.orig_p",
    "id.resp_h",
    "id.resp_p",
    "proto",
    "service",
    "duration",
    "orig_bytes",
    "resp_bytes",
    "conn_state",
    "orig_pkts",
    "orig_ip_bytes",
    "resp_pkts",
    "resp_ip_bytes",
    "label",
];
const C_TS: u8 = 0;
const C_ORIG_H: u8 = 1;
const C_ORIG_P: u8 = 2;
const C_RESP_H: u8 = 3;
const C_RESP_P: u8 = 4;
const C_PROTO: u8 = 5;
const C_SERVICE: u8 = 6;
const C_DURATION: u8 = 7;
const C_ORIG_BYTES: u8 = 8;
const C_RESP_BYTES: u8 = 9;
const C_CONN_STATE: u8 = 10;
const C_ORIG_PKTS: u8 = 11;
const C_ORIG_IP_BYTES: u8 = 12;
const C_RESP_PKTS: u8 = 13;
const C_RESP_IP_BYTES: u8 = 14;
const C_LABEL: u8 = 15;
const CONN_REQUIRED: [usize; 6] = [0, 1, 2, 3, 4, 5];

/// Reads `conn.log` (or `open_conn.log`; the caller marks those open).
pub(crate) fn read_conn<R: BufRead>(
    reader: R,
    ctx: &mut Ctx<'_>,
    sink: &mut dyn FnMut(Flow),
) -> Result<(), ReadError> {
    read_zeek(reader, ctx, &CONN_FIELDS, &CONN_REQUIRED, conn_tsv, conn_json, sink)
}

#[inline]
fn count(h: &Header, role: u8, v: &[u8]) -> Result<Option<u64>, Bad> {
    if h.is_unset(v) {
        return Ok(None);
    }
    match parse_u64(v) {
        Some(n) => Ok(Some(n)),
        None => Err(Bad::value(CONN_FIELDS[role as usize], "a count", v)),
    }
}

fn conn_tsv(h: &Header, line: &[u8], seps: &mut Vec<usize>) -> Result<Option<Flow>, Bad> {
    let mut f = Flow::default();
    let (mut ts, mut src, mut dst, mut proto) = (None, None, None, None);
    h.each(line, seps, |role, v| {
        let name = CONN_FIELDS[role as usize];
        match role {
            C_TS => {
                if v == h.unset.as_slice() || v.is_empty() {
                    return Err(Bad::field(name, "unset"));
                }
                ts = Some(parse_time(v).ok_or_else(|| Bad::value(name, "a time", v))?);
            }
            C_ORIG_H | C_RESP_H => {
                let ip = parse_ip(v).ok_or_else(|| Bad::value(name, "an IP address", v))?;
                if role == C_ORIG_H {
                    src = Some(ip);
                } else {
                    dst = Some(ip);
                }
            }
            C_ORIG_P | C_RESP_P => {
                let port = if h.is_unset(v) {
                    0
                } else {
                    parse_u64(v)
                        .and_then(|n| u16::try_from(n).ok())
                        .ok_or_else(|| Bad::value(name, "a port", v))?
                };
                if role == C_ORIG_P {
                    f.src_port = port;
                } else {
                    f.dst_port = port;
                }
            }
            C_PROTO => {
                proto = match v {
                    b"tcp" => Some(Proto::Tcp),
                    b"udp" => Some(Proto::Udp),
                    b"icmp" => Some(Proto::Icmp),
                    _ => None,
                };
                if proto.is_some() {
                    return Ok(());
                }
                let p = std::str::from_utf8(v).ok().filter(|s| !h.is_unset(s.as_bytes()));
                proto = Some(
                    p.and_then(text::parse_proto)
                        .ok_or_else(|| Bad::value(name, "a protocol", v))?,
                );
            }
            C_SERVICE => f.service = text::zeek_service(v, &h.empty),
            C_DURATION => {
                f.duration = if h.is_unset(v) {
                    None
                } else {
                    Some(
                        parse_f64(v)
                            .filter(|d| *d >= 0.0)
                            .ok_or_else(|| Bad::value(name, "a duration", v))?,
                    )
                }
            }
            C_ORIG_BYTES => f.src_bytes = count(h, role, v)?,
            C_RESP_BYTES => f.dst_bytes = count(h, role, v)?,
            C_CONN_STATE => f.state = text::zeek_state(v),
            C_ORIG_PKTS => f.src_pkts = count(h, role, v)?,
            C_ORIG_IP_BYTES => f.src_ip_bytes = count(h, role, v)?,
            C_RESP_PKTS => f.dst_pkts = count(h, role, v)?,
            C_RESP_IP_BYTES => f.dst_ip_bytes = count(h, role, v)?,
            C_LABEL => f.label = text::label(v),
            _ => {}
        }
        Ok(())
    })?;
    // The required columns are in `#fields`, so each was set (or failed) above.
    let (Some(ts), Some(src), Some(dst), Some(proto)) = (ts, src, dst, proto) else {
        return Err(Bad::Row("a required column is missing".into()));
    };
    f.ts = ts;
    f.src = src;
    f.dst = dst;
    f.proto = proto;
    Ok(Some(f))
}

/// A `conn.log` JSON line; unknown keys are ignored.
#[derive(Deserialize)]
struct ConnJson<'a> {
    #[serde(default, borrow)]
    ts: Val<'a>,
    #[serde(default, borrow, rename = "id.orig_h")]
    orig_h: Val<'a>,
    #[serde(default, borrow, rename = "id.orig_p")]
    orig_p: Val<'a>,
    #[serde(default, borrow, rename = "id.resp_h")]
    resp_h: Val<'a>,
    #[serde(default, borrow, rename = "id.resp_p")]
    resp_p: Val<'a>,
    #[serde(default, borrow)]
    proto: Val<'a>,
    #[serde(default, borrow)]
    service: Val<'a>,
    #[serde(default, borrow)]
    duration: Val<'a>,
    #[serde(default, borrow)]
    orig_bytes: Val<'a>,
    #[serde(default, borrow)]
    resp_bytes: Val<'a>,
    #[serde(default, borrow)]
    conn_state: Val<'a>,
    #[serde(default, borrow)]
    orig_pkts: Val<'a>,
    #[serde(default, borrow)]
    orig_ip_bytes: Val<'a>,
    #[serde(default, borrow)]
    resp_pkts: Val<'a>,
    #[serde(default, borrow)]
    resp_ip_bytes: Val<'a>,
    #[serde(default, borrow)]
    label: Val<'a>,
}

/// A JSON line as `T`, or the row error.
pub(crate) fn parse_json<'a, T: Deserialize<'a>>(line: &'a [u8]) -> Result<T, Bad> {
    serde_json::from_slice(line).map_err(|e| Bad::Row(format!("not a JSON object: {e}")))
}

/// A protocol from a JSON value (name or number).
pub(crate) fn json_proto(v: &Val<'_>, field: &'static str) -> Result<Proto, Bad> {
    match v {
        Val::U(n) if *n <= 255 => Ok(Proto::from_number(*n as u8)),
        Val::S(s) => {
            text::parse_proto(s).ok_or_else(|| Bad::value(field, "a protocol", s.as_bytes()))
        }
        Val::Null => Err(Bad::field(field, "missing")),
        other => Err(Bad::field(field, format!("not a protocol: {other:?}"))),
    }
}

fn conn_json(line: &[u8]) -> Result<Option<Flow>, Bad> {
    let j: ConnJson<'_> = parse_json(line)?;
    let service = match &j.service {
        Val::S(s) => text::zeek_service(s.as_bytes(), b"(empty)"),
        Val::List(items) => items
            .iter()
            .map(|s| text::zeek_service(s.as_bytes(), b"(empty)"))
            .find(|s| *s != crate::flow::Service::None)
            .unwrap_or_default(),
        _ => Default::default(),
    };
    Ok(Some(Flow {
        ts: j.ts.time_req("ts")?,
        duration: j.duration.seconds("duration")?,
        proto: json_proto(&j.proto, "proto")?,
        src: j.orig_h.ip("id.orig_h")?,
        src_port: j.orig_p.port("id.orig_p")?,
        dst: j.resp_h.ip("id.resp_h")?,
        dst_port: j.resp_p.port("id.resp_p")?,
        state: text::zeek_state(j.conn_state.text("conn_state")?.as_bytes()),
        service,
        src_bytes: j.orig_bytes.count("orig_bytes")?,
        dst_bytes: j.resp_bytes.count("resp_bytes")?,
        src_ip_bytes: j.orig_ip_bytes.count("orig_ip_bytes")?,
        dst_ip_bytes: j.resp_ip_bytes.count("resp_ip_bytes")?,
        src_pkts: j.orig_pkts.count("orig_pkts")?,
        dst_pkts: j.resp_pkts.count("resp_pkts")?,
        open: false,
        label: text::label(j.label.text("label")?.as_bytes()),
    }))
}

const DNS_FIELDS: [&str; 5] = ["ts", "id.orig_h", "id.resp_h", "query", "answers"];
const D_TS: u8 = 0;
const D_ORIG_H: u8 = 1;
const D_RESP_H: u8 = 2;
const D_QUERY: u8 = 3;
const D_ANSWERS: u8 = 4;
const DNS_REQUIRED: [usize; 4] = [0, 1, 2, 3];

/// Reads `dns.log`.
pub(crate) fn read_dns<R: BufRead>(
    reader: R,
    ctx: &mut Ctx<'_>,
    sink: &mut dyn FnMut(DnsQuery),
) -> Result<(), ReadError> {
    read_zeek(reader, ctx, &DNS_FIELDS, &DNS_REQUIRED, dns_tsv, dns_json, sink)
}

/// A query name as kept: lower-case, without a trailing dot; `None` when empty.
fn query_name(raw: &[u8]) -> Option<String> {
    let mut q = String::from_utf8_lossy(raw).to_lowercase();
    while q.ends_with('.') {
        q.pop();
    }
    (!q.is_empty()).then_some(q)
}

fn dns_tsv(h: &Header, line: &[u8], seps: &mut Vec<usize>) -> Result<Option<DnsQuery>, Bad> {
    let (mut ts, mut src, mut dst, mut query) = (None, None, None, None);
    let mut answers = Vec::new();
    h.each(line, seps, |role, v| {
        let name = DNS_FIELDS[role as usize];
        match role {
            D_TS => {
                if h.is_unset(v) {
                    return Err(Bad::field(name, "unset"));
                }
                ts = Some(parse_time(v).ok_or_else(|| Bad::value(name, "a time", v))?);
            }
            D_ORIG_H | D_RESP_H => {
                let ip = parse_ip(v).ok_or_else(|| Bad::value(name, "an IP address", v))?;
                if role == D_ORIG_H {
                    src = Some(ip);
                } else {
                    dst = Some(ip);
                }
            }
            D_QUERY if !h.is_unset(v) => query = query_name(&text::unescape(v)),
            D_ANSWERS if !h.is_unset(v) => {
                let set_sep = h.set_sep.as_slice();
                let mut rest = v;
                loop {
                    let (item, next) = match memchr::memmem::find(rest, set_sep) {
                        Some(i) if !set_sep.is_empty() => {
                            (&rest[..i], Some(&rest[i + set_sep.len()..]))
                        }
                        _ => (rest, None),
                    };
                    if let Some(ip) = parse_ip(item) {
                        answers.push(ip);
                    }
                    match next {
                        Some(n) => rest = n,
                        None => break,
                    }
                }
            }
            _ => {}
        }
        Ok(())
    })?;
    let (Some(ts), Some(src), Some(dst)) = (ts, src, dst) else {
        return Err(Bad::Row("a required column is missing".into()));
    };
    Ok(query.map(|query| DnsQuery { ts, src, dst, query, answers }))
}

/// A `dns.log` JSON line.
#[derive(Deserialize)]
struct DnsJson<'a> {
    #[serde(default, borrow)]
    ts: Val<'a>,
    #[serde(default, borrow, rename = "id.orig_h")]
    orig_h: Val<'a>,
    #[serde(default, borrow, rename = "id.resp_h")]
    resp_h: Val<'a>,
    #[serde(default, borrow)]
    query: Val<'a>,
    #[serde(default, borrow)]
    answers: Val<'a>,
}

fn dns_json(line: &[u8]) -> Result<Option<DnsQuery>, Bad> {
    let j: DnsJson<'_> = parse_json(line)?;
    let ts = j.ts.time_req("ts")?;
    let src = j.orig_h.ip("id.orig_h")?;
    let dst = j.resp_h.ip("id.resp_h")?;
    let query =
        if j.query.is_unset() { None } else { query_name(j.query.text("query")?.as_bytes()) };
    let answers: Vec<IpAddr> = match &j.answers {
        Val::List(items) => items.iter().filter_map(|a| parse_ip(a.as_bytes())).collect(),
        Val::S(s) => s.split(',').filter_map(|a| parse_ip(a.trim().as_bytes())).collect(),
        _ => Vec::new(),
    };
    Ok(query.map(|query| DnsQuery { ts, src, dst, query, answers }))
}
