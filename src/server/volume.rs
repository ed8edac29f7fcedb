//! `/loki/api/v1/index/stats`, `/index/volume` and `/index/volume_range`:
//! what Grafana asks before a query (its size) and for its volume
//! histograms, answered by the engine: `count_over_time` and
//! `bytes_over_time` of the selector per stream, summed as Loki sums them.
//!
//! Loki reads these numbers from its index, where a chunk's bytes are its
//! uncompressed size rounded to kilobytes and a chunk counts whole once it
//! overlaps the range; lokal counts the bytes and entries of the lines in
//! the range. Streams and entries agree with Loki over whole chunks; bytes
//! (and so volumes) differ on purpose.

use std::collections::BTreeMap;

use super::handlers::{Reply, Request};
use super::params;
use super::ServerConfig;
use crate::engine::value::MetricValue;
use crate::logql::{Expr, Matcher};
use crate::loki::api::metric_response;
use crate::model::Labels;
use crate::querier::{Querier, QueryOptions};
use crate::time::TimeRange;

/// Loki's text for a query that is more than a stream selector.
const ONLY_MATCHERS: &str = "only label matchers are supported";

/// Loki's default number of volumes returned.
const DEFAULT_VOLUME_LIMIT: usize = 100;

/// Most volumes one answer holds, whatever `limit` asks (Loki's
/// `volume_max_series`).
pub const MAX_VOLUME_SERIES: usize = 1000;

/// The stream selector of `query`, refused as Loki refuses anything else.
fn selector(r: &Request) -> Result<Vec<Matcher>, Reply> {
    match crate::logql::parse_expr(r.form.get("query")).map_err(Reply::bad)? {
        Expr::Log(l) if l.pipeline.is_empty() => Ok(l.matchers),
        _ => Err(Reply::bad(ONLY_MATCHERS)),
    }
}

/// `{…}[RANGE]` over `[start, end]`: the range in whole milliseconds,
/// rounded up so that `start` is inside it.
fn range_expr(query: &str, start: i64, end: i64) -> String {
    let ms = ((end - start).max(1) + 999_999) / 1_000_000;
    format!("{}[{ms}ms]", query.trim())
}

/// Per stream, `func` of the selector over the range ending at `end`.
fn per_stream(
    q: &Querier,
    func: &str,
    query: &str,
    start: i64,
    end: i64,
) -> Result<(Vec<(Labels, f64)>, crate::engine::stats::QueryStats), Reply> {
    let text = format!("{func}({})", range_expr(query, start, end));
    let expr = crate::querier::parse_instant(&text).map_err(|e| Reply::error(500, e))?;
    let m = q
        .instant_query(&expr, end)
        .map_err(super::handlers::query_error)?;
    let samples = match m.value {
        MetricValue::Vector(v) => v.into_iter().map(|s| (s.labels, s.value)).collect(),
        _ => Vec::new(),
    };
    Ok((samples, m.stats))
}

/// `/loki/api/v1/index/stats`: streams, chunks, bytes and entries the
/// selector finds in the range.
pub fn stats(_: &ServerConfig, q: &Querier, r: &Request) -> Result<Reply, Reply> {
    let (start, end) = params::bounds(&r.form, r.now).map_err(Reply::bad)?;
    selector(r)?;
    let query = r.form.get("query");
    let (counts, st) = per_stream(q, "count_over_time", query, start, end)?;
    let (bytes, _) = per_stream(q, "bytes_over_time", query, start, end)?;
    #[derive(serde::Serialize)]
    struct Stats {
        streams: u64,
        chunks: u64,
        bytes: u64,
        entries: u64,
    }
    let entries: f64 = counts.iter().map(|(_, v)| v).sum();
    let total: f64 = bytes.iter().map(|(_, v)| v).sum();
    Ok(Reply::json_line(&Stats {
        streams: counts.len() as u64,
        chunks: if counts.is_empty() { 0 } else { st.chunks },
        bytes: total as u64,
        entries: entries as u64,
    }))
}

/// How volumes are grouped: by the values of some labels (`series`, the
/// default: the selector's label names or `targetLabels`), or per label
/// name (`labels`).
enum Aggregate {
    Series(Vec<String>),
    Labels(Option<Vec<String>>),
}

fn aggregate(r: &Request, matchers: &[Matcher]) -> Result<Aggregate, Reply> {
    let targets: Vec<String> = r
        .form
        .get("targetLabels")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    match r.form.get("aggregateBy") {
        "" | "series" => Ok(Aggregate::Series(if targets.is_empty() {
            let mut names: Vec<String> = Vec::new();
            for m in matchers {
                if !names.contains(&m.name) {
                    names.push(m.name.clone());
                }
            }
            names
        } else {
            targets
        })),
        "labels" => Ok(Aggregate::Labels((!targets.is_empty()).then_some(targets))),
        _ => Err(Reply::bad("invalid aggregation option")),
    }
}

/// Sums per-stream values into volumes, keyed by their labels.
fn group(per_stream: &[(Labels, f64)], how: &Aggregate) -> BTreeMap<Labels, f64> {
    let mut out: BTreeMap<Labels, f64> = BTreeMap::new();
    for (labels, v) in per_stream {
        match how {
            Aggregate::Series(names) => {
                let key = Labels::from_pairs(
                    names
                        .iter()
                        .filter_map(|n| labels.get(n).map(|v| (n.clone(), v.to_string()))),
                );
                // A stream without any of the labels is in no group.
                if !key.is_empty() {
                    *out.entry(key).or_default() += v;
                }
            }
            Aggregate::Labels(only) => {
                for (n, _) in labels.pairs() {
                    if only.as_ref().is_none_or(|o| o.contains(n)) {
                        *out.entry(Labels::from_pairs([(n.clone(), String::new())]))
                            .or_default() += v;
                    }
                }
            }
        }
    }
    out
}

fn volume_limit(r: &Request) -> Result<usize, Reply> {
    match r.form.get("limit") {
        "" => Ok(DEFAULT_VOLUME_LIMIT),
        _ => Ok(params::limit(&r.form)
            .map_err(Reply::bad)?
            .min(MAX_VOLUME_SERIES)),
    }
}

/// `/loki/api/v1/index/volume`: a vector of bytes per group at `end`,
/// largest first, at most `limit`.
pub fn volume(_: &ServerConfig, q: &Querier, r: &Request) -> Result<Reply, Reply> {
    let (start, end) = params::bounds(&r.form, r.now).map_err(Reply::bad)?;
    let matchers = selector(r)?;
    let how = aggregate(r, &matchers)?;
    let limit = volume_limit(r)?;
    let (bytes, st) = per_stream(q, "bytes_over_time", r.form.get("query"), start, end)?;
    let mut groups: Vec<(Labels, f64)> = group(&bytes, &how).into_iter().collect();
    groups.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    groups.truncate(limit);
    let samples = groups
        .into_iter()
        .map(|(labels, value)| crate::engine::value::Sample {
            labels,
            ts: end,
            value,
        })
        .collect();
    Ok(Reply::json(&metric_response(
        &MetricValue::Vector(samples),
        &st,
    )))
}

/// `/loki/api/v1/index/volume_range`: a matrix of bytes per group and
/// step (the groups of the largest volumes over the whole range, at most
/// `limit`).
pub fn volume_range(_: &ServerConfig, q: &Querier, r: &Request) -> Result<Reply, Reply> {
    let (start, end) = params::bounds(&r.form, r.now).map_err(Reply::bad)?;
    let matchers = selector(r)?;
    let how = aggregate(r, &matchers)?;
    let limit = volume_limit(r)?;
    let step = params::step(&r.form, start, end).map_err(Reply::bad)?;
    let text = format!(
        "bytes_over_time({}[{}ms])",
        r.form.get("query").trim(),
        (step + 999_999) / 1_000_000
    );
    let expr = crate::logql::parse_expr(&text).map_err(|e| Reply::error(500, e))?;
    let opts = QueryOptions {
        step: Some(step),
        ..QueryOptions::default()
    };
    let resp = q
        .query(&expr, TimeRange::new(start, end), &opts)
        .map_err(super::handlers::query_error)?;
    let crate::querier::QueryResponse::Metric(m) = resp else {
        return Err(Reply::error(500, "a volume query returned log lines"));
    };
    let MetricValue::Matrix(series) = &m.value else {
        return Ok(Reply::json(&metric_response(
            &MetricValue::Matrix(Vec::new()),
            &m.stats,
        )));
    };
    // Per timestamp, the groups' sums.
    let mut steps: BTreeMap<i64, Vec<(Labels, f64)>> = BTreeMap::new();
    for s in series {
        for &(ts, v) in &s.points {
            steps.entry(ts).or_default().push((s.labels.clone(), v));
        }
    }
    let mut per_group: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
    for (ts, streams) in steps {
        for (labels, v) in group(&streams, &how) {
            per_group.entry(labels).or_default().push((ts, v));
        }
    }
    let mut ranked: Vec<(Labels, Vec<(i64, f64)>)> = per_group.into_iter().collect();
    let total = |p: &[(i64, f64)]| p.iter().map(|x| x.1).sum::<f64>();
    ranked.sort_by(|a, b| {
        total(&b.1)
            .total_cmp(&total(&a.1))
            .then_with(|| a.0.cmp(&b.0))
    });
    ranked.truncate(limit);
    ranked.sort_by(|a, b| a.0.cmp(&b.0));
    let matrix = ranked
        .into_iter()
        .map(|(labels, points)| crate::engine::value::Series { labels, points })
        .collect();
    Ok(Reply::json(&metric_response(
        &MetricValue::Matrix(matrix),
        &m.stats,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_group_by_names_or_per_label() {
        let l = |p: &[(&str, &str)]| Labels::from_pairs(p.iter().copied());
        let streams = vec![
            (l(&[("job", "a"), ("host", "1")]), 10.0),
            (l(&[("job", "a"), ("host", "2")]), 5.0),
            (l(&[("job", "b")]), 1.0),
        ];
        let by_host = group(&streams, &Aggregate::Series(vec!["host".into()]));
        // A stream without the label is in no group.
        assert_eq!(
            by_host.into_iter().collect::<Vec<_>>(),
            [(l(&[("host", "1")]), 10.0), (l(&[("host", "2")]), 5.0)]
        );
        let by_job = group(&streams, &Aggregate::Series(vec!["job".into()]));
        assert_eq!(by_job[&l(&[("job", "a")])], 15.0);
        let names = group(&streams, &Aggregate::Labels(None));
        assert_eq!(
            names.into_iter().collect::<Vec<_>>(),
            [(l(&[("host", "")]), 15.0), (l(&[("job", "")]), 16.0)]
        );
        let only = group(&streams, &Aggregate::Labels(Some(vec!["host".into()])));
        assert_eq!(only.len(), 1);
        assert_eq!(range_expr("{a=\"b\"}", 0, 1_500_000), "{a=\"b\"}[2ms]");
    }
}
