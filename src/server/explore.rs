//! What Grafana's Loki data source and its Logs Drilldown app ask beside
//! queries: `format_query` (the query editor's formatter, Loki's
//! `syntax.Prettify`), `detected_labels` (the label browser's
//! cardinalities) and `patterns` (lokal has no pattern ingester: Loki's
//! own answer when none found any, an empty list). Grafana's health check
//! is an instant `vector(1)+vector(1)`, answered by the query endpoint.

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
