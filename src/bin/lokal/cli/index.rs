//! `lokal index`: rebuild the label index of every day (or the given days).
use std::io::Write;

use anyhow::{bail, Result};
use clap::Args;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};

use lokal::querier::{rebuild_index, RebuildEvent, RebuildRequest, TenantIndex, Tenants};
use lokal::units::parse_duration;

use super::exit::ExitCode;
use super::GlobalArgs;

/// Arguments of `lokal index`.
#[derive(Debug, Args)]
#[command(
    after_help = "Ingest keeps the index current; this is for stores written with
`lokal ingest --no-index`, or to replace an index reported as corrupt. Queries
never need an index to be correct: segments it does not cover are read from
their footers."
)]
pub struct IndexArgs {
    /// Rebuild only this UTC day (repeatable) [default: every day]
    #[arg(long = "day", value_name = "YYYY-MM-DD")]
    pub days: Vec<String>,
    /// Every tenant instead of --tenant's
    #[arg(long)]
    pub all_tenants: bool,
    /// Give up if another writer holds the store longer than this [default: wait]
    #[arg(long, value_name = "DURATION")]
    pub lock_timeout: Option<String>,
    /// No summary table
    #[arg(short, long)]
    pub quiet: bool,
}

/// Runs `lokal index`.
pub fn run(g: &GlobalArgs, a: &IndexArgs) -> Result<ExitCode> {
    for d in &a.days {
        if lokal::time::parse_day(d).is_none() {
            bail!("--day {d:?}: expected a date as YYYY-MM-DD");
        }
    }
    let lock_timeout = a
        .lock_timeout
        .as_deref()
        .map(parse_duration)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let req = RebuildRequest {
        tenants: if a.all_tenants {
            Tenants::All
        } else {
            Tenants::One(g.tenant.clone())
        },
        days: a.days.clone(),
        lock_timeout,
    };
    let built = rebuild_index(&g.store(), &req, &mut |event| match event {
        RebuildEvent::Waiting(lock) => eprintln!(
            "lokal: waiting for another lokal writer to release {}",
            lock.display()
        ),
        // Nothing stored: the tenant is not created.
        RebuildEvent::EmptyTenant(name) => {
            eprintln!("lokal: tenant {name:?} has no data; nothing to index")
        }
    })?;
    if !a.quiet {
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED);
        let mut header = vec!["day", "series", "segments", "index bytes"];
        if a.all_tenants {
            header.insert(0, "tenant");
        }
        t.set_header(header);
        for TenantIndex { tenant, summary: s } in &built {
            let mut row = vec![
                Cell::new(&s.day),
                Cell::new(s.series).set_alignment(CellAlignment::Right),
                Cell::new(s.segments).set_alignment(CellAlignment::Right),
                Cell::new(s.bytes).set_alignment(CellAlignment::Right),
            ];
            if a.all_tenants {
                row.insert(0, Cell::new(tenant));
            }
            t.add_row(row);
        }
        writeln!(std::io::stdout(), "{t}")?;
    }
    Ok(ExitCode::Ok)
}
