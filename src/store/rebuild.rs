//! Label index rebuilds: the lock-held half of the index. A rebuild reads
//! the footers of a day's live segments, has [`crate::index`] encode the
//! day's index, and records the file in a [`TenantWriter`] so that it
//! becomes live with the writer's next commit.
//!
//! It lives in the store, not in the index, because it needs a write
//! transaction: the index is a file format and knows nothing of manifests.

use super::{NewIndex, StoreError, TenantWriter};
use crate::chunk::segment::SegmentError;
use crate::chunk::SegmentFooter;
use crate::index::build_day_index_from;
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
        // Footers are read one stream at a time: a day of a million
        // streams in many segments is merged, never held whole.
        let mut entries = entries;
        entries.sort_by_key(|e| e.id);
        entries.dedup_by_key(|e| e.id);
        let built = entries
            .iter()
            .map(|e| SegmentFooter::open(&tx.segment_path(e)))
            .collect::<Result<Vec<_>, SegmentError>>()
            .and_then(|footers| {
                let ids: Vec<u64> = entries.iter().map(|e| e.id).collect();
                build_day_index_from(day_no, &ids, |i| Ok(footers[i].streams()))
            });
        let (bytes, series) = match built {
            Ok(b) => b,
            Err(e) if warn.is_some() => {
                if let Some(w) = warn.as_mut() {
                    w(format!("{e}; the label index of {day} was not rebuilt"));
                }
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        out.push(IndexSummary {
            day: day.clone(),
            series,
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
