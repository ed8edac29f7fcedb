//! Go's and Prometheus' duration grammars: Go `time.ParseDuration` and
//! `Duration.String` (Go 1.22), Prometheus common `model.ParseDuration` and
//! `Duration.String` (common v0.5x).
//!
//! LogQL uses both: ranges (`[5m]`) are Prometheus durations (integer units
//! `ms s m h d w y`, biggest first), while durations elsewhere (label filters,
//! `offset`, the CLI) try Prometheus' grammar first and fall back to Go's (fractions,
//! `ns`, `us`/`µs`, negative values): [`parse_prom_or_go_duration`]. Each function is
//! named for its grammar. All durations are `i64` nanoseconds.

use super::strconv::quote;

const NS: i64 = 1;
const US: i64 = 1_000;
const MS: i64 = 1_000_000;
const SEC: i64 = 1_000_000_000;
const MIN: i64 = 60 * SEC;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;
const WEEK: i64 = 7 * DAY;
const YEAR: i64 = 365 * DAY;

/// Parses a Prometheus duration (`1h30m`, `5d`, `0`); the error text is Prometheus'.
pub fn parse_prom_duration(s: &str) -> Result<i64, String> {
    match s {
        "0" => return Ok(0),
        "" => return Err("empty duration string".into()),
        _ => {}
    }
    let invalid = || format!("not a valid duration string: {}", quote(s));
    let b = s.as_bytes();
    let mut i = 0;
    let mut total: u64 = 0;
    let mut last_pos = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            return Err(invalid());
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let v: u64 = s[start..i].parse().map_err(|_| invalid())?;
        let ustart = i;
        while i < b.len() && !b[i].is_ascii_digit() {
            i += 1;
        }
        if ustart == i {
            return Err(invalid());
        }
        let unit = &s[ustart..i];
        let (mult, pos) = match unit {
            "ms" => (MS, 7),
            "s" => (SEC, 6),
            "m" => (MIN, 5),
            "h" => (HOUR, 4),
            "d" => (DAY, 3),
            "w" => (WEEK, 2),
            "y" => (YEAR, 1),
            _ => {
                return Err(format!(
                    "unknown unit {} in duration {}",
                    quote(unit),
                    quote(s)
                ))
            }
        };
        if pos <= last_pos {
            return Err(invalid());
        }
        last_pos = pos;
        let mult = mult as u64;
        if v > (1u64 << 63) / mult {
            return Err("duration out of range".into());
        }
        total = total.saturating_add(v * mult);
        if total > i64::MAX as u64 {
            return Err("duration out of range".into());
        }
    }
    Ok(total as i64)
}

/// Parses a Go `time.ParseDuration` string (`1.5h`, `-250ms`, `3µs`).
pub fn parse_go_duration(s: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", quote(s));
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let b = rest.as_bytes();
        if !(b[0] == b'.' || b[0].is_ascii_digit()) {
            return Err(invalid());
        }
        let mut i = 0;
        let mut int: u128 = 0;
        while i < b.len() && b[i].is_ascii_digit() {
            int = int.saturating_mul(10).saturating_add((b[i] - b'0') as u128);
            i += 1;
        }
        let pre = i > 0;
        let mut frac: u128 = 0;
        let mut scale: u128 = 1;
        let mut post = false;
        if i < b.len() && b[i] == b'.' {
            i += 1;
            let fs = i;
            while i < b.len() && b[i].is_ascii_digit() {
                if scale < 1_000_000_000_000_000_000 {
                    frac = frac * 10 + (b[i] - b'0') as u128;
                    scale *= 10;
                }
                i += 1;
            }
            post = i > fs;
        }
        if !pre && !post {
            return Err(invalid());
        }
        let us = i;
        while i < b.len() && !(b[i] == b'.' || b[i].is_ascii_digit()) {
            i += 1;
        }
        if us == i {
            return Err(format!("time: missing unit in duration {}", quote(s)));
        }
        let unit = match &rest[us..i] {
            "ns" => NS,
            "us" | "µs" | "μs" => US,
            "ms" => MS,
            "s" => SEC,
            "m" => MIN,
            "h" => HOUR,
            u => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    quote(u),
                    quote(s)
                ))
            }
        } as u128;
        total = total
            .saturating_add(int.saturating_mul(unit))
            .saturating_add(frac * unit / scale);
        if total > (1u128 << 63) {
            return Err(invalid());
        }
        rest = &rest[i..];
    }
    if !neg && total > i64::MAX as u128 {
        return Err(invalid());
    }
    Ok(if neg {
        (total as i128).wrapping_neg() as i64
    } else {
        total as i64
    })
}

/// Loki's `parseDuration` (`pkg/logql/syntax/lex.go`): Prometheus' grammar first, then
/// Go's; the error is Go's.
pub fn parse_prom_or_go_duration(s: &str) -> Result<i64, String> {
    parse_prom_duration(s).or_else(|_| parse_go_duration(s))
}

/// Loki's `parseSecondsOrDuration` (`pkg/loghttp/params.go`), how its HTTP
/// API reads `step`: a float number of seconds (`300`, `30.5`) first, then a
/// Prometheus duration (`5m`); the error texts are Loki's.
pub fn parse_seconds_or_duration(s: &str) -> Result<i64, String> {
    if let Ok(secs) = super::strconv::parse_float(s) {
        let ns = secs * SEC as f64;
        // Go converts a NaN to int64 as the most negative value.
        if ns.is_nan() {
            return Ok(i64::MIN);
        }
        if ns > i64::MAX as f64 || ns < i64::MIN as f64 {
            return Err(format!(
                "cannot parse {} to a valid duration. It overflows int64",
                quote(s)
            ));
        }
        return Ok(ns as i64);
    }
    parse_prom_duration(s).map_err(|_| format!("cannot parse {} to a valid duration", quote(s)))
}

/// Formats like Prometheus `model.Duration.String()` (`5m`, `1d`, `90d`, `1h30m`).
pub fn format_prom_duration(ns: i64) -> String {
    let mut ms = ns / MS;
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    if ms < 0 {
        out.push('-');
        ms = -ms;
    }
    let units: [(&str, i64, bool); 7] = [
        ("y", 1000 * 60 * 60 * 24 * 365, true),
        ("w", 1000 * 60 * 60 * 24 * 7, true),
        ("d", 1000 * 60 * 60 * 24, false),
        ("h", 1000 * 60 * 60, false),
        ("m", 1000 * 60, false),
        ("s", 1000, false),
        ("ms", 1, false),
    ];
    for (unit, mult, exact) in units {
        if exact && ms % mult != 0 {
            continue;
        }
        let v = ms / mult;
        if v > 0 {
            out.push_str(&format!("{v}{unit}"));
            ms -= v * mult;
        }
    }
    out
}

/// Formats like Go's `time.Duration.String()` (`1h0m0s`, `250ms`, `1.5µs`).
pub fn format_go_duration(ns: i64) -> String {
    let neg = ns < 0;
    let mut u = ns.unsigned_abs();
    let mut out = String::new();
    if u < SEC as u64 {
        if u == 0 {
            return "0s".into();
        }
        let (prec, unit) = if u < US as u64 {
            (0, "ns")
        } else if u < MS as u64 {
            (3, "µs")
        } else {
            (6, "ms")
        };
        let (frac, int) = frac_part(u, prec);
        out.push_str(&int.to_string());
        out.push_str(&frac);
        out.push_str(unit);
    } else {
        let (frac, secs) = frac_part(u, 9);
        u = secs;
        let s = u % 60;
        u /= 60;
        if u > 0 {
            let m = u % 60;
            u /= 60;
            if u > 0 {
                out.push_str(&format!("{u}h"));
            }
            out.push_str(&format!("{m}m"));
        }
        out.push_str(&format!("{s}{frac}s"));
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

/// Splits `v` into `v / 10^prec` and the fraction digits (".5", trailing zeros dropped).
fn frac_part(v: u64, prec: u32) -> (String, u64) {
    if prec == 0 {
        return (String::new(), v);
    }
    let p = 10u64.pow(prec);
    let frac = v % p;
    if frac == 0 {
        return (String::new(), v / p);
    }
    let digits = format!("{:0width$}", frac, width = prec as usize);
    (format!(".{}", digits.trim_end_matches('0')), v / p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_or_durations_as_loki_reads_a_step() {
        assert_eq!(parse_seconds_or_duration("300"), Ok(300 * SEC));
        assert_eq!(parse_seconds_or_duration("30.5"), Ok(30 * SEC + 500 * MS));
        assert_eq!(parse_seconds_or_duration("5m"), Ok(5 * MIN));
        assert_eq!(parse_seconds_or_duration("-5"), Ok(-5 * SEC));
        assert_eq!(
            parse_seconds_or_duration("-5m"),
            Err("cannot parse \"-5m\" to a valid duration".into())
        );
        assert!(parse_seconds_or_duration("1e300")
            .unwrap_err()
            .contains("overflows"));
    }

    #[test]
    fn prom_durations() {
        assert_eq!(parse_prom_duration("5m"), Ok(5 * MIN));
        assert_eq!(parse_prom_duration("1h30m"), Ok(90 * MIN));
        assert_eq!(parse_prom_duration("1y"), Ok(YEAR));
        assert_eq!(
            parse_prom_duration("5minutes").unwrap_err(),
            r#"unknown unit "minutes" in duration "5minutes""#
        );
        assert!(parse_prom_duration("1.5h").is_err());
        assert!(parse_prom_duration("30m1h").is_err());
    }

    #[test]
    fn go_durations() {
        assert_eq!(
            parse_prom_or_go_duration("1h15m30.918273645s"),
            Ok(HOUR + 15 * MIN + 30_918_273_645)
        );
        assert_eq!(parse_prom_or_go_duration("-1s"), Ok(-SEC));
        assert_eq!(parse_prom_or_go_duration("3µs"), Ok(3 * US));
        assert_eq!(parse_prom_or_go_duration("1h0.0m0s"), Ok(HOUR));
        assert!(parse_prom_or_go_duration("5").is_err());
    }

    #[test]
    fn formats() {
        assert_eq!(format_prom_duration(5 * MIN), "5m");
        assert_eq!(format_prom_duration(DAY), "1d");
        assert_eq!(format_prom_duration(90 * DAY), "90d");
        assert_eq!(format_prom_duration(14 * DAY), "2w");
        assert_eq!(format_go_duration(HOUR), "1h0m0s");
        assert_eq!(format_go_duration(20 * MIN), "20m0s");
        assert_eq!(format_go_duration(250 * MS), "250ms");
        assert_eq!(format_go_duration(1_500 * NS), "1.5µs");
        assert_eq!(format_go_duration(-SEC), "-1s");
        assert_eq!(format_go_duration(90 * SEC + 500 * MS), "1m30.5s");
    }

    #[test]
    fn durations_like_go() {
        assert_eq!(parse_go_duration("1h30m"), Ok(5_400_000_000_000));
        assert_eq!(parse_go_duration("1.5h"), Ok(5_400_000_000_000));
        assert_eq!(parse_go_duration("-5s"), Ok(-5_000_000_000));
        assert_eq!(parse_go_duration("3600000000µs"), Ok(3_600_000_000_000));
        assert_eq!(parse_go_duration("0"), Ok(0));
        assert_eq!(
            parse_go_duration("90").unwrap_err(),
            "time: missing unit in duration \"90\""
        );
        assert_eq!(
            parse_go_duration("1d").unwrap_err(),
            "time: unknown unit \"d\" in duration \"1d\""
        );
        assert_eq!(
            parse_go_duration("oops").unwrap_err(),
            "time: invalid duration \"oops\""
        );
    }
}
