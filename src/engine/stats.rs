//! Query statistics: printed by `--stats`, and the values of the `stats`
//! of Loki's response bodies (`loki::api`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Counters shared by the scan tasks.
#[derive(Debug, Default)]
pub struct ScanCounters {
    /// Blocks decompressed.
    pub blocks: AtomicU64,
    /// Compressed bytes read.
    pub bytes_compressed: AtomicU64,
    /// Bytes after decompression.
    pub bytes_decompressed: AtomicU64,
    /// Lines run through the pipeline.
    pub lines_scanned: AtomicU64,
    /// Lines the block-level literal search let skip.
    pub lines_skipped: AtomicU64,
    /// Lines the pipeline kept (Loki's post-filter lines).
    pub lines_kept: AtomicU64,
    /// Bytes of structured metadata decompressed.
    pub metadata_bytes: AtomicU64,
    /// Nanoseconds spent decompressing.
    pub decompress_ns: AtomicU64,
    /// Nanoseconds spent in filters and the pipeline.
    pub pipeline_ns: AtomicU64,
}

impl ScanCounters {
    pub(crate) fn add(c: &AtomicU64, v: u64) {
        c.fetch_add(v, Ordering::Relaxed);
    }
}

/// What this process has scanned so far, over all its queries: blocks and
/// their compressed bytes, read by a progress display while a query runs
/// (the per-query [`ScanCounters`] live inside the query).
#[derive(Debug, Default)]
pub struct ScanProgress {
    /// Blocks decompressed.
    pub blocks: AtomicU64,
    /// Their compressed bytes.
    pub bytes: AtomicU64,
}

impl ScanProgress {
    pub(crate) fn block(&self, compressed: u64) {
        self.blocks.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(compressed, Ordering::Relaxed);
    }

    /// `(blocks, compressed bytes)` so far.
    pub fn get(&self) -> (u64, u64) {
        (
            self.blocks.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }
}

/// The process's [`ScanProgress`].
pub static SCAN_PROGRESS: ScanProgress = ScanProgress {
    blocks: AtomicU64::new(0),
    bytes: AtomicU64::new(0),
};

/// What a query did.
#[derive(Debug, Default, Clone)]
pub struct QueryStats {
    /// Streams selected (summed over the selectors of a metric query).
    pub streams: u64,
    /// Chunks (stream × segment) selected.
    pub chunks: u64,
    /// Segments whose footers were read.
    pub segments: u64,
    /// Blocks decompressed.
    pub blocks: u64,
    /// Blocks left unread (time pruning, or the limit met early).
    pub blocks_skipped: u64,
    /// Compressed bytes read.
    pub bytes_compressed: u64,
    /// Bytes decompressed.
    pub bytes_decompressed: u64,
    /// Lines run through the pipeline.
    pub lines_scanned: u64,
    /// Lines skipped by the block-level literal search.
    pub lines_skipped: u64,
    /// Lines the pipeline kept.
    pub lines_kept: u64,
    /// Bytes of structured metadata decompressed.
    pub metadata_bytes: u64,
    /// Selections of streams the query ran (a log query or each range
    /// aggregation: Loki's "shards" of an unsharded query).
    pub shards: u64,
    /// Entries or samples returned.
    pub results: u64,
    /// Time planning (index or footers).
    pub plan_time: Duration,
    /// Summed time in decompression, over all threads.
    pub decompress_time: Duration,
    /// Summed time in filters and the pipeline, over all threads.
    pub pipeline_time: Duration,
    /// Wall time of the whole query.
    pub total_time: Duration,
    /// Indexes that could not be used (the answer came from segment
    /// footers instead and is complete).
    pub warnings: Vec<String>,
    /// What the query selected but could not read: damaged blocks and
    /// segments, skipped. Non-empty means the answer is partial.
    pub partial: Vec<crate::store::ReadProblem>,
}

impl QueryStats {
    /// Adds what another scan of the same query read (a slice of a streamed
    /// log query): its blocks, lines, bytes, times, results and problems;
    /// not its plan's streams, chunks and segments.
    pub(crate) fn add_scan(&mut self, o: &QueryStats) {
        self.blocks += o.blocks;
        self.blocks_skipped += o.blocks_skipped;
        self.bytes_compressed += o.bytes_compressed;
        self.bytes_decompressed += o.bytes_decompressed;
        self.lines_scanned += o.lines_scanned;
        self.lines_skipped += o.lines_skipped;
        self.lines_kept += o.lines_kept;
        self.metadata_bytes += o.metadata_bytes;
        self.results += o.results;
        self.plan_time += o.plan_time;
        self.decompress_time += o.decompress_time;
        self.pipeline_time += o.pipeline_time;
        self.warnings.extend(o.warnings.iter().cloned());
        self.partial.extend(o.partial.iter().cloned());
    }

    pub(crate) fn absorb(&mut self, c: &ScanCounters) {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        self.blocks += g(&c.blocks);
        self.bytes_compressed += g(&c.bytes_compressed);
        self.bytes_decompressed += g(&c.bytes_decompressed);
        self.lines_scanned += g(&c.lines_scanned);
        self.lines_skipped += g(&c.lines_skipped);
        self.lines_kept += g(&c.lines_kept);
        self.metadata_bytes += g(&c.metadata_bytes);
        self.decompress_time += Duration::from_nanos(g(&c.decompress_ns));
        self.pipeline_time += Duration::from_nanos(g(&c.pipeline_ns));
    }
}
