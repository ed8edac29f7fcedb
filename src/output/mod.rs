//! Printing results for people and scripts: logcli's default, raw and jsonl
//! log formats ([`logs`]), metric tables and terminal views ([`metric`]),
//! and the colours both use ([`style`]). Loki's API bodies (`-o json`) are
//! [`crate::loki::api`]'s.

pub mod logs;
pub mod metric;
pub mod plot;
pub mod style;
pub mod terminal;

pub use logs::{
    common_labels, write_default, write_raw, write_raw_entry, LineFormat, LogPrintOptions,
    LogWriter, Note, DEFAULT_BATCH,
};
pub use metric::{metric_table, write_metric_jsonl};

/// How timestamps are printed (logcli's `--output-timestamp-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TsFormat {
    /// `2006-01-02T15:04:05Z07:00` (seconds), logcli's default.
    #[default]
    Rfc3339,
    /// `2006-01-02T15:04:05.999999999Z07:00`.
    Rfc3339Nano,
    /// Go's `time.RFC822Z`: `02 Jan 06 15:04 -0700`.
    Rfc822z,
    /// Go's `time.RFC1123Z`: `Mon, 02 Jan 2006 15:04:05 -0700`.
    Rfc1123z,
    /// Go's `time.StampMilli`: `Jan _2 15:04:05.000`.
    StampMilli,
    /// Go's `time.StampMicro`: `Jan _2 15:04:05.000000`.
    StampMicro,
    /// Go's `time.StampNano`: `Jan _2 15:04:05.000000000`.
    StampNano,
    /// Go's `time.UnixDate`: `Mon Jan _2 15:04:05 MST 2006`.
    UnixDate,
    /// Unix nanoseconds (lokal's; logcli has no such format).
    UnixNano,
}

impl TsFormat {
    /// The Go layout of a format that has one (all but the RFC 3339 pair,
    /// which have a faster path, and Unix nanoseconds).
    fn go_layout(self) -> Option<&'static str> {
        Some(match self {
            TsFormat::Rfc822z => "02 Jan 06 15:04 -0700",
            TsFormat::Rfc1123z => "Mon, 02 Jan 2006 15:04:05 -0700",
            TsFormat::StampMilli => "Jan _2 15:04:05.000",
            TsFormat::StampMicro => "Jan _2 15:04:05.000000",
            TsFormat::StampNano => "Jan _2 15:04:05.000000000",
            TsFormat::UnixDate => "Mon Jan _2 15:04:05 MST 2006",
            TsFormat::Rfc3339 | TsFormat::Rfc3339Nano | TsFormat::UnixNano => return None,
        })
    }
}

/// Formats `ts` (ns) in `tz`.
pub fn format_ts(ts: i64, tz: &jiff::tz::TimeZone, f: TsFormat) -> String {
    if f == TsFormat::UnixNano {
        return ts.to_string();
    }
    if let Some(layout) = f.go_layout() {
        return crate::go::time::Time::utc(i128::from(ts))
            .in_zone(tz.clone())
            .format(layout);
    }
    let Ok(t) = jiff::Timestamp::from_nanosecond(i128::from(ts)) else {
        return ts.to_string();
    };
    let z = t.to_zoned(tz.clone());
    let utc = z.offset() == jiff::tz::Offset::UTC;
    let base = z.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    let frac = match f {
        TsFormat::Rfc3339Nano => {
            let ns = z.subsec_nanosecond();
            if ns == 0 {
                String::new()
            } else {
                format!(".{ns:09}").trim_end_matches('0').to_string()
            }
        }
        _ => String::new(),
    };
    let off = if utc {
        "Z".to_string()
    } else {
        z.strftime("%:z").to_string()
    };
    format!("{base}{frac}{off}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        let utc = jiff::tz::TimeZone::UTC;
        assert_eq!(
            format_ts(1_700_000_000_500_000_000, &utc, TsFormat::Rfc3339),
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(
            format_ts(1_700_000_000_500_000_000, &utc, TsFormat::Rfc3339Nano),
            "2023-11-14T22:13:20.5Z"
        );
        let plus1 = jiff::tz::TimeZone::fixed(jiff::tz::offset(1));
        assert_eq!(
            format_ts(1_700_000_000_000_000_000, &plus1, TsFormat::Rfc3339),
            "2023-11-14T23:13:20+01:00"
        );
        // Go: time.Unix(1700000000, 5e8).UTC().Format(time.StampMilli) and friends.
        let t = 1_700_000_000_500_000_000;
        assert_eq!(
            format_ts(t, &utc, TsFormat::StampMilli),
            "Nov 14 22:13:20.500"
        );
        assert_eq!(
            format_ts(t, &utc, TsFormat::Rfc822z),
            "14 Nov 23 22:13 +0000"
        );
        assert_eq!(
            format_ts(t, &utc, TsFormat::Rfc1123z),
            "Tue, 14 Nov 2023 22:13:20 +0000"
        );
        assert_eq!(
            format_ts(t, &utc, TsFormat::UnixDate),
            "Tue Nov 14 22:13:20 UTC 2023"
        );
    }
}
