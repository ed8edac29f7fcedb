//! `lokal push --addr URL [SELECTOR]`: send stored streams to a Grafana
//! Loki (`lokal::loki::pusher`), with a progress bar on a terminal and a
//! summary.
use std::io::{IsTerminal, Write};

use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};
use indicatif::{ProgressBar, ProgressStyle};

use lokal::loki::pusher::{self, Event, Format, PushOptions, PushReport};
use lokal::units::parse_bytes;

use super::args::{now_ns, parse_time, ZoneArgs};
use super::exit::ExitCode;
use super::ingest::SummaryFormat;
use super::loki::{LokiArgs, PUSH_DEFAULTS};
use super::GlobalArgs;

/// `--format` values.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum WireFormat {
    /// Protobuf + snappy, as promtail sends
    Protobuf,
    /// Loki's JSON push body
    Json,
}

/// Arguments of `lokal push`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  lokal push --addr http://loki:3100                      # every stream of the tenant
  lokal push --addr http://loki:3100 '{job=\"nginx\"}' --from 2024-05-01 --to 2024-05-02
  LOKI_ADDR=https://loki.example LOKI_USERNAME=u LOKI_PASSWORD=p lokal push --ca-cert ca.pem

A checkpoint in the store (TENANT/PUSHED) records what each Loki, selector and range has
received: a push that is interrupted resumes where it stopped, and running it again sends only
what was ingested since. Give --from/--to as absolute times for that: a relative time makes a
new range, so a new checkpoint, on every run.")]
#[command(mut_arg("addr", |a| {
    a.help("The Loki to send to, e.g. http://localhost:3100 (X-Scope-OrgID: --tenant/--org-id when \
            given, else $LOKI_ORG_ID)")
}))]
pub struct PushArgs {
    /// Stream selector of the streams to send [default: every stream]
    #[arg(default_value = "{}")]
    pub selector: String,
    /// Only entries from this time (inclusive): RFC 3339, a date, unix seconds
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// Only entries before this time (exclusive)
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    #[command(flatten)]
    pub zone: ZoneArgs,
    /// Body encoding
    #[arg(long, value_enum, default_value = "protobuf")]
    pub format: WireFormat,
    /// Most line and structured-metadata bytes per request (promtail's batchsize)
    #[arg(long, default_value = "1MiB", value_name = "SIZE")]
    pub batch_size: String,
    /// Most entries per request
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    pub batch_entries: usize,
    /// No progress bar and no summary
    #[arg(short, long)]
    pub quiet: bool,
    /// Summary format
    #[arg(short, long, value_enum, default_value = "table")]
    pub output: SummaryFormat,
    #[command(flatten)]
    pub loki: LokiArgs,
}

/// Runs `lokal push`: exit 0 when Loki took everything, 2 when it refused
/// entries (the summary has its reasons), 3 on a store error, 4 when Loki
/// could not be reached or kept failing (the checkpoint keeps what it took).
pub fn run(g: &GlobalArgs, a: &PushArgs) -> Result<ExitCode> {
    let Some(addr) = a.loki.addr.as_deref().filter(|s| !s.is_empty()) else {
        bail!("lokal push needs the Loki to send to: --addr URL or $LOKI_ADDR");
    };
    let client = lokal::loki::client::Client::new(a.loki.options(addr, g, &PUSH_DEFAULTS)?)?;
    let tz = a.zone.tz()?;
    let now = now_ns();
    let time = |t: &Option<String>| t.as_deref().map(|t| parse_time(t, now, &tz)).transpose();
    let batch_bytes = parse_bytes(&a.batch_size).map_err(anyhow::Error::msg)? as usize;
    if batch_bytes == 0 || a.batch_entries == 0 {
        bail!("--batch-size and --batch-entries must be more than 0");
    }
    let opts = PushOptions {
        matchers: lokal::querier::parse_selector(&a.selector)?,
        from: time(&a.from)?,
        to: time(&a.to)?,
        format: match a.format {
            WireFormat::Protobuf => Format::Protobuf,
            WireFormat::Json => Format::Json,
        },
        batch_bytes,
        batch_entries: a.batch_entries,
    };
    let bar = (!a.quiet && std::io::stderr().is_terminal()).then(|| {
        let b = ProgressBar::new(0);
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} entries {per_sec} {eta}",
            )
            .expect("valid template"),
        );
        b
    });
    let quiet = a.quiet;
    let mut on = |e: &Event| match e {
        Event::Start { entries } => {
            if let Some(b) = &bar {
                b.set_length(*entries);
            }
        }
        Event::Progress { entries } => {
            if let Some(b) = &bar {
                b.inc(*entries);
            }
        }
        Event::Retry(r) => {
            if quiet {
                return;
            }
            let msg = format!(
                "lokal: push: {}; retrying in {:.1}s",
                r.reason.lines().next().unwrap_or(""),
                r.wait.as_secs_f64()
            );
            match &bar {
                Some(b) => b.suspend(|| eprintln!("{msg}")),
                None => eprintln!("{msg}"),
            }
        }
    };
    let result = pusher::push(&g.store(), &g.tenant, &client, &opts, &mut on);
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let report = match result {
        Ok(r) => r,
        Err(e @ pusher::PushError::Client { .. }) => {
            eprintln!("lokal: {e}");
            return Ok(ExitCode::Unreachable);
        }
        Err(e) => return Err(e.into()),
    };
    if !a.quiet {
        let mut text = match a.output {
            SummaryFormat::Table => summary_table(&report, client.base()).to_string(),
            SummaryFormat::Json => serde_json::to_string_pretty(&report)?,
        };
        text.push('\n');
        if let Err(e) = std::io::stdout().write_all(text.as_bytes()) {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                return Err(e.into());
            }
        }
        for r in &report.rejects {
            eprintln!(
                "lokal: Loki refused {} entr{} (HTTP {}): {}",
                r.entries,
                if r.entries == 1 { "y" } else { "ies" },
                r.status,
                r.reason
            );
        }
    }
    Ok(if report.rejected > 0 || !report.rejects.is_empty() {
        ExitCode::Usage
    } else {
        ExitCode::Ok
    })
}

fn summary_table(r: &PushReport, addr: &str) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(vec![format!("push to {addr}"), "value".to_string()]);
    let mut row = |k: &str, v: String| {
        t.add_row(vec![
            Cell::new(k),
            Cell::new(v).set_alignment(CellAlignment::Right),
        ]);
    };
    row("streams", r.streams.to_string());
    row("entries", r.entries.to_string());
    row("bytes (lines and metadata)", r.bytes.to_string());
    row("bytes sent", r.body_bytes.to_string());
    row("requests", r.requests.to_string());
    row("retries", r.retries.to_string());
    row("entries refused", r.rejected.to_string());
    if r.resumed > 0 {
        row("entries sent before (resumed)", r.resumed.to_string());
    }
    if r.segments == 0 {
        row("new segments", "0 (everything was sent before)".to_string());
    }
    t
}
