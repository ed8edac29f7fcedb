//! What Grafana's Loki data source and its Logs Drilldown app ask beside
//! queries: `format_query` (the query editor's formatter, Loki's
//! `syntax.Prettify`), `detected_labels` (the label browser's
//! cardinalities), `detected_fields` (Explore's and Logs Drilldown's
//! field list), `patterns` (lokal has no pattern ingester: Loki's own
//! answer when none found any, an empty list) and `drilldown-limits`.
//! Grafana's health check is an instant `vector(1)+vector(1)`, answered by
//! the query endpoint.

use std::collections::{BTreeMap, BTreeSet};

use super::handlers::{Reply, Request};
use super::{params, ServerConfig};
use crate::querier::Querier;
use crate::time::TimeRange;

/// `/loki/api/v1/format_query`: the query pretty-printed, or Loki's
/// `invalid-query` answer.
pub fn format_query(r: &Request) -> Reply {
    #[derive(serde::Serialize)]
    struct Formatted<'a> {
        status: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        data: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    }
    match crate::logql::format_query(r.form.get("query"), true) {
        Ok(text) => Reply::json_line(&Formatted {
            status: "success",
            data: Some(text),
            error: None,
        }),
        Err(e) => {
            let mut reply = Reply::json_line(&Formatted {
                status: "invalid-query",
                data: None,
                error: Some(e.to_string()),
            });
            reply.status = 400;
            reply
        }
    }
}

/// `/loki/api/v1/detected_labels`: per label name of the streams the
/// query selects (every stream without one), how many values it has; by
/// name (Loki's order is a Go map's).
pub fn detected_labels(_: &ServerConfig, q: &Querier, r: &Request) -> Result<Reply, Reply> {
    let (start, end) = params::bounds(&r.form, r.now).map_err(Reply::bad)?;
    let matchers = match r.form.get("query").trim() {
        "" => Vec::new(),
        s => crate::querier::parse_selector(s).map_err(Reply::bad)?,
    };
    let series = q
        .series(&matchers, TimeRange::new(start, end))
        .map_err(super::handlers::query_error)?;
    let mut values: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for labels in &series.values {
        for (n, v) in labels.pairs() {
            values.entry(n).or_default().insert(v);
        }
    }
    #[derive(serde::Serialize)]
    struct Detected<'a> {
        label: &'a str,
        cardinality: usize,
    }
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Body<'a> {
        detected_labels: Vec<Detected<'a>>,
    }
    Ok(Reply::json_line(&Body {
        detected_labels: values
            .iter()
            .map(|(label, v)| Detected {
                label,
                cardinality: v.len(),
            })
            .collect(),
    }))
}

/// `/loki/api/v1/patterns`: Loki's answer when no pattern was found.
pub fn patterns(r: &Request) -> Result<Reply, Reply> {
    crate::logql::parse_matchers(r.form.get("query")).map_err(Reply::bad)?;
    #[derive(serde::Serialize)]
    struct Patterns {
        status: &'static str,
        data: [(); 0],
    }
    Ok(Reply::json_line(&Patterns {
        status: "success",
        data: [],
    }))
}

/// Loki's `determineType` of a field's value.
fn field_type(v: &str) -> &'static str {
    use crate::go::strconv::{parse_float, parse_int};
    if parse_int(v, 10).is_ok() {
        "int"
    } else if parse_float(v).is_ok() {
        "float"
    } else if matches!(
        v,
        "1" | "t" | "T" | "TRUE" | "true" | "True" | "0" | "f" | "F" | "FALSE" | "false" | "False"
    ) {
        "boolean"
    } else if crate::go::duration::parse_go_duration(v).is_ok() {
        "duration"
    } else if crate::go::humanize::parse_bytes(v).is_ok() {
        "bytes"
    } else {
        "string"
    }
}

/// One detected field while the lines are read.
#[derive(Default)]
struct Field {
    kind: &'static str,
    values: BTreeSet<String>,
    parsers: Vec<&'static str>,
    json_path: Option<Vec<String>>,
}

/// The JSON paths of a line's leaves, keyed by the label Loki's `| json`
/// names them (keys joined with `_`, arrays skipped).
fn json_paths(
    v: &serde_json::Value,
    path: &mut Vec<String>,
    out: &mut BTreeMap<String, Vec<String>>,
) {
    if let serde_json::Value::Object(m) = v {
        for (k, child) in m {
            path.push(k.clone());
            match child {
                serde_json::Value::Object(_) => json_paths(child, path, out),
                serde_json::Value::Array(_) => {}
                _ => {
                    let name: String = path
                        .join("_")
                        .chars()
                        .map(|c| {
                            if c.is_ascii_alphanumeric() || c == '_' {
                                c
                            } else {
                                '_'
                            }
                        })
                        .collect();
                    out.insert(name, path.clone());
                }
            }
            path.pop();
        }
    }
}

/// `/loki/api/v1/detected_fields`: the fields of the newest `line_limit`
/// lines (1,000) the query selects: structured metadata, and what Loki's
/// `json` and `logfmt` parsers find in them, each with its type (Loki's
/// rules), how many values it has, and which parsers found it. Read
/// through the engine: the query, and the query with `| json` and with
/// `| logfmt` (lines a parser fails on are left out of its fields).
pub fn detected_fields(_: &ServerConfig, q: &Querier, r: &Request) -> Result<Reply, Reply> {
    use crate::engine::logquery::LogParams;
    use crate::engine::Direction;
    let (start, end) = params::bounds(&r.form, r.now).map_err(Reply::bad)?;
    let query = r.form.get("query");
    let number = |key: &str| -> Result<usize, Reply> {
        match r.form.get(key) {
            "" => Ok(1000),
            s => s
                .parse::<usize>()
                .map_err(|_| Reply::bad(format!("invalid {key}: {s}"))),
        }
    };
    let (line_limit, limit) = (number("line_limit")?, number("limit")?);
    let run = |text: &str| -> Result<Vec<crate::engine::logquery::LogEntry>, Reply> {
        let expr = match crate::logql::parse_expr(text).map_err(Reply::bad)? {
            crate::logql::Expr::Log(l) => l,
            _ => return Err(Reply::bad("only log queries are supported")),
        };
        let params = LogParams {
            range: TimeRange::new(start, end),
            limit: line_limit,
            direction: Direction::Backward,
        };
        Ok(q.log_query(&expr, &params)
            .map_err(super::handlers::query_error)?
            .entries)
    };
    let base = run(query)?;
    let matchers = match crate::logql::parse_expr(query).map_err(Reply::bad)? {
        crate::logql::Expr::Log(l) => l.matchers,
        _ => Vec::new(),
    };
    let streams = q
        .series(&matchers, TimeRange::new(start, end))
        .map_err(super::handlers::query_error)?;
    let stream_names: BTreeSet<&str> = streams
        .values
        .iter()
        .flat_map(|l| l.pairs().iter().map(|(n, _)| n.as_str()))
        .collect();
    let mut fields: BTreeMap<String, Field> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut add =
        |name: &str, value: &str, parser: Option<&'static str>, path: Option<Vec<String>>| {
            let f = fields.entry(name.to_string()).or_insert_with(|| {
                order.push(name.to_string());
                Field {
                    kind: field_type(value),
                    ..Field::default()
                }
            });
            f.values.insert(value.to_string());
            if let Some(p) = parser {
                if !f.parsers.contains(&p) {
                    f.parsers.push(p);
                }
            }
            if f.json_path.is_none() {
                f.json_path = path;
            }
        };
    // Per entry (time and line), the label names it has before parsing.
    let mut before: BTreeMap<(i64, &[u8]), BTreeSet<&str>> = BTreeMap::new();
    for e in &base {
        before
            .entry((e.ts, e.line.as_slice()))
            .or_default()
            .extend(e.labels.pairs().iter().map(|(n, _)| n.as_str()));
        for (n, v) in e.labels.pairs() {
            if !stream_names.contains(n.as_str()) {
                add(n, v, None, None);
            }
        }
    }
    let error = crate::engine::pipeline::ERROR_LABEL;
    for (parser, stage) in [("logfmt", "logfmt"), ("json", "json")] {
        let parsed = run(&format!("{query} | {stage}"))?;
        for e in &parsed {
            if e.labels.get(error).is_some() || (parser == "logfmt" && e.line.starts_with(b"{")) {
                continue;
            }
            let Some(had) = before.get(&(e.ts, e.line.as_slice())) else {
                continue;
            };
            let mut paths = BTreeMap::new();
            if parser == "json" {
                if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&e.line) {
                    json_paths(&v, &mut Vec::new(), &mut paths);
                }
            }
            for (n, v) in e.labels.pairs() {
                if had.contains(n.as_str()) {
                    continue;
                }
                let path = paths.get(n).cloned();
                add(n, v, Some(parser), path);
            }
        }
    }
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Out<'a> {
        label: &'a str,
        #[serde(rename = "type")]
        kind: &'a str,
        cardinality: usize,
        parsers: Option<&'a [&'static str]>,
        #[serde(skip_serializing_if = "Option::is_none")]
        json_path: Option<&'a [String]>,
    }
    #[derive(serde::Serialize)]
    struct Body<'a> {
        fields: Vec<Out<'a>>,
        limit: usize,
    }
    let out = order
        .iter()
        .take(limit)
        .map(|name| {
            let f = &fields[name];
            Out {
                label: name,
                kind: f.kind,
                cardinality: f.values.len(),
                parsers: (!f.parsers.is_empty()).then_some(f.parsers.as_slice()),
                json_path: f.json_path.as_deref(),
            }
        })
        .collect();
    Ok(Reply::json_line(&Body { fields: out, limit }))
}

/// Loki's default `log_level_fields`: where Logs Drilldown looks for a level.
const LOG_LEVEL_FIELDS: [&str; 14] = [
    "level",
    "LEVEL",
    "Level",
    "log.level",
    "severity",
    "SEVERITY",
    "Severity",
    "SeverityText",
    "lvl",
    "LVL",
    "Lvl",
    "severity_text",
    "Severity_Text",
    "SEVERITY_TEXT",
];

/// `/loki/api/v1/drilldown-limits`: the limits Grafana's Logs Drilldown
/// adapts to, as `lokal serve` applies them: no level or service name
/// discovery (lokal stores labels as pushed), no pattern ingester, no
/// OTLP ingestion, no query length or lookback limits, volumes on.
pub fn drilldown_limits(config: &ServerConfig) -> Reply {
    let timeout = config.query_timeout.map_or("0s".to_string(), |d| {
        crate::go::duration::format_prom_duration(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    });
    // serde_json's map keeps keys sorted, as Loki's answer has them.
    Reply::json_line(&serde_json::json!({
        "limits": {
            "discover_log_levels": false,
            "discover_service_name": [],
            "log_level_fields": LOG_LEVEL_FIELDS,
            "max_entries_limit_per_query": config.max_entries_limit,
            "max_line_size_truncate": false,
            "max_query_bytes_read": "0B",
            "max_query_length": "0s",
            "max_query_lookback": "0s",
            "max_query_range": "0s",
            "max_query_series": config.max_query_series,
            "metric_aggregation_enabled": false,
            "otlp_config": {},
            "pattern_persistence_enabled": false,
            "query_timeout": timeout,
            "retention_period": "0s",
            "volume_enabled": true,
            "volume_max_series": super::volume::MAX_VOLUME_SERIES,
        },
        "pattern_ingester_enabled": false,
        "version": "3.7.6",
    }))
}
