//! Pipeline-level tests: cases from Loki's docs and tests, and a no-panic property
//! test. The pipeline-related `.logqltest` files of `../shared/conformance` run through
//! the real interpreter (`lokal::logqltest`) in `tests/logqltest_scripts.rs`.

use super::*;
use crate::logql::{parse_expr, Expr, LogExpr, SampleExpr};

fn log_expr(q: &str) -> LogExpr {
    match parse_expr(q).unwrap_or_else(|e| panic!("{q}: {e}")) {
        Expr::Log(l) => l,
        Expr::Sample(_) => panic!("not a log query: {q}"),
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

/// Runs `stages` of `q` on one line of a stream; the resulting line and labels.
fn run(q: &str, stream: &[(&str, &str)], line: &str) -> Option<(String, String)> {
    let p = Pipeline::new(&log_expr(q).pipeline).unwrap_or_else(|e| panic!("{q}: {e}"));
    let mut sp = p.for_stream(&labels(stream));
    sp.process(1_700_000_000_000_000_000, line.as_bytes())
        .map(|(l, r)| (String::from_utf8_lossy(&l).into_owned(), r.to_string()))
}

/// Why the pipeline of `q` cannot be built, without Loki's `stage '…' : ` prefix.
fn build_err(q: &str) -> String {
    let e = Pipeline::new(&log_expr(q).pipeline).unwrap_err().0;
    let (stage, why) = e.split_once("' : ").unwrap_or_else(|| panic!("{e}"));
    assert!(stage.starts_with("stage '"), "{e}");
    why.to_string()
}

#[test]
fn build_errors_name_the_stage_as_loki() {
    assert_eq!(
        Pipeline::new(&log_expr(r#"{a="b"} |= "x" |~ "((""#).pipeline)
            .unwrap_err()
            .0,
        "stage '|~ \"((\"' : error parsing regexp: missing closing ): `((`"
    );
}

#[test]
fn stages_compose() {
    assert_eq!(
        run(
            r#"{app="a"} | json | level="error" | line_format "{{.msg}}""#,
            &[("app", "a")],
            r#"{"level":"error","msg":"boom"}"#
        ),
        Some((
            "boom".into(),
            r#"{app="a", level="error", msg="boom"}"#.into()
        ))
    );
    assert_eq!(
        run(
            r#"{app="a"} | json | level="error""#,
            &[("app", "a")],
            r#"{"level":"info"}"#
        ),
        None
    );
    // Parsed labels shadow stream labels in later stages, under their _extracted name.
    assert_eq!(
        run(
            r#"{app="a"} | logfmt | app_extracted="x""#,
            &[("app", "a")],
            "app=x"
        )
        .map(|r| r.1),
        Some(r#"{app="a", app_extracted="x"}"#.into())
    );
    // First parser wins.
    assert_eq!(
        run(
            r#"{app="a"} | logfmt | regexp "x=(?P<v>\\d+)""#,
            &[("app", "a")],
            "v=1 x=2"
        )
        .map(|r| r.1),
        Some(r#"{app="a", v="1", x="2"}"#.into())
    );
    // A line filter after line_format sees the new line.
    assert!(run(
        r#"{app="a"} | line_format "L={{.level}}" |= "L=error""#,
        &[("app", "a"), ("level", "error")],
        "x"
    )
    .is_some());
    assert!(run(
        r#"{app="a"} |= "L=error""#,
        &[("app", "a"), ("level", "error")],
        "x"
    )
    .is_none());
}

#[test]
fn formatters() {
    let s = &[("app", "a"), ("method", "get")];
    assert_eq!(
        run(r#"{app="a"} | label_format verb=method"#, s, "m")
            .unwrap()
            .1,
        r#"{app="a", verb="get"}"#
    );
    assert_eq!(
        run(r#"{app="a"} | label_format route="{{.method}}-ok""#, s, "m")
            .unwrap()
            .1,
        r#"{app="a", method="get", route="get-ok"}"#
    );
    assert_eq!(
        run(r#"{app="a"} | label_format method="{{.method}}!""#, s, "m")
            .unwrap()
            .1,
        r#"{app="a", method="get!"}"#
    );
    // Templates in one stage see one snapshot.
    assert_eq!(
        run(
            r#"{app="a"} | label_format a="x", b="{{.a}}y""#,
            &[("app", "a")],
            "m"
        )
        .unwrap()
        .1,
        r#"{a="x", app="a", b="y"}"#
    );
    assert_eq!(
        run(r#"{app="a"} | line_format "V={{.missing}}""#, s, "m")
            .unwrap()
            .0,
        "V="
    );
    assert_eq!(
        run(r#"{app="a"} | line_format "{{.missing}}""#, s, "m")
            .unwrap()
            .0,
        ""
    );
    assert_eq!(
        run(
            r#"{app="a"} | line_format "{{ __line__ | upper }}""#,
            s,
            "msg"
        )
        .unwrap()
        .0,
        "MSG"
    );
    assert_eq!(
        run(
            r#"{app="a"} | line_format "{{ __timestamp__ | unixEpochMillis }}""#,
            s,
            "m"
        )
        .unwrap()
        .0,
        "1700000000000"
    );
    // An execution error keeps the line and sets the error.
    let (line, lbls) = run(r#"{app="a"} | line_format "{{ .method.x }}""#, s, "orig").unwrap();
    assert_eq!(line, "orig");
    assert!(lbls.contains(r#"__error__="TemplateFormatErr""#), "{lbls}");
    assert!(
        lbls.contains("can't evaluate field x in type string"),
        "{lbls}"
    );
    assert!(build_err(r#"{app="a"} | line_format "{{ nosuchfunc }}""#).contains("not defined"));
    assert!(build_err(r#"{app="a"} | label_format x="{{""#).contains("unclosed action"));
    assert_eq!(
        build_err(r#"{app="a"} | label_format x=a, x=b"#),
        "multiple label name 'x' not allowed in a single format operation"
    );
    // decolorize after a printf that adds colour codes.
    let q = r#"{app="a"} | line_format `{{ printf "\x1b[31m%s\x1b[0m" .method }}`"#;
    assert_eq!(run(q, s, "m").unwrap().0.len(), 12);
    assert_eq!(run(&format!("{q} | decolorize"), s, "m").unwrap().0, "get");
}

#[test]
fn drop_and_keep() {
    let s = &[("app", "a"), ("code", "500"), ("zone", "eu")];
    assert_eq!(
        run(r#"{app="a"} | drop code, zone"#, s, "m").unwrap().1,
        r#"{app="a"}"#
    );
    assert_eq!(
        run(r#"{app="a"} | drop code="500""#, s, "m").unwrap().1,
        r#"{app="a", zone="eu"}"#
    );
    assert_eq!(
        run(r#"{app="a"} | drop code="200""#, s, "m").unwrap().1,
        r#"{app="a", code="500", zone="eu"}"#
    );
    assert_eq!(
        run(r#"{app="a"} | keep zone"#, s, "m").unwrap().1,
        r#"{zone="eu"}"#
    );
    assert_eq!(
        run(r#"{app="a"} | keep code="200""#, s, "m").unwrap().1,
        "{}"
    );
    // Dropping __error__ clears the error; keep always keeps it.
    assert_eq!(
        run(
            r#"{app="a"} | json | drop __error__, __error_details__"#,
            &[("app", "a")],
            "x"
        )
        .unwrap()
        .1,
        r#"{app="a"}"#
    );
    assert!(run(r#"{app="a"} | json | keep app"#, &[("app", "a")], "x")
        .unwrap()
        .1
        .contains("JSONParserErr"));
}

#[test]
fn parsers() {
    let s = &[("app", "a")];
    assert_eq!(
        run(
            r#"{app="a"} | json who="user.id", tag="tags[0]", age="user.age""#,
            s,
            r#"{"user":{"id":"u1"},"tags":["x"]}"#
        )
        .unwrap()
        .1,
        r#"{age="", app="a", tag="x", who="u1"}"#
    );
    assert!(build_err(r#"{app="a"} | json bad="user[""#).contains("cannot parse expression"));
    assert_eq!(
        run(
            r#"{app="a"} | unpack"#,
            s,
            r#"{"lvl":"info","num":5,"_entry":"real message"}"#
        )
        .unwrap(),
        ("real message".into(), r#"{app="a", lvl="info"}"#.into())
    );
    // Without _entry, unpack leaves everything alone (Loki only flushes packed entries).
    assert_eq!(
        run(r#"{app="a"} | unpack"#, s, r#"{"lvl":"info"}"#)
            .unwrap()
            .1,
        r#"{app="a"}"#
    );
    assert_eq!(
        run(
            r#"{app="a", lvl="s"} | unpack | logfmt"#,
            &[("app", "a"), ("lvl", "s")],
            r#"{"lvl":"packed","_entry":"code=42"}"#
        )
        .unwrap()
        .1,
        r#"{app="a", code="42", lvl="s", lvl_extracted="packed"}"#
    );
    assert!(run(r#"{app="a"} | unpack"#, s, "not json")
        .unwrap()
        .1
        .contains("JSONParserErr"));
    assert_eq!(
        run(
            r#"{app="a", method="s"} | regexp `(?P<method>\w+) (?P<path>\S+)`"#,
            &[("app", "a"), ("method", "s")],
            "PUT /x"
        )
        .unwrap()
        .1,
        r#"{app="a", method="s", method_extracted="PUT", path="/x"}"#
    );
    assert_eq!(
        run(r#"{app="a"} | regexp `(?P<num>\d+)`"#, s, "PUT /x")
            .unwrap()
            .1,
        r#"{app="a"}"#
    );
    // Go allows capture names that start with a digit; Loki sanitises them.
    assert_eq!(
        run(
            r#"{app="a"} | regexp `(?P<1a>\d+)-(?<2>[a-z]+)[(?P<x>]`"#,
            s,
            "x 42-ab( y"
        )
        .unwrap()
        .1,
        r#"{_1a="42", _2="ab", app="a"}"#
    );

    assert_eq!(
        run(
            r#"{app="a"} | pattern `<method> <_> <status>`"#,
            s,
            "GET /home 200"
        )
        .unwrap()
        .1,
        r#"{app="a", method="GET", status="200"}"#
    );
}

#[test]
fn metadata_precedence() {
    let q = r#"{app="a"} | logfmt"#;
    let p = Pipeline::new(&log_expr(q).pipeline).unwrap();
    let mut sp = p.for_stream(&labels(&[
        ("app", "a"),
        ("sl", "s"),
        ("sm", "s"),
        ("tri", "s"),
    ]));
    let md = [("md", "m"), ("sm", "m"), ("tri", "m")];
    let (_, r) = sp
        .process_with_metadata(0, b"sl=p md=p tri=p", &md)
        .unwrap();
    assert_eq!(
        r.to_string(),
        r#"{app="a", md="m", md_extracted="p", sl="s", sl_extracted="p", sm="s", sm_extracted="m", tri="s", tri_extracted="p"}"#
    );
}

#[test]
fn build_errors() {
    assert!(build_err(r#"{a="b"} |~ "(""#).starts_with("error parsing regexp"));
    assert_eq!(
        build_err(r#"{a="b"} |~ "x" or ip("1.2.3.4")"#),
        "ip: invalid operation"
    );
    assert!(build_err(r#"{a="b"} |= ip("nope")"#).starts_with("ip: invalid pattern"));
    assert!(build_err(r#"{a="b"} |> "<x> y""#).starts_with("named captures are not allowed"));
    assert!(build_err(r#"{a="b"} | addr = ip("bogus")"#).starts_with("ip: invalid pattern"));
}

#[test]
fn leading_filters_and_hints() {
    let p = Pipeline::new(
        &log_expr(r#"{a="b"} |= "x" | json |= "" != "y" | line_format "z" |= "z""#).pipeline,
    )
    .unwrap();
    assert_eq!(p.leading_line_filters().len(), 2);
    assert!(!p.is_noop());
    assert!(Pipeline::new(&log_expr(r#"{a="b"} |= """#).pipeline)
        .unwrap()
        .is_noop());
    let mut p = Pipeline::new(&log_expr(r#"{a="b"} | json | level="error""#).pipeline).unwrap();
    assert_eq!(p.referenced_labels(), Some(&["level".to_string()][..]));
    p.set_extraction_hints(Some(&["status".to_string()]));
    let mut sp = p.for_stream(&labels(&[("a", "b")]));
    let (_, r) = sp
        .process(
            0,
            br#"{"level":"error","status":500,"other":"x","nested":{"status":1}}"#,
        )
        .unwrap();
    assert_eq!(r.to_string(), r#"{a="b", level="error", status="500"}"#);
}

fn unwrap_of(q: &str) -> (Pipeline, Unwrap) {
    let Expr::Sample(SampleExpr::RangeAggregation(r)) = parse_expr(q).unwrap() else {
        panic!()
    };
    (
        Pipeline::new(&r.log.log.pipeline).unwrap(),
        r.log.unwrap.unwrap(),
    )
}

#[test]
fn unwrap_conversions() {
    let (p, u) = unwrap_of(r#"sum_over_time({a="b"} | logfmt | unwrap bytes(b) [1m])"#);
    let mut sp = p.for_stream(&labels(&[("a", "b")]));
    let (v, r) = sp.extract_sample(0, b"b=1KiB c=1", Some(&u)).unwrap();
    assert_eq!((v, r.to_string().as_str()), (1024.0, r#"{a="b", c="1"}"#));
    assert!(sp.extract_sample(0, b"c=1", Some(&u)).is_none());
    let (v, r) = sp.extract_sample(0, b"b=1XB", Some(&u)).unwrap();
    assert_eq!(v, 0.0);
    assert_eq!(
        r.to_string(),
        r#"{__error__="SampleExtractionErr", __error_details__="unhandled size name: xb", a="b", b="1XB"}"#
    );
    let (p, u) =
        unwrap_of(r#"sum_over_time({a="b"} | logfmt | unwrap duration(d) | __error__="" [1m])"#);
    let mut sp = p.for_stream(&labels(&[("a", "b")]));
    assert_eq!(
        sp.extract_sample(0, b"d=1h30m", Some(&u)).unwrap().0,
        5400.0
    );
    assert!(sp.extract_sample(0, b"d=1d", Some(&u)).is_none());
    let (p, u) = unwrap_of(r#"sum_over_time({a="b"} | logfmt | unwrap v [1m])"#);
    let mut sp = p.for_stream(&labels(&[("a", "b")]));
    assert_eq!(sp.extract_sample(0, b"v=2.5", Some(&u)).unwrap().0, 2.5);
    assert_eq!(
        sp.extract_sample_keep_unwrapped(0, b"v=2.5", Some(&u))
            .unwrap()
            .1
            .to_string(),
        r#"{a="b", v="2.5"}"#
    );
    assert_eq!(sp.extract_sample(0, b"x", None).unwrap().0, 1.0);
}

#[test]
fn send_sync() {
    fn is_send_sync<T: Send + Sync>() {}
    fn is_send<T: Send>() {}
    is_send_sync::<Pipeline>();
    is_send::<StreamPipeline>();
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    const QUERIES: &[&str] = &[
        r#"{a="b"} |= "x" != "y" |~ "a.+b" |> "<_> z <_>" |= ip("10.0.0.0/8")"#,
        r#"{a="b"} | json | x > 5 or y=~"a.*" | drop z | line_format "{{.x}} {{ .y | upper }} {{ printf \"%5.2f|%q\" 1.5 .x }}""#,
        r#"{a="b"} | logfmt --strict --keep-empty | unpack | label_format q=x, r="{{ trunc 3 .y }}" | keep q, r"#,
        r#"{a="b"} | regexp "(?P<a1>\\w+)=(?P<b1>.*)" | pattern "<p> <_> <q>" | decolorize | size > 1KB, d < 1s"#,
        r#"{a="b"} | json k="a.b[0]", l="c" | logfmt k2, l2="x" | addr != ip("::1-::ff") | line_format "{{ range $i, $v := fromJson __line__ }}{{$i}}{{end}}""#,
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn process_never_panics(line in proptest::collection::vec(any::<u8>(), 0..200), q in 0usize..QUERIES.len()) {
            let p = Pipeline::new(&log_expr(QUERIES[q]).pipeline).unwrap();
            let mut sp = p.for_stream(&labels(&[("a", "b")]));
            let _ = sp.process(0, &line);
            let _ = sp.process_with_metadata(0, &line, &[("m", "1")]);
        }

        #[test]
        fn templates_never_panic(src in r#"[{}|.$ "'()\-:=a-z0-9\n`,_]{0,40}"#, line in "[ -~]{0,20}") {
            let lbls = [("a".to_string(), "1".to_string()), ("b".to_string(), "x y".to_string())];
            if let Ok(t) = logql_funcs::parse("line", &src) {
                struct D<'a>(&'a [(String, String)]);
                impl crate::go::template::Data for D<'_> {
                    fn get(&self, name: &str) -> Option<&str> {
                        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
                    }
                    fn sorted(&self) -> Vec<(String, String)> {
                        self.0.to_vec()
                    }
                    fn len(&self) -> usize {
                        self.0.len()
                    }
                }
                let env = logql_funcs::Env { data: &D(&lbls), ctx: &logql_funcs::Entry { line: line.as_bytes(), ts: 0 } };
                let mut out = Vec::new();
                let _ = t.execute(&env, &mut out);
            }
            for layout in ["2006-01-02", "Jan _2 15:04:05.000 MST", "Monday 3PM Z07:00"] {
                let _ = crate::go::time::parse_in_location(layout, &line, &jiff::tz::TimeZone::UTC);
            }
        }

        #[test]
        fn json_like_lines_never_panic(s in r#"[{}\[\]":,\\ a-z0-9.ue-]{0,60}"#) {
            let p = Pipeline::new(&log_expr(QUERIES[1]).pipeline).unwrap();
            let mut sp = p.for_stream(&labels(&[("a", "b")]));
            let _ = sp.process(0, s.as_bytes());
        }
    }
}

/// Runs `line_format` with `tmpl` (Loki's `Test_lineFormatter_Format` cases); the line,
/// or the error details.
fn line_format(tmpl: &str, lbls: &[(&str, &str)], ts: i64, line: &str) -> Result<String, String> {
    let q = format!("{{x=\"y\"}} | line_format `{tmpl}`");
    let p = Pipeline::new(&log_expr(&q).pipeline).unwrap_or_else(|e| panic!("{tmpl}: {e}"));
    let mut sp = p.for_stream(&labels(lbls));
    let (l, r) = sp.process(ts, line.as_bytes()).unwrap();
    match r.get(ERROR_DETAILS_LABEL) {
        Some(d) => Err(d.to_string()),
        None => Ok(String::from_utf8_lossy(&l).into_owned()),
    }
}

/// (template, labels, timestamp, line, expected line).
type LineFormatCase<'a> = (&'a str, &'a [(&'a str, &'a str)], i64, &'a str, &'a str);

#[test]
fn loki_line_format_cases() {
    let fb = &[("foo", "blip"), ("bar", "blop")];
    let cases: &[LineFormatCase] = &[
        (r#"{{.foo | count "abc" }}"#, &[("foo", "abc abc abc")], 0, "", "3"),
        (r#"{{.foo | count "a|b|c" }}"#, &[("foo", "abc abc abc")], 0, "", "9"),
        ("foo{{.foo}}buzz{{  .bar  }}", fb, 0, "", "fooblipbuzzblop"),
        (r#"foo{{.foo}}buzz{{ Replace .bar "blop" "bar" -1 }}"#, fb, 0, "", "fooblipbuzzbar"),
        (r#"foo{{.foo}}buzz{{ .bar | replace "blop" "bar" }}"#, fb, 0, "", "fooblipbuzzbar"),
        ("{{.foo | title }}", fb, 0, "", "Blip"),
        ("{{.foo | substr 1 3 }} {{ .bar  | trunc 1 }} {{ .bar  | trunc 3 }}", fb, 0, "", "li b blo"),
        (
            r#"{{.foo | trim }} {{ .bar  | trimAll "op" }} {{ .bar  | trimPrefix "b" }} {{ .bar  | trimSuffix "p" }}"#,
            &[("foo", "  blip "), ("bar", "blop")],
            0,
            "",
            "blip bl lop blo",
        ),
        ("{{.foo | lower }} {{ .bar  | upper }}", &[("foo", "BLIp"), ("bar", "blop")], 0, "", "blip BLOP"),
        (
            "{{.foo | urlencode }} {{ urlencode .foo }}",
            &[("foo", r#"/loki/api/v1/query?query=sum(count_over_time({stream_filter="some_stream",environment="prod", host=~"someec2.*"}"#)],
            0,
            "",
            "%2Floki%2Fapi%2Fv1%2Fquery%3Fquery%3Dsum%28count_over_time%28%7Bstream_filter%3D%22some_stream%22%2Cenvironment%3D%22prod%22%2C+host%3D~%22someec2.%2A%22%7D %2Floki%2Fapi%2Fv1%2Fquery%3Fquery%3Dsum%28count_over_time%28%7Bstream_filter%3D%22some_stream%22%2Cenvironment%3D%22prod%22%2C+host%3D~%22someec2.%2A%22%7D",
        ),
        ("{{.foo | urldecode }}", &[("foo", "%2Floki+x%3D1")], 0, "", "/loki x=1"),
        (r#"{{ "foo" | repeat 3 }}"#, fb, 0, "", "foofoofoo"),
        (r#"{{ "foo\n bar" | indent 4 }}"#, fb, 0, "", "    foo\n     bar"),
        (r#"{{ "foo" | nindent 2 }}"#, fb, 0, "", "\n  foo"),
        (r#"{{ if  .foo | contains "p"}}yes{{end}}-{{ if  .foo | contains "z"}}no{{end}}"#, &[("foo", "BLIp")], 0, "", "yes-"),
        (r#"{{ if  .foo | hasPrefix "BL" }}yes{{end}}-{{ if  .foo | hasPrefix "p"}}no{{end}}"#, &[("foo", "BLIp")], 0, "", "yes-"),
        (r#"{{ if  .foo | hasSuffix "Ip" }}yes{{end}}-{{ if  .foo | hasSuffix "pw"}}no{{end}}"#, &[("foo", "BLIp")], 0, "", "yes-"),
        (r#"{{ regexReplaceAll "(p)" .foo "t" }}"#, &[("foo", "BLIp")], 0, "", "BLIt"),
        (r#"{{ regexReplaceAllLiteral "(p)" .foo "${1}" }}"#, &[("foo", "BLIp")], 0, "", "BLI${1}"),
        ("foo {{.foo}}buzz{{  .bar  }}", &[("bar", "blop")], 0, "", "foo buzzblop"),
        ("foo {{.foo | ToUpper }} buzz{{  .bar  }}", fb, 0, "", "foo BLIP buzzblop"),
        (
            "{{ add .foo 1 | sub .bar | mul .baz | div .bazz}}",
            &[("foo", "1"), ("bar", "3"), ("baz", "10"), ("bazz", "20")],
            0,
            "",
            "2",
        ),
        (
            "{{ addf .foo 1.5 | subf .bar 1.5 | mulf .baz | divf .bazz }}",
            &[("foo", "1.5"), ("bar", "5"), ("baz", "10.5"), ("bazz", "20.2")],
            0,
            "",
            "3.8476190476190477",
        ),
        (
            "{{ round (addf .foo 1.5 | subf .bar | mulf .baz | divf .bazz) 5 .2}}",
            &[("foo", "1.5"), ("bar", "3.5"), ("baz", "10.5"), ("bazz", "20.4")],
            0,
            "",
            "3.88572",
        ),
        (
            "min is {{ min .foo .bar .baz }} and max is {{ max .foo .bar .baz }}",
            &[("foo", "5"), ("bar", "10"), ("baz", "15")],
            0,
            "",
            "min is 5 and max is 15",
        ),
        (
            "minf is {{ minf .foo .bar .baz }} and maxf is {{maxf .foo .bar .baz}}",
            &[("foo", "5.3"), ("bar", "10.5"), ("baz", "15.2")],
            0,
            "",
            "minf is 5.3 and maxf is 15.2",
        ),
        ("ceil is {{ ceil .foo }} and floor is {{floor .foo }}", &[("foo", "5.3")], 0, "", "ceil is 6 and floor is 5"),
        ("mod is {{ mod .foo 3 }}", &[("foo", "20")], 0, "", "mod is 2"),
        (r#"{{ "2.5" | float64 | int | add 10}}"#, &[("foo", "2.5")], 0, "", "12"),
        (
            r#"{{ sub (unixEpoch (toDate "2006-01-02" "2021-11-02")) (unixEpoch (toDate "2006-01-02" "2021-11-01")) }}"#,
            &[],
            0,
            "",
            "86400",
        ),
        (r#"{{ date "2006-01-02" (toDate "2006-01-02" "2021-11-02") }}"#, &[], 0, "", "2021-11-02"),
        ("{{ div (unixEpoch now) (unixEpoch now) }}", &[], 0, "", "1"),
        ("{{ __line__ }} bar {{ .bar }}", &[("bar", "2")], 0, "1", "1 bar 2"),
        (r#"{{.foo | default "-" }}{{.bar | default "-"}}{{.unknown | default "-"}}"#, &[("foo", "blip"), ("bar", "")], 0, "", "blip--"),
        (r#"{{ __timestamp__ | date "2006-01-02" }} bar {{ .bar }}"#, &[("bar", "2")], 1656353124120000000, "1", "2022-06-27 bar 2"),
        ("{{ __timestamp__ | unixEpoch }} bar {{ .bar }}", &[("bar", "2")], 1656353124120000000, "1", "1656353124 bar 2"),
        ("{{ .foo | bytes }}", &[("foo", "3 kB")], 0, "", "3000"),
        ("{{ .foo | bytes }}", &[("foo", "3MB")], 0, "", "3e+06"),
        ("{{ .foo | duration }}", &[("foo", "3ms")], 0, "", "0.003"),
        ("{{ .foo | duration_seconds }}", &[("foo", "3m10s")], 0, "", "190"),
        (
            r#"{{ .foo | toDateInZone "2006-01-02T15:04:05.999999999Z" "UTC" | unixEpochMillis }}"#,
            &[("foo", "2023-03-10T01:32:40.340485723Z")],
            0,
            "",
            "1678411960340",
        ),
        (
            r#"{{ .foo | toDateInZone "2006-01-02T15:04:05.999999999Z" "UTC" | unixEpochNanos }}"#,
            &[("foo", "2023-03-10T01:32:40.340485723Z")],
            0,
            "",
            "1678411960340485723",
        ),
        ("{{ .foo | b64enc }}", &[("foo", "i'm a string, encode me!")], 0, "", "aSdtIGEgc3RyaW5nLCBlbmNvZGUgbWUh"),
        ("{{ .foo | b64dec }}", &[("foo", "aSdtIGEgc3RyaW5nLCBlbmNvZGUgbWUh")], 0, "", "i'm a string, encode me!"),
        ("{{ alignLeft 4 .foo }}", &[("foo", "hello")], 0, "", "hell"),
        ("{{ alignRight 4 .foo }}", &[("foo", "hello")], 0, "", "ello"),
        ("{{.foo}}", &[("foo", "bar")], 0, "", "bar"),
        ("{{.foo}}  ", &[("foo", "bar")], 0, "", "bar  "),
        ("{{.missing}}", &[("foo", "bar")], 0, "", ""),
        (r#"{{ printf "%s=%d %5.2f|%-4s|%q %v" .foo 42 3.14159 "ab" "q" 1.5 }}"#, fb, 0, "", r#"blip=42  3.14|ab  |"q" 1.5"#),
        (r#"{{ printf "%d" .foo }}"#, fb, 0, "", "%!d(string=blip)"),
    ];
    for (tmpl, lbls, ts, line, want) in cases {
        assert_eq!(
            line_format(tmpl, lbls, *ts, line).as_deref(),
            Ok(*want),
            "{tmpl}"
        );
    }
    let errs: &[(&str, &str)] = &[
        (
            r#"{{.foo Replace "foo"}}"#,
            r#"template: line:1:2: executing "line" at <.foo>: foo is not a method but has arguments"#,
        ),
        (
            "{{.foo | now}}",
            r#"template: line:1:9: executing "line" at <now>: wrong number of args for now: want 0 got 1"#,
        ),
    ];
    for (tmpl, want) in errs {
        assert_eq!(
            line_format(tmpl, fb, 0, ""),
            Err(want.to_string()),
            "{tmpl}"
        );
    }
}

#[test]
fn loki_label_format_cases() {
    let run_lf = |fmt: &str, lbls: &[(&str, &str)]| {
        let q = format!("{{x=\"y\"}} | label_format {fmt}");
        let p = Pipeline::new(&log_expr(&q).pipeline).unwrap();
        let mut sp = p.for_stream(&labels(lbls));
        sp.process(1661518453244672570, b"test line")
            .unwrap()
            .1
            .to_string()
    };
    let fb = &[("foo", "blip"), ("bar", "blop")];
    assert_eq!(run_lf("baz=foo", fb), r#"{bar="blop", baz="blip"}"#);
    assert_eq!(run_lf("bar=foo", fb), r#"{bar="blip"}"#);
    assert_eq!(
        run_lf(r#"foo="{{.foo}} and {{.bar}}""#, fb),
        r#"{bar="blop", foo="blip and blop"}"#
    );
    assert_eq!(
        run_lf(r#"blip="{{.foo}} and {{.bar}}", bar=foo"#, fb),
        r#"{bar="blip", blip="blip and blop"}"#
    );
    assert_eq!(
        run_lf(r#"blip="{{.foo | ToUpper }} and {{.bar}}", bar=foo"#, fb),
        r#"{bar="blip", blip="BLIP and blop"}"#
    );
    assert_eq!(
        run_lf(r#"status="{{div .status 100 }}""#, &[("status", "200")]),
        r#"{status="2"}"#
    );
    assert_eq!(
        run_lf(
            r#"blip="{{.foo | default \"-\" }} and {{.bar}}""#,
            &[("bar", "blop")]
        ),
        r#"{bar="blop", blip="- and blop"}"#
    );
    assert_eq!(
        run_lf(r#"bar="{{replace \"test\" .foo}}""#, fb),
        r#"{__error__="TemplateFormatErr", __error_details__="template: label:1:2: executing \"label\" at <replace>: wrong number of args for replace: want 3 got 2", bar="blop", foo="blip"}"#
    );
    assert_eq!(
        run_lf(r#"line="{{ __line__ }}""#, fb),
        r#"{bar="blop", foo="blip", line="test line"}"#
    );
    assert_eq!(
        run_lf(r#"ts="{{ __timestamp__ | date \"2006-01-02\" }}""#, fb),
        r#"{bar="blop", foo="blip", ts="2022-08-26"}"#
    );
    assert_eq!(
        run_lf(r#"ts="{{ __timestamp__ | unixEpoch }}""#, fb),
        r#"{bar="blop", foo="blip", ts="1661518453"}"#
    );
    assert_eq!(
        run_lf(r#"count="{{ __line__ | count \"test\" }}""#, fb),
        r#"{bar="blop", count="1", foo="blip"}"#
    );
    assert_eq!(
        run_lf(r#"foo="{{ .bar | unixToTime }}""#, &[("bar", "1679577215")]),
        r#"{bar="1679577215", foo="2023-03-23 13:13:35 +0000 UTC"}"#
    );
    assert_eq!(
        run_lf(r#"foo="{{ .bar | unixToTime }}""#, &[("bar", "19503")]),
        r#"{bar="19503", foo="2023-05-26 00:00:00 +0000 UTC"}"#
    );
}
