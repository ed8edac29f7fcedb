//! Loki's query API from the client side: `query_range`, `query`,
//! `labels`, `label/NAME/values` and `series`, answered by a Loki and read
//! back into the engine's own values ([`LogEntry`], [`MetricValue`],
//! [`Labels`]) so they print through the same output code as a local
//! query.
//!
//! Log queries whose `limit` is above `batch` are fetched as logcli fetches
//! them (`pkg/logcli/query/query.go`): each request asks for at most
//! `batch` entries; the next one starts (forward) or ends (backward, one ns
//! later, as the end is exclusive) at the last timestamp received, and the
//! entries at that timestamp that came back again are dropped. lokal merges
//! the batches and prints once, so the output does not depend on `--batch`.

use std::collections::HashSet;

use serde_json::Value;

use super::client::{Client, ClientError};
use crate::engine::logquery::LogEntry;
use crate::engine::value::{MetricValue, Sample, Series};
use crate::engine::Direction;
use crate::model::Labels;

/// What Loki said besides the result.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    /// `warnings` of the response(s).
    pub warnings: Vec<String>,
    /// `data.stats` of the last response (Loki's tree, as it sent it).
    pub stats: Option<Value>,
}

/// A query's answer from Loki.
#[derive(Debug, Clone)]
pub enum Answer {
    /// A log query's entries, in the direction asked for.
    Streams(Vec<LogEntry>),
    /// A metric query's value.
    Metric(MetricValue),
}

/// A range query's parameters.
#[derive(Debug, Clone)]
pub struct RangeRequest<'a> {
    /// The LogQL text.
    pub query: &'a str,
    /// Start (ns, included).
    pub start: i64,
    /// End (ns; excluded for log lines, a metric query's last step).
    pub end: i64,
    /// Most entries (0: all).
    pub limit: usize,
    /// Entries per request (logcli's `--batch`).
    pub batch: usize,
    /// Order of entries.
    pub direction: Direction,
    /// A metric query's step (ns), when given.
    pub step: Option<i64>,
}

fn body_err(client: &Client, path: &str, what: impl Into<String>) -> ClientError {
    ClientError::Body {
        url: format!("{}{path}", client.base()),
        what: what.into(),
    }
}

/// GETs `path` and returns the JSON body's `data`, collecting `warnings`.
fn get_data(
    client: &Client,
    path: &str,
    params: &[(&str, String)],
    meta: &mut Meta,
) -> Result<Value, ClientError> {
    let body = client.get(path, params)?;
    let mut v: Value = serde_json::from_slice(&body)
        .map_err(|e| body_err(client, path, format!("not JSON: {e}")))?;
    if v["status"] != "success" {
        return Err(body_err(client, path, format!("status {}", v["status"])));
    }
    if let Some(w) = v["warnings"].as_array() {
        meta.warnings
            .extend(w.iter().filter_map(|s| s.as_str().map(String::from)));
    }
    let data = v["data"].take();
    if let Some(s) = data.get("stats") {
        meta.stats = Some(s.clone());
    }
    Ok(data)
}

/// A label set from a JSON object of strings.
fn labels_of(v: &Value) -> Option<Labels> {
    let o = v.as_object()?;
    let pairs: Option<Vec<(String, String)>> = o
        .iter()
        .map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect();
    Some(Labels::from_pairs(pairs?))
}

/// Unix seconds (a JSON number, maybe fractional) as ns, to the millisecond.
fn seconds_ns(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Some(i.checked_mul(1_000_000_000)?)
            } else {
                let f = n.as_f64()?;
                Some(((f * 1000.0).round() as i64).checked_mul(1_000_000)?)
            }
        }
        _ => None,
    }
}

/// A `[seconds, "value"]` pair.
fn point(v: &Value) -> Option<(i64, f64)> {
    let a = v.as_array()?;
    let t = seconds_ns(a.first()?)?;
    let s = a.get(1)?.as_str()?;
    let f = match s {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        s => s.parse().ok()?,
    };
    Some((t, f))
}

/// `data.result` of a `streams` answer as entries (not yet ordered).
fn streams(data: &Value) -> Option<Vec<LogEntry>> {
    let mut out = Vec::new();
    for s in data["result"].as_array()? {
        let labels = std::sync::Arc::new(labels_of(&s["stream"])?);
        for v in s["values"].as_array()? {
            let a = v.as_array()?;
            let ts: i64 = a.first()?.as_str()?.parse().ok()?;
            let line = a.get(1)?.as_str()?.as_bytes().to_vec();
            out.push(LogEntry {
                ts,
                labels: labels.clone(),
                line,
            });
        }
    }
    Some(out)
}

/// `data` of a metric answer as a value. Matrix series are sorted by labels
/// (as lokal's engine returns them); vectors keep Loki's order, which
/// `sort`, `topk` and friends decide.
fn metric(data: &Value) -> Option<MetricValue> {
    let result = &data["result"];
    Some(match data["resultType"].as_str()? {
        "vector" => MetricValue::Vector(
            result
                .as_array()?
                .iter()
                .map(|s| {
                    let (ts, value) = point(&s["value"])?;
                    Some(Sample {
                        labels: labels_of(&s["metric"])?,
                        ts,
                        value,
                    })
                })
                .collect::<Option<_>>()?,
        ),
        "matrix" => {
            let mut m: Vec<Series> = result
                .as_array()?
                .iter()
                .map(|s| {
                    Some(Series {
                        labels: labels_of(&s["metric"])?,
                        points: s["values"]
                            .as_array()?
                            .iter()
                            .map(point)
                            .collect::<Option<_>>()?,
                    })
                })
                .collect::<Option<_>>()?;
            m.sort_by(|a, b| a.labels.cmp(&b.labels));
            MetricValue::Matrix(m)
        }
        "scalar" => MetricValue::Scalar(vec![point(result)?]),
        _ => return None,
    })
}

/// Orders entries as lokal's engine does: by time in `dir`, ties by labels.
fn order(entries: &mut [LogEntry], dir: Direction) {
    entries.sort_by(|a, b| {
        let t = match dir {
            Direction::Forward => a.ts.cmp(&b.ts),
            Direction::Backward => b.ts.cmp(&a.ts),
        };
        t.then_with(|| a.labels.cmp(&b.labels))
    });
}

/// Go's `time.Duration.Seconds()` of `ns`, as logcli sends `step`.
fn step_seconds(ns: i64) -> String {
    crate::go::strconv::format_float(ns as f64 / 1e9, 'f', -1)
}

/// `GET /loki/api/v1/query_range`, batched for log queries (see the module docs).
pub fn query_range(
    client: &Client,
    r: &RangeRequest<'_>,
    meta: &mut Meta,
) -> Result<Answer, ClientError> {
    const PATH: &str = "/loki/api/v1/query_range";
    let limit = if r.limit == 0 { usize::MAX } else { r.limit };
    let batch = r.batch.max(1).min(limit);
    let (mut start, mut end) = (r.start, r.end);
    let mut out: Vec<LogEntry> = Vec::new();
    // Entries at the last timestamp of the previous batch (they come back).
    let mut last: Vec<LogEntry> = Vec::new();
    loop {
        let want = if limit - out.len() < batch {
            limit - out.len() + last.len()
        } else {
            batch
        };
        let mut params = vec![
            ("query", r.query.to_string()),
            ("limit", want.to_string()),
            ("start", start.to_string()),
            ("end", end.to_string()),
            (
                "direction",
                match r.direction {
                    Direction::Forward => "FORWARD",
                    Direction::Backward => "BACKWARD",
                }
                .to_string(),
            ),
        ];
        if let Some(s) = r.step {
            params.push(("step", step_seconds(s)));
        }
        let data = get_data(client, PATH, &params, meta)?;
        if data["resultType"] != "streams" {
            return metric(&data).map(Answer::Metric).ok_or_else(|| {
                body_err(client, PATH, "a metric result Loki's API does not define")
            });
        }
        let mut got = streams(&data).ok_or_else(|| body_err(client, PATH, "malformed streams"))?;
        order(&mut got, r.direction);
        let seen: HashSet<(i64, &Labels, &[u8])> = last
            .iter()
            .map(|e| (e.ts, &*e.labels, e.line.as_slice()))
            .collect();
        let fresh: Vec<LogEntry> = got
            .iter()
            .filter(|e| !seen.contains(&(e.ts, &*e.labels, e.line.as_slice())))
            .cloned()
            .collect();
        let n = fresh.len();
        let Some(tail_ts) = got.last().map(|e| e.ts) else {
            break;
        };
        out.extend(fresh);
        if n == 0 || out.len() >= limit || got.len() < want {
            break;
        }
        last = got.into_iter().filter(|e| e.ts == tail_ts).collect();
        if last.len() >= batch {
            return Err(body_err(
                client,
                PATH,
                format!(
                    "{} entries share the timestamp {tail_ts}: raise --batch above that to read past them",
                    last.len()
                ),
            ));
        }
        match r.direction {
            Direction::Forward => start = tail_ts,
            Direction::Backward => end = tail_ts.saturating_add(1),
        }
    }
    out.truncate(limit);
    Ok(Answer::Streams(out))
}

/// `GET /loki/api/v1/query`: a metric query at `time`.
pub fn query_instant(
    client: &Client,
    query: &str,
    time: i64,
    meta: &mut Meta,
) -> Result<MetricValue, ClientError> {
    const PATH: &str = "/loki/api/v1/query";
    let data = get_data(
        client,
        PATH,
        &[("query", query.to_string()), ("time", time.to_string())],
        meta,
    )?;
    metric(&data).ok_or_else(|| body_err(client, PATH, "not a metric result"))
}

fn strings(client: &Client, path: &str, data: &Value) -> Result<Vec<String>, ClientError> {
    // Loki answers `"data": null` where there is nothing.
    if data.is_null() {
        return Ok(Vec::new());
    }
    let mut v: Vec<String> = data
        .as_array()
        .and_then(|a| a.iter().map(|s| s.as_str().map(String::from)).collect())
        .ok_or_else(|| body_err(client, path, "data is not a list of strings"))?;
    v.sort();
    v.dedup();
    Ok(v)
}

/// `GET /loki/api/v1/labels`, sorted.
pub fn labels(
    client: &Client,
    start: i64,
    end: i64,
    meta: &mut Meta,
) -> Result<Vec<String>, ClientError> {
    const PATH: &str = "/loki/api/v1/labels";
    let data = get_data(
        client,
        PATH,
        &[("start", start.to_string()), ("end", end.to_string())],
        meta,
    )?;
    strings(client, PATH, &data)
}

/// `GET /loki/api/v1/label/NAME/values`, sorted.
pub fn label_values(
    client: &Client,
    name: &str,
    start: i64,
    end: i64,
    meta: &mut Meta,
) -> Result<Vec<String>, ClientError> {
    let path = format!(
        "/loki/api/v1/label/{}/values",
        crate::go::url::query_escape(name)
    );
    let data = get_data(
        client,
        &path,
        &[("start", start.to_string()), ("end", end.to_string())],
        meta,
    )?;
    strings(client, &path, &data)
}

/// `GET /loki/api/v1/series?match[]=SELECTOR`, sorted and distinct.
pub fn series(
    client: &Client,
    selector: &str,
    start: i64,
    end: i64,
    meta: &mut Meta,
) -> Result<Vec<Labels>, ClientError> {
    const PATH: &str = "/loki/api/v1/series";
    let data = get_data(
        client,
        PATH,
        &[
            ("match[]", selector.to_string()),
            ("start", start.to_string()),
            ("end", end.to_string()),
        ],
        meta,
    )?;
    if data.is_null() {
        return Ok(Vec::new());
    }
    let mut v: Vec<Labels> = data
        .as_array()
        .and_then(|a| a.iter().map(labels_of).collect())
        .ok_or_else(|| body_err(client, PATH, "data is not a list of label sets"))?;
    v.sort();
    v.dedup();
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_loki_s_result_shapes() {
        let d = json!({"resultType": "streams", "result": [
            {"stream": {"job": "a"}, "values": [["2", "two"], ["1", "one"]]},
            {"stream": {"job": "b"}, "values": [["2", "b2"]]}]});
        let mut e = streams(&d).unwrap();
        order(&mut e, Direction::Backward);
        let got: Vec<(i64, String)> = e
            .iter()
            .map(|e| (e.ts, String::from_utf8_lossy(&e.line).into_owned()))
            .collect();
        assert_eq!(
            got,
            vec![(2, "two".into()), (2, "b2".into()), (1, "one".into())]
        );
        let m = metric(&json!({"resultType": "matrix", "result": [
            {"metric": {"x": "2"}, "values": [[1714521600, "1"], [1714521600.5, "NaN"]]},
            {"metric": {"x": "1"}, "values": [[1714521601, "+Inf"]]}]}))
        .unwrap();
        let MetricValue::Matrix(m) = m else { panic!() };
        assert_eq!(m[0].labels.to_string(), r#"{x="1"}"#);
        assert_eq!(m[1].points[1].0, 1_714_521_600_500_000_000);
        assert!(m[1].points[1].1.is_nan());
        assert_eq!(
            metric(&json!({"resultType": "scalar", "result": [1, "2.5"]})).unwrap(),
            MetricValue::Scalar(vec![(1_000_000_000, 2.5)])
        );
        assert_eq!(step_seconds(300_000_000_000), "300");
        assert_eq!(step_seconds(1_500_000_000), "1.5");
    }
}
