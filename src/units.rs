//! Parsing of human byte sizes (`256KB`, `1GiB`) and durations (`30s`, `1h30m`)
//! given on the command line.

/// Parses a byte size as go-humanize's `ParseBytes` does: SI units
/// (`kB`, `MB`, …) are powers of 1000, IEC units (`KiB`, `MiB`, …) powers of
/// 1024, a bare number is bytes.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| {
        format!("invalid size {s:?}: expected a number with an optional unit such as 256KB or 1GiB")
    })?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "ki" | "kib" => 1024.0,
        "mi" | "mib" => 1024.0 * 1024.0,
        "gi" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "ti" | "tib" => 1024f64.powi(4),
        u => {
            return Err(format!(
                "invalid size {s:?}: unknown unit {u:?} (use B, kB, MB, GB, KiB, MiB, GiB)"
            ))
        }
    };
    Ok((n * mult) as u64)
}

/// Parses a duration such as `30s`, `1h30m`, `500ms`, `2d` (days are 24h).
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    let err = || format!("invalid duration {s:?}: expected e.g. 30s, 5m, 1h30m, 2d");
    if t.is_empty() {
        return Err(err());
    }
    let mut total: f64 = 0.0;
    let mut rest = t;
    while !rest.is_empty() {
        let n_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        if n_end == 0 {
            return Err(err());
        }
        let n: f64 = rest[..n_end].parse().map_err(|_| err())?;
        rest = &rest[n_end..];
        let u_end = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let secs = match &rest[..u_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            "w" => 7.0 * 86400.0,
            "y" => 365.0 * 86400.0,
            _ => return Err(err()),
        };
        total += n * secs;
        rest = &rest[u_end..];
    }
    Ok(std::time::Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes() {
        assert_eq!(parse_bytes("256KB").unwrap(), 256_000);
        assert_eq!(parse_bytes("1MiB").unwrap(), 1 << 20);
        assert_eq!(parse_bytes("42").unwrap(), 42);
        assert!(parse_bytes("1XB").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h30m").unwrap().as_secs(), 5400);
        assert_eq!(parse_duration("500ms").unwrap().as_millis(), 500);
        assert!(parse_duration("5minutes").is_err());
    }
}
