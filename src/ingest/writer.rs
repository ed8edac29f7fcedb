//! Turns a batch's entries into segments: per stream sort by time, optional
//! dedupe, cut into blocks per UTC day and compress them on rayon (the block
//! format is [`crate::chunk::block`]'s), write one segment per day, publish.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use rayon::prelude::*;

use super::report::{reject, IngestReport};
use super::{IngestError, IngestOptions};
use crate::chunk::block::{self, EncodedBlock, Metadata};
use crate::chunk::Block;
use crate::model::Labels;
use crate::store::{SegmentEntry, StoreError, TenantWriter};
use crate::time::day_string;

/// One entry to store: time, line, and structured metadata if any.
pub(crate) type StoredEntry<'a> = (i64, Cow<'a, [u8]>, Option<Box<Metadata>>);

/// One stream's entries in a batch.
pub(crate) struct StreamEntries<'a> {
    pub labels: Labels,
    pub entries: Vec<StoredEntry<'a>>,
    pub valid: bool,
}

struct BlockJob {
    stream: usize,
    day: i64,
    start: usize,
    end: usize,
}

struct Compressed {
    job: usize,
    block: EncodedBlock,
}

/// Writes the batch; updates the report. Positions are committed by the
/// caller together with the segments this publishes.
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
/// order they are to be read back) as published segments of `tx`: cut into
/// blocks per UTC day, encoded and compressed on rayon, one segment per day
/// with the streams in label order. The one path from entries to segment
/// files: ingest's batches and the compactor's merged days both take it.
/// Returns the new segments' manifest entries.
pub(crate) fn write_segments(
    tx: &mut TenantWriter<'_>,
    streams: &[StreamEntries<'_>],
    params: BlockParams,
) -> Result<Vec<SegmentEntry>, StoreError> {
    let mut jobs = Vec::new();
    for (si, s) in streams.iter().enumerate() {
        for (day, r) in block::cut_blocks_at(&s.entries, params.block_bytes, |e| (e.0, e.1.len())) {
            jobs.push(BlockJob {
                stream: si,
                day,
                start: r.start,
                end: r.end,
            });
        }
    }

    let level = params.zstd_level;
    let compressed: Vec<Result<Compressed, block::CompressError>> = jobs
        .par_iter()
        .enumerate()
        .map(|(ji, j)| {
            let entries = &streams[j.stream].entries[j.start..j.end];
            let block = block::compress(
                entries
                    .iter()
                    .map(|(t, l, m)| (*t, l.as_ref(), m.as_deref().unwrap_or(&[]))),
                level,
            )?;
            Ok(Compressed { job: ji, block })
        })
        .collect();

    // One segment per day; streams in label order so segments are deterministic.
    let mut by_day: BTreeMap<i64, Vec<Compressed>> = BTreeMap::new();
    for c in compressed {
        // Failing to write a block is a store failure, like a full disk.
        let c = c?;
        by_day.entry(jobs[c.job].day).or_default().push(c);
    }
    let mut out = Vec::with_capacity(by_day.len());
    for (day, mut blocks) in by_day {
        blocks.sort_by(|a, b| {
            let (ja, jb) = (&jobs[a.job], &jobs[b.job]);
            streams[ja.stream]
                .labels
                .cmp(&streams[jb.stream].labels)
                .then(ja.start.cmp(&jb.start))
        });
        let mut pending = tx.create_segment(&day_string(day))?;
        for c in &blocks {
            let s = &streams[jobs[c.job].stream];
            pending
                .writer
                .add_block(
                    &s.labels,
                    s.labels.fingerprint(),
                    &c.block.bytes,
                    c.block.meta.clone(),
                )
                .map_err(StoreError::from)?;
        }
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
