//! `lokal fmt`: print the canonical form of a LogQL query.
use std::io::{Read, Write};

use anyhow::Result;
use clap::Args;

use super::exit::ExitCode;

/// Arguments of `lokal fmt`.
#[derive(Debug, Args)]
pub struct FmtArgs {
    /// The query; `-` or nothing reads it from standard input.
    pub query: Option<String>,
    /// Print the multi-line form (as `logcli fmt` does).
    #[arg(long)]
    pub pretty: bool,
}

/// Runs `lokal fmt`; returns the process exit code (2 when the query does not parse).
pub fn run(args: &FmtArgs) -> Result<ExitCode> {
    // Read raw bytes: invalid UTF-8 is a parse error (as in Loki), not an I/O error.
    let query: Vec<u8> = match args.query.as_deref() {
        None | Some("-") => {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf)?;
            buf
        }
        Some(q) => q.as_bytes().to_vec(),
    };
    match lokal::logql::format_query_bytes(&query, args.pretty) {
        Ok(out) => {
            writeln!(std::io::stdout(), "{out}")?;
            Ok(ExitCode::Ok)
        }
        Err(e) => {
            eprintln!(
                "{}",
                super::query::explain(e, &String::from_utf8_lossy(&query))
            );
            Ok(ExitCode::Usage)
        }
    }
}
