//! The label index: one memory-mapped, TSDB-like file per tenant and UTC day
//! (`TENANT/index/YYYY-MM-DD-GEN.idx`), built from the footers of that day's
//! segments.
//!
//! The index is only an accelerator. The manifest records which segments
//! each index covers; a query uses an index for exactly those segments and
//! reads every other segment's footer, so a missing, stale or corrupt index
//! never changes an answer (`engine::plan`).
//!
//! This module is the file format only: build an index from segment footers
//! ([`build_day_index`]), open, read and select ([`DayIndex`]). Rebuilding a
//! day under the writer lock is `store::rebuild`'s job (the index sits below
//! the store); a rebuild reads segment footers only (mapped), never blocks,
//! so ingest can keep the index current after every batch.

pub mod format;

use std::path::PathBuf;

pub use format::{build_day_index, build_day_index_from, DayIndex, IndexedChunk, SeriesRef};

/// Errors reading an index file.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// I/O on the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The index file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not an index, is truncated, or fails its checksum.
    #[error("{path}: corrupt index: {what}")]
    Corrupt {
        /// The index file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// Written by a newer lokal.
    #[error("{path}: index format version {found} is newer than this lokal supports ({supported}); upgrade lokal")]
    Version {
        /// The index file.
        path: PathBuf,
        /// Version in the file.
        found: u32,
        /// Highest supported.
        supported: u32,
    },
}
