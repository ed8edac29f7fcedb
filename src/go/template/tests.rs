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
    let t = parse("line", src)?;
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

fn parse(name: &str, src: &str) -> Result<Template<()>, String> {
    Template::parse(name, src, &FuncTable::builtins())
}

#[test]
fn basics() {
    assert_eq!(
        run("L={{.level}}", &[("level", "error")]).unwrap(),
        "L=error"
    );
    assert_eq!(run("V={{.missing}}", &[]).unwrap(), "V=");
    assert_eq!(run("a {{- \"b\" -}} \n c", &[]).unwrap(), "abc");
    assert_eq!(run("a {{/* comment */}} b", &[]).unwrap(), "a  b");
    assert_eq!(run("a {{- /* comment */ -}} b", &[]).unwrap(), "ab");
    assert_eq!(
        run("{{ 3 }} {{ 1.5 }} {{ true }} {{ print nil }}", &[]).unwrap(),
        "3 1.5 true <nil>"
    );
    assert_eq!(run("{{ `raw\\n` }}", &[]).unwrap(), "raw\\n");
}

#[test]
fn builtins() {
    assert_eq!(run("{{ . }}", &[("a", "1")]).unwrap(), "map[a:1]");
    assert_eq!(
        run(r#"{{ printf "%5.1f|%q" 2.25 .a }}"#, &[("a", "x")]).unwrap(),
        "  2.2|\"x\""
    );
    assert_eq!(
        run(r#"{{ print 1 2 "a" nil }} {{ println 1 }}"#, &[]).unwrap(),
        "1 2a<nil> 1\n"
    );
    assert_eq!(run(r#"{{ slice "hello" 1 3 }}"#, &[]).unwrap(), "el");
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
}

#[test]
fn literals_like_go() {
    assert_eq!(
        run(
            "{{ 'a' }} {{ '\\n' }} {{ '\\x41' }} {{ 0x1F }} {{ 1_000 }} {{ 1e3 }}",
            &[]
        )
        .unwrap(),
        "97 10 65 31 1000 1000"
    );
    assert_eq!(
        run("{{ \"\\u00e9\\x41\" }} {{ `a\rb` }}", &[]).unwrap(),
        "éA ab"
    );
}

#[test]
fn control_flow() {
    let t = "{{ if eq .l \"error\" }}E{{ else if eq .l \"warn\" }}W{{ else }}O{{ end }}";
    assert_eq!(run(t, &[("l", "error")]).unwrap(), "E");
    assert_eq!(run(t, &[("l", "warn")]).unwrap(), "W");
    assert_eq!(run(t, &[("l", "x")]).unwrap(), "O");
    assert_eq!(
        run("{{ with .a }}[{{.}}]{{ else }}none{{ end }}", &[("a", "v")]).unwrap(),
        "[v]"
    );
    assert_eq!(
        run("{{ with .a }}[{{.}}]{{ else }}none{{ end }}", &[]).unwrap(),
        "none"
    );
    assert_eq!(
        run(
            "{{ $x := .a }}{{ $x }}{{ $x = \"b\" }}{{ $x }}",
            &[("a", "A")]
        )
        .unwrap(),
        "Ab"
    );
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
        run("{{ if and .a .b }}y{{ else }}n{{ end }}", &[("a", "1")]).unwrap(),
        "n"
    );
    assert_eq!(run("{{ or .a .b \"d\" }}", &[("b", "B")]).unwrap(), "B");
    assert_eq!(run("{{ index . \"a\" }}", &[("a", "A")]).unwrap(), "A");
    assert_eq!(run("{{ len .a }}", &[("a", "héllo")]).unwrap(), "6");
}

#[test]
fn errors() {
    assert_eq!(
        parse("line", "{{ nosuchfunc }}").unwrap_err(),
        "template: line:1: function \"nosuchfunc\" not defined"
    );
    assert_eq!(
        parse("label", "{{").unwrap_err(),
        "template: label:1: unclosed action"
    );
    assert!(parse("line", "{{ if .a }}")
        .unwrap_err()
        .contains("unexpected EOF"));
    assert!(parse("line", "{{ end }}")
        .unwrap_err()
        .contains("unexpected {{end}}"));
    assert!(parse("line", "{{ $x }}")
        .unwrap_err()
        .contains("undefined variable"));
    let e = run("{{ .a.b }}", &[("a", "x")]).unwrap_err();
    assert_eq!(
        e,
        "template: line:1:3: executing \"line\" at <.a.b>: can't evaluate field b in type string"
    );
}

#[test]
fn errors_like_go() {
    let err = |src| parse("line", src).unwrap_err();
    assert_eq!(err("{{ \"\\q\" }}"), "template: line:1: invalid syntax");
    assert_eq!(
        err("{{ 'ab' }}"),
        "template: line:1: malformed character constant: 'ab'"
    );
    assert_eq!(err("{{ '\\q' }}"), "template: line:1: invalid syntax");
    assert_eq!(run("{{ and }}", &[]).unwrap_err(), "template: line:1:3: executing \"line\" at <and>: wrong number of args for and: want at least 1 got 0");
    assert!(run("{{ lt 1 \"a\" }}", &[])
        .unwrap_err()
        .ends_with("at <lt 1 \"a\">: error calling lt: incompatible types for comparison"));
    // An error the function returns is reported at the whole command, whose
    // text Go cuts to 20 characters.
    assert_eq!(
        run("{{ index .a 10 }}", &[("a", "x")]).unwrap_err(),
        "template: line:1:3: executing \"line\" at <index .a 10>: error calling index: index out of range: 10"
    );
    assert_eq!(
        run("x{{ index .aaaaaaaaaa 1000000 }}", &[("aaaaaaaaaa", "x")]).unwrap_err(),
        "template: line:1:4: executing \"line\" at <index .aaaaaaaaaa 10...>: error calling index: index out of range: 1000000"
    );
}

#[test]
fn simple_key_and_fields() {
    assert_eq!(
        parse("line", "{{.message}}").unwrap().simple_key(),
        Some("message")
    );
    assert_eq!(parse("line", "{{.a}}x").unwrap().simple_key(), None);
    assert_eq!(parse("line", "{{ . }}").unwrap().fields(), None);
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

/// Go's `map[string]string` built by a caller (Prometheus' `$labels`): a missing key
/// is the empty string, not `<no value>` as in a `map[string]interface{}`.
#[test]
fn string_maps_read_missing_keys_as_empty() {
    let m = Value::StrMap(Arc::new(BTreeMap::from([(
        "job".to_string(),
        "api".to_string(),
    )])));
    let any = Value::Map(Arc::new(BTreeMap::from([(
        "job".to_string(),
        Value::str("api"),
    )])));
    let t = Template::parse_with_vars(
        "a",
        "{{ $m.job }}[{{ $m.x }}][{{ index $m \"x\" }}]{{ len $m }} {{ $m }} {{ $i.x }}{{ range $k, $v := $m }};{{$k}}={{$v}}{{ end }}",
        &FuncTable::<()>::builtins(),
        &["$m", "$i"],
    )
    .unwrap();
    let no_data = BTreeMap::new();
    let mut out = Vec::new();
    t.execute_with(
        &Env {
            data: &no_data,
            ctx: &(),
        },
        &Value::Nil,
        &[m, any],
        &mut out,
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "api[][]1 map[job:api] <no value>;job=api"
    );
}
