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

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::chunk::{BlockMeta, StreamChunk};
use crate::logql::{MatchOp, Matcher};
use crate::model::Labels;
use crate::varint::{self, Reader};

use super::IndexError;

/// Magic at the start of every index file.
pub const MAGIC: &[u8; 8] = b"LOKALIDX";
/// Magic at the very end of every index file.
pub const TRAILER_MAGIC: &[u8; 4] = b"LKIX";
/// Current index format version.
pub const FORMAT_VERSION: u32 = 1;

const HEADER_LEN: usize = 16;
const N_COUNTS: usize = 5;
const N_SECTIONS: usize = 8;
const TOC_LEN: usize = 8 + 8 * N_COUNTS + 16 * N_SECTIONS;
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

// Counts in the TOC.
const C_SYMBOLS: usize = 0;
const C_SEGMENTS: usize = 1;
const C_SERIES: usize = 2;
const C_POSTINGS: usize = 3;
const C_NAMES: usize = 4;

const POSTING_ROW: usize = 16;
const NAME_ROW: usize = 8;

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
/// footers of that day's segments, given as `(segment id, chunks)`.
///
/// The output is deterministic for a given input set: series are sorted by
/// labels, chunks by segment id.
pub fn build_day_index(day: i64, segments: &[(u64, &[StreamChunk])]) -> Vec<u8> {
    let mut segs: Vec<(u64, &[StreamChunk])> = segments.to_vec();
    segs.sort_by_key(|s| s.0);
    segs.dedup_by_key(|s| s.0);

    // Series in label order, each with its chunks in segment order.
    struct Acc<'a> {
        fingerprint: u64,
        chunks: Vec<(usize, &'a [BlockMeta])>,
    }
    let mut series: BTreeMap<&Labels, Acc<'_>> = BTreeMap::new();
    for (si, (_, streams)) in segs.iter().enumerate() {
        for s in streams.iter() {
            if s.blocks.is_empty() {
                continue;
            }
            series
                .entry(&s.labels)
                .or_insert_with(|| Acc {
                    fingerprint: s.fingerprint,
                    chunks: Vec::new(),
                })
                .chunks
                .push((si, &s.blocks));
        }
    }

    // Symbols: every name and value, sorted, so that symbol order is string
    // order and postings sorted by refs are sorted by strings.
    let mut set: BTreeSet<&str> = BTreeSet::new();
    for l in series.keys() {
        for (n, v) in l.pairs() {
            set.insert(n);
            set.insert(v);
        }
    }
    let symbols: Vec<&str> = set.into_iter().collect();
    let sym_ref: HashMap<&str, u32> = symbols
        .iter()
        .enumerate()
        .map(|(i, s)| (*s, i as u32))
        .collect();

    let mut out = Vec::with_capacity(4096);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    let mut sections = [(0u64, 0u64); N_SECTIONS];
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

    // Segments.
    let start = begin(&out);
    for (id, _) in &segs {
        out.extend_from_slice(&id.to_le_bytes());
    }
    sections[S_SEGMENTS] = (start, out.len() as u64 - start);

    // Series data first into its own buffer, so the offsets table can precede it.
    let mut data = Vec::new();
    let mut offsets = Vec::with_capacity(series.len() + 1);
    let mut times = Vec::with_capacity(series.len());
    let mut postings: BTreeMap<(u32, u32), Vec<u32>> = BTreeMap::new();
    for (sid, (labels, acc)) in series.iter().enumerate() {
        offsets.push(data.len() as u64);
        varint::put_u64(&mut data, labels.len() as u64);
        for (n, v) in labels.pairs() {
            let (n, v) = (sym_ref[n.as_str()], sym_ref[v.as_str()]);
            varint::put_u64(&mut data, u64::from(n));
            varint::put_u64(&mut data, u64::from(v));
            postings.entry((n, v)).or_default().push(sid as u32);
        }
        data.extend_from_slice(&acc.fingerprint.to_le_bytes());
        varint::put_u64(&mut data, acc.chunks.len() as u64);
        let (mut lo, mut hi) = (i64::MAX, i64::MIN);
        for (si, blocks) in &acc.chunks {
            varint::put_u64(&mut data, *si as u64);
            varint::put_u64(&mut data, blocks.len() as u64);
            for b in blocks.iter() {
                b.encode(&mut data);
                lo = lo.min(b.min_t);
                hi = hi.max(b.max_t);
            }
        }
        times.push((lo, hi));
    }
    offsets.push(data.len() as u64);

    let start = begin(&out);
    for o in &offsets {
        out.extend_from_slice(&o.to_le_bytes());
    }
    sections[S_SERIES_OFFSETS] = (start, out.len() as u64 - start);
    let start = begin(&out);
    for (lo, hi) in &times {
        out.extend_from_slice(&lo.to_le_bytes());
        out.extend_from_slice(&hi.to_le_bytes());
    }
    sections[S_SERIES_TIMES] = (start, out.len() as u64 - start);
    let start = begin(&out);
    out.extend_from_slice(&data);
    sections[S_SERIES] = (start, out.len() as u64 - start);

    // Postings: lists first (buffered), then the table pointing into them.
    let mut lists = Vec::new();
    let mut table = Vec::with_capacity(postings.len() * POSTING_ROW);
    let mut names: Vec<(u32, u32)> = Vec::new();
    for (row, ((n, v), ids)) in postings.iter().enumerate() {
        if names.last().is_none_or(|l| l.0 != *n) {
            names.push((*n, row as u32));
        }
        table.extend_from_slice(&n.to_le_bytes());
        table.extend_from_slice(&v.to_le_bytes());
        table.extend_from_slice(&(lists.len() as u64).to_le_bytes());
        varint::put_u64(&mut lists, ids.len() as u64);
        let mut prev = 0u32;
        for &id in ids {
            varint::put_u64(&mut lists, u64::from(id - prev));
            prev = id;
        }
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
    for c in [
        symbols.len(),
        segs.len(),
        series.len(),
        postings.len(),
        names.len(),
    ] {
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
    out
}

/// A memory-mapped day index, checked on open.
pub struct DayIndex {
    path: PathBuf,
    map: Mmap,
    day: i64,
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
        let toc = t - TOC_LEN;
        let day = le_u64(&map, toc) as i64;
        let mut counts = [0usize; N_COUNTS];
        for (i, c) in counts.iter_mut().enumerate() {
            *c = usize::try_from(le_u64(&map, toc + 8 + 8 * i))
                .map_err(|_| corrupt("count out of range".into()))?;
        }
        let mut sections = [(0usize, 0usize); N_SECTIONS];
        for (i, s) in sections.iter_mut().enumerate() {
            let at = toc + 8 + 8 * N_COUNTS + 16 * i;
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
        need(
            S_SERIES_OFFSETS,
            plus_one(c[C_SERIES]).and_then(|n| n.checked_mul(8)),
        )?;
        need(S_SERIES_TIMES, c[C_SERIES].checked_mul(16))?;
        need(S_POSTINGS_TABLE, c[C_POSTINGS].checked_mul(POSTING_ROW))?;
        need(S_NAMES, c[C_NAMES].checked_mul(NAME_ROW))?;
        let segments = (0..c[C_SEGMENTS])
            .map(|i| le_u64(&map, sections[S_SEGMENTS].0 + 8 * i))
            .collect();
        Ok(DayIndex {
            path: path.to_path_buf(),
            map,
            day,
            counts,
            sections,
            segments,
        })
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

    fn posting_row(&self, row: usize) -> (u32, u32, usize) {
        let t = self.section(S_POSTINGS_TABLE);
        let at = row * POSTING_ROW;
        (le_u32(t, at), le_u32(t, at + 4), le_u64(t, at + 8) as usize)
    }

    fn posting_list(&self, row: usize) -> Vec<u32> {
        let it = self.posting_iter(row);
        let mut out = Vec::with_capacity(it.left);
        out.extend(it);
        out
    }

    /// The series ids of postings row `row`, decoded as they are read
    /// (nothing allocated), ascending; stops at the first id a damaged
    /// list would put out of range.
    fn posting_iter(&self, row: usize) -> Postings<'_> {
        let (_, _, off) = self.posting_row(row);
        let data = self.section(S_POSTINGS);
        let mut r = Reader::new(data.get(off..).unwrap_or_default());
        let left = r.usize().unwrap_or(0).min(self.series_count());
        Postings {
            r,
            left,
            cur: 0,
            n_series: self.series_count() as u64,
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
                let rejected = match m.op {
                    // `name!="v"`: exactly the series with name="v".
                    MatchOp::Neq => self
                        .value_rows(&m.name, &m.value)
                        .map(|r| self.posting_list(r))
                        .unwrap_or_default(),
                    _ => self.union_where(&m.name, |v| !m.matches(v)),
                };
                exclude.push(rejected);
            } else {
                let accepted = match m.op {
                    MatchOp::Eq => self
                        .value_rows(&m.name, &m.value)
                        .map(|r| self.posting_list(r))
                        .unwrap_or_default(),
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

    fn series_data(&self, s: &SeriesRef) -> Reader<'_> {
        let i = s.0 as usize;
        if i >= self.series_count() {
            return Reader::new(&[]);
        }
        let offs = self.section(S_SERIES_OFFSETS);
        let (a, b) = (
            le_u64(offs, i * 8) as usize,
            le_u64(offs, i * 8 + 8) as usize,
        );
        Reader::new(self.section(S_SERIES).get(a..b).unwrap_or_default())
    }

    /// Skips the labels of a series record; returns the reader at the fingerprint.
    fn skip_labels<'a>(&self, mut r: Reader<'a>) -> Reader<'a> {
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
        let mut r = self.series_data(s);
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
    }

    /// The stored fingerprint of a series (`labels(s).fingerprint()`).
    pub fn fingerprint(&self, s: &SeriesRef) -> u64 {
        self.skip_labels(self.series_data(s))
            .fixed_u64()
            .unwrap_or(0)
    }

    /// Smallest and largest timestamp of a series over all its blocks.
    pub fn series_time(&self, s: &SeriesRef) -> (i64, i64) {
        let t = self.section(S_SERIES_TIMES);
        let at = s.0 as usize * 16;
        (le_u64(t, at) as i64, le_u64(t, at + 8) as i64)
    }

    /// The series' blocks, per segment in segment id order.
    pub fn chunks(&self, s: &SeriesRef) -> Vec<IndexedChunk> {
        let mut r = self.skip_labels(self.series_data(s));
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
    }
}

/// A postings list being decoded (see [`DayIndex::posting_iter`]).
struct Postings<'a> {
    r: Reader<'a>,
    left: usize,
    cur: u64,
    n_series: u64,
}

impl Iterator for Postings<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
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
            let at = t - TOC_LEN + 8 + 8 * count;
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
        let toc = t - TOC_LEN;
        let at = toc + 8 + 8 * N_COUNTS + 16 * S_SERIES;
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
        "", "a", "a.*", ".*", ".+", "a|b", "(?i)A", "x.y", "[^a]*", "b?",
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
