//! The pure parts of `crest run`, crest's always-on service.
//!
//! The service wires sources → events → pipelines → findings → sinks from one config file
//! ([`config`]). This crate holds what needs no I/O: the typed, validated config, the
//! [`Finding`] every pipeline reports, the event accessors and filters ([`event`]), and the
//! pipelines themselves ([`series`], [`peaks`], either as a [`Pipeline`]), whose state
//! serialises so that the service can checkpoint it and resume exactly where it stopped.
//! Files, sockets, threads and clocks live in the `crest` binary.

pub mod config;
pub mod event;
pub mod finding;
pub mod peaks;
pub mod pipeline;
pub mod series;

pub use config::{Config, ConfigError};
pub use finding::{Finding, Fnv1a, Severity};
pub use pipeline::Pipeline;
