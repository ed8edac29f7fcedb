//! The label index: kept current by ingest, rebuilt by `lokal index`, and
//! never needed for a correct answer.
use std::fs;
use std::path::{Path, PathBuf};

use crate::common::*;

/// Two files spanning a UTC midnight (2023-11-14/15), two hosts.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let a = dir.join("a.log");
    let b = dir.join("b.log");
    // 1_700_006_400 is 2023-11-15T00:00:00Z.
    write_log(&a, 4000, 1_700_006_400 - 2000, "a");
    write_log(&b, 3000, 1_700_006_400 - 100, "b");
    vec![a, b]
}

fn indexes(store: &Path) -> Vec<serde_json::Value> {
    manifest(store)["indexes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Segment ids per day, from the manifest.
fn segments_by_day(store: &Path) -> std::collections::BTreeMap<String, Vec<u64>> {
    let mut m: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
    for s in manifest(store)["segments"].as_array().unwrap() {
        m.entry(s["day"].as_str().unwrap().to_string())
            .or_default()
            .push(s["id"].as_u64().unwrap());
    }
    for v in m.values_mut() {
        v.sort();
    }
    m
}

fn covered_by_day(store: &Path) -> std::collections::BTreeMap<String, Vec<u64>> {
    indexes(store)
        .iter()
        .map(|i| {
            (
                i["day"].as_str().unwrap().to_string(),
                i["segments"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_u64().unwrap())
                    .collect(),
            )
        })
        .collect()
}

fn ingest(store: &Path, files: &[PathBuf], extra: &[&str]) {
    ok(lokal(store)
        .args(["ingest", "-q", "--label", "job=x", "--batch-size", "64KiB"])
        .args(extra)
        .args(files));
}

#[test]
fn ingest_keeps_the_index_current() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let files = inputs(dir.path());
    ingest(&store, &files, &[]);
    let days = segments_by_day(&store);
    assert_eq!(days.len(), 2, "{days:?}");
    assert!(
        days.values().any(|v| v.len() > 1),
        "several batches per day"
    );
    assert_eq!(covered_by_day(&store), days, "every segment is indexed");
    for i in indexes(&store) {
        let p = store.join("fake").join(i["path"].as_str().unwrap());
        assert_eq!(
            fs::metadata(&p).unwrap().len(),
            i["bytes"].as_u64().unwrap()
        );
    }
    assert!(assert_index_agrees_with_footers(&store) > 0);

    // Appending: the new segments join the index, older builds go away.
    let mut more = fs::read_to_string(&files[1]).unwrap();
    more.push_str("2023-11-15T01:00:00Z level=info tag=b msg=\"late\"\n");
    fs::write(&files[1], more).unwrap();
    ingest(&store, &files, &[]);
    assert_eq!(covered_by_day(&store), segments_by_day(&store));
    assert_index_agrees_with_footers(&store);
    let live: Vec<String> = indexes(&store)
        .iter()
        .map(|i| i["path"].as_str().unwrap().to_string())
        .collect();
    ok(lokal(&store).args(["index", "-q"]));
    // The next writer removed every build but the ones the last two
    // manifests name (a reader of the previous manifest keeps its file).
    let mut on_disk: Vec<String> = fs::read_dir(store.join("fake/index"))
        .unwrap()
        .map(|e| format!("index/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    on_disk.sort();
    let mut want: Vec<String> = indexes(&store)
        .iter()
        .map(|i| i["path"].as_str().unwrap().to_string())
        .chain(live)
        .collect();
    want.sort();
    assert_eq!(on_disk, want);
}

#[test]
fn no_index_then_lokal_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let files = inputs(dir.path());
    ingest(&store, &files, &["--no-index"]);
    assert!(indexes(&store).is_empty());
    assert!(
        !store.join("fake/index").exists()
            || fs::read_dir(store.join("fake/index"))
                .unwrap()
                .next()
                .is_none()
    );
    let bare = assert_index_agrees_with_footers(&store);

    let out = ok(lokal(&store).arg("index"));
    for day in ["2023-11-14", "2023-11-15"] {
        assert!(out.contains(day), "{out}");
    }
    assert!(out.contains("index bytes"), "{out}");
    assert_eq!(covered_by_day(&store), segments_by_day(&store));
    assert_eq!(assert_index_agrees_with_footers(&store), bare);

    // Stats count the index as overhead.
    let stats: serde_json::Value =
        serde_json::from_str(&ok(lokal(&store).args(["stats", "-o", "json"]))).unwrap();
    let overhead: u64 = stats
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["bytes_overhead"].as_u64().unwrap())
        .sum();
    let index: u64 = indexes(&store)
        .iter()
        .map(|i| i["bytes"].as_u64().unwrap())
        .sum();
    assert!(overhead > index && index > 0);

    // One day only; a day without data just reports nothing indexed.
    let out = ok(lokal(&store).args(["index", "--day", "2023-11-15", "--day", "2020-01-01"]));
    assert!(
        out.contains("2023-11-15") && !out.contains("2023-11-14"),
        "{out}"
    );
    let out = lokal(&store)
        .args(["index", "--day", "yesterday"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

    // --all-tenants covers every tenant.
    ok(lokal(&store)
        .args(["--tenant", "other", "ingest", "-q", "--no-index"])
        .arg(&files[0]));
    let out = ok(lokal(&store).args(["index", "--all-tenants"]));
    assert!(out.contains("other") && out.contains("fake"), "{out}");
    assert!(store.join("other/index").is_dir());
}

#[test]
fn a_deleted_or_corrupt_index_falls_back_to_footers() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let files = inputs(dir.path());
    ingest(&store, &files, &[]);
    let want = assert_index_agrees_with_footers(&store);
    let idx = indexes(&store);
    let first = store.join("fake").join(idx[0]["path"].as_str().unwrap());
    let second = store.join("fake").join(idx[1]["path"].as_str().unwrap());

    fs::remove_file(&first).unwrap();
    let mut bytes = fs::read(&second).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    fs::write(&second, &bytes).unwrap();
    assert_eq!(assert_index_agrees_with_footers(&store), want);

    let snap = lokal::store::Store::new(&store)
        .tenant("fake")
        .unwrap()
        .snapshot()
        .unwrap();
    let mut p = lokal::engine::plan::Planner::new(&snap);
    p.plan_streams(&[], lokal::time::TimeRange::ALL).unwrap();
    let w = p.warnings().join("\n");
    assert!(
        w.contains(&second.display().to_string()) && w.contains("corrupt index"),
        "{w}"
    );
    assert!(w.contains(&first.display().to_string()), "{w}");

    // A rebuild repairs both.
    ok(lokal(&store).args(["index", "-q"]));
    let snap = lokal::store::Store::new(&store)
        .tenant("fake")
        .unwrap()
        .snapshot()
        .unwrap();
    let mut p = lokal::engine::plan::Planner::new(&snap);
    assert_eq!(
        p.plan_streams(&[], lokal::time::TimeRange::ALL)
            .unwrap()
            .len(),
        want
    );
    assert!(p.warnings().is_empty(), "{:?}", p.warnings());
}

#[test]
fn older_manifests_without_indexes_load() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let files = inputs(dir.path());
    ingest(&store, &files, &[]);
    let mut m = manifest(&store);
    m.as_object_mut().unwrap().remove("indexes");
    fs::write(store.join("fake/MANIFEST"), serde_json::to_vec(&m).unwrap()).unwrap();
    assert_index_agrees_with_footers(&store);
    ok(lokal(&store).arg("verify"));
    // The next writer drops the files no manifest names.
    ok(lokal(&store).args(["index", "-q", "--day", "2023-11-14"]));
    assert_eq!(fs::read_dir(store.join("fake/index")).unwrap().count(), 1);
}
