//! Go's `strings` case mapping (Go 1.22): `ToUpper`, `ToLower` and `Title`, which the
//! template functions `upper`/`ToUpper`, `lower`/`ToLower` and sprig's `title` are (and
//! Prometheus' `toUpper`, `toLower` and `title` will be).

/// Go's `strings.ToUpper`: rune by rune.
pub fn to_upper(s: &str) -> String {
    s.chars().map(|c| single(c.to_uppercase(), c)).collect()
}

/// Go's `strings.ToLower`: rune by rune.
pub fn to_lower(s: &str) -> String {
    s.chars().map(|c| single(c.to_lowercase(), c)).collect()
}

/// Go maps one rune to one rune (Unicode's simple case mapping, `unicode.ToUpper`).
/// Rust's `char` mapping is the full one; where that gives several characters
/// (`ß` → `SS`) the character is kept, which is Go's answer for `ß` (a few characters,
/// such as `İ`, have a simple mapping that this misses).
fn single(mut mapped: impl Iterator<Item = char>, c: char) -> char {
    match (mapped.next(), mapped.next()) {
        (Some(x), None) => x,
        _ => c,
    }
}

/// Go's (deprecated, but still what sprig and Prometheus call) `strings.Title`: the
/// first letter of every word upper-cased, where words are separated as Go's
/// `isSeparator` says. Go title-cases with `unicode.ToTitle`, which differs from
/// upper case only for a few digraphs (`ǆ`); this uses the upper case.
pub fn title(s: &str) -> String {
    let mut prev = ' ';
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        out.push(if is_separator(prev) {
            single(c.to_uppercase(), c)
        } else {
            c
        });
        prev = c;
    }
    out
}

/// Go's `isSeparator`: ASCII alphanumerics and `_` are not, other ASCII is; beyond
/// ASCII, letters and digits are not and spaces are.
fn is_separator(c: char) -> bool {
    if c.is_ascii() {
        !(c.is_ascii_alphanumeric() || c == '_')
    } else if c.is_alphanumeric() {
        false
    } else {
        c.is_whitespace()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_like_go() {
        assert_eq!(to_upper("héllo ß"), "HÉLLO ß");
        assert_eq!(to_lower("HÉLLO"), "héllo");
        assert_eq!(title("hello wide-world_x été"), "Hello Wide-World_x Été");
    }
}
