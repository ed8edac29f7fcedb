//! Fuzzes the JSON, logfmt and pattern parsers as queries run them: the
//! input is a log line given to pipelines with each parser (and the
//! expression forms, label filters and formatters that read what they
//! extract). No panic, whatever the line.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

use lokal::engine::pipeline::Pipeline;
use lokal::logql::{parse_expr, Expr};
use lokal::model::Labels;

const QUERIES: &[&str] = &[
    r#"{a="b"} | json"#,
    r#"{a="b"} | json x="a.b", y="c[0]", z="d[1].e", w="[\"f g\"]""#,
    r#"{a="b"} | json | x="1" or y=~"a.*""#,
    r#"{a="b"} | unpack"#,
    r#"{a="b"} | logfmt"#,
    r#"{a="b"} | logfmt --strict"#,
    r#"{a="b"} | logfmt --keep-empty x, y="z""#,
    r#"{a="b"} | logfmt | x > 10 | line_format "{{.x}} {{.y | upper}}""#,
    r#"{a="b"} | pattern "<ip> - - [<_>] \"<method> <path> <_>\" <status> <size>""#,
    r#"{a="b"} | pattern "<_>=<v> <w>""#,
    r#"{a="b"} |> "<_> error <_>" !> "<_>:<_> <_>""#,
    r#"{a="b"} | regexp "(?P<x>\\w+)=(?P<y>\\d+)" | label_format z="{{.x}}""#,
    r#"{a="b"} | json | logfmt | drop __error__ | keep x"#,
];

fn pipelines() -> &'static Vec<Pipeline> {
    static P: OnceLock<Vec<Pipeline>> = OnceLock::new();
    P.get_or_init(|| {
        QUERIES
            .iter()
            .map(|q| match parse_expr(q).unwrap() {
                Expr::Log(l) => Pipeline::new(&l.pipeline).unwrap(),
                Expr::Sample(_) => unreachable!(),
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let labels = Labels::from_pairs([("a", "b")]);
    for p in pipelines() {
        let mut sp = p.for_stream(&labels);
        if let Some((line, l)) = sp.process(1, data) {
            let _ = (line.len(), l);
        }
    }
});
