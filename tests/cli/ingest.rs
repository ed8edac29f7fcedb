//! `lokal ingest` end to end: round trip, positions, formats, bad input.
use std::fs;

use crate::common::*;
use crate::support::stamps;

/// Every real sample goes in with no flags (`--year` only for the formats
/// that write none), and every stored entry has the timestamp written in its
/// line, as `tests/support/stamps.rs` reads it independently, or (a line
/// without one) the previous line's. The summary names each file's format
/// and its fallbacks.
#[test]
fn real_logs_round_trip_byte_identical_with_timestamps() {
    let Some(real) = shared("data/real") else {
        return;
    };
    let env = TestEnv::new();
    let mut files: Vec<_> = fs::read_dir(&real)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 28);
    let mut reports = Vec::new();
    for f in &files {
        let name = f.file_name().unwrap().to_str().unwrap();
        let mut cmd = env.ingest([f]).label("job=real");
        if let Some(y) = stamps::real_year(name) {
            cmd = cmd.args(["--year", &y.to_string()]);
        }
        reports.push((name.to_string(), cmd.report()));
    }
    let entries = env.dump();
    assert_eq!(entries.len(), 59_197);
    let mut total = 0;
    for f in &files {
        let name = f.file_name().unwrap().to_str().unwrap();
        let lines = file_lines(&fs::read(f).unwrap());
        let times = stamps::expected_times(
            &lines,
            &stamps::real(name),
            stamps::real_year(name).unwrap_or(0),
        );
        let mut want: Vec<(i64, Vec<u8>)> = times.into_iter().zip(lines).collect();
        want.sort();
        total += want.len();
        let key = format!("filename=\"{}\"", f.display());
        let mut got: Vec<(i64, Vec<u8>)> = entries
            .iter()
            .filter(|e| e.labels.contains(&key))
            .map(|e| (e.ts, e.line.clone()))
            .collect();
        got.sort();
        assert_same_entries(name, &got, &want);
    }
    assert_eq!(total, 59_197);
    // Per file: a format, and the only fallbacks are the lines that carry no
    // timestamp (calico's `bird:` lines, journald's other programs).
    for (name, rep) in &reports {
        let ts = &rep["timestamps"][0];
        let format = ts["format"].as_str().unwrap();
        assert!(
            !format.is_empty() && format != "none found",
            "{name}: {format}"
        );
        let previous = ts["previous_line"].as_u64().unwrap();
        let want_previous = match name.as_str() {
            "calico.log" => 6,
            "journald.log" => 267,
            _ => 0,
        };
        assert_eq!(previous, want_previous, "{name}: {ts}");
        for k in ["first_found", "mtime", "implausible", "unknown_zone"] {
            assert_eq!(ts[k], 0, "{name}: {k} in {ts}");
        }
    }
}

#[test]
fn rerun_reads_only_appended_bytes() {
    let env = TestEnv::new();
    let log = env.write_log("app.log", 100, 1_700_000_000, "a");
    env.ingest([&log]).ok();
    env.ingest([&log]).ok();
    assert_eq!(env.dump().len(), 100, "an unchanged file is not read again");
    let mut more = fs::read(&log).unwrap();
    let extra = env.write_log("extra.log", 50, 1_700_000_100, "b");
    more.extend(fs::read(&extra).unwrap());
    fs::write(&log, &more).unwrap();
    let rep = env.ingest([&log]).report();
    assert_eq!(rep["lines_read"], 50);
    assert_eq!(env.dump().len(), 150);
    // Truncated (copytruncate rotation): read from the start again.
    env.write_log("app.log", 10, 1_700_001_000, "c");
    let rep = env.ingest([&log]).report();
    assert_eq!(rep["lines_read"], 10);
    // --from-start reads everything again.
    let rep = env.ingest([&log]).arg("--from-start").report();
    assert_eq!(rep["lines_read"], 10);
}

#[test]
fn replaced_file_is_read_from_start() {
    let env = TestEnv::new();
    let log = env.write_log("app.log", 20, 1_700_000_000, "old");
    env.ingest([&log]).ok();
    // Rotation: the old file moves away, a new one (new inode) takes its name.
    fs::rename(&log, env.path().join("app.log.1")).unwrap();
    env.write_log("app.log", 30, 1_700_000_500, "new");
    let rep = env.ingest([&log]).report();
    assert_eq!(rep["lines_read"], 30);
    assert_eq!(env.dump().len(), 50);
}

#[test]
fn compressed_inputs_and_stdin() {
    let env = TestEnv::new();
    let log = env.write_log("a.log", 40, 1_700_000_000, "x");
    let raw = fs::read(&log).unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut enc, &raw).unwrap();
    let gz = env.write("a.log.gz", enc.finish().unwrap());
    let zst = env.write("a.log.zst", zstd::encode_all(&raw[..], 3).unwrap());
    env.ingest([&gz, &zst]).ok();
    env.ingest(["-"]).label("job=pipe").stdin(raw.clone()).ok();
    let entries = env.dump();
    assert_eq!(entries.len(), 120);
    let mut want = file_lines(&raw);
    want.sort();
    let got = by_file(&entries);
    assert_eq!(got[&gz.display().to_string()], want);
    assert_eq!(got[&zst.display().to_string()], want);
    assert!(entries.iter().any(|e| e.labels == r#"{job="pipe"}"#));
    // Re-running on unchanged compressed files reads nothing.
    env.ingest([&gz, &zst]).ok();
    assert_eq!(env.dump().len(), 120);
}

#[test]
fn logcli_jsonl_moves_over_with_labels_and_time() {
    let env = TestEnv::new();
    let f = env.write(
        "export.jsonl",
        concat!(
            r#"{"labels":{"job":"api","level":"error"},"line":"boom \"x\"","timestamp":"2024-01-19T10:00:00.123456789Z"}"#,
            "\n",
            r#"{"labels":{"job":"api"},"line":"ok","timestamp":"2024-01-19T11:00:00+01:00"}"#,
            "\n",
            "not json\n"
        ),
    );
    let out = env
        .ingest([&f])
        .args(["--format", "logcli", "-o", "json"])
        .cmd()
        .run();
    let rep = out.json();
    assert_eq!(rep["entries_stored"], 2);
    assert_eq!(rep["rejected"]["unparsable entry"], 1);
    let stderr = &out.stderr;
    assert!(stderr.contains("export.jsonl:3:"), "{stderr}");
    let mut e = env.dump();
    e.sort_by_key(|d| d.ts);
    assert_eq!(e[0].ts, 1_705_658_400_000_000_000);
    assert_eq!(e[0].labels, r#"{job="api"}"#);
    assert_eq!(e[1].labels, r#"{job="api", level="error"}"#);
    assert_eq!(e[1].line, b"boom \"x\"");
}

#[test]
fn loki_push_bodies() {
    let env = TestEnv::new();
    let f = env.write(
        "push.json",
        r#"{"streams":[{"stream":{"app":"a"},"values":[["1700000000000000000","one"],["1700000001000000000","two",{"trace":"t"}]]}]}"#,
    );
    let rep = env.ingest([&f]).args(["--format", "loki-push"]).report();
    assert_eq!(rep["entries_stored"], 2);
    // Structured metadata is stored and usable as a label, as in Loki 3.
    let out = env.ok(["query", "-o", "raw", r#"{app="a"} | trace="t""#]);
    eqnice!("two\n", out);
    let out = env.ok([
        "query",
        "-o",
        "jsonl",
        "--include-common-labels",
        "-z",
        "UTC",
        r#"{app="a"} |= "two""#,
    ]);
    assert!(out.contains(r#""trace":"t""#), "{out}");
}

#[test]
fn labels_from_flags_and_path() {
    let env = TestEnv::new();
    env.write_log("logs/nginx/host1.log", 3, 1_700_000_000, "x");
    env.ingest([env.path().join("logs")])
        .args(["-r", "-l", "env=prod", "--no-filename-label"])
        .args(["--label-from-path", r"logs/(?P<job>[^/]+)/(?P<host>[^/.]+)"])
        .ok();
    let e = env.dump();
    assert_eq!(e[0].labels, r#"{env="prod", host="host1", job="nginx"}"#);
}

#[test]
fn multiline_entries_join_stack_traces() {
    let env = TestEnv::new();
    let f = env.write(
        "java.log",
        "2024-01-01T00:00:00Z ERROR boom\n\tat a.b(C.java:1)\n\tat d.e(F.java:2)\n2024-01-01T00:00:01Z INFO fine\n",
    );
    let rep = env
        .ingest([&f])
        .args(["--multiline-start", r"^\d{4}-"])
        .report();
    assert_eq!(rep["lines_read"], 4);
    assert_eq!(rep["lines_joined"], 2);
    assert_eq!(rep["entries_stored"], 2);
    let mut raw = env.cmd(["dump"]).run().bytes;
    raw.retain(|&b| b != b'\r');
    let s = String::from_utf8(raw).unwrap();
    assert!(
        s.contains("ERROR boom\n\tat a.b(C.java:1)\n\tat d.e(F.java:2)\n"),
        "{s}"
    );
}

#[test]
fn repeated_lines_are_kept_unless_dedupe() {
    let env = TestEnv::new();
    let f = env.write(
        "dup.log",
        "2024-01-01T00:00:00Z same\n2024-01-01T00:00:00Z same\n2024-01-01T00:00:00Z other\n",
    );
    env.ingest([&f]).ok();
    assert_eq!(env.dump().len(), 3, "repeated lines are real events");
    let deduped = TestEnv::new();
    let rep = deduped.ingest([&f]).arg("--dedupe").report();
    assert_eq!(rep["rejected"]["duplicate (--dedupe)"], 1);
    assert_eq!(deduped.dump().len(), 2);
}

#[test]
fn out_of_order_lines_are_sorted_and_untimed_lines_inherit() {
    let env = TestEnv::new();
    let f = env.write(
        "o.log",
        "2024-01-01T00:00:05Z b\ncontinuation\n2024-01-01T00:00:01Z a\n",
    );
    let rep = env.ingest([&f]).report();
    assert_eq!(rep["changed"]["no timestamp: took previous entry's"], 1);
    let e = env.dump();
    let lines: Vec<_> = e
        .iter()
        .map(|d| String::from_utf8_lossy(&d.line).into_owned())
        .collect();
    assert_eq!(
        lines,
        [
            "2024-01-01T00:00:01Z a",
            "2024-01-01T00:00:05Z b",
            "continuation"
        ]
    );
    assert_eq!(e[2].ts, e[1].ts);
}

#[test]
fn bad_inputs_are_reported_and_counted() {
    let env = TestEnv::new();
    let good = env.write_log("good.log", 10, 1_700_000_000, "g");
    env.ingest([&good]).ok();

    // Binary garbage is skipped with a message; other inputs still go in.
    let mut junk: Vec<u8> = (0..50_000u32)
        .map(|i| ((i.wrapping_mul(2_654_435_761) >> 13) as u8).max(1))
        .collect();
    junk[10] = 0;
    let bin = env.write("garbage.bin", &junk);
    let good2 = env.write_log("good2.log", 5, 1_700_000_100, "h");
    let missing = env.path().join("missing.log");
    let out = env
        .ingest([&bin, &missing, &good2])
        .args(["-o", "json"])
        .cmd()
        .assert_code(2);
    let stderr = &out.stderr;
    assert!(
        stderr.contains("garbage.bin: looks binary (NUL byte at offset 10)"),
        "{stderr}"
    );
    assert!(stderr.contains("missing.log: cannot open"), "{stderr}");
    let rep = out.json();
    assert_eq!(rep["files_failed"], 2);
    assert_eq!(rep["entries_stored"], 5);

    // A 10 MB line is rejected (or truncated) and counted, never a crash.
    let mut content = b"2024-01-01T00:00:00Z small\n2024-01-01T00:00:01Z ".to_vec();
    content.extend(std::iter::repeat_n(b'x', 10 << 20));
    content.extend(b"\n2024-01-01T00:00:02Z after\n");
    let big = env.write("big.log", &content);
    let out = env.ingest([&big]).args(["-o", "json"]).cmd().assert_code(0);
    let rep = out.json();
    assert_eq!(rep["rejected"]["line too long"], 1);
    assert_eq!(rep["entries_stored"], 2);
    assert!(out.stderr.contains("big.log:2: line of 10485781 bytes"));
    let rep = env
        .ingest([&big])
        .args(["--from-start", "--truncate-long-lines"])
        .report();
    assert_eq!(rep["changed"]["truncated to max line size"], 1);
    assert!(env.dump().iter().any(|d| d.line.len() == 256_000));

    // An invalid label is refused with the rule it breaks.
    let out = env.ingest([&good]).label("1bad=x").cmd().assert_code(2);
    assert!(out.stderr.contains("invalid label name \"1bad\""));
    let out = env.ingest([&good]).label("novalue").cmd().assert_code(2);
    assert!(out.stderr.contains("expected NAME=VALUE"));

    // Nothing stored before was lost.
    let e = env.dump();
    assert_eq!(
        e.iter().filter(|d| d.labels.contains("good.log")).count(),
        10
    );
    env.ok(["verify"]);
}

#[test]
fn tenants_are_separate_and_validated() {
    let env = TestEnv::new();
    let f = env.write_log("t.log", 4, 1_700_000_000, "t");
    env.ingest([&f]).args(["--tenant", "team-a"]).ok();
    env.cmd(["--tenant", "team-b", "ingest", "-q"])
        .arg(&f)
        .stdout();
    let rows = env.cmd(["stats", "--all-tenants", "-o", "json"]).json();
    let tenants: Vec<_> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["tenant"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(tenants, ["team-a", "team-b"]);
    assert_eq!(rows[0]["entries"], 4);
    assert_eq!(rows[0]["streams"], 1);
    for key in [
        "tenant",
        "day",
        "streams",
        "entries",
        "chunks",
        "bytes_raw",
        "bytes_stored",
    ] {
        assert!(rows[0].get(key).is_some(), "stats json lacks {key}");
    }
    let out = env
        .ingest([&f])
        .args(["--tenant", "../evil"])
        .cmd()
        .assert_code(2);
    assert!(out.stderr.contains("invalid tenant"));
}
