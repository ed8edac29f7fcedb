//! One day's merge: every stream's entries from all of the day's segments
//! in one time order, less what retention and deletes remove, cut into
//! output groups of about the target size and handed to ingest's segment
//! writer ([`crate::ingest::write_segments`]: the block format and the
//! compression have one home).
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

use rayon::prelude::*;

use crate::chunk::block::Metadata;
use crate::chunk::{Block, BlockMeta, SegmentReader};
use crate::ingest::{write_segments, BlockParams, StreamEntries};
use crate::model::Labels;
use crate::store::{SegmentEntry, StoreError, TenantWriter};

use super::deletes::{LineTest, PendingDelete};
use super::{CompactObserver, Removed, RemovedStream};

/// One stream of a day: its chunks in the day's segments.
#[derive(Debug, Clone)]
pub(crate) struct StreamIn {
    pub labels: Labels,
    /// `(segment index in DayInput::readers, chunk index in its footer)`,
    /// by segment id.
    pub chunks: Vec<(usize, usize)>,
    pub raw: u64,
    pub entries: u64,
    pub min_t: i64,
    pub max_t: i64,
}

/// A day's segments, opened, and its streams in label order.
pub(crate) struct DayInput {
    pub day: String,
    /// The day's live segments, by id.
    pub segments: Vec<SegmentEntry>,
    pub readers: Vec<Arc<SegmentReader>>,
    pub streams: Vec<StreamIn>,
}

impl DayInput {
    /// Groups the segments' chunks by stream (label order).
    pub fn new(day: &str, mut segs: Vec<(SegmentEntry, Arc<SegmentReader>)>) -> DayInput {
        segs.sort_by_key(|(e, _)| e.id);
        let mut by_labels: std::collections::BTreeMap<Labels, StreamIn> = Default::default();
        for (si, (_, r)) in segs.iter().enumerate() {
            for (ci, c) in r.streams().iter().enumerate() {
                if c.blocks.is_empty() {
                    continue;
                }
                let s = by_labels
                    .entry(c.labels.clone())
                    .or_insert_with(|| StreamIn {
                        labels: c.labels.clone(),
                        chunks: Vec::new(),
                        raw: 0,
                        entries: 0,
                        min_t: i64::MAX,
                        max_t: i64::MIN,
                    });
                s.chunks.push((si, ci));
                for b in &c.blocks {
                    s.raw += b.line_bytes;
                    s.entries += u64::from(b.entries);
                    s.min_t = s.min_t.min(b.min_t);
                    s.max_t = s.max_t.max(b.max_t);
                }
            }
        }
        let (segments, readers) = segs.into_iter().unzip();
        DayInput {
            day: day.to_string(),
            segments,
            readers,
            streams: by_labels.into_values().collect(),
        }
    }

    /// Raw line bytes of the day.
    pub fn raw(&self) -> u64 {
        self.streams.iter().map(|s| s.raw).sum()
    }
}

/// What removes entries of one stream.
pub(crate) struct StreamFilter<'d> {
    /// Entries before this are expired.
    pub cutoff: Option<i64>,
    /// Delete requests that touch the stream: index into the run's list.
    pub deletes: Vec<(usize, &'d PendingDelete)>,
}

/// What a merge produced.
#[derive(Default)]
pub(crate) struct MergeOut {
    /// Output segments written to the scratch tenant, in order: the file
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

/// One input chunk being read: its blocks in order, the current one decoded.
struct Cursor<'r> {
    reader: &'r SegmentReader,
    blocks: &'r [BlockMeta],
    next_block: usize,
    block: Block,
    pos: usize,
}

/// A kept entry: `(ts, offset and length of its line in the arena, metadata)`.
type Kept = (i64, usize, usize, Option<Box<Metadata>>);

/// Merged entries of (part of) one stream: the lines back to back.
#[derive(Default)]
struct Merged {
    arena: Vec<u8>,
    entries: Vec<Kept>,
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

/// The output segment being filled: pieces of merged streams, in label
/// order (a stream larger than what is left of the segment is split).
#[derive(Default)]
struct Group {
    pieces: Vec<(usize, Arc<Merged>, std::ops::Range<usize>)>,
    bytes: u64,
}

/// Merges `day` into `sink`; `filters[i]` is stream i's. Streams smaller
/// than an output segment are merged in parallel, a batch of what is left
/// of the segment being filled at a time; a larger one alone, handed on in
/// segment-sized parts. So the merged lines held stay about one output
/// segment (plus the largest stream below it).
pub(crate) fn merge_day(
    day: &DayInput,
    filters: &[StreamFilter<'_>],
    n_requests: usize,
    sink: &mut Sink<'_, '_>,
    obs: &dyn CompactObserver,
) -> Result<MergeOut, StoreError> {
    let mut out = MergeOut {
        per_request: vec![0; n_requests],
        ..Default::default()
    };
    let mut group = Group::default();
    let target = sink.segment_bytes.max(1);
    // A dry run (no writer) only counts what would be removed: nothing is
    // kept, so it reads a day of any size in the memory of a few blocks.
    let keep = sink.tx.is_some();
    let mut i = 0;
    while i < day.streams.len() {
        if day.streams[i].raw > target {
            // One large stream, cut into parts as it is merged.
            let mut part = Merged::default();
            let mut err = None;
            let counts = merge_stream(day, i, &filters[i], obs, &mut |ts, line, md| {
                if !keep || err.is_some() {
                    return;
                }
                let off = part.arena.len();
                part.arena.extend_from_slice(line);
                part.entries.push((ts, off, line.len(), md));
                if group.bytes + part.arena.len() as u64 >= target {
                    let p = Arc::new(std::mem::take(&mut part));
                    let n = p.entries.len();
                    group.bytes += p.arena.len() as u64;
                    group.pieces.push((i, p, 0..n));
                    if let Err(e) = flush(&mut group, day, sink, &mut out) {
                        err = Some(e);
                    }
                }
            })?;
            if let Some(e) = err {
                return Err(e);
            }
            absorb(&mut out, counts, day.streams[i].entries);
            if !part.entries.is_empty() {
                let n = part.entries.len();
                group.bytes += part.arena.len() as u64;
                group.pieces.push((i, Arc::new(part), 0..n));
            }
            i += 1;
            continue;
        }
        // A batch fills what is left of the output segment, so the group
        // and the batch together stay about one segment.
        let room = target.saturating_sub(group.bytes);
        let mut j = i;
        let mut raw = 0;
        while j < day.streams.len()
            && day.streams[j].raw <= target
            && (j == i || raw + day.streams[j].raw <= room)
        {
            raw += day.streams[j].raw;
            j += 1;
        }
        let merged: Vec<Result<(Merged, Counts), StoreError>> = (i..j)
            .into_par_iter()
            .map(|si| {
                let mut m = Merged::default();
                let c = merge_stream(day, si, &filters[si], obs, &mut |ts, line, md| {
                    if !keep {
                        return;
                    }
                    let off = m.arena.len();
                    m.arena.extend_from_slice(line);
                    m.entries.push((ts, off, line.len(), md));
                })?;
                Ok((m, c))
            })
            .collect();
        for (si, r) in (i..j).zip(merged) {
            let (m, counts) = r?;
            absorb(&mut out, counts, day.streams[si].entries);
            let m = Arc::new(m);
            let mut start = 0;
            while start < m.entries.len() {
                // Entries up to the one that fills the segment.
                let mut end = start;
                let mut bytes = 0u64;
                while end < m.entries.len() {
                    bytes += m.entries[end].2 as u64;
                    end += 1;
                    if group.bytes + bytes >= target {
                        break;
                    }
                }
                group.bytes += bytes;
                group.pieces.push((si, m.clone(), start..end));
                if group.bytes >= target {
                    flush(&mut group, day, sink, &mut out)?;
                }
                start = end;
            }
        }
        i = j;
    }
    flush(&mut group, day, sink, &mut out)?;
    Ok(out)
}

fn absorb(out: &mut MergeOut, c: Counts, stream_entries: u64) {
    out.removed.by_retention += c.by_retention;
    out.removed.by_delete += c.by_delete;
    for (ri, n) in c.per_request {
        out.per_request[ri] += n;
    }
    if c.gone.entries > 0 {
        let mut gone = c.gone;
        gone.whole = gone.entries == stream_entries;
        out.removed.entries += gone.entries;
        out.removed.bytes += gone.bytes;
        out.removed.streams.push(gone);
    }
}

/// Receives a merged stream's surviving entries: time, line, metadata.
type Emit<'e> = dyn FnMut(i64, &[u8], Option<Box<Metadata>>) + 'e;

/// Merges stream `si` of `day`: `emit` gets each surviving entry in the
/// order queries read them (time, then input segment id, then position).
fn merge_stream(
    day: &DayInput,
    si: usize,
    filter: &StreamFilter<'_>,
    obs: &dyn CompactObserver,
    emit: &mut Emit<'_>,
) -> Result<Counts, StoreError> {
    let stream = &day.streams[si];
    let mut counts = Counts {
        gone: RemovedStream {
            labels: stream.labels.to_string(),
            ..Default::default()
        },
        ..Default::default()
    };
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
    let mut cursors: Vec<Cursor<'_>> = stream
        .chunks
        .iter()
        .map(|&(seg, ci)| Cursor {
            reader: &day.readers[seg],
            blocks: &day.readers[seg].streams()[ci].blocks,
            next_block: 0,
            block: Block::default(),
            pos: 0,
        })
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
                    emit(ts, line, metadata);
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
/// counted from its footer entry and not read.
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
    c.block = Block::default();
    c.pos = 0;
    Ok(None)
}

/// Writes the group as one segment through ingest's writer.
fn flush(
    group: &mut Group,
    day: &DayInput,
    sink: &mut Sink<'_, '_>,
    out: &mut MergeOut,
) -> Result<(), StoreError> {
    if group.pieces.is_empty() {
        return Ok(());
    }
    if let Some(tx) = sink.tx.as_deref_mut() {
        let streams: Vec<StreamEntries<'_>> = group
            .pieces
            .iter()
            .map(|(si, m, r)| StreamEntries {
                labels: day.streams[*si].labels.clone(),
                entries: m.entries[r.clone()]
                    .iter()
                    .map(|(ts, off, len, md)| {
                        (*ts, Cow::Borrowed(&m.arena[*off..*off + *len]), md.clone())
                    })
                    .collect(),
                valid: true,
            })
            .collect();
        for e in write_segments(tx, &streams, sink.params)? {
            out.outputs.push((tx.segment_path(&e), e));
        }
    }
    group.pieces.clear();
    group.bytes = 0;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use crate::compact::Silent;
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

        let snap = tenant.snapshot().unwrap();
        let mut open = Default::default();
        let day = super::super::open_day(
            &snap,
            "2024-01-01",
            snap.manifest.segments.clone(),
            &mut open,
        )
        .unwrap();
        let filters: Vec<StreamFilter<'_>> = day
            .streams
            .iter()
            .map(|s| StreamFilter {
                cutoff,
                deletes: pending
                    .iter()
                    .enumerate()
                    .filter(|(_, d)| d.touches(&s.labels, s.min_t, s.max_t))
                    .collect(),
            })
            .collect();
        let mut dry = Sink {
            tx: None,
            params,
            segment_bytes,
        };
        let counted = merge_day(&day, &filters, pending.len(), &mut dry, &Silent).unwrap();
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
        let out = merge_day(&day, &filters, pending.len(), &mut sink, &Silent).unwrap();
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

    #[test]
    fn one_large_stream_is_cut_into_segments_in_order() {
        let seg: Vec<(usize, i64, u16)> = (0..300)
            .map(|i| (1, 299 - i as i64 % 50, i as u16 % 40))
            .collect();
        check(&[seg.clone(), seg], None, None, 500, 64).unwrap();
    }
}
