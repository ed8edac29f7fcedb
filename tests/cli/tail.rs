//! `lokal query --tail`: entries committed by a concurrent `ingest --follow`
//! (and by one-shot ingests) are printed soon after their commit, none
//! twice, after the last `--limit` entries already stored; `--delay-for`
//! sorts what arrives within the delay; a compaction's rewrite of what was
//! shown is not shown again.
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use crate::common::*;
use crate::follow::{spawn_follow, terminate, Log, Proc};

/// The liveness bound: generous, so a loaded machine cannot make it flake.
const BOUND: Duration = Duration::from_secs(10);

/// A running `lokal query --tail`, its stdout lines arriving on a channel.
struct Tailer {
    child: Proc,
    lines: Receiver<String>,
}

impl Tailer {
    fn start(env: &TestEnv, args: &[&str]) -> Tailer {
        let mut child = env
            .std_command()
            .args(["query", "--tail"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn lokal query --tail");
        let out = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Tailer {
            child: Proc(child),
            lines: rx,
        }
    }

    /// The next line, within `BOUND`.
    #[track_caller]
    fn next(&self, what: &str) -> String {
        self.lines
            .recv_timeout(BOUND)
            .unwrap_or_else(|_| panic!("no line within {BOUND:?}: expected {what}"))
    }

    /// Stops it (exit 0) and returns what it printed after the lines read.
    fn stop(mut self) -> Vec<String> {
        assert_eq!(terminate(&mut self.child), Some(0), "--tail exits 0");
        let mut rest = Vec::new();
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(2)) {
            rest.push(l);
        }
        rest
    }
}

#[test]
fn tail_prints_what_a_follower_commits_within_the_bound() {
    let env = TestEnv::new();
    let mut log = Log::new(env.path().join("logs/app.log"), 1_700_000_000);
    log.write(5);
    let p = log.path.display().to_string();
    env.ingest([&p]).label("job=t").ok();
    let mut f = spawn_follow(&env, &["--label", "job=t", &p], false);
    let t = Tailer::start(&env, &["--limit", "3", "-o", "raw", r#"{job="t"}"#]);
    // The last 3 entries already stored, oldest first.
    for want in &log.written[2..5] {
        assert_eq!(&t.next(want), want);
    }
    for i in 0..8 {
        log.write(1);
        let start = Instant::now();
        let want = log.written.last().unwrap().clone();
        assert_eq!(t.next(&want), want, "line {i}");
        assert!(start.elapsed() < BOUND);
    }
    assert_eq!(terminate(&mut f), Some(0));
    assert_eq!(t.stop(), Vec::<String>::new(), "nothing printed twice");
}

#[test]
fn tail_formats_and_filters_as_logcli() {
    let env = TestEnv::new();
    let t = env.write("x.log", "");
    let ps = t.display().to_string();
    let jsonl = Tailer::start(&env, &["-o", "jsonl", r#"{job="x"} |= "keep""#]);
    let default = Tailer::start(&env, &[r#"{job="x"} |= "keep""#]);
    std::thread::sleep(Duration::from_millis(300));
    env.write(
        "x.log",
        "2024-05-01T00:00:01Z drop this\n2024-05-01T00:00:02Z keep this\n",
    );
    env.ingest([&ps]).label("job=x").ok();
    assert_eq!(
        jsonl.next("jsonl"),
        format!(
            r#"{{"labels":{{"filename":"{ps}","job":"x"}},"line":"2024-05-01T00:00:02Z keep this","timestamp":"2024-05-01T00:00:02Z"}}"#
        )
    );
    // logcli's tail prints every label of the entry's stream, unpadded.
    assert_eq!(
        default.next("default"),
        format!(
            r#"2024-05-01T00:00:02Z {{filename="{ps}", job="x"}} 2024-05-01T00:00:02Z keep this"#
        )
    );
    assert!(jsonl.stop().is_empty());
    assert!(default.stop().is_empty());
}

#[test]
fn delay_for_sorts_what_arrives_within_the_delay() {
    let env = TestEnv::new();
    let t = Tailer::start(&env, &["--delay-for", "3", "-o", "raw", "{job=~\"a|b\"}"]);
    std::thread::sleep(Duration::from_millis(300));
    // Two commits, the later one holding the older entry.
    let a = env.write("a.log", "2024-05-01T00:00:10Z later\n");
    env.ingest([&a]).label("job=a").ok();
    let b = env.write("b.log", "2024-05-01T00:00:05Z earlier\n");
    env.ingest([&b]).label("job=b").ok();
    assert_eq!(t.next("earlier"), "2024-05-01T00:00:05Z earlier");
    assert_eq!(t.next("later"), "2024-05-01T00:00:10Z later");
    assert!(t.stop().is_empty());
}

#[test]
fn a_compaction_while_tailing_prints_nothing_again() {
    let env = TestEnv::new();
    let t = Tailer::start(&env, &["-o", "raw", r#"{job="c"}"#]);
    std::thread::sleep(Duration::from_millis(300));
    let mut want = Vec::new();
    for i in 0..4 {
        let line = format!("2024-05-01T00:00:0{i}Z part {i}");
        let f = env.write(&format!("c{i}.log"), format!("{line}\n"));
        env.ingest([&f]).label("job=c").ok();
        assert_eq!(t.next(&line), line);
        want.push(line);
    }
    env.cmd(["compact"]).assert_code(0);
    let f = env.write("c9.log", "2024-05-01T00:00:09Z after\n");
    env.ingest([&f]).label("job=c").ok();
    assert_eq!(t.next("after"), "2024-05-01T00:00:09Z after");
    assert!(
        t.stop().is_empty(),
        "the compacted entries are not shown again"
    );
}

#[test]
fn tail_refuses_what_it_cannot_follow() {
    let env = TestEnv::new();
    env.ingest([env.write("a.log", "2024-05-01T00:00:00Z x\n")])
        .label("job=a")
        .ok();
    let r = env
        .cmd(["query", "--tail", r#"count_over_time({job="a"}[1m])"#])
        .assert_code(2);
    assert!(r.stderr.contains("metric query"), "{}", r.stderr);
    let r = env
        .cmd(["query", "--tail", "-o", "json", r#"{job="a"}"#])
        .assert_code(2);
    assert!(
        r.stderr.contains("-o default, raw or jsonl"),
        "{}",
        r.stderr
    );
}
