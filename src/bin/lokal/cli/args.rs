//! Argument groups more than one subcommand takes (`#[command(flatten)]`),
//! each with the one function that turns its strings into library values:
//! time zones and ranges, stderr reporting, and the ingest options that
//! `ingest` and `query --stdin` share.

use anyhow::{bail, Context, Result};
use clap::Args;

use lokal::ingest::IngestOptions;
use lokal::querier::{Querier, RangeSpec};
use lokal::time::TimeRange;
use lokal::units::{parse_bytes, parse_duration};

/// A time zone flag's value: `Local`, `UTC` (any case) or an IANA name.
pub fn parse_zone(flag: &str, name: &str) -> Result<jiff::tz::TimeZone> {
    Ok(match name {
        z if z.eq_ignore_ascii_case("utc") => jiff::tz::TimeZone::UTC,
        z if z.eq_ignore_ascii_case("local") => jiff::tz::TimeZone::system(),
        z => jiff::tz::TimeZone::get(z)
            .with_context(|| format!("{flag} {z:?}: unknown time zone"))?,
    })
}

/// A duration flag's value in ns (`1h`, `2d`, `500ms`).
pub fn duration_ns(s: &str) -> Result<i64> {
    Ok(parse_duration(s).map_err(anyhow::Error::msg)?.as_nanos() as i64)
}

/// The current time, ns.
pub fn now_ns() -> i64 {
    jiff::Timestamp::now().as_nanosecond() as i64
}

/// `-z/--timezone`: the zone times are printed in and offsetless times read in.
#[derive(Debug, Args, Clone)]
pub struct ZoneArgs {
    /// Time zone for printing and for --from/--to without an offset: Local, UTC or an IANA name
    #[arg(short = 'z', long, default_value = "Local", value_name = "TZ")]
    pub timezone: String,
}

impl ZoneArgs {
    /// The zone.
    pub fn tz(&self) -> Result<jiff::tz::TimeZone> {
        parse_zone("--timezone", &self.timezone)
    }
}

/// A time flag's value (RFC 3339, a date, unix seconds, `now-2h`) in ns;
/// offsetless times are in `tz`.
pub fn parse_time(s: &str, now: i64, tz: &jiff::tz::TimeZone) -> Result<i64> {
    lokal::time::parse_time_arg(s, now, tz).map_err(anyhow::Error::msg)
}

/// Time range options shared by query, labels and series.
#[derive(Debug, Args, Clone)]
pub struct RangeArgs {
    /// Look back this far from now (e.g. 1h, 2d). Without --since/--from/--to the whole
    /// store is searched (a query: the time range of the streams it selects): a local store
    /// holds what was put in it, so logcli's 1h default would hide yesterday's CI logs
    #[arg(long, value_name = "DURATION")]
    pub since: Option<String>,
    /// Start (inclusive): RFC 3339, a date, unix seconds, or now-2h
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// End (exclusive): RFC 3339, a date, unix seconds, or now-5m
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    /// The zone of --from/--to and of printed times.
    #[command(flatten)]
    pub zone: ZoneArgs,
}

impl RangeArgs {
    /// The flags as times in ns, for the querier to fill in what they leave
    /// open ([`Querier::resolve_range`], [`Querier::resolve_query_range`]).
    pub fn spec(&self) -> Result<RangeSpec> {
        let tz = self.zone.tz()?;
        let now = now_ns();
        let to = self
            .to
            .as_deref()
            .map(|t| parse_time(t, now, &tz))
            .transpose()?;
        let from = self
            .from
            .as_deref()
            .map(|f| parse_time(f, now, &tz))
            .transpose()?;
        // --since counts only without --from (which wins).
        let since = match (&from, &self.since) {
            (None, Some(s)) => Some(duration_ns(s)?),
            _ => None,
        };
        Ok(RangeSpec {
            from,
            to,
            since,
            now,
        })
    }

    /// The range over `q`: the flags, with the store's whole range filling
    /// in what they leave open ([`Querier::resolve_range`]).
    pub fn resolve(&self, q: &Querier) -> Result<TimeRange> {
        Ok(q.resolve_range(&self.spec()?))
    }
}

/// `--stats` and `-q`: what a query says on stderr besides its result.
#[derive(Debug, Args, Clone)]
pub struct ReportArgs {
    /// Query statistics on stderr: streams, chunks, blocks, bytes, lines, time per stage
    #[arg(long)]
    pub stats: bool,
    /// No messages on stderr (common labels, warnings)
    #[arg(short, long)]
    pub quiet: bool,
}

/// `--label`: labels given to what is read.
#[derive(Debug, Args, Clone)]
pub struct LabelArgs {
    /// Static label for every stream, NAME=VALUE (repeatable)
    #[arg(short, long = "label", value_name = "NAME=VALUE")]
    pub labels: Vec<String>,
}

/// How timestamps are read from lines.
#[derive(Debug, Args, Clone)]
pub struct TimestampArgs {
    /// Timestamp layout, for what detection does not find: strftime (%Y-%m-%d %H:%M:%S), a Go
    /// layout (2006-01-02 15:04:05), a promtail name (RFC3339, Unix, UnixMs…) or dmesg (seconds
    /// since boot, see --boot-time); matched at the line start unless --timestamp-regex. A file
    /// where it matches none of the first lines, or gives only dates before 1990 or after the
    /// file's modification time, is skipped with a message
    #[arg(long, value_name = "FORMAT")]
    pub timestamp_format: Option<String>,
    /// Regex whose group `ts` (or first group) holds the timestamp
    #[arg(long, value_name = "REGEX")]
    pub timestamp_regex: Option<String>,
    /// Year for dates written without one (syslog, klog, logcat, proxifier). Without it, every
    /// such date of a file gets: the year nearest the file's lines that carry a full date, if any;
    /// else the year of the file's modification time, or the year before when that would put the
    /// date more than a day after the modification time (a December log read in January)
    #[arg(long)]
    pub year: Option<i32>,
    /// Boot time for --timestamp-format dmesg (RFC 3339, unix seconds…) [default: this machine's]
    #[arg(long, value_name = "TIME")]
    pub boot_time: Option<String>,
}

/// How lines become entries, and Loki's limits on them.
#[derive(Debug, Args, Clone)]
pub struct LineArgs {
    /// A line matching this regex starts a new entry; other lines join the current one
    #[arg(long, value_name = "REGEX")]
    pub multiline_start: Option<String>,
    /// Most lines in one multiline entry
    #[arg(long, default_value_t = 128, value_name = "N")]
    pub multiline_max_lines: usize,
    /// Longest line accepted (Loki's max_line_size)
    #[arg(long, default_value = "256KB", value_name = "SIZE")]
    pub max_line_size: String,
    /// Cut longer lines to --max-line-size instead of rejecting them
    #[arg(long)]
    pub truncate_long_lines: bool,
    /// Most labels per stream (Loki's max_label_names_per_series)
    #[arg(long, default_value_t = 15, value_name = "N")]
    pub max_labels_per_stream: usize,
    /// Longest label name
    #[arg(long, default_value_t = 1024, value_name = "N")]
    pub max_label_name_length: usize,
    /// Longest label value
    #[arg(long, default_value_t = 2048, value_name = "N")]
    pub max_label_value_length: usize,
    /// Memory for one batch of input: its bytes plus 96 per line and 160 per stream; peak RSS stays under about 2x this + 20MB
    #[arg(long, default_value = "128MiB", value_name = "SIZE")]
    pub batch_size: String,
}

/// The ingest options `ingest` and `query --stdin` share: how lines become
/// labelled, timestamped entries. One conversion for both commands, so a
/// flag means the same in each.
pub struct EntryArgs<'a> {
    /// `--label`.
    pub labels: &'a LabelArgs,
    /// Timestamp detection.
    pub timestamps: &'a TimestampArgs,
    /// The zone of timestamps without an offset.
    pub timezone: &'a str,
    /// Multiline and limits.
    pub lines: &'a LineArgs,
}

impl EntryArgs<'_> {
    /// Sets these options in `o`.
    pub fn apply(&self, o: &mut IngestOptions) -> Result<()> {
        for l in &self.labels.labels {
            let Some((k, v)) = l.split_once('=') else {
                bail!("--label {l:?}: expected NAME=VALUE, e.g. --label job=nginx");
            };
            let v = v.trim_matches('"');
            o.labels.push((k.trim().to_string(), v.to_string()));
        }
        let ts = self.timestamps;
        o.timestamps.format = ts.timestamp_format.clone();
        o.timestamps.regex = ts.timestamp_regex.clone();
        o.timestamps.year = ts.year;
        o.timestamps.timezone = parse_zone("--timezone", self.timezone)?;
        o.timestamps.boot_time = match &ts.boot_time {
            Some(t) => Some(parse_time(t, now_ns(), &o.timestamps.timezone)?),
            None if ts.timestamp_format.as_deref() == Some("dmesg") => {
                lokal::ingest::timestamp::system_boot_time()
            }
            None => None,
        };
        let lines = self.lines;
        if let Some(re) = &lines.multiline_start {
            o.multiline_start =
                Some(regex::Regex::new(re).with_context(|| format!("--multiline-start {re:?}"))?);
        }
        o.multiline_max_lines = lines.multiline_max_lines.max(1);
        o.limits.max_line_size =
            parse_bytes(&lines.max_line_size).map_err(anyhow::Error::msg)? as usize;
        o.limits.max_labels_per_stream = lines.max_labels_per_stream;
        o.limits.max_label_name_length = lines.max_label_name_length;
        o.limits.max_label_value_length = lines.max_label_value_length;
        o.truncate_long_lines = lines.truncate_long_lines;
        o.batch_bytes = parse_bytes(&lines.batch_size).map_err(anyhow::Error::msg)? as usize;
        if o.batch_bytes == 0 {
            bail!("--batch-size must be more than 0");
        }
        Ok(())
    }
}

/// `--lock-timeout DURATION` (absent: wait for the lock as long as it takes).
pub fn lock_timeout(flag: &Option<String>) -> Result<Option<std::time::Duration>> {
    flag.as_deref()
        .map(parse_duration)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--lock-timeout: {e}"))
}
