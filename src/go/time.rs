//! Go's `time` package as far as layouts go (Go 1.22): the reference-layout tokenizer
//! (`nextStdChunk`), `Time.Format`, `time.ParseInLocation` and `Time.String`.
//!
//! Go programs spell time formats as the reference time `Mon Jan 2 15:04:05 MST 2006`
//! written the way they want it (`2006-01-02T15:04:05.000Z07:00`). Loki users meet them
//! in templates (`date`, `toDate`, `toDateInZone`, `unixToTime`, `__timestamp__`) and
//! promtail users in `--timestamp-format`. Both read layouts with the one tokenizer
//! here, [`next_std_chunk`], so a layout means the same thing everywhere; ingest keeps
//! its own fast matcher over the elements it yields.
//!
//! Zones are `jiff` zones. Go's `time.Local` is the caller's decision (Loki servers run
//! in UTC, so lokal's template functions use UTC where Go would use the local zone).

use std::fmt::Write as _;

use jiff::tz::TimeZone;

/// A `time.Time`: Unix nanoseconds and a zone.
#[derive(Debug, Clone)]
pub struct Time {
    /// Nanoseconds since the Unix epoch.
    pub ns: i128,
    tz: TimeZone,
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Go's zero time, 0001-01-01 00:00:00 UTC, in Unix nanoseconds.
const ZERO_TIME_NS: i128 = -62_135_596_800 * 1_000_000_000;

impl Time {
    /// A UTC time.
    pub fn utc(ns: i128) -> Time {
        Time {
            ns,
            tz: TimeZone::UTC,
        }
    }

    /// Go's zero `time.Time`.
    pub fn zero() -> Time {
        Time::utc(ZERO_TIME_NS)
    }

    /// The current time.
    pub fn now() -> Time {
        Time::utc(jiff::Timestamp::now().as_nanosecond())
    }

    /// The same instant in another zone (Go's `Time.In`).
    pub fn in_zone(&self, tz: TimeZone) -> Time {
        Time { ns: self.ns, tz }
    }

    fn parts(&self) -> Option<(jiff::Zoned, i32, String)> {
        let ts = jiff::Timestamp::from_nanosecond(self.ns).ok()?;
        let z = ts.to_zoned(self.tz.clone());
        let info = self.tz.to_offset_info(ts);
        let off = info.offset().seconds();
        let abbr = info.abbreviation().to_string();
        Some((z, off, abbr))
    }

    /// Go's `Time.String()`: `2006-01-02 15:04:05.999999999 -0700 MST`.
    pub fn to_go_string(&self) -> String {
        self.format("2006-01-02 15:04:05.999999999 -0700 MST")
    }

    /// Go's `Time.Format(layout)`. A time outside the range `jiff` can represent
    /// formats as the empty string.
    pub fn format(&self, layout: &str) -> String {
        let Some((z, off, abbr)) = self.parts() else {
            return String::new();
        };
        let mut out = String::new();
        let mut rest = layout;
        while !rest.is_empty() {
            let (prefix, tok, suffix) = next_std_chunk(rest);
            out.push_str(prefix);
            let Some(tok) = tok else { break };
            let (y, mo, d) = (z.year() as i64, z.month() as usize, z.day() as i64);
            let (h, mi, sec) = (z.hour() as i64, z.minute() as i64, z.second() as i64);
            match tok {
                Std::Year => {
                    let _ = write!(out, "{:02}", y.rem_euclid(100));
                }
                Std::LongYear => {
                    let _ = write!(out, "{y:04}");
                }
                Std::Month => out.push_str(&MONTHS[mo - 1][..3]),
                Std::LongMonth => out.push_str(MONTHS[mo - 1]),
                Std::NumMonth => {
                    let _ = write!(out, "{mo}");
                }
                Std::ZeroMonth => {
                    let _ = write!(out, "{mo:02}");
                }
                Std::WeekDay | Std::LongWeekDay => {
                    let wd = z.weekday().to_sunday_zero_offset() as usize;
                    out.push_str(if tok == Std::WeekDay {
                        &DAYS[wd][..3]
                    } else {
                        DAYS[wd]
                    });
                }
                Std::Day => {
                    let _ = write!(out, "{d}");
                }
                Std::UnderDay => {
                    let _ = write!(out, "{d:>2}");
                }
                Std::ZeroDay => {
                    let _ = write!(out, "{d:02}");
                }
                Std::UnderYearDay => {
                    let _ = write!(out, "{:>3}", z.day_of_year());
                }
                Std::ZeroYearDay => {
                    let _ = write!(out, "{:03}", z.day_of_year());
                }
                Std::Hour => {
                    let _ = write!(out, "{h:02}");
                }
                Std::Hour12 | Std::ZeroHour12 => {
                    let hr = if h % 12 == 0 { 12 } else { h % 12 };
                    let _ = if tok == Std::Hour12 {
                        write!(out, "{hr}")
                    } else {
                        write!(out, "{hr:02}")
                    };
                }
                Std::Minute => {
                    let _ = write!(out, "{mi}");
                }
                Std::ZeroMinute => {
                    let _ = write!(out, "{mi:02}");
                }
                Std::Second => {
                    let _ = write!(out, "{sec}");
                }
                Std::ZeroSecond => {
                    let _ = write!(out, "{sec:02}");
                }
                Std::PM => out.push_str(if h >= 12 { "PM" } else { "AM" }),
                Std::Pm => out.push_str(if h >= 12 { "pm" } else { "am" }),
                Std::Tz { kind, iso } => format_offset(&mut out, kind, iso, off),
                Std::TzName => {
                    if !abbr.is_empty() {
                        out.push_str(&abbr);
                    } else {
                        format_offset(&mut out, TzKind::Num, false, off);
                    }
                }
                Std::Frac { nines, digits, sep } => {
                    let ns = z.subsec_nanosecond();
                    let full = format!("{ns:09}");
                    let mut d = full[..digits.min(9)].to_string();
                    if nines {
                        while d.ends_with('0') {
                            d.pop();
                        }
                        if d.is_empty() {
                            rest = suffix;
                            continue;
                        }
                    }
                    out.push(sep);
                    out.push_str(&d);
                }
            }
            rest = suffix;
        }
        out
    }
}

/// How a layout prints a numeric zone offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TzKind {
    /// `-0700`.
    Num,
    /// `-07:00`.
    NumColon,
    /// `-07`.
    NumShort,
    /// `-070000`.
    NumSeconds,
    /// `-07:00:00`.
    NumColonSeconds,
}

/// One element of a Go layout (Go's `std*` constants), named as in Go's source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Std {
    /// `06`.
    Year,
    /// `2006`.
    LongYear,
    /// `Jan`.
    Month,
    /// `January`.
    LongMonth,
    /// `1`.
    NumMonth,
    /// `01`.
    ZeroMonth,
    /// `Mon`.
    WeekDay,
    /// `Monday`.
    LongWeekDay,
    /// `2`.
    Day,
    /// `_2` (space-padded).
    UnderDay,
    /// `02`.
    ZeroDay,
    /// `__2` (space-padded day of the year).
    UnderYearDay,
    /// `002`.
    ZeroYearDay,
    /// `15`.
    Hour,
    /// `3`.
    Hour12,
    /// `03`.
    ZeroHour12,
    /// `4`.
    Minute,
    /// `04`.
    ZeroMinute,
    /// `5`.
    Second,
    /// `05`.
    ZeroSecond,
    /// `PM`.
    PM,
    /// `pm`.
    Pm,
    /// A numeric offset: `-0700` and its variants, or with `iso` the `Z0700` forms that
    /// print `Z` for UTC.
    Tz {
        /// The digits and colons.
        kind: TzKind,
        /// `Z07:00` rather than `-07:00`.
        iso: bool,
    },
    /// `MST`: the zone abbreviation.
    TzName,
    /// A fraction of a second after `.` or `,`: `.000` (exactly `digits` digits) or
    /// `.999` (`nines`: up to `digits` digits, trailing zeros dropped).
    Frac {
        /// Written with 9s: trailing zeros (and an empty fraction) are dropped.
        nines: bool,
        /// How many digits the layout spells.
        digits: usize,
        /// `.` or `,`.
        sep: char,
    },
}

fn format_offset(out: &mut String, kind: TzKind, iso: bool, off: i32) {
    if iso && off == 0 {
        out.push('Z');
        return;
    }
    let sign = if off < 0 { '-' } else { '+' };
    let a = off.abs();
    let (h, m, s) = (a / 3600, (a / 60) % 60, a % 60);
    let _ = match kind {
        TzKind::Num => write!(out, "{sign}{h:02}{m:02}"),
        TzKind::NumColon => write!(out, "{sign}{h:02}:{m:02}"),
        TzKind::NumShort => write!(out, "{sign}{h:02}"),
        TzKind::NumSeconds => write!(out, "{sign}{h:02}{m:02}{s:02}"),
        TzKind::NumColonSeconds => write!(out, "{sign}{h:02}:{m:02}:{s:02}"),
    };
}

/// Go's `nextStdChunk`, the one layout tokenizer: the literal text before the next
/// layout element, the element (`None` when there is none left), and the rest.
///
/// `Jan` and `Mon` are elements only when no lower-case letter follows (`Janet` is
/// literal), `_2006` is a literal `_` and the year, and a fraction is `.`/`,` followed
/// by 0s or 9s and no other digit; everything else is literal, as in Go.
pub fn next_std_chunk(layout: &str) -> (&str, Option<Std>, &str) {
    let b = layout.as_bytes();
    let lower_at = |i: usize| b.get(i).is_some_and(|c| c.is_ascii_lowercase());
    for i in 0..b.len() {
        let at = |s: &str| layout[i..].starts_with(s);
        let r = |n: usize, c: Std| (&layout[..i], Some(c), &layout[i + n..]);
        match b[i] {
            b'J' if at("Jan") => {
                if at("January") {
                    return r(7, Std::LongMonth);
                }
                if !lower_at(i + 3) {
                    return r(3, Std::Month);
                }
            }
            b'M' => {
                if at("Mon") {
                    if at("Monday") {
                        return r(6, Std::LongWeekDay);
                    }
                    if !lower_at(i + 3) {
                        return r(3, Std::WeekDay);
                    }
                }
                if at("MST") {
                    return r(3, Std::TzName);
                }
            }
            b'0' => {
                if let Some(&c) = b.get(i + 1) {
                    if (b'1'..=b'6').contains(&c) {
                        let chunk = [
                            Std::ZeroMonth,
                            Std::ZeroDay,
                            Std::ZeroHour12,
                            Std::ZeroMinute,
                            Std::ZeroSecond,
                            Std::Year,
                        ][(c - b'1') as usize];
                        return r(2, chunk);
                    }
                }
                if at("002") {
                    return r(3, Std::ZeroYearDay);
                }
            }
            b'1' => {
                if at("15") {
                    return r(2, Std::Hour);
                }
                return r(1, Std::NumMonth);
            }
            b'2' => {
                if at("2006") {
                    return r(4, Std::LongYear);
                }
                return r(1, Std::Day);
            }
            b'_' => {
                if b.get(i + 1) == Some(&b'2') {
                    if layout[i + 1..].starts_with("2006") {
                        return (&layout[..i + 1], Some(Std::LongYear), &layout[i + 5..]);
                    }
                    return r(2, Std::UnderDay);
                }
                if at("__2") {
                    return r(3, Std::UnderYearDay);
                }
            }
            b'3' => return r(1, Std::Hour12),
            b'4' => return r(1, Std::Minute),
            b'5' => return r(1, Std::Second),
            b'P' if b.get(i + 1) == Some(&b'M') => return r(2, Std::PM),
            b'p' if b.get(i + 1) == Some(&b'm') => return r(2, Std::Pm),
            b'-' | b'Z' => {
                let iso = b[i] == b'Z';
                let tail = &layout[i + 1..];
                let forms: [(&str, TzKind); 5] = [
                    ("070000", TzKind::NumSeconds),
                    ("07:00:00", TzKind::NumColonSeconds),
                    ("0700", TzKind::Num),
                    ("07:00", TzKind::NumColon),
                    ("07", TzKind::NumShort),
                ];
                for (f, k) in forms {
                    if tail.starts_with(f) {
                        return r(1 + f.len(), Std::Tz { kind: k, iso });
                    }
                }
            }
            b'.' | b',' => {
                if let Some(&ch) = b.get(i + 1) {
                    if ch == b'0' || ch == b'9' {
                        let mut j = i + 1;
                        while j < b.len() && b[j] == ch {
                            j += 1;
                        }
                        if !b.get(j).is_some_and(|c| c.is_ascii_digit()) {
                            return (
                                &layout[..i],
                                Some(Std::Frac {
                                    nines: ch == b'9',
                                    digits: j - i - 1,
                                    sep: b[i] as char,
                                }),
                                &layout[j..],
                            );
                        }
                    }
                }
            }
            _ => {}
        }
    }
    (layout, None, "")
}

fn take_num(v: &str, min: usize, max: usize) -> Option<(i64, &str)> {
    let n = v
        .bytes()
        .take(max)
        .take_while(|c| c.is_ascii_digit())
        .count();
    if n < min {
        return None;
    }
    Some((v[..n].parse().ok()?, &v[n..]))
}

fn take_name<'a>(v: &'a str, names: &[&str], short: bool) -> Option<(usize, &'a str)> {
    for (i, n) in names.iter().enumerate() {
        let n = if short { &n[..3] } else { n };
        let b = v.as_bytes();
        if b.len() >= n.len() && b[..n.len()].eq_ignore_ascii_case(n.as_bytes()) {
            return Some((i, &v[n.len()..]));
        }
    }
    None
}

/// Go's `time.ParseInLocation(layout, value, tz)`; `None` where Go returns an error
/// (Loki's and sprig's callers then use the zero time, so the message is not needed).
/// A numeric offset or `UTC`/`GMT` in the value wins over `tz`, as in Go.
pub fn parse_in_location(layout: &str, value: &str, tz: &TimeZone) -> Option<Time> {
    let (mut year, mut month, mut day, mut hour, mut min, mut sec, mut nanos) =
        (1i64, 1i64, 1i64, 0i64, 0i64, 0i64, 0i64);
    let mut pm: Option<bool> = None;
    let mut offset: Option<i32> = None;
    let mut yday: Option<i64> = None;
    let mut v = value;
    let mut rest = layout;
    while !rest.is_empty() {
        let (prefix, tok, suffix) = next_std_chunk(rest);
        v = v.strip_prefix(prefix)?;
        let Some(tok) = tok else { break };
        match tok {
            Std::Year => {
                let (y, r) = take_num(v, 2, 2)?;
                year = if y >= 69 { 1900 + y } else { 2000 + y };
                v = r;
            }
            Std::LongYear => {
                let (y, r) = take_num(v, 4, 4)?;
                year = y;
                v = r;
            }
            Std::Month | Std::LongMonth => {
                let (m, r) = take_name(v, &MONTHS, tok == Std::Month)?;
                month = m as i64 + 1;
                v = r;
            }
            Std::NumMonth | Std::ZeroMonth => {
                let (m, r) = take_num(v, if tok == Std::ZeroMonth { 2 } else { 1 }, 2)?;
                month = m;
                v = r;
            }
            Std::WeekDay | Std::LongWeekDay => {
                let (_, r) = take_name(v, &DAYS, tok == Std::WeekDay)?;
                v = r;
            }
            Std::Day | Std::UnderDay | Std::ZeroDay => {
                if tok == Std::UnderDay {
                    v = v.strip_prefix(' ').unwrap_or(v);
                }
                let (d, r) = take_num(v, if tok == Std::ZeroDay { 2 } else { 1 }, 2)?;
                day = d;
                v = r;
            }
            Std::UnderYearDay | Std::ZeroYearDay => {
                let v2 = if tok == Std::UnderYearDay {
                    v.trim_start_matches(' ')
                } else {
                    v
                };
                let (d, r) = take_num(v2, if tok == Std::ZeroYearDay { 3 } else { 1 }, 3)?;
                yday = Some(d);
                v = r;
            }
            Std::Hour => {
                let (h, r) = take_num(v, 1, 2)?;
                hour = h;
                v = r;
            }
            Std::Hour12 | Std::ZeroHour12 => {
                let (h, r) = take_num(v, if tok == Std::ZeroHour12 { 2 } else { 1 }, 2)?;
                if h > 12 {
                    return None;
                }
                hour = h;
                v = r;
            }
            Std::Minute | Std::ZeroMinute => {
                let (m, r) = take_num(v, if tok == Std::ZeroMinute { 2 } else { 1 }, 2)?;
                min = m;
                v = r;
            }
            Std::Second | Std::ZeroSecond => {
                let (s, r) = take_num(v, if tok == Std::ZeroSecond { 2 } else { 1 }, 2)?;
                sec = s;
                v = r;
                // Go accepts fractional seconds after the seconds even without a layout
                // element for them.
                if !matches!(next_std_chunk(suffix).1, Some(Std::Frac { .. }))
                    && next_std_chunk(suffix).0.is_empty()
                {
                    let b = v.as_bytes();
                    if b.len() >= 2 && (b[0] == b'.' || b[0] == b',') && b[1].is_ascii_digit() {
                        let n = b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
                        nanos = frac_nanos(&v[1..1 + n]);
                        v = &v[1 + n..];
                    }
                }
            }
            Std::PM | Std::Pm => {
                let p = v.get(..2)?;
                pm = Some(match p.to_ascii_uppercase().as_str() {
                    "PM" => true,
                    "AM" => false,
                    _ => return None,
                });
                v = &v[2..];
            }
            Std::Tz { kind, iso } => {
                if iso && v.starts_with('Z') {
                    offset = Some(0);
                    v = &v[1..];
                } else {
                    let sign = match v.as_bytes().first()? {
                        b'+' => 1,
                        b'-' => -1,
                        _ => return None,
                    };
                    let body = &v[1..];
                    let (h, m, s, used) = match kind {
                        TzKind::NumShort => (body.get(..2)?, "00", "00", 2),
                        TzKind::Num => (body.get(..2)?, body.get(2..4)?, "00", 4),
                        TzKind::NumColon => (
                            body.get(..2)?,
                            body.get(3..5).filter(|_| body.get(2..3) == Some(":"))?,
                            "00",
                            5,
                        ),
                        TzKind::NumSeconds => (body.get(..2)?, body.get(2..4)?, body.get(4..6)?, 6),
                        TzKind::NumColonSeconds => {
                            (body.get(..2)?, body.get(3..5)?, body.get(6..8)?, 8)
                        }
                    };
                    let p = |x: &str| x.parse::<i32>().ok();
                    offset = Some(sign * (p(h)? * 3600 + p(m)? * 60 + p(s)?));
                    v = &body[used..];
                }
            }
            Std::TzName => {
                let n = v.bytes().take_while(|c| c.is_ascii_uppercase()).count();
                if n < 3 {
                    return None;
                }
                if &v[..n] == "UTC" || &v[..n] == "GMT" {
                    offset = Some(0);
                }
                v = &v[n..];
            }
            Std::Frac { nines, digits, .. } => {
                let b = v.as_bytes();
                if nines {
                    if b.first().is_some_and(|c| *c == b'.' || *c == b',') {
                        let n = b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
                        nanos = frac_nanos(&v[1..1 + n]);
                        v = &v[1 + n..];
                    }
                } else {
                    if b.len() < digits + 1 || !(b[0] == b'.' || b[0] == b',') {
                        return None;
                    }
                    let d = &v[1..1 + digits];
                    if !d.bytes().all(|c| c.is_ascii_digit()) {
                        return None;
                    }
                    nanos = frac_nanos(d);
                    v = &v[1 + digits..];
                }
            }
        }
        rest = suffix;
    }
    if !v.is_empty() {
        return None;
    }
    if let Some(p) = pm {
        if p && hour < 12 {
            hour += 12;
        } else if !p && hour == 12 {
            hour = 0;
        }
    }
    let mut date = jiff::civil::Date::new(year as i16, month as i8, 1).ok()?;
    if let Some(yd) = yday {
        date = date.with().day_of_year(yd as i16).build().ok()?;
    } else {
        date = jiff::civil::Date::new(year as i16, month as i8, day as i8).ok()?;
    }
    let dt = date
        .to_datetime(jiff::civil::Time::new(hour as i8, min as i8, sec as i8, nanos as i32).ok()?);
    let ts = match offset {
        Some(off) => dt
            .to_zoned(TimeZone::fixed(jiff::tz::Offset::from_seconds(off).ok()?))
            .ok()?
            .timestamp(),
        None => dt.to_zoned(tz.clone()).ok()?.timestamp(),
    };
    let tz_out = match offset {
        Some(off) => TimeZone::fixed(jiff::tz::Offset::from_seconds(off).ok()?),
        None => tz.clone(),
    };
    Some(Time {
        ns: ts.as_nanosecond(),
        tz: tz_out,
    })
}

fn frac_nanos(d: &str) -> i64 {
    let mut s: String = d.chars().take(9).collect();
    while s.len() < 9 {
        s.push('0');
    }
    s.parse().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        let t = Time::utc(1_700_000_000_123_000_000);
        assert_eq!(t.to_go_string(), "2023-11-14 22:13:20.123 +0000 UTC");
        assert_eq!(
            t.format("2006-01-02T15:04:05Z07:00"),
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(t.format("Jan _2 3:04PM .000"), "Nov 14 10:13PM .123");
        assert_eq!(t.format("Monday, 02-Jan-06"), "Tuesday, 14-Nov-23");
        let p = parse_in_location("2006-01-02 15:04:05", "2023-11-14 22:13:20", &TimeZone::UTC)
            .unwrap();
        assert_eq!(p.ns, 1_700_000_000_000_000_000);
        let p = parse_in_location(
            "2006-01-02T15:04:05.999Z07:00",
            "2023-11-14T23:13:20.5+01:00",
            &TimeZone::UTC,
        )
        .unwrap();
        assert_eq!(p.ns, 1_700_000_000_500_000_000);
        assert!(parse_in_location("2006-01-02", "nope", &TimeZone::UTC).is_none());
        assert_eq!(
            Time::zero().format("2006-01-02 15:04:05"),
            "0001-01-01 00:00:00"
        );
    }
}
