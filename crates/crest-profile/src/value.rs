//! Pulling a feature's value out of a message, as ScryWarden's `Single` and `Multi` fields do.
//!
//! A value is kept as canonical JSON text (object keys sorted, no spaces), which is how
//! ScryWarden stores a feature: the string `hello` is `"hello"` with its quotes, the number 5 is
//! `5`. A missing key or a JSON `null` is the empty string: the reporters' "null".

use std::borrow::Cow;
use std::sync::Arc;

use crest_core::value::{RawKind, RawValue};
use serde_json::Value;

/// A field's value as a message holds it: a decoded JSON value, or a string read in place.
#[derive(Clone, Debug, PartialEq)]
pub enum Field<'a> {
    /// A value of a decoded document.
    Value(&'a Value),
    /// A value decoded on reading (a number, literal, object or array of a JSON line).
    Owned(Value),
    /// A string (its contents, unquoted), most often borrowed from the line's text.
    Str(Cow<'a, str>),
}

impl Field<'_> {
    /// The value as JSON (copying a string).
    pub fn to_value(&self) -> Value {
        match self {
            Field::Value(v) => (*v).clone(),
            Field::Owned(v) => v.clone(),
            Field::Str(s) => Value::String(s.to_string()),
        }
    }

    /// The value, unless it is a string.
    fn json(&self) -> Option<&Value> {
        match self {
            Field::Value(v) => Some(v),
            Field::Owned(v) => Some(v),
            Field::Str(_) => None,
        }
    }

    /// The string, if the value is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Field::Str(s) => Some(s),
            other => other.json()?.as_str(),
        }
    }

    /// Whether the value is JSON `null`.
    pub fn is_null(&self) -> bool {
        self.json().is_some_and(Value::is_null)
    }

    /// Whether the value equals `v` (as JSON).
    pub fn equals(&self, v: &Value) -> bool {
        match self {
            Field::Str(s) => v.as_str() == Some(s),
            other => other.json() == Some(v),
        }
    }

    /// The value at `keys` (at least one) inside this one (objects by key, arrays by decimal
    /// index): never inside a string.
    fn walk<'k>(self, keys: impl Iterator<Item = &'k str>) -> Option<Self> {
        match self {
            Field::Value(v) => walk(v, keys).map(Field::Value),
            Field::Owned(v) => walk(&v, keys).cloned().map(Field::Owned),
            Field::Str(_) => None,
        }
    }
}

impl std::fmt::Display for Field<'_> {
    /// The value's JSON text.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Field::Str(s) => write!(f, "{}", Value::String(s.to_string())),
            other => write!(f, "{}", other.json().expect("not a string")),
        }
    }
}

/// Where a path's first key is looked up: a whole JSON document, a [`Doc`], or a [`Scanned`]
/// line.
pub trait Fields {
    /// The value of a top-level key (for a whole array, an element by decimal index).
    fn field(&self, key: &str) -> Option<Field<'_>>;
}

impl Fields for Value {
    fn field(&self, key: &str) -> Option<Field<'_>> {
        match self {
            Value::Object(o) => o.get(key),
            Value::Array(a) => a.get(key.parse::<usize>().ok()?),
            _ => None,
        }
        .map(Field::Value)
    }
}

/// A message's content: a whole JSON document, or the JSON text of one (a line of a block of
/// lines, kept for storing the message; [`Scanned`] reads its fields as it is parsed).
#[derive(Clone, Debug)]
pub enum Doc {
    /// A decoded document.
    Whole(Value),
    /// The message is `text[span]`, a JSON object (a block of lines is shared by many).
    Text {
        /// The text of a block of lines.
        text: Arc<str>,
        /// Where the message is in it.
        span: std::ops::Range<usize>,
    },
}

impl From<Value> for Doc {
    fn from(v: Value) -> Doc {
        Doc::Whole(v)
    }
}

impl Fields for Doc {
    fn field(&self, key: &str) -> Option<Field<'_>> {
        match self {
            Doc::Whole(v) => v.field(key),
            // Not the pipeline's path (it reads lines as it scans them): decoded on each read.
            Doc::Text { .. } => match self.to_value() {
                Cow::Owned(v) => v.field(key).map(|f| Field::Owned(f.to_value())),
                Cow::Borrowed(v) => v.field(key),
            },
        }
    }
}

impl Doc {
    /// The message's JSON text: as read for a line, serialized for a decoded document.
    pub fn json_text(&self) -> Cow<'_, str> {
        match self {
            Doc::Whole(v) => Cow::Owned(v.to_string()),
            Doc::Text { text, span } => Cow::Borrowed(&text[span.clone()]),
        }
    }

    /// The whole document, decoded (a message's text is parsed again: only stored messages
    /// need it).
    pub fn to_value(&self) -> Cow<'_, Value> {
        match self {
            Doc::Whole(v) => Cow::Borrowed(v),
            // The scanner validated the text; serde_json refuses only nesting deeper than 128,
            // and such a message is kept as its text.
            Doc::Text { text, span } => {
                let text = &text[span.clone()];
                Cow::Owned(
                    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string())),
                )
            }
        }
    }
}

/// The top-level keys a set of profiles reads, in slot order.
#[derive(Debug, Default)]
pub struct Keys {
    names: Vec<String>,
    /// Per name: its length and its first eight bytes, to compare short keys at once.
    prints: Vec<(usize, u64)>,
    /// Bit `n` set when some key is `n` bytes long (63 for longer ones): most misses are free.
    lengths: u64,
}

impl Keys {
    /// The keys, deduplicated in first-seen order.
    pub fn new<'a>(keys: impl IntoIterator<Item = &'a str>) -> Keys {
        let mut k = Keys::default();
        for key in keys {
            if !k.names.iter().any(|n| n == key) {
                k.lengths |= 1 << key.len().min(63);
                k.prints.push((key.len(), prefix(key.as_bytes())));
                k.names.push(key.to_string());
            }
        }
        k
    }

    /// The keys in slot order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    fn slot(&self, key: &str) -> Option<usize> {
        if self.lengths & (1 << key.len().min(63)) == 0 {
            return None;
        }
        // Keys are short: lengths and first eight bytes decide, the rest is compared only
        // for longer keys.
        let k = key.as_bytes();
        let print = (k.len(), prefix(k));
        (0..self.names.len())
            .find(|&i| self.prints[i] == print && (k.len() <= 8 || self.names[i].as_bytes() == k))
    }
}

/// The first eight bytes of a key (zero-padded) as one integer.
fn prefix(key: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = key.len().min(8);
    b[..n].copy_from_slice(&key[..n]);
    u64::from_le_bytes(b)
}

/// A JSON line's top-level fields, as a scanner found them in its text (`raw[i]` for
/// `keys.names()[i]`): strings are read in place, other values decoded when read.
#[derive(Debug)]
pub struct Scanned<'a> {
    keys: &'a Keys,
    raw: Vec<Option<RawValue<'a>>>,
    text: &'a str,
}

impl<'a> Scanned<'a> {
    /// The fields of `text`, whose values a scanner found. Fails only for what JSON allows
    /// and serde_json does not (numbers beyond `f64`, nesting deeper than 128) in a field
    /// some profile reads.
    pub fn new(
        keys: &'a Keys,
        raw: Vec<Option<RawValue<'a>>>,
        text: &'a str,
    ) -> Result<Scanned<'a>, String> {
        for (r, key) in raw.iter().zip(keys.names()) {
            let Some(r) = r else { continue };
            let checked = match r.kind() {
                // A number without an exponent and of at most 308 digits is a finite `f64`.
                RawKind::Number { .. } => {
                    r.raw().len() > 308 || r.raw().iter().any(|b| matches!(b, b'e' | b'E'))
                }
                RawKind::Object | RawKind::Array => true,
                _ => false,
            };
            if checked {
                serde_json::from_slice::<Value>(r.raw())
                    .map_err(|e| format!("field '{key}': {e}"))?;
            }
        }
        Ok(Scanned { keys, raw, text })
    }

    /// A string's contents: a slice of the text (already valid UTF-8) when it has no escapes.
    fn string(&self, r: &RawValue<'a>, escaped: bool) -> Cow<'a, str> {
        let raw = r.raw();
        let start = (raw.as_ptr() as usize).checked_sub(self.text.as_ptr() as usize);
        let slice = start.and_then(|s| self.text.get(s..s.checked_add(raw.len())?));
        match slice {
            // The scanner's bytes are the text's own: the same address says the same bytes.
            Some(s) if !escaped && s.as_ptr() == raw.as_ptr() => Cow::Borrowed(s),
            _ => r.as_str().unwrap_or_default(),
        }
    }
}

impl Fields for Scanned<'_> {
    fn field(&self, key: &str) -> Option<Field<'_>> {
        let r = self.raw[self.keys.slot(key)?].as_ref()?;
        Some(match r.kind() {
            RawKind::Str { escaped } => Field::Str(self.string(r, escaped)),
            _ => Field::Owned(to_value(r).ok()?),
        })
    }
}

/// A scanned value as serde_json's: strings and literals directly, the rest parsed.
fn to_value(r: &RawValue<'_>) -> Result<Value, serde_json::Error> {
    Ok(match r.kind() {
        RawKind::Str { .. } => Value::String(r.as_str().unwrap_or_default().into_owned()),
        RawKind::True => Value::Bool(true),
        RawKind::False => Value::Bool(false),
        RawKind::Null => Value::Null,
        RawKind::Number { .. } | RawKind::Object | RawKind::Array => {
            serde_json::from_slice(r.raw())?
        }
    })
}

/// Where a value sits in a message: a list of keys (array elements by decimal index).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldPath(Vec<String>);

impl FieldPath {
    /// A path from a dotted name. A flat key that itself contains dots (`file.type` in flat
    /// exports) is found first; the dots are taken as nesting only when no such key exists.
    pub fn dotted(name: &str) -> FieldPath {
        FieldPath(vec![name.to_string()])
    }

    /// A path from explicit keys, each taken literally.
    pub fn keys(keys: Vec<String>) -> FieldPath {
        FieldPath(keys)
    }

    /// The path as one display string, keys joined by dots.
    pub fn display(&self) -> String {
        self.0.join(".")
    }

    /// The value at this path, or `None` when a key is missing.
    pub fn get<'a, F: Fields + ?Sized>(&self, message: &'a F) -> Option<Field<'a>> {
        if let [only] = self.0.as_slice() {
            if let Some(v) = message.field(only) {
                return Some(v);
            }
            if only.contains('.') {
                let mut keys = only.split('.');
                return message.field(keys.next()?)?.walk(keys);
            }
            return None;
        }
        let (first, rest) = self.0.split_first()?;
        message.field(first)?.walk(rest.iter().map(String::as_str))
    }

    /// The top-level keys [`get`](Self::get) may read.
    pub fn top_keys(&self) -> Vec<&str> {
        match self.0.as_slice() {
            [only] => {
                let mut keys = vec![only.as_str()];
                if let Some((head, _)) = only.split_once('.') {
                    keys.push(head);
                }
                keys
            }
            keys => keys.first().map(String::as_str).into_iter().collect(),
        }
    }
}

fn walk<'a, 'k>(mut at: &'a Value, keys: impl Iterator<Item = &'k str>) -> Option<&'a Value> {
    for key in keys {
        at = match at {
            Value::Object(o) => o.get(key)?,
            Value::Array(a) => a.get(key.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(at)
}

/// Canonical JSON text of a value: keys sorted (serde_json's map is ordered), compact. `null`
/// becomes the empty string, as ScryWarden stores it.
pub fn canonical(value: Option<Field<'_>>) -> String {
    let mut out = String::new();
    canonical_into(&mut out, value);
    out
}

/// Appends [`canonical`]'s text.
pub fn canonical_into(out: &mut String, value: Option<Field<'_>>) {
    match value {
        Some(v) if !v.is_null() => push_canonical(out, &v),
        _ => {}
    }
}

/// Appends a value's JSON text. The common case, a string serde_json writes as is between
/// quotes, skips its formatter.
fn push_canonical(out: &mut String, v: &Field<'_>) {
    match v.as_str() {
        Some(s) if !s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) => {
            out.reserve(s.len() + 2);
            out.push('"');
            out.push_str(s);
            out.push('"');
        }
        _ => out.push_str(&v.to_string()),
    }
}

/// The canonical text of several paths as one JSON array (ScryWarden's `Multi`): missing
/// values are `null` inside the array.
pub fn canonical_multi<F: Fields + ?Sized>(message: &F, paths: &[FieldPath]) -> String {
    let mut out = String::new();
    canonical_multi_into(&mut out, message, paths);
    out
}

/// Appends [`canonical_multi`]'s text.
pub fn canonical_multi_into<F: Fields + ?Sized>(
    out: &mut String,
    message: &F,
    paths: &[FieldPath],
) {
    out.push('[');
    for (i, p) in paths.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match p.get(message) {
            None => out.push_str("null"),
            Some(v) => push_canonical(out, &v),
        }
    }
    out.push(']');
}

/// A value as a plain string for matching and actor names: strings without quotes, numbers
/// and booleans as written, anything else as JSON.
pub fn plain(value: &Value) -> std::borrow::Cow<'_, str> {
    match value {
        Value::String(s) => std::borrow::Cow::Borrowed(s.as_str()),
        other => std::borrow::Cow::Owned(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_canonical_json_text() {
        let m = json!({"greeting": "hello", "n": 5, "o": {"b": 1, "a": [1, null]}, "z": null,
                       "file.type": "Pe", "file": {"size": 3}});
        let get = |p: &str| canonical(FieldPath::dotted(p).get(&m));
        assert_eq!(get("greeting"), "\"hello\"");
        let quoted = json!({"q": "a\"b\\c\u{1}é"});
        assert_eq!(canonical(quoted.get("q").map(Field::Value)), quoted["q"].to_string());
        assert_eq!(get("n"), "5");
        assert_eq!(get("o"), r#"{"a":[1,null],"b":1}"#);
        assert_eq!(get("z"), "");
        assert_eq!(get("missing"), "");
        assert_eq!(get("file.type"), "\"Pe\"");
        assert_eq!(get("file.size"), "3");
        assert_eq!(get("o.a.0"), "1");
        let paths =
            [FieldPath::dotted("greeting"), FieldPath::dotted("nope"), FieldPath::dotted("n")];
        assert_eq!(canonical_multi(&m, &paths), r#"["hello",null,5]"#);
        let odd = json!({"a": "x\"y", "b": [1.5, {"k": "\u{7}"}]});
        let both = [FieldPath::dotted("a"), FieldPath::dotted("b")];
        assert_eq!(canonical_multi(&odd, &both), json!([odd["a"], odd["b"]]).to_string());
    }
}
