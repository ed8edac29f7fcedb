//! The day index file: encoding ([`build_day_index`]) and the memory-mapped
//! reader ([`DayIndex`]). The byte layout is documented in `ARCHITECTURE.md`
//! ("Label index"); in short:
//!
//! ```text
//! header    16 B  "LOKALIDX" | format version u32 | flags u32 (0)
//! symbols         (n_symbols + 1) × u32 offsets into the blob, then the blob:
//!                 sorted unique label names and values, back to back
//! segments        n_segments × u64: the segment ids covered, ascending
//! series_offsets  (n_series + 1) × u64 offsets into series data
//! series_times    n_series × (min_t i64, max_t i64)
//! series data     per series (varints): labels as symbol refs, fingerprint,
//!                 chunks per segment with every block's metadata
//! postings_table  n_postings × (name ref u32, value ref u32, offset u64),
//!                 sorted by (name, value)
//! postings data   per (name, value): count, then series ids delta-encoded
//! names           n_names × (name ref u32, first postings_table row u32)
//! toc       176 B day i64, 5 counts u64, 8 sections (offset u64, len u64)
//! trailer    16 B xxh3-64 of every byte before it | version u32 | "LKIX"
//! ```
//!
//! Fixed-width tables make every lookup a binary search over the map, so
//! opening an index costs one checksum pass and nothing is parsed up front.

use std::collections::{BinaryHeap, HashMap, HashSet};
use std::convert::Infallible;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::chunk::{BlockMeta, StreamChunk};
use crate::logql::{MatchOp, Matcher};
use crate::model::Labels;
use crate::time::NANOS_PER_DAY;
use crate::varint::{self, Reader};

use super::IndexError;

/// Magic at the start of every index file.
pub const MAGIC: &[u8; 8] = b"LOKALIDX";
/// Magic at the very end of every index file.
pub const TRAILER_MAGIC: &[u8; 4] = b"LKIX";
/// Current index format version (written); 1 and 2 are read.
pub const FORMAT_VERSION: u32 = 2;

const HEADER_LEN: usize = 16;
/// Format 1's TOC: day, 5 counts, 8 sections.
const N_COUNTS_V1: usize = 5;
const N_SECTIONS_V1: usize = 8;
const TOC_LEN: usize = 8 + 8 * N_COUNTS_V1 + 16 * N_SECTIONS_V1;
/// Format 2's TOC: day, time unit, 6 counts, 10 sections.
const N_COUNTS: usize = 6;
const N_SECTIONS: usize = 10;
const TOC_LEN_V2: usize = 16 + 8 * N_COUNTS + 16 * N_SECTIONS;
const TRAILER_LEN: usize = 16;

// Section numbers in the TOC.
const S_SYMBOLS: usize = 0;
const S_SEGMENTS: usize = 1;
const S_SERIES_OFFSETS: usize = 2;
const S_SERIES_TIMES: usize = 3;
const S_SERIES: usize = 4;
const S_POSTINGS_TABLE: usize = 5;
const S_POSTINGS: usize = 6;
const S_NAMES: usize = 7;
// Format 2 only.
const S_FRAME_STARTS: usize = 8;
const S_FRAMES: usize = 9;

// Counts in the TOC.
const C_SYMBOLS: usize = 0;
const C_SEGMENTS: usize = 1;
const C_SERIES: usize = 2;
const C_POSTINGS: usize = 3;
const C_NAMES: usize = 4;
// Format 2 only.
const C_FRAMES: usize = 5;

const POSTING_ROW_V1: usize = 16;
/// Format 2 postings row: value symbol u32, list reference u32.
const POSTING_ROW: usize = 8;
const NAME_ROW: usize = 8;
/// Format 2 block row: offset u64, len u32, raw_len u32, entries u32, xxh3 u64.
const FRAME_ROW: usize = 28;
/// A format 2 list reference with this bit set is the list's only series.
const SINGLE: u32 = 1 << 31;
/// Format 2 series records per page: each page is one zstd frame, so a
/// lookup decompresses a few KB, and records cost a third of their raw
/// size (they repeat each other's shape).
const SERIES_PAGE: usize = 64;
/// zstd level of the series pages.
const SERIES_PAGE_LEVEL: i32 = 3;

/// A series of one day index: its position in label order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesRef(pub u32);

/// One segment's blocks of a series, as recorded in the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedChunk {
    /// The segment holding the blocks.
    pub segment_id: u64,
    /// The blocks, in time order: enough to read them without the footer.
    pub blocks: Vec<BlockMeta>,
}

/// Builds the index of one UTC day (`day`: days since the epoch) from the
/// footers of that day's segments, given as `(segment id, chunks)`, in the
/// current format (2). [`build_day_index_from`] does the work; this is its
/// form for footers already in memory (`lokal check`, tests).
pub fn build_day_index(day: i64, segments: &[(u64, &[StreamChunk])]) -> Vec<u8> {
    let mut segs: Vec<(u64, &[StreamChunk])> = segments.to_vec();
    segs.sort_by_key(|s| s.0);
    segs.dedup_by_key(|s| s.0);
    let ids: Vec<u64> = segs.iter().map(|s| s.0).collect();
    let open =
        |i: usize| -> Result<std::vec::IntoIter<Result<StreamChunk, Infallible>>, Infallible> {
            Ok(segs[i]
                .1
                .iter()
                .cloned()
                .map(Ok)
                .collect::<Vec<_>>()
                .into_iter())
        };
    match build_day_index_from(day, &ids, open) {
        Ok((bytes, _)) => bytes,
        Err(e) => match e {},
    }
}

/// The next chunk with blocks of a segment's streams.
fn next_chunk<E>(
    it: &mut dyn Iterator<Item = Result<StreamChunk, E>>,
) -> Result<Option<StreamChunk>, E> {
    for c in it {
        let c = c?;
        if !c.blocks.is_empty() {
            return Ok(Some(c));
        }
    }
    Ok(None)
}

/// One segment's streams in label order during the merge: the current one
/// and the rest.
struct Head<I> {
    chunk: StreamChunk,
    seg: usize,
    rest: I,
}

impl<I> PartialEq for Head<I> {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == std::cmp::Ordering::Equal
    }
}
impl<I> Eq for Head<I> {}
impl<I> PartialOrd for Head<I> {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl<I> Ord for Head<I> {
    /// Reversed, for a min-heap: the smallest labels, then segment, first.
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (&o.chunk.labels, o.seg).cmp(&(&self.chunk.labels, self.seg))
    }
}

/// Builds the index of one UTC day from its segments' footers read one
/// stream at a time: `ids` are the segment ids (ascending, unique) and
/// `open(i)` starts reading segment `ids[i]`'s chunk list. Returns the
/// file and its number of series.
///
/// Memory follows the day's distinct label values, series records and
/// postings, not the footers: the footers are read twice — once for the
/// label symbols, time unit and blocks, once merging the segments' streams
/// in label order (a heap over one stream per segment) — and a footer not
/// in label order (format 1, hand-made) is held and sorted alone. The
/// output is deterministic for a given input set: series are sorted by
/// labels, chunks by segment id.
pub fn build_day_index_from<I, E, F>(
    day: i64,
    ids: &[u64],
    mut open: F,
) -> Result<(Vec<u8>, u64), E>
where
    I: Iterator<Item = Result<StreamChunk, E>>,
    F: FnMut(usize) -> Result<I, E>,
{
    // Pass 1: symbols, the time unit, each segment's blocks, and which
    // footers are in label order.
    let day_start = day.wrapping_mul(NANOS_PER_DAY);
    let mut unit_exp = 18u32;
    let mut fit = |v: u64| {
        if v > i64::MAX as u64 {
            // Only exact in wrapping arithmetic at unit 1.
            unit_exp = 0;
        }
        while unit_exp > 0 && !v.is_multiple_of(10u64.pow(unit_exp)) {
            unit_exp -= 1;
        }
    };
    let mut seen: HashSet<String> = HashSet::new();
    let mut frames: Vec<Vec<BlockMeta>> = Vec::with_capacity(ids.len());
    let mut sorted = vec![true; ids.len()];
    for (si, in_order) in sorted.iter_mut().enumerate() {
        let mut f: Vec<BlockMeta> = Vec::new();
        let mut prev: Option<Labels> = None;
        for c in open(si)? {
            let c = c?;
            if c.blocks.is_empty() {
                continue;
            }
            for (n, v) in c.labels.pairs() {
                for x in [n, v] {
                    if !seen.contains(x.as_str()) {
                        seen.insert(x.clone());
                    }
                }
            }
            for b in &c.blocks {
                fit(b.min_t.wrapping_sub(day_start).unsigned_abs());
                fit(b.max_t.wrapping_sub(b.min_t) as u64);
                if f.last().is_none_or(|l: &BlockMeta| l.offset != b.offset) {
                    f.push(b.clone());
                }
            }
            if prev.as_ref().is_some_and(|p| *p > c.labels) {
                *in_order = false;
            }
            prev = Some(c.labels);
        }
        f.sort_by_key(|b| b.offset);
        f.dedup_by_key(|b| b.offset);
        frames.push(f);
    }
    let frame_row = |si: usize, offset: u64| -> u64 {
        frames[si].partition_point(|b| b.offset < offset) as u64
    };

    // Symbols: every name and value, sorted, so that symbol order is string
    // order and postings sorted by refs are sorted by strings.
    let mut symbols: Vec<String> = seen.into_iter().collect();
    symbols.sort_unstable();
    let sym_ref: HashMap<&str, u32> = symbols
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i as u32))
        .collect();
    let unit = 10u64.pow(unit_exp);
    let put_t = |out: &mut Vec<u8>, t: i64, from: i64| {
        // Exact: `unit` divides the difference.
        varint::put_i64(out, t.wrapping_sub(from) / unit as i64);
    };

    // Pass 2: the segments' streams merged in label order, then segment.
    type Rest<'a, E> = Box<dyn Iterator<Item = Result<StreamChunk, E>> + 'a>;
    let mut heap: BinaryHeap<Head<Rest<'_, E>>> = BinaryHeap::new();
    for (si, in_order) in sorted.iter().enumerate() {
        let mut rest: Rest<'_, E> = if *in_order {
            Box::new(open(si)?)
        } else {
            let mut all = open(si)?.collect::<Result<Vec<_>, E>>()?;
            all.sort_by(|a, b| a.labels.cmp(&b.labels));
            Box::new(all.into_iter().map(Ok))
        };
        if let Some(chunk) = next_chunk(&mut rest)? {
            heap.push(Head {
                chunk,
                seg: si,
                rest,
            });
        }
    }
    // Series records into their own buffer, so the offsets table can
    // precede them; (name, value, series) triples for the postings.
    let mut data = Vec::new();
    let mut offsets: Vec<u32> = Vec::new();
    let mut triples: Vec<(u32, u32, u32)> = Vec::new();
    let mut group: Vec<(usize, StreamChunk)> = Vec::new();
    // The records of the page being filled, and where each starts in it.
    let mut page: Vec<u8> = Vec::new();
    let mut page_offsets: Vec<u32> = Vec::new();
    let mut n_series = 0usize;
    let flush_page =
        |data: &mut Vec<u8>, offsets: &mut Vec<u32>, page: &mut Vec<u8>, at: &mut Vec<u32>| {
            if at.is_empty() {
                return;
            }
            at.push(page.len() as u32);
            let mut raw = Vec::with_capacity(4 * at.len() + page.len());
            for o in at.iter() {
                raw.extend_from_slice(&o.to_le_bytes());
            }
            raw.extend_from_slice(page);
            assert!(
                data.len() <= u32::MAX as usize,
                "series records exceed 4 GiB in one day"
            );
            offsets.push(data.len() as u32);
            data.extend_from_slice(
                &crate::chunk::block::compress_bytes(&raw, SERIES_PAGE_LEVEL)
                    .expect("zstd compresses into memory"),
            );
            page.clear();
            at.clear();
        };
    loop {
        // The next series: every head with the smallest labels.
        let Some(mut h) = heap.pop() else { break };
        group.clear();
        loop {
            let next = next_chunk(&mut h.rest)?;
            let seg = h.seg;
            let chunk = match next {
                Some(n) => {
                    let c = std::mem::replace(&mut h.chunk, n);
                    heap.push(h);
                    c
                }
                None => h.chunk,
            };
            group.push((seg, chunk));
            match heap.peek() {
                Some(p) if p.chunk.labels == group[0].1.labels => h = heap.pop().expect("peeked"),
                _ => break,
            }
        }
        let labels = &group[0].1.labels;
        let sid = n_series as u32;
        n_series += 1;
        assert!(n_series < SINGLE as usize, "too many series in one day");
        if page_offsets.len() == SERIES_PAGE {
            flush_page(&mut data, &mut offsets, &mut page, &mut page_offsets);
        }
        page_offsets.push(page.len() as u32);
        let data = &mut page;
        varint::put_u64(data, labels.len() as u64);
        for (n, v) in labels.pairs() {
            let (n, v) = (sym_ref[n.as_str()], sym_ref[v.as_str()]);
            varint::put_u64(data, u64::from(n));
            varint::put_u64(data, u64::from(v));
            triples.push((n, v, sid));
        }
        let runs = group.iter().flat_map(|c| c.1.blocks.iter());
        let lo = runs.clone().map(|b| b.min_t).min().unwrap_or(0);
        let hi = runs.map(|b| b.max_t).max().unwrap_or(0);
        put_t(data, lo, day_start);
        put_t(data, hi, lo);
        varint::put_u64(data, group.len() as u64);
        for (si, c) in &group {
            varint::put_u64(data, *si as u64);
            varint::put_u64(data, c.blocks.len() as u64);
            let mut prev = 0u64;
            for b in &c.blocks {
                let f = frame_row(*si, b.offset);
                varint::put_i64(data, f.wrapping_sub(prev) as i64);
                prev = f;
                varint::put_u64(data, u64::from(b.first));
                varint::put_u64(data, u64::from(b.entries));
                varint::put_u64(data, b.line_bytes);
                put_t(data, b.min_t, lo);
                put_t(data, b.max_t, b.min_t);
            }
        }
    }
    flush_page(&mut data, &mut offsets, &mut page, &mut page_offsets);
    offsets.push(data.len() as u32);

    let mut out = Vec::with_capacity(
        4096 + data.len() + 4 * offsets.len() + 12 * triples.len() + symbols.len() * 16,
    );
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    let mut sections = [(HEADER_LEN as u64, 0u64); N_SECTIONS];
    let begin = |out: &Vec<u8>| out.len() as u64;

    // Symbols.
    let start = begin(&out);
    let mut off = 0u64;
    for s in &symbols {
        out.extend_from_slice(&(off as u32).to_le_bytes());
        off += s.len() as u64;
    }
    assert!(
        off <= u64::from(u32::MAX),
        "label symbols exceed 4 GiB in one day"
    );
    out.extend_from_slice(&(off as u32).to_le_bytes());
    for s in &symbols {
        out.extend_from_slice(s.as_bytes());
    }
    sections[S_SYMBOLS] = (start, out.len() as u64 - start);

    // Segments, and their blocks.
    let start = begin(&out);
    for id in ids {
        out.extend_from_slice(&id.to_le_bytes());
    }
    sections[S_SEGMENTS] = (start, out.len() as u64 - start);
    let start = begin(&out);
    let mut row = 0u32;
    for f in &frames {
        out.extend_from_slice(&row.to_le_bytes());
        row += f.len() as u32;
    }
    out.extend_from_slice(&row.to_le_bytes());
    sections[S_FRAME_STARTS] = (start, out.len() as u64 - start);
    let start = begin(&out);
    for b in frames.iter().flatten() {
        out.extend_from_slice(&b.offset.to_le_bytes());
        out.extend_from_slice(&b.len.to_le_bytes());
        out.extend_from_slice(&b.raw_len.to_le_bytes());
        out.extend_from_slice(&b.frame_entries.to_le_bytes());
        out.extend_from_slice(&b.checksum.to_le_bytes());
    }
    sections[S_FRAMES] = (start, out.len() as u64 - start);

    let start = begin(&out);
    for o in &offsets {
        out.extend_from_slice(&o.to_le_bytes());
    }
    sections[S_SERIES_OFFSETS] = (start, out.len() as u64 - start);
    let start = begin(&out);
    out.extend_from_slice(&data);
    sections[S_SERIES] = (start, out.len() as u64 - start);
    drop(data);

    // Postings: lists first (buffered), then the table pointing into them;
    // a value of one series keeps it in the table row.
    triples.sort_unstable();
    let mut lists = Vec::new();
    let mut table = Vec::new();
    let mut names: Vec<(u32, u32)> = Vec::new();
    let mut n_postings = 0u32;
    let mut i = 0;
    while i < triples.len() {
        let (n, v, _) = triples[i];
        let mut j = i + 1;
        while j < triples.len() && triples[j].0 == n && triples[j].1 == v {
            j += 1;
        }
        if names.last().is_none_or(|l| l.0 != n) {
            names.push((n, n_postings));
        }
        table.extend_from_slice(&v.to_le_bytes());
        if j - i == 1 {
            table.extend_from_slice(&(SINGLE | triples[i].2).to_le_bytes());
        } else {
            assert!(
                lists.len() < SINGLE as usize,
                "postings exceed 2 GiB in one day"
            );
            table.extend_from_slice(&(lists.len() as u32).to_le_bytes());
            varint::put_u64(&mut lists, (j - i) as u64);
            let mut prev = 0u32;
            for &(_, _, id) in &triples[i..j] {
                varint::put_u64(&mut lists, u64::from(id - prev));
                prev = id;
            }
        }
        n_postings += 1;
        i = j;
    }
    let start = begin(&out);
    out.extend_from_slice(&table);
    sections[S_POSTINGS_TABLE] = (start, out.len() as u64 - start);
    let start = begin(&out);
    out.extend_from_slice(&lists);
    sections[S_POSTINGS] = (start, out.len() as u64 - start);
    let start = begin(&out);
    for (n, row) in &names {
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&row.to_le_bytes());
    }
    sections[S_NAMES] = (start, out.len() as u64 - start);

    // TOC and trailer.
    out.extend_from_slice(&day.to_le_bytes());
    out.extend_from_slice(&u64::from(unit_exp).to_le_bytes());
    let mut counts = [0usize; N_COUNTS];
    counts[C_SYMBOLS] = symbols.len();
    counts[C_SEGMENTS] = ids.len();
    counts[C_SERIES] = n_series;
    counts[C_POSTINGS] = n_postings as usize;
    counts[C_NAMES] = names.len();
    counts[C_FRAMES] = row as usize;
    for c in counts {
        out.extend_from_slice(&(c as u64).to_le_bytes());
    }
    for (o, l) in sections {
        out.extend_from_slice(&o.to_le_bytes());
        out.extend_from_slice(&l.to_le_bytes());
    }
    let sum = xxhash_rust::xxh3::xxh3_64(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(TRAILER_MAGIC);
    Ok((out, n_series as u64))
}

/// The values a `=~`/`!~` regex matches when it is an alternation of
/// plain literals (`pod-1|pod-2`, as Grafana's multi-value variables write
/// them): regexes are anchored, so it matches exactly those strings, and a
/// selection looks each up instead of testing every value of the label
/// (Prometheus' `FindSetMatches`). `None` for anything else.
fn literal_alternatives(m: &Matcher) -> Option<Vec<&str>> {
    if !matches!(m.op, MatchOp::Re | MatchOp::Nre) {
        return None;
    }
    const META: &[u8] = b"\\.+*?()[]{}^$";
    if m.value.bytes().any(|b| META.contains(&b)) {
        return None;
    }
    let values: Vec<&str> = m.value.split('|').collect();
    // A stray check that the reading is right: each literal matches itself.
    values
        .iter()
        .all(|v| m.matches(v) == (m.op == MatchOp::Re))
        .then_some(values)
}

/// A decompressed series page: `(index id, page)` and its bytes.
type CachedPage = (Option<(u64, usize)>, Vec<u8>);

/// Ids of opened indexes.
static NEXT_INDEX: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

thread_local! {
    /// The last series page decompressed on this thread: `(index id, page)`
    /// and its bytes (a query walks series in order, page after page).
    static SERIES_PAGE_CACHE: std::cell::RefCell<CachedPage> =
        const { std::cell::RefCell::new((None, Vec::new())) };
}

thread_local! {
    /// This thread's zstd context for series pages: making one per page
    /// cost a metric over a million series a tenth of its time.
    static PAGE_DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

/// Most bytes a series page may decompress to: a damaged frame header
/// cannot make a lookup allocate more.
const MAX_PAGE_BYTES: u64 = 64 << 20;

/// Decompresses one series page (a zstd frame; the builder's record their
/// size) into `buf`; leaves `buf` empty when the frame is damaged, so that
/// lookups read nothing from it.
fn decompress_page(frame: &[u8], buf: &mut Vec<u8>) {
    buf.clear();
    let size = match zstd::zstd_safe::get_frame_content_size(frame) {
        Ok(Some(size)) => size,
        Ok(None) => {
            // No size in the header: stream it.
            use std::io::Read;
            let read = zstd::stream::read::Decoder::new(frame)
                .map(|d| d.take(MAX_PAGE_BYTES).read_to_end(buf));
            if !matches!(read, Ok(Ok(_))) {
                buf.clear();
            }
            return;
        }
        Err(_) => return,
    };
    if size > MAX_PAGE_BYTES {
        return;
    }
    buf.reserve(size as usize);
    let ok = PAGE_DECOMPRESSOR.with(|d| {
        let mut d = d.borrow_mut();
        if d.is_none() {
            *d = zstd::bulk::Decompressor::new().ok();
        }
        d.as_mut()
            .is_some_and(|d| d.decompress_to_buffer(frame, buf).is_ok())
    });
    if !ok || buf.len() as u64 != size {
        buf.clear();
    }
}

/// A memory-mapped day index, checked on open.
pub struct DayIndex {
    path: PathBuf,
    map: Mmap,
    /// Unique per opened index, so pages cached per thread are told apart.
    id: u64,
    day: i64,
    /// 1 or 2.
    version: u32,
    /// Format 2: times are in units of this many ns.
    unit: i64,
    /// Counts and sections by the format 2 numbering (format 1 files have
    /// no blocks table and no `S_FRAME*` sections).
    counts: [usize; N_COUNTS],
    sections: [(usize, usize); N_SECTIONS],
    segments: Vec<u64>,
}

impl std::fmt::Debug for DayIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DayIndex")
            .field("path", &self.path)
            .field("series", &self.series_count())
            .finish()
    }
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |s| u32::from_le_bytes(s.try_into().unwrap()))
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8)
        .map_or(0, |s| u64::from_le_bytes(s.try_into().unwrap()))
}

impl DayIndex {
    /// Maps `path`, checks magics, version, checksum of the whole file and
    /// that every section lies inside it. Errors name the file.
    pub fn open(path: &Path) -> Result<DayIndex, IndexError> {
        let corrupt = |what: String| IndexError::Corrupt {
            path: path.to_path_buf(),
            what,
        };
        let io = |source| IndexError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = crate::file::open_regular(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len() as usize;
        if len < HEADER_LEN + TOC_LEN + TRAILER_LEN {
            return Err(corrupt("file too short to be an index".into()));
        }
        // SAFETY: index files are immutable once renamed into place (a rebuild
        // writes a new file), and unlinking keeps the mapping valid.
        let map = unsafe { Mmap::map(&file) }.map_err(io)?;
        if map.len() != len || &map[..8] != MAGIC {
            return Err(corrupt("not a lokal index (bad magic)".into()));
        }
        let t = map.len() - TRAILER_LEN;
        if &map[t + 12..] != TRAILER_MAGIC {
            return Err(corrupt("bad trailer magic (file truncated?)".into()));
        }
        let version = le_u32(&map, t + 8).max(le_u32(&map, 8));
        if version > FORMAT_VERSION {
            return Err(IndexError::Version {
                path: path.to_path_buf(),
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        if xxhash_rust::xxh3::xxh3_64(&map[..t]) != le_u64(&map, t) {
            return Err(corrupt("checksum mismatch".into()));
        }
        let v2 = version >= 2;
        let (n_counts, n_sections, toc_len) = if v2 {
            (N_COUNTS, N_SECTIONS, TOC_LEN_V2)
        } else {
            (N_COUNTS_V1, N_SECTIONS_V1, TOC_LEN)
        };
        if t < HEADER_LEN + toc_len {
            return Err(corrupt("file too short to be an index".into()));
        }
        let toc = t - toc_len;
        let day = le_u64(&map, toc) as i64;
        let fields = if v2 { toc + 16 } else { toc + 8 };
        let unit_exp = if v2 { le_u64(&map, toc + 8) } else { 0 };
        if unit_exp > 18 {
            return Err(corrupt("bad time unit".into()));
        }
        let mut counts = [0usize; N_COUNTS];
        for (i, c) in counts.iter_mut().enumerate().take(n_counts) {
            *c = usize::try_from(le_u64(&map, fields + 8 * i))
                .map_err(|_| corrupt("count out of range".into()))?;
        }
        let mut sections = [(HEADER_LEN, 0usize); N_SECTIONS];
        for (i, s) in sections.iter_mut().enumerate().take(n_sections) {
            let at = fields + 8 * n_counts + 16 * i;
            let (o, l) = (le_u64(&map, at), le_u64(&map, at + 8));
            if o < HEADER_LEN as u64 || o.checked_add(l).is_none_or(|e| e > toc as u64) {
                return Err(corrupt(format!("section {i} outside the file")));
            }
            *s = (o as usize, l as usize);
        }
        // Fixed-width sections must have exactly their rows.
        let need = |s: usize, n: Option<usize>| -> Result<(), IndexError> {
            if n != Some(sections[s].1) {
                return Err(corrupt(format!("section {s} has the wrong length")));
            }
            Ok(())
        };
        let c = counts;
        // Counts come from the file: `+ 1` must not wrap (a count of
        // usize::MAX would pass as 0 rows and then be iterated).
        let plus_one = |n: usize| n.checked_add(1);
        if plus_one(c[C_SYMBOLS])
            .and_then(|n| n.checked_mul(4))
            .is_none_or(|need| sections[S_SYMBOLS].1 < need)
        {
            return Err(corrupt("symbol table truncated".into()));
        }
        need(S_SEGMENTS, c[C_SEGMENTS].checked_mul(8))?;
        need(S_NAMES, c[C_NAMES].checked_mul(NAME_ROW))?;
        if v2 {
            need(
                S_SERIES_OFFSETS,
                plus_one(c[C_SERIES].div_ceil(SERIES_PAGE)).and_then(|n| n.checked_mul(4)),
            )?;
            need(S_POSTINGS_TABLE, c[C_POSTINGS].checked_mul(POSTING_ROW))?;
            need(
                S_FRAME_STARTS,
                plus_one(c[C_SEGMENTS]).and_then(|n| n.checked_mul(4)),
            )?;
            need(S_FRAMES, c[C_FRAMES].checked_mul(FRAME_ROW))?;
            if c[C_SERIES] >= SINGLE as usize {
                return Err(corrupt("series count out of range".into()));
            }
        } else {
            need(
                S_SERIES_OFFSETS,
                plus_one(c[C_SERIES]).and_then(|n| n.checked_mul(8)),
            )?;
            need(S_SERIES_TIMES, c[C_SERIES].checked_mul(16))?;
            need(S_POSTINGS_TABLE, c[C_POSTINGS].checked_mul(POSTING_ROW_V1))?;
        }
        let segments = (0..c[C_SEGMENTS])
            .map(|i| le_u64(&map, sections[S_SEGMENTS].0 + 8 * i))
            .collect();
        Ok(DayIndex {
            path: path.to_path_buf(),
            map,
            id: NEXT_INDEX.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            day,
            version: if v2 { 2 } else { 1 },
            unit: 10i64.pow(unit_exp as u32),
            counts,
            sections,
            segments,
        })
    }

    /// The file's format version (1 or 2).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The whole file, as mapped (`lokal check` compares it with a fresh
    /// build from the footers).
    pub fn as_bytes(&self) -> &[u8] {
        &self.map
    }

    /// The file this index was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The UTC day (days since the epoch) the index covers.
    pub fn day(&self) -> i64 {
        self.day
    }

    /// The segment ids the index was built from, ascending.
    pub fn segments(&self) -> &[u64] {
        &self.segments
    }

    /// Number of series (distinct label sets).
    pub fn series_count(&self) -> usize {
        self.counts[C_SERIES]
    }

    /// Every series, in label order.
    pub fn all_series(&self) -> impl Iterator<Item = SeriesRef> {
        (0..self.series_count() as u32).map(SeriesRef)
    }

    fn section(&self, s: usize) -> &[u8] {
        let (o, l) = self.sections[s];
        &self.map[o..o + l]
    }

    fn symbol(&self, i: u32) -> &str {
        let sec = self.section(S_SYMBOLS);
        let n = self.counts[C_SYMBOLS];
        let i = i as usize;
        if i >= n {
            return "";
        }
        let blob = &sec[(n + 1) * 4..];
        let (a, b) = (le_u32(sec, i * 4) as usize, le_u32(sec, i * 4 + 4) as usize);
        blob.get(a..b)
            .and_then(|s| std::str::from_utf8(s).ok())
            .unwrap_or("")
    }

    /// The ref of `s`, by binary search over the sorted symbols.
    fn find_symbol(&self, s: &str) -> Option<u32> {
        let (mut lo, mut hi) = (0usize, self.counts[C_SYMBOLS]);
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.symbol(mid as u32).cmp(s) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid as u32),
            }
        }
        None
    }

    /// Row `row` of the postings table: (name symbol, value symbol, list
    /// reference). Format 2 rows hold no name (the names table gives each
    /// name's rows): it reads as 0.
    fn posting_row(&self, row: usize) -> (u32, u32, usize) {
        let t = self.section(S_POSTINGS_TABLE);
        if self.version >= 2 {
            let at = row * POSTING_ROW;
            return (0, le_u32(t, at), le_u32(t, at + 4) as usize);
        }
        let at = row * POSTING_ROW_V1;
        (le_u32(t, at), le_u32(t, at + 4), le_u64(t, at + 8) as usize)
    }

    fn posting_list(&self, row: usize) -> Vec<u32> {
        let it = self.posting_iter(row);
        let mut out = Vec::with_capacity(it.left + usize::from(it.single.is_some()));
        out.extend(it);
        out
    }

    /// The series ids of postings row `row`, decoded as they are read
    /// (nothing allocated), ascending; stops at the first id a damaged
    /// list would put out of range.
    fn posting_iter(&self, row: usize) -> Postings<'_> {
        let (_, _, off) = self.posting_row(row);
        let n_series = self.series_count() as u64;
        if self.version >= 2 && off & SINGLE as usize != 0 {
            // A singleton: the row holds the id itself.
            let id = (off & !(SINGLE as usize)) as u64;
            return Postings {
                r: Reader::new(&[]),
                left: 0,
                cur: 0,
                n_series,
                single: (id < n_series).then_some(id as u32),
            };
        }
        let data = self.section(S_POSTINGS);
        let mut r = Reader::new(data.get(off..).unwrap_or_default());
        let left = r.usize().unwrap_or(0).min(self.series_count());
        Postings {
            r,
            left,
            cur: 0,
            n_series,
            single: None,
        }
    }

    /// The postings table rows of label `name`: one per value, in value order.
    fn name_rows(&self, name: &str) -> std::ops::Range<usize> {
        let Some(sym) = self.find_symbol(name) else {
            return 0..0;
        };
        let t = self.section(S_NAMES);
        let n = self.counts[C_NAMES];
        let (mut lo, mut hi) = (0usize, n);
        while lo < hi {
            let mid = (lo + hi) / 2;
            match le_u32(t, mid * NAME_ROW).cmp(&sym) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => {
                    let start = le_u32(t, mid * NAME_ROW + 4) as usize;
                    let end = if mid + 1 < n {
                        le_u32(t, (mid + 1) * NAME_ROW + 4) as usize
                    } else {
                        self.counts[C_POSTINGS]
                    };
                    return start.min(end)..end.min(self.counts[C_POSTINGS]);
                }
            }
        }
        0..0
    }

    /// Label names present in this day, sorted.
    pub fn label_names(&self) -> Vec<String> {
        let t = self.section(S_NAMES);
        (0..self.counts[C_NAMES])
            .map(|i| self.symbol(le_u32(t, i * NAME_ROW)).to_string())
            .collect()
    }

    /// Values of label `name` in this day, sorted.
    pub fn label_values(&self, name: &str) -> Vec<String> {
        self.name_rows(name)
            .map(|r| self.symbol(self.posting_row(r).1).to_string())
            .collect()
    }

    /// Every value of label `name` in this day, in value order, each with
    /// the series carrying it (ascending, decoded lazily): what a label
    /// lookup over part of a day walks, stopping at the first series in
    /// range, instead of decoding every series of the day.
    pub fn value_postings(
        &self,
        name: &str,
    ) -> impl Iterator<Item = (&str, impl Iterator<Item = SeriesRef> + '_)> + '_ {
        self.name_rows(name).map(move |r| {
            (
                self.symbol(self.posting_row(r).1),
                self.posting_iter(r).map(SeriesRef),
            )
        })
    }

    /// Series carrying `name="value"`, ascending.
    pub fn postings(&self, name: &str, value: &str) -> Vec<SeriesRef> {
        self.value_rows(name, value)
            .map(|r| self.posting_list(r).into_iter().map(SeriesRef).collect())
            .unwrap_or_default()
    }

    fn value_rows(&self, name: &str, value: &str) -> Option<usize> {
        let rows = self.name_rows(name);
        let vsym = self.find_symbol(value)?;
        let (mut lo, mut hi) = (rows.start, rows.end);
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.posting_row(mid).1.cmp(&vsym) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }

    /// Union of the postings of `name="v"` for each of `values`: one
    /// binary search each, however many values the name has.
    fn union_of(&self, name: &str, values: &[&str]) -> Vec<u32> {
        let mut out = Vec::new();
        for v in values {
            if let Some(r) = self.value_rows(name, v) {
                out.extend(self.posting_list(r));
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Union of the postings of every value of `m.name` for which `keep`
    /// says so.
    fn union_where(&self, name: &str, mut keep: impl FnMut(&str) -> bool) -> Vec<u32> {
        let mut out = Vec::new();
        for r in self.name_rows(name) {
            if keep(self.symbol(self.posting_row(r).1)) {
                out.extend(self.posting_list(r));
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Series whose labels satisfy every matcher, ascending (label order).
    ///
    /// A matcher that accepts the empty string also accepts series lacking
    /// the label (Prometheus semantics): it is applied by subtracting the
    /// series whose value it rejects. Every other matcher intersects the
    /// union of the postings of the values it accepts.
    pub fn select(&self, matchers: &[Matcher]) -> Vec<SeriesRef> {
        let mut include: Vec<Vec<u32>> = Vec::new();
        let mut exclude: Vec<Vec<u32>> = Vec::new();
        for m in matchers {
            if m.matches("") {
                let rejected = match (m.op, literal_alternatives(m)) {
                    // `name!="v"`: exactly the series with name="v".
                    (MatchOp::Neq, _) => self
                        .value_rows(&m.name, &m.value)
                        .map(|r| self.posting_list(r))
                        .unwrap_or_default(),
                    (MatchOp::Nre, Some(values)) => self.union_of(&m.name, &values),
                    _ => self.union_where(&m.name, |v| !m.matches(v)),
                };
                exclude.push(rejected);
            } else {
                let accepted = match (m.op, literal_alternatives(m)) {
                    (MatchOp::Eq, _) => self
                        .value_rows(&m.name, &m.value)
                        .map(|r| self.posting_list(r))
                        .unwrap_or_default(),
                    (MatchOp::Re, Some(values)) => self.union_of(&m.name, &values),
                    _ => self.union_where(&m.name, |v| m.matches(v)),
                };
                if accepted.is_empty() {
                    return Vec::new();
                }
                include.push(accepted);
            }
        }
        include.sort_by_key(|v| v.len());
        let mut cur: Vec<u32> = match include.first() {
            Some(first) => first.clone(),
            None => (0..self.series_count() as u32).collect(),
        };
        for other in include.iter().skip(1) {
            cur = intersect(&cur, other);
            if cur.is_empty() {
                return Vec::new();
            }
        }
        for ex in &exclude {
            if !ex.is_empty() {
                cur = subtract(&cur, ex);
            }
        }
        cur.into_iter().map(SeriesRef).collect()
    }

    /// Runs `f` on the record of series `s` (empty when out of range or
    /// damaged). Format 2 records live in zstd pages; the page last read
    /// on this thread is kept.
    fn with_record<T>(&self, s: &SeriesRef, f: impl FnOnce(Reader<'_>) -> T) -> T {
        let i = s.0 as usize;
        if i >= self.series_count() {
            return f(Reader::new(&[]));
        }
        let offs = self.section(S_SERIES_OFFSETS);
        if self.version < 2 {
            let (a, b) = (
                le_u64(offs, i * 8) as usize,
                le_u64(offs, i * 8 + 8) as usize,
            );
            return f(Reader::new(
                self.section(S_SERIES).get(a..b).unwrap_or_default(),
            ));
        }
        let page = i / SERIES_PAGE;
        let key = (self.id, page);
        // Taken out while `f` runs, so that `f` may look up series too.
        let (cached, mut buf) = SERIES_PAGE_CACHE.with(|c| std::mem::take(&mut *c.borrow_mut()));
        if cached != Some(key) {
            buf.clear();
            let (a, b) = (
                le_u32(offs, page * 4) as usize,
                le_u32(offs, page * 4 + 4) as usize,
            );
            let frame = self.section(S_SERIES).get(a..b).unwrap_or_default();
            decompress_page(frame, &mut buf);
        }
        let k = i % SERIES_PAGE;
        let in_page = (self.series_count() - page * SERIES_PAGE).min(SERIES_PAGE);
        let records = 4 * (in_page + 1);
        let (a, b) = (
            records + le_u32(&buf, 4 * k) as usize,
            records + le_u32(&buf, 4 * k + 4) as usize,
        );
        let out = f(Reader::new(buf.get(a..b).unwrap_or_default()));
        SERIES_PAGE_CACHE.with(|c| *c.borrow_mut() = (Some(key), buf));
        out
    }

    /// Skips the labels of a series record; returns the reader at what
    /// follows (format 1: the fingerprint; format 2: the time range).
    fn skip_labels<'a>(mut r: Reader<'a>) -> Reader<'a> {
        let n = r.usize().unwrap_or(0);
        // A damaged count can claim 2^64 labels: stop where the record ends.
        for _ in 0..n {
            if r.u64().is_none() || r.u64().is_none() {
                break;
            }
        }
        r
    }

    /// The labels of a series.
    pub fn labels(&self, s: &SeriesRef) -> Labels {
        self.with_record(s, |mut r| {
            let n = r.usize().unwrap_or(0);
            let mut pairs = Vec::with_capacity(n.min(64));
            for _ in 0..n {
                let (Some(a), Some(b)) = (r.u64(), r.u64()) else {
                    break;
                };
                pairs.push((
                    self.symbol(a as u32).to_string(),
                    self.symbol(b as u32).to_string(),
                ));
            }
            Labels::from_pairs(pairs)
        })
    }

    /// The fingerprint of a series (`labels(s).fingerprint()`; format 1
    /// stores it, format 2 computes it).
    pub fn fingerprint(&self, s: &SeriesRef) -> u64 {
        if self.version >= 2 {
            return self.labels(s).fingerprint();
        }
        self.with_record(s, |r| Self::skip_labels(r).fixed_u64().unwrap_or(0))
    }

    /// A format 2 time: `from` plus `q` units.
    fn time(&self, r: &mut Reader<'_>, from: i64) -> Option<i64> {
        Some(from.wrapping_add(r.i64()?.wrapping_mul(self.unit)))
    }

    /// A format 2 record's time range, read from after its labels.
    fn times_v2(&self, r: &mut Reader<'_>) -> (i64, i64) {
        let day_start = self.day.wrapping_mul(NANOS_PER_DAY);
        let lo = self.time(r, day_start).unwrap_or(0);
        let hi = self.time(r, lo).unwrap_or(0);
        (lo, hi)
    }

    /// Smallest and largest timestamp of a series over all its blocks.
    pub fn series_time(&self, s: &SeriesRef) -> (i64, i64) {
        if self.version >= 2 {
            return self.with_record(s, |r| self.times_v2(&mut Self::skip_labels(r)));
        }
        let t = self.section(S_SERIES_TIMES);
        let at = s.0 as usize * 16;
        (le_u64(t, at) as i64, le_u64(t, at + 8) as i64)
    }

    /// The series' blocks, per segment in segment id order.
    pub fn chunks(&self, s: &SeriesRef) -> Vec<IndexedChunk> {
        if self.version >= 2 {
            return self.with_record(s, |r| self.chunks_v2(Self::skip_labels(r)));
        }
        self.with_record(s, |r| {
            let mut r = Self::skip_labels(r);
            let _ = r.fixed_u64();
            let n = r.usize().unwrap_or(0);
            let mut out = Vec::with_capacity(n.min(1024));
            for _ in 0..n {
                let (Some(si), Some(nb)) = (r.usize(), r.usize()) else {
                    break;
                };
                let Some(&segment_id) = self.segments.get(si) else {
                    break;
                };
                let mut blocks = Vec::with_capacity(nb.min(1 << 16));
                for _ in 0..nb {
                    match BlockMeta::decode(&mut r) {
                        Some(b) => blocks.push(b),
                        None => break,
                    }
                }
                out.push(IndexedChunk { segment_id, blocks });
            }
            out
        })
    }

    /// A format 2 record's chunks, read from after its labels.
    fn chunks_v2(&self, mut r: Reader<'_>) -> Vec<IndexedChunk> {
        let (lo, _) = self.times_v2(&mut r);
        let n = r.usize().unwrap_or(0);
        let starts = self.section(S_FRAME_STARTS);
        let frames = self.section(S_FRAMES);
        let mut out = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            let (Some(si), Some(nb)) = (r.usize(), r.usize()) else {
                break;
            };
            let Some(&segment_id) = self.segments.get(si) else {
                break;
            };
            let (base, end) = (
                le_u32(starts, si * 4) as u64,
                le_u32(starts, si * 4 + 4) as u64,
            );
            let mut blocks = Vec::with_capacity(nb.min(1 << 16));
            let mut prev = 0u64;
            for _ in 0..nb {
                let b = (|| {
                    let f = prev.wrapping_add(r.i64()? as u64);
                    prev = f;
                    let row = base.checked_add(f).filter(|&x| x < end)? as usize;
                    let at = row * FRAME_ROW;
                    let first = u32::try_from(r.u64()?).ok()?;
                    let entries = u32::try_from(r.u64()?).ok()?;
                    let line_bytes = r.u64()?;
                    let min_t = self.time(&mut r, lo)?;
                    let max_t = self.time(&mut r, min_t)?;
                    Some(BlockMeta {
                        offset: le_u64(frames, at),
                        len: le_u32(frames, at + 8),
                        raw_len: le_u32(frames, at + 12),
                        frame_entries: le_u32(frames, at + 16),
                        first,
                        entries,
                        line_bytes,
                        min_t,
                        max_t,
                        checksum: le_u64(frames, at + 20),
                    })
                })();
                match b {
                    Some(b) => blocks.push(b),
                    None => break,
                }
            }
            out.push(IndexedChunk { segment_id, blocks });
        }
        out
    }
}

impl DayIndex {
    /// True when this index says exactly what the footers `segments` say:
    /// the same series in label order with the same blocks per segment,
    /// and postings that find each series by each of its labels. For an
    /// index of an older format, which a fresh build (always the current
    /// format) cannot equal byte for byte (`lokal check`).
    pub fn describes(&self, segments: &[(u64, &[StreamChunk])]) -> bool {
        let mut segs: Vec<(u64, &[StreamChunk])> = segments.to_vec();
        segs.sort_by_key(|s| s.0);
        segs.dedup_by_key(|s| s.0);
        if self.segments() != segs.iter().map(|s| s.0).collect::<Vec<_>>() {
            return false;
        }
        let mut want: Vec<(&Labels, u64, &[BlockMeta])> = segs
            .iter()
            .flat_map(|(id, st)| {
                st.iter()
                    .filter(|s| !s.blocks.is_empty())
                    .map(move |s| (&s.labels, *id, &s.blocks[..]))
            })
            .collect();
        want.sort_by(|a, b| a.0.cmp(b.0).then(a.1.cmp(&b.1)));
        let mut it = want.iter().peekable();
        for s in self.all_series() {
            let labels = self.labels(&s);
            for c in self.chunks(&s) {
                match it.next() {
                    Some((l, id, blocks))
                        if **l == labels && *id == c.segment_id && **blocks == c.blocks[..] => {}
                    _ => return false,
                }
            }
            if it.peek().is_some_and(|(l, _, _)| **l == labels) {
                return false;
            }
            for (n, v) in labels.pairs() {
                if !self.postings(n, v).contains(&s) {
                    return false;
                }
            }
        }
        it.next().is_none()
    }
}

/// A postings list being decoded (see [`DayIndex::posting_iter`]).
struct Postings<'a> {
    r: Reader<'a>,
    left: usize,
    cur: u64,
    n_series: u64,
    /// A singleton list (index format 2), put out first.
    single: Option<u32>,
}

impl Iterator for Postings<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        if let Some(id) = self.single.take() {
            return Some(id);
        }
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let next = self.r.u64().map(|d| self.cur.saturating_add(d));
        match next {
            Some(id) if id < self.n_series => {
                self.cur = id;
                Some(id as u32)
            }
            _ => {
                self.left = 0;
                None
            }
        }
    }
}

fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len().min(b.len()));
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

fn subtract(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len());
    let mut j = 0;
    for &x in a {
        while j < b.len() && b[j] < x {
            j += 1;
        }
        if j >= b.len() || b[j] != x {
            out.push(x);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logql::Span;
    use proptest::prelude::*;

    fn block(offset: u64, min_t: i64, max_t: i64) -> BlockMeta {
        BlockMeta {
            offset,
            len: 100 + offset as u32,
            raw_len: 400,
            frame_entries: 7,
            first: 0,
            entries: 7,
            line_bytes: 350,
            min_t,
            max_t,
            checksum: offset.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        }
    }

    fn chunk(pairs: &[(&str, &str)], blocks: Vec<BlockMeta>) -> StreamChunk {
        let labels = Labels::from_pairs(pairs.iter().map(|(a, b)| (*a, *b)));
        StreamChunk {
            fingerprint: labels.fingerprint(),
            labels,
            blocks,
        }
    }

    fn m(name: &str, op: MatchOp, v: &str) -> Matcher {
        Matcher::new(name, op, v, Span::default()).unwrap()
    }

    /// Found by fuzzing: a TOC count of `usize::MAX` wrapped `count + 1`
    /// to 0 (a panic in debug builds; in release the series table passed
    /// as empty and 2^32 series were then iterated).
    #[test]
    fn a_count_of_usize_max_is_refused() {
        let c = chunk(&[("a", "1")], vec![block(16, 1, 2)]);
        let good = build_day_index(0, &[(1, std::slice::from_ref(&c))]);
        for (count, what) in [
            (C_SYMBOLS, "symbol table truncated"),
            (C_SERIES, "section 2 has the wrong length"),
        ] {
            let mut bytes = good.clone();
            let t = bytes.len() - TRAILER_LEN;
            let at = t - TOC_LEN_V2 + 16 + 8 * count;
            bytes[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
            let sum = xxhash_rust::xxh3::xxh3_64(&bytes[..t]);
            bytes[t..t + 8].copy_from_slice(&sum.to_le_bytes());
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("x.idx");
            std::fs::write(&p, &bytes).unwrap();
            let e = DayIndex::open(&p).unwrap_err().to_string();
            assert!(e.contains(what), "{e}");
        }
    }

    /// Found by fuzzing (`fuzz/fuzz_targets/index_reader.rs`): a series
    /// record whose label count reads as ~2^63 (its first byte turned into
    /// a varint continuation) made `fingerprint` and `chunks` loop for
    /// ever. The index is re-checksummed, so only the count is wrong.
    #[test]
    fn a_huge_label_count_does_not_hang_lookups() {
        let c = chunk(&[("a", "1"), ("b", "2")], vec![block(16, 1, 2)]);
        let mut bytes = build_day_index(0, &[(1, std::slice::from_ref(&c))]);
        let t = bytes.len() - TRAILER_LEN;
        let toc = t - TOC_LEN_V2;
        let at = toc + 16 + 8 * N_COUNTS + 16 * S_SERIES;
        let series = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()) as usize;
        bytes[series] = 0xff;
        for b in &mut bytes[series + 1..series + 8] {
            *b |= 0x80;
        }
        let sum = xxhash_rust::xxh3::xxh3_64(&bytes[..t]);
        bytes[t..t + 8].copy_from_slice(&sum.to_le_bytes());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.idx");
        std::fs::write(&p, &bytes).unwrap();
        let idx = DayIndex::open(&p).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let s = idx.all_series().next().unwrap();
            let _ = (idx.fingerprint(&s), idx.chunks(&s), idx.labels(&s));
            tx.send(()).unwrap();
        });
        rx.recv_timeout(std::time::Duration::from_secs(20))
            .expect("lookups on a damaged series record finish");
    }

    fn write(dir: &Path, bytes: &[u8]) -> PathBuf {
        let p = dir.join("x.idx");
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn round_trip() {
        let s1 = vec![
            chunk(
                &[("app", "api"), ("env", "prod")],
                vec![block(16, 10, 20), block(200, 21, 30)],
            ),
            chunk(&[("app", "web")], vec![block(500, 5, 6)]),
        ];
        let s2 = vec![
            chunk(&[("app", "api"), ("env", "prod")], vec![block(16, 40, 50)]),
            chunk(&[("app", "db"), ("env", "dev\"é")], vec![block(16, 1, 2)]),
        ];
        let bytes = build_day_index(19723, &[(9, &s2), (3, &s1)]);
        let dir = tempfile::tempdir().unwrap();
        let idx = DayIndex::open(&write(dir.path(), &bytes)).unwrap();
        assert_eq!(idx.day(), 19723);
        assert_eq!(idx.segments(), &[3, 9]);
        assert_eq!(idx.series_count(), 3);
        assert_eq!(idx.label_names(), vec!["app", "env"]);
        assert_eq!(idx.label_values("app"), vec!["api", "db", "web"]);
        assert_eq!(idx.label_values("env"), vec!["dev\"é", "prod"]);
        assert!(idx.label_values("nope").is_empty());
        let postings: Vec<(&str, Vec<SeriesRef>)> = idx
            .value_postings("app")
            .map(|(v, s)| (v, s.collect()))
            .collect();
        assert_eq!(
            postings,
            ["api", "db", "web"]
                .iter()
                .map(|v| (*v, idx.postings("app", v)))
                .collect::<Vec<_>>()
        );
        assert_eq!(idx.value_postings("nope").count(), 0);
        let all: Vec<_> = idx.all_series().collect();
        let labels: Vec<Labels> = all.iter().map(|s| idx.labels(s)).collect();
        let mut sorted = labels.clone();
        sorted.sort();
        assert_eq!(labels, sorted, "series are in label order");
        let api = idx.select(&[m("app", MatchOp::Eq, "api")]);
        assert_eq!(api.len(), 1);
        assert_eq!(idx.labels(&api[0]), s1[0].labels);
        assert_eq!(idx.fingerprint(&api[0]), s1[0].fingerprint);
        assert_eq!(idx.series_time(&api[0]), (10, 50));
        assert_eq!(
            idx.chunks(&api[0]),
            vec![
                IndexedChunk {
                    segment_id: 3,
                    blocks: s1[0].blocks.clone()
                },
                IndexedChunk {
                    segment_id: 9,
                    blocks: s2[0].blocks.clone()
                },
            ]
        );
    }

    #[test]
    fn empty_index() {
        let bytes = build_day_index(0, &[]);
        let dir = tempfile::tempdir().unwrap();
        let idx = DayIndex::open(&write(dir.path(), &bytes)).unwrap();
        assert_eq!(idx.series_count(), 0);
        assert!(idx.select(&[]).is_empty());
        assert!(idx.label_names().is_empty());
    }

    #[test]
    fn corruption_is_detected_and_names_the_file() {
        let s = vec![chunk(&[("a", "b")], vec![block(16, 1, 2)])];
        let bytes = build_day_index(1, &[(1, &s)]);
        let dir = tempfile::tempdir().unwrap();
        for i in [0, 20, bytes.len() / 2, bytes.len() - 30, bytes.len() - 1] {
            let mut b = bytes.clone();
            b[i] ^= 0x40;
            let p = write(dir.path(), &b);
            let e = DayIndex::open(&p).unwrap_err().to_string();
            assert!(e.contains(&p.display().to_string()), "{e}");
            assert!(e.contains("corrupt index"), "{e}");
        }
        let p = write(dir.path(), &bytes[..bytes.len() - 7]);
        assert!(DayIndex::open(&p).is_err());
        let p = write(dir.path(), b"");
        assert!(DayIndex::open(&p).is_err());
    }

    #[test]
    fn newer_version_is_refused() {
        let mut bytes = build_day_index(1, &[]);
        let n = bytes.len();
        bytes[n - 8..n - 4].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
        let dir = tempfile::tempdir().unwrap();
        let e = DayIndex::open(&write(dir.path(), &bytes))
            .unwrap_err()
            .to_string();
        assert!(e.contains("upgrade lokal"), "{e}");
    }

    const NAMES: &[&str] = &["app", "env", "host", "zone"];
    const VALUES: &[&str] = &["", "a", "b", "ab", "prod", "x\ny"];
    const PATTERNS: &[&str] = &[
        "",
        "a",
        "a.*",
        ".*",
        ".+",
        "a|b",
        "(?i)A",
        "x.y",
        "[^a]*",
        "b?",
        "a|prod|zz",
        "ab|",
        "|b",
        "x\ny|a",
    ];

    fn arb_labels() -> impl Strategy<Value = Vec<(usize, usize)>> {
        proptest::collection::vec((0..NAMES.len(), 0..VALUES.len()), 0..4)
    }

    fn arb_matcher() -> impl Strategy<Value = Matcher> {
        (0..NAMES.len() + 1, 0..4usize, 0..PATTERNS.len()).prop_map(|(n, op, p)| {
            let name = NAMES.get(n).copied().unwrap_or("missing");
            let op = [MatchOp::Eq, MatchOp::Neq, MatchOp::Re, MatchOp::Nre][op];
            m(name, op, PATTERNS[p])
        })
    }

    proptest! {
        #[test]
        fn select_agrees_with_brute_force(
            streams in proptest::collection::vec(arb_labels(), 0..12),
            matchers in proptest::collection::vec(arb_matcher(), 0..4),
        ) {
            let chunks: Vec<StreamChunk> = streams
                .iter()
                .enumerate()
                .map(|(i, ls)| {
                    let mut pairs: Vec<(&str, &str)> =
                        ls.iter().map(|&(n, v)| (NAMES[n], VALUES[v])).collect();
                    // Make every stream distinct and non-empty.
                    let id = i.to_string();
                    pairs.push(("id", &id));
                    chunk(&pairs, vec![block(16 + i as u64, i as i64, i as i64 + 1)])
                })
                .collect();
            let bytes = build_day_index(5, &[(1, &chunks)]);
            let dir = tempfile::tempdir().unwrap();
            let idx = DayIndex::open(&write(dir.path(), &bytes)).unwrap();
            let mut got: Vec<Labels> = idx.select(&matchers).iter().map(|s| idx.labels(s)).collect();
            got.sort();
            let mut want: Vec<Labels> = chunks
                .iter()
                .filter(|c| matchers.iter().all(|m| m.matches(c.labels.get(&m.name).unwrap_or(""))))
                .map(|c| c.labels.clone())
                .collect();
            want.sort();
            want.dedup();
            prop_assert_eq!(got, want);
        }
    }
}
