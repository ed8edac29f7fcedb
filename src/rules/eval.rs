//! Evaluating rule groups over the store, statelessly.
//!
//! A group is evaluated at the times of its grid: multiples of its `interval`
//! counted from the Unix epoch (`k·interval`), each rule's expression run as an
//! instant query at `t − query_offset`. Prometheus offsets each group's grid by a
//! hash of its file path and name (to spread load over a server's groups); a
//! backtest that must give the same answer wherever the rule file lives, and that
//! matches `promtool test rules` (which evaluates at `0, interval, 2·interval, …`),
//! uses the epoch-aligned grid instead.
//!
//! Alert state at a time is a function of the evaluations before it, so nothing
//! is stored between runs: the evaluations are replayed through Prometheus'
//! state machine ([`super::alerting`]) from far enough back. How far: every
//! alert that shows up must have been, at some evaluation before the times
//! reported, missing for long enough that it cannot have been pending or firing
//! then (`keep_firing_for` plus one interval; one evaluation without it) — from
//! there on the replay agrees with a ruler that has been running forever. The
//! first lookback covers `for`, `keep_firing_for` and the 15 minutes a resolved
//! alert is kept, plus two intervals; while some alert has no such evaluation in
//! it, the lookback is multiplied by 4, up to `max_lookback` or to the start of
//! the data the expression reads (a ruler would have started no earlier). Alerts
//! still active at the start of the lookback are reported as such. With a group
//! `limit`, whose failures couple a rule's alerts, the point must be one where
//! the rule had no alerts at all.
//!
//! The range queries that compute each rule's results are split into at most
//! 10,000 steps; one that fails is retried step by step, so a failing
//! evaluation fails alone, as it would in a ruler.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use crate::engine::eval::StepAlign;
use crate::engine::value::MetricValue;
use crate::logql::{Expr, SampleExpr};
use crate::model::Labels;
use crate::querier::{self, Querier};
use crate::time::TimeRange;

use super::alerting::{Episode, Origin, Present, RuleState, State, RESOLVED_RETENTION};
use super::file::RuleFile;
use super::template::{AlertData, AlertTemplate, PromEnv, QueryFn};
use super::RulesError;

/// The ruler's settings: what Loki's ruler configuration says for evaluation.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The interval of groups without one (`ruler.evaluation-interval`, 1m).
    pub default_interval: i64,
    /// Labels added to alerts and recordings that leave lokal, and
    /// `$externalLabels`.
    pub external_labels: BTreeMap<String, String>,
    /// `ruler.external.url`: the base of `generatorURL` and `$externalURL`.
    pub external_url: String,
    /// `ruler.datasource-uid`, put in the Grafana link of `generatorURL`.
    pub datasource_uid: Option<String>,
    /// `ruler.resend-delay` (1m): with the interval, how long a sent alert stays
    /// valid (`endsAt`).
    pub resend_delay: i64,
    /// Furthest back a replay looks for the start of an alert (7 days).
    pub max_lookback: i64,
}

const MINUTE: i64 = 60_000_000_000;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            default_interval: MINUTE,
            external_labels: BTreeMap::new(),
            external_url: String::new(),
            datasource_uid: None,
            resend_delay: MINUTE,
            max_lookback: 7 * 24 * 60 * MINUTE,
        }
    }
}

/// An alerting rule, ready to evaluate.
#[derive(Debug, Clone)]
pub struct AlertRule {
    /// `alert:`.
    pub name: String,
    /// The expression.
    pub expr: SampleExpr,
    /// Its canonical text (Loki's `String()`), which `generatorURL` links to.
    pub expr_text: String,
    /// `for:`, ns.
    pub hold: i64,
    /// `keep_firing_for:`, ns.
    pub keep_firing_for: i64,
    /// The group's labels and the rule's (the rule's win), as templates.
    pub labels: Vec<(String, AlertTemplate)>,
    /// The annotations, as templates.
    pub annotations: Vec<(String, AlertTemplate)>,
}

/// A recording rule, ready to evaluate.
#[derive(Debug, Clone)]
pub struct RecordRule {
    /// `record:`, the recorded series' name.
    pub name: String,
    /// The expression.
    pub expr: SampleExpr,
    /// Its canonical text.
    pub expr_text: String,
    /// The group's labels and the rule's (not templated, as in Prometheus).
    pub labels: Vec<(String, String)>,
}

/// A rule of a group.
#[derive(Debug, Clone)]
pub enum Rule {
    /// `alert:`.
    Alert(AlertRule),
    /// `record:`.
    Record(RecordRule),
}

impl Rule {
    /// The rule's name.
    pub fn name(&self) -> &str {
        match self {
            Rule::Alert(a) => &a.name,
            Rule::Record(r) => &r.name,
        }
    }
}

/// A rule group, ready to evaluate.
#[derive(Debug, Clone)]
pub struct Group {
    /// The file it came from.
    pub file: PathBuf,
    /// Its namespace.
    pub namespace: String,
    /// `name:`.
    pub name: String,
    /// The evaluation interval, ns.
    pub interval: i64,
    /// `query_offset:`, ns.
    pub query_offset: i64,
    /// `limit:` (0: none).
    pub limit: usize,
    /// The rules, in order.
    pub rules: Vec<Rule>,
}

impl Group {
    /// The last evaluation time of the group's grid at or before `t`
    /// (Prometheus' `EvalTimestamp` with no offset).
    pub fn eval_time(&self, t: i64) -> i64 {
        t.div_euclid(self.interval) * self.interval
    }
}

/// Builds the groups of rule files that passed [`super::check::validate`] (an
/// expression that is not a metric query, which the checks report, is an error
/// here).
pub fn compile(files: &[RuleFile], s: &Settings) -> Result<Vec<Group>, RulesError> {
    let mut out = Vec::new();
    for f in files {
        for (ns, g) in f.groups() {
            let interval = match g.interval {
                Some(i) if i > 0 => i,
                _ => s.default_interval,
            };
            let mut rules = Vec::new();
            for r in &g.rules {
                let text = r.expr.as_ref().map_or("", |e| e.value.as_str());
                let expr = match crate::logql::parse_expr(text) {
                    Ok(Expr::Sample(e)) => e,
                    _ => {
                        return Err(RulesError::NotRunnable(format!(
                            "{}: group {:?}, rule {} {:?}: expr is not a LogQL metric query",
                            f.path.display(),
                            g.name,
                            r.index,
                            r.name()
                        )))
                    }
                };
                let expr_text = Expr::Sample(expr.clone()).to_string();
                // Prometheus' FromMaps(group labels, rule labels): the rule's win.
                let mut labels: Vec<(String, String)> = Vec::new();
                for e in g.labels.iter().chain(&r.labels) {
                    match labels.iter_mut().find(|(k, _)| *k == e.key) {
                        Some(slot) => slot.1 = e.value.clone(),
                        None => labels.push((e.key.clone(), e.value.clone())),
                    }
                }
                labels.sort();
                let name = r.name().to_string();
                rules.push(if r.is_alert() {
                    let tmpl = |kv: &[(String, String)]| -> Vec<(String, AlertTemplate)> {
                        kv.iter()
                            .map(|(k, v)| (k.clone(), AlertTemplate::new(&name, v)))
                            .collect()
                    };
                    let mut annotations: Vec<(String, String)> = r
                        .annotations
                        .iter()
                        .map(|e| (e.key.clone(), e.value.clone()))
                        .collect();
                    annotations.sort();
                    Rule::Alert(AlertRule {
                        expr,
                        expr_text,
                        hold: r.hold.0,
                        keep_firing_for: r.keep_firing_for.0,
                        labels: tmpl(&labels),
                        annotations: tmpl(&annotations),
                        name,
                    })
                } else {
                    Rule::Record(RecordRule {
                        name,
                        expr,
                        expr_text,
                        labels,
                    })
                });
            }
            out.push(Group {
                file: f.path.clone(),
                namespace: ns.name.clone(),
                name: g.name.clone(),
                interval,
                query_offset: g.query_offset.unwrap_or(0),
                limit: usize::try_from(g.limit).unwrap_or(0),
                rules,
            });
        }
    }
    Ok(out)
}

/// The result of one evaluation: samples, or the evaluation's error.
pub type StepResult = Result<Vec<(Labels, f64)>, String>;

/// Most steps one range query evaluates (Loki refuses more than 11,000).
const MAX_STEPS: usize = 10_000;

/// True for errors of the store rather than of the query: they stop the whole
/// run (a ruler would not go on with a broken store).
fn is_store_error(e: &querier::Error) -> bool {
    matches!(
        e,
        querier::Error::Store(_) | querier::Error::Query(crate::engine::QueryError::Store(_))
    )
}

/// A vector (or scalar) result as samples.
fn samples_of(v: MetricValue) -> Vec<(Labels, f64)> {
    match v {
        MetricValue::Vector(v) => v.into_iter().map(|s| (s.labels, s.value)).collect(),
        MetricValue::Scalar(p) => p.into_iter().map(|(_, v)| (Labels::default(), v)).collect(),
        MetricValue::Matrix(m) => m
            .into_iter()
            .filter_map(|s| s.points.last().map(|p| (s.labels, p.1)))
            .collect(),
    }
}

/// Runs `expr` as an instant query at `t` (Loki's ruler query function): a
/// vector, or a scalar as one sample without labels.
pub fn instant(q: &Querier, expr: &SampleExpr, t: i64) -> Result<StepResult, RulesError> {
    match q.instant_query(expr, t) {
        Ok(r) => Ok(Ok(samples_of(r.value))),
        Err(e) if is_store_error(&e) => Err(RulesError::Query(e)),
        Err(e) => Ok(Err(e.to_string())),
    }
}

/// The results of `expr` at the `n` evaluation times `first + k·step`, each
/// queried at the time minus `offset`.
pub fn step_results(
    q: &Querier,
    expr: &SampleExpr,
    first: i64,
    step: i64,
    n: usize,
    offset: i64,
) -> Result<Vec<StepResult>, RulesError> {
    let mut out: Vec<StepResult> = Vec::with_capacity(n);
    let mut done = 0usize;
    while done < n {
        let count = (n - done).min(MAX_STEPS);
        let start = first + done as i64 * step - offset;
        if count == 1 {
            out.push(instant(q, expr, start)?);
            done += 1;
            continue;
        }
        let end = start + (count as i64 - 1) * step;
        match q.range_query(
            expr,
            TimeRange::new(start, end),
            Some(step),
            StepAlign::Start,
        ) {
            Ok(r) => {
                let mut chunk: Vec<Vec<(Labels, f64)>> = vec![Vec::new(); count];
                let mut put = |labels: &Labels, ts: i64, v: f64| {
                    let k = (ts - start) / step;
                    if (0..count as i64).contains(&k) && (ts - start) % step == 0 {
                        chunk[k as usize].push((labels.clone(), v));
                    }
                };
                match r.value {
                    MetricValue::Matrix(m) => {
                        for s in &m {
                            for &(ts, v) in &s.points {
                                put(&s.labels, ts, v);
                            }
                        }
                    }
                    MetricValue::Scalar(p) => {
                        for (ts, v) in p {
                            put(&Labels::default(), ts, v);
                        }
                    }
                    MetricValue::Vector(v) => {
                        for s in v {
                            put(&s.labels, s.ts, s.value);
                        }
                    }
                }
                out.extend(chunk.into_iter().map(Ok));
            }
            Err(e) if is_store_error(&e) => return Err(RulesError::Query(e)),
            // Some evaluation failed: find which, one at a time.
            Err(_) => {
                for k in 0..count {
                    out.push(instant(q, expr, start + k as i64 * step)?);
                }
            }
        }
        done += count;
    }
    Ok(out)
}

/// How far back an expression reads before its evaluation time (its longest
/// range plus offset).
fn reach(e: &SampleExpr) -> i64 {
    match e {
        SampleExpr::RangeAggregation(r) => r.log.range + r.log.offset.max(0),
        SampleExpr::VectorAggregation(v) => reach(&v.inner),
        SampleExpr::BinOp(b) => reach(&b.lhs).max(reach(&b.rhs)),
        SampleExpr::LabelReplace(l) => reach(&l.inner),
        SampleExpr::Literal { .. } | SampleExpr::Vector { .. } => 0,
    }
}

/// What templates need besides an alert's data.
pub struct TemplateCtx<'a> {
    /// The settings (external labels and URL).
    pub settings: &'a Settings,
    /// The query function behind `query`.
    pub query: &'a QueryFn<'a>,
}

impl TemplateCtx<'_> {
    /// Expands `t` for an alert whose last sample is `origin`.
    pub fn expand(&self, t: &AlertTemplate, origin: &Origin) -> String {
        t.expand(
            &AlertData {
                labels: &origin.sample,
                external_labels: &self.settings.external_labels,
                external_url: &self.settings.external_url,
                value: origin.value,
            },
            &PromEnv {
                ts: origin.ts,
                external_url: &self.settings.external_url,
                query: Some(self.query),
            },
        )
    }
}

/// The query function templates call: LogQL instant queries over `q`.
pub fn template_query(
    q: &Querier,
) -> impl Fn(&str, i64) -> Result<Vec<(Labels, f64)>, String> + '_ {
    move |text: &str, t: i64| {
        let expr = querier::parse_instant(text).map_err(|e| e.to_string())?;
        match instant(q, &expr, t) {
            Ok(r) => r,
            Err(e) => Err(e.to_string()),
        }
    }
}

/// The alerts a rule's result makes at one evaluation: each sample's labels
/// without `__name__`, the rule's labels (templated; an empty value removes the
/// label) and `alertname`.
pub fn present(
    rule: &AlertRule,
    ts: i64,
    samples: &[(Labels, f64)],
    ctx: &TemplateCtx<'_>,
) -> Vec<Present> {
    samples
        .iter()
        .map(|(sample, value)| {
            let origin = Origin {
                ts,
                sample: sample.clone(),
                value: *value,
            };
            let mut pairs: Vec<(String, String)> = sample
                .pairs()
                .iter()
                .filter(|(k, _)| k != "__name__")
                .cloned()
                .collect();
            for (k, t) in &rule.labels {
                let v = ctx.expand(t, &origin);
                pairs.retain(|(n, _)| n != k);
                if !v.is_empty() {
                    pairs.push((k.clone(), v));
                }
            }
            pairs.retain(|(n, _)| n != "alertname");
            pairs.push(("alertname".into(), rule.name.clone()));
            Present {
                labels: Labels::from_pairs(pairs),
                origin,
            }
        })
        .collect()
}

/// An alert as reported at a time: labels, annotations and times.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertView {
    /// The alert's labels.
    pub labels: Labels,
    /// Its annotations, expanded with its last sample.
    pub annotations: Vec<(String, String)>,
    /// Its state.
    pub state: State,
    /// When it went pending.
    pub active_at: i64,
    /// When it fired.
    pub fired_at: Option<i64>,
    /// When it was resolved.
    pub resolved_at: Option<i64>,
    /// The value at its last evaluation in the result.
    pub value: f64,
}

/// What happened to one alerting rule over the reported evaluations.
#[derive(Debug, Clone)]
pub struct AlertReport {
    /// The rule.
    pub rule: AlertRule,
    /// Every alert that was pending, firing or resolved (and kept) during the
    /// reported evaluations, in the order they went pending.
    pub episodes: Vec<Episode>,
    /// The alerts after the last reported evaluation (pending, firing, and
    /// resolved ones still kept), sorted by labels.
    pub alerts: Vec<AlertView>,
    /// Failed evaluations: time and error.
    pub errors: Vec<(i64, String)>,
    /// The first evaluation replayed.
    pub replay_start: i64,
    /// Alerts that were active throughout the lookback: their start is unknown
    /// (reported as the start of the replay).
    pub uncertain: Vec<Labels>,
}

/// One recorded series.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedSeries {
    /// Its labels (`__name__` included).
    pub labels: Labels,
    /// `(time ns, value)`, ascending.
    pub points: Vec<(i64, f64)>,
}

/// What one recording rule recorded over the reported evaluations.
#[derive(Debug, Clone)]
pub struct RecordReport {
    /// The rule.
    pub rule: RecordRule,
    /// The series, sorted by labels.
    pub series: Vec<RecordedSeries>,
    /// Failed evaluations: time and error.
    pub errors: Vec<(i64, String)>,
}

/// A rule's report.
#[derive(Debug, Clone)]
pub enum RuleReport {
    /// An alerting rule's.
    Alert(AlertReport),
    /// A recording rule's.
    Record(RecordReport),
}

/// One group's report.
#[derive(Debug, Clone)]
pub struct GroupReport {
    /// The group.
    pub group: Group,
    /// The first reported evaluation (`None` when no evaluation time of the
    /// group's grid falls in the range).
    pub first: Option<i64>,
    /// The last reported evaluation.
    pub last: Option<i64>,
    /// One report per rule, in the group's order.
    pub rules: Vec<RuleReport>,
}

impl GroupReport {
    /// Every failed evaluation of the group's rules: rule, time, error.
    pub fn errors(&self) -> impl Iterator<Item = (&str, i64, &str)> {
        self.rules.iter().flat_map(|r| {
            let (name, errs) = match r {
                RuleReport::Alert(a) => (a.rule.name.as_str(), &a.errors),
                RuleReport::Record(r) => (r.rule.name.as_str(), &r.errors),
            };
            errs.iter().map(move |(t, e)| (name, *t, e.as_str()))
        })
    }

    /// True when an alert of the group is firing after the last evaluation.
    pub fn any_firing(&self) -> bool {
        self.rules.iter().any(|r| match r {
            RuleReport::Alert(a) => a.alerts.iter().any(|v| v.state == State::Firing),
            RuleReport::Record(_) => false,
        })
    }
}

/// Evaluates `groups` at every time of their grids in `[from, to]` (for one time,
/// `from == to`: the evaluation at or before it), replaying alert state from
/// before `from` as the module documentation says.
pub fn evaluate(
    q: &Querier,
    groups: &[Group],
    from: i64,
    to: i64,
    s: &Settings,
) -> Result<Vec<GroupReport>, RulesError> {
    let query = template_query(q);
    let ctx = TemplateCtx {
        settings: s,
        query: &query,
    };
    let mut out = Vec::new();
    for g in groups {
        let iv = g.interval;
        let last = g.eval_time(to);
        let first = if from == to {
            last
        } else {
            from.div_euclid(iv) * iv + if from.rem_euclid(iv) == 0 { 0 } else { iv }
        };
        if first > last {
            out.push(GroupReport {
                group: g.clone(),
                first: None,
                last: None,
                rules: Vec::new(),
            });
            continue;
        }
        let mut rules = Vec::new();
        for r in &g.rules {
            rules.push(match r {
                Rule::Alert(a) => RuleReport::Alert(alert_report(q, g, a, first, last, s, &ctx)?),
                Rule::Record(rr) => RuleReport::Record(record_report(q, g, rr, first, last, s)?),
            });
        }
        out.push(GroupReport {
            group: g.clone(),
            first: Some(first),
            last: Some(last),
            rules,
        });
    }
    Ok(out)
}

/// Where a replay may start at the earliest: `max_lookback` before `first`, or
/// just before the data `expr` reads begins (a ruler started then); and whether
/// `max_lookback` is what limits it.
fn history_start(
    q: &Querier,
    g: &Group,
    expr: &SampleExpr,
    first: i64,
    s: &Settings,
) -> Result<(i64, bool), RulesError> {
    let by_lookback = first.saturating_sub(s.max_lookback);
    let e = Expr::Sample(expr.clone());
    let bounds = q
        .query_bounds(&e)
        .map_err(RulesError::Query)?
        .or_else(|| q.time_bounds());
    let data = match bounds {
        Some(b) => b.start - reach(expr) - g.query_offset.max(0) - g.interval,
        None => first,
    };
    Ok((
        g.eval_time(by_lookback.max(data)).min(first),
        by_lookback > data,
    ))
}

/// Per alert, the first evaluation from which the replay is exact (see the module
/// documentation): `None` for alerts without one. `steps` holds each evaluation's
/// alerts, `None` for a failed one (which proves nothing); `m` is how many
/// evaluations in a row an alert must be missing from. With `limit`, the point must
/// be one where no alert was there for `m` evaluations.
fn exact_from(
    steps: &[Option<Vec<Present>>],
    m: usize,
    limit: bool,
) -> HashMap<Labels, Option<usize>> {
    struct Track {
        seen: usize,
        done: Option<usize>,
    }
    let mut tracks: HashMap<Labels, Track> = HashMap::new();
    let (mut ok_run, mut ok_done) = (0usize, None::<usize>);
    let (mut empty_run, mut global) = (0usize, None::<usize>);
    for (i, step) in steps.iter().enumerate() {
        let Some(present) = step else {
            ok_run = 0;
            empty_run = 0;
            for t in tracks.values_mut().filter(|t| t.done.is_none()) {
                t.seen = i;
            }
            continue;
        };
        for p in present {
            tracks
                .entry(p.labels.clone())
                .and_modify(|t| t.seen = i)
                // Never seen before: missing from every evaluation so far.
                .or_insert(Track {
                    seen: i,
                    done: ok_done.filter(|e| *e < i),
                });
        }
        for t in tracks.values_mut().filter(|t| t.done.is_none()) {
            if i >= t.seen + m {
                t.done = Some(i);
            }
        }
        ok_run += 1;
        if ok_done.is_none() && ok_run >= m {
            ok_done = Some(i);
        }
        empty_run = if present.is_empty() { empty_run + 1 } else { 0 };
        if global.is_none() && empty_run >= m {
            global = Some(i);
        }
    }
    tracks
        .into_iter()
        .map(|(l, t)| (l, if limit { global } else { t.done }))
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn alert_report(
    q: &Querier,
    g: &Group,
    rule: &AlertRule,
    first: i64,
    last: i64,
    s: &Settings,
    ctx: &TemplateCtx<'_>,
) -> Result<AlertReport, RulesError> {
    let iv = g.interval;
    let ceil_steps = |d: i64| (d + iv - 1).div_euclid(iv).max(0) as usize;
    let m = ceil_steps(rule.keep_firing_for) + 1;
    let retention_steps = ceil_steps(RESOLVED_RETENTION) + 1;
    let (earliest, lookback_limited) = history_start(q, g, &rule.expr, first, s)?;
    let mut start = g
        .eval_time(first - (rule.hold + rule.keep_firing_for + RESOLVED_RETENTION + 2 * iv))
        .max(earliest);
    let mut results: Vec<StepResult> = Vec::new();
    let mut results_start = last + iv;
    let mut steps: Vec<Option<Vec<Present>>> = Vec::new();
    let mut uncertain = loop {
        // Evaluate what the window adds in front of what is known.
        let n_new = ((results_start - start) / iv) as usize;
        let mut new = step_results(q, &rule.expr, start, iv, n_new, g.query_offset)?;
        let mut new_steps: Vec<Option<Vec<Present>>> = new
            .iter()
            .enumerate()
            .map(|(k, r)| {
                r.as_ref()
                    .ok()
                    .map(|samples| present(rule, start + k as i64 * iv, samples, ctx))
            })
            .collect();
        new.append(&mut results);
        results = new;
        new_steps.append(&mut steps);
        steps = new_steps;
        results_start = start;
        let first_idx = ((first - start) / iv) as usize;
        let cutoff = first_idx as i64 - retention_steps as i64;
        let exact = exact_from(&steps, m, g.limit > 0);
        let uncertain: Vec<Labels> = exact
            .iter()
            .filter(|(_, e)| e.is_none_or(|e| e as i64 > cutoff))
            .map(|(l, _)| l.clone())
            .collect();
        if uncertain.is_empty() || start <= earliest {
            // Before the data begins nothing is known: the replay starts as a
            // ruler started then would. Only a lookback cut short leaves doubt.
            break if lookback_limited {
                uncertain
            } else {
                Vec::new()
            };
        }
        let lookback = (first - start).max(iv);
        start = g.eval_time(first - 4 * lookback).max(earliest);
    };
    uncertain.sort();
    // Replay.
    let mut state = RuleState::default();
    let mut errors = Vec::new();
    for (k, (res, st)) in results.iter().zip(steps).enumerate() {
        let ts = start + k as i64 * iv;
        let outcome = match (res, st) {
            (Err(e), _) => Err(e.clone()),
            (Ok(_), Some(present)) => {
                state.eval(ts, present, rule.hold, rule.keep_firing_for, g.limit)
            }
            (Ok(_), None) => unreachable!("steps follow results"),
        };
        if let Err(e) = outcome {
            if ts >= first {
                errors.push((ts, e));
            }
        }
    }
    let horizon = first - RESOLVED_RETENTION;
    let episodes: Vec<Episode> = state
        .episodes
        .iter()
        .filter(|e| e.end().is_none_or(|end| end >= horizon) && e.active_at <= last)
        .cloned()
        .collect();
    let alerts = state
        .active
        .values()
        .map(|a| AlertView {
            labels: a.labels.clone(),
            annotations: rule
                .annotations
                .iter()
                .map(|(k, t)| (k.clone(), ctx.expand(t, &a.last)))
                .collect(),
            state: a.state,
            active_at: a.active_at,
            fired_at: a.fired_at,
            resolved_at: a.resolved_at,
            value: a.last.value,
        })
        .collect();
    Ok(AlertReport {
        rule: rule.clone(),
        episodes,
        alerts,
        errors,
        replay_start: start,
        uncertain,
    })
}

/// The error Prometheus gives when a recording rule's samples collide.
pub const DUPLICATE_RECORDING: &str =
    "vector contains metrics with the same labelset after applying rule labels";

/// A recording rule's samples at one evaluation, as Prometheus' `RecordingRule.Eval`
/// makes them: `__name__` set to the rule's name, the rule's labels set (an empty
/// value removes a label); colliding label sets and a `limit` exceeded fail it.
pub fn record_samples(
    rule: &RecordRule,
    samples: &[(Labels, f64)],
    limit: usize,
) -> Result<Vec<(Labels, f64)>, String> {
    let mut out: Vec<(Labels, f64)> = samples
        .iter()
        .map(|(l, v)| {
            let mut pairs: Vec<(String, String)> = l
                .pairs()
                .iter()
                .filter(|(k, _)| k != "__name__")
                .cloned()
                .collect();
            pairs.push(("__name__".into(), rule.name.clone()));
            for (k, val) in &rule.labels {
                pairs.retain(|(n, _)| n != k);
                if !val.is_empty() {
                    pairs.push((k.clone(), val.clone()));
                }
            }
            (Labels::from_pairs(pairs), *v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    if out.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(DUPLICATE_RECORDING.into());
    }
    if limit > 0 && out.len() > limit {
        return Err(format!(
            "exceeded limit of {limit} with {} series",
            out.len()
        ));
    }
    Ok(out)
}

fn record_report(
    q: &Querier,
    g: &Group,
    rule: &RecordRule,
    first: i64,
    last: i64,
    _s: &Settings,
) -> Result<RecordReport, RulesError> {
    let iv = g.interval;
    let n = ((last - first) / iv) as usize + 1;
    let results = step_results(q, &rule.expr, first, iv, n, g.query_offset)?;
    let mut series: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
    let mut errors = Vec::new();
    for (k, r) in results.into_iter().enumerate() {
        let ts = first + k as i64 * iv;
        match r.and_then(|samples| record_samples(rule, &samples, g.limit)) {
            Ok(samples) => {
                for (l, v) in samples {
                    // Samples carry the query time (t - query_offset).
                    series.entry(l).or_default().push((ts - g.query_offset, v));
                }
            }
            Err(e) => errors.push((ts, e)),
        }
    }
    Ok(RecordReport {
        rule: rule.clone(),
        series: series
            .into_iter()
            .map(|(labels, points)| RecordedSeries { labels, points })
            .collect(),
        errors,
    })
}

/// What happened to an alert at an evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Transition {
    /// It appeared in the result: pending.
    Pending,
    /// It fired.
    Firing,
    /// It left the result, and `keep_firing_for` keeps it firing.
    KeptFiring,
    /// It was resolved.
    Resolved,
    /// It left the result while pending, before it fired.
    Dropped,
    /// A `limit` failure cleared it.
    Cleared,
}

impl Transition {
    /// The word printed for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Pending => "pending",
            Transition::Firing => "firing",
            Transition::KeptFiring => "kept firing",
            Transition::Resolved => "resolved",
            Transition::Dropped => "dropped",
            Transition::Cleared => "cleared",
        }
    }
}

/// One transition of one alert, for a timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The evaluation time, ns.
    pub ts: i64,
    /// The group.
    pub group: String,
    /// The alerting rule.
    pub rule: String,
    /// The alert's labels.
    pub labels: Labels,
    /// What happened.
    pub what: Transition,
    /// The alert's value then (for a transition out of the result, its last value).
    pub value: f64,
}

/// Every transition of every alert within each group's reported evaluations,
/// in time order (then group, rule, labels).
pub fn timeline(reports: &[GroupReport]) -> Vec<Event> {
    let mut out = Vec::new();
    for g in reports {
        let (Some(first), Some(last)) = (g.first, g.last) else {
            continue;
        };
        for r in &g.rules {
            let RuleReport::Alert(a) = r else { continue };
            for e in &a.episodes {
                let marks = [
                    (Some(e.active_at), Transition::Pending),
                    (e.fired_at, Transition::Firing),
                    (e.kept_since, Transition::KeptFiring),
                    (e.resolved_at, Transition::Resolved),
                    (e.dropped_at, Transition::Dropped),
                    (e.cleared_at, Transition::Cleared),
                ];
                for (ts, what) in marks {
                    let Some(ts) = ts.filter(|t| (first..=last).contains(t)) else {
                        continue;
                    };
                    // `for: 0`: pending and firing at once; the firing is what counts.
                    if what == Transition::Pending && e.fired_at == Some(ts) {
                        continue;
                    }
                    let value = match what {
                        Transition::Pending => e.pending_value,
                        Transition::Firing => e.fired_value.unwrap_or(e.last.value),
                        _ => e.last.value,
                    };
                    out.push(Event {
                        ts,
                        group: g.group.name.clone(),
                        rule: a.rule.name.clone(),
                        labels: e.labels.clone(),
                        what,
                        value,
                    });
                }
            }
        }
    }
    out.sort_by(|a, b| {
        (a.ts, &a.group, &a.rule, &a.labels, a.what)
            .cmp(&(b.ts, &b.group, &b.rule, &b.labels, b.what))
    });
    out
}

/// True when an alert was firing at any reported evaluation.
pub fn fired_in_range(reports: &[GroupReport]) -> bool {
    reports.iter().any(|g| {
        let (Some(first), Some(last)) = (g.first, g.last) else {
            return false;
        };
        g.rules.iter().any(|r| match r {
            RuleReport::Alert(a) => a.episodes.iter().any(|e| {
                e.fired_at.is_some_and(|f| f <= last)
                    && e.resolved_at.or(e.cleared_at).is_none_or(|end| end > first)
            }),
            RuleReport::Record(_) => false,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::file::decode;
    use crate::store::{Store, DEFAULT_TENANT};
    use std::path::Path;

    const S: i64 = 1_000_000_000;
    const M: i64 = 60 * S;
    /// 2024-01-01T00:00:00Z.
    const T0: i64 = 1_704_067_200 * S;

    fn store_with(lines: Vec<(Labels, i64, &str)>) -> (tempfile::TempDir, Querier) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let mut streams: BTreeMap<Labels, Vec<crate::ingest::OwnedEntry>> = BTreeMap::new();
        for (l, ts, line) in lines {
            streams
                .entry(l)
                .or_default()
                .push((ts, line.as_bytes().to_vec(), vec![]));
        }
        crate::ingest::write_streams(&store, DEFAULT_TENANT, streams.into_iter().collect())
            .unwrap();
        let q = Querier::open(&store, DEFAULT_TENANT).unwrap();
        (dir, q)
    }

    fn groups(yaml: &str) -> Vec<Group> {
        let f = decode(Path::new("r.yaml"), yaml.to_string()).unwrap();
        let problems = crate::rules::check::check(std::slice::from_ref(&f), &Default::default());
        assert!(
            problems
                .iter()
                .all(|p| p.level != crate::rules::Level::Error),
            "{problems:?}"
        );
        compile(&[f], &Settings::default()).unwrap()
    }

    /// Error lines every 30 s from `from` to `to` (minutes after T0), on two pods.
    fn errors(from: i64, to: i64, skip: impl Fn(i64) -> bool) -> Vec<(Labels, i64, &'static str)> {
        let mut v = Vec::new();
        let mut t = T0 + from * M;
        while t < T0 + to * M {
            if !skip((t - T0) / M) {
                v.push((
                    Labels::from_pairs([("app", "api"), ("pod", "a")]),
                    t,
                    "level=error msg=boom",
                ));
                v.push((
                    Labels::from_pairs([("app", "api"), ("pod", "b")]),
                    t + 7 * S,
                    "level=info msg=ok",
                ));
            }
            t += 30 * S;
        }
        v
    }

    #[test]
    fn range_steps_equal_instant_queries() {
        let (_d, q) = store_with(errors(0, 40, |m| m % 7 == 3));
        for text in [
            r#"count_over_time({app="api"} |= "error" [2m])"#,
            r#"sum by (pod) (rate({app="api"}[5m])) > 0.1"#,
            r#"absent_over_time({app="api", pod="c"}[1m])"#,
            r#"topk(1, count_over_time({app="api"}[3m]))"#,
            "vector(1) * 2",
            "3",
        ] {
            let Expr::Sample(e) = crate::logql::parse_expr(text).unwrap() else {
                panic!()
            };
            let first = T0 + 90 * S;
            let got = step_results(&q, &e, first, M, 40, 15 * S).unwrap();
            for (k, r) in got.iter().enumerate() {
                let mut want = instant(&q, &e, first + k as i64 * M - 15 * S)
                    .unwrap()
                    .unwrap();
                let mut r = r.clone().unwrap();
                want.sort_by(|a, b| a.0.cmp(&b.0));
                r.sort_by(|a, b| a.0.cmp(&b.0));
                assert_eq!(r, want, "{text} at step {k}");
            }
        }
    }

    const RULES: &str = r#"
groups:
  - name: g
    interval: 1m
    rules:
      - alert: Errors
        expr: sum by (app) (count_over_time({app="api"} |= "error" [1m])) > 0
        for: 5m
        keep_firing_for: 3m
        labels: {severity: page}
        annotations: {summary: "{{ $value }} errors"}
"#;

    #[test]
    fn a_long_alert_is_replayed_from_its_start() {
        // Errors for 3 hours with a 2-minute gap every 20 minutes: with
        // keep_firing_for: 3m the alert fires once, 5 minutes in, and never resolves.
        let (_d, q) = store_with(errors(0, 180, |m| m % 20 == 10 || m % 20 == 11));
        let g = groups(RULES);
        let r = evaluate(&q, &g, T0 + 165 * M, T0 + 165 * M, &Settings::default()).unwrap();
        let RuleReport::Alert(a) = &r[0].rules[0] else {
            panic!()
        };
        assert_eq!(a.alerts.len(), 1, "{:?}", a.alerts);
        let v = &a.alerts[0];
        assert_eq!(v.state, State::Firing);
        // The first evaluation whose window holds an error is T0 itself (its
        // window (T0-1m, T0] holds the line at T0); pending then, firing 5 minutes later.
        assert_eq!((v.active_at, v.fired_at), (T0, Some(T0 + 5 * M)));
        assert_eq!(
            v.annotations,
            [("summary".to_string(), "2 errors".to_string())]
        );
        assert!(
            a.replay_start < T0 + 140 * M,
            "the lookback grew: {}",
            a.replay_start
        );
        assert!(a.uncertain.is_empty());
    }

    /// A ruler run from cron at each minute, with no state between runs, sees
    /// exactly what one run over the whole range sees at that minute.
    #[test]
    fn stateless_evaluations_agree_with_a_backtest() {
        let (_d, q) = store_with(errors(0, 120, |m| (m / 9) % 3 == 2 || m == 40));
        let g = groups(RULES);
        let s = Settings::default();
        let full = evaluate(&q, &g, T0, T0 + 120 * M, &s).unwrap();
        let RuleReport::Alert(fa) = &full[0].rules[0] else {
            panic!()
        };
        let mut fired = 0;
        for minute in (0..=120).step_by(3) {
            let t = T0 + minute * M;
            let at = evaluate(&q, &g, t, t, &s).unwrap();
            let RuleReport::Alert(a) = &at[0].rules[0] else {
                panic!()
            };
            // What the backtest says about t: the episodes alive at t.
            let alive: Vec<(i64, Option<i64>, bool)> = fa
                .episodes
                .iter()
                .filter(|e| e.active_at <= t && e.end().is_none_or(|end| end > t))
                .map(|e| (e.active_at, e.fired_at.filter(|f| *f <= t), false))
                .collect();
            let live: Vec<(i64, Option<i64>, bool)> = a
                .alerts
                .iter()
                .filter(|v| v.state != State::Inactive)
                .map(|v| (v.active_at, v.fired_at, false))
                .collect();
            assert_eq!(live, alive, "at minute {minute}");
            fired += a.alerts.iter().filter(|v| v.state == State::Firing).count();
        }
        assert!(fired > 5 && fa.episodes.len() > 2, "{:?}", fa.episodes);
    }

    #[test]
    fn recordings_carry_names_labels_and_query_times() {
        let (_d, q) = store_with(errors(0, 10, |_| false));
        let g = groups(
            r#"
groups:
  - name: g
    interval: 2m
    query_offset: 30s
    labels: {team: core}
    rules:
      - record: app:errors:count1m
        expr: sum by (app) (count_over_time({app="api"} |= "error" [1m]))
        labels: {team: ""}
"#,
        );
        let r = evaluate(&q, &g, T0 + 2 * M, T0 + 6 * M, &Settings::default()).unwrap();
        let RuleReport::Record(rec) = &r[0].rules[0] else {
            panic!()
        };
        assert_eq!(rec.series.len(), 1);
        // The rule's empty `team` removes the group's.
        assert_eq!(
            rec.series[0].labels,
            Labels::from_pairs([("__name__", "app:errors:count1m"), ("app", "api")])
        );
        let times: Vec<i64> = rec.series[0]
            .points
            .iter()
            .map(|p| (p.0 - T0) / S)
            .collect();
        assert_eq!(times, [90, 210, 330]);
        assert!(rec.series[0].points.iter().all(|p| p.1 == 2.0));
    }
}
