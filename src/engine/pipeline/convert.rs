//! Go's value parsers as Loki uses them on label values: `strconv.ParseFloat`,
//! `time.ParseDuration` and `humanize.ParseBytes`, with Go's error texts (they end up
//! in `__error_details__` and in the engine's error messages).

pub use crate::logql::duration::{parse_bytes, parse_go_duration as parse_duration};
pub use crate::logql::gostr::parse_float;

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
