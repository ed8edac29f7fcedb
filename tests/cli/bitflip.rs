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

#[test]
fn a_single_bit_flip_in_any_part_of_a_block_is_reported() {
    let env = TestEnv::new();
    // Entries of noise at irregular ns times, one of them holding '\n' (so
    // the block has a length column), some with structured metadata:
    // written by the writer `lokal test` uses, into the store's own format.
    let mut seed = 11;
    let mut t = 1_699_956_000_123_456_789i64; // 2023-11-14T10:00:00.123456789Z
    let entries: Vec<lokal::ingest::OwnedEntry> = (0..60)
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
        .collect();
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
    let base = memchr::memmem::find(&frame, &block.data)
        .expect("zstd stored the noise block raw (precondition of this test)");
    let layout = lokal::chunk::block::column_layout(&block.data).unwrap();
    let mut classes = vec![("zstd frame header", 4), ("zstd block header", base - 2)];
    for (name, range) in &layout {
        assert!(!range.is_empty(), "{name}");
        classes.push((name, base + (range.start + range.end) / 2));
    }
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
