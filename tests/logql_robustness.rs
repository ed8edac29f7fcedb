//! Robustness of the LogQL parser: deep nesting fails cleanly within a default 2 MiB
//! thread stack, long inputs parse in linear time, and arbitrary input never panics.

use std::time::Instant;

use lokal::logql::{format_query, parse_expr, MAX_NESTING};

/// Runs `f` on a thread with the default 2 MiB stack of spawned threads.
fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("no panic and no stack overflow");
}

fn assert_nesting_error(q: String) {
    println!("nesting case: {}…", &q[..q.len().min(30)]);
    let err = parse_expr(&q).expect_err("too deep").to_string();
    assert!(err.contains("nests too deeply"), "{err}");
}

#[test]
fn deep_nesting_is_a_clear_error() {
    on_small_stack(|| {
        // 100k nested parentheses: the nesting limit stops the parser early.
        let n = 100_000;
        assert_nesting_error(format!("{}1", "(".repeat(n)));
        // Balanced, the same query is over Loki's size limit: also a clean error.
        let err = parse_expr(&format!("{}1{}", "(".repeat(n), ")".repeat(n))).unwrap_err();
        assert!(err.to_string().contains("input size too long"), "{err}");
        // Every other way of nesting.
        let n = 20_000;
        assert_nesting_error(format!(
            "{}rate({{a=\"b\"}}[1m]){}",
            "sum(".repeat(n),
            ")".repeat(n)
        ));
        assert_nesting_error(format!(
            "{}rate({{a=\"b\"}}[1m])",
            "label_replace(".repeat(n / 4)
        ));
        assert_nesting_error(format!(
            "rate({}{{a=\"b\"}}[1m]{})",
            "(".repeat(n),
            ")".repeat(n)
        ));
        assert_nesting_error(format!(
            "{{a=\"b\"}} | {}x=\"y\"{}",
            "(".repeat(n),
            ")".repeat(n)
        ));
        assert_nesting_error(format!("sum by (a) ({}1{})", "(".repeat(n), ")".repeat(n)));
    });
}

#[test]
fn nesting_up_to_the_limit_parses() {
    on_small_stack(|| {
        let n = MAX_NESTING - 2;
        let q = format!("{}rate({{a=\"b\"}}[1m]){}", "sum(".repeat(n), ")".repeat(n));
        let e = parse_expr(&q).expect("within the limit");
        assert_eq!(e.to_string().matches("sum(").count(), n);
        let q = format!("{}1{}", "(".repeat(n), ")".repeat(n));
        assert_eq!(format_query(&q, true).unwrap(), "1");
    });
}

#[test]
fn long_operator_chains_do_not_overflow() {
    on_small_stack(|| {
        let term = "count_over_time({a=\"b\"}[1m])";
        let q = vec![term; lokal::logql::MAX_CHAIN].join(" + ");
        let e = parse_expr(&q).expect("a chain at the limit");
        assert!(e.to_string().starts_with("(((("));
        let _ = format_query(&q, true).unwrap();
        // Far beyond the chain limit: an error, not a crash.
        let q = vec!["1"; 30_000].join(" ^ ");
        assert!(parse_expr(&q).is_err());
        let filters = vec!["x=\"1\""; 30_000].join(" , ");
        assert!(parse_expr(&format!("{{a=\"b\"}} | {filters}")).is_err());
        let q = vec![term; 30_000].join(" + ");
        assert!(parse_expr(&q).is_err());
    });
}

#[test]
fn parsing_is_linear() {
    // Many stages: a 100 KB query.
    let stage =
        " |= \"needle\" | logfmt | status >= 500 or level=\"error\" | line_format \"{{.msg}}\"";
    let build = |n: usize| format!("{{app=\"foo\"}}{}", stage.repeat(n));
    let small = build(150);
    let big = build(1_500);
    assert!(big.len() > 100_000 && big.len() < lokal::logql::MAX_INPUT_SIZE);
    let time = |q: &str| {
        let t = Instant::now();
        for _ in 0..3 {
            parse_expr(q).expect("parses");
        }
        t.elapsed()
    };
    let (ts, tb) = (time(&small), time(&big));
    // 10x the input must not cost 100x the time (allow generous noise).
    assert!(tb < ts * 40, "small {ts:?}, big {tb:?}");
}

/// A tiny deterministic PRNG, so the test needs no extra dependencies.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn random_input_never_panics() {
    // Fragments of LogQL glued at random, plus random bytes: must never panic.
    let pieces = [
        "{",
        "}",
        "(",
        ")",
        "[5m]",
        "[",
        "]",
        "app",
        "=",
        "!=",
        "=~",
        "!~",
        "\"x\"",
        "`y`",
        "\"",
        "|",
        "|=",
        "|~",
        "|>",
        "!>",
        "or",
        "and",
        "unless",
        "ip(\"1.2.3.4\")",
        "json",
        "logfmt",
        "--strict",
        "--keep-empty",
        "regexp",
        "pattern",
        "\"<a> <_>\"",
        "unpack",
        "line_format",
        "label_format",
        "drop",
        "keep",
        "decolorize",
        "unwrap",
        "bytes(",
        "duration(",
        "rate(",
        "sum",
        "by",
        "without",
        "topk(",
        "5",
        "-",
        "+",
        "*",
        "/",
        "%",
        "^",
        "==",
        ">",
        ">=",
        "<",
        "<=",
        "bool",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "offset",
        "1h",
        "-1s",
        "10KB",
        "0x10",
        "1e400",
        "vector(",
        "label_replace(",
        ",",
        " ",
        "\n",
        "#",
        "'a'",
        "µ",
        "0b",
        "quantile_over_time(",
        "0.5",
        "\\",
        "\u{0}",
        "é",
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..20_000 {
        let n = 1 + rng.below(24);
        let mut q = String::new();
        for _ in 0..n {
            q.push_str(pieces[rng.below(pieces.len())]);
        }
        if let Ok(e) = parse_expr(&q) {
            // What parses must print to something that parses to the same tree.
            let printed = e.to_string();
            if printed.contains("NaN") || printed.contains("Inf") {
                continue; // folded literals Loki cannot read back either
            }
            assert_eq!(
                parse_expr(&printed).as_ref(),
                Ok(&e),
                "{q:?} printed as {printed:?}"
            );
            let _ = lokal::logql::pretty(&e);
        }
    }
    for _ in 0..20_000 {
        let n = rng.below(40);
        let bytes: Vec<u8> = (0..n).map(|_| (rng.next() & 0xff) as u8).collect();
        let _ = lokal::logql::format_query_bytes(&bytes, false);
    }
}
