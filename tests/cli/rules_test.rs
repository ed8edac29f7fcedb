//! `lokal rules test`: the suites in `tests/rules/suites/` — passing ones, and
//! deliberately broken rules whose failure output is checked — JUnit output,
//! `--run`, and test files that cannot run.
use crate::common::*;

const SUITES: &str = "tests/rules/suites";

#[test]
fn the_passing_suite_passes() {
    let env = TestEnv::new();
    let r = env
        .cmd([
            "rules",
            "test",
            "-v",
            &format!("{SUITES}/checkout_test.yaml"),
        ])
        .assert_code(0);
    assert!(r.stdout.ends_with("14 passed, 0 failed\n"), "{r}");
    assert_eq!(
        r.stdout.lines().filter(|l| l.starts_with("ok   ")).count(),
        14,
        "{r}"
    );
}

#[test]
fn broken_rules_fail_with_a_readable_diff() {
    let env = TestEnv::new();
    let junit = env.path().join("junit.xml");
    let r = env
        .cmd([
            "rules",
            "test",
            &format!("{SUITES}/broken_test.yaml"),
            &format!("{SUITES}/checkout_test.yaml"),
            "--junit",
        ])
        .arg(&junit)
        .assert_code(1);
    insta::assert_snapshot!("broken_suite", r.stdout);
    // JUnit: one suite per file, a case per check, the failures with their diffs.
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains(r#"<testsuite name="tests/rules/suites/broken_test.yaml" tests="4" failures="4" errors="0""#), "{xml}");
    assert!(
        xml.contains(
            r#"<testsuite name="tests/rules/suites/checkout_test.yaml" tests="14" failures="0""#
        ),
        "{xml}"
    );
    assert!(xml.contains("team=&quot;-oncall&quot;"), "{xml}");
    assert_eq!(xml.matches("<testcase ").count(), 18);
    // --run picks tests by name.
    let r = env
        .cmd([
            "rules",
            "test",
            "--run",
            "team label",
            &format!("{SUITES}/broken_test.yaml"),
        ])
        .assert_code(1);
    assert!(r.stdout.ends_with("0 passed, 1 failed\n"), "{r}");
}

#[test]
fn test_files_that_cannot_run_fail() {
    let env = TestEnv::new();
    let typo = env.write(
        "typo_test.yaml",
        "rule_files: [nope.yaml]\ntests:\n  - name: x\n    input_serie: []\n",
    );
    let r = env.cmd(["rules", "test"]).arg(&typo).assert_code(1);
    assert!(r.stdout.contains("typo_test.yaml:4:5: unknown key \"input_serie\" in a test (known keys: name, interval, input_streams, load,"), "{r}");
    let missing = env.write("missing_test.yaml", "rule_files: [nope.yaml]\ntests: []\n");
    let r = env.cmd(["rules", "test"]).arg(&missing).assert_code(1);
    assert!(
        r.stdout.contains("loading the rule files: ")
            && r.stdout.contains("nope.yaml: no such file or directory"),
        "{r}"
    );
    assert!(r.stdout.ends_with("0 passed, 1 failed\n"), "{r}");
    // A rule file Loki refuses cannot be tested.
    env.write(
        "bad.yaml",
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: nope\n",
    );
    let bad = env.write("bad_test.yaml", "rule_files: [bad.yaml]\ntests: []\n");
    let r = env.cmd(["rules", "test"]).arg(&bad).assert_code(1);
    assert!(
        r.stdout
            .contains("bad.yaml:5:15: group \"g\", rule 1 \"A\": could not parse expression"),
        "{r}"
    );
    // A rule that fails to evaluate fails its test.
    env.write(
        "fails.yaml",
        "groups:\n  - name: g\n    rules:\n      - record: a:b\n        expr: sum(count_over_time({app=\"x\"} | json [1m]))\n",
    );
    let fails = env.write(
        "fails_test.yaml",
        "rule_files: [fails.yaml]\ntests:\n  - name: t\n    input_streams:\n      - {labels: '{app=\"x\"}', line: 'not json', values: '1 1'}\n    logql_expr_test:\n      - {expr: 'vector(1)', eval_time: 1m, exp_samples: [{labels: '{}', value: 1}]}\n",
    );
    let r = env.cmd(["rules", "test"]).arg(&fails).assert_code(1);
    assert!(
        r.stdout.contains("\"t\": rule evaluation")
            && r.stdout.contains("rule: a:b, time: 0s, err: "),
        "{r}"
    );
}
