//! Go's `strings` case mapping (Go 1.22): `ToUpper`, `ToLower` and `Title`, which the
//! template functions `upper`/`ToUpper`, `lower`/`ToLower` and sprig's `title` are, and
//! Prometheus' `toUpper` and `toLower`; Prometheus' `title` is `golang.org/x/text`'s
//! word-aware title caser ([`title_words`]).

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

/// `golang.org/x/text/cases`' `Title(language.AmericanEnglish, cases.NoLower)`, which
/// Prometheus' `title` template function is: the first cased letter of every word
/// upper-cased, the rest kept. Unlike [`title`], words follow Unicode's word
/// boundaries: an apostrophe, period or colon between letters does not end a word
/// (`o'neil.foo` → `O'neil.foo`), two of them in a row do, and digits do not start
/// one (`3rd` → `3Rd`, as the caser does).
pub fn title_words(s: &str) -> String {
    // The caser's "mid" characters (MidLetter, MidNumLet, Single_Quote).
    let is_mid = |c: char| {
        matches!(
            c,
            '\'' | '.'
                | ':'
                | '\u{b7}'
                | '\u{2018}'
                | '\u{2019}'
                | '\u{2024}'
                | '\u{fe52}'
                | '\u{ff07}'
                | '\u{ff0e}'
                | '\u{fe55}'
                | '\u{ff1a}'
                | '\u{387}'
                | '\u{5f4}'
                | '\u{2027}'
                | '\u{fe13}'
        )
    };
    let is_break = |c: char| !(c.is_alphanumeric() || c == '_' || is_mid(c) || is_mark(c));
    let mut out = String::with_capacity(s.len());
    let mut mid_word = false;
    let mut prev_mid = false;
    for c in s.chars() {
        if prev_mid && is_mid(c) {
            mid_word = false;
        }
        if c.is_lowercase() || c.is_uppercase() {
            if mid_word {
                out.push(c);
            } else {
                out.push(single(c.to_uppercase(), c));
                mid_word = true;
            }
        } else {
            out.push(c);
            if is_break(c) {
                mid_word = false;
            }
        }
        prev_mid = is_mid(c);
    }
    out
}

/// Combining marks (the common blocks), which continue a word.
fn is_mark(c: char) -> bool {
    matches!(c, '\u{300}'..='\u{36f}' | '\u{1ab0}'..='\u{1aff}' | '\u{1dc0}'..='\u{1dff}' | '\u{20d0}'..='\u{20ff}' | '\u{fe20}'..='\u{fe2f}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_like_go() {
        assert_eq!(to_upper("héllo ß"), "HÉLLO ß");
        assert_eq!(to_lower("HÉLLO"), "héllo");
        assert_eq!(title("hello wide-world_x été"), "Hello Wide-World_x Été");
        // x/text/cases: Title(AmericanEnglish, NoLower).
        assert_eq!(
            title_words("hello wide-world_x été"),
            "Hello Wide-World_x Été"
        );
        assert_eq!(
            title_words("o'neil.foo a..b eXample"),
            "O'neil.foo A..B EXample"
        );
        assert_eq!(title_words("3rd api:v1"), "3Rd Api:v1");
    }
}
