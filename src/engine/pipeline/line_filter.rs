//! Line filters: `|=`, `!=`, `|~`, `!~`, `|>`, `!>`, with `or` alternatives and `ip()`.

use memchr::memmem::Finder;
use regex::bytes::Regex;

use super::ip::IpMatcher;
use super::pattern::Pattern;
use crate::logql::{LineFilter, LineFilterOp, LineMatch};

/// One alternative of a filter.
#[derive(Debug, Clone)]
enum Term {
    /// Substring (the finder is built once per query).
    Contains(Box<Finder<'static>>),
    /// Unanchored RE2-style regex.
    Regex(Regex),
    /// `<_>` pattern over the whole line.
    Pattern(Pattern),
    /// An address inside the `ip()` pattern somewhere in the line.
    Ip(IpMatcher),
}

impl Term {
    fn is_match(&self, line: &[u8]) -> bool {
        match self {
            Term::Contains(f) => f.find(line).is_some(),
            Term::Regex(r) => r.is_match(line),
            Term::Pattern(p) => p.test(line),
            Term::Ip(m) => m.matches_in(line),
        }
    }
}

/// A compiled line filter stage.
#[derive(Debug, Clone)]
pub struct CompiledLineFilter {
    negated: bool,
    terms: Vec<Term>,
}

impl CompiledLineFilter {
    /// Compiles a filter; `Ok(None)` for `|= ""`, which Loki drops as a no-op. The errors
    /// are the ones Loki reports when it builds the pipeline.
    pub fn new(f: &LineFilter) -> Result<Option<CompiledLineFilter>, String> {
        let negated = f.op.is_negated();
        let all: Vec<&LineMatch> = std::iter::once(&f.value).chain(f.or.iter()).collect();
        // Loki checks the operator of every ip() term before anything else.
        let is_ip_op = matches!(f.op, LineFilterOp::Contains | LineFilterOp::NotContains);
        if !is_ip_op && all.iter().any(|m| matches!(m, LineMatch::Ip(_))) {
            return Err("ip: invalid operation".into());
        }
        // `!= ""` is Loki's `not(contains "")`, and every line contains the
        // empty string: it keeps no line at all, the empty ones included
        // (`NewFilter` in `pkg/logql/log/filter.go`). The terms below do that.
        if all.len() == 1 && f.op == LineFilterOp::Contains {
            if let LineMatch::Str(s) = &f.value {
                if s.is_empty() {
                    return Ok(None);
                }
            }
        }
        let mut terms = Vec::with_capacity(all.len());
        for m in all {
            terms.push(match m {
                LineMatch::Ip(p) => Term::Ip(IpMatcher::new(p)?),
                LineMatch::Str(s) => match f.op {
                    LineFilterOp::Contains | LineFilterOp::NotContains => {
                        Term::Contains(Box::new(Finder::new(s.as_bytes()).into_owned()))
                    }
                    LineFilterOp::Match | LineFilterOp::NotMatch => Term::Regex(compile_regex(s)?),
                    LineFilterOp::Pattern | LineFilterOp::NotPattern => {
                        Term::Pattern(Pattern::line_filter(s)?)
                    }
                },
            });
        }
        Ok(Some(CompiledLineFilter { negated, terms }))
    }

    /// Whether the line passes.
    pub fn keep(&self, line: &[u8]) -> bool {
        self.terms.iter().any(|t| t.is_match(line)) != self.negated
    }
}

/// Compiles an unanchored line-filter regex with Go's error prefix
/// (`error parsing regexp: …`) and Go's ASCII-only Perl classes (see [`go_compat`]).
pub fn compile_regex(re: &str) -> Result<Regex, String> {
    Regex::new(&go_compat(re)).map_err(|e| go_regex_error(re, &e))
}

/// Rewrites a regex so that Rust's engine reads it as Go's RE2 does: in Go `\d`, `\w`,
/// `\s` and `\b` are ASCII-only, while Rust's are Unicode-aware. Everything else in the
/// two syntaxes agrees for valid Go regexes. A regex that does not parse is returned as
/// is (compiling it reports the error).
pub fn go_compat(re: &str) -> String {
    let re = &*literal_class_dashes(re);
    use regex_syntax::ast::{self, Ast, ClassPerlKind, ClassSetItem};
    struct V(Vec<(usize, usize, &'static str)>);
    fn perl(kind: &ClassPerlKind, negated: bool, bracketed: bool) -> &'static str {
        match (kind, negated, bracketed) {
            (ClassPerlKind::Digit, false, false) => "[0-9]",
            (ClassPerlKind::Digit, true, false) => "[^0-9]",
            (ClassPerlKind::Word, false, false) => "[0-9A-Za-z_]",
            (ClassPerlKind::Word, true, false) => "[^0-9A-Za-z_]",
            (ClassPerlKind::Space, false, false) => r"[\t\n\f\r\x20]",
            (ClassPerlKind::Space, true, false) => r"[^\t\n\f\r\x20]",
            (ClassPerlKind::Digit, false, true) => "0-9",
            (ClassPerlKind::Word, false, true) => "0-9A-Za-z_",
            (ClassPerlKind::Space, false, true) => r"\t\n\f\r\x20",
            (ClassPerlKind::Digit, true, true) => "[^0-9]",
            (ClassPerlKind::Word, true, true) => "[^0-9A-Za-z_]",
            (ClassPerlKind::Space, true, true) => r"[^\t\n\f\r\x20]",
        }
    }
    impl ast::Visitor for V {
        type Output = Vec<(usize, usize, &'static str)>;
        type Err = ();
        fn finish(self) -> Result<Self::Output, ()> {
            Ok(self.0)
        }
        fn visit_pre(&mut self, a: &Ast) -> Result<(), ()> {
            match a {
                Ast::ClassPerl(c) => self.0.push((
                    c.span.start.offset,
                    c.span.end.offset,
                    perl(&c.kind, c.negated, false),
                )),
                Ast::Assertion(x) => {
                    let r = match x.kind {
                        ast::AssertionKind::WordBoundary => "(?-u:\\b)",
                        ast::AssertionKind::NotWordBoundary => "(?-u:\\B)",
                        _ => return Ok(()),
                    };
                    self.0.push((x.span.start.offset, x.span.end.offset, r));
                }
                _ => {}
            }
            Ok(())
        }
        fn visit_class_set_item_pre(&mut self, item: &ClassSetItem) -> Result<(), ()> {
            if let ClassSetItem::Perl(c) = item {
                self.0.push((
                    c.span.start.offset,
                    c.span.end.offset,
                    perl(&c.kind, c.negated, true),
                ));
            }
            Ok(())
        }
    }
    let Ok(parsed) = ast::parse::Parser::new().parse(re) else {
        return re.to_string();
    };
    let mut spans = ast::visit(&parsed, V(Vec::new())).unwrap_or_default();
    if spans.is_empty() {
        return re.to_string();
    }
    spans.sort();
    let mut out = String::with_capacity(re.len() + 16);
    let mut last = 0;
    for (a, b, r) in spans {
        out.push_str(&re[last..a]);
        out.push_str(r);
        last = b;
    }
    out.push_str(&re[last..]);
    out
}

/// In a Go character class a `-` right after a Perl class (`[\d-:]`, as in
/// promtail's documented `[T\d-:.Z]`) is a literal dash; Rust's parser
/// refuses it as a range, so it is escaped (`[\d\-:]`).
fn literal_class_dashes(re: &str) -> std::borrow::Cow<'_, str> {
    let b = re.as_bytes();
    // Byte offsets of the dashes to escape.
    let mut dashes = Vec::new();
    let mut in_class = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                let perl = matches!(b.get(i + 1), Some(b'd' | b'D' | b'w' | b'W' | b's' | b'S'));
                if in_class
                    && perl
                    && b.get(i + 2) == Some(&b'-')
                    && !matches!(b.get(i + 3), Some(b']') | None)
                {
                    dashes.push(i + 2);
                }
                i += 2;
                continue;
            }
            b'[' if !in_class => {
                in_class = true;
                // `[]…]` and `[^]…]`: a leading `]` is a literal.
                let mut j = i + 1;
                if b.get(j) == Some(&b'^') {
                    j += 1;
                }
                if b.get(j) == Some(&b']') {
                    j += 1;
                }
                i = j;
                continue;
            }
            // `[:alpha:]` inside a class.
            b'[' if b.get(i + 1) == Some(&b':') => {
                if let Some(end) = re[i + 2..].find(":]") {
                    i += end + 4;
                    continue;
                }
            }
            b']' if in_class => in_class = false,
            _ => {}
        }
        i += 1;
    }
    if dashes.is_empty() {
        return std::borrow::Cow::Borrowed(re);
    }
    let mut out = String::with_capacity(re.len() + dashes.len());
    let mut last = 0;
    for d in dashes {
        out.push_str(&re[last..d]);
        out.push('\\');
        last = d;
    }
    out.push_str(&re[last..]);
    std::borrow::Cow::Owned(out)
}

/// Go's `regexp/syntax` message for a regex that does not compile, as far as the Rust
/// error can tell (`error parsing regexp: missing closing ): `(``).
pub fn go_regex_error(re: &str, e: &regex::Error) -> String {
    use regex_syntax::ast::ErrorKind as K;
    let code = match regex_syntax::ast::parse::Parser::new().parse(re) {
        Err(ae) => match ae.kind() {
            K::GroupUnclosed => "missing closing )",
            K::GroupUnopened => "unexpected )",
            K::ClassUnclosed => "missing closing ]",
            K::ClassRangeInvalid => "invalid character class range",
            K::RepetitionMissing => "missing argument to repetition operator",
            K::RepetitionCountInvalid | K::RepetitionCountUnclosed => "invalid repeat count",
            K::EscapeUnrecognized | K::EscapeUnexpectedEof => "invalid escape sequence",
            K::GroupNameDuplicate { .. } => "duplicate capture group name",
            K::GroupNameInvalid | K::GroupNameEmpty | K::GroupNameUnexpectedEof => {
                "invalid named capture"
            }
            K::FlagUnrecognized | K::FlagDanglingNegation | K::FlagRepeatedNegation { .. } => {
                "invalid or unsupported Perl syntax"
            }
            _ => "invalid or unsupported Perl syntax",
        },
        Ok(_) => {
            return format!("error parsing regexp: {e}");
        }
    };
    format!("error parsing regexp: {code}: `{re}`")
}

#[cfg(test)]
mod tests {
    #[test]
    fn dash_after_a_perl_class_is_literal_as_in_go() {
        let re = super::compile_regex(r"ts=(?P<t>[T\d-:.Z]*)").unwrap();
        let caps = re.captures(b"ts=2019-04-30T02:12:41.8Z x").unwrap();
        assert_eq!(&caps["t"], b"2019-04-30T02:12:41.8Z");
        assert!(super::compile_regex(r"[a\d-]").is_ok());
        assert_eq!(super::literal_class_dashes(r"\d-[x-y]"), r"\d-[x-y]");
        assert_eq!(super::literal_class_dashes(r"[\w-é]"), r"[\w\-é]");
    }

    use super::*;
    use crate::logql::{parse_expr, Expr, Stage};

    fn filter(q: &str) -> Result<Option<CompiledLineFilter>, String> {
        let Expr::Log(l) = parse_expr(q).unwrap() else {
            panic!()
        };
        let Stage::LineFilter(f) = &l.pipeline[0] else {
            panic!()
        };
        CompiledLineFilter::new(f)
    }

    fn keeps(q: &str, line: &str) -> bool {
        let Expr::Log(l) = parse_expr(q).unwrap() else {
            panic!()
        };
        l.pipeline.iter().all(|s| {
            let Stage::LineFilter(f) = s else { panic!() };
            CompiledLineFilter::new(f)
                .unwrap()
                .is_none_or(|f| f.keep(line.as_bytes()))
        })
    }

    #[test]
    fn substring_and_regex() {
        assert!(keeps(r#"{a="b"} |= "err""#, "req id=1 err=connrefused"));
        assert!(!keeps(r#"{a="b"} |= "ERR""#, "req id=1 err=connrefused"));
        assert!(keeps(r#"{a="b"} != "err""#, "req id=2 ok"));
        assert!(filter(r#"{a="b"} |= """#).unwrap().is_none());
        // Every line contains "": Loki's `!= ""` keeps none.
        assert!(!keeps(r#"{a="b"} != """#, ""));
        assert!(!keeps(r#"{a="b"} != """#, "x"));
        assert!(keeps(r#"{a="b"} |~ "code=5..""#, "code=500 fail"));
        assert!(!keeps(r#"{a="b"} |~ "code=5..""#, "CODE=503 down"));
        assert!(keeps(r#"{a="b"} |~ "(?i)code=5..""#, "CODE=503 down"));
        assert!(!keeps(r#"{a="b"} !~ "code=5..""#, "code=500 fail"));
        assert!(keeps(r#"{a="b"} |= "error" or "warn""#, "level=warn y"));
        assert!(keeps(r#"{a="b"} |~ "err.r" or "wa.n""#, "level=warn y"));
        assert!(!keeps(r#"{a="b"} != "error" or "warn""#, "level=warn y"));
        assert!(keeps(
            r#"{a="b"} |> "level=error <_>" or "level=warn <_>""#,
            "level=warn y"
        ));
        // Go's \d, \w, \s and \b are ASCII-only.
        assert!(keeps(r#"{a="b"} |~ "\\d+""#, "x 42"));
        assert!(!keeps(r#"{a="b"} |~ "^\\d+$""#, "٣"));
        assert!(!keeps(r#"{a="b"} |~ "^\\w$""#, "é"));
        assert!(keeps(r#"{a="b"} |~ "^[\\w.]+$""#, "a.b_9"));
        assert!(!keeps(r#"{a="b"} |~ "^[\\w]+$""#, "é"));
        assert!(!keeps(r#"{a="b"} |~ "é\\b""#, "é "));
        assert!(keeps(r#"{a="b"} |~ "a\\b""#, "a é"));
        assert_eq!(
            go_compat(r"\d[\s\D]\b"),
            r"[0-9][\t\n\f\r\x20[^0-9]](?-u:\b)"
        );
        assert!(filter(r#"{a="b"} |~ "(""#)
            .unwrap_err()
            .starts_with("error parsing regexp: missing closing ): `(`"));
    }

    #[test]
    fn ip_filters() {
        assert!(keeps(
            r#"{a="b"} |= ip("192.168.1.0/24")"#,
            "src 192.168.1.10 ok"
        ));
        assert!(keeps(r#"{a="b"} != ip("192.168.1.0/24")"#, "no ip here"));
        assert!(keeps(
            r#"{a="b"} |= "special" or ip("10.0.0.0/8")"#,
            "src 10.0.0.9 ok"
        ));
        assert!(keeps(
            r#"{a="b"} |= ip("10.0.0.0/8") or "special""#,
            "special no ip"
        ));
        assert_eq!(
            filter(r#"{a="b"} |~ "special" or ip("192.168.1.0/24")"#).unwrap_err(),
            "ip: invalid operation"
        );
        assert_eq!(
            filter(r#"{a="b"} |~ ip("192.168.1.0/24") or "special""#).unwrap_err(),
            "ip: invalid operation"
        );
        assert!(filter(r#"{a="b"} |= ip("") or "special""#)
            .unwrap_err()
            .starts_with("ip: invalid pattern"));
    }
}
