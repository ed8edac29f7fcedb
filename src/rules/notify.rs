//! Alerts to Alertmanager: the `PostableAlert` bodies Loki's ruler sends
//! (`pkg/ruler/base/ruler.go: SendAlerts`, Prometheus' `notifier`) and an HTTP
//! client that posts them to `/api/v2/alerts` of each Alertmanager.
//!
//! What is sent at an evaluation, as Prometheus' `sendAlerts`: every firing alert,
//! with `endsAt` its `ValidUntil` (the evaluation time plus 4 × the larger of the
//! group interval and the resend delay: it stays active through three missed
//! evaluations), and every resolved alert still kept, with `endsAt` the time it
//! was resolved. (Prometheus sends an alert again only once `resend_delay` has passed
//! since it last did; a run of `rules eval` has no memory of earlier runs, so it sends
//! them all, which is what Prometheus does once per resend delay — a cron job run
//! every N minutes should set `--resend-delay` to N.) `startsAt` is when the alert
//! fired. External labels are added
//! to an alert that lacks them (`notifier.relabelAlerts`). `generatorURL` is
//! Loki's Grafana Explore link to the rule's expression.
//!
//! The client is `ureq` (blocking, rustls): TLS with a CA file, basic auth (also
//! from the URL's user info, as Loki reads it), a bearer token, a timeout per
//! request and retries with exponential backoff on connection errors, 429 and
//! 5xx. Every Alertmanager is posted to, even when there is nothing to send (an
//! empty list), so an unreachable one is noticed on every run.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::alerting::State;
use super::eval::{AlertRule, AlertView, Group, Settings};
use super::RulesError;

/// Alertmanager's `PostableAlert` (API v2), fields in the order Prometheus'
/// client marshals them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PostableAlert {
    /// Annotations (omitted when there are none).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// RFC 3339 with milliseconds.
    #[serde(rename = "endsAt")]
    pub ends_at: String,
    /// RFC 3339 with milliseconds.
    #[serde(rename = "startsAt")]
    pub starts_at: String,
    /// Where the alert comes from.
    #[serde(rename = "generatorURL", skip_serializing_if = "String::is_empty")]
    pub generator_url: String,
    /// The alert's labels.
    pub labels: BTreeMap<String, String>,
}

/// Go's `strfmt.DateTime` form: `2006-01-02T15:04:05.000Z`, UTC.
pub fn datetime(ns: i64) -> String {
    crate::go::time::Time::utc(ns as i128).format("2006-01-02T15:04:05.000Z07:00")
}

/// Loki's `grafanaLinkForExpression`: a relative Grafana Explore link.
pub fn grafana_link(expr: &str, datasource_uid: Option<&str>) -> String {
    let mut q = format!(
        "{{\"expr\":{},\"queryType\":\"range\"",
        crate::go::json::quote(expr)
    );
    if let Some(uid) = datasource_uid {
        q.push_str(&format!(
            ",\"datasource\":{{\"type\":\"loki\",\"uid\":{}}}",
            crate::go::json::quote(uid)
        ));
    }
    q.push('}');
    format!(
        "/explore?left={}",
        crate::go::url::query_escape(&format!("{{\"queries\":[{q}]}}"))
    )
}

/// How long a sent alert stays valid after the evaluation that sent it.
pub fn valid_for(group: &Group, s: &Settings) -> i64 {
    4 * group.interval.max(s.resend_delay)
}

/// The alert Loki's ruler would send for `a` at evaluation `eval_ts`, or `None` for
/// an alert that is not sent (pending).
pub fn postable(
    a: &AlertView,
    rule: &AlertRule,
    group: &Group,
    s: &Settings,
    eval_ts: i64,
) -> Option<PostableAlert> {
    if a.state == State::Pending {
        return None;
    }
    let mut labels: BTreeMap<String, String> = a
        .labels
        .pairs()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, v) in &s.external_labels {
        if labels.get(k).is_none_or(|x| x.is_empty()) {
            labels.insert(k.clone(), v.clone());
        }
    }
    let ends = match (a.state, a.resolved_at) {
        (State::Inactive, Some(r)) => r,
        _ => eval_ts + valid_for(group, s),
    };
    Some(PostableAlert {
        annotations: a.annotations.iter().cloned().collect(),
        ends_at: datetime(ends),
        starts_at: datetime(a.fired_at.unwrap_or(a.active_at)),
        generator_url: format!(
            "{}{}",
            s.external_url,
            grafana_link(&rule.expr_text, s.datasource_uid.as_deref())
        ),
        labels,
    })
}

/// How to reach Alertmanagers.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Timeout of one request (Loki's `notification_timeout`, 10s).
    pub timeout: Duration,
    /// Retries after the first attempt.
    pub retries: u32,
    /// The first wait before a retry; doubled each time.
    pub backoff: Duration,
    /// Basic auth user and password (the URL's user info wins).
    pub basic_auth: Option<(String, String)>,
    /// A bearer token.
    pub bearer_token: Option<String>,
    /// CA certificates (PEM) to trust instead of the built-in roots.
    pub ca_file: Option<PathBuf>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(10),
            retries: 3,
            backoff: Duration::from_millis(500),
            basic_auth: None,
            bearer_token: None,
            ca_file: None,
        }
    }
}

/// What one Alertmanager said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The endpoint posted to (without credentials).
    pub url: String,
    /// Alerts posted.
    pub alerts: usize,
    /// Attempts it took.
    pub attempts: u32,
}

/// An Alertmanager URL as Loki takes it (`http://user:pass@host:9093/prefix`):
/// the endpoint `…/api/v2/alerts` and the user info, if any.
pub fn endpoint(base: &str) -> Result<(String, Option<(String, String)>), String> {
    let (scheme, rest) = base
        .split_once("://")
        .ok_or_else(|| format!("{base:?}: an Alertmanager URL needs http:// or https://"))?;
    if scheme != "http" && scheme != "https" {
        return Err(format!(
            "{base:?}: an Alertmanager URL needs http:// or https://"
        ));
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (auth, host) = match authority.rsplit_once('@') {
        Some((u, h)) => {
            let (user, pass) = u.split_once(':').unwrap_or((u, ""));
            let dec = |s: &str| {
                crate::go::url::query_unescape(&s.replace('+', "%2B"))
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_else(|_| s.to_string())
            };
            (Some((dec(user), dec(pass))), h)
        }
        None => (None, authority),
    };
    if host.is_empty() {
        return Err(format!("{base:?}: no host in the Alertmanager URL"));
    }
    let path = path.trim_end_matches('/');
    Ok((format!("{scheme}://{host}{path}/api/v2/alerts"), auth))
}

fn agent(o: &ClientOptions) -> Result<ureq::Agent, RulesError> {
    use ureq::tls::{PemItem, RootCerts, TlsConfig};
    let mut cfg = ureq::Agent::config_builder()
        .timeout_global(Some(o.timeout))
        .http_status_as_error(false)
        .user_agent(concat!("lokal/", env!("CARGO_PKG_VERSION")));
    if let Some(ca) = &o.ca_file {
        let pem = std::fs::read(ca).map_err(|e| RulesError::Io {
            path: ca.clone(),
            err: e,
        })?;
        let certs: Vec<_> = ureq::tls::parse_pem(&pem)
            .filter_map(|i| match i {
                Ok(PemItem::Certificate(c)) => Some(c),
                _ => None,
            })
            .collect();
        if certs.is_empty() {
            return Err(RulesError::Alertmanager(format!(
                "{}: no PEM certificate in the CA file",
                ca.display()
            )));
        }
        cfg = cfg.tls_config(
            TlsConfig::builder()
                .root_certs(RootCerts::new_with_certs(&certs))
                .build(),
        );
    }
    Ok(cfg.build().into())
}

/// Posts `alerts` to every Alertmanager of `urls`; fails, naming each, when one
/// cannot be reached or refuses them after the retries.
pub fn send(
    urls: &[String],
    alerts: &[PostableAlert],
    o: &ClientOptions,
) -> Result<Vec<Delivery>, RulesError> {
    use base64::Engine as _;
    let agent = agent(o)?;
    let body = serde_json::to_vec(alerts).expect("alerts serialize");
    let mut done = Vec::new();
    let mut failed = Vec::new();
    for base in urls {
        let (url, user_info) = endpoint(base).map_err(RulesError::Alertmanager)?;
        let auth = match (
            user_info.as_ref().or(o.basic_auth.as_ref()),
            &o.bearer_token,
        ) {
            (Some((u, p)), _) => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )),
            (None, Some(t)) => Some(format!("Bearer {t}")),
            (None, None) => None,
        };
        let mut attempt = 0u32;
        let mut wait = o.backoff;
        loop {
            attempt += 1;
            let mut req = agent.post(&url).header("Content-Type", "application/json");
            if let Some(a) = &auth {
                req = req.header("Authorization", a);
            }
            let outcome = match req.send(&body[..]) {
                Ok(mut resp) => {
                    let status = resp.status().as_u16();
                    if (200..300).contains(&status) {
                        Ok(())
                    } else {
                        let text = resp.body_mut().read_to_string().unwrap_or_default();
                        let retry = status == 429 || status >= 500;
                        Err((retry, format!("HTTP {status}: {}", text.trim())))
                    }
                }
                Err(e) => Err((true, e.to_string())),
            };
            match outcome {
                Ok(()) => {
                    done.push(Delivery {
                        url: url.clone(),
                        alerts: alerts.len(),
                        attempts: attempt,
                    });
                    break;
                }
                Err((true, _)) if attempt <= o.retries => {
                    std::thread::sleep(wait);
                    wait *= 2;
                }
                Err((_, msg)) => {
                    failed.push(format!(
                        "{url}: {msg} (after {attempt} attempt{})",
                        if attempt == 1 { "" } else { "s" }
                    ));
                    break;
                }
            }
        }
    }
    if !failed.is_empty() {
        return Err(RulesError::Alertmanager(format!(
            "sending {} alert{} to Alertmanager failed: {}",
            alerts.len(),
            if alerts.len() == 1 { "" } else { "s" },
            failed.join("; ")
        )));
    }
    Ok(done)
}

/// Everything Loki's ruler would send after each group's last reported
/// evaluation: its firing alerts and (unless `firing_only`) its resolved alerts
/// still kept.
pub fn outgoing(
    reports: &[super::eval::GroupReport],
    s: &Settings,
    firing_only: bool,
) -> Vec<PostableAlert> {
    let mut out = Vec::new();
    for g in reports {
        let Some(last) = g.last else { continue };
        for r in &g.rules {
            let super::eval::RuleReport::Alert(a) = r else {
                continue;
            };
            out.extend(
                a.alerts
                    .iter()
                    .filter(|v| !firing_only || v.state == State::Firing)
                    .filter_map(|v| postable(v, &a.rule, &g.group, s, last)),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_and_credentials() {
        assert_eq!(
            endpoint("http://am:9093").unwrap(),
            ("http://am:9093/api/v2/alerts".into(), None)
        );
        assert_eq!(
            endpoint("https://u:p%40ss@am.example/prefix/").unwrap(),
            (
                "https://am.example/prefix/api/v2/alerts".into(),
                Some(("u".into(), "p@ss".into()))
            )
        );
        assert!(endpoint("am:9093").is_err());
    }

    #[test]
    fn grafana_links_like_loki() {
        // Loki: json.Marshal escapes `>` as \u003e; url.Values.Encode query-escapes.
        assert_eq!(
            grafana_link("sum(x) > 1", None),
            "/explore?left=%7B%22queries%22%3A%5B%7B%22expr%22%3A%22sum%28x%29+%5Cu003e+1%22%2C%22queryType%22%3A%22range%22%7D%5D%7D"
        );
        assert!(grafana_link("x", Some("abc"))
            .contains("%22datasource%22%3A%7B%22type%22%3A%22loki%22%2C%22uid%22%3A%22abc%22%7D"));
        assert_eq!(
            datetime(1_700_000_000_123_456_789),
            "2023-11-14T22:13:20.123Z"
        );
    }

    #[test]
    fn unreachable_alertmanagers_fail_after_retries() {
        // A port nothing listens on: bind one, then drop it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let o = ClientOptions {
            retries: 2,
            backoff: Duration::from_millis(1),
            ..ClientOptions::default()
        };
        let e = send(&[format!("http://127.0.0.1:{port}")], &[], &o)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(&format!(
                "sending 0 alerts to Alertmanager failed: http://127.0.0.1:{port}/api/v2/alerts: "
            )),
            "{e}"
        );
        assert!(e.ends_with("(after 3 attempts)"), "{e}");
    }
}
