//! A store of many small streams answers exactly: entries per stream,
//! label values, series, metric sums — through the day index and through the
//! footers alone. The benchmark (`bench/cardinality.sh`) runs the same shape
//! at up to a million streams; this is its CI-sized count.
//!
//! The input is logcli jsonl like the benchmark's (labels job, ns, pod; a
//! few logfmt lines per stream, interleaved in time), read in small batches
//! so that each stream is spread over several segments of the day and every
//! segment packs thousands of streams into shared blocks.
use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::common::*;

const STREAMS: usize = 6_000;
const PER: usize = 5;
/// 2024-05-01T00:00:00Z.
const BASE_S: i64 = 1_714_521_600;

/// Stream `i`'s labels and its entries `(ns, line)`; the jsonl of all of
/// them, in an order that visits every stream once per round.
fn corpus() -> (String, BTreeMap<usize, Vec<(i64, String)>>) {
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

#[test]
fn many_small_streams_answer_exactly() {
    let env = TestEnv::new();
    let (jsonl, want) = corpus();
    let input = env.write("many.jsonl", &jsonl);
    // About 1 MB of jsonl in batches of 256 KB: several segments, each
    // holding most streams.
    let report = env
        .ingest([&input])
        .args(["--format", "logcli", "--batch-size", "256KB"])
        .report();
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
