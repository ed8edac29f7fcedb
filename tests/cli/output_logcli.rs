//! lokal's log outputs against the real `logcli` 3.7.6, byte for byte: the
//! differential dataset in a lokal store and in the real Loki of
//! `../shared/loki`, the same command line run by `logcli` (against Loki)
//! and by `lokal` (against its store), stdout compared.
//!
//! - every third log query of `tests/diff/queries.tsv` (80 of 244: 81, less
//!   one whose answer differs on purpose, `DIFFERENCES.tsv`) in each output
//!   format (`default`, `raw`, `jsonl`);
//! - every label flag (`--include-common-labels`, `--include-label`,
//!   `--exclude-label`, `--labels-length`, `--no-labels`,
//!   `--colored-output`), every `--output-timestamp-format`, `-z Local`,
//!   and `--batch` on queries over several streams, in the formats they
//!   change;
//! - on a terminal (util-linux `script` gives both a pty): logcli's colours,
//!   `--colored-output`'s palette.
//!
//! The one difference allowed: entries that share a timestamp. logcli sorts
//! a response with Go's unstable `sort.Slice`, so their order follows
//! Loki's stream order through an unstable sort; lokal orders them by
//! labels, then as stored. Two outputs that differ only there (the same
//! lines, each run of one timestamp in another order) count as equal, and
//! the test says how many did.
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::common::*;
use crate::diff;
use crate::support::loki::{have, unpack_logcli, Loki};

/// One comparison: the arguments both get, and the environment.
#[derive(Debug, Clone)]
struct Case {
    args: Vec<String>,
    env: Vec<(&'static str, &'static str)>,
    /// Run on a terminal (`script`), stdout and stderr together.
    tty: bool,
}

/// How one case came out.
enum Verdict {
    Same,
    /// Equal up to the order of entries sharing a timestamp.
    TiesReordered,
    Differs(String),
}

/// `program args…` with `env`, in a clean environment (`PATH` kept);
/// on a terminal when `tty`. Returns stdout (the terminal's text on a tty).
fn run_case(program: &[String], case: &Case) -> Vec<u8> {
    let mut cmd = if case.tty {
        let line = program
            .iter()
            .chain(&case.args)
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" ");
        let mut c = Command::new("script");
        c.args(["-qec", &line, "/dev/null"]);
        c
    } else {
        let mut c = Command::new(&program[0]);
        c.args(&program[1..]).args(&case.args);
        c
    };
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TERM", "xterm")
        .envs(case.env.iter().copied())
        .stdin(std::process::Stdio::null());
    let out = cmd.output().unwrap();
    if case.tty {
        // The pty turns each \n into \r\n.
        String::from_utf8_lossy(&out.stdout)
            .replace("\r\n", "\n")
            .into_bytes()
    } else {
        out.stdout
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The timestamp a line of `case`'s output starts with, to group ties:
/// the first field of the default format, the `timestamp` of jsonl.
fn tie_key(line: &str) -> String {
    match line.find("\"timestamp\":\"") {
        Some(i) => line[i..].to_string(),
        None => line.split(' ').next().unwrap_or("").to_string(),
    }
}

/// Whether `a` and `b` hold the same lines with every run of one timestamp
/// in any order (raw output has no timestamp: the same lines in any order
/// within the runs `b`'s default output would have is not checkable, so
/// raw must match exactly or as a multiset of lines).
fn same_up_to_ties(a: &str, b: &str) -> bool {
    let runs = |s: &str| -> Vec<Vec<String>> {
        let mut out: Vec<Vec<String>> = Vec::new();
        let mut last = None;
        for l in s.lines() {
            let k = tie_key(l);
            if last.as_ref() != Some(&k) {
                out.push(Vec::new());
                last = Some(k);
            }
            out.last_mut().unwrap().push(l.to_string());
        }
        for r in &mut out {
            r.sort();
        }
        out
    };
    runs(a) == runs(b)
}

fn judge(theirs: &[u8], ours: &[u8], raw: bool) -> Verdict {
    if theirs == ours {
        return Verdict::Same;
    }
    let (t, o) = (
        String::from_utf8_lossy(theirs),
        String::from_utf8_lossy(ours),
    );
    let tied = if raw {
        let sorted = |s: &str| {
            let mut v: Vec<&str> = s.lines().collect();
            v.sort_unstable();
            v.into_iter().map(String::from).collect::<Vec<_>>()
        };
        sorted(&t) == sorted(&o)
    } else {
        same_up_to_ties(&t, &o)
    };
    if tied {
        return Verdict::TiesReordered;
    }
    let first = t
        .lines()
        .zip(o.lines())
        .position(|(a, b)| a != b)
        .unwrap_or(t.lines().count().min(o.lines().count()));
    Verdict::Differs(format!(
        "first difference at line {}:\n  logcli: {:?}\n  lokal:  {:?}\n  ({} and {} lines)",
        first + 1,
        t.lines().nth(first).unwrap_or("<end>"),
        o.lines().nth(first).unwrap_or("<end>"),
        t.lines().count(),
        o.lines().count()
    ))
}

/// `query` arguments for a row of `queries.tsv`, as logcli takes them.
fn row_args(row: &diff::Row) -> Vec<String> {
    let limit = if row.limit.is_empty() {
        "100"
    } else {
        &row.limit
    };
    let mut a: Vec<String> = [
        "query", "-z", "UTC", "--from", &row.start, "--to", &row.end, "--limit", limit,
    ]
    .map(String::from)
    .to_vec();
    if row.direction == "forward" {
        a.push("--forward".into());
    }
    a
}

fn with(base: &[String], extra: &[&str], query: &str) -> Vec<String> {
    let mut a = base.to_vec();
    a.extend(extra.iter().map(|s| s.to_string()));
    a.push(query.to_string());
    a
}

#[test]
fn log_outputs_are_logclis_byte_for_byte() {
    let Some(loki_dir) = shared("loki") else {
        return;
    };
    if !(have("zstd", "--version")
        && have("curl", "--version")
        && have("python3", "--version")
        && have("script", "--version"))
    {
        return;
    }
    let Some(env) = diff::dataset_store() else {
        return;
    };
    let loki = Loki::start_with_dataset(&loki_dir, env.path(), &env.path().join("dataset.jsonl"));
    let logcli = unpack_logcli(&loki_dir, env.path());

    // Queries whose answer differs on purpose (DIFFERENCES.tsv: Loki bugs)
    // print different entries; the output is compared on the others.
    let listed = diff::read_differences();
    let rows: Vec<diff::Row> = diff::read_queries(&diff::suite_dir().join("queries.tsv"))
        .into_iter()
        .filter(|r| r.kind == "range" && r.ty == "log" && r.expect == "ok")
        .step_by(3)
        .filter(|r| !listed.contains_key(&r.id))
        .collect();
    assert!(rows.len() >= 60, "{} log queries sampled", rows.len());

    let mut cases: Vec<Case> = Vec::new();
    let plain = |args| Case {
        args,
        env: Vec::new(),
        tty: false,
    };
    for row in &rows {
        for format in ["default", "raw", "jsonl"] {
            cases.push(plain(with(&row_args(row), &["-o", format], &row.query)));
        }
    }
    // Every flag, over streams that share some labels and not others.
    let many = [
        r#"{job=~"kafka|zookeeper"}"#,
        r#"{host="a"} |= "error""#,
        r#"{job="nginx"} | json | status >= 400"#,
        r#"{job=~".+"} |~ "[<>&]""#,
    ];
    let base: Vec<String> = [
        "query",
        "-z",
        "UTC",
        "--from",
        "2024-05-01T00:00:00Z",
        "--to",
        "2024-05-01T02:00:00Z",
        "--limit",
        "300",
    ]
    .map(String::from)
    .to_vec();
    let flags: &[&[&str]] = &[
        &["--include-common-labels"],
        &["--include-label", "host"],
        &["--include-label", "host", "--include-label", "job"],
        &["--include-label", "level", "--exclude-label", "level"],
        &["--exclude-label", "host"],
        &["--exclude-label", "filename", "--include-common-labels"],
        &["--labels-length", "90"],
        &["--labels-length", "3"],
        &["--no-labels"],
        &["--colored-output"],
        &["--forward", "--batch", "40"],
        &["--batch", "25", "--include-label", "filename"],
    ];
    for q in many {
        for f in flags {
            for format in ["default", "jsonl"] {
                let mut extra = f.to_vec();
                extra.extend(["-o", format]);
                cases.push(plain(with(&base, &extra, q)));
            }
        }
        for ts in [
            "rfc3339nano",
            "rfc822z",
            "rfc1123z",
            "stampmicro",
            "stampmilli",
            "stampnano",
            "unixdate",
        ] {
            cases.push(plain(with(&base, &["--output-timestamp-format", ts], q)));
        }
        // Local time, in a zone with an offset and a name.
        let mut local = with(&base, &["--output-timestamp-format", "unixdate"], q);
        local[2] = "Local".into();
        cases.push(Case {
            args: local.clone(),
            env: vec![("TZ", "America/New_York")],
            tty: false,
        });
        local.truncate(local.len() - 3);
        local.extend(["-o", "jsonl", q].map(String::from));
        cases.push(Case {
            args: local,
            env: vec![("TZ", "Asia/Kolkata")],
            tty: false,
        });
        // On a terminal: logcli's colours (quiet: logcli's stderr has its
        // request URLs and Go log dates).
        for f in [
            &[][..],
            &["--colored-output"],
            &["--no-labels"],
            &["-o", "jsonl"],
            &["-o", "raw"],
        ] {
            let mut extra = vec!["--quiet"];
            extra.extend(f);
            cases.push(Case {
                args: with(&base, &extra, q),
                env: Vec::new(),
                tty: true,
            });
        }
        // NO_COLOR turns them off on a terminal too.
        cases.push(Case {
            args: with(&base, &["--quiet"], q),
            env: vec![("NO_COLOR", "1")],
            tty: true,
        });
    }

    let logcli_cmd = vec![
        logcli.display().to_string(),
        "--addr".into(),
        loki.addr.clone(),
    ];
    let lokal_cmd = vec![
        env!("CARGO_BIN_EXE_lokal").to_string(),
        "--store".into(),
        env.store().display().to_string(),
    ];
    // logcli takes --addr as a global flag before the command; lokal's
    // --store likewise.
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Verdict, usize)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(case) = cases.get(i) else { break };
                let theirs = run_case(&logcli_cmd, case);
                let ours = run_case(&lokal_cmd, case);
                let raw = case.args.windows(2).any(|w| w == ["-o", "raw"]);
                let jsonl = case.args.windows(2).any(|w| w == ["-o", "jsonl"]);
                if case.tty && case.env.is_empty() && !raw && !jsonl && !theirs.is_empty() {
                    // Else the terminal cases would compare nothing.
                    assert!(
                        theirs.contains(&0x1b),
                        "logcli printed no colours: {case:?}"
                    );
                }
                let lines = theirs.iter().filter(|&&b| b == b'\n').count();
                results
                    .lock()
                    .unwrap()
                    .push((i, judge(&theirs, &ours, raw), lines));
            });
        }
    });
    let results = results.into_inner().unwrap();
    let mut problems = Vec::new();
    let (mut same, mut tied, mut lines, mut nonempty) = (0, 0, 0, 0);
    for (i, v, n) in &results {
        lines += n;
        nonempty += usize::from(*n > 0);
        match v {
            Verdict::Same => same += 1,
            Verdict::TiesReordered => tied += 1,
            Verdict::Differs(why) => {
                let c = &cases[*i];
                problems.push(format!("{:?} {:?} (tty: {}): {why}", c.env, c.args, c.tty));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {} outputs differ from logcli's:\n{}",
        problems.len(),
        cases.len(),
        problems.join("\n")
    );
    assert!(
        nonempty * 10 >= cases.len() * 8,
        "{nonempty} of {} print something",
        cases.len()
    );
    eprintln!(
        "output_logcli: {} outputs ({lines} lines) of {} log queries: {same} byte-identical, \
         {tied} equal up to the order of entries that share a timestamp",
        cases.len(),
        rows.len()
    );
}
