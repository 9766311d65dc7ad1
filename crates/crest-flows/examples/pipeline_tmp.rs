//! TEMPORARY (crest-flows perf work): read + Analysis over a Zeek file, like `crest flows`. Delete me.
#![allow(missing_docs)]
use std::io::BufReader;
use std::time::Instant;

use crest_flows::analysis::{Analysis, AnalysisConfig};
use crest_flows::read::{Format, ReadOptions, read_flows};

fn main() {
    let path = std::env::args().nth(1).unwrap();
    let t = Instant::now();
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<crest_flows::flow::Flow>>(8);
    let reader = std::thread::spawn(move || {
        let file = std::fs::File::open(path).unwrap();
        let mut batch = Vec::with_capacity(8192);
        read_flows(
            BufReader::with_capacity(1 << 20, file),
            "x",
            Format::Zeek,
            &ReadOptions::default(),
            &mut |f| {
                batch.push(f);
                if batch.len() == 8192 {
                    tx.send(std::mem::replace(&mut batch, Vec::with_capacity(8192))).unwrap();
                }
            },
        )
        .unwrap();
        tx.send(batch).unwrap();
    });
    let mut a = Analysis::new(AnalysisConfig::default()).unwrap();
    let mut n = 0usize;
    for b in rx {
        n += b.len();
        a.observe_batch(&b);
    }
    reader.join().unwrap();
    let out = a.finish();
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{n} flows in {secs:.2} s: {:.2} M rows/s; {} evidence",
        n as f64 / secs / 1e6,
        out.report.evidence.len()
    );
}
