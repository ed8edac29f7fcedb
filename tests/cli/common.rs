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
