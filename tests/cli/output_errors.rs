//! Errors that point: every example of the issue through the real binary.
//! A LogQL parse error keeps Loki's text on its first line (exit 2); with
//! `LOKAL_CARET=1` (what a terminal gets) the query follows with a caret
//! under the mistake; common mistakes get a `hint:` line with the query
//! that was probably meant, which parses. Time flags out of range and a
//! store that does not exist say so. Snapshots of stderr, colours off.
use crate::common::*;

/// A store with one stream, so queries reach the parser of a real store.
fn store() -> TestEnv {
    let env = TestEnv::new();
    let f = env.write_log("x.log", 3, 1_700_000_000, "t");
    env.ingest([&f]).label("job=x").ok();
    env
}

/// stderr of `args`, which must fail with exit 2, with the caret on.
fn stderr(env: &TestEnv, args: &[&str], caret: bool) -> String {
    let mut cmd = env.cmd(args);
    cmd.env("LOKAL_CARET", if caret { "1" } else { "0" })
        .env("NO_COLOR", "1");
    cmd.assert_code(2).stderr
}

#[test]
fn parse_errors_point_and_hint() {
    let env = store();
    let cases = [
        ("misspelt_function", r#"sum(cont_over_time({job="x"}[5m]))"#),
        ("misspelt_parser", r#"{job="x"} | jsn | level="error""#),
        (
            "grouping_without_parens",
            r#"sum by job (count_over_time({job="x"}[5m]))"#,
        ),
        (
            "grouping_without_parens_two",
            r#"sum(count_over_time({job="x"}[5m])) without host, job"#,
        ),
        ("range_missing", r#"rate({job="x"} |= "GET")"#),
        ("log_query_in_sum", r#"sum by (level) ({job="x"} | logfmt)"#),
        ("duration_unit", r#"count_over_time({job="x"}[5x])"#),
        ("no_hint", r#"{job="x""#),
    ];
    let mut all = String::new();
    for (name, q) in cases {
        let err = stderr(&env, &["query", q], true);
        // Loki's exact text first, whatever follows.
        let loki = lokal::logql::parse_expr(q).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("lokal: {loki}\n")),
            "{name}: {err}"
        );
        // Off a terminal the caret goes, the hint stays.
        let plain = stderr(&env, &["query", q], false);
        assert!(
            !plain.contains("  ^") && !plain.contains(&format!("  {q}")),
            "{plain}"
        );
        assert_eq!(
            plain.contains("hint:"),
            err.contains("hint:"),
            "{name}: {plain}"
        );
        // A hint's suggested query parses (and `lokal fmt` agrees).
        if let Some(s) = err.lines().find(|l| l.starts_with("hint:")) {
            if s.ends_with('`') {
                let suggested = s.rsplit('`').nth(1).unwrap();
                env.cmd(["fmt", suggested]).assert_code(0);
            }
        }
        all.push_str(&format!("$ lokal query '{q}'\n{err}\n"));
    }
    insta::assert_snapshot!("parse_errors", all);
}

#[test]
fn other_errors_say_what_is_wrong() {
    let env = store();
    let mut all = String::new();
    let runs: [&[&str]; 6] = [
        &["instant-query", r#"{job="x"} |= "GET""#],
        &["query", "--since", "1000000d", r#"{job="x"}"#],
        &["query", "--from", "99999999999999", r#"{job="x"}"#],
        &["query", "--from", "now+250y", r#"{job="x"}"#],
        &["fmt", r#"sum by job (rate({job="x"}[1m]))"#],
        &[
            "instant-query",
            r#"topk(3, sum by (job) (rte({job="x"}[1h])))"#,
        ],
    ];
    for args in runs {
        let err = stderr(&env, args, true);
        all.push_str(&format!("$ lokal {}\n{err}\n", args.join(" ")));
    }
    // A mistyped --store: the directory is named and said not to exist.
    let missing = env.path().join("stroe");
    let err = LokalCmd::new(Some(&missing))
        .args(["query", r#"{job="x"}"#])
        .assert_code(2)
        .stderr;
    assert!(
        err.contains(&format!(
            "{}: no lokal store here (the directory does not exist)",
            missing.display()
        )),
        "{err}"
    );
    insta::assert_snapshot!("other_errors", all);
}
