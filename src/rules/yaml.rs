//! YAML for rule and test files: a document tree with positions, read from
//! `saphyr-parser`'s events, and the typed reads Loki's decoder makes of it
//! (`yaml.v3` with `KnownFields(true)`), each problem with its line and column.
//!
//! Why a tree of our own and not serde: every problem `rules check` reports names
//! the line of the key or value it is about (an invalid label name, a template
//! that does not parse, a duplicate group), long after decoding; `rules lint
//! --fix` rewrites the exact bytes of each `expr`; and an unknown key must be an
//! error naming its file, line and key. Scalars keep their source text, as Go's
//! decoder hands a `string` field the text of any scalar (`severity: 1` is `"1"`).

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// A position in a file: line and column, both from 1 (columns count characters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1, in characters.
    pub col: usize,
}

impl std::fmt::Display for Pos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// How a scalar was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `plain`.
    Plain,
    /// `'single'`.
    SingleQuoted,
    /// `"double"`.
    DoubleQuoted,
    /// `|` block.
    Literal,
    /// `>` block.
    Folded,
}

/// One node of a document.
#[derive(Debug, Clone)]
pub struct Node {
    /// What it holds.
    pub kind: Kind,
    /// Where it starts.
    pub pos: Pos,
    /// Its extent in characters of the source (a block scalar's starts at its
    /// first content line, after the `|`/`>` header).
    pub span: (usize, usize),
}

/// A node's content.
#[derive(Debug, Clone)]
pub enum Kind {
    /// A scalar: its value, style and explicit tag (`!!str` → `str`).
    Scalar {
        /// The value (quotes and escapes resolved, blocks folded).
        value: String,
        /// How it was written.
        style: Style,
        /// The tag's suffix, if any.
        tag: Option<String>,
    },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in source order.
    Map(Vec<(Node, Node)>),
}

/// A problem at a position: a syntax error, or a value the decoder cannot use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// Where.
    pub pos: Pos,
    /// What.
    pub msg: String,
}

/// Most nodes aliases may copy in one file (a "billion laughs" file is refused).
const ALIAS_BUDGET: usize = 100_000;

fn pos_of(span: &Span) -> Pos {
    Pos {
        line: span.start.line(),
        col: span.start.col() + 1,
    }
}

fn node_count(n: &Node) -> usize {
    1 + match &n.kind {
        Kind::Scalar { .. } => 0,
        Kind::Seq(v) => v.iter().map(node_count).sum(),
        Kind::Map(m) => m.iter().map(|(k, v)| node_count(k) + node_count(v)).sum(),
    }
}

/// Parses every document of `text`; an empty document (only comments, or `---`
/// alone) is `None`.
pub fn parse_documents(text: &str) -> Result<Vec<Option<Node>>, Issue> {
    enum Open {
        Seq(Vec<Node>, Pos, usize, usize),
        Map(Vec<(Node, Node)>, Option<Node>, Pos, usize, usize),
    }
    let mut docs = Vec::new();
    let mut stack: Vec<Open> = Vec::new();
    let mut root: Option<Node> = None;
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut budget = ALIAS_BUDGET;
    let mut parser = Parser::new_from_str(text);
    // Adds a finished node to the collection being built, or makes it the root.
    let push = |stack: &mut Vec<Open>, root: &mut Option<Node>, node: Node| match stack.last_mut() {
        Some(Open::Seq(items, ..)) => items.push(node),
        Some(Open::Map(entries, key, ..)) => match key.take() {
            None => *key = Some(node),
            Some(k) => entries.push((k, node)),
        },
        None => *root = Some(node),
    };
    while let Some(ev) = parser.next_event() {
        let (ev, span) = ev.map_err(|e| Issue {
            pos: Pos {
                line: e.marker().line(),
                col: e.marker().col() + 1,
            },
            msg: e.info().to_string(),
        })?;
        match ev {
            Event::StreamStart | Event::StreamEnd | Event::Nothing | Event::DocumentStart(_) => {}
            Event::DocumentEnd => docs.push(root.take().filter(|n| !n.is_null())),
            Event::SequenceStart(anchor, _) => stack.push(Open::Seq(
                Vec::new(),
                pos_of(&span),
                span.start.index(),
                anchor,
            )),
            Event::MappingStart(anchor, _) => stack.push(Open::Map(
                Vec::new(),
                None,
                pos_of(&span),
                span.start.index(),
                anchor,
            )),
            Event::SequenceEnd | Event::MappingEnd => {
                let (kind, pos, start, anchor) = match stack.pop() {
                    Some(Open::Seq(items, pos, start, anchor)) => {
                        (Kind::Seq(items), pos, start, anchor)
                    }
                    Some(Open::Map(entries, _, pos, start, anchor)) => {
                        (Kind::Map(entries), pos, start, anchor)
                    }
                    None => continue,
                };
                let node = Node {
                    kind,
                    pos,
                    span: (start, span.end.index()),
                };
                if anchor > 0 {
                    anchors.insert(anchor, node.clone());
                }
                push(&mut stack, &mut root, node);
            }
            Event::Scalar(value, style, anchor, tag) => {
                let node = Node {
                    kind: Kind::Scalar {
                        value: value.into_owned(),
                        style: match style {
                            ScalarStyle::Plain => Style::Plain,
                            ScalarStyle::SingleQuoted => Style::SingleQuoted,
                            ScalarStyle::DoubleQuoted => Style::DoubleQuoted,
                            ScalarStyle::Literal => Style::Literal,
                            ScalarStyle::Folded => Style::Folded,
                        },
                        tag: tag.map(|t| t.suffix.clone()),
                    },
                    pos: pos_of(&span),
                    span: (span.start.index(), span.end.index()),
                };
                if anchor > 0 {
                    anchors.insert(anchor, node.clone());
                }
                push(&mut stack, &mut root, node);
            }
            Event::Alias(id) => {
                let Some(target) = anchors.get(&id) else {
                    return Err(Issue {
                        pos: pos_of(&span),
                        msg: "unknown anchor".into(),
                    });
                };
                let n = node_count(target);
                if n > budget {
                    return Err(Issue {
                        pos: pos_of(&span),
                        msg: "aliases expand to too many nodes".into(),
                    });
                }
                budget -= n;
                let mut node = target.clone();
                node.pos = pos_of(&span);
                push(&mut stack, &mut root, node);
            }
        }
    }
    Ok(docs)
}

/// The plain scalars YAML reads as null (Go's `yaml.v3` resolves the same).
fn is_null_text(s: &str) -> bool {
    matches!(s, "" | "~" | "null" | "Null" | "NULL")
}

impl Node {
    /// True for a null scalar (`~`, `null`, nothing), which Go's decoder reads as
    /// the zero value of any field.
    pub fn is_null(&self) -> bool {
        match &self.kind {
            Kind::Scalar { value, style, tag } => match tag.as_deref() {
                Some("null") => true,
                Some(_) => false,
                None => *style == Style::Plain && is_null_text(value),
            },
            _ => false,
        }
    }

    /// What the node is, for messages (`a mapping`, `the string "x"`).
    pub fn describe(&self) -> String {
        match &self.kind {
            Kind::Scalar { value, .. } => format!("{value:?}"),
            Kind::Seq(_) => "a sequence".into(),
            Kind::Map(_) => "a mapping".into(),
        }
    }

    /// The scalar's text, or `None` for null.
    pub fn scalar(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar { value, .. } if !self.is_null() => Some(value),
            _ => None,
        }
    }
}

/// Collects the problems found while reading one file's documents.
#[derive(Debug, Default)]
pub struct Reader {
    /// Every problem so far, in the order found.
    pub issues: Vec<Issue>,
}

/// A mapping whose keys have been checked against the keys a type knows.
pub struct Fields<'a> {
    entries: Vec<(&'a str, &'a Node, &'a Node)>,
}

impl<'a> Fields<'a> {
    /// The value of `key`, if present and not null.
    pub fn get(&self, key: &str) -> Option<&'a Node> {
        self.entry(key).map(|(_, v)| v).filter(|v| !v.is_null())
    }

    /// The key node and value of `key`, if present (null values included).
    pub fn entry(&self, key: &str) -> Option<(&'a Node, &'a Node)> {
        self.entries
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, k, v)| (*k, *v))
    }
}

impl Reader {
    fn issue(&mut self, pos: Pos, msg: String) {
        self.issues.push(Issue { pos, msg });
    }

    /// Reads `node` as a mapping of `what` (`a rule`) whose keys must be in
    /// `known`: an unknown key, a repeated key or a key that is not a scalar is a
    /// problem (Go's `KnownFields(true)`); null is an empty mapping.
    pub fn fields<'a>(&mut self, node: &'a Node, what: &str, known: &[&str]) -> Fields<'a> {
        let mut entries: Vec<(&'a str, &'a Node, &'a Node)> = Vec::new();
        match &node.kind {
            Kind::Map(m) => {
                for (k, v) in m {
                    let Kind::Scalar { value: name, .. } = &k.kind else {
                        self.issue(
                            k.pos,
                            format!("a key of {what} must be a scalar, not {}", k.describe()),
                        );
                        continue;
                    };
                    if let Some((_, first, _)) = entries.iter().find(|(n, _, _)| n == name) {
                        self.issue(
                            k.pos,
                            format!(
                                "mapping key {name:?} already defined at line {}",
                                first.pos.line
                            ),
                        );
                        continue;
                    }
                    if !known.contains(&name.as_str()) {
                        self.issue(
                            k.pos,
                            format!(
                                "unknown key {name:?} in {what} (known keys: {})",
                                known.join(", ")
                            ),
                        );
                        continue;
                    }
                    entries.push((name, k, v));
                }
            }
            _ if node.is_null() => {}
            _ => self.issue(
                node.pos,
                format!("expected {what} (a mapping), got {}", node.describe()),
            ),
        }
        Fields { entries }
    }

    /// Reads a string field: any scalar's text (Go gives a `string` field the text of
    /// `1` or `true` too); null is `None`.
    pub fn string(&mut self, node: Option<&Node>, what: &str) -> Option<String> {
        let node = node?;
        match &node.kind {
            Kind::Scalar { value, .. } => (!node.is_null()).then(|| value.clone()),
            _ => {
                self.issue(
                    node.pos,
                    format!("expected a string for {what}, got {}", node.describe()),
                );
                None
            }
        }
    }

    /// Reads a sequence field; null is empty.
    pub fn seq<'a>(&mut self, node: Option<&'a Node>, what: &str) -> &'a [Node] {
        match node.map(|n| (n, &n.kind)) {
            Some((_, Kind::Seq(items))) => items,
            Some((n, _)) if !n.is_null() => {
                self.issue(
                    n.pos,
                    format!("expected a list for {what}, got {}", n.describe()),
                );
                &[]
            }
            _ => &[],
        }
    }

    /// Reads an integer field (`10`, `0x1f`, `-3`, `+7`); null is `None`.
    pub fn int(&mut self, node: Option<&Node>, what: &str) -> Option<i64> {
        let node = node?;
        let text = self.string(Some(node), what)?;
        let quoted = matches!(&node.kind, Kind::Scalar { style, .. } if *style != Style::Plain);
        let parsed = if quoted { None } else { parse_yaml_int(&text) };
        if parsed.is_none() {
            self.issue(
                node.pos,
                format!("expected an integer for {what}, got {}", node.describe()),
            );
        }
        parsed
    }

    /// Reads a duration field in Prometheus' grammar (`5m`, `1h30m`, `0`); null is
    /// `None`. The message is Prometheus' (`not a valid duration string: "5x"`).
    pub fn duration(&mut self, node: Option<&Node>, what: &str) -> Option<i64> {
        let node = node?;
        let text = self.string(Some(node), what)?;
        match crate::go::duration::parse_prom_duration(&text) {
            Ok(d) => Some(d),
            Err(e) => {
                self.issue(node.pos, format!("{what}: {e}"));
                None
            }
        }
    }

    /// Reads a `map[string]string` field (labels, annotations): keys and values in
    /// source order with their positions; a null value is the empty string.
    pub fn string_map(&mut self, node: Option<&Node>, what: &str) -> Vec<Entry> {
        let Some(node) = node else { return Vec::new() };
        let Kind::Map(m) = &node.kind else {
            if !node.is_null() {
                self.issue(
                    node.pos,
                    format!("expected a mapping for {what}, got {}", node.describe()),
                );
            }
            return Vec::new();
        };
        let mut out: Vec<Entry> = Vec::new();
        for (k, v) in m {
            let Kind::Scalar { value: key, .. } = &k.kind else {
                self.issue(
                    k.pos,
                    format!("a key of {what} must be a scalar, not {}", k.describe()),
                );
                continue;
            };
            if let Some(first) = out.iter().find(|e| e.key == *key) {
                self.issue(
                    k.pos,
                    format!(
                        "mapping key {key:?} already defined at line {}",
                        first.key_pos.line
                    ),
                );
                continue;
            }
            let value = match &v.kind {
                Kind::Scalar { value, .. } if !v.is_null() => value.clone(),
                Kind::Scalar { .. } => String::new(),
                _ => {
                    self.issue(
                        v.pos,
                        format!("expected a string for {what} {key:?}, got {}", v.describe()),
                    );
                    continue;
                }
            };
            out.push(Entry {
                key: key.clone(),
                key_pos: k.pos,
                value,
                value_pos: v.pos,
            });
        }
        out
    }
}

/// One `key: value` of a string map, with positions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key.
    pub key: String,
    /// Where the key is.
    pub key_pos: Pos,
    /// The value.
    pub value: String,
    /// Where the value is.
    pub value_pos: Pos,
}

/// YAML's integers as Go's `yaml.v3` resolves them: decimal with an optional sign,
/// `0x`, `0o` and `0b` forms.
fn parse_yaml_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) = if let Some(d) = body.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = body.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = body.strip_prefix("0b") {
        (2, d)
    } else {
        (10, body)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let v = i64::from_str_radix(digits, radix).ok()?;
    Some(if neg { -v } else { v })
}

/// Byte offsets of character indices in `text`, for the character spans saphyr
/// reports: `offsets[i]` is where character `i` starts (`text.len()` past the end).
pub fn char_offsets(text: &str) -> Vec<usize> {
    let mut v: Vec<usize> = text.char_indices().map(|(b, _)| b).collect();
    v.push(text.len());
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Node {
        parse_documents(text).unwrap().remove(0).unwrap()
    }

    #[test]
    fn tree_with_positions() {
        let d = doc("groups:\n  - name: g\n    rules: ~\n    labels: {a: 1, b: }\n");
        let mut r = Reader::default();
        let top = r.fields(&d, "a rule file", &["groups"]);
        let groups = r.seq(top.get("groups"), "groups");
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].pos, Pos { line: 2, col: 5 });
        let g = r.fields(&groups[0], "a group", &["name", "rules", "labels"]);
        assert_eq!(r.string(g.get("name"), "name").as_deref(), Some("g"));
        assert!(g.get("rules").is_none() && g.entry("rules").is_some());
        let labels = r.string_map(g.get("labels"), "labels");
        assert_eq!(
            labels
                .iter()
                .map(|e| (e.key.as_str(), e.value.as_str()))
                .collect::<Vec<_>>(),
            [("a", "1"), ("b", "")]
        );
        assert!(r.issues.is_empty(), "{:?}", r.issues);
    }

    #[test]
    fn unknown_and_repeated_keys_are_problems() {
        let d = doc("name: a\nnmae: b\nname: c\n");
        let mut r = Reader::default();
        r.fields(&d, "a group", &["name", "rules"]);
        assert_eq!(
            r.issues,
            [
                Issue {
                    pos: Pos { line: 2, col: 1 },
                    msg: "unknown key \"nmae\" in a group (known keys: name, rules)".into()
                },
                Issue {
                    pos: Pos { line: 3, col: 1 },
                    msg: "mapping key \"name\" already defined at line 1".into()
                },
            ]
        );
    }

    #[test]
    fn scalars_numbers_durations_and_documents() {
        let docs =
            parse_documents("a: 0x10\nb: '3'\nc: 5x\n---\n# nothing\n---\n[1, 2]\n").unwrap();
        assert_eq!(docs.len(), 3);
        assert!(docs[1].is_none());
        let d = docs[0].as_ref().unwrap();
        let mut r = Reader::default();
        let f = r.fields(d, "x", &["a", "b", "c"]);
        assert_eq!(r.int(f.get("a"), "a"), Some(16));
        assert_eq!(r.int(f.get("b"), "b"), None);
        assert_eq!(r.duration(f.get("c"), "c"), None);
        assert_eq!(r.issues.len(), 2);
        assert_eq!(r.issues[1].msg, "c: unknown unit \"x\" in duration \"5x\"");
        assert!(parse_documents("a: [1\n").is_err());
    }

    #[test]
    fn aliases_copy_and_are_bounded() {
        let d = doc("x: &a {k: v}\ny: *a\n");
        let Kind::Map(m) = &d.kind else { panic!() };
        assert!(matches!(m[1].1.kind, Kind::Map(_)));
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            bomb.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        assert!(parse_documents(&bomb).unwrap_err().msg.contains("too many"));
    }
}
