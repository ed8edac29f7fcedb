//! Multi-line pretty printing (Loki's `syntax.Prettify`).

use super::ast::Expr;

/// Pretty-prints `expr` like Loki's `syntax.Prettify`.
pub fn pretty(expr: &Expr) -> String {
    expr.to_string()
}
