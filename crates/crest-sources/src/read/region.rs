//! Scanning one region of JSON text: the framing (array or JSON Lines) around the records.

use crest_core::record::{Location, Record, RecordOrder, RecordSeq, RecordSink};
use crest_core::value::RawValue;

use super::source::{Buffer, POPULATE_STEP, RELEASE_STEP};
use super::{Ctx, PROGRESS_STEP, PartError};
use crate::read::Skipped;
use crate::scan::{Cursor, ScanError, ScanErrorKind, Slot};

/// Where the framing of the input stands between records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Frame {
    /// Before the first byte: an array or a stream of objects follows.
    Start,
    /// Inside the array, where a record must start.
    ArrayRecord,
    /// Inside the array, after a record: `,` or `]` follows.
    ArrayAfter,
    /// After the closing `]`: only whitespace may follow.
    ArrayClosed,
    /// In a stream of objects, between records.
    Lines,
}

/// Why a region scan stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stop {
    /// Reached the next region: a record starts at `pos` with framing `frame`.
    Handover(usize, Frame),
    /// The buffer ended inside a record starting at `pos`; more input is needed.
    NeedMore(usize, Frame),
    /// The input is complete.
    Done,
    /// An error stopped the scan.
    Failed,
}

/// Mutable state of a region scan.
pub(super) struct RegionState<'a> {
    pub(super) records: u64,
    pub(super) skipped: Skipped,
    pub(super) first_skip_index: Option<u64>,
    pub(super) error: Option<PartError>,
    pub(super) slots: Vec<Slot<'a>>,
    pub(super) values: Vec<Option<RawValue<'a>>>,
    /// Whether scanned bytes count as progress (streams count compressed bytes instead).
    pub(super) count_bytes: bool,
    /// The mapped input, whose pages behind the scan are released as it goes.
    pub(super) mapped: Option<&'a Buffer>,
    /// Up to where pages have been released.
    pub(super) released: usize,
    /// Up to where pages have been faulted in.
    pub(super) populated: usize,
    /// UTF-8 validation of the region, kept just ahead of the scan.
    pub(super) utf8: Option<Utf8Check>,
}

/// Validates a region as UTF-8 in steps, so the check reads bytes while they are hot.
pub(super) struct Utf8Check {
    pub(super) checked: usize,
    pub(super) end: usize,
    pub(super) error: Option<usize>,
}

impl Utf8Check {
    /// Validates up to `to` (capped at the region's end); stops at the first error.
    pub(super) fn advance(&mut self, buf: &[u8], to: usize) {
        let to = to.min(self.end);
        if self.error.is_some() || to <= self.checked {
            return;
        }
        match simdutf8::compat::from_utf8(&buf[self.checked..to]) {
            Ok(_) => self.checked = to,
            // A character cut by the step boundary: resume from its first byte next time.
            Err(e) if e.error_len().is_none() && to < self.end => self.checked += e.valid_up_to(),
            Err(e) => self.error = Some(self.checked + e.valid_up_to()),
        }
    }
}

impl RegionState<'_> {
    pub(super) fn new(nslots: usize) -> Self {
        RegionState {
            records: 0,
            skipped: Skipped::default(),
            first_skip_index: None,
            error: None,
            slots: vec![Slot::EMPTY; nslots],
            values: vec![None; nslots],
            count_bytes: true,
            mapped: None,
            released: 0,
            populated: 0,
            utf8: None,
        }
    }
}

/// Scans records from `pos` until a record would start at or after `end`, the input ends,
/// or more input is needed (when `at_eof` is false). Offsets in `state` are buffer offsets;
/// record orders are `base + offset`.
#[allow(clippy::too_many_arguments)]
pub(super) fn scan_region<'a, S: RecordSink>(
    buf: &'a [u8],
    mut pos: usize,
    end: usize,
    at_eof: bool,
    mut frame: Frame,
    ctx: &Ctx<'_>,
    state: &mut RegionState<'a>,
    sink: &mut S,
    input: u32,
    part: u32,
    base: u64,
) -> Stop {
    let mut cursor = Cursor::new(buf, pos);
    let mut reported = (pos, state.records);
    let fail = |state: &mut RegionState<'a>, err: PartError| {
        state.error = Some(err);
        Stop::Failed
    };
    let stop = loop {
        if let Some(progress) = ctx.progress
            && pos - reported.0 >= PROGRESS_STEP
        {
            let counted =
                if state.count_bytes { pos.min(end).saturating_sub(reported.0) } else { 0 };
            progress.add(counted as u64, state.records - reported.1);
            reported = (pos, state.records);
        }
        if let Some(check) = &mut state.utf8
            && pos + PROGRESS_STEP > check.checked
        {
            check.advance(buf, pos + PROGRESS_STEP);
        }
        if let Some(map) = state.mapped {
            if pos + POPULATE_STEP / 2 > state.populated {
                let from = state.populated.max(pos);
                state.populated = pos + POPULATE_STEP;
                map.populate(from, state.populated);
            }
            if pos >= state.released + RELEASE_STEP {
                map.release(state.released, pos);
                state.released = pos;
            }
        }
        cursor.pos = pos;
        cursor.skip_ws();
        pos = cursor.pos;
        let at_end = pos >= buf.len();
        match frame {
            Frame::Start => {
                if at_end {
                    break if at_eof { Stop::Done } else { Stop::NeedMore(pos, frame) };
                }
                match buf[pos] {
                    b'[' => {
                        pos += 1;
                        cursor.pos = pos;
                        cursor.skip_ws();
                        match cursor.peek() {
                            Ok(b']') => {
                                pos = cursor.pos + 1;
                                frame = Frame::ArrayClosed;
                            }
                            Ok(_) => {
                                pos = cursor.pos;
                                frame = Frame::ArrayRecord;
                            }
                            Err(_) if !at_eof => break Stop::NeedMore(0, Frame::Start),
                            Err(_) => {
                                break fail(
                                    state,
                                    PartError::Syntax {
                                        offset: pos,
                                        message: "unexpected end of input inside the array",
                                    },
                                );
                            }
                        }
                    }
                    b'{' => frame = Frame::Lines,
                    _ => {
                        break fail(
                            state,
                            PartError::Syntax {
                                offset: pos,
                                message: "expected a JSON array of records or JSON Lines objects",
                            },
                        );
                    }
                }
            }
            Frame::ArrayAfter => {
                if at_end {
                    break if at_eof {
                        fail(
                            state,
                            PartError::Syntax {
                                offset: pos,
                                message: "unexpected end of input (expected ',' or ']')",
                            },
                        )
                    } else {
                        Stop::NeedMore(pos, frame)
                    };
                }
                match buf[pos] {
                    b',' => {
                        pos += 1;
                        frame = Frame::ArrayRecord;
                    }
                    b']' => {
                        pos += 1;
                        frame = Frame::ArrayClosed;
                    }
                    _ => {
                        break fail(
                            state,
                            PartError::Syntax {
                                offset: pos,
                                message: "expected ',' or ']' after a record",
                            },
                        );
                    }
                }
            }
            Frame::ArrayClosed => {
                if at_end {
                    break if at_eof { Stop::Done } else { Stop::NeedMore(pos, frame) };
                }
                break fail(
                    state,
                    PartError::Syntax {
                        offset: pos,
                        message: "unexpected data after the closing ']'",
                    },
                );
            }
            Frame::ArrayRecord | Frame::Lines => {
                if at_end {
                    break match (frame, at_eof) {
                        (_, false) => Stop::NeedMore(pos, frame),
                        (Frame::Lines, true) => Stop::Done,
                        _ => fail(
                            state,
                            PartError::Syntax {
                                offset: pos,
                                message: "unexpected end of input (expected a record)",
                            },
                        ),
                    };
                }
                if pos >= end {
                    break Stop::Handover(pos, frame);
                }
                let record_start = pos;
                state.slots.fill(Slot::EMPTY);
                cursor.pos = pos;
                match cursor.record(ctx.matcher, &mut state.slots, 0) {
                    Ok(()) => {
                        pos = cursor.pos;
                        let index = state.records;
                        state.records += 1;
                        for (v, s) in state.values.iter_mut().zip(&state.slots) {
                            *v = s.value;
                        }
                        let record = Record {
                            slots: &state.values,
                            order: RecordOrder { input, offset: base + record_start as u64 },
                            seq: RecordSeq { part, index },
                        };
                        if let Err(error) = sink.accept(&record) {
                            if ctx.skip_invalid {
                                note_skip(
                                    state,
                                    error.cause(),
                                    base,
                                    record_start,
                                    index,
                                    &error.to_string(),
                                );
                            } else {
                                break fail(
                                    state,
                                    PartError::Record { offset: record_start, index, error },
                                );
                            }
                        }
                        if frame == Frame::ArrayRecord {
                            frame = Frame::ArrayAfter;
                        }
                    }
                    Err(ScanError { kind: ScanErrorKind::Eof, offset }) => {
                        if !at_eof {
                            break Stop::NeedMore(record_start, frame);
                        }
                        break fail(
                            state,
                            PartError::Syntax {
                                offset,
                                message: "unexpected end of input inside a record",
                            },
                        );
                    }
                    Err(ScanError { kind: ScanErrorKind::Syntax(message), offset }) => {
                        if ctx.skip_invalid && frame == Frame::Lines {
                            // A malformed line: skip to the next line and go on.
                            let index = state.records;
                            state.records += 1;
                            note_skip(
                                state,
                                "malformed JSON".into(),
                                base,
                                record_start,
                                index,
                                message,
                            );
                            match memchr::memchr(b'\n', &buf[offset.min(buf.len())..]) {
                                Some(nl) => pos = offset + nl + 1,
                                None if at_eof => pos = buf.len(),
                                None => break Stop::NeedMore(record_start, frame),
                            }
                        } else {
                            break fail(state, PartError::Syntax { offset, message });
                        }
                    }
                }
            }
        }
    };
    if let Some(progress) = ctx.progress {
        let stop_at = match stop {
            Stop::Handover(p, _) | Stop::NeedMore(p, _) => p,
            _ => buf.len(),
        };
        let counted =
            if state.count_bytes { stop_at.min(end).saturating_sub(reported.0) } else { 0 };
        progress.add(counted as u64, state.records - reported.1);
    }
    stop
}

pub(super) fn note_skip(
    state: &mut RegionState<'_>,
    cause: String,
    base: u64,
    offset: usize,
    index: u64,
    message: &str,
) {
    if state.skipped.first.is_none() {
        state.first_skip_index = Some(index);
    }
    state.skipped.note(
        cause,
        || Location {
            input: String::new(),
            record: None,
            line: None,
            column: None,
            offset: base + offset as u64,
        },
        || message.to_string(),
    );
}
