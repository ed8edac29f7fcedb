//! `lokal serve`: Loki's HTTP API over the store (see [`lokal::server`]).
use anyhow::Result;
use clap::Args;

use anyhow::Context;
use lokal::ingest::push::PushLimits;
use lokal::model::Limits;
use lokal::server::auth::Credential;
use lokal::server::{stop_on_signals, Server, ServerConfig};
use lokal::units::{parse_bytes, parse_duration};

use super::exit::ExitCode;
use super::GlobalArgs;

/// Arguments of `lokal serve`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  lokal serve                                  # Loki's API on 127.0.0.1:3100
  logcli --addr http://127.0.0.1:3100 query '{job=\"api\"}'
  lokal serve --listen 0.0.0.0:3100            # reachable from other machines
  lokal push --addr http://127.0.0.1:3100      # another store's streams into this one
  promtail / Alloy / Vector: client url http://127.0.0.1:3100/loki/api/v1/push")]
pub struct ServeArgs {
    /// Address to listen on; loopback by default (port 0 picks a free one)
    #[arg(long, default_value = "127.0.0.1:3100", value_name = "HOST:PORT")]
    pub listen: String,
    /// Threads answering requests
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub workers: usize,
    /// Largest request body accepted (bytes, or 4MB, 100MiB, …), as Loki's
    /// server.grpc_max_recv_msg_size
    #[arg(long, default_value = "100MB", value_name = "SIZE", value_parser = parse_bytes)]
    pub max_body: u64,
    /// Longest pushed line accepted, 0 for no limit (Loki's max_line_size)
    #[arg(long, default_value = "256KB", value_name = "SIZE", value_parser = parse_bytes, help_heading = "Push limits")]
    pub max_line_size: u64,
    /// Most labels per pushed stream (Loki's max_label_names_per_series)
    #[arg(
        long,
        default_value_t = 15,
        value_name = "N",
        help_heading = "Push limits"
    )]
    pub max_labels_per_stream: usize,
    /// Longest label name (Loki's max_label_name_length)
    #[arg(
        long,
        default_value_t = 1024,
        value_name = "N",
        help_heading = "Push limits"
    )]
    pub max_label_name_length: usize,
    /// Longest label value (Loki's max_label_value_length)
    #[arg(
        long,
        default_value_t = 2048,
        value_name = "N",
        help_heading = "Push limits"
    )]
    pub max_label_value_length: usize,
    /// Refuse pushed entries further in the future than this, "off" for no
    /// check (Loki's creation_grace_period)
    #[arg(
        long,
        default_value = "10m",
        value_name = "DURATION",
        help_heading = "Push limits"
    )]
    pub creation_grace_period: String,
    /// Refuse pushed entries older than this (Loki's reject_old_samples_max_age);
    /// without it any age is stored, as `lokal ingest` stores old logs
    #[arg(long, value_name = "DURATION", help_heading = "Push limits")]
    pub reject_old_samples_max_age: Option<String>,
    /// How long a push waits for another writer (a running `lokal ingest`)
    /// before it is answered 503, which Loki's clients retry
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = parse_duration, help_heading = "Push limits")]
    pub lock_timeout: std::time::Duration,
    /// Require HTTP basic auth with these credentials (USER:PASSWORD; prefer
    /// --basic-auth-file or the environment to keep it out of `ps`)
    #[arg(
        long,
        value_name = "USER:PASSWORD",
        env = "LOKAL_SERVE_BASIC_AUTH",
        hide_env_values = true,
        help_heading = "Access"
    )]
    pub basic_auth: Option<String>,
    /// Read USER:PASSWORD for basic auth from this file
    #[arg(long, value_name = "FILE", help_heading = "Access")]
    pub basic_auth_file: Option<std::path::PathBuf>,
    /// Require `Authorization: Bearer TOKEN` (either credential is accepted when both are set)
    #[arg(
        long,
        value_name = "TOKEN",
        env = "LOKAL_SERVE_BEARER_TOKEN",
        hide_env_values = true,
        help_heading = "Access"
    )]
    pub bearer_token: Option<String>,
    /// Read the bearer token from this file
    #[arg(long, value_name = "FILE", help_heading = "Access")]
    pub bearer_token_file: Option<std::path::PathBuf>,
    /// Largest `limit` a log query may ask for, 0 for none (Loki's max_entries_limit_per_query)
    #[arg(
        long,
        default_value_t = 5000,
        value_name = "N",
        help_heading = "Query limits"
    )]
    pub max_entries_limit_per_query: usize,
    /// Most series a metric query may return, 0 for none (Loki's max_query_series)
    #[arg(
        long,
        default_value_t = 500,
        value_name = "N",
        help_heading = "Query limits"
    )]
    pub max_query_series: usize,
    /// Answer 504 to a query still running after this, "off" for no limit (Loki's query_timeout)
    #[arg(
        long,
        default_value = "1m",
        value_name = "DURATION",
        help_heading = "Query limits"
    )]
    pub query_timeout: String,
    /// Most live tails (/loki/api/v1/tail) at once, 0 for no limit (Loki's max_concurrent_tail_requests)
    #[arg(
        long,
        default_value_t = 10,
        value_name = "N",
        help_heading = "Query limits"
    )]
    pub max_tails: usize,
}

/// The credentials of the access flags.
fn credentials(a: &ServeArgs) -> Result<Vec<Credential>> {
    let read = |flag: &str, p: &std::path::Path| {
        std::fs::read_to_string(p).with_context(|| format!("--{flag} {}", p.display()))
    };
    let mut out = Vec::new();
    let basic = match (&a.basic_auth, &a.basic_auth_file) {
        (_, Some(f)) => Some(read("basic-auth-file", f)?),
        (Some(v), None) => Some(v.clone()),
        (None, None) => None,
    };
    if let Some(b) = basic {
        out.push(Credential::basic(&b).map_err(|e| anyhow::anyhow!("--basic-auth: {e}"))?);
    }
    let bearer = match (&a.bearer_token, &a.bearer_token_file) {
        (_, Some(f)) => Some(read("bearer-token-file", f)?),
        (Some(v), None) => Some(v.clone()),
        (None, None) => None,
    };
    if let Some(t) = bearer {
        out.push(Credential::bearer(&t).map_err(|e| anyhow::anyhow!("--bearer-token: {e}"))?);
    }
    Ok(out)
}

/// A duration flag in ns; `off` is none.
fn duration_ns(flag: &str, value: &str) -> Result<Option<i64>> {
    if value == "off" {
        return Ok(None);
    }
    let d = parse_duration(value).map_err(|e| anyhow::anyhow!("--{flag}: {e}"))?;
    Ok(Some(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)))
}

/// Runs `lokal serve` until SIGINT or SIGTERM.
pub fn run(g: &GlobalArgs, a: &ServeArgs) -> Result<ExitCode> {
    let server = Server::bind(
        &a.listen,
        ServerConfig {
            store: g.store(),
            default_tenant: g.tenant.clone(),
            workers: a.workers,
            max_body: a.max_body,
            push_limits: PushLimits {
                limits: Limits {
                    max_labels_per_stream: a.max_labels_per_stream,
                    max_label_name_length: a.max_label_name_length,
                    max_label_value_length: a.max_label_value_length,
                    max_line_size: usize::try_from(a.max_line_size).unwrap_or(usize::MAX),
                },
                creation_grace_ns: duration_ns("creation-grace-period", &a.creation_grace_period)?,
                max_age_ns: match &a.reject_old_samples_max_age {
                    Some(v) => duration_ns("reject-old-samples-max-age", v)?,
                    None => None,
                },
            },
            lock_timeout: a.lock_timeout,
            credentials: credentials(a)?,
            max_entries_limit: a.max_entries_limit_per_query,
            max_query_series: a.max_query_series,
            query_timeout: duration_ns("query-timeout", &a.query_timeout)?
                .map(|ns| std::time::Duration::from_nanos(ns as u64)),
            max_tails: a.max_tails,
        },
    )?;
    let stop = stop_on_signals();
    if let Some(addr) = server.local_addr() {
        // The address on stderr: with port 0 it is how a caller learns the port.
        eprintln!("lokal: serving Loki's API on http://{addr}");
        if !addr.ip().is_loopback() && !server.has_credentials() {
            eprintln!(
                "lokal: warning: {addr} is reachable from other machines and no --basic-auth or \
                 --bearer-token is set: anyone who reaches it can read and push to the store"
            );
        }
    }
    let done = server.run(stop);
    eprintln!("lokal: stopped");
    done?;
    Ok(ExitCode::Ok)
}
