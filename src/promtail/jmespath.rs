//! The part of JMESPath promtail configs use in `json` stage expressions:
//! identifiers (`level`), quoted identifiers (`"grpc.method"`), sub-expressions
//! (`a.b`), indexes (`items[0]`, `items[-1]`), and the projections `[*]`, `.*`
//! and `[]` (flatten), with JMESPath's rules: a missing key or index is null,
//! and a projection drops null results.
//!
//! A small evaluator rather than a crate: the Rust `jmespath` crate keeps its
//! values in `Rc` (not `Send` unless a feature adds a lock per value) and
//! brings its own JSON value type, while this subset is what promtail's docs
//! and tests use. Anything else (functions, filters, slices, pipes, literals)
//! is refused when the config is read, naming the expression and the column.

use serde_json::Value;

/// A compiled expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Index(i64),
    /// `[*]`: project the rest over a list's elements.
    ListProject,
    /// `.*`: project the rest over an object's values.
    ObjectProject,
    /// `[]`: flatten one level, then project the rest.
    Flatten,
}

impl Expr {
    /// Compiles `src`; the error names the column (from 1) of the first
    /// character it cannot use.
    pub fn compile(src: &str) -> Result<Expr, String> {
        let b = src.as_bytes();
        let mut i = 0;
        let mut steps = Vec::new();
        let err = |i: usize, what: &str| {
            Err(format!(
                "JMESPath expression {src:?}: {what} at column {} (lokal supports identifiers, \
                 \"quoted\" identifiers, a.b, [N], [*], .* and [])",
                i + 1
            ))
        };
        let mut want_field = true;
        while i < b.len() {
            match b[i] {
                b' ' | b'\t' => i += 1,
                b'[' => {
                    let close = match b[i..].iter().position(|&c| c == b']') {
                        Some(p) => i + p,
                        None => return err(i, "unclosed ["),
                    };
                    let inner = src[i + 1..close].trim();
                    match inner {
                        "*" => steps.push(Step::ListProject),
                        "" => steps.push(Step::Flatten),
                        n => match n.parse::<i64>() {
                            Ok(n) => steps.push(Step::Index(n)),
                            Err(_) => return err(i, "unsupported bracket expression"),
                        },
                    }
                    i = close + 1;
                    want_field = false;
                }
                b'.' if !want_field => {
                    i += 1;
                    want_field = true;
                    if b.get(i) == Some(&b'*') {
                        steps.push(Step::ObjectProject);
                        i += 1;
                        want_field = false;
                    }
                }
                b'"' if want_field => {
                    let mut j = i + 1;
                    let mut esc = false;
                    while j < b.len() && (esc || b[j] != b'"') {
                        esc = !esc && b[j] == b'\\';
                        j += 1;
                    }
                    if j >= b.len() {
                        return err(i, "unclosed quoted identifier");
                    }
                    match serde_json::from_str::<String>(&src[i..=j]) {
                        Ok(name) => steps.push(Step::Field(name)),
                        Err(_) => return err(i, "bad quoted identifier"),
                    }
                    i = j + 1;
                    want_field = false;
                }
                c if want_field && (c.is_ascii_alphabetic() || c == b'_') => {
                    let mut j = i;
                    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                        j += 1;
                    }
                    steps.push(Step::Field(src[i..j].to_string()));
                    i = j;
                    want_field = false;
                }
                _ => return err(i, "unsupported syntax"),
            }
        }
        if steps.is_empty() {
            return err(0, "empty expression");
        }
        if want_field {
            return err(b.len(), "expected an identifier");
        }
        Ok(Expr { steps })
    }

    /// Evaluates the expression against `v`; null when nothing matches.
    pub fn search(&self, v: &Value) -> Value {
        eval(&self.steps, v)
    }
}

fn eval(steps: &[Step], v: &Value) -> Value {
    let Some((step, rest)) = steps.split_first() else {
        return v.clone();
    };
    match step {
        Step::Field(name) => match v {
            Value::Object(m) => m.get(name).map_or(Value::Null, |x| eval(rest, x)),
            _ => Value::Null,
        },
        Step::Index(n) => match v {
            Value::Array(a) => {
                let i = if *n < 0 { a.len() as i64 + n } else { *n };
                usize::try_from(i)
                    .ok()
                    .and_then(|i| a.get(i))
                    .map_or(Value::Null, |x| eval(rest, x))
            }
            _ => Value::Null,
        },
        Step::ListProject => match v {
            Value::Array(a) => project(a.iter(), rest),
            _ => Value::Null,
        },
        Step::ObjectProject => match v {
            Value::Object(m) => project(m.values(), rest),
            _ => Value::Null,
        },
        Step::Flatten => match v {
            Value::Array(a) => {
                let mut flat = Vec::new();
                for x in a {
                    match x {
                        Value::Array(inner) => flat.extend(inner.iter().cloned()),
                        other => flat.push(other.clone()),
                    }
                }
                project(flat.iter(), rest)
            }
            _ => Value::Null,
        },
    }
}

fn project<'a>(items: impl Iterator<Item = &'a Value>, rest: &[Step]) -> Value {
    Value::Array(
        items
            .map(|x| eval(rest, x))
            .filter(|x| !x.is_null())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search(expr: &str, doc: &str) -> String {
        let v: Value = serde_json::from_str(doc).unwrap();
        Expr::compile(expr).unwrap().search(&v).to_string()
    }

    // Cases of promtail's json_test.go and JMESPath's tutorial.
    #[test]
    fn subset() {
        let doc = r#"{"numeric":{"float":12.34},"complex":{"log":{"array":[{"test1":"test2"},{"test3":"test4"}]}},
                     "grpc.method":"Get","people":[{"n":"a"},{"x":1},{"n":"b"}],"m":[[1,2],[3]],
                     "ops":{"a":{"n":1},"b":{"n":2}}}"#;
        assert_eq!(search("numeric.float", doc), "12.34");
        assert_eq!(search("complex.log.array[1].test3", doc), r#""test4""#);
        assert_eq!(search("complex.log.array[-1].test3", doc), r#""test4""#);
        assert_eq!(search(r#""grpc.method""#, doc), r#""Get""#);
        assert_eq!(search("people[*].n", doc), r#"["a","b"]"#);
        assert_eq!(search("m[]", doc), "[1,2,3]");
        assert_eq!(search("ops.*.n", doc), "[1,2]");
        assert_eq!(search("missing.x", doc), "null");
        assert_eq!(search("people[9]", doc), "null");
    }

    #[test]
    fn refused() {
        for bad in [
            "3##@$#33",
            "a.",
            "length(a)",
            "a[?b==`1`]",
            "a | b",
            "a[1:2]",
            "",
        ] {
            assert!(Expr::compile(bad).is_err(), "{bad}");
        }
        let e = Expr::compile("a[?b]").unwrap_err();
        assert!(e.contains("column 2"), "{e}");
    }
}
