//! Go's `encoding/json` string encoding (Go 1.22+), as `json.Marshal` writes a
//! string: HTML-safe (`<`, `>`, `&` as `\u003c`, `\u003e`, `\u0026`), U+2028 and
//! U+2029 escaped, control characters as `\n`, `\r`, `\t`, `\b`, `\f` or `\u00XX`.
//!
//! Loki's ruler marshals the rule expression this way into the Grafana link of every
//! alert's `generatorURL`, so a link is byte for byte Loki's only with Go's escapes
//! (`serde_json` leaves `<`, `>` and `&` as they are).

/// `s` as `json.Marshal` writes a Go string, quotes included.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_quoted(&mut out, s);
    out
}

/// Appends `s` to `out` as `json.Marshal` writes a Go string, quotes included
/// (the allocation-free form of [`quote`], for writers of many values).
pub fn push_quoted(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    // Runs of characters that need no escape are copied at once.
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let esc: Option<&str> = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            '\u{8}' => Some("\\b"),
            '\u{c}' => Some("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' | '\0'..='\u{1f}' => Some(""),
            _ => None,
        };
        let Some(esc) = esc else { continue };
        out.push_str(&s[start..i]);
        start = i + c.len_utf8();
        if esc.is_empty() {
            let n = c as u32;
            out.push_str("\\u");
            for shift in [12, 8, 4, 0] {
                out.push(HEX[((n >> shift) & 0xf) as usize] as char);
            }
        } else {
            out.push_str(esc);
        }
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Appends a Go `map[string]string` as `json.Marshal` writes it: keys in
/// sorted order (the caller's `pairs` are), both sides quoted by [`push_quoted`].
pub fn push_string_map<'a>(out: &mut String, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) {
    out.push('{');
    for (i, (k, v)) in pairs.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_quoted(out, k);
        out.push(':');
        push_quoted(out, v);
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_go_json_marshal() {
        // Go: json.Marshal(`sum(x) > 0.05 && "a"\b`) and friends.
        assert_eq!(quote(r#"a > 1 & "b""#), r#""a \u003e 1 \u0026 \"b\"""#);
        assert_eq!(
            quote("<\n\t\r\u{8}\u{c}\u{1}"),
            r#""\u003c\n\t\r\b\f\u0001""#
        );
        assert_eq!(quote("\u{2028}é\\"), r#""\u2028é\\""#);
        assert_eq!(quote("plain"), r#""plain""#);
        let mut m = String::new();
        push_string_map(&mut m, [("a", "x&y"), ("b", "<")]);
        assert_eq!(m, r#"{"a":"x\u0026y","b":"\u003c"}"#);
    }
}
