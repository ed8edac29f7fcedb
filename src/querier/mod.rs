//! The library API (named after Loki's querier): what the CLI, a future
//! Loki-compatible server and a future ruler all call.
//!
//! A [`Querier`] is a read view of one tenant. It answers log queries,
//! metric range and instant queries, label, label-value and series lookups
//! over a [`TimeRange`], with warnings and statistics returned as data, never
//! printed. A query that could not read part of what it selected (a damaged
//! block, a segment that cannot be opened) fails with [`Error::Partial`],
//! naming each problem, unless the querier was made with
//! [`Querier::allow_partial`]: then the answer comes with the problems in
//! its `partial` list, for the caller to show. Beside it: [`parse_selector`] (where `{}` selects every stream),
//! [`Cardinality`] (`series --analyze-labels`), [`rebuild_index`] (the
//! lock-rebuild-commit loop of `lokal index`) and [`StdinStore`] (queries
//! over standard input through a temporary store, with every ingest option).
//! [`Remote`] asks the same questions of a Grafana Loki (`--addr`).
//!
//! Nothing here parses command-line strings: callers hand over timestamps
//! in ns, durations and parsed queries.

mod index;
pub mod remote;
mod stdin;
mod tail;

use std::collections::{BTreeMap, BTreeSet};

pub use index::{rebuild_index, RebuildEvent, RebuildRequest, TenantIndex, Tenants};
pub use remote::Remote;
pub use stdin::StdinStore;
pub use tail::Tail;

use crate::engine::eval::{self, MetricParams, StepAlign};
use crate::engine::logquery::{self, LogParams, LogResult, LogStream};
use crate::engine::plan::Planner;
use crate::engine::stats::QueryStats;
use crate::engine::value::MetricValue;
use crate::engine::{Direction, QueryError};
use crate::ingest::IngestError;
use crate::logql::{Expr, LogExpr, Matcher, ParseError, SampleExpr};
use crate::model::Labels;
use crate::store::read::DayStats;
use crate::store::{ReadProblem, Snapshot, Store, StoreError};
use crate::time::TimeRange;

/// Errors of the library API.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The query does not parse, cannot run, or the store failed under it.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Ingest (of standard input) failed.
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// No temporary store could be made for standard input.
    #[error("creating a temporary store for standard input: {0}")]
    TempStore(std::io::Error),
    /// A Loki (`--addr`) could not be asked, or refused the question.
    #[error(transparent)]
    Loki(#[from] crate::loki::client::ClientError),
    /// Part of what the query selected could not be read, so its answer
    /// would be incomplete ([`Querier::allow_partial`] accepts that).
    #[error(transparent)]
    Partial(PartialRead),
}

/// The parts of the store a query selected but could not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartialRead {
    /// Each damaged block or unreadable segment, in the order met.
    pub problems: Vec<ReadProblem>,
}

impl std::fmt::Display for PartialRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "the answer would be incomplete: {n} part{} of the store could not be read",
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PartialRead {}

/// The answer to a label or series lookup, with what it could not read
/// (only ever non-empty from a querier that allows partial answers).
#[derive(Debug, Clone, PartialEq)]
pub struct Lookup<T> {
    /// Label names, values or series, sorted and distinct.
    pub values: Vec<T>,
    /// Indexes that could not be used (answered from footers instead).
    pub warnings: Vec<String>,
    /// Segments that could not be opened: values they hold are missing.
    pub partial: Vec<ReadProblem>,
}

impl From<ParseError> for Error {
    fn from(e: ParseError) -> Self {
        Error::Query(QueryError::Parse(e))
    }
}

/// What a metric query evaluated to, and what it took.
#[derive(Debug, Clone)]
pub struct MetricResult {
    /// A vector (instant query), a matrix (range query) or a scalar.
    pub value: MetricValue,
    /// Statistics and warnings (damaged blocks or indexes skipped).
    pub stats: QueryStats,
}

/// The answer to a query: log lines or a metric value.
#[derive(Debug)]
pub enum QueryResponse {
    /// A log query's entries.
    Streams(LogResult),
    /// A metric query's value.
    Metric(MetricResult),
}

impl QueryResponse {
    /// Statistics and warnings of either kind of query.
    pub fn stats(&self) -> &QueryStats {
        match self {
            QueryResponse::Streams(r) => &r.stats,
            QueryResponse::Metric(r) => &r.stats,
        }
    }

    /// True when nothing matched.
    pub fn is_empty(&self) -> bool {
        match self {
            QueryResponse::Streams(r) => r.entries.is_empty(),
            QueryResponse::Metric(r) => r.value.is_empty(),
        }
    }
}

/// Parameters of [`Querier::query`] besides the range.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueryOptions {
    /// Most entries a log query returns; 0 = all.
    pub limit: usize,
    /// Order of log entries.
    pub direction: Direction,
    /// Step of a metric range query, ns; `None` is Loki's default for the
    /// range ([`eval::default_step`]).
    pub step: Option<i64>,
    /// How a metric range query lays out its steps (Loki's epoch grid by default).
    pub align: StepAlign,
}

/// A time range as a user gives it, before the store fills in what is
/// missing ([`Querier::resolve_range`]). Times and durations in ns.
#[derive(Debug, Clone, Copy)]
pub struct RangeSpec {
    /// Start, included.
    pub from: Option<i64>,
    /// End: excluded from the lines read, a metric range query's last
    /// evaluation time ([`Querier::range_query`]).
    pub to: Option<i64>,
    /// Look back this far from `to` (or from `now`).
    pub since: Option<i64>,
    /// The current time.
    pub now: i64,
}

/// The message Loki gives for a log query sent as an instant query.
const LOG_QUERY_NOT_INSTANT: &str = "log queries are not supported as an instant query type, please change your query to a range query type";

/// Parses a query for [`Querier::instant_query`]: a log query is refused
/// with Loki's message.
pub fn parse_instant(query: &str) -> Result<SampleExpr, Error> {
    match crate::logql::parse_expr(query)? {
        Expr::Sample(s) => Ok(s),
        Expr::Log(_) => Err(QueryError::Unsupported(LOG_QUERY_NOT_INSTANT.into()).into()),
    }
}

/// Parses a series selector. `{}` (or nothing, or blanks between the
/// braces) selects every stream, as Loki's series API accepts it; anything
/// else must be a stream selector without a pipeline.
pub fn parse_selector(selector: &str) -> Result<Vec<Matcher>, ParseError> {
    let inner = selector
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .trim();
    if inner.is_empty() {
        Ok(Vec::new())
    } else {
        crate::logql::parse_matchers(selector)
    }
}

/// A read view of one tenant's store, taken at one manifest.
#[derive(Debug, Clone)]
pub struct Querier {
    tenant: String,
    snapshot: Snapshot,
    allow_partial: bool,
}

impl Querier {
    /// Opens `tenant` of `store` as of its current manifest (a tenant with
    /// no data is an empty view, not an error; a store directory that does
    /// not exist is [`StoreError::NoStore`]).
    pub fn open(store: &Store, tenant: &str) -> Result<Querier, Error> {
        store.ensure_exists()?;
        let snapshot = store.tenant(tenant)?.snapshot()?;
        Ok(Querier::new(tenant, snapshot))
    }

    /// A querier over a snapshot already taken.
    pub fn new(tenant: &str, snapshot: Snapshot) -> Querier {
        Querier {
            tenant: tenant.to_string(),
            snapshot,
            allow_partial: false,
        }
    }

    /// With `true`, a query that could not read part of what it selected
    /// answers with what it could read and lists the rest in the result's
    /// `partial` problems, instead of failing with [`Error::Partial`].
    pub fn allow_partial(mut self, allow: bool) -> Querier {
        self.allow_partial = allow;
        self
    }

    /// `Err(Error::Partial)` when `partial` is not empty and partial
    /// answers are not allowed.
    fn complete(&self, partial: &[ReadProblem]) -> Result<(), Error> {
        if partial.is_empty() || self.allow_partial {
            Ok(())
        } else {
            Err(Error::Partial(PartialRead {
                problems: partial.to_vec(),
            }))
        }
    }

    /// Runs `f` on a fresh planner and packs its answer with the planner's
    /// warnings and partial reads.
    fn lookup<T>(
        &self,
        f: impl FnOnce(&mut Planner<'_>) -> Result<Vec<T>, StoreError>,
    ) -> Result<Lookup<T>, Error> {
        let mut p = Planner::new(&self.snapshot);
        let values = f(&mut p)?;
        self.complete(p.partial())?;
        Ok(Lookup {
            values,
            warnings: p.warnings(),
            partial: p.partial().to_vec(),
        })
    }

    /// The tenant.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The snapshot queries read.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// True when the tenant holds no data.
    pub fn is_empty(&self) -> bool {
        self.snapshot.manifest.segments.is_empty()
    }

    /// The smallest range holding every stored entry; `None` when empty.
    /// From the manifest alone.
    pub fn time_bounds(&self) -> Option<TimeRange> {
        let segs = &self.snapshot.manifest.segments;
        let lo = segs.iter().map(|s| s.min_t).min()?;
        let hi = segs.iter().map(|s| s.max_t).max()?;
        Some(TimeRange::new(lo, hi.saturating_add(1)))
    }

    /// The smallest range holding every entry of the streams `matchers`
    /// select, from the label indexes (footers where no index covers a
    /// segment); `None` when no stream matches.
    pub fn stream_bounds(&self, matchers: &[Matcher]) -> Result<Option<TimeRange>, Error> {
        Ok(Planner::new(&self.snapshot).time_bounds(matchers)?)
    }

    /// The smallest range holding every entry of the streams that any
    /// selector of `expr` matches (from the label indexes, as
    /// [`Querier::stream_bounds`]); `None` when none matches or the query
    /// has no selector (`vector(1)`).
    pub fn query_bounds(&self, expr: &Expr) -> Result<Option<TimeRange>, Error> {
        let mut planner = Planner::new(&self.snapshot);
        let mut out: Option<TimeRange> = None;
        for sel in expr.selectors() {
            if let Some(b) = planner.time_bounds(&sel.matchers)? {
                out = Some(match out {
                    None => b,
                    Some(o) => TimeRange::new(o.start.min(b.start), o.end.max(b.end)),
                });
            }
        }
        Ok(out)
    }

    /// Fills in a user's range. With neither `from`, `to` nor `since` it is
    /// the whole store ([`Querier::time_bounds`]): a local store holds what
    /// was put in it, so logcli's one-hour default would hide yesterday's CI
    /// logs. `since` alone ends now; `from` alone ends at the later of now
    /// and the store's end; `since` counts back from `to` when both are given;
    /// `to` alone starts where the store does, or at `to` when that is earlier.
    pub fn resolve_range(&self, spec: &RangeSpec) -> TimeRange {
        fill_range(spec, self.time_bounds())
    }

    /// Fills in a user's range for `expr` as [`Querier::resolve_range`]
    /// does, with the time range of the streams the query selects
    /// ([`Querier::query_bounds`]) in place of the whole store's: a metric
    /// query over one stream of 2024 in a store that also holds 2026 is
    /// then evaluated over 2024, on a step that fits it.
    pub fn resolve_query_range(&self, spec: &RangeSpec, expr: &Expr) -> Result<TimeRange, Error> {
        let bounds = match (spec.from, spec.to, spec.since) {
            (Some(_), Some(_), _) | (None, Some(_), Some(_)) | (None, None, Some(_)) => None,
            _ => self.query_bounds(expr)?.or_else(|| self.time_bounds()),
        };
        Ok(fill_range(spec, bounds))
    }

    /// Runs a parsed query over `range`: a log query returns entries, a
    /// metric query a matrix ([`Querier::range_query`]).
    pub fn query(
        &self,
        expr: &Expr,
        range: TimeRange,
        opts: &QueryOptions,
    ) -> Result<QueryResponse, Error> {
        Ok(match expr {
            Expr::Log(log) => QueryResponse::Streams({
                eval::check_order(range.start, range.end)?;
                self.log_query(
                    log,
                    &LogParams {
                        range,
                        limit: opts.limit,
                        direction: opts.direction,
                    },
                )?
            }),
            Expr::Sample(sample) => {
                QueryResponse::Metric(self.range_query(sample, range, opts.step, opts.align)?)
            }
        })
    }

    /// Runs a log query.
    pub fn log_query(&self, expr: &LogExpr, params: &LogParams) -> Result<LogResult, Error> {
        let res = logquery::run(&self.snapshot, expr, params)?;
        self.complete(&res.stats.partial)?;
        Ok(res)
    }

    /// Opens a log query whose entries are read one by one, in output
    /// order, in memory bounded by [`logquery::STREAM_BUDGET`] whatever the
    /// size of the answer (the `limit` of `params` is left to the caller,
    /// who stops reading). A damaged block fails here, before any entry,
    /// unless partial answers are allowed; after the last entry,
    /// [`Querier::finish_stream`] gives the statistics.
    pub fn log_stream(&self, expr: &LogExpr, params: &LogParams) -> Result<LogStream, Error> {
        eval::check_order(params.range.start, params.range.end)?;
        let s = LogStream::open(&self.snapshot, expr, params)?;
        self.complete(&s.stats().partial)?;
        Ok(s)
    }

    /// The statistics of a stream read to its end, or [`Error::Partial`]
    /// when a block that passed its checksum could not be decoded on the
    /// way (the entries before it were handed out already).
    pub fn finish_stream(&self, stream: LogStream) -> Result<QueryStats, Error> {
        let stats = stream.finish();
        self.complete(&stats.partial)?;
        Ok(stats)
    }

    /// Runs a metric range query over `range` as Loki's `query_range` runs
    /// one from `range.start` to `range.end`: `range.end`, where a log query
    /// stops reading, is the last evaluation time (Loki includes its `end`),
    /// and [`MetricParams::range`] lays out the steps (`align`).
    pub fn range_query(
        &self,
        expr: &SampleExpr,
        range: TimeRange,
        step: Option<i64>,
        align: StepAlign,
    ) -> Result<MetricResult, Error> {
        let p = MetricParams::range(range.start, range.end, step, align)?;
        self.eval(expr, &p)
    }

    /// Runs a metric query at one instant `at`: a vector.
    pub fn instant_query(&self, expr: &SampleExpr, at: i64) -> Result<MetricResult, Error> {
        self.eval(expr, &MetricParams::instant(at))
    }

    fn eval(&self, expr: &SampleExpr, p: &MetricParams) -> Result<MetricResult, Error> {
        let (value, stats) = eval::eval(&self.snapshot, expr, p)?;
        self.complete(&stats.partial)?;
        Ok(MetricResult { value, stats })
    }

    /// Label names of the streams with entries in `range`, sorted.
    pub fn labels(&self, range: TimeRange) -> Result<Lookup<String>, Error> {
        self.lookup(|p| p.label_names(range))
    }

    /// Non-empty values of label `name` over the streams with entries in
    /// `range`, sorted.
    pub fn label_values(&self, name: &str, range: TimeRange) -> Result<Lookup<String>, Error> {
        self.lookup(|p| p.label_values(name, range))
    }

    /// Label sets of the streams `matchers` select with entries in `range`,
    /// sorted and distinct.
    pub fn series(&self, matchers: &[Matcher], range: TimeRange) -> Result<Lookup<Labels>, Error> {
        self.lookup(|p| p.series(matchers, range))
    }

    /// The label cardinality of the streams [`Querier::series`] would
    /// return (`series --analyze-labels`), counted as the streams are
    /// walked in label order (days merged, each stream once), so memory
    /// holds each label's distinct values, not the label sets: one value
    /// of the lookup.
    pub fn cardinality(
        &self,
        matchers: &[Matcher],
        range: TimeRange,
    ) -> Result<Lookup<Cardinality>, Error> {
        self.lookup(|p| {
            let mut c = CardinalityCount::default();
            if !range.is_empty() {
                let mut cursor = p.stream(matchers, range)?;
                while let Some(labels) = cursor.next_labels()? {
                    c.add(&labels);
                }
            }
            Ok(vec![c.finish()])
        })
    }

    /// Per-day totals (streams, entries, chunks, segments, block sizes,
    /// bytes, time range, whether `compact` would merge it), from the
    /// segment footers.
    pub fn day_stats(&self) -> Result<Vec<DayStats>, Error> {
        let mut days = crate::store::read::day_stats(&self.tenant, &self.snapshot)?;
        for d in &mut days {
            d.compactable = crate::compact::needs_compaction(d.segments, d.bytes_raw);
        }
        Ok(days)
    }
}

/// `spec` with what it leaves open taken from `bounds` (the data's time
/// range; `None` when there is none): see [`Querier::resolve_range`].
fn fill_range(spec: &RangeSpec, bounds: Option<TimeRange>) -> TimeRange {
    // No data spans [0, 1): nothing is in it either way.
    let data = bounds.unwrap_or(TimeRange::new(0, 1));
    let to = match (spec.to, spec.since, spec.from) {
        (Some(t), _, _) => t,
        (None, Some(_), _) => spec.now,
        (None, None, Some(_)) => data.end.max(spec.now),
        (None, None, None) => data.end.max(0),
    };
    let from = match (spec.from, spec.since) {
        (Some(f), _) => f,
        (None, Some(s)) => to.saturating_sub(s),
        (None, None) => data.start.min(to),
    };
    TimeRange::new(from, to)
}

/// How many values one label takes over a set of streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelCardinality {
    /// The label name.
    pub name: String,
    /// Distinct values.
    pub values: usize,
    /// Streams that carry the label.
    pub streams: usize,
}

/// Label cardinality over a set of streams (logcli's `series --analyze-labels`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cardinality {
    /// Streams analysed.
    pub streams: usize,
    /// One row per label: most distinct values first, then by name (logcli's order).
    pub labels: Vec<LabelCardinality>,
}

impl Cardinality {
    /// Counts the labels of `series` (distinct label sets).
    pub fn of(series: &[Labels]) -> Cardinality {
        let mut c = CardinalityCount::default();
        for s in series {
            c.add(s);
        }
        c.finish()
    }
}

/// A [`Cardinality`] counted one stream at a time: it holds each label's
/// distinct values, not the streams.
#[derive(Debug, Default)]
struct CardinalityCount {
    streams: usize,
    /// Per label name: its distinct values and the streams carrying it.
    labels: BTreeMap<String, (BTreeSet<String>, usize)>,
}

impl CardinalityCount {
    fn add(&mut self, s: &Labels) {
        self.streams += 1;
        for (k, v) in s.pairs() {
            let (values, streams) = match self.labels.get_mut(k.as_str()) {
                Some(e) => e,
                None => self.labels.entry(k.to_string()).or_default(),
            };
            if !values.contains(v.as_str()) {
                values.insert(v.to_string());
            }
            *streams += 1;
        }
    }

    fn finish(self) -> Cardinality {
        let mut labels: Vec<LabelCardinality> = self
            .labels
            .into_iter()
            .map(|(name, (values, streams))| LabelCardinality {
                name,
                values: values.len(),
                streams,
            })
            .collect();
        labels.sort_by(|a, b| b.values.cmp(&a.values).then(a.name.cmp(&b.name)));
        Cardinality {
            streams: self.streams,
            labels,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_selectors_select_everything() {
        for s in ["{}", "", "  { } ", "{{}}"] {
            assert_eq!(parse_selector(s).unwrap(), Vec::new(), "{s:?}");
        }
        assert_eq!(parse_selector(r#"{a="b"}"#).unwrap().len(), 1);
        assert!(parse_selector(r#"{a="b"} |= "x""#).is_err());
    }

    #[test]
    fn instant_queries_refuse_log_queries() {
        let e = parse_instant(r#"{a="b"}"#).unwrap_err();
        assert_eq!(e.to_string(), LOG_QUERY_NOT_INSTANT);
        assert!(parse_instant(r#"count_over_time({a="b"}[1m])"#).is_ok());
    }

    #[test]
    fn cardinality_counts_values_and_streams() {
        let l = |p: &[(&str, &str)]| Labels::from_pairs(p.iter().copied());
        let c = Cardinality::of(&[
            l(&[("app", "a"), ("env", "prod")]),
            l(&[("app", "b"), ("env", "prod")]),
            l(&[("app", "c")]),
        ]);
        assert_eq!(c.streams, 3);
        let rows: Vec<_> = c
            .labels
            .iter()
            .map(|r| (r.name.as_str(), r.values, r.streams))
            .collect();
        assert_eq!(rows, vec![("app", 3, 3), ("env", 1, 2)]);
    }

    #[test]
    fn default_range_is_the_whole_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let q = Querier::open(&store, "t").unwrap();
        assert!(q.is_empty() && q.time_bounds().is_none());
        let spec = RangeSpec {
            from: None,
            to: None,
            since: None,
            now: 50,
        };
        assert_eq!(q.resolve_range(&spec), TimeRange::new(0, 1));
        let streams = vec![(
            Labels::from_pairs([("a", "b")]),
            vec![(10, b"x".to_vec(), vec![]), (20, b"y".to_vec(), vec![])],
        )];
        crate::ingest::write_streams(&store, "t", streams).unwrap();
        let q = Querier::open(&store, "t").unwrap();
        assert_eq!(q.time_bounds(), Some(TimeRange::new(10, 21)));
        assert_eq!(q.resolve_range(&spec), TimeRange::new(10, 21));
        let from = RangeSpec {
            from: Some(15),
            ..spec
        };
        assert_eq!(q.resolve_range(&from), TimeRange::new(15, 50));
        let since = RangeSpec {
            since: Some(5),
            ..spec
        };
        assert_eq!(q.resolve_range(&since), TimeRange::new(45, 50));
        assert_eq!(
            q.stream_bounds(&parse_selector(r#"{a="b"}"#).unwrap())
                .unwrap(),
            Some(TimeRange::new(10, 21))
        );
        // --to before the data: an empty range at --to, not an inverted one.
        let to = RangeSpec {
            to: Some(5),
            ..spec
        };
        assert_eq!(q.resolve_range(&to), TimeRange::new(5, 5));
    }

    #[test]
    fn default_query_range_is_that_of_the_selected_streams() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let stream = |v: &str, ts: &[i64]| {
            (
                Labels::from_pairs([("app", v)]),
                ts.iter().map(|&t| (t, b"x".to_vec(), vec![])).collect(),
            )
        };
        let day = crate::time::NANOS_PER_DAY;
        crate::ingest::write_streams(
            &store,
            "t",
            vec![
                stream("old", &[10, 20]),
                stream("new", &[700 * day, 700 * day + 5]),
                stream("mid", &[day, day + 1]),
            ],
        )
        .unwrap();
        let q = Querier::open(&store, "t").unwrap();
        let spec = RangeSpec {
            from: None,
            to: None,
            since: None,
            now: 800 * day,
        };
        let range = |query: &str, spec: &RangeSpec| {
            let e = crate::logql::parse_expr(query).unwrap();
            q.resolve_query_range(spec, &e).unwrap()
        };
        assert_eq!(range(r#"{app="old"}"#, &spec), TimeRange::new(10, 21));
        assert_eq!(
            range(r#"count_over_time({app="old"}[1m])"#, &spec),
            TimeRange::new(10, 21)
        );
        // Every selector of a binary operation counts.
        assert_eq!(
            range(
                r#"count_over_time({app="old"}[1m]) / count_over_time({app="mid"}[1m])"#,
                &spec
            ),
            TimeRange::new(10, day + 2)
        );
        // No stream matches, or no selector: the whole store.
        let all = TimeRange::new(10, 700 * day + 6);
        assert_eq!(range(r#"{app="none"}"#, &spec), all);
        assert_eq!(range("vector(1)", &spec), all);
        // --from alone ends now (later than the data); explicit flags win.
        let from = RangeSpec {
            from: Some(15),
            ..spec
        };
        assert_eq!(
            range(r#"{app="old"}"#, &from),
            TimeRange::new(15, 800 * day)
        );
        let both = RangeSpec {
            from: Some(1),
            to: Some(2),
            ..spec
        };
        assert_eq!(range(r#"{app="old"}"#, &both), TimeRange::new(1, 2));
    }
}
