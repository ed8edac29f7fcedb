//! LogQL behaviours each checked directly at the command line, needing no
//! `../shared`: the query limit and direction over many blocks and
//! segments, `| json` key sanitising, division and modulo by zero, and
//! anchored selector regexes. The expected answers of the last three were
//! recorded from the real Loki 3.7.6 of `../shared/loki` on the same push
//! body (see each test).
use std::collections::BTreeSet;

use crate::common::*;

/// The push body given to both Loki and lokal: four JSON lines with keys
/// that need sanitising, and six plain lines of another stream.
fn pushed(env: &TestEnv) {
    let base = 1_700_000_000i64; // 2023-11-14T22:13:20Z
    let keys = [
        r#"{"a-b":1,"c.d":"x","nested":{"e f":"y","9g":2},"9x":"z","ü":"u"," sp ":"s"}"#,
        r#"{"user-agent":"curl","http.status":200,"1st":"one","level":"info"}"#,
        r#"{"job":"dup","Ab.C-d":"mixed","x":{"y":{"z-w":"deep"}}}"#,
        r#"{"a":[1,2],"b":null,"c":true,"d":1.5e3}"#,
    ];
    let values = |lines: Vec<String>| -> Vec<serde_json::Value> {
        lines
            .into_iter()
            .enumerate()
            .map(|(i, l)| serde_json::json!([((base + i as i64) * 1_000_000_000).to_string(), l]))
            .collect()
    };
    let body = serde_json::json!({"streams": [
        {"stream": {"job": "keys"}, "values": values(keys.iter().map(|s| s.to_string()).collect())},
        {"stream": {"job": "nums", "app": "a"}, "values": values((0..6).map(|i| format!("n={i}")).collect())},
    ]});
    let f = env.write("push.json", serde_json::to_vec(&body).unwrap());
    env.ingest([&f]).args(["--format", "loki-push"]).ok();
}

#[test]
fn json_keys_are_sanitised_as_loki_does() {
    let env = TestEnv::new();
    pushed(&env);
    let out = env
        .cmd(["query", "-o", "json", "--forward", r#"{job="keys"} | json"#])
        .json();
    let got: BTreeSet<(String, String)> = out["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            let stream = serde_json::to_string(&r["stream"]).unwrap();
            r["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |v| (v[0].as_str().unwrap().to_string(), stream.clone()))
        })
        .collect();
    // Loki 3.7.6, /loki/api/v1/query_range, the same query and body.
    let want: BTreeSet<(String, String)> = [
        ("1700000000000000000", r#"{"_":"u","_9x":"z","a_b":"1","c_d":"x","job":"keys","nested_9g":"2","nested_e_f":"y","sp":"s"}"#),
        ("1700000001000000000", r#"{"_1st":"one","http_status":"200","job":"keys","level":"info","user_agent":"curl"}"#),
        ("1700000002000000000", r#"{"Ab_C_d":"mixed","job":"keys","job_extracted":"dup","x_y_z_w":"deep"}"#),
        ("1700000003000000000", r#"{"c":"true","d":"1.5e3","job":"keys"}"#),
    ]
    .iter()
    .map(|(t, s)| (t.to_string(), s.to_string()))
    .collect();
    assert_eq!(got, want);
}

#[test]
fn division_and_modulo_by_zero_give_nan_as_in_loki() {
    let env = TestEnv::new();
    pushed(&env);
    let c = r#"sum(count_over_time({job="nums"}[5m]))"#;
    let value = |q: &str| -> serde_json::Value {
        let out = env
            .cmd([
                "instant-query",
                "-o",
                "json",
                "--now",
                "2023-11-14T22:14:00Z",
                "--",
                q,
            ])
            .run();
        assert!(out.code == Some(0) || out.code == Some(1), "{out}");
        out.json()["data"]["result"].clone()
    };
    // Loki 3.7.6 answers every one of these with NaN (not ±Inf).
    for q in [
        format!("{c} / 0"),
        format!("{c} % 0"),
        format!("{c} * 0 / 0"),
        format!("{c} / ({c} - {c})"),
        format!("{c} % ({c} - {c})"),
    ] {
        let r = value(&q);
        assert_eq!(
            r,
            serde_json::json!([{"metric": {}, "value": [1700000040, "NaN"]}]),
            "{q}"
        );
    }
    for q in ["1/0", "-1/0", "0/0", "5 % 0"] {
        assert_eq!(value(q)[1], "NaN", "{q}");
    }
    // NaN compares false: the filter drops it.
    assert_eq!(value(&format!("{c} / 0 > 0")), serde_json::json!([]));
    let r = value(r#"count_over_time({job="nums"}[5m]) / on() group_left vector(0)"#);
    assert_eq!(
        r,
        serde_json::json!([{"metric": {"app": "a", "job": "nums"}, "value": [1700000040, "NaN"]}])
    );
}

#[test]
fn selector_regexes_are_anchored() {
    let env = TestEnv::new();
    pushed(&env);
    let series = |sel: &str| env.cmd(["series", sel]).run().stdout;
    // Loki 3.7.6's /loki/api/v1/series for the same matchers.
    for (sel, want) in [
        (r#"{job=~"key"}"#, ""),
        (r#"{job=~"eys"}"#, ""),
        (r#"{job=~"keys|x"}"#, "{job=\"keys\"}\n"),
        (r#"{job=~".*ey.*"}"#, "{job=\"keys\"}\n"),
        (r#"{job=~"nums", app=~"a|"}"#, "{app=\"a\", job=\"nums\"}\n"),
        (r#"{job=~"k.*", job!~"keys"}"#, ""),
        (r#"{job=~"k.*", job!~"key"}"#, "{job=\"keys\"}\n"),
    ] {
        eqnice!(want, series(sel), "series {sel}");
    }
    env.cmd(["query", r#"{job=~"key"}"#]).assert_code(1);
    env.cmd(["query", r#"{job=~"ums"} |= "n""#]).assert_code(1);
    assert_eq!(
        env.ok([
            "query",
            "-o",
            "raw",
            "--limit",
            "0",
            r#"{job=~"nums|keys"}"#
        ])
        .lines()
        .count(),
        10
    );
    let metric = |q: &str| {
        env.cmd([
            "instant-query",
            "-o",
            "json",
            "--now",
            "2023-11-14T22:14:00Z",
            q,
        ])
        .run()
        .json()["data"]["result"]
            .clone()
    };
    assert_eq!(
        metric(r#"sum by (job) (count_over_time({job=~"nums|keys"}[5m]))"#),
        serde_json::json!([
            {"metric": {"job": "keys"}, "value": [1700000040, "4"]},
            {"metric": {"job": "nums"}, "value": [1700000040, "6"]},
        ])
    );
    assert_eq!(
        metric(r#"sum by (job) (count_over_time({job=~"num"}[5m]))"#),
        serde_json::json!([])
    );
}

/// Three streams whose entries interleave at distinct millisecond times,
/// in many blocks and segments (small batches): `--limit N` must return
/// exactly the N newest (or, with `--forward`, oldest) of the full answer,
/// whatever the number of blocks and waves the scan goes through.
#[test]
fn the_limit_returns_the_newest_or_oldest_entries_exactly() {
    let env = TestEnv::new();
    let base_ms = 1_700_000_000_000i64;
    let mut all: Vec<(i64, String)> = Vec::new();
    let mut files = Vec::new();
    for (k, name) in ["a", "b", "c"].iter().enumerate() {
        let mut s = String::new();
        for i in 0..4000 {
            let ms = base_ms + i * 3 * 37 + k as i64 * 37;
            let ts = jiff::Timestamp::from_millisecond(ms).unwrap();
            let line = format!("{ts} stream={name} n={i} pad=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
            s.push_str(&line);
            s.push('\n');
            all.push((ms, line));
        }
        files.push(env.write(&format!("{name}.log"), s));
    }
    for f in &files {
        // Left as the batches wrote them (not merged at the end of each run).
        env.ingest([f])
            .args([
                "--label",
                "job=lim",
                "--batch-size",
                "32KiB",
                "--compact",
                "never",
            ])
            .ok();
    }
    assert!(segments(&env).len() > 6, "many segments");
    all.sort();
    let query = |args: &[&str]| -> Vec<String> {
        env.cmd(["query", "-o", "raw"])
            .args(args)
            .arg(r#"{job="lim"}"#)
            .run()
            .stdout
            .lines()
            .map(String::from)
            .collect()
    };
    let newest =
        |n: usize| -> Vec<String> { all.iter().rev().take(n).map(|(_, l)| l.clone()).collect() };
    let oldest = |n: usize| -> Vec<String> { all.iter().take(n).map(|(_, l)| l.clone()).collect() };
    for n in [1usize, 2, 7, 100, 999, 4001, 11_999, 12_000, 50_000] {
        let l = n.to_string();
        assert_eq!(query(&["--limit", &l]), newest(n), "--limit {n}");
        assert_eq!(
            query(&["--limit", &l, "--forward"]),
            oldest(n),
            "--limit {n} --forward"
        );
    }
    assert_eq!(query(&["--limit", "0"]), newest(all.len()));
    // The default limit is Loki's 100.
    assert_eq!(query(&[]), newest(100));
    // A limit over a filtered query: the newest matches, not the newest lines.
    let ones: Vec<String> = all
        .iter()
        .rev()
        .filter(|(_, l)| l.contains("n=1"))
        .take(50)
        .map(|(_, l)| l.clone())
        .collect();
    let got: Vec<String> = env
        .cmd([
            "query",
            "-o",
            "raw",
            "--limit",
            "50",
            r#"{job="lim"} |= "n=1""#,
        ])
        .run()
        .stdout
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(got, ones);
}
