//! A log query's plan as its scans read it: the planned runs grouped by the
//! stored block that holds them, compactly.
//!
//! [`plan::PlannedChunk`]s name a stream's runs one by one, each with the
//! stream's decoded labels. A day merged into one segment packs the runs of
//! a thousand small streams into one 256 KiB block, and a query over a
//! million such streams reading a run at a time decompresses each packed
//! block a thousand times, and holds a million decoded label sets (about
//! 500 bytes a stream with its chunk). Here a *group* is one stored block
//! and the runs of it the query reads, so a scan decompresses the block
//! once, walks all of its runs' lines in output order and hands them to the
//! time merge together; a run costs 16 bytes, and a stream's labels are kept
//! encoded (about the size of their text) and decoded only when a scan
//! reaches one of the stream's lines (and for an entry handed out, when the
//! merge hands it out).

use std::collections::HashMap;
use std::sync::Arc;

use super::plan::PlannedChunk;
use super::{Direction, QueryError};
use crate::chunk::{BlockMeta, SegmentReader};
use crate::model::Labels;
use crate::varint::{self, Reader};

/// One stream's run of entries in a group's block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Run {
    /// The run's chunk's place in output order for equal timestamps: label
    /// order, then segment (the plan's order), counted from the plan's base.
    pub rank: u32,
    /// The run's stream, for [`BlockPlan::labels`].
    pub stream: u32,
    /// The run's first entry in the block.
    pub first: u32,
    /// Entries in the run.
    pub entries: u32,
}

/// A stored block and the planned runs it holds.
#[derive(Debug, Clone)]
pub(super) struct Group {
    /// The segment, in [`BlockPlan::segment`].
    seg: u32,
    /// The whole stored block (its first entry on, every entry), with the
    /// time range of the planned runs.
    pub block: BlockMeta,
    /// The group's runs, `BlockPlan::runs[a..b]`, in rank order.
    runs: (u32, u32),
    /// Where the group's entries start in output order (`Key::ts` of
    /// `logquery`: the runs' first time forward, the bitwise negated last
    /// time backward): none of them comes before this.
    pub start: i64,
}

/// Bytes a run costs in a plan: [`Run`] and its group number while the
/// plan is built.
pub(super) const RUN_BYTES: usize = std::mem::size_of::<Run>() + 4;

/// Bytes a group costs in a plan: [`Group`] and its entry in the map of
/// blocks while the plan is built.
pub(super) const GROUP_BYTES: usize = std::mem::size_of::<Group>() + 32;

/// Every stream's labels, encoded back to back: the pair count, then each
/// name and value length-prefixed (varints).
#[derive(Debug, Default)]
struct LabelArena {
    bytes: Vec<u8>,
    /// Where each stream's labels end in `bytes`.
    ends: Vec<usize>,
}

impl LabelArena {
    fn push(&mut self, labels: &Labels) {
        varint::put_u64(&mut self.bytes, labels.len() as u64);
        for (n, v) in labels.pairs() {
            for s in [n, v] {
                varint::put_u64(&mut self.bytes, s.len() as u64);
                self.bytes.extend_from_slice(s.as_bytes());
            }
        }
        self.ends.push(self.bytes.len());
    }

    fn get(&self, i: usize) -> Labels {
        let mut pairs = Vec::new();
        self.get_into(i, &mut pairs);
        Labels::from_pairs(pairs)
    }

    /// Stream `i`'s pairs into `out`, reusing its strings.
    fn get_into(&self, i: usize, out: &mut Vec<(String, String)>) {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        let mut r = Reader::new(&self.bytes[start..self.ends[i]]);
        let n = r.usize().unwrap_or(0);
        // Written by `push` from valid labels: the reads cannot fail.
        let mut text = |s: &mut String| {
            s.clear();
            s.push_str(
                r.len_prefixed()
                    .and_then(|b| std::str::from_utf8(b).ok())
                    .unwrap_or(""),
            );
        };
        out.resize_with(n, Default::default);
        for (k, v) in out.iter_mut() {
            text(k);
            text(v);
        }
    }
}

/// What encoding `labels` costs in a plan, about (the text, a length
/// byte per name and value, the stream's end).
pub(super) fn label_bytes(labels: &Labels) -> usize {
    labels
        .pairs()
        .iter()
        .map(|(n, v)| n.len() + v.len() + 2)
        .sum::<usize>()
        + 1
        + std::mem::size_of::<usize>()
}

/// The planned runs of a query (or of one batch or time slice of it),
/// grouped by stored block: built from the plan's chunks in plan order
/// ([`BlockPlan::add`]), then [`BlockPlan::finish`]ed, which orders the
/// groups by their first entry in the query's direction.
#[derive(Debug, Default)]
pub(super) struct BlockPlan {
    segments: Vec<(u64, Arc<SegmentReader>)>,
    labels: LabelArena,
    groups: Vec<Group>,
    runs: Vec<Run>,
    /// Rank of the first chunk.
    rank_base: u32,
    /// Chunks added.
    chunks: u32,
    /// While building: each run's group, each stored block's group (by
    /// segment and offset), each segment's place, the last stream's labels.
    run_group: Vec<u32>,
    by_block: HashMap<(u32, u64), u32>,
    seg_of: HashMap<u64, u32>,
    last: Option<Arc<Labels>>,
}

/// The error of a plan past the `u32` chunk ranks.
pub(super) fn too_many_chunks() -> QueryError {
    QueryError::Unsupported("a log query over more than 4 billion chunks".into())
}

impl BlockPlan {
    /// An empty plan whose first chunk takes rank `rank_base` (the chunks
    /// of the plan before it, in label order, have the ranks below).
    pub fn new(rank_base: u32) -> BlockPlan {
        BlockPlan {
            rank_base,
            ..Default::default()
        }
    }

    /// Adds `chunks`, whole streams sorted by labels then segment, as the
    /// plan cursor hands them out, after the chunks added before.
    pub fn add(&mut self, chunks: &[PlannedChunk]) -> Result<(), QueryError> {
        for c in chunks {
            // A stream's chunks are adjacent and share their labels.
            let new_stream = self
                .last
                .as_ref()
                .is_none_or(|l| !Arc::ptr_eq(l, &c.labels) && **l != *c.labels);
            if new_stream {
                self.labels.push(&c.labels);
                self.last = Some(c.labels.clone());
            }
            let stream =
                u32::try_from(self.labels.ends.len() - 1).map_err(|_| too_many_chunks())?;
            let rank = self
                .rank_base
                .checked_add(self.chunks)
                .ok_or_else(too_many_chunks)?;
            self.chunks = self.chunks.checked_add(1).ok_or_else(too_many_chunks)?;
            let next_seg = self.segments.len() as u32;
            let seg = *self.seg_of.entry(c.segment_id).or_insert(next_seg);
            if seg == next_seg {
                self.segments.push((c.segment_id, c.segment.clone()));
            }
            for b in &c.blocks {
                let next = u32::try_from(self.groups.len()).map_err(|_| too_many_chunks())?;
                let g = *self.by_block.entry((seg, b.offset)).or_insert(next);
                if g == next {
                    self.groups.push(Group {
                        seg,
                        block: BlockMeta {
                            first: 0,
                            entries: b.frame_entries,
                            line_bytes: 0,
                            ..b.clone()
                        },
                        runs: (0, 0),
                        start: 0,
                    });
                }
                let block = &mut self.groups[g as usize].block;
                block.min_t = block.min_t.min(b.min_t);
                block.max_t = block.max_t.max(b.max_t);
                block.line_bytes += b.line_bytes;
                self.runs.push(Run {
                    rank,
                    stream,
                    first: b.first,
                    entries: b.entries,
                });
                self.run_group.push(g);
            }
        }
        Ok(())
    }

    /// Bytes the plan holds, about: what [`BlockPlan::add`] is building or
    /// what [`BlockPlan::finish`] left.
    pub fn bytes(&self) -> usize {
        self.runs.len() * RUN_BYTES
            + self.groups.len() * GROUP_BYTES
            + self.labels.bytes.len()
            + self.labels.ends.len() * std::mem::size_of::<usize>()
    }

    /// Ends the building: each group's runs made adjacent (in rank order),
    /// the groups sorted by their first entry in `dir` (groups starting
    /// together in plan order).
    pub fn finish(&mut self, dir: Direction) {
        // A counting sort of the runs by group keeps each group's runs in
        // the order they came: rank order.
        let mut at = vec![0u32; self.groups.len() + 1];
        for &g in &self.run_group {
            at[g as usize + 1] += 1;
        }
        for i in 1..at.len() {
            at[i] += at[i - 1];
        }
        for (g, group) in self.groups.iter_mut().enumerate() {
            group.runs = (at[g], at[g + 1]);
            group.start = match dir {
                Direction::Forward => group.block.min_t,
                Direction::Backward => !group.block.max_t,
            };
        }
        let mut runs = vec![
            Run {
                rank: 0,
                stream: 0,
                first: 0,
                entries: 0
            };
            self.runs.len()
        ];
        for (r, &g) in self.runs.iter().zip(&self.run_group) {
            runs[at[g as usize] as usize] = *r;
            at[g as usize] += 1;
        }
        self.runs = runs;
        self.run_group = Vec::new();
        self.by_block = HashMap::new();
        self.seg_of = HashMap::new();
        self.last = None;
        self.groups.sort_by_key(|g| g.start);
    }

    /// The groups, in the order [`BlockPlan::finish`] left them.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// Keeps the groups for which `keep` holds (in their order).
    pub fn retain(&mut self, mut keep: impl FnMut(&Group, u64) -> bool) {
        let segments = &self.segments;
        self.groups.retain(|g| keep(g, segments[g.seg as usize].0));
    }

    /// The runs of `g`, in rank order.
    pub fn runs(&self, g: &Group) -> &[Run] {
        &self.runs[g.runs.0 as usize..g.runs.1 as usize]
    }

    /// The id and reader of `g`'s segment.
    pub fn segment(&self, g: &Group) -> (u64, &Arc<SegmentReader>) {
        let (id, r) = &self.segments[g.seg as usize];
        (*id, r)
    }

    /// The labels of stream `s` (decoded now).
    pub fn labels(&self, s: u32) -> Labels {
        self.labels.get(s as usize)
    }

    /// The label pairs of stream `s` into `out` (sorted by name), reusing
    /// its strings.
    pub fn labels_into(&self, s: u32, out: &mut Vec<(String, String)>) {
        self.labels.get_into(s as usize, out);
    }

    /// Chunks the plan holds.
    pub fn chunks(&self) -> u32 {
        self.chunks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_kept_encoded_and_decoded_exactly() {
        let sets = [
            Labels::from_pairs([("job", "app"), ("ns", "ns-1"), ("pod", "pod-1")]),
            Labels::default(),
            Labels::from_pairs([("a", ""), ("b", "\0\u{1F600}"), ("c", &*"x".repeat(300))]),
        ];
        let mut arena = LabelArena::default();
        for l in &sets {
            arena.push(l);
        }
        let mut pairs = vec![("left".to_string(), "over".to_string()); 5];
        for (i, l) in sets.iter().enumerate() {
            assert_eq!(arena.get(i), *l);
            arena.get_into(i, &mut pairs);
            assert_eq!(pairs, l.pairs());
        }
        assert!(arena.bytes.len() < sets.iter().map(label_bytes).sum::<usize>());
    }
}
