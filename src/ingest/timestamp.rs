//! Timestamp detection (placeholder until the real module lands).

/// How timestamps are found; built from the CLI flags.
#[derive(Debug, Clone)]
pub struct TimestampConfig {
    /// `--timestamp-format`.
    pub format: Option<String>,
    /// `--timestamp-regex`.
    pub regex: Option<String>,
    /// `--year`.
    pub year: Option<i32>,
    /// Zone for timestamps without offset.
    pub timezone: jiff::tz::TimeZone,
}

/// Bad timestamp configuration.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TimestampError(String);

/// Finds timestamps in lines.
#[derive(Debug, Clone)]
pub struct TimestampExtractor {}

impl TimestampExtractor {
    /// Builds an extractor.
    pub fn new(_cfg: &TimestampConfig) -> Result<Self, TimestampError> {
        Ok(TimestampExtractor {})
    }
    /// Reference time for yearless formats.
    pub fn set_reference(&mut self, _reference_ns: i64) {}
    /// The line's time in ns.
    pub fn extract(&mut self, line: &[u8]) -> Option<i64> {
        let end = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
        let s = std::str::from_utf8(&line[..end]).ok()?;
        let ts: jiff::Timestamp = s.parse().ok()?;
        Some(ts.as_nanosecond() as i64)
    }
}
