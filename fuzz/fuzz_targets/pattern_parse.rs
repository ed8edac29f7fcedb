//! Fuzzes pattern expressions themselves: the first input line is a
//! pattern, given to `| pattern` and to the `|>` / `!>` line filters, and
//! the rest is a log line they run on.
#![no_main]

use libfuzzer_sys::fuzz_target;

use lokal::engine::pipeline::Pipeline;
use lokal::logql::{parse_expr, Expr};
use lokal::model::Labels;

fuzz_target!(|data: &[u8]| {
    let (p, line) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    // A backquoted LogQL string holds any text but a backquote.
    let Ok(p) = std::str::from_utf8(p) else {
        return;
    };
    if p.contains('`') {
        return;
    }
    let labels = Labels::from_pairs([("a", "b")]);
    for q in [
        format!("{{a=\"b\"}} | pattern `{p}`"),
        format!("{{a=\"b\"}} |> `{p}`"),
        format!("{{a=\"b\"}} !> `{p}`"),
    ] {
        let Ok(Expr::Log(l)) = parse_expr(&q) else {
            continue;
        };
        let Ok(pipeline) = Pipeline::new(&l.pipeline) else {
            continue;
        };
        let mut sp = pipeline.for_stream(&labels);
        let _ = sp.process(1, line).map(|(l, _)| l.len());
    }
});
