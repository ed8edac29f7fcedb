//! LogQL parser benchmarks: a typical dashboard query and a 100 KB query, to show that
//! parsing is linear (milliseconds for 100 KB). Run with `cargo bench --bench logql_parse`.

use divan::{black_box, Bencher};

fn main() {
    divan::main();
}

const TYPICAL: &str = r#"sum by (cluster, namespace) (rate({app="api", env=~"prod|staging"} |= "error" != "timeout" | json | status >= 500 or level="error" | line_format "{{.msg}}" [5m])) / ignoring (namespace) group_left sum by (cluster) (rate({app="api"}[5m]))"#;

/// A log query of about 100 KB: many stages of every kind.
fn query_100kb() -> String {
    let stage = r#" |= "needle" != "hay" or "straw" | logfmt --strict a="b", c | status >= 500 or (level="error" , latency > 250ms) | size < 10KB | line_format "{{.msg}} {{.status}}" | label_format dst=src, t="{{.a}}" | drop x, y="z" | ip != ip("10.0.0.0/8")"#;
    let mut q = String::from(r#"{app="foo", env=~"prod|dev"}"#);
    while q.len() < 100_000 {
        q.push_str(stage);
    }
    q
}

#[divan::bench]
fn typical_query(b: Bencher) {
    b.bench(|| lokal::logql::parse_expr(black_box(TYPICAL)).unwrap());
}

#[divan::bench]
fn query_100kb_parse(b: Bencher) {
    let q = query_100kb();
    assert!(q.len() >= 100_000 && q.len() < lokal::logql::MAX_INPUT_SIZE);
    b.bench(|| lokal::logql::parse_expr(black_box(&q)).unwrap());
}

#[divan::bench]
fn query_100kb_format(b: Bencher) {
    let q = query_100kb();
    b.bench(|| lokal::logql::format_query(black_box(&q), false).unwrap());
}
