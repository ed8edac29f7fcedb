//! Positions through log rotation and half-written lines. The matrix runs
//! the real `logrotate` (Debian's, `logrotate -f` with a
//! state file and a config in a temporary directory): every mode, with
//! lines appended between every step, with and without a glob — every line
//! stored exactly once (count and content), all under the log's own
//! `filename` label.
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;
use crate::support::skip;

/// The `logrotate` binary, or `None` (with a note; a failure under CI).
fn logrotate() -> Option<PathBuf> {
    for p in [
        "/usr/sbin/logrotate",
        "/sbin/logrotate",
        "/usr/bin/logrotate",
    ] {
        if Path::new(p).exists() {
            return Some(PathBuf::from(p));
        }
    }
    skip("logrotate is not installed (apt-get install logrotate)");
    None
}

/// A program writing a log the way daemons do: it keeps its file open and
/// reopens it by name when told (logrotate's postrotate), unless the
/// rotation is `copytruncate` (then it never notices).
struct App {
    path: PathBuf,
    file: File,
    seq: u64,
    /// Every line written, in order.
    written: Vec<String>,
}

impl App {
    fn new(path: PathBuf) -> App {
        let file = Self::open(&path);
        App {
            path,
            file,
            seq: 0,
            written: Vec::new(),
        }
    }

    fn open(path: &Path) -> File {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap()
    }

    /// Appends `n` unique lines (to the file it has open).
    fn write(&mut self, n: usize) {
        let mut buf = String::new();
        for _ in 0..n {
            let s = self.seq;
            self.seq += 1;
            let line = format!(
                "2024-03-01T10:{:02}:{:02}.{:06}Z level=info seq={s} msg=\"request {s} served\" bytes={}",
                (s / 60) % 60,
                s % 60,
                s,
                s * 37 % 1000
            );
            buf.push_str(&line);
            buf.push('\n');
            self.written.push(line);
        }
        self.file.write_all(buf.as_bytes()).unwrap();
    }

    /// Reopens its log by name (creating it when logrotate did not).
    fn reopen(&mut self) {
        self.file = Self::open(&self.path);
    }
}

/// One logrotate configuration.
struct Mode {
    name: &'static str,
    /// The directives inside the log's block.
    directives: &'static str,
    copytruncate: bool,
    /// The rotated file stays plain until the next rotation, so the app may
    /// still append to it before it reopens.
    late_writes: bool,
    /// Names embed the time: rotations must be a second apart.
    dated: bool,
}

/// What one scenario did, for the summary.
struct Outcome {
    written: usize,
    stored: usize,
    rotations: usize,
}

/// Runs `rounds` rotations of `mode`; `glob` ingests `access.log*`, else
/// the cron form `access.log`. Every step appends lines; the store must end
/// up with each line exactly once.
fn run_mode(mode: &Mode, glob: bool, rounds: usize) -> Outcome {
    run_mode_every(mode, glob, rounds, 1)
}

/// [`run_mode`], ingesting after every `every`-th rotation only.
fn run_mode_every(mode: &Mode, glob: bool, rounds: usize, every: usize) -> Outcome {
    let Some(logrotate) = logrotate() else {
        return Outcome {
            written: 0,
            stored: 0,
            rotations: 0,
        };
    };
    let env = TestEnv::new();
    let dir = env.path().join("log");
    fs::create_dir_all(&dir).unwrap();
    let log = dir.join("access.log");
    let conf = env.path().join("logrotate.conf");
    fs::write(
        &conf,
        format!("{} {{\n{}\n}}\n", log.display(), mode.directives),
    )
    .unwrap();
    let state = env.path().join("logrotate.state");
    let input = if glob {
        format!("{}*", log.display())
    } else {
        log.display().to_string()
    };
    let ingest = || {
        env.ingest([&input])
            .label("job=nginx")
            .args(["--batch-size", "4KiB"])
            .ok()
    };
    let mut app = App::new(log.clone());
    app.write(3); // shorter than the 1 KiB a file is recognised by
    ingest();
    app.write(40);
    ingest();
    let mut last_second = 0;
    for round in 0..rounds {
        app.write(7 + round);
        if round % 2 == 1 && every == 1 {
            ingest();
        }
        // Appended after the last read, before the rotation.
        app.write(5);
        if mode.dated {
            // logrotate refuses a name that exists; %s makes them unique
            // once the last rotation's second is over.
            while now_s() <= last_second {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            // time(2), which logrotate reads, lags the precise clock by up
            // to a scheduler tick.
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let out = Command::new(&logrotate)
            .arg("-f")
            .arg("-s")
            .arg(&state)
            .arg(&conf)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "logrotate failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        last_second = now_s();
        if !mode.copytruncate {
            if mode.late_writes {
                // Still writing to the renamed file before reopening.
                app.write(4);
            }
            app.reopen();
        }
        app.write(6 + round % 3);
        if (round + 1) % every == 0 {
            ingest();
        }
    }
    app.write(2);
    ingest();
    ingest();

    let entries = env.dump();
    let mut got: Vec<String> = entries
        .iter()
        .map(|e| String::from_utf8(e.line.clone()).unwrap())
        .collect();
    let mut want = app.written.clone();
    got.sort();
    want.sort();
    let label = format!("{} ({})", mode.name, if glob { "glob" } else { "no glob" });
    if got != want {
        let files: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let lost: Vec<_> = want.iter().filter(|l| !got.contains(l)).collect();
        let mut doubled = got.clone();
        doubled.dedup();
        panic!(
            "{label}: {} lines written, {} stored; lost {:?}; {} doubled\nfiles: {files:?}\nmanifest: {:#}",
            want.len(),
            got.len(),
            lost,
            got.len() - doubled.len(),
            env.manifest()["positions"]
        );
    }
    // A file never seen under its first name keeps the name it was found
    // under; with an ingest between rotations every line is in one stream.
    let stream = format!("{{filename=\"{}\", job=\"nginx\"}}", log.display());
    for e in entries.iter().filter(|_| every == 1) {
        assert_eq!(e.labels, stream, "{label}: one stream through rotation");
    }
    eprintln!(
        "rotation {label}: {} rotations, {} lines written, {} stored once each",
        rounds,
        want.len(),
        got.len()
    );
    Outcome {
        written: want.len(),
        stored: got.len(),
        rotations: rounds,
    }
}

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn both(mode: Mode, rounds: usize) {
    for glob in [true, false] {
        let o = run_mode(&mode, glob, rounds);
        assert_eq!(o.written, o.stored);
        let _ = o.rotations;
    }
}

#[test]
fn rotate_create() {
    both(
        Mode {
            name: "create, rotate 3",
            directives: "create\nrotate 3",
            copytruncate: false,
            late_writes: true,
            dated: false,
        },
        5,
    );
}

#[test]
fn rotate_twice_between_runs_with_a_glob() {
    // A file created and rotated away between two runs is read too (with a
    // glob: without one, lokal never saw it).
    let o = run_mode_every(
        &Mode {
            name: "create, compress, delaycompress, rotate 5, 3 rotations per run",
            directives: "create\ncompress\ndelaycompress\nrotate 5",
            copytruncate: false,
            late_writes: true,
            dated: false,
        },
        true,
        6,
        3,
    );
    assert_eq!(o.written, o.stored);
}

#[test]
fn rotate_nocreate_rotate_1() {
    // The app creates the new file itself; only one old copy is kept.
    both(
        Mode {
            name: "nocreate, rotate 1",
            directives: "nocreate\nrotate 1",
            copytruncate: false,
            late_writes: true,
            dated: false,
        },
        4,
    );
}

#[test]
fn rotate_copytruncate() {
    both(
        Mode {
            name: "copytruncate, rotate 3",
            directives: "copytruncate\nrotate 3",
            copytruncate: true,
            late_writes: false,
            dated: false,
        },
        5,
    );
}

#[test]
fn rotate_compress() {
    both(
        Mode {
            name: "create, compress, rotate 4",
            directives: "create\ncompress\nrotate 4",
            copytruncate: false,
            late_writes: false,
            dated: false,
        },
        6,
    );
}

#[test]
fn rotate_delaycompress() {
    both(
        Mode {
            name: "create, compress, delaycompress, rotate 3",
            directives: "create\ncompress\ndelaycompress\nrotate 3",
            copytruncate: false,
            late_writes: true,
            dated: false,
        },
        5,
    );
}

#[test]
fn rotate_copytruncate_compress() {
    both(
        Mode {
            name: "copytruncate, compress, rotate 2",
            directives: "copytruncate\ncompress\nrotate 2",
            copytruncate: true,
            late_writes: false,
            dated: false,
        },
        5,
    );
}

#[test]
fn rotate_dateext_compress() {
    both(
        Mode {
            name: "create, dateext, compress, delaycompress, rotate 3",
            directives: "create\ndateext\ndateformat -%Y%m%d-%s\ncompress\ndelaycompress\nrotate 3",
            copytruncate: false,
            late_writes: true,
            dated: true,
        },
        3,
    );
}

#[test]
fn rotate_dateext_zstd() {
    // zstd-compressed rotations (`-20241201-<s>.zst`), as on systems that
    // switched logrotate's compressor.
    if !Path::new("/usr/bin/zstd").exists() {
        skip("zstd is not installed (apt-get install zstd)");
        return;
    }
    both(
        Mode {
            name: "create, dateext, compress with zstd, rotate 3",
            directives: "create\ndateext\ndateformat -%Y%m%d-%s\ncompress\ncompresscmd /usr/bin/zstd\ncompressext .zst\ncompressoptions -q\nuncompresscmd /usr/bin/unzstd\nrotate 3",
            copytruncate: false,
            late_writes: false,
            dated: true,
        },
        2,
    );
}

/// `n` lines with RFC 3339 timestamps from `start_s`, tagged.
fn lines(n: usize, start_s: i64, tag: &str) -> String {
    (0..n)
        .map(|i| {
            let ts = jiff::Timestamp::from_second(start_s + i as i64).unwrap();
            format!("{ts} tag={tag} n={i}\n")
        })
        .collect()
}

fn append(path: &Path, s: &str) {
    OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap()
        .write_all(s.as_bytes())
        .unwrap();
}

/// Finding 1 of issue 11, as reported: a glob over current and rotated
/// names read `access.log.1` again (215 entries, then 320 once gzipped),
/// and the cron form without a glob lost the 5 lines appended before the
/// rename (110).
#[test]
fn renamed_and_compressed_files_are_not_read_again_nor_lost() {
    for glob in [true, false] {
        let env = TestEnv::new();
        let log = env.write("access.log", lines(100, 1_700_000_000, "a"));
        let input = if glob {
            format!("{}*", log.display())
        } else {
            log.display().to_string()
        };
        env.ingest([&input]).label("job=nginx").ok();
        append(&log, &lines(5, 1_700_000_100, "b"));
        let rotated = env.path().join("access.log.1");
        fs::rename(&log, &rotated).unwrap();
        env.write("access.log", lines(10, 1_700_000_200, "c"));
        let rep = env.ingest([&input]).label("job=nginx").report();
        assert_eq!(env.dump().len(), 115, "glob {glob}");
        assert_eq!(rep["files_rotated"], 1, "glob {glob}: {rep:#}");
        assert_eq!(rep["lines_read"], 15, "glob {glob}");
        let gz = Command::new("gzip").arg(&rotated).status().unwrap();
        assert!(gz.success());
        env.ingest([&input]).label("job=nginx").ok();
        env.ingest([&input]).label("job=nginx").ok();
        let entries = env.dump();
        assert_eq!(entries.len(), 115, "glob {glob}");
        let stream = format!("{{filename=\"{}\", job=\"nginx\"}}", log.display());
        assert!(entries.iter().all(|e| e.labels == stream), "glob {glob}");
    }
}

/// Finding 2: a last line without its newline yet (the writer is in the
/// middle of it) is held back, so `| json` sees it whole once it is done.
#[test]
fn unterminated_last_line_waits_for_its_newline() {
    let env = TestEnv::new();
    let log = env.write(
        "app.log",
        "{\"ts\":\"2024-01-01T00:00:00Z\",\"a\":1}\n{\"ts\":\"2024-01-01T00:00:01Z\",\"a\":2,\"b\":",
    );
    let rep = env.ingest([&log]).label("job=x").report();
    assert_eq!(rep["lines_read"], 1);
    assert_eq!(env.dump().len(), 1);
    let offset = env.manifest()["positions"][log.display().to_string()]["offset"].clone();
    assert_eq!(
        offset, 36,
        "the position stops before the unterminated line"
    );
    // Nothing new: the half line is read again and held again.
    let rep = env.ingest([&log]).label("job=x").report();
    assert_eq!(rep["lines_read"], 0);
    append(&log, "\"two\"}\n");
    let rep = env.ingest([&log]).label("job=x").report();
    assert_eq!(rep["lines_read"], 1);
    let out = env.ok(["query", "-o", "raw", r#"{job="x"} | json | b="two""#]);
    eqnice!(
        "{\"ts\":\"2024-01-01T00:00:01Z\",\"a\":2,\"b\":\"two\"}\n",
        out
    );
    let errors = env
        .cmd(["query", "-o", "raw", r#"{job="x"} | json | __error__!="""#])
        .run();
    assert_eq!(errors.code, Some(1), "no json errors: {errors}");
}

/// The held-back line is stored as it is once its file is rotated away
/// (nothing will complete it), and from inputs that are not live files.
#[test]
fn unterminated_last_line_is_stored_when_rotated_away_or_not_live() {
    let env = TestEnv::new();
    let log = env.write(
        "app.log",
        "2024-01-01T00:00:00Z one\n2024-01-01T00:00:01Z half",
    );
    env.ingest([&log]).ok();
    assert_eq!(env.dump().len(), 1);
    fs::rename(&log, env.path().join("app.log.1")).unwrap();
    env.write("app.log", "2024-01-01T00:00:02Z three\n");
    env.ingest([&log]).ok();
    let mut got: Vec<String> = env
        .dump()
        .iter()
        .map(|e| String::from_utf8(e.line.clone()).unwrap())
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            "2024-01-01T00:00:00Z one",
            "2024-01-01T00:00:01Z half",
            "2024-01-01T00:00:02Z three"
        ]
    );

    // Standard input and compressed files end where they end.
    let env = TestEnv::new();
    env.ingest(["-"])
        .label("job=pipe")
        .stdin("2024-01-01T00:00:00Z a\n2024-01-01T00:00:01Z b")
        .ok();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(b"2024-01-01T00:00:00Z c\n2024-01-01T00:00:01Z d")
        .unwrap();
    let gz = env.write("x.log.gz", enc.finish().unwrap());
    env.ingest([&gz]).ok();
    assert_eq!(env.dump().len(), 4);
}

/// A file given twice, or under two names (a hard link), is read once.
#[test]
fn one_file_under_two_names_is_read_once() {
    let env = TestEnv::new();
    let log = env.write("a.log", lines(20, 1_700_000_000, "x"));
    let link = env.path().join("b.log");
    fs::hard_link(&log, &link).unwrap();
    let out = env
        .ingest([&log, &link, &log])
        .args(["-o", "json"])
        .cmd()
        .run();
    assert_eq!(out.json()["entries_stored"], 20, "{out}");
    assert!(out.stderr.contains("the same file as"), "{out}");
}
