//! Label filters (`log/label_filter.go`): string matchers, numeric, duration, bytes and
//! ip comparisons, combined with `and`/`or`.
//!
//! The error rules are Loki's: a converting filter drops a line that lacks the label
//! (even for `!=`), keeps a line whose value does not convert and marks it
//! `LabelFilterErr` unless an error is already set; an ip filter passes every line that
//! already has an error; only string filters read `__error__`. `or` does not evaluate
//! its right side when the left passes; `and` always evaluates both.

use super::ip::IpMatcher;
use super::labels::{LabelsBuilder, ERROR_LABEL};
use crate::go::duration::parse_go_duration;
use crate::go::humanize::parse_bytes;
use crate::go::strconv::parse_float;
use crate::logql::{CmpOp, LabelFilterExpr, MatchOp, Matcher};

/// `__error__` of converting label filters.
pub const ERR_LABEL_FILTER: &str = "LabelFilterErr";

/// A compiled label filter tree.
#[derive(Debug, Clone)]
pub enum LabelFilter {
    /// Both sides.
    And(Box<LabelFilter>, Box<LabelFilter>),
    /// Either side (short-circuit).
    Or(Box<LabelFilter>, Box<LabelFilter>),
    /// A string matcher `=`/`!=` (always true ones are kept: they are cheap and rare).
    Str(Matcher),
    /// A regex matcher `=~` (or `!~` when negated). Loki compiles label-filter regexes
    /// as `^(?:re)$` with Go's Perl flags, so `.` does not match a newline here (unlike
    /// stream matchers, which are Prometheus matchers).
    Regex(String, bool, regex::Regex),
    /// `name OP number`.
    Num(String, CmpOp, f64),
    /// `name OP duration` (nanoseconds).
    Dur(String, CmpOp, i64),
    /// `name OP bytes`.
    Bytes(String, CmpOp, u64),
    /// `name = ip(…)` / `name != ip(…)`.
    Ip(String, bool, IpMatcher),
}

fn cmp<T: PartialOrd>(op: CmpOp, a: T, b: T) -> bool {
    match op {
        CmpOp::Eq => a == b,
        CmpOp::Neq => a != b,
        CmpOp::Gt => a > b,
        CmpOp::Gte => a >= b,
        CmpOp::Lt => a < b,
        CmpOp::Lte => a <= b,
    }
}

impl LabelFilter {
    /// Compiles a filter tree; an invalid ip pattern is the only error.
    pub fn new(e: &LabelFilterExpr) -> Result<LabelFilter, String> {
        Ok(match e {
            LabelFilterExpr::And(a, b) => {
                LabelFilter::And(Box::new(Self::new(a)?), Box::new(Self::new(b)?))
            }
            LabelFilterExpr::Or(a, b) => {
                LabelFilter::Or(Box::new(Self::new(a)?), Box::new(Self::new(b)?))
            }
            LabelFilterExpr::String(m) => match m.op {
                MatchOp::Re | MatchOp::Nre => {
                    let src = format!("^(?:{})$", super::line_filter::go_compat(&m.value));
                    match regex::Regex::new(&src) {
                        Ok(re) => LabelFilter::Regex(m.name.clone(), m.op == MatchOp::Nre, re),
                        // The LogQL parser accepted it, so Rust's syntax is the odd one out:
                        // fall back to the parser's own compiled matcher.
                        Err(_) => LabelFilter::Str(m.clone()),
                    }
                }
                _ => LabelFilter::Str(m.clone()),
            },
            LabelFilterExpr::Numeric {
                name, op, value, ..
            } => LabelFilter::Num(name.clone(), *op, *value),
            LabelFilterExpr::Duration {
                name, op, value, ..
            } => LabelFilter::Dur(name.clone(), *op, *value),
            LabelFilterExpr::Bytes {
                name, op, value, ..
            } => LabelFilter::Bytes(name.clone(), *op, *value),
            LabelFilterExpr::Ip {
                name,
                negated,
                pattern,
                ..
            } => LabelFilter::Ip(name.clone(), *negated, IpMatcher::new(pattern)?),
        })
    }

    /// Label names the filter reads.
    pub fn names(&self, out: &mut Vec<String>) {
        match self {
            LabelFilter::And(a, b) | LabelFilter::Or(a, b) => {
                a.names(out);
                b.names(out);
            }
            LabelFilter::Str(m) => out.push(m.name.clone()),
            LabelFilter::Regex(n, ..) => out.push(n.clone()),
            LabelFilter::Num(n, ..)
            | LabelFilter::Dur(n, ..)
            | LabelFilter::Bytes(n, ..)
            | LabelFilter::Ip(n, ..) => out.push(n.clone()),
        }
    }

    /// Evaluates the filter, possibly setting `LabelFilterErr`.
    pub fn process(&self, lb: &mut LabelsBuilder) -> bool {
        match self {
            LabelFilter::And(a, b) => {
                let l = a.process(lb);
                let r = b.process(lb);
                l && r
            }
            LabelFilter::Or(a, b) => a.process(lb) || b.process(lb),
            LabelFilter::Str(m) => m.matches(label_value(lb, &m.name)),
            LabelFilter::Regex(name, negated, re) => re.is_match(label_value(lb, name)) != *negated,
            LabelFilter::Num(name, op, want) => {
                convert_cmp(lb, name, parse_float, |v| cmp(*op, v, *want))
            }
            LabelFilter::Dur(name, op, want) => {
                convert_cmp(lb, name, parse_go_duration, |v| cmp(*op, v, *want))
            }
            LabelFilter::Bytes(name, op, want) => {
                convert_cmp(lb, name, parse_bytes, |v| cmp(*op, v, *want))
            }
            LabelFilter::Ip(name, negated, m) => {
                if lb.has_err() {
                    // Only string matchers filter out errored lines.
                    return true;
                }
                match lb.get(name) {
                    None => false,
                    Some(v) => m.matches_in(v.as_bytes()) != *negated,
                }
            }
        }
    }
}

/// What string filters read: `__error__` is the error, a missing label is "".
fn label_value<'a>(lb: &'a LabelsBuilder, name: &str) -> &'a str {
    match name {
        ERROR_LABEL => lb.err(),
        _ => lb.get(name).unwrap_or(""),
    }
}

fn convert_cmp<T>(
    lb: &mut LabelsBuilder,
    name: &str,
    conv: fn(&str) -> Result<T, String>,
    test: impl Fn(T) -> bool,
) -> bool {
    let Some(v) = lb.get(name) else { return false };
    match conv(v) {
        Ok(x) => test(x),
        Err(e) => {
            if !lb.has_err() {
                lb.set_err(ERR_LABEL_FILTER);
                lb.set_err_details(&e);
            }
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::pipeline::labels::Hints;
    use crate::logql::{parse_expr, Expr, Stage};

    fn filter(q: &str) -> LabelFilter {
        let Expr::Log(l) = parse_expr(&format!("{{a=\"b\"}} | {q}")).unwrap() else {
            panic!()
        };
        let Stage::LabelFilter { filter, .. } = &l.pipeline[0] else {
            panic!("{:?}", l.pipeline)
        };
        LabelFilter::new(filter).unwrap()
    }

    fn run(q: &str, labels: &[(&str, &str)]) -> (bool, String) {
        let mut lb = LabelsBuilder::new(&[], Hints::default());
        for (n, v) in labels {
            lb.set_parsed(n, v);
        }
        let ok = filter(q).process(&mut lb);
        (ok, lb.err().to_string() + " " + lb.err_details())
    }

    #[test]
    fn numeric_and_strings() {
        assert!(run(r#"status >= 500"#, &[("status", "500")]).0);
        assert!(!run(r#"status >= 500"#, &[("status", "200")]).0);
        assert!(run(r#"code == 200"#, &[("code", "200.0")]).0);
        assert!(!run(r#"x != 5"#, &[]).0);
        assert_eq!(
            run(r#"status > 400"#, &[("status", "oops")]),
            (
                true,
                "LabelFilterErr strconv.ParseFloat: parsing \"oops\": invalid syntax".into()
            )
        );
        assert!(run(r#"name=~"al.*""#, &[("name", "alpha")]).0);
        assert!(!run(r#"name=~"alph""#, &[("name", "alpha")]).0);
        assert!(run(r#"name="""#, &[]).0);
        assert!(!run(r#"name=~".+""#, &[]).0);
        assert!(run(r#"name!~"(?i)alpha""#, &[("name", "prealpha")]).0);
        assert!(!run(r#"name=~"a.b""#, &[("name", "a\nb")]).0);
        assert!(!run(r#"n=~"\\d""#, &[("n", "٣")]).0);
    }

    #[test]
    fn durations_bytes_ip() {
        assert!(run("took > 1s", &[("took", "2s")]).0);
        assert!(run("took == 1h", &[("took", "3600000000µs")]).0);
        assert_eq!(
            run("took > 1s", &[("took", "90")]).1,
            "LabelFilterErr time: missing unit in duration \"90\""
        );
        assert!(run("size > 1MB", &[("size", "2048KiB")]).0);
        assert!(run(r#"size < 2KiB"#, &[("size", "1.5KiB")]).0);
        assert!(
            run(
                r#"addr = ip("10.0.0.0/8")"#,
                &[("addr", "client 10.0.0.7:80")]
            )
            .0
        );
        assert!(run(r#"addr != ip("192.168.0.0/16")"#, &[("addr", "notanip")]).0);
        assert!(!run(r#"addr != ip("192.168.0.0/16")"#, &[]).0);
    }

    #[test]
    fn boolean_error_rules() {
        let l = [("lvl", "error"), ("took", "oops")];
        assert_eq!(run(r#"lvl="error" or took > 1s"#, &l), (true, " ".into()));
        assert_eq!(
            run(r#"took > 1s or lvl="error""#, &l).1.split(' ').next(),
            Some("LabelFilterErr")
        );
        assert!(run(r#"lvl="error" and took > 1s"#, &l)
            .1
            .starts_with("LabelFilterErr"));
        // The first failing conversion owns the details.
        let l = [("x", "nope"), ("y", "90")];
        assert!(run("x > 1s and y > 1s", &l).1.contains("invalid duration"));
        assert!(run("y > 1s and x > 1s", &l).1.contains("missing unit"));
        // Converting filters cannot read __error__: the label is never there.
        let mut lb = LabelsBuilder::new(&[], Hints::default());
        lb.set_err("LabelFilterErr");
        assert!(!filter("__error__ > 0").process(&mut lb));
        assert!(filter(r#"__error__="LabelFilterErr""#).process(&mut lb));
        assert!(filter(r#"addr = ip("1.2.3.0/24")"#).process(&mut lb));
    }
}
