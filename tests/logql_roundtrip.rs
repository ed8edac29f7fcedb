//! Property: printing a parsed query and parsing the result gives the same tree
//! (`parse(fmt(parse(q))) == parse(q)`, spans ignored), over generated queries.

use lokal::logql::{format_query, parse_expr, pretty};
use proptest::prelude::*;

fn label() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "app",
        "job",
        "level",
        "foo",
        "bar_baz",
        "__error__",
        "Status",
        "x1",
    ])
    .prop_map(String::from)
}

/// A double-quoted LogQL string with escapes.
fn string() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "",
        "a",
        "foo bar",
        "tab\\there",
        "q\\\"uote",
        "back\\\\slash",
        "é",
        "line\\nbreak",
    ])
    .prop_map(|s| format!("\"{s}\""))
}

fn regex() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        ".*", ".+", "foo|bar", "a.*b", "\\\\w+", "(?i)err", "x{2,3}", "[a-z]+",
    ])
    .prop_map(|s| format!("\"{s}\""))
}

fn selector() -> impl Strategy<Value = String> {
    let extra = prop::collection::vec(
        (
            label(),
            prop::sample::select(vec!["=", "!=", "=~", "!~"]),
            regex(),
        ),
        0..3,
    );
    (label(), extra).prop_map(|(first, rest)| {
        let mut s = format!("{{{first}=\"v\"");
        for (l, op, v) in rest {
            s += &format!(", {l}{op}{v}");
        }
        s + "}"
    })
}

fn line_filter() -> impl Strategy<Value = String> {
    let value = prop_oneof![string(), Just("ip(\"10.0.0.0/8\")".to_string())];
    (
        prop::sample::select(vec!["|=", "!=", "|~", "!~", "|>", "!>"]),
        value.clone(),
        prop::collection::vec(value, 0..3),
    )
        .prop_map(|(op, v, ors)| {
            let mut s = format!("{op} {v}");
            for o in ors {
                s += &format!(" or {o}");
            }
            s
        })
}

/// Byte sizes are limited to values Loki prints exactly: it prints `2KiB` as `2.0kB`
/// (2000 bytes), so such filters do not survive a round trip, in Loki either.
fn label_filter_leaf() -> impl Strategy<Value = String> {
    prop_oneof![
        (label(), prop::sample::select(vec!["=", "!="]), string())
            .prop_map(|(l, o, v)| format!("{l}{o}{v}")),
        (label(), prop::sample::select(vec!["=~", "!~"]), regex())
            .prop_map(|(l, o, v)| format!("{l}{o}{v}")),
        (
            label(),
            prop::sample::select(vec![">", ">=", "<", "<=", "==", "!=", "="]),
            prop::sample::select(vec![
                "5", "-1", "2.5", "1e3", "+7", "250ms", "1h30m", "-1s", "1.5h", "10KB", "3KB",
                "5MB", "1B"
            ]),
        )
            .prop_map(|(l, o, v)| format!("{l} {o} {v}")),
        (label(), prop::sample::select(vec!["=", "!="]))
            .prop_map(|(l, o)| format!("{l}{o}ip(\"192.168.0.1\")")),
    ]
}

fn label_filter() -> impl Strategy<Value = String> {
    label_filter_leaf().prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (
                inner.clone(),
                prop::sample::select(vec![" and ", " or ", ", ", " "]),
                inner.clone()
            )
                .prop_map(|(a, op, b)| format!("{a}{op}{b}")),
            inner.prop_map(|a| format!("({a})")),
        ]
    })
}

fn stage() -> impl Strategy<Value = String> {
    prop_oneof![
        line_filter(),
        Just("| json".to_string()),
        Just("| json a=\"b.c[0]\", d".to_string()),
        prop::sample::select(vec![
            "",
            " --strict",
            " --keep-empty",
            " --keep-empty --strict"
        ])
        .prop_map(|f| format!("| logfmt{f}")),
        Just("| logfmt --strict a=\"b\",c".to_string()),
        Just("| regexp \"(?P<x>\\\\w+) (?P<y>.*)\"".to_string()),
        Just("| pattern \"<a> - <_> <b>\"".to_string()),
        Just("| unpack".to_string()),
        label_filter().prop_map(|f| format!("| {f}")),
        Just("| line_format \"{{.a}} \\\"x\\\"\"".to_string()),
        Just("| label_format a=b,c=\"{{.d}}\"".to_string()),
        Just("| drop a, b=\"c\", d=~\"e.*\"".to_string()),
        Just("| keep a,b!=\"c\"".to_string()),
        Just("| decolorize".to_string()),
    ]
}

fn log_expr() -> impl Strategy<Value = String> {
    (selector(), prop::collection::vec(stage(), 0..4)).prop_map(|(s, st)| {
        let mut q = s;
        for x in st {
            q += " ";
            q += &x;
        }
        q
    })
}

fn range_aggregation() -> impl Strategy<Value = String> {
    let range = prop::sample::select(vec!["[5m]", "[1h]", "[30s]", "[1d]", "[1h30m]", "[2w]"]);
    let offset = prop::sample::select(vec!["", " offset 5m", " offset 1h30m", " offset -1s"]);
    let unwrap = prop::sample::select(vec![
        "| unwrap latency",
        "| unwrap bytes(size)",
        "| unwrap duration(d) | __error__=\"\"",
        "| unwrap duration_seconds(d)",
    ]);
    prop_oneof![
        (
            prop::sample::select(vec![
                "count_over_time",
                "rate",
                "bytes_over_time",
                "bytes_rate",
                "absent_over_time"
            ]),
            log_expr(),
            range.clone(),
            offset.clone(),
            any::<bool>(),
        )
            .prop_map(|(op, l, r, o, before)| {
                if before {
                    format!("{op}({l} {r}{o})")
                } else {
                    format!("{op}({l}{r}{o})")
                }
            }),
        (
            prop::sample::select(vec![
                "avg_over_time",
                "min_over_time",
                "max_over_time",
                "stddev_over_time",
                "stdvar_over_time",
                "first_over_time",
                "last_over_time",
                "quantile_over_time",
                "sum_over_time",
                "rate_counter",
            ]),
            log_expr(),
            unwrap,
            range,
            offset,
            prop::sample::select(vec!["", " by (a)", " without (b,c)", " by ()"]),
        )
            .prop_map(|(op, l, u, r, o, g)| {
                let param = if op == "quantile_over_time" {
                    "0.99, "
                } else {
                    ""
                };
                let g = if matches!(op, "sum_over_time" | "rate_counter") {
                    ""
                } else {
                    g
                };
                format!("{op}({param}{l} {u} {r}{o}){g}")
            }),
    ]
}

fn sample_expr() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        4 => range_aggregation(),
        1 => prop::sample::select(vec!["1", "2.5", "0", "-3", "1e3"]).prop_map(String::from),
        1 => prop::sample::select(vec!["vector(1)", "vector(0.5)"]).prop_map(String::from),
    ];
    leaf.prop_recursive(3, 16, 2, |inner| {
        prop_oneof![
            (
                prop::sample::select(vec![
                    "sum",
                    "avg",
                    "min",
                    "max",
                    "count",
                    "stddev",
                    "stdvar",
                    "sort",
                    "sort_desc"
                ]),
                prop::sample::select(vec!["", " by (a)", " without (a, b)", " by ()"]),
                any::<bool>(),
                inner.clone(),
            )
                .prop_map(|(op, g, before, e)| {
                    let g = if op.starts_with("sort") { "" } else { g };
                    if before {
                        format!("{op}{g} ({e})")
                    } else {
                        format!("{op}({e}){g}")
                    }
                }),
            (
                prop::sample::select(vec!["topk", "bottomk"]),
                1..20u32,
                inner.clone()
            )
                .prop_map(|(op, k, e)| format!("{op}({k}, {e})")),
            (
                inner.clone(),
                prop::sample::select(vec![
                    "+", "-", "*", "/", "%", "^", "==", "!=", ">", ">=", "<", "<="
                ]),
                prop::sample::select(vec![
                    "",
                    " bool",
                    " on (a)",
                    " ignoring (a, b) group_left (c)",
                    " on () group_right"
                ]),
                inner.clone(),
            )
                .prop_map(|(a, op, m, b)| format!("{a} {op}{m} {b}")),
            inner.clone().prop_map(|e| format!("({e})")),
            inner.prop_map(|e| format!("label_replace({e}, \"dst\", \"$1\", \"src\", \"(.*)\")")),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn log_queries_roundtrip(q in log_expr()) {
        let first = parse_expr(&q);
        prop_assume!(first.is_ok());
        let first = first.unwrap();
        let printed = first.to_string();
        let second = parse_expr(&printed).map_err(|e| TestCaseError::fail(format!("{q}\n=> {printed}\n=> {e}")))?;
        prop_assert_eq!(&first, &second, "{} => {}", q, printed);
        // The pretty form means the same too.
        let p = pretty(&first);
        let reparsed = parse_expr(&p).ok();
        prop_assert_eq!(reparsed.as_ref(), Some(&first), "pretty: {}", p);
    }

    #[test]
    fn metric_queries_roundtrip(q in sample_expr()) {
        let first = match parse_expr(&q) {
            Ok(e) => e,
            // Generated combinations Loki rejects (e.g. a literal leg of `or`) are fine.
            Err(_) => return Ok(()),
        };
        let printed = first.to_string();
        // Folding literals can give NaN, ±Inf or -0 (e.g. `-3 % 1`), which Loki prints
        // but cannot read back: its lexer takes `-0` for a duration.
        let negative_zero = regex::Regex::new(r"-0(?:[^0-9.]|$)").unwrap();
        if printed.contains("NaN") || printed.contains("Inf") || negative_zero.is_match(&printed) {
            return Ok(());
        }
        let second = parse_expr(&printed).map_err(|e| TestCaseError::fail(format!("{q}\n=> {printed}\n=> {e}")))?;
        prop_assert_eq!(&first, &second, "{} => {}", q, printed);
        prop_assert_eq!(format_query(&printed, false).unwrap(), printed.clone());
    }
}
