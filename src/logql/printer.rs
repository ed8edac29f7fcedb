//! Canonical printing: `Display` on every AST node gives Loki's `String()` form.
//!
//! The forms are Loki's, quirks included: binary operations are always parenthesised,
//! `by ()` on a vector aggregation disappears, `on (x)` without a group leaves two spaces
//! before the right operand, bytes filters print `2.6kB` for `2.5KiB`.

use std::fmt::{self, Display, Formatter, Write};

use super::ast::*;
use super::regexes::label_regex_is_simplifiable;
use crate::go::duration::{format_go_duration, format_prom_duration};
use crate::go::humanize::format_bytes;
use crate::go::strconv::{format_float, quote};

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Log(l) => l.fmt(f),
            Expr::Sample(s) => s.fmt(f),
        }
    }
}

impl Display for MatchOp {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MatchOp::Eq => "=",
            MatchOp::Neq => "!=",
            MatchOp::Re => "=~",
            MatchOp::Nre => "!~",
        })
    }
}

/// Prometheus quotes label names that are not classic identifiers.
fn write_label_name(f: &mut Formatter<'_>, name: &str) -> fmt::Result {
    let classic = !name.is_empty()
        && name
            .char_indices()
            .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()));
    if classic {
        f.write_str(name)
    } else {
        f.write_str(&quote(name))
    }
}

impl Display for Matcher {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write_label_name(f, &self.name)?;
        write!(f, "{}{}", self.op, quote(&self.value))
    }
}

impl Display for LogExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_char('{')?;
        for (i, m) in self.matchers.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            m.fmt(f)?;
        }
        f.write_char('}')?;
        for s in &self.pipeline {
            f.write_char(' ')?;
            s.fmt(f)?;
        }
        Ok(())
    }
}

impl Display for LineFilterOp {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LineFilterOp::Contains => "|=",
            LineFilterOp::NotContains => "!=",
            LineFilterOp::Match => "|~",
            LineFilterOp::NotMatch => "!~",
            LineFilterOp::Pattern => "|>",
            LineFilterOp::NotPattern => "!>",
        })
    }
}

impl Display for LineMatch {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            LineMatch::Str(s) => f.write_str(&quote(s)),
            LineMatch::Ip(s) => write!(f, "ip({})", quote(s)),
        }
    }
}

impl Display for LineFilter {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.op, self.value)?;
        for alt in &self.or {
            write!(f, " or {alt}")?;
        }
        Ok(())
    }
}

fn write_extractions(f: &mut Formatter<'_>, params: &[LabelExtraction]) -> fmt::Result {
    for (i, p) in params.iter().enumerate() {
        if i > 0 {
            f.write_char(',')?;
        }
        write!(f, "{}={}", p.label, quote(&p.expr))?;
    }
    Ok(())
}

impl Display for Parser {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Parser::Json { params } if params.is_empty() => f.write_str("| json"),
            Parser::Json { params } => {
                f.write_str("| json ")?;
                write_extractions(f, params)
            }
            Parser::Logfmt {
                strict,
                keep_empty,
                params,
            } if params.is_empty() => {
                f.write_str("| logfmt")?;
                if *strict {
                    f.write_str(" --strict")?;
                }
                if *keep_empty {
                    f.write_str(" --keep-empty")?;
                }
                Ok(())
            }
            Parser::Logfmt {
                strict,
                keep_empty,
                params,
            } => {
                f.write_str("| logfmt ")?;
                if *strict {
                    f.write_str("--strict ")?;
                }
                if *keep_empty {
                    f.write_str("--keep-empty ")?;
                }
                write_extractions(f, params)
            }
            Parser::Regexp(re) => write!(f, "| regexp {}", quote(re)),
            Parser::Pattern(p) => write!(f, "| pattern {}", quote(p)),
            Parser::Unpack => f.write_str("| unpack"),
        }
    }
}

impl Display for CmpOp {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CmpOp::Eq => "==",
            CmpOp::Neq => "!=",
            CmpOp::Gt => ">",
            CmpOp::Gte => ">=",
            CmpOp::Lt => "<",
            CmpOp::Lte => "<=",
        })
    }
}

impl Display for LabelFilterExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            LabelFilterExpr::And(l, r) => write!(f, "( {l} , {r} )"),
            LabelFilterExpr::Or(l, r) => write!(f, "( {l} or {r} )"),
            LabelFilterExpr::String(m) => {
                if matches!(m.op, MatchOp::Re | MatchOp::Nre)
                    && !label_regex_is_simplifiable(&m.value)
                {
                    // Loki prints regexes its optimiser keeps as regexes in backticks.
                    if m.value.contains('`') {
                        write!(f, "{}{}{}", m.name, m.op, quote(&m.value))
                    } else {
                        write!(f, "{}{}`{}`", m.name, m.op, m.value)
                    }
                } else {
                    m.fmt(f)
                }
            }
            LabelFilterExpr::Numeric {
                name, op, value, ..
            } => {
                write!(f, "{name}{op}{}", format_float(*value, 'f', -1))
            }
            LabelFilterExpr::Duration {
                name, op, value, ..
            } => {
                write!(f, "{name}{op}{}", format_go_duration(*value))
            }
            LabelFilterExpr::Bytes {
                name, op, value, ..
            } => write!(f, "{name}{op}{}", format_bytes(*value)),
            LabelFilterExpr::Ip {
                name,
                negated,
                pattern,
                ..
            } => {
                let op = if *negated { "!=" } else { "=" };
                write!(f, "{name}{op}ip({})", quote(pattern))
            }
        }
    }
}

impl Display for LabelFmt {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.value {
            LabelFmtValue::Rename(src) => write!(f, "{}={}", self.dst, src),
            LabelFmtValue::Template(t) => write!(f, "{}={}", self.dst, quote(t)),
        }
    }
}

impl Display for NamedMatcher {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            NamedMatcher::Name(n) => f.write_str(n),
            NamedMatcher::Matcher(m) => m.fmt(f),
        }
    }
}

fn write_list<T: Display>(f: &mut Formatter<'_>, items: &[T], sep: &str) -> fmt::Result {
    for (i, it) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        it.fmt(f)?;
    }
    Ok(())
}

impl Display for Stage {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Stage::LineFilter(l) => l.fmt(f),
            Stage::Parser { parser, .. } => parser.fmt(f),
            Stage::LabelFilter { filter, .. } => write!(f, "| {filter}"),
            Stage::LineFormat { template, .. } => write!(f, "| line_format {}", quote(template)),
            Stage::LabelFormat { formats, .. } => {
                f.write_str("| label_format ")?;
                write_list(f, formats, ",")
            }
            Stage::Drop { labels, .. } => {
                f.write_str("| drop ")?;
                write_list(f, labels, ",")
            }
            Stage::Keep { labels, .. } => {
                f.write_str("| keep ")?;
                write_list(f, labels, ",")
            }
            Stage::Decolorize { .. } => f.write_str("| decolorize"),
        }
    }
}

impl Display for Conversion {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Conversion::None => "",
            Conversion::Bytes => "bytes",
            Conversion::Duration => "duration",
            Conversion::DurationSeconds => "duration_seconds",
        })
    }
}

impl Display for Unwrap {
    /// Printed with a leading space, as Loki appends it to the log expression.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.conversion {
            Conversion::None => write!(f, " | unwrap {}", self.label)?,
            c => write!(f, " | unwrap {c}({})", self.label)?,
        }
        for p in &self.post_filters {
            write!(f, " | {p}")?;
        }
        Ok(())
    }
}

impl Display for LogRange {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        self.log.fmt(f)?;
        if let Some(u) = &self.unwrap {
            u.fmt(f)?;
        }
        write!(f, "[{}]", format_prom_duration(self.range))?;
        if self.offset != 0 {
            write!(f, " offset {}", format_go_duration(self.offset))?;
        }
        Ok(())
    }
}

impl Display for Grouping {
    /// Printed with a leading space: ` by (a,b)`.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let kw = if self.without { "without" } else { "by" };
        write!(f, " {kw} ({})", self.labels.join(","))
    }
}

impl Display for RangeAggregation {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.op.name())?;
        if let Some(p) = self.param {
            write!(f, "{},", format_float(p, 'f', -1))?;
        }
        write!(f, "{})", self.log)?;
        if let Some(g) = &self.grouping {
            g.fmt(f)?;
        }
        Ok(())
    }
}

impl Display for VectorAggregation {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.op.name())?;
        if self.grouping.without || !self.grouping.labels.is_empty() {
            self.grouping.fmt(f)?;
        }
        f.write_char('(')?;
        if let Some(k) = self.param {
            write!(f, "{k},")?;
        }
        write!(f, "{})", self.inner)
    }
}

impl Display for BinOp {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let op = binop_operator(self, ",", true);
        write!(f, "({} {} {})", self.lhs, op, self.rhs)
    }
}

impl Display for LabelReplace {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "label_replace({},{},{},{},{})",
            self.inner,
            quote(&self.dst),
            quote(&self.replacement),
            quote(&self.src),
            quote(&self.regex)
        )
    }
}

impl Display for SampleExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            SampleExpr::RangeAggregation(r) => r.fmt(f),
            SampleExpr::VectorAggregation(v) => v.fmt(f),
            SampleExpr::BinOp(b) => b.fmt(f),
            SampleExpr::Literal { value, .. } => f.write_str(&format_float(*value, 'g', -1)),
            SampleExpr::Vector { value, .. } => {
                write!(f, "vector({})", format_float(*value, 'f', 6))
            }
            SampleExpr::LabelReplace(l) => l.fmt(f),
        }
    }
}

/// A binary operator with its modifiers: `op [bool] [on|ignoring (labels)
/// [group_left|group_right [(labels)]]]`. Loki's two printers differ in the
/// list separator (`String()`: `","`, `Prettify`: `", "`) and in whether an
/// empty `on ()` is printed (only `String()` does).
pub(super) fn binop_operator(b: &BinOp, sep: &str, print_empty_on: bool) -> String {
    let mut op = b.op.as_str().to_string();
    if b.bool_modifier {
        op.push_str(" bool");
    }
    if let Some(m) = &b.matching {
        if (print_empty_on && m.on) || !m.labels.is_empty() {
            let group = match &m.group {
                Group::None => String::new(),
                Group::Left(inc) | Group::Right(inc) => {
                    let kw = if matches!(m.group, Group::Left(_)) {
                        "group_left"
                    } else {
                        "group_right"
                    };
                    if inc.is_empty() && matches!(*b.rhs, SampleExpr::BinOp(_)) {
                        // Loki prints a bare `group_left`, but a parenthesised right
                        // operand would then read back as its label list.
                        format!("{kw} ()")
                    } else if inc.is_empty() {
                        kw.to_string()
                    } else {
                        format!("{kw} ({})", inc.join(sep))
                    }
                }
            };
            let kw = if m.on { "on" } else { "ignoring" };
            op = format!("{op} {kw} ({}) {group}", m.labels.join(sep));
        }
    }
    op
}
