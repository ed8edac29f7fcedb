//! The differential suite of `tests/diff/` (see its README): every query of
//! `queries.tsv` runs through the real `lokal` over the fixed dataset of
//! `../shared/loki/make_dataset.py`, and each answer is compared with the
//! one Grafana Loki 3.7.6 gave (`expected/`), as `../shared/loki/compare.py`
//! compares them. A query may differ only when `DIFFERENCES.tsv` lists it
//! with the reason; a listed query that agrees again fails too, so the
//! list stays true. `diff_live.rs` checks the fixtures against a live Loki.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

use crate::common::*;

/// `tests/diff/`.
pub fn suite_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/diff")
}

/// One row of `queries.tsv`.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: String,
    /// `range` or `instant`.
    pub kind: String,
    /// `log` or `metric` (the `type` column).
    pub ty: String,
    pub query: String,
    pub start: String,
    pub end: String,
    pub step: String,
    pub limit: String,
    pub direction: String,
    /// `ok` or `error`.
    pub expect: String,
}

/// Reads `queries.tsv` (tab-separated, with a header naming the columns).
pub fn read_queries(path: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let cols: Vec<&str> = lines.next().unwrap().split('\t').collect();
    lines
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
        .map(|(n, l)| {
            let vals: Vec<&str> = l.split('\t').collect();
            assert_eq!(
                vals.len(),
                cols.len(),
                "{}:{}: fields",
                path.display(),
                n + 2
            );
            let get = |c: &str| vals[cols.iter().position(|x| *x == c).unwrap()].to_string();
            Row {
                id: get("id"),
                kind: get("kind"),
                ty: get("type"),
                query: get("query"),
                start: get("start"),
                end: get("end"),
                step: get("step"),
                limit: get("limit"),
                direction: get("direction"),
                expect: get("expect"),
            }
        })
        .collect()
}

/// `DIFFERENCES.tsv`: id -> why lokal answers differently on purpose.
pub fn read_differences() -> BTreeMap<String, String> {
    let path = suite_dir().join("DIFFERENCES.tsv");
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (id, why) = l
                .split_once('\t')
                .unwrap_or_else(|| panic!("{}: {l:?} has no reason", path.display()));
            assert!(
                !why.trim().is_empty(),
                "{}: {id} has no reason",
                path.display()
            );
            (id.to_string(), why.to_string())
        })
        .collect()
}

/// The `lokal` arguments for a row, as `compare.py`'s default templates
/// build them (`--limit 100` when the row has none, as Loki's default).
pub fn lokal_args(row: &Row) -> Vec<String> {
    let mut a: Vec<String> = Vec::new();
    if row.kind == "instant" {
        a.extend(["instant-query", "--output", "json", "--now", &row.end].map(String::from));
    } else {
        let limit = if row.limit.is_empty() {
            "100"
        } else {
            &row.limit
        };
        a.extend(
            [
                "query", "--output", "json", "--from", &row.start, "--to", &row.end, "--limit",
                limit,
            ]
            .map(String::from),
        );
        if row.direction == "forward" {
            a.push("--forward".into());
        }
        if !row.step.is_empty() {
            a.extend(["--step".to_string(), row.step.clone()]);
        }
    }
    a.push(row.query.clone());
    a
}

/// What `lokal` did with one row.
pub struct Outcome {
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

/// Runs every row through `lokal` over `store`, two at a time.
pub fn run_lokal(store: &Path, rows: &[Row]) -> Vec<Outcome> {
    let next = AtomicUsize::new(0);
    let mut out: Vec<Option<Outcome>> = (0..rows.len()).map(|_| None).collect();
    let slots = std::sync::Mutex::new(&mut out);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(row) = rows.get(i) else { break };
                let o = Command::new(env!("CARGO_BIN_EXE_lokal"))
                    .env_remove("LOKAL_STORE")
                    .env_remove("LOKAL_TENANT")
                    .arg("--store")
                    .arg(store)
                    .args(lokal_args(row))
                    .stdin(std::process::Stdio::null())
                    .output()
                    .unwrap();
                slots.lock().unwrap()[i] = Some(Outcome {
                    code: o.status.code(),
                    stdout: o.stdout,
                    stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
                });
            });
        }
    });
    out.into_iter().map(Option::unwrap).collect()
}

/// Compares lokal's outcome for `row` with Loki's recorded answer, as
/// `compare.py` does: `Err` says how they differ.
pub fn check(row: &Row, expected: &Value, got: &Outcome) -> Result<(), String> {
    let answer: Option<Value> = serde_json::from_slice(&got.stdout).ok();
    let answered = answer.as_ref().is_some_and(|v| v["status"] == "success");
    if row.expect == "error" {
        return if got.code != Some(0) && !answered {
            Ok(())
        } else {
            Err(format!("expected an error, lokal exited {:?}", got.code))
        };
    }
    // Exit 1 with an answer is an empty result, as grep reports one.
    if !(got.code == Some(0) || got.code == Some(1) && answered) {
        let first = got.stderr.lines().next().unwrap_or_default();
        return Err(format!("exit {:?}: {first}", got.code));
    }
    let Some(answer) = answer else {
        return Err("stdout is not JSON".into());
    };
    compare(expected, &answer, &row.query)
}

/// A label set, sorted.
type Key = Vec<(String, String)>;

/// A normalised answer: series or streams by sorted label set.
#[derive(Debug, PartialEq)]
enum Norm {
    Streams(BTreeMap<Key, Vec<(i64, String)>>),
    Matrix(BTreeMap<Key, Vec<(f64, f64)>>),
    /// The samples, and their order when the query sorts.
    Vector(BTreeMap<Key, (f64, f64)>, Option<Vec<Key>>),
    Scalar(f64, f64),
}

fn labels(v: &Value, who: &str) -> Result<Key, String> {
    let m = v
        .as_object()
        .ok_or(format!("{who}: labels are not an object"))?;
    let mut out = m
        .iter()
        .map(|(k, v)| match v.as_str() {
            Some(s) => Ok((k.clone(), s.to_string())),
            None => Err(format!("{who}: label {k} is not a string")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    out.sort();
    Ok(out)
}

fn num(v: &Value, who: &str) -> Result<f64, String> {
    match v {
        Value::Number(n) => Ok(n.as_f64().unwrap()),
        // Go's ParseFloat spellings of the specials, as Python's float().
        Value::String(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "+Inf" | "Inf" => Ok(f64::INFINITY),
            "-Inf" => Ok(f64::NEG_INFINITY),
            s => s.parse().map_err(|_| format!("{who}: bad number {s:?}")),
        },
        v => Err(format!("{who}: bad number {v}")),
    }
}

fn pair(v: &Value, who: &str) -> Result<(f64, f64), String> {
    match v.as_array().map(Vec::as_slice) {
        Some([t, x]) => Ok((num(t, who)?, num(x, who)?)),
        _ => Err(format!("{who}: bad sample {v}")),
    }
}

fn sorted_query(q: &str) -> bool {
    let q = q.trim_start();
    ["sort(", "sort_desc("]
        .iter()
        .any(|p| q.starts_with(&p[..p.len() - 1]) && q[p.len() - 1..].trim_start().starts_with('('))
}

fn normalise(resp: &Value, query: &str, who: &str) -> Result<Norm, String> {
    if resp["status"] != "success" {
        return Err(format!("{who}: status is {}, not success", resp["status"]));
    }
    let data = &resp["data"];
    let result = &data["result"];
    let twice = |l: &Key| format!("{who}: {l:?} appears twice");
    let items = || result.as_array().cloned().unwrap_or_default();
    Ok(match data["resultType"].as_str() {
        Some("streams") => {
            let mut out = BTreeMap::new();
            for s in items() {
                let key = labels(&s["stream"], who)?;
                let mut vals = Vec::new();
                for e in s["values"].as_array().cloned().unwrap_or_default() {
                    let ts = e[0]
                        .as_str()
                        .and_then(|t| t.parse().ok())
                        .ok_or(format!("{who}: bad timestamp {e}"))?;
                    let line = e[1].as_str().ok_or(format!("{who}: bad line {e}"))?;
                    vals.push((ts, line.to_string()));
                }
                if out.insert(key.clone(), vals).is_some() {
                    return Err(twice(&key));
                }
            }
            Norm::Streams(out)
        }
        Some("matrix") => {
            let mut out = BTreeMap::new();
            for s in items() {
                let key = labels(&s["metric"], who)?;
                let points = s["values"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .map(|p| pair(p, who))
                    .collect::<Result<Vec<_>, _>>()?;
                if out.insert(key.clone(), points).is_some() {
                    return Err(twice(&key));
                }
            }
            Norm::Matrix(out)
        }
        Some("vector") => {
            let mut out = BTreeMap::new();
            let mut order = Vec::new();
            for s in items() {
                let key = labels(&s["metric"], who)?;
                if out.insert(key.clone(), pair(&s["value"], who)?).is_some() {
                    return Err(twice(&key));
                }
                order.push(key);
            }
            Norm::Vector(out, sorted_query(query).then_some(order))
        }
        Some("scalar") => {
            let (t, v) = pair(result, who)?;
            Norm::Scalar(t, v)
        }
        t => return Err(format!("{who}: unknown resultType {t:?}")),
    })
}

fn same_float(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a.is_infinite() || b.is_infinite() {
        return a == b;
    }
    // Python's math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12).
    (a - b).abs() <= (1e-9 * a.abs().max(b.abs())).max(1e-12)
}

fn same_time(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

fn show(l: &[(String, String)]) -> String {
    let inner: Vec<String> = l.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

fn same_keys<V>(what: &str, e: &BTreeMap<Key, V>, g: &BTreeMap<Key, V>) -> Result<(), String> {
    let missing: Vec<String> = e
        .keys()
        .filter(|k| !g.contains_key(*k))
        .map(|k| show(k))
        .collect();
    let extra: Vec<String> = g
        .keys()
        .filter(|k| !e.contains_key(*k))
        .map(|k| show(k))
        .collect();
    if missing.is_empty() && extra.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{} {what} missing {:?}, {} unexpected {:?}",
        missing.len(),
        missing.iter().take(3).collect::<Vec<_>>(),
        extra.len(),
        extra.iter().take(3).collect::<Vec<_>>()
    ))
}

/// Compares two Loki response bodies as `compare.py` does.
pub fn compare(expected: &Value, got: &Value, query: &str) -> Result<(), String> {
    let e = normalise(expected, query, "expected")?;
    let g = normalise(got, query, "lokal")?;
    match (&e, &g) {
        (Norm::Scalar(et, ev), Norm::Scalar(gt, gv)) => {
            // Loki 3.7.6 gives scalar instant results a bogus, negative time.
            if *et >= 0.0 && !same_time(*et, *gt) {
                return Err(format!("scalar time {gt}, expected {et}"));
            }
            if !same_float(*ev, *gv) {
                return Err(format!("scalar {gv}, expected {ev}"));
            }
        }
        (Norm::Streams(e), Norm::Streams(g)) => {
            same_keys("streams", e, g)?;
            for (k, ev) in e {
                let gv = &g[k];
                if ev != gv {
                    let n = ev.iter().zip(gv).take_while(|(a, b)| a == b).count();
                    return Err(format!(
                        "stream {}: {} entries expected, {} got; first difference at #{n}: expected {:?}, got {:?}",
                        show(k),
                        ev.len(),
                        gv.len(),
                        ev.get(n),
                        gv.get(n)
                    ));
                }
            }
        }
        (Norm::Matrix(e), Norm::Matrix(g)) => {
            same_keys("series", e, g)?;
            for (k, ev) in e {
                let gv = &g[k];
                if ev.len() != gv.len() || ev.iter().zip(gv).any(|(a, b)| !same_time(a.0, b.0)) {
                    return Err(format!(
                        "series {}: times {:?}, expected {:?}",
                        show(k),
                        gv.iter().map(|p| p.0).collect::<Vec<_>>(),
                        ev.iter().map(|p| p.0).collect::<Vec<_>>()
                    ));
                }
                if let Some((a, b)) = ev.iter().zip(gv).find(|(a, b)| !same_float(a.1, b.1)) {
                    return Err(format!(
                        "series {} at {}: {}, expected {}",
                        show(k),
                        a.0,
                        b.1,
                        a.1
                    ));
                }
            }
        }
        (Norm::Vector(e, eo), Norm::Vector(g, go)) => {
            same_keys("samples", e, g)?;
            for (k, (et, ev)) in e {
                let (gt, gv) = g[k];
                if !same_time(*et, gt) || !same_float(*ev, gv) {
                    return Err(format!(
                        "sample {}: {gv} at {gt}, expected {ev} at {et}",
                        show(k)
                    ));
                }
            }
            if eo.is_some() && eo != go {
                return Err("sample order differs (sorted query)".into());
            }
        }
        _ => {
            return Err(format!("result type differs: {g:?} vs {e:?}")
                .chars()
                .take(200)
                .collect())
        }
    }
    Ok(())
}

/// The fixed dataset, built by `make_dataset.py` into `dir`; `None` (the
/// test skips, or fails under `CI=true`) without `../shared` or python3.
pub fn dataset(dir: &Path) -> Option<PathBuf> {
    let script = shared("loki/make_dataset.py")?;
    let out = dir.join("dataset.jsonl");
    let run = match Command::new("python3")
        .arg(&script)
        .arg("--out")
        .arg(&out)
        .output()
    {
        Ok(r) => r,
        Err(e) => {
            crate::support::skip(&format!("python3 cannot run ({e})"));
            return None;
        }
    };
    assert!(
        run.status.success(),
        "{}: {}",
        script.display(),
        String::from_utf8_lossy(&run.stderr)
    );
    Some(out)
}

/// A store holding the dataset, as `tests/diff/README.md` ingests it.
pub fn dataset_store() -> Option<TestEnv> {
    let env = TestEnv::new();
    let ds = dataset(env.path())?;
    env.ingest([&ds]).args(["--format", "logcli"]).ok();
    Some(env)
}

/// Reads `dir/<id>.json`.
pub fn fixture(dir: &Path, id: &str) -> Value {
    let p = dir.join(format!("{id}.json"));
    serde_json::from_slice(&std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Which rows differ from `expected_dir`, checked against `DIFFERENCES.tsv`:
/// the failures to report (empty when all is as listed), and the counts.
pub fn judge(
    rows: &[Row],
    outcomes: &[Outcome],
    expected_dir: &Path,
) -> (Vec<String>, usize, usize) {
    let listed = read_differences();
    let mut problems = Vec::new();
    let (mut equal, mut deliberate) = (0, 0);
    for (row, got) in rows.iter().zip(outcomes) {
        let res = check(row, &fixture(expected_dir, &row.id), got);
        match (res, listed.get(&row.id)) {
            (Ok(()), None) => equal += 1,
            (Err(_), Some(_)) => deliberate += 1,
            (Err(why), None) => {
                problems.push(format!("{}: {why}\n    query: {}", row.id, row.query))
            }
            (Ok(()), Some(_)) => problems.push(format!(
                "{}: agrees with Loki but DIFFERENCES.tsv lists it; remove it there",
                row.id
            )),
        }
    }
    (problems, equal, deliberate)
}

#[test]
fn every_query_answers_as_loki_3_7_6_or_is_a_listed_difference() {
    let Some(env) = dataset_store() else {
        return;
    };
    let dir = suite_dir();
    let rows = read_queries(&dir.join("queries.tsv"));
    assert!(rows.len() >= 500, "{} queries", rows.len());
    let listed = read_differences();
    for id in listed.keys() {
        assert!(
            rows.iter().any(|r| &r.id == id),
            "DIFFERENCES.tsv: no query {id}"
        );
    }
    let outcomes = run_lokal(env.store(), &rows);
    let (problems, equal, deliberate) = judge(&rows, &outcomes, &dir.join("expected"));
    eprintln!(
        "differential suite: {} queries, {equal} equal to Loki 3.7.6, {deliberate} listed differences",
        rows.len()
    );
    assert!(
        problems.is_empty(),
        "{} of {} queries differ from Loki 3.7.6 and are not in tests/diff/DIFFERENCES.tsv:\n{}",
        problems.len(),
        rows.len(),
        problems.join("\n")
    );
}

/// The shape of a JSON value: object keys in order with their shapes,
/// arrays by the distinct shapes of their elements, numbers as one type (Loki's doubles
/// print as integers when whole).
pub fn shape(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let inner: Vec<String> = m.iter().map(|(k, v)| format!("{k}:{}", shape(v))).collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(a) => {
            let mut kinds: Vec<String> = Vec::new();
            for s in a.iter().map(shape) {
                if !kinds.contains(&s) {
                    kinds.push(s);
                }
            }
            format!("[{}]", kinds.join("|"))
        }
        Value::Number(_) => "n".into(),
        Value::String(_) => "s".into(),
        Value::Bool(_) => "b".into(),
        Value::Null => "null".into(),
    }
}

/// `-o json` is Loki's whole response: the keys of `tests/diff/full/` (Loki's
/// bodies with `data.stats`), in Loki's order, with Loki's JSON types.
#[test]
fn json_output_is_lokis_response_field_for_field() {
    let Some(env) = dataset_store() else {
        return;
    };
    let dir = suite_dir();
    let rows = read_queries(&dir.join("queries.tsv"));
    let mut checked = 0;
    for entry in std::fs::read_dir(dir.join("full")).unwrap() {
        let path = entry.unwrap().path();
        let id = path.file_stem().unwrap().to_str().unwrap().to_string();
        let loki = fixture(&dir.join("full"), &id);
        if loki.get("httpStatus").is_some() {
            continue; // an error: Loki answers in plain text
        }
        let row = rows.iter().find(|r| r.id == id).unwrap();
        let out = &run_lokal(env.store(), std::slice::from_ref(row))[0];
        let ours: Value = serde_json::from_slice(&out.stdout).unwrap();
        // The result's shape, and the body's keys in order: compared as text.
        let strip = |v: &Value| {
            let mut v = v.clone();
            v["data"]["result"] = Value::Null;
            v
        };
        eqnice!(
            shape(&strip(&loki)),
            shape(&strip(&ours)),
            "{id}: body and stats"
        );
        eqnice!(
            shape(&loki["data"]["result"]),
            shape(&ours["data"]["result"]),
            "{id}: result"
        );
        // The values are lokal's own, but these mean the same as in Loki.
        let (ls, os) = (
            &loki["data"]["stats"]["summary"],
            &ours["data"]["stats"]["summary"],
        );
        assert_eq!(
            ls["totalEntriesReturned"], os["totalEntriesReturned"],
            "{id}"
        );
        assert_eq!(ls["shards"], os["shards"], "{id}");
        checked += 1;
    }
    assert!(checked >= 9, "{checked} full responses checked");
}
