//! Prometheus' template functions (`template/template.go`, as vendored in Loki
//! 3.7.6) as a [`FuncTable`] over lokal's Go `text/template` engine — the engine
//! `line_format` runs — and the expansion of alert labels and annotations the way
//! the rules engine does it (`rules/alerting.go`): the text is prefixed with
//! `{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL :=
//! .ExternalURL}}{{$value := .Value}}` (so error columns are Prometheus'), `.` is
//! the alert's data, missing keys are the zero value, and a template that fails
//! expands to `<error expanding template: …>`.
//!
//! `query` runs LogQL (Loki's ruler hands Prometheus its LogQL query function)
//! through a callback the evaluator provides; templates are checked at load time
//! with Loki's definitions (`pkg/ruler/compat.go`, which leaves `$externalURL`
//! out, so Loki refuses a rule that uses it).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, LazyLock};

use crate::go::duration::{format_go_duration, parse_prom_duration};
use crate::go::strconv::{format_float, parse_float};
use crate::go::template::{
    arg_str, call_err, nargs, wrong_type, Context, Env, FuncTable, Template, Value,
};
use crate::go::time::Time;
use crate::go::{strings, url};
use crate::model::Labels;

/// The [`Context`] of alert templates.
pub struct Prom;

/// Runs a LogQL instant query at a time (ns): the samples' labels and values.
pub type QueryFn<'a> = dyn Fn(&str, i64) -> Result<Vec<(Labels, f64)>, String> + 'a;

/// What one expansion sees besides the alert's data.
pub struct PromEnv<'a> {
    /// The evaluation time, ns (`now`, and the time `query` runs at).
    pub ts: i64,
    /// `--external-url` (`externalURL`, `pathPrefix`).
    pub external_url: &'a str,
    /// The query function behind `query`; `None` where there is none (load-time
    /// checks), which makes `query` fail.
    pub query: Option<&'a QueryFn<'a>>,
}

impl Context for Prom {
    type Of<'a> = PromEnv<'a>;
}

type PEnv<'a> = Env<'a, Prom>;
type Func = crate::go::template::Func<Prom>;

/// The variables Prometheus defines before an alert template at evaluation.
const RUNTIME_DEFS: &str = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

/// The variables Loki defines when it checks a rule's templates at load time.
const LOKI_CHECK_DEFS: &str =
    "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$value := .Value}}";

/// The functions alert templates may call: `text/template`'s and Prometheus'.
pub fn functions() -> &'static FuncTable<Prom> {
    static FUNCS: LazyLock<FuncTable<Prom>> = LazyLock::new(|| {
        let mut t = FuncTable::builtins();
        for (name, f) in PROM_FUNCS {
            t.add(name, f);
        }
        t
    });
    &FUNCS
}

const PROM_FUNCS: [(&str, Func); 29] = [
    ("query", f_query),
    ("first", f_first),
    ("label", f_label),
    ("value", f_value),
    ("strvalue", f_strvalue),
    ("args", f_args),
    ("reReplaceAll", f_re_replace_all),
    ("safeHtml", f_safe_html),
    ("match", f_match),
    ("title", f_title),
    ("toUpper", f_to_upper),
    ("toLower", f_to_lower),
    ("graphLink", f_graph_link),
    ("tableLink", f_table_link),
    ("sortByLabel", f_sort_by_label),
    ("stripPort", f_strip_port),
    ("stripDomain", f_strip_domain),
    ("humanize", f_humanize),
    ("humanize1024", f_humanize1024),
    ("humanizeDuration", f_humanize_duration),
    ("humanizePercentage", f_humanize_percentage),
    ("humanizeTimestamp", f_humanize_timestamp),
    ("toTime", f_to_time),
    ("toDuration", f_to_duration),
    ("now", f_now),
    ("pathPrefix", f_path_prefix),
    ("externalURL", f_external_url),
    ("parseDuration", f_parse_duration),
    ("urlQueryEscape", f_url_query_escape),
];

/// The template name Prometheus gives a rule's templates.
pub fn template_name(rule: &str) -> String {
    format!("__alert_{rule}")
}

/// Checks that `text` parses as Loki's ruler checks a rule's label and annotation
/// templates; the error is Go's (`template: __alert_X:1: function "y" not defined`).
pub fn check(rule: &str, text: &str) -> Result<(), String> {
    Template::parse(
        &template_name(rule),
        &format!("{LOKI_CHECK_DEFS}{text}"),
        functions(),
    )
    .map(|_| ())
}

/// A label or annotation template of a rule, parsed once.
#[derive(Debug, Clone)]
pub struct AlertTemplate {
    name: String,
    /// The text as written: a template without actions expands to itself.
    text: String,
    parsed: Option<Result<Template<Prom>, String>>,
}

/// What an alert's templates see as `.`.
pub struct AlertData<'a> {
    /// The sample's labels (`$labels`).
    pub labels: &'a Labels,
    /// `--external-label`s (`$externalLabels`).
    pub external_labels: &'a BTreeMap<String, String>,
    /// `--external-url` (`$externalURL`).
    pub external_url: &'a str,
    /// The sample's value (`$value`).
    pub value: f64,
}

/// A label set as Go's `map[string]string`.
fn str_map(labels: &Labels) -> Value {
    Value::StrMap(Arc::new(
        labels
            .pairs()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    ))
}

impl AlertTemplate {
    /// Parses `text` as a template of rule `rule` (with Prometheus' definitions).
    pub fn new(rule: &str, text: &str) -> AlertTemplate {
        let name = template_name(rule);
        let parsed = text.contains("{{").then(|| {
            Template::parse(&name, &format!("{RUNTIME_DEFS}{text}"), functions())
                .map_err(|e| format!("error parsing template {name}: {e}"))
        });
        AlertTemplate {
            name,
            text: text.to_string(),
            parsed,
        }
    }

    /// True when the text has no template action (it expands to itself).
    pub fn is_static(&self) -> bool {
        self.parsed.is_none()
    }

    /// Expands the template for one alert; a failure is Prometheus' text,
    /// `<error expanding template: …>`.
    pub fn expand(&self, data: &AlertData<'_>, env: &PromEnv<'_>) -> String {
        let t = match &self.parsed {
            None => return self.text.clone(),
            Some(Ok(t)) => t,
            Some(Err(e)) => return format!("<error expanding template: {e}>"),
        };
        let dot = Value::Map(Arc::new(BTreeMap::from([
            ("Labels".to_string(), str_map(data.labels)),
            (
                "ExternalLabels".to_string(),
                Value::StrMap(Arc::new(data.external_labels.clone())),
            ),
            ("ExternalURL".to_string(), Value::str(data.external_url)),
            ("Value".to_string(), Value::Float(data.value)),
        ])));
        let no_data: BTreeMap<String, String> = BTreeMap::new();
        let e = Env {
            data: &no_data,
            ctx: env,
        };
        let mut out = Vec::new();
        match t.execute_with(&e, &dot, &[], &mut out) {
            Ok(()) => String::from_utf8_lossy(&out).into_owned(),
            Err(err) => format!(
                "<error expanding template: error executing template {}: {err}>",
                self.name
            ),
        }
    }
}

// ---------------------------------------------------------------------------------
// Functions

/// Prometheus' `ConvertToFloat`: floats, integers and numeric strings.
fn to_float(v: &Value) -> Result<f64, String> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        Value::Str(s) => parse_float(s),
        other => Err(format!("can't convert {} to float", other.type_name())),
    }
}

fn float_arg(name: &str, a: &[Value]) -> Result<f64, String> {
    nargs(name, a, 1)?;
    to_float(&a[0]).map_err(|e| call_err(name, e))
}

/// Go's `%.4g`.
fn g4(v: f64) -> String {
    format_float(v, 'g', 4)
}

fn f_humanize(_: &PEnv<'_>, a: Vec<Value>) -> Result<Value, String> {
    let mut v = float_arg("humanize", &a)?;
    if v == 0.0 || !v.is_finite() {
        return Ok(Value::str(&g4(v)));
    }
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    Ok(Value::str(&format!("{}{prefix}", g4(v))))
}

fn f_humanize1024(_: &PEnv<'_>, a: Vec<Value>) -> Result<Value, String> {
    let mut v = float_arg("humanize1024", &a)?;
    if v.abs() <= 1.0 || !v.is_finite() {
        return Ok(Value::str(&g4(v)));
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    Ok(Value::str(&format!("{}{prefix}", g4(v))))
}

/// Prometheus common's `HumanizeDuration` (seconds).
fn humanize_duration(mut v: f64) -> String {
    if !v.is_finite() {
        return g4(v);
    }
    if v == 0.0 {
        return format!("{}s", g4(v));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        v = v.abs();
        let d = v as i64;
        let (secs, mins, hours, days) = (d % 60, (d / 60) % 60, (d / 3600) % 24, d / 86400);
        return if days != 0 {
            format!("{sign}{days}d {hours}h {mins}m {secs}s")
        } else if hours != 0 {
            format!("{sign}{hours}h {mins}m {secs}s")
        } else if mins != 0 {
            format!("{sign}{mins}m {secs}s")
        } else {
            format!("{sign}{}s", g4(v))
        };
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", g4(v))
}

fn f_humanize_duration(_: &PEnv<'_>, a: Vec<Value>) -> Result<Value, String> {
    Ok(Value::str(&humanize_duration(float_arg(
        "humanizeDuration",
        &a,
    )?)))
}

fn f_humanize_percentage(_: &PEnv<'_>, a: Vec<Value>) -> Result<Value, String> {
    let v = float_arg("humanizePercentage", &a)?;
    Ok(Value::str(&format!("{}%", g4(v * 100.0))))
}

/// Prometheus' `floatToTime`: seconds to a UTC time, at millisecond precision
/// (through `model.Time`).
fn float_to_time(name: &str, v: f64) -> Result<Time, String> {
    let ns = v * 1e9;
    if ns > i64::MAX as f64 || ns < i64::MIN as f64 {
        return Err(call_err(
            name,
            format!(
                "{} cannot be represented as a nanoseconds timestamp since it overflows int64",
                format_float(v, 'g', -1)
            ),
        ));
    }
    let ms = (ns as i64) / 1_000_000;
    Ok(Time::utc(ms as i128 * 1_000_000))
}

fn f_humanize_timestamp(_: &PEnv<'_>, a: Vec<Value>) -> Result<Value, String> {
    let v = float_arg("humanizeTimestamp", &a)?;
    if !v.is_finite() {
        return Ok(Value::str(&g4(v)));
    }
    Ok(Value::str(
        &float_to_time("humanizeTimestamp", v)?.to_go_string(),
    ))
}

fn f_to_time(_: &PEnv<'_>, a: Vec<Value>) -> Result<Value, String> {
    let v = float_arg("toTime", &a)?;
    if !v.is_finite() {
        return Err(call_err("toTime", "value is NaN or Inf"));
    }
    Ok(Value::Time(float_to_time("toTime", v)?))
}

fn f_to_duration(_: &PEnv<'_>, a: Vec<Value>) -> Result<Value, String> {
    // A `*time.Duration` prints as its `String()`.
    let v = float_arg("toDuration", &a)?;
    Ok(Value::str(&format_go_duration((v * 1e9) as i64)))
}

fn f_now(e: &PEnv<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("now", &a, 0)?;
    Ok(Value::Float(
        (e.ctx.ts.div_euclid(1_000_000)) as f64 / 1000.0,
    ))
}

fn f_parse_duration(_: &PEnv<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("parseDuration", &a, 1)?;
    let s = arg_str(&a[0])?;
    // model.ParseDurationAllowNegative.
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let ns = parse_prom_duration(body).map_err(|e| call_err("parseDuration", e))?;
    let secs = ns as f64 / 1e9;
    Ok(Value::Float(if neg { -secs } else { secs }))
}

fn f_to_upper(_: &PEnv<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("toUpper", &a, 1)?;
    Ok(Value::str(&strings::to_upper(arg_str(&a[0])?)))
}

fn f_to_lower(_: &PEnv<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("toLower", &a, 1)?;
    Ok(Value::str(&strings::to_lower(arg_str(&a[0])?)))
}

fn f_title(_: &PEnv<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("title", &a, 1)?;
    Ok(Value::str(&strings::title_words(arg_str(&a[0])?)))
}

fn f_safe_html(_: &PEnv<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("safeHtml", &a, 1)?;
    Ok(Value::str(arg_str(&a[0])?))
}

fn f_url_query_escape(_: &PEnv<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("urlQueryEscape", &a, 1)?;
    Ok(Value::str(&url::query_escape(arg_str(&a[0])?)))
}

/// A Go (RE2) regex compiled as `regexp` would, or Go's error text.
fn go_regex(re: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(&crate::engine::pipeline::go_regex(re))
        .map_err(|e| crate::engine::pipeline::go_regex_error(re, &e))
}

fn f_re_replace_all(_: &PEnv<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("reReplaceAll", &a, 3)?;
    let (pattern, repl, text) = (arg_str(&a[0])?, arg_str(&a[1])?, arg_str(&a[2])?);
    // regexp.MustCompile panics; text/template turns the panic into the call's error.
    let re = go_regex(pattern).map_err(|e| {
        let quoted = if pattern.contains('`') {
            crate::go::strconv::quote(pattern)
        } else {
            format!("`{pattern}`")
        };
        call_err("reReplaceAll", format!("regexp: Compile({quoted}): {e}"))
    })?;
    Ok(Value::str(&re.replace_all(text, repl)))
}

fn f_match(_: &PEnv<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("match", &a, 2)?;
    let re = go_regex(arg_str(&a[0])?).map_err(|e| call_err("match", e))?;
    Ok(Value::Bool(re.is_match(arg_str(&a[1])?)))
}

fn f_graph_link(_: &PEnv<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("graphLink", &a, 1)?;
    Ok(Value::str(&format!(
        "/graph?g0.expr={}&g0.tab=0",
        url::query_escape(arg_str(&a[0])?)
    )))
}

fn f_table_link(_: &PEnv<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("tableLink", &a, 1)?;
    Ok(Value::str(&table_link(arg_str(&a[0])?)))
}

/// Prometheus' `strutil.TableLinkForExpression`.
pub fn table_link(expr: &str) -> String {
    format!("/graph?g0.expr={}&g0.tab=1", url::query_escape(expr))
}

/// Go's `net.SplitHostPort`, without the error text.
fn split_host_port(hp: &str) -> Option<(&str, &str)> {
    let i = hp.rfind(':')?;
    let (host, j, k) = if hp.starts_with('[') {
        let end = hp.find(']')?;
        if end + 1 != i {
            return None;
        }
        (&hp[1..end], 1, end + 1)
    } else {
        let host = &hp[..i];
        if host.contains(':') {
            return None;
        }
        (host, 0, 0)
    };
    if hp[j..].contains('[') || hp[k..].contains(']') {
        return None;
    }
    Some((host, &hp[i + 1..]))
}

fn f_strip_port(_: &PEnv<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("stripPort", &a, 1)?;
    let hp = arg_str(&a[0])?;
    Ok(Value::str(split_host_port(hp).map_or(hp, |(h, _)| h)))
}

fn f_strip_domain(_: &PEnv<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("stripDomain", &a, 1)?;
    let hp = arg_str(&a[0])?;
    let (host, port) = split_host_port(hp).unwrap_or((hp, ""));
    if host.parse::<IpAddr>().is_ok() {
        return Ok(Value::str(hp));
    }
    let host = host.split('.').next().unwrap_or("");
    Ok(Value::str(&if port.is_empty() {
        host.to_string()
    } else if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }))
}

fn f_external_url(e: &PEnv<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("externalURL", &a, 0)?;
    Ok(Value::str(e.ctx.external_url))
}

fn f_path_prefix(e: &PEnv<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("pathPrefix", &a, 0)?;
    Ok(Value::str(url_path(e.ctx.external_url)))
}

/// The path of a URL (`http://host/prefix?x` → `/prefix`).
fn url_path(u: &str) -> &str {
    let rest = match u.find("://") {
        Some(i) => match u[i + 3..].find('/') {
            Some(j) => &u[i + 3 + j..],
            None => "",
        },
        None => u,
    };
    rest.split(['?', '#']).next().unwrap_or("")
}

/// A query result sample as templates see it (Prometheus' `*sample`).
fn sample_value(labels: &Labels, v: f64) -> Value {
    Value::Map(Arc::new(BTreeMap::from([
        ("Labels".to_string(), str_map(labels)),
        ("Value".to_string(), Value::Float(v)),
    ])))
}

fn f_query(e: &PEnv<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("query", &a, 1)?;
    let q = arg_str(&a[0])?;
    let Some(run) = e.ctx.query else {
        return Err(call_err("query", "no query function in this context"));
    };
    let samples = run(q, e.ctx.ts).map_err(|err| call_err("query", err))?;
    Ok(Value::List(Arc::new(
        samples.iter().map(|(l, v)| sample_value(l, *v)).collect(),
    )))
}

fn query_result<'v>(name: &str, v: &'v Value) -> Result<&'v [Value], String> {
    match v {
        Value::List(l) => Ok(l),
        other => Err(wrong_type("template.queryResult", other).replace("value", name)),
    }
}

fn sample_field<'v>(v: &'v Value, field: &str) -> Result<Option<&'v Value>, String> {
    match v {
        Value::Map(m) => Ok(m.get(field)),
        other => Err(wrong_type("*template.sample", other)),
    }
}

fn f_first(_: &PEnv<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("first", &a, 1)?;
    query_result("first", &a[0])?
        .first()
        .cloned()
        .ok_or_else(|| call_err("first", "first() called on vector with no elements"))
}

fn sample_label(s: &Value, label: &str) -> Result<String, String> {
    Ok(match sample_field(s, "Labels")? {
        Some(Value::StrMap(m)) => m.get(label).cloned().unwrap_or_default(),
        _ => String::new(),
    })
}

fn f_label(_: &PEnv<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("label", &a, 2)?;
    Ok(Value::str(&sample_label(&a[1], arg_str(&a[0])?)?))
}

fn f_value(_: &PEnv<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("value", &a, 1)?;
    Ok(sample_field(&a[0], "Value")?.cloned().unwrap_or(Value::Nil))
}

fn f_strvalue(_: &PEnv<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("strvalue", &a, 1)?;
    Ok(Value::str(&sample_label(&a[0], "__value__")?))
}

fn f_sort_by_label(_: &PEnv<'_>, a: Vec<Value>) -> Result<Value, String> {
    nargs("sortByLabel", &a, 2)?;
    let label = arg_str(&a[0])?;
    let mut keyed: Vec<(String, Value)> = query_result("sortByLabel", &a[1])?
        .iter()
        .map(|s| Ok((sample_label(s, label)?, s.clone())))
        .collect::<Result<_, String>>()?;
    keyed.sort_by(|x, y| x.0.cmp(&y.0));
    Ok(Value::List(Arc::new(
        keyed.into_iter().map(|(_, s)| s).collect(),
    )))
}

fn f_args(_: &PEnv<'_>, a: Vec<Value>) -> Result<Value, String> {
    Ok(Value::Map(Arc::new(
        a.into_iter()
            .enumerate()
            .map(|(i, v)| (format!("arg{i}"), v))
            .collect(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_with(
        text: &str,
        labels: &[(&str, &str)],
        value: f64,
        query: Option<&QueryFn<'_>>,
    ) -> String {
        let labels = Labels::from_pairs(labels.iter().copied());
        let ext = BTreeMap::from([("cluster".to_string(), "eu".to_string())]);
        let t = AlertTemplate::new("HighErrors", text);
        t.expand(
            &AlertData {
                labels: &labels,
                external_labels: &ext,
                external_url: "http://grafana.example/prefix",
                value,
            },
            &PromEnv {
                ts: 1_700_000_000_123_000_000,
                external_url: "http://grafana.example/prefix",
                query,
            },
        )
    }

    fn expand(text: &str) -> String {
        expand_with(
            text,
            &[("job", "api"), ("instance", "host-1.example.com:9090")],
            1234.5678,
            None,
        )
    }

    #[test]
    fn variables_and_fields() {
        assert_eq!(expand("{{ $labels.job }} {{ $value }}"), "api 1234.5678");
        assert_eq!(expand("[{{ $labels.missing }}]"), "[]");
        assert_eq!(
            expand("{{ .Labels.job }} {{ $externalLabels.cluster }} {{ $externalURL }}"),
            "api eu http://grafana.example/prefix"
        );
        assert_eq!(expand("no actions"), "no actions");
        assert_eq!(
            expand("{{ range $k, $v := $labels }}{{$k}}={{$v}};{{ end }}"),
            "instance=host-1.example.com:9090;job=api;"
        );
    }

    #[test]
    fn humanize_family_like_prometheus() {
        // Expected values from Prometheus' template_test.go.
        let h = |f: &str, v: f64| expand_with(&format!("{{{{ {f} $value }}}}"), &[], v, None);
        assert_eq!(h("humanize", 0.0), "0");
        assert_eq!(h("humanize", 1234567.0), "1.235M");
        assert_eq!(h("humanize", 12345.0), "12.35k");
        assert_eq!(h("humanize", 0.00123), "1.23m");
        assert_eq!(h("humanize", f64::INFINITY), "+Inf");
        assert_eq!(h("humanize1024", 1048576.0), "1Mi");
        assert_eq!(h("humanize1024", 0.5), "0.5");
        assert_eq!(h("humanizeDuration", 0.0), "0s");
        assert_eq!(h("humanizeDuration", 93784.0), "1d 2h 3m 4s");
        assert_eq!(h("humanizeDuration", 60.0), "1m 0s");
        assert_eq!(h("humanizeDuration", 1.2345), "1.234s");
        assert_eq!(h("humanizeDuration", 0.0012345), "1.234ms");
        assert_eq!(h("humanizeDuration", -3601.0), "-1h 0m 1s");
        assert_eq!(h("humanizePercentage", 0.1234567), "12.35%");
        assert_eq!(
            h("humanizeTimestamp", 1435065584.128),
            "2015-06-23 13:19:44.128 +0000 UTC"
        );
        assert_eq!(expand(r#"{{ "1234567" | humanize }}"#), "1.235M");
        assert!(expand(r#"{{ "x" | humanize }}"#).starts_with("<error expanding template: error executing template __alert_HighErrors: template: __alert_HighErrors:1:"));
    }

    #[test]
    fn strings_and_regexes() {
        assert_eq!(
            expand(r#"{{ $labels.instance | stripPort }}"#),
            "host-1.example.com"
        );
        assert_eq!(
            expand(r#"{{ $labels.instance | stripDomain }}"#),
            "host-1:9090"
        );
        assert_eq!(
            expand(
                r#"{{ "[::1]:80" | stripPort }} {{ "10.0.0.1:80" | stripDomain }} {{ "a:b:c" | stripPort }}"#
            ),
            "::1 10.0.0.1:80 a:b:c"
        );
        assert_eq!(expand(r#"{{ reReplaceAll "(a)b" "x$1" "abab" }}"#), "xaxa");
        assert_eq!(
            expand(r#"{{ if match "^ap" $labels.job }}yes{{ end }}"#),
            "yes"
        );
        assert_eq!(
            expand(r#"{{ title "hello world" }} {{ toUpper "a" }} {{ toLower "B" }}"#),
            "Hello World A b"
        );
        assert_eq!(expand(r#"{{ printf "%.1f" $value }}"#), "1234.6");
        assert_eq!(
            expand(r#"{{ tableLink "up > 0" }}"#),
            "/graph?g0.expr=up+%3E+0&g0.tab=1"
        );
        assert_eq!(
            expand(r#"{{ pathPrefix }} {{ now }}"#),
            "/prefix 1.700000000123e+09"
        );
        assert_eq!(
            expand(r#"{{ parseDuration "-1m30s" }} {{ 90 | toDuration }}"#),
            "-90 1m30s"
        );
        let e = expand(r#"{{ reReplaceAll "(" "" "x" }}"#);
        assert!(e.contains("error calling reReplaceAll: regexp: Compile(`(`): error parsing regexp: missing closing ): `(`"), "{e}");
    }

    #[test]
    fn queries_in_templates() {
        let q = |expr: &str, ts: i64| -> Result<Vec<(Labels, f64)>, String> {
            assert_eq!(ts, 1_700_000_000_123_000_000);
            if expr == "bad" {
                return Err("parse error".into());
            }
            Ok(vec![
                (Labels::from_pairs([("pod", "b")]), 2.0),
                (Labels::from_pairs([("pod", "a")]), 1.0),
            ])
        };
        let t = r#"{{ range query "x" | sortByLabel "pod" }}{{ .Labels.pod }}={{ .Value }} {{ end }}{{ with query "x" }}{{ . | first | label "pod" }} {{ . | first | value }}{{ end }}"#;
        assert_eq!(expand_with(t, &[], 0.0, Some(&q)), "a=1 b=2 b 2");
        assert!(expand_with(r#"{{ query "bad" }}"#, &[], 0.0, Some(&q))
            .contains("error calling query: parse error"));
        assert!(expand(r#"{{ query "x" }}"#).contains("error calling query"));
    }

    #[test]
    fn load_time_checks_are_lokis() {
        assert_eq!(check("A", "{{ $labels.x }} {{ humanize $value }}"), Ok(()));
        assert_eq!(
            check("A", "{{ nosuch }}").unwrap_err(),
            "template: __alert_A:1: function \"nosuch\" not defined"
        );
        // Loki's check leaves $externalURL undefined; Prometheus' runtime defines it.
        assert!(check("A", "{{ $externalURL }}")
            .unwrap_err()
            .contains("undefined variable \"$externalURL\""));
        assert_eq!(
            expand("{{ $externalURL }}"),
            "http://grafana.example/prefix"
        );
    }
}
