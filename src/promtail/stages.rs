//! Promtail's pipeline stages: each stage's configuration as read from YAML
//! (keys checked, every problem with its line) and what it does to one entry,
//! with promtail's semantics (`clients/pkg/logentry/stages`): parsing stages
//! write the extracted map, `labels`/`output`/`timestamp` read it, and a
//! stage that cannot read what it needs leaves the entry as it is.
//!
//! The stages that hold entries back or keep state between entries
//! (`multiline`, `cri`'s partial lines, `timestamp`'s fudge, `limit`) keep it
//! in [`super::pipeline`]'s per-file state; here they are configuration.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::tz::TimeZone;
use regex::Regex;

use super::jmespath::Expr as Jmes;
use super::value::{Extracted, Val};
use crate::engine::pipeline::{go_regex, template_functions, LogfmtDecoder, Logql};
use crate::go::template::{FuncTable, Template, Value};
use crate::logql::Matcher;
use crate::rules::yaml::{Issue, Kind, Node, Pos, Reader};

/// One configured stage.
#[derive(Debug)]
pub enum Stage {
    /// `regex`: named groups of `expression` into the extracted map.
    Regex {
        /// The expression.
        re: Regex,
        /// Extracted key read instead of the line.
        source: Option<String>,
    },
    /// `json`: JMESPath expressions over the line (or `source`).
    Json {
        /// `(extracted name, expression)`.
        exprs: Vec<(String, Jmes)>,
        /// Extracted key read instead of the line.
        source: Option<String>,
        /// Drop lines that are not JSON objects.
        drop_malformed: bool,
    },
    /// `logfmt`: `mapping` of extracted names to logfmt keys.
    Logfmt {
        /// logfmt key → extracted name.
        keys: BTreeMap<String, String>,
        /// Extracted key read instead of the line.
        source: Option<String>,
    },
    /// `replace`: every match's captured groups replaced by a template.
    Replace {
        /// The expression.
        re: Regex,
        /// Extracted key read (and written) instead of the line.
        source: Option<String>,
        /// The replacement template (`{{ .Value }}` is the captured text).
        template: Template<Logql>,
    },
    /// `template`: a Go template whose output becomes extracted `source`.
    Template {
        /// The extracted key written.
        source: String,
        /// The template.
        template: Template<Logql>,
    },
    /// `timestamp`: the entry's time from an extracted value.
    Timestamp(TimestampStage),
    /// `labels`: label name → extracted key.
    Labels(Vec<(String, String)>),
    /// `structured_metadata`: metadata name → extracted key (or label).
    StructuredMetadata(Vec<(String, String)>),
    /// `static_labels`.
    StaticLabels(Vec<(String, String)>),
    /// `labeldrop`.
    LabelDrop(Vec<String>),
    /// `labelallow`.
    LabelAllow(Vec<String>),
    /// `output`: the line becomes an extracted value.
    Output(String),
    /// `match`.
    Match(Box<MatchStage>),
    /// `drop`.
    Drop(Box<DropStage>),
    /// `multiline`.
    Multiline {
        /// A line that starts an entry.
        first: Regex,
        /// Lines at most in one entry.
        max_lines: u64,
    },
    /// `decolorize`.
    Decolorize,
    /// `pack`.
    Pack {
        /// Labels (extracted keys) packed into the line.
        labels: Vec<String>,
        /// The entry's time becomes the time it was packed.
        ingest_timestamp: bool,
    },
    /// `limit`: a token bucket (`rate` per second, `burst`).
    Limit(LimitStage),
    /// `docker`: promtail's fixed json/labels/timestamp/output pipeline.
    Docker(Arc<super::pipeline::Pipeline>),
    /// `cri`: the CRI log format, partial lines joined.
    Cri(Box<CriStage>),
}

impl Stage {
    /// The stage's name, with its selector for `match` (what the dry run
    /// shows).
    pub fn label(&self) -> String {
        match self {
            Stage::Match(m) => format!("match {}", m.selector),
            other => other.name().to_string(),
        }
    }

    /// The stage's name in promtail's configuration.
    pub fn name(&self) -> &'static str {
        match self {
            Stage::Regex { .. } => "regex",
            Stage::Json { .. } => "json",
            Stage::Logfmt { .. } => "logfmt",
            Stage::Replace { .. } => "replace",
            Stage::Template { .. } => "template",
            Stage::Timestamp(_) => "timestamp",
            Stage::Labels(_) => "labels",
            Stage::StructuredMetadata(_) => "structured_metadata",
            Stage::StaticLabels(_) => "static_labels",
            Stage::LabelDrop(_) => "labeldrop",
            Stage::LabelAllow(_) => "labelallow",
            Stage::Output(_) => "output",
            Stage::Match(_) => "match",
            Stage::Drop(_) => "drop",
            Stage::Multiline { .. } => "multiline",
            Stage::Decolorize => "decolorize",
            Stage::Pack { .. } => "pack",
            Stage::Limit(_) => "limit",
            Stage::Docker(_) => "docker",
            Stage::Cri(_) => "cri",
        }
    }
}

/// `timestamp`'s configuration.
#[derive(Debug)]
pub struct TimestampStage {
    /// The extracted key holding the time.
    pub source: String,
    /// `format` then `fallback_formats`.
    pub formats: Vec<String>,
    /// `location`: the zone of times without an offset.
    pub location: Option<TimeZone>,
    /// `action_on_failure: fudge` (the default): last known time + 1 ns.
    pub fudge: bool,
}

/// `match`'s configuration.
#[derive(Debug)]
pub struct MatchStage {
    /// The selector as written.
    pub selector: String,
    /// The selector's label matchers.
    pub matchers: Vec<Matcher>,
    /// Its line filters, as a LogQL pipeline (none: every line passes).
    pub filter: Option<crate::engine::pipeline::Pipeline>,
    /// `action: keep` runs these stages on matching entries; `drop` has none.
    pub stages: Option<Arc<super::pipeline::Pipeline>>,
    /// `drop_counter_reason` (`match_stage`).
    pub reason: String,
}

/// `drop`'s configuration; every option given must hold for a drop.
#[derive(Debug)]
pub struct DropStage {
    /// Extracted keys.
    pub source: Option<Vec<String>>,
    /// `expression`, or `value` as `^QuoteMeta(value)$`.
    pub regex: Option<Regex>,
    /// Joins the sources' values.
    pub separator: String,
    /// Entries older than this (ns) before now.
    pub older_than: Option<i64>,
    /// Lines longer than this many bytes.
    pub longer_than: Option<u64>,
    /// `drop_counter_reason` (`drop_stage`).
    pub reason: String,
}

/// `limit`'s configuration.
#[derive(Debug)]
pub struct LimitStage {
    /// Tokens per second.
    pub rate: f64,
    /// Bucket size.
    pub burst: f64,
    /// Drop over the rate (else wait for a token).
    pub drop: bool,
    /// One bucket per value of this label.
    pub by_label_name: Option<String>,
}

/// `cri`'s configuration.
#[derive(Debug)]
pub struct CriStage {
    /// The fixed regex/labels/timestamp/output pipeline.
    pub base: Arc<super::pipeline::Pipeline>,
    /// Streams with a partial line held at most.
    pub max_partial_lines: usize,
    /// Cut joined partial lines to this many bytes (0: no limit).
    pub max_partial_line_size: usize,
    /// Whether to cut at `max_partial_line_size`.
    pub truncate: bool,
}

/// The template functions of promtail's `template` and `replace` stages:
/// Loki's (which hold promtail's `ToLower`, `Replace`, `Trim*`,
/// `regexReplaceAll` and the sprig subset) plus `Sha2Hash`.
pub fn functions() -> &'static FuncTable<Logql> {
    static FUNCS: std::sync::LazyLock<FuncTable<Logql>> = std::sync::LazyLock::new(|| {
        let mut t = template_functions().clone();
        t.add("Hash", |_, a| {
            use sha3::Digest;
            crate::go::template::nargs("Hash", &a, 2)?;
            let salt = crate::go::template::arg_str(&a[0])?;
            let input = crate::go::template::arg_str(&a[1])?;
            let d = sha3::Sha3_256::digest(format!("{salt}{input}").as_bytes());
            let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
            Ok(Value::str(&hex))
        });
        t.add("Sha2Hash", |_, a| {
            crate::go::template::nargs("Sha2Hash", &a, 2)?;
            let salt = crate::go::template::arg_str(&a[0])?;
            let input = crate::go::template::arg_str(&a[1])?;
            let d =
                ring::digest::digest(&ring::digest::SHA256, format!("{salt}{input}").as_bytes());
            let hex: String = d.as_ref().iter().map(|b| format!("{b:02x}")).collect();
            Ok(Value::str(&hex))
        });
        t
    });
    &FUNCS
}

/// Reads stage configurations with positions into [`Stage`]s.
pub struct Builder<'r> {
    /// Where problems go.
    pub reader: &'r mut Reader,
}

fn bad(reader: &mut Reader, pos: Pos, msg: impl Into<String>) {
    reader.issues.push(Issue {
        pos,
        msg: msg.into(),
    });
}

/// A Go (RE2) regular expression, as promtail compiles it.
fn go_re(reader: &mut Reader, node: &Node, src: &str, what: &str) -> Option<Regex> {
    match Regex::new(&go_regex(src)) {
        Ok(r) => Some(r),
        Err(e) => {
            bad(
                reader,
                node.pos,
                format!(
                    "{what}: could not compile regular expression {src:?}: {}",
                    crate::engine::pipeline::go_regex_error(src, &e)
                ),
            );
            None
        }
    }
}

fn boolean(reader: &mut Reader, node: Option<&Node>, what: &str) -> Option<bool> {
    let node = node?;
    match node.scalar() {
        Some("true" | "True" | "TRUE") => Some(true),
        Some("false" | "False" | "FALSE") => Some(false),
        _ => {
            bad(
                reader,
                node.pos,
                format!("expected true or false for {what}, got {}", node.describe()),
            );
            None
        }
    }
}

fn float(reader: &mut Reader, node: Option<&Node>, what: &str) -> Option<f64> {
    let node = node?;
    match node.scalar().and_then(|s| s.parse::<f64>().ok()) {
        Some(f) => Some(f),
        None => {
            bad(
                reader,
                node.pos,
                format!("expected a number for {what}, got {}", node.describe()),
            );
            None
        }
    }
}

/// A `source` key: absent is `None`; present and empty is promtail's
/// `empty source` error.
fn source(reader: &mut Reader, f: &crate::rules::yaml::Fields<'_>, stage: &str) -> Option<String> {
    let (k, _) = f.entry("source")?;
    let s = reader.string(f.get("source"), &format!("{stage}.source"));
    if s.as_deref().is_none_or(str::is_empty) {
        bad(reader, k.pos, format!("{stage}: empty source"));
        return None;
    }
    s
}

/// A label name as Prometheus' legacy validation accepts it.
fn label_name_ok(name: &str) -> bool {
    crate::model::is_valid_label_name(name)
}

/// `name: source` pairs of `labels` and `structured_metadata` (an empty source
/// is the name itself).
fn label_sources(reader: &mut Reader, node: &Node, stage: &str) -> Vec<(String, String)> {
    if node.is_null() {
        bad(
            reader,
            node.pos,
            format!("{stage} stage config cannot be empty"),
        );
        return Vec::new();
    }
    let mut out = Vec::new();
    for e in reader.string_map(Some(node), stage) {
        if !label_name_ok(&e.key) {
            bad(
                reader,
                e.key_pos,
                format!("{stage}: invalid label name: {}", e.key),
            );
            continue;
        }
        let src = if e.value.is_empty() {
            e.key.clone()
        } else {
            e.value
        };
        out.push((e.key, src));
    }
    out
}

fn string_list(reader: &mut Reader, node: &Node, what: &str) -> Vec<String> {
    reader
        .seq(Some(node), what)
        .iter()
        .filter_map(|n| reader.string(Some(n), what))
        .collect()
}

impl Builder<'_> {
    /// Reads `pipeline_stages` (a list of one-key mappings).
    pub fn stages(&mut self, node: Option<&Node>, what: &str) -> Vec<Stage> {
        let items = self.reader.seq(node, what);
        let mut out = Vec::new();
        for item in items {
            let Kind::Map(m) = &item.kind else {
                bad(
                    self.reader,
                    item.pos,
                    format!(
                        "invalid YAML config, make sure each stage of your pipeline is a YAML object \
                         (must end with a `:`), check stage `- {}`",
                        item.scalar().unwrap_or("…")
                    ),
                );
                continue;
            };
            if m.len() != 1 {
                bad(
                    self.reader,
                    item.pos,
                    "pipeline stage must contain only one key",
                );
                continue;
            }
            let (k, v) = &m[0];
            let name = k.scalar().unwrap_or_default().to_string();
            if let Some(s) = self.stage(&name, k, v) {
                out.push(s);
            }
        }
        out
    }

    fn stage(&mut self, name: &str, key: &Node, v: &Node) -> Option<Stage> {
        let r = &mut *self.reader;
        let issues = r.issues.len();
        let stage = match name {
            "regex" => {
                let f = r.fields(v, "a regex stage", &["expression", "source"]);
                let source = source(r, &f, "regex");
                let expr = r.string(f.get("expression"), "regex.expression");
                let Some(expr) = expr.filter(|e| !e.is_empty()) else {
                    bad(r, key.pos, "regex: expression is required");
                    return None;
                };
                let re = go_re(r, f.get("expression")?, &expr, "regex")?;
                Stage::Regex { re, source }
            }
            "json" => {
                let f = r.fields(
                    v,
                    "a json stage",
                    &["expressions", "source", "drop_malformed"],
                );
                let source = source(r, &f, "json");
                let drop_malformed =
                    boolean(r, f.get("drop_malformed"), "json.drop_malformed").unwrap_or(false);
                let mut exprs = Vec::new();
                for e in r.string_map(f.get("expressions"), "json.expressions") {
                    let src = if e.value.is_empty() { &e.key } else { &e.value };
                    match Jmes::compile(src) {
                        Ok(j) => exprs.push((e.key.clone(), j)),
                        Err(msg) => bad(
                            r,
                            e.value_pos,
                            format!("json: could not compile JMES expression: {msg}"),
                        ),
                    }
                }
                if exprs.is_empty() && r.issues.len() == issues {
                    bad(r, key.pos, "json: JMES expression is required");
                }
                Stage::Json {
                    exprs,
                    source,
                    drop_malformed,
                }
            }
            "logfmt" => {
                let f = r.fields(v, "a logfmt stage", &["mapping", "source"]);
                let source = source(r, &f, "logfmt");
                let mut keys = BTreeMap::new();
                for e in r.string_map(f.get("mapping"), "logfmt.mapping") {
                    let k = if e.value.is_empty() {
                        e.key.clone()
                    } else {
                        e.value
                    };
                    keys.insert(k, e.key);
                }
                if keys.is_empty() {
                    bad(r, key.pos, "logfmt: logfmt mapping is required");
                }
                Stage::Logfmt { keys, source }
            }
            "replace" => {
                let f = r.fields(v, "a replace stage", &["expression", "source", "replace"]);
                let source = source(r, &f, "replace");
                let Some(expr) = r
                    .string(f.get("expression"), "replace.expression")
                    .filter(|e| !e.is_empty())
                else {
                    bad(r, key.pos, "replace: expression is required");
                    return None;
                };
                let re = go_re(r, f.get("expression")?, &expr, "replace")?;
                let text = r
                    .string(f.get("replace"), "replace.replace")
                    .unwrap_or_default();
                let template = self.template(f.get("replace").unwrap_or(key), &text, "replace")?;
                Stage::Replace {
                    re,
                    source,
                    template,
                }
            }
            "template" => {
                let f = r.fields(v, "a template stage", &["source", "template"]);
                let Some(source) = r
                    .string(f.get("source"), "template.source")
                    .filter(|s| !s.is_empty())
                else {
                    bad(r, key.pos, "template: template source value is required");
                    return None;
                };
                let text = r
                    .string(f.get("template"), "template.template")
                    .unwrap_or_default();
                let template =
                    self.template(f.get("template").unwrap_or(key), &text, "template")?;
                Stage::Template { source, template }
            }
            "timestamp" => Stage::Timestamp(self.timestamp(key, v)?),
            "labels" => Stage::Labels(label_sources(r, v, "labels")),
            "structured_metadata" | "non_indexed_labels" => {
                Stage::StructuredMetadata(label_sources(r, v, name))
            }
            "static_labels" => {
                if v.is_null() {
                    bad(r, key.pos, "static_labels stage config cannot be empty");
                }
                let mut out = Vec::new();
                for e in r.string_map(Some(v), "static_labels") {
                    if !label_name_ok(&e.key) {
                        bad(
                            r,
                            e.key_pos,
                            format!("static_labels: invalid label name: {}", e.key),
                        );
                    } else if !e.value.is_empty() {
                        out.push((e.key, e.value));
                    }
                }
                Stage::StaticLabels(out)
            }
            "labeldrop" | "labelallow" => {
                let names = string_list(r, v, name);
                if names.is_empty() {
                    bad(r, key.pos, format!("{name} stage config cannot be empty"));
                }
                if name == "labeldrop" {
                    Stage::LabelDrop(names)
                } else {
                    Stage::LabelAllow(names)
                }
            }
            "output" => {
                let f = r.fields(v, "an output stage", &["source"]);
                let Some(s) = r
                    .string(f.get("source"), "output.source")
                    .filter(|s| !s.is_empty())
                else {
                    bad(
                        r,
                        key.pos,
                        "output: output source value is required if output is specified",
                    );
                    return None;
                };
                Stage::Output(s)
            }
            "match" => Stage::Match(Box::new(self.match_stage(key, v)?)),
            "drop" => Stage::Drop(Box::new(self.drop_stage(key, v)?)),
            "multiline" => {
                let f = r.fields(
                    v,
                    "a multiline stage",
                    &["firstline", "max_lines", "max_wait_time"],
                );
                let Some(first) = r.string(f.get("firstline"), "multiline.firstline") else {
                    bad(
                        r,
                        key.pos,
                        "multiline stage config must define `firstline` regular expression",
                    );
                    return None;
                };
                let first = go_re(r, f.get("firstline")?, &first, "multiline firstline")?;
                let max_lines = r
                    .int(f.get("max_lines"), "multiline.max_lines")
                    .unwrap_or(128);
                if let Some(w) = r.string(f.get("max_wait_time"), "multiline.max_wait_time") {
                    if let Err(e) = crate::go::duration::parse_go_duration(&w) {
                        bad(
                            r,
                            f.get("max_wait_time")?.pos,
                            format!("multiline stage `max_wait_time` parse error: {e}"),
                        );
                    }
                }
                Stage::Multiline {
                    first,
                    max_lines: max_lines.max(1) as u64,
                }
            }
            "decolorize" => {
                r.fields(v, "a decolorize stage", &[]);
                Stage::Decolorize
            }
            "pack" => {
                let f = r.fields(v, "a pack stage", &["labels", "ingest_timestamp"]);
                let labels = f
                    .get("labels")
                    .map(|n| string_list(r, n, "pack.labels"))
                    .unwrap_or_default();
                let ingest_timestamp =
                    boolean(r, f.get("ingest_timestamp"), "pack.ingest_timestamp").unwrap_or(true);
                Stage::Pack {
                    labels,
                    ingest_timestamp,
                }
            }
            "limit" => {
                let f = r.fields(
                    v,
                    "a limit stage",
                    &[
                        "rate",
                        "burst",
                        "drop",
                        "by_label_name",
                        "max_distinct_labels",
                    ],
                );
                let rate = float(r, f.get("rate"), "limit.rate").unwrap_or(0.0);
                let burst = float(r, f.get("burst"), "limit.burst").unwrap_or(0.0);
                let drop = boolean(r, f.get("drop"), "limit.drop").unwrap_or(false);
                let by_label_name = r
                    .string(f.get("by_label_name"), "limit.by_label_name")
                    .filter(|s| !s.is_empty());
                r.int(f.get("max_distinct_labels"), "limit.max_distinct_labels");
                if rate <= 0.0 || burst <= 0.0 {
                    bad(r, key.pos, "limit stage failed to parse rate or burst");
                }
                if by_label_name.is_some() && !drop {
                    bad(r, key.pos, "When ratelimiting by label, drop must be true");
                }
                Stage::Limit(LimitStage {
                    rate,
                    burst,
                    drop,
                    by_label_name,
                })
            }
            "docker" => {
                r.fields(v, "a docker stage", &[]);
                Stage::Docker(Arc::new(super::pipeline::Pipeline::docker()))
            }
            "cri" => {
                let f = r.fields(
                    v,
                    "a cri stage",
                    &[
                        "max_partial_lines",
                        "max_partial_line_size",
                        "max_partial_line_size_truncate",
                    ],
                );
                let max_partial_lines = r
                    .int(f.get("max_partial_lines"), "cri.max_partial_lines")
                    .filter(|&n| n > 0)
                    .unwrap_or(100) as usize;
                let size =
                    match r.string(f.get("max_partial_line_size"), "cri.max_partial_line_size") {
                        None => 0,
                        Some(s) => match crate::go::humanize::parse_bytes(&s) {
                            Ok(n) => n as usize,
                            Err(e) => {
                                bad(r, f.get("max_partial_line_size")?.pos, format!("cri: {e}"));
                                0
                            }
                        },
                    };
                let truncate = boolean(
                    r,
                    f.get("max_partial_line_size_truncate"),
                    "cri.max_partial_line_size_truncate",
                )
                .unwrap_or(false);
                Stage::Cri(Box::new(CriStage {
                    base: Arc::new(super::pipeline::Pipeline::cri_base()),
                    max_partial_lines,
                    max_partial_line_size: size,
                    truncate,
                }))
            }
            "metrics" | "tenant" | "sampling" | "geoip" | "eventlogmessage" => {
                bad(
                    r,
                    key.pos,
                    format!(
                        "stage {name:?} is not supported by lokal ({})",
                        match name {
                            "metrics" => "it exports Prometheus metrics from a running agent",
                            "tenant" => "give the store's tenant with --tenant",
                            "sampling" => "it drops a random share of lines",
                            _ => "remove it from the pipeline",
                        }
                    ),
                );
                return None;
            }
            other => {
                bad(
                    r,
                    key.pos,
                    format!(
                        "unknown stage {other:?} (promtail's stages lokal runs: cri, decolorize, docker, \
                         drop, json, labelallow, labeldrop, labels, limit, logfmt, match, multiline, \
                         output, pack, regex, replace, static_labels, structured_metadata, template, \
                         timestamp)"
                    ),
                );
                return None;
            }
        };
        Some(stage)
    }

    fn template(&mut self, node: &Node, text: &str, stage: &str) -> Option<Template<Logql>> {
        match Template::parse("pipeline_template", text, functions()) {
            Ok(t) => Some(t),
            Err(e) => {
                bad(self.reader, node.pos, format!("{stage}: {e}"));
                None
            }
        }
    }

    fn timestamp(&mut self, key: &Node, v: &Node) -> Option<TimestampStage> {
        let r = &mut *self.reader;
        let f = r.fields(
            v,
            "a timestamp stage",
            &[
                "source",
                "format",
                "fallback_formats",
                "location",
                "action_on_failure",
            ],
        );
        let Some(source) = r
            .string(f.get("source"), "timestamp.source")
            .filter(|s| !s.is_empty())
        else {
            bad(
                r,
                key.pos,
                "timestamp: timestamp source value is required if timestamp is specified",
            );
            return None;
        };
        let Some(format) = r
            .string(f.get("format"), "timestamp.format")
            .filter(|s| !s.is_empty())
        else {
            bad(r, key.pos, "timestamp: timestamp format is required");
            return None;
        };
        let mut formats = vec![format];
        if let Some(n) = f.get("fallback_formats") {
            formats.extend(string_list(r, n, "timestamp.fallback_formats"));
        }
        let location = match r.string(f.get("location"), "timestamp.location") {
            None => None,
            Some(name) => match TimeZone::get(&name) {
                Ok(tz) => Some(tz),
                Err(e) => {
                    bad(
                        r,
                        f.get("location")?.pos,
                        format!("timestamp: invalid location specified: {name:?}: {e}"),
                    );
                    None
                }
            },
        };
        let fudge = match r
            .string(f.get("action_on_failure"), "timestamp.action_on_failure")
            .as_deref()
        {
            None | Some("fudge") => true,
            Some("skip") => false,
            Some(_) => {
                bad(
                    r,
                    f.get("action_on_failure")?.pos,
                    "timestamp: invalid action on failure (supported values are [skip fudge])",
                );
                true
            }
        };
        Some(TimestampStage {
            source,
            formats,
            location,
            fudge,
        })
    }

    fn match_stage(&mut self, key: &Node, v: &Node) -> Option<MatchStage> {
        let f = self.reader.fields(
            v,
            "a match stage",
            &[
                "selector",
                "stages",
                "action",
                "pipeline_name",
                "drop_counter_reason",
            ],
        );
        let r = &mut *self.reader;
        if let Some((k, _)) = f.entry("pipeline_name") {
            if r.string(f.get("pipeline_name"), "match.pipeline_name")
                .is_none_or(|s| s.is_empty())
            {
                bad(
                    r,
                    k.pos,
                    "match stage pipeline name can be omitted but cannot be an empty string",
                );
            }
        }
        let Some(selector) = r
            .string(f.get("selector"), "match.selector")
            .filter(|s| !s.is_empty())
        else {
            bad(r, key.pos, "selector statement required for match stage");
            return None;
        };
        let sel_pos = f.get("selector")?.pos;
        let action = r
            .string(f.get("action"), "match.action")
            .unwrap_or_else(|| "keep".into());
        let reason = r
            .string(f.get("drop_counter_reason"), "match.drop_counter_reason")
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "match_stage".into());
        let has_stages = f
            .get("stages")
            .is_some_and(|n| !r.seq(Some(n), "match.stages").is_empty());
        match action.as_str() {
            "keep" if !has_stages => {
                bad(
                    r,
                    key.pos,
                    "match stage requires at least one additional stage to be defined in '- stages'",
                );
                return None;
            }
            "drop" if has_stages => {
                bad(
                    r,
                    key.pos,
                    "match stage configured to drop entries cannot contains stages",
                );
                return None;
            }
            "keep" | "drop" => {}
            _ => {
                bad(
                    r,
                    f.get("action")?.pos,
                    "match stage action should be 'keep' or 'drop'",
                );
                return None;
            }
        }
        let (matchers, filter) = match parse_selector(&selector) {
            Ok(x) => x,
            Err(e) => {
                bad(
                    r,
                    sel_pos,
                    format!("invalid selector syntax for match stage: {e}"),
                );
                return None;
            }
        };
        let stages = if action == "keep" {
            let nested = self.stages(f.get("stages"), "match.stages");
            Some(Arc::new(super::pipeline::Pipeline::new(nested)))
        } else {
            None
        };
        Some(MatchStage {
            selector,
            matchers,
            filter,
            stages,
            reason,
        })
    }

    fn drop_stage(&mut self, key: &Node, v: &Node) -> Option<DropStage> {
        let r = &mut *self.reader;
        let f = r.fields(
            v,
            "a drop stage",
            &[
                "source",
                "value",
                "separator",
                "expression",
                "older_than",
                "longer_than",
                "drop_counter_reason",
            ],
        );
        let source = f.get("source").map(|n| match &n.kind {
            Kind::Seq(_) => string_list(r, n, "drop.source"),
            _ => r.string(Some(n), "drop.source").into_iter().collect(),
        });
        let value = r.string(f.get("value"), "drop.value");
        let expression = r.string(f.get("expression"), "drop.expression");
        let older = r.string(f.get("older_than"), "drop.older_than");
        let longer = r.string(f.get("longer_than"), "drop.longer_than");
        if source.is_none() && expression.is_none() && older.is_none() && longer.is_none() {
            bad(
                r,
                key.pos,
                "drop stage config must contain at least one of `source`, `expression`, `older_than` or `longer_than`",
            );
            return None;
        }
        if value.is_some() && source.is_none() {
            bad(
                r,
                key.pos,
                "drop stage config must contain `source` if `value` is specified",
            );
        }
        if value.is_some() && expression.is_some() {
            bad(
                r,
                key.pos,
                "drop stage config error, `value` and `expression` cannot both be defined at the same time.",
            );
        }
        let regex = match (&expression, &value) {
            (Some(e), _) => go_re(r, f.get("expression")?, e, "drop expression"),
            (None, Some(v)) => Some(Regex::new(&format!("^{}$", regex::escape(v))).ok()?),
            _ => None,
        };
        let older_than = match older {
            None => None,
            Some(d) => match crate::go::duration::parse_go_duration(&d) {
                Ok(ns) => Some(ns),
                Err(e) => {
                    bad(
                        r,
                        f.get("older_than")?.pos,
                        format!("drop stage invalid duration, {d} cannot be converted to a duration: {e}"),
                    );
                    None
                }
            },
        };
        let longer_than = match longer {
            None => None,
            Some(s) => match crate::go::humanize::parse_bytes(&s) {
                Ok(n) => Some(n),
                Err(e) => {
                    bad(
                        r,
                        f.get("longer_than")?.pos,
                        format!("drop stage failed to parse longer_than to bytes: {e}"),
                    );
                    None
                }
            },
        };
        Some(DropStage {
            source,
            regex,
            separator: r
                .string(f.get("separator"), "drop.separator")
                .unwrap_or_else(|| ";".into()),
            older_than,
            longer_than,
            reason: r
                .string(f.get("drop_counter_reason"), "drop.drop_counter_reason")
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "drop_stage".into()),
        })
    }
}

/// A `match` selector: a stream selector, optionally with line filters
/// (promtail's selector grammar), into matchers and a LogQL pipeline.
fn parse_selector(
    src: &str,
) -> Result<(Vec<Matcher>, Option<crate::engine::pipeline::Pipeline>), String> {
    let expr = crate::logql::parse_expr(src).map_err(|e| e.to_string())?;
    let crate::logql::Expr::Log(q) = expr else {
        return Err("a metric query is not a selector".into());
    };
    if let Some(s) = q
        .pipeline
        .iter()
        .find(|s| !matches!(s, crate::logql::Stage::LineFilter(_)))
    {
        return Err(format!(
            "only line filters (|=, !=, |~, !~) may follow the selector, not {s:?}"
        )
        .chars()
        .take(160)
        .collect());
    }
    let filter = if q.pipeline.is_empty() {
        None
    } else {
        Some(crate::engine::pipeline::Pipeline::new(&q.pipeline).map_err(|e| e.0)?)
    };
    Ok((q.matchers, filter))
}

/// The input a stage with `source` reads: the line, or the extracted value as
/// a string; `None` when the key is missing or cannot be a string.
pub fn input<'a>(
    source: &Option<String>,
    extracted: &Extracted,
    line: &'a str,
) -> Option<std::borrow::Cow<'a, str>> {
    match source {
        None => Some(std::borrow::Cow::Borrowed(line)),
        Some(k) => extracted.get(k)?.as_string().map(std::borrow::Cow::Owned),
    }
}

/// `regex`: the named groups of the first match into the extracted map.
pub fn run_regex(re: &Regex, text: &str, extracted: &mut Extracted) {
    let Some(caps) = re.captures(text) else {
        return;
    };
    for name in re.capture_names().flatten() {
        // A group that did not take part is Go's empty string.
        let v = caps.name(name).map_or("", |m| m.as_str());
        extracted.insert(name.to_string(), Val::Str(v.to_string()));
    }
}

/// `json`: false when the text is not a JSON object.
pub fn run_json(exprs: &[(String, Jmes)], text: &str, extracted: &mut Extracted) -> bool {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else {
        return false;
    };
    if !v.is_object() {
        return false;
    }
    for (name, e) in exprs {
        extracted.insert(name.clone(), Val::from_json(&e.search(&v)));
    }
    true
}

/// `logfmt`: the mapped keys' values into the extracted map.
pub fn run_logfmt(keys: &BTreeMap<String, String>, text: &str, extracted: &mut Extracted) {
    let line = text.as_bytes();
    let mut d = LogfmtDecoder::default();
    while d.scan_keyval(line) {
        let Some(k) = d.key(line) else { continue };
        if let Some(name) = keys.get(&*String::from_utf8_lossy(k)) {
            let v = String::from_utf8_lossy(d.value(line)).into_owned();
            extracted.insert(name.clone(), Val::Str(v));
        }
    }
}

/// The extracted values that are strings, as the `replace` and `template`
/// stages hand them to their templates.
pub fn string_data(extracted: &Extracted) -> BTreeMap<String, String> {
    extracted
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.as_string()?)))
        .collect()
}

/// Runs a promtail template with `dot` as its data.
pub fn execute(t: &Template<Logql>, dot: &Value, line: &str, ts: i64) -> Result<String, String> {
    let empty: BTreeMap<String, String> = BTreeMap::new();
    let ctx = crate::engine::pipeline::TemplateEntry {
        line: line.as_bytes(),
        ts,
    };
    let env = crate::go::template::Env {
        data: &empty,
        ctx: &ctx,
    };
    let mut out = Vec::new();
    t.execute_with(&env, dot, &[], &mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// `replace`: each match's groups replaced by the template's output; `None`
/// when nothing matched or the template failed. Also returns the captured
/// text → replacement map (the named groups get their replacement).
pub fn run_replace(
    re: &Regex,
    template: &Template<Logql>,
    text: &str,
    extracted: &Extracted,
    ts: i64,
) -> Option<(String, BTreeMap<String, String>)> {
    let mut data = string_data(extracted);
    let mut result = String::new();
    let mut prev = 0usize;
    let mut captured = BTreeMap::new();
    let mut any = false;
    for caps in re.captures_iter(text) {
        any = true;
        for m in caps.iter().skip(1).flatten() {
            data.insert("Value".into(), m.as_str().to_string());
            let dot = Value::StrMap(Arc::new(data.clone()));
            let st = execute(template, &dot, text, ts).ok()?;
            if prev == 0 || prev <= m.start() {
                result.push_str(&text[prev..m.start()]);
                result.push_str(&st);
                prev = m.end();
            }
            captured.insert(m.as_str().to_string(), st);
        }
    }
    if !any {
        return None;
    }
    result.push_str(&text[prev..]);
    Some((result, captured))
}

/// `timestamp`: parses `value` with the first format that reads it.
pub fn parse_time(stage: &TimestampStage, value: &str, now_ns: i64) -> Option<i64> {
    stage
        .formats
        .iter()
        .find_map(|f| parse_with(f, value, stage.location.as_ref(), now_ns))
}

/// One of promtail's formats (`convertDateLayout`): `Unix` (with an optional
/// `.fraction`), `UnixMs`, `UnixUs`, `UnixNs`, Go's named layouts, or a Go
/// layout; a layout without a year takes the current one (December lines read
/// in January are last year's, January lines read in December next year's).
pub fn parse_with(
    format: &str,
    value: &str,
    location: Option<&TimeZone>,
    now_ns: i64,
) -> Option<i64> {
    let int = |s: &str| crate::go::strconv::parse_int(s, 10).ok();
    match format {
        "Unix" => {
            if value.matches('.').count() == 1 {
                let (s, frac) = value.split_once('.')?;
                if frac.len() > 9 {
                    return None;
                }
                let sec = int(s)?;
                let f = int(frac)?;
                let nsec = (f as f64 * 10f64.powi(9 - frac.len() as i32)) as i64;
                return sec.checked_mul(1_000_000_000)?.checked_add(nsec);
            }
            int(value)?.checked_mul(1_000_000_000)
        }
        "UnixMs" => int(value)?.checked_mul(1_000_000),
        "UnixUs" => int(value)?.checked_mul(1_000),
        "UnixNs" => int(value),
        _ => {
            let (layout, named) = match crate::ingest::timestamp::go_named_layout(format) {
                Some(l) => (l, true),
                None => (format, false),
            };
            // Named layouts are parsed as time.Parse does (UTC unless the value
            // has a zone); only custom layouts use `location`.
            let tz = match (named, location) {
                (false, Some(tz)) => tz.clone(),
                _ => TimeZone::UTC,
            };
            let t = crate::go::time::parse_in_location(layout, value, &tz)?;
            if layout.contains("06") {
                return i64::try_from(t.ns).ok();
            }
            with_current_year(t.ns, &tz, now_ns)
        }
    }
}

/// promtail's `parseTimestampWithoutYear`: the parsed time moved to the
/// current year, or the year before/after across the new year.
fn with_current_year(ns: i128, tz: &TimeZone, now_ns: i64) -> Option<i64> {
    let parsed = jiff::Timestamp::from_nanosecond(ns).ok()?;
    let now = jiff::Timestamp::from_nanosecond(i128::from(now_ns))
        .ok()?
        .to_zoned(tz.clone());
    // The parse put it in year 0 or 1 in the zone of its offset.
    let z = parsed.to_zoned(tz.clone());
    let year = match (z.month(), now.month()) {
        (12, 1) => now.year() - 1,
        (1, 12) => now.year() + 1,
        _ => now.year(),
    };
    let moved = z.with().year(year).build().ok()?;
    i64::try_from(moved.timestamp().as_nanosecond()).ok()
}

/// `pack`: the line as promtail's `Packed` JSON: the labels in key order,
/// then `_entry`.
pub fn pack_line(labels: &BTreeMap<String, String>, line: &str) -> String {
    let mut out = String::from("{");
    for (k, v) in labels {
        out.push_str(&crate::go::json::quote(k));
        out.push(':');
        out.push_str(&crate::go::json::quote(v));
        out.push(',');
    }
    out.push_str("\"_entry\":");
    out.push_str(&crate::go::json::quote(line));
    out.push('}');
    out
}
