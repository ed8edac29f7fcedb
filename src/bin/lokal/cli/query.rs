//! `lokal query`: run a LogQL query over the store and print the result in
//! logcli's formats or as Loki's API response.
use std::io::{IsTerminal, Write};

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};

use lokal::engine::eval::MetricParams;
use lokal::engine::logquery::{self, LogParams};
use lokal::engine::value::MetricValue;
use lokal::engine::{stats::QueryStats, Direction};
use lokal::logql::Expr;
use lokal::output::{self, LogPrintOptions, TsFormat};
use lokal::time::TimeRange;

use super::GlobalArgs;

/// `--output` values.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum OutputFormat {
    /// logcli's: timestamp, labels (without the common ones), line
    Default,
    /// The line only
    Raw,
    /// One JSON object per entry: labels, line, timestamp
    Jsonl,
    /// The body of Loki's /loki/api/v1/query_range response
    Json,
}

/// `--output-timestamp-format` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TsArg {
    /// 2006-01-02T15:04:05Z07:00
    Rfc3339,
    /// 2006-01-02T15:04:05.999999999Z07:00
    Rfc3339nano,
    /// Unix nanoseconds
    Unixnano,
}

/// Time range options shared by query, labels and series.
#[derive(Debug, Args, Clone)]
pub struct RangeArgs {
    /// Look back this far from now (e.g. 1h, 2d). Without --since/--from/--to the whole
    /// store is searched: a local store holds what was put in it, so logcli's 1h default
    /// would hide yesterday's CI logs
    #[arg(long, value_name = "DURATION")]
    pub since: Option<String>,
    /// Start (inclusive): RFC 3339, a date, unix seconds, or now-2h
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// End (exclusive): RFC 3339, a date, unix seconds, or now-5m
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    /// Time zone for printing and for --from/--to without an offset: Local, UTC or an IANA name
    #[arg(short = 'z', long, default_value = "Local", value_name = "TZ")]
    pub timezone: String,
}

impl RangeArgs {
    /// The zone.
    pub fn tz(&self) -> Result<jiff::tz::TimeZone> {
        Ok(match self.timezone.as_str() {
            z if z.eq_ignore_ascii_case("utc") => jiff::tz::TimeZone::UTC,
            z if z.eq_ignore_ascii_case("local") => jiff::tz::TimeZone::system(),
            z => jiff::tz::TimeZone::get(z)
                .with_context(|| format!("--timezone {z:?}: unknown time zone"))?,
        })
    }

    /// `[from, to)` in ns; defaults to the snapshot's whole time range.
    pub fn resolve(&self, snap: &lokal::store::Snapshot) -> Result<TimeRange> {
        let tz = self.tz()?;
        let now = jiff::Timestamp::now().as_nanosecond() as i64;
        let parse = |s: &str| lokal::time::parse_time_arg(s, now, &tz).map_err(anyhow::Error::msg);
        let segs = &snap.manifest.segments;
        let store_from = segs.iter().map(|s| s.min_t).min().unwrap_or(0);
        let store_to = segs
            .iter()
            .map(|s| s.max_t)
            .max()
            .unwrap_or(0)
            .saturating_add(1);
        let to = match &self.to {
            Some(t) => parse(t)?,
            None if self.since.is_some() => now,
            None => store_to.max(if self.from.is_some() { now } else { 0 }),
        };
        let from = match (&self.from, &self.since) {
            (Some(f), _) => parse(f)?,
            (None, Some(s)) => {
                to - lokal::units::parse_duration(s)
                    .map_err(anyhow::Error::msg)?
                    .as_nanos() as i64
            }
            (None, None) => store_from,
        };
        Ok(TimeRange::new(from, to))
    }
}

/// Arguments of `lokal query`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  lokal query '{job=\"nginx\"} |= \"GET /api\"'
  lokal query --since 2h --limit 0 -o raw '{job=\"api\"} | json | level=\"error\"'
  lokal query -o json '{job=\"api\"}'     # Loki's query_range response body")]
pub struct QueryArgs {
    /// The LogQL query
    pub query: String,
    #[command(flatten)]
    pub range: RangeArgs,
    /// Most entries to return; 0 = all
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// Oldest first (default: newest first)
    #[arg(long)]
    pub forward: bool,
    /// Output format
    #[arg(short, long, value_enum, default_value = "default")]
    pub output: OutputFormat,
    /// Timestamp format of the default output
    #[arg(long, value_enum, default_value = "rfc3339")]
    pub output_timestamp_format: TsArg,
    /// Print no labels
    #[arg(long)]
    pub no_labels: bool,
    /// Print only these labels (repeatable)
    #[arg(long, value_name = "NAME")]
    pub include_label: Vec<String>,
    /// Do not print these labels (repeatable)
    #[arg(long, value_name = "NAME")]
    pub exclude_label: Vec<String>,
    /// Print the labels all streams share on each line too
    #[arg(long)]
    pub include_common_labels: bool,
    /// Step of a metric range query (e.g. 1m) [default: as Loki, (to-from)/250, at least 1s]
    #[arg(long, value_name = "DURATION")]
    pub step: Option<String>,
    /// Query the lines on standard input instead of the store: they get real timestamps
    /// (detected as by `ingest`) and the labels of --label (default {job="stdin"}); no size
    /// limit, metric queries too. A query starting with | or ! gets the stdin selector prepended
    #[arg(long)]
    pub stdin: bool,
    /// With --stdin: label for the input stream, NAME=VALUE (repeatable)
    #[arg(short, long = "label", value_name = "NAME=VALUE", requires = "stdin")]
    pub labels: Vec<String>,
    /// With --stdin: timestamp layout, as for `ingest`
    #[arg(long, value_name = "FORMAT", requires = "stdin")]
    pub timestamp_format: Option<String>,
    /// With --stdin: regex whose group `ts` (or first group) holds the timestamp
    #[arg(long, value_name = "REGEX", requires = "stdin")]
    pub timestamp_regex: Option<String>,
    /// Query statistics on stderr: streams, chunks, blocks, bytes, lines, time per stage
    #[arg(long)]
    pub stats: bool,
    /// No messages on stderr (common labels, warnings)
    #[arg(short, long)]
    pub quiet: bool,
}

/// Runs `lokal query`; exit 1 when nothing matched.
pub fn run(g: &GlobalArgs, a: &QueryArgs) -> Result<i32> {
    let _stdin_store;
    let (query, snap) = if a.stdin {
        let (dir, selector) = ingest_stdin(a)?;
        let store = lokal::store::Store::new(dir.path());
        let snap = store.tenant(lokal::store::DEFAULT_TENANT)?.snapshot()?;
        _stdin_store = dir;
        let q = a.query.trim_start();
        let q = if q.starts_with('|') || q.starts_with('!') {
            format!("{selector} {q}")
        } else {
            a.query.clone()
        };
        (q, snap)
    } else {
        (a.query.clone(), g.snapshot(a.quiet)?)
    };
    let expr = lokal::logql::parse_expr(&query)?;
    let range = a.range.resolve(&snap)?;
    let tz = a.range.tz()?;
    match expr {
        Expr::Log(log) => {
            let params = LogParams {
                range,
                limit: a.limit,
                direction: if a.forward {
                    Direction::Forward
                } else {
                    Direction::Backward
                },
            };
            let res = logquery::run(&snap, &log, &params)?;
            print_warnings(&res.stats, a.quiet);
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let opts = LogPrintOptions {
                tz: Some(tz),
                ts_format: match a.output_timestamp_format {
                    TsArg::Rfc3339 => TsFormat::Rfc3339,
                    TsArg::Rfc3339nano => TsFormat::Rfc3339Nano,
                    TsArg::Unixnano => TsFormat::UnixNano,
                },
                no_labels: a.no_labels,
                include: a.include_label.clone(),
                exclude: a.exclude_label.clone(),
                include_common: a.include_common_labels,
                color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
            };
            match a.output {
                OutputFormat::Default => {
                    let common = if a.include_common_labels {
                        Default::default()
                    } else {
                        output::common_labels(&res.entries)
                    };
                    if !common.is_empty() && !a.quiet {
                        eprintln!("Common labels: {common}");
                    }
                    output::write_default(&mut out, &res.entries, &common, &opts)?
                }
                OutputFormat::Raw => output::write_raw(&mut out, &res.entries)?,
                OutputFormat::Jsonl => output::write_jsonl(&mut out, &res.entries, &opts)?,
                OutputFormat::Json => {
                    let body = lokal::loki::api::log_response(
                        &res.entries,
                        serde_json::to_value(&res.stats)?,
                    );
                    serde_json::to_writer_pretty(&mut out, &body)?;
                    writeln!(out)?;
                }
            }
            out.flush()?;
            if a.stats {
                print_stats(&res.stats);
            }
            Ok(if res.entries.is_empty() { 1 } else { 0 })
        }
        Expr::Sample(sample) => {
            // An empty range still evaluates its start.
            let range = TimeRange::new(range.start, range.end.max(range.start.saturating_add(1)));
            let step = match &a.step {
                Some(s) => lokal::units::parse_duration(s)
                    .map_err(anyhow::Error::msg)?
                    .as_nanos() as i64,
                None => lokal::engine::eval::default_step(range),
            };
            let params = MetricParams::range(range, step);
            let (value, stats) = lokal::engine::eval::eval(&snap, &sample, &params)?;
            print_metric(&value, &stats, a.output, &tz, a.quiet, a.stats)
        }
    }
}

/// Prints a metric result; exit 1 when it is empty.
pub fn print_metric(
    value: &MetricValue,
    stats: &QueryStats,
    format: OutputFormat,
    tz: &jiff::tz::TimeZone,
    quiet: bool,
    show_stats: bool,
) -> Result<i32> {
    print_warnings(stats, quiet);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match format {
        OutputFormat::Default => {
            if !value.is_empty() {
                writeln!(out, "{}", output::metric_table(value, tz))?;
            }
        }
        OutputFormat::Raw | OutputFormat::Jsonl => output::write_metric_jsonl(&mut out, value)?,
        OutputFormat::Json => {
            serde_json::to_writer_pretty(
                &mut out,
                &lokal::loki::api::metric_response(value, serde_json::to_value(stats)?),
            )?;
            writeln!(out)?;
        }
    }
    out.flush()?;
    if show_stats {
        print_stats(stats);
    }
    Ok(if value.is_empty() { 1 } else { 0 })
}

/// Arguments of `lokal instant-query`.
#[derive(Debug, Args)]
#[command(after_help = "Example:
  lokal instant-query --now 2024-03-02T00:00:00Z 'sum by (level) (count_over_time({job=\"api\"} | json [1h]))'")]
pub struct InstantArgs {
    /// The LogQL metric query
    pub query: String,
    /// Evaluation time: RFC 3339, unix seconds, or now-1h [default: now]
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// Time zone for --now without an offset and for printing: Local, UTC or an IANA name
    #[arg(short = 'z', long, default_value = "Local", value_name = "TZ")]
    pub timezone: String,
    /// Output format
    #[arg(short, long, value_enum, default_value = "default")]
    pub output: OutputFormat,
    /// Query statistics on stderr
    #[arg(long)]
    pub stats: bool,
    /// No messages on stderr
    #[arg(short, long)]
    pub quiet: bool,
}

/// Runs `lokal instant-query`.
pub fn run_instant(g: &GlobalArgs, a: &InstantArgs) -> Result<i32> {
    let expr = lokal::logql::parse_expr(&a.query)?;
    let Expr::Sample(sample) = expr else {
        anyhow::bail!(
            "log queries are not supported as an instant query type, please change your query to a range query type"
        );
    };
    let range = RangeArgs {
        since: None,
        from: None,
        to: None,
        timezone: a.timezone.clone(),
    };
    let tz = range.tz()?;
    let now = jiff::Timestamp::now().as_nanosecond() as i64;
    let at = match &a.now {
        Some(t) => lokal::time::parse_time_arg(t, now, &tz).map_err(anyhow::Error::msg)?,
        None => now,
    };
    let snap = g.snapshot(a.quiet)?;
    let params = MetricParams::instant(at);
    let (value, stats) = lokal::engine::eval::eval(&snap, &sample, &params)?;
    print_metric(&value, &stats, a.output, &tz, a.quiet, a.stats)
}

/// Reads stdin into a temporary store; returns it and the stream's selector.
fn ingest_stdin(a: &QueryArgs) -> Result<(tempfile::TempDir, String)> {
    let dir = tempfile::tempdir().context("creating a temporary store for --stdin")?;
    let mut opts = lokal::ingest::IngestOptions {
        inputs: vec!["-".into()],
        filename_label: false,
        ..Default::default()
    };
    for l in &a.labels {
        let (k, v) = l
            .split_once('=')
            .with_context(|| format!("--label {l:?}: expected NAME=VALUE"))?;
        opts.labels
            .push((k.trim().to_string(), v.trim_matches('"').to_string()));
    }
    opts.timestamps.format = a.timestamp_format.clone();
    opts.timestamps.regex = a.timestamp_regex.clone();
    opts.timestamps.timezone = a.range.tz()?;
    let store = lokal::store::Store::new(dir.path());
    lokal::ingest::ingest(
        &store,
        lokal::store::DEFAULT_TENANT,
        &opts,
        &lokal::ingest::Silent,
    )?;
    let labels = if opts.labels.is_empty() {
        lokal::model::Labels::from_pairs([("job", "stdin")])
    } else {
        lokal::model::Labels::from_pairs(opts.labels.clone())
    };
    Ok((dir, labels.to_string()))
}

fn print_warnings(s: &QueryStats, quiet: bool) {
    if !quiet {
        for w in &s.warnings {
            eprintln!("lokal: warning: {w}");
        }
    }
}

/// `--stats`: tab-aligned `key<TAB>value` lines on stderr, as logcli prints them.
pub fn print_stats(s: &QueryStats) {
    let mb = |b: u64| format!("{:.1} MB", b as f64 / 1e6);
    let rows = [
        ("streams", s.streams.to_string()),
        ("chunks", s.chunks.to_string()),
        ("segments", s.segments.to_string()),
        ("blocks read", s.blocks.to_string()),
        ("blocks skipped", s.blocks_skipped.to_string()),
        ("bytes compressed", mb(s.bytes_compressed)),
        ("bytes decompressed", mb(s.bytes_decompressed)),
        ("lines scanned", s.lines_scanned.to_string()),
        (
            "lines skipped by literal search",
            s.lines_skipped.to_string(),
        ),
        ("results", s.results.to_string()),
        ("plan time", format!("{:?}", s.plan_time)),
        (
            "decompress time (all threads)",
            format!("{:?}", s.decompress_time),
        ),
        (
            "pipeline time (all threads)",
            format!("{:?}", s.pipeline_time),
        ),
        ("total time", format!("{:?}", s.total_time)),
        (
            "throughput",
            format!(
                "{:.0} MB/s decompressed",
                s.bytes_decompressed as f64 / 1e6 / s.total_time.as_secs_f64().max(1e-9)
            ),
        ),
    ];
    for (k, v) in rows {
        eprintln!("{k}\t{v}");
    }
}
