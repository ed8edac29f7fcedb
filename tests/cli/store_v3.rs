//! The golden store of index format 3 (`tests/fixtures/store_v3`, made by
//! `tests/fixtures/make_store_v3.sh` from the same inputs and commands as
//! `store_v1`): store_v2's segments (format 2) with day indexes in format
//! 3, whose pages carry their own checksums.
//!
//! **Every later lokal must keep opening this store and reading exactly
//! what it holds.** Never regenerate, edit or delete it, and never change an
//! expectation to match a new reader. Its answers are store_v1's (same
//! entries, labels, series), so they are shared with `store_v1.rs`.
use std::fs;

use crate::common::*;
use crate::store_v1::{
    assert_entries, assert_files, assert_index_answers, copy_fixture, files, fixture_dir,
    LABEL_ANSWERS,
};

/// Every file of the fixture: (path, length, xxh3-64 of its bytes).
#[rustfmt::skip]
const FILES: &[(&str, u64, u64)] = &[
    ("fake/MANIFEST", 4234, 0xfaf815687bc176ba),
    ("fake/index/2024-01-01-4.idx", 878, 0xf0603559e659dd32),
    ("fake/index/2024-01-01-5.idx", 969, 0x657aaff0778ea9a4),
    ("fake/index/2024-01-02-3.idx", 666, 0x1f457192efee3e8d),
    ("fake/index/2024-01-02-5.idx", 746, 0x1b34771f29a5d709),
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
    ("team-b/MANIFEST", 967, 0xb61cf05ef82ae681),
    ("team-b/index/2024-01-01-1.idx", 438, 0xd65d996589baf814),
    ("team-b/index/2024-01-02-1.idx", 438, 0xeec3d1491626c61e),
    ("team-b/segments/2024-01-01/0000000000000001.seg", 189, 0x33016ffac8af01ea),
    ("team-b/segments/2024-01-02/0000000000000002.seg", 198, 0x787d7ea5428e585f),
];

#[track_caller]
fn assert_frozen(root: &std::path::Path, what: &str) {
    assert_files(root, what, "store_v3", FILES);
}

#[test]
fn store_v3_reads_back_exactly() {
    let dir = fixture_dir("store_v3");
    assert_frozen(&dir, "tests/fixtures/store_v3");
    let env = TestEnv::new();
    copy_fixture(&env, &dir);

    assert_entries(&env);
    // Its manifest lists the two index builds ingest replaced, as retired
    // (store_v2's manifest predates the list).
    let out = env.ok(["verify"]);
    assert!(
        out.ends_with(
            "tenant \"fake\": 9 segments, 9 blocks, 17 entries readable, 2 indexes: no problems\n"
        ) && out.matches(": retired (compacted or replaced)").count() == 2,
        "{out}"
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
fn store_v3_index_answers_alone() {
    let env = TestEnv::new();
    copy_fixture(&env, &fixture_dir("store_v3"));
    fs::remove_dir_all(env.store().join("fake/segments")).unwrap();
    assert_index_answers(&env);
}

/// Its indexes are format 3 and every page passes its checksum; its
/// segments are store_v2's, byte for byte.
#[test]
fn store_v3_indexes_are_format_3_over_store_v2_segments() {
    let dir = fixture_dir("store_v3");
    let v2 = fixture_dir("store_v2");
    let mut indexes = 0;
    for (rel, _, _) in files(&dir) {
        if rel.ends_with(".idx") {
            let idx = lokal::index::DayIndex::open(&dir.join(&rel)).unwrap();
            assert_eq!(idx.version(), 3, "{rel}");
            assert!(idx.verify().is_empty(), "{rel}");
            indexes += 1;
        } else if rel.ends_with(".seg") {
            assert_eq!(
                fs::read(dir.join(&rel)).unwrap(),
                fs::read(v2.join(&rel)).unwrap(),
                "{rel}"
            );
        }
    }
    assert_eq!(indexes, 6);
}
