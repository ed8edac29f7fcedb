//! The LogQL lexer.
//!
//! Loki lexes with a copy of Go's `text/scanner` plus LogQL rules on top (`lex.go`).
//! Error positions are part of Loki's contract (`parse error at line 1, col 11`), and they
//! fall out of that scanner's quirks: positions are token starts counted in characters,
//! a token finished by reading ahead (`|=`, `5m`, `[5m]`, `--strict`) reports line 0, an
//! error inside a token reports the token's start. So the [`Scanner`] below reproduces the
//! behaviour of `text/scanner` (one character of lookahead, the same position
//! bookkeeping, the same error texts), and [`Lexer`] adds Loki's token rules.

use crate::go::{duration, humanize, strconv};

/// End of input.
const EOF: i32 = -1;
/// "No character read yet" (before the first `peek`).
const NONE: i32 = -2;

/// What the low-level scanner recognised.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Scanned {
    Eof,
    Ident,
    Int,
    Float,
    Char,
    Str,
    RawStr,
    Other(i32),
}

/// The first error seen: line, column, byte offset, message.
type FirstErr = Option<(usize, usize, usize, String)>;

/// A character scanner with `text/scanner` semantics. Cheap to clone, which is how the
/// lexer looks ahead (as Loki does by copying its scanner).
#[derive(Clone)]
struct Scanner<'a> {
    src: &'a [u8],
    /// Index just after the last character read.
    src_pos: usize,
    /// One character of lookahead, already read.
    ch: i32,
    line: usize,
    column: usize,
    last_line_len: usize,
    last_char_len: usize,
    /// Start of the most recent token: line (0 after `next_char`), column, byte offset.
    pos_line: usize,
    pos_col: usize,
    pos_offset: usize,
    tok_start: usize,
    tok_end: usize,
    /// The lookahead character when the current token's scan began (see `scan_number`).
    ch_at_scan_start: i32,
    err: FirstErr,
    /// Lookahead copies report errors at the position of the real scanner's token.
    err_at: Option<(usize, usize, usize)>,
}

fn is_space(c: i32) -> bool {
    c >= 0 && char::from_u32(c as u32).is_some_and(char::is_whitespace)
}

fn is_decimal(c: i32) -> bool {
    (b'0' as i32..=b'9' as i32).contains(&c)
}

fn lower(c: i32) -> i32 {
    0x20 | c
}

fn is_hex(c: i32) -> bool {
    is_decimal(c) || (b'a' as i32..=b'f' as i32).contains(&lower(c))
}

fn as_char(c: i32) -> Option<char> {
    if c < 0 {
        None
    } else {
        char::from_u32(c as u32)
    }
}

fn is_letter(c: i32) -> bool {
    as_char(c).is_some_and(|c| c.is_alphabetic())
}

fn is_ident_rune(c: i32, i: usize) -> bool {
    c == '_' as i32
        || is_letter(c)
        || (i > 0
            && as_char(c).is_some_and(|c| c.is_ascii_digit() || (!c.is_ascii() && c.is_numeric())))
}

fn digit_val(c: i32) -> i32 {
    if is_decimal(c) {
        c - '0' as i32
    } else if (b'a' as i32..=b'f' as i32).contains(&lower(c)) {
        lower(c) - 'a' as i32 + 10
    } else {
        16
    }
}

fn litname(prefix: u8) -> &'static str {
    match prefix {
        b'x' => "hexadecimal literal",
        b'o' | b'0' => "octal literal",
        b'b' => "binary literal",
        _ => "decimal literal",
    }
}

/// `%q` of a scanned rune, as `text/scanner` formats it; EOF and invalid code points
/// print as U+FFFD.
fn quote_rune(c: i32) -> String {
    strconv::quote_rune(as_char(c).unwrap_or('\u{FFFD}'))
}

/// Index of the first misplaced `_` in a number literal (Go's `invalidSep`), if any.
fn invalid_sep(x: &[u8]) -> Option<usize> {
    let mut x1 = b' ';
    let mut d = b'.';
    let mut i = 0;
    if x.len() >= 2 && x[0] == b'0' {
        x1 = x[1] | 0x20;
        if x1 == b'x' || x1 == b'o' || x1 == b'b' {
            d = b'0';
            i = 2;
        }
    }
    while i < x.len() {
        let p = d;
        d = x[i];
        if d == b'_' {
            if p != b'0' {
                return Some(i);
            }
        } else if d.is_ascii_digit() || (x1 == b'x' && is_hex(d as i32)) {
            d = b'0';
        } else {
            if p == b'_' {
                return Some(i - 1);
            }
            d = b'.';
        }
        i += 1;
    }
    if d == b'_' {
        return Some(x.len() - 1);
    }
    None
}

impl<'a> Scanner<'a> {
    fn new(src: &'a [u8]) -> Self {
        Scanner {
            src,
            src_pos: 0,
            ch: NONE,
            line: 1,
            column: 0,
            last_line_len: 0,
            last_char_len: 0,
            pos_line: 0,
            pos_col: 0,
            pos_offset: 0,
            tok_start: 0,
            tok_end: 0,
            ch_at_scan_start: NONE,
            err: None,
            err_at: None,
        }
    }

    /// A copy for looking ahead; its errors are attributed to the current token.
    fn lookahead(&self) -> Self {
        let mut s = self.clone();
        s.err_at = Some(
            self.err_at
                .unwrap_or((self.pos_line, self.pos_col, self.pos_offset)),
        );
        s.err = None;
        s
    }

    fn merge_err(&mut self, other: &Scanner<'_>) {
        if self.err.is_none() {
            self.err.clone_from(&other.err);
        }
    }

    fn error(&mut self, msg: impl Into<String>) {
        if self.err.is_none() {
            let (l, c, o) = self
                .err_at
                .unwrap_or((self.pos_line, self.pos_col, self.pos_offset));
            self.err = Some((l, c, o, msg.into()));
        }
    }

    /// Reads one character (Go's `next`).
    fn read(&mut self) -> i32 {
        if self.src_pos >= self.src.len() {
            if self.last_char_len > 0 {
                self.column += 1;
            }
            self.last_char_len = 0;
            return EOF;
        }
        let b0 = self.src[self.src_pos];
        let (ch, width) = if b0 < 0x80 {
            (b0 as i32, 1)
        } else {
            let want = match b0 {
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                0xF0..=0xF7 => 4,
                _ => 0,
            };
            let end = self.src_pos + want;
            match (want > 0 && end <= self.src.len())
                .then(|| std::str::from_utf8(&self.src[self.src_pos..end]).ok())
                .flatten()
            {
                Some(s) => (s.chars().next().map_or(0xFFFD, |c| c as i32), want),
                None => {
                    self.src_pos += 1;
                    self.last_char_len = 1;
                    self.column += 1;
                    self.error("invalid UTF-8 encoding");
                    return 0xFFFD;
                }
            }
        };
        self.src_pos += width;
        self.last_char_len = width;
        self.column += 1;
        if ch == 0 {
            self.error("invalid character NUL");
        } else if ch == '\n' as i32 {
            self.line += 1;
            self.last_line_len = self.column;
            self.column = 0;
        }
        ch
    }

    /// The next character without consuming it (Go's `Peek`).
    fn peek(&mut self) -> i32 {
        if self.ch == NONE {
            self.ch = self.read();
            if self.ch == 0xFEFF {
                self.ch = self.read();
            }
        }
        self.ch
    }

    /// Consumes and returns the next character (Go's `Next`); invalidates the token line.
    fn next_char(&mut self) -> i32 {
        self.pos_line = 0;
        let ch = self.peek();
        if ch != EOF {
            self.ch = self.read();
        }
        ch
    }

    fn text(&self) -> &'a [u8] {
        &self.src[self.tok_start..self.tok_end.max(self.tok_start)]
    }

    /// Byte offset of the lookahead character, i.e. the end of the last token.
    fn offset(&self) -> usize {
        self.src_pos - self.last_char_len
    }

    fn scan(&mut self) -> Scanned {
        let mut ch = self.peek();
        self.ch_at_scan_start = ch;
        self.pos_line = 0;
        loop {
            while matches!(ch, 9 | 10 | 13 | 32) {
                ch = self.read();
            }
            self.tok_start = self.offset();
            if self.column > 0 {
                self.pos_line = self.line;
                self.pos_col = self.column;
            } else {
                self.pos_line = self.line - 1;
                self.pos_col = self.last_line_len;
            }
            self.pos_offset = self.tok_start;
            let tok;
            if is_ident_rune(ch, 0) {
                tok = Scanned::Ident;
                ch = self.read();
                let mut i = 1;
                while is_ident_rune(ch, i) {
                    ch = self.read();
                    i += 1;
                }
            } else if is_decimal(ch) {
                (tok, ch) = self.scan_number(ch, false);
            } else {
                match ch {
                    EOF => tok = Scanned::Eof,
                    0x22 => {
                        self.scan_string('"' as i32);
                        tok = Scanned::Str;
                        ch = self.read();
                    }
                    0x27 => {
                        if self.scan_string('\'' as i32) != 1 {
                            self.error("invalid char literal");
                        }
                        tok = Scanned::Char;
                        ch = self.read();
                    }
                    0x2E => {
                        ch = self.read();
                        if is_decimal(ch) {
                            (tok, ch) = self.scan_number(ch, true);
                        } else {
                            tok = Scanned::Other('.' as i32);
                        }
                    }
                    0x2F => {
                        ch = self.read();
                        if ch == '/' as i32 || ch == '*' as i32 {
                            ch = self.scan_comment(ch);
                            continue;
                        }
                        tok = Scanned::Other('/' as i32);
                    }
                    0x60 => {
                        ch = self.read();
                        while ch != '`' as i32 {
                            if ch < 0 {
                                self.error("literal not terminated");
                                break;
                            }
                            ch = self.read();
                        }
                        tok = Scanned::RawStr;
                        ch = self.read();
                    }
                    c => {
                        ch = self.read();
                        tok = Scanned::Other(c);
                    }
                }
            }
            self.tok_end = self.offset();
            self.ch = ch;
            return tok;
        }
    }

    fn scan_comment(&mut self, ch: i32) -> i32 {
        let mut ch = ch;
        if ch == '/' as i32 {
            ch = self.read();
            while ch != '\n' as i32 && ch >= 0 {
                ch = self.read();
            }
            return ch;
        }
        ch = self.read();
        loop {
            if ch < 0 {
                self.error("comment not terminated");
                break;
            }
            let ch0 = ch;
            ch = self.read();
            if ch0 == '*' as i32 && ch == '/' as i32 {
                ch = self.read();
                break;
            }
        }
        ch
    }

    fn digits(&mut self, mut ch: i32, base: i32, invalid: &mut i32) -> (i32, u8) {
        let mut digsep = 0;
        if base <= 10 {
            let max = '0' as i32 + base;
            while is_decimal(ch) || ch == '_' as i32 {
                let mut ds = 1;
                if ch == '_' as i32 {
                    ds = 2;
                } else if ch >= max && *invalid == 0 {
                    *invalid = ch;
                }
                digsep |= ds;
                ch = self.read();
            }
        } else {
            while is_hex(ch) || ch == '_' as i32 {
                digsep |= if ch == '_' as i32 { 2 } else { 1 };
                ch = self.read();
            }
        }
        (ch, digsep)
    }

    fn scan_number(&mut self, mut ch: i32, mut seen_dot: bool) -> (Scanned, i32) {
        let mut base = 10;
        let mut prefix = 0u8;
        let mut digsep = 0u8;
        let mut invalid = 0i32;
        let mut tok = Scanned::Int;
        if !seen_dot {
            if ch == '0' as i32 {
                ch = self.read();
                match lower(ch) {
                    0x78 => {
                        ch = self.read();
                        (base, prefix) = (16, b'x');
                    }
                    0x6F => {
                        ch = self.read();
                        (base, prefix) = (8, b'o');
                    }
                    0x62 => {
                        // Go's scanner asks `Peek()` here, which still returns the
                        // character that followed the previous token: `0b…` is a binary
                        // literal unless whitespace preceded it (so `< 0B` is a byte size).
                        if !is_space(self.ch_at_scan_start) {
                            ch = self.read();
                            (base, prefix) = (2, b'b');
                        }
                    }
                    _ => {
                        (base, prefix) = (8, b'0');
                        digsep = 1;
                    }
                }
            }
            let (c, ds) = self.digits(ch, base, &mut invalid);
            ch = c;
            digsep |= ds;
            if ch == '.' as i32 {
                ch = self.read();
                seen_dot = true;
            }
        }
        if seen_dot {
            tok = Scanned::Float;
            if prefix == b'o' || prefix == b'b' {
                self.error(format!("invalid radix point in {}", litname(prefix)));
            }
            let (c, ds) = self.digits(ch, base, &mut invalid);
            ch = c;
            digsep |= ds;
        }
        if digsep & 1 == 0 {
            self.error(format!("{} has no digits", litname(prefix)));
        }
        let e = lower(ch);
        if e == 'e' as i32 || e == 'p' as i32 {
            if e == 'e' as i32 && prefix != 0 && prefix != b'0' {
                self.error(format!(
                    "{} exponent requires decimal mantissa",
                    quote_rune(ch)
                ));
            } else if e == 'p' as i32 && prefix != b'x' {
                self.error(format!(
                    "{} exponent requires hexadecimal mantissa",
                    quote_rune(ch)
                ));
            }
            ch = self.read();
            tok = Scanned::Float;
            if ch == '+' as i32 || ch == '-' as i32 {
                ch = self.read();
            }
            let mut unused = 0;
            let (c, ds) = self.digits(ch, 10, &mut unused);
            ch = c;
            digsep |= ds;
            if ds & 1 == 0 {
                self.error("exponent has no digits");
            }
        } else if prefix == b'x' && tok == Scanned::Float {
            self.error("hexadecimal mantissa requires a 'p' exponent");
        }
        if tok == Scanned::Int && invalid != 0 {
            self.error(format!(
                "invalid digit {} in {}",
                quote_rune(invalid),
                litname(prefix)
            ));
        }
        if digsep & 2 != 0 {
            self.tok_end = self.offset();
            if invalid_sep(self.text()).is_some() {
                self.error("'_' must separate successive digits");
            }
        }
        (tok, ch)
    }

    fn scan_string(&mut self, quote: i32) -> usize {
        let mut ch = self.read();
        let mut n = 0;
        while ch != quote {
            if ch == '\n' as i32 || ch < 0 {
                self.error("literal not terminated");
                return n;
            }
            if ch == '\\' as i32 {
                ch = self.scan_escape(quote);
            } else {
                ch = self.read();
            }
            n += 1;
        }
        n
    }

    fn scan_escape(&mut self, quote: i32) -> i32 {
        let ch = self.read();
        match as_char(ch) {
            Some('a' | 'b' | 'f' | 'n' | 'r' | 't' | 'v' | '\\') => self.read(),
            _ if ch == quote => self.read(),
            Some('0'..='7') => self.scan_digits(ch, 8, 3),
            Some('x') => {
                let c = self.read();
                self.scan_digits(c, 16, 2)
            }
            Some('u') => {
                let c = self.read();
                self.scan_digits(c, 16, 4)
            }
            Some('U') => {
                let c = self.read();
                self.scan_digits(c, 16, 8)
            }
            _ => {
                self.error("invalid char escape");
                ch
            }
        }
    }

    fn scan_digits(&mut self, mut ch: i32, base: i32, mut n: usize) -> i32 {
        while n > 0 && digit_val(ch) < base {
            ch = self.read();
            n -= 1;
        }
        if n > 0 {
            self.error("invalid char escape");
        }
        ch
    }
}

/// Range-vector aggregation function names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FuncTok {
    Range(super::ast::RangeOp),
    Vector(super::ast::VectorOp),
    VectorFn,
    LabelReplace,
    BytesConv,
    DurationConv,
    DurationSecondsConv,
}

/// A LogQL token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Eof,
    Ident(String),
    Str(String),
    Number(String),
    Duration(i64),
    Bytes(u64),
    Range(i64),
    Flag(String),
    Func(FuncTok),
    /// `ip` followed by `(`.
    Ip,
    /// Fixed-text tokens: punctuation, operators and keywords (lower case).
    Kw(&'static str),
}

impl Tok {
    /// The token's name in Loki's yacc messages (`IDENTIFIER`, `$end`, `)`, `RATE`).
    pub(crate) fn yacc_name(&self) -> String {
        use super::ast::{RangeOp as R, VectorOp as V};
        match self {
            Tok::Eof => "$end".into(),
            Tok::Ident(_) => "IDENTIFIER".into(),
            Tok::Str(_) => "STRING".into(),
            Tok::Number(_) => "NUMBER".into(),
            Tok::Duration(_) => "DURATION".into(),
            Tok::Bytes(_) => "BYTES".into(),
            Tok::Range(_) => "RANGE".into(),
            Tok::Flag(_) => "FUNCTION_FLAG".into(),
            Tok::Ip => "ip".into(),
            Tok::Kw(k) => (*k).into(),
            Tok::Func(f) => match f {
                FuncTok::Range(r) => match r {
                    R::CountOverTime => "COUNT_OVER_TIME",
                    R::Rate => "RATE",
                    R::RateCounter => "RATE_COUNTER",
                    R::BytesOverTime => "BYTES_OVER_TIME",
                    R::BytesRate => "BYTES_RATE",
                    R::AvgOverTime => "AVG_OVER_TIME",
                    R::SumOverTime => "SUM_OVER_TIME",
                    R::MinOverTime => "MIN_OVER_TIME",
                    R::MaxOverTime => "MAX_OVER_TIME",
                    R::StdvarOverTime => "STDVAR_OVER_TIME",
                    R::StddevOverTime => "STDDEV_OVER_TIME",
                    R::QuantileOverTime => "QUANTILE_OVER_TIME",
                    R::FirstOverTime => "FIRST_OVER_TIME",
                    R::LastOverTime => "LAST_OVER_TIME",
                    R::AbsentOverTime => "ABSENT_OVER_TIME",
                }
                .into(),
                FuncTok::Vector(v) => match v {
                    V::Sum => "SUM",
                    V::Avg => "AVG",
                    V::Max => "MAX",
                    V::Min => "MIN",
                    V::Count => "COUNT",
                    V::Stddev => "STDDEV",
                    V::Stdvar => "STDVAR",
                    V::Bottomk => "BOTTOMK",
                    V::Topk => "TOPK",
                    V::Sort => "SORT",
                    V::SortDesc => "SORT_DESC",
                    V::ApproxTopk => "APPROX_TOPK",
                }
                .into(),
                FuncTok::VectorFn => "VECTOR".into(),
                FuncTok::LabelReplace => "label_replace".into(),
                FuncTok::BytesConv => "BYTES_CONV".into(),
                FuncTok::DurationConv => "DURATION_CONV".into(),
                FuncTok::DurationSecondsConv => "DURATION_SECONDS_CONV".into(),
            },
        }
    }
}

/// A token with its position as Loki reports it.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    /// Loki's reported line (0 when the lexer read ahead to finish the token).
    pub line: usize,
    pub col: usize,
    /// Byte range in the query.
    pub start: usize,
    pub end: usize,
}

/// Keywords, punctuation and operators (Loki's `tokens` map), by lower-case text.
fn keyword(s: &str) -> Option<&'static str> {
    const KW: &[&str] = &[
        ",",
        ".",
        "{",
        "}",
        "=",
        "!=",
        "=~",
        "!~",
        "!>",
        "|=",
        "|~",
        "|>",
        "|",
        "unwrap",
        "(",
        ")",
        "by",
        "without",
        "bool",
        "[",
        "]",
        "offset",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "or",
        "and",
        "unless",
        "+",
        "-",
        "*",
        "/",
        "%",
        "^",
        "==",
        ">",
        ">=",
        "<",
        "<=",
        "json",
        "regexp",
        "logfmt",
        "unpack",
        "pattern",
        "label_format",
        "line_format",
        "decolorize",
        "drop",
        "keep",
    ];
    KW.iter().find(|k| **k == s).copied()
}

/// Function names, which are tokens only when a call follows (Loki's `functionTokens`).
fn function(s: &str) -> Option<Tok> {
    use super::ast::{RangeOp as R, VectorOp as V};
    let f = match s {
        "rate" => FuncTok::Range(R::Rate),
        "rate_counter" => FuncTok::Range(R::RateCounter),
        "count_over_time" => FuncTok::Range(R::CountOverTime),
        "bytes_rate" => FuncTok::Range(R::BytesRate),
        "bytes_over_time" => FuncTok::Range(R::BytesOverTime),
        "avg_over_time" => FuncTok::Range(R::AvgOverTime),
        "sum_over_time" => FuncTok::Range(R::SumOverTime),
        "min_over_time" => FuncTok::Range(R::MinOverTime),
        "max_over_time" => FuncTok::Range(R::MaxOverTime),
        "stdvar_over_time" => FuncTok::Range(R::StdvarOverTime),
        "stddev_over_time" => FuncTok::Range(R::StddevOverTime),
        "quantile_over_time" => FuncTok::Range(R::QuantileOverTime),
        "first_over_time" => FuncTok::Range(R::FirstOverTime),
        "last_over_time" => FuncTok::Range(R::LastOverTime),
        "absent_over_time" => FuncTok::Range(R::AbsentOverTime),
        "vector" => FuncTok::VectorFn,
        "sum" => FuncTok::Vector(V::Sum),
        "avg" => FuncTok::Vector(V::Avg),
        "max" => FuncTok::Vector(V::Max),
        "min" => FuncTok::Vector(V::Min),
        "count" => FuncTok::Vector(V::Count),
        "stddev" => FuncTok::Vector(V::Stddev),
        "stdvar" => FuncTok::Vector(V::Stdvar),
        "bottomk" => FuncTok::Vector(V::Bottomk),
        "topk" => FuncTok::Vector(V::Topk),
        "sort" => FuncTok::Vector(V::Sort),
        "sort_desc" => FuncTok::Vector(V::SortDesc),
        "approx_topk" => FuncTok::Vector(V::ApproxTopk),
        "label_replace" => FuncTok::LabelReplace,
        "bytes" => FuncTok::BytesConv,
        "duration" => FuncTok::DurationConv,
        "duration_seconds" => FuncTok::DurationSecondsConv,
        "ip" => return Some(Tok::Ip),
        _ => return None,
    };
    Some(Tok::Func(f))
}

fn is_duration_rune(c: char) -> bool {
    matches!(c, 'n' | 'u' | 'µ' | 'm' | 's' | 'h' | 'd' | 'w' | 'y')
}

fn is_bytes_rune(c: char) -> bool {
    matches!(c, 'B' | 'i' | 'k' | 'K' | 'M' | 'G' | 'T' | 'P')
}

/// The LogQL lexer: produces [`Token`]s on demand and records the first lexical error.
pub(crate) struct Lexer<'a> {
    sc: Scanner<'a>,
}

/// A lexical error: line, column, byte offset, message.
pub(crate) type LexError = (usize, usize, usize, String);

impl<'a> Lexer<'a> {
    pub(crate) fn new(src: &'a [u8]) -> Self {
        Lexer {
            sc: Scanner::new(src),
        }
    }

    /// The first lexical error so far, if any.
    pub(crate) fn error(&self) -> Option<&LexError> {
        self.sc.err.as_ref()
    }

    /// Lexes the next token. After a lexical error the token is [`Tok::Eof`], as in Loki.
    pub(crate) fn next_token(&mut self) -> Token {
        let tok = self.lex();
        Token {
            tok,
            line: self.sc.pos_line,
            col: self.sc.pos_col,
            start: self.sc.pos_offset,
            end: self.sc.offset().max(self.sc.pos_offset),
        }
    }

    fn token_text(&self) -> String {
        String::from_utf8_lossy(self.sc.text()).into_owned()
    }

    fn lex(&mut self) -> Tok {
        loop {
            let r = self.sc.scan();
            match r {
                Scanned::Other(0x23) => {
                    // `#` comments run to the end of the line.
                    loop {
                        let n = self.sc.peek();
                        if n == '\n' as i32 || n == EOF {
                            break;
                        }
                        self.sc.next_char();
                    }
                    continue;
                }
                Scanned::Eof => return Tok::Eof,
                Scanned::Int | Scanned::Float => {
                    let text = self.token_text();
                    if let Some(d) = self.try_scan_duration(&text) {
                        return Tok::Duration(d);
                    }
                    if let Some(b) = self.try_scan_bytes(&text) {
                        return Tok::Bytes(b);
                    }
                    return Tok::Number(text);
                }
                Scanned::Other(0x2D) => {
                    if self.sc.peek() == '-' as i32 {
                        if let Some(flag) = self.try_scan_flag() {
                            return Tok::Flag(flag);
                        }
                    }
                    if let Some(d) = self.try_scan_duration("-") {
                        return Tok::Duration(d);
                    }
                }
                Scanned::Str | Scanned::RawStr => {
                    let raw = self.sc.text();
                    let Ok(text) = std::str::from_utf8(raw) else {
                        self.sc.error("invalid UTF-8 rune");
                        return Tok::Eof;
                    };
                    // Loki unquotes with Prometheus' `strutil.Unquote`, not Go's
                    // `strconv.Unquote` (see `unquote_promql` for the differences).
                    return match strconv::unquote_promql(text) {
                        Ok(s) => Tok::Str(s),
                        Err(_) => {
                            self.sc.error("invalid syntax");
                            Tok::Eof
                        }
                    };
                }
                _ => {}
            }
            if r == Scanned::Other('[' as i32) {
                return self.scan_range();
            }
            let text = self.token_text();
            let lower = text.to_lowercase();
            if let Some(f) = function(&lower) {
                if !self.is_function() {
                    return Tok::Ident(text);
                }
                return f;
            }
            let peek = self.sc.peek();
            if let Some(c) = as_char(peek) {
                let mut two = lower.clone();
                two.extend(c.to_lowercase());
                if let Some(k) = keyword(&two) {
                    self.sc.next_char();
                    return Tok::Kw(k);
                }
            }
            if let Some(k) = keyword(&lower) {
                return Tok::Kw(k);
            }
            return Tok::Ident(text);
        }
    }

    fn scan_range(&mut self) -> Tok {
        let mut buf = String::new();
        loop {
            let r = self.sc.next_char();
            if r == EOF {
                break;
            }
            if r == ']' as i32 {
                return match duration::parse_prom_duration(&buf) {
                    Ok(d) => Tok::Range(d),
                    Err(e) => {
                        self.sc.error(e);
                        Tok::Eof
                    }
                };
            }
            buf.push(as_char(r).unwrap_or('\u{FFFD}'));
        }
        self.sc.error("missing closing ']' in duration");
        Tok::Eof
    }

    /// Whether the identifier just scanned is a call: `(` follows, or `by (` / `without (`
    /// (Loki's `isFunction`).
    fn is_function(&mut self) -> bool {
        let mut s = self.sc.lookahead();
        skip_space(&mut s);
        let mut word = String::new();
        let result = loop {
            let r = s.next_char();
            let Some(c) = as_char(r) else { break false };
            word.extend(c.to_lowercase());
            if word == "(" {
                break true;
            }
            if word == "by" || word == "without" {
                skip_space(&mut s);
                break s.next_char() == '(' as i32;
            }
            if !("(".starts_with(&word) || "by".starts_with(&word) || "without".starts_with(&word))
            {
                break false;
            }
        };
        self.sc.merge_err(&s);
        result
    }

    fn scan_suffix(&mut self, prefix: &str, accept: fn(char) -> bool) -> (String, usize) {
        let mut s = self.sc.lookahead();
        let mut text = prefix.to_string();
        let mut consumed = 0;
        loop {
            let r = s.peek();
            if r == EOF || is_space(r) {
                break;
            }
            let Some(c) = as_char(r) else { break };
            if !(c.is_numeric() || accept(c) || c == '.') {
                break;
            }
            text.push(c);
            s.next_char();
            consumed += 1;
        }
        self.sc.merge_err(&s);
        (text, consumed)
    }

    fn consume(&mut self, n: usize) {
        for _ in 0..n {
            self.sc.next_char();
        }
    }

    fn try_scan_duration(&mut self, number: &str) -> Option<i64> {
        let (text, consumed) = self.scan_suffix(number, is_duration_rune);
        if consumed == 0 {
            return None;
        }
        let d = duration::parse_prom_or_go_duration(&text).ok()?;
        self.consume(consumed);
        Some(d)
    }

    fn try_scan_bytes(&mut self, number: &str) -> Option<u64> {
        let (text, consumed) = self.scan_suffix(number, is_bytes_rune);
        if consumed == 0 {
            return None;
        }
        let b = humanize::parse_bytes(&text).ok()?;
        self.consume(consumed);
        Some(b)
    }

    fn try_scan_flag(&mut self) -> Option<String> {
        let mut s = self.sc.lookahead();
        let mut flag = self.token_text();
        let mut consumed = 0;
        loop {
            let r = s.peek();
            if !(is_letter(r) || r == '-' as i32) {
                break;
            }
            flag.push(as_char(r).unwrap_or('-'));
            s.next_char();
            consumed += 1;
        }
        self.sc.merge_err(&s);
        if flag != "--strict" && flag != "--keep-empty" {
            return None;
        }
        self.consume(consumed);
        Some(flag)
    }
}

fn skip_space(s: &mut Scanner<'_>) {
    while is_space(s.peek()) {
        s.next_char();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(q: &str) -> Vec<String> {
        let mut lx = Lexer::new(q.as_bytes());
        let mut out = vec![];
        loop {
            let t = lx.next_token();
            if t.tok == Tok::Eof {
                break;
            }
            out.push(t.tok.yacc_name());
        }
        out
    }

    #[test]
    fn basic_tokens() {
        assert_eq!(
            names(r#"{foo="bar"}"#),
            ["{", "IDENTIFIER", "=", "STRING", "}"]
        );
        assert_eq!(names("rate({a=\"b\"}[10s])")[0], "RATE");
        assert_eq!(names("rate"), ["IDENTIFIER"]);
        assert_eq!(names("SUM BY (foo) (x)")[..2], ["SUM", "by"]);
        assert_eq!(
            names("| latency > 250ms"),
            ["|", "IDENTIFIER", ">", "DURATION"]
        );
        assert_eq!(names("-123ms"), ["DURATION"]);
        assert_eq!(names("34-123"), ["NUMBER", "-", "NUMBER"]);
        assert_eq!(names("size > 250kB"), ["IDENTIFIER", ">", "BYTES"]);
        assert_eq!(names("bytes  < 0B"), ["IDENTIFIER", "<", "BYTES"]);
        assert_eq!(names("0b01"), ["NUMBER"]);
        assert_eq!(
            names("logfmt --strict --keep-empty"),
            ["logfmt", "FUNCTION_FLAG", "FUNCTION_FLAG"]
        );
        assert_eq!(names("#{foo=\"bar\"}"), Vec::<String>::new());
        assert_eq!(names("|=ip(\"b\")"), ["|=", "ip", "(", "STRING", ")"]);
    }

    #[test]
    fn positions() {
        let mut lx = Lexer::new(b"{foo=\"bar\"} |~ x");
        let toks: Vec<Token> = (0..7).map(|_| lx.next_token()).collect();
        assert_eq!((toks[5].line, toks[5].col), (0, 13)); // `|~` read ahead
        assert_eq!((toks[6].line, toks[6].col), (1, 16));
        let mut lx = Lexer::new(b"{foo=\"bar}");
        for _ in 0..4 {
            lx.next_token();
        }
        assert_eq!(lx.error().unwrap().3, "literal not terminated");
        assert_eq!((lx.error().unwrap().0, lx.error().unwrap().1), (1, 6));
    }
}
