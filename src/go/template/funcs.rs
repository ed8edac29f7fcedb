//! Function tables: `text/template`'s built-in functions (`funcs.go`, Go 1.22) and the
//! table callers extend with their own (Go's `FuncMap`).
//!
//! A function gets the execution's [`Env`] and its arguments, already evaluated (Go's
//! `reflect.Call` reduced to a value list), and returns a value or an error message;
//! the executor wraps that in Go's `template: …: error calling f: …` form where Go
//! does. The argument helpers here ([`nargs`], [`arg_str`], …) give Go's messages for
//! the checks Go's reflection makes.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use super::value::Value;
use super::{Context, Env};
use crate::go::time::Time;
use crate::go::{fmt, url};

/// A template function.
pub type Func<C> = fn(&Env<'_, C>, Vec<Value>) -> Result<Value, String>;

/// A resolved function: a plain one, or the lazily evaluated `and`/`or` built-ins
/// (which the executor runs itself, as Go's does).
pub(super) enum Callable<C: Context> {
    Func(Func<C>),
    And,
    Or,
}

// Manual impls: derives would require `C: Clone`, and `C` is only a name.
impl<C: Context> Clone for Callable<C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C: Context> Copy for Callable<C> {}

/// The functions templates may call, by name.
pub struct FuncTable<C: Context> {
    funcs: HashMap<String, Callable<C>>,
}

impl<C: Context> Clone for FuncTable<C> {
    fn clone(&self) -> Self {
        FuncTable {
            funcs: self.funcs.clone(),
        }
    }
}

impl<C: Context> FuncTable<C> {
    /// `text/template`'s built-in functions: `and or not len index slice print printf
    /// println html js urlquery call eq ne lt le gt ge`.
    pub fn builtins() -> FuncTable<C> {
        let mut t = FuncTable {
            funcs: HashMap::new(),
        };
        t.funcs.insert("and".into(), Callable::And);
        t.funcs.insert("or".into(), Callable::Or);
        let builtins: [(&str, Func<C>); 17] = [
            ("not", f_not),
            ("eq", f_eq),
            ("ne", f_ne),
            ("lt", f_lt),
            ("le", f_le),
            ("gt", f_gt),
            ("ge", f_ge),
            ("len", f_len),
            ("index", f_index),
            ("slice", f_slice),
            ("print", f_print),
            ("printf", f_printf),
            ("println", f_println),
            ("html", f_html),
            ("js", f_js),
            ("urlquery", f_urlquery),
            ("call", f_call),
        ];
        for (name, f) in builtins {
            t.add(name, f);
        }
        t
    }

    /// Adds (or replaces, built-ins included, as Go's `Funcs` does) function `name`.
    pub fn add(&mut self, name: &str, f: Func<C>) -> &mut FuncTable<C> {
        self.funcs.insert(name.to_string(), Callable::Func(f));
        self
    }

    /// Whether templates may call `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.funcs.contains_key(name)
    }

    pub(super) fn get(&self, name: &str) -> Option<Callable<C>> {
        self.funcs.get(name).copied()
    }
}

// ---------------------------------------------------------------------------------
// Argument handling (the checks Go's reflect.Call makes, with its messages)

/// Checks that a function got exactly `n` arguments.
pub fn nargs(name: &str, a: &[Value], n: usize) -> Result<(), String> {
    if a.len() != n {
        return Err(format!(
            "wrong number of args for {name}: want {n} got {}",
            a.len()
        ));
    }
    Ok(())
}

/// Checks that a (variadic) function got at least `n` arguments.
pub fn nargs_min(name: &str, a: &[Value], n: usize) -> Result<(), String> {
    if a.len() < n {
        return Err(format!(
            "wrong number of args for {name}: want at least {n} got {}",
            a.len()
        ));
    }
    Ok(())
}

/// Go's message for an argument of the wrong type.
pub fn wrong_type(want: &str, v: &Value) -> String {
    format!(
        "wrong type for value; expected {want}; got {}",
        v.type_name()
    )
}

/// A `string` argument.
pub fn arg_str(v: &Value) -> Result<&str, String> {
    match v {
        Value::Str(s) => Ok(s),
        other => Err(wrong_type("string", other)),
    }
}

/// An `int` argument (an integral float converts, as Go's untyped constants do).
pub fn arg_int(v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Float(f) if f.fract() == 0.0 => Ok(*f as i64),
        other => Err(wrong_type("int", other)),
    }
}

/// A `time.Time` argument.
pub fn arg_time(v: &Value) -> Result<&Time, String> {
    match v {
        Value::Time(t) => Ok(t),
        other => Err(wrong_type("time.Time", other)),
    }
}

/// Go's `error calling f: …`, for errors a function returns.
pub fn call_err(name: &str, e: impl std::fmt::Display) -> String {
    format!("error calling {name}: {e}")
}

// ---------------------------------------------------------------------------------
// Built-ins

fn f_not<C: Context>(e: &Env<'_, C>, a: Vec<Value>) -> Result<Value, String> {
    nargs("not", &a, 1)?;
    Ok(Value::Bool(!a[0].truth(e.data)))
}

#[derive(PartialEq)]
enum Kind {
    Bool,
    Int,
    Float,
    Str,
    Invalid,
    Other,
}

fn kind(v: &Value) -> Kind {
    match v {
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) => Kind::Int,
        Value::Float(_) => Kind::Float,
        Value::Str(_) => Kind::Str,
        Value::Nil => Kind::Invalid,
        _ => Kind::Other,
    }
}

fn eq2(a: &Value, b: &Value) -> Result<bool, String> {
    let (ka, kb) = (kind(a), kind(b));
    if ka != kb {
        if ka != Kind::Invalid && kb != Kind::Invalid {
            return Err("incompatible types for comparison".into());
        }
        return Ok(false);
    }
    Ok(match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Nil, Value::Nil) => true,
        (Value::Time(x), Value::Time(y)) => x.ns == y.ns,
        _ => return Err(format!("non-comparable type {}", a.type_name())),
    })
}

fn f_eq<C: Context>(_: &Env<'_, C>, a: Vec<Value>) -> Result<Value, String> {
    nargs_min("eq", &a, 1)?;
    if a.len() == 1 {
        return Err(call_err("eq", "missing argument for comparison"));
    }
    for b in &a[1..] {
        if eq2(&a[0], b).map_err(|e| call_err("eq", e))? {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}

fn f_ne<C: Context>(_: &Env<'_, C>, a: Vec<Value>) -> Result<Value, String> {
    nargs("ne", &a, 2)?;
    Ok(Value::Bool(
        !eq2(&a[0], &a[1]).map_err(|e| call_err("ne", e))?,
    ))
}

fn less(name: &str, a: &Value, b: &Value) -> Result<bool, String> {
    let (ka, kb) = (kind(a), kind(b));
    if matches!(ka, Kind::Bool | Kind::Invalid | Kind::Other) {
        return Err(call_err(name, "invalid type for comparison"));
    }
    if ka != kb {
        return Err(call_err(name, "incompatible types for comparison"));
    }
    Ok(match (a, b) {
        (Value::Int(x), Value::Int(y)) => x < y,
        (Value::Float(x), Value::Float(y)) => x < y,
        (Value::Str(x), Value::Str(y)) => x < y,
        _ => false,
    })
}

fn f_lt<C: Context>(_: &Env<'_, C>, a: Vec<Value>) -> Result<Value, String> {
    nargs("lt", &a, 2)?;
    Ok(Value::Bool(less("lt", &a[0], &a[1])?))
}

fn f_le<C: Context>(_: &Env<'_, C>, a: Vec<Value>) -> Result<Value, String> {
    nargs("le", &a, 2)?;
    let lt = less("le", &a[0], &a[1])?;
    Ok(Value::Bool(
        lt || eq2(&a[0], &a[1]).map_err(|e| call_err("le", e))?,
    ))
}

fn f_gt<C: Context>(_: &Env<'_, C>, a: Vec<Value>) -> Result<Value, String> {
    nargs("gt", &a, 2)?;
    let lt = less("gt", &a[0], &a[1])?;
    Ok(Value::Bool(
        !lt && !eq2(&a[0], &a[1]).map_err(|e| call_err("gt", e))?,
    ))
}

fn f_ge<C: Context>(_: &Env<'_, C>, a: Vec<Value>) -> Result<Value, String> {
    nargs("ge", &a, 2)?;
    Ok(Value::Bool(!less("ge", &a[0], &a[1])?))
}

fn f_len<C: Context>(e: &Env<'_, C>, a: Vec<Value>) -> Result<Value, String> {
    nargs("len", &a, 1)?;
    Ok(Value::Int(match &a[0] {
        Value::Str(s) => s.len() as i64,
        Value::Map(m) => m.len() as i64,
        Value::List(l) => l.len() as i64,
        Value::StrMap(m) => m.len() as i64,
        Value::Root => e.data.len() as i64,
        other => {
            return Err(call_err(
                "len",
                format!("len of type {}", other.type_name()),
            ))
        }
    }))
}

fn f_index<C: Context>(e: &Env<'_, C>, a: Vec<Value>) -> Result<Value, String> {
    nargs_min("index", &a, 1)?;
    let mut cur = a[0].clone();
    for ix in &a[1..] {
        cur = match (&cur, ix) {
            (Value::Root, Value::Str(k)) => Value::str(e.data.get(k).unwrap_or("")),
            (Value::Map(m), Value::Str(k)) => m.get(&**k).cloned().unwrap_or(Value::Nil),
            (Value::StrMap(m), Value::Str(k)) => Value::str(m.get(&**k).map_or("", String::as_str)),
            (Value::List(l), i) => {
                let i = arg_int(i).map_err(|m| call_err("index", m))?;
                l.get(usize::try_from(i).unwrap_or(usize::MAX))
                    .cloned()
                    .ok_or_else(|| call_err("index", format!("index out of range: {i}")))?
            }
            (Value::Str(s), i) => {
                let i = arg_int(i).map_err(|m| call_err("index", m))?;
                let b = s
                    .as_bytes()
                    .get(usize::try_from(i).unwrap_or(usize::MAX))
                    .ok_or_else(|| call_err("index", format!("index out of range: {i}")))?;
                Value::Int(*b as i64)
            }
            (Value::Nil, _) => return Err(call_err("index", "index of untyped nil")),
            (c, _) => {
                return Err(call_err(
                    "index",
                    format!("can't index item of type {}", c.type_name()),
                ))
            }
        };
    }
    Ok(cur)
}

fn f_slice<C: Context>(_: &Env<'_, C>, a: Vec<Value>) -> Result<Value, String> {
    nargs_min("slice", &a, 1)?;
    let idx: Vec<i64> = a[1..]
        .iter()
        .map(arg_int)
        .collect::<Result<_, _>>()
        .map_err(|m| call_err("slice", m))?;
    let len = match &a[0] {
        Value::Str(s) => s.len(),
        Value::List(l) => l.len(),
        other => {
            return Err(call_err(
                "slice",
                format!("can't slice item of type {}", other.type_name()),
            ))
        }
    } as i64;
    let i = idx.first().copied().unwrap_or(0);
    let j = idx.get(1).copied().unwrap_or(len);
    if idx.len() > 2 || i < 0 || j < i || j > len {
        return Err(call_err("slice", format!("index out of range: {j}")));
    }
    Ok(match &a[0] {
        Value::Str(s) => Value::str(&String::from_utf8_lossy(
            &s.as_bytes()[i as usize..j as usize],
        )),
        Value::List(l) => Value::List(Arc::new(l[i as usize..j as usize].to_vec())),
        _ => Value::Nil,
    })
}

fn f_print<C: Context>(e: &Env<'_, C>, a: Vec<Value>) -> Result<Value, String> {
    Ok(Value::str(&fmt::sprint(&a, e.data)))
}

fn f_println<C: Context>(e: &Env<'_, C>, a: Vec<Value>) -> Result<Value, String> {
    Ok(Value::str(&fmt::sprintln(&a, e.data)))
}

fn f_printf<C: Context>(e: &Env<'_, C>, a: Vec<Value>) -> Result<Value, String> {
    nargs_min("printf", &a, 1)?;
    let f = arg_str(&a[0])?;
    Ok(Value::str(&fmt::sprintf(f, &a[1..], e.data)))
}

fn f_html<C: Context>(e: &Env<'_, C>, a: Vec<Value>) -> Result<Value, String> {
    let src = fmt::sprint(&a, e.data);
    let mut out = String::with_capacity(src.len());
    for c in src.chars() {
        match c {
            '\0' => out.push('\u{FFFD}'),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    Ok(Value::str(&out))
}

fn f_js<C: Context>(e: &Env<'_, C>, a: Vec<Value>) -> Result<Value, String> {
    let src = fmt::sprint(&a, e.data);
    let mut out = String::with_capacity(src.len());
    for c in src.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    Ok(Value::str(&out))
}

fn f_urlquery<C: Context>(e: &Env<'_, C>, a: Vec<Value>) -> Result<Value, String> {
    Ok(Value::str(&url::query_escape(&fmt::sprint(&a, e.data))))
}

fn f_call<C: Context>(_: &Env<'_, C>, a: Vec<Value>) -> Result<Value, String> {
    nargs_min("call", &a, 1)?;
    Err(call_err(
        "call",
        format!("non-function of type {}", a[0].type_name()),
    ))
}
