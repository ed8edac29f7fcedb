//! Fuzzes the block decoder on raw (decompressed) bytes: what a block holds
//! after its checksum passed and zstd decoded it. Decoding must fail
//! cleanly or give lines, timestamps and metadata that can all be read.
#![no_main]

use libfuzzer_sys::fuzz_target;

use lokal::chunk::block::{column_layout, decode_timestamps};
use lokal::chunk::Block;

fuzz_target!(|data: &[u8]| {
    let _ = column_layout(data);
    let mut ts = Vec::new();
    let _ = decode_timestamps(data, &mut ts);
    let mut b = Block::default();
    b.data = data.to_vec();
    if b.decode_in_place().is_err() {
        return;
    }
    let mut md = Vec::new();
    for i in 0..b.len() {
        let _ = b.line(i);
        let _ = b.line_range(i);
        b.metadata(i, &mut md);
    }
    let blob = b.blob().len();
    for pos in [0, blob / 2, blob.saturating_sub(1)] {
        if pos < blob && !b.is_empty() {
            let _ = b.line_at(pos);
        }
    }
});
