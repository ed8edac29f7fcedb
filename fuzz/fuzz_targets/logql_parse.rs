//! Fuzzes the LogQL parser: any input must parse or fail cleanly (no panic, no stack
//! overflow), and whatever parses must print to a query that parses to the same tree.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(expr) = lokal::logql::parse_expr_bytes(data) else {
        return;
    };
    let printed = expr.to_string();
    let _ = lokal::logql::pretty(&expr);
    // Folded literals can be NaN or ±Inf, which LogQL cannot spell (nor can Loki).
    if printed.contains("NaN") || printed.contains("Inf") {
        return;
    }
    let again = lokal::logql::parse_expr(&printed)
        .unwrap_or_else(|e| panic!("{:?} printed as {printed:?} does not parse: {e}", String::from_utf8_lossy(data)));
    assert_eq!(again, expr, "{printed}");
});
