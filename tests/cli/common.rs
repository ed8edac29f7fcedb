//! Helpers shared by the CLI tests: [`TestEnv`] (re-exported from
//! `testenv.rs`), the `../shared` rule (from `tests/support`), and readers
//! of what a store holds.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

pub use crate::eqnice;
pub use crate::support::shared;
pub use crate::testenv::{LokalCmd, TestEnv};

/// One dumped entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dumped {
    pub labels: String,
    pub ts: i64,
    pub line: Vec<u8>,
}

/// Parses `ts<TAB>labels<TAB>line` records (lines hold no newline here).
pub fn parse_dump(bytes: &[u8]) -> Vec<Dumped> {
    bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|rec| {
            let mut parts = rec.splitn(3, |&b| b == b'\t');
            let ts = std::str::from_utf8(parts.next().unwrap())
                .unwrap()
                .parse()
                .unwrap();
            let labels = String::from_utf8(parts.next().unwrap().to_vec()).unwrap();
            let line = parts.next().unwrap_or_default().to_vec();
            Dumped { labels, ts, line }
        })
        .collect()
}

/// Lines of a file as ingest splits them: on `\n`, a trailing `\r` dropped.
pub fn file_lines(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = bytes
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l).to_vec())
        .collect();
    if bytes.ends_with(b"\n") {
        v.pop();
    }
    v
}

/// Entries grouped by their `filename` label, each group sorted.
pub fn by_file(entries: &[Dumped]) -> BTreeMap<String, Vec<Vec<u8>>> {
    stored_by_file(entries)
        .into_iter()
        .map(|(f, v)| (f, v.into_iter().map(|(_, l)| l).collect()))
        .collect()
}

/// `(ts, line)` of the entries, grouped by their `filename` label, each
/// group sorted by time, then line.
pub fn stored_by_file(entries: &[Dumped]) -> BTreeMap<String, Vec<(i64, Vec<u8>)>> {
    let mut m: BTreeMap<String, Vec<(i64, Vec<u8>)>> = BTreeMap::new();
    for e in entries {
        let f = e
            .labels
            .split("filename=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or("")
            .to_string();
        m.entry(f).or_default().push((e.ts, e.line.clone()));
    }
    for v in m.values_mut() {
        v.sort();
    }
    m
}

/// Asserts that two sorted `(ts, line)` lists are equal, printing the first
/// entry that differs.
#[track_caller]
pub fn assert_same_entries(what: &str, got: &[(i64, Vec<u8>)], want: &[(i64, Vec<u8>)]) {
    assert_eq!(got.len(), want.len(), "{what}: entry count");
    if let Some(i) = (0..got.len()).find(|&i| got[i] != want[i]) {
        panic!(
            "{what}: entry {i} differs:\n stored {} {:?}\n wanted {} {:?}",
            got[i].0,
            String::from_utf8_lossy(&got[i].1),
            want[i].0,
            String::from_utf8_lossy(&want[i].1)
        );
    }
}

/// A label matcher for library calls.
pub fn matcher(name: &str, op: &str, value: &str) -> lokal::logql::Matcher {
    use lokal::logql::{MatchOp, Matcher, Span};
    let op = match op {
        "=" => MatchOp::Eq,
        "!=" => MatchOp::Neq,
        "=~" => MatchOp::Re,
        "!~" => MatchOp::Nre,
        o => panic!("{o}"),
    };
    Matcher::new(name, op, value, Span::default()).unwrap()
}

/// Checks that planning through the store's indexes gives exactly what the
/// segment footers alone give, for a spread of selectors and time ranges.
/// Returns how many chunks the widest query planned.
pub fn assert_index_agrees_with_footers(store: &Path) -> usize {
    use lokal::engine::plan::{label_names, label_values, plan_streams, series};
    let snap = lokal::store::Store::new(store)
        .tenant("fake")
        .unwrap()
        .snapshot()
        .unwrap();
    let mut bare = snap.clone();
    bare.manifest.indexes.clear();
    let selectors: Vec<Vec<lokal::logql::Matcher>> = vec![
        vec![],
        vec![matcher("job", "=", "x")],
        vec![matcher("filename", "=~", ".*a.*")],
        vec![matcher("filename", "!~", ".*b.*")],
        vec![matcher("job", "=", "x"), matcher("filename", "!=", "nope")],
        vec![matcher("missing", "=", "")],
        vec![matcher("missing", "=~", "|y")],
        vec![matcher("missing", "!=", "")],
        vec![matcher("job", "=~", "x|y"), matcher("host", "!~", "h1")],
    ];
    let ranges = [
        (i64::MIN, i64::MAX),
        (1_700_000_500_000_000_000, 1_700_001_000_000_000_000),
        (1_700_090_000_000_000_000, i64::MAX),
        (5, 4),
    ];
    let mut widest = 0;
    for m in &selectors {
        for &(from, to) in &ranges {
            let r = lokal::time::TimeRange::new(from, to);
            let a = plan_streams(&snap, m, r).unwrap();
            let b = plan_streams(&bare, m, r).unwrap();
            assert_eq!(a, b, "plan_streams {m:?} [{from}, {to}]");
            if m.is_empty() && from == i64::MIN {
                widest = a.len();
            }
            assert_eq!(series(&snap, m, r).unwrap(), series(&bare, m, r).unwrap());
        }
    }
    for &(from, to) in &ranges {
        let r = lokal::time::TimeRange::new(from, to);
        assert_eq!(
            label_names(&snap, r).unwrap(),
            label_names(&bare, r).unwrap()
        );
        for n in ["job", "filename", "host", "missing"] {
            assert_eq!(
                label_values(&snap, n, r).unwrap(),
                label_values(&bare, n, r).unwrap(),
                "label_values {n} [{from}, {to}]"
            );
        }
    }
    widest
}

/// The paths of tenant `fake`'s live segments, in manifest order.
pub fn segments(env: &TestEnv) -> Vec<std::path::PathBuf> {
    env.manifest()["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| env.store().join("fake").join(s["path"].as_str().unwrap()))
        .collect()
}

/// Two streams, `job="a"` and `job="b"`, of `n` lines each on 2023-11-14,
/// ingested in one run so both chunks share one segment; its path.
pub fn one_segment_two_streams(env: &TestEnv, n: usize, no_index: bool) -> std::path::PathBuf {
    let a = env.write_log("a.log", n, 1_700_000_000, "a");
    let b = env.write_log("b.log", n, 1_700_000_000, "b");
    let mut ing = env
        .ingest([&a, &b])
        .args(["--label-from-path", r"/(?P<job>[ab])\.log$"]);
    if no_index {
        ing = ing.arg("--no-index");
    }
    ing.ok();
    let segs = segments(env);
    assert_eq!(segs.len(), 1, "one day, one run: one segment");
    segs.into_iter().next().unwrap()
}

/// The first block of stream `job` in `seg`: (offset, len).
pub fn block_of(seg: &Path, job: &str) -> (u64, u32) {
    let r = lokal::chunk::SegmentReader::open(seg).unwrap();
    let s = r
        .streams()
        .iter()
        .find(|s| s.labels.get("job") == Some(job))
        .unwrap();
    (s.blocks[0].offset, s.blocks[0].len)
}

/// XORs the byte at `at` of `path` with `mask`.
pub fn flip(path: &Path, at: usize, mask: u8) {
    let mut bytes = fs::read(path).unwrap();
    bytes[at] ^= mask;
    fs::write(path, &bytes).unwrap();
}

/// Files named `*.seg` under tenant `fake`'s `segments/`.
pub fn segments_on_disk(env: &TestEnv) -> usize {
    walk(&env.store().join("fake/segments"))
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .count()
}

/// After a finished writer with no reader about, tenant `fake` holds
/// exactly what its manifest names: every segment and index file on disk
/// is live, nothing is retired, no lease and no compaction scratch file is
/// left (`quarantine/`, where `check --repair` moves damaged files, aside).
#[track_caller]
pub fn assert_disk_is_the_manifest(env: &TestEnv, ctx: &str) {
    let tenant = env.store().join("fake");
    let m = env.manifest();
    let mut named = std::collections::HashSet::new();
    for list in ["segments", "indexes"] {
        for e in m[list].as_array().into_iter().flatten() {
            named.insert(tenant.join(e["path"].as_str().unwrap()));
        }
    }
    let strays: Vec<std::path::PathBuf> = walk(&tenant)
        .into_iter()
        .filter(|p| {
            let s = p.to_string_lossy();
            let scratch = p.starts_with(tenant.join("compacting")) && !s.ends_with("lokal.lock");
            // What `check --repair` moved aside is the user's to look at.
            let quarantined = p.starts_with(tenant.join("quarantine"));
            let unnamed = (s.ends_with(".seg") || s.ends_with(".idx") || s.contains("/leases/"))
                && !named.contains(p);
            !quarantined && (scratch || unnamed)
        })
        .collect();
    assert!(
        strays.is_empty(),
        "{ctx}: files the manifest does not name: {strays:?}"
    );
    assert!(
        m["retired"].as_array().is_none_or(|r| r.is_empty()),
        "{ctx}: still retired: {}",
        m["retired"]
    );
}

/// Every file (and symlink, FIFO…) under `dir`, not entering symlinks.
pub fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd {
            let p = e.unwrap().path();
            if fs::symlink_metadata(&p).unwrap().is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Runs `lokal ARGS` under GNU time; (exit code, stderr, peak RSS in KiB).
/// `None` when /usr/bin/time is missing (a note; a failure under CI).
pub fn with_peak_rss(
    env: &TestEnv,
    args: &[&str],
    stdin: Option<&Path>,
) -> Option<(i32, String, u64)> {
    if !Path::new("/usr/bin/time").exists() {
        crate::support::skip("GNU time is not installed (apt-get install time)");
        return None;
    }
    let marker = "lokal-test-peak-rss-kb=";
    let mut cmd = std::process::Command::new("/usr/bin/time");
    cmd.arg("-f")
        .arg(format!("{marker}%M"))
        .arg(env!("CARGO_BIN_EXE_lokal"))
        .arg("--store")
        .arg(env.store())
        .args(args)
        .env_remove("LOKAL_STORE")
        .env_remove("LOKAL_TENANT")
        .stdout(std::process::Stdio::null());
    if let Some(p) = stdin {
        cmd.stdin(fs::File::open(p).unwrap());
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let rss = stderr
        .lines()
        .find_map(|l| l.strip_prefix(marker))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS in {stderr}"));
    Some((out.status.code().unwrap_or(-1), stderr, rss))
}
