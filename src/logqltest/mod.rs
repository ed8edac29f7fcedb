//! Runs Grafana Loki's `.logqltest` scripts against lokal's engine: each
//! script's streams are written to a temporary store, each `eval` runs
//! through the same code as `lokal query`, and results are compared with
//! the expected ones. This is `lokal test`.

pub mod parse;

use std::collections::BTreeMap;

use crate::engine::eval::{self, MetricParams, StepAlign};
use crate::engine::logquery::{self, LogParams};
use crate::engine::value::MetricValue;
use crate::engine::Direction;
use crate::logql::Expr;
use crate::loki::api::format_value;
use crate::model::Labels;
use crate::store::Store;
use crate::time::TimeRange;
use parse::{Command, EvalCase, EvalKind, Expectation, Point};

pub use parse::{parse_script, ScriptError};

/// The outcome of one `eval`.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// Line of the `eval` in the script.
    pub line: usize,
    /// The query.
    pub query: String,
    /// Whether the result matched.
    pub passed: bool,
    /// Why not, readable.
    pub diff: String,
}

/// Errors of a run (not of a case).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The script is malformed.
    #[error(transparent)]
    Script(#[from] ScriptError),
    /// The temporary store failed.
    #[error("temporary store: {0}")]
    Store(String),
}

/// Runs every `eval` of a script.
pub fn run_script(text: &str) -> Result<Vec<CaseResult>, RunError> {
    let cmds = parse_script(text)?;
    let mut dir = tempfile::tempdir().map_err(|e| RunError::Store(e.to_string()))?;
    let mut results = Vec::new();
    for cmd in cmds {
        match cmd {
            Command::Clear => {
                dir = tempfile::tempdir().map_err(|e| RunError::Store(e.to_string()))?
            }
            Command::Flush => {}
            Command::Load(entries) => {
                let mut streams: BTreeMap<Labels, Vec<crate::ingest::OwnedEntry>> = BTreeMap::new();
                for e in entries {
                    streams.entry(e.labels).or_default().push((
                        e.ts,
                        e.line.into_bytes(),
                        e.metadata,
                    ));
                }
                crate::ingest::write_streams(
                    &Store::new(dir.path()),
                    crate::store::DEFAULT_TENANT,
                    streams.into_iter().collect(),
                )
                .map_err(|e| RunError::Store(e.to_string()))?;
            }
            Command::Eval(case) => results.push(run_case(&Store::new(dir.path()), &case)),
        }
    }
    Ok(results)
}

enum Got {
    Metric(MetricValue),
    Streams(Vec<crate::engine::logquery::LogEntry>),
}

fn evaluate(store: &Store, case: &EvalCase) -> Result<Got, String> {
    let expr = crate::logql::parse_expr(&case.query).map_err(|e| e.to_string())?;
    let snap = store
        .tenant(crate::store::DEFAULT_TENANT)
        .and_then(|t| t.snapshot())
        .map_err(|e| e.to_string())?;
    match (&expr, &case.kind) {
        (Expr::Sample(s), EvalKind::Instant(t)) => {
            let p = MetricParams::instant(*t);
            eval::eval(&snap, s, &p)
                .map(|(v, _)| Got::Metric(v))
                .map_err(|e| e.to_string())
        }
        (Expr::Sample(s), EvalKind::Range { start, end, step }) => {
            // Loki's engine without its query frontend: steps from the
            // script's start up to and including its end, not the epoch grid
            // (on which 79 of the 1,095 cases of ../shared would fail).
            let p = MetricParams::range(*start, *end, Some(*step), StepAlign::Start)
                .map_err(|e| e.to_string())?;
            eval::eval(&snap, s, &p)
                .map(|(v, _)| Got::Metric(v))
                .map_err(|e| e.to_string())
        }
        (Expr::Sample(_), EvalKind::Select { .. }) => {
            Err("a metric query cannot be an eval select".into())
        }
        (Expr::Log(l), kind) => {
            let (from, to, direction) = match *kind {
                EvalKind::Select {
                    start,
                    end,
                    forward,
                } => (
                    start,
                    end,
                    if forward {
                        Direction::Forward
                    } else {
                        Direction::Backward
                    },
                ),
                EvalKind::Instant(t) => (t - 30_000_000_000, t, Direction::Backward),
                EvalKind::Range { start, end, .. } => (start, end, Direction::Backward),
            };
            let p = LogParams {
                range: TimeRange::new(from, to),
                limit: 0,
                direction,
            };
            logquery::run(&snap, l, &p)
                .map(|r| Got::Streams(r.entries))
                .map_err(|e| e.to_string())
        }
    }
}

/// Loki's tolerance: equal within 1e-9 absolute or relative; NaN equals NaN.
fn close(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a.is_infinite() || b.is_infinite() {
        return a == b;
    }
    let d = (a - b).abs();
    d <= 1e-9 || d <= 1e-9 * a.abs().max(b.abs())
}

fn show_points(p: &[Point]) -> String {
    p.iter()
        .map(|p| match p {
            Point::Missing => "_".to_string(),
            Point::Value(v) => format_value(*v),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn run_case(store: &Store, case: &EvalCase) -> CaseResult {
    let got = evaluate(store, case);
    let diff = compare(case, got);
    CaseResult {
        line: case.line,
        query: case.query.clone(),
        passed: diff.is_none(),
        diff: diff.unwrap_or_default(),
    }
}

/// `None` when `got` satisfies the case, else a readable difference.
fn compare(case: &EvalCase, got: Result<Got, String>) -> Option<String> {
    let got = match (&case.expect, got) {
        (Expectation::Fail { msg, regex }, Err(e)) => {
            if let Some(m) = msg {
                if !e.contains(m.as_str()) {
                    return Some(format!(
                        "expected an error containing {m:?}\n     got error: {e}"
                    ));
                }
            }
            if let Some(r) = regex {
                if !regex::Regex::new(r)
                    .map(|re| re.is_match(&e))
                    .unwrap_or(false)
                {
                    return Some(format!(
                        "expected an error matching /{r}/\n     got error: {e}"
                    ));
                }
            }
            return None;
        }
        (Expectation::Fail { .. }, Ok(_)) => {
            return Some("expected the query to fail, but it succeeded".into())
        }
        (_, Err(e)) => return Some(format!("unexpected error: {e}")),
        (_, Ok(g)) => g,
    };
    let steps: Vec<i64> = match case.kind {
        EvalKind::Instant(t) => vec![t],
        EvalKind::Range { start, end, step } if step > 0 => (0..=((end - start) / step))
            .map(|i| start + i * step)
            .collect(),
        _ => vec![],
    };
    // The result as (labels, one point per step), in result order.
    let rows: Vec<(Labels, Vec<Point>)> = match &got {
        Got::Metric(MetricValue::Vector(v)) => v
            .iter()
            .map(|s| (s.labels.clone(), vec![Point::Value(s.value)]))
            .collect(),
        Got::Metric(MetricValue::Matrix(m)) => m
            .iter()
            .map(|s| {
                let pts = steps
                    .iter()
                    .map(|t| {
                        s.points
                            .iter()
                            .find(|p| p.0 == *t)
                            .map_or(Point::Missing, |p| Point::Value(p.1))
                    })
                    .collect();
                (s.labels.clone(), pts)
            })
            .collect(),
        Got::Metric(MetricValue::Scalar(_)) | Got::Streams(_) => Vec::new(),
    };
    let show_rows = |rows: &[(Labels, Vec<Point>)]| -> String {
        rows.iter()
            .map(|(l, p)| format!("  {l} {}", show_points(p)))
            .collect::<Vec<_>>()
            .join("\n")
    };
    match &case.expect {
        Expectation::Fail { .. } => unreachable!("handled above"),
        Expectation::Empty => {
            let empty = match &got {
                Got::Metric(v) => v.is_empty(),
                Got::Streams(s) => s.is_empty(),
            };
            (!empty).then(|| match &got {
                Got::Streams(s) => format!("expected no result, got {} lines", s.len()),
                Got::Metric(MetricValue::Scalar(p)) => {
                    format!("expected no result, got scalar {p:?}")
                }
                _ => format!("expected no result, got:\n{}", show_rows(&rows)),
            })
        }
        Expectation::Scalar(want) => match &got {
            Got::Metric(MetricValue::Scalar(p)) if p.len() == 1 && close(p[0].1, *want) => None,
            Got::Metric(MetricValue::Scalar(p)) => Some(format!(
                "expected scalar {}, got {p:?}",
                format_value(*want)
            )),
            _ => Some(format!(
                "expected scalar {}, got:\n{}",
                format_value(*want),
                show_rows(&rows)
            )),
        },
        Expectation::Series(want) => {
            if let Got::Metric(MetricValue::Scalar(p)) = &got {
                return Some(format!("expected series, got scalar {p:?}"));
            }
            let same = |a: &(Labels, Vec<Point>), b: &(Labels, Vec<Point>)| {
                a.0 == b.0
                    && a.1.len() == b.1.len()
                    && a.1.iter().zip(&b.1).all(|(x, y)| match (x, y) {
                        (Point::Missing, Point::Missing) => true,
                        (Point::Value(x), Point::Value(y)) => close(*x, *y),
                        _ => false,
                    })
            };
            let ok = if case.ordered {
                want.len() == rows.len() && want.iter().zip(&rows).all(|(a, b)| same(a, b))
            } else {
                want.len() == rows.len() && want.iter().all(|w| rows.iter().any(|r| same(w, r)))
            };
            (!ok).then(|| {
                format!(
                    "expected:\n{}\n     got:\n{}",
                    show_rows(want),
                    show_rows(&rows)
                )
            })
        }
        Expectation::Streams(want) => {
            let Got::Streams(entries) = &got else {
                return Some("expected log lines, got a metric result".into());
            };
            // Loki's result labels merge stream, metadata and parsed labels.
            let expect: Vec<(Labels, String, i64)> = want
                .iter()
                .map(|w| {
                    let mut l = w.labels.clone();
                    for (k, v) in w.metadata.iter().chain(&w.parsed) {
                        l.set(k, v);
                    }
                    (l, w.line.clone(), w.ts)
                })
                .collect();
            let have: Vec<(Labels, String, i64)> = entries
                .iter()
                .map(|e| {
                    (
                        Labels::clone(&e.labels),
                        String::from_utf8_lossy(&e.line).into_owned(),
                        e.ts,
                    )
                })
                .collect();
            // Streams compare as a set; lines within a stream in order.
            let group = |v: &[(Labels, String, i64)]| {
                let mut m: BTreeMap<Labels, Vec<(String, i64)>> = BTreeMap::new();
                for (l, s, t) in v {
                    m.entry(l.clone()).or_default().push((s.clone(), *t));
                }
                m
            };
            let (ge, gh) = (group(&expect), group(&have));
            (ge != gh).then(|| {
                let show = |m: &BTreeMap<Labels, Vec<(String, i64)>>| {
                    m.iter()
                        .flat_map(|(l, v)| {
                            v.iter()
                                .map(move |(s, t)| format!("  {l} {s:?} @ {}s", *t as f64 / 1e9))
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                };
                format!("expected:\n{}\n     got:\n{}", show(&ge), show(&gh))
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_script_passes_and_a_wrong_one_fails() {
        let s = r#"
load
  {app="a"} "req err" @ 20s [repeat every 20s for 4]
  {app="a"} "req ok" @ 30s [repeat every 20s for 2]

eval instant at 60s count_over_time({app="a"} |= "err" [1m])
  {app="a"} 3
eval range from 40s to 80s step 20s count_over_time({app="a"} |= "err" [1m])
  {app="a"} 2 3 3
eval instant at 60s count_over_time({app="a"} |= "err" [1m])
  {app="a"} 4
eval select from 0 to 50s forward {app="a"} |= "ok"
  {app="a"} "req ok" @ 30s
eval instant at 0 1 + 2
  3
"#;
        let r = run_script(s).unwrap();
        let passed: Vec<bool> = r.iter().map(|c| c.passed).collect();
        assert_eq!(passed, vec![true, true, false, true, true], "{r:#?}");
        assert!(
            r[2].diff
                .contains("expected:\n  {app=\"a\"} 4\n     got:\n  {app=\"a\"} 3"),
            "{}",
            r[2].diff
        );
    }
}
