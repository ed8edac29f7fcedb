//! `lokal rules check | lint | eval | test`: Loki's alerting and recording rules
//! over the store (parsing flags, calling [`lokal::rules`], printing).
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use comfy_table::{presets::NOTHING, Table};

use lokal::output::{format_ts, TsFormat};
use lokal::rules::eval::{self, GroupReport, RuleReport, Settings};
use lokal::rules::notify::{self, ClientOptions};
use lokal::rules::record::{self, Format};
use lokal::rules::{check, lint, unittest, Level};

use super::args::{duration_ns, now_ns, parse_time, ZoneArgs};
use super::exit::ExitCode;
use super::GlobalArgs;

/// Arguments of `lokal rules`.
#[derive(Debug, Args)]
pub struct RulesArgs {
    /// What to do with the rules.
    #[command(subcommand)]
    pub command: RulesCommand,
}

/// The `rules` subcommands.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Check rule files as Loki's ruler and `lokitool rules check` do
    Check(CheckArgs),
    /// Report (or --fix) expressions that are not in canonical LogQL, as `lokitool rules lint`
    Lint(LintArgs),
    /// Evaluate rules over the store: alerts at a time, or a backtest over a range
    Eval(Box<EvalArgs>),
    /// Run unit tests for rules (promtool's `test rules` format, with log streams as input)
    Test(TestArgs),
}

/// Arguments of `lokal rules check`.
#[derive(Debug, Args)]
#[command(
    after_help = "Every problem is printed as FILE:LINE:COL: group \"G\", rule N \"NAME\": reason.
Exit status: 0 when Loki would load the files and lokitool's conventions hold (warnings allowed),
1 when there are problems, 2 when a file cannot be read."
)]
pub struct CheckArgs {
    /// Rule files, globs or directories (searched for *.yml and *.yaml)
    #[arg(required = true, value_name = "FILES")]
    pub files: Vec<PathBuf>,
    /// Recording rule names need two colons (level:metric:operation), as `lokitool rules check --strict`
    #[arg(long)]
    pub strict: bool,
}

/// Arguments of `lokal rules lint`.
#[derive(Debug, Args)]
#[command(
    after_help = "Without --fix, prints each expression that is not canonical and exits 1 (0 when all are).
--fix rewrites only the expressions in place, keeping comments and layout."
)]
pub struct LintArgs {
    /// Rule files, globs or directories
    #[arg(required = true, value_name = "FILES")]
    pub files: Vec<PathBuf>,
    /// Rewrite the files with canonical expressions
    #[arg(long)]
    pub fix: bool,
}

/// `rules eval --output` values.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum EvalFormat {
    /// Alerts (and recorded series) as a table; over a range, one row per alert
    Table,
    /// Over a range: every transition in time order
    Timeline,
    /// At one time: Alertmanager's PostableAlert array of the firing alerts; over a range: the alerts' lives
    Json,
}

/// `--record-format` values.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum RecordFormat {
    /// openmetrics over a range, textfile at one time
    Auto,
    /// OpenMetrics with timestamps (promtool tsdb create-blocks-from openmetrics)
    Openmetrics,
    /// Prometheus text format without timestamps (node_exporter's textfile collector)
    Textfile,
    /// JSON lines in Prometheus' query API sample shape
    Jsonl,
}

/// Arguments of `lokal rules eval`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  lokal rules eval rules.yaml                                   # alerts now; exit 1 when one fires
  lokal rules eval rules/ --alertmanager http://127.0.0.1:9093   # cron: send firing and resolved alerts
  lokal rules eval rules.yaml --from 2024-05-01 --to 2024-05-02 -o timeline   # backtest
  lokal rules eval rules.yaml --from now-1d --to now --record recorded.om      # backfill recordings

Groups are evaluated at multiples of their interval from the Unix epoch. Alert state at a time is
replayed from the evaluations before it (pending, firing, keep_firing_for, resolved), so no state
is kept between runs. Exit status: 1 when an alert fires at --at (over a range: at any evaluation),
0 when none does, 2 on errors (a failed evaluation, an unreachable Alertmanager).")]
#[command(group(clap::ArgGroup::new("when").args(["at", "from"]).multiple(false)))]
pub struct EvalArgs {
    /// Rule files, globs or directories
    #[arg(required = true, value_name = "FILES")]
    pub files: Vec<PathBuf>,
    /// An alert evaluated over a damaged store would be wrong: by default a
    /// read problem fails the evaluation (exit 3)
    #[command(flatten)]
    pub partial: super::partial::PartialArgs,
    /// Evaluate at this time (each group at its last evaluation at or before it) [default: now]
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// Backtest from this time (with --to)
    #[arg(long, value_name = "TIME", requires = "to")]
    pub from: Option<String>,
    /// Backtest up to this time, included
    #[arg(long, value_name = "TIME", requires = "from")]
    pub to: Option<String>,
    /// Output format
    #[arg(short, long, value_enum, default_value = "table")]
    pub output: EvalFormat,
    /// The zone of printed times and of --at/--from/--to without an offset.
    #[command(flatten)]
    pub zone: ZoneArgs,
    /// Interval of groups without one (Loki's ruler.evaluation-interval)
    #[arg(long, default_value = "1m", value_name = "DURATION")]
    pub evaluation_interval: String,
    /// Label added to alerts and recordings, NAME=VALUE (repeatable); also $externalLabels
    #[arg(long = "external-label", value_name = "NAME=VALUE")]
    pub external_labels: Vec<String>,
    /// Base URL of generatorURL links and $externalURL (Loki's ruler.external.url, a Grafana)
    #[arg(long, default_value = "", value_name = "URL")]
    pub external_url: String,
    /// Grafana data source UID put in generatorURL links (Loki's ruler.datasource-uid)
    #[arg(long, value_name = "UID")]
    pub datasource_uid: Option<String>,
    /// With the group interval, how long a sent alert stays valid: endsAt = evaluation + 4 × max(interval, this)
    #[arg(long, default_value = "1m", value_name = "DURATION")]
    pub resend_delay: String,
    /// Furthest back alert state is replayed
    #[arg(long, default_value = "7d", value_name = "DURATION")]
    pub max_lookback: String,
    /// Send firing and resolved alerts to this Alertmanager (repeatable, or comma-separated as in Loki)
    #[arg(long, value_name = "URL", value_delimiter = ',')]
    pub alertmanager: Vec<String>,
    /// Print the exact JSON that would be posted, and post nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Basic auth for Alertmanager, USER:PASSWORD (user info in the URL wins)
    #[arg(
        long,
        value_name = "USER:PASSWORD",
        env = "LOKAL_ALERTMANAGER_BASIC_AUTH",
        hide_env_values = true
    )]
    pub alertmanager_basic_auth: Option<String>,
    /// Bearer token for Alertmanager
    #[arg(
        long,
        value_name = "TOKEN",
        env = "LOKAL_ALERTMANAGER_TOKEN",
        hide_env_values = true
    )]
    pub alertmanager_bearer_token: Option<String>,
    /// File holding the bearer token
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "alertmanager_bearer_token"
    )]
    pub alertmanager_bearer_token_file: Option<PathBuf>,
    /// CA certificates (PEM) to trust for https Alertmanagers
    #[arg(long, value_name = "FILE")]
    pub alertmanager_ca_file: Option<PathBuf>,
    /// Timeout of one request to Alertmanager
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    pub alertmanager_timeout: String,
    /// Retries after a failed request (connection errors, 429, 5xx), with doubling backoff from 500ms
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub alertmanager_retries: u32,
    /// Write what recording rules recorded to FILE (`-` for stdout)
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Format of --record
    #[arg(long, value_enum, default_value = "auto")]
    pub record_format: RecordFormat,
    /// No notes on stderr
    #[arg(short, long)]
    pub quiet: bool,
}

/// Arguments of `lokal rules test`.
#[derive(Debug, Args)]
#[command(
    after_help = "Test files follow promtool's format (rule_files, evaluation_interval, tests with
alert_rule_test) with input_streams or a .logqltest `load` block for input and logql_expr_test
for queries. The last line is `N passed, N failed`; exit 1 on any failure."
)]
pub struct TestArgs {
    /// Test files
    #[arg(required = true, value_name = "TESTFILES")]
    pub files: Vec<PathBuf>,
    /// Write the results as JUnit XML to FILE
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Run only tests whose name matches this regex (repeatable)
    #[arg(long, value_name = "REGEX")]
    pub run: Vec<String>,
    /// Print passing checks too
    #[arg(short, long)]
    pub verbose: bool,
}

/// Runs `lokal rules …`.
pub fn run(g: &GlobalArgs, a: &RulesArgs) -> Result<ExitCode> {
    match &a.command {
        RulesCommand::Check(c) => run_check(c),
        RulesCommand::Lint(l) => run_lint(l),
        RulesCommand::Eval(e) => run_eval(g, e),
        RulesCommand::Test(t) => run_test(t),
    }
}

fn run_check(a: &CheckArgs) -> Result<ExitCode> {
    let (files, bad) = lokal::rules::read_files(&a.files)?;
    let mut out = std::io::stdout().lock();
    for e in &bad {
        writeln!(out, "{e}")?;
    }
    let problems = check::check(&files, &check::Options { strict: a.strict });
    for p in &problems {
        writeln!(out, "{p}")?;
    }
    let count = |l: Level| problems.iter().filter(|p| p.level == l).count();
    let refused: usize = bad.iter().map(|b| b.issues.len()).sum::<usize>() + count(Level::Error);
    let rules: usize = files
        .iter()
        .flat_map(|f| f.groups())
        .map(|(_, g)| g.rules.len())
        .sum();
    eprintln!(
        "{} file{}, {rules} rule{}: {refused} error{}, {} convention problem{}, {} warning{}",
        files.len() + bad.len(),
        plural(files.len() + bad.len()),
        plural(rules),
        plural(refused),
        count(Level::Convention),
        plural(count(Level::Convention)),
        count(Level::Warning),
        plural(count(Level::Warning)),
    );
    Ok(if refused + count(Level::Convention) > 0 {
        ExitCode::NothingMatched
    } else {
        ExitCode::Ok
    })
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn run_lint(a: &LintArgs) -> Result<ExitCode> {
    let (files, bad) = lokal::rules::read_files(&a.files)?;
    if !bad.is_empty() {
        return Err(lokal::rules::RulesError::Decode(bad).into());
    }
    let mut out = std::io::stdout().lock();
    let (mut rules, mut changed, mut errors) = (0usize, 0usize, 0usize);
    for f in &files {
        let l = lint::lint(f);
        rules += l.rules;
        for (pos, e) in &l.errors {
            eprintln!("{}:{pos}: {e}", f.path.display());
            errors += 1;
        }
        for c in &l.changes {
            changed += 1;
            writeln!(
                out,
                "{}:{}: group {:?}, rule {} {:?}: expr is not canonical",
                c.file.display(),
                c.pos,
                c.group,
                c.rule.0,
                c.rule.1
            )?;
            writeln!(out, "  - {}", c.before.trim_end())?;
            writeln!(out, "  + {}", c.after)?;
        }
        if a.fix && l.errors.is_empty() {
            if let Some(text) = &l.fixed {
                record::write_atomically(&f.path, text)?;
            }
        }
    }
    eprintln!(
        "{rules} rule{}, {changed} expression{} not canonical{}",
        plural(rules),
        plural(changed),
        if a.fix && changed > 0 { " (fixed)" } else { "" }
    );
    Ok(if errors > 0 {
        ExitCode::Usage
    } else if changed > 0 && !a.fix {
        ExitCode::NothingMatched
    } else {
        ExitCode::Ok
    })
}

fn settings(a: &EvalArgs) -> Result<Settings> {
    let mut external = BTreeMap::new();
    for l in &a.external_labels {
        let Some((k, v)) = l.split_once('=') else {
            bail!("--external-label {l:?}: expected NAME=VALUE");
        };
        if !lokal::model::is_valid_label_name(k) {
            bail!("--external-label {l:?}: {k:?} is not a valid label name");
        }
        external.insert(k.to_string(), v.to_string());
    }
    let positive = |flag: &str, s: &str| -> Result<i64> {
        let d = duration_ns(s).with_context(|| format!("--{flag}"))?;
        if d <= 0 {
            bail!("--{flag} {s:?}: must be positive");
        }
        Ok(d)
    };
    Ok(Settings {
        default_interval: positive("evaluation-interval", &a.evaluation_interval)?,
        external_labels: external,
        external_url: a.external_url.trim_end_matches('/').to_string(),
        datasource_uid: a.datasource_uid.clone(),
        resend_delay: positive("resend-delay", &a.resend_delay)?,
        max_lookback: positive("max-lookback", &a.max_lookback)?,
    })
}

fn client_options(a: &EvalArgs) -> Result<ClientOptions> {
    let basic_auth = match &a.alertmanager_basic_auth {
        Some(s) => {
            let Some((u, p)) = s.split_once(':') else {
                bail!("--alertmanager-basic-auth: expected USER:PASSWORD");
            };
            Some((u.to_string(), p.to_string()))
        }
        None => None,
    };
    let bearer_token = match (
        &a.alertmanager_bearer_token,
        &a.alertmanager_bearer_token_file,
    ) {
        (Some(t), _) => Some(t.clone()),
        (None, Some(f)) => Some(
            std::fs::read_to_string(f)
                .with_context(|| format!("--alertmanager-bearer-token-file {}", f.display()))?
                .trim()
                .to_string(),
        ),
        (None, None) => None,
    };
    Ok(ClientOptions {
        timeout: std::time::Duration::from_nanos(
            duration_ns(&a.alertmanager_timeout)
                .context("--alertmanager-timeout")?
                .max(1) as u64,
        ),
        retries: a.alertmanager_retries,
        backoff: std::time::Duration::from_millis(500),
        basic_auth,
        bearer_token,
        ca_file: a.alertmanager_ca_file.clone(),
    })
}

fn run_eval(g: &GlobalArgs, a: &EvalArgs) -> Result<ExitCode> {
    let s = settings(a)?;
    let client = client_options(a)?;
    let tz = a.zone.tz()?;
    let now = now_ns();
    let (from, to) = match (&a.from, &a.to, &a.at) {
        (Some(f), Some(t), _) => {
            let (f, t) = (parse_time(f, now, &tz)?, parse_time(t, now, &tz)?);
            if t < f {
                bail!("--to is before --from");
            }
            (f, t)
        }
        (_, _, Some(at)) => {
            let t = parse_time(at, now, &tz)?;
            (t, t)
        }
        _ => (now, now),
    };
    let range = a.from.is_some();
    if range && !a.alertmanager.is_empty() {
        bail!("--alertmanager sends the alerts of one evaluation: use --at, not --from/--to");
    }
    if range && a.output == EvalFormat::Json && a.dry_run {
        bail!("--dry-run prints what one evaluation sends: use --at, not --from/--to");
    }
    let files = lokal::rules::load(&a.files)?;
    let groups = eval::compile(&files, &s)?;
    let q = g.querier_noting_empty(a.quiet, &a.partial)?;
    let reports = eval::evaluate(&q, &groups, from, to, &s)?;
    let show = |ts: i64| format_ts(ts, &tz, TsFormat::Rfc3339);
    let mut out = std::io::stdout().lock();
    let outgoing = notify::outgoing(&reports, &s, false);
    if a.dry_run {
        writeln!(out, "{}", serde_json::to_string_pretty(&outgoing)?)?;
    } else {
        match (a.output, range) {
            (EvalFormat::Json, false) => {
                let firing = notify::outgoing(&reports, &s, true);
                writeln!(out, "{}", serde_json::to_string_pretty(&firing)?)?;
            }
            (EvalFormat::Json, true) => writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&episodes_json(&reports, &show))?
            )?,
            (EvalFormat::Timeline, _) => print_timeline(&mut out, &reports, &show)?,
            (EvalFormat::Table, false) => print_at(&mut out, &reports, &show)?,
            (EvalFormat::Table, true) => print_backtest(&mut out, &reports, &show)?,
        }
    }
    if !a.quiet {
        for r in &reports {
            for rule in &r.rules {
                if let RuleReport::Alert(al) = rule {
                    for l in &al.uncertain {
                        eprintln!(
                            "lokal: note: {l}: its state before {} is not known (the replay starts there: --max-lookback)",
                            show(al.replay_start)
                        );
                    }
                }
            }
        }
    }
    if let Some(path) = &a.record {
        let format = match (a.record_format, range) {
            (RecordFormat::Auto, true) | (RecordFormat::Openmetrics, _) => Format::OpenMetrics,
            (RecordFormat::Auto, false) | (RecordFormat::Textfile, _) => Format::Textfile,
            (RecordFormat::Jsonl, _) => Format::JsonLines,
        };
        let series = reports.iter().flat_map(|r| &r.rules).flat_map(|r| match r {
            RuleReport::Record(rec) => rec.series.as_slice(),
            RuleReport::Alert(_) => &[],
        });
        record::write_atomically(path, &record::render(series, &s.external_labels, format))?;
    }
    let errors: Vec<String> = reports
        .iter()
        .flat_map(|r| {
            r.errors().map(move |(rule, ts, e)| {
                format!(
                    "group {:?}, rule {rule:?} at {}: {e}",
                    r.group.name,
                    show(ts)
                )
            })
        })
        .collect();
    if !a.alertmanager.is_empty() && !a.dry_run {
        let sent = notify::send(&a.alertmanager, &outgoing, &client)?;
        if !a.quiet {
            for d in sent {
                eprintln!(
                    "lokal: sent {} alert{} to {}",
                    d.alerts,
                    plural(d.alerts),
                    d.url
                );
            }
        }
    }
    if !errors.is_empty() {
        bail!(
            "{} failed evaluation{}:\n  {}",
            errors.len(),
            plural(errors.len()),
            errors.join("\n  ")
        );
    }
    let fired = if range {
        eval::fired_in_range(&reports)
    } else {
        reports.iter().any(GroupReport::any_firing)
    };
    Ok(if fired {
        ExitCode::NothingMatched
    } else {
        ExitCode::Ok
    })
}

fn table() -> Table {
    let mut t = Table::new();
    t.load_preset(NOTHING);
    t
}

fn annotations_text(a: &[(String, String)]) -> String {
    a.iter()
        .map(|(k, v)| format!("{k}={}", lokal::go::strconv::quote(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn print_at(
    out: &mut dyn Write,
    reports: &[GroupReport],
    show: &dyn Fn(i64) -> String,
) -> Result<()> {
    let mut t = table();
    t.set_header([
        "GROUP",
        "ALERT",
        "STATE",
        "ACTIVE SINCE",
        "FIRING SINCE",
        "VALUE",
        "LABELS",
        "ANNOTATIONS",
    ]);
    let mut alerts = 0;
    let mut rec = table();
    rec.set_header(["SERIES", "VALUE", "AT"]);
    let mut recorded = 0;
    for r in reports {
        for rule in &r.rules {
            match rule {
                RuleReport::Alert(a) => {
                    for v in &a.alerts {
                        alerts += 1;
                        let state = match (v.state, v.resolved_at) {
                            (lokal::rules::alerting::State::Inactive, Some(at)) => {
                                format!("resolved {}", show(at))
                            }
                            (st, _) => st.as_str().to_string(),
                        };
                        t.add_row([
                            r.group.name.clone(),
                            a.rule.name.clone(),
                            state,
                            show(v.active_at),
                            v.fired_at.map(show).unwrap_or_default(),
                            lokal::loki::api::format_value(v.value),
                            v.labels.to_string(),
                            annotations_text(&v.annotations),
                        ]);
                    }
                }
                RuleReport::Record(rr) => {
                    for s in &rr.series {
                        if let Some(&(ts, v)) = s.points.last() {
                            recorded += 1;
                            rec.add_row([
                                s.labels.to_string(),
                                lokal::loki::api::format_value(v),
                                show(ts),
                            ]);
                        }
                    }
                }
            }
        }
    }
    print_tables(
        out,
        (&t, alerts),
        (&rec, recorded),
        "no alert is pending or firing",
    )
}

/// Prints the alert and recording tables that have rows; a note when neither has.
fn print_tables(
    out: &mut dyn Write,
    (alerts, n_alerts): (&Table, usize),
    (recorded, n_recorded): (&Table, usize),
    none: &str,
) -> Result<()> {
    if n_alerts > 0 {
        writeln!(out, "{alerts}")?;
    }
    if n_recorded > 0 {
        writeln!(out, "{recorded}")?;
    }
    if n_alerts == 0 && n_recorded == 0 {
        eprintln!("lokal: {none}");
    }
    Ok(())
}

fn print_backtest(
    out: &mut dyn Write,
    reports: &[GroupReport],
    show: &dyn Fn(i64) -> String,
) -> Result<()> {
    let mut t = table();
    t.set_header([
        "GROUP", "ALERT", "LABELS", "PENDING", "FIRING", "RESOLVED", "VALUE",
    ]);
    let mut rows = 0;
    let mut rec = table();
    rec.set_header(["SERIES", "SAMPLES", "FIRST", "LAST"]);
    let mut recorded = 0;
    for r in reports {
        for rule in &r.rules {
            match rule {
                RuleReport::Alert(a) => {
                    for e in &a.episodes {
                        if r.last.is_some_and(|l| e.active_at > l) {
                            continue;
                        }
                        rows += 1;
                        let end = match (e.resolved_at, e.dropped_at, e.cleared_at) {
                            (Some(t), _, _) => show(t),
                            (_, Some(t), _) => format!("{} (dropped)", show(t)),
                            (_, _, Some(t)) => format!("{} (limit)", show(t)),
                            _ => String::new(),
                        };
                        t.add_row([
                            r.group.name.clone(),
                            a.rule.name.clone(),
                            e.labels.to_string(),
                            show(e.active_at),
                            e.fired_at.map(show).unwrap_or_default(),
                            end,
                            lokal::loki::api::format_value(e.last.value),
                        ]);
                    }
                }
                RuleReport::Record(rr) => {
                    for s in &rr.series {
                        recorded += 1;
                        rec.add_row([
                            s.labels.to_string(),
                            s.points.len().to_string(),
                            s.points.first().map(|p| show(p.0)).unwrap_or_default(),
                            s.points.last().map(|p| show(p.0)).unwrap_or_default(),
                        ]);
                    }
                }
            }
        }
    }
    print_tables(
        out,
        (&t, rows),
        (&rec, recorded),
        "no alert was pending or firing in the range",
    )
}

fn print_timeline(
    out: &mut dyn Write,
    reports: &[GroupReport],
    show: &dyn Fn(i64) -> String,
) -> Result<()> {
    let events = eval::timeline(reports);
    let mut t = table();
    t.set_header(["TIME", "EVENT", "GROUP", "ALERT", "LABELS", "VALUE"]);
    for e in &events {
        t.add_row([
            show(e.ts),
            e.what.as_str().to_string(),
            e.group.clone(),
            e.rule.clone(),
            e.labels.to_string(),
            lokal::loki::api::format_value(e.value),
        ]);
    }
    if events.is_empty() {
        eprintln!("lokal: no alert changed state");
    } else {
        writeln!(out, "{t}")?;
    }
    Ok(())
}

fn episodes_json(reports: &[GroupReport], show: &dyn Fn(i64) -> String) -> serde_json::Value {
    let mut out = Vec::new();
    for r in reports {
        for rule in &r.rules {
            let RuleReport::Alert(a) = rule else { continue };
            for e in &a.episodes {
                let labels: BTreeMap<&str, &str> = e
                    .labels
                    .pairs()
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                out.push(serde_json::json!({
                    "group": r.group.name,
                    "alert": a.rule.name,
                    "labels": labels,
                    "pendingAt": show(e.active_at),
                    "firingAt": e.fired_at.map(show),
                    "resolvedAt": e.resolved_at.map(show),
                    "droppedAt": e.dropped_at.map(show),
                    "value": e.last.value,
                }));
            }
        }
    }
    serde_json::Value::Array(out)
}

fn run_test(a: &TestArgs) -> Result<ExitCode> {
    let run = if a.run.is_empty() {
        None
    } else {
        Some(regex::Regex::new(&a.run.join("|")).context("--run")?)
    };
    let mut out = std::io::stdout().lock();
    let mut results = Vec::new();
    let (mut passed, mut failed) = (0usize, 0usize);
    for f in &a.files {
        let r = unittest::run_file(f, run.as_ref());
        if let Some(e) = &r.error {
            writeln!(out, "FAIL {}", f.display())?;
            for l in e.lines() {
                writeln!(out, "     {l}")?;
            }
        }
        for c in &r.cases {
            match &c.failure {
                None if a.verbose => writeln!(
                    out,
                    "ok   {}:{}: {:?}: {}",
                    f.display(),
                    c.pos,
                    c.test,
                    c.check
                )?,
                None => {}
                Some(why) => {
                    writeln!(
                        out,
                        "FAIL {}:{}: {:?}: {}",
                        f.display(),
                        c.pos,
                        c.test,
                        c.check
                    )?;
                    for l in why.lines() {
                        writeln!(out, "   {l}")?;
                    }
                }
            }
        }
        passed += r.passed();
        failed += r.failed();
        results.push(r);
    }
    if let Some(j) = &a.junit {
        let stamp = format_ts(now_ns(), &jiff::tz::TimeZone::UTC, TsFormat::Rfc3339);
        record::write_atomically(j, &unittest::junit(&results, &stamp))?;
    }
    writeln!(out, "{passed} passed, {failed} failed")?;
    Ok(if failed > 0 {
        ExitCode::NothingMatched
    } else {
        ExitCode::Ok
    })
}
