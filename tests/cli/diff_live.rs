//! The differential suite against a live Grafana Loki 3.7.6: starts the
//! real Loki of `../shared/loki` on free loopback ports, pushes the dataset,
//! and runs a sample of `tests/diff/queries.tsv` against it. Loki's answers
//! must equal the committed fixtures byte for byte (so `expected/` cannot
//! drift from what Loki answers), lokal's must agree with Loki's as the
//! offline suite requires, and lokal's `-o json` must have the shape of the
//! live Loki's response. Skipped with a note without `../shared/loki`,
//! `zstd`, `curl` or `python3`; under `CI=true` those fail instead.
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;
use crate::diff;

use crate::support::loki::{have, run_ok, Loki};

fn start_loki(loki_dir: &Path, work: &Path) -> Loki {
    Loki::start_in(loki_dir, work)
}

/// Records Loki's answers to the queries `ids` of `queries` into `live`
/// with `record.py`. It exits 1 on an unstable answer or a wrong
/// expectation; the caller's comparison names the query either way.
pub fn record(loki_dir: &Path, addr: &str, queries: &Path, live: &Path, ids: &[&str]) {
    let _ = Command::new("python3")
        .arg(loki_dir.join("record.py"))
        .args(["--addr", addr, "--queries"])
        .arg(queries)
        .arg("--out")
        .arg(live)
        .args(["--ids", &ids.join(",")])
        .output()
        .unwrap();
}

/// The sample: every fifth query, every listed difference and every query
/// of `full/`, so each area and each deliberate difference is checked live.
pub fn sample(rows: &[diff::Row]) -> Vec<diff::Row> {
    let listed = diff::read_differences();
    let full: Vec<String> = std::fs::read_dir(diff::suite_dir().join("full"))
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            p.file_stem().unwrap().to_str().unwrap().to_string()
        })
        .collect();
    rows.iter()
        .enumerate()
        .filter(|(i, r)| i % 5 == 0 || listed.contains_key(&r.id) || full.contains(&r.id))
        .map(|(_, r)| r.clone())
        .collect()
}

#[test]
fn live_loki_answers_as_the_fixtures_and_lokal_agrees() {
    let Some(loki_dir) = shared("loki") else {
        return;
    };
    if !(have("zstd", "--version") && have("curl", "--version") && have("python3", "--version")) {
        return;
    }
    let Some(env) = diff::dataset_store() else {
        return;
    };
    let dataset = env.path().join("dataset.jsonl");
    let loki = start_loki(&loki_dir, env.path());
    run_ok(
        Command::new("python3")
            .arg(loki_dir.join("push_to_loki.py"))
            .args(["--addr", &loki.addr, "--dataset"])
            .arg(&dataset),
    );

    let suite = diff::suite_dir();
    let queries = suite.join("queries.tsv");
    let rows = sample(&diff::read_queries(&queries));
    assert!(rows.len() >= 100, "{} queries sampled", rows.len());
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let live: PathBuf = env.path().join("live");
    record(&loki_dir, &loki.addr, &queries, &live, &ids);

    // 1. The fixtures are what this Loki answers, byte for byte.
    let mut drift = Vec::new();
    for id in &ids {
        let file = format!("{id}.json");
        let now = std::fs::read(live.join(&file)).unwrap_or_default();
        let then = std::fs::read(suite.join("expected").join(&file)).unwrap();
        if now != then {
            drift.push(format!(
                "{id}:\n  recorded: {}\n  live:     {}",
                String::from_utf8_lossy(&then)
                    .chars()
                    .take(300)
                    .collect::<String>(),
                String::from_utf8_lossy(&now)
                    .chars()
                    .take(300)
                    .collect::<String>()
            ));
        }
    }
    assert!(
        drift.is_empty(),
        "{} of {} fixtures differ from the live Loki (re-record with scripts/diff-record.sh):\n{}",
        drift.len(),
        ids.len(),
        drift.join("\n")
    );

    // 2. lokal answers as the live Loki, up to the listed differences.
    let outcomes = diff::run_lokal(env.store(), &rows);
    let (problems, equal, deliberate) = diff::judge(&rows, &outcomes, &live);
    assert!(
        problems.is_empty(),
        "{} of {} sampled queries differ from the live Loki:\n{}",
        problems.len(),
        rows.len(),
        problems.join("\n")
    );
    assert_eq!(equal + deliberate, rows.len());

    // 3. `-o json` has the shape of the live Loki's whole response.
    let row = rows.iter().find(|r| r.id == "range_count").unwrap();
    let body = run_ok(
        Command::new("curl")
            .args(["-sfG", &format!("{}/loki/api/v1/query_range", loki.addr)])
            .args(["--data-urlencode", &format!("query={}", row.query)])
            .args(["--data-urlencode", &format!("start={}", row.start)])
            .args(["--data-urlencode", &format!("end={}", row.end)])
            .args(["--data-urlencode", &format!("step={}", row.step)]),
    );
    let theirs: serde_json::Value = serde_json::from_str(&body).unwrap();
    let ours: serde_json::Value =
        serde_json::from_slice(&diff::run_lokal(env.store(), std::slice::from_ref(row))[0].stdout)
            .unwrap();
    eqnice!(
        diff::shape(&theirs),
        diff::shape(&ours),
        "range_count: -o json"
    );

    // 4. The default output of an answer in many batches is logcli's, byte
    // for byte: logcli fetches 1,000 entries a request, each request after
    // the first overlapping the previous one at its last timestamp, and
    // prints the labels common to each response once and pads to its
    // widest; lokal streams the answer and prints the same batches.
    let logcli = crate::support::loki::unpack_logcli(&loki_dir, env.path());
    for dir in [None, Some("--forward")] {
        // The same command line for both: logcli's flags are lokal's.
        let mut args = vec![
            "query",
            "--limit",
            "0",
            "-z",
            "UTC",
            "--from",
            "2024-05-01T00:00:00Z",
            "--to",
            "2024-05-01T02:00:00Z",
        ];
        args.extend(dir);
        args.push(r#"{host="a"}"#);
        let theirs = run_ok(
            Command::new(&logcli)
                .env("LOKI_ADDR", &loki.addr)
                .args(&args),
        );
        let mut ours = env.cmd(&args);
        let ours = ours.assert_code(0);
        assert!(
            theirs.lines().count() > 5_000,
            "{} lines",
            theirs.lines().count()
        );
        eqnice!(theirs, ours.stdout, "default output, {dir:?}");
    }
}
