//! Opening the store's own files for reading: never through a symbolic link,
//! never blocking, and only regular files.
//!
//! A store that holds someone's only copy of their logs must not be steered
//! by what is on disk: a hand-edited or damaged store may hold a symlink to
//! `/etc/passwd` or a FIFO where a segment should be. The last component is
//! opened with `O_NOFOLLOW` (a symlink fails with `ELOOP`) and `O_NONBLOCK`
//! (opening a FIFO returns at once instead of waiting for a writer), and the
//! opened file must be a regular file. The directories between the tenant
//! directory and the file are checked by the store, which knows where its
//! tree starts.

use std::fs::File;
use std::io;
use std::path::Path;

/// Opens `path` read-only if it is a regular file and not a symlink.
/// Errors are plain `io::Error`s; a symlink or another kind of file gets a
/// message saying so.
pub fn open_regular(path: &Path) -> io::Result<File> {
    let file = open_nofollow(path)?;
    let kind = file.metadata()?.file_type();
    if !kind.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "not a regular file ({}); lokal reads only its own files",
                describe(kind)
            ),
        ));
    }
    Ok(file)
}

#[cfg(unix)]
fn open_nofollow(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| {
            // ELOOP is what O_NOFOLLOW answers for a symlink.
            if e.raw_os_error() == Some(libc::ELOOP) {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    "is a symbolic link; lokal does not follow links inside its store",
                )
            } else {
                e
            }
        })
}

#[cfg(not(unix))]
fn open_nofollow(path: &Path) -> io::Result<File> {
    if std::fs::symlink_metadata(path)?.file_type().is_symlink() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "is a symbolic link; lokal does not follow links inside its store",
        ));
    }
    File::open(path)
}

/// Whether `path` is a real directory (not a symlink to one). A missing
/// path is `Ok(false)`.
pub fn is_real_dir(path: &Path) -> io::Result<bool> {
    match std::fs::symlink_metadata(path) {
        Ok(m) => Ok(m.file_type().is_dir()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

fn describe(kind: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO";
        }
        if kind.is_socket() {
            return "a socket";
        }
        if kind.is_block_device() || kind.is_char_device() {
            return "a device";
        }
    }
    if kind.is_dir() {
        "a directory"
    } else if kind.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_open_and_everything_else_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, b"x").unwrap();
        assert!(open_regular(&f).is_ok());
        let e = open_regular(dir.path()).unwrap_err().to_string();
        assert!(e.contains("a directory"), "{e}");
        #[cfg(unix)]
        {
            let link = dir.path().join("link");
            std::os::unix::fs::symlink(&f, &link).unwrap();
            let e = open_regular(&link).unwrap_err().to_string();
            assert!(e.contains("symbolic link"), "{e}");
            // A FIFO must not block the open (nobody writes to it).
            let fifo = dir.path().join("fifo");
            let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
            // SAFETY: a valid NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
            let e = open_regular(&fifo).unwrap_err().to_string();
            assert!(e.contains("a FIFO"), "{e}");
        }
        assert!(!is_real_dir(&dir.path().join("missing")).unwrap());
        assert!(is_real_dir(dir.path()).unwrap());
    }
}
