//! A store of many small streams (issue 13) answers exactly, each answer
//! checked against what was ingested. Two shapes of 6,000 streams; the
//! benchmark (`bench/cardinality.sh`, and `bench/streams.py`) runs them at
//! up to a million streams, and `bench/README.md` has the figures.
//!
//! - [`many_small_streams_answer_exactly`]: logcli jsonl like the
//!   benchmark's (labels job, ns, pod; a few logfmt lines per stream,
//!   interleaved in time), read in small batches so that each stream is
//!   spread over several segments of the day and every segment packs
//!   thousands of streams into shared blocks: entries per stream, label
//!   values, series, metric sums — through the day index and through the
//!   footers alone.
//! - [`many_streams_answer_exactly`]: one batch over a whole day: one
//!   stream's lines, label values, series, per-stream and grouped counts,
//!   and a streamed export of every entry in time order.
use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::common::*;

const STREAMS: usize = 6_000;
const PER: usize = 5;
/// 2024-05-01T00:00:00Z.
const BASE_S: i64 = 1_714_521_600;

/// Stream `i`'s labels and its entries `(ns, line)`; the jsonl of all of
/// them, in an order that visits every stream once per round.
fn interleaved_corpus() -> (String, BTreeMap<usize, Vec<(i64, String)>>) {
    let mut jsonl = String::new();
    let mut want: BTreeMap<usize, Vec<(i64, String)>> = BTreeMap::new();
    let n = STREAMS * PER;
    for k in 0..n {
        let (p, j) = (k / STREAMS, k % STREAMS);
        let s = (j * 7919) % STREAMS;
        let ms = (k as i64) * 12 * 3600 * 1000 / n as i64;
        let line = format!("level=info msg=m{p} stream={s} k={k}");
        let (sec, frac) = (ms / 1000, ms % 1000);
        let ts = format!(
            "2024-05-01T{:02}:{:02}:{:02}.{frac:03}Z",
            sec / 3600,
            sec / 60 % 60,
            sec % 60
        );
        writeln!(
            jsonl,
            r#"{{"labels":{{"job":"app","ns":"ns-{}","pod":"pod-{s}"}},"line":"{line}","timestamp":"{ts}"}}"#,
            s % 50
        )
        .unwrap();
        want.entry(s)
            .or_default()
            .push(((BASE_S * 1000 + ms) * 1_000_000, line));
    }
    (jsonl, want)
}

fn series_line(s: usize) -> String {
    format!(r#"{{job="app", ns="ns-{}", pod="pod-{s}"}}"#, s % 50)
}

/// Every question, answered from the store as it is.
fn check_answers(env: &TestEnv, want: &BTreeMap<usize, Vec<(i64, String)>>, how: &str) {
    let range = [
        "--from",
        "2024-05-01T00:00:00Z",
        "--to",
        "2024-05-01T12:00:00Z",
    ];
    // Entries per stream, all of them: one metric step over the whole day.
    let m = env
        .cmd(["query", "-o", "json"])
        .args([
            "--from",
            "2024-05-01T12:00:00Z",
            "--to",
            "2024-05-01T12:00:00Z",
        ])
        .arg("sum by (pod) (count_over_time({job=\"app\"}[13h]))")
        .json();
    let res = m["data"]["result"].as_array().unwrap();
    assert_eq!(res.len(), STREAMS, "{how}: series of sum by (pod)");
    for r in res {
        let pod = r["metric"]["pod"].as_str().unwrap();
        let v = r["values"][0][1].as_str().unwrap();
        assert_eq!(v, PER.to_string(), "{how}: entries of {pod}");
    }
    check_grouped(env, want, how);
    // A few streams read back exactly, line by line.
    for s in [0, 1, 123, STREAMS / 2, STREAMS - 1] {
        let got = env
            .cmd(["query", "--limit", "0", "-o", "raw", "--forward"])
            .args(range)
            .arg(format!(r#"{{pod="pod-{s}"}}"#))
            .stdout();
        let lines: Vec<&str> = want[&s].iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(got.lines().collect::<Vec<_>>(), lines, "{how}: pod-{s}");
    }
    // Label names and values.
    eqnice!("job\nns\npod\n", env.ok(["labels"]), "{how}: labels");
    let mut ns: Vec<String> = (0..50).map(|i| format!("ns-{i}")).collect();
    ns.sort();
    eqnice!(
        ns.join("\n") + "\n",
        env.ok(["labels", "ns"]),
        "{how}: labels ns"
    );
    let mut pods: Vec<String> = (0..STREAMS).map(|i| format!("pod-{i}")).collect();
    pods.sort();
    let got = env.ok(["labels", "pod"]);
    assert!(
        got.lines().eq(pods.iter().map(String::as_str)),
        "{how}: labels pod ({} values)",
        got.lines().count()
    );
    // Series: every one, and a narrow selector.
    let mut all: Vec<String> = (0..STREAMS).map(series_line).collect();
    all.sort();
    let got = env.ok(["series", "{job=\"app\"}"]);
    assert!(
        got.lines().eq(all.iter().map(String::as_str)),
        "{how}: series {{job=\"app\"}} ({} series)",
        got.lines().count()
    );
    let mut narrow: Vec<String> = (0..STREAMS)
        .filter(|s| s % 50 == 23 && s.to_string().ends_with("23"))
        .map(series_line)
        .collect();
    narrow.sort();
    eqnice!(
        narrow.join("\n") + "\n",
        env.ok(["series", r#"{ns="ns-23", pod=~"pod-.*23"}"#]),
        "{how}: narrow series"
    );
}

/// Vector aggregations over every stream, against counts made from `want`:
/// `sum by` (grouped while reading), `count`/`avg`/`max`/`min by` (each
/// stream folded into its group as it is read), over one step and hourly
/// steps, and a `count by` whose series carry parsed labels (so no stream
/// can be folded alone: every series is held first).
fn check_grouped(env: &TestEnv, want: &BTreeMap<usize, Vec<(i64, String)>>, how: &str) {
    let by_ns = |q: &str, from: &str, step: Option<&str>| -> BTreeMap<(String, i64), String> {
        let mut args = vec![
            "query",
            "-o",
            "json",
            "--from",
            from,
            "--to",
            "2024-05-01T12:00:00Z",
        ];
        if let Some(step) = step {
            args.extend(["--step", step]);
        }
        let m = env.cmd(args).arg(q).json();
        let mut out = BTreeMap::new();
        for r in m["data"]["result"].as_array().unwrap() {
            let ns = r["metric"]["ns"].as_str().unwrap().to_string();
            for v in r["values"].as_array().unwrap() {
                out.insert(
                    (ns.clone(), v[0].as_i64().unwrap()),
                    v[1].as_str().unwrap().to_string(),
                );
            }
        }
        out
    };
    let end_s = BASE_S + 12 * 3600;
    let all = |v: usize| -> BTreeMap<(String, i64), String> {
        (0..50)
            .map(|n| ((format!("ns-{n}"), end_s), v.to_string()))
            .collect()
    };
    let per_ns = STREAMS / 50;
    let whole = "2024-05-01T12:00:00Z";
    for (q, v) in [
        (
            "sum by (ns) (count_over_time({job=\"app\"}[13h]))",
            per_ns * PER,
        ),
        (
            "count by (ns) (count_over_time({job=\"app\"}[13h]))",
            per_ns,
        ),
        ("avg by (ns) (count_over_time({job=\"app\"}[13h]))", PER),
        ("max by (ns) (count_over_time({job=\"app\"}[13h]))", PER),
        (
            "min by (ns) (count_over_time({job=\"app\"} |= \"level\" [13h]))",
            PER,
        ),
        (
            "sum by (ns) (count_over_time({job=\"app\"} | logfmt [13h]))",
            per_ns * PER,
        ),
        // Each line is a series of its own (its parsed `k`).
        (
            "count by (ns) (count_over_time({job=\"app\"} | logfmt [13h]))",
            per_ns * PER,
        ),
    ] {
        assert_eq!(all(v), by_ns(q, whole, None), "{how}: {q}");
    }
    // Hourly: the streams of each ns with an entry in each hour's window.
    let mut hourly: BTreeMap<(String, i64), usize> = BTreeMap::new();
    for h in 1..=12i64 {
        let t = BASE_S + h * 3600;
        for (s, es) in want {
            let hi = t * 1_000_000_000;
            if es
                .iter()
                .any(|(ts, _)| *ts > hi - 3_600_000_000_000 && *ts <= hi)
            {
                *hourly.entry((format!("ns-{}", s % 50), t)).or_default() += 1;
            }
        }
    }
    let hourly: BTreeMap<(String, i64), String> = hourly
        .into_iter()
        .map(|(k, v)| (k, v.to_string()))
        .collect();
    assert_eq!(
        hourly,
        by_ns(
            "count by (ns) (count_over_time({job=\"app\"}[1h]))",
            "2024-05-01T01:00:00Z",
            Some("1h")
        ),
        "{how}: hourly count by (ns)"
    );
}

/// Ingests the interleaved corpus (about 1 MB of jsonl) in batches of
/// 256 KB, with `extra` flags: several batches, each holding most streams.
fn ingest_interleaved(
    env: &TestEnv,
    name: &str,
    extra: &[&str],
) -> (serde_json::Value, BTreeMap<usize, Vec<(i64, String)>>) {
    let (jsonl, want) = interleaved_corpus();
    let input = env.write(name, &jsonl);
    let report = env
        .ingest([&input])
        .args(["--format", "logcli", "--batch-size", "256KB"])
        .args(extra)
        .report();
    (report, want)
}

#[test]
fn many_small_streams_answer_exactly() {
    let env = TestEnv::new();
    // Several segments, left as the batches wrote them.
    let (report, want) = ingest_interleaved(&env, "many.jsonl", &["--compact", "never"]);
    assert_eq!(report["entries_stored"], (STREAMS * PER) as u64, "{report}");
    assert_eq!(report["streams"], STREAMS as u64, "{report}");
    let m = env.manifest();
    let segs = m["segments"].as_array().unwrap();
    assert!(segs.len() >= 3, "several segments: {}", segs.len());
    let blocks: u64 = segs.iter().map(|s| s["blocks"].as_u64().unwrap()).sum();
    let chunks: u64 = segs.iter().map(|s| s["streams"].as_u64().unwrap()).sum();
    assert!(
        blocks * 100 < chunks,
        "small streams share blocks: {blocks} blocks for {chunks} stream chunks"
    );
    let stats = env.cmd(["stats", "-o", "json"]).json();
    assert_eq!(stats[0]["streams"], STREAMS as u64, "{stats}");
    assert_eq!(stats[0]["entries"], (STREAMS * PER) as u64, "{stats}");

    check_answers(&env, &want, "with the index");
    assert!(assert_index_agrees_with_footers(env.store()) >= STREAMS);
    let check = env.ok(["check"]);
    assert!(check.trim_end().ends_with(": no problems"), "{check}");

    // The footers alone give the same answers.
    std::fs::remove_dir_all(env.store().join("fake/index")).unwrap();
    let mut m = env.manifest();
    m["indexes"] = serde_json::json!([]);
    env.write_manifest(&m);
    check_answers(&env, &want, "from the footers");
}

/// The same ingest with `--compact=auto` (the default): its batches'
/// segments are merged at the end of the run into one segment, each stream
/// one run, the index built once after; every answer is still exact.
#[test]
fn a_multi_batch_ingest_of_many_streams_ends_in_one_segment() {
    let env = TestEnv::new();
    let (report, want) = ingest_interleaved(&env, "many.jsonl", &[]);
    assert_eq!(report["entries_stored"], (STREAMS * PER) as u64, "{report}");
    assert!(report["commits"].as_u64().unwrap() >= 3, "{report}");
    assert_eq!(report["days_merged"], 1, "{report}");
    let m = env.manifest();
    let segs = m["segments"].as_array().unwrap();
    assert_eq!(segs.len(), 1, "one segment: {segs:?}");
    assert_eq!(segs[0]["streams"], STREAMS as u64, "one run a stream");
    assert_eq!(segs[0]["compacted"], true);
    let stats = env.cmd(["stats", "-o", "json"]).json();
    assert_eq!(stats[0]["entries"], (STREAMS * PER) as u64, "{stats}");
    check_answers(&env, &want, "merged at the end of the ingest");
    assert!(assert_index_agrees_with_footers(env.store()) >= STREAMS);
    let check = env.ok(["check"]);
    assert!(check.trim_end().ends_with(": no problems"), "{check}");
    // Nothing is left for `lokal compact`.
    let out = env.cmd(["compact"]).run().assert_code(0);
    assert!(out.stderr.contains("nothing to compact"), "{}", out.stderr);

    // A second run into the same day merges only what it wrote: the first
    // run's segment stays as it is.
    let (report, _) = ingest_interleaved(&env, "more.jsonl", &[]);
    assert_eq!(report["days_merged"], 1, "{report}");
    let m2 = env.manifest();
    let ids: Vec<u64> = m2["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{m2}");
    assert_eq!(
        ids[0],
        segs[0]["id"].as_u64().unwrap(),
        "the first run's segment is kept"
    );
}

/// Under `--no-index` the merge happens all the same: a fresh store gets
/// no index (queries read the one footer), and a day indexed before gets
/// its index rebuilt, since the old one names the segments merged away.
#[test]
fn the_end_of_ingest_merge_under_no_index() {
    let env = TestEnv::new();
    let (report, want) = ingest_interleaved(&env, "many.jsonl", &["--no-index"]);
    assert_eq!(report["days_merged"], 1, "{report}");
    assert_eq!(report["index_builds"], 0, "{report}");
    assert_eq!(env.manifest()["indexes"], serde_json::json!([]));
    check_answers(&env, &want, "merged, from the footer");

    env.ok(["index", "-q"]);
    let (report, _) = ingest_interleaved(&env, "more.jsonl", &["--no-index"]);
    assert_eq!(report["days_merged"], 1, "{report}");
    assert_eq!(
        report["index_builds"], 1,
        "the stale index is rebuilt: {report}"
    );
    assert!(assert_index_agrees_with_footers(env.store()) >= STREAMS);
    let check = env.ok(["check"]);
    assert!(check.trim_end().ends_with(": no problems"), "{check}");
}

const LINES: usize = 3;

/// The labels and lines of `bench/streams.py`'s shape (the same count of
/// streams, [`STREAMS`]): job (10 values), ns
/// (50), pod (one per stream); stream `s`'s lines hold `stream=s`.
fn day_corpus() -> String {
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
    let f = env.write("streams.jsonl", day_corpus());
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
