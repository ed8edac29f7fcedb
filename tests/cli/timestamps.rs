//! Timestamps end to end: a generated corpus lands in its window with the
//! times written in its lines (and `lokal query` counts equal a plain
//! count over the raw files); every fallback is named per file; wrong flags
//! fail naming the file and line; `--dry-run` shows the detection and
//! writes nothing; adversarial files (dates in message text, zone names,
//! epoch-like numbers, mixed formats, a first line without a timestamp).
use std::fs;
use std::path::Path;
use std::process::Command;

use crate::common::*;
use crate::support::stamps;

fn ns(rfc3339: &str) -> i64 {
    let t: jiff::Timestamp = rfc3339.parse().unwrap();
    t.as_nanosecond() as i64
}

/// `gen_corpus.py --size 20M --hours 24 --start 2024-01-01T00:00:00Z`,
/// ingested with no flags but `--year 2024` (for syslog, logcat, klog,
/// proxifier): every entry has the time written in its line (read by
/// `tests/support/stamps.rs` from the generator's table), or the previous
/// line's; every entry lies in the generator's window (its `corpus.json`
/// says per file where its stamps lie), except the journald
/// lines the generator copies from its sample unchanged (their May 2024
/// dates are written in them, and are flagged as far from their
/// neighbours); and `lokal query` over 1970-2100 counts each literal on as
/// many lines as a plain count over the raw files (`rg -c`).
#[test]
fn generated_corpus_lands_in_its_window_with_the_written_times() {
    let Some(gen) = shared("data/gen_corpus.py") else {
        return;
    };
    let env = TestEnv::new();
    let corpus = env.path().join("corpus");
    let made = Command::new("python3")
        .arg(&gen)
        .args(["--out"])
        .arg(&corpus)
        .args(["--size", "20M", "--hours", "24"])
        .args(["--start", "2024-01-01T00:00:00Z", "--procs", "2"])
        .output();
    match made {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "gen_corpus.py failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => {
            crate::support::skip(&format!("cannot run python3 ({e})"));
            return;
        }
    }
    // corpus.json: per file its format and the window its stamps lie in.
    let meta: serde_json::Value =
        serde_json::from_slice(&fs::read(corpus.join("corpus.json")).unwrap()).unwrap();
    let files: Vec<(String, String, i64, i64)> = meta["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let t = |k: &str| ns(f[k].as_str().unwrap());
            let s = |k: &str| f[k].as_str().unwrap().to_string();
            // Stamps written to the second lie up to a second before first_ts.
            (
                s("file"),
                s("format"),
                t("first_ts") - 1_000_000_000,
                t("last_ts"),
            )
        })
        .collect();
    assert_eq!(files.len(), 64);
    let rep = env
        .ingest([format!("{}/**/*.log", corpus.display())])
        .args(["--year", "2024"])
        .args([
            "--label-from-path",
            r"/(?P<job>[^/]+)/(?P<host>[^/]+)\.log$",
        ])
        .report();
    let stored = stored_by_file(&env.dump());
    let start = ns("2024-01-01T00:00:00Z");
    let stale_journald = stamps::real("journald.log");
    let mut stale = 0;
    let mut raw_all: Vec<Vec<u8>> = Vec::new();
    for (rel, format, lo, hi) in &files {
        assert!(
            *lo >= start - 1_000_000_000,
            "{rel} starts before the window"
        );
        let path = corpus.join(rel).canonicalize().unwrap();
        let lines = file_lines(&fs::read(&path).unwrap());
        let rules = stamps::corpus(format);
        let times = stamps::expected_times(&lines, &rules, 2024);
        for (l, t) in lines.iter().zip(&times) {
            if (lo..=hi).contains(&t) {
                continue;
            }
            // Only journald's sample lines the generator leaves as they were
            // (RFC 3339 at the line start, tab-indented logfmt) may lie outside.
            let own = rules.instant(l, 2024) == Some(*t);
            let kept = format == "journald_mixed"
                && own
                && stale_journald.regexes[2..].iter().any(|r| r.is_match(l));
            assert!(
                kept,
                "{rel}: entry at {t} outside the window: {}",
                String::from_utf8_lossy(l)
            );
            stale += 1;
        }
        let mut want: Vec<(i64, Vec<u8>)> = times.into_iter().zip(lines.iter().cloned()).collect();
        want.sort();
        let got = &stored[&path.display().to_string()];
        assert_same_entries(&format!("{rel} ({format})"), got, &want);
        raw_all.extend(lines);
    }
    eprintln!("{stale} journald lines carry their sample's date");
    // Every file's format is found; the only fallbacks are lines without a
    // timestamp (journald, calico) and journald's stale dates, flagged.
    for t in rep["timestamps"].as_array().unwrap() {
        let file = t["file"].as_str().unwrap();
        assert_ne!(t["format"], "none found", "{t}");
        for k in ["mtime", "implausible", "unknown_zone"] {
            assert_eq!(t[k], 0, "{file}: {k}: {t}");
        }
        if !file.contains("/journald/") && !file.contains("/calico/") {
            assert_eq!(t["previous_line"], 0, "{file}: {t}");
            assert_eq!(t["first_found"], 0, "{file}: {t}");
        }
        if !file.contains("/journald/") {
            assert_eq!(t["far_from_previous"], 0, "{file}: {t}");
        }
    }
    // Counts of literals over 1970-2100 equal a count over the raw lines.
    for lit in ["ERROR", "error", "Failed password", "GET /", "INFO"] {
        let want = raw_all
            .iter()
            .filter(|l| memchr::memmem::find(l, lit.as_bytes()).is_some())
            .count();
        assert!(want > 0, "{lit}");
        let q = format!(r#"sum(count_over_time({{job=~".+"}} |= "{lit}" [200y]))"#);
        let out = env.ok([
            "instant-query",
            "--now",
            "2100-01-01T00:00:00Z",
            "-o",
            "json",
            &q,
        ]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let got = v["data"]["result"][0]["value"][1].as_str().unwrap();
        assert_eq!(got, want.to_string(), "{lit}: lokal vs raw count");
    }
}

#[test]
fn every_fallback_is_named_per_file() {
    let env = TestEnv::new();
    let plain = env.write("plain.txt", "no time here\nnor here\n");
    let header = env.write(
        "header.log",
        "# started\n2024-01-01T00:00:01Z a\ncontinued\n2024-01-01T00:00:02Z b\n",
    );
    let good = env.write_log("good.log", 5, 1_700_000_000, "g");
    let rep = env.ingest([&plain, &header, &good]).report();
    let ts = |name: &str| -> serde_json::Value {
        rep["timestamps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["file"].as_str().unwrap().ends_with(name))
            .cloned()
            .unwrap()
    };
    let p = ts("plain.txt");
    assert_eq!(
        (p["mtime"].as_u64(), p["found"].as_u64()),
        (Some(2), Some(0))
    );
    assert_eq!(p["format"], "none found");
    let h = ts("header.log");
    assert_eq!(h["first_found"], 1);
    assert_eq!(h["previous_line"], 1);
    assert_eq!(h["found"], 2);
    assert_eq!(h["format"], "ISO 8601 at the line start");
    let g = ts("good.log");
    assert_eq!(
        (g["found"].as_u64(), g["previous_line"].as_u64()),
        (Some(5), Some(0))
    );
    // The table names each file with a fallback, with its counts, and no other.
    let out = env
        .ingest([&plain, &header, &good])
        .arg("--from-start")
        .cmd()
        .stdout();
    assert!(out.contains("plain.txt"), "{out}");
    assert!(out.contains("2 took the file's modification time"), "{out}");
    assert!(out.contains("1 took the file's first timestamp"), "{out}");
    assert!(!out.contains("good.log"), "{out}");
}

#[test]
fn wrong_flags_fail_naming_the_file_and_line() {
    let env = TestEnv::new();
    let log = env.write_log("app.log", 3, 1_700_000_000, "a");
    let name = log.display().to_string();
    // `Unix` reads the `2023` of `2023-11-14T...` as seconds: 1970.
    let out = env
        .ingest([&log])
        .args(["--timestamp-format", "Unix"])
        .cmd()
        .assert_code(2);
    assert!(out.stderr.contains(&format!("{name}:1:")), "{}", out.stderr);
    assert!(out.stderr.contains("before 1990"), "{}", out.stderr);
    // A format that matches no line.
    let out = env
        .ingest([&log])
        .args(["--timestamp-format", "%d.%m.%Y %H:%M:%S"])
        .cmd()
        .assert_code(2);
    assert!(out.stderr.contains(&format!("{name}:1:")), "{}", out.stderr);
    assert!(
        out.stderr.contains("matches none of the first 3 lines"),
        "{}",
        out.stderr
    );
    // A regex without a group, and one that matches nothing.
    let out = env
        .ingest([&log])
        .args(["--timestamp-regex", r"\d{4}-\d\d-\d\d"])
        .cmd()
        .assert_code(2);
    assert!(out.stderr.contains("no capture group"), "{}", out.stderr);
    let out = env
        .ingest([&log])
        .args(["--timestamp-regex", r"at=(\S+)"])
        .cmd()
        .assert_code(2);
    assert!(
        out.stderr.contains("--timestamp-regex \"at=(\\\\S+)\""),
        "{}",
        out.stderr
    );
    // A year that puts every date in the future.
    let sys = env.write("sys.log", "Jan  2 03:04:05 host app: x\n");
    let out = env
        .ingest([&sys])
        .args(["--timestamp-format", "Jan _2 15:04:05", "--year", "2100"])
        .cmd()
        .assert_code(2);
    assert!(
        out.stderr.contains("after the file's modification time"),
        "{}",
        out.stderr
    );
    // Nothing was stored with an invented date.
    assert!(env.dump().is_empty());
    // Later lines a right flag gives implausible dates are named and counted.
    let mixed = env.write(
        "mixed.log",
        "1700000000 ok\n1700000001 ok\n0000000042 old\n1700000002 ok\n",
    );
    let out = env
        .ingest([&mixed])
        .args(["--timestamp-format", "Unix", "-o", "json"])
        .cmd()
        .assert_code(0);
    assert!(
        out.stderr.contains("mixed.log:3: timestamp not taken"),
        "{}",
        out.stderr
    );
    let t = &out.json()["timestamps"][0];
    assert_eq!(
        (t["implausible"].as_u64(), t["previous_line"].as_u64()),
        (Some(1), Some(1))
    );
}

/// The dry run's text with the temporary directory replaced, for snapshots.
fn scrub(text: &str, dir: &Path) -> String {
    text.replace(&dir.canonicalize().unwrap().display().to_string(), "TMP")
}

#[test]
fn dry_run_shows_detection_and_writes_nothing() {
    let env = TestEnv::new();
    let hdfs = env.write(
        "hdfs.log",
        "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 terminating\n\
         081109 203807 222 INFO dfs.DataNode$PacketResponder: PacketResponder 0 terminating\n\
         081109 204005 35 INFO dfs.FSNamesystem: BLOCK* NameSystem.addStoredBlock\n",
    );
    let java = env.write(
        "app/java.log",
        "starting up\n2024-01-01 00:00:01,250 ERROR boom\n\tat a.b(C.java:1)\n2024-01-01 00:00:02,000 INFO ok\n",
    );
    let binary = env.write("blob.bin", b"abc\0def\n");
    let out = env
        .cmd(["ingest", "--dry-run", "--head", "3", "-l", "job=x"])
        .arg(&hdfs)
        .arg(&java)
        .arg(&binary)
        .assert_code(2);
    insta::assert_snapshot!("dry_run", scrub(&out.stdout, env.path()));
    assert!(!env.store().exists(), "a dry run creates no store");
    let json = env
        .cmd(["ingest", "--dry-run", "-o", "json"])
        .arg(&java)
        .stdout();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let i = &v["inputs"][0];
    assert_eq!(i["lines"], 4);
    assert_eq!(i["timestamps"]["first_found"], 1);
    assert_eq!(i["timestamps"]["previous_line"], 1);
    assert_eq!(i["head"][0]["source"], "first_found");
    assert_eq!(i["head"][0]["ts"], ns("2024-01-01T00:00:01.25Z"));
    assert_eq!(i["head"][2]["source"], "previous_line");
    assert!(i["labels"].as_str().unwrap().contains("java.log"), "{i}");
    assert!(!env.store().exists());
}

/// Files built to mislead a detector: each entry must get the time its own
/// line's timestamp says, and nothing from message text.
#[test]
fn adversarial_files() {
    let env = TestEnv::new();
    let cases: &[(&str, &str, &[&str])] = &[
        // Dates inside message text: the line start's time, never the text's.
        (
            "text_dates.log",
            "2024-01-01T00:00:00Z backup of 1943-05-01 10:00:00 restored\n\
             2024-01-01T00:00:01Z cert valid until Fri Dec 10 19:02:14 EST 2093\n\
             \tsee 2019-07-07T07:07:07Z in the changelog\n\
             2024-01-01T00:00:02Z done\n",
            &[
                "2024-01-01T00:00:00Z",
                "2024-01-01T00:00:01Z",
                "2024-01-01T00:00:01Z",
                "2024-01-01T00:00:02Z",
            ],
        ),
        // Zone abbreviations: US and European ones applied, UTC/GMT too.
        (
            "zones.log",
            "[Fri Dec 10 19:02:14 EST 2004] a\n\
             [Fri Dec 10 19:02:14 CEST 2004] b\n\
             [Fri Dec 10 19:02:14 GMT 2004] c\n",
            &[
                "2004-12-11T00:02:14Z",
                "2004-12-10T17:02:14Z",
                "2004-12-10T19:02:14Z",
            ],
        ),
        // Numbers that look like epochs in the message: not timestamps.
        (
            "epochish.log",
            "2024-01-01T00:00:00Z user 1234567890 logged in\n\
             1234567890 rows copied\n\
             2024-01-01T00:00:05Z order 1704067200123 shipped\n",
            &[
                "2024-01-01T00:00:00Z",
                "2024-01-01T00:00:00Z",
                "2024-01-01T00:00:05Z",
            ],
        ),
        // Mixed formats in one file, each where its format puts it.
        (
            "mixed.log",
            "I0101 00:00:01.000000    1 main.go:1] klog\n\
             time=\"2024-01-01T00:00:02Z\" level=info msg=containerd\n\
             {\"level\":\"info\",\"ts\":1704067203.5}\n\
             2024-01-01T00:00:04+01:00 iso with offset\n\
             Jan  1 00:00:05 host syslog\n",
            &[
                "2024-01-01T00:00:01Z",
                "2024-01-01T00:00:02Z",
                "2024-01-01T00:00:03.5Z",
                "2023-12-31T23:00:04Z",
                "2024-01-01T00:00:05Z",
            ],
        ),
        // A first line without a timestamp takes the file's first.
        (
            "first_none.log",
            "=== log opened ===\n17/06/09 20:10:40 INFO a\n17/06/09 20:10:41 INFO b\n",
            &[
                "2017-06-09T20:10:40Z",
                "2017-06-09T20:10:40Z",
                "2017-06-09T20:10:41Z",
            ],
        ),
    ];
    for (name, text, want) in cases {
        let f = env.write(name, *text);
        env.ingest([&f]).ok();
        let key = f.canonicalize().unwrap().display().to_string();
        let stored = &stored_by_file(&env.dump())[&key];
        let mut want_pairs: Vec<(i64, Vec<u8>)> = want
            .iter()
            .map(|t| ns(t))
            .zip(file_lines(text.as_bytes()))
            .collect();
        want_pairs.sort();
        assert_eq!(stored, &want_pairs, "{name}");
    }
}
