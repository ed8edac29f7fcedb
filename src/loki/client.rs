//! The HTTP client lokal talks to Grafana Loki (and the ruler to
//! Alertmanager) with: `ureq` (blocking, rustls), one agent per run.
//!
//! [`ClientOptions`] are logcli's connection flags: the address, the tenant
//! (`X-Scope-OrgID`), basic auth or a bearer token (in `Authorization` or
//! another header, `--auth-header`), extra headers (`X-Query-Tags`,
//! `Cache-Control: no-cache`), TLS with a CA file, a client certificate or
//! no verification, a proxy, a timeout per request, and retries with
//! exponential backoff on connection errors, 429 and 5xx. A `Retry-After`
//! header (seconds or an HTTP date) replaces the backoff of that wait, as
//! promtail's client and Go's `http` retry helpers read it, capped at the
//! largest backoff so a misbehaving proxy cannot park a push for a day.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;

/// Why a request to Loki failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A certificate or key file could not be read or holds no PEM item.
    #[error("{}: {what}", path.display())]
    Tls {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        what: String,
    },
    /// The address is not an http(s) URL.
    #[error(
        "{0:?}: a Loki address needs http:// or https:// and a host, e.g. http://localhost:3100"
    )]
    Address(String),
    /// The proxy URL is not one.
    #[error("proxy {url:?}: {err}")]
    Proxy {
        /// The URL.
        url: String,
        /// ureq's complaint.
        err: String,
    },
    /// No answer (connection refused, timeout, TLS failure), after the retries.
    #[error("{url}: {err} (after {attempts} attempt{})", if *attempts == 1 { "" } else { "s" })]
    Unreachable {
        /// The request URL (without credentials).
        url: String,
        /// The last failure.
        err: String,
        /// Attempts made.
        attempts: u32,
    },
    /// Loki answered with an error status (after the retries, for 429 and 5xx).
    #[error("{url}: HTTP {status}: {}", body.trim())]
    Status {
        /// The request URL.
        url: String,
        /// The status code.
        status: u16,
        /// Loki's error text.
        body: String,
    },
    /// Loki's answer is not what the API promises.
    #[error("{url}: unexpected answer: {what}")]
    Body {
        /// The request URL.
        url: String,
        /// What is wrong.
        what: String,
    },
}

/// How a request authenticates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Auth {
    /// Nothing.
    #[default]
    None,
    /// HTTP basic auth.
    Basic {
        /// User.
        user: String,
        /// Password.
        password: String,
    },
    /// `Bearer TOKEN`.
    Bearer(String),
}

/// Where and how to reach a Loki (logcli's connection flags).
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Base URL, `http://localhost:3100` (a path prefix is kept).
    pub addr: String,
    /// `X-Scope-OrgID`, when set.
    pub org_id: Option<String>,
    /// Credentials.
    pub auth: Auth,
    /// The header credentials go in (logcli's `--auth-header`, `Authorization`).
    pub auth_header: String,
    /// More headers sent with every request.
    pub headers: Vec<(String, String)>,
    /// CA certificates (PEM) to trust instead of the built-in roots.
    pub ca_file: Option<PathBuf>,
    /// A client certificate chain and its key (PEM).
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// Accept any server certificate.
    pub tls_skip_verify: bool,
    /// An http(s) proxy (else `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY` from the environment).
    pub proxy: Option<String>,
    /// Timeout of one request.
    pub timeout: Duration,
    /// Retries after the first attempt (connection errors, 429, 5xx).
    pub retries: u32,
    /// The first wait before a retry; doubled each time.
    pub min_backoff: Duration,
    /// The longest wait, `Retry-After` included.
    pub max_backoff: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            addr: "http://localhost:3100".into(),
            org_id: None,
            auth: Auth::None,
            auth_header: "Authorization".into(),
            headers: Vec::new(),
            ca_file: None,
            client_cert: None,
            tls_skip_verify: false,
            proxy: None,
            timeout: Duration::from_secs(10),
            retries: 0,
            min_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(300),
        }
    }
}

/// The PEM certificates in `path`.
fn read_certs(path: &Path) -> Result<Vec<ureq::tls::Certificate<'static>>, ClientError> {
    use ureq::tls::PemItem;
    let pem = std::fs::read(path).map_err(|e| ClientError::Tls {
        path: path.to_path_buf(),
        what: e.to_string(),
    })?;
    let certs: Vec<_> = ureq::tls::parse_pem(&pem)
        .filter_map(|i| match i {
            Ok(PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        return Err(ClientError::Tls {
            path: path.to_path_buf(),
            what: "no PEM certificate in the file".into(),
        });
    }
    Ok(certs)
}

/// A blocking agent: a global timeout per request, error statuses as
/// answers (the caller reads Loki's text), TLS roots from `ca_file` when
/// given, a client certificate, optionally no verification, a proxy.
pub fn agent(
    timeout: Duration,
    ca_file: Option<&Path>,
    client_cert: Option<(&Path, &Path)>,
    skip_verify: bool,
    proxy: Option<&str>,
) -> Result<ureq::Agent, ClientError> {
    use ureq::tls::{ClientCert, PrivateKey, RootCerts, TlsConfig};
    let mut cfg = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .user_agent(concat!("lokal/", env!("CARGO_PKG_VERSION")));
    let mut tls = TlsConfig::builder().disable_verification(skip_verify);
    if let Some(ca) = ca_file {
        tls = tls.root_certs(RootCerts::new_with_certs(&read_certs(ca)?));
    }
    if let Some((cert, key)) = client_cert {
        let chain = read_certs(cert)?;
        let pem = std::fs::read(key).map_err(|e| ClientError::Tls {
            path: key.to_path_buf(),
            what: e.to_string(),
        })?;
        let key_pem = PrivateKey::from_pem(&pem).map_err(|e| ClientError::Tls {
            path: key.to_path_buf(),
            what: format!("no PEM private key: {e}"),
        })?;
        tls = tls.client_cert(Some(ClientCert::new_with_certs(&chain, key_pem)));
    }
    cfg = cfg.tls_config(tls.build());
    if let Some(p) = proxy {
        let proxy = ureq::Proxy::new(p).map_err(|e| ClientError::Proxy {
            url: p.to_string(),
            err: e.to_string(),
        })?;
        cfg = cfg.proxy(Some(proxy));
    }
    Ok(cfg.build().into())
}

/// The value of an `Authorization` header for `auth`, if any.
pub fn authorization(auth: &Auth) -> Option<String> {
    match auth {
        Auth::None => None,
        Auth::Basic { user, password } => Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )),
        Auth::Bearer(t) => Some(format!("Bearer {t}")),
    }
}

/// How long a `Retry-After` value asks to wait: whole seconds, or an HTTP
/// date (RFC 9110's IMF-fixdate) counted from `now_s` (unix seconds).
pub fn retry_after(value: &str, now_s: i64) -> Option<Duration> {
    let v = value.trim();
    if let Ok(s) = v.parse::<u64>() {
        return Some(Duration::from_secs(s));
    }
    let t = jiff::fmt::strtime::parse("%a, %d %b %Y %H:%M:%S GMT", v)
        .ok()?
        .to_datetime()
        .ok()?
        .to_zoned(jiff::tz::TimeZone::UTC)
        .ok()?
        .timestamp()
        .as_second();
    Some(Duration::from_secs(t.saturating_sub(now_s).max(0) as u64))
}

/// One answer from Loki.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
    /// Attempts it took (1 = no retry).
    pub attempts: u32,
}

/// What a request is about to do again, for a caller that shows progress.
#[derive(Debug, Clone)]
pub struct Retry {
    /// The status that caused it (`None`: no answer).
    pub status: Option<u16>,
    /// Why, in words.
    pub reason: String,
    /// How long it waits first.
    pub wait: Duration,
}

/// A client of one Loki: an agent and the options it was made with.
pub struct Client {
    agent: ureq::Agent,
    base: String,
    opts: ClientOptions,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("base", &self.base).finish()
    }
}

impl Client {
    /// A client for `opts` (certificates are read now).
    pub fn new(opts: ClientOptions) -> Result<Client, ClientError> {
        let addr = opts.addr.trim_end_matches('/').to_string();
        let ok = ["http://", "https://"]
            .iter()
            .any(|p| addr.starts_with(p) && addr.len() > p.len());
        if !ok {
            return Err(ClientError::Address(opts.addr.clone()));
        }
        let agent = agent(
            opts.timeout,
            opts.ca_file.as_deref(),
            opts.client_cert
                .as_ref()
                .map(|(c, k)| (c.as_path(), k.as_path())),
            opts.tls_skip_verify,
            opts.proxy.as_deref(),
        )?;
        Ok(Client {
            agent,
            base: addr,
            opts,
        })
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The options.
    pub fn options(&self) -> &ClientOptions {
        &self.opts
    }

    /// `base + path` with `params` query-escaped as Go's `url.Values.Encode`
    /// does (sorted by key).
    pub fn url(&self, path: &str, params: &[(&str, String)]) -> String {
        let mut sorted: Vec<&(&str, String)> = params.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        let q: Vec<String> = sorted
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    crate::go::url::query_escape(k),
                    crate::go::url::query_escape(v)
                )
            })
            .collect();
        if q.is_empty() {
            format!("{}{path}", self.base)
        } else {
            format!("{}{path}?{}", self.base, q.join("&"))
        }
    }

    /// GET `path?params`; a 2xx body, else [`ClientError::Status`].
    pub fn get(&self, path: &str, params: &[(&str, String)]) -> Result<Vec<u8>, ClientError> {
        let url = self.url(path, params);
        let a = self.send(&url, None, &mut |_| {})?;
        if (200..300).contains(&a.status) {
            Ok(a.body)
        } else {
            Err(ClientError::Status {
                url,
                status: a.status,
                body: String::from_utf8_lossy(&a.body).into_owned(),
            })
        }
    }

    /// POST `body` (of `content_type`) to `path`; the final answer, whatever
    /// its status: 429 and 5xx were retried, `on_retry` told of each retry.
    pub fn post(
        &self,
        path: &str,
        content_type: &str,
        body: &[u8],
        on_retry: &mut dyn FnMut(&Retry),
    ) -> Result<Answer, ClientError> {
        let url = format!("{}{path}", self.base);
        self.send(&url, Some((content_type, body)), on_retry)
    }

    /// One request with the retries: connection errors, 429 and 5xx are
    /// retried `opts.retries` times; the last answer (or error) is returned.
    fn send(
        &self,
        url: &str,
        body: Option<(&str, &[u8])>,
        on_retry: &mut dyn FnMut(&Retry),
    ) -> Result<Answer, ClientError> {
        let auth = authorization(&self.opts.auth);
        let mut attempt = 0u32;
        let mut backoff = self.opts.min_backoff;
        loop {
            attempt += 1;
            let outcome = self.attempt(url, body, auth.as_deref());
            let (status, reason, after) = match &outcome {
                Ok((a, _)) if a.status != 429 && a.status < 500 => {
                    let (a, _) = outcome.unwrap();
                    return Ok(Answer {
                        attempts: attempt,
                        ..a
                    });
                }
                Ok((a, after)) => (
                    Some(a.status),
                    format!(
                        "HTTP {}: {}",
                        a.status,
                        String::from_utf8_lossy(&a.body).trim()
                    ),
                    *after,
                ),
                Err(e) => (None, e.clone(), None),
            };
            if attempt > self.opts.retries {
                return match outcome {
                    Ok((a, _)) => Ok(Answer {
                        attempts: attempt,
                        ..a
                    }),
                    Err(err) => Err(ClientError::Unreachable {
                        url: url.to_string(),
                        err,
                        attempts: attempt,
                    }),
                };
            }
            let wait = after.unwrap_or(backoff).min(self.opts.max_backoff);
            on_retry(&Retry {
                status,
                reason,
                wait,
            });
            std::thread::sleep(wait);
            backoff = (backoff * 2).min(self.opts.max_backoff);
        }
    }

    /// One attempt: the answer and its `Retry-After`, or why there is none.
    fn attempt(
        &self,
        url: &str,
        body: Option<(&str, &[u8])>,
        auth: Option<&str>,
    ) -> Result<(Answer, Option<Duration>), String> {
        macro_rules! headers {
            ($req:expr) => {{
                let mut req = $req;
                if let Some(org) = &self.opts.org_id {
                    req = req.header("X-Scope-OrgID", org);
                }
                if let Some(a) = auth {
                    req = req.header(self.opts.auth_header.as_str(), a);
                }
                for (k, v) in &self.opts.headers {
                    req = req.header(k.as_str(), v.as_str());
                }
                req
            }};
        }
        let res = match body {
            Some((ct, b)) => headers!(self.agent.post(url))
                .header("Content-Type", ct)
                .send(b),
            None => headers!(self.agent.get(url)).call(),
        };
        let mut resp = res.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let now = jiff::Timestamp::now().as_second();
        let after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry_after(v, now));
        let body = resp
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_vec()
            .map_err(|e| e.to_string())?;
        Ok((
            Answer {
                status,
                body,
                attempts: 0,
            },
            after,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_and_dates() {
        assert_eq!(retry_after(" 3 ", 0), Some(Duration::from_secs(3)));
        // 1994-11-06T08:49:37Z is 784111777.
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_770),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_800),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon", 0), None);
    }

    #[test]
    fn urls_sort_and_escape_parameters_as_go() {
        let c = Client::new(ClientOptions {
            addr: "http://127.0.0.1:1/prefix/".into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            c.url(
                "/loki/api/v1/query",
                &[("query", "{a=\"b c\"}".into()), ("limit", "5".into())]
            ),
            "http://127.0.0.1:1/prefix/loki/api/v1/query?limit=5&query=%7Ba%3D%22b+c%22%7D"
        );
        assert!(matches!(
            Client::new(ClientOptions {
                addr: "localhost:3100".into(),
                ..Default::default()
            }),
            Err(ClientError::Address(_))
        ));
    }

    #[test]
    fn credentials() {
        assert_eq!(
            authorization(&Auth::Basic {
                user: "u".into(),
                password: "p".into()
            })
            .unwrap(),
            "Basic dTpw"
        );
        assert_eq!(
            authorization(&Auth::Bearer("t".into())).unwrap(),
            "Bearer t"
        );
        assert_eq!(authorization(&Auth::None), None);
    }
}
