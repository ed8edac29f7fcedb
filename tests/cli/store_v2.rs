//! The golden store of on-disk format version 2 (`tests/fixtures/store_v2`,
//! made by `tests/fixtures/make_store_v2.sh` from the same inputs and
//! commands as `store_v1`): packed blocks shared by small streams, zstd
//! footers in label order, index format 2.
//!
//! **Every later lokal must keep opening this store and reading exactly
//! what it holds.** Never regenerate, edit or delete it, and never change an
//! expectation to match a new reader. Its answers are store_v1's (same
//! entries, labels, series), so they are shared with `store_v1.rs`.
use std::fs;

use crate::common::*;
use crate::store_v1::{
    assert_entries, assert_files, assert_index_answers, copy_fixture, files, fixture_dir, JAVA,
    LABEL_ANSWERS, PUSH,
};

/// Every file of the fixture: (path, length, xxh3-64 of its bytes).
#[rustfmt::skip]
const FILES: &[(&str, u64, u64)] = &[
    ("fake/MANIFEST", 3999, 0x3d5234359f28eba3),
    ("fake/index/2024-01-01-4.idx", 850, 0xa621b625b9526195),
    ("fake/index/2024-01-01-5.idx", 941, 0x471caff9a137f5ae),
    ("fake/index/2024-01-02-3.idx", 638, 0xdc2a86d7bb1d1f40),
    ("fake/index/2024-01-02-5.idx", 718, 0xc34d7dea4fa49d1b),
    ("fake/segments/2024-01-01/0000000000000001.seg", 240, 0x1b4863e1343b1fb4),
    ("fake/segments/2024-01-01/0000000000000003.seg", 193, 0x596558e35d37d327),
    ("fake/segments/2024-01-01/0000000000000005.seg", 298, 0x1ccb54ad91848089),
    ("fake/segments/2024-01-01/0000000000000007.seg", 242, 0x7271efdc1b5f8c90),
    ("fake/segments/2024-01-01/0000000000000008.seg", 199, 0xd13c30a9d5662396),
    ("fake/segments/2024-01-02/0000000000000002.seg", 228, 0xed63edffc548c16a),
    ("fake/segments/2024-01-02/0000000000000004.seg", 192, 0xe368da4d35464a10),
    ("fake/segments/2024-01-02/0000000000000006.seg", 231, 0xb8f7530acb695bce),
    ("fake/segments/2024-01-02/0000000000000009.seg", 162, 0x77915ec8a0e426b7),
    ("lokal.lock", 0, 0x2d06800538d394c2),
    ("team-b/MANIFEST", 967, 0xeea9b98eda8e10e7),
    ("team-b/index/2024-01-01-1.idx", 410, 0x99365d23701ba604),
    ("team-b/index/2024-01-02-1.idx", 410, 0x022e0095e2eaded3),
    ("team-b/segments/2024-01-01/0000000000000001.seg", 189, 0x33016ffac8af01ea),
    ("team-b/segments/2024-01-02/0000000000000002.seg", 198, 0x787d7ea5428e585f),
];

#[track_caller]
fn assert_frozen(root: &std::path::Path, what: &str) {
    assert_files(root, what, "store_v2", FILES);
}

#[test]
fn store_v2_reads_back_exactly() {
    let dir = fixture_dir("store_v2");
    assert_frozen(&dir, "tests/fixtures/store_v2");
    let env = TestEnv::new();
    copy_fixture(&env, &dir);

    assert_entries(&env);

    // One block fewer than store_v1: the two web streams share one.
    eqnice!(
        "tenant \"fake\": 9 segments, 9 blocks, 17 entries readable, 2 indexes: no problems\n",
        env.ok(["verify"])
    );
    eqnice!(
        "tenant \"team-b\": 2 segments, 2 blocks, 2 entries readable, 2 indexes: no problems\n",
        env.ok(["--tenant", "team-b", "verify"])
    );
    for (args, want) in LABEL_ANSWERS {
        eqnice!(*want, env.ok(*args), "lokal {}", args.join(" "));
    }
    assert!(assert_index_agrees_with_footers(env.store()) > 0);
    assert_frozen(env.store(), "the copy, after the queries,");
}

/// The labels and series come from the day indexes alone when the
/// segments are gone.
#[test]
fn store_v2_index_answers_alone() {
    let env = TestEnv::new();
    copy_fixture(&env, &fixture_dir("store_v2"));
    fs::remove_dir_all(env.store().join("fake/segments")).unwrap();
    assert_index_answers(&env);
}

/// The fixture holds a packed block (two streams' runs in one frame)
/// beside one-stream blocks, a length-column block (the multiline entry)
/// and a metadata column, all in format 2 segments.
#[test]
fn store_v2_covers_packed_blocks_line_encodings_and_metadata() {
    let dir = fixture_dir("store_v2");
    let mut runs = Vec::new();
    for (rel, _, _) in files(&dir) {
        if !rel.ends_with(".seg") {
            continue;
        }
        let seg = lokal::chunk::SegmentReader::open(&dir.join(&rel)).unwrap();
        assert_eq!(seg.version(), 2, "{rel}");
        for s in seg.streams() {
            for b in &s.blocks {
                let raw = zstd::decode_all(seg.block_bytes(b).unwrap()).unwrap();
                runs.push((
                    rel.clone(),
                    b.offset,
                    b.is_packed(),
                    s.labels.to_string(),
                    raw[0],
                ));
            }
        }
    }
    let packed: Vec<_> = runs.iter().filter(|r| r.2).collect();
    assert_eq!(packed.len(), 2, "two runs share one block: {runs:?}");
    assert_eq!((&packed[0].0, packed[0].1), (&packed[1].0, packed[1].1));
    assert!(
        packed.iter().all(|r| r.3.contains("job=\"web\"")),
        "{packed:?}"
    );
    assert!(
        runs.iter().any(|r| r.3 == JAVA && r.4 & 1 == 0),
        "the multiline entry's block has a length column: {runs:?}"
    );
    assert!(
        runs.iter().any(|r| r.3 == PUSH && r.4 & 2 == 2),
        "the push stream's blocks carry metadata: {runs:?}"
    );
}
