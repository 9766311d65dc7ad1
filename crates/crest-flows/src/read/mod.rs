//! Flow readers: Zeek `conn.log`/`dns.log` (TSV and JSON lines), Suricata `eve.json`, Argus
//! binetflow, NetFlow v5/v9/IPFIX export packets and the seed analyzer's CSV, each into
//! [`Flow`] records.
//!
//! The readers are pure parsers: they take a [`BufRead`] (or bytes) and a name for messages;
//! opening and decompressing files is the caller's business. Every record goes to a sink as soon
//! as it is read, so memory stays flat whatever the input size (NetFlow input, being binary and
//! small, is read whole first).
//!
//! # Errors and skipping
//!
//! A row that cannot be read (wrong column count, a field that is not an address, a number or a
//! time) is a [`ReadError`] naming the input, the line and the field, e.g.
//! `conn.log:17: field 'id.orig_h': not an IP address: '10.0.0.x'`. With
//! [`ReadOptions::skip_invalid`] such rows are counted in [`ReadStats::skipped`] instead (the
//! first message is kept). Errors of the underlying reader (a truncated gzip stream, say) are
//! [`ReadError::Io`]; they, and header errors that make the rest of the input unreadable (a
//! Zeek `#fields` line without `id.orig_h`, an Argus header without `SrcAddr`), fail the read
//! whatever the options. A NetFlow packet whose framing is broken ends the read (an error, or
//! one skipped record under `skip_invalid`). No input makes a reader panic.
//!
//! # Counting
//!
//! [`ReadStats::rows`] is the number of flows handed to the sink. Records that are valid but
//! are not IP flows — Suricata events other than `flow`, Argus records of non-IP protocols
//! (`arp`, `llc`, `man`…), NetFlow template and options records, `dns.log` rows without a
//! query — are counted in [`ReadStats::other_events`].

use std::borrow::Cow;
use std::fmt;
use std::io::BufRead;

use crate::flow::{DnsQuery, Flow};

mod argus;
mod json;
mod netflow;
mod seed;
mod suricata;
mod text;
mod zeek;

#[cfg(test)]
mod tests;

/// An input format [`read_flows`] understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// The seed analyzer's CSV: 9 columns, no header (`ts, ip_protocol, state, src_ip,
    /// src_port, dst_ip, dst_port, src_tx, dst_tx`), `ts` as `YYYY-MM-DD HH:MM:SS` UTC.
    SeedCsv,
    /// Zeek `conn.log`, TSV with `#` headers or JSON lines (told apart by the first line).
    Zeek,
    /// Suricata EVE JSON lines; `flow` events become flows.
    Suricata,
    /// Argus binetflow (`ra` CSV or TSV output with a `StartTime,…` header).
    Argus,
    /// NetFlow v5, v9 or IPFIX export packets, concatenated as a collector dumps them.
    NetFlow,
}

impl Format {
    /// Every format, in the order of [`Format::name`]'s documentation.
    pub const ALL: [Format; 5] =
        [Format::SeedCsv, Format::Zeek, Format::Suricata, Format::Argus, Format::NetFlow];

    /// The format's name on the command line: `seed-csv`, `zeek`, `suricata`, `argus`,
    /// `netflow`.
    pub fn name(self) -> &'static str {
        match self {
            Format::SeedCsv => "seed-csv",
            Format::Zeek => "zeek",
            Format::Suricata => "suricata",
            Format::Argus => "argus",
            Format::NetFlow => "netflow",
        }
    }

    /// Parses a format name ([`Format::name`], case-insensitive; `csv`, `eve`, `binetflow`
    /// and `ipfix` are accepted too).
    pub fn parse(s: &str) -> Option<Format> {
        let s = s.trim().to_ascii_lowercase();
        Some(match s.as_str() {
            "seed-csv" | "seed" | "csv" => Format::SeedCsv,
            "zeek" | "bro" | "conn" => Format::Zeek,
            "suricata" | "eve" | "eve-json" => Format::Suricata,
            "argus" | "binetflow" => Format::Argus,
            "netflow" | "ipfix" | "nfv5" | "nfv9" => Format::NetFlow,
            _ => return None,
        })
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How to read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Count unreadable rows in [`ReadStats::skipped`] instead of failing on the first one.
    pub skip_invalid: bool,
}

/// What a read saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Flows handed to the sink (DNS queries, for [`read_dns`]).
    pub rows: u64,
    /// Unreadable rows skipped (only with [`ReadOptions::skip_invalid`], and NetFlow v9/IPFIX
    /// data sets whose template never arrived).
    pub skipped: u64,
    /// The message of the first skipped row.
    pub first_skipped: Option<String>,
    /// Valid records that are not flows (see the module documentation).
    pub other_events: u64,
}

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// A field of a row is missing or unreadable.
    #[error("{name}:{line}: field '{field}': {problem}")]
    Field {
        /// The input's name.
        name: String,
        /// The line, from 1.
        line: u64,
        /// The field (column) name.
        field: String,
        /// What is wrong, with the offending value.
        problem: String,
    },
    /// A row or header is malformed as a whole (not JSON, too many columns, no header).
    #[error("{name}:{line}: {problem}")]
    Row {
        /// The input's name.
        name: String,
        /// The line, from 1.
        line: u64,
        /// What is wrong.
        problem: String,
    },
    /// A NetFlow/IPFIX export packet cannot be decoded.
    #[error("{name}: packet {packet} at byte {offset}: {problem}")]
    Packet {
        /// The input's name.
        name: String,
        /// The packet's index in the input, from 0.
        packet: u64,
        /// The packet's byte offset in the input.
        offset: u64,
        /// What is wrong.
        problem: String,
    },
    /// The reader failed (an I/O error, a corrupt or truncated compressed stream).
    #[error("{name}: read error at {at}: {source}")]
    Io {
        /// The input's name.
        name: String,
        /// Where: `line N` or `byte N`.
        at: String,
        /// The reader's error.
        #[source]
        source: std::io::Error,
    },
}

/// Reads flows in `format` from `reader`, handing each to `sink`.
///
/// `name` is used in messages only. See the module documentation for errors and counting.
pub fn read_flows<R: BufRead>(
    reader: R,
    name: &str,
    format: Format,
    opts: &ReadOptions,
    sink: &mut dyn FnMut(Flow),
) -> Result<ReadStats, ReadError> {
    let mut ctx = Ctx::new(name, opts);
    match format {
        Format::SeedCsv => seed::read(reader, &mut ctx, sink)?,
        Format::Zeek => zeek::read_conn(reader, &mut ctx, sink)?,
        Format::Suricata => suricata::read(reader, &mut ctx, sink)?,
        Format::Argus => argus::read(reader, &mut ctx, sink)?,
        Format::NetFlow => {
            let mut reader = reader;
            let mut bytes = Vec::new();
            if let Err(source) = reader.read_to_end(&mut bytes) {
                return Err(ReadError::Io {
                    name: name.to_string(),
                    at: format!("byte {}", bytes.len()),
                    source,
                });
            }
            netflow::read(&bytes, &mut ctx, sink)?
        }
    }
    Ok(ctx.stats)
}

/// Reads NetFlow v5/v9/IPFIX export packets from bytes (what [`read_flows`] does with
/// [`Format::NetFlow`] once it has read the input).
pub fn read_netflow(
    bytes: &[u8],
    name: &str,
    opts: &ReadOptions,
    sink: &mut dyn FnMut(Flow),
) -> Result<ReadStats, ReadError> {
    let mut ctx = Ctx::new(name, opts);
    netflow::read(bytes, &mut ctx, sink)?;
    Ok(ctx.stats)
}

/// Reads DNS queries from a Zeek `dns.log` (TSV or JSON lines): `ts`, `id.orig_h`,
/// `id.resp_h`, `query` and the addresses among `answers`.
///
/// Rows without a query are counted in [`ReadStats::other_events`].
pub fn read_dns<R: BufRead>(
    reader: R,
    name: &str,
    opts: &ReadOptions,
    sink: &mut dyn FnMut(DnsQuery),
) -> Result<ReadStats, ReadError> {
    let mut ctx = Ctx::new(name, opts);
    zeek::read_dns(reader, &mut ctx, sink)?;
    Ok(ctx.stats)
}

/// Guesses an input's format from its name and first bytes (a few kilobytes are plenty).
///
/// The content decides when it is recognisable: `#separator`/`#fields` headers or JSON with
/// `id.orig_h` are Zeek, JSON with `event_type` Suricata, a `StartTime,`/`StartTime<TAB>`
/// header Argus, a binary header of version 5, 9 or 10 NetFlow, 9 comma-separated fields with
/// a date first the seed CSV. Otherwise the name decides (`*.binetflow`, `eve*.json`, `conn*.log`,
/// `*.csv`, `*.nf`/`*.ipfix`); `None` when neither does (an `nfdump` file, for one).
pub fn sniff(name: &str, head: &[u8]) -> Option<Format> {
    sniff_content(head).or_else(|| sniff_name(name))
}

fn sniff_content(head: &[u8]) -> Option<Format> {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    if netflow::looks_like(head) {
        return Some(Format::NetFlow);
    }
    let first = head.split(|&b| b == b'\n').map(|l| l.trim_ascii()).find(|l| !l.is_empty())?;
    if first.starts_with(b"#") {
        return Some(Format::Zeek);
    }
    if first.starts_with(b"{") {
        let has = |needle: &[u8]| memchr::memmem::find(first, needle).is_some();
        if has(b"\"event_type\"") {
            return Some(Format::Suricata);
        }
        if has(b"\"id.orig_h\"") || has(b"\"uid\"") || has(b"\"id.resp_h\"") {
            return Some(Format::Zeek);
        }
        return None;
    }
    if first.len() >= 10
        && first[..9].eq_ignore_ascii_case(b"StartTime")
        && matches!(first[9], b',' | b'\t')
    {
        return Some(Format::Argus);
    }
    let fields: Vec<&[u8]> = first.split(|&b| b == b',').collect();
    if fields.len() == 9 && text::looks_like_date(fields[0].trim_ascii()) {
        return Some(Format::SeedCsv);
    }
    None
}

fn sniff_name(name: &str) -> Option<Format> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name).to_ascii_lowercase();
    let base = base.strip_suffix(".gz").or_else(|| base.strip_suffix(".zst")).unwrap_or(&base);
    if base.ends_with(".binetflow") || base.ends_with(".argus.csv") {
        Some(Format::Argus)
    } else if base.starts_with("eve") && base.contains(".json") || base.contains("suricata") {
        Some(Format::Suricata)
    } else if base.ends_with(".log") || base.ends_with(".log.labeled") || base.contains("conn.") {
        Some(Format::Zeek)
    } else if base.ends_with(".csv") {
        Some(Format::SeedCsv)
    } else if base.ends_with(".nf") || base.ends_with(".ipfix") || base.ends_with(".netflow") {
        Some(Format::NetFlow)
    } else {
        None
    }
}

/// A problem with one row, before it is placed (input name and line) in a [`ReadError`].
#[derive(Debug)]
pub(crate) enum Bad {
    /// A field is missing or unreadable.
    Field { field: Cow<'static, str>, problem: String },
    /// The row as a whole is malformed.
    Row(String),
}

impl Bad {
    /// A field problem.
    pub(crate) fn field(field: impl Into<Cow<'static, str>>, problem: impl Into<String>) -> Bad {
        Bad::Field { field: field.into(), problem: problem.into() }
    }

    /// "not a(n) {what}: '{value}'" for a field.
    pub(crate) fn value(field: impl Into<Cow<'static, str>>, what: &str, value: &[u8]) -> Bad {
        Bad::field(field, format!("not {what}: '{}'", shown(value)))
    }
}

/// A value for a message: lossy UTF-8, at most 60 characters.
pub(crate) fn shown(value: &[u8]) -> String {
    let s = String::from_utf8_lossy(value);
    if s.chars().count() > 60 {
        let mut t: String = s.chars().take(60).collect();
        t.push('…');
        t
    } else {
        s.into_owned()
    }
}

/// The state of one read: the input's name, the options and the counts so far.
pub(crate) struct Ctx<'a> {
    pub(crate) name: &'a str,
    pub(crate) skip_invalid: bool,
    pub(crate) stats: ReadStats,
}

impl<'a> Ctx<'a> {
    fn new(name: &'a str, opts: &ReadOptions) -> Ctx<'a> {
        Ctx { name, skip_invalid: opts.skip_invalid, stats: ReadStats::default() }
    }

    /// The error for a bad row at `line`.
    pub(crate) fn error(&self, line: u64, bad: Bad) -> ReadError {
        match bad {
            Bad::Field { field, problem } => ReadError::Field {
                name: self.name.to_string(),
                line,
                field: field.into_owned(),
                problem,
            },
            Bad::Row(problem) => ReadError::Row { name: self.name.to_string(), line, problem },
        }
    }

    /// Hands a parsed row to the sink, counts a valid record that is not an IP flow, or
    /// rejects a bad row.
    pub(crate) fn deliver(
        &mut self,
        line: u64,
        parsed: Result<Option<Flow>, Bad>,
        sink: &mut dyn FnMut(Flow),
    ) -> Result<(), ReadError> {
        match parsed {
            Ok(Some(f)) => {
                self.stats.rows += 1;
                sink(f);
                Ok(())
            }
            Ok(None) => {
                self.stats.other_events += 1;
                Ok(())
            }
            Err(bad) => self.reject(line, bad),
        }
    }

    /// A bad row at `line`: an error, or counted as skipped under `skip_invalid`.
    pub(crate) fn reject(&mut self, line: u64, bad: Bad) -> Result<(), ReadError> {
        let err = self.error(line, bad);
        self.skip_or_fail(err)
    }

    /// An error, or counted as skipped under `skip_invalid`.
    pub(crate) fn skip_or_fail(&mut self, err: ReadError) -> Result<(), ReadError> {
        if self.skip_invalid {
            self.skipped(err.to_string());
            Ok(())
        } else {
            Err(err)
        }
    }

    /// Counts a skipped record.
    pub(crate) fn skipped(&mut self, message: String) {
        self.stats.skipped += 1;
        if self.stats.first_skipped.is_none() {
            self.stats.first_skipped = Some(message);
        }
    }

    /// A fatal problem with a header line.
    pub(crate) fn header_error(&self, line: u64, problem: impl Into<String>) -> ReadError {
        ReadError::Row { name: self.name.to_string(), line, problem: problem.into() }
    }
}

/// Lines of a reader, without their `\n`/`\r\n`, numbered from 1. A line wholly inside the
/// reader's buffer is lent from it without a copy; one that straddles a refill is gathered in
/// a reused buffer.
pub(crate) struct Lines<R> {
    reader: R,
    buf: Vec<u8>,
    line: u64,
    /// Bytes of the reader's buffer lent out by the previous call, to consume now.
    pending: usize,
}

impl<R: BufRead> Lines<R> {
    pub(crate) fn new(reader: R) -> Lines<R> {
        Lines { reader, buf: Vec::with_capacity(1024), line: 0, pending: 0 }
    }

    /// The next line and its number, `None` at the end.
    pub(crate) fn next_line(&mut self, name: &str) -> Result<Option<(u64, &[u8])>, ReadError> {
        self.reader.consume(std::mem::take(&mut self.pending));
        let next = self.line + 1;
        let io_error =
            |source| ReadError::Io { name: name.to_string(), at: format!("line {next}"), source };
        let newline = loop {
            match self.reader.fill_buf() {
                Ok(available) => break memchr::memchr(b'\n', available),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_error(e)),
            }
        };
        let line: &[u8] = match newline {
            Some(i) => {
                self.pending = i + 1;
                match self.reader.fill_buf() {
                    Ok(available) => &available[..i],
                    Err(e) => return Err(io_error(e)),
                }
            }
            None => {
                self.buf.clear();
                match self.reader.read_until(b'\n', &mut self.buf) {
                    Ok(0) => return Ok(None),
                    Ok(_) => {}
                    Err(e) => return Err(io_error(e)),
                }
                let mut l = self.buf.as_slice();
                if let [rest @ .., b'\n'] = l {
                    l = rest;
                }
                l
            }
        };
        self.line += 1;
        let line = match line {
            [rest @ .., b'\r'] => rest,
            l => l,
        };
        Ok(Some((self.line, line)))
    }
}
