//! CSV events: a header row names the fields, each later row is one record.
//!
//! Inputs are plain, gzip or zstd (detected from the bytes, as for JSON) and are read in
//! parallel, one thread per file; a file is read in one pass on its thread (quoted fields may
//! hold newlines, so a CSV file cannot be cut at a guessed line start as JSON Lines can).
//!
//! A field is looked up by its header name (exactly, after trimming; a dotted name is a flat
//! column name). Cells are trimmed; an empty cell is an absent field. A cell that reads as a
//! number (`-12`, `007`, `1.5e3`) is handed over as a number, anything else as a string, so
//! detectors read CSV and JSON records alike.

use std::io::{self, BufReader, Read};

use crest_core::record::{Location, Record, RecordOrder, RecordSeq, RecordSink};
use crest_core::value::{Projection, RawKind, RawValue};
use rayon::prelude::*;

use super::source::{Compression, Source, open};
use super::stream::Counting;
use super::{InputLocator, Locator, ReadOptions, Readout, Skipped};
use crate::error::ReadError;
use crate::input::Input;

/// Progress counters are updated every this many records.
const PROGRESS_RECORDS: u64 = 4096;

/// Reads CSV inputs, one sink from `make_sink` per input (in input order), in parallel.
///
/// A header without a column the projection names is an error, as is a record the sink
/// rejects (unless `options.skip_invalid`, which counts it and goes on). On error, the error
/// is the first one in input order.
pub fn read_csv<S, F>(
    inputs: &[Input],
    projection: &Projection,
    options: &ReadOptions,
    make_sink: F,
) -> Result<Readout<S>, ReadError>
where
    S: RecordSink + Send,
    F: Fn() -> S + Sync,
{
    // Open everything first, so that a missing file fails before any work is done.
    let sources = inputs.iter().map(open).collect::<Result<Vec<_>, _>>()?;
    let results: Vec<Result<CsvPart<S>, ReadError>> = sources
        .into_par_iter()
        .enumerate()
        .map(|(i, source)| {
            read_one(i as u32, &inputs[i].name(), source, projection, options, make_sink())
        })
        .collect();
    let mut readout = Readout {
        parts: Vec::with_capacity(inputs.len()),
        records: 0,
        bytes: 0,
        skipped: Skipped::default(),
        locator: Locator::default(),
    };
    for (input, result) in inputs.iter().zip(results) {
        let part = result?;
        readout.records += part.records;
        readout.bytes += part.bytes;
        readout.skipped.absorb(part.skipped);
        readout.parts.push(part.sink);
        readout.locator.inputs.push(InputLocator {
            name: input.name(),
            buffer: None,
            part_bases: vec![0],
        });
    }
    Ok(readout)
}

/// A shared input buffer as bytes.
struct Bytes(std::sync::Arc<super::source::Buffer>);

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

struct CsvPart<S> {
    sink: S,
    records: u64,
    bytes: u64,
    skipped: Skipped,
}

fn read_one<S: RecordSink>(
    input: u32,
    name: &str,
    source: Source,
    projection: &Projection,
    options: &ReadOptions,
    sink: S,
) -> Result<CsvPart<S>, ReadError> {
    let progress = options.progress.as_deref();
    let (raw, format): (Box<dyn Read + '_>, Compression) = match source {
        Source::Buffer(buf) => (Box::new(io::Cursor::new(Bytes(buf))), Compression::None),
        Source::Stream(reader, format) => (reader, format),
    };
    let raw = Counting { inner: raw, progress };
    let decoded: Box<dyn Read + '_> = match format {
        Compression::None => Box::new(raw),
        Compression::Gzip => {
            Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(1 << 16, raw)))
        }
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(raw).map_err(|e| {
            ReadError::Decompress { input: name.into(), format: "zstd", message: e.to_string() }
        })?),
    };
    let read_error = |e: csv::Error, line: u64, offset: u64| {
        let message = e.to_string();
        match e.into_kind() {
            csv::ErrorKind::Io(source) => match format {
                Compression::None => ReadError::Io { input: name.into(), source },
                f => ReadError::Decompress {
                    input: name.into(),
                    format: f.name(),
                    message: source.to_string(),
                },
            },
            _ => ReadError::Csv { location: Box::new(at(name, None, line, offset)), message },
        }
    };

    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(decoded);
    let mut row = csv::ByteRecord::new();
    let mut part = CsvPart { sink, records: 0, bytes: 0, skipped: Skipped::default() };

    // The header; an empty input has none and no records.
    match reader.read_byte_record(&mut row) {
        Ok(false) => return Ok(part),
        Ok(true) => {}
        Err(e) => return Err(read_error(e, 1, 0)),
    }
    let header: Vec<&[u8]> = row
        .iter()
        .enumerate()
        .map(|(i, h)| if i == 0 { h.strip_prefix(b"\xef\xbb\xbf").unwrap_or(h) } else { h })
        .collect();
    let mut columns = Vec::with_capacity(projection.len());
    for field in projection.fields() {
        match header.iter().position(|h| *h == field.as_bytes()) {
            Some(c) => columns.push(c),
            None => {
                let names: Vec<String> =
                    header.iter().map(|h| String::from_utf8_lossy(h).into_owned()).collect();
                return Err(ReadError::Csv {
                    location: Box::new(at(name, None, 1, 0)),
                    message: format!(
                        "the header has no column '{field}' (columns: {})",
                        names.join(", ")
                    ),
                });
            }
        }
    }

    let mut spare: Vec<Option<RawValue<'static>>> = Vec::with_capacity(columns.len());
    let mut since_progress = 0u64;
    loop {
        let (line, offset) = {
            let p = reader.position();
            (p.line(), p.byte())
        };
        match reader.read_byte_record(&mut row) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(read_error(e, line, offset)),
        }
        let index = part.records;
        part.records += 1;
        since_progress += 1;
        if since_progress == PROGRESS_RECORDS {
            if let Some(p) = progress {
                p.add(0, since_progress);
            }
            since_progress = 0;
        }
        // A blank line reads as one empty cell: no record.
        if row.len() == 1 && row[0].is_empty() {
            part.records -= 1;
            continue;
        }
        let mut slots = reuse(std::mem::take(&mut spare));
        for &c in &columns {
            let cell = row.get(c).filter(|cell| !cell.is_empty());
            if let Some(cell) = cell
                && let Err(e) = simdutf8::compat::from_utf8(cell)
            {
                let mut location = at(name, Some(index + 1), line, offset);
                location.offset += e.valid_up_to() as u64;
                return Err(ReadError::Encoding { location: Box::new(location) });
            }
            slots.push(cell.map(|cell| RawValue::new(classify(cell), cell)));
        }
        let record = Record {
            slots: &slots,
            order: RecordOrder { input, offset },
            seq: RecordSeq { part: 0, index },
        };
        if let Err(error) = part.sink.accept(&record) {
            let location = || at(name, Some(index + 1), line, offset);
            if !options.skip_invalid {
                return Err(ReadError::Record { location: Box::new(location()), error });
            }
            part.skipped.note(error.cause(), location, || error.to_string());
        }
        spare = reuse(slots);
    }
    if let Some(p) = progress {
        p.add(0, since_progress);
    }
    part.bytes = reader.position().byte();
    Ok(part)
}

/// The allocation of a slot vector, emptied, for values borrowed from the next row.
fn reuse<'b>(mut slots: Vec<Option<RawValue<'_>>>) -> Vec<Option<RawValue<'b>>> {
    slots.clear();
    // Collecting an emptied vector in place keeps its allocation.
    slots.into_iter().map(|_| None).collect()
}

fn at(name: &str, record: Option<u64>, line: u64, offset: u64) -> Location {
    Location { input: name.to_string(), record, line: Some(line), column: None, offset }
}

/// A number when the cell reads as one (`-?digits[.digits][e[±]digits]`), else a string.
fn classify(cell: &[u8]) -> RawKind {
    let digits = |s: &[u8]| s.iter().take_while(|b| b.is_ascii_digit()).count();
    let mut rest = cell.strip_prefix(b"-").unwrap_or(cell);
    let whole = digits(rest);
    if whole == 0 {
        return RawKind::Str { escaped: false };
    }
    rest = &rest[whole..];
    let mut integer = true;
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = digits(frac);
        if n == 0 {
            return RawKind::Str { escaped: false };
        }
        rest = &frac[n..];
        integer = false;
    }
    if let Some(exp) = rest.strip_prefix(b"e").or_else(|| rest.strip_prefix(b"E")) {
        let exp = exp.strip_prefix(b"+").or_else(|| exp.strip_prefix(b"-")).unwrap_or(exp);
        let n = digits(exp);
        if n == 0 {
            return RawKind::Str { escaped: false };
        }
        rest = &exp[n..];
        integer = false;
    }
    if rest.is_empty() { RawKind::Number { integer } } else { RawKind::Str { escaped: false } }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use crest_core::record::RecordError;

    use super::*;

    /// Collects (record number, slots as text) and rejects records whose first slot is `bad`.
    #[derive(Default)]
    struct Collect(Vec<Vec<Option<(String, bool)>>>);

    impl RecordSink for Collect {
        fn accept(&mut self, record: &Record<'_, '_>) -> Result<(), RecordError> {
            if record.slots[0].is_some_and(|v| v.raw() == b"bad") {
                return Err(RecordError::Invalid { field: "a".into(), reason: "is bad".into() });
            }
            self.0.push(
                record
                    .slots
                    .iter()
                    .map(|s| {
                        s.map(|v| {
                            let number = matches!(v.kind(), RawKind::Number { .. });
                            (v.to_text().unwrap().into_owned(), number)
                        })
                    })
                    .collect(),
            );
            Ok(())
        }
    }

    fn read_file(
        content: &[u8],
        fields: &[&str],
        skip: bool,
    ) -> Result<Readout<Collect>, ReadError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.csv");
        std::fs::write(&path, content).unwrap();
        let options = ReadOptions { skip_invalid: skip, ..Default::default() };
        read_csv(&[Input::File(path)], &Projection::new(fields.iter().copied()), &options, || {
            Collect::default()
        })
    }

    fn cell(text: &str, number: bool) -> Option<(String, bool)> {
        Some((text.to_string(), number))
    }

    #[test]
    fn reads_projected_columns_by_header_name() {
        let text = b"\xef\xbb\xbfb, a ,c\n1,x y,\n\"2,5\",-1.5e3,z\n\n3, 007 ,\n";
        let r = read_file(text, &["a", "b", "c"], false).unwrap();
        assert_eq!(r.records, 3);
        assert_eq!(
            r.parts[0].0,
            [
                vec![cell("x y", false), cell("1", true), None],
                vec![cell("-1.5e3", true), cell("2,5", false), cell("z", false)],
                vec![cell("007", true), cell("3", true), None],
            ]
        );
    }

    #[test]
    fn compressed_input_reads_the_same() {
        let text = b"a,b\n1,2\n3,4\n";
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(text).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&text[..], 0).unwrap();
        let plain = read_file(text, &["b"], false).unwrap().parts.remove(0).0;
        assert_eq!(read_file(&gz, &["b"], false).unwrap().parts.remove(0).0, plain);
        assert_eq!(read_file(&zst, &["b"], false).unwrap().parts.remove(0).0, plain);
        let err = read_file(&gz[..gz.len() - 6], &["b"], false).err().unwrap().to_string();
        assert!(err.contains("cannot decompress (gzip)"), "{err}");
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let err = read_file(b"a,b\n1,2\n", &["c"], false).err().unwrap().to_string();
        assert!(
            err.ends_with("e.csv: line 1: the header has no column 'c' (columns: a, b)"),
            "{err}"
        );
        let err = read_file(b"a,b\nok,1\n\"multi\nline\",2\nbad,3\n", &["a"], false)
            .err()
            .unwrap()
            .to_string();
        assert!(err.ends_with("e.csv: record 3, line 5: field 'a': is bad"), "{err}");
        let err = read_file(b"a\n\xff\n", &["a"], false).err().unwrap().to_string();
        assert!(err.ends_with("e.csv: record 1, line 2: invalid UTF-8"), "{err}");
    }

    #[test]
    fn skipping_counts_and_empty_files_have_no_records() {
        let r = read_file(b"a\nbad\nok\nbad\n", &["a"], true).unwrap();
        assert_eq!((r.records, r.skipped.total, r.parts[0].0.len()), (3, 2, 1));
        let (loc, why) = r.skipped.first.unwrap();
        assert_eq!((loc.record, loc.line, why.as_str()), (Some(1), Some(2), "field 'a': is bad"));
        let r = read_file(b"", &["a"], false).unwrap();
        assert_eq!(r.records, 0);
        let r = read_file(b"a\n", &["a"], false).unwrap();
        assert_eq!(r.records, 0);
    }

    #[test]
    fn numbers_are_recognised_strictly() {
        for n in ["0", "-1", "007", "1.5", "1e3", "-2.5E-3"] {
            assert!(matches!(classify(n.as_bytes()), RawKind::Number { .. }), "{n}");
        }
        for s in ["", "-", "1.", ".5", "1e", "1x", "0x10", "+1", "1,5", "inf", "NaN"] {
            assert_eq!(classify(s.as_bytes()), RawKind::Str { escaped: false }, "{s}");
        }
        assert_eq!(classify(b"12"), RawKind::Number { integer: true });
        assert_eq!(classify(b"12.0"), RawKind::Number { integer: false });
    }
}
