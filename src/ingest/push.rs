//! Entries that arrive through Loki's push API (`lokal serve`): checked as
//! Loki's distributor checks them, with the limits `lokal ingest` applies,
//! then written through ingest's segment writer in one commit per call.
//!
//! Loki answers a push in two ways, and so does this module. A stream whose
//! label string does not parse (or is empty) refuses the whole request:
//! nothing of it is stored ([`PushRefused`]). Every other problem (a label
//! limit, a line too long, a timestamp out of bounds) drops only the streams
//! or entries concerned; the rest is stored, and the answer is still a 400
//! whose text groups the problems as Loki's does (`N errors like: …`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use super::{IngestError, IngestOptions, IngestReport, OwnedEntry, OwnedStream};
use crate::model::{Labels, Limits};
use crate::store::Store;

/// The checks of a push beyond the label and line limits (Loki's
/// `limits_config` names).
#[derive(Debug, Clone)]
pub struct PushLimits {
    /// Label and line limits, as `lokal ingest` applies them
    /// (`max_line_size` 0: no limit).
    pub limits: Limits,
    /// `creation_grace_period`: entries further than this in the future are
    /// refused (Loki's default is 10 minutes); `None`: no check.
    pub creation_grace_ns: Option<i64>,
    /// `reject_old_samples_max_age`: entries older than this are refused;
    /// `None` (lokal's default: a local store is for old logs too): no check.
    pub max_age_ns: Option<i64>,
}

impl Default for PushLimits {
    fn default() -> Self {
        PushLimits {
            limits: Limits::default(),
            creation_grace_ns: Some(600_000_000_000),
            max_age_ns: None,
        }
    }
}

/// One stream of a push request as it came: the label string in Loki's
/// printed form (`{a="1", b="2"}`) and its entries.
#[derive(Debug, Clone, PartialEq)]
pub struct PushedStream {
    /// The labels as sent.
    pub labels: String,
    /// `(ts, line, structured metadata)`.
    pub entries: Vec<OwnedEntry>,
}

/// A request refused whole, with Loki's text: nothing of it is stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PushRefused(pub String);

/// What [`validate`] kept of a request.
#[derive(Debug, Default)]
pub struct Validated {
    /// The streams to store (labels parsed, empty values dropped).
    pub streams: Vec<OwnedStream>,
    /// Entries refused, with Loki's grouped text; `None` when every entry
    /// was kept.
    pub errors: Option<String>,
    /// Entries refused.
    pub rejected: u64,
    /// Entries kept.
    pub entries: u64,
    /// Line bytes kept.
    pub bytes: u64,
}

/// Loki's text for a stream without labels.
pub const NO_LABELS: &str = "error at least one label pair is required per stream";

/// Loki's text (status 422) for a request without streams.
pub const NO_STREAMS: &str = "error at least one valid stream is required for ingestion";

/// Checks a request as Loki's distributor does: every label string parsed
/// first (one that fails refuses the request), then per stream its labels
/// against the limits and per entry its line and timestamp (failures drop
/// that stream or entry). `now` is the current time, ns.
pub fn validate(
    request: Vec<PushedStream>,
    limits: &PushLimits,
    now: i64,
) -> Result<Validated, PushRefused> {
    if request.is_empty() {
        return Err(PushRefused(NO_STREAMS.into()));
    }
    let mut parsed = Vec::with_capacity(request.len());
    for s in request {
        let pairs = parse_label_string(&s.labels)
            .map_err(|e| PushRefused(format!("couldn't parse labels: {e}")))?;
        let kept: Vec<(String, String)> =
            pairs.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        if kept.is_empty() {
            return Err(PushRefused(NO_LABELS.into()));
        }
        parsed.push((s.labels, kept, s.entries));
    }
    let mut out = Validated::default();
    let mut errors = Errors::default();
    for (raw, pairs, entries) in parsed {
        if let Err(msg) = check_labels(&raw, &pairs, &limits.limits) {
            out.rejected += entries.len() as u64;
            errors.add(msg, entries.len() as u64);
            continue;
        }
        let labels = Labels::from_pairs(pairs);
        let mut kept = Vec::with_capacity(entries.len());
        for e in entries {
            match check_entry(&raw, &e, limits, now) {
                Ok(()) => {
                    out.entries += 1;
                    out.bytes += e.1.len() as u64;
                    kept.push(e);
                }
                Err(msg) => {
                    out.rejected += 1;
                    errors.add(msg, 1);
                }
            }
        }
        if !kept.is_empty() {
            out.streams.push((labels, kept));
        }
    }
    out.errors = errors.text();
    Ok(out)
}

/// Problems of one request, grouped by text in the order Loki prints them.
#[derive(Default)]
struct Errors(Vec<(String, u64)>);

impl Errors {
    fn add(&mut self, msg: String, n: u64) {
        match self.0.iter_mut().find(|(m, _)| *m == msg) {
            Some((_, c)) => *c += n.max(1),
            None => self.0.push((msg, n.max(1))),
        }
    }

    /// One problem alone is its text; several are `N errors like: TEXT`
    /// joined with `; `, as Loki 3.7.6 answers. Loki's order is that of a
    /// Go map (it changes from one request to the next); lokal's is the
    /// order the problems were found in.
    fn text(mut self) -> Option<String> {
        match self.0.len() {
            0 => None,
            1 if self.0[0].1 == 1 => Some(self.0.remove(0).0),
            _ => Some(
                self.0
                    .iter()
                    .map(|(m, n)| format!("{n} errors like: {m}"))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        }
    }
}

/// Loki's per-stream label checks, with its texts: how many names, each
/// name's and value's length, duplicates; then lokal's own rule that names
/// starting with `__` are Loki's (`lokal ingest` refuses them too).
fn check_labels(raw: &str, pairs: &[(String, String)], limits: &Limits) -> Result<(), String> {
    if pairs.len() > limits.max_labels_per_stream {
        return Err(format!(
            "entry for stream '{raw}' has {} label names; limit {}",
            pairs.len(),
            limits.max_labels_per_stream
        ));
    }
    let mut seen = BTreeSet::new();
    for (n, v) in pairs {
        if n.len() > limits.max_label_name_length {
            return Err(format!("stream '{raw}' has label name too long: '{n}'"));
        }
        if v.len() > limits.max_label_value_length {
            return Err(format!("stream '{raw}' has label value too long: '{v}'"));
        }
        if !seen.insert(n.as_str()) {
            return Err(format!("stream '{raw}' has duplicate label name: '{n}'"));
        }
    }
    let labels = Labels::from_pairs(pairs.iter().cloned());
    crate::model::validate_labels(&labels, limits).map_err(|e| format!("stream '{raw}': {e}"))
}

/// Loki's per-entry checks: timestamp bounds, then line size.
fn check_entry(raw: &str, e: &OwnedEntry, limits: &PushLimits, now: i64) -> Result<(), String> {
    let rfc3339 =
        |ts: i64| crate::go::time::Time::utc(i128::from(ts)).format("2006-01-02T15:04:05Z07:00");
    if let Some(age) = limits.max_age_ns {
        let oldest = now.saturating_sub(age);
        if e.0 < oldest {
            return Err(format!(
                "entry for stream '{raw}' has timestamp too old: {}, oldest acceptable timestamp is: {}",
                rfc3339(e.0),
                rfc3339(oldest)
            ));
        }
    }
    if let Some(grace) = limits.creation_grace_ns {
        if e.0 > now.saturating_add(grace) {
            return Err(format!(
                "entry for stream '{raw}' has timestamp too new: {}",
                rfc3339(e.0)
            ));
        }
    }
    let max = limits.limits.max_line_size;
    if max > 0 && e.1.len() > max {
        return Err(format!(
            "Max entry size '{max}' bytes exceeded for stream '{raw}' while adding an entry with length '{}' bytes",
            e.1.len()
        ));
    }
    Ok(())
}

/// Parses a label string as Loki's push path does (Prometheus'
/// `ParseMetric`): `{name="value", …}` with Go-quoted values (`"`, `'` or
/// `` ` ``) and names either bare or quoted; an optional metric name before
/// the brace becomes `__name__`. Errors are Prometheus' texts with their
/// `line:col` (1-based, in bytes as Go counts them).
pub fn parse_label_string(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut p = LabelParser { s, i: 0 };
    let mut out = Vec::new();
    p.skip_space();
    if p.at_end() {
        return Ok(out);
    }
    if p.peek() != Some('{') {
        let start = p.i;
        let Some(name) = p.ident() else {
            return Err(p.unexpected_char(start));
        };
        out.push(("__name__".to_string(), name));
        p.skip_space();
        if p.at_end() {
            return Ok(out);
        }
        if p.peek() != Some('{') {
            let at = p.i;
            let what = p.describe_outside();
            return Err(p.err(at, &format!("unexpected {what}")));
        }
    }
    p.i += 1; // '{'
    loop {
        p.skip_space();
        let Some(c) = p.peek() else {
            return Err(p.err(p.i, "unexpected end of input inside braces"));
        };
        if c == '}' {
            p.i += 1;
            break;
        }
        let start = p.i;
        let name = match c {
            '"' | '\'' | '`' => p.string()?,
            _ => p.ident().ok_or_else(|| p.unexpected_char(start))?,
        };
        p.skip_space();
        let op_at = p.i;
        match p.op() {
            Some("=") => {}
            Some(op) => {
                return Err(p.err(
                    op_at,
                    &format!("unexpected <op:{op}> in label set, expected \"=\""),
                ))
            }
            None => match p.peek() {
                None => return Err(p.err(p.i, "unexpected end of input inside braces")),
                Some(_) => {
                    let what = p.describe_token()?;
                    return Err(p.err(
                        op_at,
                        &format!("unexpected {what} in label set, expected \"=\""),
                    ));
                }
            },
        }
        p.skip_space();
        let value = match p.peek() {
            None => return Err(p.err(p.i, "unexpected end of input inside braces")),
            Some('"' | '\'' | '`') => p.string()?,
            Some(_) => {
                let at = p.i;
                let what = p.describe_token()?;
                return Err(p.err(
                    at,
                    &format!("unexpected {what} in label set, expected string"),
                ));
            }
        };
        out.push((name, value));
        p.skip_space();
        match p.peek() {
            Some(',') => p.i += 1,
            Some('}') => {}
            None => return Err(p.err(p.i, "unexpected end of input inside braces")),
            Some(_) => {
                let at = p.i;
                let what = p.describe_token()?;
                return Err(p.err(
                    at,
                    &format!("unexpected {what} in label set, expected \",\" or \"}}\""),
                ));
            }
        }
    }
    p.skip_space();
    if !p.at_end() {
        let at = p.i;
        let what = p.describe_outside();
        return Err(p.err(at, &format!("unexpected {what}")));
    }
    Ok(out)
}

struct LabelParser<'a> {
    s: &'a str,
    i: usize,
}

impl LabelParser<'_> {
    fn peek(&self) -> Option<char> {
        self.s[self.i..].chars().next()
    }

    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }

    fn skip_space(&mut self) {
        while let Some(c) = self
            .peek()
            .filter(|c| matches!(c, ' ' | '\t' | '\n' | '\r'))
        {
            self.i += c.len_utf8();
        }
    }

    fn ident(&mut self) -> Option<String> {
        let rest = &self.s[self.i..];
        let len = rest
            .char_indices()
            .find(|&(k, c)| !(c == '_' || c.is_ascii_alphabetic() || (k > 0 && c.is_ascii_digit())))
            .map_or(rest.len(), |(k, _)| k);
        (len > 0).then(|| {
            self.i += len;
            rest[..len].to_string()
        })
    }

    fn op(&mut self) -> Option<&'static str> {
        let rest = &self.s[self.i..];
        let op = ["=~", "!~", "!=", "="]
            .into_iter()
            .find(|o| rest.starts_with(o))?;
        // `==` is Prometheus' comparison, not a matcher.
        if op == "=" && rest.starts_with("==") {
            return None;
        }
        self.i += op.len();
        Some(op)
    }

    /// A quoted string; the error when unterminated or badly escaped.
    fn string(&mut self) -> Result<String, String> {
        let start = self.i;
        let q = self.peek().unwrap_or('"');
        let mut k = self.i + 1;
        let b = self.s.as_bytes();
        while k < b.len() && b[k] as char != q {
            if b[k] == b'\\' && q != '`' {
                k += 1;
            }
            k += 1;
        }
        if k >= b.len() {
            return Err(self.err(start, "unterminated quoted string"));
        }
        self.i = k + 1;
        crate::go::strconv::unquote_promql(&self.s[start..self.i])
            .map_err(|_| self.err(start, "invalid syntax"))
    }

    /// What the next token is, in Prometheus' words (inside braces).
    fn describe_token(&mut self) -> Result<String, String> {
        let at = self.i;
        if let Some(id) = self.ident() {
            return Ok(format!("identifier {id:?}"));
        }
        match self.peek() {
            Some(',') => Ok("\",\"".into()),
            Some('}') => Ok("\"}\"".into()),
            Some('{') => Ok("\"{\"".into()),
            _ => Err(self.unexpected_char(at)),
        }
    }

    /// What the next token is outside braces.
    fn describe_outside(&mut self) -> String {
        match self.op() {
            Some(op) => format!("{op:?}"),
            None => match self.peek() {
                Some(c) => format!("{:?}", c.to_string()),
                None => "end of input".into(),
            },
        }
    }

    fn unexpected_char(&self, at: usize) -> String {
        let c = self.s[at..].chars().next().unwrap_or(' ');
        self.err(at, &format!("unexpected character inside braces: '{c}'"))
    }

    fn err(&self, at: usize, msg: &str) -> String {
        let before = &self.s[..at.min(self.s.len())];
        let line = before.matches('\n').count() + 1;
        let col = at - before.rfind('\n').map_or(0, |n| n + 1) + 1;
        format!("{line}:{col}: parse error: {msg}")
    }
}

/// Writes validated pushes, one commit per call, through ingest's segment
/// writer (entries sorted per stream; an entry identical in time, line and
/// metadata to one already stored in its stream is stored once, as Loki
/// stores a resent entry once). The day indexes of the days written are
/// rebuilt within a commit when rebuilding has taken less than a fiftieth
/// of the time since the first push (as `lokal ingest` budgets it), and
/// always by [`PushWriter::finish`]; until then queries read the new
/// segments' footers.
pub struct PushWriter {
    store: Store,
    opts: IngestOptions,
    /// Days written per tenant since their index was rebuilt.
    pending: BTreeMap<String, BTreeSet<String>>,
    started: Instant,
    spent: Duration,
}

impl PushWriter {
    /// A writer into `store`, waiting at most `lock_timeout` for another
    /// writer (`lokal ingest`) to finish.
    pub fn new(store: Store, lock_timeout: Option<Duration>) -> PushWriter {
        PushWriter {
            store,
            opts: IngestOptions {
                dedupe: true,
                lock_timeout,
                ..IngestOptions::default()
            },
            pending: BTreeMap::new(),
            started: Instant::now(),
            spent: Duration::ZERO,
        }
    }

    /// Stores `streams` into `tenant` in one commit; durable when it returns.
    pub fn write(
        &mut self,
        tenant: &str,
        streams: Vec<OwnedStream>,
    ) -> Result<IngestReport, IngestError> {
        let days = self.pending.entry(tenant.to_string()).or_default();
        for (_, entries) in &streams {
            for e in entries {
                days.insert(crate::time::day_string(crate::time::day_of(e.0)));
            }
        }
        let rebuild = self.spent < self.started.elapsed() / 50;
        let days: Vec<String> = if rebuild {
            std::mem::take(days).into_iter().collect()
        } else {
            Vec::new()
        };
        let t = Instant::now();
        let report = super::write_streams_with(&self.store, tenant, streams, &self.opts, &days);
        if rebuild {
            self.spent += t.elapsed();
        }
        if report.is_err() && !days.is_empty() {
            // Not rebuilt: keep them for the next commit.
            self.pending
                .entry(tenant.to_string())
                .or_default()
                .extend(days);
        }
        report
    }

    /// Rebuilds the indexes of every day written since their last rebuild.
    pub fn finish(&mut self) -> Result<(), IngestError> {
        for (tenant, days) in std::mem::take(&mut self.pending) {
            if days.is_empty() {
                continue;
            }
            let days: Vec<String> = days.into_iter().collect();
            super::write_streams_with(&self.store, &tenant, Vec::new(), &self.opts, &days)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Vec<(String, String)>, String> {
        parse_label_string(s)
    }

    /// The texts the real Loki 3.7.6 answered for these label strings.
    #[test]
    fn label_strings_as_loki_parses_them() {
        let ok = |pairs: &[(&str, &str)]| -> Result<Vec<(String, String)>, String> {
            Ok(pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect())
        };
        assert_eq!(
            parse(r#"{job="t", a="b"}"#),
            ok(&[("job", "t"), ("a", "b")])
        );
        assert_eq!(
            parse(r#"{job="t",a='b'} "#),
            ok(&[("job", "t"), ("a", "b")])
        );
        assert_eq!(parse(r#"{"a.b"="t"}"#), ok(&[("a.b", "t")]));
        assert_eq!(parse(r#"{job="\u00e9\n"}"#), ok(&[("job", "é\n")]));
        assert_eq!(parse("{}"), ok(&[]));
        assert_eq!(parse(""), ok(&[]));
        for (s, want) in [
            (
                r#"{1job="t"}"#,
                "1:2: parse error: unexpected character inside braces: '1'",
            ),
            (
                r#"{jo-b="t"}"#,
                "1:4: parse error: unexpected character inside braces: '-'",
            ),
            (
                r#"{é="t"}"#,
                "1:2: parse error: unexpected character inside braces: 'é'",
            ),
            (
                r#"{job=t}"#,
                "1:6: parse error: unexpected identifier \"t\" in label set, expected string",
            ),
            (
                r#"{job="t""#,
                "1:9: parse error: unexpected end of input inside braces",
            ),
            (r#"job="t""#, "1:4: parse error: unexpected \"=\""),
            (
                r#"{job!="t"}"#,
                "1:5: parse error: unexpected <op:!=> in label set, expected \"=\"",
            ),
        ] {
            assert_eq!(parse(s), Err(want.to_string()), "{s}");
        }
    }

    fn stream(labels: &str, entries: &[(i64, &str)]) -> PushedStream {
        PushedStream {
            labels: labels.into(),
            entries: entries
                .iter()
                .map(|(t, l)| (*t, l.as_bytes().to_vec(), vec![]))
                .collect(),
        }
    }

    const NOW: i64 = 1_714_521_600_000_000_000;

    #[test]
    fn a_bad_label_string_refuses_the_request() {
        let lim = PushLimits::default();
        let req = vec![
            stream(r#"{job="ok"}"#, &[(NOW, "a")]),
            stream(r#"{1="x"}"#, &[(NOW, "b")]),
        ];
        assert_eq!(
            validate(req, &lim, NOW).unwrap_err().0,
            "couldn't parse labels: 1:2: parse error: unexpected character inside braces: '1'"
        );
        assert_eq!(validate(vec![], &lim, NOW).unwrap_err().0, NO_STREAMS);
        let empty = vec![stream(r#"{job=""}"#, &[(NOW, "a")])];
        assert_eq!(validate(empty, &lim, NOW).unwrap_err().0, NO_LABELS);
    }

    #[test]
    fn bad_entries_are_dropped_and_grouped_as_loki_does() {
        let mut lim = PushLimits::default();
        lim.limits.max_line_size = 3;
        let far = 4_000_000_000_000_000_000;
        let req = vec![
            stream(
                r#"{job="a"}"#,
                &[
                    (NOW, "ok"),
                    (far, "x"),
                    (far, "y"),
                    (far + 1_000_000_000, "z"),
                    (NOW, "long"),
                ],
            ),
            stream(r#"{job="b", empty=""}"#, &[(NOW, "b")]),
        ];
        let v = validate(req, &lim, NOW).unwrap();
        assert_eq!((v.entries, v.rejected, v.bytes), (2, 4, 3));
        assert_eq!(v.streams.len(), 2);
        assert_eq!(v.streams[1].0.to_string(), r#"{job="b"}"#);
        assert_eq!(
            v.errors.unwrap(),
            "2 errors like: entry for stream '{job=\"a\"}' has timestamp too new: 2096-10-02T07:06:40Z; \
             1 errors like: entry for stream '{job=\"a\"}' has timestamp too new: 2096-10-02T07:06:41Z; \
             1 errors like: Max entry size '3' bytes exceeded for stream '{job=\"a\"}' while adding an entry with length '4' bytes"
        );
        // One problem alone is its text.
        let one = validate(vec![stream(r#"{job="a"}"#, &[(far, "x")])], &lim, NOW).unwrap();
        assert_eq!(
            one.errors.unwrap(),
            "entry for stream '{job=\"a\"}' has timestamp too new: 2096-10-02T07:06:40Z"
        );
        assert!(one.streams.is_empty());
    }

    #[test]
    fn label_limits_drop_the_stream() {
        let lim = PushLimits::default();
        let long = format!(r#"{{job="{}"}}"#, "x".repeat(2049));
        let req = vec![
            stream(&long, &[(NOW, "a"), (NOW, "b")]),
            stream(r#"{job="t", job="u"}"#, &[(NOW, "c")]),
            stream(r#"{__x="t"}"#, &[(NOW, "d")]),
            stream(r#"{job="kept"}"#, &[(NOW, "e")]),
        ];
        let v = validate(req, &lim, NOW).unwrap();
        assert_eq!((v.entries, v.rejected), (1, 4));
        let text = v.errors.unwrap();
        assert!(text.contains("has label value too long: 'xxx"), "{text}");
        assert!(
            text.contains("stream '{job=\"t\", job=\"u\"}' has duplicate label name: 'job'"),
            "{text}"
        );
        assert!(text.contains("is reserved"), "{text}");
        assert!(text.starts_with("2 errors like: "), "{text}");
    }
}
