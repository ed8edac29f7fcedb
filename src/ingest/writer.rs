//! Turns a batch's entries into segments: per stream sort by time, optional
//! dedupe, cut into blocks per UTC day and compress them on rayon (the block
//! format is [`crate::chunk::block`]'s), write one segment per day, publish.
//! The cutting and packing of streams into blocks is the [`Packer`]'s, fed
//! one stream at a time: the compactor's merge writes through it too.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use rayon::prelude::*;

use super::report::{reject, IngestReport};
use super::{IngestError, IngestOptions};
use crate::chunk::block::{self, EncodedBlock, Metadata};
use crate::chunk::segment::RunMeta;
use crate::chunk::{Block, SegmentWriter};
use crate::model::Labels;
use crate::store::{SegmentEntry, StoreError, TenantWriter};
use crate::time::{day_of, day_string};

/// One entry to store: time, line, and structured metadata if any.
pub(crate) type StoredEntry<'a> = (i64, Cow<'a, [u8]>, Option<Box<Metadata>>);

/// One stream's entries in a batch.
pub(crate) struct StreamEntries<'a> {
    pub labels: Labels,
    pub entries: Vec<StoredEntry<'a>>,
    pub valid: bool,
}

/// A stream's day of entries up to this many line bytes is *small*: it is
/// packed with other small streams' runs into shared blocks instead of
/// getting blocks of its own.
pub(crate) const SMALL_STREAM_BYTES: usize = 64 << 10;

/// Line bytes of a packed block: small enough that reading one stream's
/// run decompresses little, large enough for zstd to find what the streams'
/// lines share.
pub(crate) const PACK_TARGET_BYTES: usize = 256 << 10;

/// Line bytes of pending blocks at which a [`Packer`] compresses them and
/// hands them to its segment: enough blocks for every core, few enough that
/// a writer whose entries are its own (the compactor's merge) holds little.
/// (Unit tests flush every 4 KiB, so that their small days go through
/// several lots, as a real day does.)
const FLUSH_BYTES: usize = if cfg!(test) { 4 << 10 } else { 16 << 20 };

/// An owned run of entries: the lines back to back in one buffer (what the
/// compactor's merge emits, one allocation per run, not per line).
#[derive(Debug, Default)]
pub(crate) struct OwnedRun {
    arena: Vec<u8>,
    /// `(ts, offset of the line in arena, its length, metadata)`.
    entries: Vec<(i64, usize, usize, Option<Box<Metadata>>)>,
}

impl OwnedRun {
    /// Appends one entry.
    pub fn push(&mut self, ts: i64, line: &[u8], md: Option<Box<Metadata>>) {
        self.entries.push((ts, self.arena.len(), line.len(), md));
        self.arena.extend_from_slice(line);
    }

    /// Line bytes held.
    pub fn bytes(&self) -> usize {
        self.arena.len()
    }

    /// True when it holds no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The entries of one stream's run in a block to write.
pub(crate) enum RunEntries<'a> {
    /// A slice of a batch's entries.
    Borrowed(&'a [StoredEntry<'a>]),
    /// Entries of its own.
    Owned(OwnedRun),
}

impl RunEntries<'_> {
    fn len(&self) -> usize {
        match self {
            RunEntries::Borrowed(e) => e.len(),
            RunEntries::Owned(o) => o.entries.len(),
        }
    }

    /// `(ts, line, metadata)` of each entry, in order.
    fn iter(&self) -> RunIter<'_> {
        match self {
            RunEntries::Borrowed(e) => RunIter::Borrowed(e.iter()),
            RunEntries::Owned(o) => RunIter::Owned(&o.arena, o.entries.iter()),
        }
    }

    fn meta(&self, first: u32) -> RunMeta {
        let (mut line_bytes, mut min_t, mut max_t) = (0u64, i64::MAX, i64::MIN);
        for (t, l, _) in self.iter() {
            line_bytes += l.len() as u64;
            min_t = min_t.min(t);
            max_t = max_t.max(t);
        }
        RunMeta {
            first,
            entries: self.len() as u32,
            line_bytes,
            min_t,
            max_t,
        }
    }
}

/// A stream with runs in a [`Packer`]'s pending blocks: its labels, its
/// fingerprint, and `(block, run within it)` per run.
type PendingStream<'a> = (Cow<'a, Labels>, u64, Vec<(usize, usize)>);

/// The entries of a [`RunEntries`]: one match per entry, which the
/// compressor's passes over a block (six of them) take many times.
#[derive(Clone)]
enum RunIter<'x> {
    Borrowed(std::slice::Iter<'x, StoredEntry<'x>>),
    Owned(
        &'x [u8],
        std::slice::Iter<'x, (i64, usize, usize, Option<Box<Metadata>>)>,
    ),
}

impl<'x> Iterator for RunIter<'x> {
    type Item = (i64, &'x [u8], &'x Metadata);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            RunIter::Borrowed(it) => it
                .next()
                .map(|(t, l, m)| (*t, l.as_ref(), m.as_deref().unwrap_or(&[]))),
            RunIter::Owned(arena, it) => it.next().map(|(t, off, len, m)| {
                (*t, &arena[*off..*off + *len], m.as_deref().unwrap_or(&[]))
            }),
        }
    }
}

/// The one place streams' entries become blocks of a segment: a stream's
/// day of more than [`SMALL_STREAM_BYTES`] of lines gets blocks of its own
/// ([`block::BlockCut`] at `block_bytes`), smaller ones are packed together
/// up to [`PACK_TARGET_BYTES`] of lines a block (both thresholds capped at
/// `block_bytes`, so no stream's run in a block holds more than that unless
/// one entry does). Streams are handed over one after another in label
/// order; pending blocks are compressed on rayon about [`FLUSH_BYTES`] at a
/// time and written with their runs, so a writer fed by a merge holds a few
/// MiB, never the day. Ingest's batches ([`write_segments`]) and the
/// compactor's merge both write through it.
pub(crate) struct Packer<'a> {
    level: i32,
    block_bytes: usize,
    small: usize,
    pack_target: usize,
    /// Pending blocks: their runs in block order.
    units: Vec<Vec<RunEntries<'a>>>,
    /// Streams with runs in the pending blocks, in order, the last one
    /// being added: labels, fingerprint, and `(block, run within it)` per
    /// run. A batch's label sets are borrowed, not copied.
    streams: Vec<PendingStream<'a>>,
    /// The open packed block and its line bytes.
    pack: Option<usize>,
    pack_bytes: usize,
    pending_bytes: usize,
}

impl<'a> Packer<'a> {
    /// A packer cutting blocks as `params` say.
    pub fn new(params: BlockParams) -> Self {
        Packer {
            level: params.zstd_level,
            block_bytes: params.block_bytes,
            small: SMALL_STREAM_BYTES.min(params.block_bytes),
            pack_target: PACK_TARGET_BYTES.min(params.block_bytes),
            units: Vec::new(),
            streams: Vec::new(),
            pack: None,
            pack_bytes: 0,
            pending_bytes: 0,
        }
    }

    /// Most line bytes of a stream's day that is packed with others.
    pub fn small_bytes(&self) -> usize {
        self.small
    }

    /// A cut of one stream's entries into its own blocks.
    pub fn cut(&self) -> block::BlockCut {
        block::BlockCut::new(self.block_bytes)
    }

    /// Starts the next stream (after the one before in label order); the
    /// runs added until the next call are its, in time order.
    pub fn begin_stream(&mut self, labels: Cow<'a, Labels>, fingerprint: u64) {
        self.streams.push((labels, fingerprint, Vec::new()));
    }

    fn record(&mut self, unit: usize, run: RunEntries<'a>, bytes: usize) {
        let k = self.units[unit].len();
        self.units[unit].push(run);
        self.streams
            .last_mut()
            .expect("begin_stream first")
            .2
            .push((unit, k));
        self.pending_bytes += bytes;
    }

    /// Adds a block of the current stream alone (`bytes` of lines).
    pub fn add_own(&mut self, run: RunEntries<'a>, bytes: usize) {
        if run.len() == 0 {
            return;
        }
        self.units.push(Vec::new());
        self.record(self.units.len() - 1, run, bytes);
    }

    /// Adds the current stream's whole day (`bytes` of lines, at most
    /// [`Self::small_bytes`]) to the open packed block.
    pub fn add_packed(&mut self, run: RunEntries<'a>, bytes: usize) {
        if run.len() == 0 {
            return;
        }
        let u = match self.pack {
            Some(u) => u,
            None => {
                self.units.push(Vec::new());
                self.pack = Some(self.units.len() - 1);
                self.units.len() - 1
            }
        };
        self.record(u, run, bytes);
        self.pack_bytes += bytes;
        if self.pack_bytes >= self.pack_target {
            self.pack = None;
            self.pack_bytes = 0;
        }
    }

    /// Adds one stream's time-sorted entries of one day (`bytes` of lines):
    /// packed when small, else cut into blocks of its own.
    pub fn add_stream_day(
        &mut self,
        labels: &'a Labels,
        fingerprint: u64,
        entries: &'a [StoredEntry<'a>],
        bytes: usize,
    ) {
        self.begin_stream(Cow::Borrowed(labels), fingerprint);
        if bytes <= self.small {
            self.add_packed(RunEntries::Borrowed(entries), bytes);
            return;
        }
        for (_, r) in block::cut_blocks_at(entries, self.block_bytes, |x| (x.0, x.1.len())) {
            let e = &entries[r];
            let b = e.iter().map(|x| x.1.len()).sum();
            self.add_own(RunEntries::Borrowed(e), b);
        }
    }

    /// Line bytes added since the last [`Self::flush`].
    pub fn pending_bytes(&self) -> usize {
        self.pending_bytes
    }

    /// Whether enough is pending to [`Self::flush`].
    pub fn full(&self) -> bool {
        self.pending_bytes >= FLUSH_BYTES
    }

    /// Compresses the pending blocks (on rayon) and writes them to `w`
    /// with their streams' runs; the open packed block is closed.
    pub fn flush(&mut self, w: &mut SegmentWriter) -> Result<(), StoreError> {
        let level = self.level;
        let compressed: Vec<Result<EncodedBlock, block::CompressError>> = self
            .units
            .par_iter()
            .map(|u| match u.as_slice() {
                // A block of one run (a large stream's): no flattening.
                [run] => block::compress(run.iter(), level),
                runs => block::compress(runs.iter().flat_map(RunEntries::iter), level),
            })
            .collect();
        let mut frames = Vec::with_capacity(compressed.len());
        for c in compressed {
            // Failing to compress a block is a store failure, like a full disk.
            let c = c.map_err(StoreError::from)?;
            frames.push(
                w.add_frame(&c.bytes, c.meta.raw_len, c.meta.frame_entries)
                    .map_err(StoreError::from)?,
            );
        }
        // Where each run starts in its block.
        let firsts: Vec<Vec<u32>> = self
            .units
            .iter()
            .map(|u| {
                let mut first = 0u32;
                u.iter()
                    .map(|r| {
                        let f = first;
                        first += r.len() as u32;
                        f
                    })
                    .collect()
            })
            .collect();
        for (labels, fingerprint, runs) in &self.streams {
            for &(u, k) in runs {
                w.add_run(
                    labels.as_ref(),
                    *fingerprint,
                    frames[u],
                    self.units[u][k].meta(firsts[u][k]),
                );
            }
        }
        self.units.clear();
        // The stream being added goes on after the flush.
        let last = self.streams.pop();
        self.streams.clear();
        self.streams
            .extend(last.map(|(l, f, _)| (l, f, Vec::new())));
        self.pack = None;
        self.pack_bytes = 0;
        self.pending_bytes = 0;
        Ok(())
    }
}

/// The fingerprint [`SegmentWriter::add_run`] tells streams apart by: a
/// fast hash of the label set (format 2 stores none).
pub(crate) fn run_fingerprint(labels: &Labels) -> u64 {
    std::hash::BuildHasher::hash_one(&xxhash_rust::xxh3::Xxh3DefaultBuilder::new(), labels)
}

/// Each stream's entries of each UTC day, the days in order and in each
/// the streams in label order: `(stream, entry range, line bytes)`.
fn day_pieces(streams: &[StreamEntries<'_>]) -> BTreeMap<i64, Vec<(usize, Range<usize>, usize)>> {
    // Label sets are distinct: an unstable sort gives the one order. It
    // compares order-preserving byte keys laid out in one buffer: comparing
    // the label sets themselves chases six pointers per comparison, and at
    // a million streams those cache misses were a fifth of ingest.
    let mut keys = Vec::new();
    let mut ends = Vec::with_capacity(streams.len());
    for s in streams {
        s.labels.write_sort_key(&mut keys);
        ends.push(keys.len());
    }
    let mut order: Vec<(&[u8], usize)> = (0..streams.len())
        .map(|i| (&keys[if i == 0 { 0 } else { ends[i - 1] }..ends[i]], i))
        .collect();
    order.par_sort_unstable();
    let order: Vec<usize> = order.into_iter().map(|(_, i)| i).collect();
    // Per day, the stream days in label order.
    let mut days: BTreeMap<i64, Vec<(usize, Range<usize>, usize)>> = BTreeMap::new();
    for &si in &order {
        let e = &streams[si].entries;
        let mut start = 0;
        while start < e.len() {
            let day = day_of(e[start].0);
            let mut end = start;
            let mut bytes = 0;
            while end < e.len() && day_of(e[end].0) == day {
                bytes += e[end].1.len();
                end += 1;
            }
            days.entry(day).or_default().push((si, start..end, bytes));
            start = end;
        }
    }
    days
}

/// Writes the batch; updates the report. Positions are committed by the
/// caller together with the segments this publishes.
///
/// Per stream a stable sort by time and the optional dedupe, then
/// [`write_segments`] (ingest and `lokal test`; the compactor calls that
/// directly).
pub(crate) fn write_batch(
    tx: &mut TenantWriter<'_>,
    mut streams: Vec<StreamEntries<'_>>,
    opts: &IngestOptions,
    report: &mut IngestReport,
) -> Result<(), IngestError> {
    // Sort (stable: equal timestamps keep input order) and dedupe.
    let dups: u64 = streams
        .par_iter_mut()
        .map(|s| {
            if !s.entries.is_sorted_by_key(|e| e.0) {
                s.entries.sort_by_key(|e| e.0);
            }
            if opts.dedupe {
                dedupe(&mut s.entries)
            } else {
                0
            }
        })
        .sum();
    report.reject(reject::DUPLICATE, dups);
    if opts.dedupe {
        let (dups, _) = dedupe_against_store(tx, &mut streams)?;
        report.reject(reject::DUPLICATE, dups);
    }

    let params = BlockParams {
        zstd_level: opts.zstd_level,
        block_bytes: block::BLOCK_TARGET_BYTES,
    };
    for entry in write_segments(tx, &streams, params)? {
        report.segments += 1;
        report.bytes_stored += entry.bytes;
        report.entries_stored += entry.entries;
        report.bytes_lines += entry.raw_bytes;
        report.see_time(entry.min_t, entry.max_t);
    }
    Ok(())
}

/// How [`write_segments`] cuts and compresses blocks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BlockParams {
    /// zstd level.
    pub zstd_level: i32,
    /// Most line bytes per block (a larger single entry gets a block of its own).
    pub block_bytes: usize,
}

/// Writes streams whose entries are sorted by time (equal timestamps in the
/// order they are to be read back) as published segments of `tx`: cut and
/// packed into blocks per UTC day by a [`Packer`], compressed on rayon,
/// one segment per day with the streams in label order. The one path from
/// entries to segment files: ingest's batches and the compactor's merged
/// days both take it. Returns the new segments' manifest entries.
pub(crate) fn write_segments(
    tx: &mut TenantWriter<'_>,
    streams: &[StreamEntries<'_>],
    params: BlockParams,
) -> Result<Vec<SegmentEntry>, StoreError> {
    let fingerprints: Vec<u64> = streams
        .par_iter()
        .map(|s| run_fingerprint(&s.labels))
        .collect();
    let mut out = Vec::new();
    for (day, pieces) in day_pieces(streams) {
        // One segment per day, the streams in label order.
        let mut pending = tx.create_segment(&day_string(day))?;
        let mut packer = Packer::new(params);
        for (si, range, bytes) in pieces {
            let s = &streams[si];
            packer.add_stream_day(&s.labels, fingerprints[si], &s.entries[range], bytes);
            if packer.full() {
                packer.flush(&mut pending.writer)?;
            }
        }
        packer.flush(&mut pending.writer)?;
        out.push(tx.publish(pending)?);
    }
    Ok(out)
}

/// Removes from each stream's time-sorted entries those the store already
/// holds (same stream, timestamp, line and structured metadata), so
/// `--dedupe` holds across runs. Only stored blocks of the same stream whose
/// time range overlaps the batch's entries of that stream are read — found
/// from the manifest's segment time ranges and the segments' footers — so a
/// run appending newer lines reads at most the last block or two. Returns
/// the entries removed and the blocks read.
fn dedupe_against_store(
    tx: &TenantWriter<'_>,
    streams: &mut [StreamEntries<'_>],
) -> Result<(u64, u64), IngestError> {
    let ranges: Vec<Option<(i64, i64)>> = streams
        .iter()
        .map(|s| Some((s.entries.first()?.0, s.entries.last()?.0)))
        .collect();
    let (Some(lo), Some(hi)) = (
        ranges.iter().flatten().map(|r| r.0).min(),
        ranges.iter().flatten().map(|r| r.1).max(),
    ) else {
        return Ok((0, 0));
    };
    let by_labels: HashMap<&Labels, usize> = streams
        .iter()
        .enumerate()
        .map(|(i, s)| (&s.labels, i))
        .collect();
    let snap = tx.pending_snapshot();
    let mut stored: Vec<Vec<bool>> = streams
        .iter()
        .map(|s| vec![false; s.entries.len()])
        .collect();
    let mut block = Block::default();
    let mut blocks_read = 0;
    for seg in &snap.manifest.segments {
        if seg.max_t < lo || seg.min_t > hi {
            continue;
        }
        let reader = snap.open_segment(seg)?;
        for chunk in reader.streams() {
            let Some(&si) = by_labels.get(&chunk.labels) else {
                continue;
            };
            let Some((from, to)) = ranges[si] else {
                continue;
            };
            for meta in &chunk.blocks {
                if meta.max_t < from || meta.min_t > to {
                    continue;
                }
                reader
                    .read_block(meta, &mut block)
                    .map_err(StoreError::from)?;
                blocks_read += 1;
                let mut md: Vec<(&str, &str)> = Vec::new();
                let entries = &streams[si].entries;
                for i in 0..block.len() {
                    let ts = block.ts[i];
                    let first = entries.partition_point(|e| e.0 < ts);
                    for (j, e) in entries[first..].iter().enumerate() {
                        if e.0 != ts {
                            break;
                        }
                        if stored[si][first + j] || e.1.as_ref() != block.line(i) {
                            continue;
                        }
                        block.metadata(i, &mut md);
                        let same_md = match &e.2 {
                            None => md.is_empty(),
                            Some(m) => {
                                m.len() == md.len()
                                    && m.iter().zip(&md).all(|(a, b)| a.0 == b.0 && a.1 == b.1)
                            }
                        };
                        if same_md {
                            stored[si][first + j] = true;
                            break;
                        }
                    }
                }
            }
        }
    }
    let mut removed = 0u64;
    for (s, marks) in streams.iter_mut().zip(stored) {
        if !marks.contains(&true) {
            continue;
        }
        let mut it = marks.iter();
        s.entries
            .retain(|_| !*it.next().expect("one mark per entry"));
        removed += marks.iter().filter(|&&m| m).count() as u64;
    }
    Ok((removed, blocks_read))
}

/// Removes exact `(ts, line)` repeats from time-sorted entries; returns how
/// many were removed.
fn dedupe(entries: &mut Vec<StoredEntry<'_>>) -> u64 {
    let before = entries.len();
    let mut out: Vec<StoredEntry<'_>> = Vec::with_capacity(entries.len());
    let mut run_start = 0;
    for e in entries.drain(..) {
        if out.last().is_none_or(|l| l.0 != e.0) {
            run_start = out.len();
        }
        if !out[run_start..].iter().any(|o| o.1 == e.1 && o.2 == e.2) {
            out.push(e);
        }
    }
    *entries = out;
    (before - entries.len()) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000_000_000;

    #[test]
    fn dedupe_reads_only_the_overlapping_blocks_of_the_stream() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::new(dir.path());
        let x = Labels::from_pairs([("job", "x")]);
        let y = Labels::from_pairs([("job", "y")]);
        let day0 = 1_704_067_200_000_000_000;
        let entries = |labels: &Labels| {
            let mut v = Vec::new();
            for d in 0..3 {
                for i in 0..100 {
                    v.push((
                        day0 + d * DAY + i * 1_000_000_000,
                        format!("{labels} {d} {i}").into_bytes(),
                        Vec::new(),
                    ));
                }
            }
            (labels.clone(), v)
        };
        crate::ingest::write_streams(&store, "t", vec![entries(&x), entries(&y)]).unwrap();

        let tenant = store.tenant("t").unwrap();
        let lock = store.lock_writer(None, || {}).unwrap();
        let tx = tenant.begin_write(&lock).unwrap();
        // Day 2: lines 50..99 are stored already, 100..149 are new.
        let line = |i: i64| Cow::Owned(format!("{x} 2 {i}").into_bytes());
        let mut batch = vec![StreamEntries {
            labels: x.clone(),
            entries: (50..150)
                .map(|i| (day0 + 2 * DAY + i * 1_000_000_000, line(i), None))
                .collect(),
            valid: true,
        }];
        let (removed, blocks) = dedupe_against_store(&tx, &mut batch).unwrap();
        assert_eq!(removed, 50);
        assert_eq!(
            blocks, 1,
            "one block of stream x overlaps; y and days 0-1 are not read"
        );
        assert_eq!(batch[0].entries.len(), 50);
        assert_eq!(batch[0].entries[0].1.as_ref(), line(100).as_ref());
        // The same timestamp with another line, or other metadata, is kept.
        let mut batch = vec![StreamEntries {
            labels: x.clone(),
            entries: vec![
                (day0 + 2 * DAY, Cow::Owned(b"other".to_vec()), None),
                (
                    day0 + 2 * DAY,
                    line(0),
                    Some(vec![("k".to_string(), "v".to_string())].into_boxed_slice()),
                ),
                (day0 + 2 * DAY, line(0), None),
            ],
            valid: true,
        }];
        let (removed, _) = dedupe_against_store(&tx, &mut batch).unwrap();
        assert_eq!(removed, 1);
        assert_eq!(batch[0].entries.len(), 2);
    }

    #[test]
    fn dedupe_keeps_first_of_each_pair() {
        let mut e: Vec<StoredEntry<'_>> = vec![
            (1, Cow::Borrowed(b"a"), None),
            (1, Cow::Borrowed(b"b"), None),
            (1, Cow::Borrowed(b"a"), None),
            (2, Cow::Borrowed(b"a"), None),
            (2, Cow::Borrowed(b"a"), None),
        ];
        assert_eq!(dedupe(&mut e), 2);
        let got: Vec<_> = e.iter().map(|x| (x.0, x.1.to_vec())).collect();
        assert_eq!(
            got,
            vec![(1, b"a".to_vec()), (1, b"b".to_vec()), (2, b"a".to_vec())]
        );
    }
}
