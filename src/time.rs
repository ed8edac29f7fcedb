//! Time helpers: UTC days for partitioning, RFC 3339 formatting.

/// Nanoseconds in a day.
pub const NANOS_PER_DAY: i64 = 86_400_000_000_000;

/// The UTC day number (days since 1970-01-01) holding `ts` (ns).
pub fn day_of(ts: i64) -> i64 {
    ts.div_euclid(NANOS_PER_DAY)
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
    fn rfc3339() {
        assert_eq!(
            rfc3339_nano(1_704_067_201_500_000_000),
            "2024-01-01T00:00:01.5Z"
        );
    }
}
