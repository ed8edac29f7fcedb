//! Metric results for a person at a terminal: one row per series with a
//! sparkline over the steps and min / max / last / mean in readable numbers
//! ([`write_summary`]), and a line chart of the top series with axes and a
//! legend in Braille characters ([`write_chart`]), both fitted to a width.
//!
//! Numbers are humanized to three significant digits with SI prefixes and
//! the unit the query makes clear ([`unit_of`]: bytes for `bytes_over_time`,
//! per second for rates). Colours only when the caller says so.

use std::io::{self, Write};

use crate::engine::value::{MetricValue, Series};
use crate::logql::{RangeOp, SampleExpr, VectorOp};
use crate::model::Labels;

use super::style::Sgr;
use super::{format_ts, TsFormat};

/// What a query's numbers measure, when the query makes it clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Unit {
    /// Plain numbers (counts, unwrapped values).
    #[default]
    None,
    /// Bytes (`bytes_over_time`).
    Bytes,
    /// Bytes per second (`bytes_rate`).
    BytesPerSec,
    /// Per second (`rate`, `rate_counter`).
    PerSec,
}

/// The unit of `e`'s values: that of its range aggregation, through the
/// vector aggregations and `label_replace` that keep it (`count` and
/// `stdvar` do not, nor arithmetic).
pub fn unit_of(e: &SampleExpr) -> Unit {
    match e {
        SampleExpr::RangeAggregation(r) => match r.op {
            RangeOp::BytesOverTime => Unit::Bytes,
            RangeOp::BytesRate => Unit::BytesPerSec,
            RangeOp::Rate | RangeOp::RateCounter if r.log.unwrap.is_none() => Unit::PerSec,
            _ => Unit::None,
        },
        SampleExpr::VectorAggregation(v) => match v.op {
            VectorOp::Count | VectorOp::Stdvar => Unit::None,
            _ => unit_of(&v.inner),
        },
        SampleExpr::LabelReplace(l) => unit_of(&l.inner),
        _ => Unit::None,
    }
}

/// `v` in three significant digits with an SI prefix and `unit`'s symbol:
/// `12.3k`, `0.00333/s`, `1.50 MB`, `-4.20`; `NaN`, `+Inf` as Go prints them.
pub fn humanize(v: f64, unit: Unit) -> String {
    let suffix = match unit {
        Unit::None => "",
        Unit::Bytes => "B",
        Unit::BytesPerSec => "B/s",
        Unit::PerSec => "/s",
    };
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let a = v.abs();
    const PREFIXES: [&str; 7] = ["", "k", "M", "G", "T", "P", "E"];
    let (mut x, mut p) = (a, 0);
    while x >= 999.5 && p + 1 < PREFIXES.len() {
        x /= 1000.0;
        p += 1;
    }
    let digits = if x == 0.0 || x >= 99.95 {
        0
    } else if x >= 9.995 {
        1
    } else if x >= 0.9995 || p > 0 {
        2
    } else {
        // Below 1: three significant digits, up to 1e-6; smaller is 0.
        let lead = ((-x.log10()).ceil() as usize).saturating_sub(1);
        (lead + 3).min(9)
    };
    let mut num = format!("{x:.digits$}");
    // Plain integers read as such: 12, not 12.0 (counts are whole).
    if p == 0 && x.fract() == 0.0 {
        num = format!("{x:.0}");
    }
    let sign = if v < 0.0 { "-" } else { "" };
    let space = if matches!(unit, Unit::Bytes | Unit::BytesPerSec) {
        " "
    } else {
        ""
    };
    format!("{sign}{num}{space}{}{suffix}", PREFIXES[p])
}

/// Options of the terminal views.
#[derive(Debug, Clone)]
pub struct TermOptions {
    /// Columns to fit in.
    pub width: usize,
    /// ANSI colours.
    pub color: bool,
    /// The unit of the values.
    pub unit: Unit,
    /// Time zone of the times shown.
    pub tz: jiff::tz::TimeZone,
}

const SPARKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// A sparkline of `points` over the steps `times` in `width` characters:
/// each character the highest value of its steps (a spike stays visible),
/// scaled from the series' own min to its max; a space where no step has
/// a value.
pub fn sparkline(points: &[(i64, f64)], times: &[i64], width: usize) -> String {
    if times.is_empty() || width == 0 {
        return String::new();
    }
    let width = width.min(times.len());
    let finite = points.iter().map(|p| p.1).filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    let mut cells: Vec<Option<f64>> = vec![None; width];
    let n = times.len();
    let index: std::collections::HashMap<i64, usize> =
        times.iter().enumerate().map(|(i, t)| (*t, i)).collect();
    for (t, v) in points {
        let Some(&i) = index.get(t) else { continue };
        if !v.is_finite() {
            continue;
        }
        let c = i * width / n;
        cells[c] = Some(cells[c].map_or(*v, |m: f64| m.max(*v)));
    }
    cells
        .into_iter()
        .map(|c| match c {
            None => ' ',
            Some(_) if hi <= lo => SPARKS[3],
            Some(v) => {
                let k = ((v - lo) / (hi - lo) * 7.0).round() as usize;
                SPARKS[k.min(7)]
            }
        })
        .collect()
}

/// Every step of a matrix, ascending.
fn steps(series: &[Series]) -> Vec<i64> {
    let mut t: Vec<i64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    t.sort_unstable();
    t.dedup();
    t
}

/// The labels all of `sets` share (none for a single set, which is shown
/// whole on its row).
fn common<'a>(sets: impl Iterator<Item = &'a Labels> + Clone) -> Labels {
    if sets.clone().count() < 2 {
        return Labels::default();
    }
    let mut it = sets;
    let first = it.next().unwrap();
    let mut c: Vec<(String, String)> = first.pairs().to_vec();
    for l in it {
        c.retain(|(k, v)| l.get(k) == Some(v.as_str()));
    }
    Labels::from_pairs(c)
}

fn without(l: &Labels, common: &Labels) -> String {
    Labels::from_pairs(
        l.pairs()
            .iter()
            .filter(|(k, _)| common.get(k).is_none())
            .cloned(),
    )
    .to_string()
}

/// `s` cut to `w` characters, an ellipsis marking the cut.
fn fit(s: &str, w: usize) -> String {
    if s.chars().count() <= w {
        return s.to_string();
    }
    let mut out: String = s.chars().take(w.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn pad(s: &str, w: usize, right: bool) -> String {
    let n = s.chars().count();
    let fill = " ".repeat(w.saturating_sub(n));
    if right {
        format!("{fill}{s}")
    } else {
        format!("{s}{fill}")
    }
}

/// The step between the first two steps, as a duration (`5m`).
fn step_text(times: &[i64]) -> String {
    match times {
        [a, b, ..] => crate::go::duration::format_prom_duration(b - a),
        _ => String::new(),
    }
}

/// Summary statistics of a series' finite values: min, max, last, mean.
fn stats(points: &[(i64, f64)]) -> Option<[f64; 4]> {
    let vals: Vec<f64> = points.iter().map(|p| p.1).filter(|v| !v.is_nan()).collect();
    let last = *vals.last()?;
    let min = vals.iter().copied().fold(f64::INFINITY, f64::min);
    let max = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mean = vals.iter().sum::<f64>() / vals.len() as f64;
    Some([min, max, last, mean])
}

/// The default metric view on a terminal: a header (the common labels,
/// the steps), then one row per series: its own labels, a sparkline, and
/// min / max / last / mean. A vector is one row per series with its value
/// and a bar; a scalar its value(s).
pub fn write_summary(w: &mut dyn Write, v: &MetricValue, o: &TermOptions) -> io::Result<()> {
    let paint = |c: Sgr, s: &str| if o.color { c.paint(s) } else { s.to_string() };
    match v {
        MetricValue::Matrix(series) => {
            let times = steps(series);
            let common = common(series.iter().map(|s| &s.labels));
            let mut head = Vec::new();
            if !common.is_empty() {
                head.push(common.to_string());
            }
            let first = format_ts(times[0], &o.tz, TsFormat::Rfc3339);
            let mut last = format_ts(*times.last().unwrap(), &o.tz, TsFormat::Rfc3339);
            let steps = match step_text(&times) {
                s if s.is_empty() => String::new(),
                s => format!(" of {s}"),
            };
            let text = |last: &str| {
                format!(
                    "{} series, {} steps{steps} from {first} to {last}",
                    series.len(),
                    times.len()
                )
            };
            if text(&last).chars().count() > o.width && first.get(..11) == last.get(..11) {
                // The same day: the end's time of day is enough.
                last = last[11..].to_string();
            }
            head.push(text(&last));
            // One header line when it fits, else a line each.
            let joined = head.join("  ");
            if joined.chars().count() <= o.width {
                writeln!(w, "{}", paint(Sgr::GREY, &joined))?;
            } else {
                for h in &head {
                    writeln!(w, "{}", paint(Sgr::GREY, &fit(h, o.width)))?;
                }
            }
            let rows: Vec<(String, Option<[String; 4]>, &Series)> = series
                .iter()
                .map(|s| {
                    let st = stats(&s.points).map(|a| a.map(|x| humanize(x, o.unit)));
                    (without(&s.labels, &common), st, s)
                })
                .collect();
            let heads = ["min", "max", "last", "mean"];
            let col: Vec<usize> = (0..4)
                .map(|i| {
                    rows.iter()
                        .filter_map(|r| r.1.as_ref().map(|s| s[i].chars().count()))
                        .chain([heads[i].len()])
                        .max()
                        .unwrap()
                })
                .collect();
            let stats_w: usize = col.iter().map(|c| c + 2).sum();
            let label_max = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
            // Labels get what the sparkline (at least 8, at most a
            // character per step) leaves, and at most half the width.
            let spark_min = times.len().min(8);
            let avail = o.width.saturating_sub(stats_w + 2);
            let label_w = label_max
                .min(avail.saturating_sub(spark_min))
                .min(o.width / 2)
                .max(6);
            let spark_w = avail
                .saturating_sub(label_w)
                .clamp(spark_min, times.len().max(1));
            let mut line = pad("series", label_w, false);
            line.push_str("  ");
            line.push_str(&pad("", spark_w, false));
            for (i, h) in heads.iter().enumerate() {
                line.push_str("  ");
                line.push_str(&pad(h, col[i], true));
            }
            writeln!(w, "{}", paint(Sgr::GREY, line.trim_end()))?;
            for (labels, st, s) in &rows {
                let mut line = pad(&fit(labels, label_w), label_w, false);
                line.push_str("  ");
                line.push_str(&paint(Sgr::CYAN, &sparkline(&s.points, &times, spark_w)));
                if let Some(st) = st {
                    for (i, x) in st.iter().enumerate() {
                        line.push_str("  ");
                        line.push_str(&pad(x, col[i], true));
                    }
                }
                writeln!(w, "{}", line.trim_end())?;
            }
        }
        MetricValue::Vector(samples) => {
            let common = common(samples.iter().map(|s| &s.labels));
            if !common.is_empty() {
                writeln!(w, "{}", paint(Sgr::GREY, &common.to_string()))?;
            }
            let rows: Vec<(String, String, f64)> = samples
                .iter()
                .map(|s| {
                    (
                        without(&s.labels, &common),
                        humanize(s.value, o.unit),
                        s.value,
                    )
                })
                .collect();
            let val_w = rows.iter().map(|r| r.1.chars().count()).max().unwrap_or(0);
            let label_max = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
            let label_w = label_max.min(o.width / 2).max(6);
            let bar_w = o.width.saturating_sub(label_w + val_w + 4);
            let top = rows
                .iter()
                .map(|r| r.2)
                .filter(|v| v.is_finite())
                .fold(0.0f64, |a, v| a.max(v.abs()));
            for (labels, val, v) in &rows {
                let n = if top > 0.0 && v.is_finite() {
                    ((v.abs() / top) * bar_w as f64).round() as usize
                } else {
                    0
                };
                let bar = paint(Sgr::CYAN, &"█".repeat(n.max(usize::from(*v != 0.0))));
                let line = format!(
                    "{}  {}  {bar}",
                    pad(&fit(labels, label_w), label_w, false),
                    pad(val, val_w, true)
                );
                writeln!(w, "{}", line.trim_end())?;
            }
        }
        MetricValue::Scalar(points) => {
            for (ts, v) in points {
                writeln!(
                    w,
                    "{}  {}",
                    format_ts(*ts, &o.tz, TsFormat::Rfc3339),
                    humanize(*v, o.unit)
                )?;
            }
        }
    }
    Ok(())
}

/// Braille dots: bit of dot (x, y) in a 2×4 cell (Unicode's numbering).
const DOT: [[u8; 4]; 2] = [[0x01, 0x02, 0x04, 0x40], [0x08, 0x10, 0x20, 0x80]];

/// Colours of the chart's series, in legend order.
const SERIES_COLORS: [Sgr; 6] = [Sgr(36), Sgr(33), Sgr(35), Sgr(32), Sgr(31), Sgr(34)];

/// Markers of the legend and the last point of each series, so series can
/// be told apart without colours (a CI log).
const MARKERS: [char; 6] = ['●', '■', '▲', '◆', '○', '□'];

/// Series the chart draws at most.
pub const CHART_SERIES: usize = 6;

/// Rows of the chart's plot area.
const CHART_ROWS: usize = 12;

/// `--chart`: a line chart of the (up to [`CHART_SERIES`]) series with the
/// highest mean, in Braille dots: a y axis with min / mid / max, an x axis
/// with the first and last times, and a legend with each series' marker,
/// labels and last value. Each series ends with its marker at its last
/// point. Vectors and scalars get [`write_summary`].
pub fn write_chart(w: &mut dyn Write, v: &MetricValue, o: &TermOptions) -> io::Result<()> {
    let MetricValue::Matrix(all) = v else {
        return write_summary(w, v, o);
    };
    let times = steps(all);
    let mut ranked: Vec<(&Series, f64)> = all
        .iter()
        .map(|s| (s, stats(&s.points).map_or(f64::NEG_INFINITY, |st| st[3])))
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    let shown: Vec<&Series> = ranked.iter().take(CHART_SERIES).map(|r| r.0).collect();
    let vals = shown
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .filter(|v| v.is_finite());
    let (mut lo, mut hi) = vals.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    if lo > hi {
        lo = 0.0;
        hi = 1.0;
    }
    if lo > 0.0 && lo < hi / 2.0 {
        // Counts read best from zero.
        lo = 0.0;
    }
    if hi <= lo {
        hi = lo + 1.0;
    }
    let ylabels = [
        humanize(hi, o.unit),
        humanize((hi + lo) / 2.0, o.unit),
        humanize(lo, o.unit),
    ];
    let yw = ylabels.iter().map(|s| s.chars().count()).max().unwrap();
    let cols = o.width.saturating_sub(yw + 2).clamp(10, 400);
    let (px_w, px_h) = (cols * 2, CHART_ROWS * 4);
    // Per cell: its dots, and the series that set the last of them.
    let mut cells = vec![(0u8, 0usize); cols * CHART_ROWS];
    let mut markers: Vec<(usize, usize, usize)> = Vec::new();
    let n = times.len().max(2) - 1;
    let index: std::collections::HashMap<i64, usize> =
        times.iter().enumerate().map(|(i, t)| (*t, i)).collect();
    let to_px = |i: usize, v: f64| -> (usize, usize) {
        let x = (i * (px_w - 1)) / n;
        let y = ((hi - v) / (hi - lo) * (px_h - 1) as f64).round() as usize;
        (x, y.min(px_h - 1))
    };
    for (si, s) in shown.iter().enumerate().rev() {
        let mut prev: Option<(usize, usize, usize)> = None;
        for (t, v) in &s.points {
            let Some(&i) = index.get(t) else { continue };
            if !v.is_finite() {
                prev = None;
                continue;
            }
            let (x, y) = to_px(i, *v);
            // Consecutive steps are joined; a gap breaks the line.
            let from = match prev {
                Some((pi, px, py)) if pi + 1 == i => (px, py),
                _ => (x, y),
            };
            for (dx, dy) in line_dots(from, (x, y)) {
                let c = &mut cells[(dy / 4) * cols + dx / 2];
                c.0 |= DOT[dx % 2][dy % 4];
                c.1 = si;
            }
            prev = Some((i, x, y));
        }
        if let Some((_, x, y)) = prev {
            markers.push((si, x / 2, y / 4));
        }
    }
    let paint = |c: Sgr, s: &str| if o.color { c.paint(s) } else { s.to_string() };
    for row in 0..CHART_ROWS {
        let label = match row {
            0 => ylabels[0].as_str(),
            r if r == CHART_ROWS / 2 => ylabels[1].as_str(),
            r if r == CHART_ROWS - 1 => ylabels[2].as_str(),
            _ => "",
        };
        let mut line = format!("{} {}", pad(label, yw, true), paint(Sgr::GREY, "┤"));
        for col in 0..cols {
            let (dots, si) = cells[row * cols + col];
            let marker = markers.iter().find(|m| m.1 == col && m.2 == row);
            let (ch, si) = match marker {
                Some(m) => (MARKERS[m.0].to_string(), m.0),
                None if dots == 0 => (" ".to_string(), si),
                None => (
                    char::from_u32(0x2800 + u32::from(dots))
                        .unwrap()
                        .to_string(),
                    si,
                ),
            };
            line.push_str(&if ch == " " {
                ch
            } else {
                paint(SERIES_COLORS[si], &ch)
            });
        }
        writeln!(w, "{}", line.trim_end())?;
    }
    let axis = format!("{} └{}", " ".repeat(yw), "─".repeat(cols));
    writeln!(w, "{}", paint(Sgr::GREY, &axis))?;
    let first = format_ts(times[0], &o.tz, TsFormat::Rfc3339);
    let mut last = format_ts(*times.last().unwrap(), &o.tz, TsFormat::Rfc3339);
    if first.len() + last.len() + 2 > cols && first.get(..11) == last.get(..11) {
        // The same day: the end's time of day is enough.
        last = last[11..].to_string();
    }
    match cols.checked_sub(first.len() + last.len()) {
        Some(gap) if gap >= 2 => {
            writeln!(w, "{}  {first}{}{last}", " ".repeat(yw), " ".repeat(gap))?
        }
        // Too narrow for both on a line: the end right-aligned under it.
        _ => {
            writeln!(w, "{}  {}", " ".repeat(yw), fit(&first, cols))?;
            writeln!(w, "{}", pad(&fit(&last, cols), yw + 2 + cols, true))?;
        }
    }
    let common = common(all.iter().map(|s| &s.labels));
    if !common.is_empty() {
        writeln!(w, "{}", paint(Sgr::GREY, &common.to_string()))?;
    }
    for (si, s) in shown.iter().enumerate() {
        let last = s
            .points
            .last()
            .map_or(String::new(), |p| humanize(p.1, o.unit));
        let mark = paint(SERIES_COLORS[si], &MARKERS[si].to_string());
        let labels = fit(
            &without(&s.labels, &common),
            o.width.saturating_sub(last.len() + 6),
        );
        writeln!(w, "{mark} {labels}  {last}")?;
    }
    if all.len() > shown.len() {
        writeln!(
            w,
            "{}",
            paint(
                Sgr::GREY,
                &format!(
                    "({} more series with lower means not drawn)",
                    all.len() - shown.len()
                )
            )
        )?;
    }
    Ok(())
}

/// The dots of a line from `a` to `b` (Bresenham).
fn line_dots(a: (usize, usize), b: (usize, usize)) -> Vec<(usize, usize)> {
    let (mut x, mut y) = (a.0 as i64, a.1 as i64);
    let (x1, y1) = (b.0 as i64, b.1 as i64);
    let (dx, dy) = ((x1 - x).abs(), -(y1 - y).abs());
    let (sx, sy) = (if x < x1 { 1 } else { -1 }, if y < y1 { 1 } else { -1 });
    let mut err = dx + dy;
    let mut out = Vec::new();
    loop {
        out.push((x as usize, y as usize));
        if x == x1 && y == y1 {
            break;
        }
        let e2 = 2 * err;
        if e2 >= dy {
            err += dy;
            x += sx;
        }
        if e2 <= dx {
            err += dx;
            y += sy;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humanized_numbers() {
        assert_eq!(humanize(0.0033333333333333335, Unit::PerSec), "0.00333/s");
        assert_eq!(humanize(12.0, Unit::None), "12");
        assert_eq!(humanize(12.345, Unit::None), "12.3");
        assert_eq!(humanize(1234.0, Unit::None), "1.23k");
        assert_eq!(humanize(999.7, Unit::None), "1.00k");
        assert_eq!(humanize(1_500_000.0, Unit::Bytes), "1.50 MB");
        assert_eq!(humanize(2048.0, Unit::BytesPerSec), "2.05 kB/s");
        assert_eq!(humanize(-4.2, Unit::None), "-4.20");
        assert_eq!(humanize(0.0, Unit::None), "0");
        assert_eq!(humanize(0.1, Unit::PerSec), "0.100/s");
        assert_eq!(humanize(0.5, Unit::None), "0.500");
        assert_eq!(humanize(f64::NAN, Unit::None), "NaN");
        assert_eq!(humanize(f64::INFINITY, Unit::None), "+Inf");
    }

    #[test]
    fn units_from_the_query() {
        let u = |q: &str| match crate::logql::parse_expr(q).unwrap() {
            crate::logql::Expr::Sample(s) => unit_of(&s),
            _ => unreachable!(),
        };
        assert_eq!(
            u(r#"sum by (a) (bytes_over_time({a="b"}[5m]))"#),
            Unit::Bytes
        );
        assert_eq!(u(r#"topk(3, bytes_rate({a="b"}[5m]))"#), Unit::BytesPerSec);
        assert_eq!(u(r#"sum(rate({a="b"}[5m]))"#), Unit::PerSec);
        assert_eq!(u(r#"count(rate({a="b"}[5m]))"#), Unit::None);
        assert_eq!(u(r#"count_over_time({a="b"}[5m])"#), Unit::None);
        assert_eq!(u(r#"sum(rate({a="b"}[5m])) * 60"#), Unit::None);
    }

    #[test]
    fn sparklines() {
        let times: Vec<i64> = (0..8).collect();
        let pts: Vec<(i64, f64)> = (0..8).map(|i| (i, i as f64)).collect();
        assert_eq!(sparkline(&pts, &times, 8), "▁▂▃▄▅▆▇█");
        // Two steps a character: the higher of each pair.
        assert_eq!(sparkline(&pts, &times, 4), "▂▄▆█");
        // A missing step is a gap; a flat series is mid-height.
        let gap = [(0, 1.0), (2, 1.0)];
        assert_eq!(sparkline(&gap, &times[..3], 3), "▄ ▄");
    }
}
