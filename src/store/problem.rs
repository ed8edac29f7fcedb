//! What a read could not read, as data: the file, the offset of the
//! damaged block (when it is one block), and the message. Queries return
//! these instead of printing them, so each front end decides: the CLI exits
//! 3 unless `--allow-partial`, a server would answer with an error.

use std::path::PathBuf;

use crate::chunk::segment::SegmentError;

/// One part of the store a read had to skip.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReadProblem {
    /// The file.
    pub path: PathBuf,
    /// Byte offset of the damaged block; `None` when the whole file could
    /// not be used.
    pub offset: Option<u64>,
    /// What went wrong, naming the file (and offset).
    pub message: String,
}

impl std::fmt::Display for ReadProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<&SegmentError> for ReadProblem {
    fn from(e: &SegmentError) -> Self {
        let (path, offset) = match e {
            SegmentError::Io { path, .. }
            | SegmentError::Corrupt { path, .. }
            | SegmentError::Version { path, .. } => (path, None),
            SegmentError::CorruptBlock { path, offset, .. } => (path, Some(*offset)),
        };
        let message = match e {
            SegmentError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                format!(
                    "{}: segment file missing (removed since the query began, or lost); re-run the query, or run `lokal check`",
                    path.display()
                )
            }
            _ => e.to_string(),
        };
        ReadProblem {
            path: path.clone(),
            offset,
            message,
        }
    }
}
