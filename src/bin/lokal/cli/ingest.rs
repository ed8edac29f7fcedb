//! `lokal ingest`: flags, progress bar and the summary table.
use std::io::IsTerminal;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};
use indicatif::{ProgressBar, ProgressStyle};

use lokal::ingest::{self, IngestObserver, IngestOptions, IngestReport, InputFormat};
use lokal::units::{parse_bytes, parse_duration};

use super::args::{EntryArgs, LabelArgs, LineArgs, TimestampArgs};
use super::exit::ExitCode;
use super::GlobalArgs;

/// `--format` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    /// One entry per line (plain, JSON or logfmt); timestamps detected per line
    Auto,
    /// What `logcli query -o jsonl` prints: labels and timestamps come along
    Logcli,
    /// Loki push API JSON bodies (`{"streams":[…]}`)
    LokiPush,
}

/// Summary output.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SummaryFormat {
    /// A table
    Table,
    /// One JSON object
    Json,
}

/// Arguments of `lokal ingest`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  lokal ingest --label job=nginx /var/log/nginx/access.log
  lokal ingest -r --label-from-path '/logs/(?P<job>[^/]+)/' /logs
  lokal ingest --timestamp-format '%y%m%d %H%M%S' hdfs.log
  logcli query -o jsonl '{job=\"x\"}' | lokal ingest --format logcli -

Re-running on the same files reads only what was appended since; positions
are committed with the data, so an interrupted run can simply be repeated.")]
pub struct IngestArgs {
    /// Files, globs (quoted, `**` allowed), directories, or - for stdin; .gz and .zst are decompressed
    #[arg(required = true, value_name = "PATH|GLOB|DIR|-")]
    pub inputs: Vec<String>,
    /// Walk directories recursively
    #[arg(short, long)]
    pub recursive: bool,
    /// Input format
    #[arg(long, value_enum, default_value = "auto")]
    pub format: FormatArg,
    #[command(flatten)]
    pub labels: LabelArgs,
    /// Do not add the `filename` label promtail adds
    #[arg(long)]
    pub no_filename_label: bool,
    /// Regex on the absolute path whose named groups become labels
    #[arg(long, value_name = "REGEX")]
    pub label_from_path: Option<String>,
    #[command(flatten)]
    pub timestamps: TimestampArgs,
    /// Time zone for timestamps without an offset (IANA name such as Europe/Paris, or UTC)
    #[arg(long, default_value = "UTC", value_name = "TZ")]
    pub timezone: String,
    #[command(flatten)]
    pub lines: LineArgs,
    /// Drop exact (timestamp, line) repeats within a stream, as Loki does
    #[arg(long)]
    pub dedupe: bool,
    /// Ignore stored positions: read every input from its start
    #[arg(long)]
    pub from_start: bool,
    /// Ingest files that look binary (NUL bytes) instead of skipping them
    #[arg(long)]
    pub binary: bool,
    /// Input committed per batch (memory use grows with it)
    #[arg(long, default_value = "256MiB", value_name = "SIZE")]
    pub batch_size: String,
    /// zstd compression level of blocks
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub compression_level: i32,
    /// Give up if another writer holds the store longer than this [default: wait]
    #[arg(long, value_name = "DURATION")]
    pub lock_timeout: Option<String>,
    /// Do not update the label index (queries read segment footers until `lokal index`)
    #[arg(long)]
    pub no_index: bool,
    /// No progress bar and no summary
    #[arg(short, long)]
    pub quiet: bool,
    /// Summary format
    #[arg(short, long, value_enum, default_value = "table")]
    pub output: SummaryFormat,
}

struct Progress {
    bar: Option<ProgressBar>,
    quiet: bool,
}

impl IngestObserver for Progress {
    fn total_bytes(&self, total: u64) {
        if let Some(b) = &self.bar {
            b.set_length(total);
        }
    }
    fn advance(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }
    fn warn(&self, msg: &str) {
        if self.quiet {
            return;
        }
        match &self.bar {
            Some(b) => b.suspend(|| eprintln!("lokal: {msg}")),
            None => eprintln!("lokal: {msg}"),
        }
    }
}

fn options(a: &IngestArgs) -> Result<IngestOptions> {
    let mut o = IngestOptions {
        inputs: a.inputs.clone(),
        recursive: a.recursive,
        format: match a.format {
            FormatArg::Auto => InputFormat::Auto,
            FormatArg::Logcli => InputFormat::Logcli,
            FormatArg::LokiPush => InputFormat::LokiPush,
        },
        filename_label: !a.no_filename_label,
        ..Default::default()
    };
    if let Some(re) = &a.label_from_path {
        o.label_from_path =
            Some(regex::Regex::new(re).with_context(|| format!("--label-from-path {re:?}"))?);
    }
    EntryArgs {
        labels: &a.labels,
        timestamps: &a.timestamps,
        timezone: &a.timezone,
        lines: &a.lines,
    }
    .apply(&mut o)?;
    o.dedupe = a.dedupe;
    o.from_start = a.from_start;
    o.binary = a.binary;
    o.batch_bytes = parse_bytes(&a.batch_size).map_err(anyhow::Error::msg)? as usize;
    if o.batch_bytes == 0 {
        bail!("--batch-size must be more than 0");
    }
    o.zstd_level = a.compression_level;
    o.no_index = a.no_index;
    if let Some(t) = &a.lock_timeout {
        o.lock_timeout = Some(parse_duration(t).map_err(anyhow::Error::msg)?);
    }
    Ok(o)
}

/// Runs `lokal ingest`.
pub fn run(g: &GlobalArgs, a: &IngestArgs) -> Result<ExitCode> {
    let opts = options(a)?;
    let store = g.store();
    let bar = (!a.quiet && std::io::stderr().is_terminal()).then(|| {
        let b = ProgressBar::new(0);
        b.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} {eta}")
                .expect("valid template"),
        );
        b
    });
    let progress = Progress {
        bar,
        quiet: a.quiet,
    };
    let report = ingest::ingest(&store, &g.tenant, &opts, &progress)?;
    if let Some(b) = &progress.bar {
        b.finish_and_clear();
    }
    if !a.quiet {
        let text = match a.output {
            SummaryFormat::Table => summary_table(&report).to_string(),
            SummaryFormat::Json => serde_json::to_string_pretty(&report)?,
        };
        // The entries are stored either way: a closed stdout must neither
        // panic nor hide the exit code.
        if let Err(e) =
            std::io::Write::write_all(&mut std::io::stdout(), format!("{text}\n").as_bytes())
        {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                return Err(e.into());
            }
        }
    }
    Ok(if report.files_failed > 0 {
        ExitCode::Usage
    } else {
        ExitCode::Ok
    })
}

fn human(n: u64) -> String {
    let f = n as f64;
    if f >= 1e9 {
        format!("{:.2} GB", f / 1e9)
    } else if f >= 1e6 {
        format!("{:.2} MB", f / 1e6)
    } else if f >= 1e3 {
        format!("{:.1} kB", f / 1e3)
    } else {
        format!("{n} B")
    }
}

fn summary_table(r: &IngestReport) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(vec!["ingest", "value"]);
    let mut row = |k: &str, v: String| {
        t.add_row(vec![
            Cell::new(k),
            Cell::new(v).set_alignment(CellAlignment::Right),
        ]);
    };
    row("files read", r.files.to_string());
    if r.files_unchanged > 0 {
        row("files unchanged", r.files_unchanged.to_string());
    }
    if r.files_failed > 0 {
        row("files failed", r.files_failed.to_string());
    }
    row("lines read", r.lines_read.to_string());
    row("entries stored", r.entries_stored.to_string());
    if r.lines_joined > 0 {
        row("lines joined (multiline)", r.lines_joined.to_string());
    }
    row("streams", r.streams.to_string());
    row("bytes in", human(r.bytes_read));
    row("bytes on disk", human(r.bytes_stored));
    if r.bytes_stored > 0 {
        row(
            "ratio",
            format!("{:.1}x", r.bytes_read as f64 / r.bytes_stored as f64),
        );
    }
    if let (Some(a), Some(b)) = (r.min_t, r.max_t) {
        row("from", lokal::time::rfc3339_nano(a));
        row("to", lokal::time::rfc3339_nano(b));
    }
    for (k, v) in &r.rejected {
        row(&format!("rejected: {k}"), v.to_string());
    }
    for (k, v) in &r.changed {
        row(&format!("changed: {k}"), v.to_string());
    }
    t
}
