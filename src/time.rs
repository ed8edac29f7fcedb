//! Time helpers: the half-open [`TimeRange`] every query takes, UTC days
//! for partitioning, RFC 3339 formatting, and command-line time arguments.

/// Nanoseconds in a day.
pub const NANOS_PER_DAY: i64 = 86_400_000_000_000;

/// A half-open range of timestamps, ns since the epoch: `start` is included,
/// `end` is not.
///
/// The one range type of the library: a log query, a label or series lookup
/// and the planner all take one, so no caller adds or subtracts a nanosecond
/// to convert between conventions. Stored bounds (a block's or a segment's
/// `min_t`/`max_t`) are inclusive and meet a range through
/// [`TimeRange::overlaps`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeRange {
    /// First timestamp included.
    pub start: i64,
    /// First timestamp after the range (excluded).
    pub end: i64,
}

impl TimeRange {
    /// Every representable timestamp but `i64::MAX`.
    pub const ALL: TimeRange = TimeRange {
        start: i64::MIN,
        end: i64::MAX,
    };

    /// `[start, end)`.
    pub const fn new(start: i64, end: i64) -> TimeRange {
        TimeRange { start, end }
    }

    /// The range holding exactly `ts`.
    pub const fn at(ts: i64) -> TimeRange {
        TimeRange {
            start: ts,
            end: ts.saturating_add(1),
        }
    }

    /// The left-open range `(after, upto]` of a Prometheus-style window.
    pub const fn left_open(after: i64, upto: i64) -> TimeRange {
        TimeRange {
            start: after.saturating_add(1),
            end: upto.saturating_add(1),
        }
    }

    /// True when no timestamp is in the range.
    pub const fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// True when `ts` is in the range.
    #[inline]
    pub const fn contains(&self, ts: i64) -> bool {
        self.start <= ts && ts < self.end
    }

    /// True when the inclusive span `[min_t, max_t]` (how blocks, segments
    /// and index series record their times) shares a timestamp with the range.
    #[inline]
    pub const fn overlaps(&self, min_t: i64, max_t: i64) -> bool {
        max_t >= self.start && min_t < self.end
    }

    /// True when the inclusive span `[min_t, max_t]` lies wholly in the range.
    #[inline]
    pub const fn covers(&self, min_t: i64, max_t: i64) -> bool {
        self.start <= min_t && max_t < self.end
    }

    /// The last timestamp in the range (`end - 1`); meaningful only for a
    /// non-empty range.
    pub const fn last(&self) -> i64 {
        self.end.saturating_sub(1)
    }
}

impl std::fmt::Display for TimeRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}, {})", self.start, self.end)
    }
}

/// The UTC day number (days since 1970-01-01) holding `ts` (ns).
pub fn day_of(ts: i64) -> i64 {
    ts.div_euclid(NANOS_PER_DAY)
}

/// Parses `YYYY-MM-DD` into days since the epoch.
pub fn parse_day(day: &str) -> Option<i64> {
    let d: jiff::civil::Date = day.parse().ok()?;
    let epoch = jiff::civil::date(1970, 1, 1);
    Some(i64::from(epoch.until(d).ok()?.get_days()))
}

/// `YYYY-MM-DD` of a day number.
pub fn day_string(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Converts days since the epoch to a proleptic Gregorian date
/// (Howard Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// RFC 3339 with nanoseconds, trailing zeros trimmed, in UTC (Go's
/// `time.RFC3339Nano`), e.g. `2024-01-01T00:00:01.5Z`.
pub fn rfc3339_nano(ts: i64) -> String {
    match jiff::Timestamp::from_nanosecond(i128::from(ts)) {
        Ok(t) => t.to_string(),
        Err(_) => ts.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days() {
        assert_eq!(day_string(0), "1970-01-01");
        assert_eq!(day_string(day_of(1_704_067_200_000_000_000)), "2024-01-01");
        assert_eq!(day_string(day_of(-1)), "1969-12-31");
        assert_eq!(day_string(day_of(951_782_400_000_000_000)), "2000-02-29");
    }

    #[test]
    fn ranges_are_half_open() {
        let r = TimeRange::new(10, 20);
        assert!(r.contains(10) && r.contains(19) && !r.contains(20) && !r.contains(9));
        assert!(r.overlaps(19, 30) && !r.overlaps(20, 30) && r.overlaps(0, 10));
        assert!(!r.overlaps(0, 9));
        assert!(r.covers(10, 19) && !r.covers(10, 20));
        assert_eq!(r.last(), 19);
        assert!(TimeRange::new(5, 5).is_empty() && TimeRange::new(5, 4).is_empty());
        assert_eq!(TimeRange::at(7), TimeRange::new(7, 8));
        assert_eq!(TimeRange::left_open(7, 9), TimeRange::new(8, 10));
        assert_eq!(TimeRange::at(i64::MAX).end, i64::MAX);
    }

    #[test]
    fn days_parse() {
        assert_eq!(parse_day("1970-01-01"), Some(0));
        assert_eq!(
            parse_day("2024-01-01"),
            Some(day_of(1_704_067_200_000_000_000))
        );
        assert_eq!(parse_day("1969-12-31"), Some(-1));
        assert_eq!(parse_day("nope"), None);
    }

    #[test]
    fn rfc3339() {
        assert_eq!(
            rfc3339_nano(1_704_067_201_500_000_000),
            "2024-01-01T00:00:01.5Z"
        );
    }
}

/// The error of a time beyond what nanoseconds since the epoch in an i64 hold.
fn out_of_range(s: &str) -> String {
    format!("time {s:?} is out of range: times go from 1677-09-21 to 2262-04-11 (nanoseconds in 64 bits)")
}

/// Parses a time given on the command line: RFC 3339 (with or without
/// fraction and offset; without an offset in `tz`), unix seconds (fraction
/// allowed), unix ms/ns by magnitude, `now`, or `now±DURATION` (`now-2h`).
pub fn parse_time_arg(s: &str, now_ns: i64, tz: &jiff::tz::TimeZone) -> Result<i64, String> {
    let t = s.trim();
    if let Some(rest) = t.strip_prefix("now") {
        if rest.is_empty() {
            return Ok(now_ns);
        }
        let (sign, d) = match rest.as_bytes()[0] {
            b'-' => (-1i64, &rest[1..]),
            b'+' => (1i64, &rest[1..]),
            _ => {
                return Err(format!(
                    "invalid time {s:?}: expected now, now-2h or now+5m"
                ))
            }
        };
        let d = crate::units::parse_duration(d)?;
        return i64::try_from(d.as_nanos())
            .ok()
            .and_then(|d| now_ns.checked_add(sign * d))
            .ok_or_else(|| out_of_range(s));
    }
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        if let Some((secs, frac)) = t.split_once('.') {
            let whole: i64 = secs.parse().map_err(|_| out_of_range(s))?;
            let f: f64 = format!("0.{frac}")
                .parse()
                .map_err(|_| format!("invalid time {s:?}"))?;
            return whole
                .checked_mul(1_000_000_000)
                .and_then(|n| n.checked_add((f * 1e9).round() as i64))
                .ok_or_else(|| out_of_range(s));
        }
        let n: i64 = t.parse().map_err(|_| out_of_range(s))?;
        // Seconds until year 5138, then ms, µs, ns by magnitude.
        let scale = match n.unsigned_abs() {
            0..=99_999_999_999 => 1_000_000_000,
            100_000_000_000..=99_999_999_999_999 => 1_000_000,
            100_000_000_000_000..=99_999_999_999_999_999 => 1_000,
            _ => 1,
        };
        return n.checked_mul(scale).ok_or_else(|| out_of_range(s));
    }
    if let Ok(ts) = t.parse::<jiff::Timestamp>() {
        return i64::try_from(ts.as_nanosecond()).map_err(|_| out_of_range(s));
    }
    if let Ok(dt) = t.parse::<jiff::civil::DateTime>() {
        let z = dt
            .to_zoned(tz.clone())
            .map_err(|e| format!("invalid time {s:?}: {e}"))?;
        return i64::try_from(z.timestamp().as_nanosecond()).map_err(|_| out_of_range(s));
    }
    if let Ok(d) = t.parse::<jiff::civil::Date>() {
        let z = d
            .to_zoned(tz.clone())
            .map_err(|e| format!("invalid time {s:?}: {e}"))?;
        return i64::try_from(z.timestamp().as_nanosecond()).map_err(|_| out_of_range(s));
    }
    Err(format!(
        "invalid time {s:?}: use RFC 3339 (2024-01-02T15:04:05Z), a date, unix seconds, or now-DURATION"
    ))
}

#[cfg(test)]
mod arg_tests {
    use super::*;

    /// Times past an i64 of nanoseconds are refused with a message, never
    /// a panic (14 digits read as ms overflowed once).
    #[test]
    fn out_of_range_times_say_so() {
        let utc = jiff::tz::TimeZone::UTC;
        let now = 1_700_000_000_000_000_000;
        for t in [
            "99999999999999",
            "99999999999.5",
            "99999999999999999999",
            "now-300y",
            "now+250y",
            "3000-01-01",
            "1500-01-01T00:00:00Z",
        ] {
            let e = parse_time_arg(t, now, &utc).unwrap_err();
            assert!(e.contains("out of range"), "{t}: {e}");
        }
    }

    #[test]
    fn time_args() {
        let utc = jiff::tz::TimeZone::UTC;
        let now = 1_700_000_000_000_000_000;
        assert_eq!(parse_time_arg("now", now, &utc).unwrap(), now);
        assert_eq!(
            parse_time_arg("now-1h", now, &utc).unwrap(),
            now - 3_600_000_000_000
        );
        assert_eq!(parse_time_arg("1700000000", now, &utc).unwrap(), now);
        assert_eq!(
            parse_time_arg("1700000000.5", now, &utc).unwrap(),
            now + 500_000_000
        );
        assert_eq!(parse_time_arg("1700000000000", now, &utc).unwrap(), now);
        assert_eq!(
            parse_time_arg("2023-11-14T22:13:20Z", now, &utc).unwrap(),
            now
        );
        assert_eq!(
            parse_time_arg("2023-11-14T22:13:20", now, &utc).unwrap(),
            now
        );
        assert_eq!(
            parse_time_arg("2023-11-14", now, &utc).unwrap(),
            1_699_920_000_000_000_000
        );
        assert!(parse_time_arg("yesterday", now, &utc).is_err());
    }
}
