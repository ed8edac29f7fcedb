//! `lokal ingest`: flags, progress bar and the summary table.
use std::io::IsTerminal;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};
use indicatif::{ProgressBar, ProgressStyle};

use lokal::ingest::{self, IngestObserver, IngestOptions, IngestReport, InputFormat};
use lokal::units::{parse_bytes, parse_duration};

use super::args::{EntryArgs, LabelArgs, LineArgs, TimestampArgs};
use super::exit::ExitCode;
use super::timestamps;
use super::{human_bytes as human, GlobalArgs};

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

/// `--compact` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CompactArg {
    /// Merge each day the run wrote to that it left in more segments than `lokal compact` would
    /// write, when its streams' runs there are small (many streams, a few entries of each per
    /// batch)
    Auto,
    /// Leave every day as the batches wrote it
    Never,
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
  lokal ingest --dry-run /var/log/syslog /var/log/nginx/access.log
  lokal ingest --config /etc/promtail/config.yml
  lokal ingest --timestamp-format '%d.%m.%Y %H:%M:%S' odd.log
  logcli query -o jsonl '{job=\"x\"}' | lokal ingest --format logcli -
  lokal ingest --follow --label job=nginx '/var/log/nginx/*.log'   # until SIGTERM/Ctrl-C

Timestamps are found with no flags: per file, its first lines show where the
timestamp is (the line start, a field such as Apache's [date] or an epoch
after an id, a JSON or logfmt time key) and how it is written (ISO 8601,
syslog, klog, logcat, Apache/nginx, ctime, epochs in s/ms/us/ns, and more);
text elsewhere in a line is never read as a date. A date is taken only from
1990 up to a day after the file's modification time; zone names are applied
for UTC/GMT/Z, offsets and the US and European abbreviations (others: flagged,
read in --timezone). Dates without a year: see --year. A line without a
timestamp takes the previous entry's; the summary lists every file where
that (or any other fallback) happened. --dry-run shows all this first.

Re-running on the same files reads only what was appended since; positions
are committed with the data, so an interrupted run can simply be repeated.")]
pub struct IngestArgs {
    /// Files, globs (quoted, `**` allowed), directories, or - for stdin; .gz and .zst are decompressed
    #[arg(required_unless_present = "config", value_name = "PATH|GLOB|DIR|-")]
    pub inputs: Vec<String>,
    /// A promtail config: read the files of its scrape_configs (static_configs' __path__ and
    /// __path_exclude__) with their labels, and run each entry through its pipeline_stages
    #[arg(long, value_name = "FILE", conflicts_with_all = ["inputs", "label_from_path", "no_filename_label", "recursive", "format"])]
    pub config: Option<std::path::PathBuf>,
    /// With --config: replace ${VAR} and ${VAR:-default} in it by environment variables first
    /// (promtail's -config.expand-env)
    #[arg(long, requires = "config")]
    pub config_expand_env: bool,
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
    /// zstd compression level of blocks
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub compression_level: i32,
    /// Give up if another writer holds the store longer than this [default: wait]
    #[arg(long, value_name = "DURATION")]
    pub lock_timeout: Option<String>,
    /// Do not update the label index (queries read segment footers until `lokal index`)
    #[arg(long)]
    pub no_index: bool,
    /// At the end of the run, merge the days it left in many segments of small runs into one
    /// segment each, as `lokal compact` would (without retention or deletes)
    #[arg(long, value_enum, default_value = "auto", value_name = "WHEN")]
    pub compact: CompactArg,
    /// No progress bar and no summary
    #[arg(short, long)]
    pub quiet: bool,
    /// Summary format
    #[arg(short, long, value_enum, default_value = "table")]
    pub output: SummaryFormat,
    /// Store nothing: read the inputs and show, per input, the timestamp format found, the
    /// stream's labels, the first entries with their times, and the counts (no store is
    /// opened or created; stored positions are not used)
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: how many first entries of each input to show
    #[arg(long, default_value_t = 5, value_name = "N", requires = "dry_run")]
    pub head: usize,
    #[command(flatten)]
    pub follow: FollowArgs,
}

/// `lokal ingest --follow` and its pacing.
#[derive(Debug, Args)]
#[command(next_help_heading = "Follow")]
pub struct FollowArgs {
    /// Keep running and store lines as they are appended, as `tail -F` follows files: new files
    /// matching the globs are picked up, rotations (create, rename, copytruncate) followed;
    /// SIGTERM or Ctrl-C commits what was read and exits 0
    #[arg(short = 'F', long, conflicts_with = "dry_run")]
    pub follow: bool,
    /// With --follow: commit at most this often while files change (Go duration)
    #[arg(
        long,
        default_value = "1s",
        value_name = "DURATION",
        requires = "follow"
    )]
    pub commit_interval: String,
    /// With --follow: commit sooner once this many bytes were appended (also the most one commit
    /// reads)
    #[arg(long, default_value = "4MiB", value_name = "SIZE", requires = "follow")]
    pub commit_bytes: String,
    /// With --follow: how often files are checked when inotify is not used
    #[arg(
        long,
        default_value = "250ms",
        value_name = "DURATION",
        requires = "follow"
    )]
    pub poll_interval: String,
    /// With --follow: store a last line that has no newline yet once its file has not changed
    /// for this long
    #[arg(
        long,
        default_value = "5s",
        value_name = "DURATION",
        requires = "follow"
    )]
    pub partial_line_timeout: String,
    /// With --follow: poll every --poll-interval instead of using inotify
    #[arg(long, requires = "follow")]
    pub no_inotify: bool,
}

impl FollowArgs {
    /// The library's pacing options.
    fn options(&self) -> Result<ingest::FollowOptions> {
        let dur = |flag: &str, v: &str| {
            parse_duration(v)
                .map_err(|e| anyhow::anyhow!("--{flag}: {e}"))
                .and_then(|d| {
                    if d.is_zero() {
                        anyhow::bail!("--{flag} must be more than 0")
                    }
                    Ok(d)
                })
        };
        Ok(ingest::FollowOptions {
            commit_interval: dur("commit-interval", &self.commit_interval)?,
            commit_bytes: match parse_bytes(&self.commit_bytes) {
                Ok(0) => anyhow::bail!("--commit-bytes must be more than 0"),
                Ok(n) => n,
                Err(e) => anyhow::bail!("--commit-bytes: {e}"),
            },
            poll_interval: dur("poll-interval", &self.poll_interval)?,
            partial_line_timeout: dur("partial-line-timeout", &self.partial_line_timeout)?,
            inotify: !self.no_inotify,
        })
    }
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

/// `--config`: the promtail config as the run's inputs and hook; its notes
/// (sections accepted but not run, globs matching nothing yet) are printed
/// once.
fn promtail_config(a: &IngestArgs, path: &std::path::Path, o: &mut IngestOptions) -> Result<()> {
    let quiet = a.quiet;
    let cwd = std::env::current_dir().context("current directory")?;
    let cfg = lokal::promtail::Config::load(path, &cwd, a.config_expand_env)?;
    let (inputs, missing) = cfg.inputs();
    if !quiet {
        for n in cfg.notes.iter().chain(&missing) {
            eprintln!("lokal: note: {}: {n}", path.display());
        }
    }
    if a.follow.follow {
        // A follower waits for the files that do not exist yet.
        o.inputs = cfg.globs();
    } else if inputs.is_empty() {
        anyhow::bail!(
            "{}: no file matches any __path__ of its scrape_configs",
            path.display()
        );
    } else {
        o.inputs = inputs;
    }
    o.hook = Some(std::sync::Arc::new(lokal::promtail::Hook::new(
        std::sync::Arc::new(cfg),
    )));
    Ok(())
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
    if let Some(path) = &a.config {
        promtail_config(a, path, &mut o)?;
    }
    o.dedupe = a.dedupe;
    o.from_start = a.from_start;
    o.binary = a.binary;
    o.zstd_level = a.compression_level;
    o.no_index = a.no_index;
    o.run_end = match a.compact {
        CompactArg::Auto => Some(std::sync::Arc::new(lokal::compact::IngestMerge)),
        CompactArg::Never => None,
    };
    if let Some(t) = &a.lock_timeout {
        o.lock_timeout = Some(parse_duration(t).map_err(anyhow::Error::msg)?);
    }
    Ok(o)
}

/// Runs `lokal ingest`.
pub fn run(g: &GlobalArgs, a: &IngestArgs) -> Result<ExitCode> {
    let opts = options(a)?;
    if a.dry_run {
        return dry_run(&opts, a);
    }
    let store = g.store();
    if a.follow.follow {
        return follow(&store, g, &opts, a);
    }
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
        let mut text = match a.output {
            SummaryFormat::Table => {
                let mut t = summary_table(&report).to_string();
                if let Some(f) = timestamps::fallback_table(&report.timestamps) {
                    t.push('\n');
                    t.push_str(&f.to_string());
                }
                t
            }
            SummaryFormat::Json => serde_json::to_string_pretty(&report)?,
        };
        text.push('\n');
        // The entries are stored either way: a closed stdout must neither
        // panic nor hide the exit code.
        if let Err(e) = std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes()) {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                return Err(e.into());
            }
        }
    }
    if report.all_rejected() && !a.quiet {
        eprintln!("lokal: nothing was stored: every line read was rejected (see the counts above)");
    }
    Ok(if report.files_failed > 0 || report.all_rejected() {
        ExitCode::Usage
    } else {
        ExitCode::Ok
    })
}

/// A follower's status line on a terminal (its warnings as [`Progress`]'s).
impl ingest::FollowObserver for Progress {
    fn status(&self, s: &ingest::FollowStatus) {
        let Some(b) = &self.bar else { return };
        let last = match s.last_commit {
            Some(t) => format!("last commit {}s ago", t.elapsed().as_secs()),
            None => "nothing committed yet".to_string(),
        };
        b.set_message(format!(
            "following {} files ({}): {} lines, {} entries stored, {} in {} commits, {last}",
            s.files,
            s.watching,
            s.lines_read,
            s.entries_stored,
            human(s.bytes_read),
            s.commits,
        ));
        b.tick();
    }
}

/// `--follow`: runs until SIGTERM or Ctrl-C, then commits and exits 0.
fn follow(
    store: &lokal::store::Store,
    g: &GlobalArgs,
    opts: &IngestOptions,
    a: &IngestArgs,
) -> Result<ExitCode> {
    let fo = a.follow.options()?;
    let stop = lokal::server::stop_on_signals();
    let bar = (!a.quiet && std::io::stderr().is_terminal()).then(|| {
        let b = ProgressBar::new_spinner();
        b.set_style(ProgressStyle::with_template("{spinner} {msg}").expect("valid template"));
        b
    });
    let progress = Progress {
        bar,
        quiet: a.quiet,
    };
    let report = ingest::follow(
        store,
        &g.tenant,
        std::slice::from_ref(opts),
        &fo,
        stop,
        &progress,
    )?;
    if let Some(b) = &progress.bar {
        b.finish_and_clear();
    }
    if !a.quiet {
        eprintln!(
            "lokal: stopped following: {} lines read, {} entries stored in {} commits",
            report.lines_read, report.entries_stored, report.commits
        );
    }
    Ok(ExitCode::Ok)
}

/// `--dry-run`: the library's report, printed; exit 2 when an input would
/// be skipped.
fn dry_run(opts: &IngestOptions, a: &IngestArgs) -> Result<ExitCode> {
    let d = ingest::dry_run(opts, a.head)?;
    let text = match a.output {
        SummaryFormat::Table => timestamps::dry_run_text(&d),
        SummaryFormat::Json => format!("{}\n", timestamps::dry_run_json(&d)?),
    };
    // A closed stdout ends the command quietly (main maps the error to 0).
    std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes())?;
    Ok(if d.inputs.iter().any(|i| i.error.is_some()) {
        ExitCode::Usage
    } else {
        ExitCode::Ok
    })
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
    if r.files_rotated > 0 {
        row("files followed after rotation", r.files_rotated.to_string());
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
    if r.days_merged > 0 {
        row("days merged at the end", r.days_merged.to_string());
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
    for (k, v) in &r.dropped {
        row(&format!("dropped by pipeline: {k}"), v.to_string());
    }
    t
}
