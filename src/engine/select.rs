//! Stream selection and time pruning: which chunks and blocks a query reads.

use std::sync::Arc;

use crate::chunk::{BlockMeta, SegmentReader};
use crate::logql::Matcher;
use crate::model::Labels;
use crate::store::{Snapshot, StoreError};

/// One stream's blocks in one segment that a query must read.
#[derive(Debug, Clone)]
pub struct PlannedChunk {
    /// The stream's labels.
    pub labels: Labels,
    /// The segment holding the blocks.
    pub segment: Arc<SegmentReader>,
    /// Blocks overlapping the query's time range.
    pub blocks: Vec<BlockMeta>,
}

/// The chunks to read, and segments that could not be opened.
#[derive(Debug, Default)]
pub struct Plan {
    /// Chunks, in no particular order.
    pub chunks: Vec<PlannedChunk>,
    /// Damaged or missing segments, skipped (the query says so).
    pub warnings: Vec<String>,
    /// Segments whose footers were read.
    pub segments: usize,
}

/// True when `labels` satisfy every matcher (a missing label is "").
pub fn matches_all(labels: &Labels, matchers: &[Matcher]) -> bool {
    matchers
        .iter()
        .all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
}

/// Plans a query over `[from, to]` (inclusive bounds on block times).
pub fn plan(snap: &Snapshot, matchers: &[Matcher], from: i64, to: i64) -> Result<Plan, StoreError> {
    let mut plan = Plan::default();
    for seg in &snap.manifest.segments {
        if seg.max_t < from || seg.min_t > to {
            continue;
        }
        let reader = match snap.open_segment(seg) {
            Ok(r) => Arc::new(r),
            Err(StoreError::Segment(e)) => {
                plan.warnings.push(e.to_string());
                continue;
            }
            Err(StoreError::Io { path, source })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                plan.warnings.push(format!(
                    "{}: segment vanished (compacted meanwhile?); re-run the query",
                    path.display()
                ));
                continue;
            }
            Err(e) => return Err(e),
        };
        plan.segments += 1;
        for s in reader.streams() {
            if !matches_all(&s.labels, matchers) {
                continue;
            }
            let blocks: Vec<BlockMeta> = s
                .blocks
                .iter()
                .filter(|b| b.max_t >= from && b.min_t <= to)
                .cloned()
                .collect();
            if !blocks.is_empty() {
                plan.chunks.push(PlannedChunk {
                    labels: s.labels.clone(),
                    segment: Arc::clone(&reader),
                    blocks,
                });
            }
        }
    }
    Ok(plan)
}
