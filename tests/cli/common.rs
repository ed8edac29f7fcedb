//! Helpers shared by the CLI tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The lokal binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_lokal"))
}

/// A `lokal` command pointed at `store`, with a clean environment.
pub fn lokal(store: &Path) -> Command {
    let mut c = Command::new(bin());
    c.env("LOKAL_STORE", store)
        .env_remove("LOKAL_TENANT")
        .env("NO_COLOR", "1");
    c
}

/// `../shared`, when present; otherwise prints why the caller skips.
pub fn shared() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    if p.join("data/real").is_dir() {
        Some(p.canonicalize().unwrap())
    } else {
        eprintln!("note: ../shared is absent; skipping this test");
        None
    }
}

/// Runs the command, asserts success, returns stdout.
pub fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run lokal");
    assert!(
        out.status.success(),
        "lokal failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One dumped entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dumped {
    pub labels: String,
    pub ts: i64,
    pub line: Vec<u8>,
}

/// Every stored entry, via the hidden `lokal dump`.
pub fn dump(store: &Path) -> Vec<Dumped> {
    let out = lokal(store).arg("dump").output().expect("run lokal dump");
    assert!(
        out.status.success(),
        "dump failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse_dump(&out.stdout)
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
    let mut m: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    for e in entries {
        let f = e
            .labels
            .split("filename=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or("")
            .to_string();
        m.entry(f).or_default().push(e.line.clone());
    }
    for v in m.values_mut() {
        v.sort();
    }
    m
}

/// Writes a log file of `n` lines with increasing RFC 3339 timestamps.
pub fn write_log(path: &Path, n: usize, start_s: i64, tag: &str) {
    use std::fmt::Write;
    let mut s = String::new();
    for i in 0..n {
        let ts = jiff::Timestamp::from_second(start_s + i as i64).unwrap();
        writeln!(
            s,
            "{ts} level=info tag={tag} msg=\"event {i}\" pad=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        )
        .unwrap();
    }
    std::fs::write(path, s).unwrap();
}

/// The manifest of tenant `fake` as JSON.
pub fn manifest(store: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(store.join("fake/MANIFEST")).unwrap()).unwrap()
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
