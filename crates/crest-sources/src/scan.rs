//! A strict JSON scanner that pulls a few fields out of each record without building values.
//!
//! Telemetry records carry dozens of fields and a detector reads a handful, so the scanner
//! validates every byte (RFC 8259: string escapes, control characters, number grammar,
//! literals, nesting) but materialises only the projected fields, as [`RawValue`]s borrowed
//! from the input. Strings are scanned eight bytes at a time. The caller validates UTF-8 for
//! whole regions beforehand, which is much cheaper than doing it string by string.
//!
//! Why not serde_json: measured on the 1M-record benchmark file, deserialising borrowed
//! structs with serde_json reads 513 MB/s on one core, and sonic-rs without a native build
//! 535 MB/s; this scanner reads about 1.1 GB/s, which is what the peak analyzer's goal
//! (1 GB/s of JSON on two cores, with the tables built) needs. The property tests check it
//! against serde_json on random documents.

use crest_core::value::{RawKind, RawValue};

/// How deep objects and arrays may nest inside a record before the scanner gives up.
pub(crate) const MAX_DEPTH: usize = 512;

/// What went wrong while scanning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ScanErrorKind {
    /// The buffer ended inside a value (more input may complete it).
    Eof,
    /// The bytes are not valid JSON; the message says what was expected.
    Syntax(&'static str),
}

/// A scan error at a byte offset of the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ScanError {
    pub(crate) offset: usize,
    pub(crate) kind: ScanErrorKind,
}

type Scan<T> = Result<T, ScanError>;

/// Which fields to extract, as a tree of key names: a flat key names a slot, a key that
/// begins a dotted path names a child matcher for the rest of the path.
#[derive(Debug, Default)]
pub(crate) struct Matcher {
    entries: Vec<MatchEntry>,
    /// Bit `n` is set when some entry key is `n` bytes long (keys of 64 bytes or more set bit 63).
    len_mask: u64,
}

#[derive(Debug)]
struct MatchEntry {
    key: Box<[u8]>,
    slot: Option<u16>,
    child: Option<Box<Matcher>>,
}

impl Matcher {
    /// Builds the matcher for a list of field names (slot `i` is `fields[i]`).
    pub(crate) fn new(fields: &[String]) -> Matcher {
        let paths: Vec<(u16, &str)> =
            fields.iter().enumerate().map(|(i, f)| (i as u16, f.as_str())).collect();
        Matcher::for_paths(&paths)
    }

    /// Builds a matcher for top-level keys taken literally (dots are part of the key).
    fn flat(keys: &[String]) -> Matcher {
        let mut m = Matcher::default();
        for (i, k) in keys.iter().enumerate() {
            m.entry(k.as_bytes()).slot = Some(i as u16);
        }
        m
    }

    fn for_paths(paths: &[(u16, &str)]) -> Matcher {
        let mut m = Matcher::default();
        for &(slot, path) in paths {
            m.entry(path.as_bytes()).slot = Some(slot);
        }
        // Every dotted prefix may also be a nested object holding the rest of the path.
        let mut prefixes: Vec<(&str, Vec<(u16, &str)>)> = Vec::new();
        for &(slot, path) in paths {
            for (dot, _) in path.match_indices('.') {
                let (head, rest) = (&path[..dot], &path[dot + 1..]);
                if head.is_empty() || rest.is_empty() {
                    continue;
                }
                match prefixes.iter_mut().find(|(h, _)| *h == head) {
                    Some((_, list)) => list.push((slot, rest)),
                    None => prefixes.push((head, vec![(slot, rest)])),
                }
            }
        }
        for (head, list) in prefixes {
            m.entry(head.as_bytes()).child = Some(Box::new(Matcher::for_paths(&list)));
        }
        m
    }

    fn entry(&mut self, key: &[u8]) -> &mut MatchEntry {
        let i = match self.entries.iter().position(|e| &*e.key == key) {
            Some(i) => i,
            None => {
                self.len_mask |= 1 << key.len().min(63);
                self.entries.push(MatchEntry { key: key.into(), slot: None, child: None });
                self.entries.len() - 1
            }
        };
        &mut self.entries[i]
    }

    #[inline]
    fn lookup(&self, key: &[u8]) -> Option<&MatchEntry> {
        if self.len_mask & (1 << key.len().min(63)) == 0 {
            return None;
        }
        self.entries.iter().find(|e| bytes_eq(&e.key, key))
    }
}

/// Slice equality without a `memcmp` call for the short keys of telemetry records.
#[inline(always)]
fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if (8..=16).contains(&n) {
        let load =
            |s: &[u8], at: usize| u64::from_le_bytes(s[at..at + 8].try_into().expect("8 bytes"));
        return load(a, 0) == load(b, 0) && load(a, n - 8) == load(b, n - 8);
    }
    a == b
}

/// One extracted field: the value and how directly it matched (0 = a flat top-level key,
/// which wins over any nested path; later duplicates of equal rank win, as in Python).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slot<'a> {
    pub(crate) value: Option<RawValue<'a>>,
    rank: u8,
}

impl Slot<'_> {
    pub(crate) const EMPTY: Slot<'static> = Slot { value: None, rank: u8::MAX };
}

/// A position in a buffer of JSON text.
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pub(crate) pos: usize,
    /// Container stack reused by [`Cursor::skip_container`] (`true` = object).
    stack: Vec<bool>,
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// High bit set in each byte of `w` that equals `b` (exact up to the lowest match).
#[inline(always)]
fn eq_mask(w: u64, b: u8) -> u64 {
    let x = w ^ (LO * b as u64);
    x.wrapping_sub(LO) & !x & HI
}

/// High bit set in each byte of `w` that is below 0x20 (exact up to the lowest match).
#[inline(always)]
fn ctrl_mask(w: u64) -> u64 {
    w.wrapping_sub(LO * 0x20) & !w & HI
}

/// The index of the first quote, backslash or control character at or after `i`, if any.
#[inline(always)]
fn find_special(buf: &[u8], i: usize) -> Option<usize> {
    let mut i = match find_special_wide(buf, i) {
        Ok(found) => return Some(found),
        Err(rest) => rest,
    };
    // Fewer than sixteen bytes left: eight at a time, then one at a time.
    while i + 8 <= buf.len() {
        let w = u64::from_le_bytes(buf[i..i + 8].try_into().expect("8 bytes"));
        let m = eq_mask(w, b'"') | eq_mask(w, b'\\') | ctrl_mask(w);
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    buf[i..].iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20).map(|p| i + p)
}

/// Sixteen bytes at a time: `Ok` with the index of the first special byte, or `Err` with the
/// index from which fewer than sixteen bytes remain unexamined.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn find_special_wide(buf: &[u8], mut i: usize) -> Result<usize, usize> {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    // SAFETY: SSE2 is part of the x86_64 baseline, and every load reads 16 bytes inside `buf`.
    unsafe {
        let quote = _mm_set1_epi8(b'"' as i8);
        let backslash = _mm_set1_epi8(b'\\' as i8);
        let ctrl = _mm_set1_epi8(0x1f);
        while i + 16 <= buf.len() {
            let v = _mm_loadu_si128(buf.as_ptr().add(i) as *const __m128i);
            // max(v, 0x1f) == 0x1f exactly when v <= 0x1f (unsigned).
            let specials = _mm_or_si128(
                _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                _mm_cmpeq_epi8(_mm_max_epu8(v, ctrl), ctrl),
            );
            let mask = _mm_movemask_epi8(specials) as u32;
            if mask != 0 {
                return Ok(i + mask.trailing_zeros() as usize);
            }
            i += 16;
        }
    }
    Err(i)
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn find_special_wide(_buf: &[u8], i: usize) -> Result<usize, usize> {
    Err(i)
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8], pos: usize) -> Self {
        Cursor { buf, pos, stack: Vec::new() }
    }

    #[inline]
    fn err<T>(&self, offset: usize, msg: &'static str) -> Scan<T> {
        Err(ScanError { offset, kind: ScanErrorKind::Syntax(msg) })
    }

    #[inline]
    fn eof<T>(&self) -> Scan<T> {
        Err(ScanError { offset: self.buf.len(), kind: ScanErrorKind::Eof })
    }

    /// The byte at the cursor, or an end-of-buffer error.
    #[inline]
    pub(crate) fn peek(&self) -> Scan<u8> {
        match self.buf.get(self.pos) {
            Some(&b) => Ok(b),
            None => self.eof(),
        }
    }

    /// Skips JSON whitespace.
    #[inline]
    pub(crate) fn skip_ws(&mut self) {
        while let Some(&b) = self.buf.get(self.pos) {
            if b > b' ' || !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                break;
            }
            self.pos += 1;
        }
    }

    #[inline]
    fn expect(&mut self, b: u8, msg: &'static str) -> Scan<()> {
        if self.peek()? == b {
            self.pos += 1;
            Ok(())
        } else {
            self.err(self.pos, msg)
        }
    }

    /// Scans a string whose opening quote is at the cursor; returns its contents' span and
    /// whether it holds escapes. The cursor ends after the closing quote.
    #[inline(always)]
    fn string(&mut self) -> Scan<(usize, usize, bool)> {
        debug_assert_eq!(self.buf.get(self.pos), Some(&b'"'));
        let start = self.pos + 1;
        let mut i = start;
        let mut escaped = false;
        loop {
            let Some(j) = find_special(self.buf, i) else { return self.eof() };
            match self.buf[j] {
                b'"' => {
                    self.pos = j + 1;
                    return Ok((start, j, escaped));
                }
                b'\\' => {
                    escaped = true;
                    i = self.escape(j)?;
                }
                _ => return self.err(j, "control character in string (must be escaped)"),
            }
        }
    }

    /// Validates the escape at `i` (a backslash); returns the index after it.
    #[cold]
    #[inline(never)]
    fn escape(&self, i: usize) -> Scan<usize> {
        let Some(&e) = self.buf.get(i + 1) else { return self.eof() };
        match e {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Ok(i + 2),
            b'u' => {
                let hi = self.hex4(i + 2)?;
                if (0xDC00..0xE000).contains(&hi) {
                    return self.err(i, "unpaired low surrogate in \\u escape");
                }
                if !(0xD800..0xDC00).contains(&hi) {
                    return Ok(i + 6);
                }
                match (self.buf.get(i + 6), self.buf.get(i + 7)) {
                    (Some(b'\\'), Some(b'u')) => {
                        let lo = self.hex4(i + 8)?;
                        if (0xDC00..0xE000).contains(&lo) {
                            Ok(i + 12)
                        } else {
                            self.err(i, "unpaired high surrogate in \\u escape")
                        }
                    }
                    (None, _) | (Some(b'\\'), None) => self.eof(),
                    _ => self.err(i, "unpaired high surrogate in \\u escape"),
                }
            }
            _ => self.err(i, "invalid escape in string"),
        }
    }

    fn hex4(&self, i: usize) -> Scan<u32> {
        let Some(digits) = self.buf.get(i..i + 4) else {
            // A truncated escape: wait for more only if what is there so far is hex.
            return if self.buf[i.min(self.buf.len())..].iter().all(u8::is_ascii_hexdigit) {
                self.eof()
            } else {
                self.err(i, "invalid \\u escape (expected four hex digits)")
            };
        };
        let mut v = 0u32;
        for &d in digits {
            let x = match d {
                b'0'..=b'9' => d - b'0',
                b'a'..=b'f' => d - b'a' + 10,
                b'A'..=b'F' => d - b'A' + 10,
                _ => return self.err(i, "invalid \\u escape (expected four hex digits)"),
            };
            v = v * 16 + x as u32;
        }
        Ok(v)
    }

    /// Scans a number at the cursor; returns whether it is an integer literal.
    #[inline(always)]
    fn number(&mut self) -> Scan<bool> {
        let buf = self.buf;
        let mut i = self.pos;
        if buf.get(i) == Some(&b'-') {
            i += 1;
        }
        match buf.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                i += 1;
                while buf.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
            }
            Some(_) => return self.err(i, "invalid number"),
            None => return self.eof(),
        }
        let mut integer = true;
        if buf.get(i) == Some(&b'.') {
            integer = false;
            i += 1;
            let digits = i;
            while buf.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            if i == digits {
                return if i == buf.len() {
                    self.eof()
                } else {
                    self.err(i, "invalid number (digits expected after '.')")
                };
            }
        }
        if matches!(buf.get(i), Some(b'e' | b'E')) {
            integer = false;
            i += 1;
            if matches!(buf.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let digits = i;
            while buf.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            if i == digits {
                return if i == buf.len() {
                    self.eof()
                } else {
                    self.err(i, "invalid number (digits expected in exponent)")
                };
            }
        }
        match buf.get(i) {
            // Inside a record a number is always followed by a delimiter.
            None => self.eof(),
            Some(b' ' | b'\n' | b'\r' | b'\t' | b',' | b'}' | b']') => {
                self.pos = i;
                Ok(integer)
            }
            Some(_) => self.err(i, "invalid number"),
        }
    }

    #[inline(always)]
    fn literal(&mut self, word: &'static [u8]) -> Scan<()> {
        let end = self.pos + word.len();
        match self.buf.get(self.pos..end) {
            Some(b) if b == word => {
                self.pos = end;
                Ok(())
            }
            Some(_) => self.err(self.pos, "invalid literal (expected true, false or null)"),
            None if word.starts_with(&self.buf[self.pos..]) => self.eof(),
            None => self.err(self.pos, "invalid literal (expected true, false or null)"),
        }
    }

    /// Scans any value at the cursor and returns it.
    #[inline]
    fn value(&mut self) -> Scan<RawValue<'a>> {
        let start = self.pos;
        let kind = match self.peek()? {
            b'"' => {
                let (s, e, escaped) = self.string()?;
                return Ok(RawValue::new(RawKind::Str { escaped }, &self.buf[s..e]));
            }
            b'-' | b'0'..=b'9' => RawKind::Number { integer: self.number()? },
            b't' => self.literal(b"true").map(|_| RawKind::True)?,
            b'f' => self.literal(b"false").map(|_| RawKind::False)?,
            b'n' => self.literal(b"null").map(|_| RawKind::Null)?,
            b'{' => self.skip_container().map(|_| RawKind::Object)?,
            b'[' => self.skip_container().map(|_| RawKind::Array)?,
            _ => return self.err(start, "expected a value"),
        };
        Ok(RawValue::new(kind, &self.buf[start..self.pos]))
    }

    /// Skips (and validates) the object or array at the cursor, without recursion.
    fn skip_container(&mut self) -> Scan<()> {
        self.stack.clear();
        let mut result = Ok(());
        'open: loop {
            // At an opening bracket.
            let is_object = self.buf[self.pos] == b'{';
            if self.stack.len() >= MAX_DEPTH {
                result = self.err(self.pos, "nesting too deep");
                break;
            }
            self.stack.push(is_object);
            self.pos += 1;
            self.skip_ws();
            let close = if is_object { b'}' } else { b']' };
            match self.peek() {
                Ok(b) if b == close => {
                    self.pos += 1;
                    self.stack.pop();
                }
                Ok(_) => {
                    if is_object && let Err(e) = self.key_colon() {
                        result = Err(e);
                        break;
                    }
                    // A value: descend into containers, scan scalars in place.
                    match self.peek() {
                        Ok(b'{' | b'[') => continue 'open,
                        Ok(_) => {
                            if let Err(e) = self.scalar() {
                                result = Err(e);
                                break;
                            }
                        }
                        Err(e) => {
                            result = Err(e);
                            break;
                        }
                    }
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
            // After a value: a separator or closing brackets.
            loop {
                let Some(&top) = self.stack.last() else { break 'open };
                self.skip_ws();
                let b = match self.peek() {
                    Ok(b) => b,
                    Err(e) => {
                        result = Err(e);
                        break 'open;
                    }
                };
                match b {
                    b',' => {
                        self.pos += 1;
                        self.skip_ws();
                        if top && let Err(e) = self.key_colon() {
                            result = Err(e);
                            break 'open;
                        }
                        match self.peek() {
                            Ok(b'{' | b'[') => continue 'open,
                            Ok(_) => {
                                if let Err(e) = self.scalar() {
                                    result = Err(e);
                                    break 'open;
                                }
                            }
                            Err(e) => {
                                result = Err(e);
                                break 'open;
                            }
                        }
                    }
                    b'}' if top => {
                        self.pos += 1;
                        self.stack.pop();
                    }
                    b']' if !top => {
                        self.pos += 1;
                        self.stack.pop();
                    }
                    _ => {
                        result = self.err(
                            self.pos,
                            if top {
                                "expected ',' or '}' in object"
                            } else {
                                "expected ',' or ']' in array"
                            },
                        );
                        break 'open;
                    }
                }
            }
        }
        result
    }

    /// Scans `"key" :` and the whitespace after it.
    #[inline]
    fn key_colon(&mut self) -> Scan<()> {
        if self.peek()? != b'"' {
            return self.err(self.pos, "expected a string key in object");
        }
        self.string()?;
        self.skip_ws();
        self.expect(b':', "expected ':' after object key")?;
        self.skip_ws();
        Ok(())
    }

    /// Scans a scalar (string, number or literal) at the cursor.
    #[inline(always)]
    fn scalar(&mut self) -> Scan<()> {
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            b'-' | b'0'..=b'9' => self.number().map(|_| ()),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.err(self.pos, "expected a value"),
        }
    }

    /// Scans the object at the cursor, storing the matched fields into `slots`.
    pub(crate) fn record(
        &mut self,
        matcher: &Matcher,
        slots: &mut [Slot<'a>],
        rank: u8,
    ) -> Scan<()> {
        if self.peek()? != b'{' {
            return self.err(self.pos, "expected a JSON object (a record)");
        }
        self.pos += 1;
        self.skip_ws();
        if self.peek()? == b'}' {
            self.pos += 1;
            return Ok(());
        }
        loop {
            if self.peek()? != b'"' {
                return self.err(self.pos, "expected a string key in object");
            }
            let (ks, ke, kesc) = self.string()?;
            self.skip_ws();
            self.expect(b':', "expected ':' after object key")?;
            self.skip_ws();
            let entry = if kesc {
                let raw = RawValue::new(RawKind::Str { escaped: true }, &self.buf[ks..ke]);
                let key = raw.as_str().unwrap_or_default();
                matcher.lookup(key.as_bytes())
            } else {
                matcher.lookup(&self.buf[ks..ke])
            };
            match entry {
                None => self.scalar_or_container()?,
                Some(entry) => {
                    let value_start = self.pos;
                    let value = self.value()?;
                    if let Some(slot) = entry.slot {
                        let s = &mut slots[slot as usize];
                        if rank <= s.rank {
                            *s = Slot { value: Some(value), rank };
                        }
                    }
                    if let (Some(child), RawKind::Object) = (&entry.child, value.kind()) {
                        // Already validated: scan the nested object again for the rest of the path.
                        let mut inner = Cursor::new(&self.buf[..self.pos], value_start);
                        inner.record(child, slots, rank.saturating_add(1))?;
                    }
                }
            }
            self.skip_ws();
            match self.peek()? {
                b',' => {
                    self.pos += 1;
                    self.skip_ws();
                }
                b'}' => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return self.err(self.pos, "expected ',' or '}' in object"),
            }
        }
    }

    #[inline(always)]
    fn scalar_or_container(&mut self) -> Scan<()> {
        match self.peek()? {
            b'{' | b'[' => self.skip_container(),
            _ => self.scalar(),
        }
    }
}

/// Pulls the values of some top-level keys out of one JSON object at a time, validating the
/// whole text (RFC 8259) but building nothing: for callers that get one document per message
/// (a line, a queue message) rather than a file to [`read`](crate::read).
#[derive(Debug)]
pub struct KeyScanner {
    matcher: Matcher,
    keys: usize,
}

/// Why a text is not a JSON object: what was expected, at which byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message} at byte {offset}")]
pub struct JsonError {
    /// The byte offset (from 0) in the text.
    pub offset: usize,
    /// What was expected there.
    pub message: &'static str,
}

impl KeyScanner {
    /// A scanner for these keys, each taken literally (a dot is part of the key); the value of
    /// `keys[i]` goes to slot `i`.
    pub fn new(keys: &[String]) -> KeyScanner {
        KeyScanner { matcher: Matcher::flat(keys), keys: keys.len() }
    }

    /// How many keys (slots) there are.
    pub fn len(&self) -> usize {
        self.keys
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.keys == 0
    }

    /// Scans `text`, one JSON object with optional whitespace around it, and returns each key's
    /// value (the last one when a key repeats, as JSON parsers do). `text` must be valid UTF-8.
    pub fn scan<'a>(&self, text: &'a [u8]) -> Result<Vec<Option<RawValue<'a>>>, JsonError> {
        let mut slots = vec![Slot::EMPTY; self.keys];
        let mut c = Cursor::new(text, 0);
        c.skip_ws();
        let fail = |e: ScanError| JsonError {
            offset: e.offset,
            message: match e.kind {
                ScanErrorKind::Eof => "unexpected end of text",
                ScanErrorKind::Syntax(m) => m,
            },
        };
        c.record(&self.matcher, &mut slots, 0).map_err(fail)?;
        c.skip_ws();
        if c.pos < text.len() {
            return Err(JsonError {
                offset: c.pos,
                message: "trailing characters after the object",
            });
        }
        Ok(slots.into_iter().map(|s| s.value).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn key_scanner_takes_keys_literally_and_rejects_trailing_text() {
        let s = KeyScanner::new(&["a.b".to_string(), "a".to_string(), "n".to_string()]);
        let text = br#" {"a": {"b": 1}, "a.b": "x", "n": 2, "n": [3]} "#;
        let got = s.scan(text).unwrap();
        assert_eq!(got[0].unwrap().raw(), b"x");
        assert_eq!(got[1].unwrap().raw(), br#"{"b": 1}"#);
        assert_eq!(got[2].unwrap().raw(), b"[3]");
        assert_eq!(
            s.scan(br#"{"a": 1} x"#).unwrap_err(),
            JsonError { offset: 9, message: "trailing characters after the object" }
        );
        assert_eq!(s.scan(br#"{"a": 1"#).unwrap_err().message, "unexpected end of text");
        assert_eq!(s.scan(b"[1]").unwrap_err().message, "expected a JSON object (a record)");
    }

    fn extract(json: &str, fields: &[&str]) -> Result<Vec<Option<String>>, ScanError> {
        let fields: Vec<String> = fields.iter().map(|s| s.to_string()).collect();
        let m = Matcher::new(&fields);
        let mut slots = vec![Slot::EMPTY; fields.len()];
        let mut c = Cursor::new(json.as_bytes(), 0);
        c.record(&m, &mut slots, 0)?;
        Ok(slots.iter().map(|s| s.value.map(|v| v.to_text().unwrap().into_owned())).collect())
    }

    #[test]
    fn extracts_flat_and_nested_fields() {
        let got = extract(
            r#"{"file.sha1": "ab", "x": [1, {"y": null}], "task": {"severity": "malicious"}, "n": -1.5e3}"#,
            &["file.sha1", "task.severity", "n", "missing"],
        )
        .unwrap();
        assert_eq!(got, [Some("ab".into()), Some("malicious".into()), Some("-1.5e3".into()), None]);
    }

    #[test]
    fn flat_key_wins_over_nested_path_and_last_duplicate_wins() {
        let got = extract(r#"{"a.b": 1, "a": {"b": 2}, "c": 3, "c": 4}"#, &["a.b", "c"]).unwrap();
        assert_eq!(got, [Some("1".into()), Some("4".into())]);
        let got = extract(r#"{"a": {"b": 2}, "a.b": 1}"#, &["a.b"]).unwrap();
        assert_eq!(got, [Some("1".into())]);
    }

    #[test]
    fn escaped_keys_match() {
        let got = extract(r#"{"file\u002esha1": "ab"}"#, &["file.sha1"]).unwrap();
        assert_eq!(got, [Some("ab".into())]);
    }

    #[test]
    fn rejects_invalid_json() {
        for bad in [
            r#"{"a": 01}"#,
            r#"{"a": 1.}"#,
            r#"{"a": tru}"#,
            r#"{"a": "x	y"}"#,
            r#"{"a": "\x"}"#,
            r#"{"a": "\ud800"}"#,
            r#"{"a": "\udc00"}"#,
            r#"{"a": [1 2]}"#,
            r#"{"a": {"b" 1}}"#,
            r#"{"a": 1,}"#,
            r#"{"a": [1,]}"#,
            r#"{a: 1}"#,
            r#"{"a": +1}"#,
            r#"{"a": NaN}"#,
        ] {
            let r = extract(bad, &["a"]);
            assert!(
                matches!(r, Err(ScanError { kind: ScanErrorKind::Syntax(_), .. })),
                "{bad}: {r:?}"
            );
        }
    }

    #[test]
    fn truncated_input_is_eof() {
        let full = r#"{"a": "xyz\u00e9", "b": [1, {"c": true}], "d": -12.5e+3}"#;
        for cut in 1..full.len() {
            let r = extract(&full[..cut], &["a", "d"]);
            assert!(
                matches!(r, Err(ScanError { kind: ScanErrorKind::Eof, .. })),
                "cut {cut}: {r:?}"
            );
        }
        assert!(extract(full, &["a"]).is_ok());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("{{\"a\": {}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(
            extract(&deep, &["a"]),
            Err(ScanError { kind: ScanErrorKind::Syntax("nesting too deep"), .. })
        ));
    }

    /// A random JSON value, rendered with random whitespace.
    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
            "\\PC*".prop_map(Value::String),
            "[a-z\"\\\\\u{0}-\u{1f}é😀]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(serde_json::Value::Array),
                prop::collection::btree_map("[a-c.]{1,3}", inner, 0..5)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// The scanner accepts what serde_json writes, and extracts what serde_json reads.
        #[test]
        fn agrees_with_serde_json_on_valid_records(
            fields in prop::collection::btree_map("[a-c.]{1,3}", json_value(), 0..6),
            pretty in any::<bool>(),
        ) {
            let obj = serde_json::Value::Object(fields.clone().into_iter().collect());
            let text = if pretty { serde_json::to_string_pretty(&obj).unwrap() } else { obj.to_string() };
            let names: Vec<String> = fields.keys().cloned().collect();
            let m = Matcher::new(&names);
            let mut slots = vec![Slot::EMPTY; names.len()];
            let mut c = Cursor::new(text.as_bytes(), 0);
            c.record(&m, &mut slots, 0).unwrap();
            prop_assert_eq!(c.pos, text.len());
            for (name, slot) in names.iter().zip(&slots) {
                let v = slot.value.expect("present");
                let reparsed: serde_json::Value = match v.kind() {
                    RawKind::Str { .. } => serde_json::Value::String(v.as_str().unwrap().into_owned()),
                    _ => serde_json::from_slice(v.raw()).unwrap(),
                };
                prop_assert_eq!(&reparsed, &fields[name]);
            }
        }

        /// On arbitrary bytes the scanner never panics, and accepts only what serde_json accepts.
        #[test]
        fn never_panics_and_never_accepts_invalid(bytes in prop::collection::vec(any::<u8>(), 0..64), prefix in "\\{\"a\": ") {
            let mut input = prefix.into_bytes();
            input.extend_from_slice(&bytes);
            let m = Matcher::new(&["a".to_string(), "a.b".to_string()]);
            let mut slots = vec![Slot::EMPTY; 2];
            let mut c = Cursor::new(&input, 0);
            if c.record(&m, &mut slots, 0).is_ok() && std::str::from_utf8(&input[..c.pos]).is_ok() {
                let parsed: Result<serde_json::Value, _> = serde_json::from_slice(&input[..c.pos]);
                prop_assert!(parsed.is_ok(), "accepted invalid JSON: {:?}", String::from_utf8_lossy(&input[..c.pos]));
            }
        }
    }
}
