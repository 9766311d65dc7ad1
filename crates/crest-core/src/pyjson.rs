//! JSON exactly as Python's `json.dump(obj, f, indent=2, sort_keys=True)` writes it.
//!
//! Drop-in users diff crest's files against the reference's, so the layout is part of the
//! contract: two-space indentation with one element per line, keys sorted by code point,
//! `", "`/`": "` separators, non-ASCII escaped as lowercase `\uXXXX` (surrogate pairs above the
//! BMP), Python's float repr (`1.0`, `1e-05`), and no trailing newline.

use std::fmt::Write as _;

use crate::num::{PyNum, py_float_repr};

/// A JSON value with Python's `int`/`float` distinction.
#[derive(Clone, Debug)]
pub enum PyJson {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer or a float.
    Num(PyNum),
    /// A string.
    Str(String),
    /// An array.
    Array(Vec<PyJson>),
    /// An object; keys are sorted when written.
    Object(Vec<(String, PyJson)>),
}

impl From<PyNum> for PyJson {
    fn from(n: PyNum) -> Self {
        PyJson::Num(n)
    }
}

impl From<i64> for PyJson {
    fn from(i: i64) -> Self {
        PyJson::Num(PyNum::Int(i))
    }
}

impl From<f64> for PyJson {
    fn from(f: f64) -> Self {
        PyJson::Num(PyNum::Float(f))
    }
}

impl From<String> for PyJson {
    fn from(s: String) -> Self {
        PyJson::Str(s)
    }
}

impl PyJson {
    /// Serialises like `json.dumps(self, indent=2, sort_keys=True)` (no trailing newline).
    pub fn to_pretty_string(&self) -> String {
        let mut out = String::new();
        self.write_pretty(&mut out, 0);
        out
    }

    fn write_pretty(&self, out: &mut String, depth: usize) {
        match self {
            PyJson::Null => out.push_str("null"),
            PyJson::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            PyJson::Num(n) => write_num(out, *n),
            PyJson::Str(s) => write_str(out, s),
            PyJson::Array(items) if items.is_empty() => out.push_str("[]"),
            PyJson::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    newline_indent(out, depth + 1);
                    item.write_pretty(out, depth + 1);
                }
                newline_indent(out, depth);
                out.push(']');
            }
            PyJson::Object(entries) if entries.is_empty() => out.push_str("{}"),
            PyJson::Object(entries) => {
                let mut sorted: Vec<&(String, PyJson)> = entries.iter().collect();
                // UTF-8 byte order is code-point order, which is how Python sorts `str`.
                sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                out.push('{');
                for (i, (key, value)) in sorted.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    newline_indent(out, depth + 1);
                    write_str(out, key);
                    out.push_str(": ");
                    value.write_pretty(out, depth + 1);
                }
                newline_indent(out, depth);
                out.push('}');
            }
        }
    }
}

fn newline_indent(out: &mut String, depth: usize) {
    out.push('\n');
    out.extend(std::iter::repeat_n(' ', 2 * depth));
}

fn write_num(out: &mut String, n: PyNum) {
    match n {
        PyNum::Int(i) => {
            let _ = write!(out, "{i}");
        }
        // Python's json writes the non-finite floats as JavaScript names.
        PyNum::Float(f) if f.is_nan() => out.push_str("NaN"),
        PyNum::Float(f) if f.is_infinite() => {
            out.push_str(if f > 0.0 { "Infinity" } else { "-Infinity" })
        }
        PyNum::Float(f) => out.push_str(&py_float_repr(f)),
    }
}

/// Writes `s` as a JSON string literal with Python's `ensure_ascii=True` escapes.
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(entries: Vec<(&str, PyJson)>) -> PyJson {
        PyJson::Object(entries.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    #[test]
    fn matches_python_indent_two_sorted() {
        let v = obj(vec![
            (
                "malicious",
                obj(vec![(
                    "ZipArchiveFile",
                    PyJson::Array(vec![
                        1543.into(),
                        366.into(),
                        202.into(),
                        4.215846994535519.into(),
                        11.492695486899816.into(),
                        0.13.into(),
                        2.into(),
                        178.into(),
                    ]),
                )]),
            ),
            ("benign", obj(vec![])),
        ]);
        let want = "{\n  \"benign\": {},\n  \"malicious\": {\n    \"ZipArchiveFile\": [\n      1543,\n      366,\n      202,\n      4.215846994535519,\n      11.492695486899816,\n      0.13,\n      2,\n      178\n    ]\n  }\n}";
        assert_eq!(v.to_pretty_string(), want);
    }

    #[test]
    fn empty_containers_and_scalars() {
        assert_eq!(obj(vec![]).to_pretty_string(), "{}");
        assert_eq!(PyJson::Array(vec![]).to_pretty_string(), "[]");
        assert_eq!(PyJson::Null.to_pretty_string(), "null");
        assert_eq!(PyJson::from(1.0).to_pretty_string(), "1.0");
        assert_eq!(PyJson::from(f64::NAN).to_pretty_string(), "NaN");
        assert_eq!(PyJson::from(f64::NEG_INFINITY).to_pretty_string(), "-Infinity");
    }

    #[test]
    fn ascii_escapes_like_python() {
        let mut out = String::new();
        write_str(&mut out, "a\"b\\c\n\t\u{1}\u{7f}é文😀");
        assert_eq!(out, r#""a\"b\\c\n\t\u0001\u007f\u00e9\u6587\ud83d\ude00""#);
    }

    #[test]
    fn keys_sort_by_code_point() {
        // Python: sorted(["70", "100", "14", "3", "Z", "a", "é"]) by code point.
        let v = obj(vec![
            ("70", PyJson::Null),
            ("100", PyJson::Null),
            ("é", PyJson::Null),
            ("a", PyJson::Null),
            ("Z", PyJson::Null),
            ("14", PyJson::Null),
            ("3", PyJson::Null),
        ]);
        let s = v.to_pretty_string();
        let keys: Vec<&str> = s.lines().filter_map(|l| l.trim().split('"').nth(1)).collect();
        assert_eq!(keys, ["100", "14", "3", "70", "Z", "a", "\\u00e9"]);
    }
}
