//! Per-line timestamp detection and parsing for `lokal ingest`.
//!
//! [`TimestampExtractor::extract`] turns a line into nanoseconds since the
//! Unix epoch, or `None` when the line has no timestamp (the caller then
//! gives it the previous entry's time). Three modes, chosen from the flags:
//!
//! * **auto** (no flags): as lnav does, the *style* of a file (where its
//!   timestamp is and how it is written; `detect.rs`, `syntax.rs`) is chosen
//!   from its first lines ([`TimestampExtractor::learn`]) and kept while it
//!   matches; a line it does not match tries the file's other styles, then
//!   the anchored places (line start, JSON and logfmt time keys). A
//!   timestamp is never read from free text;
//! * **format** (`--timestamp-format`): a promtail name, Go layout or
//!   strftime format, read at the start of the line (or after a leading `[`);
//! * **regex** (`--timestamp-regex`): the named group `ts` (else the first
//!   group) holds the timestamp, read with the format if one is given and
//!   auto-detected otherwise.
//!
//! Every instant must lie in the plausible window: from 1990-01-01 to one
//! day after the file's modification time (stdin: now); others are not taken
//! and are reported ([`Extraction::rejected`]). Dates without a year take
//! `--year`, else the year nearest the file's last dated timestamp, else the
//! modification time's year (the year before when that puts them more than a
//! day after it, as syslog readers assume).
//!
//! It runs once per ingested line, so the hot path neither allocates nor
//! uses a regex (unless the user asked for one): the auto mode tries the
//! style that matched last first; UTC and fixed offsets use plain
//! arithmetic, and named zones cache the offset of the current DST period.

pub(crate) mod civil;
mod detect;
mod format;
mod syntax;

use jiff::tz::TimeZone;
use regex::bytes::{CaptureLocations, Regex};

use civil::{Parsed, NS_PER_SEC};
use detect::Style;
use format::Format;

/// The Go layout behind one of the names `--timestamp-format` and promtail's
/// `timestamp` stage accept (`RFC3339`, `RFC1123Z`, `ANSIC`, `StampMilli`, …).
pub fn go_named_layout(name: &str) -> Option<&'static str> {
    format::named_layout(name)
}

const DAY_SECS: i64 = 86_400;

/// The earliest instant taken: 1990-01-01T00:00:00Z. Earlier dates in logs
/// are misread numbers or message text far more often than real.
pub const EARLIEST_NS: i64 = 631_152_000 * NS_PER_SEC;

/// How far past the file's modification time (stdin: now) an instant may
/// lie: a day, the most a zone offset (±14 h) and clock skew account for.
pub const FUTURE_SLACK_NS: i64 = DAY_SECS * NS_PER_SEC;

/// At most this many styles are kept per file.
const MAX_STYLES: usize = 8;

/// How many first lines of a file [`TimestampExtractor::learn`] looks at.
pub const SAMPLE_LINES: usize = 100;

/// How timestamps are found; built from the CLI flags.
#[derive(Clone, Debug)]
pub struct TimestampConfig {
    /// `--timestamp-format`: a promtail name (`RFC3339`, `Unix`, `UnixMs`, ...),
    /// a Go layout (`2006-01-02 15:04:05.000`) or a strftime format (contains
    /// `%`: `%y%m%d %H%M%S`).
    pub format: Option<String>,
    /// `--timestamp-regex`: the timestamp is the named group `ts` or else the
    /// first capture group (the whole match when there is none); without
    /// `--timestamp-format` the captured text is auto-detected.
    pub regex: Option<String>,
    /// `--year` for yearless formats (syslog, klog, logcat, `%m-%d ...`).
    pub year: Option<i32>,
    /// Zone for timestamps that carry no offset (default UTC).
    pub timezone: TimeZone,
    /// Boot time (ns) for `--timestamp-format dmesg` uptimes.
    pub boot_time: Option<i64>,
}

impl Default for TimestampConfig {
    fn default() -> Self {
        TimestampConfig {
            format: None,
            regex: None,
            year: None,
            timezone: TimeZone::UTC,
            boot_time: None,
        }
    }
}

/// A timestamp format, regex or year the extractor cannot use.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TimestampError {
    /// `--timestamp-format ''`.
    #[error("timestamp format is empty")]
    EmptyFormat,
    /// A `%` conversion the engine does not know.
    #[error(
        "timestamp format {format:?}: unknown conversion %{spec} (known: %Y %y %m %d %e %j %H %k %I %l %M %S \
         %f %3f %6f %9f %.f %L %b %B %h %a %A %p %z %:z %Z %s %T %D %F %R %t %%)"
    )]
    UnknownSpecifier {
        /// The format as given.
        format: String,
        /// The conversion character after `%`.
        spec: char,
    },
    /// A format ending in a lone `%`.
    #[error(
        "timestamp format {format:?} ends with a lone '%' (write %% for a literal percent sign)"
    )]
    TrailingPercent {
        /// The format as given.
        format: String,
    },
    /// A width or `.` on a conversion other than `%f`.
    #[error(
        "timestamp format {format:?}: a width or '.' is only allowed on %f (%3f, %6f, %9f, %.f), not on %{spec}; \
         for %3d and the like write %d"
    )]
    BadWidth {
        /// The format as given.
        format: String,
        /// The conversion character.
        spec: char,
    },
    /// Nothing in the format reads a date or time.
    #[error(
        "timestamp format {format:?} has no date or time fields; give a promtail name (RFC3339, Unix, UnixMs, ...), \
         a Go layout (2006-01-02T15:04:05.000Z07:00) or a strftime format (%Y-%m-%d %H:%M:%S)"
    )]
    NoFields {
        /// The format as given.
        format: String,
    },
    /// A format with a time but no day to put it on.
    #[error(
        "timestamp format {format:?} has no date: it needs a month and a day (Go 01/Jan and 02, strftime %m/%b \
         and %d) or a day of the year (002, %j), or must be an epoch (Unix, %s)"
    )]
    NoDate {
        /// The format as given.
        format: String,
    },
    /// `--timestamp-regex` does not compile.
    #[error("invalid timestamp regex {regex:?}: {error}")]
    Regex {
        /// The regex as given.
        regex: String,
        /// What the regex crate said.
        error: regex::Error,
    },
    /// A `--year` whose instants do not fit in i64 nanoseconds.
    #[error("year {0} is out of range: timestamps must lie between 1678 and 2261")]
    Year(i32),
    /// `--timestamp-regex` without a capture group.
    #[error(
        "timestamp regex {regex:?} has no capture group: put the timestamp in (...) or (?P<ts>...)"
    )]
    NoGroup {
        /// The regex as given.
        regex: String,
    },
    /// `--timestamp-format dmesg` without a boot time.
    #[error(
        "--timestamp-format dmesg needs the boot time (--boot-time) to turn uptimes into dates"
    )]
    NoBootTime,
}

/// What a file's first lines show about a `--timestamp-format` or
/// `--timestamp-regex` that cannot be right for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SampleError {
    /// It matched none of the lines; `line` is the first non-empty one
    /// (0-based index into the lines given).
    NoMatch {
        /// Index of the first non-empty line.
        line: usize,
    },
    /// It matched, but every date it gave lies outside the plausible window.
    Implausible {
        /// Index of the first such line.
        line: usize,
        /// The instant it gave, ns.
        ts: i64,
    },
}

/// One line's outcome: the instant taken, or the one refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Extraction {
    /// The entry's time, ns.
    pub ts: Option<i64>,
    /// A timestamp found but not taken: outside the plausible window
    /// (before 1990 or more than a day after the file's modification time).
    pub rejected: Option<i64>,
    /// The timestamp named a zone abbreviation lokal does not know (or that
    /// is ambiguous); the configured zone was applied.
    pub zone_unknown: bool,
}

/// Finds and parses timestamps in lines. `Clone` and `Send`: clone one per
/// file or thread (the compiled format and regex are shared).
#[derive(Clone, Debug)]
pub struct TimestampExtractor {
    mode: Mode,
    zone: Zone,
    tz: TimeZone,
    year: Option<i32>,
    /// Reference instant (ns) for yearless formats, and its year in `tz`.
    reference: (i64, i32),
    /// Instants outside `[lo, hi]` are refused.
    window: (i64, i64),
    /// The last instant read with a year (or an epoch): dates without a
    /// year in the same file take the year that puts them nearest to it.
    last_dated: Option<i64>,
    boot_ns: Option<i64>,
}

#[derive(Clone, Debug)]
enum Mode {
    Auto(Auto),
    Format(Format),
    Regex {
        re: Regex,
        locs: CaptureLocations,
        group: usize,
        format: Option<Format>,
    },
}

/// The auto mode's state: the file's styles with their key-offset hints,
/// most frequent first, and the one that matched last.
#[derive(Clone, Debug, Default)]
struct Auto {
    learned: bool,
    styles: Vec<(Style, usize)>,
    lock: usize,
}

impl TimestampExtractor {
    /// Compiles the format and regex of `cfg`. The reference time for
    /// yearless formats starts as "now"; see [`Self::set_reference`].
    pub fn new(cfg: &TimestampConfig) -> Result<Self, TimestampError> {
        let format = cfg.format.as_deref().map(Format::compile).transpose()?;
        if format.as_ref().is_some_and(Format::is_uptime) && cfg.boot_time.is_none() {
            return Err(TimestampError::NoBootTime);
        }
        let mode = match (&cfg.regex, format) {
            (Some(src), format) => {
                let re = Regex::new(src).map_err(|error| TimestampError::Regex {
                    regex: src.clone(),
                    error,
                })?;
                if re.captures_len() < 2 {
                    return Err(TimestampError::NoGroup { regex: src.clone() });
                }
                let group = re
                    .capture_names()
                    .position(|n| n == Some("ts"))
                    .unwrap_or(1);
                let locs = re.capture_locations();
                Mode::Regex {
                    re,
                    locs,
                    group,
                    format,
                }
            }
            (None, Some(f)) => Mode::Format(f),
            (None, None) => Mode::Auto(Auto::default()),
        };
        if let Some(y) = cfg.year {
            if !(1678..=2261).contains(&y) {
                return Err(TimestampError::Year(y));
            }
        }
        let mut ex = TimestampExtractor {
            mode,
            zone: Zone::new(&cfg.timezone),
            tz: cfg.timezone.clone(),
            year: cfg.year,
            reference: (0, 1970),
            window: (EARLIEST_NS, i64::MAX),
            last_dated: None,
            boot_ns: cfg.boot_time,
        };
        let now = jiff::Timestamp::now().as_nanosecond();
        ex.set_reference(i64::try_from(now).unwrap_or(i64::MAX));
        Ok(ex)
    }

    /// Reference time (ns since epoch): the file's mtime (stdin: now). It
    /// bounds the plausible window (nothing more than a day after it is
    /// taken) and, without `--year`, gives dates without a year theirs: the
    /// reference's year, or the year before for a date that would lie more
    /// than a day after the reference (a December log read in January).
    pub fn set_reference(&mut self, reference_ns: i64) {
        let year = jiff::Timestamp::from_nanosecond(i128::from(reference_ns))
            .map(|t| t.to_zoned(self.tz.clone()).year() as i32)
            .unwrap_or(1970);
        self.reference = (reference_ns, year);
        self.window = (EARLIEST_NS, reference_ns.saturating_add(FUTURE_SLACK_NS));
    }

    /// Learns a file's timestamps from its first lines (at most
    /// [`SAMPLE_LINES`] are used). In the auto mode this chooses the file's
    /// styles: each line votes for every place it has a plausible timestamp
    /// in; a style at the line start with a distinctive syntax, or behind a
    /// time key, needs one vote; bare digits at the line start (`081109
    /// 203615`, epochs) a quarter of the lines and two (one in a one-line
    /// file); a style in a later field half of the lines and two. The
    /// styles are tried most votes first. With `--timestamp-format` or
    /// `--timestamp-regex` it checks that the flag matches and gives
    /// plausible dates, and says why not.
    pub fn learn(&mut self, lines: &[&[u8]]) -> Result<(), SampleError> {
        let lines = &lines[..lines.len().min(SAMPLE_LINES)];
        if let Mode::Auto(_) = self.mode {
            self.learn_auto(lines);
            return Ok(());
        }
        let (mut first, mut matched, mut plausible, mut implausible) = (None, 0, 0, None);
        for (i, line) in lines.iter().enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            first.get_or_insert(i);
            let e = self.extract_detailed(line);
            if e.ts.is_some() {
                matched += 1;
                plausible += 1;
            } else if let Some(ts) = e.rejected {
                matched += 1;
                implausible.get_or_insert((i, ts));
            }
        }
        match (first, matched, implausible) {
            (Some(line), 0, _) => Err(SampleError::NoMatch { line }),
            (_, _, Some((line, ts))) if plausible == 0 => {
                Err(SampleError::Implausible { line, ts })
            }
            _ => Ok(()),
        }
    }

    fn learn_auto(&mut self, lines: &[&[u8]]) {
        let mut tally: Vec<(Style, u32)> = Vec::new();
        let mut n = 0u32;
        for line in lines {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            n += 1;
            let mut seen: Vec<Style> = Vec::new();
            detect::candidates(line, |style, p| {
                if seen.contains(&style) || self.accept(&p).is_err() {
                    return;
                }
                seen.push(style);
                match tally.iter_mut().find(|(s, _)| *s == style) {
                    Some((_, c)) => *c += 1,
                    None => tally.push((style, 1)),
                }
            });
        }
        // Bare digits at the line start: a quarter of the lines, and two
        // unless the file has one line. A later field: half of the lines,
        // and always two (one line cannot show where its file puts a date).
        let quarter = n.div_ceil(4).max(n.min(2));
        let half = n.div_ceil(2).max(2);
        tally.retain(|&(s, c)| match s {
            _ if !s.needs_agreement() => true,
            Style::Field(..) => c >= half,
            _ => c >= quarter,
        });
        tally.sort_by_key(|&(s, c)| (std::cmp::Reverse(c), s.rank()));
        tally.truncate(MAX_STYLES);
        self.mode = Mode::Auto(Auto {
            learned: true,
            styles: tally.iter().map(|&(s, _)| (s, 0)).collect(),
            lock: 0,
        });
        // Replay the sample with the chosen styles, so that dates without a
        // year start from the sample's last dated line, and the key hints
        // are warm; then start from the most frequent style again.
        self.last_dated = None;
        for line in lines {
            self.extract_detailed(line);
        }
        if let Mode::Auto(a) = &mut self.mode {
            a.lock = 0;
        }
    }

    /// How this extractor finds timestamps, for people: the flags, or the
    /// styles the auto mode learned (`ISO 8601 at the line start`), most
    /// frequent first, and where dates without a year get theirs.
    pub fn describe(&self) -> String {
        let mut out = match &self.mode {
            Mode::Auto(a) if a.styles.is_empty() => "none found".to_string(),
            Mode::Auto(a) => {
                let mut s = a.styles[0].0.describe();
                if a.styles.len() > 1 {
                    let rest: Vec<String> =
                        a.styles[1..].iter().map(|(st, _)| st.describe()).collect();
                    s.push_str(&format!("; also {}", rest.join(", ")));
                }
                s
            }
            Mode::Format(_) | Mode::Regex { .. } => self.flag(),
        };
        let yearless = match &self.mode {
            Mode::Auto(a) => a.styles.iter().any(|(s, _)| s.yearless()),
            _ => false,
        };
        if yearless {
            out.push_str(&match (self.year, self.last_dated) {
                (Some(y), _) => format!("; no year in the line: {y} (--year)"),
                (None, Some(_)) => {
                    "; no year in the line: the year nearest the file's dated lines".into()
                }
                (None, None) => format!(
                    "; no year in the line: {} (modification time's; the year before for dates after it)",
                    self.reference.1
                ),
            });
        }
        out
    }

    /// The flags of an explicit mode, for messages: `--timestamp-format "Unix"`.
    pub fn flag(&self) -> String {
        match &self.mode {
            Mode::Auto(_) => "automatic detection".into(),
            Mode::Format(f) => format!("--timestamp-format {:?}", f.spec()),
            Mode::Regex { re, format, .. } => {
                let mut s = format!("--timestamp-regex {:?}", re.as_str());
                if let Some(f) = format {
                    s.push_str(&format!(" with --timestamp-format {:?}", f.spec()));
                }
                s
            }
        }
    }

    /// An instant outside the plausible window and why, for messages:
    /// `1970-01-01T00:00:42Z (before 1990)`.
    pub fn why_implausible(&self, ts: i64) -> String {
        let when = crate::time::rfc3339_nano(ts);
        if ts < self.window.0 {
            format!("{when} (before 1990)")
        } else {
            format!(
                "{when} (more than a day after the file's modification time, {})",
                crate::time::rfc3339_nano(self.reference.0)
            )
        }
    }

    /// The entry's time in ns since the Unix epoch, or `None` when the line
    /// holds no (plausible) timestamp. In the auto mode, an extractor that
    /// was not given a file's first lines ([`Self::learn`]) learns from the
    /// first line it sees.
    pub fn extract(&mut self, line: &[u8]) -> Option<i64> {
        self.extract_detailed(line).ts
    }

    /// [`Self::extract`], also saying what was refused and why.
    pub fn extract_detailed(&mut self, line: &[u8]) -> Extraction {
        let parsed = match &mut self.mode {
            Mode::Auto(a) => {
                if !a.learned {
                    self.learn_auto(&[line]);
                }
                return self.extract_auto(line);
            }
            Mode::Format(f) => match f.parse(line) {
                Some(p) => p,
                // `[10.30 16:49:06] ...`: let the format skip the bracket.
                None if line.first() == Some(&b'[') => match f.parse(&line[1..]) {
                    Some(p) => p,
                    None => return Extraction::default(),
                },
                None => return Extraction::default(),
            },
            Mode::Regex {
                re,
                locs,
                group,
                format,
            } => {
                let found = re
                    .captures_read(locs, line)
                    .and_then(|_| locs.get(*group))
                    .and_then(|(s, e)| {
                        let text = &line[s..e];
                        match format {
                            Some(f) => f.parse(text),
                            None => syntax::parse_value(text),
                        }
                    });
                match found {
                    Some(p) => p,
                    None => return Extraction::default(),
                }
            }
        };
        self.finish(&parsed)
    }

    fn finish(&mut self, p: &Parsed) -> Extraction {
        match self.accept(p) {
            Ok(ts) => Extraction {
                ts: Some(ts),
                rejected: None,
                zone_unknown: p.zone_unknown,
            },
            Err(rejected) => Extraction {
                ts: None,
                rejected,
                zone_unknown: false,
            },
        }
    }

    /// The file's styles, the one that matched last first; then a new
    /// style from the anchored places, kept for the next lines.
    fn extract_auto(&mut self, line: &[u8]) -> Extraction {
        let Mode::Auto(a) = &self.mode else {
            unreachable!("extract_auto in the auto mode")
        };
        let (n, lock) = (a.styles.len(), a.lock);
        let mut refused = Extraction::default();
        for step in 0..n {
            let k = match step {
                0 => lock,
                s if s <= lock => s - 1,
                s => s,
            };
            let Mode::Auto(a) = &mut self.mode else {
                unreachable!()
            };
            let (style, hint) = &mut a.styles[k];
            let Some(p) = style.parse(line, hint) else {
                continue;
            };
            let e = self.finish(&p);
            if e.ts.is_some() {
                if let Mode::Auto(a) = &mut self.mode {
                    a.lock = k;
                }
                return e;
            }
            if refused.rejected.is_none() {
                refused = e;
            }
        }
        if let Some((style, p, hint)) = detect::redetect(line) {
            let e = self.finish(&p);
            if e.ts.is_some() {
                if let Mode::Auto(a) = &mut self.mode {
                    match a.styles.iter().position(|(s, _)| *s == style) {
                        Some(k) => {
                            a.styles[k].1 = hint;
                            a.lock = k;
                        }
                        None if a.styles.len() < MAX_STYLES => {
                            a.styles.push((style, hint));
                            a.lock = a.styles.len() - 1;
                        }
                        None => {}
                    }
                }
                return e;
            }
            if refused.rejected.is_none() {
                refused = e;
            }
        }
        refused
    }

    /// The instant of `p` if it lies in the plausible window (`Err(Some)`
    /// when it does not, `Err(None)` when it is no instant at all).
    fn accept(&mut self, p: &Parsed) -> Result<i64, Option<i64>> {
        let ts = self.resolve(p).ok_or(None)?;
        if ts < self.window.0 || ts > self.window.1 {
            return Err(Some(ts));
        }
        if p.year.is_some() || p.epoch_ns.is_some() {
            self.last_dated = Some(ts);
        }
        Ok(ts)
    }

    /// Turns parsed fields into an instant: epochs and uptimes as they are,
    /// else year inference and zone conversion.
    fn resolve(&mut self, p: &Parsed) -> Option<i64> {
        if let Some(ns) = p.epoch_ns {
            return Some(ns);
        }
        if let Some(up) = p.uptime_ns {
            return self.boot_ns?.checked_add(up);
        }
        match (p.year, self.year) {
            (Some(y), _) | (None, Some(y)) => self.instant_in(y, p),
            (None, None) => match self.last_dated {
                Some(anchor) => self.nearest_year(anchor, p),
                None => {
                    let (ref_ns, ref_year) = self.reference;
                    match self.instant_in(ref_year, p) {
                        Some(ns) if ns <= ref_ns.saturating_add(FUTURE_SLACK_NS) => Some(ns),
                        _ => self.instant_in(ref_year - 1, p),
                    }
                }
            },
        }
    }

    /// The instant of the yearless `p` in the year that puts it nearest to
    /// `anchor`.
    fn nearest_year(&mut self, anchor: i64, p: &Parsed) -> Option<i64> {
        let y = civil::utc_year(anchor);
        let half_year = 183 * DAY_SECS * NS_PER_SEC;
        match self.instant_in(y, p) {
            Some(ns) if ns.abs_diff(anchor) <= half_year as u64 => Some(ns),
            first => [y - 1, y + 1]
                .into_iter()
                .filter_map(|y| self.instant_in(y, p))
                .chain(first)
                .min_by_key(|ns| ns.abs_diff(anchor)),
        }
    }

    /// The instant of `p`'s fields in `year`, in `p`'s offset or the configured zone.
    fn instant_in(&mut self, year: i32, p: &Parsed) -> Option<i64> {
        let (month, day) = if p.yday != 0 {
            civil::yday_to_md(year, p.yday)?
        } else {
            (p.month, p.day)
        };
        if day == 0 || day > civil::days_in_month(year, month) {
            return None;
        }
        let hour = match p.pm {
            Some(true) if p.hour < 12 => p.hour + 12,
            Some(false) if p.hour == 12 => 0,
            _ => p.hour,
        };
        let local = civil::days_from_civil(year, month, day) * DAY_SECS
            + i64::from(hour) * 3600
            + i64::from(p.minute) * 60
            + i64::from(p.second);
        let offset = match p.offset {
            Some(o) => i64::from(o),
            None => self.zone.offset_for_local(
                local,
                [year, month.into(), day.into(), hour.into(), p.minute.into()],
            )?,
        };
        (local - offset)
            .checked_mul(NS_PER_SEC)?
            .checked_add(i64::from(p.nanos))
    }
}

/// This machine's boot time (ns), from `/proc/stat`'s `btime`: the default
/// for `dmesg` uptimes. `None` where there is no such file.
pub fn system_boot_time() -> Option<i64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let secs: i64 = stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    secs.checked_mul(NS_PER_SEC)
}

/// The configured zone, for timestamps without an offset.
#[derive(Clone, Debug)]
enum Zone {
    /// UTC or a fixed offset (seconds east): plain arithmetic.
    Fixed(i64),
    /// A zone with transitions. `[lo, hi)` is a range of local times (as
    /// seconds since 1970-01-01 local) known to map with offset `off`: the
    /// current DST period minus a day at each end, so that a gap or fold
    /// near a transition always goes to jiff.
    Named {
        tz: TimeZone,
        lo: i64,
        hi: i64,
        off: i64,
    },
}

impl Zone {
    fn new(tz: &TimeZone) -> Zone {
        match tz.to_fixed_offset() {
            Ok(o) => Zone::Fixed(i64::from(o.seconds())),
            Err(_) => Zone::Named {
                tz: tz.clone(),
                lo: 0,
                hi: 0,
                off: 0,
            },
        }
    }

    /// Offset (seconds east) of a local time. `local` is the seconds value and
    /// `ymdhm` its fields (year, month, day, hour, minute). Gaps and folds
    /// resolve as jiff's "compatible" rule (like Go's `time.Date`).
    fn offset_for_local(&mut self, local: i64, ymdhm: [i32; 5]) -> Option<i64> {
        match self {
            Zone::Fixed(o) => Some(*o),
            Zone::Named { tz, lo, hi, off } => {
                if (*lo..*hi).contains(&local) {
                    return Some(*off);
                }
                let [y, mo, d, h, mi] = ymdhm;
                let dt = jiff::civil::DateTime::new(
                    i16::try_from(y).ok()?,
                    mo as i8,
                    d as i8,
                    h as i8,
                    mi as i8,
                    0,
                    0,
                )
                .ok()?;
                let ts = tz.to_ambiguous_timestamp(dt).compatible().ok()?;
                let minute_start = local - local.rem_euclid(60);
                let this = minute_start - ts.as_second();
                // Cache the period that contains `ts`, with its own offset.
                let period_off = i64::from(tz.to_offset(ts).seconds());
                let prev = tz.preceding(ts).next().map(|t| t.timestamp().as_second());
                let next = tz.following(ts).next().map(|t| t.timestamp().as_second());
                *lo = prev.map_or(i64::MIN, |t| t + period_off + DAY_SECS);
                *hi = next.map_or(i64::MAX, |t| t + period_off - DAY_SECS);
                *off = period_off;
                Some(this)
            }
        }
    }
}

#[cfg(test)]
mod tests;
