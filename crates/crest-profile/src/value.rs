//! Pulling a feature's value out of a message, as ScryWarden's `Single` and `Multi` fields do.
//!
//! A value is kept as canonical JSON text (object keys sorted, no spaces), which is how
//! ScryWarden stores a feature: the string `hello` is `"hello"` with its quotes, the number 5 is
//! `5`. A missing key or a JSON `null` is the empty string: the reporters' "null".

use serde_json::Value;

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
    pub fn get<'a>(&self, message: &'a Value) -> Option<&'a Value> {
        if let [only] = self.0.as_slice() {
            if let Some(v) = message.as_object().and_then(|o| o.get(only.as_str())) {
                return Some(v);
            }
            if only.contains('.') {
                return walk(message, only.split('.'));
            }
            return None;
        }
        walk(message, self.0.iter().map(String::as_str))
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
    match value {
        None | Some(Value::Null) => String::new(),
        Some(v) => v.to_string(),
    }
}

/// The canonical text of several paths as one JSON array (ScryWarden's `Multi`): missing
/// values are `null` inside the array.
pub fn canonical_multi(message: &Value, paths: &[FieldPath]) -> String {
    let mut out = String::from("[");
    for (i, p) in paths.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match p.get(message) {
            None => out.push_str("null"),
            Some(v) => out.push_str(&v.to_string()),
        }
    }
    out.push(']');
    out
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
    }
}
