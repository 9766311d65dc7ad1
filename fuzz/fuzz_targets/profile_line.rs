//! Arbitrary text as one `crest profile collect` JSON line: the key scanner must accept
//! what serde_json accepts as an object (and only valid JSON beyond), and the scanned fields
//! must read as the decoded document's (what every profile sees), nested paths included; the
//! stored text must decode to the same document.
#![no_main]

use std::sync::Arc;

use crest_profile::value::{Doc, FieldPath, Fields, Keys, Scanned, canonical};
use crest_sources::KeyScanner;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let paths = ["a", "b.c", "user", "n", "a.0", "x"].map(FieldPath::dotted);
    let keys = Arc::new(Keys::new(paths.iter().flat_map(FieldPath::top_keys)));
    let scanner = KeyScanner::new(keys.names());
    let scanned = scanner.scan(text.as_bytes());
    let parsed = serde_json::from_str::<Value>(text);
    match (&scanned, &parsed) {
        (Ok(raw), Ok(v)) if v.is_object() => {
            // serde_json refuses only numbers beyond f64 and nesting deeper than 128.
            let Ok(fields) = Scanned::new(&keys, raw.clone(), text) else {
                return;
            };
            for path in &paths {
                assert_eq!(canonical(path.get(&fields)), canonical(path.get(v)), "{path:?}");
            }
            let (got, want) = (fields.field("x"), v.field("x"));
            assert_eq!(got.map(|f| f.to_value()), want.map(|f| f.to_value()));
            let doc = Doc::Text { text: Arc::from(text), span: 0..text.len() };
            assert_eq!(doc.to_value().as_ref(), v);
        }
        (Ok(_), Ok(v)) => panic!("the scanner took a non-object: {v}"),
        (Ok(_), Err(e)) => {
            // Valid JSON serde_json refuses: nesting beyond its limit, numbers beyond f64 (in a
            // field no profile reads; in one that is read, Projected::new refuses it).
            let e = e.to_string();
            assert!(
                e.contains("recursion limit") || e.contains("number out of range"),
                "accepted invalid JSON: {e}"
            );
        }
        (Err(_), Ok(v)) => assert!(!v.is_object(), "refused a valid object"),
        (Err(_), Err(_)) => {}
    }
});
