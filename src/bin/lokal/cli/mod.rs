//! Command-line glue: the clap definition and one module per subcommand.
//! Each subcommand parses its flags into library values, calls the library
//! (mostly [`lokal::querier`]) and prints; no core logic lives here.

pub mod args;
pub mod compact;
pub mod completions;
pub mod delete;
pub mod exit;
pub mod fmt;
pub mod index;
pub mod ingest;
pub mod labels;
pub mod partial;
pub mod query;
pub mod rules;
pub mod stats;
pub mod test;
pub mod timestamps;
pub mod verify;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use lokal::querier::Querier;

/// Grafana Loki's log model in one binary over a local store: index only the
/// labels, keep the lines in compressed chunks, query with LogQL.
#[derive(Debug, Parser)]
#[command(
    name = "lokal",
    version,
    about,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Options every subcommand takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// Options accepted before or after the subcommand.
#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Store directory [default: $XDG_DATA_HOME/lokal or ~/.local/share/lokal]
    #[arg(long, global = true, env = "LOKAL_STORE", value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// Tenant (Loki's org id) to read or write
    #[arg(long, global = true, env = "LOKAL_TENANT", value_name = "ID", default_value = lokal::store::DEFAULT_TENANT, alias = "org-id")]
    pub tenant: String,
}

impl GlobalArgs {
    /// The store these options name.
    pub fn store(&self) -> lokal::store::Store {
        lokal::store::Store::new(
            self.store
                .clone()
                .unwrap_or_else(lokal::store::Store::default_path),
        )
    }

    /// The tenants a command with `--all-tenants` works on: every tenant
    /// of `store`, or `--tenant`'s.
    pub fn tenants(
        &self,
        store: &lokal::store::Store,
        all: bool,
    ) -> Result<Vec<String>, lokal::store::StoreError> {
        if all {
            store.tenants()
        } else {
            Ok(vec![self.tenant.clone()])
        }
    }

    /// A querier over the tenant.
    pub fn querier(&self) -> anyhow::Result<Querier> {
        Ok(Querier::open(&self.store(), &self.tenant)?)
    }

    /// [`GlobalArgs::querier`] that says on stderr when the tenant holds
    /// nothing, since an empty answer then usually means the wrong --store
    /// or --tenant; `partial` is `--allow-partial`.
    pub fn querier_noting_empty(
        &self,
        quiet: bool,
        partial: &partial::PartialArgs,
    ) -> anyhow::Result<Querier> {
        let q = self.querier()?.allow_partial(partial.allow_partial);
        if q.is_empty() && !quiet {
            eprintln!(
                "lokal: no data for tenant {:?} in {}; ingest some with `lokal ingest`, or check --store/--tenant",
                self.tenant,
                self.store().root().display()
            );
        }
        Ok(q)
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read log files, globs, directories or stdin into the store
    Ingest(Box<ingest::IngestArgs>),
    /// Run a LogQL query (log or metric) over the store
    Query(Box<query::QueryArgs>),
    /// Evaluate a LogQL metric query at one instant
    InstantQuery(Box<query::InstantArgs>),
    /// Rebuild the label index of every day, or of the given days
    Index(index::IndexArgs),
    /// Merge each day's small segments, apply retention and pending deletes (for cron)
    Compact(Box<compact::CompactArgs>),
    /// Delete entries (a selector with line filters, a time range), as Loki's delete API
    Delete(Box<delete::DeleteArgs>),
    /// List label names, or the values of one label
    Labels(labels::LabelsArgs),
    /// List the streams a selector matches (--analyze-labels: cardinality per label)
    Series(labels::SeriesArgs),
    /// Per tenant and day: streams, entries, segments, block sizes, bytes, time range, whether compact helps
    Stats(stats::StatsArgs),
    /// Unit-test LogQL with Loki's .logqltest scripts
    Test(test::TestArgs),
    /// Check the whole store (manifest, every segment block, indexes); --repair fixes it
    #[command(visible_alias = "verify")]
    Check(verify::CheckArgs),
    /// Alerting and recording rules: check, lint, evaluate (alerts to Alertmanager), test
    Rules(rules::RulesArgs),
    /// Parse a LogQL query and print its canonical form
    Fmt(fmt::FmtArgs),
    /// Print a shell completion script (bash, zsh, fish)
    Completions(completions::CompletionsArgs),
    /// Write man pages into a directory
    #[command(hide = true)]
    Man(completions::ManArgs),
    /// Print every stored entry (debugging aid)
    #[command(hide = true)]
    Dump(verify::DumpArgs),
}

/// A byte count for people: `512 B`, `2.9 kB`, `1.50 MB`, `1.07 GB` (SI
/// units, as the summaries of `ingest`, `compact` and `stats` print them).
pub(crate) fn human_bytes(n: u64) -> String {
    let f = n as f64;
    if f >= 1e9 {
        format!("{:.2} GB", f / 1e9)
    } else if f >= 1e6 {
        format!("{:.2} MB", f / 1e6)
    } else if f >= 1e3 {
        format!("{:.1} kB", f / 1e3)
    } else {
        format!("{n} B")
    }
}
