//! Grafana Loki's own `.logqltest` evaluation suite, through `lokal test`.
use crate::common::*;

#[test]
fn every_loki_logqltest_case_passes() {
    let Some(shared) = shared() else { return };
    let dir = shared.join("conformance/logqltest");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 9);
    let out = std::process::Command::new(bin())
        .arg("test")
        .args(&files)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default().to_string();
    assert!(out.status.success(), "{stdout}");
    let passed: usize = last.split(' ').next().unwrap().parse().unwrap();
    assert!(passed >= 1_095, "{last}");
    assert!(last.ends_with(" 0 failed"), "{last}");
}

#[test]
fn a_failing_case_is_reported_with_a_diff_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("mine.logqltest");
    std::fs::write(
        &f,
        "load\n  {app=\"a\"} \"x\" @ 10s [repeat every 10s for 3]\n\neval instant at 30s count_over_time({app=\"a\"}[1m])\n  {app=\"a\"} 4\n",
    )
    .unwrap();
    let out = std::process::Command::new(bin())
        .arg("test")
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.contains("mine.logqltest:4: count_over_time({app=\"a\"}[1m])"),
        "{s}"
    );
    assert!(
        s.contains("expected:\n       {app=\"a\"} 4\n          got:\n       {app=\"a\"} 3"),
        "{s}"
    );
    assert_eq!(s.lines().last(), Some("0 passed, 1 failed"));
}
