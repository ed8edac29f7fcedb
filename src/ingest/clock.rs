//! The time side of reading an input, shared by `ingest` and its dry run:
//! learning an input's timestamps from its first lines before anything is
//! parsed ([`read_head`], [`learn`]), saying what each line's extraction
//! refused ([`line_issue`]), and giving every entry without a timestamp one
//! ([`fill`]), with the per-file counts of each fallback
//! ([`FileTimestamps`]).

use std::io::Read;

use super::report::{FileTimestamps, FAR_FROM_PREVIOUS_DAYS};
use super::timestamp::{Extraction, SampleError, TimestampExtractor, SAMPLE_LINES};

/// A timestamp not yet known (the line carries none).
pub(crate) const MISSING: i64 = i64::MIN;

/// How much of an input is read ahead to learn its timestamps: enough for
/// [`SAMPLE_LINES`] lines of most logs.
pub(crate) const HEAD_BYTES: usize = 64 << 10;

/// The run's extractor, from the options (an error names what is wrong).
pub(crate) fn extractor(
    opts: &super::IngestOptions,
) -> Result<TimestampExtractor, super::IngestError> {
    TimestampExtractor::new(&opts.timestamps).map_err(|e| super::IngestError::Config(e.to_string()))
}

/// Reads up to [`HEAD_BYTES`] of `reader` (less at its end); the caller
/// hands these bytes on as the start of the input. The flag is true at EOF.
pub(crate) fn read_head(reader: &mut dyn Read) -> std::io::Result<(Vec<u8>, bool)> {
    let mut head = vec![0; HEAD_BYTES];
    let mut n = 0;
    while n < head.len() {
        match reader.read(&mut head[n..]) {
            Ok(0) => {
                head.truncate(n);
                head.shrink_to_fit();
                return Ok((head, true));
            }
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok((head, false))
}

/// The whole lines of a head (the last one too at EOF), `\r` stripped.
pub(crate) fn head_lines(head: &[u8], eof: bool) -> Vec<&[u8]> {
    let complete = if eof {
        head
    } else {
        &head[..memchr::memrchr(b'\n', head).map_or(0, |i| i + 1)]
    };
    let complete = complete.strip_suffix(b"\n").unwrap_or(complete);
    complete
        .split(|&b| b == b'\n')
        .take(SAMPLE_LINES)
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .collect()
}

/// Learns an input's timestamps from its head (see
/// [`TimestampExtractor::learn`]); `first_line` is the line number of the
/// head's first line. An error says, with the file and line, why a
/// `--timestamp-format` or `--timestamp-regex` cannot be right for it.
pub(crate) fn learn(
    ex: &mut TimestampExtractor,
    head: &[u8],
    eof: bool,
    name: &str,
    first_line: u64,
) -> Result<(), String> {
    let lines = head_lines(head, eof);
    let show = |i: usize| {
        let l = String::from_utf8_lossy(lines[i]);
        let cut: String = l.chars().take(80).collect();
        (first_line + i as u64, cut)
    };
    match ex.learn(&lines) {
        Ok(()) => Ok(()),
        Err(SampleError::NoMatch { line }) => {
            let (no, text) = show(line);
            let n = lines.iter().filter(|l| !l.is_empty()).count();
            Err(format!(
                "{name}:{no}: {} matches none of the first {n} lines (this one: {text:?}); \
                 its lines would get no time of their own. Fix the flag, or drop it: \
                 lokal finds most formats itself (try `lokal ingest --dry-run {name}`); skipped",
                ex.flag()
            ))
        }
        Err(SampleError::Implausible { line, ts }) => {
            let (no, text) = show(line);
            Err(format!(
                "{name}:{no}: {} reads {text:?} as {}: every date it gives in the first lines is \
                 implausible, so the flag cannot be right for this file; skipped",
                ex.flag(),
                ex.why_implausible(ts)
            ))
        }
    }
}

/// The message for a line whose timestamp was refused or read in a guessed
/// zone (see [`super::report::Counts::timestamp_issue`]).
pub(crate) fn line_issue(ex: &TimestampExtractor, e: &Extraction, name: &str, line: u64) -> String {
    match e.rejected {
        Some(ts) => format!(
            "{name}:{line}: timestamp not taken: {}; the entry takes the previous entry's time",
            ex.why_implausible(ts)
        ),
        None => {
            format!("{name}:{line}: zone abbreviation not known (or ambiguous): read in --timezone")
        }
    }
}

/// Gives each `MISSING` timestamp of one piece of an input (in input order)
/// the previous entry's time (`carry`, kept across pieces and runs); lines
/// before the input's first timestamp take that one, and an input without
/// any takes `reference_ns` (its mtime; stdin: now). Counts each case, and
/// timestamps far from the previous entry's, in `stats`.
pub(crate) fn fill<'a>(
    carry: &mut Option<i64>,
    reference_ns: i64,
    stats: &mut FileTimestamps,
    timestamps: impl Iterator<Item = &'a mut i64>,
) {
    const FAR_NS: u64 = FAR_FROM_PREVIOUS_DAYS as u64 * 86_400 * 1_000_000_000;
    let mut leading: Vec<&'a mut i64> = Vec::new();
    let mut first = None;
    for t in timestamps {
        stats.entries += 1;
        if *t == MISSING {
            match *carry {
                Some(c) => {
                    *t = c;
                    stats.previous_line += 1;
                }
                None => leading.push(t),
            }
            continue;
        }
        stats.found += 1;
        match *carry {
            Some(prev) if t.abs_diff(prev) > FAR_NS => {
                stats.far_from_previous += 1;
                let (a, b) = (
                    crate::time::rfc3339_nano(prev),
                    crate::time::rfc3339_nano(*t),
                );
                let file = stats.file.clone();
                stats.note(|| {
                    format!("{file}: an entry at {b} follows one at {a} (more than {FAR_FROM_PREVIOUS_DAYS} days apart)")
                });
            }
            None => first = Some(*t),
            _ => {}
        }
        *carry = Some(*t);
    }
    if leading.is_empty() {
        return;
    }
    let fill = match first {
        Some(t) => {
            stats.first_found += leading.len() as u64;
            t
        }
        None => {
            stats.mtime += leading.len() as u64;
            *carry = Some(reference_ns);
            reference_ns
        }
    };
    for t in leading {
        *t = fill;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(carry: &mut Option<i64>, ts: &mut [i64]) -> FileTimestamps {
        let mut stats = FileTimestamps::default();
        fill(carry, 7, &mut stats, ts.iter_mut());
        stats
    }

    #[test]
    fn fills_in_input_order_and_counts() {
        let m = MISSING;
        let mut carry = None;
        let mut ts = [m, m, 10, m, 20, m];
        let s = run(&mut carry, &mut ts);
        assert_eq!(ts, [10, 10, 10, 10, 20, 20]);
        assert_eq!(
            (s.entries, s.found, s.first_found, s.previous_line),
            (6, 2, 2, 2)
        );
        assert_eq!(carry, Some(20));
        // The next piece starts from the carry.
        let mut ts = [m, 30];
        let s = run(&mut carry, &mut ts);
        assert_eq!(ts, [20, 30]);
        assert_eq!((s.previous_line, s.first_found), (1, 0));
        // A file without any timestamp takes the reference.
        let mut carry = None;
        let mut ts = [m, m];
        let s = run(&mut carry, &mut ts);
        assert_eq!(ts, [7, 7]);
        assert_eq!((s.mtime, carry), (2, Some(7)));
    }

    #[test]
    fn far_timestamps_are_counted_not_changed() {
        let day = 86_400_000_000_000i64;
        let mut carry = Some(0);
        let mut ts = [day, 40 * day, 41 * day];
        let s = run(&mut carry, &mut ts);
        assert_eq!(ts, [day, 40 * day, 41 * day]);
        assert_eq!(s.far_from_previous, 1);
        assert_eq!(s.notes.len(), 1);
    }

    #[test]
    fn head_lines_drop_a_partial_last_line() {
        assert_eq!(head_lines(b"a\r\nb\nc", false), [&b"a"[..], b"b"]);
        assert_eq!(head_lines(b"a\nb\nc", true), [&b"a"[..], b"b", b"c"]);
    }
}
