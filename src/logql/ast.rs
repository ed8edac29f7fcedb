//! The LogQL abstract syntax tree.
//!
//! The tree is what the query engine evaluates, so it is normalised the way Loki
//! normalises it while parsing: parentheses are gone, negated `or` line filters are
//! already rewritten with De Morgan, literal-only arithmetic is folded, and every regex
//! that Loki compiles at parse time is compiled here too. Every node keeps the byte
//! [`Span`] of the query text it came from. Spans never take part in equality (`==`
//! compares meaning), so an AST parsed from a query equals the one parsed from its
//! canonical form.

use regex::Regex;

/// A byte range `start..end` in the query text.
///
/// Equality ignores spans: any two spans compare equal, so that `==` on AST nodes
/// compares queries by meaning.
#[derive(Debug, Clone, Copy, Default, Eq)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl PartialEq for Span {
    fn eq(&self, _: &Span) -> bool {
        true
    }
}

impl Span {
    /// A span from `start` to `end`.
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

/// A parsed LogQL query: a log query or a metric query.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A log query: a stream selector and a pipeline; returns log lines.
    Log(LogExpr),
    /// A metric query; returns a vector, a matrix or a scalar.
    Sample(SampleExpr),
}

/// A stream selector with its pipeline: `{app="foo"} |= "err" | json`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogExpr {
    /// The stream matchers, in source order.
    pub matchers: Vec<Matcher>,
    /// Pipeline stages, in source order (Loki applies them in this order, except that
    /// its optimiser may move line filters forward; that does not change results).
    pub pipeline: Vec<Stage>,
    /// The whole expression.
    pub span: Span,
}

/// A label matcher operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    /// `=`
    Eq,
    /// `!=`
    Neq,
    /// `=~` (fully anchored RE2 regex)
    Re,
    /// `!~`
    Nre,
}

/// A label matcher `name OP "value"`, as used in stream selectors, string label
/// filters and `drop`/`keep`.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// Label name.
    pub name: String,
    /// Operator.
    pub op: MatchOp,
    /// Value (the regex source for `=~`/`!~`).
    pub value: String,
    /// The matcher's text.
    pub span: Span,
    /// For `=~`/`!~`: the compiled regex, anchored as Prometheus anchors it.
    pub(crate) re: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, o: &Matcher) -> bool {
        self.name == o.name && self.op == o.op && self.value == o.value
    }
}

impl Matcher {
    /// Builds a matcher, compiling the regex for `=~`/`!~`. Like Prometheus, the regex is
    /// anchored at both ends and `.` also matches a newline: `^(?s:re)$`.
    pub fn new(name: &str, op: MatchOp, value: &str, span: Span) -> Result<Matcher, String> {
        let re = match op {
            MatchOp::Re | MatchOp::Nre => Some(super::regexes::compile_matcher(value)?),
            _ => None,
        };
        Ok(Matcher {
            name: name.to_string(),
            op,
            value: value.to_string(),
            span,
            re,
        })
    }

    /// Whether the label value `v` satisfies the matcher. A missing label is tested as
    /// the empty string, as in Prometheus.
    pub fn matches(&self, v: &str) -> bool {
        match self.op {
            MatchOp::Eq => v == self.value,
            MatchOp::Neq => v != self.value,
            MatchOp::Re => self.re.as_ref().is_some_and(|r| r.is_match(v)),
            MatchOp::Nre => !self.re.as_ref().is_some_and(|r| r.is_match(v)),
        }
    }

    /// The compiled, anchored regex of a `=~`/`!~` matcher.
    pub fn regex(&self) -> Option<&Regex> {
        self.re.as_ref()
    }
}

/// One pipeline stage.
#[derive(Debug, Clone, PartialEq)]
pub enum Stage {
    /// A line filter: `|= "x"`, `!~ "re"`, `|> "<_> pat"`, `|= ip("…")`, with `or`.
    LineFilter(LineFilter),
    /// A parser: `json`, `logfmt`, `regexp`, `pattern`, `unpack`.
    Parser {
        /// Which parser, with its arguments.
        parser: Parser,
        /// The stage's text (from the `|`).
        span: Span,
    },
    /// A label filter: `| status >= 500 or level="error"`.
    LabelFilter {
        /// The filter tree.
        filter: LabelFilterExpr,
        /// The stage's text.
        span: Span,
    },
    /// `| line_format "template"`.
    LineFormat {
        /// The Go text/template source.
        template: String,
        /// The stage's text.
        span: Span,
    },
    /// `| label_format dst=src, dst2="template"`.
    LabelFormat {
        /// The assignments, in source order.
        formats: Vec<LabelFmt>,
        /// The stage's text.
        span: Span,
    },
    /// `| drop a, b="v"`.
    Drop {
        /// Labels to drop (by name, or only when the matcher matches).
        labels: Vec<NamedMatcher>,
        /// The stage's text.
        span: Span,
    },
    /// `| keep a, b="v"`.
    Keep {
        /// Labels to keep (by name, or only when the matcher matches).
        labels: Vec<NamedMatcher>,
        /// The stage's text.
        span: Span,
    },
    /// `| decolorize`: strips ANSI colour sequences from the line.
    Decolorize {
        /// The stage's text.
        span: Span,
    },
}

impl Stage {
    /// The stage's text.
    pub fn span(&self) -> Span {
        match self {
            Stage::LineFilter(f) => f.span,
            Stage::Parser { span, .. }
            | Stage::LabelFilter { span, .. }
            | Stage::LineFormat { span, .. }
            | Stage::LabelFormat { span, .. }
            | Stage::Drop { span, .. }
            | Stage::Keep { span, .. }
            | Stage::Decolorize { span } => *span,
        }
    }
}

/// A line filter operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LineFilterOp {
    /// `|=`: the line contains the value (case-sensitive).
    Contains,
    /// `!=`: the line does not contain the value.
    NotContains,
    /// `|~`: the (unanchored) regex matches.
    Match,
    /// `!~`: the regex does not match.
    NotMatch,
    /// `|>`: the pattern (`<_>` wildcards) matches the whole line.
    Pattern,
    /// `!>`: the pattern does not match.
    NotPattern,
}

impl LineFilterOp {
    /// Whether the operator is a negation (`!=`, `!~`, `!>`).
    pub fn is_negated(self) -> bool {
        matches!(
            self,
            LineFilterOp::NotContains | LineFilterOp::NotMatch | LineFilterOp::NotPattern
        )
    }
}

/// What a line filter tests: a string (substring, regex or pattern, depending on the
/// operator) or `ip("cidr|range|address")`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LineMatch {
    /// A quoted value.
    Str(String),
    /// `ip("…")`: the line contains an IP address inside the given range.
    Ip(String),
}

/// A line filter stage: `op value [or value …]`.
///
/// For a positive operator (`|=`, `|~`, `|>`) the line passes when `value` **or** any of
/// `or` matches. A negated `or` chain (`!= "a" or "b"`) is rewritten by the parser into
/// consecutive negated filters (`!= "a" != "b"`), as Loki does, so for negated operators
/// `or` is always empty.
#[derive(Debug, Clone, PartialEq)]
pub struct LineFilter {
    /// The operator; the `or` alternatives use it too.
    pub op: LineFilterOp,
    /// The first value.
    pub value: LineMatch,
    /// Further alternatives (`or "b" or ip("…")`), positive operators only.
    pub or: Vec<LineMatch>,
    /// The filter's text.
    pub span: Span,
}

/// A parser stage.
#[derive(Debug, Clone, PartialEq)]
pub enum Parser {
    /// `| json` (all fields, flattened) or `| json a="path", b` (only the given paths).
    Json {
        /// Extraction parameters; empty means "extract everything".
        params: Vec<LabelExtraction>,
    },
    /// `| logfmt [--strict] [--keep-empty] [a="key", b]`.
    Logfmt {
        /// `--strict`: stop at the first malformed pair and set `__error__`.
        strict: bool,
        /// `--keep-empty`: keep `k=` pairs with an empty value.
        keep_empty: bool,
        /// Extraction parameters; empty means "extract everything".
        params: Vec<LabelExtraction>,
    },
    /// `| regexp "(?P<name>…)"` (unanchored Go regex with named captures).
    Regexp(String),
    /// `| pattern "<a> - <_>"`.
    Pattern(String),
    /// `| unpack`.
    Unpack,
}

/// An extraction parameter of `json`/`logfmt`: label `label` gets the value at `expr`
/// (a JSON path such as `a.b[0]`, or a logfmt key). A bare identifier `x` means `x="x"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LabelExtraction {
    /// The label to set.
    pub label: String,
    /// The path or key to read.
    pub expr: String,
}

/// A comparison operator of numeric, duration and bytes label filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `==` or `=`
    Eq,
    /// `!=`
    Neq,
    /// `>`
    Gt,
    /// `>=`
    Gte,
    /// `<`
    Lt,
    /// `<=`
    Lte,
}

/// A label filter tree.
///
/// `and`, `,` and juxtaposition all build [`LabelFilterExpr::And`]. Precedence is
/// Loki's grammar's: `or` binds loosest, `and` tighter, and `,`/juxtaposition take
/// everything to their right (`a , b or c` is `a , (b or c)`).
#[derive(Debug, Clone, PartialEq)]
pub enum LabelFilterExpr {
    /// Both sides must pass.
    And(Box<LabelFilterExpr>, Box<LabelFilterExpr>),
    /// Either side passes (the right side is not evaluated when the left passes).
    Or(Box<LabelFilterExpr>, Box<LabelFilterExpr>),
    /// A string comparison `name OP "value"`; a missing label compares as "".
    String(Matcher),
    /// `name OP number`: the label value is parsed as a float.
    Numeric {
        /// Label name.
        name: String,
        /// Comparison.
        op: CmpOp,
        /// Right-hand side.
        value: f64,
        /// The filter's text.
        span: Span,
    },
    /// `name OP 250ms`: the label value is parsed as a Go duration.
    Duration {
        /// Label name.
        name: String,
        /// Comparison.
        op: CmpOp,
        /// Right-hand side in nanoseconds.
        value: i64,
        /// The filter's text.
        span: Span,
    },
    /// `name OP 2.5KiB`: the label value is parsed as a byte size.
    Bytes {
        /// Label name.
        name: String,
        /// Comparison.
        op: CmpOp,
        /// Right-hand side in bytes.
        value: u64,
        /// The filter's text.
        span: Span,
    },
    /// `name = ip("…")` / `name != ip("…")`.
    Ip {
        /// Label name.
        name: String,
        /// `true` for `!=`.
        negated: bool,
        /// The address, CIDR or range pattern.
        pattern: String,
        /// The filter's text.
        span: Span,
    },
}

/// One assignment of `label_format`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LabelFmt {
    /// Target label.
    pub dst: String,
    /// Source.
    pub value: LabelFmtValue,
}

/// The right-hand side of a `label_format` assignment.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LabelFmtValue {
    /// `dst=src`: rename label `src` to `dst`.
    Rename(String),
    /// `dst="{{…}}"`: set `dst` from a Go text/template.
    Template(String),
}

/// An entry of `drop`/`keep`: a bare label name, or a matcher that must also match.
#[derive(Debug, Clone, PartialEq)]
pub enum NamedMatcher {
    /// `name`
    Name(String),
    /// `name="v"`, `name=~"re"`, …
    Matcher(Matcher),
}

/// Conversion applied by `unwrap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Conversion {
    /// `unwrap x`: `strconv.ParseFloat`.
    None,
    /// `unwrap bytes(x)`: `humanize.ParseBytes`.
    Bytes,
    /// `unwrap duration(x)`: Go duration, in seconds.
    Duration,
    /// `unwrap duration_seconds(x)`: same as `duration`.
    DurationSeconds,
}

/// `| unwrap [conv(]label[)] [| labelFilter …]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Unwrap {
    /// The label whose value becomes the sample value.
    pub label: String,
    /// How the value is converted.
    pub conversion: Conversion,
    /// Label filters written after the unwrap (applied after extraction).
    pub post_filters: Vec<LabelFilterExpr>,
    /// The unwrap's text.
    pub span: Span,
}

/// A log range: `{…} | pipeline [| unwrap x] [5m] [offset 1h]`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRange {
    /// The selector and pipeline.
    pub log: LogExpr,
    /// Window length in nanoseconds.
    pub range: i64,
    /// Offset in nanoseconds (0 when absent); may be negative.
    pub offset: i64,
    /// The unwrap, for aggregations over label values.
    pub unwrap: Option<Unwrap>,
    /// The range's text.
    pub span: Span,
}

/// A range aggregation function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RangeOp {
    /// `count_over_time`
    CountOverTime,
    /// `rate`
    Rate,
    /// `rate_counter`
    RateCounter,
    /// `bytes_over_time`
    BytesOverTime,
    /// `bytes_rate`
    BytesRate,
    /// `avg_over_time`
    AvgOverTime,
    /// `sum_over_time`
    SumOverTime,
    /// `min_over_time`
    MinOverTime,
    /// `max_over_time`
    MaxOverTime,
    /// `stdvar_over_time`
    StdvarOverTime,
    /// `stddev_over_time`
    StddevOverTime,
    /// `quantile_over_time`
    QuantileOverTime,
    /// `first_over_time`
    FirstOverTime,
    /// `last_over_time`
    LastOverTime,
    /// `absent_over_time`
    AbsentOverTime,
}

impl RangeOp {
    /// The function name.
    pub fn name(self) -> &'static str {
        match self {
            RangeOp::CountOverTime => "count_over_time",
            RangeOp::Rate => "rate",
            RangeOp::RateCounter => "rate_counter",
            RangeOp::BytesOverTime => "bytes_over_time",
            RangeOp::BytesRate => "bytes_rate",
            RangeOp::AvgOverTime => "avg_over_time",
            RangeOp::SumOverTime => "sum_over_time",
            RangeOp::MinOverTime => "min_over_time",
            RangeOp::MaxOverTime => "max_over_time",
            RangeOp::StdvarOverTime => "stdvar_over_time",
            RangeOp::StddevOverTime => "stddev_over_time",
            RangeOp::QuantileOverTime => "quantile_over_time",
            RangeOp::FirstOverTime => "first_over_time",
            RangeOp::LastOverTime => "last_over_time",
            RangeOp::AbsentOverTime => "absent_over_time",
        }
    }
}

/// A vector aggregation operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VectorOp {
    /// `sum`
    Sum,
    /// `avg`
    Avg,
    /// `min`
    Min,
    /// `max`
    Max,
    /// `stddev`
    Stddev,
    /// `stdvar`
    Stdvar,
    /// `count`
    Count,
    /// `topk(k, …)`
    Topk,
    /// `bottomk(k, …)`
    Bottomk,
    /// `sort`
    Sort,
    /// `sort_desc`
    SortDesc,
    /// `approx_topk(k, …)`
    ApproxTopk,
}

impl VectorOp {
    /// The operator name.
    pub fn name(self) -> &'static str {
        match self {
            VectorOp::Sum => "sum",
            VectorOp::Avg => "avg",
            VectorOp::Min => "min",
            VectorOp::Max => "max",
            VectorOp::Stddev => "stddev",
            VectorOp::Stdvar => "stdvar",
            VectorOp::Count => "count",
            VectorOp::Topk => "topk",
            VectorOp::Bottomk => "bottomk",
            VectorOp::Sort => "sort",
            VectorOp::SortDesc => "sort_desc",
            VectorOp::ApproxTopk => "approx_topk",
        }
    }
}

/// `by (…)` or `without (…)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Grouping {
    /// `true` for `without`.
    pub without: bool,
    /// The labels (possibly empty: `by ()` aggregates everything into one series).
    pub labels: Vec<String>,
}

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinOpKind {
    /// `or` (set union)
    Or,
    /// `and` (set intersection)
    And,
    /// `unless` (set difference)
    Unless,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/` (division by zero gives NaN in Loki)
    Div,
    /// `%` (modulo by zero gives NaN in Loki)
    Mod,
    /// `^`
    Pow,
    /// `==`
    CmpEq,
    /// `!=`
    Neq,
    /// `>`
    Gt,
    /// `>=`
    Gte,
    /// `<`
    Lt,
    /// `<=`
    Lte,
}

impl BinOpKind {
    /// The operator text.
    pub fn as_str(self) -> &'static str {
        match self {
            BinOpKind::Or => "or",
            BinOpKind::And => "and",
            BinOpKind::Unless => "unless",
            BinOpKind::Add => "+",
            BinOpKind::Sub => "-",
            BinOpKind::Mul => "*",
            BinOpKind::Div => "/",
            BinOpKind::Mod => "%",
            BinOpKind::Pow => "^",
            BinOpKind::CmpEq => "==",
            BinOpKind::Neq => "!=",
            BinOpKind::Gt => ">",
            BinOpKind::Gte => ">=",
            BinOpKind::Lt => "<",
            BinOpKind::Lte => "<=",
        }
    }

    /// Binding strength (1 = `or` … 6 = `^`), Loki's yacc precedence.
    pub fn precedence(self) -> u8 {
        match self {
            BinOpKind::Or => 1,
            BinOpKind::And | BinOpKind::Unless => 2,
            BinOpKind::CmpEq
            | BinOpKind::Neq
            | BinOpKind::Gt
            | BinOpKind::Gte
            | BinOpKind::Lt
            | BinOpKind::Lte => 3,
            BinOpKind::Add | BinOpKind::Sub => 4,
            BinOpKind::Mul | BinOpKind::Div | BinOpKind::Mod => 5,
            BinOpKind::Pow => 6,
        }
    }

    /// `and`, `or`, `unless`.
    pub fn is_set_op(self) -> bool {
        matches!(self, BinOpKind::Or | BinOpKind::And | BinOpKind::Unless)
    }

    /// `==`, `!=`, `>`, `>=`, `<`, `<=`.
    pub fn is_comparison(self) -> bool {
        self.precedence() == 3
    }
}

/// `group_left`/`group_right` of a vector matching.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Group {
    /// One-to-one matching.
    #[default]
    None,
    /// `group_left (labels…)`: many-to-one, copying `labels` from the right side.
    Left(Vec<String>),
    /// `group_right (labels…)`: one-to-many.
    Right(Vec<String>),
}

/// `on (…)` / `ignoring (…)` with an optional `group_left`/`group_right`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VectorMatching {
    /// `true` for `on`, `false` for `ignoring`.
    pub on: bool,
    /// The matching labels.
    pub labels: Vec<String>,
    /// Cardinality modifier.
    pub group: Group,
}

/// A range aggregation: `rate({…}[5m])`, `quantile_over_time(0.99, … | unwrap x [5m]) by (a)`.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeAggregation {
    /// The function.
    pub op: RangeOp,
    /// The log range it aggregates.
    pub log: LogRange,
    /// The parameter (only `quantile_over_time`, where it is required).
    pub param: Option<f64>,
    /// `by`/`without`, allowed for avg/min/max/stddev/stdvar/quantile/first/last only.
    pub grouping: Option<Grouping>,
    /// The expression's text.
    pub span: Span,
}

/// A vector aggregation: `sum by (a) (…)`, `topk(5, …)`.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorAggregation {
    /// The operator.
    pub op: VectorOp,
    /// The grouping; without one it is `by ()` (aggregate everything), as in Loki.
    pub grouping: Grouping,
    /// `k` of `topk`/`bottomk`/`approx_topk` (always a positive integer).
    pub param: Option<i64>,
    /// The aggregated expression.
    pub inner: Box<SampleExpr>,
    /// The expression's text.
    pub span: Span,
}

/// A binary operation.
#[derive(Debug, Clone, PartialEq)]
pub struct BinOp {
    /// The operator.
    pub op: BinOpKind,
    /// Left operand.
    pub lhs: Box<SampleExpr>,
    /// Right operand.
    pub rhs: Box<SampleExpr>,
    /// `bool` after a comparison: return 0/1 instead of filtering.
    pub bool_modifier: bool,
    /// `on`/`ignoring`/`group_*`; `None` is one-to-one matching on all labels.
    pub matching: Option<VectorMatching>,
    /// The expression's text.
    pub span: Span,
}

/// `label_replace(v, "dst", "replacement", "src", "regex")`.
#[derive(Debug, Clone)]
pub struct LabelReplace {
    /// The expression whose series are relabelled.
    pub inner: Box<SampleExpr>,
    /// Destination label.
    pub dst: String,
    /// Replacement, with `$1`/`${name}` references.
    pub replacement: String,
    /// Source label.
    pub src: String,
    /// The regex source.
    pub regex: String,
    /// `^(?:regex)$`, compiled.
    pub compiled: Regex,
    /// The expression's text.
    pub span: Span,
}

impl PartialEq for LabelReplace {
    fn eq(&self, o: &LabelReplace) -> bool {
        self.inner == o.inner
            && self.dst == o.dst
            && self.replacement == o.replacement
            && self.src == o.src
            && self.regex == o.regex
    }
}

/// A metric expression.
#[derive(Debug, Clone, PartialEq)]
pub enum SampleExpr {
    /// `rate(…)`, `count_over_time(…)`, …
    RangeAggregation(RangeAggregation),
    /// `sum(…)`, `topk(…)`, …
    VectorAggregation(VectorAggregation),
    /// `a + b`, `a > bool b`, `a and on (x) b`, …
    BinOp(BinOp),
    /// A number (a scalar). Literal-only arithmetic is folded into one literal.
    Literal {
        /// The value.
        value: f64,
        /// Its text.
        span: Span,
    },
    /// `vector(N)`: one series without labels.
    Vector {
        /// The value.
        value: f64,
        /// Its text.
        span: Span,
    },
    /// `label_replace(…)`.
    LabelReplace(LabelReplace),
}

impl SampleExpr {
    /// The expression's text.
    pub fn span(&self) -> Span {
        match self {
            SampleExpr::RangeAggregation(r) => r.span,
            SampleExpr::VectorAggregation(v) => v.span,
            SampleExpr::BinOp(b) => b.span,
            SampleExpr::Literal { span, .. } | SampleExpr::Vector { span, .. } => *span,
            SampleExpr::LabelReplace(l) => l.span,
        }
    }
}

impl SampleExpr {
    /// The stream selectors (with their pipelines) the expression reads,
    /// left to right.
    pub fn selectors(&self) -> Vec<&LogExpr> {
        let mut out = Vec::new();
        self.collect_selectors(&mut out);
        out
    }

    fn collect_selectors<'a>(&'a self, out: &mut Vec<&'a LogExpr>) {
        match self {
            SampleExpr::RangeAggregation(r) => out.push(&r.log.log),
            SampleExpr::VectorAggregation(v) => v.inner.collect_selectors(out),
            SampleExpr::BinOp(b) => {
                b.lhs.collect_selectors(out);
                b.rhs.collect_selectors(out);
            }
            SampleExpr::LabelReplace(l) => l.inner.collect_selectors(out),
            SampleExpr::Literal { .. } | SampleExpr::Vector { .. } => {}
        }
    }
}

impl Expr {
    /// The stream selectors (with their pipelines) the query reads.
    pub fn selectors(&self) -> Vec<&LogExpr> {
        match self {
            Expr::Log(l) => vec![l],
            Expr::Sample(s) => s.selectors(),
        }
    }

    /// The expression's text.
    pub fn span(&self) -> Span {
        match self {
            Expr::Log(l) => l.span,
            Expr::Sample(s) => s.span(),
        }
    }
}
