//! The timestamp syntaxes auto-detection knows, each a matcher at a given
//! byte offset: `Syntax::parse(line, i)`. Where in a line a syntax is tried
//! (the line start, a field, a JSON or logfmt key) is `detect.rs`'s job.
//!
//! The frequent syntaxes (ISO 8601, Apache/nginx, ctime, syslog, klog,
//! logcat, epochs) are hand-written byte matchers; the rarer fixed layouts
//! (HDFS `081109 203615`, Spark `17/06/09 20:10:40`, HealthApp,
//! Proxifier, BlueGene/L, java.util.logging, Redis) are compiled once from
//! strftime with the `--timestamp-format` engine, so there is one parser
//! for them. No regex, no allocation per line.

use std::sync::OnceLock;

use super::civil::{self, at, d2, d4, digit, Parsed, Unit};
use super::format::Format;

/// A timestamp syntax.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Syntax {
    /// ISO 8601 / RFC 3339: `2024-01-01T00:00:00[.f][Z|±hh:mm]`, also with
    /// a space, `,fff` (log4j, Python) and ` ±hhmm` / ` UTC` after it.
    Iso,
    /// `2024/01/01 00:00:00[.f]` (Go's `log`, nginx's error log).
    IsoSlash,
    /// Apache/nginx `10/Oct/2000:13:55:36 -0700`.
    Clf,
    /// ctime / Apache error log `Sun Dec 04 04:47:44 [ZONE ]2005` and RFC 1123
    /// `Sun, 04 Dec 2005 04:47:44 GMT`.
    Ctime,
    /// java.util.logging `Jan 2, 2024 1:02:03 PM`.
    JavaUtil,
    /// Redis and others: `01 Jan 2024 00:00:00[.123]`.
    DayMonYear,
    /// BlueGene/L, IBM DB2 `2005-06-03-15.42.50.675872`.
    Db2,
    /// HealthApp `20171223-22:15:29:606` (unpadded hour, minute, second, ms).
    Compact,
    /// HDFS `081109 203615` (`yyMMdd HHmmss`).
    Hdfs,
    /// Spark / log4j `17/06/09 20:10:40` (`yy/MM/dd HH:mm:ss`).
    ShortYmd,
    /// An epoch number of exactly 10 (seconds, optional fraction), 13 (ms),
    /// 16 (µs) or 19 (ns) digits.
    Epoch,
    /// BSD syslog (RFC 3164) `Mmm dd HH:MM:SS`; no year.
    Syslog,
    /// klog `Lmmdd HH:MM:SS.uuuuuu` (L one of I W E F); no year.
    Klog,
    /// Android logcat `MM-dd HH:mm:ss.SSS`; no year.
    Logcat,
    /// Proxifier `10.30 16:49:06` (`MM.dd HH:mm:ss`, in brackets); no year.
    Proxifier,
}

impl Syntax {
    /// Every syntax, in the order they are tried at one position (the more
    /// specific first, where two could read the same bytes).
    pub(crate) const ALL: [Syntax; 15] = [
        Syntax::Iso,
        Syntax::Db2,
        Syntax::IsoSlash,
        Syntax::Clf,
        Syntax::Ctime,
        Syntax::JavaUtil,
        Syntax::DayMonYear,
        Syntax::Compact,
        Syntax::Syslog,
        Syntax::Klog,
        Syntax::Logcat,
        Syntax::Proxifier,
        Syntax::Hdfs,
        Syntax::ShortYmd,
        Syntax::Epoch,
    ];

    /// Syntaxes distinctive enough to be read at a line start from a single
    /// line, when the line matches none of its file's styles (a format that
    /// changes mid-file, lines of another program). The others (bare digits:
    /// epochs, HDFS, Spark; Proxifier's dotted date) are only taken when the
    /// first lines of the file agree on them.
    pub(crate) fn distinctive(self) -> bool {
        !matches!(
            self,
            Syntax::Epoch | Syntax::Hdfs | Syntax::ShortYmd | Syntax::Proxifier
        )
    }

    /// Syntaxes that may sit in a later field of a line (after a host, an
    /// id or a file name), learned from the file's first lines: the ones
    /// with a full date, or an epoch.
    pub(crate) fn in_fields(self) -> bool {
        matches!(
            self,
            Syntax::Iso
                | Syntax::Db2
                | Syntax::IsoSlash
                | Syntax::Clf
                | Syntax::Ctime
                | Syntax::DayMonYear
                | Syntax::Epoch
        )
    }

    /// Whether the syntax carries no year.
    pub(crate) fn yearless(self) -> bool {
        matches!(
            self,
            Syntax::Syslog | Syntax::Klog | Syntax::Logcat | Syntax::Proxifier
        )
    }

    /// A name for people (`--dry-run`, the summary).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Syntax::Iso => "ISO 8601",
            Syntax::IsoSlash => "yyyy/MM/dd HH:mm:ss",
            Syntax::Clf => "Apache/nginx dd/MMM/yyyy:HH:mm:ss ±zzzz",
            Syntax::Ctime => "ctime/RFC 1123",
            Syntax::JavaUtil => "MMM d, yyyy h:mm:ss a",
            Syntax::DayMonYear => "dd MMM yyyy HH:mm:ss",
            Syntax::Db2 => "yyyy-MM-dd-HH.mm.ss.ffffff",
            Syntax::Compact => "yyyyMMdd-H:m:s:SSS",
            Syntax::Hdfs => "yyMMdd HHmmss",
            Syntax::ShortYmd => "yy/MM/dd HH:mm:ss",
            Syntax::Epoch => "unix time",
            Syntax::Syslog => "syslog MMM dd HH:mm:ss",
            Syntax::Klog => "klog Lmmdd HH:mm:ss.uuuuuu",
            Syntax::Logcat => "logcat MM-dd HH:mm:ss.SSS",
            Syntax::Proxifier => "MM.dd HH:mm:ss",
        }
    }

    /// The timestamp at byte `i` of `b` and where it ends; it must end a word.
    #[inline]
    pub(crate) fn parse(self, b: &[u8], i: usize) -> Option<(Parsed, usize)> {
        let (p, end) = match self {
            Syntax::Iso => iso(b, i),
            Syntax::Clf => clf(b, i),
            Syntax::Ctime => ctime(b, i),
            Syntax::Syslog => syslog(b, i),
            Syntax::Klog => klog(b, i),
            Syntax::Logcat => logcat(b, i),
            Syntax::Epoch => epoch_field(b, i),
            _ => layout(self)?
                .parse_end(b.get(i..)?)
                .map(|(p, e)| (p, i + e)),
        }?;
        (!at(b, end).is_ascii_alphanumeric()).then_some((p, end))
    }
}

/// The layouts compiled once from strftime, in [`Syntax`] order from
/// `IsoSlash`; `None` for the hand-written syntaxes.
fn layout(s: Syntax) -> Option<&'static Format> {
    static LAYOUTS: OnceLock<[Format; 8]> = OnceLock::new();
    let all = LAYOUTS.get_or_init(|| {
        [
            "%Y/%m/%d %H:%M:%S",
            "%b %d, %Y %I:%M:%S %p",
            "%d %b %Y %H:%M:%S",
            "%Y-%m-%d-%H.%M.%S.%f",
            "%Y%m%d-%H:%M:%S:%L",
            "%y%m%d %H%M%S",
            "%y/%m/%d %H:%M:%S",
            "%m.%d %H:%M:%S",
        ]
        .map(|f| Format::compile(f).expect("built-in layouts compile"))
    });
    let k = match s {
        Syntax::IsoSlash => 0,
        Syntax::JavaUtil => 1,
        Syntax::DayMonYear => 2,
        Syntax::Db2 => 3,
        Syntax::Compact => 4,
        Syntax::Hdfs => 5,
        Syntax::ShortYmd => 6,
        Syntax::Proxifier => 7,
        _ => return None,
    };
    Some(&all[k])
}

/// Reads a timestamp at the start of a field's value (a JSON string, a
/// logfmt value, a regex capture): an epoch number by magnitude when it is
/// the whole value, or any syntax above, or a bare `YYYY-MM-DD`.
pub(crate) fn parse_value(t: &[u8]) -> Option<Parsed> {
    let s = skip_ws(t, 0);
    if digit(t, s).is_some() {
        // The usual value, tried before anything else.
        if let Some((p, _)) = Syntax::Iso.parse(t, s) {
            return Some(p);
        }
        if let Some((ns, j)) = civil::epoch_number(t, s, None) {
            if skip_ws(t, j) == t.len() {
                return Some(Parsed::epoch(ns));
            }
        }
    }
    Syntax::ALL
        .iter()
        .find_map(|syn| syn.parse(t, s))
        .map(|(p, _)| p)
        .or_else(|| date_only(&t[s..]))
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

#[inline]
pub(crate) fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(at(b, i), b' ' | b'\t' | b'\r' | b'\n') {
        i += 1;
    }
    i
}

/// End of a syslog `<PRI>` prefix (`<34>`).
pub(crate) fn pri_end(b: &[u8]) -> Option<usize> {
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
/// or a zone name (`UTC`, or one of the table's) after a space.
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
        b' ' if at(b, j + 1).is_ascii_uppercase() => {
            // A zone name only when it is one we know: other capitalised
            // words after a time are log levels (`INFO`) and the like.
            let e = upper_word_end(b, j + 1);
            if let Some(o) = civil::zone_abbr(&b[j + 1..e]) {
                p.offset = Some(o);
                j = e;
            }
        }
        _ => {}
    }
    valid(p, j)
}

/// The end of the word of at most 5 upper-case letters at `i`, or `i` when
/// the word is longer or goes on with other letters or digits.
#[inline]
fn upper_word_end(b: &[u8], i: usize) -> usize {
    let mut j = i;
    while j - i < 5 && at(b, j).is_ascii_uppercase() {
        j += 1;
    }
    if at(b, j).is_ascii_alphanumeric() {
        return i;
    }
    j
}

/// Apache/nginx common log: `10/Oct/2000:13:55:36 -0700`.
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
                let (o, unknown, e) = zone_word(b, j)?;
                p.offset = o;
                p.zone_unknown = unknown;
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
                if let Some((o, unknown, z)) = zone_word(b, e + 1) {
                    p.offset = o;
                    p.zone_unknown = unknown;
                    e = z;
                }
            }
            valid(p, e)
        }
        _ => None,
    }
}

/// A zone after a time: a numeric offset, or a name from the
/// [`civil::ZONE_ABBRS`] table. Other names are read but flagged unknown
/// (the configured zone applies).
fn zone_word(b: &[u8], i: usize) -> Option<(Option<i32>, bool, usize)> {
    if let Some((o, e)) =
        civil::offset(b, i).filter(|_| at(b, i) != b'Z' || !at(b, i + 1).is_ascii_alphabetic())
    {
        return Some((Some(o), false, e));
    }
    let mut j = i;
    while j - i < 6 && at(b, j).is_ascii_uppercase() {
        j += 1;
    }
    if j == i {
        return None;
    }
    let o = civil::zone_abbr(&b[i..j]);
    Some((o, o.is_none(), j))
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
fn klog(b: &[u8], i: usize) -> Option<(Parsed, usize)> {
    if !matches!(at(b, i), b'I' | b'W' | b'E' | b'F') || at(b, i + 5) != b' ' {
        return None;
    }
    let mut p = Parsed {
        month: d2(b, i + 1)? as u8,
        day: d2(b, i + 3)? as u8,
        ..Parsed::default()
    };
    let mut j = hms(b, i + 6, &mut p)?;
    j = opt_fraction(b, j, &mut p);
    valid(p, j)
}

/// Android logcat `MM-DD HH:MM:SS.mmm`; no year.
fn logcat(b: &[u8], i: usize) -> Option<(Parsed, usize)> {
    if at(b, i + 2) != b'-' || at(b, i + 5) != b' ' || digit(b, i + 6).is_none() {
        return None;
    }
    let mut p = Parsed {
        month: d2(b, i)? as u8,
        day: d2(b, i + 3)? as u8,
        ..Parsed::default()
    };
    let mut j = hms(b, i + 6, &mut p)?;
    j = opt_fraction(b, j, &mut p);
    valid(p, j)
}

/// An epoch opening a field: exactly 10 (seconds, optional fraction), 13
/// (ms), 16 (µs) or 19 (ns) digits, ending the word. Other digit counts
/// (`081109`, `134681`) are ids or other dates, not guessed.
fn epoch_field(b: &[u8], i: usize) -> Option<(Parsed, usize)> {
    if at(b, i) == b'0' || (i > 0 && (b[i - 1].is_ascii_digit() || b[i - 1] == b'-')) {
        return None;
    }
    let (v, n, mut j) = civil::uint(b, i)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: Syntax, line: &str) -> Option<usize> {
        s.parse(line.as_bytes(), 0).map(|(_, e)| e)
    }

    #[test]
    fn each_syntax_reads_its_example_and_ends_right() {
        let cases: &[(Syntax, &str, usize)] = &[
            (Syntax::Iso, "2024-05-07T10:58:13.877Z [INFO]", 24),
            (Syntax::Iso, "2016-09-28 04:30:30, Info", 19),
            (Syntax::Iso, "2024-05-07 10:00:00 PDT x", 23),
            (Syntax::Iso, "2024-05-07 10:00:00 INFO x", 19),
            (Syntax::IsoSlash, "2024/01/02 03:04:05 [error]", 19),
            (Syntax::IsoSlash, "2024/01/02 03:04:05.123456 x", 26),
            (Syntax::Clf, "17/May/2015:10:05:03 +0000]", 26),
            (Syntax::Ctime, "Sun Dec 04 04:47:44 2005]", 24),
            (Syntax::Ctime, "Fri Dec 10 19:02:14 EST 2004)", 28),
            (Syntax::JavaUtil, "Jan 2, 2024 1:02:03 PM org.x", 22),
            (Syntax::DayMonYear, "01 Jan 2024 00:00:00.123 * Ready", 24),
            (Syntax::Db2, "2005-06-03-15.42.50.675872 R02", 26),
            (Syntax::Compact, "20171223-22:16:0:119|Step", 20),
            (Syntax::Hdfs, "081109 203615 148 INFO", 13),
            (Syntax::ShortYmd, "17/06/09 20:10:40 INFO", 17),
            (Syntax::Epoch, "1117838570 2005.06.03", 10),
            (Syntax::Epoch, "1446249499322 x", 13),
            (Syntax::Syslog, "Jul  1 09:00:55 host", 15),
            (Syntax::Klog, "I0507 12:04:17.597069    1", 21),
            (Syntax::Logcat, "03-17 16:13:38.811  1702", 18),
            (Syntax::Proxifier, "10.30 16:49:06] chrome", 14),
        ];
        for &(syn, line, end) in cases {
            assert_eq!(ok(syn, line), Some(end), "{syn:?} on {line:?}");
        }
    }

    #[test]
    fn near_misses_are_refused() {
        let cases: &[(Syntax, &str)] = &[
            (Syntax::Hdfs, "134681 node-246"),
            (Syntax::Hdfs, "081109 2036151 x"),
            (Syntax::Epoch, "12345678901 x"),
            (Syntax::Epoch, "1117838570abc"),
            (Syntax::Epoch, "0117838570 x"),
            (Syntax::Epoch, "1117838570:12"),
            (Syntax::ShortYmd, "17/13/09 20:10:40"),
            (Syntax::Compact, "20171223-22:15:29:606x"),
            (Syntax::Iso, "2024-02-30 10:00:00 x"),
            (Syntax::Syslog, "Jun 32 15:16:01 combo"),
            (Syntax::Klog, "I1301 12:04:17.597069"),
            (Syntax::Logcat, "03-17 x"),
        ];
        for &(syn, line) in cases {
            assert_eq!(ok(syn, line), None, "{syn:?} on {line:?}");
        }
    }

    #[test]
    fn zone_names_follow_the_table() {
        let (p, _) = Syntax::Ctime
            .parse(b"Fri Dec 10 19:02:14 EST 2004", 0)
            .unwrap();
        assert_eq!((p.offset, p.zone_unknown), (Some(-5 * 3600), false));
        let (p, _) = Syntax::Ctime
            .parse(b"Fri Dec 10 19:02:14 JST 2004", 0)
            .unwrap();
        assert_eq!((p.offset, p.zone_unknown), (None, true));
        let (p, _) = Syntax::Iso.parse(b"2024-07-15 12:00:00 CEST", 0).unwrap();
        assert_eq!(p.offset, Some(7200));
    }

    #[test]
    fn values() {
        assert!(parse_value(b"2024-01-01").is_some());
        assert!(parse_value(b"1715083182").is_some());
        assert!(parse_value(b"081109 203615").is_some());
        assert!(parse_value(b"soon").is_none());
        assert!(parse_value(b"2024-01-01 and more").is_none());
    }
}
