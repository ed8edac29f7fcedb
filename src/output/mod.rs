//! Printing results for people and scripts: logcli's default, raw and jsonl
//! formats and metric tables. Loki's API bodies (`-o json`) are
//! [`crate::loki::api`]'s.

use std::io::{self, Write};

use serde_json::json;

use crate::engine::logquery::LogEntry;
use crate::loki::api::{format_value, labels_json};
use crate::model::Labels;

/// How timestamps are printed (logcli's `--output-timestamp-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TsFormat {
    /// `2006-01-02T15:04:05Z07:00` (seconds), logcli's default.
    #[default]
    Rfc3339,
    /// `2006-01-02T15:04:05.999999999Z07:00`.
    Rfc3339Nano,
    /// Unix nanoseconds.
    UnixNano,
}

/// Formats `ts` (ns) in `tz`.
pub fn format_ts(ts: i64, tz: &jiff::tz::TimeZone, f: TsFormat) -> String {
    if f == TsFormat::UnixNano {
        return ts.to_string();
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

/// Options of the default (human) log output.
#[derive(Debug, Clone, Default)]
pub struct LogPrintOptions {
    /// Time zone for timestamps.
    pub tz: Option<jiff::tz::TimeZone>,
    /// Timestamp format.
    pub ts_format: TsFormat,
    /// Print no labels.
    pub no_labels: bool,
    /// Only these labels (logcli `--include-label`).
    pub include: Vec<String>,
    /// Not these labels (logcli `--exclude-label`).
    pub exclude: Vec<String>,
    /// Keep labels common to every stream (logcli `--include-common-labels`).
    pub include_common: bool,
    /// ANSI colours.
    pub color: bool,
}

/// Labels every entry's label set shares, as logcli computes them.
pub fn common_labels(entries: &[LogEntry]) -> Labels {
    let mut iter = entries.iter();
    let Some(first) = iter.next() else {
        return Labels::default();
    };
    let mut common: Vec<(String, String)> = first.labels.pairs().to_vec();
    for e in iter {
        common.retain(|(k, v)| e.labels.get(k) == Some(v.as_str()));
    }
    Labels::from_pairs(common)
}

fn shown_labels(l: &Labels, common: &Labels, o: &LogPrintOptions) -> Labels {
    Labels::from_pairs(
        l.pairs()
            .iter()
            .filter(|(k, _)| o.include_common || common.get(k).is_none())
            .filter(|(k, _)| o.include.is_empty() || o.include.contains(k))
            .filter(|(k, _)| !o.exclude.contains(k))
            .cloned(),
    )
}

/// logcli's default output: `TIMESTAMP {labels} line`, labels padded so the
/// lines align, common labels left out (the caller prints them on stderr).
pub fn write_default(
    w: &mut dyn Write,
    entries: &[LogEntry],
    common: &Labels,
    o: &LogPrintOptions,
) -> io::Result<()> {
    write_default_from(w, entries, 0, common, o)
}

/// [`write_default`] of `entries[from..]`, the labels padded to the widest
/// of all `entries` (logcli pads to the widest of the response, including
/// the entries it already printed with the previous batch).
fn write_default_from(
    w: &mut dyn Write,
    entries: &[LogEntry],
    from: usize,
    common: &Labels,
    o: &LogPrintOptions,
) -> io::Result<()> {
    let tz = o.tz.clone().unwrap_or(jiff::tz::TimeZone::UTC);
    let shown: Vec<String> = entries
        .iter()
        .map(|e| shown_labels(&e.labels, common, o).to_string())
        .collect();
    let width = shown.iter().map(|s| s.chars().count()).max().unwrap_or(0);
    for (e, l) in entries.iter().zip(&shown).skip(from) {
        let ts = format_ts(e.ts, &tz, o.ts_format);
        let line = String::from_utf8_lossy(&e.line);
        let line = line.trim();
        match (o.no_labels, o.color) {
            (true, false) => writeln!(w, "{ts} {line}")?,
            (true, true) => writeln!(w, "\x1b[34m{ts}\x1b[0m {line}")?,
            (false, false) => writeln!(w, "{ts} {l:<width$} {line}")?,
            (false, true) => writeln!(w, "\x1b[34m{ts}\x1b[0m \x1b[31m{l:<width$}\x1b[0m {line}")?,
        }
    }
    Ok(())
}

/// `-o raw`: the line only.
pub fn write_raw(w: &mut dyn Write, entries: &[LogEntry]) -> io::Result<()> {
    entries.iter().try_for_each(|e| write_raw_entry(w, e))
}

/// One entry of `-o raw`.
pub fn write_raw_entry(w: &mut dyn Write, e: &LogEntry) -> io::Result<()> {
    w.write_all(&e.line)?;
    w.write_all(b"\n")
}

/// `-o jsonl`: `{"labels":{…},"line":"…","timestamp":"RFC3339Nano"}` with
/// keys sorted, as logcli marshals a Go map.
pub fn write_jsonl(w: &mut dyn Write, entries: &[LogEntry], o: &LogPrintOptions) -> io::Result<()> {
    let tz = o.tz.clone().unwrap_or(jiff::tz::TimeZone::UTC);
    entries
        .iter()
        .try_for_each(|e| write_jsonl_entry(w, e, &tz, o))
}

/// One entry of `-o jsonl`, its timestamp in `tz`.
pub fn write_jsonl_entry(
    w: &mut dyn Write,
    e: &LogEntry,
    tz: &jiff::tz::TimeZone,
    o: &LogPrintOptions,
) -> io::Result<()> {
    let ts = format_ts(e.ts, tz, TsFormat::Rfc3339Nano);
    let line = String::from_utf8_lossy(&e.line);
    let v = if o.no_labels {
        json!({"line": line, "timestamp": ts})
    } else {
        json!({"labels": labels_json(&e.labels), "line": line, "timestamp": ts})
    };
    serde_json::to_writer(&mut *w, &v)?;
    w.write_all(b"\n")
}

/// Entries per batch of the default output: logcli's `--batch` default.
pub const DEFAULT_BATCH: usize = 1000;

/// A log output in one of logcli's line formats, fed entries one at a
/// time in output order, so that an answer of any size is printed as it
/// is read.
///
/// The default format prints in batches, as logcli prints the responses it
/// fetches [`DEFAULT_BATCH`] entries at a time: each response after the
/// first starts at the timestamp the previous one ended with (logcli keeps
/// those entries and does not print them twice), so a batch's response is
/// the entries at that timestamp already printed, then new ones up to
/// [`DEFAULT_BATCH`] in all. The labels every entry of the response shares
/// are left out of its lines and handed to the `common` callback of
/// [`LogWriter::push`] (logcli's "Common labels:" line, once per batch),
/// and labels are padded to the widest of the response. An answer of up to
/// 1,000 entries is one batch. (logcli gives up when 1,000 entries share a
/// timestamp; here the next batch then starts afresh.)
pub struct LogWriter {
    format: LineFormat,
    opts: LogPrintOptions,
    tz: jiff::tz::TimeZone,
    /// The current response: `printed` entries of the previous batch (at
    /// its last timestamp), then the entries still to print.
    batch: Vec<LogEntry>,
    printed: usize,
    entries: u64,
}

/// The line formats of [`LogWriter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFormat {
    /// logcli's default: timestamp, labels, line.
    Default,
    /// The line only.
    Raw,
    /// One JSON object per entry.
    Jsonl,
}

impl LogWriter {
    /// A writer of `format` with `opts`.
    pub fn new(format: LineFormat, opts: LogPrintOptions) -> LogWriter {
        LogWriter {
            format,
            tz: opts.tz.clone().unwrap_or(jiff::tz::TimeZone::UTC),
            opts,
            batch: Vec::new(),
            printed: 0,
            entries: 0,
        }
    }

    /// Prints `e` (or keeps it for its batch). `common` is told the labels
    /// a batch's lines leave out.
    pub fn push(
        &mut self,
        w: &mut dyn Write,
        e: LogEntry,
        common: &mut dyn FnMut(&Labels),
    ) -> io::Result<()> {
        self.entries += 1;
        match self.format {
            LineFormat::Raw => write_raw_entry(w, &e),
            LineFormat::Jsonl => write_jsonl_entry(w, &e, &self.tz, &self.opts),
            LineFormat::Default => {
                self.batch.push(e);
                if self.batch.len() >= DEFAULT_BATCH {
                    self.flush_batch(w, common)?;
                }
                Ok(())
            }
        }
    }

    /// Prints what is still batched.
    pub fn finish(&mut self, w: &mut dyn Write, common: &mut dyn FnMut(&Labels)) -> io::Result<()> {
        self.flush_batch(w, common)
    }

    /// Entries pushed so far.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    fn flush_batch(
        &mut self,
        w: &mut dyn Write,
        common: &mut dyn FnMut(&Labels),
    ) -> io::Result<()> {
        if self.batch.len() <= self.printed {
            return Ok(());
        }
        let shared = if self.opts.include_common {
            Labels::default()
        } else {
            common_labels(&self.batch)
        };
        if !shared.is_empty() {
            // Told before the batch's lines (on a terminal, in between).
            w.flush()?;
            common(&shared);
        }
        write_default_from(w, &self.batch, self.printed, &shared, &self.opts)?;
        // The next response starts with this one's last timestamp.
        let last = self.batch[self.batch.len() - 1].ts;
        let keep = self.batch.iter().rev().take_while(|e| e.ts == last).count();
        if keep >= DEFAULT_BATCH {
            self.batch.clear();
        } else {
            self.batch.drain(..self.batch.len() - keep);
        }
        self.printed = self.batch.len();
        Ok(())
    }
}

/// `-o jsonl` for a metric query: one object per point.
pub fn write_metric_jsonl(
    w: &mut dyn Write,
    v: &crate::engine::value::MetricValue,
) -> io::Result<()> {
    use crate::engine::value::MetricValue;
    let mut line = |labels: &Labels, ts: i64, value: f64| -> io::Result<()> {
        let o = json!({"metric": labels_json(labels), "timestamp": crate::time::rfc3339_nano(ts), "value": format_value(value)});
        serde_json::to_writer(&mut *w, &o)?;
        w.write_all(b"\n")
    };
    match v {
        MetricValue::Vector(s) => s.iter().try_for_each(|s| line(&s.labels, s.ts, s.value)),
        MetricValue::Matrix(m) => m.iter().try_for_each(|s| {
            s.points
                .iter()
                .try_for_each(|(t, v)| line(&s.labels, *t, *v))
        }),
        MetricValue::Scalar(p) => p
            .iter()
            .try_for_each(|(t, v)| line(&Labels::default(), *t, *v)),
    }
}

/// The default metric output: a table. A vector is one row per series; a
/// matrix is one row per step and one column per series (series labels are
/// listed above the table when there are many), or with `long`, one row per point.
pub fn metric_table(
    v: &crate::engine::value::MetricValue,
    tz: &jiff::tz::TimeZone,
) -> comfy_table::Table {
    use crate::engine::value::MetricValue;
    use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    let num = |v: f64| Cell::new(format_value(v)).set_alignment(CellAlignment::Right);
    match v {
        MetricValue::Vector(samples) => {
            t.set_header(vec!["series", "value"]);
            for s in samples {
                t.add_row(vec![Cell::new(s.labels.to_string()), num(s.value)]);
            }
        }
        MetricValue::Scalar(points) => {
            t.set_header(vec!["time", "value"]);
            for (ts, v) in points {
                t.add_row(vec![
                    Cell::new(format_ts(*ts, tz, TsFormat::Rfc3339)),
                    num(*v),
                ]);
            }
        }
        MetricValue::Matrix(series) => {
            let mut header = vec![Cell::new("time")];
            header.extend(series.iter().map(|s| Cell::new(s.labels.to_string())));
            t.set_header(header);
            let mut times: Vec<i64> = series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.0))
                .collect();
            times.sort_unstable();
            times.dedup();
            let mut idx = vec![0usize; series.len()];
            for ts in times {
                let mut row = vec![Cell::new(format_ts(ts, tz, TsFormat::Rfc3339))];
                for (si, s) in series.iter().enumerate() {
                    match s.points.get(idx[si]) {
                        Some(&(pt, v)) if pt == ts => {
                            row.push(num(v));
                            idx[si] += 1;
                        }
                        _ => row.push(Cell::new("")),
                    }
                }
                t.add_row(row);
            }
        }
    }
    t
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
    }

    #[test]
    fn default_output_aligns_and_drops_common() {
        let e = |ts, l: &[(&str, &str)], line: &str| LogEntry {
            ts,
            labels: Labels::from_pairs(l.iter().copied()).into(),
            line: line.as_bytes().to_vec(),
        };
        let entries = vec![
            e(2_000_000_000, &[("job", "a"), ("host", "h1")], "two  "),
            e(1_000_000_000, &[("job", "a"), ("host", "h22")], "one"),
        ];
        let common = common_labels(&entries);
        assert_eq!(common.to_string(), r#"{job="a"}"#);
        let mut out = Vec::new();
        let o = LogPrintOptions {
            tz: Some(jiff::tz::TimeZone::UTC),
            ..Default::default()
        };
        write_default(&mut out, &entries, &common, &o).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "1970-01-01T00:00:02Z {host=\"h1\"}  two\n1970-01-01T00:00:01Z {host=\"h22\"} one\n"
        );
    }

    /// The default output comes in logcli's batches: 1,000 entries a
    /// response, each response after the first starting with the entries
    /// at the previous one's last timestamp, which count for the common
    /// labels and the padding but are not printed again.
    #[test]
    fn default_output_prints_logclis_batches() {
        let entry = |i: i64| {
            let wide = i == 1998;
            let mut l = vec![("app", "a")];
            if wide {
                l.push(("x", "long"));
            }
            LogEntry {
                // Entries 999 and 1000 share a timestamp.
                ts: (if i == 1000 { 999 } else { i }) * 1_000_000_000,
                labels: Labels::from_pairs(l).into(),
                line: format!("n{i}").into_bytes(),
            }
        };
        let o = LogPrintOptions {
            tz: Some(jiff::tz::TimeZone::UTC),
            ..Default::default()
        };
        let mut w = LogWriter::new(LineFormat::Default, o);
        let (mut out, mut told) = (Vec::new(), Vec::new());
        let mut common = |l: &Labels| told.push(l.to_string());
        for i in 0..2500 {
            w.push(&mut out, entry(i), &mut common).unwrap();
        }
        w.finish(&mut out, &mut common).unwrap();
        assert_eq!(w.entries(), 2500);
        assert_eq!(told, vec![r#"{app="a"}"#; 3]);
        let out = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2500, "every entry once");
        for (i, l) in lines.iter().enumerate() {
            assert!(l.ends_with(&format!(" n{i}")), "{i}: {l}");
        }
        let pad = " ".repeat(r#"{x="long"}"#.len() - 2);
        // Batch 1 (0..=999): no wide label. Batch 2 (1000..=1998, its
        // response from 999): padded to entry 1998's labels. Batch 3
        // (1999.., its response from 1998, not printed again): still padded.
        assert!(lines[500].contains("{} n500"), "{}", lines[500]);
        assert!(
            lines[1200].contains(&format!("{{}}{pad} n1200")),
            "{}",
            lines[1200]
        );
        assert!(lines[1998].contains(r#"{x="long"} n1998"#));
        assert!(
            lines[2200].contains(&format!("{{}}{pad} n2200")),
            "{}",
            lines[2200]
        );
    }
}
