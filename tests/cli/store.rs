//! Store robustness: corrupted blocks, concurrent writers (a full disk:
//! `crash.rs`); a damaged store never answers as if complete (issue 11,
//! finding 4), and the MANIFEST is never trusted blindly (finding 5).
use std::fs;

use crate::common::*;

#[test]
fn corrupted_block_is_named_and_the_rest_stays_readable() {
    let env = TestEnv::new();
    let a = env.write_log("a.log", 3000, 1_700_000_000, "a");
    let b = env.write_log("b.log", 3000, 1_700_000_000, "b");
    env.ingest([&a, &b]).ok();
    let seg = segments(&env).remove(0);
    // The first block starts right after the 16-byte header.
    let mut bytes = fs::read(&seg).unwrap();
    for b in &mut bytes[40..48] {
        *b ^= 0x5a;
    }
    fs::write(&seg, &bytes).unwrap();

    let out = env.cmd(["verify"]).assert_code(3);
    assert!(
        out.stdout
            .contains(&format!("{}: corrupt block at offset 16", seg.display())),
        "{out}"
    );

    let out = env.cmd(["dump"]).assert_code(3);
    let entries = parse_dump(&out.bytes);
    let files = by_file(&entries);
    assert_eq!(files.len(), 1, "the other stream's chunk is intact");
    assert_eq!(files.values().next().unwrap().len(), 3000);
}

#[test]
fn damaged_footer_names_the_segment() {
    let env = TestEnv::new();
    let a = env.write_log("a.log", 100, 1_700_000_000, "a");
    env.ingest([&a]).ok();
    let seg = segments(&env).remove(0);
    let mut bytes = fs::read(&seg).unwrap();
    let n = bytes.len();
    bytes[n - 40] ^= 0xff;
    fs::write(&seg, &bytes).unwrap();
    let out = env.cmd(["verify"]).assert_code(3);
    assert!(out.stdout.contains("footer checksum mismatch"), "{out}");
}

#[test]
fn a_second_writer_waits_or_times_out() {
    let env = TestEnv::new();
    fs::create_dir_all(env.store()).unwrap();
    let lock = fs::File::create(env.store().join("lokal.lock")).unwrap();
    lock.lock().unwrap();
    let a = env.write_log("a.log", 5, 1_700_000_000, "a");
    let out = env
        .ingest([&a])
        .args(["-q", "--lock-timeout", "200ms"])
        .cmd()
        .assert_code(3);
    assert!(out
        .stderr
        .contains("another lokal writer holds the store lock"));
    drop(lock);
    env.ingest([&a]).args(["--lock-timeout", "5s"]).ok();
}

#[test]
fn a_truncated_segment_is_an_error_not_nothing_matched() {
    for no_index in [false, true] {
        let env = TestEnv::new();
        let seg = one_segment_two_streams(&env, 1000, no_index);
        let len = fs::metadata(&seg).unwrap().len();
        let f = fs::OpenOptions::new().write(true).open(&seg).unwrap();
        f.set_len(len / 2).unwrap();
        drop(f);
        let named = |stderr: &str| {
            stderr.contains(&format!("lokal: {}: corrupt segment", seg.display()))
                && stderr.contains("the answer would be incomplete")
        };
        for q in [
            &["query", r#"{job="a"}"#][..],
            &["query", "-q", "--limit", "0", r#"{job=~".+"}"#],
            &["query", "-q", r#"count_over_time({job="a"}[1h])"#],
            &[
                "instant-query",
                "-q",
                "--now",
                "2023-11-14T23:00:00Z",
                r#"count_over_time({job="a"}[1d])"#,
            ],
        ] {
            let run = env.cmd(q).assert_code(3);
            assert!(run.stdout.is_empty() && named(&run.stderr), "{run}");
        }
        // --allow-partial prints what could be read (nothing here: the one
        // segment is gone) and still says what is missing, even with -q.
        let run = env
            .cmd(["query", "-q", "--allow-partial", r#"{job="a"}"#])
            .assert_code(1);
        assert!(
            run.stderr.contains("warning: could not read") && run.stderr.contains("incomplete"),
            "{run}"
        );
        if no_index {
            // Label lookups read the footers here: the same error.
            for q in [&["labels"][..], &["labels", "job"], &["series", "{}"]] {
                let run = env.cmd(q).assert_code(3);
                assert!(named(&run.stderr), "{run}");
            }
        }
    }
}

#[test]
fn one_flipped_byte_fails_the_query_instead_of_returning_half() {
    let env = TestEnv::new();
    let seg = one_segment_two_streams(&env, 1000, false);
    let (off, _) = block_of(&seg, "a");
    assert_eq!(
        env.ok(["query", "--limit", "0", r#"{job=~".+"}"#])
            .lines()
            .count(),
        2000
    );
    // A bit inside the block (past the zstd frame header).
    flip(&seg, off as usize + 20, 0x01);
    let want = format!("lokal: {}: corrupt block at offset {off} ", seg.display());
    for q in [
        &["query", "--limit", "0", r#"{job=~".+"}"#][..],
        &["query", "-q", "--limit", "0", r#"{job=~".+"}"#],
        &["query", "-q", "-o", "json", r#"{job=~".+"}"#],
        &["query", "-q", r#"sum(count_over_time({job=~".+"}[1h]))"#],
        &[
            "query",
            "-q",
            r#"sum(count_over_time({job=~".+"} |= "event" [1h]))"#,
        ],
        &[
            "instant-query",
            "-q",
            "--now",
            "2023-11-15T00:00:00Z",
            r#"sum(count_over_time({job=~".+"}[1d]))"#,
        ],
    ] {
        let run = env.cmd(q).assert_code(3);
        assert!(run.stdout.is_empty(), "nothing printed: {run}");
        assert!(
            run.stderr.contains(&want) && run.stderr.contains("checksum mismatch"),
            "{run}"
        );
    }
    // The intact stream alone is complete: no error.
    assert_eq!(
        env.ok(["query", "--limit", "0", r#"{job="b"}"#])
            .lines()
            .count(),
        1000
    );
    // --allow-partial: the 1,000 readable lines, exit 0, and the warning.
    let run = env
        .cmd([
            "query",
            "-q",
            "--allow-partial",
            "--limit",
            "0",
            r#"{job=~".+"}"#,
        ])
        .assert_code(0);
    assert_eq!(run.stdout.lines().count(), 1000);
    assert!(
        run.stderr
            .contains(&format!("could not read {}", seg.display())),
        "{run}"
    );
}

#[test]
fn manifest_paths_outside_the_tenant_are_refused() {
    let env = TestEnv::new();
    let a = env.write_log("a.log", 100, 1_700_000_000, "a");
    env.ingest([&a]).label("job=a").ok();
    let outside = env.write("outside/x.seg", "not yours");
    let _ = outside;
    let good = env.manifest();
    for path in [
        "../../outside/x.seg",
        "/etc/passwd",
        "segments/../../outside/x.seg",
    ] {
        let mut m = good.clone();
        m["segments"][0]["path"] = path.into();
        env.write_manifest(&m);
        for q in [
            &["query", r#"{job="a"}"#][..],
            &["labels"],
            &["stats"],
            &["dump"],
        ] {
            let run = env.cmd(q).assert_code(3);
            assert!(
                run.stderr.contains("corrupt manifest")
                    && run
                        .stderr
                        .contains(&format!("path {path:?} is not the plain name"))
                    && run.stderr.contains("check --repair"),
                "{run}"
            );
        }
        // A writer refuses too, and leaves everything where it was.
        env.ingest([&a]).label("job=a").cmd().assert_code(3);
        assert!(segments_on_disk(&env) == 1);
    }
    // check names it; --repair adopts the segment from its footer.
    let run = env.cmd(["check"]).assert_code(3);
    assert!(run.stdout.contains("is not the plain name"), "{run}");
    env.cmd(["check", "--repair"]).assert_code(1);
    assert_eq!(
        env.ok(["query", "--limit", "0", r#"{job="a"}"#])
            .lines()
            .count(),
        100
    );
    env.ok(["check"]);
}

#[test]
fn a_fifo_or_a_symlink_in_place_of_a_segment_is_refused_without_hanging() {
    let env = TestEnv::new();
    let seg = one_segment_two_streams(&env, 50, false);
    let copy = env.path().join("copy.seg");
    fs::copy(&seg, &copy).unwrap();
    // A symlink to a valid segment outside the store: not followed.
    fs::remove_file(&seg).unwrap();
    std::os::unix::fs::symlink(&copy, &seg).unwrap();
    let run = env.cmd(["query", r#"{job="a"}"#]).assert_code(3);
    assert!(run.stderr.contains("is a symbolic link"), "{run}");
    let run = env.cmd(["check"]).assert_code(3);
    assert!(run.stdout.contains("is a symbolic link"), "{run}");
    // A FIFO: nobody writes to it, so a blocking open would hang forever.
    fs::remove_file(&seg).unwrap();
    let c = std::ffi::CString::new(seg.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    for q in [
        &["query", r#"{job="a"}"#][..],
        &["check"],
        &["stats"],
        &["dump"],
    ] {
        let run = env
            .cmd(q)
            .timeout(std::time::Duration::from_secs(20))
            .assert_code(3);
        assert!(
            format!("{run}").contains("not a regular file (a FIFO)"),
            "{run}"
        );
    }
    // A repair moves the FIFO out (copying it would wait for a writer) and
    // drops the entry; the other segments keep answering.
    env.cmd(["check", "--repair"])
        .timeout(std::time::Duration::from_secs(20))
        .assert_code(1);
    env.ok(["check"]);
    env.cmd(["query", r#"{job="a"}"#]).assert_code(1);
}

#[test]
fn a_symlinked_day_folder_is_not_followed_for_writes_or_reads() {
    let env = TestEnv::new();
    let a = env.write_log("a.log", 10, 1_700_000_000, "a"); // 2023-11-14
    env.ingest([&a]).label("job=a").ok();
    let outside = env.path().join("outside");
    fs::create_dir_all(&outside).unwrap();
    // A file named like a segment, outside the store: a writer cleaning up
    // leftovers must not delete it through the link.
    let bait = outside.join("00000000000000ff.seg");
    fs::write(&bait, "precious").unwrap();
    std::os::unix::fs::symlink(&outside, env.store().join("fake/segments/2023-11-15")).unwrap();
    // Writing into the linked day is refused...
    let b = env.write_log("b.log", 10, 1_700_006_400, "b"); // 2023-11-15
    let run = env.ingest([&b]).label("job=b").cmd().assert_code(3);
    assert!(run.stderr.contains("is a symbolic link"), "{run}");
    assert_eq!(
        fs::read_dir(&outside).unwrap().count(),
        1,
        "nothing written outside"
    );
    assert_eq!(fs::read(&bait).unwrap(), b"precious");
    // ...while other days still ingest, and the bait survives the cleanup.
    let c = env.write_log("c.log", 10, 1_700_000_100, "c");
    env.ingest([&c]).label("job=c").ok();
    assert_eq!(fs::read(&bait).unwrap(), b"precious");
    // A day directory replaced by a link is not read through either.
    let day = env.store().join("fake/segments/2023-11-14");
    let moved = env.path().join("moved-day");
    fs::rename(&day, &moved).unwrap();
    std::os::unix::fs::symlink(&moved, &day).unwrap();
    let run = env.cmd(["query", r#"{job="a"}"#]).assert_code(3);
    assert!(run.stderr.contains("is a symbolic link"), "{run}");
}

#[test]
fn a_colliding_next_segment_id_never_overwrites_a_live_segment() {
    let env = TestEnv::new();
    let a = env.write_log("a.log", 1000, 1_700_000_000, "a");
    env.ingest([&a]).label("job=a").ok();
    let mut m = env.manifest();
    m["next_segment_id"] = 1.into();
    env.write_manifest(&m);
    let run = env.cmd(["check"]).assert_code(3);
    assert!(
        run.stdout
            .contains("next_segment_id 1 is not above the largest segment id 1"),
        "{run}"
    );
    let b = env.write_log("b.log", 1000, 1_700_000_000, "b");
    env.ingest([&b]).label("job=b").ok();
    assert_eq!(env.dump().len(), 2000, "the first segment is intact");
    let m = env.manifest();
    let ids: Vec<u64> = m["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, vec![1, 2]);
    assert!(m["next_segment_id"].as_u64().unwrap() > 2);
}

#[test]
fn duplicate_segment_ids_are_refused_and_repaired() {
    let env = TestEnv::new();
    let a = env.write_log("a.log", 100, 1_700_000_000, "a"); // 2023-11-14
    let b = env.write_log("b.log", 100, 1_700_000_000 + 86_400, "b"); // 2023-11-15
    env.ingest([&a]).label("job=a").ok();
    env.ingest([&b]).label("job=b").ok();
    // Give the second segment the first one's id, as a damaged manifest might.
    let mut m = env.manifest();
    let day = m["segments"][1]["day"].as_str().unwrap().to_string();
    let old = env
        .store()
        .join("fake")
        .join(m["segments"][1]["path"].as_str().unwrap());
    let new_rel = format!("segments/{day}/0000000000000001.seg");
    fs::rename(&old, env.store().join("fake").join(&new_rel)).unwrap();
    m["segments"][1]["id"] = 1.into();
    m["segments"][1]["path"] = new_rel.into();
    env.write_manifest(&m);
    let run = env.cmd(["query", r#"{job=~".+"}"#]).assert_code(3);
    assert!(run.stderr.contains("segment id 1 is listed twice"), "{run}");
    let run = env.cmd(["check"]).assert_code(3);
    assert!(
        run.stdout
            .contains("segment id 1 is used by another segment too"),
        "{run}"
    );
    env.cmd(["check", "--repair"]).assert_code(1);
    env.ok(["check"]);
    let got = by_file(&env.dump());
    assert_eq!(
        got.values().map(Vec::len).collect::<Vec<_>>(),
        vec![100, 100]
    );
}

#[test]
fn a_lost_manifest_is_an_error_and_no_writer_removes_the_segments() {
    let env = TestEnv::new();
    let a = env.write_log("a.log", 300, 1_700_000_000, "a");
    env.ingest([&a]).label("job=a").ok();
    fs::remove_file(env.store().join("fake/MANIFEST")).unwrap();
    let run = env.cmd(["query", r#"{job="a"}"#]).assert_code(3);
    assert!(
        run.stderr
            .contains("MANIFEST is missing but 1 segment files exist"),
        "{run}"
    );
    // Before this was caught, the next writer saw an empty tenant and
    // removed every segment as a leftover.
    let run = env.ingest([&a]).label("job=a").cmd().assert_code(3);
    assert!(run.stderr.contains("check --repair"), "{run}");
    assert_eq!(segments_on_disk(&env), 1);
    let run = env.cmd(["check", "--repair"]).assert_code(1);
    assert!(
        run.stdout
            .contains("positions cannot be recovered from segments"),
        "{run}"
    );
    assert_eq!(env.dump().len(), 300);
}
