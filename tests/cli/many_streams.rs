//! A store of many small streams (issue 13) answers exactly: one stream's
//! lines, label values, series, per-stream counts and grouped counts, and
//! a streamed export of every entry, each checked against what was
//! ingested. CI runs 6,000 streams; `bench/streams.py` and
//! `bench/README.md` cover 100,000 and more.
use std::collections::BTreeMap;
use std::fmt::Write;

use crate::common::*;

const STREAMS: usize = 6_000;
const LINES: usize = 3;

/// The labels and lines of `bench/streams.py`'s shape: job (10 values), ns
/// (50), pod (one per stream); stream `s`'s lines hold `stream=s`.
fn corpus() -> String {
    let total = STREAMS * LINES;
    let mut out = String::new();
    for k in 0..total {
        let (s, i) = (k % STREAMS, k / STREAMS);
        let ts = 1_704_067_200_000_000_000i64 + (k as i64) * 86_399_000_000_000 / total as i64;
        let stamp = jiff::Timestamp::from_nanosecond(ts as i128).unwrap();
        writeln!(
            out,
            r#"{{"labels":{{"job":"job-{}","ns":"ns-{:02}","pod":"pod-{s}"}},"line":"level=info i={i} stream={s}","timestamp":"{stamp}"}}"#,
            s % 10,
            s % 50
        )
        .unwrap();
    }
    out
}

#[test]
fn many_streams_answer_exactly() {
    let env = TestEnv::new();
    let f = env.write("streams.jsonl", corpus());
    env.ingest([&f]).args(["--format", "logcli"]).ok();
    let lines = |args: &[&str]| -> Vec<String> {
        env.ok(args.iter().copied())
            .lines()
            .map(str::to_string)
            .collect()
    };

    // One stream of 6,000: its lines, oldest first.
    let one = lines(&[
        "query",
        "-q",
        "--limit",
        "0",
        "--forward",
        "-o",
        "raw",
        r#"{pod="pod-4321"}"#,
    ]);
    let want: Vec<String> = (0..LINES)
        .map(|i| format!("level=info i={i} stream=4321"))
        .collect();
    assert_eq!(want, one);

    // Label names and values.
    assert_eq!(vec!["job", "ns", "pod"], lines(&["labels"]));
    let pods = lines(&["labels", "pod"]);
    assert_eq!(pods.len(), STREAMS);
    let mut want: Vec<String> = (0..STREAMS).map(|s| format!("pod-{s}")).collect();
    want.sort();
    assert_eq!(want, pods);
    assert_eq!(lines(&["labels", "ns"]).len(), 50);

    // Series of a narrow and a wide selector.
    let series = lines(&["series", r#"{job="job-3", ns="ns-13"}"#]);
    let mut want: Vec<String> = (0..STREAMS)
        .filter(|s| s % 10 == 3 && s % 50 == 13)
        .map(|s| format!(r#"{{job="job-3", ns="ns-13", pod="pod-{s}"}}"#))
        .collect();
    want.sort();
    assert_eq!(want, series);
    assert_eq!(lines(&["series", r#"{job=~".+"}"#]).len(), STREAMS);

    // Counts per stream and per ns over the day (a 2-day window: the first entry is at the start of the day, which a 1-day window ending at midnight leaves out), from one instant query each.
    let counts = |q: &str| -> BTreeMap<String, f64> {
        let v = env
            .cmd([
                "instant-query",
                "-q",
                "--now",
                "2024-01-02T00:00:00Z",
                "-o",
                "json",
                q,
            ])
            .json();
        v["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let m = r["metric"].as_object().unwrap();
                let key = m
                    .values()
                    .map(|v| v.as_str().unwrap())
                    .collect::<Vec<_>>()
                    .join(",");
                (key, r["value"][1].as_str().unwrap().parse().unwrap())
            })
            .collect()
    };
    let per_pod = counts(r#"sum by (pod) (count_over_time({job=~".+"}[2d]))"#);
    assert_eq!(per_pod.len(), STREAMS);
    assert!(
        per_pod.values().all(|&n| n == LINES as f64),
        "every stream has {LINES} lines"
    );
    let per_ns = counts(r#"sum by (ns) (count_over_time({job=~".+"}[2d]))"#);
    assert_eq!(per_ns.len(), 50);
    assert!(per_ns.values().all(|&n| n == (STREAMS / 50 * LINES) as f64));

    // Every entry streamed, newest first: each once, in time order.
    let all = lines(&[
        "query",
        "-q",
        "--limit",
        "0",
        "-o",
        "jsonl",
        "-z",
        "UTC",
        r#"{job=~".+"}"#,
    ]);
    assert_eq!(all.len(), STREAMS * LINES);
    let stamps: Vec<String> = all
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["timestamp"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(
        stamps.windows(2).all(|w| w[0] > w[1]),
        "newest first, no time twice"
    );
}
