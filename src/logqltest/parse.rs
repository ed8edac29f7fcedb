//! Parser of Grafana Loki's `.logqltest` scripts (a promqltest-style DSL):
//! `load` blocks of log lines, `clear`, `flush`, and `eval` commands with
//! their expected results.

use crate::model::Labels;

/// One command of a script, with its 1-based line number.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Forget every loaded stream.
    Clear,
    /// Cut chunks (lokal writes each load separately anyway).
    Flush,
    /// Entries to add.
    Load(Vec<LoadEntry>),
    /// A query and what it must return.
    Eval(Box<EvalCase>),
}

/// One generated entry of a `load` block.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadEntry {
    /// Stream labels.
    pub labels: Labels,
    /// ns from the script epoch.
    pub ts: i64,
    /// The line.
    pub line: String,
    /// Structured metadata.
    pub metadata: Vec<(String, String)>,
}

/// How a query is evaluated.
#[derive(Debug, Clone, PartialEq)]
pub enum EvalKind {
    /// `eval instant at T`.
    Instant(i64),
    /// `eval range from T0 to T1 step S`.
    Range {
        /// First step.
        start: i64,
        /// Last step.
        end: i64,
        /// Step.
        step: i64,
    },
    /// `eval select from T0 to T1 forward|backward`.
    Select {
        /// Start, inclusive.
        start: i64,
        /// End, exclusive.
        end: i64,
        /// Oldest first.
        forward: bool,
    },
}

/// An expected point value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Point {
    /// No point at this step.
    Missing,
    /// A value.
    Value(f64),
}

/// One expected log line of an `eval select`.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedLine {
    /// Stream labels.
    pub labels: Labels,
    /// The line.
    pub line: String,
    /// ns.
    pub ts: i64,
    /// Structured metadata of the entry.
    pub metadata: Vec<(String, String)>,
    /// Parsed labels of the entry.
    pub parsed: Vec<(String, String)>,
}

/// What an eval must produce.
#[derive(Debug, Clone, PartialEq)]
pub enum Expectation {
    /// Series (vector or matrix): labels and one point per step.
    Series(Vec<(Labels, Vec<Point>)>),
    /// A scalar.
    Scalar(f64),
    /// Log lines.
    Streams(Vec<ExpectedLine>),
    /// Nothing.
    Empty,
    /// An error, optionally matching a substring or a regex.
    Fail {
        /// `msg:` substring.
        msg: Option<String>,
        /// `regex:` pattern.
        regex: Option<String>,
    },
}

/// One `eval` command.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalCase {
    /// 1-based line of the `eval`.
    pub line: usize,
    /// How to evaluate.
    pub kind: EvalKind,
    /// The LogQL query.
    pub query: String,
    /// Compare series positionally.
    pub ordered: bool,
    /// Expected result.
    pub expect: Expectation,
}

/// A script error: line and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {msg}")]
pub struct ScriptError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub msg: String,
}

fn err(line: usize, msg: impl Into<String>) -> ScriptError {
    ScriptError {
        line,
        msg: msg.into(),
    }
}

/// Removes a `#` comment that is not inside `"…"` or `` `…` ``.
fn strip_comment(s: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' && q == '"' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '"' | '`' => quote = Some(c),
                '#' => return &s[..i],
                _ => {}
            },
        }
    }
    s
}

/// Parses a Go duration such as `1m30s`, `90s`, `0`, `-5m`, `1.5h` (the
/// script's times are Go durations from the epoch).
pub fn parse_go_duration(s: &str) -> Option<i64> {
    crate::go::duration::parse_go_duration(s.trim()).ok()
}

/// A tiny cursor for the script's value syntax.
struct Cur<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cur<'a> {
    fn ws(&mut self) {
        while self.s[self.pos..].starts_with([' ', '\t']) {
            self.pos += 1;
        }
    }
    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }
    fn eat(&mut self, p: &str) -> bool {
        self.ws();
        if self.rest().starts_with(p) {
            self.pos += p.len();
            true
        } else {
            false
        }
    }
    fn word(&mut self) -> &'a str {
        self.ws();
        let r = self.rest();
        let end = r.find([' ', '\t', '[', ']']).unwrap_or(r.len());
        self.pos += end;
        &r[..end]
    }
    /// A `"…"` string with Go escapes, or a raw `` `…` `` string.
    fn string(&mut self, unescape: bool) -> Option<String> {
        self.ws();
        let r = self.rest();
        let q = r.chars().next()?;
        if q != '"' && q != '`' {
            return None;
        }
        let body = &r[1..];
        if q == '`' || !unescape {
            let end = if q == '`' {
                body.find('`')?
            } else {
                find_closing_quote(body)?
            };
            self.pos += end + 2;
            return Some(body[..end].to_string());
        }
        let end = find_closing_quote(body)?;
        self.pos += end + 2;
        Some(go_unescape(&body[..end]))
    }
}

fn find_closing_quote(body: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' {
            return Some(i);
        }
    }
    None
}

fn go_unescape(s: &str) -> String {
    crate::go::strconv::unquote(&format!("\"{s}\"")).unwrap_or_else(|_| s.to_string())
}

/// `{a="b", c=""}` → labels.
fn parse_labels(c: &mut Cur<'_>, line: usize) -> Result<Labels, ScriptError> {
    if !c.eat("{") {
        return Err(err(line, "expected a label set {…}"));
    }
    let mut pairs = Vec::new();
    loop {
        if c.eat("}") {
            break;
        }
        c.ws();
        let r = c.rest();
        let end = r
            .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
            .unwrap_or(r.len());
        if end == 0 {
            return Err(err(line, format!("bad label name at {:?}", r)));
        }
        let name = r[..end].to_string();
        c.pos += end;
        if !c.eat("=") {
            return Err(err(line, "expected = in label set"));
        }
        let v = c
            .string(true)
            .ok_or_else(|| err(line, "expected a quoted label value"))?;
        pairs.push((name, v));
        c.eat(",");
    }
    Ok(Labels::from_pairs(pairs))
}

/// `[metadata k="v" …]` or `[parsed k="v" …]`.
fn parse_pairs_clause(
    c: &mut Cur<'_>,
    kw: &str,
    line: usize,
) -> Result<Option<Vec<(String, String)>>, ScriptError> {
    let save = c.pos;
    if !c.eat("[") {
        return Ok(None);
    }
    if !c.eat(kw) {
        c.pos = save;
        return Ok(None);
    }
    let mut pairs = Vec::new();
    loop {
        if c.eat("]") {
            break;
        }
        c.ws();
        let name = if c.rest().starts_with('"') {
            c.string(true).ok_or_else(|| err(line, "bad quoted key"))?
        } else {
            let r = c.rest();
            let end = r
                .find('=')
                .ok_or_else(|| err(line, "expected key=\"value\""))?;
            c.pos += end;
            r[..end].trim().to_string()
        };
        if !c.eat("=") {
            return Err(err(line, "expected ="));
        }
        let v = c
            .string(true)
            .ok_or_else(|| err(line, "expected a quoted value"))?;
        pairs.push((name, v));
    }
    Ok(Some(pairs))
}

/// One token of the expanding notation (`1`, `_`, `1+2x3`, `NaN`): the points it stands for.
pub fn parse_point(tok: &str, line: usize) -> Result<Vec<Point>, ScriptError> {
    let single = |t: &str| -> Result<f64, ScriptError> {
        match t {
            "NaN" => Ok(f64::NAN),
            "+Inf" | "Inf" => Ok(f64::INFINITY),
            "-Inf" => Ok(f64::NEG_INFINITY),
            _ => t
                .parse::<f64>()
                .map_err(|_| err(line, format!("bad value {t:?}"))),
        }
    };
    if tok == "_" {
        return Ok(vec![Point::Missing]);
    }
    if let Some((head, count)) = tok.rsplit_once('x') {
        if let Ok(count) = count.parse::<usize>() {
            // base[+-step]xN → N+1 points
            let (base, step) = match head[1..].find(['+', '-']).map(|i| i + 1) {
                Some(i) => (single(&head[..i])?, single(&head[i..])?),
                None => (single(head)?, 0.0),
            };
            return Ok((0..=count)
                .map(|k| Point::Value(base + step * k as f64))
                .collect());
        }
    }
    Ok(vec![Point::Value(single(tok)?)])
}

/// Parses a whole script.
pub fn parse_script(text: &str) -> Result<Vec<Command>, ScriptError> {
    let lines: Vec<&str> = text.lines().collect();
    let mut cmds = Vec::new();
    let mut i = 0;
    let indented = |l: &str| l.starts_with([' ', '\t']);
    while i < lines.len() {
        let raw = lines[i];
        let l = strip_comment(raw).trim_end();
        let ln = i + 1;
        i += 1;
        if l.trim().is_empty() {
            continue;
        }
        if indented(l) {
            return Err(err(ln, "indented line outside a load or eval block"));
        }
        let mut block: Vec<(usize, String)> = Vec::new();
        while i < lines.len() && indented(lines[i]) {
            let b = strip_comment(lines[i]).trim().to_string();
            if !b.is_empty() {
                block.push((i + 1, b));
            }
            i += 1;
        }
        let word = l.split_whitespace().next().unwrap_or("");
        match word {
            "clear" => cmds.push(Command::Clear),
            "flush" => cmds.push(Command::Flush),
            "load" => {
                let mut entries = Vec::new();
                for (bl, b) in &block {
                    entries.extend(parse_load_line(b, *bl)?);
                }
                cmds.push(Command::Load(entries));
            }
            "eval" => cmds.push(Command::Eval(Box::new(parse_eval(l, ln, &block)?))),
            w => return Err(err(ln, format!("unknown command {w:?}"))),
        }
    }
    Ok(cmds)
}

fn parse_load_line(b: &str, ln: usize) -> Result<Vec<LoadEntry>, ScriptError> {
    let mut c = Cur { s: b, pos: 0 };
    let labels = parse_labels(&mut c, ln)?;
    let line = c
        .string(false)
        .ok_or_else(|| err(ln, "expected a quoted log line"))?;
    if !c.eat("@") {
        return Err(err(ln, "expected @ <time>"));
    }
    let start = parse_go_duration(c.word()).ok_or_else(|| err(ln, "bad @ time"))?;
    let (mut step, mut count) = (0i64, 1usize);
    let save = c.pos;
    if c.eat("[") && c.eat("repeat") {
        if !c.eat("every") {
            return Err(err(ln, "expected [repeat every <step> for <count>]"));
        }
        step = parse_go_duration(c.word()).ok_or_else(|| err(ln, "bad repeat step"))?;
        if !c.eat("for") {
            return Err(err(ln, "expected for <count>"));
        }
        count = c.word().parse().map_err(|_| err(ln, "bad repeat count"))?;
        if !c.eat("]") {
            return Err(err(ln, "expected ]"));
        }
    } else {
        c.pos = save;
    }
    let metadata = parse_pairs_clause(&mut c, "metadata", ln)?.unwrap_or_default();
    c.ws();
    if !c.rest().is_empty() {
        return Err(err(ln, format!("unexpected {:?}", c.rest())));
    }
    Ok((0..count)
        .map(|k| LoadEntry {
            labels: labels.clone(),
            ts: start + step * k as i64,
            line: line.replace("{{.i}}", &k.to_string()),
            metadata: metadata.clone(),
        })
        .collect())
}

fn parse_eval(l: &str, ln: usize, block: &[(usize, String)]) -> Result<EvalCase, ScriptError> {
    let mut c = Cur { s: l, pos: 0 };
    c.eat("eval");
    let d = |c: &mut Cur<'_>, what: &str| {
        parse_go_duration(c.word()).ok_or_else(|| err(ln, format!("bad {what} time")))
    };
    let kind = match c.word() {
        "instant" => {
            if !c.eat("at") {
                return Err(err(ln, "expected eval instant at <time>"));
            }
            EvalKind::Instant(d(&mut c, "instant")?)
        }
        "range" => {
            if !c.eat("from") {
                return Err(err(ln, "expected eval range from"));
            }
            let start = d(&mut c, "start")?;
            if !c.eat("to") {
                return Err(err(ln, "expected to"));
            }
            let end = d(&mut c, "end")?;
            if !c.eat("step") {
                return Err(err(ln, "expected step"));
            }
            EvalKind::Range {
                start,
                end,
                step: d(&mut c, "step")?,
            }
        }
        "select" => {
            if !c.eat("from") {
                return Err(err(ln, "expected eval select from"));
            }
            let start = d(&mut c, "start")?;
            if !c.eat("to") {
                return Err(err(ln, "expected to"));
            }
            let end = d(&mut c, "end")?;
            let forward = match c.word() {
                "forward" => true,
                "backward" => false,
                w => return Err(err(ln, format!("expected forward or backward, got {w:?}"))),
            };
            EvalKind::Select {
                start,
                end,
                forward,
            }
        }
        w => return Err(err(ln, format!("unknown eval kind {w:?}"))),
    };
    let query = c.rest().trim().to_string();
    let mut ordered = false;
    let mut expect: Option<Expectation> = None;
    let mut series = Vec::new();
    let mut streams = Vec::new();
    for (bl, b) in block {
        let bl = *bl;
        if let Some(rest) = b.strip_prefix("expect ") {
            let rest = rest.trim();
            if rest == "ordered" {
                ordered = true;
            } else if rest == "empty" {
                expect = Some(Expectation::Empty);
            } else if let Some(f) = rest.strip_prefix("fail") {
                let f = f.trim();
                expect = Some(if let Some(m) = f.strip_prefix("msg:") {
                    Expectation::Fail {
                        msg: Some(m.trim().to_string()),
                        regex: None,
                    }
                } else if let Some(r) = f.strip_prefix("regex:") {
                    Expectation::Fail {
                        msg: None,
                        regex: Some(r.trim().to_string()),
                    }
                } else {
                    Expectation::Fail {
                        msg: None,
                        regex: None,
                    }
                });
            } else if rest.starts_with("values-toleration") {
                // Only concerns Loki's sharded stacks.
            } else {
                return Err(err(bl, format!("unknown expect {rest:?}")));
            }
            continue;
        }
        if b.starts_with("skip ") {
            continue;
        }
        if b.starts_with('{') {
            let mut c = Cur { s: b, pos: 0 };
            let labels = parse_labels(&mut c, bl)?;
            c.ws();
            if matches!(kind, EvalKind::Select { .. }) {
                let line = c
                    .string(false)
                    .ok_or_else(|| err(bl, "expected a quoted line"))?;
                if !c.eat("@") {
                    return Err(err(bl, "expected @ <time>"));
                }
                let ts = parse_go_duration(c.word()).ok_or_else(|| err(bl, "bad @ time"))?;
                let metadata = parse_pairs_clause(&mut c, "metadata", bl)?.unwrap_or_default();
                let parsed = parse_pairs_clause(&mut c, "parsed", bl)?.unwrap_or_default();
                streams.push(ExpectedLine {
                    labels,
                    line,
                    ts,
                    metadata,
                    parsed,
                });
            } else {
                let mut points = Vec::new();
                for tok in c.rest().split_whitespace() {
                    points.extend(parse_point(tok, bl)?);
                }
                series.push((labels, points));
            }
            continue;
        }
        // A bare number: a scalar.
        match parse_point(b.trim(), bl)?.as_slice() {
            [Point::Value(v)] => expect = Some(Expectation::Scalar(*v)),
            _ => return Err(err(bl, format!("cannot read expected result {b:?}"))),
        }
    }
    let expect = match expect {
        Some(e) => e,
        None if !streams.is_empty() => Expectation::Streams(streams),
        None if !series.is_empty() => Expectation::Series(series),
        None => {
            return Err(err(
                ln,
                "eval without an expected result (use expect empty)",
            ))
        }
    };
    Ok(EvalCase {
        line: ln,
        kind,
        query,
        ordered,
        expect,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_script() {
        let s = r##"
# comment
load
  {app="a"} "x #1 {{.i}}" @ 20s [repeat every 20s for 3]   # trailing
  {app="b"} `{"k":"v"}` @ 1m30s [metadata trace="t1"]

eval instant at 60s count_over_time({app="a"} |= "#" [1m])
  {app="a"} 3
eval range from 0 to 60s step 30s rate({app="a"}[1m])
  {app="a"} _ 1+1x1
eval instant at 0 1 + 1
  2
eval instant at 0 foo(
  expect fail msg: syntax error
"##;
        let cmds = parse_script(s).unwrap();
        assert_eq!(cmds.len(), 5);
        let Command::Load(l) = &cmds[0] else { panic!() };
        assert_eq!(l.len(), 4);
        assert_eq!(l[2].line, "x #1 2");
        assert_eq!(l[2].ts, 60_000_000_000);
        assert_eq!(l[3].line, r#"{"k":"v"}"#);
        assert_eq!(l[3].ts, 90_000_000_000);
        assert_eq!(l[3].metadata, vec![("trace".to_string(), "t1".to_string())]);
        let Command::Eval(e) = &cmds[1] else { panic!() };
        assert_eq!(e.query, r##"count_over_time({app="a"} |= "#" [1m])"##);
        let Command::Eval(e) = &cmds[2] else { panic!() };
        assert_eq!(
            e.expect,
            Expectation::Series(vec![(
                Labels::from_pairs([("app", "a")]),
                vec![Point::Missing, Point::Value(1.0), Point::Value(2.0)]
            )])
        );
        let Command::Eval(e) = &cmds[3] else { panic!() };
        assert_eq!(e.expect, Expectation::Scalar(2.0));
    }
}
