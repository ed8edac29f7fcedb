//! The `lokal` command: parses arguments, calls the library, prints, maps
//! errors to exit codes. The subcommands live in `cli/`.
mod cli;

use clap::Parser;
use cli::exit::ExitCode;
use cli::{Cli, Command};

/// `LOKAL_TEST_STOP`: the trace point at which the process stops itself.
static STOP_AT: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Prints each trace point; at the first `LOKAL_TEST_STOP` point, stops
/// the whole process (SIGSTOP) until the test that started it sends SIGCONT.
fn trace_hook(point: &str) {
    static STOPPED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    eprintln!("lokal-trace: {point}");
    if STOP_AT.get().is_some_and(|p| p == point)
        && !STOPPED.swap(true, std::sync::atomic::Ordering::SeqCst)
    {
        // SAFETY: raise has no memory-safety preconditions.
        #[cfg(unix)]
        unsafe {
            libc::raise(libc::SIGSTOP)
        };
    }
}

fn main() {
    if let Some(p) = std::env::var_os("LOKAL_TEST_STOP") {
        let _ = STOP_AT.set(p.to_string_lossy().into_owned());
    }
    if std::env::var_os("LOKAL_TEST_TRACE").is_some() || STOP_AT.get().is_some() {
        // Crash tests (tests/cli/crash.rs, bench/crash.sh) kill writers on
        // these lines: each step of a commit as it happens; concurrency
        // tests (tests/cli/compact.rs) stop a writer at one of them.
        lokal::store::trace::set_hook(trace_hook);
    }
    let cli = Cli::parse();
    let g = &cli.global;
    let result = match &cli.command {
        Command::Ingest(a) => cli::ingest::run(g, a),
        Command::Query(a) => cli::query::run(g, a),
        Command::InstantQuery(a) => cli::query::run_instant(g, a),
        Command::Index(a) => cli::index::run(g, a),
        Command::Compact(a) => cli::compact::run(g, a),
        Command::Delete(a) => cli::delete::run(g, a),
        Command::Labels(a) => cli::labels::run_labels(g, a),
        Command::Series(a) => cli::labels::run_series(g, a),
        Command::Stats(a) => cli::stats::run(g, a),
        Command::Test(a) => cli::test::run(a),
        Command::Check(a) => cli::verify::run(g, a),
        Command::Rules(a) => cli::rules::run(g, a),
        Command::Fmt(a) => cli::fmt::run(a),
        Command::Completions(a) => cli::completions::run(a),
        Command::Man(a) => cli::completions::run_man(a),
        Command::Dump(a) => cli::verify::run_dump(g, a),
    };
    let code = match result {
        Ok(code) => code,
        // A closed pipe (`lokal query … | head`) is how a reader says it has
        // seen enough: success, as ripgrep treats it.
        Err(err) if err.chain().any(broken_pipe) => ExitCode::Ok,
        Err(err) => {
            match err.chain().find_map(|c| match c.downcast_ref() {
                Some(lokal::querier::Error::Partial(p)) => Some(p),
                _ => None,
            }) {
                Some(partial) => cli::partial::report(partial),
                None => eprintln!("lokal: {}", message(&err)),
            }
            ExitCode::of_error(&err)
        }
    };
    std::process::exit(code.code());
}

/// The error and its causes, `outer: inner`, leaving out a cause whose text
/// the message already holds (library errors such as `path: cause` print
/// their source themselves).
fn message(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let s = cause.to_string();
        if out.contains(&s) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&s);
    }
    out
}

/// Whether `cause` is a write to a closed pipe, bare or inside a JSON
/// writer's error.
fn broken_pipe(cause: &(dyn std::error::Error + 'static)) -> bool {
    let pipe = Some(std::io::ErrorKind::BrokenPipe);
    cause.downcast_ref::<std::io::Error>().map(|e| e.kind()) == pipe
        || cause
            .downcast_ref::<serde_json::Error>()
            .and_then(|e| e.io_error_kind())
            == pipe
}
