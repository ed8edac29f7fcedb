//! Fuzzes the label index reader. The input is an index file with its
//! checksums recomputed (the whole file's for formats 1 and 2, the pages'
//! and the trailer's for format 3), so the fuzzer reaches the TOC and
//! section checks, opened and then read through every lookup a query makes.
#![no_main]

use libfuzzer_sys::fuzz_target;

use lokal::index::DayIndex;
use lokal::logql::{MatchOp, Matcher, Span};

fuzz_target!(|data: &[u8]| {
    let mut file = data.to_vec();
    if file.len() >= 16 {
        let t = file.len() - 16;
        if file[t + 8..t + 12] == 3u32.to_le_bytes() {
            lokal::index::format::reseal(&mut file);
        } else {
            let sum = xxhash_rust::xxh3::xxh3_64(&file[..t]);
            file[t..t + 8].copy_from_slice(&sum.to_le_bytes());
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.idx");
    std::fs::write(&path, &file).unwrap();
    let Ok(idx) = DayIndex::open(&path) else {
        return;
    };
    let names = idx.label_names().unwrap_or_default();
    for n in names.iter().take(8) {
        for v in idx.label_values(n).unwrap_or_default().iter().take(8) {
            let _ = idx.postings(n, v);
            let m = |op| Matcher::new(n, op, v, Span::default()).ok();
            let ms: Vec<Matcher> = [MatchOp::Eq, MatchOp::Neq, MatchOp::Re, MatchOp::Nre]
                .into_iter()
                .filter_map(m)
                .collect();
            for x in &ms {
                let _ = idx.select(std::slice::from_ref(x));
            }
            let _ = idx.select(&ms);
        }
    }
    for s in idx.all_series().take(64) {
        let _ = idx.labels(&s);
        let _ = idx.fingerprint(&s);
        let _ = idx.series_time(&s);
        let _ = idx.chunks(&s);
    }
    let _ = idx.select(&[]);
});
