//! Template values: Go's `interface{}` as far as templates can observe it, with Go's
//! truthiness (`text/template`'s `isTrue`) and printing (`fmt.Fprint` of an action).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::go::fmt::{Arg, Operand};
use crate::go::strconv::format_float;
use crate::go::time::Time;

/// A template value, dynamically typed like Go's `interface{}`. Cloning is cheap: strings
/// and collections are shared.
#[derive(Debug, Clone)]
pub enum Value {
    /// A nil interface; an action prints it as `<no value>`.
    Nil,
    /// `bool`.
    Bool(bool),
    /// Any integer (`int`, `int64`).
    Int(i64),
    /// `float64`.
    Float(f64),
    /// `string`.
    Str(Arc<str>),
    /// `time.Time`.
    Time(Time),
    /// `map[string]interface{}` (from `fromJson`, or built by the caller).
    Map(Arc<BTreeMap<String, Value>>),
    /// `[]interface{}`.
    List(Arc<Vec<Value>>),
    /// `map[string]string` built by the caller (Prometheus' `$labels`): unlike
    /// [`Value::Map`], a missing key reads as the empty string (Go's
    /// `missingkey=zero` gives a typed map's zero value, not nil).
    StrMap(Arc<BTreeMap<String, String>>),
    /// The execution's [`Data`], a `map[string]string` read in place (for `line_format`
    /// the labels of the line; copying them into a map per line would cost too much).
    Root,
}

impl Value {
    /// A string value.
    pub fn str(s: &str) -> Value {
        Value::Str(Arc::from(s))
    }

    /// Go's type name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::Time(_) => "time.Time",
            Value::Map(_) => "map[string]interface {}",
            Value::List(_) => "[]interface {}",
            Value::StrMap(_) | Value::Root => "map[string]string",
        }
    }

    /// Go's `isTrue`: false, 0, "", nil and empty collections are false.
    pub fn truth(&self, data: &dyn Data) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Time(_) => true,
            Value::Map(m) => !m.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::StrMap(m) => !m.is_empty(),
            Value::Root => !data.is_empty(),
        }
    }
}

/// The string map behind [`Value::Root`]: what `.name` reads at the top level. Missing
/// keys read as the empty string, as with Go's `missingkey=zero` on a
/// `map[string]string`.
pub trait Data {
    /// The value of `name`.
    fn get(&self, name: &str) -> Option<&str>;
    /// All pairs, sorted by name (Go ranges over and prints maps in key order).
    fn sorted(&self) -> Vec<(String, String)>;
    /// The number of pairs.
    fn len(&self) -> usize;
    /// Whether there are no pairs (`{{ if . }}`).
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A map as template data (tests, and callers whose data is small).
impl Data for BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<&str> {
        BTreeMap::get(self, name).map(String::as_str)
    }

    fn sorted(&self) -> Vec<(String, String)> {
        self.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    fn len(&self) -> usize {
        BTreeMap::len(self)
    }
}

/// How an action prints a value (Go's `fmt.Fprint` as `text/template` calls it): a nil
/// interface is `<no value>`.
pub fn print_value(v: &Value, data: &dyn Data, out: &mut Vec<u8>) {
    match v {
        Value::Str(s) => out.extend_from_slice(s.as_bytes()),
        Value::Nil => out.extend_from_slice(b"<no value>"),
        _ => out.extend_from_slice(display(v, data).as_bytes()),
    }
}

/// Go's `%v` of a value (`map[a:1 b:x]`, `[1 2]`, `2006-01-02 15:04:05 +0000 UTC`).
pub fn display(v: &Value, data: &dyn Data) -> String {
    let mut s = String::new();
    write_display(v, data, &mut s);
    s
}

fn write_display(v: &Value, data: &dyn Data, out: &mut String) {
    match v {
        Value::Nil => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&format_float(*f, 'g', -1)),
        Value::Str(s) => out.push_str(s),
        Value::Time(t) => out.push_str(&t.to_go_string()),
        Value::Map(m) => {
            out.push_str("map[");
            for (i, (k, v)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                write_display(v, data, out);
            }
            out.push(']');
        }
        Value::List(l) => {
            out.push('[');
            for (i, v) in l.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_display(v, data, out);
            }
            out.push(']');
        }
        Value::StrMap(m) => write_str_map(m.iter(), out),
        Value::Root => write_str_map(data.sorted().iter().map(|(k, v)| (k, v)), out),
    }
}

/// Go's `%v` of a `map[string]string`: `map[a:1 b:x]`, keys sorted.
fn write_str_map<'a>(pairs: impl Iterator<Item = (&'a String, &'a String)>, out: &mut String) {
    out.push_str("map[");
    for (i, (k, v)) in pairs.enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(k);
        out.push(':');
        out.push_str(v);
    }
    out.push(']');
}

/// Values are `fmt` operands; [`Value::Root`] needs the data to print.
impl<'d> Arg<dyn Data + 'd> for Value {
    fn operand(&self) -> Operand<'_> {
        match self {
            Value::Nil => Operand::Nil,
            Value::Bool(b) => Operand::Bool(*b),
            Value::Int(i) => Operand::Int(*i),
            Value::Float(f) => Operand::Float(*f),
            Value::Str(s) => Operand::Str(s),
            Value::Time(_) | Value::Map(_) | Value::List(_) | Value::StrMap(_) | Value::Root => {
                Operand::Other
            }
        }
    }

    fn type_name(&self) -> &'static str {
        Value::type_name(self)
    }

    fn write_v(&self, data: &(dyn Data + 'd), out: &mut String) {
        write_display(self, data, out);
    }
}
