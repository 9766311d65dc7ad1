//! Network flows: one normalised [`Flow`](flow::Flow) record from every format crest reads, and
//! the detectors that hunt in them.
//!
//! - [`read`]: parsers for Zeek `conn.log`/`dns.log` (TSV and JSON), Suricata `eve.json`,
//!   Argus binetflow, NetFlow v5/v9/IPFIX and the seed analyzer's CSV. They take bytes or a
//!   reader; opening files and decompressing them is the caller's business.
//! - [`seed`]: the seed analyzer's checks, with its bugs fixed.
//! - [`rita`]: RITA v5's beacon, strobe, long-connection, DNS-tunnelling and threat-intel
//!   detectors, with its statistics reproduced to the digit.
//! - [`scan`]: horizontal and vertical scans (Zeek's thresholds, Slips' log10 rule) and the
//!   Threshold Random Walk.
//! - [`trust`]: every detector's findings as [`Evidence`](evidence::Evidence), added up per host
//!   and time window into one score and verdict.
//!
//! Detectors are pure: flows in, evidence out, no I/O.

pub mod analysis;
pub mod detect;
pub mod evidence;
pub mod flow;
pub mod net;
pub mod read;
pub mod rita;
pub mod scan;
pub mod seed;
pub mod trust;
