//! What an ingest run did, counted: every line read is either stored,
//! joined into a multiline entry, or rejected with a reason.

use std::collections::BTreeMap;

/// Reasons a line was not stored.
pub mod reject {
    /// Over `max_line_size`.
    pub const LINE_TOO_LONG: &str = "line too long";
    /// The stream's labels break Loki's rules.
    pub const INVALID_LABELS: &str = "invalid labels";
    /// A structured input entry that cannot be parsed.
    pub const UNPARSABLE: &str = "unparsable entry";
    /// `--dedupe` dropped an exact repeat.
    pub const DUPLICATE: &str = "duplicate (--dedupe)";
}

/// Ways a stored entry differs from its input line.
pub mod change {
    /// Cut to `max_line_size`.
    pub const TRUNCATED: &str = "truncated to max line size";
    /// Had no timestamp; took the previous entry's.
    pub const TS_INHERITED: &str = "no timestamp: took previous entry's";
    /// Before the file's first timestamp; took that one.
    pub const TS_FROM_NEXT: &str = "no timestamp: took file's first";
    /// The file holds no timestamp at all; took its mtime (stdin: now).
    pub const TS_FROM_MTIME: &str = "no timestamp in input: took mtime/now";
}

/// Counts for one ingest run.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct IngestReport {
    /// Inputs read (in part or whole).
    pub files: u64,
    /// Inputs with nothing new since the last run.
    pub files_unchanged: u64,
    /// Inputs that could not be read or were skipped; see `errors`.
    pub files_failed: u64,
    /// Files read on from their position under a new name (rotated): found
    /// by inode or as a compressed or copied rotation of a file read before.
    pub files_rotated: u64,
    /// Lines read.
    pub lines_read: u64,
    /// Lines appended to a previous line's entry (`--multiline-start`).
    pub lines_joined: u64,
    /// Entries stored.
    pub entries_stored: u64,
    /// Distinct streams written to.
    pub streams: u64,
    /// Input bytes read (decompressed).
    pub bytes_read: u64,
    /// Sum of stored line lengths.
    pub bytes_lines: u64,
    /// Bytes of segment files written.
    pub bytes_stored: u64,
    /// Segments written.
    pub segments: u64,
    /// Batches committed.
    pub commits: u64,
    /// Day label indexes (re)built.
    pub index_builds: u64,
    /// Wall time spent rebuilding label indexes, ms.
    pub index_ms: u64,
    /// Days merged at the end of the run (`--compact=auto`), each from the
    /// many segments its batches wrote into as few as a compaction writes.
    pub days_merged: u64,
    /// Wall time of that merge, ms.
    pub merge_ms: u64,
    /// Oldest stored entry, ns.
    pub min_t: Option<i64>,
    /// Newest stored entry, ns.
    pub max_t: Option<i64>,
    /// Lines not stored, by reason.
    pub rejected: BTreeMap<&'static str, u64>,
    /// Entries stored with a change, by reason.
    pub changed: BTreeMap<&'static str, u64>,
    /// Entries a `--config` pipeline dropped, by its `drop_counter_reason`
    /// (wanted, so not rejections).
    pub dropped: BTreeMap<String, u64>,
    /// File-level problems, one message each.
    pub errors: Vec<String>,
    /// Per file read: how its timestamps were found, and every fallback.
    pub timestamps: Vec<FileTimestamps>,
}

/// How one input's timestamps were found, and each fallback taken, with
/// counts: what the summary lists per file and `-o json` carries.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct FileTimestamps {
    /// The input (`-` for stdin).
    pub file: String,
    /// Where the timestamps were found (`ISO 8601 at the line start`), or
    /// the flag that said where.
    pub format: String,
    /// Entries made from the input.
    pub entries: u64,
    /// Entries whose own line gave their time.
    pub found: u64,
    /// Entries that took the previous entry's time: lines without a
    /// timestamp (continuations, other programs' lines) and refused ones.
    pub previous_line: u64,
    /// Entries before the input's first timestamp, which took that one.
    pub first_found: u64,
    /// Entries of an input without any timestamp, which took its
    /// modification time (stdin: the time of reading).
    pub mtime: u64,
    /// Timestamps found but not taken: before 1990, or more than a day
    /// after the file's modification time (counted in `previous_line` too).
    pub implausible: u64,
    /// Timestamps with a zone abbreviation lokal does not apply (not in its
    /// table, or ambiguous): read in `--timezone`.
    pub unknown_zone: u64,
    /// Timestamps taken that lie more than [`FAR_FROM_PREVIOUS_DAYS`] days
    /// from the previous entry's: kept, but worth a look.
    pub far_from_previous: u64,
    /// The first few of these, as `file:line: what`.
    pub notes: Vec<String>,
}

/// The gap to the previous entry's time past which a timestamp is counted
/// in [`FileTimestamps::far_from_previous`].
pub const FAR_FROM_PREVIOUS_DAYS: i64 = 30;

/// Notes kept per file.
pub(crate) const MAX_NOTES: usize = 3;

impl FileTimestamps {
    /// Whether any entry took another time than its own line's, or a
    /// timestamp was refused, flagged or read in a guessed zone.
    pub fn has_fallback(&self) -> bool {
        self.previous_line
            + self.first_found
            + self.mtime
            + self.implausible
            + self.unknown_zone
            + self.far_from_previous
            > 0
    }

    pub(crate) fn note(&mut self, msg: impl FnOnce() -> String) {
        if self.notes.len() < MAX_NOTES {
            self.notes.push(msg());
        }
    }
}

impl IngestReport {
    /// Lines not stored.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    /// True when lines were read and none was stored because every one was
    /// rejected (too long, invalid labels, unparsable). Repeats dropped by
    /// `--dedupe` are not failures: a run that only finds what is already
    /// stored is fine.
    pub fn all_rejected(&self) -> bool {
        let failed: u64 = self
            .rejected
            .iter()
            .filter(|(k, _)| **k != reject::DUPLICATE)
            .map(|(_, v)| v)
            .sum();
        self.lines_read > 0 && self.entries_stored == 0 && failed > 0
    }

    pub(crate) fn reject(&mut self, reason: &'static str, n: u64) {
        if n > 0 {
            *self.rejected.entry(reason).or_default() += n;
        }
    }

    pub(crate) fn change(&mut self, reason: &'static str, n: u64) {
        if n > 0 {
            *self.changed.entry(reason).or_default() += n;
        }
    }

    pub(crate) fn merge_counts(&mut self, c: &Counts) {
        for (k, v) in &c.rejected {
            self.reject(k, *v);
        }
        for (k, v) in &c.changed {
            self.change(k, *v);
        }
        self.lines_read += c.lines;
        self.lines_joined += c.joined;
    }

    pub(crate) fn see_time(&mut self, min_t: i64, max_t: i64) {
        self.min_t = Some(self.min_t.map_or(min_t, |m| m.min(min_t)));
        self.max_t = Some(self.max_t.map_or(max_t, |m| m.max(max_t)));
    }
}

/// Per-task counters, merged into the report.
#[derive(Debug, Default, Clone)]
pub(crate) struct Counts {
    pub lines: u64,
    pub joined: u64,
    pub rejected: BTreeMap<&'static str, u64>,
    pub changed: BTreeMap<&'static str, u64>,
    /// First few messages, for the user.
    pub messages: Vec<String>,
    /// Timestamps refused (outside the plausible window).
    pub ts_implausible: u64,
    /// Timestamps read with an unknown zone abbreviation.
    pub ts_unknown_zone: u64,
    /// The first few of those, as `file:line: what`.
    pub ts_notes: Vec<String>,
}

/// Messages kept per task; the rest are only counted.
pub(crate) const MAX_MESSAGES: usize = 5;

impl Counts {
    pub fn reject(&mut self, reason: &'static str, msg: impl FnOnce() -> String) {
        *self.rejected.entry(reason).or_default() += 1;
        if self.messages.len() < MAX_MESSAGES {
            self.messages.push(msg());
        }
    }

    pub fn change(&mut self, reason: &'static str, n: u64) {
        if n > 0 {
            *self.changed.entry(reason).or_default() += n;
        }
    }

    /// Counts one line's timestamp problems (a refused date, an unknown
    /// zone); `what` names the line and says what happened.
    pub fn timestamp_issue(
        &mut self,
        e: &super::timestamp::Extraction,
        what: impl FnOnce() -> String,
    ) {
        if e.rejected.is_none() && !e.zone_unknown {
            return;
        }
        if e.rejected.is_some() {
            self.ts_implausible += 1;
        } else {
            self.ts_unknown_zone += 1;
        }
        if self.ts_notes.len() < MAX_NOTES {
            let msg = what();
            if self.messages.len() < MAX_MESSAGES {
                self.messages.push(msg.clone());
            }
            self.ts_notes.push(msg);
        }
    }
}
