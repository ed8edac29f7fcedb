//! Store robustness: corrupted blocks, concurrent writers (a full disk:
//! `crash.rs`).
use std::fs;

use crate::common::*;

/// The paths of tenant `fake`'s live segments, in manifest order.
fn segments(env: &TestEnv) -> Vec<std::path::PathBuf> {
    env.manifest()["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| env.store().join("fake").join(s["path"].as_str().unwrap()))
        .collect()
}

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
    let stderr = &out.stderr;
    assert!(
        stderr.contains(&format!("{}: corrupt block at offset 16", seg.display())),
        "{stderr}"
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
    assert!(out.stderr.contains("footer checksum mismatch"));
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
