//! LogQL's template functions: what Loki's `line_format` and `label_format` templates
//! can call (`pkg/logql/log/fmt.go`'s `functionMap`: the sprig subset and Loki's own,
//! plus `__line__` and `__timestamp__`), as a [`FuncTable`] over the Go template
//! engine in [`crate::go::template`], which adds `text/template`'s built-ins.
//!
//! Times are shown in UTC where Go would use the server's local zone (`time.Local`):
//! Loki servers run in UTC as a rule, and it keeps results independent of the machine.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use jiff::tz::TimeZone;

use crate::go::duration::parse_go_duration;
use crate::go::humanize::parse_bytes;
use crate::go::strconv::{self, parse_float, quote};
use crate::go::template::{
    arg_int as int, arg_str as s, arg_time as time, call_err, nargs, nargs_min, Context, FuncTable,
    Template, Value,
};
use crate::go::time::{parse_in_location, Time};
use crate::go::{strings, url};

/// The [`Context`] of LogQL templates: functions see the line being formatted and its
/// timestamp ([`Entry`]).
pub struct Logql;

/// What one LogQL template execution sees besides the labels.
pub struct Entry<'a> {
    /// The current line (`__line__`).
    pub line: &'a [u8],
    /// The entry's timestamp in Unix nanoseconds (`__timestamp__`).
    pub ts: i64,
}

impl Context for Logql {
    type Of<'a> = Entry<'a>;
}

/// A LogQL template's execution environment.
pub type Env<'a> = crate::go::template::Env<'a, Logql>;

/// A parsed `line_format`/`label_format` template.
pub type LogqlTemplate = Template<Logql>;

/// The functions LogQL templates may call: `text/template`'s built-ins and Loki's.
pub fn functions() -> &'static FuncTable<Logql> {
    static FUNCS: LazyLock<FuncTable<Logql>> = LazyLock::new(|| {
        let mut t = FuncTable::builtins();
        for (name, f) in LOKI_FUNCS {
            t.add(name, f);
        }
        t
    });
    &FUNCS
}

/// Parses a LogQL template; `name` is Go's template name in messages (`line`, `label`).
pub fn parse(name: &str, src: &str) -> Result<LogqlTemplate, String> {
    Template::parse(name, src, functions())
}

/// Loki's functions by name (several names may share one function, as in Loki).
type Func = crate::go::template::Func<Logql>;
const LOKI_FUNCS: [(&str, Func); 67] = [
    // Loki.
    ("__line__", f_line),
    ("__timestamp__", f_timestamp),
    ("ToLower", f_lower),
    ("lower", f_lower),
    ("ToUpper", f_upper),
    ("upper", f_upper),
    ("Replace", f_replace_n),
    ("Trim", f_trim_cutset),
    ("TrimLeft", f_trim_left),
    ("TrimRight", f_trim_right),
    ("TrimPrefix", f_trim_prefix),
    ("TrimSuffix", f_trim_suffix),
    ("TrimSpace", f_trim_space),
    ("trim", f_trim_space),
    ("regexReplaceAll", f_regex_replace_all),
    ("regexReplaceAllLiteral", f_regex_replace_all_literal),
    ("count", f_count),
    ("urldecode", f_urldecode),
    ("urlencode", f_urlencode),
    ("bytes", f_bytes),
    ("duration", f_duration),
    ("duration_seconds", f_duration),
    ("unixEpochMillis", f_unix_epoch_millis),
    ("unixEpochNanos", f_unix_epoch_nanos),
    ("toDateInZone", f_to_date_in_zone),
    ("unixToTime", f_unix_to_time),
    ("alignLeft", f_align_left),
    ("alignRight", f_align_right),
    // Sprig.
    ("b64enc", f_b64enc),
    ("b64dec", f_b64dec),
    ("title", f_title),
    ("trunc", f_trunc),
    ("substr", f_substr),
    ("contains", f_contains),
    ("hasPrefix", f_has_prefix),
    ("hasSuffix", f_has_suffix),
    ("indent", f_indent),
    ("nindent", f_nindent),
    ("replace", f_replace),
    ("repeat", f_repeat),
    ("trimAll", f_trim_all),
    ("trimSuffix", f_sprig_trim_suffix),
    ("trimPrefix", f_sprig_trim_prefix),
    ("int", f_int),
    ("float64", f_float64),
    ("add", f_add),
    ("sub", f_sub),
    ("mul", f_mul),
    ("div", f_div),
    ("mod", f_mod),
    ("addf", f_addf),
    ("subf", f_subf),
    ("mulf", f_mulf),
    ("divf", f_divf),
    ("max", f_max),
    ("min", f_min),
    ("maxf", f_maxf),
    ("minf", f_minf),
    ("ceil", f_ceil),
    ("floor", f_floor),
    ("round", f_round),
    ("fromJson", f_from_json),
    ("date", f_date),
    ("toDate", f_to_date),
    ("now", f_now),
    ("unixEpoch", f_unix_epoch),
    ("default", f_default),
];

fn vstr(x: impl AsRef<str>) -> Value {
    Value::str(x.as_ref())
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
// Loki's functions

fn f_line(e: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("__line__", &a, 0)?;
    Ok(vstr(String::from_utf8_lossy(e.ctx.line)))
}

fn f_timestamp(e: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("__timestamp__", &a, 0)?;
    Ok(Value::Time(Time::utc(e.ctx.ts as i128)))
}

fn f_lower(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("lower", &a, 1)?;
    Ok(vstr(strings::to_lower(s(&a[0])?)))
}

fn f_upper(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("upper", &a, 1)?;
    Ok(vstr(strings::to_upper(s(&a[0])?)))
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
    let out = url::query_unescape(s(&a[0])?).map_err(|e| call_err("urldecode", e))?;
    Ok(vstr(String::from_utf8_lossy(&out)))
}

fn f_urlencode(_: &Env<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("urlencode", &a, 1)?;
    Ok(vstr(url::query_escape(s(&a[0])?)))
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
    Ok(vstr(strings::title(s(&a[0])?)))
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

    // Templates as `line_format` runs them (the engine itself is tested in
    // `go::template` with the built-ins only).

    fn run(src: &str, labels: &[(&str, &str)]) -> Result<String, String> {
        let t = parse("line", src)?;
        let data: BTreeMap<String, String> = labels
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let env = Env {
            data: &data,
            ctx: &Entry {
                line: b"the line",
                ts: 1_700_000_000_123_000_000,
            },
        };
        let mut out = Vec::new();
        t.execute(&env, &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn basics() {
        assert_eq!(
            run("{{.level | upper}}", &[("level", "error")]).unwrap(),
            "ERROR"
        );
        assert_eq!(
            run("{{ .a | ToUpper | printf \"%s!\" }}", &[("a", "x")]).unwrap(),
            "X!"
        );
        assert_eq!(run("{{ __line__ }}", &[]).unwrap(), "the line");
    }

    #[test]
    fn control_flow() {
        assert_eq!(
            run(
                "{{ range $k, $v := fromJson .j }}{{$k}}={{$v}};{{ end }}",
                &[("j", r#"{"b":2,"a":"x"}"#)]
            )
            .unwrap(),
            "a=x;b=2;"
        );
        assert_eq!(
            run("{{ (fromJson .j).a.b }}", &[("j", r#"{"a":{"b":"deep"}}"#)]).unwrap(),
            "deep"
        );
    }

    #[test]
    fn errors() {
        assert!(run("{{ div 1 0 }}", &[])
            .unwrap_err()
            .contains("error calling div"));
    }

    #[test]
    fn simple_key_and_fields() {
        assert_eq!(
            parse("line", "{{.a}} {{ if .b }}{{ .c | upper }}{{end}}")
                .unwrap()
                .fields(),
            Some(vec!["a".into(), "b".into(), "c".into()])
        );
    }
}
