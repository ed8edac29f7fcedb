//! `--allow-partial` and how partial reads are told: a query, instant
//! query, label or series lookup that could not read part of what it
//! selected names each file, offset and reason on stderr, even with `-q`,
//! and exits 3 — unless `--allow-partial`, which prints what could be read
//! (the problems still go to stderr).
use clap::Args;

use lokal::querier::PartialRead;
use lokal::store::ReadProblem;

/// `--allow-partial`.
#[derive(Debug, Args, Clone)]
pub struct PartialArgs {
    /// When part of the store cannot be read (a damaged block or segment), print what could
    /// be read instead of failing with exit 3; the damage is reported on stderr either way
    #[arg(long)]
    pub allow_partial: bool,
}

/// Says on stderr what an answer printed with `--allow-partial` lacks.
/// Never silenced by `-q`: a partial answer must not pass for a whole one.
pub fn warn(problems: &[ReadProblem]) {
    if problems.is_empty() {
        return;
    }
    for p in problems {
        eprintln!("lokal: warning: could not read {p}");
    }
    eprintln!(
        "lokal: warning: the answer is incomplete ({} part{} of the store unread); `lokal check` examines the store",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
}

/// Prints a refused partial read (exit 3): each problem on its own line.
pub fn report(err: &PartialRead) {
    for p in &err.problems {
        eprintln!("lokal: {p}");
    }
    eprintln!(
        "lokal: the answer would be incomplete: {} part{} of the store could not be read; \
         --allow-partial prints what could be read, `lokal check` examines the store",
        err.problems.len(),
        if err.problems.len() == 1 { "" } else { "s" }
    );
}
