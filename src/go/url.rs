//! Go's `net/url` query escaping (Go 1.22): `QueryEscape` and `QueryUnescape`, behind
//! the templates' `urlquery`, `urlencode` and `urldecode`.

use std::fmt::Write as _;

/// Go's `url.QueryEscape`: `A-Z a-z 0-9 - _ . ~` stay, a space becomes `+`, every
/// other byte `%XX`.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// Go's `url.QueryUnescape`: `%XX` is a byte and `+` a space. A bad escape is Go's
/// error, `invalid URL escape "%zz"`. The bytes are returned as they are; the caller
/// decides what invalid UTF-8 becomes.
pub fn query_unescape(s: &str) -> Result<Vec<u8>, String> {
    let src = s.as_bytes();
    let mut out = Vec::with_capacity(src.len());
    let mut i = 0;
    while i < src.len() {
        match src[i] {
            b'%' => {
                let hex = src
                    .get(i + 1..i + 3)
                    .filter(|h| h.iter().all(u8::is_ascii_hexdigit));
                match hex.and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        let bad = String::from_utf8_lossy(&src[i..(i + 3).min(src.len())]);
                        return Err(format!(
                            "invalid URL escape {}",
                            super::strconv::quote(&bad)
                        ));
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_escaping_like_go() {
        assert_eq!(query_escape("a b&c=d/é~"), "a+b%26c%3Dd%2F%C3%A9~");
        assert_eq!(query_unescape("a+b%26c%3d").unwrap(), b"a b&c=");
        assert_eq!(
            query_unescape("50%zz").unwrap_err(),
            r#"invalid URL escape "%zz""#
        );
        assert_eq!(
            query_unescape("x%4").unwrap_err(),
            r#"invalid URL escape "%4""#
        );
    }
}
