//! `lokal check [--repair]`: is the store what its manifest says, and can
//! every byte of it be read back?
//!
//! A check reads the manifest (and, when it is damaged or missing, what can
//! be salvaged from it), opens every listed segment the way queries do (no
//! symlinks, regular files only), verifies the footer and every block
//! (checksum, zstd, encoding, counts), compares the manifest's summary of
//! each segment with its footer, opens every label index and compares it
//! byte for byte with a fresh build from the footers it covers, and lists
//! what lies in `segments/` and `index/` that the manifest does not name.
//!
//! A repair runs under the writer lock and never deletes data:
//! - unreadable segments, and the originals of segments with damaged
//!   blocks, are moved to `quarantine/STAMP/` (hard links made before the
//!   manifest stops naming them, so a crash at any point loses nothing),
//!   with a `REPORT` saying why; the readable blocks of a damaged segment
//!   are copied verbatim into a new segment;
//! - a lost or unparseable manifest is rebuilt from what can be salvaged of
//!   it, else from the self-describing footers of the segment files on disk
//!   (the old manifest goes to quarantine). Input positions live only in
//!   the manifest: those that can be read are kept, the rest are lost, and
//!   the report says so;
//! - entries for missing files are dropped, summaries that disagree with
//!   the footer are recomputed, a colliding `next_segment_id` is moved past
//!   the largest id, a duplicate id gets a new segment;
//! - every label index is rebuilt.
//!
//! Files the next writer removes anyway (temporaries and segments of an
//! interrupted write, superseded index builds) are notes, not problems.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::manifest::{self, is_day_name, segment_rel_path};
use super::{
    check_dirs, segment_file_id, summarize, Manifest, Position, SegmentEntry, Store, StoreError,
    Tenant, TenantWriter, WriterLock,
};
use crate::chunk::segment::SegmentError;
use crate::chunk::segment::{run_of, FrameRef};
use crate::chunk::{Block, SegmentReader};
use crate::index::{build_day_index, IndexError};

/// The quarantine directory in a tenant directory.
pub const QUARANTINE_DIR: &str = "quarantine";

/// One thing a check found, about one file of the tenant.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// The file, relative to the tenant directory (`MANIFEST`,
    /// `segments/DAY/ID.seg`, `index/DAY-GEN.idx`).
    pub file: String,
    /// What is wrong (or, for a note, what is there).
    pub what: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file, self.what)
    }
}

/// What a check of one tenant found (and, with `repair`, did).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CheckReport {
    /// The tenant.
    pub tenant: String,
    /// Segments checked.
    pub segments: u64,
    /// Blocks read.
    pub blocks: u64,
    /// Entries in blocks that read back.
    pub entries: u64,
    /// Label indexes checked.
    pub indexes: u64,
    /// Damage and inconsistencies: the store does not hold what its manifest
    /// says, or part of it cannot be read.
    pub problems: Vec<Finding>,
    /// Harmless findings: leftovers of interrupted writes the next writer
    /// removes, days without an index.
    pub notes: Vec<Finding>,
    /// What the repair did, one sentence each (empty without `--repair`).
    pub repairs: Vec<String>,
    /// Where the repair moved files, if it moved any.
    pub quarantine: Option<PathBuf>,
    /// After a repair: the problems a fresh check still finds.
    pub remaining: Vec<Finding>,
}

impl CheckReport {
    /// True when nothing is wrong now: no problem found, or every one
    /// repaired.
    pub fn sound(&self) -> bool {
        if self.repairs.is_empty() {
            self.problems.is_empty()
        } else {
            self.remaining.is_empty()
        }
    }
}

/// Checks `tenant` of `store`, reading only (no lock). A store directory
/// that does not exist is [`StoreError::NoStore`].
pub fn check(store: &Store, tenant: &str) -> Result<CheckReport, StoreError> {
    store.ensure_exists()?;
    let tenant = store.tenant(tenant)?;
    // No lock: a writer may commit meanwhile and remove a file the manifest
    // read at the start named. Problems found while the manifest changed are
    // checked again against the new one.
    let mut last = inspect(&tenant)?;
    for _ in 0..3 {
        if last.report.problems.is_empty() || manifest_generation(&tenant) == last.generation {
            break;
        }
        last = inspect(&tenant)?;
    }
    Ok(last.report)
}

/// Checks `tenant` of `store` under the writer lock `lock` (the caller
/// takes it), repairs what it found, and checks again: the report's
/// `repairs` say what was done, `remaining` what is still wrong.
pub fn check_and_repair(
    store: &Store,
    tenant: &str,
    lock: &WriterLock,
) -> Result<CheckReport, StoreError> {
    store.ensure_exists()?;
    let tenant = store.tenant(tenant)?;
    let found = inspect(&tenant)?;
    let mut report = found.report.clone();
    if report.problems.is_empty() {
        return Ok(report);
    }
    let (repairs, quarantine) = repair(&tenant, lock, found)?;
    report.repairs = repairs;
    report.quarantine = quarantine;
    report.remaining = inspect(&tenant)?.report.problems;
    Ok(report)
}

fn manifest_generation(t: &Tenant) -> Option<u64> {
    t.read_manifest().ok().map(|m| m.generation)
}

/// How the manifest was found.
enum Source {
    /// Sound: it is the truth.
    Sound(Manifest),
    /// Damaged or missing: what could be salvaged (the segment files on
    /// disk it lacks are added).
    Salvaged(Manifest),
    /// Written by a newer lokal: nothing is repaired.
    Newer,
}

/// The state of one listed segment.
enum SegState {
    Good,
    Missing,
    /// Not readable at all (footer, header, not a regular file...).
    Unreadable(String),
    /// Written by a newer lokal: not damage.
    Newer,
    /// Some blocks fail (each named with its offset and reason); the
    /// others are copied by a repair.
    Damaged {
        good: usize,
        bad: usize,
        lost_entries: u64,
        errors: Vec<String>,
    },
}

struct SegCheck {
    entry: SegmentEntry,
    state: SegState,
    /// The footer's summary, when the footer reads.
    actual: Option<SegmentEntry>,
}

/// An inspection: the report and what a repair needs.
struct Inspection {
    report: CheckReport,
    generation: Option<u64>,
    source: Option<Source>,
    segs: Vec<SegCheck>,
    /// Ids listed twice: each later entry, to be copied under a new id.
    duplicates: Vec<SegCheck>,
    /// Files that are not lokal's (symlinks, FIFOs, strange names), moved
    /// to quarantine.
    strays: Vec<(String, String)>,
    next_id_collides: bool,
    /// Highest generation in the name of an index file on disk.
    max_index_gen: u64,
    /// The lease on the manifest read: no writer deletes the files it
    /// names while the check reads them.
    _lease: Option<super::lease::Lease>,
}

fn finding(file: impl Into<String>, what: impl Into<String>) -> Finding {
    Finding {
        file: file.into(),
        what: what.into(),
    }
}

/// Input positions against the files they name. A position is only where
/// the next ingest of a file resumes: a file truncated in place since is a
/// note. A position that contradicts itself cannot have been written by
/// lokal and is a problem (nothing is repaired: dropping it would make the
/// next ingest store the file's lines again).
fn check_positions(positions: &BTreeMap<String, Position>, rep: &mut CheckReport) {
    use std::os::unix::fs::MetadataExt;
    for (key, p) in positions {
        let at = |what: String| finding(super::MANIFEST_FILE, format!("position of {key}: {what}"));
        if p.head_len > manifest::POSITION_HASH_LEN
            || p.tail_len > manifest::POSITION_HASH_LEN
            || p.tail_len > p.offset
        {
            rep.problems.push(at(format!(
                "inconsistent (offset {}, head {} bytes, tail {} bytes): the next ingest of it cannot resume and reads it from its start; nothing is repaired",
                p.offset, p.head_len, p.tail_len
            )));
            continue;
        }
        // A file rotated away or replaced since is the normal course of a
        // log's life (ingest follows it); a truncated one may have lost lines
        // written after the last ingest unless its rotated copy is ingested.
        if let Ok(m) = fs::metadata(key) {
            if m.dev() == p.dev && m.ino() == p.ino && m.len() < p.offset && m.len() < p.size {
                rep.notes.push(at(format!(
                    "the file is shorter ({} bytes) than what was read ({}): truncated (copytruncate?); the next ingest reads it from its start, and lines written before the cut are only in its rotated copy",
                    m.len(),
                    p.offset
                )));
            }
        }
    }
}

fn inspect(t: &Tenant) -> Result<Inspection, StoreError> {
    let mut ins = Inspection {
        report: CheckReport {
            tenant: t.name().to_string(),
            ..Default::default()
        },
        generation: None,
        source: None,
        segs: Vec::new(),
        duplicates: Vec::new(),
        strays: Vec::new(),
        next_id_collides: false,
        max_index_gen: 0,
        _lease: None,
    };
    let rep = &mut ins.report;
    match fs::symlink_metadata(t.dir()) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            rep.notes
                .push(finding(".", "the tenant has no data (no directory)"));
            return Ok(ins);
        }
        Err(e) => return Err(StoreError::io(t.dir(), e)),
        Ok(m) if !m.file_type().is_dir() => {
            rep.problems.push(finding(
                ".",
                "the tenant directory is a symbolic link or not a directory; lokal does not follow links inside its store (nothing is repaired)",
            ));
            return Ok(ins);
        }
        Ok(_) => {}
    }

    // The manifest.
    let disk_segments = t.segment_files()?;
    let source = match t.read_manifest_bytes_leased().map(|r| {
        r.map(|(bytes, lease)| {
            ins._lease = lease;
            bytes
        })
    }) {
        Err(e) => {
            rep.problems.push(finding(
                super::MANIFEST_FILE,
                format!("cannot be read: {}", source_text(&e)),
            ));
            Source::Salvaged(Manifest::new())
        }
        Ok(None) if disk_segments.is_empty() => {
            rep.notes.push(finding(
                super::MANIFEST_FILE,
                "absent and no segment files: the tenant has no data",
            ));
            Source::Sound(Manifest::new())
        }
        Ok(None) => {
            rep.problems.push(finding(
                super::MANIFEST_FILE,
                format!(
                    "missing, but {} segment files exist; --repair rebuilds it from their footers",
                    disk_segments.len()
                ),
            ));
            Source::Salvaged(Manifest::new())
        }
        Ok(Some(bytes)) => match manifest::parse(&bytes) {
            Ok(m) => Source::Sound(m),
            Err(what) => salvage(&bytes, &what, rep),
        },
    };
    if let Source::Newer = source {
        ins.source = Some(source);
        return Ok(ins);
    }
    // Rebuilding, every segment file on disk the salvaged list lacks is
    // adopted: it may be the leftover of a write interrupted just before
    // the damage (its lines would then be stored twice), but leaving it out
    // would let the next writer remove data that may exist nowhere else.
    let (live, adopt): (Vec<SegmentEntry>, bool) = match &source {
        Source::Sound(m) => (m.segments.clone(), false),
        Source::Salvaged(manifest) => (manifest.segments.clone(), true),
        Source::Newer => unreachable!("returned above"),
    };
    super::push::check(
        t.dir(),
        match &source {
            Source::Sound(m) => Some(m),
            _ => None,
        },
        rep,
    );
    if let Source::Sound(m) = &source {
        check_positions(&m.positions, rep);
        ins.generation = Some(m.generation);
        if let Some(max) = m.segments.iter().map(|s| s.id).max() {
            if m.next_segment_id <= max {
                ins.next_id_collides = true;
                rep.problems.push(finding(
                    super::MANIFEST_FILE,
                    format!(
                        "next_segment_id {} is not above the largest segment id {max}: a new segment could take a live one's name",
                        m.next_segment_id
                    ),
                ));
            }
        }
    }

    // The segment list: from the manifest, or (rebuilding) from the files.
    let mut entries: Vec<SegmentEntry> = Vec::new();
    let mut dups: Vec<SegmentEntry> = Vec::new();
    let mut seen_ids: HashSet<u64> = HashSet::new();
    let mut candidates = live;
    if adopt {
        // Retired segments hold data that live ones hold too (a compaction's
        // inputs): adopting them would store their entries twice.
        let listed: HashSet<String> = candidates
            .iter()
            .map(|e| e.path.clone())
            .chain(retired_of(&source))
            .collect();
        for rel in disk_segments.iter().filter(|r| !listed.contains(*r)) {
            let Some((day, name)) = rel
                .strip_prefix("segments/")
                .and_then(|r| r.split_once('/'))
            else {
                continue;
            };
            let Some(id) = segment_file_id(name) else {
                continue;
            };
            rep.notes.push(finding(
                rel.clone(),
                "not in what could be read of the manifest: adopted from its footer (if an interrupted write left it, its lines may now be stored twice)",
            ));
            // A zero summary: filled in from the footer when it is read.
            candidates.push(SegmentEntry {
                id,
                day: day.to_string(),
                path: rel.clone(),
                ..Default::default()
            });
        }
    }
    for e in candidates {
        if seen_ids.insert(e.id) {
            entries.push(e);
        } else if entries.iter().any(|x| x.path == e.path) {
            rep.problems.push(finding(
                e.path.clone(),
                format!("listed twice in the manifest (id {})", e.id),
            ));
        } else {
            rep.problems.push(finding(
                e.path.clone(),
                format!(
                    "segment id {} is used by another segment too; --repair gives this one a new id",
                    e.id
                ),
            ));
            dups.push(e);
        }
    }

    // Every listed segment, read in full, in parallel.
    let dir = t.dir().to_path_buf();
    let mut checked: Vec<(SegCheck, u64, u64)> = entries
        .into_par_iter()
        .chain(dups.clone().into_par_iter())
        .map(|e| check_segment(&dir, e))
        .collect();
    let n_dups = dups.len();
    let dup_checks = checked.split_off(checked.len() - n_dups);
    for (c, blocks, entries) in checked.iter().chain(&dup_checks) {
        rep.segments += 1;
        rep.blocks += blocks;
        rep.entries += entries;
        let file = c.entry.path.clone();
        match &c.state {
            SegState::Good => {}
            SegState::Missing => rep.problems.push(finding(
                file.clone(),
                format!(
                    "listed in the manifest but missing ({} entries lost); --repair drops it from the manifest",
                    c.entry.entries
                ),
            )),
            SegState::Unreadable(why) => rep.problems.push(finding(
                file.clone(),
                format!("unreadable: {why}; --repair moves it to quarantine/"),
            )),
            SegState::Newer => rep.problems.push(finding(
                file.clone(),
                "written by a newer lokal; upgrade lokal (nothing is repaired)",
            )),
            SegState::Damaged {
                good,
                bad,
                lost_entries,
                errors,
            } => {
                for e in errors {
                    rep.problems.push(finding(file.clone(), e.clone()));
                }
                rep.problems.push(finding(
                    file.clone(),
                    format!(
                        "{bad} of {} blocks unreadable ({lost_entries} entries); --repair copies the {good} readable blocks into a new segment and moves this file to quarantine/",
                        good + bad
                    ),
                ));
            }
        }
        if let Some(actual) = &c.actual {
            if c.entry != *actual && !matches!(c.state, SegState::Damaged { .. }) {
                rep.problems.push(finding(
                    file.clone(),
                    format!(
                        "the manifest's summary disagrees with the footer ({}); --repair takes the footer's",
                        summary_diff(&c.entry, actual)
                    ),
                ));
            }
            if is_day_name(&actual.day) && actual.blocks > 0 {
                if let Some(d) = crate::time::parse_day(&actual.day) {
                    let lo = d.saturating_mul(crate::time::NANOS_PER_DAY);
                    let hi = lo.saturating_add(crate::time::NANOS_PER_DAY);
                    if actual.min_t < lo || actual.max_t >= hi {
                        rep.problems.push(finding(
                            file.clone(),
                            format!(
                                "holds entries outside its day {} (not repaired)",
                                actual.day
                            ),
                        ));
                    }
                }
            }
        }
    }
    ins.segs = checked.into_iter().map(|(c, _, _)| c).collect();
    ins.duplicates = dup_checks.into_iter().map(|(c, _, _)| c).collect();
    let mut live_paths: HashSet<String> = ins
        .segs
        .iter()
        .chain(&ins.duplicates)
        .map(|c| c.entry.path.clone())
        .collect();
    for rel in retired_of(&source) {
        let kind = fs::symlink_metadata(t.dir().join(&rel)).map(|m| m.file_type());
        if kind.is_ok_and(|k| k.is_file()) {
            ins.report.notes.push(finding(
                rel.clone(),
                "retired (compacted or replaced); deleted by a writer once no query holds an older manifest",
            ));
            live_paths.insert(rel);
        }
    }

    // What lies on disk besides the listed segments.
    ins.source = Some(source);
    scan_tree(t, &live_paths, &mut ins)?;

    // Label indexes (a rebuilt manifest gets new ones anyway).
    if let Some(Source::Sound(m)) = &ins.source {
        check_indexes(t, m, &ins.segs, &mut ins.report);
    }
    ins.report.notes.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(ins)
}

/// The retired files a manifest (sound or salvaged) lists.
fn retired_of(source: &Source) -> Vec<String> {
    match source {
        Source::Sound(m) | Source::Salvaged(m) => {
            m.retired.iter().map(|r| r.path.clone()).collect()
        }
        Source::Newer => Vec::new(),
    }
}

/// The message of an I/O error inside a store error, without the path.
fn source_text(e: &StoreError) -> String {
    match e {
        StoreError::Io { source, .. } => source.to_string(),
        e => e.to_string(),
    }
}

/// What differs between a manifest entry and the footer's summary.
fn summary_diff(listed: &SegmentEntry, actual: &SegmentEntry) -> String {
    let mut d = Vec::new();
    let mut f = |name: &str, a: String, b: String| {
        if a != b {
            d.push(format!("{name} {a} in the manifest, {b} in the file"));
        }
    };
    f("bytes", listed.bytes.to_string(), actual.bytes.to_string());
    f(
        "entries",
        listed.entries.to_string(),
        actual.entries.to_string(),
    );
    f(
        "blocks",
        listed.blocks.to_string(),
        actual.blocks.to_string(),
    );
    f(
        "streams",
        listed.streams.to_string(),
        actual.streams.to_string(),
    );
    f(
        "raw bytes",
        listed.raw_bytes.to_string(),
        actual.raw_bytes.to_string(),
    );
    f("min_t", listed.min_t.to_string(), actual.min_t.to_string());
    f("max_t", listed.max_t.to_string(), actual.max_t.to_string());
    d.join(", ")
}

/// Salvages what can be read of a manifest that fails [`manifest::parse`].
fn salvage(bytes: &[u8], what: &str, rep: &mut CheckReport) -> Source {
    let value: Option<serde_json::Value> = serde_json::from_slice(bytes).ok();
    if let Some(v) = value
        .as_ref()
        .and_then(|v| v.get("version"))
        .and_then(|v| v.as_u64())
    {
        if v > u64::from(manifest::MANIFEST_VERSION) {
            rep.problems.push(finding(
                super::MANIFEST_FILE,
                format!("{what} (nothing is repaired)"),
            ));
            return Source::Newer;
        }
    }
    rep.problems
        .push(finding(super::MANIFEST_FILE, format!("corrupt: {what}")));
    let mut m = Manifest::new();
    let Some(v) = value else {
        return Source::Salvaged(m);
    };
    let num = |k: &str| v.get(k).and_then(|x| x.as_u64());
    m.generation = num("generation").unwrap_or(0);
    m.next_segment_id = num("next_segment_id").unwrap_or(1);
    if let Some(p) = v.get("positions").and_then(|p| p.as_object()) {
        for (k, pv) in p {
            if let Ok(pos) = serde_json::from_value::<Position>(pv.clone()) {
                m.positions.insert(k.clone(), pos);
            }
        }
    }
    for r in v
        .get("retired")
        .and_then(|r| r.as_array())
        .into_iter()
        .flatten()
    {
        if let Ok(r) = serde_json::from_value::<super::RetiredFile>(r.clone()) {
            if manifest::is_store_file_name(&r.path) {
                m.retired.push(r);
            }
        }
    }
    for d in v
        .get("deletes")
        .and_then(|d| d.as_array())
        .into_iter()
        .flatten()
    {
        if let Ok(d) = serde_json::from_value::<super::DeleteRequest>(d.clone()) {
            m.deletes.push(d);
        }
    }
    let Some(segs) = v.get("segments").and_then(|s| s.as_array()) else {
        return Source::Salvaged(m);
    };
    for (i, sv) in segs.iter().enumerate() {
        match serde_json::from_value::<SegmentEntry>(sv.clone()) {
            Ok(e) if is_day_name(&e.day) && e.path == segment_rel_path(&e.day, e.id) => {
                m.segments.push(e)
            }
            Ok(e) => rep.problems.push(finding(
                super::MANIFEST_FILE,
                format!(
                    "segment {}: path {:?} is not the plain name of a segment inside the tenant directory; --repair drops the entry (nothing outside the store is touched)",
                    e.id, e.path
                ),
            )),
            Err(err) => rep.problems.push(finding(
                super::MANIFEST_FILE,
                format!("segment entry {i} is unreadable ({err}); --repair drops it"),
            )),
        }
    }
    Source::Salvaged(m)
}

/// Opens and reads one segment in full. Returns the check, blocks read and
/// entries readable.
fn check_segment(dir: &Path, entry: SegmentEntry) -> (SegCheck, u64, u64) {
    let snap = super::Snapshot {
        manifest: Manifest::new(),
        dir: dir.to_path_buf(),
        _lease: None,
    };
    let r = match snap.open_segment(&entry) {
        Ok(r) => r,
        Err(StoreError::Segment(SegmentError::Io { source, .. }))
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            return (
                SegCheck {
                    entry,
                    state: SegState::Missing,
                    actual: None,
                },
                0,
                0,
            );
        }
        Err(StoreError::Segment(SegmentError::Version { .. })) => {
            return (
                SegCheck {
                    entry,
                    state: SegState::Newer,
                    actual: None,
                },
                0,
                0,
            );
        }
        Err(e) => {
            let why = match &e {
                StoreError::Segment(SegmentError::Corrupt { what, .. }) => {
                    format!("corrupt segment: {what}")
                }
                StoreError::Segment(SegmentError::Io { source, .. }) => source.to_string(),
                e => e.to_string(),
            };
            return (
                SegCheck {
                    entry,
                    state: SegState::Unreadable(why),
                    actual: None,
                },
                0,
                0,
            );
        }
    };
    let size = r.file_size();
    let actual = SegmentEntry {
        // Not in the footer: which writer made the segment is the
        // manifest's to say.
        compacted: entry.compacted,
        ..summarize(
            entry.id,
            entry.day.clone(),
            entry.path.clone(),
            size,
            r.streams(),
        )
    };
    let (mut good, mut bad, mut lost, mut readable, mut blocks) =
        (0usize, 0usize, 0u64, 0u64, 0u64);
    let mut errors = Vec::new();
    let mut block = Block::default();
    // A packed block holds many streams' runs: it is counted, and its
    // damage reported, once; its runs' entries are what is lost.
    let mut frames: HashMap<u64, bool> = HashMap::new();
    for s in r.streams() {
        for m in &s.blocks {
            let seen = frames.get(&m.offset).copied();
            let ok = match seen {
                Some(false) => false,
                _ => match r.read_block(m, &mut block) {
                    Ok(()) => true,
                    Err(e) => {
                        if seen.is_none() {
                            errors.push(match e {
                                SegmentError::CorruptBlock {
                                    offset, len, what, ..
                                } => format!(
                                    "corrupt block at offset {offset} (length {len}): {what}"
                                ),
                                e => e.to_string(),
                            });
                        }
                        false
                    }
                },
            };
            if seen.is_none() {
                blocks += 1;
                if ok {
                    good += 1;
                } else {
                    bad += 1;
                }
            }
            frames.entry(m.offset).or_insert(ok);
            if ok {
                readable += block.len() as u64;
            } else {
                lost += u64::from(m.entries);
            }
        }
    }
    let state = if bad == 0 {
        SegState::Good
    } else {
        SegState::Damaged {
            good,
            bad,
            lost_entries: lost,
            errors,
        }
    };
    // A segment from the disk (no manifest) is described by its footer.
    let entry = if entry.entries == 0 && entry.blocks == 0 && entry.bytes == 0 {
        actual.clone()
    } else {
        entry
    };
    (
        SegCheck {
            entry,
            state,
            actual: Some(actual),
        },
        blocks,
        readable,
    )
}

/// Lists `segments/` and `index/`: leftovers (notes), strays (problems).
fn scan_tree(t: &Tenant, live: &HashSet<String>, ins: &mut Inspection) -> Result<(), StoreError> {
    for sub in ["segments", "index"] {
        let root = t.dir().join(sub);
        match fs::symlink_metadata(&root) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(StoreError::io(&root, e)),
            Ok(m) if !m.file_type().is_dir() => {
                stray(
                    ins,
                    sub.to_string(),
                    "is not a directory (a symbolic link?)",
                );
                continue;
            }
            Ok(_) => {}
        }
        for e in fs::read_dir(&root).map_err(|e| StoreError::io(&root, e))? {
            let e = e.map_err(|e| StoreError::io(&root, e))?;
            let name = e.file_name().to_string_lossy().into_owned();
            let rel = format!("{sub}/{name}");
            let kind = e
                .file_type()
                .map_err(|err| StoreError::io(&e.path(), err))?;
            if sub == "index" {
                if !kind.is_file() {
                    stray(
                        ins,
                        rel,
                        "is not a regular file; lokal writes only regular files here",
                    );
                } else if let Some(gen) = index_file_gen(&name) {
                    ins.max_index_gen = ins.max_index_gen.max(gen);
                    // One the manifest does not name is a superseded
                    // build, which every commit leaves for the next one to
                    // remove: normal, not worth a note.
                } else if name.ends_with(".idx.tmp") {
                    ins.report.notes.push(finding(
                        rel,
                        "left by an interrupted write; the next writer removes it",
                    ));
                } else {
                    stray(ins, rel, "is not a file lokal writes");
                }
                continue;
            }
            if kind.is_symlink() || !kind.is_dir() || !is_day_name(&name) {
                stray(
                    ins,
                    rel,
                    if kind.is_symlink() {
                        "is a symbolic link; lokal does not follow links inside its store"
                    } else {
                        "is not a day directory lokal writes"
                    },
                );
                continue;
            }
            let dpath = e.path();
            let mut names: Vec<(String, fs::FileType)> = Vec::new();
            for f in fs::read_dir(&dpath).map_err(|e| StoreError::io(&dpath, e))? {
                let f = f.map_err(|e| StoreError::io(&dpath, e))?;
                let kind = f
                    .file_type()
                    .map_err(|err| StoreError::io(&f.path(), err))?;
                names.push((f.file_name().to_string_lossy().into_owned(), kind));
            }
            names.sort_by(|a, b| a.0.cmp(&b.0));
            for (fname, kind) in names {
                let frel = format!("{rel}/{fname}");
                let seg = segment_file_id(&fname).is_some();
                let tmp = fname
                    .strip_suffix(".tmp")
                    .and_then(segment_file_id)
                    .is_some();
                if live.contains(&frel) {
                    continue;
                }
                if !kind.is_file() {
                    if seg || tmp {
                        // A listed one was reported when it failed to open.
                        stray(ins, frel, "is not a regular file");
                    } else {
                        stray(ins, frel, "is not a file lokal writes");
                    }
                } else if tmp || seg {
                    ins.report.notes.push(finding(
                        frel,
                        "left by an interrupted write (never committed); the next writer removes it",
                    ));
                } else {
                    stray(ins, frel, "is not a file lokal writes");
                }
            }
        }
    }
    Ok(())
}

fn stray(ins: &mut Inspection, rel: String, what: &str) {
    ins.report.problems.push(finding(
        rel.clone(),
        format!("{what}; --repair moves it to quarantine/"),
    ));
    ins.strays.push((rel, what.to_string()));
}

/// The generation in an index file name `DAY-GEN.idx`.
fn index_file_gen(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(".idx")?;
    let (day, gen) = stem.rsplit_once('-')?;
    if !is_day_name(day) {
        return None;
    }
    gen.parse().ok()
}

/// Opens every index the manifest names and compares it with a fresh build
/// from the footers of the live segments it covers.
fn check_indexes(t: &Tenant, m: &Manifest, segs: &[SegCheck], rep: &mut CheckReport) {
    let snap = t.snapshot_of(m.clone());
    let mut by_day: BTreeMap<&str, Vec<&SegCheck>> = BTreeMap::new();
    for c in segs {
        by_day.entry(c.entry.day.as_str()).or_default().push(c);
    }
    let indexed: HashSet<&str> = m.indexes.iter().map(|i| i.day.as_str()).collect();
    for day in by_day.keys() {
        if !indexed.contains(day) {
            rep.notes.push(finding(
                format!("index/{day}"),
                "no label index for this day (queries read its footers; `lokal index` builds one)",
            ));
        }
    }
    for entry in &m.indexes {
        rep.indexes += 1;
        let problem = |rep: &mut CheckReport, what: String| {
            rep.problems.push(finding(
                entry.path.clone(),
                format!("{what}; --repair rebuilds it"),
            ));
        };
        let idx = match snap.open_index(entry) {
            Ok(i) => i,
            Err(IndexError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                problem(rep, "listed in the manifest but missing".into());
                continue;
            }
            Err(IndexError::Corrupt { what, .. }) => {
                problem(rep, format!("corrupt index: {what}"));
                continue;
            }
            Err(e) => {
                problem(rep, format!("unreadable: {}", index_error_text(&e)));
                continue;
            }
        };
        // Format 3 verifies its pages as queries read them: check them all.
        let damaged = idx.verify();
        if !damaged.is_empty() {
            let more = match damaged.len() {
                1 => String::new(),
                n => format!(" (and {} more damaged pages)", n - 1),
            };
            problem(rep, format!("corrupt index: {}{more}", damaged[0]));
            continue;
        }
        let mut listed = entry.segments.clone();
        listed.sort_unstable();
        if idx.segments() != listed.as_slice() {
            problem(
                rep,
                format!(
                    "covers segments {:?}, the manifest says {:?}",
                    idx.segments(),
                    listed
                ),
            );
            continue;
        }
        let day_segs = by_day.get(entry.day.as_str()).cloned().unwrap_or_default();
        let live: HashMap<u64, &SegCheck> = day_segs.iter().map(|c| (c.entry.id, *c)).collect();
        let covered: Vec<&SegCheck> = listed
            .iter()
            .filter_map(|id| live.get(id).copied())
            .collect();
        if covered.len() < listed.len() || covered.len() < day_segs.len() {
            rep.notes.push(finding(
                entry.path.clone(),
                format!(
                    "stale: covers {} of the day's {} live segments (the rest are read from their footers; `lokal index` rebuilds it)",
                    covered.len(),
                    day_segs.len()
                ),
            ));
        }
        // Compare with a build from the same footers, when they all read.
        let readers: Option<Vec<(u64, SegmentReader)>> = covered
            .iter()
            .filter(|c| c.actual.is_some())
            .map(|c| snap.open_segment(&c.entry).ok().map(|r| (c.entry.id, r)))
            .collect();
        let Some(readers) = readers else { continue };
        if readers.len() != listed.len() {
            continue;
        }
        let Some(day_no) = crate::time::parse_day(&entry.day) else {
            continue;
        };
        let inputs: Vec<(u64, &[crate::chunk::StreamChunk])> =
            readers.iter().map(|(id, r)| (*id, r.streams())).collect();
        let agrees = if idx.version() == crate::index::format::FORMAT_VERSION {
            build_day_index(day_no, &inputs) == idx.as_bytes()
        } else {
            idx.describes(&inputs)
        };
        if !agrees {
            problem(
                rep,
                "disagrees with the footers of the segments it covers".into(),
            );
        }
    }
}

fn index_error_text(e: &IndexError) -> String {
    match e {
        IndexError::Io { source, .. } => source.to_string(),
        e => e.to_string(),
    }
}

/// A quarantine directory for this repair: `quarantine/STAMP[-N]/`.
fn quarantine_dir(t: &Tenant) -> Result<PathBuf, StoreError> {
    let root = t.dir().join(QUARANTINE_DIR);
    fs::create_dir_all(&root).map_err(|e| StoreError::io(&root, e))?;
    check_dirs(t.dir(), &format!("{QUARANTINE_DIR}/x"))?;
    let stamp = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    for n in 0.. {
        let name = if n == 0 {
            stamp.clone()
        } else {
            format!("{stamp}-{n}")
        };
        let dir = root.join(&name);
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(StoreError::io(&dir, e)),
        }
    }
    unreachable!("some name is free")
}

/// Keeps `rel` (a file of the tenant) in the quarantine directory `q` under
/// the same relative name, durably: a hard link, or a copy where links fail.
/// The original stays until the caller removes it. Something that is not a
/// regular file (a FIFO, a symlink: no data of lokal's) is moved instead,
/// since copying a FIFO would wait for a writer.
fn preserve(t: &Tenant, q: &Path, rel: &str) -> Result<(), StoreError> {
    let src = t.dir().join(rel);
    let dst = q.join(rel);
    let parent = dst.parent().unwrap_or(q);
    fs::create_dir_all(parent).map_err(|e| StoreError::io(parent, e))?;
    let regular = fs::symlink_metadata(&src).is_ok_and(|m| m.file_type().is_file());
    if !regular {
        fs::rename(&src, &dst).map_err(|e| StoreError::io(&src, e))?;
    } else if fs::hard_link(&src, &dst).is_err() {
        fs::copy(&src, &dst).map_err(|e| StoreError::io(&dst, e))?;
        fs::File::open(&dst)
            .and_then(|f| f.sync_all())
            .map_err(|e| StoreError::io(&dst, e))?;
    }
    super::sync_dir(parent)
}

/// Moves `rel` into the quarantine directory `q` (a rename: symlinks and
/// FIFOs move as themselves).
fn move_into(t: &Tenant, q: &Path, rel: &str) -> Result<(), StoreError> {
    let src = t.dir().join(rel);
    let dst = q.join(rel);
    if let Some(parent) = dst.parent() {
        fs::create_dir_all(parent).map_err(|e| StoreError::io(parent, e))?;
    }
    fs::rename(&src, &dst).map_err(|e| StoreError::io(&src, e))
}

/// Repairs what `ins` found. Returns the repairs made and the quarantine
/// directory, if one was used.
fn repair(
    t: &Tenant,
    lock: &WriterLock,
    ins: Inspection,
) -> Result<(Vec<String>, Option<PathBuf>), StoreError> {
    let mut done = Vec::new();
    let (base, rebuilt) = match ins.source {
        Some(Source::Sound(m)) => (m, false),
        Some(Source::Salvaged(manifest)) => (manifest, true),
        Some(Source::Newer) | None => return Ok((done, None)),
    };
    if ins
        .segs
        .iter()
        .chain(&ins.duplicates)
        .any(|c| matches!(c.state, SegState::Newer))
    {
        return Ok((done, None));
    }

    // Everything that leaves the store's tree is kept first, with a report.
    let mut keep: Vec<(String, String)> = Vec::new();
    for c in ins.segs.iter().chain(&ins.duplicates) {
        match &c.state {
            SegState::Unreadable(why) => keep.push((c.entry.path.clone(), format!("unreadable: {why}"))),
            SegState::Damaged {
                good,
                bad,
                lost_entries,
                ..
            } => keep.push((
                c.entry.path.clone(),
                if *good > 0 {
                    format!("{bad} blocks unreadable ({lost_entries} entries); its {good} readable blocks were copied into a new segment")
                } else {
                    format!("no block readable ({lost_entries} entries)")
                },
            )),
            _ => {}
        }
    }
    let manifest_exists = fs::symlink_metadata(t.dir().join(super::MANIFEST_FILE))
        .is_ok_and(|m| m.file_type().is_file());
    if rebuilt && manifest_exists {
        keep.push((
            super::MANIFEST_FILE.to_string(),
            "the damaged manifest, replaced by a rebuilt one".to_string(),
        ));
    }
    let quarantine = if keep.is_empty() && ins.strays.is_empty() {
        None
    } else {
        let q = quarantine_dir(t)?;
        let mut report = String::from(
            "Files `lokal check --repair` moved out of the store, and why. Nothing was deleted.\n\n",
        );
        for (rel, why) in keep.iter().chain(&ins.strays) {
            report.push_str(&format!("{rel}: {why}\n"));
        }
        for (rel, _) in &keep {
            preserve(t, &q, rel)?;
        }
        let path = q.join("REPORT");
        fs::File::create(&path)
            .and_then(|mut f| f.write_all(report.as_bytes()).and_then(|_| f.sync_all()))
            .map_err(|e| StoreError::io(&path, e))?;
        super::sync_dir(&q)?;
        Some(q)
    };
    let qname = |rel: &str| -> String {
        quarantine
            .as_ref()
            .map(|q| q.join(rel).display().to_string())
            .unwrap_or_default()
    };
    for (rel, _) in &ins.strays {
        if let Some(q) = &quarantine {
            move_into(t, q, rel)?;
            done.push(format!("moved {rel} to {}", qname(rel)));
        }
    }

    // The new segment list.
    let mut segments: Vec<SegmentEntry> = Vec::new();
    let mut copies: Vec<&SegCheck> = Vec::new();
    let mut lost_entries = 0u64;
    for c in &ins.segs {
        match &c.state {
            SegState::Good => {
                let e = c.actual.clone().unwrap_or_else(|| c.entry.clone());
                if e != c.entry && !rebuilt {
                    done.push(format!(
                        "{}: took the footer's summary into the manifest ({})",
                        c.entry.path,
                        summary_diff(&c.entry, &e)
                    ));
                }
                segments.push(e);
            }
            SegState::Missing => {
                lost_entries += c.entry.entries;
                done.push(format!(
                    "{}: dropped from the manifest (the file is gone; {} entries lost)",
                    c.entry.path, c.entry.entries
                ));
            }
            SegState::Unreadable(_) => {
                lost_entries += c.entry.entries;
                done.push(format!(
                    "moved {} to {} (unreadable; {} entries lost from the store)",
                    c.entry.path,
                    qname(&c.entry.path),
                    c.entry.entries
                ));
            }
            SegState::Damaged { .. } => copies.push(c),
            SegState::Newer => unreachable!("refused above"),
        }
    }
    // A duplicate is copied under a new id (its readable blocks, when it
    // is damaged too); its original is removed once the copy is live.
    let mut dup_copies: Vec<&SegCheck> = Vec::new();
    let mut dup_originals: Vec<String> = Vec::new();
    for d in &ins.duplicates {
        match d.state {
            SegState::Good => {
                dup_copies.push(d);
                dup_originals.push(d.entry.path.clone());
            }
            SegState::Damaged { .. } => copies.push(d),
            SegState::Missing | SegState::Unreadable(_) => {
                done.push(format!(
                    "{}: a second segment with id {} that cannot be read: dropped from the manifest{}",
                    d.entry.path,
                    d.entry.id,
                    if matches!(d.state, SegState::Unreadable(_)) {
                        format!(", moved to {}", qname(&d.entry.path))
                    } else {
                        String::new()
                    }
                ));
            }
            SegState::Newer => unreachable!("refused above"),
        }
    }

    let mut m = base.clone();
    m.segments = segments.clone();
    m.indexes = Vec::new();
    let live_max = ins
        .segs
        .iter()
        .map(|c| c.entry.id)
        .chain(ins.duplicates.iter().map(|d| d.entry.id))
        .max()
        .unwrap_or(0);
    m.next_segment_id = m.next_segment_id.max(live_max + 1);
    // Generations only grow: index names and reader leases carry them.
    m.generation = m
        .generation
        .max(ins.max_index_gen)
        .max(super::lease::max_generation(t.dir()));
    let mut tx = TenantWriter {
        tenant: t.clone(),
        disk_generation: ins.generation.unwrap_or(0),
        manifest: m,
        manifest_on_disk: true,
        index_dir_dirty: false,
        _lock: lock,
    };
    // The old index files are retired like any replaced build, so readers
    // of the old manifest keep them while they run.
    for i in &base.indexes {
        if manifest::is_store_file_name(&i.path) {
            tx.retire(i.path.clone());
        }
    }
    let dir = t.dir().to_path_buf();
    let snap = super::Snapshot {
        manifest: Manifest::new(),
        dir: dir.clone(),
        _lease: None,
    };
    let copy_into_new = |tx: &mut TenantWriter<'_>,
                         entry: &SegmentEntry,
                         done: &mut Vec<String>,
                         why: &str|
     -> Result<(), StoreError> {
        let r = snap.open_segment(entry)?;
        let mut p = tx.create_segment(&entry.day)?;
        let mut kept = (0u64, 0u64);
        let mut block = Block::default();
        // Each readable block is copied once, with the runs of every stream
        // it holds.
        let mut copied: HashMap<u64, FrameRef> = HashMap::new();
        for s in r.streams() {
            for b in &s.blocks {
                if r.read_block(b, &mut block).is_err() {
                    continue;
                }
                let frame = match copied.get(&b.offset) {
                    Some(f) => *f,
                    None => {
                        let bytes = r.block_bytes(b)?;
                        let f = p.writer.add_frame(bytes, b.raw_len, b.frame_entries)?;
                        copied.insert(b.offset, f);
                        kept.0 += 1;
                        f
                    }
                };
                p.writer.add_run(&s.labels, s.fingerprint, frame, run_of(b));
                kept.1 += u64::from(b.entries);
            }
        }
        if kept.0 == 0 {
            drop(p);
            done.push(format!(
                "moved {} to {} (no block readable; {} entries lost from the store)",
                entry.path,
                qname(&entry.path),
                entry.entries
            ));
            return Ok(());
        }
        let new = tx.publish(p)?;
        done.push(format!(
            "{}: {why}: {} readable blocks ({} entries) copied into {}",
            entry.path, kept.0, kept.1, new.path
        ));
        Ok(())
    };
    for c in &copies {
        if let SegState::Damaged {
            lost_entries: l, ..
        } = c.state
        {
            lost_entries += l;
        }
        copy_into_new(
            &mut tx,
            &c.entry,
            &mut done,
            &format!("moved to {}", qname(&c.entry.path)),
        )?;
    }
    for d in &dup_copies {
        copy_into_new(
            &mut tx,
            &d.entry,
            &mut done,
            "its id was taken by another segment",
        )?;
    }
    if ins.next_id_collides {
        done.push(format!(
            "next_segment_id set to {} (above every segment id)",
            tx.manifest.next_segment_id
        ));
    }
    if rebuilt {
        let kept = tx.manifest.positions.len();
        let n = tx.manifest.segments.len();
        let from_old = base.segments.len().min(n);
        done.push(format!(
            "rebuilt MANIFEST with {n} segments ({from_old} from what could be read of the old one, {} from the footers of the files on disk); the old one is {}",
            n - from_old,
            if manifest_exists {
                format!("in {}", qname(super::MANIFEST_FILE))
            } else {
                "gone (it was missing)".to_string()
            }
        ));
        done.push(format!(
            "input positions: {kept} kept; positions cannot be recovered from segments, so an \
             input whose position was lost is read from its start by the next ingest of it \
             and its lines are stored again"
        ));
    }
    let built = super::rebuild_all(&mut tx)?;
    tx.commit()?;
    if !built.is_empty() {
        done.push(format!(
            "rebuilt the label index of {} day{}",
            built.len(),
            if built.len() == 1 { "" } else { "s" }
        ));
    }
    // Only now, with the new manifest live, do the originals leave
    // `segments/` (their quarantine links hold the data).
    let mut days = BTreeSet::new();
    for rel in keep.iter().map(|(r, _)| r).chain(&dup_originals) {
        if rel == super::MANIFEST_FILE {
            continue;
        }
        let p = dir.join(rel);
        let _ = fs::remove_file(&p);
        if let Some(d) = p.parent() {
            days.insert(d.to_path_buf());
        }
    }
    for d in days {
        let _ = fs::remove_dir(d);
    }
    if lost_entries > 0 {
        done.push(format!(
            "{lost_entries} entries could not be kept in the store (the damaged files are in quarantine/)"
        ));
    }
    Ok((done, quarantine))
}
