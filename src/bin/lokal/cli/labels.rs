//! `lokal labels [NAME]` and `lokal series SELECTOR`: answered from the label
//! indexes (or segment footers), never from chunks.
use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use clap::Args;

use super::query::RangeArgs;
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
pub fn run_labels(g: &GlobalArgs, a: &LabelsArgs) -> Result<i32> {
    let snap = g.snapshot(false)?;
    let range = a.range.resolve(&snap)?;
    let out = match &a.name {
        None => lokal::engine::plan::label_names(&snap, range)?,
        Some(n) => lokal::engine::plan::label_values(&snap, n, range)?,
    };
    for v in &out {
        println!("{v}");
    }
    Ok(if out.is_empty() { 1 } else { 0 })
}

/// Runs `lokal series`.
pub fn run_series(g: &GlobalArgs, a: &SeriesArgs) -> Result<i32> {
    let matchers = if a
        .selector
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .trim()
        .is_empty()
    {
        Vec::new()
    } else {
        lokal::logql::parse_matchers(&a.selector)?
    };
    let snap = g.snapshot(false)?;
    let range = a.range.resolve(&snap)?;
    let series = lokal::engine::plan::series(&snap, &matchers, range)?;
    if a.analyze_labels {
        let mut values: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        let mut streams: BTreeMap<&str, usize> = BTreeMap::new();
        for s in &series {
            for (k, v) in s.pairs() {
                values.entry(k).or_default().insert(v);
                *streams.entry(k).or_default() += 1;
            }
        }
        println!("Total Streams:  {}", series.len());
        println!("Unique Labels:  {}", values.len());
        println!();
        let mut rows: Vec<(&str, usize, usize)> = values
            .iter()
            .map(|(k, v)| (*k, v.len(), streams[k]))
            .collect();
        // Highest cardinality first, as logcli sorts it.
        rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(10).max(10);
        println!(
            "{:<w$}  {:>13}  {:>16}",
            "Label Name", "Unique Values", "Found In Streams"
        );
        for (k, u, n) in rows {
            println!("{k:<w$}  {u:>13}  {n:>16}");
        }
    } else {
        for s in &series {
            println!("{s}");
        }
    }
    Ok(if series.is_empty() { 1 } else { 0 })
}
