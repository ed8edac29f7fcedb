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

/// Parses an RFC 3339 timestamp with any offset into ns since the epoch.
pub fn parse_rfc3339(s: &str) -> Result<i64, String> {
    let t: jiff::Timestamp = s.parse().map_err(|e| format!("bad timestamp {s:?}: {e}"))?;
    i64::try_from(t.as_nanosecond()).map_err(|_| format!("timestamp {s:?} out of range"))
}

#[derive(Deserialize)]
struct PushBody {
    streams: Vec<PushStream>,
}

#[derive(Deserialize)]
struct PushStream {
    stream: BTreeMap<String, String>,
    values: Vec<Vec<serde_json::Value>>,
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
                    let labels = Labels::from_pairs(s.stream);
                    let mut entries = Vec::with_capacity(s.values.len());
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
    }
}
