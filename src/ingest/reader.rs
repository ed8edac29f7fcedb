//! Reading one input into line-aligned pieces of a batch, with bounded
//! memory: an over-long line is cut while it is read (only its first
//! `max_line_size + 2` bytes are kept; the rest is counted and skipped),
//! the start of every decoded input is checked for NUL bytes, and an
//! unterminated last line of a file still being written is held back (its
//! bytes not handed out, so the position stops before it) until its
//! newline arrives or the file is rotated away. Standard input and
//! compressed files are not live: their last line is taken as it is.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use regex::Regex;

use super::clock;
use super::follow::{CopyOf, Planned, Start};
use super::format::InputFormat;
use super::report::FileTimestamps;
use super::source::{self, Compression, FileIdentity, Input, BINARY_SNIFF, HEAD_LEN};
use super::timestamp::TimestampExtractor;
use super::IngestOptions;
use crate::model::{validate_labels, Labels};
use crate::store::Position;

/// Memory a batch is charged per line on top of its bytes: the parsed entry,
/// its place in its stream's list and a share of the sort (see
/// `IngestOptions::batch_bytes`).
pub(crate) const LINE_COST: usize = 96;

/// Memory a batch is charged per distinct stream in it, as the stream is
/// found while the batch is read: its label set (a pair vector and a string
/// per name and value), its entry list, its places in the batch's stream
/// tables and its run in the segment written. Counted while reading, in
/// every batch (the first too): a logcli record's stream is its raw `labels`
/// object, a push body's streams its `stream` objects, a line input's its
/// file's label set; streams a pipeline (`--config`) makes are only known
/// once it has run, so there the previous batch's share of streams among its
/// entries is charged per line on top. Sized so that a day of 100,000
/// streams of five logcli lines each (68 MB of jsonl) still fits one default
/// batch, where a charge per line alone would let a batch of one line per
/// stream hold 570,000 streams (515 MB peak RSS at a million streams;
/// `bench/README.md`, "Many streams").
pub(crate) const STREAM_COST: usize = 160;

/// The distinct streams of the batch being read (see [`STREAM_COST`]), by a
/// 64-bit hash of what names them in the input (a raw logcli `labels`
/// object, a file's label set); streams counted without a key (a push
/// body's `stream` objects) are only added up. Distinct raw forms of one
/// stream count twice: the estimate errs on the side of a smaller batch.
#[derive(Default)]
pub(crate) struct StreamCounter {
    seen: std::collections::HashSet<u64, NoHash>,
    unkeyed: usize,
}

impl StreamCounter {
    /// Streams counted since the last [`StreamCounter::clear`].
    pub(crate) fn len(&self) -> usize {
        self.seen.len() + self.unkeyed
    }

    /// Forgets the batch's streams (keeping the table's memory).
    pub(crate) fn clear(&mut self) {
        self.seen.clear();
        self.unkeyed = 0;
    }

    /// Counts the stream named by `key` (any bytes that name it).
    pub(crate) fn see(&mut self, key: &[u8]) {
        self.seen.insert(xxhash_rust::xxh3::xxh3_64(key));
    }

    /// Counts the streams named by the logcli records in `lines` (whole
    /// lines): each record's raw `labels` object, or the record itself when
    /// none is found (it is rejected or parsed the slow way later).
    fn see_logcli(&mut self, lines: &[u8]) {
        const HEAD: &[u8] = b"{\"labels\":";
        let labels = memchr::memmem::Finder::new(&HEAD[1..]);
        let mut start = 0;
        for nl in memchr::memchr_iter(b'\n', lines).chain(std::iter::once(lines.len())) {
            let line = &lines[start..nl];
            start = nl + 1;
            if line.is_empty() {
                continue;
            }
            // The shape logcli writes has it first; others are searched.
            let at = if line.starts_with(HEAD) {
                Some(1)
            } else {
                labels.find(line)
            };
            let key = at
                .map(|at| &line[at..])
                .and_then(|rest| Some(&rest[..=memchr::memchr(b'}', rest)?]))
                .unwrap_or(line);
            self.seen.insert(xxhash_rust::xxh3::xxh3_64(key));
        }
    }

    /// Counts the streams of the Loki push bodies in `data`, and returns how
    /// many: its `"stream"` keys (a key can only stand before a colon, so a
    /// line's text cannot hold one: its quotes are escaped).
    fn see_push(&mut self, data: &[u8]) -> usize {
        let n = memchr::memmem::find_iter(data, b"\"stream\"")
            .filter(|&at| {
                let rest = &data[at + 8..];
                rest.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b':')
            })
            .count();
        self.unkeyed += n;
        n
    }
}

/// A hasher for keys that are hashes already (the batch's stream tables).
#[derive(Default, Clone, Copy)]
pub(crate) struct IdentityHasher(u64);

impl std::hash::Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed with it.
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

pub(crate) type NoHash = std::hash::BuildHasherDefault<IdentityHasher>;

/// The longest line `opts` accept: `max_line_size`, or with no limit the
/// batch size (a line must fit in a batch).
pub(crate) fn line_limit(opts: &IngestOptions) -> usize {
    match opts.limits.max_line_size {
        0 => opts.batch_bytes.max(1),
        n => n,
    }
}

/// How many bytes of one line are kept while reading. Two more than the
/// limit, so a cut line stays over it even after losing a `\r`; a logcli
/// record also carries its labels and JSON escapes.
fn line_cap(opts: &IngestOptions) -> usize {
    let limit = line_limit(opts);
    match opts.format {
        InputFormat::Logcli => limit.saturating_mul(6).saturating_add(64 << 10),
        _ => limit.saturating_add(2),
    }
}

/// An open input, read piece by piece across batches.
pub(crate) struct Cursor {
    pub input: Input,
    /// The key of its position (its path now); `None` for streams.
    pub key: Option<String>,
    /// The name it was first read under (its `filename` label).
    pub name: String,
    pub labels: Labels,
    reader: Box<dyn Read + Send>,
    /// Bytes read past the last cut, carried into the next piece.
    pending: Vec<u8>,
    /// Bytes of the last (unterminated) line in `pending` that were read and
    /// skipped because the line is over the cap.
    pending_dropped: u64,
    /// Input offset after the last byte read from `reader`.
    read_pos: u64,
    /// Bytes the last read returned (sizes the next read).
    last_read: usize,
    /// Input offset where the pieces handed out so far end.
    pub offset: u64,
    /// Line number (1-based) of the next line handed out.
    pub line_no: u64,
    eof: bool,
    /// An unterminated last line is held back at the end of the input.
    live: bool,
    /// The input ended with an unterminated line that is held back.
    held: bool,
    pub identity: Option<FileIdentity>,
    /// `(len, xxh3)` of the input's first bytes.
    pub head: (u64, u64),
    /// `(len, xxh3)` of the bytes before `offset`.
    pub tail: (u64, u64),
    /// Timestamp of the last entry, inherited by a following line without one.
    pub carry_ts: Option<i64>,
    /// Reference time for yearless formats and files without timestamps.
    pub reference_ns: i64,
    pub extractor: TimestampExtractor,
    /// Lines cut while read and not yet handed out: (line number, bytes skipped).
    long_lines: Vec<(u64, u64)>,
    /// Files holding copies of this one's content; their positions follow it.
    pub copies: Vec<CopyOf>,
    /// Its position has been put in the manifest this run.
    pub recorded: bool,
    /// How this input's timestamps were found, and its fallbacks.
    pub ts: FileTimestamps,
    /// Its pipeline (`IngestOptions::hook`), fed its entries in order.
    pub processor: Option<Box<dyn super::hook::EntryProcessor>>,
}

/// One contiguous run of an input's bytes inside a batch.
pub(crate) struct Piece {
    pub cursor: usize,
    /// The piece's bytes in the batch arena.
    pub range: std::ops::Range<usize>,
    /// Input offsets the piece covers (more than `range` when a long line was
    /// cut).
    pub start_offset: u64,
    pub end_offset: u64,
    /// Line numbers of its first line and of the line after it.
    pub first_line: u64,
    pub end_line: u64,
    /// Lines of the piece cut while read: (line number, bytes skipped).
    pub long_lines: Vec<(u64, u64)>,
}

impl Piece {
    /// Lines in the piece.
    pub fn lines(&self) -> u64 {
        self.end_line - self.first_line
    }
}

impl Cursor {
    /// The position after everything handed out so far.
    pub fn position(&self) -> Option<(String, Position)> {
        let (key, id) = (self.key.clone()?, self.identity?);
        Some((
            key.clone(),
            Position {
                dev: id.dev,
                ino: id.ino,
                offset: self.offset,
                size: id.size,
                head_len: self.head.0,
                head_hash: self.head.1,
                last_ts: self.carry_ts,
                line: self.line_no,
                tail_len: self.tail.0,
                tail_hash: self.tail.1,
                name: (self.name != key).then(|| self.name.clone()),
            },
        ))
    }

    /// True when nothing more will come out of it.
    pub fn done(&self) -> bool {
        self.eof && (self.pending.is_empty() || self.held)
    }

    /// Stops reading it (after a read error): what was handed out stays,
    /// the rest is left for another run.
    pub fn abandon(&mut self) {
        self.eof = true;
        self.pending.clear();
        self.pending_dropped = 0;
    }
}

/// What opening an input gave.
pub(crate) enum Opened {
    /// Ready to read.
    Cursor(Box<Cursor>),
    /// The file changed between planning and opening (rotated during the
    /// run): left for the next run, with this note.
    Moved(String),
}

/// An input opened at the point reading starts.
struct Source {
    reader: Box<dyn Read + Send>,
    /// Bytes already read from `reader` at `offset`.
    pending: Vec<u8>,
    offset: u64,
    head: (u64, u64),
    tail: (u64, u64),
    identity: Option<FileIdentity>,
    /// Nothing more to read.
    eof: bool,
    /// Read from its start after all (the planned position did not hold).
    restarted: bool,
}

impl Source {
    /// `reader` at its start; `first` its first bytes (hashed as its head).
    fn at_start(
        reader: Box<dyn Read + Send>,
        first: &[u8],
        identity: Option<FileIdentity>,
    ) -> Source {
        let head_len = first.len().min(HEAD_LEN as usize);
        Source {
            reader,
            pending: Vec::new(),
            offset: 0,
            head: (head_len as u64, source::hash(&first[..head_len])),
            tail: (0, 0),
            identity,
            eof: false,
            restarted: false,
        }
    }

    /// A stream (stdin, a FIFO): no position, its start checked for NULs.
    fn stream(
        mut reader: Box<dyn Read + Send>,
        opts: &IngestOptions,
        shown: &str,
    ) -> Result<Source, String> {
        let pending = sniff(&mut *reader, opts, shown)?;
        let mut src = Source::at_start(reader, &pending, None);
        src.pending = pending;
        Ok(src)
    }
}

/// Opens a planned input at its start position: checks that it is the file
/// planned, that its decoded start holds no NUL byte (unless `--binary`),
/// and skips what earlier runs stored.
pub(crate) fn open(
    item: &Planned,
    opts: &IngestOptions,
    mut extractor: TimestampExtractor,
) -> Result<Opened, String> {
    let shown = item.input.display();
    let now_ns = jiff::Timestamp::now().as_nanosecond() as i64;
    let src = match (&item.input, item.id) {
        (Input::Stdin, _) => Source::stream(Box::new(std::io::stdin()), opts, &shown)?,
        (Input::File(path), None) => {
            let file = File::open(path).map_err(|e| format!("{shown}: cannot open: {e}"))?;
            Source::stream(Box::new(file), opts, &shown)?
        }
        (Input::File(path), Some(planned)) => {
            let file = match File::open(path) {
                Ok(f) => f,
                // Renamed away since it was planned: the next run finds it.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Ok(Opened::Moved(format!(
                        "{shown}: renamed or removed while this run started (rotated?); \
                         a renamed file is read on the next run"
                    )))
                }
                Err(e) => return Err(format!("{shown}: cannot open: {e}")),
            };
            let id = source::identity(&file).map_err(|e| format!("{shown}: cannot stat: {e}"))?;
            if !id.same_inode(&planned) {
                return Ok(Opened::Moved(format!(
                    "{shown}: replaced while this run started (rotated?); it is read on the next run"
                )));
            }
            if item.compression == Compression::None {
                let src = open_plain(file, id, &item.start, opts, &shown)?;
                if src.restarted {
                    // The plan checked this position on this file: it no
                    // longer holds, so the file was truncated since
                    // (`copytruncate`). Reading it from its start under this
                    // position's key would drop the position its copy is
                    // recognised by, and the copy would be read again; the
                    // next run plans both.
                    return Ok(Opened::Moved(format!(
                        "{shown}: truncated while this run started (rotated?); it is read on the next run"
                    )));
                }
                src
            } else {
                drop(file);
                open_compressed(path, id, item.compression, &item.start, opts, &shown)?
            }
        }
    };
    // When the planned position no longer holds on a compressed file
    // (another file with the same head) the file is new: its own name, and
    // no copies of another file's content.
    let (start, name, copies) = if src.restarted {
        (Start::Fresh, shown.clone(), Vec::new())
    } else {
        (item.start.clone(), item.name.clone(), item.copies.clone())
    };
    let Source {
        mut reader,
        pending,
        offset,
        head,
        tail,
        identity,
        eof,
        ..
    } = src;
    let (line_no, carry_ts) = match &start {
        Start::Resume(p) => (p.line.max(1), p.last_ts),
        Start::Fresh => (1, None),
    };
    let (labels, processor) = match opts.hook.as_ref().and_then(|h| h.open(&name)) {
        Some(t) => (super::labels::hook_labels(t.labels, opts), t.processor),
        None => (super::labels::input_labels(&item.input, &name, opts), None),
    };
    if opts.format == InputFormat::Auto {
        validate_labels(&labels, &opts.limits).map_err(|e| format!("{shown}: {e}"))?;
    }
    let reference_ns = identity.map_or(now_ns, |id| id.mtime_ns);
    extractor.set_reference(reference_ns);
    let (pending, ts) = learn_timestamps(
        reader.as_mut(),
        pending,
        &mut extractor,
        opts,
        &shown,
        line_no,
    )?;
    // A push body is read whole: it has no "last line" to wait for.
    // With a timeout (`--follow`), a last line left unterminated that long
    // is taken as it is: the writer is not coming back to end it.
    let stale = match (opts.partial_line_timeout, identity) {
        (Some(t), Some(id)) => {
            now_ns.saturating_sub(id.mtime_ns) >= i64::try_from(t.as_nanos()).unwrap_or(i64::MAX)
        }
        _ => false,
    };
    let live = item.live && name == item.name && opts.format != InputFormat::LokiPush && !stale;
    Ok(Opened::Cursor(Box::new(Cursor {
        key: identity.map(|_| shown.clone()),
        input: item.input.clone(),
        name,
        labels,
        reader,
        read_pos: offset + pending.len() as u64,
        last_read: usize::MAX / 4,
        pending,
        pending_dropped: 0,
        offset,
        line_no,
        eof,
        live,
        held: false,
        identity,
        head,
        tail,
        carry_ts,
        reference_ns,
        extractor,
        long_lines: Vec::new(),
        copies,
        recorded: false,
        ts,
        processor,
    })))
}

/// Reads the head of a line input ahead (after what is already pending) and
/// learns its timestamps from it (`clock::learn`); the head goes back as the
/// cursor's pending bytes. logcli and push inputs carry a time per entry.
fn learn_timestamps(
    reader: &mut (dyn Read + Send),
    mut pending: Vec<u8>,
    ex: &mut TimestampExtractor,
    opts: &IngestOptions,
    shown: &str,
    line_no: u64,
) -> Result<(Vec<u8>, FileTimestamps), String> {
    let mut ts = FileTimestamps {
        file: shown.to_string(),
        ..FileTimestamps::default()
    };
    if opts.format != InputFormat::Auto {
        ts.format = "the entries' own".into();
        return Ok((pending, ts));
    }
    let (more, eof) = clock::read_head(reader).map_err(|e| format!("{shown}: cannot read: {e}"))?;
    pending.extend_from_slice(&more);
    clock::learn(ex, &pending, eof, shown, line_no)?;
    ts.format = ex.describe();
    Ok((pending, ts))
}

/// A plain file at the planned position, checked again (the file may have
/// been truncated since planning; then it is read from its start).
fn open_plain(
    mut file: File,
    id: FileIdentity,
    start: &Start,
    opts: &IngestOptions,
    shown: &str,
) -> Result<Source, String> {
    let read_err = |e: std::io::Error| format!("{shown}: cannot read: {e}");
    let mut first = vec![0u8; BINARY_SNIFF];
    let n = source::read_at(&file, 0, &mut first).map_err(read_err)?;
    first.truncate(n);
    check_binary(&first, opts, shown)?;
    let mut src = Source::at_start(Box::new(std::io::empty()), &first, Some(id));
    if let Start::Resume(p) = start {
        let hash_at = |at: u64, len: u64| source::hash_at(&file, at, len).ok().flatten();
        let head_ok = p.head_len == 0 || hash_at(0, p.head_len) == Some(p.head_hash);
        let tail_ok = p.tail_len == 0
            || (p.tail_len <= p.offset
                && hash_at(p.offset - p.tail_len, p.tail_len) == Some(p.tail_hash));
        if id.size >= p.offset && head_ok && tail_ok {
            src.offset = p.offset;
            src.tail = (p.tail_len, p.tail_hash);
            file.seek(SeekFrom::Start(p.offset)).map_err(read_err)?;
        } else {
            src.restarted = true;
        }
    }
    src.reader = Box::new(file);
    Ok(src)
}

/// A compressed file decoded up to the planned position, checking on the
/// way that the bytes before it are the ones the position recorded. A copy
/// shorter than the position has nothing new; one that differs there is
/// another file, read from its start.
fn open_compressed(
    path: &std::path::Path,
    id: FileIdentity,
    compression: Compression,
    start: &Start,
    opts: &IngestOptions,
    shown: &str,
) -> Result<Source, String> {
    let open_decoded = || -> Result<(Box<dyn Read + Send>, Vec<u8>), String> {
        let f = File::open(path).map_err(|e| format!("{shown}: cannot open: {e}"))?;
        let mut r = source::open_reader(f, compression)
            .map_err(|e| format!("{shown}: cannot read: {e}"))?;
        let prefix = sniff(&mut *r, opts, shown)?;
        Ok((r, prefix))
    };
    let (reader, mut prefix) = open_decoded()?;
    let mut src = Source::at_start(reader, &prefix, Some(id));
    if let Start::Resume(p) = start {
        let (skipped, tail) = skip_decoded(&mut *src.reader, &mut prefix, p, shown)?;
        if skipped < p.offset {
            // A copy shorter than what was read: nothing new, and its
            // position stays where the content was read to (a copy's
            // position is the content's, `follow`).
            src.offset = p.offset;
            src.tail = (p.tail_len, p.tail_hash);
            src.eof = true;
        } else if p.tail_len == 0 || source::hash(&tail) == p.tail_hash {
            src.offset = p.offset;
            src.tail = (p.tail_len, p.tail_hash);
        } else {
            src.restarted = true;
            (src.reader, prefix) = open_decoded()?;
        }
    }
    src.pending = prefix;
    Ok(src)
}

/// Reads the first [`BINARY_SNIFF`] bytes of a stream and refuses it if
/// they hold a NUL byte (unless `--binary`); returns them.
fn sniff(r: &mut dyn Read, opts: &IngestOptions, shown: &str) -> Result<Vec<u8>, String> {
    let prefix = source::read_up_to(r, BINARY_SNIFF)
        .map_err(|e| format!("{shown}: read error at byte 0: {e}"))?;
    check_binary(&prefix, opts, shown)?;
    Ok(prefix)
}

fn check_binary(first: &[u8], opts: &IngestOptions, shown: &str) -> Result<(), String> {
    if opts.binary {
        return Ok(());
    }
    match memchr::memchr(0, first) {
        Some(off) => Err(format!(
            "{shown}: looks binary (NUL byte at offset {off}); skipped. Use --binary to ingest it anyway"
        )),
        None => Ok(()),
    }
}

/// Skips a decoded stream to `p.offset`, `prefix` holding its first bytes
/// (what is left of it after the offset stays in it). Returns how far it
/// got and the `p.tail_len` bytes before that point.
fn skip_decoded(
    r: &mut dyn Read,
    prefix: &mut Vec<u8>,
    p: &Position,
    shown: &str,
) -> Result<(u64, Vec<u8>), String> {
    let want_tail = (p.tail_len.max(HEAD_LEN)) as usize;
    if p.offset <= prefix.len() as u64 {
        let at = p.offset as usize;
        let tail = prefix[at.saturating_sub(p.tail_len as usize)..at].to_vec();
        prefix.drain(..at);
        return Ok((p.offset, tail));
    }
    let s = source::skip_to(r, p.offset - prefix.len() as u64, want_tail)
        .map_err(|e| format!("{shown}: cannot resume at byte {}: {e}", p.offset))?;
    let mut tail = std::mem::take(prefix);
    tail.extend_from_slice(&s.tail);
    let skipped = tail.len() as u64 - s.tail.len() as u64 + s.skipped;
    let keep = if skipped < p.offset {
        want_tail
    } else {
        p.tail_len as usize
    };
    tail.drain(..tail.len().saturating_sub(keep));
    Ok((skipped, tail))
}

/// Reads up to about `budget` bytes of memory (bytes, `line_cost` per line:
/// [`LINE_COST`] and with a pipeline a share of [`STREAM_COST`], and
/// [`STREAM_COST`] per stream new to `streams`, the batch's) of whole lines;
/// a piece holds at least one line unless the input ended. With
/// `--multiline-start` the cut is made before the last line that starts an
/// entry, so an entry never straddles two batches.
#[allow(clippy::too_many_arguments)]
pub(crate) fn read_piece(
    c: &mut Cursor,
    ci: usize,
    budget: usize,
    line_cost: usize,
    streams: &mut StreamCounter,
    opts: &IngestOptions,
    arena: &mut Vec<u8>,
) -> Result<Option<Piece>, String> {
    if c.done() {
        return Ok(None);
    }
    let whole = opts.format == InputFormat::LokiPush;
    let logcli = opts.format == InputFormat::Logcli;
    let streams_before = streams.len();
    if opts.format == InputFormat::Auto {
        // A line input is one stream (a pipeline's labels are charged from
        // the previous batch's share: they are only known once it ran).
        let mut key = Vec::new();
        for (n, v) in c.labels.pairs() {
            key.extend_from_slice(n.as_bytes());
            key.push(0);
            key.extend_from_slice(v.as_bytes());
            key.push(0);
        }
        streams.see(&key);
    }
    let cap = if whole { usize::MAX } else { line_cap(opts) };
    let base = arena.len();
    // Taken, not cleared: the learned head (64 KiB) must not stay allocated
    // for every input of a run.
    arena.extend_from_slice(&std::mem::take(&mut c.pending));
    let start_offset = c.offset;
    let first_line = c.line_no;
    // The line being read: where it starts, and its bytes skipped so far.
    let mut line_start = base + memchr::memrchr(b'\n', &arena[base..]).map_or(0, |i| i + 1);
    let mut has_newline = line_start > base;
    let mut dropped = std::mem::take(&mut c.pending_dropped);
    let mut newlines = memchr::memchr_iter(b'\n', &arena[base..]).count();
    // Newlines before `counted` are numbered (to name cut lines).
    let (mut counted, mut counted_lines) = (base, 0usize);
    let line_of = |arena: &[u8], at: usize, counted: &mut usize, counted_lines: &mut usize| {
        *counted_lines += memchr::memchr_iter(b'\n', &arena[*counted..at]).count();
        *counted = at;
        first_line + *counted_lines as u64
    };
    let used = |arena: &Vec<u8>, newlines: usize, streams: &StreamCounter| {
        (arena.len() - base) + newlines * line_cost + (streams.len() - streams_before) * STREAM_COST
    };
    // Whole lines before `scanned` have had their streams counted.
    let mut scanned = base;
    loop {
        if logcli && line_start > scanned {
            streams.see_logcli(&arena[scanned..line_start]);
            scanned = line_start;
        }
        if has_newline && !whole && used(arena, newlines, streams) >= budget {
            match &opts.multiline_start {
                None => break,
                // A batch that holds other pieces ends before an entry that
                // has not ended yet; one that holds nothing else reads on
                // until it does (at most `multiline_max_lines` lines).
                Some(re)
                    if base > 0
                        || cut_point(
                            &arena[base..line_start],
                            Some(re),
                            opts.multiline_max_lines,
                        ) > 0 =>
                {
                    break
                }
                Some(_) => {}
            }
        }
        if c.eof {
            break;
        }
        // Reads of an eighth of what the budget has left (so short lines
        // cannot overshoot it by much), 64 KiB to 4 MiB; a source that
        // hands out little per read (a pipe fed line by line) gets small
        // buffers, which are zeroed before each read.
        let left = budget.saturating_sub(used(arena, newlines, streams));
        let want = (left / 8)
            .clamp(64 << 10, 4 << 20)
            .min((c.last_read * 2).max(4 << 10));
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
                        c.read_pos
                    ));
                }
            }
        };
        arena.truncate(old + n);
        c.read_pos += n as u64;
        c.last_read = n;
        if n == 0 {
            c.eof = true;
            break;
        }
        let mut from = old;
        if dropped > 0 {
            // Inside an over-long line: skip to its end.
            match memchr::memchr(b'\n', &arena[old..]) {
                None => {
                    dropped += n as u64;
                    arena.truncate(old);
                    continue;
                }
                Some(j) => {
                    dropped += j as u64;
                    arena.drain(old..old + j);
                    let no = line_of(arena, line_start, &mut counted, &mut counted_lines);
                    c.long_lines.push((no, dropped));
                    dropped = 0;
                    from = old;
                }
            }
        }
        newlines += memchr::memchr_iter(b'\n', &arena[from..]).count();
        if let Some(i) = memchr::memrchr(b'\n', &arena[from..]) {
            line_start = from + i + 1;
            has_newline = true;
        }
        if arena.len() - line_start > cap {
            dropped = (arena.len() - line_start - cap) as u64;
            arena.truncate(line_start + cap);
        }
        if whole && arena.len() - base > opts.batch_bytes {
            arena.truncate(base);
            return Err(format!(
                "{}: a Loki push body over --batch-size ({} bytes) cannot be read whole; split it or raise --batch-size",
                c.input.display(),
                opts.batch_bytes
            ));
        }
    }
    let complete_end = line_start;
    if whole {
        let n = streams.see_push(&arena[base..]);
        if base > 0 && used(arena, newlines, streams) > budget {
            // A body is read whole, its streams known only then: one that
            // does not fit beside the batch's other pieces opens the next.
            streams.unkeyed -= n;
            c.pending = arena.split_off(base);
            return Ok(None);
        }
    }
    let mut take_all = c.eof;
    if c.eof && c.live && (arena.len() > complete_end || dropped > 0) {
        // Hold back the unterminated last line of a live file.
        c.held = true;
        take_all = false;
    }
    if take_all {
        if logcli && arena.len() > scanned {
            // The input's unterminated last line.
            streams.see_logcli(&arena[scanned..]);
        }
        if dropped > 0 {
            let no = line_of(arena, line_start, &mut counted, &mut counted_lines);
            c.long_lines.push((no, dropped));
        }
    } else {
        let cut = if c.held {
            complete_end
        } else {
            base + cut_point(
                &arena[base..complete_end],
                opts.multiline_start.as_ref(),
                opts.multiline_max_lines,
            )
        };
        c.pending.extend_from_slice(&arena[cut..]);
        newlines -= memchr::memchr_iter(b'\n', &c.pending).count();
        c.pending_dropped = dropped;
        arena.truncate(cut);
    }
    if arena.len() == base {
        return Ok(None);
    }
    let end_line = first_line + newlines as u64;
    let split = if take_all {
        c.long_lines.len()
    } else {
        c.long_lines.partition_point(|&(no, _)| no < end_line)
    };
    let long_lines: Vec<(u64, u64)> = c.long_lines.drain(..split).collect();
    // The tail hash covers input bytes that are in the arena back to back:
    // it starts after the last cut line (whose skipped bytes are missing).
    let end = arena.len();
    let mut tail_start = base.max(end.saturating_sub(HEAD_LEN as usize));
    if let Some(&(last_cut, _)) = long_lines.last() {
        let nth = (last_cut - first_line) as usize;
        tail_start = match memchr::memchr_iter(b'\n', &arena[base..end]).nth(nth) {
            Some(i) => tail_start.max(base + i),
            None => end, // the unterminated last line was cut
        };
    }
    let tail = &arena[tail_start..end];
    let piece_tail = (tail.len() as u64, source::hash(tail));
    // What the piece holds plus what was skipped of its cut lines (the
    // lines left for the next piece may have been cut too).
    let skipped: u64 = long_lines.iter().map(|&(_, n)| n).sum();
    let end_offset = start_offset + (arena.len() - base) as u64 + skipped;
    c.offset = end_offset;
    c.line_no = end_line;
    c.tail = piece_tail;
    Ok(Some(Piece {
        cursor: ci,
        range: base..arena.len(),
        start_offset,
        end_offset,
        first_line,
        end_line,
        long_lines,
    }))
}

/// Where to end a piece of whole lines (`data` ends with a newline): after
/// its last line, or with multiline entries before the last line that starts
/// an entry — 0 when no line after the first starts one (the piece holds
/// one entry that may not have ended), unless it has `max_lines` lines or
/// more (an entry ends there anyway).
pub(crate) fn cut_point(data: &[u8], multiline: Option<&Regex>, max_lines: usize) -> usize {
    let last_nl = match memchr::memrchr(b'\n', data) {
        Some(i) => i + 1,
        None => return data.len(),
    };
    let Some(re) = multiline else { return last_nl };
    // Walk lines backwards from the end of the complete part.
    let mut end = last_nl.saturating_sub(1);
    let mut lines = 1;
    loop {
        let start = memchr::memrchr(b'\n', &data[..end]).map_or(0, |i| i + 1);
        if start == 0 {
            return if lines >= max_lines { last_nl } else { 0 };
        }
        let line = strip_cr(&data[start..end]);
        if re.is_match(&String::from_utf8_lossy(line)) {
            return start;
        }
        end = start - 1;
        lines += 1;
    }
}

/// A line without its trailing `\r` (CRLF files).
#[inline]
pub(crate) fn strip_cr(line: &[u8]) -> &[u8] {
    match line.last() {
        Some(b'\r') => &line[..line.len() - 1],
        _ => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Hands out at most `n` bytes per read, as pipes and decoders may.
    struct Trickle(std::io::Cursor<Vec<u8>>, usize);
    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.1);
            self.0.read(&mut buf[..n])
        }
    }

    /// A cursor over `data` at its start, as `open` makes one, reading at
    /// most `chunk` bytes at a time.
    fn cursor(data: Vec<u8>, live: bool, chunk: usize) -> Cursor {
        Cursor {
            input: Input::Stdin,
            key: None,
            name: "t".into(),
            labels: Labels::default(),
            reader: Box::new(Trickle(std::io::Cursor::new(data), chunk)),
            pending: Vec::new(),
            pending_dropped: 0,
            read_pos: 0,
            last_read: usize::MAX / 4,
            offset: 0,
            line_no: 1,
            eof: false,
            live,
            held: false,
            identity: None,
            head: (0, 0),
            tail: (0, 0),
            carry_ts: None,
            reference_ns: 0,
            extractor: TimestampExtractor::new(&Default::default()).unwrap(),
            ts: FileTimestamps::default(),
            long_lines: Vec::new(),
            copies: Vec::new(),
            recorded: false,
            processor: None,
        }
    }

    /// Reads all of `data` in pieces of about `budget`; returns the lines
    /// handed out (as the parser splits them) with the bytes skipped of each,
    /// and checks that offsets and line numbers run on without gaps.
    fn read_all(
        data: &[u8],
        budget: usize,
        opts: &IngestOptions,
        live: bool,
        chunk: usize,
    ) -> (Vec<(Vec<u8>, u64)>, Cursor) {
        let mut c = cursor(data.to_vec(), live, chunk);
        let mut out = Vec::new();
        let (mut offset, mut line) = (0, 1);
        let mut full = false;
        loop {
            // Pieces start anywhere in the arena; after "nothing fitted" the
            // caller flushes and offers an empty batch.
            let mut arena = vec![b'#'; if full { 0 } else { 3 }];
            let mut streams = StreamCounter::default();
            match read_piece(&mut c, 0, budget, LINE_COST, &mut streams, opts, &mut arena).unwrap()
            {
                None if !c.done() => {
                    assert!(!full, "an empty batch takes a piece");
                    full = true;
                    continue;
                }
                None => break,
                Some(p) => {
                    assert_eq!((p.start_offset, p.first_line), (offset, line));
                    let bytes = &arena[p.range.clone()];
                    if let Some(re) = &opts.multiline_start {
                        // No entry straddles two pieces.
                        let first = bytes.split(|&b| b == b'\n').next().unwrap();
                        assert!(
                            re.is_match(&String::from_utf8_lossy(first)),
                            "piece starts mid-entry"
                        );
                    }
                    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
                    if bytes.ends_with(b"\n") {
                        lines.pop();
                    }
                    for (no, l) in (p.first_line..).zip(lines) {
                        let skipped = p
                            .long_lines
                            .iter()
                            .find(|(n, _)| *n == no)
                            .map_or(0, |x| x.1);
                        out.push((l.to_vec(), skipped));
                    }
                    let kept: u64 = bytes.len() as u64;
                    let dropped: u64 = p.long_lines.iter().map(|x| x.1).sum();
                    assert_eq!(p.end_offset - p.start_offset, kept + dropped);
                    assert_eq!(
                        p.end_line,
                        p.first_line + memchr::memchr_iter(b'\n', bytes).count() as u64
                    );
                    full = false;
                    offset = p.end_offset;
                    line = p.end_line;
                    // The tail hash is of the input's real bytes before the offset.
                    let (len, hash) = c.tail;
                    let at = offset as usize;
                    assert!(len as usize <= at);
                    assert_eq!(
                        source::hash(&data[at - len as usize..at]),
                        hash,
                        "tail at {at}"
                    );
                }
            }
            if c.done() {
                break;
            }
        }
        assert_eq!((c.offset, c.line_no), (offset, line));
        (out, c)
    }

    fn opts(max: usize) -> IngestOptions {
        let mut o = IngestOptions::default();
        o.limits.max_line_size = max;
        o
    }

    #[test]
    fn a_long_line_is_cut_while_read_and_counted() {
        let mut data = b"short\n".to_vec();
        data.extend(vec![b'x'; 100_000]);
        data.extend(b"\nafter\n");
        let (lines, c) = read_all(&data, 1000, &opts(10), false, 4096);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], (b"short".to_vec(), 0));
        assert_eq!(lines[1].0, vec![b'x'; 12]);
        assert_eq!(lines[1].1, 100_000 - 12);
        assert_eq!(lines[2], (b"after".to_vec(), 0));
        assert_eq!(c.offset, data.len() as u64);
    }

    #[test]
    fn a_live_input_holds_back_its_unterminated_line() {
        let data = b"one\ntwo\nthr".to_vec();
        let (lines, c) = read_all(&data, 2, &opts(100), true, 3);
        assert_eq!(lines, [(b"one".to_vec(), 0), (b"two".to_vec(), 0)]);
        assert_eq!(c.offset, 8);
        assert!(c.done());
        let (lines, c) = read_all(&data, 2, &opts(100), false, 3);
        assert_eq!(lines.len(), 3);
        assert_eq!(c.offset, 11);
    }

    #[test]
    fn streams_are_counted_by_what_names_them() {
        let mut c = StreamCounter::default();
        c.see_logcli(
            br#"{"labels":{"a":"1"},"line":"x","timestamp":"t"}
{"labels":{"a":"2"},"line":"x","timestamp":"t"}
{"labels":{"a":"1"},"line":"y","timestamp":"u"}
{"line":"z","labels":{"a":"2"},"timestamp":"t"}
{"line":"no labels"}"#,
        );
        // The same object in a record of another key order is the same
        // stream; a record without one is a stream of its own.
        assert_eq!(c.len(), 3);
        let n = c.see_push(
            br#"{"streams":[{"stream":{"a":"1"},"values":[["1","\"stream\": x"]]},{"stream" : {"a":"2"},"values":[]}]}"#,
        );
        assert_eq!((n, c.len()), (2, 5));
        c.clear();
        assert_eq!(c.len(), 0);
    }

    /// A batch of logcli records stops at its streams' charge, not only at
    /// its bytes: 100 records of 100 streams take more of the budget than
    /// 100 records of one.
    #[test]
    fn a_piece_is_cut_by_its_streams() {
        let records = |streams: usize| -> Vec<u8> {
            (0..100)
                .map(|i| {
                    format!(
                        "{{\"labels\":{{\"pod\":\"p{}\"}},\"line\":\"l\",\"timestamp\":\"2024-05-01T00:00:00Z\"}}\n",
                        i % streams
                    )
                })
                .collect::<String>()
                .into_bytes()
        };
        let o = IngestOptions {
            format: InputFormat::Logcli,
            ..IngestOptions::default()
        };
        let lines_of = |data: Vec<u8>| {
            let len = data.len();
            // Reads of 256 bytes: the budget is checked after each.
            let mut c = cursor(data, false, 256);
            let mut streams = StreamCounter::default();
            let mut arena = Vec::new();
            let budget = len + 100 * LINE_COST + 20 * STREAM_COST;
            let p = read_piece(&mut c, 0, budget, LINE_COST, &mut streams, &o, &mut arena)
                .unwrap()
                .unwrap();
            (p.lines(), streams.len())
        };
        assert_eq!(lines_of(records(1)), (100, 1));
        let (lines, streams) = lines_of(records(100));
        assert!(
            lines < 100 && streams as u64 >= lines,
            "{lines} lines, {streams} streams"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 150, ..ProptestConfig::default() })]

        /// Whatever the line lengths and the budget, every line comes out
        /// once, in order — whole, or (when it spans reads) cut to the cap
        /// with the rest counted; offsets and line numbers have no gaps; a
        /// live input stops before its unterminated last line.
        #[test]
        fn pieces_hand_out_every_line_once(
            lens in proptest::collection::vec(0usize..300, 0..60),
            terminated in any::<bool>(),
            live in any::<bool>(),
            budget in 1usize..400,
            max in 1usize..120,
            multiline in any::<bool>(),
            chunk in prop_oneof![1usize..8, 8usize..200, Just(1 << 20)],
        ) {
            let mut data = Vec::new();
            let mut want: Vec<Vec<u8>> = Vec::new();
            let cap = max + 2;
            for (i, &n) in lens.iter().enumerate() {
                let start = if multiline && i % 3 != 0 { b' ' } else { b'S' };
                let line: Vec<u8> = std::iter::once(start)
                    .chain((0..n).map(|j| b'a' + ((i + j) % 26) as u8))
                    .collect();
                data.extend(&line);
                let last = i + 1 == lens.len();
                if !last || terminated {
                    data.push(b'\n');
                }
                if last && !terminated && live {
                    break;
                }
                want.push(line);
            }
            let mut o = opts(max);
            if multiline {
                o.multiline_start = Some(Regex::new("^S").unwrap());
            }
            let (got, c) = read_all(&data, budget, &o, live, chunk);
            prop_assert_eq!(got.len(), want.len());
            for ((kept, skipped), line) in got.iter().zip(&want) {
                if *skipped == 0 {
                    prop_assert_eq!(kept, line);
                } else {
                    prop_assert_eq!(&kept[..], &line[..cap]);
                    prop_assert_eq!(*skipped as usize, line.len() - cap);
                }
            }
            let held = live && !terminated && !lens.is_empty();
            let end = if held {
                memchr::memrchr(b'\n', &data).map_or(0, |i| i + 1)
            } else {
                data.len()
            };
            prop_assert_eq!(c.offset, end as u64);
        }
    }
}
