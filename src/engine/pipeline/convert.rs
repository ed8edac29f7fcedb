//! Go's value parsers as Loki uses them on label values: `strconv.ParseFloat`,
//! `time.ParseDuration` and `humanize.ParseBytes`, with Go's error texts (they end up
//! in `__error_details__` and in the engine's error messages).

use crate::model::go_quote;

/// `strconv.ParseFloat(s, 64)`: decimal floats, `inf`/`infinity`/`nan`, hexadecimal
/// floats with a `p` exponent. Overflow is an error, as in Go.
pub fn parse_float(s: &str) -> Result<f64, String> {
    let syntax = || {
        format!(
            "strconv.ParseFloat: parsing {}: invalid syntax",
            go_quote(s)
        )
    };
    let (neg, body) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() {
        return Err(syntax());
    }
    let lower = body.to_ascii_lowercase();
    let v = match lower.as_str() {
        "inf" | "infinity" => {
            return Ok(if neg {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            })
        }
        "nan" => return Ok(f64::NAN),
        _ if lower.starts_with("0x") => parse_hex_float(&lower[2..]).ok_or_else(syntax)?,
        _ => {
            // Rust's parser also takes "infinity" spellings and nothing Go rejects
            // besides those, so restrict to Go's decimal alphabet first.
            let ok = body
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
            if !ok
                || !body
                    .bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_digit() || b == b'.')
            {
                return Err(syntax());
            }
            body.parse::<f64>().map_err(|_| syntax())?
        }
    };
    if v.is_infinite() {
        return Err(format!(
            "strconv.ParseFloat: parsing {}: value out of range",
            go_quote(s)
        ));
    }
    Ok(if neg { -v } else { v })
}

/// Go hexadecimal float mantissa and mandatory `p` exponent (`1.8p1`), after `0x`.
fn parse_hex_float(s: &str) -> Option<f64> {
    let s = s.replace('_', "");
    let (mant, exp) = s.split_once('p')?;
    let exp: i32 = exp.parse().ok()?;
    let (int_part, frac_part) = mant.split_once('.').unwrap_or((mant, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let mut v = 0f64;
    for c in int_part.chars().chain(frac_part.chars()) {
        v = v * 16.0 + c.to_digit(16)? as f64;
    }
    Some(v * 2f64.powi(exp - 4 * frac_part.len() as i32))
}

const NS: u128 = 1;
const US: u128 = 1_000;
const MS: u128 = 1_000_000;
const SEC: u128 = 1_000_000_000;

/// `time.ParseDuration`: `1h30m`, `1.5s`, `-250ms`, `3µs`; the result in nanoseconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", go_quote(s));
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
        if int > 1 << 63 {
            return Err(invalid());
        }
        let pre = i > 0;
        let (mut frac, mut scale, mut post) = (0u128, 1u128, false);
        if i < b.len() && b[i] == b'.' {
            i += 1;
            let fs = i;
            while i < b.len() && b[i].is_ascii_digit() {
                // Go stops accumulating once the scale would overflow; the digits
                // past that cannot change the nanosecond result.
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
            return Err(format!("time: missing unit in duration {}", go_quote(s)));
        }
        let unit = match &rest[us..i] {
            "ns" => NS,
            "us" | "µs" | "μs" => US,
            "ms" => MS,
            "s" => SEC,
            "m" => 60 * SEC,
            "h" => 3600 * SEC,
            u => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    go_quote(u),
                    go_quote(s)
                ))
            }
        };
        total = total
            .saturating_add(int.saturating_mul(unit))
            .saturating_add(frac * unit / scale);
        if total > 1 << 63 {
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

/// `humanize.ParseBytes`: `10GB`, `2.5KiB`, `1,024`, `5 M`; units are case-insensitive,
/// SI units are powers of 1000 and IEC units powers of 1024.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let num_end = s
        .bytes()
        .position(|c| !(c.is_ascii_digit() || c == b'.' || c == b','))
        .unwrap_or(s.len());
    let num: String = s[..num_end].chars().filter(|c| *c != ',').collect();
    let f = parse_float(&num)?;
    let unit = s[num_end..].trim().to_ascii_lowercase();
    let mult: u64 = match unit.as_str() {
        "" | "b" => 1,
        "kib" | "ki" => 1 << 10,
        "kb" | "k" => 1_000,
        "mib" | "mi" => 1 << 20,
        "mb" | "m" => 1_000_000,
        "gib" | "gi" => 1 << 30,
        "gb" | "g" => 1_000_000_000,
        "tib" | "ti" => 1 << 40,
        "tb" | "t" => 1_000_000_000_000,
        "pib" | "pi" => 1 << 50,
        "pb" | "p" => 1_000_000_000_000_000,
        "eib" | "ei" => 1 << 60,
        "eb" | "e" => 1_000_000_000_000_000_000,
        _ => return Err(format!("unhandled size name: {unit}")),
    };
    let v = f * mult as f64;
    if v >= u64::MAX as f64 {
        return Err(format!("too large: {s}"));
    }
    // Go converts with uint64(f): truncation toward zero (negative input is not
    // reachable: the number scan never takes a sign).
    Ok(v as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_like_go() {
        assert_eq!(parse_float("200.0"), Ok(200.0));
        assert_eq!(parse_float("-5"), Ok(-5.0));
        assert_eq!(parse_float("1e3"), Ok(1000.0));
        assert_eq!(parse_float(".5"), Ok(0.5));
        assert_eq!(parse_float("0x1p-2"), Ok(0.25));
        assert!(parse_float("Inf").unwrap().is_infinite());
        assert!(parse_float("nan").unwrap().is_nan());
        assert_eq!(
            parse_float("oops").unwrap_err(),
            "strconv.ParseFloat: parsing \"oops\": invalid syntax"
        );
        assert!(parse_float("").is_err());
        assert!(parse_float("0x10").is_err());
        assert!(parse_float("1_000").is_err());
        assert!(parse_float("1e400")
            .unwrap_err()
            .contains("value out of range"));
    }

    #[test]
    fn durations_like_go() {
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000_000_000));
        assert_eq!(parse_duration("1.5h"), Ok(5_400_000_000_000));
        assert_eq!(parse_duration("-5s"), Ok(-5_000_000_000));
        assert_eq!(parse_duration("3600000000µs"), Ok(3_600_000_000_000));
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(
            parse_duration("90").unwrap_err(),
            "time: missing unit in duration \"90\""
        );
        assert_eq!(
            parse_duration("1d").unwrap_err(),
            "time: unknown unit \"d\" in duration \"1d\""
        );
        assert_eq!(
            parse_duration("oops").unwrap_err(),
            "time: invalid duration \"oops\""
        );
    }

    #[test]
    fn bytes_like_humanize() {
        assert_eq!(parse_bytes("1KB"), Ok(1000));
        assert_eq!(parse_bytes("1KiB"), Ok(1024));
        assert_eq!(parse_bytes("3mb"), Ok(3_000_000));
        assert_eq!(parse_bytes("2,048"), Ok(2048));
        assert_eq!(parse_bytes("1.5B"), Ok(1));
        assert_eq!(parse_bytes("2Kb"), Ok(2000));
        assert_eq!(parse_bytes("1PiB"), Ok(1 << 50));
        assert_eq!(
            parse_bytes("oops").unwrap_err(),
            "strconv.ParseFloat: parsing \"\": invalid syntax"
        );
        assert_eq!(parse_bytes("1XB").unwrap_err(), "unhandled size name: xb");
    }
}
