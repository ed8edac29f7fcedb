//! `lokal serve`: Loki's HTTP API over the local store, so Loki's clients
//! (Grafana's data source, logcli, promtail and `lokal push`) can talk to
//! a store as to a Loki.
//!
//! The HTTP stack is `tiny_http`, a small synchronous server: a few worker
//! threads each take the next request from the shared listener and answer
//! it through the [`crate::querier`] API, with the bodies of
//! [`crate::loki::api`] (what `lokal query -o json` prints). Every request
//! opens its own querier, so it reads one consistent snapshot of the store.

pub mod auth;
pub mod explore;
pub mod handlers;
pub mod metrics;
pub mod params;
pub mod push;
pub mod tail;
pub mod volume;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::store::Store;

/// How often an idle worker looks at the shutdown flag.
const POLL: Duration = Duration::from_millis(100);

/// Errors of the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}; pick a free address with --listen")]
    Bind {
        /// The address asked for.
        addr: String,
        /// Why it failed.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The default tenant is not a valid org id.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// Rebuilding the indexes of pushed days at shutdown failed.
    #[error("rebuilding the label indexes of pushed days: {0}")]
    Index(#[from] crate::ingest::IngestError),
}

/// What `lokal serve` serves.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The store.
    pub store: Store,
    /// Tenant of requests without `X-Scope-OrgID` (`--tenant`).
    pub default_tenant: String,
    /// Worker threads answering requests.
    pub workers: usize,
    /// Largest request body accepted, bytes (Loki's `max_recv_msg_size`).
    pub max_body: u64,
    /// What a push must satisfy (label and line limits, timestamp bounds).
    pub push_limits: crate::ingest::push::PushLimits,
    /// How long a push waits for another writer (`lokal ingest`) before
    /// it is answered 503.
    pub lock_timeout: Duration,
    /// Credentials a request must present (`--basic-auth`,
    /// `--bearer-token`); none: no authentication.
    pub credentials: Vec<auth::Credential>,
    /// Largest `limit` of a log query (Loki's `max_entries_limit_per_query`);
    /// 0: no limit.
    pub max_entries_limit: usize,
    /// Most series a metric query may return (Loki's `max_query_series`);
    /// 0: no limit.
    pub max_query_series: usize,
    /// How long a query may run before it is answered 504 (Loki's
    /// `query_timeout`); `None`: no limit.
    pub query_timeout: Option<Duration>,
    /// Most tails at once (Loki's `max_concurrent_tail_requests`); 0: no limit.
    pub max_tails: usize,
}

/// What every worker shares: the configuration and the push committer.
pub struct State {
    /// The configuration.
    pub config: ServerConfig,
    /// The queue to the push committer.
    pub committer: push::Committer,
    /// What `/metrics` shows.
    pub metrics: metrics::Metrics,
    /// Set when the server stops (tails watch it).
    pub stop: &'static AtomicBool,
    /// Tails running.
    pub tails: std::sync::atomic::AtomicUsize,
}

/// A bound server, not yet answering.
pub struct Server {
    http: Arc<tiny_http::Server>,
    config: ServerConfig,
}

impl Server {
    /// Binds `addr` (`127.0.0.1:3100`; port 0 picks a free one).
    pub fn bind(addr: &str, config: ServerConfig) -> Result<Server, ServerError> {
        crate::store::validate_tenant(&config.default_tenant)?;
        let http = tiny_http::Server::http(addr).map_err(|source| ServerError::Bind {
            addr: addr.to_string(),
            source,
        })?;
        Ok(Server {
            http: Arc::new(http),
            config,
        })
    }

    /// Whether requests must authenticate.
    pub fn has_credentials(&self) -> bool {
        !self.config.credentials.is_empty()
    }

    /// The address bound (with the port picked when 0 was asked).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.http.server_addr().to_ip()
    }

    /// Answers requests until `stop` is set, then lets each worker finish
    /// the request it is on, commits every push accepted, and returns. The
    /// error is the final index rebuild's (the pushes are committed; the
    /// next `lokal index` or ingest rebuilds what is stale).
    pub fn run(self, stop: &'static AtomicBool) -> Result<(), ServerError> {
        let (committer, commit_thread) = push::Committer::start(&self.config);
        let workers = self.config.workers.max(1);
        let state = Arc::new(State {
            config: self.config,
            committer,
            metrics: metrics::Metrics::default(),
            stop,
            tails: std::sync::atomic::AtomicUsize::new(0),
        });
        let workers: Vec<_> = (0..workers)
            .map(|_| {
                let http = Arc::clone(&self.http);
                let state = Arc::clone(&state);
                std::thread::spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        match http.recv_timeout(POLL) {
                            Ok(Some(req)) => handlers::answer(&state, req),
                            Ok(None) => {}
                            // The listener failed: nothing more will come.
                            Err(_) => break,
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            // A worker that panicked has answered nothing more; the others
            // still finish.
            let _ = w.join();
        }
        // The last handle to the committer goes: it commits what is queued,
        // rebuilds the indexes it left stale, and ends.
        drop(state);
        commit_thread.join()?;
        Ok(())
    }
}

static STOP: AtomicBool = AtomicBool::new(false);

/// A flag set by SIGINT (Ctrl-C) or SIGTERM, for [`Server::run`].
pub fn stop_on_signals() -> &'static AtomicBool {
    #[cfg(unix)]
    {
        extern "C" fn on_signal(_: libc::c_int) {
            // Only an atomic store: async-signal-safe.
            STOP.store(true, Ordering::SeqCst);
        }
        let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        // SAFETY: installing a handler that only stores to an atomic.
        unsafe {
            libc::signal(libc::SIGINT, handler);
            libc::signal(libc::SIGTERM, handler);
        }
    }
    &STOP
}
