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
//!   footers alone; and the shapes over every stream that read the plan a
//!   batch of streams at a time (limited log queries both ways, a streamed
//!   filter, quantile, topk, `sum(rate)`, `absent_over_time`).
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

/// The corpus's 12 hours, as `--from`/`--to` arguments.
const DAY_RANGE: [&str; 4] = [
    "--from",
    "2024-05-01T00:00:00Z",
    "--to",
    "2024-05-01T12:00:00Z",
];

fn series_line(s: usize) -> String {
    format!(r#"{{job="app", ns="ns-{}", pod="pod-{s}"}}"#, s % 50)
}

/// Every question, answered from the store as it is.
fn check_answers(env: &TestEnv, want: &BTreeMap<usize, Vec<(i64, String)>>, how: &str) {
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
    check_wide(env, want, how);
    // A few streams read back exactly, line by line.
    for s in [0, 1, 123, STREAMS / 2, STREAMS - 1] {
        let got = env
            .cmd(["query", "--limit", "0", "-o", "raw", "--forward"])
            .args(DAY_RANGE)
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
    // Cardinality of every stream and of a narrow selector, counted as the
    // streams are walked.
    let table = |sel: &str| -> Vec<Vec<String>> {
        env.ok(["series", "--analyze-labels", sel])
            .lines()
            .map(|l| l.split_whitespace().map(str::to_string).collect())
            .filter(|w: &Vec<String>| !w.is_empty())
            .collect()
    };
    let s = |v: &[&str]| -> Vec<String> { v.iter().map(|x| x.to_string()).collect() };
    let n = STREAMS.to_string();
    assert_eq!(
        table(r#"{job="app"}"#),
        vec![
            s(&["Total", "Streams:", &n]),
            s(&["Unique", "Labels:", "3"]),
            s(&["Label", "Name", "Unique", "Values", "Found", "In", "Streams"]),
            s(&["pod", &n, &n]),
            s(&["ns", "50", &n]),
            s(&["job", "1", &n]),
        ],
        "{how}: --analyze-labels"
    );
    let per_ns = (STREAMS / 50).to_string();
    assert_eq!(
        table(r#"{ns="ns-7"}"#)[3..],
        [
            s(&["pod", &per_ns, &per_ns]),
            s(&["job", "1", &per_ns]),
            s(&["ns", "1", &per_ns])
        ],
        "{how}: --analyze-labels narrow"
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

/// Prometheus' quantile of `v` (sorted here).
fn quantile(q: f64, mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let rank = q * (v.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let w = rank - rank.floor();
    v[lo] * (1.0 - w) + v[(lo + 1).min(v.len() - 1)] * w
}

/// The shapes over every stream that take the plan a batch of streams at
/// a time (issue 13): log queries with a limit both ways and a streamed
/// filter over every stream, quantile (raw samples), `topk` over a
/// grouping per stream, `sum(rate)`, and `absent_over_time` — each against
/// the entries ingested.
fn check_wide(env: &TestEnv, want: &BTreeMap<usize, Vec<(i64, String)>>, how: &str) {
    // Every entry with its stream, oldest first (timestamps are distinct).
    let mut all: Vec<(i64, usize, &str)> = want
        .iter()
        .flat_map(|(s, es)| es.iter().map(move |(t, l)| (*t, *s, l.as_str())))
        .collect();
    all.sort();
    let raw = |args: &[&str], q: &str| -> Vec<String> {
        env.cmd(["query", "-q", "-o", "raw"])
            .args(DAY_RANGE)
            .args(args)
            .arg(q)
            .stdout()
            .lines()
            .map(str::to_string)
            .collect()
    };
    let newest: Vec<String> = all
        .iter()
        .rev()
        .take(100)
        .map(|e| e.2.to_string())
        .collect();
    assert_eq!(
        raw(&["--limit", "100"], r#"{job="app"}"#),
        newest,
        "{how}: limit 100"
    );
    let oldest: Vec<String> = all.iter().take(100).map(|e| e.2.to_string()).collect();
    assert_eq!(
        raw(&["--limit", "100", "--forward"], r#"{job="app"}"#),
        oldest,
        "{how}: limit 100 --forward"
    );
    // A limit past a batch of the plan (4,096 blocks) and a filter.
    let matching: Vec<String> = all
        .iter()
        .rev()
        .filter(|e| e.2.contains("k=1"))
        .map(|e| e.2.to_string())
        .collect();
    assert!(matching.len() > 5000);
    assert_eq!(
        raw(&["--limit", "5000"], r#"{job="app"} |= "k=1""#),
        matching[..5000],
        "{how}: limit 5000 |= k=1"
    );
    assert_eq!(
        raw(&["--limit", "0"], r#"{job="app"} |= "k=1""#),
        matching,
        "{how}: --limit 0 |= k=1"
    );
    // Streamed both ways over every stream, a filter keeping every line,
    // some or none (in a day merged into one segment, the runs of many
    // streams share each packed block, read once for all of them).
    let oldest_matching: Vec<String> = matching.iter().rev().cloned().collect();
    assert_eq!(
        raw(&["--limit", "0", "--forward"], r#"{job="app"} |= "k=1""#),
        oldest_matching,
        "{how}: --limit 0 --forward |= k=1"
    );
    let every: Vec<String> = all.iter().map(|e| e.2.to_string()).collect();
    assert_eq!(
        raw(
            &["--limit", "0", "--forward"],
            r#"{job="app"} |= "level=info""#
        ),
        every,
        "{how}: --limit 0 --forward, every line"
    );
    let mut newest_all = every.clone();
    newest_all.reverse();
    assert_eq!(
        raw(&["--limit", "0"], r#"{job="app"}"#),
        newest_all,
        "{how}: --limit 0, every line"
    );
    let none = env
        .cmd(["query", "-q", "-o", "raw", "--limit", "0", "--forward"])
        .args(DAY_RANGE)
        .arg(r#"{job="app"} |= "nowhere""#)
        .assert_code(1);
    assert!(none.stdout.is_empty(), "{how}: --limit 0, no line");
    let k_of = |l: &str| -> f64 { l.rsplit("k=").next().unwrap().parse().unwrap() };
    let metric = |q: &str| -> serde_json::Value {
        env.cmd(["query", "-o", "json"])
            .args([
                "--from",
                "2024-05-01T12:00:00Z",
                "--to",
                "2024-05-01T12:00:00Z",
            ])
            .arg(q)
            .json()["data"]["result"]
            .clone()
    };
    let value =
        |r: &serde_json::Value| -> f64 { r["values"][0][1].as_str().unwrap().parse().unwrap() };
    // Quantile per ns of every entry's k: raw samples, every stream.
    let got = metric(r#"quantile_over_time(0.9, {job="app"} | logfmt | unwrap k [13h]) by (ns)"#);
    let got = got.as_array().unwrap();
    assert_eq!(got.len(), 50, "{how}: quantile by (ns)");
    for r in got {
        let ns = r["metric"]["ns"].as_str().unwrap();
        let ks: Vec<f64> = want
            .iter()
            .filter(|(s, _)| format!("ns-{}", *s % 50) == ns)
            .flat_map(|(_, es)| es.iter().map(|(_, l)| k_of(l)))
            .collect();
        assert_eq!(value(r), quantile(0.9, ks), "{how}: quantile of {ns}");
    }
    // topk over a series per stream: the streams with the largest sums of k.
    let mut sums: Vec<(f64, usize)> = want
        .iter()
        .map(|(s, es)| (es.iter().map(|(_, l)| k_of(l)).sum(), *s))
        .collect();
    sums.sort_by(|a, b| b.0.total_cmp(&a.0));
    let got =
        metric(r#"topk(3, sum by (pod) (sum_over_time({job="app"} | logfmt | unwrap k [13h])))"#);
    let mut got: Vec<(f64, String)> = got
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (value(r), r["metric"]["pod"].as_str().unwrap().to_string()))
        .collect();
    got.sort_by(|a, b| b.0.total_cmp(&a.0));
    let top: Vec<(f64, String)> = sums[..3]
        .iter()
        .map(|(v, s)| (*v, format!("pod-{s}")))
        .collect();
    assert_eq!(got, top, "{how}: topk");
    check_hourly_topk(env, want, how);
    // sum(rate): every entry over the 13 h window.
    let got = metric(r#"sum(rate({job="app"}[13h]))"#);
    let rate = value(&got[0]);
    let expect = (STREAMS * PER) as f64 / (13.0 * 3600.0);
    assert!(
        (rate - expect).abs() < 1e-9 * expect,
        "{how}: sum(rate) {rate}"
    );
    // absent_over_time of one stream, hourly: 1 where its window is empty.
    let m = hourly(env, r#"absent_over_time({pod="pod-123"}[1h])"#);
    let got: Vec<i64> = m["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["values"].as_array().unwrap().iter())
        .map(|v| v[0].as_i64().unwrap())
        .collect();
    let absent: Vec<i64> = (1..=12i64)
        .map(|h| BASE_S + h * 3600)
        .filter(|&t| {
            let hi = t * 1_000_000_000;
            !want[&123]
                .iter()
                .any(|(ts, _)| *ts > hi - 3_600_000_000_000 && *ts <= hi)
        })
        .collect();
    assert!(!absent.is_empty() && absent.len() < 12);
    assert_eq!(got, absent, "{how}: absent_over_time");
}

/// The `-o json` answer of metric query `q` at 1h steps from 01:00 to 12:00.
fn hourly(env: &TestEnv, q: &str) -> serde_json::Value {
    env.cmd(["query", "-o", "json", "--step", "1h"])
        .args([
            "--from",
            "2024-05-01T01:00:00Z",
            "--to",
            "2024-05-01T12:00:00Z",
        ])
        .arg(q)
        .json()
}

/// `topk`/`bottomk` at 12 hourly steps over a series per stream (the
/// inner `sum by (pod)` completes a group with its stream; `by (ns)`
/// selects within 50 groups): at each step, the `k` best counts of the
/// hour, equal counts by label order (within a group, the pod as a
/// string), each series kept with the steps that selected it.
fn check_hourly_topk(env: &TestEnv, want: &BTreeMap<usize, Vec<(i64, String)>>, how: &str) {
    let steps: Vec<i64> = (1..=12i64).map(|h| BASE_S + h * 3600).collect();
    // Per stream, its count at each step (None: no entry in the hour).
    let counts: Vec<(usize, Vec<Option<f64>>)> = want
        .iter()
        .map(|(s, es)| {
            let c = steps
                .iter()
                .map(|&t| {
                    let hi = t * 1_000_000_000;
                    let n = es
                        .iter()
                        .filter(|(ts, _)| *ts > hi - 3_600_000_000_000 && *ts <= hi)
                        .count();
                    (n > 0).then_some(n as f64)
                })
                .collect();
            (*s, c)
        })
        .collect();
    let ns = |s: usize| format!("ns-{}", s % 50);
    let pod = |s: usize| format!("pod-{s}");
    // The selection as Prometheus makes it: per step and group, best first.
    let select = |k: usize, desc: bool, group: &dyn Fn(usize) -> String| {
        let mut kept: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
        for (i, &t) in steps.iter().enumerate() {
            let mut groups: BTreeMap<String, Vec<(f64, String)>> = BTreeMap::new();
            for (s, c) in &counts {
                if let Some(v) = c[i] {
                    groups.entry(group(*s)).or_default().push((v, pod(*s)));
                }
            }
            for mut members in groups.into_values() {
                members.sort_by(|a, b| {
                    let o = if desc {
                        b.0.total_cmp(&a.0)
                    } else {
                        a.0.total_cmp(&b.0)
                    };
                    o.then_with(|| a.1.cmp(&b.1))
                });
                for (v, p) in members.into_iter().take(k) {
                    kept.entry(p).or_default().push((t, v));
                }
            }
        }
        kept
    };
    let matrix = |q: &str| -> BTreeMap<String, Vec<(i64, f64)>> {
        hourly(env, q)["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let points = r["values"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| {
                        (
                            v[0].as_i64().unwrap(),
                            v[1].as_str().unwrap().parse().unwrap(),
                        )
                    })
                    .collect();
                (r["metric"]["pod"].as_str().unwrap().to_string(), points)
            })
            .collect()
    };
    let got = matrix(r#"topk(5, sum by (pod) (count_over_time({job="app"}[1h])))"#);
    let top = select(5, true, &|_| String::new());
    assert!(top.len() >= 5, "{how}: {top:?}");
    assert_eq!(got, top, "{how}: hourly topk by pod");
    let got = matrix(r#"bottomk by (ns) (2, count_over_time({job="app"}[1h]))"#);
    assert_eq!(got, select(2, false, &ns), "{how}: hourly bottomk by (ns)");
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

    // A damaged index: a page flipped in its symbols, its postings and
    // near the end of its series records. Queries meet the damage as they
    // read (format 3 verifies pages as reads first touch them), warn, and
    // answer exactly from the footers; `lokal check` names the pages.
    let (path, good) = damage_index(&env, &["symbols", "postings", "series records"]);
    check_answers(&env, &want, "with a damaged index");
    let damage = format!(
        "{}: corrupt index: checksum mismatch in page",
        path.display()
    );
    let run = env.cmd(["labels", "pod"]).assert_code(0);
    assert!(
        run.stderr.contains(&damage) && run.stderr.contains("reading segment footers instead"),
        "{run}"
    );
    let run = env.cmd(["check"]).assert_code(3);
    assert!(
        run.stdout.contains(&damage) && run.stdout.contains("(and 2 more damaged pages)"),
        "{run}"
    );
    std::fs::write(&path, good).unwrap();

    // The footers alone give the same answers.
    std::fs::remove_dir_all(env.store().join("fake/index")).unwrap();
    let mut m = env.manifest();
    m["indexes"] = serde_json::json!([]);
    env.write_manifest(&m);
    check_answers(&env, &want, "from the footers");
}

/// Flips a byte in the middle of each named section of the store's one
/// day index (the last page of `series records`); the index's path and
/// its bytes before.
fn damage_index(env: &TestEnv, sections: &[&str]) -> (std::path::PathBuf, Vec<u8>) {
    let m = env.manifest();
    let idx = m["indexes"].as_array().unwrap();
    assert_eq!(idx.len(), 1, "{m}");
    let path = env
        .store()
        .join("fake")
        .join(idx[0]["path"].as_str().unwrap());
    let good = std::fs::read(&path).unwrap();
    let ranges = lokal::index::DayIndex::open(&path)
        .unwrap()
        .section_ranges();
    let mut bytes = good.clone();
    for name in sections {
        let r = &ranges.iter().find(|(n, _)| n == name).unwrap().1;
        let at = if *name == "series records" {
            r.end - 100
        } else {
            (r.start + r.end) / 2
        };
        bytes[at] ^= 0x08;
    }
    std::fs::write(&path, &bytes).unwrap();
    (path, good)
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

/// What ingest stored, as `(labels, line)` pairs with their counts.
fn stored(env: &TestEnv) -> BTreeMap<(String, String), usize> {
    let mut got = BTreeMap::new();
    for d in env.dump() {
        *got.entry((d.labels, String::from_utf8(d.line).unwrap()))
            .or_default() += 1;
    }
    got
}

/// Ingests `inputs` with `--batch-size SIZE` and `args`; the commits and
/// segments of the report, checked against the manifest (`--compact never`:
/// the segments stay as the batches wrote them).
fn batches(env: &TestEnv, inputs: &[std::path::PathBuf], size: usize, args: &[&str]) -> u64 {
    let report = env
        .ingest(inputs)
        .args(["--batch-size", &size.to_string(), "--compact", "never"])
        .args(args)
        .report();
    let segments = env.manifest()["segments"].as_array().unwrap().len() as u64;
    assert_eq!(report["segments"], segments, "{report}");
    report["commits"].as_u64().unwrap()
}

/// A batch is charged for its streams as they are read, the first batch too:
/// in a batch that one line per stream would fill to a few times the charge
/// of its lines, the lines of a few streams fit once and those of thousands
/// of streams are cut into several batches (each committed as a segment),
/// and every entry is stored once whatever the cut — for logcli records,
/// Loki push bodies and many files alike.
#[test]
fn batches_are_cut_by_their_streams() {
    // logcli: 3,000 streams of two lines each (every stream in both halves
    // of the input), against the same lines in 3 streams.
    let record = |s: usize, i: usize, pods: usize| {
        format!(
            r#"{{"labels":{{"job":"app","pod":"pod-{:04}"}},"line":"level=info i={i} s={s:04}","timestamp":"2024-05-01T{:02}:00:{:02}Z"}}"#,
            s % pods,
            i,
            s % 60
        ) + "\n"
    };
    let corpus = |pods: usize| -> String {
        (0..2)
            .flat_map(|i| (0..3000).map(move |s| (s, i)))
            .map(|(s, i)| record(s, i, pods))
            .collect()
    };
    let (many, few) = (corpus(3000), corpus(3));
    assert_eq!(many.len(), few.len());
    // Room for the bytes and the lines, with a fifth to spare.
    let size = (many.len() + 6000 * 96) * 6 / 5;
    let env = TestEnv::new();
    let f = env.write("few.jsonl", &few);
    assert_eq!(batches(&env, &[f], size, &["--format", "logcli"]), 1);
    let env = TestEnv::new();
    let f = env.write("many.jsonl", &many);
    let commits = batches(&env, &[f], size, &["--format", "logcli"]);
    assert!(commits >= 2, "3,000 streams in {commits} batch(es)");
    let got = stored(&env);
    assert_eq!(got.len(), 6000);
    assert!(got.values().all(|&n| n == 1), "an entry stored twice");
    for s in [0, 1234, 2999] {
        for i in 0..2 {
            let key = (
                format!(r#"{{job="app", pod="pod-{s:04}"}}"#),
                format!("level=info i={i} s={s:04}"),
            );
            assert_eq!(got.get(&key), Some(&1), "{key:?}");
        }
    }

    // Loki push bodies: each is read whole, so the batch ends after the
    // body whose streams fill it.
    let body = |first: usize| {
        let streams: Vec<String> = (first..first + 1500)
            .map(|s| {
                format!(
                    r#"{{"stream":{{"job":"push","pod":"pod-{s:04}"}},"values":[["{}","line {s}"]]}}"#,
                    1_714_521_600_000_000_000i64 + s as i64 * 1_000_000_000
                )
            })
            .collect();
        format!(r#"{{"streams":[{}]}}"#, streams.join(","))
    };
    let env = TestEnv::new();
    let (a, b) = (body(0), body(1500));
    let size = (a.len() + b.len() + 3000 * 96) * 6 / 5;
    let inputs = [env.write("a.json", &a), env.write("b.json", &b)];
    assert_eq!(batches(&env, &inputs, size, &["--format", "loki-push"]), 2);
    let got = stored(&env);
    assert_eq!(got.len(), 3000);
    assert!(got.values().all(|&n| n == 1), "an entry stored twice");

    // Plain files: one stream each (their `filename` label).
    let env = TestEnv::new();
    let files: Vec<_> = (0..400)
        .map(|i| {
            env.write(
                &format!("f{i:03}.log"),
                format!(
                    "2024-05-01T00:00:0{}Z one {i}\n2024-05-01T00:00:0{}Z two {i}\n",
                    i % 5,
                    i % 5 + 1
                ),
            )
        })
        .collect();
    let bytes: usize = files
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len() as usize)
        .sum();
    let size = (bytes + 800 * 96) * 6 / 5;
    let commits = batches(&env, &files, size, &["--label", "job=files"]);
    assert!(commits >= 2, "400 files in {commits} batch(es)");
    let got = stored(&env);
    assert_eq!(got.len(), 800);
    assert!(got.values().all(|&n| n == 1), "an entry stored twice");
}

/// A pipeline that gives every line a stream of its own (promtail's `regex`
/// and `labels` stages): its streams are only known once it has run, so the
/// run's first batch through it is a quarter of `--batch-size`, and later
/// ones are charged the streams the last one showed — every entry stored
/// once, each in its own stream.
#[test]
fn a_pipeline_making_streams_is_read_in_bounded_batches() {
    let env = TestEnv::new();
    let text: String = (0..4000)
        .map(|i| {
            format!(
                "2024-05-01T00:{:02}:{:02}Z level=info id={i:04}\n",
                i / 60 % 60,
                i % 60
            )
        })
        .collect();
    let log = env.write("app.log", &text);
    // Every line's `id` becomes a label: a stream per line.
    let pipeline = r"
    pipeline_stages:
      - regex:
          expression: 'id=(?P<id>\d+)'
      - labels:
          id:
";
    let config = format!(
        "scrape_configs:\n  - job_name: app\n    static_configs:\n      - labels: {{job: app, __path__: {}}}{pipeline}",
        log.display()
    );
    let cfg = env.write("promtail.yaml", config);
    // The whole file and its lines' charge fit one batch, with room.
    let size = (text.len() + 4000 * 96) * 6 / 5;
    let report = env
        .cmd(["ingest", "-o", "json", "--config", cfg.to_str().unwrap()])
        .args(["--batch-size", &size.to_string()])
        .json();
    let commits = report["commits"].as_u64().unwrap();
    assert!(
        commits >= 3,
        "4,000 streams in {commits} batch(es): {report}"
    );
    assert_eq!(report["streams"], 4000, "{report}");
    let got = stored(&env);
    assert_eq!(got.len(), 4000);
    assert!(got.values().all(|&n| n == 1), "an entry stored twice");
    for i in [0, 1999, 3999] {
        let key = (
            format!(
                r#"{{filename="{}", id="{i:04}", job="app"}}"#,
                log.display()
            ),
            format!(
                "2024-05-01T00:{:02}:{:02}Z level=info id={i:04}",
                i / 60 % 60,
                i % 60
            ),
        );
        assert_eq!(got.get(&key), Some(&1), "{key:?}");
    }
}
