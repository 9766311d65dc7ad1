//! Reader throughput in flows per second on one core: a synthetic Zeek `conn.log` (TSV rows
//! of ~240 bytes: the 21 standard columns plus `_node_name`, `community_id` and the MAC
//! addresses, IPv4 and some IPv6), and the same flows as Zeek JSON lines.
//! Run: `cargo bench -p crest-flows --bench read`.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::fmt::Write;

use crest_flows::read::{Format, ReadOptions, read_flows};
use crest_testing::Rng;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const HEADER: &str = "#separator \\x09
#set_separator\t,
#empty_field\t(empty)
#unset_field\t-
#path\tconn
#open\t2024-04-19-00-00-01
#fields\t_node_name\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents\tcommunity_id\torig_l2_addr\tresp_l2_addr
#types\tstring\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]\tstring\tstring\tstring
";

/// One synthetic flow's fields, shared by the TSV and JSON forms.
struct Row {
    ts: f64,
    uid: String,
    src: String,
    sport: u64,
    dst: String,
    dport: u64,
    proto: &'static str,
    service: &'static str,
    duration: f64,
    orig_bytes: u64,
    resp_bytes: u64,
    state: &'static str,
    history: &'static str,
    orig_pkts: u64,
    resp_pkts: u64,
}

fn rows(n: usize) -> Vec<Row> {
    let mut rng = Rng::new(7);
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..n)
        .map(|i| {
            let uid: String = std::iter::once('C')
                .chain((0..17).map(|_| alphabet[rng.below(62) as usize] as char))
                .collect();
            let v6 = rng.below(10) == 0;
            let (src, dst) = if v6 {
                (
                    format!("2001:db8:{:x}::{:x}", rng.below(65536), rng.below(65536)),
                    format!("2a00:1450:400c:c00::{:x}", rng.below(256)),
                )
            } else {
                (
                    format!("10.{}.{}.{}", rng.below(256), rng.below(256), rng.below(256)),
                    format!(
                        "{}.{}.{}.{}",
                        rng.below(224),
                        rng.below(256),
                        rng.below(256),
                        rng.below(256)
                    ),
                )
            };
            let (proto, service, dport) = match rng.below(4) {
                0 => ("udp", "dns", 53),
                1 => ("tcp", "ssl", 443),
                2 => ("tcp", "http", 80),
                _ => ("tcp", "-", 1024 + rng.below(60000)),
            };
            let (state, history) = if rng.below(5) == 0 { ("S0", "S") } else { ("SF", "ShADadFf") };
            Row {
                ts: 1_713_484_800.0 + i as f64 * 0.013 + rng.below(1_000_000) as f64 * 1e-6,
                uid,
                src,
                sport: 1024 + rng.below(64000),
                dst,
                dport,
                proto,
                service,
                duration: rng.below(100_000_000) as f64 * 1e-6,
                orig_bytes: rng.below(100_000),
                resp_bytes: rng.below(1_000_000),
                state,
                history,
                orig_pkts: 1 + rng.below(500),
                resp_pkts: rng.below(800),
            }
        })
        .collect()
}

fn tsv(rows: &[Row]) -> Vec<u8> {
    let mut s = String::from(HEADER);
    for r in rows {
        writeln!(
            s,
            "worker-eth0-1\t{:.6}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{:.6}\t{}\t{}\t{}\tT\tF\t0\t{}\t{}\t{}\t{}\t{}\t(empty)\t1:{}=\tc4:23:60:3d:fd:d3\t50:78:b3:b0:08:ec",
            r.ts,
            r.uid,
            r.src,
            r.sport,
            r.dst,
            r.dport,
            r.proto,
            r.service,
            r.duration,
            r.orig_bytes,
            r.resp_bytes,
            r.state,
            r.history,
            r.orig_pkts,
            r.orig_bytes + 40 * r.orig_pkts,
            r.resp_pkts,
            r.resp_bytes + 40 * r.resp_pkts,
            &r.uid[1..],
        )
        .unwrap();
    }
    s.push_str("#close\t2024-04-19-01-00-00\n");
    s.into_bytes()
}

fn json(rows: &[Row]) -> Vec<u8> {
    let mut s = String::new();
    for r in rows {
        writeln!(
            s,
            r#"{{"ts":{:.6},"uid":"{}","id.orig_h":"{}","id.orig_p":{},"id.resp_h":"{}","id.resp_p":{},"proto":"{}","service":"{}","duration":{:.6},"orig_bytes":{},"resp_bytes":{},"conn_state":"{}","local_orig":true,"local_resp":false,"missed_bytes":0,"history":"{}","orig_pkts":{},"orig_ip_bytes":{},"resp_pkts":{},"resp_ip_bytes":{}}}"#,
            r.ts,
            r.uid,
            r.src,
            r.sport,
            r.dst,
            r.dport,
            r.proto,
            r.service,
            r.duration,
            r.orig_bytes,
            r.resp_bytes,
            r.state,
            r.history,
            r.orig_pkts,
            r.orig_bytes + 40 * r.orig_pkts,
            r.resp_pkts,
            r.resp_bytes + 40 * r.resp_pkts,
        )
        .unwrap();
    }
    s.into_bytes()
}

fn read(c: &mut Criterion) {
    const N: usize = 200_000;
    let rows = rows(N);
    let mut group = c.benchmark_group("read");
    group.sample_size(10);
    group.throughput(Throughput::Elements(N as u64));
    for (name, data) in [("zeek_tsv_conn_200k", tsv(&rows)), ("zeek_json_conn_200k", json(&rows))] {
        println!("{name}: {} bytes, {:.0} bytes per row", data.len(), data.len() as f64 / N as f64);
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut bytes = 0u64;
                let stats = read_flows(
                    &data[..],
                    "bench",
                    Format::Zeek,
                    &ReadOptions::default(),
                    &mut |f| bytes += f.bytes_up(),
                )
                .unwrap();
                assert_eq!(stats.rows, N as u64);
                bytes
            })
        });
    }
    group.finish();
}

criterion_group!(benches, read);
criterion_main!(benches);
