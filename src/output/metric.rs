//! Metric results for people and scripts: the full table (`-o table`),
//! `-o jsonl`/`raw` points.

use std::io::{self, Write};

use serde_json::json;

use crate::loki::api::{format_value, labels_json};
use crate::model::Labels;

use super::{format_ts, TsFormat};

/// `-o jsonl` for a metric query: one object per point.
pub fn write_metric_jsonl(
    w: &mut dyn Write,
    v: &crate::engine::value::MetricValue,
) -> io::Result<()> {
    use crate::engine::value::MetricValue;
    let mut line = |labels: &Labels, ts: i64, value: f64| -> io::Result<()> {
        let o = json!({"metric": labels_json(labels), "timestamp": crate::time::rfc3339_nano(ts), "value": format_value(value)});
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
