//! NetFlow v5/v7/v9 and IPFIX: a byte string of export packets one after another, as a
//! collector dumps them, decoded with the `netflow_parser` crate (template state is kept per
//! NetFlow v9 source id and IPFIX observation domain).
//!
//! Framing is ours: v5/v7 packets are sized by their record count, IPFIX messages by their
//! length field, and v9 packets (which have no length) by walking their FlowSets up to the
//! end of the input or to a FlowSet id that cannot be one (2–255: the next packet's version).
//!
//! Mapping: each data record is one **unidirectional** flow (`src` → `dst`), bytes (IP-level:
//! `dOctets`, `octetDeltaCount`) into `src_ip_bytes` and packets into `src_pkts`, scaled by a
//! v5 sampling interval. IPFIX biflow records (RFC 5103 reverse elements) fill `dst_ip_bytes`
//! and `dst_pkts`. Time: v5/v9 `first` is converted with `unix_secs − (sys_uptime − first) /
//! 1000`; IPFIX uses `flowStart{Seconds,Milliseconds,Microseconds,Nanoseconds}`, or
//! `flowStartSysUpTime` with `systemInitTimeMilliseconds`, else the export time. State (TCP
//! only): the cumulative flags show SYN and ACK → `Established`, SYN without ACK →
//! `NotEstablished`, otherwise `Unknown`; with reverse flags (biflow) as Suricata's mapping.
//!
//! Records without addresses and template/options records are counted as other events; data
//! sets whose template has not arrived (yet) cannot be decoded and are counted as skipped, in
//! both modes, with a message. A packet the parser rejects is a [`ReadError::Packet`] naming
//! its index and byte offset (skipped under `skip_invalid` when its length is known; a packet
//! whose framing is broken ends the input).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use netflow_parser::NetflowPacket;
use netflow_parser::scoped_parser::AutoScopedParser;
use netflow_parser::static_versions::{v5::V5, v7::V7};
use netflow_parser::variable_versions::field_value::{DurationValue, FieldValue};
use netflow_parser::variable_versions::ipfix::lookup::{
    IANAIPFixField as Iana, IPFixField, ReverseInformationElement as Rev,
};
use netflow_parser::variable_versions::ipfix::{FlowSetBody as IpfixBody, IPFix};
use netflow_parser::variable_versions::v9::{FlowSetBody as V9Body, V9};

use super::suricata::tcp_state;
use super::{Ctx, ReadError};
use crate::flow::{ConnState, Flow, Proto};

/// Seconds between 1900-01-01 (NTP's epoch) and 1970-01-01.
const NTP_EPOCH_OFFSET: i64 = 2_208_988_800;

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Whether `head` starts like a NetFlow v5/v7/v9 or IPFIX packet.
pub(crate) fn looks_like(head: &[u8]) -> bool {
    if head.len() < 20 {
        return false;
    }
    let (version, count) = (be16(head, 0), be16(head, 2));
    match version {
        5 => (1..=30).contains(&count) && head.len() >= 24,
        7 => (1..=28).contains(&count) && head.len() >= 24,
        9 => {
            (1..=1000).contains(&count)
                && (head.len() < 24 || {
                    let id = be16(head, 20);
                    id <= 1 || id >= 256
                })
        }
        10 => {
            count >= 16
                && (head.len() < 20 || {
                    let id = be16(head, 16);
                    id == 2 || id == 3 || id >= 256
                })
        }
        _ => false,
    }
}

/// The length of the packet at the start of `buf`, or why it cannot be framed.
fn packet_len(buf: &[u8]) -> Result<usize, String> {
    if buf.len() < 4 {
        return Err(format!(
            "truncated: {} bytes left, a packet header needs 4 or more",
            buf.len()
        ));
    }
    let (version, n) = (be16(buf, 0), be16(buf, 2) as usize);
    let need = |len: usize, what: &str| {
        if buf.len() < len {
            Err(format!("truncated: {what} needs {len} bytes, {} left", buf.len()))
        } else {
            Ok(len)
        }
    };
    match version {
        5 => need(24 + 48 * n, &format!("a v5 packet of {n} records")),
        7 => need(24 + 52 * n, &format!("a v7 packet of {n} records")),
        10 => {
            if n < 16 {
                return Err(format!("IPFIX message length {n} is less than its 16-byte header"));
            }
            need(n, "an IPFIX message")
        }
        9 => {
            need(20, "a v9 header")?;
            let mut p = 20;
            while p < buf.len() {
                if buf.len() - p < 4 {
                    return Err(format!(
                        "truncated: a v9 FlowSet header at byte +{p} needs 4 bytes, {} left",
                        buf.len() - p
                    ));
                }
                let (id, len) = (be16(buf, p), be16(buf, p + 2) as usize);
                if (2..=255).contains(&id) {
                    break;
                }
                if len < 4 {
                    return Err(format!("v9 FlowSet at byte +{p}: length {len} is less than 4"));
                }
                if buf.len() - p < len {
                    return Err(format!(
                        "truncated: v9 FlowSet at byte +{p} of {len} bytes, {} left",
                        buf.len() - p
                    ));
                }
                p += len;
            }
            Ok(p)
        }
        v => Err(format!("not a NetFlow v5/v7/v9 or IPFIX packet (version {v})")),
    }
}

/// Reads concatenated export packets.
pub(crate) fn read(
    bytes: &[u8],
    ctx: &mut Ctx<'_>,
    sink: &mut dyn FnMut(Flow),
) -> Result<(), ReadError> {
    let mut parser = AutoScopedParser::new();
    let source = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0));
    let mut pos = 0usize;
    let mut index = 0u64;
    let name = ctx.name;
    while pos < bytes.len() {
        let packet_error = |problem: String| ReadError::Packet {
            name: name.to_string(),
            packet: index,
            offset: pos as u64,
            problem,
        };
        let len = match packet_len(&bytes[pos..]) {
            Ok(len) => len,
            Err(problem) => {
                // The framing is lost: nothing after this can be read.
                let err = packet_error(problem);
                return ctx.skip_or_fail(err);
            }
        };
        let result = parser.parse_from_source(source, &bytes[pos..pos + len]);
        for packet in &result.packets {
            emit(packet, ctx, sink);
        }
        if let Some(e) = result.error {
            let err = packet_error(e.to_string());
            ctx.skip_or_fail(err)?;
        }
        pos += len;
        index += 1;
    }
    Ok(())
}

fn emit(packet: &NetflowPacket, ctx: &mut Ctx<'_>, sink: &mut dyn FnMut(Flow)) {
    match packet {
        NetflowPacket::V5(v5) => legacy_v5(v5, ctx, sink),
        NetflowPacket::V7(v7) => legacy_v7(v7, ctx, sink),
        NetflowPacket::V9(v9) => v9_packet(v9, ctx, sink),
        NetflowPacket::IPFix(ipfix) => ipfix_packet(ipfix, ctx, sink),
        // A version this reader does not know (the enum is open): nothing to take from it.
        _ => ctx.stats.other_events += 1,
    }
}

/// Microseconds since the epoch of a record's `first`, from the export header.
fn start_us(unix_secs: u32, unix_nsecs: u32, sys_up_time: u32, first: u32) -> i64 {
    let export_us = unix_secs as i64 * 1_000_000 + (unix_nsecs as i64 / 1000);
    export_us - (sys_up_time as i64 - first as i64) * 1000
}

/// The state of a unidirectional TCP record from its cumulative flags.
fn one_way_state(proto: Proto, flags: Option<u8>) -> ConnState {
    match (proto, flags) {
        (Proto::Tcp, Some(f)) if f & 0x12 == 0x12 => ConnState::Established,
        (Proto::Tcp, Some(f)) if f & 0x02 != 0 => ConnState::NotEstablished,
        _ => ConnState::Unknown,
    }
}

#[allow(clippy::too_many_arguments)]
fn legacy_flow(
    ts_us: i64,
    first: u32,
    last: u32,
    proto: u8,
    src: Ipv4Addr,
    src_port: u16,
    dst: Ipv4Addr,
    dst_port: u16,
    octets: u32,
    pkts: u32,
    flags: u8,
    scale: u64,
) -> Flow {
    let proto = Proto::from_number(proto);
    Flow {
        ts: ts_us as f64 / 1e6,
        duration: last.checked_sub(first).map(|d| d as f64 / 1000.0),
        proto,
        src: IpAddr::V4(src),
        src_port,
        dst: IpAddr::V4(dst),
        dst_port,
        state: one_way_state(proto, Some(flags)),
        src_ip_bytes: Some(octets as u64 * scale),
        src_pkts: Some(pkts as u64 * scale),
        ..Flow::default()
    }
}

fn legacy_v5(v5: &V5, ctx: &mut Ctx<'_>, sink: &mut dyn FnMut(Flow)) {
    let h = &v5.header;
    let interval = (h.sampling_interval & 0x3fff) as u64;
    let scale = interval.max(1);
    for r in &v5.flowsets {
        let ts = start_us(h.unix_secs, h.unix_nsecs, h.sys_up_time, r.first);
        ctx.stats.rows += 1;
        sink(legacy_flow(
            ts,
            r.first,
            r.last,
            r.protocol_number,
            r.src_addr,
            r.src_port,
            r.dst_addr,
            r.dst_port,
            r.d_octets,
            r.d_pkts,
            r.tcp_flags,
            scale,
        ));
    }
}

fn legacy_v7(v7: &V7, ctx: &mut Ctx<'_>, sink: &mut dyn FnMut(Flow)) {
    let h = &v7.header;
    for r in &v7.flowsets {
        let ts = start_us(h.unix_secs, h.unix_nsecs, h.sys_up_time, r.first);
        ctx.stats.rows += 1;
        sink(legacy_flow(
            ts,
            r.first,
            r.last,
            r.protocol_number,
            r.src_addr,
            r.src_port,
            r.dst_addr,
            r.dst_port,
            r.d_octets,
            r.d_pkts,
            r.tcp_flags,
            1,
        ));
    }
}

/// The fields of one template-based record that a [`Flow`] needs.
#[derive(Default)]
struct Rec {
    src: Option<IpAddr>,
    dst: Option<IpAddr>,
    src_port: Option<u16>,
    dst_port: Option<u16>,
    proto: Option<u8>,
    bytes: Option<u64>,
    pkts: Option<u64>,
    rev_bytes: Option<u64>,
    rev_pkts: Option<u64>,
    flags: Option<u8>,
    rev_flags: Option<u8>,
    /// Absolute start and end, epoch seconds.
    start: Option<f64>,
    end: Option<f64>,
    /// Start and end in the exporter's uptime, milliseconds.
    start_up: Option<u64>,
    end_up: Option<u64>,
    /// The exporter's boot time, epoch milliseconds.
    init_ms: Option<u64>,
}

fn ip(v: &FieldValue) -> Option<IpAddr> {
    match v {
        FieldValue::Ip4Addr(a) => Some(IpAddr::V4(*a)),
        FieldValue::Ip6Addr(a) => Some(IpAddr::V6(*a)),
        _ => None,
    }
}

fn flag_bits(v: &FieldValue) -> Option<u8> {
    match v {
        FieldValue::TcpControlBits(b, _) => Some(
            b.fin as u8
                | (b.syn as u8) << 1
                | (b.rst as u8) << 2
                | (b.psh as u8) << 3
                | (b.ack as u8) << 4
                | (b.urg as u8) << 5
                | (b.ece as u8) << 6
                | (b.cwr as u8) << 7,
        ),
        other => other.as_u64().map(|n| n as u8),
    }
}

/// An absolute time in seconds; `unit_ms` tells how a plain number is scaled.
fn abs_time(v: &FieldValue, seconds_per_unit: f64) -> Option<f64> {
    match v {
        FieldValue::Duration(d) => Some(match d {
            DurationValue::Seconds { value, .. } => *value as f64,
            DurationValue::Millis { value, .. } => *value as f64 / 1000.0,
            DurationValue::MicrosNtp { seconds, fraction }
            | DurationValue::NanosNtp { seconds, fraction } => {
                (*seconds as i64 - NTP_EPOCH_OFFSET) as f64 + *fraction as f64 / 4_294_967_296.0
            }
        }),
        other => other.as_u64().map(|n| n as f64 * seconds_per_unit),
    }
}

impl Rec {
    /// Takes an IANA information element by number (NetFlow v9 field types share them).
    fn iana(&mut self, id: u16, v: &FieldValue) {
        match id {
            1 | 85 => self.bytes = self.bytes.or(v.as_u64()),
            2 | 86 => self.pkts = self.pkts.or(v.as_u64()),
            4 => self.proto = v.as_u8(),
            6 => self.flags = flag_bits(v),
            7 => self.src_port = v.as_u16(),
            11 => self.dst_port = v.as_u16(),
            8 | 27 => self.src = self.src.or(ip(v)),
            12 | 28 => self.dst = self.dst.or(ip(v)),
            22 => self.start_up = v.as_u64(),
            21 => self.end_up = v.as_u64(),
            150 => self.start = abs_time(v, 1.0),
            151 => self.end = abs_time(v, 1.0),
            152 => self.start = abs_time(v, 0.001),
            153 => self.end = abs_time(v, 0.001),
            154..=157 => {
                let t = abs_time(v, 1e-6);
                if id.is_multiple_of(2) { self.start = t } else { self.end = t }
            }
            160 => self.init_ms = v.as_u64(),
            _ => {}
        }
    }

    /// Takes a reverse (RFC 5103) element by number.
    fn reverse(&mut self, id: u16, v: &FieldValue) {
        match id {
            1 | 85 => self.rev_bytes = self.rev_bytes.or(v.as_u64()),
            2 | 86 => self.rev_pkts = self.rev_pkts.or(v.as_u64()),
            6 => self.rev_flags = flag_bits(v),
            _ => {}
        }
    }

    /// The flow; `boot_ms` is the exporter's boot time (epoch ms) when known, `export` the
    /// packet's export time. `None` without addresses.
    fn flow(&self, boot_ms: Option<i64>, export: f64) -> Option<Flow> {
        let (src, dst) = (self.src?, self.dst?);
        let proto = self.proto.map_or(Proto::Other(255), Proto::from_number);
        let boot_ms = self.init_ms.map(|m| m as i64).or(boot_ms);
        let up =
            |t: Option<u64>| Some(boot_ms?.checked_add(i64::try_from(t?).ok()?)? as f64 / 1000.0);
        let (start, end) = match (self.start, up(self.start_up)) {
            (Some(s), _) => (Some(s), self.end),
            (None, Some(s)) => (Some(s), up(self.end_up)),
            (None, None) => (None, None),
        };
        let duration = match (start, end) {
            (Some(s), Some(e)) if e >= s => Some(e - s),
            _ => None,
        };
        let state = match (proto, self.flags, self.rev_flags) {
            (Proto::Tcp, Some(f), Some(r)) => tcp_state(f, r, self.rev_pkts.unwrap_or(0)),
            (Proto::Tcp, f, None) => one_way_state(proto, f),
            (Proto::Tcp, None, Some(_)) => ConnState::Unknown,
            _ => match self.rev_pkts {
                Some(0) => ConnState::NotEstablished,
                Some(_) => ConnState::Established,
                None => ConnState::Unknown,
            },
        };
        Some(Flow {
            ts: start.unwrap_or(export),
            duration,
            proto,
            src,
            src_port: self.src_port.unwrap_or(0),
            dst,
            dst_port: self.dst_port.unwrap_or(0),
            state,
            src_ip_bytes: self.bytes,
            dst_ip_bytes: self.rev_bytes,
            src_pkts: self.pkts,
            dst_pkts: self.rev_pkts,
            ..Flow::default()
        })
    }
}

fn v9_record(
    record: &[(netflow_parser::V9Field, FieldValue)],
    boot_ms: Option<i64>,
    export: f64,
) -> Option<Flow> {
    let mut rec = Rec::default();
    for (field, value) in record {
        rec.iana(u16::from(*field), value);
    }
    rec.flow(boot_ms, export)
}

fn put(flow: Option<Flow>, ctx: &mut Ctx<'_>, sink: &mut dyn FnMut(Flow)) {
    match flow {
        Some(f) => {
            ctx.stats.rows += 1;
            sink(f);
        }
        None => ctx.stats.other_events += 1,
    }
}

fn no_template(ctx: &mut Ctx<'_>, kind: &str, template_id: u16) {
    let message = format!(
        "{}: {kind} data set for template {template_id} arrived before its template; its records are lost",
        ctx.name
    );
    ctx.skipped(message);
}

fn v9_packet(v9: &V9, ctx: &mut Ctx<'_>, sink: &mut dyn FnMut(Flow)) {
    let h = &v9.header;
    let boot_ms = h.unix_secs as i64 * 1000 - h.sys_up_time as i64;
    let export = h.unix_secs as f64;
    for set in &v9.flowsets {
        match &set.body {
            V9Body::Data(data) => {
                for record in &data.fields {
                    put(v9_record(record, Some(boot_ms), export), ctx, sink);
                }
            }
            V9Body::Template(t) => ctx.stats.other_events += t.templates.len() as u64,
            V9Body::OptionsTemplate(t) => ctx.stats.other_events += t.templates.len() as u64,
            V9Body::OptionsData(d) => ctx.stats.other_events += d.fields.len() as u64,
            V9Body::NoTemplate(info) => no_template(ctx, "NetFlow v9", info.template_id),
            V9Body::Empty => {}
        }
    }
}

fn iana_id(f: &Iana) -> Option<u16> {
    Some(match f {
        Iana::OctetDeltaCount => 1,
        Iana::PacketDeltaCount => 2,
        Iana::ProtocolIdentifier => 4,
        Iana::TcpControlBits => 6,
        Iana::SourceTransportPort => 7,
        Iana::SourceIpv4address => 8,
        Iana::DestinationTransportPort => 11,
        Iana::DestinationIpv4address => 12,
        Iana::FlowEndSysUpTime => 21,
        Iana::FlowStartSysUpTime => 22,
        Iana::SourceIpv6address => 27,
        Iana::DestinationIpv6address => 28,
        Iana::OctetTotalCount => 85,
        Iana::PacketTotalCount => 86,
        Iana::FlowStartSeconds => 150,
        Iana::FlowEndSeconds => 151,
        Iana::FlowStartMilliseconds => 152,
        Iana::FlowEndMilliseconds => 153,
        Iana::FlowStartMicroseconds => 154,
        Iana::FlowEndMicroseconds => 155,
        Iana::FlowStartNanoseconds => 156,
        Iana::FlowEndNanoseconds => 157,
        Iana::SystemInitTimeMilliseconds => 160,
        _ => return None,
    })
}

fn reverse_id(f: &Rev) -> Option<u16> {
    Some(match f {
        Rev::ReverseOctetDeltaCount => 1,
        Rev::ReversePacketDeltaCount => 2,
        Rev::ReverseTcpControlBits => 6,
        Rev::ReverseOctetTotalCount => 85,
        Rev::ReversePacketTotalCount => 86,
        _ => return None,
    })
}

fn ipfix_packet(ipfix: &IPFix, ctx: &mut Ctx<'_>, sink: &mut dyn FnMut(Flow)) {
    let export = ipfix.header.export_time as f64;
    for set in &ipfix.flowsets {
        match &set.body {
            IpfixBody::Data(data) => {
                for record in &data.fields {
                    let mut rec = Rec::default();
                    for (field, value) in record {
                        match field {
                            IPFixField::IANA(f) => {
                                if let Some(id) = iana_id(f) {
                                    rec.iana(id, value);
                                }
                            }
                            IPFixField::ReverseInformationElement(f) => {
                                if let Some(id) = reverse_id(f) {
                                    rec.reverse(id, value);
                                }
                            }
                            _ => {}
                        }
                    }
                    put(rec.flow(None, export), ctx, sink);
                }
            }
            IpfixBody::V9Data(data) => {
                for record in &data.fields {
                    put(v9_record(record, None, export), ctx, sink);
                }
            }
            IpfixBody::Template(_)
            | IpfixBody::V9Template(_)
            | IpfixBody::OptionsTemplate(_)
            | IpfixBody::V9OptionsTemplate(_) => ctx.stats.other_events += 1,
            IpfixBody::Templates(t) => ctx.stats.other_events += t.len() as u64,
            IpfixBody::V9Templates(t) => ctx.stats.other_events += t.len() as u64,
            IpfixBody::OptionsTemplates(t) => ctx.stats.other_events += t.len() as u64,
            IpfixBody::V9OptionsTemplates(t) => ctx.stats.other_events += t.len() as u64,
            IpfixBody::OptionsData(d) => ctx.stats.other_events += d.fields.len() as u64,
            IpfixBody::V9OptionsData(d) => ctx.stats.other_events += d.fields.len() as u64,
            IpfixBody::NoTemplate(info) => no_template(ctx, "IPFIX", info.template_id),
            IpfixBody::Empty => {}
        }
    }
}
