//! `lokal labels [NAME]` and `lokal series SELECTOR`: answered from the label
//! indexes (or segment footers), never from chunks.
use anyhow::Result;
use clap::Args;

use lokal::querier::{self, Cardinality};

use super::args::RangeArgs;
use super::exit::ExitCode;
use super::GlobalArgs;

/// Arguments of `lokal labels`.
#[derive(Debug, Args)]
pub struct LabelsArgs {
    /// A label name: list its values instead of the label names
    pub name: Option<String>,
    #[command(flatten)]
    pub range: RangeArgs,
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
}

/// Runs `lokal labels`.
pub fn run_labels(g: &GlobalArgs, a: &LabelsArgs) -> Result<ExitCode> {
    let q = g.querier_noting_empty(false)?;
    let range = a.range.resolve(&q)?;
    let out = match &a.name {
        None => q.labels(range)?,
        Some(n) => q.label_values(n, range)?,
    };
    for v in &out {
        println!("{v}");
    }
    Ok(ExitCode::matched(!out.is_empty()))
}

/// Runs `lokal series`.
pub fn run_series(g: &GlobalArgs, a: &SeriesArgs) -> Result<ExitCode> {
    let matchers = querier::parse_selector(&a.selector)?;
    let q = g.querier_noting_empty(false)?;
    let range = a.range.resolve(&q)?;
    let series = q.series(&matchers, range)?;
    if a.analyze_labels {
        print_cardinality(&Cardinality::of(&series));
    } else {
        for s in &series {
            println!("{s}");
        }
    }
    Ok(ExitCode::matched(!series.is_empty()))
}

/// logcli's `--analyze-labels` table.
fn print_cardinality(c: &Cardinality) {
    println!("Total Streams:  {}", c.streams);
    println!("Unique Labels:  {}", c.labels.len());
    println!();
    let w = c
        .labels
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(10)
        .max(10);
    println!(
        "{:<w$}  {:>13}  {:>16}",
        "Label Name", "Unique Values", "Found In Streams"
    );
    for r in &c.labels {
        println!("{:<w$}  {:>13}  {:>16}", r.name, r.values, r.streams);
    }
}
