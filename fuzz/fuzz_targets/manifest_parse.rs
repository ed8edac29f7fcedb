//! Fuzzes MANIFEST parsing and validation: any bytes parse into a manifest
//! whose every entry is a plain name inside the tenant directory, or fail
//! with a message.
#![no_main]

use libfuzzer_sys::fuzz_target;

use lokal::store::manifest::{parse, problems, segment_rel_path};

fuzz_target!(|data: &[u8]| {
    let Ok(m) = parse(data) else {
        return;
    };
    assert!(problems(&m).is_empty());
    for s in &m.segments {
        assert_eq!(s.path, segment_rel_path(&s.day, s.id));
        assert!(!s.path.contains(".."), "{}", s.path);
    }
    for i in &m.indexes {
        assert!(i.path.starts_with("index/") && !i.path.contains(".."), "{}", i.path);
    }
    let again = serde_json::to_vec(&m).unwrap();
    assert_eq!(parse(&again).unwrap(), m);
});
