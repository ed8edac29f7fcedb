//! Property tests for metric queries: however the data is split into
//! segments and blocks, and however a range query's time range is split,
//! the merged answer equals the one-pass answer.
use lokal::engine::eval::{eval, MetricParams, StepAlign};
use lokal::engine::value::MetricValue;
use lokal::model::Labels;
use lokal::store::{Store, DEFAULT_TENANT};
use proptest::prelude::*;

const S: i64 = 1_000_000_000;

type Entry = (u8, i64, u32); // stream, second, value

fn write(dir: &std::path::Path, entries: &[Entry], parts: usize) {
    let store = Store::new(dir);
    let chunk = entries.len().div_ceil(parts.max(1)).max(1);
    for part in entries.chunks(chunk) {
        let mut streams: Vec<lokal::ingest::OwnedStream> = Vec::new();
        for app in 0..3u8 {
            let e: Vec<lokal::ingest::OwnedEntry> = part
                .iter()
                .filter(|x| x.0 == app)
                .map(|&(_, sec, v)| {
                    (
                        sec * S,
                        format!("level={} v={v}", ["info", "warn", "error"][v as usize % 3])
                            .into_bytes(),
                        vec![],
                    )
                })
                .collect();
            if !e.is_empty() {
                streams.push((Labels::from_pairs([("app", format!("a{app}"))]), e));
            }
        }
        lokal::ingest::write_streams(&store, DEFAULT_TENANT, streams).unwrap();
    }
}

fn run(
    dir: &std::path::Path,
    q: &str,
    start: i64,
    end: i64,
    step: i64,
) -> Vec<(String, Vec<(i64, f64)>)> {
    let snap = Store::new(dir)
        .tenant(DEFAULT_TENANT)
        .unwrap()
        .snapshot()
        .unwrap();
    let lokal::logql::Expr::Sample(e) = lokal::logql::parse_expr(q).unwrap() else {
        panic!()
    };
    let (v, _) = eval(
        &snap,
        &e,
        &MetricParams::range(start * S, end * S, Some(step * S), StepAlign::Start).unwrap(),
    )
    .unwrap();
    match v {
        MetricValue::Matrix(m) => {
            let mut v: Vec<_> = m
                .into_iter()
                .map(|s| (s.labels.to_string(), s.points))
                .collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        }
        other => panic!("{other:?}"),
    }
}

fn same(a: &[(String, Vec<(i64, f64)>)], b: &[(String, Vec<(i64, f64)>)]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.0 == y.0
                && x.1.len() == y.1.len()
                && x.1.iter().zip(&y.1).all(|(p, q)| {
                    p.0 == q.0
                        && ((p.1 - q.1).abs() <= 1e-9 * p.1.abs().max(1.0)
                            || (p.1.is_nan() && q.1.is_nan()))
                })
        })
}

const QUERIES: &[&str] = &[
    r#"count_over_time({app=~"a.+"}[50s])"#,
    r#"sum by (level) (rate({app=~"a.+"} | logfmt [70s]))"#,
    r#"bytes_over_time({app=~"a.+"}[30s])"#,
    r#"sum_over_time({app=~"a.+"} | logfmt | unwrap v [60s])"#,
    r#"avg_over_time({app=~"a.+"} | logfmt | unwrap v [60s]) by (level)"#,
    r#"max_over_time({app=~"a.+"} | logfmt | unwrap v [45s])"#,
    r#"min_over_time({app=~"a.+"} | logfmt | unwrap v [45s])"#,
    r#"stddev_over_time({app=~"a.+"} | logfmt | unwrap v [90s])"#,
    r#"quantile_over_time(0.9, {app=~"a.+"} | logfmt | unwrap v [90s]) by (app)"#,
    r#"first_over_time({app=~"a.+"} | logfmt | unwrap v [40s])"#,
    r#"last_over_time({app=~"a.+"} | logfmt | unwrap v [40s])"#,
    r#"topk(2, sum by (app) (count_over_time({app=~"a.+"}[60s])))"#,
];

fn entries() -> impl Strategy<Value = Vec<Entry>> {
    proptest::collection::vec((0u8..3, 0i64..600, 0u32..1000), 1..200)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    /// One segment or many (each its own blocks, overlapping in time): same answers.
    #[test]
    fn data_split_into_segments_gives_the_same_answer(e in entries(), parts in 2usize..6) {
        let one = tempfile::tempdir().unwrap();
        let many = tempfile::tempdir().unwrap();
        write(one.path(), &e, 1);
        write(many.path(), &e, parts);
        for q in QUERIES {
            let a = run(one.path(), q, 0, 600, 10);
            let b = run(many.path(), q, 0, 600, 10);
            prop_assert!(same(&a, &b), "{q}\none: {a:?}\nmany: {b:?}");
        }
    }

    /// A range split at a step and evaluated in two parts, then joined.
    #[test]
    fn time_range_split_gives_the_same_answer(e in entries(), cut in 1i64..59) {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &e, 1);
        for q in QUERIES.iter().filter(|q| !q.starts_with("topk")) {
            let whole = run(dir.path(), q, 0, 600, 10);
            let left = run(dir.path(), q, 0, cut * 10, 10);
            let right = run(dir.path(), q, cut * 10 + 10, 600, 10);
            let mut joined: Vec<(String, Vec<(i64, f64)>)> = Vec::new();
            for (l, pts) in left.into_iter().chain(right) {
                match joined.iter_mut().find(|(k, _)| *k == l) {
                    Some((_, p)) => p.extend(pts),
                    None => joined.push((l, pts)),
                }
            }
            joined.sort_by(|a, b| a.0.cmp(&b.0));
            for (_, p) in &mut joined { p.sort_by_key(|x| x.0); }
            prop_assert!(same(&whole, &joined), "{q} cut at {}s", cut * 10);
        }
    }
}

/// Window aggregates computed by brute force from the generated entries.
fn brute(e: &[Entry], app: u8, op: &str, range: i64, t: i64) -> Option<f64> {
    // By time; equal timestamps by value, as lokal orders samples.
    let mut inw: Vec<&Entry> = e
        .iter()
        .filter(|x| x.0 == app && x.1 > t - range && x.1 <= t)
        .collect();
    inw.sort_by_key(|x| (x.1, x.2));
    let w: Vec<f64> = inw.iter().map(|x| f64::from(x.2)).collect();
    if w.is_empty() {
        return None;
    }
    Some(match op {
        "count" => w.len() as f64,
        "rate" => w.len() as f64 / range as f64,
        "sum" => w.iter().sum(),
        "avg" => w.iter().sum::<f64>() / w.len() as f64,
        "min" => w.iter().copied().fold(f64::INFINITY, f64::min),
        "max" => w.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        "first" => w[0],
        "last" => w[w.len() - 1],
        "stdvar" | "stddev" => {
            let n = w.len() as f64;
            let mean = w.iter().sum::<f64>() / n;
            let var = w.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
            if op == "stddev" {
                var.sqrt()
            } else {
                var
            }
        }
        _ => unreachable!(),
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    /// Folded buckets (and the timestamp-only read of bare selectors) give
    /// exactly the brute-force answer, window by window.
    #[test]
    fn windows_equal_brute_force(e in entries(), parts in 1usize..4, (range, step) in prop_oneof![Just((60i64, 10i64)), Just((45, 15)), Just((50, 20)), Just((30, 30))]) {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &e, parts);
        for (op, q) in [
            ("count", format!("count_over_time({{app=\"a1\"}}[{range}s])")),
            ("rate", format!("rate({{app=\"a1\"}}[{range}s])")),
            ("sum", format!("sum_over_time({{app=\"a1\"}} | logfmt v | unwrap v [{range}s])")),
            ("avg", format!("avg_over_time({{app=\"a1\"}} | logfmt v | unwrap v [{range}s])")),
            ("min", format!("min_over_time({{app=\"a1\"}} | logfmt v | unwrap v [{range}s])")),
            ("max", format!("max_over_time({{app=\"a1\"}} | logfmt v | unwrap v [{range}s])")),
            ("first", format!("first_over_time({{app=\"a1\"}} | logfmt v | unwrap v [{range}s])")),
            ("last", format!("last_over_time({{app=\"a1\"}} | logfmt v | unwrap v [{range}s])")),
            ("stdvar", format!("stdvar_over_time({{app=\"a1\"}} | logfmt v | unwrap v [{range}s])")),
            ("stddev", format!("stddev_over_time({{app=\"a1\"}} | logfmt v | unwrap v [{range}s])")),
        ] {
            let got = run(dir.path(), &q, 0, 600, step);
            let want: Vec<(i64, f64)> =
                (0..=600 / step).filter_map(|k| brute(&e, 1, op, range, k * step).map(|v| (k * step * S, v))).collect();
            let got_pts = got.iter().find(|s| s.0.contains("a1")).map(|s| s.1.clone()).unwrap_or_default();
            prop_assert_eq!(got.len(), usize::from(!want.is_empty()), "{}", q);
            prop_assert!(same(&[("x".into(), got_pts.clone())], &[("x".into(), want.clone())]), "{q}\ngot  {got_pts:?}\nwant {want:?}");
        }
    }
}

/// Prometheus' quantile of a window, by brute force.
fn brute_quantile(e: &[Entry], app: u8, q: f64, range: i64, t: i64) -> Option<f64> {
    let mut v: Vec<f64> = e
        .iter()
        .filter(|x| x.0 == app && x.1 > t - range && x.1 <= t)
        .map(|x| f64::from(x.2))
        .collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let rank = q * (v.len() - 1) as f64;
    let (lo, w) = (rank.floor() as usize, rank - rank.floor());
    Some(v[lo] * (1.0 - w) + v[(lo + 1).min(v.len() - 1)] * w)
}

/// Many segments (many blocks, several scan waves): the sliding evaluation of
/// raw-sample ops finalizes windows and drops samples between waves; answers
/// must not change.
#[test]
fn sliding_windows_over_many_waves() {
    let mut x: u64 = 42;
    let mut e: Vec<Entry> = Vec::new();
    for i in 0..3000i64 {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        // Counters that grow, with an occasional reset.
        let v = if (x >> 40).is_multiple_of(97) {
            0
        } else {
            (i as u32) * 3 + ((x >> 33) % 5) as u32
        };
        e.push((((x >> 20) % 2) as u8, i / 5, v));
    }
    let many = tempfile::tempdir().unwrap();
    write(many.path(), &e, 300);
    let one = tempfile::tempdir().unwrap();
    write(one.path(), &e, 1);
    for (range, step) in [(60i64, 10i64), (45, 20), (90, 30)] {
        let q =
            format!("quantile_over_time(0.75, {{app=\"a1\"}} | logfmt v | unwrap v [{range}s])");
        let got = run(many.path(), &q, 0, 600, step);
        let want: Vec<(i64, f64)> = (0..=600 / step)
            .filter_map(|k| brute_quantile(&e, 1, 0.75, range, k * step).map(|v| (k * step * S, v)))
            .collect();
        assert!(
            same(&[("x".into(), got[0].1.clone())], &[("x".into(), want)]),
            "{q}"
        );
        let rc = format!("rate_counter({{app=~\"a.+\"}} | logfmt v | unwrap v [{range}s])");
        assert!(
            same(
                &run(many.path(), &rc, 0, 600, step),
                &run(one.path(), &rc, 0, 600, step)
            ),
            "{rc}"
        );
    }
}
