//! LogQL: lexer, parser, AST, canonical printer and pretty-printer, compatible with
//! Grafana Loki 3.x (`pkg/logql/syntax`).
//!
//! # Entry points
//!
//! - [`parse_expr`]: Loki's `ParseExpr`; parses and validates any query.
//! - [`parse_sample_expr`], [`parse_log_selector`], [`parse_matchers`]: the narrower
//!   entry points, as in Loki.
//! - [`format_query`]: the canonical (`String()`) or pretty (`Prettify`) form of a query,
//!   which is what `lokal fmt` prints.
//!
//! Errors are [`ParseError`]s whose `Display` is Loki's text, e.g.
//! `parse error at line 1, col 11: syntax error: unexpected $end, expecting } or ,`.
//!
//! # The AST
//!
//! An [`Expr`] is a log query ([`LogExpr`]) or a metric query ([`SampleExpr`]).
//!
//! - [`LogExpr`]: stream [`Matcher`]s plus a pipeline of [`Stage`]s:
//!   [`Stage::LineFilter`] ([`LineFilter`]: operator, value, `or` alternatives; negated
//!   `or` chains are already split into one filter per value), [`Stage::Parser`]
//!   ([`Parser`]: json, logfmt, regexp, pattern, unpack), [`Stage::LabelFilter`]
//!   ([`LabelFilterExpr`]: an `And`/`Or` tree over string, numeric, duration, bytes and
//!   ip comparisons), [`Stage::LineFormat`], [`Stage::LabelFormat`], [`Stage::Drop`],
//!   [`Stage::Keep`], [`Stage::Decolorize`].
//! - [`SampleExpr`]: [`RangeAggregation`] over a [`LogRange`] (selector, pipeline,
//!   range, offset, optional [`Unwrap`]), [`VectorAggregation`], [`BinOp`] (with
//!   `bool` and [`VectorMatching`]), `Literal`, `Vector` and [`LabelReplace`].
//!
//! The tree is already normalised as Loki normalises it: parentheses are gone, binary
//! operators nest by Loki's precedence (`or` < `and`/`unless` < comparisons < `+ -` <
//! `* / %` < `^`, all left-associative except `^`), literal-only arithmetic is folded
//! (`5 * 5` is the literal 25, `1 > 2` is 0), vector aggregations without grouping have
//! an empty `by ()` grouping, and regexes Loki compiles at parse time are compiled
//! ([`Matcher::matches`], [`LabelReplace::compiled`]). Durations are `i64` nanoseconds.
//! Every node carries a byte [`Span`]; spans are ignored by `==`.
//!
//! `Display` on any node prints Loki's canonical `String()` form, so
//! `parse_expr(&e.to_string())` gives back an equal tree (except where Loki's own form is
//! lossy: bytes filters print `2.5KiB` as `2.6kB`, folded literals can print `NaN`/`+Inf`).
//!
//! # Differences from Loki
//!
//! - `variants(…) of (…)` (experimental in Loki 3.7, removed on Loki main) is not
//!   supported; the main-branch lexer is followed (`variants`/`of` are identifiers,
//!   `PB`/`PiB` sizes are accepted, `0x10` in a label filter is an error).
//! - Nesting deeper than [`MAX_NESTING`] levels and operator chains deeper than
//!   [`MAX_CHAIN`] are rejected (`… nests too deeply`), where Loki's yacc stack grows.
//! - Regexes are compiled with Rust's `regex` (same RE2 syntax); error texts are mapped to
//!   Go's wording, which covers the common mistakes but not every message.
//! - `group_left`/`group_right` without labels before a parenthesised operand prints as
//!   `group_left ()`: Loki's bare form would read back as the label list.
//! - When the pretty-printer splits a line filter with `or` alternatives it keeps them
//!   (Loki drops them, changing the query).

mod ast;
mod error;
pub mod hint;
mod lexer;
mod parser;
mod pretty;
mod printer;
mod regexes;

pub use ast::*;
pub use error::ParseError;
pub use hint::Explained;
pub use parser::{MAX_CHAIN, MAX_INPUT_SIZE, MAX_NESTING};
pub use pretty::{pretty, pretty_with_width, DEFAULT_WIDTH as PRETTY_WIDTH};
pub use regexes::{go_capture_names, original_capture_name};

use parser::Entry;

/// Parses and validates a LogQL query (Loki's `ParseExpr`).
pub fn parse_expr(query: &str) -> Result<Expr, ParseError> {
    parser::parse_bytes(query.as_bytes(), Entry::Expr)
}

/// Like [`parse_expr`] for raw bytes: invalid UTF-8 is reported as Loki reports it
/// (`invalid UTF-8 encoding` at the string's position).
pub fn parse_expr_bytes(query: &[u8]) -> Result<Expr, ParseError> {
    parser::parse_bytes(query, Entry::Expr)
}

/// Parses a metric query (Loki's `ParseSampleExpr`); log queries are rejected with
/// `only sample expression supported`.
pub fn parse_sample_expr(query: &str) -> Result<SampleExpr, ParseError> {
    match parse_expr(query)? {
        Expr::Sample(s) => Ok(s),
        Expr::Log(_) => Err(ParseError::semantic("only sample expression supported")),
    }
}

/// Parses a log query (Loki's `ParseLogSelector`); metric queries are rejected with
/// `only log selector is supported`. With `validate`, the selector must also pass
/// Loki's validation (at least one matcher that does not match the empty string).
pub fn parse_log_selector(query: &str, validate: bool) -> Result<LogExpr, ParseError> {
    let entry = if validate {
        Entry::Expr
    } else {
        Entry::NoValidation
    };
    let expr = parser::parse_bytes(query.as_bytes(), Entry::NoValidation)?;
    let Expr::Log(log) = expr else {
        return Err(ParseError::semantic("only log selector is supported"));
    };
    if entry == Entry::Expr {
        parser::parse_bytes(query.as_bytes(), Entry::Expr)?;
    }
    Ok(log)
}

/// Parses a bare stream selector (Loki's `ParseMatchers`); anything with a pipeline or
/// a metric query is rejected with `only label matchers are supported`.
pub fn parse_matchers(query: &str) -> Result<Vec<Matcher>, ParseError> {
    match parse_expr(query)? {
        Expr::Log(l) if l.pipeline.is_empty() => Ok(l.matchers),
        _ => Err(ParseError::semantic("only label matchers are supported")),
    }
}

/// Parses `query` and returns its canonical form (Loki's `String()`), or with `pretty`
/// the multi-line form of Loki's `syntax.Prettify`.
pub fn format_query(query: &str, pretty: bool) -> Result<String, ParseError> {
    format_query_bytes(query.as_bytes(), pretty)
}

/// [`format_query`] for raw bytes (see [`parse_expr_bytes`]).
pub fn format_query_bytes(query: &[u8], pretty_form: bool) -> Result<String, ParseError> {
    let expr = parse_expr_bytes(query)?;
    Ok(if pretty_form {
        pretty::pretty(&expr)
    } else {
        expr.to_string()
    })
}
