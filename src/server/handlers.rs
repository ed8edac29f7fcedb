//! One request to one response: routing, the tenant, the form, and each
//! endpoint of Loki's API answered through [`crate::querier`]. Errors are
//! Loki's: plain text and a status code (400 for a bad query or parameter).

use std::io::Read;

use super::params::{self, Form};
use super::{ServerConfig, State};
use crate::logql::Expr;
use crate::loki::api::{labels_json, log_response, metric_response};
use crate::querier::{self, Querier, QueryOptions, QueryResponse};
use crate::time::TimeRange;

/// Loki's header naming the tenant.
pub const ORG_ID_HEADER: &str = "X-Scope-OrgID";

/// A response before it is written: status, content type, body.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
}

impl Reply {
    /// A JSON body, status 200.
    pub(crate) fn json(v: &impl serde::Serialize) -> Reply {
        Reply {
            status: 200,
            content_type: "application/json; charset=UTF-8",
            body: serde_json::to_vec(v).unwrap_or_default(),
        }
    }

    /// [`Reply::json`] and a newline, as Loki writes streams, labels and
    /// series (through Go's `json.Encoder`; its matrices and vectors have
    /// none).
    pub(crate) fn json_line(v: &impl serde::Serialize) -> Reply {
        let mut body = serde_json::to_vec(v).unwrap_or_default();
        body.push(b'\n');
        Reply {
            status: 200,
            content_type: "application/json; charset=UTF-8",
            body,
        }
    }

    /// Loki's error reply: the message in plain text, no newline after it.
    pub fn error(status: u16, msg: impl std::fmt::Display) -> Reply {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: msg.to_string().into_bytes(),
        }
    }

    /// Loki's error reply through Go's `http.Error`: the message and a
    /// newline (the push endpoint's errors).
    pub fn error_line(status: u16, msg: impl std::fmt::Display) -> Reply {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: format!("{msg}\n").into_bytes(),
        }
    }

    pub(crate) fn bad(msg: impl std::fmt::Display) -> Reply {
        Reply::error(400, msg)
    }
}

/// A request as the endpoints see it.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, without the query string.
    pub path: String,
    /// Query string and urlencoded body.
    pub form: Form,
    /// The tenant (`X-Scope-OrgID`, or the server's default).
    pub tenant: String,
    /// The raw body (pushes).
    pub body: Vec<u8>,
    /// `Content-Type` of the body, `""` when none.
    pub content_type: String,
    /// `Content-Encoding` of the body, `""` when none.
    pub content_encoding: String,
    /// The current time, ns.
    pub now: i64,
}

/// Reads `req`, answers it and writes the answer; a client gone away is
/// not an error of the server.
pub fn answer(state: &std::sync::Arc<State>, mut req: tiny_http::Request) {
    let started = std::time::Instant::now();
    let url = req.url().to_string();
    let path = url.split_once('?').map_or(url.as_str(), |(p, _)| p);
    let method = req.method().as_str().to_string();
    let reply = match read(&state.config, &mut req) {
        Ok(r) if r.path.trim_end_matches('/') == "/loki/api/v1/tail" && r.method == "GET" => {
            match super::tail::start(state, req, &r) {
                // Upgraded: the tail runs on its own thread.
                None => {
                    state.metrics.request(path, &method, 101, started.elapsed());
                    return;
                }
                Some((back, reply)) => {
                    req = back;
                    reply
                }
            }
        }
        Ok(r) => route(state, &r),
        Err(e) => e,
    };
    state
        .metrics
        .request(path, &method, reply.status, started.elapsed());
    let header =
        tiny_http::Header::from_bytes("Content-Type", reply.content_type).expect("static header");
    let resp = tiny_http::Response::from_data(reply.body)
        .with_status_code(reply.status)
        .with_header(header);
    let resp = if reply.status == 401 {
        // Tell a browser (Grafana's proxy passes it on) which scheme to use.
        resp.with_header(
            tiny_http::Header::from_bytes("WWW-Authenticate", "Basic realm=\"lokal\"")
                .expect("static header"),
        )
    } else {
        resp
    };
    let _ = req.respond(resp);
}

fn header(req: &tiny_http::Request, name: &str) -> String {
    req.headers()
        .iter()
        .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str().to_string())
        .unwrap_or_default()
}

/// The request's parts, or the reply refusing it (bad tenant, body too large).
fn read(config: &ServerConfig, req: &mut tiny_http::Request) -> Result<Request, Reply> {
    // Before anything of the body is read.
    let open = req.url() == "/ready";
    if !open && !super::auth::allowed(&config.credentials, &header(req, "Authorization")) {
        return Err(Reply::error_line(401, "Unauthorized"));
    }
    let tenant = match header(req, ORG_ID_HEADER) {
        t if t.is_empty() => config.default_tenant.clone(),
        t => {
            crate::store::validate_tenant(&t).map_err(Reply::bad)?;
            t
        }
    };
    let mut body = Vec::new();
    // tiny_http hands an upgrade request's whole connection over as its
    // body: such a request (a tail's websocket) has none to read.
    let upgrade = header(req, "Connection")
        .to_ascii_lowercase()
        .contains("upgrade");
    let limit = if upgrade { 0 } else { config.max_body + 1 };
    req.as_reader()
        .take(limit)
        .read_to_end(&mut body)
        .map_err(|e| Reply::bad(format!("reading the request body: {e}")))?;
    if body.len() as u64 > config.max_body {
        return Err(Reply::error(
            413,
            format!(
                "request body too large: more than {} bytes (lokal serve --max-body)",
                config.max_body
            ),
        ));
    }
    let url = req.url().to_string();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    let mut form = Form::default();
    form.add(query);
    let content_type = header(req, "Content-Type");
    if content_type.starts_with("application/x-www-form-urlencoded") {
        form.add(&String::from_utf8_lossy(&body));
    }
    Ok(Request {
        method: req.method().as_str().to_string(),
        path: path.to_string(),
        form,
        tenant,
        body,
        content_type,
        content_encoding: header(req, "Content-Encoding"),
        now: jiff::Timestamp::now().as_nanosecond() as i64,
    })
}

/// Answers one request.
pub fn route(state: &State, r: &Request) -> Reply {
    let config = &state.config;
    let path = r.path.trim_end_matches('/');
    let get_or_post = matches!(r.method.as_str(), "GET" | "POST");
    match path {
        "/ready" => Reply {
            status: 200,
            content_type: "text/plain; charset=utf-8",
            body: b"ready\n".to_vec(),
        },
        "/loki/api/v1/status/buildinfo" => buildinfo(),
        // Loki's current and legacy push paths.
        "/loki/api/v1/push" | "/api/prom/push" if r.method == "POST" => {
            let (reply, done) = super::push::push(config, &state.committer, r);
            state
                .metrics
                .pushed(&r.tenant, done.entries, done.bytes, done.rejected);
            reply
        }
        "/metrics" if get_or_post => Reply {
            status: 200,
            content_type: "text/plain; version=0.0.4; charset=utf-8",
            body: state.metrics.render().into_bytes(),
        },
        // Loki's ingester flush: every push answered 204 is committed
        // already, so there is nothing to flush.
        "/flush" if r.method == "POST" => Reply {
            status: 204,
            content_type: "text/plain; charset=utf-8",
            body: Vec::new(),
        },
        // Loki's answer to another method on the push path.
        "/loki/api/v1/push" | "/api/prom/push" => Reply {
            status: 405,
            content_type: "text/plain; charset=utf-8",
            body: Vec::new(),
        },
        "/loki/api/v1/query" if get_or_post => with_querier(config, r, instant_query),
        "/loki/api/v1/query_range" if get_or_post => with_querier(config, r, range_query),
        "/loki/api/v1/labels" if get_or_post => with_querier(config, r, labels),
        "/loki/api/v1/series" if get_or_post => with_querier(config, r, series),
        "/loki/api/v1/format_query" if get_or_post => super::explore::format_query(r),
        "/loki/api/v1/drilldown-limits" if get_or_post => super::explore::drilldown_limits(config),
        "/loki/api/v1/detected_labels" if get_or_post => {
            with_querier(config, r, super::explore::detected_labels)
        }
        "/loki/api/v1/detected_fields" if get_or_post => {
            with_querier(config, r, super::explore::detected_fields)
        }
        "/loki/api/v1/patterns" if get_or_post => super::explore::patterns(r).unwrap_or_else(|e| e),
        "/loki/api/v1/index/stats" if get_or_post => with_querier(config, r, super::volume::stats),
        "/loki/api/v1/index/volume" if get_or_post => {
            with_querier(config, r, super::volume::volume)
        }
        "/loki/api/v1/index/volume_range" if get_or_post => {
            with_querier(config, r, super::volume::volume_range)
        }
        p if get_or_post && label_values_name(p).is_some() => with_querier(config, r, labels),
        _ => Reply::error(404, "404 page not found"),
    }
}

/// `NAME` of `/loki/api/v1/label/NAME/values`.
fn label_values_name(path: &str) -> Option<&str> {
    path.strip_prefix("/loki/api/v1/label/")?
        .strip_suffix("/values")
        .filter(|n| !n.is_empty() && !n.contains('/'))
}

/// Loki's build information. `version` is the Loki release whose API and
/// answers lokal follows (Grafana enables features by it); `revision` and
/// `branch` name lokal.
fn buildinfo() -> Reply {
    // serde_json's map sorts keys; Loki's order is its struct's.
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct BuildInfo {
        version: &'static str,
        revision: &'static str,
        branch: &'static str,
        build_user: &'static str,
        build_date: &'static str,
        go_version: &'static str,
    }
    Reply::json(&BuildInfo {
        version: "3.7.6",
        revision: concat!("lokal-", env!("CARGO_PKG_VERSION")),
        branch: "lokal",
        build_user: "",
        build_date: "",
        go_version: "",
    })
}

/// `{"status":"success","data":…}` of the label and series endpoints, in
/// Loki's key order; Loki leaves `data` out when no label is found.
#[derive(serde::Serialize)]
struct DataResponse<T> {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<T>,
}

fn success<T: serde::Serialize>(data: Option<T>) -> Reply {
    Reply::json_line(&DataResponse {
        status: "success",
        data,
    })
}

/// An endpoint answered through a querier.
pub(crate) type Endpoint = fn(&ServerConfig, &Querier, &Request) -> Result<Reply, Reply>;

/// Loki's answer (504) to a query that ran past `query_timeout`.
pub const DEADLINE_EXCEEDED: &str = "request timed out, decrease the duration of the request or add more label matchers (prefer exact match over regex match) to reduce the amount of data processed";

fn run_endpoint(config: &ServerConfig, r: &Request, f: Endpoint) -> Reply {
    match Querier::open(&config.store, &r.tenant) {
        Ok(q) => f(config, &q, r).unwrap_or_else(|e| e),
        Err(e) => query_error(e),
    }
}

/// Runs `f` over a querier of the request's tenant, within the query
/// timeout. lokal's engine cannot be interrupted: a query past its time is
/// answered 504 at once and finishes in the background, its answer dropped.
fn with_querier(config: &ServerConfig, r: &Request, f: Endpoint) -> Reply {
    let Some(limit) = config.query_timeout else {
        return run_endpoint(config, r, f);
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let (c, req) = (config.clone(), r.clone());
    std::thread::spawn(move || {
        let _ = tx.send(run_endpoint(&c, &req, f));
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| Reply::error_line(504, DEADLINE_EXCEEDED))
}

/// Refuses a metric answer of more than `max_query_series` series, with
/// Loki's text.
fn check_series(config: &ServerConfig, v: &crate::engine::value::MetricValue) -> Result<(), Reply> {
    use crate::engine::value::MetricValue;
    let n = match v {
        MetricValue::Vector(s) => s.len(),
        MetricValue::Matrix(s) => s.len(),
        _ => 1,
    };
    let max = config.max_query_series;
    if max > 0 && n > max {
        return Err(Reply::bad(format!(
            "maximum number of series ({max}) reached for a single query; consider reducing query cardinality by adding more specific stream selectors, reducing the time range, or aggregating results with functions like sum(), count() or topk()"
        )));
    }
    Ok(())
}

/// Loki's status for a failed query: 400 for what the client asked
/// wrongly, 500 for what failed in the store.
pub(crate) fn query_error(e: querier::Error) -> Reply {
    use crate::engine::QueryError;
    match e {
        querier::Error::Query(QueryError::Store(_)) | querier::Error::Store(_) => {
            Reply::error(500, e)
        }
        querier::Error::Partial(_) => Reply::error(500, e),
        _ => Reply::bad(e),
    }
}

fn opts(r: &Request) -> Result<QueryOptions, Reply> {
    Ok(QueryOptions {
        limit: params::limit(&r.form).map_err(Reply::bad)?,
        direction: params::direction(&r.form).map_err(Reply::bad)?,
        ..QueryOptions::default()
    })
}

fn parse_query(r: &Request) -> Result<Expr, Reply> {
    crate::logql::parse_expr(r.form.get("query")).map_err(Reply::bad)
}

/// `/loki/api/v1/query_range`: a log query's streams or a metric query's matrix.
fn range_query(config: &ServerConfig, q: &Querier, r: &Request) -> Result<Reply, Reply> {
    let (start, end) = params::bounds(&r.form, r.now).map_err(Reply::bad)?;
    let mut opts = opts(r)?;
    if end < start {
        return Err(Reply::bad(
            "end timestamp must not be before or equal to start time",
        ));
    }
    opts.step = Some(params::step(&r.form, start, end).map_err(Reply::bad)?);
    let expr = parse_query(r)?;
    // Loki's max_entries_limit_per_query, for log queries (a metric
    // query's limit does nothing).
    let max = config.max_entries_limit;
    if matches!(expr, Expr::Log(_)) && max > 0 && opts.limit > max {
        return Err(Reply::bad(format!(
            "max entries limit per query exceeded, limit > max_entries_limit_per_query ({} > {max})",
            opts.limit
        )));
    }
    let range = TimeRange::new(start, end);
    match q.query(&expr, range, &opts).map_err(query_error)? {
        QueryResponse::Streams(res) => Ok(Reply::json_line(
            &log_response(&res.entries, &res.stats).map_err(|e| Reply::error(500, e))?,
        )),
        QueryResponse::Metric(m) => {
            check_series(config, &m.value)?;
            Ok(Reply::json(&metric_response(&m.value, &m.stats)))
        }
    }
}

/// `/loki/api/v1/query`: a metric query at `time` (default now).
fn instant_query(config: &ServerConfig, q: &Querier, r: &Request) -> Result<Reply, Reply> {
    let at = // Loki names no parameter in this one error.
    params::parse_timestamp(r.form.get("time"), r.now).map_err(Reply::bad)?;
    opts(r)?;
    let expr = querier::parse_instant(r.form.get("query")).map_err(query_error)?;
    let m = q.instant_query(&expr, at).map_err(query_error)?;
    check_series(config, &m.value)?;
    Ok(Reply::json(&metric_response(&m.value, &m.stats)))
}

/// `/loki/api/v1/labels` and `/loki/api/v1/label/NAME/values`.
fn labels(_: &ServerConfig, q: &Querier, r: &Request) -> Result<Reply, Reply> {
    let (start, end) = params::bounds(&r.form, r.now).map_err(Reply::bad)?;
    let range = TimeRange::new(start, end);
    let found = match label_values_name(r.path.trim_end_matches('/')) {
        None => q.labels(range),
        Some(name) => q.label_values(name, range),
    }
    .map_err(query_error)?;
    Ok(success(Some(found.values).filter(|v| !v.is_empty())))
}

/// `/loki/api/v1/series`: the streams any `match[]` selects.
fn series(_: &ServerConfig, q: &Querier, r: &Request) -> Result<Reply, Reply> {
    let (start, end) = params::bounds(&r.form, r.now).map_err(Reply::bad)?;
    let range = TimeRange::new(start, end);
    let mut groups = r.form.all("match[]");
    if groups.is_empty() {
        groups = r.form.all("match");
    }
    // No `match[]`: every stream, as Loki answers.
    if groups.is_empty() {
        groups.push("{}");
    }
    let mut all = Vec::new();
    for g in groups {
        // Loki gives a position-less matcher error without the "parse
        // error :" its query errors start with.
        let matchers = querier::parse_selector(g).map_err(|e| match (e.line, e.col) {
            (0, 0) => Reply::bad(&e.msg),
            _ => Reply::bad(e),
        })?;
        all.extend(q.series(&matchers, range).map_err(query_error)?.values);
    }
    all.sort();
    all.dedup();
    let data: Vec<_> = all.iter().map(labels_json).collect();
    // Series answers `"data":[]` when empty.
    Ok(success(Some(data)))
}
