//! Log queries: select streams, scan their blocks newest-first (or
//! oldest-first) in parallel waves, run the pipeline, and keep the `limit`
//! best entries, stopping as soon as no unread block can beat them.

use std::cmp::Ordering;
use std::time::Instant;

use rayon::prelude::*;

use super::pipeline::Pipeline;
use super::plan;
use super::scan::{self, BlockTask, Prefilter};
use super::stats::{QueryStats, ScanCounters};
use super::{Direction, QueryError};
use crate::chunk::segment::SegmentError;
use crate::logql::LogExpr;
use crate::model::Labels;
use crate::store::{ReadProblem, Snapshot};
use crate::time::TimeRange;

/// Parameters of a log query.
#[derive(Debug, Clone, Copy)]
pub struct LogParams {
    /// The entries' time range.
    pub range: TimeRange,
    /// Most entries returned; 0 = all.
    pub limit: usize,
    /// Newest first (Loki's default) or oldest first.
    pub direction: Direction,
}

/// One result entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// ns since the epoch.
    pub ts: i64,
    /// The labels after the pipeline (stream labels, parsed, formatted).
    pub labels: Labels,
    /// The line after the pipeline.
    pub line: Vec<u8>,
}

/// The entries, in output order, and what it took.
#[derive(Debug, Default)]
pub struct LogResult {
    /// Entries, newest first for backward queries.
    pub entries: Vec<LogEntry>,
    /// Statistics.
    pub stats: QueryStats,
}

/// An entry with its tie-breakers: equal timestamps order by stream labels,
/// then by position in the stream, so results never depend on parallelism
/// or batching (logcli's order for equal timestamps is unstable).
struct Cand {
    ts: i64,
    stream: usize,
    seq: u64,
    labels: Labels,
    line: Vec<u8>,
}

/// `a` comes before `b` in output order.
fn cmp(dir: Direction, a: &Cand, b: &Cand, stream_order: &[usize]) -> Ordering {
    let t = match dir {
        Direction::Backward => b.ts.cmp(&a.ts),
        Direction::Forward => a.ts.cmp(&b.ts),
    };
    t.then(stream_order[a.stream].cmp(&stream_order[b.stream]))
        .then(a.seq.cmp(&b.seq))
}

/// Runs a log query over a snapshot.
pub fn run(snap: &Snapshot, expr: &LogExpr, p: &LogParams) -> Result<LogResult, QueryError> {
    let t0 = Instant::now();
    let pipeline = Pipeline::new(&expr.pipeline).map_err(QueryError::stage)?;
    let sieve = sieve_pipeline(&pipeline, &expr.pipeline);
    let plan = plan::plan(snap, &expr.matchers, p.range)?;
    let mut stats = QueryStats {
        plan_time: t0.elapsed(),
        segments: plan.segments as u64,
        ..Default::default()
    };
    stats.warnings.extend(plan.warnings.iter().cloned());
    stats.partial.extend(plan.partial.iter().cloned());
    stats.chunks = plan.chunks.len() as u64;
    // Stream order for ties: by labels.
    let mut order: Vec<usize> = (0..plan.chunks.len()).collect();
    order.sort_by(|&a, &b| plan.chunks[a].labels.cmp(&plan.chunks[b].labels));
    let mut stream_order = vec![0; plan.chunks.len()];
    for (rank, &ci) in order.iter().enumerate() {
        stream_order[ci] = rank;
    }
    stats.streams = plan.streams() as u64;
    stats.shards = 1;

    let mut tasks = scan::tasks(&plan.chunks);
    match p.direction {
        Direction::Backward => tasks.sort_by_key(|t| std::cmp::Reverse(t.block.max_t)),
        Direction::Forward => tasks.sort_by_key(|t| t.block.min_t),
    }
    let prefilter = Prefilter::for_stages(pipeline.leading_line_filters(), &expr.pipeline);
    let counters = ScanCounters::default();
    // Without a limit every block is read: one parallel pass, one sort.
    // With one, blocks go in waves (newest first) and the scan stops once no
    // unread block can hold an entry that beats the current `limit`th.
    let wave = if p.limit == 0 {
        tasks.len().max(1)
    } else {
        (rayon::current_num_threads() * 4).max(8)
    };
    let mut best: Vec<Cand> = Vec::new();
    let mut done = 0;
    while done < tasks.len() {
        if p.limit > 0 && best.len() >= p.limit {
            let worst = best[p.limit - 1].ts;
            let next = &tasks[done];
            let can_beat = match p.direction {
                Direction::Backward => next.block.max_t >= worst,
                Direction::Forward => next.block.min_t <= worst,
            };
            if !can_beat {
                break;
            }
        }
        let end = (done + wave).min(tasks.len());
        let results: Vec<Result<Vec<Cand>, SegmentError>> = tasks[done..end]
            .par_iter()
            .map(|t| {
                scan_block(
                    t,
                    t.chunk_idx,
                    &pipeline,
                    sieve.as_ref(),
                    prefilter.as_ref(),
                    p,
                    &counters,
                )
            })
            .collect();
        done = end;
        for r in results {
            match r {
                Ok(c) => best.extend(c),
                Err(e) => stats.partial.push(ReadProblem::from(&e)),
            }
        }
        let order = |a: &Cand, b: &Cand| cmp(p.direction, a, b, &stream_order);
        if p.limit > 0 && best.len() > p.limit {
            best.select_nth_unstable_by(p.limit - 1, order);
            best.truncate(p.limit);
        }
        best.sort_by(order);
    }
    stats.blocks_skipped = (tasks.len() - done) as u64;
    stats.absorb(&counters);
    stats.results = best.len() as u64;
    stats.total_time = t0.elapsed();
    let entries = best
        .into_iter()
        .map(|c| LogEntry {
            ts: c.ts,
            labels: c.labels,
            line: c.line,
        })
        .collect();
    Ok(LogResult { entries, stats })
}

/// Scans one block, returning at most `limit` entries (the best ones in the
/// query's direction) inside the time range.
/// A cheaper copy of the pipeline whose parsers extract only the labels the
/// stages read. A line it drops, the full pipeline drops too (the stages see
/// the same values, and parsers still walk the whole line, so errors are the
/// same); the full pipeline then runs only on the survivors, for the labels
/// a log query prints. `None` when it would not save work.
fn sieve_pipeline(full: &Pipeline, stages: &[crate::logql::Stage]) -> Option<Pipeline> {
    use crate::logql::{Parser, Stage};
    let parses = stages.iter().any(|s| {
        matches!(s, Stage::Parser { parser: Parser::Json { params } | Parser::Logfmt { params, .. }, .. } if params.is_empty())
    });
    let filters = stages
        .iter()
        .any(|s| matches!(s, Stage::LabelFilter { .. }));
    if !(parses && filters) {
        return None;
    }
    full.referenced_labels()?;
    let mut sieve = full.clone();
    sieve.set_extraction_hints(Some(&[]));
    Some(sieve)
}

#[allow(clippy::too_many_arguments)]
fn scan_block(
    t: &BlockTask<'_>,
    stream: usize,
    pipeline: &Pipeline,
    sieve: Option<&Pipeline>,
    prefilter: Option<&Prefilter>,
    p: &LogParams,
    counters: &ScanCounters,
) -> Result<Vec<Cand>, SegmentError> {
    scan::with_block(t, counters, |block| {
        let started = Instant::now();
        let mut sp = pipeline.for_stream(&t.chunk.labels);
        let mut sieve = sieve.map(|s| s.for_stream(&t.chunk.labels));
        let lines: Vec<u32> = match prefilter {
            Some(pf) if pf.applies(&t.chunk.labels, block) => {
                let c = pf.candidates(block);
                ScanCounters::add(&counters.lines_skipped, (block.len() - c.len()) as u64);
                c
            }
            _ => (0..block.len() as u32).collect(),
        };
        let mut out: Vec<Cand> = Vec::new();
        let mut md: Vec<(&str, &str)> = Vec::new();
        let mut visit = |i: usize| -> bool {
            let ts = block.ts[i];
            if !p.range.contains(ts) {
                return true;
            }
            if p.limit > 0 && out.len() >= p.limit && out[out.len() - 1].ts != ts {
                return false; // lines are time-ordered: nothing later in this walk can beat these
            }
            ScanCounters::add(&counters.lines_scanned, 1);
            block.metadata(i, &mut md);
            if let Some(sv) = sieve.as_mut() {
                if sv.process_with_metadata(ts, block.line(i), &md).is_none() {
                    return true;
                }
            }
            if let Some((line, labels)) = sp.process_with_metadata(ts, block.line(i), &md) {
                out.push(Cand {
                    ts,
                    stream,
                    seq: t.block.offset.wrapping_mul(1 << 20) + i as u64,
                    labels: labels.to_labels(),
                    line: line.into_owned(),
                });
            }
            true
        };
        match p.direction {
            Direction::Backward => {
                for &i in lines.iter().rev() {
                    if !visit(i as usize) {
                        break;
                    }
                }
            }
            Direction::Forward => {
                for &i in &lines {
                    if !visit(i as usize) {
                        break;
                    }
                }
            }
        }
        ScanCounters::add(&counters.pipeline_ns, started.elapsed().as_nanos() as u64);
        ScanCounters::add(&counters.lines_kept, out.len() as u64);
        out
    })
}
