//! Reader leases: how a query's manifest snapshot keeps the files it names
//! on disk until the query is done, although no reader takes the writer lock.
//!
//! A reader opens `MANIFEST`, takes a shared `flock` on that open file and
//! reads the manifest through it; the lock is the lease, held as long as
//! the [`Snapshot`](super::Snapshot) lives. Every commit replaces `MANIFEST`
//! by a rename, so the inode a reader locked stays the manifest of its
//! generation. Before the rename the writer hard-links the outgoing inode
//! into `leases/GEN-INODE`, so the lease stays visible to later writers. A
//! writer *sweeps* the leases: it tries an exclusive lock on each, and one
//! it gets (no reader holds it) is unlinked while locked. A file a commit
//! stopped naming (a compacted segment, a replaced index) is retired with
//! the generation of that commit and deleted only once no lease of an older
//! generation survives a sweep ([`Leases::allows`]).
//!
//! The race between opening the manifest and locking it is closed on the
//! reader's side: after locking, a reader whose inode has no links left
//! (its lease was swept before it locked) reads `MANIFEST` again.
//!
//! Leases need hard links. Where a link cannot be made the retired files of
//! that commit are marked `unleased` and wait [`UNLEASED_GRACE`] instead.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::StoreError;

/// The directory of leases in a tenant directory.
pub const LEASES_DIR: &str = "leases";

/// How long a file retired by a commit whose outgoing manifest could not be
/// linked as a lease (a file system without hard links) is kept: longer
/// than any query runs in practice (Loki's compactor waits 2 hours,
/// `retention_delete_delay`, for the same reason).
pub const UNLEASED_GRACE: Duration = Duration::from_secs(2 * 3600);

/// A held lease: the shared lock on one manifest inode, released on drop.
#[derive(Debug)]
pub struct Lease {
    _file: File,
}

/// A manifest's bytes and the lease they were read under (none where the
/// file system has no `flock`).
pub(crate) type Leased = (Vec<u8>, Option<Lease>);

/// Reads `path` (a tenant's `MANIFEST`) under a lease: `None` when there is
/// no manifest. The bytes read are those of the locked inode.
pub(crate) fn read_leased(path: &Path) -> Result<Option<Leased>, StoreError> {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    // A lease swept between open and lock makes the reader read again; a
    // sweep per commit bounds how often that can happen in a row.
    for attempt in 0..64 {
        let mut f = match crate::file::open_regular(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::io(path, e)),
        };
        // A file system without flock (some network mounts) gives no
        // lease: the reader goes on unprotected, as before leases existed.
        let locked = f.lock_shared().is_ok();
        if locked && attempt < 63 {
            let links = f.metadata().map_err(|e| StoreError::io(path, e))?.nlink();
            if links == 0 {
                continue;
            }
        }
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes)
            .map_err(|e| StoreError::io(path, e))?;
        let lease = locked.then_some(Lease { _file: f });
        return Ok(Some((bytes, lease)));
    }
    unreachable!("the last attempt returns")
}

/// Links the manifest about to be replaced (generation `generation`) into
/// `leases/` so that its readers stay visible. `Ok(false)` when the file
/// system cannot make the link.
pub(crate) fn keep(tenant: &Path, manifest: &Path, generation: u64) -> Result<bool, StoreError> {
    use std::os::unix::fs::MetadataExt;
    let ino = match fs::symlink_metadata(manifest) {
        Ok(m) if m.file_type().is_file() => m.ino(),
        // No manifest yet (the first commit) or not ours: nothing to keep.
        _ => return Ok(true),
    };
    let dir = tenant.join(LEASES_DIR);
    match fs::create_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(StoreError::io(&dir, e)),
    }
    super::check_dirs(tenant, &format!("{LEASES_DIR}/x"))?;
    let link = dir.join(format!("{generation}-{ino}"));
    match fs::hard_link(manifest, &link) {
        Ok(()) => Ok(true),
        // A writer that crashed between its link and its rename made it.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(true),
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::EPERM) | Some(libc::EOPNOTSUPP) | Some(libc::EMLINK)
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(StoreError::io(&link, e)),
    }
}

/// The leases still held after a sweep.
#[derive(Debug, Clone, Default)]
pub struct Leases {
    /// Generations of the manifests readers still hold, ascending.
    pub held: Vec<u64>,
}

impl Leases {
    /// Whether a file retired by the commit of `generation` may go: no
    /// reader holds a manifest older than that commit.
    pub fn allows(&self, generation: u64) -> bool {
        self.held.first().is_none_or(|&g| g >= generation)
    }
}

/// Removes every lease no reader holds; returns those that are held. Names
/// that are not `GEN-INODE` regular files are not lokal's and are left alone.
pub(crate) fn sweep(tenant: &Path) -> Result<Leases, StoreError> {
    let dir = tenant.join(LEASES_DIR);
    let mut held = Vec::new();
    if !crate::file::is_real_dir(&dir).map_err(|e| StoreError::io(&dir, e))? {
        return Ok(Leases::default());
    }
    for e in fs::read_dir(&dir).map_err(|e| StoreError::io(&dir, e))? {
        let e = e.map_err(|e| StoreError::io(&dir, e))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let generation = name
            .split_once('-')
            .and_then(|(g, i)| Some((g.parse::<u64>().ok()?, i.parse::<u64>().ok()?)))
            .map(|(g, _)| g);
        let path: PathBuf = e.path();
        let (Some(generation), true) = (generation, e.file_type().is_ok_and(|t| t.is_file()))
        else {
            continue;
        };
        let Ok(f) = crate::file::open_regular(&path) else {
            // Cannot tell whether a reader holds it: it is held.
            held.push(generation);
            continue;
        };
        match f.try_lock() {
            Ok(()) => {
                // Locked: no reader holds it, and one that opened it but has
                // not locked it yet finds no link left and reads again.
                let _ = fs::remove_file(&path);
            }
            Err(std::fs::TryLockError::WouldBlock) => held.push(generation),
            // No flock here: keep it, conservatively.
            Err(std::fs::TryLockError::Error(_)) => held.push(generation),
        }
    }
    held.sort_unstable();
    Ok(Leases { held })
}

/// The highest generation a lease on disk carries (0 without leases): a
/// rebuilt manifest takes a generation above it.
pub(crate) fn max_generation(tenant: &Path) -> u64 {
    let Ok(rd) = fs::read_dir(tenant.join(LEASES_DIR)) else {
        return 0;
    };
    rd.flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.split_once('-')?.0.parse::<u64>().ok()
        })
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lease_blocks_and_a_released_one_is_swept() {
        let dir = tempfile::tempdir().unwrap();
        let m = dir.path().join("MANIFEST");
        fs::write(&m, b"{\"generation\":7}").unwrap();
        let (bytes, lease) = read_leased(&m).unwrap().unwrap();
        assert_eq!(bytes, b"{\"generation\":7}");
        assert!(keep(dir.path(), &m, 7).unwrap());
        // The commit renames a new manifest over the old one.
        fs::write(dir.path().join("MANIFEST.tmp"), b"{\"generation\":8}").unwrap();
        fs::rename(dir.path().join("MANIFEST.tmp"), &m).unwrap();
        let l = sweep(dir.path()).unwrap();
        assert_eq!(l.held, vec![7]);
        assert!(!l.allows(8), "a reader of generation 7 may still read it");
        assert!(l.allows(7));
        drop(lease);
        let l = sweep(dir.path()).unwrap();
        assert!(l.held.is_empty() && l.allows(8));
        assert_eq!(
            fs::read_dir(dir.path().join(LEASES_DIR)).unwrap().count(),
            0
        );
    }

    #[test]
    fn a_reader_whose_lease_was_swept_reads_the_new_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let m = dir.path().join("MANIFEST");
        fs::write(&m, b"old").unwrap();
        // Opened before the commit, locked after the sweep removed its last
        // link: what read_leased's link check is for.
        let f = crate::file::open_regular(&m).unwrap();
        assert!(keep(dir.path(), &m, 1).unwrap());
        fs::write(dir.path().join("new"), b"new").unwrap();
        fs::rename(dir.path().join("new"), &m).unwrap();
        sweep(dir.path()).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!(f.metadata().unwrap().nlink(), 0);
        let (bytes, _l) = read_leased(&m).unwrap().unwrap();
        assert_eq!(bytes, b"new");
    }
}
