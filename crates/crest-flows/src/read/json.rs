//! Loose JSON values for the JSON-lines formats: every field is taken as it comes (number,
//! string, bool, array, null or absent) and converted afterwards, so that a wrong type is an
//! error naming the field rather than serde's "invalid type at column N".

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::net::IpAddr;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::Bad;
use super::text;

/// One JSON value, borrowed from the line where possible.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) enum Val<'a> {
    /// Absent or `null`.
    #[default]
    Null,
    /// `true`/`false`.
    Bool(bool),
    /// A non-negative integer.
    U(u64),
    /// A negative integer.
    I(i64),
    /// A number with a fraction or exponent.
    F(f64),
    /// A string.
    S(Cow<'a, str>),
    /// An array; its string (and number) elements, others dropped.
    List(Vec<Cow<'a, str>>),
    /// An object.
    Object,
}

struct ValVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for ValVisitor<'a> {
    type Value = Val<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Val<'a>, E> {
        Ok(Val::Bool(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Val<'a>, E> {
        Ok(Val::U(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Val<'a>, E> {
        Ok(if v >= 0 { Val::U(v as u64) } else { Val::I(v) })
    }
    fn visit_f64<E>(self, v: f64) -> Result<Val<'a>, E> {
        Ok(Val::F(v))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Val<'a>, E> {
        Ok(Val::S(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Val<'a>, E> {
        Ok(Val::S(Cow::Owned(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<Val<'a>, E> {
        Ok(Val::S(Cow::Owned(v)))
    }
    fn visit_unit<E>(self) -> Result<Val<'a>, E> {
        Ok(Val::Null)
    }
    fn visit_none<E>(self) -> Result<Val<'a>, E> {
        Ok(Val::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Val<'a>, D::Error> {
        Val::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Val<'a>, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element::<Val<'a>>()? {
            match v {
                Val::S(s) => items.push(s),
                Val::U(n) => items.push(Cow::Owned(n.to_string())),
                _ => {}
            }
        }
        Ok(Val::List(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Val<'a>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Val::Object)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Val<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Val<'a>, D::Error> {
        d.deserialize_any(ValVisitor(PhantomData))
    }
}

/// A nested object read as `T` when it is an object; anything else (or absence) is kept
/// apart instead of failing the whole line.
#[derive(Debug, Default)]
pub(crate) enum Obj<T> {
    /// Absent or `null`.
    #[default]
    Missing,
    /// An object.
    Present(T),
    /// Some other value.
    NotObject,
}

struct ObjVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjVisitor<T> {
    type Value = Obj<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Obj<T>, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Obj::Present)
    }
    fn visit_unit<E>(self) -> Result<Obj<T>, E> {
        Ok(Obj::Missing)
    }
    fn visit_none<E>(self) -> Result<Obj<T>, E> {
        Ok(Obj::Missing)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Obj<T>, E> {
        Ok(Obj::NotObject)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Obj<T>, E> {
        Ok(Obj::NotObject)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Obj<T>, E> {
        Ok(Obj::NotObject)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Obj<T>, E> {
        Ok(Obj::NotObject)
    }
    fn visit_str<E>(self, _: &str) -> Result<Obj<T>, E> {
        Ok(Obj::NotObject)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Obj<T>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Obj::NotObject)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Obj<T>, D::Error> {
        d.deserialize_any(ObjVisitor(PhantomData))
    }
}

impl<'a> Val<'a> {
    /// The value as text for a message.
    fn show(&self) -> String {
        match self {
            Val::Null => "null".into(),
            Val::Bool(b) => b.to_string(),
            Val::U(n) => n.to_string(),
            Val::I(n) => n.to_string(),
            Val::F(x) => x.to_string(),
            Val::S(s) => super::shown(s.as_bytes()),
            Val::List(_) => "[…]".into(),
            Val::Object => "{…}".into(),
        }
    }

    fn wrong(&self, field: &'static str, what: &str) -> Bad {
        Bad::field(field, format!("not {what}: '{}'", self.show()))
    }

    /// Whether absent, `null`, or Zeek's unset/empty strings (`-`, `(empty)`, empty).
    pub(crate) fn is_unset(&self) -> bool {
        match self {
            Val::Null => true,
            Val::S(s) => matches!(s.as_ref(), "" | "-" | "(empty)"),
            _ => false,
        }
    }

    /// The string, if it is one.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Val::S(s) => Some(s),
            _ => None,
        }
    }

    /// A time: epoch seconds (number or decimal string) or ISO 8601; `None` when unset.
    pub(crate) fn time(&self, field: &'static str) -> Result<Option<f64>, Bad> {
        match self {
            _ if self.is_unset() => Ok(None),
            Val::U(n) => Ok(Some(*n as f64)),
            Val::I(n) => Ok(Some(*n as f64)),
            Val::F(x) => Ok(Some(*x)),
            Val::S(s) => match text::parse_time(s.as_bytes()) {
                Some(t) => Ok(Some(t)),
                None => Err(self.wrong(field, "a time")),
            },
            _ => Err(self.wrong(field, "a time")),
        }
    }

    /// A required time.
    pub(crate) fn time_req(&self, field: &'static str) -> Result<f64, Bad> {
        self.time(field)?.ok_or_else(|| Bad::field(field, "missing"))
    }

    /// Seconds (a duration): a number, or a decimal string; `None` when unset.
    pub(crate) fn seconds(&self, field: &'static str) -> Result<Option<f64>, Bad> {
        match self {
            _ if self.is_unset() => Ok(None),
            Val::U(n) => Ok(Some(*n as f64)),
            Val::F(x) if *x >= 0.0 => Ok(Some(*x)),
            Val::S(s) => match text::parse_f64(s.as_bytes()) {
                Some(x) if x >= 0.0 => Ok(Some(x)),
                _ => Err(self.wrong(field, "a number of seconds")),
            },
            _ => Err(self.wrong(field, "a number of seconds")),
        }
    }

    /// A count: a non-negative integer (or a string of digits); `None` when unset.
    pub(crate) fn count(&self, field: &'static str) -> Result<Option<u64>, Bad> {
        match self {
            _ if self.is_unset() => Ok(None),
            Val::U(n) => Ok(Some(*n)),
            Val::F(x) if *x >= 0.0 && x.fract() == 0.0 && *x < 1.8e19 => Ok(Some(*x as u64)),
            Val::S(s) => match text::parse_u64(s.as_bytes()) {
                Some(n) => Ok(Some(n)),
                None => Err(self.wrong(field, "a count")),
            },
            _ => Err(self.wrong(field, "a count")),
        }
    }

    /// A port (0 when unset).
    pub(crate) fn port(&self, field: &'static str) -> Result<u16, Bad> {
        match self.count(field) {
            Ok(None) => Ok(0),
            Ok(Some(n)) => u16::try_from(n).map_err(|_| self.wrong(field, "a port")),
            Err(_) => Err(self.wrong(field, "a port")),
        }
    }

    /// A required IP address.
    pub(crate) fn ip(&self, field: &'static str) -> Result<IpAddr, Bad> {
        match self {
            Val::S(s) if !self.is_unset() => {
                text::parse_ip(s.as_bytes()).ok_or_else(|| self.wrong(field, "an IP address"))
            }
            _ if self.is_unset() => Err(Bad::field(field, "missing")),
            _ => Err(self.wrong(field, "an IP address")),
        }
    }

    /// A string for a name-like field, `""` when unset; error when not a string.
    pub(crate) fn text(&self, field: &'static str) -> Result<&str, Bad> {
        match self {
            Val::S(s) => Ok(s),
            Val::Null => Ok(""),
            Val::U(_) | Val::I(_) => Err(self.wrong(field, "a string")),
            _ => Err(self.wrong(field, "a string")),
        }
    }
}
