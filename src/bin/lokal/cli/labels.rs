//! `lokal labels [NAME]` and `lokal series SELECTOR`: answered from the label
//! indexes (or segment footers), never from chunks.
use std::io::Write;

use anyhow::Result;
use clap::Args;

use lokal::querier::{self, Cardinality, Lookup};

use super::args::RangeArgs;
use super::exit::ExitCode;
use super::loki::LokiArgs;
use super::partial::{self, PartialArgs};
use super::GlobalArgs;

/// Arguments of `lokal labels`.
#[derive(Debug, Args)]
pub struct LabelsArgs {
    /// A label name: list its values instead of the label names
    pub name: Option<String>,
    #[command(flatten)]
    pub range: RangeArgs,
    #[command(flatten)]
    pub partial: PartialArgs,
    #[command(flatten)]
    pub loki: LokiArgs,
}

/// Arguments of `lokal series`.
#[derive(Debug, Args)]
pub struct SeriesArgs {
    /// Stream selector; {} lists every stream
    pub selector: String,
    #[command(flatten)]
    pub range: RangeArgs,
    /// Print a cardinality summary per label instead of the streams (as logcli)
    #[arg(long)]
    pub analyze_labels: bool,
    #[command(flatten)]
    pub partial: PartialArgs,
    #[command(flatten)]
    pub loki: LokiArgs,
}

/// Runs `lokal labels`.
pub fn run_labels(g: &GlobalArgs, a: &LabelsArgs) -> Result<ExitCode> {
    let out = match a.loki.remote(g)? {
        Some(r) => {
            let range = r.resolve_range(&a.range.spec()?);
            match &a.name {
                None => r.labels(range)?,
                Some(n) => r.label_values(n, range)?,
            }
        }
        None => {
            let q = g.querier_noting_empty(false, &a.partial)?;
            let range = a.range.resolve(&q)?;
            match &a.name {
                None => q.labels(range)?,
                Some(n) => q.label_values(n, range)?,
            }
        }
    };
    notes(&out);
    let mut w = std::io::stdout().lock();
    for v in &out.values {
        writeln!(w, "{v}")?;
    }
    w.flush()?;
    Ok(ExitCode::matched(!out.values.is_empty()))
}

/// Runs `lokal series`.
pub fn run_series(g: &GlobalArgs, a: &SeriesArgs) -> Result<ExitCode> {
    let matchers = querier::parse_selector(&a.selector)?;
    if a.analyze_labels {
        // Locally counted as the streams are walked, not collected first.
        let remote = a.loki.remote(g)?;
        let c = match remote {
            Some(r) => {
                let series = r.series(&a.selector, r.resolve_range(&a.range.spec()?))?;
                notes(&series);
                Cardinality::of(&series.values)
            }
            None => {
                let q = g.querier_noting_empty(false, &a.partial)?;
                let range = a.range.resolve(&q)?;
                let mut c = q.cardinality(&matchers, range)?;
                notes(&c);
                c.values.pop().unwrap_or_default()
            }
        };
        let mut w = std::io::stdout().lock();
        print_cardinality(&mut w, &c)?;
        w.flush()?;
        return Ok(ExitCode::matched(c.streams > 0));
    }
    let series = match a.loki.remote(g)? {
        Some(r) => r.series(&a.selector, r.resolve_range(&a.range.spec()?))?,
        None => {
            let q = g.querier_noting_empty(false, &a.partial)?;
            let range = a.range.resolve(&q)?;
            q.series(&matchers, range)?
        }
    };
    notes(&series);
    let mut w = std::io::stdout().lock();
    for s in &series.values {
        writeln!(w, "{s}")?;
    }
    w.flush()?;
    Ok(ExitCode::matched(!series.values.is_empty()))
}

/// What a lookup could not use or read, on stderr.
fn notes<T>(l: &Lookup<T>) {
    for w in &l.warnings {
        eprintln!("lokal: warning: {w}");
    }
    partial::warn(&l.partial);
}

/// logcli's `--analyze-labels` table.
fn print_cardinality(out: &mut impl Write, c: &Cardinality) -> std::io::Result<()> {
    writeln!(out, "Total Streams:  {}", c.streams)?;
    writeln!(out, "Unique Labels:  {}", c.labels.len())?;
    writeln!(out)?;
    let w = c
        .labels
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(10)
        .max(10);
    writeln!(
        out,
        "{:<w$}  {:>13}  {:>16}",
        "Label Name", "Unique Values", "Found In Streams"
    )?;
    for r in &c.labels {
        writeln!(out, "{:<w$}  {:>13}  {:>16}", r.name, r.values, r.streams)?;
    }
    Ok(())
}
