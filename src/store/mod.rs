//! The on-disk store: a directory of tenants, each with a `MANIFEST` naming
//! its immutable segment files.
//!
//! ```text
//! STORE/lokal.lock                 writer lock (flock)
//! STORE/TENANT/MANIFEST            live segments + input positions, replaced atomically
//! STORE/TENANT/segments/DAY/ID.seg immutable segments (one UTC day each)
//! STORE/TENANT/index/DAY-GEN.idx   label index of a day (a new name per build)
//! ```
//!
//! Every file is written under a temporary name, fsynced, renamed and its
//! directory fsynced before the manifest names it. Readers take a manifest
//! snapshot and need no lock.

pub mod check;
pub mod lease;
pub mod lock;
pub mod manifest;
pub mod problem;
pub mod push;
pub mod read;
pub mod rebuild;
pub mod trace;

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use lock::WriterLock;
pub use manifest::{
    DeleteRequest, DeleteStatus, IndexEntry, Manifest, Position, RetiredFile, SegmentEntry,
};
pub use problem::ReadProblem;
pub use rebuild::{rebuild_all, rebuild_days, rebuild_days_lenient, IndexSummary};

use crate::chunk::segment::SegmentError;
use crate::chunk::{SegmentFooter, SegmentReader, SegmentWriter, StreamChunk};
use crate::index::{DayIndex, IndexError};

/// The tenant used when none is given: Loki's single-tenant org id.
pub const DEFAULT_TENANT: &str = "fake";

/// The writer lock file in the store root: one name for every writer
/// (ingest, index, later compact), so they exclude each other.
pub const LOCK_FILE: &str = "lokal.lock";

/// The manifest file in a tenant directory; a directory holding one is a
/// tenant with data.
pub const MANIFEST_FILE: &str = "MANIFEST";

/// The manifest's temporary name while a commit writes it.
const MANIFEST_TMP: &str = "MANIFEST.tmp";

/// Store errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// File system error on a path.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A segment could not be read or written.
    #[error(transparent)]
    Segment(#[from] SegmentError),
    /// A label index could not be read or written.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// A block could not be compressed for writing.
    #[error(transparent)]
    Compress(#[from] crate::chunk::block::CompressError),
    /// The manifest is damaged.
    #[error("{path}: corrupt manifest: {what}")]
    CorruptManifest {
        /// The manifest.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// The push checkpoint file is damaged ([`push`]).
    #[error("{path}: corrupt push checkpoint: {what}")]
    CorruptCheckpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// Bad tenant name.
    #[error("invalid tenant {name:?}: use 1 to 150 characters from [A-Za-z0-9!._*'()-], not \".\" or \"..\"")]
    InvalidTenant {
        /// The name.
        name: String,
    },
    /// The store directory does not exist: a reading command was pointed at
    /// the wrong place (or nothing was ingested yet).
    #[error("{path}: no lokal store here (the directory does not exist); check --store or $LOKAL_STORE, or ingest something first")]
    NoStore {
        /// The store root.
        path: PathBuf,
    },
    /// The tenant has segment files but no manifest: it was lost or
    /// removed. Nothing is read or written until it is rebuilt, since an
    /// empty manifest would hide the data (and let a writer remove it).
    #[error("{path} is missing but {segments} segment files exist beside it; `lokal check --repair` rebuilds it from their footers")]
    ManifestMissing {
        /// The manifest's path.
        path: PathBuf,
        /// Segment files found.
        segments: usize,
    },
    /// Another writer held the lock past the timeout.
    #[error("{path}: another lokal writer holds the store lock; try again later or raise --lock-timeout")]
    LockTimeout {
        /// The lock file.
        path: PathBuf,
    },
}

impl StoreError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        StoreError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// A store directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// The store at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Store { root: root.into() }
    }

    /// `$XDG_DATA_HOME/lokal`, else `~/.local/share/lokal`, else `./lokal-store`.
    pub fn default_path() -> PathBuf {
        if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|x| !x.is_empty()) {
            return PathBuf::from(x).join("lokal");
        }
        if let Some(h) = std::env::var_os("HOME").filter(|x| !x.is_empty()) {
            return PathBuf::from(h).join(".local/share/lokal");
        }
        PathBuf::from("lokal-store")
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The writer lock file (for messages while waiting for it).
    pub fn lock_path(&self) -> PathBuf {
        self.root.join(LOCK_FILE)
    }

    /// Fails with [`StoreError::NoStore`] when the store directory does not
    /// exist: what every reading command checks first, so a mistyped
    /// `--store` is an error rather than an empty answer.
    pub fn ensure_exists(&self) -> Result<(), StoreError> {
        match fs::metadata(&self.root) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(StoreError::io(
                &self.root,
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a directory"),
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(StoreError::NoStore {
                path: self.root.clone(),
            }),
            Err(e) => Err(StoreError::io(&self.root, e)),
        }
    }

    /// Takes the writer lock, creating the store directory if needed.
    pub fn lock_writer(
        &self,
        timeout: Option<Duration>,
        on_wait: impl FnOnce(),
    ) -> Result<WriterLock, StoreError> {
        fs::create_dir_all(&self.root).map_err(|e| StoreError::io(&self.root, e))?;
        WriterLock::acquire(&self.lock_path(), timeout, on_wait)
    }

    /// A tenant of this store; the name is validated as Loki validates org ids.
    pub fn tenant(&self, name: &str) -> Result<Tenant, StoreError> {
        validate_tenant(name)?;
        Ok(Tenant {
            name: name.to_string(),
            dir: self.root.join(name),
        })
    }

    /// Tenants that have a manifest, sorted. A store directory that does
    /// not exist is [`StoreError::NoStore`].
    pub fn tenants(&self) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        self.ensure_exists()?;
        let rd = fs::read_dir(&self.root).map_err(|e| StoreError::io(&self.root, e))?;
        for e in rd {
            let e = e.map_err(|e| StoreError::io(&self.root, e))?;
            if e.path().join(MANIFEST_FILE).is_file() {
                if let Some(n) = e.file_name().to_str() {
                    if validate_tenant(n).is_ok() {
                        out.push(n.to_string());
                    }
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

/// Checks a tenant name (Loki/Cortex org id rules).
pub fn validate_tenant(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 150
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!._*'()-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidTenant {
            name: name.to_string(),
        })
    }
}

/// One tenant's directory.
#[derive(Debug, Clone)]
pub struct Tenant {
    name: String,
    dir: PathBuf,
}

impl Tenant {
    /// The tenant's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tenant's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn manifest_path(&self) -> PathBuf {
        self.dir.join(MANIFEST_FILE)
    }

    /// True when the tenant has committed data (a manifest).
    pub fn exists(&self) -> bool {
        self.manifest_path().is_file()
    }

    /// Reads and checks the manifest ([`manifest::parse`]). A tenant without
    /// one is empty, unless segment files exist: then the manifest was lost
    /// ([`StoreError::ManifestMissing`]).
    pub fn read_manifest(&self) -> Result<Manifest, StoreError> {
        let path = self.manifest_path();
        let bytes = match self.read_manifest_bytes()? {
            Some(b) => b,
            None => {
                let segments = self.segment_files()?.len();
                if segments > 0 {
                    return Err(StoreError::ManifestMissing { path, segments });
                }
                return Ok(Manifest::new());
            }
        };
        manifest::parse(&bytes).map_err(|what| StoreError::CorruptManifest { path, what })
    }

    /// The manifest's bytes, `None` when there is none. Like every store
    /// file it is opened without following a symlink and must be a regular
    /// file.
    pub(crate) fn read_manifest_bytes(&self) -> Result<Option<Vec<u8>>, StoreError> {
        use std::io::Read;
        let path = self.manifest_path();
        check_dirs(&self.dir, "")?;
        let mut f = match crate::file::open_regular(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::io(&path, e)),
        };
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes)
            .map_err(|e| StoreError::io(&path, e))?;
        Ok(Some(bytes))
    }

    /// Files under `segments/` named as lokal names segments
    /// (`DAY/ID.seg`), as paths relative to the tenant directory, sorted.
    /// Symlinked day directories are not entered.
    pub fn segment_files(&self) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        for (day, name) in self.listing("segments")? {
            if manifest::is_day_name(&day) && segment_file_id(&name).is_some() {
                out.push(format!("segments/{day}/{name}"));
            }
        }
        Ok(out)
    }

    /// `(day directory, file name)` of every entry of `sub/*/`: day
    /// directories that are real directories only (a symlink is skipped).
    fn listing(&self, sub: &str) -> Result<Vec<(String, String)>, StoreError> {
        let root = self.dir.join(sub);
        let mut out = Vec::new();
        let rd = match fs::read_dir(&root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(StoreError::io(&root, e)),
        };
        for day in rd {
            let day = day.map_err(|e| StoreError::io(&root, e))?;
            if !day
                .file_type()
                .map_err(|e| StoreError::io(&day.path(), e))?
                .is_dir()
            {
                continue;
            }
            let dpath = day.path();
            for f in fs::read_dir(&dpath).map_err(|e| StoreError::io(&dpath, e))? {
                let f = f.map_err(|e| StoreError::io(&dpath, e))?;
                out.push((
                    day.file_name().to_string_lossy().into_owned(),
                    f.file_name().to_string_lossy().into_owned(),
                ));
            }
        }
        out.sort();
        Ok(out)
    }

    /// A read view of this tenant as `manifest` describes it.
    pub(crate) fn snapshot_of(&self, manifest: Manifest) -> Snapshot {
        Snapshot {
            manifest,
            dir: self.dir.clone(),
            _lease: None,
        }
    }

    /// A consistent read view: the manifest as of now, under a lease
    /// ([`lease`]): until the snapshot is dropped, no writer deletes a file
    /// its manifest names.
    pub fn snapshot(&self) -> Result<Snapshot, StoreError> {
        let (manifest, lease) = self.read_manifest_leased()?;
        Ok(Snapshot {
            manifest,
            dir: self.dir.clone(),
            _lease: lease.map(std::sync::Arc::new),
        })
    }

    /// [`Tenant::read_manifest`] under a lease on the manifest read.
    fn read_manifest_leased(&self) -> Result<(Manifest, Option<lease::Lease>), StoreError> {
        let path = self.manifest_path();
        let Some((bytes, lease)) = self.read_manifest_bytes_leased()? else {
            let segments = self.segment_files()?.len();
            if segments > 0 {
                return Err(StoreError::ManifestMissing { path, segments });
            }
            return Ok((Manifest::new(), None));
        };
        let m =
            manifest::parse(&bytes).map_err(|what| StoreError::CorruptManifest { path, what })?;
        Ok((m, lease))
    }

    /// The manifest's bytes under a lease ([`lease`]); `None` when there is
    /// no manifest.
    pub(crate) fn read_manifest_bytes_leased(&self) -> Result<Option<lease::Leased>, StoreError> {
        check_dirs(&self.dir, "")?;
        lease::read_leased(&self.manifest_path())
    }

    /// Starts a write transaction. The caller must hold the writer lock.
    /// Files left by a crashed writer (temporaries, segments no manifest
    /// names) are removed first. The tenant's directories must be real
    /// directories: a symlink is not followed for writes.
    pub fn begin_write<'l>(&self, lock: &'l WriterLock) -> Result<TenantWriter<'l>, StoreError> {
        let segs = self.dir.join("segments");
        fs::create_dir_all(&segs).map_err(|e| StoreError::io(&self.dir, e))?;
        check_dirs(&self.dir, "segments/x")?;
        let manifest_on_disk = fs::symlink_metadata(self.manifest_path()).is_ok();
        let manifest = self.read_manifest()?;
        self.remove_orphans(&manifest)?;
        Ok(TenantWriter {
            tenant: self.clone(),
            disk_generation: manifest.generation,
            manifest,
            manifest_on_disk,
            index_dir_dirty: false,
            _lock: lock,
        })
    }

    /// Removes what a crashed writer left: files named as lokal names
    /// segments and indexes (and their temporaries) that the manifest does
    /// not name. Nothing else is touched, symlinked directories are not
    /// entered, and a symlink is never removed through.
    fn remove_orphans(&self, manifest: &Manifest) -> Result<(), StoreError> {
        let retired: HashSet<&str> = manifest.retired.iter().map(|r| r.path.as_str()).collect();
        let live: HashSet<&str> = manifest
            .segments
            .iter()
            .map(|s| s.path.as_str())
            .chain(retired.iter().copied())
            .collect();
        let mut days_seen = HashSet::new();
        for (day, name) in self.listing("segments")? {
            let rel = format!("segments/{day}/{name}");
            let ours = segment_file_id(&name).is_some()
                || name
                    .strip_suffix(".tmp")
                    .and_then(segment_file_id)
                    .is_some();
            days_seen.insert(day);
            if !ours || live.contains(rel.as_str()) {
                continue;
            }
            let f = self.dir.join(&rel);
            if fs::symlink_metadata(&f).is_ok_and(|m| m.file_type().is_file()) {
                fs::remove_file(&f).map_err(|e| StoreError::io(&f, e))?;
            }
        }
        for day in days_seen {
            // Fails (and is ignored) unless the day directory is now empty.
            let _ = fs::remove_dir(self.dir.join("segments").join(day));
        }
        // Index files: every build has a new name, so any file the manifest
        // does not name is an old build (or a crashed writer's temporary).
        let live: HashSet<&str> = manifest
            .indexes
            .iter()
            .map(|i| i.path.as_str())
            .chain(retired.iter().copied())
            .collect();
        let idx = self.dir.join("index");
        if crate::file::is_real_dir(&idx).map_err(|e| StoreError::io(&idx, e))? {
            for f in fs::read_dir(&idx).map_err(|e| StoreError::io(&idx, e))? {
                let f = f.map_err(|e| StoreError::io(&idx, e))?;
                let name = f.file_name().to_string_lossy().into_owned();
                let ours = name.ends_with(".idx") || name.ends_with(".idx.tmp");
                let rel = format!("index/{name}");
                let regular = f.file_type().is_ok_and(|t| t.is_file());
                if ours && regular && !live.contains(rel.as_str()) {
                    fs::remove_file(f.path()).map_err(|e| StoreError::io(&f.path(), e))?;
                }
            }
        }
        let tmp = self.dir.join(MANIFEST_TMP);
        if fs::symlink_metadata(&tmp).is_ok_and(|m| m.file_type().is_file()) {
            let _ = fs::remove_file(&tmp);
        }
        // A writer killed between its commit and the sweep after it left
        // the lease of the manifest it replaced; no reader may hold it.
        // (A failed sweep only leaves leases for the next one.)
        let _ = lease::sweep(&self.dir);
        Ok(())
    }
}

/// The id of a file named as lokal names segments (`ID.seg`, 16 hex digits).
pub fn segment_file_id(name: &str) -> Option<u64> {
    let hex = name.strip_suffix(".seg")?;
    if hex.len() != 16
        || !hex
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

/// Checks that the tenant directory `tenant` and every directory between it
/// and the file `rel` is a real directory, not a symlink: lokal never
/// follows a link out of its store. A directory that does not exist passes
/// (opening the file then fails with "not found").
fn check_dirs(tenant: &Path, rel: &str) -> Result<(), StoreError> {
    let mut dir = tenant.to_path_buf();
    let mut parts: Vec<&str> = rel.split('/').collect();
    parts.pop(); // the file itself: opened with O_NOFOLLOW
    for i in 0..=parts.len() {
        if i > 0 {
            dir.push(parts[i - 1]);
        }
        if fs::symlink_metadata(&dir).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(StoreError::io(
                &dir,
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "is a symbolic link; lokal does not follow links inside its store",
                ),
            ));
        }
    }
    Ok(())
}

/// A read view of one tenant.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The manifest the view was taken from.
    pub manifest: Manifest,
    dir: PathBuf,
    /// The lease that keeps the manifest's files on disk while the view
    /// (or a clone of it) lives; `None` for views made by writers.
    _lease: Option<std::sync::Arc<lease::Lease>>,
}

impl Snapshot {
    /// Opens (maps) a segment of this view: a regular file reached without
    /// following a symlink.
    pub fn open_segment(&self, entry: &SegmentEntry) -> Result<SegmentReader, StoreError> {
        Ok(SegmentReader::open(&self.checked_segment_path(entry)?)?)
    }

    /// Maps a segment of this view without reading its footer
    /// ([`SegmentReader::open_blocks`]): for reads whose block references
    /// come from a label index.
    pub fn open_segment_blocks(&self, entry: &SegmentEntry) -> Result<SegmentReader, StoreError> {
        Ok(SegmentReader::open_blocks(
            &self.checked_segment_path(entry)?,
        )?)
    }

    /// Maps a segment of this view and checks its footer without decoding
    /// it ([`SegmentFooter::open`]): for reading its streams one at a time.
    pub fn open_segment_footer(&self, entry: &SegmentEntry) -> Result<SegmentFooter, StoreError> {
        Ok(SegmentFooter::open(&self.checked_segment_path(entry)?)?)
    }

    /// The segment's path, once every directory on the way is a real one.
    fn checked_segment_path(&self, entry: &SegmentEntry) -> Result<PathBuf, SegmentError> {
        check_dirs(&self.dir, &entry.path).map_err(|e| match e {
            StoreError::Io { path, source } => SegmentError::Io { path, source },
            _ => unreachable!("check_dirs returns I/O errors"),
        })?;
        Ok(self.dir.join(&entry.path))
    }

    /// Absolute path of a segment.
    pub fn segment_path(&self, entry: &SegmentEntry) -> PathBuf {
        self.dir.join(&entry.path)
    }

    /// Opens (maps and checks) a label index of this view.
    pub fn open_index(&self, entry: &IndexEntry) -> Result<DayIndex, IndexError> {
        check_dirs(&self.dir, &entry.path).map_err(|e| match e {
            StoreError::Io { path, source } => IndexError::Io { path, source },
            _ => unreachable!("check_dirs returns I/O errors"),
        })?;
        DayIndex::open(&self.dir.join(&entry.path))
    }

    /// Absolute path of a label index.
    pub fn index_path(&self, entry: &IndexEntry) -> PathBuf {
        self.dir.join(&entry.path)
    }

    /// The tenant directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// A write transaction on one tenant: new segments are published, then
/// [`TenantWriter::commit`] makes them (and the positions) live at once.
#[derive(Debug)]
pub struct TenantWriter<'l> {
    tenant: Tenant,
    manifest: Manifest,
    /// A manifest file exists. A new tenant gets its empty manifest before
    /// its first segment file, so segment files without a manifest always
    /// mean a lost manifest, never a first ingest that crashed.
    manifest_on_disk: bool,
    /// The generation of the manifest on disk: the lease its readers hold
    /// is kept under this number when the next commit replaces it.
    disk_generation: u64,
    /// An index file was renamed into `index/` since the last commit: the
    /// directory is fsynced once before the manifest names it.
    index_dir_dirty: bool,
    _lock: &'l WriterLock,
}

/// A day index to write with [`TenantWriter::write_indexes`].
#[derive(Debug, Clone)]
pub struct NewIndex {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// The encoded index.
    pub bytes: Vec<u8>,
    /// Ids of the segments it covers.
    pub segments: Vec<u64>,
}

/// A segment being written, not yet visible. Dropping it unpublished
/// removes its temporary file.
pub struct PendingSegment {
    /// The segment writer.
    pub writer: SegmentWriter,
    id: u64,
    day: String,
    tmp: PathBuf,
    rel: String,
}

impl Drop for PendingSegment {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

impl<'l> TenantWriter<'l> {
    /// The manifest as it will be committed.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Mutable positions, committed with the next [`TenantWriter::commit`].
    pub fn positions_mut(&mut self) -> &mut std::collections::BTreeMap<String, Position> {
        &mut self.manifest.positions
    }

    /// Starts a new segment for `day` (`YYYY-MM-DD`).
    /// The id is never one in use: a `next_segment_id` at or below a live
    /// id (a damaged or hand-edited manifest) is moved past it, and an id
    /// whose file exists is skipped, so a live segment is never overwritten.
    pub fn create_segment(&mut self, day: &str) -> Result<PendingSegment, StoreError> {
        if !manifest::is_day_name(day) {
            return Err(StoreError::io(
                &self.tenant.dir.join("segments").join(day),
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a YYYY-MM-DD day"),
            ));
        }
        if !self.manifest_on_disk {
            write_manifest(&self.tenant, &self.manifest)?;
            self.manifest_on_disk = true;
        }
        let dir = self.tenant.dir.join("segments").join(day);
        fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
        check_dirs(&self.tenant.dir, &format!("segments/{day}/x"))?;
        let live_max = self
            .manifest
            .segments
            .iter()
            .map(|s| s.id)
            .max()
            .unwrap_or(0);
        let mut id = self
            .manifest
            .next_segment_id
            .max(live_max.saturating_add(1));
        let rel = loop {
            let rel = manifest::segment_rel_path(day, id);
            if fs::symlink_metadata(self.tenant.dir.join(&rel)).is_err() {
                break rel;
            }
            id += 1;
        };
        self.manifest.next_segment_id = id + 1;
        let tmp = self.tenant.dir.join(format!("{rel}.tmp"));
        // A leftover of that name (even a symlink: the link, not its
        // target, is removed) goes; the writer creates the file exclusively.
        let _ = fs::remove_file(&tmp);
        let writer = SegmentWriter::create(&tmp)?;
        trace::point("segment-create");
        Ok(PendingSegment {
            writer,
            id,
            day: day.to_string(),
            tmp,
            rel,
        })
    }

    /// Finishes a segment, moves it into place (durably) and records it for
    /// the next commit. Returns its manifest entry.
    pub fn publish(&mut self, mut pending: PendingSegment) -> Result<SegmentEntry, StoreError> {
        // On any error `pending` is dropped and removes its temporary file.
        let (summary, size) = pending.writer.finish()?;
        let dst = self.tenant.dir.join(&pending.rel);
        // The writer lock keeps other lokal writers out; this keeps a file
        // that appeared meanwhile from being replaced.
        if fs::symlink_metadata(&dst).is_ok() {
            return Err(StoreError::io(
                &dst,
                std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "a segment of this name appeared while it was written; not replacing it",
                ),
            ));
        }
        fs::rename(&pending.tmp, &dst).map_err(|e| StoreError::io(&dst, e))?;
        pending.tmp = PathBuf::new();
        sync_dir(dst.parent().unwrap_or(&self.tenant.dir))?;
        trace::point("segment-publish");
        let entry = SegmentEntry {
            id: pending.id,
            day: pending.day.clone(),
            path: pending.rel.clone(),
            bytes: size,
            raw_bytes: summary.raw_bytes,
            entries: summary.entries,
            streams: summary.streams,
            blocks: summary.blocks,
            min_t: summary.min_t,
            max_t: summary.max_t,
            compacted: false,
        };
        self.manifest.segments.push(entry.clone());
        Ok(entry)
    }

    /// Absolute path of a segment of the pending manifest.
    pub fn segment_path(&self, entry: &SegmentEntry) -> PathBuf {
        self.tenant.dir.join(&entry.path)
    }

    /// A read view of the manifest as it will be committed (segments
    /// published so far included).
    pub fn pending_snapshot(&self) -> Snapshot {
        Snapshot {
            manifest: self.manifest.clone(),
            dir: self.tenant.dir.clone(),
            _lease: None,
        }
    }

    /// Writes the label index of `day` durably under a new name and records
    /// it (replacing the day's previous index) for the next commit.
    /// `segments` are the ids the index covers.
    pub fn write_index(
        &mut self,
        day: &str,
        bytes: &[u8],
        segments: Vec<u64>,
    ) -> Result<IndexEntry, StoreError> {
        let mut v = self.write_indexes(vec![NewIndex {
            day: day.to_string(),
            bytes: bytes.to_vec(),
            segments,
        }])?;
        Ok(v.remove(0))
    }

    /// [`TenantWriter::write_index`] for several days at once: the files are
    /// fsynced concurrently, which lets the file system commit them in one
    /// journal transaction instead of one each (an fsync of a small file
    /// costs milliseconds, far more than building the index).
    pub fn write_indexes(&mut self, mut new: Vec<NewIndex>) -> Result<Vec<IndexEntry>, StoreError> {
        // One file per day and commit: a day given twice keeps its last build.
        let mut seen = HashSet::new();
        new.reverse();
        new.retain(|n| seen.insert(n.day.clone()));
        new.reverse();
        if new.is_empty() {
            return Ok(Vec::new());
        }
        let dir = self.tenant.dir.join("index");
        fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
        check_dirs(&self.tenant.dir, "index/x")?;
        // The generation the next commit gets: unique per commit, so readers
        // of the current manifest never see their file replaced.
        let gen = self.manifest.generation + 1;
        let jobs: Vec<(PathBuf, &NewIndex)> = new
            .iter()
            .map(|n| (dir.join(format!("{}-{gen}.idx.tmp", n.day)), n))
            .collect();
        let results: Vec<Result<(), StoreError>> = std::thread::scope(|sc| {
            let handles: Vec<_> = jobs
                .iter()
                .map(|(tmp, n)| {
                    sc.spawn(move || {
                        let mut f = create_exclusive(tmp)?;
                        f.write_all(&n.bytes)?;
                        f.sync_all()
                    })
                })
                .collect();
            handles
                .into_iter()
                .zip(&jobs)
                .map(|(h, (tmp, _))| {
                    h.join()
                        .unwrap_or_else(|_| Err(std::io::Error::other("index writer panicked")))
                        .map_err(|e| StoreError::io(tmp, e))
                })
                .collect()
        });
        if let Some(Err(e)) = results.into_iter().find(|r| r.is_err()) {
            for (tmp, _) in &jobs {
                let _ = fs::remove_file(tmp);
            }
            return Err(e);
        }
        trace::point("index-write");
        let mut out = Vec::with_capacity(jobs.len());
        for (tmp, n) in &jobs {
            let rel = format!("index/{}-{gen}.idx", n.day);
            let dst = self.tenant.dir.join(&rel);
            fs::rename(tmp, &dst).map_err(|e| StoreError::io(&dst, e))?;
            self.index_dir_dirty = true;
            let mut segments = n.segments.clone();
            segments.sort_unstable();
            let entry = IndexEntry {
                day: n.day.clone(),
                path: rel,
                segments,
                bytes: n.bytes.len() as u64,
            };
            self.remove_index(&n.day);
            // A second build of the day in one transaction took the name of
            // the first: that name is live, not retired.
            self.manifest.retired.retain(|r| r.path != entry.path);
            self.manifest.indexes.push(entry.clone());
            out.push(entry);
        }
        self.manifest.indexes.sort_by(|a, b| a.day.cmp(&b.day));
        Ok(out)
    }

    /// Stops naming the index of `day`; its file is retired (deleted once no
    /// reader of an older manifest can need it).
    pub fn remove_index(&mut self, day: &str) {
        let mut gone = Vec::new();
        self.manifest.indexes.retain(|i| {
            if i.day != day {
                return true;
            }
            gone.push(i.path.clone());
            false
        });
        for p in gone {
            self.retire(p);
        }
    }

    /// Records `path` as retired by the next commit.
    fn retire(&mut self, path: String) {
        if self.manifest.retired.iter().any(|r| r.path == path) {
            return;
        }
        self.manifest.retired.push(RetiredFile {
            path,
            generation: self.manifest.generation + 1,
            at: jiff::Timestamp::now().as_nanosecond() as i64,
            unleased: false,
        });
    }

    /// Replaces the list of live segments. Segments no longer named are
    /// retired: their files stay until no reader of an older manifest can
    /// need them.
    pub fn set_segments(&mut self, segments: Vec<SegmentEntry>) {
        let keep: HashSet<&str> = segments.iter().map(|s| s.path.as_str()).collect();
        let gone: Vec<String> = self
            .manifest
            .segments
            .iter()
            .filter(|s| !keep.contains(s.path.as_str()))
            .map(|s| s.path.clone())
            .collect();
        self.manifest.segments = segments;
        for p in gone {
            self.retire(p);
        }
    }

    /// Takes the segments `ids` out of the live list (retiring their files).
    pub fn retire_segments(&mut self, ids: &[u64]) {
        let ids: HashSet<u64> = ids.iter().copied().collect();
        let segments = self
            .manifest
            .segments
            .iter()
            .filter(|s| !ids.contains(&s.id))
            .cloned()
            .collect();
        self.set_segments(segments);
    }

    /// Reserves `n` segment ids, above every live one, for segments made
    /// later by [`TenantWriter::adopt_segment`]; returns the first. They
    /// are reserved once the next commit is durable: every segment created
    /// after that commit gets a larger id. (Equal timestamps of one stream
    /// are read in segment id order, so a compaction that writes its output
    /// under reserved ids keeps the order against segments ingested while
    /// it ran.)
    pub fn reserve_segment_ids(&mut self, n: u64) -> u64 {
        let live_max = self.manifest.segments.iter().map(|s| s.id).max();
        let first = self
            .manifest
            .next_segment_id
            .max(live_max.map_or(1, |m| m.saturating_add(1)));
        self.manifest.next_segment_id = first.saturating_add(n);
        first
    }

    /// Moves a finished segment file `src` (written and fsynced elsewhere
    /// in the tenant directory, on the same file system) into place as
    /// segment `id` of `day` and records it for the next commit; `summary`
    /// describes it (its id, day and path are set here). The id must be
    /// neither live nor taken by a file.
    pub fn adopt_segment(
        &mut self,
        day: &str,
        id: u64,
        src: &Path,
        mut summary: SegmentEntry,
    ) -> Result<SegmentEntry, StoreError> {
        let rel = manifest::segment_rel_path(day, id);
        let dst = self.tenant.dir.join(&rel);
        let taken = |what: &str| {
            StoreError::io(
                &dst,
                std::io::Error::new(std::io::ErrorKind::AlreadyExists, what.to_string()),
            )
        };
        if !manifest::is_day_name(day) {
            return Err(StoreError::io(
                &dst,
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a YYYY-MM-DD day"),
            ));
        }
        if self.manifest.segments.iter().any(|s| s.id == id) {
            return Err(taken("the segment id is live; not replacing it"));
        }
        let dir = self.tenant.dir.join("segments").join(day);
        fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
        check_dirs(&self.tenant.dir, &format!("segments/{day}/x"))?;
        if fs::symlink_metadata(&dst).is_ok() {
            return Err(taken("a file of this name exists; not replacing it"));
        }
        fs::rename(src, &dst).map_err(|e| StoreError::io(&dst, e))?;
        sync_dir(&dir)?;
        trace::point("segment-publish");
        summary.id = id;
        summary.day = day.to_string();
        summary.path = rel;
        self.manifest.segments.push(summary.clone());
        self.manifest.next_segment_id = self.manifest.next_segment_id.max(id.saturating_add(1));
        Ok(summary)
    }

    /// Delete requests, changed in place and committed with the next commit.
    pub fn deletes_mut(&mut self) -> &mut Vec<DeleteRequest> {
        &mut self.manifest.deletes
    }

    /// Deletes the retired files that no reader can need any more (every
    /// lease of an older manifest was released) and forgets them. A file
    /// already gone is forgotten too.
    fn release_retired(&mut self, leases: &lease::Leases) -> Result<(), StoreError> {
        let now = jiff::Timestamp::now().as_nanosecond() as i64;
        let mut released = false;
        let mut days = std::collections::BTreeSet::new();
        let mut kept = Vec::with_capacity(self.manifest.retired.len());
        for r in std::mem::take(&mut self.manifest.retired) {
            if !self.due(&r, leases, now) || !manifest::is_store_file_name(&r.path) {
                kept.push(r);
                continue;
            }
            check_dirs(&self.tenant.dir, &r.path)?;
            let f = self.tenant.dir.join(&r.path);
            match fs::symlink_metadata(&f) {
                Ok(m) if m.file_type().is_file() => {
                    fs::remove_file(&f).map_err(|e| StoreError::io(&f, e))?;
                    released = true;
                }
                Ok(_) => {
                    // Not a file lokal wrote: `lokal check` reports it.
                    kept.push(r);
                    continue;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io(&f, e)),
            }
            if r.path.starts_with("segments/") {
                if let Some(d) = f.parent() {
                    days.insert(d.to_path_buf());
                }
            }
        }
        self.manifest.retired = kept;
        // A day whose last segment went is removed as a directory (this
        // fails, harmlessly, while anything is left in it).
        for d in days {
            let _ = fs::remove_dir(d);
        }
        if released {
            trace::point("retired-remove");
        }
        Ok(())
    }

    /// Whether no reader can need the retired file `r` any more.
    fn due(&self, r: &RetiredFile, leases: &lease::Leases, now: i64) -> bool {
        let grace = lease::UNLEASED_GRACE.as_nanos() as i64;
        // Retired by a commit not yet on disk: readers of the manifest on
        // disk still name it.
        r.generation <= self.disk_generation
            && leases.allows(r.generation)
            && (!r.unleased || now.saturating_sub(r.at) > grace)
    }

    /// Whether a commit now would delete a retired file: one is no longer
    /// needed by any reader.
    pub fn has_releasable_retired(&self) -> Result<bool, StoreError> {
        if self.manifest.retired.is_empty() {
            return Ok(false);
        }
        let leases = lease::sweep(&self.tenant.dir)?;
        let now = jiff::Timestamp::now().as_nanosecond() as i64;
        Ok(self
            .manifest
            .retired
            .iter()
            .any(|r| self.due(r, &leases, now)))
    }

    /// Writes the manifest atomically: from now on readers see the new
    /// segments and a re-run sees the new positions. Retired files no
    /// reader can need any more are deleted first (and the new manifest no
    /// longer lists them).
    pub fn commit(&mut self) -> Result<(), StoreError> {
        if self.index_dir_dirty {
            sync_dir(&self.tenant.dir.join("index"))?;
            self.index_dir_dirty = false;
        }
        if !self.manifest.retired.is_empty() {
            let leases = lease::sweep(&self.tenant.dir)?;
            self.release_retired(&leases)?;
        }
        self.manifest.generation += 1;
        self.manifest.version = manifest::MANIFEST_VERSION;
        // Readers of the manifest being replaced stay visible as a lease.
        if self.manifest_on_disk
            && !lease::keep(
                &self.tenant.dir,
                &self.tenant.manifest_path(),
                self.disk_generation,
            )?
        {
            let generation = self.manifest.generation;
            for r in &mut self.manifest.retired {
                if r.generation == generation {
                    r.unleased = true;
                }
            }
        }
        write_manifest(&self.tenant, &self.manifest)?;
        self.manifest_on_disk = true;
        self.disk_generation = self.manifest.generation;
        // The lease just kept goes at once unless a reader holds it.
        let _ = lease::sweep(&self.tenant.dir);
        Ok(())
    }
}

/// Creates `path` afresh for writing: whatever has that name is removed
/// first (a symlink itself, never its target) and the file is created with
/// `O_EXCL`, so a write never goes through a link.
fn create_exclusive(path: &Path) -> std::io::Result<File> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    File::options().write(true).create_new(true).open(path)
}

/// Writes `m` as the tenant's manifest atomically: temporary file, fsync,
/// rename, fsync of the directory.
fn write_manifest(tenant: &Tenant, m: &Manifest) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec_pretty(m).expect("manifest serializes");
    replace_file(
        &tenant.dir,
        &tenant.dir.join(MANIFEST_TMP),
        &tenant.manifest_path(),
        &bytes,
        || trace::point("manifest-write"),
    )?;
    trace::point("commit");
    Ok(())
}

/// Replaces `path` (in `dir`) with `bytes`, atomically and durably: `tmp`
/// created afresh and fsynced, `before_rename`, the rename, an fsync of `dir`.
/// A failed write removes `tmp`.
fn replace_file(
    dir: &Path,
    tmp: &Path,
    path: &Path,
    bytes: &[u8],
    before_rename: impl FnOnce(),
) -> Result<(), StoreError> {
    let write = || -> std::io::Result<()> {
        let mut f = create_exclusive(tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    };
    if let Err(e) = write() {
        let _ = fs::remove_file(tmp);
        return Err(StoreError::io(tmp, e));
    }
    before_rename();
    fs::rename(tmp, path).map_err(|e| StoreError::io(path, e))?;
    sync_dir(dir)
}

fn summarize(
    id: u64,
    day: String,
    path: String,
    bytes: u64,
    streams: &[StreamChunk],
) -> SegmentEntry {
    let mut e = SegmentEntry {
        id,
        day,
        path,
        bytes,
        raw_bytes: 0,
        entries: 0,
        streams: streams.len() as u64,
        blocks: 0,
        min_t: i64::MAX,
        max_t: i64::MIN,
        compacted: false,
    };
    // A packed block holds several streams' runs: count it once.
    let mut frames = std::collections::HashSet::new();
    for s in streams {
        for b in &s.blocks {
            if frames.insert(b.offset) {
                e.blocks += 1;
            }
            e.entries += u64::from(b.entries);
            e.raw_bytes += b.line_bytes;
            e.min_t = e.min_t.min(b.min_t);
            e.max_t = e.max_t.max(b.max_t);
        }
    }
    e
}

/// fsyncs a directory so a rename in it is durable.
pub fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io(dir, e))
}
