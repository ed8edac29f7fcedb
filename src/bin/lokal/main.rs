//! The `lokal` command: parses arguments, calls the library, prints, maps
//! errors to exit codes. The subcommands live in `cli/`.
mod cli;

use clap::Parser;
use cli::exit::ExitCode;
use cli::{Cli, Command};

fn main() {
    let cli = Cli::parse();
    let g = &cli.global;
    let result = match &cli.command {
        Command::Ingest(a) => cli::ingest::run(g, a),
        Command::Query(a) => cli::query::run(g, a),
        Command::InstantQuery(a) => cli::query::run_instant(g, a),
        Command::Index(a) => cli::index::run(g, a),
        Command::Labels(a) => cli::labels::run_labels(g, a),
        Command::Series(a) => cli::labels::run_series(g, a),
        Command::Stats(a) => cli::stats::run(g, a),
        Command::Test(a) => cli::test::run(a),
        Command::Rules(a) => cli::rules::run(g, a),
        Command::Verify(a) => cli::verify::run(g, a),
        Command::Fmt(a) => cli::fmt::run(a),
        Command::Completions(a) => cli::completions::run(a),
        Command::Man(a) => cli::completions::run_man(a),
        Command::Dump(a) => cli::verify::run_dump(g, a),
    };
    let code = match result {
        Ok(code) => code,
        // A closed pipe (`lokal query … | head`) is how a reader says it has
        // seen enough: success, as ripgrep treats it.
        Err(err)
            if err.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::Ok
        }
        Err(err) => {
            eprintln!("lokal: {err:#}");
            ExitCode::of_error(&err)
        }
    };
    std::process::exit(code.code());
}
