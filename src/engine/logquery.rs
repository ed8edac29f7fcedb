//! Log queries: select streams, scan their blocks, run the pipeline, and
//! hand out the entries in time order.
//!
//! Two ways, one order. A limited query ([`run`] with `limit > 0`) scans
//! blocks newest-first (or oldest-first) in parallel waves, keeps the
//! `limit` best entries and stops as soon as no unread block can beat them.
//! An unlimited one is a [`LogStream`]: a k-way merge over the blocks in
//! time order that decompresses a block only when the merge reaches it (a
//! few at a time, in parallel), so its memory is bounded by a budget
//! whatever the size of the result (see [`LogStream`]).
//!
//! Both read the plan grouped by stored block ([`BlockPlan`]): a packed
//! block holding the runs of a thousand small streams is decompressed once
//! and its runs' lines walked together, in output order.
//!
//! Entries with equal timestamps are ordered by stream labels, then by
//! segment, then by position in the stream, in both directions, so results
//! never depend on parallelism, batching or the memory budget (logcli's
//! order for equal timestamps is unstable).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::{mpsc, Arc};
use std::time::Instant;

use rayon::prelude::*;

use super::blockplan::{self, BlockPlan, Group, Run};
use super::pipeline::{Pipeline, StreamPipeline};
use super::plan::{self, PlannedChunk};
use super::scan::{self, Prefilter};
use super::stats::{QueryStats, ScanCounters};
use super::{Direction, QueryError};
use crate::chunk::segment::SegmentError;
use crate::chunk::Block;
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
    /// The labels after the pipeline (stream labels, parsed, formatted);
    /// shared by the entries of a block that have the same labels.
    pub labels: Arc<Labels>,
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

/// Bytes of matching entries a [`LogStream`] keeps decoded ahead of its
/// output (lines, labels and bookkeeping, estimated): 64 MiB.
pub const STREAM_BUDGET: usize = 64 << 20;

/// Where an entry goes in output order: ascending `(ts, rank, seq)`, with
/// `ts` bitwise negated for backward queries (`!a < !b` exactly when
/// `a > b`, with no overflow), `rank` the stream's place in label order
/// (then segment), `seq` its position in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    ts: i64,
    rank: u32,
    seq: u64,
}

fn dir_ts(dir: Direction, ts: i64) -> i64 {
    match dir {
        Direction::Forward => ts,
        Direction::Backward => !ts,
    }
}

/// A result entry with its place in the output order and in its block's
/// walk (for re-reading the block from there).
struct Cand {
    key: Key,
    ts: i64,
    walk: u32,
    /// What holding it costs, roughly, as the budget counts it: the struct,
    /// the line, and the labels when this entry made their copy.
    cost: u32,
    /// Its stream in the plan, for its labels when `labels` is `None`.
    stream: u32,
    /// Its labels; `None` when they are its stream's and the query decodes
    /// those only when it hands the entry out ([`Query::lazy_labels`]).
    labels: Option<Arc<Labels>>,
    line: Vec<u8>,
}

impl Cand {
    fn cost(&self) -> usize {
        self.cost as usize
    }

    /// The entry, with its stream's labels from `stream_labels` when the
    /// scan left them out.
    fn entry(self, stream_labels: impl FnOnce(u32) -> Arc<Labels>) -> LogEntry {
        LogEntry {
            ts: self.ts,
            labels: match self.labels {
                Some(l) => l,
                None => stream_labels(self.stream),
            },
            line: self.line,
        }
    }
}

/// What holding a copy of `labels` costs, as the budget counts it.
fn labels_cost(labels: &Labels) -> usize {
    labels
        .pairs()
        .iter()
        .map(|(n, v)| n.len() + v.len() + 48)
        .sum()
}

/// What a scan of (part of) a block found.
struct Scanned {
    cands: Vec<Cand>,
    /// The scan stopped at its budget: the walk position and key of the
    /// next entry the block holds.
    rest: Option<(u32, Key)>,
    /// Walk positions before this went through the pipeline (and are
    /// counted in the stats).
    scanned_to: u32,
}

/// One line of a block's walk: where it goes in output order, its run (in
/// the group) and its index in the block's view.
#[derive(Debug, Clone, Copy)]
struct Step {
    key: Key,
    run: u32,
    line: u32,
}

/// The pipelines of a scan, bound to one run's stream at a time: the walk
/// of a packed block goes from stream to stream, and binding a pipeline
/// to the next keeps its buffers ([`StreamPipeline::rebind`]), where a
/// pipeline made per stream allocated more than the scan did.
struct Bound {
    /// The run they are bound to.
    run: u32,
    /// That run's stream labels.
    pairs: Vec<(String, String)>,
    sp: StreamPipeline,
    sieve: Option<StreamPipeline>,
}

/// A log expression's compiled stages: its pipeline, the sieve and the
/// literal prefilter taken from it.
#[derive(Clone)]
struct Compiled {
    pipeline: Pipeline,
    sieve: Option<Pipeline>,
    prefilter: Option<Prefilter>,
}

impl Compiled {
    fn new(expr: &LogExpr) -> Result<Compiled, QueryError> {
        let pipeline = Pipeline::new(&expr.pipeline).map_err(QueryError::stage)?;
        let sieve = sieve_pipeline(&pipeline, &expr.pipeline);
        let prefilter = Prefilter::for_stages(pipeline.leading_line_filters(), &expr.pipeline);
        Ok(Compiled {
            pipeline,
            sieve,
            prefilter,
        })
    }
}

/// A planned query, ready to scan blocks.
struct Query {
    p: LogParams,
    pipeline: Pipeline,
    sieve: Option<Pipeline>,
    prefilter: Option<Prefilter>,
    /// The runs to read, grouped by stored block; a group is a task, in
    /// the order the query meets them (by first entry in its direction).
    plan: BlockPlan,
    /// Entries whose labels are their stream's leave them out
    /// ([`Cand::labels`] `None`), to be decoded from the plan when the
    /// entry is handed out: a million one-entry streams then hold no label
    /// copy per entry waiting in the merge. The limited path, whose best
    /// entries outlive each batch's plan, takes them at once.
    lazy_labels: bool,
    stats: QueryStats,
    counters: ScanCounters,
    t0: Instant,
}

impl Query {
    /// Takes the finished plan's figures into the stats: its streams,
    /// chunks and segments, its warnings, and what it could not open ahead
    /// of what the scan could not read.
    fn absorb_plan(&mut self, tally: &plan::PlanTally, planner: &plan::Planner) {
        (self.stats.streams, self.stats.chunks) = (tally.streams, tally.chunks);
        self.stats.segments = tally.segments();
        self.stats.warnings.extend(planner.warnings());
        let scanned = std::mem::take(&mut self.stats.partial);
        self.stats.partial = planner.partial().to_vec();
        self.stats.partial.extend(scanned);
    }

    /// The query's pipeline, with no plan yet.
    fn prepare(expr: &LogExpr, p: &LogParams, lazy_labels: bool) -> Result<Query, QueryError> {
        let t0 = Instant::now();
        Ok(Self::compiled(Compiled::new(expr)?, p, lazy_labels, t0))
    }

    /// A query over stages already compiled (a time slice of a sliced
    /// stream: its regexes and prefilter are the first pass's).
    fn compiled(c: Compiled, p: &LogParams, lazy_labels: bool, t0: Instant) -> Query {
        Query {
            p: *p,
            pipeline: c.pipeline,
            sieve: c.sieve,
            prefilter: c.prefilter,
            plan: BlockPlan::default(),
            lazy_labels,
            stats: QueryStats {
                shards: 1,
                ..Default::default()
            },
            counters: ScanCounters::default(),
            t0,
        }
    }

    /// Its compiled stages, for another query of the same expression.
    fn stages(&self) -> Compiled {
        Compiled {
            pipeline: self.pipeline.clone(),
            sieve: self.sieve.clone(),
            prefilter: self.prefilter.clone(),
        }
    }

    /// Blocks to read (groups of the plan).
    fn tasks(&self) -> usize {
        self.plan.groups().len()
    }

    /// Where the entries of task `i` start in output order ([`Key::ts`]):
    /// none of them comes before this.
    fn start(&self, i: usize) -> i64 {
        self.plan.groups()[i].start
    }

    /// The lines of group `g`'s runs that a scan walks, in output order:
    /// those in range and, with a prefilter, its candidates (found by one
    /// search of the view, the group's runs back to back). `lo` is where
    /// the view starts in the block; lines the prefilter rules out are
    /// counted in `skipped`.
    ///
    /// Forward, each run's lines come in position order; backward, its runs
    /// of equal timestamps from the last to the first, each in position
    /// order; the runs' lines interleave by time, then rank. Returned with
    /// how many of the steps are in that order: all, except for a limited
    /// query, whose scan sorts the others (all later than those) only if it
    /// gets to them.
    fn walk(
        &self,
        g: &Group,
        runs: &[Run],
        lo: u32,
        block: &Block,
        skipped: &mut u64,
    ) -> (Vec<Step>, usize) {
        let (dir, range) = (self.p.direction, self.p.range);
        let cands = self.prefilter.as_ref().map(|pf| (pf, pf.candidates(block)));
        let mut walk = Vec::new();
        let (mut lines, mut back) = (Vec::new(), Vec::new());
        for (r, run) in runs.iter().enumerate() {
            let (a, b) = (run.first - lo, run.first - lo + run.entries);
            lines.clear();
            match &cands {
                Some((pf, c)) if pf.applies_with(block, || self.plan.labels(run.stream)) => {
                    let from = c.partition_point(|&x| x < a);
                    let to = c.partition_point(|&x| x < b);
                    *skipped += u64::from(run.entries) - (to - from) as u64;
                    lines.extend_from_slice(&c[from..to]);
                }
                _ => lines.extend(a..b),
            }
            // The run's lines in output order.
            let order = match dir {
                Direction::Forward => &lines,
                Direction::Backward => {
                    backward_walk(&lines, &block.ts, &mut back);
                    &back
                }
            };
            for &x in order {
                let ts = block.ts[x as usize];
                if range.contains(ts) {
                    walk.push(Step {
                        key: Key {
                            ts: dir_ts(dir, ts),
                            rank: run.rank,
                            seq: g.block.offset.wrapping_mul(1 << 20) + u64::from(x - a),
                        },
                        run: r as u32,
                        line: x,
                    });
                }
            }
        }
        // Each run's steps are in order already; the runs of a packed
        // block interleave (keys are distinct). A limited scan needs only
        // the walk's start: its first steps are sorted, the rest when the
        // scan gets there (its lines may fail the pipeline).
        let mut sorted = walk.len();
        if runs.len() > 1 {
            let head = self.p.limit.saturating_mul(4).saturating_add(16);
            if self.p.limit > 0 && walk.len() > head {
                walk.select_nth_unstable_by_key(head, |s| s.key);
                walk[..head].sort_unstable_by_key(|s| s.key);
                sorted = head;
            } else {
                walk.sort_unstable_by_key(|s| s.key);
            }
        }
        (walk, sorted)
    }

    /// Scans task `i` (a stored block and its planned runs) from walk
    /// position `from`: at most `limit` entries (0: no limit; the rest of
    /// a run of equal timestamps comes too), and once `budget` bytes of
    /// entries are held, only the key of the next one ([`Scanned::rest`]).
    /// Decompression counts in `io`; lines count in the query's counters
    /// from walk position `counted` on, so that a block read again is not
    /// counted twice.
    fn scan(
        &self,
        i: usize,
        from: u32,
        counted: u32,
        budget: usize,
        io: &ScanCounters,
    ) -> Result<Scanned, SegmentError> {
        let g = &self.plan.groups()[i];
        let runs = self.plan.runs(g);
        let limit = self.p.limit;
        let counters = &self.counters;
        let (_, segment) = self.plan.segment(g);
        scan::with_stored_block(segment, &g.block, io, |block| {
            let started = Instant::now();
            // The view: from the group's first run to the end of its last
            // (the whole block when every run of it is read).
            let lo = runs.iter().map(|r| r.first).min().unwrap_or(0);
            let hi = runs.iter().map(|r| r.first + r.entries).max().unwrap_or(0);
            if block.select(lo as usize, (hi - lo) as usize).is_none() {
                return Err(segment.block_error(&g.block, "run outside its block"));
            }
            if block.has_metadata() {
                let md: usize = runs
                    .iter()
                    .map(|r| block.metadata_bytes_of((r.first - lo) as usize, r.entries as usize))
                    .sum();
                ScanCounters::add(&io.metadata_bytes, md as u64);
            }
            let mut skipped = 0;
            // Steps before `sorted` are in output order; the rest is sorted
            // when the scan reaches it.
            let (mut walk, mut sorted) = self.walk(g, runs, lo, block, &mut skipped);
            if counted == 0 {
                ScanCounters::add(&counters.lines_skipped, skipped);
            }
            let mut out = Scanned {
                cands: Vec::new(),
                rest: None,
                scanned_to: walk.len() as u32,
            };
            let (mut held, mut kept) = (0usize, 0u64);
            let mut md: Vec<(&str, &str)> = Vec::new();
            let mut bound: Option<Bound> = None;
            // Per run: its stream's labels (taken eagerly), and the last
            // labels made for one of its entries that were not its stream's
            // (consecutive lines of a run mostly share them: one copy).
            let mut own: Vec<Option<Arc<Labels>>> = vec![None; runs.len()];
            let mut shared: Vec<Option<Arc<Labels>>> = vec![None; runs.len()];
            let mut next = from as usize;
            while next < walk.len() {
                let k = next;
                next += 1;
                if k == sorted {
                    walk[k..].sort_unstable_by_key(|s| s.key);
                    sorted = walk.len();
                }
                let step = walk[k];
                let i = step.line as usize;
                let ts = block.ts[i];
                if limit > 0 && out.cands.len() >= limit && out.cands[out.cands.len() - 1].ts != ts
                {
                    out.scanned_to = k as u32;
                    break; // lines are walked in order: nothing later can beat these
                }
                let new = k as u32 >= counted;
                if new {
                    ScanCounters::add(&counters.lines_scanned, 1);
                }
                let r = step.run as usize;
                let run = &runs[r];
                let b = match &mut bound {
                    Some(b) if b.run == step.run => b,
                    Some(b) => {
                        self.plan.labels_into(run.stream, &mut b.pairs);
                        b.sp.rebind(&b.pairs);
                        if let Some(sv) = b.sieve.as_mut() {
                            sv.rebind(&b.pairs);
                        }
                        b.run = step.run;
                        b
                    }
                    None => {
                        let labels = self.plan.labels(run.stream);
                        bound.insert(Bound {
                            run: step.run,
                            sp: self.pipeline.for_stream(&labels),
                            sieve: self.sieve.as_ref().map(|p| p.for_stream(&labels)),
                            pairs: labels.pairs().to_vec(),
                        })
                    }
                };
                block.metadata(i, &mut md);
                if let Some(sv) = b.sieve.as_mut() {
                    if sv.process_with_metadata(ts, block.line(i), &md).is_none() {
                        continue;
                    }
                }
                let Some((text, labels)) = b.sp.process_with_metadata(ts, block.line(i), &md)
                else {
                    continue;
                };
                kept += u64::from(new);
                // Past the budget, only the next entry's key (but a scan
                // always gives one entry: the merge is waiting for it).
                if held >= budget && !out.cands.is_empty() {
                    out.rest = Some((k as u32, step.key));
                    out.scanned_to = k as u32 + 1;
                    break;
                }
                let mut cost = std::mem::size_of::<Cand>() + text.len();
                // The stream's own labels, exactly (the pipeline's base leaves
                // out empty values: then they differ and are copied).
                let labels = if labels.pairs() == b.pairs.as_slice() {
                    if self.lazy_labels {
                        None
                    } else {
                        Some(
                            own[r]
                                .get_or_insert_with(|| {
                                    let l = Labels::from_pairs(b.pairs.iter().cloned());
                                    cost += labels_cost(&l);
                                    Arc::new(l)
                                })
                                .clone(),
                        )
                    }
                } else {
                    match &shared[r] {
                        Some(l) if l.pairs() == labels.pairs() => Some(l.clone()),
                        _ => {
                            let l = Arc::new(labels.to_labels());
                            cost += labels_cost(&l);
                            shared[r] = Some(l.clone());
                            Some(l)
                        }
                    }
                };
                held += cost;
                out.cands.push(Cand {
                    key: step.key,
                    ts,
                    walk: k as u32,
                    cost: cost.min(u32::MAX as usize) as u32,
                    stream: run.stream,
                    labels,
                    line: text.into_owned(),
                });
            }
            ScanCounters::add(&io.pipeline_ns, started.elapsed().as_nanos() as u64);
            ScanCounters::add(&counters.lines_kept, kept);
            Ok(out)
        })?
    }

    fn finish(mut self, results: u64, skipped: usize) -> QueryStats {
        let stats = std::mem::take(&mut self.stats);
        self.finish_stats(stats, results, skipped)
    }

    /// `stats` completed with the scan counters and the time taken.
    fn finish_stats(&self, mut stats: QueryStats, results: u64, skipped: usize) -> QueryStats {
        stats.blocks_skipped = skipped as u64;
        stats.absorb(&self.counters);
        stats.results = results;
        stats.total_time = self.t0.elapsed();
        stats
    }

    /// Scans tasks `from..to` from their start in parallel, each with
    /// `budget` bytes of entries.
    fn scan_wave(&self, from: usize, to: usize, budget: usize) -> Wave {
        (from..to)
            .into_par_iter()
            .map(|i| (i, self.scan(i, 0, 0, budget, &self.counters)))
            .collect()
    }
}

/// Backward walk order of a run's `lines` (ascending positions, whose
/// timestamps never decrease), into `out`: runs of equal timestamps from
/// the last to the first, each in position order.
fn backward_walk(lines: &[u32], ts: &[i64], out: &mut Vec<u32>) {
    out.clear();
    let mut end = lines.len();
    while end > 0 {
        let t = ts[lines[end - 1] as usize];
        let mut start = end - 1;
        while start > 0 && ts[lines[start - 1] as usize] == t {
            start -= 1;
        }
        out.extend_from_slice(&lines[start..end]);
        end = start;
    }
}

/// Runs a log query over a snapshot. Without a limit the entries come from
/// a [`LogStream`], collected.
pub fn run(snap: &Snapshot, expr: &LogExpr, p: &LogParams) -> Result<LogResult, QueryError> {
    if p.limit == 0 {
        let mut s = LogStream::open(snap, expr, p)?;
        let entries: Vec<LogEntry> = s.by_ref().collect();
        return Ok(LogResult {
            entries,
            stats: s.finish(),
        });
    }
    run_limited(snap, expr, p, plan::PLAN_BATCH_BLOCKS)
}

/// The limited query: the plan taken from [`plan::PlanCursor`] a few
/// thousand blocks of whole streams at a time, so a query over a million
/// streams holds one batch's block references, never the million. Each
/// batch's blocks are scanned in parallel waves (newest first, or oldest
/// first); each block returns at most `limit` entries, the merge keeps the
/// best `limit` over every batch so far, and a batch's scan stops once no
/// unread block of it can beat the current `limit`th. Ranks run on across
/// batches (label order), so the answer is the one the whole plan gives.
/// `batch` is the blocks a batch takes (whole streams; tests vary it).
fn run_limited(
    snap: &Snapshot,
    expr: &LogExpr,
    p: &LogParams,
    batch: usize,
) -> Result<LogResult, QueryError> {
    let limit = p.limit;
    let mut q = Query::prepare(expr, p, false)?;
    let mut planner = plan::Planner::new(snap);
    let mut cursor = planner.stream(&expr.matchers, p.range)?;
    q.stats.plan_time = q.t0.elapsed();
    let wave = (rayon::current_num_threads() * 4).max(8);
    let mut best: Vec<Cand> = Vec::new();
    let mut tally = plan::PlanTally::default();
    let (mut ranked, mut skipped) = (0u32, 0usize);
    loop {
        let t = Instant::now();
        let chunks = cursor.next_streams(batch)?;
        q.stats.plan_time += t.elapsed();
        if chunks.is_empty() {
            break;
        }
        tally.add(&chunks);
        let mut batch_plan = BlockPlan::new(ranked);
        batch_plan.add(&chunks)?;
        batch_plan.finish(p.direction);
        ranked = ranked
            .checked_add(batch_plan.chunks())
            .ok_or_else(blockplan::too_many_chunks)?;
        drop(chunks);
        q.plan = batch_plan;
        let n = q.tasks();
        let mut done = 0;
        while done < n {
            if best.len() >= limit && q.start(done) > best[limit - 1].key.ts {
                break;
            }
            let end = (done + wave).min(n);
            let results: Vec<Result<Scanned, SegmentError>> = (done..end)
                .into_par_iter()
                .map(|i| q.scan(i, 0, 0, usize::MAX, &q.counters))
                .collect();
            done = end;
            for r in results {
                match r {
                    Ok(s) => best.extend(s.cands),
                    Err(e) => q.stats.partial.push(ReadProblem::from(&e)),
                }
            }
            if best.len() > limit {
                best.select_nth_unstable_by_key(limit - 1, |c| c.key);
                best.truncate(limit);
            }
            best.sort_by_key(|c| c.key);
        }
        skipped += n - done;
    }
    drop(cursor);
    q.plan = BlockPlan::default();
    q.absorb_plan(&tally, &planner);
    let results = best.len() as u64;
    let stats = q.finish(results, skipped);
    Ok(LogResult {
        entries: best
            .into_iter()
            // Eager labels: every entry carries its own.
            .map(|c| c.entry(|_| Arc::default()))
            .collect(),
        stats,
    })
}

/// The scans of a wave of blocks: task index and what its scan found.
type Wave = Vec<(usize, Result<Scanned, SegmentError>)>;

/// A block the merge has opened: its entries decoded so far, and where to
/// read on when they run out.
struct Slot {
    task: usize,
    cands: VecDeque<Cand>,
    rest: Option<(u32, Key)>,
    /// Walk positions before this are counted in the stats.
    counted: u32,
}

impl Slot {
    fn head(&self) -> Option<Key> {
        self.cands.front().map(|c| c.key).or(self.rest.map(|r| r.1))
    }
}

/// One time slice of a [`LogStream`] (the whole range, unless its plan is
/// too large): its entries in output order, read as they are handed out,
/// a k-way merge over the stored blocks (each with its planned runs),
/// sorted by their first entry in the query's direction.
///
/// Before an entry is handed out, every block that could hold an earlier
/// one is opened; blocks are opened `wave` at a time (decompressed and run
/// through the pipeline in parallel) and only when the merge reaches them.
/// What stays in memory is the matching entries of the opened blocks not
/// yet handed out, at most [`STREAM_BUDGET`] bytes of them. Blocks read for
/// the first time fill two thirds of it; past that a block keeps only the
/// key of its next entry, and is read again from there when the merge gets
/// to it, for what the fill level leaves or else a fair share of the last
/// third (a third of the budget over the blocks open), so that with many
/// blocks overlapping in time (a million small streams packed into a
/// thousand blocks, each spanning the day) each read again yields a useful
/// part of its block, not one entry.
struct Merge {
    q: Arc<Query>,
    /// The query's statistics (warnings, partial) until [`Merge::finish`].
    stats: QueryStats,
    budget: usize,
    wave: usize,
    /// Tasks before this are in the merge (or were read and had nothing).
    added: usize,
    /// Tasks before this are added or being read ahead (`pending`).
    next_task: usize,
    /// The wave read ahead on the thread pool while the merge hands out
    /// entries: where it ends, and where its scans arrive.
    pending: Option<(usize, mpsc::Receiver<Wave>)>,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    heap: BinaryHeap<Reverse<(Key, usize)>>,
    held: usize,
    emitted: u64,
    /// Counters of blocks read again after their entries were dropped:
    /// kept apart so the stats count each block once, as the limited path.
    reread: ScanCounters,
    /// Decoded stream labels of entries handed out, by stream modulo
    /// [`LABEL_CACHE`]: the entries of a few streams interleaving in time
    /// share one copy each (a million streams' entries, each stream's few,
    /// mostly decode their own).
    labels: Vec<Option<(u32, Arc<Labels>)>>,
    peak: StreamPeak,
}

/// Slots of a [`Merge`]'s cache of decoded stream labels.
const LABEL_CACHE: usize = 1024;

/// How much a [`LogStream`] held at its peak.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamPeak {
    /// Blocks opened and not yet drained, at most at once.
    pub open_blocks: usize,
    /// Bytes of decoded entries held, at most at once (estimated as the
    /// budget counts them).
    pub held_bytes: usize,
    /// Blocks read again because the budget had dropped their entries.
    pub rereads: u64,
}

impl StreamPeak {
    /// The peak over two slices read one after the other: the larger
    /// holdings, the rereads of both.
    fn and(self, o: StreamPeak) -> StreamPeak {
        StreamPeak {
            open_blocks: self.open_blocks.max(o.open_blocks),
            held_bytes: self.held_bytes.max(o.held_bytes),
            rereads: self.rereads + o.rereads,
        }
    }
}

impl Merge {
    /// The merge over `q`'s plan. With `known_bad` (blocks already found
    /// damaged, by segment id and offset, and reported), they are left
    /// out; without, the checksum of every block is checked first (those
    /// that fail land in the stats' `partial` list and are left out).
    fn new(
        mut q: Query,
        budget: usize,
        wave: usize,
        known_bad: Option<&HashMap<(u64, u64), ReadProblem>>,
    ) -> Merge {
        let mut found = HashMap::new();
        let bad = match known_bad {
            Some(bad) => bad,
            None => {
                let mut partial = std::mem::take(&mut q.stats.partial);
                check_plan(&q.plan, None, &mut found, &mut partial);
                q.stats.partial = partial;
                &found
            }
        };
        if !bad.is_empty() {
            q.plan
                .retain(|g, segment| !bad.contains_key(&(segment, g.block.offset)));
        }
        let stats = std::mem::take(&mut q.stats);
        Merge {
            q: Arc::new(q),
            stats,
            budget,
            wave: wave.max(1),
            added: 0,
            next_task: 0,
            pending: None,
            slots: Vec::new(),
            free: Vec::new(),
            heap: BinaryHeap::new(),
            held: 0,
            emitted: 0,
            reread: ScanCounters::default(),
            labels: Vec::new(),
            peak: StreamPeak::default(),
        }
    }

    /// The statistics of the slice (call after its last entry).
    fn finish(mut self) -> QueryStats {
        // A wave still read ahead (the caller stopped early) is left to
        // finish on the pool; its blocks count as read.
        self.pending = None;
        let skipped = self.q.tasks() - self.next_task;
        let stats = std::mem::take(&mut self.stats);
        self.q.finish_stats(stats, self.emitted, skipped)
    }

    /// What blocks read for the first time may fill of the budget.
    fn fill(&self) -> usize {
        self.budget - self.budget / 3
    }

    /// What each scan of a wave may hold: its part of half of what the
    /// fill level leaves, so a wave read ahead holds at most that half.
    fn share(&self) -> usize {
        self.fill().saturating_sub(self.held) / (2 * self.wave)
    }

    /// Opens the next `wave` blocks (scanned in parallel: those read ahead,
    /// else now), and starts reading the wave after them on the thread
    /// pool, so that decompression goes on while the caller prints.
    fn open_wave(&mut self) {
        let n = self.q.tasks();
        let results = match self.pending.take() {
            Some((end, rx)) => {
                self.added = end;
                rx.recv().expect("a wave read ahead panicked")
            }
            None => {
                let end = (self.added + self.wave).min(n);
                let r = self.q.scan_wave(self.added, end, self.share());
                (self.added, self.next_task) = (end, end);
                r
            }
        };
        for (task, r) in results {
            match r {
                Ok(s) => self.add(task, s),
                Err(e) => self.stats.partial.push(ReadProblem::from(&e)),
            }
        }
        if self.next_task < n {
            let (from, to) = (self.next_task, (self.next_task + self.wave).min(n));
            let (tx, rx) = mpsc::channel();
            let q = Arc::clone(&self.q);
            let share = self.share();
            rayon::spawn(move || {
                // The receiver is gone when the stream was dropped.
                let _ = tx.send(q.scan_wave(from, to, share));
            });
            self.pending = Some((to, rx));
            self.next_task = to;
        }
    }

    /// Takes a block's scanned entries into the merge, dropping what does
    /// not fit below the fill level (the block is read again from there).
    fn add(&mut self, task: usize, s: Scanned) {
        let fill = self.fill();
        let mut cands: VecDeque<Cand> = VecDeque::with_capacity(s.cands.len());
        let mut rest = s.rest;
        let mut it = s.cands.into_iter();
        for c in it.by_ref() {
            let cost = c.cost();
            if self.held + cost > fill {
                rest = Some((c.walk, c.key));
                break;
            }
            self.held += cost;
            cands.push_back(c);
        }
        drop(it);
        cands.shrink_to_fit();
        let slot = Slot {
            task,
            cands,
            rest,
            counted: s.scanned_to,
        };
        let Some(head) = slot.head() else { return };
        let at = match self.free.pop() {
            Some(at) => {
                self.slots[at] = Some(slot);
                at
            }
            None => {
                self.slots.push(Some(slot));
                self.slots.len() - 1
            }
        };
        self.heap.push(Reverse((head, at)));
        self.peak.open_blocks = self.peak.open_blocks.max(self.heap.len());
        self.peak.held_bytes = self.peak.held_bytes.max(self.held);
    }

    /// What a block read again may hold: what the fill level leaves, or a
    /// fair share of the budget's last third over the blocks open (within
    /// the budget).
    fn reread_share(&self) -> usize {
        let open = self.heap.len() + 1;
        let fair = (self.budget / 3) / open;
        let room = self.budget.saturating_sub(self.held);
        self.fill().saturating_sub(self.held).max(fair.min(room))
    }

    /// The entry of `c`, its labels decoded now when the scan left them out.
    fn entry(&mut self, c: Cand) -> LogEntry {
        let (q, cache) = (&self.q, &mut self.labels);
        c.entry(|s| {
            if cache.is_empty() {
                cache.resize(LABEL_CACHE, None);
            }
            match &mut cache[s as usize % LABEL_CACHE] {
                Some((k, l)) if *k == s => l.clone(),
                slot => {
                    let l = Arc::new(q.plan.labels(s));
                    *slot = Some((s, l.clone()));
                    l
                }
            }
        })
    }
}

impl Iterator for Merge {
    type Item = LogEntry;

    fn next(&mut self) -> Option<LogEntry> {
        loop {
            // Open every block that may hold an entry before the top one.
            while self.added < self.q.tasks()
                && self
                    .heap
                    .peek()
                    .is_none_or(|Reverse((k, _))| self.q.start(self.added) <= k.ts)
            {
                self.open_wave();
            }
            let Reverse((key, at)) = self.heap.pop()?;
            let mut slot = self.slots[at].take().expect("a heap entry has its slot");
            if slot.cands.is_empty() {
                // Its entries were dropped for the budget: read it again.
                let (from, _) = slot.rest.expect("a slot in the heap has a next entry");
                let budget = self.reread_share();
                match self
                    .q
                    .scan(slot.task, from, slot.counted, budget, &self.reread)
                {
                    Ok(s) => {
                        slot.counted = slot.counted.max(s.scanned_to);
                        self.peak.rereads += 1;
                        self.held += s.cands.iter().map(Cand::cost).sum::<usize>();
                        self.peak.held_bytes = self.peak.held_bytes.max(self.held);
                        slot.cands = s.cands.into();
                        slot.rest = s.rest;
                    }
                    Err(e) => {
                        self.stats.partial.push(ReadProblem::from(&e));
                        self.free.push(at);
                        continue;
                    }
                }
            }
            let Some(c) = slot.cands.pop_front() else {
                self.free.push(at);
                continue;
            };
            debug_assert_eq!(c.key, key, "a block read again gives the same entries");
            self.held -= c.cost().min(self.held);
            match slot.head() {
                Some(head) => {
                    self.slots[at] = Some(slot);
                    self.heap.push(Reverse((head, at)));
                }
                None => self.free.push(at),
            }
            self.emitted += 1;
            return Some(self.entry(c));
        }
    }
}

/// Bytes of plan (runs, blocks, encoded labels: [`BlockPlan`]) a
/// [`LogStream`] holds at once: past this, its range is read in time
/// slices, each planned when the merge reaches it and holding about this
/// much (the runs overlapping the slice). 64 MiB: a million one-run streams
/// of three labels take about 60 MB.
pub const STREAM_PLAN_BYTES: usize = 64 << 20;

/// Time bins a [`LogStream`]'s first pass counts the plan in, to cut its
/// range into slices.
const SLICE_BINS: usize = 4096;

/// An unlimited log query's entries in output order, read as they are
/// handed out: a k-way merge over the blocks in time order ([`Merge`]) that
/// decompresses a block only when the merge reaches it, so what it holds
/// of entries is bounded by [`STREAM_BUDGET`] whatever the size of the
/// result.
///
/// The plan is bounded too. The first pass walks the plan a batch of whole
/// streams at a time ([`plan::PlanCursor`]) into a [`BlockPlan`] (runs
/// grouped by stored block, labels encoded) and keeps it while it holds at
/// most [`STREAM_PLAN_BYTES`]: then one merge reads it all. A larger plan
/// is not kept: the pass counts what its runs cost per time bin and checks
/// every block's checksum, and the range is cut into slices holding about
/// [`STREAM_PLAN_BYTES`] of plan each, planned and merged one after another
/// in the query's direction. Slices are disjoint in time and each orders
/// its equal timestamps by labels, segment, position, as the whole plan
/// does, so the entries are the same in the same order; a block spanning
/// two slices is read in each (its lines count once: each slice counts only
/// its own).
///
/// Every block's checksum is checked before the first entry is handed out,
/// so a damaged block fails the query (or, with partial answers allowed, is
/// left out) before anything was printed, as with a limited query; only a
/// block that passes its checksum and still cannot be decoded is found on
/// the way, and lands in the stats' `partial` list.
pub struct LogStream {
    /// The slice being read (the whole range when the plan fit); `None`
    /// between slices, so that one slice's plan is held at a time.
    cur: Option<Merge>,
    /// What the next slices need, when the range is sliced.
    sliced: Option<Sliced>,
    /// What the slices already read held at their peak.
    peak: StreamPeak,
}

/// The slices of a [`LogStream`] still to read, and what planning each
/// needs.
struct Sliced {
    snap: Snapshot,
    expr: LogExpr,
    /// The expression's stages, compiled once for every slice.
    stages: Compiled,
    p: LogParams,
    budget: usize,
    wave: usize,
    /// Time slices not yet read, in output order.
    slices: VecDeque<TimeRange>,
    /// Damaged blocks found by the first pass (reported there), by segment
    /// id and offset.
    bad: HashMap<(u64, u64), ReadProblem>,
    /// The whole query's statistics: the first pass's (streams, chunks,
    /// segments, warnings, what could not be read) and the finished slices'
    /// scans.
    stats: QueryStats,
    t0: Instant,
}

impl LogStream {
    /// Plans the query and checks the checksum of every block it will read
    /// (those that fail are in [`LogStream::stats`]' `partial` list and left
    /// out). The query's `limit` is ignored: the caller stops reading.
    pub fn open(snap: &Snapshot, expr: &LogExpr, p: &LogParams) -> Result<LogStream, QueryError> {
        Self::with_budget(
            snap,
            expr,
            p,
            STREAM_BUDGET,
            // Each wave ends in a join: on 2 shared cores, a thread the OS
            // descheduled holds the whole wave up, so fewer, larger waves
            // (matching entries only are kept; decompressed blocks are
            // per-thread buffers, so a wave costs little memory).
            (rayon::current_num_threads() * 16).max(32),
        )
    }

    /// [`LogStream::open`] with another memory budget (bytes of decoded
    /// entries) and number of blocks opened at once.
    pub fn with_budget(
        snap: &Snapshot,
        expr: &LogExpr,
        p: &LogParams,
        budget: usize,
        wave: usize,
    ) -> Result<LogStream, QueryError> {
        Self::with_plan_budget(snap, expr, p, budget, wave, STREAM_PLAN_BYTES)
    }

    /// [`LogStream::with_budget`] holding at most about `plan_bytes` of plan
    /// at a time.
    pub fn with_plan_budget(
        snap: &Snapshot,
        expr: &LogExpr,
        p: &LogParams,
        budget: usize,
        wave: usize,
        plan_bytes: usize,
    ) -> Result<LogStream, QueryError> {
        let p = LogParams { limit: 0, ..*p };
        let dir = p.direction;
        let mut q = Query::prepare(expr, &p, true)?;
        let t0 = q.t0;
        let mut planner = plan::Planner::new(snap);
        // The bins span the entries there are, not an open-ended range.
        let mut span = p.range;
        if span.start == i64::MIN || span.end == i64::MAX {
            if let Some(b) = planner.time_bounds(&expr.matchers)? {
                span = TimeRange::new(span.start.max(b.start), span.end.min(b.end));
            }
        }
        let mut bins = Bins::new(span);
        let mut cursor = planner.stream(&expr.matchers, p.range)?;
        let mut kept = Some(BlockPlan::new(0));
        let mut verified: HashSet<(u64, u64)> = HashSet::new();
        let mut bad: HashMap<(u64, u64), ReadProblem> = HashMap::new();
        let mut tally = plan::PlanTally::default();
        loop {
            let chunks = cursor.next_streams(plan::PLAN_BATCH_BLOCKS)?;
            if chunks.is_empty() {
                break;
            }
            tally.add(&chunks);
            bins.add_chunks(&chunks);
            let batch = match kept.as_mut() {
                Some(k) => {
                    k.add(&chunks)?;
                    if k.bytes() <= plan_bytes {
                        continue;
                    }
                    // Too large to keep: check what was kept, and from now
                    // on each batch as it comes.
                    kept.take().expect("matched above")
                }
                None => {
                    let mut b = BlockPlan::new(0);
                    b.add(&chunks)?;
                    b
                }
            };
            check_plan(&batch, Some(&mut verified), &mut bad, &mut q.stats.partial);
        }
        drop(cursor);
        drop(verified);
        q.absorb_plan(&tally, &planner);
        q.stats.plan_time = t0.elapsed();
        let (budget, wave) = (budget, wave.max(1));
        if let Some(mut plan) = kept {
            plan.finish(dir);
            q.plan = plan;
            return Ok(LogStream {
                cur: Some(Merge::new(q, budget, wave, None)),
                sliced: None,
                peak: StreamPeak::default(),
            });
        }
        let mut slices = bins.slices(plan_bytes as u64, p.range);
        if dir == Direction::Backward {
            slices.make_contiguous().reverse();
        }
        let mut sliced = Sliced {
            snap: snap.clone(),
            expr: expr.clone(),
            stages: q.stages(),
            p,
            budget,
            wave,
            slices,
            bad,
            stats: std::mem::take(&mut q.stats),
            t0,
        };
        let first = sliced
            .slices
            .pop_front()
            .expect("a plan with blocks has a slice");
        let cur = Some(sliced.open(first)?);
        Ok(LogStream {
            cur,
            sliced: Some(sliced),
            peak: StreamPeak::default(),
        })
    }

    /// Statistics so far: warnings and what could not be read are complete
    /// once [`LogStream::open`] returned, except for blocks that pass their
    /// checksum and fail to decode.
    pub fn stats(&self) -> &QueryStats {
        match (&self.sliced, &self.cur) {
            (Some(s), _) => &s.stats,
            (None, Some(m)) => &m.stats,
            (None, None) => unreachable!("only a sliced stream is ever between slices"),
        }
    }

    /// What the stream held at its peak so far (over every slice).
    pub fn peak(&self) -> StreamPeak {
        self.cur
            .as_ref()
            .map_or(self.peak, |m| self.peak.and(m.peak))
    }

    /// The statistics of the whole query (call after the last entry).
    pub fn finish(self) -> QueryStats {
        let Some(mut s) = self.sliced else {
            return self.cur.map(Merge::finish).unwrap_or_default();
        };
        if let Some(m) = self.cur {
            s.stats.add_scan(&m.finish());
        }
        s.stats.total_time = s.t0.elapsed();
        s.stats
    }
}

impl Iterator for LogStream {
    type Item = LogEntry;

    fn next(&mut self) -> Option<LogEntry> {
        loop {
            if let Some(e) = self.cur.as_mut().and_then(Iterator::next) {
                return Some(e);
            }
            let s = self.sliced.as_mut()?;
            let range = s.slices.pop_front()?;
            // The slice read is finished before the next is planned: one
            // slice's plan at a time.
            if let Some(done) = self.cur.take() {
                self.peak = self.peak.and(done.peak);
                s.stats.add_scan(&done.finish());
            }
            match s.open(range) {
                Ok(next) => self.cur = Some(next),
                // The slice cannot be planned (an index or segment became
                // unreadable since the first pass): its entries are missing.
                Err(e) => s.stats.partial.push(ReadProblem {
                    path: std::path::PathBuf::new(),
                    offset: None,
                    message: format!("entries from {range} could not be read: {e}"),
                }),
            }
        }
    }
}

impl Sliced {
    /// The merge over one slice: planned now, through the plan cursor a
    /// batch at a time into its [`BlockPlan`]; the blocks the first pass
    /// found damaged left out (they are reported once, by the first pass),
    /// as are the plan's warnings and problems (found there too).
    fn open(&self, range: TimeRange) -> Result<Merge, QueryError> {
        let p = LogParams { range, ..self.p };
        let mut q = Query::compiled(self.stages.clone(), &p, true, Instant::now());
        let mut planner = plan::Planner::new(&self.snap);
        let mut cursor = planner.stream(&self.expr.matchers, range)?;
        let mut plan = BlockPlan::new(0);
        loop {
            let chunks = cursor.next_streams(plan::PLAN_BATCH_BLOCKS)?;
            if chunks.is_empty() {
                break;
            }
            plan.add(&chunks)?;
        }
        drop(cursor);
        plan.finish(p.direction);
        q.plan = plan;
        q.stats = QueryStats {
            shards: 0,
            plan_time: q.t0.elapsed(),
            ..Default::default()
        };
        Ok(Merge::new(q, self.budget, self.wave, Some(&self.bad)))
    }
}

/// Checks the checksum of every block of `plan` (each stored block once:
/// a packed block holds the runs of thousands of streams), skipping those
/// already in `verified` and adding the others to it; damaged ones go in
/// `bad`, and their problems in `partial`, once each, in the plan's order.
fn check_plan(
    plan: &BlockPlan,
    mut verified: Option<&mut HashSet<(u64, u64)>>,
    bad: &mut HashMap<(u64, u64), ReadProblem>,
    partial: &mut Vec<ReadProblem>,
) {
    let todo: Vec<&Group> = plan
        .groups()
        .iter()
        .filter(|g| {
            verified
                .as_mut()
                .is_none_or(|v| v.insert((plan.segment(g).0, g.block.offset)))
        })
        .collect();
    let found: Vec<((u64, u64), ReadProblem)> = todo
        .into_par_iter()
        .filter_map(|g| {
            let (id, segment) = plan.segment(g);
            let e = segment.verify_block(&g.block).err()?;
            Some(((id, g.block.offset), ReadProblem::from(&e)))
        })
        .collect();
    for (key, problem) in found {
        partial.push(problem.clone());
        bad.insert(key, problem);
    }
}

/// What the plan's runs cost per time bin over a span (bytes of
/// [`BlockPlan`], estimated): how much starts in each bin and how much
/// overlaps it, to cut the span into slices of a bounded plan.
struct Bins {
    span: TimeRange,
    starts: Vec<u64>,
    /// Difference array of the overlaps: `+cost` at a run's first bin,
    /// `-cost` after its last.
    diff: Vec<i64>,
}

impl Bins {
    fn new(span: TimeRange) -> Bins {
        Bins {
            span,
            starts: vec![0; SLICE_BINS],
            diff: vec![0; SLICE_BINS + 1],
        }
    }

    fn width(&self) -> i128 {
        (i128::from(self.span.end) - i128::from(self.span.start)).max(1)
    }

    /// The bin of `t` (clamped to the span).
    fn bin(&self, t: i64) -> usize {
        let off = (i128::from(t) - i128::from(self.span.start)).max(0);
        ((off * SLICE_BINS as i128 / self.width()) as usize).min(SLICE_BINS - 1)
    }

    /// Where bin `i` starts (`SLICE_BINS`: the span's end).
    fn edge(&self, i: usize) -> i64 {
        (i128::from(self.span.start) + self.width() * i as i128 / SLICE_BINS as i128) as i64
    }

    /// Counts a run of `b`'s times costing `cost`.
    fn add(&mut self, b: &crate::chunk::BlockMeta, cost: u64) {
        let (first, last) = (self.bin(b.min_t), self.bin(b.max_t));
        self.starts[first] += cost;
        self.diff[first] += cost as i64;
        self.diff[last + 1] -= cost as i64;
    }

    /// Counts the runs of `chunks`, each at what it costs a [`BlockPlan`]:
    /// the run, its share of its block's group, its share of its stream's
    /// labels.
    fn add_chunks(&mut self, chunks: &[PlannedChunk]) {
        for c in chunks {
            let labels = blockplan::label_bytes(&c.labels) / c.blocks.len().max(1);
            for b in &c.blocks {
                let group = if b.is_packed() {
                    blockplan::GROUP_BYTES * b.entries as usize / b.frame_entries.max(1) as usize
                } else {
                    blockplan::GROUP_BYTES
                };
                self.add(b, (blockplan::RUN_BYTES + group + labels) as u64);
            }
        }
    }

    /// Consecutive slices of whole bins, each overlapped by at most about
    /// `bytes` of runs, or twice what overlaps its first bin when that is
    /// more, covering `range` (the first starts at its start, the last ends
    /// at its end), in ascending time. A slice can hold no less than what
    /// overlaps its first bin, so when long runs keep more than `bytes`
    /// open, cutting there would only plan and read those runs again slice
    /// after slice (a million streams, each one run spanning the day, were
    /// cut into thousands of one-bin slices that each read every run).
    fn slices(&self, bytes: u64, range: TimeRange) -> VecDeque<TimeRange> {
        let mut overlap = Vec::with_capacity(SLICE_BINS);
        let mut open = 0i64;
        for d in &self.diff[..SLICE_BINS] {
            open += d;
            overlap.push(open.max(0) as u64);
        }
        let mut cuts = Vec::new();
        let mut a = 0;
        while a < SLICE_BINS {
            let mut held = overlap[a];
            let cap = bytes.max(2 * held);
            let mut b = a + 1;
            while b < SLICE_BINS && held + self.starts[b] <= cap {
                held += self.starts[b];
                b += 1;
            }
            cuts.push(b);
            a = b;
        }
        let mut out = VecDeque::with_capacity(cuts.len());
        let mut start = range.start;
        for (k, &b) in cuts.iter().enumerate() {
            let end = if k + 1 == cuts.len() {
                range.end
            } else {
                self.edge(b).clamp(start, range.end)
            };
            if end > start || k + 1 == cuts.len() {
                out.push_back(TimeRange::new(start, end));
            }
            start = end;
        }
        out
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::block::compress;
    use crate::logql::Expr;
    use crate::store::Store;
    use crate::time::NANOS_PER_DAY;
    use proptest::prelude::*;

    /// Per segment, per stream (index into `STREAMS`), its blocks, each a
    /// list of timestamps (offsets from the day's start, sorted overall).
    type Layout = Vec<Vec<(usize, Vec<Vec<i64>>)>>;

    const STREAMS: &[&str] = &["a", "b", "c", "d"];
    const DAY: i64 = NANOS_PER_DAY;

    fn stream_labels(s: usize) -> Labels {
        Labels::from_pairs([("app", STREAMS[s]), ("job", "j")])
    }

    /// The line of the `k`th entry of stream `s` in segment `g`; every
    /// third one holds "x", every line ends with a letter.
    fn line(s: usize, g: usize, k: usize) -> String {
        let x = if k.is_multiple_of(3) { " x" } else { "" };
        format!("s{s} g{g} n{k}{x} {}", ["p", "q", "r"][k % 3])
    }

    /// A store whose tenant `t` holds the segments `write` publishes, with
    /// its indexes built.
    fn store_with(
        dir: &std::path::Path,
        write: impl FnOnce(&mut crate::store::TenantWriter<'_>),
    ) -> Snapshot {
        let store = Store::new(dir);
        let lock = store.lock_writer(None, || {}).unwrap();
        let mut tx = store.tenant("t").unwrap().begin_write(&lock).unwrap();
        write(&mut tx);
        crate::store::rebuild_all(&mut tx).unwrap();
        tx.commit().unwrap();
        store.tenant("t").unwrap().snapshot().unwrap()
    }

    /// Sorts entries `(ts, stream, segment, position)` into output order:
    /// time, then stream labels (in stream order), segment, position.
    fn sort_as_output(all: &mut [(i64, usize, usize, usize)], forward: bool) {
        all.sort_by(|a, b| {
            let t = if forward {
                a.0.cmp(&b.0)
            } else {
                b.0.cmp(&a.0)
            };
            t.then(a.1.cmp(&b.1))
                .then(a.2.cmp(&b.2))
                .then(a.3.cmp(&b.3))
        });
    }

    fn store_of(dir: &std::path::Path, layout: &Layout) -> Snapshot {
        store_with(dir, |tx| {
            for (g, seg) in layout.iter().enumerate() {
                let mut p = tx.create_segment("1970-01-02").unwrap();
                for (s, blocks) in seg {
                    let labels = stream_labels(*s);
                    let mut k = 0;
                    for b in blocks {
                        let lines: Vec<(i64, String)> = b
                            .iter()
                            .map(|&t| {
                                k += 1;
                                (DAY + t, line(*s, g, k - 1))
                            })
                            .collect();
                        let enc =
                            compress(lines.iter().map(|(t, l)| (*t, l.as_bytes(), &[][..])), 1)
                                .unwrap();
                        p.writer
                            .add_block(&labels, labels.fingerprint(), &enc.bytes, enc.meta)
                            .unwrap();
                    }
                }
                tx.publish(p).unwrap();
            }
        })
    }

    fn log_expr(q: &str) -> LogExpr {
        match crate::logql::parse_expr(q).unwrap() {
            Expr::Log(l) => l,
            Expr::Sample(_) => panic!("{q} is a metric query"),
        }
    }

    fn arb_layout() -> impl Strategy<Value = Layout> {
        let block = proptest::collection::vec(0i64..24, 1..6);
        let stream =
            (0..STREAMS.len(), proptest::collection::vec(block, 1..5)).prop_map(|(s, blocks)| {
                // A stream's blocks in one segment follow each other in time.
                let mut all: Vec<i64> = blocks.iter().flatten().copied().collect();
                all.sort_unstable();
                let mut out = Vec::new();
                for b in blocks {
                    let rest = all.split_off(b.len());
                    out.push(std::mem::replace(&mut all, rest));
                }
                (s, out)
            });
        let segment = proptest::collection::vec(stream, 1..4).prop_map(|mut v| {
            v.sort_by_key(|s| s.0);
            v.dedup_by_key(|s| s.0);
            v
        });
        proptest::collection::vec(segment, 1..4)
    }

    fn entries_and_stats(mut s: LogStream) -> (Vec<(i64, Labels, String)>, QueryStats) {
        let got = entries_of(&mut s);
        (got, s.finish())
    }

    fn entries(mut s: LogStream) -> Vec<(i64, Labels, String)> {
        entries_of(&mut s)
    }

    fn entries_of(s: &mut LogStream) -> Vec<(i64, Labels, String)> {
        s.by_ref()
            .map(|e| {
                (
                    e.ts,
                    (*e.labels).clone(),
                    String::from_utf8(e.line).unwrap(),
                )
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// The streaming merge returns exactly the entries, in exactly the
        /// order, of the non-streaming path and of an order computed here
        /// from the layout: equal timestamps by stream labels, then segment,
        /// then position — whatever the budget and the blocks opened at once.
        #[test]
        fn the_merge_returns_what_the_full_sort_returns(
            layout in arb_layout(),
            forward in any::<bool>(),
            from in 0i64..12,
            len in 1i64..30,
            budget in prop_oneof![Just(0usize), Just(1), 100usize..2000, Just(STREAM_BUDGET)],
            wave in 1usize..5,
            pipeline in 0usize..4,
            batch in 1usize..6,
            plan_bytes in prop_oneof![Just(1usize), 100usize..3000, Just(STREAM_PLAN_BYTES)],
        ) {
            let dir = tempfile::tempdir().unwrap();
            let snap = store_of(dir.path(), &layout);
            let direction = if forward { Direction::Forward } else { Direction::Backward };
            let range = TimeRange::new(DAY + from, DAY + from + len);
            let p = LogParams { range, limit: 0, direction };
            let q = [
                r#"{job="j"}"#,
                r#"{job="j"} |= "x""#,
                r#"{job="j", app!="b"} | regexp "(?P<w>[a-z])$""#,
                r#"{job="j"} | line_format "{{.app}}: {{__line__}}""#,
            ][pipeline];
            let expr = log_expr(q);
            let s = LogStream::with_plan_budget(&snap, &expr, &p, budget, wave, plan_bytes)
                .unwrap();
            let sliced = s.sliced.as_ref().map_or(0, |s| s.slices.len() + 1);
            let (got, stats) = entries_and_stats(s);
            let all = LogParams { limit: usize::MAX, ..p };
            let full = run_limited(&snap, &expr, &all, usize::MAX).unwrap();
            // The limited path a stream at a time, at every limit, is the
            // stream's first entries.
            for limit in [1, 2, 5, usize::MAX] {
                let lp = LogParams { limit, ..p };
                let batched = run_limited(&snap, &expr, &lp, batch).unwrap();
                let want: Vec<_> = full.entries.iter().take(limit).cloned().collect();
                prop_assert_eq!(&batched.entries, &want, "limit {}", limit);
                prop_assert_eq!(batched.stats.streams, full.stats.streams);
                prop_assert_eq!(batched.stats.chunks, full.stats.chunks);
                prop_assert_eq!(batched.stats.segments, full.stats.segments);
            }
            let want: Vec<(i64, Labels, String)> = full
                .entries
                .into_iter()
                .map(|e| (e.ts, (*e.labels).clone(), String::from_utf8(e.line).unwrap()))
                .collect();
            prop_assert_eq!(&got, &want);
            if pipeline == 0 {
                // The order from the layout itself.
                let mut all = Vec::new();
                for (g, seg) in layout.iter().enumerate() {
                    for (s, blocks) in seg {
                        for (k, t) in blocks.iter().flatten().enumerate() {
                            if range.contains(DAY + t) {
                                all.push((DAY + t, *s, g, k));
                            }
                        }
                    }
                }
                sort_as_output(&mut all, forward);
                let order: Vec<(i64, Labels, String)> = all
                    .into_iter()
                    .map(|(t, s, g, k)| (t, stream_labels(s), line(s, g, k)))
                    .collect();
                prop_assert_eq!(&got, &order);
            }
            // Sliced or not, the stream reads the same lines of the same plan.
            prop_assert!(plan_bytes < STREAM_PLAN_BYTES || sliced == 0);
            prop_assert_eq!(stats.results, got.len() as u64);
            prop_assert_eq!(stats.lines_scanned, full.stats.lines_scanned, "{} slices", sliced);
            prop_assert_eq!(stats.lines_kept, full.stats.lines_kept);
            prop_assert_eq!(stats.streams, full.stats.streams);
            prop_assert_eq!(stats.chunks, full.stats.chunks);
            prop_assert_eq!(stats.segments, full.stats.segments);
            // The collected form of `run` is the stream.
            let run_all = run(&snap, &expr, &p).unwrap();
            prop_assert_eq!(run_all.entries.len(), got.len());
            prop_assert_eq!(run_all.stats.results, got.len() as u64);
        }
    }

    /// However many blocks a query reads, the merge holds open only those
    /// overlapping the current entry plus one wave read ahead — counted in
    /// blocks, not measured in time.
    #[test]
    fn blocks_in_flight_are_bounded() {
        // 6 streams of 60 blocks each, 10 entries a block, the streams'
        // blocks staggered so that at most 6 overlap at any time.
        let layout: Layout = vec![(0..STREAMS.len())
            .map(|s| {
                let blocks = (0..60)
                    .map(|b| (0..10).map(|i| b * 1000 + s as i64 * 37 + i * 90).collect())
                    .collect();
                (s, blocks)
            })
            .collect()];
        let dir = tempfile::tempdir().unwrap();
        let snap = store_of(dir.path(), &layout);
        let blocks = STREAMS.len() * 60;
        let overlap = STREAMS.len();
        for (direction, wave) in [
            (Direction::Forward, 4),
            (Direction::Backward, 1),
            (Direction::Forward, 9),
        ] {
            let p = LogParams {
                range: TimeRange::ALL,
                limit: 0,
                direction,
            };
            let mut s =
                LogStream::with_budget(&snap, &log_expr(r#"{job="j"}"#), &p, STREAM_BUDGET, wave)
                    .unwrap();
            let n = s.by_ref().count();
            assert_eq!(n, blocks * 10);
            let peak = s.peak();
            assert!(
                peak.open_blocks <= overlap + wave,
                "{direction:?} wave {wave}: {peak:?} with {blocks} blocks"
            );
            assert_eq!(peak.rereads, 0);
            let stats = s.finish();
            assert_eq!(stats.blocks, blocks as u64);
            assert_eq!(stats.lines_kept, (blocks * 10) as u64);
        }
    }

    /// Runs that start one after the other and all last to the end of the
    /// span keep more blocks open than the budget: slices then grow with
    /// what is open (a handful of slices, not one per bin, each of which
    /// would plan and read every open run again), and they still cover the
    /// range end to end.
    #[test]
    fn long_runs_do_not_cut_the_span_into_one_slice_per_bin() {
        let span = TimeRange::new(0, 1_000_000);
        let run = |min_t: i64, max_t: i64| crate::chunk::BlockMeta {
            offset: min_t as u64,
            len: 1,
            raw_len: 1,
            frame_entries: 1,
            first: 0,
            entries: 1,
            line_bytes: 1,
            min_t,
            max_t,
            checksum: 0,
        };
        let mut bins = Bins::new(span);
        for i in 0..1000i64 {
            bins.add(&run(i * 500, 999_999), 1);
        }
        let slices = bins.slices(100, span);
        assert!(slices.len() <= 6, "{} slices", slices.len());
        assert!(slices.len() >= 3, "{slices:?}");
        assert_eq!(slices.front().unwrap().start, span.start);
        assert_eq!(slices.back().unwrap().end, span.end);
        for w in slices.iter().collect::<Vec<_>>().windows(2) {
            assert_eq!(w[0].end, w[1].start);
        }
        // Blocks local in time are still cut by the budget alone.
        let mut local = Bins::new(span);
        for i in 0..1000i64 {
            local.add(&run(i * 1000, i * 1000 + 10), 1);
        }
        assert!(local.slices(100, span).len() >= 10);
    }

    /// A plan larger than the stream's plan budget is read in time slices,
    /// each planned when reached: the same entries in the same order, the
    /// same lines counted, each slice's plan within about the budget.
    #[test]
    fn a_large_plan_is_read_in_time_slices() {
        let layout: Layout = vec![
            (0..STREAMS.len())
                .map(|s| {
                    let blocks = (0..30)
                        .map(|b| (0..4).map(|i| b * 400 + s as i64 * 7 + i * 90).collect())
                        .collect();
                    (s, blocks)
                })
                .collect(),
            (0..STREAMS.len())
                .map(|s| (s, vec![(0..50).map(|i| i * 240 + s as i64).collect()]))
                .collect(),
        ];
        let dir = tempfile::tempdir().unwrap();
        let snap = store_of(dir.path(), &layout);
        for q in [r#"{job="j"}"#, r#"{job="j"} |= "x""#] {
            let expr = log_expr(q);
            for direction in [Direction::Forward, Direction::Backward] {
                for range in [TimeRange::ALL, TimeRange::new(DAY + 1000, DAY + 9000)] {
                    let p = LogParams {
                        range,
                        limit: 0,
                        direction,
                    };
                    let whole = LogStream::open(&snap, &expr, &p).unwrap();
                    assert!(whole.sliced.is_none());
                    let (want, want_stats) = entries_and_stats(whole);
                    let s = LogStream::with_plan_budget(&snap, &expr, &p, STREAM_BUDGET, 3, 3000)
                        .unwrap();
                    let slices = s.sliced.as_ref().expect("sliced").slices.len() + 1;
                    assert!(slices >= 5, "{slices} slices");
                    let (got, stats) = entries_and_stats(s);
                    assert_eq!(got, want, "{q} {direction:?} {range}");
                    assert!(!got.is_empty());
                    assert_eq!(stats.lines_scanned, want_stats.lines_scanned);
                    assert_eq!(stats.lines_kept, want_stats.lines_kept);
                    assert_eq!(stats.results, want_stats.results);
                    assert_eq!(stats.streams, want_stats.streams);
                    assert_eq!(stats.chunks, want_stats.chunks);
                    assert!(stats.blocks >= want_stats.blocks);
                }
            }
        }
    }

    /// A caller that stops reading early (a closed pipe) gets its
    /// statistics while a wave may still be read ahead, and dropping the
    /// stream with one in flight is fine.
    #[test]
    fn stopping_early_leaves_the_wave_read_ahead() {
        let layout: Layout = vec![(0..STREAMS.len())
            .map(|s| {
                let blocks = (0..40)
                    .map(|b| (0..5).map(|i| b * 100 + i * 10 + s as i64).collect())
                    .collect();
                (s, blocks)
            })
            .collect()];
        let dir = tempfile::tempdir().unwrap();
        let snap = store_of(dir.path(), &layout);
        let p = LogParams {
            range: TimeRange::ALL,
            limit: 0,
            direction: Direction::Forward,
        };
        let expr = log_expr(r#"{job="j"}"#);
        let mut s = LogStream::with_budget(&snap, &expr, &p, STREAM_BUDGET, 2).unwrap();
        let first: Vec<i64> = s.by_ref().take(3).map(|e| e.ts).collect();
        assert_eq!(first, vec![DAY, DAY + 1, DAY + 2]);
        let stats = s.finish();
        assert!(stats.blocks_skipped > 0, "{stats:?}");
        let mut s = LogStream::with_budget(&snap, &expr, &p, STREAM_BUDGET, 2).unwrap();
        assert!(s.next().is_some());
        drop(s);
    }

    /// With a budget smaller than a block, entries are dropped and blocks
    /// read again, the memory held stays within the budget (plus the one
    /// entry a read always keeps), and the statistics count every line
    /// once, as the limited path does.
    #[test]
    fn the_budget_bounds_what_is_held() {
        let layout: Layout = vec![(0..STREAMS.len())
            .map(|s| (s, vec![(0..200).map(|i| i * 3 + s as i64).collect()]))
            .collect()];
        let dir = tempfile::tempdir().unwrap();
        let snap = store_of(dir.path(), &layout);
        let expr = log_expr(r#"{job="j"} |= "x""#);
        for direction in [Direction::Forward, Direction::Backward] {
            let p = LogParams {
                range: TimeRange::ALL,
                limit: 0,
                direction,
            };
            let all = entries(LogStream::open(&snap, &expr, &p).unwrap());
            let budget = 2000;
            let mut s = LogStream::with_budget(&snap, &expr, &p, budget, 2).unwrap();
            let got: Vec<LogEntry> = s.by_ref().collect();
            assert_eq!(got.len(), all.len());
            let peak = s.peak();
            assert!(peak.rereads > 0, "{peak:?}");
            assert!(peak.held_bytes <= budget + 200, "{peak:?}");
            let small = s.finish();
            let limited = run(
                &snap,
                &expr,
                &LogParams {
                    limit: 1_000_000,
                    ..p
                },
            )
            .unwrap();
            assert_eq!(small.lines_scanned, limited.stats.lines_scanned);
            assert_eq!(small.lines_kept, limited.stats.lines_kept);
            assert_eq!(small.lines_skipped, limited.stats.lines_skipped);
            assert_eq!(small.blocks, limited.stats.blocks);
        }
    }

    /// Streams of the packed layouts: `{app="pNN", job="j"}`, in label
    /// order by number.
    const PACKED_STREAMS: usize = 12;

    fn packed_labels(s: usize) -> Labels {
        Labels::from_pairs([("app", format!("p{s:02}")), ("job", "j".to_string())])
    }

    /// Per segment, its stored blocks in order, each the runs it packs:
    /// (stream, timestamps of the run, offsets from the day's start). A
    /// stream's runs follow one another, each in its own block.
    type Packed = Vec<Vec<Vec<(usize, Vec<i64>)>>>;

    fn arb_packed() -> impl Strategy<Value = Packed> {
        let stream = (
            0..PACKED_STREAMS,
            proptest::collection::vec(0i64..24, 1..8),
            proptest::collection::vec(any::<bool>(), 8),
        );
        let segment = (
            proptest::collection::vec(stream, 1..12),
            proptest::collection::vec(prop_oneof![3 => Just(false), 1 => Just(true)], 64),
        )
            .prop_map(|(mut streams, cuts)| {
                streams.sort_by_key(|s| s.0);
                streams.dedup_by_key(|s| s.0);
                // Each stream's entries in time order, cut into runs where
                // its bools say.
                let mut runs: Vec<(usize, Vec<i64>)> = Vec::new();
                for (s, mut times, splits) in streams {
                    times.sort_unstable();
                    let mut cur = Vec::new();
                    for (i, t) in times.into_iter().enumerate() {
                        if !cur.is_empty() && splits[i % splits.len()] {
                            runs.push((s, std::mem::take(&mut cur)));
                        }
                        cur.push(t);
                    }
                    runs.push((s, cur));
                }
                // The runs back to back in blocks: a new block where the
                // cuts say, and between two runs of one stream.
                let mut blocks: Vec<Vec<(usize, Vec<i64>)>> = Vec::new();
                for (i, run) in runs.into_iter().enumerate() {
                    let new = match blocks.last().and_then(|b| b.last()) {
                        None => true,
                        Some(prev) => prev.0 == run.0 || cuts[i % cuts.len()],
                    };
                    if new {
                        blocks.push(Vec::new());
                    }
                    blocks.last_mut().expect("pushed").push(run);
                }
                blocks
            });
        proptest::collection::vec(segment, 1..4)
    }

    /// A store of `layout`: one segment per element, each block one zstd
    /// frame holding its runs back to back (as ingest packs small streams).
    fn packed_store_of(dir: &std::path::Path, layout: &Packed) -> Snapshot {
        use crate::chunk::segment::RunMeta;
        store_with(dir, |tx| {
            for (g, seg) in layout.iter().enumerate() {
                let mut p = tx.create_segment("1970-01-02").unwrap();
                let mut k_of = [0usize; PACKED_STREAMS];
                for block in seg {
                    let mut lines: Vec<(i64, String)> = Vec::new();
                    let mut runs = Vec::new();
                    for (s, times) in block {
                        let first = lines.len();
                        for &t in times {
                            lines.push((DAY + t, line(*s, g, k_of[*s])));
                            k_of[*s] += 1;
                        }
                        let line_bytes = lines[first..].iter().map(|(_, l)| l.len() as u64).sum();
                        runs.push((
                            *s,
                            RunMeta {
                                first: first as u32,
                                entries: times.len() as u32,
                                line_bytes,
                                min_t: DAY + times[0],
                                max_t: DAY + times[times.len() - 1],
                            },
                        ));
                    }
                    let enc = compress(lines.iter().map(|(t, l)| (*t, l.as_bytes(), &[][..])), 1)
                        .unwrap();
                    let frame = p
                        .writer
                        .add_frame(&enc.bytes, enc.meta.raw_len, enc.meta.frame_entries)
                        .unwrap();
                    for (s, run) in runs {
                        let labels = packed_labels(s);
                        p.writer.add_run(&labels, labels.fingerprint(), frame, run);
                    }
                }
                tx.publish(p).unwrap();
            }
        })
    }

    /// The queries over packed layouts, and what each makes of entry `k`
    /// of stream `s` in segment `g` (its labels and line), if it keeps it:
    /// every line, some, none, every line through the literal search, a
    /// line rewritten, labels added per line (a parser).
    const PACKED_QUERIES: &[&str] = &[
        r#"{job="j"}"#,
        r#"{job="j"} |= "x""#,
        r#"{job="j"} |= "nowhere""#,
        r#"{job="j"} |= " n""#,
        r#"{job="j", app!="p03"} | line_format "{{.app}}: {{__line__}}""#,
        r#"{job="j"} | regexp "n(?P<n>[0-9]+)""#,
    ];

    fn packed_expected(q: usize, s: usize, g: usize, k: usize) -> Option<(Labels, String)> {
        let l = line(s, g, k);
        let labels = packed_labels(s);
        match q {
            0 | 3 => Some((labels, l)),
            1 => l.contains('x').then_some((labels, l)),
            2 => None,
            4 => (s != 3).then(|| (labels, format!("p{s:02}: {l}"))),
            _ => {
                let mut labels = labels;
                labels.set("n", &k.to_string());
                Some((labels, l))
            }
        }
    }

    /// Every entry of `layout` in `range` that query `q` keeps, in output
    /// order (time, then stream labels, segment, position), computed from
    /// the layout alone.
    fn packed_order(
        layout: &Packed,
        q: usize,
        range: TimeRange,
        forward: bool,
    ) -> Vec<(i64, Labels, String)> {
        let mut all = Vec::new();
        for (g, seg) in layout.iter().enumerate() {
            let mut k_of = [0usize; PACKED_STREAMS];
            for block in seg {
                for (s, times) in block {
                    for &t in times {
                        let k = k_of[*s];
                        k_of[*s] += 1;
                        if range.contains(DAY + t) {
                            all.push((DAY + t, *s, g, k));
                        }
                    }
                }
            }
        }
        sort_as_output(&mut all, forward);
        all.into_iter()
            .filter_map(|(t, s, g, k)| packed_expected(q, s, g, k).map(|(l, line)| (t, l, line)))
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Many small streams whose runs share packed blocks (several runs
        /// a block, a stream's runs in several blocks and segments, spanning
        /// one slice or many): the streamed merge over blocks grouped with
        /// their runs, whatever its budgets, and the limited path at every
        /// limit, return exactly the entries of an order computed from the
        /// layout alone, and count the same lines.
        #[test]
        fn packed_runs_answer_as_the_layout_says(
            layout in arb_packed(),
            forward in any::<bool>(),
            from in 0i64..12,
            len in 1i64..30,
            q in 0..PACKED_QUERIES.len(),
            budget in prop_oneof![Just(0usize), 100usize..3000, Just(STREAM_BUDGET)],
            wave in 1usize..5,
            plan_bytes in prop_oneof![Just(1usize), 100usize..3000, Just(STREAM_PLAN_BYTES)],
            batch in 1usize..6,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let snap = packed_store_of(dir.path(), &layout);
            let direction = if forward { Direction::Forward } else { Direction::Backward };
            let range = TimeRange::new(DAY + from, DAY + from + len);
            let p = LogParams { range, limit: 0, direction };
            let expr = log_expr(PACKED_QUERIES[q]);
            let want = packed_order(&layout, q, range, forward);
            let s = LogStream::with_plan_budget(&snap, &expr, &p, budget, wave, plan_bytes)
                .unwrap();
            let (got, stats) = entries_and_stats(s);
            prop_assert_eq!(&got, &want);
            let held = run_limited(&snap, &expr, &LogParams { limit: usize::MAX, ..p }, batch)
                .unwrap();
            let held_entries: Vec<(i64, Labels, String)> = held
                .entries
                .iter()
                .map(|e| (e.ts, (*e.labels).clone(), String::from_utf8(e.line.clone()).unwrap()))
                .collect();
            prop_assert_eq!(&held_entries, &want);
            for limit in [1, 2, 5] {
                let lp = LogParams { limit, ..p };
                let r = run_limited(&snap, &expr, &lp, batch).unwrap();
                prop_assert_eq!(r.entries.len(), want.len().min(limit));
                for (e, w) in r.entries.iter().zip(&want) {
                    prop_assert_eq!(e.ts, w.0);
                    prop_assert_eq!(&*e.labels, &w.1);
                    prop_assert_eq!(std::str::from_utf8(&e.line).unwrap(), w.2.as_str());
                }
            }
            prop_assert_eq!(stats.results, want.len() as u64);
            prop_assert_eq!(stats.lines_scanned, held.stats.lines_scanned);
            prop_assert_eq!(stats.lines_kept, held.stats.lines_kept);
            prop_assert_eq!(stats.streams, held.stats.streams);
            prop_assert_eq!(stats.chunks, held.stats.chunks);
        }
    }

    /// A day of one-run streams packed into shared blocks, every run
    /// spanning the day (the shape of a million-stream day merged into one
    /// segment): each stored block is decompressed once for all of its
    /// runs, both ways, whether the filter keeps every line, some or none;
    /// and with a budget far below the answer, blocks are read again for a
    /// fair part of their entries, never one entry at a time, within the
    /// budget.
    #[test]
    fn packed_blocks_are_read_once_for_all_their_runs() {
        // 12 streams of 6 entries over the day, 4 streams a block; each
        // stream's entries spread over the whole span.
        let layout: Packed = vec![(0..3)
            .map(|b| {
                (0..4)
                    .map(|i| {
                        let s = b * 4 + i;
                        (s, (0..6).map(|k| k * 4 + (s as i64 % 4)).collect())
                    })
                    .collect()
            })
            .collect()];
        let dir = tempfile::tempdir().unwrap();
        let snap = packed_store_of(dir.path(), &layout);
        for (q, kept) in [(0usize, 72u64), (1, 24), (2, 0), (3, 72)] {
            let expr = log_expr(PACKED_QUERIES[q]);
            for forward in [true, false] {
                let direction = if forward {
                    Direction::Forward
                } else {
                    Direction::Backward
                };
                let p = LogParams {
                    range: TimeRange::ALL,
                    limit: 0,
                    direction,
                };
                let mut s = LogStream::open(&snap, &expr, &p).unwrap();
                let got = entries_of(&mut s);
                assert_eq!(
                    got,
                    packed_order(&layout, q, TimeRange::ALL, forward),
                    "{q}"
                );
                assert_eq!(s.peak().rereads, 0);
                let stats = s.finish();
                assert_eq!(stats.blocks, 3, "query {q} {direction:?}: one read a block");
                assert_eq!(stats.lines_kept, kept);
                assert_eq!(stats.chunks, 12);
                let held = run(&snap, &expr, &LogParams { limit: 1000, ..p }).unwrap();
                assert_eq!(held.stats.blocks, 3, "query {q} {direction:?}: limited");
                // A small limit sorts only the start of each block's walk
                // (24 lines), the rest when the scan gets there.
                for limit in [1, 2, 5] {
                    let r = run(&snap, &expr, &LogParams { limit, ..p }).unwrap();
                    let r: Vec<_> = r
                        .entries
                        .into_iter()
                        .map(|e| {
                            (
                                e.ts,
                                (*e.labels).clone(),
                                String::from_utf8(e.line).unwrap(),
                            )
                        })
                        .collect();
                    assert_eq!(
                        r,
                        got[..limit.min(got.len())],
                        "query {q} {direction:?} limit {limit}"
                    );
                }
            }
        }
        // A damaged packed block is one problem, not one per run, and its
        // runs are left out of the answer, whole or sliced, both ways.
        let seg = std::fs::read_dir(dir.path().join("t/segments/1970-01-02"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "seg"))
            .unwrap();
        let mut bytes = std::fs::read(&seg).unwrap();
        bytes[20] ^= 0xff; // inside the first block (the header is 16 bytes)
        std::fs::write(&seg, bytes).unwrap();
        let snap = Store::new(dir.path())
            .tenant("t")
            .unwrap()
            .snapshot()
            .unwrap();
        let expr = log_expr(PACKED_QUERIES[0]);
        for (forward, plan_bytes) in [(true, STREAM_PLAN_BYTES), (false, 1)] {
            let direction = if forward {
                Direction::Forward
            } else {
                Direction::Backward
            };
            let p = LogParams {
                range: TimeRange::ALL,
                limit: 0,
                direction,
            };
            let s = LogStream::with_plan_budget(&snap, &expr, &p, STREAM_BUDGET, 2, plan_bytes)
                .unwrap();
            assert_eq!(s.stats().partial.len(), 1, "{:?}", s.stats().partial);
            let (got, stats) = entries_and_stats(s);
            let want: Vec<_> = packed_order(&layout, 0, TimeRange::ALL, forward)
                .into_iter()
                .filter(|e| e.1.get("app").is_some_and(|a| a >= "p04"))
                .collect();
            assert_eq!(got, want);
            assert_eq!(stats.partial.len(), 1);
        }
        let dir = tempfile::tempdir().unwrap();
        let snap = packed_store_of(dir.path(), &layout);
        // A budget of about two fifths of the answer: read again, in parts.
        let expr = log_expr(PACKED_QUERIES[0]);
        for forward in [true, false] {
            let direction = if forward {
                Direction::Forward
            } else {
                Direction::Backward
            };
            let p = LogParams {
                range: TimeRange::ALL,
                limit: 0,
                direction,
            };
            let budget = 3000;
            let mut s = LogStream::with_budget(&snap, &expr, &p, budget, 2).unwrap();
            let got = entries_of(&mut s);
            assert_eq!(got, packed_order(&layout, 0, TimeRange::ALL, forward));
            let peak = s.peak();
            assert!(peak.rereads > 0, "{peak:?}");
            assert!(
                peak.rereads * 4 <= got.len() as u64,
                "{peak:?} for {}",
                got.len()
            );
            assert!(peak.held_bytes <= budget + 200, "{peak:?}");
        }
    }
}
