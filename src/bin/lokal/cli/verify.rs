//! `lokal verify` (check every block) and the hidden `lokal dump`.
use std::io::Write;

use anyhow::Result;
use clap::Args;

use super::exit::ExitCode;
use super::GlobalArgs;

/// Arguments of `lokal verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {}

/// Arguments of `lokal dump`.
#[derive(Debug, Args)]
pub struct DumpArgs {}

/// Runs `lokal verify`: exit 0 when every block reads back, 3 otherwise.
pub fn run(g: &GlobalArgs, _a: &VerifyArgs) -> Result<ExitCode> {
    let rep = lokal::store::read::verify(g.querier()?.snapshot())?;
    for p in &rep.problems {
        eprintln!("lokal: {p}");
    }
    println!(
        "{} segments, {} blocks, {} entries readable, {} problems",
        rep.segments,
        rep.blocks,
        rep.entries,
        rep.problems.len()
    );
    Ok(if rep.problems.is_empty() {
        ExitCode::Ok
    } else {
        ExitCode::Store
    })
}

/// Runs `lokal dump`: one `ts<TAB>labels<TAB>line` per entry.
pub fn run_dump(g: &GlobalArgs, _a: &DumpArgs) -> Result<ExitCode> {
    let q = g.querier()?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut err: Option<std::io::Error> = None;
    let bad = lokal::store::read::for_each_entry(q.snapshot(), |labels, ts, line| {
        if err.is_some() {
            return;
        }
        let r = write!(out, "{ts}\t{labels}\t")
            .and_then(|_| out.write_all(line))
            .and_then(|_| out.write_all(b"\n"));
        if let Err(e) = r {
            err = Some(e);
        }
    })?;
    if let Some(e) = err {
        return Err(e.into());
    }
    out.flush()?;
    for b in &bad {
        eprintln!("lokal: {b}");
    }
    Ok(if bad.is_empty() {
        ExitCode::Ok
    } else {
        ExitCode::Store
    })
}
