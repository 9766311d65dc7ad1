//! Events as pipelines read them: JSON objects, fields by name, filters, times.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::config::{Match, Scalar};

/// A field of an event: a flat key first (`"file.sha1": …`, as exports write them), then the
/// dotted path through nested objects (`{"file": {"sha1": …}}`).
pub fn field<'v>(event: &'v Value, name: &str) -> Option<&'v Value> {
    let object = event.as_object()?;
    if let Some(v) = object.get(name) {
        return Some(v);
    }
    let mut at = event;
    for part in name.split('.') {
        at = at.as_object()?.get(part)?;
    }
    Some(at)
}

/// A field's value as key text: strings as they are, numbers and booleans as JSON writes
/// them; `None` for null, objects, arrays and absent fields.
pub fn key_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Appends a field's value as key text (see [`key_text`]) to `out`, without allocating;
/// `false` (and `out` unchanged) for null, objects and arrays.
pub fn push_key_text(value: &Value, out: &mut String) -> bool {
    use std::fmt::Write as _;
    match value {
        Value::String(s) => out.push_str(s),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        _ => return false,
    }
    true
}

/// A field's value as a number: JSON numbers, and text that reads as one.
pub fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// An instant (microseconds since the Unix epoch): RFC 3339 text (or `YYYY-MM-DD HH:MM:SS`
/// UTC), or a number of epoch seconds (milliseconds above 10¹¹, as exports mix them).
pub fn instant(value: &Value) -> Option<i64> {
    match value {
        Value::String(s) => crest_core::time::parse_instant_text(s),
        Value::Number(n) => crest_core::time::parse_instant_text(&n.to_string()),
        _ => None,
    }
}

/// Whether an event meets every condition of a filter.
pub fn matches(event: &Value, filter: &BTreeMap<String, Match>) -> bool {
    filter.iter().all(|(name, m)| {
        let Some(v) = field(event, name) else {
            return false;
        };
        match m {
            Match::One(s) => scalar_eq(v, s),
            Match::Any(list) => list.iter().any(|s| scalar_eq(v, s)),
        }
    })
}

fn scalar_eq(v: &Value, s: &Scalar) -> bool {
    match (v, s) {
        (Value::String(a), Scalar::Text(b)) => a == b,
        (Value::Bool(a), Scalar::Bool(b)) => a == b,
        (Value::Number(a), Scalar::Int(b)) => {
            a.as_i64() == Some(*b) || a.as_f64().is_some_and(|x| x == *b as f64)
        }
        (Value::Number(a), Scalar::Float(b)) => a.as_f64() == Some(*b),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_flat_then_nested() {
        let e = json!({"file.sha1": "flat", "file": {"sha1": "nested", "size": 3}});
        assert_eq!(field(&e, "file.sha1"), Some(&json!("flat")));
        assert_eq!(field(&e, "file.size"), Some(&json!(3)));
        assert_eq!(field(&e, "file.none"), None);
        assert_eq!(field(&json!([1]), "a"), None);
    }

    #[test]
    fn filters_compare_by_type() {
        let e = json!({"type": "auth", "port": 22, "ok": false, "ratio": 0.5});
        let f = |pairs: Vec<(&str, Match)>| -> BTreeMap<String, Match> {
            pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
        };
        assert!(matches(&e, &f(vec![("type", Match::One(Scalar::Text("auth".into())))])));
        assert!(matches(
            &e,
            &f(vec![("port", Match::Any(vec![Scalar::Int(80), Scalar::Int(22)]))])
        ));
        assert!(matches(&e, &f(vec![("ok", Match::One(Scalar::Bool(false)))])));
        assert!(matches(&e, &f(vec![("ratio", Match::One(Scalar::Float(0.5)))])));
        assert!(!matches(&e, &f(vec![("port", Match::One(Scalar::Text("22".into())))])));
        assert!(!matches(&e, &f(vec![("missing", Match::One(Scalar::Bool(true)))])));
    }

    #[test]
    fn key_text_pushed_is_key_text() {
        for v in [json!("a\u{1f}b"), json!(12), json!(-1.5), json!(true), json!(null), json!([1])] {
            let mut out = String::from("x");
            let pushed = push_key_text(&v, &mut out);
            assert_eq!(pushed.then(|| out[1..].to_string()), key_text(&v), "{v}");
            assert_eq!(pushed, out.len() > 1);
        }
    }

    #[test]
    fn instants() {
        assert_eq!(instant(&json!("1970-01-01T00:01:00Z")), Some(60_000_000));
        assert_eq!(instant(&json!(60)), Some(60_000_000));
        assert_eq!(instant(&json!(1_604_264_108_000_i64)), Some(1_604_264_108_000_000));
        assert_eq!(instant(&json!(null)), None);
    }
}
