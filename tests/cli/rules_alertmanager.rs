//! `lokal rules eval --alertmanager` against a real Alertmanager (Debian's
//! `prometheus-alertmanager`, installed by `.ci/run`), started here on a free
//! loopback port with a temporary configuration and storage, clustering off.
//! After each run, Alertmanager's own `GET /api/v2/alerts` must list exactly the
//! expected alerts; a resolved alert ends. The logs are real lines from
//! apache_error.log with timestamps moved to the last minutes, since
//! Alertmanager judges `endsAt` against its own clock.
use std::fmt::Write as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// A running Alertmanager, stopped when dropped.
struct Alertmanager {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

/// The bcrypt hash of `lokal-test-password` (made with Python's `crypt`).
const PASSWORD_HASH: &str = "$2b$04$abcdefghijklmnopqrstuuzs/12lT0vzcyhdRQ2WZwcDFRbCVMIPW";

impl Alertmanager {
    /// Starts one; with `basic_auth`, it demands user `lokal` with
    /// `lokal-test-password`. `None` (after a note, or a failure under CI) when
    /// the package is not installed.
    fn start(basic_auth: bool) -> Option<Alertmanager> {
        let web = basic_auth.then(|| format!("basic_auth_users:\n  lokal: {PASSWORD_HASH}\n"));
        Self::start_with(web.as_deref(), "http")
    }

    /// Starts one with `web` as its `--web.config.file` (TLS, basic auth), served
    /// over `scheme`.
    fn start_with(web: Option<&str>, scheme: &str) -> Option<Alertmanager> {
        let bin = ["prometheus-alertmanager", "alertmanager"]
            .into_iter()
            .find(|b| {
                Command::new(b)
                    .arg("--version")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok()
            });
        let Some(bin) = bin else {
            crate::support::skip(
                "prometheus-alertmanager is not installed (Debian package prometheus-alertmanager)",
            );
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(
            &config,
            "route:\n  receiver: discard\n  group_wait: 1h\nreceivers:\n  - name: discard\n",
        )
        .unwrap();
        let web_file = dir.path().join("web.yml");
        if let Some(w) = web {
            std::fs::write(&web_file, w).unwrap();
        }
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut cmd = Command::new(bin);
            cmd.arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--cluster.listen-address=")
                .arg("--log.level=warn")
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            if web.is_some() {
                cmd.arg(format!("--web.config.file={}", web_file.display()));
            }
            let mut child = cmd.spawn().unwrap();
            let url = format!("{scheme}://127.0.0.1:{port}");
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if child.try_wait().unwrap().is_some() {
                    break; // the port was taken meanwhile: try another
                }
                let ready = if scheme == "http" {
                    ureq::get(&format!("{url}/-/ready"))
                        .config()
                        .http_status_as_error(false)
                        .build()
                        .call()
                        .is_ok_and(|r| r.status() == 200 || r.status() == 401)
                } else {
                    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                };
                if ready {
                    return Some(Alertmanager {
                        child,
                        url,
                        _dir: dir,
                    });
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("Alertmanager did not start");
    }

    /// `GET /api/v2/alerts`: what Alertmanager holds as active, sorted by labels,
    /// reduced to labels, annotations, startsAt and state.
    fn alerts(&self, auth: Option<&str>) -> Vec<serde_json::Value> {
        let mut req = ureq::get(&format!("{}/api/v2/alerts", self.url));
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        let mut resp = req.call().unwrap();
        let body: serde_json::Value =
            serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
        let mut v: Vec<serde_json::Value> = body
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                serde_json::json!({
                    "labels": a["labels"],
                    "annotations": a["annotations"],
                    "startsAt": a["startsAt"],
                    "state": a["status"]["state"],
                })
            })
            .collect();
        v.sort_by_key(|a| a["labels"].to_string());
        v
    }
}

impl Alertmanager {
    /// Waits (up to 10 s) until Alertmanager lists exactly `want`: it stores what
    /// it is sent at once, but a loaded machine can delay its answer.
    #[track_caller]
    fn assert_alerts(&self, auth: Option<&str>, want: &[serde_json::Value]) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.alerts(auth);
            if got == want {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "Alertmanager lists\n{:#}\nnot\n{:#}",
                    serde_json::Value::Array(got),
                    serde_json::Value::Array(want.to_vec())
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const RULES: &str = r#"groups:
  - name: bursts
    interval: 1m
    rules:
      - alert: ErrorBurst
        expr: sum by (job) (count_over_time({job=~"web|batch"} |= "error" [5m])) > 5
        for: 1m
        labels: {severity: page}
        annotations:
          summary: '{{ $labels.job }}: {{ $value | humanize }} errors in 5m'
"#;

/// Real error lines, one every 10 s from `from` up to (excluding) `to` (Unix
/// seconds), with RFC 3339 timestamps.
fn error_log(env: &TestEnv, name: &str, from: i64, to: i64) -> std::path::PathBuf {
    let real = shared("data/real/apache_error.log").unwrap();
    let msgs: Vec<String> = std::fs::read_to_string(real)
        .unwrap()
        .lines()
        .filter(|l| l.contains("[error]"))
        .map(|l| l[27..].to_string())
        .collect();
    let mut out = String::new();
    for (i, t) in (from..to).step_by(10).enumerate() {
        let ts = jiff::Timestamp::from_second(t).unwrap();
        writeln!(out, "{ts} {}", msgs[i % msgs.len()]).unwrap();
    }
    env.write(name, out)
}

fn iso(t: i64) -> String {
    jiff::Timestamp::from_second(t)
        .unwrap()
        .strftime("%Y-%m-%dT%H:%M:%S.000Z")
        .to_string()
}

/// The test's "now": 5 seconds past a 10-second slot of the web log's
/// lines, a few seconds ago. Rules are evaluated on the group's minute at or
/// before `now` and the log's lines stop before `now`, so a test started on
/// a whole minute evaluated a window whose last line was never written
/// (29 errors, not 30: it failed one start in sixty, whatever the load).
fn test_now() -> i64 {
    jiff::Timestamp::now().as_second() / 10 * 10 - 5
}

/// A store with two bursts: `web` erroring from 15 minutes before `m0` until
/// `now`, `batch` from 20 until 6 minutes before `m0` (the minute of `now`).
fn bursts(now: i64) -> Option<(TestEnv, std::path::PathBuf, i64)> {
    shared("data/real/apache_error.log")?;
    let m0 = now / 60 * 60;
    let env = TestEnv::new();
    let web = error_log(&env, "web.log", m0 - 15 * 60, now);
    let batch = error_log(&env, "batch.log", m0 - 20 * 60, m0 - 6 * 60);
    env.ingest([&web])
        .arg("--no-filename-label")
        .label("job=web")
        .ok();
    env.ingest([&batch])
        .arg("--no-filename-label")
        .label("job=batch")
        .ok();
    let rules = env.write("rules.yaml", RULES);
    Some((env, rules, m0))
}

fn expected(job: &str, starts: i64, value: &str) -> serde_json::Value {
    serde_json::json!({
        "labels": {"alertname": "ErrorBurst", "job": job, "severity": "page", "cluster": "ci"},
        "annotations": {"summary": format!("{job}: {value} errors in 5m")},
        "startsAt": iso(starts),
        "state": "active",
    })
}

#[test]
fn alertmanager_lists_exactly_the_firing_alerts_and_a_resolved_one_ends() {
    let now = test_now();
    let Some((env, rules, m0)) = bursts(now) else {
        return;
    };
    let Some(am) = Alertmanager::start(false) else {
        return;
    };
    let eval = |at: i64| {
        let mut c = env.cmd([
            "rules",
            "eval",
            "--external-label",
            "cluster=ci",
            "--resend-delay",
            "10m",
        ]);
        c.arg("--at")
            .arg(at.to_string())
            .arg("--alertmanager")
            .arg(&am.url)
            .arg(&rules);
        c
    };
    // Three minutes ago both bursts fired: web's fired at m0-13m (pending at
    // m0-14m, the first window with more than 5 lines), batch's at m0-18m.
    let r = eval(m0 - 3 * 60 + 30).assert_code(1);
    assert!(
        r.stderr
            .contains(&format!("lokal: sent 2 alerts to {}/api/v2/alerts", am.url)),
        "{r}"
    );
    // 30 lines in a 5-minute window inside a burst; batch's window at m0-3m
    // holds its last 11 (m0-7m50s … m0-6m10s).
    am.assert_alerts(
        None,
        &[
            expected("batch", m0 - 18 * 60, "11"),
            expected("web", m0 - 13 * 60, "30"),
        ],
    );
    // Now: batch's burst ended 6 minutes ago, so its alert resolved and is sent
    // with endsAt in the past; Alertmanager ends it. web's still fires.
    let dry = eval(now).arg("--dry-run").assert_code(1).json();
    let batch = dry
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["job"] == "batch")
        .unwrap();
    let ends: jiff::Timestamp = batch["endsAt"].as_str().unwrap().parse().unwrap();
    assert!(
        ends.as_second() <= m0 - 60 && ends.as_second() > m0 - 5 * 60,
        "{batch:#}"
    );
    assert_eq!(batch["startsAt"], iso(m0 - 18 * 60));
    let r = eval(now).assert_code(1);
    assert!(r.stderr.contains("lokal: sent 2 alerts"), "{r}");
    am.assert_alerts(None, &[expected("web", m0 - 13 * 60, "30")]);
    // The JSON posted is the JSON --dry-run prints.
    let web = dry
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["job"] == "web")
        .unwrap();
    let valid: jiff::Timestamp = web["endsAt"].as_str().unwrap().parse().unwrap();
    // ValidUntil: the evaluation at m0 plus 4 × max(1m, --resend-delay 10m).
    assert_eq!(valid.as_second(), m0 + 40 * 60, "{web:#}");
}

#[test]
fn basic_auth_and_unreachable_alertmanagers() {
    let now = test_now();
    let Some((env, rules, m0)) = bursts(now) else {
        return;
    };
    let Some(am) = Alertmanager::start(true) else {
        return;
    };
    // Evaluated at the test's "now", where the web log's lines end.
    let at = now.to_string();
    // Without credentials Alertmanager says 401: no retry, exit 2, a clear error
    // (web's firing alert and batch's resolved one were to go).
    let r = env
        .cmd([
            "rules",
            "eval",
            "--at",
            at.as_str(),
            "--alertmanager-retries",
            "3",
            "--alertmanager",
        ])
        .arg(&am.url)
        .arg(&rules)
        .assert_code(2);
    assert!(
        r.stderr.contains(&format!(
            "sending 2 alerts to Alertmanager failed: {}/api/v2/alerts: HTTP 401",
            am.url
        )) && r.stderr.contains("(after 1 attempt)"),
        "{r}"
    );
    // With them (the URL's user info, as Loki reads it), the alert arrives.
    let with_user = am
        .url
        .replace("http://", "http://lokal:lokal-test-password@");
    env.cmd([
        "rules",
        "eval",
        "--at",
        at.as_str(),
        "--external-label",
        "cluster=ci",
        "--alertmanager",
    ])
    .arg(&with_user)
    .arg(&rules)
    .assert_code(1);
    env.cmd([
        "rules",
        "eval",
        "--at",
        at.as_str(),
        "--external-label",
        "cluster=ci",
        "--alertmanager-basic-auth",
        "lokal:lokal-test-password",
        "--alertmanager",
    ])
    .arg(&am.url)
    .arg(&rules)
    .assert_code(1);
    use base64::Engine as _;
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("lokal:lokal-test-password")
    );
    am.assert_alerts(Some(&auth), &[expected("web", m0 - 13 * 60, "30")]);
    // Nothing listens: retried, then exit 2 naming the endpoint.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let r = env
        .cmd([
            "rules",
            "eval",
            "--at",
            at.as_str(),
            "--alertmanager-retries",
            "1",
            "--alertmanager",
        ])
        .arg(format!("http://127.0.0.1:{port}"))
        .arg(&rules)
        .assert_code(2);
    assert!(
        r.stderr.contains(&format!("lokal: sending 2 alerts to Alertmanager failed: http://127.0.0.1:{port}/api/v2/alerts: "))
            && r.stderr.contains("(after 2 attempts)"),
        "{r}"
    );
    // Even with nothing to send, an unreachable Alertmanager is an error: a cron
    // job learns of it before the day an alert fires.
    let quiet = env.write("quiet.yaml", RULES.replace("> 5", "> 1000"));
    let r = env
        .cmd([
            "rules",
            "eval",
            "--at",
            at.as_str(),
            "--alertmanager-retries",
            "0",
            "--alertmanager",
        ])
        .arg(format!("http://127.0.0.1:{port}"))
        .arg(&quiet)
        .assert_code(2);
    assert!(
        r.stderr.contains("sending 0 alerts to Alertmanager failed"),
        "{r}"
    );
}

#[test]
fn https_alertmanagers_with_a_ca_file() {
    let now = test_now();
    let Some((env, rules, _)) = bursts(now) else {
        return;
    };
    // A CA, and a certificate for 127.0.0.1 signed by it.
    let dir = env.path();
    if crate::support::tls::certificates(dir, "am").is_none() {
        return;
    }
    let web = format!(
        "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
        dir.join("am.pem").display(),
        dir.join("am.key").display()
    );
    let Some(am) = Alertmanager::start_with(Some(&web), "https") else {
        return;
    };
    // Without the CA the certificate is unknown: exit 2, no retry helps.
    let r = env
        .cmd([
            "rules",
            "eval",
            "--alertmanager-retries",
            "0",
            "--alertmanager",
        ])
        .arg(&am.url)
        .arg(&rules)
        .assert_code(2);
    assert!(
        r.stderr.contains(&format!("{}/api/v2/alerts: ", am.url))
            && r.stderr.to_lowercase().contains("certificate"),
        "{r}"
    );
    let r = env
        .cmd(["rules", "eval", "--alertmanager-ca-file"])
        .arg(dir.join("ca.pem"))
        .arg("--alertmanager")
        .arg(&am.url)
        .arg(&rules)
        .assert_code(1);
    assert!(
        r.stderr
            .contains(&format!("lokal: sent 2 alerts to {}/api/v2/alerts", am.url)),
        "{r}"
    );
}
