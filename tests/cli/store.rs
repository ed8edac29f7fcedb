//! Store robustness: corrupted blocks, a full disk, concurrent writers.
use std::fs;
use std::path::Path;

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
fn full_disk_fails_cleanly_and_keeps_what_was_stored() {
    let env = TestEnv::new();
    let store = env.store();
    fs::create_dir_all(store).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
        .arg(store)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !mounted {
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
    // Random-looking lines do not compress: they overflow the 256 KiB disk.
    let mut s = String::new();
    let mut x: u64 = 1;
    for i in 0..20_000 {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        s.push_str(&format!(
            "2024-01-01T00:00:{:02}Z {x:x}{:x}{:x}\n",
            i % 60,
            x.rotate_left(7),
            x.rotate_left(29)
        ));
    }
    let big = env.write("big.log", s);
    let out = env.ingest([&big]).arg("-q").cmd().assert_code(3);
    assert!(out.stderr.contains("No space left"), "{}", out.stderr);
    env.ok(["verify"]);
    let e = env.dump();
    assert_eq!(e.len(), 50);
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
