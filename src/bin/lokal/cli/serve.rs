//! `lokal serve`: Loki's HTTP API over the store (see [`lokal::server`]).
use anyhow::Result;
use clap::Args;

use lokal::server::{stop_on_signals, Server, ServerConfig};

use super::exit::ExitCode;
use super::GlobalArgs;

/// Arguments of `lokal serve`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  lokal serve                                  # Loki's API on 127.0.0.1:3100
  logcli --addr http://127.0.0.1:3100 query '{job=\"api\"}'
  lokal serve --listen 0.0.0.0:3100            # reachable from other machines")]
pub struct ServeArgs {
    /// Address to listen on; loopback by default (port 0 picks a free one)
    #[arg(long, default_value = "127.0.0.1:3100", value_name = "HOST:PORT")]
    pub listen: String,
    /// Threads answering requests
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub workers: usize,
    /// Largest request body accepted (bytes, or 4MB, 100MiB, …), as Loki's
    /// server.grpc_max_recv_msg_size
    #[arg(long, default_value = "100MB", value_name = "SIZE", value_parser = lokal::units::parse_bytes)]
    pub max_body: u64,
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
        },
    )?;
    let stop = stop_on_signals();
    if let Some(addr) = server.local_addr() {
        // The address on stderr: with port 0 it is how a caller learns the port.
        eprintln!("lokal: serving Loki's API on http://{addr}");
    }
    server.run(stop);
    eprintln!("lokal: stopped");
    Ok(ExitCode::Ok)
}
