//! `lokal test FILE.logqltest…`: unit-test LogQL against synthetic logs in
//! Grafana Loki's `.logqltest` format.
use std::path::PathBuf;

use std::io::Write;

use anyhow::{Context, Result};
use clap::Args;

use super::exit::ExitCode;

/// Arguments of `lokal test`.
#[derive(Debug, Args)]
#[command(
    after_help = "The format (load blocks, eval instant / range / select, expected series) is Loki's
pkg/logql/internal/logqltest. The last line of output is `N passed, N failed`; exit 1 on any failure."
)]
pub struct TestArgs {
    /// Script files (.logqltest)
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Print every case, not only failures
    #[arg(short, long)]
    pub verbose: bool,
}

/// Runs `lokal test`.
pub fn run(a: &TestArgs) -> Result<ExitCode> {
    let (mut passed, mut failed) = (0usize, 0usize);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for f in &a.files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        let results =
            lokal::logqltest::run_script(&text).with_context(|| format!("{}", f.display()))?;
        for r in results {
            if r.passed {
                passed += 1;
                if a.verbose {
                    writeln!(out, "ok   {}:{}: {}", f.display(), r.line, r.query)?;
                }
            } else {
                failed += 1;
                writeln!(out, "FAIL {}:{}: {}", f.display(), r.line, r.query)?;
                for l in r.diff.lines() {
                    writeln!(out, "     {l}")?;
                }
            }
        }
    }
    writeln!(out, "{passed} passed, {failed} failed")?;
    Ok(if failed > 0 {
        ExitCode::NothingMatched
    } else {
        ExitCode::Ok
    })
}
