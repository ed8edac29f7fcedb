//! Exit codes of store failures: a block zstd cannot decompress is a store
//! error (3) wherever it is read: `check` and `dump` report it, a query that
//! selected it fails unless `--allow-partial`.
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
        frame_entries: 3,
        first: 0,
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
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn a_zstd_decompression_failure_is_a_store_error() {
    let dir = tempfile::tempdir().unwrap();
    store_with_a_bad_zstd_frame(dir.path());
    for cmd in ["verify", "check", "dump"] {
        let (code, out) = lokal(dir.path(), &[cmd]);
        assert_eq!(code, 3, "{cmd}: {out}");
        assert!(
            out.contains("corrupt block at offset 16") && out.contains("zstd"),
            "{out}"
        );
    }
    // A query that cannot read a block it selected fails (its answer would
    // be incomplete) and names the block, even with -q...
    for q in [r#"{job="x"}"#, r#"count_over_time({job="x"}[1h])"#] {
        let (code, out) = lokal(dir.path(), &["query", "-q", q]);
        assert_eq!(code, 3, "{q}: {out}");
        assert!(
            out.contains("corrupt block at offset 16") && out.contains("zstd"),
            "{out}"
        );
        // ...unless the caller accepts a partial answer (here: nothing).
        let (code, out) = lokal(dir.path(), &["query", "--allow-partial", q]);
        assert_eq!(code, 1, "{q}: {out}");
        assert!(out.contains("warning:") && out.contains("zstd"), "{out}");
    }
}
