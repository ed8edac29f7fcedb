//! `MANIFEST`: the list of live segments and the input positions they cover.
//!
//! The manifest is JSON, replaced atomically (write temporary, fsync, rename,
//! fsync directory). Positions live in the same file as the segment list, so
//! the data a re-run must not read again and the data that was stored are
//! committed in one step: a crash leaves both old or both new.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Version of the manifest format.
pub const MANIFEST_VERSION: u32 = 1;

/// The manifest's contents.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version.
    pub version: u32,
    /// Bumped at every commit.
    pub generation: u64,
    /// The next segment id to hand out.
    pub next_segment_id: u64,
    /// Live segments.
    pub segments: Vec<SegmentEntry>,
    /// Per input file (absolute path): how far it has been read.
    #[serde(default)]
    pub positions: BTreeMap<String, Position>,
    /// Label indexes, at most one per day. Absent from manifests written
    /// before indexes existed; a day without one is read from its footers.
    #[serde(default)]
    pub indexes: Vec<IndexEntry>,
}

/// A label index file of one day. It accelerates exactly the segments it
/// lists; segments of the day it does not list are read from their footers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// UTC day, `YYYY-MM-DD`.
    pub day: String,
    /// Path relative to the tenant directory: `index/YYYY-MM-DD-GEN.idx`.
    pub path: String,
    /// Ids of the segments the index was built from, ascending.
    pub segments: Vec<u64>,
    /// File size.
    pub bytes: u64,
}

/// A live segment and its summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentEntry {
    /// Unique id within the tenant.
    pub id: u64,
    /// UTC day of every entry in it, `YYYY-MM-DD`.
    pub day: String,
    /// Path relative to the tenant directory.
    pub path: String,
    /// File size.
    pub bytes: u64,
    /// Raw (uncompressed) size of the lines.
    pub raw_bytes: u64,
    /// Entries.
    pub entries: u64,
    /// Streams with a chunk in it.
    pub streams: u64,
    /// Blocks.
    pub blocks: u64,
    /// Smallest timestamp, ns.
    pub min_t: i64,
    /// Largest timestamp, ns.
    pub max_t: i64,
}

/// How far an input file has been read, and how to recognise that file again.
///
/// The map of positions is keyed by the path the file had when last read.
/// A file is recognised by device and inode, checked against the hashes of
/// its first bytes and of the bytes just before `offset` (inodes are reused
/// as soon as a file is deleted); a copy of it (copytruncate, a compressed
/// rotated copy) is recognised by those hashes alone. Manifests written
/// before the tail hash and `name` existed read with `tail_len` 0 (only the
/// head is checked) and `name` absent (the key).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// Device of the file when read.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// Bytes consumed (of the decompressed stream for `.gz`/`.zst` inputs).
    /// Always at a line end: an unterminated last line of a live file is
    /// held back until its newline arrives.
    pub offset: u64,
    /// Size of the file (compressed size for compressed inputs) when read.
    pub size: u64,
    /// Length of the prefix hashed in `head_hash` (up to 1 KiB).
    pub head_len: u64,
    /// xxh3 of the first `head_len` (decompressed) bytes.
    pub head_hash: u64,
    /// Timestamp of the last entry read, inherited by a continuation that
    /// starts with a line lacking a timestamp.
    pub last_ts: Option<i64>,
    /// Line number (1-based) of the next line, for messages.
    #[serde(default)]
    pub line: u64,
    /// Length of the stretch just before `offset` hashed in `tail_hash` (up
    /// to 1 KiB; 0: not recorded).
    #[serde(default)]
    pub tail_len: u64,
    /// xxh3 of the `tail_len` bytes before `offset`.
    #[serde(default)]
    pub tail_hash: u64,
    /// The path the file had when it was first read, when it differs from
    /// the key (the file was renamed since): its entries keep this
    /// `filename` label, so one log's lines stay one stream through rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Manifest {
    /// The index entry of `day`, if any.
    pub fn index_for(&self, day: &str) -> Option<&IndexEntry> {
        self.indexes.iter().find(|i| i.day == day)
    }

    /// An empty manifest for a new tenant.
    pub fn new() -> Self {
        Manifest {
            version: MANIFEST_VERSION,
            generation: 0,
            next_segment_id: 1,
            ..Default::default()
        }
    }
}
