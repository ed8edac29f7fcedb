//! Shared low-level pieces: the fields read from a timestamp before they
//! become an instant, digit and name readers, and calendar arithmetic.
//!
//! Everything here works on byte slices with explicit bounds checks and
//! never allocates, because it runs once or more per ingested line.

/// Nanoseconds in a second.
pub(crate) const NS_PER_SEC: i64 = 1_000_000_000;

/// Fields read from a timestamp, before year inference and zone conversion.
///
/// Kept `Copy` and small so detectors can return it by value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Parsed {
    /// `None` for yearless styles (syslog, klog, logcat, `%m-%d` formats).
    pub year: Option<i32>,
    /// 1-12; 0 when the day of the year is given instead.
    pub month: u8,
    /// 1-31; 0 when the day of the year is given instead.
    pub day: u8,
    /// 1-366, or 0 when month and day are given.
    pub yday: u16,
    /// 0-23, or 1-12 when `pm` is set.
    pub hour: u8,
    pub minute: u8,
    /// 0-60 (60 only for a leap second, which lands on the next minute).
    pub second: u8,
    pub nanos: u32,
    /// `Some(true)` for PM, `Some(false)` for AM: `hour` is then a 12-hour clock.
    pub pm: Option<bool>,
    /// Offset east of UTC in seconds when the text carried one.
    pub offset: Option<i32>,
    /// Set when the text was an epoch number: the instant itself.
    pub epoch_ns: Option<i64>,
    /// Set for `dmesg` uptimes: nanoseconds since boot.
    pub uptime_ns: Option<i64>,
    /// The text named a zone abbreviation that is not in [`zone_abbr`]'s
    /// table (or is ambiguous): the configured zone was applied instead.
    pub zone_unknown: bool,
}

impl Parsed {
    /// A parse result that is already an instant.
    pub(crate) fn epoch(ns: i64) -> Self {
        Parsed {
            epoch_ns: Some(ns),
            ..Parsed::default()
        }
    }

    /// Checks the ranges that do not depend on the year (the day of month
    /// is checked against the month once the year is known).
    pub(crate) fn plausible(&self) -> bool {
        if self.epoch_ns.is_some() || self.uptime_ns.is_some() {
            return true;
        }
        let date_ok = if self.yday != 0 {
            self.yday <= 366
        } else {
            (1..=12).contains(&self.month)
                && self.day >= 1
                && self.day <= self.year.map_or(31, |y| days_in_month(y, self.month))
        };
        let hour_ok = match self.pm {
            Some(_) => (1..=12).contains(&self.hour),
            None => self.hour < 24,
        };
        date_ok && hour_ok && self.minute < 60 && self.second <= 60 && self.nanos < 1_000_000_000
    }
}

/// The byte at `i`, or 0 past the end (0 never matches anything we look for).
#[inline(always)]
pub(crate) fn at(b: &[u8], i: usize) -> u8 {
    b.get(i).copied().unwrap_or(0)
}

/// Value of the ASCII digit at `i`, if there is one.
#[inline(always)]
pub(crate) fn digit(b: &[u8], i: usize) -> Option<u32> {
    let d = at(b, i).wrapping_sub(b'0');
    (d < 10).then_some(d as u32)
}

/// Exactly two digits at `i`.
#[inline(always)]
pub(crate) fn d2(b: &[u8], i: usize) -> Option<u32> {
    Some(digit(b, i)? * 10 + digit(b, i + 1)?)
}

/// Exactly four digits at `i`.
#[inline(always)]
pub(crate) fn d4(b: &[u8], i: usize) -> Option<u32> {
    Some(d2(b, i)? * 100 + d2(b, i + 2)?)
}

/// Between `min` and `max` digits at `i` (greedy): value and end index.
#[inline]
pub(crate) fn digits_between(b: &[u8], i: usize, min: usize, max: usize) -> Option<(u32, usize)> {
    let mut v = 0u32;
    let mut j = i;
    while j - i < max {
        match digit(b, j) {
            Some(d) => v = v * 10 + d,
            None => break,
        }
        j += 1;
    }
    (j - i >= min).then_some((v, j))
}

/// A run of fraction digits at `i` (at least one): nanoseconds and end index.
/// Digits past the ninth are consumed and dropped, as Go and RFC 3339 allow.
#[inline]
pub(crate) fn fraction(b: &[u8], i: usize) -> Option<(u32, usize)> {
    let mut ns = 0u32;
    let mut j = i;
    while let Some(d) = digit(b, j) {
        if j - i < 9 {
            ns = ns * 10 + d;
        }
        j += 1;
    }
    let n = j - i;
    if n == 0 {
        return None;
    }
    if n < 9 {
        ns *= 10u32.pow((9 - n) as u32);
    }
    Some((ns, j))
}

/// Exactly `n` fraction digits at `i` (1..=9): nanoseconds and end index.
#[inline]
pub(crate) fn fraction_exact(b: &[u8], i: usize, n: usize) -> Option<(u32, usize)> {
    let (v, j) = digits_between(b, i, n, n)?;
    Some((v * 10u32.pow((9 - n) as u32), j))
}

/// Packs three ASCII letters lower-cased, for name lookups without a table scan.
#[inline(always)]
fn key3(b: &[u8], i: usize) -> u32 {
    let l = |x: u8| (x | 0x20) as u32;
    (l(at(b, i)) << 16) | (l(at(b, i + 1)) << 8) | l(at(b, i + 2))
}

const MONTHS: [&[u8]; 12] = [
    b"january",
    b"february",
    b"march",
    b"april",
    b"may",
    b"june",
    b"july",
    b"august",
    b"september",
    b"october",
    b"november",
    b"december",
];

const WEEKDAYS: [&[u8]; 7] = [
    b"monday",
    b"tuesday",
    b"wednesday",
    b"thursday",
    b"friday",
    b"saturday",
    b"sunday",
];

/// A three-letter month abbreviation at `i` (any case): month 1-12.
#[inline]
pub(crate) fn month_abbr(b: &[u8], i: usize) -> Option<u8> {
    let m = match key3(b, i) {
        0x6a616e => 1,  // jan
        0x666562 => 2,  // feb
        0x6d6172 => 3,  // mar
        0x617072 => 4,  // apr
        0x6d6179 => 5,  // may
        0x6a756e => 6,  // jun
        0x6a756c => 7,  // jul
        0x617567 => 8,  // aug
        0x736570 => 9,  // sep
        0x6f6374 => 10, // oct
        0x6e6f76 => 11, // nov
        0x646563 => 12, // dec
        _ => return None,
    };
    Some(m)
}

/// A three-letter weekday abbreviation at `i` (any case): 0 = Monday.
#[inline]
pub(crate) fn weekday_abbr(b: &[u8], i: usize) -> Option<u8> {
    let d = match key3(b, i) {
        0x6d6f6e => 0, // mon
        0x747565 => 1, // tue
        0x776564 => 2, // wed
        0x746875 => 3, // thu
        0x667269 => 4, // fri
        0x736174 => 5, // sat
        0x73756e => 6, // sun
        _ => return None,
    };
    Some(d)
}

/// Length of `full[3..]` matched case-insensitively at `i`, else 0: lets
/// `January` and `Jan` both be read by one name item.
fn rest_of_name(b: &[u8], i: usize, full: &[u8]) -> usize {
    let rest = &full[3..];
    let ok = b.len() >= i + rest.len()
        && b[i..i + rest.len()]
            .iter()
            .zip(rest)
            .all(|(x, y)| x.to_ascii_lowercase() == *y);
    if ok {
        rest.len()
    } else {
        0
    }
}

/// A month name, abbreviated or full, at `i`: month and end index.
pub(crate) fn month_name(b: &[u8], i: usize) -> Option<(u8, usize)> {
    let m = month_abbr(b, i)?;
    let j = i + 3;
    Some((m, j + rest_of_name(b, j, MONTHS[m as usize - 1])))
}

/// A weekday name, abbreviated or full, at `i`: end index.
pub(crate) fn weekday_name(b: &[u8], i: usize) -> Option<usize> {
    let d = weekday_abbr(b, i)?;
    let j = i + 3;
    Some(j + rest_of_name(b, j, WEEKDAYS[d as usize]))
}

/// A numeric UTC offset at `i`: `Z`, `±hh`, `±hhmm`, `±hh:mm`, `±hh:mm:ss`
/// or `±hhmmss`. Returns seconds east of UTC and the end index.
pub(crate) fn offset(b: &[u8], i: usize) -> Option<(i32, usize)> {
    let sign = match at(b, i) {
        b'Z' | b'z' => return Some((0, i + 1)),
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let hh = d2(b, i + 1)?;
    let mut j = i + 3;
    let mut secs = hh * 3600;
    // `±hh:mm[:ss]` or `±hhmm[ss]`: the separator, if any, must be the same throughout.
    let colon = at(b, j) == b':';
    let sep = usize::from(colon);
    if let Some(mm) = d2(b, j + sep) {
        if mm >= 60 {
            return None;
        }
        secs += mm * 60;
        j += sep + 2;
        if (at(b, j) == b':') == colon {
            if let Some(ss) = d2(b, j + sep).filter(|&ss| ss < 60) {
                secs += ss;
                j += sep + 2;
            }
        }
    }
    // A digit right after means this was not an offset but part of a number.
    if hh > 23 || digit(b, j).is_some() {
        return None;
    }
    Some((sign * secs as i32, j))
}

/// Offsets (seconds east of UTC) of the zone abbreviations lokal applies:
/// UTC and its spellings, the US zones and the European ones. A name may
/// mean different zones elsewhere (`CST` is also China Standard Time, `IST`
/// India, Ireland or Israel): the table holds only US and European meanings,
/// and leaves out names without one clear meaning there (`IST`, `AST`).
/// README "Timestamps" repeats this table.
pub(crate) const ZONE_ABBRS: &[(&str, i32)] = &[
    ("UTC", 0),
    ("UT", 0),
    ("GMT", 0),
    ("Z", 0),
    ("EST", -5 * 3600),
    ("EDT", -4 * 3600),
    ("CST", -6 * 3600),
    ("CDT", -5 * 3600),
    ("MST", -7 * 3600),
    ("MDT", -6 * 3600),
    ("PST", -8 * 3600),
    ("PDT", -7 * 3600),
    ("AKST", -9 * 3600),
    ("AKDT", -8 * 3600),
    ("HST", -10 * 3600),
    ("WET", 0),
    ("WEST", 3600),
    ("BST", 3600),
    ("CET", 3600),
    ("CEST", 2 * 3600),
    ("MET", 3600),
    ("MEST", 2 * 3600),
    ("EET", 2 * 3600),
    ("EEST", 3 * 3600),
    ("MSK", 3 * 3600),
];

/// The offset of a zone abbreviation (exact case) from [`ZONE_ABBRS`].
pub(crate) fn zone_abbr(name: &[u8]) -> Option<i32> {
    ZONE_ABBRS
        .iter()
        .find(|(n, _)| n.as_bytes() == name)
        .map(|&(_, o)| o)
}

/// Whether `y` is a Gregorian leap year.
#[inline]
pub(crate) fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Days in month `m` (1-12) of year `y`.
#[inline]
pub(crate) fn days_in_month(y: i32, m: u8) -> u8 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Month and day of day-of-year `yday` (1-based) in year `y`.
pub(crate) fn yday_to_md(y: i32, yday: u16) -> Option<(u8, u8)> {
    let mut left = yday;
    for m in 1..=12u8 {
        let n = days_in_month(y, m) as u16;
        if left >= 1 && left <= n {
            return Some((m, left as u8));
        }
        left = left.checked_sub(n)?;
    }
    None
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`): branch-light, so the UTC fast path needs no table or
/// library call per line. Cross-checked against jiff in the tests.
#[inline]
pub(crate) fn days_from_civil(y: i32, m: u8, d: u8) -> i64 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The UTC year of an instant (ns), by H. Hinnant's `civil_from_days`:
/// no zone lookup per line.
pub(crate) fn utc_year(ns: i64) -> i32 {
    let z = ns.div_euclid(NS_PER_SEC).div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2)) as i32
}

/// An unsigned integer of at most 19 digits at `i`: value, digit count, end.
#[inline]
pub(crate) fn uint(b: &[u8], i: usize) -> Option<(u64, usize, usize)> {
    let mut v = 0u64;
    let mut j = i;
    while let Some(d) = digit(b, j) {
        if j - i == 19 {
            return None;
        }
        v = v * 10 + u64::from(d);
        j += 1;
    }
    (j > i).then_some((v, j - i, j))
}

/// Unit of an epoch number, as nanoseconds per unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unit {
    Sec = 1_000_000_000,
    Milli = 1_000_000,
    Micro = 1_000,
    Nano = 1,
}

impl Unit {
    /// The unit an epoch number most likely has, from its magnitude: below
    /// 1e11 seconds (up to year 5138), below 1e14 milliseconds, below 1e17
    /// microseconds, else nanoseconds. Any current timestamp falls well inside
    /// one band whatever its unit.
    pub(crate) fn by_magnitude(v: u64) -> Unit {
        match v {
            0..100_000_000_000 => Unit::Sec,
            100_000_000_000..100_000_000_000_000 => Unit::Milli,
            100_000_000_000_000..100_000_000_000_000_000 => Unit::Micro,
            _ => Unit::Nano,
        }
    }
}

/// Nanoseconds of `int` units plus the fraction digits `frac` of one unit.
pub(crate) fn epoch_ns(int: u64, unit: Unit, frac: &[u8]) -> Option<i64> {
    let per = unit as i64;
    let mut ns = i64::try_from(int).ok()?.checked_mul(per)?;
    let mut scale = per;
    for &c in frac {
        scale /= 10;
        if scale == 0 {
            break;
        }
        ns = ns.checked_add(i64::from(c - b'0') * scale)?;
    }
    Some(ns)
}

/// An epoch number at `i`: digits with an optional `.digits` fraction, in
/// `unit` or, when `None`, in the unit its magnitude suggests. Returns the
/// instant and the end index.
pub(crate) fn epoch_number(b: &[u8], i: usize, unit: Option<Unit>) -> Option<(i64, usize)> {
    let (v, _, mut j) = uint(b, i)?;
    let unit = unit.unwrap_or_else(|| Unit::by_magnitude(v));
    let mut frac: &[u8] = &[];
    if at(b, j) == b'.' && digit(b, j + 1).is_some() {
        let s = j + 1;
        j = s;
        while digit(b, j).is_some() {
            j += 1;
        }
        frac = &b[s..j];
    }
    Some((epoch_ns(v, unit, frac)?, j))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_from_civil_matches_jiff() {
        for (y, m, d) in [
            (1970, 1, 1),
            (2000, 2, 29),
            (1969, 12, 31),
            (2262, 4, 11),
            (1600, 3, 1),
        ] {
            let jd = jiff::civil::date(y as i16, m as i8, d as i8);
            let want = jd.since(jiff::civil::date(1970, 1, 1)).unwrap().get_days() as i64;
            assert_eq!(days_from_civil(y, m, d), want, "{y}-{m}-{d}");
        }
    }

    #[test]
    fn offsets() {
        assert_eq!(offset(b"Z", 0), Some((0, 1)));
        assert_eq!(offset(b"+02:00 x", 0), Some((7200, 6)));
        assert_eq!(offset(b"-0700]", 0), Some((-25200, 5)));
        assert_eq!(offset(b"+05", 0), Some((18000, 3)));
        assert_eq!(offset(b"+05:30:15", 0), Some((19815, 9)));
        assert_eq!(offset(b"+053015", 0), Some((19815, 7)));
        assert_eq!(offset(b"-12345678", 0), None);
        assert_eq!(offset(b"+25:00", 0), None);
        assert_eq!(offset(b"+01:61", 0), None);
        assert_eq!(offset(b"1", 0), None);
    }

    #[test]
    fn fractions() {
        assert_eq!(fraction(b"5", 0), Some((500_000_000, 1)));
        assert_eq!(fraction(b"123456789123x", 0), Some((123_456_789, 12)));
        assert_eq!(fraction(b"x", 0), None);
        assert_eq!(fraction_exact(b"0123", 0, 3), Some((12_000_000, 3)));
        assert_eq!(fraction_exact(b"01", 0, 3), None);
    }

    #[test]
    fn names() {
        assert_eq!(month_name(b"Jan 1", 0), Some((1, 3)));
        assert_eq!(month_name(b"SEPTEMBER", 0), Some((9, 9)));
        assert_eq!(month_name(b"Sept", 0), Some((9, 3)));
        assert_eq!(month_name(b"Foo", 0), None);
        assert_eq!(weekday_name(b"Wednesday,", 0), Some(9));
        assert_eq!(weekday_name(b"wed,", 0), Some(3));
        assert_eq!(weekday_name(b"We", 0), None);
    }

    #[test]
    fn epochs() {
        assert_eq!(
            epoch_number(b"1446249499322,", 0, None),
            Some((1_446_249_499_322_000_000, 13))
        );
        assert_eq!(
            epoch_number(b"1715083182.707:", 0, None),
            Some((1_715_083_182_707_000_000, 14))
        );
        assert_eq!(
            epoch_number(b"1715083182707123", 0, None),
            Some((1_715_083_182_707_123_000, 16))
        );
        assert_eq!(
            epoch_number(b"1715083182707123456", 0, None),
            Some((1_715_083_182_707_123_456, 19))
        );
        assert_eq!(
            epoch_number(b"12", 0, Some(Unit::Milli)),
            Some((12_000_000, 2))
        );
        assert_eq!(epoch_number(b"99999999999999999999", 0, None), None);
        assert_eq!(
            epoch_number(b"9999999999999999999", 0, Some(Unit::Sec)),
            None
        );
    }

    #[test]
    fn utc_years() {
        for s in [
            -86_400_i64,
            0,
            951_782_400,
            1_704_067_199,
            1_704_067_200,
            4_102_444_800,
        ] {
            let want = jiff::Timestamp::from_second(s)
                .unwrap()
                .to_zoned(jiff::tz::TimeZone::UTC);
            assert_eq!(utc_year(s * NS_PER_SEC), i32::from(want.year()), "{s}");
        }
    }

    #[test]
    fn zone_table() {
        assert_eq!(zone_abbr(b"PDT"), Some(-7 * 3600));
        assert_eq!(zone_abbr(b"CEST"), Some(7200));
        assert_eq!(zone_abbr(b"IST"), None);
        assert_eq!(zone_abbr(b"pdt"), None);
        // Every name is upper case and listed once.
        for (i, (n, _)) in ZONE_ABBRS.iter().enumerate() {
            assert!(n.bytes().all(|c| c.is_ascii_uppercase()), "{n}");
            assert!(!ZONE_ABBRS[..i].iter().any(|(m, _)| m == n), "{n} twice");
        }
    }

    #[test]
    fn yday() {
        assert_eq!(yday_to_md(2024, 60), Some((2, 29)));
        assert_eq!(yday_to_md(2023, 60), Some((3, 1)));
        assert_eq!(yday_to_md(2023, 366), None);
        assert_eq!(yday_to_md(2024, 366), Some((12, 31)));
        assert_eq!(yday_to_md(2024, 0), None);
    }
}
