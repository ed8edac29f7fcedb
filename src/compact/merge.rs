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
    pub fn new(
        day: &str,
        mut segs: Vec<(SegmentEntry, Arc<SegmentReader>)>,
    ) -> DayInput {
        segs.sort_by_key(|(e, _)| e.id);
        let mut by_labels: std::collections::BTreeMap<Labels, StreamIn> = Default::default();
        for (si, (_, r)) in segs.iter().enumerate() {
            for (ci, c) in r.streams().iter().enumerate() {
                if c.blocks.is_empty() {
                    continue;
                }
                let s = by_labels.entry(c.labels.clone()).or_insert_with(|| StreamIn {
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

/// The group being filled: line bytes back to back, and per stream its
/// entries `(ts, offset, len, metadata)`.
#[derive(Default)]
struct Group {
    arena: Vec<u8>,
    streams: Vec<(usize, Vec<(i64, usize, usize, Option<Box<Metadata>>)>)>,
}

/// Merges `day` into `sink`; `filters[i]` is stream i's.
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
    for (si, stream) in day.streams.iter().enumerate() {
        let filter = &filters[si];
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
        let mut gone = RemovedStream {
            labels: stream.labels.to_string(),
            ..Default::default()
        };
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
            if let Some(ts) = advance(c, filter.cutoff, &whole, &mut out, &mut gone, obs)? {
                heap.push(Reverse((ts, ci)));
            }
        }
        let mut kept = Vec::new();
        while let Some(Reverse((ts, ci))) = heap.pop() {
            let c = &mut cursors[ci];
            let i = c.pos;
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
                Some(by) => {
                    let n = line.len() as u64;
                    gone.entries += 1;
                    gone.bytes += n;
                    match by {
                        None => out.removed.by_retention += 1,
                        Some(ri) => {
                            out.removed.by_delete += 1;
                            out.per_request[ri] += 1;
                        }
                    }
                }
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
                    let off = group.arena.len();
                    group.arena.extend_from_slice(line);
                    kept.push((ts, off, line.len(), metadata));
                    if group.arena.len() as u64 >= sink.segment_bytes {
                        group.streams.push((si, std::mem::take(&mut kept)));
                        flush(&mut group, day, sink, &mut out)?;
                    }
                }
            }
            c.pos += 1;
            if let Some(next) = head(c, filter.cutoff, &whole, &mut out, &mut gone, obs)? {
                heap.push(Reverse((next, ci)));
            }
        }
        if !kept.is_empty() {
            group.streams.push((si, kept));
        }
        if gone.entries > 0 {
            gone.whole = gone.entries == stream.entries;
            out.removed.entries += gone.entries;
            out.removed.bytes += gone.bytes;
            out.removed.streams.push(gone);
        }
    }
    flush(&mut group, day, sink, &mut out)?;
    Ok(out)
}

/// The timestamp of the cursor's next entry, loading the next block when
/// the current one is done.
fn head(
    c: &mut Cursor<'_>,
    cutoff: Option<i64>,
    whole: &[(usize, i64, i64)],
    out: &mut MergeOut,
    gone: &mut RemovedStream,
    obs: &dyn CompactObserver,
) -> Result<Option<i64>, StoreError> {
    if c.pos < c.block.len() {
        return Ok(Some(c.block.ts[c.pos]));
    }
    advance(c, cutoff, whole, out, gone, obs)
}

/// Loads the cursor's next block that holds a surviving entry. A block
/// wholly expired, or wholly inside a delete without line filters, is
/// counted from its footer entry and not read.
fn advance(
    c: &mut Cursor<'_>,
    cutoff: Option<i64>,
    whole: &[(usize, i64, i64)],
    out: &mut MergeOut,
    gone: &mut RemovedStream,
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
            let n = u64::from(meta.entries);
            gone.entries += n;
            gone.bytes += meta.line_bytes;
            match by {
                None => out.removed.by_retention += n,
                Some(ri) => {
                    out.removed.by_delete += n;
                    out.per_request[ri] += n;
                }
            }
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
    if group.streams.is_empty() {
        return Ok(());
    }
    if let Some(tx) = sink.tx.as_deref_mut() {
        let arena = &group.arena;
        let streams: Vec<StreamEntries<'_>> = group
            .streams
            .iter_mut()
            .map(|(si, entries)| StreamEntries {
                labels: day.streams[*si].labels.clone(),
                entries: entries
                    .iter_mut()
                    .map(|(ts, off, len, md)| (*ts, Cow::Borrowed(&arena[*off..*off + *len]), md.take()))
                    .collect(),
                valid: true,
            })
            .collect();
        for e in write_segments(tx, &streams, sink.params)? {
            out.outputs.push((tx.segment_path(&e), e));
        }
    }
    group.arena.clear();
    group.streams.clear();
    Ok(())
}
