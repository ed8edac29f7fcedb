//! logcli's connection flags (`--addr`, credentials, TLS, retries), each
//! with logcli's environment variable, and their one conversion into the
//! library's `loki::client::ClientOptions`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;

use lokal::loki::client::{Auth, ClientOptions};

use super::GlobalArgs;

/// How to reach a Grafana Loki (logcli's flags and variables).
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Loki connection (logcli's flags and variables)")]
pub struct LokiArgs {
    /// A Grafana Loki to ask instead of the local store, e.g. http://localhost:3100 (X-Scope-OrgID:
    /// --tenant/--org-id when given, else $LOKI_ORG_ID)
    #[arg(long, env = "LOKI_ADDR", value_name = "URL")]
    pub addr: Option<String>,
    /// Username for HTTP basic auth
    #[arg(long, env = "LOKI_USERNAME", value_name = "USER")]
    pub username: Option<String>,
    /// Password for HTTP basic auth
    #[arg(
        long,
        env = "LOKI_PASSWORD",
        value_name = "PASSWORD",
        hide_env_values = true
    )]
    pub password: Option<String>,
    /// Bearer token for the Authorization header
    #[arg(
        long,
        env = "LOKI_BEARER_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub bearer_token: Option<String>,
    /// File holding the bearer token
    #[arg(long, env = "LOKI_BEARER_TOKEN_FILE", value_name = "FILE")]
    pub bearer_token_file: Option<PathBuf>,
    /// Header the credentials go in
    #[arg(
        long,
        env = "LOKI_AUTH_HEADER",
        default_value = "Authorization",
        value_name = "NAME"
    )]
    pub auth_header: String,
    /// CA certificates (PEM) to trust for https
    #[arg(long, env = "LOKI_CA_CERT_PATH", value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// Client certificate (PEM)
    #[arg(
        long,
        env = "LOKI_CLIENT_CERT_PATH",
        value_name = "FILE",
        requires = "key"
    )]
    pub cert: Option<PathBuf>,
    /// Client certificate's key (PEM)
    #[arg(
        long,
        env = "LOKI_CLIENT_KEY_PATH",
        value_name = "FILE",
        requires = "cert"
    )]
    pub key: Option<PathBuf>,
    /// Accept any server certificate
    #[arg(long, env = "LOKI_TLS_SKIP_VERIFY")]
    pub tls_skip_verify: bool,
    /// X-Query-Tags header
    #[arg(long, env = "LOKI_QUERY_TAGS", value_name = "TAGS")]
    pub query_tags: Option<String>,
    /// Send Cache-Control: no-cache
    #[arg(long, env = "LOKI_NO_CACHE")]
    pub nocache: bool,
    /// An http(s) proxy [default: $HTTPS_PROXY, $HTTP_PROXY, $ALL_PROXY]
    #[arg(long, env = "LOKI_HTTP_PROXY_URL", value_name = "URL")]
    pub proxy_url: Option<String>,
    /// Retries of a request Loki answers with 429 or 5xx, or does not answer [default: 0 for
    /// queries, 10 for push]
    #[arg(long, env = "LOKI_CLIENT_RETRIES", value_name = "N")]
    pub retries: Option<u32>,
    /// First wait before a retry, doubled each time: a duration, or milliseconds as logcli
    /// [default: 500ms]
    #[arg(long, env = "LOKI_CLIENT_MIN_BACKOFF", value_name = "DURATION")]
    pub min_backoff: Option<String>,
    /// Longest wait before a retry (also caps Retry-After) [default: 5m]
    #[arg(long, env = "LOKI_CLIENT_MAX_BACKOFF", value_name = "DURATION")]
    pub max_backoff: Option<String>,
    /// Timeout of one request [default: 5m for queries, 10s for push]
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
}

/// A backoff flag: a duration, or a bare number of milliseconds (logcli's unit).
fn backoff(flag: &str, s: &str) -> Result<Duration> {
    if let Ok(ms) = s.trim().parse::<u64>() {
        return Ok(Duration::from_millis(ms));
    }
    lokal::units::parse_duration(s)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("--{flag}"))
}

/// Defaults that differ between queries and push.
pub struct Defaults {
    /// Retries.
    pub retries: u32,
    /// Timeout per request.
    pub timeout: Duration,
}

/// For queries: logcli's (no retries), and a long timeout for big answers.
pub const QUERY_DEFAULTS: Defaults = Defaults {
    retries: 0,
    timeout: Duration::from_secs(300),
};

/// For push: promtail's client (10 retries, 10 s per request).
pub const PUSH_DEFAULTS: Defaults = Defaults {
    retries: 10,
    timeout: Duration::from_secs(10),
};

impl LokiArgs {
    /// The client options for `addr`, with `g`'s tenant as the org id.
    pub fn options(&self, addr: &str, g: &GlobalArgs, d: &Defaults) -> Result<ClientOptions> {
        let org_id = if g.tenant != lokal::store::DEFAULT_TENANT {
            Some(g.tenant.clone())
        } else {
            std::env::var("LOKI_ORG_ID").ok().filter(|s| !s.is_empty())
        };
        let token = match (&self.bearer_token, &self.bearer_token_file) {
            (Some(_), Some(_)) => bail!("--bearer-token and --bearer-token-file: give one"),
            (Some(t), None) => Some(t.clone()),
            (None, Some(f)) => Some(
                std::fs::read_to_string(f)
                    .with_context(|| format!("--bearer-token-file {}", f.display()))?
                    .trim()
                    .to_string(),
            ),
            (None, None) => None,
        };
        let auth = match (&self.username, &self.password, token) {
            (Some(_), _, Some(_)) | (None, Some(_), Some(_)) => {
                bail!("basic auth (--username/--password) and a bearer token: give one")
            }
            (None, None, None) => Auth::None,
            (u, p, None) => Auth::Basic {
                user: u.clone().unwrap_or_default(),
                password: p.clone().unwrap_or_default(),
            },
            (None, None, Some(t)) => Auth::Bearer(t),
        };
        let mut headers = Vec::new();
        if let Some(t) = &self.query_tags {
            headers.push(("X-Query-Tags".to_string(), t.clone()));
        }
        if self.nocache {
            headers.push(("Cache-Control".to_string(), "no-cache".to_string()));
        }
        let dur = |flag: &str, v: &Option<String>, default: Duration| -> Result<Duration> {
            v.as_deref().map_or(Ok(default), |s| backoff(flag, s))
        };
        Ok(ClientOptions {
            addr: addr.to_string(),
            org_id,
            auth,
            auth_header: self.auth_header.clone(),
            headers,
            ca_file: self.ca_cert.clone(),
            client_cert: self.cert.clone().zip(self.key.clone()),
            tls_skip_verify: self.tls_skip_verify,
            proxy: self.proxy_url.clone().filter(|s| !s.is_empty()),
            timeout: match &self.timeout {
                Some(t) => lokal::units::parse_duration(t)
                    .map_err(anyhow::Error::msg)
                    .context("--timeout")?,
                None => d.timeout,
            },
            retries: self.retries.unwrap_or(d.retries),
            min_backoff: dur("min-backoff", &self.min_backoff, Duration::from_millis(500))?,
            max_backoff: dur("max-backoff", &self.max_backoff, Duration::from_secs(300))?,
        })
    }

    /// A remote querier when `--addr` (or `LOKI_ADDR`) is given.
    pub fn remote(&self, g: &GlobalArgs) -> Result<Option<lokal::querier::Remote>> {
        let Some(addr) = self.addr.as_deref().filter(|a| !a.is_empty()) else {
            return Ok(None);
        };
        Ok(Some(lokal::querier::Remote::new(self.options(
            addr,
            g,
            &QUERY_DEFAULTS,
        )?)?))
    }
}
