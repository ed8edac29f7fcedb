//! One flipped bit anywhere in a stored block is reported by `check` and
//! fails every query that reads the block (exit 3). zstd frames carry no
//! checksum of their own, so only the block checksum stands between a bit
//! flip zstd still decodes and a changed line printed as if stored. The
//! test reaches every part of a block (zstd's frame and block headers, the
//! block's header, timestamps, lengths, metadata, lines) by storing lines
//! zstd cannot compress: it then stores the block raw, and each byte of
//! the frame is one byte of one column.
use crate::common::*;

/// Bytes without `\n`, `\r` or NUL, which zstd cannot compress.
fn noise(seed: &mut u64, n: usize) -> Vec<u8> {
    (0..n)
        .map(|_| {
            *seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            match (*seed >> 56) as u8 {
                0 | b'\n' | b'\r' => b'x',
                b => b,
            }
        })
        .collect()
}

/// Entries of noise at irregular ns times, one of them holding '\n' (so
/// the block has a length column), every fourth with structured metadata:
/// a block with every column, which zstd stores raw.
fn noise_entries() -> Vec<lokal::ingest::OwnedEntry> {
    let mut seed = 11;
    let mut t = 1_699_956_000_123_456_789i64; // 2023-11-14T10:00:00.123456789Z
    (0..60)
        .map(|i| {
            t += 1_000_003 * (i + 1);
            let mut line = noise(&mut seed, 200 + (i as usize % 7) * 13);
            if i == 5 {
                line.extend_from_slice(b"\n  continued");
            }
            let md = if i % 4 == 0 {
                vec![(format!("k{i}"), format!("{:x}", seed >> 20))]
            } else {
                vec![]
            };
            (t, line, md)
        })
        .collect()
}

/// The byte ranges of a stored block's frame, by part: zstd's frame and
/// block headers, then the block's own columns (`column_layout`), given
/// the frame and the raw block it decodes to.
fn frame_parts(frame: &[u8], raw: &[u8]) -> Vec<(&'static str, std::ops::Range<usize>)> {
    let base = memchr::memmem::find(frame, raw)
        .expect("zstd stored the noise block raw (precondition of this test)");
    let mut parts = vec![
        ("zstd frame header", 0..base - 3),
        ("zstd block header", base - 3..base),
    ];
    for (name, r) in lokal::chunk::block::column_layout(raw).unwrap() {
        assert!(!r.is_empty(), "{name}");
        parts.push((name, base + r.start..base + r.end));
    }
    assert_eq!(
        parts.last().unwrap().1.end,
        frame.len(),
        "no zstd checksum after the block"
    );
    parts
}

/// Every single-bit flip in a block's frame is reported as a checksum
/// mismatch at the block's offset, by full and by timestamp-only reads,
/// and the second half shows why that check is the one guard: zstd and the
/// decoder alone return changed entries for flips in the timestamps,
/// metadata and lines (a flipped length always breaks the blob's total).
/// Disabling the comparison in `SegmentReader::block_bytes` fails this test.
#[test]
fn every_single_bit_flip_in_a_block_is_caught_by_its_checksum() {
    use lokal::chunk::segment::{SegmentError, SegmentReader, SegmentWriter};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.seg");
    let entries = noise_entries();
    let b = lokal::chunk::block::compress(
        entries
            .iter()
            .map(|(t, l, m)| (*t, l.as_slice(), m.as_slice())),
        3,
    )
    .unwrap();
    let raw = zstd::bulk::decompress(&b.bytes, 1 << 20).unwrap();
    let parts = frame_parts(&b.bytes, &raw);
    let l = lokal::model::Labels::from_pairs([("job", "x")]);
    let mut w = SegmentWriter::create(&path).unwrap();
    w.add_block(&l, l.fingerprint(), &b.bytes, b.meta).unwrap();
    w.finish().unwrap();
    let meta = SegmentReader::open(&path).unwrap().streams()[0].blocks[0].clone();
    let good = std::fs::read(&path).unwrap();
    let mut block = lokal::chunk::Block::default();
    let mut ts = Vec::new();
    let mut silent = std::collections::BTreeMap::new();
    for (part, range) in &parts {
        // Every byte of the small parts; every 19th of the lines.
        let step = if *part == "lines" { 19 } else { 1 };
        for at in range.clone().step_by(step) {
            let bit = 1u8 << (at % 8);
            let mut bytes = good.clone();
            bytes[meta.offset as usize + at] ^= bit;
            std::fs::write(&path, &bytes).unwrap();
            let r = SegmentReader::open(&path).unwrap();
            for e in [
                r.read_block(&meta, &mut block).unwrap_err(),
                r.read_timestamps(&meta, &mut ts).unwrap_err(),
            ] {
                match e {
                    SegmentError::CorruptBlock { offset, what, .. } => assert_eq!(
                        (offset, what.as_str()),
                        (meta.offset, "checksum mismatch"),
                        "{part} byte {at}"
                    ),
                    e => panic!("{part} byte {at}: {e}"),
                }
            }
            // What zstd and the decoder make of the flipped frame alone.
            let mut flipped = b.bytes.clone();
            flipped[at] ^= bit;
            if let Ok(raw) = zstd::bulk::decompress(&flipped, 1 << 20) {
                let mut d = lokal::chunk::Block::default();
                d.data = raw;
                if d.decode_in_place().is_ok() && d.len() == meta.entries as usize {
                    *silent.entry(*part).or_insert(0) += 1;
                }
            }
        }
    }
    for part in ["timestamps", "metadata", "lines"] {
        assert!(
            silent.get(part).copied().unwrap_or(0) > 0,
            "zstd alone let no flip in {part} through: {silent:?}"
        );
    }
}

#[test]
fn a_single_bit_flip_in_any_part_of_a_block_is_reported() {
    let env = TestEnv::new();
    // Written by the writer `lokal test` uses, into the store's own format.
    let entries = noise_entries();
    let labels = lokal::model::Labels::from_pairs([("job", "x")]);
    std::fs::create_dir_all(env.store()).unwrap();
    lokal::ingest::write_streams(
        &lokal::store::Store::new(env.store()),
        "fake",
        vec![(labels, entries)],
    )
    .unwrap();
    let seg = segments(&env).remove(0);
    let r = lokal::chunk::SegmentReader::open(&seg).unwrap();
    let meta = r.streams()[0].blocks[0].clone();
    let frame = r.block_bytes(&meta).unwrap().to_vec();
    let mut block = lokal::chunk::Block::default();
    r.read_block(&meta, &mut block).unwrap();
    drop(r);
    assert_eq!(block.len(), 60);
    let classes: Vec<(&str, usize)> = frame_parts(&frame, &block.data)
        .into_iter()
        .map(|(name, r)| (name, (r.start + r.end) / 2))
        .collect();
    env.ok(["check"]);
    let want = format!(
        "{}: corrupt block at offset {} (length {}): checksum mismatch",
        seg.display(),
        meta.offset,
        meta.len
    );
    for (class, at) in classes {
        for bit in [0x01u8, 0x80] {
            let pos = meta.offset as usize + at;
            flip(&seg, pos, bit);
            let run = env.cmd(["check"]).assert_code(3);
            assert!(run.stdout.contains(&want), "{class} bit {bit:#x}: {run}");
            for q in [
                &["query", "-q", "--limit", "0", r#"{job="x"}"#][..],
                &["query", "-q", r#"count_over_time({job="x"}[1h])"#],
                &[
                    "query",
                    "-q",
                    r#"sum by (job) (bytes_over_time({job="x"}[1h]))"#,
                ],
            ] {
                let run = env.cmd(q).assert_code(3);
                assert!(run.stdout.is_empty(), "{class}: {run}");
                assert!(run.stderr.contains(&want), "{class} bit {bit:#x}: {run}");
            }
            flip(&seg, pos, bit);
        }
    }
    env.ok(["check"]);
}
