//! Arbitrary bytes through the Zeek readers (`conn.log` and `dns.log`, TSV and JSON lines),
//! strict and skipping: any outcome but a panic is fine, and the counts must match what the
//! sink received.
#![no_main]

use crest_flows::read::{Format, ReadOptions, read_dns, read_flows};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for skip_invalid in [false, true] {
        let options = ReadOptions { skip_invalid };
        let mut flows = 0u64;
        if let Ok(stats) = read_flows(data, "fuzz", Format::Zeek, &options, &mut |_| flows += 1) {
            assert_eq!(stats.rows, flows);
            assert!(skip_invalid || stats.skipped == 0);
        }
        let mut queries = 0u64;
        if let Ok(stats) = read_dns(data, "fuzz", &options, &mut |_| queries += 1) {
            assert_eq!(stats.rows, queries);
        }
    }
});
