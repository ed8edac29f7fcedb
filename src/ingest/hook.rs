//! The per-entry hook of an ingest run: a pipeline that rewrites, relabels,
//! re-times, joins or drops entries after they are read and timed and before
//! they are grouped into streams (promtail's `pipeline_stages`, which
//! `lokal ingest --config` builds in `crate::promtail`).
//!
//! Ingest knows only these traits, so the writer side stays below the modules
//! that build pipelines. The hook decides which files a run reads and their
//! first labels ([`EntryHook::open`]); each file then gets its own
//! [`EntryProcessor`], fed that file's entries in input order, batch after
//! batch, and flushed at the end of every batch so that what it holds back
//! (a multiline entry being joined) is stored with the positions that cover
//! it: a commit never moves past a line whose entry is still held.

use std::collections::BTreeMap;

use crate::model::Labels;

/// Serializes labels in Loki's printed form.
fn labels_text<S: serde::Serializer>(l: &Labels, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&l.to_string())
}

/// One entry as a pipeline sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HookEntry {
    /// Its stream labels.
    #[serde(serialize_with = "labels_text")]
    pub labels: Labels,
    /// Its timestamp, ns since the epoch.
    pub ts: i64,
    /// The line (invalid UTF-8 replaced by U+FFFD: stages work on text).
    pub line: String,
    /// Structured metadata.
    pub metadata: Vec<(String, String)>,
}

/// What a pipeline did besides passing entries on, counted per run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HookCounts {
    /// Entries dropped, by reason (promtail's `drop_counter_reason`).
    pub dropped: BTreeMap<String, u64>,
    /// Lines joined into a previous line's entry (`multiline`, `cri` partials).
    pub joined: u64,
}

impl HookCounts {
    /// Counts one entry dropped for `reason`.
    pub fn drop(&mut self, reason: &str) {
        *self.dropped.entry(reason.to_string()).or_default() += 1;
    }

    /// Adds `other`'s counts.
    pub fn add(&mut self, other: &HookCounts) {
        for (k, v) in &other.dropped {
            *self.dropped.entry(k.clone()).or_default() += v;
        }
        self.joined += other.joined;
    }
}

/// What one stage made of an entry, for `ingest --dry-run`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TraceStep {
    /// The stage's name.
    pub stage: String,
    /// The entry after it; `None` when the stage dropped it or holds it.
    pub entry: Option<HookEntry>,
    /// What happened, when it is not a plain change (`dropped: reason`,
    /// `held`, `selector did not match`).
    pub note: Option<String>,
    /// The pipeline's extracted data after the stage, `name=value`.
    pub extracted: Vec<(String, String)>,
}

/// The state of one file's pipeline.
pub trait EntryProcessor: Send {
    /// Runs `entry` through the pipeline; what comes out (none, one, or
    /// several held back before) is appended to `out`.
    fn process(&mut self, entry: HookEntry, out: &mut Vec<HookEntry>, counts: &mut HookCounts);
    /// [`EntryProcessor::process`], also telling what each stage did.
    fn trace(
        &mut self,
        entry: HookEntry,
        out: &mut Vec<HookEntry>,
        counts: &mut HookCounts,
    ) -> Vec<TraceStep> {
        self.process(entry, out, counts);
        Vec::new()
    }
    /// Hands out everything held back (end of a batch or of the input).
    fn flush(&mut self, out: &mut Vec<HookEntry>, counts: &mut HookCounts);
}

/// Where a file's entries go: its first labels and its pipeline.
pub struct HookTarget {
    /// The labels its entries start with (they replace `--label`,
    /// `filename` and `--label-from-path`).
    pub labels: Labels,
    /// Its pipeline state; `None` when it has no stages (only the labels
    /// apply, and entries go on untouched).
    pub processor: Option<Box<dyn EntryProcessor>>,
}

/// A pipeline for a whole run.
pub trait EntryHook: Send + Sync + std::fmt::Debug {
    /// Whether the hook reads the file at `name` (its absolute path); the
    /// others an input glob found are left out of the run.
    fn reads(&self, name: &str) -> bool;
    /// The target of the file read under `name` (its absolute path), or
    /// `None` when the hook does not read it (excluded by its config).
    fn open(&self, name: &str) -> Option<HookTarget>;
}
