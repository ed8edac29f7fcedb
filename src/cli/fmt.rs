//! `lokal fmt`: print the canonical form of a LogQL query.
use std::io::Read;

use anyhow::Result;
use clap::Args;

/// Arguments of `lokal fmt`.
#[derive(Debug, Args)]
pub struct FmtArgs {
    /// The query; `-` or nothing reads it from standard input.
    pub query: Option<String>,
    /// Print the multi-line form (as `logcli fmt` does).
    #[arg(long)]
    pub pretty: bool,
}

/// Runs `lokal fmt`; returns the process exit code.
pub fn run(args: &FmtArgs) -> Result<i32> {
    let query = match args.query.as_deref() {
        None | Some("-") => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s)?;
            s
        }
        Some(q) => q.to_string(),
    };
    match lokal::logql::format_query(&query, args.pretty) {
        Ok(out) => {
            println!("{out}");
            Ok(0)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(2)
        }
    }
}
