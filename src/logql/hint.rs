//! Parse errors explained for a person: Loki's text stays as it is, and
//! [`Explained`] adds the query with a caret under the mistake and, for the
//! common ones, a hint with the query that was probably meant.
//!
//! Each hint is a repair that is tried, never a guess that is only printed:
//! the suggested query is parsed, and a hint is given only when it parses.
//! The mistakes covered:
//!
//! - a misspelt function or parser (`cont_over_time(` → `count_over_time(`,
//!   `| jsn` → `| json`), by edit distance over LogQL's names;
//! - grouping labels without parentheses (`sum by job (…)` → `sum by (job) (…)`);
//! - a log query where a metric query is needed: a range aggregation without
//!   a range (`rate({job="x"})` → `rate({job="x"}[5m])`), a vector aggregation
//!   of log lines (`sum({job="x"})` → `sum(count_over_time({job="x"}[5m]))`),
//!   an instant query of lines ([`metric_query_hint`]);
//! - a duration with an unknown unit (`[5x]`).

use std::fmt;

use super::error::ParseError;
use super::lexer::{Lexer, Tok};

/// Function names (range and vector aggregations, conversions) and parsers,
/// the names a misspelling is matched against.
const FUNCTIONS: &[&str] = &[
    "rate",
    "rate_counter",
    "count_over_time",
    "bytes_rate",
    "bytes_over_time",
    "avg_over_time",
    "sum_over_time",
    "min_over_time",
    "max_over_time",
    "stdvar_over_time",
    "stddev_over_time",
    "quantile_over_time",
    "first_over_time",
    "last_over_time",
    "absent_over_time",
    "vector",
    "sum",
    "avg",
    "max",
    "min",
    "count",
    "stddev",
    "stdvar",
    "bottomk",
    "topk",
    "sort",
    "sort_desc",
    "approx_topk",
    "label_replace",
    "bytes",
    "duration",
    "duration_seconds",
];

/// Pipeline stages that follow a `|`.
const STAGES: &[&str] = &[
    "json",
    "logfmt",
    "regexp",
    "pattern",
    "unpack",
    "line_format",
    "label_format",
    "decolorize",
    "drop",
    "keep",
    "unwrap",
];

/// Keywords a list of grouping labels follows.
const GROUPING: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// The range a suggested fix adds where one is missing.
const SUGGESTED_RANGE: &str = "[5m]";

/// A parse error with what a person needs to fix it. `Display` is Loki's
/// text, then (when asked for) the query with a caret, then the hint.
#[derive(Debug, Clone)]
pub struct Explained {
    /// The error, whose text is Loki's.
    pub error: ParseError,
    /// The query that failed.
    pub query: String,
    /// Where the caret goes (byte offset): the hint's mistake when it
    /// knows it better than the parser's position, else the error's.
    pub offset: Option<usize>,
    /// What was probably meant, when a repair parses.
    pub hint: Option<String>,
    /// Draw the query and the caret (on a terminal).
    pub caret: bool,
}

impl Explained {
    /// Explains `error`, the error of parsing `query`; `caret` says whether
    /// [`Display`](fmt::Display) draws the query with a caret.
    pub fn new(error: ParseError, query: &str, caret: bool) -> Explained {
        let (offset, hint) = match explain(query, &error) {
            Some((off, hint)) => (off.or(error.offset), Some(hint)),
            None => (error.offset, None),
        };
        Explained {
            error,
            query: query.to_string(),
            offset,
            hint,
            caret,
        }
    }

    /// The query's line holding the caret's offset and, under it, the caret.
    pub fn caret_lines(&self) -> Option<String> {
        let e = ParseError {
            offset: self.offset,
            ..self.error.clone()
        };
        e.caret(&self.query)
    }
}

impl fmt::Display for Explained {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.error)?;
        if self.caret {
            if let Some(c) = self.caret_lines() {
                for l in c.lines() {
                    write!(f, "\n  {l}")?;
                }
            }
        }
        if let Some(h) = &self.hint {
            write!(f, "\nhint: {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Explained {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// A hint for a log query given where a metric query is needed (an instant
/// query): the query counted over a range, when that parses.
pub fn metric_query_hint(query: &str) -> Option<String> {
    let q = query.trim();
    let fixed = format!("count_over_time({q} {SUGGESTED_RANGE})");
    parses(&fixed).then(|| {
        format!(
            "an instant query needs a metric query: count the lines, e.g. `{fixed}`; \
             `lokal query` prints the lines themselves"
        )
    })
}

fn parses(q: &str) -> bool {
    super::parse_expr(q).is_ok()
}

/// One lexed token: its kind and byte range.
struct Lexed {
    tok: Tok,
    start: usize,
    end: usize,
}

/// The query's tokens up to the end or the first lexical error.
fn tokens(query: &str) -> Vec<Lexed> {
    let mut lx = Lexer::new(query.as_bytes());
    let mut out = Vec::new();
    loop {
        let t = lx.next_token();
        if matches!(t.tok, Tok::Eof) || out.len() > 10_000 {
            break;
        }
        out.push(Lexed {
            tok: t.tok,
            start: t.start,
            end: t.end,
        });
    }
    out
}

/// The hint for `err` in `query` and the offset of the mistake it is about.
fn explain(query: &str, err: &ParseError) -> Option<(Option<usize>, String)> {
    if err.msg.contains("unknown unit") && err.msg.contains("in duration") {
        return Some((
            None,
            "a duration is numbers with units ns, us, ms, s, m, h, d, w or y: [5m], [1h30m], [7d]"
                .into(),
        ));
    }
    let toks = tokens(query);
    misspelt(query, &toks)
        .or_else(|| ungrouped(query, &toks))
        .or_else(|| missing_range(query, err))
}

/// An identifier called as a function, or after `|`, that is close to one
/// of LogQL's names.
fn misspelt(query: &str, toks: &[Lexed]) -> Option<(Option<usize>, String)> {
    for (i, t) in toks.iter().enumerate() {
        let Tok::Ident(name) = &t.tok else { continue };
        let called = matches!(toks.get(i + 1), Some(n) if matches!(n.tok, Tok::Kw("(")));
        let staged = i > 0 && matches!(toks[i - 1].tok, Tok::Kw("|"));
        let names = match (called, staged) {
            (true, _) => FUNCTIONS,
            (false, true) => STAGES,
            _ => continue,
        };
        let Some(best) = nearest(name, names) else {
            continue;
        };
        let fixed = format!("{}{best}{}", &query[..t.start], &query[t.end..]);
        let what = if called {
            "function"
        } else {
            "parser or stage"
        };
        let mut hint = format!("unknown {what} `{name}`: did you mean `{best}`?");
        if parses(&fixed) {
            hint.push_str(&format!(" `{fixed}`"));
        }
        return Some((Some(t.start), hint));
    }
    None
}

/// The closest of `names` to `name` (at most a third of its letters
/// different, at most 3), if any.
fn nearest<'a>(name: &str, names: &[&'a str]) -> Option<&'a str> {
    let lower = name.to_ascii_lowercase();
    let limit = (lower.len() / 3).clamp(1, 3);
    names
        .iter()
        .map(|n| (strsim::damerau_levenshtein(&lower, n), *n))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// `by job` (or `without`, `on`, …) where `by (job)` was meant: the labels,
/// commas between, put in parentheses.
fn ungrouped(query: &str, toks: &[Lexed]) -> Option<(Option<usize>, String)> {
    for (i, t) in toks.iter().enumerate() {
        let Tok::Kw(kw) = t.tok else { continue };
        if !GROUPING.contains(&kw) {
            continue;
        }
        let mut j = i + 1;
        let mut last = None;
        while let Some(n) = toks.get(j) {
            match &n.tok {
                Tok::Ident(_) => last = Some(j),
                Tok::Kw(",") if last == Some(j - 1) => {}
                _ => break,
            }
            j += 1;
        }
        let Some(last) = last else { continue };
        let (from, to) = (toks[i + 1].start, toks[last].end);
        let labels = &query[from..to];
        let fixed = format!("{}({labels}){}", &query[..from], &query[to..]);
        let mut hint = format!("grouping labels go in parentheses: `{kw} ({labels})`");
        if parses(&fixed) {
            hint.push_str(&format!(", `{fixed}`"));
        }
        return Some((Some(from), hint));
    }
    None
}

/// A log query where the parser wanted a metric one, at the `)` closing an
/// aggregation's argument: a range aggregation without its range, or a
/// vector aggregation of log lines.
fn missing_range(query: &str, err: &ParseError) -> Option<(Option<usize>, String)> {
    let close = err.offset?;
    if query.as_bytes().get(close) != Some(&b')') {
        return None;
    }
    let (open, func) = opening(query, close)?;
    let inner = query[open + 1..close].trim_end();
    // `{job="x"}[5m]`, but `{job="x"} |= "a" [5m]`, as Loki prints them.
    let space = if inner.ends_with('}') { "" } else { " " };
    let ranged = format!(
        "{}{inner}{space}{SUGGESTED_RANGE}{}",
        &query[..open + 1],
        &query[close..]
    );
    if parses(&ranged) {
        return Some((
            Some(close),
            format!("`{func}` counts log lines over a range of time, which is missing: `{ranged}`"),
        ));
    }
    let counted = format!(
        "{}count_over_time({inner} {SUGGESTED_RANGE}){}",
        &query[..open + 1],
        &query[close..]
    );
    if parses(&counted) {
        return Some((
            Some(open + 1),
            format!(
                "`{func}` aggregates numbers and `{inner}` is a log query: turn its lines into \
                 numbers first, e.g. `{counted}`"
            ),
        ));
    }
    None
}

/// The `(` that the `)` at `close` closes, and the name before it; quoted
/// strings skipped.
fn opening(query: &str, close: usize) -> Option<(usize, &str)> {
    let toks = tokens(&query[..close]);
    let mut depth = 0usize;
    for (i, t) in toks.iter().enumerate().rev() {
        match t.tok {
            Tok::Kw(")") => depth += 1,
            Tok::Kw("(") if depth > 0 => depth -= 1,
            Tok::Kw("(") => {
                let mut p = i.checked_sub(1)?;
                // `sum by (level) (…)`: the name is before the grouping.
                if matches!(toks[p].tok, Tok::Kw(")")) {
                    let open = toks[..p]
                        .iter()
                        .rposition(|t| matches!(t.tok, Tok::Kw("(")))?;
                    p = open.checked_sub(2)?;
                }
                return Some((t.start, &query[toks[p].start..toks[p].end]));
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn explained(q: &str) -> Explained {
        let e = super::super::parse_expr(q).unwrap_err();
        Explained::new(e, q, true)
    }

    #[test]
    fn misspelt_function() {
        let x = explained(r#"sum(cont_over_time({job="x"}[5m]))"#);
        assert_eq!(
            x.to_string(),
            "parse error at line 1, col 5: syntax error: unexpected IDENTIFIER\n  \
             sum(cont_over_time({job=\"x\"}[5m]))\n      ^\n\
             hint: unknown function `cont_over_time`: did you mean `count_over_time`? \
             `sum(count_over_time({job=\"x\"}[5m]))`"
        );
        let x = explained(r#"{job="x"} | jsn"#);
        assert!(
            x.hint.as_deref().unwrap().contains("did you mean `json`?"),
            "{x}"
        );
    }

    #[test]
    fn grouping_without_parentheses() {
        let x = explained(r#"sum by job, host (count_over_time({job="x"}[5m]))"#);
        // Loki's position is the start; the caret goes under the labels.
        assert!(x.to_string().starts_with("parse error at line 1, col 1:"));
        assert_eq!(x.offset, Some(7));
        assert_eq!(
            x.hint.unwrap(),
            "grouping labels go in parentheses: `by (job, host)`, \
             `sum by (job, host) (count_over_time({job=\"x\"}[5m]))`"
        );
    }

    #[test]
    fn log_query_where_a_metric_is_needed() {
        let x = explained(r#"rate({job="x"} |= "a")"#);
        assert_eq!(
            x.hint.unwrap(),
            "`rate` counts log lines over a range of time, which is missing: \
             `rate({job=\"x\"} |= \"a\" [5m])`"
        );
        let x = explained(r#"sum by (level) ({job="x"})"#);
        assert_eq!(
            x.hint.unwrap(),
            "`sum` aggregates numbers and `{job=\"x\"}` is a log query: turn its lines into \
             numbers first, e.g. `sum by (level) (count_over_time({job=\"x\"} [5m]))`"
        );
        assert!(metric_query_hint(r#"{job="x"} |= "a""#)
            .unwrap()
            .contains("`count_over_time({job=\"x\"} |= \"a\" [5m])`"));
        assert_eq!(metric_query_hint("{"), None);
    }

    #[test]
    fn unknown_duration_unit() {
        let x = explained(r#"count_over_time({job="x"}[5x])"#);
        assert!(x
            .to_string()
            .starts_with("parse error at line 0, col 26: unknown unit \"x\" in duration \"5x\"\n"));
        assert!(x.hint.unwrap().contains("ns, us, ms, s, m, h, d, w or y"));
    }

    #[test]
    fn no_hint_no_caret_when_not_asked() {
        let q = r#"{job="x""#;
        let e = super::super::parse_expr(q).unwrap_err();
        let x = Explained::new(e.clone(), q, false);
        assert_eq!(x.to_string(), e.to_string());
        assert_eq!(x.hint, None);
    }
}
