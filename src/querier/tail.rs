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
//! A compaction that starts and finishes between two looks is told by its
//! output's `compacted` mark in the manifest: those segments are not read,
//! and what was ingested meanwhile, into the same day or another, is. Only
//! an entry both committed and compacted between two looks (within one
//! [`Tail::POLL`]) is not shown (it is stored: a query finds it); the tail
//! says so on its notes.

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
    /// The ids of the live segments of the last look.
    live: std::collections::HashSet<u64>,
    /// What the caller should tell the user (compactions seen).
    notes: Vec<String>,
    /// `--delay-for`: entries are held this long, then printed sorted by
    /// time with those that came meanwhile.
    delay: Duration,
    held: Vec<(Instant, LogEntry)>,
}

impl Tail {
    /// How often the manifest is looked at.
    pub const POLL: Duration = Duration::from_millis(100);

    /// Starts tailing `expr` in `tenant` of `store`: returns the tail and
    /// the last `limit` entries (0: all) of `range`, oldest first, as Loki's
    /// tailer sends them before live entries. A store that does not exist
    /// yet is waited for.
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
            live: Default::default(),
            notes: Vec::new(),
            delay,
            held: Vec::new(),
        };
        tail.stamp = tail.manifest_stamp();
        // A tail may start before anything was stored: it waits for the
        // first commit.
        if let Err(crate::store::StoreError::NoStore { .. }) = store.ensure_exists() {
            return Ok((tail, Vec::new()));
        }
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
        self.live = m.segments.iter().map(|s| s.id).collect();
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
        // Segments seen last time and gone now: compacted (or expired)
        // since, between two looks.
        let before = std::mem::take(&mut self.live);
        self.look_at(&q);
        let gone = before.iter().any(|id| !self.live.contains(id));
        let mut view = q.snapshot.clone();
        // A compaction's output rewrites entries of the segments it
        // replaced: below the watermark when a look saw its reservation,
        // marked `compacted` in any case. What was ingested meanwhile, into
        // any day, is read.
        let mut skipped: std::collections::BTreeSet<String> = Default::default();
        view.manifest.segments.retain(|s| {
            if s.id < watermark {
                return false;
            }
            if s.compacted {
                skipped.insert(s.day.clone());
                return false;
            }
            true
        });
        if gone {
            for day in skipped {
                self.notes.push(format!(
                    "{day} was compacted between two looks: its rewritten entries are not shown again \
                     (an entry committed and compacted within those {} ms is stored but not shown)",
                    Self::POLL.as_millis()
                ));
            }
        }
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

    /// What the tail noticed that the user should know, once each.
    pub fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    /// With a delay: once the first held entry has waited it, everything
    /// held (all that arrived within the delay) sorted by time (stable:
    /// the engine's order among equal times is kept).
    fn release(&mut self, now: Instant) -> Vec<LogEntry> {
        match self.held.first() {
            Some((at, _)) if now.saturating_duration_since(*at) >= self.delay => self.flush(),
            _ => Vec::new(),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::write_streams;
    use crate::model::Labels;

    fn commit(store: &Store, lines: &[(i64, &str)]) {
        let labels = Labels::from_pairs([("job", "t")]);
        let entries = lines
            .iter()
            .map(|&(t, l)| (t, l.as_bytes().to_vec(), Vec::new()))
            .collect();
        write_streams(store, "fake", vec![(labels, entries)]).unwrap();
    }

    fn lines(v: &[LogEntry]) -> Vec<String> {
        v.iter()
            .map(|e| String::from_utf8(e.line.clone()).unwrap())
            .collect()
    }

    fn expr(q: &str) -> LogExpr {
        match crate::logql::parse_expr(q).unwrap() {
            crate::logql::Expr::Log(l) => l,
            _ => unreachable!(),
        }
    }

    #[test]
    fn starts_with_the_last_entries_then_shows_each_commit_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("s"));
        commit(&store, &[(1, "a"), (2, "b"), (3, "c drop")]);
        let (mut t, first) = Tail::start(
            &store,
            "fake",
            expr(r#"{job="t"} != "drop""#),
            TimeRange::ALL,
            2,
            false,
            Duration::ZERO,
        )
        .unwrap();
        assert_eq!(lines(&first), ["a", "b"]);
        assert!(t.poll().unwrap().is_empty(), "nothing committed yet");
        // A later commit with older entries: shown, and only it.
        commit(&store, &[(0, "z"), (10, "y")]);
        assert_eq!(lines(&t.poll().unwrap()), ["z", "y"]);
        assert!(t.poll().unwrap().is_empty());
        commit(&store, &[(11, "x")]);
        assert_eq!(lines(&t.poll().unwrap()), ["x"]);
    }

    #[test]
    fn a_delay_sorts_what_arrives_within_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("s"));
        let (mut t, first) = Tail::start(
            &store,
            "fake",
            expr(r#"{job="t"}"#),
            TimeRange::ALL,
            10,
            false,
            Duration::from_secs(3600),
        )
        .unwrap();
        assert!(first.is_empty(), "no store yet: nothing, and no error");
        commit(&store, &[(20, "late")]);
        assert!(t.poll().unwrap().is_empty(), "held");
        commit(&store, &[(10, "early")]);
        assert!(t.poll().unwrap().is_empty(), "held");
        assert_eq!(lines(&t.flush()), ["early", "late"]);
    }

    #[test]
    fn a_compaction_between_two_looks_hides_its_rewrite_not_what_came_after() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("s"));
        commit(&store, &[(1, "a")]);
        commit(&store, &[(2, "b")]);
        let (mut t, first) = Tail::start(
            &store,
            "fake",
            expr(r#"{job="t"}"#),
            TimeRange::ALL,
            10,
            false,
            Duration::ZERO,
        )
        .unwrap();
        assert_eq!(lines(&first), ["a", "b"]);
        // Both commits of the compaction and an ingest into the same day
        // happen before the next look.
        let r = crate::compact::compact(
            &store,
            "fake",
            &crate::compact::CompactOptions::default(),
            &crate::compact::Silent,
        )
        .unwrap();
        assert!(
            r.days
                .iter()
                .any(|d| matches!(d.action, crate::compact::DayAction::Compacted)),
            "{r:?}"
        );
        commit(&store, &[(3, "c")]);
        assert_eq!(lines(&t.poll().unwrap()), ["c"]);
        assert!(t.poll().unwrap().is_empty());
    }
}
