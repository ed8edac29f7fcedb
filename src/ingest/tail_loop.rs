//! `lokal ingest --follow`: a long-running ingest that keeps up with files
//! as `tail -F` does.
//!
//! Each *cycle* is one ordinary ingest run ([`super::batch`]) over the
//! inputs as they are now: globs expanded again (new files are picked up),
//! every file matched to its committed position by inode and content
//! ([`super::follow`]: `create`, rename + recreate and `copytruncate`
//! rotations), read from there and committed with its positions in one
//! manifest transaction. So a follower killed at any moment and started
//! again stores every line exactly once, with no state of its own beyond
//! what the store holds, and the writer lock is held only while a cycle
//! runs: other ingests, `serve`'s pushes and `compact` go on between them.
//!
//! Between cycles the loop waits for a change without reading anything:
//! on Linux inotify watches the inputs' directories (through `libc`, which
//! lokal already links; the `notify` crate would add a dozen crates and a
//! thread for what one file descriptor and `poll(2)` do here), elsewhere or
//! when inotify is unavailable the inputs are stat'ed every
//! `poll_interval`. A change starts a cycle at most every `commit_interval`
//! (sooner once `commit_bytes` were appended), so a busy file costs one
//! commit per interval and an idle follower costs nothing but the wait.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::batch::{ingest_with, IndexUpkeep};
use super::follow::SETTLE;
use super::source::{self, FileIdentity, Input};
use super::{IngestError, IngestObserver, IngestOptions, IngestReport};
use crate::store::Store;

/// How `ingest --follow` paces itself.
#[derive(Debug, Clone)]
pub struct FollowOptions {
    /// Commit at most this often while files keep changing
    /// (`--commit-interval`; promtail's client sends every `batchwait`, 1s).
    pub commit_interval: Duration,
    /// Commit sooner once this many bytes were appended, and commit at most
    /// this many input bytes at once (`--commit-bytes`).
    pub commit_bytes: u64,
    /// How often the inputs are stat'ed when inotify is not used
    /// (`--poll-interval`; promtail's file watch polls every 250ms).
    pub poll_interval: Duration,
    /// An unterminated last line of a file unchanged this long is stored as
    /// it is (`--partial-line-timeout`).
    pub partial_line_timeout: Duration,
    /// Use inotify where the system has it (false: always poll).
    pub inotify: bool,
}

impl Default for FollowOptions {
    fn default() -> Self {
        FollowOptions {
            commit_interval: Duration::from_secs(1),
            commit_bytes: 4 << 20,
            poll_interval: Duration::from_millis(250),
            partial_line_timeout: Duration::from_secs(5),
            inotify: true,
        }
    }
}

/// What a follower has done so far, for a status line.
#[derive(Debug, Clone, Default)]
pub struct FollowStatus {
    /// Files matched by the inputs at the last look.
    pub files: usize,
    /// Cycles run (each one ingest run, committing what it read).
    pub cycles: u64,
    /// Manifest commits.
    pub commits: u64,
    /// Lines read.
    pub lines_read: u64,
    /// Entries stored.
    pub entries_stored: u64,
    /// Input bytes read.
    pub bytes_read: u64,
    /// Lines rejected (too long, bad labels…).
    pub rejected: u64,
    /// When the last commit happened.
    pub last_commit: Option<Instant>,
    /// `inotify` or `polling`.
    pub watching: &'static str,
}

/// Receives a follower's warnings (once each) and its status.
pub trait FollowObserver: IngestObserver {
    /// Called after every cycle and now and then while idle.
    fn status(&self, _s: &FollowStatus) {}
}

/// An observer that tells each distinct warning once: every cycle plans the
/// same inputs again, and a file that cannot be read would otherwise be
/// reported every time any other file changes.
struct Once<'a> {
    inner: &'a dyn FollowObserver,
    told: Mutex<HashSet<String>>,
}

impl IngestObserver for Once<'_> {
    fn warn(&self, msg: &str) {
        let mut told = self.told.lock().unwrap_or_else(|e| e.into_inner());
        // Bounded: past this many distinct messages, repeats are told again.
        if told.len() > 10_000 {
            told.clear();
        }
        if told.insert(msg.to_string()) {
            self.inner.warn(msg);
        }
    }
}

/// Follows the inputs of `groups` (each its own paths/globs, labels and
/// options: one `ingest` command line, or one scrape config) into `tenant`
/// of `store` until `stop` is set (SIGTERM, Ctrl-C), then reads and commits
/// what is there and returns the totals. Only store errors end it early;
/// per-file problems are warned about and the file is tried again when it
/// changes.
pub fn follow(
    store: &Store,
    tenant: &str,
    groups: &[IngestOptions],
    fo: &FollowOptions,
    stop: &'static AtomicBool,
    obs: &dyn FollowObserver,
) -> Result<IngestReport, IngestError> {
    if groups.is_empty() || groups.iter().any(|g| g.inputs.is_empty()) {
        return Err(IngestError::Config(
            "nothing to follow: give files, globs or directories".into(),
        ));
    }
    if groups.iter().flat_map(|g| &g.inputs).any(|i| i == "-") {
        return Err(IngestError::Config(
            "--follow reads files: standard input (-) is read to its end by a plain `lokal ingest -`"
                .into(),
        ));
    }
    let batch_bytes = usize::try_from(fo.commit_bytes.max(1 << 20)).unwrap_or(usize::MAX);
    let mut opts: Vec<IngestOptions> = groups
        .iter()
        .map(|g| IngestOptions {
            follow: true,
            partial_line_timeout: Some(fo.partial_line_timeout),
            batch_bytes: g.batch_bytes.min(batch_bytes),
            // A stop ends a long catch-up at its next commit.
            stop: Some(stop),
            // Each cycle would merge its day again: `lokal compact` (from
            // cron) merges a followed day instead.
            run_end: None,
            ..g.clone()
        })
        .collect();
    let mut upkeep: Vec<IndexUpkeep> = opts
        .iter()
        .map(|o| {
            let mut u = IndexUpkeep::new(o);
            u.finish = false;
            u
        })
        .collect();
    let once = Once {
        inner: obs,
        told: Mutex::new(HashSet::new()),
    };
    let mut watcher = Watcher::new(fo.inotify);
    let mut status = FollowStatus {
        watching: watcher.kind(),
        ..Default::default()
    };
    let mut total = IngestReport::default();

    let cycle = |opts: &mut [IngestOptions],
                 upkeep: &mut [IndexUpkeep],
                 status: &mut FollowStatus,
                 total: &mut IngestReport,
                 last: bool|
     -> Result<bool, IngestError> {
        let mut read = 0;
        for (o, u) in opts.iter_mut().zip(upkeep.iter_mut()) {
            u.finish = last;
            let r = ingest_with(store, tenant, o, &once, u)?;
            read += r.bytes_read;
            // --from-start applies to the first look only.
            o.from_start = false;
            status.commits += r.commits;
            status.lines_read += r.lines_read;
            status.entries_stored += r.entries_stored;
            status.bytes_read += r.bytes_read;
            status.rejected += r.rejected_total();
            if r.commits > 0 {
                status.last_commit = Some(Instant::now());
            }
            merge(total, r);
        }
        status.cycles += 1;
        obs.status(status);
        // True when the stop came while it ran and may have cut it short
        // (a run stops only after a full batch of `--commit-bytes`).
        Ok(stop.load(Ordering::SeqCst) && read >= fo.commit_bytes)
    };

    // Catch up with what is there, then wait for changes.
    let mut seen = Scan::take(&opts, &mut watcher, None);
    status.files = seen.files.len();
    let mut interrupted = cycle(&mut opts, &mut upkeep, &mut status, &mut total, false)?;
    let mut last_cycle = Instant::now();
    let mut last_change = Instant::now();
    // The idle rescan when inotify watches: it catches what inotify cannot
    // see (network file systems, a directory created after the start).
    let idle_rescan = if watcher.is_inotify() {
        Duration::from_secs(10).max(fo.poll_interval)
    } else {
        fo.poll_interval
    };
    // A change seen but not committed yet (the interval is not over).
    let mut pending = false;
    while !stop.load(Ordering::SeqCst) {
        let quiet = last_change.elapsed();
        let timeout = if pending {
            // Busy: come back when the interval is over (sooner only to
            // check the bytes), not at every write.
            fo.commit_interval
                .saturating_sub(last_cycle.elapsed())
                .min(Duration::from_millis(100))
        } else if seen.unterminated || seen.settling {
            // Wake when a held line or a settling copy becomes due.
            let mut t = idle_rescan;
            if seen.unterminated {
                t = t.min(fo.partial_line_timeout.saturating_sub(quiet));
            }
            if seen.settling {
                t = t.min(SETTLE.saturating_sub(quiet));
            }
            t
        } else {
            idle_rescan
        };
        watcher.wait(timeout.max(Duration::from_millis(1)), stop);
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let now = Scan::take(&opts, &mut watcher, Some(&seen));
        status.files = now.files.len();
        let changed = now.files != seen.files;
        if changed {
            last_change = Instant::now();
        }
        // A held unterminated line is due once its file has been quiet for
        // the timeout (the reader then takes it: the file's mtime is as old).
        let partial_due =
            !changed && seen.unterminated && last_change.elapsed() >= fo.partial_line_timeout;
        let settled = !changed && seen.settling && last_change.elapsed() >= SETTLE;
        // Quiet for a while with indexes behind: bring them up to date.
        let index_due = !changed
            && upkeep.iter().any(|u| u.pending() > 0)
            && last_change.elapsed() >= fo.commit_interval.max(Duration::from_secs(10));
        let bytes_due = now.grown_since(&seen) >= fo.commit_bytes;
        let interval_done = last_cycle.elapsed() >= fo.commit_interval;
        if (changed && (interval_done || bytes_due)) || partial_due || settled || index_due {
            // `now` was taken before this cycle reads: what changes while
            // it runs is seen as a change next time.
            interrupted = cycle(&mut opts, &mut upkeep, &mut status, &mut total, index_due)?;
            last_cycle = Instant::now();
            seen = Scan {
                unterminated: now.unterminated && !partial_due,
                settling: now.settling && !settled,
                ..now
            };
            pending = false;
        } else if changed {
            pending = true;
        } else {
            obs.status(&status);
        }
    }
    // Stopped: what is there now is read and committed, indexes included.
    // Stopped in the middle of a long catch-up: that cycle committed what it
    // had read, the rest waits for the next start.
    if !interrupted {
        for o in opts.iter_mut() {
            o.stop = None;
        }
    }
    cycle(&mut opts, &mut upkeep, &mut status, &mut total, true)?;
    Ok(total)
}

/// Adds one cycle's report to the follower's totals.
fn merge(total: &mut IngestReport, r: IngestReport) {
    total.files = total.files.max(r.files);
    total.files_failed = total.files_failed.max(r.files_failed);
    total.files_rotated += r.files_rotated;
    total.lines_read += r.lines_read;
    total.lines_joined += r.lines_joined;
    total.entries_stored += r.entries_stored;
    total.streams = total.streams.max(r.streams);
    total.bytes_read += r.bytes_read;
    total.bytes_lines += r.bytes_lines;
    total.bytes_stored += r.bytes_stored;
    total.segments += r.segments;
    total.commits += r.commits;
    total.index_builds += r.index_builds;
    total.index_ms += r.index_ms;
    total.min_t = match (total.min_t, r.min_t) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    total.max_t = match (total.max_t, r.max_t) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    for (k, v) in r.rejected {
        *total.rejected.entry(k).or_default() += v;
    }
    for (k, v) in r.changed {
        *total.changed.entry(k).or_default() += v;
    }
    for e in r.errors {
        if !total.errors.contains(&e) {
            total.errors.push(e);
        }
    }
}

/// Sleeps `d`, in slices short enough to notice `stop` soon.
fn sleep_checking(d: Duration, stop: &AtomicBool) {
    let end = Instant::now() + d;
    while !stop.load(Ordering::SeqCst) {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

/// What the inputs look like now: each matched file's identity. Taking one
/// costs a directory read per glob and a `stat` per file, no file read
/// except the last byte of a file that changed size.
struct Scan {
    files: BTreeMap<PathBuf, (u64, u64, u64, i64)>,
    /// The files that do not end with a newline.
    open_ends: HashSet<PathBuf>,
    /// Some file does not end with a newline (a line being written).
    unterminated: bool,
    /// Some file under a rotated name was modified just now: a copy being
    /// written, left alone by the cycle until it settles.
    settling: bool,
}

impl Scan {
    /// The inputs now; `prev` spares re-reading the last byte of files
    /// unchanged since it.
    fn take(opts: &[IngestOptions], watcher: &mut Watcher, prev: Option<&Scan>) -> Scan {
        let mut files = BTreeMap::new();
        let mut open_ends: HashSet<PathBuf> = HashSet::new();
        let mut dirs: Vec<PathBuf> = Vec::new();
        for o in opts {
            for arg in &o.inputs {
                dirs.push(watch_root(arg));
            }
            let Ok(inputs) = source::expand(&o.inputs, o.recursive, true) else {
                continue;
            };
            for i in inputs {
                let Input::File(p) = i else { continue };
                if let Some(d) = p.parent() {
                    dirs.push(d.to_path_buf());
                }
                if let Ok(md) = std::fs::metadata(&p) {
                    let id = FileIdentity::of(&md);
                    let state = (id.dev, id.ino, id.size, id.mtime_ns);
                    let open_end = match prev {
                        Some(prev) if prev.files.get(&p) == Some(&state) => {
                            prev.open_ends.contains(&p)
                        }
                        _ => id.size > 0 && !ends_with_newline(&p, id.size),
                    };
                    if open_end {
                        open_ends.insert(p.clone());
                    }
                    files.insert(p, state);
                }
            }
        }
        dirs.sort();
        dirs.dedup();
        for d in &dirs {
            watcher.watch(d);
        }
        let unterminated = !open_ends.is_empty();
        let now_ns = jiff::Timestamp::now().as_nanosecond() as i64;
        let settling = files
            .iter()
            .any(|(p, &(_, _, _, mtime))| super::follow::settling(p, mtime, now_ns));
        Scan {
            files,
            open_ends,
            unterminated,
            settling,
        }
    }

    /// Bytes appended since `old` (a new file counts whole).
    fn grown_since(&self, old: &Scan) -> u64 {
        self.files
            .iter()
            .map(|(p, &(dev, ino, size, _))| match old.files.get(p) {
                Some(&(d, i, s, _)) if d == dev && i == ino => size.saturating_sub(s),
                _ => size,
            })
            .sum()
    }
}

fn ends_with_newline(p: &Path, size: u64) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(p) else {
        return true;
    };
    let mut b = [0u8; 1];
    f.seek(SeekFrom::Start(size - 1)).is_ok() && f.read_exact(&mut b).is_ok() && b[0] == b'\n'
        || source::Compression::of(p) != source::Compression::None
}

/// The directory to watch for an input argument: a glob's longest literal
/// prefix directory, a file's directory, a directory itself.
fn watch_root(arg: &str) -> PathBuf {
    let p = source::absolute(Path::new(arg));
    if p.is_dir() {
        return p;
    }
    let mut root = PathBuf::new();
    for c in p.components() {
        let s = c.as_os_str().to_string_lossy();
        if s.contains(['*', '?', '[']) {
            return root;
        }
        root.push(c.as_os_str());
    }
    root.parent().map(Path::to_path_buf).unwrap_or(root)
}

/// Waits for changes in watched directories: inotify on Linux, else a timer.
enum Watcher {
    #[cfg(target_os = "linux")]
    Inotify(inotify::Inotify),
    Poll,
}

impl Watcher {
    fn new(use_inotify: bool) -> Watcher {
        #[cfg(target_os = "linux")]
        if use_inotify {
            if let Some(i) = inotify::Inotify::new() {
                return Watcher::Inotify(i);
            }
        }
        let _ = use_inotify;
        Watcher::Poll
    }

    fn kind(&self) -> &'static str {
        if self.is_inotify() {
            "inotify"
        } else {
            "polling"
        }
    }

    fn is_inotify(&self) -> bool {
        match self {
            #[cfg(target_os = "linux")]
            Watcher::Inotify(_) => true,
            Watcher::Poll => false,
        }
    }

    fn watch(&mut self, dir: &Path) {
        match self {
            #[cfg(target_os = "linux")]
            Watcher::Inotify(i) => i.watch(dir),
            Watcher::Poll => {}
        }
    }

    /// Waits up to `timeout` for an event (or `stop`); true when one came.
    fn wait(&mut self, timeout: Duration, stop: &AtomicBool) -> bool {
        match self {
            #[cfg(target_os = "linux")]
            Watcher::Inotify(i) => i.wait(timeout, stop),
            Watcher::Poll => {
                sleep_checking(timeout, stop);
                false
            }
        }
    }
}

#[cfg(target_os = "linux")]
mod inotify {
    //! The few inotify calls the follower needs, on `libc`.
    use std::collections::HashSet;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    /// Events that can mean new bytes or a new file under a directory.
    const MASK: u32 = libc::IN_MODIFY
        | libc::IN_CREATE
        | libc::IN_MOVED_TO
        | libc::IN_MOVED_FROM
        | libc::IN_DELETE
        | libc::IN_CLOSE_WRITE
        | libc::IN_ATTRIB;

    pub(super) struct Inotify {
        fd: OwnedFd,
        watched: HashSet<PathBuf>,
    }

    impl Inotify {
        pub(super) fn new() -> Option<Inotify> {
            // SAFETY: a plain system call; the descriptor is owned below.
            let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
            if fd < 0 {
                return None;
            }
            Some(Inotify {
                // SAFETY: `fd` is a fresh descriptor nothing else owns.
                fd: unsafe { OwnedFd::from_raw_fd(fd) },
                watched: HashSet::new(),
            })
        }

        /// Watches `dir` (once; a directory that does not exist yet is
        /// tried again at the next scan).
        pub(super) fn watch(&mut self, dir: &Path) {
            if self.watched.contains(dir) {
                return;
            }
            let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
                return;
            };
            // SAFETY: `c` is a valid NUL-terminated path for the call.
            let wd = unsafe { libc::inotify_add_watch(self.fd.as_raw_fd(), c.as_ptr(), MASK) };
            if wd >= 0 {
                self.watched.insert(dir.to_path_buf());
            }
        }

        pub(super) fn wait(&mut self, timeout: Duration, stop: &AtomicBool) -> bool {
            let end = Instant::now() + timeout;
            loop {
                if stop.load(Ordering::SeqCst) {
                    return false;
                }
                let left = end.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return false;
                }
                let mut pfd = libc::pollfd {
                    fd: self.fd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // Short slices: a signal handler only sets `stop`, and
                // poll(2) may be restarted rather than interrupted.
                let ms = left.as_millis().min(200) as libc::c_int;
                // SAFETY: one valid pollfd.
                let n = unsafe { libc::poll(&mut pfd, 1, ms.max(1)) };
                if n > 0 {
                    self.drain();
                    return true;
                }
            }
        }

        /// Reads and drops the pending events.
        pub(super) fn drain(&mut self) {
            let mut buf = [0u8; 16 << 10];
            loop {
                // SAFETY: reading into a buffer of the given length.
                let n =
                    unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                if n <= 0 {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_roots() {
        assert_eq!(watch_root("/var/log/*.log"), PathBuf::from("/var/log"));
        assert_eq!(watch_root("/var/log/**/x.log"), PathBuf::from("/var/log"));
        assert_eq!(watch_root("/var/log/app.log"), PathBuf::from("/var/log"));
        assert_eq!(watch_root("/var/l?g/a.log"), PathBuf::from("/var"));
    }

    #[test]
    fn growth_counts_new_and_appended_bytes() {
        let mk = |v: &[(&str, u64, u64)]| Scan {
            files: v
                .iter()
                .map(|&(p, ino, size)| (PathBuf::from(p), (1, ino, size, 0)))
                .collect(),
            open_ends: HashSet::new(),
            unterminated: false,
            settling: false,
        };
        let old = mk(&[("/a", 1, 100), ("/b", 2, 50)]);
        // /a grew by 10, /b was replaced (new inode: counts whole), /c is new.
        let new = mk(&[("/a", 1, 110), ("/b", 3, 5), ("/c", 4, 7)]);
        assert_eq!(new.grown_since(&old), 10 + 5 + 7);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn inotify_wakes_on_a_write() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Watcher::new(true);
        assert!(w.is_inotify());
        w.watch(dir.path());
        let stop = AtomicBool::new(false);
        assert!(!w.wait(Duration::from_millis(20), &stop));
        std::fs::write(dir.path().join("x.log"), "a\n").unwrap();
        assert!(w.wait(Duration::from_secs(5), &stop));
    }
}
