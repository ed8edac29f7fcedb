//! The LogQL log pipeline: everything that happens to one log line after stream
//! selection — line filters, parsers, label filters, formatters, `drop`/`keep`,
//! `decolorize` — and the sample extraction of `unwrap`, with Grafana Loki 3.x's
//! semantics (`pkg/logql/log`).
//!
//! # Use
//!
//! ```
//! use lokal::engine::pipeline::Pipeline;
//! use lokal::logql::{parse_expr, Expr};
//! use lokal::model::Labels;
//!
//! let Expr::Log(q) = parse_expr(r#"{app="api"} |= "err" | logfmt | status >= 500"#).unwrap() else {
//!     unreachable!()
//! };
//! let pipeline = Pipeline::new(&q.pipeline).unwrap();
//! let mut stream = pipeline.for_stream(&Labels::from_pairs([("app", "api")]));
//! let (line, labels) = stream.process(0, b"level=error status=503 err=timeout").unwrap();
//! assert_eq!(&*line, b"level=error status=503 err=timeout");
//! assert_eq!(labels.to_string(), r#"{app="api", err="timeout", level="error", status="503"}"#);
//! assert!(stream.process(0, b"level=info status=200").is_none());
//! ```
//!
//! A [`Pipeline`] is compiled once per query (`Send + Sync`, shareable across threads);
//! [`Pipeline::for_stream`] makes a [`StreamPipeline`] per stream and thread, which
//! owns every buffer the stages need, so that processing a line allocates nothing in
//! the common case. Results are [`LabelsResult`]s: sorted label sets with a
//! precomputed hash, cached per stream, so grouping samples by series is a hash lookup.
//!
//! # Errors
//!
//! Stages that fail on a line do not drop it: they set `__error__` (and
//! `__error_details__`) as Loki does — `JSONParserErr`, `LogfmtParserErr`,
//! `LabelFilterErr`, `TemplateFormatErr`, `SampleExtractionErr` — and the line goes on.
//! Errors Loki reports while *building* the pipeline (bad line-filter regex, bad `ip()`
//! pattern, named captures in `|>`, invalid templates, …) are [`PipelineError`]s.

mod ip;
mod json;
mod label_filter;
mod labels;
mod line_filter;
mod logfmt;
mod logql_funcs;
mod pattern;
mod util;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use regex::bytes::{CaptureLocations, Regex};

use crate::logql::{Conversion, LineFilter, NamedMatcher, Parser, Stage, Unwrap};
use crate::model::Labels;

pub use labels::{LabelsResult, ERROR_DETAILS_LABEL, ERROR_LABEL, PRESERVE_ERROR_LABEL};
// Go's regex syntax in Rust's, for other users of Go regexes (the ruler's templates).
pub use line_filter::{go_compat as go_regex, go_regex_error};
pub use logfmt::Decoder as LogfmtDecoder;
pub use logql_funcs::{functions as template_functions, Entry as TemplateEntry, Logql};

use crate::go::template::Data;
use json::{JsonExprParser, JsonScratch};
use label_filter::LabelFilter;
use labels::{Hints, LabelsBuilder, Pairs, DUPLICATE_SUFFIX};
use line_filter::CompiledLineFilter;
use logfmt::{LogfmtExprParser, LogfmtParser, LogfmtScratch};
use logql_funcs::{Entry, Env, LogqlTemplate};
use pattern::Pattern;

/// `__error__` of a failed `line_format`/`label_format` template.
pub const ERR_TEMPLATE_FORMAT: &str = "TemplateFormatErr";
/// `__error__` of a failed `unwrap` conversion.
pub const ERR_SAMPLE_EXTRACTION: &str = "SampleExtractionErr";
/// `__error__` of a failed `json`/`unpack` parse.
pub const ERR_JSON: &str = json::ERR_JSON;
/// `__error__` of a failed `logfmt --strict` parse.
pub const ERR_LOGFMT: &str = logfmt::ERR_LOGFMT;
/// `__error__` of a numeric/duration/bytes label filter on an unconvertible value.
pub const ERR_LABEL_FILTER: &str = label_filter::ERR_LABEL_FILTER;

/// An error Loki reports when it builds the pipeline of a query; the message is Loki's
/// (`error parsing regexp: …`, `ip: invalid operation`, `invalid line template: …`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PipelineError(pub String);

/// A `| regexp` parser: the regex and its named groups (group index, label name).
#[derive(Debug, Clone)]
struct RegexpParser {
    re: Regex,
    names: Vec<(usize, String)>,
}

impl RegexpParser {
    fn new(re: &str) -> Result<RegexpParser, String> {
        let (src, renamed) = crate::logql::go_capture_names(re)?;
        let regex = line_filter::compile_regex(&src)?;
        let mut names: Vec<(usize, String)> = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        for (i, n) in regex.capture_names().enumerate() {
            let Some(n) = n else { continue };
            let n = crate::logql::original_capture_name(n, &renamed);
            if seen.contains(&n) {
                return Err(format!("duplicate extracted label name '{n}'"));
            }
            seen.push(n);
            // Loki 3.7.6 accepts any UTF-8 name and sanitises it into a
            // label name (`1a` becomes `_1a`).
            let mut key = Vec::new();
            util::sanitize_key_into(n.as_bytes(), &mut key);
            names.push((i, String::from_utf8(key).expect("capture names are ASCII")));
        }
        if names.is_empty() {
            return Err("at least one named capture must be supplied".into());
        }
        Ok(RegexpParser { re: regex, names })
    }
}

/// One `label_format` assignment.
#[derive(Debug, Clone)]
enum LabelFmt {
    Rename { dst: String, src: String },
    Template { dst: String, tmpl: LogqlTemplate },
}

/// A compiled stage.
#[derive(Debug, Clone)]
enum CStage {
    LineFilter(CompiledLineFilter),
    Json,
    JsonExpr(JsonExprParser),
    Logfmt(LogfmtParser),
    LogfmtExpr(LogfmtExprParser),
    Regexp(RegexpParser),
    Pattern(Pattern),
    Unpack,
    LabelFilter(LabelFilter),
    LineFormat {
        tmpl: LogqlTemplate,
        simple: Option<String>,
    },
    LabelFormat(Vec<LabelFmt>),
    Drop(Vec<NamedMatcher>),
    Keep(Vec<NamedMatcher>),
    Decolorize,
}

#[derive(Debug)]
struct Inner {
    stages: Vec<CStage>,
    leading: Vec<LineFilter>,
    /// Label names the stages read; `None` when some stage may read any label.
    referenced: Option<Vec<String>>,
}

/// A compiled log pipeline (one per query). Cheap to clone; `Send + Sync`.
#[derive(Debug, Clone)]
pub struct Pipeline {
    inner: Arc<Inner>,
    hints: Option<Vec<String>>,
}

/// Loki's ANSI colour regex (courtesy of acarl005/stripansi), with `\d` spelled ASCII
/// as in Go.
fn ansi_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"[\x{1B}\x{9B}][\[\]()#;?]*(?:(?:(?:[a-zA-Z0-9]*(?:;[a-zA-Z0-9]*)*)?\x{07})|(?:(?:[0-9]{1,4}(?:;[0-9]{0,4})*)?[0-9A-PRZcf-ntqry=><~]))",
        )
        .expect("static regex")
    })
}

/// `line` without ANSI colour codes, as LogQL's `decolorize` (and promtail's
/// stage of that name) strips them.
pub fn decolorize(line: &[u8]) -> Cow<'_, [u8]> {
    ansi_regex().replace_all(line, &b""[..])
}

fn push_names(out: &mut Option<Vec<String>>, names: impl IntoIterator<Item = String>) {
    if let Some(v) = out {
        v.extend(names);
    }
}

impl Pipeline {
    /// Compiles the stages of a log query (`LogExpr::pipeline`), failing with Loki's
    /// message where Loki fails when it builds the pipeline.
    pub fn new(stages: &[Stage]) -> Result<Pipeline, PipelineError> {
        let mut out = Vec::with_capacity(stages.len());
        let mut leading = Vec::new();
        let mut line_changed = false;
        let mut referenced: Option<Vec<String>> = Some(Vec::new());
        for st in stages {
            // Loki's `NewStageError`: the stage in canonical form, then why.
            let err = |e: String| PipelineError(format!("stage '{st}' : {e}"));
            let c = match st {
                Stage::LineFilter(f) => match CompiledLineFilter::new(f).map_err(err)? {
                    Some(c) => {
                        if !line_changed {
                            leading.push(f.clone());
                        }
                        CStage::LineFilter(c)
                    }
                    None => continue,
                },
                Stage::Parser { parser, .. } => match parser {
                    Parser::Json { params } if params.is_empty() => CStage::Json,
                    Parser::Json { params } => {
                        CStage::JsonExpr(JsonExprParser::new(params).map_err(err)?)
                    }
                    Parser::Logfmt {
                        strict,
                        keep_empty,
                        params,
                    } if params.is_empty() => CStage::Logfmt(LogfmtParser {
                        strict: *strict,
                        keep_empty: *keep_empty,
                    }),
                    Parser::Logfmt { strict, params, .. } => {
                        CStage::LogfmtExpr(LogfmtExprParser::new(params, *strict).map_err(err)?)
                    }
                    Parser::Regexp(re) => CStage::Regexp(
                        RegexpParser::new(re)
                            .map_err(|e| err(format!("invalid regexp parser: {e}")))?,
                    ),
                    Parser::Pattern(p) => CStage::Pattern(
                        Pattern::parser(p)
                            .map_err(|e| err(format!("invalid pattern parser: {e}")))?,
                    ),
                    Parser::Unpack => {
                        line_changed = true;
                        CStage::Unpack
                    }
                },
                Stage::LabelFilter { filter, .. } => {
                    let f = LabelFilter::new(filter).map_err(err)?;
                    let mut names = Vec::new();
                    f.names(&mut names);
                    push_names(&mut referenced, names);
                    CStage::LabelFilter(f)
                }
                Stage::LineFormat { template, .. } => {
                    line_changed = true;
                    let tmpl = logql_funcs::parse("line", template)
                        .map_err(|e| err(format!("invalid line template: {e}")))?;
                    match tmpl.fields() {
                        Some(f) => push_names(&mut referenced, f),
                        None => referenced = None,
                    }
                    let simple = tmpl.simple_key().map(str::to_string);
                    CStage::LineFormat { tmpl, simple }
                }
                Stage::LabelFormat { formats, .. } => {
                    let mut fmts = Vec::with_capacity(formats.len());
                    for (i, f) in formats.iter().enumerate() {
                        if f.dst == ERROR_LABEL {
                            return Err(err(format!("{ERROR_LABEL} cannot be formatted")));
                        }
                        if formats[..i].iter().any(|g| g.dst == f.dst) {
                            return Err(err(format!(
                                "multiple label name '{}' not allowed in a single format operation",
                                f.dst
                            )));
                        }
                        fmts.push(match &f.value {
                            crate::logql::LabelFmtValue::Rename(src) => {
                                push_names(&mut referenced, [src.clone()]);
                                LabelFmt::Rename {
                                    dst: f.dst.clone(),
                                    src: src.clone(),
                                }
                            }
                            crate::logql::LabelFmtValue::Template(t) => {
                                let tmpl = logql_funcs::parse("label", t).map_err(|e| {
                                    err(format!("invalid template for label '{}': {e}", f.dst))
                                })?;
                                match tmpl.fields() {
                                    Some(names) => push_names(&mut referenced, names),
                                    None => referenced = None,
                                }
                                LabelFmt::Template {
                                    dst: f.dst.clone(),
                                    tmpl,
                                }
                            }
                        });
                    }
                    CStage::LabelFormat(fmts)
                }
                Stage::Drop { labels, .. } => {
                    push_names(&mut referenced, labels.iter().map(named_matcher_name));
                    CStage::Drop(labels.clone())
                }
                Stage::Keep { labels, .. } => {
                    push_names(&mut referenced, labels.iter().map(named_matcher_name));
                    CStage::Keep(labels.clone())
                }
                Stage::Decolorize { .. } => {
                    line_changed = true;
                    CStage::Decolorize
                }
            };
            out.push(c);
        }
        if let Some(r) = &mut referenced {
            r.sort();
            r.dedup();
        }
        Ok(Pipeline {
            inner: Arc::new(Inner {
                stages: out,
                leading,
                referenced,
            }),
            hints: None,
        })
    }

    /// Whether the pipeline does nothing (every line passes unchanged with its stream
    /// labels).
    pub fn is_noop(&self) -> bool {
        self.inner.stages.is_empty()
    }

    /// The line filters that run on the original line: those before the first stage
    /// that rewrites the line (`line_format`, `unpack`, `decolorize`). They all must pass
    /// for a line to survive, so the engine may test them on a whole decompressed block
    /// (e.g. `memmem` for `|=` literals) before calling [`StreamPipeline::process`],
    /// which checks them again. `|= ""` is left out (Loki drops it).
    pub fn leading_line_filters(&self) -> &[LineFilter] {
        &self.inner.leading
    }

    /// Label names the stages read (label filters, templates' fields, renames,
    /// `drop`/`keep`), sorted; `None` when a stage may read any label (a template that
    /// uses `.` as a whole or `with`/`range`).
    pub fn referenced_labels(&self) -> Option<&[String]> {
        self.inner.referenced.as_deref()
    }

    /// Restricts what parsers extract to `names` plus [`Self::referenced_labels`]
    /// (Loki's parser hints). For metric queries grouped `by (…)`, pass the grouping
    /// labels (and the unwrapped label): only those can reach the result. `None`, the
    /// default, extracts everything (log queries, `without`, no grouping). Affects only
    /// stream pipelines made afterwards.
    pub fn set_extraction_hints(&mut self, names: Option<&[String]>) {
        self.hints = match (names, &self.inner.referenced) {
            (Some(n), Some(r)) => {
                let mut v: Vec<String> = n.iter().chain(r.iter()).cloned().collect();
                v.sort();
                v.dedup();
                Some(v)
            }
            _ => None,
        };
    }

    /// Checks the post-`unwrap` label filters (an invalid `ip()` pattern there is
    /// Loki's only build-time error). [`StreamPipeline::extract_sample`] drops every
    /// sample of an unwrap that fails this check.
    pub fn check_unwrap(unwrap: &Unwrap) -> Result<(), PipelineError> {
        for f in &unwrap.post_filters {
            LabelFilter::new(f).map_err(PipelineError)?;
        }
        Ok(())
    }

    /// The per-stream pipeline for a stream with these labels.
    pub fn for_stream(&self, labels: &Labels) -> StreamPipeline {
        let hints = Hints::new(self.hints.as_deref());
        StreamPipeline {
            inner: self.inner.clone(),
            lb: LabelsBuilder::new(labels.pairs(), hints),
            line_buf: Vec::new(),
            tmp_buf: Vec::new(),
            owned: false,
            json: JsonScratch::default(),
            logfmt: LogfmtScratch::default(),
            caps: Vec::new(),
            locs: self
                .inner
                .stages
                .iter()
                .map(|s| match s {
                    CStage::Regexp(r) => Some(r.re.capture_locations()),
                    _ => None,
                })
                .collect(),
            pending: Pairs::default(),
            snapshot: Pairs::default(),
            names: Pairs::default(),
            value: String::new(),
            unwrap_cache: None,
        }
    }
}

fn named_matcher_name(m: &NamedMatcher) -> String {
    match m {
        NamedMatcher::Name(n) => n.clone(),
        NamedMatcher::Matcher(m) => m.name.clone(),
    }
}

/// The compiled post-filters of the last `unwrap` seen, keyed by its address.
#[derive(Debug)]
struct UnwrapCache {
    addr: usize,
    unwrap: Unwrap,
    filters: Option<Vec<LabelFilter>>,
}

/// A pipeline bound to one stream: holds the stream's labels and every buffer, so that
/// processing lines allocates nothing once warm. Not shared between threads; make one
/// per stream and thread with [`Pipeline::for_stream`].
#[derive(Debug)]
pub struct StreamPipeline {
    inner: Arc<Inner>,
    lb: LabelsBuilder,
    /// The current line when a stage rewrote it.
    line_buf: Vec<u8>,
    tmp_buf: Vec<u8>,
    owned: bool,
    json: JsonScratch,
    logfmt: LogfmtScratch,
    caps: Vec<(usize, std::ops::Range<usize>)>,
    /// Capture locations for each `regexp` stage (by stage index).
    locs: Vec<Option<CaptureLocations>>,
    pending: Pairs,
    snapshot: Pairs,
    names: Pairs,
    value: String,
    unwrap_cache: Option<UnwrapCache>,
}

/// The labels of the line being processed, as template data.
struct BuilderData<'a>(&'a LabelsBuilder);

impl Data for BuilderData<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        match name {
            ERROR_LABEL => Some(self.0.err()).filter(|e| !e.is_empty()),
            ERROR_DETAILS_LABEL => Some(self.0.err_details()).filter(|e| !e.is_empty()),
            _ => self.0.get(name),
        }
    }

    fn sorted(&self) -> Vec<(String, String)> {
        let mut v = Vec::new();
        self.0
            .for_each(|n, x| v.push((n.to_string(), x.to_string())));
        v.sort();
        v
    }

    fn len(&self) -> usize {
        let mut n = 0;
        self.0.for_each(|_, _| n += 1);
        n
    }
}

/// A label snapshot (label_format templates all see the labels as they were when the
/// stage's first template ran).
struct PairsData<'a>(&'a Pairs);

impl Data for PairsData<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name)
    }

    fn sorted(&self) -> Vec<(String, String)> {
        let mut v = self.0.as_slice().to_vec();
        v.sort();
        v
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

fn parsed_name<'a>(lb: &LabelsBuilder, name: &'a str) -> Option<Cow<'a, str>> {
    let name: Cow<str> = if lb.clashes(name) {
        Cow::Owned(format!("{name}{DUPLICATE_SUFFIX}"))
    } else {
        Cow::Borrowed(name)
    };
    (lb.hints.should_extract(&name) && !lb.extracted(&name)).then_some(name)
}

impl StreamPipeline {
    /// Binds the pipeline to another stream's labels, as
    /// [`Pipeline::for_stream`] would make it, keeping its buffers (see
    /// [`LabelsBuilder::rebase`]).
    pub fn rebind(&mut self, labels: &[(String, String)]) {
        self.lb.rebase(labels);
    }

    /// The stream labels' result (what a line yields when no stage changes labels).
    pub fn base_labels(&self) -> &LabelsResult {
        self.lb.base_result()
    }

    /// Runs every stage on one entry. `None` when the line is filtered out; otherwise
    /// the (possibly rewritten) line and its labels: stream labels, parsed and formatted
    /// labels, and `__error__`/`__error_details__` when set.
    pub fn process<'a>(
        &'a mut self,
        ts: i64,
        line: &'a [u8],
    ) -> Option<(Cow<'a, [u8]>, &'a LabelsResult)> {
        self.process_with_metadata::<&str, &str>(ts, line, &[])
    }

    /// [`Self::process`] for an entry with structured metadata: metadata joins the
    /// labels (a name clashing with a stream label becomes `name_extracted`), and parsed
    /// labels clashing with it are renamed the same way.
    pub fn process_with_metadata<'a, K: AsRef<str>, V: AsRef<str>>(
        &'a mut self,
        ts: i64,
        line: &'a [u8],
        metadata: &[(K, V)],
    ) -> Option<(Cow<'a, [u8]>, &'a LabelsResult)> {
        if !self.run(ts, line, metadata) {
            return None;
        }
        let out: &'a [u8] = if self.owned { &self.line_buf } else { line };
        Some((Cow::Borrowed(out), self.lb.result(None)))
    }

    /// For metric queries: the sample of one entry. Without `unwrap` the value is 1
    /// (count; the engine computes bytes from the line itself). With `unwrap`, the value
    /// of the label converted as asked; a line without the label, or with it empty, gives
    /// no sample; a failed conversion gives a sample of 0 with
    /// `__error__="SampleExtractionErr"`, so the engine can report Loki's pipeline error
    /// unless a post-filter (`| unwrap x | __error__=""`) drops it. The labels are the
    /// line's labels without the unwrapped label — Loki's default `without (label)`
    /// grouping — unless an error is set, in which case they are complete as in Loki.
    /// Use [`Self::extract_sample_keep_unwrapped`] when a `by (…)` grouping names the
    /// unwrapped label.
    pub fn extract_sample<'a>(
        &'a mut self,
        ts: i64,
        line: &'a [u8],
        unwrap: Option<&Unwrap>,
    ) -> Option<(f64, &'a LabelsResult)> {
        self.extract_impl::<&str, &str>(ts, line, &[], unwrap, false)
    }

    /// [`Self::extract_sample`] keeping the unwrapped label in the labels.
    pub fn extract_sample_keep_unwrapped<'a>(
        &'a mut self,
        ts: i64,
        line: &'a [u8],
        unwrap: Option<&Unwrap>,
    ) -> Option<(f64, &'a LabelsResult)> {
        self.extract_impl::<&str, &str>(ts, line, &[], unwrap, true)
    }

    /// [`Self::extract_sample`] for an entry with structured metadata.
    pub fn extract_sample_with_metadata<'a, K: AsRef<str>, V: AsRef<str>>(
        &'a mut self,
        ts: i64,
        line: &'a [u8],
        metadata: &[(K, V)],
        unwrap: Option<&Unwrap>,
        keep_unwrapped: bool,
    ) -> Option<(f64, &'a LabelsResult)> {
        self.extract_impl(ts, line, metadata, unwrap, keep_unwrapped)
    }

    fn extract_impl<'a, K: AsRef<str>, V: AsRef<str>>(
        &'a mut self,
        ts: i64,
        line: &'a [u8],
        metadata: &[(K, V)],
        unwrap: Option<&Unwrap>,
        keep_unwrapped: bool,
    ) -> Option<(f64, &'a LabelsResult)> {
        if !self.run(ts, line, metadata) {
            return None;
        }
        let Some(u) = unwrap else {
            return Some((1.0, self.lb.result(None)));
        };
        let raw = self.lb.get(&u.label).unwrap_or("");
        if raw.is_empty() {
            return None;
        }
        let conv = match u.conversion {
            Conversion::None => crate::go::strconv::parse_float(raw),
            Conversion::Bytes => crate::go::humanize::parse_bytes(raw).map(|b| b as f64),
            Conversion::Duration | Conversion::DurationSeconds => {
                crate::go::duration::parse_go_duration(raw).map(|d| d as f64 / 1e9)
            }
        };
        let value = match conv {
            Ok(v) => v,
            Err(e) => {
                self.lb.set_err(ERR_SAMPLE_EXTRACTION);
                self.lb.set_err_details(&e);
                0.0
            }
        };
        if !u.post_filters.is_empty() {
            let addr = u as *const Unwrap as usize;
            let fresh = match &self.unwrap_cache {
                Some(c) => c.addr != addr || c.unwrap != *u,
                None => true,
            };
            if fresh {
                let filters = u
                    .post_filters
                    .iter()
                    .map(LabelFilter::new)
                    .collect::<Result<Vec<_>, _>>()
                    .ok();
                self.unwrap_cache = Some(UnwrapCache {
                    addr,
                    unwrap: u.clone(),
                    filters,
                });
            }
            let cache = self.unwrap_cache.as_ref()?;
            for f in cache.filters.as_ref()? {
                if !f.process(&mut self.lb) {
                    return None;
                }
            }
        }
        let skip = (!keep_unwrapped && !self.lb.has_err()).then_some(u.label.as_str());
        Some((value, self.lb.result(skip)))
    }

    /// Runs the stages; false when the line is filtered out.
    fn run<K: AsRef<str>, V: AsRef<str>>(
        &mut self,
        ts: i64,
        line: &[u8],
        metadata: &[(K, V)],
    ) -> bool {
        let StreamPipeline {
            inner,
            lb,
            line_buf,
            tmp_buf,
            owned,
            json,
            logfmt,
            caps,
            locs,
            pending,
            snapshot,
            names,
            value,
            ..
        } = self;
        lb.reset();
        *owned = false;
        for (k, v) in metadata {
            lb.add_metadata(k.as_ref(), v.as_ref());
        }
        for (si, st) in inner.stages.iter().enumerate() {
            let cur: &[u8] = if *owned { line_buf } else { line };
            match st {
                CStage::LineFilter(f) => {
                    if !f.keep(cur) {
                        return false;
                    }
                }
                CStage::Json => json::parse_all(cur, lb, json),
                CStage::JsonExpr(p) => p.process(cur, lb, json),
                CStage::Logfmt(p) => p.process(cur, lb, logfmt),
                CStage::LogfmtExpr(p) => p.process(cur, lb, logfmt),
                CStage::Regexp(r) => {
                    let Some(loc) = locs[si].as_mut() else {
                        continue;
                    };
                    if r.re.captures_read(loc, cur).is_none() {
                        continue;
                    }
                    for (gi, name) in &r.names {
                        let Some(key) = parsed_name(lb, name) else {
                            continue;
                        };
                        value.clear();
                        if let Some((a, b)) = loc.get(*gi) {
                            util::push_lossy_spaces(&cur[a..b], value);
                        }
                        lb.set_parsed(&key, value);
                    }
                }
                CStage::Pattern(p) => {
                    p.matches(cur, caps);
                    for (i, r) in caps.iter() {
                        let Some(key) = parsed_name(lb, &p.names()[*i]) else {
                            continue;
                        };
                        value.clear();
                        util::push_lossy_spaces(&cur[r.clone()], value);
                        lb.set_parsed(&key, value);
                    }
                }
                CStage::Unpack => {
                    if json::unpack(cur, lb, json, pending, tmp_buf) {
                        std::mem::swap(line_buf, tmp_buf);
                        *owned = true;
                    }
                }
                CStage::LabelFilter(f) => {
                    if !f.process(lb) {
                        return false;
                    }
                }
                CStage::LineFormat { tmpl, simple } => {
                    tmp_buf.clear();
                    match simple {
                        Some(k) => {
                            if let Some(v) = lb.get(k) {
                                tmp_buf.extend_from_slice(v.as_bytes());
                            }
                        }
                        None => {
                            let env = Env {
                                data: &BuilderData(lb),
                                ctx: &Entry { line: cur, ts },
                            };
                            if let Err(e) = tmpl.execute(&env, tmp_buf) {
                                lb.set_err(ERR_TEMPLATE_FORMAT);
                                lb.set_err_details(&e);
                                continue;
                            }
                        }
                    }
                    std::mem::swap(line_buf, tmp_buf);
                    *owned = true;
                }
                CStage::LabelFormat(fmts) => {
                    let mut snapped = false;
                    for f in fmts {
                        match f {
                            LabelFmt::Rename { dst, src } => {
                                if let Some(v) = lb.get(src) {
                                    value.clear();
                                    value.push_str(v);
                                    lb.set_parsed(dst, value);
                                    lb.del(src);
                                }
                            }
                            LabelFmt::Template { dst, tmpl } => {
                                if !snapped {
                                    snapshot.clear();
                                    lb.for_each(|n, v| snapshot.push(n, v));
                                    snapped = true;
                                }
                                tmp_buf.clear();
                                let env = Env {
                                    data: &PairsData(snapshot),
                                    ctx: &Entry { line: cur, ts },
                                };
                                match tmpl.execute(&env, tmp_buf) {
                                    Ok(()) => {
                                        value.clear();
                                        value.push_str(&String::from_utf8_lossy(tmp_buf));
                                        lb.set_parsed(dst, value);
                                    }
                                    Err(e) => {
                                        lb.set_err(ERR_TEMPLATE_FORMAT);
                                        lb.set_err_details(&e);
                                    }
                                }
                            }
                        }
                    }
                }
                CStage::Drop(ms) => {
                    for m in ms {
                        drop_label(lb, m);
                    }
                }
                CStage::Keep(ms) => {
                    names.clear();
                    lb.for_each(|n, v| names.push(n, v));
                    for (n, v) in names.iter() {
                        if matches!(n, ERROR_LABEL | ERROR_DETAILS_LABEL | PRESERVE_ERROR_LABEL) {
                            continue;
                        }
                        let keep = ms.iter().any(|m| match m {
                            NamedMatcher::Name(k) => k == n,
                            NamedMatcher::Matcher(m) => m.name == n && m.matches(v),
                        });
                        if !keep {
                            lb.del(n);
                        }
                    }
                }
                CStage::Decolorize => {
                    let re = ansi_regex();
                    let mut last = 0;
                    let mut any = false;
                    for m in re.find_iter(cur) {
                        if !any {
                            tmp_buf.clear();
                            any = true;
                        }
                        tmp_buf.extend_from_slice(&cur[last..m.start()]);
                        last = m.end();
                    }
                    if any {
                        tmp_buf.extend_from_slice(&cur[last..]);
                        std::mem::swap(line_buf, tmp_buf);
                        *owned = true;
                    }
                }
            }
        }
        true
    }
}

/// `drop`: by name (dropping `__error__`/`__error_details__` clears the error), or only
/// when the matcher matches the current value (missing labels read as "").
fn drop_label(lb: &mut LabelsBuilder, m: &NamedMatcher) {
    match m {
        NamedMatcher::Name(n) => match n.as_str() {
            ERROR_LABEL => lb.reset_err(),
            ERROR_DETAILS_LABEL => lb.reset_err_details(),
            n => {
                if lb.get(n).is_some() {
                    lb.del(n);
                }
            }
        },
        NamedMatcher::Matcher(m) => match m.name.as_str() {
            ERROR_LABEL => {
                if m.matches(lb.err()) {
                    lb.reset_err();
                }
            }
            ERROR_DETAILS_LABEL => {
                if m.matches(lb.err_details()) {
                    lb.reset_err_details();
                }
            }
            n => {
                if m.matches(lb.get(n).unwrap_or("")) {
                    lb.del(n);
                }
            }
        },
    }
}
