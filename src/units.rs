//! Parsing of human byte sizes (`256KB`, `1GiB`) and durations (`30s`, `1h30m`)
//! given on the command line: Loki's grammars from [`crate::go`], trimmed, with
//! messages that say what was expected, and durations as `std::time::Duration`.

/// Parses a byte size as go-humanize's `ParseBytes` does (as Loki reads its
/// limits): SI units (`kB`, `MB`, …) are powers of 1000, IEC units (`KiB`,
/// `MiB`, …) powers of 1024, a bare number is bytes.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    crate::go::humanize::parse_bytes(s.trim())
        .map_err(|e| format!("invalid size {s:?} ({e}): expected a number with an optional unit such as 256KB or 1GiB"))
}

/// Parses a duration as Loki does (Prometheus syntax, then Go's): `30s`,
/// `1h30m`, `500ms`, `2d`, `1w`. Negative durations are refused.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let err = |e: String| {
        if well_formed_duration(s.trim()) {
            // Both parsers refuse what overflows an int64 of nanoseconds.
            format!("duration {s:?} is out of range: at most 292y (2562047h), what a time in nanoseconds spans")
        } else {
            format!("invalid duration {s:?} ({e}): expected e.g. 30s, 5m, 1h30m, 2d")
        }
    };
    let ns = crate::go::duration::parse_prom_or_go_duration(s.trim()).map_err(err)?;
    u64::try_from(ns)
        .map(std::time::Duration::from_nanos)
        .map_err(|_| err("negative".into()))
}

/// Whether `s` is numbers with units that Prometheus (`y w d h m s ms`, in
/// that order) or Go (`h m s ms us µs ns`, any order) would read: a refusal
/// of such a duration is an overflow.
fn well_formed_duration(s: &str) -> bool {
    const PROM: [&str; 7] = ["y", "w", "d", "h", "m", "s", "ms"];
    let mut rest = s;
    let mut units = Vec::new();
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        let unit = ["ms", "us", "µs", "ns", "y", "w", "d", "h", "m", "s"]
            .into_iter()
            .find(|u| rest.starts_with(u));
        let Some(unit) = unit else { return false };
        rest = &rest[unit.len()..];
        units.push(unit);
    }
    let go_only = units.iter().all(|u| !["y", "w", "d"].contains(u));
    let rank = |u: &&str| PROM.iter().position(|p| p == u);
    let prom_order = units
        .iter()
        .map(rank)
        .collect::<Option<Vec<_>>>()
        .is_some_and(|r| r.windows(2).all(|w| w[0] < w[1]));
    !units.is_empty() && (go_only || prom_order)
}

/// Parses a metric query's step as Loki's HTTP API reads one
/// ([`crate::go::duration::parse_seconds_or_duration`]: `300` and `30.5` are
/// seconds, `5m` a Prometheus duration), else as [`parse_duration`] (`1.5m`).
/// In ns; zero and negative steps are returned, for the query to refuse
/// them with Loki's message.
pub fn parse_step(s: &str) -> Result<i64, String> {
    let t = s.trim();
    crate::go::duration::parse_seconds_or_duration(t).or_else(|loki| {
        crate::go::duration::parse_go_duration(t).map_err(|_| {
            format!(
                "invalid step {s:?} ({loki}): expected a duration (5m, 1h) or seconds (300, 30.5)"
            )
        })
    })
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
        // Well formed but beyond an int64 of nanoseconds: said so.
        for big in ["1000000d", "300y", "2562048h", "9999999999s"] {
            let e = parse_duration(big).unwrap_err();
            assert!(e.contains("is out of range: at most 292y"), "{big}: {e}");
        }
        assert!(parse_duration("5x").unwrap_err().contains("expected e.g."));
        assert!(parse_duration("1d2y")
            .unwrap_err()
            .contains("expected e.g."));
    }

    #[test]
    fn steps() {
        assert_eq!(parse_step("300"), Ok(300_000_000_000));
        assert_eq!(parse_step(" 30.5 "), Ok(30_500_000_000));
        assert_eq!(parse_step("5m"), Ok(300_000_000_000));
        assert_eq!(parse_step("1.5m"), Ok(90_000_000_000));
        assert_eq!(parse_step("0"), Ok(0));
        assert!(parse_step("5 minutes")
            .unwrap_err()
            .contains("invalid step"));
    }
}
