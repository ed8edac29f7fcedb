//! Multi-line pretty printing, as Loki's `syntax.Prettify` (and `logcli fmt`) does.
//!
//! Each node prints on one line when its canonical form fits in the line width;
//! otherwise its children go on their own lines, indented by two spaces per level.
//! The layout follows Loki's `prettier.go` exactly (including `| decolorize` losing its
//! indentation and `on ()` disappearing), with one deliberate difference: when a line
//! filter with `or` alternatives is split, Loki drops the alternatives, which changes
//! the query's meaning; they are kept here.

use super::ast::*;
use crate::go::duration::format_prom_duration;
use crate::go::strconv::{format_float, quote};

/// Loki's `maxCharsPerLine`.
pub const DEFAULT_WIDTH: usize = 100;

/// Pretty-prints `expr` like Loki's `syntax.Prettify` (lines of at most 100 characters
/// where possible).
pub fn pretty(expr: &Expr) -> String {
    pretty_with_width(expr, DEFAULT_WIDTH)
}

/// [`pretty`] with another line width (Loki's tests use 20).
pub fn pretty_with_width(expr: &Expr, width: usize) -> String {
    let p = Pretty { width };
    match expr {
        Expr::Log(l) => p.log(l, 0),
        Expr::Sample(s) => p.sample(s, 0),
    }
}

struct Pretty {
    width: usize,
}

fn indent(level: usize) -> String {
    "  ".repeat(level)
}

impl Pretty {
    fn split(&self, canonical: &str) -> bool {
        canonical.len() > self.width
    }

    fn log(&self, l: &LogExpr, level: usize) -> String {
        let s = l.to_string();
        if l.pipeline.is_empty() || !self.split(&s) {
            return indent(level) + &s;
        }
        let selector = LogExpr {
            matchers: l.matchers.clone(),
            pipeline: vec![],
            span: l.span,
        };
        let mut out = indent(level) + &selector.to_string();
        // Consecutive line filters form one stage in Loki, printed as a chain.
        let mut i = 0;
        while i < l.pipeline.len() {
            out.push('\n');
            if let Stage::LineFilter(_) = &l.pipeline[i] {
                let mut j = i;
                while j < l.pipeline.len() && matches!(l.pipeline[j], Stage::LineFilter(_)) {
                    j += 1;
                }
                out += &self.line_filters(&l.pipeline[i..j], level + 1);
                i = j;
            } else {
                out += &self.stage(&l.pipeline[i], level + 1);
                i += 1;
            }
        }
        out
    }

    fn line_filters(&self, chain: &[Stage], level: usize) -> String {
        let text: Vec<String> = chain.iter().map(|s| s.to_string()).collect();
        let joined = text.join(" ");
        if !self.split(&joined) || chain.len() == 1 {
            return indent(level) + &joined;
        }
        let (last, rest) = text.split_last().expect("non-empty chain");
        let mut out = self.line_filters(&chain[..rest.len()], level);
        out.push('\n');
        out += &indent(level);
        out += last;
        out
    }

    fn stage(&self, s: &Stage, level: usize) -> String {
        match s {
            // Loki prints `| decolorize` without indentation.
            Stage::Decolorize { .. } => s.to_string(),
            _ => indent(level) + &s.to_string(),
        }
    }

    fn unwrap(&self, u: &Unwrap, level: usize) -> String {
        let mut s = indent(level);
        match u.conversion {
            Conversion::None => s += &format!("| unwrap {}", u.label),
            c => s += &format!("| unwrap {c}({})", u.label),
        }
        for f in &u.post_filters {
            s += &format!("\n{}| {f}", indent(level));
        }
        s
    }

    fn log_range(&self, r: &LogRange, level: usize) -> String {
        let mut s = self.log(&r.log, level);
        if let Some(u) = &r.unwrap {
            s.push('\n');
            s += &self.unwrap(u, level + 1);
        }
        s += &format!(" [{}]", format_prom_duration(r.range));
        if r.offset != 0 {
            s += &format!(" offset {}", format_prom_duration(r.offset));
        }
        s
    }

    fn grouping(g: &Grouping) -> String {
        let mut s = String::new();
        if g.without {
            s += " without";
        } else if !g.labels.is_empty() {
            s += " by";
        }
        if !g.labels.is_empty() {
            s += &format!(" ({})", g.labels.join(", "));
        }
        s
    }

    fn args(level: usize, params: Vec<String>) -> String {
        let mut s = String::from("(\n");
        let n = params.len();
        for (i, p) in params.into_iter().enumerate() {
            s += &p;
            if i + 1 < n {
                s.push(',');
            }
            s.push('\n');
        }
        s + &indent(level) + ")"
    }

    fn sample(&self, e: &SampleExpr, level: usize) -> String {
        let canonical = e.to_string();
        if !self.split(&canonical) {
            return indent(level) + &canonical;
        }
        match e {
            SampleExpr::Literal { .. } | SampleExpr::Vector { .. } => indent(level) + &canonical,
            SampleExpr::RangeAggregation(r) => {
                let mut s = indent(level) + r.op.name() + "(\n";
                if let Some(p) = r.param {
                    s += &format!("{}{},\n", indent(level + 1), format_float(p, 'g', -1));
                }
                s += &self.log_range(&r.log, level + 1);
                s += &format!("\n{})", indent(level));
                if let Some(g) = &r.grouping {
                    s += &Self::grouping(g);
                }
                s
            }
            SampleExpr::VectorAggregation(v) => {
                let inner = self.sample(&v.inner, level + 1);
                let params = match v.param {
                    Some(k) => vec![format!("{}{k}", indent(level + 1)), inner],
                    None => vec![inner],
                };
                indent(level)
                    + v.op.name()
                    + &Self::grouping(&v.grouping)
                    + &Self::args(level, params)
            }
            SampleExpr::BinOp(b) => {
                let op = super::printer::binop_operator(b, ", ", false);
                format!(
                    "{}\n{}{}\n{}",
                    self.sample(&b.lhs, level + 1),
                    indent(level),
                    op,
                    self.sample(&b.rhs, level + 1)
                )
            }
            SampleExpr::LabelReplace(l) => {
                let i1 = indent(level + 1);
                let params = vec![
                    self.sample(&l.inner, level + 1),
                    format!("{i1}{}", quote(&l.dst)),
                    format!("{i1}{}", quote(&l.replacement)),
                    format!("{i1}{}", quote(&l.src)),
                    format!("{i1}{}", quote(&l.regex)),
                ];
                indent(level) + "label_replace" + &Self::args(level, params)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logql::parse_expr;

    fn p20(q: &str) -> String {
        pretty_with_width(&parse_expr(q).unwrap(), 20)
    }

    #[test]
    fn pipeline_split() {
        assert_eq!(
            p20(r#"{job="loki", instance="localhost"}|logfmt|level="error" "#),
            "{job=\"loki\", instance=\"localhost\"}\n  | logfmt\n  | level=\"error\""
        );
    }

    #[test]
    fn binop_split() {
        let q = r#"sum(rate({job="loki"}[5m])) * on(instance, job) group_left (node) sum(rate({job="loki-prod"}[5m]))"#;
        let want = "  sum(\n    rate(\n      {job=\"loki\"} [5m]\n    )\n  )\n* on (instance, job) group_left (node)\n  sum(\n    rate(\n      {job=\"loki-prod\"} [5m]\n    )\n  )";
        assert_eq!(p20(q), want);
    }
}
