//! Go's `encoding/json` string encoding (Go 1.22+), as `json.Marshal` writes a
//! string: HTML-safe (`<`, `>`, `&` as `\u003c`, `\u003e`, `\u0026`), U+2028 and
//! U+2029 escaped, control characters as `\n`, `\r`, `\t`, `\b`, `\f` or `\u00XX`.
//!
//! Loki's ruler marshals the rule expression this way into the Grafana link of every
//! alert's `generatorURL`, so a link is byte for byte Loki's only with Go's escapes
//! (`serde_json` leaves `<`, `>` and `&` as they are).

/// `s` as `json.Marshal` writes a Go string, quotes included.
pub fn quote(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' | '\0'..='\u{1f}' => {
                let n = c as u32;
                out.push_str("\\u");
                for shift in [12, 8, 4, 0] {
                    out.push(HEX[((n >> shift) & 0xf) as usize] as char);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
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
    }
}
