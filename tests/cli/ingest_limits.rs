//! `lokal ingest` against hostile and degenerate input: memory stays
//! bounded (lines cut while read, decompression streamed), binary input is
//! recognised whatever its kind, a run that stores nothing because every
//! line was rejected says so in its exit code, and `--dedupe` holds across
//! runs.
use std::fs;
use std::io::Write;

use crate::common::*;

/// `n` zero bytes, gzip- or zstd-compressed (a decompression bomb).
fn zeros(n: usize, zstd: bool) -> Vec<u8> {
    let block = vec![0u8; 1 << 20];
    if zstd {
        let mut enc = zstd::Encoder::new(Vec::new(), 3).unwrap();
        for _ in 0..n >> 20 {
            enc.write_all(&block).unwrap();
        }
        return enc.finish().unwrap();
    }
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    for _ in 0..n >> 20 {
        enc.write_all(&block).unwrap();
    }
    enc.finish().unwrap()
}

/// Finding 3: `head -c 1G /dev/zero | gzip > bomb.gz; lokal ingest
/// bomb.gz` reached 1 GB of memory and exited 0 (here 256 MiB, under a
/// debug build). Refused as binary; with `--binary` the one "line" is cut
/// while read and rejected, in bounded memory, and the run exits 2.
#[test]
fn decompression_bomb_is_refused_in_bounded_memory() {
    let env = TestEnv::new();
    // Different names: files of one name family with the same content are
    // copies of each other, and a copy is not read again.
    for (name, zstd) in [("gzbomb.gz", false), ("zstbomb.zst", true)] {
        let bomb = env.write(name, zeros(256 << 20, zstd));
        let path = bomb.to_str().unwrap();
        let Some((code, stderr, rss)) = with_peak_rss(&env, &["ingest", path], None) else {
            return;
        };
        assert_eq!(code, 2, "{stderr}");
        assert!(
            stderr.contains(&format!("{path}: looks binary (NUL byte at offset 0)")),
            "{stderr}"
        );
        assert!(rss < 100 << 10, "{name}: peak RSS {rss} KiB");
        let (code, stderr, rss) = with_peak_rss(
            &env,
            &["ingest", "--binary", "--max-line-size", "1MB", path],
            None,
        )
        .unwrap();
        assert_eq!(code, 2, "{stderr}");
        assert!(
            stderr.contains(&format!(
                "{path}:1: line of 268435456 bytes is over the 1000000-byte limit"
            )),
            "{stderr}"
        );
        assert!(stderr.contains("nothing was stored"), "{stderr}");
        assert!(rss < 100 << 10, "{name} --binary: peak RSS {rss} KiB");
    }
    // Standard input: the same.
    let raw = env.write("zeros", vec![0u8; 64 << 20]);
    let (code, stderr, rss) = with_peak_rss(&env, &["ingest", "-"], Some(&raw)).unwrap();
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("<stdin>: looks binary (NUL byte at offset 0)"),
        "{stderr}"
    );
    assert!(rss < 100 << 10, "stdin: peak RSS {rss} KiB");
    assert!(!env.store().join("fake/MANIFEST").exists() || env.dump().is_empty());
}

/// Binary detection covers every kind of input: a NUL byte in the first
/// 8 KiB of what a plain file, a .gz, a .zst or stdin decodes to.
#[test]
fn binary_input_is_recognised_in_every_kind_of_input() {
    let env = TestEnv::new();
    let mut data = b"2024-01-01T00:00:00Z hello\n".repeat(10);
    data[100] = 0;
    let plain = env.write("b.log", &data);
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&data).unwrap();
    let gz = env.write("b.log.gz", enc.finish().unwrap());
    let zst = env.write("b.log.zst", zstd::encode_all(&data[..], 3).unwrap());
    for f in [&plain, &gz, &zst] {
        let out = env.ingest([f]).cmd().assert_code(2);
        assert!(
            out.stderr.contains(&format!(
                "{}: looks binary (NUL byte at offset 100)",
                f.display()
            )),
            "{out}"
        );
    }
    let out = env.ingest(["-"]).stdin(data.clone()).cmd().assert_code(2);
    assert!(
        out.stderr
            .contains("<stdin>: looks binary (NUL byte at offset 100)"),
        "{out}"
    );
    assert!(!env.store().join("fake/MANIFEST").exists() || env.dump().is_empty());
    // --binary takes them as they are.
    env.ingest([&plain, &gz, &zst]).arg("--binary").ok();
    env.ingest(["-"]).arg("--binary").stdin(data).ok();
    assert_eq!(env.dump().len(), 40);
}

/// A line longer than the limit is cut while it is read: a 40 MB line does
/// not take 40 MB, in a plain file, compressed, or on stdin, and the lines
/// around it are stored.
#[test]
fn long_lines_are_cut_while_read() {
    let env = TestEnv::new();
    let mut data = b"2024-01-01T00:00:00Z before\n2024-01-01T00:00:01Z ".to_vec();
    data.extend(std::iter::repeat_n(b'x', 40 << 20));
    data.extend(b"\n2024-01-01T00:00:02Z after\n");
    let plain = env.write("long.log", &data);
    let zst = env.write("packed.log.zst", zstd::encode_all(&data[..], 1).unwrap());
    for f in [&plain, &zst] {
        let path = f.to_str().unwrap();
        let Some((code, stderr, rss)) = with_peak_rss(&env, &["ingest", path], None) else {
            return;
        };
        assert_eq!(code, 0, "{stderr}");
        assert!(
            stderr.contains(&format!("{path}:2: line of {} bytes", (40 << 20) + 21)),
            "{stderr}"
        );
        assert!(rss < 40 << 10, "{path}: peak RSS {rss} KiB");
    }
    let (code, stderr, rss) = with_peak_rss(
        &env,
        &["ingest", "-l", "job=pipe", "--truncate-long-lines", "-"],
        Some(&plain),
    )
    .unwrap();
    assert_eq!(code, 0, "{stderr}");
    assert!(rss < 40 << 10, "stdin: peak RSS {rss} KiB");
    let e = env.dump();
    assert_eq!(e.len(), 7);
    let cut: Vec<_> = e.iter().filter(|d| d.line.len() > 100).collect();
    assert_eq!(cut.len(), 1);
    assert_eq!(cut[0].line.len(), 256_000);
    assert!(cut[0].labels.contains("pipe"));
}

/// Peak memory of ingest and `query --stdin` follows `--batch-size` (bytes
/// plus a fixed cost per line), not the input: 100 MB of short lines took
/// 740 MB. Here 60 MB of 26-byte lines with a 16 MiB batch.
#[test]
fn memory_follows_the_batch_size_not_the_input() {
    let env = TestEnv::new();
    let mut s = String::with_capacity(60 << 20);
    let mut i = 0u64;
    while s.len() < 60 << 20 {
        use std::fmt::Write;
        writeln!(
            s,
            "2024-01-01T00:{:02}:{:02}Z x{:04}",
            (i / 60) % 60,
            i % 60,
            i % 9973
        )
        .unwrap();
        i += 1;
    }
    let f = env.write("short.log", s);
    let path = f.to_str().unwrap();
    let Some((code, stderr, rss)) =
        with_peak_rss(&env, &["ingest", "--batch-size", "16MiB", path], None)
    else {
        return;
    };
    assert_eq!(code, 0, "{stderr}");
    // The budget, plus the binary and its thread stacks (~15 MB here).
    assert!(
        rss < (16 << 10) * 2 + (30 << 10),
        "ingest: peak RSS {rss} KiB"
    );
    let (code, stderr, rss) = with_peak_rss(
        &env,
        &[
            "query",
            "--stdin",
            "--batch-size",
            "16MiB",
            "-o",
            "raw",
            "--limit",
            "1",
            "|= \"x0001\"",
        ],
        Some(&f),
    )
    .unwrap();
    assert_eq!(code, 0, "{stderr}");
    assert!(
        rss < (16 << 10) * 2 + (30 << 10),
        "query --stdin: peak RSS {rss} KiB"
    );
    assert_eq!(env.dump().len(), i as usize);
}

/// Finding 6: an ingest where every line was rejected exited 0. It exits 2
/// and still prints its summary; repeats dropped by --dedupe are no failure.
#[test]
fn every_line_rejected_exits_2() {
    let env = TestEnv::new();
    let f = env.write(
        "a.log",
        "2024-01-01T00:00:00Z 0123456789\n2024-01-01T00:00:01Z abcdefghij\n",
    );
    let out = env
        .ingest([&f])
        .args(["--max-line-size", "10", "-o", "json"])
        .cmd()
        .assert_code(2);
    assert_eq!(out.json()["rejected"]["line too long"], 2);
    assert!(out.stderr.contains("nothing was stored"), "{out}");
    let out = env
        .ingest([&f])
        .args(["--max-line-size", "10", "--from-start"])
        .cmd()
        .assert_code(2);
    assert!(out.stdout.contains("rejected: line too long"), "{out}");
    // Some stored: fine.
    let g = env.write(
        "b.log",
        "2024-01-01T00:00:00Z 0123456789\n2024-01-01T00:00:01Z ok\n",
    );
    env.ingest([&g]).args(["--max-line-size", "30"]).ok();
    // Empty input: nothing to reject.
    let e = env.write("empty.log", "");
    env.ingest([&e]).ok();
    // Only repeats of what is stored, with --dedupe: not a failure.
    env.ingest([&g]).args(["--dedupe", "--from-start"]).ok();
}

/// Finding 7: `--dedupe` acted within one run only. It drops repeats of
/// entries already stored in the same stream too.
#[test]
fn dedupe_holds_across_runs() {
    let env = TestEnv::new();
    let a = env.write_log("a.log", 100, 1_700_000_000, "t");
    env.ingest([&a]).arg("--dedupe").ok();
    let rep = env.ingest([&a]).args(["--dedupe", "--from-start"]).report();
    assert_eq!(rep["entries_stored"], 0);
    assert_eq!(rep["rejected"]["duplicate (--dedupe)"], 100);
    assert_eq!(env.dump().len(), 100);
    // Two exports overlapping by half, into one stream.
    let env = TestEnv::new();
    let all = fs::read_to_string(env.write_log("all.log", 150, 1_700_000_000, "t")).unwrap();
    let lines: Vec<&str> = all.lines().collect();
    let first = env.write("first.log", lines[..100].join("\n") + "\n");
    let second = env.write("second.log", lines[50..].join("\n") + "\n");
    for f in [&first, &second] {
        env.ingest([f])
            .args(["--dedupe", "--no-filename-label", "-l", "job=export"])
            .ok();
    }
    let mut got: Vec<Vec<u8>> = env.dump().into_iter().map(|d| d.line).collect();
    got.sort();
    let mut want: Vec<Vec<u8>> = lines.iter().map(|l| l.as_bytes().to_vec()).collect();
    want.sort();
    assert_eq!(got, want);
    // Without --dedupe repeated lines are real events and stay.
    env.ingest([&second])
        .args(["--no-filename-label", "-l", "job=export", "--from-start"])
        .ok();
    assert_eq!(env.dump().len(), 250);
}

/// Cut lines inside multiline entries, across batches and runs: each entry
/// stored once, the position matching its file again on the next run.
#[test]
fn cut_lines_in_multiline_entries_across_batches_and_runs() {
    let env = TestEnv::new();
    let entry = |i: usize| {
        format!(
            "2024-01-01T00:{:02}:{:02}Z ERROR e{i}\n\tat {}\n\tat end{i}\n",
            i / 60,
            i % 60,
            "y".repeat(if i.is_multiple_of(3) { 100_000 } else { 10 })
        )
    };
    let first: String = (0..40).map(entry).collect();
    let log = env.write("java.log", &first);
    let args = [
        "--multiline-start",
        r"^\d{4}-",
        "--max-line-size",
        "1000",
        "--truncate-long-lines",
        "--batch-size",
        "6KiB",
    ];
    let rep = env.ingest([&log]).args(args).report();
    assert_eq!(rep["entries_stored"], 40, "{rep:#}");
    let more: String = (40..60).map(entry).collect();
    fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .unwrap()
        .write_all(more.as_bytes())
        .unwrap();
    let rep = env.ingest([&log]).args(args).report();
    assert_eq!(rep["entries_stored"], 20, "{rep:#}");
    assert_eq!(rep["files_rotated"], 0);
    let out = env.ok([
        "query",
        "--limit",
        "0",
        "-o",
        "jsonl",
        r#"{filename=~".+"}"#,
    ]);
    let lines: Vec<String> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["line"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(lines.len(), 60);
    let mut ids: Vec<&str> = lines.iter().map(|l| l.split(' ').nth(2).unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 60, "each entry once");
    assert_eq!(
        lines.iter().filter(|l| l.len() == 1000).count(),
        20,
        "every entry holding a cut line is truncated to the limit"
    );
}
