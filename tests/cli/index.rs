//! The label index: kept current by ingest, rebuilt by `lokal index`, and
//! never needed for a correct answer.
use std::fs;
use std::path::PathBuf;

use crate::common::*;

/// Two files spanning a UTC midnight (2023-11-14/15), two hosts.
fn inputs(env: &TestEnv) -> Vec<PathBuf> {
    // 1_700_006_400 is 2023-11-15T00:00:00Z.
    vec![
        env.write_log("a.log", 4000, 1_700_006_400 - 2000, "a"),
        env.write_log("b.log", 3000, 1_700_006_400 - 100, "b"),
    ]
}

fn indexes(env: &TestEnv) -> Vec<serde_json::Value> {
    env.manifest()["indexes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Segment ids per day, from the manifest.
fn segments_by_day(env: &TestEnv) -> std::collections::BTreeMap<String, Vec<u64>> {
    let mut m: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
    for s in env.manifest()["segments"].as_array().unwrap() {
        m.entry(s["day"].as_str().unwrap().to_string())
            .or_default()
            .push(s["id"].as_u64().unwrap());
    }
    for v in m.values_mut() {
        v.sort();
    }
    m
}

fn covered_by_day(env: &TestEnv) -> std::collections::BTreeMap<String, Vec<u64>> {
    indexes(env)
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

/// Ingests in small batches, left as the batches wrote them (each batch
/// publishes its segments with their index).
fn ingest(env: &TestEnv, files: &[PathBuf], extra: &[&str]) {
    env.ingest(files)
        .args([
            "--label",
            "job=x",
            "--batch-size",
            "64KiB",
            "--compact",
            "never",
        ])
        .args(extra)
        .ok();
}

#[test]
fn ingest_keeps_the_index_current() {
    let env = TestEnv::new();
    let store = env.store();
    let files = inputs(&env);
    ingest(&env, &files, &[]);
    let days = segments_by_day(&env);
    assert_eq!(days.len(), 2, "{days:?}");
    assert!(
        days.values().any(|v| v.len() > 1),
        "several batches per day"
    );
    assert_eq!(covered_by_day(&env), days, "every segment is indexed");
    for i in indexes(&env) {
        let p = store.join("fake").join(i["path"].as_str().unwrap());
        assert_eq!(
            fs::metadata(&p).unwrap().len(),
            i["bytes"].as_u64().unwrap()
        );
    }
    assert!(assert_index_agrees_with_footers(store) > 0);

    // Appending: the new segments join the index, older builds go away.
    let mut more = fs::read_to_string(&files[1]).unwrap();
    more.push_str("2023-11-15T01:00:00Z level=info tag=b msg=\"late\"\n");
    fs::write(&files[1], more).unwrap();
    ingest(&env, &files, &[]);
    assert_eq!(covered_by_day(&env), segments_by_day(&env));
    assert_index_agrees_with_footers(store);
    let live: Vec<String> = indexes(&env)
        .iter()
        .map(|i| i["path"].as_str().unwrap().to_string())
        .collect();
    env.ok(["index", "-q"]);
    // The next writer removed every build but the ones the last two
    // manifests name (a reader of the previous manifest keeps its file).
    let mut on_disk: Vec<String> = fs::read_dir(store.join("fake/index"))
        .unwrap()
        .map(|e| format!("index/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    on_disk.sort();
    let mut want: Vec<String> = indexes(&env)
        .iter()
        .map(|i| i["path"].as_str().unwrap().to_string())
        .chain(live)
        .collect();
    want.sort();
    assert_eq!(on_disk, want);
}

#[test]
fn no_index_then_lokal_index() {
    let env = TestEnv::new();
    let store = env.store();
    let files = inputs(&env);
    ingest(&env, &files, &["--no-index"]);
    assert!(indexes(&env).is_empty());
    assert!(
        !store.join("fake/index").exists()
            || fs::read_dir(store.join("fake/index"))
                .unwrap()
                .next()
                .is_none()
    );
    let bare = assert_index_agrees_with_footers(store);

    let out = env.ok(["index"]);
    for day in ["2023-11-14", "2023-11-15"] {
        assert!(out.contains(day), "{out}");
    }
    assert!(out.contains("index bytes"), "{out}");
    assert_eq!(covered_by_day(&env), segments_by_day(&env));
    assert_eq!(assert_index_agrees_with_footers(store), bare);

    // Stats count the index as overhead.
    let stats = env.cmd(["stats", "-o", "json"]).json();
    let overhead: u64 = stats
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["bytes_overhead"].as_u64().unwrap())
        .sum();
    let index: u64 = indexes(&env)
        .iter()
        .map(|i| i["bytes"].as_u64().unwrap())
        .sum();
    assert!(overhead > index && index > 0);

    // One day only; a day without data just reports nothing indexed.
    let out = env.ok(["index", "--day", "2023-11-15", "--day", "2020-01-01"]);
    assert!(
        out.contains("2023-11-15") && !out.contains("2023-11-14"),
        "{out}"
    );
    env.cmd(["index", "--day", "yesterday"]).assert_code(2);

    // --all-tenants covers every tenant.
    env.cmd(["--tenant", "other", "ingest", "-q", "--no-index"])
        .arg(&files[0])
        .stdout();
    let out = env.ok(["index", "--all-tenants"]);
    assert!(out.contains("other") && out.contains("fake"), "{out}");
    assert!(store.join("other/index").is_dir());
}

#[test]
fn a_deleted_or_corrupt_index_falls_back_to_footers() {
    let env = TestEnv::new();
    let store = env.store();
    let files = inputs(&env);
    ingest(&env, &files, &[]);
    let want = assert_index_agrees_with_footers(store);
    let idx = indexes(&env);
    let first = store.join("fake").join(idx[0]["path"].as_str().unwrap());
    let second = store.join("fake").join(idx[1]["path"].as_str().unwrap());

    fs::remove_file(&first).unwrap();
    let mut bytes = fs::read(&second).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    fs::write(&second, &bytes).unwrap();
    assert_eq!(assert_index_agrees_with_footers(store), want);

    let snap = lokal::store::Store::new(store)
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
    env.ok(["index", "-q"]);
    let snap = lokal::store::Store::new(store)
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
    let env = TestEnv::new();
    let store = env.store();
    let files = inputs(&env);
    ingest(&env, &files, &[]);
    let mut m = env.manifest();
    m.as_object_mut().unwrap().remove("indexes");
    fs::write(store.join("fake/MANIFEST"), serde_json::to_vec(&m).unwrap()).unwrap();
    assert_index_agrees_with_footers(store);
    env.ok(["verify"]);
    // The next writer drops the files no manifest names.
    env.ok(["index", "-q", "--day", "2023-11-14"]);
    assert_eq!(fs::read_dir(store.join("fake/index")).unwrap().count(), 1);
}
