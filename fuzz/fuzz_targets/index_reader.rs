//! Fuzzes the label index reader. The input is an index file with its
//! trailer's checksum recomputed (so the fuzzer reaches the TOC and section
//! checks), opened and then read through every lookup a query makes.
#![no_main]

use libfuzzer_sys::fuzz_target;

use lokal::index::DayIndex;
use lokal::logql::{MatchOp, Matcher, Span};

fuzz_target!(|data: &[u8]| {
    let mut file = data.to_vec();
    if file.len() >= 16 {
        let t = file.len() - 16;
        let sum = xxhash_rust::xxh3::xxh3_64(&file[..t]);
        file[t..t + 8].copy_from_slice(&sum.to_le_bytes());
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.idx");
    std::fs::write(&path, &file).unwrap();
    let Ok(idx) = DayIndex::open(&path) else {
        return;
    };
    let names = idx.label_names();
    for n in names.iter().take(8) {
        for v in idx.label_values(n).iter().take(8) {
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
