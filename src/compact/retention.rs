//! Retention rules as Loki's compactor applies them (`limits_config`'s
//! `retention_period` and `retention_stream`, per-tenant `overrides`), from
//! command-line flags or a small YAML file for cron.
//!
//! A stream's period is that of the matching `retention_stream` rule with
//! the highest priority; among rules of equal priority the shortest period
//! wins (`TenantsRetention.RetentionPeriodFor` in Loki's
//! `pkg/compactor/retention/expiration.go`). A stream no rule matches keeps
//! `retention_period`; 0 keeps everything. A tenant's override replaces the
//! global value of each key it sets, as Loki's runtime overrides do (a
//! tenant with its own `retention_stream` list does not see the global one).
//! An entry is expired when `now - ts > period`.

use std::collections::BTreeMap;

use saphyr_parser::{Event, Parser, ScalarStyle};

use crate::go::duration::{format_prom_duration, parse_prom_duration};
use crate::logql::Matcher;
use crate::model::Labels;

/// Loki's shortest allowed period for a stream rule ("retention period must
/// be >= 24h"). lokal holds the global period to it too: a `30m` typed for
/// `30d` would otherwise delete all but the last half hour.
const MIN_PERIOD: i64 = 24 * 3600 * 1_000_000_000;

/// One `retention_stream` rule.
#[derive(Debug, Clone)]
pub struct StreamRule {
    /// The selector as written.
    pub selector: String,
    /// Its matchers.
    pub matchers: Vec<Matcher>,
    /// Higher wins.
    pub priority: i64,
    /// How long matching streams are kept, ns.
    pub period: i64,
}

/// The retention keys of one limits block; `None`: not set here.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    /// `retention_period`, ns (0 keeps everything).
    pub period: Option<i64>,
    /// `retention_stream`.
    pub streams: Option<Vec<StreamRule>>,
}

/// Retention for every tenant: global limits and per-tenant overrides.
#[derive(Debug, Clone, Default)]
pub struct Retention {
    /// The global limits.
    pub global: Limits,
    /// Per tenant: the keys it overrides.
    pub overrides: BTreeMap<String, Limits>,
}

/// One tenant's resolved rules.
#[derive(Debug, Clone, Default)]
pub struct TenantRetention {
    /// Period of streams no rule matches, ns; 0 keeps them.
    pub period: i64,
    /// The stream rules.
    pub streams: Vec<StreamRule>,
}

impl Retention {
    /// True when nothing ever expires.
    pub fn is_empty(&self) -> bool {
        self.global.period.unwrap_or(0) == 0
            && self.global.streams.as_ref().is_none_or(Vec::is_empty)
            && self.overrides.is_empty()
    }

    /// The rules of `tenant`.
    pub fn for_tenant(&self, tenant: &str) -> TenantRetention {
        let o = self.overrides.get(tenant);
        TenantRetention {
            period: o.and_then(|l| l.period).or(self.global.period).unwrap_or(0),
            streams: o
                .and_then(|l| l.streams.as_ref())
                .or(self.global.streams.as_ref())
                .cloned()
                .unwrap_or_default(),
        }
    }

    /// Sets the global keys the flags give (`--retention`, `--retention-stream`),
    /// replacing the file's.
    pub fn apply_flags(&mut self, period: Option<i64>, streams: Vec<StreamRule>) {
        if period.is_some() {
            self.global.period = period;
        }
        if !streams.is_empty() {
            self.global.streams = Some(streams);
        }
    }
}

impl TenantRetention {
    /// The period of a stream, ns; 0: kept for ever.
    pub fn period_for(&self, labels: &Labels) -> i64 {
        let mut best: Option<&StreamRule> = None;
        for r in &self.streams {
            if !crate::engine::plan::selects(&r.matchers, labels) {
                continue;
            }
            best = match best {
                Some(b) if b.priority > r.priority => Some(b),
                Some(b) if b.priority == r.priority && b.period <= r.period => Some(b),
                _ => Some(r),
            };
        }
        best.map_or(self.period, |r| r.period)
    }

    /// The first timestamp a stream keeps at `now`: entries before it are
    /// expired. `None` when the stream is kept for ever.
    pub fn cutoff(&self, labels: &Labels, now: i64) -> Option<i64> {
        let p = self.period_for(labels);
        (p > 0).then(|| now.saturating_sub(p))
    }

    /// True when some stream may expire.
    pub fn is_empty(&self) -> bool {
        self.period == 0 && self.streams.is_empty()
    }
}

/// Parses a period: a Prometheus duration of at least 24h (0 allowed when
/// `zero_ok`, meaning "keep").
pub fn parse_period(s: &str, zero_ok: bool) -> Result<i64, String> {
    let p = parse_prom_duration(s.trim())?;
    if p == 0 && zero_ok {
        return Ok(0);
    }
    if p < MIN_PERIOD {
        return Err(format!(
            "retention period must be >= 24h was {}",
            format_prom_duration(p)
        ));
    }
    Ok(p)
}

/// A rule from its parts, with Loki's checks (the selector must parse as a
/// stream selector, the period be at least 24h).
pub fn stream_rule(selector: &str, period: &str, priority: i64) -> Result<StreamRule, String> {
    let matchers = crate::logql::parse_matchers(selector)
        .map_err(|e| format!("invalid labels matchers: {e}"))?;
    Ok(StreamRule {
        selector: selector.to_string(),
        matchers,
        priority,
        period: parse_period(period, false)?,
    })
}

/// Parses `--retention-stream`: `SELECTOR=PERIOD` or `SELECTOR=PERIOD@PRIORITY`
/// (`{env="dev"}=7d`, `{env="prod"}=90d@2`; priority 0 by default).
pub fn parse_stream_flag(s: &str) -> Result<StreamRule, String> {
    let usage = || {
        format!("{s:?}: expected SELECTOR=PERIOD[@PRIORITY], e.g. '{{env=\"dev\"}}=7d' or '{{env=\"prod\"}}=90d@2'")
    };
    // The selector ends at its last `}`; the period and priority have none.
    let close = s.rfind('}').ok_or_else(usage)?;
    let (selector, rest) = s.split_at(close + 1);
    let rest = rest.trim_start().strip_prefix('=').ok_or_else(usage)?;
    let (period, priority) = match rest.split_once('@') {
        Some((p, n)) => (
            p,
            n.trim()
                .parse::<i64>()
                .map_err(|_| format!("{s:?}: priority {n:?} is not an integer"))?,
        ),
        None => (rest, 0),
    };
    stream_rule(selector.trim(), period, priority).map_err(|e| format!("{s:?}: {e}"))
}

/// A line and a column, from 1.
type Pos = (usize, usize);

/// The parser's next event and where it starts.
type Next<'a> = Result<Option<(Event<'a>, Pos)>, String>;

/// A YAML node with its position (line, column from 1).
#[derive(Debug)]
enum Node {
    Scalar(String, bool),
    Seq(Vec<(Node, Pos)>),
    Map(Vec<(String, Pos, Node)>),
}

/// Reads the first document of `text` into a tree; anchors and aliases are
/// refused, since nothing here needs them.
fn load(text: &str) -> Result<Option<(Node, Pos)>, String> {
    let mut events = Parser::new_from_str(text);
    let mut next = || -> Next<'_> {
        match events.next() {
            None => Ok(None),
            Some(Err(e)) => Err(e.to_string()),
            Some(Ok((ev, span))) => Ok(Some((ev, (span.start.line(), span.start.col() + 1)))),
        }
    };
    fn node<'a>(
        ev: Event<'a>,
        pos: (usize, usize),
        next: &mut dyn FnMut() -> Next<'a>,
    ) -> Result<Node, String> {
        let at = |p: (usize, usize)| format!("line {}, column {}", p.0, p.1);
        match ev {
            Event::Scalar(v, style, anchor, _) => {
                if anchor != 0 {
                    return Err(format!("{}: anchors are not supported here", at(pos)));
                }
                Ok(Node::Scalar(v.into_owned(), style == ScalarStyle::Plain))
            }
            Event::SequenceStart(..) => {
                let mut items = Vec::new();
                loop {
                    match next()? {
                        Some((Event::SequenceEnd, _)) => return Ok(Node::Seq(items)),
                        Some((ev, p)) => items.push((node(ev, p, next)?, p)),
                        None => return Err("unexpected end of the file".into()),
                    }
                }
            }
            Event::MappingStart(..) => {
                let mut items: Vec<(String, (usize, usize), Node)> = Vec::new();
                loop {
                    let (k, kp) = match next()? {
                        Some((Event::MappingEnd, _)) => return Ok(Node::Map(items)),
                        Some((Event::Scalar(k, ..), kp)) => (k.into_owned(), kp),
                        Some((_, kp)) => {
                            return Err(format!("{}: a key must be a plain string", at(kp)))
                        }
                        None => return Err("unexpected end of the file".into()),
                    };
                    if items.iter().any(|(o, ..)| *o == k) {
                        return Err(format!("{}: key {k:?} is given twice", at(kp)));
                    }
                    let (ev, vp) = next()?.ok_or("unexpected end of the file")?;
                    items.push((k, kp, node(ev, vp, next)?));
                }
            }
            Event::Alias(_) => Err(format!("{}: aliases are not supported here", at(pos))),
            _ => Err(format!("{}: unexpected YAML", at(pos))),
        }
    }
    loop {
        match next()? {
            None | Some((Event::StreamEnd, _)) => return Ok(None),
            Some((Event::StreamStart | Event::DocumentStart(_), _)) => continue,
            Some((Event::DocumentEnd, _)) => return Ok(None),
            Some((ev, p)) => return Ok(Some((node(ev, p, &mut next)?, p))),
        }
    }
}

/// Reads a retention file: Loki's `limits_config` keys, either at the top
/// level or under `limits_config:` (a Loki configuration file, whose other
/// keys are then ignored), plus `overrides:` with the same keys per tenant,
/// as in Loki's runtime configuration:
///
/// ```yaml
/// retention_period: 30d
/// retention_stream:
///   - selector: '{env="dev"}'
///     priority: 1
///     period: 7d
/// overrides:
///   team-a:
///     retention_period: 90d
/// ```
///
/// Errors name the line and column.
pub fn parse_file(text: &str) -> Result<Retention, String> {
    let Some((root, pos)) = load(text)? else {
        return Ok(Retention::default());
    };
    let at = |p: (usize, usize)| format!("line {}, column {}", p.0, p.1);
    let Node::Map(top) = root else {
        return Err(format!("{}: expected a mapping of keys", at(pos)));
    };
    let loki_config = top.iter().any(|(k, ..)| k == "limits_config");
    let mut out = Retention::default();
    for (k, kp, v) in &top {
        match k.as_str() {
            "limits_config" => out.global = limits(v, *kp, true)?,
            "overrides" => {
                let Node::Map(tenants) = v else {
                    return Err(format!("{}: overrides: expected a mapping of tenants", at(*kp)));
                };
                for (t, tp, l) in tenants {
                    crate::store::validate_tenant(t).map_err(|e| format!("{}: {e}", at(*tp)))?;
                    out.overrides.insert(t.clone(), limits(l, *tp, false)?);
                }
            }
            "retention_period" | "retention_stream" if !loki_config => {}
            _ if loki_config => {}
            _ => {
                return Err(format!(
                    "{}: unknown key {k:?}; expected retention_period, retention_stream, overrides or limits_config",
                    at(*kp)
                ))
            }
        }
    }
    if !loki_config {
        let own: Vec<(String, (usize, usize), Node)> =
            top.into_iter().filter(|(k, ..)| k != "overrides").collect();
        out.global = limits(&Node::Map(own), pos, false)?;
    }
    Ok(out)
}

/// The retention keys of a limits block; `lenient` ignores other keys (a
/// Loki `limits_config` has many).
fn limits(n: &Node, pos: (usize, usize), lenient: bool) -> Result<Limits, String> {
    let at = |p: (usize, usize)| format!("line {}, column {}", p.0, p.1);
    let Node::Map(items) = n else {
        return Err(format!("{}: expected a mapping", at(pos)));
    };
    let mut out = Limits::default();
    for (k, kp, v) in items {
        let scalar = |what: &str| match v {
            Node::Scalar(s, _) => Ok(s.clone()),
            _ => Err(format!("{}: {k}: expected {what}", at(*kp))),
        };
        match k.as_str() {
            "retention_period" => {
                let s = scalar("a duration such as 30d")?;
                out.period =
                    Some(parse_period(&s, true).map_err(|e| format!("{}: {k}: {e}", at(*kp)))?);
            }
            "retention_stream" => {
                let Node::Seq(rules) = v else {
                    return Err(format!("{}: {k}: expected a list of rules", at(*kp)));
                };
                let mut list = Vec::new();
                for (r, rp) in rules {
                    list.push(rule(r, *rp)?);
                }
                out.streams = Some(list);
            }
            _ if lenient => {}
            _ => {
                return Err(format!(
                    "{}: unknown key {k:?}; expected retention_period or retention_stream",
                    at(*kp)
                ))
            }
        }
    }
    Ok(out)
}

fn rule(n: &Node, pos: (usize, usize)) -> Result<StreamRule, String> {
    let at = |p: (usize, usize)| format!("line {}, column {}", p.0, p.1);
    let Node::Map(items) = n else {
        return Err(format!(
            "{}: a retention_stream rule is a mapping with selector, priority and period",
            at(pos)
        ));
    };
    let (mut selector, mut priority, mut period) = (None, 0i64, None);
    for (k, kp, v) in items {
        let Node::Scalar(s, plain) = v else {
            return Err(format!("{}: {k}: expected a value", at(*kp)));
        };
        match k.as_str() {
            "selector" => selector = Some(s.clone()),
            "priority" => {
                priority = s
                    .parse()
                    .ok()
                    .filter(|_| *plain)
                    .ok_or_else(|| format!("{}: priority: {s:?} is not an integer", at(*kp)))?
            }
            "period" => period = Some(s.clone()),
            _ => {
                return Err(format!(
                    "{}: unknown key {k:?} in a retention_stream rule; expected selector, priority or period",
                    at(*kp)
                ))
            }
        }
    }
    let selector = selector.ok_or_else(|| format!("{}: the rule has no selector", at(pos)))?;
    let period = period.ok_or_else(|| format!("{}: the rule has no period", at(pos)))?;
    stream_rule(&selector, &period, priority).map_err(|e| format!("{}: {e}", at(pos)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000_000_000;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    /// Loki's documented example (`docs/sources/operations/storage/retention.md`):
    /// tenant 29's rules, with the priorities deciding between them.
    #[test]
    fn lokis_priority_rules() {
        let r = parse_file(
            r#"
retention_period: 744h
retention_stream:
  - selector: '{namespace="dev"}'
    priority: 1
    period: 24h
overrides:
  "29":
    retention_period: 168h
    retention_stream:
      - selector: '{namespace="prod"}'
        priority: 2
        period: 336h
      - selector: '{container="loki"}'
        priority: 1
        period: 72h
  "30":
    retention_stream:
      - selector: '{container="nginx"}'
        priority: 1
        period: 24h
"#,
        )
        .unwrap();
        let h = 3600 * 1_000_000_000i64;
        let g = r.for_tenant("fake");
        assert_eq!(g.period_for(&labels(&[("namespace", "dev")])), 24 * h);
        assert_eq!(g.period_for(&labels(&[("namespace", "prod")])), 744 * h);
        let t29 = r.for_tenant("29");
        assert_eq!(
            t29.period_for(&labels(&[("namespace", "prod"), ("container", "loki")])),
            336 * h,
            "the prod rule has the higher priority"
        );
        assert_eq!(t29.period_for(&labels(&[("container", "loki")])), 72 * h);
        assert_eq!(
            t29.period_for(&labels(&[("namespace", "dev")])),
            168 * h,
            "the tenant's own list replaces the global one"
        );
        let t30 = r.for_tenant("30");
        assert_eq!(t30.period_for(&labels(&[("container", "nginx")])), 24 * h);
        assert_eq!(t30.period_for(&labels(&[("container", "x")])), 744 * h);
    }

    #[test]
    fn equal_priorities_keep_the_shortest_period() {
        let t = TenantRetention {
            period: 0,
            streams: vec![
                stream_rule(r#"{a="1"}"#, "10d", 0).unwrap(),
                stream_rule(r#"{b="1"}"#, "3d", 0).unwrap(),
                stream_rule(r#"{a=~".+"}"#, "5d", 0).unwrap(),
            ],
        };
        assert_eq!(t.period_for(&labels(&[("a", "1"), ("b", "1")])), 3 * DAY);
        assert_eq!(t.period_for(&labels(&[("a", "1")])), 5 * DAY);
        assert_eq!(t.period_for(&labels(&[("c", "1")])), 0);
        assert_eq!(t.cutoff(&labels(&[("c", "1")]), 100 * DAY), None);
        assert_eq!(t.cutoff(&labels(&[("a", "1")]), 100 * DAY), Some(95 * DAY));
    }

    #[test]
    fn flags_parse_with_lokis_checks() {
        let r = parse_stream_flag(r#"{env="dev"}=7d"#).unwrap();
        assert_eq!((r.period, r.priority), (7 * DAY, 0));
        let r = parse_stream_flag(r#"{env="a}b=c"} = 90d@2"#).unwrap();
        assert_eq!(
            (r.period, r.priority, r.selector.as_str()),
            (90 * DAY, 2, r#"{env="a}b=c"}"#)
        );
        let e = parse_stream_flag(r#"{env="dev"}=5h"#).unwrap_err();
        assert!(e.contains("retention period must be >= 24h was 5h"), "{e}");
        assert!(parse_stream_flag("7d")
            .unwrap_err()
            .contains("SELECTOR=PERIOD"));
        assert!(parse_stream_flag(r#"{env="dev"}=7d@x"#)
            .unwrap_err()
            .contains("priority"));
        assert!(parse_stream_flag(r#"{env=}=7d"#)
            .unwrap_err()
            .contains("invalid labels matchers"));
        assert_eq!(parse_period("0s", true), Ok(0));
        assert!(parse_period("30m", true).is_err(), "minutes, not days");
    }

    #[test]
    fn file_errors_name_the_line() {
        let e = parse_file("retention_period: 30d\nretention_strem: []\n").unwrap_err();
        assert!(
            e.starts_with("line 2, column 1: unknown key \"retention_strem\""),
            "{e}"
        );
        let e = parse_file("retention_stream:\n  - selector: '{a=\"b\"}'\n    period: 1h\n")
            .unwrap_err();
        assert!(e.contains("line 2") && e.contains(">= 24h"), "{e}");
        let e = parse_file("retention_stream:\n  - period: 2d\n").unwrap_err();
        assert!(e.contains("no selector"), "{e}");
        let e = parse_file("retention_period: [1]\n").unwrap_err();
        assert!(e.contains("expected a duration"), "{e}");
        let e = parse_file("a: &x 1\nb: *x\n").unwrap_err();
        assert!(e.contains("not supported"), "{e}");
        assert!(parse_file("").unwrap().is_empty());
    }

    #[test]
    fn a_loki_config_file_is_read_for_its_limits() {
        let r = parse_file(
            "server:\n  http_listen_port: 3100\nlimits_config:\n  ingestion_rate_mb: 4\n  retention_period: 30d\n",
        )
        .unwrap();
        assert_eq!(r.for_tenant("x").period, 30 * DAY);
        let mut r = r;
        r.apply_flags(Some(40 * DAY), vec![]);
        assert_eq!(r.for_tenant("x").period, 40 * DAY);
    }
}
