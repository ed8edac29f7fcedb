//! The label index: one memory-mapped, TSDB-like file per tenant and UTC day
//! (`TENANT/index/YYYY-MM-DD-GEN.idx`), built from the footers of that day's
//! segments.
//!
//! The index is only an accelerator. The manifest records which segments
//! each index covers; a query uses an index for exactly those segments and
//! reads every other segment's footer, so a missing, stale or corrupt index
//! never changes an answer ([`plan`]).
//!
//! Rebuilding a day reads segment footers only (mapped), never blocks, so
//! ingest can keep the index current after every batch.

pub mod format;
pub mod plan;

use std::path::PathBuf;

pub use format::{build_day_index, DayIndex, IndexedChunk, SeriesRef};
pub use plan::{label_names, label_values, plan_streams, series, PlannedChunk, Planner};

use crate::chunk::SegmentReader;
use crate::store::{NewIndex, StoreError, TenantWriter};

/// Errors reading an index file.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// I/O on the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The index file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not an index, is truncated, or fails its checksum.
    #[error("{path}: corrupt index: {what}")]
    Corrupt {
        /// The index file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// Written by a newer lokal.
    #[error("{path}: index format version {found} is newer than this lokal supports ({supported}); upgrade lokal")]
    Version {
        /// The index file.
        path: PathBuf,
        /// Version in the file.
        found: u32,
        /// Highest supported.
        supported: u32,
    },
}

/// What one day's (re)build produced.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IndexSummary {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// Distinct series.
    pub series: u64,
    /// Segments covered.
    pub segments: u64,
    /// Size of the index file (0 when the day has no segment left and its
    /// index was dropped).
    pub bytes: u64,
}

/// Parses `YYYY-MM-DD` into days since the epoch.
pub fn parse_day(day: &str) -> Option<i64> {
    let d: jiff::civil::Date = day.parse().ok()?;
    let epoch = jiff::civil::date(1970, 1, 1);
    Some(i64::from(epoch.until(d).ok()?.get_days()))
}

/// Rebuilds the index of each of `days` from the footers of the pending
/// manifest's segments of that day and records it in `tx` (committed by the
/// caller). A day without segments loses its index.
pub fn rebuild_days(
    tx: &mut TenantWriter<'_>,
    days: &[String],
) -> Result<Vec<IndexSummary>, StoreError> {
    rebuild(tx, days, None)
}

/// [`rebuild_days`] that skips (and reports through `warn`) a day whose
/// segment footers cannot be read, keeping that day's previous index: what
/// ingest wants, since a damaged old segment must not stop new data.
pub fn rebuild_days_lenient(
    tx: &mut TenantWriter<'_>,
    days: &[String],
    warn: &mut dyn FnMut(String),
) -> Result<Vec<IndexSummary>, StoreError> {
    rebuild(tx, days, Some(warn))
}

fn rebuild(
    tx: &mut TenantWriter<'_>,
    days: &[String],
    mut warn: Option<&mut dyn FnMut(String)>,
) -> Result<Vec<IndexSummary>, StoreError> {
    let mut out = Vec::new();
    let mut new = Vec::new();
    for day in days {
        let entries: Vec<_> = tx
            .manifest()
            .segments
            .iter()
            .filter(|s| &s.day == day)
            .cloned()
            .collect();
        if entries.is_empty() {
            tx.remove_index(day);
            out.push(IndexSummary {
                day: day.clone(),
                series: 0,
                segments: 0,
                bytes: 0,
            });
            continue;
        }
        let Some(day_no) = parse_day(day) else {
            // Not a day name lokal writes; such a manifest is hand-edited.
            continue;
        };
        let readers = match entries
            .iter()
            .map(|e| Ok((e.id, SegmentReader::open(&tx.segment_path(e))?)))
            .collect::<Result<Vec<_>, StoreError>>()
        {
            Ok(r) => r,
            Err(StoreError::Segment(e)) if warn.is_some() => {
                if let Some(w) = warn.as_mut() {
                    w(format!("{e}; the label index of {day} was not rebuilt"));
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        let inputs: Vec<(u64, &[crate::chunk::StreamChunk])> =
            readers.iter().map(|(id, r)| (*id, r.streams())).collect();
        let bytes = build_day_index(day_no, &inputs);
        out.push(IndexSummary {
            day: day.clone(),
            series: count_series(&inputs),
            segments: entries.len() as u64,
            bytes: bytes.len() as u64,
        });
        new.push(NewIndex {
            day: day.clone(),
            bytes,
            segments: entries.iter().map(|e| e.id).collect(),
        });
    }
    tx.write_indexes(new)?;
    Ok(out)
}

/// Rebuilds the index of every day that has segments, and drops indexes of
/// days that have none.
pub fn rebuild_all(tx: &mut TenantWriter<'_>) -> Result<Vec<IndexSummary>, StoreError> {
    let mut days: Vec<String> = tx
        .manifest()
        .segments
        .iter()
        .map(|s| s.day.clone())
        .chain(tx.manifest().indexes.iter().map(|i| i.day.clone()))
        .collect();
    days.sort();
    days.dedup();
    let mut out = rebuild_days(tx, &days)?;
    out.retain(|s| s.segments > 0);
    Ok(out)
}

fn count_series(inputs: &[(u64, &[crate::chunk::StreamChunk])]) -> u64 {
    let mut set = std::collections::HashSet::new();
    for (_, streams) in inputs {
        for s in streams.iter().filter(|s| !s.blocks.is_empty()) {
            set.insert(&s.labels);
        }
    }
    set.len() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_parse() {
        assert_eq!(parse_day("1970-01-01"), Some(0));
        assert_eq!(
            parse_day("2024-01-01"),
            Some(crate::time::day_of(1_704_067_200_000_000_000))
        );
        assert_eq!(parse_day("1969-12-31"), Some(-1));
        assert_eq!(parse_day("nope"), None);
    }
}
