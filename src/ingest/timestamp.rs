//! Per-line timestamp detection and parsing for `lokal ingest`.
//!
//! [`TimestampExtractor::extract`] turns a line into nanoseconds since the
//! Unix epoch, or `None` when the line has no timestamp (the caller then
//! gives it the previous entry's time). Three modes, chosen from the flags:
//!
//! * **auto** (no flags): JSON time keys, logfmt `ts=`/`time=`, RFC 3339 /
//!   ISO 8601, `YYYY-MM-DD HH:MM:SS[.,]fff`, Apache/nginx, ctime, syslog,
//!   klog, logcat and bare epochs; see `detect.rs` for what is deliberately
//!   *not* guessed;
//! * **format** (`--timestamp-format`): a promtail name, Go layout or
//!   strftime format, read at the start of the line (or after a leading `[`);
//! * **regex** (`--timestamp-regex`): the named group `ts` (else the first
//!   group) holds the timestamp, read with the format if one is given and
//!   auto-detected otherwise.
//!
//! It runs once per ingested line, so the hot path neither allocates nor
//! uses a regex (unless the user asked for one): the auto mode remembers
//! which detector matched, and where, and tries that first; UTC and fixed
//! offsets use plain arithmetic, and named zones cache the offset of the
//! current DST period.

mod civil;
mod detect;
mod format;

use jiff::tz::TimeZone;
use regex::bytes::{CaptureLocations, Regex};

use civil::{Parsed, NS_PER_SEC};
use detect::Det;
use format::Format;

const DAY_SECS: i64 = 86_400;

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
}

impl Default for TimestampConfig {
    fn default() -> Self {
        TimestampConfig {
            format: None,
            regex: None,
            year: None,
            timezone: TimeZone::UTC,
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
}

#[derive(Clone, Debug)]
enum Mode {
    /// The detector and byte offset that matched last.
    Auto {
        last: Option<(Det, usize)>,
    },
    Format(Format),
    Regex {
        re: Regex,
        locs: CaptureLocations,
        group: usize,
        format: Option<Format>,
    },
}

impl TimestampExtractor {
    /// Compiles the format and regex of `cfg`. The reference time for
    /// yearless formats starts as "now"; see [`Self::set_reference`].
    pub fn new(cfg: &TimestampConfig) -> Result<Self, TimestampError> {
        let format = cfg.format.as_deref().map(Format::compile).transpose()?;
        let mode = match (&cfg.regex, format) {
            (Some(src), format) => {
                let re = Regex::new(src).map_err(|error| TimestampError::Regex {
                    regex: src.clone(),
                    error,
                })?;
                let group = re
                    .capture_names()
                    .position(|n| n == Some("ts"))
                    .unwrap_or(if re.captures_len() > 1 { 1 } else { 0 });
                let locs = re.capture_locations();
                Mode::Regex {
                    re,
                    locs,
                    group,
                    format,
                }
            }
            (None, Some(f)) => Mode::Format(f),
            (None, None) => Mode::Auto { last: None },
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
        };
        let now = jiff::Timestamp::now().as_nanosecond();
        ex.set_reference(i64::try_from(now).unwrap_or(i64::MAX));
        Ok(ex)
    }

    /// Reference time (ns since epoch) for yearless formats when `--year` is
    /// not given: normally the file's mtime. The year is taken from it, and a
    /// date that would lie more than a day after the reference is put in the
    /// previous year (a December log read in January).
    pub fn set_reference(&mut self, reference_ns: i64) {
        let year = jiff::Timestamp::from_nanosecond(i128::from(reference_ns))
            .map(|t| t.to_zoned(self.tz.clone()).year() as i32)
            .unwrap_or(1970);
        self.reference = (reference_ns, year);
    }

    /// The entry's time in ns since the Unix epoch, or `None` when the line
    /// holds no timestamp.
    pub fn extract(&mut self, line: &[u8]) -> Option<i64> {
        let parsed = match &mut self.mode {
            Mode::Auto { last } => {
                let cached = last.and_then(|(det, at)| detect::try_at(det, line, at));
                match cached {
                    Some(p) => p,
                    None => {
                        let (det, at, p) = detect::detect(line)?;
                        *last = Some((det, at));
                        p
                    }
                }
            }
            Mode::Format(f) => match f.parse(line) {
                Some(p) => p,
                // `[10.30 16:49:06] ...`: let the format skip the bracket.
                None if line.first() == Some(&b'[') => f.parse(&line[1..])?,
                None => return None,
            },
            Mode::Regex {
                re,
                locs,
                group,
                format,
            } => {
                re.captures_read(locs, line)?;
                let (s, e) = locs.get(*group)?;
                let text = &line[s..e];
                match format {
                    Some(f) => f.parse(text)?,
                    None => detect::parse_value(text)?,
                }
            }
        };
        self.resolve(&parsed)
    }

    /// Turns parsed fields into an instant: epoch as is, else year inference
    /// and zone conversion.
    fn resolve(&mut self, p: &Parsed) -> Option<i64> {
        if let Some(ns) = p.epoch_ns {
            return Some(ns);
        }
        match (p.year, self.year) {
            (Some(y), _) | (None, Some(y)) => self.instant_in(y, p),
            (None, None) => {
                let (ref_ns, ref_year) = self.reference;
                match self.instant_in(ref_year, p) {
                    Some(ns) if ns <= ref_ns.saturating_add(DAY_SECS * NS_PER_SEC) => Some(ns),
                    _ => self.instant_in(ref_year - 1, p),
                }
            }
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
