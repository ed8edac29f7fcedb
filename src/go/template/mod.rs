//! Go's `text/template` (Go 1.22), with a pluggable function table.
//!
//! Loki runs `line_format` and `label_format` templates with `text/template`, and
//! Prometheus (whose ruler Loki embeds) runs alert annotations with it too, each with
//! its own functions. This engine is that one language; what differs between its users
//! is a [`FuncTable`] and a [`Context`]:
//!
//! - [`FuncTable::builtins`] holds `text/template`'s own functions (`and or not len
//!   index slice print printf println html js urlquery call eq ne lt le gt ge`); a
//!   caller adds its own with [`FuncTable::add`] (Go's `Template.Funcs`). Parsing
//!   checks names against the table, as Go does (`function "x" not defined`).
//! - A [`Context`] names what functions see of one execution besides the data (Loki's
//!   `__line__` and `__timestamp__` read the current line and its timestamp from it);
//!   functions get it as [`Env::ctx`].
//! - The data (`.`) is a [`Data`] string map read in place ([`Value::Root`]), or any
//!   [`Value`] given to [`Template::execute_with`], which also sets variables the
//!   caller declared at parse time ([`Template::parse_with_vars`], e.g. Prometheus'
//!   `$labels` and `$value`).
//!
//! ```
//! use std::collections::BTreeMap;
//! use lokal::go::template::{nargs, Env, FuncTable, Template, Value};
//!
//! let mut funcs = FuncTable::<()>::builtins();
//! funcs.add("shout", |_, a| {
//!     nargs("shout", &a, 1)?;
//!     Ok(Value::str(&format!("{}!", lokal::go::template::display(&a[0], &BTreeMap::new()))))
//! });
//! let t = Template::parse("x", r#"{{ .level | shout }} {{ printf "%03d" 7 }}"#, &funcs).unwrap();
//! let data = BTreeMap::from([("level".to_string(), "warn".to_string())]);
//! let mut out = Vec::new();
//! t.execute(&Env { data: &data, ctx: &() }, &mut out).unwrap();
//! assert_eq!(out, b"warn! 007");
//! ```
//!
//! The language: text, actions with pipelines, `{{-`/`-}}` trimming, comments,
//! `if`/`else if`/`else`/`with`/`range` (over maps, lists and integers) with
//! `break`/`continue`, variables (`$x := …`, `$x = …`, `$`), field chains (`.a.b`,
//! `$x.a`, `(…).a`), string/raw/char/number/bool/nil literals and parenthesised
//! pipelines. Not supported: `define`/`template`/`block` (Loki's and Prometheus'
//! templates are single, unnamed ones) and method calls on values.
//!
//! Parse and execution errors use Go's message formats (`template: line:1: function
//! "x" not defined`), which Loki surfaces in errors and `__error_details__`.

mod exec;
mod funcs;
mod lexer;
mod parser;
mod value;

pub use exec::MAX_RANGE;
pub use funcs::{
    arg_int, arg_str, arg_time, call_err, nargs, nargs_min, wrong_type, Func, FuncTable,
};
pub use value::{display, print_value, Data, Value};

/// What the functions of a table see of one execution besides its [`Data`]:
/// `Of<'a>` is the type they find in [`Env::ctx`], borrowed for the execution. The
/// implementing type is only a name for that family (the lifetime is why it is not
/// simply a type parameter): Loki's `line_format` context is the line being formatted
/// and its timestamp; `()` is for tables that need nothing.
pub trait Context: 'static {
    /// The per-execution context.
    type Of<'a>;
}

impl Context for () {
    type Of<'a> = ();
}

/// What a running template and its functions can see.
pub struct Env<'a, C: Context> {
    /// The data behind [`Value::Root`].
    pub data: &'a dyn Data,
    /// The caller's per-execution context.
    pub ctx: &'a C::Of<'a>,
}

/// A parsed template, with the functions it calls resolved from its [`FuncTable`].
/// `Send + Sync` and cheap to execute concurrently: execution state lives on the
/// stack.
pub struct Template<C: Context> {
    name: String,
    nodes: Vec<parser::Node>,
    /// The functions the template calls; the parse tree refers to them by index.
    funcs: Vec<funcs::Callable<C>>,
    /// Variables the caller declared besides `$`.
    vars: Vec<String>,
}

impl<C: Context> Clone for Template<C> {
    fn clone(&self) -> Self {
        Template {
            name: self.name.clone(),
            nodes: self.nodes.clone(),
            funcs: self.funcs.clone(),
            vars: self.vars.clone(),
        }
    }
}

impl<C: Context> std::fmt::Debug for Template<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Template")
            .field("name", &self.name)
            .field("nodes", &self.nodes)
            .field("vars", &self.vars)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
