//! Loki's HTTP API response bodies: what `/loki/api/v1/query_range` and
//! `/loki/api/v1/query` return for streams, matrices, vectors and scalars
//! (`lokal query -o json`). The Loki client (`query --addr`, `push`) and the
//! server (`serve`) will live beside this module and share these shapes.

use std::collections::BTreeMap;

use serde_json::json;

use crate::engine::logquery::LogEntry;
use crate::engine::value::MetricValue;
use crate::model::Labels;

/// A label set as a JSON object.
pub fn labels_json(l: &Labels) -> serde_json::Value {
    serde_json::Value::Object(
        l.pairs()
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect(),
    )
}

/// `-o json`: the body Loki's `/loki/api/v1/query_range` returns for a log
/// query — entries grouped by stream, values `["<unix ns>", "<line>"]`.
pub fn log_response(entries: &[LogEntry], stats: serde_json::Value) -> serde_json::Value {
    let mut streams: BTreeMap<&Labels, Vec<serde_json::Value>> = BTreeMap::new();
    for e in entries {
        streams
            .entry(&e.labels)
            .or_default()
            .push(json!([e.ts.to_string(), String::from_utf8_lossy(&e.line)]));
    }
    let result: Vec<serde_json::Value> = streams
        .into_iter()
        .map(|(l, v)| json!({"stream": labels_json(l), "values": v}))
        .collect();
    json!({"status": "success", "data": {"resultType": "streams", "result": result, "stats": stats}})
}

/// Formats a sample value as Prometheus does (`strconv.FormatFloat(v, 'f', -1, 64)`
/// with `+Inf`, `-Inf`, `NaN`).
pub fn format_value(v: f64) -> String {
    // Negative zero prints as "0", not Go's "-0".
    if v == 0.0 {
        return "0".into();
    }
    crate::go::strconv::format_float(v, 'f', -1)
}

/// Unix seconds with up to millisecond precision, as Loki's API prints them.
fn unix_seconds(ts: i64) -> serde_json::Value {
    let ms = ts.div_euclid(1_000_000);
    if ms % 1000 == 0 {
        json!(ms / 1000)
    } else {
        json!(ms as f64 / 1000.0)
    }
}

/// `-o json` for a metric query: Loki's `/loki/api/v1/query` (vector,
/// scalar) or `/loki/api/v1/query_range` (matrix) response body.
pub fn metric_response(v: &MetricValue, stats: serde_json::Value) -> serde_json::Value {
    let (kind, result) = match v {
        MetricValue::Vector(samples) => (
            "vector",
            json!(samples
                .iter()
                .map(|s| json!({"metric": labels_json(&s.labels), "value": [unix_seconds(s.ts), format_value(s.value)]}))
                .collect::<Vec<_>>()),
        ),
        MetricValue::Matrix(series) => (
            "matrix",
            json!(series
                .iter()
                .map(|s| json!({
                    "metric": labels_json(&s.labels),
                    "values": s.points.iter().map(|(t, v)| json!([unix_seconds(*t), format_value(*v)])).collect::<Vec<_>>()
                }))
                .collect::<Vec<_>>()),
        ),
        MetricValue::Scalar(points) => match points.as_slice() {
            [(t, v)] => ("scalar", json!([unix_seconds(*t), format_value(*v)])),
            _ => (
                "matrix",
                json!([{"metric": {}, "values": points.iter().map(|(t, v)| json!([unix_seconds(*t), format_value(*v)])).collect::<Vec<_>>()}]),
            ),
        },
    };
    json!({"status": "success", "data": {"resultType": kind, "result": result, "stats": stats}})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::value::Sample;

    #[test]
    fn bodies_have_loki_shapes() {
        let l = Labels::from_pairs([("app", "a")]);
        let v = MetricValue::Vector(vec![Sample {
            labels: l.clone(),
            ts: 1_500_000_000,
            value: -0.0,
        }]);
        assert_eq!(
            metric_response(&v, json!({}))["data"],
            json!({"resultType": "vector", "result": [{"metric": {"app": "a"}, "value": [1.5, "0"]}], "stats": {}})
        );
        let s = MetricValue::Scalar(vec![(2_000_000_000, f64::INFINITY)]);
        assert_eq!(
            metric_response(&s, json!(null))["data"]["result"],
            json!([2, "+Inf"])
        );
        let e = LogEntry {
            ts: 7,
            labels: l,
            line: b"x".to_vec(),
        };
        assert_eq!(
            log_response(&[e], json!(null))["data"]["result"],
            json!([{"stream": {"app": "a"}, "values": [["7", "x"]]}])
        );
    }
}
