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
            if files.is_empty() {
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

/// What identifies a file across runs: device, inode, size, and a hash of
/// its first bytes (so a file replaced in place is noticed).
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

/// Reads the identity of an open file.
pub fn identity(file: &File) -> io::Result<FileIdentity> {
    let md = file.metadata()?;
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
    Ok(FileIdentity {
        dev,
        ino,
        size: md.len(),
        mtime_ns,
    })
}

/// Bytes hashed to recognise a file's start.
pub const HEAD_LEN: u64 = 1024;

/// xxh3 of the first `len` bytes of the file at `path` (None if shorter).
pub fn head_hash(path: &Path, len: u64) -> io::Result<Option<u64>> {
    let mut f = File::open(path)?;
    let mut buf = vec![0u8; len as usize];
    let mut got = 0;
    while got < buf.len() {
        match f.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    if got < buf.len() {
        return Ok(None);
    }
    Ok(Some(xxhash_rust::xxh3::xxh3_64(&buf)))
}

/// Opens a file as a stream of (decompressed) bytes.
pub fn open_reader(file: File, compression: Compression) -> io::Result<Box<dyn Read + Send>> {
    let buffered = io::BufReader::with_capacity(1 << 20, file);
    Ok(match compression {
        Compression::None => Box::new(buffered),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(buffered)?),
    })
}

/// Skips exactly `n` bytes of `r`; fewer available is an error.
pub fn skip_bytes(r: &mut dyn Read, n: u64) -> io::Result<()> {
    let copied = io::copy(&mut r.take(n), &mut io::sink())?;
    if copied < n {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "input is shorter than the stored position",
        ));
    }
    Ok(())
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
}
