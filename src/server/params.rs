//! Loki's HTTP API parameters (`pkg/loghttp/params.go`): how `start`,
//! `end`, `since`, `time`, `step`, `limit` and `direction` are read, with
//! Loki's defaults and error texts, so a client sees the same answer from
//! `lokal serve` as from Loki.

use crate::engine::eval::default_step;
use crate::engine::Direction;
use crate::go::duration::{parse_prom_duration, parse_seconds_or_duration};

/// Loki's default `limit`.
pub const DEFAULT_LIMIT: usize = 100;
/// Loki's default look-back when neither `start` nor `since` is given: 1h.
pub const DEFAULT_SINCE: i64 = 3_600_000_000_000;
/// Most points per series a range query may have (Loki's 11,000).
const MAX_POINTS: i64 = 11_000;

/// The form of a request: query string and, for a POST, its urlencoded body.
#[derive(Debug, Default, Clone)]
pub struct Form(Vec<(String, String)>);

impl Form {
    /// Parses `a=b&c=d` (a query string or an urlencoded body), adding to
    /// what is there; the first value of a key wins, as Go's `Form.Get`.
    pub fn add(&mut self, encoded: &str) {
        for pair in encoded.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            self.0.push((decode(k), decode(v)));
        }
    }

    /// The first value of `key`, `""` when absent (Go's `Form.Get`).
    pub fn get(&self, key: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// Every value of `key`, in order (`match[]` of `/series`).
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Percent-decoding with `+` as a space (`application/x-www-form-urlencoded`).
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Loki's `parseTimestamp`: a float with a `.` is unix seconds; an integer
/// of at most 10 digits is unix seconds, a longer one unix ns; otherwise
/// RFC 3339 (with optional fraction). `""` is `def`.
pub fn parse_timestamp(value: &str, def: i64) -> Result<i64, String> {
    if value.is_empty() {
        return Ok(def);
    }
    if value.contains('.') {
        if let Ok(t) = crate::go::strconv::parse_float(value) {
            let s = t.trunc();
            let frac = ((t - s) * 1000.0).round() / 1000.0;
            return Ok((s as i64).saturating_mul(1_000_000_000) + (frac * 1e9) as i64);
        }
    }
    match crate::go::strconv::parse_int(value, 10) {
        Ok(n) if value.len() <= 10 => Ok(n.saturating_mul(1_000_000_000)),
        Ok(n) => Ok(n),
        // RFC 3339 with an offset, as Go's time.RFC3339Nano layout.
        Err(e) => match value.parse::<jiff::Timestamp>() {
            Ok(ts) if value.contains('T') => Ok(ts.as_nanosecond() as i64),
            _ => Err(e),
        },
    }
}

/// `start` and `end` of a range request (Loki's `bounds`): `end` defaults
/// to `now`, `start` to `end - since` (`since` defaulting to 1h).
pub fn bounds(form: &Form, now: i64) -> Result<(i64, i64), String> {
    let since = match form.get("since") {
        "" => DEFAULT_SINCE,
        s => {
            parse_prom_duration(s).map_err(|e| format!("could not parse 'since' parameter: {e}"))?
        }
    };
    let end = timestamp_param(form, "end", now)?;
    let start = timestamp_param(form, "start", end.saturating_sub(since))?;
    Ok((start, end))
}

/// [`parse_timestamp`] of parameter `name`, the error naming it as Loki's does.
pub fn timestamp_param(form: &Form, name: &str, def: i64) -> Result<i64, String> {
    parse_timestamp(form.get(name), def)
        .map_err(|e| format!("could not parse '{name}' parameter: {e}"))
}

/// `limit`: Loki's default 100; zero or negative is refused.
pub fn limit(form: &Form) -> Result<usize, String> {
    match form.get("limit") {
        "" => Ok(DEFAULT_LIMIT),
        s => {
            let n = crate::go::strconv::parse_int(s, 10)?;
            if n <= 0 {
                return Err("limit must be a positive value".into());
            }
            Ok(n as usize)
        }
    }
}

/// `direction`: `forward` or `backward` in any case, `backward` by default.
pub fn direction(form: &Form) -> Result<Direction, String> {
    match form.get("direction").to_ascii_uppercase().as_str() {
        "" | "BACKWARD" => Ok(Direction::Backward),
        "FORWARD" => Ok(Direction::Forward),
        _ => Err(format!("invalid direction '{}'", form.get("direction"))),
    }
}

/// `step` of a range query over `[start, end]`: seconds or a duration,
/// Loki's default for the range when absent; checked as Loki checks it.
pub fn step(form: &Form, start: i64, end: i64) -> Result<i64, String> {
    let step = match form.get("step") {
        "" => default_step(start, end),
        s => parse_seconds_or_duration(s)?,
    };
    if step <= 0 {
        return Err("zero or negative query resolution step widths are not accepted. Try a positive integer".into());
    }
    if (end - start) / step > MAX_POINTS {
        return Err("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)".into());
    }
    Ok(step)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(s: &str) -> Form {
        let mut f = Form::default();
        f.add(s);
        f
    }

    #[test]
    fn timestamps_as_loki_reads_them() {
        assert_eq!(parse_timestamp("", 7), Ok(7));
        assert_eq!(
            parse_timestamp("1700000000", 0),
            Ok(1_700_000_000_000_000_000)
        );
        assert_eq!(
            parse_timestamp("1700000000000000001", 0),
            Ok(1_700_000_000_000_000_001)
        );
        assert_eq!(
            parse_timestamp("1700000000.5", 0),
            Ok(1_700_000_000_500_000_000)
        );
        assert_eq!(
            parse_timestamp("2023-11-14T22:13:20Z", 0),
            Ok(1_700_000_000_000_000_000)
        );
        assert_eq!(
            parse_timestamp("2023-11-14T23:13:20.25+01:00", 0),
            Ok(1_700_000_000_250_000_000)
        );
        assert_eq!(
            parse_timestamp("abc", 0),
            Err("strconv.ParseInt: parsing \"abc\": invalid syntax".into())
        );
    }

    #[test]
    fn form_decoding_and_defaults() {
        let f = form("query=%7Bjob%3D%22a%22%7D+%7C%3D+x&limit=5&match[]=a&match[]=b");
        assert_eq!(f.get("query"), "{job=\"a\"} |= x");
        assert_eq!(limit(&f), Ok(5));
        assert_eq!(f.all("match[]"), ["a", "b"]);
        assert_eq!(
            limit(&form("limit=0")),
            Err("limit must be a positive value".into())
        );
        assert_eq!(
            direction(&form("direction=FORWARD")),
            Ok(Direction::Forward)
        );
        assert_eq!(
            direction(&form("direction=up")),
            Err("invalid direction 'up'".into())
        );
        assert_eq!(
            bounds(&form("since=2h"), 10 * DEFAULT_SINCE),
            Ok((8 * DEFAULT_SINCE, 10 * DEFAULT_SINCE))
        );
    }

    #[test]
    fn steps_as_loki_checks_them() {
        let h = DEFAULT_SINCE;
        assert_eq!(step(&form("step=30"), 0, h), Ok(30_000_000_000));
        assert_eq!(step(&form("step=1m"), 0, h), Ok(60_000_000_000));
        assert_eq!(step(&form(""), 0, h), Ok(14_000_000_000));
        assert!(step(&form("step=0"), 0, h)
            .unwrap_err()
            .starts_with("zero or negative"));
        assert!(step(&form("step=0.1"), 0, h)
            .unwrap_err()
            .starts_with("exceeded maximum"));
    }
}
