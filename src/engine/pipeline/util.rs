//! Small helpers shared by the parsers: Loki's label-key sanitising and its handling of
//! invalid UTF-8 in extracted values.

/// Decodes one UTF-8 scalar at the start of `b` like Go's `utf8.DecodeRune`: an invalid
/// or truncated sequence yields `None` with width 1.
pub fn decode_rune(b: &[u8]) -> (Option<char>, usize) {
    let n = match b.first() {
        None => return (None, 0),
        Some(&c) if c < 0x80 => return (Some(c as char), 1),
        Some(&c) if c >= 0xF0 => 4,
        Some(&c) if c >= 0xE0 => 3,
        Some(&c) if c >= 0xC2 => 2,
        _ => return (None, 1),
    };
    match b.get(..n).and_then(|s| std::str::from_utf8(s).ok()) {
        Some(s) => (s.chars().next(), n),
        None => (None, 1),
    }
}

fn is_label_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Go's `strings.TrimSpace` on bytes (Unicode white space; invalid bytes are not space).
pub fn trim_space(mut b: &[u8]) -> &[u8] {
    while let (Some(c), n) = decode_rune(b) {
        if !c.is_whitespace() {
            break;
        }
        b = &b[n..];
    }
    while !b.is_empty() {
        let len = b.len();
        // Back up to the first byte of the last character.
        let mut i = len - 1;
        while i > 0 && len - i < 4 && b[i] & 0xC0 == 0x80 {
            i -= 1;
        }
        match decode_rune(&b[i..]) {
            (Some(c), n) if i + n == len && c.is_whitespace() => b = &b[..i],
            _ => break,
        }
    }
    b
}

/// True when `key` already is a valid label name (`[A-Za-z_][A-Za-z0-9_]*`),
/// which sanitizing leaves unchanged.
pub fn is_plain_name(key: &[u8]) -> bool {
    matches!(key.first(), Some(b) if b.is_ascii_alphabetic() || *b == b'_')
        && key.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
}

/// Loki's `sanitizeLabelKey(key, true)` appended to `out`: trims white space, prefixes
/// a leading digit with `_`, and maps every character outside `[a-zA-Z0-9_]` (and every
/// invalid byte) to `_`.
pub fn sanitize_key_into(key: &[u8], out: &mut Vec<u8>) {
    // Most keys already are valid label names: copy them unchanged.
    if is_plain_name(key) {
        out.extend_from_slice(key);
        return;
    }
    let key = trim_space(key);
    if key.is_empty() {
        return;
    }
    if key[0].is_ascii_digit() {
        out.push(b'_');
    }
    map_label_chars(key, out);
}

/// Loki's `appendSanitized`: like [`sanitize_key_into`] but the digit prefix is only
/// added at the start of the buffer (json key paths).
pub fn append_sanitized(out: &mut Vec<u8>, key: &[u8]) {
    let key = trim_space(key);
    if key.is_empty() {
        return;
    }
    if out.is_empty() && key[0].is_ascii_digit() {
        out.push(b'_');
    }
    map_label_chars(key, out);
}

fn map_label_chars(mut key: &[u8], out: &mut Vec<u8>) {
    while !key.is_empty() {
        let (c, n) = decode_rune(key);
        match c {
            Some(c) if is_label_char(c) => out.push(c as u8),
            _ => out.push(b'_'),
        }
        key = &key[n..];
    }
}

/// Loki replaces `utf8.RuneError` in extracted values with a space (Prometheus rejects
/// it): every invalid byte and every U+FFFD becomes `' '`. Appends to `out`.
pub fn push_lossy_spaces(mut v: &[u8], out: &mut String) {
    loop {
        match std::str::from_utf8(v) {
            Ok(s) => {
                push_replacing_fffd(s, out);
                return;
            }
            Err(e) => {
                let (good, rest) = v.split_at(e.valid_up_to());
                // SAFETY-free: `good` is valid UTF-8 by construction.
                push_replacing_fffd(std::str::from_utf8(good).unwrap_or_default(), out);
                let bad = e.error_len().unwrap_or(rest.len());
                for _ in 0..bad {
                    out.push(' ');
                }
                v = &rest[bad..];
            }
        }
    }
}

fn push_replacing_fffd(s: &str, out: &mut String) {
    // U+FFFD is EF BF BD in UTF-8: look for its first byte before a full search.
    if memchr::memchr(0xEF, s.as_bytes()).is_some() && s.contains('\u{FFFD}') {
        out.extend(s.chars().map(|c| if c == '\u{FFFD}' { ' ' } else { c }));
    } else {
        out.push_str(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn san(k: &str) -> String {
        let mut o = Vec::new();
        sanitize_key_into(k.as_bytes(), &mut o);
        String::from_utf8(o).unwrap()
    }

    #[test]
    fn sanitising() {
        assert_eq!(san("a-b"), "a_b");
        assert_eq!(san("9x"), "_9x");
        assert_eq!(san(" a.b "), "a_b");
        assert_eq!(san("é"), "_");
        assert_eq!(san("  "), "");
        let mut o = b"obj".to_vec();
        o.push(b'_');
        append_sanitized(&mut o, b"9");
        assert_eq!(o, b"obj_9");
    }

    #[test]
    fn lossy() {
        let mut s = String::new();
        push_lossy_spaces(b"a\xffb\xef\xbf\xbdc", &mut s);
        assert_eq!(s, "a b c");
    }

    #[test]
    fn trimming() {
        assert_eq!(trim_space(" \u{a0}x\u{a0} ".as_bytes()), b"x");
        assert_eq!(trim_space(b"x\xff"), b"x\xff");
    }
}
