//! The writer lock: an advisory `flock` on `STORE/lokal.lock`, held by
//! ingest, index and compact. Readers never take it.

use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

use super::StoreError;

/// A held writer lock; released on drop (and by the kernel if the process dies).
#[derive(Debug)]
pub struct WriterLock {
    _file: File,
}

impl WriterLock {
    /// Takes the lock, waiting up to `timeout` (forever when `None`).
    /// `on_wait` is called once if the lock is busy, to tell the user.
    pub fn acquire(
        path: &Path,
        timeout: Option<Duration>,
        on_wait: impl FnOnce(),
    ) -> Result<Self, StoreError> {
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| StoreError::io(path, e))?;
        let start = Instant::now();
        let mut on_wait = Some(on_wait);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(WriterLock { _file: file }),
                Err(std::fs::TryLockError::WouldBlock) => {
                    if let Some(f) = on_wait.take() {
                        f();
                    }
                    if timeout.is_some_and(|t| start.elapsed() >= t) {
                        return Err(StoreError::LockTimeout {
                            path: path.to_path_buf(),
                        });
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(StoreError::io(path, e)),
            }
        }
    }
}
