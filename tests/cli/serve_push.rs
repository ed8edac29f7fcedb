//! `POST /loki/api/v1/push` on `lokal serve`: `lokal push` of one store
//! into `lokal serve` over another gives the same entries (lines, times,
//! labels, structured metadata) in both encodings; promtail-style protobuf
//! bodies built here and JSON bodies (gzip, deflate) round-trip, a resent
//! body is stored once, a 204 survives a SIGKILL of the server right after
//! it, and a SIGTERM commits what was accepted. The bad pushes compared with
//! the real Loki are in `serve.rs`' request-for-request test.
use std::io::Write;
use std::process::Command;
use std::time::Duration;

use lokal::loki::push::{
    encode, EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter, Timestamp,
};

use crate::common::*;
use crate::serve::{agent, Serve};

/// Posts `body` to `addr`'s push endpoint with `headers`: status and body.
pub(crate) fn post(addr: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    let mut b = agent().post(&format!("{addr}/loki/api/v1/push"));
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let mut resp = b
        .send(body)
        .unwrap_or_else(|e| panic!("push to {addr}: {e}"));
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_string().unwrap_or_default())
}

const JSON: (&str, &str) = ("Content-Type", "application/json");
const PROTO: (&str, &str) = ("Content-Type", "application/x-protobuf");

/// A Loki JSON push body: `streams` streams of `n` entries from `start_s`,
/// every third with structured metadata, lines with JSON escapes and UTF-8.
fn body(job: &str, streams: usize, n: usize, start_s: i64) -> String {
    let streams: Vec<_> = (0..streams)
        .map(|s| {
            let values: Vec<_> = (0..n)
                .map(|i| {
                    let ts = ((start_s + i as i64) * 1_000_000_000 + s as i64).to_string();
                    let line = format!("level=info s={s} i={i} msg=\"entry\\t{i}\" \u{e9}");
                    if i % 3 == 0 {
                        serde_json::json!([ts, line, {"trace_id": format!("t{i}")}])
                    } else {
                        serde_json::json!([ts, line])
                    }
                })
                .collect();
            serde_json::json!({"stream": {"job": job, "host": format!("h{s}")}, "values": values})
        })
        .collect();
    serde_json::json!({ "streams": streams }).to_string()
}

/// Every entry of `tenant` with its labels and metadata (`-o jsonl`).
fn entries(env: &TestEnv, tenant: &str) -> String {
    env.cmd([
        "query",
        "--tenant",
        tenant,
        "{job=~\".+\"}",
        "--from",
        "2024-04-01T00:00:00Z",
        "--to",
        "2024-07-01T00:00:00Z",
        "--limit",
        "0",
        "--forward",
        "--include-common-labels",
        "-o",
        "jsonl",
        "-z",
        "UTC",
    ])
    .stdout()
}

fn dump(env: &TestEnv, tenant: &str) -> Vec<Dumped> {
    parse_dump(
        &env.cmd(["dump", "--tenant", tenant])
            .run()
            .assert_code(0)
            .bytes,
    )
}

#[test]
fn lokal_push_into_serve_stores_every_entry_once_in_both_encodings() {
    let src = TestEnv::new();
    let f = src.write("app.json", body("app", 3, 400, 1_714_521_600));
    src.ingest([&f]).args(["--format", "loki-push"]).ok();
    let want = entries(&src, "fake");
    assert_eq!(want.lines().count(), 1200);
    assert_eq!(want.matches("trace_id").count(), 3 * 134);

    let dst = TestEnv::new();
    let s = Serve::start(&dst, &[]);
    for (format, tenant) in [("protobuf", "pb"), ("json", "js")] {
        let rep = src
            .cmd([
                "push",
                "--addr",
                &s.addr,
                "--format",
                format,
                "--batch-entries",
                "250",
                "-o",
                "json",
            ])
            .env("LOKI_ORG_ID", tenant)
            .json();
        assert_eq!(rep["entries"], 1200, "{rep}");
        assert!(rep["requests"].as_u64().unwrap() >= 5, "{rep}");
        assert_eq!(entries(&dst, tenant), want, "{format}");
    }
    // A push sent again from scratch (its checkpoint removed) is stored once.
    std::fs::remove_file(src.store().join("fake/PUSHED")).unwrap();
    src.cmd(["push", "--addr", &s.addr, "-q"])
        .env("LOKI_ORG_ID", "pb")
        .assert_code(0);
    assert_eq!(entries(&dst, "pb"), want);
    let (status, err) = s.stop();
    assert!(status.success(), "{status}: {err}");
    // The stop rebuilt the day indexes the pushes left stale.
    dst.cmd(["check", "--tenant", "pb"]).assert_code(0);
    assert_eq!(dump(&dst, "pb").len(), 1200);
}

/// A promtail-style stream: labels as Loki prints them, entries out of
/// order, one with metadata, one line not UTF-8.
fn promtail_body() -> PushRequest {
    let e = |s: i64, line: &[u8], md: &[(&str, &str)]| EntryAdapter {
        timestamp: Some(Timestamp::from_nanos(1_714_521_600_000_000_000 + s)),
        line: line.to_vec(),
        structured_metadata: md
            .iter()
            .map(|(n, v)| LabelPairAdapter {
                name: n.to_string(),
                value: v.to_string(),
            })
            .collect(),
    };
    PushRequest {
        streams: vec![
            StreamAdapter {
                labels: r#"{job="promtail", filename="/var/log/a.log", empty=""}"#.into(),
                entries: vec![
                    e(3, b"third", &[]),
                    e(1, b"first", &[("trace_id", "abc")]),
                    e(2, &[0xff, b'x', 0xfe], &[]),
                ],
                hash: 0,
            },
            // The same label set written in another order is the same stream.
            StreamAdapter {
                labels: r#"{filename="/var/log/a.log", job="promtail"}"#.into(),
                entries: vec![e(4, b"fourth", &[])],
                hash: 0,
            },
        ],
    }
}

#[test]
fn promtail_and_json_bodies_round_trip_and_a_204_is_durable() {
    let env = TestEnv::new();
    let s = Serve::start(&env, &[]);
    let pb = encode(&promtail_body());
    assert_eq!(post(&s.addr, &[PROTO], &pb), (204, String::new()));
    // Resent (a client retrying after a timeout): stored once.
    assert_eq!(post(&s.addr, &[PROTO], &pb), (204, String::new()));
    let json = body("js", 2, 30, 1_714_600_000);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(json.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    assert_eq!(
        post(
            &s.addr,
            &[JSON, ("Content-Encoding", "gzip"), ("X-Scope-OrgID", "t2")],
            &gz
        ),
        (204, String::new())
    );
    let mut df = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    df.write_all(body("df", 1, 10, 1_714_600_000).as_bytes())
        .unwrap();
    let df = df.finish().unwrap();
    assert_eq!(
        post(
            &s.addr,
            &[
                ("Content-Type", "application/json; charset=utf-8"),
                ("Content-Encoding", "deflate")
            ],
            &df
        ),
        (204, String::new())
    );

    // A 204 means stored: SIGKILL the server right away, nothing is lost.
    let mut s = s;
    s.child.kill().unwrap();
    s.child.wait().unwrap();
    let got = dump(&env, "fake");
    let lines: Vec<(i64, &[u8], &str)> = got
        .iter()
        .filter(|d| d.labels.contains("promtail"))
        .map(|d| (d.ts % 1_000_000_000, d.line.as_slice(), d.labels.as_str()))
        .collect();
    let l = r#"{filename="/var/log/a.log", job="promtail"}"#;
    assert_eq!(
        lines,
        [
            (1, &b"first"[..], l),
            (2, &[0xff, b'x', 0xfe][..], l),
            (3, &b"third"[..], l),
            (4, &b"fourth"[..], l)
        ]
    );
    assert_eq!(
        got.iter().filter(|d| d.labels.contains("\"df\"")).count(),
        10
    );
    assert_eq!(dump(&env, "t2").len(), 60);
    // Metadata kept.
    let q = env
        .cmd([
            "query",
            "{job=\"promtail\"} | trace_id=\"abc\"",
            "--from",
            "2024-05-01T00:00:00Z",
            "--to",
            "2024-05-02T00:00:00Z",
            "-o",
            "raw",
        ])
        .stdout();
    assert_eq!(q, "first\n");

    // A SIGTERM while pushes are in flight: each one answered 204 is stored.
    let s = Serve::start(&env, &["--workers", "3"]);
    let addr = s.addr.clone();
    let pushers: Vec<_> = (0..3)
        .map(|k| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let mut ok = 0;
                for i in 0..200 {
                    let b = body(&format!("c{k}"), 1, 5, 1_714_700_000 + i * 10);
                    match agent()
                        .post(&format!("{addr}/loki/api/v1/push"))
                        .header("Content-Type", "application/json")
                        .send(b.as_bytes())
                    {
                        Ok(r) if r.status().as_u16() == 204 => ok += 5,
                        _ => break,
                    }
                }
                ok
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    Command::new("kill")
        .arg(s.child.id().to_string())
        .status()
        .unwrap();
    let acked: usize = pushers.into_iter().map(|p| p.join().unwrap()).sum();
    let (status, err) = s.stop();
    assert!(status.success(), "{status}: {err}");
    let stored = dump(&env, "fake")
        .iter()
        .filter(|d| d.labels.contains("job=\"c"))
        .count();
    assert!(acked > 0, "no push answered before the stop");
    assert!(
        stored >= acked,
        "{acked} entries acknowledged, {stored} stored"
    );
    env.cmd(["check"]).assert_code(0);
}

#[test]
fn metrics_count_requests_latencies_and_pushed_lines() {
    let env = TestEnv::new();
    let s = Serve::start(&env, &[]);
    let json = body("m", 2, 10, 1_714_521_600);
    assert_eq!(post(&s.addr, &[JSON], json.as_bytes()).0, 204);
    let bad = r#"{"streams":[{"stream":{"job":"m"},"values":[["4000000000000000000","x"]]}]}"#;
    assert_eq!(post(&s.addr, &[JSON], bad.as_bytes()).0, 400);
    let a = agent();
    for _ in 0..3 {
        a.get(&format!("{}/loki/api/v1/labels", s.addr))
            .call()
            .unwrap();
    }
    let mut resp = a.get(&format!("{}/metrics", s.addr)).call().unwrap();
    assert_eq!(
        resp.headers()["Content-Type"].to_str().unwrap(),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = resp.body_mut().read_to_string().unwrap();
    let labels = "method=\"GET\",route=\"loki_api_v1_labels\",status_code=\"200\",ws=\"false\"";
    assert!(
        text.contains(&format!(
            "loki_request_duration_seconds_count{{{labels}}} 3\n"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "loki_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} 3\n"
        )),
        "{text}"
    );
    assert!(
        text.contains("route=\"loki_api_v1_push\",status_code=\"204\""),
        "{text}"
    );
    assert!(
        text.contains("route=\"loki_api_v1_push\",status_code=\"400\""),
        "{text}"
    );
    assert!(
        text.contains("loki_distributor_lines_received_total{tenant=\"fake\"} 20\n"),
        "{text}"
    );
    let bytes: usize = serde_json::from_str::<serde_json::Value>(&json).unwrap()["streams"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["values"].as_array().unwrap().iter())
        .map(|v| v[1].as_str().unwrap().len())
        .sum();
    assert!(
        text.contains(&format!(
            "loki_distributor_bytes_received_total{{tenant=\"fake\"}} {bytes}\n"
        )),
        "{text}"
    );
    assert!(
        text.contains("loki_discarded_samples_total{tenant=\"fake\"} 1\n"),
        "{text}"
    );
    // Prometheus' own linter reads it.
    if crate::support::loki::have("promtool", "--version") {
        crate::support::loki::pipe_ok(
            Command::new("promtool").args(["check", "metrics"]),
            text.as_bytes(),
        );
    }
    s.stop();
}

/// SIGKILLs `lokal serve` stopped at each step of a push's commit: the
/// store stays sound, the push is stored whole or not at all, and the
/// client's retry (it got no 204) stores every entry exactly once.
#[test]
fn a_push_killed_at_each_commit_step_is_stored_whole_or_not_and_once_after_a_retry() {
    let json = body("crash", 3, 50, 1_714_521_600);
    for point in [
        "segment-create",
        "segment-publish",
        "index-write",
        "manifest-write",
        "commit",
    ] {
        let env = TestEnv::new();
        let mut cmd = env.std_command();
        cmd.args(["serve", "--listen", "127.0.0.1:0"])
            .env("LOKAL_TEST_STOP", point);
        let mut s = Serve::spawn(cmd);
        let addr = s.addr.clone();
        let b = json.clone();
        let client = std::thread::spawn(move || {
            agent()
                .post(&format!("{addr}/loki/api/v1/push"))
                .header("Content-Type", "application/json")
                .send(b.as_bytes())
                .map(|r| r.status().as_u16())
        });
        let t = std::time::Instant::now();
        while !s
            .stderr
            .lock()
            .unwrap()
            .contains(&format!("lokal-trace: {point}\n"))
        {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "{point} never reached"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        s.child.kill().unwrap();
        s.child.wait().unwrap();
        let answered = client.join().unwrap();
        assert!(answered.is_err(), "{point}: the client got {answered:?}");
        let stored = dump(&env, "fake").len();
        assert!(
            stored == 0 || stored == 150,
            "{point}: {stored} of 150 entries stored"
        );
        env.cmd(["check"]).assert_code(0);
        // The client retries.
        let s = Serve::start(&env, &[]);
        assert_eq!(post(&s.addr, &[JSON], json.as_bytes()).0, 204, "{point}");
        s.stop();
        assert_eq!(dump(&env, "fake").len(), 150, "{point}");
        env.cmd(["check"]).assert_code(0);
    }
}

/// Reads the next text message of a tail.
fn next_message(
    ws: &mut tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>,
) -> serde_json::Value {
    loop {
        match ws.read().unwrap() {
            tungstenite::Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
            tungstenite::Message::Ping(_) | tungstenite::Message::Pong(_) => {}
            other => panic!("tail sent {other:?}"),
        }
    }
}

#[test]
fn tail_sends_the_last_entries_then_new_ones_in_lokis_shape() {
    let env = TestEnv::new();
    let s = Serve::start(&env, &["--max-tails", "1"]);
    let now = jiff::Timestamp::now().as_nanosecond() as i64;
    let push = |ts: i64, line: &str| {
        let b = format!(
            r#"{{"streams":[{{"stream":{{"job":"tl"}},"values":[["{ts}","{line}",{{"trace_id":"t1"}}]]}}]}}"#
        );
        assert_eq!(post(&s.addr, &[JSON], b.as_bytes()).0, 204);
    };
    push(now - 2_000_000_000, "before");
    push(now - 1_000_000_000, "before 2");
    let ws_addr = s.addr.replace("http://", "ws://");
    let url = format!(
        "{ws_addr}/loki/api/v1/tail?query=%7Bjob%3D%22tl%22%7D&limit=1&start={}",
        now - 60_000_000_000
    );
    let (mut ws, resp) = tungstenite::connect(url.as_str()).unwrap();
    assert_eq!(resp.status().as_u16(), 101);
    // The last `limit` entries first.
    let first = next_message(&mut ws);
    assert_eq!(
        first,
        serde_json::json!({"streams": [{"stream": {"job": "tl", "trace_id": "t1"},
            "values": [[(now - 1_000_000_000).to_string(), "before 2"]]}]})
    );
    // A second tail is over --max-tails: Loki's 400.
    let (code, body, _) = {
        let mut r = agent()
            .get(&format!(
                "{}/loki/api/v1/tail?query=%7Bjob%3D%22tl%22%7D",
                s.addr
            ))
            .header("Connection", "Upgrade")
            .header("Upgrade", "websocket")
            .header("Sec-WebSocket-Version", "13")
            .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
            .call()
            .unwrap();
        (
            r.status().as_u16(),
            r.body_mut().read_to_string().unwrap(),
            (),
        )
    };
    assert_eq!(
        (code, body.as_str()),
        (
            400,
            "max concurrent tail requests limit exceeded, count > limit (2 > 1)"
        )
    );
    // Then what arrives, once each, oldest first.
    push(now + 1, "new one");
    push(now + 2, "new two");
    assert_eq!(tail_lines(&mut ws, 2), ["new one", "new two"]);
    // A metric query cannot be tailed.
    let (code, _, _) = {
        let mut r = agent()
            .get(&format!(
                "{}/loki/api/v1/tail?query=count_over_time(%7Bjob%3D%22tl%22%7D%5B1m%5D)",
                s.addr
            ))
            .call()
            .unwrap();
        (
            r.status().as_u16(),
            r.body_mut().read_to_string().unwrap(),
            (),
        )
    };
    assert_eq!(code, 400);
    drop(ws);
    let (status, err) = s.stop();
    assert!(status.success(), "{status}: {err}");
}

/// The lines of a tail's messages until `want` of them came; fails after
/// 20 s without them (a tail's pings do not count).
fn tail_lines(
    ws: &mut tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>,
    want: usize,
) -> Vec<String> {
    if let tungstenite::stream::MaybeTlsStream::Plain(tcp) = ws.get_ref() {
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    }
    let t = std::time::Instant::now();
    let mut lines = Vec::new();
    while lines.len() < want {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "not tailed: {want} lines, got {lines:?}"
        );
        let m = match ws.read().unwrap() {
            tungstenite::Message::Text(t) => {
                serde_json::from_str::<serde_json::Value>(t.as_str()).unwrap()
            }
            _ => continue,
        };
        for s in m["streams"].as_array().unwrap() {
            for v in s["values"].as_array().unwrap() {
                lines.push(v[1].as_str().unwrap().to_string());
            }
        }
    }
    lines
}

/// Loki tails on arrival: an entry pushed with a time older than what the
/// websocket already sent, and one ingested by another process, are sent
/// too, once each (a tail by time would skip them).
#[test]
fn tail_sends_entries_stored_late_with_older_times_once() {
    let env = TestEnv::new();
    let s = Serve::start(&env, &[]);
    let now = jiff::Timestamp::now().as_nanosecond() as i64;
    let push = |ts: i64, line: &str| {
        let b = format!(
            r#"{{"streams":[{{"stream":{{"job":"late"}},"values":[["{ts}","{line}"]]}}]}}"#
        );
        assert_eq!(post(&s.addr, &[JSON], b.as_bytes()).0, 204);
    };
    push(now, "first");
    let url = format!(
        "{}/loki/api/v1/tail?query=%7Bjob%3D%22late%22%7D&start={}",
        s.addr.replace("http://", "ws://"),
        now - 60_000_000_000
    );
    let (mut ws, _) = tungstenite::connect(url.as_str()).unwrap();
    assert_eq!(tail_lines(&mut ws, 1), ["first"]);
    push(now + 5_000_000_000, "newest");
    assert_eq!(tail_lines(&mut ws, 1), ["newest"]);
    // Older than everything sent so far.
    push(now - 10_000_000_000, "pushed late");
    assert_eq!(tail_lines(&mut ws, 1), ["pushed late"]);
    // Another process's commit, older still.
    let file = env.write(
        "late.json",
        format!(
            r#"{{"streams":[{{"stream":{{"job":"late"}},"values":[["{}","ingested late"]]}}]}}"#,
            now - 20_000_000_000
        ),
    );
    env.ok([
        "ingest".as_ref(),
        "--format".as_ref(),
        "loki-push".as_ref(),
        file.as_os_str(),
    ]);
    assert_eq!(tail_lines(&mut ws, 1), ["ingested late"]);
    // Nothing was sent twice: the next message is the next entry.
    push(now + 6_000_000_000, "last");
    assert_eq!(tail_lines(&mut ws, 1), ["last"]);
    drop(ws);
    let (status, err) = s.stop();
    assert!(status.success(), "{status}: {err}");
}

/// Loki's reference pusher of `../shared/loki` (Python, JSON bodies of
/// 3,000 entries, then `/flush` and a count) into `lokal serve`: the store
/// then holds what `lokal ingest` of the same dataset holds.
#[test]
fn shared_push_to_loki_script_into_serve_stores_the_dataset() {
    let Some(loki_dir) = crate::support::shared("loki") else {
        return;
    };
    if !crate::support::loki::have("python3", "--version") {
        return;
    }
    let Some(src) = crate::diff::dataset_store() else {
        return;
    };
    let dst = TestEnv::new();
    let s = Serve::start(&dst, &[]);
    let out = crate::support::loki::run_ok(
        Command::new("python3")
            .arg(loki_dir.join("push_to_loki.py"))
            .args(["--addr", &s.addr, "--dataset"])
            .arg(src.path().join("dataset.jsonl")),
    );
    assert!(out.contains("-> OK"), "{out}");
    assert!(out.contains("flush -> 204"), "{out}");
    let (status, err) = s.stop();
    assert!(status.success(), "{status}: {err}");
    eqnice!(entries(&src, "fake"), entries(&dst, "fake"));
}
