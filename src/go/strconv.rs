//! Go's `strconv` package (Go 1.22): quoting, unquoting, and number parsing and printing.
//!
//! Loki's canonical query forms, label sets and error texts are produced by `strconv`
//! (directly or through `fmt`): printing `"\t"` or `1e+08` any other way would make
//! `lokal fmt` and `lokal query` disagree with Loki. Error texts are Go's
//! (`strconv.ParseFloat: parsing "x": invalid syntax`), because Loki puts them into
//! `__error_details__` and error responses.
//!
//! Also here: Prometheus' `util/strutil.Unquote` ([`unquote_promql`]), a fork of an older
//! `strconv.Unquote` that Loki's LogQL lexer calls, sharing [`unquote_char`]'s escapes.
//!
//! Rust strings are UTF-8 where Go strings are bytes: where Go would produce bytes that
//! are not UTF-8 (`"\xff"`), these functions replace them with U+FFFD, which is what Go
//! itself does as soon as such a string is printed as text.

use std::fmt::Write;

/// Quotes `s` as Go's `strconv.Quote` does: a double-quoted literal with Go escapes for
/// control and non-printable characters (`\t`, `\x01`, `\u00a0`).
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    // Writing to a String cannot fail.
    let _ = write_quoted(&mut out, s);
    out
}

/// Writes `s` quoted as [`quote`] does to `out` (a formatter, a hasher), without
/// building the string.
pub fn write_quoted(out: &mut impl Write, s: &str) -> std::fmt::Result {
    // Printable ASCII other than `"` and `\` stands for itself: most label values and
    // strings, written in one piece.
    if s.bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
    {
        out.write_char('"')?;
        out.write_str(s)?;
        return out.write_char('"');
    }
    quote_with(out, s, '"')
}

/// Quotes `c` as Go's `strconv.QuoteRune` does (`'a'`, `'\''`, `'\n'`); `%q` of a rune or
/// byte prints this.
pub fn quote_rune(c: char) -> String {
    let mut out = String::with_capacity(8);
    let mut buf = [0u8; 4];
    let _ = quote_with(&mut out, c.encode_utf8(&mut buf), '\'');
    out
}

/// Go's `quoteWith(s, quote, false, false)`: only `quote` and `\` are always escaped.
fn quote_with(out: &mut impl Write, s: &str, quote: char) -> std::fmt::Result {
    out.write_char(quote)?;
    for c in s.chars() {
        match c {
            c if c == quote || c == '\\' => {
                out.write_char('\\')?;
                out.write_char(c)?;
            }
            c if is_print(c) => out.write_char(c)?,
            '\u{7}' => out.write_str("\\a")?,
            '\u{8}' => out.write_str("\\b")?,
            '\u{c}' => out.write_str("\\f")?,
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            '\u{b}' => out.write_str("\\v")?,
            c if (c as u32) < 0x20 || c == '\u{7f}' => write!(out, "\\x{:02x}", c as u32)?,
            c if (c as u32) < 0x10000 => write!(out, "\\u{:04x}", c as u32)?,
            c => write!(out, "\\U{:08x}", c as u32)?,
        }
    }
    out.write_char(quote)
}

/// An approximation of Go's `strconv.IsPrint` (Go's tables are not ported): letters,
/// marks, numbers, punctuation, symbols and the ASCII space. Control, format,
/// private-use and non-ASCII space characters are not printable, so `Quote` escapes
/// them.
pub fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    let u = c as u32;
    let format_or_private = matches!(u,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E | 0x200B..=0x200F
        | 0x202A..=0x202E | 0x2060..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB
        | 0xE000..=0xF8FF | 0xFFFE | 0xFFFF | 0xE0000..=0xE007F | 0xF0000..=0x10FFFF);
    !format_or_private
}

/// Go's `strconv.ErrSyntax`, the error of the unquoting functions; it prints as
/// `invalid syntax`, as Go's does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidSyntax;

impl std::fmt::Display for InvalidSyntax {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("invalid syntax")
    }
}

impl std::error::Error for InvalidSyntax {}

/// One decoded character of a quoted literal: what Go's `strconv.UnquoteChar` returns
/// besides the tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnquotedChar {
    /// The code point, or the byte value of a `\x`/octal escape (`multibyte` false).
    pub value: u32,
    /// Whether `value` is a code point to encode as UTF-8 rather than a single byte.
    pub multibyte: bool,
}

impl UnquotedChar {
    /// Appends the character as Go appends it to the unquoted string: a byte for
    /// ASCII and byte escapes, UTF-8 otherwise.
    fn push_to(self, out: &mut Vec<u8>) {
        if self.value < 0x80 || !self.multibyte {
            out.push(self.value as u8);
        } else {
            // Only Prometheus' variant lets surrogates through; Go's EncodeRune writes
            // them as U+FFFD.
            let c = char::from_u32(self.value).unwrap_or('\u{FFFD}');
            out.extend_from_slice(c.encode_utf8(&mut [0u8; 4]).as_bytes());
        }
    }
}

/// Which unquoting rules apply to `\u`/`\U` escapes.
#[derive(Clone, Copy, PartialEq)]
enum Escapes {
    /// Go's `strconv` (`utf8.ValidRune`): surrogates and values above U+10FFFF are errors.
    Strconv,
    /// Prometheus' `strutil`: only values above U+10FFFF are errors; surrogates
    /// become U+FFFD.
    Prometheus,
}

/// Go's `strconv.UnquoteChar`: decodes the first character or escape of `s`, the inside
/// of a literal quoted with `quote` (`b'"'`, `b'\''`, or 0 to allow both quotes
/// unescaped and neither escaped). Returns the character and the rest of `s`.
pub fn unquote_char(s: &str, quote: u8) -> Result<(UnquotedChar, &str), InvalidSyntax> {
    unquote_char_with(s, quote, Escapes::Strconv)
}

fn unquote_char_with(
    s: &str,
    quote: u8,
    escapes: Escapes,
) -> Result<(UnquotedChar, &str), InvalidSyntax> {
    let b = s.as_bytes();
    let plain =
        |value: u32, n: usize, multibyte: bool| Ok((UnquotedChar { value, multibyte }, &s[n..]));
    match b.first() {
        None => return Err(InvalidSyntax),
        Some(&c) if c == quote && (quote == b'\'' || quote == b'"') => return Err(InvalidSyntax),
        Some(&c) if c >= 0x80 => {
            let ch = s.chars().next().ok_or(InvalidSyntax)?;
            return plain(ch as u32, ch.len_utf8(), true);
        }
        Some(&c) if c != b'\\' => return plain(c as u32, 1, false),
        Some(_) => {}
    }
    let Some(&c) = b.get(1) else {
        return Err(InvalidSyntax);
    };
    let simple = match c {
        b'a' => Some(7),
        b'b' => Some(8),
        b'f' => Some(12),
        b'n' => Some(b'\n'),
        b'r' => Some(b'\r'),
        b't' => Some(b'\t'),
        b'v' => Some(11),
        b'\\' => Some(b'\\'),
        b'\'' | b'"' if c == quote => Some(c),
        _ => None,
    };
    if let Some(v) = simple {
        return plain(v as u32, 2, false);
    }
    match c {
        b'x' | b'u' | b'U' => {
            let n = match c {
                b'x' => 2,
                b'u' => 4,
                _ => 8,
            };
            let digits = b.get(2..2 + n).ok_or(InvalidSyntax)?;
            let mut v: u32 = 0;
            for &d in digits {
                v = v << 4 | (d as char).to_digit(16).ok_or(InvalidSyntax)?;
            }
            if c == b'x' {
                // A single byte, possibly not UTF-8.
                return plain(v, 2 + n, false);
            }
            let valid = match escapes {
                Escapes::Strconv => char::from_u32(v).is_some(),
                Escapes::Prometheus => v <= 0x10FFFF,
            };
            if !valid {
                return Err(InvalidSyntax);
            }
            plain(v, 2 + n, true)
        }
        b'0'..=b'7' => {
            let digits = b.get(2..4).ok_or(InvalidSyntax)?;
            let mut v = (c - b'0') as u32;
            for &d in digits {
                if !(b'0'..=b'7').contains(&d) {
                    return Err(InvalidSyntax);
                }
                v = v << 3 | (d - b'0') as u32;
            }
            if v > 255 {
                return Err(InvalidSyntax);
            }
            plain(v, 4, false)
        }
        _ => Err(InvalidSyntax),
    }
}

/// Go's `strconv.Unquote`: the value of a double-quoted (`"a\tb"`, all Go escapes),
/// back-quoted (`` `raw` ``, carriage returns dropped) or single-quoted (`'x'`, one
/// character; `''` is the empty string) Go literal. Anything else, including a literal
/// followed by more text, is [`InvalidSyntax`]. Bytes that are not UTF-8 (`"\xff"`)
/// become U+FFFD.
pub fn unquote(s: &str) -> Result<String, InvalidSyntax> {
    let b = s.as_bytes();
    if b.len() < 2 {
        return Err(InvalidSyntax);
    }
    let quote = b[0];
    // Optimistically the first matching quote ends the literal; escapes may push the
    // real end further (handled by the slow path).
    let end = memchr::memchr(quote, &b[1..]).ok_or(InvalidSyntax)? + 2;
    match quote {
        b'`' => {
            if end != b.len() {
                return Err(InvalidSyntax);
            }
            Ok(s[1..end - 1].replace('\r', ""))
        }
        b'"' | b'\'' => {
            let inner = &s[1..end - 1];
            if !inner.contains(['\\', '\n']) {
                let valid = quote == b'"' || inner.chars().count() <= 1;
                if valid {
                    return if end == b.len() {
                        Ok(inner.to_string())
                    } else {
                        Err(InvalidSyntax)
                    };
                }
            }
            let mut out = Vec::with_capacity(3 * end / 2);
            let mut rest = &s[1..];
            while !rest.is_empty() && rest.as_bytes()[0] != quote {
                if rest.as_bytes()[0] == b'\n' {
                    return Err(InvalidSyntax);
                }
                let (c, tail) = unquote_char(rest, quote)?;
                c.push_to(&mut out);
                rest = tail;
                if quote == b'\'' {
                    // A character literal holds one character.
                    break;
                }
            }
            // What is left must be exactly the closing quote.
            if rest.as_bytes() != [quote] {
                return Err(InvalidSyntax);
            }
            Ok(into_string_lossy(out))
        }
        _ => Err(InvalidSyntax),
    }
}

/// Prometheus' `util/strutil.Unquote`, which Loki's LogQL lexer applies to string
/// tokens. It forked Go's `strconv.Unquote` before Go 1.17 and differs from
/// [`unquote`] on purpose: single-quoted strings are strings of any length, raw strings
/// keep their carriage returns, and `\uD800`-style surrogate escapes are accepted (as
/// U+FFFD) instead of rejected. Using [`unquote`] here would make lokal reject or
/// change queries Loki accepts.
pub fn unquote_promql(s: &str) -> Result<String, InvalidSyntax> {
    let b = s.as_bytes();
    if b.len() < 2 || b[0] != b[b.len() - 1] {
        return Err(InvalidSyntax);
    }
    let quote = b[0];
    let body = &s[1..s.len() - 1];
    match quote {
        b'`' if body.contains('`') => Err(InvalidSyntax),
        b'`' => Ok(body.to_string()),
        b'"' | b'\'' => {
            if body.contains('\n') {
                return Err(InvalidSyntax);
            }
            if !body.contains('\\') && !body.as_bytes().contains(&quote) {
                return Ok(body.to_string());
            }
            let mut out = Vec::with_capacity(body.len());
            let mut rest = body;
            while !rest.is_empty() {
                let (c, tail) = unquote_char_with(rest, quote, Escapes::Prometheus)?;
                c.push_to(&mut out);
                rest = tail;
            }
            Ok(into_string_lossy(out))
        }
        _ => Err(InvalidSyntax),
    }
}

fn into_string_lossy(v: Vec<u8>) -> String {
    match String::from_utf8(v) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// Go's `underscoreOK`: underscores only between digits, or between a base prefix and
/// a digit.
fn underscore_ok(s: &str) -> bool {
    let mut b = s.as_bytes();
    if let Some(rest) = b.strip_prefix(b"-").or_else(|| b.strip_prefix(b"+")) {
        b = rest;
    }
    // What came last: b'^' the start, b'0' a digit or base prefix, b'_', b'!' other.
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1] | 0x20, b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = b[1] | 0x20 == b'x';
    }
    for &c in &b[i..] {
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
    }
    saw != b'_'
}

/// Go's `strconv.ParseInt(s, base, 64)`. Base 0 reads Go's prefixes (`0x`, `0o`, `0b`,
/// and a leading `0` for octal) and allows `_` between digits; bases 2 to 36 read plain
/// digits. Errors are Go's texts.
pub fn parse_int(s: &str, base: u32) -> Result<i64, String> {
    let err = |what: &str| format!("strconv.ParseInt: parsing {}: {what}", quote(s));
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() || !(base == 0 || (2..=36).contains(&base)) {
        return Err(err("invalid syntax"));
    }
    let b = body.as_bytes();
    let (radix, digits) = if base != 0 {
        (base, b)
    } else if b[0] == b'0' && b.len() >= 3 && matches!(b[1] | 0x20, b'b' | b'o' | b'x') {
        let radix = match b[1] | 0x20 {
            b'b' => 2,
            b'o' => 8,
            _ => 16,
        };
        (radix, &b[2..])
    } else if b[0] == b'0' {
        (8, &b[1..])
    } else {
        (10, b)
    };
    let mut v: u128 = 0;
    let mut underscores = false;
    for &c in digits {
        if c == b'_' && base == 0 {
            underscores = true;
            continue;
        }
        let d = (c as char).to_digit(36).filter(|d| *d < radix);
        let Some(d) = d else {
            return Err(err("invalid syntax"));
        };
        v = v * radix as u128 + d as u128;
        if v > u64::MAX as u128 {
            // Go's ParseUint stops at the first digit that overflows.
            return Err(err("value out of range"));
        }
    }
    if underscores && !underscore_ok(s) {
        return Err(err("invalid syntax"));
    }
    let limit = if neg { 1u128 << 63 } else { (1u128 << 63) - 1 };
    if v > limit {
        return Err(err("value out of range"));
    }
    Ok(if neg {
        (v as i128).wrapping_neg() as i64
    } else {
        v as i64
    })
}

/// `strconv.ParseFloat(s, 64)`: decimal floats, `inf`/`infinity`/`nan`, hexadecimal
/// floats with a `p` exponent. Overflow is an error, as in Go. Unlike Go, `_` digit
/// separators are refused (lokal always has; Loki's label values rarely carry them).
pub fn parse_float(s: &str) -> Result<f64, String> {
    let syntax = || format!("strconv.ParseFloat: parsing {}: invalid syntax", quote(s));
    let (neg, body) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() {
        return Err(syntax());
    }
    let lower = body.to_ascii_lowercase();
    let v = match lower.as_str() {
        "inf" | "infinity" => {
            return Ok(if neg {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            })
        }
        "nan" => return Ok(f64::NAN),
        _ if lower.starts_with("0x") => parse_hex_float(&lower[2..]).ok_or_else(syntax)?,
        _ => {
            // Rust's parser also takes "infinity" spellings and nothing Go rejects
            // besides those, so restrict to Go's decimal alphabet first.
            let ok = body
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
            if !ok
                || !body
                    .bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_digit() || b == b'.')
            {
                return Err(syntax());
            }
            body.parse::<f64>().map_err(|_| syntax())?
        }
    };
    if v.is_infinite() {
        return Err(format!(
            "strconv.ParseFloat: parsing {}: value out of range",
            quote(s)
        ));
    }
    Ok(if neg { -v } else { v })
}

/// Go hexadecimal float mantissa and mandatory `p` exponent (`1.8p1`), after `0x`.
fn parse_hex_float(s: &str) -> Option<f64> {
    let s = s.replace('_', "");
    let (mant, exp) = s.split_once('p')?;
    let exp: i32 = exp.parse().ok()?;
    let (int_part, frac_part) = mant.split_once('.').unwrap_or((mant, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let mut v = 0f64;
    for c in int_part.chars().chain(frac_part.chars()) {
        v = v * 16.0 + c.to_digit(16)? as f64;
    }
    Some(v * 2f64.powi(exp - 4 * frac_part.len() as i32))
}

/// Go's `strconv.FormatFloat(f, fmt, prec, 64)` for `fmt` `'e'`, `'E'`, `'f'`, `'g'`
/// and `'G'`; `prec` -1 is the shortest precision that reads back exactly (what `%v`
/// and `fmt.Sprint` print, as `'g'`). Infinities print as `+Inf`/`-Inf`.
pub fn format_float(f: f64, fmt: char, prec: i32) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let prec = usize::try_from(prec).ok();
    let body = match fmt {
        'f' | 'F' => match prec {
            // Rust's shortest form never uses an exponent, like Go's 'f' with -1.
            None => return format!("{f}"),
            Some(p) => return format!("{f:.p$}"),
        },
        'e' | 'E' => {
            let rust = match prec {
                None => format!("{:e}", f.abs()),
                Some(p) => format!("{:.*e}", p, f.abs()),
            };
            let (m, e) = rust.split_once('e').unwrap_or((&rust, "0"));
            let e: i32 = e.parse().unwrap_or(0);
            format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
        }
        _ => format_g(f.abs(), prec),
    };
    let body = if fmt.is_ascii_uppercase() {
        body.to_uppercase()
    } else {
        body
    };
    if f.is_sign_negative() {
        format!("-{body}")
    } else {
        body
    }
}

/// `'g'` of a non-negative finite `a`: `%e` for exponents below -4 or at least the
/// precision (6 for the shortest form), `%f` otherwise; trailing zeros dropped.
fn format_g(a: f64, prec: Option<usize>) -> String {
    if a == 0.0 {
        return "0".into();
    }
    let e_form = match prec {
        None => format!("{a:e}"),
        Some(p) => format!("{:.*e}", p.max(1) - 1, a),
    };
    let (m, e) = e_form.split_once('e').unwrap_or((&e_form, "0"));
    let exp: i32 = e.parse().unwrap_or(0);
    let mut digits: String = m.chars().filter(|c| *c != '.').collect();
    if prec.is_some() {
        while digits.len() > 1 && digits.ends_with('0') {
            digits.pop();
        }
    }
    let nd = digits.len() as i32;
    let eprec = match prec {
        // Go: "if precision was the shortest possible, use precision 6 for this decision".
        None => 6,
        Some(p) if p as i32 > nd && nd > exp => nd,
        Some(p) => p.max(1) as i32,
    };
    if exp < -4 || exp >= eprec {
        let mant = if digits.len() > 1 {
            format!("{}.{}", &digits[..1], &digits[1..])
        } else {
            digits
        };
        format!("{mant}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
    } else if exp < 0 {
        format!("0.{}{}", "0".repeat((-exp - 1) as usize), digits)
    } else {
        let point = (exp + 1) as usize;
        if digits.len() <= point {
            format!("{digits}{}", "0".repeat(point - digits.len()))
        } else {
            format!("{}.{}", &digits[..point], &digits[point..])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The one-piece path for plain ASCII writes what quoting character by
        /// character writes.
        #[test]
        fn plain_strings_quote_as_character_by_character(s in "[ -~]{0,12}|\\PC{0,6}") {
            let mut slow = String::new();
            quote_with(&mut slow, &s, '"').unwrap();
            prop_assert_eq!(quote(&s), slow);
        }
    }

    #[test]
    fn quote_like_go() {
        assert_eq!(quote("a\"b\\c\n\t"), r#""a\"b\\c\n\t""#);
        assert_eq!(quote("\u{1}"), r#""\x01""#);
        assert_eq!(quote("é"), "\"é\"");
        assert_eq!(quote("\u{a0}"), r#""\u00a0""#);
        assert_eq!(quote("'"), r#""'""#);
        assert_eq!(quote("a\tb\u{1}é"), "\"a\\tb\\x01é\"");
        assert_eq!(quote_rune('a'), "'a'");
        assert_eq!(quote_rune('\''), r"'\''");
        assert_eq!(quote_rune('"'), "'\"'");
        assert_eq!(quote_rune('\n'), r"'\n'");
        assert_eq!(quote_rune('\u{1}'), r"'\x01'");
        assert_eq!(quote_rune('☺'), "'☺'");
    }

    #[test]
    fn unquote_variants() {
        assert_eq!(unquote(r#""a\"b""#).unwrap(), "a\"b");
        assert_eq!(unquote(r"`a\w`").unwrap(), r"a\w");
        assert_eq!(unquote(r#""\u00e9\x41\101""#).unwrap(), "éAA");
        assert!(unquote(r#""\ud800""#).is_err());
    }

    /// Go's `strconv` test table (`quote_test.go`: `unquotetests`, `misquoted`).
    #[test]
    fn unquote_go_cases() {
        let ok: &[(&str, &str)] = &[
            (r#""""#, ""),
            (r#""a""#, "a"),
            (r#""abc""#, "abc"),
            (r#""☺""#, "☺"),
            (r#""hello world""#, "hello world"),
            (r#""\xFF""#, "\u{FFFD}"),
            (r#""\377""#, "\u{FFFD}"),
            (r#""\u1234""#, "\u{1234}"),
            (r#""\U00010111""#, "\u{10111}"),
            (r#""\U0001011111""#, "\u{10111}11"),
            (r#""\a\b\f\n\r\t\v\\\"""#, "\u{7}\u{8}\u{c}\n\r\t\u{b}\\\""),
            (r#""'""#, "'"),
            ("'a'", "a"),
            ("'☹'", "☹"),
            (r"'\a'", "\u{7}"),
            (r"'\x10'", "\u{10}"),
            (r"'\377'", "\u{FFFD}"),
            (r"'\u1234'", "\u{1234}"),
            (r"'\U00010111'", "\u{10111}"),
            (r"'\t'", "\t"),
            ("' '", " "),
            (r"'\''", "'"),
            ("'\"'", "\""),
            ("''", ""),
            ("``", ""),
            ("`a`", "a"),
            ("`abc`", "abc"),
            ("`☺`", "☺"),
            ("`hello world`", "hello world"),
            (r"`\xFF`", r"\xFF"),
            (r"`\377`", r"\377"),
            (r"`\`", r"\"),
            ("`\n`", "\n"),
            ("`\t`", "\t"),
            ("` `", " "),
            ("`a\rb`", "ab"),
            // Bytes that spell UTF-8 stay a character.
            (r#""\xc3\xa9""#, "é"),
        ];
        for (input, want) in ok {
            assert_eq!(unquote(input).as_deref(), Ok(*want), "{input}");
        }
        let bad = [
            "",
            "\"",
            "\"a",
            "\"'",
            "b\"",
            "\"\\\"",
            "\"\\9\"",
            "\"\\19\"",
            "\"\\129\"",
            "'\\'",
            "'\\9'",
            "'\\19'",
            "'\\129'",
            "'ab'",
            "\"\\x1!\"",
            "\"\\U12345\"",
            "\"\\z\"",
            "`",
            "`xxx",
            "``x\r",
            "`\"",
            "\"\\'\"",
            "'\\\"'",
            "\"\n\"",
            "\"\\n\n\"",
            "'\n'",
            r#""\udead""#,
            r#""\ud83d\ude4f""#,
            "\"a\"b",
            "'x'y",
            "`a`b",
            "\"\\U00110000\"",
        ];
        for input in bad {
            assert_eq!(unquote(input), Err(InvalidSyntax), "{input:?}");
        }
    }

    #[test]
    fn unquote_char_like_go() {
        let c = |s| unquote_char(s, b'\'').map(|(c, t)| (c.value, c.multibyte, t));
        assert_eq!(c(r"\x41'"), Ok((0x41, false, "'")));
        assert_eq!(c(r"\xff'"), Ok((0xff, false, "'")));
        assert_eq!(c("é'"), Ok((0xe9, true, "'")));
        assert_eq!(c(r"\u00e9x"), Ok((0xe9, true, "x")));
        assert_eq!(c("'"), Err(InvalidSyntax));
        assert_eq!(c(r#"\""#), Err(InvalidSyntax));
        assert_eq!(unquote_char("'", 0).map(|(c, _)| c.value), Ok(39));
    }

    /// Loki's lexer behaviour (Prometheus' `strutil.Unquote`).
    #[test]
    fn unquote_promql_like_prometheus() {
        assert_eq!(unquote_promql(r#""a\"b""#).unwrap(), "a\"b");
        assert_eq!(unquote_promql("'abc'").unwrap(), "abc");
        assert_eq!(unquote_promql(r"'a\'b'").unwrap(), "a'b");
        assert_eq!(unquote_promql("`a\rb`").unwrap(), "a\rb");
        assert_eq!(unquote_promql(r#""\ud800""#).unwrap(), "\u{FFFD}");
        assert_eq!(unquote_promql(r#""\u00e9\x41\101""#).unwrap(), "éAA");
        for bad in [
            "\"",
            "\"a'",
            "`a`b`",
            "\"a\nb\"",
            r#""\q""#,
            r#""\U00110000""#,
            "'\"'x",
        ] {
            assert_eq!(unquote_promql(bad), Err(InvalidSyntax), "{bad:?}");
        }
    }

    #[test]
    fn ints_like_go() {
        let ok = |s, base, want: i64| assert_eq!(parse_int(s, base), Ok(want), "{s}");
        ok("0", 0, 0);
        ok("-12", 0, -12);
        ok("+7", 0, 7);
        ok("010", 0, 8);
        ok("0x1f", 0, 31);
        ok("0X1F", 0, 31);
        ok("0o17", 0, 15);
        ok("0b101", 0, 5);
        ok("1_000", 0, 1000);
        ok("0x_1f", 0, 31);
        ok("-9223372036854775808", 0, i64::MIN);
        ok("ff", 16, 255);
        for bad in ["", "-", "1_", "_1", "1__0", "0x", "08", "1.5", "12a", "1_0"] {
            if bad == "1_0" {
                assert!(parse_int(bad, 10).is_err(), "base 10 takes no underscores");
                continue;
            }
            assert!(
                parse_int(bad, 0).unwrap_err().contains("invalid syntax"),
                "{bad}"
            );
        }
        assert_eq!(
            parse_int("9223372036854775808", 0).unwrap_err(),
            r#"strconv.ParseInt: parsing "9223372036854775808": value out of range"#
        );
    }

    #[test]
    fn floats_like_go() {
        let v = |f| format_float(f, 'g', -1);
        assert_eq!(v(25.0), "25");
        assert_eq!(v(1.6), "1.6");
        assert_eq!(v(1e8), "1e+08");
        assert_eq!(v(123456.0), "123456");
        assert_eq!(v(1234567.0), "1.234567e+06");
        assert_eq!(v(0.0001), "0.0001");
        assert_eq!(v(0.00001), "1e-05");
        assert_eq!(v(-2.5e-7), "-2.5e-07");
        assert_eq!(v(1e6), "1e+06");
        assert_eq!(v(3600.0), "3600");
        assert_eq!(v(1.5), "1.5");
        assert_eq!(v(-2.5), "-2.5");
        assert_eq!(v(1.0 / 3.0), "0.3333333333333333");
        assert_eq!(v(-0.0), "-0");
        assert_eq!(v(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_float(1.0, 'f', 6), "1.000000");
        assert_eq!(format_float(0.99, 'f', -1), "0.99");
        assert_eq!(format_float(1e21, 'f', -1), "1000000000000000000000");
        assert_eq!(format_float(1.5e6, 'e', 6), "1.500000e+06");
        assert_eq!(format_float(-1.5e-7, 'E', -1), "-1.5E-07");
        assert_eq!(format_float(1234.5678, 'g', 3), "1.23e+03");
        assert_eq!(format_float(0.5, 'g', 3), "0.5");
        assert_eq!(format_float(100.0, 'G', 2), "1E+02");
        assert_eq!(parse_float("0x1p3"), Ok(8.0));
        assert!(parse_float("0x1A").unwrap_err().contains("invalid syntax"));
        assert!(parse_float("0b1010").is_err());
        assert_eq!(parse_float("017"), Ok(17.0));
        assert!(parse_float("1e400").unwrap_err().contains("out of range"));
    }

    #[test]
    fn parse_floats_like_go() {
        assert_eq!(parse_float("200.0"), Ok(200.0));
        assert_eq!(parse_float("-5"), Ok(-5.0));
        assert_eq!(parse_float("1e3"), Ok(1000.0));
        assert_eq!(parse_float(".5"), Ok(0.5));
        assert_eq!(parse_float("0x1p-2"), Ok(0.25));
        assert!(parse_float("Inf").unwrap().is_infinite());
        assert!(parse_float("nan").unwrap().is_nan());
        assert_eq!(
            parse_float("oops").unwrap_err(),
            "strconv.ParseFloat: parsing \"oops\": invalid syntax"
        );
        assert!(parse_float("").is_err());
        assert!(parse_float("0x10").is_err());
        assert!(parse_float("1_000").is_err());
        assert!(parse_float("1e400")
            .unwrap_err()
            .contains("value out of range"));
    }
}
