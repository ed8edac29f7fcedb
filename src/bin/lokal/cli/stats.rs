//! `lokal stats`: per tenant and day totals, as a table or JSON: segments and
//! average block sizes per day, and whether `lokal compact` would merge it.
use std::io::Write;

use anyhow::Result;
use clap::{Args, ValueEnum};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

use lokal::querier::Querier;

use super::exit::ExitCode;
use super::GlobalArgs;

/// Output formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StatsFormat {
    /// A table
    Table,
    /// A JSON array of objects
    Json,
}

/// Arguments of `lokal stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Every tenant instead of --tenant's
    #[arg(long)]
    pub all_tenants: bool,
    /// Output format
    #[arg(short, long, value_enum, default_value = "table")]
    pub output: StatsFormat,
}

/// Runs `lokal stats`.
pub fn run(g: &GlobalArgs, a: &StatsArgs) -> Result<ExitCode> {
    let store = g.store();
    let tenants = g.tenants(&store, a.all_tenants)?;
    let mut rows = Vec::new();
    for t in tenants {
        rows.extend(Querier::open(&store, &t)?.day_stats()?);
    }
    match a.output {
        StatsFormat::Json => writeln!(
            std::io::stdout(),
            "{}",
            serde_json::to_string_pretty(&rows)?
        )?,
        StatsFormat::Table => {
            let mut t = Table::new();
            t.load_preset(UTF8_FULL_CONDENSED);
            t.set_header(vec![
                "tenant",
                "day",
                "streams",
                "entries",
                "chunks",
                "segments",
                "blocks",
                "avg block",
                "bytes_raw",
                "bytes_stored",
                "ratio",
                "compact?",
                "from",
                "to",
            ]);
            for r in &rows {
                let ratio = if r.bytes_stored > 0 {
                    r.bytes_raw as f64 / r.bytes_stored as f64
                } else {
                    0.0
                };
                t.add_row(vec![
                    r.tenant.clone(),
                    r.day.clone(),
                    r.streams.to_string(),
                    r.entries.to_string(),
                    r.chunks.to_string(),
                    r.segments.to_string(),
                    r.blocks.to_string(),
                    format!(
                        "{} → {}",
                        super::human_bytes(r.block_raw_avg),
                        super::human_bytes(r.block_stored_avg)
                    ),
                    r.bytes_raw.to_string(),
                    r.bytes_stored.to_string(),
                    format!("{ratio:.1}x"),
                    (if r.compactable { "yes" } else { "no" }).to_string(),
                    r.from.clone(),
                    r.to.clone(),
                ]);
            }
            writeln!(std::io::stdout(), "{t}")?;
        }
    }
    Ok(ExitCode::Ok)
}
