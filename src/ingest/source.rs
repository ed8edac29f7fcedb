//! Input discovery and reading: files, globs (`**` too), directories,
//! standard input, and `.gz` / `.zst` files decompressed on the fly.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::IngestError;

/// One input to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Standard input.
    Stdin,
    /// A file, with its absolute path.
    File(PathBuf),
}

impl Input {
    /// How the input is named in messages and in the `filename` label.
    pub fn display(&self) -> String {
        match self {
            Input::Stdin => "<stdin>".to_string(),
            Input::File(p) => p.display().to_string(),
        }
    }
}

/// Compression of an input, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain text.
    None,
    /// gzip (`.gz`), multi-member files included.
    Gzip,
    /// zstd (`.zst`).
    Zstd,
}

impl Compression {
    /// From the file name's extension.
    pub fn of(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some("gz") => Compression::Gzip,
            Some("zst") | Some("zstd") => Compression::Zstd,
            _ => Compression::None,
        }
    }
}

/// Expands the command line's inputs: `-` is stdin, a directory is walked
/// (recursively with `recursive`, else its files only), a pattern with glob
/// characters is expanded, anything else is a file. The result is in the
/// given order, each pattern's matches sorted, duplicates removed.
pub fn expand_inputs(args: &[String], recursive: bool) -> Result<Vec<Input>, IngestError> {
    expand(args, recursive, false)
}

/// [`expand_inputs`]; with `follow` a glob that matches nothing (yet) is no
/// error: `ingest --follow` picks up the files when they appear.
pub(crate) fn expand(
    args: &[String],
    recursive: bool,
    follow: bool,
) -> Result<Vec<Input>, IngestError> {
    let mut out: Vec<Input> = Vec::new();
    let push = |i: Input, out: &mut Vec<Input>| {
        if !out.contains(&i) {
            out.push(i);
        }
    };
    for arg in args {
        if arg == "-" {
            push(Input::Stdin, &mut out);
            continue;
        }
        let path = Path::new(arg);
        if path.is_dir() {
            let mut files = Vec::new();
            walk_dir(path, recursive, &mut files).map_err(|e| IngestError::Input {
                input: arg.clone(),
                message: e.to_string(),
            })?;
            files.sort();
            for f in files {
                push(Input::File(absolute(&f)), &mut out);
            }
        } else if arg.contains(['*', '?', '[']) && !path.exists() {
            let paths = glob::glob(arg).map_err(|e| IngestError::Input {
                input: arg.clone(),
                message: format!("bad glob pattern: {e}"),
            })?;
            let mut files: Vec<PathBuf> = paths
                .filter_map(Result::ok)
                .filter(|p| p.is_file())
                .collect();
            if files.is_empty() && !follow {
                return Err(IngestError::Input {
                    input: arg.clone(),
                    message: "no file matches this pattern".into(),
                });
            }
            files.sort();
            for f in files {
                push(Input::File(absolute(&f)), &mut out);
            }
        } else {
            push(Input::File(absolute(path)), &mut out);
        }
    }
    Ok(out)
}

fn walk_dir(dir: &Path, recursive: bool, out: &mut Vec<PathBuf>) -> io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let p = e.path();
        let ft = e.file_type()?;
        if ft.is_dir() {
            if recursive {
                walk_dir(&p, recursive, out)?;
            }
        } else if p.is_file() {
            out.push(p);
        }
    }
    Ok(())
}

/// An absolute, lexically clean path (symlinks are kept, as promtail does).
pub fn absolute(p: &Path) -> PathBuf {
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|c| c.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    };
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            c => out.push(c.as_os_str()),
        }
    }
    out
}

/// What identifies a file across runs: device and inode (checked against
/// hashes of its content, see [`crate::store::Position`]), with its size and
/// modification time when it was looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileIdentity {
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, ns since the epoch.
    pub mtime_ns: i64,
}

impl FileIdentity {
    /// The identity in `md`.
    pub fn of(md: &std::fs::Metadata) -> Self {
        #[cfg(unix)]
        let (dev, ino) = {
            use std::os::unix::fs::MetadataExt;
            (md.dev(), md.ino())
        };
        #[cfg(not(unix))]
        let (dev, ino) = (0, 0);
        let mtime_ns = md
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        FileIdentity {
            dev,
            ino,
            size: md.len(),
            mtime_ns,
        }
    }

    /// True when `other` is the same file (device and inode).
    pub fn same_inode(&self, other: &FileIdentity) -> bool {
        self.dev == other.dev && self.ino == other.ino
    }
}

/// Reads the identity of an open file.
pub fn identity(file: &File) -> io::Result<FileIdentity> {
    Ok(FileIdentity::of(&file.metadata()?))
}

/// Bytes hashed to recognise a file's start, and the stretch before a
/// position that must be unchanged for the position to still hold.
pub const HEAD_LEN: u64 = crate::store::manifest::POSITION_HASH_LEN;

/// Bytes of a decoded input's start searched for a NUL byte (as grep and
/// git decide a file is binary).
pub const BINARY_SNIFF: usize = 8192;

/// The hash content is recognised by.
pub fn hash(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

/// Reads up to `buf.len()` bytes at `offset` without moving the file's
/// cursor; fewer only at the end of the file.
pub fn read_at(file: &File, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        #[cfg(unix)]
        let n = {
            use std::os::unix::fs::FileExt;
            file.read_at(&mut buf[got..], offset + got as u64)
        };
        #[cfg(not(unix))]
        let n = {
            use std::io::{Seek, SeekFrom};
            let mut f = file;
            f.seek(SeekFrom::Start(offset + got as u64))
                .and_then(|_| f.read(&mut buf[got..]))
        };
        match n {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// xxh3 of the `len` bytes at `start` of `file`; `None` when the file ends
/// before them.
pub fn hash_at(file: &File, start: u64, len: u64) -> io::Result<Option<u64>> {
    let mut buf = vec![0u8; len as usize];
    let n = read_at(file, start, &mut buf)?;
    Ok((n == buf.len()).then(|| hash(&buf)))
}

/// Opens a file as a stream of decoded bytes. Decompression is streamed:
/// gzip keeps a 32 KiB window, and zstd frames that need a window over
/// 2^[`ZSTD_WINDOW_LOG_MAX`] bytes are refused, so a small file cannot make
/// the decoder allocate much. Plain files are read directly (callers read
/// in large pieces, so a buffer would only add a copy).
pub fn open_reader(file: File, compression: Compression) -> io::Result<Box<dyn Read + Send>> {
    const BUF: usize = 256 << 10;
    Ok(match compression {
        Compression::None => Box::new(file),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(
            io::BufReader::with_capacity(BUF, file),
        )),
        Compression::Zstd => {
            let mut d =
                zstd::stream::read::Decoder::with_buffer(io::BufReader::with_capacity(BUF, file))?;
            d.window_log_max(ZSTD_WINDOW_LOG_MAX)?;
            Box::new(d)
        }
    })
}

/// Largest zstd window accepted (2^27 = 128 MiB, zstd's own default limit:
/// every level up to `--ultra -22` fits, `--long=28` and beyond do not).
pub const ZSTD_WINDOW_LOG_MAX: u32 = 27;

/// Reads up to `n` bytes of `r` into a new buffer (fewer at its end).
pub fn read_up_to(r: &mut dyn Read, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(n);
    r.take(n as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

/// The first `len` decoded bytes of the file at `path` (fewer if it is
/// shorter).
pub fn decoded_head(path: &Path, compression: Compression, len: usize) -> io::Result<Vec<u8>> {
    let file = File::open(path)?;
    if compression == Compression::None {
        let mut buf = vec![0u8; len];
        let n = read_at(&file, 0, &mut buf)?;
        buf.truncate(n);
        return Ok(buf);
    }
    read_up_to(&mut *open_reader(file, compression)?, len)
}

/// What [`skip_to`] found.
#[derive(Debug)]
pub struct Skipped {
    /// Bytes skipped: `n`, or fewer when the stream ended first.
    pub skipped: u64,
    /// The last (up to) `tail_len` bytes skipped.
    pub tail: Vec<u8>,
}

/// Reads and discards `n` bytes of `r`, keeping the last `tail_len` of them
/// (to check that they are the bytes a stored position ended with).
pub fn skip_to(r: &mut dyn Read, n: u64, tail_len: usize) -> io::Result<Skipped> {
    let mut buf = vec![0u8; 64 << 10];
    let mut tail: Vec<u8> = Vec::with_capacity(tail_len * 2);
    let mut skipped = 0u64;
    while skipped < n {
        let want = (n - skipped).min(buf.len() as u64) as usize;
        let got = match r.read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        skipped += got as u64;
        if tail_len > 0 {
            tail.extend_from_slice(&buf[got.saturating_sub(tail_len)..got]);
            if tail.len() > tail_len {
                tail.drain(..tail.len() - tail_len);
            }
        }
    }
    Ok(Skipped { skipped, tail })
}

/// True when a file name looks like a rotated copy (`app.log.1`,
/// `app.log-20241201`, `app.log.2.gz`): the part after its last `.` or
/// `-` (compression extension aside) is all digits. Such a file is not
/// written to any more, so an unterminated last line is stored as it is.
pub fn looks_rotated(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let name = name
        .strip_suffix(".gz")
        .or_else(|| name.strip_suffix(".zst"))
        .or_else(|| name.strip_suffix(".zstd"))
        .unwrap_or(name);
    match name.rfind(['.', '-']) {
        Some(i) if i + 1 < name.len() => name[i + 1..].bytes().all(|b| b.is_ascii_digit()),
        _ => false,
    }
}

/// True when `candidate` can be a rotated copy of `original`: the same
/// directory, and a name starting with the original's up to its first dot
/// (`access.log` -> `access.log.1`, `access.log-20241201.gz`,
/// `access-20241201.log`). Only a filter: content decides.
pub fn same_family(original: &Path, candidate: &Path) -> bool {
    if original.parent() != candidate.parent() {
        return false;
    }
    let (Some(o), Some(c)) = (
        original.file_name().and_then(|n| n.to_str()),
        candidate.file_name().and_then(|n| n.to_str()),
    ) else {
        return false;
    };
    // A leading dot (a hidden file) is part of the stem.
    let stem = match o.char_indices().skip(1).find(|&(_, c)| c == '.') {
        Some((i, _)) => &o[..i],
        None => o,
    };
    c.starts_with(stem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_cleans() {
        assert_eq!(absolute(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
    }

    #[test]
    fn expands_dirs_and_globs() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("x/y")).unwrap();
        for f in ["a.log", "x/b.log", "x/y/c.log"] {
            std::fs::write(d.path().join(f), "l\n").unwrap();
        }
        let root = d.path().to_str().unwrap().to_string();
        assert_eq!(
            expand_inputs(std::slice::from_ref(&root), false)
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            expand_inputs(std::slice::from_ref(&root), true)
                .unwrap()
                .len(),
            3
        );
        let g = format!("{root}/**/*.log");
        assert_eq!(expand_inputs(&[g], false).unwrap().len(), 3);
        let none = format!("{root}/*.nope");
        assert!(expand_inputs(&[none], false).is_err());
    }

    #[test]
    fn rotated_names() {
        for (name, rotated) in [
            ("/l/access.log", false),
            ("/l/access.log.1", true),
            ("/l/access.log.12.gz", true),
            ("/l/access.log-20241201", true),
            ("/l/access.log-20241201.zst", true),
            ("/l/access-20241201.log", false),
            ("/l/app.log.gz", false),
            ("/l/messages", false),
            ("/l/x.", false),
        ] {
            assert_eq!(looks_rotated(Path::new(name)), rotated, "{name}");
        }
    }

    #[test]
    fn families() {
        let o = Path::new("/l/access.log");
        for c in [
            "/l/access.log",
            "/l/access.log.1",
            "/l/access.log.2.gz",
            "/l/access.log-20241201.zst",
            "/l/access-20241201.log",
        ] {
            assert!(same_family(o, Path::new(c)), "{c}");
        }
        for c in ["/m/access.log.1", "/l/error.log.1", "/l/acces.log"] {
            assert!(!same_family(o, Path::new(c)), "{c}");
        }
        assert!(same_family(
            Path::new("/l/messages"),
            Path::new("/l/messages-20241201")
        ));
        assert!(same_family(
            Path::new("/l/.hidden.log"),
            Path::new("/l/.hidden.log.1")
        ));
    }

    #[test]
    fn skip_keeps_the_tail() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let s = skip_to(&mut &data[..], 150_000, 1024).unwrap();
        assert_eq!(s.skipped, 150_000);
        assert_eq!(s.tail, &data[150_000 - 1024..150_000]);
        let s = skip_to(&mut &data[..], 300_000, 10).unwrap();
        assert_eq!(s.skipped, 200_000);
        assert_eq!(s.tail, &data[200_000 - 10..]);
    }
}
