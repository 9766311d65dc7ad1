use std::io::Write;

use crest_core::record::{Record, RecordError, RecordOrder, RecordSink};
use crest_core::value::Projection;
use proptest::prelude::*;

use super::chunks::{Layout, find_record_start};
use super::stream::utf8_boundary;
use super::*;

/// Collects records as `(order, values)` and rejects records whose `bad` field is present.
#[derive(Default)]
struct Collect {
    rows: Vec<(RecordOrder, Vec<Option<String>>)>,
}

impl RecordSink for Collect {
    fn accept(&mut self, record: &Record<'_, '_>) -> Result<(), RecordError> {
        let values: Vec<Option<String>> =
            record.slots.iter().map(|v| v.map(|v| v.to_text().unwrap().into_owned())).collect();
        if values[1].is_some() {
            return Err(RecordError::Invalid { field: "bad".into(), reason: "present".into() });
        }
        self.rows.push((record.order, values));
        Ok(())
    }
}

/// Field values of one record, as text.
type Row = Vec<Option<String>>;

fn fields() -> Projection {
    Projection::new(["id", "bad", "nested.x"])
}

fn write_file(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> Input {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    Input::File(path)
}

fn read_all(
    inputs: &[Input],
    options: &ReadOptions,
) -> Result<(Vec<Row>, Readout<Collect>), ReadError> {
    let mut readout = read(inputs, &fields(), options, Collect::default)?;
    let mut rows: Vec<(RecordOrder, Vec<Option<String>>)> =
        readout.parts.iter_mut().flat_map(|p| std::mem::take(&mut p.rows)).collect();
    let sorted = rows.windows(2).all(|w| w[0].0 < w[1].0);
    assert!(sorted, "parts come back in input order");
    rows.sort_by_key(|r| r.0);
    Ok((rows.into_iter().map(|r| r.1).collect(), readout))
}

fn ids(rows: &[Vec<Option<String>>]) -> Vec<String> {
    rows.iter().map(|r| r[0].clone().unwrap_or_default()).collect()
}

const ARRAY: &str = "[\n{\"id\": \"a\", \"nested\": {\"x\": 1}},\n{\"id\": \"b\", \"s\": \"},{\\\"id\\\": 9}\"}\n]\n";
const LINES: &str =
    "{\"id\": \"a\", \"nested\": {\"x\": 1}}\n{\"id\": \"b\", \"s\": \"},{\\\"id\\\": 9}\"}\n";

#[test]
fn arrays_lines_and_compression_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(ARRAY.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    let zst = zstd::encode_all(LINES.as_bytes(), 3).unwrap();
    for (name, bytes) in [
        ("a.json", ARRAY.as_bytes()),
        ("b.jsonl", LINES.as_bytes()),
        ("c.json.gz", &gz[..]),
        ("d.zst", &zst[..]),
    ] {
        let input = write_file(&dir, name, bytes);
        let (rows, readout) = read_all(&[input], &ReadOptions::default()).unwrap();
        assert_eq!(ids(&rows), ["a", "b"], "{name}");
        assert_eq!(rows[0][2].as_deref(), Some("1"), "{name}: nested path");
        assert_eq!(readout.records, 2);
    }
}

#[test]
fn empty_inputs_have_no_records() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [("e1", ""), ("e2", " \n"), ("e3", "[]"), ("e4", " [ ] \n")] {
        let input = write_file(&dir, name, text.as_bytes());
        let (rows, _) = read_all(&[input], &ReadOptions::default()).unwrap();
        assert!(rows.is_empty(), "{name}");
    }
}

#[test]
fn syntax_errors_name_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_file(&dir, "bad.json", b"[\n{\"id\": \"a\"},\n{\"id\": tru}\n]");
    let err = read_all(&[input], &ReadOptions::default()).err().unwrap();
    let msg = err.to_string();
    assert!(msg.ends_with("bad.json: line 3, column 8: malformed JSON: invalid literal (expected true, false or null)"), "{msg}");

    let input = write_file(&dir, "trail.json", b"[{\"id\": \"a\"}] x");
    let msg = read_all(&[input], &ReadOptions::default()).err().unwrap().to_string();
    assert!(
        msg.contains("line 1, column 15: malformed JSON: unexpected data after the closing ']'"),
        "{msg}"
    );

    let input = write_file(&dir, "cut.json", b"[{\"id\": \"a\"},");
    let msg = read_all(&[input], &ReadOptions::default()).err().unwrap().to_string();
    assert!(msg.contains("unexpected end of input"), "{msg}");

    let input = write_file(&dir, "scalar.json", b"[1, 2]");
    let msg = read_all(&[input], &ReadOptions::default()).err().unwrap().to_string();
    assert!(msg.contains("expected a JSON object (a record)"), "{msg}");
}

#[test]
fn record_errors_name_the_record_and_skipping_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let text = b"{\"id\": \"a\"}\n{\"id\": \"b\", \"bad\": 1}\n{\"id\": \"c\"}\n{oops}\n{\"id\": \"d\", \"bad\": 2}\n";
    let input = write_file(&dir, "r.jsonl", text);
    let err = read_all(std::slice::from_ref(&input), &ReadOptions::default()).err().unwrap();
    assert!(
        err.to_string().ends_with("r.jsonl: record 2, line 2, column 1: field 'bad': present"),
        "{err}"
    );

    let options = ReadOptions { skip_invalid: true, ..Default::default() };
    let (rows, readout) = read_all(&[input], &options).unwrap();
    assert_eq!(ids(&rows), ["a", "c"]);
    assert_eq!(readout.skipped.total, 3);
    assert_eq!(readout.skipped.by_cause["invalid field 'bad'"], 2);
    assert_eq!(readout.skipped.by_cause["malformed JSON"], 1);
    let (first, why) = readout.skipped.first.clone().unwrap();
    assert_eq!((first.record, first.line), (Some(2), Some(2)));
    assert_eq!(why, "field 'bad': present");
}

#[test]
fn stream_errors_are_located_too() {
    let dir = tempfile::tempdir().unwrap();
    let text = "{\"id\": \"a\"}\n{\"id\": \"b\", \"bad\": 1}\n";
    let gz = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(text.as_bytes()).unwrap();
        e.finish().unwrap()
    };
    let input = write_file(&dir, "r.jsonl.gz", &gz);
    let err = read_all(std::slice::from_ref(&input), &ReadOptions::default()).err().unwrap();
    assert!(
        err.to_string().ends_with("r.jsonl.gz: record 2, line 2, column 1: field 'bad': present"),
        "{err}"
    );

    // A truncated gzip file is an error, not a panic and not a silent short read.
    let input = write_file(&dir, "cut.json.gz", &gz[..gz.len() - 6]);
    let err = read_all(&[input], &ReadOptions::default()).err().unwrap();
    assert!(matches!(err, ReadError::Decompress { format: "gzip", .. }), "{err}");
}

#[test]
fn invalid_utf8_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_file(&dir, "u.json", b"[{\"id\": \"a\xff\"}]");
    let err = read_all(&[input], &ReadOptions::default()).err().unwrap();
    assert_eq!(err.to_string().rsplit(": ").next(), Some("invalid UTF-8"), "{err}");
    let zst = zstd::encode_all(&b"{\"id\": \"\xc3\"}\n"[..], 3).unwrap();
    let input = write_file(&dir, "u.zst", &zst);
    let err = read_all(&[input], &ReadOptions::default()).err().unwrap();
    assert!(matches!(err, ReadError::Encoding { .. }), "{err}");
}

#[test]
fn utf8_boundaries() {
    assert_eq!(utf8_boundary(b"abc"), 3);
    assert_eq!(utf8_boundary("aé".as_bytes()), 3);
    assert_eq!(utf8_boundary(&"aé".as_bytes()[..2]), 1);
    assert_eq!(utf8_boundary(&"a😀".as_bytes()[..4]), 1);
    assert_eq!(utf8_boundary("a😀".as_bytes()), 5);
    assert_eq!(utf8_boundary(b""), 0);
}

/// Renders records as a JSON document in one of four layouts.
fn render(records: &[(String, Option<i64>, String)], lines: bool, pretty: bool) -> String {
    let docs: Vec<String> = records
        .iter()
        .map(|(id, x, junk)| {
            let mut v = serde_json::json!({ "id": id, "junk": junk });
            if let Some(x) = x {
                v["nested"] = serde_json::json!({ "x": x });
            }
            if pretty { serde_json::to_string_pretty(&v).unwrap() } else { v.to_string() }
        })
        .collect();
    if lines { docs.join("\n") + "\n" } else { format!("[\n{}\n]", docs.join(",\n")) }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Parallel chunks with wrong guesses (record-like text inside strings) read exactly what
    /// one sequential scan reads.
    #[test]
    fn chunked_reading_equals_sequential(
        records in prop::collection::vec(("[a-z]{1,6}", prop::option::of(any::<i64>()), prop_oneof![Just("},{\"id\": \"x\"}".to_string()), Just("}\n{".to_string()), "[ -~]{0,30}".prop_map(String::from)]), 0..200),
        lines in any::<bool>(),
        pretty in any::<bool>(),
        min_chunk in 16usize..2048,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let text = render(&records, lines, pretty);
        let input = write_file(&dir, "p.json", text.as_bytes());
        let sequential = ReadOptions { chunks_per_thread: 1, min_chunk_bytes: usize::MAX / 4, ..Default::default() };
        let chunked = ReadOptions { chunks_per_thread: 64, min_chunk_bytes: min_chunk, ..Default::default() };
        let (want, _) = read_all(std::slice::from_ref(&input), &sequential).unwrap();
        let (got, readout) = read_all(std::slice::from_ref(&input), &chunked).unwrap();
        prop_assert_eq!(&got, &want);
        prop_assert_eq!(readout.records as usize, records.len());
        prop_assert_eq!(ids(&got), records.iter().map(|r| r.0.clone()).collect::<Vec<_>>());
        // The same through the streaming path.
        let zst = zstd::encode_all(text.as_bytes(), 1).unwrap();
        let zinput = write_file(&dir, "p.zst", &zst);
        let (streamed, _) = read_all(&[zinput], &sequential).unwrap();
        prop_assert_eq!(&streamed, &want);
    }
}

#[test]
fn records_larger_than_a_stream_block() {
    // Records of 1.2 MB of two-byte characters: they straddle blocks and UTF-8 cuts.
    let dir = tempfile::tempdir().unwrap();
    let big = "é".repeat(600_000);
    let text = format!(
        "{{\"id\": \"a\", \"s\": \"{big}\"}}\n{{\"id\": \"b\", \"s\": \"{big}\"}}\n{{\"id\": \"c\"}}\n"
    );
    let zst = zstd::encode_all(text.as_bytes(), 1).unwrap();
    let input = write_file(&dir, "big.zst", &zst);
    let (rows, readout) = read_all(&[input], &ReadOptions::default()).unwrap();
    assert_eq!(ids(&rows), ["a", "b", "c"]);
    assert_eq!(readout.bytes, text.len() as u64);
}

#[test]
fn record_like_text_inside_strings_is_a_wrong_guess_that_gets_fixed() {
    let text = b"[{\"id\": \"a\", \"s\": \"},{\\\"id\\\": 1}\"}, {\"id\": \"b\"}]";
    let guess = find_record_start(text, 1, Layout::Array).unwrap();
    // The first candidate is inside the string of record "a".
    assert!(guess < 30, "{guess}");
    let dir = tempfile::tempdir().unwrap();
    let input = write_file(&dir, "g.json", text);
    let options = ReadOptions { chunks_per_thread: 64, min_chunk_bytes: 1, ..Default::default() };
    let (rows, _) = read_all(&[input], &options).unwrap();
    assert_eq!(ids(&rows), ["a", "b"]);
}
