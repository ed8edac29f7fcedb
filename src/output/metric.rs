//! Metric results for people and scripts: the full table (`-o table`),
//! `-o jsonl`/`raw` points.

use std::io::{self, Write};

use serde::Serialize;

use crate::loki::api::{format_value, LabelsJson};
use crate::model::Labels;

use super::{format_ts, TsFormat};

/// One line of `-o jsonl` for a metric query, written from the borrowed
/// labels (no copy of them per point).
#[derive(Serialize)]
struct JsonlPoint<'a> {
    metric: LabelsJson<'a>,
    timestamp: String,
    value: String,
}

/// `-o jsonl` for a metric query: one object per point.
pub fn write_metric_jsonl(
    w: &mut dyn Write,
    v: &crate::engine::value::MetricValue,
) -> io::Result<()> {
    use crate::engine::value::MetricValue;
    let mut line = |labels: &Labels, ts: i64, value: f64| -> io::Result<()> {
        let o = JsonlPoint {
            metric: LabelsJson(labels),
            timestamp: crate::time::rfc3339_nano(ts),
            value: format_value(value),
        };
        serde_json::to_writer(&mut *w, &o)?;
        w.write_all(b"\n")
    };
    match v {
        MetricValue::Vector(s) => s.iter().try_for_each(|s| line(&s.labels, s.ts, s.value)),
        MetricValue::Matrix(m) => m.iter().try_for_each(|s| {
            s.points
                .iter()
                .try_for_each(|(t, v)| line(&s.labels, *t, *v))
        }),
        MetricValue::Scalar(p) => p
            .iter()
            .try_for_each(|(t, v)| line(&Labels::default(), *t, *v)),
    }
}

/// The default metric output: a table. A vector is one row per series; a
/// matrix is one row per step and one column per series (series labels are
/// listed above the table when there are many), or with `long`, one row per point.
pub fn metric_table(
    v: &crate::engine::value::MetricValue,
    tz: &jiff::tz::TimeZone,
) -> comfy_table::Table {
    use crate::engine::value::MetricValue;
    use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    let num = |v: f64| Cell::new(format_value(v)).set_alignment(CellAlignment::Right);
    match v {
        MetricValue::Vector(samples) => {
            t.set_header(vec!["series", "value"]);
            for s in samples {
                t.add_row(vec![Cell::new(s.labels.to_string()), num(s.value)]);
            }
        }
        MetricValue::Scalar(points) => {
            t.set_header(vec!["time", "value"]);
            for (ts, v) in points {
                t.add_row(vec![
                    Cell::new(format_ts(*ts, tz, TsFormat::Rfc3339)),
                    num(*v),
                ]);
            }
        }
        MetricValue::Matrix(series) => {
            let mut header = vec![Cell::new("time")];
            header.extend(series.iter().map(|s| Cell::new(s.labels.to_string())));
            t.set_header(header);
            let mut times: Vec<i64> = series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.0))
                .collect();
            times.sort_unstable();
            times.dedup();
            let mut idx = vec![0usize; series.len()];
            for ts in times {
                let mut row = vec![Cell::new(format_ts(ts, tz, TsFormat::Rfc3339))];
                for (si, s) in series.iter().enumerate() {
                    match s.points.get(idx[si]) {
                        Some(&(pt, v)) if pt == ts => {
                            row.push(num(v));
                            idx[si] += 1;
                        }
                        _ => row.push(Cell::new("")),
                    }
                }
                t.add_row(row);
            }
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::value::{MetricValue, Sample, Series};
    use serde_json::json;

    /// The jsonl lines as they were built before they were written from the
    /// borrowed labels: a `json!` object per point (its keys sorted).
    fn tree_lines(points: &[(&Labels, i64, f64)]) -> String {
        let mut out = String::new();
        for (l, ts, v) in points {
            let metric: serde_json::Map<String, serde_json::Value> = l
                .pairs()
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            let o = json!({"metric": metric, "timestamp": crate::time::rfc3339_nano(*ts), "value": format_value(*v)});
            out += &format!("{}\n", serde_json::to_string(&o).unwrap());
        }
        out
    }

    /// Every shape, labels that need escapes, NaN, ±Inf, -0 and times
    /// before the epoch: the bytes of the `json!` lines.
    #[test]
    fn jsonl_points_are_the_trees_bytes() {
        let a = Labels::from_pairs([("app", "a\"b\\c"), ("zone", "é😀\u{0}\u{7f}\n")]);
        let b = Labels::from_pairs([("_x", "")]);
        let none = Labels::default();
        let values = [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            1.5e-300,
            12.0,
        ];
        let times = [0, 1_500_000_001, -1_000_000_000, 1_714_521_600_123_456_789];
        let pts: Vec<(i64, f64)> = times.iter().copied().zip(values).collect();
        let cases = [
            MetricValue::Vector(vec![
                Sample {
                    labels: a.clone(),
                    ts: times[3],
                    value: values[0],
                },
                Sample {
                    labels: b.clone(),
                    ts: times[2],
                    value: values[1],
                },
            ]),
            MetricValue::Matrix(vec![
                Series {
                    labels: a.clone(),
                    points: pts.clone(),
                },
                Series {
                    labels: b.clone(),
                    points: pts.clone(),
                },
            ]),
            MetricValue::Scalar(pts.clone()),
            MetricValue::Matrix(vec![]),
        ];
        for v in &cases {
            let mut got = Vec::new();
            write_metric_jsonl(&mut got, v).unwrap();
            let want: Vec<(&Labels, i64, f64)> = match v {
                MetricValue::Vector(s) => s.iter().map(|s| (&s.labels, s.ts, s.value)).collect(),
                MetricValue::Matrix(m) => m
                    .iter()
                    .flat_map(|s| s.points.iter().map(|&(t, x)| (&s.labels, t, x)))
                    .collect(),
                MetricValue::Scalar(p) => p.iter().map(|&(t, x)| (&none, t, x)).collect(),
            };
            assert_eq!(String::from_utf8(got).unwrap(), tree_lines(&want), "{v:?}");
        }
    }
}
