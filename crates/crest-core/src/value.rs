//! Field values as a source hands them to a detector: borrowed, raw and already validated.
//!
//! A source decodes only the fields a detector asked for (a [`Projection`]) and hands each one
//! over as a [`RawValue`]: its JSON kind plus the bytes of the token in the input. Nothing is
//! copied or converted until a detector needs it, which keeps the hot path allocation-free.

use std::borrow::Cow;

/// The JSON kind of a value, with what a reader needs to decode it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RawKind {
    /// A string; `bytes` are the characters between the quotes, still escaped when `escaped`.
    Str {
        /// Whether the string contains backslash escapes that must be decoded.
        escaped: bool,
    },
    /// A number; `bytes` are its literal text.
    Number {
        /// Whether the literal has no fraction and no exponent (`12`, `-3`).
        integer: bool,
    },
    /// `true`.
    True,
    /// `false`.
    False,
    /// `null`.
    Null,
    /// An object; `bytes` are its whole text.
    Object,
    /// An array; `bytes` are its whole text.
    Array,
}

/// One validated JSON value, borrowed from the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawValue<'a> {
    kind: RawKind,
    bytes: &'a [u8],
}

/// Why a value cannot serve the purpose a detector has for it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// The value is an object or an array where a scalar is needed.
    #[error("expected a scalar, found {0}")]
    NotScalar(&'static str),
    /// The value is not an integer where one is needed.
    #[error("expected an integer, found {0}")]
    NotInteger(String),
    /// The value is not a string where one is needed.
    #[error("expected a string, found {0}")]
    NotString(String),
    /// The integer does not fit in 64 bits.
    #[error("integer {0} is out of range")]
    OutOfRange(String),
}

impl<'a> RawValue<'a> {
    /// Wraps a token the caller has already validated as JSON of the given kind.
    pub fn new(kind: RawKind, bytes: &'a [u8]) -> Self {
        RawValue { kind, bytes }
    }

    /// The JSON kind.
    pub fn kind(&self) -> RawKind {
        self.kind
    }

    /// The raw bytes of the token (string contents without quotes).
    pub fn raw(&self) -> &'a [u8] {
        self.bytes
    }

    /// A short name of the kind for error messages (`"a string"`, `"an object"`…).
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            RawKind::Str { .. } => "a string",
            RawKind::Number { integer: true } => "an integer",
            RawKind::Number { integer: false } => "a non-integer number",
            RawKind::True | RawKind::False => "a boolean",
            RawKind::Null => "null",
            RawKind::Object => "an object",
            RawKind::Array => "an array",
        }
    }

    /// A short rendering of the value for error messages: its JSON text, cut at 40 bytes.
    pub fn describe(&self) -> String {
        let text = String::from_utf8_lossy(self.bytes);
        let mut s: String = text.chars().take(40).collect();
        if s.len() < text.len() {
            s.push('…');
        }
        match self.kind {
            RawKind::Str { .. } => format!("\"{s}\""),
            _ => s,
        }
    }

    /// The decoded string, when the value is a string.
    pub fn as_str(&self) -> Option<Cow<'a, str>> {
        match self.kind {
            RawKind::Str { escaped } => Some(decode_str(self.bytes, escaped)),
            _ => None,
        }
    }

    /// The value as text, as crest uses it for dimension values: a string's contents, or the
    /// JSON text of any other scalar (`12`, `true`, `null`). Objects and arrays are refused.
    pub fn to_text(&self) -> Result<Cow<'a, str>, ValueError> {
        match self.kind {
            RawKind::Str { escaped } => Ok(decode_str(self.bytes, escaped)),
            RawKind::Object => Err(ValueError::NotScalar("an object")),
            RawKind::Array => Err(ValueError::NotScalar("an array")),
            // Validated number and literal tokens are ASCII.
            _ => Ok(String::from_utf8_lossy(self.bytes)),
        }
    }

    /// The same text as [`to_text`](Self::to_text), as bytes, without re-validating UTF-8 for
    /// unescaped strings (sources hand over validated input): the cheap form for hashing.
    #[inline]
    pub fn text_bytes(&self) -> Result<Cow<'a, [u8]>, ValueError> {
        match self.kind {
            RawKind::Str { escaped: true } => {
                Ok(Cow::Owned(decode_str(self.bytes, true).into_owned().into_bytes()))
            }
            RawKind::Object => Err(ValueError::NotScalar("an object")),
            RawKind::Array => Err(ValueError::NotScalar("an array")),
            _ => Ok(Cow::Borrowed(self.bytes)),
        }
    }

    /// Whether the value is a scalar (not an object or an array).
    #[inline]
    pub fn is_scalar(&self) -> bool {
        !matches!(self.kind, RawKind::Object | RawKind::Array)
    }

    /// The value as an `i64`, when it is an integer literal that fits.
    pub fn as_i64(&self) -> Result<i64, ValueError> {
        match self.kind {
            RawKind::Number { integer: true } => {
                parse_i64(self.bytes).ok_or_else(|| ValueError::OutOfRange(self.describe()))
            }
            _ => Err(ValueError::NotInteger(format!("{} {}", self.kind_name(), self.describe()))),
        }
    }

    /// Writes into `out` the bytes that identify this value the way Python compares dictionary
    /// keys: strings by their decoded text; numbers by value (`2`, `2.0` and `true` are one key,
    /// as in Python); `null` on its own. Objects and arrays (unhashable in Python) are refused.
    pub fn write_identity(&self, out: &mut Vec<u8>) -> Result<(), ValueError> {
        out.clear();
        match self.kind {
            RawKind::Str { escaped: false } => string_identity(out, self.bytes),
            RawKind::Str { escaped: true } => {
                string_identity(out, decode_str(self.bytes, true).as_bytes())
            }
            RawKind::True => int_identity(out, 1),
            RawKind::False => int_identity(out, 0),
            RawKind::Null => out.push(b'n'),
            RawKind::Number { integer } => {
                let text = std::str::from_utf8(self.bytes).unwrap_or("");
                match (integer, parse_i64(self.bytes)) {
                    (true, Some(i)) => int_identity(out, i),
                    (true, None) => {
                        // Beyond 64 bits: the literal itself is canonical enough (no leading zeros).
                        out.push(b'I');
                        out.extend_from_slice(text.trim_start_matches('-').as_bytes());
                        if text.starts_with('-') {
                            out.push(b'-');
                        }
                    }
                    (false, _) => {
                        let f: f64 = text.parse().unwrap_or(f64::NAN);
                        if f.fract() == 0.0 && f.abs() < 9.2e18 {
                            int_identity(out, f as i64);
                        } else {
                            out.push(b'f');
                            out.extend_from_slice(&f.to_bits().to_le_bytes());
                        }
                    }
                }
            }
            RawKind::Object => return Err(ValueError::NotScalar("an object")),
            RawKind::Array => return Err(ValueError::NotScalar("an array")),
        }
        Ok(())
    }
}

/// Parses a validated integer literal (`-?digits`), `None` when it leaves 64 bits.
#[inline]
fn parse_i64(bytes: &[u8]) -> Option<i64> {
    let (neg, digits) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, bytes),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if digits.len() <= 18 {
        // At most 18 digits cannot overflow: no checks in the loop (timestamps have 13).
        let v = digits.iter().fold(0i64, |v, &d| v * 10 + (d - b'0') as i64);
        return Some(if neg { -v } else { v });
    }
    // Accumulate negatively so that i64::MIN parses too.
    let mut v: i64 = 0;
    for &d in digits {
        v = v.checked_mul(10)?.checked_sub((d - b'0') as i64)?;
    }
    if neg { Some(v) } else { v.checked_neg() }
}

/// Strings are `s` + their UTF-8, except hex digests (the usual sample ids: MD5, SHA-1,
/// SHA-256), which pack two digits a byte behind `x` (lowercase) or `X` (uppercase): the same
/// equality, half the memory per distinct sample.
fn string_identity(out: &mut Vec<u8>, text: &[u8]) {
    if text.len() >= 16 && text.len().is_multiple_of(2) {
        for (tag, table) in [(b'x', &HEX_LOWER), (b'X', &HEX_UPPER)] {
            if pack_hex(out, text, tag, table) {
                return;
            }
        }
    }
    out.clear();
    out.push(b's');
    out.extend_from_slice(text);
}

/// Hex digit values for one case (`0xFF`: not a digit of that case).
const fn hex_table(upper: bool) -> [u8; 256] {
    let mut t = [0xFF; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let a = if upper { b'A' } else { b'a' } as usize;
    let mut j = 0;
    while j < 6 {
        t[a + j] = 10 + j as u8;
        j += 1;
    }
    t
}
static HEX_LOWER: [u8; 256] = hex_table(false);
static HEX_UPPER: [u8; 256] = hex_table(true);

/// Packs `text` as hex digits of one case behind `tag`; `false` (and `out` left dirty) when a
/// character is not such a digit.
#[inline]
fn pack_hex(out: &mut Vec<u8>, text: &[u8], tag: u8, table: &[u8; 256]) -> bool {
    out.clear();
    out.resize(1 + text.len() / 2, 0);
    out[0] = tag;
    let mut bad = 0u8;
    for (o, pair) in out[1..].iter_mut().zip(text.chunks_exact(2)) {
        let (hi, lo) = (table[pair[0] as usize], table[pair[1] as usize]);
        bad |= hi | lo;
        *o = hi << 4 | (lo & 0x0F);
    }
    // Valid digits are below 16, so any 0xFF leaves the high nibble set.
    bad & 0xF0 == 0
}

/// The text of a string identity written by [`RawValue::write_identity`] (`None` for other
/// kinds of identity).
pub fn identity_string(id: &[u8]) -> Option<String> {
    const LOWER: &[u8; 16] = b"0123456789abcdef";
    const UPPER: &[u8; 16] = b"0123456789ABCDEF";
    let (tag, rest) = id.split_first()?;
    let digits = match tag {
        b's' => return Some(String::from_utf8_lossy(rest).into_owned()),
        b'x' => LOWER,
        b'X' => UPPER,
        _ => return None,
    };
    Some(
        rest.iter()
            .flat_map(|b| [digits[(b >> 4) as usize] as char, digits[(b & 15) as usize] as char])
            .collect(),
    )
}

fn int_identity(out: &mut Vec<u8>, i: i64) {
    out.push(b'i');
    out.extend_from_slice(&i.to_le_bytes());
}

/// Decodes the contents of a validated JSON string.
fn decode_str(bytes: &[u8], escaped: bool) -> Cow<'_, str> {
    if !escaped {
        // Sources validate UTF-8; the lossy path only guards against misuse.
        return match std::str::from_utf8(bytes) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) => String::from_utf8_lossy(bytes),
        };
    }
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b != b'\\' {
            let start = i;
            while i < bytes.len() && bytes[i] != b'\\' {
                i += 1;
            }
            out.push_str(&String::from_utf8_lossy(&bytes[start..i]));
            continue;
        }
        let esc = bytes.get(i + 1).copied().unwrap_or(b'?');
        i += 2;
        match esc {
            b'"' => out.push('"'),
            b'\\' => out.push('\\'),
            b'/' => out.push('/'),
            b'b' => out.push('\u{8}'),
            b'f' => out.push('\u{c}'),
            b'n' => out.push('\n'),
            b'r' => out.push('\r'),
            b't' => out.push('\t'),
            b'u' => {
                let hi = hex4(bytes.get(i..i + 4));
                i += 4;
                let c = if (0xD800..0xDC00).contains(&hi) && bytes.get(i) == Some(&b'\\') {
                    let lo = hex4(bytes.get(i + 2..i + 6));
                    if (0xDC00..0xE000).contains(&lo) {
                        i += 6;
                        char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                    } else {
                        None
                    }
                } else {
                    char::from_u32(hi)
                };
                out.push(c.unwrap_or(char::REPLACEMENT_CHARACTER));
            }
            _ => out.push(char::REPLACEMENT_CHARACTER),
        }
    }
    Cow::Owned(out)
}

fn hex4(digits: Option<&[u8]>) -> u32 {
    digits
        .and_then(|d| std::str::from_utf8(d).ok())
        .and_then(|s| u32::from_str_radix(s, 16).ok())
        .unwrap_or(0xFFFD)
}

/// The fields a detector asks a source for, in slot order.
///
/// A field name is looked up as a top-level key first (`"file.sha1"` as one key, the flat
/// shape of most telemetry exports); when no such key exists, a dotted name is followed as a
/// path into nested objects (`{"file": {"sha1": …}}`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Projection {
    fields: Vec<String>,
}

impl Projection {
    /// A projection of the given field names, in slot order.
    pub fn new<I, S>(fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Projection { fields: fields.into_iter().map(Into::into).collect() }
    }

    /// The field names, in slot order.
    pub fn fields(&self) -> &[String] {
        &self.fields
    }

    /// The number of slots.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether the projection asks for nothing.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(b: &[u8], escaped: bool) -> RawValue<'_> {
        RawValue::new(RawKind::Str { escaped }, b)
    }

    #[test]
    fn decodes_escapes_and_surrogate_pairs() {
        let v = s(br#"a\"b\\c\/\n\u00e9\ud83d\ude00"#, true);
        assert_eq!(v.as_str().unwrap(), "a\"b\\c/\né😀");
    }

    #[test]
    fn identity_follows_python_key_equality() {
        let id = |v: RawValue<'_>| {
            let mut out = Vec::new();
            v.write_identity(&mut out).map(|_| out)
        };
        let one = id(RawValue::new(RawKind::Number { integer: true }, b"1")).unwrap();
        assert_eq!(id(RawValue::new(RawKind::Number { integer: false }, b"1.0")).unwrap(), one);
        assert_eq!(id(RawValue::new(RawKind::True, b"true")).unwrap(), one);
        assert_ne!(id(s(b"1", false)).unwrap(), one);
        assert_eq!(id(s(b"\\u0041", true)).unwrap(), id(s(b"A", false)).unwrap());
        assert!(id(RawValue::new(RawKind::Array, b"[]")).is_err());
    }

    #[test]
    fn hex_digests_pack_and_unpack() {
        let id = |text: &str| {
            let mut out = Vec::new();
            s(text.as_bytes(), false).write_identity(&mut out).unwrap();
            out
        };
        let sha1 = "4f2e1c0a9b8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f";
        assert_eq!(id(sha1).len(), 21);
        assert_eq!(identity_string(&id(sha1)).unwrap(), sha1);
        let upper = "4F2E1C0A9B8D7E6F5A4B3C2D1E0F9A8B";
        assert_eq!(identity_string(&id(upper)).unwrap(), upper);
        // Mixed case, odd length, short or non-hex strings stay as they are, and equality
        // is by text: the escaped form of a digest is the same sample.
        for text in ["4f2E1c0a9b8d7e6f", "4f2e1c0a9b8d7e6f5", "abcdef", "4f2e1c0a9b8d7e6g"] {
            assert_eq!(id(text)[0], b's', "{text}");
            assert_eq!(identity_string(&id(text)).unwrap(), text);
        }
        let mut escaped = Vec::new();
        s(b"\\u0034f2e1c0a9b8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f", true)
            .write_identity(&mut escaped)
            .unwrap();
        assert_eq!(escaped, id(sha1));
    }

    proptest::proptest! {
        /// Packing hex digests is invisible: identities are equal exactly when the strings
        /// are, and the text comes back unchanged.
        #[test]
        fn string_identities_round_trip(
            a in "[0-9a-fA-F]{0,3}|[0-9a-f]{14,18}|[0-9A-F]{16,40}|[0-9a-fA-F]{16,20}|\\PC{0,20}",
            b in "[0-9a-f]{16}|[0-9a-fA-F]{16}|\\PC{0,3}",
        ) {
            let id = |t: &str| {
                let mut out = Vec::new();
                s(t.as_bytes(), false).write_identity(&mut out).unwrap();
                out
            };
            proptest::prop_assert_eq!(identity_string(&id(&a)).unwrap(), a.clone());
            proptest::prop_assert_eq!(id(&a) == id(&b), a == b);
        }
    }

    #[test]
    fn integer_parsing_covers_the_range() {
        for (text, want) in [
            ("0", Some(0)),
            ("-0", Some(0)),
            ("9223372036854775807", Some(i64::MAX)),
            ("-9223372036854775808", Some(i64::MIN)),
            ("9223372036854775808", None),
            ("-9223372036854775809", None),
            ("12345678901234567890", None),
            ("", None),
            ("-", None),
        ] {
            assert_eq!(parse_i64(text.as_bytes()), want, "{text}");
        }
    }

    #[test]
    fn integers_are_strict() {
        let int = RawValue::new(RawKind::Number { integer: true }, b"1630479598000");
        assert_eq!(int.as_i64(), Ok(1630479598000));
        let frac = RawValue::new(RawKind::Number { integer: false }, b"1604448000000.5");
        assert!(matches!(frac.as_i64(), Err(ValueError::NotInteger(_))));
        let big = RawValue::new(RawKind::Number { integer: true }, b"99999999999999999999");
        assert!(matches!(big.as_i64(), Err(ValueError::OutOfRange(_))));
        assert!(matches!(s(b"17", false).as_i64(), Err(ValueError::NotInteger(_))));
    }
}
