//! One block: a run of a stream's entries, stored as columns and compressed
//! with zstd as one frame. This module owns both directions — cutting a
//! stream's entries into blocks, encoding and compressing them ([`compress`],
//! used by ingest and, later, by the compactor when it re-encodes), and
//! decoding them ([`Block::decode_in_place`]) — so the format has one home.
//!
//! Raw layout (before compression), all integers LEB128 varints:
//!
//! ```text
//! flags: u8         bit 0: lines are '\n'-terminated in the blob (no length column)
//!                   bit 1: a structured-metadata column is present
//!                   bit 2: deltas are signed (zigzag): a packed block, whose
//!                          entries are runs of several streams, each run in
//!                          time order (segment format 2)
//! n: varint         number of entries
//! unit_exp: u8      timestamps deltas are in units of 10^unit_exp ns
//! first_ts: zigzag  first timestamp, ns since the epoch
//! deltas: n-1 x varint   (ts[i] - ts[i-1]) / 10^unit_exp, entries sorted by time
//!                        (zigzag when bit 2 is set)
//! lengths: n x varint    only when bit 0 is clear (some line holds '\n')
//! metadata: only when bit 1 is set: its byte length (varint), then per entry
//!           a pair count and (name, value) as length-prefixed UTF-8
//! blob: the lines back to back ('\n' after each when bit 0 is set)
//! ```
//!
//! Keeping the lines contiguous lets a literal line filter search the whole
//! blob with one `memmem` pass and map hits back to lines, as ripgrep does.
//! A packed block keeps each stream's run contiguous in every column, so a
//! run is a slice of the timestamp column and of the blob: [`Block::select`]
//! narrows a decoded block to one run and the same searches work on it.
//! The newline-terminated form costs nothing after compression, unlike a
//! length column; it is used whenever no line contains a newline.

use std::cell::RefCell;
use std::ops::Range;

use super::segment::BlockMeta;
use crate::time::day_of;
use crate::varint::{self, Reader};

/// Raw line bytes per block: large enough for zstd to find the log's
/// repetition, small enough that time pruning skips most of a chunk.
pub const BLOCK_TARGET_BYTES: usize = 1 << 20;

/// Flag bit: lines are newline-terminated inside the blob.
const FLAG_NEWLINE_SEPARATED: u8 = 1;
/// Flag bit: a structured-metadata column follows the lengths.
const FLAG_METADATA: u8 = 2;
/// Flag bit: timestamp deltas are zigzag-encoded (runs of several streams).
const FLAG_SIGNED_DELTAS: u8 = 4;

/// An entry's structured metadata: `(name, value)` pairs (Loki 3).
pub type Metadata = [(String, String)];

/// Cuts a stream's time-sorted entries into blocks: each block holds one UTC
/// day and, unless a single entry is larger, at most [`BLOCK_TARGET_BYTES`]
/// of lines. `key` gives an entry's timestamp and line length. Yields the
/// day number and the entries' index range of every block, in order.
pub fn cut_blocks<'e, E>(
    entries: &'e [E],
    key: impl Fn(&E) -> (i64, usize) + 'e,
) -> impl Iterator<Item = (i64, Range<usize>)> + 'e {
    cut_blocks_at(entries, BLOCK_TARGET_BYTES, key)
}

/// [`cut_blocks`] with blocks of up to `target` bytes of lines (the
/// compactor may write larger blocks than ingest).
pub fn cut_blocks_at<'e, E>(
    entries: &'e [E],
    target: usize,
    key: impl Fn(&E) -> (i64, usize) + 'e,
) -> impl Iterator<Item = (i64, Range<usize>)> + 'e {
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= entries.len() {
            return None;
        }
        let day = day_of(key(&entries[start]).0);
        let mut cut = BlockCut::new(target);
        let mut end = start;
        while end < entries.len() {
            let (ts, len) = key(&entries[end]);
            if day_of(ts) != day || cut.starts_block(len) {
                break;
            }
            end += 1;
        }
        let block = (day, start..end);
        start = end;
        Some(block)
    })
}

/// Where a stream's time-sorted entries of one day are cut into blocks of
/// at most `target` line bytes (a larger entry gets a block of its own),
/// fed one entry at a time: what [`cut_blocks_at`] does over a slice, for
/// a writer that sees entries as a merge emits them.
#[derive(Debug, Clone, Copy)]
pub struct BlockCut {
    target: usize,
    bytes: usize,
    entries: usize,
}

impl BlockCut {
    /// A cut with an empty first block.
    pub fn new(target: usize) -> Self {
        BlockCut {
            target,
            bytes: 0,
            entries: 0,
        }
    }

    /// Whether the next entry, of `len` line bytes, starts a new block
    /// (the block before it is full); it is counted in the block it goes to.
    pub fn starts_block(&mut self, len: usize) -> bool {
        let cut = self.entries > 0 && self.bytes + len > self.target;
        if cut {
            self.bytes = 0;
            self.entries = 0;
        }
        self.bytes += len;
        self.entries += 1;
        cut
    }
}

/// A compressed block ready to append to a segment.
#[derive(Debug, Clone)]
pub struct EncodedBlock {
    /// The zstd frame.
    pub bytes: Vec<u8>,
    /// Its footer entry; the segment writer sets `offset`, `len` and
    /// `checksum` when it appends the frame.
    pub meta: BlockMeta,
}

/// zstd failed to compress a block (it only does on allocation failure).
#[derive(Debug, thiserror::Error)]
#[error("zstd compression failed: {0}")]
pub struct CompressError(#[from] pub std::io::Error);

thread_local! {
    /// The raw (uncompressed) block being built, reused across blocks so a
    /// 1 MiB buffer is not allocated per block.
    static RAW: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// A zstd context and its level, reused across blocks: a context per
    /// block (what `zstd::bulk::compress` makes) allocates and clears its
    /// match tables every time, a few percent of a compaction at level 8.
    /// The frames are byte for byte the same.
    static ZSTD: RefCell<Option<(zstd::bulk::Compressor<'static>, i32)>> =
        const { RefCell::new(None) };
}

/// Compresses `raw` as one zstd frame (content size in its header) at
/// `level` with this thread's reusable context.
pub fn compress_bytes(raw: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    ZSTD.with(|c| {
        let mut c = c.borrow_mut();
        match &mut *c {
            Some((z, l)) if *l == level => z.compress(raw),
            slot => {
                let (z, _) = slot.insert((zstd::bulk::Compressor::new(level)?, level));
                z.compress(raw)
            }
        }
    })
}

/// Encodes non-empty entries `(ts, line, metadata)` into one block and
/// compresses it at zstd `level`. Entries are one stream's in time order,
/// or runs of several streams, each in time order (a packed block; its
/// meta then spans every run, and the segment writer records the runs).
pub fn compress<'a, I>(entries: I, level: i32) -> Result<EncodedBlock, CompressError>
where
    I: Iterator<Item = (i64, &'a [u8], &'a Metadata)> + Clone,
{
    let (mut n, mut line_bytes) = (0u32, 0u64);
    let (mut min_t, mut max_t) = (i64::MAX, i64::MIN);
    for (ts, line, _) in entries.clone() {
        min_t = min_t.min(ts);
        max_t = max_t.max(ts);
        n += 1;
        line_bytes += line.len() as u64;
    }
    RAW.with(|raw| {
        let mut raw = raw.borrow_mut();
        encode_with_metadata(entries, &mut raw);
        let bytes = compress_bytes(&raw, level)?;
        Ok(EncodedBlock {
            bytes,
            meta: BlockMeta {
                offset: 0,
                len: 0,
                raw_len: raw.len() as u32,
                frame_entries: n,
                first: 0,
                entries: n,
                line_bytes,
                min_t,
                max_t,
                checksum: 0,
            },
        })
    })
}

/// Encodes sorted entries `(ts, line)` into a raw (uncompressed) block.
///
/// `entries` must be sorted by timestamp (ties keep their order).
pub fn encode<'a, I>(entries: I, out: &mut Vec<u8>)
where
    I: Iterator<Item = (i64, &'a [u8])> + Clone,
{
    encode_with_metadata(entries.map(|(t, l)| (t, l, &[][..])), out)
}

/// Encodes entries `(ts, line, metadata)`; the metadata column is written
/// only when some entry has metadata. Entries in time order get unsigned
/// deltas (the format 1 encoding); any step back in time (runs of several
/// streams) makes every delta signed.
pub fn encode_with_metadata<'a, I>(entries: I, out: &mut Vec<u8>)
where
    I: Iterator<Item = (i64, &'a [u8], &'a Metadata)> + Clone,
{
    out.clear();
    let mut n = 0usize;
    let mut newline_free = true;
    let has_metadata = entries.clone().any(|(_, _, m)| !m.is_empty());
    let mut prev: Option<i64> = None;
    // The coarsest unit that divides every delta: seconds-precision logs then
    // store one small number per line, which compresses to almost nothing.
    let mut unit_exp = 9u8;
    let mut signed = false;
    for (ts, line, _) in entries.clone() {
        n += 1;
        if newline_free && memchr::memchr(b'\n', line).is_some() {
            newline_free = false;
        }
        if let Some(p) = prev {
            signed |= ts < p;
            let d = ts.abs_diff(p);
            if d > i64::MAX as u64 {
                // Only exact in wrapping arithmetic at unit 1.
                unit_exp = 0;
            }
            while unit_exp > 0 && !d.is_multiple_of(10u64.pow(u32::from(unit_exp))) {
                unit_exp -= 1;
            }
        }
        prev = Some(ts);
    }
    if n <= 1 {
        unit_exp = 0;
    }
    let unit = 10u64.pow(u32::from(unit_exp));
    let newline_flag = if newline_free {
        FLAG_NEWLINE_SEPARATED
    } else {
        0
    };
    out.push(
        newline_flag
            | if has_metadata { FLAG_METADATA } else { 0 }
            | if signed { FLAG_SIGNED_DELTAS } else { 0 },
    );
    varint::put_u64(out, n as u64);
    out.push(unit_exp);
    let mut prev: Option<i64> = None;
    for (ts, _, _) in entries.clone() {
        match prev {
            None => varint::put_i64(out, ts),
            // Exact: `unit` divides |ts - p|, which fits an i64 for any
            // timestamps a block can hold (both within ±292 years).
            Some(p) if signed => varint::put_i64(out, ts.wrapping_sub(p) / unit as i64),
            Some(p) => varint::put_u64(out, (ts.wrapping_sub(p) as u64) / unit),
        }
        prev = Some(ts);
    }
    if !newline_free {
        for (_, line, _) in entries.clone() {
            varint::put_u64(out, line.len() as u64);
        }
    }
    if has_metadata {
        let mut md = Vec::new();
        for (_, _, m) in entries.clone() {
            varint::put_u64(&mut md, m.len() as u64);
            for (k, v) in m {
                varint::put_u64(&mut md, k.len() as u64);
                md.extend_from_slice(k.as_bytes());
                varint::put_u64(&mut md, v.len() as u64);
                md.extend_from_slice(v.as_bytes());
            }
        }
        varint::put_u64(out, md.len() as u64);
        out.extend_from_slice(&md);
    }
    for (_, line, _) in entries {
        out.extend_from_slice(line);
        if newline_free {
            out.push(b'\n');
        }
    }
}

/// Decodes the timestamp column from the start of a raw block, which may be
/// incomplete: `Ok(None)` means more bytes are needed; `Ok(Some(has_metadata))`
/// means `out` holds every timestamp.
pub fn decode_timestamps(raw: &[u8], out: &mut Vec<i64>) -> Result<Option<bool>, DecodeError> {
    out.clear();
    let mut r = Reader::new(raw);
    let Some(flags) = r.u8() else { return Ok(None) };
    let Some(n) = r.usize() else { return Ok(None) };
    let Some(unit_exp) = r.u8() else {
        return Ok(None);
    };
    if unit_exp > 18 {
        return Err(DecodeError("bad timestamp unit"));
    }
    let unit = 10i64.pow(u32::from(unit_exp));
    if n == 0 {
        return Ok(Some(flags & FLAG_METADATA != 0));
    }
    let Some(mut t) = r.i64() else {
        return Ok(None);
    };
    // `raw` may be a prefix of the block: reserve no more than the bytes at
    // hand can hold (a varint is at least one byte), never what a damaged
    // count claims.
    out.reserve(n.min(raw.len()));
    out.push(t);
    let signed = flags & FLAG_SIGNED_DELTAS != 0;
    for _ in 1..n {
        let Some(d) = (if signed {
            r.i64()
        } else {
            r.u64().map(|d| d as i64)
        }) else {
            return Ok(None);
        };
        t = t.wrapping_add(d.wrapping_mul(unit));
        out.push(t);
    }
    Ok(Some(flags & FLAG_METADATA != 0))
}

/// Why a raw block could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed block: {0}")]
pub struct DecodeError(pub &'static str);

/// A decoded block: the timestamp column and the line blob with offsets,
/// seen through a *view* of one run of entries (the whole block unless
/// [`Block::select`] narrowed it to one stream's run of a packed block).
/// Buffers are reused between blocks to avoid allocation on the scan path.
#[derive(Debug, Default, Clone)]
pub struct Block {
    /// Timestamps of the view's entries, ns since the epoch, ascending.
    pub ts: Vec<i64>,
    /// Every timestamp of the block, in block order.
    all_ts: Vec<i64>,
    /// `starts[i]..starts[i+1]-sep` is line `i` of the block inside
    /// `data[blob_start..]`.
    starts: Vec<u32>,
    /// 1 when lines are newline-terminated, else 0.
    sep: u32,
    /// Offset of the blob in `data`.
    blob_start: usize,
    /// `md_starts[i]..md_starts[i+1]` is entry `i`'s metadata record in `data`
    /// (empty when the block has no metadata column).
    md_starts: Vec<u32>,
    /// The view: entries `first..first + ts.len()` of the block.
    first: usize,
    /// Which stored block `data` holds (set by the segment reader), so
    /// runs of one packed block are decompressed once.
    pub(crate) key: Option<(u64, u64)>,
    /// The raw (decompressed) block.
    pub data: Vec<u8>,
}

impl Block {
    /// Number of entries in the view.
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    /// True when the view holds no entries.
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// Entries in the whole decoded block (every run).
    pub fn block_len(&self) -> usize {
        self.all_ts.len()
    }

    /// Narrows the view to entries `first..first + n` of the decoded block
    /// (one stream's run); `None` when the block has fewer entries.
    pub fn select(&mut self, first: usize, n: usize) -> Option<()> {
        let end = first.checked_add(n)?;
        let ts = self.all_ts.get(first..end)?;
        self.ts.clear();
        self.ts.extend_from_slice(ts);
        self.first = first;
        Some(())
    }

    /// Line `i` of the view.
    #[inline]
    pub fn line(&self, i: usize) -> &[u8] {
        let i = self.first + i;
        let s = self.starts[i] as usize;
        let e = self.starts[i + 1] as usize - self.sep as usize;
        &self.data[self.blob_start + s..self.blob_start + e]
    }

    /// Where the view's lines start and end in the block's blob.
    fn view_bytes(&self) -> (usize, usize) {
        (
            self.starts[self.first] as usize,
            self.starts[self.first + self.ts.len()] as usize,
        )
    }

    /// The view's lines back to back (newline-terminated when
    /// [`Block::newline_separated`]), for whole-block searches; offsets in
    /// it are what [`Block::line_at`] and [`Block::line_range`] use.
    pub fn blob(&self) -> &[u8] {
        if self.starts.is_empty() {
            return &[];
        }
        let (a, b) = self.view_bytes();
        &self.data[self.blob_start + a..self.blob_start + b]
    }

    /// True when some entry of the block carries structured metadata.
    pub fn has_metadata(&self) -> bool {
        !self.md_starts.is_empty()
    }

    /// Bytes of the view's structured metadata (0 without a column).
    pub fn metadata_bytes(&self) -> usize {
        if self.md_starts.is_empty() {
            return 0;
        }
        (self.md_starts[self.first + self.ts.len()] - self.md_starts[self.first]) as usize
    }

    /// Bytes of the structured metadata of entries `i..i + n` of the view
    /// (0 without a column).
    pub fn metadata_bytes_of(&self, i: usize, n: usize) -> usize {
        if self.md_starts.is_empty() {
            return 0;
        }
        let i = self.first + i;
        (self.md_starts[i + n] - self.md_starts[i]) as usize
    }

    /// Entry `i`'s structured metadata, appended to `out` (cleared first).
    pub fn metadata<'b>(&'b self, i: usize, out: &mut Vec<(&'b str, &'b str)>) {
        out.clear();
        if self.md_starts.is_empty() {
            return;
        }
        let i = self.first + i;
        let rec = &self.data[self.md_starts[i] as usize..self.md_starts[i + 1] as usize];
        let mut r = Reader::new(rec);
        let n = r.usize().unwrap_or(0);
        for _ in 0..n {
            // Validated when the block was decoded.
            let k = r
                .len_prefixed()
                .and_then(|b| std::str::from_utf8(b).ok())
                .unwrap_or("");
            let v = r
                .len_prefixed()
                .and_then(|b| std::str::from_utf8(b).ok())
                .unwrap_or("");
            out.push((k, v));
        }
    }

    /// True when lines in [`Block::blob`] end with `'\n'`.
    pub fn newline_separated(&self) -> bool {
        self.sep == 1
    }

    /// The index (in the view) of the line holding blob offset `pos`
    /// (binary search).
    pub fn line_at(&self, pos: usize) -> usize {
        let base = self.starts[self.first] as usize;
        let starts = &self.starts[self.first..=self.first + self.ts.len()];
        starts.partition_point(|&s| s as usize - base <= pos) - 1
    }

    /// Start and end (exclusive, without separator) of line `i` of the
    /// view in [`Block::blob`].
    pub fn line_range(&self, i: usize) -> (usize, usize) {
        let base = self.starts[self.first] as usize;
        let i = self.first + i;
        (
            self.starts[i] as usize - base,
            self.starts[i + 1] as usize - self.sep as usize - base,
        )
    }

    /// Decodes the raw block already placed in `self.data`; the view is
    /// the whole block.
    pub fn decode_in_place(&mut self) -> Result<(), DecodeError> {
        self.key = None;
        self.first = 0;
        self.ts.clear();
        self.all_ts.clear();
        self.starts.clear();
        self.md_starts.clear();
        let mut r = Reader::new(&self.data);
        let flags = r.u8().ok_or(DecodeError("truncated header"))?;
        let n = r.usize().ok_or(DecodeError("bad entry count"))?;
        if n > self.data.len() {
            return Err(DecodeError("entry count larger than block"));
        }
        let unit_exp = r.u8().ok_or(DecodeError("truncated header"))?;
        if unit_exp > 18 {
            return Err(DecodeError("bad timestamp unit"));
        }
        let unit = 10i64.pow(u32::from(unit_exp));
        let signed = flags & FLAG_SIGNED_DELTAS != 0;
        self.all_ts.reserve(n);
        if n > 0 {
            let mut t = r.i64().ok_or(DecodeError("truncated timestamps"))?;
            self.all_ts.push(t);
            for _ in 1..n {
                let d = if signed {
                    r.i64()
                } else {
                    r.u64().map(|d| d as i64)
                }
                .ok_or(DecodeError("truncated timestamps"))?;
                t = t.wrapping_add(d.wrapping_mul(unit));
                self.all_ts.push(t);
            }
        }
        self.starts.reserve(n + 1);
        if flags & FLAG_NEWLINE_SEPARATED != 0 {
            self.sep = 1;
            if flags & FLAG_METADATA != 0 {
                read_metadata(&mut r, n, &mut self.md_starts)?;
            }
            self.blob_start = r.position();
            let blob = r.rest();
            if blob.len() > u32::MAX as usize {
                return Err(DecodeError("block too large"));
            }
            self.starts.push(0);
            for pos in memchr::memchr_iter(b'\n', blob) {
                self.starts.push(pos as u32 + 1);
            }
            if self.starts.len() != n + 1 || blob.last().is_some_and(|&b| b != b'\n') {
                return Err(DecodeError("line count does not match entry count"));
            }
        } else {
            self.sep = 0;
            let mut off: u64 = 0;
            self.starts.push(0);
            for _ in 0..n {
                let len = r.u64().ok_or(DecodeError("truncated lengths"))?;
                off = off.saturating_add(len);
                if off > u32::MAX as u64 {
                    return Err(DecodeError("block too large"));
                }
                self.starts.push(off as u32);
            }
            if flags & FLAG_METADATA != 0 {
                read_metadata(&mut r, n, &mut self.md_starts)?;
            }
            self.blob_start = r.position();
            if r.rest().len() as u64 != off {
                return Err(DecodeError("blob size does not match line lengths"));
            }
        }
        self.ts.extend_from_slice(&self.all_ts);
        Ok(())
    }
}

/// Where each part of a raw (decompressed) block lies: `("header", …)`
/// (flags, entry count, timestamp unit), `("timestamps", …)`,
/// `("lengths", …)` (empty when lines are `\n`-terminated),
/// `("metadata", …)` (empty without a metadata column) and `("lines", …)`.
/// For tools and tests that must reach one column of a stored block (the
/// corruption tests flip a bit in each).
pub fn column_layout(raw: &[u8]) -> Result<Vec<(&'static str, Range<usize>)>, DecodeError> {
    let mut r = Reader::new(raw);
    let flags = r.u8().ok_or(DecodeError("truncated header"))?;
    let n = r.usize().ok_or(DecodeError("bad entry count"))?;
    r.u8().ok_or(DecodeError("truncated header"))?;
    let ts = r.position();
    for i in 0..n {
        let ok = if i == 0 || flags & FLAG_SIGNED_DELTAS != 0 {
            r.i64().is_some()
        } else {
            r.u64().is_some()
        };
        if !ok {
            return Err(DecodeError("truncated timestamps"));
        }
    }
    let lengths = r.position();
    if flags & FLAG_NEWLINE_SEPARATED == 0 {
        for _ in 0..n {
            r.u64().ok_or(DecodeError("truncated lengths"))?;
        }
    }
    let metadata = r.position();
    if flags & FLAG_METADATA != 0 {
        let len = r.usize().ok_or(DecodeError("truncated metadata"))?;
        r.bytes(len).ok_or(DecodeError("truncated metadata"))?;
    }
    let lines = r.position();
    Ok(vec![
        ("header", 0..ts),
        ("timestamps", ts..lengths),
        ("lengths", lengths..metadata),
        ("metadata", metadata..lines),
        ("lines", lines..raw.len()),
    ])
}

/// Reads a block's metadata column, checking every record, and notes where
/// each entry's record starts.
fn read_metadata(
    r: &mut Reader<'_>,
    n: usize,
    md_starts: &mut Vec<u32>,
) -> Result<(), DecodeError> {
    {
        let len = r.usize().ok_or(DecodeError("truncated metadata"))?;
        let base = r.position();
        let col = r.bytes(len).ok_or(DecodeError("truncated metadata"))?;
        let mut m = Reader::new(col);
        md_starts.reserve(n + 1);
        for _ in 0..n {
            md_starts.push((base + m.position()) as u32);
            let pairs = m.usize().ok_or(DecodeError("bad metadata"))?;
            for _ in 0..pairs.min(col.len()) * 2 {
                let s = m.len_prefixed().ok_or(DecodeError("bad metadata"))?;
                std::str::from_utf8(s).map_err(|_| DecodeError("metadata is not UTF-8"))?;
            }
        }
        if !m.is_empty() {
            return Err(DecodeError("metadata column size mismatch"));
        }
        md_starts.push((base + len) as u32);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn roundtrip(entries: &[(i64, Vec<u8>)]) -> Block {
        let mut raw = Vec::new();
        encode(entries.iter().map(|(t, l)| (*t, l.as_slice())), &mut raw);
        let mut b = Block {
            data: raw,
            ..Default::default()
        };
        b.decode_in_place().unwrap();
        b
    }

    #[test]
    fn seconds_precision_uses_coarse_unit() {
        let e: Vec<(i64, Vec<u8>)> = (0..100)
            .map(|i| (1_700_000_000_000_000_000 + i * 1_000_000_000, b"x".to_vec()))
            .collect();
        let mut raw = Vec::new();
        encode(e.iter().map(|(t, l)| (*t, l.as_slice())), &mut raw);
        assert_eq!(raw[2], 9);
        let b = roundtrip(&e);
        assert_eq!(b.ts, e.iter().map(|x| x.0).collect::<Vec<_>>());
    }

    #[test]
    fn metadata_round_trips() {
        let md: Vec<(String, String)> =
            vec![("trace_id".into(), "abc".into()), ("lvl".into(), "".into())];
        let none: Vec<(String, String)> = vec![];
        for lines in [
            vec![b"a".to_vec(), b"b".to_vec()],
            vec![b"a\nx".to_vec(), b"b".to_vec()],
        ] {
            let e = [(1i64, &lines[0], &md), (2, &lines[1], &none)];
            let mut raw = Vec::new();
            encode_with_metadata(
                e.iter().map(|(t, l, m)| (*t, l.as_slice(), m.as_slice())),
                &mut raw,
            );
            let mut b = Block {
                data: raw,
                ..Default::default()
            };
            b.decode_in_place().unwrap();
            assert!(b.has_metadata());
            let mut out = Vec::new();
            b.metadata(0, &mut out);
            assert_eq!(out, vec![("trace_id", "abc"), ("lvl", "")]);
            b.metadata(1, &mut out);
            assert!(out.is_empty());
            assert_eq!(b.line(0), lines[0].as_slice());
            assert_eq!(b.line(1), b"b");
        }
    }

    #[test]
    fn timestamps_decode_from_a_prefix() {
        let e: Vec<(i64, Vec<u8>)> = (0..50)
            .map(|i| (1_000 + i * 7, format!("line {i}").into_bytes()))
            .collect();
        let mut raw = Vec::new();
        encode(e.iter().map(|(t, l)| (*t, l.as_slice())), &mut raw);
        let mut out = Vec::new();
        assert_eq!(decode_timestamps(&raw[..3], &mut out), Ok(None));
        assert_eq!(decode_timestamps(&raw, &mut out), Ok(Some(false)));
        assert_eq!(out, e.iter().map(|x| x.0).collect::<Vec<_>>());
    }

    #[test]
    fn blocks_are_cut_per_day_and_size() {
        let day = crate::time::NANOS_PER_DAY;
        let big = BLOCK_TARGET_BYTES / 2 + 1;
        // Two big lines cannot share a block; a new day starts a new block;
        // a line larger than the target still gets a block of its own.
        let e = [
            (1, big),
            (2, big),
            (3, 1),
            (day, 1),
            (day + 1, 3 * BLOCK_TARGET_BYTES),
        ];
        let cut: Vec<_> = cut_blocks(&e, |x| *x).collect();
        assert_eq!(cut, vec![(0, 0..1), (0, 1..3), (1, 3..4), (1, 4..5)]);
        assert_eq!(cut_blocks(&e[..0], |x| *x).count(), 0);
    }

    #[test]
    fn compressed_blocks_describe_themselves() {
        let md: Vec<(String, String)> = vec![("k".into(), "v".into())];
        let e = [(5i64, &b"ab"[..], &md[..]), (9, b"cde", &[][..])];
        let c = compress(e.iter().copied(), 3).unwrap();
        let mut raw = Vec::new();
        encode_with_metadata(e.iter().copied(), &mut raw);
        assert_eq!(zstd::bulk::decompress(&c.bytes, 1 << 20).unwrap(), raw);
        assert_eq!(
            (
                c.meta.raw_len as usize,
                c.meta.entries,
                c.meta.line_bytes,
                c.meta.min_t,
                c.meta.max_t
            ),
            (raw.len(), 2, 5, 5, 9)
        );
    }

    #[test]
    fn a_reused_context_makes_the_same_frames() {
        let text: Vec<u8> = (0..20_000u32)
            .flat_map(|i| format!("line {} of {}\n", i % 97, i % 13).into_bytes())
            .collect();
        for level in [3, 8, 3, 1] {
            for part in [&text[..], &text[..100], &text[5000..]] {
                assert_eq!(
                    compress_bytes(part, level).unwrap(),
                    zstd::bulk::compress(part, level).unwrap()
                );
            }
        }
    }

    #[test]
    fn multiline_entries_use_lengths() {
        let e = vec![(1, b"a\nb".to_vec()), (2, b"".to_vec()), (2, b"c".to_vec())];
        let b = roundtrip(&e);
        assert!(!b.newline_separated());
        assert_eq!(b.line(0), b"a\nb");
        assert_eq!(b.line(1), b"");
        assert_eq!(b.line(2), b"c");
    }

    /// Found by fuzzing (`fuzz/fuzz_targets/block_decode.rs`): a count of
    /// 2^59 entries made the timestamp decoder reserve 4 EiB and abort.
    #[test]
    fn a_huge_entry_count_is_not_allocated() {
        let mut raw = vec![0u8];
        varint::put_u64(&mut raw, 1 << 59);
        raw.extend_from_slice(&[0, 2, 1, 1]);
        let mut out = Vec::new();
        assert_eq!(decode_timestamps(&raw, &mut out), Ok(None));
        assert!(out.capacity() < 64);
        let mut b = Block {
            data: raw,
            ..Default::default()
        };
        assert!(b.decode_in_place().is_err());
    }

    /// Found by fuzzing: line lengths summing past `u64::MAX` overflowed
    /// (a panic in debug builds, a wrapped offset in release).
    #[test]
    fn line_lengths_that_overflow_are_an_error() {
        // flags 0 (a length column), 2 entries, unit 0, two timestamps, and
        // lengths u64::MAX and 2.
        let mut raw = vec![0u8, 2, 0, 2, 2];
        varint::put_u64(&mut raw, u64::MAX);
        varint::put_u64(&mut raw, 2);
        let mut b = Block {
            data: raw,
            ..Default::default()
        };
        assert_eq!(b.decode_in_place(), Err(DecodeError("block too large")));
    }

    proptest! {
        #[test]
        fn encode_decode(mut ts in proptest::collection::vec(any::<i64>(), 0..40),
                         lines in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..20), 40)) {
            ts.sort();
            let e: Vec<(i64, Vec<u8>)> = ts.iter().zip(lines).map(|(t, l)| (*t, l)).collect();
            let b = roundtrip(&e);
            prop_assert_eq!(b.len(), e.len());
            for (i, (t, l)) in e.iter().enumerate() {
                prop_assert_eq!(b.ts[i], *t);
                prop_assert_eq!(b.line(i), l.as_slice());
                let (s, e) = b.line_range(i);
                if e > s { prop_assert_eq!(b.line_at(s), i); }
            }
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut b = Block { data: bytes, ..Default::default() };
            let _ = b.decode_in_place();
        }
    }
}
