//! Where a line's timestamp sits: the *styles* auto-detection chooses
//! among, and the candidates a line offers.
//!
//! A style is a place plus a syntax: the line start (after an optional
//! syslog `<PRI>`, RFC 5424's version and a `[`), the start of one of the
//! first [`MAX_FIELD`] whitespace-separated fields (Apache's `[date]` after
//! the client address, OpenStack's date after a file name, an epoch after
//! an id), a top-level JSON member with a time key, or a logfmt time key.
//! As in lnav and hl, a timestamp is only ever read from such a place,
//! never from anywhere in free text: `Release Date: Fri Dec 10 19:02:14 EST
//! 2004` inside a message is not a timestamp. Which styles a file uses is
//! learned from its first lines (`TimestampExtractor::learn`).

use std::sync::OnceLock;

use memchr::memchr2;
use memchr::memmem::Finder;

use super::civil::{self, at, Parsed};
use super::syntax::{parse_value, pri_end, skip_ws, Syntax};

/// The last field (0-based) a timestamp may start in: enough for an epoch
/// after `id node component state` (HPC) or a date after a vhost and client
/// address, and still before most messages.
pub(crate) const MAX_FIELD: u8 = 5;

/// Where a timestamp is in a line, and how it is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Style {
    /// At the line start (after `<PRI>`, `<PRI>1 ` and a `[`, when present).
    Start(Syntax),
    /// At the start of whitespace-separated field `k` (1..=[`MAX_FIELD`]),
    /// after a `[` when present.
    Field(u8, Syntax),
    /// A top-level JSON member whose key is [`TIME_KEYS`]`[k]`.
    Json(u8),
    /// A logfmt pair whose key is [`LOGFMT_KEYS`]`[k]`, at a field start.
    Logfmt(u8),
}

/// The JSON keys that hold an entry's time (hl's list, plus Serilog's `@t`).
pub(crate) const TIME_KEYS: [&str; 12] = [
    "ts",
    "time",
    "timestamp",
    "@timestamp",
    "Timestamp",
    "Time",
    "TIME",
    "TIMESTAMP",
    "TS",
    "@t",
    "__REALTIME_TIMESTAMP",
    "_SOURCE_REALTIME_TIMESTAMP",
];

/// The logfmt keys that hold an entry's time (`t=`: Grafana's own logger).
pub(crate) const LOGFMT_KEYS: [&str; 4] = ["ts", "time", "timestamp", "t"];

impl Style {
    /// Whether the style reads a date without a year.
    pub(crate) fn yearless(self) -> bool {
        match self {
            Style::Start(s) | Style::Field(_, s) => s.yearless(),
            Style::Json(_) | Style::Logfmt(_) => false,
        }
    }

    /// Whether the first lines of a file must agree on this style before it
    /// is used (field positions and bare-digit syntaxes); distinctive
    /// syntaxes at the line start and time keys are taken from one line.
    pub(crate) fn needs_agreement(self) -> bool {
        match self {
            Style::Start(s) => !s.distinctive(),
            Style::Field(..) => true,
            Style::Json(_) | Style::Logfmt(_) => false,
        }
    }

    /// Order among styles found on as many lines: keys, then the line
    /// start, then earlier fields; within one place, [`Syntax::ALL`]'s order.
    pub(crate) fn rank(self) -> u32 {
        let syn = |s: Syntax| Syntax::ALL.iter().position(|&x| x == s).unwrap_or(0) as u32;
        match self {
            Style::Json(k) => u32::from(k),
            Style::Logfmt(k) => 100 + u32::from(k),
            Style::Start(s) => 200 + syn(s),
            Style::Field(k, s) => 300 + 20 * u32::from(k) + syn(s),
        }
    }

    /// A description for people: `ISO 8601 at the line start`.
    pub(crate) fn describe(self) -> String {
        match self {
            Style::Start(s) => format!("{} at the line start", s.name()),
            Style::Field(k, s) => format!("{} in field {}", s.name(), k + 1),
            Style::Json(k) => format!("JSON key \"{}\"", TIME_KEYS[usize::from(k)]),
            Style::Logfmt(k) => format!("logfmt key {}=", LOGFMT_KEYS[usize::from(k)]),
        }
    }

    /// This style's timestamp in `b`. `hint` is where a JSON or logfmt key
    /// was last found, tried first (lines of one file mostly share a shape).
    #[inline]
    pub(crate) fn parse(self, b: &[u8], hint: &mut usize) -> Option<Parsed> {
        match self {
            Style::Start(s) => s.parse(b, start_at(b)).map(|(p, _)| p),
            Style::Field(k, s) => {
                let i = field_start(b, k)?;
                s.parse(b, i).map(|(p, _)| p)
            }
            Style::Json(k) => {
                if let Some(p) = json_key_at(b, *hint, k) {
                    return Some(p);
                }
                let (at, p) = json_key_search(b, k)?;
                *hint = at;
                Some(p)
            }
            Style::Logfmt(k) => {
                if let Some(p) = logfmt_at(b, *hint, k) {
                    return Some(p);
                }
                let (at, p) = logfmt_find(b, k)?;
                *hint = at;
                Some(p)
            }
        }
    }
}

/// Where a line-start timestamp begins: after a syslog `<PRI>`, RFC 5424's
/// version `1 `, and one `[`.
#[inline]
pub(crate) fn start_at(b: &[u8]) -> usize {
    let mut i = 0;
    if let Some(j) = pri_end(b) {
        i = j;
        if at(b, i) == b'1' && at(b, i + 1) == b' ' {
            i += 2;
        }
    }
    if at(b, i) == b'[' {
        i += 1;
    }
    i
}

#[inline]
fn blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// Start of whitespace-separated field `k` (0-based), after a `[` if the
/// field opens with one.
#[inline]
pub(crate) fn field_start(b: &[u8], k: u8) -> Option<usize> {
    let mut i = 0;
    while i < b.len() && blank(b[i]) {
        i += 1;
    }
    for _ in 0..k {
        while i < b.len() && !blank(b[i]) {
            i += 1;
        }
        while i < b.len() && blank(b[i]) {
            i += 1;
        }
    }
    if i >= b.len() {
        return None;
    }
    Some(if b[i] == b'[' { i + 1 } else { i })
}

/// Calls `f` with every style a line offers a timestamp for (the parsed
/// fields of each): how the first lines of a file vote on its styles.
pub(crate) fn candidates(b: &[u8], mut f: impl FnMut(Style, Parsed)) {
    let s = skip_ws(b, 0);
    if at(b, s) == b'{' {
        json_members(b, s, |k, p| f(Style::Json(k), p));
    }
    for k in 0..LOGFMT_KEYS.len() as u8 {
        if let Some((_, p)) = logfmt_find(b, k) {
            f(Style::Logfmt(k), p);
        }
    }
    let i = start_at(b);
    for syn in Syntax::ALL {
        if let Some((p, _)) = syn.parse(b, i) {
            f(Style::Start(syn), p);
        }
    }
    for k in 1..=MAX_FIELD {
        let Some(i) = field_start(b, k) else { break };
        for syn in Syntax::ALL.into_iter().filter(|s| s.in_fields()) {
            if let Some((p, _)) = syn.parse(b, i) {
                f(Style::Field(k, syn), p);
            }
        }
    }
}

/// The style of a line that matches none of its file's: a JSON time key,
/// a distinctive syntax at the line start, or a logfmt time key. With the
/// parsed fields and the key's offset (the style's hint).
pub(crate) fn redetect(b: &[u8]) -> Option<(Style, Parsed, usize)> {
    let s = skip_ws(b, 0);
    if at(b, s) == b'{' {
        let mut hit = None;
        json_members(b, s, |k, p| {
            hit.get_or_insert((k, p));
        });
        if let Some((k, p)) = hit {
            let (at, _) = json_key_search(b, k).unwrap_or((0, p));
            return Some((Style::Json(k), p, at));
        }
    }
    let i = start_at(b);
    for syn in Syntax::ALL.into_iter().filter(|s| s.distinctive()) {
        if let Some((p, _)) = syn.parse(b, i) {
            return Some((Style::Start(syn), p, 0));
        }
    }
    logfmt_first(b).map(|(k, at, p)| (Style::Logfmt(k), p, at))
}

/// The logfmt pair `key=` (quoted or bare value) whose key starts at `i`,
/// when `i` is a field start.
#[inline]
fn logfmt_at(b: &[u8], i: usize, k: u8) -> Option<Parsed> {
    let key = LOGFMT_KEYS[usize::from(k)].as_bytes();
    let rest = b.get(i..)?;
    if i > 0 && !matches!(b[i - 1], b' ' | b'\t') {
        return None;
    }
    if !rest.starts_with(key) || at(rest, key.len()) != b'=' {
        return None;
    }
    let v = i + key.len() + 1;
    let (s, e) = if at(b, v) == b'"' {
        (v + 1, v + 1 + memchr::memchr(b'"', &b[v + 1..])?)
    } else {
        (v, memchr2(b' ', b'\t', &b[v..]).map_or(b.len(), |e| v + e))
    };
    parse_value(&b[s..e])
}

/// The first logfmt pair with key `k` at a field start whose value parses:
/// its key's offset and the value.
fn logfmt_find(b: &[u8], k: u8) -> Option<(usize, Parsed)> {
    static FINDERS: OnceLock<Vec<Finder<'static>>> = OnceLock::new();
    let finders = FINDERS.get_or_init(|| key_finders(&LOGFMT_KEYS, |k| format!("{k}=")));
    finders[usize::from(k)]
        .find_iter(b)
        .find_map(|i| logfmt_at(b, i, k).map(|p| (i, p)))
}

/// The first logfmt time pair of any key, in one pass over the line's `=`
/// signs: the key, its offset and the value.
fn logfmt_first(b: &[u8]) -> Option<(u8, usize, Parsed)> {
    memchr::memchr_iter(b'=', b).find_map(|e| {
        LOGFMT_KEYS.iter().enumerate().find_map(|(k, key)| {
            let i = e.checked_sub(key.len())?;
            if &b[i..e] != key.as_bytes() {
                return None;
            }
            logfmt_at(b, i, k as u8).map(|p| (k as u8, i, p))
        })
    })
}

/// A searcher per key, for the needle `spell(key)` (`ts=`, `"ts":`); built
/// once per table, since building one per call costs as much as the search.
fn key_finders(keys: &[&str], spell: fn(&str) -> String) -> Vec<Finder<'static>> {
    keys.iter()
        .map(|k| Finder::new(spell(k).as_bytes()).into_owned())
        .collect()
}

fn time_key(key: &[u8]) -> Option<u8> {
    TIME_KEYS
        .iter()
        .position(|t| t.as_bytes() == key)
        .map(|i| i as u8)
}

/// Walks the top-level members of the JSON object opening at `open` and
/// calls `f` with each time key whose value parses. Nested objects and
/// arrays are skipped, so `{"a":{"ts":..}}` does not count.
fn json_members(b: &[u8], open: usize, mut f: impl FnMut(u8, Parsed)) {
    let mut i = open + 1;
    loop {
        i = skip_ws(b, i);
        if at(b, i) != b'"' {
            return;
        }
        let key_at = i;
        let Some(key_end) = string_end(b, i) else {
            return;
        };
        i = skip_ws(b, key_end + 1);
        if at(b, i) != b':' {
            return;
        }
        i = skip_ws(b, i + 1);
        if let Some(key) = time_key(&b[key_at + 1..key_end]) {
            if let Some(p) = json_value(b, i) {
                f(key, p);
            }
        }
        let Some(end) = skip_value(b, i) else { return };
        i = skip_ws(b, end);
        if at(b, i) != b',' {
            return;
        }
        i += 1;
    }
}

/// The fast path for JSON: time key `k` at offset `at`, right after `{` or `,`.
fn json_key_at(b: &[u8], i: usize, k: u8) -> Option<Parsed> {
    if at(b, i) != b'"' {
        return None;
    }
    let before = b[..i].iter().rev().find(|c| !c.is_ascii_whitespace());
    if !matches!(before, Some(b'{' | b',')) {
        return None;
    }
    let key_end = string_end(b, i)?;
    if time_key(&b[i + 1..key_end])? != k {
        return None;
    }
    let j = skip_ws(b, key_end + 1);
    if at(b, j) != b':' {
        return None;
    }
    json_value(b, skip_ws(b, j + 1))
}

/// The second-fastest path for JSON: key `k` found by memmem when the
/// members before it changed length (e.g. `"time"` last in logrus lines).
/// It must follow `{` or `,`; like the offset fast path it does not prove
/// the member is top-level, a risk taken for lines of a file whose first
/// lines had the key at the top level.
fn json_key_search(b: &[u8], k: u8) -> Option<(usize, Parsed)> {
    static FINDERS: OnceLock<Vec<Finder<'static>>> = OnceLock::new();
    let finders = FINDERS.get_or_init(|| key_finders(&TIME_KEYS, |k| format!("\"{k}\":")));
    let i = finders[usize::from(k)].find(b)?;
    json_key_at(b, i, k).map(|p| (i, p))
}

/// A time value: a string holding any known syntax, or a number taken as
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

#[cfg(test)]
mod tests {
    use super::*;

    fn styles(line: &str) -> Vec<Style> {
        let mut v = Vec::new();
        candidates(line.as_bytes(), |s, _| v.push(s));
        v
    }

    #[test]
    fn fields_and_brackets() {
        let b = b"83.149.9.216 - - [17/May/2015:10:05:03 +0000] \"GET /";
        assert_eq!(field_start(b, 3), Some(18));
        assert_eq!(field_start(b"a  b", 1), Some(3));
        assert_eq!(field_start(b"a b", 2), None);
        assert_eq!(start_at(b"<34>1 2003-10-11T22:14:15.003Z"), 6);
        assert_eq!(start_at(b"<34>Oct 11 22:14:15"), 4);
        assert_eq!(start_at(b"[10.30 16:49:06]"), 1);
    }

    #[test]
    fn candidates_of_real_shapes() {
        use Syntax::*;
        assert_eq!(
            styles("- 1117838570 2005.06.03 R02 2005-06-03-15.42.50.675872 R02 RAS"),
            [Style::Field(1, Epoch), Style::Field(4, Db2)]
        );
        assert_eq!(
            styles("83.149.9.216 - - [17/May/2015:10:05:03 +0000] \"GET / HTTP/1.1\""),
            [Style::Field(3, Clf)]
        );
        assert_eq!(
            styles("ts=2024-05-02T12:17:25.6Z caller=http.go:194 level=debug"),
            [Style::Logfmt(0)]
        );
        assert_eq!(
            styles(r#"{"load_timestamp":1445680800424,"timestamp":1446249499322,"pid":1}"#),
            [Style::Json(2)]
        );
        // Dates in message text, past the first fields, are no candidates.
        assert!(styles(
            "- 1131567043 2005.11.09 tbird-admin1 Nov 9 12:10:43 local@tbird-admin1 megaraid cmm: \
             #38#-rh1 (Release Date: Fri Dec 10 19:02:14 EST 2004)"
        )
        .iter()
        .all(|s| *s == Style::Field(1, Epoch)));
    }

    #[test]
    fn redetect_takes_only_anchored_places() {
        let r = |l: &str| redetect(l.as_bytes()).map(|(s, _, _)| s);
        assert_eq!(r("2024-01-01T00:00:00Z x"), Some(Style::Start(Syntax::Iso)));
        assert_eq!(
            r(r#"time="2024-01-01T00:00:00Z" x"#),
            Some(Style::Logfmt(1))
        );
        assert_eq!(r("user 1234567890 logged in"), None);
        assert_eq!(r("1234567890 rows"), None);
        assert_eq!(r("see 2024-01-01T00:00:00Z"), None);
        assert_eq!(r("ip=10.0.0.151 t=4 status=M"), Some(Style::Logfmt(3)));
    }
}
