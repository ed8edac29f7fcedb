//! The regexes LogQL compiles at parse time, with Go-style error texts.
//!
//! Loki compiles some regexes while parsing (stream and label-filter matchers,
//! `label_replace`, the `regexp` parser) and reports failures as parse errors in Go's
//! words (`error parsing regexp: invalid escape sequence: `\q``). Rust's `regex` speaks
//! the same RE2 dialect, so we compile with it and translate its error kinds.

use regex::Regex;
use regex_syntax::ast::{self, ErrorKind};
use regex_syntax::hir::{Class, Hir, HirKind};

/// Formats a Go `regexp/syntax` error.
fn go_error(code: &str, expr: &str) -> String {
    format!("error parsing regexp: {code}: `{expr}`")
}

/// Checks `pattern` with RE2 syntax and returns Go's error text on failure.
/// `whole` is the string Go would have compiled (it appears in some messages).
fn check_syntax(pattern: &str, offset_in_whole: usize, whole: &str) -> Result<(), String> {
    let mut parser = ast::parse::ParserBuilder::new().nest_limit(1000).build();
    let err = match parser.parse(pattern) {
        Ok(ast) => {
            check_group_names(&ast)?;
            return Ok(());
        }
        Err(e) => e,
    };
    let span = err.span();
    let piece = pattern
        .get(span.start.offset..span.end.offset)
        .unwrap_or("");
    let rest = pattern.get(span.start.offset..).unwrap_or("");
    let tail_of_whole = whole
        .get(offset_in_whole + span.start.offset..)
        .unwrap_or(rest);
    let msg = match err.kind() {
        ErrorKind::EscapeUnrecognized
        | ErrorKind::EscapeHexEmpty
        | ErrorKind::EscapeHexInvalid
        | ErrorKind::EscapeHexInvalidDigit
        | ErrorKind::ClassEscapeInvalid
        | ErrorKind::UnsupportedBackreference => go_error("invalid escape sequence", piece),
        ErrorKind::EscapeUnexpectedEof => go_error("trailing backslash at end of expression", ""),
        ErrorKind::GroupUnclosed => go_error("missing closing )", whole),
        ErrorKind::GroupUnopened => go_error("unexpected )", whole),
        ErrorKind::ClassUnclosed => go_error("missing closing ]", tail_of_whole),
        ErrorKind::ClassRangeInvalid | ErrorKind::ClassRangeLiteral => {
            go_error("invalid character class range", piece)
        }
        ErrorKind::RepetitionMissing => go_error("missing argument to repetition operator", piece),
        ErrorKind::RepetitionCountInvalid
        | ErrorKind::RepetitionCountDecimalEmpty
        | ErrorKind::RepetitionCountUnclosed
        | ErrorKind::DecimalEmpty
        | ErrorKind::DecimalInvalid => go_error("invalid repeat count", piece),
        ErrorKind::GroupNameEmpty
        | ErrorKind::GroupNameInvalid
        | ErrorKind::GroupNameUnexpectedEof => go_error("invalid named capture", rest),
        ErrorKind::GroupNameDuplicate { .. } => go_error("duplicate capture group name", piece),
        ErrorKind::NestLimitExceeded(_) => go_error("expression nests too deeply", whole),
        ErrorKind::UnicodeClassInvalid => go_error("invalid character class range", piece),
        _ => go_error("invalid or unsupported Perl syntax", piece),
    };
    Err(msg)
}

/// Go only allows `[A-Za-z0-9_]` in capture names; Rust also allows `.`, `[` and `]`.
fn check_group_names(a: &ast::Ast) -> Result<(), String> {
    let mut stack = vec![a];
    while let Some(a) = stack.pop() {
        match a {
            ast::Ast::Group(g) => {
                if let ast::GroupKind::CaptureName { name, .. } = &g.kind {
                    if !name
                        .name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_')
                    {
                        return Err(go_error(
                            "invalid named capture",
                            &format!("(?P<{}>", name.name),
                        ));
                    }
                }
                stack.push(&g.ast);
            }
            ast::Ast::Concat(c) => stack.extend(c.asts.iter()),
            ast::Ast::Alternation(c) => stack.extend(c.asts.iter()),
            ast::Ast::Repetition(r) => stack.push(&r.ast),
            _ => {}
        }
    }
    Ok(())
}

fn build(full: &str) -> Result<Regex, String> {
    regex::RegexBuilder::new(full)
        .size_limit(64 << 20)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(_) => go_error("expression too large", full),
            other => go_error("invalid or unsupported Perl syntax", &other.to_string()),
        })
}

/// Compiles a label matcher regex like Prometheus: `^(?s:re)$`.
pub(crate) fn compile_matcher(re: &str) -> Result<Regex, String> {
    check_syntax(re, 0, re)?;
    build(&format!("^(?s:{re})$"))
}

/// Compiles a `label_replace` regex like Loki: `^(?:re)$`; errors are prefixed with
/// `invalid regex in label_replace: `.
pub(crate) fn compile_label_replace(re: &str) -> Result<Regex, String> {
    let whole = format!("^(?:{re})$");
    check_syntax(re, 4, &whole)
        .and_then(|_| build(&whole))
        .map_err(|e| format!("invalid regex in label_replace: {e}"))
}

/// Prefix of the names [`go_capture_names`] gives Go capture groups that
/// Rust's regex syntax refuses.
const RENAMED_GROUP: &str = "lokal_go_group_";

/// Go's capture names are `[A-Za-z0-9_]+`, Rust's may not start with a
/// digit: renames every `(?P<name>` / `(?<name>` whose name starts with one
/// to `RENAMED_GROUP` + its position in `names`, and returns the regex and
/// the original names. A name outside Go's alphabet is Go's error.
pub fn go_capture_names(re: &str) -> Result<(String, Vec<String>), String> {
    let b = re.as_bytes();
    let (mut out, mut names) = (String::with_capacity(re.len()), Vec::new());
    let (mut i, mut last, mut in_class) = (0, 0, false);
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'[' if !in_class => {
                in_class = true;
                // A `]` first in the class (after an optional `^`) is literal.
                if b.get(i + 1) == Some(&b'^') {
                    i += 1;
                }
                if b.get(i + 1) == Some(&b']') {
                    i += 1;
                }
            }
            b']' if in_class => in_class = false,
            b'(' if !in_class => {
                let open = ["(?P<", "(?<"].into_iter().find(|p| re[i..].starts_with(p));
                if let Some(open) = open {
                    let start = i + open.len();
                    let end = re[start..].find('>').map(|e| start + e);
                    let name = end.map(|e| &re[start..e]).unwrap_or(&re[start..]);
                    let valid = !name.is_empty()
                        && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_');
                    match end {
                        Some(e) if valid => {
                            if name.as_bytes()[0].is_ascii_digit() {
                                out.push_str(&re[last..start]);
                                out.push_str(&format!("{RENAMED_GROUP}{}", names.len()));
                                names.push(name.to_string());
                                last = e;
                            }
                            i = e;
                        }
                        _ => {
                            let upto = end.map_or(re.len(), |e| e + 1);
                            return Err(format!(
                                "error parsing regexp: invalid named capture: `{}`",
                                &re[i..upto]
                            ));
                        }
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    out.push_str(&re[last..]);
    Ok((out, names))
}

/// The Go name of capture group `name` of a regex [`go_capture_names`]
/// rewrote, whose original names are `renamed`.
pub fn original_capture_name<'a>(name: &'a str, renamed: &'a [String]) -> &'a str {
    match name
        .strip_prefix(RENAMED_GROUP)
        .and_then(|k| k.parse::<usize>().ok())
    {
        Some(k) => &renamed[k],
        None => name,
    }
}

/// Validates the argument of the `regexp` parser stage as Loki's `NewRegexpParser` does.
/// The error text is the one Loki reports (`invalid regexp parser: …`).
pub(crate) fn check_regexp_parser(re: &str) -> Result<(), String> {
    let wrap = |e: String| format!("invalid regexp parser: {e}");
    let (re, renamed) = go_capture_names(re).map_err(wrap)?;
    let re = re.as_str();
    // Go accepts duplicate capture names (Loki rejects them itself, below); Rust does
    // not, so check names on the AST before compiling.
    let mut names: Vec<String> = Vec::new();
    let mut groups = 0usize;
    match ast::parse::ParserBuilder::new()
        .nest_limit(1000)
        .build()
        .parse(re)
    {
        Ok(a) => {
            check_group_names(&a).map_err(wrap)?;
            collect_groups(&a, &mut groups, &mut names);
        }
        Err(e) if matches!(e.kind(), ErrorKind::GroupNameDuplicate { .. }) => {
            let name = re
                .get(e.span().start.offset..e.span().end.offset)
                .unwrap_or("");
            return Err(wrap(format!("duplicate extracted label name '{name}'")));
        }
        Err(_) => {
            check_syntax(re, 0, re).map_err(wrap)?;
        }
    }
    if groups == 0 {
        return Err(wrap("at least one named capture must be supplied".into()));
    }
    let mut seen = std::collections::HashSet::new();
    // Every Go capture name is a valid label name for Loki 3.7.6, which
    // checks them as UTF-8 names and sanitises them when it extracts.
    for n in &names {
        let n = original_capture_name(n, &renamed);
        if !seen.insert(n) {
            return Err(wrap(format!("duplicate extracted label name '{n}'")));
        }
    }
    if names.is_empty() {
        return Err(wrap("at least one named capture must be supplied".into()));
    }
    build(re).map(|_| ()).map_err(wrap)
}

fn collect_groups(a: &ast::Ast, groups: &mut usize, names: &mut Vec<String>) {
    let mut stack = vec![a];
    // Visit in source order so that the first duplicate is the one reported.
    let mut ordered: Vec<&ast::Group> = Vec::new();
    while let Some(a) = stack.pop() {
        match a {
            ast::Ast::Group(g) => {
                if !matches!(g.kind, ast::GroupKind::NonCapturing(_)) {
                    ordered.push(g);
                }
                stack.push(&g.ast);
            }
            ast::Ast::Concat(c) => stack.extend(c.asts.iter()),
            ast::Ast::Alternation(c) => stack.extend(c.asts.iter()),
            ast::Ast::Repetition(r) => stack.push(&r.ast),
            _ => {}
        }
    }
    ordered.sort_by_key(|g| g.span.start.offset);
    for g in ordered {
        *groups += 1;
        if let ast::GroupKind::CaptureName { name, .. } = &g.kind {
            names.push(name.name.clone());
        }
    }
}

/// Validates the argument of the `pattern` parser stage (Loki's `pattern.New`).
pub(crate) fn check_pattern_parser(p: &str) -> Result<(), String> {
    let wrap = |e: String| format!("invalid pattern parser: {e}");
    // A pattern is literals and `<name>` captures; `<_>` captures nothing.
    let mut nodes: Vec<Option<&str>> = Vec::new(); // Some(name) = capture, None = literal
    let b = p.as_bytes();
    let mut i = 0;
    let mut lit = false;
    while i < b.len() {
        if b[i] == b'<' {
            let start = i + 1;
            let mut j = start;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                j += 1;
            }
            let ident_ok = j > start && !b[start].is_ascii_digit();
            if ident_ok && j < b.len() && b[j] == b'>' {
                if lit {
                    nodes.push(None);
                    lit = false;
                }
                nodes.push(Some(&p[start..j]));
                i = j + 1;
                continue;
            }
        }
        lit = true;
        i += 1;
    }
    if lit {
        nodes.push(None);
    }
    if !nodes
        .iter()
        .any(|n| matches!(n, Some(name) if *name != "_"))
    {
        return Err(wrap("at least one capture is required".into()));
    }
    for w in nodes.windows(2) {
        if let (Some(a), Some(b)) = (w[0], w[1]) {
            return Err(wrap(format!(
                "found consecutive capture '<{a}><{b}>': invalid expression"
            )));
        }
    }
    let mut seen = std::collections::HashSet::new();
    for name in nodes.iter().flatten().filter(|n| **n != "_") {
        if !seen.insert(*name) {
            return Err(wrap(format!(
                "duplicate capture name ({name}): invalid expression"
            )));
        }
    }
    Ok(())
}

/// Whether Loki's label-filter optimiser turns regex `re` into literal filters. Loki
/// prints a regex label filter it could *not* simplify in backticks (`msg=~`\w.*``), so
/// the printer needs the same decision (`log/filter.go` `simplify`).
pub(crate) fn label_regex_is_simplifiable(re: &str) -> bool {
    let Ok(hir) = regex_syntax::ParserBuilder::new().build().parse(re) else {
        return true; // invalid regexes never reach the printer
    };
    simplify(&hir)
}

fn any_char_not_nl(h: &Hir) -> bool {
    match h.kind() {
        HirKind::Class(Class::Unicode(c)) => {
            let r = c.ranges();
            r.len() == 2
                && r[0].start() == '\0'
                && r[0].end() == '\u{9}'
                && r[1].start() == '\u{b}'
                && r[1].end() == char::MAX
        }
        HirKind::Class(Class::Bytes(c)) => {
            let r = c.ranges();
            r.len() == 2
                && r[0].start() == 0
                && r[0].end() == 9
                && r[1].start() == 11
                && r[1].end() == 255
        }
        _ => false,
    }
}

fn star_of_any(h: &Hir) -> bool {
    matches!(h.kind(), HirKind::Repetition(r) if r.min == 0 && r.max.is_none() && any_char_not_nl(&r.sub))
}

/// A literal or a class that is one character under case folding (`(?i)a` → `[Aa]`).
fn literal_piece(h: &Hir) -> Option<bool> {
    match h.kind() {
        HirKind::Literal(_) => Some(false),
        HirKind::Class(Class::Unicode(c)) => {
            let chars: Vec<char> = c
                .ranges()
                .iter()
                .flat_map(|r| r.start()..=r.end())
                .take(5)
                .collect();
            if chars.len() < 2 || chars.len() > 4 {
                return None;
            }
            let key = |c: char| c.to_lowercase().collect::<String>();
            let up = |c: char| c.to_uppercase().collect::<String>();
            let first = chars[0];
            chars
                .iter()
                .all(|c| key(*c) == key(first) || up(*c) == up(first))
                .then_some(true)
        }
        _ => None,
    }
}

fn unwrap_capture(h: &Hir) -> &Hir {
    match h.kind() {
        HirKind::Capture(c) => unwrap_capture(&c.sub),
        _ => h,
    }
}

fn simplify(h: &Hir) -> bool {
    let h = unwrap_capture(h);
    match h.kind() {
        HirKind::Empty => true,
        HirKind::Literal(_) => true,
        HirKind::Class(_) => literal_piece(h).is_some(),
        HirKind::Alternation(subs) => subs.iter().all(simplify),
        HirKind::Repetition(r) => {
            any_char_not_nl(&r.sub) && r.max.is_none() && (r.min == 0 || r.min == 1)
        }
        HirKind::Concat(subs) => simplify_concat(subs),
        _ => false,
    }
}

fn simplify_concat(subs: &[Hir]) -> bool {
    // Merge runs of literal pieces into one literal, as Go's parser does.
    let mut parts: Vec<Option<&Hir>> = Vec::new(); // None = a literal run
    let mut run_ci: Option<bool> = None;
    let mut literal_runs = 0;
    for s in subs {
        let s = unwrap_capture(s);
        if matches!(s.kind(), HirKind::Empty) {
            continue;
        }
        if let Some(ci) = literal_piece(s) {
            match run_ci {
                Some(prev) if prev == ci && matches!(parts.last(), Some(None)) => {}
                _ => {
                    parts.push(None);
                    literal_runs += 1;
                    run_ci = Some(ci);
                }
            }
            continue;
        }
        run_ci = None;
        parts.push(Some(s));
    }
    if parts.len() > 3 || literal_runs > 1 {
        return false;
    }
    let mut seen_literal = false;
    for p in parts {
        match p {
            None => seen_literal = true,
            Some(h) if star_of_any(h) => {}
            Some(h) if seen_literal && matches!(h.kind(), HirKind::Alternation(_)) => {
                let HirKind::Alternation(alts) = h.kind() else {
                    return false;
                };
                let ok = alts.iter().all(|a| {
                    let a = unwrap_capture(a);
                    match a.kind() {
                        HirKind::Empty | HirKind::Literal(_) => true,
                        HirKind::Concat(c) => simplify_concat(c),
                        _ => star_of_any(a) || literal_piece(a).is_some(),
                    }
                });
                if !ok {
                    return false;
                }
            }
            Some(_) => return false,
        }
    }
    seen_literal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_error_texts() {
        assert_eq!(
            compile_label_replace(r"^^^^x43\q").unwrap_err(),
            r"invalid regex in label_replace: error parsing regexp: invalid escape sequence: `\q`"
        );
        assert!(compile_matcher("(")
            .unwrap_err()
            .contains("missing closing )"));
        let m = compile_matcher("a.b").unwrap();
        assert!(m.is_match("a\nb") && !m.is_match("xa.b"));
    }

    #[test]
    fn regexp_parser_checks() {
        assert!(check_regexp_parser("(?P<foo>foo|bar)").is_ok());
        assert_eq!(
            check_regexp_parser("nocapture").unwrap_err(),
            "invalid regexp parser: at least one named capture must be supplied"
        );
        assert!(check_regexp_parser("(?P<x>.)(?P<x>.)")
            .unwrap_err()
            .contains("duplicate extracted label name 'x'"));
        assert!(check_regexp_parser("(")
            .unwrap_err()
            .contains("error parsing regexp"));
        // Go's capture names are [A-Za-z0-9_]+, a leading digit included.
        assert!(check_regexp_parser(r"(?P<1a>\d+)(?<2>x)").is_ok());
        assert_eq!(
            check_regexp_parser("(?P<a.b>x)").unwrap_err(),
            "invalid regexp parser: error parsing regexp: invalid named capture: `(?P<a.b>`"
        );
        assert!(check_regexp_parser("(?P<1a>.)(?P<1a>.)")
            .unwrap_err()
            .contains("duplicate extracted label name '1a'"));
        let (re, names) = go_capture_names(r"[(?P<9>]\(?P<8>(?P<7>x)").unwrap();
        assert_eq!(names, ["7"]);
        assert_eq!(
            original_capture_name(&re[re.len() - 19..re.len() - 3], &names),
            "7"
        );
    }

    #[test]
    fn pattern_checks() {
        assert!(check_pattern_parser("<foo> bar <buzz>").is_ok());
        assert!(check_pattern_parser("no captures here")
            .unwrap_err()
            .contains("at least one capture is required"));
        assert!(check_pattern_parser("<_> x").is_err());
        assert!(check_pattern_parser("<a><b>")
            .unwrap_err()
            .contains("consecutive"));
    }

    #[test]
    fn simplifiable() {
        assert!(label_regex_is_simplifiable(".*"));
        assert!(label_regex_is_simplifiable("foo"));
        assert!(label_regex_is_simplifiable("foo|bar"));
        assert!(label_regex_is_simplifiable(".*foo.*"));
        assert!(label_regex_is_simplifiable("(?i)foo"));
        assert!(!label_regex_is_simplifiable(r"\w.*"));
        assert!(!label_regex_is_simplifiable("a|b"));
        assert!(!label_regex_is_simplifiable(".*?(GET|POST) /x"));
    }
}
