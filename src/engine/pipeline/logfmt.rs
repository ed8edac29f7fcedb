//! The `logfmt` parser: Loki's decoder (`log/logfmt/decode.go`, adapted from
//! go-logfmt) and the two parser stages built on it.

use std::borrow::Cow;

use super::labels::{LabelsBuilder, DUPLICATE_SUFFIX};
use super::util::{is_plain_name, push_lossy_spaces, sanitize_key_into};
use crate::logql::LabelExtraction;

/// `__error__` of the logfmt parser (`--strict` only).
pub const ERR_LOGFMT: &str = "LogfmtParserErr";

/// A logfmt decoder over one line. Keys and values are ranges into the line, or into
/// `unq` for quoted values with escapes.
#[derive(Debug, Default)]
pub struct Decoder {
    pos: usize,
    key: Option<(usize, usize)>,
    value: Value,
    err: Option<String>,
    unq: Vec<u8>,
}

#[derive(Debug, Default, Clone, Copy)]
enum Value {
    #[default]
    None,
    Line(usize, usize),
    Unquoted,
}

impl Decoder {
    /// Starts over.
    pub fn reset(&mut self) {
        self.pos = 0;
        self.err = None;
        self.key = None;
        self.value = Value::None;
    }

    /// Whether the whole line was consumed.
    pub fn eol(&self, line: &[u8]) -> bool {
        self.pos >= line.len()
    }

    /// The last key.
    pub fn key<'a>(&self, line: &'a [u8]) -> Option<&'a [u8]> {
        self.key.map(|(a, b)| &line[a..b])
    }

    /// The last value (empty when there was none).
    pub fn value<'a>(&'a self, line: &'a [u8]) -> &'a [u8] {
        match self.value {
            Value::None => &[],
            Value::Line(a, b) => &line[a..b],
            Value::Unquoted => &self.unq,
        }
    }

    /// The first syntax error (go-logfmt keeps scanning past it).
    pub fn err(&self) -> Option<&str> {
        self.err.as_deref()
    }

    fn syntax_error(&mut self, msg: &str) {
        self.err = Some(format!(
            "logfmt syntax error at pos {} : {}",
            self.pos + 1,
            msg
        ));
    }

    fn unexpected_byte(&mut self, c: u8) {
        // go-logfmt formats the byte with %q, which prints a rune literal: 'x'.
        let lit = crate::go::strconv::quote_rune(c as char);
        self.err = Some(format!(
            "logfmt syntax error at pos {} : unexpected {}",
            self.pos + 1,
            lit
        ));
    }

    fn skip_value(&mut self, line: &[u8]) -> bool {
        match line[self.pos..].iter().position(|&c| c <= b' ') {
            Some(p) => self.pos += p,
            None => self.pos = line.len(),
        }
        false
    }

    /// Scans the next `key[=value]`; false at the end of the line or on a malformed pair
    /// (with [`Decoder::err`] set for the latter).
    pub fn scan_keyval(&mut self, line: &[u8]) -> bool {
        self.key = None;
        self.value = Value::None;
        // Skip garbage (control characters and spaces).
        match line[self.pos.min(line.len())..]
            .iter()
            .position(|&c| c > b' ')
        {
            Some(p) => self.pos += p,
            None => {
                self.pos = line.len();
                return false;
            }
        }
        let start = self.pos;
        let mut multibyte = false;
        let mut p = self.pos;
        loop {
            if p >= line.len() {
                self.pos = line.len();
                if self.pos > start {
                    self.key = Some((start, self.pos));
                    if multibyte && has_rune_error(&line[start..self.pos]) {
                        self.syntax_error("invalid key");
                        return false;
                    }
                }
                return true;
            }
            let c = line[p];
            if c == b'=' {
                self.pos = p;
                if self.pos > start {
                    self.key = Some((start, self.pos));
                    if multibyte && has_rune_error(&line[start..self.pos]) {
                        self.syntax_error("invalid key");
                        return self.skip_value(line);
                    }
                }
                if self.key.is_none() {
                    self.unexpected_byte(c);
                    return self.skip_value(line);
                }
                break;
            } else if c == b'"' {
                self.pos = p;
                self.unexpected_byte(c);
                return self.skip_value(line);
            } else if c <= b' ' {
                self.pos = p;
                if self.pos > start {
                    self.key = Some((start, self.pos));
                    if multibyte && has_rune_error(&line[start..self.pos]) {
                        self.syntax_error("invalid key");
                        return false;
                    }
                }
                return true;
            } else if c >= 0x80 {
                multibyte = true;
            }
            p += 1;
        }
        // equal
        self.pos += 1;
        if self.pos >= line.len() {
            return true;
        }
        let c = line[self.pos];
        if c <= b' ' {
            return true;
        }
        if c == b'"' {
            return self.qvalue(line);
        }
        let start = self.pos;
        for p in self.pos..line.len() {
            let c = line[p];
            if c == b'=' || c == b'"' {
                self.pos = p;
                self.unexpected_byte(c);
                return self.skip_value(line);
            }
            if c <= b' ' {
                self.pos = p;
                if self.pos > start {
                    self.value = Value::Line(start, self.pos);
                }
                return true;
            }
        }
        self.pos = line.len();
        if self.pos > start {
            self.value = Value::Line(start, self.pos);
        }
        true
    }

    fn qvalue(&mut self, line: &[u8]) -> bool {
        let start = self.pos;
        let (mut has_esc, mut esc) = (false, false);
        for p in self.pos + 1..line.len() {
            let c = line[p];
            if esc {
                esc = false;
            } else if c == b'\\' {
                has_esc = true;
                esc = true;
            } else if c == b'"' {
                self.pos = p + 1;
                if has_esc {
                    self.unq.clear();
                    if !logfmt_unquote_into(&line[start..self.pos], &mut self.unq) {
                        self.syntax_error("invalid quoted value");
                        return false;
                    }
                    self.value = Value::Unquoted;
                } else {
                    let (s, e) = (start + 1, self.pos - 1);
                    if e > s {
                        self.value = Value::Line(s, e);
                    }
                }
                return true;
            }
        }
        self.pos = line.len();
        self.syntax_error("unterminated quoted value");
        false
    }
}

fn has_rune_error(b: &[u8]) -> bool {
    match std::str::from_utf8(b) {
        Ok(s) => s.contains('\u{FFFD}'),
        Err(_) => true,
    }
}

/// go-logfmt's `unquoteBytes` of a quoted value (quotes included), appended to `out`.
///
/// Deliberately not [`crate::go::strconv::unquote`]: go-logfmt unquotes values with
/// rules taken from `encoding/json` (`\/`, `\uXXXX` with surrogate pairs, no `\x` or
/// octal escapes, control characters rejected), and Loki's `| logfmt` gives exactly
/// what go-logfmt gives. It also writes into a reused buffer, as it runs per line.
fn logfmt_unquote_into(q: &[u8], out: &mut Vec<u8>) -> bool {
    let s = &q[1..q.len() - 1];
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        match c {
            b'\\' => {
                let Some(&e) = s.get(i + 1) else { return false };
                let simple = match e {
                    b'"' | b'\\' | b'/' | b'\'' => Some(e),
                    b'b' => Some(0x08),
                    b'f' => Some(0x0c),
                    b'n' => Some(b'\n'),
                    b'r' => Some(b'\r'),
                    b't' => Some(b'\t'),
                    b'u' => None,
                    _ => return false,
                };
                if let Some(x) = simple {
                    out.push(x);
                    i += 2;
                    continue;
                }
                let hex = |at: usize| -> Option<u32> {
                    let h = s.get(at..at + 4)?;
                    u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()
                };
                let Some(r) = hex(i + 2) else { return false };
                i += 6;
                let mut ch = char::from_u32(r);
                if (0xD800..0xE000).contains(&r) {
                    ch = Some('\u{FFFD}');
                    if (0xD800..0xDC00).contains(&r)
                        && s.get(i) == Some(&b'\\')
                        && s.get(i + 1) == Some(&b'u')
                    {
                        if let Some(r2) = hex(i + 2) {
                            if (0xDC00..0xE000).contains(&r2) {
                                ch = char::from_u32(0x10000 + ((r - 0xD800) << 10) + (r2 - 0xDC00));
                                i += 6;
                            }
                        }
                    }
                }
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.unwrap_or('\u{FFFD}').encode_utf8(&mut buf).as_bytes());
            }
            b'"' => return false,
            c if c < b' ' => return false,
            c if c < 0x80 => {
                out.push(c);
                i += 1;
            }
            _ => {
                let (r, n) = super::util::decode_rune(&s[i..]);
                match r {
                    Some(_) => out.extend_from_slice(&s[i..i + n]),
                    None => out.extend_from_slice("\u{FFFD}".as_bytes()),
                }
                i += n;
            }
        }
    }
    true
}

/// Per-stream buffers of the logfmt stages.
#[derive(Debug, Default)]
pub struct LogfmtScratch {
    dec: Decoder,
    key: Vec<u8>,
    value: String,
}

/// `| logfmt [--strict] [--keep-empty]`: every pair becomes a label.
#[derive(Debug, Clone)]
pub struct LogfmtParser {
    /// Stop at the first malformed pair and set `__error__`.
    pub strict: bool,
    /// Keep `k=` pairs (and bare keys) as empty labels.
    pub keep_empty: bool,
}

impl LogfmtParser {
    /// Runs on one line.
    pub fn process(&self, line: &[u8], lb: &mut LabelsBuilder, s: &mut LogfmtScratch) {
        s.dec.reset();
        while !s.dec.eol(line) {
            if !s.dec.scan_keyval(line) {
                if self.strict {
                    break;
                }
                continue;
            }
            let Some(k) = s.dec.key(line) else { continue };
            // A key that is already a valid name and not wanted is skipped
            // before any copying or validation.
            if lb.hints.restricted() && is_plain_name(k) && !lb.hints.might_extract_bytes(k) {
                continue;
            }
            s.key.clear();
            sanitize_key_into(k, &mut s.key);
            if s.key.is_empty() {
                continue;
            }
            let name = std::str::from_utf8(&s.key).unwrap_or_default();
            if !lb.hints.might_extract(name) {
                continue;
            }
            let name: Cow<str> = if lb.clashes(name) {
                Cow::Owned(format!("{name}{DUPLICATE_SUFFIX}"))
            } else {
                Cow::Borrowed(name)
            };
            if !lb.hints.should_extract(&name) || lb.extracted(&name) {
                continue;
            }
            let v = s.dec.value(line);
            if !self.keep_empty && v.is_empty() {
                continue;
            }
            s.value.clear();
            push_lossy_spaces(v, &mut s.value);
            lb.set_parsed(&name, &s.value);
            // As Loki: once every hinted label is extracted, the rest of the line
            // cannot change the result (the first occurrence of a key wins, and
            // only --strict reports errors, so it reads on).
            if !self.strict && lb.all_hints_extracted() {
                break;
            }
        }
        if self.strict {
            if let Some(e) = s.dec.err() {
                lb.set_err(ERR_LOGFMT);
                lb.set_err_details(e);
            }
        }
    }
}

/// `| logfmt [--strict] a="key", b`: only the given keys, renamed.
#[derive(Debug, Clone)]
pub struct LogfmtExprParser {
    strict: bool,
    /// (label, key) pairs.
    exprs: Vec<(String, String)>,
}

impl LogfmtExprParser {
    /// Compiles the parameters (Loki's `NewLogfmtExpressionParser`).
    pub fn new(params: &[LabelExtraction], strict: bool) -> Result<LogfmtExprParser, String> {
        let mut exprs = Vec::new();
        for p in params {
            if p.expr.is_empty() || p.expr.contains(char::is_whitespace) {
                return Err(format!(
                    "cannot parse expression [{}]: syntax error",
                    p.expr
                ));
            }
            if !crate::model::is_valid_label_name(&p.label) {
                return Err(format!("invalid extracted label name '{}'", p.label));
            }
            exprs.push((p.label.clone(), p.expr.clone()));
        }
        Ok(LogfmtExprParser { strict, exprs })
    }

    /// Runs on one line.
    pub fn process(&self, line: &[u8], lb: &mut LabelsBuilder, s: &mut LogfmtScratch) {
        for (id, _) in &self.exprs {
            if !lb.base_has(id) {
                lb.set_parsed(id, "");
            }
        }
        s.dec.reset();
        while !s.dec.eol(line) {
            if !s.dec.scan_keyval(line) {
                if self.strict {
                    break;
                }
                continue;
            }
            let Some(k) = s.dec.key(line) else { continue };
            s.key.clear();
            sanitize_key_into(k, &mut s.key);
            if s.key.is_empty() {
                continue;
            }
            let key = std::str::from_utf8(&s.key).unwrap_or_default();
            let key = self
                .exprs
                .iter()
                .find(|(_, orig)| orig == key)
                .map_or(key, |(id, _)| id.as_str());
            if !self.exprs.iter().any(|(id, _)| id == key) {
                continue;
            }
            let key: Cow<str> = if lb.base_has(key) {
                Cow::Owned(format!("{key}{DUPLICATE_SUFFIX}"))
            } else {
                Cow::Borrowed(key)
            };
            s.value.clear();
            push_lossy_spaces(s.dec.value(line), &mut s.value);
            lb.set_parsed(&key, &s.value);
        }
        if self.strict {
            if let Some(e) = s.dec.err() {
                lb.set_err(ERR_LOGFMT);
                lb.set_err_details(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::pipeline::labels::Hints;

    fn run(p: &LogfmtParser, line: &str, base: &[(&str, &str)]) -> String {
        let base: Vec<(String, String)> = base
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let mut lb = LabelsBuilder::new(&base, Hints::default());
        p.process(line.as_bytes(), &mut lb, &mut LogfmtScratch::default());
        lb.result(None).to_string()
    }

    const PLAIN: LogfmtParser = LogfmtParser {
        strict: false,
        keep_empty: false,
    };

    #[test]
    fn pairs_like_loki() {
        assert_eq!(
            run(&PLAIN, "level=info status=200", &[("app", "a")]),
            r#"{app="a", level="info", status="200"}"#
        );
        let line = r#"a-b=1 9x=2 dup=first dup=second msg="hi there" empty="#;
        assert_eq!(
            run(&PLAIN, line, &[]),
            r#"{_9x="2", a_b="1", dup="first", msg="hi there"}"#
        );
        let keep = LogfmtParser {
            strict: false,
            keep_empty: true,
        };
        assert_eq!(
            run(&keep, line, &[]),
            r#"{_9x="2", a_b="1", dup="first", empty="", msg="hi there"}"#
        );
        assert_eq!(run(&PLAIN, r#"m="a\"b\u00e9""#, &[]), r#"{m="a\"bé"}"#);
        assert_eq!(
            run(&PLAIN, "sl=p x", &[("sl", "s")]),
            r#"{sl="s", sl_extracted="p"}"#
        );
    }

    #[test]
    fn malformed() {
        let line = r#"good=1 bad="unterminated"#;
        assert_eq!(run(&PLAIN, line, &[]), r#"{good="1"}"#);
        let strict = LogfmtParser {
            strict: true,
            keep_empty: false,
        };
        assert_eq!(
            run(&strict, line, &[]),
            r#"{__error__="LogfmtParserErr", __error_details__="logfmt syntax error at pos 25 : unterminated quoted value", good="1"}"#
        );
        assert_eq!(
            run(&strict, "a=1 =2 b=3", &[]),
            r#"{__error__="LogfmtParserErr", __error_details__="logfmt syntax error at pos 5 : unexpected '='", a="1"}"#
        );
        assert_eq!(run(&PLAIN, "a=1 =2 b=3", &[]), r#"{a="1", b="3"}"#);
        assert_eq!(run(&PLAIN, "a=x=y b=1", &[]), r#"{b="1"}"#);
    }

    #[test]
    fn expressions() {
        let p = LogfmtExprParser::new(
            &[
                LabelExtraction {
                    label: "level".into(),
                    expr: "level".into(),
                },
                LabelExtraction {
                    label: "code".into(),
                    expr: "status".into(),
                },
            ],
            false,
        )
        .unwrap();
        let mut lb = LabelsBuilder::new(&[("app".into(), "a".into())], Hints::default());
        p.process(
            b"level=info status=200 msg=hi",
            &mut lb,
            &mut LogfmtScratch::default(),
        );
        assert_eq!(
            lb.result(None).to_string(),
            r#"{app="a", code="200", level="info"}"#
        );
    }
}
