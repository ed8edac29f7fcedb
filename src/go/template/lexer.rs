//! The template lexer: `text/template/parse`'s `lex.go` (Go 1.22) reduced to a
//! function that turns the source into tokens in one pass, with Go's error texts.
//!
//! Delimiters are always `{{` and `}}`; `{{- ` and ` -}}` trim the white space next to
//! them and `{{/* … */}}` is a comment, as in Go. String, raw-string and character
//! literals are unquoted here with [`crate::go::strconv`], as Go's parser does
//! (`Unquote`, `UnquoteChar`). Known difference: an unexpected character is shown
//! as Rust quotes it (`'@'`) where Go prints `U+0040 '@'`.

use crate::go::strconv;

/// A token.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
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

/// A token and where it starts.
pub(super) struct Lexed {
    pub(super) tok: Tok,
    /// Byte offset in the source.
    pub(super) pos: usize,
}

const KEYWORDS: &[&str] = &[
    "block", "break", "continue", "define", "else", "end", "if", "range", "template", "with",
];

/// The tokens of `src`, ending with [`Tok::Eof`]; an error is its byte offset and
/// Go's message.
pub(super) fn lex(src: &str) -> Result<Vec<Lexed>, (usize, String)> {
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
                    p = quoted_end(b, s, b'"', "quoted string")?;
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
                    p = quoted_end(b, s, b'\'', "character constant")?;
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

/// The end (just past the closing quote) of the `"…"` or `'…'` literal at `s`, as Go's
/// `lexQuote`/`lexChar` find it: a backslash escapes the next byte, a newline or the
/// end of the input means `unterminated {what}`.
fn quoted_end(b: &[u8], s: usize, quote: u8, what: &str) -> Result<usize, (usize, String)> {
    let mut q = s + 1;
    loop {
        match b.get(q) {
            None | Some(b'\n') => return Err((s, format!("unterminated {what}"))),
            Some(b'\\') => q += 2,
            Some(&c) if c == quote => return Ok(q + 1),
            _ => q += 1,
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
