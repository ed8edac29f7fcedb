//! What `lokal rules check` reports: the checks Loki's ruler makes when it loads a
//! rule file (`pkg/ruler/compat.go`: `ValidateGroups`, `validateRule`,
//! `testTemplateParsing`), the conventions `lokitool rules check` adds
//! (recording rule names, duplicate rules, repeated namespaces), and what lokal
//! knows cannot work (a log query as a rule's expression).
//!
//! Every problem names its file, line and column, group and rule. Loki stops at
//! the first problem of a rule; this reports them all. The reasons are Loki's
//! words where Loki has them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::file::{Group, Rule, RuleFile};
use super::template;
use super::yaml::Pos;
use crate::logql::Expr;

/// How serious a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Loki's ruler refuses the file (or no evaluation of the rule can work).
    Error,
    /// `lokitool rules check` fails on it; Loki's ruler loads the file.
    Convention,
    /// Worth knowing; nothing refuses it.
    Warning,
}

/// One problem of a rule file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    /// The file.
    pub file: PathBuf,
    /// Where in it.
    pub pos: Pos,
    /// The group, if the problem is in one.
    pub group: Option<String>,
    /// The rule (1-based index and name), if the problem is in one.
    pub rule: Option<(usize, String)>,
    /// What is wrong.
    pub msg: String,
    /// How serious it is.
    pub level: Level,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: ", self.file.display(), self.pos)?;
        match self.level {
            Level::Error => {}
            Level::Convention => f.write_str("convention: ")?,
            Level::Warning => f.write_str("warning: ")?,
        }
        match (&self.group, &self.rule) {
            (Some(g), Some((i, r))) => write!(f, "group {g:?}, rule {i} {r:?}: ")?,
            (Some(g), None) => write!(f, "group {g:?}: ")?,
            _ => {}
        }
        f.write_str(&self.msg)
    }
}

/// Options of the checks.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `lokitool rules check --strict`: recording rule names need two colons
    /// (`level:metric:operation`), not one.
    pub strict: bool,
}

/// Prometheus' legacy metric names: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_valid_metric_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_' || b[0] == b':')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b':')
}

struct Sink<'a> {
    file: &'a RuleFile,
    out: Vec<Problem>,
}

impl Sink<'_> {
    fn push(
        &mut self,
        pos: Pos,
        group: Option<&Group>,
        rule: Option<&Rule>,
        level: Level,
        msg: String,
    ) {
        self.out.push(Problem {
            file: self.file.path.clone(),
            pos,
            group: group.map(|g| g.name.clone()),
            rule: rule.map(|r| (r.index, r.name().to_string())),
            msg,
            level,
        });
    }
}

/// Checks rule files; problems sorted by file and position.
pub fn check(files: &[RuleFile], o: &Options) -> Vec<Problem> {
    let mut out = Vec::new();
    // lokitool refuses a namespace defined twice (files without `namespace:` are
    // named after the file, so two `rules.yaml` in different directories clash).
    let mut seen_ns: BTreeMap<&str, (&PathBuf, Pos)> = BTreeMap::new();
    for f in files {
        let mut sink = Sink {
            file: f,
            out: Vec::new(),
        };
        if f.namespaces.iter().all(|ns| ns.groups.is_empty()) {
            sink.push(
                Pos { line: 1, col: 1 },
                None,
                None,
                Level::Warning,
                "no rule groups".into(),
            );
        }
        for ns in &f.namespaces {
            let pos = ns.explicit.unwrap_or(Pos { line: 1, col: 1 });
            match seen_ns.get(ns.name.as_str()) {
                Some((p, at)) => sink.push(
                    pos,
                    None,
                    None,
                    Level::Convention,
                    format!(
                        "namespace {:?} is also defined at {}:{} (lokitool refuses a repeated namespace; set `namespace:` to tell them apart)",
                        ns.name,
                        p.display(),
                        at
                    ),
                ),
                None => {
                    seen_ns.insert(&ns.name, (&f.path, pos));
                }
            }
            let mut names: BTreeMap<&str, ()> = BTreeMap::new();
            for g in &ns.groups {
                if g.name.is_empty() {
                    sink.push(
                        g.pos,
                        Some(g),
                        None,
                        Level::Error,
                        "Groupname must not be empty".into(),
                    );
                } else if names.insert(&g.name, ()).is_some() {
                    sink.push(
                        g.pos,
                        Some(g),
                        None,
                        Level::Error,
                        format!("groupname: {:?} is repeated in the same file", g.name),
                    );
                }
                for l in &g.labels {
                    if !crate::model::is_valid_label_name(&l.key) || l.key == "__name__" {
                        sink.push(
                            l.key_pos,
                            Some(g),
                            None,
                            Level::Error,
                            format!("invalid label name: {}", l.key),
                        );
                    }
                }
                for r in &g.rules {
                    check_rule(&mut sink, g, r);
                }
                conventions(&mut sink, g, o);
            }
        }
        out.extend(sink.out);
    }
    out.sort();
    out
}

fn check_rule(sink: &mut Sink<'_>, g: &Group, r: &Rule) {
    let mut err = |pos: Pos, msg: String| sink.push(pos, Some(g), Some(r), Level::Error, msg);
    let record = r.record.as_ref().filter(|t| !t.value.is_empty());
    let alert = r.alert.as_ref().filter(|t| !t.value.is_empty());
    match (record, alert) {
        (Some(rec), Some(_)) => err(
            rec.pos,
            "only one of 'record' and 'alert' must be set".into(),
        ),
        (None, None) => err(r.pos, "one of 'record' or 'alert' must be set".into()),
        _ => {}
    }
    match r.expr.as_ref().filter(|e| !e.value.is_empty()) {
        None => err(r.pos, "field 'expr' must be set in rule".into()),
        Some(e) => match crate::logql::parse_expr(&e.value) {
            Err(pe) => {
                let what = if record.is_some() { "record" } else { "alert" };
                err(
                    e.pos,
                    format!(
                        "could not parse expression for {what} '{}' in group '{}': {pe}",
                        r.name(),
                        g.name
                    ),
                )
            }
            Ok(Expr::Log(_)) => err(
                e.pos,
                "expr is a log query; a rule needs a metric query (Loki loads the file, but every \
                 evaluation fails: log queries are not supported as an instant query type)"
                    .into(),
            ),
            Ok(Expr::Sample(_)) => {}
        },
    }
    if let Some(rec) = record {
        if let Some(a) = r.annotations.first() {
            err(
                a.key_pos,
                "invalid field 'annotations' in recording rule".into(),
            );
        }
        if r.hold.0 != 0 {
            err(
                r.hold.1.unwrap_or(rec.pos),
                "invalid field 'for' in recording rule".into(),
            );
        }
        if !is_valid_metric_name(&rec.value) {
            err(
                rec.pos,
                format!("invalid recording rule name: {}", rec.value),
            );
        }
        if r.keep_firing_for.0 != 0 {
            sink.push(
                r.keep_firing_for.1.unwrap_or(rec.pos),
                Some(g),
                Some(r),
                Level::Warning,
                "keep_firing_for has no effect in a recording rule (Prometheus refuses it, Loki ignores it)".into(),
            );
        }
    }
    let mut err = |pos: Pos, msg: String| sink.push(pos, Some(g), Some(r), Level::Error, msg);
    for l in &r.labels {
        if !crate::model::is_valid_label_name(&l.key) || l.key == "__name__" {
            err(l.key_pos, format!("invalid label name: {}", l.key));
        }
    }
    for a in &r.annotations {
        if !crate::model::is_valid_label_name(&a.key) {
            err(a.key_pos, format!("invalid annotation name: {}", a.key));
        }
    }
    if alert.is_some() {
        for (what, entries) in [("label", &r.labels), ("annotation", &r.annotations)] {
            for e in entries {
                if let Err(t) = template::check(r.name(), &e.value) {
                    err(e.value_pos, format!("{what} {:?}: {t}", e.key));
                }
            }
        }
    }
}

/// `lokitool rules check`: recording rule names of the form `level:metric:operation`
/// and rules that record the same series twice.
fn conventions(sink: &mut Sink<'_>, g: &Group, o: &Options) {
    let colons = if o.strict { 2 } else { 1 };
    for r in &g.rules {
        let Some(rec) = r.record.as_ref().filter(|t| !t.value.is_empty()) else {
            continue;
        };
        if rec.value.matches(':').count() < colons {
            sink.push(
                rec.pos,
                Some(g),
                Some(r),
                Level::Convention,
                format!(
                    "recording rule name does not match level:metric:operation format, must contain at least {} colon{}",
                    if o.strict { "two" } else { "one" },
                    if o.strict { "s" } else { "" }
                ),
            );
        }
    }
    // promtool's checkDuplicates: same name and labels within a group.
    fn key(r: &Rule) -> (&str, Vec<(&str, &str)>) {
        let mut l: Vec<(&str, &str)> = r
            .labels
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_str()))
            .collect();
        l.sort();
        (r.name(), l)
    }
    for (i, r) in g.rules.iter().enumerate() {
        if let Some(first) = g.rules[..i].iter().find(|p| key(p) == key(r)) {
            sink.push(
                r.pos,
                Some(g),
                Some(r),
                Level::Warning,
                format!(
                    "same name and labels as rule {} (line {}): might cause inconsistency while recording expressions",
                    first.index, first.pos.line
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::file::decode;
    use std::path::Path;

    fn problems(text: &str) -> Vec<String> {
        let f = decode(Path::new("r.yaml"), text.to_string()).unwrap();
        check(&[f], &Options::default())
            .iter()
            .map(|p| p.to_string())
            .collect()
    }

    #[test]
    fn lokis_load_time_checks() {
        let p = problems(
            r#"groups:
  - name: g
    rules:
      - alert: A
        record: a:b
        expr: count_over_time({a="b"}[1m])
      - expr: count_over_time({a="b"}[1m])
      - alert: B
        expr: garbage
        labels: {"se.verity": x}
        annotations: {s: "{{ nosuch }}", "b.ad": y}
      - record: c.d
        expr: '{a="b"}'
        for: 1m
        annotations: {x: y}
  - name: g
"#,
        );
        assert_eq!(
            p,
            [
                "r.yaml:5:17: group \"g\", rule 1 \"A\": only one of 'record' and 'alert' must be set",
                "r.yaml:7:9: group \"g\", rule 2 \"\": one of 'record' or 'alert' must be set",
                "r.yaml:9:15: group \"g\", rule 3 \"B\": could not parse expression for alert 'B' in group 'g': parse error at line 1, col 1: syntax error: unexpected IDENTIFIER",
                "r.yaml:10:18: group \"g\", rule 3 \"B\": invalid label name: se.verity",
                "r.yaml:11:26: group \"g\", rule 3 \"B\": annotation \"s\": template: __alert_B:1: function \"nosuch\" not defined",
                "r.yaml:11:42: group \"g\", rule 3 \"B\": invalid annotation name: b.ad",
                "r.yaml:12:17: group \"g\", rule 4 \"c.d\": invalid recording rule name: c.d",
                "r.yaml:12:17: convention: group \"g\", rule 4 \"c.d\": recording rule name does not match level:metric:operation format, must contain at least one colon",
                "r.yaml:13:15: group \"g\", rule 4 \"c.d\": expr is a log query; a rule needs a metric query (Loki loads the file, but every evaluation fails: log queries are not supported as an instant query type)",
                "r.yaml:14:14: group \"g\", rule 4 \"c.d\": invalid field 'for' in recording rule",
                "r.yaml:15:23: group \"g\", rule 4 \"c.d\": invalid field 'annotations' in recording rule",
                "r.yaml:16:5: group \"g\": groupname: \"g\" is repeated in the same file",
            ]
        );
    }

    #[test]
    fn conventions_and_warnings() {
        let p = problems(
            r#"groups:
  - name: g
    rules:
      - record: job:errors
        expr: count_over_time({a="b"}[1m])
        keep_firing_for: 5m
      - record: job:errors
        expr: count_over_time({a="c"}[1m])
"#,
        );
        assert_eq!(
            p,
            [
                "r.yaml:6:26: warning: group \"g\", rule 1 \"job:errors\": keep_firing_for has no effect in a recording rule (Prometheus refuses it, Loki ignores it)",
                "r.yaml:7:9: warning: group \"g\", rule 2 \"job:errors\": same name and labels as rule 1 (line 4): might cause inconsistency while recording expressions",
            ]
        );
        let f = decode(Path::new("r.yaml"), "groups:\n  - name: g\n    rules:\n      - record: job:errors\n        expr: vector(1)\n".into()).unwrap();
        let strict = check(&[f], &Options { strict: true });
        assert_eq!(strict.len(), 1);
        assert!(strict[0].msg.contains("at least two colons"));
        assert_eq!(
            problems("# nothing\n"),
            ["r.yaml:1:1: warning: no rule groups"]
        );
    }
}
