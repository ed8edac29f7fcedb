//! The template executor: `text/template`'s `exec.go` (Go 1.22) over [`Value`]s, with
//! Go's error texts (`template: line:1:3: executing "line" at <.a.b>: …`).
//!
//! Missing map keys are the zero value (Go's `missingkey=zero`, which Loki sets);
//! `range` over an integer is capped at [`MAX_RANGE`] iterations so one hostile
//! template cannot spin forever on one line.

use super::funcs::Callable;
use super::parser::{Arg, At, Cmd, Node, Pipe};
use super::value::{display, print_value, Value};
use super::{Context, Env, Template};
use crate::go::strconv;

impl<C: Context> Template<C> {
    /// Runs the template with `.` = [`Value::Root`] (the data) and the caller's
    /// variables nil, appending to `out`. On error `out` holds the partial output.
    pub fn execute(&self, env: &Env<'_, C>, out: &mut Vec<u8>) -> Result<(), String> {
        self.execute_with(env, &Value::Root, &[], out)
    }

    /// Runs the template with `.` = `dot` and the variables declared by
    /// [`Template::parse_with_vars`] set to `vars`, in order (missing ones are nil).
    pub fn execute_with(
        &self,
        env: &Env<'_, C>,
        dot: &Value,
        vars: &[Value],
        out: &mut Vec<u8>,
    ) -> Result<(), String> {
        let mut st = State {
            env,
            vars: Vec::with_capacity(1 + self.vars.len()),
            name: &self.name,
            funcs: &self.funcs,
        };
        st.vars.push(("$", dot.clone()));
        for (i, name) in self.vars.iter().enumerate() {
            st.vars
                .push((name, vars.get(i).cloned().unwrap_or(Value::Nil)));
        }
        st.walk(dot, &self.nodes, out).map(|_| ())
    }
}

/// How a list of nodes ended.
enum Flow {
    Normal,
    Break,
    Continue,
}

/// One execution: the environment, the variables in scope (names borrowed from the
/// template, so declaring one allocates nothing) and the resolved functions.
struct State<'t, 'e, C: Context> {
    env: &'t Env<'e, C>,
    vars: Vec<(&'t str, Value)>,
    name: &'t str,
    funcs: &'t [Callable<C>],
}

/// Most iterations a `range` over an integer may do: keeps a hostile template from
/// spinning forever on one log line.
pub const MAX_RANGE: i64 = 100_000;

/// Where a whole command is, as Go's `CommandNode` prints: its nodes'
/// texts joined by spaces, at its first node.
fn command_at(nodes: &[At]) -> At {
    At {
        text: nodes
            .iter()
            .map(|a| a.text.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        line: nodes[0].line,
        col: nodes[0].col,
    }
}

impl<'t, C: Context> State<'t, '_, C> {
    fn walk(&mut self, dot: &Value, nodes: &'t [Node], out: &mut Vec<u8>) -> Result<Flow, String> {
        for n in nodes {
            match n {
                Node::Text(t) => out.extend_from_slice(t),
                Node::Action(p) => {
                    // `{{.label}}` on the label map: copy the value without building a
                    // Value (the common case, and allocation-free).
                    if let (Value::Root, [c], true) = (dot, p.cmds.as_slice(), p.decl.is_empty()) {
                        if let [Arg::Field(f)] = c.args.as_slice() {
                            if f.len() == 1 {
                                if let Some(v) = self.env.data.get(&f[0]) {
                                    out.extend_from_slice(v.as_bytes());
                                }
                                continue;
                            }
                        }
                    }
                    let v = self.pipe(dot, p)?;
                    if p.decl.is_empty() {
                        print_value(&v, self.env.data, out);
                    }
                }
                Node::If(p, a, b) | Node::With(p, a, b) => {
                    let mark = self.vars.len();
                    let v = self.pipe(dot, p)?;
                    let truth = v.truth(self.env.data);
                    let flow = if truth {
                        let d = if matches!(n, Node::With(..)) { &v } else { dot };
                        self.walk(d, a, out)?
                    } else if let Some(b) = b {
                        self.walk(dot, b, out)?
                    } else {
                        Flow::Normal
                    };
                    self.vars.truncate(mark);
                    if !matches!(flow, Flow::Normal) {
                        return Ok(flow);
                    }
                }
                Node::Range(p, a, b) => {
                    let mark = self.vars.len();
                    let v = self.pipe_no_decl(dot, p)?;
                    let items: Vec<(Value, Value)> = match &v {
                        Value::Map(m) => {
                            m.iter().map(|(k, v)| (Value::str(k), v.clone())).collect()
                        }
                        Value::List(l) => l
                            .iter()
                            .enumerate()
                            .map(|(i, v)| (Value::Int(i as i64), v.clone()))
                            .collect(),
                        Value::Root => self
                            .env
                            .data
                            .sorted()
                            .into_iter()
                            .map(|(k, v)| (Value::str(&k), Value::str(&v)))
                            .collect(),
                        Value::StrMap(m) => m
                            .iter()
                            .map(|(k, v)| (Value::str(k), Value::str(v)))
                            .collect(),
                        Value::Int(n) => {
                            if *n > MAX_RANGE {
                                return Err(self
                                    .exec_err(&p.cmds[0].at[0], "range over too many iterations"));
                            }
                            (0..*n).map(|i| (Value::Int(i), Value::Int(i))).collect()
                        }
                        Value::Nil => Vec::new(),
                        other => {
                            return Err(self.exec_err(
                                &p.cmds[0].at[0],
                                &format!(
                                    "range can't iterate over {}",
                                    display(other, self.env.data)
                                ),
                            ))
                        }
                    };
                    if items.is_empty() {
                        if let Some(b) = b {
                            self.walk(dot, b, out)?;
                        }
                    }
                    for (k, v) in items {
                        match p.decl.len() {
                            1 => self.set_var(&p.decl[0], v.clone(), p.assign, mark),
                            2 => {
                                self.set_var(&p.decl[0], k, p.assign, mark);
                                self.set_var(&p.decl[1], v.clone(), p.assign, mark);
                            }
                            _ => {}
                        }
                        let f = self.walk(&v, a, out)?;
                        self.vars
                            .truncate(mark + if p.assign { 0 } else { p.decl.len() });
                        if matches!(f, Flow::Break) {
                            break;
                        }
                    }
                    self.vars.truncate(mark);
                }
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Normal)
    }

    fn set_var(&mut self, name: &'t str, v: Value, assign: bool, mark: usize) {
        if assign {
            if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| *n == name) {
                slot.1 = v;
            }
        } else if let Some(slot) = self.vars[mark..].iter_mut().find(|(n, _)| *n == name) {
            slot.1 = v;
        } else {
            self.vars.push((name, v));
        }
    }

    fn exec_err(&self, at: &At, msg: &str) -> String {
        // Go's `Tree.ErrorContext`: a node's text longer than 20 bytes is cut
        // to 20 characters (`%.20s`) and `...`.
        let text = if at.text.len() > 20 {
            let cut = at
                .text
                .char_indices()
                .nth(20)
                .map_or(at.text.len(), |c| c.0);
            format!("{}...", &at.text[..cut])
        } else {
            at.text.clone()
        };
        format!(
            "template: {}:{}:{}: executing \"{}\" at <{}>: {}",
            self.name, at.line, at.col, self.name, text, msg
        )
    }

    fn pipe_no_decl(&mut self, dot: &Value, p: &'t Pipe) -> Result<Value, String> {
        let mut v: Option<Value> = None;
        for c in &p.cmds {
            v = Some(self.command(dot, c, v)?);
        }
        Ok(v.unwrap_or(Value::Nil))
    }

    fn pipe(&mut self, dot: &Value, p: &'t Pipe) -> Result<Value, String> {
        let v = self.pipe_no_decl(dot, p)?;
        if let Some(d) = p.decl.first() {
            if p.assign {
                if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == d) {
                    slot.1 = v.clone();
                }
            } else {
                self.vars.push((d, v.clone()));
            }
        }
        Ok(v)
    }

    fn command(&mut self, dot: &Value, c: &'t Cmd, fin: Option<Value>) -> Result<Value, String> {
        let first = &c.args[0];
        let at0 = &c.at[0];
        match first {
            Arg::Func(id, name) => self.call(dot, &c.at, *id, name, &c.args[1..], &c.at[1..], fin),
            _ => {
                if c.args.len() > 1 || fin.is_some() {
                    let msg = match first {
                        Arg::Field(f) | Arg::Var(_, f) | Arg::Chain(_, f) if !f.is_empty() => {
                            format!("{} is not a method but has arguments", f[f.len() - 1])
                        }
                        _ => format!("can't give argument to non-function {}", first.text()),
                    };
                    return Err(self.exec_err(at0, &msg));
                }
                if matches!(first, Arg::Nil) {
                    return Err(self.exec_err(at0, "nil is not a command"));
                }
                self.arg(dot, at0, first)
            }
        }
    }

    /// Calls function `id` with the arguments `args` (at `ats`) and, in a pipeline, the
    /// previous command's value `fin` last. `cmd` is where each node of the whole command
    /// is (the function first).
    #[allow(clippy::too_many_arguments)]
    fn call(
        &mut self,
        dot: &Value,
        cmd: &[At],
        id: usize,
        name: &str,
        args: &'t [Arg],
        ats: &[At],
        fin: Option<Value>,
    ) -> Result<Value, String> {
        let at = &cmd[0];
        let f = match self.funcs[id] {
            Callable::Func(f) => f,
            Callable::And | Callable::Or => {
                // Go evaluates and/or lazily and returns the deciding argument.
                let want = matches!(self.funcs[id], Callable::Or);
                let n = args.len() + usize::from(fin.is_some());
                if n == 0 {
                    return Err(self.exec_err(
                        at,
                        &format!("wrong number of args for {name}: want at least 1 got 0"),
                    ));
                }
                let mut last = Value::Nil;
                for (a, at) in args.iter().zip(ats) {
                    last = self.arg(dot, at, a)?;
                    if last.truth(self.env.data) == want {
                        return Ok(last);
                    }
                }
                if let Some(f) = fin {
                    last = f;
                }
                return Ok(last);
            }
        };
        let mut values = Vec::with_capacity(args.len() + usize::from(fin.is_some()));
        for (a, at) in args.iter().zip(ats) {
            values.push(self.arg(dot, at, a)?);
        }
        if let Some(f) = fin {
            values.push(f);
        }
        f(self.env, values).map_err(|m| {
            // Go reports an error the function returned at the whole command
            // (`at <index .host 10>`), and its own checks at the function's name.
            if m.starts_with("error calling ") {
                self.exec_err(&command_at(cmd), &m)
            } else {
                self.exec_err(at, &m)
            }
        })
    }

    fn arg(&mut self, dot: &Value, at: &At, a: &'t Arg) -> Result<Value, String> {
        Ok(match a {
            Arg::Dot => dot.clone(),
            Arg::Field(f) => self.field_chain(at, dot.clone(), f)?,
            Arg::Var(v, f) => {
                let base = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == v)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| self.exec_err(at, &format!("undefined variable: {v}")))?;
                self.field_chain(at, base, f)?
            }
            Arg::Func(id, name) => {
                self.call(dot, std::slice::from_ref(at), *id, name, &[], &[], None)?
            }
            Arg::Pipe(p) => self.pipe(dot, p)?,
            Arg::Chain(p, f) => {
                let v = self.pipe(dot, p)?;
                self.field_chain(at, v, f)?
            }
            Arg::Str(s) => Value::Str(s.clone()),
            Arg::Num {
                int,
                float,
                is_float,
                ..
            } => match (int, is_float) {
                (Some(i), false) => Value::Int(*i),
                _ => Value::Float(*float),
            },
            Arg::Bool(b) => Value::Bool(*b),
            Arg::Nil => Value::Nil,
        })
    }

    fn field_chain(&self, at: &At, mut v: Value, fields: &[String]) -> Result<Value, String> {
        for f in fields {
            v = match &v {
                Value::Root => match self.env.data.get(f) {
                    Some(s) => Value::str(s),
                    // missingkey=zero on map[string]string: the zero string.
                    None => Value::str(""),
                },
                Value::Map(m) => m.get(f).cloned().unwrap_or(Value::Nil),
                Value::StrMap(m) => Value::str(m.get(f).map_or("", String::as_str)),
                Value::Nil => {
                    return Err(
                        self.exec_err(at, &format!("nil pointer evaluating interface {{}}.{f}"))
                    )
                }
                other => {
                    return Err(self.exec_err(
                        at,
                        &format!("can't evaluate field {f} in type {}", other.type_name()),
                    ))
                }
            };
        }
        Ok(v)
    }
}

impl Arg {
    /// The operand as Go prints the node in messages.
    fn text(&self) -> String {
        match self {
            Arg::Dot => ".".into(),
            Arg::Field(f) => format!(".{}", f.join(".")),
            Arg::Var(v, f) if f.is_empty() => v.clone(),
            Arg::Var(v, f) => format!("{v}.{}", f.join(".")),
            Arg::Func(_, n) => n.clone(),
            Arg::Str(s) => strconv::quote(s),
            Arg::Num { text, .. } => text.clone(),
            Arg::Bool(b) => b.to_string(),
            Arg::Nil => "nil".into(),
            Arg::Pipe(_) | Arg::Chain(..) => "(…)".into(),
        }
    }
}
