//! `lokal query --stdin` takes the ingest options through the same
//! conversion as `lokal ingest`, so every one of them applies.
use std::io::Write;
use std::process::{Command, Stdio};

/// Runs `lokal query --stdin ARGS` (in UTC unless ARGS give `-z`) with
/// `input` on standard input; returns the exit code, stdout and stderr.
fn query_stdin(args: &[&str], input: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_lokal"))
        .env("LOKAL_STORE", dir.path().join("unused"))
        .env("NO_COLOR", "1")
        .args(["query", "--stdin"])
        .args(if args.contains(&"-z") {
            &[][..]
        } else {
            &["-z", "UTC"][..]
        })
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command that fails before reading (a usage error) closes its stdin:
    // the write then meets a closed pipe, which is not the test's concern.
    if let Err(e) = child.stdin.take().unwrap().write_all(input.as_bytes()) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn year_dates_yearless_timestamps() {
    let (code, out, err) = query_stdin(
        &[
            "--year",
            "2020",
            "-o",
            "jsonl",
            "--include-common-labels",
            r#"{job="stdin"}"#,
        ],
        "Jan  2 03:04:05 host app: hello\n",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "{\"labels\":{\"job\":\"stdin\"},\"line\":\"Jan  2 03:04:05 host app: hello\",\"timestamp\":\"2020-01-02T03:04:05Z\"}\n"
    );
}

#[test]
fn multiline_start_joins_continuation_lines() {
    let input =
        "2024-01-01T00:00:00Z first\n  at frame 1\n  at frame 2\n2024-01-01T00:00:01Z second\n";
    let (code, out, err) = query_stdin(
        &[
            "--multiline-start",
            r"^\d{4}-",
            "--forward",
            "-o",
            "jsonl",
            "--include-common-labels",
            r#"{job="stdin"}"#,
        ],
        input,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "{\"labels\":{\"job\":\"stdin\"},\"line\":\"2024-01-01T00:00:00Z first\\n  at frame 1\\n  at frame 2\",\"timestamp\":\"2024-01-01T00:00:00Z\"}\n\
         {\"labels\":{\"job\":\"stdin\"},\"line\":\"2024-01-01T00:00:01Z second\",\"timestamp\":\"2024-01-01T00:00:01Z\"}\n"
    );
    // Without it every line is an entry.
    let (_, out, _) = query_stdin(&["-o", "raw", r#"{job="stdin"}"#], input);
    assert_eq!(out.lines().count(), 4, "{out}");
}

#[test]
fn the_query_time_zone_reads_offsetless_timestamps() {
    let (code, out, err) = query_stdin(
        &["-z", "Europe/Paris", "-o", "json", r#"{job="stdin"}"#],
        "2024-01-01 10:00:00 x\n",
    );
    assert_eq!(code, 0, "{err}");
    // 10:00 in Paris is 09:00 UTC.
    assert!(out.contains("\"1704099600000000000\""), "{out}");
}

#[test]
fn limits_and_label_errors_are_ingests() {
    let (code, out, err) = query_stdin(
        &[
            "--max-line-size",
            "5",
            "--truncate-long-lines",
            "-o",
            "raw",
            "|= \"\"",
        ],
        "2024-01-01T00:00:00Z long line\n",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "2024-\n");
    let (code, _, err) = query_stdin(&["-l", "nope", r#"{job="stdin"}"#], "x\n");
    assert_eq!(code, 2);
    assert!(
        err.contains("--label \"nope\": expected NAME=VALUE, e.g. --label job=nginx"),
        "{err}"
    );
}

#[test]
fn ingest_options_need_stdin() {
    let out = Command::new(env!("CARGO_BIN_EXE_lokal"))
        .args(["query", "--year", "2020", "{}"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--stdin"));
}
