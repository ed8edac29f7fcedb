//! `lokal ingest --config promtail.yaml`: promtail configs from Loki's docs
//! and promtail's own tests (`tests/fixtures/promtail/`, run unchanged from a
//! copy of their directory, so their relative `__path__`s resolve there)
//! store the labels, lines and times promtail gives; re-runs read only what
//! was appended; unsupported keys fail with file, line and key.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use crate::testenv::{Run, TestEnv};

/// One stored entry: labels (with structured metadata, as queries return
/// them), RFC 3339 time, line.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Got {
    labels: BTreeMap<String, String>,
    ts: String,
    line: String,
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// A test environment holding a copy of `tests/fixtures/promtail/<name>`.
fn fixture(name: &str) -> TestEnv {
    let env = TestEnv::new();
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/promtail")
        .join(name);
    copy_dir(&src, env.path());
    env
}

fn ingest(env: &TestEnv, extra: &[&str]) -> Run {
    let mut c = env.cmd(["ingest", "--config", "promtail.yaml", "-o", "json"]);
    c.args(extra).current_dir(env.path());
    c.run()
}

/// The entries a selector matches, oldest first, as logcli's jsonl records
/// with every label (the common ones too).
fn records(env: &TestEnv, selector: &str) -> Vec<serde_json::Value> {
    env.ok([
        "query",
        selector,
        "--limit",
        "0",
        "--forward",
        "--include-common-labels",
        "-o",
        "jsonl",
    ])
    .lines()
    .map(|l| serde_json::from_str(l).unwrap())
    .collect()
}

/// Every stored entry, oldest first.
fn stored(env: &TestEnv) -> Vec<Got> {
    records(env, r#"{filename=~".+"}"#)
        .into_iter()
        .map(|v| Got {
            labels: v["labels"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect(),
            ts: v["timestamp"].as_str().unwrap().to_string(),
            line: v["line"].as_str().unwrap().to_string(),
        })
        .collect()
}

fn got(labels: &[(&str, &str)], ts: &str, line: &str) -> Got {
    Got {
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ts: ts.into(),
        line: line.into(),
    }
}

fn file(env: &TestEnv, rel: &str) -> String {
    env.path().join(rel).display().to_string()
}

#[test]
fn multistage_pipeline_of_promtails_tests() {
    let env = fixture("multistage");
    let r = ingest(&env, &[]).assert_code(0).json();
    // dropped.log is excluded from the first target and read by the second,
    // whose match="false" entries `action: drop` drops, counted by reason.
    assert_eq!(
        (r["files"].as_u64(), r["lines_read"].as_u64()),
        (Some(2), Some(3)),
        "{r}"
    );
    assert_eq!(r["dropped"]["match_stage"], 1, "{r}");
    assert_eq!(r["entries_stored"], 2, "{r}");
    let f = file(&env, "logs/frontend.log");
    let base = |extra: &[(&'static str, &'static str)]| {
        let mut l = vec![
            ("filename", f.as_str()),
            ("job", "web"),
            ("match", "true"),
            ("service", "frontend"),
        ];
        l.extend_from_slice(extra);
        l
    };
    assert_eq!(
        stored(&env),
        [
            got(
                &base(&[
                    ("action", "GET"),
                    ("status_code", "200"),
                    ("stream", "stderr")
                ]),
                "2000-01-25T19:00:01Z",
                r#"11.11.11.11 - frank [25/Jan/2000:14:00:01 -0500] "GET /1986.js HTTP/1.1" 200 932 "-" "Mozilla/5.0 (Windows; U; Windows NT 5.1; de; rv:1.9.1.7) Gecko/20091221 Firefox/3.5.7 GTB6""#
            ),
            got(
                &base(&[
                    ("action", "POST"),
                    ("status_code", "503"),
                    ("stream", "stdout")
                ]),
                "2000-01-25T19:00:02Z",
                r#"22.22.22.22 - anna [25/Jan/2000:14:00:02 -0500] "POST /api HTTP/1.1" 503 12 "-" "curl/8.0""#
            ),
        ]
    );
    // A second run finds nothing new.
    let r = ingest(&env, &[]).assert_code(0).json();
    assert_eq!(r["lines_read"], 0, "{r}");
}

#[test]
fn multiline_example_of_the_docs() {
    let env = fixture("flask");
    let stderr = ingest(&env, &[]).assert_code(0).stderr;
    // positions is accepted and explained once.
    assert_eq!(
        stderr
            .matches("positions: lokal keeps read positions")
            .count(),
        1,
        "{stderr}"
    );
    let all = stored(&env);
    let lines: Vec<(&str, &str)> = all
        .iter()
        .map(|g| (g.ts.as_str(), g.line.as_str()))
        .collect();
    let text = std::fs::read_to_string(env.path().join("flask.log")).unwrap();
    let traceback: Vec<&str> = text.lines().skip(1).take(17).collect();
    assert!(traceback[16].starts_with("Exception: Sorry"));
    // Berlin is UTC+1 in December.
    assert_eq!(
        lines,
        [
            (
                "2020-12-03T10:36:20Z",
                r#"[2020-12-03 11:36:20] "GET /hello HTTP/1.1" 200 -"#
            ),
            ("2020-12-03T10:36:23Z", traceback.join("\n").as_str()),
            (
                "2020-12-03T10:36:23Z",
                r#"[2020-12-03 11:36:23] "GET /error HTTP/1.1" 500 -"#
            ),
            (
                "2020-12-03T10:36:26Z",
                r#"[2020-12-03 11:36:26] "GET /hello HTTP/1.1" 200 -"#
            ),
            (
                "2020-12-03T10:36:27Z",
                r#"[2020-12-03 11:36:27] "GET /hello HTTP/1.1" 200 -"#
            ),
        ]
    );
    assert_eq!(
        all[0].labels,
        got(
            &[("filename", &file(&env, "flask.log")), ("job", "flask")],
            "",
            ""
        )
        .labels
    );

    // Appended lines: a re-run reads only them, and an entry still being
    // joined at the end of the file is stored with the run (nothing is held
    // past a commit), so nothing is lost or doubled.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(env.path().join("flask.log"))
        .unwrap();
    std::io::Write::write_all(
        &mut f,
        b"[2020-12-03 11:36:30] ERROR again\nTraceback (most recent call last):\n",
    )
    .unwrap();
    let r = ingest(&env, &[]).assert_code(0).json();
    assert_eq!(r["lines_read"], 2, "{r}");
    assert_eq!(r["lines_joined"], 1, "{r}");
    let all = stored(&env);
    assert_eq!(all.len(), 6);
    assert_eq!(
        all[5].line,
        "[2020-12-03 11:36:30] ERROR again\nTraceback (most recent call last):"
    );
    assert_eq!(ingest(&env, &[]).assert_code(0).json()["lines_read"], 0);
}

#[test]
fn multiline_across_small_batches_loses_nothing() {
    let env = fixture("flask");
    // Batches of a few hundred bytes end in the middle of the traceback:
    // each batch's end hands out what the stage holds.
    ingest(&env, &["--batch-size", "1KB"]).assert_code(0);
    let all = stored(&env);
    let text = std::fs::read_to_string(env.path().join("flask.log")).unwrap();
    let joined: Vec<String> = all.iter().map(|g| g.line.clone()).collect();
    assert_eq!(
        joined.join("\n"),
        text.trim_end(),
        "every line stored once, in order"
    );
}

#[test]
fn pipelines_example_of_the_docs() {
    let env = fixture("pipelines");
    ingest(&env, &[]).assert_code(0);
    let p = file(&env, "logs/promtail.log");
    let n = file(&env, "logs/nginx.log");
    let j = file(&env, "logs/jaeger.log");
    let mut all = stored(&env);
    all.sort();
    let mut want = vec![
        got(
            &[
                ("component", "targetmanager"),
                ("filename", &p),
                ("level", "info"),
                ("name", "promtail"),
            ],
            "2019-04-30T02:12:41.844179Z",
            r#"level=info ts=2019-04-30T02:12:41.844179Z caller=filetargetmanager.go:180 component=targetmanager msg="Adding target""#,
        ),
        got(
            &[
                ("component", "tailer"),
                ("filename", &p),
                ("level", "warn"),
                ("name", "promtail"),
            ],
            "2019-04-30T02:12:42.5Z",
            r#"level=warn ts=2019-04-30T02:12:42.5Z caller=tailer.go:91 component=tailer msg="file rotated""#,
        ),
        // Only the GET line passes the selector's line filter.
        got(
            &[("filename", &n), ("name", "nginx")],
            "2019-04-30T02:12:41Z",
            r#" - - [30/Apr/2019:02:12:41 +0000] "GET /index.html HTTP/1.1" 200 612"#,
        ),
        got(
            &[("filename", &n), ("name", "nginx")],
            "2019-04-30T02:12:42Z",
            r#"10.0.0.2 - - [30/Apr/2019:02:12:42 +0000] "POST /login HTTP/1.1" 302 0"#,
        ),
        got(
            &[
                ("filename", &j),
                ("level", "info"),
                ("name", "jaeger-agent"),
            ],
            "2019-04-30T02:12:41.5Z",
            r#"{"level":"info","ts":1556590361.5,"msg":"Starting agent"}"#,
        ),
        got(
            &[
                ("filename", &j),
                ("level", "error"),
                ("name", "jaeger-agent"),
            ],
            "2019-04-30T02:12:42.25Z",
            r#"{"level":"error","ts":1556590362.25,"msg":"Failed to connect"}"#,
        ),
    ];
    want.sort();
    assert_eq!(all, want);
    // The dry run names each match stage by its selector.
    let mut c = env.cmd([
        "ingest",
        "--config",
        "promtail.yaml",
        "--dry-run",
        "--head",
        "1",
    ]);
    let text = c.current_dir(env.path()).stdout();
    assert!(
        text.contains(r#"    match {name="nginx"} |= "GET"  line      " - - [30/Apr"#),
        "{text}"
    );
    assert!(
        text.contains(r#"    match {name="promtail"}                  selector did not match"#),
        "{text}"
    );
}

#[test]
fn docker_and_cri_containers() {
    let env = fixture("containers");
    let r = ingest(&env, &[]).assert_code(0).json();
    assert_eq!(r["lines_read"], 7, "{r}");
    assert_eq!(r["lines_joined"], 2, "two partial lines joined: {r}");
    let d = file(&env, "logs/docker/abc123/abc123-json.log");
    let mut all = stored(&env);
    all.sort_by(|a, b| a.ts.cmp(&b.ts).then(a.line.cmp(&b.line)));
    // The pack stage removed `filename` (labelallow) so the query by
    // filename finds the docker entries only; the cri ones are read by job.
    assert_eq!(
        all,
        [
            got(
                &[
                    ("filename", &d),
                    ("job", "docker"),
                    ("level", "info"),
                    ("stream", "stdout"),
                    ("trace_id", "t-1")
                ],
                "2024-03-01T10:00:00.123456789Z",
                "listening on :8080",
            ),
            got(
                &[
                    ("filename", &d),
                    ("job", "docker"),
                    ("level", "error"),
                    ("stream", "stderr"),
                    ("trace_id", "t-2")
                ],
                "2024-03-01T10:00:01.5Z",
                "db down",
            ),
        ]
    );
    let cri = records(&env, r#"{job="cri"}"#);
    let rows: Vec<(String, String, String)> = cri
        .iter()
        .map(|v| {
            (
                v["timestamp"].as_str().unwrap().to_string(),
                serde_json::to_string(&v["labels"]).unwrap(),
                v["line"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let l = |s: &str| format!(r#"{{"job":"cri","stream":"{s}"}}"#);
    assert_eq!(
        rows,
        [
            ("2024-03-01T10:00:00.000000001Z".into(), l("stdout"), r#"{"container":"app","pod":"api-7c9","_entry":"server started"}"#.into()),
            (
                "2024-03-01T10:00:01.27Z".into(),
                l("stderr"),
                r#"{"container":"app","pod":"api-7c9","_entry":"a long line that the runtime split into three parts, joined again"}"#.into()
            ),
            ("2024-03-01T10:00:02Z".into(), l("stdout"), r#"{"container":"app","pod":"api-7c9","_entry":"bye"}"#.into()),
        ]
    );
    // `| unpack` gives back the packed labels and line, as in Loki.
    let out = env.ok([
        "query",
        r#"{job="cri"} | unpack"#,
        "--limit",
        "1",
        "-o",
        "raw",
    ]);
    assert_eq!(out.trim_end(), "bye");
}

#[test]
fn unsupported_keys_are_errors_with_file_line_and_key() {
    let env = TestEnv::new();
    env.write("app.log", "a line\n");
    env.write(
        "promtail.yaml",
        "scrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: [localhost]\n        labels: {__path__: app.log}\n    pipeline_stages:\n      - regex:\n          expresion: '(?P<x>.)'\n      - metrics:\n          c: {type: Counter}\n    kubernetes_sd_configs: []\n",
    );
    let run = ingest(&env, &[]).assert_code(2);
    let err = &run.stderr;
    assert!(
        err.contains(r#"promtail.yaml:8:11: unknown key "expresion" in a regex stage (known keys: expression, source)"#),
        "{run}"
    );
    assert!(
        err.contains(r#"promtail.yaml:9:9: stage "metrics" is not supported"#),
        "{run}"
    );
    assert!(
        err.contains(r#"promtail.yaml:11:5: "kubernetes_sd_configs" is not supported"#),
        "{run}"
    );
    assert!(
        !env.store().exists(),
        "nothing is stored from a config with errors"
    );

    // Globs that match nothing are a note; none matching at all is an error.
    env.write(
        "none.yaml",
        "scrape_configs:\n  - job_name: app\n    static_configs:\n      - labels: {__path__: 'nothing/*.log'}\n",
    );
    let mut c = env.cmd(["ingest", "--config", "none.yaml"]);
    let run = c.current_dir(env.path()).assert_code(2);
    assert!(run.stderr.contains("no file matches __path__"), "{run}");
    assert!(run.stderr.contains("no file matches any __path__"), "{run}");
    // --config replaces the inputs.
    let mut c = env.cmd(["ingest", "--config", "promtail.yaml", "app.log"]);
    c.current_dir(env.path()).assert_code(2);
}

#[test]
fn dry_run_shows_each_stage() {
    let env = fixture("containers");
    let mut c = env.cmd([
        "ingest",
        "--config",
        "promtail.yaml",
        "--dry-run",
        "--head",
        "2",
    ]);
    let run = c.current_dir(env.path()).assert_code(0);
    assert!(!env.store().exists(), "a dry run opens no store");
    let dir = env.path().display().to_string();
    insta::assert_snapshot!("promtail_dry_run", run.stdout.replace(&dir, "[DIR]"));
    // The same as JSON, for scripts.
    let mut c = env.cmd([
        "ingest",
        "--config",
        "promtail.yaml",
        "--dry-run",
        "-o",
        "json",
    ]);
    let v = c.current_dir(env.path()).json();
    let cri = v["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["input"].as_str().unwrap().ends_with("api.log"))
        .unwrap();
    assert_eq!(cri["pipeline_entries"], 3, "{cri}");
    let steps = &cri["pipeline"][1]["steps"];
    assert_eq!(steps[0]["stage"], "cri");
    assert_eq!(steps[0]["note"], "held: a partial line (P)");
}

#[test]
fn label_flags_add_to_the_targets_labels() {
    let env = fixture("pipelines");
    ingest(&env, &["--label", "env=test", "--label", "name=override"]).assert_code(0);
    let all = stored(&env);
    assert_eq!(all.len(), 6);
    for g in &all {
        assert_eq!(
            g.labels.get("env").map(String::as_str),
            Some("test"),
            "{g:?}"
        );
        assert_eq!(
            g.labels.get("name").map(String::as_str),
            Some("override"),
            "{g:?}"
        );
    }
    // The pipeline saw the flag's value: no `name="promtail"` match ran.
    assert!(all.iter().all(|g| !g.labels.contains_key("component")));
}

#[test]
fn stage_examples_of_the_docs() {
    let env = fixture("stages");
    let r = ingest(&env, &[]).assert_code(0).json();
    assert_eq!(r["dropped"]["drop_stage"], 1, "{r}");
    assert_eq!(r["dropped"]["debug_lines"], 1, "{r}");
    let f = file(&env, "api.log");
    assert_eq!(
        stored(&env),
        [
            // Oldest first: +01:00 puts the last line first.
            got(
                &[
                    ("app", "Grafana_some_suffix"),
                    ("cluster", "us-central1"),
                    ("filename", &f),
                    ("job", "api"),
                    ("level", "warn"),
                ],
                "2019-01-01T00:00:03.5Z",
                "warn for app GRAFANA: slow query",
            ),
            got(
                &[
                    ("app", "loki_some_suffix"),
                    ("cluster", "us-central1"),
                    ("filename", &f),
                    ("job", "api"),
                    ("level", "info"),
                    ("user", "marco"),
                ],
                "2019-01-01T01:00:00.000000001Z",
                "info for app LOKI: login with password ****",
            ),
        ]
    );
    let rows = records(&env, r#"{job="colors"}"#);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        rows[0]["labels"],
        serde_json::json!({"job": "colors", "level": "info"})
    );
    assert_eq!(
        rows[0]["timestamp"], "2024-07-04T13:30:00.25Z",
        "New York is UTC-4 in July"
    );
    assert_eq!(
        rows[0]["line"],
        r#"ts="2024-07-04 09:30:00.250" level=info msg="ready""#
    );
    assert_eq!(rows[1]["labels"]["level"], "error");
    assert_eq!(rows[1]["timestamp"], "2024-07-04T13:30:01Z");
}

/// SIGKILLs of `ingest --config` with a multiline stage, at trace points of
/// the write path across many small batches, then a run to the end: every
/// line stored exactly once, in order (what a stage held at a commit was
/// stored with it).
#[test]
fn killed_pipeline_runs_lose_and_double_nothing() {
    let env = TestEnv::new();
    let mut text = String::new();
    for i in 0..15000 {
        let ts = jiff::Timestamp::from_second(1_700_000_000 + i).unwrap();
        text.push_str(&format!(
            "{ts} START entry={i} level=info\n  detail one of {i}\n  detail two of {i}\n"
        ));
    }
    let log = env.write("app.log", &text);
    let cfg = env.write(
        "promtail.yaml",
        format!(
            "scrape_configs:\n  - job_name: app\n    static_configs:\n      - labels: {{job: app, __path__: {}}}\n    pipeline_stages:\n      - multiline:\n          firstline: 'START'\n      - regex:\n          expression: 'level=(?P<level>\\w+)'\n      - labels:\n          level:\n",
            log.display()
        ),
    );
    let args: Vec<String> = [
        "ingest",
        "--config",
        cfg.to_str().unwrap(),
        "--batch-size",
        "8KB",
        "--no-index",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut killed = 0;
    for k in [3u64, 17, 9, 25, 13] {
        if crate::crash::kill_at(&env, &args, k, (k * 37) % 200).0 {
            killed += 1;
        }
    }
    assert!(killed >= 4, "only {killed} kills landed");
    env.cmd(&args).assert_code(0);
    // An entry cut by a commit goes on in a new entry, whose lines the
    // `level` label may not reach: each stream holds its lines in file
    // order, and every line is in exactly one entry.
    let out = records(&env, r#"{job="app"}"#);
    let index: HashMap<&str, usize> = text.lines().enumerate().map(|(i, l)| (l, i)).collect();
    let mut seen = vec![0u32; index.len()];
    let mut last: BTreeMap<String, usize> = BTreeMap::new();
    for v in &out {
        let stream = v["labels"].to_string();
        for l in v["line"].as_str().unwrap().lines() {
            let i = *index
                .get(l)
                .unwrap_or_else(|| panic!("{l:?} was never written"));
            seen[i] += 1;
            let prev = last.insert(stream.clone(), i);
            assert!(prev.is_none_or(|p| p < i), "{l:?} out of order in {stream}");
        }
    }
    let wrong: Vec<(usize, u32)> = seen
        .iter()
        .copied()
        .enumerate()
        .filter(|&(_, n)| n != 1)
        .collect();
    assert!(
        wrong.is_empty(),
        "lines not stored exactly once (line, times): {:?}",
        &wrong[..wrong.len().min(10)]
    );
    env.cmd(["check"]).assert_code(0);
}

#[test]
fn config_expand_env_as_promtail() {
    let env = TestEnv::new();
    env.write("logs/a.log", "2024-05-01T10:00:00Z hello\n");
    env.write(
        "promtail.yaml",
        "scrape_configs:\n  - job_name: app\n    static_configs:\n      - labels: {job: '${JOB:-fallback}', host: '${HOSTNAME_X}', __path__: '${LOG_DIR}/*.log'}\n",
    );
    // Without the flag the references are text: no file matches.
    let mut c = env.cmd(["ingest", "--config", "promtail.yaml"]);
    c.current_dir(env.path())
        .env("LOG_DIR", env.path().join("logs"))
        .assert_code(2);
    let mut c = env.cmd(["ingest", "--config", "promtail.yaml", "--config-expand-env"]);
    c.current_dir(env.path())
        .env("LOG_DIR", env.path().join("logs"))
        .env("HOSTNAME_X", "node-7")
        .assert_code(0);
    let out = env.ok(["query", r#"{job="fallback", host="node-7"}"#, "-o", "raw"]);
    assert_eq!(out, "2024-05-01T10:00:00Z hello\n");
}
