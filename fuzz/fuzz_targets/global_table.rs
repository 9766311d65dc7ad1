//! Arbitrary text as a `global_table.json`: a clear error or a table that writes back.
#![no_main]

use crest_peaks::GlobalTable;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        for depth in 1..=3 {
            if let Ok(table) = GlobalTable::from_json(text, depth) {
                let again = GlobalTable::from_json(&table.to_json(), depth).expect("own output reads back");
                assert_eq!(again.to_json(), table.to_json());
            }
        }
    }
});
