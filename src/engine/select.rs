//! Stream selection and time pruning: which chunks and blocks a query reads.

use std::sync::Arc;

use crate::chunk::{BlockMeta, SegmentReader};
use crate::logql::Matcher;
use crate::model::Labels;
use crate::store::{Snapshot, StoreError};
use crate::time::TimeRange;

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

/// Plans a query over the blocks with entries in `range`: streams come from
/// the day indexes where they cover the segments, and from segment footers
/// otherwise (the index only accelerates).
pub fn plan(snap: &Snapshot, matchers: &[Matcher], range: TimeRange) -> Result<Plan, StoreError> {
    let mut planner = crate::index::Planner::new(snap);
    let planned = planner.plan_streams(matchers, range)?;
    let mut plan = Plan::default();
    let mut seen = std::collections::HashSet::new();
    for c in planned {
        let reader = match planner.segment(&c.segment) {
            Ok(r) => r,
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
        seen.insert(c.segment.id);
        plan.chunks.push(PlannedChunk {
            labels: c.labels,
            segment: reader,
            blocks: c.blocks,
        });
    }
    plan.segments = seen.len();
    plan.warnings.extend(planner.warnings().iter().cloned());
    Ok(plan)
}
