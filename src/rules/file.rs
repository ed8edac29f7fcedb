//! Rule files: finding them (files, globs, directories), and decoding them into
//! namespaces, groups and rules with the positions of everything a later check
//! may report.
//!
//! The format is `lokitool`'s (`pkg/tool/rules`): Prometheus' `rulefmt` groups
//! (`name`, `interval`, `query_offset`, `limit`, `labels`, `rules`) with Loki's
//! optional `namespace` and per-group `remote_write`, several YAML documents per
//! file (one namespace each; without `namespace` the namespace is the file name
//! without its extension). Keys a type does not know are errors, as Go's decoder
//! reports them with `KnownFields(true)`; unlike it, every such problem of a file
//! is reported, not only the first.

use std::path::{Path, PathBuf};

use super::yaml::{self, Entry, Issue, Kind, Node, Pos, Reader, Style};
use super::RulesError;

/// A scalar field with where it was written, as `lint --fix` rewrites it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    /// The value.
    pub value: String,
    /// Where the value starts.
    pub pos: Pos,
    /// The value's extent in characters of the file (see [`yaml::Node::span`]).
    pub span: (usize, usize),
    /// How it was written.
    pub style: Style,
    /// Where the key ends (characters): a block scalar's `|` header follows it.
    pub key_end: usize,
}

/// One rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Where the rule's mapping starts.
    pub pos: Pos,
    /// 1-based position in its group (Prometheus' messages count from 1).
    pub index: usize,
    /// `record:`.
    pub record: Option<Text>,
    /// `alert:`.
    pub alert: Option<Text>,
    /// `expr:`.
    pub expr: Option<Text>,
    /// `for:` in ns (0 when absent), and where it is.
    pub hold: (i64, Option<Pos>),
    /// `keep_firing_for:` in ns (0 when absent), and where it is.
    pub keep_firing_for: (i64, Option<Pos>),
    /// `labels:`.
    pub labels: Vec<Entry>,
    /// `annotations:`.
    pub annotations: Vec<Entry>,
}

impl Rule {
    /// The rule's name: `alert`, else `record`, else empty.
    pub fn name(&self) -> &str {
        self.alert
            .as_ref()
            .or(self.record.as_ref())
            .map_or("", |t| t.value.as_str())
    }

    /// True for an alerting rule (`alert` set).
    pub fn is_alert(&self) -> bool {
        self.alert.as_ref().is_some_and(|a| !a.value.is_empty())
    }
}

/// One rule group.
#[derive(Debug, Clone)]
pub struct Group {
    /// `name:` (empty when missing).
    pub name: String,
    /// Where the group's mapping starts.
    pub pos: Pos,
    /// `interval:` in ns.
    pub interval: Option<i64>,
    /// `query_offset:` in ns.
    pub query_offset: Option<i64>,
    /// `limit:` (0: none).
    pub limit: i64,
    /// `labels:`, added to every rule's labels.
    pub labels: Vec<Entry>,
    /// `rules:`.
    pub rules: Vec<Rule>,
    /// `remote_write[].url`: where Loki's ruler sends this group's recordings.
    pub remote_write: Vec<String>,
}

/// One YAML document of a rule file: a namespace and its groups.
#[derive(Debug, Clone)]
pub struct Namespace {
    /// `namespace:`, else the file name without its extension.
    pub name: String,
    /// Where `namespace:` is, when given.
    pub explicit: Option<Pos>,
    /// The groups.
    pub groups: Vec<Group>,
}

/// A rule file as read: its text and its namespaces.
#[derive(Debug, Clone)]
pub struct RuleFile {
    /// The path as given or found.
    pub path: PathBuf,
    /// The file's text.
    pub text: String,
    /// One namespace per non-empty YAML document.
    pub namespaces: Vec<Namespace>,
}

impl RuleFile {
    /// Every group of the file with its namespace.
    pub fn groups(&self) -> impl Iterator<Item = (&Namespace, &Group)> {
        self.namespaces
            .iter()
            .flat_map(|ns| ns.groups.iter().map(move |g| (ns, g)))
    }
}

/// A file that cannot be decoded: its YAML does not parse, or it has keys or values
/// the format does not allow. Loki's ruler refuses such a file as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// The file.
    pub path: PathBuf,
    /// Every problem found, in file order.
    pub issues: Vec<Issue>,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, issue) in self.issues.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}:{}: {}", self.path.display(), issue.pos, issue.msg)?;
        }
        Ok(())
    }
}

/// True for a file name rule directories are searched for (`lokitool`'s `.yml`
/// and `.yaml`).
fn is_rule_file_name(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("yml") | Some("yaml")
    )
}

/// The rule files `args` name: files as given, globs expanded (sorted), directories
/// searched recursively for `*.yml` and `*.yaml` (sorted). A path that does not
/// exist, a glob that matches nothing and a directory without rule files are errors.
pub fn expand_paths(args: &[PathBuf]) -> Result<Vec<PathBuf>, RulesError> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), RulesError> {
        let io = |e| RulesError::Io {
            path: dir.to_path_buf(),
            err: e,
        };
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .map_err(io)?;
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out)?;
            } else if is_rule_file_name(&p) {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for arg in args {
        let s = arg.to_string_lossy();
        if s.contains(['*', '?', '[']) && !arg.exists() {
            let mut found: Vec<PathBuf> = glob::glob(&s)
                .map_err(|e| RulesError::Glob(s.to_string(), e.to_string()))?
                .filter_map(Result::ok)
                .collect();
            if found.is_empty() {
                return Err(RulesError::Glob(s.to_string(), "matches no file".into()));
            }
            found.sort();
            out.extend(found);
        } else if arg.is_dir() {
            let before = out.len();
            walk(arg, &mut out)?;
            if out.len() == before {
                return Err(RulesError::Glob(
                    s.to_string(),
                    "directory holds no .yml or .yaml file".into(),
                ));
            }
        } else if arg.exists() {
            out.push(arg.clone());
        } else {
            return Err(RulesError::Io {
                path: arg.clone(),
                err: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory"),
            });
        }
    }
    out.dedup();
    Ok(out)
}

/// Reads and decodes one rule file. `Ok(Err(…))` is a file that cannot be decoded;
/// `Err` is one that cannot be read.
pub fn read(path: &Path) -> Result<Result<RuleFile, DecodeError>, RulesError> {
    let bytes = std::fs::read(path).map_err(|e| RulesError::Io {
        path: path.to_path_buf(),
        err: e,
    })?;
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let upto = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let line = upto.iter().filter(|b| **b == b'\n').count() + 1;
            return Ok(Err(DecodeError {
                path: path.to_path_buf(),
                issues: vec![Issue {
                    pos: Pos { line, col: 1 },
                    msg: "the file is not valid UTF-8".into(),
                }],
            }));
        }
    };
    Ok(decode(path, text))
}

/// Decodes a rule file's text.
pub fn decode(path: &Path, text: String) -> Result<RuleFile, DecodeError> {
    let fail = |issues| DecodeError {
        path: path.to_path_buf(),
        issues,
    };
    let docs = yaml::parse_documents(&text).map_err(|i| fail(vec![i]))?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut r = Reader::default();
    let mut namespaces = Vec::new();
    for doc in docs.iter().flatten() {
        if doc.is_null() {
            continue;
        }
        namespaces.push(namespace(&mut r, doc, &stem));
    }
    if !r.issues.is_empty() {
        return Err(fail(r.issues));
    }
    Ok(RuleFile {
        path: path.to_path_buf(),
        text,
        namespaces,
    })
}

fn namespace(r: &mut Reader, doc: &Node, stem: &str) -> Namespace {
    let top = r.fields(doc, "a rule file", &["namespace", "groups"]);
    let explicit = top.get("namespace").map(|n| n.pos);
    let name = r
        .string(top.get("namespace"), "namespace")
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| stem.to_string());
    let groups = r
        .seq(top.get("groups"), "groups")
        .iter()
        .map(|g| group(r, g))
        .collect();
    Namespace {
        name,
        explicit,
        groups,
    }
}

fn group(r: &mut Reader, node: &Node) -> Group {
    let f = r.fields(
        node,
        "a rule group",
        &[
            "name",
            "interval",
            "query_offset",
            "limit",
            "rules",
            "labels",
            "remote_write",
        ],
    );
    let remote_write = r
        .seq(f.get("remote_write"), "remote_write")
        .iter()
        .filter_map(|rw| {
            let rf = r.fields(rw, "a remote_write entry", &["url"]);
            r.string(rf.get("url"), "url")
        })
        .collect();
    Group {
        name: r.string(f.get("name"), "name").unwrap_or_default(),
        pos: node.pos,
        interval: r.duration(f.get("interval"), "interval"),
        query_offset: r.duration(f.get("query_offset"), "query_offset"),
        limit: r.int(f.get("limit"), "limit").unwrap_or(0),
        labels: r.string_map(f.get("labels"), "labels"),
        rules: r
            .seq(f.get("rules"), "rules")
            .iter()
            .enumerate()
            .map(|(i, n)| rule(r, n, i + 1))
            .collect(),
        remote_write,
    }
}

fn rule(r: &mut Reader, node: &Node, index: usize) -> Rule {
    let f = r.fields(
        node,
        "a rule",
        &[
            "record",
            "alert",
            "expr",
            "for",
            "keep_firing_for",
            "labels",
            "annotations",
        ],
    );
    let mut text = |key: &str| -> Option<Text> {
        let (k, v) = f.entry(key)?;
        let value = r.string(Some(v), key)?;
        let style = match &v.kind {
            Kind::Scalar { style, .. } => *style,
            _ => Style::Plain,
        };
        Some(Text {
            value,
            pos: v.pos,
            span: v.span,
            style,
            key_end: k.span.1,
        })
    };
    let (record, alert, expr) = (text("record"), text("alert"), text("expr"));
    let hold = (
        r.duration(f.get("for"), "for").unwrap_or(0),
        f.get("for").map(|n| n.pos),
    );
    let keep_firing_for = (
        r.duration(f.get("keep_firing_for"), "keep_firing_for")
            .unwrap_or(0),
        f.get("keep_firing_for").map(|n| n.pos),
    );
    Rule {
        pos: node.pos,
        index,
        record,
        alert,
        expr,
        hold,
        keep_firing_for,
        labels: r.string_map(f.get("labels"), "labels"),
        annotations: r.string_map(f.get("annotations"), "annotations"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_namespaces_groups_and_rules() {
        let text = r#"
namespace: ns1
groups:
  - name: g
    interval: 30s
    limit: 5
    labels: {team: a}
    remote_write: [{url: "http://x"}]
    rules:
      - alert: A
        expr: |
          count_over_time({a="b"}[1m]) > 1
        for: 2m
        keep_firing_for: 1m
        labels: {severity: page}
        annotations: {summary: "{{ $value }}"}
      - record: a:b
        expr: count_over_time({a="b"}[1m])
---
groups: []
"#;
        let f = decode(Path::new("dir/alerts.yaml"), text.to_string()).unwrap();
        assert_eq!(f.namespaces.len(), 2);
        assert_eq!(f.namespaces[0].name, "ns1");
        assert_eq!(f.namespaces[1].name, "alerts");
        let g = &f.namespaces[0].groups[0];
        assert_eq!((g.interval, g.limit), (Some(30_000_000_000), 5));
        assert_eq!(g.remote_write, ["http://x"]);
        let a = &g.rules[0];
        assert_eq!(a.name(), "A");
        assert_eq!(
            a.expr.as_ref().unwrap().value,
            "count_over_time({a=\"b\"}[1m]) > 1\n"
        );
        assert_eq!(a.expr.as_ref().unwrap().style, Style::Literal);
        assert_eq!(a.hold.0, 120_000_000_000);
        assert_eq!(a.keep_firing_for.0, 60_000_000_000);
        assert_eq!(a.pos, Pos { line: 10, col: 9 });
        assert_eq!((g.rules[1].index, g.rules[1].name()), (2, "a:b"));
    }

    #[test]
    fn every_unknown_key_is_reported_with_its_line() {
        let text = "groups:\n  - name: g\n    intervl: 1m\n    rules:\n      - alert: A\n        expression: x\n";
        let e = decode(Path::new("r.yaml"), text.to_string()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "r.yaml:3:5: unknown key \"intervl\" in a rule group (known keys: name, interval, query_offset, limit, rules, labels, remote_write)\n\
             r.yaml:6:9: unknown key \"expression\" in a rule (known keys: record, alert, expr, for, keep_firing_for, labels, annotations)"
        );
        let e = decode(Path::new("r.yaml"), "groups: [\n".into()).unwrap_err();
        assert_eq!(e.issues.len(), 1);
    }
}
