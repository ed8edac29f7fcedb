//! Block scanning shared by log and metric queries: decompress a block into a
//! per-thread buffer and find the lines a leading literal filter can match by
//! searching the whole block once, as ripgrep searches a buffer.

use std::cell::RefCell;
use std::time::Instant;

use memchr::memmem::Finder;

use super::plan::PlannedChunk;
use super::stats::ScanCounters;
use crate::chunk::segment::SegmentError;
use crate::chunk::{Block, BlockMeta, SegmentReader};
use crate::logql::{LineFilter, LineFilterOp, LineMatch};

thread_local! {
    static BLOCK: RefCell<Block> = RefCell::new(Block::default());
}

/// One block of one planned chunk.
#[derive(Debug, Clone, Copy)]
pub struct BlockTask<'a> {
    /// Index of the chunk in the plan.
    pub chunk_idx: usize,
    /// The chunk.
    pub chunk: &'a PlannedChunk,
    /// The block.
    pub block: &'a BlockMeta,
}

/// All blocks of the plan.
pub fn tasks(chunks: &[PlannedChunk]) -> Vec<BlockTask<'_>> {
    chunks
        .iter()
        .enumerate()
        .flat_map(|(chunk_idx, c)| {
            c.blocks.iter().map(move |b| BlockTask {
                chunk_idx,
                chunk: c,
                block: b,
            })
        })
        .collect()
}

/// A literal prefilter built once per query, from the first leading `|=`
/// filter whose alternatives are all non-empty strings, or else from a
/// label filter `name="value"` on a parsed label (see [`Prefilter::for_stages`]).
#[derive(Clone)]
pub struct Prefilter {
    finders: Vec<Finder<'static>>,
    /// Set when the literal comes from a label filter on this parsed label:
    /// the prefilter then holds only for chunks where `name` is neither a
    /// stream label nor possibly structured metadata.
    label: Option<String>,
}

impl Prefilter {
    /// The best prefilter for a pipeline: a leading `|=` literal, else a
    /// parsed-label equality (`| json | level="error"`): a line whose parsed
    /// `level` is `error` contains `error` verbatim, unless an escape
    /// (a backslash) spells it differently — so lines holding neither the
    /// value nor a backslash cannot pass.
    pub fn for_stages(leading: &[LineFilter], stages: &[crate::logql::Stage]) -> Option<Prefilter> {
        Self::new(leading).or_else(|| {
            let (name, value) = parsed_label_equality(stages)?;
            Some(Prefilter {
                finders: vec![
                    Finder::new(value.as_bytes()).into_owned(),
                    Finder::new(b"\\").into_owned(),
                ],
                label: Some(name),
            })
        })
    }

    /// Whether the prefilter is valid for a block of this chunk.
    pub fn applies(&self, chunk_labels: &crate::model::Labels, block: &Block) -> bool {
        self.applies_with(block, || chunk_labels)
    }

    /// [`Prefilter::applies`] with the chunk's labels asked for only when
    /// they decide it: a block with metadata never qualifies for a label's
    /// prefilter, so a scan of packed runs need not decode their labels.
    pub fn applies_with<L: std::borrow::Borrow<crate::model::Labels>>(
        &self,
        block: &Block,
        chunk_labels: impl FnOnce() -> L,
    ) -> bool {
        match &self.label {
            None => true,
            Some(name) => !block.has_metadata() && chunk_labels().borrow().get(name).is_none(),
        }
    }

    /// Builds the prefilter, or `None` when no filter qualifies.
    pub fn new(filters: &[LineFilter]) -> Option<Prefilter> {
        let f = filters
            .iter()
            .find(|f| f.op == LineFilterOp::Contains && Self::literals(f).is_some())?;
        let finders = Self::literals(f)?
            .into_iter()
            .map(|s| Finder::new(s.as_bytes()).into_owned())
            .collect();
        Some(Prefilter {
            finders,
            label: None,
        })
    }

    fn literals(f: &LineFilter) -> Option<Vec<&str>> {
        std::iter::once(&f.value)
            .chain(f.or.iter())
            .map(|m| match m {
                LineMatch::Str(s) if !s.is_empty() => Some(s.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Indices of the lines that contain one of the literals, ascending.
    pub fn candidates(&self, block: &Block) -> Vec<u32> {
        let blob = block.blob();
        let mut out: Vec<u32> = Vec::new();
        for finder in &self.finders {
            let len = finder.needle().len();
            let mut pos = 0;
            while pos < blob.len() {
                let Some(h) = finder.find(&blob[pos..]) else {
                    break;
                };
                let h = pos + h;
                let i = block.line_at(h);
                let (_, end) = block.line_range(i);
                if h + len <= end {
                    out.push(i as u32);
                }
                // One hit per line is enough; a hit running past the line's end
                // means no other hit can fit in that line either.
                pos = next_line_start(block, i);
            }
        }
        if self.finders.len() > 1 {
            out.sort_unstable();
            out.dedup();
        }
        out
    }
}

/// A `name="value"` conjunct of the first label filter, when only json or
/// logfmt parsers and line filters come before it (so `name` can only come
/// from the line itself, the stream labels or metadata) and `value` is a
/// non-empty literal.
fn parsed_label_equality(stages: &[crate::logql::Stage]) -> Option<(String, String)> {
    use crate::logql::{LabelFilterExpr, MatchOp, Parser, Stage};
    let mut parsed = false;
    for s in stages {
        match s {
            Stage::LineFilter(_) => {}
            Stage::Parser {
                parser: Parser::Json { .. } | Parser::Logfmt { .. },
                ..
            } => parsed = true,
            Stage::LabelFilter { filter, .. } if parsed => {
                let mut best: Option<(String, String)> = None;
                let mut stack = vec![filter];
                while let Some(f) = stack.pop() {
                    match f {
                        LabelFilterExpr::And(a, b) => {
                            stack.push(a);
                            stack.push(b);
                        }
                        // The longest value is the most selective literal.
                        LabelFilterExpr::String(m)
                            if m.op == MatchOp::Eq
                                && !m.value.is_empty()
                                && !m.name.starts_with("__")
                                && best.as_ref().is_none_or(|(_, v)| v.len() < m.value.len()) =>
                        {
                            best = Some((m.name.clone(), m.value.clone()));
                        }
                        _ => {}
                    }
                }
                return best;
            }
            _ => return None,
        }
    }
    None
}

fn next_line_start(block: &Block, i: usize) -> usize {
    if i + 1 < block.len() {
        block.line_range(i + 1).0
    } else {
        usize::MAX
    }
}

/// Decompresses the task's block into this thread's buffer and calls `f`.
pub fn with_block<R>(
    task: &BlockTask<'_>,
    counters: &ScanCounters,
    f: impl FnOnce(&Block) -> R,
) -> Result<R, SegmentError> {
    with_stored_block(&task.chunk.segment, task.block, counters, |block| {
        ScanCounters::add(&counters.metadata_bytes, block.metadata_bytes() as u64);
        f(block)
    })
}

/// Decompresses block `meta` of `segment` into this thread's buffer (its
/// view narrowed to `meta`'s run) and calls `f`, counting the block read,
/// its bytes and the time taken, but not its structured metadata (the
/// caller counts what its view holds).
pub fn with_stored_block<R>(
    segment: &SegmentReader,
    meta: &BlockMeta,
    counters: &ScanCounters,
    f: impl FnOnce(&mut Block) -> R,
) -> Result<R, SegmentError> {
    BLOCK.with(|b| {
        let mut block = b.borrow_mut();
        let t = Instant::now();
        segment.read_block(meta, &mut block)?;
        ScanCounters::add(&counters.decompress_ns, t.elapsed().as_nanos() as u64);
        ScanCounters::add(&counters.blocks, 1);
        ScanCounters::add(&counters.bytes_compressed, u64::from(meta.len));
        super::stats::SCAN_PROGRESS.block(u64::from(meta.len));
        ScanCounters::add(&counters.bytes_decompressed, u64::from(meta.raw_len));
        Ok(f(&mut block))
    })
}
