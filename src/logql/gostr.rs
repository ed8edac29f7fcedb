//! Go-compatible string and number conversions.
//!
//! Loki's canonical forms and error texts are produced by Go's `strconv` and `fmt`
//! packages; printing `"\t"` or `1e+08` any other way would make `lokal fmt` disagree with
//! Loki. These helpers reproduce exactly the behaviour the printer and lexer need.

/// Quotes `s` the way Go's `strconv.Quote` does.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if is_go_print(c) => out.push(c),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// An approximation of Go's `strconv.IsPrint`: letters, marks, numbers, punctuation,
/// symbols and the ASCII space. Control, format, private-use and non-ASCII space
/// characters are escaped by `strconv.Quote`.
fn is_go_print(c: char) -> bool {
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

/// Error of [`unquote`]; Go's `strconv.ErrSyntax` prints as `invalid syntax`.
#[derive(Debug, PartialEq)]
pub struct InvalidSyntax;

/// Unquotes a LogQL string literal as Prometheus' `strutil.Unquote` does: `"…"` and
/// `'…'` with Go escapes, `` `…` `` raw. Escapes that produce bytes which are not
/// valid UTF-8 (e.g. `\xff`) are replaced with U+FFFD, since Rust strings must be UTF-8.
pub fn unquote(s: &str) -> Result<String, InvalidSyntax> {
    let bytes = s.as_bytes();
    if bytes.len() < 2 {
        return Err(InvalidSyntax);
    }
    let quote = bytes[0];
    if bytes[bytes.len() - 1] != quote {
        return Err(InvalidSyntax);
    }
    let body = &s[1..s.len() - 1];
    match quote {
        b'`' => {
            if body.contains('`') {
                return Err(InvalidSyntax);
            }
            Ok(body.to_string())
        }
        b'"' | b'\'' => {
            if body.contains('\n') {
                return Err(InvalidSyntax);
            }
            if !body.contains('\\') && !body.contains(quote as char) {
                return Ok(body.to_string());
            }
            let mut out: Vec<u8> = Vec::with_capacity(body.len());
            let mut chars = body.char_indices().peekable();
            while let Some((_, c)) = chars.next() {
                if c == quote as char {
                    return Err(InvalidSyntax);
                }
                if c != '\\' {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    continue;
                }
                let Some((_, e)) = chars.next() else {
                    return Err(InvalidSyntax);
                };
                let simple = match e {
                    'a' => Some(7u8),
                    'b' => Some(8),
                    'f' => Some(12),
                    'n' => Some(b'\n'),
                    'r' => Some(b'\r'),
                    't' => Some(b'\t'),
                    'v' => Some(11),
                    '\\' => Some(b'\\'),
                    '\'' | '"' if e == quote as char => Some(e as u8),
                    _ => None,
                };
                if let Some(b) = simple {
                    out.push(b);
                    continue;
                }
                match e {
                    'x' | 'u' | 'U' => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let mut v: u32 = 0;
                        for _ in 0..n {
                            let Some((_, d)) = chars.next() else {
                                return Err(InvalidSyntax);
                            };
                            let d = d.to_digit(16).ok_or(InvalidSyntax)?;
                            v = v * 16 + d;
                        }
                        if e == 'x' {
                            out.push(v as u8);
                        } else {
                            let c = char::from_u32(v).ok_or(InvalidSyntax)?;
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                        }
                    }
                    '0'..='7' => {
                        let mut v = e.to_digit(8).unwrap_or(0);
                        for _ in 0..2 {
                            let Some((_, d)) = chars.next() else {
                                return Err(InvalidSyntax);
                            };
                            v = v * 8 + d.to_digit(8).ok_or(InvalidSyntax)?;
                        }
                        if v > 255 {
                            return Err(InvalidSyntax);
                        }
                        out.push(v as u8);
                    }
                    _ => return Err(InvalidSyntax),
                }
            }
            Ok(match String::from_utf8(out) {
                Ok(s) => s,
                Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
            })
        }
        _ => Err(InvalidSyntax),
    }
}

/// `strconv.ParseFloat(s, 64)`: decimal floats, `inf`/`infinity`/`nan`, hexadecimal
/// floats with a `p` exponent. Overflow is an error, as in Go.
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

/// Formats a float like Go's `fmt.Sprint(f)` (`%v`, i.e. `%g` with the shortest
/// precision): plain digits for decimal exponents -4..=5, `d.ddde±XX` otherwise.
pub fn format_float_v(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    // Rust's `{:e}` gives the shortest round-tripping digits.
    let sci = format!("{:e}", f);
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (neg, mant) = match mant.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mant),
    };
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if !(-4..6).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.abs()));
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(&digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
    out
}

/// Formats a float like Go's `strconv.FormatFloat(f, 'f', -1, 64)`.
pub fn format_float_f(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    format!("{}", f)
}

/// Formats a float like Go's `fmt.Sprintf("%f", f)`.
pub fn format_float_6(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    format!("{:.6}", f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_like_go() {
        assert_eq!(quote("a\"b\\c\n\t"), r#""a\"b\\c\n\t""#);
        assert_eq!(quote("\u{1}"), r#""\x01""#);
        assert_eq!(quote("é"), "\"é\"");
        assert_eq!(quote("\u{a0}"), r#""\u00a0""#);
    }

    #[test]
    fn unquote_variants() {
        assert_eq!(unquote(r#""a\"b""#).unwrap(), "a\"b");
        assert_eq!(unquote(r"`a\w`").unwrap(), r"a\w");
        assert_eq!(unquote(r#""\u00e9\x41\101""#).unwrap(), "éAA");
        assert!(unquote(r#""\ud800""#).is_err());
    }

    #[test]
    fn floats_like_go() {
        assert_eq!(format_float_v(25.0), "25");
        assert_eq!(format_float_v(1.6), "1.6");
        assert_eq!(format_float_v(1e8), "1e+08");
        assert_eq!(format_float_v(123456.0), "123456");
        assert_eq!(format_float_v(1234567.0), "1.234567e+06");
        assert_eq!(format_float_v(0.0001), "0.0001");
        assert_eq!(format_float_v(0.00001), "1e-05");
        assert_eq!(format_float_v(-2.5e-7), "-2.5e-07");
        assert_eq!(format_float_6(1.0), "1.000000");
        assert_eq!(format_float_f(0.99), "0.99");
        assert_eq!(parse_float("0x1p3"), Ok(8.0));
        assert!(parse_float("0x1A").unwrap_err().contains("invalid syntax"));
        assert!(parse_float("0b1010").is_err());
        assert_eq!(parse_float("017"), Ok(17.0));
        assert!(parse_float("1e400").unwrap_err().contains("out of range"));
    }
}
