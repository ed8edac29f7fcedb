//! `lokal compact`: flags, the progress bar per day, the summary table.
use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};
use indicatif::{ProgressBar, ProgressStyle};

use lokal::compact::retention::{parse_period, parse_stream_flag, Retention};
use lokal::compact::{
    self, CompactObserver, CompactOptions, CompactReport, DayAction, DayReport, DaySelection,
};
use lokal::units::parse_bytes;

use super::args::{lock_timeout, now_ns, parse_time, parse_zone};
use super::exit::ExitCode;
use super::{human_bytes as human, GlobalArgs};

/// Output formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CompactFormat {
    /// A table per tenant
    Table,
    /// One JSON object per tenant (a JSON array with --all-tenants)
    Json,
}

/// Arguments of `lokal compact`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  lokal compact                                   merge each day's small segments
  lokal compact --retention 30d --retention-stream '{env=\"dev\"}=7d'
  lokal compact --config /etc/lokal/retention.yaml --all-tenants -q   (from cron)
  lokal compact --retention 30d --dry-run         what retention would remove

Per UTC day, the segments many ingests left are merged into segments of about
--segment-size line bytes with full blocks of --block-size, each stream's entries
in time order, and one label index for the day. No entry is added or dropped,
except by retention and by delete requests (`lokal delete`), which are applied
here. A day is worked on when it has more segments than it needs, when retention
expires some of its entries, or when a pending delete touches it; run again,
with nothing to do, it says so and exits 0.

The writer lock is taken only to reserve segment ids and to swap a day's new
segments in (milliseconds each): ingest runs beside it. The old files stay until
no query started before the swap is still reading them.

Retention follows Loki's compactor: a stream keeps its entries for the period of
the retention_stream rule it matches with the highest priority (equal priorities:
the shortest period), else --retention; an entry is expired when now - its time
> period; periods are at least 24h. A wholly expired day goes as a directory; a
partly expired one is trimmed. The --config file is YAML with Loki's
limits_config keys, at the top level or under limits_config: (a Loki config
file), and per-tenant overrides:
  retention_period: 30d
  retention_stream:
    - selector: '{env=\"dev\"}'
      priority: 1
      period: 7d
  overrides:
    team-a:
      retention_period: 90d
--retention and --retention-stream replace the file's global values.")]
pub struct CompactArgs {
    /// Only this UTC day (repeatable) [default: every day]
    #[arg(long = "day", value_name = "YYYY-MM-DD", conflicts_with_all = ["from", "to"])]
    pub days: Vec<String>,
    /// Only days from this time (RFC 3339, a date, unix seconds, now-7d)
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// Only days before this time
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    /// Every tenant instead of --tenant's
    #[arg(long)]
    pub all_tenants: bool,
    /// Keep entries this long (Loki's retention_period; 0: for ever)
    #[arg(long, value_name = "DURATION")]
    pub retention: Option<String>,
    /// Keep a stream's entries this long: SELECTOR=PERIOD or SELECTOR=PERIOD@PRIORITY
    /// (Loki's retention_stream; repeatable)
    #[arg(long = "retention-stream", value_name = "RULE")]
    pub retention_stream: Vec<String>,
    /// Retention rules from a YAML file (see below)
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// Line bytes per output segment (the merge holds about this much in memory)
    #[arg(long, default_value = "256MiB", value_name = "SIZE")]
    pub segment_size: String,
    /// Line bytes per block (as ingest's; larger compress better, but queries decompress more per line)
    #[arg(long, default_value = "1MiB", value_name = "SIZE")]
    pub block_size: String,
    /// zstd level of the blocks written (ingest uses 3)
    #[arg(long, default_value_t = compact::DEFAULT_ZSTD_LEVEL, value_name = "N")]
    pub compression_level: i32,
    /// Apply retention as of this time instead of now (to try a policy)
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// Change nothing: print what would be compacted and removed (streams, entries, bytes)
    #[arg(long)]
    pub dry_run: bool,
    /// Give up if another writer or compaction holds the store longer than this [default: wait]
    #[arg(long, value_name = "DURATION")]
    pub lock_timeout: Option<String>,
    /// No progress bar and no summary
    #[arg(short, long)]
    pub quiet: bool,
    /// Summary format
    #[arg(short, long, value_enum, default_value = "table")]
    pub output: CompactFormat,
}

/// A progress bar per day on a terminal, and the lock messages.
struct Progress {
    bar: Option<ProgressBar>,
    quiet: bool,
    waited: Mutex<bool>,
}

impl CompactObserver for Progress {
    fn waiting(&self, lock: &std::path::Path) {
        let mut w = self.waited.lock().expect("not poisoned");
        if !self.quiet && !*w {
            eprintln!(
                "lokal: waiting for another lokal writer to release {}",
                lock.display()
            );
        }
        *w = true;
    }
    fn day_started(&self, day: &str, raw: u64) {
        if let Some(b) = &self.bar {
            b.reset();
            b.set_length(raw);
            b.set_message(day.to_string());
        }
    }
    fn advance(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }
    fn day_done(&self, r: &DayReport) {
        if let Some(b) = &self.bar {
            b.suspend(|| {
                eprintln!(
                    "{} {}: {} → {} segments, {} → {}",
                    r.day,
                    action(r.action, false),
                    r.before.segments,
                    r.after.segments,
                    human(r.before.bytes),
                    human(r.after.bytes)
                )
            });
        }
    }
}

fn options(a: &CompactArgs) -> Result<CompactOptions> {
    let now = match &a.now {
        Some(t) => parse_time(t, now_ns(), &jiff::tz::TimeZone::UTC).context("--now")?,
        None => now_ns(),
    };
    let mut retention = match &a.config {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("--config {}", p.display()))?;
            lokal::compact::retention::parse_file(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?
        }
        None => Retention::default(),
    };
    let period = a
        .retention
        .as_deref()
        .map(|p| parse_period(p, true).map_err(|e| anyhow::anyhow!("--retention {p:?}: {e}")))
        .transpose()?;
    let rules = a
        .retention_stream
        .iter()
        .map(|r| parse_stream_flag(r).map_err(|e| anyhow::anyhow!("--retention-stream {e}")))
        .collect::<Result<Vec<_>>>()?;
    retention.apply_flags(period, rules);
    let days = if !a.days.is_empty() {
        for d in &a.days {
            if lokal::time::parse_day(d).is_none() {
                bail!("--day {d:?}: expected a date as YYYY-MM-DD");
            }
        }
        DaySelection::Days(a.days.iter().cloned().collect())
    } else if a.from.is_some() || a.to.is_some() {
        let tz = parse_zone("--timezone", "UTC")?;
        let t = |s: &Option<String>, flag: &str, default: i64| -> Result<i64> {
            s.as_deref()
                .map(|v| parse_time(v, now_ns(), &tz).with_context(|| flag.to_string()))
                .transpose()
                .map(|v| v.unwrap_or(default))
        };
        DaySelection::Range {
            from: t(&a.from, "--from", i64::MIN)?,
            to: t(&a.to, "--to", i64::MAX)?,
        }
    } else {
        DaySelection::All
    };
    let size = |s: &str, flag: &str| -> Result<u64> {
        let n = parse_bytes(s).map_err(|e| anyhow::anyhow!("{flag} {s:?}: {e}"))?;
        if n == 0 {
            bail!("{flag} {s:?}: must be above 0");
        }
        Ok(n)
    };
    let block = size(&a.block_size, "--block-size")?;
    if block > 64 << 20 {
        bail!(
            "--block-size {:?}: at most 64MiB (a block is decompressed whole to read one line)",
            a.block_size
        );
    }
    if !(1..=19).contains(&a.compression_level) {
        bail!("--compression-level {}: use 1 to 19", a.compression_level);
    }
    Ok(CompactOptions {
        days,
        segment_bytes: size(&a.segment_size, "--segment-size")?,
        block_bytes: block as usize,
        zstd_level: a.compression_level,
        retention,
        now,
        dry_run: a.dry_run,
        lock_timeout: lock_timeout(&a.lock_timeout)?,
    })
}

/// Runs `lokal compact`.
pub fn run(g: &GlobalArgs, a: &CompactArgs) -> Result<ExitCode> {
    let opts = options(a)?;
    let store = g.store();
    store.ensure_exists()?;
    let tenants = g.tenants(&store, a.all_tenants)?;
    let bar = (!a.quiet && std::io::stderr().is_terminal()).then(|| {
        let b = ProgressBar::new(0);
        b.set_style(
            ProgressStyle::with_template(
                "{msg} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .expect("valid template"),
        );
        b
    });
    let progress = Progress {
        bar,
        quiet: a.quiet,
        waited: Mutex::new(false),
    };
    let mut reports = Vec::new();
    for t in &tenants {
        reports.push(
            compact::compact(&store, t, &opts, &progress).with_context(|| {
                format!(
                    "compact of tenant {t:?} stopped (the day it was on is as it was; \
                 `lokal check` lists damaged files, `lokal check --repair` moves them aside)"
                )
            })?,
        );
    }
    if let Some(b) = &progress.bar {
        b.finish_and_clear();
    }
    for r in &reports {
        for w in &r.warnings {
            eprintln!("lokal: {w}");
        }
    }
    if a.quiet {
        return Ok(ExitCode::Ok);
    }
    let mut out = String::new();
    match a.output {
        CompactFormat::Json if a.all_tenants => {
            out = serde_json::to_string_pretty(&reports)?;
            out.push('\n');
        }
        CompactFormat::Json => {
            out = serde_json::to_string_pretty(&reports[0])?;
            out.push('\n');
        }
        CompactFormat::Table => {
            for r in &reports {
                if r.nothing_to_do() {
                    eprintln!("lokal: tenant {:?}: nothing to compact", r.tenant);
                    continue;
                }
                out.push_str(&summary(r, a.all_tenants).to_string());
                out.push('\n');
                if r.dry_run {
                    eprintln!(
                        "lokal: tenant {:?}: a dry run, nothing was changed",
                        r.tenant
                    );
                    if let Some(t) = removed_table(r) {
                        out.push_str(&t.to_string());
                        out.push('\n');
                    }
                }
                if let Some(t) = deletes_table(r) {
                    out.push_str(&t.to_string());
                    out.push('\n');
                }
            }
        }
    }
    std::io::stdout().write_all(out.as_bytes())?;
    Ok(ExitCode::Ok)
}

fn right(s: impl ToString) -> Cell {
    Cell::new(s.to_string()).set_alignment(CellAlignment::Right)
}

/// What was done to a day, or in a dry run what would be.
fn action(a: DayAction, dry_run: bool) -> &'static str {
    match (a, dry_run) {
        (DayAction::Compacted, false) => "compacted",
        (DayAction::Compacted, true) => "would compact",
        (DayAction::Expired, false) => "expired",
        (DayAction::Expired, true) => "would expire",
        (DayAction::Unchanged, _) => "unchanged",
        (DayAction::Skipped, _) => "skipped",
    }
}

/// One row per day: what was done, sizes before and after, what went.
fn summary(r: &CompactReport, tenant_column: bool) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    let mut header = vec![
        "day", "action", "segments", "chunks", "blocks", "bytes", "entries", "removed", "time",
    ];
    if tenant_column {
        header.insert(0, "tenant");
    }
    if r.dry_run {
        header.retain(|h| !matches!(*h, "chunks" | "blocks" | "time"));
    }
    t.set_header(header);
    let arrow = |a: u64, b: u64| format!("{a} → {b}");
    let (mut before, mut after, mut removed, mut entries) = (0, 0, 0, 0);
    for d in &r.days {
        let mut row = vec![Cell::new(&d.day), Cell::new(action(d.action, r.dry_run))];
        row.push(right(arrow(d.before.segments, d.after.segments)));
        if !r.dry_run {
            row.push(right(arrow(d.before.chunks, d.after.chunks)));
            row.push(right(arrow(d.before.blocks, d.after.blocks)));
            row.push(right(format!(
                "{} → {}",
                human(d.before.bytes),
                human(d.after.bytes)
            )));
            row.push(right(d.after.entries));
        } else {
            row.push(right(human(d.before.bytes)));
            row.push(right(d.before.entries));
        }
        row.push(right(d.removed.entries));
        if !r.dry_run {
            row.push(right(format!("{:.2}s", d.seconds)));
        }
        if tenant_column {
            row.insert(0, Cell::new(&r.tenant));
        }
        before += d.before.bytes;
        after += d.after.bytes;
        removed += d.removed.entries;
        entries += if r.dry_run {
            d.before.entries
        } else {
            d.after.entries
        };
        t.add_row(row);
    }
    if r.days.len() > 1 && !r.dry_run {
        let raw = r.raw_bytes();
        let mut row = vec![
            Cell::new("total"),
            Cell::new(format!(
                "{:.0} MB/s",
                raw as f64 / 1e6 / r.seconds.max(1e-9)
            )),
            right(arrow(
                r.days.iter().map(|d| d.before.segments).sum(),
                r.days.iter().map(|d| d.after.segments).sum(),
            )),
            right(arrow(
                r.days.iter().map(|d| d.before.chunks).sum(),
                r.days.iter().map(|d| d.after.chunks).sum(),
            )),
            right(arrow(
                r.days.iter().map(|d| d.before.blocks).sum(),
                r.days.iter().map(|d| d.after.blocks).sum(),
            )),
            right(format!("{} → {}", human(before), human(after))),
            right(entries),
            right(removed),
            right(format!("{:.2}s", r.seconds)),
        ];
        if tenant_column {
            row.insert(0, Cell::new(&r.tenant));
        }
        t.add_row(row);
    }
    t
}

/// A dry run's streams that would lose entries.
fn removed_table(r: &CompactReport) -> Option<Table> {
    let rows: Vec<_> = r
        .days
        .iter()
        .flat_map(|d| d.removed.streams.iter().map(move |s| (d, s)))
        .collect();
    if rows.is_empty() {
        return None;
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(vec![
        "day",
        "stream",
        "entries removed",
        "bytes removed",
        "all of the day",
    ]);
    for (d, s) in rows {
        t.add_row(vec![
            Cell::new(&d.day),
            Cell::new(&s.labels),
            right(s.entries),
            right(human(s.bytes)),
            Cell::new(if s.whole { "yes" } else { "no" }),
        ]);
    }
    Some(t)
}

/// The delete requests the run applied.
fn deletes_table(r: &CompactReport) -> Option<Table> {
    if r.deletes.is_empty() {
        return None;
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(vec!["delete request", "query", "entries removed", "status"]);
    for d in &r.deletes {
        t.add_row(vec![
            Cell::new(&d.id),
            Cell::new(&d.query),
            right(d.deleted_entries),
            Cell::new(match (r.dry_run, d.processed) {
                (true, true) => "would be processed",
                (true, false) => "would stay pending",
                (false, true) => "processed",
                (false, false) => "pending (days outside this run)",
            }),
        ]);
    }
    Some(t)
}
