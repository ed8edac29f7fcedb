//! Writing what recording rules recorded, in the formats Prometheus' tools read:
//!
//! - **OpenMetrics** text with timestamps, ending in `# EOF`: what `promtool tsdb
//!   create-blocks-from openmetrics` imports, so a range evaluation backfills a
//!   Prometheus with recordings computed from logs;
//! - the **text format** without timestamps: what node_exporter's textfile
//!   collector reads (it refuses timestamps), the usual hand-over from a cron job;
//! - **JSON lines**, one sample per line in the shape of Prometheus' query API
//!   (`{"metric":{…},"value":[1700000000.5,"1.5"]}`).
//!
//! Series are grouped by metric name (one `# TYPE … gauge` each), then sorted by
//! labels; samples are in time order and at millisecond precision, as Prometheus
//! stores them. External labels are added to series that lack them, as Prometheus
//! adds them to everything it sends out. Files are replaced atomically.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use super::eval::RecordedSeries;
use super::RulesError;
use crate::go::strconv::format_float;
use crate::model::Labels;

/// An output format for recordings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics with timestamps (`promtool tsdb create-blocks-from openmetrics`).
    OpenMetrics,
    /// The text format without timestamps (node_exporter's textfile collector):
    /// the last sample of each series.
    Textfile,
    /// JSON lines, Prometheus' query API sample shape.
    JsonLines,
}

/// Escapes a label value for the text formats (`\\`, `\"`, `\n`).
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// `name{a="1",b="2"}`.
fn series_text(name: &str, labels: &Labels) -> String {
    let rest: Vec<String> = labels
        .pairs()
        .iter()
        .filter(|(k, _)| k != "__name__")
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if rest.is_empty() {
        name.to_string()
    } else {
        format!("{name}{{{}}}", rest.join(","))
    }
}

/// A sample value as Prometheus writes it (`1`, `0.25`, `1e+06`, `NaN`, `+Inf`).
fn value_text(v: f64) -> String {
    format_float(v, 'g', -1)
}

/// Seconds since the epoch at millisecond precision (`1700000000`, `1700000000.5`).
fn seconds_text(ns: i64) -> String {
    let ms = ns.div_euclid(1_000_000);
    let (s, frac) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    if frac == 0 {
        s.to_string()
    } else {
        format!("{s}.{frac:03}").trim_end_matches('0').to_string()
    }
}

/// The series with external labels added, grouped by name: `(name, [series])`.
fn by_name<'a>(
    series: impl IntoIterator<Item = &'a RecordedSeries>,
    external: &BTreeMap<String, String>,
) -> BTreeMap<String, Vec<RecordedSeries>> {
    let mut out: BTreeMap<String, Vec<RecordedSeries>> = BTreeMap::new();
    for s in series {
        let mut labels = s.labels.clone();
        for (k, v) in external {
            if labels.get(k).is_none_or(str::is_empty) {
                labels.set(k, v);
            }
        }
        let name = labels.get("__name__").unwrap_or_default().to_string();
        out.entry(name).or_default().push(RecordedSeries {
            labels,
            points: s.points.clone(),
        });
    }
    for v in out.values_mut() {
        v.sort_by(|a, b| a.labels.cmp(&b.labels));
    }
    out
}

/// Renders recordings in `format`.
pub fn render<'a>(
    series: impl IntoIterator<Item = &'a RecordedSeries>,
    external: &BTreeMap<String, String>,
    format: Format,
) -> String {
    let groups = by_name(series, external);
    let mut out = String::new();
    for (name, list) in &groups {
        if format != Format::JsonLines {
            out.push_str(&format!("# TYPE {name} gauge\n"));
        }
        for s in list {
            let text = series_text(name, &s.labels);
            match format {
                Format::OpenMetrics => {
                    for &(ts, v) in &s.points {
                        out.push_str(&format!("{text} {} {}\n", value_text(v), seconds_text(ts)));
                    }
                }
                Format::Textfile => {
                    if let Some(&(_, v)) = s.points.last() {
                        out.push_str(&format!("{text} {}\n", value_text(v)));
                    }
                }
                Format::JsonLines => {
                    let metric: BTreeMap<&str, &str> = s
                        .labels
                        .pairs()
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect();
                    let metric = serde_json::to_string(&metric).expect("labels serialize");
                    for &(ts, v) in &s.points {
                        out.push_str(&format!(
                            "{{\"metric\":{metric},\"value\":[{},{}]}}\n",
                            seconds_text(ts),
                            serde_json::to_string(&value_text(v)).expect("string")
                        ));
                    }
                }
            }
        }
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
    out
}

/// Writes `text` to `path` atomically (a temporary file beside it, renamed over
/// it), or to standard output for `-`.
pub fn write_atomically(path: &Path, text: &str) -> Result<(), RulesError> {
    if path == Path::new("-") {
        let mut out = std::io::stdout().lock();
        return out
            .write_all(text.as_bytes())
            .map_err(|e| RulesError::Write {
                path: path.to_path_buf(),
                err: e,
            });
    }
    let err = |e| RulesError::Write {
        path: path.to_path_buf(),
        err: e,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".lokal-")
        .tempfile_in(dir)
        .map_err(err)?;
    tmp.write_all(text.as_bytes()).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(tmp.path(), meta.permissions());
    }
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series() -> Vec<RecordedSeries> {
        vec![
            RecordedSeries {
                labels: Labels::from_pairs([("__name__", "job:errors:rate5m"), ("job", "a\"b")]),
                points: vec![
                    (1_700_000_000_000_000_000, 1.5),
                    (1_700_000_060_500_000_000, 1e6),
                ],
            },
            RecordedSeries {
                labels: Labels::from_pairs([("__name__", "a:b"), ("Zone", "x")]),
                points: vec![(1_700_000_000_000_000_000, f64::NAN)],
            },
        ]
    }

    #[test]
    fn openmetrics_textfile_and_jsonl() {
        let ext = BTreeMap::from([("cluster".to_string(), "eu".to_string())]);
        assert_eq!(
            render(&series(), &ext, Format::OpenMetrics),
            "# TYPE a:b gauge\n\
             a:b{Zone=\"x\",cluster=\"eu\"} NaN 1700000000\n\
             # TYPE job:errors:rate5m gauge\n\
             job:errors:rate5m{cluster=\"eu\",job=\"a\\\"b\"} 1.5 1700000000\n\
             job:errors:rate5m{cluster=\"eu\",job=\"a\\\"b\"} 1e+06 1700000060.5\n\
             # EOF\n"
        );
        assert_eq!(
            render(&series(), &BTreeMap::new(), Format::Textfile),
            "# TYPE a:b gauge\na:b{Zone=\"x\"} NaN\n# TYPE job:errors:rate5m gauge\njob:errors:rate5m{job=\"a\\\"b\"} 1e+06\n"
        );
        let jl = render(&series()[..1], &BTreeMap::new(), Format::JsonLines);
        assert_eq!(
            jl.lines().next().unwrap(),
            r#"{"metric":{"__name__":"job:errors:rate5m","job":"a\"b"},"value":[1700000000,"1.5"]}"#
        );
    }
}
