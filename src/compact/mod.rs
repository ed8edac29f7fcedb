//! The compactor (Loki's compactor on one machine): per UTC day, merge the
//! small segments many ingests leave into a few large ones with full
//! blocks, one label index for the day; enforce retention; apply delete
//! requests. Safe to run from cron beside queries and ingest.
//!
//! A day is compacted in three steps, and the writer lock is held only for
//! the first and the last, which take milliseconds:
//!
//! 1. *Reserve* (lock): the day's live segments are its inputs, and as many
//!    segment ids as its output can need are reserved in one commit. Every
//!    segment ingested later gets a larger id, so the output sorts before it
//!    wherever equal timestamps are ordered by segment id.
//! 2. *Merge* (no writer lock): each stream's entries are merged across the
//!    inputs ([`merge`]) and written through ingest's segment writer into a
//!    private scratch tenant (`TENANT/compacting/`), whose own lock is the
//!    compaction lock: a second `compact` waits for it.
//! 3. *Swap* (lock): if the inputs are all still live, the outputs are moved
//!    into `segments/DAY/` under the reserved ids, the inputs are retired,
//!    the day's index is rebuilt, and the manifest is committed. Retired
//!    files stay until no reader holds an older manifest
//!    ([`crate::store::lease`]), so a query running meanwhile reads them to
//!    the end.
//!
//! A crash at any point leaves the old manifest or the new one; what a
//! crashed run left (scratch files, unnamed segments) is removed by the next
//! compaction or writer.

pub mod deletes;
mod merge;
pub mod retention;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::chunk::{SegmentFooter, SegmentReader};
use crate::ingest::BlockParams;
use crate::store::{DeleteStatus, SegmentEntry, Store, StoreError, TenantWriter};
use crate::time::{day_of, day_string, parse_day, NANOS_PER_DAY};

use deletes::PendingDelete;
use merge::{DayInput, MergeOut, Sink, StreamFilter, StreamIn};
use retention::{Retention, TenantRetention};

/// Raw line bytes per output segment by default: a day of less is one
/// segment; memory while merging is about this much plus the entries'
/// bookkeeping.
pub const DEFAULT_SEGMENT_BYTES: u64 = 256 << 20;

/// Raw line bytes per block the compactor writes: ingest's 1 MiB. Larger
/// blocks compress better but make every query that needs one line of a
/// block decompress more (a `--limit 100` query 2.5x slower at 4 MiB);
/// chosen by measurement, `bench/README.md`.
pub const DEFAULT_BLOCK_BYTES: usize = crate::chunk::block::BLOCK_TARGET_BYTES;

/// zstd level of compacted blocks (ingest uses 3): the lowest level whose
/// 1 MiB blocks are no larger than `zstd -3` of the raw bytes on the 1 GiB
/// corpus (0.994x; level 7: 1.030x); chosen by measurement, `bench/README.md`.
pub const DEFAULT_ZSTD_LEVEL: i32 = 8;

/// The scratch store inside a tenant directory.
pub const SCRATCH_DIR: &str = "compacting";

/// The scratch store's tenant.
const SCRATCH_TENANT: &str = "work";

/// Compaction errors.
#[derive(Debug, thiserror::Error)]
pub enum CompactError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A request or an option cannot be used.
    #[error("{0}")]
    Invalid(String),
}

/// Which days to work on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum DaySelection {
    /// Every day.
    #[default]
    All,
    /// These days (`YYYY-MM-DD`).
    Days(BTreeSet<String>),
    /// Days overlapping `[from, to)`, ns.
    Range {
        /// Start, included.
        from: i64,
        /// End, excluded.
        to: i64,
    },
}

impl DaySelection {
    /// Whether `day` is selected.
    pub fn contains(&self, day: &str) -> bool {
        match self {
            DaySelection::All => true,
            DaySelection::Days(d) => d.contains(day),
            DaySelection::Range { from, to } => parse_day(day).is_some_and(|d| {
                let lo = d.saturating_mul(NANOS_PER_DAY);
                lo < *to && lo.saturating_add(NANOS_PER_DAY) > *from
            }),
        }
    }
}

/// What `lokal compact` is told.
#[derive(Debug, Clone)]
pub struct CompactOptions {
    /// The days.
    pub days: DaySelection,
    /// Raw line bytes per output segment.
    pub segment_bytes: u64,
    /// Raw line bytes per block.
    pub block_bytes: usize,
    /// zstd level of the blocks written.
    pub zstd_level: i32,
    /// Retention rules.
    pub retention: Retention,
    /// The time retention counts back from, ns.
    pub now: i64,
    /// Report what would change; write nothing, take no lock.
    pub dry_run: bool,
    /// How long to wait for another writer or compaction.
    pub lock_timeout: Option<Duration>,
}

impl Default for CompactOptions {
    fn default() -> Self {
        CompactOptions {
            days: DaySelection::All,
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            block_bytes: DEFAULT_BLOCK_BYTES,
            zstd_level: DEFAULT_ZSTD_LEVEL,
            retention: Retention::default(),
            now: jiff::Timestamp::now().as_nanosecond() as i64,
            dry_run: false,
            lock_timeout: None,
        }
    }
}

/// Receives progress while a compaction runs.
pub trait CompactObserver: Sync {
    /// Another writer or compaction holds `lock`; waiting.
    fn waiting(&self, _lock: &Path) {}
    /// Work on `day` starts: `raw_bytes` of lines to read.
    fn day_started(&self, _day: &str, _raw_bytes: u64) {}
    /// `raw_bytes` more of the current day were read.
    fn advance(&self, _raw_bytes: u64) {}
    /// `day` is done.
    fn day_done(&self, _report: &DayReport) {}
}

/// An observer that ignores everything.
pub struct Silent;
impl CompactObserver for Silent {}

/// Sizes of a day's segments.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Totals {
    /// Segment files.
    pub segments: u64,
    /// Chunks (one per stream and segment).
    pub chunks: u64,
    /// Blocks.
    pub blocks: u64,
    /// Bytes of the segment files.
    pub bytes: u64,
    /// Line bytes.
    pub raw_bytes: u64,
    /// Entries.
    pub entries: u64,
}

impl Totals {
    fn of<'a>(segs: impl IntoIterator<Item = &'a SegmentEntry>) -> Totals {
        let mut t = Totals::default();
        for s in segs {
            t.segments += 1;
            t.chunks += s.streams;
            t.blocks += s.blocks;
            t.bytes += s.bytes;
            t.raw_bytes += s.raw_bytes;
            t.entries += s.entries;
        }
        t
    }
}

/// Entries of one stream that were (or, in a dry run, would be) removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RemovedStream {
    /// The stream.
    pub labels: String,
    /// Entries removed.
    pub entries: u64,
    /// Their line bytes.
    pub bytes: u64,
    /// Every entry of the stream on that day.
    pub whole: bool,
}

/// What retention and deletes removed from a day.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Removed {
    /// Entries.
    pub entries: u64,
    /// Their line bytes.
    pub bytes: u64,
    /// Entries past their retention.
    pub by_retention: u64,
    /// Entries a delete request matched.
    pub by_delete: u64,
    /// Per stream.
    pub streams: Vec<RemovedStream>,
}

/// What happened to a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DayAction {
    /// Merged (and trimmed) into new segments.
    Compacted,
    /// Wholly expired: every segment removed, and the day's directory.
    Expired,
    /// Read, but nothing to change (a delete that matched nothing).
    Unchanged,
    /// Left alone: it changed under the compaction (see `why`).
    Skipped,
}

/// One day's result.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DayReport {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// What was done.
    pub action: DayAction,
    /// Why a day was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// The day before.
    pub before: Totals,
    /// The day after (in a dry run: the segments planned, sizes unknown).
    pub after: Totals,
    /// What retention and deletes removed.
    pub removed: Removed,
    /// Time taken.
    pub seconds: f64,
}

/// A delete request's progress in this run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeleteProgress {
    /// The request's id.
    pub id: String,
    /// Its query.
    pub query: String,
    /// Entries it removed in this run.
    pub deleted_entries: u64,
    /// Applied everywhere it applies: now `processed`.
    pub processed: bool,
}

/// What a compaction did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct CompactReport {
    /// The tenant.
    pub tenant: String,
    /// Nothing was written.
    pub dry_run: bool,
    /// The days worked on, in order.
    pub days: Vec<DayReport>,
    /// Delete requests applied.
    pub deletes: Vec<DeleteProgress>,
    /// Problems that did not stop the run.
    pub warnings: Vec<String>,
    /// Wall time.
    pub seconds: f64,
}

impl CompactReport {
    /// True when the run found nothing to do.
    pub fn nothing_to_do(&self) -> bool {
        self.days.is_empty() && self.deletes.is_empty()
    }

    /// Line bytes of the days compacted.
    pub fn raw_bytes(&self) -> u64 {
        self.days.iter().map(|d| d.before.raw_bytes).sum()
    }
}

/// The output segments a day of `raw` line bytes needs.
pub fn planned_segments(raw: u64, segment_bytes: u64) -> u64 {
    raw.div_ceil(segment_bytes.max(1)).max(1)
}

/// Whether a day of `segments` segments holding `raw` line bytes is worth
/// compacting (what `lokal stats` shows): it has more segments than a
/// compaction would write.
pub fn needs_compaction(segments: u64, raw: u64) -> bool {
    segments > planned_segments(raw, DEFAULT_SEGMENT_BYTES)
}

/// Whether ingest merges the `segments` it wrote into one day at the end of
/// its run: they are more than a compaction would write
/// ([`needs_compaction`]) and their streams' runs are small — at most 64 KiB
/// of lines per stream and segment on average (what ingest packs with other
/// streams). That is a day of many streams whose batches each held a few
/// entries of most of them (a million streams: a run of each in every one
/// of some thirty segments), where every run costs a footer entry, an index
/// run and a block read per query, and merging costs little. A day of a few
/// large streams that spans two batches is left as it is: its runs are
/// blocks of their own already, and merging would only compress it again.
pub fn merge_at_ingest(segments: &[SegmentEntry]) -> bool {
    let raw: u64 = segments.iter().map(|s| s.raw_bytes).sum();
    let chunks: u64 = segments.iter().map(|s| s.streams).sum();
    needs_compaction(segments.len() as u64, raw)
        && raw <= chunks.saturating_mul(crate::ingest::SMALL_STREAM_BYTES as u64)
}

/// The end-of-ingest merge ([`crate::ingest::RunEnd`]): the segments a run
/// wrote into a day, when [`merge_at_ingest`] picks them, are merged as
/// `lokal compact` merges a day (the same k-way merge and packer, into the
/// scratch tenant under the compaction lock, then adopted under new ids with
/// the inputs retired) inside the ingest's own transaction, and the run's
/// last commit makes that live with the days' indexes, built once after it.
/// Only the run's own segments: older ones of the day (earlier runs) are
/// left for `lokal compact`, so a run costs what it wrote, never the whole
/// day again — a day of many small ingests is not rewritten by each. Their
/// ids are below the run's, so entries tied in time keep their order.
/// Nothing is removed: retention and deletes stay `lokal compact`'s.
#[derive(Debug, Clone, Copy, Default)]
pub struct IngestMerge;

impl crate::ingest::RunEnd for IngestMerge {
    fn merge_days(
        &self,
        tx: &mut TenantWriter<'_>,
        first_id: u64,
        zstd_level: i32,
        warn: &mut dyn FnMut(String),
    ) -> Result<Vec<String>, StoreError> {
        let ours: Vec<SegmentEntry> = tx
            .manifest()
            .segments
            .iter()
            .filter(|s| s.id >= first_id)
            .cloned()
            .collect();
        let wanted: Vec<(String, Vec<SegmentEntry>)> = by_day(&ours)
            .into_iter()
            .filter(|(_, segs)| merge_at_ingest(segs))
            .collect();
        let scratch = Store::new(tx.pending_snapshot().dir().join(SCRATCH_DIR));
        let st = scratch.tenant(SCRATCH_TENANT)?;
        // What a merge killed before its swap left is removed here too.
        if wanted.is_empty() && !st.dir().exists() {
            return Ok(Vec::new());
        }
        // Never wait: a compaction holding its lock may be waiting for this
        // run's writer lock (and its scratch files are its own).
        let lock = match scratch.lock_writer(Some(Duration::ZERO), || {}) {
            Ok(l) => l,
            Err(StoreError::LockTimeout { .. }) if wanted.is_empty() => return Ok(Vec::new()),
            Err(StoreError::LockTimeout { .. }) => {
                warn(format!(
                    "a compaction is running: {} day(s) left in many segments for it",
                    wanted.len()
                ));
                return Ok(Vec::new());
            }
            Err(e) => return Err(e),
        };
        let params = BlockParams {
            zstd_level,
            block_bytes: DEFAULT_BLOCK_BYTES,
        };
        let mut merged = Vec::new();
        for (day, segs) in wanted {
            remove_scratch(st.dir())?;
            let n = segs.len();
            crate::store::trace::point("ingest-merge");
            let snap = tx.pending_snapshot();
            let mut stx = st.begin_write(&lock)?;
            let merged_day = open_day(&snap, &day, segs, &mut Opened::new()).and_then(|input| {
                let mut sink = Sink {
                    tx: Some(&mut stx),
                    params,
                    segment_bytes: DEFAULT_SEGMENT_BYTES,
                };
                let keep = |_: &StreamIn| StreamFilter::default();
                let out = merge::merge_day(&input, &keep, 0, &mut sink, &Silent)?;
                Ok((input, out))
            });
            drop(stx);
            let (input, out) = match merged_day {
                Ok(m) => m,
                Err(e) => {
                    warn(format!(
                        "the {n} segments this run wrote into {day} were left as they are \
                         ({e}); `lokal compact` merges them"
                    ));
                    continue;
                }
            };
            crate::store::trace::point("ingest-merge-swap");
            let first = tx.reserve_segment_ids(out.outputs.len() as u64);
            for (k, (path, entry)) in out.outputs.iter().enumerate() {
                let entry = SegmentEntry {
                    compacted: true,
                    ..entry.clone()
                };
                tx.adopt_segment(&day, first + k as u64, path, entry)?;
            }
            let ids: Vec<u64> = input.segments.iter().map(|s| s.id).collect();
            tx.retire_segments(&ids);
            merged.push(day);
        }
        remove_scratch(st.dir())?;
        Ok(merged)
    }
}

/// What a day needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Every entry expired: drop its segments.
    Expire,
    /// Merge and trim; `merge` when it has more segments than planned.
    Rewrite { merge: bool, planned: u64 },
}

/// What removes entries of a day's streams: each stream's filter, computed
/// as the merge reaches it.
#[derive(Clone, Copy)]
struct Filters<'d> {
    tr: &'d TenantRetention,
    now: i64,
    pending: &'d [PendingDelete],
}

impl<'d> Filters<'d> {
    fn of(&self, s: &StreamIn) -> StreamFilter<'d> {
        StreamFilter {
            cutoff: self.tr.cutoff(&s.labels, self.now),
            deletes: self
                .pending
                .iter()
                .enumerate()
                .filter(|(_, d)| d.touches(&s.labels, s.min_t, s.max_t))
                .collect(),
        }
    }

    /// Nothing can be removed from any stream.
    fn none(&self) -> bool {
        self.tr.is_empty() && self.pending.is_empty()
    }
}

/// What `input` needs, read from its footers one stream at a time (not at
/// all when no retention or delete applies: then only its segment count
/// matters).
fn decide(
    input: &DayInput,
    f: Filters<'_>,
    segment_bytes: u64,
) -> Result<Option<Kind>, StoreError> {
    let planned = planned_segments(input.raw(), segment_bytes);
    let merge = input.segments.len() as u64 > planned;
    let mut removes = false;
    if !f.none() {
        let (mut any, mut all_expired) = (false, true);
        for s in input.streams() {
            let s = s?;
            let sf = f.of(&s);
            any = true;
            all_expired &= sf.cutoff.is_some_and(|c| s.max_t < c);
            removes |= sf.cutoff.is_some_and(|c| s.min_t < c) || !sf.deletes.is_empty();
            if removes && !all_expired {
                break;
            }
        }
        if any && all_expired {
            return Ok(Some(Kind::Expire));
        }
    }
    Ok((removes || merge).then_some(Kind::Rewrite { merge, planned }))
}

/// A day planned for work.
struct DayPlan {
    input: DayInput,
    kind: Kind,
    /// First reserved id (Rewrite only).
    first_id: u64,
}

/// Segments opened so far, by id: their block readers and footers.
type Opened = HashMap<u64, (Arc<SegmentReader>, Arc<SegmentFooter>)>;

/// Opens the segments of one day of `segs`, reusing `open` ones: mapped,
/// footers checked but not decoded.
fn open_day(
    snap: &crate::store::Snapshot,
    day: &str,
    segs: Vec<SegmentEntry>,
    open: &mut Opened,
) -> Result<DayInput, StoreError> {
    let mut with = Vec::with_capacity(segs.len());
    for s in segs {
        let (r, f) = match open.get(&s.id) {
            Some(rf) => rf.clone(),
            None => {
                let rf = (
                    Arc::new(snap.open_segment_blocks(&s)?),
                    Arc::new(snap.open_segment_footer(&s)?),
                );
                open.insert(s.id, rf.clone());
                rf
            }
        };
        with.push((s, r, f));
    }
    Ok(DayInput::new(day, with))
}

fn by_day(segments: &[SegmentEntry]) -> BTreeMap<String, Vec<SegmentEntry>> {
    let mut out: BTreeMap<String, Vec<SegmentEntry>> = BTreeMap::new();
    for s in segments {
        out.entry(s.day.clone()).or_default().push(s.clone());
    }
    out
}

/// Compacts `tenant` of `store` as `opts` says.
pub fn compact(
    store: &Store,
    tenant_name: &str,
    opts: &CompactOptions,
    obs: &dyn CompactObserver,
) -> Result<CompactReport, CompactError> {
    let t0 = Instant::now();
    store.ensure_exists()?;
    let tenant = store.tenant(tenant_name)?;
    let mut report = CompactReport {
        tenant: tenant_name.to_string(),
        dry_run: opts.dry_run,
        ..Default::default()
    };
    if !tenant.exists() {
        return Ok(report);
    }
    let tr = opts.retention.for_tenant(tenant_name);
    let params = BlockParams {
        zstd_level: opts.zstd_level,
        block_bytes: opts.block_bytes,
    };
    // The scratch store's lock is the compaction lock: a second compaction
    // waits here, before it reads anything.
    let scratch = Store::new(tenant.dir().join(SCRATCH_DIR));
    let compaction_lock = if opts.dry_run {
        None
    } else {
        Some(scratch.lock_writer(opts.lock_timeout, || obs.waiting(&scratch.lock_path()))?)
    };

    // Plan from a snapshot, without the writer lock.
    let snap = tenant.snapshot()?;
    let (pending, warnings) = PendingDelete::pending(&snap.manifest.deletes);
    report.warnings = warnings;
    let mut open = Opened::new();
    let fl = Filters {
        tr: &tr,
        now: opts.now,
        pending: &pending,
    };
    let mut plans: Vec<DayPlan> = Vec::new();
    let data_days: BTreeSet<String> = snap
        .manifest
        .segments
        .iter()
        .map(|s| s.day.clone())
        .collect();
    for (day, segs) in by_day(&snap.manifest.segments) {
        if !opts.days.contains(&day) {
            continue;
        }
        let input = open_day(&snap, &day, segs, &mut open)?;
        if let Some(kind) = decide(&input, fl, opts.segment_bytes)? {
            plans.push(DayPlan {
                input,
                kind,
                first_id: 0,
            });
        }
    }
    // Every input is mapped now, and a mapping outlives its file: the
    // snapshot's lease would only keep this run's own retired files.
    drop(snap);
    // A request is done once every day holding data in its range was
    // worked on in this run.
    let covered = |d: &PendingDelete| {
        let (lo, hi) = (day_of(d.request.start), day_of(d.request.end));
        data_days
            .iter()
            .all(|day| parse_day(day).is_none_or(|n| n < lo || n > hi) || opts.days.contains(day))
    };

    if opts.dry_run {
        for p in &plans {
            let t = Instant::now();
            obs.day_started(&p.input.day, p.input.raw());
            let (action, removed, planned) = match p.kind {
                Kind::Expire => (DayAction::Expired, expired_all(&p.input)?, 0),
                Kind::Rewrite { planned, .. } => {
                    let mut sink = Sink {
                        tx: None,
                        params,
                        segment_bytes: opts.segment_bytes,
                    };
                    let out =
                        merge::merge_day(&p.input, &|s| fl.of(s), pending.len(), &mut sink, obs)?;
                    (DayAction::Compacted, out.removed, planned)
                }
            };
            let r = DayReport {
                day: p.input.day.clone(),
                action,
                why: None,
                before: Totals::of(&p.input.segments),
                after: Totals {
                    segments: planned,
                    ..Default::default()
                },
                removed,
                seconds: t.elapsed().as_secs_f64(),
            };
            obs.day_done(&r);
            report.days.push(r);
        }
        report.deletes = pending
            .iter()
            .map(|d| DeleteProgress {
                id: d.request.id.clone(),
                query: d.request.query.clone(),
                deleted_entries: 0,
                processed: covered(d),
            })
            .collect();
        report.seconds = t0.elapsed().as_secs_f64();
        return Ok(report);
    }
    let compaction_lock = compaction_lock.expect("taken for a real run");

    // 1. Reserve: the inputs as of now, and ids for the outputs.
    if !plans.is_empty() {
        let lock = store.lock_writer(opts.lock_timeout, || obs.waiting(&store.lock_path()))?;
        let mut tx = tenant.begin_write(&lock)?;
        let now_snap = tx.pending_snapshot();
        let current = by_day(&tx.manifest().segments);
        let mut kept = Vec::new();
        for p in plans {
            let segs = current.get(&p.input.day).cloned().unwrap_or_default();
            let same = segs.len() == p.input.segments.len()
                && segs
                    .iter()
                    .all(|s| p.input.segments.iter().any(|i| i.id == s.id));
            if same {
                kept.push(p);
                continue;
            }
            if segs.is_empty() {
                continue;
            }
            let input = open_day(&now_snap, &p.input.day, segs, &mut open)?;
            if let Some(kind) = decide(&input, fl, opts.segment_bytes)? {
                kept.push(DayPlan {
                    input,
                    kind,
                    first_id: 0,
                });
            }
        }
        plans = kept;
        let needed: u64 = plans
            .iter()
            .map(|p| match p.kind {
                Kind::Rewrite { planned, .. } => planned,
                Kind::Expire => 0,
            })
            .sum();
        if needed > 0 {
            let mut next = tx.reserve_segment_ids(needed);
            for p in &mut plans {
                if let Kind::Rewrite { planned, .. } = p.kind {
                    p.first_id = next;
                    next += planned;
                }
            }
            tx.commit()?;
        }
    }

    // 2 and 3, a day at a time.
    let scratch_tenant = scratch.tenant(SCRATCH_TENANT)?;
    remove_scratch(scratch_tenant.dir())?;
    let mut stx = scratch_tenant.begin_write(&compaction_lock)?;
    let mut applied: Vec<u64> = vec![0; pending.len()];
    let mut failed: HashSet<usize> = HashSet::new();
    for p in &plans {
        let t = Instant::now();
        let day = p.input.day.clone();
        obs.day_started(&day, p.input.raw());
        let (out, merge) = match p.kind {
            Kind::Expire => (
                MergeOut {
                    removed: expired_all(&p.input)?,
                    per_request: vec![0; pending.len()],
                    ..Default::default()
                },
                true,
            ),
            Kind::Rewrite { merge, .. } => {
                let mut sink = Sink {
                    tx: Some(&mut stx),
                    params,
                    segment_bytes: opts.segment_bytes,
                };
                (
                    merge::merge_day(&p.input, &|s| fl.of(s), pending.len(), &mut sink, obs)?,
                    merge,
                )
            }
        };
        let touching = touching_requests(&p.input, fl)?;
        let before = Totals::of(&p.input.segments);
        let mut r = DayReport {
            day: day.clone(),
            action: if p.kind == Kind::Expire {
                DayAction::Expired
            } else {
                DayAction::Compacted
            },
            why: None,
            before: before.clone(),
            after: Totals::of(out.outputs.iter().map(|(_, e)| e)),
            removed: out.removed.clone(),
            seconds: 0.0,
        };
        if !merge && out.removed.entries == 0 {
            // Nothing would change: keep the day as it is.
            discard(&out);
            r.action = DayAction::Unchanged;
            r.after = before;
        } else {
            match swap(store, &tenant, opts, obs, p, &out, &pending, &touching)? {
                Ok(()) => {}
                Err(why) => {
                    discard(&out);
                    r.action = DayAction::Skipped;
                    r.why = Some(why);
                    r.after = r.before.clone();
                    r.removed = Removed::default();
                    failed.extend(touching.iter().copied());
                }
            }
        }
        if r.action != DayAction::Skipped {
            for (i, n) in out.per_request.iter().enumerate() {
                applied[i] += n;
            }
        }
        r.seconds = t.elapsed().as_secs_f64();
        obs.day_done(&r);
        report.days.push(r);
    }
    drop(stx);
    remove_scratch(scratch_tenant.dir())?;

    // Delete requests: counts, and `processed` where done; retired files
    // no reader needs any more go in the same commit.
    for (i, d) in pending.iter().enumerate() {
        report.deletes.push(DeleteProgress {
            id: d.request.id.clone(),
            query: d.request.query.clone(),
            deleted_entries: applied[i],
            processed: covered(d) && !failed.contains(&i),
        });
    }
    let lock = store.lock_writer(opts.lock_timeout, || obs.waiting(&store.lock_path()))?;
    let mut tx = tenant.begin_write(&lock)?;
    let mut changed = false;
    for p in &report.deletes {
        if let Some(d) = tx.deletes_mut().iter_mut().find(|d| d.id == p.id) {
            if d.status == DeleteStatus::Received && (p.deleted_entries > 0 || p.processed) {
                d.deleted_entries += p.deleted_entries;
                if p.processed {
                    d.status = DeleteStatus::Processed;
                    d.processed_at = Some(opts.now);
                }
                changed = true;
            }
        }
    }
    if changed || tx.has_releasable_retired()? {
        tx.commit()?;
    }
    drop(compaction_lock);
    report.seconds = t0.elapsed().as_secs_f64();
    Ok(report)
}

/// Step 3 for one day, under the writer lock: `Ok(Err(why))` when the day
/// changed under the compaction and the outputs must be dropped.
#[allow(clippy::too_many_arguments)]
fn swap(
    store: &Store,
    tenant: &crate::store::Tenant,
    opts: &CompactOptions,
    obs: &dyn CompactObserver,
    p: &DayPlan,
    out: &MergeOut,
    pending: &[PendingDelete],
    touching: &[usize],
) -> Result<Result<(), String>, CompactError> {
    let lock = store.lock_writer(opts.lock_timeout, || obs.waiting(&store.lock_path()))?;
    let mut tx = tenant.begin_write(&lock)?;
    let live: HashSet<u64> = tx.manifest().segments.iter().map(|s| s.id).collect();
    if let Some(s) = p.input.segments.iter().find(|s| !live.contains(&s.id)) {
        return Ok(Err(format!(
            "{} is no longer live (another writer replaced it meanwhile); run compact again",
            s.path
        )));
    }
    for &i in touching {
        let id = &pending[i].request.id;
        if !tx
            .manifest()
            .deletes
            .iter()
            .any(|d| &d.id == id && d.status == DeleteStatus::Received)
        {
            return Ok(Err(format!(
                "delete request {id} was cancelled meanwhile; run compact again"
            )));
        }
    }
    if out.outputs.len() as u64 > reserved(p) {
        return Err(CompactError::Invalid(format!(
            "{}: {} output segments, {} ids reserved",
            p.input.day,
            out.outputs.len(),
            reserved(p)
        )));
    }
    for (k, (path, entry)) in out.outputs.iter().enumerate() {
        let entry = SegmentEntry {
            compacted: true,
            ..entry.clone()
        };
        tx.adopt_segment(&p.input.day, p.first_id + k as u64, path, entry)?;
    }
    let ids: Vec<u64> = p.input.segments.iter().map(|s| s.id).collect();
    tx.retire_segments(&ids);
    crate::store::rebuild_days(&mut tx, std::slice::from_ref(&p.input.day))?;
    tx.commit()?;
    Ok(Ok(()))
}

fn reserved(p: &DayPlan) -> u64 {
    match p.kind {
        Kind::Rewrite { planned, .. } => planned,
        Kind::Expire => 0,
    }
}

/// The delete requests that touch a stream of the day (by index).
fn touching_requests(input: &DayInput, f: Filters<'_>) -> Result<Vec<usize>, StoreError> {
    let mut out = BTreeSet::new();
    if !f.pending.is_empty() {
        for s in input.streams() {
            let s = s?;
            out.extend(
                f.pending
                    .iter()
                    .enumerate()
                    .filter(|(_, d)| d.touches(&s.labels, s.min_t, s.max_t))
                    .map(|(i, _)| i),
            );
            if out.len() == f.pending.len() {
                break;
            }
        }
    }
    Ok(out.into_iter().collect())
}

/// Every entry of the day, as removed by retention.
fn expired_all(input: &DayInput) -> Result<Removed, StoreError> {
    let mut r = Removed::default();
    for s in input.streams() {
        let s = s?;
        r.entries += s.entries;
        r.bytes += s.raw;
        r.by_retention += s.entries;
        r.streams.push(RemovedStream {
            labels: s.labels.to_string(),
            entries: s.entries,
            bytes: s.raw,
            whole: true,
        });
    }
    Ok(r)
}

/// Removes scratch outputs that will not be used.
fn discard(out: &MergeOut) {
    for (path, _) in &out.outputs {
        let _ = std::fs::remove_file(path);
    }
}

/// Removes the scratch tenant (only lokal's files are ever in it; a
/// symlink in its place is removed itself, never followed).
fn remove_scratch(dir: &Path) -> Result<(), StoreError> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::io(dir, e)),
    }
}

/// Entries and streams a new delete request would remove now: the days it
/// covers are read (nothing is written, no lock is taken).
pub fn preview_delete(
    store: &Store,
    tenant_name: &str,
    new: &deletes::NewDelete,
) -> Result<(u64, usize), CompactError> {
    let query = deletes::validate(new)?;
    let tenant = store.tenant(tenant_name)?;
    if !tenant.exists() {
        return Ok((0, 0));
    }
    let snap = tenant.snapshot()?;
    let pending = [PendingDelete {
        request: new.request(String::new()),
        query,
    }];
    let days: BTreeSet<String> = days_between(new.start, new.end).into_iter().collect();
    let mut open = Opened::new();
    let (mut entries, mut streams) = (0, BTreeSet::new());
    for (day, segs) in by_day(&snap.manifest.segments) {
        if !days.contains(&day) {
            continue;
        }
        let input = open_day(&snap, &day, segs, &mut open)?;
        let keep = TenantRetention::default();
        let fl = Filters {
            tr: &keep,
            now: new.now,
            pending: &pending,
        };
        let mut sink = Sink {
            tx: None,
            params: BlockParams {
                zstd_level: DEFAULT_ZSTD_LEVEL,
                block_bytes: DEFAULT_BLOCK_BYTES,
            },
            segment_bytes: u64::MAX,
        };
        let out = merge::merge_day(&input, &|s| fl.of(s), 1, &mut sink, &Silent)?;
        entries += out.removed.by_delete;
        streams.extend(out.removed.streams.into_iter().map(|s| s.labels));
    }
    Ok((entries, streams.len()))
}

/// The days of `[from, to]` (ns, both included) as `YYYY-MM-DD`.
pub fn days_between(from: i64, to: i64) -> Vec<String> {
    (day_of(from)..=day_of(to)).map(day_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(id: u64, raw_bytes: u64, streams: u64) -> SegmentEntry {
        SegmentEntry {
            id,
            day: "2024-05-01".into(),
            path: format!("segments/2024-05-01/{id}.seg"),
            bytes: raw_bytes / 5,
            raw_bytes,
            entries: raw_bytes / 30,
            streams,
            blocks: 1,
            min_t: 0,
            max_t: 0,
            compacted: false,
        }
    }

    #[test]
    fn ingest_merges_its_segments_of_many_small_runs_only() {
        // A million streams over 28 batches: 5 entries of 33 bytes each.
        let many: Vec<SegmentEntry> = (1..=28).map(|i| seg(i, 6 << 20, 180_000)).collect();
        assert!(merge_at_ingest(&many));
        // One segment: nothing to merge.
        assert!(!merge_at_ingest(&many[..1]));
        // A day of 64 large streams across two batches: runs of 1 MB.
        assert!(!merge_at_ingest(&[
            seg(1, 64 << 20, 64),
            seg(2, 64 << 20, 64)
        ]));
        // More line bytes than one output segment takes, in two segments.
        assert!(!merge_at_ingest(&[
            seg(1, 200 << 20, 1 << 20),
            seg(2, 200 << 20, 1 << 20)
        ]));
        // Small runs over several batches.
        assert!(merge_at_ingest(&[
            seg(1, 1 << 20, 100),
            seg(2, 1 << 20, 100)
        ]));
    }
}
