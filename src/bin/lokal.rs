//! The `lokal` command: parses arguments, calls the library, prints, maps errors to exit codes.
#[path = "../cli/mod.rs"]
mod cli;

use clap::{Parser, Subcommand};

/// Grafana Loki's log model in one binary over a local store.
#[derive(Debug, Parser)]
#[command(name = "lokal", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Parse a LogQL query and print its canonical form.
    Fmt(cli::fmt::FmtArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Fmt(args) => cli::fmt::run(args),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(err) => {
            eprintln!("lokal: {err:#}");
            std::process::exit(2);
        }
    }
}
