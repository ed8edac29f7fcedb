//! Metric queries: range aggregations over sliding windows, vector
//! aggregations, binary operators with Prometheus/Loki vector matching,
//! `label_replace`, `vector()` and scalars.
//!
//! Every node evaluates to a dense grid: one value (or none) per series per
//! step. An instant query is a range query with one step. A window at step
//! `t` holds the samples with `t - offset - range < ts <= t - offset`
//! (left-open, right-closed, as Loki).

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;

use super::pipeline::Pipeline;
use super::plan::{self, PLAN_BATCH_BLOCKS};
use super::scan::{self, Prefilter};
use super::stats::{QueryStats, ScanCounters};
use super::topk::{value_order, TopkSelect};
use super::value::{MetricValue, Sample, Series};
use super::QueryError;
use crate::chunk::segment::SegmentError;
use crate::logql::{
    BinOp, BinOpKind, Group, Grouping, LabelReplace, MatchOp, RangeAggregation, RangeOp,
    SampleExpr, Stage, VectorAggregation, VectorOp,
};
use crate::model::Labels;
use crate::store::{ReadProblem, Snapshot};
use crate::time::TimeRange;

/// Parameters of a metric query.
#[derive(Debug, Clone, Copy)]
pub struct MetricParams {
    /// The span of the evaluation times: `range.start + k * step` for every
    /// such time in the range (a range query), or `range.start` alone (an
    /// instant query). [`MetricParams::range`] lays the grid out.
    pub range: TimeRange,
    /// Step, ns (ignored when `instant`).
    pub step: i64,
    /// An instant query: one evaluation at `range.start`, a vector result.
    pub instant: bool,
}

/// How a metric range query lays out its evaluation times.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StepAlign {
    /// Loki's `query_range`: start rounded down and end rounded up to
    /// multiples of the step counted from the Unix epoch, every step of
    /// that grid evaluated, end included. Loki's query frontend does this
    /// to every metric range query before its engine sees it
    /// (`alignStartEnd` in `pkg/querier/queryrange/splitters.go`), with the
    /// step in whole milliseconds (its request codec keeps no less).
    #[default]
    Epoch,
    /// `start, start + step, …` up to and including `end`: Loki's engine
    /// without the frontend (`.logqltest` scripts), and Prometheus.
    Start,
}

/// Loki's message for a range query whose end is before its start
/// (`pkg/loghttp/query.go`; an equal end is accepted despite the words).
pub const END_BEFORE_START: &str = "end timestamp must not be before or equal to start time";

/// Loki's message for a step that is not positive.
const NON_POSITIVE_STEP: &str =
    "zero or negative query resolution step widths are not accepted. Try a positive integer";

/// Fails as Loki's `query_range` does when `end` is before `start`.
pub fn check_order(start: i64, end: i64) -> Result<(), QueryError> {
    if end < start {
        return Err(QueryError::Unsupported(END_BEFORE_START.into()));
    }
    Ok(())
}

impl MetricParams {
    /// A range query from `start` to `end`, both evaluation times, as
    /// Loki's `/loki/api/v1/query_range` takes them: `step` defaults to
    /// Loki's ([`default_step`]), and the request is checked as Loki checks
    /// it (end not before start, a positive step, at most 11,000 steps)
    /// before `align` lays out the grid. The one place the grid is decided.
    pub fn range(
        start: i64,
        end: i64,
        step: Option<i64>,
        align: StepAlign,
    ) -> Result<MetricParams, QueryError> {
        check_order(start, end)?;
        let step = step.unwrap_or_else(|| default_step(start, end));
        if step <= 0 {
            return Err(QueryError::Unsupported(NON_POSITIVE_STEP.into()));
        }
        if end.saturating_sub(start) / step > 11_000 {
            return Err(QueryError::Unsupported(
                "exceeded maximum resolution of 11,000 points per time series. Try increasing the value of the step parameter".into(),
            ));
        }
        let (first, last, step) = match align {
            StepAlign::Start => (
                start,
                start.saturating_add(end.saturating_sub(start) / step * step),
                step,
            ),
            StepAlign::Epoch => {
                // The frontend keeps whole milliseconds of the step.
                let step = if step >= MS { step / MS * MS } else { step };
                // Go's `%` truncates toward zero, as Rust's does: the same
                // arithmetic gives the same grid, before 1970 too.
                let first = start - start % step;
                let last = match end % step {
                    0 => end,
                    m => end.saturating_add(step - m),
                };
                (first, last, step)
            }
        };
        Ok(MetricParams {
            range: TimeRange::new(first, last.saturating_add(1)),
            step,
            instant: false,
        })
    }

    /// An instant query at `at`.
    pub fn instant(at: i64) -> MetricParams {
        MetricParams {
            range: TimeRange::at(at),
            step: 0,
            instant: true,
        }
    }

    /// How many evaluation times there are.
    pub fn n_steps(&self) -> usize {
        if self.instant || self.range.is_empty() {
            return 1;
        }
        let span = self.range.last().saturating_sub(self.range.start);
        usize::try_from(span / self.step.max(1)).map_or(usize::MAX, |n| n.saturating_add(1))
    }

    /// The evaluation times, first to last.
    pub fn steps(&self) -> impl Iterator<Item = i64> + '_ {
        let step = self.step.max(1);
        (0..self.n_steps() as i64).map(move |k| self.range.start + k * step)
    }
}

const MS: i64 = 1_000_000;

/// Most evaluation times of one query: Loki's 11,000 intervals, and the
/// two ends the epoch grid may round out.
const MAX_STEPS: usize = 11_002;

/// Loki's default step for a range query from `start` to `end`:
/// `max(floor((end - start) / 250), 1s)` in whole seconds
/// (`defaultQueryRangeStep` in `pkg/loghttp/params.go`).
pub fn default_step(start: i64, end: i64) -> i64 {
    let secs = end.saturating_sub(start) / 250_000_000_000;
    secs.max(1) * 1_000_000_000
}

/// A series on the evaluation grid.
#[derive(Debug, Clone)]
struct Row {
    labels: Labels,
    values: Vec<Option<f64>>,
}

/// What a node evaluates to.
enum Grid {
    Vector(Vec<Row>),
    Scalar(Vec<f64>),
}

struct Ctx<'a> {
    snap: &'a Snapshot,
    steps: Vec<i64>,
    stats: QueryStats,
    counters: ScanCounters,
    /// Whether an aggregation may take each series as soon as no later
    /// stream can add to it (folds, `topk`); false holds every series
    /// first, the evaluation the tests compare the streamed one with.
    streamed: bool,
    /// Blocks taken from the plan at a time ([`PLAN_BATCH_BLOCKS`]).
    batch_blocks: usize,
}

/// Evaluates a metric query.
pub fn eval(
    snap: &Snapshot,
    expr: &SampleExpr,
    p: &MetricParams,
) -> Result<(MetricValue, QueryStats), QueryError> {
    let t0 = Instant::now();
    if !p.instant && p.step <= 0 {
        return Err(QueryError::Unsupported(NON_POSITIVE_STEP.into()));
    }
    if !p.instant && p.range.is_empty() {
        return Err(QueryError::Unsupported(END_BEFORE_START.into()));
    }
    if p.n_steps() > MAX_STEPS {
        return Err(QueryError::Unsupported(format!(
            "exceeded maximum resolution of 11,000 points per time series ({}); try a larger --step",
            p.n_steps()
        )));
    }
    let steps: Vec<i64> = p.steps().collect();
    let mut ctx = Ctx {
        snap,
        steps,
        stats: QueryStats::default(),
        counters: ScanCounters::default(),
        streamed: true,
        batch_blocks: PLAN_BATCH_BLOCKS,
    };
    let grid = eval_node(&mut ctx, expr)?;
    let ordered = keeps_order(expr);
    let value = match grid {
        Grid::Scalar(v) => MetricValue::Scalar(ctx.steps.iter().copied().zip(v).collect()),
        Grid::Vector(mut rows) => {
            if p.instant {
                if !ordered {
                    rows.sort_by(|a, b| a.labels.cmp(&b.labels));
                }
                MetricValue::Vector(
                    rows.into_iter()
                        .filter_map(|r| {
                            r.values[0].map(|v| Sample {
                                labels: r.labels,
                                ts: p.range.start,
                                value: v,
                            })
                        })
                        .collect(),
                )
            } else {
                let mut series: Vec<Series> = rows
                    .into_iter()
                    .map(|r| Series {
                        labels: r.labels,
                        points: ctx
                            .steps
                            .iter()
                            .zip(r.values)
                            .filter_map(|(t, v)| v.map(|v| (*t, v)))
                            .collect(),
                    })
                    .filter(|s| !s.points.is_empty())
                    .collect();
                series.sort_by(|a, b| a.labels.cmp(&b.labels));
                MetricValue::Matrix(series)
            }
        }
    };
    let counters = std::mem::take(&mut ctx.counters);
    ctx.stats.absorb(&counters);
    ctx.stats.results = match &value {
        MetricValue::Vector(v) => v.len() as u64,
        MetricValue::Matrix(m) => m.iter().map(|s| s.points.len() as u64).sum(),
        MetricValue::Scalar(s) => s.len() as u64,
    };
    ctx.stats.total_time = t0.elapsed();
    Ok((value, ctx.stats))
}

/// Loki's grouping push-down: for `sum by/without (…)` directly over an
/// ungrouped count/rate/bytes/sum range aggregation, the range aggregation
/// with the sum's grouping gives the same sums from far fewer series.
fn pushdown(v: &VectorAggregation) -> Option<RangeAggregation> {
    let SampleExpr::RangeAggregation(r) = &*v.inner else {
        return None;
    };
    let summable = matches!(
        r.op,
        RangeOp::BytesOverTime
            | RangeOp::BytesRate
            | RangeOp::CountOverTime
            | RangeOp::Rate
            | RangeOp::SumOverTime
    );
    (v.op == VectorOp::Sum && r.grouping.is_none() && summable).then(|| {
        let mut r = r.clone();
        r.grouping = Some(v.grouping.clone());
        r
    })
}

/// The range aggregation under `v` when `v` can take its series one
/// stream at a time ([`range_aggregation`] with `outer`): an aggregation
/// that combines values (`sum`, `avg`, `min`, `max`, `count`, `stdvar`,
/// `stddev`), directly over an ungrouped range aggregation whose windows
/// fold into buckets.
fn folds_outer(v: &VectorAggregation) -> Option<&RangeAggregation> {
    let SampleExpr::RangeAggregation(r) = &*v.inner else {
        return None;
    };
    let combines = matches!(
        v.op,
        VectorOp::Sum
            | VectorOp::Avg
            | VectorOp::Min
            | VectorOp::Max
            | VectorOp::Count
            | VectorOp::Stdvar
            | VectorOp::Stddev
    );
    (combines && bucketed(r.op) && r.grouping.is_none()).then_some(r)
}

/// Whether `op`'s windows can fold into per-step buckets (when the range is
/// a multiple of the step: [`BucketPlan::new`]).
fn bucketed(op: RangeOp) -> bool {
    !matches!(
        op,
        RangeOp::QuantileOverTime | RangeOp::RateCounter | RangeOp::AbsentOverTime
    )
}

/// The bucketed range aggregation (or `sum by` pushed into one) on one
/// side of `b` when the other is a scalar literal and `b` is not a set
/// operator: each series can then be computed alone; with the literal's
/// value, and whether it is on the left.
fn scalar_streams(b: &BinOp) -> Option<(std::borrow::Cow<'_, RangeAggregation>, f64, bool)> {
    if b.op.is_set_op() {
        return None;
    }
    let (r, value, left) = match (&*b.lhs, &*b.rhs) {
        (SampleExpr::Literal { value, .. }, e) => (range_of(e)?, *value, true),
        (e, SampleExpr::Literal { value, .. }) => (range_of(e)?, *value, false),
        _ => return None,
    };
    bucketed(r.op).then_some((r, value, left))
}

/// The range aggregation `e` is, or a `sum by` [`pushdown`] turns into one.
fn range_of(e: &SampleExpr) -> Option<std::borrow::Cow<'_, RangeAggregation>> {
    match e {
        SampleExpr::RangeAggregation(r) => Some(std::borrow::Cow::Borrowed(r)),
        SampleExpr::VectorAggregation(v) => pushdown(v).map(std::borrow::Cow::Owned),
        _ => None,
    }
}

/// The range aggregation under `v` when `v` is a `topk`, `bottomk` or
/// `approx_topk` that can take its series as they complete: directly over
/// a bucketed range aggregation (grouped or not), or over a `sum by/without`
/// that [`pushdown`] turns into one.
fn topk_streams(v: &VectorAggregation) -> Option<std::borrow::Cow<'_, RangeAggregation>> {
    if !matches!(
        v.op,
        VectorOp::Topk | VectorOp::Bottomk | VectorOp::ApproxTopk
    ) {
        return None;
    }
    let r = range_of(&v.inner)?;
    bucketed(r.op).then_some(r)
}

/// The rows of a range aggregation evaluated without an outer fold.
fn held(rows: Option<Vec<Row>>) -> Vec<Row> {
    rows.expect("a range aggregation without an outer fold always answers")
}

/// Whether the outermost operation defines the result order.
fn keeps_order(e: &SampleExpr) -> bool {
    match e {
        SampleExpr::VectorAggregation(v) => matches!(
            v.op,
            VectorOp::Sort
                | VectorOp::SortDesc
                | VectorOp::Topk
                | VectorOp::Bottomk
                | VectorOp::ApproxTopk
        ),
        // Arithmetic with a scalar keeps the order of its vector side.
        SampleExpr::BinOp(b) => match (&*b.lhs, &*b.rhs) {
            (SampleExpr::Literal { .. }, v) | (v, SampleExpr::Literal { .. }) => keeps_order(v),
            _ => false,
        },
        _ => false,
    }
}

fn eval_node(ctx: &mut Ctx<'_>, e: &SampleExpr) -> Result<Grid, QueryError> {
    Ok(match e {
        SampleExpr::Literal { value, .. } => Grid::Scalar(vec![*value; ctx.steps.len()]),
        SampleExpr::Vector { value, .. } => Grid::Vector(vec![Row {
            labels: Labels::default(),
            values: vec![Some(*value); ctx.steps.len()],
        }]),
        SampleExpr::RangeAggregation(r) => {
            Grid::Vector(held(range_aggregation(ctx, r, Outer::Held)?))
        }
        SampleExpr::VectorAggregation(v) if v.op == VectorOp::ApproxTopk && ctx.steps.len() > 1 => {
            return Err(QueryError::Unsupported(
                "approx_topk is only supported on instant queries".into(),
            ))
        }
        SampleExpr::VectorAggregation(v) if pushdown(v).is_some() => {
            // As Loki: `sum by (…)` over count/rate/bytes/sum ranges groups the
            // samples right away, so per-line label sets never become series.
            let r = pushdown(v).expect("checked");
            let rows = held(range_aggregation(ctx, &r, Outer::Held)?);
            Grid::Vector(vector_aggregation(v, rows, ctx.steps.len())?)
        }
        SampleExpr::VectorAggregation(v) if ctx.streamed && topk_streams(v).is_some() => {
            // Each series is offered to the selection once no later stream
            // can add to it: memory holds the candidates, not the series.
            let r = topk_streams(v).expect("checked");
            streamed_aggregation(ctx, v, &r, Outer::Topk(v))?
        }
        SampleExpr::VectorAggregation(v) if ctx.streamed && folds_outer(v).is_some() => {
            // Each stream's series folds into its group as the stream is read.
            let r = folds_outer(v).expect("checked");
            streamed_aggregation(ctx, v, r, Outer::Fold(v))?
        }
        SampleExpr::VectorAggregation(v) => held_aggregation(ctx, v)?,
        SampleExpr::BinOp(b) if ctx.streamed && scalar_streams(b).is_some() => {
            let (r, value, left) = scalar_streams(b).expect("checked");
            or_held(
                ctx,
                |ctx| {
                    let rows = range_aggregation(ctx, &r, Outer::Scalar(b, value, left))?;
                    Ok(rows.map(Grid::Vector))
                },
                |ctx| {
                    let l = eval_node(ctx, &b.lhs)?;
                    let r = eval_node(ctx, &b.rhs)?;
                    binop(b, l, r, ctx.steps.len())
                },
            )?
        }
        SampleExpr::BinOp(b) => {
            let l = eval_node(ctx, &b.lhs)?;
            let r = eval_node(ctx, &b.rhs)?;
            binop(b, l, r, ctx.steps.len())?
        }
        SampleExpr::LabelReplace(l) => match eval_node(ctx, &l.inner)? {
            Grid::Vector(rows) => Grid::Vector(label_replace(l, rows)?),
            s => s,
        },
    })
}

/// Vector aggregation `v` over every series of its inner expression.
fn held_aggregation(ctx: &mut Ctx<'_>, v: &VectorAggregation) -> Result<Grid, QueryError> {
    match eval_node(ctx, &v.inner)? {
        Grid::Vector(rows) => Ok(Grid::Vector(vector_aggregation(v, rows, ctx.steps.len())?)),
        Grid::Scalar(_) => Err(QueryError::Unsupported(
            "vector aggregation over a scalar".into(),
        )),
    }
}

/// Vector aggregation `v` taking the series of range aggregation `r` as
/// they complete (`outer`), or over every series when they cannot be
/// taken so ([`range_aggregation`] gives `None`).
fn streamed_aggregation(
    ctx: &mut Ctx<'_>,
    v: &VectorAggregation,
    r: &RangeAggregation,
    outer: Outer<'_>,
) -> Result<Grid, QueryError> {
    // `None`: a series with more labels than its stream, or windows that
    // are not unions of buckets; the aggregation needs every series first.
    or_held(
        ctx,
        |ctx| Ok(range_aggregation(ctx, r, outer)?.map(Grid::Vector)),
        |ctx| held_aggregation(ctx, v),
    )
}

/// `streamed`'s answer, or when it has none (`Ok(None)`: it cannot take
/// this query as it reads), `held`'s, after forgetting the warnings and
/// unreadable segments `streamed` recorded: `held` reads the same data
/// again and records them itself.
fn or_held<T>(
    ctx: &mut Ctx<'_>,
    streamed: impl FnOnce(&mut Ctx<'_>) -> Result<Option<T>, QueryError>,
    held: impl FnOnce(&mut Ctx<'_>) -> Result<T, QueryError>,
) -> Result<T, QueryError> {
    let (warnings, partial) = (ctx.stats.warnings.len(), ctx.stats.partial.len());
    match streamed(ctx)? {
        Some(v) => Ok(v),
        None => {
            ctx.stats.warnings.truncate(warnings);
            ctx.stats.partial.truncate(partial);
            held(ctx)
        }
    }
}

// ---------------------------------------------------------------- range aggregations

/// The pipeline a range aggregation runs: Loki's `removeLineformat`
/// (`pkg/logql/optimize.go`) drops every `line_format` that no later parser
/// or line filter reads, except under `bytes_over_time`/`bytes_rate`, which
/// measure the line. Its template then never runs, so its errors never
/// happen: `count_over_time({…} | line_format "{{ index .x 10 }}" [1m])`
/// counts the lines.
fn metric_stages(op: RangeOp, stages: &[Stage]) -> std::borrow::Cow<'_, [Stage]> {
    let read_later = |i: usize| {
        stages[i..]
            .iter()
            .any(|s| matches!(s, Stage::Parser { .. } | Stage::LineFilter(_)))
    };
    let unused = |(i, s): (usize, &Stage)| matches!(s, Stage::LineFormat { .. }) && !read_later(i);
    if matches!(op, RangeOp::BytesOverTime | RangeOp::BytesRate)
        || !stages.iter().enumerate().any(unused)
    {
        return std::borrow::Cow::Borrowed(stages);
    }
    std::borrow::Cow::Owned(
        stages
            .iter()
            .enumerate()
            .filter(|&x| !unused(x))
            .map(|(_, s)| s.clone())
            .collect(),
    )
}

/// The blocks of one parallel wave, from `tasks[from..]`: at least 64 (two
/// threads' worth of large blocks, whose partial samples are ~100 KB each),
/// more while they are small (a packed block's run of a few entries), up to
/// 4,096 or a million entries, so that waves of tiny runs do not cost more
/// in scheduling than in reading.
fn wave_end(tasks: &[scan::BlockTask<'_>], from: usize) -> usize {
    let min = (rayon::current_num_threads() * 32).max(64);
    let mut entries = 0u64;
    let mut end = from;
    while end < tasks.len() && end - from < 4096 && (end - from < min || entries < 1 << 20) {
        entries += u64::from(tasks[end].block.entries);
        end += 1;
    }
    end
}

/// What takes a range aggregation's series.
#[derive(Clone, Copy)]
enum Outer<'v> {
    /// The caller: every series is returned.
    Held,
    /// A `sum`, `avg`, `min`, `max`, `count`, `stdvar` or `stddev` over this
    /// ungrouped range aggregation ([`folds_outer`]): each stream's series
    /// is folded into the outer groups once the stream is read.
    Fold(&'v VectorAggregation),
    /// A `topk`, `bottomk` or `approx_topk` ([`topk_streams`]): each series
    /// is offered to the selection once no later stream can add to it.
    Topk(&'v VectorAggregation),
    /// An arithmetic or comparison operator with a scalar literal (`true`:
    /// on the left), applied to each series once no later stream can add
    /// to it ([`scalar_streams`]).
    Scalar(&'v BinOp, f64, bool),
}

/// Evaluates a range aggregation. With an `outer` aggregation other than
/// [`Outer::Held`], memory holds its groups or candidates, not a series per
/// stream, and the answer is the outer aggregation's. That is exact only
/// while a series' group (its labels when ungrouped) is its stream's, so
/// that the streams yet to be read tell which groups are complete: `Ok(None)`
/// when a series' is not (a parser or structured metadata added labels), or
/// when the windows do not fold into buckets; the caller then evaluates
/// without `outer`.
fn range_aggregation(
    ctx: &mut Ctx<'_>,
    r: &RangeAggregation,
    outer: Outer<'_>,
) -> Result<Option<Vec<Row>>, QueryError> {
    // More raw samples than the budget in label order: read the blocks
    // oldest first instead, keeping about one window of samples (and the plan).
    or_held(
        ctx,
        |ctx| {
            Ok(
                match range_aggregation_in(ctx, r, outer, RawOrder::Label)? {
                    Evaluated::Rows(rows) => Some(rows),
                    Evaluated::TooManySamples => None,
                },
            )
        },
        |ctx| match range_aggregation_in(ctx, r, outer, RawOrder::Time)? {
            Evaluated::Rows(rows) => Ok(rows),
            Evaluated::TooManySamples => unreachable!("the time order holds no budget"),
        },
    )
}

/// Raw samples (quantile, `rate_counter`, ranges that are not a multiple of
/// the step) a range aggregation holds when it reads the plan in label order
/// before it reads it again oldest first: 16 bytes each, 128 MiB.
const RAW_HELD_SAMPLES: usize = 1 << 23;

/// How a range aggregation that keeps raw samples reads the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RawOrder {
    /// A few thousand blocks at a time, in label order, every sample held
    /// until the end (at most [`RAW_HELD_SAMPLES`]): the plan is never held.
    Label,
    /// The whole plan, its blocks oldest first; after each wave the windows
    /// that end before the oldest unread block are computed and the samples
    /// no later window needs are dropped.
    Time,
}

/// What [`range_aggregation_in`] gave.
enum Evaluated {
    Rows(Option<Vec<Row>>),
    /// Read in label order, the raw samples outgrew [`RAW_HELD_SAMPLES`].
    TooManySamples,
}

/// [`range_aggregation`] reading raw samples in `order` (ignored by the
/// bucketed ops, which always read the plan a batch at a time).
fn range_aggregation_in(
    ctx: &mut Ctx<'_>,
    r: &RangeAggregation,
    outer: Outer<'_>,
    order: RawOrder,
) -> Result<Evaluated, QueryError> {
    let lr = &r.log;
    let stages = metric_stages(r.op, &lr.log.pipeline);
    let first = ctx.steps[0];
    let last = *ctx.steps.last().unwrap();
    // Samples with lo < ts <= hi can fall in some window.
    let lo = first - lr.offset - lr.range;
    let hi = last - lr.offset;
    let t = Instant::now();
    let mut pipeline = Pipeline::new(&stages).map_err(QueryError::stage)?;
    if let Some(g) = r.grouping.as_ref().filter(|g| !g.without) {
        // Only the grouping labels (and the unwrapped one) can reach the result:
        // parsers need not extract anything else (Loki's parser hints).
        let mut names = g.labels.clone();
        names.extend(lr.unwrap.iter().map(|u| u.label.clone()));
        pipeline.set_extraction_hints(Some(&names));
    }
    // Blocks go in waves so that, for the ops that allow it, samples are
    // folded into per-step buckets as they arrive: memory then grows with
    // series x steps, not with the number of lines.
    let buckets = BucketPlan::new(r.op, &ctx.steps, lr.range, lr.offset);
    if buckets.is_none() && !matches!(outer, Outer::Held) {
        return Ok(Evaluated::Rows(None));
    }
    let n_steps = ctx.steps.len();
    let range = TimeRange::left_open(lo, hi);
    let mut planner = plan::Planner::new(ctx.snap);
    let key_hash = std::collections::hash_map::RandomState::new();
    let mut sink = match outer {
        Outer::Held => None,
        Outer::Fold(v) => {
            debug_assert!(r.grouping.is_none(), "folds_outer takes ungrouped ranges");
            Some(Sink::Fold(OuterFold::new(v, n_steps)))
        }
        Outer::Topk(v) => Some(Sink::Each(
            Taker::Topk(TopkSelect::new(v, n_steps)),
            streams_per_group(&mut planner, r, range, &key_hash)?,
        )),
        Outer::Scalar(b, value, left) => Some(Sink::Each(
            Taker::Scalar {
                b,
                scalar: vec![value; n_steps],
                left,
                rows: Vec::new(),
            },
            streams_per_group(&mut planner, r, range, &key_hash)?,
        )),
    };
    let mut cursor = planner.stream(&lr.log.matchers, range)?;
    ctx.stats.plan_time += t.elapsed();
    ctx.stats.shards += 1;
    // Unwrap post-filters run after the unwrap; only the pipeline's own
    // stages may drive the label prefilter.
    let prefilter = Prefilter::for_stages(pipeline.leading_line_filters(), &stages);
    let bytes = matches!(r.op, RangeOp::BytesOverTime | RangeOp::BytesRate);
    let unwrap = lr.unwrap.as_ref();
    // Loki drops the unwrapped label from the series unless `by (…)` names it.
    let keep_unwrapped = match (&r.grouping, unwrap) {
        (Some(g), Some(u)) => !g.without && g.labels.contains(&u.label),
        _ => false,
    };
    let counters = &ctx.counters;
    type Partial = SeriesSamples;
    // count_over_time / rate of a bare selector need only timestamps.
    let ts_only = stages.is_empty()
        && lr.unwrap.is_none()
        && matches!(
            r.op,
            RangeOp::CountOverTime | RangeOp::Rate | RangeOp::AbsentOverTime
        );
    let scan_task = |task: &scan::BlockTask<'_>| -> Result<Partial, SegmentError> {
        if ts_only {
            let mut ts = Vec::new();
            match task.chunk.segment.read_timestamps(task.block, &mut ts) {
                Ok(Some((decompressed, took))) => {
                    ScanCounters::add(&counters.decompress_ns, took.as_nanos() as u64);
                    ScanCounters::add(&counters.bytes_decompressed, decompressed as u64);
                    ScanCounters::add(&counters.blocks, 1);
                    ScanCounters::add(&counters.bytes_compressed, u64::from(task.block.len));
                    super::stats::SCAN_PROGRESS.block(u64::from(task.block.len));
                    ScanCounters::add(&counters.lines_scanned, ts.len() as u64);
                    ts.retain(|&t| t > lo && t <= hi);
                    ScanCounters::add(&counters.lines_kept, ts.len() as u64);
                    return Ok(Partial {
                        own: ts,
                        ..Partial::default()
                    });
                }
                Ok(None) => {} // structured metadata: read the whole block
                Err(e) => return Err(e),
            }
        }

        scan::with_block(task, counters, |block| {
            let started = Instant::now();
            let mut sp = pipeline.for_stream(&task.chunk.labels);
            let mut out = Partial::default();
            let mut md: Vec<(&str, &str)> = Vec::new();
            let mut visit = |i: usize| {
                let ts = block.ts[i];
                if ts <= lo || ts > hi {
                    return;
                }
                ScanCounters::add(&counters.lines_scanned, 1);
                block.metadata(i, &mut md);
                let res = if bytes {
                    sp.process_with_metadata(ts, block.line(i), &md)
                        .map(|(line, l)| (line.len() as f64, l))
                } else {
                    sp.extract_sample_with_metadata(ts, block.line(i), &md, unwrap, keep_unwrapped)
                };
                if let Some((v, labels)) = res {
                    out.push(
                        labels.hash(),
                        labels.pairs(),
                        || labels.to_labels(),
                        (ts, v),
                    );
                }
            };
            match &prefilter {
                Some(pf) if pf.applies(&task.chunk.labels, block) => {
                    let c = pf.candidates(block);
                    ScanCounters::add(&counters.lines_skipped, (block.len() - c.len()) as u64);
                    c.into_iter().for_each(|i| visit(i as usize));
                }
                _ => (0..block.len()).for_each(&mut visit),
            }
            ScanCounters::add(&counters.pipeline_ns, started.elapsed().as_nanos() as u64);
            let kept = out.series.iter().map(|s| s.1.len() as u64).sum();
            ScanCounters::add(&counters.lines_kept, kept);
            out
        })
    };
    // Ops that keep raw samples first read the plan as the others do, a few
    // thousand blocks at a time in plan order (label order, then segment id,
    // then time, also the order samples are folded in), holding every sample
    // until the end, up to RAW_HELD_SAMPLES. Past that they read again, the
    // whole plan at once, its blocks oldest first: after each wave, every
    // window that ends before the oldest unread block is complete, is
    // computed, and the samples no later window needs are dropped. Memory
    // then holds the plan and about one window of samples, not the whole
    // range. Both compute a window from the same samples, sorted the same
    // way (by time, then value), so both give the same bits.
    let raw = buckets.is_none() && r.op != RangeOp::AbsentOverTime;
    let sliding = raw && order == RawOrder::Time;
    let whole_plan = sliding;
    let mut raw_held = 0usize;
    let range_s = lr.range as f64 / 1e9;
    let window = |k: usize| {
        (
            ctx.steps[k] - lr.offset - lr.range,
            ctx.steps[k] - lr.offset,
        )
    };
    let mut series = SeriesAccs::default();
    let mut tally = plan::PlanTally::default();
    loop {
        let t = Instant::now();
        let chunks = if whole_plan {
            cursor.rest()?
        } else {
            cursor.next_streams(ctx.batch_blocks)?
        };
        ctx.stats.plan_time += t.elapsed();
        tally.add(&chunks);
        let mut tasks = scan::tasks(&chunks);
        if sliding {
            tasks.sort_by_key(|t| t.block.min_t);
        }
        let mut finalized = 0usize;
        let mut done = 0;
        while done < tasks.len() || (sliding && finalized < n_steps) {
            let end = wave_end(&tasks, done);
            let partials: Vec<Result<Partial, SegmentError>> =
                tasks[done..end].par_iter().map(scan_task).collect();
            for (task, p) in tasks[done..end].iter().zip(partials) {
                let p = match p {
                    Ok(p) => p,
                    Err(e) => {
                        ctx.stats.partial.push(ReadProblem::from(&e));
                        continue;
                    }
                };
                raw_held += p.own.len() + p.series.iter().map(|s| s.1.len()).sum::<usize>();
                if !p.own.is_empty() {
                    let i = series.own(&task.chunk.labels, r.grouping.as_ref(), &buckets, n_steps);
                    series.add_ones(i, &buckets, &p.own);
                }
                for (labels, samples) in p.series {
                    // A sample still carrying an error fails the query, as in
                    // Loki, before any grouping can hide the error label.
                    if let Some(e) = labels.get("__error__") {
                        return Err(pipeline_error(e, &labels));
                    }
                    if sink.is_some() && labels != *task.chunk.labels {
                        // Grouped, the series is still its stream's when
                        // its group is.
                        let same_group = r.grouping.as_ref().is_some_and(|g| {
                            group_labels(&labels, g) == group_labels(&task.chunk.labels, g)
                        });
                        if !same_group || matches!(sink, Some(Sink::Fold(_))) {
                            return Ok(Evaluated::Rows(None));
                        }
                    }
                    let key = match &r.grouping {
                        Some(g) => group_labels(&labels, g),
                        None => labels,
                    };
                    let i = series.find_or_insert(key, &buckets, n_steps);
                    series.add(i, &buckets, samples);
                }
            }
            done = end;
            if raw && !sliding && raw_held > RAW_HELD_SAMPLES {
                return Ok(Evaluated::TooManySamples);
            }
            if sliding {
                // Every unread sample is at or after `horizon`.
                let horizon = tasks.get(done).map_or(i64::MAX, |t| t.block.min_t);
                let mut upto = finalized;
                while upto < n_steps && window(upto).1 < horizon {
                    upto += 1;
                }
                if upto > finalized {
                    series.compute_windows((finalized, upto, n_steps), &window, r, range_s);
                    finalized = upto;
                }
            }
        }
        let values = |acc: Acc| match (acc, &buckets) {
            (Acc::Buckets(bk), Some(plan)) => plan.values(r.op, &bk, range_s),
            _ => unreachable!("outer aggregations take bucketed series"),
        };
        match &mut sink {
            None => {}
            Some(Sink::Fold(fold)) => {
                // Every series read so far is one of these streams', and no
                // later stream adds to it: fold them, in label order.
                for (labels, acc) in series.take_sorted() {
                    let values = values(acc);
                    if values.iter().any(Option::is_some) {
                        fold.add(&labels, &values);
                    }
                }
            }
            Some(Sink::Each(taker, None)) => {
                for (labels, acc) in series.take_sorted() {
                    taker.take(labels, values(acc))?;
                }
            }
            Some(Sink::Each(taker, Some(remaining))) => {
                let g = r.grouping.as_ref().expect("counted by group");
                for (i, c) in chunks.iter().enumerate() {
                    // A stream's chunks are adjacent and share its labels.
                    if i > 0 && Arc::ptr_eq(&chunks[i - 1].labels, &c.labels) {
                        continue;
                    }
                    let key = group_labels(&c.labels, g);
                    let h = key_hash.hash_one(&key);
                    let Some(left) = remaining.get_mut(&h) else {
                        continue;
                    };
                    *left -= 1;
                    if *left == 0 {
                        remaining.remove(&h);
                        if let Some(acc) = series.remove(&key) {
                            taker.take(key, values(acc))?;
                        }
                    }
                }
            }
        }
        if chunks.is_empty() || whole_plan {
            break;
        }
    }
    drop(cursor);
    if raw && !sliding {
        // Every sample is read: every window at once.
        series.compute_windows((0, n_steps, n_steps), &window, r, range_s);
    }
    ctx.stats.streams += tally.streams;
    ctx.stats.segments += tally.segments();
    ctx.stats.chunks += tally.chunks;
    ctx.stats.warnings.extend(planner.warnings());
    ctx.stats.partial.extend(planner.partial().iter().cloned());
    match sink {
        None => {}
        Some(Sink::Fold(fold)) => return Ok(Evaluated::Rows(Some(fold.finish()))),
        Some(Sink::Each(mut taker, _)) => {
            // What is left is complete too (groups whose hash collided
            // with a later one's, streams that could not be read).
            for (labels, acc) in series.take_sorted() {
                if let (Acc::Buckets(bk), Some(plan)) = (acc, &buckets) {
                    taker.take(labels, plan.values(r.op, &bk, range_s))?;
                }
            }
            return Ok(Evaluated::Rows(Some(taker.finish())));
        }
    }

    if r.op == RangeOp::AbsentOverTime {
        let raw: HashMap<Labels, Vec<(i64, f64)>> = series
            .take_sorted()
            .into_iter()
            .map(|(l, a)| match a {
                Acc::Raw(v) => (l, v.samples),
                Acc::Buckets(_) => unreachable!("absent_over_time is not bucketed"),
            })
            .collect();
        return Ok(Evaluated::Rows(Some(absent_over_time(r, &raw, &ctx.steps))));
    }
    let mut rows: Vec<Row> = series
        .take_sorted()
        .into_par_iter()
        .map(|(labels, acc)| {
            let values = match (acc, &buckets) {
                (Acc::Buckets(bk), Some(plan)) => plan.values(r.op, &bk, range_s),
                (Acc::Raw(raw), _) => raw.values,
                _ => unreachable!("accumulators follow the plan"),
            };
            Row { labels, values }
        })
        .collect();
    rows.retain(|r| r.values.iter().any(Option::is_some));
    Ok(Evaluated::Rows(Some(rows)))
}

/// Where an outer aggregation's series go as they complete.
enum Sink<'v> {
    Fold(OuterFold<'v>),
    /// What takes each complete series, and when the range aggregation is
    /// grouped, how many streams not yet read map to each group (by the
    /// group's hash).
    Each(Taker<'v>, Option<GroupCounts>),
}

/// Streams per group, by the group's hash.
type GroupCounts = HashMap<u64, u32, std::hash::BuildHasherDefault<IdHasher>>;

/// For a grouped range aggregation `r`, how many of the selected streams
/// map to each group: a group is complete after the last of them (a first
/// walk of the plan's labels; colliding groups complete together, at the
/// last of their streams). `None` when `r` is ungrouped: each series is
/// complete after its stream.
fn streams_per_group(
    planner: &mut plan::Planner<'_>,
    r: &RangeAggregation,
    range: TimeRange,
    key_hash: &std::collections::hash_map::RandomState,
) -> Result<Option<GroupCounts>, QueryError> {
    let Some(g) = &r.grouping else {
        return Ok(None);
    };
    let mut walk = planner.stream(&r.log.log.matchers, range)?;
    let mut m = GroupCounts::default();
    while let Some(l) = walk.next_labels()? {
        *m.entry(key_hash.hash_one(group_labels(&l, g))).or_insert(0) += 1;
    }
    Ok(Some(m))
}

/// What takes a range aggregation's series one at a time, in any order.
enum Taker<'v> {
    Topk(TopkSelect),
    /// The operator with a scalar (on the left when `left`) and the series
    /// it kept.
    Scalar {
        b: &'v BinOp,
        scalar: Vec<f64>,
        left: bool,
        rows: Vec<Row>,
    },
}

impl Taker<'_> {
    fn take(&mut self, labels: Labels, values: Vec<Option<f64>>) -> Result<(), QueryError> {
        match self {
            Taker::Topk(select) => select.add(labels, &values),
            Taker::Scalar {
                b,
                scalar,
                left,
                rows,
            } => {
                if let Grid::Vector(kept) =
                    vector_scalar(b, vec![Row { labels, values }], scalar, *left)?
                {
                    rows.extend(kept);
                }
            }
        }
        Ok(())
    }

    /// The answer.
    fn finish(self) -> Vec<Row> {
        match self {
            Taker::Topk(select) => topk_rows(select),
            Taker::Scalar { mut rows, .. } => {
                // In label order, as the rows held whole come.
                rows.sort_by(|a, b| a.labels.cmp(&b.labels));
                rows
            }
        }
    }
}

/// The series of a range aggregation being read, each with its
/// accumulator. Labels are kept once (as the map's keys).
#[derive(Default)]
struct SeriesAccs {
    index: HashMap<Labels, usize>,
    accs: Vec<Acc>,
    /// Slots of `accs` whose series was taken ([`Self::remove`]).
    free: Vec<usize>,
    /// The stream whose own samples (a timestamp-only read) went last,
    /// and their series: the blocks of one stream come one after another.
    last_own: Option<(Arc<Labels>, usize)>,
}

impl SeriesAccs {
    /// The accumulator of series `key`, made when it is new.
    fn find_or_insert(
        &mut self,
        key: Labels,
        buckets: &Option<BucketPlan>,
        n_steps: usize,
    ) -> usize {
        // A free slot (no key maps to it) or a new one.
        let next = self.free.last().copied().unwrap_or(self.accs.len());
        let i = *self.index.entry(key).or_insert(next);
        if i == next {
            let acc = match buckets {
                Some(b) => Acc::Buckets(b.empty()),
                None => Acc::Raw(RawSeries {
                    samples: Vec::new(),
                    values: vec![None; n_steps],
                }),
            };
            if next == self.accs.len() {
                self.accs.push(acc);
            } else {
                self.free.pop();
                self.accs[i] = acc;
            }
        }
        i
    }

    /// Takes series `key`'s accumulator out of the set (its slot is reused).
    fn remove(&mut self, key: &Labels) -> Option<Acc> {
        let i = self.index.remove(key)?;
        self.last_own = None;
        self.free.push(i);
        Some(std::mem::replace(
            &mut self.accs[i],
            Acc::Buckets(Buckets::default()),
        ))
    }

    /// The accumulator of a stream's own samples (its labels, grouped).
    fn own(
        &mut self,
        stream: &Arc<Labels>,
        grouping: Option<&Grouping>,
        buckets: &Option<BucketPlan>,
        n_steps: usize,
    ) -> usize {
        if let Some((l, i)) = &self.last_own {
            if Arc::ptr_eq(l, stream) {
                return *i;
            }
        }
        let key = match grouping {
            Some(g) => group_labels(stream, g),
            None => Labels::clone(stream),
        };
        let i = self.find_or_insert(key, buckets, n_steps);
        self.last_own = Some((stream.clone(), i));
        i
    }

    /// Adds samples of value 1 at times `ts`.
    fn add_ones(&mut self, i: usize, buckets: &Option<BucketPlan>, ts: &[i64]) {
        match (&mut self.accs[i], buckets) {
            (Acc::Buckets(bk), Some(plan)) => plan.add_ones(bk, ts),
            (Acc::Raw(raw), _) => raw.samples.extend(ts.iter().map(|&t| (t, 1.0))),
            _ => unreachable!("accumulators follow the plan"),
        }
    }

    fn add(&mut self, i: usize, buckets: &Option<BucketPlan>, samples: Vec<(i64, f64)>) {
        match (&mut self.accs[i], buckets) {
            (Acc::Buckets(bk), Some(plan)) => plan.add(bk, &samples),
            (Acc::Raw(raw), _) => raw.samples.extend(samples),
            _ => unreachable!("accumulators follow the plan"),
        }
    }

    /// Computes windows `from..upto` (`window(k)`: `(lo, hi]`) of every raw
    /// series from its samples, and drops the samples no later window needs.
    fn compute_windows(
        &mut self,
        (from, upto, n_steps): (usize, usize, usize),
        window: &(impl Fn(usize) -> (i64, i64) + Sync),
        r: &RangeAggregation,
        range_s: f64,
    ) {
        let keep_after = (upto < n_steps).then(|| window(upto).0);
        self.accs.par_iter_mut().for_each(|acc| {
            let Acc::Raw(raw) = acc else { return };
            // Equal timestamps order by value, so answers never depend on
            // the order blocks were read (first/last, counter resets).
            raw.samples.sort_by(by_time_then_value);
            let (mut a, mut b) = (0usize, 0usize);
            for k in from..upto {
                let (wlo, whi) = window(k);
                while b < raw.samples.len() && raw.samples[b].0 <= whi {
                    b += 1;
                }
                while a < b && raw.samples[a].0 <= wlo {
                    a += 1;
                }
                let w = &raw.samples[a..b];
                raw.values[k] = if w.is_empty() {
                    None
                } else {
                    aggregate_window(r.op, w, range_s, r.param, (wlo, whi))
                };
            }
            match keep_after {
                Some(lo) => raw.samples.retain(|s| s.0 > lo),
                None => raw.samples = Vec::new(),
            }
        });
    }

    /// Every series and its accumulator, in label order; leaves the set empty.
    fn take_sorted(&mut self) -> Vec<(Labels, Acc)> {
        self.last_own = None;
        self.free.clear();
        let mut accs: Vec<Option<Acc>> = std::mem::take(&mut self.accs)
            .into_iter()
            .map(Some)
            .collect();
        let mut out: Vec<(Labels, Acc)> = self
            .index
            .drain()
            .map(|(l, i)| (l, accs[i].take().expect("one key per accumulator")))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

/// One block's samples per resulting series. Consecutive lines usually share
/// a label set, so the last series is tried before the index. Series are
/// found by their label hash and then compared label by label, so two label
/// sets whose 64-bit hashes collide stay two series.
#[derive(Default)]
struct SeriesSamples {
    /// Times of the block's stream's own samples, each worth 1 (a read of
    /// timestamps only).
    own: Vec<i64>,
    series: Vec<(Labels, Vec<(i64, f64)>)>,
    /// The latest series with each hash.
    index: HashMap<u64, usize, std::hash::BuildHasherDefault<IdHasher>>,
    /// Per series, the previous series with the same hash (a collision).
    same_hash: Vec<Option<usize>>,
    last: Option<(u64, usize)>,
}

impl SeriesSamples {
    /// Adds `sample` to the series `pairs` (sorted, hashing to `hash`);
    /// `labels` builds its label set when the series is new.
    fn push(
        &mut self,
        hash: u64,
        pairs: &[(String, String)],
        labels: impl FnOnce() -> Labels,
        sample: (i64, f64),
    ) {
        let i = match self.last {
            Some((h, i)) if h == hash && self.series[i].0.pairs() == pairs => i,
            _ => {
                let i = match self.find(hash, pairs) {
                    Some(i) => i,
                    None => {
                        let i = self.series.len();
                        self.series.push((labels(), Vec::new()));
                        self.same_hash.push(self.index.insert(hash, i));
                        i
                    }
                };
                self.last = Some((hash, i));
                i
            }
        };
        self.series[i].1.push(sample);
    }

    fn find(&self, hash: u64, pairs: &[(String, String)]) -> Option<usize> {
        let mut at = self.index.get(&hash).copied();
        while let Some(i) = at {
            if self.series[i].0.pairs() == pairs {
                return Some(i);
            }
            at = self.same_hash[i];
        }
        None
    }
}

/// A hasher for keys that already are hashes (the label sets' xxh3).
#[derive(Default)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// How a series' samples are kept while blocks are read.
enum Acc {
    /// Samples still needed by unfinished windows (quantile, rate_counter,
    /// absent_over_time) and the values of the finished ones.
    Raw(RawSeries),
    /// Folded per step bucket.
    Buckets(Buckets),
}

/// Sample order: by time, equal timestamps by value.
fn by_time_then_value(a: &(i64, f64), b: &(i64, f64)) -> std::cmp::Ordering {
    a.0.cmp(&b.0).then(a.1.total_cmp(&b.1))
}

/// A raw-sample series of the sliding evaluation.
struct RawSeries {
    samples: Vec<(i64, f64)>,
    values: Vec<Option<f64>>,
}

/// Per-bucket aggregates of one series. `min`/`max` are NaN-aware as
/// Prometheus: NaN only when every sample of the bucket is NaN. The vectors an
/// op does not need stay empty.
#[derive(Default)]
struct Buckets {
    count: Vec<u32>,
    sum: Vec<f64>,
    min: Vec<f64>,
    max: Vec<f64>,
    /// Earliest and latest sample (first/last_over_time); ties keep arrival
    /// order, as the stable sort of the raw path does.
    first: Vec<(i64, f64)>,
    last: Vec<(i64, f64)>,
    /// Welford mean and sum of squared deviations (stddev/stdvar_over_time).
    mean: Vec<f64>,
    m2: Vec<f64>,
}

/// Windows as unions of fixed buckets: with `range` a multiple of `step`,
/// window `k` is exactly buckets `k..k + range/step`, bucket `b` holding the
/// samples of `(base + b*w, base + (b+1)*w]`.
struct BucketPlan {
    op: RangeOp,
    base: i64,
    width: i64,
    per_window: usize,
    n: usize,
    steps: usize,
}

impl BucketPlan {
    fn new(op: RangeOp, steps: &[i64], range: i64, offset: i64) -> Option<BucketPlan> {
        // quantile needs every value and rate_counter time-ordered samples.
        let foldable = !matches!(
            op,
            RangeOp::QuantileOverTime | RangeOp::RateCounter | RangeOp::AbsentOverTime
        );
        if !foldable || range <= 0 {
            return None;
        }
        let base = steps[0] - offset - range;
        if steps.len() == 1 {
            return Some(BucketPlan {
                op,
                base,
                width: range,
                per_window: 1,
                n: 1,
                steps: 1,
            });
        }
        let step = steps[1] - steps[0];
        if step <= 0 || range % step != 0 {
            return None;
        }
        let per_window = (range / step) as usize;
        Some(BucketPlan {
            op,
            base,
            width: step,
            per_window,
            n: steps.len() + per_window - 1,
            steps: steps.len(),
        })
    }

    fn empty(&self) -> Buckets {
        let n = self.n;
        let need = |ops: &[RangeOp]| if ops.contains(&self.op) { n } else { 0 };
        Buckets {
            count: vec![0; n],
            sum: vec![
                0.0;
                need(&[
                    RangeOp::Rate,
                    RangeOp::BytesOverTime,
                    RangeOp::BytesRate,
                    RangeOp::SumOverTime,
                    RangeOp::AvgOverTime,
                ])
            ],
            min: vec![f64::NAN; need(&[RangeOp::MinOverTime])],
            max: vec![f64::NAN; need(&[RangeOp::MaxOverTime])],
            first: vec![(i64::MAX, f64::NAN); need(&[RangeOp::FirstOverTime])],
            last: vec![(i64::MIN, f64::NAN); need(&[RangeOp::LastOverTime])],
            mean: vec![0.0; need(&[RangeOp::StddevOverTime, RangeOp::StdvarOverTime])],
            m2: vec![0.0; need(&[RangeOp::StddevOverTime, RangeOp::StdvarOverTime])],
        }
    }

    /// Folds samples of value 1 at times `ts` (all inside the plan's span)
    /// into the buckets: what [`Self::add`] does with them, faster when only
    /// the count (and for `rate` the sum) is kept.
    fn add_ones(&self, b: &mut Buckets, ts: &[i64]) {
        let only_counts = b.min.is_empty()
            && b.max.is_empty()
            && b.first.is_empty()
            && b.last.is_empty()
            && b.mean.is_empty();
        if !only_counts {
            let samples: Vec<(i64, f64)> = ts.iter().map(|&t| (t, 1.0)).collect();
            return self.add(b, &samples);
        }
        for &t in ts {
            let i = self.bucket(t);
            b.count[i] += 1;
            if !b.sum.is_empty() {
                b.sum[i] += 1.0;
            }
        }
    }

    /// The bucket of a sample at `ts`.
    fn bucket(&self, ts: i64) -> usize {
        ((ts - self.base - 1).div_euclid(self.width) as usize).min(self.n - 1)
    }

    /// Folds samples (all inside the plan's span) into the buckets.
    fn add(&self, b: &mut Buckets, samples: &[(i64, f64)]) {
        for &(ts, v) in samples {
            let i = self.bucket(ts);
            b.count[i] += 1;
            if !b.sum.is_empty() {
                b.sum[i] += v;
            }
            if !b.min.is_empty() && (v < b.min[i] || b.min[i].is_nan()) {
                b.min[i] = v;
            }
            if !b.max.is_empty() && (v > b.max[i] || b.max[i].is_nan()) {
                b.max[i] = v;
            }
            // Equal timestamps order by value (see the sliding path).
            if !b.first.is_empty() && by_time_then_value(&(ts, v), &b.first[i]).is_lt() {
                b.first[i] = (ts, v);
            }
            if !b.last.is_empty() && by_time_then_value(&(ts, v), &b.last[i]).is_gt() {
                b.last[i] = (ts, v);
            }
            if !b.mean.is_empty() {
                let n = f64::from(b.count[i]);
                let d = v - b.mean[i];
                b.mean[i] += d / n;
                b.m2[i] += d * (v - b.mean[i]);
            }
        }
    }

    /// The value of every step.
    fn values(&self, op: RangeOp, b: &Buckets, range_s: f64) -> Vec<Option<f64>> {
        (0..self.steps)
            .map(|k| {
                let r = k..k + self.per_window;
                let count: u64 = b.count[r.clone()].iter().map(|&c| u64::from(c)).sum();
                if count == 0 {
                    return None;
                }
                let sum = || b.sum[r.clone()].iter().sum::<f64>();
                Some(match op {
                    RangeOp::CountOverTime => count as f64,
                    RangeOp::Rate | RangeOp::BytesRate => sum() / range_s,
                    RangeOp::BytesOverTime | RangeOp::SumOverTime => sum(),
                    RangeOp::AvgOverTime => sum() / count as f64,
                    RangeOp::MinOverTime => nan_aware(
                        r.clone().filter(|&i| b.count[i] > 0).map(|i| b.min[i]),
                        |v, m| v < m,
                    ),
                    RangeOp::MaxOverTime => nan_aware(
                        r.clone().filter(|&i| b.count[i] > 0).map(|i| b.max[i]),
                        |v, m| v > m,
                    ),
                    RangeOp::FirstOverTime => {
                        r.clone()
                            .filter(|&i| b.count[i] > 0)
                            .map(|i| b.first[i])
                            .min_by(by_time_then_value)?
                            .1
                    }
                    RangeOp::LastOverTime => {
                        r.clone()
                            .filter(|&i| b.count[i] > 0)
                            .map(|i| b.last[i])
                            .max_by(by_time_then_value)?
                            .1
                    }
                    RangeOp::StdvarOverTime | RangeOp::StddevOverTime => {
                        // Chan et al.: combine per-bucket (count, mean, M2).
                        let (mut n, mut mean, mut m2) = (0f64, 0f64, 0f64);
                        for i in r.clone().filter(|&i| b.count[i] > 0) {
                            let nb = f64::from(b.count[i]);
                            let d = b.mean[i] - mean;
                            let tot = n + nb;
                            mean += d * nb / tot;
                            m2 += b.m2[i] + d * d * n * nb / tot;
                            n = tot;
                        }
                        let var = m2 / n;
                        if op == RangeOp::StddevOverTime {
                            var.sqrt()
                        } else {
                            var
                        }
                    }
                    _ => unreachable!("not foldable"),
                })
            })
            .collect()
    }
}

/// Loki's error for a metric query whose samples carry `__error__`.
/// Loki's `PipelineError` text (`pkg/logqlmodel/error.go`); the series'
/// labels already carry `__error_details__`.
fn pipeline_error(err: &str, labels: &Labels) -> QueryError {
    QueryError::Pipeline(format!(
        "pipeline error: '{err}' for series: '{labels}'.\nUse a label filter to intentionally skip this error. (e.g | __error__!=\"{err}\").\nTo skip all potential errors you can match empty errors.(e.g __error__=\"\")\nThe label filter can also be specified after unwrap. (e.g | unwrap latency | __error__=\"\" )\n"
    ))
}

/// The value of one window (never empty).
fn aggregate_window(
    op: RangeOp,
    w: &[(i64, f64)],
    range_s: f64,
    param: Option<f64>,
    (window_start, window_end): (i64, i64),
) -> Option<f64> {
    let n = w.len() as f64;
    let sum = || w.iter().map(|s| s.1).sum::<f64>();
    Some(match op {
        RangeOp::CountOverTime => n,
        RangeOp::Rate => {
            // Without unwrap every sample is 1, so this is count / range.
            sum() / range_s
        }
        RangeOp::BytesOverTime | RangeOp::SumOverTime => sum(),
        RangeOp::BytesRate => sum() / range_s,
        RangeOp::AvgOverTime => sum() / n,
        RangeOp::MinOverTime => nan_aware(w.iter().map(|s| s.1), |v, m| v < m),
        RangeOp::MaxOverTime => nan_aware(w.iter().map(|s| s.1), |v, m| v > m),
        RangeOp::StdvarOverTime => stdvar(w.iter().map(|s| s.1)),
        RangeOp::StddevOverTime => stdvar(w.iter().map(|s| s.1)).sqrt(),
        RangeOp::QuantileOverTime => {
            let mut v: Vec<f64> = w.iter().map(|s| s.1).collect();
            quantile(param.unwrap_or(0.5), &mut v)
        }
        RangeOp::FirstOverTime => w[0].1,
        RangeOp::LastOverTime => w[w.len() - 1].1,
        RangeOp::RateCounter => return counter_rate(w, range_s, window_start, window_end),
        RangeOp::AbsentOverTime => return None,
    })
}

/// Minimum or maximum as Prometheus computes it: NaN only when every value is NaN.
fn nan_aware(mut values: impl Iterator<Item = f64>, better: impl Fn(f64, f64) -> bool) -> f64 {
    let mut m = values.next().unwrap_or(f64::NAN);
    for v in values {
        if better(v, m) || m.is_nan() {
            m = v;
        }
    }
    m
}

/// Population variance (Welford), as Prometheus' `stdvar_over_time`.
fn stdvar(values: impl Iterator<Item = f64>) -> f64 {
    let (mut n, mut mean, mut m2) = (0f64, 0f64, 0f64);
    for v in values {
        n += 1.0;
        let d = v - mean;
        mean += d / n;
        m2 += d * (v - mean);
    }
    m2 / n
}

/// Prometheus' quantile: linear interpolation between closest ranks.
fn quantile(q: f64, v: &mut [f64]) -> f64 {
    if v.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    let rank = q * (v.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let w = rank - rank.floor();
    // Selection instead of a full sort: linear per window.
    let (_, lo_v, upper) = v.select_nth_unstable_by(lo, |a, b| a.total_cmp(b));
    let lo_v = *lo_v;
    let hi_v = upper
        .iter()
        .copied()
        .min_by(|a, b| a.total_cmp(b))
        .unwrap_or(lo_v);
    lo_v * (1.0 - w) + hi_v * w
}

/// Per-second rate of a counter over the window, with resets accounted
/// and the increase extrapolated towards the window's edges, exactly as
/// Prometheus' `rate` (`extrapolatedRate`). Fewer than two samples: no value.
fn counter_rate(w: &[(i64, f64)], range_s: f64, window_start: i64, window_end: i64) -> Option<f64> {
    if w.len() < 2 {
        // A rate needs two points; Loki answers 0 for a single one.
        return Some(0.0);
    }
    let (first, last) = (w[0], w[w.len() - 1]);
    let mut increase = last.1 - first.1;
    for pair in w.windows(2) {
        if pair[1].1 < pair[0].1 {
            increase += pair[0].1;
        }
    }
    let secs = |ns: i64| ns as f64 / 1e9;
    let sampled = secs(last.0 - first.0);
    let avg_gap = sampled / (w.len() - 1) as f64;
    let threshold = avg_gap * 1.1;
    // Extrapolate to an edge only when it is near; else by half a gap.
    let mut to_start = secs(first.0 - window_start);
    if to_start >= threshold {
        to_start = avg_gap / 2.0;
    }
    let mut to_end = secs(window_end - last.0);
    if to_end >= threshold {
        to_end = avg_gap / 2.0;
    }
    if increase > 0.0 && first.1 >= 0.0 {
        // A counter cannot go below zero: never extrapolate past that point.
        let to_zero = sampled * (first.1 / increase);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    Some(increase * ((sampled + to_start + to_end) / sampled) / range_s)
}

fn absent_over_time(
    r: &RangeAggregation,
    series: &HashMap<Labels, Vec<(i64, f64)>>,
    steps: &[i64],
) -> Vec<Row> {
    let lr = &r.log;
    let labels = Labels::from_pairs(
        lr.log
            .matchers
            .iter()
            .filter(|m| m.op == MatchOp::Eq)
            .map(|m| (m.name.clone(), m.value.clone())),
    );
    let values = steps
        .iter()
        .map(|&t| {
            let (wlo, whi) = (t - lr.offset - lr.range, t - lr.offset);
            let present = series
                .values()
                .any(|s| s.iter().any(|&(ts, _)| ts > wlo && ts <= whi));
            (!present).then_some(1.0)
        })
        .collect::<Vec<_>>();
    if values.iter().all(Option::is_none) {
        return Vec::new();
    }
    vec![Row { labels, values }]
}

/// The labels a `by`/`without` clause keeps.
pub(super) fn group_labels(l: &Labels, g: &Grouping) -> Labels {
    if g.without {
        Labels::from_pairs(
            l.pairs()
                .iter()
                .filter(|(k, _)| !g.labels.contains(k))
                .cloned(),
        )
    } else {
        Labels::from_pairs(
            l.pairs()
                .iter()
                .filter(|(k, _)| g.labels.contains(k))
                .cloned(),
        )
    }
}

// ---------------------------------------------------------------- vector aggregations

fn vector_aggregation(
    v: &VectorAggregation,
    rows: Vec<Row>,
    n: usize,
) -> Result<Vec<Row>, QueryError> {
    match v.op {
        VectorOp::Sort | VectorOp::SortDesc => {
            let mut rows = rows;
            let key = |r: &Row| {
                r.values
                    .iter()
                    .rev()
                    .flatten()
                    .next()
                    .copied()
                    .unwrap_or(f64::NAN)
            };
            rows.sort_by(|a, b| value_order(key(a), key(b), v.op == VectorOp::SortDesc));
            return Ok(rows);
        }
        VectorOp::Topk | VectorOp::Bottomk | VectorOp::ApproxTopk => return Ok(topk(v, rows, n)),
        _ => {}
    }
    let mut fold = OuterFold::new(v, n);
    for r in &rows {
        fold.add(&r.labels, &r.values);
    }
    Ok(fold.finish())
}

/// `sum`, `avg`, `min`, `max`, `count`, `stdvar` and `stddev` by groups,
/// one series at a time: the groups in the order their first series came,
/// each step's values combined in the order the series came. Both the
/// evaluation of whole rows ([`vector_aggregation`]) and the one that folds
/// each stream as it is read ([`range_aggregation`]) go through here, in
/// label order, so they give the same bits.
struct OuterFold<'v> {
    v: &'v VectorAggregation,
    n: usize,
    index: HashMap<Labels, usize>,
    groups: Vec<(Labels, Vec<StepAgg>)>,
}

/// One group's values at one step so far.
#[derive(Clone, Copy)]
struct StepAgg {
    /// Values seen.
    n: u32,
    /// The sum (sum, avg), or the best value (min, max).
    acc: f64,
    /// Welford's running mean and sum of squared deviations (stdvar, stddev).
    mean: f64,
    m2: f64,
}

impl<'v> OuterFold<'v> {
    fn new(v: &'v VectorAggregation, n: usize) -> Self {
        OuterFold {
            v,
            n,
            index: HashMap::new(),
            groups: Vec::new(),
        }
    }

    /// Adds one series' values to its group.
    fn add(&mut self, labels: &Labels, values: &[Option<f64>]) {
        let g = group_labels(labels, &self.v.grouping);
        let gi = match self.index.get(&g) {
            Some(&i) => i,
            None => {
                let empty = StepAgg {
                    n: 0,
                    // The empty sum, as `Iterator::sum` starts from it.
                    acc: std::iter::empty::<f64>().sum(),
                    mean: 0.0,
                    m2: 0.0,
                };
                self.groups.push((g.clone(), vec![empty; self.n]));
                self.index.insert(g, self.groups.len() - 1);
                self.groups.len() - 1
            }
        };
        let op = self.v.op;
        for (a, v) in self.groups[gi].1.iter_mut().zip(values) {
            let Some(v) = *v else { continue };
            a.n += 1;
            match op {
                VectorOp::Sum | VectorOp::Avg => a.acc += v,
                // As `nan_aware`: NaN only when every value is NaN.
                VectorOp::Min if a.n == 1 || v < a.acc || a.acc.is_nan() => a.acc = v,
                VectorOp::Max if a.n == 1 || v > a.acc || a.acc.is_nan() => a.acc = v,
                // As `stdvar`.
                VectorOp::Stdvar | VectorOp::Stddev => {
                    let d = v - a.mean;
                    a.mean += d / f64::from(a.n);
                    a.m2 += d * (v - a.mean);
                }
                _ => {}
            }
        }
    }

    /// The groups' rows.
    fn finish(self) -> Vec<Row> {
        let op = self.v.op;
        self.groups
            .into_iter()
            .map(|(labels, steps)| Row {
                labels,
                values: steps
                    .iter()
                    .map(|a| {
                        (a.n > 0).then(|| {
                            let c = f64::from(a.n);
                            match op {
                                VectorOp::Sum | VectorOp::Min | VectorOp::Max => a.acc,
                                VectorOp::Avg => a.acc / c,
                                VectorOp::Count => c,
                                VectorOp::Stdvar => a.m2 / c,
                                VectorOp::Stddev => (a.m2 / c).sqrt(),
                                _ => unreachable!("not a combining aggregation"),
                            }
                        })
                    })
                    .collect(),
            })
            .collect()
    }
}

/// `topk`/`bottomk`/`approx_topk` over whole rows.
fn topk(v: &VectorAggregation, rows: Vec<Row>, n: usize) -> Vec<Row> {
    let mut select = TopkSelect::new(v, n);
    for r in rows {
        select.add(r.labels, &r.values);
    }
    topk_rows(select)
}

/// The rows a selection kept.
fn topk_rows(select: TopkSelect) -> Vec<Row> {
    select
        .finish()
        .into_iter()
        .map(|(labels, values)| Row { labels, values })
        .collect()
}

// ---------------------------------------------------------------- binary operators

fn arith(op: BinOpKind, a: f64, b: f64) -> f64 {
    match op {
        BinOpKind::Add => a + b,
        BinOpKind::Sub => a - b,
        BinOpKind::Mul => a * b,
        // Loki (unlike Prometheus) answers NaN for a division or modulo by zero.
        BinOpKind::Div => {
            if b == 0.0 {
                f64::NAN
            } else {
                a / b
            }
        }
        BinOpKind::Mod => {
            if b == 0.0 {
                f64::NAN
            } else {
                a % b
            }
        }
        BinOpKind::Pow => a.powf(b),
        _ => f64::NAN,
    }
}

fn compare(op: BinOpKind, a: f64, b: f64) -> bool {
    match op {
        BinOpKind::CmpEq => a == b,
        BinOpKind::Neq => a != b,
        BinOpKind::Gt => a > b,
        BinOpKind::Gte => a >= b,
        BinOpKind::Lt => a < b,
        BinOpKind::Lte => a <= b,
        _ => false,
    }
}

/// `lhs op rhs` for one pair of values: `None` drops the sample (a false
/// comparison without `bool`). `keep` is the value a filtering comparison keeps.
fn apply(op: BinOpKind, bool_mod: bool, a: f64, b: f64, keep: f64) -> Option<f64> {
    if op.is_comparison() {
        let r = compare(op, a, b);
        if bool_mod {
            Some(if r { 1.0 } else { 0.0 })
        } else {
            r.then_some(keep)
        }
    } else {
        Some(arith(op, a, b))
    }
}

fn binop(b: &BinOp, l: Grid, r: Grid, n: usize) -> Result<Grid, QueryError> {
    let op = b.op;
    Ok(match (l, r) {
        (Grid::Scalar(x), Grid::Scalar(y)) => {
            if op.is_comparison() && !b.bool_modifier {
                return Err(QueryError::Unsupported(
                    "comparisons between scalars must use BOOL modifier".into(),
                ));
            }
            Grid::Scalar(
                x.iter()
                    .zip(&y)
                    .map(|(a, c)| apply(op, true, *a, *c, *a).unwrap_or(f64::NAN))
                    .collect(),
            )
        }
        (Grid::Vector(rows), Grid::Scalar(y)) => vector_scalar(b, rows, &y, false)?,
        (Grid::Scalar(x), Grid::Vector(rows)) => vector_scalar(b, rows, &x, true)?,
        (Grid::Vector(lhs), Grid::Vector(rhs)) => Grid::Vector(vector_binop(b, lhs, rhs, n)?),
    })
}

/// A vector with a scalar on either side: the operator applies to every
/// sample; a false comparison without `bool` drops it (keeping the vector's
/// value when true).
fn vector_scalar(
    b: &BinOp,
    rows: Vec<Row>,
    scalar: &[f64],
    scalar_left: bool,
) -> Result<Grid, QueryError> {
    if b.op.is_set_op() {
        return Err(QueryError::Unsupported(format!(
            "set operator \"{}\" not allowed in binary scalar expression",
            b.op.as_str()
        )));
    }
    let value = |s: usize, v: f64| {
        let (l, r) = if scalar_left {
            (scalar[s], v)
        } else {
            (v, scalar[s])
        };
        apply(b.op, b.bool_modifier, l, r, v)
    };
    Ok(Grid::Vector(
        rows.into_iter()
            .map(|r| Row {
                labels: r.labels,
                values: r
                    .values
                    .iter()
                    .enumerate()
                    .map(|(s, v)| v.and_then(|v| value(s, v)))
                    .collect(),
            })
            .filter(|r| r.values.iter().any(Option::is_some))
            .collect(),
    ))
}

/// The matching signature of a series under `on`/`ignoring`.
fn signature(l: &Labels, m: Option<&crate::logql::VectorMatching>) -> Labels {
    match m {
        Some(m) if m.on => Labels::from_pairs(
            l.pairs()
                .iter()
                .filter(|(k, _)| m.labels.contains(k))
                .cloned(),
        ),
        Some(m) => Labels::from_pairs(
            l.pairs()
                .iter()
                .filter(|(k, _)| !m.labels.contains(k))
                .cloned(),
        ),
        None => l.clone(),
    }
}

fn vector_binop(b: &BinOp, lhs: Vec<Row>, rhs: Vec<Row>, n: usize) -> Result<Vec<Row>, QueryError> {
    let m = b.matching.as_ref();
    let op = b.op;
    let lsig: Vec<Labels> = lhs.iter().map(|r| signature(&r.labels, m)).collect();
    let rsig: Vec<Labels> = rhs.iter().map(|r| signature(&r.labels, m)).collect();
    if op.is_set_op() {
        let mut out: Vec<Row> = Vec::new();
        match op {
            BinOpKind::And | BinOpKind::Unless => {
                for (i, r) in lhs.iter().enumerate() {
                    let values = (0..n)
                        .map(|s| {
                            let present = rsig
                                .iter()
                                .zip(&rhs)
                                .any(|(sig, rr)| *sig == lsig[i] && rr.values[s].is_some());
                            r.values[s].filter(|_| present == (op == BinOpKind::And))
                        })
                        .collect();
                    out.push(Row {
                        labels: r.labels.clone(),
                        values,
                    });
                }
            }
            _ => {
                out.extend(lhs.iter().cloned());
                for (j, r) in rhs.iter().enumerate() {
                    let values = (0..n)
                        .map(|s| {
                            let present = lsig
                                .iter()
                                .zip(&lhs)
                                .any(|(sig, lr)| *sig == rsig[j] && lr.values[s].is_some());
                            r.values[s].filter(|_| !present)
                        })
                        .collect();
                    out.push(Row {
                        labels: r.labels.clone(),
                        values,
                    });
                }
            }
        }
        out.retain(|r| r.values.iter().any(Option::is_some));
        return Ok(merge_same_labels(out));
    }
    let group = m.map(|m| m.group.clone()).unwrap_or_default();
    // "one" side: the side each sample of the "many" side is matched against.
    let (many, many_sig, one, one_sig, swapped) = match &group {
        Group::Right(_) => (&rhs, &rsig, &lhs, &lsig, true),
        _ => (&lhs, &lsig, &rhs, &rsig, false),
    };
    let extra: &[String] = match &group {
        Group::Left(l) | Group::Right(l) => l,
        Group::None => &[],
    };
    let mut one_index: HashMap<&Labels, Vec<usize>> = HashMap::new();
    for (j, s) in one_sig.iter().enumerate() {
        one_index.entry(s).or_default().push(j);
    }
    // Signatures the "one" side holds twice: Loki fails on them at a step
    // whether or not a sample of the other side matches them.
    let doubled: Vec<&Vec<usize>> = one_index.values().filter(|c| c.len() > 1).collect();
    let mut out: HashMap<Labels, Vec<Option<f64>>> = HashMap::new();
    let mut order: Vec<Labels> = Vec::new();
    for s in 0..n {
        let twice = doubled
            .iter()
            .any(|c| c.iter().filter(|&&j| one[j].values[s].is_some()).count() > 1);
        if twice {
            let side = if swapped { "left" } else { "right" };
            return Err(QueryError::Unsupported(format!(
                "found duplicate series on the {side} hand-side;many-to-many matching not allowed: matching labels must be unique on one side"
            )));
        }
        let mut seen_many: HashMap<&Labels, usize> = HashMap::new();
        for (i, mr) in many.iter().enumerate() {
            let Some(mv) = mr.values[s] else { continue };
            let Some(cands) = one_index.get(&many_sig[i]) else {
                continue;
            };
            let present: Vec<usize> = cands
                .iter()
                .copied()
                .filter(|&j| one[j].values[s].is_some())
                .collect();
            if present.is_empty() {
                continue;
            }
            if group == Group::None && seen_many.insert(&many_sig[i], i).is_some() {
                return Err(QueryError::Unsupported(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
                ));
            }
            let ov = one[present[0]].values[s].unwrap();
            let (a, c) = if swapped { (ov, mv) } else { (mv, ov) };
            let Some(v) = apply(op, b.bool_modifier, a, c, a) else {
                continue;
            };
            let labels = result_labels(&mr.labels, &one[present[0]].labels, m, &group, extra);
            let slot = out.entry(labels.clone()).or_insert_with(|| {
                order.push(labels);
                vec![None; n]
            });
            if slot[s].is_some() {
                return Err(QueryError::Unsupported(
                    "multiple matches for labels: grouping labels must ensure unique matches"
                        .into(),
                ));
            }
            slot[s] = Some(v);
        }
    }
    Ok(order
        .into_iter()
        .map(|l| {
            let values = out.remove(&l).unwrap();
            Row { labels: l, values }
        })
        .collect())
}

fn result_labels(
    many: &Labels,
    one: &Labels,
    m: Option<&crate::logql::VectorMatching>,
    group: &Group,
    extra: &[String],
) -> Labels {
    // One-to-one: the matching labels (all of them under `ignoring`, the named
    // ones under `on`); many-to-one: the many side plus the `group_x` labels.
    if *group == Group::None {
        return signature(many, m);
    }
    let mut l = many.clone();
    for name in extra {
        match one.get(name) {
            Some(v) => l.set(name, v),
            None => l = Labels::from_pairs(l.pairs().iter().filter(|(k, _)| k != name).cloned()),
        }
    }
    l
}

/// Rows with equal labels become one (the first row's value wins per step).
fn merge_same_labels(rows: Vec<Row>) -> Vec<Row> {
    let mut out: Vec<Row> = Vec::with_capacity(rows.len());
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for r in rows {
        match index.get(&r.labels) {
            Some(&i) => {
                for (a, b) in out[i].values.iter_mut().zip(r.values) {
                    if a.is_none() {
                        *a = b;
                    }
                }
            }
            None => {
                index.insert(r.labels.clone(), out.len());
                out.push(r);
            }
        }
    }
    out
}

// ---------------------------------------------------------------- label_replace

fn label_replace(l: &LabelReplace, rows: Vec<Row>) -> Result<Vec<Row>, QueryError> {
    // Compiled by the parser, anchored as Prometheus anchors it.
    let re = &l.compiled;
    let mut out: Vec<Row> = Vec::new();
    for mut r in rows {
        let src = r.labels.get(&l.src).unwrap_or("").to_string();
        if let Some(caps) = re.captures(&src) {
            let mut dst = String::new();
            caps.expand(&l.replacement, &mut dst);
            if dst.is_empty() {
                r.labels = Labels::from_pairs(
                    r.labels
                        .pairs()
                        .iter()
                        .filter(|(k, _)| *k != l.dst)
                        .cloned(),
                );
            } else {
                r.labels.set(&l.dst, &dst);
            }
        }
        match out.iter_mut().find(|o| o.labels == r.labels) {
            Some(o) => {
                for (a, b) in o.values.iter_mut().zip(r.values) {
                    if a.is_none() {
                        *a = b;
                    }
                }
            }
            None => out.push(r),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store of three segments of stream label sets `labels(i)` (sorted),
    /// stream `i` in segment `seg` when `present(i, seg)`, with `per` lines
    /// `entry(seg, k, i)` each.
    fn store_of(
        dir: &std::path::Path,
        streams: usize,
        labels: impl Fn(usize) -> Labels,
        present: impl Fn(usize, i64) -> bool,
        (per, entry): (i64, impl Fn(i64, i64, i64) -> (i64, Vec<u8>)),
    ) -> crate::store::Store {
        let segs: Vec<(&str, plan::tests::LineStreams)> = (0..3i64)
            .map(|seg| {
                let mut all: Vec<Labels> = (0..streams).map(&labels).collect();
                all.sort();
                let streams = all
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| present(*i, seg))
                    .map(|(i, l)| (l, (0..per).map(|k| entry(seg, k, i as i64)).collect()))
                    .collect();
                ("1970-01-01", streams)
            })
            .collect();
        plan::tests::store_of_lines(dir, &segs)
    }

    /// A store of `streams` streams over several segments, each line
    /// `v=<n>` with repeated timestamps and values (ties in the sort).
    fn raw_store(dir: &std::path::Path, streams: usize) -> crate::store::Store {
        let s = 1_000_000_000i64;
        let labels = |i: usize| {
            Labels::from_pairs([("app", format!("a{}", i % 3)), ("pod", format!("p{i}"))])
        };
        let entry = |seg: i64, k: i64, i: i64| {
            let t = (seg * 7 + k) * 97 * s / 10 + (i % 2) * s;
            let v = (k * 31 + i * 7 + seg) % 11;
            (t, format!("v={v}").into_bytes())
        };
        store_of(dir, streams, labels, |_, _| true, (7, entry))
    }

    /// Each row's labels and its values' bits, in the rows' order.
    fn bits(rows: &[Row]) -> Vec<(String, Vec<Option<u64>>)> {
        rows.iter()
            .map(|row| {
                let v = row.values.iter().map(|v| v.map(f64::to_bits)).collect();
                (row.labels.to_string(), v)
            })
            .collect()
    }

    /// Raw-sample range aggregations read in label order (held) and oldest
    /// first (sliding) give the same bits, for every op that keeps raw
    /// samples, grouped or not, at steps that are and are not the range.
    #[test]
    fn raw_samples_in_label_order_equal_the_time_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = raw_store(dir.path(), 12);
        let snap = store.tenant("t").unwrap().snapshot().unwrap();
        let s = 1_000_000_000i64;
        let queries = [
            r#"quantile_over_time(0.9, {app=~".+"} | logfmt | unwrap v [30s])"#,
            r#"quantile_over_time(0.5, {app=~".+"} | logfmt | unwrap v [40s]) by (app)"#,
            r#"rate_counter({app=~".+"} | logfmt | unwrap v [30s])"#,
            r#"avg_over_time({app=~".+"} | logfmt | unwrap v [25s]) by (app)"#,
            r#"count_over_time({app=~".+"}[25s])"#,
            r#"first_over_time({app="a1"} | logfmt | unwrap v [45s])"#,
            r#"stddev_over_time({app=~".+"} | logfmt | unwrap v [35s]) by (app)"#,
        ];
        let mut compared = 0;
        for q in queries {
            let crate::logql::Expr::Sample(SampleExpr::RangeAggregation(r)) =
                crate::logql::parse_expr(q).unwrap()
            else {
                panic!("{q}")
            };
            for step in [7, 10, 30] {
                let steps: Vec<i64> = (0..30).map(|k| (k * step) * s).collect();
                let mut rows = Vec::new();
                for order in [RawOrder::Label, RawOrder::Time] {
                    let mut ctx = Ctx {
                        snap: &snap,
                        steps: steps.clone(),
                        stats: QueryStats::default(),
                        counters: ScanCounters::default(),
                        streamed: true,
                        batch_blocks: PLAN_BATCH_BLOCKS,
                    };
                    let Evaluated::Rows(Some(got)) =
                        range_aggregation_in(&mut ctx, &r, Outer::Held, order).unwrap()
                    else {
                        panic!("{q}: no rows")
                    };
                    rows.push(bits(&got));
                }
                assert!(!rows[0].is_empty(), "{q} step {step}");
                assert_eq!(rows[0], rows[1], "{q} step {step}");
                compared += 1;
            }
        }
        assert_eq!(compared, queries.len() * 3);
    }

    /// `topk`/`bottomk` and operators with a scalar taking each series as
    /// its group completes, and the folds taking each stream's, give the
    /// bits and order of the
    /// evaluation that holds every series first: grouped so that a group's
    /// streams are far apart in label order, with parsers (groups that are
    /// not the stream's: the held evaluation answers), at steps that do and
    /// do not divide the range, a few streams or blocks per batch.
    #[test]
    fn streamed_aggregations_equal_the_held_ones() {
        let s = 1_000_000_000i64;
        let dir = tempfile::tempdir().unwrap();
        let labels = |i: usize| {
            Labels::from_pairs([
                ("app", format!("a{}", i % 3)),
                ("pod", format!("p{i:02}")),
                ("zone", format!("z{}", i % 2)),
            ])
        };
        let entry = |seg: i64, k: i64, i: i64| {
            let t = (seg * 5 + k) * 83 * s / 10 + (i % 3) * s;
            let v = (k * 13 + i * 5 + seg) % 7;
            (t, format!("v={v}").into_bytes())
        };
        let present = |i: usize, seg: i64| !(i + seg as usize).is_multiple_of(4);
        let store = store_of(dir.path(), 18, labels, present, (5, entry));
        let snap = store.tenant("t").unwrap().snapshot().unwrap();
        let sel = r#"{app=~".+"}"#;
        let queries = [
            format!("topk(4, count_over_time({sel}[30s]))"),
            format!("bottomk(3, rate({sel}[30s]))"),
            format!("topk(1, sum by (zone) (count_over_time({sel}[30s])))"),
            format!("topk by (app) (2, sum by (app, zone) (count_over_time({sel}[30s])))"),
            format!("bottomk(2, sum without (pod) (bytes_over_time({sel}[30s])))"),
            format!("topk(3, max_over_time({sel} | logfmt | unwrap v [30s]) by (zone, app))"),
            format!("topk(2, max_over_time({sel} | logfmt | unwrap v [30s]))"),
            format!("bottomk(5, min_over_time({sel} | logfmt | unwrap v [30s]) by (zone))"),
            format!("topk(2, last_over_time({sel} | logfmt | unwrap v [30s]) by (pod))"),
            format!("topk(2, sum by (v) (count_over_time({sel} | logfmt [30s])))"),
            format!("topk(2, count_over_time({sel} | logfmt [30s]))"),
            format!("avg(count_over_time({sel}[30s]))"),
            format!("stddev by (zone) (avg_over_time({sel} | logfmt | unwrap v [30s]))"),
            format!("count_over_time({sel}[30s]) > 2"),
            format!("2 * sum by (zone) (rate({sel}[30s]))"),
            format!("10 < bool sum without (pod) (count_over_time({sel}[30s]))"),
            format!("max_over_time({sel} | logfmt | unwrap v [30s]) by (zone) - 1"),
            format!("count_over_time({sel} | logfmt [30s]) >= 1"),
        ];
        let mut compared = 0;
        for q in &queries {
            let crate::logql::Expr::Sample(e) = crate::logql::parse_expr(q).unwrap() else {
                panic!("{q}")
            };
            for step in [7, 10, 30] {
                let steps: Vec<i64> = (0..20).map(|k| (k * step) * s).collect();
                let mut answers = Vec::new();
                for (streamed, batch_blocks) in [(false, PLAN_BATCH_BLOCKS), (true, 1), (true, 5)] {
                    let mut ctx = Ctx {
                        snap: &snap,
                        steps: steps.clone(),
                        stats: QueryStats::default(),
                        counters: ScanCounters::default(),
                        streamed,
                        batch_blocks,
                    };
                    let Grid::Vector(rows) = eval_node(&mut ctx, &e).unwrap() else {
                        panic!("{q}: not a vector")
                    };
                    answers.push(bits(&rows));
                }
                assert!(!answers[0].is_empty(), "{q} step {step}: {answers:?}");
                assert_eq!(answers[0], answers[1], "{q} step {step}");
                assert_eq!(answers[0], answers[2], "{q} step {step}");
                compared += 1;
            }
        }
        assert_eq!(compared, queries.len() * 3);
    }

    #[test]
    fn quantiles_like_prometheus() {
        let mut v = vec![1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(0.5, &mut v), 2.5);
        assert_eq!(quantile(0.0, &mut v), 1.0);
        assert_eq!(quantile(1.0, &mut v), 4.0);
        assert_eq!(quantile(1.5, &mut v), f64::INFINITY);
    }

    #[test]
    fn population_variance() {
        assert_eq!(
            stdvar([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0].into_iter()),
            4.0
        );
    }

    #[test]
    fn colliding_label_hashes_stay_separate_series() {
        let a = Labels::from_pairs([("app", "a")]);
        let b = Labels::from_pairs([("app", "b")]);
        let mut s = SeriesSamples::default();
        // Both label sets pushed under one hash, as a collision would.
        for (l, t) in [(&a, 1), (&b, 2), (&a, 3), (&b, 4), (&b, 5)] {
            s.push(42, l.pairs(), || l.clone(), (t, 1.0));
        }
        let got: Vec<(String, Vec<i64>)> = s
            .series
            .iter()
            .map(|(l, v)| (l.to_string(), v.iter().map(|p| p.0).collect()))
            .collect();
        assert_eq!(
            got,
            vec![(a.to_string(), vec![1, 3]), (b.to_string(), vec![2, 4, 5]),]
        );
    }

    #[test]
    fn unused_line_formats_leave_metric_pipelines() {
        let stages = |q: &str| {
            let Ok(crate::logql::Expr::Sample(SampleExpr::RangeAggregation(r))) =
                crate::logql::parse_expr(q)
            else {
                panic!("{q}")
            };
            let kept = metric_stages(r.op, &r.log.log.pipeline).len();
            (r.log.log.pipeline.len(), kept)
        };
        // Nothing reads the line afterwards: dropped, label filters or not.
        assert_eq!(
            stages(r#"count_over_time({a="b"} | line_format "{{.x}}" [1m])"#),
            (1, 0)
        );
        assert_eq!(
            stages(r#"rate({a="b"} | json | line_format "{{.x}}" | x="1" [1m])"#),
            (3, 2)
        );
        // A later parser or line filter reads it; bytes measure it.
        assert_eq!(
            stages(r#"count_over_time({a="b"} | line_format "{{.x}}" | logfmt [1m])"#),
            (2, 2)
        );
        assert_eq!(
            stages(r#"count_over_time({a="b"} | line_format "{{.x}}" |= "y" [1m])"#),
            (2, 2)
        );
        assert_eq!(
            stages(r#"bytes_over_time({a="b"} | line_format "{{.x}}" [1m])"#),
            (1, 1)
        );
    }

    #[test]
    fn default_steps() {
        // Loki's: whole seconds of (end - start) / 250, at least one.
        let s = 1_000_000_000;
        assert_eq!(default_step(0, 3600 * s), 14 * s);
        assert_eq!(default_step(0, 7200 * s), 28 * s);
        assert_eq!(default_step(0, 500 * s), 2 * s);
        assert_eq!(default_step(0, 500 * s - 1), s);
        assert_eq!(default_step(5, 5), s);
    }

    fn grid(start: i64, end: i64, step: Option<i64>, align: StepAlign) -> Vec<i64> {
        MetricParams::range(start, end, step, align)
            .unwrap()
            .steps()
            .collect()
    }

    #[test]
    fn loki_grid_rounds_out_to_the_epoch_and_includes_end() {
        let (s, m) = (1_000_000_000, 60_000_000_000);
        let e = StepAlign::Epoch;
        // Aligned: every step, end included.
        assert_eq!(grid(0, 15 * m, Some(5 * m), e), [0, 5 * m, 10 * m, 15 * m]);
        // Start rounded down, end rounded up (00:10:30-01:10:30, step 5m).
        let g = grid(10 * m + m / 2, 70 * m + m / 2, Some(5 * m), e);
        assert_eq!((g[0], *g.last().unwrap(), g.len()), (10 * m, 75 * m, 14));
        // Start = end off the grid: the two steps around it.
        assert_eq!(grid(32 * m, 32 * m, Some(5 * m), e), [30 * m, 35 * m]);
        assert_eq!(grid(30 * m, 30 * m, Some(5 * m), e), [30 * m]);
        // A step larger than the range.
        assert_eq!(grid(0, 10 * m, Some(60 * m), e), [0, 60 * m]);
        // The default step's grid counts from the epoch too: 28s steps
        // over 00:00-02:00 of 2024-05-01 start at 23:59:52.
        let t0 = 1_714_521_600_000_000_000;
        let g = grid(t0, t0 + 120 * m, None, e);
        assert_eq!(g[0], t0 - 8_000_000_000);
        assert_eq!(g[1] - g[0], 28_000_000_000);
        // The step keeps whole milliseconds, as Loki's frontend does.
        assert_eq!(grid(0, 2 * s, Some(s + 400_000), e), [0, s, 2 * s]);
        // Before the epoch Go's remainder is negative: start rounds up
        // (toward zero) and end by more than a step, as Loki computes it.
        assert_eq!(grid(-7 * m, -7 * m, Some(5 * m), e), [-5 * m, 0]);
    }

    #[test]
    fn start_grid_counts_from_start() {
        let m = 60_000_000_000;
        let s = StepAlign::Start;
        assert_eq!(
            grid(m / 2, 11 * m, Some(5 * m), s),
            [m / 2, 5 * m + m / 2, 10 * m + m / 2]
        );
        assert_eq!(grid(0, 10 * m, Some(5 * m), s), [0, 5 * m, 10 * m]);
        assert_eq!(grid(7, 7, Some(5 * m), s), [7]);
    }

    #[test]
    fn range_requests_are_checked_as_loki_checks_them() {
        let s = 1_000_000_000;
        let err = |start, end, step| {
            MetricParams::range(start, end, step, StepAlign::Epoch)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(err(10, 9, Some(s)), END_BEFORE_START);
        assert_eq!(err(0, 9, Some(0)), NON_POSITIVE_STEP);
        assert_eq!(err(0, 9, Some(-s)), NON_POSITIVE_STEP);
        assert!(err(0, 11_001 * s, Some(s)).starts_with("exceeded maximum resolution of 11,000"));
        assert_eq!(
            MetricParams::range(0, 11_000 * s, Some(s), StepAlign::Epoch)
                .unwrap()
                .n_steps(),
            11_001
        );
    }
}
