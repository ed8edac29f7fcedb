//! `lokal rules test`: unit tests for rules, as `promtool test rules` gives
//! Prometheus (`cmd/promtool/unittest.go`), with log streams for input.
//!
//! A test file names rule files (relative to itself, globs allowed) and holds
//! test groups. Each group writes its input streams to a temporary store, then
//! evaluates every rule group at `0, evaluation_interval, …` up to the last
//! `eval_time` (from `start_timestamp`, default the Unix epoch), as promtool does
//! whatever the groups' own intervals; alert state is Prometheus' ([`super::alerting`]).
//!
//! ```yaml
//! rule_files: [alerts.yaml]
//! evaluation_interval: 1m
//! tests:
//!   - name: error burst
//!     input_streams:
//!       - labels: '{job="app"}'
//!         lines:                       # explicit lines at times from the start
//!           - {at: 30s, line: 'level=error msg="boom"'}
//!       - labels: '{job="app", level="error"}'
//!         line: 'level=error msg="x"'  # promtool's notation: lines per interval
//!         values: '0 0 5x3 _ 1'
//!     load: |                          # or .logqltest's load notation
//!       {job="app"} "level=info" @ 10s [repeat every 20s for 30]
//!     alert_rule_test:
//!       - eval_time: 5m
//!         alertname: ErrorBurst
//!         exp_alerts:
//!           - exp_labels: {severity: page, job: app}
//!             exp_annotations: {summary: "5 errors"}
//!     logql_expr_test:
//!       - expr: sum(count_over_time({job="app"} |= "error" [5m]))
//!         eval_time: 5m
//!         exp_samples: [{labels: '{}', value: 16}]
//!       - expr: '{job="app"} |= "boom"'     # a log query: the lines up to eval_time
//!         eval_time: 1m
//!         exp_lines: [{labels: '{job="app"}', line: 'level=error msg="boom"', at: 30s}]
//! ```
//!
//! An alert test compares the firing alerts of the named rule after the
//! evaluation at or before `eval_time` (labels with `alertname`, and annotations);
//! an expression test runs an instant query at `eval_time`. Each check is one
//! case; a failing one prints what was expected and what came, as a diff.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use regex::Regex;

use super::alerting::{RuleState, State};
use super::eval::{self, Rule, Settings, TemplateCtx};
use super::yaml::{self, Entry, Node, Pos, Reader};
use crate::engine::logquery::LogParams;
use crate::engine::Direction;
use crate::logql::{Expr, MatchOp};
use crate::model::Labels;
use crate::querier::Querier;
use crate::store::{Store, DEFAULT_TENANT};
use crate::time::TimeRange;

/// A check's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseResult {
    /// The test group's name.
    pub test: String,
    /// What was checked (`alert ErrorBurst at 5m`, `expr … at 1m`).
    pub check: String,
    /// Where the check is in the test file.
    pub pos: Pos,
    /// Why it failed, readable; `None` when it passed.
    pub failure: Option<String>,
}

/// A test file's outcome.
#[derive(Debug, Clone)]
pub struct FileResult {
    /// The test file.
    pub path: PathBuf,
    /// Every check run.
    pub cases: Vec<CaseResult>,
    /// Why the file could not run at all (it counts as one failure).
    pub error: Option<String>,
}

impl FileResult {
    /// Checks that failed, plus one for a file that could not run.
    pub fn failed(&self) -> usize {
        self.cases.iter().filter(|c| c.failure.is_some()).count()
            + usize::from(self.error.is_some())
    }

    /// Checks that passed.
    pub fn passed(&self) -> usize {
        self.cases.iter().filter(|c| c.failure.is_none()).count()
    }
}

/// An alert's labels and annotations, as a test compares them.
type AlertSeen = (Labels, Labels);

struct AlertTest {
    pos: Pos,
    eval_time: i64,
    alertname: String,
    exp: Vec<(Labels, Labels)>,
}

struct ExprTest {
    pos: Pos,
    expr: String,
    eval_time: i64,
    samples: Vec<(Labels, f64)>,
    lines: Option<Vec<(Labels, String, Option<i64>)>>,
}

struct TestGroup {
    name: String,
    interval: Option<i64>,
    start: i64,
    external_labels: BTreeMap<String, String>,
    external_url: String,
    streams: BTreeMap<Labels, Vec<crate::ingest::OwnedEntry>>,
    alerts: Vec<AlertTest>,
    exprs: Vec<ExprTest>,
}

struct TestFile {
    rule_files: Vec<PathBuf>,
    eval_interval: i64,
    fuzzy: bool,
    tests: Vec<TestGroup>,
}

/// Parses a label set written as a series (`'{job="a", x="y"}'`, `{}`).
fn parse_series_labels(s: &str) -> Result<Labels, String> {
    let matchers = crate::querier::parse_selector(s).map_err(|e| e.to_string())?;
    let mut pairs = Vec::new();
    for m in matchers {
        if m.op != MatchOp::Eq {
            return Err(format!("{s:?}: a series is written with = only"));
        }
        pairs.push((m.name, m.value));
    }
    Ok(Labels::from_pairs(pairs))
}

/// YAML floats as Go reads them (`1`, `1.5`, `1e3`, `.inf`, `-.Inf`, `.nan`).
fn parse_yaml_float(s: &str) -> Option<f64> {
    match s {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => Some(f64::NAN),
        _ => s.parse().ok(),
    }
}

fn labels_of(entries: &[Entry]) -> Labels {
    Labels::from_pairs(entries.iter().map(|e| (e.key.clone(), e.value.clone())))
}

/// promtool's `start_timestamp`: RFC 3339 or Unix seconds.
fn parse_start(s: &str) -> Option<i64> {
    if let Ok(secs) = s.parse::<f64>() {
        return Some((secs * 1e9) as i64);
    }
    s.parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_nanosecond() as i64)
}

fn decode(path: &Path, text: &str) -> Result<TestFile, String> {
    let show = |issues: &[yaml::Issue]| {
        issues
            .iter()
            .map(|i| format!("{}:{}: {}", path.display(), i.pos, i.msg))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let docs = yaml::parse_documents(text).map_err(|i| show(&[i]))?;
    let Some(Some(doc)) = docs.into_iter().next() else {
        return Err(format!("{}: the test file is empty", path.display()));
    };
    let mut r = Reader::default();
    let top = r.fields(
        &doc,
        "a rule test file",
        &[
            "rule_files",
            "evaluation_interval",
            "group_eval_order",
            "fuzzy_compare",
            "tests",
        ],
    );
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut rule_files = Vec::new();
    for n in r.seq(top.get("rule_files"), "rule_files").to_vec() {
        if let Some(f) = r.string(Some(&n), "rule_files") {
            let p = Path::new(&f);
            rule_files.push(if p.is_absolute() {
                p.to_path_buf()
            } else {
                dir.join(p)
            });
        }
    }
    let eval_interval = r
        .duration(top.get("evaluation_interval"), "evaluation_interval")
        .filter(|d| *d > 0)
        .unwrap_or(60_000_000_000);
    let fuzzy = r
        .string(top.get("fuzzy_compare"), "fuzzy_compare")
        .as_deref()
        == Some("true");
    let mut tests = Vec::new();
    for t in r.seq(top.get("tests"), "tests").to_vec() {
        tests.push(decode_group(&mut r, &t, tests.len()));
    }
    if !r.issues.is_empty() {
        return Err(show(&r.issues));
    }
    Ok(TestFile {
        rule_files,
        eval_interval,
        fuzzy,
        tests,
    })
}

fn decode_group(r: &mut Reader, node: &Node, index: usize) -> TestGroup {
    let f = r.fields(
        node,
        "a test",
        &[
            "name",
            "interval",
            "input_streams",
            "load",
            "alert_rule_test",
            "logql_expr_test",
            "external_labels",
            "external_url",
            "start_timestamp",
        ],
    );
    let name = r
        .string(f.get("name"), "name")
        .unwrap_or_else(|| format!("unnamed#{index}"));
    let interval = r.duration(f.get("interval"), "interval").filter(|d| *d > 0);
    let start = match f.get("start_timestamp") {
        Some(n) => {
            let s = r.string(Some(n), "start_timestamp").unwrap_or_default();
            parse_start(&s).unwrap_or_else(|| {
                r.issues.push(yaml::Issue {
                    pos: n.pos,
                    msg: format!("start_timestamp {s:?}: expected RFC 3339 or Unix seconds"),
                });
                0
            })
        }
        None => 0,
    };
    let step = interval.unwrap_or(60_000_000_000);
    let mut streams: BTreeMap<Labels, Vec<crate::ingest::OwnedEntry>> = BTreeMap::new();
    let bad = |r: &mut Reader, pos: Pos, msg: String| r.issues.push(yaml::Issue { pos, msg });
    for s in r.seq(f.get("input_streams"), "input_streams").to_vec() {
        let sf = r.fields(
            &s,
            "an input stream",
            &["labels", "lines", "line", "values"],
        );
        let labels = match r
            .string(sf.get("labels"), "labels")
            .map(|l| parse_series_labels(&l))
        {
            Some(Ok(l)) if !l.is_empty() => l,
            Some(Ok(_)) => {
                bad(r, s.pos, "an input stream needs at least one label".into());
                continue;
            }
            Some(Err(e)) => {
                bad(r, s.pos, format!("labels: {e}"));
                continue;
            }
            None => {
                bad(r, s.pos, "an input stream needs labels".into());
                continue;
            }
        };
        let entries = streams.entry(labels).or_default();
        for l in r.seq(sf.get("lines"), "lines").to_vec() {
            let lf = r.fields(&l, "a line", &["at", "line"]);
            let at = r.duration(lf.get("at"), "at").unwrap_or(0);
            let text = r.string(lf.get("line"), "line").unwrap_or_default();
            entries.push((start + at, text.into_bytes(), Vec::new()));
        }
        match (
            r.string(sf.get("line"), "line"),
            r.string(sf.get("values"), "values"),
        ) {
            (Some(line), Some(values)) => {
                let mut k = 0i64;
                for tok in values.split_whitespace() {
                    let points = if tok == "stale" {
                        vec![crate::logqltest::parse::Point::Missing]
                    } else {
                        match crate::logqltest::parse::parse_point(tok, 0) {
                            Ok(p) => p,
                            Err(e) => {
                                bad(r, s.pos, format!("values: {}", e.msg));
                                break;
                            }
                        }
                    };
                    for p in points {
                        if let crate::logqltest::parse::Point::Value(n) = p {
                            if n < 0.0 || n.fract() != 0.0 || n > 1e6 {
                                bad(r, s.pos, format!("values: {n} is not a number of lines"));
                            } else {
                                for _ in 0..n as usize {
                                    entries.push((
                                        start + k * step,
                                        line.clone().into_bytes(),
                                        Vec::new(),
                                    ));
                                }
                            }
                        }
                        k += 1;
                    }
                }
            }
            (None, None) => {}
            _ => bad(r, s.pos, "`line` and `values` go together".into()),
        }
    }
    if let Some(n) = f.get("load") {
        let text = r.string(Some(n), "load").unwrap_or_default();
        let script = format!(
            "load\n{}",
            text.lines().map(|l| format!("  {l}\n")).collect::<String>()
        );
        match crate::logqltest::parse_script(&script) {
            Ok(cmds) => {
                for c in cmds {
                    if let crate::logqltest::parse::Command::Load(es) = c {
                        for e in es {
                            streams.entry(e.labels).or_default().push((
                                start + e.ts,
                                e.line.into_bytes(),
                                e.metadata,
                            ));
                        }
                    }
                }
            }
            Err(e) => bad(
                r,
                Pos {
                    line: n.pos.line + e.line.saturating_sub(1),
                    col: n.pos.col,
                },
                format!("load: {}", e.msg),
            ),
        }
    }
    let mut alerts = Vec::new();
    for a in r.seq(f.get("alert_rule_test"), "alert_rule_test").to_vec() {
        let af = r.fields(
            &a,
            "an alert test",
            &["eval_time", "alertname", "exp_alerts"],
        );
        let eval_time = r.duration(af.get("eval_time"), "eval_time").unwrap_or(0);
        let alertname = r
            .string(af.get("alertname"), "alertname")
            .unwrap_or_default();
        if alertname.is_empty() {
            bad(r, a.pos, format!("an item under alert_rule_test misses required attribute alertname at eval_time {}", crate::go::duration::format_prom_duration(eval_time)));
        }
        let mut exp = Vec::new();
        for e in r.seq(af.get("exp_alerts"), "exp_alerts").to_vec() {
            let ef = r.fields(&e, "an expected alert", &["exp_labels", "exp_annotations"]);
            let mut labels = labels_of(&r.string_map(ef.get("exp_labels"), "exp_labels"));
            labels.set("alertname", &alertname);
            let annotations =
                labels_of(&r.string_map(ef.get("exp_annotations"), "exp_annotations"));
            exp.push((labels, annotations));
        }
        alerts.push(AlertTest {
            pos: a.pos,
            eval_time,
            alertname,
            exp,
        });
    }
    let mut exprs = Vec::new();
    for e in r.seq(f.get("logql_expr_test"), "logql_expr_test").to_vec() {
        let ef = r.fields(
            &e,
            "an expression test",
            &["expr", "eval_time", "exp_samples", "exp_lines"],
        );
        let expr = r.string(ef.get("expr"), "expr").unwrap_or_default();
        let eval_time = r.duration(ef.get("eval_time"), "eval_time").unwrap_or(0);
        let mut samples = Vec::new();
        for s in r.seq(ef.get("exp_samples"), "exp_samples").to_vec() {
            let sf = r.fields(&s, "an expected sample", &["labels", "value"]);
            let labels = r
                .string(sf.get("labels"), "labels")
                .unwrap_or_else(|| "{}".into());
            let value = r
                .string(sf.get("value"), "value")
                .unwrap_or_else(|| "0".into());
            match (parse_series_labels(&labels), parse_yaml_float(&value)) {
                (Ok(l), Some(v)) => samples.push((l, v)),
                (Err(msg), _) => bad(r, s.pos, format!("labels: {msg}")),
                (_, None) => bad(r, s.pos, format!("value {value:?} is not a number")),
            }
        }
        let lines = ef.entry("exp_lines").map(|_| {
            let mut out = Vec::new();
            for l in r.seq(ef.get("exp_lines"), "exp_lines").to_vec() {
                let lf = r.fields(&l, "an expected line", &["labels", "line", "at"]);
                let labels = r
                    .string(lf.get("labels"), "labels")
                    .unwrap_or_else(|| "{}".into());
                let line = r.string(lf.get("line"), "line").unwrap_or_default();
                let at = r.duration(lf.get("at"), "at");
                match parse_series_labels(&labels) {
                    Ok(lb) => out.push((lb, line, at.map(|a| start + a))),
                    Err(msg) => bad(r, l.pos, format!("labels: {msg}")),
                }
            }
            out
        });
        exprs.push(ExprTest {
            pos: e.pos,
            expr,
            eval_time,
            samples,
            lines,
        });
    }
    TestGroup {
        name,
        interval,
        start,
        external_labels: r
            .string_map(f.get("external_labels"), "external_labels")
            .into_iter()
            .map(|e| (e.key, e.value))
            .collect(),
        external_url: r
            .string(f.get("external_url"), "external_url")
            .unwrap_or_default(),
        streams,
        alerts,
        exprs,
    }
}

/// Runs one test file; `run` selects test groups by name (promtool's `--run`).
pub fn run_file(path: &Path, run: Option<&Regex>) -> FileResult {
    let mut out = FileResult {
        path: path.to_path_buf(),
        cases: Vec::new(),
        error: None,
    };
    let file = match std::fs::read_to_string(path)
        .map_err(|e| format!("{}: {e}", path.display()))
        .and_then(|t| decode(path, &t))
    {
        Ok(f) => f,
        Err(e) => {
            out.error = Some(e);
            return out;
        }
    };
    let rule_files = match super::load(&file.rule_files) {
        Ok(f) => f,
        Err(e) => {
            out.error = Some(format!("{}: loading the rule files: {e}", path.display()));
            return out;
        }
    };
    for tg in &file.tests {
        if run.is_some_and(|re| !re.is_match(&tg.name)) {
            continue;
        }
        match run_group(&file, &rule_files, tg) {
            Ok(cases) => out.cases.extend(cases),
            Err(e) => out.cases.push(CaseResult {
                test: tg.name.clone(),
                check: "setup".into(),
                pos: Pos { line: 1, col: 1 },
                failure: Some(e),
            }),
        }
    }
    out
}

fn show_duration(ns: i64) -> String {
    crate::go::duration::format_prom_duration(ns)
}

/// Equal as promtool compares (`fuzzy_compare`: within one ulp).
fn same_value(a: f64, b: f64, fuzzy: bool) -> bool {
    if a.is_nan() && b.is_nan() {
        return true;
    }
    a == b || (fuzzy && (a.next_down() == b || a.next_up() == b))
}

/// A readable diff of two lists: what both have, then `-` what only the
/// expectation has, then `+` what only the result has.
fn diff_lines(exp: &[String], got: &[String]) -> String {
    let mut out = vec!["  (- expected, + got)".to_string()];
    out.extend(
        exp.iter()
            .filter(|e| got.contains(e))
            .map(|e| format!("    {e}")),
    );
    out.extend(
        exp.iter()
            .filter(|e| !got.contains(e))
            .map(|e| format!("  - {e}")),
    );
    if exp.is_empty() {
        out.push("  - (nothing)".into());
    }
    out.extend(
        got.iter()
            .filter(|g| !exp.contains(g))
            .map(|g| format!("  + {g}")),
    );
    if got.is_empty() {
        out.push("  + (nothing)".into());
    }
    out.join("\n")
}

fn run_group(
    file: &TestFile,
    rule_files: &[super::RuleFile],
    tg: &TestGroup,
) -> Result<Vec<CaseResult>, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("temporary store: {e}"))?;
    let store = Store::new(dir.path());
    if !tg.streams.is_empty() {
        crate::ingest::write_streams(
            &store,
            DEFAULT_TENANT,
            tg.streams.clone().into_iter().collect(),
        )
        .map_err(|e| format!("writing the input streams: {e}"))?;
    }
    let q = Querier::open(&store, DEFAULT_TENANT).map_err(|e| e.to_string())?;
    let settings = Settings {
        default_interval: tg.interval.unwrap_or(file.eval_interval),
        external_labels: tg.external_labels.clone(),
        external_url: tg.external_url.clone(),
        ..Settings::default()
    };
    let groups = eval::compile(rule_files, &settings).map_err(|e| e.to_string())?;
    let iv = file.eval_interval;
    let max_eval = tg
        .alerts
        .iter()
        .map(|a| a.eval_time)
        .chain(tg.exprs.iter().map(|e| e.eval_time))
        .max()
        .unwrap_or(0);
    let n = (max_eval / iv) as usize + 1;
    let query = eval::template_query(&q);
    let ctx = TemplateCtx {
        settings: &settings,
        query: &query,
    };
    let mut cases = Vec::new();
    // The alerts each test asks about: eval index → alertname → (labels, annotations).
    let mut wanted: BTreeMap<usize, BTreeMap<&str, Vec<AlertSeen>>> = BTreeMap::new();
    for a in &tg.alerts {
        wanted
            .entry((a.eval_time / iv) as usize)
            .or_default()
            .insert(&a.alertname, Vec::new());
    }
    let mut eval_errors = Vec::new();
    for g in &groups {
        for rule in &g.rules {
            let expr = match rule {
                Rule::Alert(a) => &a.expr,
                Rule::Record(r) => &r.expr,
            };
            let results = eval::step_results(&q, expr, tg.start, iv, n, g.query_offset)
                .map_err(|e| e.to_string())?;
            let mut state = RuleState::default();
            for (k, res) in results.iter().enumerate() {
                let ts = tg.start + k as i64 * iv;
                let outcome = match (rule, res) {
                    (_, Err(e)) => Err(e.clone()),
                    (Rule::Record(r), Ok(samples)) => {
                        eval::record_samples(r, samples, g.limit).map(|_| ())
                    }
                    (Rule::Alert(a), Ok(samples)) => {
                        let present = eval::present(a, ts, samples, &ctx);
                        state.eval(ts, present, a.hold, a.keep_firing_for, g.limit)
                    }
                };
                if let Err(e) = outcome {
                    eval_errors.push(format!(
                        "rule: {}, time: {}, err: {e}",
                        rule.name(),
                        show_duration(ts - tg.start)
                    ));
                }
                if let (Rule::Alert(a), Some(w)) = (rule, wanted.get_mut(&k)) {
                    if let Some(list) = w.get_mut(a.name.as_str()) {
                        for al in state.active.values().filter(|al| al.state == State::Firing) {
                            let annotations = Labels::from_pairs(
                                a.annotations
                                    .iter()
                                    .map(|(k, t)| (k.clone(), ctx.expand(t, &al.last))),
                            );
                            list.push((al.labels.clone(), annotations));
                        }
                    }
                }
            }
        }
    }
    if !eval_errors.is_empty() {
        cases.push(CaseResult {
            test: tg.name.clone(),
            check: "rule evaluation".into(),
            pos: Pos { line: 1, col: 1 },
            failure: Some(eval_errors.join("\n")),
        });
        return Ok(cases);
    }
    let show_alert = |(l, a): &(Labels, Labels)| format!("{l} annotations {a}");
    for a in &tg.alerts {
        let mut got = wanted
            .get(&((a.eval_time / iv) as usize))
            .and_then(|w| w.get(a.alertname.as_str()))
            .cloned()
            .unwrap_or_default();
        let mut exp = a.exp.clone();
        got.sort();
        exp.sort();
        let failure = (got != exp).then(|| {
            let e: Vec<String> = exp.iter().map(show_alert).collect();
            let g: Vec<String> = got.iter().map(show_alert).collect();
            diff_lines(&e, &g)
        });
        cases.push(CaseResult {
            test: tg.name.clone(),
            check: format!("alert {} at {}", a.alertname, show_duration(a.eval_time)),
            pos: a.pos,
            failure,
        });
    }
    for e in &tg.exprs {
        let failure = check_expr(&q, tg, e, file.fuzzy);
        cases.push(CaseResult {
            test: tg.name.clone(),
            check: format!("expr {} at {}", e.expr.trim(), show_duration(e.eval_time)),
            pos: e.pos,
            failure,
        });
    }
    Ok(cases)
}

fn check_expr(q: &Querier, tg: &TestGroup, e: &ExprTest, fuzzy: bool) -> Option<String> {
    let at = tg.start + e.eval_time;
    let expr = match crate::logql::parse_expr(&e.expr) {
        Ok(x) => x,
        Err(err) => return Some(format!("  error: {err}")),
    };
    match expr {
        Expr::Sample(s) => {
            let got = match eval::instant(q, &s, at) {
                Ok(Ok(v)) => v,
                Ok(Err(err)) => return Some(format!("  error: {err}")),
                Err(err) => return Some(format!("  error: {err}")),
            };
            let mut got: Vec<(Labels, f64)> = got;
            let mut exp = e.samples.clone();
            got.sort_by(|a, b| a.0.cmp(&b.0));
            exp.sort_by(|a, b| a.0.cmp(&b.0));
            let same = got.len() == exp.len()
                && got
                    .iter()
                    .zip(&exp)
                    .all(|(g, x)| g.0 == x.0 && same_value(g.1, x.1, fuzzy));
            let show = |v: &[(Labels, f64)]| -> Vec<String> {
                v.iter()
                    .map(|(l, x)| format!("{l} {}", crate::loki::api::format_value(*x)))
                    .collect()
            };
            (!same).then(|| {
                let (mut es, mut gs) = (show(&exp), show(&got));
                es.sort();
                gs.sort();
                diff_lines(&es, &gs)
            })
        }
        Expr::Log(l) => {
            let Some(want) = &e.lines else {
                return Some("  a log query needs exp_lines".into());
            };
            let p = LogParams {
                range: TimeRange::new(tg.start, at.saturating_add(1)),
                limit: 0,
                direction: Direction::Forward,
            };
            let got = match q.log_query(&l, &p) {
                Ok(r) => r.entries,
                Err(err) => return Some(format!("  error: {err}")),
            };
            let show_time = |t: i64| show_duration(t - tg.start);
            let exp: Vec<String> = want
                .iter()
                .map(|(lb, line, at)| match at {
                    Some(t) => format!("{lb} {line:?} @ {}", show_time(*t)),
                    None => format!("{lb} {line:?}"),
                })
                .collect();
            let gotl: Vec<String> = got
                .iter()
                .zip(
                    want.iter()
                        .map(|w| w.2.is_some())
                        .chain(std::iter::repeat(true)),
                )
                .map(|(en, with_time)| {
                    let line = String::from_utf8_lossy(&en.line);
                    if with_time {
                        format!("{} {line:?} @ {}", en.labels, show_time(en.ts))
                    } else {
                        format!("{} {line:?}", en.labels)
                    }
                })
                .collect();
            // Lines compare in order; a difference shows both lists whole.
            (exp != gotl).then(|| {
                let mut out = vec!["  (- expected, + got)".to_string()];
                out.extend(exp.iter().map(|l| format!("  - {l}")));
                out.extend(gotl.iter().map(|l| format!("  + {l}")));
                out.join("\n")
            })
        }
    }
}

/// Escapes text for XML.
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// The results as JUnit XML (promtool's `--junit` shape: a suite per file, a case
/// per check; a file that could not run has an error).
pub fn junit(results: &[FileResult], timestamp: &str) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    for f in results {
        let failures = f.cases.iter().filter(|c| c.failure.is_some()).count();
        out.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{}\" skipped=\"0\" timestamp=\"{}\">\n",
            xml(&f.path.display().to_string()),
            f.cases.len() + usize::from(f.error.is_some()),
            usize::from(f.error.is_some()),
            xml(timestamp)
        ));
        if let Some(e) = &f.error {
            out.push_str(&format!(
                "    <testcase name=\"load\">\n      <error>{}</error>\n    </testcase>\n",
                xml(e)
            ));
        }
        for c in &f.cases {
            let name = xml(&format!("{}: {}", c.test, c.check));
            match &c.failure {
                None => out.push_str(&format!("    <testcase name=\"{name}\"></testcase>\n")),
                Some(msg) => out.push_str(&format!(
                    "    <testcase name=\"{name}\">\n      <failure>{}</failure>\n    </testcase>\n",
                    xml(msg)
                )),
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diffs_mark_what_differs() {
        let d = diff_lines(&["a".into(), "c".into()], &["b".into(), "c".into()]);
        assert_eq!(d, "  (- expected, + got)\n    c\n  - a\n  + b");
        assert_eq!(
            diff_lines(&["a".into()], &[]),
            "  (- expected, + got)\n  - a\n  + (nothing)"
        );
    }

    #[test]
    fn series_labels_and_floats() {
        assert_eq!(parse_series_labels("{}").unwrap(), Labels::default());
        assert_eq!(
            parse_series_labels(r#"{job="a", x="y"}"#).unwrap(),
            Labels::from_pairs([("job", "a"), ("x", "y")])
        );
        assert!(parse_series_labels(r#"{job=~"a"}"#).is_err());
        assert_eq!(parse_yaml_float("-.inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_yaml_float("1e3"), Some(1000.0));
        assert_eq!(
            parse_start("2024-01-01T00:00:00Z"),
            Some(1_704_067_200_000_000_000)
        );
        assert_eq!(parse_start("60"), Some(60_000_000_000));
    }

    #[test]
    fn junit_escapes() {
        let r = FileResult {
            path: "t<1>.yaml".into(),
            cases: vec![CaseResult {
                test: "a&b".into(),
                check: "alert X at 1m".into(),
                pos: Pos::default(),
                failure: Some("  - \"x\"".into()),
            }],
            error: None,
        };
        let x = junit(&[r], "2024-01-01T00:00:00");
        assert!(
            x.contains("name=\"t&lt;1&gt;.yaml\" tests=\"1\" failures=\"1\""),
            "{x}"
        );
        assert!(x.contains("<failure>  - &quot;x&quot;</failure>"), "{x}");
    }
}
