//! A Go `text/template` engine for `line_format` and `label_format`.
//!
//! It implements the language as Loki templates use it: text, actions with pipelines,
//! `{{-`/`-}}` trimming, comments, `if`/`else if`/`else`/`with`/`range` (over maps,
//! lists and integers) with `break`/`continue`, variables (`$x := …`, `$x = …`, `$`),
//! field chains (`.a.b`, `$x.a`, `(…).a`), string/raw/char/number/bool/nil literals,
//! parenthesised pipelines, and the function set of [`super::template_funcs`]. The data
//! (`.`) is the map of the line's labels; missing keys are the zero value, as with
//! Loki's `missingkey=zero`. Not supported: `define`/`template`/`block` (Loki templates
//! are single, unnamed ones) and method calls on values.
//!
//! Values are dynamically typed like Go's `interface{}`: [`Value`]. Parse errors and
//! execution errors use Go's message formats (`template: line:1: function "x" not
//! defined`), which Loki surfaces in errors and `__error_details__`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use super::template_funcs;
use crate::go::strconv;

/// A template value (Go's `interface{}` as far as templates can observe it).
#[derive(Debug, Clone)]
pub enum Value {
    /// A nil interface; prints `<no value>`.
    Nil,
    /// `bool`.
    Bool(bool),
    /// Any integer (`int`, `int64`).
    Int(i64),
    /// `float64`.
    Float(f64),
    /// `string`.
    Str(Arc<str>),
    /// `time.Time`.
    Time(crate::go::time::Time),
    /// `map[string]interface{}` (from `fromJson`).
    Map(Arc<BTreeMap<String, Value>>),
    /// `[]interface{}` (from `fromJson`).
    List(Arc<Vec<Value>>),
    /// The data map of labels (`.` at the top level).
    Root,
}

impl Value {
    /// A string value.
    pub fn str(s: &str) -> Value {
        Value::Str(Arc::from(s))
    }

    /// Go's type name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::Time(_) => "time.Time",
            Value::Map(_) => "map[string]interface {}",
            Value::List(_) => "[]interface {}",
            Value::Root => "map[string]string",
        }
    }

    /// Go's `isTrue`: false, 0, "", nil and empty collections are false.
    pub fn truth(&self, data: &dyn Data) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Time(_) => true,
            Value::Map(m) => !m.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Root => data.len() > 0,
        }
    }
}

/// The label map a template reads (`.`).
pub trait Data {
    /// The value of label `name` (the error labels included).
    fn get(&self, name: &str) -> Option<&str>;
    /// All labels, sorted by name.
    fn sorted(&self) -> Vec<(String, String)>;
    /// Number of labels.
    fn len(&self) -> usize;
}

/// What a running template can see besides its data.
pub struct Env<'a> {
    /// The labels.
    pub data: &'a dyn Data,
    /// The current line (`__line__`).
    pub line: &'a [u8],
    /// The entry timestamp in Unix nanoseconds (`__timestamp__`).
    pub ts: i64,
}

#[derive(Debug, Clone)]
enum Arg {
    Dot,
    Field(Vec<String>),
    Var(String, Vec<String>),
    Ident(String),
    Chain(Box<Pipe>, Vec<String>),
    Pipe(Box<Pipe>),
    Str(Arc<str>),
    Num {
        int: Option<i64>,
        float: f64,
        is_float: bool,
        text: String,
    },
    Bool(bool),
    Nil,
}

#[derive(Debug, Clone)]
struct Cmd {
    args: Vec<Arg>,
    /// Source text and (line, column) of each argument, for error messages (Go reports
    /// errors at the node that failed: `at <.foo>`, `at <replace>`).
    at: Vec<At>,
}

/// Where a node is: its source text and (line, 0-based column).
#[derive(Debug, Clone)]
struct At {
    text: String,
    line: usize,
    col: usize,
}

#[derive(Debug, Clone)]
struct Pipe {
    decl: Vec<String>,
    assign: bool,
    cmds: Vec<Cmd>,
}

#[derive(Debug, Clone)]
enum Node {
    Text(Vec<u8>),
    Action(Pipe),
    If(Pipe, Vec<Node>, Option<Vec<Node>>),
    With(Pipe, Vec<Node>, Option<Vec<Node>>),
    Range(Pipe, Vec<Node>, Option<Vec<Node>>),
    Break,
    Continue,
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    name: String,
    nodes: Vec<Node>,
}

// ---------------------------------------------------------------------------------
// Lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Text(Vec<u8>),
    LeftDelim,
    RightDelim,
    Space,
    Ident(String),
    Keyword(&'static str),
    Field(String),
    Dot,
    Var(String),
    Str(String),
    RawStr(String),
    /// A character constant's value (a code point or byte) and its source text.
    Char(u32, String),
    Number(String),
    Bool(bool),
    Nil,
    Pipe,
    LParen,
    RParen,
    Declare,
    Assign,
    Comma,
    Eof,
}

struct Lexed {
    tok: Tok,
    /// Byte offset in the source.
    pos: usize,
}

const KEYWORDS: &[&str] = &[
    "block", "break", "continue", "define", "else", "end", "if", "range", "template", "with",
];

fn lex(src: &str) -> Result<Vec<Lexed>, (usize, String)> {
    let b = src.as_bytes();
    let mut out: Vec<Lexed> = Vec::new();
    let mut i = 0;
    let mut trim_next = false;
    loop {
        // Text up to the next "{{".
        let start = i;
        let next = find(b, i, b"{{");
        let end = next.unwrap_or(b.len());
        let mut text = &b[start..end];
        if trim_next {
            text = trim_left_ws(text);
            trim_next = false;
        }
        let Some(open) = next else {
            if !text.is_empty() {
                out.push(Lexed {
                    tok: Tok::Text(text.to_vec()),
                    pos: start,
                });
            }
            out.push(Lexed {
                tok: Tok::Eof,
                pos: b.len(),
            });
            return Ok(out);
        };
        // "{{- " trims the text before.
        let mut j = open + 2;
        let left_trim = b.get(j) == Some(&b'-') && b.get(j + 1).is_some_and(|c| is_space(*c));
        if left_trim {
            text = trim_right_ws(text);
            j += 2;
        }
        if !text.is_empty() {
            out.push(Lexed {
                tok: Tok::Text(text.to_vec()),
                pos: start,
            });
        }
        // Comments: "{{/*" … "*/}}", optionally with trim markers.
        if b[j..].starts_with(b"/*") {
            let Some(close) = find(b, j + 2, b"*/") else {
                return Err((open, "unclosed comment".into()));
            };
            let after = close + 2;
            if b[after..].starts_with(b"}}") {
                i = after + 2;
            } else if b.get(after).is_some_and(|c| is_space(*c))
                && b[after + 1..].starts_with(b"-}}")
            {
                i = after + 4;
                trim_next = true;
            } else {
                return Err((open, "comment ends before closing delimiter".into()));
            }
            continue;
        }
        out.push(Lexed {
            tok: Tok::LeftDelim,
            pos: open,
        });
        // Inside the action.
        let mut p = j;
        let mut paren = 0i32;
        loop {
            if p >= b.len() {
                return Err((open, "unclosed action".into()));
            }
            // " -}}" right trim, or "}}".
            if is_space(b[p]) {
                let s = p;
                while p < b.len() && is_space(b[p]) {
                    p += 1;
                }
                if b[p..].starts_with(b"-}}") {
                    out.push(Lexed {
                        tok: Tok::RightDelim,
                        pos: p,
                    });
                    i = p + 3;
                    trim_next = true;
                    break;
                }
                out.push(Lexed {
                    tok: Tok::Space,
                    pos: s,
                });
                continue;
            }
            if b[p..].starts_with(b"}}") {
                if paren > 0 {
                    return Err((p, "unclosed left paren".into()));
                }
                out.push(Lexed {
                    tok: Tok::RightDelim,
                    pos: p,
                });
                i = p + 2;
                break;
            }
            let c = b[p];
            let s = p;
            let tok = match c {
                b'|' => {
                    p += 1;
                    Tok::Pipe
                }
                b'(' => {
                    p += 1;
                    paren += 1;
                    Tok::LParen
                }
                b')' => {
                    p += 1;
                    paren -= 1;
                    if paren < 0 {
                        return Err((s, "unexpected right paren".into()));
                    }
                    Tok::RParen
                }
                b',' => {
                    p += 1;
                    Tok::Comma
                }
                b':' => {
                    if b.get(p + 1) != Some(&b'=') {
                        return Err((s, "expected :=".into()));
                    }
                    p += 2;
                    Tok::Declare
                }
                b'=' => {
                    p += 1;
                    Tok::Assign
                }
                b'"' => {
                    let mut q = p + 1;
                    loop {
                        match b.get(q) {
                            None | Some(b'\n') => {
                                return Err((s, "unterminated quoted string".into()))
                            }
                            Some(b'\\') => q += 2,
                            Some(b'"') => break,
                            _ => q += 1,
                        }
                    }
                    p = q + 1;
                    Tok::Str(strconv::unquote(&src[s..p]).map_err(|e| (s, e.to_string()))?)
                }
                b'`' => {
                    let Some(q) = find(b, p + 1, b"`") else {
                        return Err((s, "unterminated raw quoted string".into()));
                    };
                    p = q + 1;
                    Tok::RawStr(strconv::unquote(&src[s..p]).map_err(|e| (s, e.to_string()))?)
                }
                b'\'' => {
                    let mut q = p + 1;
                    loop {
                        match b.get(q) {
                            None | Some(b'\n') => {
                                return Err((s, "unterminated character constant".into()))
                            }
                            Some(b'\\') => q += 2,
                            Some(b'\'') => break,
                            _ => q += 1,
                        }
                    }
                    p = q + 1;
                    // Go's parser reads a character constant with `strconv.UnquoteChar`.
                    let lit = &src[s..p];
                    let (c, tail) =
                        strconv::unquote_char(&lit[1..], b'\'').map_err(|e| (s, e.to_string()))?;
                    if tail != "'" {
                        return Err((s, format!("malformed character constant: {lit}")));
                    }
                    Tok::Char(c.value, lit.to_string())
                }
                b'$' => {
                    let mut q = p + 1;
                    while q < b.len() && is_alnum(b[q]) {
                        q += 1;
                    }
                    p = q;
                    Tok::Var(src[s..q].to_string())
                }
                b'.' => {
                    if b.get(p + 1).is_some_and(|c| c.is_ascii_digit()) {
                        let q = scan_number(b, p);
                        p = q;
                        Tok::Number(src[s..q].to_string())
                    } else {
                        let mut q = p + 1;
                        while q < b.len() && is_alnum(b[q]) {
                            q += 1;
                        }
                        p = q;
                        if q == s + 1 {
                            Tok::Dot
                        } else {
                            Tok::Field(src[s + 1..q].to_string())
                        }
                    }
                }
                b'+' | b'-' | b'0'..=b'9' => {
                    let q = scan_number(b, p);
                    if q == p || (q == p + 1 && !c.is_ascii_digit()) {
                        return Err((s, format!("bad character {}", go_char(c))));
                    }
                    if q < b.len() && is_alnum(b[q]) {
                        return Err((s, format!("bad number syntax: {:?}", &src[s..=q])));
                    }
                    p = q;
                    Tok::Number(src[s..q].to_string())
                }
                c if is_alnum(c) => {
                    let mut q = p;
                    while q < b.len() && is_alnum(b[q]) {
                        q += 1;
                    }
                    p = q;
                    let w = &src[s..q];
                    match w {
                        "true" => Tok::Bool(true),
                        "false" => Tok::Bool(false),
                        "nil" => Tok::Nil,
                        _ => match KEYWORDS.iter().find(|k| **k == w) {
                            Some(k) => Tok::Keyword(k),
                            None => Tok::Ident(w.to_string()),
                        },
                    }
                }
                _ => {
                    let ch = src[s..].chars().next().unwrap_or('?');
                    return Err((
                        s,
                        format!("unrecognized character in action: {}", go_rune(ch)),
                    ));
                }
            };
            out.push(Lexed { tok, pos: s });
        }
    }
}

/// Go-quoted rune for error messages.
fn go_rune(c: char) -> String {
    format!("{c:?}")
}

fn go_char(c: u8) -> String {
    format!("{:?}", c as char)
}

fn scan_number(b: &[u8], mut p: usize) -> usize {
    if matches!(b.get(p), Some(b'+') | Some(b'-')) {
        p += 1;
    }
    let hex = b.get(p) == Some(&b'0') && matches!(b.get(p + 1), Some(b'x') | Some(b'X'));
    if hex {
        p += 2;
    }
    let digit = |c: u8| {
        if hex {
            c.is_ascii_hexdigit() || c == b'_'
        } else {
            c.is_ascii_digit() || c == b'_'
        }
    };
    while p < b.len() && digit(b[p]) {
        p += 1;
    }
    if b.get(p) == Some(&b'.') {
        p += 1;
        while p < b.len() && digit(b[p]) {
            p += 1;
        }
    }
    let exp = if hex { [b'p', b'P'] } else { [b'e', b'E'] };
    if b.get(p).is_some_and(|c| exp.contains(c)) {
        p += 1;
        if matches!(b.get(p), Some(b'+') | Some(b'-')) {
            p += 1;
        }
        while p < b.len() && b[p].is_ascii_digit() {
            p += 1;
        }
    }
    if b.get(p) == Some(&b'i') {
        p += 1;
    }
    p
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_alnum(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80
}

fn find(b: &[u8], from: usize, pat: &[u8]) -> Option<usize> {
    memchr::memmem::find(&b[from.min(b.len())..], pat).map(|p| p + from)
}

fn trim_left_ws(t: &[u8]) -> &[u8] {
    let n = t.iter().take_while(|c| is_space(**c)).count();
    &t[n..]
}

fn trim_right_ws(t: &[u8]) -> &[u8] {
    let n = t.iter().rev().take_while(|c| is_space(**c)).count();
    &t[..t.len() - n]
}

// ---------------------------------------------------------------------------------
// Parser

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Lexed>,
    i: usize,
    vars: Vec<String>,
    range_depth: usize,
}

type PResult<T> = Result<T, (usize, String)>;

impl Parser<'_> {
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
                if !template_funcs::exists(&n) {
                    return Err((at, format!("function \"{n}\" not defined")));
                }
                Arg::Ident(n)
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

impl Template {
    /// Parses `src`; `name` is Go's template name in messages (`line`, `label`).
    pub fn parse(name: &str, src: &str) -> Result<Template, String> {
        let err = |(pos, msg): (usize, String)| {
            let (line, _) = line_col(src, pos);
            format!("template: {name}:{line}: {msg}")
        };
        let toks = lex(src).map_err(err)?;
        let mut p = Parser {
            src,
            toks,
            i: 0,
            vars: vec!["$".into()],
            range_depth: 0,
        };
        let (nodes, _) = p.list(&[]).map_err(err)?;
        Ok(Template {
            name: name.to_string(),
            nodes,
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

    /// Runs the template, appending to `out`. On error `out` holds partial output.
    pub fn execute(&self, env: &Env<'_>, out: &mut Vec<u8>) -> Result<(), String> {
        let mut st = State {
            env,
            vars: vec![("$".into(), Value::Root)],
            name: &self.name,
        };
        match st.walk(&Value::Root, &self.nodes, out) {
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

// ---------------------------------------------------------------------------------
// Execution

enum Flow {
    Normal,
    Break,
    Continue,
}

struct State<'a, 'e> {
    env: &'a Env<'e>,
    vars: Vec<(String, Value)>,
    name: &'a str,
}

/// Most iterations a `range` over an integer may do: keeps a hostile template from
/// spinning forever on one log line.
const MAX_RANGE: i64 = 100_000;

impl State<'_, '_> {
    fn walk(&mut self, dot: &Value, nodes: &[Node], out: &mut Vec<u8>) -> Result<Flow, String> {
        for n in nodes {
            match n {
                Node::Text(t) => out.extend_from_slice(t),
                Node::Action(p) => {
                    // `{{.label}}` on the label map: copy the value without building a
                    // Value (the common case, and allocation-free).
                    if let (Value::Root, [c], true) = (dot, p.cmds.as_slice(), p.decl.is_empty()) {
                        if let [Arg::Field(f)] = c.args.as_slice() {
                            if f.len() == 1 {
                                if let Some(v) = self.env.data.get(&f[0]) {
                                    out.extend_from_slice(v.as_bytes());
                                }
                                continue;
                            }
                        }
                    }
                    let v = self.pipe(dot, p)?;
                    if p.decl.is_empty() {
                        print_value(&v, self.env.data, out);
                    }
                }
                Node::If(p, a, b) | Node::With(p, a, b) => {
                    let mark = self.vars.len();
                    let v = self.pipe(dot, p)?;
                    let truth = v.truth(self.env.data);
                    let flow = if truth {
                        let d = if matches!(n, Node::With(..)) { &v } else { dot };
                        self.walk(d, a, out)?
                    } else if let Some(b) = b {
                        self.walk(dot, b, out)?
                    } else {
                        Flow::Normal
                    };
                    self.vars.truncate(mark);
                    if !matches!(flow, Flow::Normal) {
                        return Ok(flow);
                    }
                }
                Node::Range(p, a, b) => {
                    let mark = self.vars.len();
                    let v = self.pipe_no_decl(dot, p)?;
                    let items: Vec<(Value, Value)> = match &v {
                        Value::Map(m) => {
                            m.iter().map(|(k, v)| (Value::str(k), v.clone())).collect()
                        }
                        Value::List(l) => l
                            .iter()
                            .enumerate()
                            .map(|(i, v)| (Value::Int(i as i64), v.clone()))
                            .collect(),
                        Value::Root => self
                            .env
                            .data
                            .sorted()
                            .into_iter()
                            .map(|(k, v)| (Value::str(&k), Value::str(&v)))
                            .collect(),
                        Value::Int(n) => {
                            if *n > MAX_RANGE {
                                return Err(self
                                    .exec_err(&p.cmds[0].at[0], "range over too many iterations"));
                            }
                            (0..*n).map(|i| (Value::Int(i), Value::Int(i))).collect()
                        }
                        Value::Nil => Vec::new(),
                        other => {
                            return Err(self.exec_err(
                                &p.cmds[0].at[0],
                                &format!(
                                    "range can't iterate over {}",
                                    display(other, self.env.data)
                                ),
                            ))
                        }
                    };
                    if items.is_empty() {
                        if let Some(b) = b {
                            self.walk(dot, b, out)?;
                        }
                    }
                    for (k, v) in items {
                        match p.decl.len() {
                            1 => self.set_var(&p.decl[0], v.clone(), p.assign, mark),
                            2 => {
                                self.set_var(&p.decl[0], k, p.assign, mark);
                                self.set_var(&p.decl[1], v.clone(), p.assign, mark);
                            }
                            _ => {}
                        }
                        let f = self.walk(&v, a, out)?;
                        self.vars
                            .truncate(mark + if p.assign { 0 } else { p.decl.len() });
                        if matches!(f, Flow::Break) {
                            break;
                        }
                    }
                    self.vars.truncate(mark);
                }
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Normal)
    }

    fn set_var(&mut self, name: &str, v: Value, assign: bool, mark: usize) {
        if assign {
            if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                slot.1 = v;
            }
        } else if let Some(slot) = self.vars[mark..].iter_mut().find(|(n, _)| n == name) {
            slot.1 = v;
        } else {
            self.vars.push((name.to_string(), v));
        }
    }

    fn exec_err(&self, at: &At, msg: &str) -> String {
        format!(
            "template: {}:{}:{}: executing \"{}\" at <{}>: {}",
            self.name, at.line, at.col, self.name, at.text, msg
        )
    }

    fn pipe_no_decl(&mut self, dot: &Value, p: &Pipe) -> Result<Value, String> {
        let mut v: Option<Value> = None;
        for c in &p.cmds {
            v = Some(self.command(dot, c, v)?);
        }
        Ok(v.unwrap_or(Value::Nil))
    }

    fn pipe(&mut self, dot: &Value, p: &Pipe) -> Result<Value, String> {
        let v = self.pipe_no_decl(dot, p)?;
        if let Some(d) = p.decl.first() {
            if p.assign {
                if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == d) {
                    slot.1 = v.clone();
                }
            } else {
                self.vars.push((d.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn command(&mut self, dot: &Value, c: &Cmd, fin: Option<Value>) -> Result<Value, String> {
        let first = &c.args[0];
        let at0 = &c.at[0];
        match first {
            Arg::Ident(name) if name == "and" || name == "or" => {
                // Go evaluates and/or lazily and returns the deciding argument.
                let want = name == "or";
                let n = c.args.len() - 1 + usize::from(fin.is_some());
                if n == 0 {
                    return Err(self.exec_err(
                        at0,
                        &format!("wrong number of args for {name}: want at least 1 got 0"),
                    ));
                }
                let mut last = Value::Nil;
                for (a, at) in c.args[1..].iter().zip(&c.at[1..]) {
                    last = self.arg(dot, at, a)?;
                    if last.truth(self.env.data) == want {
                        return Ok(last);
                    }
                }
                if let Some(f) = fin {
                    last = f;
                }
                Ok(last)
            }
            Arg::Ident(name) => {
                let mut args = Vec::with_capacity(c.args.len());
                for (a, at) in c.args[1..].iter().zip(&c.at[1..]) {
                    args.push(self.arg(dot, at, a)?);
                }
                if let Some(f) = fin {
                    args.push(f);
                }
                self.call(at0, name, args)
            }
            _ => {
                if c.args.len() > 1 || fin.is_some() {
                    let msg = match first {
                        Arg::Field(f) | Arg::Var(_, f) | Arg::Chain(_, f) if !f.is_empty() => {
                            format!("{} is not a method but has arguments", f[f.len() - 1])
                        }
                        _ => format!("can't give argument to non-function {}", first.text()),
                    };
                    return Err(self.exec_err(at0, &msg));
                }
                if matches!(first, Arg::Nil) {
                    return Err(self.exec_err(at0, "nil is not a command"));
                }
                self.arg(dot, at0, first)
            }
        }
    }

    fn call(&mut self, at: &At, name: &str, args: Vec<Value>) -> Result<Value, String> {
        let f = template_funcs::lookup(name)
            .ok_or_else(|| self.exec_err(at, &format!("\"{name}\" is not a defined function")))?;
        f(self.env, args).map_err(|m| self.exec_err(at, &m))
    }

    fn arg(&mut self, dot: &Value, at: &At, a: &Arg) -> Result<Value, String> {
        Ok(match a {
            Arg::Dot => dot.clone(),
            Arg::Field(f) => self.field_chain(at, dot.clone(), f)?,
            Arg::Var(v, f) => {
                let base = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == v)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| self.exec_err(at, &format!("undefined variable: {v}")))?;
                self.field_chain(at, base, f)?
            }
            Arg::Ident(name) => self.call(at, name, Vec::new())?,
            Arg::Pipe(p) => self.pipe(dot, p)?,
            Arg::Chain(p, f) => {
                let v = self.pipe(dot, p)?;
                self.field_chain(at, v, f)?
            }
            Arg::Str(s) => Value::Str(s.clone()),
            Arg::Num {
                int,
                float,
                is_float,
                ..
            } => match (int, is_float) {
                (Some(i), false) => Value::Int(*i),
                _ => Value::Float(*float),
            },
            Arg::Bool(b) => Value::Bool(*b),
            Arg::Nil => Value::Nil,
        })
    }

    fn field_chain(&self, at: &At, mut v: Value, fields: &[String]) -> Result<Value, String> {
        for f in fields {
            v = match &v {
                Value::Root => match self.env.data.get(f) {
                    Some(s) => Value::str(s),
                    // missingkey=zero on map[string]string: the zero string.
                    None => Value::str(""),
                },
                Value::Map(m) => m.get(f).cloned().unwrap_or(Value::Nil),
                Value::Nil => {
                    return Err(
                        self.exec_err(at, &format!("nil pointer evaluating interface {{}}.{f}"))
                    )
                }
                other => {
                    return Err(self.exec_err(
                        at,
                        &format!("can't evaluate field {f} in type {}", other.type_name()),
                    ))
                }
            };
        }
        Ok(v)
    }
}

impl Arg {
    fn text(&self) -> String {
        match self {
            Arg::Dot => ".".into(),
            Arg::Field(f) => format!(".{}", f.join(".")),
            Arg::Var(v, f) if f.is_empty() => v.clone(),
            Arg::Var(v, f) => format!("{v}.{}", f.join(".")),
            Arg::Ident(n) => n.clone(),
            Arg::Str(s) => strconv::quote(s),
            Arg::Num { text, .. } => text.clone(),
            Arg::Bool(b) => b.to_string(),
            Arg::Nil => "nil".into(),
            Arg::Pipe(_) | Arg::Chain(..) => "(…)".into(),
        }
    }
}

/// How an action prints a value (Go's `fmt.Fprint` as `text/template` calls it).
pub fn print_value(v: &Value, data: &dyn Data, out: &mut Vec<u8>) {
    match v {
        Value::Str(s) => out.extend_from_slice(s.as_bytes()),
        Value::Nil => out.extend_from_slice(b"<no value>"),
        _ => out.extend_from_slice(display(v, data).as_bytes()),
    }
}

/// Go's `%v` of a value.
pub fn display(v: &Value, data: &dyn Data) -> String {
    match v {
        Value::Nil => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => strconv::format_float(*f, 'g', -1),
        Value::Str(s) => s.to_string(),
        Value::Time(t) => t.to_go_string(),
        Value::Map(m) => {
            let mut s = String::from("map[");
            for (i, (k, v)) in m.iter().enumerate() {
                if i > 0 {
                    s.push(' ');
                }
                let _ = write!(s, "{k}:{}", display(v, data));
            }
            s.push(']');
            s
        }
        Value::List(l) => {
            let parts: Vec<String> = l.iter().map(|v| display(v, data)).collect();
            format!("[{}]", parts.join(" "))
        }
        Value::Root => {
            let parts: Vec<String> = data
                .sorted()
                .into_iter()
                .map(|(k, v)| format!("{k}:{v}"))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) struct MapData(pub Vec<(String, String)>);

    impl Data for MapData {
        fn get(&self, name: &str) -> Option<&str> {
            self.0
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        }
        fn sorted(&self) -> Vec<(String, String)> {
            let mut v = self.0.clone();
            v.sort();
            v
        }
        fn len(&self) -> usize {
            self.0.len()
        }
    }

    fn run(src: &str, labels: &[(&str, &str)]) -> Result<String, String> {
        let t = Template::parse("line", src)?;
        let data = MapData(
            labels
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        );
        let env = Env {
            data: &data,
            line: b"the line",
            ts: 1_700_000_000_123_000_000,
        };
        let mut out = Vec::new();
        t.execute(&env, &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn basics() {
        assert_eq!(
            run("L={{.level}}", &[("level", "error")]).unwrap(),
            "L=error"
        );
        assert_eq!(run("V={{.missing}}", &[]).unwrap(), "V=");
        assert_eq!(
            run("{{.level | upper}}", &[("level", "error")]).unwrap(),
            "ERROR"
        );
        assert_eq!(
            run("{{ .a | ToUpper | printf \"%s!\" }}", &[("a", "x")]).unwrap(),
            "X!"
        );
        assert_eq!(run("a {{- \"b\" -}} \n c", &[]).unwrap(), "abc");
        assert_eq!(run("a {{/* comment */}} b", &[]).unwrap(), "a  b");
        assert_eq!(run("a {{- /* comment */ -}} b", &[]).unwrap(), "ab");
        assert_eq!(run("{{ __line__ }}", &[]).unwrap(), "the line");
        assert_eq!(
            run("{{ 3 }} {{ 1.5 }} {{ true }} {{ print nil }}", &[]).unwrap(),
            "3 1.5 true <nil>"
        );
        assert_eq!(run("{{ `raw\\n` }}", &[]).unwrap(), "raw\\n");
    }

    #[test]
    fn control_flow() {
        let t = "{{ if eq .l \"error\" }}E{{ else if eq .l \"warn\" }}W{{ else }}O{{ end }}";
        assert_eq!(run(t, &[("l", "error")]).unwrap(), "E");
        assert_eq!(run(t, &[("l", "warn")]).unwrap(), "W");
        assert_eq!(run(t, &[("l", "x")]).unwrap(), "O");
        assert_eq!(
            run("{{ with .a }}[{{.}}]{{ else }}none{{ end }}", &[("a", "v")]).unwrap(),
            "[v]"
        );
        assert_eq!(
            run("{{ with .a }}[{{.}}]{{ else }}none{{ end }}", &[]).unwrap(),
            "none"
        );
        assert_eq!(
            run(
                "{{ $x := .a }}{{ $x }}{{ $x = \"b\" }}{{ $x }}",
                &[("a", "A")]
            )
            .unwrap(),
            "Ab"
        );
        assert_eq!(
            run(
                "{{ range $k, $v := fromJson .j }}{{$k}}={{$v}};{{ end }}",
                &[("j", r#"{"b":2,"a":"x"}"#)]
            )
            .unwrap(),
            "a=x;b=2;"
        );
        assert_eq!(
            run(
                "{{ range $i := 5 }}{{ if eq $i 3 }}{{ break }}{{ end }}{{$i}}{{ end }}",
                &[]
            )
            .unwrap(),
            "012"
        );
        assert_eq!(
            run("{{ if and .a .b }}y{{ else }}n{{ end }}", &[("a", "1")]).unwrap(),
            "n"
        );
        assert_eq!(run("{{ or .a .b \"d\" }}", &[("b", "B")]).unwrap(), "B");
        assert_eq!(
            run("{{ (fromJson .j).a.b }}", &[("j", r#"{"a":{"b":"deep"}}"#)]).unwrap(),
            "deep"
        );
        assert_eq!(run("{{ index . \"a\" }}", &[("a", "A")]).unwrap(), "A");
        assert_eq!(run("{{ len .a }}", &[("a", "héllo")]).unwrap(), "6");
    }

    #[test]
    fn errors() {
        assert_eq!(
            Template::parse("line", "{{ nosuchfunc }}").unwrap_err(),
            "template: line:1: function \"nosuchfunc\" not defined"
        );
        assert_eq!(
            Template::parse("label", "{{").unwrap_err(),
            "template: label:1: unclosed action"
        );
        assert!(Template::parse("line", "{{ if .a }}")
            .unwrap_err()
            .contains("unexpected EOF"));
        assert!(Template::parse("line", "{{ end }}")
            .unwrap_err()
            .contains("unexpected {{end}}"));
        assert!(Template::parse("line", "{{ $x }}")
            .unwrap_err()
            .contains("undefined variable"));
        let e = run("{{ .a.b }}", &[("a", "x")]).unwrap_err();
        assert_eq!(e, "template: line:1:3: executing \"line\" at <.a.b>: can't evaluate field b in type string");
        assert!(run("{{ div 1 0 }}", &[])
            .unwrap_err()
            .contains("error calling div"));
    }

    #[test]
    fn simple_key_and_fields() {
        assert_eq!(
            Template::parse("line", "{{.message}}")
                .unwrap()
                .simple_key(),
            Some("message")
        );
        assert_eq!(
            Template::parse("line", "{{.a}}x").unwrap().simple_key(),
            None
        );
        assert_eq!(
            Template::parse("line", "{{.a}} {{ if .b }}{{ .c | upper }}{{end}}")
                .unwrap()
                .fields(),
            Some(vec!["a".into(), "b".into(), "c".into()])
        );
        assert_eq!(Template::parse("line", "{{ . }}").unwrap().fields(), None);
    }
}
