//! Long connections, RITA style: per pair, the total duration of the connections active in the
//! window — closed ones from `conn.log` plus still-open ones from `open_conn.log`, each open
//! connection counted once at its longest — reported from 1 hour and bucketed at
//! 1 h / 4 h / 8 h / 12 h.
//!
//! Zeek logs an open connection again in every hourly `open_conn` file, with a growing
//! duration, and finally in `conn.log` once it closes; flows carry no `uid`, so a connection is
//! identified by `(src, src_port, dst, dst_port, proto, ts)` — the start time is logged with
//! the same digits in every row of one connection. The bookkeeping lives in
//! [`Rita`](super::Rita); this module holds the per-pair result and its arithmetic.

use std::net::IpAddr;

use super::stats::{Thresholds, bucket};
use crate::flow::Proto;

/// One pair's long-connection figures, as `crest flows long-conns` lists them.
#[derive(Clone, Debug, PartialEq)]
pub struct LongConnection {
    /// The originator.
    pub src: IpAddr,
    /// The responder.
    pub dst: IpAddr,
    /// Seconds of connection in the window, summed over the pair's connections.
    pub total_duration: f64,
    /// Connections summed (open ones once).
    pub conns: u64,
    /// How many of them were still open.
    pub open_conns: u64,
    /// The longest single connection, seconds.
    pub longest: f64,
    /// Its destination port.
    pub longest_port: u16,
    /// Its protocol.
    pub longest_proto: Proto,
    /// Whether it was still open at its last report.
    pub longest_open: bool,
    /// Its start, epoch seconds.
    pub longest_ts: f64,
    /// Bytes both ways over the summed connections.
    pub bytes: u64,
    /// The bucketed score (0 below the base threshold, then 0.2..0.8).
    pub bucket: f64,
    /// The pair's first connection start (whole input), epoch seconds.
    pub first_ts: f64,
    /// The pair's last connection start (whole input), epoch seconds.
    pub last_ts: f64,
}

impl LongConnection {
    /// An empty tally for a pair.
    pub fn new(src: IpAddr, dst: IpAddr) -> LongConnection {
        LongConnection {
            src,
            dst,
            total_duration: 0.0,
            conns: 0,
            open_conns: 0,
            longest: 0.0,
            longest_port: 0,
            longest_proto: Proto::Tcp,
            longest_open: false,
            longest_ts: 0.0,
            bytes: 0,
            bucket: 0.0,
            first_ts: 0.0,
            last_ts: 0.0,
        }
    }

    /// Adds one connection.
    pub fn add(&mut self, c: &ConnSummary) {
        self.total_duration += c.duration;
        self.conns += c.conns;
        self.bytes += c.bytes;
        if c.open {
            self.open_conns += c.conns;
        }
        if c.longest > self.longest || self.conns == c.conns {
            self.longest = c.longest;
            self.longest_port = c.port;
            self.longest_proto = c.proto;
            self.longest_open = c.open;
            self.longest_ts = c.ts;
        }
    }

    /// Sets [`LongConnection::bucket`] from the total duration.
    pub fn score(&mut self, thresholds: &Thresholds) {
        self.bucket = bucket(self.total_duration, thresholds);
    }

    /// The one-line description used in evidence.
    pub fn describe(&self) -> String {
        format!(
            "Long connection {} → {}: {} in total over {} connection{}; longest {} ({}/{}{})",
            self.src,
            self.dst,
            format_duration(self.total_duration),
            self.conns,
            if self.conns == 1 { "" } else { "s" },
            format_duration(self.longest),
            self.longest_port,
            self.longest_proto,
            if self.longest_open { ", still open" } else { "" },
        )
    }
}

/// One connection (or a tally of several, for evicted strobe rows) to add to a
/// [`LongConnection`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConnSummary {
    /// Seconds, summed.
    pub duration: f64,
    /// The longest single connection, seconds (the duration itself for one connection).
    pub longest: f64,
    /// How many connections this stands for.
    pub conns: u64,
    /// Bytes both ways.
    pub bytes: u64,
    /// Destination port of the longest of them.
    pub port: u16,
    /// Protocol of the longest of them.
    pub proto: Proto,
    /// Whether it was still open.
    pub open: bool,
    /// Start, epoch seconds.
    pub ts: f64,
}

/// `75h 0m 1s`, `12m 5s`, `42.3s`.
pub fn format_duration(secs: f64) -> String {
    if !secs.is_finite() || secs < 60.0 {
        return format!("{secs:.1}s");
    }
    let s = secs.round() as u64;
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    if h > 0 { format!("{h}h {m}m {s}s") } else { format!("{m}m {s}s") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tally_keeps_the_longest() {
        let (a, b) = ("1.1.1.1".parse().unwrap(), "10.0.0.1".parse().unwrap());
        let mut l = LongConnection::new(a, b);
        let c = |duration, port, open| ConnSummary {
            duration,
            longest: duration,
            conns: 1,
            bytes: 10,
            port,
            proto: Proto::Tcp,
            open,
            ts: 0.0,
        };
        l.add(&c(0.5, 80, false));
        l.add(&c(270001.3, 22, true));
        l.add(&c(2.0, 80, false));
        l.score(&Thresholds::LONG_CONNECTION);
        assert_eq!(
            (l.conns, l.open_conns, l.bytes, l.longest_port, l.longest_open),
            (3, 1, 30, 22, true)
        );
        assert!((l.total_duration - 270003.8).abs() < 1e-6);
        assert_eq!(l.bucket, 0.8);
        assert_eq!(
            l.describe(),
            "Long connection 1.1.1.1 → 10.0.0.1: 75h 0m 4s in total over 3 connections; longest 75h 0m 1s (22/tcp, still open)"
        );
        assert_eq!(format_duration(42.26), "42.3s");
        assert_eq!(format_duration(725.0), "12m 5s");
    }
}
