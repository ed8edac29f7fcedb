//! Fuzzes timestamp detection: every input line goes through the automatic
//! detector, and through an extractor built from the first line taken as a
//! `--timestamp-format` (strftime, Go layout or promtail name) and once as
//! a `--timestamp-regex`.
#![no_main]

use libfuzzer_sys::fuzz_target;

use lokal::ingest::timestamp::{TimestampConfig, TimestampExtractor};

fuzz_target!(|data: &[u8]| {
    let (head, rest) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&b""[..], data),
    };
    let head = std::str::from_utf8(head).ok().filter(|h| !h.is_empty());
    let mut extractors = vec![TimestampExtractor::new(&TimestampConfig::default()).unwrap()];
    if let Some(h) = head {
        for cfg in [
            TimestampConfig {
                format: Some(h.to_string()),
                ..Default::default()
            },
            TimestampConfig {
                regex: Some(h.to_string()),
                year: Some(2024),
                ..Default::default()
            },
        ] {
            if let Ok(x) = TimestampExtractor::new(&cfg) {
                extractors.push(x);
            }
        }
    }
    for x in &mut extractors {
        x.set_reference(1_700_000_000_000_000_000);
        for line in rest.split(|&b| b == b'\n') {
            let _ = x.extract(line);
        }
    }
});
