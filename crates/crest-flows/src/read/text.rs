//! Field parsers shared by the text formats: numbers, times, addresses, protocol names and
//! the fast paths for Zeek's states and services (no allocation per row).

use std::net::{IpAddr, Ipv4Addr};

use crate::flow::{ConnState, Label, Proto, Service};

/// Powers of ten exactly representable as f64.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// An unsigned decimal integer (ASCII digits only).
pub(crate) fn parse_u64(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 20 {
        return None;
    }
    let mut n: u64 = 0;
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(d as u64)?;
    }
    Some(n)
}

/// A finite decimal number. `digits[.digits]` takes a correctly rounded fast path (Clinger's:
/// an integer mantissa below 2^53 divided by an exact power of ten); anything else goes to
/// the standard parser.
pub(crate) fn parse_f64(b: &[u8]) -> Option<f64> {
    if b.is_empty() {
        return None;
    }
    let mut mantissa: u64 = 0;
    let mut digits = 0usize;
    let mut frac_digits = 0usize;
    let mut seen_dot = false;
    let mut fast = b.len() <= 19;
    if fast {
        for &c in b {
            if c == b'.' && !seen_dot {
                seen_dot = true;
                continue;
            }
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                fast = false;
                break;
            }
            mantissa = mantissa * 10 + d as u64;
            digits += 1;
            if seen_dot {
                frac_digits += 1;
            }
        }
    }
    if fast && digits > 0 && mantissa < (1u64 << 53) && frac_digits < POW10.len() {
        return Some(mantissa as f64 / POW10[frac_digits]);
    }
    let v: f64 = std::str::from_utf8(b).ok()?.trim().parse().ok()?;
    v.is_finite().then_some(v)
}

/// A dotted-quad IPv4 address, as strict as the standard parser (no leading zeros).
fn parse_ipv4(b: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let (mut idx, mut val, mut digits) = (0usize, 0u32, 0u32);
    for &c in b {
        if c == b'.' {
            if digits == 0 || idx == 3 {
                return None;
            }
            octets[idx] = val as u8;
            idx += 1;
            (val, digits) = (0, 0);
        } else {
            let d = c.wrapping_sub(b'0');
            if d > 9 || (digits == 1 && val == 0) {
                return None;
            }
            val = val * 10 + d as u32;
            digits += 1;
            if val > 255 {
                return None;
            }
        }
    }
    if idx != 3 || digits == 0 {
        return None;
    }
    octets[3] = val as u8;
    Some(Ipv4Addr::from(octets))
}

/// An IPv4 or IPv6 address.
pub(crate) fn parse_ip(b: &[u8]) -> Option<IpAddr> {
    if let Some(v4) = parse_ipv4(b) {
        return Some(IpAddr::V4(v4));
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// The positions of every `sep` byte in `line`, eight bytes at a time (SWAR).
pub(crate) fn separators(line: &[u8], sep: u8, out: &mut Vec<usize>) {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    out.clear();
    let rep = u64::from_le_bytes([sep; 8]);
    let chunks = line.chunks_exact(8);
    let tail = chunks.remainder();
    for (n, chunk) in chunks.enumerate() {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let v = u64::from_le_bytes(word) ^ rep;
        // 0x80 exactly in the bytes of `v` that are zero (no borrow between bytes).
        let mut m = !(((v & LOW7).wrapping_add(LOW7)) | v | LOW7);
        while m != 0 {
            out.push(n * 8 + (m.trailing_zeros() / 8) as usize);
            m &= m - 1;
        }
    }
    let base = line.len() - tail.len();
    out.extend(tail.iter().enumerate().filter(|(_, b)| **b == sep).map(|(i, _)| base + i));
}

/// A port: decimal, or hexadecimal with `0x` (Argus writes ICMP "ports" so).
pub(crate) fn parse_port(b: &[u8]) -> Option<u16> {
    if let Some(hex) = b.strip_prefix(b"0x").or_else(|| b.strip_prefix(b"0X")) {
        if hex.is_empty() || hex.len() > 4 {
            return None;
        }
        let s = std::str::from_utf8(hex).ok()?;
        return u16::from_str_radix(s, 16).ok();
    }
    parse_u64(b).and_then(|n| u16::try_from(n).ok())
}

/// Seconds since the epoch for a civil date and time in UTC (proleptic Gregorian).
fn epoch_seconds(y: i64, m: u32, d: u32, hh: u32, mm: u32, ss: u32) -> i64 {
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + hh as i64 * 3600 + mm as i64 * 60 + ss as i64
}

/// Epoch seconds as f64 from whole seconds and a decimal fraction of `frac_digits` digits:
/// correctly rounded while the total fits 2^53.
fn combine(secs: i64, frac: u64, frac_digits: usize) -> f64 {
    if frac_digits == 0 {
        return secs as f64;
    }
    let scale = 10i64.pow(frac_digits as u32);
    match secs.checked_mul(scale).and_then(|s| s.checked_add(frac as i64)) {
        Some(total) if total.unsigned_abs() < (1u64 << 53) => total as f64 / POW10[frac_digits],
        _ => secs as f64 + frac as f64 / POW10[frac_digits],
    }
}

fn two(b: &[u8]) -> Option<u32> {
    match b {
        [a @ b'0'..=b'9', c @ b'0'..=b'9'] => Some(((a - b'0') * 10 + (c - b'0')) as u32),
        _ => None,
    }
}

/// Whether `b` starts like a date: `YYYY-MM-DD` or `YYYY/MM/DD`.
pub(crate) fn looks_like_date(b: &[u8]) -> bool {
    b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && matches!(b[4], b'-' | b'/')
        && b[7] == b[4]
        && two(&b[5..7]).is_some()
        && two(&b[8..10]).is_some()
}

/// A civil date-time taken as UTC: `YYYY-MM-DD HH:MM:SS[.frac]` (also `/` between the date's
/// parts, `T` before the time), the seed CSV's and Argus' form.
pub(crate) fn parse_civil_utc(b: &[u8]) -> Option<f64> {
    if b.len() < 19 || !looks_like_date(b) || !matches!(b[10], b' ' | b'T') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let y = parse_u64(&b[..4])? as i64;
    let (m, d) = (two(&b[5..7])?, two(&b[8..10])?);
    let (hh, mm, ss) = (two(&b[11..13])?, two(&b[14..16])?, two(&b[17..19])?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let mut rest = &b[19..];
    if rest.ends_with(b"Z") {
        rest = &rest[..rest.len() - 1];
    }
    let (frac, frac_digits) = match rest {
        [] => (0, 0),
        [b'.', digits @ ..] if !digits.is_empty() && digits.len() <= 9 => {
            (parse_u64(digits)?, digits.len())
        }
        _ => return None,
    };
    Some(combine(epoch_seconds(y, m, d, hh, mm, ss), frac, frac_digits))
}

/// An ISO 8601 / RFC 3339 timestamp with an offset (`2021-06-06T16:38:55.855844+0200`), or a
/// civil one taken as UTC.
pub(crate) fn parse_iso(s: &str) -> Option<f64> {
    if let Ok(ts) = s.trim().parse::<jiff::Timestamp>() {
        let secs = ts.as_second();
        let nanos = ts.subsec_nanosecond();
        return Some(if nanos % 1000 == 0 {
            combine(secs, (nanos / 1000) as u64, 6)
        } else {
            combine(secs, nanos as u64, 9)
        });
    }
    parse_civil_utc(s.trim().as_bytes())
}

/// Nanoseconds since the epoch of an ISO 8601 timestamp with an offset (for exact differences).
pub(crate) fn iso_nanos(s: &str) -> Option<i128> {
    s.trim().parse::<jiff::Timestamp>().ok().map(|t| t.as_nanosecond())
}

/// A time: epoch seconds (decimal) or an ISO 8601 date-time.
pub(crate) fn parse_time(b: &[u8]) -> Option<f64> {
    if let Some(v) = parse_f64(b) {
        return Some(v);
    }
    parse_iso(std::str::from_utf8(b).ok()?)
}

/// A protocol name or number: [`Proto::parse`], plus the common IP protocols it does not
/// name (`igmp`, `gre`, `esp`, `ah`, `sctp`…) by number. `None` when empty.
pub(crate) fn parse_proto(s: &str) -> Option<Proto> {
    let s = s.trim();
    match s.len() {
        3 if s.eq_ignore_ascii_case("tcp") => return Some(Proto::Tcp),
        3 if s.eq_ignore_ascii_case("udp") => return Some(Proto::Udp),
        4 if s.eq_ignore_ascii_case("icmp") => return Some(Proto::Icmp),
        _ => {}
    }
    const NAMED: [(&str, u8); 10] = [
        ("igmp", 2),
        ("ipv4", 4),
        ("ipnip", 4),
        ("gre", 47),
        ("esp", 50),
        ("ah", 51),
        ("ipv6", 41),
        ("ospf", 89),
        ("pim", 103),
        ("sctp", 132),
    ];
    if let Some((_, n)) = NAMED.iter().find(|(name, _)| s.eq_ignore_ascii_case(name)) {
        return Some(Proto::from_number(*n));
    }
    Proto::parse(s)
}

/// A Zeek `conn_state` without allocating for the usual upper-case spellings.
pub(crate) fn zeek_state(b: &[u8]) -> ConnState {
    match b {
        b"S0" => ConnState::S0,
        b"S1" => ConnState::S1,
        b"SF" => ConnState::Sf,
        b"REJ" => ConnState::Rej,
        b"S2" => ConnState::S2,
        b"S3" => ConnState::S3,
        b"RSTO" => ConnState::Rsto,
        b"RSTR" => ConnState::Rstr,
        b"RSTOS0" => ConnState::Rstos0,
        b"RSTRH" => ConnState::Rstrh,
        b"SH" => ConnState::Sh,
        b"SHR" => ConnState::Shr,
        b"OTH" => ConnState::Oth,
        b"" | b"-" => ConnState::Unknown,
        _ => ConnState::from_zeek(&String::from_utf8_lossy(b)),
    }
}

/// A state in the seed CSV or another loose text form: Zeek's names, `EST`/`ESTABLISHED`,
/// `NOTEST`/`NOT_ESTABLISHED`; anything else unknown.
pub(crate) fn loose_state(b: &[u8]) -> ConnState {
    match zeek_state(b) {
        ConnState::Unknown => {}
        s => return s,
    }
    let up = b.to_ascii_uppercase();
    match up.as_slice() {
        b"EST" | b"ESTABLISHED" | b"CON" => ConnState::Established,
        b"NOTEST" | b"NOT_ESTABLISHED" | b"NOTESTABLISHED" | b"NOT ESTABLISHED" => {
            ConnState::NotEstablished
        }
        _ => ConnState::Unknown,
    }
}

/// A Zeek `service` without allocating for the usual single lower-case names.
pub(crate) fn zeek_service(b: &[u8], empty: &[u8]) -> Service {
    match b {
        b"" | b"-" => Service::None,
        b"dns" => Service::Dns,
        b"http" => Service::Http,
        b"ssl" => Service::Ssl,
        b"ssh" => Service::Ssh,
        _ if b == empty => Service::None,
        _ => Service::parse(&String::from_utf8_lossy(b)),
    }
}

/// A ground-truth label without allocating for the usual spellings.
pub(crate) fn label(b: &[u8]) -> Label {
    match b {
        b"" | b"-" | b"(empty)" => Label::None,
        b"Malicious" | b"malicious" => Label::Malicious,
        b"Benign" | b"benign" => Label::Benign,
        _ => Label::parse(&String::from_utf8_lossy(b)),
    }
}

/// Replaces Zeek's `\xNN` escapes by the bytes they stand for.
pub(crate) fn unescape(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && (b[i + 1] == b'x' || b[i + 1] == b'X') {
            let hex = &b[i + 2..i + 4];
            if let Some(v) =
                std::str::from_utf8(hex).ok().and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_u64(b"0"), Some(0));
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b"-1"), None);
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b"12a"), None);
        for s in
            ["1601998366.785668", "0.000064", "928.943457", "5", "1.", ".5", "123456789.123456"]
        {
            assert_eq!(parse_f64(s.as_bytes()), Some(s.parse::<f64>().unwrap()), "{s}");
        }
        assert_eq!(parse_f64(b"1e3"), Some(1000.0));
        assert_eq!(parse_f64(b"-2.5"), Some(-2.5));
        assert_eq!(parse_f64(b"."), None);
        assert_eq!(parse_f64(b"inf"), None);
        assert_eq!(parse_f64(b"NaN"), None);
        assert_eq!(parse_f64(b"1.2.3"), None);
        for s in [
            "10.0.0.1",
            "255.255.255.255",
            "0.0.0.0",
            "1.2.3",
            "1.2.3.4.5",
            "01.2.3.4",
            "256.1.1.1",
            "1..2.3",
            ".1.2.3",
            "1.2.3.",
            "::1",
            "fe80::1",
            "1.2.3.-4",
            "",
            "1.2.3.4 ",
        ] {
            assert_eq!(parse_ip(s.as_bytes()), s.parse().ok(), "{s}");
        }
        let line = b"a\tbb\t\t0123456789abcdef\tx\t";
        let mut out = Vec::new();
        separators(line, b'\t', &mut out);
        let expected: Vec<usize> = (0..line.len()).filter(|&i| line[i] == b'\t').collect();
        assert_eq!(out, expected);
        separators(b"\x89\x09\x08\x0a\t\t\t\t\t\t\t", b'\t', &mut out);
        assert_eq!(out, vec![1, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(parse_port(b"0x7208"), Some(0x7208));
        assert_eq!(parse_port(b"443"), Some(443));
        assert_eq!(parse_port(b"65536"), None);
        assert_eq!(parse_port(b"0x"), None);
        assert_eq!(parse_port(b"0x10000"), None);
    }

    #[test]
    fn times() {
        assert_eq!(parse_civil_utc(b"1970-01-01 00:00:00"), Some(0.0));
        assert_eq!(parse_civil_utc(b"2011/08/16 10:00:36.130441"), Some(1313488836.130441));
        assert_eq!(parse_civil_utc(b"2024-02-29T23:59:59"), Some(1709251199.0));
        assert_eq!(parse_civil_utc(b"2024-13-01 00:00:00"), None);
        assert_eq!(parse_civil_utc(b"2024-01-01 00:00"), None);
        assert_eq!(parse_iso("2021-06-06T16:38:55.855844+0200"), Some(1622990335.855844));
        assert_eq!(parse_iso("2021-06-06T14:38:55.855844Z"), Some(1622990335.855844));
        assert_eq!(parse_time(b"1622990335.855844"), Some(1622990335.855844));
        assert_eq!(parse_time(b"yesterday"), None);
    }

    #[test]
    fn names() {
        assert_eq!(parse_proto("IGMP"), Some(Proto::Other(2)));
        assert_eq!(parse_proto("ipv6-icmp"), Some(Proto::Icmp));
        assert_eq!(parse_proto("TCP"), Some(Proto::Tcp));
        assert_eq!(parse_proto(""), None);
        assert_eq!(zeek_state(b"rej"), ConnState::Rej);
        assert_eq!(loose_state(b"est"), ConnState::Established);
        assert_eq!(zeek_service(b"http,ssl", b"(empty)"), Service::Http);
        assert_eq!(zeek_service(b"(empty)", b"(empty)"), Service::None);
        assert_eq!(label(b"flow=From-Botnet-V1"), Label::Malicious);
        assert_eq!(unescape(br"\x09"), b"\t");
        assert_eq!(unescape(br"a\x2cb\x"), b"a,b\\x");
        assert_eq!(unescape(br"\xZZ"), br"\xZZ");
    }
}
