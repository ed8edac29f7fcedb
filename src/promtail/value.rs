//! Promtail's extracted data: the `map[string]interface{}` stages share, with
//! the few dynamic types that reach it (strings from regex, logfmt and
//! labels; JSON numbers, booleans and null from `json`), and `getString`,
//! the one conversion every stage that reads it applies.

use std::collections::BTreeMap;

use crate::go::strconv::format_float;

/// One value of the extracted map.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// A string.
    Str(String),
    /// A JSON number (Go's `float64`).
    Num(f64),
    /// A JSON boolean.
    Bool(bool),
    /// JSON `null` (Go's `nil`): present, but no stage can read it as a string.
    Null,
}

impl Val {
    /// Promtail's `getString`: numbers as `strconv.FormatFloat(v, 'f', -1, 64)`,
    /// booleans as `true`/`false`; `None` for null (`can't convert <nil> to string`).
    pub fn as_string(&self) -> Option<String> {
        match self {
            Val::Str(s) => Some(s.clone()),
            Val::Num(f) => Some(format_float(*f, 'f', -1)),
            Val::Bool(b) => Some(b.to_string()),
            Val::Null => None,
        }
    }

    /// A JSON result of a `json` stage expression as promtail stores it:
    /// strings, numbers, booleans and null as they are, objects and arrays as
    /// their JSON text.
    pub fn from_json(v: &serde_json::Value) -> Val {
        match v {
            serde_json::Value::String(s) => Val::Str(s.clone()),
            serde_json::Value::Number(n) => Val::Num(n.as_f64().unwrap_or(f64::NAN)),
            serde_json::Value::Bool(b) => Val::Bool(*b),
            serde_json::Value::Null => Val::Null,
            other => Val::Str(go_marshal(other)),
        }
    }
}

/// The extracted map of one entry.
pub type Extracted = BTreeMap<String, Val>;

/// `json.Marshal` of a decoded JSON value as Go writes it: keys sorted, HTML
/// characters escaped, numbers as Go formats a `float64`.
pub fn go_marshal(v: &serde_json::Value) -> String {
    let mut out = String::new();
    marshal_into(v, &mut out);
    out
}

fn marshal_into(v: &serde_json::Value, out: &mut String) {
    match v {
        serde_json::Value::Null => out.push_str("null"),
        serde_json::Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        serde_json::Value::Number(n) => out.push_str(&go_json_float(n.as_f64().unwrap_or(0.0))),
        serde_json::Value::String(s) => out.push_str(&crate::go::json::quote(s)),
        serde_json::Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                marshal_into(x, out);
            }
            out.push(']');
        }
        serde_json::Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&crate::go::json::quote(k));
                out.push(':');
                marshal_into(&m[k], out);
            }
            out.push('}');
        }
    }
}

/// A `float64` as `encoding/json` writes it: `'f'` formatting, `'e'` below
/// 1e-6 and from 1e21 on, with a one-digit exponent kept short (`1e-7`).
fn go_json_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format_float(f, 'e', -1);
        // Go turns e-07 into e-7.
        if let Some(i) = s.find("e-0") {
            return format!("{}e-{}", &s[..i], &s[i + 3..]);
        }
        if let Some(i) = s.find("e+0") {
            return format!("{}e+{}", &s[..i], &s[i + 3..]);
        }
        return s;
    }
    format_float(f, 'f', -1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_string_as_promtail() {
        assert_eq!(Val::Num(1.5).as_string().unwrap(), "1.5");
        assert_eq!(
            Val::Num(1e21).as_string().unwrap(),
            "1000000000000000000000"
        );
        assert_eq!(Val::Num(200.0).as_string().unwrap(), "200");
        assert_eq!(Val::Bool(true).as_string().unwrap(), "true");
        assert_eq!(Val::Null.as_string(), None);
    }

    #[test]
    fn marshal_as_go() {
        let v: serde_json::Value =
            serde_json::from_str(r#"{"b":[1,2.5,"<x>"],"a":{"z":null,"y":true},"c":1e-7}"#)
                .unwrap();
        assert_eq!(
            go_marshal(&v),
            r#"{"a":{"y":true,"z":null},"b":[1,2.5,"\u003cx\u003e"],"c":1e-7}"#
        );
    }
}
