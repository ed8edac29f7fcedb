//! Query planning over a snapshot: which streams match, and which blocks of
//! which segments a query over a [`TimeRange`] must read — answered from the
//! day indexes where they cover a segment and from the segment footers
//! everywhere else. No block is read here. The same planner answers the
//! label, label-value and series lookups, which never read a block either.
//!
//! An index is trusted for a segment only when the manifest's index entry
//! lists it, the index file lists it, and the segment is live. A day index
//! that is missing or fails its checks is skipped (with a warning) and the
//! day is read from its footers, so answers never depend on the index. A
//! format 3 index verifies its pages as they are read, so damage can
//! surface midway: nothing read from a damaged page is used, and the day
//! goes on from the footers of the segments the index covered, after the
//! last stream the index gave (index and footers are in label order).
//! A segment that cannot be opened is different: its data is missing from
//! the answer, so it is returned as a [`ReadProblem`] (the answer is
//! partial), never as a mere warning.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet};
use std::sync::Arc;

use crate::chunk::{BlockMeta, SegmentReader};
use crate::logql::Matcher;
use crate::model::Labels;
use crate::store::{ReadProblem, SegmentEntry, Snapshot, StoreError};
use crate::time::{TimeRange, NANOS_PER_DAY};

use crate::index::{DayIndex, IndexError, SeriesRef};
use crate::time::parse_day;

/// Blocks a query takes from a [`PlanCursor`] at a time (whole streams,
/// [`PlanCursor::next_streams`]), so a query over a million small streams
/// holds a few thousand streams' block references, never the million.
pub const PLAN_BATCH_BLOCKS: usize = 4096;

/// What the batches of a plan taken from a [`PlanCursor`] held, for a
/// query's statistics: streams (batches hold whole streams), chunks and
/// distinct segments.
#[derive(Debug, Default)]
pub struct PlanTally {
    /// Streams.
    pub streams: u64,
    /// Chunks (a stream's blocks in one segment).
    pub chunks: u64,
    segments: HashSet<u64>,
}

impl PlanTally {
    /// Counts one batch of whole streams.
    pub fn add(&mut self, chunks: &[PlannedChunk]) {
        self.chunks += chunks.len() as u64;
        for (i, c) in chunks.iter().enumerate() {
            self.segments.insert(c.segment_id);
            // A stream's chunks are adjacent and share their labels.
            if i == 0 || chunks[i - 1].labels != c.labels {
                self.streams += 1;
            }
        }
    }

    /// Distinct segments the chunks came from.
    pub fn segments(&self) -> u64 {
        self.segments.len() as u64
    }
}

/// One stream's blocks in one segment that a query over a time range reads.
#[derive(Debug, Clone)]
pub struct PlannedChunk {
    /// The stream's labels, shared by the stream's chunks.
    pub labels: Arc<Labels>,
    /// Id of the segment holding the blocks (from the manifest).
    pub segment_id: u64,
    /// The segment, mapped.
    pub segment: Arc<SegmentReader>,
    /// Only the blocks overlapping the range, in time order.
    pub blocks: Vec<BlockMeta>,
}

/// Two plans are the same when they name the same blocks: the mapped reader
/// follows from the segment id.
impl PartialEq for PlannedChunk {
    fn eq(&self, other: &Self) -> bool {
        self.segment_id == other.segment_id
            && self.labels == other.labels
            && self.blocks == other.blocks
    }
}

impl Eq for PlannedChunk {}

/// The chunks a query reads, and what could not be read.
#[derive(Debug, Default)]
pub struct Plan {
    /// Chunks, sorted by labels, then segment id.
    pub chunks: Vec<PlannedChunk>,
    /// Damaged or missing indexes, answered from the segment footers
    /// instead: the answer is still complete.
    pub warnings: Vec<String>,
    /// Segments that could not be opened: their data is missing from the
    /// answer.
    pub partial: Vec<ReadProblem>,
    /// Distinct segments the chunks come from.
    pub segments: usize,
}

impl Plan {
    /// Distinct streams the plan reads.
    pub fn streams(&self) -> usize {
        // Chunks are sorted by labels: a stream's chunks are adjacent.
        self.chunks
            .iter()
            .enumerate()
            .filter(|(i, c)| *i == 0 || self.chunks[i - 1].labels != c.labels)
            .count()
    }
}

/// How one day of a snapshot is read for a time range.
struct DayPlan<'s> {
    day: &'s str,
    index: Option<Arc<DayIndex>>,
    /// Segments overlapping the range that the index covers, by id.
    covered: HashMap<u64, &'s SegmentEntry>,
    /// Segments overlapping the range that must be read from footers.
    rest: Vec<&'s SegmentEntry>,
    /// Every segment the index holds is trusted (live and listed), so its
    /// per-series time bounds and postings describe live data only.
    exact: bool,
}

/// Answers planning questions about one snapshot, caching the day indexes
/// and segment footers it opens. Cheap to create; use one per query.
pub struct Planner<'s> {
    snap: &'s Snapshot,
    indexes: HashMap<String, Option<Arc<DayIndex>>>,
    /// Segments opened so far; `None` for one that failed (reported once).
    segments: HashMap<u64, Option<Arc<SegmentReader>>>,
    /// Segments that could not be opened, in the order they were met.
    partial: Vec<ReadProblem>,
    warnings: Vec<String>,
}

impl<'s> Planner<'s> {
    /// A planner over `snap`.
    pub fn new(snap: &'s Snapshot) -> Self {
        Planner {
            snap,
            indexes: HashMap::new(),
            segments: HashMap::new(),
            partial: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Indexes that are missing or corrupt, one message each: their days
    /// were answered from segment footers, so answers are still complete.
    pub fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }

    /// Segments that could not be opened (damaged footer, missing file, not
    /// a regular file…), each once: what the answers so far lack.
    pub fn partial(&self) -> &[ReadProblem] {
        &self.partial
    }

    fn index(&mut self, day: &str) -> Option<Arc<DayIndex>> {
        if let Some(i) = self.indexes.get(day) {
            return i.clone();
        }
        let opened =
            self.snap
                .manifest
                .index_for(day)
                .and_then(|e| match self.snap.open_index(e) {
                    Ok(i) => Some(Arc::new(i)),
                    Err(err) => {
                        self.warnings
                            .push(format!("{err}; reading segment footers instead"));
                        None
                    }
                });
        self.indexes.insert(day.to_string(), opened.clone());
        opened
    }

    /// Records that `day`'s index met a damaged page (`err` names it): a
    /// warning, and no later plan of this planner uses that index.
    fn index_failed(&mut self, day: &str, err: IndexError) {
        self.warnings
            .push(format!("{err}; reading segment footers instead"));
        self.indexes.insert(day.to_string(), None);
    }

    /// The mapped segment `e`, opened once per planner: with its footer
    /// when `footer` (the stream list is read from it), else without (the
    /// index holds the block references, and a day of a million streams
    /// costs nothing to open). One that cannot be opened is recorded in
    /// [`Self::partial`] (once) and skipped (`None`): the rest of the store
    /// still answers, and the caller learns what the answer lacks.
    fn readable_segment(
        &mut self,
        e: &SegmentEntry,
        footer: bool,
    ) -> Result<Option<Arc<SegmentReader>>, StoreError> {
        match self.segments.get(&e.id) {
            Some(Some(r)) if r.footer_read() || !footer => return Ok(Some(r.clone())),
            Some(None) => return Ok(None),
            _ => {}
        }
        let opened = if footer {
            self.snap.open_segment(e)
        } else {
            self.snap.open_segment_blocks(e)
        };
        let r = match opened {
            Ok(r) => Some(Arc::new(r)),
            Err(StoreError::Segment(err)) => {
                self.partial.push(ReadProblem::from(&err));
                None
            }
            Err(err) => return Err(err),
        };
        self.segments.insert(e.id, r.clone());
        Ok(r)
    }

    fn day_plans(&mut self, range: TimeRange) -> Vec<DayPlan<'s>> {
        let snap = self.snap;
        let mut by_day: BTreeMap<&'s str, (HashSet<u64>, Vec<&'s SegmentEntry>)> = BTreeMap::new();
        for s in &snap.manifest.segments {
            let d = by_day.entry(s.day.as_str()).or_default();
            d.0.insert(s.id);
            if range.overlaps(s.min_t, s.max_t) {
                d.1.push(s);
            }
        }
        let mut out = Vec::new();
        for (day, (live, wanted)) in by_day {
            if wanted.is_empty() {
                continue;
            }
            let index = self.index(day);
            let (trusted, exact) = match (&index, snap.manifest.index_for(day)) {
                (Some(idx), Some(entry)) => {
                    let listed: HashSet<u64> = entry.segments.iter().copied().collect();
                    let trusted: HashSet<u64> = idx
                        .segments()
                        .iter()
                        .copied()
                        .filter(|id| listed.contains(id) && live.contains(id))
                        .collect();
                    let exact = trusted.len() == idx.segments().len();
                    (trusted, exact)
                }
                _ => (HashSet::new(), false),
            };
            let mut covered = HashMap::new();
            let mut rest = Vec::new();
            for s in wanted {
                if trusted.contains(&s.id) {
                    covered.insert(s.id, s);
                } else {
                    rest.push(s);
                }
            }
            out.push(DayPlan {
                day,
                index: if covered.is_empty() { None } else { index },
                covered,
                rest,
                exact,
            });
        }
        out
    }

    /// Runs `read` over the day's index, when it has one, and returns the
    /// segments whose footers must then be read: the plan's `rest`, and
    /// the ones the index covered when `read` met a damaged page (recorded
    /// by [`Self::index_failed`]). For lookups answering sets or bounds,
    /// where what the index gave before the damage may come again.
    fn index_or_footers(
        &mut self,
        plan: &DayPlan<'s>,
        read: impl FnOnce(&DayIndex) -> Result<(), IndexError>,
    ) -> Vec<&'s SegmentEntry> {
        let mut footers = plan.rest.clone();
        if let Some(idx) = &plan.index {
            if let Err(e) = read(idx) {
                self.index_failed(plan.day, e);
                footers.extend(covered_segments(&plan.covered));
            }
        }
        footers
    }

    /// See [`plan_streams`].
    pub fn plan_streams(
        &mut self,
        matchers: &[Matcher],
        range: TimeRange,
    ) -> Result<Vec<PlannedChunk>, StoreError> {
        let mut cursor = self.stream(matchers, range)?;
        let mut out = Vec::new();
        while let Some(chunks) = cursor.next_stream()? {
            out.extend(chunks);
        }
        Ok(out)
    }

    /// The streams matching `matchers` with blocks in `range`, one at a
    /// time in label order, each with its chunks in segment id order: the
    /// order of [`Self::plan_streams`], without holding the plan. What it
    /// holds is each day's selected series ids (4 bytes a series) and the
    /// footers of segments no index covers; the index series are decoded
    /// as the cursor reaches them. Segments the index covers are mapped
    /// when a stream first needs them.
    pub fn stream<'p>(
        &'p mut self,
        matchers: &[Matcher],
        range: TimeRange,
    ) -> Result<PlanCursor<'p, 's>, StoreError> {
        let mut sources = Vec::new();
        if !range.is_empty() {
            for plan in self.day_plans(range) {
                let mut footers = plan.rest;
                if let Some(idx) = plan.index {
                    match idx.select(matchers) {
                        Ok(series) => sources.push(Source::Index {
                            idx,
                            day: plan.day,
                            covered: plan.covered,
                            series,
                            pos: 0,
                            last: None,
                        }),
                        Err(e) => {
                            self.index_failed(plan.day, e);
                            footers.extend(covered_segments(&plan.covered));
                        }
                    }
                }
                for seg in footers {
                    if let Some(source) = self.footer_source(seg, matchers, range, None)? {
                        sources.push(source);
                    }
                }
            }
        }
        let mut cursor = PlanCursor {
            planner: self,
            matchers: matchers.to_vec(),
            range,
            heads: (0..sources.len()).map(|_| None).collect(),
            sources,
            heap: BinaryHeap::new(),
        };
        for i in 0..cursor.sources.len() {
            cursor.advance(i)?;
        }
        Ok(cursor)
    }

    /// A cursor source over the footer of `seg`: its streams matching
    /// `matchers` with a block in `range` and labels after `after` (all
    /// when `None`), in label order. `None` when the segment cannot be
    /// opened (recorded in [`Self::partial`]).
    fn footer_source(
        &mut self,
        seg: &'s SegmentEntry,
        matchers: &[Matcher],
        range: TimeRange,
        after: Option<&Labels>,
    ) -> Result<Option<Source<'s>>, StoreError> {
        let Some(reader) = self.readable_segment(seg, true)? else {
            return Ok(None);
        };
        let streams = reader.streams();
        let mut order: Vec<u32> = (0..streams.len() as u32)
            .filter(|&i| {
                let st = &streams[i as usize];
                selects(matchers, &st.labels)
                    && after.is_none_or(|a| st.labels > *a)
                    && st.blocks.iter().any(|b| range.overlaps(b.min_t, b.max_t))
            })
            .collect();
        // Format 2 footers are in label order; format 1 never promised it.
        if !order.is_sorted_by(|&a, &b| streams[a as usize].labels <= streams[b as usize].labels) {
            order.sort_by(|&a, &b| streams[a as usize].labels.cmp(&streams[b as usize].labels));
        }
        Ok(Some(Source::Footer {
            seg,
            reader,
            order,
            pos: 0,
        }))
    }

    /// The smallest range holding every entry of the streams matching
    /// `matchers`, from the index's block references (and footers where no
    /// index covers a segment); `None` when no stream matches.
    pub fn time_bounds(&mut self, matchers: &[Matcher]) -> Result<Option<TimeRange>, StoreError> {
        let mut bounds: Option<(i64, i64)> = None;
        let mut add = |lo: i64, hi: i64| {
            let (l, h) = bounds.get_or_insert((lo, hi));
            *l = (*l).min(lo);
            *h = (*h).max(hi);
        };
        for plan in self.day_plans(TimeRange::ALL) {
            let footers = self.index_or_footers(&plan, |idx| {
                for s in idx.select(matchers)? {
                    if plan.exact {
                        // Every segment the index holds is live and read:
                        // the series' recorded span is exact, no chunk is
                        // decoded.
                        let (lo, hi) = idx.series_time(&s)?;
                        add(lo, hi);
                        continue;
                    }
                    for c in idx.chunks(&s)? {
                        if plan.covered.contains_key(&c.segment_id) {
                            c.blocks.iter().for_each(|b| add(b.min_t, b.max_t));
                        }
                    }
                }
                Ok(())
            });
            self.footer_streams(&footers, |_, st| {
                if selects(matchers, &st.labels) {
                    st.blocks.iter().for_each(|b| add(b.min_t, b.max_t));
                }
            })?;
        }
        Ok(bounds.map(|(lo, hi)| TimeRange::new(lo, hi.saturating_add(1))))
    }

    /// See [`series`].
    pub fn series(
        &mut self,
        matchers: &[Matcher],
        range: TimeRange,
    ) -> Result<Vec<Labels>, StoreError> {
        let mut out = BTreeSet::new();
        self.each_series(matchers, range, |l| {
            out.insert(l.clone());
        })?;
        Ok(out.into_iter().collect())
    }

    /// Calls `f` with the labels of each stream matching `matchers` with a
    /// block in `range` (a stream may come once per day, and twice when
    /// its day's index fails midway). Index series whose whole time span
    /// lies in the range skip decoding their chunks.
    fn each_series(
        &mut self,
        matchers: &[Matcher],
        range: TimeRange,
        mut f: impl FnMut(&Labels),
    ) -> Result<(), StoreError> {
        if range.is_empty() {
            return Ok(());
        }
        for plan in self.day_plans(range) {
            let footers = self.index_or_footers(&plan, |idx| {
                for s in idx.select(matchers)? {
                    if series_in_range(idx, &s, &plan, range)? {
                        f(&idx.labels(&s)?);
                    }
                }
                Ok(())
            });
            self.footer_streams(&footers, |_, st| {
                if selects(matchers, &st.labels)
                    && st.blocks.iter().any(|b| range.overlaps(b.min_t, b.max_t))
                {
                    f(&st.labels);
                }
            })?;
        }
        Ok(())
    }

    /// Calls `f` with every footer stream of `segs` and its segment; a
    /// segment that cannot be opened is recorded in [`Self::partial`] and
    /// skipped.
    fn footer_streams(
        &mut self,
        segs: &[&'s SegmentEntry],
        mut f: impl FnMut(&'s SegmentEntry, &crate::chunk::StreamChunk),
    ) -> Result<(), StoreError> {
        for &seg in segs {
            if let Some(r) = self.readable_segment(seg, true)? {
                r.streams().iter().for_each(|st| f(seg, st));
            }
        }
        Ok(())
    }

    /// True when the whole day lies in `range` and the index holds only
    /// live data: then its name and value tables answer directly.
    fn whole_day(plan: &DayPlan<'_>, range: TimeRange) -> bool {
        plan.exact
            && parse_day(plan.day).is_some_and(|d| {
                let start = d.saturating_mul(NANOS_PER_DAY);
                range.covers(start, start.saturating_add(NANOS_PER_DAY - 1))
            })
    }

    /// See [`label_names`].
    pub fn label_names(&mut self, range: TimeRange) -> Result<Vec<String>, StoreError> {
        let mut out = BTreeSet::new();
        if range.is_empty() {
            return Ok(Vec::new());
        }
        for plan in self.day_plans(range) {
            // A set: what the index gave before any damage is right, and
            // the footers add the rest.
            let footers = self.index_or_footers(&plan, |idx| {
                if Self::whole_day(&plan, range) {
                    out.extend(idx.label_names()?);
                    return Ok(());
                }
                // A name is in when one series carrying it is: walk its
                // postings only until that series, never the whole day.
                for n in idx.label_names()? {
                    if !out.contains(&n) && any_value_in_range(idx, &n, &plan, range)? {
                        out.insert(n);
                    }
                }
                Ok(())
            });
            self.footer_streams(&footers, |_, st| {
                if st.blocks.iter().any(|b| range.overlaps(b.min_t, b.max_t)) {
                    for (n, _) in st.labels.pairs() {
                        if !out.contains(n) {
                            out.insert(n.clone());
                        }
                    }
                }
            })?;
        }
        Ok(out.into_iter().collect())
    }

    /// See [`label_values`].
    pub fn label_values(
        &mut self,
        name: &str,
        range: TimeRange,
    ) -> Result<Vec<String>, StoreError> {
        let mut out = BTreeSet::new();
        if range.is_empty() {
            return Ok(Vec::new());
        }
        for plan in self.day_plans(range) {
            let whole = Self::whole_day(&plan, range);
            // A value is in when one series carrying it is in range: each
            // value's postings are walked only up to that series.
            let footers = self.index_or_footers(&plan, |idx| {
                for (v, series) in idx.value_postings(name) {
                    idx.health()?;
                    if v.is_empty() || out.contains(v) {
                        continue;
                    }
                    if whole || first_in_range(idx, series, &plan, range)? {
                        out.insert(v.to_string());
                    }
                }
                // The label itself may have been looked up on a damaged page.
                idx.health()
            });
            self.footer_streams(&footers, |_, st| {
                if let Some(v) = st.labels.get(name) {
                    if !v.is_empty() && st.blocks.iter().any(|b| range.overlaps(b.min_t, b.max_t)) {
                        out.insert(v.to_string());
                    }
                }
            })?;
        }
        Ok(out.into_iter().collect())
    }
}

/// Where a [`PlanCursor`] reads streams from: one day's index (the
/// series it selected, ascending = label order), or one segment no index
/// covers (its matching footer streams, in label order).
enum Source<'s> {
    Index {
        idx: Arc<DayIndex>,
        day: &'s str,
        covered: HashMap<u64, &'s SegmentEntry>,
        series: Vec<SeriesRef>,
        pos: usize,
        /// The labels of the last stream read: if the index fails after
        /// it, footers take over from the next one.
        last: Option<Arc<Labels>>,
    },
    Footer {
        seg: &'s SegmentEntry,
        reader: Arc<SegmentReader>,
        order: Vec<u32>,
        pos: usize,
    },
}

/// A source's next stream: its labels and its blocks per segment (the
/// reader when the source already has it mapped).
struct Head<'s> {
    labels: Arc<Labels>,
    chunks: Vec<HeadChunk<'s>>,
}

/// One segment's blocks of a [`Head`], with the segment's reader when the
/// source has it mapped already.
type HeadChunk<'s> = (&'s SegmentEntry, Option<Arc<SegmentReader>>, Vec<BlockMeta>);

/// The streams of a query one at a time, in label order ([`Planner::stream`]):
/// a k-way merge of the days' indexes and the footers of segments no index
/// covers, a stream found in several of them coming once with all its chunks.
pub struct PlanCursor<'p, 's> {
    planner: &'p mut Planner<'s>,
    /// The selection, for footers taking over from a failed index.
    matchers: Vec<Matcher>,
    range: TimeRange,
    sources: Vec<Source<'s>>,
    heads: Vec<Option<Head<'s>>>,
    /// The sources with a head, by (head labels, source).
    heap: BinaryHeap<Reverse<(Arc<Labels>, usize)>>,
}

impl<'s> PlanCursor<'_, 's> {
    /// Reads source `i`'s next stream into its head (none when it is done).
    /// An index source whose index fails a page checksum ends there, and
    /// the footers of the segments it covered take over after the last
    /// stream it gave.
    fn advance(&mut self, i: usize) -> Result<(), StoreError> {
        let range = self.range;
        let head = match &mut self.sources[i] {
            Source::Index {
                idx,
                day,
                covered,
                series,
                pos,
                last,
            } => match next_index_head(idx, covered, series, pos, range) {
                Ok(head) => {
                    if let Some(h) = &head {
                        *last = Some(h.labels.clone());
                    }
                    head
                }
                Err(e) => {
                    *pos = series.len();
                    let (day, after) = (*day, last.take());
                    let segs = covered_segments(covered);
                    self.planner.index_failed(day, e);
                    for seg in segs {
                        let after = after.as_deref();
                        if let Some(src) =
                            self.planner
                                .footer_source(seg, &self.matchers, range, after)?
                        {
                            self.sources.push(src);
                            self.heads.push(None);
                            self.advance(self.sources.len() - 1)?;
                        }
                    }
                    None
                }
            },
            Source::Footer {
                seg,
                reader,
                order,
                pos,
            } => order.get(*pos).map(|&k| {
                *pos += 1;
                let st = &reader.streams()[k as usize];
                let blocks = st
                    .blocks
                    .iter()
                    .filter(|b| range.overlaps(b.min_t, b.max_t))
                    .cloned()
                    .collect();
                Head {
                    labels: Arc::new(st.labels.clone()),
                    chunks: vec![(*seg, Some(reader.clone()), blocks)],
                }
            }),
        };
        if let Some(h) = &head {
            self.heap.push(Reverse((h.labels.clone(), i)));
        }
        self.heads[i] = head;
        Ok(())
    }

    /// The next stream's chunks in segment id order, or `None` after the
    /// last. A segment that cannot be opened is left out of the chunks and
    /// recorded in the planner's [`Planner::partial`].
    pub fn next_stream(&mut self) -> Result<Option<Vec<PlannedChunk>>, StoreError> {
        loop {
            let mut parts = Vec::new();
            let Some(labels) = self.pop_stream(|h| parts.extend(h.chunks))? else {
                return Ok(None);
            };
            parts.sort_by_key(|p| p.0.id);
            let mut out = Vec::with_capacity(parts.len());
            for (seg, reader, blocks) in parts {
                let segment = match reader {
                    Some(r) => r,
                    None => match self.planner.readable_segment(seg, false)? {
                        Some(r) => r,
                        None => continue,
                    },
                };
                out.push(PlannedChunk {
                    labels: labels.clone(),
                    segment_id: seg.id,
                    segment,
                    blocks,
                });
            }
            if !out.is_empty() {
                return Ok(Some(out));
            }
        }
    }

    /// The next stream's labels, or `None` after the last: for lookups
    /// that read no block, so no segment is mapped (as [`Planner::series`]
    /// maps none).
    pub fn next_labels(&mut self) -> Result<Option<Arc<Labels>>, StoreError> {
        self.pop_stream(|_| {})
    }

    /// Takes the next stream's head from every source that holds it (the
    /// heap's top and each head with the same labels), handing each to
    /// `take` and moving its source on; the stream's labels, or `None`
    /// after the last.
    fn pop_stream(
        &mut self,
        mut take: impl FnMut(Head<'s>),
    ) -> Result<Option<Arc<Labels>>, StoreError> {
        let Some(Reverse((labels, i))) = self.heap.pop() else {
            return Ok(None);
        };
        let mut next = Some(i);
        while let Some(j) = next {
            if let Some(h) = self.heads[j].take() {
                take(h);
            }
            self.advance(j)?;
            next = match self.heap.peek() {
                Some(Reverse((l, k))) if **l == *labels => {
                    let k = *k;
                    self.heap.pop();
                    Some(k)
                }
                _ => None,
            };
        }
        Ok(Some(labels))
    }

    /// Whole streams from the cursor until they hold at least `blocks`
    /// blocks (fewer at the end); empty after the last stream.
    pub fn next_streams(&mut self, blocks: usize) -> Result<Vec<PlannedChunk>, StoreError> {
        let mut out = Vec::new();
        let mut n = 0;
        while n < blocks {
            let Some(chunks) = self.next_stream()? else {
                break;
            };
            n += chunks.iter().map(|c| c.blocks.len()).sum::<usize>();
            out.extend(chunks);
        }
        Ok(out)
    }

    /// Every remaining stream's chunks: the whole plan.
    pub fn rest(&mut self) -> Result<Vec<PlannedChunk>, StoreError> {
        self.next_streams(usize::MAX)
    }

    /// The planner (its warnings and what could not be read so far).
    pub fn planner(&self) -> &Planner<'s> {
        self.planner
    }
}

/// The next stream of an index source from `series[*pos..]` with a block
/// in `range` in a covered segment, moving `pos` past it; `None` after the
/// last.
fn next_index_head<'s>(
    idx: &DayIndex,
    covered: &HashMap<u64, &'s SegmentEntry>,
    series: &[SeriesRef],
    pos: &mut usize,
    range: TimeRange,
) -> Result<Option<Head<'s>>, IndexError> {
    while let Some(&s) = series.get(*pos) {
        *pos += 1;
        let (lo, hi) = idx.series_time(&s)?;
        if !range.overlaps(lo, hi) {
            continue;
        }
        let chunks: Vec<_> = idx
            .chunks(&s)?
            .into_iter()
            .filter_map(|c| {
                let seg = *covered.get(&c.segment_id)?;
                let blocks: Vec<BlockMeta> = c
                    .blocks
                    .into_iter()
                    .filter(|b| range.overlaps(b.min_t, b.max_t))
                    .collect();
                (!blocks.is_empty()).then_some((seg, None, blocks))
            })
            .collect();
        if !chunks.is_empty() {
            return Ok(Some(Head {
                labels: Arc::new(idx.labels(&s)?),
                chunks,
            }));
        }
    }
    Ok(None)
}

/// The segments an index covers in a day plan, by id: what the footers
/// must answer for when the index fails midway.
fn covered_segments<'s>(covered: &HashMap<u64, &'s SegmentEntry>) -> Vec<&'s SegmentEntry> {
    let mut segs: Vec<&'s SegmentEntry> = covered.values().copied().collect();
    segs.sort_by_key(|s| s.id);
    segs
}

/// Whether a stream read from a footer matches every matcher (a missing
/// label matches as the empty string, as in Loki).
pub fn selects(matchers: &[Matcher], labels: &Labels) -> bool {
    matchers
        .iter()
        .all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
}

/// Whether index series `s` has a block in `range` in a segment the plan
/// covers. Decodes the chunks only when the series' time span is not inside
/// the range or the index holds segments it may not use.
fn series_in_range(
    idx: &DayIndex,
    s: &SeriesRef,
    plan: &DayPlan<'_>,
    range: TimeRange,
) -> Result<bool, IndexError> {
    let (lo, hi) = idx.series_time(s)?;
    if !range.overlaps(lo, hi) {
        return Ok(false);
    }
    if plan.exact && range.covers(lo, hi) {
        // Every block is in range and every segment the series touches is
        // live; a segment outside the range at segment level cannot hold it.
        return Ok(true);
    }
    Ok(idx.chunks(s)?.iter().any(|c| {
        plan.covered.contains_key(&c.segment_id)
            && c.blocks.iter().any(|b| range.overlaps(b.min_t, b.max_t))
    }))
}

/// Whether one of `series` (a value's postings) is in range, walking them
/// only up to the first that is.
fn first_in_range(
    idx: &DayIndex,
    series: impl Iterator<Item = SeriesRef>,
    plan: &DayPlan<'_>,
    range: TimeRange,
) -> Result<bool, IndexError> {
    for s in series {
        if series_in_range(idx, &s, plan, range)? {
            return Ok(true);
        }
    }
    // A list cut short by a damaged page ends early: say so.
    idx.health().map(|()| false)
}

/// Whether a series carrying label `name` is in range.
fn any_value_in_range(
    idx: &DayIndex,
    name: &str,
    plan: &DayPlan<'_>,
    range: TimeRange,
) -> Result<bool, IndexError> {
    for (_, series) in idx.value_postings(name) {
        if first_in_range(idx, series, plan, range)? {
            return Ok(true);
        }
    }
    idx.health().map(|()| false)
}

/// Plans a query over the blocks with entries in `range`: streams come from
/// the day indexes where they cover the segments, and from segment footers
/// otherwise (the index only accelerates).
pub fn plan(snap: &Snapshot, matchers: &[Matcher], range: TimeRange) -> Result<Plan, StoreError> {
    let mut planner = Planner::new(snap);
    let chunks = planner.plan_streams(matchers, range)?;
    let segments = chunks
        .iter()
        .map(|c| c.segment_id)
        .collect::<HashSet<_>>()
        .len();
    Ok(Plan {
        chunks,
        warnings: planner.warnings(),
        partial: planner.partial().to_vec(),
        segments,
    })
}

/// For every stream whose labels match `matchers` and every segment with
/// blocks overlapping `range`: its labels, the
/// mapped segment and only the overlapping blocks. Sorted by
/// labels, then segment id. Uses the day's index where it covers the
/// segment and the segment footer otherwise.
pub fn plan_streams(
    snapshot: &Snapshot,
    matchers: &[Matcher],
    range: TimeRange,
) -> Result<Vec<PlannedChunk>, StoreError> {
    Planner::new(snapshot).plan_streams(matchers, range)
}

/// Label names of streams with entries in `range`, sorted.
pub fn label_names(snapshot: &Snapshot, range: TimeRange) -> Result<Vec<String>, StoreError> {
    Planner::new(snapshot).label_names(range)
}

/// Non-empty values of label `name` over streams with entries in
/// `range`, sorted.
pub fn label_values(
    snapshot: &Snapshot,
    name: &str,
    range: TimeRange,
) -> Result<Vec<String>, StoreError> {
    Planner::new(snapshot).label_values(name, range)
}

/// Label sets of the streams matching `matchers` with entries in
/// `range`, sorted and distinct.
pub fn series(
    snapshot: &Snapshot,
    matchers: &[Matcher],
    range: TimeRange,
) -> Result<Vec<Labels>, StoreError> {
    Planner::new(snapshot).series(matchers, range)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::chunk::block::compress;
    use crate::logql::{MatchOp, Span};
    use crate::store::Store;

    fn m(name: &str, op: MatchOp, v: &str) -> Matcher {
        Matcher::new(name, op, v, Span::default()).unwrap()
    }

    /// Writes one segment per `(day, streams)`: each stream gets blocks of
    /// three entries at the given timestamps.
    type Streams = Vec<(Labels, Vec<i64>)>;

    fn store_with(dir: &std::path::Path, segs: &[(&str, Streams)]) -> Store {
        let segs: Vec<(&str, LineStreams)> = segs
            .iter()
            .map(|(day, streams)| {
                let streams = streams
                    .iter()
                    .map(|(l, ts)| (l.clone(), ts.iter().map(|&t| (t, b"x".to_vec())).collect()))
                    .collect();
                (*day, streams)
            })
            .collect();
        store_of_lines(dir, &segs)
    }

    /// Streams of one segment with their entries `(ts, line)`.
    pub(crate) type LineStreams = Vec<(Labels, Vec<(i64, Vec<u8>)>)>;

    /// A store of tenant `t` with one segment per `(day, streams)`, each
    /// stream in blocks of three entries, and its day indexes built.
    pub(crate) fn store_of_lines(dir: &std::path::Path, segs: &[(&str, LineStreams)]) -> Store {
        let store = Store::new(dir);
        let lock = store.lock_writer(None, || {}).unwrap();
        let mut tx = store.tenant("t").unwrap().begin_write(&lock).unwrap();
        for (day, streams) in segs {
            let mut p = tx.create_segment(day).unwrap();
            for (l, lines) in streams {
                for part in lines.chunks(3) {
                    let b = compress(part.iter().map(|(t, v)| (*t, &v[..], &[][..])), 1).unwrap();
                    p.writer
                        .add_block(l, l.fingerprint(), &b.bytes, b.meta)
                        .unwrap();
                }
            }
            tx.publish(p).unwrap();
        }
        crate::store::rebuild_all(&mut tx).unwrap();
        tx.commit().unwrap();
        store
    }

    fn l(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().map(|(a, b)| (*a, *b)))
    }

    /// Where an index covers a segment, its footer is never read: a day
    /// of a million streams costs a query for one of them nothing extra.
    /// A damaged footer then goes unnoticed by queries (the blocks carry
    /// their own checksums; `lokal check` compares footers and indexes).
    #[test]
    fn covered_segments_are_read_without_their_footers() {
        let dir = tempfile::tempdir().unwrap();
        let d = NANOS_PER_DAY;
        let api = l(&[("app", "api")]);
        let web = l(&[("app", "web")]);
        let store = store_with(
            dir.path(),
            &[(
                "1970-01-02",
                vec![(api.clone(), vec![d, d + 5]), (web.clone(), vec![d + 9])],
            )],
        );
        let snap = store.tenant("t").unwrap().snapshot().unwrap();
        let sel = [m("app", MatchOp::Eq, "web")];
        let before = plan_streams(&snap, &sel, TimeRange::ALL).unwrap();
        let seg = dir.path().join("t").join(&snap.manifest.segments[0].path);
        let mut bytes = std::fs::read(&seg).unwrap();
        let footer = u64::from_le_bytes(bytes[bytes.len() - 32..][..8].try_into().unwrap());
        bytes[footer as usize + 1] ^= 0x20;
        std::fs::write(&seg, &bytes).unwrap();
        let mut p = Planner::new(&snap);
        let after = p.plan_streams(&sel, TimeRange::ALL).unwrap();
        assert_eq!(before, after);
        assert!(p.partial().is_empty() && !after[0].segment.footer_read());
        let mut block = crate::chunk::Block::default();
        after[0]
            .segment
            .read_block(&after[0].blocks[0], &mut block)
            .unwrap();
        assert_eq!(block.ts, vec![d + 9]);
        assert_eq!(
            label_values(&snap, "app", TimeRange::new(d + 6, d + 10)).unwrap(),
            vec!["web"]
        );
        // Without the index the footer is the only source: the segment is
        // unreadable, and the answer says so.
        let mut bare = snap.clone();
        bare.manifest.indexes.clear();
        let mut p = Planner::new(&bare);
        assert!(p.plan_streams(&sel, TimeRange::ALL).unwrap().is_empty());
        assert_eq!(p.partial().len(), 1);
    }

    #[test]
    fn stale_and_partial_indexes_agree_with_footers() {
        let dir = tempfile::tempdir().unwrap();
        let d = NANOS_PER_DAY;
        let api = l(&[("app", "api"), ("env", "prod")]);
        let web = l(&[("app", "web")]);
        let db = l(&[("app", "db"), ("env", "")]);
        let store = store_with(
            dir.path(),
            &[
                (
                    "1970-01-02",
                    vec![
                        (api.clone(), vec![d, d + 5, d + 9, d + 50]),
                        (web.clone(), vec![d + 100]),
                    ],
                ),
                (
                    "1970-01-02",
                    vec![(api.clone(), vec![d + 200]), (db.clone(), vec![d + 7])],
                ),
                (
                    "1970-01-03",
                    vec![(web.clone(), vec![2 * d + 1, 2 * d + 2])],
                ),
            ],
        );
        let tenant = store.tenant("t").unwrap();
        let full = tenant.snapshot().unwrap();
        assert_eq!(full.manifest.indexes.len(), 2);

        // Variants: the index as built; a segment the index covers gone
        // (compaction); a segment the index does not cover; no index.
        let mut gone = full.clone();
        gone.manifest.segments.retain(|s| s.id != 2);
        let mut partial = full.clone();
        partial.manifest.indexes[0].segments.retain(|&s| s != 1);
        let mut bare = full.clone();
        bare.manifest.indexes.clear();
        let mut bare_gone = gone.clone();
        bare_gone.manifest.indexes.clear();

        let selectors = vec![
            vec![],
            vec![m("app", MatchOp::Eq, "api")],
            vec![m("env", MatchOp::Eq, "")],
            vec![m("env", MatchOp::Re, "p.*")],
            vec![m("app", MatchOp::Nre, "api|db")],
        ];
        let ranges = [
            TimeRange::ALL,
            TimeRange::new(d + 6, d + 61),
            TimeRange::new(d + 10, d + 50),
            TimeRange::new(d, 2 * d),
            TimeRange::new(2 * d, 3 * d + 1),
        ];
        for (with, without) in [(&full, &bare), (&partial, &bare), (&gone, &bare_gone)] {
            for sel in &selectors {
                for &r in &ranges {
                    let a = plan_streams(with, sel, r).unwrap();
                    let b = plan_streams(without, sel, r).unwrap();
                    assert_eq!(a, b, "{sel:?} {r}");
                    assert_eq!(
                        series(with, sel, r).unwrap(),
                        series(without, sel, r).unwrap()
                    );
                }
            }
            for &r in &ranges {
                assert_eq!(
                    label_names(with, r).unwrap(),
                    label_names(without, r).unwrap()
                );
                for n in ["app", "env"] {
                    assert_eq!(
                        label_values(with, n, r).unwrap(),
                        label_values(without, n, r).unwrap(),
                        "{n} {r}"
                    );
                }
            }
        }

        // Only overlapping blocks come back; a gap between blocks gives nothing.
        let p = plan_streams(
            &full,
            &[m("app", MatchOp::Eq, "api")],
            TimeRange::new(d + 6, d + 61),
        )
        .unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].blocks.len(), 2);
        assert!(plan_streams(
            &full,
            &[m("app", MatchOp::Eq, "api")],
            TimeRange::new(d + 10, d + 50)
        )
        .unwrap()
        .is_empty());
        assert!(series(&full, &[], TimeRange::new(d + 10, d + 50))
            .unwrap()
            .is_empty());
        assert_eq!(
            label_values(&full, "app", TimeRange::ALL).unwrap(),
            vec!["api", "db", "web"]
        );
        assert_eq!(
            label_values(&full, "env", TimeRange::ALL).unwrap(),
            vec!["prod"]
        );
        assert_eq!(
            label_names(&full, TimeRange::new(2 * d, 3 * d + 1)).unwrap(),
            vec!["app"]
        );
        for snap in [&full, &bare, &gone, &bare_gone] {
            let mut p = Planner::new(snap);
            assert_eq!(
                p.time_bounds(&[m("app", MatchOp::Eq, "web")]).unwrap(),
                Some(TimeRange::new(d + 100, 2 * d + 3))
            );
            assert_eq!(
                p.time_bounds(&[m("app", MatchOp::Eq, "nope")]).unwrap(),
                None
            );
        }
    }

    /// A format 3 index verifies its pages as they are read, so damage can
    /// surface after the index has answered part of a day: wherever one
    /// page is flipped, every lookup still gives the footers' answer, each
    /// stream once, and the planner warns with the page.
    #[test]
    fn an_index_failing_midway_is_taken_over_by_the_footers() {
        let dir = tempfile::tempdir().unwrap();
        let d = NANOS_PER_DAY;
        let stream = |i: usize| {
            let app = format!("a{}", i % 7);
            let pod = format!("pod-{i:05}");
            l(&[("app", &app), ("pod", &pod)])
        };
        // Two segments of one day sharing 300 streams (merged from both),
        // and a second day.
        let seg = |ids: std::ops::Range<usize>, t: i64| -> Streams {
            ids.map(|i| (stream(i), vec![t + i as i64])).collect()
        };
        let store = store_with(
            dir.path(),
            &[
                ("1970-01-02", seg(0..1100, d)),
                ("1970-01-02", seg(800..1500, d + 10_000)),
                ("1970-01-03", seg(0..50, 2 * d)),
            ],
        );
        let snap = store.tenant("t").unwrap().snapshot().unwrap();
        let mut bare = snap.clone();
        bare.manifest.indexes.clear();
        let entry = &snap.manifest.indexes[0];
        assert_eq!(entry.day, "1970-01-02");
        let path = dir.path().join("t").join(&entry.path);
        let good = std::fs::read(&path).unwrap();
        let pages = DayIndex::open(&path).unwrap().section_ranges();
        let data_end = pages
            .iter()
            .find(|(n, _)| *n == "page checksums")
            .unwrap()
            .1
            .start;
        let selectors = [
            vec![],
            vec![m("app", MatchOp::Eq, "a3")],
            vec![m("pod", MatchOp::Re, "pod-02.*")],
            vec![
                m("app", MatchOp::Nre, "a1|a2"),
                m("pod", MatchOp::Neq, "pod-00007"),
            ],
        ];
        let ranges = [TimeRange::ALL, TimeRange::new(d + 900, d + 10_900)];
        // The footers' answers, once.
        let lookups: Vec<_> = selectors
            .iter()
            .flat_map(|sel| ranges.iter().map(move |&r| (sel, r)))
            .map(|(sel, r)| {
                let want = (
                    plan_streams(&bare, sel, r).unwrap(),
                    series(&bare, sel, r).unwrap(),
                    Planner::new(&bare).time_bounds(sel).unwrap(),
                );
                (sel, r, want)
            })
            .collect();
        let names: Vec<_> = ranges
            .iter()
            .map(|&r| {
                let values: Vec<_> = ["app", "pod"]
                    .iter()
                    .map(|n| label_values(&bare, n, r).unwrap())
                    .collect();
                (r, label_names(&bare, r).unwrap(), values)
            })
            .collect();
        let mut warned = 0;
        for page in 0..data_end.div_ceil(4096) {
            let mut bytes = good.clone();
            bytes[page * 4096 + 17] ^= 0x04;
            std::fs::write(&path, &bytes).unwrap();
            for (sel, r, (streams, want_series, bounds)) in &lookups {
                let mut p = Planner::new(&snap);
                let got = p.plan_streams(sel, *r).unwrap();
                assert!(got == *streams, "page {page}: {sel:?} {r}");
                if p.warnings()
                    .join("\n")
                    .contains(&format!("checksum mismatch in page {page} "))
                {
                    warned += 1;
                }
                assert!(
                    series(&snap, sel, *r).unwrap() == *want_series,
                    "page {page}: {sel:?}"
                );
                assert_eq!(
                    Planner::new(&snap).time_bounds(sel).unwrap(),
                    *bounds,
                    "page {page}"
                );
            }
            for (r, want_names, want_values) in &names {
                assert!(
                    label_names(&snap, *r).unwrap() == *want_names,
                    "page {page}"
                );
                for (n, want) in ["app", "pod"].iter().zip(want_values) {
                    assert!(
                        label_values(&snap, n, *r).unwrap() == *want,
                        "page {page}: {n} {r}"
                    );
                }
            }
        }
        assert!(warned > 0, "no lookup met a damaged page");
        std::fs::write(&path, &good).unwrap();
    }
}
