//! `lokal ingest`: read log inputs, find timestamps, label streams, validate
//! with Loki's distributor rules, and store them as compressed chunks.
//!
//! Work goes in batches of about `batch_bytes` of input. Each batch is parsed
//! in parallel, cut into blocks, compressed in parallel, written as one
//! segment per UTC day and committed together with the input positions it
//! covers, so a crash at any moment loses or doubles nothing: a re-run starts
//! from the last committed position.

mod batch;
mod clock;
mod dryrun;
mod end;
mod follow;
pub mod format;
pub mod hook;
mod labels;
pub mod push;
mod reader;
pub mod report;
pub mod source;
mod tail_loop;
pub mod timestamp;
mod writer;

use std::time::Duration;

use regex::Regex;

pub use batch::ingest;
pub use dryrun::{dry_run, DryRun, DryRunEntry, DryRunInput, TimeSource};
pub use end::RunEnd;
pub use format::InputFormat;
pub use report::{FileTimestamps, IngestReport};
pub use tail_loop::{follow, FollowObserver, FollowOptions, FollowStatus};
pub(crate) use writer::{
    run_fingerprint, BlockParams, OwnedRun, Packer, RunEntries, SMALL_STREAM_BYTES,
};
#[cfg(test)]
pub(crate) use writer::{write_segments, StreamEntries};

use crate::model::Limits;
use crate::store::StoreError;
use timestamp::TimestampConfig;

/// Everything `lokal ingest` can be told.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Paths, globs, directories, or `-` for stdin.
    pub inputs: Vec<String>,
    /// Walk directories recursively.
    pub recursive: bool,
    /// Input format.
    pub format: InputFormat,
    /// Static labels (`--label k=v`), applied to every stream.
    pub labels: Vec<(String, String)>,
    /// Add a `filename` label with the file's absolute path, as promtail does.
    pub filename_label: bool,
    /// `--label-from-path`: named groups matched on the absolute path become labels.
    pub label_from_path: Option<Regex>,
    /// Timestamp detection.
    pub timestamps: TimestampConfig,
    /// `--multiline-start`: a line matching this starts a new entry; other
    /// lines are appended to the current one.
    pub multiline_start: Option<Regex>,
    /// At most this many lines per multiline entry (promtail's `max_lines`).
    pub multiline_max_lines: usize,
    /// Loki's distributor limits.
    pub limits: Limits,
    /// Truncate lines over the size limit instead of rejecting them.
    pub truncate_long_lines: bool,
    /// Drop exact `(timestamp, line)` repeats within a stream, as Loki does.
    pub dedupe: bool,
    /// Ignore stored positions and read every input from its start.
    pub from_start: bool,
    /// Ingest files that look binary (a NUL byte in their first 8 KiB).
    pub binary: bool,
    /// Memory one batch may take: its input bytes plus a fixed cost per
    /// line (the parsed entry and its place in its stream) and per distinct
    /// stream (its label set), streams counted as the batch is read (those a
    /// pipeline makes: charged per line from the previous batch's share).
    /// Each batch is committed on its own; peak memory stays under about
    /// twice this (2.2 times when nearly every line is a stream of its own).
    pub batch_bytes: usize,
    /// zstd level for blocks.
    pub zstd_level: i32,
    /// How long to wait for another writer.
    pub lock_timeout: Option<Duration>,
    /// Do not keep the day label indexes current (`--no-index`); queries then
    /// read the new segments' footers until `lokal index` runs.
    pub no_index: bool,
    /// A run of `ingest --follow`: a glob matching nothing and a file that
    /// does not exist are not failures (the file is not created yet, or was
    /// rotated away and is not created again yet).
    pub follow: bool,
    /// An unterminated last line of a file not modified for this long is
    /// taken as it is instead of being held back for its newline (`None`:
    /// held until the newline comes or the file is rotated away).
    pub partial_line_timeout: Option<Duration>,
    /// Set (by a signal) to end the run after its next commit, leaving the
    /// rest of the inputs for the next run (`--follow`'s stop).
    pub stop: Option<&'static std::sync::atomic::AtomicBool>,
    /// A per-entry pipeline (`--config`'s `pipeline_stages`): it picks each
    /// file's labels, and may rewrite, relabel, re-time, join or drop entries.
    pub hook: Option<std::sync::Arc<dyn hook::EntryHook>>,
    /// What the run does last with the days it wrote to, before their last
    /// index build (`--compact=auto`: the compactor's merge of days left in
    /// many segments); `None` leaves them as the batches wrote them.
    pub run_end: Option<std::sync::Arc<dyn RunEnd>>,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            inputs: Vec::new(),
            recursive: false,
            format: InputFormat::Auto,
            labels: Vec::new(),
            filename_label: true,
            label_from_path: None,
            timestamps: TimestampConfig::default(),
            multiline_start: None,
            multiline_max_lines: 128,
            limits: Limits::default(),
            truncate_long_lines: false,
            dedupe: false,
            from_start: false,
            binary: false,
            batch_bytes: 128 << 20,
            zstd_level: 3,
            lock_timeout: None,
            no_index: false,
            follow: false,
            partial_line_timeout: None,
            stop: None,
            hook: None,
            run_end: None,
        }
    }
}

/// An entry with its own bytes: `(ts, line, structured metadata)`.
pub type OwnedEntry = (i64, Vec<u8>, Vec<(String, String)>);

/// A stream's labels and its entries.
pub type OwnedStream = (crate::model::Labels, Vec<OwnedEntry>);

/// Writes ready-made streams into `tenant` of `store` in one commit (used by
/// `lokal test` and by tests). Entries need not be sorted.
pub fn write_streams(
    store: &crate::store::Store,
    tenant: &str,
    streams: Vec<OwnedStream>,
) -> Result<IngestReport, IngestError> {
    write_streams_with(store, tenant, streams, &IngestOptions::default(), &[])
}

/// [`write_streams`] with `opts`' dedupe, zstd level and lock timeout, and
/// the label indexes of `rebuild_days` rebuilt in the same commit (the
/// push writer's upkeep).
pub(crate) fn write_streams_with(
    store: &crate::store::Store,
    tenant: &str,
    streams: Vec<OwnedStream>,
    opts: &IngestOptions,
    rebuild_days: &[String],
) -> Result<IngestReport, IngestError> {
    let tenant = store.tenant(tenant)?;
    let lock = store.lock_writer(opts.lock_timeout, || {})?;
    let mut tx = tenant.begin_write(&lock)?;
    let mut report = IngestReport::default();
    // Label sets equal once empty values are dropped are one stream.
    let mut merged: std::collections::BTreeMap<
        crate::model::Labels,
        Vec<writer::StoredEntry<'static>>,
    > = std::collections::BTreeMap::new();
    for (labels, entries) in streams {
        merged
            .entry(labels.without_empty())
            .or_default()
            .extend(entries.into_iter().map(|(t, l, m)| {
                (
                    t,
                    std::borrow::Cow::Owned(l),
                    (!m.is_empty()).then(|| m.into_boxed_slice()),
                )
            }));
    }
    let groups = merged
        .into_iter()
        .map(|(labels, entries)| writer::StreamEntries {
            labels,
            entries,
            valid: true,
        })
        .collect();
    writer::write_batch(&mut tx, groups, opts, &mut report)?;
    if !rebuild_days.is_empty() {
        let built = crate::store::rebuild_days_lenient(&mut tx, rebuild_days, &mut |_| {})?;
        report.index_builds += built.len() as u64;
    }
    tx.commit()?;
    Ok(report)
}

/// Receives progress and warnings while ingest runs.
pub trait IngestObserver: Sync {
    /// The total input bytes expected (0 when unknown, e.g. stdin).
    fn total_bytes(&self, _total: u64) {}
    /// `n` more input bytes were committed.
    fn advance(&self, _n: u64) {}
    /// A message for the user (a rejected line, a skipped file…).
    fn warn(&self, _msg: &str) {}
}

/// An observer that ignores everything.
pub struct Silent;
impl IngestObserver for Silent {}

/// Ingest errors that stop the whole run. Per-file and per-line problems
/// are counted in the [`IngestReport`] instead.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// An input argument cannot be used.
    #[error("{input}: {message}")]
    Input {
        /// The argument.
        input: String,
        /// What is wrong.
        message: String,
    },
    /// Bad option.
    #[error("{0}")]
    Config(String),
    /// The store failed; batches committed before stay intact.
    #[error(transparent)]
    Store(#[from] StoreError),
}
