//! `lokal compact` and `lokal delete`: answers before and after compaction
//! (the differential suite's 545 queries over its dataset ingested in 200
//! interleaved, out-of-order pieces, with and without repeated and tied
//! entries), queries in a loop during compactions, retention and deletes
//! checked entry by entry, the locks, and the human output.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::Value;

use crate::common::*;
use crate::diff::{self, Outcome, Row};

/// A small deterministic generator (the tests replay exactly).
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Writes `entries` (logcli JSON lines) into `n` pieces: each entry goes to
/// a piece chosen at random, so every piece holds entries of every stream
/// from the whole time range, and each piece is written in a shuffled order
/// (out of order within and across pieces). Returns the piece files.
fn pieces(env: &TestEnv, entries: &[String], n: usize, seed: u64) -> Vec<PathBuf> {
    let mut by_piece: Vec<Vec<(u64, &String)>> = vec![Vec::new(); n];
    for (i, e) in entries.iter().enumerate() {
        let h = mix(seed ^ i as u64);
        by_piece[(h % n as u64) as usize].push((mix(h), e));
    }
    by_piece
        .into_iter()
        .enumerate()
        .map(|(k, mut v)| {
            v.sort();
            let text: String = v.iter().map(|(_, e)| format!("{e}\n")).collect();
            env.write(&format!("pieces/{seed}/{k:03}.jsonl"), text)
        })
        .collect()
}

fn ingest_pieces(env: &TestEnv, pieces: &[PathBuf]) {
    for p in pieces {
        env.ingest([p]).args(["--format", "logcli"]).ok();
    }
}

/// Segments per day, from `lokal stats`.
fn segments_per_day(env: &TestEnv) -> BTreeMap<String, u64> {
    env.cmd(["stats", "-o", "json"])
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["day"].as_str().unwrap().to_string(),
                d["segments"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Every row's answer after compaction is the one before: the same exit
/// code, the same error text, the same answer as `compare.py` compares
/// (log lines in order, floats to 1e-9).
fn same_answers(rows: &[Row], before: &[Outcome], after: &[Outcome]) -> Vec<String> {
    let mut problems = Vec::new();
    for ((row, b), a) in rows.iter().zip(before).zip(after) {
        let bj: Option<Value> = serde_json::from_slice(&b.stdout).ok();
        let aj: Option<Value> = serde_json::from_slice(&a.stdout).ok();
        let why = if b.code != a.code {
            Some(format!(
                "exit {:?} before, {:?} after: {}",
                b.code, a.code, a.stderr
            ))
        } else {
            match (&bj, &aj) {
                (Some(bv), Some(av)) if bv["status"] == "success" => {
                    diff::compare(bv, av, &row.query).err()
                }
                _ => (b.stdout != a.stdout || b.stderr != a.stderr)
                    .then(|| format!("output differs: {} / {}", b.stderr, a.stderr)),
            }
        };
        if let Some(why) = why {
            problems.push(format!("{}: {why}\n    query: {}", row.id, row.query));
        }
    }
    problems
}

/// The dataset's entries as logcli JSON lines.
fn dataset_lines(env: &TestEnv) -> Option<Vec<String>> {
    let path = diff::dataset(env.path())?;
    Some(
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect(),
    )
}

/// Must-show: 200 small ingests of interleaved, out-of-order data, then
/// `compact`: each of the 545 queries answers as before, and as Loki did;
/// the day ends in one segment.
#[test]
fn the_differential_suite_answers_alike_after_200_out_of_order_ingests_and_compact() {
    let env = TestEnv::new();
    let Some(lines) = dataset_lines(&env) else {
        return;
    };
    ingest_pieces(&env, &pieces(&env, &lines, 200, 1));
    let days = segments_per_day(&env);
    assert!(
        days.values().all(|&n| n >= 150),
        "many small segments: {days:?}"
    );
    let dir = diff::suite_dir();
    let rows = diff::read_queries(&dir.join("queries.tsv"));
    let before = diff::run_lokal(env.store(), &rows);
    let (problems, equal, _) = diff::judge(&rows, &before, &dir.join("expected"));
    assert!(
        problems.is_empty(),
        "before compaction:\n{}",
        problems.join("\n")
    );

    let report = env.cmd(["compact", "-o", "json"]).json();
    assert_eq!(report["days"][0]["action"], "compacted", "{report}");
    assert_eq!(
        report["days"][0]["before"]["entries"], report["days"][0]["after"]["entries"],
        "no entry added or dropped"
    );
    let days = segments_per_day(&env);
    assert!(
        days.values().all(|&n| n == 1),
        "one segment a day: {days:?}"
    );
    env.ok(["check"]);
    assert_index_agrees_with_footers(env.store());

    let after = diff::run_lokal(env.store(), &rows);
    let changed = same_answers(&rows, &before, &after);
    assert!(
        changed.is_empty(),
        "answers changed:\n{}",
        changed.join("\n")
    );
    let (problems, equal_after, _) = diff::judge(&rows, &after, &dir.join("expected"));
    assert!(
        problems.is_empty(),
        "after compaction:\n{}",
        problems.join("\n")
    );
    assert_eq!(equal, equal_after);
    // Nothing left to do.
    let out = env.cmd(["compact"]).run().assert_code(0);
    assert!(out.stderr.contains("nothing to compact"), "{}", out.stderr);
}

/// Must-show (issue 13): one ingest of the dataset, shuffled, in small
/// batches ends in one segment a day — the batches' segments merged at the
/// end of the run (`--compact=auto`) — and each of the 545 queries answers
/// exactly as the same ingest left unmerged (`--compact=never`) does.
#[test]
fn a_multi_batch_ingest_merged_at_its_end_answers_as_the_unmerged_one() {
    let auto = TestEnv::new();
    let Some(lines) = dataset_lines(&auto) else {
        return;
    };
    let never = TestEnv::new();
    let piece = pieces(&auto, &lines, 1, 7).remove(0);
    let report = auto
        .ingest([&piece])
        .args(["--format", "logcli", "--batch-size", "64KiB"])
        .report();
    assert!(report["commits"].as_u64().unwrap() >= 10, "{report}");
    never
        .ingest([&piece])
        .args(["--format", "logcli", "--batch-size", "64KiB"])
        .args(["--compact", "never"])
        .ok();
    let merged = segments_per_day(&auto);
    assert!(
        merged.values().all(|&n| n == 1),
        "one segment a day: {merged:?}"
    );
    assert_eq!(report["days_merged"], merged.len() as u64, "{report}");
    let unmerged = segments_per_day(&never);
    assert!(unmerged.values().all(|&n| n >= 10), "{unmerged:?}");
    auto.ok(["check"]);
    assert_index_agrees_with_footers(auto.store());

    let rows = diff::read_queries(&diff::suite_dir().join("queries.tsv"));
    let want = diff::run_lokal(never.store(), &rows);
    let got = diff::run_lokal(auto.store(), &rows);
    let changed = same_answers(&rows, &want, &got);
    assert!(
        changed.is_empty(),
        "answers differ from the unmerged store:\n{}",
        changed.join("\n")
    );
}

/// The same with repeated entries (the same time and line twice, in other
/// pieces) and entries tied in time with other lines: every answer,
/// including the order of tied lines, stays as it was.
#[test]
fn repeated_and_tied_entries_answer_alike_after_compact() {
    let env = TestEnv::new();
    let Some(mut lines) = dataset_lines(&env) else {
        return;
    };
    let n = lines.len();
    for i in 0..n {
        if i % 5 == 0 {
            lines.push(lines[i].clone());
        }
        if i % 7 == 0 {
            let mut v: Value = serde_json::from_str(&lines[i]).unwrap();
            let line = v["line"].as_str().unwrap().to_string();
            v["line"] = Value::String(format!("{line} [tied {i}]"));
            lines.push(v.to_string());
        }
    }
    ingest_pieces(&env, &pieces(&env, &lines, 200, 2));
    let rows = diff::read_queries(&diff::suite_dir().join("queries.tsv"));
    let before = diff::run_lokal(env.store(), &rows);
    env.ok(["compact", "-q"]);
    let after = diff::run_lokal(env.store(), &rows);
    let changed = same_answers(&rows, &before, &after);
    assert!(
        changed.is_empty(),
        "answers changed:\n{}",
        changed.join("\n")
    );
    // The stored entries are the same multiset: repeats are entries.
    let m = env.manifest();
    let entries: u64 = m["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["entries"].as_u64().unwrap())
        .sum();
    assert_eq!(entries as usize, lines.len());
}

/// Must-show: queries in a loop while compactions run (each after an
/// ingest of other data into the same day, so every compaction rewrites the
/// day and retires the files the queries read) never fail and always give
/// the answer they gave before.
#[test]
fn queries_in_a_loop_during_compactions_never_fail_nor_answer_partially() {
    let env = TestEnv::new();
    let Some(lines) = dataset_lines(&env) else {
        return;
    };
    ingest_pieces(&env, &pieces(&env, &lines, 20, 3));
    let queries: Vec<Vec<&str>> = vec![
        vec![
            "query",
            "-o",
            "jsonl",
            "--limit",
            "0",
            r#"{job=~"nginx_access|kafka"}"#,
        ],
        vec![
            "query",
            "-o",
            "jsonl",
            "--limit",
            "50",
            r#"{job="openssh"} |= "Failed""#,
        ],
        vec![
            "query",
            "-o",
            "json",
            "--from",
            "2024-05-01T00:00:00Z",
            "--to",
            "2024-05-01T02:00:00Z",
            "--step",
            "5m",
            r#"sum by (job) (count_over_time({job=~".+", job!="filler"} [5m]))"#,
        ],
        vec![
            "query",
            "-o",
            "json",
            "--from",
            "2024-05-01T00:00:00Z",
            "--to",
            "2024-05-01T02:00:00Z",
            "--step",
            "10m",
            r#"sum by (host) (bytes_over_time({job="distributor_logfmt"} | logfmt [10m]))"#,
        ],
    ];
    let answer = |q: &[&str]| {
        let out = env.cmd(q).run();
        let mut text = out.stdout.clone();
        if q.contains(&"json") {
            // The stats vary from run to run; the answer does not.
            let mut v: Value = serde_json::from_str(&text).unwrap();
            v["data"]["stats"] = Value::Null;
            text = v.to_string();
        }
        (out.code, text, out.stderr)
    };
    let expected: Vec<_> = queries.iter().map(|q| answer(q)).collect();
    for (q, e) in queries.iter().zip(&expected) {
        assert_eq!(e.0, Some(0), "{q:?}: {}", e.2);
    }
    let done = AtomicBool::new(false);
    let ran = AtomicUsize::new(0);
    let rounds = 25;
    std::thread::scope(|s| {
        for t in 0..2 {
            let (queries, expected, done, ran, answer) =
                (&queries, &expected, &done, &ran, &answer);
            s.spawn(move || {
                let mut i = t;
                while !done.load(Ordering::Relaxed) {
                    let k = i % queries.len();
                    let got = answer(&queries[k]);
                    assert_eq!(
                        (got.0, &got.1),
                        (expected[k].0, &expected[k].1),
                        "{:?} during compactions: {}",
                        queries[k],
                        got.2
                    );
                    assert!(got.2.is_empty() || !got.2.contains("partial"), "{}", got.2);
                    ran.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            });
        }
        for r in 0..rounds {
            let filler = env.write(
                &format!("filler/{r}.log"),
                format!("2024-05-01T01:{:02}:00Z filler round {r}\n", r % 60),
            );
            env.ingest([&filler]).label("job=filler").ok();
            let rep = env.cmd(["compact", "-o", "json"]).json();
            assert_eq!(rep["days"][0]["action"], "compacted", "round {r}: {rep}");
        }
        done.store(true, Ordering::Relaxed);
    });
    let ran = ran.load(Ordering::Relaxed);
    assert!(
        ran >= 2 * rounds,
        "only {ran} queries ran beside {rounds} compactions"
    );
    // With no query left, the next writer removes every retired file.
    env.ok(["compact", "-q"]);
    assert_disk_is_the_manifest(&env, "after the last compaction");
    assert_eq!(segments_on_disk(&env), 1);
}

const DAY: i64 = 86_400;

/// Writes, per (env, app) stream, one entry an hour for `days` days from
/// 2024-03-01, some with `secret` in the line; returns every entry as
/// (labels, ts ns, line).
fn write_streams(env: &TestEnv, days: i64, pieces: usize) -> Vec<(String, i64, Vec<u8>)> {
    let start = 1_709_251_200; // 2024-03-01T00:00:00Z
    let mut all = Vec::new();
    let mut files: Vec<String> = vec![String::new(); pieces];
    for (e, envname) in ["dev", "prod"].iter().enumerate() {
        for app in ["api", "web"] {
            for h in 0..days * 24 {
                let ts = start + h * 3600 + e as i64;
                let secret = if h % 5 == 0 { " token=secret" } else { "" };
                let line = format!(
                    "{} level=info env={envname} app={app} msg=\"hour {h}\"{secret}",
                    jiff::Timestamp::from_second(ts).unwrap()
                );
                let labels = format!("{{app=\"{app}\", env=\"{envname}\"}}");
                let json = serde_json::json!({
                    "labels": {"env": envname, "app": app},
                    "line": line,
                    "timestamp": jiff::Timestamp::from_second(ts).unwrap().to_string(),
                });
                files[(mix(ts as u64 ^ e as u64) % pieces as u64) as usize]
                    .push_str(&format!("{json}\n"));
                all.push((labels, ts * 1_000_000_000, line.into_bytes()));
            }
        }
    }
    for (k, f) in files.iter().enumerate() {
        let p = env.write(&format!("streams/{k}.jsonl"), f);
        env.ingest([&p]).args(["--format", "logcli"]).ok();
    }
    all.sort();
    all
}

fn stored(env: &TestEnv) -> Vec<(String, i64, Vec<u8>)> {
    let mut v: Vec<_> = env
        .dump()
        .into_iter()
        .map(|d| (d.labels, d.ts, d.line))
        .collect();
    v.sort();
    v
}

/// Entries of tenant `fake` as `lokal stats` counts them.
fn stats_entries(env: &TestEnv) -> u64 {
    env.cmd(["stats", "-o", "json"])
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["entries"].as_u64().unwrap())
        .sum()
}

/// The store's files, for "nothing changed" checks.
fn files(store: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    walk(store)
        .into_iter()
        .filter(|p| !p.ends_with("lokal.lock"))
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect()
}

/// Must-show: retention removes exactly the entries past the cut of their
/// stream's rule (Loki's priorities), from queries, stats and disk; whole
/// expired days go as directories; every other entry is untouched.
#[test]
fn retention_removes_exactly_the_expired_entries() {
    let env = TestEnv::new();
    let all = write_streams(&env, 6, 4);
    // 2024-03-08T00:00:00Z: dev keeps 2 days (its rule), the rest 4 days,
    // except web in prod, kept 10 days by a rule of higher priority.
    let now = 1_709_856_000i64;
    let args = [
        "compact",
        "--retention",
        "4d",
        "--retention-stream",
        r#"{env="dev"}=2d@1"#,
        "--retention-stream",
        r#"{env="prod", app="web"}=10d@2"#,
        "--now",
        "2024-03-08T00:00:00Z",
    ];
    let period = |labels: &str| -> i64 {
        if labels.contains("env=\"prod\"") && labels.contains("app=\"web\"") {
            10 * DAY
        } else if labels.contains("env=\"dev\"") {
            2 * DAY
        } else {
            4 * DAY
        }
    };
    let want: Vec<_> = all
        .iter()
        .filter(|(l, ts, _)| now - ts / 1_000_000_000 <= period(l))
        .cloned()
        .collect();
    let gone = all.len() - want.len();
    assert!(gone > 100 && want.len() > 100);

    // A dry run says what would go and changes nothing.
    let before = files(env.store());
    let dry = env
        .cmd(args.iter().chain(&["--dry-run", "-o", "json"]))
        .json();
    let would: u64 = dry["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["removed"]["entries"].as_u64().unwrap())
        .sum();
    assert_eq!(would as usize, gone, "{dry}");
    assert_eq!(files(env.store()), before, "a dry run writes nothing");

    let rep = env.cmd(args.iter().chain(&["-o", "json"])).json();
    let removed: u64 = rep["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["removed"]["by_retention"].as_u64().unwrap())
        .sum();
    assert_eq!(removed as usize, gone);
    // Entry by entry: exactly the kept ones remain.
    assert_eq!(stored(&env), want);
    let n = env
        .cmd(["query", "--limit", "0", "-o", "raw", r#"{app=~".+"}"#])
        .stdout()
        .lines()
        .count();
    assert_eq!(n, want.len());
    assert_eq!(stats_entries(&env), want.len() as u64);
    // From disk too: the files that held them are gone.
    assert_disk_is_the_manifest(&env, "after retention");
    // 2024-03-01 and 02 hold only expired entries but prod/web's: kept.
    // With a shorter rule for prod/web too, those days go as directories.
    env.ok([
        "compact",
        "-q",
        "--retention",
        "4d",
        "--now",
        "2024-03-08T00:00:00Z",
    ]);
    let days: BTreeSet<String> = std::fs::read_dir(env.store().join("fake/segments"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !days.contains("2024-03-01") && !days.contains("2024-03-02"),
        "{days:?}"
    );
    assert!(days.contains("2024-03-05"), "{days:?}");
    let want2: Vec<_> = want
        .iter()
        .filter(|(_, ts, _)| now - ts / 1_000_000_000 <= 4 * DAY)
        .cloned()
        .collect();
    assert_eq!(stored(&env), want2);
    assert_disk_is_the_manifest(&env, "after whole days expired");
    env.ok(["check"]);
    // Run again: nothing left to remove.
    let out = env
        .cmd([
            "compact",
            "--retention",
            "4d",
            "--now",
            "2024-03-08T00:00:00Z",
        ])
        .run()
        .assert_code(0);
    assert!(out.stderr.contains("nothing to compact"), "{}", out.stderr);
}

/// Must-show: a delete request removes exactly the entries of the selected
/// streams in its time range whose line its filters keep, once compaction
/// applies it; it can be listed and, while pending, cancelled.
#[test]
fn deletes_remove_exactly_the_matching_entries() {
    let env = TestEnv::new();
    let all = write_streams(&env, 3, 3);
    let from = 1_709_251_200 + 12 * 3600; // 2024-03-01T12:00:00Z
    let to = from + DAY; // included
    let req = env
        .cmd([
            "delete",
            r#"{app="api"} |= "secret""#,
            "--from",
            "2024-03-01T12:00:00Z",
            "--to",
            "2024-03-02T12:00:00Z",
        ])
        .stdout();
    let id = req.trim().to_string();
    assert_eq!(id.len(), 8, "{req}");
    let list = env.cmd(["delete", "--list", "-o", "json"]).json();
    assert_eq!(list[0]["status"], "received");
    assert_eq!(list[0]["id"], id.as_str());
    // Pending: queries still show the entries.
    assert_eq!(stored(&env), all);

    // A second request, cancelled before it applies.
    let other = env
        .cmd([
            "delete",
            r#"{app="web"}"#,
            "--from",
            "2024-03-01T00:00:00Z",
            "--to",
            "2024-03-03T00:00:00Z",
        ])
        .stdout();
    env.ok(["delete", "--cancel", other.trim()]);
    let out = env.cmd(["delete", "--cancel", "nope"]).run().assert_code(2);
    assert!(out.stderr.contains("could not find"), "{}", out.stderr);

    let want: Vec<_> = all
        .iter()
        .filter(|(l, ts, line)| {
            let t = ts / 1_000_000_000;
            let hit = l.contains("app=\"api\"")
                && (from..=to).contains(&t)
                && String::from_utf8_lossy(line).contains("secret");
            !hit
        })
        .cloned()
        .collect();
    let gone = all.len() - want.len();
    assert!(gone > 5);
    let rep = env.cmd(["compact", "-o", "json"]).json();
    assert_eq!(
        rep["deletes"][0]["deleted_entries"].as_u64().unwrap() as usize,
        gone,
        "{rep}"
    );
    assert_eq!(stored(&env), want, "exactly the matching entries are gone");
    assert_eq!(stats_entries(&env), want.len() as u64);
    assert_disk_is_the_manifest(&env, "after the delete");
    let list = env.cmd(["delete", "--list", "-o", "json"]).json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["status"], "processed");
    assert_eq!(list[0]["deleted_entries"].as_u64().unwrap() as usize, gone);
    let out = env.cmd(["delete", "--cancel", &id]).run().assert_code(2);
    assert!(out.stderr.contains("already processed"), "{}", out.stderr);

    // --now applies at once; --yes is implied off a terminal.
    env.ok([
        "delete",
        r#"{env="prod"}"#,
        "--from",
        "2024-03-03T00:00:00Z",
        "--to",
        "2024-03-04T00:00:00Z",
        "--now",
    ]);
    let want: Vec<_> = want
        .into_iter()
        .filter(|(l, ts, _)| !(l.contains("env=\"prod\"") && *ts >= 1_709_424_000_000_000_000))
        .collect();
    assert_eq!(stored(&env), want);
    assert_eq!(stats_entries(&env), want.len() as u64);
    assert_disk_is_the_manifest(&env, "after delete --now");
    env.ok(["check"]);

    // Loki's checks.
    for (args, what) in [
        (
            vec!["delete", r#"{app="api"} | json"#, "--from", "2024-03-01"],
            "line filters",
        ),
        (
            vec![
                "delete",
                r#"{app="api"}"#,
                "--from",
                "2024-03-02",
                "--to",
                "2024-03-01",
            ],
            "greater than end",
        ),
        (
            vec![
                "delete",
                r#"{app="api"}"#,
                "--from",
                "2024-03-01",
                "--to",
                "2099-01-01",
            ],
            "future",
        ),
    ] {
        let out = env.cmd(&args).run().assert_code(2);
        assert!(out.stderr.contains(what), "{args:?}: {}", out.stderr);
    }
}

/// The state letter of process `pid` (`T`: stopped), from /proc.
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.chars().next()
}

/// Must-show (concurrency): a compaction holds the writer lock only to
/// reserve ids and to swap. Stopped (SIGSTOP, `LOKAL_TEST_STOP`) in the
/// middle of its merge, an ingest into the very day it compacts finishes
/// without waiting, queries answer with the new entries, and a second
/// `compact` waits for the compaction lock (here: gives up after
/// `--lock-timeout`, exit 3). Resumed, the compaction swaps the day in and
/// every entry, merged or ingested meanwhile, answers as before, ties in
/// the order they had.
#[test]
fn ingest_and_queries_run_beside_a_compaction_stopped_mid_merge() {
    let env = TestEnv::new();
    for i in 0..4 {
        // Overlapping logs of one stream: seconds held twice, ties.
        let log = env.write_log(&format!("l{i}.log"), 300, 1_700_000_000 + i * 150, "old");
        env.ingest([&log])
            .label("job=app")
            .arg("--no-filename-label")
            .ok();
    }
    let mut child = env
        .std_command()
        .args(["compact", "-o", "json"])
        .env("LOKAL_TEST_STOP", "segment-create")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut trace = std::io::BufRead::lines(std::io::BufReader::new(child.stderr.take().unwrap()));
    // The reservation commits first; the first segment created after it
    // is the merge's output, in the scratch tenant.
    let mut seen = Vec::new();
    while seen.last().map(String::as_str) != Some("segment-create") {
        let line = trace.next().expect("compact ended before merging").unwrap();
        if let Some(p) = line.strip_prefix("lokal-trace: ") {
            seen.push(p.to_string());
        }
    }
    assert!(
        seen.iter().any(|p| p == "commit"),
        "reserved first: {seen:?}"
    );
    let t = std::time::Instant::now();
    while proc_state(pid) != Some('T') {
        assert!(t.elapsed().as_secs() < 30, "compact did not stop");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }

    // Stopped mid-merge: ingest goes ahead at once, ties included.
    let new = env.write_log("new.log", 100, 1_700_000_100, "new");
    let out = env
        .ingest([&new])
        .label("job=app")
        .args(["--no-filename-label", "--lock-timeout", "10s", "-q"])
        .cmd()
        .run()
        .assert_code(0);
    assert!(!out.stderr.contains("waiting"), "{}", out.stderr);
    let all = ["query", "--limit", "0", "-o", "jsonl", r#"{job=~".+"}"#];
    let during = env.ok(all);
    assert_eq!(during.lines().count(), 4 * 300 + 100);
    let second = env
        .cmd(["compact", "--lock-timeout", "300ms"])
        .run()
        .assert_code(3);
    assert!(
        second.stderr.contains("waiting for another lokal writer"),
        "{}",
        second.stderr
    );

    // SAFETY: kill has no memory-safety preconditions; pid is our child.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGCONT) }, 0);
    for line in trace {
        line.unwrap();
    }
    let done = child.wait_with_output().unwrap();
    assert!(done.status.success());
    let rep: Value = serde_json::from_slice(&done.stdout).unwrap();
    assert_eq!(rep["days"][0]["action"], "compacted", "{rep}");
    assert_eq!(rep["days"][0]["after"]["entries"], 4 * 300, "{rep}");
    // The merged day and the segment ingested meanwhile, every answer as it was.
    assert_eq!(segments_on_disk(&env), 2);
    assert_eq!(env.ok(all), during);
    env.ok(["compact", "-q"]);
    assert_eq!(env.ok(all), during);
    assert_eq!(segments_on_disk(&env), 1);
    assert_disk_is_the_manifest(&env, "after both compactions");
    env.ok(["check"]);
}

/// `--day` and `--from`/`--to` pick the days worked on; `--config` reads
/// the retention rules from a YAML file (Loki's `limits_config` keys),
/// and a mistake in it is named by file, line and column, nothing changed.
#[test]
fn day_selection_and_the_retention_file() {
    let env = TestEnv::new();
    let all = write_streams(&env, 4, 3);
    env.ok(["compact", "-q", "--day", "2024-03-02"]);
    let days = segments_per_day(&env);
    assert_eq!(
        days.values().copied().collect::<Vec<_>>(),
        vec![3, 1, 3, 3],
        "{days:?}"
    );
    // Days overlapping [from, to): 03-03 only (to is excluded).
    env.ok([
        "compact",
        "-q",
        "--from",
        "2024-03-03T06:00:00Z",
        "--to",
        "2024-03-04T00:00:00Z",
    ]);
    let days = segments_per_day(&env);
    assert_eq!(days.values().copied().collect::<Vec<_>>(), vec![3, 1, 1, 3]);
    assert_eq!(stored(&env), all);

    let bad = env.write(
        "retention.yaml",
        "retention_period: 3d\nretention_strem: []\n",
    );
    let before = files(env.store());
    let out = env
        .cmd(["compact", "--config"])
        .arg(&bad)
        .run()
        .assert_code(2);
    assert!(
        out.stderr
            .contains("retention.yaml: line 2, column 1: unknown key"),
        "{}",
        out.stderr
    );
    assert_eq!(files(env.store()), before, "nothing changed");

    // As a Loki config file: other sections ignored; dev kept 1 day, the
    // rest 3 days, as of 2024-03-05T00:00:00Z.
    let good = env.write(
        "loki.yaml",
        "server:\n  http_listen_port: 3100\nlimits_config:\n  retention_period: 3d\n  \
         retention_stream:\n    - selector: '{env=\"dev\"}'\n      priority: 1\n      period: 1d\n",
    );
    let now = 1_709_596_800i64; // 2024-03-05T00:00:00Z
    env.cmd(["compact", "-q", "--now", "2024-03-05T00:00:00Z", "--config"])
        .arg(&good)
        .stdout();
    let want: Vec<_> = all
        .iter()
        .filter(|(l, ts, _)| {
            let period = if l.contains("env=\"dev\"") {
                DAY
            } else {
                3 * DAY
            };
            now - ts / 1_000_000_000 <= period
        })
        .cloned()
        .collect();
    assert!(want.len() < all.len());
    assert_eq!(stored(&env), want);
    assert_disk_is_the_manifest(&env, "after the file's retention");
}

/// Runs `lokal --store STORE ARGS` on a terminal: util-linux `script`
/// gives it a pty, `input` is typed into it. Returns what the terminal
/// showed (the pty echoes what was typed), once its exit code is `code`.
fn on_a_terminal(env: &TestEnv, args: &str, input: &str, code: i32) -> String {
    use std::io::Write;
    let line = format!(
        "{} --store {} {args}",
        env!("CARGO_BIN_EXE_lokal"),
        env.store().display()
    );
    let mut child = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("NO_COLOR", "1")
        .env_remove("LOKAL_STORE")
        .env_remove("LOKAL_TENANT")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("util-linux script (Debian: bsdutils, always installed)");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).replace('\r', "")
}

/// On a terminal: `compact` shows a progress bar and a line per day done
/// (then the table); `delete` says what it matches and asks first, and
/// stores nothing unless the answer is yes.
#[test]
fn on_a_terminal_progress_and_the_delete_prompt() {
    let env = TestEnv::new();
    write_streams(&env, 2, 3);
    let shown = env.ok(["stats"]);
    let q = r#"delete '{app="api"} |= "secret"' --from 2024-03-01 --to 2024-03-01T23:59:59Z"#;
    let said_no = on_a_terminal(&env, q, "n\n", 1);
    assert!(
        said_no.contains("10 entries (2 streams) match now") && said_no.contains("Go on? [y/N]"),
        "{said_no}"
    );
    assert!(said_no.contains("nothing was stored"), "{said_no}");
    assert!(env
        .cmd(["delete", "--list", "-o", "json"])
        .json()
        .as_array()
        .unwrap()
        .is_empty());
    let said_yes = on_a_terminal(&env, q, "y\n", 0);
    assert!(said_yes.contains("stored"), "{said_yes}");
    assert_eq!(
        env.cmd(["delete", "--list", "-o", "json"])
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(env.ok(["stats"]), shown, "pending until a compaction");

    let tty = on_a_terminal(&env, "compact", "", 0);
    for day in [
        "2024-03-01 compacted: 3 → 1 segments",
        "2024-03-02 compacted: 3 → 1 segments",
    ] {
        assert!(tty.contains(day), "{tty}");
    }
    assert!(tty.contains("delete request"), "the table follows: {tty}");
}

/// A damaged input segment stops the compaction with the file named and
/// what to do (exit 3); the day stays as it was, and once `check --repair`
/// moved the damaged segment aside the next compaction finishes.
#[test]
fn a_damaged_segment_stops_compaction_and_names_the_file() {
    let env = TestEnv::new();
    for i in 0..3 {
        let log = env.write_log(&format!("l{i}.log"), 100, 1_700_000_000 + i * 100, "x");
        env.ingest([&log]).ok();
    }
    let seg = segments(&env)[0].clone();
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[200] ^= 0xff;
    std::fs::write(&seg, bytes).unwrap();
    let out = env.cmd(["compact"]).run().assert_code(3);
    let name = seg.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        out.stderr.contains(&name) && out.stderr.contains("check --repair"),
        "{}",
        out.stderr
    );
    assert_eq!(segments_on_disk(&env), 3);
    env.cmd(["check", "--repair"]).run();
    env.ok(["compact", "-q"]);
    assert_eq!(segments_on_disk(&env), 1);
    assert_disk_is_the_manifest(&env, "after the repair and compaction");
    env.ok(["check"]);
}

/// A second compaction waits for the first (or gives up after
/// --lock-timeout), and so does a compaction for a writer.
#[test]
fn compaction_waits_for_the_locks_or_times_out() {
    let env = TestEnv::new();
    for i in 0..3 {
        let log = env.write_log(&format!("l{i}.log"), 50, 1_700_000_000 + i * 50, "x");
        env.ingest([&log]).ok();
    }
    for lock in ["lokal.lock", "fake/compacting/lokal.lock"] {
        let path = env.store().join(lock);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let f = std::fs::File::create(&path).unwrap();
        f.lock().unwrap();
        let out = env
            .cmd(["compact", "--lock-timeout", "300ms"])
            .run()
            .assert_code(3);
        assert!(
            out.stderr.contains("holds the store lock"),
            "{lock}: {}",
            out.stderr
        );
        assert!(
            out.stderr.contains("waiting for another lokal writer"),
            "{}",
            out.stderr
        );
        drop(f);
    }
    assert_eq!(segments_on_disk(&env), 3);
    env.ok(["compact", "-q"]);
    assert_eq!(segments_on_disk(&env), 1);
}

/// What `lokal compact --dry-run` prints, and `lokal stats` before and after.
#[test]
fn dry_run_and_stats_output() {
    let env = TestEnv::new();
    write_streams(&env, 2, 3);
    let dry = env.ok([
        "compact",
        "--dry-run",
        "--retention-stream",
        r#"{env="dev"}=1d"#,
        "--now",
        "2024-03-03T06:00:00Z",
    ]);
    insta::assert_snapshot!("compact_dry_run", dry);
    insta::assert_snapshot!("stats_before_compact", env.ok(["stats"]));
    // The summary table, times blanked (they vary run to run).
    let summary = env.ok(["compact"]);
    let times = regex::Regex::new(r"\d+\.\d\ds|\d+ MB/s").unwrap();
    insta::assert_snapshot!("compact_summary", times.replace_all(&summary, "…"));
    insta::assert_snapshot!("stats_after_compact", env.ok(["stats"]));
}

/// What `lokal delete --list` prints (creation times blanked), and the
/// table of the requests a compaction applied.
#[test]
fn delete_list_and_applied_requests_output() {
    let env = TestEnv::new();
    write_streams(&env, 2, 2);
    for (q, from, to) in [
        (
            r#"{app="api"} |= "secret""#,
            "2024-03-01T00:00:00Z",
            "2024-03-01T12:00:00Z",
        ),
        (
            r#"{env="dev"}"#,
            "2024-03-02T00:00:00Z",
            "2024-03-02T23:59:59Z",
        ),
    ] {
        env.ok(["delete", q, "--from", from, "--to", to]);
    }
    // Creation times are now; the requests' own times are in 2024-03. A
    // time of now is blanked with the padding after it: its length varies
    // (trailing zeros of the nanoseconds are not printed), and the table's
    // column takes the longest (a snapshot once failed on that).
    let times = regex::Regex::new(r"\d{4}-\d\d-\d\dT[\d:.]+Z *").unwrap();
    let ids = regex::Regex::new(r"\b[0-9a-f]{8}\b").unwrap();
    let blank = |s: &str| {
        let s = times.replace_all(s, |c: &regex::Captures<'_>| {
            if c[0].starts_with("2024-03") {
                c[0].to_string()
            } else {
                "(now)".to_string()
            }
        });
        ids.replace_all(&s, "ID").into_owned()
    };
    // The list's column widths follow the creation times' lengths too, so
    // its snapshots keep the cells and their order, not the padding.
    let runs = regex::Regex::new(r"  +|──+|══+").unwrap();
    let flat = |s: &str| {
        runs.replace_all(&blank(s), |c: &regex::Captures<'_>| {
            c[0].chars().next().unwrap().to_string()
        })
        .into_owned()
    };
    insta::assert_snapshot!("delete_list_pending", flat(&env.ok(["delete", "--list"])));
    let applied = env.ok(["compact"]);
    let times = regex::Regex::new(r"\d+\.\d\ds|\d+ MB/s").unwrap();
    insta::assert_snapshot!(
        "compact_applied_deletes",
        blank(&times.replace_all(&applied, "…"))
    );
    insta::assert_snapshot!("delete_list_processed", flat(&env.ok(["delete", "--list"])));
}
