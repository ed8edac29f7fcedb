//! Crash safety. The harness SIGKILLs `lokal ingest`, `lokal index` and
//! `lokal compact` on observed progress — after the k-th step of the write path it reports
//! (`LOKAL_TEST_TRACE`: a segment created or published, index files
//! written, the manifest written, the commit), k random, sometimes a few
//! microseconds later — while the inputs keep growing and rotating. After
//! every kill the store must verify, hold for every log a gapless prefix of
//! its lines (exactly what was committed) and no line twice; a re-run must
//! then hold every line exactly once. A killed compaction's re-run must
//! finish the job: no segment or index file on disk that the manifest does
//! not name, nothing left retired (no reader holds an old manifest), and
//! every day in at most the segments it needs. Ingests run in small batches,
//! so most end with the merge of their segments (`--compact=auto`), and
//! some kills land in it. `LOKAL_CRASH_KILLS` sets the number
//! of kills (`bench/crash.sh` runs 1,000 with a release build); a full disk
//! mid-ingest must leave the store as it was.
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::*;

/// A small deterministic generator, so failures can be replayed.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The commands killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Writer {
    Ingest,
    Index,
    Compact,
}

/// A log being written: lines `app=<i> seq=<n>`, renamed away now and then
/// (a rotation), a line sometimes left half-written for a while.
struct Log {
    app: usize,
    path: PathBuf,
    seq: u64,
    rotations: u64,
    /// The rest of a line whose start was written without its newline.
    half: Option<String>,
    /// Lines complete on disk (newline written), in order.
    lines: Vec<String>,
}

impl Log {
    fn line(&mut self) -> String {
        let s = self.seq;
        self.seq += 1;
        let ts = 1_700_000_000 + s as i64;
        let ts = jiff::Timestamp::from_second(ts).unwrap();
        format!(
            "{ts} app={} seq={s} msg=\"work item {s} done\" pad=xxxxxxxxxxxxxxxx",
            self.app
        )
    }

    /// Appends `n` lines, finishing a half-written one first; maybe leaves
    /// the last one half-written.
    fn append(&mut self, n: usize, leave_half: bool) {
        let mut out = String::new();
        if let Some(rest) = self.half.take() {
            out.push_str(&rest);
        }
        for _ in 0..n {
            let l = self.line();
            out.push_str(&l);
            out.push('\n');
            self.lines.push(l);
        }
        if leave_half {
            let l = self.line();
            let cut = l.len() / 2;
            out.push_str(&l[..cut]);
            self.half = Some(format!("{}\n", &l[cut..]));
            // Complete once its newline is written (the next append).
            self.lines.push(l);
        }
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .unwrap()
            .write_all(out.as_bytes())
            .unwrap();
    }

    /// The lines that have their newline on disk.
    fn complete(&self) -> &[String] {
        match self.half {
            Some(_) => &self.lines[..self.lines.len() - 1],
            None => &self.lines,
        }
    }

    /// Renames the file away (`app<i>.log.<n>`); the next append creates a new one.
    fn rotate(&mut self) {
        if self.half.is_some() {
            self.append(0, false);
        }
        self.rotations += 1;
        let to = self
            .path
            .with_file_name(format!("app{}.log.{}", self.app, self.rotations));
        fs::rename(&self.path, to).unwrap();
    }
}

/// What the harness counted.
#[derive(Debug, Default)]
struct Report {
    kills: BTreeMap<Writer, u64>,
    /// Kills after which the store held a temporary file, or a segment or
    /// index file the manifest does not name: the writer was mid-write.
    mid_write: u64,
    /// Ingests killed during their end-of-run merge (`--compact=auto`:
    /// after its `ingest-merge` trace point).
    merge_kills: u64,
    /// Runs that finished before the chosen step came.
    finished: u64,
    /// Trace points seen, by name.
    points: BTreeMap<String, u64>,
    lines: u64,
    lost: u64,
    doubled: u64,
    rotations: u64,
}

/// Spawns `lokal ARGS` with tracing on and SIGKILLs it right after its
/// `k`-th trace point (and `spin` µs of busy waiting). Returns whether it
/// was killed (false: it finished first) and the points it reported.
pub fn kill_at(env: &TestEnv, args: &[String], k: u64, spin: u64) -> (bool, Vec<String>) {
    let mut child = env
        .std_command()
        .args(args)
        .env("LOKAL_TEST_TRACE", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut points = Vec::new();
    let mut killed = false;
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        let Some(p) = line.strip_prefix("lokal-trace: ") else {
            continue;
        };
        points.push(p.to_string());
        if points.len() as u64 == k {
            let t = Instant::now();
            while t.elapsed() < Duration::from_micros(spin) {
                std::hint::spin_loop();
            }
            killed = child.kill().is_ok(); // SIGKILL
            break;
        }
    }
    let status = child.wait().unwrap();
    // A kill that came after the process exited did not land.
    (killed && status.code().is_none(), points)
}

/// What a killed writer was in the middle of: temporary files, segments
/// the manifest does not name, index files built for a commit that did
/// not happen (their name carries the generation of the commit meant to
/// name them; older unnamed builds are ones a finished run replaced, which
/// the next writer removes), and a compaction's scratch files. Retired
/// files are named by the manifest.
fn mid_write_leftovers(store: &Path) -> Vec<PathBuf> {
    let tenant = store.join("fake");
    let scratch = tenant.join("compacting");
    let (named, generation) = match fs::read(tenant.join("MANIFEST")) {
        Ok(b) => {
            let m: serde_json::Value =
                serde_json::from_slice(&b).expect("MANIFEST is whole JSON after a crash");
            let mut named = HashSet::new();
            for list in ["segments", "indexes", "retired"] {
                for e in m[list].as_array().into_iter().flatten() {
                    named.insert(tenant.join(e["path"].as_str().unwrap()));
                }
            }
            (named, m["generation"].as_u64().unwrap())
        }
        Err(_) => (HashSet::new(), 0),
    };
    walk(&tenant)
        .into_iter()
        .filter(|p| {
            let s = p.to_string_lossy();
            let unnamed = !named.contains(p);
            let build_gen = s
                .strip_suffix(".idx")
                .and_then(|r| r.rsplit('-').next())
                .and_then(|g| g.parse::<u64>().ok());
            s.ends_with(".tmp")
                || (s.ends_with(".seg") && unnamed)
                || (unnamed && build_gen.is_some_and(|g| g > generation))
                || (p.starts_with(&scratch) && !s.ends_with("lokal.lock"))
        })
        .collect()
}

/// After a finished compaction with no reader about: every segment and
/// index file on disk is live, nothing is retired, no lease is left, and
/// each day has the one segment a compaction writes for it.
fn assert_compacted(env: &TestEnv, ctx: &str) {
    assert_disk_is_the_manifest(env, ctx);
    let m = env.manifest();
    let mut per_day: BTreeMap<String, u64> = BTreeMap::new();
    for s in m["segments"].as_array().into_iter().flatten() {
        *per_day
            .entry(s["day"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert!(
        per_day.values().all(|&n| n == 1),
        "{ctx}: segments per day {per_day:?}"
    );
}

/// The stored lines of each app, as sequence numbers, sorted; panics on a
/// line no app wrote.
fn stored_seqs(env: &TestEnv) -> HashMap<usize, Vec<u64>> {
    let mut out: HashMap<usize, Vec<u64>> = HashMap::new();
    for e in env.dump() {
        let line = String::from_utf8(e.line).unwrap();
        let field = |k: &str| -> u64 {
            line.split(' ')
                .find_map(|w| w.strip_prefix(k))
                .unwrap_or_else(|| panic!("a stored line no app wrote: {line:?}"))
                .parse()
                .unwrap()
        };
        out.entry(field("app=") as usize)
            .or_default()
            .push(field("seq="));
    }
    for v in out.values_mut() {
        v.sort_unstable();
    }
    out
}

/// After a kill: each app's stored lines are a gapless prefix of what it
/// wrote (what was committed, never more, never a line twice). Returns the
/// duplicates found.
fn check_prefixes(env: &TestEnv, logs: &[Log], ctx: &str) -> u64 {
    let stored = stored_seqs(env);
    let mut doubled = 0;
    for log in logs {
        let got = stored.get(&log.app).cloned().unwrap_or_default();
        let mut unique = got.clone();
        unique.dedup();
        doubled += (got.len() - unique.len()) as u64;
        let gapless = unique.iter().enumerate().all(|(i, &s)| s == i as u64);
        assert!(
            gapless && unique.len() <= log.complete().len(),
            "{ctx}: app {} stored {:?}… ({} lines), not a prefix of its {} lines",
            log.app,
            &unique[..unique.len().min(20)],
            unique.len(),
            log.complete().len()
        );
    }
    doubled
}

/// Runs `lokal verify` (and `lokal check` where it exists) on the store.
fn check_store(env: &TestEnv, ctx: &str) {
    let out = env.cmd(["verify"]).run();
    assert_eq!(out.code, Some(0), "{ctx}: verify\n{out}");
    let out = env.cmd(["check"]).run();
    if !out.stderr.contains("unrecognized subcommand") {
        assert_eq!(out.code, Some(0), "{ctx}: check\n{out}");
    }
    assert_index_agrees_with_footers(env.store());
}

/// The harness: `kills` SIGKILLs at random steps of ingest and index runs.
fn harness(kills: u64, seed: u64) -> Report {
    let mut rng = Lcg(seed);
    let mut report = Report::default();
    // Steps a run of each writer reported last time: k is drawn from a
    // little beyond, so some runs finish before their kill.
    let mut steps: HashMap<Writer, u64> = HashMap::new();
    let mut env = TestEnv::new();
    let mut logs: Vec<Log> = Vec::new();
    let mut done = 0;
    while done < kills {
        if done % 50 == 0 {
            // A fresh store now and then keeps each run small.
            report.lines += logs.iter().map(|l| l.lines.len() as u64).sum::<u64>();
            env = TestEnv::new();
            logs = (0..3)
                .map(|app| Log {
                    app,
                    path: env.path().join(format!("logs/app{app}.log")),
                    seq: 0,
                    rotations: 0,
                    half: None,
                    lines: Vec::new(),
                })
                .collect();
            fs::create_dir_all(env.path().join("logs")).unwrap();
            for l in &mut logs {
                l.append(200, false);
            }
        }
        for l in &mut logs {
            if rng.below(8) == 0 {
                l.rotate();
                report.rotations += 1;
            }
            let n = rng.below(120) as usize;
            let half = rng.below(4) == 0;
            l.append(n, half);
        }
        let writer = match rng.below(6) {
            // A fresh store is not there until the first ingest makes it:
            // `index` and `compact` would fail on it, killed or not.
            _ if !env.store().exists() => Writer::Ingest,
            0 => Writer::Index,
            1 | 2 => Writer::Compact,
            _ => Writer::Ingest,
        };
        let args: Vec<String> = match writer {
            Writer::Ingest => vec![
                "ingest".into(),
                "-q".into(),
                "--batch-size".into(),
                format!("{}KiB", 4 + rng.below(28)),
                format!("{}/logs/*", env.path().display()),
            ],
            Writer::Index => vec!["index".into()],
            Writer::Compact => vec!["compact".into(), "-q".into()],
        };
        let span = steps.get(&writer).copied().unwrap_or(8).max(2) + 2;
        let k = 1 + rng.below(span);
        let spin = if rng.below(2) == 0 { 0 } else { rng.below(400) };
        let ctx = format!("kill {done} ({writer:?} at step {k} + {spin} µs, seed {seed})");
        let (killed, points) = kill_at(&env, &args, k, spin);
        for p in &points {
            *report.points.entry(p.clone()).or_default() += 1;
        }
        if !killed {
            report.finished += 1;
            steps.insert(writer, points.len() as u64);
            assert!(
                report.finished < 5 * kills + 50,
                "{ctx}: {} runs finished before their kill and {done} were killed: \
                 are the trace points (LOKAL_TEST_TRACE) reported?",
                report.finished
            );
        } else {
            *report.kills.entry(writer).or_default() += 1;
            done += 1;
            if writer == Writer::Ingest && points.iter().any(|p| p == "ingest-merge") {
                report.merge_kills += 1;
            }
            if !mid_write_leftovers(env.store()).is_empty() {
                report.mid_write += 1;
            }
        }
        check_store(&env, &ctx);
        report.doubled += check_prefixes(&env, &logs, &ctx);
        // The re-run finishes the job: every complete line exactly once.
        let (_, points) = kill_at(&env, &args, u64::MAX, 0);
        steps.insert(writer, points.len() as u64);
        if writer == Writer::Compact {
            assert!(
                mid_write_leftovers(env.store()).is_empty(),
                "{ctx}: the re-run compaction cleans up: {:?}",
                mid_write_leftovers(env.store())
            );
            assert_compacted(&env, &ctx);
        }
        if writer != Writer::Ingest {
            env.ingest([format!("{}/logs/*", env.path().display())])
                .ok();
        }
        check_store(&env, &ctx);
        let stored = stored_seqs(&env);
        for log in &logs {
            let got = stored.get(&log.app).cloned().unwrap_or_default();
            let mut unique = got.clone();
            unique.dedup();
            report.doubled += (got.len() - unique.len()) as u64;
            let want = log.complete().len() as u64;
            report.lost += want.saturating_sub(unique.len() as u64);
            assert_eq!(
                unique,
                (0..want).collect::<Vec<_>>(),
                "{ctx}: after the re-run app {} holds every line once",
                log.app
            );
        }
        assert!(
            mid_write_leftovers(env.store()).is_empty(),
            "{ctx}: the next writer cleans up"
        );
    }
    report.lines += logs.iter().map(|l| l.lines.len() as u64).sum::<u64>();
    report
}

#[test]
fn sigkill_on_observed_progress_loses_and_doubles_nothing() {
    let kills = std::env::var("LOKAL_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let seed = std::env::var("LOKAL_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed);
    let r = harness(kills, seed);
    let total: u64 = r.kills.values().sum();
    eprintln!(
        "crash harness: {total} kills ({}), {} mid-write, {} in an end-of-ingest merge, \
         {} runs finished before their kill; \
         {} lines written, {} rotations; lost {}, doubled {}; trace points seen: {:?}",
        r.kills
            .iter()
            .map(|(w, n)| format!("{w:?} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        r.mid_write,
        r.merge_kills,
        r.finished,
        r.lines,
        r.rotations,
        r.lost,
        r.doubled,
        r.points
    );
    assert_eq!(total, kills);
    assert_eq!((r.lost, r.doubled), (0, 0));
    // The kills must land inside writes, not only between runs.
    assert!(
        r.mid_write * 5 >= kills,
        "only {} of {kills} kills landed mid-write",
        r.mid_write
    );
    assert!(r.kills.get(&Writer::Index).copied().unwrap_or(0) > 0);
    assert!(r.kills.get(&Writer::Compact).copied().unwrap_or(0) > 0);
    // Ingests in small batches merge their segments at the end of the run:
    // some kills land in that merge, between it and the swap, or in the
    // swap's commit.
    assert!(
        r.merge_kills > 0,
        "no kill landed in an end-of-ingest merge: {:?}",
        r.points
    );
}

/// A full disk in the middle of an ingest: batches committed before stay,
/// the failing batch leaves nothing behind, the store verifies, and once
/// there is room a re-run stores every line exactly once. A failing first
/// batch leaves the store byte for byte as it was.
#[test]
fn full_disk_mid_ingest_leaves_the_store_as_it_was() {
    let env = TestEnv::new();
    let store = env.store();
    fs::create_dir_all(store).unwrap();
    let mount = |opts: &str| {
        std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", opts, "tmpfs"])
            .arg(store)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    if !mount("size=512k") {
        eprintln!(
            "note: cannot mount a small tmpfs here (needs root); skipping the full-disk test"
        );
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _guard = Unmount(store);
    let small = env.write_log("small.log", 50, 1_700_000_000, "s");
    env.ingest([&small]).ok();
    // Random-looking lines do not compress: they overflow the disk.
    let mut s = String::new();
    let mut x: u64 = 1;
    for i in 0..40_000 {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        s.push_str(&format!(
            "2024-01-01T00:{:02}:{:02}Z {x:x}{:x}{:x}\n",
            i / 60 % 60,
            i % 60,
            x.rotate_left(7),
            x.rotate_left(29)
        ));
    }
    let big = env.write("big.log", &s);
    let snapshot = |store: &Path| -> BTreeMap<PathBuf, Vec<u8>> {
        walk(store)
            .into_iter()
            .filter(|p| !p.ends_with("lokal.lock"))
            .map(|p| {
                let b = fs::read(&p).unwrap();
                (p, b)
            })
            .collect()
    };
    // One batch: it fails, and nothing changes.
    let before = snapshot(store);
    let out = env.ingest([&big]).arg("-q").cmd().assert_code(3);
    assert!(out.stderr.contains("No space left"), "{}", out.stderr);
    assert_eq!(
        snapshot(store),
        before,
        "the store is byte for byte as it was"
    );

    // Small batches: some commit before the disk is full.
    let out = env
        .ingest([&big])
        .args(["-q", "--batch-size", "48KiB"])
        .cmd()
        .assert_code(3);
    assert!(out.stderr.contains("No space left"), "{}", out.stderr);
    env.ok(["verify"]);
    assert!(
        mid_write_leftovers(store).is_empty(),
        "{:?}",
        mid_write_leftovers(store)
    );
    let m = env.manifest();
    let committed = m["positions"][big.display().to_string()]["offset"]
        .as_u64()
        .unwrap_or(0) as usize;
    assert!(
        committed > 0,
        "some batches committed before the disk was full"
    );
    let mut want: Vec<Vec<u8>> = file_lines(&s.as_bytes()[..committed]);
    want.sort();
    assert_eq!(by_file(&env.dump())[&big.display().to_string()], want);

    // Room again: the re-run stores the rest, nothing twice.
    assert!(mount("remount,size=64m"), "remount the tmpfs larger");
    env.ingest([&big]).ok();
    let mut want = file_lines(s.as_bytes());
    want.sort();
    assert_eq!(by_file(&env.dump())[&big.display().to_string()], want);
    assert_eq!(env.dump().len(), 40_050);
}

fn walk(p: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = fs::read_dir(p) {
        for e in rd.flatten() {
            let path = e.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}
