//! Synthetic Zeek `conn.log` traffic of a small office, with planted threats, for the flow
//! analyzer's examples, tests and benchmarks.
//!
//! Benign: every internal host (`192.168.1.10` up) browses a few hundred external servers
//! (Zipf-popular, HTTPS mostly), asks the internal resolver `192.168.1.1` for names, and checks
//! the software-update server `13.107.4.52:80` every hour like clockwork — a periodic, *benign*
//! pattern every host shares. Activity follows the working day; a few connections fail.
//!
//! Planted ([`Planted`]; only when the log spans at least 24 hours):
//! - a beacon: `192.168.1.23 → 185.100.87.202:443` every 300 ± 15 s, ~420-byte requests;
//! - a horizontal scan: `192.168.1.66 → 192.168.2.1–254` on 445/tcp, in hour 5;
//! - a vertical scan: `45.155.205.233 → 192.168.1.15`, 300 ports rejected, in hour 9;
//! - a long connection: `192.168.1.40 → 203.0.113.50:22`, 20 hours from hour 2;
//! - a blacklisted peer: `192.168.1.77 → 91.92.109.126:8080`, a dozen connections in hour 12,
//!   and one probe of port 81 (an "interesting" port).
//!
//! Rows are written hour by hour in time order, so memory stays flat however long the log.

use std::io::{self, Write};

use crate::Rng;

/// 2026-11-02 00:00:00 UTC, in seconds.
pub const NOV_2_2026_S: i64 = 1_793_577_600;

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowLogSpec {
    /// Internal hosts (at most 240).
    pub hosts: u32,
    /// Hours of traffic.
    pub hours: u32,
    /// Benign connections per host per busy hour (night hours get a fifth).
    pub conns_per_host_hour: u32,
    /// Random seed.
    pub seed: u64,
    /// First hour, epoch seconds.
    pub start_s: i64,
    /// Whether to plant the threats (needs `hours >= 24`).
    pub plant: bool,
}

impl Default for FlowLogSpec {
    fn default() -> FlowLogSpec {
        FlowLogSpec {
            hosts: 20,
            hours: 26,
            conns_per_host_hour: 30,
            seed: 11,
            start_s: NOV_2_2026_S,
            plant: true,
        }
    }
}

/// The planted threats' addresses, as the README and tests name them.
pub struct Planted;

impl Planted {
    /// The beaconing host.
    pub const BEACON_SRC: &'static str = "192.168.1.23";
    /// Its command-and-control server (port 443).
    pub const BEACON_DST: &'static str = "185.100.87.202";
    /// The host scanning 192.168.2.0/24 on 445/tcp.
    pub const SCANNER: &'static str = "192.168.1.66";
    /// The external host scanning ports of [`Planted::VSCAN_TARGET`].
    pub const VSCANNER: &'static str = "45.155.205.233";
    /// The target of the vertical scan.
    pub const VSCAN_TARGET: &'static str = "192.168.1.15";
    /// The host with a 20-hour SSH session.
    pub const LONG_SRC: &'static str = "192.168.1.40";
    /// The SSH server.
    pub const LONG_DST: &'static str = "203.0.113.50";
    /// The host talking to a blacklisted address.
    pub const BLACKLISTED_SRC: &'static str = "192.168.1.77";
    /// The blacklisted address (listed in `examples/flows/blacklist.txt`).
    pub const BLACKLISTED_DST: &'static str = "91.92.109.126";
    /// The benign update server every host polls hourly.
    pub const UPDATES: &'static str = "13.107.4.52";
}

/// The Zeek TSV header of the generated logs.
pub const ZEEK_HEADER: &str = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n#open\t2026-11-02-00-00-00\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents\n#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]\n";

/// One connection before formatting.
#[derive(Clone, Debug)]
struct Conn {
    ts_us: i64,
    src: [u8; 4],
    sport: u16,
    dst: [u8; 4],
    dport: u16,
    udp: bool,
    service: &'static str,
    dur_us: Option<i64>,
    orig_bytes: u64,
    resp_bytes: u64,
    state: &'static str,
}

/// External servers of the benign pool: 300 addresses in a few provider ranges.
fn server(i: u64) -> [u8; 4] {
    const NETS: [[u8; 2]; 6] = [[151, 101], [142, 250], [104, 16], [52, 84], [23, 45], [172, 217]];
    let net = NETS[(i % 6) as usize];
    [net[0], net[1], (i / 6 % 200) as u8 + 1, (i * 37 % 250) as u8 + 2]
}

/// A Zipf-ish pick in `[0, n)`: low indices are much more popular.
fn zipf(rng: &mut Rng, n: u64) -> u64 {
    let u = rng.unit();
    ((n as f64).powf(u) - 1.0) as u64 % n
}

/// An exponential draw with the given mean.
fn exp(rng: &mut Rng, mean: f64) -> f64 {
    -mean * (1.0 - rng.unit()).ln()
}

fn host(i: u32) -> [u8; 4] {
    [192, 168, 1, 10 + (i % 240) as u8]
}

fn ip(s: &str) -> [u8; 4] {
    let mut out = [0u8; 4];
    for (o, p) in out.iter_mut().zip(s.split('.')) {
        *o = p.parse().expect("a planted IPv4 address");
    }
    out
}

/// Writes the log, returning how many connection rows it holds.
pub fn zeek_conn_log(spec: &FlowLogSpec, out: &mut impl Write) -> io::Result<u64> {
    out.write_all(ZEEK_HEADER.as_bytes())?;
    let mut benign = Rng::new(spec.seed);
    let mut planted = Rng::new(spec.seed ^ 0x5eed_f10e);
    let mut uids = Rng::new(spec.seed ^ 0x01d5);
    let plant = spec.plant && spec.hours >= 24;
    // Each host polls for updates at its own minute of the hour.
    let update_phase: Vec<i64> = (0..spec.hosts).map(|_| benign.below(3600) as i64).collect();
    let mut beacon_next = spec.start_s * 1_000_000 + 17_000_000;
    let mut rows = 0u64;
    let mut line = String::with_capacity(256);
    for hour in 0..spec.hours {
        let h0 = spec.start_s + hour as i64 * 3600;
        let hour_of_day = (h0.rem_euclid(86_400) / 3600) as u32;
        let busy = (8..19).contains(&hour_of_day);
        let mut conns: Vec<Conn> = Vec::new();
        for h in 0..spec.hosts {
            let src = host(h);
            let n = if busy { spec.conns_per_host_hour } else { spec.conns_per_host_hour / 5 };
            for _ in 0..n {
                let ts_us = h0 * 1_000_000 + benign.below(3_600_000_000) as i64;
                let sport = 49_152 + benign.below(16_000) as u16;
                let kind = benign.below(100);
                let failed = benign.below(100);
                let state = if failed < 2 {
                    "S0"
                } else if failed < 3 {
                    "REJ"
                } else {
                    "SF"
                };
                let ok = state == "SF";
                let conn = if kind < 15 {
                    Conn {
                        ts_us,
                        src,
                        sport,
                        dst: [192, 168, 1, 1],
                        dport: 53,
                        udp: true,
                        service: "dns",
                        dur_us: Some((exp(&mut benign, 0.02) * 1e6) as i64),
                        orig_bytes: 30 + benign.below(40),
                        resp_bytes: 60 + benign.below(200),
                        state: "SF",
                    }
                } else {
                    let https = kind < 85;
                    Conn {
                        ts_us,
                        src,
                        sport,
                        dst: server(zipf(&mut benign, 300)),
                        dport: if https { 443 } else { 80 },
                        udp: false,
                        service: if !ok {
                            "-"
                        } else if https {
                            "ssl"
                        } else {
                            "http"
                        },
                        dur_us: ok.then(|| (exp(&mut benign, 4.0) * 1e6) as i64),
                        orig_bytes: if ok { (exp(&mut benign, 900.0) + 200.0) as u64 } else { 0 },
                        resp_bytes: if ok {
                            (exp(&mut benign, 40_000.0) + 500.0) as u64
                        } else {
                            0
                        },
                        state,
                    }
                };
                conns.push(conn);
            }
            // The hourly update check: benign, periodic and shared by every host.
            conns.push(Conn {
                ts_us: (h0 + update_phase[h as usize]) * 1_000_000
                    + benign.below(20_000_000) as i64,
                src,
                sport: 49_152 + benign.below(16_000) as u16,
                dst: ip(Planted::UPDATES),
                dport: 80,
                udp: false,
                service: "http",
                dur_us: Some(200_000 + benign.below(100_000) as i64),
                orig_bytes: 310,
                resp_bytes: 1_450 + benign.below(10),
                state: "SF",
            });
        }
        if plant {
            plant_hour(&mut conns, &mut planted, hour, h0, &mut beacon_next);
        }
        conns.sort_by(|a, b| {
            a.ts_us.cmp(&b.ts_us).then(a.src.cmp(&b.src)).then(a.sport.cmp(&b.sport))
        });
        for c in &conns {
            line.clear();
            format_row(&mut line, c, &mut uids);
            out.write_all(line.as_bytes())?;
        }
        rows += conns.len() as u64;
    }
    out.write_all(b"#close\t2026-11-03-02-00-00\n")?;
    Ok(rows)
}

/// Adds the planted threats of one hour.
fn plant_hour(conns: &mut Vec<Conn>, rng: &mut Rng, hour: u32, h0: i64, beacon_next: &mut i64) {
    let end_us = (h0 + 3600) * 1_000_000;
    while *beacon_next < end_us {
        conns.push(Conn {
            ts_us: *beacon_next,
            src: ip(Planted::BEACON_SRC),
            sport: 49_152 + rng.below(16_000) as u16,
            dst: ip(Planted::BEACON_DST),
            dport: 443,
            udp: false,
            service: "ssl",
            dur_us: Some(300_000 + rng.below(50_000) as i64),
            orig_bytes: 360 + rng.below(8),
            resp_bytes: 1_180 + rng.below(40),
            state: "SF",
        });
        *beacon_next += (285 + rng.below(31) as i64) * 1_000_000 + rng.below(1_000_000) as i64;
    }
    let at = |s: i64| h0 * 1_000_000 + s * 1_000_000;
    match hour {
        2 => conns.push(Conn {
            ts_us: at(600),
            src: ip(Planted::LONG_SRC),
            sport: 51_000,
            dst: ip(Planted::LONG_DST),
            dport: 22,
            udp: false,
            service: "ssh",
            dur_us: Some(20 * 3_600_000_000),
            orig_bytes: 2_400_000,
            resp_bytes: 31_000_000,
            state: "SF",
        }),
        5 => {
            for t in 1..=254u8 {
                conns.push(Conn {
                    ts_us: at(1200) + t as i64 * 350_000,
                    src: ip(Planted::SCANNER),
                    sport: 40_000 + t as u16,
                    dst: [192, 168, 2, t],
                    dport: 445,
                    udp: false,
                    service: "-",
                    dur_us: None,
                    orig_bytes: 0,
                    resp_bytes: 0,
                    state: if rng.below(4) == 0 { "REJ" } else { "S0" },
                });
            }
        }
        9 => {
            for p in 0..300u16 {
                conns.push(Conn {
                    ts_us: at(2400) + p as i64 * 120_000,
                    src: ip(Planted::VSCANNER),
                    sport: 61_000,
                    dst: ip(Planted::VSCAN_TARGET),
                    dport: 1 + p * 7 % 10_000,
                    udp: false,
                    service: "-",
                    dur_us: None,
                    orig_bytes: 0,
                    resp_bytes: 0,
                    state: "REJ",
                });
            }
        }
        12 => {
            for k in 0..12 {
                conns.push(Conn {
                    ts_us: at(300 + k * 240 + rng.below(60) as i64),
                    src: ip(Planted::BLACKLISTED_SRC),
                    sport: 50_000 + k as u16,
                    dst: ip(Planted::BLACKLISTED_DST),
                    dport: 8080,
                    udp: false,
                    service: "http",
                    dur_us: Some(1_000_000 + rng.below(2_000_000) as i64),
                    orig_bytes: 800 + rng.below(400),
                    resp_bytes: 20_000 + rng.below(90_000),
                    state: "SF",
                });
            }
            conns.push(Conn {
                ts_us: at(3300),
                src: ip(Planted::BLACKLISTED_SRC),
                sport: 50_100,
                dst: ip(Planted::BLACKLISTED_DST),
                dport: 81,
                udp: false,
                service: "-",
                dur_us: None,
                orig_bytes: 0,
                resp_bytes: 0,
                state: "S0",
            });
        }
        _ => {}
    }
}

/// Formats one Zeek TSV row.
fn format_row(line: &mut String, c: &Conn, uids: &mut Rng) {
    use std::fmt::Write as _;
    const B62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut uid = [b'C'; 18];
    let mut r = uids.next_u64();
    for b in &mut uid[1..12] {
        *b = B62[(r % 62) as usize];
        r /= 62;
    }
    let mut r = uids.next_u64();
    for b in &mut uid[12..] {
        *b = B62[(r % 62) as usize];
        r /= 62;
    }
    let uid = std::str::from_utf8(&uid).expect("ASCII");
    let [a, b, cc, d] = c.src;
    let [e, f, g, h] = c.dst;
    let internal = |ip: [u8; 4]| if ip[0] == 192 && ip[1] == 168 { "T" } else { "F" };
    let (history, opk, rpk) = match c.state {
        "S0" => ("S", 1 + (c.ts_us % 2) as u64, 0),
        "REJ" => ("Sr", 1, 1),
        _ if c.udp => ("Dd", 1, 1),
        _ => ("ShADadFf", 4 + c.orig_bytes / 1400, 3 + c.resp_bytes / 1400),
    };
    let hdr = if c.udp { 28 } else { 40 };
    let _ = write!(
        line,
        "{}.{:06}\t{uid}\t{a}.{b}.{cc}.{d}\t{}\t{e}.{f}.{g}.{h}\t{}\t{}\t{}\t",
        c.ts_us.div_euclid(1_000_000),
        c.ts_us.rem_euclid(1_000_000),
        c.sport,
        c.dport,
        if c.udp { "udp" } else { "tcp" },
        c.service,
    );
    match c.dur_us {
        Some(d) => {
            let _ = write!(
                line,
                "{}.{:06}\t{}\t{}\t",
                d / 1_000_000,
                d % 1_000_000,
                c.orig_bytes,
                c.resp_bytes
            );
        }
        None => line.push_str("-\t-\t-\t"),
    }
    let _ = writeln!(
        line,
        "{}\t{}\t{}\t0\t{history}\t{opk}\t{}\t{rpk}\t{}\t-",
        c.state,
        internal(c.src),
        internal(c.dst),
        c.orig_bytes + opk * hdr,
        c.resp_bytes + rpk * hdr,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_sorted_and_planted() {
        let spec = FlowLogSpec { hosts: 4, conns_per_host_hour: 10, ..FlowLogSpec::default() };
        let mut a = Vec::new();
        let rows = zeek_conn_log(&spec, &mut a).unwrap();
        let mut b = Vec::new();
        zeek_conn_log(&spec, &mut b).unwrap();
        assert_eq!(a, b);
        let text = String::from_utf8(a).unwrap();
        let data: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(data.len() as u64, rows);
        let ts: Vec<f64> =
            data.iter().map(|l| l.split('\t').next().unwrap().parse().unwrap()).collect();
        assert!(ts.windows(2).all(|w| w[0] <= w[1]));
        assert!(data.iter().all(|l| l.split('\t').count() == 21));
        let beacons = data.iter().filter(|l| l.contains("\t185.100.87.202\t443\t")).count();
        assert!((300..320).contains(&beacons), "{beacons} beacon rows");
        assert_eq!(
            data.iter().filter(|l| l.contains("\t192.168.1.66\t") && l.contains("\t445\t")).count(),
            254
        );
    }
}
