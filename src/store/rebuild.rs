//! Label index rebuilds: the lock-held half of the index. A rebuild reads
//! the footers of a day's live segments, has [`crate::index`] encode the
//! day's index, and records the file in a [`TenantWriter`] so that it
//! becomes live with the writer's next commit.
//!
//! It lives in the store, not in the index, because it needs a write
//! transaction: the index is a file format and knows nothing of manifests.

use super::{NewIndex, StoreError, TenantWriter};
use crate::chunk::{SegmentReader, StreamChunk};
use crate::index::build_day_index;
use crate::time::parse_day;

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
        let inputs: Vec<(u64, &[StreamChunk])> =
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

fn count_series(inputs: &[(u64, &[StreamChunk])]) -> u64 {
    let mut set = std::collections::HashSet::new();
    for (_, streams) in inputs {
        for s in streams.iter().filter(|s| !s.blocks.is_empty()) {
            set.insert(&s.labels);
        }
    }
    set.len() as u64
}
