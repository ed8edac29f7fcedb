//! Chunk storage: blocks of one stream's entries (columnar, zstd-compressed)
//! and segment files that hold many streams' chunks plus a footer.
pub mod block;
pub mod segment;

pub use block::Block;
pub use segment::{BlockMeta, SegmentFooter, SegmentReader, SegmentWriter, StreamChunk};
