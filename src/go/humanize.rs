//! go-humanize (`github.com/dustin/go-humanize` v1) byte sizes, as Loki reads and
//! prints them: limits and `--max-*` sizes on the command line, `bytes(…)` label
//! filters and the `bytes` template function (`10GB`, `2.5KiB`, `5M`).

use super::strconv::parse_float;

/// Parses a byte size like `humanize.ParseBytes` (`10GB`, `2.5KiB`, `5M`, `1B`).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let num_end = s
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_digit() || *c == '.' || *c == ','))
        .map(|(i, _)| i)
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
    Ok(v as u64)
}

/// Formats like `humanize.Bytes` with the space removed, as Loki's bytes label filter
/// prints it (`10GB`, `2.6kB`, `5B`). This is lossy: Loki prints KiB values in kB.
pub fn format_bytes(v: u64) -> String {
    if v < 10 {
        return format!("{v}B");
    }
    let sizes = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let e = ((v as f64).ln() / 1000f64.ln()).floor();
    let suffix = sizes[(e as usize).min(sizes.len() - 1)];
    let val = ((v as f64) / 1000f64.powf(e) * 10.0 + 0.5).floor() / 10.0;
    if val < 10.0 {
        format!("{val:.1}{suffix}")
    } else {
        format!("{val:.0}{suffix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes() {
        assert_eq!(parse_bytes("10GB"), Ok(10_000_000_000));
        assert_eq!(parse_bytes("2.5KiB"), Ok(2560));
        assert_eq!(parse_bytes("5M"), Ok(5_000_000));
        assert!(parse_bytes("1mb").is_ok());
        assert!(parse_bytes("1x").is_err());
        assert_eq!(format_bytes(10_000_000_000), "10GB");
        assert_eq!(format_bytes(2560), "2.6kB");
        assert_eq!(format_bytes(0), "0B");
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
