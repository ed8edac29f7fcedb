//! Loki's pattern expressions (`log/pattern`): literals and `<name>` captures, `<_>`
//! capturing nothing. Used by the `| pattern` parser ([`Pattern::matches`]) and the
//! `|>`/`!>` line filters ([`Pattern::test`]), whose rules differ slightly; both are
//! Loki's, including their quirks.

use memchr::memmem;

#[derive(Debug, Clone)]
enum Node {
    Lit(Vec<u8>),
    /// A capture; `None` is `<_>`.
    Cap(Option<String>),
}

/// A parsed pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    nodes: Vec<Node>,
    names: Vec<String>,
}

impl Pattern {
    fn lex(p: &str) -> Vec<Node> {
        let b = p.as_bytes();
        let mut nodes = Vec::new();
        let mut lit: Vec<u8> = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'<' {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                    j += 1;
                }
                if j > start && !b[start].is_ascii_digit() && j < b.len() && b[j] == b'>' {
                    if !lit.is_empty() {
                        nodes.push(Node::Lit(std::mem::take(&mut lit)));
                    }
                    let name = &p[start..j];
                    nodes.push(Node::Cap((name != "_").then(|| name.to_string())));
                    i = j + 1;
                    continue;
                }
            }
            lit.push(b[i]);
            i += 1;
        }
        if !lit.is_empty() {
            nodes.push(Node::Lit(lit));
        }
        nodes
    }

    fn consecutive(nodes: &[Node]) -> Result<(), String> {
        for w in nodes.windows(2) {
            if let (Node::Cap(a), Node::Cap(b)) = (&w[0], &w[1]) {
                let n = |c: &Option<String>| c.clone().unwrap_or_else(|| "_".into());
                return Err(format!(
                    "found consecutive capture '<{}><{}>': invalid expression",
                    n(a),
                    n(b)
                ));
            }
        }
        Ok(())
    }

    /// A `| pattern` expression: at least one named capture, no two adjacent captures,
    /// no duplicate names. (The LogQL parser already rejected bad ones; this repeats the
    /// check so the pipeline never trusts its input.)
    pub fn parser(p: &str) -> Result<Pattern, String> {
        let nodes = Self::lex(p);
        if nodes.is_empty() {
            return Err(
                "parse error at line 1, col 1: syntax error: unexpected $end, expecting IDENTIFIER or LITERAL"
                    .into(),
            );
        }
        let names: Vec<String> = nodes
            .iter()
            .filter_map(|n| match n {
                Node::Cap(Some(s)) => Some(s.clone()),
                _ => None,
            })
            .collect();
        if names.is_empty() {
            return Err("at least one capture is required".into());
        }
        Self::consecutive(&nodes)?;
        for (i, n) in names.iter().enumerate() {
            if names[..i].contains(n) {
                return Err(format!("duplicate capture name ({n}): invalid expression"));
            }
        }
        Ok(Pattern { nodes, names })
    }

    /// A `|>` line-filter pattern: only `<_>` captures; the empty pattern matches only
    /// the empty line.
    pub fn line_filter(p: &str) -> Result<Pattern, String> {
        let nodes = Self::lex(p);
        Self::consecutive(&nodes)?;
        if let Some(Node::Cap(Some(n))) = nodes.iter().find(|n| matches!(n, Node::Cap(Some(_)))) {
            return Err(format!("named captures are not allowed: found '<{n}>'"));
        }
        Ok(Pattern {
            nodes,
            names: Vec::new(),
        })
    }

    /// The named captures, in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Extracts the captures of the parser form into `out` as (name index, range). A line
    /// that stops matching part-way keeps the captures found so far; a missing literal
    /// makes the current capture run to the end of the line.
    pub fn matches(&self, line: &[u8], out: &mut Vec<(usize, std::ops::Range<usize>)>) {
        out.clear();
        if line.is_empty() || self.nodes.is_empty() {
            return;
        }
        let mut pos = 0;
        let mut nodes = &self.nodes[..];
        if let Node::Lit(l) = &nodes[0] {
            if memmem::find(line, l) != Some(0) {
                return;
            }
            pos = l.len();
            nodes = &nodes[1..];
        }
        let mut idx = 0;
        while !nodes.is_empty() {
            let Node::Cap(cap) = &nodes[0] else { return };
            if nodes.len() == 1 {
                if cap.is_some() {
                    out.push((idx, pos..line.len()));
                }
                return;
            }
            let Node::Lit(l) = &nodes[1] else { return };
            nodes = &nodes[2..];
            match memmem::find(&line[pos..], l) {
                None => {
                    if cap.is_some() {
                        out.push((idx, pos..line.len()));
                    }
                    return;
                }
                Some(i) => {
                    if cap.is_some() {
                        out.push((idx, pos..pos + i));
                        idx += 1;
                    }
                    pos += i + l.len();
                }
            }
        }
    }

    /// The line-filter test: literals must appear in order, each one after a non-empty
    /// capture (except the first node), and the line must end where the pattern ends.
    pub fn test(&self, line: &[u8]) -> bool {
        if line.is_empty() || self.nodes.is_empty() {
            return line.is_empty() && self.nodes.is_empty();
        }
        let mut off = 0;
        for (i, n) in self.nodes.iter().enumerate() {
            let Node::Lit(l) = n else { continue };
            let Some(j) = memmem::find(&line[off..], l) else {
                return false;
            };
            if i != 0 && j == 0 {
                return false;
            }
            off += j + l.len();
        }
        let req_rem = matches!(self.nodes.last(), Some(Node::Cap(_)));
        req_rem == (off != line.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(p: &str, line: &str) -> Vec<(String, String)> {
        let p = Pattern::parser(p).unwrap();
        let mut out = Vec::new();
        p.matches(line.as_bytes(), &mut out);
        out.into_iter()
            .map(|(i, r)| (p.names()[i].clone(), line[r].to_string()))
            .collect()
    }

    #[test]
    fn parser_form() {
        assert_eq!(
            caps("<method> <path> <status>", "GET /home 200"),
            vec![
                ("method".into(), "GET".into()),
                ("path".into(), "/home".into()),
                ("status".into(), "200".into())
            ]
        );
        assert_eq!(
            caps("<method> <_> <status>", "GET /home 200"),
            vec![
                ("method".into(), "GET".into()),
                ("status".into(), "200".into())
            ]
        );
        assert_eq!(
            caps("<method> <path>", "POST"),
            vec![("method".into(), "POST".into())]
        );
        assert_eq!(
            caps(
                r#"<ip> - - [<_>] "<method> <uri> <_>" <status>"#,
                r#"1.2.3.4 - - [x] "GET / HTTP/1.1" 200"#
            )
            .len(),
            4
        );
        assert!(caps("x <a>", "y x 1").is_empty());
        assert_eq!(
            Pattern::parser("no captures here").unwrap_err(),
            "at least one capture is required"
        );
        assert!(Pattern::parser("<a><b>")
            .unwrap_err()
            .contains("consecutive"));
        assert!(Pattern::parser("<a> <a>")
            .unwrap_err()
            .contains("duplicate"));
    }

    #[test]
    fn filter_form() {
        let p = Pattern::line_filter("GET <_> 200").unwrap();
        assert!(p.test(b"GET /api 200"));
        assert!(!p.test(b"POST /api 500"));
        let p = Pattern::line_filter("GET /api").unwrap();
        assert!(!p.test(b"GET /api 200"));
        let p = Pattern::line_filter("<_> bar <_>").unwrap();
        assert!(!p.test(b" bar "));
        assert!(p.test(b"x bar y"));
        assert!(Pattern::line_filter("").unwrap().test(b""));
        assert!(!Pattern::line_filter("").unwrap().test(b"x"));
        assert_eq!(
            Pattern::line_filter("<verb> /api 200").unwrap_err(),
            "named captures are not allowed: found '<verb>'"
        );
    }
}
