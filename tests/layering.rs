//! The library's module layering (issue 8): every top-level module of
//! `src/` sits in one layer of [`LAYERS`], and may import only modules of
//! lower layers — never one above it, never a sibling of its own layer. So
//! the module graph has no cycles, and a new one fails this test with
//! `file:line: module a imports b, which is above it`.
//!
//! The checker reads the sources as text (no compiler, no dependency): it
//! blanks comments, strings and char literals, tracks inline `mod x { … }`
//! blocks, and finds every path into another top-level module: `crate::x`
//! (in `use` items, `crate::{a, b::c}` groups and code), `$crate::x` in
//! macros, and `super::` chains that climb to the crate root. A name under
//! the crate root that is no module is an item of `lib.rs`, so it counts as
//! importing `lib`. `src/bin/` is the binary: it sees the library as
//! `lokal::…` and is not checked. A top-level module missing from the
//! table is an error, so the table stays complete.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;

/// The layers, bottom to top. A module may import modules of lower layers
/// only; modules of one layer are independent of each other.
const LAYERS: &[&[&str]] = &[
    // Leaves: byte and Go-compatibility helpers.
    &["varint", "go", "file"],
    // Command-line units (sizes, durations) over go's grammars.
    &["units"],
    // Vocabulary: time ranges and arguments (which read durations), labels.
    &["time", "model"],
    // The query language.
    &["logql"],
    // Segments and blocks: their encoding and decoding.
    &["chunk"],
    // The per-day label index over segment footers.
    &["index"],
    // The store directory: tenants, MANIFEST, lock, snapshots.
    &["store"],
    // The query engine (with the planner) and the writer side (ingest):
    // both stand on the store, neither on the other.
    &["engine", "ingest"],
    // Loki's wire formats and client; the compactor, which merges through
    // ingest's segment writer and matches deletes with the engine's filters.
    &["loki", "compact"],
    // Printing results.
    &["output"],
    // Front ends: `lokal test`, and the library API the CLI, a server and
    // the ruler call.
    &["logqltest", "querier"],
    // The ruler and the Loki-compatible HTTP server (`lokal serve`), both
    // on the querier (the server also on ingest, for pushes).
    &["rules", "server"],
    // `ingest --config`: promtail's config and stages, on the ruler's YAML
    // tree with positions, the engine's matchers and templates, and ingest's
    // per-entry hook.
    &["promtail"],
    // The crate root declares every module; its own items sit above all.
    &["lib"],
];

/// One problem: where, and what.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Problem {
    file: String,
    line: usize,
    msg: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.msg)
    }
}

/// A reference from a file (at a line) to a top-level module.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ref {
    line: usize,
    /// The name right under the crate root (`*` for a glob).
    name: String,
}

/// `src`-relative path of a library file → its module path
/// (`engine/pipeline/mod.rs` → `[engine, pipeline]`, `lib.rs` → `[]`).
fn module_path(rel: &str) -> Vec<String> {
    let rel = rel.strip_suffix(".rs").unwrap_or(rel);
    let mut parts: Vec<String> = rel.split('/').map(str::to_string).collect();
    if parts.last().is_some_and(|p| p == "mod") || parts == ["lib"] {
        parts.pop();
    }
    parts
}

/// The source with comments, strings and char literals replaced by spaces
/// (newlines kept, so line numbers stay right).
fn blank(src: &str) -> String {
    let b: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        match literal_end(&b, i) {
            Some(end) => {
                let end = end.min(b.len());
                out.extend(b[i..end].iter().map(|&c| if c == '\n' { c } else { ' ' }));
                i = end;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    out
}

/// Where the comment, string or char literal that starts at `b[i]` ends
/// (exclusive); `None` when none starts there.
fn literal_end(b: &[char], i: usize) -> Option<usize> {
    let at = |j: usize| b.get(j).copied();
    let after = |from: usize, pat: &[char]| {
        (from..b.len())
            .find(|&j| b[j..].starts_with(pat))
            .map_or(b.len(), |j| j + pat.len())
    };
    let prev_ident = i > 0 && (b[i - 1].is_alphanumeric() || b[i - 1] == '_');
    match (b[i], at(i + 1)) {
        ('/', Some('/')) => Some((i..b.len()).find(|&j| b[j] == '\n').unwrap_or(b.len())),
        ('/', Some('*')) => {
            // Block comments nest in Rust.
            let (mut depth, mut j) = (1, i + 2);
            while j < b.len() && depth > 0 {
                match (b[j], at(j + 1)) {
                    ('/', Some('*')) => (depth, j) = (depth + 1, j + 2),
                    ('*', Some('/')) => (depth, j) = (depth - 1, j + 2),
                    _ => j += 1,
                }
            }
            Some(j)
        }
        ('r', _) | ('b', Some('r')) if !prev_ident => {
            // A raw string r"…", r#"…"#, br"…" (not an identifier like `r#type`).
            let s = if b[i] == 'b' { i + 2 } else { i + 1 };
            let hashes = (s..b.len()).take_while(|&j| b[j] == '#').count();
            if at(s + hashes) != Some('"') {
                return None;
            }
            let close: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            Some(after(s + hashes + 1, &close))
        }
        ('"', _) => {
            let mut j = i + 1;
            while j < b.len() && b[j] != '"' {
                j += if b[j] == '\\' { 2 } else { 1 };
            }
            Some(j + 1)
        }
        // A char literal ('\n', '\u{1F600}', '\''); else a lifetime.
        ('\'', Some('\\')) => Some(after(i + 3, &['\''])),
        ('\'', _) if at(i + 2) == Some('\'') => Some(i + 3),
        _ => None,
    }
}

/// A token of blanked source: an identifier, `::`, or one other character.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Tok {
    text: String,
    line: usize,
}

fn tokens(src: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut line = 1;
    let mut it = src.chars().peekable();
    while let Some(c) = it.next() {
        if c == '\n' {
            line += 1;
        } else if c.is_whitespace() {
        } else if c.is_alphanumeric() || c == '_' {
            let mut s = String::from(c);
            while let Some(&n) = it.peek() {
                if n.is_alphanumeric() || n == '_' {
                    s.push(n);
                    it.next();
                } else {
                    break;
                }
            }
            out.push(Tok { text: s, line });
        } else if c == ':' && it.peek() == Some(&':') {
            it.next();
            out.push(Tok {
                text: "::".into(),
                line,
            });
        } else {
            out.push(Tok {
                text: c.to_string(),
                line,
            });
        }
    }
    out
}

/// The first segment of each path at `toks[i..]`: one name, `*`, or every
/// item of a `{ … }` group (nested groups belong to their item).
fn first_segments(toks: &[Tok], i: usize) -> Vec<Ref> {
    let Some(t) = toks.get(i) else {
        return Vec::new();
    };
    if t.text != "{" {
        return vec![Ref {
            line: t.line,
            name: t.text.clone(),
        }];
    }
    let mut out = Vec::new();
    let (mut depth, mut item_start) = (0usize, true);
    for t in &toks[i + 1..] {
        match t.text.as_str() {
            "{" => depth += 1,
            "}" if depth == 0 => break,
            "}" => depth -= 1,
            "," if depth == 0 => item_start = true,
            _ if item_start && depth == 0 => {
                out.push(Ref {
                    line: t.line,
                    name: t.text.clone(),
                });
                item_start = false;
            }
            _ => {}
        }
    }
    out
}

/// Every reference of one file (module path `path`) to a name right under
/// the crate root; `Err` for a `super::` chain that climbs above it.
fn crate_refs(path: &[String], src: &str) -> Result<Vec<Ref>, Problem> {
    let toks = tokens(&blank(src));
    let mut refs = Vec::new();
    // Inline `mod name {` blocks: (name, brace depth inside them).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let text = |j: usize| toks.get(j).map_or("", |t: &Tok| t.text.as_str());
    for (i, t) in toks.iter().enumerate() {
        match t.text.as_str() {
            "{" => {
                depth += 1;
                if i >= 2 && text(i - 2) == "mod" {
                    inline.push((text(i - 1).to_string(), depth));
                }
            }
            "}" => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            "crate" if text(i + 1) == "::" => refs.extend(first_segments(&toks, i + 2)),
            "super" if text(i + 1) == "::" && (i == 0 || text(i - 1) != "::") => {
                let mut n = 0;
                let mut j = i;
                while text(j) == "super" && text(j + 1) == "::" {
                    n += 1;
                    j += 2;
                }
                let here = path.len() + inline.len();
                if n > here {
                    return Err(Problem {
                        file: String::new(),
                        line: t.line,
                        msg: format!("`super::` climbs {n} levels from a module {here} deep"),
                    });
                }
                if n == here {
                    refs.extend(first_segments(&toks, j));
                }
            }
            _ => {}
        }
    }
    Ok(refs)
}

/// Checks `files` (`src`-relative path, source) against `layers`; every
/// problem found, sorted.
fn check(layers: &[&[&str]], files: &[(String, String)]) -> Vec<Problem> {
    let layer_of: BTreeMap<&str, usize> = layers
        .iter()
        .enumerate()
        .flat_map(|(n, l)| l.iter().map(move |m| (*m, n)))
        .collect();
    let top = |path: &[String]| path.first().cloned().unwrap_or_else(|| "lib".into());
    let modules: BTreeSet<String> = files.iter().map(|(f, _)| top(&module_path(f))).collect();
    let mut problems = Vec::new();
    let mut unknown_reported = BTreeSet::new();
    // Edges between top-level modules, with the first place seen.
    let mut edges: BTreeMap<(String, String), (String, usize)> = BTreeMap::new();
    for (file, src) in files {
        let path = module_path(file);
        let from = top(&path);
        let shown = format!("src/{file}");
        let Some(&from_layer) = layer_of.get(from.as_str()) else {
            if unknown_reported.insert(from.clone()) {
                problems.push(Problem {
                    file: shown,
                    line: 1,
                    msg: format!("module {from} is not in the layer table (tests/layering.rs)"),
                });
            }
            continue;
        };
        let refs = match crate_refs(&path, src) {
            Ok(r) => r,
            Err(p) => {
                problems.push(Problem { file: shown, ..p });
                continue;
            }
        };
        for r in refs {
            let to = if modules.contains(&r.name) {
                r.name.clone()
            } else {
                // `crate::Item`, `crate::*`, `crate::{self}`: the crate root.
                "lib".to_string()
            };
            if to == from {
                continue;
            }
            edges
                .entry((from.clone(), to.clone()))
                .or_insert((shown.clone(), r.line));
            let msg = match layer_of.get(to.as_str()) {
                None => format!("module {from} imports {to}, which is not in the layer table"),
                Some(&l) if l > from_layer => {
                    format!("module {from} imports {to}, which is above it")
                }
                Some(&l) if l == from_layer => {
                    format!("module {from} imports {to}, which is in the same layer")
                }
                Some(_) => continue,
            };
            problems.push(Problem {
                file: shown.clone(),
                line: r.line,
                msg,
            });
        }
    }
    problems.extend(cycles(&edges));
    problems.sort();
    problems.dedup();
    problems
}

/// One problem per cycle of the module graph (a strongly connected set of
/// two or more modules), naming each edge of one cycle through it.
fn cycles(edges: &BTreeMap<(String, String), (String, usize)>) -> Vec<Problem> {
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (a, b) in edges.keys() {
        next.entry(a).or_default().push(b);
    }
    let reaches = |from: &str, to: &str| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from];
        while let Some(m) = stack.pop() {
            if m == to {
                return true;
            }
            if seen.insert(m) {
                stack.extend(next.get(m).into_iter().flatten().copied());
            }
        }
        false
    };
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut out = Vec::new();
    for &start in next.keys() {
        if done.contains(start) {
            continue;
        }
        // The modules on a cycle with `start`: those it reaches that reach it.
        let members: BTreeSet<&str> = next
            .keys()
            .copied()
            .filter(|&m| m != start && reaches(start, m) && reaches(m, start))
            .collect();
        if members.is_empty() {
            continue;
        }
        done.insert(start);
        done.extend(members.iter().copied());
        // The shortest cycle through `start`: breadth first until an edge
        // leads back to it.
        let mut prev: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = VecDeque::from([start]);
        let mut last = start;
        'bfs: while let Some(m) = queue.pop_front() {
            for &n in next.get(m).into_iter().flatten() {
                if n == start {
                    last = m;
                    break 'bfs;
                }
                if members.contains(n) && !prev.contains_key(n) {
                    prev.insert(n, m);
                    queue.push_back(n);
                }
            }
        }
        let mut cycle = vec![start, last];
        while *cycle.last().unwrap() != start {
            cycle.push(prev[cycle.last().unwrap()]);
        }
        cycle.reverse();
        let (file, line) = &edges[&(cycle[0].to_string(), cycle[1].to_string())];
        let via: Vec<String> = cycle
            .windows(2)
            .map(|w| {
                let (f, l) = &edges[&(w[0].to_string(), w[1].to_string())];
                format!("{} -> {} ({f}:{l})", w[0], w[1])
            })
            .collect();
        out.push(Problem {
            file: file.clone(),
            line: *line,
            msg: format!("module cycle {}: {}", cycle.join(" -> "), via.join(", ")),
        });
    }
    out
}

/// Every library file under `src/` (not `src/bin/`), as (`src`-relative path, source).
fn library_sources() -> Vec<(String, String)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            if p.is_dir() {
                if rel != "bin" {
                    walk(root, &p, out);
                }
            } else if rel.ends_with(".rs") {
                out.push((rel, std::fs::read_to_string(&p).unwrap()));
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    walk(&root, &root, &mut out);
    out.sort();
    out
}

#[test]
fn the_library_follows_the_layer_table() {
    let problems = check(LAYERS, &library_sources());
    assert!(
        problems.is_empty(),
        "{} layering problems (the table is LAYERS in tests/layering.rs):\n{}",
        problems.len(),
        problems
            .iter()
            .map(|p| format!("  {p}\n"))
            .collect::<String>()
    );
}

/// The real tree is read at all: a checker that finds nothing would pass.
#[test]
fn the_library_sources_are_found_and_parsed() {
    let files = library_sources();
    assert!(files.iter().any(|(f, _)| f == "lib.rs"));
    let (_, src) = files
        .iter()
        .find(|(f, _)| f == "logqltest/mod.rs")
        .expect("src/logqltest/mod.rs");
    let names: BTreeSet<String> = crate_refs(&["logqltest".into()], src)
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    for m in ["engine", "store", "logql"] {
        assert!(names.contains(m), "{names:?}");
    }
    assert!(
        !files.iter().any(|(f, _)| f.starts_with("bin/")),
        "src/bin/ is the binary, not checked"
    );
}

// ------------------------------------------------------------------------
// The checker on small trees.

fn tree(files: &[(&str, &str)]) -> Vec<(String, String)> {
    files
        .iter()
        .map(|(f, s)| (f.to_string(), s.to_string()))
        .collect()
}

fn shown(p: &[Problem]) -> Vec<String> {
    p.iter().map(Problem::to_string).collect()
}

const AB: &[&[&str]] = &[&["a"], &["b"], &["lib"]];

#[test]
fn a_downward_import_is_fine() {
    let t = tree(&[
        ("lib.rs", "pub mod a;\npub mod b;\n"),
        ("a.rs", "pub fn f() {}\n"),
        ("b.rs", "use crate::a::f;\nfn g() { f() }\n"),
    ]);
    assert_eq!(shown(&check(AB, &t)), Vec::<String>::new());
}

#[test]
fn an_upward_import_is_reported_with_file_and_line() {
    let t = tree(&[
        ("a.rs", "//! a\n\nuse crate::b::Thing;\n"),
        ("b/mod.rs", "pub struct Thing;\n"),
    ]);
    assert_eq!(
        shown(&check(AB, &t)),
        ["src/a.rs:3: module a imports b, which is above it"]
    );
}

#[test]
fn a_cycle_is_reported_besides_the_upward_edge() {
    let t = tree(&[
        ("a/mod.rs", "mod x;\n"),
        ("a/x.rs", "fn f() {\n    crate::b::g();\n}\n"),
        ("b.rs", "use crate::a;\npub fn g() {}\n"),
    ]);
    assert_eq!(
        shown(&check(AB, &t)),
        [
            "src/a/x.rs:2: module a imports b, which is above it",
            "src/a/x.rs:2: module cycle a -> b -> a: a -> b (src/a/x.rs:2), b -> a (src/b.rs:1)",
        ]
    );
}

#[test]
fn a_three_module_cycle_is_one_problem() {
    let layers: &[&[&str]] = &[&["a"], &["b"], &["c"]];
    let t = tree(&[
        ("a.rs", "use crate::b;\n"),
        ("b.rs", "use crate::c;\n"),
        ("c.rs", "use crate::a;\n"),
    ]);
    let p = shown(&check(layers, &t));
    let cycles: Vec<&String> = p.iter().filter(|m| m.contains("cycle")).collect();
    assert_eq!(
        cycles,
        ["src/a.rs:1: module cycle a -> b -> c -> a: a -> b (src/a.rs:1), b -> c (src/b.rs:1), c -> a (src/c.rs:1)"],
        "{p:?}"
    );
}

#[test]
fn tangled_modules_are_one_cycle_problem() {
    // One strongly connected set, entered where a greedy walk would stall.
    let layers: &[&[&str]] = &[&["a"], &["b"], &["c"], &["d"]];
    let t = tree(&[
        ("a.rs", "use crate::b;\n"),
        ("b.rs", "use crate::{c, d};\n"),
        ("c.rs", "use crate::b;\n"),
        ("d.rs", "use crate::a;\n"),
    ]);
    let p = shown(&check(layers, &t));
    let cycles: Vec<&String> = p.iter().filter(|m| m.contains("cycle")).collect();
    assert_eq!(cycles.len(), 1, "{p:?}");
    assert!(cycles[0].contains("cycle a -> b -> d -> a"), "{p:?}");
}

#[test]
fn same_layer_siblings_may_not_import_each_other() {
    let layers: &[&[&str]] = &[&["a", "b"]];
    let t = tree(&[("a.rs", "use crate::b;\n"), ("b.rs", "")]);
    assert_eq!(
        shown(&check(layers, &t)),
        ["src/a.rs:1: module a imports b, which is in the same layer"]
    );
}

#[test]
fn brace_groups_name_every_module() {
    let src = "use crate::{\n    a::{x, y::{z}},\n    b,\n    c::d as e,\n};\n";
    let refs = crate_refs(&["q".into()], src).unwrap();
    assert_eq!(
        refs,
        [
            Ref {
                line: 2,
                name: "a".into()
            },
            Ref {
                line: 3,
                name: "b".into()
            },
            Ref {
                line: 4,
                name: "c".into()
            },
        ]
    );
}

#[test]
fn super_chains_that_reach_the_root_count() {
    let path: Vec<String> = vec!["a".into(), "x".into()];
    let names = |src: &str| -> Vec<String> {
        crate_refs(&path, src)
            .unwrap()
            .into_iter()
            .map(|r| r.name)
            .collect()
    };
    // a::x → super is a (same module), super::super is the root.
    assert_eq!(names("use super::y;"), Vec::<String>::new());
    assert_eq!(names("use super::super::b::T;"), ["b"]);
    assert_eq!(names("use super::super::{b, c};"), ["b", "c"]);
    // An inline module is one level deeper.
    assert_eq!(
        names("mod tests {\n    use super::super::y;\n    use super::super::super::b;\n}\nuse super::super::c;"),
        ["b", "c"]
    );
    // `pub(super)` is no path.
    assert_eq!(names("pub(super) fn f() {}"), Vec::<String>::new());
    let err = crate_refs(&path, "use super::super::super::x;").unwrap_err();
    assert!(err.msg.contains("climbs 3 levels"), "{err:?}");
}

#[test]
fn comments_strings_and_chars_are_not_code() {
    let src = r####"
// use crate::b;
/* crate::b /* nested crate::b */ crate::b */
/// [`crate::b::T`]
const S: &str = "crate::b::x";
const R: &str = r#"crate::b "quoted" "#;
const C: char = '"';
const Q: char = '\'';
fn f<'a>(x: &'a str) -> &'a str { crate::c::g(x) }
macro_rules! m { () => { $crate::d::h() } }
pub(crate) fn k() {}
"####;
    let names: Vec<String> = crate_refs(&["a".into()], src)
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["c", "d"]);
}

#[test]
fn modules_and_root_items_missing_from_the_table_are_errors() {
    let t = tree(&[
        ("lib.rs", "pub mod a;\npub use a::T;\n"),
        ("a.rs", "pub struct T;\n"),
        ("b.rs", "use crate::T;\nuse crate::*;\n"),
        ("zzz/mod.rs", "use crate::a::T;\n"),
        ("zzz/more.rs", ""),
    ]);
    assert_eq!(
        shown(&check(AB, &t)),
        [
            "src/b.rs:1: module b imports lib, which is above it",
            "src/b.rs:2: module b imports lib, which is above it",
            "src/zzz/mod.rs:1: module zzz is not in the layer table (tests/layering.rs)",
        ]
    );
    // Without `lib` in the table, lib.rs itself is unknown.
    let t = tree(&[("lib.rs", "pub mod a;\n"), ("a.rs", "")]);
    assert_eq!(
        shown(&check(&[&["a"]], &t)),
        ["src/lib.rs:1: module lib is not in the layer table (tests/layering.rs)"]
    );
}

#[test]
fn the_table_names_each_module_once() {
    let mut seen = BTreeSet::new();
    for m in LAYERS.iter().flat_map(|l| l.iter()) {
        assert!(seen.insert(*m), "{m} is in two layers");
    }
}
