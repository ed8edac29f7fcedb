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

pub mod lock;
pub mod manifest;
pub mod read;
pub mod rebuild;
pub mod trace;

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use lock::WriterLock;
pub use manifest::{IndexEntry, Manifest, Position, SegmentEntry};
pub use rebuild::{rebuild_all, rebuild_days, rebuild_days_lenient, IndexSummary};

use crate::chunk::segment::SegmentError;
use crate::chunk::{SegmentReader, SegmentWriter, StreamChunk};
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
    /// Bad tenant name.
    #[error("invalid tenant {name:?}: use 1 to 150 characters from [A-Za-z0-9!._*'()-], not \".\" or \"..\"")]
    InvalidTenant {
        /// The name.
        name: String,
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

    /// Tenants that have a manifest, sorted.
    pub fn tenants(&self) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        let rd = match fs::read_dir(&self.root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(StoreError::io(&self.root, e)),
        };
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

    /// Reads the manifest; a tenant without one is empty.
    pub fn read_manifest(&self) -> Result<Manifest, StoreError> {
        let path = self.manifest_path();
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Manifest::new()),
            Err(e) => return Err(StoreError::io(&path, e)),
        };
        let m: Manifest =
            serde_json::from_slice(&bytes).map_err(|e| StoreError::CorruptManifest {
                path: path.clone(),
                what: e.to_string(),
            })?;
        if m.version > manifest::MANIFEST_VERSION {
            return Err(StoreError::CorruptManifest {
                path,
                what: format!(
                    "version {} is newer than this lokal supports; upgrade lokal",
                    m.version
                ),
            });
        }
        Ok(m)
    }

    /// A consistent read view: the manifest as of now.
    pub fn snapshot(&self) -> Result<Snapshot, StoreError> {
        Ok(Snapshot {
            manifest: self.read_manifest()?,
            dir: self.dir.clone(),
        })
    }

    /// Starts a write transaction. The caller must hold the writer lock.
    /// Files left by a crashed writer (temporaries, segments no manifest
    /// names) are removed first.
    pub fn begin_write<'l>(&self, lock: &'l WriterLock) -> Result<TenantWriter<'l>, StoreError> {
        fs::create_dir_all(self.dir.join("segments")).map_err(|e| StoreError::io(&self.dir, e))?;
        let manifest = self.read_manifest()?;
        self.remove_orphans(&manifest)?;
        Ok(TenantWriter {
            tenant: self.clone(),
            manifest,
            replaced: Vec::new(),
            retired: Vec::new(),
            index_dir_dirty: false,
            _lock: lock,
        })
    }

    fn remove_orphans(&self, manifest: &Manifest) -> Result<(), StoreError> {
        let live: HashSet<&str> = manifest.segments.iter().map(|s| s.path.as_str()).collect();
        let segs = self.dir.join("segments");
        for day in fs::read_dir(&segs).map_err(|e| StoreError::io(&segs, e))? {
            let day = day.map_err(|e| StoreError::io(&segs, e))?.path();
            if !day.is_dir() {
                continue;
            }
            let mut empty = true;
            for f in fs::read_dir(&day).map_err(|e| StoreError::io(&day, e))? {
                let f = f.map_err(|e| StoreError::io(&day, e))?.path();
                let rel = f
                    .strip_prefix(&self.dir)
                    .unwrap_or(&f)
                    .to_string_lossy()
                    .replace('\\', "/");
                if live.contains(rel.as_str()) {
                    empty = false;
                } else {
                    fs::remove_file(&f).map_err(|e| StoreError::io(&f, e))?;
                }
            }
            if empty {
                let _ = fs::remove_dir(&day);
            }
        }
        // Index files: every build has a new name, so any file the manifest
        // does not name is an old build (or a crashed writer's temporary).
        let live: HashSet<&str> = manifest.indexes.iter().map(|i| i.path.as_str()).collect();
        let idx = self.dir.join("index");
        if let Ok(rd) = fs::read_dir(&idx) {
            for f in rd {
                let f = f.map_err(|e| StoreError::io(&idx, e))?.path();
                let rel = format!(
                    "index/{}",
                    f.file_name().unwrap_or_default().to_string_lossy()
                );
                if !live.contains(rel.as_str()) && f.is_file() {
                    fs::remove_file(&f).map_err(|e| StoreError::io(&f, e))?;
                }
            }
        }
        let _ = fs::remove_file(self.dir.join(MANIFEST_TMP));
        Ok(())
    }
}

/// A read view of one tenant.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The manifest the view was taken from.
    pub manifest: Manifest,
    dir: PathBuf,
}

impl Snapshot {
    /// Opens (maps) a segment of this view.
    pub fn open_segment(&self, entry: &SegmentEntry) -> Result<SegmentReader, StoreError> {
        Ok(SegmentReader::open(&self.dir.join(&entry.path))?)
    }

    /// Absolute path of a segment.
    pub fn segment_path(&self, entry: &SegmentEntry) -> PathBuf {
        self.dir.join(&entry.path)
    }

    /// Opens (maps and checks) a label index of this view.
    pub fn open_index(&self, entry: &IndexEntry) -> Result<DayIndex, IndexError> {
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
    /// Index files the pending commit stops naming.
    replaced: Vec<PathBuf>,
    /// Index files the previous commit stopped naming: removed after the next
    /// commit, so a reader of the manifest just before keeps a valid file.
    retired: Vec<PathBuf>,
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
    pub fn create_segment(&mut self, day: &str) -> Result<PendingSegment, StoreError> {
        let id = self.manifest.next_segment_id;
        self.manifest.next_segment_id += 1;
        let dir = self.tenant.dir.join("segments").join(day);
        fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
        let name = format!("{id:016x}.seg");
        let tmp = dir.join(format!("{name}.tmp"));
        let _ = fs::remove_file(&tmp);
        let writer = SegmentWriter::create(&tmp)?;
        trace::point("segment-create");
        Ok(PendingSegment {
            writer,
            id,
            day: day.to_string(),
            tmp,
            rel: format!("segments/{day}/{name}"),
        })
    }

    /// Finishes a segment, moves it into place (durably) and records it for
    /// the next commit. Returns its manifest entry.
    pub fn publish(&mut self, mut pending: PendingSegment) -> Result<SegmentEntry, StoreError> {
        // On any error `pending` is dropped and removes its temporary file.
        let (streams, size) = pending.writer.finish()?;
        let dst = self.tenant.dir.join(&pending.rel);
        fs::rename(&pending.tmp, &dst).map_err(|e| StoreError::io(&dst, e))?;
        pending.tmp = PathBuf::new();
        sync_dir(dst.parent().unwrap_or(&self.tenant.dir))?;
        trace::point("segment-publish");
        let entry = summarize(
            pending.id,
            pending.day.clone(),
            pending.rel.clone(),
            size,
            &streams,
        );
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
                        let mut f = File::create(tmp)?;
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
            self.manifest.indexes.push(entry.clone());
            out.push(entry);
        }
        self.manifest.indexes.sort_by(|a, b| a.day.cmp(&b.day));
        Ok(out)
    }

    /// Stops naming the index of `day` (its file is removed after a later
    /// commit).
    pub fn remove_index(&mut self, day: &str) {
        let dir = &self.tenant.dir;
        let replaced = &mut self.replaced;
        self.manifest.indexes.retain(|i| {
            if i.day != day {
                return true;
            }
            replaced.push(dir.join(&i.path));
            false
        });
    }

    /// Replaces the list of live segments (compaction). Files no longer named
    /// are removed after the commit.
    pub fn set_segments(&mut self, segments: Vec<SegmentEntry>) {
        self.manifest.segments = segments;
    }

    /// Writes the manifest atomically: from now on readers see the new
    /// segments and a re-run sees the new positions.
    pub fn commit(&mut self) -> Result<(), StoreError> {
        if self.index_dir_dirty {
            sync_dir(&self.tenant.dir.join("index"))?;
            self.index_dir_dirty = false;
        }
        self.manifest.generation += 1;
        self.manifest.version = manifest::MANIFEST_VERSION;
        let bytes = serde_json::to_vec_pretty(&self.manifest).expect("manifest serializes");
        let path = self.tenant.manifest_path();
        let tmp = self.tenant.dir.join(MANIFEST_TMP);
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()
        };
        if let Err(e) = write() {
            let _ = fs::remove_file(&tmp);
            return Err(StoreError::io(&tmp, e));
        }
        trace::point("manifest-write");
        fs::rename(&tmp, &path).map_err(|e| StoreError::io(&path, e))?;
        sync_dir(&self.tenant.dir)?;
        trace::point("commit");
        // Index builds superseded one commit ago: only a reader of a manifest
        // two commits old still names them, and a missing index merely sends
        // it to the footers. Removing them now keeps a long ingest that
        // rebuilds per batch from piling up files until the next writer.
        let live: HashSet<PathBuf> = self
            .manifest
            .indexes
            .iter()
            .map(|i| self.tenant.dir.join(&i.path))
            .collect();
        for f in std::mem::replace(&mut self.retired, std::mem::take(&mut self.replaced)) {
            if !live.contains(&f) {
                let _ = fs::remove_file(&f);
            }
        }
        Ok(())
    }
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
    };
    for s in streams {
        for b in &s.blocks {
            e.blocks += 1;
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
