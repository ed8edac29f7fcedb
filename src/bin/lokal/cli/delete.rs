//! `lokal delete`: store a delete request (Loki's delete API), list or
//! cancel requests; `--now` applies it at once by compacting its days.
use std::io::{BufRead, IsTerminal, Write};

use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};

use lokal::compact::deletes::{self, NewDelete};
use lokal::compact::{self, CompactOptions, DaySelection};
use lokal::store::{DeleteRequest, DeleteStatus};
use lokal::time::rfc3339_nano;

use super::args::{lock_timeout, now_ns, parse_time, ZoneArgs};
use super::exit::ExitCode;
use super::GlobalArgs;

/// Output of `--list`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ListFormat {
    /// A table
    Table,
    /// A JSON array
    Json,
}

/// Arguments of `lokal delete`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  lokal delete '{job=\"app\"} |= \"password=\"' --from 2024-05-01 --to 2024-05-02
  lokal delete '{env=\"dev\"}' --from now-30d --now --yes
  lokal delete --list
  lokal delete --cancel 1a2b3c4d

As Loki's delete API: the query is a stream selector with optional line filters
(|=, !=, |~, !~, |>, !>); entries of the matching streams from --from to --to,
both included, whose line the filters keep are removed. The request is stored in
the tenant's manifest and applied by the next `lokal compact` (with --now: at
once); until then queries still show the entries, and `--cancel` withdraws it.
On a terminal lokal asks before storing it (--yes skips the question), saying
how many entries it matches now.")]
pub struct DeleteArgs {
    /// The query: a stream selector with optional line filters
    #[arg(value_name = "QUERY", required_unless_present_any = ["list", "cancel"])]
    pub query: Option<String>,
    /// First time deleted, included (RFC 3339, a date, unix seconds, now-2h)
    #[arg(long, value_name = "TIME", required_unless_present_any = ["list", "cancel"])]
    pub from: Option<String>,
    /// Last time deleted, included [default: now]
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    /// Apply the request at once: compact the days it covers
    #[arg(long)]
    pub now: bool,
    /// Do not ask for confirmation
    #[arg(short, long)]
    pub yes: bool,
    /// List the requests, pending and processed
    #[arg(long, conflicts_with_all = ["query", "cancel", "now"])]
    pub list: bool,
    /// Cancel a pending request by its id
    #[arg(long, value_name = "ID", conflicts_with_all = ["query", "now"])]
    pub cancel: Option<String>,
    /// Format of --list
    #[arg(short, long, value_enum, default_value = "table")]
    pub output: ListFormat,
    /// Give up if another writer holds the store longer than this [default: wait]
    #[arg(long, value_name = "DURATION")]
    pub lock_timeout: Option<String>,
    /// The zone of --from/--to without an offset and of printed times.
    #[command(flatten)]
    pub zone: ZoneArgs,
}

fn waiting() {
    eprintln!("lokal: waiting for another lokal writer to release the store lock");
}

/// Runs `lokal delete`.
pub fn run(g: &GlobalArgs, a: &DeleteArgs) -> Result<ExitCode> {
    let store = g.store();
    let timeout = lock_timeout(&a.lock_timeout)?;
    if a.list {
        let list = deletes::list(&store, &g.tenant)?;
        let mut out = match a.output {
            ListFormat::Json => serde_json::to_string_pretty(&list)?,
            ListFormat::Table => list_table(&list).to_string(),
        };
        out.push('\n');
        std::io::stdout().write_all(out.as_bytes())?;
        return Ok(ExitCode::Ok);
    }
    if let Some(id) = &a.cancel {
        let r = deletes::cancel(&store, &g.tenant, id, timeout, waiting)?;
        eprintln!("lokal: cancelled delete request {} ({})", r.id, r.query);
        return Ok(ExitCode::Ok);
    }
    let (Some(query), Some(from)) = (&a.query, &a.from) else {
        bail!("a delete needs a QUERY and --from");
    };
    let tz = a.zone.tz()?;
    let now = now_ns();
    let new = NewDelete {
        query: query.clone(),
        start: parse_time(from, now, &tz)?,
        end: match &a.to {
            Some(t) => parse_time(t, now, &tz)?,
            None => now,
        },
        now,
    };
    deletes::validate(&new)?;
    store.ensure_exists()?;
    if !a.yes && std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
        let matched = preview(&store, &g.tenant, &new)?;
        eprint!(
            "Delete the entries of {} from {} to {} (both included) in tenant {:?}: {} entries ({} streams) match now. They are removed by the next compaction{}. Go on? [y/N] ",
            new.query,
            rfc3339_nano(new.start),
            rfc3339_nano(new.end),
            g.tenant,
            matched.0,
            matched.1,
            if a.now { ", which runs now" } else { "" },
        );
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
            eprintln!("lokal: nothing was stored");
            return Ok(ExitCode::NothingMatched);
        }
    }
    let req = deletes::add(&store, &g.tenant, &new, timeout, waiting)?;
    eprintln!("lokal: delete request {} stored", req.id);
    if a.now {
        let opts = CompactOptions {
            days: DaySelection::Days(
                compact::days_between(req.start, req.end)
                    .into_iter()
                    .collect(),
            ),
            lock_timeout: timeout,
            ..Default::default()
        };
        let r = compact::compact(&store, &g.tenant, &opts, &compact::Silent)?;
        let p = r.deletes.iter().find(|d| d.id == req.id);
        eprintln!(
            "lokal: delete request {} applied: {} entries removed",
            req.id,
            p.map_or(0, |p| p.deleted_entries)
        );
    }
    println!("{}", req.id);
    Ok(ExitCode::Ok)
}

/// Entries and streams the request matches now: a dry run of the days it
/// covers with the request as the only pending one.
fn preview(store: &lokal::store::Store, tenant: &str, new: &NewDelete) -> Result<(u64, usize)> {
    Ok(compact::preview_delete(store, tenant, new)?)
}

fn list_table(list: &[DeleteRequest]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(vec![
        "id",
        "status",
        "query",
        "from",
        "to",
        "created",
        "entries removed",
    ]);
    for d in list {
        t.add_row(vec![
            Cell::new(&d.id),
            Cell::new(match d.status {
                DeleteStatus::Received => "received",
                DeleteStatus::Processed => "processed",
            }),
            Cell::new(&d.query),
            Cell::new(rfc3339_nano(d.start)),
            Cell::new(rfc3339_nano(d.end)),
            Cell::new(rfc3339_nano(d.created_at)),
            Cell::new(d.deleted_entries).set_alignment(CellAlignment::Right),
        ]);
    }
    t
}
