//! Log queries over the real sample logs, every pipeline stage, with the
//! expected answers derived independently in the test from Loki's documented
//! semantics (plain string handling and serde_json, not lokal's pipeline).
use std::fs;
use std::net::Ipv4Addr;
use std::path::Path;

use crate::common::*;

struct Real {
    env: TestEnv,
    nginx: Vec<String>,
    apache: Vec<String>,
    drone: Vec<serde_json::Value>,
    drone_lines: Vec<String>,
    agent: Vec<String>,
}

fn lines(p: &Path) -> Vec<String> {
    file_lines(&fs::read(p).unwrap())
        .into_iter()
        .map(|l| String::from_utf8(l).unwrap())
        .collect()
}

fn setup() -> Option<Real> {
    let real = shared("data/real")?;
    let env = TestEnv::new();
    for (job, file) in [
        ("nginx", "nginx_access.log"),
        ("apache", "apache_access.log"),
        ("drone", "drone_json.log"),
        ("agent", "grafana_agent_logfmt.log"),
    ] {
        ingest_as(&env, job, &real.join(file));
    }
    let drone_lines = lines(&real.join("drone_json.log"));
    Some(Real {
        nginx: lines(&real.join("nginx_access.log")),
        apache: lines(&real.join("apache_access.log")),
        drone: drone_lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
        drone_lines,
        agent: lines(&real.join("grafana_agent_logfmt.log")),
        env,
    })
}

/// Ingests `file` as the one stream `{job="<job>"}`.
fn ingest_as(env: &TestEnv, job: &str, file: &Path) {
    env.ingest([file])
        .arg("--no-filename-label")
        .label(&format!("job={job}"))
        .ok();
}

/// Every line a query returns (`-o raw`, all of them), sorted.
fn raw(env: &TestEnv, q: &str) -> Vec<String> {
    let out = env.cmd(["query", "--limit", "0", "-o", "raw", q]).run();
    assert!(out.code == Some(0) || out.code == Some(1), "{q}:\n{out}");
    let mut v: Vec<String> = String::from_utf8(out.bytes)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

/// Every entry a query returns as (labels, line), sorted.
fn jsonl(env: &TestEnv, q: &str) -> Vec<(serde_json::Value, String)> {
    let out = env
        .cmd([
            "query",
            "--limit",
            "0",
            "-o",
            "jsonl",
            "--include-common-labels",
            q,
        ])
        .run();
    let mut v: Vec<(serde_json::Value, String)> = String::from_utf8(out.bytes)
        .unwrap()
        .lines()
        .map(|l| {
            let o: serde_json::Value = serde_json::from_str(l).unwrap();
            (o["labels"].clone(), o["line"].as_str().unwrap().to_string())
        })
        .collect();
    v.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.to_string().cmp(&b.0.to_string())));
    v
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// The combined-log fields, split by hand: ip, method, path, status, size.
fn combined(l: &str) -> (String, String, String, String, String) {
    let ip = l.split(' ').next().unwrap().to_string();
    let q1 = l.find('"').unwrap();
    let q2 = q1 + 1 + l[q1 + 1..].find('"').unwrap();
    let req: Vec<&str> = l[q1 + 1..q2].split(' ').collect();
    let after: Vec<&str> = l[q2 + 1..].split_whitespace().collect();
    (
        ip,
        req.first().unwrap_or(&"").to_string(),
        req.get(1).unwrap_or(&"").to_string(),
        after[0].to_string(),
        after[1].to_string(),
    )
}

#[test]
fn line_filters() {
    let Some(r) = setup() else { return };
    let get: Vec<String> = r
        .nginx
        .iter()
        .filter(|l| l.contains("GET"))
        .cloned()
        .collect();
    assert_eq!(
        raw(&r.env, r#"{job="nginx"} |= "GET""#),
        sorted(get.clone())
    );
    let not_get: Vec<String> = r
        .nginx
        .iter()
        .filter(|l| !l.contains("GET"))
        .cloned()
        .collect();
    assert_eq!(raw(&r.env, r#"{job="nginx"} != "GET""#), sorted(not_get));
    let errors: Vec<String> = r
        .nginx
        .iter()
        .filter(|l| combined(l).3.starts_with(['4', '5']))
        .cloned()
        .collect();
    assert_eq!(
        raw(&r.env, r#"{job="nginx"} |~ `" [45]\d\d `"#),
        sorted(errors.clone())
    );
    assert_eq!(
        raw(&r.env, r#"{job="nginx"} !~ `" [45]\d\d `"#).len(),
        r.nginx.len() - errors.len()
    );
    let post: Vec<String> = r
        .nginx
        .iter()
        .filter(|l| l.contains(" \"POST "))
        .cloned()
        .collect();
    assert_eq!(
        raw(&r.env, r#"{job="nginx"} |> `<_> "POST <_>`"#),
        sorted(post.clone())
    );
    let either: Vec<String> = r
        .nginx
        .iter()
        .filter(|l| l.contains("POST") || l.contains("HEAD"))
        .cloned()
        .collect();
    assert_eq!(
        raw(&r.env, r#"{job="nginx"} |= "POST" or "HEAD""#),
        sorted(either)
    );
    // ip(): any IPv4 address in the line inside the range.
    let net = |ip: Ipv4Addr| ip.octets()[0] == 178 && ip.octets()[1] == 128;
    let in_range: Vec<String> = r
        .nginx
        .iter()
        .filter(|l| {
            l.split(|c: char| !(c.is_ascii_digit() || c == '.'))
                .filter_map(|t| t.parse::<Ipv4Addr>().ok())
                .any(net)
        })
        .cloned()
        .collect();
    assert!(!in_range.is_empty());
    assert_eq!(
        raw(&r.env, r#"{job="nginx"} |= ip("178.128.0.0/16")"#),
        sorted(in_range)
    );
}

#[test]
fn json_parser_filters_and_formats() {
    let Some(r) = setup() else { return };
    let by = |f: &dyn Fn(&serde_json::Value) -> bool| -> Vec<String> {
        r.drone
            .iter()
            .zip(&r.drone_lines)
            .filter(|(v, _)| f(v))
            .map(|(_, l)| l.clone())
            .collect()
    };
    assert_eq!(
        raw(&r.env, r#"{job="drone"} | json | level="debug""#),
        sorted(by(&|v| v["level"] == "debug"))
    );
    assert_eq!(
        raw(&r.env, r#"{job="drone"} | json | status >= 400"#),
        sorted(by(&|v| v["status"].as_f64().is_some_and(|s| s >= 400.0)))
    );
    // Nested objects flatten with `_`; keys are sanitised (`user-agent` → `user_agent`).
    let want: Vec<String> = r
        .drone
        .iter()
        .map(|v| {
            format!(
                "{} {} {}",
                v["method"].as_str().unwrap_or(""),
                v["request"].as_str().unwrap_or(""),
                v["user-agent"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        raw(
            &r.env,
            r#"{job="drone"} | json | line_format "{{.method}} {{.request}} {{.user_agent}}""#
        ),
        sorted(want)
    );
    // json with extraction parameters.
    let e = jsonl(
        &r.env,
        r#"{job="drone"} | json m="method", s="status" | m="POST""#,
    );
    let posts = by(&|v| v["method"] == "POST");
    assert_eq!(e.len(), posts.len());
    for (labels, line) in &e {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(labels["s"], v["status"].to_string());
        assert!(
            labels.get("level").is_none(),
            "only the named paths are extracted"
        );
    }
    // Every extracted label, for one line, equals serde's reading.
    let (labels, line) = &jsonl(&r.env, r#"{job="drone"} | json"#)[0];
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    for (k, val) in v.as_object().unwrap() {
        let key = k.replace('-', "_");
        let want = match val {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        assert_eq!(labels[&key].as_str(), Some(want.as_str()), "{k}");
    }
}

#[test]
fn logfmt_with_duration_filter_and_label_format() {
    let Some(r) = setup() else { return };
    let field = |l: &str, k: &str| -> Option<String> {
        l.split(' ').find_map(|kv| {
            kv.strip_prefix(&format!("{k}="))
                .map(|v| v.trim_matches('"').to_string())
        })
    };
    let info: Vec<String> = r
        .agent
        .iter()
        .filter(|l| field(l, "level").as_deref() == Some("info"))
        .cloned()
        .collect();
    assert_eq!(
        raw(&r.env, r#"{job="agent"} | logfmt | level="info""#),
        sorted(info)
    );
    // Durations compare as durations: 14.5ms > 10ms.
    let secs = |d: &str| -> f64 {
        let (n, unit) = d.split_at(d.find(|c: char| c.is_alphabetic() || c == 'µ').unwrap());
        n.parse::<f64>().unwrap()
            * match unit {
                "ns" => 1e-9,
                "µs" | "us" => 1e-6,
                "ms" => 1e-3,
                "s" => 1.0,
                "m" => 60.0,
                u => panic!("{u}"),
            }
    };
    let slow: Vec<String> = r
        .agent
        .iter()
        .filter(|l| field(l, "duration").is_some_and(|d| secs(&d) > 0.010))
        .cloned()
        .collect();
    assert!(!slow.is_empty());
    assert_eq!(
        raw(&r.env, r#"{job="agent"} | logfmt | duration > 10ms"#),
        sorted(slow)
    );
    // label_format renames and templates.
    let e = jsonl(
        &r.env,
        r#"{job="agent"} | logfmt | label_format lvl=level, where="{{.component}}/{{.caller}}" | lvl="error""#,
    );
    assert!(!e.is_empty());
    for (labels, line) in &e {
        assert!(labels.get("level").is_none(), "renamed away");
        assert_eq!(
            labels["where"],
            format!(
                "{}/{}",
                field(line, "component").unwrap_or_default(),
                field(line, "caller").unwrap()
            )
        );
    }
}

#[test]
fn regexp_pattern_and_numeric_bytes_ip_label_filters() {
    let Some(r) = setup() else { return };
    let want: Vec<String> = r
        .apache
        .iter()
        .filter(|l| combined(l).3 == "404")
        .cloned()
        .collect();
    assert_eq!(
        raw(
            &r.env,
            r#"{job="apache"} | regexp `^(?P<ip>\S+) \S+ \S+ \[[^\]]+\] "(?P<method>\S+) (?P<path>\S+)[^"]*" (?P<status>\d{3}) (?P<size>\S+)` | status="404""#
        ),
        sorted(want)
    );
    // Bytes filter: "-" cannot be read as a size, so those lines carry an error and are dropped by __error__="".
    let big: Vec<String> = r
        .apache
        .iter()
        .filter(|l| combined(l).4.parse::<u64>().is_ok_and(|s| s > 100_000))
        .cloned()
        .collect();
    assert_eq!(
        raw(
            &r.env,
            r#"{job="apache"} | pattern `<_> - - [<_>] "<_>" <status> <size> <_>` | size > 100KB | __error__="""#
        ),
        sorted(big.clone())
    );
    let dash = r.apache.iter().filter(|l| combined(l).4 == "-").count();
    assert_eq!(
        raw(
            &r.env,
            r#"{job="apache"} | pattern `<_> - - [<_>] "<_>" <status> <size> <_>` | size > 100KB"#
        )
        .len(),
        big.len() + dash
    );
    // Pattern parser + numeric filter.
    // Requests that are not HTTP (TLS handshakes sent to port 80) make the pattern capture a
    // non-numeric status, which Loki keeps with __error__; these checks use well-formed requests.
    let http = |l: &&String| l.contains("HTTP/1.");
    let server_errors: Vec<String> = r
        .nginx
        .iter()
        .filter(http)
        .filter(|l| combined(l).3.parse::<u32>().unwrap() >= 500)
        .cloned()
        .collect();
    assert_eq!(
        raw(
            &r.env,
            r#"{job="nginx"} |= "HTTP/1." | pattern `<ip> - - [<_>] "<method> <path> <_>" <status> <_>` | status >= 500"#
        ),
        sorted(server_errors)
    );
    let garbage = r.nginx.iter().filter(|l| !l.contains("HTTP/1.")).count();
    assert!(garbage > 0);
    let with_error = raw(
        &r.env,
        r#"{job="nginx"} | pattern `<ip> - - [<_>] "<method> <path> <_>" <status> <_>` | status >= 500 | __error__="LabelFilterErr""#,
    );
    assert!(!with_error.is_empty() && with_error.len() <= garbage);
    // ip() label filter on the parsed client address.
    let ip_hits: Vec<String> = r
        .nginx
        .iter()
        .filter(|l| {
            combined(l)
                .0
                .parse::<Ipv4Addr>()
                .is_ok_and(|ip| ip.octets()[0] == 142)
        })
        .cloned()
        .collect();
    assert!(!ip_hits.is_empty());
    assert_eq!(
        raw(
            &r.env,
            r#"{job="nginx"} | pattern `<ip> <_>` | ip = ip("142.0.0.0/8")"#
        ),
        sorted(ip_hits)
    );
    // `or` of label filters.
    let or: Vec<String> = r
        .nginx
        .iter()
        .filter(http)
        .filter(|l| {
            let c = combined(l);
            c.1 == "POST" || c.3 == "404"
        })
        .cloned()
        .collect();
    assert_eq!(
        raw(
            &r.env,
            r#"{job="nginx"} |= "HTTP/1." | pattern `<ip> - - [<_>] "<method> <path> <_>" <status> <_>` | method="POST" or status="404""#
        ),
        sorted(or)
    );
}

#[test]
fn drop_keep_decolorize_unpack() {
    let Some(r) = setup() else { return };
    for (labels, _) in jsonl(&r.env, r#"{job="drone"} | json | keep level, method"#) {
        let keys: Vec<&String> = labels.as_object().unwrap().keys().collect();
        // keep drops every other label, stream labels too; a missing one stays missing.
        assert!(
            keys.iter().all(|k| *k == "level" || *k == "method"),
            "{keys:?}"
        );
        assert!(keys.iter().any(|k| *k == "level"));
    }
    for (labels, _) in jsonl(
        &r.env,
        r#"{job="drone"} | json | drop referer, remote, user_agent"#,
    ) {
        let o = labels.as_object().unwrap();
        assert!(o.contains_key("job") && o.contains_key("level"));
        assert!(
            !o.contains_key("referer")
                && !o.contains_key("remote")
                && !o.contains_key("user_agent")
        );
    }
    // decolorize and unpack over real lines, dressed up by the test.
    let colored: String = r
        .nginx
        .iter()
        .take(300)
        .map(|l| format!("\x1b[32m{l}\x1b[0m\n"))
        .collect();
    let packed: String = r
        .nginx
        .iter()
        .take(300)
        .enumerate()
        .map(|(i, l)| format!("{}\n", serde_json::json!({"_entry": l, "shard": (i % 3).to_string(), "ts": format!("2024-10-04T00:{:02}:{:02}Z", i / 60, i % 60)})))
        .collect();
    ingest_as(&r.env, "colored", &r.env.write("c.log", colored));
    ingest_as(&r.env, "packed", &r.env.write("p.log", packed));
    let first: Vec<String> = r.nginx.iter().take(300).cloned().collect();
    assert_eq!(
        raw(&r.env, r#"{job="colored"} | decolorize"#),
        sorted(first.clone())
    );
    assert_eq!(
        raw(&r.env, r#"{job="packed"} | unpack"#),
        sorted(first.clone())
    );
    let shard0: Vec<String> = first
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 3 == 0)
        .map(|(_, l)| l.clone())
        .collect();
    assert_eq!(
        raw(&r.env, r#"{job="packed"} | unpack | shard="0""#),
        sorted(shard0)
    );
}

#[test]
fn metric_counts_by_parsed_label() {
    let Some(r) = setup() else { return };
    let mut want: std::collections::BTreeMap<String, usize> = Default::default();
    for l in r.nginx.iter().filter(|l| l.contains("HTTP/1.")) {
        *want.entry(combined(l).3).or_default() += 1;
    }
    let v = r.env.cmd([
        "instant-query",
        "-o",
        "json",
        "--now",
        "2024-10-06T00:00:00Z",
        r#"sum by (status) (count_over_time({job="nginx"} |= "HTTP/1." | pattern `<_> - - [<_>] "<_>" <status> <_>` [7d]))"#,
    ]).json();
    let mut got: std::collections::BTreeMap<String, usize> = Default::default();
    for s in v["data"]["result"].as_array().unwrap() {
        got.insert(
            s["metric"]["status"].as_str().unwrap().to_string(),
            s["value"][1].as_str().unwrap().parse().unwrap(),
        );
    }
    assert_eq!(got, want);
    // bytes_over_time sums line lengths.
    let bytes: usize = r.nginx.iter().map(String::len).sum();
    let v = r
        .env
        .cmd([
            "instant-query",
            "-o",
            "json",
            "--now",
            "2024-10-06T00:00:00Z",
            r#"sum(bytes_over_time({job="nginx"}[7d]))"#,
        ])
        .json();
    assert_eq!(v["data"]["result"][0]["value"][1], bytes.to_string());
}
