//! Segment files: immutable, self-describing containers of chunks.
//!
//! ```text
//! header   16 B   magic "LOKALSEG", format version u32 LE, flags u32 LE (0)
//! blocks          zstd frames, back to back
//! footer          varint-encoded chunk list (below)
//! trailer  32 B   footer offset u64, footer length u64, xxh3-64 of footer u64,
//!                 format version u32, magic "LKSG"
//! ```
//!
//! Footer: `n_streams`, then per stream: label count, `(name, value)` as
//! length-prefixed bytes, fingerprint (u64 LE), block count, then per block:
//! offset, compressed length, raw length, entries, line bytes, min ts (zigzag),
//! max ts - min ts, xxh3-64 of the compressed bytes (u64 LE).
//!
//! A segment is readable without any index: the footer is the source of
//! truth, indexes only accelerate. Checksums let a reader skip one corrupt
//! block and keep reading the others.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::chunk::block::{Block, DecodeError};
use crate::model::Labels;
use crate::varint::{self, Reader};

thread_local! {
    /// One zstd context per thread: creating one per block costs more than
    /// decompressing a small block.
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

thread_local! {
    /// The compressed bytes of the block a thread reads: blocks are read
    /// with `pread`, not through the map (see [`SegmentReader`]).
    static BLOCK_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

thread_local! {
    /// A streaming zstd context and buffer per thread for timestamp-only reads.
    static TS_DECODER: std::cell::RefCell<(Option<zstd::stream::raw::Decoder<'static>>, Vec<u8>)> =
        const { std::cell::RefCell::new((None, Vec::new())) };
}

/// Magic at the start of every segment.
pub const MAGIC: &[u8; 8] = b"LOKALSEG";
/// Magic at the very end of every segment.
pub const TRAILER_MAGIC: &[u8; 4] = b"LKSG";
/// Current format version.
pub const FORMAT_VERSION: u32 = 1;
const HEADER_LEN: usize = 16;
const TRAILER_LEN: usize = 32;
/// What one read fault may map: the kernel maps the cached pages around a
/// faulting address ("fault-around", 64 KiB by default, and since Linux 6.x
/// the whole large folio of the page cache holding it), never beyond the
/// 2 MiB-aligned range one page table covers. Released ranges are rounded
/// out to it, in addresses (see [`SegmentReader::release`]).
const FAULT_SPAN: usize = 2 << 20;

/// Where one compressed block lives and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockMeta {
    /// Byte offset of the zstd frame in the segment file.
    pub offset: u64,
    /// Compressed length.
    pub len: u32,
    /// Raw (decompressed) length.
    pub raw_len: u32,
    /// Entries in the block.
    pub entries: u32,
    /// Sum of the lines' lengths (what Loki counts as bytes).
    pub line_bytes: u64,
    /// Smallest timestamp, ns.
    pub min_t: i64,
    /// Largest timestamp, ns.
    pub max_t: i64,
    /// xxh3-64 of the compressed bytes.
    pub checksum: u64,
}

impl BlockMeta {
    /// Appends the block reference as segment footers and label indexes store
    /// it: offset, compressed and raw length, entries, line bytes (varints),
    /// min ts (zigzag), max ts - min ts, checksum (u64 LE).
    pub fn encode(&self, out: &mut Vec<u8>) {
        varint::put_u64(out, self.offset);
        varint::put_u64(out, u64::from(self.len));
        varint::put_u64(out, u64::from(self.raw_len));
        varint::put_u64(out, u64::from(self.entries));
        varint::put_u64(out, self.line_bytes);
        varint::put_i64(out, self.min_t);
        varint::put_u64(out, self.max_t.wrapping_sub(self.min_t) as u64);
        out.extend_from_slice(&self.checksum.to_le_bytes());
    }

    /// Reads a reference written by [`BlockMeta::encode`]; `None` when the
    /// bytes are truncated or a field is out of range.
    pub fn decode(r: &mut Reader<'_>) -> Option<BlockMeta> {
        let offset = r.u64()?;
        let len = u32::try_from(r.u64()?).ok()?;
        let raw_len = u32::try_from(r.u64()?).ok()?;
        let entries = u32::try_from(r.u64()?).ok()?;
        let line_bytes = r.u64()?;
        let min_t = r.i64()?;
        let max_t = min_t.wrapping_add(r.u64()? as i64);
        let checksum = r.fixed_u64()?;
        Some(BlockMeta {
            offset,
            len,
            raw_len,
            entries,
            line_bytes,
            min_t,
            max_t,
            checksum,
        })
    }
}

/// One stream's chunk in a segment: its labels and its blocks in time order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamChunk {
    /// The stream's labels.
    pub labels: Labels,
    /// `labels.fingerprint()`, stored so readers need not rehash.
    pub fingerprint: u64,
    /// The blocks.
    pub blocks: Vec<BlockMeta>,
}

impl StreamChunk {
    /// Smallest timestamp over all blocks.
    pub fn min_t(&self) -> i64 {
        self.blocks.iter().map(|b| b.min_t).min().unwrap_or(0)
    }
    /// Largest timestamp over all blocks.
    pub fn max_t(&self) -> i64 {
        self.blocks.iter().map(|b| b.max_t).max().unwrap_or(0)
    }
    /// Total entries.
    pub fn entries(&self) -> u64 {
        self.blocks.iter().map(|b| u64::from(b.entries)).sum()
    }
}

/// Errors reading or writing segments.
#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    /// I/O on the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The segment.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a segment, is truncated, or its footer is damaged.
    #[error("{path}: corrupt segment: {what}")]
    Corrupt {
        /// The segment.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// A block's checksum or contents are wrong; other blocks are unaffected.
    #[error("{path}: corrupt block at offset {offset} (length {len}): {what}")]
    CorruptBlock {
        /// The segment.
        path: PathBuf,
        /// The block's offset.
        offset: u64,
        /// Its compressed length.
        len: u32,
        /// What is wrong.
        what: String,
    },
    /// Written by a newer lokal.
    #[error("{path}: segment format version {found} is newer than this lokal supports ({supported}); upgrade lokal")]
    Version {
        /// The segment.
        path: PathBuf,
        /// Version in the file.
        found: u32,
        /// Highest supported.
        supported: u32,
    },
}

/// Writes one segment: blocks first, then the footer.
pub struct SegmentWriter {
    out: BufWriter<File>,
    path: PathBuf,
    pos: u64,
    streams: Vec<StreamChunk>,
}

impl SegmentWriter {
    /// Creates `path` (which must not exist) and writes the header.
    pub fn create(path: &Path) -> Result<Self, SegmentError> {
        let io = |source| SegmentError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(io)?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let mut header = [0u8; HEADER_LEN];
        header[..8].copy_from_slice(MAGIC);
        header[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.write_all(&header).map_err(io)?;
        Ok(SegmentWriter {
            out,
            path: path.to_path_buf(),
            pos: HEADER_LEN as u64,
            streams: Vec::new(),
        })
    }

    /// Appends one compressed block of the stream `labels`. Blocks of one
    /// stream must be added in time order.
    pub fn add_block(
        &mut self,
        labels: &Labels,
        fingerprint: u64,
        compressed: &[u8],
        mut meta: BlockMeta,
    ) -> Result<(), SegmentError> {
        self.out
            .write_all(compressed)
            .map_err(|source| SegmentError::Io {
                path: self.path.clone(),
                source,
            })?;
        meta.offset = self.pos;
        meta.len = compressed.len() as u32;
        meta.checksum = xxhash_rust::xxh3::xxh3_64(compressed);
        self.pos += compressed.len() as u64;
        match self.streams.last_mut() {
            Some(s) if s.fingerprint == fingerprint && s.labels == *labels => s.blocks.push(meta),
            _ => self.streams.push(StreamChunk {
                labels: labels.clone(),
                fingerprint,
                blocks: vec![meta],
            }),
        }
        Ok(())
    }

    /// Writes footer and trailer and fsyncs the file. Returns the chunk list
    /// and the file size.
    pub fn finish(&mut self) -> Result<(Vec<StreamChunk>, u64), SegmentError> {
        let footer = encode_footer(&self.streams);
        let mut trailer = [0u8; TRAILER_LEN];
        trailer[0..8].copy_from_slice(&self.pos.to_le_bytes());
        trailer[8..16].copy_from_slice(&(footer.len() as u64).to_le_bytes());
        trailer[16..24].copy_from_slice(&xxhash_rust::xxh3::xxh3_64(&footer).to_le_bytes());
        trailer[24..28].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        trailer[28..32].copy_from_slice(TRAILER_MAGIC);
        let path = self.path.clone();
        let io = |source| SegmentError::Io {
            path: path.clone(),
            source,
        };
        self.out.write_all(&footer).map_err(io)?;
        self.out.write_all(&trailer).map_err(io)?;
        self.out.flush().map_err(io)?;
        self.out.get_ref().sync_all().map_err(io)?;
        let size = self.pos + footer.len() as u64 + TRAILER_LEN as u64;
        Ok((std::mem::take(&mut self.streams), size))
    }
}

fn encode_footer(streams: &[StreamChunk]) -> Vec<u8> {
    let mut f = Vec::new();
    varint::put_u64(&mut f, streams.len() as u64);
    for s in streams {
        varint::put_u64(&mut f, s.labels.len() as u64);
        for (n, v) in s.labels.pairs() {
            varint::put_u64(&mut f, n.len() as u64);
            f.extend_from_slice(n.as_bytes());
            varint::put_u64(&mut f, v.len() as u64);
            f.extend_from_slice(v.as_bytes());
        }
        f.extend_from_slice(&s.fingerprint.to_le_bytes());
        varint::put_u64(&mut f, s.blocks.len() as u64);
        for b in &s.blocks {
            b.encode(&mut f);
        }
    }
    f
}

fn decode_footer(buf: &[u8], data_end: u64) -> Result<Vec<StreamChunk>, &'static str> {
    let mut r = Reader::new(buf);
    let n = r.usize().ok_or("bad stream count")?;
    let mut streams = Vec::with_capacity(n.min(1 << 16));
    for _ in 0..n {
        let nl = r.usize().ok_or("bad label count")?;
        let mut pairs = Vec::with_capacity(nl.min(64));
        for _ in 0..nl {
            let name = std::str::from_utf8(r.len_prefixed().ok_or("truncated label")?)
                .map_err(|_| "label name is not UTF-8")?;
            let value = std::str::from_utf8(r.len_prefixed().ok_or("truncated label")?)
                .map_err(|_| "label value is not UTF-8")?;
            pairs.push((name.to_string(), value.to_string()));
        }
        let fingerprint = r.fixed_u64().ok_or("truncated fingerprint")?;
        let nb = r.usize().ok_or("bad block count")?;
        let mut blocks = Vec::with_capacity(nb.min(1 << 16));
        for _ in 0..nb {
            let b = BlockMeta::decode(&mut r).ok_or("truncated or malformed block reference")?;
            if b.offset < HEADER_LEN as u64 || b.offset.saturating_add(u64::from(b.len)) > data_end
            {
                return Err("block outside the data area");
            }
            blocks.push(b);
        }
        streams.push(StreamChunk {
            labels: Labels::from_pairs(pairs),
            fingerprint,
            blocks,
        });
    }
    if !r.is_empty() {
        return Err("trailing bytes after footer");
    }
    Ok(streams)
}

/// A memory-mapped segment with its parsed footer (or, opened with
/// [`SegmentReader::open_blocks`], without it: block references then come
/// from a label index).
///
/// The map serves the header, trailer and footer, whose pages are handed
/// back to the kernel once read (`MADV_DONTNEED`; they stay in the page
/// cache); blocks are read with `pread` into a per-thread buffer. So a
/// query that reads a month of segments holds one compressed block per
/// thread, not the month: mapped pages a process touched count in its RSS.
pub struct SegmentReader {
    path: PathBuf,
    /// For reading blocks (`pread`); `None` past the process's budget of
    /// open files ([`FdBudget`]): blocks are then read through the map.
    file: Option<File>,
    map: Mmap,
    /// End of the data area (the footer's offset): no block lies past it.
    data_end: u64,
    streams: Vec<StreamChunk>,
    footer_read: bool,
}

impl Drop for SegmentReader {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            FD_BUDGET.give_back();
        }
    }
}

/// How many segment files readers keep open at once: half the soft limit
/// of open files (`RLIMIT_NOFILE`), at most 1 Mi, so that a query over
/// more segments than that reads the rest through their maps instead of
/// failing with "too many open files" (a month of small segments is
/// thousands; the usual soft limit is 1,024).
struct FdBudget {
    held: std::sync::atomic::AtomicUsize,
    limit: std::sync::OnceLock<usize>,
}

static FD_BUDGET: FdBudget = FdBudget {
    held: std::sync::atomic::AtomicUsize::new(0),
    limit: std::sync::OnceLock::new(),
};

impl FdBudget {
    fn limit(&self) -> usize {
        *self.limit.get_or_init(|| {
            let mut r = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: getrlimit writes the struct it is given.
            let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } == 0;
            if ok {
                (r.rlim_cur.min(2 << 20) / 2) as usize
            } else {
                256
            }
        })
    }

    /// Takes one file from the budget, if there is one left.
    fn take(&self) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let limit = self.limit();
        self.held
            .fetch_update(Relaxed, Relaxed, |h| (h < limit).then_some(h + 1))
            .is_ok()
    }

    fn give_back(&self) {
        self.held.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl std::fmt::Debug for SegmentReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentReader")
            .field("path", &self.path)
            .finish()
    }
}

impl SegmentReader {
    /// Maps `path` and checks header, trailer and footer.
    pub fn open(path: &Path) -> Result<Self, SegmentError> {
        let mut r = Self::open_blocks(path)?;
        let corrupt = |what: &str| SegmentError::Corrupt {
            path: path.to_path_buf(),
            what: what.to_string(),
        };
        let t = &r.map[r.map.len() - TRAILER_LEN..];
        let footer_sum = u64::from_le_bytes(t[16..24].try_into().unwrap());
        let (footer_off, footer_end) = (r.data_end as usize, r.map.len() - TRAILER_LEN);
        let footer = &r.map[footer_off..footer_end];
        if xxhash_rust::xxh3::xxh3_64(footer) != footer_sum {
            return Err(corrupt(&format!(
                "footer checksum mismatch at offset {footer_off}"
            )));
        }
        r.streams = decode_footer(footer, r.data_end).map_err(corrupt)?;
        r.footer_read = true;
        r.release(footer_off, footer_end - footer_off);
        Ok(r)
    }

    /// Maps `path` and checks header and trailer (magics, version, the
    /// footer's position) but neither reads nor checks the footer: for a
    /// reader that takes its block references from a label index, so that
    /// reading one stream of a segment holding a million costs no more than
    /// reading one stream of a segment holding ten. [`Self::streams`] is then
    /// empty; every block read is still checked (bounds, checksum).
    pub fn open_blocks(path: &Path) -> Result<Self, SegmentError> {
        let corrupt = |what: &str| SegmentError::Corrupt {
            path: path.to_path_buf(),
            what: what.to_string(),
        };
        let file = crate::file::open_regular(path).map_err(|source| SegmentError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        // SAFETY: segments are immutable once renamed into place; lokal never
        // writes to a published segment, and unlinking keeps the mapping valid.
        let map = unsafe { Mmap::map(&file) }.map_err(|source| SegmentError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if map.len() < HEADER_LEN + TRAILER_LEN {
            return Err(corrupt("file too short to be a segment"));
        }
        if &map[..8] != MAGIC {
            return Err(corrupt("not a lokal segment (bad magic)"));
        }
        let t = &map[map.len() - TRAILER_LEN..];
        if &t[28..32] != TRAILER_MAGIC {
            return Err(corrupt("bad trailer magic (file truncated?)"));
        }
        let version = u32::from_le_bytes(t[24..28].try_into().unwrap());
        if version > FORMAT_VERSION {
            return Err(SegmentError::Version {
                path: path.to_path_buf(),
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let footer_off = u64::from_le_bytes(t[0..8].try_into().unwrap());
        let footer_len = u64::from_le_bytes(t[8..16].try_into().unwrap());
        let data_end = (map.len() - TRAILER_LEN) as u64;
        if footer_off < HEADER_LEN as u64 || footer_off.checked_add(footer_len) != Some(data_end) {
            return Err(corrupt("footer position out of range"));
        }
        let r = SegmentReader {
            path: path.to_path_buf(),
            file: FD_BUDGET.take().then_some(file),
            map,
            data_end: footer_off,
            streams: Vec::new(),
            footer_read: false,
        };
        // The header and trailer were read; without this every segment a
        // query opens keeps a fault-around window at each end mapped (two
        // 64 KiB windows a segment: 200 MB over a month of small segments).
        r.release(0, HEADER_LEN);
        r.release(r.map.len() - TRAILER_LEN, TRAILER_LEN);
        Ok(r)
    }

    /// Whether the footer was read ([`Self::open`]) or not ([`Self::open_blocks`]).
    pub fn footer_read(&self) -> bool {
        self.footer_read
    }

    /// Drops the process's mapping of the pages holding `len` bytes at
    /// `offset`, rounded out to [`FAULT_SPAN`]: the kernel keeps them in
    /// the page cache, and a later read faults them in again with the same
    /// bytes. The rounding matters: a fault maps cached pages around the
    /// faulting one, so without it the neighbouring pages a read touched stay
    /// mapped (opening the 1,714 segments of a month kept 200 MB mapped).
    /// Pages another thread is reading in that span are faulted in again.
    fn release(&self, offset: usize, len: usize) {
        let base = self.map.as_ptr() as usize;
        let end = offset.saturating_add(len).min(self.map.len());
        let lo = (base + offset.min(end)) / FAULT_SPAN * FAULT_SPAN;
        let hi = (base + end).next_multiple_of(FAULT_SPAN);
        let offset = lo.saturating_sub(base);
        let len = (hi - base).min(self.map.len()) - offset;
        #[cfg(unix)]
        // SAFETY: the map is a shared, read-only mapping of an immutable
        // file: after MADV_DONTNEED a read of these pages (by this thread or
        // one holding a slice of a neighbouring block) faults the same bytes
        // back in from the file, so no borrowed slice ever sees them change.
        // Failure only means the pages stay mapped.
        unsafe {
            let _ = self.map.unchecked_advise_range(
                memmap2::UncheckedAdvice::DontNeed,
                offset,
                len.min(self.map.len() - offset.min(self.map.len())),
            );
        }
    }

    /// Size of the file in bytes.
    pub fn file_size(&self) -> u64 {
        self.map.len() as u64
    }

    /// The segment's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The chunks, one per stream (none when opened with [`Self::open_blocks`]).
    pub fn streams(&self) -> &[StreamChunk] {
        &self.streams
    }

    /// The compressed bytes of `meta`, after checking that it lies in the
    /// data area (a reference from an index is not checked against the
    /// footer) and its checksum.
    pub fn block_bytes(&self, meta: &BlockMeta) -> Result<&[u8], SegmentError> {
        self.check_bounds(meta)?;
        let start = meta.offset as usize;
        let bytes = &self.map[start..start + meta.len as usize];
        if xxhash_rust::xxh3::xxh3_64(bytes) != meta.checksum {
            return Err(self.block_error(meta, "checksum mismatch"));
        }
        Ok(bytes)
    }

    fn check_bounds(&self, meta: &BlockMeta) -> Result<(), SegmentError> {
        let end = meta.offset.checked_add(u64::from(meta.len));
        if meta.offset < HEADER_LEN as u64 || end.is_none_or(|e| e > self.data_end) {
            return Err(self.block_error(meta, "block outside the data area"));
        }
        Ok(())
    }

    /// Calls `f` with the compressed bytes of `meta`, read with `pread`
    /// into a per-thread buffer after checking that the block lies in the
    /// data area, and checked against its checksum.
    ///
    /// Not through the map: pages a process maps count in its RSS until
    /// they are unmapped, a fault maps the cached pages around the faulting
    /// one too (fault-around, and on Linux 6.x whole large page-cache
    /// folios), and handing them back after every block costs a page-table
    /// zap and refaults per block, which dominate when blocks are small
    /// (150,000 blocks of 230 bytes: 5x the system time). A copy of the
    /// compressed bytes costs less than either.
    fn with_block_bytes<R>(
        &self,
        meta: &BlockMeta,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, SegmentError> {
        use std::os::unix::fs::FileExt;
        self.check_bounds(meta)?;
        let Some(file) = &self.file else {
            let start = meta.offset as usize;
            let bytes = &self.map[start..start + meta.len as usize];
            if xxhash_rust::xxh3::xxh3_64(bytes) != meta.checksum {
                return Err(self.block_error(meta, "checksum mismatch"));
            }
            let r = f(bytes);
            self.release(start, bytes.len());
            return Ok(r);
        };
        BLOCK_BUF.with(|cell| {
            let mut buf = cell.borrow_mut();
            let len = meta.len as usize;
            if buf.len() < len {
                buf.resize(len, 0);
            }
            let bytes = &mut buf[..len];
            file.read_exact_at(bytes, meta.offset)
                .map_err(|source| SegmentError::Io {
                    path: self.path.clone(),
                    source,
                })?;
            if xxhash_rust::xxh3::xxh3_64(bytes) != meta.checksum {
                return Err(self.block_error(meta, "checksum mismatch"));
            }
            Ok(f(bytes))
        })
    }

    /// Checks that `meta` lies in the data area and matches its checksum,
    /// without decompressing it: a reader that streams its answer checks
    /// every block before it prints anything, so a damaged one fails the
    /// query before half an answer.
    pub fn verify_block(&self, meta: &BlockMeta) -> Result<(), SegmentError> {
        self.with_block_bytes(meta, |_| ())
    }

    /// Decodes only the timestamps of `meta` into `out`, decompressing just
    /// the start of the block (the timestamp column comes first). Returns how
    /// many bytes were decompressed, or `None` when the block carries
    /// structured metadata (which metric queries need): the caller then reads
    /// the whole block.
    pub fn read_timestamps(
        &self,
        meta: &BlockMeta,
        out: &mut Vec<i64>,
    ) -> Result<Option<usize>, SegmentError> {
        let err = |what: &str| self.block_error(meta, what);
        self.with_block_bytes(meta, |bytes| {
            TS_DECODER.with(|cell| {
                let mut cell = cell.borrow_mut();
                let (dec, buf) = &mut *cell;
                if dec.is_none() {
                    *dec = Some(
                        zstd::stream::raw::Decoder::new()
                            .map_err(|e| err(&format!("zstd: {e}")))?,
                    );
                }
                let dec = dec.as_mut().expect("set above");
                zstd::stream::raw::Operation::reinit(dec)
                    .map_err(|e| err(&format!("zstd: {e}")))?;
                buf.clear();
                let mut input = bytes;
                let mut chunk = [0u8; 16 << 10];
                loop {
                    match crate::chunk::block::decode_timestamps(buf, out) {
                        Ok(Some(has_metadata)) => return Ok((!has_metadata).then_some(buf.len())),
                        Ok(None) => {}
                        Err(e) => return Err(err(e.0)),
                    }
                    if input.is_empty() && buf.len() >= meta.raw_len as usize {
                        return Err(err("truncated timestamps"));
                    }
                    let st = zstd::stream::raw::Operation::run_on_buffers(dec, input, &mut chunk)
                        .map_err(|e| err(&format!("zstd: {e}")))?;
                    input = &input[st.bytes_read..];
                    buf.extend_from_slice(&chunk[..st.bytes_written]);
                    if st.bytes_read == 0 && st.bytes_written == 0 {
                        return Err(err("truncated timestamps"));
                    }
                }
            })
        })?
    }

    /// Checks and decompresses `meta` into `block` (reusing its buffers).
    pub fn read_block(&self, meta: &BlockMeta, block: &mut Block) -> Result<(), SegmentError> {
        block.data.clear();
        block.data.reserve(meta.raw_len as usize);
        let n = self
            .with_block_bytes(meta, |bytes| {
                DECOMPRESSOR.with(|d| {
                    let mut d = d.borrow_mut();
                    if d.is_none() {
                        *d = Some(zstd::bulk::Decompressor::new()?);
                    }
                    d.as_mut()
                        .expect("set above")
                        .decompress_to_buffer(bytes, &mut block.data)
                })
            })?
            .map_err(|e| self.block_error(meta, &format!("zstd: {e}")))?;
        if n != meta.raw_len as usize {
            return Err(self.block_error(meta, "decompressed size differs from footer"));
        }
        block
            .decode_in_place()
            .map_err(|DecodeError(what)| self.block_error(meta, what))?;
        if block.len() != meta.entries as usize {
            return Err(self.block_error(meta, "entry count differs from footer"));
        }
        Ok(())
    }

    fn block_error(&self, meta: &BlockMeta, what: &str) -> SegmentError {
        SegmentError::CorruptBlock {
            path: self.path.clone(),
            offset: meta.offset,
            len: meta.len,
            what: what.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::block::encode;

    type Streams = Vec<(Labels, Vec<(i64, Vec<u8>)>)>;

    fn write_segment(path: &Path, streams: &Streams) {
        let mut w = SegmentWriter::create(path).unwrap();
        for (labels, entries) in streams {
            for part in entries.chunks(3) {
                let mut raw = Vec::new();
                encode(part.iter().map(|(t, l)| (*t, l.as_slice())), &mut raw);
                let comp = zstd::bulk::compress(&raw, 3).unwrap();
                let meta = BlockMeta {
                    offset: 0,
                    len: 0,
                    raw_len: raw.len() as u32,
                    entries: part.len() as u32,
                    line_bytes: part.iter().map(|(_, l)| l.len() as u64).sum(),
                    min_t: part[0].0,
                    max_t: part[part.len() - 1].0,
                    checksum: 0,
                };
                w.add_block(labels, labels.fingerprint(), &comp, meta)
                    .unwrap();
            }
        }
        w.finish().unwrap();
    }

    fn sample() -> Streams {
        (0..3)
            .map(|s| {
                let l = Labels::from_pairs([("job", format!("j{s}"))]);
                (
                    l,
                    (0..10)
                        .map(|i| (i * 1000, format!("line {s} {i}").into_bytes()))
                        .collect(),
                )
            })
            .collect()
    }

    #[test]
    fn write_then_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.seg");
        let data = sample();
        write_segment(&p, &data);
        let r = SegmentReader::open(&p).unwrap();
        assert_eq!(r.streams().len(), 3);
        let mut b = Block::default();
        for (s, (labels, entries)) in r.streams().iter().zip(&data) {
            assert_eq!(&s.labels, labels);
            let mut got = Vec::new();
            for m in &s.blocks {
                r.read_block(m, &mut b).unwrap();
                for i in 0..b.len() {
                    got.push((b.ts[i], b.line(i).to_vec()));
                }
            }
            assert_eq!(&got, entries);
        }
    }

    #[test]
    fn flipped_byte_hits_one_block_only() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.seg");
        write_segment(&p, &sample());
        let victim = {
            let r = SegmentReader::open(&p).unwrap();
            r.streams()[1].blocks[1].clone()
        };
        let mut bytes = std::fs::read(&p).unwrap();
        bytes[victim.offset as usize + 3] ^= 0xff;
        std::fs::write(&p, &bytes).unwrap();
        let r = SegmentReader::open(&p).unwrap();
        let mut b = Block::default();
        let mut bad = 0;
        let mut good = 0;
        for s in r.streams() {
            for m in &s.blocks {
                match r.read_block(m, &mut b) {
                    Ok(()) => good += 1,
                    Err(SegmentError::CorruptBlock { offset, .. }) => {
                        assert_eq!(offset, victim.offset);
                        bad += 1
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        }
        assert_eq!((bad, good), (1, 11));
    }

    /// A reader opened without its footer reads the same blocks, and a
    /// block reference it did not check (from an index) that points past
    /// the data area is an error naming the block, not a panic.
    #[test]
    fn blocks_read_without_the_footer() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.seg");
        write_segment(&p, &sample());
        let full = SegmentReader::open(&p).unwrap();
        let bare = SegmentReader::open_blocks(&p).unwrap();
        assert!(full.footer_read() && !bare.footer_read());
        assert!(bare.streams().is_empty());
        let (mut a, mut b) = (Block::default(), Block::default());
        for m in full.streams().iter().flat_map(|s| &s.blocks) {
            full.read_block(m, &mut a).unwrap();
            bare.read_block(m, &mut b).unwrap();
            assert_eq!(a.data, b.data);
            bare.verify_block(m).unwrap();
        }
        let last = full.streams()[2].blocks[3].clone();
        for bad in [
            BlockMeta {
                offset: full.data_end,
                ..last.clone()
            },
            BlockMeta {
                offset: u64::MAX - 2,
                ..last.clone()
            },
            BlockMeta {
                offset: 3,
                ..last.clone()
            },
            BlockMeta {
                len: last.len + 1,
                ..last.clone()
            },
        ] {
            let e = bare.read_block(&bad, &mut b).unwrap_err().to_string();
            assert!(
                e.contains("corrupt block at offset") && e.contains("outside the data area"),
                "{e}"
            );
            assert!(bare.verify_block(&bad).is_err());
        }
        // A damaged footer fails `open` but not `open_blocks`.
        let mut bytes = std::fs::read(&p).unwrap();
        let at = full.data_end as usize + 2;
        bytes[at] ^= 0x10;
        std::fs::write(&p, &bytes).unwrap();
        assert!(SegmentReader::open(&p).is_err());
        let bare = SegmentReader::open_blocks(&p).unwrap();
        bare.read_block(&last, &mut b).unwrap();
    }

    #[test]
    fn truncated_file_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.seg");
        write_segment(&p, &sample());
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 5]).unwrap();
        let e = SegmentReader::open(&p).unwrap_err().to_string();
        assert!(e.contains("corrupt segment"), "{e}");
    }
}
