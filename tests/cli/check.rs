//! `lokal check [--repair]`: every segment, index and manifest entry checked;
//! a repair quarantines, copies, rebuilds — and never deletes data.
use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use crate::common::*;

/// xxh3 of every regular file under `dir` (segments and quarantine alike).
fn contents(dir: &Path) -> BTreeSet<u64> {
    walk(dir)
        .into_iter()
        .filter(|p| fs::symlink_metadata(p).unwrap().is_file())
        .map(|p| xxhash_rust::xxh3::xxh3_64(&fs::read(p).unwrap()))
        .collect()
}

/// The one quarantine directory a repair made.
fn quarantine(env: &TestEnv) -> std::path::PathBuf {
    let q: Vec<_> = fs::read_dir(env.store().join("fake/quarantine"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(q.len(), 1, "{q:?}");
    q.into_iter().next().unwrap()
}

#[test]
fn a_sound_store_checks_clean() {
    let env = TestEnv::new();
    // Two streams of 500 short lines: small enough to share one packed block.
    one_segment_two_streams(&env, 500, false);
    let c = env.write_log("c.log", 20, 1_700_000_000, "c");
    env.cmd(["--tenant", "other", "ingest", "-q"])
        .arg(&c)
        .stdout();
    eqnice!(
        "tenant \"fake\": 1 segments, 1 blocks, 1000 entries readable, 1 indexes: no problems\n",
        env.ok(["check"])
    );
    let all = env.ok(["check", "--all-tenants"]);
    assert!(all.contains("tenant \"other\": 1 segments"), "{all}");
    eqnice!("", env.ok(["check", "-q"]));
    // verify is the same command.
    eqnice!(env.ok(["check"]), env.ok(["verify"]));
    // A repair of a sound store changes nothing.
    let before = fs::read(env.store().join("fake/MANIFEST")).unwrap();
    env.ok(["check", "--repair"]);
    assert_eq!(before, fs::read(env.store().join("fake/MANIFEST")).unwrap());
    assert!(!env.store().join("fake/quarantine").exists());
}

#[test]
fn indexes_are_checked_against_their_footers_and_rebuilt() {
    let env = TestEnv::new();
    let a = env.write_log("a.log", 300, 1_700_000_000, "a"); // 2023-11-14
    let b = env.write_log("b.log", 300, 1_700_006_400, "b"); // 2023-11-15
    let c = env.write_log("c.log", 300, 1_700_006_400 + 86_400, "c"); // 2023-11-16
    env.ingest([&a, &b, &c])
        .args(["--label-from-path", r"/(?P<job>[abc])\.log$"])
        .ok();
    let m = env.manifest();
    let idx: Vec<std::path::PathBuf> = m["indexes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| env.store().join("fake").join(i["path"].as_str().unwrap()))
        .collect();
    assert_eq!(idx.len(), 3);
    // One flipped byte, one deleted file, and one that is a valid index —
    // checksum and all — built from another day's footers.
    let mid = fs::metadata(&idx[0]).unwrap().len() as usize / 2;
    flip(&idx[0], mid, 0x10);
    fs::remove_file(&idx[1]).unwrap();
    let seg_ids: Vec<u64> = m["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_u64().unwrap())
        .collect();
    let other = lokal::chunk::SegmentReader::open(&segments(&env)[1]).unwrap();
    let day = lokal::time::parse_day("2023-11-16").unwrap();
    let wrong = lokal::index::build_day_index(day, &[(seg_ids[2], other.streams())]);
    fs::write(&idx[2], wrong).unwrap();

    let run = env.cmd(["check"]).assert_code(3);
    let out = &run.stdout;
    assert!(
        out.contains(&format!("{}: corrupt index", idx[0].display())),
        "{run}"
    );
    assert!(
        out.contains(&format!(
            "{}: listed in the manifest but missing",
            idx[1].display()
        )),
        "{run}"
    );
    assert!(
        out.contains(&format!(
            "{}: disagrees with the footers of the segments it covers",
            idx[2].display()
        )),
        "{run}"
    );
    // Queries stay right meanwhile where the checksum catches the damage
    // (or the file is gone): the index only accelerates. An index with a
    // valid checksum that lies is what only `check` can see.
    assert_eq!(
        env.ok(["query", "--limit", "0", r#"{job="a"}"#])
            .lines()
            .count(),
        300
    );
    let run = env.cmd(["check", "--repair"]).assert_code(1);
    assert!(
        run.stdout.contains("rebuilt the label index of 3 days"),
        "{run}"
    );
    assert!(
        run.stdout.contains("3 problems, repaired; 0 remain"),
        "{run}"
    );
    env.ok(["check"]);
}

#[test]
fn a_repair_copies_the_readable_blocks_and_quarantines_the_original() {
    let env = TestEnv::new();
    let seg = one_segment_two_streams(&env, 1000, false);
    let (off, len) = block_of(&seg, "a");
    flip(&seg, off as usize + 30, 0x40);
    let damaged = fs::read(&seg).unwrap();

    let run = env.cmd(["check"]).assert_code(3);
    assert!(
        run.stdout.contains(&format!(
            "{}: corrupt block at offset {off} (length {len}): checksum mismatch",
            seg.display()
        )),
        "{run}"
    );
    assert!(
        run.stdout
            .contains("1 of 2 blocks unreadable (1000 entries)"),
        "{run}"
    );

    let run = env.cmd(["check", "--repair"]).assert_code(1);
    assert!(
        run.stdout
            .contains("1 readable blocks (1000 entries) copied into segments/2023-11-14/"),
        "{run}"
    );
    assert!(
        run.stdout.contains("1000 entries could not be kept"),
        "{run}"
    );
    // The damaged original, byte for byte, and a report saying why.
    let q = quarantine(&env);
    let kept = q.join("segments/2023-11-14/0000000000000001.seg");
    assert_eq!(fs::read(&kept).unwrap(), damaged);
    let report = fs::read_to_string(q.join("REPORT")).unwrap();
    assert!(
        report.contains("segments/2023-11-14/0000000000000001.seg: 1 blocks unreadable"),
        "{report}"
    );
    assert!(!seg.exists(), "the original left segments/");
    // The store is sound again and holds stream b whole.
    env.ok(["check"]);
    let got = by_file(&env.dump());
    assert_eq!(got.len(), 1);
    assert_eq!(got.values().next().unwrap().len(), 1000);
    assert_eq!(
        env.ok(["query", "--limit", "0", r#"{job=~".+"}"#])
            .lines()
            .count(),
        1000
    );
}

#[test]
fn a_repair_drops_missing_segments_and_takes_the_footers_summary() {
    let env = TestEnv::new();
    let a = env.write_log("a.log", 200, 1_700_000_000, "a");
    let b = env.write_log("b.log", 300, 1_700_000_000, "b");
    env.ingest([&a]).label("job=a").ok();
    env.ingest([&b]).label("job=b").ok();
    let segs = segments(&env);
    fs::remove_file(&segs[0]).unwrap();
    let mut m = env.manifest();
    m["segments"][1]["entries"] = 7.into();
    env.write_manifest(&m);
    let run = env.cmd(["check"]).assert_code(3);
    assert!(
        run.stdout.contains(&format!(
            "{}: listed in the manifest but missing (200 entries lost)",
            segs[0].display()
        )),
        "{run}"
    );
    assert!(
        run.stdout.contains(
            "summary disagrees with the footer (entries 7 in the manifest, 300 in the file)"
        ),
        "{run}"
    );
    env.cmd(["check", "--repair"]).assert_code(1);
    env.ok(["check"]);
    assert_eq!(env.manifest()["segments"][0]["entries"], 300);
    assert_eq!(env.dump().len(), 300);
}

#[test]
fn a_truncated_manifest_is_rebuilt_from_the_footers() {
    let env = TestEnv::new();
    let a = env.write_log("a.log", 400, 1_700_000_000, "a"); // two days
    let b = env.write_log("b.log", 400, 1_700_006_000, "b");
    env.ingest([&a]).label("job=a").ok();
    env.ingest([&b]).label("job=b").ok();
    let want = env.dump();
    let path = env.store().join("fake/MANIFEST");
    let bytes = fs::read(&path).unwrap();
    let cut = &bytes[..bytes.len() / 3];
    fs::write(&path, cut).unwrap();

    let run = env.cmd(["query", r#"{job="a"}"#]).assert_code(3);
    assert!(run.stderr.contains("corrupt manifest"), "{run}");
    let run = env.cmd(["check"]).assert_code(3);
    assert!(run.stdout.contains("MANIFEST: corrupt: "), "{run}");
    let run = env.cmd(["check", "--repair"]).assert_code(1);
    assert!(
        run.stdout.contains("from the footers of the files on disk"),
        "{run}"
    );
    assert!(run.stdout.contains("input positions: 0 kept"), "{run}");
    assert_eq!(env.dump(), want, "every entry back");
    assert_eq!(fs::read(quarantine(&env).join("MANIFEST")).unwrap(), cut);
    env.ok(["check"]);
    // The rebuilt store takes new data as any other.
    let c = env.write_log("c.log", 10, 1_700_000_000, "c");
    env.ingest([&c]).label("job=c").ok();
    assert_eq!(env.dump().len(), want.len() + 10);
}

#[test]
fn a_manifest_with_one_bad_entry_keeps_its_positions() {
    let env = TestEnv::new();
    let a = env.write_log("a.log", 100, 1_700_000_000, "a");
    env.ingest([&a]).label("job=a").ok();
    let mut m = env.manifest();
    m["segments"][0]["path"] = "/etc/passwd".into();
    env.write_manifest(&m);
    let run = env.cmd(["check", "--repair"]).assert_code(1);
    assert!(run.stdout.contains("input positions: 1 kept"), "{run}");
    // The position survived: the same file is not read again.
    env.ingest([&a]).label("job=a").ok();
    assert_eq!(env.dump().len(), 100);
}

#[test]
fn strays_move_to_quarantine() {
    let env = TestEnv::new();
    let seg = one_segment_two_streams(&env, 10, false);
    let day = seg.parent().unwrap();
    let fifo = day.join("0000000000000099.seg");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    std::os::unix::fs::symlink("/etc", day.join("etc")).unwrap();
    fs::write(day.join("notes.txt"), "mine").unwrap();
    std::os::unix::fs::symlink("/tmp", env.store().join("fake/segments/2023-11-20")).unwrap();
    let run = env
        .cmd(["check"])
        .timeout(std::time::Duration::from_secs(20))
        .assert_code(3);
    for (name, what) in [
        ("2023-11-14/0000000000000099.seg", "is not a regular file"),
        ("2023-11-14/etc", "is not a file lokal writes"),
        ("2023-11-14/notes.txt", "is not a file lokal writes"),
        ("2023-11-20", "is a symbolic link"),
    ] {
        assert!(
            run.stdout.contains(&format!("segments/{name}: {what}")),
            "{name}: {run}"
        );
    }
    env.cmd(["check", "--repair"]).assert_code(1);
    let q = quarantine(&env);
    assert_eq!(
        fs::read_to_string(q.join("segments/2023-11-14/notes.txt")).unwrap(),
        "mine"
    );
    assert!(fs::symlink_metadata(q.join("segments/2023-11-20"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(
        fs::read_dir("/etc").unwrap().next().is_some(),
        "links moved, targets untouched"
    );
    env.ok(["check"]);
    assert_eq!(env.dump().len(), 20);
}

#[test]
fn a_repair_never_deletes_data() {
    let env = TestEnv::new();
    let seg = one_segment_two_streams(&env, 300, false);
    let x = env.write_log("x.log", 300, 1_700_006_400, "x");
    env.ingest([&x]).label("job=x").ok();
    let segs = segments(&env);
    // Damage one block of the first segment, truncate the second.
    let (off, _) = block_of(&seg, "b");
    flip(&seg, off as usize + 9, 0x02);
    let len = fs::metadata(&segs[1]).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&segs[1])
        .unwrap()
        .set_len(len - 10)
        .unwrap();
    let before = contents(&env.store().join("fake/segments"));
    env.cmd(["check", "--repair"]).assert_code(1);
    let after = contents(&env.store().join("fake"));
    assert!(
        before.is_subset(&after),
        "every segment file as it was is still in the tenant (segments/ or quarantine/)"
    );
    env.ok(["check"]);
}

#[test]
fn check_takes_no_lock_and_repair_waits_for_it() {
    let env = TestEnv::new();
    one_segment_two_streams(&env, 10, false);
    let lock = fs::File::create(env.store().join("lokal.lock")).unwrap();
    lock.lock().unwrap();
    env.ok(["check"]);
    let run = env
        .cmd(["check", "--repair", "--lock-timeout", "200ms"])
        .assert_code(3);
    assert!(
        run.stderr
            .contains("another lokal writer holds the store lock"),
        "{run}"
    );
}

#[test]
fn positions_are_checked_against_their_files() {
    let env = TestEnv::new();
    let gone = env.write_log("gone.log", 10, 1_700_000_000, "g");
    let cut = env.write_log("cut.log", 10, 1_700_000_000, "c");
    let kept = env.write_log("kept.log", 10, 1_700_000_000, "k");
    env.ingest([&gone, &cut, &kept]).label("job=x").ok();
    fs::remove_file(&gone).unwrap();
    fs::write(&cut, "").unwrap();
    let out = env.cmd(["check"]).assert_code(0);
    let cut_key = cut.display().to_string();
    // A file rotated away is the normal course of a log's life: no note.
    assert!(!out.stdout.contains("gone.log"), "{out}");
    assert!(
        out.stdout.contains(&format!(
            "position of {cut_key}: the file is shorter (0 bytes)"
        )),
        "{out}"
    );
    assert!(!out.stdout.contains("kept.log"), "{out}");
    // A position that contradicts itself is a problem, and a repair keeps it
    // (dropping it would make the next ingest store the file again).
    let mut m = env.manifest();
    let key = kept.display().to_string();
    m["positions"][&key]["tail_len"] = serde_json::json!(1_000_000);
    env.write_manifest(&m);
    let out = env.cmd(["check"]).assert_code(3);
    assert!(
        out.stdout
            .contains(&format!("position of {key}: inconsistent")),
        "{out}"
    );
    env.cmd(["check", "--repair"]).assert_code(3);
    assert_eq!(env.manifest()["positions"][&key]["tail_len"], 1_000_000);
}
