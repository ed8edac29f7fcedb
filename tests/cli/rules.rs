//! `lokal rules eval` over real logs (`../shared/data/real/apache_error.log`):
//! an error-burst alert that goes pending, fires and resolves at the right
//! evaluations, `for` keeping it pending, `keep_firing_for`, annotations with
//! `humanize` and `$labels`, recordings read back by Prometheus' own text-format
//! parsers. The expected alert lives are computed here from the raw file (its
//! timestamps parsed by this test, the windows counted by hand) with a plain
//! model of Prometheus' documented semantics, not with lokal's code.
use std::path::{Path, PathBuf};

use crate::common::*;

const MIN: i64 = 60;

pub fn rules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rules")
}

/// The store with apache_error.log as `{job="apache"}`, and the Unix seconds of
/// its `[error]` lines, parsed here from `[Sun Dec 04 04:47:44 2005]`.
pub fn apache() -> Option<(TestEnv, Vec<i64>)> {
    let file = shared("data/real/apache_error.log")?;
    let env = TestEnv::new();
    env.ingest([&file])
        .arg("--no-filename-label")
        .label("job=apache")
        .ok();
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut errors = Vec::new();
    for line in std::fs::read_to_string(&file).unwrap().lines() {
        if !line.contains("[error]") {
            continue;
        }
        // [Sun Dec 04 04:47:44 2005]
        let f: Vec<&str> = line[1..25].split([' ', ':']).collect();
        let month = months.iter().position(|m| *m == f[1]).unwrap() as i8 + 1;
        let dt = jiff::civil::date(f[6].parse().unwrap(), month, f[2].parse().unwrap()).at(
            f[3].parse().unwrap(),
            f[4].parse().unwrap(),
            f[5].parse().unwrap(),
            0,
        );
        errors.push(
            dt.to_zoned(jiff::tz::TimeZone::UTC)
                .unwrap()
                .timestamp()
                .as_second(),
        );
    }
    Some((env, errors))
}

/// `[error]` lines in `(t - 5m, t]`.
pub fn count5m(errors: &[i64], t: i64) -> usize {
    errors
        .iter()
        .filter(|&&e| e > t - 5 * MIN && e <= t)
        .count()
}

/// One alert's life in the reference model.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Life {
    pending: i64,
    firing: Option<i64>,
    resolved: Option<i64>,
    dropped: Option<i64>,
}

/// Prometheus' alerting semantics, plainly: evaluated every minute from `from` to
/// `to`; pending at the first true evaluation, firing once true for `hold`,
/// dropped when false while pending, resolved when false while firing (after
/// `keep_firing_for` has run out, counted from the first false evaluation).
fn reference(cond: impl Fn(i64) -> bool, from: i64, to: i64, hold: i64, kff: i64) -> Vec<Life> {
    let mut out = Vec::new();
    let mut cur: Option<Life> = None;
    let mut kept_since: Option<i64> = None;
    let mut t = from;
    while t <= to {
        if cond(t) {
            kept_since = None;
            let l = cur.get_or_insert(Life {
                pending: t,
                firing: None,
                resolved: None,
                dropped: None,
            });
            if l.firing.is_none() && t - l.pending >= hold {
                l.firing = Some(t);
            }
        } else if let Some(mut l) = cur.take() {
            if l.firing.is_none() {
                l.dropped = Some(t);
                out.push(l);
            } else {
                let since = *kept_since.get_or_insert(t);
                if t - since < kff {
                    cur = Some(l);
                } else {
                    l.resolved = Some(t);
                    kept_since = None;
                    out.push(l);
                }
            }
        }
        t += MIN;
    }
    out.extend(cur);
    out
}

/// The lives lokal reports for `alert` over the range, from `-o json`.
fn lives(json: &serde_json::Value, alert: &str) -> Vec<Life> {
    let secs = |v: &serde_json::Value| -> Option<i64> {
        v.as_str()
            .map(|s| s.parse::<jiff::Timestamp>().unwrap().as_second())
    };
    json.as_array()
        .unwrap()
        .iter()
        .filter(|e| e["alert"] == alert)
        .map(|e| Life {
            pending: secs(&e["pendingAt"]).unwrap(),
            firing: secs(&e["firingAt"]),
            resolved: secs(&e["resolvedAt"]),
            dropped: secs(&e["droppedAt"]),
        })
        .collect()
}

const FROM: &str = "2005-12-04T04:00:00Z";
const TO: &str = "2005-12-05T20:00:00Z";
/// 2005-12-04T04:00:00Z and 2005-12-05T20:00:00Z.
const FROM_S: i64 = 1_133_668_800;
const TO_S: i64 = FROM_S + 40 * 3600;

fn backtest(env: &TestEnv) -> serde_json::Value {
    env.cmd([
        "rules", "eval", "-z", "UTC", "-o", "json", "--from", FROM, "--to", TO,
    ])
    .arg(rules_dir().join("apache_errors.yaml"))
    .assert_code(1)
    .json()
}

#[test]
fn error_burst_goes_pending_fires_and_resolves_at_the_right_evaluations() {
    let Some((env, errors)) = apache() else {
        return;
    };
    let got = lives(&backtest(&env), "ErrorBurst");
    let want = reference(|t| count5m(&errors, t) > 8, FROM_S, TO_S, 2 * MIN, 0);
    assert_eq!(got, want);
    // The first burst, read off the file by hand: more than 8 errors in 5 minutes
    // from 04:53 to 04:59, 8 or fewer at 05:00.
    let at = |hm: &str| {
        format!("2005-12-04T{hm}:00Z")
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_second()
    };
    assert_eq!(
        got[0],
        Life {
            pending: at("04:53"),
            firing: Some(at("04:55")),
            resolved: Some(at("05:00")),
            dropped: None
        }
    );
    assert!(
        got.iter().filter(|l| l.resolved.is_some()).count() >= 5,
        "{got:?}"
    );
    // The timeline lists the same transitions in time order.
    let timeline = env
        .cmd([
            "rules",
            "eval",
            "-z",
            "UTC",
            "-o",
            "timeline",
            "--from",
            "2005-12-04T04:50:00Z",
            "--to",
            "2005-12-04T05:10:00Z",
        ])
        .arg(rules_dir().join("apache_errors.yaml"))
        .assert_code(1)
        .stdout;
    let events: Vec<(String, String)> = timeline
        .lines()
        .skip(1)
        .filter(|l| l.contains(" ErrorBurst "))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // The value at a transition into pending or firing is that evaluation's.
            if f[1] == "pending" || f[1] == "firing" {
                let t = f[0].parse::<jiff::Timestamp>().unwrap().as_second();
                assert_eq!(f[f.len() - 1], count5m(&errors, t).to_string(), "{l}");
            }
            (f[0].to_string(), f[1].to_string())
        })
        .collect();
    let e = |t: &str, what: &str| (format!("2005-12-04T{t}:00Z"), what.to_string());
    assert_eq!(
        events,
        [
            e("04:53", "pending"),
            e("04:55", "firing"),
            e("05:00", "resolved"),
            e("05:01", "pending"),
            e("05:03", "dropped"),
            e("05:05", "pending"),
            e("05:06", "dropped"),
        ],
        "{timeline}"
    );
}

#[test]
fn for_keeps_a_short_burst_pending() {
    let Some((env, errors)) = apache() else {
        return;
    };
    let got = lives(&backtest(&env), "ErrorBurst");
    // Bursts shorter than `for` never fire: pending, then dropped.
    let dropped: Vec<&Life> = got.iter().filter(|l| l.dropped.is_some()).collect();
    assert!(dropped.len() >= 3, "{got:?}");
    for l in &dropped {
        assert!(l.firing.is_none() && l.dropped.unwrap() - l.pending <= 2 * MIN);
        assert!(count5m(&errors, l.dropped.unwrap()) <= 8);
    }
    // At 05:02 the second burst is pending, so ErrorBurst does not fire: with it
    // alone, exit 0, and the table shows the pending alert.
    let text = std::fs::read_to_string(rules_dir().join("apache_errors.yaml")).unwrap();
    let only = env.write(
        "only.yaml",
        &text[..text.find("      # The same condition").unwrap()],
    );
    let out = env
        .cmd(["rules", "eval", "-z", "UTC", "--at", "2005-12-04T05:02:30Z"])
        .arg(&only)
        .assert_code(0)
        .stdout;
    let row = out
        .lines()
        .find(|l| l.contains(" ErrorBurst "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        row.contains(" pending ") && row.contains("2005-12-04T05:01:00Z"),
        "{out}"
    );
}

#[test]
fn keep_firing_for_holds_a_firing_alert_through_short_gaps() {
    let Some((env, errors)) = apache() else {
        return;
    };
    let json = backtest(&env);
    let plain = lives(&json, "ErrorBurst");
    let sticky = lives(&json, "ErrorBurstSticky");
    let cond = |t| count5m(&errors, t) > 8;
    assert_eq!(sticky, reference(cond, FROM_S, TO_S, 2 * MIN, 3 * MIN));
    // Resolved 3 minutes after the condition clears (unless it came back).
    let first = &sticky[0];
    assert_eq!(first.pending, plain[0].pending);
    assert!(
        first.resolved.unwrap() >= plain[0].resolved.unwrap() + 3 * MIN,
        "{sticky:?}"
    );
    // Fewer, longer alerts: a burst that comes back within keep_firing_for is
    // the same alert (the plain rule's second, pending one is part of the first).
    assert!(sticky.len() < plain.len(), "{plain:?}\n{sticky:?}");
    assert!(plain[1].pending < first.resolved.unwrap() && plain[1].firing.is_none());
}

#[test]
fn annotations_are_rendered_with_humanize_and_labels() {
    let Some((env, errors)) = apache() else {
        return;
    };
    let at = "2005-12-04T04:58:30Z";
    let t = at.parse::<jiff::Timestamp>().unwrap().as_second() / MIN * MIN;
    let n = count5m(&errors, t);
    let json = env
        .cmd([
            "rules",
            "eval",
            "-z",
            "UTC",
            "-o",
            "json",
            "--at",
            at,
            "--external-label",
            "cluster=eu",
        ])
        .arg(rules_dir().join("apache_errors.yaml"))
        .assert_code(1)
        .json();
    let alerts = json.as_array().unwrap();
    // Firing alerts only (ErrorBurst; the sticky one too): PostableAlert bodies.
    assert_eq!(alerts.len(), 2, "{json:#}");
    let a = alerts
        .iter()
        .find(|a| a["labels"]["alertname"] == "ErrorBurst")
        .unwrap();
    assert_eq!(
        a["annotations"],
        serde_json::json!({
            "summary": format!("{n} errors in 5m on apache"),
            "description": format!("APACHE logged {n} errors; 5m 0s window"),
        })
    );
    assert_eq!(
        a["labels"],
        serde_json::json!({"alertname": "ErrorBurst", "job": "apache", "severity": "page", "cluster": "eu"})
    );
    assert_eq!(a["startsAt"], "2005-12-04T04:55:00.000Z");
    // ValidUntil: the evaluation (04:58) plus 4 × max(1m interval, 1m resend delay).
    assert_eq!(a["endsAt"], "2005-12-04T05:02:00.000Z");
    assert!(a["generatorURL"]
        .as_str()
        .unwrap()
        .starts_with("/explore?left=%7B%22queries%22"));
    // humanize of a value over 1000: a separate expression with many lines.
    let big = env.write(
        "big.yaml",
        r#"groups:
  - name: g
    rules:
      - alert: Many
        expr: count_over_time({job="apache"}[2d]) > 1000
        annotations: {summary: "{{ humanize $value }} lines, {{ $value | humanize1024 }}, {{ humanizePercentage 0.256 }}"}
"#,
    );
    let json = env
        .cmd([
            "rules",
            "eval",
            "-o",
            "json",
            "--at",
            "2005-12-05T20:00:00Z",
        ])
        .arg(&big)
        .assert_code(1)
        .json();
    assert_eq!(
        json[0]["annotations"]["summary"], "2k lines, 1.953ki, 25.6%",
        "{json:#}"
    );
}

/// Runs Debian's python3 with its prometheus_client (python3-prometheus-client):
/// parses `text` with the text-format (`om` false) or OpenMetrics parser and
/// prints one `name labels value timestamp` line per sample.
fn prometheus_client_parse(text: &str, om: bool) -> Option<Vec<String>> {
    let python = Path::new("/usr/bin/python3");
    let ok = python.exists()
        && std::process::Command::new(python)
            .args(["-c", "import prometheus_client"])
            .status()
            .is_ok_and(|s| s.success());
    if !ok {
        crate::support::skip("Debian's python3-prometheus-client is not installed");
        return None;
    }
    let module = if om {
        "prometheus_client.openmetrics.parser"
    } else {
        "prometheus_client.parser"
    };
    let script = format!(
        "import sys, json\nfrom {module} import text_string_to_metric_families as p\n\
         for f in p(sys.stdin.read()):\n    assert f.type == 'gauge', f.type\n\
         \x20   for s in f.samples:\n        print(s.name, json.dumps(s.labels, sort_keys=True), repr(float(s.value)), s.timestamp)\n"
    );
    let stdout = crate::support::loki::pipe_ok(
        std::process::Command::new(python).args(["-c", &script]),
        text.as_bytes(),
    );
    Some(stdout.lines().map(str::to_string).collect())
}

#[test]
fn recordings_are_read_back_by_prometheus_parsers() {
    let Some((env, errors)) = apache() else {
        return;
    };
    // One time: the textfile collector's format, no timestamps.
    let prom = env.path().join("apache.prom");
    env.cmd([
        "rules",
        "eval",
        "-q",
        "--at",
        "2005-12-04T06:21:10Z",
        "--record",
    ])
    .arg(&prom)
    .arg(rules_dir().join("apache_errors.yaml"))
    .assert_code(1);
    let text = std::fs::read_to_string(&prom).unwrap();
    let t = "2005-12-04T06:21:00Z"
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_second();
    let Some(parsed) = prometheus_client_parse(&text, false) else {
        return;
    };
    assert_eq!(
        parsed,
        [format!(
            "job:apache_errors:count5m {{\"job\": \"apache\"}} {}.0 None",
            count5m(&errors, t)
        )],
        "{text}"
    );
    // A range: OpenMetrics with a timestamp per evaluation, ending in # EOF.
    let om = env.path().join("apache.om");
    env.cmd([
        "rules",
        "eval",
        "-q",
        "--from",
        "2005-12-04T06:00:00Z",
        "--to",
        "2005-12-04T07:00:00Z",
        "--record",
    ])
    .arg(&om)
    .arg(rules_dir().join("apache_errors.yaml"))
    .assert_code(1);
    let text = std::fs::read_to_string(&om).unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    let Some(parsed) = prometheus_client_parse(&text, true) else {
        return;
    };
    let want: Vec<String> = (0..=60)
        .map(|m| t - 21 * MIN + m * MIN)
        .filter(|&t| count5m(&errors, t) > 0)
        .map(|t| {
            format!(
                "job:apache_errors:count5m {{\"job\": \"apache\"}} {}.0 {t}.000000000",
                count5m(&errors, t)
            )
        })
        .collect();
    assert_eq!(parsed, want);
}

#[test]
fn exit_codes_and_errors() {
    let Some((env, _)) = apache() else { return };
    let rules = rules_dir().join("apache_errors.yaml");
    // Nothing pending or firing: 0, and a note on stderr.
    let r = env
        .cmd(["rules", "eval", "--at", "2005-12-04T04:10:00Z"])
        .arg(&rules)
        .assert_code(0);
    assert!(r.stdout.lines().all(|l| !l.contains("ErrorBurst")), "{r}");
    // A rule file Loki refuses: 2, with the file, line and reason.
    let bad = env.write(
        "bad.yaml",
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: count_over_time({job=\"apache\"}[1m]) >\n",
    );
    let r = env.cmd(["rules", "eval"]).arg(&bad).assert_code(2);
    assert!(r.stderr.contains("bad.yaml:5:15: group \"g\", rule 1 \"A\": could not parse expression for alert 'A' in group 'g': parse error"), "{r}");
    // An unknown key: the file, line and key.
    let typo = env.write(
        "typo.yaml",
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expresion: x\n",
    );
    let r = env.cmd(["rules", "eval"]).arg(&typo).assert_code(2);
    assert!(
        r.stderr
            .contains("typo.yaml:5:9: unknown key \"expresion\" in a rule"),
        "{r}"
    );
    // A query that fails at evaluation: 2, naming the rule and the time.
    let failing = env.write(
        "failing.yaml",
        "groups:\n  - name: g\n    rules:\n      - record: a:b\n        expr: sum(count_over_time({job=\"apache\"} | json [1m]))\n",
    );
    let r = env
        .cmd(["rules", "eval", "-z", "UTC", "--at", "2005-12-04T05:00:00Z"])
        .arg(&failing)
        .assert_code(2);
    assert!(
        r.stderr.contains(
            "1 failed evaluation:\n  group \"g\", rule \"a:b\" at 2005-12-04T05:00:00Z: "
        ),
        "{r}"
    );
    // --alertmanager needs one evaluation.
    env.cmd([
        "rules",
        "eval",
        "--from",
        FROM,
        "--to",
        TO,
        "--alertmanager",
        "http://127.0.0.1:1",
    ])
    .arg(&rules)
    .assert_code(2);
}
