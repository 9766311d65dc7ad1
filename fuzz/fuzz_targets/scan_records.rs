//! Arbitrary bytes through the JSON record reader and the peak accumulator: any outcome but
//! a panic is fine, and an accepted input must have been valid JSON records.
#![no_main]

use crest_core::time::{LocalClock, WallTime};
use crest_peaks::{PeakConfig, PeakPlan, Preset, Window};
use crest_sources::{ReadOptions, read_slice};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let window = Window {
        start: WallTime::parse_cli("2020-11-01").unwrap(),
        end: WallTime::parse_cli("2020-11-08").unwrap(),
    };
    let plan = PeakPlan::new(PeakConfig::preset(Preset::File), window, LocalClock::utc())
        .with_baseline(WallTime::parse_cli("2020-11-05 12:00:00").unwrap());
    for skip_invalid in [false, true] {
        let options = ReadOptions { skip_invalid, ..Default::default() };
        if let Ok(readout) = read_slice(data, "fuzz", &plan.projection(), &options, plan.accumulator()) {
            for part in readout.parts {
                let _ = part.finish();
            }
        }
    }
});
