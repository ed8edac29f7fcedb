//! Exit codes of store failures: a block zstd cannot decompress is a store
//! error (3) wherever it is read in full, and a query skips it with a warning.
use std::process::Command;

use lokal::chunk::BlockMeta;
use lokal::model::Labels;
use lokal::store::Store;

/// A store whose one block has a valid checksum but is not a zstd frame,
/// so only decompression can find it damaged.
fn store_with_a_bad_zstd_frame(dir: &std::path::Path) {
    let store = Store::new(dir);
    let lock = store.lock_writer(None, || {}).unwrap();
    let mut tx = store.tenant("fake").unwrap().begin_write(&lock).unwrap();
    let mut p = tx.create_segment("2024-01-01").unwrap();
    let l = Labels::from_pairs([("job", "x")]);
    let meta = BlockMeta {
        offset: 0,
        len: 0,
        raw_len: 100,
        entries: 3,
        line_bytes: 3,
        min_t: 1_704_067_200_000_000_000,
        max_t: 1_704_067_201_000_000_000,
        checksum: 0,
    };
    p.writer
        .add_block(&l, l.fingerprint(), b"this is not a zstd frame", meta)
        .unwrap();
    tx.publish(p).unwrap();
    tx.commit().unwrap();
}

fn lokal(store: &std::path::Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lokal"))
        .env("LOKAL_STORE", store)
        .env_remove("LOKAL_TENANT")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_zstd_decompression_failure_is_a_store_error() {
    let dir = tempfile::tempdir().unwrap();
    store_with_a_bad_zstd_frame(dir.path());
    for cmd in ["verify", "dump"] {
        let (code, err) = lokal(dir.path(), &[cmd]);
        assert_eq!(code, 3, "{cmd}: {err}");
        assert!(
            err.contains("corrupt block at offset 16") && err.contains("zstd"),
            "{err}"
        );
    }
    // Queries skip the block, say so, and answer from the rest (here: nothing).
    for q in [r#"{job="x"}"#, r#"count_over_time({job="x"}[1h])"#] {
        let (code, err) = lokal(dir.path(), &["query", q]);
        assert_eq!(code, 1, "{q}: {err}");
        assert!(err.contains("warning:") && err.contains("zstd"), "{err}");
    }
}
