//! Grafana Loki's own `.logqltest` evaluation suite, through `lokal test`.
use crate::common::*;

/// The test behind the README's "all 1,095 cases pass": it must fail, not
/// pass silently, when a CI run lacks `../shared`.
#[test]
fn every_loki_logqltest_case_passes() {
    let Some(dir) = shared("conformance/logqltest") else {
        return;
    };
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 9);
    let out = LokalCmd::new(None).arg("test").args(&files).assert_code(0);
    let last = out.stdout.lines().last().unwrap_or_default().to_string();
    let passed: usize = last.split(' ').next().unwrap().parse().unwrap();
    assert!(passed >= 1_095, "{last}");
    assert!(last.ends_with(" 0 failed"), "{last}");
}

/// The `../shared` rule of `tests/support`, seen from outside: this test
/// binary re-runs [`every_loki_logqltest_case_passes`] alone with
/// `LOKAL_SHARED_DIR` naming a missing directory. Without `CI` the test
/// passes with a note; with `CI=true` it fails and says why.
#[test]
fn a_missing_shared_dir_skips_by_hand_and_fails_under_ci() {
    let env = TestEnv::new();
    let run = |ci: Option<&str>| {
        let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
        cmd.args([
            "logqltest::every_loki_logqltest_case_passes",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(crate::support::SHARED_DIR_VAR, env.path().join("missing"));
        match ci {
            Some(v) => cmd.env("CI", v),
            None => cmd.env_remove("CI"),
        };
        let out = cmd.output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let (passed, text) = run(None);
    assert!(passed, "without CI the test skips:\n{text}");
    assert!(text.contains("1 passed"), "{text}");
    assert!(
        text.contains("missing/conformance/logqltest is absent; skipping this test"),
        "{text}"
    );
    for ci in ["true", "1"] {
        let (passed, text) = run(Some(ci));
        assert!(!passed, "CI={ci} must fail the test:\n{text}");
        assert!(
            text.contains("CI=true does not allow skipping it"),
            "{text}"
        );
    }
    let (passed, text) = run(Some("false"));
    assert!(passed, "CI=false is not CI:\n{text}");
}

#[test]
fn a_failing_case_is_reported_with_a_diff_and_exit_1() {
    let env = TestEnv::new();
    let f = env.write(
        "mine.logqltest",
        "load\n  {app=\"a\"} \"x\" @ 10s [repeat every 10s for 3]\n\neval instant at 30s count_over_time({app=\"a\"}[1m])\n  {app=\"a\"} 4\n",
    );
    let s = LokalCmd::new(None)
        .arg("test")
        .arg(&f)
        .assert_code(1)
        .stdout;
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
