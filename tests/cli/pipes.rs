//! A closed stdout (`lokal labels | head -0`) is how a reader says it has
//! seen enough: every command exits as it would have (ripgrep's rule),
//! never with a panic (exit 101).
use std::process::Stdio;

use crate::common::*;

/// Runs `lokal ARGS` with a stdout whose read end is already closed, so
/// the first write fails with EPIPE. Returns the exit code and stderr.
fn closed_stdout(env: &TestEnv, args: &[&str]) -> (Option<i32>, String) {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = env
        .std_command()
        .args(args)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_command_exits_quietly_when_stdout_closes() {
    let env = TestEnv::new();
    let log = env.write_log("a.log", 3000, 1_700_000_000, "a");
    env.ingest([&log]).label("job=a").ok();
    let script = env.write(
        "t.logqltest",
        "clear\neval instant at 60s 1+1\n  2\neval instant at 60s 10 / 5\n  2\n",
    );
    let script = script.to_str().unwrap();
    let b = env.write_log("b.log", 3000, 1_700_000_000, "b");
    let c = env.write_log("c.log", 3000, 1_700_000_000, "c");
    let (b, c) = (b.to_str().unwrap(), c.to_str().unwrap());
    let cases: &[(&[&str], i32)] = &[
        (&["labels"], 0),
        (&["labels", "job"], 0),
        (&["series", "{}"], 0),
        (&["series", "--analyze-labels", "{}"], 0),
        (&["fmt", r#"{job="a"} |= "x""#], 0),
        (&["fmt", "--pretty", r#"sum(rate({job="a"}[1m]))"#], 0),
        (&["stats"], 0),
        (&["stats", "-o", "json"], 0),
        (&["check"], 0),
        (&["verify"], 0),
        (&["index"], 0),
        (&["completions", "bash"], 0),
        (&["completions", "zsh"], 0),
        (&["completions", "fish"], 0),
        (&["test", script], 0),
        (&["dump"], 0),
        (&["query", "--limit", "0", r#"{job="a"}"#], 0),
        (&["query", "-o", "raw", r#"{job="a"}"#], 0),
        (&["query", "-o", "jsonl", r#"{job="a"}"#], 0),
        (&["query", "-o", "json", r#"{job="a"}"#], 0),
        (&["query", r#"count_over_time({job="a"}[1m])"#], 0),
        (
            &[
                "instant-query",
                "--now",
                "2023-11-15T00:00:00Z",
                r#"count_over_time({job="a"}[1d])"#,
            ],
            0,
        ),
        (&["--help"], 0),
        (&["ingest", "--label", "job=b", b], 0),
        (&["ingest", "-o", "json", "--label", "job=c", c], 0),
    ];
    for (args, want) in cases {
        let (code, stderr) = closed_stdout(&env, args);
        assert!(
            !stderr.contains("panicked"),
            "lokal {args:?} panicked: {stderr}"
        );
        assert_eq!(code, Some(*want), "lokal {args:?}: {stderr}");
    }
    // The ingests stored their entries although nobody read the summary.
    assert_eq!(env.dump().len(), 3 * 3000);
}
