//! Each stage against cases of promtail's own `*_test.go` (inputs and
//! expected outputs taken from them), and the config reader's errors.

use std::collections::BTreeMap;

use super::pipeline::{Clock, PEntry, Pipeline, State};
use super::stages::Builder;
use super::value::Val;
use crate::ingest::hook::HookCounts;
use crate::model::Labels;
use crate::rules::yaml::{parse_documents, Reader};

/// 2024-06-01T00:00:00Z: the clock of these tests.
const NOW: i64 = 1_717_200_000_000_000_000;

fn pipeline(yaml: &str) -> Result<Pipeline, String> {
    let doc = parse_documents(yaml).unwrap().remove(0).unwrap();
    let mut r = Reader::default();
    let f = r.fields(&doc, "test", &["pipeline_stages"]);
    let stages = Builder { reader: &mut r }.stages(f.get("pipeline_stages"), "pipeline_stages");
    if !r.issues.is_empty() {
        return Err(r
            .issues
            .iter()
            .map(|i| format!("{}: {}", i.pos, i.msg))
            .collect::<Vec<_>>()
            .join("\n"));
    }
    Ok(Pipeline::new(stages))
}

struct Run {
    p: Pipeline,
    state: State,
    counts: HookCounts,
}

impl Run {
    fn new(yaml: &str) -> Run {
        let p = pipeline(yaml).unwrap();
        let state = p.state();
        Run {
            p,
            state,
            counts: HookCounts::default(),
        }
    }

    fn entry(&mut self, labels: &[(&str, &str)], line: &str) -> Vec<PEntry> {
        self.entry_at(labels, line, NOW)
    }

    fn entry_at(&mut self, labels: &[(&str, &str)], line: &str, ts: i64) -> Vec<PEntry> {
        let mut out = Vec::new();
        let e = PEntry::new(&Labels::from_pairs(labels.to_vec()), ts, line.to_string());
        self.p.process(
            &mut self.state,
            e,
            Clock(Some(NOW)),
            &mut out,
            &mut self.counts,
        );
        out
    }

    fn flush(&mut self) -> Vec<PEntry> {
        let mut out = Vec::new();
        self.p.flush(
            &mut self.state,
            Clock(Some(NOW)),
            &mut out,
            &mut self.counts,
        );
        out
    }
}

fn one(yaml: &str, labels: &[(&str, &str)], line: &str) -> PEntry {
    let mut out = Run::new(yaml).entry(labels, line);
    assert_eq!(out.len(), 1, "{out:?}");
    out.remove(0)
}

fn s(v: &str) -> Val {
    Val::Str(v.to_string())
}

fn labels(e: &PEntry) -> Vec<(&str, &str)> {
    e.labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

fn rfc3339(t: &str) -> i64 {
    t.parse::<jiff::Timestamp>().unwrap().as_nanosecond() as i64
}

const REPLACE_LINE: &str = r#"11.11.11.11 - frank [25/Jan/2000:14:00:01 -0500] "GET /1986.js HTTP/1.1" 200 932 "-" "Mozilla/5.0 (Windows; U; Windows NT 5.1; de; rv:1.9.1.7) Gecko/20091221 Firefox/3.5.7 GTB6""#;

// replace_test.go: TestPipeline_Replace.
#[test]
fn replace() {
    let e = one(
        "pipeline_stages:\n- replace:\n    expression: \"11.11.11.11 - (\\\\S+) .*\"\n    replace: \"dummy\"\n",
        &[],
        REPLACE_LINE,
    );
    assert_eq!(
        e.line,
        REPLACE_LINE.replacen("frank", "dummy", 1),
        "one group replaced"
    );
    let named = r#"
pipeline_stages:
  - replace:
      expression: "^(?P<ip>\\S+) (?P<identd>\\S+) (?P<user>\\S+) \\[(?P<timestamp>[\\w:/]+\\s[+\\-]\\d{4})\\] \"(?P<action>\\S+)\\s?(?P<path>\\S+)?\\s?(?P<protocol>\\S+)?\" (?P<status>\\d{3}|-) (\\d+|-)\\s?\"?(?P<referer>[^\"]*)\"?\\s?\"?(?P<useragent>[^\"]*)?\"?$"
      replace: '{{ if eq .Value "200" }}{{ Replace .Value "200" "HttpStatusOk" -1 }}{{ else }}{{ .Value | ToUpper }}{{ end }}'
"#;
    let e = one(named, &[], REPLACE_LINE);
    assert_eq!(
        e.line,
        r#"11.11.11.11 - FRANK [25/JAN/2000:14:00:01 -0500] "GET /1986.JS HTTP/1.1" HttpStatusOk 932 "-" "MOZILLA/5.0 (WINDOWS; U; WINDOWS NT 5.1; DE; RV:1.9.1.7) GECKO/20091221 FIREFOX/3.5.7 GTB6""#
    );
    assert_eq!(e.extracted["user"], s("FRANK"));
    assert_eq!(e.extracted["status"], s("HttpStatusOk"));
    assert_eq!(e.extracted["path"], s("/1986.JS"));
    // With a source, the line stays and the extracted value changes.
    let src = r#"
pipeline_stages:
- json:
    expressions:
      level:
      msg:
- replace:
    expression: "\\S+ - \"POST (\\S+) .*"
    source: msg
    replace: "/loki/api/v1/push/"
"#;
    let line = r#"{"time":"2019-01-01T01:00:00.000000001Z", "level": "info", "msg": "11.11.11.11 - \"POST /loki/api/push/ HTTP/1.1\" 200 932"}"#;
    let e = one(src, &[], line);
    assert_eq!(e.line, line);
    assert_eq!(
        e.extracted["msg"],
        s(r#"11.11.11.11 - "POST /loki/api/v1/push/ HTTP/1.1" 200 932"#)
    );
    // Adjacent groups, empty replacement.
    let e = one(
        "pipeline_stages:\n- replace:\n    expression: '(a|b|c)'\n    replace: ''\n",
        &[],
        "abc",
    );
    assert_eq!(e.line, "");
    let e = one(
        "pipeline_stages:\n- replace:\n    expression: \"11.11.11.11 - (\\\\S+\\\\s)\"\n    replace: ''\n",
        &[],
        REPLACE_LINE,
    );
    assert_eq!(e.line, REPLACE_LINE.replacen("frank ", "", 1));
}

const JSON_FIXTURE: &str = r#"{
	"time":"2012-11-01T22:08:41+00:00",
	"app":"loki",
	"component": ["parser","type"],
	"level" : "WARN",
	"numeric": {"float": 12.34, "integer": 123, "string": "123"},
	"nested" : {"child":"value"},
	"message" : "this is a log line",
	"complex" : {"log" : {"array":[{"test1":"test2"},{"test3":"test4"}],"prop":"value","prop2":"val2"}}
}"#;

// json_test.go: TestJSONParser_Parse, TestValidateJSONDrop.
#[test]
fn json() {
    let yaml = r#"
pipeline_stages:
- json:
    expressions:
      time:
      app:
      component:
      level:
      float: numeric.float
      integer: numeric.integer
      string: numeric.string
      nested:
      message:
      complex: complex.log.array[1].test3
"#;
    let e = one(yaml, &[], JSON_FIXTURE);
    let want: BTreeMap<String, Val> = [
        ("time", s("2012-11-01T22:08:41+00:00")),
        ("app", s("loki")),
        ("component", s(r#"["parser","type"]"#)),
        ("level", s("WARN")),
        ("float", Val::Num(12.34)),
        ("integer", Val::Num(123.0)),
        ("string", s("123")),
        ("nested", s(r#"{"child":"value"}"#)),
        ("message", s("this is a log line")),
        ("complex", s("test4")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(e.extracted, want);
    // Not JSON: nothing extracted, the entry goes on.
    let e = one(yaml, &[], "ts=now log=notjson");
    assert!(e.extracted.is_empty());
    // A missing source leaves everything as it is.
    let e = one(
        "pipeline_stages:\n- json:\n    expressions: {app: ''}\n    source: log\n",
        &[],
        JSON_FIXTURE,
    );
    assert!(e.extracted.is_empty());
    // drop_malformed drops what is not JSON.
    let mut r = Run::new(
        "pipeline_stages:\n- json:\n    drop_malformed: true\n    expressions: {page: page}\n",
    );
    assert_eq!(
        r.entry(&[], r#"{"page": 1, "fruits": ["apple", "peach"]}"#)
            .len(),
        1
    );
    assert_eq!(
        r.entry(&[], r#"{"page": 1, fruits": ["apple", "peach"]}"#)
            .len(),
        0
    );
    assert_eq!(r.counts.dropped["drop_malformed"], 1);
    // Expressions that do not compile are config errors.
    let err =
        pipeline("pipeline_stages:\n- json:\n    expressions: {extr1: '3##@$#33'}\n").unwrap_err();
    assert!(err.contains("could not compile JMES expression"), "{err}");
    assert!(pipeline("pipeline_stages:\n- json:\n    expressions: {}\n").is_err());
}

// regex_test.go and logfmt_test.go: named groups and mappings, with sources.
#[test]
fn regex_and_logfmt() {
    let yaml = r#"
pipeline_stages:
- regex:
    expression: "^(?s)(?P<time>\\S+?) (?P<stream>stdout|stderr) (?P<flags>\\S+?) (?P<message>.*)$"
- regex:
    source: message
    expression: "^(?P<level>\\w+): (?P<rest>.*)$"
"#;
    let e = one(
        yaml,
        &[],
        "2019-01-01T01:00:00.000000001Z stderr P i'm a log message!",
    );
    assert_eq!(e.extracted["stream"], s("stderr"));
    assert_eq!(e.extracted["flags"], s("P"));
    assert_eq!(e.extracted["message"], s("i'm a log message!"));
    assert!(
        !e.extracted.contains_key("level"),
        "the second regex did not match"
    );
    let logfmt = r#"
pipeline_stages:
- logfmt:
    mapping:
      app:
      duration:
      unknown:
- logfmt:
    mapping:
      user: username
    source: extra
"#;
    let e = one(
        logfmt,
        &[],
        r#"time=2012-11-01T22:08:41+00:00 app=loki level=WARN duration=125 message="this is a log line" extra="user=foo""#,
    );
    assert_eq!(e.extracted["app"], s("loki"));
    assert_eq!(e.extracted["duration"], s("125"));
    assert!(!e.extracted.contains_key("unknown"));
    assert!(!e.extracted.contains_key("user"), "extra was not extracted");
    let e = one(
        "pipeline_stages:\n- logfmt:\n    mapping: {extra: ''}\n- logfmt:\n    mapping: {user: username}\n    source: extra\n",
        &[],
        r#"extra="username=foo""#,
    );
    assert_eq!(e.extracted["user"], s("foo"));
}

// timestamp_test.go: TestTimestampStage_Process and the action on failure.
#[test]
fn timestamp() {
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "2006-01-02T15:04:05Z07:00",
            "",
            "2106-01-02T23:04:05-04:00",
            "2106-01-03T03:04:05Z",
        ),
        (
            "RFC3339",
            "",
            "2106-01-02T23:04:05-04:00",
            "2106-01-03T03:04:05Z",
        ),
        ("Unix", "", "1562708916", "2019-07-09T21:48:36Z"),
        (
            "Unix",
            "",
            "1562708916.414123",
            "2019-07-09T21:48:36.414123Z",
        ),
        (
            "Unix",
            "",
            "1562708916.000000123",
            "2019-07-09T21:48:36.000000123Z",
        ),
        ("UnixMs", "", "1562708916414", "2019-07-09T21:48:36.414Z"),
        (
            "UnixUs",
            "",
            "1562708916414123",
            "2019-07-09T21:48:36.414123Z",
        ),
        (
            "UnixNs",
            "",
            "1562708916000000123",
            "2019-07-09T21:48:36.000000123Z",
        ),
        (
            "2006-01-02 15:04:05",
            "America/New_York",
            "2019-07-22 20:29:32",
            "2019-07-23T00:29:32Z",
        ),
        (
            "RFC1123Z",
            "",
            "Mon, 22 Jul 2019 20:29:32 +0200",
            "2019-07-22T18:29:32Z",
        ),
        // No year: the current one (the clock is June 2024).
        (
            "Jan 02 15:04:05",
            "",
            "Mar 05 10:11:12",
            "2024-03-05T10:11:12Z",
        ),
    ];
    for (format, location, value, want) in cases {
        let loc = if location.is_empty() {
            String::new()
        } else {
            format!("\n    location: {location}")
        };
        let yaml = format!(
            "pipeline_stages:\n- regex:\n    expression: '^(?P<ts>.*)$'\n- timestamp:\n    source: ts\n    format: '{format}'{loc}\n"
        );
        let e = one(&yaml, &[], value);
        assert_eq!(e.ts, rfc3339(want), "{format} {value}");
    }
    // Fallback formats are tried in order.
    let yaml = "pipeline_stages:\n- regex:\n    expression: '^(?P<ts>.*)$'\n- timestamp:\n    source: ts\n    format: UnixMs\n    fallback_formats: [RFC3339, '2006-01-02 15:04:05']\n";
    assert_eq!(
        one(yaml, &[], "2019-07-22 20:29:32").ts,
        rfc3339("2019-07-22T20:29:32Z")
    );
    // fudge (the default): the last known time of the stream + 1ns; skip: unchanged.
    let fudge = "pipeline_stages:\n- regex:\n    expression: '^(?P<ts>\\S+)'\n- timestamp:\n    source: ts\n    format: RFC3339Nano\n";
    let mut r = Run::new(fudge);
    let t0 = rfc3339("2019-10-01T01:02:03.4Z");
    assert_eq!(
        r.entry_at(&[("a", "1")], "2019-10-01T01:02:03.4Z x", 5)[0].ts,
        t0
    );
    assert_eq!(r.entry_at(&[("a", "1")], "junk", 5)[0].ts, t0 + 1);
    assert_eq!(r.entry_at(&[("a", "1")], "junk", 5)[0].ts, t0 + 2);
    assert_eq!(
        r.entry_at(&[("a", "2")], "junk", 5)[0].ts,
        5,
        "another stream: no last time"
    );
    let mut r = Run::new(&format!("{fudge}    action_on_failure: skip\n"));
    r.entry_at(&[], "2019-10-01T01:02:03.4Z x", 5);
    assert_eq!(r.entry_at(&[], "junk", 5)[0].ts, 5);
    for bad in [
        "- timestamp:\n    format: RFC3339\n",
        "- timestamp:\n    source: ts\n",
        "- timestamp:\n    source: ts\n    format: RFC3339\n    location: Mars/Olympus\n",
        "- timestamp:\n    source: ts\n    format: RFC3339\n    action_on_failure: panic\n",
    ] {
        assert!(
            pipeline(&format!("pipeline_stages:\n{bad}")).is_err(),
            "{bad}"
        );
    }
}

// template_test.go: TestTemplateStage_Process.
#[test]
fn template() {
    // (source, template, extracted, expected)
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        (
            "some",
            "{{ .Value }} appended",
            &[("some", "value")],
            "value appended",
        ),
        ("missing", "newval", &[("notmissing", "value")], "newval"),
        (
            "message",
            "{{.Value}} in module {{.module}}",
            &[("message", "warn for app loki"), ("module", "test")],
            "warn for app loki in module test",
        ),
        (
            "missing",
            "{{ .level }} for app {{ .app | ToUpper }}",
            &[("level", "warn"), ("app", "loki")],
            "warn for app LOKI",
        ),
        (
            "message",
            "{{.Value}} in module {{.module}}",
            &[("message", "warn for app loki")],
            "warn for app loki in module <no value>",
        ),
        (
            "level",
            r#"{{ Replace .Value "Warning" "warn" 1 }}"#,
            &[("level", "Warning")],
            "warn",
        ),
        (
            "testval",
            "{{ .Value | ToLower }}",
            &[("testval", "Value")],
            "value",
        ),
        ("testval", "{{ add 7 3 }}", &[("testval", "Value")], "10"),
        (
            "testval",
            r#"{{ Replace .Value " " "_" -1 | ToLower }}"#,
            &[("testval", "Some Silly Value With Lots Of Spaces")],
            "some_silly_value_with_lots_of_spaces",
        ),
        (
            "testval",
            r#"{{ Hash "salt" .Value }}"#,
            // SHA3-256 of "saltx" (Python's hashlib.sha3_256).
            &[("testval", "x")],
            "da3408f09c343ea37593ac4c5cfc702d76be39bec3b9a480b6a247a1c95b41b4",
        ),
        (
            "testval",
            r#"{{ Sha2Hash "salt" .Value }}"#,
            // sha256sum of "saltx".
            &[("testval", "x")],
            "c9ef43a03d58f2cb9b0c4b069c179595739f5181a5565c8db5dbb124564ea819",
        ),
    ];
    for (source, tmpl, labels, want) in cases {
        let yaml = format!(
            "pipeline_stages:\n- template:\n    source: {source}\n    template: '{}'\n",
            tmpl.replace('\'', "''")
        );
        let e = one(&yaml, labels, "line");
        let got = e
            .extracted
            .get(*source)
            .and_then(Val::as_string)
            .unwrap_or_default();
        assert_eq!(got, *want, "{tmpl}");
    }
    // A template that fails leaves the value alone.
    let e = one(
        "pipeline_stages:\n- template:\n    source: testval\n    template: '{{ .Value | ToLower }}'\n",
        &[],
        "line",
    );
    assert!(!e.extracted.contains_key("testval"));
    // An unknown function is an error when the config is read.
    let err = pipeline(
        "pipeline_stages:\n- template:\n    source: a\n    template: '{{ nope .Value }}'\n",
    )
    .unwrap_err();
    assert!(err.contains(r#"function "nope" not defined"#), "{err}");
}

// labels_test.go, static_labels_test.go, labeldrop_test.go, labelallow_test.go,
// output_test.go and structuredmetadata_test.go.
#[test]
fn labels_output_and_metadata() {
    let yaml = r#"
pipeline_stages:
- regex:
    expression: "^(?P<level>\\w+) (?P<app>\\w+) (?P<msg>.*)$"
- labels:
    level:
    application: app
    nothere:
- static_labels:
    env: prod
    empty: ""
- labeldrop: [drop_me]
- output:
    source: msg
"#;
    let e = one(
        yaml,
        &[("drop_me", "x"), ("job", "j")],
        "info loki hello world",
    );
    assert_eq!(
        labels(&e),
        [
            ("application", "loki"),
            ("env", "prod"),
            ("job", "j"),
            ("level", "info")
        ]
    );
    assert_eq!(e.line, "hello world");
    let e = one(
        "pipeline_stages:\n- labelallow: [app]\n",
        &[("app", "a"), ("b", "c")],
        "x",
    );
    assert_eq!(labels(&e), [("app", "a")]);
    // structured_metadata from extracted data, and from a label (which it moves).
    let e = one(
        "pipeline_stages:\n- regex:\n    expression: '^(?P<trace>\\w+)'\n- structured_metadata:\n    trace_id: trace\n    app:\n",
        &[("app", "loki"), ("job", "j")],
        "abc123 rest",
    );
    assert_eq!(
        e.metadata,
        [
            ("trace_id".to_string(), "abc123".to_string()),
            ("app".to_string(), "loki".to_string())
        ]
    );
    assert_eq!(labels(&e), [("job", "j")], "app moved to metadata");
    assert!(pipeline("pipeline_stages:\n- labels:\n    1bad:\n").is_err());
    assert!(pipeline("pipeline_stages:\n- labeldrop: []\n").is_err());
    assert!(pipeline("pipeline_stages:\n- output: {}\n").is_err());
}

// match_test.go: selectors with line filters, nested stages, action drop.
#[test]
fn match_stage() {
    let yaml = r#"
pipeline_stages:
- json:
    expressions:
      app:
- labels:
    app:
- match:
    selector: '{app="loki"} |= "error"'
    stages:
    - json:
        expressions:
          msg: message
    - output:
        source: msg
- match:
    selector: '{app="noisy"}'
    action: drop
    drop_counter_reason: noisy_app
"#;
    let mut r = Run::new(yaml);
    let e = r.entry(&[], r#"{"app":"loki","message":"an error happened"}"#);
    assert_eq!(e[0].line, "an error happened");
    let e = r.entry(&[], r#"{"app":"loki","message":"all fine"}"#);
    assert_eq!(
        e[0].line, r#"{"app":"loki","message":"all fine"}"#,
        "line filter did not pass"
    );
    let e = r.entry(&[], r#"{"app":"other","message":"an error"}"#);
    assert_eq!(e[0].line, r#"{"app":"other","message":"an error"}"#);
    assert!(r.entry(&[], r#"{"app":"noisy"}"#).is_empty());
    assert_eq!(r.counts.dropped["noisy_app"], 1);
    for bad in [
        "- match:\n    selector: '{app=\"x\"}'\n",
        "- match:\n    selector: '{app=\"x\"}'\n    action: drop\n    stages: [{labeldrop: [a]}]\n",
        "- match:\n    selector: 'app'\n    stages: [{labeldrop: [a]}]\n",
        "- match:\n    selector: '{app=\"x\"} | json'\n    stages: [{labeldrop: [a]}]\n",
        "- match:\n    selector: '{app=\"x\"}'\n    action: keepit\n    stages: [{labeldrop: [a]}]\n",
    ] {
        assert!(pipeline(&format!("pipeline_stages:\n{bad}")).is_err(), "{bad}");
    }
}

// drop_test.go: every option, ANDed.
#[test]
fn drop_stage() {
    let check = |stage: &str, labels: &[(&str, &str)], line: &str, ts: i64, dropped: bool| {
        let yaml = format!(
            "pipeline_stages:\n- regex:\n    expression: '^(?P<level>\\w+)?( (?P<app>\\w+))?'\n- drop:\n{stage}"
        );
        let mut r = Run::new(&yaml);
        let out = r.entry_at(labels, line, ts);
        assert_eq!(out.is_empty(), dropped, "{stage} on {line:?}");
    };
    let hour = 3_600_000_000_000i64;
    check("    longer_than: 10B\n", &[], "short", NOW, false);
    check(
        "    longer_than: 10B\n",
        &[],
        "a line longer than ten",
        NOW,
        true,
    );
    check("    older_than: 1h\n", &[], "x", NOW - 2 * hour, true);
    check("    older_than: 1h\n", &[], "x", NOW - hour / 2, false);
    check(
        "    older_than: 1h\n    longer_than: 3B\n",
        &[],
        "xy",
        NOW - 2 * hour,
        false,
    );
    // A group that took no part is Go's empty string: present.
    check("    source: app\n", &[], "debug", NOW, true);
    check("    source: missing\n", &[], "debug", NOW, false);
    check("    source: app\n", &[], "debug loki", NOW, true);
    check(
        "    source: level\n    value: debug\n",
        &[],
        "debug loki",
        NOW,
        true,
    );
    check(
        "    source: level\n    value: debu\n",
        &[],
        "debug loki",
        NOW,
        false,
    );
    check("    expression: '.*loki.*'\n", &[], "debug loki", NOW, true);
    check(
        "    source: [level, app]\n    separator: '|'\n    expression: 'debug\\|loki'\n",
        &[],
        "debug loki",
        NOW,
        true,
    );
    check(
        "    source: [level, app]\n    value: 'debug;loki'\n",
        &[],
        "debug loki",
        NOW,
        true,
    );
    for bad in [
        "    value: x\n",
        "    drop_counter_reason: x\n",
        "    source: a\n    value: x\n    expression: y\n",
        "    older_than: 1x\n",
        "    longer_than: lots\n",
        "    expression: '('\n",
    ] {
        assert!(
            pipeline(&format!("pipeline_stages:\n- drop:\n{bad}")).is_err(),
            "{bad}"
        );
    }
}

// multiline_test.go: start lines, max_lines, streams apart, flushing.
#[test]
fn multiline() {
    let yaml = "pipeline_stages:\n- multiline:\n    firstline: '^START'\n    max_lines: 3\n";
    let mut r = Run::new(yaml);
    let a = [("a", "1")];
    let b = [("a", "2")];
    assert_eq!(
        r.entry(&a, "not a start").len(),
        1,
        "passes before the first start line"
    );
    assert!(r.entry(&a, "START first").is_empty());
    assert!(r.entry(&b, "START other stream").is_empty());
    assert!(r.entry(&a, "  continued").is_empty());
    let out = r.entry(&a, "START second");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].line, "START first\n  continued");
    assert!(r.entry(&a, "1").is_empty());
    let out = r.entry(&a, "2");
    assert_eq!(out[0].line, "START second\n1\n2", "max_lines reached");
    let out = r.flush();
    let lines: Vec<&str> = out.iter().map(|e| e.line.as_str()).collect();
    assert_eq!(lines, ["START other stream"]);
    assert!(
        r.entry(&a, "after a flush").is_empty(),
        "the stream keeps joining"
    );
    assert_eq!(r.flush()[0].line, "after a flush");
}

// extensions_test.go: TestCRI_tags, and the docker stage.
#[test]
fn cri_and_docker() {
    let mut r = Run::new("pipeline_stages:\n- cri:\n    max_partial_lines: 3\n");
    let mut got = Vec::new();
    for (labels, line) in [
        (
            &[("label1", "val1"), ("label2", "val2")][..],
            "P partial line 1 ",
        ),
        (&[("label1", "val1")][..], "P partial line 2 "),
        (
            &[("label1", "val1"), ("label2", "val2")][..],
            "P partial line 3 ",
        ),
        (&[("label1", "val3")][..], "P partial line 4 "),
        (&[("label1", "val4")][..], "P partial line 5 "),
        (
            &[("label1", "val1"), ("label2", "val2")][..],
            "F log finished",
        ),
        (&[("label1", "val3")][..], "F another full log"),
        (&[("label1", "val4")][..], "F yet an another full log"),
    ] {
        let full = format!("2019-05-07T18:57:50.904275087+00:00 stdout {line}");
        got.extend(r.entry(labels, &full).into_iter().map(|e| e.line));
    }
    got.sort();
    assert_eq!(
        got,
        [
            "another full log",
            "log finished",
            "partial line 1 partial line 3 ",
            "partial line 2 ",
            "partial line 4 ",
            "partial line 5 yet an another full log",
        ]
    );
    let e = one(
        "pipeline_stages:\n- cri: {}\n",
        &[],
        "2019-05-07T18:57:50.904275087+00:00 stderr F some full line",
    );
    assert_eq!(e.ts, rfc3339("2019-05-07T18:57:50.904275087Z"));
    assert_eq!(labels(&e), [("stream", "stderr")]);
    let mut r = Run::new(
        "pipeline_stages:\n- cri:\n    max_partial_line_size: 11\n    max_partial_line_size_truncate: true\n",
    );
    r.entry(
        &[("foo", "bar2")],
        "2019-05-07T18:57:50.904275087+00:00 stdout P partial",
    );
    let out = r.entry(
        &[("foo", "bar2")],
        "2019-05-07T18:57:55.904275087+00:00 stdout F full",
    );
    assert_eq!(out[0].line, "partialfull");
    // A partial line still held at the end of a batch is stored, not lost.
    r.entry(&[], "2019-05-07T18:57:50.904275087+00:00 stdout P held");
    assert_eq!(r.flush()[0].line, "held");

    let e = one(
        "pipeline_stages:\n- docker: {}\n",
        &[],
        r#"{"log":"level=info ts=2019-04-30T02:12:41.844179Z caller=filetargetmanager.go:180 msg=\"Adding target\"\n","stream":"stderr","time":"2019-04-30T02:12:41.8443515Z"}"#,
    );
    assert_eq!(
        e.line,
        "level=info ts=2019-04-30T02:12:41.844179Z caller=filetargetmanager.go:180 msg=\"Adding target\"\n"
    );
    assert_eq!(labels(&e), [("stream", "stderr")]);
    assert_eq!(e.ts, rfc3339("2019-04-30T02:12:41.8443515Z"));
}

// pack_test.go and decolorize_test.go.
#[test]
fn pack_and_decolorize() {
    let e = one(
        "pipeline_stages:\n- pack:\n    labels: [pod, container, missing]\n    ingest_timestamp: false\n",
        &[("pod", "foo"), ("container", "bar"), ("job", "j")],
        "test line 1",
    );
    assert_eq!(
        e.line,
        r#"{"container":"bar","pod":"foo","_entry":"test line 1"}"#
    );
    assert_eq!(labels(&e), [("job", "j")]);
    assert_eq!(e.ts, NOW);
    let e = one(
        "pipeline_stages:\n- pack:\n    labels: [pod]\n",
        &[("pod", "<x>")],
        "a \"quoted\" line",
    );
    assert_eq!(
        e.line,
        r#"{"pod":"\u003cx\u003e","_entry":"a \"quoted\" line"}"#
    );
    let e = one(
        "pipeline_stages:\n- decolorize:\n",
        &[],
        "\x1b[0;32mok\x1b[0m done",
    );
    assert_eq!(e.line, "ok done");
}

// limit_test.go: a burst passes, the rest is dropped.
#[test]
fn limit() {
    let mut r =
        Run::new("pipeline_stages:\n- limit:\n    rate: 0.01\n    burst: 2\n    drop: true\n");
    let kept: usize = (0..5).map(|_| r.entry(&[], "x").len()).sum();
    assert_eq!(kept, 2);
    assert_eq!(r.counts.dropped["ratelimit_drop_stage"], 3);
    let mut r = Run::new(
        "pipeline_stages:\n- limit:\n    rate: 0.01\n    burst: 1\n    drop: true\n    by_label_name: app\n",
    );
    let kept: usize = [
        ("app", "a"),
        ("app", "a"),
        ("app", "b"),
        ("other", "c"),
        ("other", "c"),
    ]
    .iter()
    .map(|l| r.entry(&[*l], "x").len())
    .sum();
    assert_eq!(kept, 4, "one per app value, and no limit without the label");
    assert!(pipeline(
        "pipeline_stages:\n- limit:\n    rate: 1\n    burst: 1\n    by_label_name: app\n"
    )
    .is_err());
    assert!(pipeline("pipeline_stages:\n- limit:\n    rate: 0\n    burst: 1\n").is_err());
}

// pipeline_test.go: labels seed the extracted map; unknown stages and keys are
// errors with their line.
#[test]
fn data_flow_and_errors() {
    let e = one(
        "pipeline_stages:\n- output:\n    source: job\n",
        &[("job", "from-label")],
        "line",
    );
    assert_eq!(e.line, "from-label");
    let err = pipeline("pipeline_stages:\n- regex:\n    expresion: x\n").unwrap_err();
    assert!(
        err.starts_with("3:5: unknown key \"expresion\" in a regex stage"),
        "{err}"
    );
    let err = pipeline("pipeline_stages:\n- sampling:\n    rate: 0.5\n").unwrap_err();
    assert!(err.contains("\"sampling\" is not supported"), "{err}");
    let err = pipeline("pipeline_stages:\n- nope: {}\n").unwrap_err();
    assert!(err.starts_with("2:3: unknown stage \"nope\""), "{err}");
    let err = pipeline("pipeline_stages:\n- regex\n").unwrap_err();
    assert!(err.contains("must end with a `:`"), "{err}");
}

#[test]
fn config_file() {
    let cwd = std::path::Path::new("/srv");
    let text = r#"server:
  http_listen_port: 9080
positions:
  filename: /tmp/positions.yaml
clients:
  - url: http://localhost:3100/loki/api/v1/push
scrape_configs:
- job_name: system
  static_configs:
  - targets: [localhost]
    labels:
      job: varlogs
      __path__: /var/log/*log
      __path_exclude__: /var/log/secret*log
  - targets: [localhost]
    labels:
      job: relative
      __path__: logs/**/*.log
"#;
    let c = super::Config::parse(text, "p.yaml", cwd).unwrap();
    assert_eq!(c.notes.len(), 3, "{:?}", c.notes);
    assert_eq!(c.targets.len(), 2);
    assert_eq!(c.targets[1].path, "/srv/logs/**/*.log");
    assert_eq!(c.targets[0].labels.to_string(), r#"{job="varlogs"}"#);
    let hook = super::Hook::new(std::sync::Arc::new(c));
    assert_eq!(hook.target("/var/log/syslog").unwrap().job, "system");
    assert!(hook.target("/var/log/secret.log").is_none(), "excluded");
    assert!(
        hook.target("/var/log/sub/x.log").is_none(),
        "* stays in one directory"
    );
    assert!(
        hook.target("/srv/logs/a/b/c.log").is_some(),
        "** crosses directories"
    );
    let t = crate::ingest::hook::EntryHook::open(&hook, "/var/log/syslog").unwrap();
    assert_eq!(
        t.labels.to_string(),
        r#"{filename="/var/log/syslog", job="varlogs"}"#
    );

    // doublestar's {a,b} alternatives, nested too.
    assert_eq!(
        super::config::expand_braces("/var/log/{syslog,mail{.log,.err}}"),
        ["/var/log/syslog", "/var/log/mail.log", "/var/log/mail.err"]
    );
    assert_eq!(super::config::expand_braces("/x/{a"), ["/x/{a"]);
    let c = super::Config::parse(
        "scrape_configs:\n- job_name: x\n  static_configs:\n  - labels: {__path__: '/var/log/{syslog,auth.log}', __path_exclude__: '/var/log/{auth}.log'}\n",
        "p.yaml",
        cwd,
    )
    .unwrap();
    let hook = super::Hook::new(std::sync::Arc::new(c));
    assert!(hook.target("/var/log/syslog").is_some());
    assert!(
        hook.target("/var/log/auth.log").is_none(),
        "excluded by its own alternative"
    );
    assert!(hook.target("/var/log/messages").is_none());

    let bad = "scrape_configs:\n- job_name: x\n  static_configs:\n  - labels: {__path__: /x}\n  relabel_configs: []\n  pipeline_stages:\n  - regex: {expression: '('}\nlimits_config: {}\n";
    let err = super::Config::parse(bad, "p.yaml", cwd)
        .unwrap_err()
        .to_string();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert!(
        lines[0].starts_with("p.yaml:5:3: \"relabel_configs\" is not supported"),
        "{err}"
    );
    assert!(
        lines[1].starts_with("p.yaml:7:25: regex: could not compile"),
        "{err}"
    );
    assert!(
        lines[2].starts_with("p.yaml:8:1: \"limits_config\""),
        "{err}"
    );
    let err = super::Config::parse(
        "scrape_configs:\n- job_name: x\n  static_configs:\n  - labels: {job: x}\n",
        "p.yaml",
        cwd,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("needs a __path__"), "{err}");
}

// promtail's -config.expand-env.
#[test]
fn env_expansion() {
    let env = |k: &str| match k {
        "HOST" => Some("node-1".to_string()),
        "EMPTY" => Some(String::new()),
        _ => None,
    };
    let x = |t: &str| super::expand_env(t, env);
    assert_eq!(
        x("host: ${HOST} $HOST ${NOPE}|").unwrap(),
        "host: node-1 node-1 |"
    );
    assert_eq!(
        x("${NOPE:-d} ${EMPTY:-d} ${EMPTY-d} ${NOPE-d}").unwrap(),
        "d d  d"
    );
    assert_eq!(
        x("regex: '(?P<a>.*)$' cost: $5").unwrap(),
        "regex: '(?P<a>.*)$' cost: $5"
    );
    assert_eq!(x("${NOPE:?set NOPE}").unwrap_err(), "${NOPE}: set NOPE");
    assert!(x("${HOST/x/y}").is_err());
}

// Go's time.Parse reads a fraction after the seconds even when the layout
// has none, and refuses trailing text.
#[test]
fn go_parse_strictness() {
    let p = |f: &str, v: &str| super::stages::parse_with(f, v, None, NOW);
    assert_eq!(
        p("RFC3339", "2019-04-30T02:12:41.5Z"),
        Some(rfc3339("2019-04-30T02:12:41.5Z"))
    );
    assert_eq!(p("RFC3339", "2019-04-30T02:12:41Z trailing"), None);
    assert_eq!(p("RFC3339", "2019-04-30 02:12:41Z"), None);
    assert_eq!(p("UnixMs", "1562708916414.5"), None);
    assert_eq!(
        p("Unix", "1562708916.1234567891"),
        None,
        "more than 9 fraction digits"
    );
    assert_eq!(
        p("2006-01-02", "2019-04-30"),
        Some(rfc3339("2019-04-30T00:00:00Z"))
    );
}
