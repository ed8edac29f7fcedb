//! `lokal query`: run a LogQL query over the store and print the result in
//! logcli's formats or as Loki's API response.
use std::io::{IsTerminal, Write};

use anyhow::Result;
use clap::{Args, ValueEnum};

use lokal::engine::eval::StepAlign;
use lokal::engine::logquery::{LogEntry, LogParams, LogResult, LogStream};
use lokal::engine::value::MetricValue;
use lokal::engine::{stats::QueryStats, Direction};
use lokal::ingest::IngestOptions;
use lokal::logql::Expr;
use lokal::loki::api::streams_response;
use lokal::loki::streams::StreamsBody;
use lokal::output::{self, LineFormat, LogPrintOptions, LogWriter, TsFormat};
use lokal::querier::{self, MetricResult, QueryOptions, QueryResponse, StdinStore};
use lokal::units::parse_step;

use super::args::{
    now_ns, parse_time, EntryArgs, LabelArgs, LineArgs, RangeArgs, ReportArgs, TimestampArgs,
    ZoneArgs,
};
use super::exit::ExitCode;
use super::loki::LokiArgs;
use super::partial::{self, PartialArgs};
use super::GlobalArgs;

/// `--output` values.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum OutputFormat {
    /// Log queries: logcli's timestamp, labels (without the common ones), line; metric
    /// queries: summary on a terminal, else table
    Default,
    /// The line only
    Raw,
    /// One JSON object per entry: labels, line, timestamp
    Jsonl,
    /// The body of Loki's /loki/api/v1/query_range response
    Json,
    /// Metric queries: every step a row, every series a column, exact values (the default
    /// off a terminal); log queries: as default
    Table,
    /// Metric queries: one row per series with a sparkline and min/max/last/mean in
    /// readable numbers, fitted to the width (the default on a terminal); log queries: as default
    Summary,
}

/// `--output-timestamp-format` values (logcli's, and unixnano).
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TsArg {
    /// 2006-01-02T15:04:05Z07:00
    Rfc3339,
    /// 2006-01-02T15:04:05.999999999Z07:00
    Rfc3339nano,
    /// 02 Jan 06 15:04 -0700
    Rfc822z,
    /// Mon, 02 Jan 2006 15:04:05 -0700
    Rfc1123z,
    /// Jan _2 15:04:05.000000
    Stampmicro,
    /// Jan _2 15:04:05.000
    Stampmilli,
    /// Jan _2 15:04:05.000000000
    Stampnano,
    /// Mon Jan _2 15:04:05 MST 2006
    Unixdate,
    /// Unix nanoseconds (lokal's; not in logcli)
    Unixnano,
}

/// `lokal query`'s log output options (logcli's, with its semantics).
#[derive(Debug, Args, Clone)]
pub struct LogFormatArgs {
    /// Timestamp format of the default output (-o jsonl always prints RFC 3339 with nanoseconds)
    #[arg(long, value_enum, default_value = "rfc3339")]
    pub output_timestamp_format: TsArg,
    /// Print no labels (-o jsonl: no "labels" key)
    #[arg(long)]
    pub no_labels: bool,
    /// Print only these labels (repeatable); they are never left out as common labels
    #[arg(long, value_name = "NAME")]
    pub include_label: Vec<String>,
    /// Do not print these labels (repeatable)
    #[arg(long, value_name = "NAME")]
    pub exclude_label: Vec<String>,
    /// Keep the labels all entries share on every line, -o jsonl included. Without it, as in
    /// logcli, they are left out of every line (and told once per batch on stderr as "Common
    /// labels:"), so `-o jsonl` to be ingested again (`lokal ingest --format logcli`) needs it
    #[arg(long)]
    pub include_common_labels: bool,
    /// Pad the labels of the default output to at least N bytes
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        visible_alias = "fixed-labels-len"
    )]
    pub labels_length: usize,
    /// On a terminal, each label set in its own colour (logcli's palette) instead of red.
    /// Colours are used only when stdout is a terminal, NO_COLOR is unset and TERM is not dumb
    #[arg(long)]
    pub colored_output: bool,
}

impl LogFormatArgs {
    /// The printing options, in zone `tz`, `batch` entries a response.
    fn print_options(&self, tz: jiff::tz::TimeZone, batch: usize) -> LogPrintOptions {
        LogPrintOptions {
            tz: Some(tz),
            ts_format: match self.output_timestamp_format {
                TsArg::Rfc3339 => TsFormat::Rfc3339,
                TsArg::Rfc3339nano => TsFormat::Rfc3339Nano,
                TsArg::Rfc822z => TsFormat::Rfc822z,
                TsArg::Rfc1123z => TsFormat::Rfc1123z,
                TsArg::Stampmicro => TsFormat::StampMicro,
                TsArg::Stampmilli => TsFormat::StampMilli,
                TsArg::Stampnano => TsFormat::StampNano,
                TsArg::Unixdate => TsFormat::UnixDate,
                TsArg::Unixnano => TsFormat::UnixNano,
            },
            no_labels: self.no_labels,
            include: self.include_label.clone(),
            exclude: self.exclude_label.clone(),
            include_common: self.include_common_labels,
            labels_length: self.labels_length,
            color: stdout_colors(),
            colored_labels: self.colored_output,
            batch,
        }
    }
}

/// Whether stdout gets colours (fatih/color's rule, as logcli's).
fn stdout_colors() -> bool {
    let env = |k| std::env::var(k).ok();
    lokal::output::style::colors_on(
        std::io::stdout().is_terminal(),
        env("NO_COLOR").as_deref(),
        env("TERM").as_deref(),
    )
}

/// How a metric result is shown to a person.
#[derive(Debug, Args, Clone)]
pub struct MetricViewArgs {
    /// Metric queries: a line chart of the series with the highest means (up to 6), with axes
    /// and a legend, in Braille characters; readable in a CI log (each series ends with its
    /// legend's marker). Fitted to $COLUMNS or the terminal's width. Not with -o json, jsonl, raw
    #[arg(long)]
    pub chart: bool,
    /// Metric range queries: also draw the result into FILE.svg (or .png): a line chart of up to
    /// 10 series with the highest means, a time axis, a legend and the query as title, for CI
    /// artifacts and reports; stdout prints as without it
    #[arg(long, value_name = "FILE")]
    pub plot: Option<std::path::PathBuf>,
}

impl MetricViewArgs {
    /// The view of a metric result of `query` in `format`.
    fn view(&self, format: OutputFormat, query: &str) -> MetricView {
        let unit = match lokal::logql::parse_expr(query) {
            Ok(Expr::Sample(e)) => output::terminal::unit_of(&e),
            _ => output::terminal::Unit::None,
        };
        MetricView {
            format,
            chart: self.chart,
            unit,
            plot: self.plot.clone(),
            query: query.to_string(),
        }
    }
}

/// What [`print_metric`] prints.
struct MetricView {
    format: OutputFormat,
    chart: bool,
    unit: output::terminal::Unit,
    /// `--plot FILE`.
    plot: Option<std::path::PathBuf>,
    /// The query, the plot's title.
    query: String,
}

/// `--plot FILE`: the result drawn into FILE (`.svg` or `.png`).
fn write_plot(
    file: &std::path::Path,
    value: &MetricValue,
    view: &MetricView,
    tz: &jiff::tz::TimeZone,
) -> Result<()> {
    use anyhow::Context;
    let o = output::plot::PlotOptions {
        title: view.query.clone(),
        unit: view.unit,
        tz: tz.clone(),
        size: (1100, 560),
    };
    let ext = file
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let bytes = match ext.as_deref() {
        Some("svg") => output::plot::svg(value, &o)?.into_bytes(),
        Some("png") => output::plot::png(value, &o)?,
        _ => anyhow::bail!(
            "--plot {}: the file name must end in .svg or .png",
            file.display()
        ),
    };
    std::fs::write(file, bytes).with_context(|| format!("--plot {}", file.display()))
}

/// Columns to fit a terminal view in: `COLUMNS`, else the terminal's, else 100.
fn term_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse().ok())
        .filter(|&c: &usize| c > 0)
        .or_else(|| terminal_size::terminal_size().map(|(w, _)| usize::from(w.0)))
        .unwrap_or(100)
}

/// Arguments of `lokal query`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  lokal query '{job=\"nginx\"} |= \"GET /api\"'
  lokal query --since 2h --limit 0 -o raw '{job=\"api\"} | json | level=\"error\"'
  lokal query -o json '{job=\"api\"}'     # Loki's query_range response body
  lokal query --tail --limit 10 '{job=\"api\"} |= \"error\"'   # then new entries as they are committed
  lokal query --from 2024-05-01T00:00:00Z --to 2024-05-01T02:00:00Z --step 5m \\
    'sum by (job) (count_over_time({job=~\".+\"}[5m]))'   # 25 steps, 00:00 to 02:00 included")]
// The ingest options apply to --stdin only, and read as such here.
#[command(
    mut_group("LabelArgs", |g| g.requires("stdin")),
    mut_group("TimestampArgs", |g| g.requires("stdin")),
    mut_group("LineArgs", |g| g.requires("stdin")),
    mut_arg("labels", |a| a.help("With --stdin: label for the input stream, NAME=VALUE (repeatable)")),
    mut_arg("timestamp_format", |a| a.help("With --stdin: timestamp layout, as for `ingest`")),
    mut_arg("timestamp_regex", |a| {
        a.help("With --stdin: regex whose group `ts` (or first group) holds the timestamp")
    }),
    mut_arg("year", |a| {
        a.help("With --stdin: year for timestamps that have none (syslog) [default: this year]")
    }),
    mut_arg("multiline_start", |a| {
        a.help("With --stdin: a line matching this regex starts a new entry; other lines join the current one")
    }),
    mut_arg("to", |a| {
        a.help("End: RFC 3339, a date, unix seconds, or now-5m. Log lines before it are read; \
                a metric range query's last step is at --to (rounded up to the step), as in Loki")
    }),
)]
pub struct QueryArgs {
    /// The LogQL query (it may start with `-`: `-1 + count_over_time(…)`)
    #[arg(allow_hyphen_values = true)]
    pub query: String,
    #[command(flatten)]
    pub range: RangeArgs,
    /// Most entries to return; 0 = all (logcli's default is 30)
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// Oldest first (default: newest first)
    #[arg(long)]
    pub forward: bool,
    /// Output format
    #[arg(short, long, value_enum, default_value = "default")]
    pub output: OutputFormat,
    #[command(flatten)]
    pub log_format: LogFormatArgs,
    #[command(flatten)]
    pub view: MetricViewArgs,
    /// Step of a metric range query: a duration (5m) or seconds (300, 30.5) [default: as Loki,
    /// (to-from)/250 in whole seconds, at least 1s]. As Loki's query_range does, --from is rounded
    /// down and --to up to multiples of the step counted from the Unix epoch, and every step
    /// from one to the other is evaluated, --to included, so a Grafana panel on Loki shows the
    /// same points
    #[arg(long, value_name = "DURATION")]
    pub step: Option<String>,
    /// Evaluate a metric range query at --from, --from + step, … up to --to, as given, instead
    /// of on Loki's epoch-aligned grid (Prometheus' and Loki's engine's own grid)
    #[arg(long)]
    pub unaligned: bool,
    /// Query the lines on standard input instead of the store: they get real timestamps
    /// (detected as by `ingest`) and the labels of --label (default {job="stdin"}); no size
    /// limit, metric queries too. A query starting with | or ! gets the stdin selector prepended
    #[arg(long)]
    pub stdin: bool,
    #[command(flatten)]
    pub labels: LabelArgs,
    #[command(flatten)]
    pub timestamps: TimestampArgs,
    #[command(flatten)]
    pub lines: LineArgs,
    #[command(flatten)]
    pub report: ReportArgs,
    #[command(flatten)]
    pub partial: PartialArgs,
    /// Entries per batch (logcli's --batch): with --addr, per request while --limit is not
    /// reached; the default and jsonl outputs leave out common labels and pad labels per batch,
    /// as logcli prints each response
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub batch: usize,
    #[command(flatten)]
    pub loki: LokiArgs,
    /// Keep printing matching entries as other lokal processes commit them (ingest,
    /// ingest --follow, serve's push), until interrupted; starts with the last --limit entries
    /// of the range, oldest first, as logcli's --tail
    #[arg(short = 't', long, visible_alias = "follow", visible_short_alias = 'f')]
    pub tail: bool,
    /// With --tail: hold entries this long from the first one held (seconds, or a duration such as
    /// 500ms), then print all that arrived meanwhile sorted by time (logcli's --delay-for)
    #[arg(long, default_value = "0", value_name = "SECONDS", requires = "tail")]
    pub delay_for: String,
}

/// What a Loki measured, for `-o json` and `--stats` of a query sent to it
/// (`None` for a local query).
type LokiStats<'a> = Option<&'a Option<serde_json::Value>>;

/// Runs `lokal query`; exit 1 when nothing matched.
pub fn run(g: &GlobalArgs, a: &QueryArgs) -> Result<ExitCode> {
    if let Some(remote) = a.loki.remote(g)? {
        if a.stdin || a.unaligned {
            anyhow::bail!("--addr asks a Loki: --stdin and --unaligned are for local queries");
        }
        // Loki parses the query (its errors are its own); --step goes
        // along when given.
        let range = remote.resolve_range(&a.range.spec()?);
        let opts = query_options(a, true)?;
        let (resp, meta) = remote.query(&a.query, range, &opts, a.batch)?;
        let tz = a.range.zone.tz()?;
        return match resp {
            QueryResponse::Streams(res) => print_log(res, a, tz, Some(&meta.stats)),
            QueryResponse::Metric(res) => print_metric(
                &res,
                &a.view.view(a.output, &a.query),
                &tz,
                &a.report,
                Some(&meta.stats),
            ),
        };
    }
    if a.tail {
        return run_tail(g, a);
    }
    let stdin = if a.stdin {
        // The same conversion as `lokal ingest`; the query's --timezone is
        // the zone of timestamps without an offset.
        let mut opts = IngestOptions::default();
        EntryArgs {
            labels: &a.labels,
            timestamps: &a.timestamps,
            timezone: &a.range.zone.timezone,
            lines: &a.lines,
        }
        .apply(&mut opts)?;
        Some(StdinStore::ingest(opts)?)
    } else {
        None
    };
    let store;
    let (querier, query) = match &stdin {
        Some(s) => (s.querier(), s.complete_query(&a.query)),
        None => {
            store = g.querier_noting_empty(a.report.quiet, &a.partial)?;
            (&store, a.query.clone())
        }
    };
    let expr = lokal::logql::parse_expr(&query).map_err(|e| explain(e, &query))?;
    let range = querier.resolve_query_range(&a.range.spec()?, &expr)?;
    let tz = a.range.zone.tz()?;
    let opts = query_options(a, matches!(expr, Expr::Sample(_)))?;
    match &expr {
        // Without a limit the answer can be any size: print it as it is read.
        Expr::Log(log) if opts.limit == 0 => {
            let params = LogParams {
                range,
                limit: 0,
                direction: opts.direction,
            };
            print_log_stream(querier, querier.log_stream(log, &params)?, a, tz)
        }
        _ => {
            let resp = {
                let _spinner = ScanSpinner::start(a.report.quiet);
                querier.query(&expr, range, &opts)?
            };
            match resp {
                QueryResponse::Streams(res) => print_log(res, a, tz, None),
                QueryResponse::Metric(res) => {
                    print_metric(&res, &a.view.view(a.output, &query), &tz, &a.report, None)
                }
            }
        }
    }
}

/// A spinner on stderr while a query scans for more than a moment
/// (300 ms; `LOKAL_TEST_PROGRESS_MS` for tests) on a terminal, with the
/// blocks and bytes read so far; nothing when stderr is not a terminal or
/// with --quiet. Cleared before the answer is printed.
struct ScanSpinner {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ScanSpinner {
    fn start(quiet: bool) -> ScanSpinner {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        if quiet || !std::io::stderr().is_terminal() {
            return ScanSpinner { stop, thread: None };
        }
        let after = std::env::var("LOKAL_TEST_PROGRESS_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(300u64);
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let tick = std::time::Duration::from_millis(20);
            let t0 = std::time::Instant::now();
            while t0.elapsed() < std::time::Duration::from_millis(after) {
                if flag.load(Ordering::Relaxed) {
                    return;
                }
                std::thread::sleep(tick);
            }
            let (b0, n0) = lokal::engine::stats::SCAN_PROGRESS.get();
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} scanning: {msg} ({elapsed})")
                    .expect("a valid template"),
            );
            loop {
                let (b, n) = lokal::engine::stats::SCAN_PROGRESS.get();
                bar.set_message(format!(
                    "{} blocks, {} read",
                    b - b0,
                    output::terminal::humanize((n - n0) as f64, output::terminal::Unit::Bytes)
                ));
                bar.tick();
                if flag.load(Ordering::Relaxed) {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            bar.finish_and_clear();
        });
        ScanSpinner {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for ScanSpinner {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `--tail`: the last `--limit` entries, then new ones as they are
/// committed, until SIGINT or SIGTERM (exit 0).
fn run_tail(g: &GlobalArgs, a: &QueryArgs) -> Result<ExitCode> {
    if a.loki.remote(g)?.is_some() || a.stdin {
        anyhow::bail!("--tail follows the local store: --addr and --stdin cannot be tailed");
    }
    let format = match a.output {
        // For log queries `table` and `summary` print as `default`.
        OutputFormat::Default | OutputFormat::Table | OutputFormat::Summary => LineFormat::Default,
        OutputFormat::Raw => LineFormat::Raw,
        OutputFormat::Jsonl => LineFormat::Jsonl,
        OutputFormat::Json => {
            anyhow::bail!("--tail prints entries as they come: use -o default, raw or jsonl")
        }
    };
    let delay = match a.delay_for.trim().parse::<u64>() {
        Ok(secs) => std::time::Duration::from_secs(secs),
        Err(_) => lokal::units::parse_duration(&a.delay_for)
            .map_err(|e| anyhow::anyhow!("--delay-for: {e}"))?,
    };
    let Expr::Log(log) = lokal::logql::parse_expr(&a.query)? else {
        anyhow::bail!("--tail follows log queries; a metric query cannot be tailed");
    };
    let range = if g.store().ensure_exists().is_ok() {
        let querier = g.querier_noting_empty(a.report.quiet, &a.partial)?;
        querier.resolve_query_range(&a.range.spec()?, &Expr::Log(log.clone()))?
    } else {
        if !a.report.quiet {
            eprintln!(
                "lokal: no store in {} yet; waiting for the first commit",
                g.store().root().display()
            );
        }
        lokal::time::TimeRange::ALL
    };
    let stop = lokal::server::stop_on_signals();
    let (mut tail, first) = querier::Tail::start(
        &g.store(),
        &g.tenant,
        log,
        range,
        a.limit,
        a.partial.allow_partial,
        delay,
    )?;
    let opts = a.log_format.print_options(a.range.zone.tz()?, 0);
    let tz = opts.tz.clone().unwrap_or(jiff::tz::TimeZone::UTC);
    let stdout = std::io::stdout();
    // logcli's tail prints each entry with its stream's labels (none left
    // out as common; --include-label/--exclude-label apply), not padded
    // beyond --labels-length.
    let none = lokal::model::Labels::default();
    let print = |entries: Vec<LogEntry>| -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut out = std::io::BufWriter::new(stdout.lock());
        for e in &entries {
            let shown = output::logs::shown_labels(&e.labels, &none, &opts);
            output::logs::write_entry(&mut out, format, e, &shown, opts.labels_length, &tz, &opts)?;
        }
        out.flush()?;
        Ok(())
    };
    print(first)?;
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        std::thread::sleep(querier::Tail::POLL);
        print(tail.poll()?)?;
        for n in tail.take_notes() {
            if !a.report.quiet {
                eprintln!("lokal: {n}");
            }
        }
    }
    print(tail.flush())?;
    Ok(ExitCode::Ok)
}

/// The query's options: limit, direction, and `--step` when `metric`.
fn query_options(a: &QueryArgs, metric: bool) -> Result<QueryOptions> {
    Ok(QueryOptions {
        limit: a.limit,
        direction: if a.forward {
            Direction::Forward
        } else {
            Direction::Backward
        },
        // Only a metric query reads --step.
        step: match (metric, &a.step) {
            (true, Some(s)) => Some(parse_step(s).map_err(anyhow::Error::msg)?),
            _ => None,
        },
        align: if a.unaligned {
            StepAlign::Start
        } else {
            StepAlign::Epoch
        },
    })
}

/// Prints a limited log query's entries; exit 1 when there are none.
fn print_log(
    res: LogResult,
    a: &QueryArgs,
    tz: jiff::tz::TimeZone,
    loki: LokiStats<'_>,
) -> Result<ExitCode> {
    print_warnings(&res.stats, a.report.quiet);
    let stats = res.stats;
    let (n, _) = write_log(res.entries.into_iter(), a, tz, loki, |_| Ok(stats.clone()))?;
    if a.report.stats {
        print_any_stats(&stats, loki)?;
    }
    Ok(ExitCode::matched(n > 0))
}

/// Prints an unlimited log query's entries as they are read; exit 1 when
/// there are none. Damage found on the way (a block that passed its
/// checksum and still could not be decoded) is told after the entries, and
/// fails the query (exit 3) unless --allow-partial.
fn print_log_stream(
    querier: &lokal::querier::Querier,
    stream: LogStream,
    a: &QueryArgs,
    tz: jiff::tz::TimeZone,
) -> Result<ExitCode> {
    print_warnings(stream.stats(), a.report.quiet);
    let known = stream.stats().partial.len();
    let (n, stats) = write_log(stream, a, tz, None, |s| Ok(querier.finish_stream(s)?))?;
    partial::warn(&stats.partial[known.min(stats.partial.len())..]);
    if a.report.stats {
        print_stats(&stats);
    }
    Ok(ExitCode::matched(n > 0))
}

/// Writes the entries of `entries` in `a`'s output format, then hands the
/// drained iterator to `finish` for the statistics (`-o json` ends with
/// them, or with `loki`'s when a Loki answered). Returns how many entries
/// were written, and the statistics.
fn write_log<I: Iterator<Item = LogEntry>>(
    mut entries: I,
    a: &QueryArgs,
    tz: jiff::tz::TimeZone,
    loki: LokiStats<'_>,
    finish: impl FnOnce(I) -> Result<QueryStats>,
) -> Result<(u64, QueryStats)> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let format = match a.output {
        OutputFormat::Default | OutputFormat::Table | OutputFormat::Summary => LineFormat::Default,
        OutputFormat::Raw => LineFormat::Raw,
        OutputFormat::Jsonl => LineFormat::Jsonl,
        OutputFormat::Json => {
            // Loki's body groups entries by stream, so the whole answer is
            // taken first: beyond a budget, into a temporary file.
            let mut body = StreamsBody::default();
            for e in entries.by_ref() {
                body.push(e)?;
            }
            let stats = finish(entries)?;
            let n = body.entries();
            let mut resp = streams_response(body, &stats);
            if let Some(s) = loki {
                resp = resp.with_loki_stats(s.clone());
            }
            serde_json::to_writer_pretty(&mut out, &resp)?;
            writeln!(out)?;
            out.flush()?;
            return Ok((n, stats));
        }
    };
    let quiet = a.report.quiet;
    let opts = a.log_format.print_options(tz, a.batch);
    let color = opts.color;
    let mut note = |n: output::Note<'_>| {
        if !quiet {
            eprintln!("{}", n.render(color));
        }
    };
    let mut w = LogWriter::new(format, opts);
    for e in entries.by_ref() {
        w.push(&mut out, e, &mut note)?;
    }
    w.finish(&mut out, &mut note)?;
    out.flush()?;
    Ok((w.entries(), finish(entries)?))
}

/// Prints a metric result; exit 1 when it is empty.
fn print_metric(
    res: &MetricResult,
    view: &MetricView,
    tz: &jiff::tz::TimeZone,
    report: &ReportArgs,
    loki: LokiStats<'_>,
) -> Result<ExitCode> {
    let (value, stats): (&MetricValue, &QueryStats) = (&res.value, &res.stats);
    print_warnings(stats, report.quiet);
    let stdout = std::io::stdout();
    let tty = stdout.is_terminal();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let term = || output::terminal::TermOptions {
        width: term_width(),
        color: stdout_colors(),
        unit: view.unit,
        tz: tz.clone(),
    };
    let format = match view.format {
        // A chart is for people: the formats for scripts stay as they are.
        OutputFormat::Default | OutputFormat::Table if view.chart => OutputFormat::Summary,
        OutputFormat::Default if tty => OutputFormat::Summary,
        OutputFormat::Default => OutputFormat::Table,
        f => f,
    };
    if let Some(file) = &view.plot {
        write_plot(file, value, view, tz)?;
    }
    match format {
        // An empty answer prints nothing for people; JSON and points as always.
        OutputFormat::Default | OutputFormat::Table | OutputFormat::Summary if value.is_empty() => {
        }
        OutputFormat::Summary if view.chart => {
            output::terminal::write_chart(&mut out, value, &term())?
        }
        OutputFormat::Summary => output::terminal::write_summary(&mut out, value, &term())?,
        OutputFormat::Default | OutputFormat::Table => {
            writeln!(out, "{}", output::metric_table(value, tz))?;
        }
        OutputFormat::Raw | OutputFormat::Jsonl => output::write_metric_jsonl(&mut out, value)?,
        OutputFormat::Json => {
            let mut body = lokal::loki::api::metric_response(value, stats);
            if let Some(s) = loki {
                body = body.with_loki_stats(s.clone());
            }
            serde_json::to_writer_pretty(&mut out, &body)?;
            writeln!(out)?;
        }
    }
    out.flush()?;
    if report.stats {
        print_any_stats(stats, loki)?;
    }
    Ok(ExitCode::matched(!value.is_empty()))
}

/// Arguments of `lokal instant-query`.
#[derive(Debug, Args)]
#[command(after_help = "Example:
  lokal instant-query --now 2024-03-02T00:00:00Z 'sum by (level) (count_over_time({job=\"api\"} | json [1h]))'")]
#[command(
    mut_arg("timezone", |a| {
        a.help("Time zone for --now without an offset and for printing: Local, UTC or an IANA name")
    }),
    mut_arg("stats", |a| a.help("Query statistics on stderr")),
    mut_arg("quiet", |a| a.help("No messages on stderr")),
)]
pub struct InstantArgs {
    /// The LogQL metric query (it may start with `-`)
    #[arg(allow_hyphen_values = true)]
    pub query: String,
    /// Evaluation time: RFC 3339, unix seconds, or now-1h [default: now]
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    #[command(flatten)]
    pub zone: ZoneArgs,
    /// Output format
    #[arg(short, long, value_enum, default_value = "default")]
    pub output: OutputFormat,
    #[command(flatten)]
    pub view: MetricViewArgs,
    #[command(flatten)]
    pub report: ReportArgs,
    #[command(flatten)]
    pub partial: PartialArgs,
    #[command(flatten)]
    pub loki: LokiArgs,
}

/// Runs `lokal instant-query`.
pub fn run_instant(g: &GlobalArgs, a: &InstantArgs) -> Result<ExitCode> {
    let expr = match querier::parse_instant(&a.query) {
        Ok(e) => e,
        Err(e) => {
            return Err(match lokal::logql::parse_expr(&a.query) {
                Err(p) => explain(p, &a.query).into(),
                // A log query: Loki's text, and how to count its lines.
                Ok(_) => match lokal::logql::hint::metric_query_hint(&a.query) {
                    Some(h) => {
                        let text = format!("{e}\nhint: {h}");
                        anyhow::Error::new(e).context(text)
                    }
                    None => e.into(),
                },
            });
        }
    };
    let tz = a.zone.tz()?;
    let now = now_ns();
    let at = match &a.now {
        Some(t) => parse_time(t, now, &tz)?,
        None => now,
    };
    if let Some(remote) = a.loki.remote(g)? {
        let (res, meta) = remote.instant_query(&a.query, at)?;
        return print_metric(
            &res,
            &a.view.view(a.output, &a.query),
            &tz,
            &a.report,
            Some(&meta.stats),
        );
    }
    let q = g.querier_noting_empty(a.report.quiet, &a.partial)?;
    let res = {
        let _spinner = ScanSpinner::start(a.report.quiet);
        q.instant_query(&expr, at)?
    };
    print_metric(&res, &a.view.view(a.output, &a.query), &tz, &a.report, None)
}

/// A LogQL parse error of `query` for a person: Loki's text, then, on a
/// terminal (stderr) or with `LOKAL_CARET=1` (`0` turns it off), the query
/// with a caret under the mistake, and a hint for the common mistakes.
pub fn explain(e: lokal::logql::ParseError, query: &str) -> lokal::logql::Explained {
    let caret = match std::env::var("LOKAL_CARET").as_deref() {
        Ok("1") => true,
        Ok("0") => false,
        _ => std::io::stderr().is_terminal(),
    };
    lokal::logql::Explained::new(e, query, caret)
}

/// `--stats`: lokal's own, or the tree a Loki sent, as indented JSON on stderr.
fn print_any_stats(s: &QueryStats, loki: LokiStats<'_>) -> Result<()> {
    match loki {
        None => print_stats(s),
        Some(tree) => {
            let text =
                serde_json::to_string_pretty(tree.as_ref().unwrap_or(&serde_json::json!({})))?;
            eprintln!("{text}");
        }
    }
    Ok(())
}

fn print_warnings(s: &QueryStats, quiet: bool) {
    if !quiet {
        for w in &s.warnings {
            eprintln!("lokal: warning: {w}");
        }
    }
    partial::warn(&s.partial);
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
        ("lines kept by the pipeline", s.lines_kept.to_string()),
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
