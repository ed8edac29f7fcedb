//! Structured input formats: what `logcli query -o jsonl` prints, and Loki
//! push API bodies. Plain, JSON and logfmt lines (`auto`) need no parsing
//! beyond timestamp detection and live in the pipeline.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;

use crate::model::Labels;

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InputFormat {
    /// One entry per line; timestamps detected in the line.
    #[default]
    Auto,
    /// `logcli query -o jsonl` output: `{"labels":{…},"line":"…","timestamp":"RFC3339Nano"}`.
    Logcli,
    /// Loki push API JSON bodies (`{"streams":[{"stream":{…},"values":[["ns","line"],…]}]}`),
    /// one or more per file.
    LokiPush,
}

#[derive(Deserialize)]
struct LogcliLine<'a> {
    #[serde(borrow, default)]
    labels: BTreeMap<Cow<'a, str>, Cow<'a, str>>,
    #[serde(borrow)]
    line: Cow<'a, str>,
    #[serde(borrow)]
    timestamp: Cow<'a, str>,
}

/// One parsed logcli JSON line.
#[derive(Debug, Clone, PartialEq)]
pub struct LogcliEntry {
    /// The entry's labels.
    pub labels: Labels,
    /// ns since the epoch.
    pub ts: i64,
    /// The log line.
    pub line: String,
}

/// Parses one line of `logcli query -o jsonl` output.
pub fn parse_logcli_line(line: &[u8]) -> Result<LogcliEntry, String> {
    let v: LogcliLine =
        serde_json::from_slice(line).map_err(|e| format!("not a logcli jsonl object: {e}"))?;
    let ts = parse_rfc3339(&v.timestamp)?;
    Ok(LogcliEntry {
        labels: Labels::from_pairs(
            v.labels
                .into_iter()
                .map(|(k, v)| (k.into_owned(), v.into_owned())),
        ),
        ts,
        line: v.line.into_owned(),
    })
}

/// One logcli record read by [`parse_logcli_fast`]: its labels as the raw
/// JSON object (a batch parses each distinct object once), the line (borrowed
/// unless it holds escapes) and the time.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawLogcli<'a> {
    /// The `labels` object, braces included, as it stands in the input.
    pub labels: &'a [u8],
    /// The line, unescaped.
    pub line: Cow<'a, [u8]>,
    /// ns since the epoch.
    pub ts: i64,
}

/// Reads a record of exactly the shape logcli writes —
/// `{"labels":{"k":"v",…},"line":"…","timestamp":"…"}`, compact, keys in
/// that order — without a JSON parser. `None` for anything else (other key
/// orders, whitespace, a non-string label value, a bad escape, invalid
/// UTF-8): the caller then uses [`parse_logcli_line`], so both give the same
/// entries and the same errors.
pub(crate) fn parse_logcli_fast(b: &[u8]) -> Option<RawLogcli<'_>> {
    const HEAD: &[u8] = b"{\"labels\":{";
    const LINE: &[u8] = b",\"line\":\"";
    const TS: &[u8] = b",\"timestamp\":\"";
    if !b.starts_with(HEAD) {
        return None;
    }
    // serde_json rejects invalid UTF-8 anywhere; so must this.
    std::str::from_utf8(b).ok()?;
    let lstart = HEAD.len() - 1;
    let mut i = HEAD.len();
    if b.get(i) != Some(&b'}') {
        loop {
            (b.get(i) == Some(&b'"')).then_some(())?;
            let (end, _) = scan_string(b, i + 1)?;
            (b.get(end + 1) == Some(&b':') && b.get(end + 2) == Some(&b'"')).then_some(())?;
            let (end, _) = scan_string(b, end + 3)?;
            match b.get(end + 1)? {
                b',' => i = end + 2,
                b'}' => {
                    i = end + 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    let labels = &b[lstart..=i];
    let rest = &b[i + 1..];
    if !rest.starts_with(LINE) {
        return None;
    }
    let ls = i + 1 + LINE.len();
    let (le, esc) = scan_string(b, ls)?;
    let line = if esc {
        Cow::Owned(unescape(&b[ls..le])?)
    } else {
        Cow::Borrowed(&b[ls..le])
    };
    if !b[le + 1..].starts_with(TS) {
        return None;
    }
    let ts_start = le + 1 + TS.len();
    let (te, esc) = scan_string(b, ts_start)?;
    if esc || b.get(te + 1) != Some(&b'}') || te + 2 != b.len() {
        return None;
    }
    let ts = std::str::from_utf8(&b[ts_start..te]).ok()?;
    let ts = rfc3339_utc(ts.as_bytes()).or_else(|| parse_rfc3339(ts).ok())?;
    Some(RawLogcli { labels, line, ts })
}

/// Scans a JSON string from just after its opening quote: the index of the
/// closing quote and whether it holds escapes; `None` when it is malformed
/// (a control character, a bad escape, no end).
fn scan_string(b: &[u8], mut i: usize) -> Option<(usize, bool)> {
    let mut esc = false;
    loop {
        let j = i + memchr::memchr2(b'"', b'\\', b.get(i..)?)?;
        if b[i..j].iter().any(|&c| c < 0x20) {
            return None;
        }
        if b[j] == b'"' {
            return Some((j, esc));
        }
        esc = true;
        i = match b.get(j + 1)? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => j + 2,
            b'u' => {
                let hex = b.get(j + 2..j + 6)?;
                hex.iter().all(u8::is_ascii_hexdigit).then_some(())?;
                j + 6
            }
            _ => return None,
        };
    }
}

/// Decodes the escapes of a JSON string's contents (checked by
/// [`scan_string`]); `None` for a lone surrogate, which serde_json refuses.
fn unescape(s: &[u8]) -> Option<Vec<u8>> {
    let hex4 = |b: &[u8]| u32::from_str_radix(std::str::from_utf8(b).ok()?, 16).ok();
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let Some(j) = memchr::memchr(b'\\', &s[i..]) else {
            out.extend_from_slice(&s[i..]);
            break;
        };
        out.extend_from_slice(&s[i..i + j]);
        i += j;
        let c = match *s.get(i + 1)? {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 8,
            b'f' => 12,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let mut cp = hex4(s.get(i + 2..i + 6)?)?;
                i += 6;
                if (0xD800..0xDC00).contains(&cp) {
                    if s.get(i..i + 2) != Some(b"\\u") {
                        return None;
                    }
                    let lo = hex4(s.get(i + 2..i + 6)?)?;
                    if !(0xDC00..0xE000).contains(&lo) {
                        return None;
                    }
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    i += 6;
                } else if (0xDC00..0xE000).contains(&cp) {
                    return None;
                }
                let mut buf = [0u8; 4];
                out.extend_from_slice(char::from_u32(cp)?.encode_utf8(&mut buf).as_bytes());
                continue;
            }
            _ => return None,
        };
        out.push(c);
        i += 2;
    }
    Some(out)
}

/// `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z`, what logcli prints, without a date
/// library; `None` for any other form (then [`parse_rfc3339`] decides).
fn rfc3339_utc(b: &[u8]) -> Option<i64> {
    use super::timestamp::civil::{d2, d4, days_from_civil, days_in_month};
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (y, mo, d) = (d4(b, 0)? as i32, d2(b, 5)? as u8, d2(b, 8)? as u8);
    let (h, mi, s) = (d2(b, 11)?, d2(b, 14)?, d2(b, 17)?);
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 59
    {
        return None;
    }
    let mut ns = 0i64;
    let mut i = 19;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let n = i - start;
        if n == 0 || n > 9 {
            return None;
        }
        for &c in &b[start..i] {
            ns = ns * 10 + i64::from(c - b'0');
        }
        ns *= 10i64.pow(9 - n as u32);
    }
    if i + 1 != b.len() || b[i] != b'Z' {
        return None;
    }
    let secs = days_from_civil(y, mo, d) * 86_400 + i64::from(h * 3600 + mi * 60 + s);
    secs.checked_mul(1_000_000_000)?.checked_add(ns)
}

/// Parses the `labels` object of a logcli record (as [`RawLogcli::labels`]
/// holds it) into a label set.
pub(crate) fn parse_labels_object(raw: &[u8]) -> Result<Labels, String> {
    if let Some(l) = labels_object_fast(raw) {
        return Ok(l);
    }
    let m: BTreeMap<Cow<'_, str>, Cow<'_, str>> =
        serde_json::from_slice(raw).map_err(|e| format!("bad labels object: {e}"))?;
    Ok(Labels::from_pairs(
        m.into_iter().map(|(k, v)| (k.into_owned(), v.into_owned())),
    ))
}

/// A compact `{"name":"value",…}` object (the shape [`parse_logcli_fast`]
/// accepts) read without a JSON parser: a batch parses a label set per
/// stream, and at a million streams serde's map was most of that. `None`
/// for anything else (then serde decides, with its error).
fn labels_object_fast(b: &[u8]) -> Option<Labels> {
    let text = |from: usize, to: usize, esc: bool| -> Option<String> {
        let bytes = if esc {
            unescape(&b[from..to])?
        } else {
            b[from..to].to_vec()
        };
        String::from_utf8(bytes).ok()
    };
    (b.first() == Some(&b'{')).then_some(())?;
    if b == b"{}" {
        return Some(Labels::default());
    }
    let mut pairs = Vec::with_capacity(memchr::memchr_iter(b',', b).count() + 1);
    let mut i = 1;
    loop {
        (b.get(i) == Some(&b'"')).then_some(())?;
        let (kend, kesc) = scan_string(b, i + 1)?;
        (b.get(kend + 1) == Some(&b':') && b.get(kend + 2) == Some(&b'"')).then_some(())?;
        let (vend, vesc) = scan_string(b, kend + 3)?;
        pairs.push((text(i + 1, kend, kesc)?, text(kend + 3, vend, vesc)?));
        match b.get(vend + 1)? {
            b',' => i = vend + 2,
            b'}' if vend + 2 == b.len() => break,
            _ => return None,
        }
    }
    // A repeated name keeps its last value, as serde's map does.
    Some(Labels::from_pairs(pairs))
}

/// Parses an RFC 3339 timestamp with any offset into ns since the epoch.
pub fn parse_rfc3339(s: &str) -> Result<i64, String> {
    let t: jiff::Timestamp = s.parse().map_err(|e| format!("bad timestamp {s:?}: {e}"))?;
    i64::try_from(t.as_nanosecond()).map_err(|_| format!("timestamp {s:?} out of range"))
}

#[derive(Deserialize)]
struct PushBody {
    streams: Vec<PushStream>,
}

/// A stream of a push body; without `stream` its labels are empty (then
/// refused as Loki refuses them), without `values` it has no entries.
/// Loki's legacy shape (`"labels": "{…}"`, `"entries": [{"ts": RFC 3339,
/// "line": …}]`, as old promtails send) is read too.
#[derive(Deserialize)]
struct PushStream {
    #[serde(default)]
    stream: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<Vec<serde_json::Value>>,
    #[serde(default)]
    labels: Option<String>,
    #[serde(default)]
    entries: Vec<LegacyEntry>,
}

/// An entry of the legacy shape.
#[derive(Deserialize)]
struct LegacyEntry {
    ts: String,
    #[serde(default)]
    line: String,
}

/// One pushed entry: `(ts, line, structured metadata)`.
pub type PushEntry = (i64, String, Vec<(String, String)>);

/// One stream of a push body.
#[derive(Debug, Clone, PartialEq)]
pub struct PushStreamEntries {
    /// The stream's labels.
    pub labels: Labels,
    /// `(ts, line, structured metadata)`.
    pub entries: Vec<PushEntry>,
}

/// Parses every push body in `data` (several may follow one another, as in
/// a file of captured requests). Errors name the byte offset.
pub fn parse_push_bodies(data: &[u8]) -> Result<Vec<PushStreamEntries>, String> {
    let mut out = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(data).into_iter::<PushBody>();
    loop {
        let offset = de.byte_offset();
        match de.next() {
            None => break,
            Some(Err(e)) => return Err(format!("byte {offset}: not a Loki push body: {e}")),
            Some(Ok(body)) => {
                for s in body.streams {
                    let mut labels = Labels::from_pairs(s.stream);
                    if let Some(text) = &s.labels {
                        let pairs = super::push::parse_label_string(text)
                            .map_err(|e| format!("couldn't parse labels: {e}"))?;
                        labels = Labels::from_pairs(pairs);
                    }
                    let mut entries = Vec::with_capacity(s.values.len() + s.entries.len());
                    for e in s.entries {
                        let ts = parse_rfc3339(&e.ts).map_err(|m| format!("byte {offset}: {m}"))?;
                        entries.push((ts, e.line, Vec::new()));
                    }
                    for v in s.values {
                        let (ts, line) = match (v.first(), v.get(1)) {
                            (
                                Some(serde_json::Value::String(ts)),
                                Some(serde_json::Value::String(line)),
                            ) => (ts, line),
                            _ => {
                                return Err(format!(
                                    "byte {offset}: a value must be [\"<unix ns>\", \"<line>\"]"
                                ))
                            }
                        };
                        let ts: i64 = ts.parse().map_err(|_| {
                            format!("byte {offset}: timestamp {ts:?} is not unix nanoseconds")
                        })?;
                        let metadata = match v.get(2) {
                            Some(serde_json::Value::Object(m)) => m
                                .iter()
                                .map(|(k, v)| {
                                    (
                                        k.clone(),
                                        v.as_str().map_or_else(|| v.to_string(), str::to_string),
                                    )
                                })
                                .collect(),
                            _ => Vec::new(),
                        };
                        entries.push((ts, line.clone(), metadata));
                    }
                    out.push(PushStreamEntries { labels, entries });
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logcli_line() {
        let e = parse_logcli_line(
            br#"{"labels":{"job":"a","env":"p"},"line":"hello \"x\"","timestamp":"2021-01-19T10:00:00.123456789+01:00"}"#,
        )
        .unwrap();
        assert_eq!(e.labels.to_string(), r#"{env="p", job="a"}"#);
        assert_eq!(e.line, "hello \"x\"");
        assert_eq!(e.ts, 1_611_046_800_123_456_789);
        assert!(parse_logcli_line(b"{}").is_err());
        // Escapes, braces and repeated names in the parser-free path.
        let l = labels_object_fast(br#"{"b":"x},{","a":"\u00e9\n","b":"y"}"#).unwrap();
        assert_eq!(l.pairs()[0], ("a".to_string(), "\u{e9}\n".to_string()));
        assert_eq!(l.pairs()[1], ("b".to_string(), "y".to_string()));
    }

    proptest::proptest! {
        /// The labels objects read without a parser are the ones serde
        /// reads, label for label; what it refuses is left to serde.
        #[test]
        fn labels_objects_read_as_serde_reads_them(
            pairs in proptest::collection::vec(
                (r#"[a-c_\\"\\\\é]{0,3}|\\u00e9|\\ud83d\\ude00|\\ud800"#, r#"[a-c}{,:\\"\\\\ ]{0,4}|\\n|\\u0041"#),
                0..5,
            ),
        ) {
            let body: Vec<String> = pairs.iter().map(|(k, v)| format!(r#""{k}":"{v}""#)).collect();
            let raw = format!("{{{}}}", body.join(","));
            let serde = serde_json::from_slice::<BTreeMap<Cow<'_, str>, Cow<'_, str>>>(raw.as_bytes())
                .ok()
                .map(|m| Labels::from_pairs(m.into_iter().map(|(k, v)| (k.into_owned(), v.into_owned()))));
            let fast = labels_object_fast(raw.as_bytes());
            if fast.is_some() {
                proptest::prop_assert_eq!(&fast, &serde, "{}", raw);
            }
            proptest::prop_assert_eq!(parse_labels_object(raw.as_bytes()).ok(), serde);
        }
    }

    #[test]
    fn push_bodies() {
        let body = br#"{"streams":[{"stream":{"job":"x"},"values":[["1000","a"],["2000","b",{"trace_id":"t"}]]}]}
{"streams":[{"stream":{"job":"y"},"values":[["3","c"]]}]}"#;
        let s = parse_push_bodies(body).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(
            s[0].entries,
            vec![
                (1000, "a".into(), vec![]),
                (2000, "b".into(), vec![("trace_id".into(), "t".into())])
            ]
        );
        assert!(parse_push_bodies(br#"{"streams":[{"stream":{},"values":[[1,"a"]]}]}"#).is_err());
        // Loki's legacy shape.
        let legacy = parse_push_bodies(
            br#"{"streams":[{"labels":"{job=\"old\", a=\"b\"}","entries":[{"ts":"2024-05-01T00:00:00.5Z","line":"x"}]}]}"#,
        )
        .unwrap();
        assert_eq!(legacy[0].labels.to_string(), r#"{a="b", job="old"}"#);
        assert_eq!(
            legacy[0].entries,
            vec![(1_714_521_600_500_000_000, "x".into(), vec![])]
        );
    }
}
