//! Series: counters over time and the detectors that watch them.
//!
//! Security teams watch counters (connections per host, failed logins per account, DNS
//! queries per domain, bytes out per subnet). This crate holds the pure parts of `crest
//! series`: [`Series`] on a regular grid, Graphite's functions computed exactly as Graphite
//! does ([`graphite`]), and streaming detectors that score every new point in `[0, 1]`.

pub mod check;
pub mod detect;
pub mod extract;
pub mod graphite;
mod series;

pub use series::{DurationError, Series, parse_duration};
