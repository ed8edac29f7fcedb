//! Fuzzes the LogQL parser: any input must parse or fail cleanly (no panic, no stack
//! overflow), and printing, pretty-printing and re-parsing what parsed must not panic
//! either.
//!
//! Re-parsing is not required to give the same tree here: like Loki, the parser accepts
//! odd identifiers (a lone `!` is an IDENTIFIER, so `| logfmt !` extracts a label named
//! `!`, printed `!="!"`, which reads back as a line filter), and bytes filters print
//! lossily (`2.5KiB` as `2.6kB`). The round trip of well-formed queries is checked by the
//! proptest in `tests/logql_roundtrip.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(expr) = lokal::logql::parse_expr_bytes(data) else {
        return;
    };
    let printed = expr.to_string();
    let _ = lokal::logql::pretty(&expr);
    if let Ok(again) = lokal::logql::parse_expr(&printed) {
        let _ = again.to_string();
    }
});
