//! The batch loop of an ingest run: open inputs, read them into batches of
//! about `batch_bytes`, parse each batch's lines into entries in parallel,
//! hand the batch to the writer and commit it with its input positions.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::BuildHasher;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use regex::Regex;
use xxhash_rust::xxh3::Xxh3DefaultBuilder;

use super::clock::{self, MISSING};
use super::follow::{self, Start};
use super::format::{self, InputFormat};
use super::hook::{HookCounts, HookEntry};
use super::reader::{self, strip_cr, Cursor, NoHash, Opened, Piece};
use super::report::{change, reject, Counts, IngestReport};
use super::source::{self, Compression};
use super::timestamp::TimestampExtractor;
use super::writer::{write_batch, StreamEntries};
use super::{IngestError, IngestObserver, IngestOptions};
use crate::model::{validate_labels, Labels};
use crate::store::{Store, TenantWriter};

/// Target size of the ranges parsed in parallel.
const PARSE_TASK_BYTES: usize = 4 << 20;

/// Keeps the day indexes current during one run (or, for `--follow`, across
/// all its cycles): the days a batch wrote to are rebuilt before its commit,
/// so the index and the segments become live together.
pub(crate) struct IndexUpkeep {
    enabled: bool,
    /// Days written to since their index was last rebuilt.
    pending: BTreeSet<String>,
    spent: Duration,
    started: Instant,
    /// The run's last commit rebuilds every pending day whatever the budget
    /// (false for the cycles of `--follow` but its last: queries read the
    /// footers of segments an index does not cover meanwhile).
    pub(crate) finish: bool,
}

impl IndexUpkeep {
    /// Upkeep for a run with `opts`, starting now.
    pub(crate) fn new(opts: &IngestOptions) -> IndexUpkeep {
        IndexUpkeep {
            enabled: !opts.no_index,
            pending: BTreeSet::new(),
            spent: Duration::ZERO,
            started: Instant::now(),
            finish: true,
        }
    }

    /// Days written to whose index is not rebuilt yet.
    pub(crate) fn pending(&self) -> usize {
        self.pending.len()
    }

    /// True when the run's last commit must rebuild indexes.
    fn due_at_end(&self) -> bool {
        self.enabled && self.finish && !self.pending.is_empty()
    }

    /// Share of the run's time that rebuilding after every batch may take;
    /// past it, rebuilds wait for the run's last commit. A day's rebuild reads
    /// the footers of all its segments, so a very long run into one day would
    /// otherwise grow quadratically.
    const BUDGET_DIVISOR: u32 = 50;
    /// What a rebuild costs per stream chunk of its days' footers (read,
    /// decoded, indexed), measured at about 1-2 µs on the bench machine.
    const COST_PER_CHUNK: Duration = Duration::from_micros(2);

    fn rebuild(
        &mut self,
        tx: &mut TenantWriter<'_>,
        last: bool,
        report: &mut IngestReport,
        obs: &dyn IngestObserver,
    ) -> Result<(), IngestError> {
        if !self.enabled || self.pending.is_empty() {
            return Ok(());
        }
        if !(last && self.finish) {
            // A rebuild reads every footer of its days: estimate it from
            // the stream chunks they hold, so that a day of a million
            // streams is not rebuilt after every batch.
            let chunks: u64 = tx
                .manifest()
                .segments
                .iter()
                .filter(|s| self.pending.contains(&s.day))
                .map(|s| s.streams)
                .sum();
            let estimate = Self::COST_PER_CHUNK * u32::try_from(chunks).unwrap_or(u32::MAX);
            if self.spent + estimate > self.started.elapsed() / Self::BUDGET_DIVISOR {
                return Ok(());
            }
        }
        let t = Instant::now();
        let days: Vec<String> = std::mem::take(&mut self.pending).into_iter().collect();
        let built = crate::store::rebuild_days_lenient(tx, &days, &mut |msg| obs.warn(&msg))?;
        report.index_builds += built.len() as u64;
        self.spent += t.elapsed();
        report.index_ms = self.spent.as_millis() as u64;
        Ok(())
    }
}

/// What every batch of one run updates: the write transaction, the report,
/// the streams seen so far and the index upkeep.
struct Run<'r, 'l> {
    tx: TenantWriter<'l>,
    opts: &'r IngestOptions,
    obs: &'r dyn IngestObserver,
    report: IngestReport,
    /// Hashes of the label sets of the streams seen so far (to count them).
    streams_seen: HashSet<u64, NoHash>,
    upkeep: &'r mut IndexUpkeep,
    /// The positions of the last commit.
    committed: follow::Positions,
    /// Segments the last batch published wait for [`Run::finish`]'s commit.
    unsaved: bool,
    /// Segments with this id or above were written by this run.
    first_id: u64,
}

/// What the next batch charges per line when a pipeline makes its streams
/// (they are only known once it has run, not while the batch is read): the
/// last batch's share of streams among its entries. Other inputs' streams
/// are charged as they are read ([`reader::StreamCounter`]).
fn next_line_cost(streams: usize, entries: usize) -> usize {
    reader::LINE_COST + reader::STREAM_COST * streams / entries.max(1).max(streams)
}

/// Hands the heap's free pages back to the kernel (glibc keeps what a
/// batch freed in its arenas, one per parsing thread: at a million streams
/// a batch's label sets and entry lists left some 300 MB resident between
/// batches). Elsewhere a no-op.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory of the allocator's own
    // arenas to the kernel; no live allocation is touched.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Has the allocator map allocations of 1 MiB and more (a batch's arena,
/// stream tables and entry lists) on their own, so that freeing them hands
/// them back at once. glibc raises that threshold up to 32 MiB once such a
/// block is freed, and then the next batches' tables came from the heap,
/// which a million-stream batch's small allocations fragment: at a million
/// streams the heap kept some 80 MB more through the run's index build
/// (448 MB peak RSS, 370 MB with this). Elsewhere a no-op.
fn map_large_allocations() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes a threshold of the allocator's policy;
    // allocations made before keep working as they are.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// Runs an ingest into `tenant` of `store`.
pub fn ingest(
    store: &Store,
    tenant: &str,
    opts: &IngestOptions,
    obs: &dyn IngestObserver,
) -> Result<IngestReport, IngestError> {
    ingest_with(store, tenant, opts, obs, &mut IndexUpkeep::new(opts))
}

/// [`ingest`] keeping the index upkeep in `upkeep`, which `--follow` carries
/// from one cycle to the next (each cycle is one such run: the lock is taken
/// for it alone, so other writers go on between cycles).
pub(crate) fn ingest_with(
    store: &Store,
    tenant: &str,
    opts: &IngestOptions,
    obs: &dyn IngestObserver,
    upkeep: &mut IndexUpkeep,
) -> Result<IngestReport, IngestError> {
    if opts.inputs.is_empty() {
        return Err(IngestError::Config(
            "nothing to ingest: give files, globs, directories or - for stdin".into(),
        ));
    }
    // Static labels are checked up front, even if no input turns out to be new.
    super::labels::check_static(opts)?;
    if opts.hook.is_some() && opts.format != InputFormat::Auto {
        return Err(IngestError::Config(
            "a pipeline (--config) reads plain log lines (--format auto); logcli and loki-push \
             inputs carry their own labels and timestamps"
                .into(),
        ));
    }
    let extractor = clock::extractor(opts)?;
    let mut inputs = source::expand(&opts.inputs, opts.recursive, opts.follow)?;
    if let Some(hook) = &opts.hook {
        inputs.retain(|i| hook.reads(&i.display()));
    }
    let tenant = store.tenant(tenant)?;
    let lock = store.lock_writer(opts.lock_timeout, || {
        obs.warn(&format!(
            "waiting for another lokal writer to release {}",
            store.lock_path().display()
        ))
    })?;
    let tx = tenant.begin_write(&lock)?;
    map_large_allocations();
    let mut run = Run {
        committed: tx.manifest().positions.clone(),
        // Every segment this run creates gets an id above both (a damaged
        // manifest's `next_segment_id` may lag behind a live id).
        first_id: tx
            .manifest()
            .segments
            .iter()
            .map(|s| s.id + 1)
            .max()
            .unwrap_or(0)
            .max(tx.manifest().next_segment_id),
        tx,
        opts,
        obs,
        report: IngestReport::default(),
        streams_seen: HashSet::default(),
        unsaved: false,
        upkeep,
    };

    let plan = follow::plan(
        &inputs,
        &run.tx.manifest().positions,
        opts.from_start,
        opts.follow,
    );
    // Tests stop a run here to rotate its files between plan and open.
    crate::store::trace::point("ingest-planned");
    // Re-keyed to where the files are now; committed with the first batch
    // (or alone at the end), together with what is read.
    *run.tx.positions_mut() = plan.positions;
    run.report.files_unchanged += plan.unchanged;
    for msg in plan.failed {
        obs.warn(&msg);
        run.report.errors.push(msg);
        run.report.files_failed += 1;
    }
    for msg in &plan.notes {
        obs.warn(msg);
    }

    let total: u64 = plan
        .items
        .iter()
        .filter_map(|i| {
            Some(i.id?.size.saturating_sub(match &i.start {
                Start::Resume(p) if i.compression == Compression::None => p.offset,
                _ => 0,
            }))
        })
        .sum();
    obs.total_bytes(total);

    let mut cursors: Vec<Cursor> = Vec::new();
    let mut batch: Vec<Piece> = Vec::new();
    let mut batch_lines = 0usize;
    // The batch's distinct streams, counted as they are read.
    let mut streams = reader::StreamCounter::default();
    let mut line_cost = reader::LINE_COST;
    // A pipeline's streams are known only once it has run: the run's first
    // batch through one is a quarter of the size, and the share of streams
    // it shows is charged from the second on (a pipeline that gives every
    // line a stream of its own would otherwise fill a whole first batch
    // with streams nothing charged).
    let mut limit = match opts.hook {
        Some(_) => (opts.batch_bytes / 4).max(1),
        None => opts.batch_bytes,
    };
    // One arena for the batch's bytes, reused so memory is faulted in once.
    let mut arena: Vec<u8> = Vec::with_capacity(opts.batch_bytes.min(total as usize + (1 << 20)));
    let stopped = || {
        opts.stop
            .is_some_and(|s| s.load(std::sync::atomic::Ordering::SeqCst))
    };
    'inputs: for item in &plan.items {
        if stopped() {
            break;
        }
        let cursor = match reader::open(item, opts, extractor.clone()) {
            Ok(Opened::Cursor(c)) => c,
            Ok(Opened::Moved(msg)) => {
                obs.warn(&msg);
                continue;
            }
            Err(msg) => {
                obs.warn(&msg);
                run.report.errors.push(msg);
                run.report.files_failed += 1;
                continue;
            }
        };
        run.report.files += 1;
        if item.renamed || item.followed {
            run.report.files_rotated += 1;
        }
        cursors.push(*cursor);
        let ci = cursors.len() - 1;
        loop {
            let used = |arena: &[u8], lines: usize, streams: &reader::StreamCounter| {
                arena.len() + lines * line_cost + streams.len() * reader::STREAM_COST
            };
            let budget = limit
                .saturating_sub(used(&arena, batch_lines, &streams))
                .max(1);
            let mut full = false;
            match reader::read_piece(
                &mut cursors[ci],
                ci,
                budget,
                line_cost,
                &mut streams,
                opts,
                &mut arena,
            ) {
                Ok(Some(p)) => {
                    batch_lines += p.lines() as usize;
                    batch.push(p);
                }
                // Nothing fitted (a multiline entry longer than what is
                // left of the batch): the batch is full.
                Ok(None) => full = !cursors[ci].done(),
                Err(msg) => {
                    obs.warn(&msg);
                    run.report.errors.push(msg);
                    run.report.files_failed += 1;
                    cursors[ci].abandon();
                }
            }
            if full || used(&arena, batch_lines, &streams) >= limit {
                let (held, entries) =
                    run.flush(&mut cursors, &arena, &batch, streams.len(), false)?;
                if entries > 0 && opts.hook.is_some() {
                    line_cost = next_line_cost(held, entries);
                    limit = opts.batch_bytes;
                }
                batch.clear();
                arena.clear();
                streams.clear();
                batch_lines = 0;
            }
            if cursors[ci].done() {
                break;
            }
            // Stopped (`--follow`'s SIGTERM) after a commit: what is in the
            // batch is committed below, the rest is left for the next run.
            if batch.is_empty() && stopped() {
                break 'inputs;
            }
        }
    }
    run.flush(&mut cursors, &arena, &batch, streams.len(), true)?;
    // The last commit rebuilds the indexes of every day the run wrote to
    // (the heaviest step at many streams): the batch's memory goes first.
    run.report.streams = run.streams_seen.len() as u64;
    drop((arena, batch, streams, std::mem::take(&mut run.streams_seen)));
    release_freed_memory();
    run.finish()?;
    run.report.timestamps = cursors.into_iter().map(|c| c.ts).collect();
    Ok(run.report)
}

/// A parsed entry: stream index (into the task's stream table), time, line.
pub(crate) struct Entry<'a> {
    pub stream: u32,
    pub ts: i64,
    pub line: Cow<'a, [u8]>,
    /// Structured metadata (Loki push bodies), if any.
    pub metadata: Option<Box<crate::chunk::block::Metadata>>,
}

/// How a parse task names a stream: by its label set, or by the raw
/// `labels` object of logcli records (parsed once per batch, however many
/// records and tasks repeat it).
pub(crate) enum StreamKey<'a> {
    Labels(Labels),
    Raw(&'a [u8]),
}

/// A task's streams, each once: entries refer to them by index.
#[derive(Default)]
struct StreamTable<'a> {
    keys: Vec<StreamKey<'a>>,
    labels: HashMap<Labels, u32>,
    raw: HashMap<&'a [u8], u32, Xxh3DefaultBuilder>,
}

impl<'a> StreamTable<'a> {
    fn of_labels(&mut self, labels: Labels) -> u32 {
        if let Some(&i) = self.labels.get(&labels) {
            return i;
        }
        let i = self.keys.len() as u32;
        self.labels.insert(labels.clone(), i);
        self.keys.push(StreamKey::Labels(labels));
        i
    }

    fn of_raw(&mut self, raw: &'a [u8]) -> u32 {
        if let Some(&i) = self.raw.get(raw) {
            return i;
        }
        let i = self.keys.len() as u32;
        self.raw.insert(raw, i);
        self.keys.push(StreamKey::Raw(raw));
        i
    }
}

/// The result of parsing one range of a piece.
struct Parsed<'a> {
    piece: usize,
    streams: Vec<StreamKey<'a>>,
    entries: Vec<Entry<'a>>,
    counts: Counts,
}

/// A range of a piece parsed as one task.
struct Task {
    piece: usize,
    start: usize,
    end: usize,
    first_line: u64,
    /// Newlines in it (entries are reserved for them at once).
    lines: usize,
}

impl Run<'_, '_> {
    /// The run's last commit, after its last [`Run::flush`]: the index
    /// rebuilds deferred by the time budget still happen before the run
    /// ends, and positions that moved (a file renamed, a new one with no
    /// whole line yet) are kept even when nothing was read.
    fn finish(&mut self) -> Result<(), IngestError> {
        self.merge_written_days()?;
        let index_due = self.upkeep.due_at_end();
        if self.unsaved || index_due || self.tx.manifest().positions != self.committed {
            self.upkeep
                .rebuild(&mut self.tx, true, &mut self.report, self.obs)?;
            self.tx.commit()?;
            self.committed = self.tx.manifest().positions.clone();
            self.report.commits += 1;
            self.unsaved = false;
        }
        // The segments the end-of-run merge retired go with one more
        // commit once no reader holds an older manifest (as a compaction's
        // last commit does): they are most of what the batches wrote.
        if self.report.days_merged > 0 && self.tx.has_releasable_retired()? {
            self.tx.commit()?;
            self.report.commits += 1;
        }
        Ok(())
    }

    /// The end-of-run merge ([`IngestOptions::run_end`]) of the segments
    /// this run wrote, inside the transaction whose last commit follows: the
    /// merged days' indexes are built once, by that commit.
    fn merge_written_days(&mut self) -> Result<(), IngestError> {
        let Some(end) = self.opts.run_end.clone() else {
            return Ok(());
        };
        let first_id = self.first_id;
        let ours = |tx: &TenantWriter<'_>| -> u64 {
            let s = tx.manifest().segments.iter().filter(|s| s.id >= first_id);
            s.map(|s| s.bytes).sum()
        };
        let before = ours(&self.tx);
        let t = Instant::now();
        let obs = self.obs;
        let merged = end.merge_days(&mut self.tx, first_id, self.opts.zstd_level, &mut |m| {
            obs.warn(&m)
        })?;
        if merged.is_empty() {
            return Ok(());
        }
        // What the run added to the store, after the merge.
        let after = ours(&self.tx);
        self.report.bytes_stored = (self.report.bytes_stored + after).saturating_sub(before);
        self.report.days_merged += merged.len() as u64;
        self.report.merge_ms += t.elapsed().as_millis() as u64;
        self.unsaved = true;
        if self.upkeep.enabled {
            self.upkeep.pending.extend(merged);
        } else {
            // Under --no-index, a day that has an index (built before) is
            // rebuilt all the same: it names the segments just retired.
            let stale: Vec<String> = merged
                .into_iter()
                .filter(|d| self.tx.manifest().indexes.iter().any(|i| &i.day == d))
                .collect();
            if !stale.is_empty() {
                let built = crate::store::rebuild_days_lenient(&mut self.tx, &stale, &mut |m| {
                    obs.warn(&m)
                })?;
                self.report.index_builds += built.len() as u64;
            }
        }
        Ok(())
    }

    /// Parses, writes and commits one batch (the pieces of `batch` in
    /// `arena`) with its input positions; `last` is the run's final call,
    /// whose commit [`Run::finish`] makes once the batch is freed;
    /// `expected_streams`, the streams counted while it was read, sizes its
    /// stream table. Returns the streams and entries the batch held.
    fn flush(
        &mut self,
        cursors: &mut [Cursor],
        arena: &[u8],
        batch: &[Piece],
        expected_streams: usize,
        last: bool,
    ) -> Result<(usize, usize), IngestError> {
        let Run {
            tx,
            opts,
            obs,
            report,
            streams_seen,
            upkeep,
            committed,
            unsaved,
            ..
        } = self;
        let (opts, obs) = (*opts, *obs);
        if batch.is_empty() {
            if !last {
                return Ok((0, 0));
            }
            // Positions that moved are committed by `finish`.
            record_positions(tx, cursors, batch, true);
            return Ok((0, 0));
        }
        // Split pieces into tasks at line boundaries so big files parse in parallel.
        let mut tasks = Vec::new();
        for (pi, p) in batch.iter().enumerate() {
            let splittable = opts.multiline_start.is_none() && opts.format != InputFormat::LokiPush;
            let mut start = 0;
            let mut line = p.first_line;
            while start < arena[p.range.clone()].len() {
                let mut end = arena[p.range.clone()].len();
                if splittable && end - start > PARSE_TASK_BYTES {
                    end = match memchr::memchr(
                        b'\n',
                        &arena[p.range.clone()][start + PARSE_TASK_BYTES..],
                    ) {
                        Some(i) => start + PARSE_TASK_BYTES + i + 1,
                        None => arena[p.range.clone()].len(),
                    };
                }
                let lines = memchr::memchr_iter(b'\n', &arena[p.range.clone()][start..end]).count();
                tasks.push(Task {
                    piece: pi,
                    start,
                    end,
                    first_line: line,
                    lines,
                });
                line += lines as u64;
                start = end;
            }
        }
        let ctx: Vec<ParseCtx> = batch
            .iter()
            .map(|p| {
                let c = &cursors[p.cursor];
                ParseCtx {
                    name: c.input.display(),
                    labels: c.labels.clone(),
                    extractor: c.extractor.clone(),
                    long_lines: p.long_lines.clone(),
                }
            })
            .collect();
        let mut parsed: Vec<Parsed<'_>> = tasks
            .par_iter()
            .map(|t| {
                parse_task(
                    &arena[batch[t.piece].range.clone()][t.start..t.end],
                    t,
                    &ctx[t.piece],
                    opts,
                )
            })
            .collect();

        // Fill in missing timestamps in input order, per input.
        for (pi, p) in batch.iter().enumerate() {
            let c = &mut cursors[p.cursor];
            let before = (c.ts.previous_line, c.ts.first_found, c.ts.mtime);
            for pr in parsed.iter().filter(|pr| pr.piece == pi) {
                c.ts.implausible += pr.counts.ts_implausible;
                c.ts.unknown_zone += pr.counts.ts_unknown_zone;
                for n in &pr.counts.ts_notes {
                    c.ts.note(|| n.clone());
                }
            }
            let stamps = parsed
                .iter_mut()
                .filter(|pr| pr.piece == pi)
                .flat_map(|pr| pr.entries.iter_mut().map(|e| &mut e.ts));
            clock::fill(&mut c.carry_ts, c.reference_ns, &mut c.ts, stamps);
            report.change(change::TS_INHERITED, c.ts.previous_line - before.0);
            report.change(change::TS_FROM_NEXT, c.ts.first_found - before.1);
            report.change(change::TS_FROM_MTIME, c.ts.mtime - before.2);
        }
        if opts.hook.is_some() {
            parsed = run_hook(cursors, batch, parsed, report);
        }
        for pr in &parsed {
            report.merge_counts(&pr.counts);
            for m in &pr.counts.messages {
                obs.warn(m);
            }
        }

        // Group by stream, validating each new stream once. Each stream's
        // list is sized exactly first: a batch holds millions of entries,
        // and doubling growth would cost up to twice their memory.
        // Sized from the streams counted while reading (doubling growth left
        // up to half of a million-stream table unused through the write).
        let mut groups: Vec<StreamEntries<'_>> = Vec::with_capacity(expected_streams);
        // Groups by a 64-bit hash of their labels (no label set is cloned
        // into a map: at a million streams a batch, those clones and their
        // frees cost more than parsing); labels whose hash another label
        // set already took go to `collided`.
        let hasher = Xxh3DefaultBuilder::new();
        let mut index: HashMap<u64, usize, NoHash> = HashMap::default();
        let mut collided: HashMap<Labels, usize> = HashMap::new();
        let mut hashes: Vec<u64> = Vec::new();
        let mut by_raw: HashMap<&[u8], Option<usize>, Xxh3DefaultBuilder> = HashMap::default();
        let maps: Vec<Vec<Option<usize>>> = parsed
            .iter_mut()
            .map(|pr| {
                let input = || cursors[batch[pr.piece].cursor].input.display();
                let mut group = |l: Labels| {
                    let h = hasher.hash_one(&l);
                    let found = match index.get(&h) {
                        Some(&i) if groups[i].labels == l => Some(i),
                        Some(_) => collided.get(&l).copied(),
                        None => None,
                    };
                    if let Some(i) = found {
                        return groups[i].valid.then_some(i);
                    }
                    let valid = match validate_labels(&l, &opts.limits) {
                        Ok(()) => true,
                        Err(e) => {
                            obs.warn(&format!("{}: {e}; its entries are rejected", input()));
                            false
                        }
                    };
                    match index.entry(h) {
                        std::collections::hash_map::Entry::Occupied(_) => {
                            collided.insert(l.clone(), groups.len());
                        }
                        std::collections::hash_map::Entry::Vacant(v) => {
                            v.insert(groups.len());
                        }
                    }
                    hashes.push(h);
                    groups.push(StreamEntries {
                        labels: l,
                        entries: Vec::new(),
                        valid,
                    });
                    valid.then_some(groups.len() - 1)
                };
                // The tasks' label sets move to the groups (not needed after).
                pr.streams
                    .iter_mut()
                    .map(|k| match k {
                        StreamKey::Labels(l) => group(std::mem::take(l)),
                        StreamKey::Raw(raw) => {
                            if let Some(&g) = by_raw.get(raw) {
                                return g;
                            }
                            let g = match format::parse_labels_object(raw) {
                                Ok(l) => group(with_static(l, opts).without_empty()),
                                // The fast reader checked the object's
                                // syntax, so this does not happen; if it
                                // did, its entries are rejected, not lost
                                // silently.
                                Err(e) => {
                                    obs.warn(&format!(
                                        "{}: {e}; its entries are rejected",
                                        input()
                                    ));
                                    None
                                }
                            };
                            by_raw.insert(raw, g);
                            g
                        }
                    })
                    .collect()
            })
            .collect();
        let mut sizes = vec![0usize; groups.len()];
        for (pr, map) in parsed.iter().zip(&maps) {
            if let [Some(g)] = map[..] {
                sizes[g] += pr.entries.len();
            } else {
                for e in &pr.entries {
                    if let Some(g) = map[e.stream as usize] {
                        sizes[g] += 1;
                    }
                }
            }
        }
        for (g, n) in groups.iter_mut().zip(sizes) {
            g.entries.reserve_exact(n);
        }
        for (pr, map) in parsed.into_iter().zip(maps) {
            for e in pr.entries {
                match map[e.stream as usize] {
                    Some(g) => groups[g].entries.push((e.ts, e.line, e.metadata)),
                    None => report.reject(reject::INVALID_LABELS, 1),
                }
            }
        }
        for (g, h) in groups.iter().zip(&hashes) {
            if g.valid && !g.entries.is_empty() {
                streams_seen.insert(*h);
            }
        }
        drop((index, collided, hashes, by_raw));
        groups.retain(|g| g.valid && !g.entries.is_empty());
        groups.shrink_to_fit();
        let held = (groups.len(), groups.iter().map(|g| g.entries.len()).sum());

        let published = tx.manifest().segments.len();
        write_batch(tx, groups, opts, report)?;
        upkeep.pending.extend(
            tx.manifest().segments[published..]
                .iter()
                .map(|s| s.day.clone()),
        );

        // Positions move with the data, in the same manifest commit.
        record_positions(tx, cursors, batch, last);
        let read: u64 = batch.iter().map(|p| p.end_offset - p.start_offset).sum();
        report.bytes_read += read;
        if last {
            *unsaved = true;
            obs.advance(read);
            return Ok(held);
        }
        upkeep.rebuild(tx, last, report, obs)?;
        tx.commit()?;
        *committed = tx.manifest().positions.clone();
        report.commits += 1;
        obs.advance(read);
        // What the batch freed is handed back before the next one is read.
        release_freed_memory();
        Ok(held)
    }
}

/// Runs each input's pipeline (`IngestOptions::hook`) over its entries of
/// this batch, in input order, after their timestamps are filled in, and
/// flushes it at the batch's end, so that nothing a commit's positions cover
/// is still held by a pipeline.
fn run_hook<'a>(
    cursors: &mut [Cursor],
    batch: &[Piece],
    parsed: Vec<Parsed<'a>>,
    report: &mut IngestReport,
) -> Vec<Parsed<'a>> {
    // One job per input with a pipeline: its tasks in order. Inputs run in
    // parallel, each one's entries in order.
    let mut by_input: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (ti, pr) in parsed.iter().enumerate() {
        let ci = batch[pr.piece].cursor;
        if cursors[ci].processor.is_some() {
            by_input.entry(ci).or_default().push(ti);
        }
    }
    let mut slots: Vec<Option<Parsed<'a>>> = parsed.into_iter().map(Some).collect();
    type Job<'a> = (
        usize,
        Box<dyn super::hook::EntryProcessor>,
        Vec<(usize, Parsed<'a>)>,
        HookCounts,
    );
    let mut jobs: Vec<Job<'a>> = by_input
        .into_iter()
        .filter_map(|(ci, tis)| {
            let processor = cursors[ci].processor.take()?;
            let tasks = tis
                .into_iter()
                .filter_map(|ti| Some((ti, slots[ti].take()?)))
                .collect();
            Some((ci, processor, tasks, HookCounts::default()))
        })
        .collect();
    jobs.par_iter_mut()
        .for_each(|(_, processor, tasks, counts)| {
            run_input_hook(processor.as_mut(), tasks, counts)
        });
    for (ci, processor, tasks, counts) in jobs {
        cursors[ci].processor = Some(processor);
        for (ti, pr) in tasks {
            slots[ti] = Some(pr);
        }
        report.lines_joined += counts.joined;
        for (reason, n) in counts.dropped {
            *report.dropped.entry(reason).or_default() += n;
        }
    }
    slots.into_iter().flatten().collect()
}

/// One input's tasks of a batch through its pipeline, in order; what the
/// flush at the end hands out goes to the last task.
fn run_input_hook(
    processor: &mut dyn super::hook::EntryProcessor,
    tasks: &mut [(usize, Parsed<'_>)],
    counts: &mut HookCounts,
) {
    let mut out: Vec<HookEntry> = Vec::new();
    let n = tasks.len();
    for (k, (_, pr)) in tasks.iter_mut().enumerate() {
        let streams = std::mem::take(&mut pr.streams);
        let mut table = StreamTable::default();
        let entries = std::mem::take(&mut pr.entries);
        let mut kept = Vec::with_capacity(entries.len());
        for e in entries {
            let StreamKey::Labels(labels) = &streams[e.stream as usize] else {
                // Only line inputs (--format auto) have a pipeline: their
                // streams are label sets (`ingest` refuses other formats).
                continue;
            };
            let entry = HookEntry {
                labels: labels.clone(),
                ts: e.ts,
                line: String::from_utf8_lossy(&e.line).into_owned(),
                metadata: e.metadata.map(|m| m.into_vec()).unwrap_or_default(),
            };
            processor.process(entry, &mut out, counts);
            kept.extend(out.drain(..).map(|h| hook_entry(h, &mut table)));
        }
        if k + 1 == n {
            processor.flush(&mut out, counts);
            kept.extend(out.drain(..).map(|h| hook_entry(h, &mut table)));
        }
        pr.entries = kept;
        pr.streams = table.keys;
    }
}

/// An entry a pipeline handed out, in a task's stream table.
fn hook_entry<'a>(h: HookEntry, table: &mut StreamTable<'a>) -> Entry<'a> {
    let labels = h
        .labels
        .pairs()
        .iter()
        .filter(|(k, _)| !k.starts_with("__"))
        .cloned();
    Entry {
        stream: table.of_labels(Labels::from_pairs(labels).without_empty()),
        ts: h.ts,
        line: Cow::Owned(h.line.into_bytes()),
        metadata: (!h.metadata.is_empty()).then(|| h.metadata.into_boxed_slice()),
    }
}

/// Puts the positions of the cursors that `batch` read from (and at the
/// run's end of every cursor not yet recorded) into the pending manifest,
/// with the positions of the files holding copies of their content.
fn record_positions(
    tx: &mut TenantWriter<'_>,
    cursors: &mut [Cursor],
    batch: &[Piece],
    last: bool,
) {
    let mut touched: Vec<usize> = batch.iter().map(|p| p.cursor).collect();
    if last {
        touched.extend((0..cursors.len()).filter(|&i| !cursors[i].recorded));
    }
    touched.sort_unstable();
    touched.dedup();
    for ci in touched {
        let c = &mut cursors[ci];
        c.recorded = true;
        let Some((key, pos)) = c.position() else {
            continue;
        };
        for copy in &c.copies {
            tx.positions_mut()
                .insert(copy.key.clone(), copy.position(&key, &pos));
        }
        tx.positions_mut().insert(key, pos);
    }
}

/// What a parse task needs to know of its input.
struct ParseCtx {
    name: String,
    labels: Labels,
    extractor: TimestampExtractor,
    /// Lines cut while read: (line number, bytes skipped), by line number.
    long_lines: Vec<(u64, u64)>,
}

impl ParseCtx {
    /// Bytes of line `line_no` skipped while reading (0: read whole).
    fn skipped(&self, line_no: u64) -> u64 {
        if self.long_lines.is_empty() {
            return 0;
        }
        match self.long_lines.binary_search_by_key(&line_no, |&(n, _)| n) {
            Ok(i) => self.long_lines[i].1,
            Err(_) => 0,
        }
    }
}

/// Parses one task's bytes into entries.
fn parse_task<'a>(data: &'a [u8], t: &Task, c: &ParseCtx, opts: &IngestOptions) -> Parsed<'a> {
    let mut out = Parsed {
        piece: t.piece,
        streams: vec![StreamKey::Labels(c.labels.clone())],
        entries: Vec::new(),
        counts: Counts::default(),
    };
    match opts.format {
        InputFormat::Auto => {
            let mut ex = c.extractor.clone();
            match &opts.multiline_start {
                None => {
                    out.entries.reserve_exact(t.lines + 1);
                    parse_lines(data, t.first_line, c, &mut ex, opts, &mut out)
                }
                Some(re) => parse_multiline(data, t.first_line, c, re, &mut ex, opts, &mut out),
            }
        }
        InputFormat::Logcli => parse_logcli(data, t.first_line, c, opts, &mut out),
        InputFormat::LokiPush => parse_push(data, &c.name, opts, &mut out),
    }
    out
}

/// Parses a piece of whole lines of one `auto`-format input into entries
/// (timestamps `MISSING` where a line has none), as a batch does: for the
/// dry run, which stores nothing.
pub(crate) fn parse_auto<'a>(
    data: &'a [u8],
    first_line: u64,
    name: &str,
    ex: &mut TimestampExtractor,
    opts: &IngestOptions,
) -> (Vec<Entry<'a>>, Counts) {
    let mut out = Parsed {
        piece: 0,
        streams: Vec::new(),
        entries: Vec::new(),
        counts: Counts::default(),
    };
    let ctx = ParseCtx {
        name: name.to_string(),
        labels: Labels::default(),
        extractor: ex.clone(),
        long_lines: Vec::new(),
    };
    match &opts.multiline_start {
        None => parse_lines(data, first_line, &ctx, ex, opts, &mut out),
        Some(re) => parse_multiline(data, first_line, &ctx, re, ex, opts, &mut out),
    }
    (out.entries, out.counts)
}

/// Applies the line size limit: `None` when the line is rejected.
/// `skipped`: bytes of it the reader skipped (it keeps only the start of an
/// over-long line).
fn check_size<'a>(
    line: Cow<'a, [u8]>,
    line_no: u64,
    name: &str,
    opts: &IngestOptions,
    counts: &mut Counts,
    skipped: u64,
) -> Option<Cow<'a, [u8]>> {
    let max = reader::line_limit(opts);
    if line.len() <= max && skipped == 0 {
        return Some(line);
    }
    if opts.truncate_long_lines {
        counts.change(change::TRUNCATED, 1);
        return Some(match line {
            Cow::Borrowed(b) => Cow::Borrowed(&b[..max]),
            Cow::Owned(mut v) => {
                v.truncate(max);
                Cow::Owned(v)
            }
        });
    }
    let len = line.len() as u64 + skipped;
    counts.reject(reject::LINE_TOO_LONG, || {
        format!("{name}:{line_no}: line of {len} bytes is over the {max}-byte limit; rejected (use --truncate-long-lines or --max-line-size)")
    });
    None
}

fn for_each_line<'a>(data: &'a [u8], mut f: impl FnMut(&'a [u8], u64)) {
    let mut start = 0;
    let mut n = 0u64;
    for nl in memchr::memchr_iter(b'\n', data) {
        f(strip_cr(&data[start..nl]), n);
        start = nl + 1;
        n += 1;
    }
    if start < data.len() {
        f(strip_cr(&data[start..]), n);
    }
}

fn parse_lines<'a>(
    data: &'a [u8],
    first_line: u64,
    c: &ParseCtx,
    ex: &mut TimestampExtractor,
    opts: &IngestOptions,
    out: &mut Parsed<'a>,
) {
    let counts = &mut out.counts;
    let entries = &mut out.entries;
    let name = c.name.as_str();
    for_each_line(data, |line, i| {
        counts.lines += 1;
        let no = first_line + i;
        if let Some(line) = check_size(Cow::Borrowed(line), no, name, opts, counts, c.skipped(no)) {
            let e = ex.extract_detailed(&line);
            counts.timestamp_issue(&e, || clock::line_issue(ex, &e, name, no));
            let ts = e.ts.unwrap_or(MISSING);
            entries.push(Entry {
                stream: 0,
                ts,
                line,
                metadata: None,
            });
        }
    });
}

#[allow(clippy::too_many_arguments)]
fn parse_multiline<'a>(
    data: &'a [u8],
    first_line: u64,
    c: &ParseCtx,
    start_re: &Regex,
    ex: &mut TimestampExtractor,
    opts: &IngestOptions,
    out: &mut Parsed<'a>,
) {
    // (entry, its first line, lines in it, bytes the reader skipped of it)
    let mut cur: Option<(Vec<u8>, u64, usize, u64)> = None;
    let mut done: Vec<(Vec<u8>, u64, u64)> = Vec::new();
    let counts = &mut out.counts;
    for_each_line(data, |line, i| {
        counts.lines += 1;
        let starts = start_re.is_match(&String::from_utf8_lossy(line));
        let skipped = c.skipped(first_line + i);
        match &mut cur {
            Some((buf, _, n, s)) if !starts && *n < opts.multiline_max_lines => {
                buf.push(b'\n');
                buf.extend_from_slice(line);
                *n += 1;
                *s += skipped;
                counts.joined += 1;
            }
            _ => {
                if let Some((buf, ln, _, s)) = cur.take() {
                    done.push((buf, ln, s));
                }
                cur = Some((line.to_vec(), first_line + i, 1, skipped));
            }
        }
    });
    if let Some((buf, ln, _, s)) = cur.take() {
        done.push((buf, ln, s));
    }
    for (buf, ln, skipped) in done {
        if let Some(line) = check_size(Cow::Owned(buf), ln, &c.name, opts, &mut out.counts, skipped)
        {
            let e = ex.extract_detailed(&line);
            out.counts
                .timestamp_issue(&e, || clock::line_issue(ex, &e, &c.name, ln));
            let ts = e.ts.unwrap_or(MISSING);
            out.entries.push(Entry {
                stream: 0,
                ts,
                line,
                metadata: None,
            });
        }
    }
}

/// `labels` with the run's static labels (`--label`) set over them.
fn with_static(mut l: Labels, opts: &IngestOptions) -> Labels {
    for (k, v) in &opts.labels {
        l.set(k, v);
    }
    l
}

fn parse_logcli<'a>(
    data: &'a [u8],
    first_line: u64,
    c: &ParseCtx,
    opts: &IngestOptions,
    out: &mut Parsed<'a>,
) {
    let mut entries = Vec::with_capacity(memchr::memchr_iter(b'\n', data).count() + 1);
    let mut table = StreamTable::default();
    let counts = &mut out.counts;
    let name = c.name.as_str();
    for_each_line(data, |line, i| {
        counts.lines += 1;
        let skipped = c.skipped(first_line + i);
        if skipped > 0 {
            // Cut while read: the record is far over any line limit.
            let len = line.len() as u64 + skipped;
            counts.reject(reject::LINE_TOO_LONG, || {
                format!(
                    "{name}:{}: record of {len} bytes is over the line limit; rejected",
                    first_line + i
                )
            });
            return;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            counts.reject(reject::UNPARSABLE, || {
                format!(
                    "{name}:{}: empty line in logcli jsonl input",
                    first_line + i
                )
            });
            return;
        }
        // The shape logcli writes is read without a JSON parser, its labels
        // object kept raw; anything else goes through serde.
        let (stream, ts, text) = match format::parse_logcli_fast(line) {
            Some(r) => (table.of_raw(r.labels), r.ts, r.line),
            None => match format::parse_logcli_line(line) {
                Ok(e) => (
                    table.of_labels(with_static(e.labels, opts).without_empty()),
                    e.ts,
                    Cow::Owned(e.line.into_bytes()),
                ),
                Err(msg) => {
                    counts.reject(reject::UNPARSABLE, || {
                        format!("{name}:{}: {msg}", first_line + i)
                    });
                    return;
                }
            },
        };
        if let Some(l) = check_size(text, first_line + i, name, opts, counts, 0) {
            entries.push(Entry {
                stream,
                ts,
                line: l,
                metadata: None,
            });
        }
    });
    out.streams = table.keys;
    out.entries = entries;
}

fn parse_push<'a>(data: &'a [u8], name: &str, opts: &IngestOptions, out: &mut Parsed<'a>) {
    let mut table = StreamTable::default();
    match format::parse_push_bodies(data) {
        Ok(streams) => {
            for s in streams {
                let si = table.of_labels(with_static(s.labels, opts).without_empty());
                for (ts, line, metadata) in s.entries {
                    out.counts.lines += 1;
                    if let Some(l) = check_size(
                        Cow::Owned(line.into_bytes()),
                        0,
                        name,
                        opts,
                        &mut out.counts,
                        0,
                    ) {
                        out.entries.push(Entry {
                            stream: si,
                            ts,
                            line: l,
                            metadata: (!metadata.is_empty()).then(|| metadata.into_boxed_slice()),
                        });
                    }
                }
            }
        }
        Err(msg) => {
            out.counts.lines += 1;
            out.counts.reject(reject::UNPARSABLE, || {
                format!("{name}: {msg}; the whole input was rejected")
            });
        }
    }
    out.streams = table.keys;
}
