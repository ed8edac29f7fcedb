//! Whole-store reading for tools that need every entry or every block:
//! `stats` and the debug dump (`lokal check` is `check.rs`). Queries use
//! the query engine.

use std::collections::{BTreeMap, HashSet};

use crate::chunk::segment::SegmentError;
use crate::chunk::Block;
use crate::model::Labels;

use super::{Snapshot, StoreError};

/// Calls `f(labels, ts, line)` for every entry of the snapshot, segment by
/// segment, stream by stream, in time order within a chunk. Corrupt blocks
/// are skipped and returned.
pub fn for_each_entry(
    snap: &Snapshot,
    mut f: impl FnMut(&Labels, i64, &[u8]),
) -> Result<Vec<SegmentError>, StoreError> {
    let mut bad = Vec::new();
    let mut block = Block::default();
    for seg in &snap.manifest.segments {
        let r = match snap.open_segment(seg) {
            Ok(r) => r,
            Err(StoreError::Segment(e)) => {
                bad.push(e);
                continue;
            }
            Err(e) => return Err(e),
        };
        for s in r.streams() {
            for m in &s.blocks {
                match r.read_block(m, &mut block) {
                    Ok(()) => {
                        for i in 0..block.len() {
                            f(&s.labels, block.ts[i], block.line(i));
                        }
                    }
                    Err(e) => bad.push(e),
                }
            }
        }
    }
    Ok(bad)
}

/// Totals for one tenant and UTC day.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct DayStats {
    /// Tenant.
    pub tenant: String,
    /// `YYYY-MM-DD`.
    pub day: String,
    /// Distinct streams.
    pub streams: u64,
    /// Entries.
    pub entries: u64,
    /// Chunks (one per stream per segment).
    pub chunks: u64,
    /// Blocks.
    pub blocks: u64,
    /// Segment files.
    pub segments: u64,
    /// Sum of line lengths.
    pub bytes_raw: u64,
    /// Bytes of the day's segment files (the label index is counted in
    /// `bytes_overhead` only, so the compression ratio stays comparable).
    pub bytes_stored: u64,
    /// Bytes on disk that are not compressed blocks: segment headers,
    /// footers and trailers, and the day's label index.
    pub bytes_overhead: u64,
    /// Average line bytes per block: small blocks (many small ingests)
    /// compress worse and cost more per line to read.
    pub block_raw_avg: u64,
    /// Average compressed bytes per block.
    pub block_stored_avg: u64,
    /// Whether `lokal compact` would merge the day's segments (more
    /// segments than it needs); filled in by the querier.
    pub compactable: bool,
    /// Oldest entry, RFC 3339.
    pub from: String,
    /// Newest entry, RFC 3339.
    pub to: String,
}

/// Per-day statistics of a snapshot, from segment footers (no block is read).
pub fn day_stats(tenant: &str, snap: &Snapshot) -> Result<Vec<DayStats>, StoreError> {
    let mut days: BTreeMap<&str, (DayStats, HashSet<u64>, i64, i64)> = BTreeMap::new();
    for seg in &snap.manifest.segments {
        let r = snap.open_segment(seg)?;
        let d = days.entry(seg.day.as_str()).or_insert_with(|| {
            (
                DayStats {
                    tenant: tenant.into(),
                    day: seg.day.clone(),
                    ..Default::default()
                },
                HashSet::new(),
                i64::MAX,
                i64::MIN,
            )
        });
        d.0.segments += 1;
        d.0.bytes_stored += seg.bytes;
        d.0.bytes_raw += seg.raw_bytes;
        d.0.entries += seg.entries;
        d.0.blocks += seg.blocks;
        d.0.chunks += r.streams().len() as u64;
        d.2 = d.2.min(seg.min_t);
        d.3 = d.3.max(seg.max_t);
        // Packed blocks are listed once per stream run: count each once.
        let blocks: u64 = r
            .streams()
            .iter()
            .flat_map(|s| &s.blocks)
            .map(|b| (b.offset, u64::from(b.len)))
            .collect::<std::collections::HashMap<u64, u64>>()
            .values()
            .sum();
        d.0.bytes_overhead += seg.bytes.saturating_sub(blocks);
        d.0.block_stored_avg += blocks;
        for s in r.streams() {
            d.1.insert(s.fingerprint);
        }
    }
    for i in &snap.manifest.indexes {
        if let Some(d) = days.get_mut(i.day.as_str()) {
            d.0.bytes_overhead += i.bytes;
        }
    }
    Ok(days
        .into_values()
        .map(|(mut s, fps, lo, hi)| {
            s.streams = fps.len() as u64;
            // Sums until here.
            s.block_raw_avg = s.bytes_raw / s.blocks.max(1);
            s.block_stored_avg /= s.blocks.max(1);
            s.from = crate::time::rfc3339_nano(lo);
            s.to = crate::time::rfc3339_nano(hi);
            s
        })
        .collect())
}
