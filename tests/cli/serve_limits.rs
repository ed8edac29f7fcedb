//! `lokal serve`'s access and query limits: basic auth and bearer tokens
//! (from a flag's file and the environment), checked before a body is
//! read, `/ready` left open, and lokal's own client (`--addr` with
//! credentials, `lokal push --username`) getting through; Loki's answers
//! for a `limit` over `max_entries_limit_per_query`, a metric answer over
//! `max_query_series` and a query past `query_timeout`.
use base64::Engine;

use crate::common::*;
use crate::serve::{agent, Serve};

fn get(addr: &str, path: &str, auth: Option<&str>) -> (u16, String, Option<String>) {
    let mut b = agent().get(&format!("{addr}{path}"));
    if let Some(a) = auth {
        b = b.header("Authorization", a);
    }
    let mut resp = b.call().unwrap();
    let www = resp
        .headers()
        .get("WWW-Authenticate")
        .map(|v| v.to_str().unwrap().to_string());
    (
        resp.status().as_u16(),
        resp.body_mut().read_to_string().unwrap(),
        www,
    )
}

fn small_store() -> TestEnv {
    let env = TestEnv::new();
    let log = env.write(
        "a.log",
        "2024-05-01T00:00:01Z one\n2024-05-01T00:00:02Z two\n2024-05-01T00:00:03Z three\n",
    );
    env.ingest([&log]).label("job=a").ok();
    let log = env.write("b.log", "2024-05-01T00:00:04Z four\n");
    env.ingest([&log]).label("job=b").ok();
    env
}

#[test]
fn serve_asks_for_credentials_when_given_some() {
    let env = small_store();
    let pass = env.write("basic", "alice:s3cret pw\n");
    let mut cmd = env.std_command();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--basic-auth-file"])
        .arg(&pass)
        .env("LOKAL_SERVE_BEARER_TOKEN", "tok-123");
    let s = Serve::spawn(cmd);
    let labels = "/loki/api/v1/labels?start=2024-05-01T00:00:00Z&end=2024-05-02T00:00:00Z";

    let (code, body, www) = get(&s.addr, labels, None);
    assert_eq!((code, body.as_str()), (401, "Unauthorized\n"));
    assert_eq!(www.as_deref(), Some("Basic realm=\"lokal\""));
    assert_eq!(get(&s.addr, labels, Some("Bearer tok-12")).0, 401);
    let wrong = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
    assert_eq!(get(&s.addr, labels, Some(&format!("Basic {wrong}"))).0, 401);
    let right = base64::engine::general_purpose::STANDARD.encode("alice:s3cret pw");
    let ok = get(&s.addr, labels, Some(&format!("Basic {right}")));
    assert_eq!(
        (ok.0, ok.1.as_str()),
        (
            200,
            "{\"status\":\"success\",\"data\":[\"filename\",\"job\"]}\n"
        )
    );
    assert_eq!(get(&s.addr, labels, Some("Bearer tok-123")).0, 200);
    // Health probes need no credentials.
    assert_eq!(get(&s.addr, "/ready", None).0, 200);
    // A push without credentials is refused before its body is read.
    let (code, _) =
        crate::serve_push::post(&s.addr, &[("Content-Type", "application/json")], b"{}");
    assert_eq!(code, 401);

    // lokal's own client with credentials, as with a Loki behind a proxy.
    let values = [
        "labels",
        "job",
        "--from",
        "2024-05-01T00:00:00Z",
        "--to",
        "2024-05-02T00:00:00Z",
    ];
    let local = env.cmd(values).stdout();
    let remote = env
        .cmd(values)
        .args(["--addr", &s.addr, "--bearer-token", "tok-123"])
        .stdout();
    assert_eq!(remote, local);
    let denied = env
        .cmd([
            "labels",
            "job",
            "--from",
            "2024-05-01T00:00:00Z",
            "--addr",
            &s.addr,
        ])
        .run();
    assert_ne!(denied.code, Some(0));
    let src = TestEnv::new();
    let f = src.write("x.log", "2024-05-02T00:00:00Z pushed\n");
    src.ingest([&f]).label("job=pushed").ok();
    src.cmd([
        "push",
        "--addr",
        &s.addr,
        "--username",
        "alice",
        "--password",
        "s3cret pw",
        "-q",
    ])
    .assert_code(0);
    let (status, err) = s.stop();
    assert!(status.success(), "{status}: {err}");
    assert!(env
        .dump()
        .iter()
        .any(|d| d.line == b"2024-05-02T00:00:00Z pushed"));
}

#[test]
fn serve_answers_lokis_limit_errors() {
    let env = small_store();
    let s = Serve::start(
        &env,
        &[
            "--max-entries-limit-per-query",
            "10",
            "--max-query-series",
            "1",
        ],
    );
    let range = "start=2024-05-01T00:00:00Z&end=2024-05-02T00:00:00Z";
    let q = |query: &str| {
        let mut u = url_query(query);
        u.push('&');
        u.push_str(range);
        u
    };
    let (code, body, _) = get(
        &s.addr,
        &format!("/loki/api/v1/query_range?{}&limit=11", q("{job=\"a\"}")),
        None,
    );
    assert_eq!(
        (code, body.as_str()),
        (
            400,
            "max entries limit per query exceeded, limit > max_entries_limit_per_query (11 > 10)"
        )
    );
    assert_eq!(
        get(
            &s.addr,
            &format!("/loki/api/v1/query_range?{}&limit=10", q("{job=\"a\"}")),
            None
        )
        .0,
        200
    );
    let (code, body, _) = get(
        &s.addr,
        &format!(
            "/loki/api/v1/query_range?{}&step=60",
            q("count_over_time({job=~\".+\"}[1m])")
        ),
        None,
    );
    assert_eq!(code, 400);
    assert!(
        body.starts_with("maximum number of series (1) reached for a single query;"),
        "{body}"
    );
    let one = get(
        &s.addr,
        &format!(
            "/loki/api/v1/query_range?{}&step=60",
            q("sum(count_over_time({job=~\".+\"}[1m]))")
        ),
        None,
    );
    assert_eq!(one.0, 200, "{}", one.1);
    s.stop();

    // A query past its time: Loki's 504 and text, the server still answering.
    let s = Serve::start(&env, &["--query-timeout", "1ns"]);
    let (code, body, _) = get(
        &s.addr,
        &format!("/loki/api/v1/query_range?{}", q("{job=\"a\"}")),
        None,
    );
    assert_eq!(
        (code, body.as_str()),
        (504, "request timed out, decrease the duration of the request or add more label matchers (prefer exact match over regex match) to reduce the amount of data processed\n")
    );
    assert_eq!(get(&s.addr, "/ready", None).0, 200);
    let (status, err) = s.stop();
    assert!(status.success(), "{status}: {err}");
}

/// `query=…` percent-encoded.
fn url_query(q: &str) -> String {
    let mut out = String::from("query=");
    for b in q.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
