//! The core of crest: the vocabulary every detector, source and sink shares.
//!
//! crest moves telemetry left to right: **sources** decode files and streams into records,
//! **detectors** turn records into findings using state they remember between runs, and
//! **sinks** write the findings out, with a **state store** beside the detectors. This crate
//! holds what all of them agree on and nothing that does I/O:
//!
//! - [`value`]: field values as they come out of a record, borrowed from the input;
//! - [`record`]: records, their positions, and the [`RecordSink`](record::RecordSink) contract;
//! - [`time`]: instants, naive wall-clock times, time zones and calendar-day windows;
//! - [`num`]: numbers that behave exactly like Python's, for byte-exact drop-in outputs;
//! - [`pyjson`]: a JSON writer that produces Python's `json.dump(indent=2, sort_keys=True)`.

pub mod num;
pub mod pyjson;
pub mod record;
pub mod time;
pub mod value;
