//! The LogQL parser: hand-written recursive descent following Loki's yacc grammar
//! (`syntax.y`), with operator-precedence loops for binary operators and label filters.
//!
//! Errors come in three kinds, reported in Loki's order:
//! - lexical and syntax errors, with a position (the first one wins);
//! - semantic errors Loki raises *while* parsing (it panics and recovers): invalid
//!   matcher regexes, invalid `regexp`/`pattern` parser arguments; they abort at once;
//! - semantic errors Loki finds in its post-parse validation (`validateExpr`): wrong
//!   aggregation parameters, unwrap misuse, selectors that match everything, literal
//!   operands of set operators, … These are collected while building the tree and the
//!   first one in Loki's validation order (a node before its children, left before right)
//!   is reported after a successful parse.
//!
//! Nesting (parentheses, aggregations) is limited to [`MAX_NESTING`] levels and operator
//! chains to [`MAX_CHAIN`] levels, so that neither parsing nor printing nor dropping a
//! tree can exhaust the stack.

use std::collections::VecDeque;

use super::ast::*;
use super::error::ParseError;
use super::lexer::{FuncTok, Lexer, Tok, Token};
use super::regexes;
use crate::go::strconv;

/// Maximum nesting of parentheses, aggregations and function calls.
pub const MAX_NESTING: usize = 256;
/// Maximum depth of a binary-operator or label-filter tree.
pub const MAX_CHAIN: usize = 256;
/// Loki's maximum query length in bytes (`maxInputSize`).
pub const MAX_INPUT_SIZE: usize = 131072;

type PResult<T> = Result<T, ParseError>;

/// A metric expression under construction, with the first validation error of its
/// subtree (in Loki's validation order) and its tree depth.
struct Checked {
    expr: SampleExpr,
    deferred: Option<ParseError>,
    depth: usize,
}

/// What an operand of a binary operator can be: Loki's grammar lets log expressions
/// appear there and rejects them only in validation.
enum Node {
    Log(LogExpr),
    Sample(Box<Checked>),
}

impl Node {
    fn span(&self) -> Span {
        match self {
            Node::Log(l) => l.span,
            Node::Sample(c) => c.expr.span(),
        }
    }
}

/// A binary operator waiting for its right operand.
struct PendingOp {
    op: BinOpKind,
    bool_modifier: bool,
    matching: Option<VectorMatching>,
}

/// Operand and operator stacks of the binary-expression loop.
struct ExprStack {
    operands: Vec<Node>,
    ops: Vec<PendingOp>,
}

impl ExprStack {
    /// Combines the top operator with its operands; returns the new node's depth.
    fn reduce(&mut self) -> usize {
        let p = self.ops.pop().expect("operator");
        let r = self.operands.pop().expect("rhs");
        let l = self.operands.pop().expect("lhs");
        let c = make_binop(p.op, l, r, p.bool_modifier, p.matching);
        let d = c.depth;
        self.operands.push(Node::Sample(Box::new(c)));
        d
    }
}

/// What comes before a vector aggregation's argument: start offset, grouping, parameter.
type AggHead = (usize, Option<Grouping>, Option<String>);

/// Operands that start with a function name or a number.
#[derive(Clone, Copy)]
enum SampleKind {
    Range(RangeOp),
    Vector(VectorOp),
    LabelReplace,
    VectorFn,
    Literal,
}

/// The parser state.
pub(crate) struct QueryParser<'a> {
    lx: Lexer<'a>,
    ahead: VecDeque<Token>,
    last_end: usize,
    nesting: usize,
}

fn placeholder(span: Span) -> SampleExpr {
    SampleExpr::Literal {
        value: f64::NAN,
        span,
    }
}

fn checked(expr: SampleExpr, deferred: Option<ParseError>, depth: usize) -> Checked {
    Checked {
        expr,
        deferred,
        depth,
    }
}

/// Loki's `validateMatchers`: at least one matcher must not match the empty string.
fn check_matchers(matchers: &[Matcher]) -> Option<ParseError> {
    if matchers.iter().any(|m| !m.matches("")) {
        None
    } else {
        Some(ParseError::semantic(
            "queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will",
        ))
    }
}

fn binop_of(t: &Tok) -> Option<BinOpKind> {
    let Tok::Kw(k) = t else { return None };
    Some(match *k {
        "or" => BinOpKind::Or,
        "and" => BinOpKind::And,
        "unless" => BinOpKind::Unless,
        "+" => BinOpKind::Add,
        "-" => BinOpKind::Sub,
        "*" => BinOpKind::Mul,
        "/" => BinOpKind::Div,
        "%" => BinOpKind::Mod,
        "^" => BinOpKind::Pow,
        "==" => BinOpKind::CmpEq,
        "!=" => BinOpKind::Neq,
        ">" => BinOpKind::Gt,
        ">=" => BinOpKind::Gte,
        "<" => BinOpKind::Lt,
        "<=" => BinOpKind::Lte,
        _ => return None,
    })
}

fn line_filter_op(t: &Tok) -> Option<LineFilterOp> {
    let Tok::Kw(k) = t else { return None };
    Some(match *k {
        "|=" => LineFilterOp::Contains,
        "!=" => LineFilterOp::NotContains,
        "|~" => LineFilterOp::Match,
        "!~" => LineFilterOp::NotMatch,
        "|>" => LineFilterOp::Pattern,
        "!>" => LineFilterOp::NotPattern,
        _ => return None,
    })
}

/// Folds a binary operation on two literals as Loki's `MergeBinOp` does.
fn fold(op: BinOpKind, l: f64, r: f64) -> f64 {
    let b = |c: bool| if c { 1.0 } else { 0.0 };
    match op {
        BinOpKind::Add => l + r,
        BinOpKind::Sub => l - r,
        BinOpKind::Mul => l * r,
        BinOpKind::Div => {
            if r == 0.0 {
                f64::NAN
            } else {
                l / r
            }
        }
        BinOpKind::Mod => {
            if r == 0.0 {
                f64::NAN
            } else {
                l % r
            }
        }
        BinOpKind::Pow => l.powf(r),
        BinOpKind::CmpEq => b(l == r),
        BinOpKind::Neq => b(l != r),
        BinOpKind::Gt => b(l > r),
        BinOpKind::Gte => b(l >= r),
        BinOpKind::Lt => b(l < r),
        BinOpKind::Lte => b(l <= r),
        // Set operators on literals are rejected before folding.
        BinOpKind::Or | BinOpKind::And | BinOpKind::Unless => f64::NAN,
    }
}

/// Go's `%T` of a log expression operand, as it appears in Loki's error text.
fn go_type(l: &LogExpr) -> &'static str {
    if l.pipeline.is_empty() {
        "*syntax.MatchersExpr"
    } else {
        "*syntax.PipelineExpr"
    }
}

/// Builds a binary operation like Loki's `mustNewBinOpExpr`.
fn make_binop(
    op: BinOpKind,
    lhs: Node,
    rhs: Node,
    bool_modifier: bool,
    matching: Option<VectorMatching>,
) -> Checked {
    let span = lhs.span().to(rhs.span());
    let o = op.as_str();
    let (l, r) = match (lhs, rhs) {
        (Node::Log(l), _) => {
            let e = format!(
                "unexpected type for left leg of binary operation ({o}): {}",
                go_type(&l)
            );
            return checked(placeholder(span), Some(ParseError::semantic(e)), 1);
        }
        (_, Node::Log(r)) => {
            let e = format!(
                "unexpected type for right leg of binary operation ({o}): {}",
                go_type(&r)
            );
            return checked(placeholder(span), Some(ParseError::semantic(e)), 1);
        }
        (Node::Sample(l), Node::Sample(r)) => (*l, *r),
    };
    let depth = l.depth.max(r.depth) + 1;
    let lit = |c: &Checked| match c.expr {
        SampleExpr::Literal { value, .. } => Some(value),
        _ => None,
    };
    let (lv, rv) = (lit(&l), lit(&r));
    // A literal leg that failed to parse makes the whole operation fail with its error.
    if lv.is_some() && l.deferred.is_some() {
        return checked(placeholder(span), l.deferred, depth);
    }
    if rv.is_some() && r.deferred.is_some() {
        return checked(placeholder(span), r.deferred, depth);
    }
    if op.is_set_op() {
        if let Some(v) = lv {
            let e = format!(
                "unexpected literal for left leg of logical/set binary operation ({o}): {}",
                strconv::format_float(v, 'f', 6)
            );
            return checked(placeholder(span), Some(ParseError::semantic(e)), depth);
        }
        if let Some(v) = rv {
            let e = format!(
                "unexpected literal for right leg of logical/set binary operation ({o}): {}",
                strconv::format_float(v, 'f', 6)
            );
            return checked(placeholder(span), Some(ParseError::semantic(e)), depth);
        }
    }
    if let (Some(a), Some(b)) = (lv, rv) {
        return checked(
            SampleExpr::Literal {
                value: fold(op, a, b),
                span,
            },
            None,
            1,
        );
    }
    let deferred = l.deferred.or(r.deferred);
    let expr = SampleExpr::BinOp(BinOp {
        op,
        lhs: Box::new(l.expr),
        rhs: Box::new(r.expr),
        bool_modifier,
        matching,
        span,
    });
    checked(expr, deferred, depth)
}

/// A label-filter operator in the precedence loop.
#[derive(Clone, Copy, PartialEq)]
enum LfOp {
    Or,
    And,
    /// `,` or juxtaposition: an `and` whose right side extends over everything after it.
    Comma,
}

impl LfOp {
    /// Precedence when the operator arrives.
    fn incoming(self) -> u8 {
        match self {
            LfOp::Or => 1,
            LfOp::And => 2,
            LfOp::Comma => 3,
        }
    }

    /// Precedence while the operator waits for its right side. Loki's grammar gives `,`
    /// and juxtaposition no precedence, so yacc always shifts after them: their right
    /// side absorbs every later operator (`a , b or c` is `a , (b or c)`).
    fn waiting(self) -> u8 {
        match self {
            LfOp::Or => 1,
            LfOp::And => 2,
            LfOp::Comma => 0,
        }
    }
}

/// Operand (with tree depth) and operator stacks of the label-filter loop.
struct LfStack {
    operands: Vec<(Box<LabelFilterExpr>, usize)>,
    ops: Vec<LfOp>,
}

impl LfStack {
    /// Combines the top operator with its operands; returns the new node's depth.
    fn reduce(&mut self) -> usize {
        let op = self.ops.pop().expect("operator");
        let (r, dr) = self.operands.pop().expect("rhs");
        let (l, dl) = self.operands.pop().expect("lhs");
        let depth = dl.max(dr) + 1;
        let node = match op {
            LfOp::Or => LabelFilterExpr::Or(l, r),
            LfOp::And | LfOp::Comma => LabelFilterExpr::And(l, r),
        };
        self.operands.push((Box::new(node), depth));
        depth
    }
}

impl<'a> QueryParser<'a> {
    pub(crate) fn new(src: &'a [u8]) -> Self {
        QueryParser {
            lx: Lexer::new(src),
            ahead: VecDeque::new(),
            last_end: 0,
            nesting: 0,
        }
    }

    fn fill(&mut self, n: usize) {
        while self.ahead.len() <= n {
            let t = self.lx.next_token();
            self.ahead.push_back(t);
        }
    }

    fn peek(&mut self) -> &Token {
        self.fill(0);
        &self.ahead[0]
    }

    fn peek_tok(&mut self) -> &Tok {
        &self.peek().tok
    }

    fn peek2_tok(&mut self) -> &Tok {
        self.fill(1);
        &self.ahead[1].tok
    }

    fn bump(&mut self) -> Token {
        self.fill(0);
        let t = self.ahead.pop_front().expect("filled");
        self.last_end = t.end;
        t
    }

    fn at_kw(&mut self, k: &str) -> bool {
        matches!(self.peek_tok(), Tok::Kw(x) if *x == k)
    }

    /// A syntax error at the next token, in yacc's words. `expected` lists what the
    /// grammar could shift there, as yacc does when there are at most four choices.
    fn unexpected(&mut self, expected: &[&str]) -> ParseError {
        if let Some((l, c, o, m)) = self.lx.error() {
            return ParseError::at(*l, *c, *o, m.clone());
        }
        let t = self.peek().clone();
        let mut msg = format!("syntax error: unexpected {}", t.tok.yacc_name());
        if !expected.is_empty() && expected.len() <= 4 {
            msg.push_str(", expecting ");
            msg.push_str(&expected.join(" or "));
        }
        ParseError::at(t.line, t.col, t.start, msg)
    }

    fn expect_kw(&mut self, k: &str, expected: &[&str]) -> PResult<Token> {
        if self.at_kw(k) {
            Ok(self.bump())
        } else {
            Err(self.unexpected(expected))
        }
    }

    fn expect_ident(&mut self, expected: &[&str]) -> PResult<(String, Span)> {
        if let Tok::Ident(_) = self.peek_tok() {
            let t = self.bump();
            let Tok::Ident(s) = t.tok else { unreachable!() };
            Ok((s, Span::new(t.start, t.end)))
        } else {
            Err(self.unexpected(expected))
        }
    }

    fn expect_str(&mut self, expected: &[&str]) -> PResult<String> {
        if let Tok::Str(_) = self.peek_tok() {
            let Tok::Str(s) = self.bump().tok else {
                unreachable!()
            };
            Ok(s)
        } else {
            Err(self.unexpected(expected))
        }
    }

    fn enter(&mut self) -> PResult<()> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            let t = self.peek().clone();
            return Err(ParseError::at(
                t.line,
                t.col,
                t.start,
                format!(
                    "syntax error: expression nests too deeply (more than {MAX_NESTING} levels)"
                ),
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.nesting -= 1;
    }

    fn too_long_chain(&mut self, start: usize) -> ParseError {
        let _ = start;
        let t = self.peek().clone();
        ParseError::at(
            t.line,
            t.col,
            t.start,
            format!("syntax error: operator chain nests too deeply (more than {MAX_CHAIN} levels)"),
        )
    }

    /// Parses a whole query: Loki's `ParseExprWithoutValidation`, plus the deferred
    /// validation error (returned separately so entry points can choose to validate).
    fn parse_root(&mut self) -> PResult<(Node, Option<ParseError>)> {
        let node = self.parse_expr()?;
        if self.peek_tok() != &Tok::Eof {
            return Err(self.unexpected(&[]));
        }
        if let Some((l, c, o, m)) = self.lx.error() {
            return Err(ParseError::at(*l, *c, *o, m.clone()));
        }
        let deferred = match &node {
            Node::Log(l) => check_matchers(&l.matchers),
            Node::Sample(c) => c.deferred.clone(),
        };
        Ok((node, deferred))
    }

    // ---------------------------------------------------------------- expressions

    /// `expr`: operands joined by binary operators, by precedence (shunting-yard, so
    /// long chains do not recurse). This frame is on the stack once per nesting level,
    /// so the work is done in out-of-line helpers and the frame stays small.
    fn parse_expr(&mut self) -> PResult<Node> {
        let mut st = ExprStack {
            operands: Vec::new(),
            ops: Vec::new(),
        };
        let first = self.parse_operand()?;
        st.operands.push(first);
        while self.push_operator(&mut st)? {
            let n = self.parse_operand()?;
            st.operands.push(n);
        }
        self.finish_expr(st)
    }

    /// If a binary operator follows, reduces what binds tighter, consumes the operator
    /// and its modifiers, and returns `true`.
    #[inline(never)]
    fn push_operator(&mut self, st: &mut ExprStack) -> PResult<bool> {
        let Some(op) = binop_of(self.peek_tok()) else {
            return Ok(false);
        };
        let start = self.peek().start;
        while let Some(top) = st.ops.last() {
            let (pt, pn) = (top.op.precedence(), op.precedence());
            // `^` is right-associative; everything else is left-associative.
            if pt > pn || (pt == pn && op != BinOpKind::Pow) {
                if st.reduce() > MAX_CHAIN {
                    return Err(self.too_long_chain(start));
                }
            } else {
                break;
            }
        }
        self.bump();
        let (bool_modifier, matching) = self.parse_binop_modifiers()?;
        st.ops.push(PendingOp {
            op,
            bool_modifier,
            matching,
        });
        if st.ops.len() > MAX_CHAIN {
            return Err(self.too_long_chain(start));
        }
        Ok(true)
    }

    #[inline(never)]
    fn finish_expr(&mut self, mut st: ExprStack) -> PResult<Node> {
        while !st.ops.is_empty() {
            if st.reduce() > MAX_CHAIN {
                return Err(self.too_long_chain(0));
            }
        }
        Ok(st.operands.pop().expect("one operand"))
    }

    /// `[bool] [on|ignoring (labels) [group_left|group_right [(labels)]]]`
    fn parse_binop_modifiers(&mut self) -> PResult<(bool, Option<VectorMatching>)> {
        let bool_modifier = if self.at_kw("bool") {
            self.bump();
            true
        } else {
            false
        };
        let on = if self.at_kw("on") {
            true
        } else if self.at_kw("ignoring") {
            false
        } else {
            return Ok((bool_modifier, None));
        };
        self.bump();
        self.expect_kw("(", &["("])?;
        let labels = self.parse_label_list()?;
        let mut group = Group::None;
        let left = self.at_kw("group_left");
        if left || self.at_kw("group_right") {
            self.bump();
            let include = if self.at_kw("(") {
                self.bump();
                self.parse_label_list()?
            } else {
                vec![]
            };
            group = if left {
                Group::Left(include)
            } else {
                Group::Right(include)
            };
        }
        Ok((bool_modifier, Some(VectorMatching { on, labels, group })))
    }

    /// After `(`: `)` or `ident, … )`.
    fn parse_label_list(&mut self) -> PResult<Vec<String>> {
        let mut labels = vec![];
        if self.at_kw(")") {
            self.bump();
            return Ok(labels);
        }
        labels.push(self.expect_ident(&["IDENTIFIER", ")"])?.0);
        loop {
            if self.at_kw(",") {
                self.bump();
                labels.push(self.expect_ident(&["IDENTIFIER"])?.0);
            } else if self.at_kw(")") {
                self.bump();
                return Ok(labels);
            } else {
                return Err(self.unexpected(&[",", ")"]));
            }
        }
    }

    /// One operand of a binary expression. Kept small, with each alternative in its own
    /// function, because this frame is on the stack once per nesting level.
    fn parse_operand(&mut self) -> PResult<Node> {
        enum Kind {
            Log,
            Paren,
            Sample(SampleKind),
            Other,
        }
        let kind = match self.peek_tok() {
            Tok::Kw("{") => Kind::Log,
            Tok::Kw("(") => Kind::Paren,
            Tok::Func(FuncTok::Range(op)) => Kind::Sample(SampleKind::Range(*op)),
            Tok::Func(FuncTok::Vector(op)) => Kind::Sample(SampleKind::Vector(*op)),
            Tok::Func(FuncTok::LabelReplace) => Kind::Sample(SampleKind::LabelReplace),
            Tok::Func(FuncTok::VectorFn) => Kind::Sample(SampleKind::VectorFn),
            Tok::Number(_) | Tok::Kw("+") | Tok::Kw("-") => Kind::Sample(SampleKind::Literal),
            _ => Kind::Other,
        };
        match kind {
            Kind::Log => self.parse_log_operand(),
            Kind::Paren => self.parse_paren(),
            Kind::Other => self.unexpected_operand(),
            Kind::Sample(k) => self.parse_sample_operand(k),
        }
    }

    /// Aggregations, functions and literals, boxed so callers' frames stay small.
    #[inline(never)]
    fn parse_sample_operand(&mut self, k: SampleKind) -> PResult<Node> {
        self.enter()?;
        let c = match k {
            SampleKind::Range(op) => self.parse_range_aggregation(op)?,
            SampleKind::Vector(op) => self.parse_vector_aggregation(op)?,
            SampleKind::LabelReplace => self.parse_label_replace()?,
            SampleKind::VectorFn => self.parse_vector_fn()?,
            SampleKind::Literal => self.parse_literal_boxed()?,
        };
        self.leave();
        Ok(Node::Sample(c))
    }

    #[inline(never)]
    fn parse_literal_boxed(&mut self) -> PResult<Box<Checked>> {
        self.parse_literal().map(Box::new)
    }

    #[inline(never)]
    fn parse_log_operand(&mut self) -> PResult<Node> {
        Ok(Node::Log(self.parse_log_expr(false)?))
    }

    #[inline(never)]
    fn unexpected_operand(&mut self) -> PResult<Node> {
        Err(self.unexpected(&[]))
    }

    #[inline(never)]
    fn parse_paren(&mut self) -> PResult<Node> {
        self.bump();
        self.enter()?;
        let inner = self.parse_expr()?;
        self.expect_kw(")", &[])?;
        self.leave();
        Ok(inner)
    }

    #[inline(never)]
    fn parse_vector_fn(&mut self) -> PResult<Box<Checked>> {
        let start = self.bump().start;
        self.expect_kw("(", &["("])?;
        let Tok::Number(_) = self.peek_tok() else {
            return Err(self.unexpected(&["NUMBER"]));
        };
        let Tok::Number(text) = self.bump().tok else {
            unreachable!()
        };
        self.expect_kw(")", &[")"])?;
        let span = Span::new(start, self.last_end);
        let (value, deferred) = match strconv::parse_float(&text) {
            Ok(v) => (v, None),
            Err(e) => (
                0.0,
                Some(ParseError::semantic(format!(
                    "unable to parse vectorExpr as a float: {e}"
                ))),
            ),
        };
        Ok(Box::new(checked(
            SampleExpr::Vector { value, span },
            deferred,
            1,
        )))
    }

    /// `NUMBER`, `+NUMBER` or `-NUMBER`.
    fn parse_literal(&mut self) -> PResult<Checked> {
        let start = self.peek().start;
        let neg = if self.at_kw("-") {
            self.bump();
            true
        } else if self.at_kw("+") {
            self.bump();
            false
        } else {
            false
        };
        let Tok::Number(_) = self.peek_tok() else {
            return Err(self.unexpected(&["NUMBER"]));
        };
        let Tok::Number(text) = self.bump().tok else {
            unreachable!()
        };
        let span = Span::new(start, self.last_end);
        Ok(match strconv::parse_float(&text) {
            Ok(v) => checked(
                SampleExpr::Literal {
                    value: if neg { -v } else { v },
                    span,
                },
                None,
                1,
            ),
            Err(e) => checked(
                placeholder(span),
                Some(ParseError::semantic(format!(
                    "unable to parse literal as a float: {e}"
                ))),
                1,
            ),
        })
    }

    /// Checks that an aggregation argument is a metric expression: a bare log
    /// expression there is a syntax error at the token after it, as in yacc.
    fn sample_operand(&mut self, n: Node) -> PResult<Checked> {
        match n {
            Node::Sample(c) => Ok(*c),
            Node::Log(_) => Err(self.unexpected(&[])),
        }
    }

    fn parse_grouping(&mut self) -> PResult<Grouping> {
        let without = self.at_kw("without");
        self.bump();
        self.expect_kw("(", &["("])?;
        let labels = self.parse_label_list()?;
        Ok(Grouping { without, labels })
    }

    fn at_grouping(&mut self) -> bool {
        self.at_kw("by") || self.at_kw("without")
    }

    /// `op [grouping] ( [k,] expr ) [grouping]`. Split in three so that the frame on the
    /// recursion path (this one) stays small.
    fn parse_vector_aggregation(&mut self, op: VectorOp) -> PResult<Box<Checked>> {
        let head = self.vector_aggregation_head()?;
        let inner = self.parse_expr()?;
        self.vector_aggregation_tail(op, head, inner)
    }

    #[inline(never)]
    fn vector_aggregation_head(&mut self) -> PResult<Box<AggHead>> {
        let start = self.bump().start;
        let grouping = if self.at_grouping() {
            Some(self.parse_grouping()?)
        } else {
            None
        };
        self.expect_kw("(", &["("])?;
        let mut param: Option<String> = None;
        if matches!(self.peek_tok(), Tok::Number(_)) && matches!(self.peek2_tok(), Tok::Kw(",")) {
            let Tok::Number(text) = self.bump().tok else {
                unreachable!()
            };
            self.bump();
            param = Some(text);
        }
        Ok(Box::new((start, grouping, param)))
    }

    // The head stays boxed across the recursive `parse_expr` call to keep that frame small.
    #[allow(clippy::boxed_local)]
    #[inline(never)]
    fn vector_aggregation_tail(
        &mut self,
        op: VectorOp,
        head: Box<AggHead>,
        inner: Node,
    ) -> PResult<Box<Checked>> {
        let (start, mut grouping, param) = *head;
        let inner = self.sample_operand(inner)?;
        self.expect_kw(")", &[])?;
        if grouping.is_none() && self.at_grouping() {
            grouping = Some(self.parse_grouping()?);
        }
        let span = Span::new(start, self.last_end);
        let name = op.name();
        // Loki's mustNewVectorAggregationExpr.
        let mut own: Option<String> = None;
        let mut k = None;
        match op {
            VectorOp::Topk | VectorOp::Bottomk | VectorOp::ApproxTopk => match &param {
                None => own = Some(format!("parameter required for operation {name}")),
                Some(p) => match p.parse::<i64>() {
                    Err(_) => own = Some(format!("invalid parameter {name}({p},")),
                    Ok(v) if v <= 0 => {
                        own = Some(format!(
                            "invalid parameter (must be greater than 0) {name}({p}"
                        ))
                    }
                    Ok(v) => {
                        k = Some(v);
                        if op == VectorOp::ApproxTopk && grouping.is_some() {
                            own = Some(format!("grouping not allowed for {name} aggregation"));
                        }
                    }
                },
            },
            _ => {
                if let Some(p) = &param {
                    own = Some(format!("unsupported parameter for operation {name}({p},"));
                }
            }
        }
        if let Some(e) = own {
            return Ok(Box::new(checked(
                placeholder(span),
                Some(ParseError::semantic(e)),
                1,
            )));
        }
        let grouping = grouping.unwrap_or_default();
        let mut deferred = None;
        if matches!(op, VectorOp::Sort | VectorOp::SortDesc) && !grouping.labels.is_empty() {
            deferred = Some(ParseError::semantic(
                "sort and sort_desc doesn't allow grouping by ",
            ));
        }
        let deferred = deferred.or(inner.deferred);
        let depth = inner.depth + 1;
        let expr = SampleExpr::VectorAggregation(VectorAggregation {
            op,
            grouping,
            param: k,
            inner: Box::new(inner.expr),
            span,
        });
        Ok(Box::new(checked(expr, deferred, depth)))
    }

    /// `label_replace(expr, "dst", "replacement", "src", "regex")`.
    fn parse_label_replace(&mut self) -> PResult<Box<Checked>> {
        let start = self.bump().start;
        self.expect_kw("(", &["("])?;
        let inner = self.parse_expr()?;
        self.label_replace_tail(start, inner)
    }

    #[inline(never)]
    fn label_replace_tail(&mut self, start: usize, inner: Node) -> PResult<Box<Checked>> {
        let inner = self.sample_operand(inner)?;
        self.expect_kw(",", &[])?;
        let dst = self.expect_str(&["STRING"])?;
        self.expect_kw(",", &[","])?;
        let replacement = self.expect_str(&["STRING"])?;
        self.expect_kw(",", &[","])?;
        let src = self.expect_str(&["STRING"])?;
        self.expect_kw(",", &[","])?;
        let regex = self.expect_str(&["STRING"])?;
        self.expect_kw(")", &[")"])?;
        let span = Span::new(start, self.last_end);
        match regexes::compile_label_replace(&regex) {
            Err(e) => Ok(Box::new(checked(
                placeholder(span),
                Some(ParseError::semantic(e)),
                1,
            ))),
            Ok(compiled) => {
                let depth = inner.depth + 1;
                let expr = SampleExpr::LabelReplace(LabelReplace {
                    inner: Box::new(inner.expr),
                    dst,
                    replacement,
                    src,
                    regex,
                    compiled,
                    span,
                });
                Ok(Box::new(checked(expr, inner.deferred, depth)))
            }
        }
    }

    #[inline(never)]
    fn parse_range_aggregation(&mut self, op: RangeOp) -> PResult<Box<Checked>> {
        let start = self.bump().start;
        self.expect_kw("(", &["("])?;
        let mut param = None;
        let log = if let Tok::Number(_) = self.peek_tok() {
            let Tok::Number(text) = self.bump().tok else {
                unreachable!()
            };
            param = Some(text);
            self.expect_kw(",", &[","])?;
            self.parse_log_range(&["{", "("])?
        } else {
            self.parse_log_range(&["NUMBER", "{", "("])?
        };
        self.expect_kw(")", &[")"])?;
        let grouping = if self.at_grouping() {
            Some(self.parse_grouping()?)
        } else {
            None
        };
        let span = Span::new(start, self.last_end);
        let name = op.name();
        // Loki's newRangeAggregationExpr and RangeAggregationExpr.validate.
        let mut value = None;
        let own = if let Some(p) = &param {
            if op != RangeOp::QuantileOverTime {
                Some(format!("parameter {p} not supported for operation {name}"))
            } else {
                match strconv::parse_float(p) {
                    Ok(v) => {
                        value = Some(v);
                        None
                    }
                    Err(e) => Some(format!("invalid parameter for operation {name}: {e}")),
                }
            }
        } else if op == RangeOp::QuantileOverTime {
            Some(format!("parameter required for operation {name}"))
        } else {
            None
        };
        let own = own.or_else(|| validate_range(op, grouping.is_some(), log.unwrap.is_some()));
        if let Some(e) = own {
            return Ok(Box::new(checked(
                placeholder(span),
                Some(ParseError::semantic(e)),
                1,
            )));
        }
        let deferred = check_matchers(&log.log.matchers);
        let expr = SampleExpr::RangeAggregation(RangeAggregation {
            op,
            log: *log,
            param: value,
            grouping,
            span,
        });
        Ok(Box::new(checked(expr, deferred, 1)))
    }

    /// `logRangeExpr`: every placement of range, offset, pipeline and unwrap that
    /// Loki's grammar allows, with optional parentheses.
    fn parse_log_range(&mut self, expected: &[&str]) -> PResult<Box<LogRange>> {
        if !self.at_kw("(") {
            return self.parse_log_range_body(expected);
        }
        let start = self.bump().start;
        self.enter()?;
        if self.at_kw("(") {
            let inner = self.parse_log_range(&["{", "("])?;
            self.expect_kw(")", &[")"])?;
            self.leave();
            return Ok(inner);
        }
        self.parse_log_range_paren_body(start)
    }

    /// After `(` when a selector follows.
    #[inline(never)]
    fn parse_log_range_paren_body(&mut self, start: usize) -> PResult<Box<LogRange>> {
        Ok(Box::new(self.log_range_paren_body(start)?))
    }

    #[inline(never)]
    fn parse_log_range_body(&mut self, expected: &[&str]) -> PResult<Box<LogRange>> {
        Ok(Box::new(self.log_range_body(expected)?))
    }

    fn log_range_paren_body(&mut self, start: usize) -> PResult<LogRange> {
        if !self.at_kw("{") {
            return Err(self.unexpected(&["{", "("]));
        }
        let (matchers, sel_span) = self.parse_selector()?;
        let pipeline = self.parse_pipeline(true)?;
        let unwrap = self.parse_unwrap_opt()?;
        if matches!(self.peek_tok(), Tok::Range(_)) {
            // `( selector … [5m] … )`: a whole range in parentheses.
            let r = self.finish_range(start, matchers, sel_span, pipeline, unwrap)?;
            self.expect_kw(")", &[")"])?;
            self.leave();
            return Ok(r);
        }
        let exp: &[&str] = if unwrap.is_some() {
            &["RANGE", ")", "|"]
        } else {
            &[]
        };
        self.expect_kw(")", exp)?;
        self.leave();
        let Tok::Range(range) = self.peek_tok().clone() else {
            return Err(self.unexpected(&["RANGE"]));
        };
        self.bump();
        let offset = self.parse_offset_opt()?;
        let log_span = sel_span.to(Span::new(
            sel_span.start,
            pipeline.last().map_or(sel_span.end, |s| s.span().end),
        ));
        let simple = pipeline.is_empty() && unwrap.is_none();
        let unwrap = if simple {
            self.parse_unwrap_opt()?
        } else {
            unwrap
        };
        Ok(LogRange {
            log: LogExpr {
                matchers,
                pipeline,
                span: log_span,
            },
            range,
            offset,
            unwrap,
            span: Span::new(start, self.last_end),
        })
    }

    fn log_range_body(&mut self, expected: &[&str]) -> PResult<LogRange> {
        let start = self.peek().start;
        if !self.at_kw("{") {
            return Err(self.unexpected(expected));
        }
        let (matchers, sel_span) = self.parse_selector()?;
        let pipeline = self.parse_pipeline(true)?;
        let unwrap = self.parse_unwrap_opt()?;
        if !matches!(self.peek_tok(), Tok::Range(_)) {
            let exp: &[&str] = if unwrap.is_some() {
                &["RANGE", "|"]
            } else {
                &[]
            };
            return Err(self.unexpected(exp));
        }
        self.finish_range(start, matchers, sel_span, pipeline, unwrap)
    }

    /// From the `[range]` on: `[offset d]`, then (only if nothing came before the range)
    /// a pipeline and an unwrap.
    fn finish_range(
        &mut self,
        start: usize,
        matchers: Vec<Matcher>,
        sel_span: Span,
        mut pipeline: Vec<Stage>,
        mut unwrap: Option<Unwrap>,
    ) -> PResult<LogRange> {
        let Tok::Range(range) = self.bump().tok else {
            unreachable!()
        };
        let offset = self.parse_offset_opt()?;
        if pipeline.is_empty() && unwrap.is_none() {
            pipeline = self.parse_pipeline(true)?;
            unwrap = self.parse_unwrap_opt()?;
        }
        let log_end = pipeline.last().map_or(sel_span.end, |s| s.span().end);
        Ok(LogRange {
            log: LogExpr {
                matchers,
                pipeline,
                span: Span::new(sel_span.start, log_end),
            },
            range,
            offset,
            unwrap,
            span: Span::new(start, self.last_end),
        })
    }

    fn parse_offset_opt(&mut self) -> PResult<i64> {
        if !self.at_kw("offset") {
            return Ok(0);
        }
        self.bump();
        match self.peek_tok().clone() {
            Tok::Duration(d) => {
                self.bump();
                Ok(d)
            }
            _ => Err(self.unexpected(&["DURATION"])),
        }
    }

    /// `| unwrap [conv(]label[)]` followed by `| labelFilter`s.
    fn parse_unwrap_opt(&mut self) -> PResult<Option<Unwrap>> {
        if !(self.at_kw("|") && matches!(self.peek2_tok(), Tok::Kw("unwrap"))) {
            return Ok(None);
        }
        let start = self.bump().start;
        self.bump();
        let conv = match self.peek_tok() {
            Tok::Func(FuncTok::BytesConv) => Some(Conversion::Bytes),
            Tok::Func(FuncTok::DurationConv) => Some(Conversion::Duration),
            Tok::Func(FuncTok::DurationSecondsConv) => Some(Conversion::DurationSeconds),
            _ => None,
        };
        let (label, conversion) = match conv {
            Some(c) => {
                self.bump();
                self.expect_kw("(", &["("])?;
                let (l, _) = self.expect_ident(&["IDENTIFIER"])?;
                self.expect_kw(")", &[")"])?;
                (l, c)
            }
            None => {
                let exp = [
                    "IDENTIFIER",
                    "BYTES_CONV",
                    "DURATION_CONV",
                    "DURATION_SECONDS_CONV",
                ];
                (self.expect_ident(&exp)?.0, Conversion::None)
            }
        };
        let mut post_filters = vec![];
        while self.at_kw("|") {
            self.bump();
            if !matches!(self.peek_tok(), Tok::Ident(_) | Tok::Kw("(")) {
                return Err(self.unexpected(&["IDENTIFIER", "("]));
            }
            post_filters.push(self.parse_label_filter()?);
        }
        Ok(Some(Unwrap {
            label,
            conversion,
            post_filters,
            span: Span::new(start, self.last_end),
        }))
    }

    // ------------------------------------------------------------------ log side

    /// `{…}` followed by pipeline stages.
    fn parse_log_expr(&mut self, in_range: bool) -> PResult<LogExpr> {
        let (matchers, sel_span) = self.parse_selector()?;
        let pipeline = self.parse_pipeline(in_range)?;
        Ok(LogExpr {
            matchers,
            pipeline,
            span: Span::new(sel_span.start, self.last_end),
        })
    }

    fn parse_selector(&mut self) -> PResult<(Vec<Matcher>, Span)> {
        let start = self.expect_kw("{", &["{"])?.start;
        let mut matchers = vec![];
        if self.at_kw("}") {
            self.bump();
            return Ok((matchers, Span::new(start, self.last_end)));
        }
        matchers.push(self.parse_matcher(&["IDENTIFIER", "}"])?);
        loop {
            if self.at_kw(",") {
                self.bump();
                matchers.push(self.parse_matcher(&["IDENTIFIER"])?);
            } else if self.at_kw("}") {
                self.bump();
                return Ok((matchers, Span::new(start, self.last_end)));
            } else {
                return Err(self.unexpected(&["}", ","]));
            }
        }
    }

    fn match_op(&mut self) -> Option<MatchOp> {
        match self.peek_tok() {
            Tok::Kw("=") => Some(MatchOp::Eq),
            Tok::Kw("!=") => Some(MatchOp::Neq),
            Tok::Kw("=~") => Some(MatchOp::Re),
            Tok::Kw("!~") => Some(MatchOp::Nre),
            _ => None,
        }
    }

    /// `name OP "value"`; an invalid regex aborts the parse (Loki's `mustNewMatcher`).
    fn parse_matcher(&mut self, expected: &[&str]) -> PResult<Matcher> {
        let (name, span) = self.expect_ident(expected)?;
        let Some(op) = self.match_op() else {
            return Err(self.unexpected(&["=", "=~", "!~", "!="]));
        };
        self.bump();
        let value = self.expect_str(&["STRING"])?;
        self.finish_matcher(name, op, value, span.start)
    }

    fn finish_matcher(
        &mut self,
        name: String,
        op: MatchOp,
        value: String,
        start: usize,
    ) -> PResult<Matcher> {
        let span = Span::new(start, self.last_end);
        Matcher::new(&name, op, &value, span).map_err(|e| ParseError {
            offset: Some(start),
            ..ParseError::semantic(e)
        })
    }

    fn at_stage_start(&mut self, in_range: bool) -> bool {
        if line_filter_op(self.peek_tok()).is_some() {
            return true;
        }
        if !self.at_kw("|") {
            return false;
        }
        // Inside a range, `| unwrap` ends the pipeline.
        !(in_range && matches!(self.peek2_tok(), Tok::Kw("unwrap")))
    }

    fn parse_pipeline(&mut self, in_range: bool) -> PResult<Vec<Stage>> {
        let mut stages = vec![];
        while self.at_stage_start(in_range) {
            if let Some(op) = line_filter_op(self.peek_tok()) {
                self.parse_line_filter(op, &mut stages)?;
            } else {
                stages.push(self.parse_stage()?);
            }
        }
        Ok(stages)
    }

    fn parse_line_match(&mut self) -> PResult<LineMatch> {
        match self.peek_tok() {
            Tok::Str(_) => {
                let Tok::Str(s) = self.bump().tok else {
                    unreachable!()
                };
                Ok(LineMatch::Str(s))
            }
            Tok::Ip => {
                self.bump();
                self.expect_kw("(", &["("])?;
                let s = self.expect_str(&["STRING"])?;
                self.expect_kw(")", &[")"])?;
                Ok(LineMatch::Ip(s))
            }
            _ => Err(self.unexpected(&["STRING", "ip"])),
        }
    }

    /// A line filter and its `or` alternatives. Negated chains become one filter per
    /// alternative (`!= "a" or "b"` ≡ `!= "a" != "b"`), as Loki rewrites them.
    fn parse_line_filter(&mut self, op: LineFilterOp, stages: &mut Vec<Stage>) -> PResult<()> {
        let start = self.bump().start;
        let value = self.parse_line_match()?;
        let mut alts = vec![(value, Span::new(start, self.last_end))];
        while self.at_kw("or") {
            let s = self.bump().start;
            let v = self.parse_line_match()?;
            alts.push((v, Span::new(s, self.last_end)));
        }
        if op.is_negated() {
            for (value, span) in alts {
                stages.push(Stage::LineFilter(LineFilter {
                    op,
                    value,
                    or: vec![],
                    span,
                }));
            }
        } else {
            let mut it = alts.into_iter();
            let (value, _) = it.next().expect("one value");
            let or = it.map(|(v, _)| v).collect();
            stages.push(Stage::LineFilter(LineFilter {
                op,
                value,
                or,
                span: Span::new(start, self.last_end),
            }));
        }
        Ok(())
    }

    fn parse_stage(&mut self) -> PResult<Stage> {
        let start = self.bump().start; // `|`
        let t = self.peek().clone();
        let stage = match &t.tok {
            Tok::Kw("json") => {
                self.bump();
                let params = self.parse_extractions()?;
                Stage::Parser {
                    parser: Parser::Json { params },
                    span: Span::default(),
                }
            }
            Tok::Kw("logfmt") => {
                self.bump();
                let (mut strict, mut keep_empty) = (false, false);
                while let Tok::Flag(f) = self.peek_tok() {
                    if f == "--strict" {
                        strict = true;
                    } else {
                        keep_empty = true;
                    }
                    self.bump();
                }
                let params = self.parse_extractions()?;
                Stage::Parser {
                    parser: Parser::Logfmt {
                        strict,
                        keep_empty,
                        params,
                    },
                    span: Span::default(),
                }
            }
            Tok::Kw("regexp") => {
                self.bump();
                let re = self.expect_str(&["STRING"])?;
                regexes::check_regexp_parser(&re).map_err(|e| ParseError {
                    offset: Some(t.start),
                    ..ParseError::semantic(e)
                })?;
                Stage::Parser {
                    parser: Parser::Regexp(re),
                    span: Span::default(),
                }
            }
            Tok::Kw("pattern") => {
                self.bump();
                let p = self.expect_str(&["STRING"])?;
                regexes::check_pattern_parser(&p).map_err(|e| ParseError {
                    offset: Some(t.start),
                    ..ParseError::semantic(e)
                })?;
                Stage::Parser {
                    parser: Parser::Pattern(p),
                    span: Span::default(),
                }
            }
            Tok::Kw("unpack") => {
                self.bump();
                Stage::Parser {
                    parser: Parser::Unpack,
                    span: Span::default(),
                }
            }
            Tok::Kw("line_format") => {
                self.bump();
                let template = self.expect_str(&["STRING"])?;
                Stage::LineFormat {
                    template,
                    span: Span::default(),
                }
            }
            Tok::Kw("label_format") => {
                self.bump();
                let mut formats = vec![self.parse_label_fmt()?];
                while self.at_kw(",") {
                    self.bump();
                    formats.push(self.parse_label_fmt()?);
                }
                Stage::LabelFormat {
                    formats,
                    span: Span::default(),
                }
            }
            Tok::Kw("decolorize") => {
                self.bump();
                Stage::Decolorize {
                    span: Span::default(),
                }
            }
            Tok::Kw("drop") | Tok::Kw("keep") => {
                let keep = t.tok == Tok::Kw("keep");
                self.bump();
                let mut labels = vec![self.parse_named_matcher()?];
                while self.at_kw(",") {
                    self.bump();
                    labels.push(self.parse_named_matcher()?);
                }
                if keep {
                    Stage::Keep {
                        labels,
                        span: Span::default(),
                    }
                } else {
                    Stage::Drop {
                        labels,
                        span: Span::default(),
                    }
                }
            }
            Tok::Ident(_) | Tok::Kw("(") => {
                let filter = self.parse_label_filter()?;
                Stage::LabelFilter {
                    filter,
                    span: Span::default(),
                }
            }
            _ => return Err(self.unexpected(&[])),
        };
        Ok(set_stage_span(stage, Span::new(start, self.last_end)))
    }

    /// `json`/`logfmt` parameters: `a="path", b, …` (possibly none).
    fn parse_extractions(&mut self) -> PResult<Vec<LabelExtraction>> {
        let mut params = vec![];
        if !matches!(self.peek_tok(), Tok::Ident(_)) {
            return Ok(params);
        }
        loop {
            let (label, _) = self.expect_ident(&["IDENTIFIER"])?;
            let expr = if self.at_kw("=") {
                self.bump();
                self.expect_str(&["STRING"])?
            } else {
                label.clone()
            };
            params.push(LabelExtraction { label, expr });
            if !self.at_kw(",") {
                return Ok(params);
            }
            self.bump();
        }
    }

    fn parse_label_fmt(&mut self) -> PResult<LabelFmt> {
        let (dst, _) = self.expect_ident(&["IDENTIFIER"])?;
        self.expect_kw("=", &["="])?;
        let value = match self.peek_tok() {
            Tok::Ident(_) => LabelFmtValue::Rename(self.expect_ident(&[])?.0),
            Tok::Str(_) => LabelFmtValue::Template(self.expect_str(&[])?),
            _ => return Err(self.unexpected(&["IDENTIFIER", "STRING"])),
        };
        Ok(LabelFmt { dst, value })
    }

    fn parse_named_matcher(&mut self) -> PResult<NamedMatcher> {
        let (name, span) = self.expect_ident(&["IDENTIFIER"])?;
        let Some(op) = self.match_op() else {
            return Ok(NamedMatcher::Name(name));
        };
        self.bump();
        let value = self.expect_str(&["STRING"])?;
        Ok(NamedMatcher::Matcher(
            self.finish_matcher(name, op, value, span.start)?,
        ))
    }

    /// A label filter expression; see [`LfOp`] for the precedence rules. As for binary
    /// operators, the loop is a shunting-yard with the work done out of line.
    fn parse_label_filter(&mut self) -> PResult<LabelFilterExpr> {
        let mut st = LfStack {
            operands: Vec::new(),
            ops: Vec::new(),
        };
        let first = self.parse_label_filter_primary()?;
        st.operands.push((first, 1));
        while self.push_lf_operator(&mut st)? {
            let f = self.parse_label_filter_primary()?;
            st.operands.push((f, 1));
        }
        self.finish_label_filter(st)
    }

    #[inline(never)]
    fn push_lf_operator(&mut self, st: &mut LfStack) -> PResult<bool> {
        let op = match self.peek_tok() {
            Tok::Kw("or") => LfOp::Or,
            Tok::Kw("and") => LfOp::And,
            Tok::Kw(",") => LfOp::Comma,
            // Juxtaposition: `a=1 b=2`.
            Tok::Ident(_) | Tok::Kw("(") => LfOp::Comma,
            _ => return Ok(false),
        };
        while let Some(top) = st.ops.last() {
            if top.waiting() < op.incoming() {
                break;
            }
            if st.reduce() > MAX_CHAIN {
                return Err(self.too_long_chain(0));
            }
        }
        if matches!(
            self.peek_tok(),
            Tok::Kw("or") | Tok::Kw("and") | Tok::Kw(",")
        ) {
            self.bump();
        }
        st.ops.push(op);
        if st.ops.len() > MAX_CHAIN {
            return Err(self.too_long_chain(0));
        }
        Ok(true)
    }

    #[inline(never)]
    fn finish_label_filter(&mut self, mut st: LfStack) -> PResult<LabelFilterExpr> {
        while !st.ops.is_empty() {
            if st.reduce() > MAX_CHAIN {
                return Err(self.too_long_chain(0));
            }
        }
        Ok(*st.operands.pop().expect("one operand").0)
    }

    fn parse_label_filter_primary(&mut self) -> PResult<Box<LabelFilterExpr>> {
        if self.at_kw("(") {
            self.bump();
            self.enter()?;
            let f = self.parse_label_filter()?;
            self.expect_kw(")", &[])?;
            self.leave();
            return Ok(Box::new(f));
        }
        self.parse_label_filter_leaf().map(Box::new)
    }

    /// `name OP value`.
    #[inline(never)]
    fn parse_label_filter_leaf(&mut self) -> PResult<LabelFilterExpr> {
        let (name, nspan) = self.expect_ident(&["IDENTIFIER", "("])?;
        let start = nspan.start;
        let op_tok = self.peek().clone();
        let cmp = match &op_tok.tok {
            Tok::Kw("=") => Some(CmpOp::Eq),
            Tok::Kw("!=") => Some(CmpOp::Neq),
            Tok::Kw("==") => Some(CmpOp::Eq),
            Tok::Kw(">") => Some(CmpOp::Gt),
            Tok::Kw(">=") => Some(CmpOp::Gte),
            Tok::Kw("<") => Some(CmpOp::Lt),
            Tok::Kw("<=") => Some(CmpOp::Lte),
            Tok::Kw("=~") | Tok::Kw("!~") => None,
            _ => return Err(self.unexpected(&[])),
        };
        self.bump();
        let is_eq = matches!(op_tok.tok, Tok::Kw("=") | Tok::Kw("!="));
        let Some(cmp) = cmp else {
            // `=~` / `!~`: a regex string filter.
            let op = if op_tok.tok == Tok::Kw("=~") {
                MatchOp::Re
            } else {
                MatchOp::Nre
            };
            let value = self.expect_str(&["STRING"])?;
            return Ok(LabelFilterExpr::String(
                self.finish_matcher(name, op, value, start)?,
            ));
        };
        let next = self.peek_tok().clone();
        match next {
            Tok::Str(v) if is_eq => {
                self.bump();
                let op = if cmp == CmpOp::Eq {
                    MatchOp::Eq
                } else {
                    MatchOp::Neq
                };
                Ok(LabelFilterExpr::String(
                    self.finish_matcher(name, op, v, start)?,
                ))
            }
            Tok::Ip if is_eq => {
                self.bump();
                self.expect_kw("(", &["("])?;
                let pattern = self.expect_str(&["STRING"])?;
                self.expect_kw(")", &[")"])?;
                Ok(LabelFilterExpr::Ip {
                    name,
                    negated: cmp == CmpOp::Neq,
                    pattern,
                    span: Span::new(start, self.last_end),
                })
            }
            Tok::Duration(d) => {
                self.bump();
                Ok(LabelFilterExpr::Duration {
                    name,
                    op: cmp,
                    value: d,
                    span: Span::new(start, self.last_end),
                })
            }
            Tok::Bytes(b) => {
                self.bump();
                Ok(LabelFilterExpr::Bytes {
                    name,
                    op: cmp,
                    value: b,
                    span: Span::new(start, self.last_end),
                })
            }
            Tok::Number(_) | Tok::Kw("+") | Tok::Kw("-") => {
                let lit = self.parse_literal()?;
                if let Some(mut e) = lit.deferred {
                    // Loki (main) rejects unparsable numbers here at once.
                    e.offset = Some(start);
                    return Err(e);
                }
                let SampleExpr::Literal { value, .. } = lit.expr else {
                    unreachable!()
                };
                Ok(LabelFilterExpr::Numeric {
                    name,
                    op: cmp,
                    value,
                    span: Span::new(start, self.last_end),
                })
            }
            _ => Err(self.unexpected(&[])),
        }
    }
}

fn set_stage_span(stage: Stage, new: Span) -> Stage {
    match stage {
        Stage::LineFilter(mut f) => {
            f.span = new;
            Stage::LineFilter(f)
        }
        Stage::Parser { parser, .. } => Stage::Parser { parser, span: new },
        Stage::LabelFilter { filter, .. } => Stage::LabelFilter { filter, span: new },
        Stage::LineFormat { template, .. } => Stage::LineFormat {
            template,
            span: new,
        },
        Stage::LabelFormat { formats, .. } => Stage::LabelFormat { formats, span: new },
        Stage::Drop { labels, .. } => Stage::Drop { labels, span: new },
        Stage::Keep { labels, .. } => Stage::Keep { labels, span: new },
        Stage::Decolorize { .. } => Stage::Decolorize { span: new },
    }
}

/// Loki's `RangeAggregationExpr.validate`.
fn validate_range(op: RangeOp, grouping: bool, unwrap: bool) -> Option<String> {
    use RangeOp::*;
    let name = op.name();
    if grouping
        && !matches!(
            op,
            AvgOverTime
                | StddevOverTime
                | StdvarOverTime
                | QuantileOverTime
                | MaxOverTime
                | MinOverTime
                | FirstOverTime
                | LastOverTime
        )
    {
        return Some(format!("grouping not allowed for {name} aggregation"));
    }
    if unwrap {
        return match op {
            AvgOverTime | SumOverTime | MaxOverTime | MinOverTime | StddevOverTime
            | StdvarOverTime | QuantileOverTime | Rate | RateCounter | AbsentOverTime
            | FirstOverTime | LastOverTime => None,
            _ => Some(format!("invalid aggregation {name} with unwrap")),
        };
    }
    match op {
        BytesOverTime | BytesRate | CountOverTime | Rate | AbsentOverTime => None,
        _ => Some(format!("invalid aggregation {name} without unwrap")),
    }
}

/// Which Loki entry point is parsing.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Entry {
    /// `ParseExpr`: parse and validate.
    Expr,
    /// `ParseExprWithoutValidation`.
    NoValidation,
}

/// Parses `src` (bytes, so that invalid UTF-8 is reported like Loki does).
pub(crate) fn parse_bytes(src: &[u8], entry: Entry) -> Result<Expr, ParseError> {
    if src.len() >= MAX_INPUT_SIZE {
        return Err(ParseError::semantic(format!(
            "input size too long ({} > {})",
            src.len(),
            MAX_INPUT_SIZE
        )));
    }
    let mut p = QueryParser::new(src);
    let (node, deferred) = p.parse_root()?;
    if entry == Entry::Expr {
        if let Some(e) = deferred {
            return Err(e);
        }
    }
    Ok(match node {
        Node::Log(l) => Expr::Log(l),
        Node::Sample(c) => Expr::Sample(c.expr),
    })
}

#[cfg(test)]
mod tests {
    use crate::logql::*;

    fn sample(q: &str) -> SampleExpr {
        match parse_expr(q).unwrap_or_else(|e| panic!("{q}: {e}")) {
            Expr::Sample(s) => s,
            Expr::Log(_) => panic!("{q}: not a metric query"),
        }
    }

    fn log(q: &str) -> LogExpr {
        match parse_expr(q).unwrap_or_else(|e| panic!("{q}: {e}")) {
            Expr::Log(l) => l,
            Expr::Sample(_) => panic!("{q}: not a log query"),
        }
    }

    fn err(q: &str) -> String {
        parse_expr(q).expect_err(q).to_string()
    }

    const A: &str = r#"count_over_time({a="1"}[1m])"#;

    #[test]
    fn binop_precedence() {
        // a + b * c  =>  a + (b * c)
        let q = format!("{A} + {A} * {A}");
        let SampleExpr::BinOp(top) = sample(&q) else {
            panic!()
        };
        assert_eq!(top.op, BinOpKind::Add);
        assert!(matches!(&*top.rhs, SampleExpr::BinOp(b) if b.op == BinOpKind::Mul));
        // a - b - c  =>  (a - b) - c
        let SampleExpr::BinOp(top) = sample(&format!("{A} - {A} - {A}")) else {
            panic!()
        };
        assert!(matches!(&*top.lhs, SampleExpr::BinOp(b) if b.op == BinOpKind::Sub));
        // a ^ b ^ c  =>  a ^ (b ^ c)
        let SampleExpr::BinOp(top) = sample(&format!("{A} ^ {A} ^ {A}")) else {
            panic!()
        };
        assert!(matches!(&*top.rhs, SampleExpr::BinOp(b) if b.op == BinOpKind::Pow));
        // a or b and c  =>  a or (b and c); a == b + c => a == (b + c)
        let SampleExpr::BinOp(top) = sample(&format!("{A} or {A} and {A}")) else {
            panic!()
        };
        assert_eq!(top.op, BinOpKind::Or);
        let SampleExpr::BinOp(top) = sample(&format!("{A} > {A} + {A}")) else {
            panic!()
        };
        assert_eq!(top.op, BinOpKind::Gt);
        assert_eq!(
            sample(&format!("{A} + {A} * {A}")).to_string(),
            format!("({A} + ({A} * {A}))")
        );
    }

    #[test]
    fn literal_folding() {
        assert_eq!(sample("5 * 5").to_string(), "25");
        assert_eq!(sample("1 > 1 > bool 1").to_string(), "0");
        assert_eq!(sample("2 ^ 3 ^ 2").to_string(), "512");
        assert!(matches!(sample("1 / 0"), SampleExpr::Literal { value, .. } if value.is_nan()));
        assert_eq!(sample("-1 + +2").to_string(), "1");
        assert_eq!(sample("vector(1)").to_string(), "vector(1.000000)");
    }

    #[test]
    fn binop_modifiers() {
        let SampleExpr::BinOp(b) = sample(&format!("{A} > bool on (x, y) group_left (z) {A}"))
        else {
            panic!()
        };
        assert!(b.bool_modifier);
        let m = b.matching.expect("matching");
        assert!(m.on);
        assert_eq!(m.labels, ["x", "y"]);
        assert_eq!(m.group, Group::Left(vec!["z".into()]));
        assert_eq!(
            sample(&format!("{A} / ignoring (c) {A}")).to_string(),
            format!("({A} / ignoring (c)  {A})")
        );
    }

    #[test]
    fn or_line_filters_are_normalised() {
        let l = log(r#"{app="foo"} |= "a" or "b" != "c" or ip("1.2.3.4")"#);
        assert_eq!(l.pipeline.len(), 3);
        let Stage::LineFilter(f) = &l.pipeline[0] else {
            panic!()
        };
        assert_eq!(f.op, LineFilterOp::Contains);
        assert_eq!(f.or, [LineMatch::Str("b".into())]);
        let Stage::LineFilter(f) = &l.pipeline[2] else {
            panic!()
        };
        assert_eq!(
            (f.op, &f.value),
            (LineFilterOp::NotContains, &LineMatch::Ip("1.2.3.4".into()))
        );
        assert_eq!(
            l.to_string(),
            r#"{app="foo"} |= "a" or "b" != "c" != ip("1.2.3.4")"#
        );
    }

    #[test]
    fn grouping_placement() {
        let before = sample(r#"sum by (a) (rate({x="y"}[5m]))"#);
        let after = sample(r#"sum(rate({x="y"}[5m])) by (a)"#);
        assert_eq!(before, after);
        let SampleExpr::VectorAggregation(v) = before else {
            panic!()
        };
        assert_eq!(
            v.grouping,
            Grouping {
                without: false,
                labels: vec!["a".into()]
            }
        );
        let SampleExpr::VectorAggregation(v) = sample(r#"sum(rate({x="y"}[5m]))"#) else {
            panic!()
        };
        assert_eq!(v.grouping, Grouping::default());
        let SampleExpr::VectorAggregation(v) = sample(r#"topk(3, rate({x="y"}[5m]))"#) else {
            panic!()
        };
        assert_eq!(v.param, Some(3));
    }

    #[test]
    fn range_aggregations() {
        let q = r#"quantile_over_time(0.99, {a="b"} | json | unwrap duration(lat) | __error__="" [5m] offset 1h) by (c)"#;
        let SampleExpr::RangeAggregation(r) = sample(q) else {
            panic!()
        };
        assert_eq!(r.op, RangeOp::QuantileOverTime);
        assert_eq!(r.param, Some(0.99));
        assert_eq!(r.grouping.as_ref().unwrap().labels, ["c"]);
        assert_eq!(r.log.range, 300_000_000_000);
        assert_eq!(r.log.offset, 3_600_000_000_000);
        let u = r.log.unwrap.as_ref().unwrap();
        assert_eq!(
            (u.label.as_str(), u.conversion, u.post_filters.len()),
            ("lat", Conversion::Duration, 1)
        );
        // The same range written in other accepted positions.
        for q in [
            r#"rate({a="b"} |= "x" [5m])"#,
            r#"rate({a="b"}[5m] |= "x")"#,
            r#"rate(({a="b"} |= "x")[5m])"#,
            r#"rate((({a="b"} |= "x")[5m]))"#,
        ] {
            assert_eq!(sample(q).to_string(), r#"rate({a="b"} |= "x"[5m])"#, "{q}");
        }
        assert_eq!(
            err(r#"count_over_time({a="b"}[5m]) by (x)"#),
            "parse error : grouping not allowed for count_over_time aggregation"
        );
    }

    #[test]
    fn label_filter_precedence() {
        let l = log(r#"{a="b"} | x="1" or y="2" and z="3""#);
        let Stage::LabelFilter {
            filter: LabelFilterExpr::Or(_, r),
            ..
        } = &l.pipeline[0]
        else {
            panic!()
        };
        assert!(matches!(**r, LabelFilterExpr::And(..)));
        // `,` takes everything to its right.
        let l = log(r#"{a="b"} | x="1", y="2" or z="3""#);
        assert_eq!(
            l.pipeline[0].to_string(),
            r#"| ( x="1" , ( y="2" or z="3" ) )"#
        );
        let l = log(r#"{a="b"} | x > 1 y < 2ms z >= 3KB w = ip("1.1.1.1")"#);
        assert_eq!(
            l.pipeline[0].to_string(),
            r#"| ( x>1 , ( y<2ms , ( z>=3.0kB , w=ip("1.1.1.1") ) ) )"#
        );
    }

    #[test]
    fn matchers_match() {
        let l = log(r#"{a=~"fo+", b!~"x|y", c!="z"}"#);
        assert!(l.matchers[0].matches("foo") && !l.matchers[0].matches("xfoo"));
        assert!(l.matchers[1].matches("") && !l.matchers[1].matches("x"));
        assert!(l.matchers[2].matches(""));
    }

    #[test]
    fn loki_errors() {
        assert_eq!(
            err(r#"{foo="bar""#),
            "parse error at line 1, col 11: syntax error: unexpected $end, expecting } or ,"
        );
        assert_eq!(
            err(r#"rate({ foo = "bar" }[5minutes])"#),
            r#"parse error at line 0, col 21: unknown unit "minutes" in duration "5minutes""#
        );
        assert!(
            err(r#"{a=~".*"}"#).starts_with("parse error : queries require at least one regexp")
        );
        assert_eq!(
            err(r#"sum(count_over_time({foo="bar"}[5m])) by (foo) or 1"#),
            "parse error : unexpected literal for right leg of logical/set binary operation (or): 1.000000"
        );
        assert_eq!(
            err("{a=\"b\"}\n  | x ="),
            "parse error at line 2, col 8: syntax error: unexpected $end"
        );
    }

    #[test]
    fn nesting_limit() {
        let deep = format!("{}1{}", "(".repeat(300), ")".repeat(300));
        assert!(err(&deep).contains("nests too deeply"));
        let ok = format!("{}1{}", "(".repeat(200), ")".repeat(200));
        assert_eq!(sample(&ok).to_string(), "1");
    }

    #[test]
    fn entry_points() {
        assert!(parse_sample_expr(r#"{a="b"}"#).is_err());
        assert!(parse_log_selector(r#"rate({a="b"}[1m])"#, true).is_err());
        assert!(parse_log_selector(r#"{a=~".*"}"#, false).is_ok());
        assert!(parse_log_selector(r#"{a=~".*"}"#, true).is_err());
        assert_eq!(parse_matchers(r#"{a="b", c=~"d"}"#).unwrap().len(), 2);
        assert!(parse_matchers(r#"{a="b"} |= "x""#).is_err());
    }
}
