//! `lokal ingest --follow`: a follower running while the test writes its
//! files, rotates them (`create`: rename and a new file; `copytruncate`:
//! copy, then truncate in place), adds new files matching the glob, and
//! kills the follower (SIGKILL at a random moment and right after a segment
//! is published, before its commit) and starts it again: every line is
//! stored exactly once, in order. SIGTERM exits 0 with everything read
//! committed.
use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// A log written by the test: unique lines, times one second apart.
pub struct Log {
    pub path: PathBuf,
    base_s: i64,
    seq: usize,
    /// Every line written, in order.
    pub written: Vec<String>,
}

impl Log {
    pub fn new(path: PathBuf, base_s: i64) -> Log {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        Log {
            path,
            base_s,
            seq: 0,
            written: Vec::new(),
        }
    }

    /// Appends `n` lines (opening the file by name, as a daemon that
    /// reopens its log after a rotation does).
    pub fn write(&mut self, n: usize) {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .unwrap();
        let mut s = String::new();
        for _ in 0..n {
            let ts = jiff::Timestamp::from_second(self.base_s + self.seq as i64).unwrap();
            let line = format!("{ts} level=info seq={} msg=\"event\"", self.seq);
            s.push_str(&line);
            s.push('\n');
            self.written.push(line);
            self.seq += 1;
        }
        f.write_all(s.as_bytes()).unwrap();
    }

    /// `create` rotation: rename to `.N`, the next write makes a new file.
    pub fn rotate_create(&self, n: usize) {
        fs::rename(&self.path, self.path.with_extension(format!("log.{n}"))).unwrap();
    }

    /// `copytruncate` rotation: copy to `.N`, truncate the original in place.
    pub fn rotate_copytruncate(&self, n: usize) {
        fs::copy(&self.path, self.path.with_extension(format!("log.{n}"))).unwrap();
        self.truncate();
    }

    /// Truncates the file in place (the second step of `copytruncate`).
    pub fn truncate(&self) {
        OpenOptions::new()
            .write(true)
            .open(&self.path)
            .unwrap()
            .set_len(0)
            .unwrap();
    }
}

/// `logs/app.log` under `env` with `n` lines written, and `pattern` in
/// that directory as a glob.
fn app_log(env: &TestEnv, n: usize, pattern: &str) -> (PathBuf, Log, String) {
    let dir = env.path().join("logs");
    let mut app = Log::new(dir.join("app.log"), 1_700_000_000);
    app.write(n);
    let glob = format!("{}/{pattern}", dir.display());
    (dir, app, glob)
}

/// A child process killed when dropped, so a failing test leaves none behind.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl std::ops::Deref for Proc {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Proc {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

/// Starts `lokal ingest --follow` with `args` (stderr piped with `trace`).
pub fn spawn_follow(env: &TestEnv, args: &[&str], trace: bool) -> Proc {
    let mut cmd = env.std_command();
    cmd.args(["ingest", "--follow", "--commit-interval", "100ms"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    if trace {
        cmd.env("LOKAL_TEST_TRACE", "1").stderr(Stdio::piped());
    } else {
        cmd.stderr(Stdio::null());
    }
    Proc(cmd.spawn().expect("spawn lokal ingest --follow"))
}

/// SIGTERM, then the exit code (the process must stop within a minute).
pub fn terminate(child: &mut Child) -> Option<i32> {
    // SAFETY: signalling a child this test started.
    assert_eq!(
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) },
        0,
        "kill -TERM"
    );
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st.code();
        }
        assert!(Instant::now() < end, "the follower did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Kills the traced follower right after it reports `point` on stderr.
fn kill_at_point(child: &mut Child, point: &str) {
    let stderr = child.stderr.take().unwrap();
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap();
        if line.contains(point) {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Waits until the store holds `n` entries (or `limit` passes).
fn wait_stored(env: &TestEnv, n: usize, limit: Duration) {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        // Until the follower's first commit there is no store.
        let r = env.cmd(["dump"]).run();
        if r.code == Some(0) && parse_dump(&r.bytes).len() >= n {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until `line` is stored (or a minute passes).
fn wait_line(env: &TestEnv, line: &str) {
    let end = Instant::now() + Duration::from_secs(60);
    while Instant::now() < end {
        let r = env.cmd(["dump"]).run();
        if r.code == Some(0)
            && parse_dump(&r.bytes)
                .iter()
                .any(|d| d.line == line.as_bytes())
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Asserts that the store holds `want` (labels and their lines, in order):
/// the counts first, for a short message.
#[track_caller]
fn assert_stored(env: &TestEnv, mut want: Vec<(String, Vec<String>)>) {
    want.sort();
    let got = stored_lines(env);
    let summary = |v: &[(String, Vec<String>)]| -> Vec<(String, usize)> {
        v.iter().map(|(l, x)| (l.clone(), x.len())).collect()
    };
    let missing: Vec<&String> = want
        .iter()
        .flat_map(|(_, v)| v)
        .filter(|l| !got.iter().any(|(_, g)| g.contains(l)))
        .collect();
    assert_eq!(
        summary(&got),
        summary(&want),
        "lines per file; missing {} lines, first {:?}, last {:?}",
        missing.len(),
        missing.first(),
        missing.last()
    );
    assert!(got == want, "every line once, in order");
}

/// The stored lines of each `filename`, in time order.
fn stored_lines(env: &TestEnv) -> Vec<(String, Vec<String>)> {
    let mut by: std::collections::BTreeMap<String, Vec<(i64, String)>> = Default::default();
    for d in env.dump() {
        by.entry(d.labels)
            .or_default()
            .push((d.ts, String::from_utf8(d.line).unwrap()));
    }
    by.into_iter()
        .map(|(l, mut v)| {
            v.sort_by_key(|e| e.0);
            (l, v.into_iter().map(|e| e.1).collect())
        })
        .collect()
}

fn labels_of(path: &Path) -> String {
    format!("{{filename=\"{}\", job=\"f\"}}", path.display())
}

fn follow_through_rotations(glob: &str) {
    let env = TestEnv::new();
    let (dir, mut app, glob) = app_log(&env, 200, glob);
    let args = ["--label", "job=f", glob.as_str()];
    let mut f = spawn_follow(&env, &args, false);
    let mut other: Option<Log> = None;
    let mut rot = 0;
    // Where the file now under `app.log` starts in `app.written`.
    let mut file_start = 0;
    for round in 0..8 {
        for _ in 0..6 {
            app.write(50);
            if let Some(o) = other.as_mut() {
                o.write(7);
            }
            std::thread::sleep(Duration::from_millis(30));
        }
        if round == 3 {
            // SIGKILL at some moment of its work (files are being written),
            // lines appended while it is down, then a new follower.
            f.kill().unwrap();
            f.wait().unwrap();
            app.write(40);
            f = spawn_follow(&env, &args, false);
            // Caught up before the next rotation. (A file created and
            // rotated away before any follower committed a position for it
            // is read under its rotated name, if the glob matches that; a
            // `copytruncate` of it leaves its lines to the copy alone: as
            // for promtail and for one-shot runs, `tests/cli/rotation.rs`.)
            let n = app.written.len() + other.as_ref().map_or(0, |o| o.written.len());
            wait_stored(&env, n, Duration::from_secs(60));
        }
        // The follower has looked at this file before it is rotated: a file
        // created and rotated away between two of its looks is no file it
        // knows (see above). It may still be behind in it.
        wait_line(&env, &app.written[file_start]);
        rot += 1;
        if round % 2 == 0 {
            app.rotate_create(rot);
        } else {
            app.rotate_copytruncate(rot);
        }
        file_start = app.written.len();
        app.write(25);
        match round {
            // A new file matching the glob appears while it runs.
            1 => other = Some(Log::new(dir.join("other.log"), 1_800_000_000)),
            // SIGKILL right after a segment is published, before the
            // manifest names it: its lines must be read again, once.
            5 => {
                let _ = terminate(&mut f);
                f = spawn_follow(&env, &args, true);
                app.write(30);
                kill_at_point(&mut f, "segment-publish");
                f = spawn_follow(&env, &args, false);
            }
            _ => {}
        }
    }
    app.write(5);
    let total = app.written.len() + other.as_ref().map_or(0, |o| o.written.len());
    wait_stored(&env, total, Duration::from_secs(60));
    assert_eq!(terminate(&mut f), Some(0), "SIGTERM exits 0");
    let mut want = vec![(labels_of(&app.path), app.written.clone())];
    if let Some(o) = &other {
        want.push((labels_of(&o.path), o.written.clone()));
    }
    assert_stored(&env, want);
}

#[test]
fn follow_create_and_copytruncate_with_kills_stores_every_line_once() {
    follow_through_rotations("*.log");
}

#[test]
fn follow_with_a_glob_matching_the_rotated_copies_too() {
    follow_through_rotations("*.log*");
}

#[test]
fn sigterm_commits_what_was_read_and_exits_0() {
    let env = TestEnv::new();
    let mut log = Log::new(env.path().join("a.log"), 1_700_000_000);
    log.write(10);
    let p = log.path.display().to_string();
    // A long interval: what was appended after the first look is read and
    // committed by the stop itself.
    let mut f = Proc(
        env.std_command()
            .args([
                "ingest",
                "--follow",
                "--commit-interval",
                "1h",
                "--label",
                "job=f",
                &p,
            ])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    wait_stored(&env, 10, Duration::from_secs(20));
    log.write(15);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(terminate(&mut f), Some(0));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut f.stderr.take().unwrap(), &mut err).unwrap();
    // Not a terminal: no status line, only the summary at the stop.
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("lokal: stopped following: 25 lines read, 25 entries stored in "),
        "{err}"
    );
    assert_eq!(
        stored_lines(&env),
        vec![(labels_of(&log.path), log.written.clone())]
    );
    // The stop brought the day indexes up to date: every segment indexed.
    let m = env.manifest();
    let mut segs: Vec<u64> = m["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_u64().unwrap())
        .collect();
    let mut indexed: Vec<u64> = m["indexes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["segments"].as_array().unwrap().clone())
        .map(|v| v.as_u64().unwrap())
        .collect();
    segs.sort_unstable();
    indexed.sort_unstable();
    assert_eq!(indexed, segs, "indexes after the stop");
    // Started again, it reads nothing twice.
    let mut f = spawn_follow(&env, &["--label", "job=f", &p], false);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(terminate(&mut f), Some(0));
    assert_eq!(env.dump().len(), 25);
}

#[test]
fn a_partial_line_waits_for_its_newline_then_for_the_timeout() {
    let env = TestEnv::new();
    let p = env.write("a.log", "2024-05-01T00:00:00Z one\n2024-05-01T00:00:01Z tw");
    let ps = p.display().to_string();
    let mut f = spawn_follow(
        &env,
        &["--partial-line-timeout", "8s", "--label", "job=f", &ps],
        false,
    );
    wait_stored(&env, 1, Duration::from_secs(20));
    let lines = |env: &TestEnv| -> Vec<String> {
        env.dump()
            .into_iter()
            .map(|d| String::from_utf8(d.line).unwrap())
            .collect()
    };
    assert_eq!(lines(&env), ["2024-05-01T00:00:00Z one"]);
    // Completed before the timeout: one line.
    let mut h = OpenOptions::new().append(true).open(&p).unwrap();
    h.write_all(b"o\n2024-05-01T00:00:02Z thr").unwrap();
    wait_stored(&env, 2, Duration::from_secs(20));
    assert_eq!(
        lines(&env),
        ["2024-05-01T00:00:00Z one", "2024-05-01T00:00:01Z two"]
    );
    // Left unterminated past the timeout: stored as it is.
    wait_stored(&env, 3, Duration::from_secs(30));
    assert_eq!(terminate(&mut f), Some(0));
    assert_eq!(
        lines(&env),
        [
            "2024-05-01T00:00:00Z one",
            "2024-05-01T00:00:01Z two",
            "2024-05-01T00:00:02Z thr"
        ]
    );
}

#[test]
fn follow_refuses_stdin_and_dry_run() {
    let env = TestEnv::new();
    let r = env.cmd(["ingest", "--follow", "-"]).assert_code(2);
    assert!(r.stderr.contains("standard input"), "{}", r.stderr);
    let r = env.cmd(["ingest", "--follow", "--dry-run", "x.log"]).run();
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    let r = env
        .cmd(["ingest", "--follow", "--commit-interval", "0s", "x.log"])
        .run();
    assert!(r.stderr.contains("--commit-interval"), "{}", r.stderr);
}

#[test]
fn sigterm_during_a_catch_up_stops_at_a_commit_and_the_next_start_goes_on() {
    let env = TestEnv::new();
    let mut log = Log::new(env.path().join("big.log"), 1_600_000_000);
    log.write(200_000);
    let p = log.path.display().to_string();
    let args = ["--commit-bytes", "1MiB", "--label", "job=f", p.as_str()];
    let mut f = spawn_follow(&env, &args, false);
    wait_stored(&env, 1, Duration::from_secs(30));
    assert_eq!(terminate(&mut f), Some(0));
    let first = env.dump().len();
    assert!(first > 0 && first <= log.written.len());
    // Started again it reads on from the last commit: every line once.
    let mut f = spawn_follow(&env, &args, false);
    wait_stored(&env, log.written.len(), Duration::from_secs(120));
    assert_eq!(terminate(&mut f), Some(0));
    assert_eq!(
        stored_lines(&env),
        vec![(labels_of(&log.path), log.written.clone())]
    );
}

#[test]
fn a_copy_being_written_is_not_taken_for_a_new_file() {
    // `copytruncate` creates the copy, fills it, then truncates the
    // original: a follower that looks in between must not give the copy a
    // position of its own (its lines would then be stored twice).
    let env = TestEnv::new();
    let (dir, mut app, glob) = app_log(&env, 100, "*.log*");
    let mut f = spawn_follow(&env, &["--label", "job=f", &glob], false);
    wait_stored(&env, 100, Duration::from_secs(20));
    let copy = dir.join("app.log.1");
    let mut c = fs::File::create(&copy).unwrap();
    std::thread::sleep(Duration::from_millis(600));
    c.write_all(&fs::read(&app.path).unwrap()).unwrap();
    drop(c);
    app.truncate();
    app.write(5);
    wait_stored(&env, 105, Duration::from_secs(20));
    // Past the settling time: the copy is recognised, not read.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(terminate(&mut f), Some(0));
    assert_eq!(
        stored_lines(&env),
        vec![(labels_of(&app.path), app.written.clone())]
    );
}

#[test]
fn on_a_terminal_a_status_line() {
    // util-linux `script` gives the follower a pty; coreutils' `timeout`
    // sends it SIGTERM after 3 s and passes its exit code on.
    let env = TestEnv::new();
    let mut log = Log::new(env.path().join("a.log"), 1_700_000_000);
    log.write(7);
    let line = format!(
        "timeout --preserve-status -s TERM 3 {} --store {} ingest --follow {}",
        env!("CARGO_BIN_EXE_lokal"),
        env.store().display(),
        log.path.display()
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("NO_COLOR", "1")
        .env_remove("LOKAL_STORE")
        .stdin(Stdio::null())
        .output()
        .expect("util-linux script (Debian: bsdutils, always installed)");
    let shown = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(
        shown.contains("following 1 files (inotify): 7 lines, 7 entries stored"),
        "{shown}"
    );
    assert!(
        shown.contains("lokal: stopped following: 7 lines read, 7 entries stored in 1 commits"),
        "{shown}"
    );
}

#[test]
fn follow_with_a_promtail_config_waits_for_its_files() {
    let env = TestEnv::new();
    let dir = env.path().join("logs");
    fs::create_dir_all(&dir).unwrap();
    let config = env.write(
        "promtail.yaml",
        format!(
            "scrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: [localhost]\n        labels:\n          job: app\n          __path__: {}/*.log\n",
            dir.display()
        ),
    );
    let cfg = config.display().to_string();
    let mut f = spawn_follow(&env, &["--config", &cfg], false);
    std::thread::sleep(Duration::from_millis(500));
    // The file appears after the start: picked up, with the config's labels.
    let mut log = Log::new(dir.join("late.log"), 1_700_000_000);
    log.write(12);
    wait_stored(&env, 12, Duration::from_secs(20));
    log.write(3);
    wait_stored(&env, 15, Duration::from_secs(20));
    assert_eq!(terminate(&mut f), Some(0));
    assert_eq!(
        stored_lines(&env),
        vec![(
            format!("{{filename=\"{}\", job=\"app\"}}", log.path.display()),
            log.written.clone()
        )]
    );
}

/// `lokal ingest --label job=f GLOB`, which must succeed.
fn ingest_once(env: &TestEnv, glob: &str) {
    env.cmd(["ingest", "--label", "job=f", glob])
        .run()
        .assert_code(0);
}

#[test]
fn a_copy_seen_half_written_is_not_read_again_when_complete() {
    // The state a follower (or a cron `ingest`) can look at in the middle
    // of a `copytruncate`: the copy holds part of what was read (it is
    // being written, or its size was taken just before it grew). Once
    // complete and the original truncated, the copy must not be read on
    // from where it stood: that was read from the original.
    let env = TestEnv::new();
    let (dir, mut app, glob) = app_log(&env, 365, "*.log*");
    ingest_once(&env, &glob);
    let full = fs::read(&app.path).unwrap();
    let copy = dir.join("app.log.4");
    fs::write(&copy, &full[..4096]).unwrap();
    ingest_once(&env, &glob);
    fs::write(&copy, &full).unwrap();
    app.truncate();
    app.write(25);
    ingest_once(&env, &glob);
    ingest_once(&env, &glob);
    assert_stored(&env, vec![(labels_of(&app.path), app.written.clone())]);
}

#[test]
fn a_file_rotated_between_plan_and_open_is_read_on_the_next_run() {
    // A rotation while a run has planned its inputs but not opened them
    // yet: stopped right there (`LOKAL_TEST_STOP`), the file is rotated,
    // then the run goes on. `copytruncate`: it must not read the truncated
    // file from its start under the position its copy is recognised by
    // (the next run would read the copy as a new file, doubled, or with a
    // glob that does not match the copies never, lost). Renamed away with
    // no new file yet: no failure, the next run finds it.
    for (rotation, pattern) in [
        ("copytruncate", "*.log*"),
        ("copytruncate", "*.log"),
        ("rename", "*.log*"),
        ("rename", "*.log"),
    ] {
        let env = TestEnv::new();
        let (_, mut app, glob) = app_log(&env, 100, pattern);
        ingest_once(&env, &glob);
        app.write(20);
        let mut run = Proc(
            env.std_command()
                .args(["ingest", "--label", "job=f", &glob])
                .env("LOKAL_TEST_STOP", "ingest-planned")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let mut stderr = BufReader::new(run.stderr.take().unwrap());
        let mut line = String::new();
        while !line.contains("lokal-trace: ingest-planned") {
            line.clear();
            assert!(stderr.read_line(&mut line).unwrap() > 0, "no plan");
        }
        // Stopped (SIGSTOP) after planning app.log to be read on from line
        // 101: rotate under it, then let it go on.
        let pid = run.id() as i32;
        let stopped = || {
            fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
                s.rsplit(')')
                    .next()
                    .is_some_and(|r| r.trim_start().starts_with('T'))
            })
        };
        let end = Instant::now() + Duration::from_secs(60);
        while !stopped() {
            assert!(Instant::now() < end, "the run did not stop at its plan");
            std::thread::sleep(Duration::from_millis(5));
        }
        match rotation {
            "copytruncate" => app.rotate_copytruncate(1),
            _ => app.rotate_create(1),
        }
        // SAFETY: signalling a child this test started.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
        let what = format!("{rotation} with {pattern}");
        assert_eq!(run.wait().unwrap().code(), Some(0), "{what}: {rest}");
        assert!(
            rest.contains("while this run started (rotated?)"),
            "{what}: {rest}"
        );
        app.write(5);
        ingest_once(&env, &glob);
        ingest_once(&env, &glob);
        eprintln!("{what}:");
        assert_stored(&env, vec![(labels_of(&app.path), app.written.clone())]);
    }
}

/// One step of a rotation, done to the log the test writes.
type Step = (&'static str, fn(&mut Log));

/// Appends `bytes` to the file at `path` (a copy being written).
fn append_to(path: &Path, bytes: &[u8]) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(bytes).unwrap();
}

/// Runs `steps` on a log of 40 lines once read, with a run (one-shot
/// `ingest`, as a follower's cycle) after every subset of them, with a glob
/// over the copies and without: every line once, under the log's name.
/// No run is timed: each interleaving of the rotation's steps with the
/// runs' looks is made in turn.
fn every_interleaving(steps: &[Step]) {
    for pattern in ["*.log*", "*.log"] {
        for mask in 0..1u32 << steps.len() {
            let env = TestEnv::new();
            let (_, mut app, glob) = app_log(&env, 40, pattern);
            ingest_once(&env, &glob);
            let mut looked = Vec::new();
            for (i, (what, step)) in steps.iter().enumerate() {
                step(&mut app);
                if mask & 1 << i != 0 {
                    let r = env.cmd(["ingest", "--label", "job=f", &glob]).run();
                    // A glob matching nothing (renamed, not created yet)
                    // fails a one-shot run, which then looks at nothing.
                    if r.code != Some(0) {
                        let r = r.assert_code(2);
                        assert!(r.stderr.contains("no file matches this pattern"));
                    }
                    looked.push(*what);
                }
            }
            app.write(5);
            ingest_once(&env, &glob);
            ingest_once(&env, &glob);
            eprintln!("{pattern}, runs after {looked:?}:");
            assert_stored(&env, vec![(labels_of(&app.path), app.written.clone())]);
        }
    }
}

#[test]
fn copytruncate_in_every_interleaving_with_the_runs() {
    // The copy is written in three steps (shorter than the head hashed,
    // longer, whole) before the original is truncated.
    fn copied(app: &Log) -> (PathBuf, Vec<u8>, u64) {
        let copy = app.path.with_extension("log.1");
        let have = fs::metadata(&copy).map_or(0, |m| m.len());
        (copy, fs::read(&app.path).unwrap(), have)
    }
    every_interleaving(&[
        ("append", |app| app.write(10)),
        ("copy begun", |app| {
            let (copy, all, _) = copied(app);
            append_to(&copy, &all[..100]);
        }),
        ("copy half", |app| {
            let (copy, all, have) = copied(app);
            append_to(&copy, &all[have as usize..1500]);
        }),
        ("copy whole", |app| {
            let (copy, all, have) = copied(app);
            append_to(&copy, &all[have as usize..]);
        }),
        ("truncated", |app| app.truncate()),
        ("append", |app| app.write(5)),
    ]);
}

#[test]
fn create_and_compress_in_every_interleaving_with_the_runs() {
    // Renamed, written to under its new name (the writer has not reopened
    // its log yet), a new file, the renamed one compressed, then removed.
    fn rotated(app: &Log) -> PathBuf {
        app.path.with_extension("log.1")
    }
    every_interleaving(&[
        ("append", |app| app.write(10)),
        ("renamed", |app| app.rotate_create(1)),
        ("appended to the renamed file", |app| {
            let to = rotated(app);
            let live = std::mem::replace(&mut app.path, to);
            app.write(3);
            app.path = live;
        }),
        ("new file", |app| app.write(5)),
        ("compressed", |app| {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(&fs::read(rotated(app)).unwrap()).unwrap();
            fs::write(app.path.with_extension("log.1.gz"), enc.finish().unwrap()).unwrap();
        }),
        ("removed", |app| fs::remove_file(rotated(app)).unwrap()),
    ]);
}
