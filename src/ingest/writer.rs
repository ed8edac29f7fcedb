//! Turns a batch's entries into segments: per stream sort by time, optional
//! dedupe, cut into blocks per UTC day and compress them on rayon (the block
//! format is [`crate::chunk::block`]'s), write one segment per day, publish.

use std::borrow::Cow;
use std::collections::BTreeMap;

use rayon::prelude::*;

use super::report::{reject, IngestReport};
use super::{IngestError, IngestOptions};
use crate::chunk::block::{self, EncodedBlock, Metadata};
use crate::model::Labels;
use crate::store::{StoreError, TenantWriter};
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

    let mut jobs = Vec::new();
    for (si, s) in streams.iter().enumerate() {
        for (day, r) in block::cut_blocks(&s.entries, |e| (e.0, e.1.len())) {
            jobs.push(BlockJob {
                stream: si,
                day,
                start: r.start,
                end: r.end,
            });
        }
    }

    let level = opts.zstd_level;
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
        let c = c.map_err(StoreError::from)?;
        by_day.entry(jobs[c.job].day).or_default().push(c);
    }
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
        let entry = tx.publish(pending)?;
        report.segments += 1;
        report.bytes_stored += entry.bytes;
        report.entries_stored += entry.entries;
        report.bytes_lines += entry.raw_bytes;
        report.see_time(entry.min_t, entry.max_t);
    }
    Ok(())
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
