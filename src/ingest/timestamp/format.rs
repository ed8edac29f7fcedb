//! The compiled format engine behind `--timestamp-format`.
//!
//! One engine reads three spellings, compiled once into a flat list of
//! [`Item`]s: promtail's named formats (`RFC3339`, `UnixMs`, ...), Go reference
//! layouts (`2006-01-02T15:04:05.000Z07:00`, pasted verbatim from promtail
//! configs) and strftime (`%y%m%d %H%M%S`, anything containing `%`). Go layouts
//! are tokenized by [`crate::go::time`], the one Go layout tokenizer lokal has;
//! strftime is read here.
//!
//! A format matches a *prefix* of its input, so it works at the start of a
//! line without a regex. Parsing is forgiving where Go is (and a little
//! more): numeric fields take one or two digits unless another number
//! follows with no separator, a day or hour may carry a leading pad space,
//! and a fraction after the seconds is read even when the layout has none.

use std::sync::Arc;

use super::civil::{self, at, d2, d4, digits_between, Parsed, Unit};
use super::TimestampError;
use crate::go::time::{next_std_chunk, Std};

/// One step of a compiled format. `fixed` numbers need their full width
/// because the next item is a number too (as in `%y%m%d`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Item {
    /// A byte that must be present as is.
    Lit(u8),
    Year4,
    /// Two-digit year: 69-99 are 19xx, 00-68 are 20xx (Go and POSIX agree).
    Year2,
    Month {
        fixed: bool,
    },
    /// `Jan` or `January`, any case.
    MonthName,
    Day {
        fixed: bool,
    },
    YearDay {
        fixed: bool,
    },
    Hour {
        fixed: bool,
    },
    Hour12 {
        fixed: bool,
    },
    Minute {
        fixed: bool,
    },
    /// `auto_frac`: no fraction item follows, so a `.123` / `,123` in the
    /// input is still read (Go's rule for layouts without a fraction).
    Second {
        fixed: bool,
        auto_frac: bool,
    },
    /// Fraction of a second. `sep`: starts with `.` or `,`; `exact`: this many
    /// digits when non-zero and there is no separator; `optional`: may be absent.
    Frac {
        sep: bool,
        exact: u8,
        optional: bool,
    },
    /// Milliseconds as an integer, 1-3 digits (`%L`): `7` is 7 ms, not 700.
    Millis {
        fixed: bool,
    },
    AmPm,
    /// A weekday name, read and ignored.
    Weekday,
    /// `Z`, `±hh`, `±hhmm`, `±hh:mm`.
    Offset,
    /// A zone abbreviation: `UTC`/`GMT`/`UT`/`Z` (optionally `GMT+3`) give
    /// an offset; others are skipped and the configured zone applies.
    ZoneName,
    /// An epoch number; `None` picks the unit by magnitude.
    Epoch(Option<Unit>),
    /// `dmesg`'s seconds since boot, `[    5.123456]` (the `[` is skipped
    /// like any leading bracket): becomes an instant with the boot time.
    Uptime,
}

impl Item {
    /// Whether this item may start with a digit, so a preceding number must
    /// not eat into it.
    fn starts_with_digit(self) -> bool {
        use Item::*;
        match self {
            Year4
            | Year2
            | Month { .. }
            | Day { .. }
            | YearDay { .. }
            | Hour { .. }
            | Hour12 { .. } => true,
            Minute { .. } | Second { .. } | Millis { .. } | Epoch(_) | Uptime => true,
            Frac { sep, .. } => !sep,
            Lit(c) => c.is_ascii_digit(),
            MonthName | AmPm | Weekday | Offset | ZoneName => false,
        }
    }

    fn set_fixed(&mut self, v: bool) {
        use Item::*;
        match self {
            Month { fixed }
            | Day { fixed }
            | YearDay { fixed }
            | Hour { fixed }
            | Hour12 { fixed } => *fixed = v,
            Minute { fixed } | Second { fixed, .. } | Millis { fixed } => *fixed = v,
            _ => {}
        }
    }
}

/// A compiled timestamp format; cheap to clone (shared item list).
#[derive(Clone, Debug)]
pub(crate) struct Format {
    items: Arc<[Item]>,
    spec: Arc<str>,
}

/// Go's named layouts that promtail accepts, plus the `Stamp` family and
/// `DateTime`, which Go users also reach for.
const NAMED_LAYOUTS: &[(&str, &str)] = &[
    ("ANSIC", "Mon Jan _2 15:04:05 2006"),
    ("UnixDate", "Mon Jan _2 15:04:05 MST 2006"),
    ("RubyDate", "Mon Jan 02 15:04:05 -0700 2006"),
    ("RFC822", "02 Jan 06 15:04 MST"),
    ("RFC822Z", "02 Jan 06 15:04 -0700"),
    ("RFC850", "Monday, 02-Jan-06 15:04:05 MST"),
    ("RFC1123", "Mon, 02 Jan 2006 15:04:05 MST"),
    ("RFC1123Z", "Mon, 02 Jan 2006 15:04:05 -0700"),
    ("RFC3339", "2006-01-02T15:04:05Z07:00"),
    ("RFC3339Nano", "2006-01-02T15:04:05.999999999Z07:00"),
    ("Stamp", "Jan _2 15:04:05"),
    ("StampMilli", "Jan _2 15:04:05.000"),
    ("StampMicro", "Jan _2 15:04:05.000000"),
    ("StampNano", "Jan _2 15:04:05.000000000"),
    ("DateTime", "2006-01-02 15:04:05"),
    ("DateOnly", "2006-01-02"),
];

/// The Go layout of a named format (`RFC3339`, `ANSIC`, `StampMilli`, …).
pub(crate) fn named_layout(name: &str) -> Option<&'static str> {
    NAMED_LAYOUTS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, layout)| *layout)
}

impl Format {
    /// Compiles a promtail name, Go layout or strftime format.
    pub(crate) fn compile(spec: &str) -> Result<Format, TimestampError> {
        if spec.trim().is_empty() {
            return Err(TimestampError::EmptyFormat);
        }
        let mut items = match spec {
            "Unix" => vec![Item::Epoch(Some(Unit::Sec))],
            "UnixMs" => vec![Item::Epoch(Some(Unit::Milli))],
            "UnixUs" => vec![Item::Epoch(Some(Unit::Micro))],
            "UnixNs" => vec![Item::Epoch(Some(Unit::Nano))],
            "dmesg" => vec![Item::Uptime],
            _ => match NAMED_LAYOUTS.iter().find(|(name, _)| *name == spec) {
                Some((_, layout)) => go_items(layout),
                None if spec.contains('%') => strftime_items(spec)?,
                None => go_items(spec),
            },
        };
        finish(spec, &mut items)?;
        Ok(Format {
            items: items.into(),
            spec: spec.into(),
        })
    }

    /// The format as given.
    pub(crate) fn spec(&self) -> &str {
        &self.spec
    }

    /// Parses a timestamp at the start of `b`; trailing bytes are ignored.
    pub(crate) fn parse(&self, b: &[u8]) -> Option<Parsed> {
        self.parse_end(b).map(|(p, _)| p)
    }

    /// Whether this format is `dmesg`'s uptime.
    pub(crate) fn is_uptime(&self) -> bool {
        self.items.contains(&Item::Uptime)
    }

    /// [`Format::parse`], also returning where the timestamp ends.
    pub(crate) fn parse_end(&self, b: &[u8]) -> Option<(Parsed, usize)> {
        let mut p = Parsed::default();
        let mut i = 0;
        for &item in self.items.iter() {
            match item {
                Item::Lit(c) => {
                    if at(b, i) != c {
                        return None;
                    }
                    i += 1;
                }
                Item::Year4 => {
                    p.year = Some(d4(b, i)? as i32);
                    i += 4;
                }
                Item::Year2 => {
                    let y = d2(b, i)? as i32;
                    p.year = Some(if y >= 69 { 1900 + y } else { 2000 + y });
                    i += 2;
                }
                Item::Month { fixed } => (p.month, i) = num2(b, i, fixed, false)?,
                Item::MonthName => (p.month, i) = civil::month_name(b, i)?,
                Item::Day { fixed } => (p.day, i) = num2(b, i, fixed, true)?,
                Item::YearDay { fixed } => {
                    if !fixed {
                        while at(b, i) == b' ' {
                            i += 1;
                        }
                    }
                    let (v, j) = digits_between(b, i, if fixed { 3 } else { 1 }, 3)?;
                    p.yday = u16::try_from(v).ok().filter(|&d| d >= 1)?;
                    i = j;
                }
                Item::Hour { fixed } | Item::Hour12 { fixed } => {
                    (p.hour, i) = num2(b, i, fixed, true)?
                }
                Item::Minute { fixed } => (p.minute, i) = num2(b, i, fixed, false)?,
                Item::Second { fixed, auto_frac } => {
                    (p.second, i) = num2(b, i, fixed, false)?;
                    if auto_frac
                        && matches!(at(b, i), b'.' | b',')
                        && civil::digit(b, i + 1).is_some()
                    {
                        (p.nanos, i) = civil::fraction(b, i + 1)?;
                    }
                }
                Item::Frac {
                    sep,
                    exact,
                    optional,
                } => {
                    let mut j = i;
                    if sep {
                        if matches!(at(b, i), b'.' | b',') {
                            j += 1;
                        } else if optional {
                            continue;
                        } else {
                            return None;
                        }
                    }
                    let read = if exact > 0 && !sep {
                        civil::fraction_exact(b, j, exact as usize)
                    } else {
                        civil::fraction(b, j)
                    };
                    match read {
                        Some((ns, e)) => (p.nanos, i) = (ns, e),
                        None if optional => {}
                        None => return None,
                    }
                }
                Item::Millis { fixed } => {
                    let (v, j) = digits_between(b, i, if fixed { 3 } else { 1 }, 3)?;
                    p.nanos = v * 1_000_000;
                    i = j;
                }
                Item::AmPm => {
                    p.pm = Some(match (at(b, i) | 0x20, at(b, i + 1) | 0x20) {
                        (b'a', b'm') => false,
                        (b'p', b'm') => true,
                        _ => return None,
                    });
                    i += 2;
                }
                Item::Weekday => i = civil::weekday_name(b, i)?,
                Item::Offset => {
                    let (o, j) = civil::offset(b, i)?;
                    p.offset = Some(o);
                    i = j;
                }
                Item::ZoneName => {
                    let (o, j) = zone_name(b, i)?;
                    match o {
                        Some(_) => p.offset = o,
                        None => p.zone_unknown = true,
                    }
                    i = j;
                }
                Item::Epoch(unit) => {
                    let (ns, j) = civil::epoch_number(b, i, unit)?;
                    p.epoch_ns = Some(ns);
                    i = j;
                }
                Item::Uptime => {
                    while at(b, i) == b' ' {
                        i += 1;
                    }
                    let (v, _, j) = civil::uint(b, i)?;
                    if at(b, j) != b'.' {
                        return None;
                    }
                    let (ns, e) = civil::fraction(b, j + 1)?;
                    let secs = i64::try_from(v).ok()?;
                    p.uptime_ns = Some(secs.checked_mul(civil::NS_PER_SEC)? + i64::from(ns));
                    i = e;
                }
            }
        }
        p.plausible().then_some((p, i))
    }
}

/// A one- or two-digit number (exactly two when `fixed`), optionally after
/// one pad space (`Jul  1`, `_2`, `%e`, `%k`).
#[inline]
fn num2(b: &[u8], mut i: usize, fixed: bool, pad: bool) -> Option<(u8, usize)> {
    if fixed {
        return Some((d2(b, i)? as u8, i + 2));
    }
    if pad && at(b, i) == b' ' {
        i += 1;
    }
    let (v, j) = digits_between(b, i, 1, 2)?;
    Some((v as u8, j))
}

/// A zone abbreviation or numeric offset: the offset when known (the
/// [`civil::ZONE_ABBRS`] table), and the end.
fn zone_name(b: &[u8], i: usize) -> Option<(Option<i32>, usize)> {
    if matches!(at(b, i), b'+' | b'-') {
        let (o, j) = civil::offset(b, i)?;
        return Some((Some(o), j));
    }
    let mut j = i;
    while j - i < 6 && at(b, j).is_ascii_alphabetic() {
        j += 1;
    }
    let name = &b[i..j];
    if name.is_empty() || !name[0].is_ascii_uppercase() {
        return None;
    }
    if matches!(name, b"UTC" | b"GMT" | b"UT" | b"Z") {
        // `GMT+3`, `UTC-05:00`: the offset follows the name.
        if matches!(at(b, j), b'+' | b'-') && civil::digit(b, j + 1).is_some() {
            let sign = if at(b, j) == b'+' { 1 } else { -1 };
            if let Some((o, e)) = civil::offset(b, j) {
                return Some((Some(o), e));
            }
            let (h, e) = digits_between(b, j + 1, 1, 2)?;
            return Some((Some(sign * h as i32 * 3600), e));
        }
        return Some((Some(0), j));
    }
    Some((civil::zone_abbr(name), j))
}

/// Splits a Go layout into items with the Go layout tokenizer
/// ([`crate::go::time::next_std_chunk`]), so `--timestamp-format` reads a layout
/// exactly as Go and lokal's templates do. Elements that print differently but parse
/// alike (`1`/`01`, `Jan`/`January`, every offset form) become the same item; the
/// parser is forgiving about widths (see the module doc).
fn go_items(layout: &str) -> Vec<Item> {
    let mut items = Vec::with_capacity(layout.len());
    let mut rest = layout;
    while !rest.is_empty() {
        let (lit, std, tail) = next_std_chunk(rest);
        items.extend(lit.bytes().map(Item::Lit));
        let Some(std) = std else { break };
        items.push(go_item(std));
        rest = tail;
    }
    items
}

/// The item that parses a Go layout element.
fn go_item(std: Std) -> Item {
    use Item::*;
    let n = false;
    match std {
        Std::LongYear => Year4,
        Std::Year => Year2,
        Std::Month | Std::LongMonth => MonthName,
        Std::NumMonth | Std::ZeroMonth => Month { fixed: n },
        Std::WeekDay | Std::LongWeekDay => Weekday,
        Std::Day | Std::UnderDay | Std::ZeroDay => Day { fixed: n },
        Std::UnderYearDay | Std::ZeroYearDay => YearDay { fixed: n },
        Std::Hour => Hour { fixed: n },
        Std::Hour12 | Std::ZeroHour12 => Hour12 { fixed: n },
        Std::Minute | Std::ZeroMinute => Minute { fixed: n },
        Std::Second | Std::ZeroSecond => Second {
            fixed: n,
            auto_frac: n,
        },
        Std::PM | Std::Pm => AmPm,
        Std::Tz { .. } => Offset,
        Std::TzName => ZoneName,
        Std::Frac { nines, digits, .. } => Frac {
            sep: true,
            exact: if nines { 0 } else { digits.min(9) as u8 },
            optional: nines,
        },
    }
}

/// Splits a strftime format into items.
fn strftime_items(spec: &str) -> Result<Vec<Item>, TimestampError> {
    use Item::*;
    let b = spec.as_bytes();
    let n = false;
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'%' {
            out.push(Lit(b[i]));
            i += 1;
            continue;
        }
        i += 1;
        // glibc padding flags (`%-d`, `%_H`) change nothing when parsing.
        while matches!(at(b, i), b'-' | b'_' | b'0' | b'^' | b'#') {
            i += 1;
        }
        let dot = at(b, i) == b'.';
        if dot {
            i += 1;
        }
        let width = civil::digit(b, i).map(|w| w as u8);
        if width.is_some() {
            i += 1;
        }
        let colon = at(b, i) == b':';
        if colon {
            i += 1;
        }
        let Some(c) = spec.get(i..).and_then(|r| r.chars().next()) else {
            return Err(TimestampError::TrailingPercent {
                format: spec.to_string(),
            });
        };
        i += c.len_utf8();
        if (width.is_some() || dot) && c != 'f' {
            return Err(TimestampError::BadWidth {
                format: spec.to_string(),
                spec: c,
            });
        }
        if colon && c != 'z' {
            return Err(TimestampError::UnknownSpecifier {
                format: spec.to_string(),
                spec: ':',
            });
        }
        match c {
            'Y' => out.push(Year4),
            'y' => out.push(Year2),
            'm' => out.push(Month { fixed: n }),
            'd' | 'e' => out.push(Day { fixed: n }),
            'j' => out.push(YearDay { fixed: n }),
            'H' | 'k' => out.push(Hour { fixed: n }),
            'I' | 'l' => out.push(Hour12 { fixed: n }),
            'M' => out.push(Minute { fixed: n }),
            'S' => out.push(Second {
                fixed: n,
                auto_frac: n,
            }),
            'f' => {
                if width == Some(0) {
                    return Err(TimestampError::BadWidth {
                        format: spec.to_string(),
                        spec: c,
                    });
                }
                out.push(Frac {
                    sep: dot,
                    exact: width.unwrap_or(0),
                    optional: dot && width.is_none(),
                })
            }
            'L' => out.push(Millis { fixed: n }),
            'b' | 'h' | 'B' => out.push(MonthName),
            'a' | 'A' => out.push(Weekday),
            'p' | 'P' => out.push(AmPm),
            'z' => out.push(Offset),
            'Z' => out.push(ZoneName),
            's' => out.push(Epoch(Some(Unit::Sec))),
            'T' => out.extend([
                Hour { fixed: n },
                Lit(b':'),
                Minute { fixed: n },
                Lit(b':'),
                Second {
                    fixed: n,
                    auto_frac: n,
                },
            ]),
            'D' => out.extend([
                Month { fixed: n },
                Lit(b'/'),
                Day { fixed: n },
                Lit(b'/'),
                Year2,
            ]),
            'F' => out.extend([
                Year4,
                Lit(b'-'),
                Month { fixed: n },
                Lit(b'-'),
                Day { fixed: n },
            ]),
            'R' => out.extend([Hour { fixed: n }, Lit(b':'), Minute { fixed: n }]),
            't' => out.push(Lit(b'\t')),
            '%' => out.push(Lit(b'%')),
            other => {
                return Err(TimestampError::UnknownSpecifier {
                    format: spec.to_string(),
                    spec: other,
                })
            }
        }
    }
    Ok(out)
}

/// Sets widths and the automatic fraction, then checks the format can give
/// an instant at all.
fn finish(spec: &str, items: &mut [Item]) -> Result<(), TimestampError> {
    for k in 0..items.len() {
        let next_digit = items.get(k + 1).is_some_and(|n| n.starts_with_digit());
        items[k].set_fixed(next_digit);
        let next_field = items[k + 1..].iter().find(|it| !matches!(it, Item::Lit(_)));
        let frac_follows = matches!(next_field, Some(Item::Frac { .. } | Item::Millis { .. }));
        if let Item::Second { auto_frac, .. } = &mut items[k] {
            *auto_frac = !frac_follows;
        }
    }
    let has = |f: fn(&Item) -> bool| items.iter().any(f);
    let epoch = has(|it| matches!(it, Item::Epoch(_) | Item::Uptime));
    let month = has(|it| matches!(it, Item::Month { .. } | Item::MonthName));
    let day = has(|it| matches!(it, Item::Day { .. }));
    let yday = has(|it| matches!(it, Item::YearDay { .. }));
    let any_field = has(|it| !matches!(it, Item::Lit(_)));
    if !any_field {
        return Err(TimestampError::NoFields {
            format: spec.to_string(),
        });
    }
    if !(epoch || yday || (month && day)) {
        return Err(TimestampError::NoDate {
            format: spec.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(spec: &str) -> Vec<Item> {
        Format::compile(spec).unwrap().items.to_vec()
    }

    fn parse(spec: &str, input: &str) -> Option<Parsed> {
        Format::compile(spec).unwrap().parse(input.as_bytes())
    }

    fn ymd_hms(p: Parsed) -> (Option<i32>, u8, u8, u8, u8, u8, u32) {
        (p.year, p.month, p.day, p.hour, p.minute, p.second, p.nanos)
    }

    #[test]
    fn go_layout_tokens() {
        use Item::*;
        let f = false;
        assert_eq!(
            items("2006-01-02T15:04:05.000Z07:00"),
            vec![
                Year4,
                Lit(b'-'),
                Month { fixed: f },
                Lit(b'-'),
                Day { fixed: f },
                Lit(b'T'),
                Hour { fixed: f },
                Lit(b':'),
                Minute { fixed: f },
                Lit(b':'),
                Second {
                    fixed: f,
                    auto_frac: false
                },
                Frac {
                    sep: true,
                    exact: 3,
                    optional: false
                },
                Offset,
            ]
        );
        assert_eq!(
            items("Jan _2 3:4:5 PM MST"),
            vec![
                MonthName,
                Lit(b' '),
                Day { fixed: f },
                Lit(b' '),
                Hour12 { fixed: f },
                Lit(b':'),
                Minute { fixed: f },
                Lit(b':'),
                Second {
                    fixed: f,
                    auto_frac: true
                },
                Lit(b' '),
                AmPm,
                Lit(b' '),
                ZoneName,
            ]
        );
        // Adjacent numbers need their full width.
        assert_eq!(
            items("060102")[..3],
            [Year2, Month { fixed: true }, Day { fixed: false }]
        );
        assert_eq!(items("_2006 002")[..3], [Lit(b'_'), Year4, Lit(b' ')]);
        assert_eq!(items("Janet 2 Jan 2006")[0], Lit(b'J'));
        assert_eq!(items("2006 __2")[2], YearDay { fixed: false });
        assert_eq!(
            items("2006-01-02 15:04:05.999")[11],
            Frac {
                sep: true,
                exact: 0,
                optional: true
            }
        );
        for tz in [
            "-07",
            "-0700",
            "-07:00",
            "Z07",
            "Z07:00",
            "Z0700",
            "Z07:00:00",
            "-070000",
        ] {
            assert_eq!(
                items(&format!("2006-01-02 {tz}")).last(),
                Some(&Offset),
                "{tz}"
            );
        }
    }

    #[test]
    fn go_layouts_parse() {
        let p = parse(
            "2006-01-02T15:04:05.000Z07:00",
            "2024-05-07T10:58:13.877+02:00 rest",
        )
        .unwrap();
        assert_eq!(ymd_hms(p), (Some(2024), 5, 7, 10, 58, 13, 877_000_000));
        assert_eq!(p.offset, Some(7200));
        // Forgiving: unpadded numbers where Go is, and a fraction the layout lacks.
        let p = parse("2006-1-2 3:4:5 pm", "2024-5-7 3:04:05.25 PM").unwrap();
        assert_eq!(ymd_hms(p), (Some(2024), 5, 7, 3, 4, 5, 250_000_000));
        assert_eq!(p.pm, Some(true));
        let p = parse("060102 150405", "081109 203615 148 INFO").unwrap();
        assert_eq!(ymd_hms(p), (Some(2008), 11, 9, 20, 36, 15, 0));
        let p = parse("Jan _2 15:04:05", "Jul  1 09:00:55 host").unwrap();
        assert_eq!(ymd_hms(p), (None, 7, 1, 9, 0, 55, 0));
        let p = parse("Jan _2 15:04:05", "Nov 9 12:01:01 x").unwrap();
        assert_eq!((p.month, p.day), (11, 9));
        let p = parse("2006 002 15", "2024 060 01").unwrap();
        assert_eq!((p.yday, p.hour), (60, 1));
        let p = parse(
            "Monday, 02-Jan-06 15:04:05 MST",
            "Tuesday, 07-May-24 10:00:00 GMT",
        )
        .unwrap();
        assert_eq!((p.year, p.offset), (Some(2024), Some(0)));
        // Abbreviations of the table give their offset; others leave the
        // zone to the configuration, flagged.
        assert_eq!(
            parse("UnixDate", "Mon Jan  2 15:04:05 MST 2006")
                .unwrap()
                .offset,
            Some(-7 * 3600)
        );
        let p = parse("UnixDate", "Mon Jan  2 15:04:05 JST 2006").unwrap();
        assert_eq!((p.offset, p.zone_unknown), (None, true));
        assert_eq!(
            parse("RFC1123", "Mon, 02 Jan 2006 15:04:05 GMT+3")
                .unwrap()
                .offset,
            Some(10800)
        );
        // The fixed fraction needs its digits: Go's `.000` requires one.
        assert!(parse("15:04:05.000 2006-01-02", "10:00:00 2024-01-01").is_none());
        assert!(parse("15:04:05.999 2006-01-02", "10:00:00 2024-01-01").is_some());
    }

    #[test]
    fn named_formats() {
        let p = parse("RFC3339", "2024-05-02T12:17:25.60442226Z").unwrap();
        assert_eq!(ymd_hms(p), (Some(2024), 5, 2, 12, 17, 25, 604_422_260));
        let p = parse("RFC3339Nano", "2024-05-02T12:17:25Z").unwrap();
        assert_eq!((p.nanos, p.offset), (0, Some(0)));
        let p = parse("RubyDate", "Mon Jan 02 15:04:05 -0700 2006").unwrap();
        assert_eq!(p.offset, Some(-25200));
        let p = parse("ANSIC", "Sun Dec  4 04:47:44 2005").unwrap();
        assert_eq!(ymd_hms(p), (Some(2005), 12, 4, 4, 47, 44, 0));
        let p = parse("RFC822Z", "02 Jan 06 15:04 -0700").unwrap();
        assert_eq!((p.year, p.minute), (Some(2006), 4));
        assert!(parse("RFC1123Z", "Mon, 02 Jan 2006 15:04:05 -0700").is_some());
        assert!(parse("RFC850", "Monday, 02-Jan-06 15:04:05 MST").is_some());
        assert!(parse("StampMicro", "Jan  2 15:04:05.000001").is_some());
        assert_eq!(
            parse("Unix", "1562708916.000000123").unwrap().epoch_ns,
            Some(1_562_708_916_000_000_123)
        );
        assert_eq!(
            parse("Unix", "1562708916 x").unwrap().epoch_ns,
            Some(1_562_708_916_000_000_000)
        );
        assert_eq!(
            parse("UnixMs", "1446249499322").unwrap().epoch_ns,
            Some(1_446_249_499_322_000_000)
        );
        assert_eq!(
            parse("UnixUs", "1446249499322001").unwrap().epoch_ns,
            Some(1_446_249_499_322_001_000)
        );
        assert_eq!(
            parse("UnixNs", "1446249499322001002").unwrap().epoch_ns,
            Some(1_446_249_499_322_001_002)
        );
        assert!(parse("Unix", "x").is_none());
    }

    #[test]
    fn strftime_parse() {
        let p = parse("%y%m%d %H%M%S", "081109 203615 148").unwrap();
        assert_eq!(ymd_hms(p), (Some(2008), 11, 9, 20, 36, 15, 0));
        let p = parse("%y/%m/%d %H:%M:%S", "17/06/09 20:10:40 INFO").unwrap();
        assert_eq!(ymd_hms(p), (Some(2017), 6, 9, 20, 10, 40, 0));
        let p = parse("%Y%m%d-%H:%M:%S:%L", "20171223-22:16:0:7|x").unwrap();
        assert_eq!(ymd_hms(p), (Some(2017), 12, 23, 22, 16, 0, 7_000_000));
        let p = parse("%m.%d %H:%M:%S", "10.30 16:49:06]").unwrap();
        assert_eq!(ymd_hms(p), (None, 10, 30, 16, 49, 6, 0));
        let p = parse("%Y-%m-%d %H:%M:%S,%3f", "2015-10-18 18:01:47,978 INFO").unwrap();
        assert_eq!(p.nanos, 978_000_000);
        let p = parse("%Y-%m-%d %H:%M:%S", "2015-10-18 18:01:47,978 INFO").unwrap();
        assert_eq!(p.nanos, 978_000_000);
        let p = parse("%Y-%m-%dT%H:%M:%S%.f%:z", "2024-01-02T03:04:05+01:00").unwrap();
        assert_eq!((p.nanos, p.offset), (0, Some(3600)));
        let p = parse("%Y-%m-%d %H:%M:%S.%6f", "2024-01-02 03:04:05.000123").unwrap();
        assert_eq!(p.nanos, 123_000);
        let p = parse("%a %b %e %T %Z %Y", "Sun Dec  4 04:47:44 UTC 2005").unwrap();
        assert_eq!((p.day, p.offset, p.year), (4, Some(0), Some(2005)));
        let p = parse("%d/%b/%Y:%H:%M:%S %z", "17/May/2015:10:05:03 +0000]").unwrap();
        assert_eq!((p.month, p.offset), (5, Some(0)));
        let p = parse("%D %I:%M %p", "05/07/24 12:30 am").unwrap();
        assert_eq!((p.year, p.hour, p.pm), (Some(2024), 12, Some(false)));
        let p = parse("%F %R", "2024-05-07 10:30").unwrap();
        assert_eq!((p.day, p.minute), (7, 30));
        let p = parse("%Y %j", "2024 366").unwrap();
        assert_eq!(p.yday, 366);
        assert_eq!(
            parse("%s", "1715083182.707").unwrap().epoch_ns,
            Some(1_715_083_182_707_000_000)
        );
        let p = parse("%b %-d %H:%M:%S", "Nov 9 12:01:01 dn228").unwrap();
        assert_eq!((p.month, p.day), (11, 9));
        let p = parse("%B %d, %Y %%", "September 01, 2024 %").unwrap();
        assert_eq!(p.month, 9);
    }

    #[test]
    fn rejects_invalid_values() {
        assert!(parse("%Y-%m-%d", "2024-13-01").is_none());
        assert!(parse("%Y-%m-%d", "2024-02-30").is_none());
        assert!(parse("%Y-%m-%d", "2023-02-29").is_none());
        assert!(parse("%Y-%m-%d", "2024-02-29").is_some());
        assert!(parse("%Y-%m-%d %H:%M", "2024-01-01 24:00").is_none());
        assert!(parse("%Y-%m-%d %H:%M", "2024-01-01 23:60").is_none());
        assert!(parse("%Y-%m-%d %I %p", "2024-01-01 13 PM").is_none());
        assert!(parse("%Y-%m-%d", "2024-01").is_none());
        assert!(parse("%Y-%m-%d", "").is_none());
    }

    #[test]
    fn bad_formats_are_clear() {
        let msg = |s: &str| Format::compile(s).unwrap_err().to_string();
        assert!(msg("%Y-%Q").contains("%Q"), "{}", msg("%Y-%Q"));
        assert!(msg("%Y-%m-%d %").contains("lone '%'"));
        assert!(msg("hello").contains("no date or time fields"));
        assert!(msg("15:04:05").contains("no date"));
        assert!(msg("%H:%M").contains("no date"));
        assert!(msg("%3d").contains("%3d"));
        assert!(msg("%:Y").contains("%:"));
        assert!(msg("  ").contains("empty"));
    }
}
