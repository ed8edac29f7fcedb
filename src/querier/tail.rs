//! `lokal query --tail`: the entries of a log query as other processes
//! commit them (`ingest`, `ingest --follow`, `serve`'s push), as logcli's
//! `--tail` shows what Loki's ingesters receive.
//!
//! A tail starts as Loki's tailer does: the last `limit` entries from the
//! start of the range up to now, oldest first. Then it watches the tenant's
//! `MANIFEST`: every commit replaces it by a rename, so a `stat` every
//! [`Tail::POLL`] (inode, size, mtime) tells whether anything was committed
//! without reading it. When it changed, the manifest is read and only the
//! segments no earlier look covered are queried, through a view holding just
//! those segments (their footers are read; no index, no other segment).
//!
//! Which segments are new: ids only grow, so a look remembers the
//! manifest's `next_segment_id` (its *watermark*) and the next look reads
//! the live segments at or above it. A compaction writes its output under
//! ids it reserved (and committed) when it started, below the watermark of
//! any look after that start: its rewritten entries are not shown again.
//! (A compaction that starts and finishes between two looks, within
//! [`Tail::POLL`], cannot be told from new data; its entries would repeat.)

use std::time::{Duration, Instant};

use crate::engine::logquery::{LogEntry, LogParams};
use crate::engine::Direction;
use crate::logql::LogExpr;
use crate::store::{Store, MANIFEST_FILE};
use crate::time::TimeRange;

use super::{Error, Querier};

/// A log query followed as data is committed.
pub struct Tail {
    store: Store,
    tenant: String,
    expr: LogExpr,
    allow_partial: bool,
    /// `(inode, size, mtime ns)` of the manifest at the last look.
    stamp: Option<(u64, u64, i128)>,
    generation: u64,
    /// Segments with ids below it were read (or rewrite what was).
    watermark: u64,
    /// `--delay-for`: entries are held this long, then printed sorted by
    /// time with those that came meanwhile.
    delay: Duration,
    held: Vec<(Instant, LogEntry)>,
}

impl Tail {
    /// How often the manifest is looked at.
    pub const POLL: Duration = Duration::from_millis(100);

    /// Starts tailing `expr` in `tenant` of `store`: returns the tail and
    /// the last `limit` entries (0: all) of `range` (its end is now), oldest
    /// first, as Loki's tailer sends them before live entries.
    pub fn start(
        store: &Store,
        tenant: &str,
        expr: LogExpr,
        range: TimeRange,
        limit: usize,
        allow_partial: bool,
        delay: Duration,
    ) -> Result<(Tail, Vec<LogEntry>), Error> {
        let mut tail = Tail {
            store: store.clone(),
            tenant: tenant.to_string(),
            expr,
            allow_partial,
            stamp: None,
            generation: 0,
            watermark: 0,
            delay,
            held: Vec::new(),
        };
        tail.stamp = tail.manifest_stamp();
        let q = Querier::open(store, tenant)?.allow_partial(allow_partial);
        tail.look_at(&q);
        let res = q.log_query(
            &tail.expr,
            &LogParams {
                range,
                limit,
                direction: Direction::Backward,
            },
        )?;
        let mut entries = res.entries;
        entries.reverse();
        Ok((tail, entries))
    }

    /// Remembers the view's manifest as seen.
    fn look_at(&mut self, q: &Querier) {
        let m = &q.snapshot.manifest;
        self.generation = m.generation;
        let live_max = m.segments.iter().map(|s| s.id + 1).max().unwrap_or(0);
        self.watermark = self.watermark.max(m.next_segment_id).max(live_max);
    }

    fn manifest_stamp(&self) -> Option<(u64, u64, i128)> {
        let dir = self.store.tenant(&self.tenant).ok()?;
        let md = std::fs::metadata(dir.dir().join(MANIFEST_FILE)).ok()?;
        #[cfg(unix)]
        let ino = std::os::unix::fs::MetadataExt::ino(&md);
        #[cfg(not(unix))]
        let ino = 0;
        let mtime = md
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as i128);
        Some((ino, md.len(), mtime))
    }

    /// Looks for new commits: returns the entries now due, oldest first
    /// (none when nothing was committed, or while `--delay-for` holds them).
    pub fn poll(&mut self) -> Result<Vec<LogEntry>, Error> {
        let stamp = self.manifest_stamp();
        if stamp.is_some() && stamp != self.stamp {
            self.stamp = stamp;
            let fresh = self.read_new()?;
            let now = Instant::now();
            self.held.extend(fresh.into_iter().map(|e| (now, e)));
        }
        Ok(self.release(Instant::now()))
    }

    /// The entries of the segments committed since the last look.
    fn read_new(&mut self) -> Result<Vec<LogEntry>, Error> {
        let q = Querier::open(&self.store, &self.tenant)?.allow_partial(self.allow_partial);
        if q.snapshot.manifest.generation == self.generation {
            return Ok(Vec::new());
        }
        let watermark = self.watermark;
        self.look_at(&q);
        let mut view = q.snapshot.clone();
        view.manifest.segments.retain(|s| s.id >= watermark);
        if view.manifest.segments.is_empty() {
            return Ok(Vec::new());
        }
        // The day indexes describe other segments too: the new ones are
        // read from their own footers.
        view.manifest.indexes.clear();
        let q = Querier::new(&self.tenant, view).allow_partial(self.allow_partial);
        let res = q.log_query(
            &self.expr,
            &LogParams {
                range: TimeRange::ALL,
                limit: 0,
                direction: Direction::Forward,
            },
        )?;
        Ok(res.entries)
    }

    /// Entries held at least the delay, sorted by time (stable: the
    /// engine's order among equal times is kept).
    fn release(&mut self, now: Instant) -> Vec<LogEntry> {
        if self.held.is_empty() {
            return Vec::new();
        }
        let delay = self.delay;
        let (due, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|(at, _)| now.saturating_duration_since(*at) >= delay);
        self.held = keep;
        let mut out: Vec<LogEntry> = due.into_iter().map(|(_, e)| e).collect();
        out.sort_by_key(|e| e.ts);
        out
    }

    /// Entries still held by the delay (printed at the end by a caller that
    /// stops).
    pub fn flush(&mut self) -> Vec<LogEntry> {
        let mut out: Vec<LogEntry> = std::mem::take(&mut self.held)
            .into_iter()
            .map(|(_, e)| e)
            .collect();
        out.sort_by_key(|e| e.ts);
        out
    }
}
