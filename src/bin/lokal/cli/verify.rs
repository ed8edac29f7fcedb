//! `lokal check [--repair]` (also `lokal verify`) and the hidden `lokal dump`.
use std::io::Write;

use anyhow::Result;
use clap::Args;

use lokal::store::check::{check, check_and_repair, CheckReport};
use lokal::units::parse_duration;

use super::exit::ExitCode;
use super::GlobalArgs;

/// Arguments of `lokal check`.
#[derive(Debug, Args)]
#[command(
    after_help = "Checks the MANIFEST against the files on disk (missing, unlisted, duplicate ids,
unsafe paths), the footer and every block of every segment (checksum, zstd, encoding), and every
label index (checksum, and equal to a fresh build from the footers it covers).

--repair (under the writer lock) never deletes data: unreadable segments, and the originals of
segments with damaged blocks, move to TENANT/quarantine/STAMP/ with a REPORT; the readable blocks
are copied into a new segment; a lost or damaged MANIFEST is rebuilt from what can be read of it,
else from the segments' self-describing footers (input positions live only in the MANIFEST: those
that cannot be read are lost, and the next ingest of such a file reads it from its start); every
label index is rebuilt.

Exit status: 0 the store is sound, 1 problems were found and all repaired, 3 problems remain."
)]
pub struct CheckArgs {
    /// Repair what was found (see below); never deletes data
    #[arg(long)]
    pub repair: bool,
    /// Every tenant instead of --tenant's
    #[arg(long)]
    pub all_tenants: bool,
    /// With --repair: give up if another writer holds the store longer than this [default: wait]
    #[arg(long, value_name = "DURATION")]
    pub lock_timeout: Option<String>,
    /// Print only problems (no notes, no summary)
    #[arg(short, long)]
    pub quiet: bool,
}

/// Arguments of `lokal dump`.
#[derive(Debug, Args)]
pub struct DumpArgs {}

/// Runs `lokal check`.
pub fn run(g: &GlobalArgs, a: &CheckArgs) -> Result<ExitCode> {
    let store = g.store();
    store.ensure_exists()?;
    let tenants = g.tenants(&store, a.all_tenants)?;
    let lock = if a.repair {
        let timeout = a
            .lock_timeout
            .as_deref()
            .map(parse_duration)
            .transpose()
            .map_err(anyhow::Error::msg)?;
        let path = store.lock_path();
        Some(store.lock_writer(timeout, || {
            eprintln!(
                "lokal: waiting for another lokal writer to release {}",
                path.display()
            )
        })?)
    } else {
        None
    };
    let mut out = std::io::stdout().lock();
    let mut code = ExitCode::Ok;
    for t in &tenants {
        let rep = match &lock {
            Some(lock) => check_and_repair(&store, t, lock)?,
            None => check(&store, t)?,
        };
        let dir = store.root().join(t);
        print_report(&mut out, &rep, &dir, a.quiet)?;
        code = match (rep.sound(), rep.repairs.is_empty(), code) {
            (false, _, _) | (_, _, ExitCode::Store) => ExitCode::Store,
            (true, false, _) => ExitCode::NothingMatched,
            (true, true, c) => c,
        };
    }
    out.flush()?;
    Ok(code)
}

fn print_report(
    out: &mut impl Write,
    rep: &CheckReport,
    dir: &std::path::Path,
    quiet: bool,
) -> std::io::Result<()> {
    let path = |f: &str| dir.join(f).display().to_string();
    for p in &rep.problems {
        writeln!(out, "{}: {}", path(&p.file), p.what)?;
    }
    if !quiet {
        for n in &rep.notes {
            writeln!(out, "note: {}: {}", path(&n.file), n.what)?;
        }
    }
    for r in &rep.repairs {
        writeln!(out, "repaired: {r}")?;
    }
    if let Some(q) = &rep.quarantine {
        writeln!(out, "quarantine: {} (see its REPORT)", q.display())?;
    }
    for p in &rep.remaining {
        writeln!(out, "remains: {}: {}", path(&p.file), p.what)?;
    }
    if !quiet {
        let status = if rep.problems.is_empty() {
            "no problems".to_string()
        } else if rep.repairs.is_empty() {
            format!("{} problems", rep.problems.len())
        } else {
            format!(
                "{} problems, repaired; {} remain",
                rep.problems.len(),
                rep.remaining.len()
            )
        };
        writeln!(
            out,
            "tenant {:?}: {} segments, {} blocks, {} entries readable, {} indexes: {status}",
            rep.tenant, rep.segments, rep.blocks, rep.entries, rep.indexes
        )?;
    }
    Ok(())
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
