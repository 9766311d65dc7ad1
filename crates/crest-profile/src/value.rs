//! Pulling a feature's value out of a message, as ScryWarden's `Single` and `Multi` fields do.
//!
//! A value is kept as canonical JSON text (object keys sorted, no spaces), which is how
//! ScryWarden stores a feature: the string `hello` is `"hello"` with its quotes, the number 5 is
//! `5`. A missing key or a JSON `null` is the empty string: the reporters' "null".

use std::borrow::Cow;
use std::sync::Arc;

use crest_core::value::{RawKind, RawValue};
use serde_json::Value;

/// Where a path's first key is looked up: a whole JSON document, or a [`Doc`].
pub trait Fields {
    /// The value of a top-level key (for a whole array, an element by decimal index).
    fn field(&self, key: &str) -> Option<&Value>;
}

impl Fields for Value {
    fn field(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(o) => o.get(key),
            Value::Array(a) => a.get(key.parse::<usize>().ok()?),
            _ => None,
        }
    }
}

/// A message's content: a whole JSON document, or only the top-level fields some profiles
/// read, taken from its JSON text by a scanner (the text is kept for storing the message).
#[derive(Clone, Debug)]
pub enum Doc {
    /// A decoded document.
    Whole(Value),
    /// The fields profiles read, and the text they came from.
    Projected(Projected),
}

impl From<Value> for Doc {
    fn from(v: Value) -> Doc {
        Doc::Whole(v)
    }
}

impl Fields for Doc {
    fn field(&self, key: &str) -> Option<&Value> {
        match self {
            Doc::Whole(v) => v.field(key),
            Doc::Projected(p) => p.keys.slot(key).and_then(|i| p.get(i)),
        }
    }
}

impl Doc {
    /// The whole document, decoded (a projected message's text is parsed again: only stored
    /// messages need it).
    pub fn to_value(&self) -> Cow<'_, Value> {
        match self {
            Doc::Whole(v) => Cow::Borrowed(v),
            // The scanner validated the text; serde_json refuses only nesting deeper than 128,
            // and such a message is kept as its text.
            Doc::Projected(p) => {
                let text = &p.text[p.span.clone()];
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
        // Keys are short: compare lengths and first bytes before the bytes themselves.
        let k = key.as_bytes();
        self.names.iter().position(|n| {
            let n = n.as_bytes();
            n.len() == k.len() && n.first() == k.first() && n.last() == k.last() && n == k
        })
    }
}

/// A message's projected fields: for each of [`Keys`], its value if present.
#[derive(Clone, Debug)]
pub struct Projected {
    keys: Arc<Keys>,
    values: Vec<Slot>,
    /// The message is `text[span]` (a block of lines shared by many messages).
    text: Arc<str>,
    span: std::ops::Range<usize>,
}

/// One projected field. Strings are decoded when first read: a message matches one profile
/// of several, and the others' fields are never looked at.
#[derive(Clone, Debug)]
enum Slot {
    Missing,
    Value(Value),
    Str { start: u32, end: u32, escaped: bool, decoded: std::sync::OnceLock<Value> },
}

impl Projected {
    /// The projection of the message `text[span]`, whose values a scanner found (`raw[i]` for
    /// `keys.names()[i]`) in `text[span]`. Fails only for what JSON allows and serde_json does
    /// not: numbers beyond `f64`, nesting deeper than 128.
    pub fn new(
        keys: Arc<Keys>,
        raw: &[Option<RawValue<'_>>],
        text: Arc<str>,
        span: std::ops::Range<usize>,
    ) -> Result<Projected, String> {
        let mut values = Vec::with_capacity(raw.len());
        for (r, key) in raw.iter().zip(keys.names()) {
            values.push(match r {
                None => Slot::Missing,
                Some(r) => match r.kind() {
                    RawKind::Str { escaped } => {
                        let start = r.raw().as_ptr() as usize - text.as_ptr() as usize;
                        let end = start + r.raw().len();
                        match (u32::try_from(start), u32::try_from(end)) {
                            (Ok(start), Ok(end))
                                if text.as_bytes().get(start as usize..end as usize)
                                    == Some(r.raw()) =>
                            {
                                Slot::Str { start, end, escaped, decoded: Default::default() }
                            }
                            _ => Slot::Value(Value::String(
                                r.as_str().unwrap_or_default().into_owned(),
                            )),
                        }
                    }
                    _ => Slot::Value(to_value(r).map_err(|e| format!("field '{key}': {e}"))?),
                },
            });
        }
        Ok(Projected { keys, values, text, span })
    }

    fn get(&self, slot: usize) -> Option<&Value> {
        match &self.values[slot] {
            Slot::Missing => None,
            Slot::Value(v) => Some(v),
            Slot::Str { start, end, escaped, decoded } => Some(decoded.get_or_init(|| {
                let raw = &self.text.as_bytes()[*start as usize..*end as usize];
                let kind = RawKind::Str { escaped: *escaped };
                Value::String(RawValue::new(kind, raw).as_str().unwrap_or_default().into_owned())
            })),
        }
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
    pub fn get<'a, F: Fields + ?Sized>(&self, message: &'a F) -> Option<&'a Value> {
        if let [only] = self.0.as_slice() {
            if let Some(v) = message.field(only) {
                return Some(v);
            }
            if only.contains('.') {
                let mut keys = only.split('.');
                return walk(message.field(keys.next()?)?, keys);
            }
            return None;
        }
        let (first, rest) = self.0.split_first()?;
        walk(message.field(first)?, rest.iter().map(String::as_str))
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
pub fn canonical(value: Option<&Value>) -> String {
    let mut out = String::new();
    canonical_into(&mut out, value);
    out
}

/// Appends [`canonical`]'s text.
pub fn canonical_into(out: &mut String, value: Option<&Value>) {
    match value {
        None | Some(Value::Null) => {}
        Some(v) => push_canonical(out, v),
    }
}

/// Appends a value's JSON text. The common case, a string serde_json writes as is between
/// quotes, skips its formatter.
fn push_canonical(out: &mut String, v: &Value) {
    match v {
        Value::String(s) if !s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) => {
            out.reserve(s.len() + 2);
            out.push('"');
            out.push_str(s);
            out.push('"');
        }
        v => out.push_str(&v.to_string()),
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
            Some(v) => push_canonical(out, v),
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
        assert_eq!(canonical(quoted.get("q")), quoted["q"].to_string());
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
