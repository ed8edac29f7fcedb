//! The real `logcli` 3.7.6 pointed at `lokal serve` and at Loki over the
//! same data prints the same: `query` in each output format (log and
//! metric), `instant-query`, `labels`, label values, `series` and
//! `query --tail` of entries pushed to both while it runs. Called from the
//! request-for-request test in `serve.rs`, which has both servers up.
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::loki::unpack_logcli;

/// `logcli ARGS --addr ADDR` in UTC: stdout (stats and notes go to stderr).
fn run(bin: &Path, addr: &str, args: &[&str]) -> String {
    let out = Command::new(bin)
        .args(args)
        .arg(format!("--addr={addr}"))
        .env_clear()
        .env("TZ", "UTC")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "logcli {args:?} --addr={addr}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Compares logcli's output against both; the problems found.
pub fn compare(loki_dir: &Path, work: &Path, loki: &str, serve: &str) -> Vec<String> {
    let bin = unpack_logcli(loki_dir, work);
    let (from, to) = ("--from=2024-05-01T00:00:00Z", "--to=2024-05-01T02:00:00Z");
    let mut cases: Vec<Vec<&str>> = Vec::new();
    for o in ["default", "raw", "jsonl"] {
        cases.push(vec![
            "query",
            "{job=\"kafka\", host=\"a\"}",
            from,
            to,
            "--limit=40",
            "-o",
            o,
        ]);
        cases.push(vec![
            "query",
            "{job=~\"zoo.*\"} |= \"error\"",
            from,
            to,
            "--limit=25",
            "--forward",
            "-o",
            o,
        ]);
    }
    // A limit above logcli's batch of 1000: it pages through the answer.
    cases.push(vec![
        "query",
        "{job=\"kafka\"}",
        from,
        to,
        "--limit=2500",
        "-o",
        "raw",
    ]);
    cases.push(vec![
        "query",
        "sum by (job) (count_over_time({job=~\".+\"}[5m]))",
        from,
        to,
        "--step=10m",
    ]);
    cases.push(vec![
        "instant-query",
        "sum by (level) (count_over_time({job=\"kafka\"}[1h]))",
        "--now=2024-05-01T01:00:00Z",
    ]);
    cases.push(vec!["labels", from, to]);
    cases.push(vec!["labels", "job", from, to]);
    cases.push(vec!["series", "{job=\"kafka\"}", from, to]);
    cases.push(vec![
        "series",
        "{job=~\"zoo.*\"}",
        from,
        to,
        "--analyze-labels",
    ]);
    let mut problems = Vec::new();
    for args in &cases {
        let mut theirs = run(&bin, loki, args);
        let mut ours = run(&bin, serve, args);
        // Loki lists series in no particular order (lokal sorts them).
        if args[0] == "series" && !args.contains(&"--analyze-labels") {
            let sorted = |t: &str| {
                let mut l: Vec<&str> = t.lines().collect();
                l.sort();
                l.join("\n")
            };
            (theirs, ours) = (sorted(&theirs), sorted(&ours));
        }
        if theirs.is_empty() {
            problems.push(format!("logcli {args:?}: Loki printed nothing"));
        } else if theirs != ours {
            problems.push(format!(
                "logcli {args:?} prints differently:\n  ours:  {:?}\n  Loki's: {:?}",
                ours.chars().take(400).collect::<String>(),
                theirs.chars().take(400).collect::<String>()
            ));
        }
    }
    problems.extend(tail(&bin, loki, serve));
    problems
}

/// `logcli query --tail` on both while entries with the current time are
/// pushed to both: the same lines printed.
fn tail(bin: &Path, loki: &str, serve: &str) -> Vec<String> {
    let query = "{job=\"tailed\"}";
    let spawn = |addr: &str| {
        Command::new(bin)
            .args(["query", "--tail", query, "--since=1m", "-o", "raw"])
            .arg(format!("--addr={addr}"))
            .env_clear()
            .env("TZ", "UTC")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let (mut a, mut b) = (spawn(loki), spawn(serve));
    std::thread::sleep(Duration::from_millis(1500));
    let now = jiff::Timestamp::now().as_nanosecond() as i64;
    for i in 0..3i64 {
        let body = format!(
            r#"{{"streams":[{{"stream":{{"job":"tailed"}},"values":[["{}","tailed line {i}"]]}}]}}"#,
            now + i
        );
        for addr in [loki, serve] {
            let (code, text) = crate::serve_push::post(
                addr,
                &[("Content-Type", "application/json")],
                body.as_bytes(),
            );
            assert_eq!(code, 204, "{addr}: {text}");
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    std::thread::sleep(Duration::from_millis(2500));
    let mut out = Vec::new();
    for c in [&mut a, &mut b] {
        let _ = c.kill();
        let o = std::mem::replace(c, Command::new("true").spawn().unwrap())
            .wait_with_output()
            .unwrap();
        out.push(String::from_utf8_lossy(&o.stdout).into_owned());
    }
    let want = "tailed line 0\ntailed line 1\ntailed line 2\n";
    let mut problems = Vec::new();
    if out[0] != want {
        problems.push(format!("logcli --tail on Loki printed {:?}", out[0]));
    }
    if out[1] != out[0] {
        problems.push(format!(
            "logcli --tail prints differently:\n  ours:  {:?}\n  Loki's: {:?}",
            out[1], out[0]
        ));
    }
    problems
}
