//! `lokal index`: rebuild the label index of every day (or the given days).
use anyhow::{bail, Result};
use clap::Args;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};

use lokal::store::{self, IndexSummary};
use lokal::units::parse_duration;

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
pub fn run(g: &GlobalArgs, a: &IndexArgs) -> Result<i32> {
    for d in &a.days {
        if lokal::time::parse_day(d).is_none() {
            bail!("--day {d:?}: expected a date as YYYY-MM-DD");
        }
    }
    let timeout = a
        .lock_timeout
        .as_deref()
        .map(parse_duration)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let store = g.store();
    let tenants = if a.all_tenants {
        store.tenants()?
    } else {
        vec![g.tenant.clone()]
    };
    let lock = store.lock_writer(timeout, || {
        eprintln!(
            "lokal: waiting for another lokal writer to release {}",
            store.lock_path().display()
        )
    })?;
    let mut rows: Vec<(String, IndexSummary)> = Vec::new();
    for name in &tenants {
        let tenant = store.tenant(name)?;
        if !tenant.exists() {
            // Nothing stored: do not create an empty tenant.
            eprintln!("lokal: tenant {name:?} has no data; nothing to index");
            continue;
        }
        let mut tx = tenant.begin_write(&lock)?;
        let built = if a.days.is_empty() {
            store::rebuild_all(&mut tx)?
        } else {
            let mut days = a.days.clone();
            days.sort();
            days.dedup();
            store::rebuild_days(&mut tx, &days)?
        };
        tx.commit()?;
        rows.extend(built.into_iter().map(|s| (name.clone(), s)));
    }
    if !a.quiet {
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED);
        let mut header = vec!["day", "series", "segments", "index bytes"];
        if a.all_tenants {
            header.insert(0, "tenant");
        }
        t.set_header(header);
        for (tenant, s) in &rows {
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
        println!("{t}");
    }
    Ok(super::exit::OK)
}
