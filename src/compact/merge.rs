//! One day's merge: every stream's entries from all of the day's segments
//! in one time order, less what retention and deletes remove, written
//! through ingest's [`Packer`] (the block cutting, packing and compression
//! have one home) into output segments of about the target size.
//!
//! Memory is bounded by blocks, not streams: the day's footers are read one
//! stream at a time and merged in label order ([`DayInput::streams`], a
//! k-way merge as the index build does), each input segment keeps one
//! decoded block that the next stream's run of the same packed block reads
//! again without decompressing it (runs of packed blocks follow label
//! order, so each input block is decompressed once), and the packer holds a
//! few MiB of output before it compresses and writes them. A day of a
//! million streams in thirty segments merges in the memory of a day of ten.
//!
//! Order: a query reads equal timestamps of one stream in segment id order,
//! then by position in the segment (`engine/logquery.rs`). The k-way merge
//! keeps exactly that order — entries by time, ties by the input segment's
//! id, then by position — and the output segments of a day get ids in the
//! order they are written, so every query answers as before. No entry is
//! added or dropped except by retention and deletes; repeated entries are
//! entries.

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::chunk::block::{BlockCut, Metadata};
use crate::chunk::segment::SegmentError;
use crate::chunk::{Block, BlockMeta, SegmentFooter, SegmentReader, StreamChunk};
use crate::ingest::{run_fingerprint, BlockParams, OwnedRun, Packer, RunEntries};
use crate::model::Labels;
use crate::store::{PendingSegment, SegmentEntry, StoreError, TenantWriter};

use super::deletes::{LineTest, PendingDelete};
use super::{CompactObserver, Removed, RemovedStream};

/// One stream of a day: its chunks in the day's segments.
#[derive(Debug, Clone)]
pub(crate) struct StreamIn {
    pub labels: Labels,
    /// `(segment index in DayInput, the stream's blocks there)`, by
    /// segment id.
    pub chunks: Vec<(usize, Vec<BlockMeta>)>,
    pub raw: u64,
    pub entries: u64,
    pub min_t: i64,
    pub max_t: i64,
}

/// A day's segments, opened: their footers checked (read one stream at a
/// time by [`DayInput::streams`]) and their blocks readable.
pub(crate) struct DayInput {
    pub day: String,
    /// The day's live segments, by id.
    pub segments: Vec<SegmentEntry>,
    pub readers: Vec<Arc<SegmentReader>>,
    pub footers: Vec<Arc<SegmentFooter>>,
}

/// One opened segment of a day.
pub(crate) type OpenSegment = (SegmentEntry, Arc<SegmentReader>, Arc<SegmentFooter>);

impl DayInput {
    /// The day of `segs` (any order).
    pub fn new(day: &str, mut segs: Vec<OpenSegment>) -> DayInput {
        segs.sort_by_key(|(e, ..)| e.id);
        let mut d = DayInput {
            day: day.to_string(),
            segments: Vec::with_capacity(segs.len()),
            readers: Vec::with_capacity(segs.len()),
            footers: Vec::with_capacity(segs.len()),
        };
        for (e, r, f) in segs {
            d.segments.push(e);
            d.readers.push(r);
            d.footers.push(f);
        }
        d
    }

    /// Raw line bytes of the day.
    pub fn raw(&self) -> u64 {
        self.segments.iter().map(|s| s.raw_bytes).sum()
    }

    /// The day's streams in label order, each with its chunks in every
    /// segment, read from the footers one stream at a time.
    pub fn streams(&self) -> DayStreams<'_> {
        DayStreams {
            day: self,
            heap: BinaryHeap::new(),
            started: false,
            failed: false,
        }
    }
}

/// A segment's chunks still to read.
type Chunks<'d> = Box<dyn Iterator<Item = Result<StreamChunk, SegmentError>> + 'd>;

/// The next chunk of one segment of a merge.
struct Head<'d> {
    chunk: StreamChunk,
    seg: usize,
    rest: Chunks<'d>,
}

impl PartialEq for Head<'_> {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == std::cmp::Ordering::Equal
    }
}
impl Eq for Head<'_> {}
impl PartialOrd for Head<'_> {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Head<'_> {
    /// Reversed, for a min-heap: the smallest labels, then segment, first.
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (&o.chunk.labels, o.seg).cmp(&(&self.chunk.labels, self.seg))
    }
}

/// The streams of a day in label order ([`DayInput::streams`]).
pub(crate) struct DayStreams<'d> {
    day: &'d DayInput,
    heap: BinaryHeap<Head<'d>>,
    started: bool,
    failed: bool,
}

impl<'d> DayStreams<'d> {
    /// The next non-empty chunk of segment `seg`, which must sort after
    /// `prev` (format 2 footers are in label order; a format 1 footer was
    /// sorted when it was opened).
    fn chunk_after(
        &self,
        seg: usize,
        rest: &mut Chunks<'d>,
        prev: Option<&Labels>,
    ) -> Result<Option<StreamChunk>, StoreError> {
        for c in rest.by_ref() {
            let c = c?;
            if c.blocks.is_empty() {
                continue;
            }
            if prev.is_some_and(|p| c.labels <= *p) {
                return Err(SegmentError::Corrupt {
                    path: self.day.footers[seg].path().to_path_buf(),
                    what: format!(
                        "its footer lists {} out of label order (lokal writes them sorted); \
                         see `lokal check`",
                        c.labels
                    ),
                }
                .into());
            }
            return Ok(Some(c));
        }
        Ok(None)
    }

    fn start(&mut self) -> Result<(), StoreError> {
        for (seg, f) in self.day.footers.iter().enumerate() {
            let mut rest: Chunks<'d> = if f.version() >= 2 {
                f.streams()
            } else {
                // Old stores: a format 1 footer is small, decoded whole.
                let mut all = f.streams().collect::<Result<Vec<_>, _>>()?;
                all.sort_by(|a, b| a.labels.cmp(&b.labels));
                Box::new(all.into_iter().map(Ok))
            };
            if let Some(chunk) = self.chunk_after(seg, &mut rest, None)? {
                self.heap.push(Head { chunk, seg, rest });
            }
        }
        Ok(())
    }

    fn step(&mut self) -> Result<Option<StreamIn>, StoreError> {
        if !self.started {
            self.started = true;
            self.start()?;
        }
        let Some(mut h) = self.heap.pop() else {
            return Ok(None);
        };
        let mut s = StreamIn {
            labels: Labels::default(),
            chunks: Vec::new(),
            raw: 0,
            entries: 0,
            min_t: i64::MAX,
            max_t: i64::MIN,
        };
        loop {
            let seg = h.seg;
            let next = self.chunk_after(seg, &mut h.rest, Some(&h.chunk.labels))?;
            let chunk = match next {
                Some(n) => {
                    let c = std::mem::replace(&mut h.chunk, n);
                    self.heap.push(h);
                    c
                }
                None => h.chunk,
            };
            for b in &chunk.blocks {
                s.raw += b.line_bytes;
                s.entries += u64::from(b.entries);
                s.min_t = s.min_t.min(b.min_t);
                s.max_t = s.max_t.max(b.max_t);
            }
            let more = self
                .heap
                .peek()
                .is_some_and(|p| p.chunk.labels == chunk.labels);
            if s.chunks.is_empty() {
                s.labels = chunk.labels;
            }
            s.chunks.push((seg, chunk.blocks));
            if !more {
                return Ok(Some(s));
            }
            h = self.heap.pop().expect("peeked");
        }
    }
}

impl Iterator for DayStreams<'_> {
    type Item = Result<StreamIn, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.step() {
            Ok(s) => s.map(Ok),
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// What removes entries of one stream.
#[derive(Default)]
pub(crate) struct StreamFilter<'d> {
    /// Entries before this are expired.
    pub cutoff: Option<i64>,
    /// Delete requests that touch the stream: index into the run's list.
    pub deletes: Vec<(usize, &'d PendingDelete)>,
}

/// What a merge produced.
#[derive(Default)]
pub(crate) struct MergeOut {
    /// Output segments written to the sink's tenant, in order: the file
    /// and its summary.
    pub outputs: Vec<(PathBuf, SegmentEntry)>,
    pub removed: Removed,
    /// Entries each delete request removed (by the run's index).
    pub per_request: Vec<u64>,
}

/// Where the output goes: the scratch tenant's writer, or nowhere (a dry
/// run counts only).
pub(crate) struct Sink<'a, 'l> {
    pub tx: Option<&'a mut TenantWriter<'l>>,
    pub params: BlockParams,
    /// Line bytes per output segment.
    pub segment_bytes: u64,
}

/// One input chunk being read: its blocks in order, the current one decoded
/// (its segment's block, lent for the stream).
struct Cursor<'r> {
    seg: usize,
    reader: &'r SegmentReader,
    blocks: &'r [BlockMeta],
    next_block: usize,
    block: Block,
    pos: usize,
}

/// What one stream's merge removed.
#[derive(Default)]
struct Counts {
    gone: RemovedStream,
    by_retention: u64,
    by_delete: u64,
    /// `(request index, entries)`.
    per_request: Vec<(usize, u64)>,
}

impl Counts {
    fn remove(&mut self, by: Option<usize>, n: u64, bytes: u64) {
        self.gone.entries += n;
        self.gone.bytes += bytes;
        match by {
            None => self.by_retention += n,
            Some(ri) => {
                self.by_delete += n;
                match self.per_request.iter_mut().find(|(i, _)| *i == ri) {
                    Some(c) => c.1 += n,
                    None => self.per_request.push((ri, n)),
                }
            }
        }
    }
}

/// Pending line bytes past which a merge writes a stream's blocks before
/// the stream ends (between streams, the packer's own threshold applies).
const MID_STREAM_FLUSH_BYTES: usize = if cfg!(test) { 16 << 10 } else { 64 << 20 };

/// The merged streams on their way into output segments: each stream's
/// surviving entries are cut as ingest cuts a stream's day (packed when
/// small, else blocks of its own), and a segment is closed once it holds
/// the target line bytes and more come (so a day needs at most
/// [`super::planned_segments`] of them).
struct Output<'s, 'l> {
    tx: &'s mut TenantWriter<'l>,
    day: &'s str,
    segment_bytes: u64,
    packer: Packer<'static>,
    seg: Option<PendingSegment>,
    /// Line bytes handed to the packer for `seg`.
    seg_raw: u64,
    /// The current stream's entries not yet handed on.
    run: OwnedRun,
    cut: BlockCut,
    /// The current stream has blocks of its own (it is not small).
    large: bool,
    outputs: Vec<(PathBuf, SegmentEntry)>,
}

impl<'s, 'l> Output<'s, 'l> {
    fn new(tx: &'s mut TenantWriter<'l>, day: &'s str, sink: (BlockParams, u64)) -> Self {
        let packer = Packer::new(sink.0);
        Output {
            tx,
            day,
            segment_bytes: sink.1.max(1),
            cut: packer.cut(),
            packer,
            seg: None,
            seg_raw: 0,
            run: OwnedRun::default(),
            large: false,
            outputs: Vec::new(),
        }
    }

    fn begin(&mut self, labels: &Labels) {
        self.packer
            .begin_stream(Cow::Owned(labels.clone()), run_fingerprint(labels));
        self.cut = self.packer.cut();
        self.large = false;
    }

    fn push(&mut self, ts: i64, line: &[u8], md: Option<Box<Metadata>>) -> Result<(), StoreError> {
        if self.cut.starts_block(line.len()) {
            self.large = true;
            let run = std::mem::take(&mut self.run);
            self.place(run, true)?;
        }
        self.run.push(ts, line, md);
        if self.run.bytes() > self.packer.small_bytes() {
            self.large = true;
        }
        Ok(())
    }

    fn end_stream(&mut self) -> Result<(), StoreError> {
        let run = std::mem::take(&mut self.run);
        if !run.is_empty() {
            self.place(run, self.large)?;
        }
        // As ingest's writer: pending blocks are written between streams,
        // so the blocks are packed as ingest packs them (a flush closes the
        // open packed block).
        if self.packer.full() {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the pending blocks to the segment being filled.
    fn flush(&mut self) -> Result<(), StoreError> {
        if let Some(seg) = &mut self.seg {
            self.packer.flush(&mut seg.writer)?;
        }
        Ok(())
    }

    /// Hands a run to the packer: a block of its own, or the stream's
    /// whole (small) day to pack.
    fn place(&mut self, run: OwnedRun, own: bool) -> Result<(), StoreError> {
        if self.seg_raw >= self.segment_bytes {
            self.close()?;
        }
        if self.seg.is_none() {
            self.seg_raw = 0;
            self.seg = Some(self.tx.create_segment(self.day)?);
        }
        let bytes = run.bytes();
        self.seg_raw += bytes as u64;
        if own {
            self.packer.add_own(RunEntries::Owned(run), bytes);
        } else {
            self.packer.add_packed(RunEntries::Owned(run), bytes);
        }
        if self.packer.pending_bytes() >= MID_STREAM_FLUSH_BYTES {
            // A stream this large in one day: its blocks so far are written
            // now, not held to its end.
            self.flush()?;
        }
        Ok(())
    }

    /// Writes what is pending and publishes the segment being filled.
    fn close(&mut self) -> Result<(), StoreError> {
        self.flush()?;
        if let Some(seg) = self.seg.take() {
            let e = self.tx.publish(seg)?;
            self.outputs.push((self.tx.segment_path(&e), e));
        }
        Ok(())
    }
}

/// Merges `day` into `sink`, one stream at a time in label order;
/// `filter_of` gives each stream's retention and deletes as it comes.
pub(crate) fn merge_day<'d>(
    day: &DayInput,
    filter_of: &dyn Fn(&StreamIn) -> StreamFilter<'d>,
    n_requests: usize,
    sink: &mut Sink<'_, '_>,
    obs: &dyn CompactObserver,
) -> Result<MergeOut, StoreError> {
    let mut out = MergeOut {
        per_request: vec![0; n_requests],
        ..Default::default()
    };
    // One decoded block per input segment, kept from one stream to the
    // next: the next stream's run of a packed block is read from it.
    let mut slots: Vec<Block> = vec![Block::default(); day.readers.len()];
    // A dry run (no writer) only counts what would be removed.
    let (params, segment_bytes) = (sink.params, sink.segment_bytes);
    let mut output = sink
        .tx
        .as_deref_mut()
        .map(|tx| Output::new(tx, &day.day, (params, segment_bytes)));
    for s in day.streams() {
        let s = s?;
        let filter = filter_of(&s);
        if let Some(o) = output.as_mut() {
            o.begin(&s.labels);
        }
        let counts =
            merge_stream(
                day,
                &s,
                &mut slots,
                &filter,
                obs,
                &mut |ts, line, md| match output.as_mut() {
                    Some(o) => o.push(ts, line, md),
                    None => Ok(()),
                },
            )?;
        if let Some(o) = output.as_mut() {
            o.end_stream()?;
        }
        absorb(&mut out, counts, &s);
    }
    if let Some(mut o) = output {
        o.close()?;
        out.outputs = o.outputs;
    }
    Ok(out)
}

fn absorb(out: &mut MergeOut, c: Counts, stream: &StreamIn) {
    out.removed.by_retention += c.by_retention;
    out.removed.by_delete += c.by_delete;
    for (ri, n) in c.per_request {
        out.per_request[ri] += n;
    }
    if c.gone.entries > 0 {
        let mut gone = c.gone;
        gone.whole = gone.entries == stream.entries;
        gone.labels = stream.labels.to_string();
        out.removed.entries += gone.entries;
        out.removed.bytes += gone.bytes;
        out.removed.streams.push(gone);
    }
}

/// Receives a merged stream's surviving entries: time, line, metadata.
type Emit<'e> = dyn FnMut(i64, &[u8], Option<Box<Metadata>>) -> Result<(), StoreError> + 'e;

/// Merges `stream`: `emit` gets each surviving entry in the order queries
/// read them (time, then input segment id, then position). `slots` hold
/// each input segment's last decoded block, lent to the stream's cursors
/// and handed back.
fn merge_stream(
    day: &DayInput,
    stream: &StreamIn,
    slots: &mut [Block],
    filter: &StreamFilter<'_>,
    obs: &dyn CompactObserver,
    emit: &mut Emit<'_>,
) -> Result<Counts, StoreError> {
    let mut cursors: Vec<Cursor<'_>> = stream
        .chunks
        .iter()
        .map(|(seg, blocks)| Cursor {
            seg: *seg,
            reader: &day.readers[*seg],
            blocks,
            next_block: 0,
            block: std::mem::take(&mut slots[*seg]),
            pos: 0,
        })
        .collect();
    let r = merge_cursors(&mut cursors, stream, filter, obs, emit);
    for c in cursors {
        slots[c.seg] = c.block;
    }
    r
}

fn merge_cursors(
    cursors: &mut [Cursor<'_>],
    stream: &StreamIn,
    filter: &StreamFilter<'_>,
    obs: &dyn CompactObserver,
    emit: &mut Emit<'_>,
) -> Result<Counts, StoreError> {
    let mut counts = Counts::default();
    let mut tests: Vec<(usize, i64, i64, LineTest)> = filter
        .deletes
        .iter()
        .map(|(i, d)| {
            (
                *i,
                d.request.start,
                d.request.end,
                d.query.for_stream(&stream.labels),
            )
        })
        .collect();
    // Requests without line filters remove whole blocks inside their range.
    let whole: Vec<(usize, i64, i64)> = filter
        .deletes
        .iter()
        .filter(|(_, d)| d.query.whole_lines())
        .map(|(i, d)| (*i, d.request.start, d.request.end))
        .collect();
    let mut heap: BinaryHeap<Reverse<(i64, usize)>> = BinaryHeap::new();
    for (ci, c) in cursors.iter_mut().enumerate() {
        if let Some(ts) = advance(c, filter.cutoff, &whole, &mut counts, obs)? {
            heap.push(Reverse((ts, ci)));
        }
    }
    while let Some(Reverse((_, ci))) = heap.pop() {
        let c = &mut cursors[ci];
        // Entries of this cursor up to the next head of another one come
        // out in a run, without going through the heap.
        let limit = heap.peek().map(|Reverse(k)| *k);
        loop {
            let i = c.pos;
            let ts = c.block.ts[i];
            let line = c.block.line(i);
            let mut removed_by = None;
            if filter.cutoff.is_some_and(|cut| ts < cut) {
                removed_by = Some(None);
            } else {
                for (ri, start, end, t) in tests.iter_mut() {
                    if *start <= ts && ts <= *end && t.deletes(ts, line) {
                        removed_by = Some(Some(*ri));
                        break;
                    }
                }
            }
            match removed_by {
                Some(by) => counts.remove(by, 1, line.len() as u64),
                None => {
                    let metadata = if c.block.has_metadata() {
                        let mut md = Vec::new();
                        c.block.metadata(i, &mut md);
                        (!md.is_empty()).then(|| {
                            md.iter()
                                .map(|(k, v)| (k.to_string(), v.to_string()))
                                .collect::<Vec<_>>()
                                .into_boxed_slice()
                        })
                    } else {
                        None
                    };
                    emit(ts, line, metadata)?;
                }
            }
            c.pos += 1;
            match head(c, filter.cutoff, &whole, &mut counts, obs)? {
                None => break,
                // Still before every other cursor's head (ties go to the
                // lower cursor, the older segment).
                Some(next) if limit.is_none_or(|l| (next, ci) < l) => continue,
                Some(next) => {
                    heap.push(Reverse((next, ci)));
                    break;
                }
            }
        }
    }
    Ok(counts)
}

/// The timestamp of the cursor's next entry, loading the next block when
/// the current one is done.
fn head(
    c: &mut Cursor<'_>,
    cutoff: Option<i64>,
    whole: &[(usize, i64, i64)],
    counts: &mut Counts,
    obs: &dyn CompactObserver,
) -> Result<Option<i64>, StoreError> {
    if c.pos < c.block.len() {
        return Ok(Some(c.block.ts[c.pos]));
    }
    advance(c, cutoff, whole, counts, obs)
}

/// Loads the cursor's next block that holds a surviving entry. A block
/// wholly expired, or wholly inside a delete without line filters, is
/// counted from its footer entry and not read. The last block read stays
/// decoded: the next stream's run of it (a packed block) is read from it.
fn advance(
    c: &mut Cursor<'_>,
    cutoff: Option<i64>,
    whole: &[(usize, i64, i64)],
    counts: &mut Counts,
    obs: &dyn CompactObserver,
) -> Result<Option<i64>, StoreError> {
    while c.next_block < c.blocks.len() {
        let meta = &c.blocks[c.next_block];
        c.next_block += 1;
        obs.advance(meta.line_bytes);
        let by = if cutoff.is_some_and(|cut| meta.max_t < cut) {
            Some(None)
        } else {
            whole
                .iter()
                .find(|(_, s, e)| *s <= meta.min_t && meta.max_t <= *e)
                .map(|(ri, ..)| Some(*ri))
        };
        if let Some(by) = by {
            counts.remove(by, u64::from(meta.entries), meta.line_bytes);
            continue;
        }
        c.reader.read_block(meta, &mut c.block)?;
        c.pos = 0;
        if !c.block.is_empty() {
            return Ok(Some(c.block.ts[0]));
        }
    }
    c.pos = c.block.len();
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use crate::compact::Silent;
    use crate::ingest::{write_segments, StreamEntries};
    use crate::store::{DeleteRequest, DeleteStatus, Store};
    use proptest::prelude::*;

    /// 2024-01-01T00:00:00Z, ns.
    const DAY0: i64 = 1_704_067_200_000_000_000;

    /// An entry expected back: time, input segment, position, line.
    type Expected = (i64, usize, usize, Vec<u8>);

    fn labels(stream: usize) -> Labels {
        Labels::from_pairs([("s".to_string(), stream.to_string())])
    }

    /// A line: repeated ids repeat lines; every third holds "x".
    fn line(stream: usize, id: u16) -> Vec<u8> {
        let x = if id.is_multiple_of(3) { " x" } else { "" };
        format!("s{stream} line {id}{x}").into_bytes()
    }

    /// The day 2024-01-01 of `tenant`, every segment of it.
    fn whole_day(tenant: &crate::store::Tenant) -> DayInput {
        let snap = tenant.snapshot().unwrap();
        let segs = snap.manifest.segments.clone();
        super::super::open_day(&snap, "2024-01-01", segs, &mut Default::default()).unwrap()
    }

    /// Writes each inner list as one segment (entries `(stream, second, line
    /// id)`, stable-sorted by time as ingest hands them over), merges the day
    /// with `cutoff` and an optional delete `(stream, from s, to s, |= "x")`,
    /// and checks the outputs entry by entry against a sort by (time,
    /// segment, position) less exactly what the cutoff and the delete
    /// remove; the dry run must count the same removals.
    fn check(
        segs: &[Vec<(usize, i64, u16)>],
        cutoff: Option<i64>,
        delete: Option<(usize, i64, i64, bool)>,
        segment_bytes: u64,
        block_bytes: usize,
    ) -> Result<(), TestCaseError> {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("store"));
        let tenant = store.tenant("t").unwrap();
        let lock = store.lock_writer(None, || {}).unwrap();
        let params = BlockParams {
            zstd_level: 1,
            block_bytes,
        };
        // Expected: per stream, (ts, segment, position, line).
        let mut want: BTreeMap<usize, Vec<Expected>> = BTreeMap::new();
        for (si, seg) in segs.iter().enumerate() {
            let mut by_stream: BTreeMap<usize, Vec<(i64, Vec<u8>)>> = BTreeMap::new();
            for &(s, sec, id) in seg {
                by_stream
                    .entry(s)
                    .or_default()
                    .push((DAY0 + sec * 1_000_000_000, line(s, id)));
            }
            let mut streams = Vec::new();
            for (s, mut es) in by_stream {
                es.sort_by_key(|e| e.0);
                for (pos, (ts, l)) in es.iter().enumerate() {
                    want.entry(s).or_default().push((*ts, si, pos, l.clone()));
                }
                streams.push(StreamEntries {
                    labels: labels(s),
                    entries: es
                        .into_iter()
                        .map(|(ts, l)| (ts, Cow::Owned(l), None))
                        .collect(),
                    valid: true,
                });
            }
            let mut tx = tenant.begin_write(&lock).unwrap();
            write_segments(&mut tx, &streams, params).unwrap();
            tx.commit().unwrap();
        }
        let requests: Vec<DeleteRequest> = delete
            .iter()
            .map(|&(s, from, to, filter)| DeleteRequest {
                id: "d".into(),
                query: format!("{{s=\"{s}\"}}{}", if filter { r#" |= "x""# } else { "" }),
                start: DAY0 + from * 1_000_000_000,
                end: DAY0 + to * 1_000_000_000,
                created_at: 0,
                status: DeleteStatus::Received,
                processed_at: None,
                deleted_entries: 0,
            })
            .collect();
        let (pending, errors) = PendingDelete::pending(&requests);
        prop_assert!(errors.is_empty(), "{errors:?}");
        let gone = |s: usize, ts: i64, l: &[u8]| {
            cutoff.is_some_and(|c| ts < c)
                || delete.is_some_and(|(ds, from, to, filter)| {
                    ds == s
                        && DAY0 + from * 1_000_000_000 <= ts
                        && ts <= DAY0 + to * 1_000_000_000
                        && (!filter || l.ends_with(b" x"))
                })
        };
        let mut removed = 0u64;
        for (&s, es) in want.iter_mut() {
            es.sort_by_key(|e| (e.0, e.1, e.2));
            let before = es.len();
            es.retain(|(ts, _, _, l)| !gone(s, *ts, l));
            removed += (before - es.len()) as u64;
        }
        want.retain(|_, es| !es.is_empty());

        let day = whole_day(&tenant);
        let filter_of = |s: &StreamIn| StreamFilter {
            cutoff,
            deletes: pending
                .iter()
                .enumerate()
                .filter(|(_, d)| d.touches(&s.labels, s.min_t, s.max_t))
                .collect(),
        };
        let mut dry = Sink {
            tx: None,
            params,
            segment_bytes,
        };
        let counted = merge_day(&day, &filter_of, pending.len(), &mut dry, &Silent).unwrap();
        prop_assert_eq!(counted.removed.entries, removed);
        prop_assert!(counted.outputs.is_empty());

        let scratch = Store::new(dir.path().join("scratch"));
        let slock = scratch.lock_writer(None, || {}).unwrap();
        let stenant = scratch.tenant("w").unwrap();
        let mut stx = stenant.begin_write(&slock).unwrap();
        let mut sink = Sink {
            tx: Some(&mut stx),
            params,
            segment_bytes,
        };
        let out = merge_day(&day, &filter_of, pending.len(), &mut sink, &Silent).unwrap();
        prop_assert_eq!(out.removed.entries, removed);
        prop_assert_eq!(out.removed.by_retention + out.removed.by_delete, removed);
        prop_assert_eq!(out.per_request.iter().sum::<u64>(), out.removed.by_delete);
        let kept: u64 = want.values().map(|v| v.len() as u64).sum();
        let kept_raw: u64 = want.values().flatten().map(|e| e.3.len() as u64).sum();
        prop_assert!(
            out.outputs.len() as u64 <= super::super::planned_segments(kept_raw, segment_bytes),
            "{} outputs for {kept_raw} bytes at {segment_bytes}",
            out.outputs.len()
        );
        // Read back in output order: each stream's entries in the merged order.
        let mut got: BTreeMap<usize, Vec<(i64, Vec<u8>)>> = BTreeMap::new();
        let mut block = Block::default();
        for (path, entry) in &out.outputs {
            prop_assert_eq!(&entry.day, "2024-01-01");
            let r = SegmentReader::open(path).unwrap();
            for c in r.streams() {
                let s: usize = c.labels.get("s").unwrap().parse().unwrap();
                for meta in &c.blocks {
                    prop_assert!(meta.line_bytes as usize <= block_bytes || meta.entries == 1);
                    r.read_block(meta, &mut block).unwrap();
                    for i in 0..block.len() {
                        got.entry(s)
                            .or_default()
                            .push((block.ts[i], block.line(i).to_vec()));
                    }
                }
            }
        }
        let want: BTreeMap<usize, Vec<(i64, Vec<u8>)>> = want
            .into_iter()
            .map(|(s, es)| (s, es.into_iter().map(|e| (e.0, e.3)).collect()))
            .collect();
        prop_assert_eq!(got.values().map(|v| v.len() as u64).sum::<u64>(), kept);
        prop_assert_eq!(got, want);
        Ok(())
    }

    fn segs() -> impl Strategy<Value = Vec<Vec<(usize, i64, u16)>>> {
        // Few streams, seconds and line ids: ties and repeats are common.
        prop::collection::vec(
            prop::collection::vec((0usize..4, 0i64..40, 0u16..12), 0..40),
            1..7,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Merging never adds, drops or reorders an entry (ties by input
        /// segment, then position), whatever the segment and block sizes;
        /// retention and a delete remove exactly their entries.
        #[test]
        fn merge_keeps_every_entry_in_query_order(
            segs in segs(),
            cutoff in prop::option::of(0i64..40),
            delete in prop::option::of((0usize..4, 0i64..40, 0i64..40, any::<bool>())),
            segment_bytes in 1u64..600,
            block_bytes in 1usize..200,
        ) {
            let cutoff = cutoff.map(|c| DAY0 + c * 1_000_000_000);
            check(&segs, cutoff, delete, segment_bytes, block_bytes)?;
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// The merge cuts and packs blocks exactly as ingest does (one
        /// implementation, the packer): merging a day of one segment that
        /// ingest wrote rewrites it byte for byte, whatever mix of small
        /// (packed) and large (own blocks) streams it holds.
        #[test]
        fn merging_one_ingested_segment_rewrites_it_byte_for_byte(
            sizes in prop::collection::vec((1usize..40, 1usize..60), 1..12),
            block_bytes in 50usize..400,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::new(dir.path().join("store"));
            let tenant = store.tenant("t").unwrap();
            let lock = store.lock_writer(None, || {}).unwrap();
            let params = BlockParams { zstd_level: 1, block_bytes };
            let streams: Vec<StreamEntries<'_>> = sizes
                .iter()
                .enumerate()
                .map(|(s, &(n, len))| StreamEntries {
                    labels: labels(s),
                    entries: (0..n)
                        .map(|i| {
                            let l = format!("{s}:{i}:{}", "x".repeat(len)).into_bytes();
                            (DAY0 + i as i64 * 1_000_000, Cow::Owned(l), None)
                        })
                        .collect(),
                    valid: true,
                })
                .collect();
            let mut tx = tenant.begin_write(&lock).unwrap();
            let written = write_segments(&mut tx, &streams, params).unwrap();
            tx.commit().unwrap();
            let input = std::fs::read(dir.path().join("store/t").join(&written[0].path)).unwrap();

            let day = whole_day(&tenant);
            let scratch = Store::new(dir.path().join("scratch"));
            let slock = scratch.lock_writer(None, || {}).unwrap();
            let stenant = scratch.tenant("w").unwrap();
            let mut stx = stenant.begin_write(&slock).unwrap();
            let mut sink = Sink { tx: Some(&mut stx), params, segment_bytes: u64::MAX };
            let keep = |_: &StreamIn| StreamFilter::default();
            let out = merge_day(&day, &keep, 0, &mut sink, &Silent).unwrap();
            prop_assert_eq!(out.outputs.len(), 1);
            let output = std::fs::read(&out.outputs[0].0).unwrap();
            prop_assert!(input == output, "{} bytes in, {} out", input.len(), output.len());
        }
    }

    #[test]
    fn one_large_stream_is_cut_into_segments_in_order() {
        let seg: Vec<(usize, i64, u16)> = (0..300)
            .map(|i| (1, 299 - i as i64 % 50, i as u16 % 40))
            .collect();
        check(&[seg.clone(), seg], None, None, 500, 64).unwrap();
    }
}
