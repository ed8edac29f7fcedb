//! The golden store of on-disk format version 1 (`tests/fixtures/store_v1`,
//! made by `tests/fixtures/make_store_v1.sh`), as tantivy keeps an index per
//! format version in its compat tests.
//!
//! **Every later lokal must keep opening this store and reading exactly
//! what it holds.** When the format changes, add `store_v2` beside it (and
//! its test); never regenerate, edit or delete `store_v1`, and never change
//! an expectation here to match a new reader: a difference is a
//! compatibility break.
//!
//! Queries run on a copy in a temporary directory, never on the fixture;
//! the fixture's bytes are checked first and the copy's bytes last, so a
//! reader that writes (or an edited fixture) is caught.
use std::fs;
use std::path::{Path, PathBuf};

use crate::common::*;

/// A fixture (`store_v1`, `store_v2`), in the source tree.
pub(crate) fn fixture_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// This one.
fn fixture() -> PathBuf {
    fixture_dir("store_v1")
}

/// Every file of the fixture: (path, length, xxh3-64 of its bytes).
#[rustfmt::skip]
const FILES: &[(&str, u64, u64)] = &[
    ("fake/MANIFEST", 3810, 0x1fec4f13cda55d67),
    ("fake/index/2024-01-01-4.idx", 911, 0xa1a1b4ebe683c3d0),
    ("fake/index/2024-01-01-5.idx", 1028, 0x1a5c6dd68171a1ee),
    ("fake/index/2024-01-02-3.idx", 627, 0x436630030d9f242a),
    ("fake/index/2024-01-02-5.idx", 740, 0xaafc8c77a84399d1),
    ("fake/segments/2024-01-01/0000000000000001.seg", 229, 0xfa293b4962e6dafa),
    ("fake/segments/2024-01-01/0000000000000003.seg", 178, 0x5e32a75ced1d4c98),
    ("fake/segments/2024-01-01/0000000000000005.seg", 389, 0x578a2f8c79f65f61),
    ("fake/segments/2024-01-01/0000000000000007.seg", 231, 0x998fed8051de7584),
    ("fake/segments/2024-01-01/0000000000000008.seg", 188, 0xaa21a70fdfc99c85),
    ("fake/segments/2024-01-02/0000000000000002.seg", 213, 0x5fc32965c9ad8f26),
    ("fake/segments/2024-01-02/0000000000000004.seg", 177, 0x78f9eaaf9aebc239),
    ("fake/segments/2024-01-02/0000000000000006.seg", 216, 0x986921a4f5b7d808),
    ("fake/segments/2024-01-02/0000000000000009.seg", 147, 0xece94db00ce5c594),
    ("lokal.lock", 0, 0x2d06800538d394c2),
    ("team-b/MANIFEST", 967, 0x20b036e26137ef73),
    ("team-b/index/2024-01-01-1.idx", 375, 0x06a0452dbb1b6aa6),
    ("team-b/index/2024-01-02-1.idx", 375, 0x6f89fbca42c5e321),
    ("team-b/segments/2024-01-01/0000000000000001.seg", 174, 0x2d266ed274059ed2),
    ("team-b/segments/2024-01-02/0000000000000002.seg", 183, 0x4bc46163982e718b),
];

/// `(path, length, xxh3-64)` of every file below `root`, sorted by path.
pub(crate) fn files(root: &Path) -> Vec<(String, u64, u64)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, u64, u64)>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let bytes = fs::read(&p).unwrap();
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.push((rel, bytes.len() as u64, xxhash_rust::xxh3::xxh3_64(&bytes)));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// Asserts `root` holds exactly the fixture's files, byte for byte.
#[track_caller]
fn assert_frozen(root: &Path, what: &str) {
    assert_files(root, what, "store_v1", FILES);
}

/// Asserts `root` holds exactly the files `frozen` of fixture `name`.
#[track_caller]
pub(crate) fn assert_files(root: &Path, what: &str, name: &str, frozen: &[(&str, u64, u64)]) {
    let got = files(root);
    let want: Vec<(String, u64, u64)> = frozen
        .iter()
        .map(|&(p, l, h)| (p.to_string(), l, h))
        .collect();
    if got != want {
        let table: String = got
            .iter()
            .map(|(p, l, h)| format!("    ({p:?}, {l}, {h:#018x}),\n"))
            .collect();
        panic!("{what} differs from the frozen {name}; it now holds:\n{table}");
    }
}

/// Copies the fixture into `env`'s store directory.
fn copy_into(env: &TestEnv) {
    copy_fixture(env, &fixture());
}

/// Copies the fixture at `dir` into `env`'s store directory.
pub(crate) fn copy_fixture(env: &TestEnv, dir: &Path) {
    for (rel, _, _) in files(dir) {
        let to = env.store().join(&rel);
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(dir.join(&rel), to).unwrap();
    }
}

/// One `lokal dump` record: `ts<TAB>stream labels<TAB>line`.
fn rec(ts: i64, labels: &str, line: &str) -> String {
    format!("{ts}\t{labels}\t{line}")
}

/// `lokal dump` of `tenant`, one string per entry (an entry's line may hold
/// `\n`: a record starts at a line beginning with a digit), sorted, since
/// dump's order is not part of the format.
fn dump(env: &TestEnv, tenant: &str) -> Vec<String> {
    let out = env.cmd(["--tenant", tenant, "dump"]).stdout();
    let mut recs: Vec<String> = Vec::new();
    for line in out.lines() {
        match recs.last_mut() {
            Some(r) if !line.starts_with(|c: char| c.is_ascii_digit()) => {
                r.push('\n');
                r.push_str(line);
            }
            _ => recs.push(line.to_string()),
        }
    }
    recs.sort();
    recs
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

const API: &str = r#"{env="prod", job="api"}"#;
pub(crate) const JAVA: &str = r#"{env="dev", job="java"}"#;
pub(crate) const PUSH: &str = r#"{app="push", env="prod"}"#;
const WEB_H1: &str =
    r#"{env="prod", filename="/tmp/lokal-store-v1-inputs/web-h1.log", host="h1", job="web"}"#;
const WEB_H2: &str =
    r#"{env="prod", filename="/tmp/lokal-store-v1-inputs/web-h2.log", host="h2", job="web"}"#;

/// Every entry of tenant `fake` with its stream labels (metadata is not a
/// stream label: see [`FAKE_JSONL`]).
#[rustfmt::skip]
fn fake_entries() -> Vec<String> {
    sorted(vec![
        rec(1704153597000000000, API, r#"2024-01-01T23:59:57Z level=info msg="late arrival" status=200"#),
        rec(1704153598000000000, API, r#"2024-01-01T23:59:58Z level=info msg="GET /a" status=200"#),
        rec(1704153599000000000, API, r#"2024-01-01T23:59:59Z level=error msg="GET /b" status=500"#),
        rec(1704153601000000000, API, r#"2024-01-02T00:00:01Z level=info msg="GET /a" status=200"#),
        rec(1704153601000000000, API, r#"2024-01-02T00:00:01Z level=info msg="GET /a" status=200"#),
        rec(1704153601000000000, API, "this line has no timestamp"),
        rec(1704110400000000000, API, r#"2024-01-01T12:00:00Z level=info msg="backfill" status=204"#),
        rec(1704153603000000000, API, r#"2024-01-02T00:00:03Z level=warn msg="slow" duration=1.5s"#),
        rec(1704103200000000000, WEB_H1, "2024-01-01T10:00:00Z GET /index.html 200"),
        rec(1704106800123456789, WEB_H2, "2024-01-01T11:00:00.123456789Z POST /login 302"),
        rec(1704189600000000000, WEB_H1, "2024-01-02T10:00:00Z GET /index.html 304"),
        rec(1704096000000000000, JAVA, "2024-01-01T08:00:00Z INFO starting"),
        rec(1704096001000000000, JAVA, "2024-01-01T08:00:01Z ERROR boom\n\tat a.b(C.java:1)\n\tat d.e(F.java:2)"),
        rec(1704096002000000000, JAVA, "2024-01-01T08:00:02Z INFO recovered"),
        rec(1704110400000000000, PUSH, "user logged in"),
        rec(1704110401000000000, PUSH, "no metadata here"),
        rec(1704196800000000000, PUSH, "day two"),
    ])
}

/// `lokal query -o jsonl --limit 0 --forward` over tenant `fake`: every
/// entry in time order (ties by stream labels), with its structured
/// metadata among the labels (`trace_id`, `user`).
const FAKE_JSONL: &str = r#"{"labels":{"env":"dev","job":"java"},"line":"2024-01-01T08:00:00Z INFO starting","timestamp":"2024-01-01T08:00:00Z"}
{"labels":{"env":"dev","job":"java"},"line":"2024-01-01T08:00:01Z ERROR boom\n\tat a.b(C.java:1)\n\tat d.e(F.java:2)","timestamp":"2024-01-01T08:00:01Z"}
{"labels":{"env":"dev","job":"java"},"line":"2024-01-01T08:00:02Z INFO recovered","timestamp":"2024-01-01T08:00:02Z"}
{"labels":{"env":"prod","filename":"/tmp/lokal-store-v1-inputs/web-h1.log","host":"h1","job":"web"},"line":"2024-01-01T10:00:00Z GET /index.html 200","timestamp":"2024-01-01T10:00:00Z"}
{"labels":{"env":"prod","filename":"/tmp/lokal-store-v1-inputs/web-h2.log","host":"h2","job":"web"},"line":"2024-01-01T11:00:00.123456789Z POST /login 302","timestamp":"2024-01-01T11:00:00.123456789Z"}
{"labels":{"app":"push","env":"prod","trace_id":"abc123","user":"alice"},"line":"user logged in","timestamp":"2024-01-01T12:00:00Z"}
{"labels":{"env":"prod","job":"api"},"line":"2024-01-01T12:00:00Z level=info msg=\"backfill\" status=204","timestamp":"2024-01-01T12:00:00Z"}
{"labels":{"app":"push","env":"prod"},"line":"no metadata here","timestamp":"2024-01-01T12:00:01Z"}
{"labels":{"env":"prod","job":"api"},"line":"2024-01-01T23:59:57Z level=info msg=\"late arrival\" status=200","timestamp":"2024-01-01T23:59:57Z"}
{"labels":{"env":"prod","job":"api"},"line":"2024-01-01T23:59:58Z level=info msg=\"GET /a\" status=200","timestamp":"2024-01-01T23:59:58Z"}
{"labels":{"env":"prod","job":"api"},"line":"2024-01-01T23:59:59Z level=error msg=\"GET /b\" status=500","timestamp":"2024-01-01T23:59:59Z"}
{"labels":{"env":"prod","job":"api"},"line":"2024-01-02T00:00:01Z level=info msg=\"GET /a\" status=200","timestamp":"2024-01-02T00:00:01Z"}
{"labels":{"env":"prod","job":"api"},"line":"2024-01-02T00:00:01Z level=info msg=\"GET /a\" status=200","timestamp":"2024-01-02T00:00:01Z"}
{"labels":{"env":"prod","job":"api"},"line":"this line has no timestamp","timestamp":"2024-01-02T00:00:01Z"}
{"labels":{"env":"prod","job":"api"},"line":"2024-01-02T00:00:03Z level=warn msg=\"slow\" duration=1.5s","timestamp":"2024-01-02T00:00:03Z"}
{"labels":{"env":"prod","filename":"/tmp/lokal-store-v1-inputs/web-h1.log","host":"h1","job":"web"},"line":"2024-01-02T10:00:00Z GET /index.html 304","timestamp":"2024-01-02T10:00:00Z"}
{"labels":{"app":"push","env":"prod","trace_id":"def456"},"line":"day two","timestamp":"2024-01-02T12:00:00Z"}
"#;

/// The same for tenant `team-b`.
const TEAM_B_JSONL: &str = r#"{"labels":{"env":"staging","job":"api"},"line":"2024-01-01T09:00:00Z level=info msg=\"other tenant\"","timestamp":"2024-01-01T09:00:00Z"}
{"labels":{"env":"staging","job":"api"},"line":"2024-01-02T09:00:00Z level=info msg=\"other tenant, day two\"","timestamp":"2024-01-02T09:00:00Z"}
"#;

/// `labels`/`series` questions and their answers over tenant `fake`.
pub(crate) const LABEL_ANSWERS: &[(&[&str], &str)] = &[
    (&["labels"], "app\nenv\nfilename\nhost\njob\n"),
    (&["labels", "job"], "api\njava\nweb\n"),
    (&["labels", "host"], "h1\nh2\n"),
    (
        &["series", "{}"],
        concat!(
            "{app=\"push\", env=\"prod\"}\n",
            "{env=\"dev\", job=\"java\"}\n",
            "{env=\"prod\", filename=\"/tmp/lokal-store-v1-inputs/web-h1.log\", host=\"h1\", job=\"web\"}\n",
            "{env=\"prod\", filename=\"/tmp/lokal-store-v1-inputs/web-h2.log\", host=\"h2\", job=\"web\"}\n",
            "{env=\"prod\", job=\"api\"}\n",
        ),
    ),
    (
        &["series", r#"{job="web", host!="h2"}"#],
        "{env=\"prod\", filename=\"/tmp/lokal-store-v1-inputs/web-h1.log\", host=\"h1\", job=\"web\"}\n",
    ),
];

/// Every entry of both tenants, through `dump` and through a query.
pub(crate) fn assert_entries(env: &TestEnv) {
    assert_eq!(dump(env, "fake"), fake_entries());
    assert_eq!(
        dump(env, "team-b"),
        sorted(vec![
            rec(
                1704099600000000000,
                r#"{env="staging", job="api"}"#,
                r#"2024-01-01T09:00:00Z level=info msg="other tenant""#
            ),
            rec(
                1704186000000000000,
                r#"{env="staging", job="api"}"#,
                r#"2024-01-02T09:00:00Z level=info msg="other tenant, day two""#
            ),
        ])
    );
    let jsonl = |tenant: &str| {
        // With the common labels, as an export to be read back needs them.
        env.cmd(["--tenant", tenant, "query", "-o", "jsonl", "--limit", "0"])
            .args(["--include-common-labels", "--forward", "-z", "UTC"])
            .arg(r#"{env=~".+"}"#)
            .stdout()
    };
    eqnice!(FAKE_JSONL, jsonl("fake"), "tenant fake");
    eqnice!(TEAM_B_JSONL, jsonl("team-b"), "tenant team-b");
}

#[test]
fn store_v1_reads_back_exactly() {
    assert_frozen(&fixture(), "tests/fixtures/store_v1");
    let env = TestEnv::new();
    copy_into(&env);

    assert_entries(&env);

    eqnice!(
        "tenant \"fake\": 9 segments, 10 blocks, 17 entries readable, 2 indexes: no problems\n",
        env.ok(["verify"])
    );
    eqnice!(
        "tenant \"team-b\": 2 segments, 2 blocks, 2 entries readable, 2 indexes: no problems\n",
        env.ok(["--tenant", "team-b", "verify"])
    );
    for (args, want) in LABEL_ANSWERS {
        eqnice!(*want, env.ok(*args), "lokal {}", args.join(" "));
    }

    // Per tenant and day: streams and entries.
    let stats = env.cmd(["stats", "--all-tenants", "-o", "json"]).json();
    let rows: Vec<(String, String, u64, u64)> = stats
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["tenant"].as_str().unwrap().to_string(),
                r["day"].as_str().unwrap().to_string(),
                r["streams"].as_u64().unwrap(),
                r["entries"].as_u64().unwrap(),
            )
        })
        .collect();
    let row = |t: &str, d: &str, s, e| (t.to_string(), d.to_string(), s, e);
    assert_eq!(
        rows,
        [
            row("fake", "2024-01-01", 5, 11),
            row("fake", "2024-01-02", 3, 6),
            row("team-b", "2024-01-01", 1, 1),
            row("team-b", "2024-01-02", 1, 1),
        ]
    );

    // Reading changed nothing, not even in the copy.
    assert_frozen(env.store(), "the copy, after the queries,");
}

/// Every `labels`/`series` answer, exact and without a warning, from
/// the store as it is (its segments removed, for the index alone).
pub(crate) fn assert_index_answers(env: &TestEnv) {
    for (args, want) in LABEL_ANSWERS {
        let run = env.cmd(*args).assert_code(0);
        eqnice!(
            *want,
            run.stdout,
            "lokal {} from the index alone",
            args.join(" ")
        );
        eqnice!(
            "",
            run.stderr,
            "lokal {} from the index alone",
            args.join(" ")
        );
    }
}

/// The labels and series above come from the day indexes: with every
/// segment file of the copy removed, the answers stay the same, with no
/// warning; with the indexes removed too, they do not.
#[test]
fn store_v1_index_answers_alone() {
    let env = TestEnv::new();
    copy_into(&env);
    fs::remove_dir_all(env.store().join("fake/segments")).unwrap();
    assert_index_answers(&env);
    fs::remove_dir_all(env.store().join("fake/index")).unwrap();
    let run = env.cmd(["labels"]).run();
    assert_ne!(run.stdout, LABEL_ANSWERS[0].1, "{run}");
}

/// The fixture holds what it was made to cover: blocks with '\n'-terminated
/// lines (flag bit 0) and with a length column (bit 0 clear, the multiline
/// entry), and a structured-metadata column (bit 1).
#[test]
fn store_v1_covers_both_line_encodings_and_metadata() {
    let mut flags = Vec::new();
    for (rel, _, _) in files(&fixture()) {
        if !rel.ends_with(".seg") {
            continue;
        }
        let seg = lokal::chunk::SegmentReader::open(&fixture().join(&rel)).unwrap();
        for s in seg.streams() {
            for b in &s.blocks {
                let raw = zstd::decode_all(seg.block_bytes(b).unwrap()).unwrap();
                flags.push((s.labels.to_string(), raw[0]));
            }
        }
    }
    flags.sort();
    assert_eq!(flags.len(), 12, "{flags:?}");
    let has = |f: &dyn Fn(u8) -> bool| flags.iter().any(|(_, x)| f(*x));
    assert!(has(&|x| x & 1 == 1), "a '\\n'-terminated block: {flags:?}");
    assert!(
        flags.iter().any(|(l, x)| l.as_str() == JAVA && x & 1 == 0),
        "the multiline entry's block has a length column: {flags:?}"
    );
    assert!(
        flags.iter().any(|(l, x)| l.as_str() == PUSH && x & 2 == 2),
        "the push stream's blocks carry metadata: {flags:?}"
    );
}
