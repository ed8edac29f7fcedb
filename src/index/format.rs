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
/// Current index format version (written); 1, 2 and 3 are read.
pub const FORMAT_VERSION: u32 = 3;

const HEADER_LEN: usize = 16;
/// Format 1's TOC: day, 5 counts, 8 sections.
const N_COUNTS_V1: usize = 5;
const N_SECTIONS_V1: usize = 8;
const TOC_LEN: usize = 8 + 8 * N_COUNTS_V1 + 16 * N_SECTIONS_V1;
/// Format 2's TOC: day, time unit, 6 counts, 10 sections.
const N_COUNTS: usize = 6;
const N_SECTIONS_V2: usize = 10;
const TOC_LEN_V2: usize = 16 + 8 * N_COUNTS + 16 * N_SECTIONS_V2;
/// Format 3's TOC: day, time unit, page size (log2), 6 counts, 11 sections.
const N_SECTIONS: usize = 11;
const TOC_LEN_V3: usize = 24 + 8 * N_COUNTS + 16 * N_SECTIONS;
const TRAILER_LEN: usize = 16;
/// Format 3 checks its data in pages of `1 << PAGE_SHIFT` bytes, each
/// verified the first time a read touches it: a lookup of one stream of a
/// million hashes the few pages it reads, not the whole 38 MB file.
const PAGE_SHIFT: u32 = 12;
/// Page sizes a format 3 reader accepts (512 B to 1 MiB).
const PAGE_SHIFTS: std::ops::RangeInclusive<u64> = 9..=20;

// Section numbers in the TOC.
const S_SYMBOLS: usize = 0;
const S_SEGMENTS: usize = 1;
const S_SERIES_OFFSETS: usize = 2;
const S_SERIES_TIMES: usize = 3;
const S_SERIES: usize = 4;
const S_POSTINGS_TABLE: usize = 5;
const S_POSTINGS: usize = 6;
const S_NAMES: usize = 7;
// Format 2 and later.
const S_FRAME_STARTS: usize = 8;
const S_FRAMES: usize = 9;
// Format 3 only.
const S_PAGE_SUMS: usize = 10;

/// What each section holds, by TOC number, for messages.
const SECTION_NAMES: [&str; N_SECTIONS] = [
    "symbols",
    "segments",
    "series offsets",
    "series times",
    "series records",
    "postings table",
    "postings",
    "label names",
    "block starts",
    "blocks",
    "page checksums",
];

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
/// current format (3). [`build_day_index_from`] does the work; this is its
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

    // Page checksums of everything so far, then the TOC; the trailer's
    // checksum covers those two, so opening an index hashes a few KB.
    let start = begin(&out);
    let sums: Vec<u32> = out.chunks(1 << PAGE_SHIFT).map(page_sum).collect();
    for sum in sums {
        out.extend_from_slice(&sum.to_le_bytes());
    }
    sections[S_PAGE_SUMS] = (start, out.len() as u64 - start);
    out.extend_from_slice(&day.to_le_bytes());
    out.extend_from_slice(&u64::from(unit_exp).to_le_bytes());
    out.extend_from_slice(&u64::from(PAGE_SHIFT).to_le_bytes());
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
    let sum = xxhash_rust::xxh3::xxh3_64(&out[start as usize..]);
    out.extend_from_slice(&sum.to_le_bytes());
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(TRAILER_MAGIC);
    Ok((out, n_series as u64))
}

/// Recomputes the checksums of a format 3 index file after an edit — its
/// pages' and its trailer's — so that only the edit is wrong: for tests
/// and the fuzzer, which damage one field and must reach the code that
/// reads it. Leaves anything too short or not of format 3 as it is.
pub fn reseal(bytes: &mut [u8]) {
    let Some(toc) = bytes.len().checked_sub(TRAILER_LEN + TOC_LEN_V3) else {
        return;
    };
    let t = bytes.len() - TRAILER_LEN;
    if le_u32(bytes, t + 8) != 3 {
        return;
    }
    let sums = le_u64(bytes, toc + 24 + 8 * N_COUNTS + 16 * S_PAGE_SUMS) as usize;
    let shift = le_u64(bytes, toc + 16);
    if sums > toc || !PAGE_SHIFTS.contains(&shift) {
        return;
    }
    let pages: Vec<u32> = bytes[..sums].chunks(1 << shift).map(page_sum).collect();
    for (i, p) in pages.iter().enumerate() {
        if let Some(at) = bytes.get_mut(sums + 4 * i..sums + 4 * i + 4) {
            at.copy_from_slice(&p.to_le_bytes());
        }
    }
    let sum = xxhash_rust::xxh3::xxh3_64(&bytes[sums..t]);
    bytes[t..t + 8].copy_from_slice(&sum.to_le_bytes());
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

/// The checksum of one format 3 page: the low half of its xxh3-64.
fn page_sum(page: &[u8]) -> u32 {
    xxhash_rust::xxh3::xxh3_64(page) as u32
}

/// No page found damaged yet.
const UNDAMAGED: usize = usize::MAX;

/// A format 3 file's page checks: which pages have been verified, and the
/// first one found damaged.
struct Pages {
    shift: u32,
    /// Pages cover the bytes before this offset (where their sums start).
    covered: usize,
    /// One bit per page, set once its checksum matched.
    verified: Box<[std::sync::atomic::AtomicU64]>,
    /// The first page whose checksum failed, or [`UNDAMAGED`].
    damaged: std::sync::atomic::AtomicUsize,
}

/// A memory-mapped day index. Opening checks the magics, the version, the
/// table of contents and the sections' bounds. Format 3 verifies the rest
/// page by page as reads first touch it ([`DayIndex::health`]); formats 1
/// and 2 are verified whole on open.
pub struct DayIndex {
    path: PathBuf,
    map: Mmap,
    /// Unique per opened index, so pages cached per thread are told apart.
    id: u64,
    day: i64,
    /// 1, 2 or 3.
    version: u32,
    /// Format 2 and later: times are in units of this many ns.
    unit: i64,
    /// Counts and sections by the format 3 numbering (format 1 files have
    /// no blocks table and no `S_FRAME*` sections, formats 1 and 2 no page
    /// checksums).
    counts: [usize; N_COUNTS],
    sections: [(usize, usize); N_SECTIONS],
    segments: Vec<u64>,
    /// Format 3's page checks; `None` for a file verified whole on open.
    pages: Option<Pages>,
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
    /// Maps `path` and checks magics, version, the table of contents and
    /// that every section lies inside the file: formats 1 and 2 by the
    /// checksum of the whole file, format 3 by the checksum of its page
    /// table and TOC (its pages are verified as they are read). Errors
    /// name the file.
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
        let version = version.max(1);
        let (n_counts, n_sections, toc_len, fields) = match version {
            1 => (N_COUNTS_V1, N_SECTIONS_V1, TOC_LEN, 8),
            2 => (N_COUNTS, N_SECTIONS_V2, TOC_LEN_V2, 16),
            _ => (N_COUNTS, N_SECTIONS, TOC_LEN_V3, 24),
        };
        if t < HEADER_LEN + toc_len {
            return Err(corrupt("file too short to be an index".into()));
        }
        let toc = t - toc_len;
        let at = |i: usize| toc + fields + 8 * n_counts + 16 * i;
        // Format 3: the trailer's checksum covers the page sums and the TOC.
        let checked_from = if version >= 3 {
            let o = le_u64(&map, at(S_PAGE_SUMS)) as usize;
            if o < HEADER_LEN || o > toc {
                return Err(corrupt("page checksums outside the file".into()));
            }
            o
        } else {
            0
        };
        if xxhash_rust::xxh3::xxh3_64(&map[checked_from..t]) != le_u64(&map, t) {
            return Err(corrupt("checksum mismatch".into()));
        }
        let day = le_u64(&map, toc) as i64;
        let unit_exp = if version >= 2 {
            le_u64(&map, toc + 8)
        } else {
            0
        };
        if unit_exp > 18 {
            return Err(corrupt("bad time unit".into()));
        }
        let mut counts = [0usize; N_COUNTS];
        for (i, c) in counts.iter_mut().enumerate().take(n_counts) {
            *c = usize::try_from(le_u64(&map, toc + fields + 8 * i))
                .map_err(|_| corrupt("count out of range".into()))?;
        }
        // Data sections end where the page sums begin (format 3) or at the TOC.
        let data_end = if version >= 3 { checked_from } else { toc };
        let mut sections = [(HEADER_LEN, 0usize); N_SECTIONS];
        for (i, s) in sections.iter_mut().enumerate().take(n_sections) {
            let (o, l) = (le_u64(&map, at(i)), le_u64(&map, at(i) + 8));
            let end = if i == S_PAGE_SUMS { toc } else { data_end };
            if o < HEADER_LEN as u64 || o.checked_add(l).is_none_or(|e| e > end as u64) {
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
        if version >= 2 {
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
        let pages = if version >= 3 {
            let shift = le_u64(&map, toc + 16);
            if !PAGE_SHIFTS.contains(&shift) {
                return Err(corrupt("bad page size".into()));
            }
            let shift = shift as u32;
            let n_pages = checked_from.div_ceil(1 << shift);
            need(S_PAGE_SUMS, n_pages.checked_mul(4))?;
            Some(Pages {
                shift,
                covered: checked_from,
                verified: (0..n_pages.div_ceil(64))
                    .map(|_| std::sync::atomic::AtomicU64::new(0))
                    .collect(),
                damaged: std::sync::atomic::AtomicUsize::new(UNDAMAGED),
            })
        } else {
            None
        };
        let mut idx = DayIndex {
            path: path.to_path_buf(),
            map,
            id: NEXT_INDEX.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            day,
            version,
            unit: 10i64.pow(unit_exp as u32),
            counts,
            sections,
            segments: Vec::new(),
            pages,
        };
        // The header and the segment ids are read now: check them now.
        let (so, sl) = sections[S_SEGMENTS];
        if idx.bytes(0, HEADER_LEN).is_empty() || (sl > 0 && idx.bytes(so, so + sl).is_empty()) {
            return Err(idx
                .health()
                .err()
                .unwrap_or_else(|| corrupt("segments unreadable".into())));
        }
        idx.segments = (0..c[C_SEGMENTS])
            .map(|i| le_u64(&idx.map, so + 8 * i))
            .collect();
        Ok(idx)
    }

    /// `Err` once a read has met a page that fails its checksum (format 3
    /// verifies pages as reads first touch them): from then on reads of
    /// this index may have returned nothing or zeros, so what they
    /// returned must not be used. The error names the file, the page and
    /// the sections it holds. Always `Ok` for formats 1 and 2, verified
    /// whole on open.
    pub fn health(&self) -> Result<(), IndexError> {
        let Some(pages) = &self.pages else {
            return Ok(());
        };
        match pages.damaged.load(std::sync::atomic::Ordering::Acquire) {
            UNDAMAGED => Ok(()),
            p => Err(IndexError::Corrupt {
                path: self.path.clone(),
                what: self.page_damage(p),
            }),
        }
    }

    /// "checksum mismatch in page P (bytes A..B: the sections it holds)".
    fn page_damage(&self, p: usize) -> String {
        let Some(pages) = &self.pages else {
            return "checksum mismatch".into();
        };
        let a = p << pages.shift;
        let b = ((p + 1) << pages.shift).min(pages.covered);
        let mut held: Vec<&str> = self
            .section_ranges()
            .into_iter()
            .filter(|(_, r)| r.start < b && a < r.end)
            .map(|(name, _)| name)
            .collect();
        if a < HEADER_LEN {
            held.insert(0, "header");
        }
        format!(
            "checksum mismatch in page {p} (bytes {a}..{b}: {})",
            held.join(", ")
        )
    }

    /// Verifies every page now (`lokal check`): one message per damaged
    /// page, as [`DayIndex::health`] words it; empty when every page
    /// matches its checksum (and always for formats 1 and 2).
    pub fn verify(&self) -> Vec<String> {
        let Some(pages) = &self.pages else {
            return Vec::new();
        };
        let n = pages.covered.div_ceil(1 << pages.shift);
        (0..n)
            .filter(|&p| !self.page_ok(pages, p))
            .map(|p| self.page_damage(p))
            .collect()
    }

    /// The non-empty sections of the file with their byte ranges, in file
    /// order, named for messages (`lokal check`, tests).
    pub fn section_ranges(&self) -> Vec<(&'static str, std::ops::Range<usize>)> {
        let mut out: Vec<_> = self
            .sections
            .iter()
            .enumerate()
            .filter(|(_, (_, l))| *l > 0)
            .map(|(i, &(o, l))| (SECTION_NAMES[i], o..o + l))
            .collect();
        out.sort_by_key(|(_, r)| r.start);
        out
    }

    /// How many pages have been verified so far (tests of laziness).
    #[cfg(test)]
    fn pages_verified(&self) -> usize {
        self.pages.as_ref().map_or(0, |p| {
            p.verified
                .iter()
                .map(|w| w.load(std::sync::atomic::Ordering::Relaxed).count_ones() as usize)
                .sum()
        })
    }

    /// Whether page `p` matches its checksum, verifying it on first use.
    fn page_ok(&self, pages: &Pages, p: usize) -> bool {
        use std::sync::atomic::Ordering;
        let (word, bit) = (p / 64, 1u64 << (p % 64));
        let Some(w) = pages.verified.get(word) else {
            return false;
        };
        if w.load(Ordering::Acquire) & bit != 0 {
            return true;
        }
        let a = p << pages.shift;
        let b = ((p + 1) << pages.shift).min(pages.covered);
        let want = le_u32(&self.map, self.sections[S_PAGE_SUMS].0 + 4 * p);
        if a < b && page_sum(&self.map[a..b]) == want {
            w.fetch_or(bit, Ordering::Release);
            return true;
        }
        let _ = pages
            .damaged
            .compare_exchange(UNDAMAGED, p, Ordering::AcqRel, Ordering::Acquire);
        false
    }

    /// Bytes `a..b` of the file, their pages verified first (format 3);
    /// empty when the range is outside the file or a page of it fails its
    /// checksum (which [`DayIndex::health`] then reports).
    fn bytes(&self, a: usize, b: usize) -> &[u8] {
        let Some(bytes) = self.map.get(a..b) else {
            return &[];
        };
        if let Some(pages) = &self.pages {
            if a == b {
                return bytes;
            }
            if b > pages.covered {
                return &[];
            }
            for p in (a >> pages.shift)..=((b - 1) >> pages.shift) {
                if !self.page_ok(pages, p) {
                    return &[];
                }
            }
        }
        bytes
    }

    /// `len` bytes at `at` in section `s`, verified; empty when they run
    /// past the section or fail their checksum.
    fn sec(&self, s: usize, at: usize, len: usize) -> &[u8] {
        let (o, l) = self.sections[s];
        match at.checked_add(len) {
            Some(end) if end <= l => self.bytes(o + at, o + end),
            _ => &[],
        }
    }

    fn sec_u32(&self, s: usize, at: usize) -> u32 {
        le_u32(self.sec(s, at, 4), 0)
    }

    fn sec_u64(&self, s: usize, at: usize) -> u64 {
        le_u64(self.sec(s, at, 8), 0)
    }

    /// `Ok(v)` when no read so far met a damaged page.
    fn checked<T>(&self, v: T) -> Result<T, IndexError> {
        self.health().map(|()| v)
    }

    /// The file's format version (1, 2 or 3).
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

    fn symbol(&self, i: u32) -> &str {
        let n = self.counts[C_SYMBOLS];
        let i = i as usize;
        if i >= n {
            return "";
        }
        let at = self.sec(S_SYMBOLS, i * 4, 8);
        let (a, b) = (le_u32(at, 0) as usize, le_u32(at, 4) as usize);
        if a > b {
            return "";
        }
        std::str::from_utf8(self.sec(S_SYMBOLS, (n + 1) * 4 + a, b - a)).unwrap_or("")
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
        if self.version >= 2 {
            let r = self.sec(S_POSTINGS_TABLE, row * POSTING_ROW, POSTING_ROW);
            return (0, le_u32(r, 0), le_u32(r, 4) as usize);
        }
        let r = self.sec(S_POSTINGS_TABLE, row * POSTING_ROW_V1, POSTING_ROW_V1);
        (le_u32(r, 0), le_u32(r, 4), le_u64(r, 8) as usize)
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
        let mut p = Postings {
            idx: self,
            at: off,
            left: 0,
            cur: 0,
            n_series,
            single: None,
        };
        if self.version >= 2 && off & SINGLE as usize != 0 {
            // A singleton: the row holds the id itself.
            let id = (off & !(SINGLE as usize)) as u64;
            p.single = (id < n_series).then_some(id as u32);
            return p;
        }
        p.left = p.varint().unwrap_or(0).min(n_series) as usize;
        p
    }

    /// The postings table rows of label `name`: one per value, in value order.
    fn name_rows(&self, name: &str) -> std::ops::Range<usize> {
        let Some(sym) = self.find_symbol(name) else {
            return 0..0;
        };
        let n = self.counts[C_NAMES];
        let (mut lo, mut hi) = (0usize, n);
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.sec_u32(S_NAMES, mid * NAME_ROW).cmp(&sym) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => {
                    let start = self.sec_u32(S_NAMES, mid * NAME_ROW + 4) as usize;
                    let end = if mid + 1 < n {
                        self.sec_u32(S_NAMES, (mid + 1) * NAME_ROW + 4) as usize
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
    pub fn label_names(&self) -> Result<Vec<String>, IndexError> {
        let names = (0..self.counts[C_NAMES])
            .map(|i| self.symbol(self.sec_u32(S_NAMES, i * NAME_ROW)).to_string())
            .collect();
        self.checked(names)
    }

    /// Values of label `name` in this day, sorted.
    pub fn label_values(&self, name: &str) -> Result<Vec<String>, IndexError> {
        let values = self
            .name_rows(name)
            .map(|r| self.symbol(self.posting_row(r).1).to_string())
            .collect();
        self.checked(values)
    }

    /// Every value of label `name` in this day, in value order, each with
    /// the series carrying it (ascending, decoded lazily): what a label
    /// lookup over part of a day walks, stopping at the first series in
    /// range, instead of decoding every series of the day. A value or a
    /// series read from a damaged page must not be used: check
    /// [`DayIndex::health`] before using each.
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
    pub fn postings(&self, name: &str, value: &str) -> Result<Vec<SeriesRef>, IndexError> {
        let series = self
            .value_rows(name, value)
            .map(|r| self.posting_list(r).into_iter().map(SeriesRef).collect())
            .unwrap_or_default();
        self.checked(series)
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
    pub fn select(&self, matchers: &[Matcher]) -> Result<Vec<SeriesRef>, IndexError> {
        let series = self.select_unchecked(matchers);
        self.checked(series)
    }

    /// [`DayIndex::select`] before the health check.
    fn select_unchecked(&self, matchers: &[Matcher]) -> Vec<SeriesRef> {
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
        if self.version < 2 {
            let (a, b) = (
                self.sec_u64(S_SERIES_OFFSETS, i * 8) as usize,
                self.sec_u64(S_SERIES_OFFSETS, i * 8 + 8) as usize,
            );
            let record = b
                .checked_sub(a)
                .map_or(&[][..], |n| self.sec(S_SERIES, a, n));
            return f(Reader::new(record));
        }
        let page = i / SERIES_PAGE;
        let key = (self.id, page);
        // Taken out while `f` runs, so that `f` may look up series too.
        let (cached, mut buf) = SERIES_PAGE_CACHE.with(|c| std::mem::take(&mut *c.borrow_mut()));
        if cached != Some(key) {
            buf.clear();
            let (a, b) = (
                self.sec_u32(S_SERIES_OFFSETS, page * 4) as usize,
                self.sec_u32(S_SERIES_OFFSETS, page * 4 + 4) as usize,
            );
            let frame = b
                .checked_sub(a)
                .map_or(&[][..], |n| self.sec(S_SERIES, a, n));
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
    pub fn labels(&self, s: &SeriesRef) -> Result<Labels, IndexError> {
        let labels = self.with_record(s, |mut r| {
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
        });
        self.checked(labels)
    }

    /// The fingerprint of a series (`labels(s).fingerprint()`; format 1
    /// stores it, later formats compute it).
    pub fn fingerprint(&self, s: &SeriesRef) -> Result<u64, IndexError> {
        if self.version >= 2 {
            return self.labels(s).map(|l| l.fingerprint());
        }
        let fp = self.with_record(s, |r| Self::skip_labels(r).fixed_u64().unwrap_or(0));
        self.checked(fp)
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
    pub fn series_time(&self, s: &SeriesRef) -> Result<(i64, i64), IndexError> {
        let times = if self.version >= 2 {
            self.with_record(s, |r| self.times_v2(&mut Self::skip_labels(r)))
        } else {
            let at = s.0 as usize * 16;
            (
                self.sec_u64(S_SERIES_TIMES, at) as i64,
                self.sec_u64(S_SERIES_TIMES, at + 8) as i64,
            )
        };
        self.checked(times)
    }

    /// The series' blocks, per segment in segment id order.
    pub fn chunks(&self, s: &SeriesRef) -> Result<Vec<IndexedChunk>, IndexError> {
        let chunks = if self.version >= 2 {
            self.with_record(s, |r| self.chunks_v2(Self::skip_labels(r)))
        } else {
            self.with_record(s, |r| self.chunks_v1(Self::skip_labels(r)))
        };
        self.checked(chunks)
    }

    /// A format 1 record's chunks, read from after its labels.
    fn chunks_v1(&self, mut r: Reader<'_>) -> Vec<IndexedChunk> {
        let _ = r.fixed_u64();
        self.read_chunks(&mut r, |r, _, nb| {
            let mut blocks = Vec::with_capacity(nb.min(1 << 16));
            for _ in 0..nb {
                match BlockMeta::decode(r) {
                    Some(b) => blocks.push(b),
                    None => break,
                }
            }
            blocks
        })
    }

    /// A format 2 record's chunks, read from after its labels.
    fn chunks_v2(&self, mut r: Reader<'_>) -> Vec<IndexedChunk> {
        let (lo, _) = self.times_v2(&mut r);
        self.read_chunks(&mut r, |r, si, nb| self.blocks_v2(r, si, nb, lo))
    }

    /// A record's chunks from `r`, at their count: per chunk its segment
    /// number and block count, then `blocks` reads that many blocks of
    /// segment number `si` as the record's format writes them. Stops at
    /// the first chunk a damaged record would put out of range.
    fn read_chunks<'a>(
        &self,
        r: &mut Reader<'a>,
        mut blocks: impl FnMut(&mut Reader<'a>, usize, usize) -> Vec<BlockMeta>,
    ) -> Vec<IndexedChunk> {
        let n = r.usize().unwrap_or(0);
        let mut out = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            let (Some(si), Some(nb)) = (r.usize(), r.usize()) else {
                break;
            };
            let Some(&segment_id) = self.segments.get(si) else {
                break;
            };
            let blocks = blocks(r, si, nb);
            out.push(IndexedChunk { segment_id, blocks });
        }
        out
    }

    /// `nb` format 2 runs of segment number `si` (rows of its blocks
    /// table) from `r`; `lo` is the series' first time.
    fn blocks_v2(&self, r: &mut Reader<'_>, si: usize, nb: usize, lo: i64) -> Vec<BlockMeta> {
        let (base, end) = (
            self.sec_u32(S_FRAME_STARTS, si * 4) as u64,
            self.sec_u32(S_FRAME_STARTS, si * 4 + 4) as u64,
        );
        let mut blocks = Vec::with_capacity(nb.min(1 << 16));
        let mut prev = 0u64;
        for _ in 0..nb {
            let b = (|| {
                let f = prev.wrapping_add(r.i64()? as u64);
                prev = f;
                let row = base.checked_add(f).filter(|&x| x < end)? as usize;
                let frame = self.sec(S_FRAMES, row * FRAME_ROW, FRAME_ROW);
                if frame.is_empty() {
                    return None;
                }
                let first = u32::try_from(r.u64()?).ok()?;
                let entries = u32::try_from(r.u64()?).ok()?;
                let line_bytes = r.u64()?;
                let min_t = self.time(r, lo)?;
                let max_t = self.time(r, min_t)?;
                Some(BlockMeta {
                    offset: le_u64(frame, 0),
                    len: le_u32(frame, 8),
                    raw_len: le_u32(frame, 12),
                    frame_entries: le_u32(frame, 16),
                    first,
                    entries,
                    line_bytes,
                    min_t,
                    max_t,
                    checksum: le_u64(frame, 20),
                })
            })();
            match b {
                Some(b) => blocks.push(b),
                None => break,
            }
        }
        blocks
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
            let (Ok(labels), Ok(chunks)) = (self.labels(&s), self.chunks(&s)) else {
                return false;
            };
            for c in chunks {
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
                if !self.postings(n, v).is_ok_and(|p| p.contains(&s)) {
                    return false;
                }
            }
        }
        it.next().is_none()
    }
}

/// A postings list being decoded (see [`DayIndex::posting_iter`]), read
/// through the index so that each page is verified as the list reaches it.
struct Postings<'a> {
    idx: &'a DayIndex,
    /// Where the next varint starts in the postings section.
    at: usize,
    left: usize,
    cur: u64,
    n_series: u64,
    /// A singleton list (index format 2 and later), put out first.
    single: Option<u32>,
}

impl Postings<'_> {
    /// The varint at `at`, moving past it; `None` at the section's end or
    /// on a damaged page.
    fn varint(&mut self) -> Option<u64> {
        let room = self.idx.sections[S_POSTINGS].1.saturating_sub(self.at);
        let mut r = Reader::new(self.idx.sec(S_POSTINGS, self.at, room.min(10)));
        let v = r.u64()?;
        self.at += r.position();
        Some(v)
    }
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
        let next = self.varint().map(|d| self.cur.saturating_add(d));
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

    /// The TOC's offset in a format 3 file.
    fn toc_of(bytes: &[u8]) -> usize {
        bytes.len() - TRAILER_LEN - TOC_LEN_V3
    }

    /// Where section `s` starts in a format 3 file.
    fn section_of(bytes: &[u8], s: usize) -> usize {
        let at = toc_of(bytes) + 24 + 8 * N_COUNTS + 16 * s;
        u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()) as usize
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
            let at = toc_of(&bytes) + 24 + 8 * count;
            bytes[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
            reseal(&mut bytes);
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
    /// ever. The index is resealed, so only the count is wrong.
    #[test]
    fn a_huge_label_count_does_not_hang_lookups() {
        let c = chunk(&[("a", "1"), ("b", "2")], vec![block(16, 1, 2)]);
        let mut bytes = build_day_index(0, &[(1, std::slice::from_ref(&c))]);
        let series = section_of(&bytes, S_SERIES);
        bytes[series] = 0xff;
        for b in &mut bytes[series + 1..series + 8] {
            *b |= 0x80;
        }
        reseal(&mut bytes);
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
        assert_eq!(idx.label_names().unwrap(), vec!["app", "env"]);
        assert_eq!(idx.label_values("app").unwrap(), vec!["api", "db", "web"]);
        assert_eq!(idx.label_values("env").unwrap(), vec!["dev\"é", "prod"]);
        assert!(idx.label_values("nope").unwrap().is_empty());
        let postings: Vec<(&str, Vec<SeriesRef>)> = idx
            .value_postings("app")
            .map(|(v, s)| (v, s.collect()))
            .collect();
        assert_eq!(
            postings,
            ["api", "db", "web"]
                .iter()
                .map(|v| (*v, idx.postings("app", v).unwrap()))
                .collect::<Vec<_>>()
        );
        assert_eq!(idx.value_postings("nope").count(), 0);
        let all: Vec<_> = idx.all_series().collect();
        let labels: Vec<Labels> = all.iter().map(|s| idx.labels(s).unwrap()).collect();
        let mut sorted = labels.clone();
        sorted.sort();
        assert_eq!(labels, sorted, "series are in label order");
        let api = idx.select(&[m("app", MatchOp::Eq, "api")]).unwrap();
        assert_eq!(api.len(), 1);
        assert_eq!(idx.labels(&api[0]).unwrap(), s1[0].labels);
        assert_eq!(idx.fingerprint(&api[0]).unwrap(), s1[0].fingerprint);
        assert_eq!(idx.series_time(&api[0]).unwrap(), (10, 50));
        assert_eq!(
            idx.chunks(&api[0]).unwrap(),
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
        assert!(idx.health().is_ok() && idx.verify().is_empty());
    }

    #[test]
    fn empty_index() {
        let bytes = build_day_index(0, &[]);
        let dir = tempfile::tempdir().unwrap();
        let idx = DayIndex::open(&write(dir.path(), &bytes)).unwrap();
        assert_eq!(idx.series_count(), 0);
        assert!(idx.select(&[]).unwrap().is_empty());
        assert!(idx.label_names().unwrap().is_empty());
    }

    /// A flip anywhere in a one-page index is caught: on open (the TOC,
    /// the page checksums, the header's page) or, for a page opening does
    /// not read, by `verify`; never silently.
    #[test]
    fn every_flipped_byte_is_caught_and_names_the_file() {
        let s = vec![chunk(&[("a", "b")], vec![block(16, 1, 2)])];
        let bytes = build_day_index(1, &[(1, &s)]);
        let dir = tempfile::tempdir().unwrap();
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x40;
            let p = write(dir.path(), &b);
            match DayIndex::open(&p) {
                Err(e) => {
                    let e = e.to_string();
                    assert!(e.contains(&p.display().to_string()), "{e}");
                    assert!(
                        e.contains("corrupt index") || e.contains("upgrade lokal"),
                        "byte {i}: {e}"
                    );
                }
                Ok(idx) => assert!(!idx.verify().is_empty(), "byte {i} went unnoticed"),
            }
        }
        let p = write(dir.path(), &bytes[..bytes.len() - 7]);
        assert!(DayIndex::open(&p).is_err());
        let p = write(dir.path(), b"");
        assert!(DayIndex::open(&p).is_err());
    }

    /// An index of `n` series over several pages (`job` = 0..9, `pod` =
    /// the series number).
    fn many_series(n: usize) -> (Vec<StreamChunk>, Vec<u8>) {
        let chunks: Vec<StreamChunk> = (0..n)
            .map(|i| {
                let (job, pod) = ((i % 10).to_string(), format!("pod-{i:06}"));
                chunk(
                    &[("job", &job), ("pod", &pod)],
                    vec![block(16 + 64 * i as u64, i as i64, i as i64 + 5)],
                )
            })
            .collect();
        let bytes = build_day_index(0, &[(1, &chunks)]);
        (chunks, bytes)
    }

    /// Everything a query can ask of an index, read once: what a damaged
    /// page must be caught by.
    fn read_everything(idx: &DayIndex) -> Result<(), IndexError> {
        for n in idx.label_names()? {
            for v in idx.label_values(&n)? {
                idx.postings(&n, &v)?;
            }
        }
        for s in idx.select(&[m("job", MatchOp::Re, ".+")])? {
            idx.labels(&s)?;
            idx.series_time(&s)?;
            idx.chunks(&s)?;
        }
        Ok(())
    }

    /// Format 3 verifies a page when a read first touches it: one stream's
    /// lookup verifies a few pages of many, a flip in any section is
    /// reported by the read that meets it (naming the file, the page and
    /// the section), and reads of other pages are unaffected.
    #[test]
    fn pages_are_verified_as_they_are_read() {
        let (chunks, bytes) = many_series(3000);
        let dir = tempfile::tempdir().unwrap();
        let idx = DayIndex::open(&write(dir.path(), &bytes)).unwrap();
        let pages = bytes.len() >> PAGE_SHIFT;
        assert!(pages >= 8, "{pages} pages");
        let one = idx.select(&[m("pod", MatchOp::Eq, "pod-001234")]).unwrap();
        assert_eq!(idx.labels(&one[0]).unwrap(), chunks[1234].labels);
        assert!(
            idx.pages_verified() <= pages / 2,
            "{} of {pages} pages read for one stream",
            idx.pages_verified()
        );
        read_everything(&idx).unwrap();

        let sections: Vec<(&str, std::ops::Range<usize>)> = idx
            .section_ranges()
            .into_iter()
            .filter(|(name, _)| *name != "page checksums")
            .collect();
        let segments = sections
            .iter()
            .find(|(n, _)| *n == "segments")
            .unwrap()
            .1
            .clone();
        let opening_reads = |page: usize| {
            page == 0
                || (segments.start >> PAGE_SHIFT..=(segments.end - 1) >> PAGE_SHIFT).contains(&page)
        };
        let mut lazy = 0;
        assert!(sections.len() >= 8, "{sections:?}");
        for (name, range) in sections {
            let mut b = bytes.clone();
            let at = (range.start + range.end) / 2;
            b[at] ^= 0x01;
            let p = dir.path().join(format!("{}.idx", name.replace(' ', "-")));
            std::fs::write(&p, &b).unwrap();
            let page = at >> PAGE_SHIFT;
            let idx = match DayIndex::open(&p) {
                // The header's page and the segment ids are read on open.
                Err(e) => {
                    assert!(opening_reads(page), "{name}: {e}");
                    continue;
                }
                Ok(idx) => idx,
            };
            lazy += 1;
            let found = idx.verify();
            assert_eq!(found.len(), 1, "{name}: {found:?}");
            assert!(
                found[0].contains(&format!("page {page} ")) && found[0].contains(name),
                "{name}: {found:?}"
            );
            let idx = DayIndex::open(&p).unwrap();
            let e = read_everything(&idx).unwrap_err().to_string();
            assert!(
                e.contains(&p.display().to_string()) && e.contains(&found[0]),
                "{name}: {e}"
            );
            // Once damaged, every read says so.
            assert!(idx.label_names().is_err(), "{name}");
        }
        assert!(lazy >= 5, "only {lazy} sections were checked lazily");
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
            let mut got: Vec<Labels> =
                idx.select(&matchers).unwrap().iter().map(|s| idx.labels(s).unwrap()).collect();
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
