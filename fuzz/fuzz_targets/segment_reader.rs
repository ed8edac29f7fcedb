//! Fuzzes the segment reader: header, trailer, footer and block references.
//! The input is the segment's body (blocks and footer); the target writes a
//! real header and a trailer whose footer checksum is correct, with the
//! footer length taken from the first two input bytes, so the fuzzer gets
//! past the checksum into the footer decoder. Every block it names is then
//! read (its checksum almost never matches, which must be an error, never
//! a panic or an out-of-bounds read).
#![no_main]

use libfuzzer_sys::fuzz_target;

use lokal::chunk::segment::{FORMAT_VERSION, MAGIC, TRAILER_MAGIC};
use lokal::chunk::{Block, SegmentReader};

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let body = &data[2..];
    let footer_len = (u16::from_le_bytes([data[0], data[1]]) as usize).min(body.len());
    let footer_off = 16 + body.len() - footer_len;
    let mut file = Vec::with_capacity(body.len() + 48);
    file.extend_from_slice(MAGIC);
    file.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    file.extend_from_slice(&0u32.to_le_bytes());
    file.extend_from_slice(body);
    let footer = &body[body.len() - footer_len..];
    file.extend_from_slice(&(footer_off as u64).to_le_bytes());
    file.extend_from_slice(&(footer_len as u64).to_le_bytes());
    file.extend_from_slice(&xxhash_rust::xxh3::xxh3_64(footer).to_le_bytes());
    file.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    file.extend_from_slice(TRAILER_MAGIC);
    // Also the bytes as they came: a file that is not a segment at all.
    for bytes in [&file[..], data] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.seg");
        std::fs::write(&path, bytes).unwrap();
        let Ok(r) = SegmentReader::open(&path) else {
            continue;
        };
        let mut block = Block::default();
        let mut ts = Vec::new();
        for s in r.streams() {
            let _ = s.labels.to_string();
            for m in &s.blocks {
                let _ = r.read_block(m, &mut block);
                let _ = r.read_timestamps(m, &mut ts);
            }
        }
    }
});
