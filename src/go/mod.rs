//! Ports of the Go behaviour that Loki's observable output depends on.
//!
//! Loki is written in Go, and much of what a user sees from it comes straight out of
//! Go's standard library and a few Go packages: label values quoted by
//! `strconv.Quote`, durations printed by `time.Duration.String`, `line_format`
//! templates run by `text/template` with `fmt.Sprintf` behind `printf`, `toDate`
//! reading Go reference layouts. lokal answers like Loki only if it does these the
//! same way, so each of them is ported once, here, and everything else calls it.
//!
//! This module depends on nothing else in the crate (std and crates only), so it sits
//! at the bottom of the module graph: `logql`, `engine`, `ingest`, the CLI (and later
//! the ruler's templates) all build on it, never the other way round.
//!
//! | module | ports |
//! |---|---|
//! | [`strconv`] | Go `strconv` (quoting, `Unquote`, `ParseInt`, `ParseFloat`, `FormatFloat`) and Prometheus' `strutil.Unquote` |
//! | [`duration`] | Go `time.ParseDuration`/`Duration.String`, Prometheus `model.ParseDuration`/`Duration.String` |
//! | [`humanize`] | go-humanize `ParseBytes`/`Bytes` |
//! | [`fmt`] | Go `fmt.Sprint`/`Sprintln`/`Sprintf` |
//! | [`json`] | Go `encoding/json`'s string encoding (HTML-safe escapes) |
//! | [`time`] | Go time layouts (`2006-01-02T15:04:05Z07:00`): the tokenizer, `Time.Format`, `time.ParseInLocation` |
//! | [`url`] | Go `net/url` `QueryEscape`/`QueryUnescape` |
//! | [`strings`] | Go `strings.ToUpper`/`ToLower`/`Title` |
//! | [`template`] | Go `text/template`: lexer, parser, executor, values and a pluggable function table |
//!
//! The ports follow Go 1.22–1.24 (what Loki 3.x is built with), Prometheus common
//! `model` and go-humanize v1. Where a port knowingly differs from Go (mostly because
//! Rust strings must be UTF-8), the item's documentation says so.

// Every public item of the compatibility layer says what it ports.
#![warn(missing_docs)]

pub mod duration;
pub mod fmt;
pub mod humanize;
pub mod json;
pub mod strconv;
pub mod strings;
pub mod template;
pub mod time;
pub mod url;

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// `go` is the bottom layer: nothing in it may name the rest of the crate (code, doc
    /// links or doctests), so no cycle can form through it.
    #[test]
    fn depends_on_nothing_else_in_the_crate() {
        fn check(dir: &Path, bad: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    check(&path, bad);
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                for (i, line) in text.lines().enumerate() {
                    // Spelt in two parts so that this line does not match itself.
                    for prefix in ["crate", "lokal"].map(|c| format!("{c}::")) {
                        let outside = line
                            .match_indices(prefix.as_str())
                            .any(|(at, _)| !line[at + prefix.len()..].starts_with("go::"));
                        if outside {
                            bad.push(format!("{}:{}: {}", path.display(), i + 1, line.trim()));
                        }
                    }
                }
            }
        }
        let mut bad = Vec::new();
        check(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/go"),
            &mut bad,
        );
        assert!(
            bad.is_empty(),
            "go/ must not depend on the rest of lokal:\n{}",
            bad.join("\n")
        );
    }
}
