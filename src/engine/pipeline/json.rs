//! JSON for the `json` and `unpack` parsers.
//!
//! Loki scans JSON with `buger/jsonparser`, which is lenient in specific ways: it stops
//! at the end of the top-level object (trailing bytes are ignored), keeps numbers as
//! their raw text without validating them, only checks nested objects when it descends
//! into them, and calls back for each pair before it has seen the rest of the object, so
//! pairs before a syntax error are still extracted. The scanner here follows the same
//! algorithm, with its error texts, so that `__error__`/`__error_details__` and the
//! extracted labels agree with Loki line for line. It never allocates except to
//! unescape a key that has escapes.

use std::borrow::Cow;

use super::labels::{LabelsBuilder, DUPLICATE_SUFFIX};
use super::util::{append_sanitized, push_lossy_spaces, sanitize_key_into};

/// `__error__` of the JSON parsers.
pub const ERR_JSON: &str = "JSONParserErr";

/// A JSON value type, as jsonparser reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JType {
    /// A string (value is the raw, still escaped, content between the quotes).
    String,
    /// A number (raw text, not validated).
    Number,
    /// An object (raw text with braces).
    Object,
    /// An array (raw text with brackets).
    Array,
    /// `true` or `false`.
    Boolean,
    /// `null`.
    Null,
}

/// jsonparser's errors, with its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JErr {
    /// `Malformed JSON error`
    MalformedJson,
    /// `Value is string, but can't find closing '"' symbol`
    MalformedString,
    /// `Value is array, but can't find closing ']' symbol`
    MalformedArray,
    /// `Value looks like object, but can't find closing '}' symbol`
    MalformedObject,
    /// `Unknown value type`
    UnknownValueType,
    /// `Encountered an invalid escape sequence in a string`
    MalformedStringEscape,
    /// Not an error: the callback asked to stop.
    Stop,
}

impl JErr {
    /// jsonparser's message.
    pub fn message(self) -> &'static str {
        match self {
            JErr::MalformedJson => "Malformed JSON error",
            JErr::MalformedString => "Value is string, but can't find closing '\"' symbol",
            JErr::MalformedArray => "Value is array, but can't find closing ']' symbol",
            JErr::MalformedObject => "Value looks like object, but can't find closing '}' symbol",
            JErr::UnknownValueType => "Unknown value type",
            JErr::MalformedStringEscape => "Encountered an invalid escape sequence in a string",
            JErr::Stop => "stopped",
        }
    }
}

fn next_token(data: &[u8]) -> Option<usize> {
    data.iter()
        .position(|c| !matches!(c, b' ' | b'\n' | b'\r' | b'\t'))
}

/// Index just past the closing quote of a string whose opening quote was already
/// consumed, and whether it contains escapes.
fn string_end(data: &[u8]) -> Option<(usize, bool)> {
    // Jump between quotes and backslashes with memchr instead of walking every byte.
    let mut escaped = false;
    let mut from = 0;
    while let Some(off) = memchr::memchr2(b'"', b'\\', &data[from..]) {
        let i = from + off;
        if data[i] == b'\\' {
            escaped = true;
            from = i + 1;
            continue;
        }
        if !escaped {
            return Some((i + 1, false));
        }
        // Count the backslashes before the quote: an even number means it closes.
        let mut j = i;
        let mut n = 0;
        while j > 0 && data[j - 1] == b'\\' {
            n += 1;
            j -= 1;
        }
        if n % 2 == 0 {
            return Some((i + 1, true));
        }
        from = i + 1;
    }
    None
}

fn block_end(data: &[u8], open: u8, close: u8) -> Option<usize> {
    let mut level = 0i32;
    let mut i = 0;
    while i < data.len() {
        match data[i] {
            b'"' => {
                let (se, _) = string_end(&data[i + 1..])?;
                i += se;
            }
            c if c == open => level += 1,
            c if c == close => {
                level -= 1;
                if level == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

fn token_end(data: &[u8]) -> usize {
    data.iter()
        .position(|c| matches!(c, b' ' | b'\n' | b'\r' | b'\t' | b',' | b'}' | b']'))
        .unwrap_or(data.len())
}

/// jsonparser's `Get(data)` without keys: the first value in `data`, its type and the
/// offset just past it. String values come without their quotes.
pub fn get_value(data: &[u8]) -> Result<(&[u8], JType, usize), JErr> {
    let off = next_token(data).ok_or(JErr::MalformedJson)?;
    let d = &data[off..];
    let (ty, end) = match d[0] {
        b'"' => match string_end(&d[1..]) {
            Some((e, _)) => (JType::String, e + 1),
            None => return Err(JErr::MalformedString),
        },
        b'[' => (
            JType::Array,
            block_end(d, b'[', b']').ok_or(JErr::MalformedArray)?,
        ),
        b'{' => (
            JType::Object,
            block_end(d, b'{', b'}').ok_or(JErr::MalformedObject)?,
        ),
        c => {
            let end = token_end(d);
            let v = &d[..end];
            let ty = match c {
                b't' | b'f' if v == b"true" || v == b"false" => JType::Boolean,
                b'u' | b'n' if v == b"null" => JType::Null,
                b'0'..=b'9' | b'-' => JType::Number,
                _ => return Err(JErr::UnknownValueType),
            };
            (ty, end)
        }
    };
    let value = if ty == JType::String {
        &d[1..end - 1]
    } else {
        &d[..end]
    };
    Ok((value, ty, off + end))
}

/// jsonparser's `ObjectEach`: calls `cb(key, value, type)` for each pair of the object at
/// the start of `data` (keys unescaped; string values raw without quotes).
pub fn object_each<'d, F>(data: &'d [u8], cb: &mut F) -> Result<(), JErr>
where
    F: FnMut(&[u8], &'d [u8], JType) -> Result<(), JErr>,
{
    let mut off = match next_token(data) {
        Some(o) if data[o] == b'{' => o + 1,
        _ => return Err(JErr::MalformedObject),
    };
    match next_token(&data[off..]) {
        None => return Err(JErr::MalformedJson),
        Some(o) => {
            off += o;
            if data[off] == b'}' {
                return Ok(());
            }
        }
    }
    while off < data.len() {
        match data[off] {
            b'"' => off += 1,
            b'}' => return Ok(()),
            _ => return Err(JErr::MalformedObject),
        }
        let (e, esc) = string_end(&data[off..]).ok_or(JErr::MalformedJson)?;
        let raw_key = &data[off..off + e - 1];
        off += e;
        let key: Cow<[u8]> = if esc {
            let mut k = Vec::with_capacity(raw_key.len());
            unescape(raw_key, &mut k).map_err(|_| JErr::MalformedStringEscape)?;
            Cow::Owned(k)
        } else {
            Cow::Borrowed(raw_key)
        };
        match next_token(&data[off..]) {
            Some(o) if data[off + o] == b':' => off += o + 1,
            _ => return Err(JErr::MalformedJson),
        }
        let (value, ty, used) = get_value(&data[off..])?;
        cb(&key, value, ty)?;
        off += used;
        match next_token(&data[off..]) {
            None => return Err(JErr::MalformedArray),
            Some(o) => {
                off += o;
                match data[off] {
                    b'}' => return Ok(()),
                    b',' => off += 1,
                    _ => return Err(JErr::MalformedObject),
                }
            }
        }
        match next_token(&data[off..]) {
            None => return Err(JErr::MalformedArray),
            Some(o) => off += o,
        }
    }
    Err(JErr::MalformedObject)
}

/// jsonparser's `ArrayEach` (the callback gets each element's value and type).
pub fn array_each<'d, F>(data: &'d [u8], cb: &mut F) -> Result<(), JErr>
where
    F: FnMut(&'d [u8], JType) -> bool,
{
    let mut off = next_token(data).ok_or(JErr::MalformedJson)? + 1;
    if off > data.len() {
        return Err(JErr::MalformedJson);
    }
    off += next_token(&data[off..]).ok_or(JErr::MalformedJson)?;
    if data[off] == b']' {
        return Ok(());
    }
    loop {
        let (v, t, used) = get_value(&data[off..])?;
        if !cb(v, t) {
            return Ok(());
        }
        off += used;
        off += next_token(&data[off..]).ok_or(JErr::MalformedArray)?;
        match data[off] {
            b']' => return Ok(()),
            b',' => off += 1,
            _ => return Err(JErr::MalformedArray),
        }
    }
}

fn hex4(b: &[u8]) -> Option<u32> {
    if b.len() < 4 {
        return None;
    }
    let s = std::str::from_utf8(&b[..4]).ok()?;
    u32::from_str_radix(s, 16).ok()
}

/// jsonparser's `Unescape`: JSON escapes including UTF-16 surrogate pairs; any invalid
/// escape is an error. Appends to `out`.
pub fn unescape(src: &[u8], out: &mut Vec<u8>) -> Result<(), ()> {
    let mut i = 0;
    while i < src.len() {
        let c = src[i];
        if c != b'\\' {
            let next = memchr::memchr(b'\\', &src[i..]).map_or(src.len(), |p| i + p);
            out.extend_from_slice(&src[i..next]);
            i = next;
            continue;
        }
        let e = *src.get(i + 1).ok_or(())?;
        let simple = match e {
            b'"' => Some(b'"'),
            b'\\' => Some(b'\\'),
            b'/' => Some(b'/'),
            b'b' => Some(0x08),
            b'f' => Some(0x0c),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'u' => None,
            _ => return Err(()),
        };
        if let Some(s) = simple {
            out.push(s);
            i += 2;
            continue;
        }
        let r = hex4(&src[i + 2..]).ok_or(())?;
        let (ch, used) = if (0xD800..0xE000).contains(&r) {
            // A high surrogate must be followed by a low one.
            if src.get(i + 6) != Some(&b'\\') || src.get(i + 7) != Some(&b'u') {
                return Err(());
            }
            let r2 = hex4(&src[i + 8..]).ok_or(())?;
            if !(0xDC00..0xE000).contains(&r2) || r >= 0xDC00 {
                return Err(());
            }
            let cp = 0x10000 + ((r - 0xD800) << 10) + (r2 - 0xDC00);
            (char::from_u32(cp).ok_or(())?, 12)
        } else {
            (char::from_u32(r).ok_or(())?, 6)
        };
        let mut buf = [0u8; 4];
        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        i += used;
    }
    Ok(())
}

/// Loki's `readValue` into `out`: strings unescaped (an invalid escape gives ""),
/// numbers raw, booleans `true`/`false`, null "". Invalid UTF-8 becomes spaces.
pub fn read_value(v: &[u8], ty: JType, scratch: &mut Vec<u8>, out: &mut String) {
    out.clear();
    match ty {
        JType::String => {
            if memchr::memchr(b'\\', v).is_none() {
                push_lossy_spaces(v, out);
            } else {
                scratch.clear();
                if unescape(v, scratch).is_ok() {
                    push_lossy_spaces(scratch, out);
                }
            }
        }
        JType::Null => {}
        JType::Boolean => out.push_str(if v == b"true" { "true" } else { "false" }),
        _ => push_lossy_spaces(v, out),
    }
}

/// Reusable buffers of the json parser (per stream).
#[derive(Debug, Default)]
pub struct JsonScratch {
    prefix: Vec<u8>,
    key: Vec<u8>,
    unesc: Vec<u8>,
    value: String,
}

/// `| json` without parameters: every string, number and boolean, nested objects
/// flattened with `_`.
pub fn parse_all(line: &[u8], lb: &mut LabelsBuilder, s: &mut JsonScratch) {
    s.prefix.clear();
    let mut st = JsonState { lb, s };
    if let Err(e) = object_each(line, &mut |k, v, t| st.pair(k, v, t)) {
        st.lb.set_err(ERR_JSON);
        st.lb.set_err_details(e.message());
    }
}

struct JsonState<'a> {
    lb: &'a mut LabelsBuilder,
    s: &'a mut JsonScratch,
}

impl JsonState<'_> {
    fn pair(&mut self, key: &[u8], value: &[u8], ty: JType) -> Result<(), JErr> {
        match ty {
            JType::String | JType::Number | JType::Boolean => {
                self.s.key.clear();
                if self.s.prefix.is_empty() {
                    sanitize_key_into(key, &mut self.s.key);
                } else {
                    self.s.key.extend_from_slice(&self.s.prefix);
                    self.s.key.push(b'_');
                    append_sanitized(&mut self.s.key, key);
                }
                if self.s.key.is_empty() {
                    return Ok(());
                }
                let name = std::str::from_utf8(&self.s.key).unwrap_or_default();
                if !self.lb.hints.might_extract(name) {
                    return Ok(());
                }
                let name: Cow<str> = if self.lb.clashes(name) {
                    Cow::Owned(format!("{name}{DUPLICATE_SUFFIX}"))
                } else {
                    Cow::Borrowed(name)
                };
                if !self.lb.hints.should_extract(&name) || self.lb.extracted(&name) {
                    return Ok(());
                }
                read_value(value, ty, &mut self.s.unesc, &mut self.s.value);
                self.lb.set_parsed(&name, &self.s.value);
                Ok(())
            }
            JType::Object => {
                let len = self.s.prefix.len();
                if !self.s.prefix.is_empty() {
                    self.s.prefix.push(b'_');
                }
                append_sanitized(&mut self.s.prefix, key);
                let descend = {
                    let p = std::str::from_utf8(&self.s.prefix).unwrap_or_default();
                    self.lb.hints.should_extract_prefix(p)
                };
                let r = if descend {
                    object_each(value, &mut |k, v, t| self.pair(k, v, t))
                } else {
                    Ok(())
                };
                self.s.prefix.truncate(len);
                r
            }
            JType::Array | JType::Null => Ok(()),
        }
    }
}

/// A step of a json expression path: `a`, `["a"]`, `[0]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathElem {
    /// An object key.
    Key(String),
    /// An array index.
    Index(usize),
}

/// Parses a json expression (`a.b`, `a["b"]`, `a[0]`) with Loki's jsonexpr grammar.
pub fn parse_path(expr: &str) -> Result<Vec<PathElem>, String> {
    #[derive(Debug, PartialEq)]
    enum Tok {
        Field(String),
        Str(String),
        Index(usize),
        Lsb,
        Rsb,
        Dot,
    }
    let wrap = |m: String| format!("cannot parse expression [{expr}]: {m}");
    let cs: Vec<char> = expr.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        if c == '\0' {
            break;
        }
        if matches!(c, ' ' | '\t' | '\n') {
            i += 1;
            continue;
        }
        if c.is_ascii_digit() {
            let mut n = String::new();
            while i < cs.len() {
                let d = cs[i];
                if d == '.' && !n.is_empty() {
                    return Err(wrap("cannot use float as array index".into()));
                }
                if matches!(d, ' ' | '\t' | '\n' | '.' | ']') {
                    break;
                }
                if !d.is_ascii_digit() {
                    return Err(wrap(format!("non-integer value: {d}")));
                }
                n.push(d);
                i += 1;
            }
            toks.push(Tok::Index(n.parse().map_err(|e| wrap(format!("{e}")))?));
            continue;
        }
        match c {
            '[' => toks.push(Tok::Lsb),
            ']' => toks.push(Tok::Rsb),
            '.' => toks.push(Tok::Dot),
            '"' => {
                let mut s = String::new();
                i += 1;
                while i < cs.len() && !matches!(cs[i], '"' | ']' | '\0') {
                    s.push(cs[i]);
                    i += 1;
                }
                // The closing quote is consumed, a `]` is left for the next token.
                if i < cs.len() && cs[i] == '"' {
                    i += 1;
                }
                toks.push(Tok::Str(s));
                continue;
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let mut s = String::new();
                while i < cs.len() && (cs[i].is_ascii_alphanumeric() || cs[i] == '_') {
                    s.push(cs[i]);
                    i += 1;
                }
                toks.push(Tok::Field(s));
                continue;
            }
            c => return Err(wrap(format!("unexpected char {c}"))),
        }
        i += 1;
    }
    let syntax = || wrap("syntax error".into());
    let mut out = Vec::new();
    let mut t = 0;
    while t < toks.len() {
        match (&toks[t], toks.get(t + 1), toks.get(t + 2)) {
            (Tok::Field(f), _, _) if t == 0 => {
                out.push(PathElem::Key(f.clone()));
                t += 1;
            }
            (Tok::Dot, Some(Tok::Field(f)), _) if t > 0 => {
                out.push(PathElem::Key(f.clone()));
                t += 2;
            }
            (Tok::Lsb, Some(Tok::Str(s)), Some(Tok::Rsb)) => {
                out.push(PathElem::Key(s.clone()));
                t += 3;
            }
            (Tok::Lsb, Some(Tok::Index(n)), Some(Tok::Rsb)) => {
                out.push(PathElem::Index(*n));
                t += 3;
            }
            _ => return Err(syntax()),
        }
    }
    if out.is_empty() {
        return Err(syntax());
    }
    Ok(out)
}

/// Looks up `path` in `data`; the value (strings without quotes) and its type.
pub fn get_path<'a>(data: &'a [u8], path: &[PathElem]) -> Result<Option<(&'a [u8], JType)>, JErr> {
    let (mut cur, mut ty, _) = get_value(data)?;
    for elem in path {
        let mut found: Option<(&'a [u8], JType)> = None;
        match (elem, ty) {
            (PathElem::Key(k), JType::Object) => {
                let r = object_each(cur, &mut |key, v, t| {
                    if key == k.as_bytes() {
                        found = Some((v, t));
                        return Err(JErr::Stop);
                    }
                    Ok(())
                });
                match r {
                    Ok(()) | Err(JErr::Stop) => {}
                    Err(e) => return Err(e),
                }
            }
            (PathElem::Index(n), JType::Array) => {
                let mut i = 0;
                array_each(cur, &mut |v, t| {
                    if i == *n {
                        found = Some((v, t));
                        return false;
                    }
                    i += 1;
                    true
                })?;
            }
            _ => return Ok(None),
        }
        match found {
            Some((v, t)) => {
                cur = v;
                ty = t;
            }
            None => return Ok(None),
        }
    }
    Ok(Some((cur, ty)))
}

/// `| json a="path", …`: each label gets the value at its path; a missing path gives
/// an empty label.
#[derive(Debug, Clone)]
pub struct JsonExprParser {
    ids: Vec<String>,
    paths: Vec<Vec<PathElem>>,
}

impl JsonExprParser {
    /// Compiles the parameters (Loki's `NewJSONExpressionParser`).
    pub fn new(params: &[crate::logql::LabelExtraction]) -> Result<JsonExprParser, String> {
        let mut ids = Vec::new();
        let mut paths = Vec::new();
        for p in params {
            let path = parse_path(&p.expr)?;
            if !crate::model::is_valid_label_name(&p.label) {
                return Err(format!("invalid extracted label name '{}'", p.label));
            }
            ids.push(p.label.clone());
            paths.push(path);
        }
        Ok(JsonExprParser { ids, paths })
    }

    /// Runs on one line.
    pub fn process(&self, line: &[u8], lb: &mut LabelsBuilder, s: &mut JsonScratch) {
        if line.is_empty() {
            return;
        }
        if !matches!(line[0], b'"' | b'{' | b'[') {
            lb.set_err(ERR_JSON);
            return;
        }
        for (id, path) in self.ids.iter().zip(&self.paths) {
            let found = match get_path(line, path) {
                Ok(f) => f,
                Err(e) => {
                    lb.set_err(ERR_JSON);
                    lb.set_err_details(e.message());
                    None
                }
            };
            let Some((v, t)) = found else { continue };
            let key: Cow<str> = if lb.clashes(id) {
                Cow::Owned(format!("{id}{DUPLICATE_SUFFIX}"))
            } else {
                Cow::Borrowed(id)
            };
            s.value.clear();
            match t {
                JType::Null => {}
                JType::Object | JType::Array | JType::Number | JType::Boolean => {
                    push_lossy_spaces(v, &mut s.value)
                }
                JType::String => read_value(v, t, &mut s.unesc, &mut s.value),
            }
            lb.set_parsed(&key, &s.value);
        }
        for id in &self.ids {
            if lb.get(id).is_none() {
                lb.set_parsed(id, "");
            }
        }
    }
}

/// The key whose value replaces the line in `unpack` (promtail's `pack` stage).
pub const PACKED_ENTRY_KEY: &str = "_entry";

/// `| unpack`: string fields become labels and `_entry` becomes the line — but only when
/// the object has an `_entry` (otherwise the line is left alone and nothing is set, as
/// in Loki). Returns whether `out` holds the new line.
pub fn unpack(
    line: &[u8],
    lb: &mut LabelsBuilder,
    s: &mut JsonScratch,
    pending: &mut super::labels::Pairs,
    out: &mut Vec<u8>,
) -> bool {
    if line.is_empty() {
        return false;
    }
    if line[0] != b'{' {
        lb.set_err(ERR_JSON);
        lb.set_err_details("expecting json object(6), but it is not");
        return false;
    }
    pending.clear();
    let mut packed = false;
    out.clear();
    let r = object_each(line, &mut |key, value, ty| {
        if ty != JType::String {
            return Ok(());
        }
        if key == PACKED_ENTRY_KEY.as_bytes() {
            out.clear();
            unescape(value, out).map_err(|_| JErr::MalformedStringEscape)?;
            packed = true;
            return Ok(());
        }
        let field = String::from_utf8_lossy(key);
        let field: Cow<str> = if lb.clashes(&field) {
            Cow::Owned(format!("{field}{DUPLICATE_SUFFIX}"))
        } else {
            field
        };
        if !lb.hints.should_extract(&field) {
            return Ok(());
        }
        s.key.clear();
        sanitize_key_into(field.as_bytes(), &mut s.key);
        read_value(value, ty, &mut s.unesc, &mut s.value);
        let name = std::str::from_utf8(&s.key).unwrap_or_default();
        if !name.is_empty() {
            pending.push(name, &s.value);
        }
        Ok(())
    });
    if let Err(e) = r {
        lb.set_err(ERR_JSON);
        lb.set_err_details(e.message());
        return false;
    }
    if packed {
        for (n, v) in pending.iter() {
            if !lb.extracted(n) {
                lb.set_parsed(n, v);
            }
        }
    }
    packed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::pipeline::labels::Hints;

    fn all(line: &str, base: &[(&str, &str)]) -> String {
        let base: Vec<(String, String)> = base
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let mut lb = LabelsBuilder::new(&base, Hints::default());
        parse_all(line.as_bytes(), &mut lb, &mut JsonScratch::default());
        lb.result(None).to_string()
    }

    #[test]
    fn flatten_like_loki() {
        assert_eq!(
            all(r#"{"level":"info","status":200}"#, &[("app", "a")]),
            r#"{app="a", level="info", status="200"}"#
        );
        assert_eq!(
            all(
                r#"{"lvl":"warn","obj":{"x":1,"y":{"z":2}},"ok":true,"no":false,"nil":null,"arr":[1,2],"f":1.5}"#,
                &[("app", "a")]
            ),
            r#"{app="a", f="1.5", lvl="warn", no="false", obj_x="1", obj_y_z="2", ok="true"}"#
        );
        assert_eq!(
            all(
                r#"{"level":"parsed","a.b":1,"dup":"first","dup":"second"}"#,
                &[("app", "a"), ("level", "stream")]
            ),
            r#"{a_b="1", app="a", dup="first", level="stream", level_extracted="parsed"}"#
        );
        assert_eq!(
            all(r#"{"m":"a\"b\u00e9\ud83d\ude00","9k":"x"}"#, &[]),
            "{_9k=\"x\", m=\"a\\\"bé😀\"}"
        );
    }

    #[test]
    fn errors_like_jsonparser() {
        assert_eq!(
            all("broken", &[]),
            r#"{__error__="JSONParserErr", __error_details__="Value looks like object, but can't find closing '}' symbol"}"#
        );
        // Pairs before the error are kept; trailing garbage is ignored.
        assert_eq!(
            all(r#"{"a":1,"b":}"#, &[]),
            r#"{__error__="JSONParserErr", __error_details__="Unknown value type", a="1"}"#
        );
        assert_eq!(all(r#"{"a":1} trailing"#, &[]), r#"{a="1"}"#);
        assert_eq!(all(r#"{"a":12abc}"#, &[]), r#"{a="12abc"}"#);
        assert_eq!(all("{}", &[]), "{}");
        assert!(all(r#"{"a":"x"#, &[]).contains("JSONParserErr"));
        assert!(all("", &[]).contains("JSONParserErr"));
    }

    #[test]
    fn paths() {
        use PathElem::*;
        assert_eq!(
            parse_path("user.id").unwrap(),
            vec![Key("user".into()), Key("id".into())]
        );
        assert_eq!(
            parse_path(r#"a["b c"][0]"#).unwrap(),
            vec![Key("a".into()), Key("b c".into()), Index(0)]
        );
        assert_eq!(
            parse_path("tags[0]").unwrap(),
            vec![Key("tags".into()), Index(0)]
        );
        assert!(parse_path("user[")
            .unwrap_err()
            .starts_with("cannot parse expression"));
        assert!(parse_path("a[1.5]").is_err());
        assert!(parse_path("").is_err());
        let doc =
            br#"{"user":{"id":"u1","name":"alice"},"tags":["x","y"],"o":{"k":[1,{"z":null}]}}"#;
        let p = |e: &str| get_path(doc, &parse_path(e).unwrap()).unwrap();
        assert_eq!(p("user.id"), Some((&b"u1"[..], JType::String)));
        assert_eq!(p("tags[1]"), Some((&b"y"[..], JType::String)));
        assert_eq!(p("o.k[1].z"), Some((&b"null"[..], JType::Null)));
        assert_eq!(
            p("user"),
            Some((&br#"{"id":"u1","name":"alice"}"#[..], JType::Object))
        );
        assert_eq!(p("user.age"), None);
        assert_eq!(p("tags[5]"), None);
    }
}
