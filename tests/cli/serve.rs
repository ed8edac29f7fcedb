//! `lokal serve`: Loki's HTTP API over a store, started on a free loopback
//! port. One test checks each endpoint, error and the graceful stop on a
//! small store; the other sends the same requests to `lokal serve` over the
//! differential dataset and to the real Loki 3.7.6 of `../shared/loki`
//! over the same data, and compares status codes and JSON bodies (stats
//! aside). Skipped with a note without `../shared/loki`, failing under
//! `CI=true`.
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;
use crate::diff;
use crate::support::loki::{have, Loki};

/// A running `lokal serve`, stopped with SIGTERM.
pub(crate) struct Serve {
    pub(crate) child: Child,
    /// `http://127.0.0.1:PORT`.
    pub(crate) addr: String,
    pub(crate) stderr: Arc<Mutex<String>>,
}

impl Serve {
    /// `lokal serve --listen 127.0.0.1:0` over `env`'s store: the kernel
    /// picks a free port, which the first line on stderr names.
    pub(crate) fn start(env: &TestEnv, extra: &[&str]) -> Serve {
        let mut cmd = env.std_command();
        cmd.args(["serve", "--listen", "127.0.0.1:0"]).args(extra);
        Serve::spawn(cmd)
    }

    /// Starts `cmd` (a `lokal serve --listen 127.0.0.1:0 …`).
    pub(crate) fn spawn(mut cmd: Command) -> Serve {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut first = String::new();
        err.read_line(&mut first).unwrap();
        let addr = first
            .trim()
            .strip_prefix("lokal: serving Loki's API on ")
            .unwrap_or_else(|| panic!("lokal serve said {first:?}"))
            .to_string();
        let stderr = Arc::new(Mutex::new(first));
        let sink = Arc::clone(&stderr);
        // Line by line, so a test can watch for a line while it runs.
        std::thread::spawn(move || {
            let mut line = String::new();
            while err.read_line(&mut line).is_ok_and(|n| n > 0) {
                sink.lock().unwrap().push_str(&line);
                line.clear();
            }
        });
        Serve {
            child,
            addr,
            stderr,
        }
    }

    /// SIGTERM, then the exit status and all of stderr.
    pub(crate) fn stop(mut self) -> (std::process::ExitStatus, String) {
        Command::new("kill")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        let t = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "lokal serve did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        // The drain thread ends with the pipe.
        std::thread::sleep(Duration::from_millis(50));
        let err = self.stderr.lock().unwrap().clone();
        (status, err)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// One request: method, path, form, tenant.
#[derive(Debug, Clone)]
struct Req {
    name: &'static str,
    post: bool,
    path: String,
    form: Vec<(&'static str, String)>,
    tenant: Option<&'static str>,
}

fn req(name: &'static str, path: &str, form: &[(&'static str, &str)]) -> Req {
    Req {
        name,
        post: false,
        path: path.to_string(),
        form: form.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        tenant: None,
    }
}

/// Sends `r` to `base`: status and body.
fn send(a: &ureq::Agent, base: &str, r: &Req) -> (u16, String) {
    let url = format!("{base}{}", r.path);
    let pairs: Vec<(&str, &str)> = r.form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let resp = if r.post {
        let mut b = a.post(&url);
        if let Some(t) = r.tenant {
            b = b.header("X-Scope-OrgID", t);
        }
        b.send_form(pairs)
    } else {
        let mut b = a.get(&url).query_pairs(pairs);
        if let Some(t) = r.tenant {
            b = b.header("X-Scope-OrgID", t);
        }
        b.call()
    };
    let mut resp = resp.unwrap_or_else(|e| panic!("{} {url}: {e}", r.name));
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_string()
        .unwrap();
    (status, body)
}

fn json(body: &str, what: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{what}: {e}: {body}"))
}

#[test]
fn serve_answers_lokis_api_over_the_store() {
    let env = TestEnv::new();
    let log = env.write(
        "a.log",
        "2024-05-01T00:00:01Z one\n2024-05-01T00:00:02Z two\n2024-05-01T00:00:03Z three\n",
    );
    env.ingest([&log]).label("job=a").ok();
    env.ingest([&log])
        .label("job=other")
        .args(["--tenant", "t2"])
        .ok();
    let s = Serve::start(&env, &["--max-body", "1000"]);
    let a = agent();
    let range = [("start", "2024-05-01T00:00:00Z"), ("end", "1714521660")];
    let get = |r: Req| send(&a, &s.addr, &r);

    assert_eq!(get(req("ready", "/ready", &[])), (200, "ready\n".into()));
    let (code, body) = get(req("labels", "/loki/api/v1/labels", &range));
    assert_eq!(
        (code, body.as_str()),
        (
            200,
            "{\"status\":\"success\",\"data\":[\"filename\",\"job\"]}\n"
        )
    );
    let (code, body) = get(req("values", "/loki/api/v1/label/job/values", &range));
    assert_eq!(
        (code, body.as_str()),
        (200, "{\"status\":\"success\",\"data\":[\"a\"]}\n")
    );
    // Outside the data, and with Loki's default range (the last hour): nothing.
    let (_, body) = get(req("values", "/loki/api/v1/label/job/values", &[]));
    assert_eq!(body, "{\"status\":\"success\"}\n");

    // series, GET and POST form alike.
    let mut series = req(
        "series",
        "/loki/api/v1/series",
        &[("match[]", "{job=\"a\"}"), range[0], range[1]],
    );
    let (code, got) = get(series.clone());
    assert_eq!(code, 200, "{got}");
    let v = json(&got, "series");
    assert_eq!(v["data"][0]["job"], "a");
    series.post = true;
    assert_eq!(get(series), (200, got));

    // A log query: every entry, in the order asked, limited as asked.
    let mut q = vec![
        ("query", "{job=\"a\"}"),
        range[0],
        range[1],
        ("direction", "forward"),
    ];
    let (code, body) = get(req("range", "/loki/api/v1/query_range", &q));
    assert_eq!(code, 200, "{body}");
    let v = json(&body, "query_range");
    assert_eq!(v["data"]["resultType"], "streams");
    let lines: Vec<&str> = v["data"]["result"][0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[1].as_str().unwrap())
        .collect();
    assert_eq!(
        lines,
        [
            "2024-05-01T00:00:01Z one",
            "2024-05-01T00:00:02Z two",
            "2024-05-01T00:00:03Z three"
        ]
    );
    q.push(("limit", "1"));
    let v = json(
        &get(req("limit", "/loki/api/v1/query_range", &q)).1,
        "limit",
    );
    assert_eq!(
        v["data"]["result"][0]["values"].as_array().unwrap().len(),
        1
    );

    // A metric instant query.
    let (code, body) = get(req(
        "instant",
        "/loki/api/v1/query",
        &[
            ("query", "count_over_time({job=\"a\"}[1m])"),
            ("time", "1714521620"),
        ],
    ));
    assert_eq!(code, 200, "{body}");
    let v = json(&body, "instant");
    assert_eq!(
        v["data"]["result"][0]["value"],
        serde_json::json!([1714521620, "3"])
    );

    // Index stats and volumes: the lines' bytes (24 + 24 + 26).
    let sel = [("query", "{job=\"a\"}"), range[0], range[1]];
    assert_eq!(
        get(req("stats", "/loki/api/v1/index/stats", &sel)),
        (
            200,
            "{\"streams\":1,\"chunks\":1,\"bytes\":74,\"entries\":3}\n".into()
        )
    );
    let v = json(
        &get(req("volume", "/loki/api/v1/index/volume", &sel)).1,
        "volume",
    );
    assert_eq!(
        v["data"]["result"],
        serde_json::json!([{"metric": {"job": "a"}, "value": [1714521660, "74"]}])
    );
    let mut by_name = sel.to_vec();
    by_name.push(("aggregateBy", "labels"));
    let v = json(
        &get(req("labels", "/loki/api/v1/index/volume", &by_name)).1,
        "volume",
    );
    assert_eq!(
        v["data"]["result"],
        serde_json::json!([
            {"metric": {"filename": ""}, "value": [1714521660, "74"]},
            {"metric": {"job": ""}, "value": [1714521660, "74"]}
        ])
    );
    let mut stepped = sel.to_vec();
    stepped.push(("step", "1"));
    let v = json(
        &get(req("range", "/loki/api/v1/index/volume_range", &stepped)).1,
        "range",
    );
    assert_eq!(
        v["data"]["result"][0]["values"][0],
        serde_json::json!([1714521601, "24"])
    );

    // Another tenant by header; a bad tenant refused.
    let mut t2 = req("t2", "/loki/api/v1/label/job/values", &range);
    t2.tenant = Some("t2");
    assert_eq!(
        get(t2.clone()).1,
        "{\"status\":\"success\",\"data\":[\"other\"]}\n"
    );
    t2.tenant = Some("..");
    let (code, body) = get(t2);
    assert_eq!(code, 400);
    assert!(body.contains("invalid tenant \"..\""), "{body}");

    // Loki's errors: plain text, 400.
    for (name, path, form, want) in [
        ("parse", "/loki/api/v1/query_range", vec![("query", "{job"), range[0], range[1]],
         "parse error at line 1, col 5: syntax error: unexpected $end, expecting = or =~ or !~ or !="),
        ("log instant", "/loki/api/v1/query", vec![("query", "{job=\"a\"}")],
         "log queries are not supported as an instant query type, please change your query to a range query type"),
        ("limit", "/loki/api/v1/query_range", vec![("query", "{job=\"a\"}"), ("limit", "0")],
         "limit must be a positive value"),
        ("direction", "/loki/api/v1/query_range", vec![("query", "{job=\"a\"}"), ("direction", "up")],
         "invalid direction 'up'"),
        ("order", "/loki/api/v1/query_range", vec![("query", "{job=\"a\"}"), ("start", "1714521660"), ("end", "1714521600")],
         "end timestamp must not be before or equal to start time"),
        ("start", "/loki/api/v1/labels", vec![("start", "yesterday")],
         "could not parse 'start' parameter: strconv.ParseInt: parsing \"yesterday\": invalid syntax"),
    ] {
        assert_eq!(get(req(name, path, &form)), (400, want.to_string()), "{name}");
    }
    assert_eq!(get(req("404", "/nope", &[])).0, 404);

    // A body over --max-body is refused whole, before it is read further.
    let big = format!("{{job=\"{}\"}}", "x".repeat(2000));
    let mut huge = req("huge", "/loki/api/v1/series", &[("match[]", &big)]);
    huge.post = true;
    assert_eq!(
        get(huge),
        (
            413,
            "request body too large: more than 1000 bytes (lokal serve --max-body)".into()
        )
    );

    let (status, err) = s.stop();
    assert!(status.success(), "{status}: {err}");
    assert!(err.ends_with("lokal: stopped\n"), "{err}");
}

/// What `lokal serve` answers differently from Loki on purpose, by request
/// name; every other request must give the same status and body.
const DIFFERENCES: &[(&str, &str)] = &[
    (
        "detected_fields_all",
        "over many streams Loki's frontend samples far fewer than line_limit lines (25 lines' \
         worth of fields here, no JSON line among them); lokal reads the newest 1,000. Over one \
         stream (detected_fields) both read the same lines and answer alike",
    ),
    (
        "grafana_health",
        "Loki 3.7.6 stamps a scalar instant answer with the time in ns read as seconds \
         ([4000000000,\"2\"] for time=4); lokal answers [4,\"2\"]; Grafana's health check \
         reads only the value",
    ),
    (
        "stats_all",
        "Loki sums index/stats over the shards its query frontend cuts a regex selector into \
         (68 streams for the dataset's 34) and counts the entries of its chunks after its own \
         dedupe of identical entries; lokal counts each stream once and every entry in range",
    ),
    (
        "err_tenant",
        "lokal serve checks X-Scope-OrgID as --tenant is (400 for \"a/b\"); the test Loki runs \
     without auth and answers tenant fake whatever the header says",
    ),
];

#[test]
fn serve_answers_as_loki_request_for_request() {
    let Some(loki_dir) = shared("loki") else {
        return;
    };
    if !(have("zstd", "--version") && have("python3", "--version")) {
        return;
    }
    let Some(env) = diff::dataset_store() else {
        return;
    };
    let loki = Loki::start_with_dataset(&loki_dir, env.path(), &env.path().join("dataset.jsonl"));
    // Loki's limits as `../shared/loki/loki.yaml` sets them.
    let s = Serve::start(
        &env,
        &[
            "--max-labels-per-stream",
            "100",
            "--max-line-size",
            "0",
            "--creation-grace-period",
            "8760h",
            "--max-entries-limit-per-query",
            "5000000",
            "--max-query-series",
            "1000000",
            "--query-timeout",
            "10m",
        ],
    );
    let a = agent();

    let (s0, e0) = ("2024-05-01T00:00:00Z", "2024-05-01T02:00:00Z");
    let r = |name, path: &str, form: &[(&'static str, &str)]| req(name, path, form);
    let mut reqs = vec![
        // Endpoint: /loki/api/v1/query_range (log and metric queries).
        r(
            "range_log",
            "/loki/api/v1/query_range",
            &[
                ("query", "{job=\"kafka\", host=\"a\"}"),
                ("start", s0),
                ("end", e0),
                ("limit", "30"),
            ],
        ),
        r(
            "range_log_forward",
            "/loki/api/v1/query_range",
            &[
                ("query", "{job=~\"zoo.*\"} |= \"error\""),
                ("start", "1714521600"),
                ("end", "1714528800000000000"),
                ("limit", "50"),
                ("direction", "FORWARD"),
            ],
        ),
        r(
            "range_metric",
            "/loki/api/v1/query_range",
            &[
                ("query", "sum by (job) (count_over_time({job=~\".+\"}[5m]))"),
                ("start", s0),
                ("end", e0),
                ("step", "300"),
            ],
        ),
        r(
            "range_metric_step_duration",
            "/loki/api/v1/query_range",
            &[
                ("query", "rate({job=\"kafka\"}[1m])"),
                ("start", s0),
                ("end", e0),
                ("step", "10m"),
            ],
        ),
        // Endpoint: /loki/api/v1/query (instant).
        r(
            "instant",
            "/loki/api/v1/query",
            &[
                (
                    "query",
                    "sum by (level) (count_over_time({job=\"kafka\"}[1h]))",
                ),
                ("time", "2024-05-01T01:00:00Z"),
            ],
        ),
        // Endpoint: /loki/api/v1/labels and /label/NAME/values.
        r(
            "labels",
            "/loki/api/v1/labels",
            &[("start", s0), ("end", e0)],
        ),
        r(
            "label_values",
            "/loki/api/v1/label/job/values",
            &[("start", s0), ("end", e0)],
        ),
        r(
            "label_values_unknown",
            "/loki/api/v1/label/nosuch/values",
            &[("start", s0), ("end", e0)],
        ),
        // Endpoint: /loki/api/v1/series.
        r(
            "series",
            "/loki/api/v1/series",
            &[("match[]", "{job=\"kafka\"}"), ("start", s0), ("end", e0)],
        ),
        r(
            "series_two_groups",
            "/loki/api/v1/series",
            &[
                ("match[]", "{job=\"kafka\"}"),
                ("match[]", "{job=~\"zoo.*\", host=\"a\"}"),
                ("start", s0),
                ("end", e0),
            ],
        ),
        // Errors for bad queries and parameters.
        r(
            "err_parse",
            "/loki/api/v1/query_range",
            &[("query", "{job=\"kafka\""), ("start", s0), ("end", e0)],
        ),
        r(
            "err_log_instant",
            "/loki/api/v1/query",
            &[("query", "{job=\"kafka\"}"), ("time", e0)],
        ),
        r(
            "err_limit",
            "/loki/api/v1/query_range",
            &[
                ("query", "{job=\"kafka\"}"),
                ("start", s0),
                ("end", e0),
                ("limit", "0"),
            ],
        ),
        r(
            "err_limit_max",
            "/loki/api/v1/query_range",
            &[
                ("query", "{job=\"kafka\"}"),
                ("start", s0),
                ("end", e0),
                ("limit", "5000001"),
            ],
        ),
        r(
            "err_direction",
            "/loki/api/v1/query_range",
            &[
                ("query", "{job=\"kafka\"}"),
                ("start", s0),
                ("end", e0),
                ("direction", "sideways"),
            ],
        ),
        r(
            "err_order",
            "/loki/api/v1/query_range",
            &[("query", "{job=\"kafka\"}"), ("start", e0), ("end", s0)],
        ),
        r(
            "err_step",
            "/loki/api/v1/query_range",
            &[
                ("query", "rate({job=\"kafka\"}[1m])"),
                ("start", s0),
                ("end", e0),
                ("step", "0"),
            ],
        ),
        r(
            "err_start",
            "/loki/api/v1/query_range",
            &[
                ("query", "{job=\"kafka\"}"),
                ("start", "yesterday"),
                ("end", e0),
            ],
        ),
    ];
    reqs.extend([
        r(
            "err_end",
            "/loki/api/v1/labels",
            &[("start", s0), ("end", "2024-13-01T00:00:00Z")],
        ),
        r(
            "err_time",
            "/loki/api/v1/query",
            &[
                ("query", "count_over_time({job=\"kafka\"}[1m])"),
                ("time", "noon"),
            ],
        ),
        r(
            "err_since",
            "/loki/api/v1/series",
            &[("match[]", "{job=\"kafka\"}"), ("since", "1x")],
        ),
        r(
            "err_series_no_match",
            "/loki/api/v1/series",
            &[("start", s0), ("end", e0)],
        ),
        r(
            "err_series_bad_match",
            "/loki/api/v1/series",
            &[
                ("match[]", "{job=\"kafka\"} |= \"x\""),
                ("start", s0),
                ("end", e0),
            ],
        ),
        r(
            "err_tenant",
            "/loki/api/v1/labels",
            &[("start", s0), ("end", e0)],
        ),
        r(
            "series_empty",
            "/loki/api/v1/series",
            &[("match[]", "{job=\"nosuch\"}"), ("start", s0), ("end", e0)],
        ),
        r(
            "labels_empty",
            "/loki/api/v1/labels",
            &[
                ("start", "2020-01-01T00:00:00Z"),
                ("end", "2020-01-02T00:00:00Z"),
            ],
        ),
        r(
            "range_log_float_times",
            "/loki/api/v1/query_range",
            &[
                ("query", "{job=\"kafka\"} |= \"INFO\""),
                ("start", "1714521600.5"),
                ("end", "1714525200.25"),
                ("limit", "20"),
            ],
        ),
        r(
            "range_log_empty",
            "/loki/api/v1/query_range",
            &[("query", "{job=\"nosuch\"}"), ("start", s0), ("end", e0)],
        ),
    ]);
    // Endpoint: /loki/api/v1/index/stats, /index/volume, /index/volume_range.
    let all = "{job=~\".+\"}";
    let win = [("start", s0), ("end", e0)];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut f = vec![("query", all)];
        f.extend_from_slice(&win);
        f.extend_from_slice(extra);
        f
    };
    reqs.extend([
        r("stats_all", "/loki/api/v1/index/stats", &with(&[])),
        r(
            "stats_one",
            "/loki/api/v1/index/stats",
            &[("query", "{job=\"kafka\", host=\"a\"}"), win[0], win[1]],
        ),
        r(
            "stats_none",
            "/loki/api/v1/index/stats",
            &[("query", "{job=\"nosuch\"}"), win[0], win[1]],
        ),
        r("volume", "/loki/api/v1/index/volume", &with(&[])),
        r(
            "volume_target",
            "/loki/api/v1/index/volume",
            &with(&[("targetLabels", "host")]),
        ),
        r(
            "volume_labels",
            "/loki/api/v1/index/volume",
            &with(&[("aggregateBy", "labels")]),
        ),
        r(
            "volume_limit",
            "/loki/api/v1/index/volume",
            &with(&[("limit", "3")]),
        ),
        r(
            "volume_range",
            "/loki/api/v1/index/volume_range",
            &with(&[("step", "600")]),
        ),
        r(
            "err_volume_pipeline",
            "/loki/api/v1/index/volume",
            &[("query", "{job=\"kafka\"} |= \"x\""), win[0], win[1]],
        ),
        r(
            "err_stats_metric",
            "/loki/api/v1/index/stats",
            &[("query", "rate({job=\"kafka\"}[1m])"), win[0], win[1]],
        ),
        r(
            "err_stats_parse",
            "/loki/api/v1/index/stats",
            &[("query", "{job"), win[0], win[1]],
        ),
        r(
            "err_volume_aggregate",
            "/loki/api/v1/index/volume",
            &with(&[("aggregateBy", "pods")]),
        ),
    ]);
    // What Grafana's data source asks besides: its health check, the
    // query formatter, the label browser's cardinalities, patterns.
    reqs.extend([
        r(
            "grafana_health",
            "/loki/api/v1/query",
            &[("query", "vector(1)+vector(1)"), ("time", "4")],
        ),
        r(
            "format_query",
            "/loki/api/v1/format_query",
            &[(
                "query",
                "sum by (job)(rate({job=\"kafka\"}|=\"error\"|json[5m]))",
            )],
        ),
        r(
            "format_query_log",
            "/loki/api/v1/format_query",
            &[(
                "query",
                "{job=\"kafka\",host=~\"a|b\"}|logfmt|level=\"info\"",
            )],
        ),
        r(
            "err_format_query",
            "/loki/api/v1/format_query",
            &[("query", "{job")],
        ),
        r(
            "detected_labels",
            "/loki/api/v1/detected_labels",
            &[("query", "{job=~\"zoo.*\"}"), win[0], win[1]],
        ),
        r(
            "detected_labels_all",
            "/loki/api/v1/detected_labels",
            &[win[0], win[1]],
        ),
        r(
            "detected_fields",
            "/loki/api/v1/detected_fields",
            &[("query", "{job=\"nginxplus_status_json\"}"), win[0], win[1]],
        ),
        r(
            "detected_fields_all",
            "/loki/api/v1/detected_fields",
            &[("query", "{job=~\".+\"}"), win[0], win[1]],
        ),
        r("drilldown_limits", "/loki/api/v1/drilldown-limits", &[]),
        r(
            "patterns",
            "/loki/api/v1/patterns",
            &[("query", "{job=\"kafka\"}"), win[0], win[1]],
        ),
    ]);
    let mut post = r(
        "series_post",
        "/loki/api/v1/series",
        &[("match[]", "{job=\"kafka\"}"), ("start", s0), ("end", e0)],
    );
    post.post = true;
    reqs.push(post);
    for q in reqs.iter_mut().filter(|q| q.name == "err_tenant") {
        q.tenant = Some("a/b");
    }
    // The test Loki answers drilldown-limits only with an org id.
    for q in reqs.iter_mut().filter(|q| q.name == "drilldown_limits") {
        q.tenant = Some("fake");
    }

    let mut problems = Vec::new();
    for q in &reqs {
        let theirs = send(&a, &loki.addr, q);
        let ours = send(&a, &s.addr, q);
        if let Some((_, why)) = DIFFERENCES.iter().find(|(n, _)| *n == q.name) {
            eprintln!("{}: differs on purpose: {why}", q.name);
            continue;
        }
        if theirs.0 != ours.0 {
            problems.push(format!(
                "{}: status {} (Loki {})\n  ours:  {}\n  Loki's: {}",
                q.name,
                ours.0,
                theirs.0,
                ours.1.trim(),
                theirs.1.trim()
            ));
            continue;
        }
        if theirs.0 != 200 {
            if theirs.1 != ours.1 {
                problems.push(format!(
                    "{}: error body\n  ours:  {:?}\n  Loki's: {:?}",
                    q.name, ours.1, theirs.1
                ));
            }
            continue;
        }
        if theirs.1.ends_with('\n') != ours.1.ends_with('\n') {
            problems.push(format!("{}: a newline after the body in one only", q.name));
        }
        let (t, o) = (json(&theirs.1, "Loki"), json(&ours.1, "lokal serve"));
        let query = q
            .form
            .iter()
            .find(|(k, _)| *k == "query")
            .map(|(_, v)| v.as_str());
        let raw = q.path.ends_with("/format_query") || q.path.ends_with("/patterns");
        let same = match query {
            Some(_) if q.path.contains("/index/") => compare_index(&q.path, &t, &o),
            _ if q.path.ends_with("/detected_fields") => {
                same_after(&t, &o, |v| sorted_at(v, "/fields"))
            }
            _ if q.path.ends_with("/detected_labels") => {
                same_after(&t, &o, |v| sorted_at(v, "/detectedLabels"))
            }
            // lokal takes no OTLP: its otlp_config is empty.
            _ if q.path.ends_with("/drilldown-limits") => same_after(&t, &o, |v| {
                let mut v = v.clone();
                v["limits"]["otlp_config"] = Value::Null;
                v
            }),
            None if q.path.ends_with("/series") => same_after(&t, &o, |v| sorted_at(v, "/data")),
            Some(query) if !raw => diff::compare(&t, &o, query),
            _ => {
                if theirs.1 == ours.1 {
                    Ok(())
                } else {
                    Err(format!("ours {}\n  Loki's {}", ours.1, theirs.1))
                }
            }
        };
        if let Err(e) = same {
            problems.push(format!("{}: {e}", q.name));
        }
    }
    // Endpoint: /loki/api/v1/push, good and bad bodies (after the queries:
    // what is stored is outside their range).
    let pushes = pushes();
    for (name, headers, body) in &pushes {
        let theirs = crate::serve_push::post(&loki.addr, headers, body);
        let ours = crate::serve_push::post(&s.addr, headers, body);
        // Loki lists grouped problems in a Go map's order, which changes
        // from one request to the next: compare them as a set.
        let grouped = |t: &str| {
            let mut parts: Vec<String> = t.trim_end().split("; ").map(str::to_string).collect();
            parts.sort();
            parts
        };
        if theirs.0 != ours.0 || grouped(&theirs.1) != grouped(&ours.1) {
            let cut = |t: &str| t.chars().take(300).collect::<String>();
            problems.push(format!(
                "{name}: ours {} {:?}\n  Loki's {} {:?}",
                ours.0,
                cut(&ours.1),
                theirs.0,
                cut(&theirs.1)
            ));
        }
    }
    // The real logcli against both.
    problems.extend(crate::serve_logcli::compare(
        &loki_dir,
        env.path(),
        &loki.addr,
        &s.addr,
    ));
    assert!(
        problems.is_empty(),
        "{} of {} requests differ from Loki:\n{}",
        problems.len(),
        reqs.len() + pushes.len(),
        problems.join("\n")
    );
    let (status, err) = s.stop();
    assert!(status.success(), "{status}: {err}");
}

/// `v` with the array at `pointer` sorted: Loki lists series, detected
/// labels and fields in no fixed order.
fn sorted_at(v: &Value, pointer: &str) -> Value {
    let mut v = v.clone();
    if let Some(Value::Array(a)) = v.pointer_mut(pointer) {
        a.sort_by_key(|x| x.to_string());
    }
    v
}

/// Whether Loki's and lokal's bodies agree once `norm` has been applied.
fn same_after(t: &Value, o: &Value, norm: impl Fn(&Value) -> Value) -> Result<(), String> {
    if norm(t) == norm(o) {
        Ok(())
    } else {
        Err(format!("ours {o}\n  Loki's {t}"))
    }
}

/// `/index/stats` and `/index/volume*` beside Loki's: the same streams and
/// entries, the same groups (in order for a vector); bytes differ on
/// purpose (Loki's index keeps a chunk's size in kilobytes and counts a
/// chunk whole once it overlaps the range; lokal counts the lines' bytes),
/// so volumes are compared by their groups, not their values.
fn compare_index(path: &str, t: &Value, o: &Value) -> Result<(), String> {
    let fail = || Err(format!("ours {o}\n  Loki's {t}"));
    if path.ends_with("/stats") {
        if t["streams"] != o["streams"] || t["entries"] != o["entries"] {
            return fail();
        }
        if (t["bytes"].as_u64() == Some(0)) != (o["bytes"].as_u64() == Some(0)) {
            return fail();
        }
        return Ok(());
    }
    let metrics = |v: &Value| -> Vec<Value> {
        let mut m: Vec<Value> = v["data"]["result"]
            .as_array()
            .map(|r| r.iter().map(|x| x["metric"].clone()).collect())
            .unwrap_or_default();
        if path.ends_with("_range") {
            m.sort_by_key(|x| x.to_string());
        }
        m
    };
    if t["data"]["resultType"] != o["data"]["resultType"] || metrics(t) != metrics(o) {
        return fail();
    }
    Ok(())
}

/// Push bodies sent to Loki and to `lokal serve`, which must answer with
/// the same status and text: name, headers, body. Not among them, as they
/// differ on purpose: label names starting with `__` and quoted UTF-8 names
/// (`{"a.b"="x"}`), which Loki stores and lokal refuses as `lokal ingest`
/// does; a JSON body that is not JSON (Loki quotes its jsoniter decoder,
/// lokal names the byte and what it expected); structured metadata names,
/// which Loki rewrites into Prometheus names (`1b` to `key_1b`) and lokal
/// keeps as sent.
type Push = (&'static str, Vec<(&'static str, &'static str)>, Vec<u8>);

fn pushes() -> Vec<Push> {
    use lokal::loki::push::{encode, EntryAdapter, PushRequest, StreamAdapter, Timestamp};
    const T: i64 = 1_717_200_000_000_000_000; // 2024-06-01, outside the dataset
    let proto = |labels: &str| {
        encode(&PushRequest {
            streams: vec![StreamAdapter {
                labels: labels.to_string(),
                entries: vec![EntryAdapter {
                    timestamp: Some(Timestamp::from_nanos(T)),
                    line: b"x".to_vec(),
                    structured_metadata: vec![],
                }],
                hash: 0,
            }],
        })
    };
    let json = |stream: &str, values: &str| {
        format!(r#"{{"streams":[{{"stream":{stream},"values":{values}}}]}}"#).into_bytes()
    };
    let one = format!(r#"[["{T}","x"]]"#);
    let j = vec![("Content-Type", "application/json")];
    let p = vec![("Content-Type", "application/x-protobuf")];
    let gzip = |b: &[u8]| {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, b).unwrap();
        gz.finish().unwrap()
    };
    let many: Vec<String> = (1..=101).map(|i| format!(r#""l{i}":"v""#)).collect();
    let far = "4000000000000000000";
    vec![
        ("push_json", j.clone(), json(r#"{"job":"pushed","a":"1"}"#, &one)),
        ("push_proto", p.clone(), proto(r#"{job="pushed", b="2"}"#)),
        ("push_proto_no_type", vec![], proto(r#"{job="pushed", b="3"}"#)),
        (
            "push_gzip",
            vec![("Content-Type", "application/json"), ("Content-Encoding", "gzip")],
            gzip(&json(r#"{"job":"pushed","c":"1"}"#, &one)),
        ),
        (
            "push_legacy",
            j.clone(),
            br#"{"streams":[{"labels":"{job=\"pushed\", e=\"1\"}","entries":[{"ts":"2024-06-01T00:00:00Z","line":"x"}]}]}"#.to_vec(),
        ),
        ("push_bad_name", j.clone(), json(r#"{"1job":"t"}"#, &one)),
        ("push_parse_dash", p.clone(), proto(r#"{jo-b="t"}"#)),
        ("push_parse_unquoted", p.clone(), proto("{job=t}")),
        ("push_parse_eof", p.clone(), proto(r#"{job="t""#)),
        ("push_parse_no_brace", p.clone(), proto(r#"job="t""#)),
        ("push_parse_op", p.clone(), proto(r#"{job!="t"}"#)),
        ("push_no_labels", p.clone(), proto("{}")),
        ("push_only_empty_value", j.clone(), json(r#"{"job":""}"#, &one)),
        ("push_no_stream", j.clone(), br#"{"streams":[{"values":[["1","x"]]}]}"#.to_vec()),
        ("push_no_streams", j.clone(), br#"{"streams":[]}"#.to_vec()),
        ("push_empty_body", j.clone(), Vec::new()),
        ("push_bad_snappy", p.clone(), b"garbage".to_vec()),
        ("push_text_type", vec![("Content-Type", "text/plain")], b"{}".to_vec()),
        ("push_br", vec![("Content-Type", "application/json"), ("Content-Encoding", "br")], b"{}".to_vec()),
        (
            "push_gzip_bad",
            vec![("Content-Type", "application/json"), ("Content-Encoding", "gzip")],
            b"{}".to_vec(),
        ),
        ("push_bad_mime", vec![("Content-Type", "application/json;;;")], b"{}".to_vec()),
        (
            "push_long_value",
            j.clone(),
            json(&format!(r#"{{"job":"{}"}}"#, "v".repeat(2049)), &one),
        ),
        ("push_duplicate", p.clone(), proto(r#"{job="t", job="u"}"#)),
        (
            "push_too_many_labels",
            j.clone(),
            json(&format!("{{{}}}", many.join(",")), &one),
        ),
        ("push_too_new", j.clone(), json(r#"{"job":"pushed"}"#, &format!(r#"[["{far}","x"]]"#))),
        (
            "push_mixed",
            j.clone(),
            format!(
                r#"{{"streams":[{{"stream":{{"job":"pushed","d":"1"}},"values":[["{far}","x"],["{T}","kept"],["{far}","y"],["4100000000000000000","z"]]}},{{"stream":{{"job":"{}"}},"values":{one}}}]}}"#,
                "w".repeat(3000)
            )
            .into_bytes(),
        ),
    ]
}
