//! `lokal push` and `--addr`: the Loki bridge's client side.
//!
//! Without Loki: a small HTTP server in the test (a real socket, a real
//! HTTP/1.1 exchange; it decodes what it receives with Loki's wire format
//! and answers as scripted) shows the round trip of every entry in both
//! encodings, batch bounds, headers and credentials, the checkpoint (a
//! repeated push sends nothing, new data only the new), retries on 429/503
//! honouring `Retry-After`, refusals, running out of retries, and a push
//! SIGKILLed at random trace points resending at most the one request in
//! flight.
//!
//! With the real Loki of `../shared/loki` (skipped with a note when absent,
//! failing under `CI=true`): the differential dataset pushed by a push that
//! is killed twice and resumed, Loki's count exactly the dataset's; Loki's
//! answers to a sample of the differential suite equal to the recorded
//! fixtures byte for byte and to lokal's own; and `query --addr`,
//! `instant-query --addr`, `labels --addr`, `series --addr` printing byte
//! for byte what the local commands print, in every output format.
use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;
use crate::support::loki::Loki;

/// One entry as pushed: stream labels, ts, line, structured metadata.
type Wire = (String, i64, Vec<u8>, Vec<(String, String)>);

/// A scripted answer.
#[derive(Clone)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn status(status: u16, headers: &[(&str, &str)], body: &str) -> Reply {
        Reply {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.to_string(),
        }
    }
}

/// One request the server received.
#[derive(Clone)]
struct Received {
    at: Instant,
    path: String,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
    /// The status it was answered with.
    status: u16,
}

impl Received {
    /// The entries of a push body (protobuf+snappy or JSON).
    fn entries(&self) -> Vec<Wire> {
        let ct = self
            .headers
            .get("content-type")
            .cloned()
            .unwrap_or_default();
        if ct == "application/x-protobuf" {
            let req = lokal::loki::push::decode(&self.body).expect("a push body");
            req.streams
                .iter()
                .flat_map(|s| {
                    s.entries.iter().map(|e| {
                        (
                            s.labels.clone(),
                            e.timestamp.unwrap().as_nanos(),
                            e.line.clone(),
                            e.structured_metadata
                                .iter()
                                .map(|p| (p.name.clone(), p.value.clone()))
                                .collect(),
                        )
                    })
                })
                .collect()
        } else {
            assert_eq!(ct, "application/json");
            let v: serde_json::Value = serde_json::from_slice(&self.body).unwrap();
            let mut out = Vec::new();
            for s in v["streams"].as_array().unwrap() {
                let labels: Vec<(String, String)> = s["stream"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect();
                let labels = format!(
                    "{{{}}}",
                    labels
                        .iter()
                        .map(|(k, v)| format!("{k}={v:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                for e in s["values"].as_array().unwrap() {
                    let md = e.get(2).map_or(Vec::new(), |m| {
                        m.as_object()
                            .unwrap()
                            .iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                            .collect()
                    });
                    out.push((
                        labels.clone(),
                        e[0].as_str().unwrap().parse().unwrap(),
                        e[1].as_str().unwrap().as_bytes().to_vec(),
                        md,
                    ));
                }
            }
            out
        }
    }
}

/// A small HTTP/1.1 server on a free loopback port: answers with the
/// scripted replies in order, then 204; records every request.
struct Server {
    addr: String,
    script: Arc<Mutex<VecDeque<Reply>>>,
    log: Arc<Mutex<Vec<Received>>>,
}

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        let script: Arc<Mutex<VecDeque<Reply>>> = Arc::default();
        let log: Arc<Mutex<Vec<Received>>> = Arc::default();
        let (s, l) = (script.clone(), log.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let (s, l) = (s.clone(), l.clone());
                std::thread::spawn(move || serve(conn, &s, &l));
            }
        });
        Server { addr, script, log }
    }

    fn then(&self, r: Reply) -> &Self {
        self.script.lock().unwrap().push_back(r);
        self
    }

    fn received(&self) -> Vec<Received> {
        self.log.lock().unwrap().clone()
    }

    /// The entries of every accepted (2xx) push.
    fn accepted(&self) -> Vec<Wire> {
        self.received()
            .iter()
            .filter(|r| (200..300).contains(&r.status))
            .flat_map(|r| r.entries())
            .collect()
    }
}

/// Answers the requests of one connection (keep-alive) until it closes.
fn serve(conn: TcpStream, script: &Mutex<VecDeque<Reply>>, log: &Mutex<Vec<Received>>) {
    let mut w = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    loop {
        let mut first = String::new();
        if r.read_line(&mut first).unwrap_or(0) == 0 {
            return;
        }
        let path = first.split(' ').nth(1).unwrap_or("").to_string();
        let mut headers = BTreeMap::new();
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let len: usize = headers
            .get("content-length")
            .map_or(0, |v| v.parse().unwrap());
        let mut body = vec![0; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        let reply = script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Reply::status(204, &[], ""));
        log.lock().unwrap().push(Received {
            at: Instant::now(),
            path,
            headers,
            body,
            status: reply.status,
        });
        let mut out = format!(
            "HTTP/1.1 {} X\r\nContent-Length: {}\r\n",
            reply.status,
            reply.body.len()
        );
        for (k, v) in &reply.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        out.push_str(&reply.body);
        if w.write_all(out.as_bytes()).is_err() {
            return;
        }
    }
}

/// A Loki push body with `streams` streams of `n` entries from `start_s`,
/// every third entry with structured metadata; and the entries it holds.
fn push_body(job: &str, streams: usize, n: usize, start_s: i64) -> (String, Vec<Wire>) {
    let mut want = Vec::new();
    let mut body = Vec::new();
    for s in 0..streams {
        let mut values = Vec::new();
        for i in 0..n {
            let ts = (start_s + i as i64) * 1_000_000_000 + s as i64;
            let line = format!("level=info stream={s} i={i} msg=\"entry {i} of {job}\" \u{e9}");
            let md: Vec<(String, String)> = if i % 3 == 0 {
                vec![("trace_id".into(), format!("t{i}"))]
            } else {
                vec![]
            };
            let mut v = serde_json::json!([ts.to_string(), line]);
            if !md.is_empty() {
                v.as_array_mut()
                    .unwrap()
                    .push(serde_json::json!({"trace_id": md[0].1}));
            }
            values.push(v);
            want.push((
                format!("{{host=\"h{s}\", job=\"{job}\"}}"),
                ts,
                line.into_bytes(),
                md,
            ));
        }
        body.push(
            serde_json::json!({"stream": {"job": job, "host": format!("h{s}")}, "values": values}),
        );
    }
    (serde_json::json!({ "streams": body }).to_string(), want)
}

/// A store holding `push_body(job, …)`; the entries it holds.
fn store_with(env: &TestEnv, job: &str, streams: usize, n: usize, start_s: i64) -> Vec<Wire> {
    let (body, want) = push_body(job, streams, n, start_s);
    let f = env.write(&format!("{job}.json"), body);
    env.ingest([&f]).args(["--format", "loki-push"]).ok();
    want
}

fn sorted(mut v: Vec<Wire>) -> Vec<Wire> {
    v.sort();
    v
}

fn push_json(env: &TestEnv, addr: &str, extra: &[&str]) -> serde_json::Value {
    env.cmd([
        "push",
        "--addr",
        addr,
        "-o",
        "json",
        "--min-backoff",
        "10ms",
    ])
    .args(extra)
    .json()
}

#[test]
fn push_round_trips_every_entry_in_both_encodings_once() {
    let env = TestEnv::new();
    let want = store_with(&env, "app", 3, 700, 1_714_000_000);
    for (format, auth) in [
        ("protobuf", ["--username", "u", "--password", "p"]),
        ("json", ["--bearer-token", "tok", "--auth-header", "X-Auth"]),
    ] {
        let srv = Server::start();
        let run = env
            .cmd([
                "push", "--addr", &srv.addr, "-o", "json", "--format", format,
            ])
            .args(["--batch-entries", "500", "--batch-size", "64KiB"])
            .args(auth)
            .arg("--tenant")
            .arg("fake")
            .run()
            .assert_code(0);
        let rep = run.json();
        let got = srv.accepted();
        eqnice!(
            format!("{:?}", sorted(want.clone())),
            format!("{:?}", sorted(got.clone())),
            "{format}: every entry, once"
        );
        let reqs = srv.received();
        assert_eq!(rep["entries"], want.len() as u64, "{rep}");
        assert_eq!(rep["streams"], 3);
        assert_eq!(rep["requests"], reqs.len() as u64);
        assert_eq!(rep["retries"], 0);
        for r in &reqs {
            assert_eq!(r.path, "/loki/api/v1/push");
            let e = r.entries();
            assert!(e.len() <= 500, "{} entries in one request", e.len());
            let bytes: usize = e
                .iter()
                .map(|(_, _, l, md)| {
                    l.len() + md.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
                })
                .sum();
            assert!(bytes <= 64 << 10, "{bytes} bytes in one request");
            // The default tenant sends no X-Scope-OrgID (as logcli without --org-id).
            assert!(!r.headers.contains_key("x-scope-orgid"));
            if format == "protobuf" {
                assert_eq!(r.headers["authorization"], "Basic dTpw");
            } else {
                assert_eq!(r.headers["x-auth"], "Bearer tok");
            }
        }
        // Each stream in time order, as Loki requires.
        let mut last: BTreeMap<String, i64> = BTreeMap::new();
        for (l, ts, _, _) in &got {
            assert!(
                last.insert(l.clone(), *ts).is_none_or(|p| p < *ts),
                "{l} out of order"
            );
        }
        // Again: nothing to send.
        let again = push_json(&env, &srv.addr, &["--format", format]);
        assert_eq!(again["entries"], 0, "{again}");
        assert_eq!(
            srv.received().len(),
            reqs.len(),
            "a repeated push sent requests"
        );
    }

    // New data: only it is sent; $LOKI_ORG_ID is the org id of the default tenant.
    let srv = Server::start();
    push_json(&env, &srv.addr, &[]);
    let more = store_with(&env, "later", 1, 50, 1_714_100_000);
    let n = srv.received().len();
    let rep = push_json(&env, &srv.addr, &[]);
    assert_eq!(rep["entries"], 50, "{rep}");
    let fresh: Vec<Wire> = srv.received()[n..]
        .iter()
        .flat_map(|r| r.entries())
        .collect();
    assert_eq!(sorted(fresh), sorted(more));

    // The summary people read (the port varies: the same number of Ps
    // keeps the table's width).
    let srv = Server::start();
    let table = env
        .cmd(["push", "--addr", &srv.addr, "--batch-entries", "400"])
        .stdout();
    let port = srv.addr.rsplit(':').next().unwrap();
    let masked = table.replace(
        &format!(":{port} "),
        &format!(":{} ", "P".repeat(port.len())),
    );
    insta::assert_snapshot!("push_summary", masked);

    let srv = Server::start();
    env.cmd(["push", "--addr", &srv.addr, "-q"])
        .env("LOKI_ORG_ID", "team-a")
        .run()
        .assert_code(0);
    assert!(srv
        .received()
        .iter()
        .all(|r| r.headers.get("x-scope-orgid").map(String::as_str) == Some("team-a")));
    // `lokal check` reads the checkpoint and finds it sound.
    let out = env.ok(["check"]);
    assert!(out.contains("no problems"), "{out}");
}

#[test]
fn push_retries_429_and_503_as_retry_after_says() {
    let env = TestEnv::new();
    let want = store_with(&env, "app", 2, 300, 1_714_000_000);
    let srv = Server::start();
    srv.then(Reply::status(
        429,
        &[("Retry-After", "1")],
        "Ingestion rate limit exceeded",
    ))
    .then(Reply::status(
        503,
        &[("Retry-After", "1")],
        "ingester unavailable",
    ));
    let t = Instant::now();
    let rep = push_json(&env, &srv.addr, &["--batch-entries", "200"]);
    assert!(t.elapsed() >= Duration::from_secs(2), "{:?}", t.elapsed());
    let reqs = srv.received();
    assert_eq!(reqs[0].status, 429);
    assert_eq!(reqs[1].status, 503);
    // --min-backoff is 10ms: the waits are Retry-After's.
    for w in reqs.windows(2).take(2) {
        let gap = w[1].at - w[0].at;
        assert!(gap >= Duration::from_millis(950), "waited {gap:?}");
    }
    assert_eq!(reqs[0].body, reqs[2].body, "the same batch is sent again");
    assert_eq!(rep["retries"], 2, "{rep}");
    assert_eq!(rep["requests"], (reqs.len() - 2) as u64);
    assert_eq!(sorted(srv.accepted()), sorted(want.clone()));

    // Without Retry-After: exponential backoff from --min-backoff; when the
    // retries run out the push stops (exit 4), keeping what was delivered.
    let env = TestEnv::new();
    let want = store_with(&env, "app", 1, 400, 1_714_000_000);
    let srv = Server::start();
    srv.then(Reply::status(204, &[], ""));
    for _ in 0..3 {
        srv.then(Reply::status(500, &[], "boom"));
    }
    let t = Instant::now();
    let run = env
        .cmd(["push", "--addr", &srv.addr, "--batch-entries", "100"])
        .args(["--retries", "2", "--min-backoff", "20ms"])
        .assert_code(4);
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(
        run.stderr.contains("after 100 entries were delivered")
            && run.stderr.contains("HTTP 500: boom"),
        "{}",
        run.stderr
    );
    let reqs = srv.received();
    assert_eq!(reqs.len(), 4);
    let (g1, g2) = (reqs[2].at - reqs[1].at, reqs[3].at - reqs[2].at);
    assert!(
        g1 >= Duration::from_millis(20) && g2 >= Duration::from_millis(40),
        "{g1:?} {g2:?}"
    );
    // The next run resumes after the delivered batch.
    let rep = push_json(&env, &srv.addr, &["--batch-entries", "100"]);
    assert_eq!(rep["entries"], 300, "{rep}");
    assert_eq!(sorted(srv.accepted()), sorted(want));

    // Nobody listening: exit 4 after the retries.
    let port = crate::support::loki::free_port();
    let run = env
        .cmd(["push", "--addr", &format!("http://127.0.0.1:{port}")])
        .args(["--retries", "1", "--min-backoff", "1ms"])
        .assert_code(4);
    assert!(run.stderr.contains("(after 2 attempts)"), "{}", run.stderr);
}

#[test]
fn push_reports_what_loki_refused_and_moves_on() {
    let env = TestEnv::new();
    let want = store_with(&env, "app", 1, 300, 1_714_000_000);
    let srv = Server::start();
    let reason = "entry for stream '{host=\"h0\", job=\"app\"}' has timestamp too old\nuser 'fake', total ignored: 3 out of 100 for stream: {host=\"h0\", job=\"app\"}";
    srv.then(Reply::status(400, &[], reason));
    let run = env
        .cmd([
            "push",
            "--addr",
            &srv.addr,
            "-o",
            "json",
            "--batch-entries",
            "100",
        ])
        .assert_code(2);
    let rep = run.json();
    assert_eq!(rep["rejected"], 3, "{rep}");
    assert_eq!(rep["rejects"][0]["status"], 400);
    assert_eq!(rep["rejects"][0]["reason"], reason);
    assert_eq!(rep["retries"], 0);
    assert!(
        run.stderr.contains("Loki refused 3 entries (HTTP 400)"),
        "{}",
        run.stderr
    );
    // Not sent again, now or later.
    assert_eq!(srv.received().len(), 3);
    assert_eq!(push_json(&env, &srv.addr, &[])["entries"], 0);
    let all: Vec<Wire> = srv.received().iter().flat_map(|r| r.entries()).collect();
    assert_eq!(sorted(all), sorted(want));
}

/// `crash::kill_at` for `&str` arguments, killing right at the point.
fn kill_at(env: &TestEnv, args: &[&str], k: u64) -> (bool, Vec<String>) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    crate::crash::kill_at(env, &args, k, 0)
}

#[test]
fn a_killed_push_resumes_resending_at_most_the_request_in_flight() {
    let env = TestEnv::new();
    let want = store_with(&env, "app", 4, 500, 1_714_000_000);
    let srv = Server::start();
    let args = ["push", "--addr", &srv.addr, "--batch-entries", "90"];
    // Points: a checkpoint when the run starts, then push-sent and
    // push-checkpoint per request, and the last checkpoint.
    let mut kills = 0;
    for k in [2, 7, 12, 13, 30] {
        let (killed, points) = kill_at(&env, &args, k);
        assert!(
            points
                .iter()
                .all(|p| p == "push-sent" || p == "push-checkpoint"),
            "{points:?}"
        );
        kills += usize::from(killed);
    }
    assert!(kills >= 4, "only {kills} kills landed");
    env.cmd(args).assert_code(0);
    let got = srv.accepted();
    let mut count: BTreeMap<&Wire, usize> = BTreeMap::new();
    for e in &got {
        *count.entry(e).or_default() += 1;
    }
    for w in &want {
        assert!(count.contains_key(w), "never sent: {w:?}");
    }
    assert_eq!(count.len(), want.len());
    let resent: usize = count.values().map(|n| n - 1).sum();
    assert!(
        resent <= kills * 90,
        "{resent} entries sent twice after {kills} kills"
    );
    let cp: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.store().join("fake/PUSHED")).unwrap()).unwrap();
    let target = cp["targets"].as_object().unwrap().values().next().unwrap();
    assert_eq!(target["entries"], want.len() as u64, "{cp}");
    assert!(target.get("run").is_none(), "{cp}");
    let out = env.ok(["check"]);
    assert!(out.contains("no problems"), "{out}");
}

#[test]
fn a_damaged_checkpoint_is_a_problem_for_check_and_an_error_for_push() {
    let env = TestEnv::new();
    store_with(&env, "app", 1, 10, 1_714_000_000);
    std::fs::write(env.store().join("fake/PUSHED"), b"{\"version\":1,").unwrap();
    let run = env.cmd(["check"]).assert_code(3);
    assert!(
        run.stdout.contains("PUSHED: corrupt push checkpoint"),
        "{}",
        run.stdout
    );
    let srv = Server::start();
    let run = env.cmd(["push", "--addr", &srv.addr]).assert_code(3);
    assert!(
        run.stderr.contains("corrupt push checkpoint"),
        "{}",
        run.stderr
    );
    assert!(srv.received().is_empty());
    // A tenant without data sends nothing.
    let rep = env
        .cmd([
            "push", "--addr", &srv.addr, "--tenant", "empty", "-o", "json",
        ])
        .json();
    assert_eq!(rep["entries"], 0, "{rep}");
    assert!(srv.received().is_empty());
    // Push needs an address.
    let run = env.cmd(["push"]).assert_code(2);
    assert!(
        run.stderr.contains("--addr URL or $LOKI_ADDR"),
        "{}",
        run.stderr
    );
}

/// `data.stats` removed: what Loki measured is its own.
fn without_stats(text: &str) -> String {
    let mut v: serde_json::Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    if let Some(d) = v["data"].as_object_mut() {
        d.remove("stats");
    }
    serde_json::to_string_pretty(&v).unwrap()
}

/// Runs `args` over the store and with `--addr`: the same stdout
/// (`-o json`: up to `data.stats`) and exit code.
fn same_remote(env: &TestEnv, addr: &str, args: &[&str]) {
    let local = env.cmd(args).run();
    let remote = env.cmd(args).args(["--addr", addr]).run();
    assert_eq!(
        local.code, remote.code,
        "{args:?}\nlocal: {}\nremote: {}",
        local.stderr, remote.stderr
    );
    let json = args.windows(2).any(|w| w == ["-o", "json"]);
    if json && local.code != Some(2) {
        eqnice!(
            without_stats(&local.stdout),
            without_stats(&remote.stdout),
            "{args:?}"
        );
        // Everything before `stats` is byte for byte the same.
        let cut = |s: &str| s[..s.find("\"stats\"").unwrap()].to_string();
        eqnice!(cut(&local.stdout), cut(&remote.stdout), "{args:?}");
    } else {
        eqnice!(local.stdout, remote.stdout, "{args:?}");
    }
}

#[test]
fn push_into_loki_then_loki_and_addr_answer_as_lokal() {
    let Some(env) = crate::diff::dataset_store() else {
        return;
    };
    // Structured metadata, in March (outside every window of the suite).
    let sm = store_with(&env, "sm", 2, 40, 1_709_251_200);
    let Some(loki) = Loki::start(env.path()) else {
        return;
    };
    let total = 24_757 + sm.len() as u64;

    // 1. A push killed twice and resumed stores every entry once.
    let args = ["push", "--addr", &loki.addr, "--batch-size", "256KiB"];
    for k in [4, 9] {
        kill_at(&env, &args, k);
    }
    let rep = env.cmd(args).args(["-o", "json"]).json();
    assert!(rep["resumed"].as_u64().unwrap() > 0, "{rep}");
    // Flushing is asynchronous, stream by stream: wait for all of it (a
    // window from March to May), then count each part.
    assert_eq!(
        loki.flush_and_count("2024-05-01T02:00:00Z", "62d", total),
        total
    );
    assert_eq!(loki.count("2024-05-01T02:00:00Z", "3h"), 24_757);
    assert_eq!(loki.count("2024-03-01T01:00:00Z", "2h"), sm.len() as u64);
    let cp: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.store().join("fake/PUSHED")).unwrap()).unwrap();
    let target = cp["targets"].as_object().unwrap().values().next().unwrap();
    assert_eq!(target["entries"], total, "{cp}");
    // Per stream, Loki counts what lokal counts.
    let per_stream = |addr: Option<&str>| {
        let mut c = env.cmd([
            "instant-query",
            "-o",
            "jsonl",
            "--now",
            "2024-05-01T02:00:00Z",
        ]);
        c.arg("count_over_time({job=~\".+\"}[3h])");
        if let Some(a) = addr {
            c.args(["--addr", a]);
        }
        let mut lines: Vec<String> = c.stdout().lines().map(String::from).collect();
        lines.sort();
        lines
    };
    assert_eq!(per_stream(None), per_stream(Some(&loki.addr)));

    // 2. Loki's answers over what lokal pushed are the recorded fixtures,
    //    and lokal agrees with them as the differential suite requires.
    let suite = crate::diff::suite_dir();
    let queries = suite.join("queries.tsv");
    let rows = crate::diff_live::sample(&crate::diff::read_queries(&queries));
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let live = env.path().join("live");
    let loki_dir = crate::support::shared("loki").unwrap();
    crate::diff_live::record(&loki_dir, &loki.addr, &queries, &live, &ids);
    let drift: Vec<&str> = ids
        .iter()
        .copied()
        .filter(|id| {
            let file = format!("{id}.json");
            std::fs::read(live.join(&file)).ok()
                != std::fs::read(suite.join("expected").join(&file)).ok()
        })
        .collect();
    assert!(
        drift.is_empty(),
        "Loki's answers over pushed data differ from the fixtures: {drift:?}"
    );
    let outcomes = crate::diff::run_lokal(env.store(), &rows);
    let (problems, _, _) = crate::diff::judge(&rows, &outcomes, &live);
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // 3. `--addr` prints what the local command prints.
    let range = [
        "--from",
        "2024-05-01T00:00:00Z",
        "--to",
        "2024-05-01T02:00:00Z",
        "-z",
        "UTC",
    ];
    let log_queries: [(&str, &[&str]); 4] = [
        (r#"{job="kafka"}"#, &["--limit", "50", "--batch", "7"]),
        (
            r#"{job="nginx_access"} |= "GET""#,
            &["--limit", "300", "--batch", "64", "--forward"],
        ),
        (
            r#"{job="distributor_logfmt"} | logfmt | level="warn""#,
            &["--limit", "0", "--batch", "100"],
        ),
        (r#"{job="zookeeper"} |= "nothing matches this""#, &[]),
    ];
    for (q, extra) in log_queries {
        for o in ["default", "raw", "jsonl", "json"] {
            let mut a: Vec<&str> = vec!["query", "-o", o, q];
            a.extend(range);
            a.extend(extra);
            same_remote(&env, &loki.addr, &a);
        }
        let mut a: Vec<&str> = vec![
            "query",
            "--no-labels",
            "--output-timestamp-format",
            "rfc3339nano",
            q,
        ];
        a.extend(range);
        a.extend(extra);
        same_remote(&env, &loki.addr, &a);
    }
    for q in [
        r#"sum by (host) (count_over_time({job="kafka"}[10m]))"#,
        r#"rate({job="apache_access"}[5m])"#,
        r#"sum(bytes_over_time({job=~"nginx.*"}[30m]))"#,
    ] {
        for o in ["default", "raw", "jsonl", "json"] {
            let mut a: Vec<&str> = vec!["query", "-o", o, "--step", "10m", q];
            a.extend(range);
            same_remote(&env, &loki.addr, &a);
        }
    }
    // Instant vectors: Loki orders an unsorted vector its own way (`topk`
    // included), so these are sorted ones.
    for q in [
        r#"sort(sum by (job) (bytes_over_time({job=~".+"}[1h])))"#,
        r#"sort_desc(sum by (host) (bytes_over_time({job="nginx_access"}[30m])))"#,
    ] {
        for o in ["default", "raw", "jsonl", "json"] {
            same_remote(
                &env,
                &loki.addr,
                &[
                    "instant-query",
                    "-o",
                    o,
                    "-z",
                    "UTC",
                    "--now",
                    "2024-05-01T01:00:00Z",
                    q,
                ],
            );
        }
    }
    // Loki's ingester answers label and series lookups with the streams it
    // holds in memory whatever the range (the March stream's hosts h0 and
    // h1 are in its `labels host` for May): lookups here avoid that stream.
    let r = &range[..4];
    same_remote(&env, &loki.addr, &[&["labels"][..], r].concat());
    same_remote(&env, &loki.addr, &[&["labels", "level"][..], r].concat());
    same_remote(
        &env,
        &loki.addr,
        &[&["series", r#"{job=~"kafka|vault"}"#][..], r].concat(),
    );
    same_remote(
        &env,
        &loki.addr,
        &[
            &["series", "--analyze-labels", r#"{job=~"[a-r].+"}"#][..],
            r,
        ]
        .concat(),
    );
    // Structured metadata reached Loki: it prints as labels there and here.
    same_remote(
        &env,
        &loki.addr,
        &[
            "query",
            "-o",
            "jsonl",
            "--limit",
            "0",
            "--from",
            "2024-03-01T00:00:00Z",
            "--to",
            "2024-03-01T01:00:00Z",
            r#"{job="sm"} | trace_id=~"t.*""#,
        ],
    );
    // logcli's variable instead of the flag.
    let via_env = env
        .cmd(["query", "-o", "raw", "--limit", "5", r#"{job="kafka"}"#])
        .args(range)
        .env("LOKI_ADDR", &loki.addr)
        .stdout();
    eqnice!(
        env.cmd(["query", "-o", "raw", "--limit", "5", r#"{job="kafka"}"#])
            .args(range)
            .stdout(),
        via_env
    );
    // Loki's error for a bad query is a usage error, with Loki's text.
    let run = env
        .cmd([
            "query",
            "--addr",
            &loki.addr,
            r#"{job="kafka"} | json | x > "#,
        ])
        .args(range)
        .assert_code(2);
    assert!(run.stderr.contains("HTTP 400"), "{}", run.stderr);
}

/// An https endpoint: Python's `http.server` behind `ssl` with `cert` and
/// `key`, answering every POST with 204 and logging its path to `log`.
struct HttpsServer {
    child: std::process::Child,
    addr: String,
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const HTTPS_SERVER: &str = r#"
import http.server, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(sys.argv[3], "a") as f:
            f.write(self.path + "\n")
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"#;

fn https_server(dir: &std::path::Path) -> Option<HttpsServer> {
    if !crate::support::loki::have("python3", "--version") {
        return None;
    }
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(HTTPS_SERVER)
        .arg(dir.join("srv.pem"))
        .arg(dir.join("srv.key"))
        .arg(dir.join("requests.log"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut port = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut port)
        .unwrap();
    Some(HttpsServer {
        child,
        addr: format!("https://127.0.0.1:{}", port.trim()),
    })
}

#[test]
fn push_over_https_trusts_the_ca_file_it_is_given() {
    let env = TestEnv::new();
    store_with(&env, "app", 1, 20, 1_714_000_000);
    let dir = env.path();
    if crate::support::tls::certificates(dir, "srv").is_none() {
        return;
    }
    let Some(srv) = https_server(dir) else {
        return;
    };
    // Without the CA the certificate is unknown: nothing is delivered, exit 4.
    let run = env
        .cmd(["push", "--addr", &srv.addr, "--retries", "0"])
        .assert_code(4);
    assert!(
        run.stderr.to_lowercase().contains("certificate"),
        "{}",
        run.stderr
    );
    // A CA file that holds no certificate is named.
    let bad = env.write("bad.pem", "not a certificate");
    let run = env
        .cmd(["push", "--addr", &srv.addr, "--ca-cert"])
        .arg(&bad)
        .assert_code(2);
    assert!(
        run.stderr.contains("bad.pem: no PEM certificate"),
        "{}",
        run.stderr
    );
    // With it (here through logcli's variable), everything arrives.
    let rep = env
        .cmd(["push", "--addr", &srv.addr, "-o", "json"])
        .env("LOKI_CA_CERT_PATH", dir.join("ca.pem"))
        .json();
    assert_eq!(rep["entries"], 20, "{rep}");
    let log = std::fs::read_to_string(dir.join("requests.log")).unwrap();
    assert_eq!(log, "/loki/api/v1/push\n");
}

#[test]
fn addr_queries_send_logcli_s_headers_and_show_loki_s_errors() {
    let env = TestEnv::new();
    let srv = Server::start();
    srv.then(Reply::status(
        200,
        &[("Content-Type", "application/json")],
        r#"{"status":"success","data":["job","level"]}"#,
    ))
    .then(Reply::status(
        400,
        &[],
        "parse error at line 1, col 2: syntax error: unexpected IDENTIFIER",
    ));
    let out = env
        .cmd(["labels", "--addr", &srv.addr, "--tenant", "team-a"])
        .args([
            "--username",
            "u",
            "--password",
            "p",
            "--query-tags",
            "source=ci",
            "--nocache",
        ])
        .args([
            "--from",
            "2024-05-01T00:00:00Z",
            "--to",
            "2024-05-01T01:00:00Z",
        ])
        .stdout();
    eqnice!("job\nlevel\n", out);
    let r = &srv.received()[0];
    assert_eq!(
        r.path,
        "/loki/api/v1/labels?end=1714525200000000000&start=1714521600000000000"
    );
    assert_eq!(r.headers["x-scope-orgid"], "team-a");
    assert_eq!(r.headers["authorization"], "Basic dTpw");
    assert_eq!(r.headers["x-query-tags"], "source=ci");
    assert_eq!(r.headers["cache-control"], "no-cache");
    let run = env
        .cmd(["query", "--addr", &srv.addr, "{job=x}"])
        .assert_code(2);
    assert!(
        run.stderr
            .contains("HTTP 400: parse error at line 1, col 2"),
        "{}",
        run.stderr
    );
}
