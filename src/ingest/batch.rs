//! The batch loop of an ingest run: open inputs, read them into batches of
//! about `batch_bytes`, parse each batch's lines into entries in parallel,
//! hand the batch to the writer and commit it with its input positions.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashSet};
use std::fs::File;
use std::io::Read;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use regex::Regex;

use super::clock::{self, MISSING};
use super::format::{self, InputFormat};
use super::report::{change, reject, Counts, FileTimestamps, IngestReport};
use super::source::{self, Compression, FileIdentity, Input};
use super::timestamp::TimestampExtractor;
use super::writer::{write_batch, StreamEntries};
use super::{IngestError, IngestObserver, IngestOptions};
use crate::model::{validate_labels, Labels};
use crate::store::{Position, Store, TenantWriter};

/// Target size of the ranges parsed in parallel.
const PARSE_TASK_BYTES: usize = 4 << 20;

/// Keeps the day indexes current during one run: the days a batch wrote
/// to are rebuilt before its commit, so the index and the segments become
/// live together.
struct IndexUpkeep {
    enabled: bool,
    /// Days written to since their index was last rebuilt.
    pending: BTreeSet<String>,
    spent: Duration,
    started: Instant,
}

impl IndexUpkeep {
    /// Share of the run's time that rebuilding after every batch may take;
    /// past it, rebuilds wait for the run's last commit. A day's rebuild reads
    /// the footers of all its segments, so a very long run into one day would
    /// otherwise grow quadratically.
    const BUDGET_DIVISOR: u32 = 50;

    fn rebuild(
        &mut self,
        tx: &mut TenantWriter<'_>,
        last: bool,
        report: &mut IngestReport,
        obs: &dyn IngestObserver,
    ) -> Result<(), IngestError> {
        if !self.enabled || self.pending.is_empty() {
            return Ok(());
        }
        if !last && self.spent > self.started.elapsed() / Self::BUDGET_DIVISOR {
            return Ok(());
        }
        let t = Instant::now();
        let days: Vec<String> = std::mem::take(&mut self.pending).into_iter().collect();
        let built = crate::store::rebuild_days_lenient(tx, &days, &mut |msg| obs.warn(&msg))?;
        report.index_builds += built.len() as u64;
        self.spent += t.elapsed();
        report.index_ms = self.spent.as_millis() as u64;
        Ok(())
    }
}

/// An open input, read piece by piece across batches.
struct Cursor {
    input: Input,
    /// Index into the run's inputs (for messages).
    labels: Labels,
    reader: Box<dyn Read + Send>,
    /// Bytes read past the last cut, carried into the next piece.
    pending: Vec<u8>,
    /// Input offset of the next byte to hand out (after `pending`).
    offset: u64,
    /// Line number (1-based) of the next line handed out.
    line_no: u64,
    eof: bool,
    identity: Option<FileIdentity>,
    head: (u64, u64),
    /// Timestamp of the last entry, inherited by a following line without one.
    carry_ts: Option<i64>,
    /// Reference time for yearless formats and files without timestamps.
    reference_ns: i64,
    extractor: TimestampExtractor,
    /// How this input's timestamps were found, and its fallbacks.
    ts: FileTimestamps,
}

/// One contiguous run of an input's bytes inside a batch.
struct Piece {
    cursor: usize,
    /// The piece's bytes in the batch arena.
    range: std::ops::Range<usize>,
    start_offset: u64,
    first_line: u64,
    eof: bool,
}

/// What every batch of one run updates: the write transaction, the report,
/// the streams seen so far and the index upkeep.
struct Run<'r, 'l> {
    tx: TenantWriter<'l>,
    opts: &'r IngestOptions,
    obs: &'r dyn IngestObserver,
    report: IngestReport,
    streams_seen: HashSet<Labels>,
    upkeep: IndexUpkeep,
}

/// Runs an ingest into `tenant` of `store`.
pub fn ingest(
    store: &Store,
    tenant: &str,
    opts: &IngestOptions,
    obs: &dyn IngestObserver,
) -> Result<IngestReport, IngestError> {
    if opts.inputs.is_empty() {
        return Err(IngestError::Config(
            "nothing to ingest: give files, globs, directories or - for stdin".into(),
        ));
    }
    // Static labels are checked up front, even if no input turns out to be new.
    super::labels::check_static(opts)?;
    let extractor = clock::extractor(opts)?;
    let inputs = source::expand_inputs(&opts.inputs, opts.recursive)?;
    let tenant = store.tenant(tenant)?;
    let lock = store.lock_writer(opts.lock_timeout, || {
        obs.warn(&format!(
            "waiting for another lokal writer to release {}",
            store.lock_path().display()
        ))
    })?;
    let mut run = Run {
        tx: tenant.begin_write(&lock)?,
        opts,
        obs,
        report: IngestReport::default(),
        streams_seen: HashSet::new(),
        upkeep: IndexUpkeep {
            enabled: !opts.no_index,
            pending: BTreeSet::new(),
            spent: Duration::ZERO,
            started: Instant::now(),
        },
    };

    let total: u64 = inputs
        .iter()
        .filter_map(|i| match i {
            Input::File(p) => std::fs::metadata(p).ok().map(|m| m.len()),
            Input::Stdin => None,
        })
        .sum();
    obs.total_bytes(total);

    let mut cursors: Vec<Cursor> = Vec::new();
    let mut batch: Vec<Piece> = Vec::new();
    // One arena for the batch's bytes, reused so memory is faulted in once.
    let mut arena: Vec<u8> = Vec::with_capacity(opts.batch_bytes.min(total as usize + (1 << 20)));
    for input in inputs {
        let cursor = match open_cursor(&input, opts, &run.tx, extractor.clone(), obs) {
            Ok(Some(c)) => c,
            Ok(None) => {
                run.report.files_unchanged += 1;
                continue;
            }
            Err(msg) => {
                obs.warn(&msg);
                run.report.errors.push(msg);
                run.report.files_failed += 1;
                continue;
            }
        };
        run.report.files += 1;
        cursors.push(cursor);
        let ci = cursors.len() - 1;
        loop {
            let budget = opts.batch_bytes.saturating_sub(arena.len()).max(1);
            let whole = opts.format == InputFormat::LokiPush;
            match read_piece(
                &mut cursors[ci],
                ci,
                if whole { usize::MAX } else { budget },
                opts,
                &mut arena,
            ) {
                Ok(Some(p)) => batch.push(p),
                Ok(None) => {}
                Err(msg) => {
                    obs.warn(&msg);
                    run.report.errors.push(msg);
                    run.report.files_failed += 1;
                    cursors[ci].eof = true;
                }
            }
            if arena.len() >= opts.batch_bytes {
                run.flush(&mut cursors, &arena, &batch, false)?;
                batch.clear();
                arena.clear();
            }
            if cursors[ci].eof {
                break;
            }
        }
    }
    run.flush(&mut cursors, &arena, &batch, true)?;
    run.report.streams = run.streams_seen.len() as u64;
    run.report.timestamps = cursors.into_iter().map(|c| c.ts).collect();
    Ok(run.report)
}

/// Opens an input and positions it after what earlier runs stored.
/// `Ok(None)`: nothing new to read.
fn open_cursor(
    input: &Input,
    opts: &IngestOptions,
    tx: &TenantWriter<'_>,
    mut extractor: TimestampExtractor,
    obs: &dyn IngestObserver,
) -> Result<Option<Cursor>, String> {
    let name = input.display();
    let now_ns = jiff::Timestamp::now().as_nanosecond() as i64;
    let (reader, offset, line_no, identity, head, carry_ts, reference_ns): (
        Box<dyn Read + Send>,
        _,
        _,
        _,
        _,
        _,
        _,
    ) = match input {
        Input::Stdin => (Box::new(std::io::stdin()), 0, 1, None, (0, 0), None, now_ns),
        Input::File(path) => {
            let file = File::open(path).map_err(|e| format!("{name}: cannot open: {e}"))?;
            let id = source::identity(&file).map_err(|e| format!("{name}: cannot stat: {e}"))?;
            if std::fs::metadata(path).map(|m| m.is_dir()).unwrap_or(false) {
                return Err(format!(
                    "{name}: is a directory (use --recursive or a glob)"
                ));
            }
            let compression = Compression::of(path);
            let head_len = id.size.min(source::HEAD_LEN);
            let head_hash = source::head_hash(path, head_len)
                .map_err(|e| format!("{name}: cannot read: {e}"))?
                .unwrap_or(0);
            let key = path.display().to_string();
            let resume = if opts.from_start {
                None
            } else {
                tx.manifest().positions.get(&key)
            };
            let resume = resume.filter(|p| same_file(p, &id, path));
            if let Some(p) = resume {
                if compression == Compression::None && p.offset >= id.size {
                    return Ok(None);
                }
                if compression != Compression::None && p.size == id.size {
                    return Ok(None);
                }
            }
            if !opts.binary && compression == Compression::None {
                if let Some(off) = nul_offset(path) {
                    return Err(format!(
                            "{name}: looks binary (NUL byte at offset {off}); skipped. Use --binary to ingest it anyway"
                        ));
                }
            }
            let mut reader = source::open_reader(file, compression)
                .map_err(|e| format!("{name}: cannot read: {e}"))?;
            let (offset, line_no, carry) = match resume {
                Some(p) => {
                    source::skip_bytes(&mut *reader, p.offset)
                        .map_err(|e| format!("{name}: cannot resume at byte {}: {e}", p.offset))?;
                    (p.offset, p.line.max(1), p.last_ts)
                }
                None => (0, 1, None),
            };
            (
                reader,
                offset,
                line_no,
                Some(id),
                (head_len, head_hash),
                carry,
                id.mtime_ns,
            )
        }
    };
    let labels = super::labels::input_labels(input, opts);
    if opts.format == InputFormat::Auto {
        validate_labels(&labels, &opts.limits).map_err(|e| format!("{name}: {e}"))?;
    }
    let _ = obs;
    extractor.set_reference(reference_ns);
    let (reader, pending, ts) = learn_timestamps(reader, &mut extractor, opts, &name, line_no)?;
    Ok(Some(Cursor {
        input: input.clone(),
        labels,
        reader,
        pending,
        offset,
        line_no,
        eof: false,
        identity,
        head,
        carry_ts,
        reference_ns,
        extractor,
        ts,
    }))
}

/// Reads the head of a line input ahead and learns its timestamps from it
/// (`clock::learn`); the head goes back as the cursor's pending bytes.
#[allow(clippy::type_complexity)]
fn learn_timestamps(
    mut reader: Box<dyn Read + Send>,
    ex: &mut TimestampExtractor,
    opts: &IngestOptions,
    name: &str,
    line_no: u64,
) -> Result<(Box<dyn Read + Send>, Vec<u8>, FileTimestamps), String> {
    let mut ts = FileTimestamps {
        file: name.to_string(),
        ..FileTimestamps::default()
    };
    if opts.format != InputFormat::Auto {
        // logcli and push inputs carry a timestamp per entry.
        ts.format = "the entries' own".into();
        return Ok((reader, Vec::new(), ts));
    }
    let (head, eof) =
        clock::read_head(&mut *reader).map_err(|e| format!("{name}: cannot read: {e}"))?;
    clock::learn(ex, &head, eof, name, line_no)?;
    ts.format = ex.describe();
    Ok((reader, head, ts))
}

/// True when a stored position belongs to this very file: same inode, not
/// shorter than what was read, and the same first bytes.
fn same_file(p: &Position, id: &FileIdentity, path: &std::path::Path) -> bool {
    if p.dev != id.dev || p.ino != id.ino {
        return false;
    }
    if Compression::of(path) == Compression::None && id.size < p.offset {
        return false; // truncated
    }
    if id.size < p.head_len {
        return false;
    }
    matches!(source::head_hash(path, p.head_len), Ok(Some(h)) if h == p.head_hash)
        || p.head_len == 0
}

fn nul_offset(path: &std::path::Path) -> Option<usize> {
    let mut buf = [0u8; 8192];
    let mut f = File::open(path).ok()?;
    let n = f.read(&mut buf).ok()?;
    memchr::memchr(0, &buf[..n])
}

/// Reads up to about `budget` bytes of whole lines (more if one line is
/// longer). With `--multiline-start` the cut is made before the last line
/// that starts an entry, so an entry never straddles two batches.
fn read_piece(
    c: &mut Cursor,
    ci: usize,
    budget: usize,
    opts: &IngestOptions,
    arena: &mut Vec<u8>,
) -> Result<Option<Piece>, String> {
    if c.eof && c.pending.is_empty() {
        return Ok(None);
    }
    let base = arena.len();
    // Taken, not cleared: the learned head (64 KiB) must not stay allocated
    // for every input of a run.
    arena.extend_from_slice(&std::mem::take(&mut c.pending));
    let start_offset = c.offset;
    let target = budget.max(arena.len() - base + 1);
    let mut has_newline = memchr::memchr(b'\n', &arena[base..]).is_some();
    loop {
        if arena.len() - base >= target && has_newline {
            break;
        }
        let want = (target.saturating_sub(arena.len() - base)).clamp(64 << 10, 16 << 20);
        let old = arena.len();
        arena.resize(old + want, 0);
        let n = loop {
            match c.reader.read(&mut arena[old..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    arena.truncate(base);
                    return Err(format!(
                        "{}: read error at byte {}: {e}",
                        c.input.display(),
                        start_offset + (old - base) as u64
                    ));
                }
            }
        };
        arena.truncate(old + n);
        if n == 0 {
            c.eof = true;
            break;
        }
        has_newline = has_newline || memchr::memchr(b'\n', &arena[old..]).is_some();
    }
    if !c.eof {
        let cut = base + cut_point(&arena[base..], opts.multiline_start.as_ref());
        c.pending.extend_from_slice(&arena[cut..]);
        arena.truncate(cut);
    }
    if arena.len() == base {
        return Ok(None);
    }
    let data = &arena[base..];
    c.offset = start_offset + data.len() as u64;
    let first_line = c.line_no;
    c.line_no += memchr::memchr_iter(b'\n', data).count() as u64;
    Ok(Some(Piece {
        cursor: ci,
        range: base..arena.len(),
        start_offset,
        first_line,
        eof: c.eof && c.pending.is_empty(),
    }))
}

/// Where to end a piece: after the last newline, or with multiline entries
/// before the last line that starts an entry.
pub(crate) fn cut_point(data: &[u8], multiline: Option<&Regex>) -> usize {
    let last_nl = match memchr::memrchr(b'\n', data) {
        Some(i) => i + 1,
        None => return data.len(),
    };
    let Some(re) = multiline else { return last_nl };
    // Walk lines backwards from the end of the complete part.
    let mut end = last_nl.saturating_sub(1);
    loop {
        let start = memchr::memrchr(b'\n', &data[..end]).map_or(0, |i| i + 1);
        if start == 0 {
            return last_nl;
        }
        let line = strip_cr(&data[start..end]);
        if re.is_match(&String::from_utf8_lossy(line)) {
            return start;
        }
        end = start - 1;
    }
}

#[inline]
fn strip_cr(line: &[u8]) -> &[u8] {
    match line.last() {
        Some(b'\r') => &line[..line.len() - 1],
        _ => line,
    }
}

/// A parsed entry: stream index (into the task's stream table), time, line.
pub(crate) struct Entry<'a> {
    pub stream: u32,
    pub ts: i64,
    pub line: Cow<'a, [u8]>,
    /// Structured metadata (Loki push bodies), if any.
    pub metadata: Option<Box<crate::chunk::block::Metadata>>,
}

/// The result of parsing one range of a piece.
struct Parsed<'a> {
    piece: usize,
    streams: Vec<Labels>,
    entries: Vec<Entry<'a>>,
    counts: Counts,
}

/// A range of a piece parsed as one task.
struct Task {
    piece: usize,
    start: usize,
    end: usize,
    first_line: u64,
}

impl Run<'_, '_> {
    /// Parses, writes and commits one batch (the pieces of `batch` in
    /// `arena`) with its input positions; `last` is the run's final call.
    fn flush(
        &mut self,
        cursors: &mut [Cursor],
        arena: &[u8],
        batch: &[Piece],
        last: bool,
    ) -> Result<(), IngestError> {
        let Run {
            tx,
            opts,
            obs,
            report,
            streams_seen,
            upkeep,
        } = self;
        let (opts, obs) = (*opts, *obs);
        if batch.is_empty() {
            // Rebuilds deferred by the time budget still happen before the run ends.
            if last && upkeep.enabled && !upkeep.pending.is_empty() {
                upkeep.rebuild(tx, true, report, obs)?;
                tx.commit()?;
                report.commits += 1;
            }
            return Ok(());
        }
        // Split pieces into tasks at line boundaries so big files parse in parallel.
        let mut tasks = Vec::new();
        for (pi, p) in batch.iter().enumerate() {
            let splittable = opts.multiline_start.is_none() && opts.format != InputFormat::LokiPush;
            let mut start = 0;
            let mut line = p.first_line;
            while start < arena[p.range.clone()].len() {
                let mut end = arena[p.range.clone()].len();
                if splittable && end - start > PARSE_TASK_BYTES {
                    end = match memchr::memchr(
                        b'\n',
                        &arena[p.range.clone()][start + PARSE_TASK_BYTES..],
                    ) {
                        Some(i) => start + PARSE_TASK_BYTES + i + 1,
                        None => arena[p.range.clone()].len(),
                    };
                }
                tasks.push(Task {
                    piece: pi,
                    start,
                    end,
                    first_line: line,
                });
                line +=
                    memchr::memchr_iter(b'\n', &arena[p.range.clone()][start..end]).count() as u64;
                start = end;
            }
        }
        let ctx: Vec<ParseCtx> = batch
            .iter()
            .map(|p| {
                let c = &cursors[p.cursor];
                ParseCtx {
                    name: c.input.display(),
                    labels: c.labels.clone(),
                    extractor: c.extractor.clone(),
                }
            })
            .collect();
        let mut parsed: Vec<Parsed<'_>> = tasks
            .par_iter()
            .map(|t| {
                parse_task(
                    &arena[batch[t.piece].range.clone()][t.start..t.end],
                    t,
                    &ctx[t.piece],
                    opts,
                )
            })
            .collect();

        // Fill in missing timestamps in input order, per input.
        for (pi, p) in batch.iter().enumerate() {
            let c = &mut cursors[p.cursor];
            let before = (c.ts.previous_line, c.ts.first_found, c.ts.mtime);
            for pr in parsed.iter().filter(|pr| pr.piece == pi) {
                c.ts.implausible += pr.counts.ts_implausible;
                c.ts.unknown_zone += pr.counts.ts_unknown_zone;
                for n in &pr.counts.ts_notes {
                    c.ts.note(|| n.clone());
                }
            }
            let stamps = parsed
                .iter_mut()
                .filter(|pr| pr.piece == pi)
                .flat_map(|pr| pr.entries.iter_mut().map(|e| &mut e.ts));
            clock::fill(&mut c.carry_ts, c.reference_ns, &mut c.ts, stamps);
            report.change(change::TS_INHERITED, c.ts.previous_line - before.0);
            report.change(change::TS_FROM_NEXT, c.ts.first_found - before.1);
            report.change(change::TS_FROM_MTIME, c.ts.mtime - before.2);
        }
        for pr in &parsed {
            report.merge_counts(&pr.counts);
            for m in &pr.counts.messages {
                obs.warn(m);
            }
        }

        // Group by stream, validating each new stream once.
        let mut groups: Vec<StreamEntries<'_>> = Vec::new();
        let mut index: std::collections::HashMap<Labels, usize> = std::collections::HashMap::new();
        for pr in parsed {
            let map: Vec<Option<usize>> = pr
                .streams
                .iter()
                .map(|l| {
                    if let Some(&i) = index.get(l) {
                        return groups[i].valid.then_some(i);
                    }
                    let valid = match validate_labels(l, &opts.limits) {
                        Ok(()) => true,
                        Err(e) => {
                            obs.warn(&format!(
                                "{}: {e}; its entries are rejected",
                                cursors[batch[pr.piece].cursor].input.display()
                            ));
                            false
                        }
                    };
                    groups.push(StreamEntries {
                        labels: l.clone(),
                        entries: Vec::new(),
                        valid,
                    });
                    index.insert(l.clone(), groups.len() - 1);
                    valid.then_some(groups.len() - 1)
                })
                .collect();
            for e in pr.entries {
                match map[e.stream as usize] {
                    Some(g) => groups[g].entries.push((e.ts, e.line, e.metadata)),
                    None => report.reject(reject::INVALID_LABELS, 1),
                }
            }
        }
        groups.retain(|g| g.valid && !g.entries.is_empty());
        for g in &groups {
            streams_seen.insert(g.labels.clone());
        }

        let published = tx.manifest().segments.len();
        write_batch(tx, groups, opts, report)?;
        upkeep.pending.extend(
            tx.manifest().segments[published..]
                .iter()
                .map(|s| s.day.clone()),
        );

        // Positions move with the data, in the same manifest commit.
        for p in batch {
            let c = &cursors[p.cursor];
            if let (Input::File(path), Some(id)) = (&c.input, c.identity) {
                tx.positions_mut().insert(
                    path.display().to_string(),
                    Position {
                        dev: id.dev,
                        ino: id.ino,
                        offset: p.start_offset + arena[p.range.clone()].len() as u64,
                        size: id.size,
                        head_len: c.head.0,
                        head_hash: c.head.1,
                        last_ts: c.carry_ts,
                        line: p.first_line
                            + memchr::memchr_iter(b'\n', &arena[p.range.clone()]).count() as u64,
                    },
                );
            }
            let _ = p.eof;
        }
        upkeep.rebuild(tx, last, report, obs)?;
        tx.commit()?;
        report.commits += 1;
        report.bytes_read += batch
            .iter()
            .map(|p| arena[p.range.clone()].len() as u64)
            .sum::<u64>();
        obs.advance(
            batch
                .iter()
                .map(|p| arena[p.range.clone()].len() as u64)
                .sum(),
        );
        Ok(())
    }
}

/// What a parse task needs to know of its input.
struct ParseCtx {
    name: String,
    labels: Labels,
    extractor: TimestampExtractor,
}

/// Parses one task's bytes into entries.
fn parse_task<'a>(data: &'a [u8], t: &Task, c: &ParseCtx, opts: &IngestOptions) -> Parsed<'a> {
    let mut out = Parsed {
        piece: t.piece,
        streams: vec![c.labels.clone()],
        entries: Vec::new(),
        counts: Counts::default(),
    };
    let name = c.name.clone();
    match opts.format {
        InputFormat::Auto => {
            let mut ex = c.extractor.clone();
            match &opts.multiline_start {
                None => parse_lines(data, t.first_line, &name, &mut ex, opts, &mut out),
                Some(re) => parse_multiline(data, t.first_line, &name, re, &mut ex, opts, &mut out),
            }
        }
        InputFormat::Logcli => parse_logcli(data, t.first_line, &name, c, opts, &mut out),
        InputFormat::LokiPush => parse_push(data, &name, c, opts, &mut out),
    }
    out
}

/// Parses a piece of whole lines of one `auto`-format input into entries
/// (timestamps `MISSING` where a line has none), as a batch does: for the
/// dry run, which stores nothing.
pub(crate) fn parse_auto<'a>(
    data: &'a [u8],
    first_line: u64,
    name: &str,
    ex: &mut TimestampExtractor,
    opts: &IngestOptions,
) -> (Vec<Entry<'a>>, Counts) {
    let mut out = Parsed {
        piece: 0,
        streams: Vec::new(),
        entries: Vec::new(),
        counts: Counts::default(),
    };
    match &opts.multiline_start {
        None => parse_lines(data, first_line, name, ex, opts, &mut out),
        Some(re) => parse_multiline(data, first_line, name, re, ex, opts, &mut out),
    }
    (out.entries, out.counts)
}

/// Applies the line size limit: `None` when the line is rejected.
fn check_size<'a>(
    line: Cow<'a, [u8]>,
    line_no: u64,
    name: &str,
    opts: &IngestOptions,
    counts: &mut Counts,
) -> Option<Cow<'a, [u8]>> {
    let max = opts.limits.max_line_size;
    if max == 0 || line.len() <= max {
        return Some(line);
    }
    if opts.truncate_long_lines {
        counts.change(change::TRUNCATED, 1);
        return Some(match line {
            Cow::Borrowed(b) => Cow::Borrowed(&b[..max]),
            Cow::Owned(mut v) => {
                v.truncate(max);
                Cow::Owned(v)
            }
        });
    }
    let len = line.len();
    counts.reject(reject::LINE_TOO_LONG, || {
        format!("{name}:{line_no}: line of {len} bytes is over the {max}-byte limit; rejected (use --truncate-long-lines or --max-line-size)")
    });
    None
}

fn for_each_line<'a>(data: &'a [u8], mut f: impl FnMut(&'a [u8], u64)) {
    let mut start = 0;
    let mut n = 0u64;
    for nl in memchr::memchr_iter(b'\n', data) {
        f(strip_cr(&data[start..nl]), n);
        start = nl + 1;
        n += 1;
    }
    if start < data.len() {
        f(strip_cr(&data[start..]), n);
    }
}

fn parse_lines<'a>(
    data: &'a [u8],
    first_line: u64,
    name: &str,
    ex: &mut TimestampExtractor,
    opts: &IngestOptions,
    out: &mut Parsed<'a>,
) {
    let counts = &mut out.counts;
    let entries = &mut out.entries;
    entries.reserve(data.len() / 128);
    for_each_line(data, |line, i| {
        counts.lines += 1;
        if let Some(line) = check_size(Cow::Borrowed(line), first_line + i, name, opts, counts) {
            let e = ex.extract_detailed(&line);
            counts.timestamp_issue(&e, || clock::line_issue(ex, &e, name, first_line + i));
            let ts = e.ts.unwrap_or(MISSING);
            entries.push(Entry {
                stream: 0,
                ts,
                line,
                metadata: None,
            });
        }
    });
}

#[allow(clippy::too_many_arguments)]
fn parse_multiline<'a>(
    data: &'a [u8],
    first_line: u64,
    name: &str,
    start_re: &Regex,
    ex: &mut TimestampExtractor,
    opts: &IngestOptions,
    out: &mut Parsed<'a>,
) {
    let mut cur: Option<(Vec<u8>, u64, usize)> = None;
    let mut done: Vec<(Vec<u8>, u64)> = Vec::new();
    let counts = &mut out.counts;
    for_each_line(data, |line, i| {
        counts.lines += 1;
        let starts = start_re.is_match(&String::from_utf8_lossy(line));
        match &mut cur {
            Some((buf, _, n)) if !starts && *n < opts.multiline_max_lines => {
                buf.push(b'\n');
                buf.extend_from_slice(line);
                *n += 1;
                counts.joined += 1;
            }
            _ => {
                if let Some((buf, ln, _)) = cur.take() {
                    done.push((buf, ln));
                }
                cur = Some((line.to_vec(), first_line + i, 1));
            }
        }
    });
    if let Some((buf, ln, _)) = cur.take() {
        done.push((buf, ln));
    }
    for (buf, ln) in done {
        if let Some(line) = check_size(Cow::Owned(buf), ln, name, opts, &mut out.counts) {
            let e = ex.extract_detailed(&line);
            out.counts
                .timestamp_issue(&e, || clock::line_issue(ex, &e, name, ln));
            let ts = e.ts.unwrap_or(MISSING);
            out.entries.push(Entry {
                stream: 0,
                ts,
                line,
                metadata: None,
            });
        }
    }
}

fn stream_index(streams: &mut Vec<Labels>, labels: Labels) -> u32 {
    let labels = labels.without_empty();
    match streams.iter().position(|l| *l == labels) {
        Some(i) => i as u32,
        None => {
            streams.push(labels);
            (streams.len() - 1) as u32
        }
    }
}

fn with_static(labels: &Labels, opts: &IngestOptions) -> Labels {
    let mut l = labels.clone();
    for (k, v) in &opts.labels {
        l.set(k, v);
    }
    l
}

fn parse_logcli<'a>(
    data: &'a [u8],
    first_line: u64,
    name: &str,
    _c: &ParseCtx,
    opts: &IngestOptions,
    out: &mut Parsed<'a>,
) {
    out.streams.clear();
    let mut entries = Vec::new();
    let counts = &mut out.counts;
    let streams = &mut out.streams;
    for_each_line(data, |line, i| {
        counts.lines += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            counts.reject(reject::UNPARSABLE, || {
                format!(
                    "{name}:{}: empty line in logcli jsonl input",
                    first_line + i
                )
            });
            return;
        }
        match format::parse_logcli_line(line) {
            Ok(e) => {
                let s = stream_index(streams, with_static(&e.labels, opts));
                if let Some(l) = check_size(
                    Cow::Owned(e.line.into_bytes()),
                    first_line + i,
                    name,
                    opts,
                    counts,
                ) {
                    entries.push(Entry {
                        stream: s,
                        ts: e.ts,
                        line: l,
                        metadata: None,
                    });
                }
            }
            Err(msg) => counts.reject(reject::UNPARSABLE, || {
                format!("{name}:{}: {msg}", first_line + i)
            }),
        }
    });
    out.entries = entries;
}

fn parse_push<'a>(
    data: &'a [u8],
    name: &str,
    _c: &ParseCtx,
    opts: &IngestOptions,
    out: &mut Parsed<'a>,
) {
    out.streams.clear();
    match format::parse_push_bodies(data) {
        Ok(streams) => {
            for s in streams {
                let si = stream_index(&mut out.streams, with_static(&s.labels, opts));
                for (ts, line, metadata) in s.entries {
                    out.counts.lines += 1;
                    if let Some(l) = check_size(
                        Cow::Owned(line.into_bytes()),
                        0,
                        name,
                        opts,
                        &mut out.counts,
                    ) {
                        out.entries.push(Entry {
                            stream: si,
                            ts,
                            line: l,
                            metadata: (!metadata.is_empty()).then(|| metadata.into_boxed_slice()),
                        });
                    }
                }
            }
        }
        Err(msg) => {
            out.counts.lines += 1;
            out.counts.reject(reject::UNPARSABLE, || {
                format!("{name}: {msg}; the whole input was rejected")
            });
        }
    }
}
