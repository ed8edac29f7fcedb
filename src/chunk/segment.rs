//! Segment files: immutable, self-describing containers of chunks.
//!
//! ```text
//! header   16 B   magic "LOKALSEG", format version u32 LE, flags u32 LE (0)
//! blocks          zstd frames, back to back
//! footer          the chunk list (below)
//! trailer  32 B   footer offset u64, footer length u64, xxh3-64 of footer u64,
//!                 format version u32, magic "LKSG"
//! ```
//!
//! Format 1 footer (varints): `n_streams`, then per stream: label count,
//! `(name, value)` as length-prefixed bytes, fingerprint (u64 LE), block
//! count, then per block: offset, compressed length, raw length, entries,
//! line bytes, min ts (zigzag), max ts - min ts, xxh3-64 of the compressed
//! bytes (u64 LE). Every block holds one stream.
//!
//! Format 2 footer: the raw length (u64 LE), then one zstd frame of: the
//! blocks (length, raw length, entries, xxh3-64; offsets follow from the
//! lengths, blocks being back to back), and per stream, in label order, its
//! labels as the number of leading pairs shared with the stream before plus
//! the rest, and its *runs*: which block, the run's first entry in it and
//! its entry count, line bytes and time range (`SegmentWriter::encode_footer`
//! has the byte layout). A block holds one stream's run, or — packed — the
//! runs of many small streams, so a stream of five lines costs a few bytes
//! of a shared frame instead of a frame, a footer entry and an index entry
//! of its own. The writer encodes each stream's labels as it is added and
//! holds no label set per stream; `FooterStream` reads a footer one stream
//! at a time.
//!
//! A segment is readable without any index: the footer is the source of
//! truth, indexes only accelerate. Checksums let a reader skip one corrupt
//! block and keep reading the others.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

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
/// Current format version (written); 1 and 2 are read.
pub const FORMAT_VERSION: u32 = 2;
const HEADER_LEN: usize = 16;
const TRAILER_LEN: usize = 32;
/// What one read fault may map: the kernel maps the cached pages around a
/// faulting address ("fault-around", 64 KiB by default, and since Linux 6.x
/// the whole large folio of the page cache holding it), never beyond the
/// 2 MiB-aligned range one page table covers. Released ranges are rounded
/// out to it, in addresses (see [`SegmentReader::release`]).
const FAULT_SPAN: usize = 2 << 20;

/// One stream's run of entries in a stored block: where the block (one
/// zstd frame) lives, and which of its entries are the stream's. A block of
/// one stream has one run covering it (`first` 0, `entries` equal to
/// `frame_entries`); a packed block has one run per stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockMeta {
    /// Byte offset of the zstd frame in the segment file.
    pub offset: u64,
    /// Compressed length.
    pub len: u32,
    /// Raw (decompressed) length.
    pub raw_len: u32,
    /// Entries in the whole block (every run).
    pub frame_entries: u32,
    /// The run's first entry in the block.
    pub first: u32,
    /// Entries in the run.
    pub entries: u32,
    /// Sum of the run's line lengths (what Loki counts as bytes).
    pub line_bytes: u64,
    /// Smallest timestamp of the run, ns.
    pub min_t: i64,
    /// Largest timestamp of the run, ns.
    pub max_t: i64,
    /// xxh3-64 of the compressed bytes.
    pub checksum: u64,
}

impl BlockMeta {
    /// True when the block holds other runs than this one.
    pub fn is_packed(&self) -> bool {
        self.first != 0 || self.entries != self.frame_entries
    }

    /// Appends the block reference as format 1 footers and indexes store it:
    /// offset, compressed and raw length, entries, line bytes (varints),
    /// min ts (zigzag), max ts - min ts, checksum (u64 LE). Only for blocks
    /// of one stream.
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

    /// Reads a reference written by [`BlockMeta::encode`] (a block of one
    /// stream); `None` when the bytes are truncated or a field is out of
    /// range.
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
            frame_entries: entries,
            first: 0,
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

/// A stored block as format 2 footers list it; its offset follows from
/// the lengths of the blocks before it.
#[derive(Debug, Clone, Copy)]
struct FrameMeta {
    len: u32,
    raw_len: u32,
    entries: u32,
    checksum: u64,
}

/// One stream's run in a block, as [`SegmentWriter::add_run`] records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunMeta {
    /// The run's first entry in the block.
    pub first: u32,
    /// Entries in the run.
    pub entries: u32,
    /// Sum of the run's line lengths.
    pub line_bytes: u64,
    /// Smallest timestamp of the run, ns.
    pub min_t: i64,
    /// Largest timestamp of the run, ns.
    pub max_t: i64,
}

/// A block written by [`SegmentWriter::add_frame`], to hang runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRef(u32);

/// What a written segment holds, for its manifest entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SegmentSummary {
    /// Streams (chunks).
    pub streams: u64,
    /// Blocks (zstd frames).
    pub blocks: u64,
    /// Entries.
    pub entries: u64,
    /// Sum of line lengths.
    pub raw_bytes: u64,
    /// Smallest timestamp (`i64::MAX` when empty).
    pub min_t: i64,
    /// Largest timestamp (`i64::MIN` when empty).
    pub max_t: i64,
}

/// Writes one segment (format 2): blocks first, then the footer. Streams'
/// labels are encoded as they are added (each only against the one
/// before), so the writer holds no label set per stream.
pub struct SegmentWriter {
    out: BufWriter<File>,
    path: PathBuf,
    pos: u64,
    frames: Vec<(u64, FrameMeta)>,
    /// Per stream: its encoded labels, and the end of its runs in `runs`.
    labels: Vec<u8>,
    ends: Vec<u32>,
    runs: Vec<(u32, RunMeta)>,
    /// The last stream added: its labels and fingerprint.
    last: Option<(Labels, u64)>,
    summary: SegmentSummary,
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
            frames: Vec::new(),
            labels: Vec::new(),
            ends: Vec::new(),
            runs: Vec::new(),
            last: None,
            summary: SegmentSummary {
                min_t: i64::MAX,
                max_t: i64::MIN,
                ..Default::default()
            },
        })
    }

    /// Appends one compressed block (a zstd frame decoding to `raw_len`
    /// bytes that hold `entries` entries); its runs follow with
    /// [`SegmentWriter::add_run`].
    pub fn add_frame(
        &mut self,
        compressed: &[u8],
        raw_len: u32,
        entries: u32,
    ) -> Result<FrameRef, SegmentError> {
        self.out
            .write_all(compressed)
            .map_err(|source| SegmentError::Io {
                path: self.path.clone(),
                source,
            })?;
        let meta = FrameMeta {
            len: u32::try_from(compressed.len()).map_err(|_| SegmentError::Corrupt {
                path: self.path.clone(),
                what: "a block over 4 GiB".into(),
            })?,
            raw_len,
            entries,
            checksum: xxhash_rust::xxh3::xxh3_64(compressed),
        };
        self.frames.push((self.pos, meta));
        self.pos += compressed.len() as u64;
        self.summary.blocks += 1;
        Ok(FrameRef(self.frames.len() as u32 - 1))
    }

    /// Records the run of stream `labels` in `frame`. The runs of one
    /// stream must be added one after another, in time order; streams in
    /// label order make the smallest footer. `fingerprint` is any hash of
    /// `labels` that is the same for equal label sets (format 2 stores
    /// none): it only tells a new stream from the one before.
    pub fn add_run(&mut self, labels: &Labels, fingerprint: u64, frame: FrameRef, run: RunMeta) {
        let same = self
            .last
            .as_ref()
            .is_some_and(|(l, f)| *f == fingerprint && l == labels);
        if !same {
            let prev = self.last.as_ref().map(|(l, _)| l.pairs()).unwrap_or(&[]);
            encode_labels(&mut self.labels, prev, labels);
            self.ends.push(self.runs.len() as u32);
            self.last = Some((labels.clone(), fingerprint));
            self.summary.streams += 1;
        }
        self.runs.push((frame.0, run));
        if let Some(end) = self.ends.last_mut() {
            *end = self.runs.len() as u32;
        }
        let s = &mut self.summary;
        s.entries += u64::from(run.entries);
        s.raw_bytes += run.line_bytes;
        s.min_t = s.min_t.min(run.min_t);
        s.max_t = s.max_t.max(run.max_t);
    }

    /// Appends one compressed block holding only the stream `labels` (its
    /// `meta` as [`crate::chunk::block::compress`] made it, or a block read
    /// from another segment: `frame_entries`, `first` and `entries` say
    /// which of its entries are the stream's). Blocks of one stream must be
    /// added in time order.
    pub fn add_block(
        &mut self,
        labels: &Labels,
        fingerprint: u64,
        compressed: &[u8],
        meta: BlockMeta,
    ) -> Result<(), SegmentError> {
        let frame = self.add_frame(compressed, meta.raw_len, meta.frame_entries)?;
        self.add_run(labels, fingerprint, frame, run_of(&meta));
        Ok(())
    }

    /// Writes footer and trailer and fsyncs the file. Returns what the
    /// segment holds and the file size.
    pub fn finish(&mut self) -> Result<(SegmentSummary, u64), SegmentError> {
        let path = self.path.clone();
        let io = |source| SegmentError::Io {
            path: path.clone(),
            source,
        };
        let footer = self.encode_footer().map_err(io)?;
        let mut trailer = [0u8; TRAILER_LEN];
        trailer[0..8].copy_from_slice(&self.pos.to_le_bytes());
        trailer[8..16].copy_from_slice(&(footer.len() as u64).to_le_bytes());
        trailer[16..24].copy_from_slice(&xxhash_rust::xxh3::xxh3_64(&footer).to_le_bytes());
        trailer[24..28].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        trailer[28..32].copy_from_slice(TRAILER_MAGIC);
        self.out.write_all(&footer).map_err(io)?;
        self.out.write_all(&trailer).map_err(io)?;
        self.out.flush().map_err(io)?;
        self.out.get_ref().sync_all().map_err(io)?;
        let size = self.pos + footer.len() as u64 + TRAILER_LEN as u64;
        Ok((self.summary, size))
    }

    /// The format 2 footer: raw length (u64 LE), then one zstd frame of
    ///
    /// ```text
    /// unit_exp u8        run times are in units of 10^unit_exp ns
    /// base_t zigzag      the smallest run min_t (0 without runs)
    /// n_blocks, per block: len, raw_len, entries, xxh3-64 u64 LE
    /// n_streams, per stream:
    ///   shared           leading label pairs equal to the previous stream's
    ///   n_rest, per pair: name, value (length-prefixed)
    ///   n_runs, per run: block - the previous run's block (zigzag),
    ///     first - where the previous run ended if in the same block, else
    ///     first, entries, line_bytes, (min_t - base_t) / unit,
    ///     (max_t - min_t) / unit
    /// ```
    ///
    /// Streams in label order share most of each label set with the one
    /// before, and runs of one packed block follow one another, so the
    /// frame compresses to a few bytes per stream; and it decodes in one
    /// pass with no table ([`FooterStream`]).
    fn encode_footer(&self) -> std::io::Result<Vec<u8>> {
        let base_t = if self.runs.is_empty() {
            0
        } else {
            self.summary.min_t
        };
        let mut unit_exp = 18u32;
        let mut fit = |v: u64| {
            while unit_exp > 0 && !v.is_multiple_of(10u64.pow(unit_exp)) {
                unit_exp -= 1;
            }
        };
        for (_, r) in &self.runs {
            fit(r.min_t.wrapping_sub(base_t) as u64);
            fit(r.max_t.wrapping_sub(r.min_t) as u64);
        }
        let unit = 10u64.pow(unit_exp);
        let mut raw = Vec::with_capacity(self.labels.len() + 12 * self.runs.len() + 64);
        raw.push(unit_exp as u8);
        varint::put_i64(&mut raw, base_t);
        varint::put_u64(&mut raw, self.frames.len() as u64);
        for (_, f) in &self.frames {
            varint::put_u64(&mut raw, u64::from(f.len));
            varint::put_u64(&mut raw, u64::from(f.raw_len));
            varint::put_u64(&mut raw, u64::from(f.entries));
            raw.extend_from_slice(&f.checksum.to_le_bytes());
        }
        varint::put_u64(&mut raw, self.ends.len() as u64);
        let mut lr = Reader::new(&self.labels);
        let (mut start, mut prev) = (0usize, (0u32, 0u32));
        for &end in &self.ends {
            // The stream's labels as encoded by `add_run`.
            let from = lr.position();
            let shared = lr.u64().unwrap_or(0);
            let n = lr.usize().unwrap_or(0);
            for _ in 0..2 * n {
                lr.len_prefixed();
            }
            let _ = shared;
            raw.extend_from_slice(&self.labels[from..lr.position()]);
            let runs = &self.runs[start..end as usize];
            varint::put_u64(&mut raw, runs.len() as u64);
            for (f, r) in runs {
                varint::put_i64(&mut raw, i64::from(*f) - i64::from(prev.0));
                let expect = if *f == prev.0 { prev.1 } else { 0 };
                varint::put_i64(&mut raw, i64::from(r.first) - i64::from(expect));
                varint::put_u64(&mut raw, u64::from(r.entries));
                varint::put_u64(&mut raw, r.line_bytes);
                varint::put_u64(&mut raw, r.min_t.wrapping_sub(base_t) as u64 / unit);
                varint::put_u64(&mut raw, r.max_t.wrapping_sub(r.min_t) as u64 / unit);
                prev = (*f, r.first.wrapping_add(r.entries));
            }
            start = end as usize;
        }
        let mut out = (raw.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(&crate::chunk::block::compress_bytes(&raw, FOOTER_LEVEL)?);
        Ok(out)
    }
}

/// Appends `labels` encoded against the previous stream's: the number of
/// leading pairs they share, then the others as length-prefixed bytes.
fn encode_labels(out: &mut Vec<u8>, prev: &[(String, String)], labels: &Labels) {
    let pairs = labels.pairs();
    let shared = pairs.iter().zip(prev).take_while(|(a, b)| a == b).count();
    varint::put_u64(out, shared as u64);
    varint::put_u64(out, (pairs.len() - shared) as u64);
    for (n, v) in &pairs[shared..] {
        varint::put_u64(out, n.len() as u64);
        out.extend_from_slice(n.as_bytes());
        varint::put_u64(out, v.len() as u64);
        out.extend_from_slice(v.as_bytes());
    }
}

/// The run part of a block reference.
pub fn run_of(meta: &BlockMeta) -> RunMeta {
    RunMeta {
        first: meta.first,
        entries: meta.entries,
        line_bytes: meta.line_bytes,
        min_t: meta.min_t,
        max_t: meta.max_t,
    }
}

/// zstd level of format 2 footers.
const FOOTER_LEVEL: i32 = 3;

/// Reads a format 2 footer one stream at a time, holding only a zstd
/// window and the previous stream's labels: an index build merges the
/// footers of a day's segments without decoding them whole.
pub struct FooterStream<'a> {
    r: std::io::BufReader<zstd::stream::read::Decoder<'static, std::io::BufReader<&'a [u8]>>>,
    /// Decoded bytes left in the frame (from its header).
    left: u64,
    unit: i64,
    base_t: i64,
    frames: Vec<(u64, FrameMeta)>,
    streams_left: u64,
    prev_labels: Vec<(String, String)>,
    prev_run: (u64, u32),
    /// The end of the frame was checked.
    done: bool,
}

impl<'a> FooterStream<'a> {
    /// Starts reading the stored footer `buf` of a segment whose blocks end
    /// at `data_end`.
    fn new(buf: &'a [u8], data_end: u64) -> Result<Self, &'static str> {
        let raw_len = buf
            .get(..8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
            .ok_or("truncated footer")?;
        let dec = zstd::stream::read::Decoder::new(&buf[8..])
            .map_err(|_| "footer is not a zstd frame")?;
        let mut f = FooterStream {
            r: std::io::BufReader::with_capacity(64 << 10, dec),
            left: raw_len,
            unit: 1,
            base_t: 0,
            frames: Vec::new(),
            streams_left: 0,
            prev_labels: Vec::new(),
            prev_run: (0, 0),
            done: false,
        };
        let unit_exp = f.byte()?;
        if unit_exp > 18 {
            return Err("bad time unit");
        }
        f.unit = 10i64.pow(u32::from(unit_exp));
        f.base_t = f.i64()?;
        let n = f.u64()?;
        let mut off = HEADER_LEN as u64;
        for _ in 0..n {
            let fm = FrameMeta {
                len: u32::try_from(f.u64()?).map_err(|_| "malformed block")?,
                raw_len: u32::try_from(f.u64()?).map_err(|_| "malformed block")?,
                entries: u32::try_from(f.u64()?).map_err(|_| "malformed block")?,
                checksum: u64::from_le_bytes(f.bytes(8)?.try_into().unwrap()),
            };
            f.frames.push((off, fm));
            off = off.saturating_add(u64::from(fm.len));
            if off > data_end {
                return Err("block outside the data area");
            }
        }
        f.streams_left = f.u64()?;
        Ok(f)
    }

    /// The blocks: (offset, len, raw_len, entries, checksum) in file order.
    pub fn blocks(&self) -> impl Iterator<Item = (u64, u32, u32, u32, u64)> + '_ {
        self.frames
            .iter()
            .map(|(o, f)| (*o, f.len, f.raw_len, f.entries, f.checksum))
    }

    fn byte(&mut self) -> Result<u8, &'static str> {
        use std::io::Read;
        if self.left == 0 {
            return Err("truncated footer");
        }
        let mut b = [0u8; 1];
        self.r
            .read_exact(&mut b)
            .map_err(|_| "footer does not decompress")?;
        self.left -= 1;
        Ok(b[0])
    }

    fn bytes(&mut self, n: usize) -> Result<Vec<u8>, &'static str> {
        use std::io::Read;
        if (n as u64) > self.left {
            return Err("truncated footer");
        }
        // Grown as bytes arrive: a damaged length cannot make us allocate
        // more than the frame really decodes to.
        let mut v = Vec::with_capacity(n.min(4096));
        (&mut self.r)
            .take(n as u64)
            .read_to_end(&mut v)
            .map_err(|_| "footer does not decompress")?;
        if v.len() != n {
            return Err("truncated footer");
        }
        self.left -= n as u64;
        Ok(v)
    }

    fn u64(&mut self) -> Result<u64, &'static str> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("malformed varint")
    }

    fn i64(&mut self) -> Result<i64, &'static str> {
        let v = self.u64()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    fn string(&mut self) -> Result<String, &'static str> {
        let n = usize::try_from(self.u64()?).map_err(|_| "truncated label")?;
        String::from_utf8(self.bytes(n)?).map_err(|_| "label is not UTF-8")
    }

    fn next_stream(&mut self) -> Result<StreamChunk, &'static str> {
        self.streams_left -= 1;
        let shared = usize::try_from(self.u64()?).map_err(|_| "bad label count")?;
        if shared > self.prev_labels.len() {
            return Err("bad label count");
        }
        self.prev_labels.truncate(shared);
        let n = self.u64()?;
        for _ in 0..n {
            let name = self.string()?;
            let value = self.string()?;
            self.prev_labels.push((name, value));
        }
        let nr = self.u64()?;
        let mut blocks = Vec::with_capacity(nr.min(1 << 16) as usize);
        for _ in 0..nr {
            let f = self.prev_run.0.wrapping_add(self.i64()? as u64);
            let (offset, fm) = *usize::try_from(f)
                .ok()
                .and_then(|i| self.frames.get(i))
                .ok_or("run in a block that does not exist")?;
            let expect = if f == self.prev_run.0 {
                self.prev_run.1
            } else {
                0
            };
            let first = u32::try_from(i64::from(expect).wrapping_add(self.i64()?))
                .map_err(|_| "malformed run")?;
            let entries = u32::try_from(self.u64()?).map_err(|_| "malformed run")?;
            let line_bytes = self.u64()?;
            let min_t = self
                .base_t
                .wrapping_add((self.u64()? as i64).wrapping_mul(self.unit));
            let max_t = min_t.wrapping_add((self.u64()? as i64).wrapping_mul(self.unit));
            if u64::from(first) + u64::from(entries) > u64::from(fm.entries) {
                return Err("run outside its block");
            }
            self.prev_run = (f, first.wrapping_add(entries));
            blocks.push(BlockMeta {
                offset,
                len: fm.len,
                raw_len: fm.raw_len,
                frame_entries: fm.entries,
                first,
                entries,
                line_bytes,
                min_t,
                max_t,
                checksum: fm.checksum,
            });
        }
        // Labels come sorted; from_pairs keeps a hand-made footer's order
        // rule too.
        let labels = Labels::from_pairs(self.prev_labels.iter().cloned());
        Ok(StreamChunk {
            fingerprint: labels.fingerprint(),
            labels,
            blocks,
        })
    }
}

impl Iterator for FooterStream<'_> {
    type Item = Result<StreamChunk, &'static str>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.streams_left == 0 {
            if self.left != 0 {
                self.left = 0;
                return Some(Err("trailing bytes after footer"));
            }
            // The frame must end where its header said.
            let mut b = [0u8; 1];
            if !self.done && std::io::Read::read(&mut self.r, &mut b).map_or(true, |n| n != 0) {
                self.done = true;
                return Some(Err("footer length differs from its header"));
            }
            self.done = true;
            return None;
        }
        let r = self.next_stream();
        if r.is_err() {
            self.streams_left = 0;
            self.left = 0;
        }
        Some(r)
    }
}

/// Decodes a format 2 footer (`buf` as stored) whole.
fn decode_footer_v2(buf: &[u8], data_end: u64) -> Result<Vec<StreamChunk>, &'static str> {
    let f = FooterStream::new(buf, data_end)?;
    let mut out = Vec::with_capacity(f.streams_left.min(1 << 20) as usize);
    for s in f {
        out.push(s?);
    }
    Ok(out)
}

fn decode_footer_v1(buf: &[u8], data_end: u64) -> Result<Vec<StreamChunk>, &'static str> {
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

/// A mapped segment whose header, trailer and footer checksum were checked
/// but whose footer is not decoded: the index builder reads its streams one
/// at a time ([`SegmentFooter::streams`]) instead of holding every label set.
pub struct SegmentFooter {
    path: PathBuf,
    map: Mmap,
    version: u32,
    footer_off: u64,
}

/// A segment file mapped, its header and trailer checked.
struct Mapped {
    file: File,
    map: Mmap,
    version: u32,
    /// The footer's offset: the end of the data area.
    footer_off: u64,
    footer_sum: u64,
}

impl Mapped {
    /// Maps `path` and checks header and trailer: magics, version, the
    /// footer's position.
    fn open(path: &Path) -> Result<Self, SegmentError> {
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
        let footer_sum = u64::from_le_bytes(t[16..24].try_into().unwrap());
        let data_end = (map.len() - TRAILER_LEN) as u64;
        if footer_off < HEADER_LEN as u64 || footer_off.checked_add(footer_len) != Some(data_end) {
            return Err(corrupt("footer position out of range"));
        }
        Ok(Mapped {
            file,
            map,
            version,
            footer_off,
            footer_sum,
        })
    }

    /// The footer's bytes, after checking their checksum.
    fn checked_footer(&self, path: &Path) -> Result<&[u8], SegmentError> {
        let footer = &self.map[self.footer_off as usize..self.map.len() - TRAILER_LEN];
        if xxhash_rust::xxh3::xxh3_64(footer) != self.footer_sum {
            return Err(SegmentError::Corrupt {
                path: path.to_path_buf(),
                what: format!("footer checksum mismatch at offset {}", self.footer_off),
            });
        }
        Ok(footer)
    }
}

/// The whole chunk list of a footer in format `version`.
fn decode_footer(
    version: u32,
    buf: &[u8],
    data_end: u64,
) -> Result<Vec<StreamChunk>, &'static str> {
    if version >= 2 {
        decode_footer_v2(buf, data_end)
    } else {
        decode_footer_v1(buf, data_end)
    }
}

impl SegmentFooter {
    /// Maps `path` and checks header, trailer and the footer's checksum.
    pub fn open(path: &Path) -> Result<Self, SegmentError> {
        let m = Mapped::open(path)?;
        m.checked_footer(path)?;
        Ok(SegmentFooter {
            path: path.to_path_buf(),
            map: m.map,
            version: m.version,
            footer_off: m.footer_off,
        })
    }

    /// The segment file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The segment's format version (1 or 2): only format 2 footers are
    /// always in label order.
    pub fn version(&self) -> u32 {
        self.version
    }

    fn footer(&self) -> &[u8] {
        &self.map[self.footer_off as usize..self.map.len() - TRAILER_LEN]
    }

    /// The chunk list one stream at a time, in footer order (label order
    /// for every segment lokal writes in format 2). A format 1 footer is
    /// decoded whole first: those are small and come from old stores.
    pub fn streams(&self) -> Box<dyn Iterator<Item = Result<StreamChunk, SegmentError>> + '_> {
        let err = move |what: &str| SegmentError::Corrupt {
            path: self.path.clone(),
            what: what.to_string(),
        };
        if self.version >= 2 {
            match FooterStream::new(self.footer(), self.footer_off) {
                Ok(f) => Box::new(f.map(move |r| r.map_err(err))),
                Err(e) => Box::new(std::iter::once(Err(err(e)))),
            }
        } else {
            match decode_footer_v1(self.footer(), self.footer_off) {
                Ok(v) => Box::new(v.into_iter().map(Ok)),
                Err(e) => Box::new(std::iter::once(Err(err(e)))),
            }
        }
    }
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
    /// Unique per opened reader (never reused), so decoded blocks cached
    /// per thread are told apart from another mapping's.
    id: u64,
    version: u32,
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

/// Ids of opened readers.
static NEXT_READER: AtomicU64 = AtomicU64::new(1);

/// Decoded packed blocks kept per thread besides the caller's own: the runs
/// of one packed block are read one stream at a time, by turns with the
/// packed blocks of the day's other segments (a series in label order has a
/// run in each segment its streams' batches wrote), and each run must not
/// decompress its block again. With fewer kept blocks than segments in the
/// turn, every run decompressed its whole block: a metric over a million
/// streams in nine segments took minutes instead of seconds.
const CACHED_BLOCKS: usize = 32;

/// A packed block's timestamp column cached per thread: `(key, timestamps,
/// has metadata)`.
type CachedTimestamps = ((u64, u64), Vec<i64>, bool);

thread_local! {
    static BLOCK_CACHE: std::cell::RefCell<Vec<Block>> = const { std::cell::RefCell::new(Vec::new()) };
    /// Timestamp columns of packed blocks: `(key, timestamps, has metadata)`.
    static TS_CACHE: std::cell::RefCell<Vec<CachedTimestamps>> =
        const { std::cell::RefCell::new(Vec::new()) };
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
        let m = Mapped::open(path)?;
        let footer = m.checked_footer(path)?;
        let streams = decode_footer(m.version, footer, m.footer_off).map_err(|what| {
            SegmentError::Corrupt {
                path: path.to_path_buf(),
                what: what.to_string(),
            }
        })?;
        let footer_len = footer.len();
        let mut r = Self::from_mapped(path, m);
        r.streams = streams;
        r.footer_read = true;
        r.release(r.data_end as usize, footer_len);
        Ok(r)
    }

    /// Maps `path` and checks header and trailer (magics, version, the
    /// footer's position) but neither reads nor checks the footer: for a
    /// reader that takes its block references from a label index, so that
    /// reading one stream of a segment holding a million costs no more than
    /// reading one stream of a segment holding ten. [`Self::streams`] is then
    /// empty; every block read is still checked (bounds, checksum).
    pub fn open_blocks(path: &Path) -> Result<Self, SegmentError> {
        Ok(Self::from_mapped(path, Mapped::open(path)?))
    }

    fn from_mapped(path: &Path, m: Mapped) -> Self {
        let r = SegmentReader {
            path: path.to_path_buf(),
            file: FD_BUDGET.take().then_some(m.file),
            map: m.map,
            data_end: m.footer_off,
            streams: Vec::new(),
            footer_read: false,
            id: NEXT_READER.fetch_add(1, Ordering::Relaxed),
            version: m.version,
        };
        // The header and trailer were read; without this every segment a
        // query opens keeps a fault-around window at each end mapped (two
        // 64 KiB windows a segment: 200 MB over a month of small segments).
        r.release(0, HEADER_LEN);
        r.release(r.map.len() - TRAILER_LEN, TRAILER_LEN);
        r
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

    /// The segment's format version (1 or 2).
    pub fn version(&self) -> u32 {
        self.version
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
    /// many bytes were decompressed and how long that took (nothing for a run
    /// of a packed block already decoded on this thread: the clock is read
    /// only around real work, since a metric over a million streams reads
    /// millions of such runs), or `None` when the block carries structured
    /// metadata (which metric queries need): the caller then reads the
    /// whole block.
    pub fn read_timestamps(
        &self,
        meta: &BlockMeta,
        out: &mut Vec<i64>,
    ) -> Result<Option<(usize, std::time::Duration)>, SegmentError> {
        let timed = |out: &mut Vec<i64>| {
            let t = std::time::Instant::now();
            let n = self.read_block_timestamps(meta, out)?;
            Ok(n.map(|n| (n, t.elapsed())))
        };
        if !meta.is_packed() {
            return timed(out);
        }
        // A run of a packed block: the block's column is decoded once and
        // kept, and each run takes its slice of it.
        let key = (self.id, meta.offset);
        let range = meta.first as usize..meta.first as usize + meta.entries as usize;
        let hit = TS_CACHE.with(|c| {
            let c = c.borrow();
            c.iter().find(|e| e.0 == key).map(|(_, ts, md)| {
                if !md {
                    out.clear();
                    out.extend_from_slice(ts.get(range.clone()).unwrap_or_default());
                }
                *md
            })
        });
        let decompressed = match hit {
            Some(md) => (!md).then_some((0, std::time::Duration::ZERO)),
            None => {
                let mut all = Vec::new();
                let n = timed(&mut all)?;
                if all.len() != meta.frame_entries as usize {
                    return Err(self.block_error(meta, "entry count differs from footer"));
                }
                if n.is_some() {
                    out.clear();
                    out.extend_from_slice(&all[range]);
                }
                TS_CACHE.with(|c| {
                    let mut c = c.borrow_mut();
                    if c.len() > CACHED_BLOCKS {
                        c.remove(0);
                    }
                    c.push((key, all, n.is_none()));
                });
                n
            }
        };
        Ok(decompressed)
    }

    /// [`SegmentReader::read_timestamps`] of a whole block.
    fn read_block_timestamps(
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

    /// Checks and decompresses `meta`'s block into `block` (reusing its
    /// buffers) and narrows it to `meta`'s run. A packed block read before
    /// on this thread (into `block` or one of the few kept per thread) is
    /// not decompressed again.
    pub fn read_block(&self, meta: &BlockMeta, block: &mut Block) -> Result<(), SegmentError> {
        let key = (self.id, meta.offset);
        if meta.is_packed() && block.key != Some(key) {
            BLOCK_CACHE.with(|c| {
                let mut c = c.borrow_mut();
                if let Some(i) = c.iter().position(|b| b.key == Some(key)) {
                    // Hit: take it, keep what `block` held in its place.
                    std::mem::swap(block, &mut c[i]);
                    let b = c.remove(i);
                    if b.key.is_some() {
                        c.push(b);
                    }
                } else if block.key.is_some() {
                    // Keep the packed block `block` holds; decompress into
                    // the oldest kept one's buffers.
                    if c.len() < CACHED_BLOCKS {
                        c.push(std::mem::take(block));
                    } else {
                        std::mem::swap(block, &mut c[0]);
                        let b = c.remove(0);
                        c.push(b);
                    }
                }
            });
        }
        if block.key != Some(key) || !meta.is_packed() {
            self.decompress_block(meta, block)?;
            if meta.is_packed() {
                block.key = Some(key);
            }
        }
        block
            .select(meta.first as usize, meta.entries as usize)
            .ok_or_else(|| self.block_error(meta, "run outside its block"))
    }

    /// Checks, decompresses and decodes a whole block into `block`.
    fn decompress_block(&self, meta: &BlockMeta, block: &mut Block) -> Result<(), SegmentError> {
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
        if block.block_len() != meta.frame_entries as usize {
            return Err(self.block_error(meta, "entry count differs from footer"));
        }
        Ok(())
    }

    /// The error for block `meta` of this segment: `what` is wrong with it.
    pub(crate) fn block_error(&self, meta: &BlockMeta, what: &str) -> SegmentError {
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
                    frame_entries: part.len() as u32,
                    first: 0,
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
