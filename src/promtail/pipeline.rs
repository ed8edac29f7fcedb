//! A promtail pipeline at work: the stages in order, each entry carrying its
//! extracted map from stage to stage (seeded with the entry's labels when a
//! pipeline starts, nested ones included, as promtail's `Pipeline.Run`
//! does), and the per-file state of the stages that keep some: the entries
//! `multiline` and `cri` hold back, `timestamp`'s last known times (fudge),
//! `limit`'s token buckets.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use super::stages::{self, CriStage, DropStage, LimitStage, MatchStage, Stage, TimestampStage};
use super::value::{Extracted, Val};
use crate::ingest::hook::{EntryProcessor, HookCounts, HookEntry, TraceStep};
use crate::model::Labels;

/// An entry on its way through the stages.
#[derive(Debug, Clone, PartialEq)]
pub struct PEntry {
    /// The extracted map.
    pub extracted: Extracted,
    /// The labels (a set, as promtail's `model.LabelSet`).
    pub labels: BTreeMap<String, String>,
    /// Time, ns.
    pub ts: i64,
    /// The line.
    pub line: String,
    /// Structured metadata, in the order stages added it.
    pub metadata: Vec<(String, String)>,
}

impl PEntry {
    /// An entry read from a file.
    pub fn new(labels: &Labels, ts: i64, line: String) -> PEntry {
        PEntry {
            extracted: Extracted::new(),
            labels: labels.pairs().iter().cloned().collect(),
            ts,
            line,
            metadata: Vec::new(),
        }
    }

    /// Its label set's identity: the stateful stages keep one state per
    /// label set, as promtail does per fingerprint.
    fn key(&self) -> u64 {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        for (k, v) in &self.labels {
            h.update(k.as_bytes());
            h.update(&[0xff]);
            h.update(v.as_bytes());
            h.update(&[0xfe]);
        }
        h.digest()
    }
}

/// A list of stages.
#[derive(Debug)]
pub struct Pipeline {
    /// The stages, in order.
    pub stages: Vec<Stage>,
}

/// What one stage keeps between entries of a file.
#[derive(Debug, Default)]
enum StageState {
    #[default]
    None,
    /// Last known time per label set (`timestamp`, `action_on_failure: fudge`).
    Fudge(HashMap<u64, i64>),
    /// The streams in joining mode (they have had a start line).
    Multiline(Vec<Joining>),
    /// Partial lines per label set, and the base pipeline's state.
    Cri(Vec<(u64, PEntry)>, Box<State>),
    /// Token buckets: (tokens, last refill) per label value ("" without `by_label_name`).
    Limit(HashMap<String, (f64, Instant)>),
    /// A nested pipeline's state (`match`, `docker`).
    Nested(Box<State>),
}

/// The state of a pipeline for one file.
#[derive(Debug, Default)]
pub struct State {
    stages: Vec<StageState>,
}

impl State {
    fn for_pipeline(p: &Pipeline) -> State {
        State {
            stages: p
                .stages
                .iter()
                .map(|s| match s {
                    Stage::Timestamp(t) if t.fudge => StageState::Fudge(HashMap::new()),
                    Stage::Multiline { .. } => StageState::Multiline(Vec::new()),
                    Stage::Cri(c) => {
                        StageState::Cri(Vec::new(), Box::new(State::for_pipeline(&c.base)))
                    }
                    Stage::Limit(_) => StageState::Limit(HashMap::new()),
                    Stage::Match(m) => match &m.stages {
                        Some(p) => StageState::Nested(Box::new(State::for_pipeline(p))),
                        None => StageState::None,
                    },
                    Stage::Docker(p) => StageState::Nested(Box::new(State::for_pipeline(p))),
                    _ => StageState::None,
                })
                .collect(),
        }
    }
}

/// Where the clock comes from (`drop.older_than`, `pack.ingest_timestamp`,
/// yearless layouts): now, or a fixed time in tests.
#[derive(Debug, Clone, Copy)]
pub struct Clock(pub Option<i64>);

impl Clock {
    fn now(self) -> i64 {
        self.0
            .unwrap_or_else(|| jiff::Timestamp::now().as_nanosecond() as i64)
    }
}

/// Receives what stages hand out.
struct Sink<'a> {
    out: &'a mut Vec<PEntry>,
    counts: &'a mut HookCounts,
    clock: Clock,
    /// What each top-level stage did, when tracing (`--dry-run`).
    trace: Option<&'a mut Vec<TraceStep>>,
}

impl Sink<'_> {
    fn record(&mut self, stage: &Stage, e: Option<&PEntry>, note: Option<String>) {
        if let Some(t) = &mut self.trace {
            t.push(TraceStep {
                stage: stage.label(),
                entry: e.cloned().map(to_hook),
                note,
                extracted: e
                    .map(|e| {
                        e.extracted
                            .iter()
                            .map(|(k, v)| {
                                (k.clone(), v.as_string().unwrap_or_else(|| "null".into()))
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            });
        }
    }
}

impl Pipeline {
    /// A pipeline of `stages`.
    pub fn new(stages: Vec<Stage>) -> Pipeline {
        Pipeline { stages }
    }

    /// A fresh per-file state.
    pub fn state(&self) -> State {
        State::for_pipeline(self)
    }

    /// promtail's `docker` stage: `json` (output: log, stream, timestamp:
    /// time), `labels` (stream), `timestamp` (RFC3339Nano), `output`.
    pub fn docker() -> Pipeline {
        let j = |s: &str| super::jmespath::Expr::compile(s).expect("static expression");
        Pipeline::new(vec![
            Stage::Json {
                exprs: vec![
                    ("output".into(), j("log")),
                    ("stream".into(), j("stream")),
                    ("timestamp".into(), j("time")),
                ],
                source: None,
                drop_malformed: false,
            },
            stream_label(),
            rfc3339_time("timestamp"),
            Stage::Output("output".into()),
        ])
    }

    /// The fixed part of promtail's `cri` stage.
    pub fn cri_base() -> Pipeline {
        Pipeline::new(vec![
            Stage::Regex {
                re: regex::Regex::new(
                    r"^(?s)(?P<time>\S+?) (?P<stream>stdout|stderr) (?P<flags>\S+?) (?P<content>.*)$",
                )
                .expect("static regex"),
                source: None,
            },
            stream_label(),
            rfc3339_time("time"),
            Stage::Output("content".into()),
            Stage::Output("tags".into()),
        ])
    }

    /// Runs `e` through the whole pipeline.
    pub fn process(
        &self,
        state: &mut State,
        e: PEntry,
        clock: Clock,
        out: &mut Vec<PEntry>,
        counts: &mut HookCounts,
    ) {
        let sink = Sink {
            out,
            counts,
            clock,
            trace: None,
        };
        self.run_in(state, e, sink);
    }

    /// [`Pipeline::process`], recording what each stage did.
    pub fn trace(
        &self,
        state: &mut State,
        e: PEntry,
        clock: Clock,
        out: &mut Vec<PEntry>,
        counts: &mut HookCounts,
    ) -> Vec<TraceStep> {
        let mut steps = Vec::new();
        let sink = Sink {
            out,
            counts,
            clock,
            trace: Some(&mut steps),
        };
        self.run_in(state, e, sink);
        steps
    }

    fn run_in(&self, state: &mut State, e: PEntry, mut sink: Sink<'_>) {
        run(&self.stages, &mut state.stages, seed(e), &mut sink);
    }

    /// Hands out what the stages hold, through the stages after them.
    pub fn flush(
        &self,
        state: &mut State,
        clock: Clock,
        out: &mut Vec<PEntry>,
        counts: &mut HookCounts,
    ) {
        let mut sink = Sink {
            out,
            counts,
            clock,
            trace: None,
        };
        flush(&self.stages, &mut state.stages, &mut sink);
    }
}

/// `labels: {stream:}` of the container stages.
fn stream_label() -> Stage {
    Stage::Labels(vec![("stream".into(), "stream".into())])
}

/// `timestamp: {source: SOURCE, format: RFC3339Nano}` of the container stages.
fn rfc3339_time(source: &str) -> Stage {
    Stage::Timestamp(TimestampStage {
        source: source.into(),
        formats: vec!["RFC3339Nano".into()],
        location: None,
        fudge: true,
    })
}

/// A pipeline's start: the labels are copied into the extracted map.
fn seed(mut e: PEntry) -> PEntry {
    for (k, v) in &e.labels {
        e.extracted.insert(k.clone(), Val::Str(v.clone()));
    }
    e
}

/// Runs `e` through `stages` (with their states), handing what comes out of
/// the last one to the sink.
fn run(stages: &[Stage], states: &mut [StageState], mut e: PEntry, sink: &mut Sink<'_>) {
    for i in 0..stages.len() {
        let (state, rest_states) = states[i..].split_first_mut().expect("one state per stage");
        let rest = &stages[i + 1..];
        match &stages[i] {
            Stage::Regex { re, source } => {
                if let Some(text) = stages::input(source, &e.extracted, &e.line) {
                    stages::run_regex(re, &text, &mut e.extracted);
                }
            }
            Stage::Json {
                exprs,
                source,
                drop_malformed,
            } => {
                if let Some(text) = stages::input(source, &e.extracted, &e.line) {
                    if !stages::run_json(exprs, &text, &mut e.extracted) && *drop_malformed {
                        sink.counts.drop("drop_malformed");
                        sink.record(&stages[i], None, Some("dropped (not JSON)".into()));
                        return;
                    }
                }
            }
            Stage::Logfmt { keys, source } => {
                if let Some(text) = stages::input(source, &e.extracted, &e.line) {
                    stages::run_logfmt(keys, &text, &mut e.extracted);
                }
            }
            Stage::Replace {
                re,
                source,
                template,
            } => {
                // Owned: the line may be replaced below.
                if let Some(text) =
                    stages::input(source, &e.extracted, &e.line).map(|t| t.into_owned())
                {
                    if let Some((result, captured)) =
                        stages::run_replace(re, template, &text, &e.extracted, e.ts)
                    {
                        match source {
                            Some(k) => {
                                e.extracted.insert(k.clone(), Val::Str(result));
                            }
                            None => e.line = result,
                        }
                        if let Some(caps) = re.captures(&text) {
                            for name in re.capture_names().flatten() {
                                if let Some(v) =
                                    caps.name(name).and_then(|m| captured.get(m.as_str()))
                                {
                                    e.extracted.insert(name.to_string(), Val::Str(v.clone()));
                                }
                            }
                        }
                    }
                }
            }
            Stage::Template { source, template } => {
                let mut data: BTreeMap<String, crate::go::template::Value> = BTreeMap::new();
                for (k, v) in &e.extracted {
                    if let Some(s) = v.as_string() {
                        if k == source {
                            data.insert("Value".into(), crate::go::template::Value::str(&s));
                        }
                        data.insert(k.clone(), crate::go::template::Value::str(&s));
                    }
                }
                data.insert("Entry".into(), crate::go::template::Value::str(&e.line));
                let dot = crate::go::template::Value::Map(Arc::new(data));
                if let Ok(s) = stages::execute(template, &dot, &e.line, e.ts) {
                    if s.is_empty() {
                        e.extracted.remove(source);
                    } else {
                        e.extracted.insert(source.clone(), Val::Str(s));
                    }
                }
            }
            Stage::Timestamp(t) => timestamp(t, state, &mut e, sink.clock),
            Stage::Labels(pairs) => {
                for (name, src) in pairs {
                    if let Some(v) = e.extracted.get(src).and_then(Val::as_string) {
                        e.labels.insert(name.clone(), v);
                    }
                }
            }
            Stage::StructuredMetadata(pairs) => structured_metadata(pairs, &mut e),
            Stage::StaticLabels(pairs) => {
                for (k, v) in pairs {
                    e.labels.insert(k.clone(), v.clone());
                }
            }
            Stage::LabelDrop(names) => {
                for n in names {
                    e.labels.remove(n);
                }
            }
            Stage::LabelAllow(names) => e.labels.retain(|k, _| names.contains(k)),
            Stage::Output(src) => {
                if let Some(v) = e.extracted.get(src).and_then(Val::as_string) {
                    e.line = v;
                }
            }
            Stage::Match(m) => {
                if !matches(m, &e) {
                    sink.record(&stages[i], Some(&e), Some("selector did not match".into()));
                    continue;
                }
                let Some(inner) = &m.stages else {
                    sink.counts.drop(&m.reason);
                    sink.record(&stages[i], None, Some(format!("dropped ({})", m.reason)));
                    return;
                };
                let StageState::Nested(ns) = state else {
                    unreachable!("a keep match has a nested state")
                };
                let got = nested(sink, |s| run(&inner.stages, &mut ns.stages, seed(e), s));
                hand_on(sink, &stages[i], got, rest, rest_states);
                return;
            }
            Stage::Drop(d) => {
                if should_drop(d, &e, sink.clock) {
                    sink.counts.drop(&d.reason);
                    sink.record(&stages[i], None, Some(format!("dropped ({})", d.reason)));
                    return;
                }
            }
            Stage::Multiline { first, max_lines } => {
                let StageState::Multiline(streams) = state else {
                    unreachable!("multiline has its state")
                };
                let key = e.key();
                let is_first = first.is_match(&e.line);
                let pos = match streams.iter().position(|m| m.key == key) {
                    Some(p) => p,
                    // A stream's lines pass until its first start line.
                    None if !is_first => {
                        sink.record(
                            &stages[i],
                            Some(&e),
                            Some("passed (no start line yet)".into()),
                        );
                        continue;
                    }
                    None => {
                        streams.push(Joining {
                            key,
                            start: e.clone(),
                            buf: String::new(),
                            lines: 0,
                        });
                        streams.len() - 1
                    }
                };
                let mut done = Vec::new();
                let m = &mut streams[pos];
                if is_first {
                    done.extend(m.take());
                    m.start = e.clone();
                }
                if m.lines > 0 {
                    m.buf.push('\n');
                    sink.counts.joined += 1;
                }
                m.buf.push_str(&e.line);
                m.lines += 1;
                if m.lines >= *max_lines {
                    done.extend(m.take());
                }
                let note = match done.len() {
                    0 => "held: joining lines".to_string(),
                    _ => "held; hands out the entry it was joining".to_string(),
                };
                sink.record(&stages[i], done.first(), Some(note));
                for d in done {
                    run(rest, rest_states, d, sink);
                }
                return;
            }
            Stage::Decolorize => {
                if let std::borrow::Cow::Owned(v) =
                    crate::engine::pipeline::decolorize(e.line.as_bytes())
                {
                    e.line = String::from_utf8_lossy(&v).into_owned();
                }
            }
            Stage::Pack {
                labels,
                ingest_timestamp,
            } => {
                let mut packed = BTreeMap::new();
                for l in labels {
                    if let Some(v) = e.extracted.get(l).and_then(Val::as_string) {
                        packed.insert(l.clone(), v);
                    }
                }
                for k in packed.keys() {
                    e.labels.remove(k);
                }
                e.line = stages::pack_line(&packed, &e.line);
                if *ingest_timestamp {
                    e.ts = sink.clock.now();
                }
            }
            Stage::Limit(l) => {
                let StageState::Limit(buckets) = state else {
                    unreachable!("limit has its state")
                };
                if throttle(l, buckets, &e) {
                    sink.counts.drop("ratelimit_drop_stage");
                    sink.record(
                        &stages[i],
                        None,
                        Some("dropped (ratelimit_drop_stage)".into()),
                    );
                    return;
                }
            }
            Stage::Docker(p) => {
                let StageState::Nested(ns) = state else {
                    unreachable!("docker has its state")
                };
                let got = nested(sink, |s| run(&p.stages, &mut ns.stages, seed(e), s));
                hand_on(sink, &stages[i], got, rest, rest_states);
                return;
            }
            Stage::Cri(c) => {
                let StageState::Cri(partials, base) = state else {
                    unreachable!("cri has its state")
                };
                let got = nested(sink, |s| run(&c.base.stages, &mut base.stages, seed(e), s));
                let mut done = Vec::new();
                for g in got {
                    done.extend(cri(c, partials, g, sink.counts));
                }
                if done.is_empty() {
                    sink.record(&stages[i], None, Some("held: a partial line (P)".into()));
                    return;
                }
                hand_on(sink, &stages[i], done, rest, rest_states);
                return;
            }
        }
        sink.record(&stages[i], Some(&e), None);
    }
    sink.out.push(e);
}

/// What a nested pipeline (`match`, `docker`, `cri`) hands out when `f`
/// runs it with a sink of its own (nested stages are not traced).
fn nested(sink: &mut Sink<'_>, f: impl FnOnce(&mut Sink<'_>)) -> Vec<PEntry> {
    let mut got = Vec::new();
    let mut inner = Sink {
        out: &mut got,
        counts: &mut *sink.counts,
        clock: sink.clock,
        trace: None,
    };
    f(&mut inner);
    got
}

/// Records what a stage with a nested pipeline handed on, and runs it
/// through the stages after it.
fn hand_on(
    sink: &mut Sink<'_>,
    stage: &Stage,
    got: Vec<PEntry>,
    rest: &[Stage],
    rest_states: &mut [StageState],
) {
    let note = match got.len() {
        0 => Some("nothing handed on (dropped or held inside)".to_string()),
        1 => None,
        n => Some(format!("{n} entries handed on")),
    };
    sink.record(stage, got.first(), note);
    for g in got {
        run(rest, rest_states, g, sink);
    }
}

/// A stream `multiline` joins: the entry of its last start line and the
/// lines joined since.
#[derive(Debug)]
struct Joining {
    key: u64,
    start: PEntry,
    buf: String,
    lines: u64,
}

impl Joining {
    /// The joined entry, if any lines are held: the start line's labels,
    /// time and extracted data with the joined lines (promtail keeps the
    /// start entry after a flush, so lines joined after `max_lines` carry it
    /// too).
    fn take(&mut self) -> Option<PEntry> {
        if self.lines == 0 {
            return None;
        }
        self.lines = 0;
        let mut e = self.start.clone();
        e.line = std::mem::take(&mut self.buf);
        Some(e)
    }
}

/// Hands out what `stages` hold, first to last, each through the stages
/// after it.
fn flush(stages: &[Stage], states: &mut [StageState], sink: &mut Sink<'_>) {
    for i in 0..stages.len() {
        let (state, rest_states) = states[i..].split_first_mut().expect("one state per stage");
        let rest = &stages[i + 1..];
        let mut held: Vec<PEntry> = Vec::new();
        match (&stages[i], state) {
            (Stage::Multiline { .. }, StageState::Multiline(streams)) => {
                // The streams stay in joining mode for their next lines.
                held.extend(streams.iter_mut().filter_map(Joining::take));
            }
            (Stage::Cri(c), StageState::Cri(partials, base)) => {
                for g in nested(sink, |s| flush(&c.base.stages, &mut base.stages, s)) {
                    held.extend(cri(c, partials, g, sink.counts));
                }
                held.extend(std::mem::take(partials).into_iter().map(|(_, e)| e));
            }
            (Stage::Match(m), StageState::Nested(ns)) => {
                if let Some(p) = &m.stages {
                    held = nested(sink, |s| flush(&p.stages, &mut ns.stages, s));
                }
            }
            (Stage::Docker(p), StageState::Nested(ns)) => {
                held = nested(sink, |s| flush(&p.stages, &mut ns.stages, s));
            }
            _ => {}
        }
        for e in held {
            run(rest, rest_states, e, sink);
        }
    }
}

fn timestamp(t: &TimestampStage, state: &mut StageState, e: &mut PEntry, clock: Clock) {
    let parsed = e
        .extracted
        .get(&t.source)
        .and_then(Val::as_string)
        .and_then(|s| stages::parse_time(t, &s, clock.now()));
    let StageState::Fudge(last) = state else {
        if let Some(ts) = parsed {
            e.ts = ts;
        }
        return;
    };
    let key = e.key();
    match parsed {
        Some(ts) => {
            e.ts = ts;
            last.insert(key, ts);
        }
        None => {
            if let Some(prev) = last.get_mut(&key) {
                *prev += 1;
                e.ts = *prev;
            }
        }
    }
}

fn structured_metadata(pairs: &[(String, String)], e: &mut PEntry) {
    let mut taken: BTreeMap<String, String> = BTreeMap::new();
    for (name, src) in pairs {
        if let Some(v) = e.extracted.get(src).and_then(Val::as_string) {
            e.metadata.push((name.clone(), v.clone()));
            taken.insert(src.clone(), v);
        }
    }
    for (name, src) in pairs {
        if taken.contains_key(src) {
            continue;
        }
        if let Some(v) = e.labels.get(src).cloned() {
            e.metadata.push((name.clone(), v.clone()));
            taken.insert(src.clone(), v);
        }
    }
    for (name, v) in taken {
        if e.labels.get(&name) == Some(&v) {
            e.labels.remove(&name);
        }
    }
}

fn matches(m: &MatchStage, e: &PEntry) -> bool {
    if !m
        .matchers
        .iter()
        .all(|x| x.matches(e.labels.get(&x.name).map_or("", String::as_str)))
    {
        return false;
    }
    match &m.filter {
        None => true,
        Some(p) => p
            .for_stream(&Labels::default())
            .process(e.ts, e.line.as_bytes())
            .is_some(),
    }
}

fn should_drop(d: &DropStage, e: &PEntry, clock: Clock) -> bool {
    if let Some(n) = d.longer_than {
        if e.line.len() as u64 <= n {
            return false;
        }
    }
    if let Some(age) = d.older_than {
        if e.ts >= clock.now().saturating_sub(age) {
            return false;
        }
    }
    match (&d.source, &d.regex) {
        (Some(src), None) => src.iter().all(|s| e.extracted.contains_key(s)),
        (None, Some(re)) => re.is_match(&e.line),
        (Some(src), Some(re)) => {
            let mut vals = Vec::new();
            for s in src {
                if let Some(v) = e.extracted.get(s) {
                    match v.as_string() {
                        Some(v) => vals.push(v),
                        None => return false,
                    }
                }
            }
            re.is_match(&vals.join(&d.separator))
        }
        (None, None) => true,
    }
}

/// A token bucket as Go's `rate.Limiter`: `burst` tokens at first, `rate`
/// more per second. True when the entry is over the rate and dropped;
/// without `drop`, waits for a token instead.
fn throttle(l: &LimitStage, buckets: &mut HashMap<String, (f64, Instant)>, e: &PEntry) -> bool {
    let key = match &l.by_label_name {
        Some(name) => match e.labels.get(name) {
            Some(v) => v.clone(),
            None => return false,
        },
        None => String::new(),
    };
    let now = Instant::now();
    let (tokens, at) = buckets.entry(key).or_insert((l.burst, now));
    *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * l.rate).min(l.burst);
    *at = now;
    if *tokens >= 1.0 {
        *tokens -= 1.0;
        return false;
    }
    if l.drop {
        return true;
    }
    let wait = (1.0 - *tokens) / l.rate;
    std::thread::sleep(std::time::Duration::from_secs_f64(wait));
    *tokens = 0.0;
    *at = Instant::now();
    false
}

/// `cri`'s partial lines (`P` flag): held per label set and joined with the
/// next line of the stream; returns the entries complete now.
fn cri(
    c: &CriStage,
    partials: &mut Vec<(u64, PEntry)>,
    mut e: PEntry,
    counts: &mut HookCounts,
) -> Vec<PEntry> {
    let key = e.key();
    let truncate = |e: &mut PEntry| {
        if c.truncate && c.max_partial_line_size > 0 && e.line.len() > c.max_partial_line_size {
            let mut cut = c.max_partial_line_size;
            while !e.line.is_char_boundary(cut) {
                cut -= 1;
            }
            e.line.truncate(cut);
        }
    };
    let partial = matches!(e.extracted.get("flags"), Some(Val::Str(f)) if f == "P");
    let pos = partials.iter().position(|(k, _)| *k == key);
    if partial {
        // promtail counts the streams held, this one's included.
        if partials.len() >= c.max_partial_lines {
            let out: Vec<PEntry> = std::mem::take(partials)
                .into_iter()
                .map(|(_, e)| e)
                .collect();
            truncate(&mut e);
            partials.push((key, e));
            return out;
        }
        if let Some(p) = pos {
            let (_, prev) = partials.remove(p);
            e.line = prev.line + &e.line;
            counts.joined += 1;
        }
        truncate(&mut e);
        partials.push((key, e));
        return Vec::new();
    }
    if let Some(p) = pos {
        let (_, prev) = partials.remove(p);
        e.line = prev.line + &e.line;
        counts.joined += 1;
        truncate(&mut e);
    }
    vec![e]
}

/// One file's pipeline, as ingest runs it.
pub struct FileProcessor {
    /// The pipeline.
    pub pipeline: Arc<Pipeline>,
    /// Its state for this file.
    pub state: State,
    /// The clock.
    pub clock: Clock,
    buf: Vec<PEntry>,
}

impl FileProcessor {
    /// A processor with a fresh state.
    pub fn new(pipeline: Arc<Pipeline>, clock: Clock) -> FileProcessor {
        let state = pipeline.state();
        FileProcessor {
            pipeline,
            state,
            clock,
            buf: Vec::new(),
        }
    }
}

fn to_hook(e: PEntry) -> HookEntry {
    HookEntry {
        labels: Labels::from_pairs(e.labels),
        ts: e.ts,
        line: e.line,
        metadata: e.metadata,
    }
}

impl EntryProcessor for FileProcessor {
    fn process(&mut self, entry: HookEntry, out: &mut Vec<HookEntry>, counts: &mut HookCounts) {
        let mut e = PEntry::new(&entry.labels, entry.ts, entry.line);
        e.metadata = entry.metadata;
        self.pipeline
            .process(&mut self.state, e, self.clock, &mut self.buf, counts);
        out.extend(self.buf.drain(..).map(to_hook));
    }

    fn trace(
        &mut self,
        entry: HookEntry,
        out: &mut Vec<HookEntry>,
        counts: &mut HookCounts,
    ) -> Vec<TraceStep> {
        let mut e = PEntry::new(&entry.labels, entry.ts, entry.line);
        e.metadata = entry.metadata;
        let steps = self
            .pipeline
            .trace(&mut self.state, e, self.clock, &mut self.buf, counts);
        out.extend(self.buf.drain(..).map(to_hook));
        steps
    }

    fn flush(&mut self, out: &mut Vec<HookEntry>, counts: &mut HookCounts) {
        self.pipeline
            .flush(&mut self.state, self.clock, &mut self.buf, counts);
        out.extend(self.buf.drain(..).map(to_hook));
    }
}
