//! Log entries as logcli prints them: the default format (timestamp,
//! labels, line), `-o raw` and `-o jsonl`, with logcli's label options
//! (`--include-common-labels`, `--include-label`, `--exclude-label`,
//! `--labels-length`, `--no-labels`, `--colored-output`) and its batches.
//!
//! logcli fetches a query's entries in responses of `--batch` entries and
//! prints each response on its own (`pkg/logcli/print/print.go`,
//! `printStream`): the labels common to the response's streams are left out
//! of its lines (and told once on stderr), and labels are padded to the
//! widest of the response. [`LogWriter`] prints the same responses from an
//! answer read in one go, so the bytes are logcli's; [`write_entry`] prints
//! one entry for callers that have no responses (a tail).

use std::io::{self, Write};

use crate::engine::logquery::LogEntry;
use crate::model::Labels;

use super::style::{label_color, Sgr};
use super::{format_ts, TsFormat};

/// Options of the log outputs.
#[derive(Debug, Clone, Default)]
pub struct LogPrintOptions {
    /// Time zone for timestamps (UTC when `None`).
    pub tz: Option<jiff::tz::TimeZone>,
    /// Timestamp format of the default output (`-o jsonl` is always RFC 3339 with nanoseconds).
    pub ts_format: TsFormat,
    /// Print no labels (logcli `--no-labels`).
    pub no_labels: bool,
    /// Only these labels (logcli `--include-label`).
    pub include: Vec<String>,
    /// Not these labels (logcli `--exclude-label`).
    pub exclude: Vec<String>,
    /// Keep labels common to every stream (logcli `--include-common-labels`).
    pub include_common: bool,
    /// Pad labels to at least this many bytes (logcli `--labels-length`).
    pub labels_length: usize,
    /// ANSI colours: timestamps blue, labels red (decided by the caller,
    /// see [`super::style::colors_on`]).
    pub color: bool,
    /// With `color`, one colour per label set from logcli's palette
    /// (logcli `--colored-output`) instead of red.
    pub colored_labels: bool,
    /// Entries per response (logcli `--batch`); 0 means [`DEFAULT_BATCH`].
    pub batch: usize,
}

/// What logcli tells on stderr before a response's lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Note<'a> {
    /// The labels left out of every line of the response.
    Common(&'a Labels),
    /// `--exclude-label`'s names.
    Ignoring(&'a [String]),
    /// `--include-label`'s names.
    PrintOnly(&'a [String]),
}

impl Note<'_> {
    /// logcli's text (`Common labels: {…}`, `Ignoring labels key: a,b`,
    /// `Print only labels key: a,b`), the value red when `color`; without
    /// Go's `log` date prefix.
    pub fn render(&self, color: bool) -> String {
        let (what, value) = match self {
            Note::Common(l) => ("Common labels:", l.to_string()),
            Note::Ignoring(names) => ("Ignoring labels key:", names.join(",")),
            Note::PrintOnly(names) => ("Print only labels key:", names.join(",")),
        };
        let value = if color { Sgr::RED.paint(&value) } else { value };
        format!("{what} {value}")
    }
}

/// Labels every entry's label set shares, as logcli computes them (over
/// streams; the same set over their entries).
pub fn common_labels(entries: &[LogEntry]) -> Labels {
    let mut iter = entries.iter();
    let Some(first) = iter.next() else {
        return Labels::default();
    };
    let mut common: Vec<(String, String)> = first.labels.pairs().to_vec();
    let mut last = &first.labels;
    for e in iter {
        // Entries of a block share their label set: compare each set once.
        if std::sync::Arc::ptr_eq(last, &e.labels) {
            continue;
        }
        last = &e.labels;
        common.retain(|(k, v)| e.labels.get(k) == Some(v.as_str()));
    }
    Labels::from_pairs(common)
}

/// The common labels of a response as logcli leaves them out: those of
/// [`common_labels`] minus the `--include-label` names.
fn response_common(entries: &[LogEntry], o: &LogPrintOptions) -> Labels {
    let common = common_labels(entries);
    if o.include.is_empty() {
        return common;
    }
    Labels::from_pairs(
        common
            .pairs()
            .iter()
            .filter(|(k, _)| !o.include.contains(k))
            .cloned(),
    )
}

/// The labels printed for an entry labelled `l`, in logcli's order: common
/// ones out (unless `--include-common-labels`), then only the included
/// ones, then not the excluded ones.
pub fn shown_labels(l: &Labels, common: &Labels, o: &LogPrintOptions) -> Labels {
    Labels::from_pairs(
        l.pairs()
            .iter()
            .filter(|(k, v)| o.include_common || common.get(k) != Some(v.as_str()))
            .filter(|(k, _)| o.include.is_empty() || o.include.contains(k))
            .filter(|(k, _)| !o.exclude.contains(k))
            .cloned(),
    )
}

/// Writes one entry in `format`: `shown` are its labels as printed,
/// padded to `width` bytes (Go's `len`) in the default format; `tz` the
/// zone of its timestamp.
pub fn write_entry(
    w: &mut dyn Write,
    format: LineFormat,
    e: &LogEntry,
    shown: &Labels,
    width: usize,
    tz: &jiff::tz::TimeZone,
    o: &LogPrintOptions,
) -> io::Result<()> {
    match format {
        LineFormat::Raw => write_raw_entry(w, e),
        LineFormat::Jsonl => write_jsonl_entry(w, e, shown, tz, o),
        LineFormat::Default => write_default_entry(w, e, &shown.to_string(), width, tz, o),
    }
}

/// One line of the default format: `TIMESTAMP LABELS LINE`, the line
/// trimmed of white space as Go's `strings.TrimSpace` does.
fn write_default_entry(
    w: &mut dyn Write,
    e: &LogEntry,
    labels: &str,
    width: usize,
    tz: &jiff::tz::TimeZone,
    o: &LogPrintOptions,
) -> io::Result<()> {
    let ts = format_ts(e.ts, tz, o.ts_format);
    let line = String::from_utf8_lossy(&e.line);
    let line = line.trim();
    let mut out = String::with_capacity(ts.len() + width + line.len() + 24);
    if o.color {
        Sgr::BLUE.push(&mut out, &ts);
    } else {
        out.push_str(&ts);
    }
    out.push(' ');
    if !o.no_labels {
        // Go pads by bytes (`len`), not characters.
        let mut padded = String::with_capacity(width.max(labels.len()));
        padded.push_str(labels);
        padded.extend(std::iter::repeat_n(' ', width.saturating_sub(labels.len())));
        match (o.color, o.colored_labels) {
            (false, _) => out.push_str(&padded),
            (true, false) => Sgr::RED.push(&mut out, &padded),
            (true, true) => label_color(labels).push(&mut out, &padded),
        }
        out.push(' ');
    }
    out.push_str(line);
    out.push('\n');
    w.write_all(out.as_bytes())
}

/// logcli's default output of `entries` as one response: common labels
/// left out (returned, for the caller to tell), labels padded to the
/// widest.
pub fn write_default(
    w: &mut dyn Write,
    entries: &[LogEntry],
    o: &LogPrintOptions,
) -> io::Result<Labels> {
    let common = response_common(entries, o);
    write_response(w, LineFormat::Default, entries, 0, &common, o)?;
    Ok(common)
}

/// Writes `entries[from..]` in `format` as part of the response `entries`
/// whose common labels are `common`: labels padded to the widest of all
/// `entries` (logcli pads to the widest of the response, including the
/// entries it already printed with the previous one).
fn write_response(
    w: &mut dyn Write,
    format: LineFormat,
    entries: &[LogEntry],
    from: usize,
    common: &Labels,
    o: &LogPrintOptions,
) -> io::Result<()> {
    let tz = o.tz.clone().unwrap_or(jiff::tz::TimeZone::UTC);
    let shown: Vec<Labels> = entries
        .iter()
        .map(|e| shown_labels(&e.labels, common, o))
        .collect();
    let width = match format {
        LineFormat::Default => shown
            .iter()
            .map(|s| s.to_string().len())
            .max()
            .unwrap_or(0)
            .max(o.labels_length),
        _ => 0,
    };
    for (e, l) in entries.iter().zip(&shown).skip(from) {
        write_entry(w, format, e, l, width, &tz, o)?;
    }
    Ok(())
}

/// `-o raw`: the line only.
pub fn write_raw(w: &mut dyn Write, entries: &[LogEntry]) -> io::Result<()> {
    entries.iter().try_for_each(|e| write_raw_entry(w, e))
}

/// One entry of `-o raw`: the line, one trailing newline dropped (logcli's
/// `RawOutput`), then a newline.
pub fn write_raw_entry(w: &mut dyn Write, e: &LogEntry) -> io::Result<()> {
    let line = e.line.strip_suffix(b"\n").unwrap_or(&e.line);
    w.write_all(line)?;
    w.write_all(b"\n")
}

/// One entry of `-o jsonl` with the labels `shown`, as logcli's
/// `json.Marshal` of a Go map writes it: keys sorted
/// (`{"labels":{…},"line":"…","timestamp":"…"}`), `labels` left out under
/// `--no-labels`, Go's escapes (`&`, `<`, `>` as `\u0026`…), the timestamp
/// RFC 3339 with nanoseconds in `tz`, the line untrimmed.
fn write_jsonl_entry(
    w: &mut dyn Write,
    e: &LogEntry,
    shown: &Labels,
    tz: &jiff::tz::TimeZone,
    o: &LogPrintOptions,
) -> io::Result<()> {
    use crate::go::json::{push_quoted, push_string_map};
    let line = String::from_utf8_lossy(&e.line);
    let mut out = String::with_capacity(line.len() + 128);
    out.push('{');
    if !o.no_labels {
        out.push_str("\"labels\":");
        push_string_map(
            &mut out,
            shown.pairs().iter().map(|(k, v)| (k.as_str(), v.as_str())),
        );
        out.push(',');
    }
    out.push_str("\"line\":");
    push_quoted(&mut out, &line);
    out.push_str(",\"timestamp\":");
    push_quoted(&mut out, &format_ts(e.ts, tz, TsFormat::Rfc3339Nano));
    out.push_str("}\n");
    w.write_all(out.as_bytes())
}

/// Entries per response of logcli's batches: its `--batch` default.
pub const DEFAULT_BATCH: usize = 1000;

/// A log output in one of logcli's line formats, fed entries one at a
/// time in output order, so that an answer of any size is printed as it
/// is read.
///
/// The default and jsonl formats print in batches, as logcli prints the
/// responses it fetches `--batch` ([`DEFAULT_BATCH`]) entries at a time:
/// each response after the first starts at the timestamp the previous one
/// ended with (logcli keeps those entries and does not print them twice),
/// so a batch's response is the entries at that timestamp already printed,
/// then new ones up to the batch size in all. The labels every entry of
/// the response shares are left out of its lines and handed to the `note`
/// callback of [`LogWriter::push`] (logcli's "Common labels:" line, once
/// per response, with its "Ignoring labels key:" and "Print only labels
/// key:" lines), and labels are padded to the widest of the response. An
/// answer of up to a batch is one response. (logcli gives up when a whole
/// batch shares a timestamp; here the next batch then starts afresh.)
pub struct LogWriter {
    format: LineFormat,
    opts: LogPrintOptions,
    batch_size: usize,
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
            batch_size: if opts.batch == 0 {
                DEFAULT_BATCH
            } else {
                opts.batch
            },
            opts,
            batch: Vec::new(),
            printed: 0,
            entries: 0,
        }
    }

    /// Prints `e` (or keeps it for its batch). `note` is told what logcli
    /// tells on stderr before a response's lines.
    pub fn push(
        &mut self,
        w: &mut dyn Write,
        e: LogEntry,
        note: &mut dyn FnMut(Note<'_>),
    ) -> io::Result<()> {
        self.entries += 1;
        if self.format == LineFormat::Raw {
            return write_raw_entry(w, &e);
        }
        self.batch.push(e);
        if self.batch.len() >= self.batch_size {
            self.flush_batch(w, note)?;
        }
        Ok(())
    }

    /// Prints what is still batched.
    pub fn finish(&mut self, w: &mut dyn Write, note: &mut dyn FnMut(Note<'_>)) -> io::Result<()> {
        self.flush_batch(w, note)
    }

    /// Entries pushed so far.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    fn flush_batch(&mut self, w: &mut dyn Write, note: &mut dyn FnMut(Note<'_>)) -> io::Result<()> {
        if self.batch.len() <= self.printed {
            return Ok(());
        }
        let common = response_common(&self.batch, &self.opts);
        // Told before the batch's lines (on a terminal, in between).
        w.flush()?;
        if !common.is_empty() {
            note(Note::Common(&common));
        }
        if !self.opts.exclude.is_empty() {
            note(Note::Ignoring(&self.opts.exclude));
        }
        if !self.opts.include.is_empty() {
            note(Note::PrintOnly(&self.opts.include));
        }
        write_response(
            w,
            self.format,
            &self.batch,
            self.printed,
            &common,
            &self.opts,
        )?;
        // The next response starts with this one's last timestamp.
        let last = self.batch[self.batch.len() - 1].ts;
        let keep = self.batch.iter().rev().take_while(|e| e.ts == last).count();
        if keep >= self.batch_size {
            self.batch.clear();
        } else {
            self.batch.drain(..self.batch.len() - keep);
        }
        self.printed = self.batch.len();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut out = Vec::new();
        let o = LogPrintOptions {
            tz: Some(jiff::tz::TimeZone::UTC),
            ..Default::default()
        };
        let common = write_default(&mut out, &entries, &o).unwrap();
        assert_eq!(common.to_string(), r#"{job="a"}"#);
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
        let mut common = |n: Note<'_>| told.push(n.render(false));
        for i in 0..2500 {
            w.push(&mut out, entry(i), &mut common).unwrap();
        }
        w.finish(&mut out, &mut common).unwrap();
        assert_eq!(w.entries(), 2500);
        assert_eq!(told, vec![r#"Common labels: {app="a"}"#; 3]);
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

#[cfg(test)]
mod logcli_tests {
    use super::*;

    fn entry(ts: i64, l: &[(&str, &str)], line: &str) -> LogEntry {
        LogEntry {
            ts,
            labels: Labels::from_pairs(l.iter().copied()).into(),
            line: line.as_bytes().to_vec(),
        }
    }

    fn print(
        format: LineFormat,
        entries: Vec<LogEntry>,
        o: LogPrintOptions,
    ) -> (String, Vec<String>) {
        let mut w = LogWriter::new(format, o);
        let (mut out, mut notes) = (Vec::new(), Vec::new());
        let mut note = |n: Note<'_>| notes.push(n.render(false));
        for e in entries {
            w.push(&mut out, e, &mut note).unwrap();
        }
        w.finish(&mut out, &mut note).unwrap();
        (String::from_utf8(out).unwrap(), notes)
    }

    /// jsonl leaves the common labels out as the default format does, and
    /// escapes as Go's encoder.
    #[test]
    fn jsonl_is_logclis() {
        let es = vec![
            entry(
                2_000_000_000,
                &[("job", "a"), ("host", "h&1")],
                "x <b> & y ",
            ),
            entry(1_000_000_000, &[("job", "a"), ("host", "h2")], "z"),
        ];
        let (out, notes) = print(LineFormat::Jsonl, es.clone(), LogPrintOptions::default());
        assert_eq!(
            out,
            "{\"labels\":{\"host\":\"h\\u00261\"},\"line\":\"x \\u003cb\\u003e \\u0026 y \",\"timestamp\":\"1970-01-01T00:00:02Z\"}\n\
             {\"labels\":{\"host\":\"h2\"},\"line\":\"z\",\"timestamp\":\"1970-01-01T00:00:01Z\"}\n"
        );
        assert_eq!(notes, [r#"Common labels: {job="a"}"#]);
        let o = LogPrintOptions {
            include_common: true,
            no_labels: false,
            ..Default::default()
        };
        let (out, notes) = print(LineFormat::Jsonl, es.clone(), o);
        assert!(
            out.starts_with(r#"{"labels":{"host":"h\u00261","job":"a"},"#),
            "{out}"
        );
        // logcli tells the common labels even when it prints them.
        assert_eq!(notes, [r#"Common labels: {job="a"}"#]);
        let o = LogPrintOptions {
            no_labels: true,
            ..Default::default()
        };
        let (out, _) = print(LineFormat::Jsonl, es, o);
        assert!(out.starts_with(r#"{"line":"x \u003cb"#), "{out}");
    }

    /// `--include-label` keeps its labels even when common; `--exclude-label`
    /// drops them after; `--labels-length` pads to at least that; padding
    /// counts bytes, as Go's `len`.
    #[test]
    fn label_flags_as_logcli() {
        let es = vec![
            entry(2_000_000_000, &[("job", "a"), ("host", "é")], "one"),
            entry(1_000_000_000, &[("job", "a"), ("host", "bb")], "two"),
        ];
        let o = LogPrintOptions {
            include: vec!["job".into(), "host".into()],
            exclude: vec!["host".into()],
            ..Default::default()
        };
        let (out, notes) = print(LineFormat::Default, es.clone(), o);
        assert_eq!(
            out,
            "1970-01-01T00:00:02Z {job=\"a\"} one\n1970-01-01T00:00:01Z {job=\"a\"} two\n"
        );
        assert_eq!(
            notes,
            [
                "Ignoring labels key: host",
                "Print only labels key: job,host"
            ]
        );
        let (out, _) = print(LineFormat::Default, es.clone(), LogPrintOptions::default());
        // "é" is two bytes: {host="é"} is as long as {host="bb"} in Go.
        assert_eq!(
            out,
            "1970-01-01T00:00:02Z {host=\"é\"} one\n1970-01-01T00:00:01Z {host=\"bb\"} two\n"
        );
        let o = LogPrintOptions {
            labels_length: 14,
            ..Default::default()
        };
        let (out, _) = print(LineFormat::Default, es, o);
        // 11 bytes padded to 14, then the separator.
        assert!(
            out.starts_with("1970-01-01T00:00:02Z {host=\"é\"}    one\n"),
            "{out:?}"
        );
    }

    /// Colours: blue timestamps, red labels; `--colored-output` picks from
    /// logcli's palette by the label text.
    #[test]
    fn colours_as_fatih_color() {
        let es = vec![entry(1_000_000_000, &[("a", "1")], "x")];
        let o = LogPrintOptions {
            color: true,
            include_common: true,
            ..Default::default()
        };
        let (out, _) = print(LineFormat::Default, es.clone(), o.clone());
        assert_eq!(
            out,
            "\x1b[34m1970-01-01T00:00:01Z\x1b[0m \x1b[31m{a=\"1\"}\x1b[0m x\n"
        );
        let o = LogPrintOptions {
            colored_labels: true,
            ..o
        };
        let (out, _) = print(LineFormat::Default, es, o);
        let c = super::super::style::label_color("{a=\"1\"}").0;
        assert!(
            out.contains(&format!("\x1b[{c}m{{a=\"1\"}}\x1b[0m")),
            "{out:?}"
        );
    }
}
