//! Cutting a large file into regions that are scanned in parallel, and checking the cuts.

use std::sync::Arc;

use crest_core::record::RecordSink;

use super::region::{Frame, RegionState, Stop, Utf8Check, scan_region};
use super::source::Buffer;
use super::{Ctx, PartError, PartResult, SPLIT_SEARCH_BYTES};

/// The framing an input uses, from its first non-blank byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Layout {
    Array,
    Lines,
    Unknown,
}

pub(super) fn layout_of(buf: &[u8]) -> Layout {
    match buf.iter().find(|b| !matches!(b, b' ' | b'\n' | b'\r' | b'\t')) {
        Some(b'[') => Layout::Array,
        Some(b'{') => Layout::Lines,
        _ => Layout::Unknown,
    }
}

/// Region boundaries `0 = c0 < c1 < … < ck = len` at likely record starts.
pub(super) fn split_points(buf: &[u8], want: usize, min_chunk: usize) -> Vec<usize> {
    let mut cuts = vec![0];
    let layout = layout_of(buf);
    if layout != Layout::Unknown && want > 1 && buf.len() >= 2 * min_chunk {
        let step = (buf.len() / want).max(min_chunk);
        let mut nominal = step;
        while nominal < buf.len() {
            let from = nominal.max(*cuts.last().expect("non-empty") + 1);
            match find_record_start(buf, from, layout) {
                Some(c) if c < buf.len() => {
                    cuts.push(c);
                    nominal = c + step;
                }
                _ => break,
            }
        }
    }
    cuts.push(buf.len());
    cuts.dedup();
    cuts
}

/// The next `{` at or after `from` that looks like the start of a top-level record.
pub(super) fn find_record_start(buf: &[u8], from: usize, layout: Layout) -> Option<usize> {
    let limit = from.saturating_add(SPLIT_SEARCH_BYTES).min(buf.len());
    let mut at = from;
    while let Some(rel) = memchr::memchr(b'{', &buf[at..limit]) {
        let p = at + rel;
        let mut j = p;
        let mut saw_newline = false;
        let mut back = |j: &mut usize| {
            while *j > 0 && matches!(buf[*j - 1], b' ' | b'\n' | b'\r' | b'\t') {
                saw_newline |= buf[*j - 1] == b'\n';
                *j -= 1;
            }
        };
        back(&mut j);
        let ok = match layout {
            Layout::Array => {
                if j > 0 && buf[j - 1] == b',' {
                    j -= 1;
                    back(&mut j);
                    j > 0 && buf[j - 1] == b'}'
                } else {
                    false
                }
            }
            Layout::Lines => saw_newline && j > 0 && buf[j - 1] == b'}',
            Layout::Unknown => false,
        };
        if ok {
            return Some(p);
        }
        at = p + 1;
    }
    None
}

/// Scans `buf[start..]` as part `part` until the first record start at or after `end`.
///
/// With `check_utf8`, the region's own bytes `[start, end)` are validated as UTF-8 as the scan
/// goes (a rescan of a region already checked passes `false`).
#[allow(clippy::too_many_arguments)]
pub(super) fn scan_part<S: RecordSink>(
    buf: &Buffer,
    input: u32,
    part: u32,
    start: usize,
    end: usize,
    frame: Frame,
    ctx: &Ctx<'_>,
    mut sink: S,
    check_utf8: bool,
) -> PartResult<S> {
    let mut state = RegionState::new(ctx.nslots);
    state.mapped = Some(buf);
    state.released = start;
    state.utf8 = check_utf8.then_some(Utf8Check { checked: start, end, error: None });
    let mut stop =
        scan_region(buf, start, end, true, frame, ctx, &mut state, &mut sink, input, part, 0);
    if let Some(check) = &mut state.utf8 {
        check.advance(buf, end);
        if let Some(offset) = check.error
            && state.error.as_ref().is_none_or(|e| e.offset() > offset)
        {
            state.error = Some(PartError::Encoding { offset });
            stop = Stop::Failed;
        }
    }
    let bytes = match stop {
        Stop::Handover(p, _) => p - start,
        _ => buf.len() - start,
    } as u64;
    PartResult {
        input,
        part,
        start,
        stop,
        sink,
        records: state.records,
        bytes,
        skipped: state.skipped,
        first_skip_index: state.first_skip_index,
        error: state.error,
    }
}

/// Checks that each chunk began where the one before it ended; rescans the ones that did not.
pub(super) fn verify_chunks<S, F>(
    buf: &Arc<Buffer>,
    parts: Vec<PartResult<S>>,
    ctx: &Ctx<'_>,
    make_sink: &F,
) -> Vec<PartResult<S>>
where
    S: RecordSink,
    F: Fn() -> S,
{
    let ends: Vec<usize> =
        parts.iter().skip(1).map(|p| p.start).chain(std::iter::once(buf.len())).collect();
    let mut out: Vec<PartResult<S>> = Vec::with_capacity(parts.len());
    let mut expect: Option<(usize, Frame)> = None;
    for (part, end) in parts.into_iter().zip(ends) {
        let chosen = match expect {
            None => part,
            Some((pos, _)) if pos == part.start => part,
            Some((pos, frame)) => {
                // The guess was wrong (or the previous part ran past it): rescan from the true
                // boundary to this region's end. Region boundaries are not record boundaries
                // any more, so later parts are checked against this one's handover as usual.
                if pos >= end {
                    // The previous part already covered this whole region.
                    continue;
                }
                scan_part(buf, part.input, part.part, pos, end, frame, ctx, make_sink(), false)
            }
        };
        let stop = chosen.stop;
        let failed = chosen.error.is_some();
        out.push(chosen);
        match stop {
            Stop::Handover(pos, frame) if !failed => expect = Some((pos, frame)),
            _ => break,
        }
    }
    // Parts renumbered by position so record numbers stay consistent.
    for (i, p) in out.iter_mut().enumerate() {
        p.part = i as u32;
    }
    out
}
