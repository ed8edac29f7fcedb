//! The engine with the built-in table only, and with tables and variables defined the
//! way a caller outside `go/` defines them. (`line_format`'s functions are tested
//! with LogQL's table in `engine::pipeline::logql_funcs`.)

use std::collections::BTreeMap;
use std::sync::Arc;

use super::*;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn run(src: &str, pairs: &[(&str, &str)]) -> Result<String, String> {
    let t = Template::parse("t", src, &FuncTable::<()>::builtins())?;
    let data = labels(pairs);
    let mut out = Vec::new();
    t.execute(
        &Env {
            data: &data,
            ctx: &(),
        },
        &mut out,
    )?;
    Ok(String::from_utf8(out).unwrap())
}

#[test]
fn builtins() {
    assert_eq!(
        run("{{.a}}|{{.missing}}|{{ . }}", &[("a", "1")]).unwrap(),
        "1||map[a:1]"
    );
    assert_eq!(
        run(r#"{{ printf "%5.1f|%q" 2.25 .a }}"#, &[("a", "x")]).unwrap(),
        "  2.2|\"x\""
    );
    assert_eq!(
        run(r#"{{ print 1 2 "a" nil }} {{ println 1 }}"#, &[]).unwrap(),
        "1 2a<nil> 1\n"
    );
    assert_eq!(
        run(
            r#"{{ len .a }} {{ index . "a" }} {{ slice "hello" 1 3 }}"#,
            &[("a", "héllo")]
        )
        .unwrap(),
        "6 héllo el"
    );
    assert_eq!(
        run(
            r#"{{ html "<a&b>" }} {{ js "a'b" }} {{ urlquery "a b" }}"#,
            &[]
        )
        .unwrap(),
        "&lt;a&amp;b&gt; a\\'b a+b"
    );
    assert_eq!(
        run(
            r#"{{ eq 1 2 1 }} {{ ne "a" "b" }} {{ lt 1 2 }} {{ ge 1.5 2.5 }} {{ not 0 }}"#,
            &[]
        )
        .unwrap(),
        "true true true false true"
    );
    assert_eq!(
        run(r#"{{ and 1 0 2 }} {{ or 0 "" "x" }} {{ or 0 }}"#, &[]).unwrap(),
        "0 x 0"
    );
    assert_eq!(
        run(
            "{{ 'a' }} {{ '\\n' }} {{ 0x1F }} {{ 1_000 }} {{ 1e3 }} {{ `r\\n` }}",
            &[]
        )
        .unwrap(),
        "97 10 31 1000 1000 r\\n"
    );
    assert_eq!(run("{{ \"\\u00e9\\x41\" }}", &[]).unwrap(), "éA");
}

#[test]
fn control_flow() {
    let t = r#"{{ if eq .l "e" }}E{{ else if eq .l "w" }}W{{ else }}O{{ end }}"#;
    assert_eq!(run(t, &[("l", "e")]).unwrap(), "E");
    assert_eq!(run(t, &[("l", "w")]).unwrap(), "W");
    assert_eq!(run(t, &[("l", "x")]).unwrap(), "O");
    assert_eq!(
        run(
            "{{ range $k, $v := . }}{{$k}}={{$v}};{{ end }}",
            &[("b", "2"), ("a", "1")]
        )
        .unwrap(),
        "a=1;b=2;"
    );
    assert_eq!(
        run(
            "{{ range $i := 5 }}{{ if eq $i 3 }}{{ break }}{{ end }}{{$i}}{{ end }}",
            &[]
        )
        .unwrap(),
        "012"
    );
    assert_eq!(
        run("{{ with .a }}[{{.}}]{{ else }}none{{ end }}", &[]).unwrap(),
        "none"
    );
    assert_eq!(run("{{ $x := 1 }}{{ $x = 2 }}{{ $x }}", &[]).unwrap(), "2");
    assert_eq!(run("a {{- 1 -}} \n b {{/* c */}}", &[]).unwrap(), "a1b ");
}

#[test]
fn errors_like_go() {
    let parse = |src| Template::parse("t", src, &FuncTable::<()>::builtins()).map(|_| ());
    assert_eq!(
        parse("{{ upper .a }}").unwrap_err(),
        "template: t:1: function \"upper\" not defined"
    );
    assert_eq!(
        parse("{{ \"\\q\" }}").unwrap_err(),
        "template: t:1: invalid syntax"
    );
    assert_eq!(
        parse("{{ 'ab' }}").unwrap_err(),
        "template: t:1: malformed character constant: 'ab'"
    );
    assert_eq!(
        parse("{{ '\\q' }}").unwrap_err(),
        "template: t:1: invalid syntax"
    );
    assert!(parse("{{ $x }}")
        .unwrap_err()
        .contains("undefined variable"));
    assert_eq!(
        run("{{ .a.b }}", &[("a", "x")]).unwrap_err(),
        "template: t:1:3: executing \"t\" at <.a.b>: can't evaluate field b in type string"
    );
    assert_eq!(run("{{ and }}", &[]).unwrap_err(), "template: t:1:3: executing \"t\" at <and>: wrong number of args for and: want at least 1 got 0");
    assert!(run("{{ lt 1 \"a\" }}", &[])
        .unwrap_err()
        .ends_with("error calling lt: incompatible types for comparison"));
}

/// What the ruler's alert templates need, defined outside `go::template` as any caller
/// would: its own table on top of the built-ins, a per-execution context, and the
/// `$labels`/`$value` variables.
#[test]
fn custom_table_context_and_variables() {
    /// An alert being rendered.
    struct Alert;
    struct AlertCtx<'a> {
        external_url: &'a str,
    }
    impl Context for Alert {
        type Of<'a> = AlertCtx<'a>;
    }

    fn humanize(_: &Env<'_, Alert>, a: Vec<Value>) -> Result<Value, String> {
        nargs("humanize", &a, 1)?;
        match a[0] {
            Value::Float(f) if f >= 1000.0 => Ok(Value::str(&format!("{:.4}k", f / 1000.0))),
            _ => Ok(a[0].clone()),
        }
    }
    fn external_url(e: &Env<'_, Alert>, a: Vec<Value>) -> Result<Value, String> {
        nargs("externalURL", &a, 0)?;
        Ok(Value::str(e.ctx.external_url))
    }
    fn to_upper(_: &Env<'_, Alert>, a: Vec<Value>) -> Result<Value, String> {
        nargs("toUpper", &a, 1)?;
        Ok(Value::str(&crate::go::strings::to_upper(arg_str(&a[0])?)))
    }

    let mut table = FuncTable::<Alert>::builtins();
    table
        .add("humanize", humanize)
        .add("externalURL", external_url)
        .add("toUpper", to_upper);
    assert!(table.contains("printf") && table.contains("humanize"));

    let src = r#"{{ $labels.job | toUpper }} at {{ $value | humanize }} ({{ len $labels }}) {{ externalURL }} {{ .Value }}"#;
    // Without the variables declared, Go's parser refuses them.
    assert!(Template::parse("a", src, &table)
        .unwrap_err()
        .contains("undefined variable \"$labels\""));
    let t = Template::parse_with_vars("a", src, &table, &["$labels", "$value"]).unwrap();

    let lbls = Value::Map(Arc::new(BTreeMap::from([
        ("job".to_string(), Value::str("api")),
        ("instance".to_string(), Value::str("a:1")),
    ])));
    let dot = Value::Map(Arc::new(BTreeMap::from([
        ("Labels".to_string(), lbls.clone()),
        ("Value".to_string(), Value::Float(1234.5)),
    ])));
    let ctx = AlertCtx {
        external_url: "http://x",
    };
    let no_data = BTreeMap::new();
    let env = Env {
        data: &no_data,
        ctx: &ctx,
    };
    let mut out = Vec::new();
    t.execute_with(&env, &dot, &[lbls, Value::Float(1234.5)], &mut out)
        .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "API at 1.2345k (2) http://x 1234.5"
    );

    // Builtins can be replaced, as with Go's Funcs.
    table.add("len", |_, _| Ok(Value::Int(-1)));
    let t = Template::parse("a", "{{ len 1 }}", &table).unwrap();
    let mut out = Vec::new();
    t.execute(&env, &mut out).unwrap();
    assert_eq!(out, b"-1");
}

#[test]
fn templates_are_send_and_sync() {
    fn check<T: Send + Sync + Clone>() {}
    check::<Template<()>>();
    check::<FuncTable<()>>();
}
