//! The seed analyzer's CSV: 9 columns without a header — `ts` (`YYYY-MM-DD HH:MM:SS`, UTC, or
//! epoch seconds),
//! `ip_protocol`, `state`, `src_ip`, `src_port`, `dst_ip`, `dst_port`, `src_tx`, `dst_tx`.
//!
//! `src_tx`/`dst_tx` become `src_bytes`/`dst_bytes`; `state` is read as Zeek's `conn_state`
//! (`EST`/`NOTEST` are understood too; anything else is unknown). Fields may be padded with
//! spaces or wrapped in double quotes; empty ports are 0 and empty byte counts unknown. A first
//! line whose first field is `ts` is taken for a header and skipped.

use std::io::BufRead;

use super::text::{self, parse_port, parse_u64};
use super::{Bad, Ctx, Lines, ReadError};
use crate::flow::Flow;

const FIELDS: [&str; 9] =
    ["ts", "ip_protocol", "state", "src_ip", "src_port", "dst_ip", "dst_port", "src_tx", "dst_tx"];

fn unquote(v: &[u8]) -> &[u8] {
    let v = v.trim_ascii();
    match v {
        [b'"', inner @ .., b'"'] => inner.trim_ascii(),
        _ => v,
    }
}

fn row(line: &[u8]) -> Result<Flow, Bad> {
    let mut cols: [&[u8]; 9] = [b""; 9];
    let mut n = 0;
    for part in line.split(|&b| b == b',') {
        if n < 9 {
            cols[n] = unquote(part);
        }
        n += 1;
    }
    if n < 9 {
        return Err(Bad::field(FIELDS[n], format!("missing (the row has {n} of 9 columns)")));
    }
    if n > 9 {
        return Err(Bad::Row(format!("{n} columns, expected 9")));
    }
    let ts = text::parse_civil_utc(cols[0])
        .or_else(|| text::parse_f64(cols[0]))
        .ok_or_else(|| Bad::value("ts", "a time (YYYY-MM-DD HH:MM:SS)", cols[0]))?;
    let proto = std::str::from_utf8(cols[1])
        .ok()
        .and_then(text::parse_proto)
        .ok_or_else(|| Bad::value("ip_protocol", "a protocol", cols[1]))?;
    let ip = |k: usize| {
        text::parse_ip(cols[k]).ok_or_else(|| Bad::value(FIELDS[k], "an IP address", cols[k]))
    };
    let port = |k: usize| {
        if cols[k].is_empty() {
            Ok(0)
        } else {
            parse_port(cols[k]).ok_or_else(|| Bad::value(FIELDS[k], "a port", cols[k]))
        }
    };
    let bytes = |k: usize| match cols[k] {
        b"" | b"-" => Ok(None),
        v => parse_u64(v).map(Some).ok_or_else(|| Bad::value(FIELDS[k], "a byte count", v)),
    };
    Ok(Flow {
        ts,
        proto,
        state: text::loose_state(cols[2]),
        src: ip(3)?,
        src_port: port(4)?,
        dst: ip(5)?,
        dst_port: port(6)?,
        src_bytes: bytes(7)?,
        dst_bytes: bytes(8)?,
        ..Flow::default()
    })
}

/// Reads the seed CSV.
pub(crate) fn read<R: BufRead>(
    reader: R,
    ctx: &mut Ctx<'_>,
    sink: &mut dyn FnMut(Flow),
) -> Result<(), ReadError> {
    let mut lines = Lines::new(reader);
    while let Some((lineno, line)) = lines.next_line(ctx.name)? {
        if line.trim_ascii().is_empty() {
            continue;
        }
        if lineno == 1 && line.split(|&b| b == b',').next().is_some_and(|f| unquote(f) == b"ts") {
            continue;
        }
        ctx.deliver(lineno, row(line).map(Some), sink)?;
    }
    Ok(())
}
