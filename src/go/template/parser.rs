//! The template parser: `text/template/parse` (Go 1.22) for single, unnamed templates,
//! with Go's error texts. Functions are resolved against the [`FuncTable`] here, as Go
//! does (`function "x" not defined`), and stored in the template, so executing one
//! looks nothing up by name.

use std::sync::Arc;

use super::funcs::{Callable, FuncTable};
use super::lexer::{lex, Lexed, Tok};
use super::{Context, Template};
use crate::go::strconv;

/// An operand (Go's parse node types, as far as they can appear in a command).
#[derive(Debug, Clone)]
pub(super) enum Arg {
    /// `.`
    Dot,
    /// `.a.b`
    Field(Vec<String>),
    /// `$x.a.b`
    Var(String, Vec<String>),
    /// A function, as an index into the template's resolved functions, and its name.
    Func(usize, String),
    /// `(pipeline).a.b`
    Chain(Box<Pipe>, Vec<String>),
    /// `(pipeline)`
    Pipe(Box<Pipe>),
    /// A string or raw-string literal, unquoted.
    Str(Arc<str>),
    /// A number or character constant: its integer value if it has one, its float value,
    /// whether Go treats it as a float, and its source text.
    Num {
        int: Option<i64>,
        float: f64,
        is_float: bool,
        text: String,
    },
    Bool(bool),
    Nil,
}

/// A command: an operand, or a function and its arguments.
#[derive(Debug, Clone)]
pub(super) struct Cmd {
    pub(super) args: Vec<Arg>,
    /// Source text and (line, column) of each argument, for error messages (Go reports
    /// errors at the node that failed: `at <.foo>`, `at <replace>`).
    pub(super) at: Vec<At>,
}

/// Where a node is: its source text and (line, 0-based column).
#[derive(Debug, Clone)]
pub(super) struct At {
    pub(super) text: String,
    pub(super) line: usize,
    pub(super) col: usize,
}

/// A pipeline, with the variables it declares (`$x :=`) or assigns (`$x =`).
#[derive(Debug, Clone)]
pub(super) struct Pipe {
    pub(super) decl: Vec<String>,
    pub(super) assign: bool,
    pub(super) cmds: Vec<Cmd>,
}

/// A node of the parse tree.
#[derive(Debug, Clone)]
pub(super) enum Node {
    Text(Vec<u8>),
    Action(Pipe),
    If(Pipe, Vec<Node>, Option<Vec<Node>>),
    With(Pipe, Vec<Node>, Option<Vec<Node>>),
    Range(Pipe, Vec<Node>, Option<Vec<Node>>),
    Break,
    Continue,
}

impl<C: Context> Template<C> {
    /// Parses `src` with the functions of `funcs`; `name` is Go's template name in
    /// messages (`template: line:1: …`).
    pub fn parse(name: &str, src: &str, funcs: &FuncTable<C>) -> Result<Template<C>, String> {
        Template::parse_with_vars(name, src, funcs, &[])
    }

    /// Like [`Template::parse`], with variables the caller defines besides `$` (say
    /// `$labels` and `$value` for alerting templates); [`Template::execute_with`] gives
    /// their values, in this order.
    pub fn parse_with_vars(
        name: &str,
        src: &str,
        funcs: &FuncTable<C>,
        vars: &[&str],
    ) -> Result<Template<C>, String> {
        let err = |(pos, msg): (usize, String)| {
            let (line, _) = line_col(src, pos);
            format!("template: {name}:{line}: {msg}")
        };
        let toks = lex(src).map_err(err)?;
        let mut p = Parser {
            src,
            toks,
            i: 0,
            vars: std::iter::once("$")
                .chain(vars.iter().copied())
                .map(String::from)
                .collect(),
            range_depth: 0,
            table: funcs,
            funcs: Vec::new(),
        };
        let (nodes, _) = p.list(&[]).map_err(err)?;
        Ok(Template {
            name: name.to_string(),
            nodes,
            funcs: p.funcs.into_iter().map(|(_, f)| f).collect(),
            vars: vars.iter().map(|v| v.to_string()).collect(),
        })
    }

    /// If the template is exactly `{{.x}}`, the label name: Loki copies that label's
    /// value without running the template.
    pub fn simple_key(&self) -> Option<&str> {
        match self.nodes.as_slice() {
            [Node::Action(p)] if p.decl.is_empty() && p.cmds.len() == 1 => {
                match p.cmds[0].args.as_slice() {
                    [Arg::Field(f)] if f.len() == 1 => Some(&f[0]),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// Label names the template reads through fields (`.x`), for extraction hints;
    /// `None` when it uses `.` as a whole.
    pub fn fields(&self) -> Option<Vec<String>> {
        let mut out = Vec::new();
        let mut whole = false;
        fn pipe(p: &Pipe, out: &mut Vec<String>, whole: &mut bool) {
            for c in &p.cmds {
                for a in &c.args {
                    match a {
                        Arg::Field(f) => out.push(f[0].clone()),
                        Arg::Dot | Arg::Var(..) => *whole = true,
                        Arg::Pipe(p) | Arg::Chain(p, _) => pipe(p, out, whole),
                        _ => {}
                    }
                }
            }
        }
        fn nodes(ns: &[Node], out: &mut Vec<String>, whole: &mut bool) {
            for n in ns {
                match n {
                    Node::Action(p) => pipe(p, out, whole),
                    Node::If(p, a, b) | Node::With(p, a, b) | Node::Range(p, a, b) => {
                        // Inside with/range "." changes meaning: be conservative.
                        if !matches!(n, Node::If(..)) {
                            *whole = true;
                        }
                        pipe(p, out, whole);
                        nodes(a, out, whole);
                        if let Some(b) = b {
                            nodes(b, out, whole);
                        }
                    }
                    _ => {}
                }
            }
        }
        nodes(&self.nodes, &mut out, &mut whole);
        (!whole).then_some(out)
    }
}

struct Parser<'a, C: Context> {
    src: &'a str,
    toks: Vec<Lexed>,
    i: usize,
    vars: Vec<String>,
    range_depth: usize,
    table: &'a FuncTable<C>,
    /// The functions the template calls, in order of first use.
    funcs: Vec<(String, Callable<C>)>,
}

type PResult<T> = Result<T, (usize, String)>;

impl<C: Context> Parser<'_, C> {
    fn peek(&self) -> &Tok {
        &self.toks[self.i].tok
    }

    fn pos(&self) -> usize {
        self.toks[self.i].pos
    }

    fn next(&mut self) -> Tok {
        let t = self.toks[self.i].tok.clone();
        if self.i + 1 < self.toks.len() {
            self.i += 1;
        }
        t
    }

    fn skip_space(&mut self) {
        while *self.peek() == Tok::Space {
            self.next();
        }
    }

    /// Parses nodes until `{{end}}`/`{{else}}` (returned) or EOF.
    fn list(&mut self, stop_on: &[&str]) -> PResult<(Vec<Node>, Option<&'static str>)> {
        let mut nodes = Vec::new();
        loop {
            match self.next() {
                Tok::Eof => {
                    if stop_on.is_empty() {
                        return Ok((nodes, None));
                    }
                    return Err((self.src.len(), "unexpected EOF".into()));
                }
                Tok::Text(t) => nodes.push(Node::Text(t)),
                Tok::LeftDelim => {
                    self.skip_space();
                    let at = self.pos();
                    if let Tok::Keyword(k) = self.peek().clone() {
                        match k {
                            "end" | "else" => {
                                if !stop_on.contains(&k) {
                                    return Err((at, format!("unexpected {{{{{k}}}}}")));
                                }
                                self.next();
                                if k == "end" {
                                    self.expect_close("end")?;
                                }
                                return Ok((nodes, Some(k)));
                            }
                            "if" | "with" | "range" => {
                                self.next();
                                nodes.push(self.control(k)?);
                                continue;
                            }
                            "break" | "continue" => {
                                self.next();
                                if self.range_depth == 0 {
                                    return Err((at, format!("{{{{{k}}}}} outside {{{{range}}}}")));
                                }
                                self.expect_close(k)?;
                                nodes.push(if k == "break" {
                                    Node::Break
                                } else {
                                    Node::Continue
                                });
                                continue;
                            }
                            _ => {
                                return Err((
                                    at,
                                    format!("{{{{{k}}}}} is not supported in Loki templates"),
                                ))
                            }
                        }
                    }
                    let p = self.pipeline("command", true)?;
                    nodes.push(Node::Action(p));
                }
                t => return Err((self.pos(), format!("unexpected {t:?}"))),
            }
        }
    }

    fn expect_close(&mut self, ctx: &str) -> PResult<()> {
        self.skip_space();
        match self.next() {
            Tok::RightDelim => Ok(()),
            t => Err((self.pos(), format!("unexpected {} in {ctx}", tok_desc(&t)))),
        }
    }

    fn control(&mut self, kind: &'static str) -> PResult<Node> {
        let saved = self.vars.len();
        let pipe = self.pipeline(kind, false)?;
        if kind == "range" {
            self.range_depth += 1;
        }
        let (body, stop) = self.list(&["end", "else"])?;
        if kind == "range" {
            self.range_depth -= 1;
        }
        let else_list = if stop == Some("else") {
            self.skip_space();
            // "else if" / "else with" chains.
            if let Tok::Keyword(k) = self.peek().clone() {
                if (k == "if" && kind == "if") || (k == "with" && kind == "with") {
                    self.next();
                    let inner = self.control(k)?;
                    self.vars.truncate(saved);
                    let node = match kind {
                        "if" => Node::If(pipe, body, Some(vec![inner])),
                        _ => Node::With(pipe, body, Some(vec![inner])),
                    };
                    return Ok(node);
                }
            }
            self.expect_close("else")?;
            let (e, stop2) = self.list(&["end"])?;
            debug_assert_eq!(stop2, Some("end"));
            Some(e)
        } else {
            None
        };
        self.vars.truncate(saved);
        Ok(match kind {
            "if" => Node::If(pipe, body, else_list),
            "with" => Node::With(pipe, body, else_list),
            _ => Node::Range(pipe, body, else_list),
        })
    }

    /// A pipeline up to `}}` (or `)` when `in_paren`).
    fn pipeline(&mut self, ctx: &str, allow_assign: bool) -> PResult<Pipe> {
        let _ = allow_assign;
        self.skip_space();
        let mut decl = Vec::new();
        let mut assign = false;
        // Variable declarations: $x := / $x = / $i, $v := (range).
        let save = self.i;
        if let Tok::Var(v) = self.peek().clone() {
            self.next();
            self.skip_space();
            match self.peek().clone() {
                Tok::Declare | Tok::Assign => {
                    assign = *self.peek() == Tok::Assign;
                    self.next();
                    decl.push(v);
                }
                Tok::Comma if ctx == "range" => {
                    self.next();
                    self.skip_space();
                    if let Tok::Var(v2) = self.next() {
                        self.skip_space();
                        if matches!(self.peek(), Tok::Declare | Tok::Assign) {
                            assign = *self.peek() == Tok::Assign;
                            self.next();
                            decl.push(v);
                            decl.push(v2);
                        } else {
                            return Err((self.pos(), "missing := after range variables".into()));
                        }
                    } else {
                        return Err((self.pos(), "range can only initialize variables".into()));
                    }
                }
                _ => self.i = save,
            }
        }
        for d in &decl {
            if assign {
                if !self.vars.contains(d) {
                    return Err((self.pos(), format!("undefined variable \"{d}\"")));
                }
            } else {
                self.vars.push(d.clone());
            }
        }
        let mut cmds = Vec::new();
        loop {
            self.skip_space();
            let start = self.pos();
            let (args, at) = self.command()?;
            if args.is_empty() {
                return Err((start, format!("missing value for {ctx}")));
            }
            cmds.push(Cmd { args, at });
            match self.peek() {
                Tok::Pipe => {
                    self.next();
                }
                Tok::RightDelim => {
                    self.next();
                    break;
                }
                Tok::RParen => break,
                t => return Err((self.pos(), format!("unexpected {} in {ctx}", tok_desc(t)))),
            }
        }
        // Go: only the first command may be a non-function; later ones take the input.
        for c in &cmds[1..] {
            if matches!(
                c.args[0],
                Arg::Bool(_) | Arg::Num { .. } | Arg::Nil | Arg::Str(_) | Arg::Dot
            ) {
                return Err((0, format!("non executable command in pipeline stage {}", 2)));
            }
        }
        Ok(Pipe { decl, assign, cmds })
    }

    fn command(&mut self) -> PResult<(Vec<Arg>, Vec<At>)> {
        let mut args = Vec::new();
        let mut ats = Vec::new();
        loop {
            self.skip_space();
            match self.peek() {
                Tok::Pipe | Tok::RightDelim | Tok::RParen | Tok::Eof => return Ok((args, ats)),
                _ => {}
            }
            let at = self.pos();
            let a = self.operand()?;
            let (line, col) = line_col(self.src, at);
            ats.push(At {
                text: self.src[at..self.pos().max(at)].trim().to_string(),
                line,
                col,
            });
            args.push(a);
            match self.peek() {
                Tok::Space | Tok::Pipe | Tok::RightDelim | Tok::RParen => {}
                t => return Err((at, format!("unexpected {} in operand", tok_desc(t)))),
            }
        }
    }

    fn fields(&mut self) -> Vec<String> {
        let mut f = Vec::new();
        while let Tok::Field(n) = self.peek().clone() {
            self.next();
            f.push(n);
        }
        f
    }

    fn operand(&mut self) -> PResult<Arg> {
        let at = self.pos();
        Ok(match self.next() {
            Tok::Dot => {
                if let Tok::Field(_) = self.peek() {
                    return Err((at, "unexpected . after term \".\"".into()));
                }
                Arg::Dot
            }
            Tok::Field(n) => {
                let mut f = vec![n];
                f.extend(self.fields());
                Arg::Field(f)
            }
            Tok::Var(v) => {
                if v != "$" && !self.vars.contains(&v) {
                    return Err((at, format!("undefined variable \"{v}\"")));
                }
                let f = self.fields();
                Arg::Var(v, f)
            }
            Tok::Ident(n) => {
                let id = match self.funcs.iter().position(|(f, _)| *f == n) {
                    Some(id) => id,
                    None => {
                        let Some(f) = self.table.get(&n) else {
                            return Err((at, format!("function \"{n}\" not defined")));
                        };
                        self.funcs.push((n.clone(), f));
                        self.funcs.len() - 1
                    }
                };
                Arg::Func(id, n)
            }
            Tok::LParen => {
                let p = self.pipeline("parenthesized pipeline", false)?;
                if self.next() != Tok::RParen {
                    return Err((at, "unclosed left paren".into()));
                }
                let f = self.fields();
                if f.is_empty() {
                    Arg::Pipe(Box::new(p))
                } else {
                    Arg::Chain(Box::new(p), f)
                }
            }
            Tok::Str(s) | Tok::RawStr(s) => Arg::Str(Arc::from(s.as_str())),
            Tok::Char(c, text) => Arg::Num {
                int: Some(c as i64),
                float: c as f64,
                is_float: false,
                text,
            },
            Tok::Number(t) => parse_number(&t).map_err(|m| (at, m))?,
            Tok::Bool(b) => Arg::Bool(b),
            Tok::Nil => Arg::Nil,
            t => return Err((at, format!("unexpected {} in operand", tok_desc(&t)))),
        })
    }
}

fn tok_desc(t: &Tok) -> String {
    match t {
        Tok::RightDelim => "\"}}\"".into(),
        Tok::Eof => "EOF".into(),
        Tok::RParen => "\")\"".into(),
        Tok::Pipe => "\"|\"".into(),
        Tok::Ident(s) | Tok::Field(s) | Tok::Var(s) | Tok::Number(s) => format!("<{s}>"),
        Tok::Keyword(k) => format!("<{k}>"),
        t => format!("{t:?}"),
    }
}

fn parse_number(t: &str) -> Result<Arg, String> {
    let bad = || format!("bad number syntax: \"{t}\"");
    if t.ends_with('i') {
        return Err("complex numbers are not supported".into());
    }
    let clean = t.replace('_', "");
    let lower = clean
        .strip_prefix(['+', '-'])
        .unwrap_or(&clean)
        .to_ascii_lowercase();
    // Go's parse.NumberNode: an integer if `strconv.ParseInt(text, 0, 64)` reads it.
    let int = strconv::parse_int(t, 0).ok();
    let is_floaty = !lower.starts_with("0x") && lower.contains(['.', 'e']);
    let float = match int {
        Some(i) if !is_floaty => i as f64,
        _ => {
            let f: f64 = strconv::parse_float(&clean).map_err(|_| bad())?;
            f
        }
    };
    let int =
        int.or_else(|| (float.fract() == 0.0 && float.abs() < 9.2e18).then_some(float as i64));
    if int.is_none() && !is_floaty {
        return Err(bad());
    }
    Ok(Arg::Num {
        int,
        float,
        is_float: is_floaty,
        text: t.to_string(),
    })
}

fn line_col(src: &str, pos: usize) -> (usize, usize) {
    let before = &src[..pos.min(src.len())];
    let line = before.matches('\n').count() + 1;
    let col = pos - before.rfind('\n').map_or(0, |i| i + 1);
    (line, col)
}
