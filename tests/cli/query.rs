//! `lokal query` / `instant-query` end to end, with snapshots of each output format.
use std::fs;

use crate::common::*;

/// A small deterministic store: two services, timestamps in 2024-01-01.
fn fixture() -> TestEnv {
    let env = TestEnv::new();
    let api = env.write(
        "api.log",
        concat!(
            r#"{"ts":"2024-01-01T00:00:01Z","level":"info","msg":"GET /a","status":200}"#,
            "\n",
            r#"{"ts":"2024-01-01T00:00:02Z","level":"error","msg":"GET /b","status":500}"#,
            "\n",
            r#"{"ts":"2024-01-01T00:00:03Z","level":"info","msg":"POST /c","status":201}"#,
            "\n",
        ),
    );
    let web = env.write(
        "web.log",
        "2024-01-01T00:00:02Z level=warn msg=\"slow GET\" duration=1.5s\n2024-01-01T00:00:04Z level=info msg=\"GET ok\" duration=20ms\n",
    );
    for (job, file) in [("job=api", &api), ("job=web", &web)] {
        env.ingest([file])
            .arg("--no-filename-label")
            .labels([job, "env=prod"])
            .ok();
    }
    env
}

#[test]
fn default_output_is_logcli_s() {
    let env = fixture();
    let run = env
        .cmd(["query", "-z", "UTC", r#"{env="prod"} |= "GET""#])
        .assert_code(0);
    eqnice!("Common labels: {env=\"prod\"}\n", run.stderr);
    insta::assert_snapshot!("default_output", run.stdout);
}

#[test]
fn raw_jsonl_and_forward() {
    let env = fixture();
    let raw = env
        .cmd(["query", "-o", "raw", "--forward", "--limit", "3"])
        .arg(r#"{env="prod"}"#)
        .run()
        .stdout;
    insta::assert_snapshot!("raw_forward_limit3", raw);
    let jsonl = env
        .cmd(["query", "-o", "jsonl", "-z", "UTC", "--limit", "2"])
        .arg(r#"{job="web"}"#)
        .run()
        .stdout;
    // As logcli's: the labels every entry shares are left out (and told
    // on stderr), unless --include-common-labels.
    insta::assert_snapshot!("jsonl", jsonl);
    let all = env
        .cmd(["query", "-o", "jsonl", "-z", "UTC", "--limit", "3"])
        .arg("--include-common-labels")
        .arg(r#"{env="prod"} |= "GET""#)
        .run();
    insta::assert_snapshot!("jsonl_include_common", all.stdout);
    assert!(
        all.stderr.contains(r#"Common labels: {env="prod"}"#),
        "{}",
        all.stderr
    );
}

#[test]
fn json_output_has_loki_api_shape() {
    let env = fixture();
    let v = env
        .cmd(["query", "-o", "json", r#"{job="api"} |= "GET""#])
        .run()
        .json();
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
    let env = fixture();
    // --from inclusive, --to exclusive, as logcli.
    let out = env
        .cmd(["query", "-o", "raw"])
        .args([
            "--from",
            "2024-01-01T00:00:02Z",
            "--to",
            "2024-01-01T00:00:03Z",
        ])
        .arg(r#"{env="prod"}"#)
        .stdout();
    assert_eq!(out.lines().count(), 2);
    // No match exits 1.
    env.cmd(["query", r#"{env="prod"} |= "nothing like this""#])
        .assert_code(1);
    let err = env
        .cmd(["query", r#"{env="prod"} |= "#])
        .assert_code(2)
        .stderr;
    assert!(err.contains("parse error at line 1, col"), "{err}");
}

#[test]
fn metric_queries_agree_with_grep() {
    let Some(f) = shared("data/real/nginx_access.log") else {
        return;
    };
    let env = TestEnv::new();
    env.ingest([&f]).label("job=nginx").ok();
    let text = fs::read_to_string(&f).unwrap();
    let want = text.lines().filter(|l| l.contains("POST")).count();
    let raw = env
        .cmd([
            "query",
            "--limit",
            "0",
            "-o",
            "raw",
            r#"{job="nginx"} |= "POST""#,
        ])
        .run()
        .stdout;
    assert_eq!(raw.lines().count(), want);
    // One window covering the whole file.
    let v = env
        .cmd([
            "instant-query",
            "-o",
            "json",
            "--now",
            "2024-10-05T00:00:00Z",
        ])
        .arg(r#"sum(count_over_time({job="nginx"} |= "POST" [2d]))"#)
        .json();
    assert_eq!(v["data"]["resultType"], "vector");
    assert_eq!(v["data"]["result"][0]["value"][1], want.to_string());
    assert_eq!(v["data"]["result"][0]["value"][0], 1728086400);
}

#[test]
fn instant_query_table_and_matrix_table() {
    let env = fixture();
    let out = env
        .cmd([
            "instant-query",
            "-z",
            "UTC",
            "--now",
            "2024-01-01T00:01:00Z",
        ])
        .arg("sum by (job) (count_over_time({env=\"prod\"}[1m]))")
        .run()
        .stdout;
    insta::assert_snapshot!("instant_table", out);
    let out = env
        .cmd(["query", "-z", "UTC"])
        .args([
            "--from",
            "2024-01-01T00:00:00Z",
            "--to",
            "2024-01-01T00:00:05Z",
        ])
        .args(["--step", "2s", "count_over_time({env=\"prod\"}[2s])"])
        .run()
        .stdout;
    insta::assert_snapshot!("matrix_table", out);
    let err = env
        .cmd(["instant-query", r#"{env="prod"}"#])
        .assert_code(2)
        .stderr;
    assert!(err.contains("log queries are not supported as an instant query type"));
}

/// `(unix seconds, value)` of every point of each series of a matrix, as
/// `labels -> points`.
fn matrix_points(v: &serde_json::Value) -> Vec<(String, Vec<(f64, String)>)> {
    assert_eq!(v["data"]["resultType"], "matrix", "{v}");
    v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let points = s["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| (p[0].as_f64().unwrap(), p[1].as_str().unwrap().to_string()))
                .collect();
            (s["metric"].to_string(), points)
        })
        .collect()
}

#[test]
fn metric_range_queries_use_lokis_grid() {
    let env = fixture();
    let t0 = 1_704_067_200.0; // 2024-01-01T00:00:00Z
    let run = |args: &[&str], q: &str| {
        let v = env
            .cmd(["query", "-o", "json"])
            .args(args)
            .arg(q)
            .run()
            .json();
        matrix_points(&v)
            .into_iter()
            .map(|(l, p)| (l, p.into_iter().map(|(t, v)| (t - t0, v)).collect()))
            .collect::<Vec<(String, Vec<(f64, String)>)>>()
    };
    let api = r#"count_over_time({job="api"}[2s])"#;
    let p = |v: &[(f64, &str)]| {
        v.iter()
            .map(|(t, v)| (*t, v.to_string()))
            .collect::<Vec<_>>()
    };
    let api_labels = r#"{"env":"prod","job":"api"}"#.to_string();
    // --to is the last step: 00:00:04 holds the entry of 00:00:03.
    let range = [
        "--from",
        "2024-01-01T00:00:00Z",
        "--to",
        "2024-01-01T00:00:04Z",
    ];
    let got = run(&[&range[..], &["--step", "2s"]].concat(), api);
    assert_eq!(
        got,
        vec![(api_labels.clone(), p(&[(2.0, "2"), (4.0, "1")]))]
    );
    // An unaligned start is rounded down and the end up, from the epoch.
    let odd = [
        "--from",
        "2024-01-01T00:00:01Z",
        "--to",
        "2024-01-01T00:00:03Z",
    ];
    let got = run(&[&odd[..], &["--step", "2s"]].concat(), api);
    assert_eq!(
        got,
        vec![(api_labels.clone(), p(&[(2.0, "2"), (4.0, "1")]))]
    );
    // --unaligned: --from, --from + step, … up to --to.
    let got = run(&[&odd[..], &["--step", "2s", "--unaligned"]].concat(), api);
    assert_eq!(
        got,
        vec![(api_labels.clone(), p(&[(1.0, "1"), (3.0, "2")]))]
    );
    // A step in plain seconds, as Loki's API takes it; a query starting with `-`.
    let got = run(
        &[&range[..], &["--step", "2"]].concat(),
        &format!("-1 + {api}"),
    );
    assert_eq!(
        got,
        vec![(api_labels.clone(), p(&[(2.0, "1"), (4.0, "0")]))]
    );
    // End before start is refused with Loki's words.
    let err = env
        .cmd([
            "query",
            "--from",
            "2024-01-01T00:00:03Z",
            "--to",
            "2024-01-01T00:00:01Z",
        ])
        .arg(api)
        .assert_code(2)
        .stderr;
    assert!(
        err.contains("end timestamp must not be before or equal to start time"),
        "{err}"
    );
}

#[test]
fn stats_count_selected_streams_not_result_series() {
    let env = fixture();
    let stats = |q: &str| {
        let run = env.cmd(["query", "--stats", "-q", q]).run();
        let row = |k: &str| {
            run.stderr
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{k}\t")))
                .unwrap_or_else(|| panic!("no {k} in {}", run.stderr))
                .to_string()
        };
        (row("streams"), row("results"))
    };
    // Two streams read, summed into one series.
    assert_eq!(stats(r#"sum(count_over_time({env="prod"}[1m]))"#).0, "2");
    assert_eq!(stats(r#"{env="prod"} |= "GET""#), ("2".into(), "4".into()));
    // -o json carries the same counts in Loki's stats.
    let v = env
        .cmd(["query", "-o", "json"])
        .arg(r#"sum(count_over_time({env="prod"}[1m]))"#)
        .run()
        .json();
    let st = &v["data"]["stats"];
    assert_eq!(st["index"]["totalStreams"], 2, "{st}");
    assert_eq!(st["summary"]["totalEntriesReturned"], 1, "{st}");
    assert_eq!(st["summary"]["totalLinesProcessed"], 5, "{st}");
    assert_eq!(st["summary"]["shards"], 1, "{st}");
}

#[test]
fn default_range_is_that_of_the_streams_the_query_selects() {
    let env = fixture();
    // A stream two years later: the store spans 2024-2026.
    let late = env.write("late.log", "2026-01-01T00:00:00Z level=info msg=late\n");
    env.ingest([&late])
        .arg("--no-filename-label")
        .label("job=late")
        .ok();
    // Without time flags {job="api"} is evaluated over its own three
    // seconds, on the default step of 1s, not over two years in one step.
    let v = env
        .cmd(["query", "-o", "json"])
        .arg(r#"count_over_time({job="api"}[1s])"#)
        .run()
        .json();
    let got = matrix_points(&v);
    let times: Vec<f64> = got[0].1.iter().map(|p| p.0 - 1_704_067_200.0).collect();
    assert_eq!(times, [1.0, 2.0, 3.0]);
}

#[test]
fn stdin_queries_have_real_time_and_labels() {
    // The environment's store is never created: --stdin uses its own.
    let env = TestEnv::new();
    let out = env
        .cmd([
            "query",
            "--stdin",
            "-l",
            "app=x",
            "-z",
            "UTC",
            "-o",
            "jsonl",
            "--include-common-labels",
        ])
        .arg("|= \"b\"")
        .stdin("2024-02-03T04:05:06Z a\n2024-02-03T04:05:07Z b\n")
        .stdout();
    eqnice!(
        "{\"labels\":{\"app\":\"x\"},\"line\":\"2024-02-03T04:05:07Z b\",\"timestamp\":\"2024-02-03T04:05:07Z\"}\n",
        out
    );
}

#[test]
fn labels_and_series_come_from_the_index() {
    let env = fixture();
    let out = |args: &[&str]| env.cmd(args).run().stdout;
    eqnice!("env\njob\n", out(&["labels"]));
    eqnice!("api\nweb\n", out(&["labels", "job"]));
    eqnice!(
        "{env=\"prod\", job=\"api\"}\n{env=\"prod\", job=\"web\"}\n",
        out(&["series", "{}"])
    );
    eqnice!(
        "{env=\"prod\", job=\"web\"}\n",
        out(&["series", r#"{job="web"}"#])
    );
    insta::assert_snapshot!(
        "analyze_labels",
        out(&["series", "--analyze-labels", r#"{env="prod"}"#])
    );
    // The same answers without any index (footers only).
    fs::remove_dir_all(env.store().join("fake/index")).unwrap();
    eqnice!("api\nweb\n", out(&["labels", "job"]));
}

/// The block-level prefilter for `| json | name="value"` must never drop a
/// line the pipeline would keep: escaped values and keys, stream labels and
/// a regex twin (not prefiltered) must all agree.
#[test]
fn parsed_label_prefilter_keeps_every_match() {
    let env = TestEnv::new();
    let f = env.write(
        "j.log",
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
    );
    env.ingest([&f])
        .arg("--no-filename-label")
        .label("job=t")
        .ok();
    let g = env.write("g.log", "{\"ts\":\"2024-01-01T00:00:06Z\",\"msg\":\"x\"}\n");
    env.ingest([&g])
        .arg("--no-filename-label")
        .labels(["job=t", "level=error"])
        .ok();
    let all = |q: &str| {
        env.cmd(["query", "--limit", "0", "--forward", "-o", "raw", q])
            .run()
            .stdout
    };
    let out = all(r#"{job="t"} | json | level="error""#);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines[1].contains(r"err\u006fr"));
    assert!(lines[2].contains(r"lev\u0065l"));
    assert!(
        lines[3].contains("\"msg\":\"x\""),
        "the stream label level=error passes"
    );
    let twin = all(r#"{job="t"} | json | level=~"error""#);
    eqnice!(out, twin);
    let out = env
        .cmd([
            "instant-query",
            "--now",
            "2024-01-01T00:01:00Z",
            "-o",
            "json",
        ])
        .arg(r#"sum(count_over_time({job="t"} | json | level="error" [1m]))"#)
        .run()
        .stdout;
    assert!(out.contains("\"4\""), "{out}");
}

#[test]
fn parsed_label_prefilter_agrees_on_real_json() {
    let Some(f) = shared("data/real/drone_json.log") else {
        return;
    };
    let env = TestEnv::new();
    env.ingest([&f]).label("job=drone").ok();
    for level in ["info", "debug", "error", "warning"] {
        let q = |op: &str| {
            let q = format!(r#"{{job="drone"}} | json | level{op}"{level}""#);
            env.cmd(["query", "--limit", "0", "-o", "raw", &q])
                .run()
                .stdout
        };
        eqnice!(q("="), q("=~"), "level={level}");
    }
}

#[test]
fn an_empty_store_says_so() {
    // Nothing was ingested: the store directory does not exist, which is
    // an error for every reading command, not an empty answer.
    let env = TestEnv::new();
    for args in [
        &["query", r#"{job="x"}"#][..],
        &["instant-query", r#"count_over_time({job="x"}[1m])"#],
        &["labels"],
        &["series", "{}"],
        &["stats"],
        &["stats", "--all-tenants"],
        &["check"],
        &["verify"],
        &["dump"],
        &["index"],
        &["index", "--all-tenants"],
    ] {
        let run = env.cmd(args).assert_code(2);
        assert!(
            run.stderr
                .contains("no lokal store here (the directory does not exist)"),
            "{args:?}: {}",
            run.stderr
        );
    }
    assert!(!env.store().exists(), "no command created the store");
    // An existing store without the tenant's data: an empty answer, and a hint.
    std::fs::create_dir_all(env.store()).unwrap();
    let run = env.cmd(["query", r#"{job="x"}"#]).assert_code(1);
    assert!(run.stdout.is_empty());
    assert!(
        run.stderr.contains("no data for tenant \"fake\""),
        "{}",
        run.stderr
    );
    let err = env.cmd(["query", "-q", r#"{job="x"}"#]).run().stderr;
    assert!(err.is_empty(), "--quiet silences the hint: {err}");
}

/// A `--limit 0` query streams its answer; one with a limit above the
/// answer's size holds it. Both print the same bytes, in every output
/// format and both directions, over an answer that crosses logcli's
/// 1,000-entry batches, with equal timestamps across streams, inside a
/// stream and across segments of one stream; a smaller limit prints the
/// head of the same answer.
#[test]
fn streamed_and_held_answers_print_the_same_bytes() {
    use std::fmt::Write;
    let env = TestEnv::new();
    for s in 0..4 {
        let mut text = String::new();
        for i in 0..700i64 {
            // Four lines share each timestamp, across streams and within one.
            let ts = jiff::Timestamp::from_second(1_704_067_200 + (i * 5 + s * 3) / 8).unwrap();
            let level = ["info", "warn", "error"][(i % 3) as usize];
            writeln!(text, "{ts} level={level} s={s} i={i}").unwrap();
        }
        let f = env.write(&format!("s{s}.log"), &text);
        let app = format!("app=a{s}");
        let mut labels = vec!["job=t", app.as_str()];
        if s == 3 {
            labels.push("zone=a-rather-long-zone-name");
        }
        env.ingest([&f])
            .arg("--no-filename-label")
            .labels(labels.iter().copied())
            .ok();
        if s == 1 {
            // The same stream again, in a second segment.
            env.ingest([&f])
                .arg("--no-filename-label")
                .labels(labels.iter().copied())
                .arg("--from-start")
                .ok();
        }
    }
    let strip_stats = |out: &str| {
        let mut v: serde_json::Value = serde_json::from_str(out).unwrap();
        let s = v["data"].as_object_mut().unwrap().remove("stats").unwrap();
        (v, s["summary"]["totalEntriesReturned"].clone())
    };
    for q in [
        r#"{job="t"}"#,
        r#"{job="t"} |= "level=warn" | logfmt | line_format "{{.app}} {{.i}}""#,
    ] {
        for dir in [None, Some("--forward")] {
            let run = |format: &str, limit: &str| {
                let mut c = env.cmd(["query", "-z", "UTC", "-o", format, "--limit", limit]);
                c.args(dir);
                c.arg(q);
                c.assert_code(0)
            };
            for format in ["default", "raw", "jsonl", "json"] {
                let streamed = run(format, "0");
                let held = run(format, "1000000");
                let what = format!("{q} {format} {dir:?}");
                if format == "json" {
                    let (a, na) = strip_stats(&streamed.stdout);
                    let (b, nb) = strip_stats(&held.stdout);
                    assert_eq!(a, b, "{what}");
                    assert_eq!(na, nb, "{what}");
                } else {
                    assert_eq!(streamed.stdout, held.stdout, "{what}");
                    assert_eq!(streamed.stderr, held.stderr, "{what}");
                }
                if format == "raw" {
                    let n = streamed.stdout.lines().count();
                    assert!(n == 3500 || n == 1165, "{what}: {n}");
                    let head: String = streamed
                        .stdout
                        .lines()
                        .take(1100)
                        .map(|l| format!("{l}\n"))
                        .collect();
                    assert_eq!(run(format, "1100").stdout, head, "{what}");
                }
            }
        }
    }
}

/// Readers keep segment files open for `pread`, within half the soft limit
/// of open files; a query over more segments than that reads the others
/// through their maps instead of failing with "too many open files".
#[test]
fn more_segments_than_open_files_are_read() {
    use std::os::unix::process::CommandExt;
    let env = TestEnv::new();
    let n = 48;
    for i in 0..n {
        let f = env.write_log(
            &format!("l{i}.log"),
            3,
            1_704_067_200 + i * 10,
            &format!("t{i}"),
        );
        env.ingest([&f])
            .arg("--no-filename-label")
            .label("job=x")
            .ok();
    }
    assert_eq!(
        env.manifest()["segments"].as_array().unwrap().len(),
        n as usize
    );
    // A child with 40 open files at most (budget: 20 segment files).
    let limited = |args: &[&str]| {
        let mut c = env.std_command();
        c.args(args);
        // SAFETY: setrlimit is async-signal-safe; nothing else runs in the child.
        unsafe {
            c.pre_exec(|| {
                let r = libc::rlimit {
                    rlim_cur: 40,
                    rlim_max: 40,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &r) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    for q in [r#"{job="x"}"#, r#"{job="x"} |= "event""#] {
        let out = limited(&["query", "--limit", "0", "-o", "raw", q]);
        assert_eq!(out.lines().count(), 3 * n as usize, "{q}");
    }
    let metric = limited(&[
        "instant-query",
        "--now",
        "2024-01-01T01:00:00Z",
        "-o",
        "raw",
        r#"sum(count_over_time({job="x"}[2h]))"#,
    ]);
    assert!(metric.contains("144"), "{metric}");
}

/// `-o json` of a metric answer is written from the answer as it is
/// serialized, so it takes no more memory than `-o jsonl` of the same
/// answer: here 25 series of up to 8,641 five-second steps (216k points;
/// the answer itself holds 3.5 MB of them). Built whole as a JSON tree
/// first, the body took about 60 MB more than the jsonl (240 MB more at
/// 100 series, measured).
#[test]
fn json_of_a_wide_metric_answer_takes_no_more_memory_than_jsonl() {
    use std::fmt::Write;
    const PODS: i64 = 25;
    let env = TestEnv::new();
    let mut jsonl = String::new();
    // A line every 10 minutes over 12 hours, pod-P's at second P.
    for minute in (0..720).step_by(10) {
        for pod in 0..PODS {
            writeln!(
                jsonl,
                r#"{{"labels":{{"job":"w","pod":"pod-{pod}"}},"line":"level=info n={minute}","timestamp":"2024-05-01T{:02}:{:02}:{pod:02}Z"}}"#,
                minute / 60,
                minute % 60,
            )
            .unwrap();
        }
    }
    let f = env.write("w.jsonl", jsonl);
    env.ingest([&f]).args(["--format", "logcli"]).ok();
    let q = [
        "query",
        "--from",
        "2024-05-01T00:00:00Z",
        "--to",
        "2024-05-01T12:00:00Z",
        "--step",
        "5s",
        "count_over_time({job=\"w\"}[1h])",
    ];
    // As wide as said: pod-P has a point at every step from its first line
    // on (the hour's window always holds a line after that).
    let body = env.cmd(q).args(["-o", "json"]).json();
    let res = body["data"]["result"].as_array().unwrap();
    assert_eq!(res.len(), PODS as usize);
    let points: i64 = res
        .iter()
        .map(|s| s["values"].as_array().unwrap().len() as i64)
        .sum();
    let want: i64 = (0..PODS).map(|p| 8_641 - (p + 4) / 5).sum();
    assert_eq!(points, want, "points");
    let rss = |format: &str| {
        let mut args = q.to_vec();
        args.extend(["-o", format]);
        let (code, stderr, rss) = with_peak_rss(&env, &args, None)?;
        assert_eq!(code, 0, "-o {format}: {stderr}");
        Some(rss)
    };
    let (Some(jsonl), Some(json)) = (rss("jsonl"), rss("json")) else {
        return;
    };
    assert!(
        json < jsonl + (16 << 10),
        "-o json: peak RSS {json} KiB, -o jsonl {jsonl} KiB"
    );
}
