//! `lokal rules lint`: every rule's `expr` in canonical LogQL, as `lokitool rules
//! lint` makes it (`LintExpressions`: the expression re-parsed and printed by
//! Loki's `String()`).
//!
//! Unlike `lokitool`, which re-marshals the whole file (losing comments, order and
//! quoting), `--fix` replaces only the bytes of each `expr` value and keeps the
//! scalar's style where the canonical text allows it: a block scalar stays a block
//! with its header (`|`, `>-`, …), a quoted one keeps its quotes, a plain one stays
//! plain unless YAML needs quotes (then single quotes). The trailing newline of a
//! block scalar is not a difference.

use std::path::PathBuf;

use super::file::{RuleFile, Text};
use super::yaml::{char_offsets, Pos, Style};

/// One expression that is not canonical.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The file.
    pub file: PathBuf,
    /// Where the expression is.
    pub pos: Pos,
    /// Its group.
    pub group: String,
    /// Its rule (1-based index and name).
    pub rule: (usize, String),
    /// The expression as written.
    pub before: String,
    /// Its canonical form.
    pub after: String,
}

/// What linting a file found.
#[derive(Debug, Clone, Default)]
pub struct Lint {
    /// Rules whose expression was looked at.
    pub rules: usize,
    /// The expressions that are not canonical.
    pub changes: Vec<Change>,
    /// Expressions that do not parse: position and Loki's error.
    pub errors: Vec<(Pos, String)>,
    /// The file with the canonical expressions, when some changed.
    pub fixed: Option<String>,
}

/// True when `s` can be written as a plain YAML scalar in block context and
/// reads back as the same string (conservatively).
fn plain_ok(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    !"-?:,[]{}#&*!|>'\"%@`".contains(first)
        && !s.starts_with(char::is_whitespace)
        && !s.ends_with(char::is_whitespace)
        && !s.ends_with(':')
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.contains(['\n', '\t', '\r'])
        && !matches!(
            s,
            "~" | "null" | "Null" | "NULL" | "true" | "false" | "True" | "False"
        )
        && s.parse::<f64>().is_err()
}

fn single_quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn double_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The byte range to replace for `t` in `text` and what to put there.
fn replacement(text: &str, offsets: &[usize], t: &Text, canonical: &str) -> (usize, usize, String) {
    let (start, end) = (offsets[t.span.0], offsets[t.span.1]);
    match t.style {
        Style::Plain if plain_ok(canonical) => (start, end, canonical.to_string()),
        Style::Plain | Style::SingleQuoted => (start, end, single_quoted(canonical)),
        Style::DoubleQuoted => (start, end, double_quoted(canonical)),
        Style::Literal | Style::Folded => {
            // The header (`|`, `>-`, …) follows the key's `:`.
            let key_end = offsets[t.key_end];
            let after_key = &text[key_end..start];
            let header_at = after_key.find(['|', '>']).map_or(start, |i| key_end + i);
            let header_end = text[header_at..]
                .find('\n')
                .map_or(text.len(), |i| header_at + i);
            let header = &text[header_at..header_end];
            // The content ends at its last non-blank character.
            let content_end = start + text[start..end].trim_end().len();
            let indicator = header.split('#').next().unwrap_or("").trim();
            if indicator.chars().any(|c| c.is_ascii_digit()) {
                // An explicit indentation indicator: write a quoted scalar instead.
                return (header_at, content_end, single_quoted(canonical));
            }
            let indent = " ".repeat(t.pos.col.saturating_sub(1));
            (
                header_at,
                content_end,
                format!("{header}\n{indent}{canonical}"),
            )
        }
    }
}

/// Lints one rule file.
pub fn lint(file: &RuleFile) -> Lint {
    let mut out = Lint::default();
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let offsets = char_offsets(&file.text);
    for (_, g) in file.groups() {
        for r in &g.rules {
            let Some(e) = r.expr.as_ref() else { continue };
            out.rules += 1;
            let canonical = match crate::logql::format_query(&e.value, false) {
                Ok(c) => c,
                Err(err) => {
                    out.errors.push((e.pos, err.to_string()));
                    continue;
                }
            };
            let written = match e.style {
                Style::Literal | Style::Folded => e.value.strip_suffix('\n').unwrap_or(&e.value),
                _ => &e.value,
            };
            if written == canonical {
                continue;
            }
            out.changes.push(Change {
                file: file.path.clone(),
                pos: e.pos,
                group: g.name.clone(),
                rule: (r.index, r.name().to_string()),
                before: e.value.clone(),
                after: canonical.clone(),
            });
            edits.push(replacement(&file.text, &offsets, e, &canonical));
        }
    }
    if !edits.is_empty() {
        edits.sort_by_key(|e| e.0);
        let mut text = file.text.clone();
        for (start, end, with) in edits.into_iter().rev() {
            text.replace_range(start..end, &with);
        }
        out.fixed = Some(text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::file::decode;
    use std::path::Path;

    fn fix(text: &str) -> (Lint, String) {
        let f = decode(Path::new("r.yaml"), text.to_string()).unwrap();
        let l = lint(&f);
        let fixed = l.fixed.clone().unwrap_or_else(|| text.to_string());
        // The fixed file decodes to the canonical expressions and lints clean.
        let again = decode(Path::new("r.yaml"), fixed.clone()).unwrap();
        let l2 = lint(&again);
        assert!(l2.changes.is_empty(), "{fixed}\n{:?}", l2.changes);
        (l, fixed)
    }

    #[test]
    fn rewrites_only_the_expressions() {
        let text = r#"# team rules
groups:
  - name: g   # keep me
    rules:
      - alert: A
        expr: count_over_time({ foo = "bar" }[12m]) >         1
        for: 5m
      - alert: B
        expr: |
          sum by (org_id) (
            sum_over_time({job="q"} |= "metrics.go" | logfmt | unwrap duration(duration) [1m])
          )
        labels: {severity: page}
      - record: x:y
        expr: "count_over_time({a=\"b\"}[1m])"
      - record: x:z
        expr: 'count(count_over_time({foo="bar"}[1m])) or vector(1)'
      - record: x:w
        expr: sum(count_over_time({a="b"}[1m]))
"#;
        let (l, fixed) = fix(text);
        assert_eq!(l.rules, 5);
        assert_eq!(l.changes.len(), 3);
        assert_eq!(
            fixed,
            r#"# team rules
groups:
  - name: g   # keep me
    rules:
      - alert: A
        expr: (count_over_time({foo="bar"}[12m]) > 1)
        for: 5m
      - alert: B
        expr: |
          sum by (org_id)(sum_over_time({job="q"} |= "metrics.go" | logfmt | unwrap duration(duration)[1m]))
        labels: {severity: page}
      - record: x:y
        expr: "count_over_time({a=\"b\"}[1m])"
      - record: x:z
        expr: '(count(count_over_time({foo="bar"}[1m])) or vector(1.000000))'
      - record: x:w
        expr: sum(count_over_time({a="b"}[1m]))
"#
        );
    }

    #[test]
    fn quotes_what_plain_yaml_cannot_hold_and_reports_parse_errors() {
        let (_, fixed) = fix("groups:\n  - name: g\n    rules:\n      - record: a:b\n        expr: rate( {a=\"b\"} [1m])\n");
        assert!(fixed.contains("expr: rate({a=\"b\"}[1m])"), "{fixed}");
        let (_, fixed) = fix("groups:\n  - name: g\n    rules:\n      - record: a:b\n        expr: >-\n          count_over_time({a=\"b\"} |= \" #x\" [1m])\n");
        assert!(
            fixed.contains(">-\n          count_over_time({a=\"b\"} |= \" #x\"[1m])"),
            "{fixed}"
        );
        let f = decode(
            Path::new("r.yaml"),
            "groups:\n  - name: g\n    rules:\n      - record: a:b\n        expr: nope(\n".into(),
        )
        .unwrap();
        let l = lint(&f);
        assert_eq!(l.errors.len(), 1);
        assert!(l.errors[0].1.starts_with("parse error"));
    }
}
