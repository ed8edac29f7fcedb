//! Parse errors, printed exactly as Grafana Loki prints them.

use std::fmt;

/// A LogQL parse error.
///
/// `Display` gives Loki's text: `parse error at line L, col C: MSG`, or
/// `parse error : MSG` when both are 0 (Loki's post-parse validation errors). Like Loki,
/// `line` is 0 (with a meaningful `col`) for errors reported on a token that the lexer
/// completed by reading ahead (ranges `[5m]`, two-character operators, durations).
/// Columns count characters, starting at 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line, 0 when unknown.
    pub line: usize,
    /// 1-based column (in characters), 0 when unknown.
    pub col: usize,
    /// The message after the position.
    pub msg: String,
    /// Byte offset of the offending token in the query, when known; used to draw a caret.
    pub offset: Option<usize>,
}

impl ParseError {
    /// An error without a position (Loki's `NewParseError(msg, 0, 0)`).
    pub fn semantic(msg: impl Into<String>) -> Self {
        ParseError {
            line: 0,
            col: 0,
            msg: msg.into(),
            offset: None,
        }
    }

    /// An error at a position.
    pub fn at(line: usize, col: usize, offset: usize, msg: impl Into<String>) -> Self {
        ParseError {
            line,
            col,
            msg: msg.into(),
            offset: Some(offset),
        }
    }

    /// Renders the query with a caret under the offending character, for terminals.
    /// Returns `None` when the error has no position.
    pub fn caret(&self, query: &str) -> Option<String> {
        let offset = self.offset?.min(query.len());
        let line_start = query[..offset].rfind('\n').map(|i| i + 1).unwrap_or(0);
        let line_end = query[offset..]
            .find('\n')
            .map(|i| offset + i)
            .unwrap_or(query.len());
        let line = &query[line_start..line_end];
        let pad: String = query[line_start..offset]
            .chars()
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        Some(format!("{line}\n{pad}^"))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_like_loki() {
        let e = ParseError::at(1, 11, 10, "syntax error: unexpected $end, expecting } or ,");
        assert_eq!(
            e.to_string(),
            "parse error at line 1, col 11: syntax error: unexpected $end, expecting } or ,"
        );
        assert_eq!(ParseError::semantic("x").to_string(), "parse error : x");
        assert_eq!(
            e.caret("{foo=\"bar\"").unwrap(),
            "{foo=\"bar\"\n          ^"
        );
    }
}
