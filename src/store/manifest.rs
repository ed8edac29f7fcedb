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
    /// Files no longer live that readers of older manifests may still
    /// read: compacted segments, replaced index builds. A writer deletes
    /// each once no reader holds a manifest older than the commit that
    /// retired it (`lease.rs`). Absent when empty, so older lokal versions
    /// read such a manifest (and remove these files as leftovers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retired: Vec<RetiredFile>,
    /// Delete requests (`lokal delete`), pending and processed, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deletes: Vec<DeleteRequest>,
}

/// A file a commit stopped naming, kept until no reader can need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetiredFile {
    /// Path relative to the tenant directory: a segment or index file name.
    pub path: String,
    /// Generation of the commit that stopped naming it: readers of older
    /// manifests may read it.
    pub generation: u64,
    /// When it was retired, ns since the epoch.
    pub at: i64,
    /// The commit could not keep a lease on the manifest it replaced (no
    /// hard links on this file system): the file waits
    /// [`super::lease::UNLEASED_GRACE`] after `at` instead.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unleased: bool,
}

/// A delete request, as Loki's delete API stores one: entries of the
/// streams `query`'s selector matches, between `start` and `end` (both
/// included), whose line passes its line filters, are removed by the next
/// compaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteRequest {
    /// Opaque id (8 hex digits), for `--cancel`.
    pub id: String,
    /// The LogQL: a stream selector with optional line filters.
    pub query: String,
    /// First time deleted, ns (included).
    pub start: i64,
    /// Last time deleted, ns (included, as in Loki).
    pub end: i64,
    /// When it was made, ns.
    pub created_at: i64,
    /// `received` until a compaction applied it, then `processed`.
    pub status: DeleteStatus,
    /// When it was applied, ns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processed_at: Option<i64>,
    /// Entries it removed.
    #[serde(default)]
    pub deleted_entries: u64,
}

/// Where a delete request stands (Loki's `received` / `processed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeleteStatus {
    /// Waiting for the next compaction.
    Received,
    /// Applied.
    Processed,
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Written by a compaction: it holds entries of segments it replaced,
    /// so a tail (`query --tail`) that missed the compaction's commits does
    /// not show them again. Absent (false) for ingested segments.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub compacted: bool,
}

/// The most bytes a [`Position`] hashes of a file's head or of the stretch
/// before its offset: enough to tell files apart, cheap to re-read.
pub const POSITION_HASH_LEN: u64 = 1024;

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
    /// held back until its newline arrives. A copy's position (a file
    /// holding what another file held) has its original's offset, past its
    /// own size while the copy is shorter (`ingest/follow.rs`).
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

/// The name lokal gives segment `id` of `day`, relative to the tenant
/// directory: `segments/YYYY-MM-DD/ID.seg`, ID in 16 hex digits.
pub fn segment_rel_path(day: &str, id: u64) -> String {
    format!("segments/{day}/{id:016x}.seg")
}

/// Whether `path` is a name lokal gives a segment (`segments/DAY/ID.seg`)
/// or an index file (`index/DAY-GEN.idx`): the only files a retired entry
/// may name, since a writer deletes them.
pub fn is_store_file_name(path: &str) -> bool {
    if let Some(rest) = path.strip_prefix("segments/") {
        return rest.split_once('/').is_some_and(|(day, name)| {
            is_day_name(day)
                && super::segment_file_id(name).is_some_and(|id| segment_rel_path(day, id) == path)
        });
    }
    path.strip_prefix("index/")
        .and_then(|n| n.strip_suffix(".idx"))
        .and_then(|n| n.rsplit_once('-'))
        .is_some_and(|(day, gen)| {
            is_day_name(day) && !gen.is_empty() && gen.bytes().all(|b| b.is_ascii_digit())
        })
}

/// Whether `day` is a day name as lokal writes it (`YYYY-MM-DD`).
pub fn is_day_name(day: &str) -> bool {
    crate::time::parse_day(day)
        .map(crate::time::day_string)
        .as_deref()
        == Some(day)
}

/// Parses and checks a manifest's bytes: JSON of a supported version whose
/// entries pass [`problems`]. The error says what is wrong.
pub fn parse(bytes: &[u8]) -> Result<Manifest, String> {
    let m: Manifest = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if m.version > MANIFEST_VERSION {
        return Err(format!(
            "version {} is newer than this lokal supports; upgrade lokal",
            m.version
        ));
    }
    match problems(&m).into_iter().next() {
        None => Ok(m),
        Some(p) => Err(format!("{p}; `lokal check --repair` rebuilds the manifest")),
    }
}

/// What makes a parsed manifest unusable, one message per problem: a path
/// that is not the plain name lokal gives its files (an absolute path, `..`,
/// a name outside `segments/` or `index/`: the manifest is never trusted to
/// point elsewhere), a day that is not `YYYY-MM-DD`, a segment id used twice,
/// two indexes for one day. Empty when the manifest is sound.
pub fn problems(m: &Manifest) -> Vec<String> {
    let mut out = Vec::new();
    let mut ids = std::collections::HashSet::new();
    for s in &m.segments {
        if !is_day_name(&s.day) {
            out.push(format!(
                "segment {}: day {:?} is not YYYY-MM-DD",
                s.id, s.day
            ));
        } else if s.path != segment_rel_path(&s.day, s.id) {
            out.push(format!(
                "segment {}: path {:?} is not the plain name {:?} inside the tenant directory",
                s.id,
                s.path,
                segment_rel_path(&s.day, s.id)
            ));
        }
        if !ids.insert(s.id) {
            out.push(format!("segment id {} is listed twice", s.id));
        }
    }
    let mut days = std::collections::HashSet::new();
    for i in &m.indexes {
        let plain = i
            .path
            .strip_prefix("index/")
            .and_then(|n| n.strip_suffix(".idx"))
            .and_then(|n| n.strip_prefix(i.day.as_str()))
            .and_then(|g| g.strip_prefix('-'))
            .is_some_and(|g| !g.is_empty() && g.bytes().all(|b| b.is_ascii_digit()));
        if !is_day_name(&i.day) || !plain {
            out.push(format!(
                "index of {:?}: path {:?} is not a plain name index/DAY-GEN.idx inside the tenant directory",
                i.day, i.path
            ));
        }
        if !days.insert(i.day.as_str()) {
            out.push(format!("the index of {} is listed twice", i.day));
        }
    }
    let live: std::collections::HashSet<&str> = m
        .segments
        .iter()
        .map(|s| s.path.as_str())
        .chain(m.indexes.iter().map(|i| i.path.as_str()))
        .collect();
    for r in &m.retired {
        if !is_store_file_name(&r.path) {
            out.push(format!(
                "retired file {:?} is not the plain name of a segment or index file inside the tenant directory",
                r.path
            ));
        } else if live.contains(r.path.as_str()) {
            out.push(format!("{} is both live and retired", r.path));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: u64, day: &str, path: &str) -> SegmentEntry {
        SegmentEntry {
            id,
            day: day.into(),
            path: path.into(),
            ..Default::default()
        }
    }

    fn with_segments(segs: Vec<SegmentEntry>) -> Vec<u8> {
        let mut m = Manifest::new();
        m.segments = segs;
        serde_json::to_vec(&m).unwrap()
    }

    #[test]
    fn paths_must_be_plain_names_inside_the_tenant() {
        let good = entry(3, "2024-01-01", "segments/2024-01-01/0000000000000003.seg");
        assert!(parse(&with_segments(vec![good.clone()])).is_ok());
        for bad in [
            "../../outside/x.seg",
            "/etc/passwd",
            "segments/2024-01-01/../../../etc/passwd",
            "segments/2024-01-01/0000000000000004.seg",
            "segments/2024-01-02/0000000000000003.seg",
            "segments//2024-01-01/0000000000000003.seg",
            "./segments/2024-01-01/0000000000000003.seg",
        ] {
            let e = parse(&with_segments(vec![entry(3, "2024-01-01", bad)])).unwrap_err();
            assert!(
                e.contains("is not the plain name") && e.contains("check --repair"),
                "{bad}: {e}"
            );
        }
        let e = parse(&with_segments(vec![entry(
            3,
            "../x",
            "segments/../x/0000000000000003.seg",
        )]))
        .unwrap_err();
        assert!(e.contains("is not YYYY-MM-DD"), "{e}");
        let e = parse(&with_segments(vec![good.clone(), good])).unwrap_err();
        assert!(e.contains("listed twice"), "{e}");

        let mut m = Manifest::new();
        for path in [
            "index/2024-01-01-7.idx",
            "/tmp/x.idx",
            "index/../../x-1.idx",
            "index/2024-01-01-.idx",
        ] {
            m.indexes = vec![IndexEntry {
                day: "2024-01-01".into(),
                path: path.into(),
                segments: vec![],
                bytes: 0,
            }];
            let r = parse(&serde_json::to_vec(&m).unwrap());
            assert_eq!(r.is_ok(), path == "index/2024-01-01-7.idx", "{path}: {r:?}");
        }
    }

    #[test]
    fn newer_versions_and_bad_json_are_refused() {
        assert!(parse(b"{").is_err());
        let mut m = Manifest::new();
        m.version = MANIFEST_VERSION + 1;
        let e = parse(&serde_json::to_vec(&m).unwrap()).unwrap_err();
        assert!(e.contains("upgrade lokal"), "{e}");
    }
}
