//! Timestamp auto-detection: what `lokal ingest` does with no flags.
//!
//! Structured lines first (a JSON object's top-level `ts`/`time`/
//! `timestamp`/`@timestamp`), then the styles that only make sense at the
//! start of a line (syslog, klog, logcat, a bare epoch), then one pass over
//! the first [`SCAN_LIMIT`] bytes that tries, at each word start, the styles
//! that may appear anywhere (ISO 8601 / RFC 3339, Apache/nginx `[10/Oct/2000:
//! 13:55:36 -0700]`, ctime / RFC 1123, logfmt `ts=` / `time=`). The first
//! candidate that parses *and* validates wins.
//!
//! No regex, no allocation: every detector is a hand-written matcher over
//! bytes. Exotic styles (`081109 203615`, `17/06/09 ...`) are deliberately
//! not guessed: a wrong time is worse than none, and flags cover them.

use std::sync::OnceLock;

use memchr::memmem::Finder;
use memchr::{memchr, memchr2};

use super::civil::{self, at, d2, d4, digit, Parsed, Unit};

/// How far into a line a timestamp may start for the scan to find it.
pub(crate) const SCAN_LIMIT: usize = 200;

/// Which detector found a timestamp; remembered with its byte offset so the
/// next line (usually of the same shape) tries it first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Det {
    /// A top-level JSON member; the index into [`TIME_KEYS`] of its key.
    Json(u8),
    Logfmt,
    Iso,
    Clf,
    Ctime,
    Syslog,
    Klog,
    Logcat,
    Epoch,
}

/// Runs detector `det` at offset `i` only: the fast path for a line shaped
/// like the previous one.
#[inline]
pub(crate) fn try_at(det: Det, b: &[u8], i: usize) -> Option<Parsed> {
    let hit = match det {
        Det::Json(key) => return json_key_at(b, i).or_else(|| json_key_search(b, key)),
        Det::Logfmt => logfmt_at(b, i),
        Det::Iso if word_start(b, i) => iso(b, i),
        // Access logs start with a client address of varying length: when the
        // offset moved, the `[` before the date is one memchr away.
        Det::Clf => clf(b, i).filter(|_| word_start(b, i)).or_else(|| {
            let k = memchr(b'[', &b[..b.len().min(SCAN_LIMIT)])?;
            clf(b, k + 1)
        }),
        Det::Ctime if word_start(b, i) => ctime(b, i),
        Det::Syslog if i == 0 || at(b, i - 1) == b'>' => syslog(b, i),
        Det::Klog if i == 0 => klog(b),
        Det::Logcat if i == 0 => logcat(b),
        Det::Epoch if i == 0 => epoch_at_start(b),
        _ => None,
    };
    hit.map(|(p, _)| p)
}

/// Finds the timestamp of a line: the detector, where it matched, and the fields.
pub(crate) fn detect(b: &[u8]) -> Option<(Det, usize, Parsed)> {
    let s = skip_ws(b, 0);
    if at(b, s) == b'{' {
        if let Some((k, key, p)) = json_find(b, s) {
            return Some((Det::Json(key), k, p));
        }
    }
    detect_text(b, true)
}

/// Reads a timestamp at the start of a field's value (a JSON string, a
/// logfmt value, a regex capture): an epoch number by magnitude, or any
/// style the line detectors know.
pub(crate) fn parse_value(t: &[u8]) -> Option<Parsed> {
    let s = skip_ws(t, 0);
    if digit(t, s).is_some() {
        // The usual value, tried before anything else.
        if let Some((p, _)) = iso(t, s) {
            return Some(p);
        }
        if let Some((ns, j)) = civil::epoch_number(t, s, None) {
            if skip_ws(t, j) == t.len() {
                return Some(Parsed::epoch(ns));
            }
        }
    }
    let t = &t[s..];
    detect_text(t, false)
        .map(|(_, _, p)| p)
        .or_else(|| date_only(t))
}

/// A bare `YYYY-MM-DD` value (midnight): only as a whole field value, where
/// nothing else could be meant; in free text a date alone is too weak a hint.
fn date_only(t: &[u8]) -> Option<Parsed> {
    if at(t, 4) != b'-' || at(t, 7) != b'-' || skip_ws(t, 10) != t.len() {
        return None;
    }
    let p = Parsed {
        year: Some(d4(t, 0)? as i32),
        month: d2(t, 5)? as u8,
        day: d2(t, 8)? as u8,
        ..Parsed::default()
    };
    p.plausible().then_some(p)
}

/// Line-start styles, then the scan. `logfmt` is off inside values so a
/// value cannot recurse into itself.
fn detect_text(b: &[u8], logfmt: bool) -> Option<(Det, usize, Parsed)> {
    let start = pri_end(b).unwrap_or(0);
    let c = at(b, start);
    if c.is_ascii_uppercase() {
        if let Some((p, _)) = syslog(b, start) {
            return Some((Det::Syslog, start, p));
        }
        if start == 0 {
            if let Some((p, _)) = klog(b) {
                return Some((Det::Klog, 0, p));
            }
        }
    } else if c.is_ascii_digit() && start == 0 {
        if let Some((p, _)) = logcat(b) {
            return Some((Det::Logcat, 0, p));
        }
        if let Some((p, _)) = epoch_at_start(b) {
            return Some((Det::Epoch, 0, p));
        }
    }
    scan(b, start, logfmt)
}

/// The pass over the first [`SCAN_LIMIT`] bytes for the anywhere-styles.
///
/// Every one of them except a logfmt epoch holds an `HH:MM:SS`, and its start
/// lies a fixed distance before that time's first colon (ISO 13 bytes, CLF 14,
/// ctime 12-13, RFC 1123 18-19). So instead of trying every word start, this
/// visits the colons (memchr) and tries only the starts those imply: lines
/// without a timestamp cost little more than the memchr. Candidates from a
/// later colon always start after those of an earlier one, so the first hit
/// is the leftmost candidate, the same answer as trying each word start in
/// order ([`scan_naive`] in the tests checks this).
fn scan(b: &[u8], from: usize, logfmt: bool) -> Option<(Det, usize, Parsed)> {
    let n = b.len().min(SCAN_LIMIT);
    let lf = if logfmt {
        scan_logfmt(b, from, n)
    } else {
        None
    };
    let limit = lf.as_ref().map_or(n, |(_, at, _)| *at);
    let end = b.len().min(limit + 19);
    if from >= end {
        return lf;
    }
    for c in memchr::memchr_iter(b':', &b[from..end]) {
        let c = from + c;
        if !is_hms_colon(b, c) {
            continue;
        }
        for back in [19, 18, 14, 13, 12] {
            let Some(i) = c.checked_sub(back).filter(|&i| i >= from && i < limit) else {
                continue;
            };
            if !word_start(b, i) {
                continue;
            }
            let hit = match (back, b[i]) {
                (13, b'0'..=b'9') => iso(b, i).map(|r| (Det::Iso, r)),
                (14, b'0'..=b'9') => clf(b, i).map(|r| (Det::Clf, r)),
                (_, b'A'..=b'Z') if back != 14 => ctime(b, i).map(|r| (Det::Ctime, r)),
                _ => None,
            };
            if let Some((det, (p, _))) = hit {
                return Some((det, i, p));
            }
        }
    }
    lf
}

/// Whether the colon at `c` opens the `MM:SS` of an `HH:MM:SS`.
#[inline]
fn is_hms_colon(b: &[u8], c: usize) -> bool {
    c >= 2
        && at(b, c + 3) == b':'
        && [c - 2, c - 1, c + 1, c + 2, c + 4, c + 5]
            .iter()
            .all(|&k| digit(b, k).is_some())
}

/// The first logfmt `ts=` / `time=` whose value parses, found from its `=`.
fn scan_logfmt(b: &[u8], from: usize, n: usize) -> Option<(Det, usize, Parsed)> {
    let end = b.len().min(n + 5);
    for e in memchr::memchr_iter(b'=', &b[from..end]) {
        let e = from + e;
        let i = if e >= 2 && &b[e - 2..e] == b"ts" {
            e - 2
        } else if e >= 4 && &b[e - 4..e] == b"time" {
            e - 4
        } else {
            continue;
        };
        if i < from || i >= n {
            continue;
        }
        if let Some((p, _)) = logfmt_at(b, i) {
            return Some((Det::Logfmt, i, p));
        }
    }
    None
}

/// The straightforward scan [`scan`] must agree with: every word start in
/// order, each style tried in turn.
#[cfg(test)]
pub(crate) fn scan_naive(b: &[u8], logfmt: bool) -> Option<(Det, usize, Parsed)> {
    let n = b.len().min(SCAN_LIMIT);
    let mut prev_alnum = false;
    for i in 0..n {
        let c = b[i];
        let alnum = c.is_ascii_alphanumeric();
        if alnum && !prev_alnum {
            let hit = match c {
                b'0'..=b'9' => match iso(b, i) {
                    Some(r) => Some((Det::Iso, r)),
                    None => clf(b, i).map(|r| (Det::Clf, r)),
                },
                b'A'..=b'Z' => ctime(b, i).map(|r| (Det::Ctime, r)),
                b't' if logfmt => logfmt_at(b, i).map(|r| (Det::Logfmt, r)),
                _ => None,
            };
            if let Some((det, (p, _))) = hit {
                return Some((det, i, p));
            }
        }
        prev_alnum = alnum;
    }
    None
}

/// [`scan`] from the line start, for the equivalence test.
#[cfg(test)]
pub(crate) fn scan_fast(b: &[u8], logfmt: bool) -> Option<(Det, usize, Parsed)> {
    scan(b, 0, logfmt)
}

#[inline]
fn word_start(b: &[u8], i: usize) -> bool {
    i < b.len() && (i == 0 || !b[i - 1].is_ascii_alphanumeric())
}

#[inline]
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(at(b, i), b' ' | b'\t' | b'\r' | b'\n') {
        i += 1;
    }
    i
}

/// End of a syslog `<PRI>` prefix (`<34>`).
fn pri_end(b: &[u8]) -> Option<usize> {
    if at(b, 0) != b'<' {
        return None;
    }
    let (_, j) = civil::digits_between(b, 1, 1, 3)?;
    (at(b, j) == b'>').then_some(j + 1)
}

/// `HH:MM:SS` at `i`, not followed by another digit.
#[inline]
fn hms(b: &[u8], i: usize, p: &mut Parsed) -> Option<usize> {
    if at(b, i + 2) != b':' || at(b, i + 5) != b':' || digit(b, i + 8).is_some() {
        return None;
    }
    p.hour = d2(b, i)? as u8;
    p.minute = d2(b, i + 3)? as u8;
    p.second = d2(b, i + 6)? as u8;
    Some(i + 8)
}

/// An optional `.fff` / `,fff` fraction at `j`; a separator without digits
/// (`04:30:30, Info`) is left alone.
#[inline]
fn opt_fraction(b: &[u8], j: usize, p: &mut Parsed) -> usize {
    if matches!(at(b, j), b'.' | b',') && digit(b, j + 1).is_some() {
        if let Some((ns, e)) = civil::fraction(b, j + 1) {
            p.nanos = ns;
            return e;
        }
    }
    j
}

fn valid(p: Parsed, end: usize) -> Option<(Parsed, usize)> {
    p.plausible().then_some((p, end))
}

/// RFC 3339 / ISO 8601: `YYYY-MM-DD[T ]HH:MM:SS[.,fff][Z|±hh:mm|±hhmm|±hh]`,
/// also with the offset after a space (`... 10:00:00 -0700`, Go's default)
/// or ` UTC`.
fn iso(b: &[u8], i: usize) -> Option<(Parsed, usize)> {
    if at(b, i + 4) != b'-' || at(b, i + 7) != b'-' || !matches!(at(b, i + 10), b'T' | b't' | b' ')
    {
        return None;
    }
    let mut p = Parsed {
        year: Some(d4(b, i)? as i32),
        month: d2(b, i + 5)? as u8,
        day: d2(b, i + 8)? as u8,
        ..Parsed::default()
    };
    let mut j = hms(b, i + 11, &mut p)?;
    j = opt_fraction(b, j, &mut p);
    match at(b, j) {
        b'Z' | b'z' | b'+' | b'-' => {
            if let Some((o, e)) = civil::offset(b, j) {
                p.offset = Some(o);
                j = e;
            }
        }
        b' ' if matches!(at(b, j + 1), b'+' | b'-') => {
            // Only a full `±hhmm` / `±hh:mm` after a space, so that a number
            // such as ` -12 ms` is not taken for an offset.
            if let Some((o, e)) = civil::offset(b, j + 1).filter(|&(_, e)| e >= j + 6) {
                p.offset = Some(o);
                j = e;
            }
        }
        b' ' if b[j + 1..].starts_with(b"UTC") && !at(b, j + 4).is_ascii_alphanumeric() => {
            p.offset = Some(0);
            j += 4;
        }
        _ => {}
    }
    valid(p, j)
}

/// Apache/nginx common log: `10/Oct/2000:13:55:36 -0700` (the `[` is a
/// word boundary, so the scan lands on the day).
fn clf(b: &[u8], i: usize) -> Option<(Parsed, usize)> {
    if at(b, i + 2) != b'/' || at(b, i + 6) != b'/' || at(b, i + 11) != b':' {
        return None;
    }
    let mut p = Parsed {
        day: d2(b, i)? as u8,
        month: civil::month_abbr(b, i + 3)?,
        year: Some(d4(b, i + 7)? as i32),
        ..Parsed::default()
    };
    let mut j = hms(b, i + 12, &mut p)?;
    j = opt_fraction(b, j, &mut p);
    if at(b, j) == b' ' && matches!(at(b, j + 1), b'+' | b'-') {
        if let Some((o, e)) = civil::offset(b, j + 1) {
            p.offset = Some(o);
            j = e;
        }
    }
    valid(p, j)
}

/// A day of month after a month name: `04`, `4` or ` 4` (ANSIC pads with a space).
#[inline]
fn padded_day(b: &[u8], i: usize) -> Option<(u8, usize)> {
    let i = if at(b, i) == b' ' { i + 1 } else { i };
    let (d, j) = civil::digits_between(b, i, 1, 2)?;
    Some((d as u8, j))
}

/// ctime / Apache error log `Sun Dec 04 04:47:44[.ffffff] [ZONE ]2005`, and
/// RFC 1123 `Sun, 04 Dec 2005 04:47:44 GMT|-0700`. Needs a real weekday
/// name, so ordinary capitalised words are rejected after three bytes.
fn ctime(b: &[u8], i: usize) -> Option<(Parsed, usize)> {
    civil::weekday_abbr(b, i)?;
    let mut p = Parsed::default();
    match (at(b, i + 3), at(b, i + 4)) {
        (b' ', _) => {
            p.month = civil::month_abbr(b, i + 4)?;
            if at(b, i + 7) != b' ' {
                return None;
            }
            let (d, j) = padded_day(b, i + 8)?;
            p.day = d;
            if at(b, j) != b' ' {
                return None;
            }
            let mut j = hms(b, j + 1, &mut p)?;
            j = opt_fraction(b, j, &mut p);
            if at(b, j) != b' ' {
                return None;
            }
            j += 1;
            // UnixDate / RubyDate put a zone before the year.
            if !at(b, j).is_ascii_digit() {
                let (o, e) = zone_word(b, j)?;
                p.offset = o;
                if at(b, e) != b' ' {
                    return None;
                }
                j = e + 1;
            }
            if digit(b, j + 4).is_some() {
                return None;
            }
            p.year = Some(d4(b, j)? as i32);
            valid(p, j + 4)
        }
        (b',', b' ') => {
            let (d, j) = civil::digits_between(b, i + 5, 1, 2)?;
            p.day = d as u8;
            if at(b, j) != b' ' || at(b, j + 4) != b' ' {
                return None;
            }
            p.month = civil::month_abbr(b, j + 1)?;
            p.year = Some(d4(b, j + 5)? as i32);
            if at(b, j + 9) != b' ' {
                return None;
            }
            let mut e = hms(b, j + 10, &mut p)?;
            e = opt_fraction(b, e, &mut p);
            if at(b, e) == b' ' {
                if let Some((o, z)) = zone_word(b, e + 1) {
                    p.offset = o;
                    e = z;
                }
            }
            valid(p, e)
        }
        _ => None,
    }
}

/// A zone after a time: a numeric offset, or letters where only `UTC`, `GMT`,
/// `UT` and `Z` are known (others leave the configured zone in charge).
fn zone_word(b: &[u8], i: usize) -> Option<(Option<i32>, usize)> {
    if let Some((o, e)) =
        civil::offset(b, i).filter(|_| at(b, i) != b'Z' || !at(b, i + 1).is_ascii_alphabetic())
    {
        return Some((Some(o), e));
    }
    let mut j = i;
    while j - i < 6 && at(b, j).is_ascii_uppercase() {
        j += 1;
    }
    if j == i {
        return None;
    }
    let known = matches!(&b[i..j], b"UTC" | b"GMT" | b"UT");
    Some((known.then_some(0), j))
}

/// BSD syslog `Mmm dd HH:MM:SS`, `Mmm  d HH:MM:SS` or `Mmm d ...`; no year.
fn syslog(b: &[u8], i: usize) -> Option<(Parsed, usize)> {
    if at(b, i + 3) != b' ' {
        return None;
    }
    let mut p = Parsed {
        month: civil::month_abbr(b, i)?,
        ..Parsed::default()
    };
    let (d, j) = padded_day(b, i + 4)?;
    p.day = d;
    if at(b, j) != b' ' {
        return None;
    }
    let mut j = hms(b, j + 1, &mut p)?;
    j = opt_fraction(b, j, &mut p);
    valid(p, j)
}

/// klog header `Lmmdd HH:MM:SS.uuuuuu` (L one of I W E F); no year.
fn klog(b: &[u8]) -> Option<(Parsed, usize)> {
    if !matches!(at(b, 0), b'I' | b'W' | b'E' | b'F') || at(b, 5) != b' ' {
        return None;
    }
    let mut p = Parsed {
        month: d2(b, 1)? as u8,
        day: d2(b, 3)? as u8,
        ..Parsed::default()
    };
    let mut j = hms(b, 6, &mut p)?;
    j = opt_fraction(b, j, &mut p);
    valid(p, j)
}

/// Android logcat `MM-DD HH:MM:SS.mmm`; no year.
fn logcat(b: &[u8]) -> Option<(Parsed, usize)> {
    if at(b, 2) != b'-' || at(b, 5) != b' ' {
        return None;
    }
    let mut p = Parsed {
        month: d2(b, 0)? as u8,
        day: d2(b, 3)? as u8,
        ..Parsed::default()
    };
    let mut j = hms(b, 6, &mut p)?;
    j = opt_fraction(b, j, &mut p);
    valid(p, j)
}

/// A bare epoch opening the line: exactly 10 (seconds, optional fraction),
/// 13 (ms), 16 (µs) or 19 (ns) digits, ending the word. Other digit
/// counts (`081109`, `134681`) are ids or exotic dates, not guessed.
fn epoch_at_start(b: &[u8]) -> Option<(Parsed, usize)> {
    if at(b, 0) == b'0' {
        return None;
    }
    let (v, n, mut j) = civil::uint(b, 0)?;
    let unit = match n {
        10 => Unit::Sec,
        13 => Unit::Milli,
        16 => Unit::Micro,
        19 => Unit::Nano,
        _ => return None,
    };
    let mut frac: &[u8] = &[];
    if unit == Unit::Sec && at(b, j) == b'.' && digit(b, j + 1).is_some() {
        let s = j + 1;
        j = s;
        while digit(b, j).is_some() {
            j += 1;
        }
        frac = &b[s..j];
    }
    let end = at(b, j);
    if end.is_ascii_alphanumeric() || matches!(end, b'-' | b':' | b'/' | b'.' | b',') {
        return None;
    }
    Some((Parsed::epoch(civil::epoch_ns(v, unit, frac)?), j))
}

/// logfmt `ts=` / `time=` at `i` (a key start), value quoted or bare.
fn logfmt_at(b: &[u8], i: usize) -> Option<(Parsed, usize)> {
    let rest = b.get(i..)?;
    if i > 0 && !matches!(b[i - 1], b' ' | b'\t' | b'{' | b',' | b';' | b'[' | b'(') {
        return None;
    }
    let v = if rest.starts_with(b"ts=") {
        i + 3
    } else if rest.starts_with(b"time=") {
        i + 5
    } else {
        return None;
    };
    let (s, e) = if at(b, v) == b'"' {
        (v + 1, v + 1 + memchr(b'"', &b[v + 1..])?)
    } else {
        (v, memchr2(b' ', b'\t', &b[v..]).map_or(b.len(), |e| v + e))
    };
    let p = parse_value(&b[s..e])?;
    Some((p, e))
}

/// The JSON keys that hold an entry's time.
const TIME_KEYS: [&[u8]; 4] = [b"ts", b"time", b"timestamp", b"@timestamp"];
/// The same keys as they appear in compact JSON, for a memmem search.
const TIME_KEY_NEEDLES: [&[u8]; 4] = [
    b"\"ts\":",
    b"\"time\":",
    b"\"timestamp\":",
    b"\"@timestamp\":",
];

fn time_key(k: &[u8]) -> Option<u8> {
    TIME_KEYS.iter().position(|t| *t == k).map(|i| i as u8)
}

/// Walks the top-level members of the JSON object opening at `open` and
/// returns the first time key whose value parses, with the key's offset and
/// index. Nested objects and arrays are skipped, so `{"a":{"ts":..}}` does
/// not count.
fn json_find(b: &[u8], open: usize) -> Option<(usize, u8, Parsed)> {
    let mut i = open + 1;
    loop {
        i = skip_ws(b, i);
        if at(b, i) != b'"' {
            return None;
        }
        let key_at = i;
        let key_end = string_end(b, i)?;
        i = skip_ws(b, key_end + 1);
        if at(b, i) != b':' {
            return None;
        }
        i = skip_ws(b, i + 1);
        if let Some(key) = time_key(&b[key_at + 1..key_end]) {
            if let Some(p) = json_value(b, i) {
                return Some((key_at, key, p));
            }
        }
        i = skip_ws(b, skip_value(b, i)?);
        if at(b, i) != b',' {
            return None;
        }
        i += 1;
    }
}

/// The fast path for JSON: a time key at the same offset as last time, right
/// after `{` or `,`.
fn json_key_at(b: &[u8], k: usize) -> Option<Parsed> {
    if at(b, k) != b'"' {
        return None;
    }
    let before = b[..k].iter().rev().find(|c| !c.is_ascii_whitespace());
    if !matches!(before, Some(b'{' | b',')) {
        return None;
    }
    let key_end = string_end(b, k)?;
    time_key(&b[k + 1..key_end])?;
    let i = skip_ws(b, key_end + 1);
    if at(b, i) != b':' {
        return None;
    }
    json_value(b, skip_ws(b, i + 1))
}

/// The second-fastest path for JSON: the key that matched last, found by
/// memmem when the members before it changed length (e.g. `"time"` last
/// in logrus lines). It must follow `{` or `,`; like the offset fast path it
/// does not prove the member is top-level, a risk taken for lines that had
/// the same shape as a line whose key was.
fn json_key_search(b: &[u8], key: u8) -> Option<Parsed> {
    // Built once: constructing a searcher per call would cost as much as the search.
    static FINDERS: OnceLock<[Finder<'static>; 4]> = OnceLock::new();
    let finders = FINDERS.get_or_init(|| TIME_KEY_NEEDLES.map(Finder::new));
    let k = finders[usize::from(key)].find(b)?;
    json_key_at(b, k)
}

/// A time value: a string holding any known style, or a number taken as
/// epoch seconds/ms/µs/ns by magnitude.
fn json_value(b: &[u8], i: usize) -> Option<Parsed> {
    match at(b, i) {
        b'"' => parse_value(&b[i + 1..string_end(b, i)?]),
        b'0'..=b'9' => {
            let (ns, j) = civil::epoch_number(b, i, None)?;
            matches!(
                at(b, j),
                b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n' | 0
            )
            .then(|| Parsed::epoch(ns))
        }
        _ => None,
    }
}

/// Index of the quote closing the JSON string that opens at `i`.
fn string_end(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    loop {
        let k = j + memchr2(b'"', b'\\', b.get(j..)?)?;
        if b[k] == b'"' {
            return Some(k);
        }
        j = k + 2;
    }
}

/// Index just past the JSON value at `i`.
fn skip_value(b: &[u8], i: usize) -> Option<usize> {
    match at(b, i) {
        b'"' => Some(string_end(b, i)? + 1),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = string_end(b, j)? + 1;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            None
        }
        _ => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n')
            {
                j += 1;
            }
            (j > i).then_some(j)
        }
    }
}
