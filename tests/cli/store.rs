//! Store robustness: corrupted blocks, a full disk, concurrent writers.
use std::fs;
use std::path::Path;

use crate::common::*;

fn segments(store: &Path) -> Vec<(std::path::PathBuf, serde_json::Value)> {
    let m: serde_json::Value =
        serde_json::from_slice(&fs::read(store.join("fake/MANIFEST")).unwrap()).unwrap();
    m["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                store.join("fake").join(s["path"].as_str().unwrap()),
                s.clone(),
            )
        })
        .collect()
}

#[test]
fn corrupted_block_is_named_and_the_rest_stays_readable() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let a = dir.path().join("a.log");
    let b = dir.path().join("b.log");
    write_log(&a, 3000, 1_700_000_000, "a");
    write_log(&b, 3000, 1_700_000_000, "b");
    ok(lokal(&store).args(["ingest", "-q"]).arg(&a).arg(&b));
    let (seg, _) = segments(&store).remove(0);
    // The first block starts right after the 16-byte header.
    let mut bytes = fs::read(&seg).unwrap();
    for b in &mut bytes[40..48] {
        *b ^= 0x5a;
    }
    fs::write(&seg, &bytes).unwrap();

    let out = lokal(&store).arg("verify").output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}: corrupt block at offset 16", seg.display())),
        "{stderr}"
    );

    let out = lokal(&store).arg("dump").output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let entries = parse_dump(&out.stdout);
    let files = by_file(&entries);
    assert_eq!(files.len(), 1, "the other stream's chunk is intact");
    assert_eq!(files.values().next().unwrap().len(), 3000);
}

#[test]
fn damaged_footer_names_the_segment() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let a = dir.path().join("a.log");
    write_log(&a, 100, 1_700_000_000, "a");
    ok(lokal(&store).args(["ingest", "-q"]).arg(&a));
    let (seg, _) = segments(&store).remove(0);
    let mut bytes = fs::read(&seg).unwrap();
    let n = bytes.len();
    bytes[n - 40] ^= 0xff;
    fs::write(&seg, &bytes).unwrap();
    let out = lokal(&store).arg("verify").output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("footer checksum mismatch"));
}

#[test]
fn full_disk_fails_cleanly_and_keeps_what_was_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    fs::create_dir_all(&store).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
        .arg(&store)
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
    let _guard = Unmount(&store);
    let small = dir.path().join("small.log");
    write_log(&small, 50, 1_700_000_000, "s");
    ok(lokal(&store).args(["ingest", "-q"]).arg(&small));
    // Random-looking lines do not compress: they overflow the 256 KiB disk.
    let big = dir.path().join("big.log");
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
    fs::write(&big, s).unwrap();
    let out = lokal(&store)
        .args(["ingest", "-q"])
        .arg(&big)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("No space left"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ok(lokal(&store).arg("verify"));
    let e = dump(&store);
    assert_eq!(e.len(), 50);
}

#[test]
fn a_second_writer_waits_or_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    fs::create_dir_all(&store).unwrap();
    let lock = fs::File::create(store.join("lokal.lock")).unwrap();
    lock.lock().unwrap();
    let a = dir.path().join("a.log");
    write_log(&a, 5, 1_700_000_000, "a");
    let out = lokal(&store)
        .args(["ingest", "-q", "--lock-timeout", "200ms"])
        .arg(&a)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("another lokal writer holds the store lock")
    );
    drop(lock);
    ok(lokal(&store)
        .args(["ingest", "-q", "--lock-timeout", "5s"])
        .arg(&a));
}
