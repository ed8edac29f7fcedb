//! Crash safety: SIGKILL `lokal ingest` at random moments; the store must
//! hold exactly what the manifest committed, and a re-run must finish the
//! job with no line lost and none doubled.
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::common::*;

/// A small deterministic generator, so failures can be replayed.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

/// Committed line counts per file, from the manifest's positions.
fn committed_lines(store: &Path, files: &[std::path::PathBuf]) -> BTreeMap<String, usize> {
    let manifest = store.join("fake/MANIFEST");
    let mut out = BTreeMap::new();
    let m: serde_json::Value = match fs::read(&manifest) {
        Ok(b) => serde_json::from_slice(&b).expect("MANIFEST is whole JSON after a crash"),
        Err(_) => serde_json::json!({"positions": {}}),
    };
    for f in files {
        let key = f.display().to_string();
        let offset = m["positions"][&key]["offset"].as_u64().unwrap_or(0) as usize;
        let bytes = fs::read(f).unwrap();
        assert!(
            offset == 0 || bytes[offset - 1] == b'\n',
            "positions end on a line boundary"
        );
        out.insert(key, bytes[..offset].iter().filter(|&&b| b == b'\n').count());
    }
    out
}

#[test]
fn sigkill_at_random_moments_loses_and_doubles_nothing() {
    let env = TestEnv::new();
    let store = env.store();
    let files: Vec<_> = (0..4)
        .map(|i| {
            let name = format!("app{i}.log");
            env.write_log(&name, 40_000, 1_700_000_000 + i * 100_000, &format!("f{i}"))
        })
        .collect();
    let mut rng = Lcg(0x5eed);
    let mut kills = 0;
    for round in 0..12 {
        let mut child = env
            .std_command()
            .args(["ingest", "-q", "--batch-size", "512KiB"])
            .args(&files)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(5 + rng.next() % 150));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        child.wait().unwrap();

        // The store opens and every block reads back.
        env.ok(["verify"]);
        // Whatever index survived agrees with the footers.
        assert_index_agrees_with_footers(store);
        // It holds exactly the committed lines: each file's first N lines.
        let want = committed_lines(store, &files);
        let got = by_file(&env.dump());
        for f in &files {
            let key = f.display().to_string();
            let n = want[&key];
            let mut lines = file_lines(&fs::read(f).unwrap());
            lines.truncate(n);
            lines.sort();
            assert_eq!(
                got.get(&key).cloned().unwrap_or_default(),
                lines,
                "round {round}: {key}"
            );
        }
        // No temporary files survive the next writer.
    }
    assert!(
        kills > 0,
        "no ingest was interrupted; the test proved nothing"
    );
    env.ingest(&files).ok();
    let got = by_file(&env.dump());
    for f in &files {
        let mut lines = file_lines(&fs::read(f).unwrap());
        lines.sort();
        assert_eq!(got[&f.display().to_string()], lines, "after the final run");
    }
    let leftovers: Vec<_> = walk(store)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn walk(p: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = fs::read_dir(p) {
        for e in rd.flatten() {
            let path = e.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}
