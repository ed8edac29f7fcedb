//! The functions Loki's templates can call (`log/fmt.go` `functionMap` plus the sprig
//! subset and Go's built-ins), Go's `fmt` verbs for `printf`, and Go time layouts for
//! `date`/`toDate`/`toDateInZone`.
//!
//! Times are shown in UTC where Go would use the server's local zone (`time.Local`):
//! Loki servers run in UTC as a rule, and it keeps results independent of the machine.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use jiff::tz::TimeZone;

use super::template::{display, Env, Value};
use crate::go::duration::parse_go_duration;
use crate::go::humanize::parse_bytes;
use crate::go::strconv::{self, format_float, parse_float, quote};
use crate::go::time::{parse_in_location, Time};

/// A template function: Go's reflection-based call reduced to a value list.
pub type Builtin = fn(&Env<'_>, Vec<Value>) -> Result<Value, String>;

/// Whether `name` is a function templates may call (checked at parse time).
pub fn exists(name: &str) -> bool {
    name == "and" || name == "or" || lookup(name).is_some()
}

/// The function called `name`.
pub fn lookup(name: &str) -> Option<Builtin> {
    Some(match name {
        // Go built-ins.
        "not" => f_not,
        "eq" => f_eq,
        "ne" => f_ne,
        "lt" => f_lt,
        "le" => f_le,
        "gt" => f_gt,
        "ge" => f_ge,
        "len" => f_len,
        "index" => f_index,
        "slice" => f_slice,
        "print" => f_print,
        "printf" => f_printf,
        "println" => f_println,
        "html" => f_html,
        "js" => f_js,
        "urlquery" => f_urlquery,
        "call" => f_call,
        // Loki.
        "__line__" => f_line,
        "__timestamp__" => f_timestamp,
        "ToLower" | "lower" => f_lower,
        "ToUpper" | "upper" => f_upper,
        "Replace" => f_replace_n,
        "Trim" => f_trim_cutset,
        "TrimLeft" => f_trim_left,
        "TrimRight" => f_trim_right,
        "TrimPrefix" => f_trim_prefix,
        "TrimSuffix" => f_trim_suffix,
        "TrimSpace" | "trim" => f_trim_space,
        "regexReplaceAll" => f_regex_replace_all,
        "regexReplaceAllLiteral" => f_regex_replace_all_literal,
        "count" => f_count,
        "urldecode" => f_urldecode,
        "urlencode" => f_urlencode,
        "bytes" => f_bytes,
        "duration" | "duration_seconds" => f_duration,
        "unixEpochMillis" => f_unix_epoch_millis,
        "unixEpochNanos" => f_unix_epoch_nanos,
        "toDateInZone" => f_to_date_in_zone,
        "unixToTime" => f_unix_to_time,
        "alignLeft" => f_align_left,
        "alignRight" => f_align_right,
        // Sprig.
        "b64enc" => f_b64enc,
        "b64dec" => f_b64dec,
        "title" => f_title,
        "trunc" => f_trunc,
        "substr" => f_substr,
        "contains" => f_contains,
        "hasPrefix" => f_has_prefix,
        "hasSuffix" => f_has_suffix,
        "indent" => f_indent,
        "nindent" => f_nindent,
        "replace" => f_replace,
        "repeat" => f_repeat,
        "trimAll" => f_trim_all,
        "trimSuffix" => f_sprig_trim_suffix,
        "trimPrefix" => f_sprig_trim_prefix,
        "int" => f_int,
        "float64" => f_float64,
        "add" => f_add,
        "sub" => f_sub,
        "mul" => f_mul,
        "div" => f_div,
        "mod" => f_mod,
        "addf" => f_addf,
        "subf" => f_subf,
        "mulf" => f_mulf,
        "divf" => f_divf,
        "max" => f_max,
        "min" => f_min,
        "maxf" => f_maxf,
        "minf" => f_minf,
        "ceil" => f_ceil,
        "floor" => f_floor,
        "round" => f_round,
        "fromJson" => f_from_json,
        "date" => f_date,
        "toDate" => f_to_date,
        "now" => f_now,
        "unixEpoch" => f_unix_epoch,
        "default" => f_default,
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------
// Argument handling (Go's reflect.Call checks)

fn nargs(name: &str, a: &[Value], n: usize) -> Result<(), String> {
    if a.len() != n {
        return Err(format!(
            "wrong number of args for {name}: want {n} got {}",
            a.len()
        ));
    }
    Ok(())
}

fn nargs_min(name: &str, a: &[Value], n: usize) -> Result<(), String> {
    if a.len() < n {
        return Err(format!(
            "wrong number of args for {name}: want at least {n} got {}",
            a.len()
        ));
    }
    Ok(())
}

fn wrong(want: &str, v: &Value) -> String {
    format!(
        "wrong type for value; expected {want}; got {}",
        v.type_name()
    )
}

fn s(v: &Value) -> Result<&str, String> {
    match v {
        Value::Str(s) => Ok(s),
        other => Err(wrong("string", other)),
    }
}

fn int(v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Float(f) if f.fract() == 0.0 => Ok(*f as i64),
        other => Err(wrong("int", other)),
    }
}

fn time(v: &Value) -> Result<&Time, String> {
    match v {
        Value::Time(t) => Ok(t),
        other => Err(wrong("time.Time", other)),
    }
}

fn vstr(x: impl AsRef<str>) -> Value {
    Value::str(x.as_ref())
}

fn call_err(name: &str, e: impl std::fmt::Display) -> String {
    format!("error calling {name}: {e}")
}

/// cast's `trimZeroDecimal`: "1.00" → "1".
fn trim_zero_decimal(s: &str) -> &str {
    let b = s.as_bytes();
    let mut found_zero = false;
    for i in (1..=b.len()).rev() {
        match b[i - 1] {
            b'.' if found_zero => return &s[..i - 1],
            b'.' => return s,
            b'0' => found_zero = true,
            _ => return s,
        }
    }
    s
}

/// spf13/cast `ToInt64` (errors become 0).
pub fn to_int64(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        Value::Float(f) => *f as i64,
        Value::Bool(b) => i64::from(*b),
        Value::Str(s) => strconv::parse_int(trim_zero_decimal(s), 0).unwrap_or(0),
        _ => 0,
    }
}

/// spf13/cast `ToFloat64` (errors become 0).
pub fn to_float64(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Str(s) => parse_float(s).unwrap_or(0.0),
        _ => 0.0,
    }
}

// ---------------------------------------------------------------------------------
// Built-ins

fn f_not(e: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("not", &a, 1)?;
    Ok(Value::Bool(!a[0].truth(e.data)))
}

#[derive(PartialEq)]
enum Kind {
    Bool,
    Int,
    Float,
    Str,
    Invalid,
    Other,
}

fn kind(v: &Value) -> Kind {
    match v {
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) => Kind::Int,
        Value::Float(_) => Kind::Float,
        Value::Str(_) => Kind::Str,
        Value::Nil => Kind::Invalid,
        _ => Kind::Other,
    }
}

fn eq2(a: &Value, b: &Value) -> Result<bool, String> {
    let (ka, kb) = (kind(a), kind(b));
    if ka != kb {
        if ka != Kind::Invalid && kb != Kind::Invalid {
            return Err("incompatible types for comparison".into());
        }
        return Ok(false);
    }
    Ok(match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Nil, Value::Nil) => true,
        (Value::Time(x), Value::Time(y)) => x.ns == y.ns,
        _ => return Err(format!("non-comparable type {}", a.type_name())),
    })
}

fn f_eq(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs_min("eq", &a, 1)?;
    if a.len() == 1 {
        return Err(call_err("eq", "missing argument for comparison"));
    }
    for b in &a[1..] {
        if eq2(&a[0], b).map_err(|e| call_err("eq", e))? {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}

fn f_ne(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("ne", &a, 2)?;
    Ok(Value::Bool(
        !eq2(&a[0], &a[1]).map_err(|e| call_err("ne", e))?,
    ))
}

fn less(name: &str, a: &Value, b: &Value) -> Result<bool, String> {
    let (ka, kb) = (kind(a), kind(b));
    if matches!(ka, Kind::Bool | Kind::Invalid | Kind::Other) {
        return Err(call_err(name, "invalid type for comparison"));
    }
    if ka != kb {
        return Err(call_err(name, "incompatible types for comparison"));
    }
    Ok(match (a, b) {
        (Value::Int(x), Value::Int(y)) => x < y,
        (Value::Float(x), Value::Float(y)) => x < y,
        (Value::Str(x), Value::Str(y)) => x < y,
        _ => false,
    })
}

fn f_lt(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("lt", &a, 2)?;
    Ok(Value::Bool(less("lt", &a[0], &a[1])?))
}

fn f_le(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("le", &a, 2)?;
    let lt = less("le", &a[0], &a[1])?;
    Ok(Value::Bool(
        lt || eq2(&a[0], &a[1]).map_err(|e| call_err("le", e))?,
    ))
}

fn f_gt(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("gt", &a, 2)?;
    let lt = less("gt", &a[0], &a[1])?;
    Ok(Value::Bool(
        !lt && !eq2(&a[0], &a[1]).map_err(|e| call_err("gt", e))?,
    ))
}

fn f_ge(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("ge", &a, 2)?;
    Ok(Value::Bool(!less("ge", &a[0], &a[1])?))
}

fn f_len(e: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("len", &a, 1)?;
    Ok(Value::Int(match &a[0] {
        Value::Str(s) => s.len() as i64,
        Value::Map(m) => m.len() as i64,
        Value::List(l) => l.len() as i64,
        Value::Root => e.data.len() as i64,
        other => {
            return Err(call_err(
                "len",
                format!("len of type {}", other.type_name()),
            ))
        }
    }))
}

fn f_index(e: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs_min("index", &a, 1)?;
    let mut cur = a[0].clone();
    for ix in &a[1..] {
        cur = match (&cur, ix) {
            (Value::Root, Value::Str(k)) => vstr(e.data.get(k).unwrap_or("")),
            (Value::Map(m), Value::Str(k)) => m.get(&**k).cloned().unwrap_or(Value::Nil),
            (Value::List(l), i) => {
                let i = int(i).map_err(|m| call_err("index", m))?;
                l.get(usize::try_from(i).unwrap_or(usize::MAX))
                    .cloned()
                    .ok_or_else(|| call_err("index", format!("index out of range: {i}")))?
            }
            (Value::Str(s), i) => {
                let i = int(i).map_err(|m| call_err("index", m))?;
                let b = s
                    .as_bytes()
                    .get(usize::try_from(i).unwrap_or(usize::MAX))
                    .ok_or_else(|| call_err("index", format!("index out of range: {i}")))?;
                Value::Int(*b as i64)
            }
            (Value::Nil, _) => return Err(call_err("index", "index of untyped nil")),
            (c, _) => {
                return Err(call_err(
                    "index",
                    format!("can't index item of type {}", c.type_name()),
                ))
            }
        };
    }
    Ok(cur)
}

fn f_slice(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs_min("slice", &a, 1)?;
    let idx: Vec<i64> = a[1..]
        .iter()
        .map(int)
        .collect::<Result<_, _>>()
        .map_err(|m| call_err("slice", m))?;
    let len = match &a[0] {
        Value::Str(s) => s.len(),
        Value::List(l) => l.len(),
        other => {
            return Err(call_err(
                "slice",
                format!("can't slice item of type {}", other.type_name()),
            ))
        }
    } as i64;
    let i = idx.first().copied().unwrap_or(0);
    let j = idx.get(1).copied().unwrap_or(len);
    if idx.len() > 2 || i < 0 || j < i || j > len {
        return Err(call_err("slice", format!("index out of range: {j}")));
    }
    Ok(match &a[0] {
        Value::Str(s) => vstr(String::from_utf8_lossy(
            &s.as_bytes()[i as usize..j as usize],
        )),
        Value::List(l) => Value::List(Arc::new(l[i as usize..j as usize].to_vec())),
        _ => Value::Nil,
    })
}

fn sprint(e: &Env<'_>, a: &[Value]) -> String {
    let mut out = String::new();
    let mut prev_str = false;
    for (i, v) in a.iter().enumerate() {
        let is_str = matches!(v, Value::Str(_));
        if i > 0 && !is_str && !prev_str {
            out.push(' ');
        }
        out.push_str(&display(v, e.data));
        prev_str = is_str;
    }
    out
}

fn f_print(e: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    Ok(vstr(sprint(e, &a)))
}

fn f_println(e: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    let parts: Vec<String> = a.iter().map(|v| display(v, e.data)).collect();
    Ok(vstr(parts.join(" ") + "\n"))
}

fn f_printf(e: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs_min("printf", &a, 1)?;
    let f = s(&a[0])?;
    Ok(vstr(sprintf(f, &a[1..], e)))
}

fn f_html(e: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    let src = sprint(e, &a);
    let mut out = String::with_capacity(src.len());
    for c in src.chars() {
        match c {
            '\0' => out.push('\u{FFFD}'),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    Ok(vstr(out))
}

fn f_js(e: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    let src = sprint(e, &a);
    let mut out = String::with_capacity(src.len());
    for c in src.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    Ok(vstr(out))
}

fn f_urlquery(e: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    Ok(vstr(query_escape(&sprint(e, &a))))
}

fn f_call(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs_min("call", &a, 1)?;
    Err(call_err(
        "call",
        format!("non-function of type {}", a[0].type_name()),
    ))
}

// ---------------------------------------------------------------------------------
// Loki's functions

fn f_line(e: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("__line__", &a, 0)?;
    Ok(vstr(String::from_utf8_lossy(e.line)))
}

fn f_timestamp(e: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("__timestamp__", &a, 0)?;
    Ok(Value::Time(Time::utc(e.ts as i128)))
}

fn map_chars(s: &str, upper: bool) -> String {
    // Go maps rune by rune; a character whose case mapping is several characters
    // (ß → SS) stays as it is.
    s.chars()
        .map(|c| {
            let mut m: Box<dyn Iterator<Item = char>> = if upper {
                Box::new(c.to_uppercase())
            } else {
                Box::new(c.to_lowercase())
            };
            match (m.next(), m.next()) {
                (Some(x), None) => x,
                _ => c,
            }
        })
        .collect()
}

fn f_lower(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("lower", &a, 1)?;
    Ok(vstr(map_chars(s(&a[0])?, false)))
}

fn f_upper(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("upper", &a, 1)?;
    Ok(vstr(map_chars(s(&a[0])?, true)))
}

fn f_replace_n(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("Replace", &a, 4)?;
    let n = int(&a[3])?;
    let (src, old, new) = (s(&a[0])?, s(&a[1])?, s(&a[2])?);
    Ok(vstr(if n < 0 {
        src.replace(old, new)
    } else {
        src.replacen(old, new, n as usize)
    }))
}

fn cut(c: char, set: &str) -> bool {
    set.contains(c)
}

fn f_trim_cutset(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("Trim", &a, 2)?;
    let set = s(&a[1])?;
    Ok(vstr(s(&a[0])?.trim_matches(|c| cut(c, set))))
}

fn f_trim_left(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("TrimLeft", &a, 2)?;
    let set = s(&a[1])?;
    Ok(vstr(s(&a[0])?.trim_start_matches(|c| cut(c, set))))
}

fn f_trim_right(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("TrimRight", &a, 2)?;
    let set = s(&a[1])?;
    Ok(vstr(s(&a[0])?.trim_end_matches(|c| cut(c, set))))
}

fn f_trim_prefix(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("TrimPrefix", &a, 2)?;
    let (x, p) = (s(&a[0])?, s(&a[1])?);
    Ok(vstr(x.strip_prefix(p).unwrap_or(x)))
}

fn f_trim_suffix(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("TrimSuffix", &a, 2)?;
    let (x, p) = (s(&a[0])?, s(&a[1])?);
    Ok(vstr(x.strip_suffix(p).unwrap_or(x)))
}

fn f_trim_space(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("TrimSpace", &a, 1)?;
    Ok(vstr(s(&a[0])?.trim()))
}

fn compile(name: &str, re: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(&super::line_filter::go_compat(re))
        .map_err(|e| call_err(name, super::line_filter::go_regex_error(re, &e)))
}

fn f_regex_replace_all(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("regexReplaceAll", &a, 3)?;
    let re = compile("regexReplaceAll", s(&a[0])?)?;
    Ok(vstr(re.replace_all(s(&a[1])?, s(&a[2])?)))
}

fn f_regex_replace_all_literal(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("regexReplaceAllLiteral", &a, 3)?;
    let re = compile("regexReplaceAllLiteral", s(&a[0])?)?;
    Ok(vstr(re.replace_all(s(&a[1])?, regex::NoExpand(s(&a[2])?))))
}

fn f_count(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("count", &a, 2)?;
    let re = compile("count", s(&a[0])?)?;
    Ok(Value::Int(re.find_iter(s(&a[1])?).count() as i64))
}

fn f_urldecode(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("urldecode", &a, 1)?;
    let src = s(&a[0])?.as_bytes();
    let mut out = Vec::with_capacity(src.len());
    let mut i = 0;
    while i < src.len() {
        match src[i] {
            b'%' => {
                let h = src
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                match h.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) if h.is_some_and(|h| h.bytes().all(|c| c.is_ascii_hexdigit())) => {
                        out.push(b);
                        i += 3;
                    }
                    _ => {
                        let bad = String::from_utf8_lossy(&src[i..(i + 3).min(src.len())]);
                        return Err(call_err(
                            "urldecode",
                            format!("invalid URL escape {}", quote(&bad)),
                        ));
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(vstr(String::from_utf8_lossy(&out)))
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

fn f_urlencode(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("urlencode", &a, 1)?;
    Ok(vstr(query_escape(s(&a[0])?)))
}

fn f_bytes(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("bytes", &a, 1)?;
    parse_bytes(s(&a[0])?)
        .map(|b| Value::Float(b as f64))
        .map_err(|e| call_err("bytes", e))
}

fn f_duration(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("duration", &a, 1)?;
    parse_go_duration(s(&a[0])?)
        .map(|d| Value::Float(d as f64 / 1e9))
        .map_err(|e| call_err("duration", e))
}

fn f_unix_epoch_millis(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("unixEpochMillis", &a, 1)?;
    Ok(vstr(time(&a[0])?.ns.div_euclid(1_000_000).to_string()))
}

fn f_unix_epoch_nanos(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("unixEpochNanos", &a, 1)?;
    Ok(vstr(time(&a[0])?.ns.to_string()))
}

fn f_unix_epoch(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("unixEpoch", &a, 1)?;
    Ok(vstr(time(&a[0])?.ns.div_euclid(1_000_000_000).to_string()))
}

fn load_zone(name: &str) -> TimeZone {
    match name {
        "" | "UTC" | "Local" => TimeZone::UTC,
        n => TimeZone::get(n).unwrap_or(TimeZone::UTC),
    }
}

fn f_to_date_in_zone(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("toDateInZone", &a, 3)?;
    let tz = load_zone(s(&a[1])?);
    Ok(Value::Time(
        parse_in_location(s(&a[0])?, s(&a[2])?, &tz).unwrap_or_else(Time::zero),
    ))
}

fn f_to_date(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("toDate", &a, 2)?;
    Ok(Value::Time(
        parse_in_location(s(&a[0])?, s(&a[1])?, &TimeZone::UTC).unwrap_or_else(Time::zero),
    ))
}

fn f_unix_to_time(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("unixToTime", &a, 1)?;
    let epoch = s(&a[0])?;
    let i: i64 = match epoch.parse::<i64>() {
        Ok(i) if !epoch.starts_with('+') || epoch.len() > 1 => i,
        _ => {
            return Err(call_err(
                "unixToTime",
                format!(
                    "unable to parse time '{epoch}': strconv.ParseInt: parsing {}: invalid syntax",
                    quote(epoch)
                ),
            ))
        }
    };
    let ns: i128 = match epoch.len() {
        5 => i as i128 * 86_400 * 1_000_000_000,
        10 => i as i128 * 1_000_000_000,
        13 => (i as i128 * 1_000_000) as i64 as i128,
        16 => (i as i128 * 1000) as i64 as i128,
        19 => i as i128,
        _ => {
            return Err(call_err(
                "unixToTime",
                format!("unable to parse time '{epoch}': %!w(<nil>)"),
            ))
        }
    };
    Ok(Value::Time(Time::utc(ns)))
}

fn align(name: &str, a: &[Value], left: bool) -> Result<Value, String> {
    nargs(name, a, 2)?;
    let count = int(&a[0])?;
    let src = s(&a[1])?;
    let runes: Vec<char> = src.chars().collect();
    let l = runes.len() as i64;
    if count < 0 || count == l {
        return Ok(vstr(src));
    }
    let pad = count - l;
    if pad > 0 {
        let sp = " ".repeat(pad as usize);
        return Ok(vstr(if left {
            format!("{src}{sp}")
        } else {
            format!("{sp}{src}")
        }));
    }
    Ok(vstr(if left {
        runes[..count as usize].iter().collect::<String>()
    } else {
        runes[(l - count) as usize..].iter().collect::<String>()
    }))
}

fn f_align_left(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    align("alignLeft", &a, true)
}

fn f_align_right(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    align("alignRight", &a, false)
}

// ---------------------------------------------------------------------------------
// Sprig

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn f_b64enc(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("b64enc", &a, 1)?;
    let src = s(&a[0])?.as_bytes();
    let mut out = String::with_capacity(src.len().div_ceil(3) * 4);
    for ch in src.chunks(3) {
        let n = (u32::from(ch[0]) << 16)
            | (u32::from(*ch.get(1).unwrap_or(&0)) << 8)
            | u32::from(*ch.get(2).unwrap_or(&0));
        for k in 0..4 {
            if k <= ch.len() {
                out.push(B64[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    Ok(vstr(out))
}

fn f_b64dec(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("b64dec", &a, 1)?;
    let src = s(&a[0])?.as_bytes();
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    let mut pad = 0;
    for (i, &c) in src.iter().enumerate() {
        if c == b'\r' || c == b'\n' {
            continue;
        }
        let v = match c {
            b'=' => {
                pad += 1;
                continue;
            }
            _ if pad > 0 => return Ok(vstr(format!("illegal base64 data at input byte {i}"))),
            _ => match B64.iter().position(|&x| x == c) {
                Some(v) => v as u32,
                // sprig returns the error text as the value.
                None => return Ok(vstr(format!("illegal base64 data at input byte {i}"))),
            },
        };
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    let data_len = src
        .iter()
        .filter(|c| !matches!(c, b'=' | b'\r' | b'\n'))
        .count();
    if (data_len + pad) % 4 != 0 || pad > 2 {
        return Ok(vstr(format!(
            "illegal base64 data at input byte {}",
            src.len().saturating_sub(pad).min(src.len())
        )));
    }
    Ok(vstr(String::from_utf8_lossy(&out)))
}

fn f_title(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("title", &a, 1)?;
    let sep = |c: char| {
        if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else if c.is_alphanumeric() {
            false
        } else {
            c.is_whitespace()
        }
    };
    let mut prev = ' ';
    let mut out = String::new();
    for c in s(&a[0])?.chars() {
        if sep(prev) {
            out.push_str(&map_chars(&c.to_string(), true));
        } else {
            out.push(c);
        }
        prev = c;
    }
    Ok(vstr(out))
}

fn f_trunc(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("trunc", &a, 2)?;
    let c = int(&a[0])?;
    let src = s(&a[1])?;
    let runes: Vec<char> = src.chars().collect();
    let l = runes.len() as i64;
    if c < 0 && l + c > 0 {
        return Ok(vstr(runes[(l + c) as usize..].iter().collect::<String>()));
    }
    if c >= 0 && l > c {
        return Ok(vstr(runes[..c as usize].iter().collect::<String>()));
    }
    Ok(vstr(src))
}

fn f_substr(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("substr", &a, 3)?;
    let (mut start, mut end) = (int(&a[0])?, int(&a[1])?);
    let runes: Vec<char> = s(&a[2])?.chars().collect();
    let l = runes.len() as i64;
    end = end.min(l);
    start = start.min(l);
    let r: String = if start < 0 {
        if end < 0 {
            String::new()
        } else {
            runes[..end as usize].iter().collect()
        }
    } else if end < 0 {
        runes[start as usize..].iter().collect()
    } else if start > end {
        String::new()
    } else {
        runes[start as usize..end as usize].iter().collect()
    };
    Ok(vstr(r))
}

fn f_contains(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("contains", &a, 2)?;
    Ok(Value::Bool(s(&a[1])?.contains(s(&a[0])?)))
}

fn f_has_prefix(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("hasPrefix", &a, 2)?;
    Ok(Value::Bool(s(&a[1])?.starts_with(s(&a[0])?)))
}

fn f_has_suffix(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("hasSuffix", &a, 2)?;
    Ok(Value::Bool(s(&a[1])?.ends_with(s(&a[0])?)))
}

fn indent(n: i64, v: &str) -> String {
    let pad = " ".repeat(n.max(0) as usize);
    format!("{pad}{}", v.replace('\n', &format!("\n{pad}")))
}

fn f_indent(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("indent", &a, 2)?;
    Ok(vstr(indent(int(&a[0])?, s(&a[1])?)))
}

fn f_nindent(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("nindent", &a, 2)?;
    Ok(vstr(format!("\n{}", indent(int(&a[0])?, s(&a[1])?))))
}

fn f_replace(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("replace", &a, 3)?;
    Ok(vstr(s(&a[2])?.replace(s(&a[0])?, s(&a[1])?)))
}

/// Longest output `repeat` may build; Go would try and run out of memory.
const MAX_REPEAT_BYTES: usize = 1 << 24;

fn f_repeat(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("repeat", &a, 2)?;
    let n = int(&a[0])?;
    let src = s(&a[1])?;
    if n < 0 {
        return Err(call_err("repeat", "strings: negative Repeat count"));
    }
    if src.len().saturating_mul(n as usize) > MAX_REPEAT_BYTES {
        return Err(call_err("repeat", "strings: Repeat output length overflow"));
    }
    Ok(vstr(src.repeat(n as usize)))
}

fn f_trim_all(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("trimAll", &a, 2)?;
    let set = s(&a[0])?;
    Ok(vstr(s(&a[1])?.trim_matches(|c| cut(c, set))))
}

fn f_sprig_trim_suffix(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("trimSuffix", &a, 2)?;
    let (p, x) = (s(&a[0])?, s(&a[1])?);
    Ok(vstr(x.strip_suffix(p).unwrap_or(x)))
}

fn f_sprig_trim_prefix(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("trimPrefix", &a, 2)?;
    let (p, x) = (s(&a[0])?, s(&a[1])?);
    Ok(vstr(x.strip_prefix(p).unwrap_or(x)))
}

fn f_int(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("int", &a, 1)?;
    Ok(Value::Int(to_int64(&a[0])))
}

fn f_float64(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("float64", &a, 1)?;
    Ok(Value::Float(to_float64(&a[0])))
}

fn f_add(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    Ok(Value::Int(
        a.iter().map(to_int64).fold(0i64, i64::wrapping_add),
    ))
}

fn f_sub(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("sub", &a, 2)?;
    Ok(Value::Int(to_int64(&a[0]).wrapping_sub(to_int64(&a[1]))))
}

fn f_mul(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs_min("mul", &a, 1)?;
    Ok(Value::Int(
        a.iter().map(to_int64).fold(1i64, i64::wrapping_mul),
    ))
}

fn f_div(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("div", &a, 2)?;
    let d = to_int64(&a[1]);
    if d == 0 {
        return Err(call_err("div", "runtime error: integer divide by zero"));
    }
    Ok(Value::Int(to_int64(&a[0]).wrapping_div(d)))
}

fn f_mod(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("mod", &a, 2)?;
    let d = to_int64(&a[1]);
    if d == 0 {
        return Err(call_err("mod", "runtime error: integer divide by zero"));
    }
    Ok(Value::Int(to_int64(&a[0]).wrapping_rem(d)))
}

/// Sprig's float arithmetic goes through `shopspring/decimal` built from the shortest
/// decimal form of each float, so `addf 0.1 0.2` is exactly 0.3. A decimal is a
/// mantissa and a power-of-ten exponent here.
fn to_decimal(f: f64) -> Option<(i128, i32)> {
    if !f.is_finite() {
        return None;
    }
    let s = format!("{f:e}");
    let (m, e) = s.split_once('e')?;
    let e: i32 = e.parse().ok()?;
    let (neg, m) = m.strip_prefix('-').map_or((false, m), |m| (true, m));
    let (ip, fp) = m.split_once('.').unwrap_or((m, ""));
    let digits = format!("{ip}{fp}");
    let mant: i128 = digits.parse().ok()?;
    Some((if neg { -mant } else { mant }, e - fp.len() as i32))
}

fn dec_to_f64((m, e): (i128, i32)) -> f64 {
    format!("{m}e{e}").parse().unwrap_or(f64::NAN)
}

/// A decimal: mantissa and power-of-ten exponent.
type Dec = (i128, i32);

fn dec_op(a: &[Value], op: fn(Dec, Dec) -> Option<Dec>, fallback: fn(f64, f64) -> f64) -> f64 {
    let mut it = a.iter().map(to_float64);
    let Some(first) = it.next() else { return 0.0 };
    let mut acc_f = first;
    let mut acc_d = to_decimal(first);
    for x in it {
        acc_f = fallback(acc_f, x);
        acc_d = match (acc_d, to_decimal(x)) {
            (Some(p), Some(q)) => op(p, q),
            _ => None,
        };
    }
    acc_d.map_or(acc_f, dec_to_f64)
}

fn align_dec(a: (i128, i32), b: (i128, i32)) -> Option<(i128, i128, i32)> {
    let e = a.1.min(b.1);
    let sa = a.0.checked_mul(10i128.checked_pow((a.1 - e) as u32)?)?;
    let sb = b.0.checked_mul(10i128.checked_pow((b.1 - e) as u32)?)?;
    Some((sa, sb, e))
}

fn f_addf(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    let mut v = vec![Value::Float(0.0)];
    v.extend(a);
    Ok(Value::Float(dec_op(
        &v,
        |p, q| align_dec(p, q).and_then(|(x, y, e)| Some((x.checked_add(y)?, e))),
        |x, y| x + y,
    )))
}

fn f_subf(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs_min("subf", &a, 1)?;
    Ok(Value::Float(dec_op(
        &a,
        |p, q| align_dec(p, q).and_then(|(x, y, e)| Some((x.checked_sub(y)?, e))),
        |x, y| x - y,
    )))
}

fn f_mulf(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs_min("mulf", &a, 1)?;
    Ok(Value::Float(dec_op(
        &a,
        |p, q| Some((p.0.checked_mul(q.0)?, p.1 + q.1)),
        |x, y| x * y,
    )))
}

fn f_divf(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs_min("divf", &a, 1)?;
    let mut it = a.iter().map(to_float64);
    let first = it.next().unwrap_or(0.0);
    let mut acc_f = first;
    let mut acc_d = to_decimal(first);
    for d in it {
        if d == 0.0 {
            return Err(call_err("divf", "decimal division by 0"));
        }
        acc_f /= d;
        acc_d = match (acc_d, to_decimal(d)) {
            (Some(p), Some(q)) => dec_div(p, q),
            _ => None,
        };
        if let Some(x) = acc_d {
            acc_f = dec_to_f64(x);
        }
    }
    Ok(Value::Float(acc_f))
}

/// shopspring/decimal's `Div`: the quotient rounded (half away from zero) to 16 digits
/// after the point.
fn dec_div(a: Dec, b: Dec) -> Option<Dec> {
    const PREC: i32 = 16;
    let k = a.1 - b.1 + PREC;
    let (num, den) = if k >= 0 {
        (a.0.checked_mul(10i128.checked_pow(k as u32)?)?, b.0)
    } else {
        (a.0, b.0.checked_mul(10i128.checked_pow((-k) as u32)?)?)
    };
    if den == 0 {
        return None;
    }
    let mut q = num / den;
    let r = num % den;
    if r.checked_abs()?.checked_mul(2)? >= den.checked_abs()? {
        q += if (num < 0) != (den < 0) { -1 } else { 1 };
    }
    Some((q, -PREC))
}

fn f_max(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs_min("max", &a, 1)?;
    Ok(Value::Int(a.iter().map(to_int64).max().unwrap_or(0)))
}

fn f_min(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs_min("min", &a, 1)?;
    Ok(Value::Int(a.iter().map(to_int64).min().unwrap_or(0)))
}

fn f_maxf(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs_min("maxf", &a, 1)?;
    Ok(Value::Float(
        a.iter().map(to_float64).fold(f64::NEG_INFINITY, go_max),
    ))
}

fn f_minf(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs_min("minf", &a, 1)?;
    Ok(Value::Float(
        a.iter().map(to_float64).fold(f64::INFINITY, go_min),
    ))
}

/// Go's `math.Max` (NaN wins).
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

fn f_ceil(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("ceil", &a, 1)?;
    Ok(Value::Float(to_float64(&a[0]).ceil()))
}

fn f_floor(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("floor", &a, 1)?;
    Ok(Value::Float(to_float64(&a[0]).floor()))
}

fn f_round(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs_min("round", &a, 2)?;
    let round_on = a.get(2).map_or(0.5, to_float64);
    let val = to_float64(&a[0]);
    let places = int(&a[1])? as f64;
    let pow = 10f64.powf(places);
    let digit = pow * val;
    let div = digit.fract();
    let r = if div >= round_on {
        digit.ceil()
    } else {
        digit.floor()
    };
    Ok(Value::Float(r / pow))
}

fn json_to_value(j: serde_json::Value) -> Value {
    match j {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => vstr(s),
        serde_json::Value::Array(a) => {
            Value::List(Arc::new(a.into_iter().map(json_to_value).collect()))
        }
        serde_json::Value::Object(o) => Value::Map(Arc::new(
            o.into_iter()
                .map(|(k, v)| (k, json_to_value(v)))
                .collect::<BTreeMap<_, _>>(),
        )),
    }
}

fn f_from_json(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("fromJson", &a, 1)?;
    Ok(serde_json::from_str::<serde_json::Value>(s(&a[0])?).map_or(Value::Nil, json_to_value))
}

fn f_date(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("date", &a, 2)?;
    let layout = s(&a[0])?;
    let t = match &a[1] {
        Value::Time(t) => t.clone(),
        Value::Int(i) => Time::utc(*i as i128 * 1_000_000_000),
        _ => Time::now(),
    };
    Ok(vstr(t.in_zone(TimeZone::UTC).format(layout)))
}

fn f_now(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("now", &a, 0)?;
    Ok(Value::Time(Time::now()))
}

fn empty(v: &Value, e: &Env<'_>) -> bool {
    match v {
        Value::Time(_) => false,
        v => !v.truth(e.data),
    }
}

fn f_default(e: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs_min("default", &a, 1)?;
    if a.len() == 1 || empty(&a[1], e) {
        return Ok(a[0].clone());
    }
    Ok(a[1].clone())
}

// ---------------------------------------------------------------------------------
// printf

/// Go's `fmt.Sprintf` for the verbs templates use: `%v %s %q %d %b %o %x %X %c %U %e
/// %E %f %F %g %G %t %%`, flags `-+# 0`, width and precision (also `*`).
pub fn sprintf(format: &str, args: &[Value], e: &Env<'_>) -> String {
    let mut out = String::new();
    let mut argi = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        loop {
            match chars.peek() {
                Some('-') => spec.minus = true,
                Some('+') => spec.plus = true,
                Some('#') => spec.sharp = true,
                Some(' ') => spec.space = true,
                Some('0') => spec.zero = true,
                _ => break,
            }
            chars.next();
        }
        let num =
            |chars: &mut std::iter::Peekable<std::str::Chars>, argi: &mut usize| -> Option<usize> {
                if chars.peek() == Some(&'*') {
                    chars.next();
                    let v = args.get(*argi).map(to_int64);
                    *argi += 1;
                    return v.map(|v| v.max(0) as usize);
                }
                let mut n: Option<usize> = None;
                while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                    n = Some(n.unwrap_or(0) * 10 + d as usize);
                    chars.next();
                }
                n
            };
        spec.width = num(&mut chars, &mut argi);
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.prec = Some(num(&mut chars, &mut argi).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(argi) else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        argi += 1;
        let body = format_arg(verb, arg, &spec, e);
        out.push_str(&body);
    }
    if argi < args.len() {
        out.push_str("%!(EXTRA ");
        let extra: Vec<String> = args[argi..]
            .iter()
            .map(|v| format!("{}={}", v.type_name(), display(v, e.data)))
            .collect();
        out.push_str(&extra.join(", "));
        out.push(')');
    }
    out
}

#[derive(Default)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

impl Spec {
    fn pad(&self, s: String, numeric: bool) -> String {
        let Some(w) = self.width else { return s };
        let n = s.chars().count();
        if n >= w {
            return s;
        }
        let fill = w - n;
        if self.minus {
            return s + &" ".repeat(fill);
        }
        if self.zero && numeric {
            let (sign, rest) = match s.chars().next() {
                Some(c @ ('+' | '-' | ' ')) => (c.to_string(), s[1..].to_string()),
                _ => (String::new(), s.clone()),
            };
            return sign + &"0".repeat(fill) + &rest;
        }
        " ".repeat(fill) + &s
    }

    fn sign(&self, neg: bool, body: String) -> String {
        if neg {
            format!("-{body}")
        } else if self.plus {
            format!("+{body}")
        } else if self.space {
            format!(" {body}")
        } else {
            body
        }
    }
}

fn bad_verb(verb: char, v: &Value, e: &Env<'_>) -> String {
    match v {
        Value::Nil => format!("%!{verb}(<nil>)"),
        v => format!("%!{verb}({}={})", v.type_name(), display(v, e.data)),
    }
}

fn format_arg(verb: char, v: &Value, spec: &Spec, e: &Env<'_>) -> String {
    match (verb, v) {
        ('v', Value::Float(f)) => spec.pad(float_verb(*f, 'g', spec.prec, spec), true),
        ('v', Value::Int(_)) | ('d', Value::Int(_)) => {
            let Value::Int(i) = v else { unreachable!() };
            spec.pad(spec.sign(*i < 0, i.unsigned_abs().to_string()), true)
        }
        ('v', Value::Str(s)) if spec.sharp => spec.pad(quote(s), false),
        ('v', _) => spec.pad(
            match v {
                Value::Nil => "<nil>".to_string(),
                v => display(v, e.data),
            },
            false,
        ),
        ('s', Value::Str(s)) => {
            let s: String = match spec.prec {
                Some(p) => s.chars().take(p).collect(),
                None => s.to_string(),
            };
            spec.pad(s, false)
        }
        ('s', Value::Time(t)) => spec.pad(t.to_go_string(), false),
        ('s', Value::Map(_) | Value::List(_) | Value::Root) => spec.pad(display(v, e.data), false),
        ('q', Value::Str(s)) => spec.pad(quote(s), false),
        ('q', Value::Int(i)) => spec.pad(
            strconv::quote_rune(
                u32::try_from(*i)
                    .ok()
                    .and_then(char::from_u32)
                    .unwrap_or('\u{FFFD}'),
            ),
            false,
        ),
        ('t', Value::Bool(b)) => spec.pad(b.to_string(), false),
        ('c', Value::Int(i)) => spec.pad(
            char::from_u32(*i as u32).unwrap_or('\u{FFFD}').to_string(),
            false,
        ),
        ('U', Value::Int(i)) => spec.pad(format!("U+{:04X}", i), false),
        ('b' | 'o' | 'O' | 'x' | 'X', Value::Int(i)) => {
            let a = i.unsigned_abs();
            let mut body = match verb {
                'b' => format!("{a:b}"),
                'o' | 'O' => format!("{a:o}"),
                'x' => format!("{a:x}"),
                _ => format!("{a:X}"),
            };
            if spec.sharp || verb == 'O' {
                body = match verb {
                    'b' => format!("0b{body}"),
                    'o' => format!("0{body}"),
                    'O' => format!("0o{body}"),
                    'x' => format!("0x{body}"),
                    _ => format!("0X{body}"),
                };
            }
            spec.pad(spec.sign(*i < 0, body), true)
        }
        ('x' | 'X', Value::Str(s)) => {
            let mut h = String::new();
            for b in s.bytes() {
                let _ = if verb == 'x' {
                    write!(h, "{b:02x}")
                } else {
                    write!(h, "{b:02X}")
                };
            }
            spec.pad(h, false)
        }
        ('e' | 'E' | 'f' | 'F' | 'g' | 'G', Value::Float(f)) => {
            spec.pad(float_verb(*f, verb, spec.prec, spec), true)
        }
        _ => bad_verb(verb, v, e),
    }
}

fn float_verb(f: f64, verb: char, prec: Option<usize>, spec: &Spec) -> String {
    if f.is_nan() {
        return if spec.plus {
            "+NaN"
        } else if spec.space {
            " NaN"
        } else {
            "NaN"
        }
        .into();
    }
    if f.is_infinite() {
        // Go prints the sign of infinities with every verb.
        return if f < 0.0 { "-Inf" } else { "+Inf" }.into();
    }
    let neg = f.is_sign_negative();
    let prec = |default: i32| prec.map_or(default, |p| i32::try_from(p).unwrap_or(i32::MAX));
    let body = match verb {
        'f' | 'F' | 'e' | 'E' => format_float(f.abs(), verb, prec(6)),
        'G' => format_float(f.abs(), 'G', prec(-1)),
        _ => format_float(f.abs(), 'g', prec(-1)),
    };
    spec.sign(neg, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_like_cast() {
        assert_eq!(to_int64(&Value::str("010")), 8);
        assert_eq!(to_int64(&Value::str("1.00")), 1);
        assert_eq!(to_int64(&Value::str("1.5")), 0);
        assert_eq!(to_int64(&Value::str("0x1f")), 31);
        assert_eq!(to_float64(&Value::str("2.5")), 2.5);
        assert_eq!(
            dec_op(
                &[Value::Float(0.1), Value::Float(0.2)],
                |p, q| align_dec(p, q).map(|(x, y, e)| (x + y, e)),
                |a, b| a + b
            ),
            0.3
        );
    }
}
