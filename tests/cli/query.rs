//! `lokal query` / `instant-query` end to end, with snapshots of each output format.
use std::fs;
use std::path::Path;

use crate::common::*;

/// A small deterministic store: two services, timestamps in 2024-01-01.
fn fixture(dir: &Path) -> std::path::PathBuf {
    let store = dir.join("store");
    let api = dir.join("api.log");
    fs::write(
        &api,
        concat!(
            r#"{"ts":"2024-01-01T00:00:01Z","level":"info","msg":"GET /a","status":200}"#,
            "\n",
            r#"{"ts":"2024-01-01T00:00:02Z","level":"error","msg":"GET /b","status":500}"#,
            "\n",
            r#"{"ts":"2024-01-01T00:00:03Z","level":"info","msg":"POST /c","status":201}"#,
            "\n",
        ),
    )
    .unwrap();
    let web = dir.join("web.log");
    fs::write(
        &web,
        "2024-01-01T00:00:02Z level=warn msg=\"slow GET\" duration=1.5s\n2024-01-01T00:00:04Z level=info msg=\"GET ok\" duration=20ms\n",
    )
    .unwrap();
    ok(lokal(&store)
        .args([
            "ingest",
            "-q",
            "--no-filename-label",
            "-l",
            "job=api",
            "-l",
            "env=prod",
        ])
        .arg(&api));
    ok(lokal(&store)
        .args([
            "ingest",
            "-q",
            "--no-filename-label",
            "-l",
            "job=web",
            "-l",
            "env=prod",
        ])
        .arg(&web));
    store
}

fn run(store: &Path, args: &[&str]) -> (i32, String, String) {
    let out = lokal(store).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn default_output_is_logcli_s() {
    let dir = tempfile::tempdir().unwrap();
    let store = fixture(dir.path());
    let (code, out, err) = run(&store, &["query", "-z", "UTC", r#"{env="prod"} |= "GET""#]);
    assert_eq!(code, 0);
    assert_eq!(err, "Common labels: {env=\"prod\"}\n");
    insta::assert_snapshot!("default_output", out);
}

#[test]
fn raw_jsonl_and_forward() {
    let dir = tempfile::tempdir().unwrap();
    let store = fixture(dir.path());
    let (_, raw, _) = run(
        &store,
        &[
            "query",
            "-o",
            "raw",
            "--forward",
            "--limit",
            "3",
            r#"{env="prod"}"#,
        ],
    );
    insta::assert_snapshot!("raw_forward_limit3", raw);
    let (_, jsonl, _) = run(
        &store,
        &[
            "query",
            "-o",
            "jsonl",
            "-z",
            "UTC",
            "--limit",
            "2",
            r#"{job="web"}"#,
        ],
    );
    insta::assert_snapshot!("jsonl", jsonl);
}

#[test]
fn json_output_has_loki_api_shape() {
    let dir = tempfile::tempdir().unwrap();
    let store = fixture(dir.path());
    let (_, out, _) = run(&store, &["query", "-o", "json", r#"{job="api"} |= "GET""#]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["status"], "success");
    assert_eq!(v["data"]["resultType"], "streams");
    let r = &v["data"]["result"][0];
    assert_eq!(
        r["stream"],
        serde_json::json!({"env": "prod", "job": "api"})
    );
    assert_eq!(r["values"][0][0], "1704067202000000000");
    assert_eq!(r["values"].as_array().unwrap().len(), 2);
}

#[test]
fn time_range_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let store = fixture(dir.path());
    // --from inclusive, --to exclusive, as logcli.
    let (code, out, _) = run(
        &store,
        &[
            "query",
            "-o",
            "raw",
            "--from",
            "2024-01-01T00:00:02Z",
            "--to",
            "2024-01-01T00:00:03Z",
            r#"{env="prod"}"#,
        ],
    );
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 2);
    let (code, _, _) = run(&store, &["query", r#"{env="prod"} |= "nothing like this""#]);
    assert_eq!(code, 1, "no match exits 1");
    let (code, _, err) = run(&store, &["query", r#"{env="prod"} |= "#]);
    assert_eq!(code, 2);
    assert!(err.contains("parse error at line 1, col"), "{err}");
}

#[test]
fn metric_queries_agree_with_grep() {
    let Some(shared) = shared() else { return };
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let f = shared.join("data/real/nginx_access.log");
    ok(lokal(&store)
        .args(["ingest", "-q", "-l", "job=nginx"])
        .arg(&f));
    let text = fs::read_to_string(&f).unwrap();
    let want = text.lines().filter(|l| l.contains("POST")).count();
    let (_, raw, _) = run(
        &store,
        &[
            "query",
            "--limit",
            "0",
            "-o",
            "raw",
            r#"{job="nginx"} |= "POST""#,
        ],
    );
    assert_eq!(raw.lines().count(), want);
    // One window covering the whole file.
    let (code, out, err) = run(
        &store,
        &[
            "instant-query",
            "-o",
            "json",
            "--now",
            "2024-10-05T00:00:00Z",
            r#"sum(count_over_time({job="nginx"} |= "POST" [2d]))"#,
        ],
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["data"]["resultType"], "vector");
    assert_eq!(v["data"]["result"][0]["value"][1], want.to_string());
    assert_eq!(v["data"]["result"][0]["value"][0], 1728086400);
}

#[test]
fn instant_query_table_and_matrix_table() {
    let dir = tempfile::tempdir().unwrap();
    let store = fixture(dir.path());
    let (_, out, _) = run(
        &store,
        &[
            "instant-query",
            "-z",
            "UTC",
            "--now",
            "2024-01-01T00:01:00Z",
            "sum by (job) (count_over_time({env=\"prod\"}[1m]))",
        ],
    );
    insta::assert_snapshot!("instant_table", out);
    let (_, out, _) = run(
        &store,
        &[
            "query",
            "-z",
            "UTC",
            "--from",
            "2024-01-01T00:00:00Z",
            "--to",
            "2024-01-01T00:00:05Z",
            "--step",
            "2s",
            "count_over_time({env=\"prod\"}[2s])",
        ],
    );
    insta::assert_snapshot!("matrix_table", out);
    let (code, _, err) = run(&store, &["instant-query", r#"{env="prod"}"#]);
    assert_eq!(code, 2);
    assert!(err.contains("log queries are not supported as an instant query type"));
}

#[test]
fn stdin_queries_have_real_time_and_labels() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = lokal(&dir.path().join("unused"))
        .args([
            "query", "--stdin", "-l", "app=x", "-z", "UTC", "-o", "jsonl", "|= \"b\"",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"2024-02-03T04:05:06Z a\n2024-02-03T04:05:07Z b\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "{\"labels\":{\"app\":\"x\"},\"line\":\"2024-02-03T04:05:07Z b\",\"timestamp\":\"2024-02-03T04:05:07Z\"}\n"
    );
}

#[test]
fn labels_and_series_come_from_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = fixture(dir.path());
    let (_, out, _) = run(&store, &["labels"]);
    assert_eq!(out, "env\njob\n");
    let (_, out, _) = run(&store, &["labels", "job"]);
    assert_eq!(out, "api\nweb\n");
    let (_, out, _) = run(&store, &["series", "{}"]);
    assert_eq!(
        out,
        "{env=\"prod\", job=\"api\"}\n{env=\"prod\", job=\"web\"}\n"
    );
    let (_, out, _) = run(&store, &["series", r#"{job="web"}"#]);
    assert_eq!(out, "{env=\"prod\", job=\"web\"}\n");
    let (_, out, _) = run(&store, &["series", "--analyze-labels", r#"{env="prod"}"#]);
    insta::assert_snapshot!("analyze_labels", out);
    // The same answers without any index (footers only).
    fs::remove_dir_all(store.join("fake/index")).unwrap();
    let (_, out, _) = run(&store, &["labels", "job"]);
    assert_eq!(out, "api\nweb\n");
}

/// The block-level prefilter for `| json | name="value"` must never drop a
/// line the pipeline would keep: escaped values and keys, stream labels and
/// a regex twin (not prefiltered) must all agree.
#[test]
fn parsed_label_prefilter_keeps_every_match() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let f = dir.path().join("j.log");
    fs::write(
        &f,
        concat!(
            r#"{"ts":"2024-01-01T00:00:01Z","level":"error"}"#,
            "\n",
            r#"{"ts":"2024-01-01T00:00:02Z","level":"err\u006fr"}"#,
            "\n",
            r#"{"ts":"2024-01-01T00:00:03Z","level":"info","msg":"error"}"#,
            "\n",
            r#"{"ts":"2024-01-01T00:00:04Z","lev\u0065l":"error"}"#,
            "\n",
            r#"{"ts":"2024-01-01T00:00:05Z","level":"warn"}"#,
            "\n",
        ),
    )
    .unwrap();
    ok(lokal(&store)
        .args(["ingest", "-q", "--no-filename-label", "-l", "job=t"])
        .arg(&f));
    let g = dir.path().join("g.log");
    fs::write(&g, "{\"ts\":\"2024-01-01T00:00:06Z\",\"msg\":\"x\"}\n").unwrap();
    ok(lokal(&store)
        .args([
            "ingest",
            "-q",
            "--no-filename-label",
            "-l",
            "job=t",
            "-l",
            "level=error",
        ])
        .arg(&g));
    let (_, out, _) = run(
        &store,
        &[
            "query",
            "--limit",
            "0",
            "--forward",
            "-o",
            "raw",
            r#"{job="t"} | json | level="error""#,
        ],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines[1].contains(r"err\u006fr"));
    assert!(lines[2].contains(r"lev\u0065l"));
    assert!(
        lines[3].contains("\"msg\":\"x\""),
        "the stream label level=error passes"
    );
    let (_, twin, _) = run(
        &store,
        &[
            "query",
            "--limit",
            "0",
            "--forward",
            "-o",
            "raw",
            r#"{job="t"} | json | level=~"error""#,
        ],
    );
    assert_eq!(out, twin);
    let (_, out, _) = run(
        &store,
        &[
            "instant-query",
            "--now",
            "2024-01-01T00:01:00Z",
            "-o",
            "json",
            r#"sum(count_over_time({job="t"} | json | level="error" [1m]))"#,
        ],
    );
    assert!(out.contains("\"4\""), "{out}");
}

#[test]
fn parsed_label_prefilter_agrees_on_real_json() {
    let Some(shared) = shared() else { return };
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    ok(lokal(&store)
        .args(["ingest", "-q", "-l", "job=drone"])
        .arg(shared.join("data/real/drone_json.log")));
    for level in ["info", "debug", "error", "warning"] {
        let q = |op: &str| format!(r#"{{job="drone"}} | json | level{op}"{level}""#);
        let (_, eq, _) = run(&store, &["query", "--limit", "0", "-o", "raw", &q("=")]);
        let (_, re, _) = run(&store, &["query", "--limit", "0", "-o", "raw", &q("=~")]);
        assert_eq!(eq, re, "level={level}");
    }
}

#[test]
fn an_empty_store_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = run(&dir.path().join("nothing-here"), &["query", r#"{job="x"}"#]);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(err.contains("no data for tenant \"fake\""), "{err}");
    let (_, _, err) = run(
        &dir.path().join("nothing-here"),
        &["query", "-q", r#"{job="x"}"#],
    );
    assert!(err.is_empty(), "--quiet silences the hint: {err}");
}
