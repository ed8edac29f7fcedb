//! LogQL lexer, parser, AST and canonical printer.
//!
//! Placeholder API, filled in by the LogQL parser work (issue 3).

use std::fmt;

/// A LogQL parse error, printed the way Grafana Loki prints it.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    /// 1-based line, 0 when unknown (Loki prints `parse error : msg` then).
    pub line: usize,
    /// 1-based column, 0 when unknown.
    pub col: usize,
    /// The message after the position.
    pub msg: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 && self.col == 0 {
            write!(f, "parse error : {}", self.msg)
        } else {
            write!(
                f,
                "parse error at line {}, col {}: {}",
                self.line, self.col, self.msg
            )
        }
    }
}

impl std::error::Error for ParseError {}

/// Parses `query` and returns its canonical form (`pretty` = multi-line form).
pub fn format_query(query: &str, pretty: bool) -> Result<String, ParseError> {
    let _ = pretty;
    Err(ParseError {
        line: 0,
        col: 0,
        msg: format!("not implemented: {query}"),
    })
}
