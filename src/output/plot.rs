//! `--plot FILE.svg`: a metric range result as an SVG line chart (plotters'
//! SVG backend) for CI artifacts and reports: a time axis, a value axis in
//! the query's unit, one line per series (the [`PLOT_SERIES`] with the
//! highest means), a legend, and the query as the title; `.png` is the same
//! chart drawn in-process by plotters' bitmap backend ([`png`]), its text set
//! with an embedded DejaVu Sans by ab_glyph, so nothing needs installing.

use crate::engine::value::{MetricValue, Series};
use crate::model::Labels;

use super::terminal::{humanize, Unit};
use super::{format_ts, TsFormat};

/// Series drawn at most; the legend says how many more there were.
pub const PLOT_SERIES: usize = 10;

/// Why a plot could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// Only range queries have a time axis.
    #[error("--plot draws metric range queries (a matrix); this query gives {0}")]
    NotAMatrix(&'static str),
    /// Nothing to draw.
    #[error("--plot: the query returned no series")]
    Empty,
    /// plotters (or the PNG encoder) failed.
    #[error("--plot: drawing failed: {0}")]
    Draw(String),
}

/// Options of a plot.
#[derive(Debug, Clone)]
pub struct PlotOptions {
    /// The title (the query).
    pub title: String,
    /// The unit of the values.
    pub unit: Unit,
    /// The zone of the time axis.
    pub tz: jiff::tz::TimeZone,
    /// Size in pixels.
    pub size: (u32, u32),
}

/// Line colours (Tableau 10: distinct, readable on white and in print).
const COLORS: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

/// The labels all series share, and each series' own.
fn split_common(series: &[&Series]) -> (Labels, Vec<String>) {
    let mut common: Vec<(String, String)> = series[0].labels.pairs().to_vec();
    if series.len() > 1 {
        for s in &series[1..] {
            common.retain(|(k, v)| s.labels.get(k) == Some(v.as_str()));
        }
    } else {
        common.clear();
    }
    let common = Labels::from_pairs(common);
    let own = series
        .iter()
        .map(|s| {
            Labels::from_pairs(
                s.labels
                    .pairs()
                    .iter()
                    .filter(|(k, _)| common.get(k).is_none())
                    .cloned(),
            )
            .to_string()
        })
        .collect();
    (common, own)
}

/// DejaVu Sans (Bitstream Vera licence, `fonts/DejaVuSans-LICENSE.txt`):
/// ab_glyph lays out and draws all text from it, in SVG (sizes) and PNG.
static FONT: &[u8] = include_bytes!("fonts/DejaVuSans.ttf");

/// Registers [`FONT`] as plotters' "sans-serif" once: with plotters'
/// `ab_glyph` feature there is no system font lookup, and text fails to
/// draw (or measure) without a registered font.
fn register_font() -> Result<(), PlotError> {
    static DONE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *DONE.get_or_init(|| {
        plotters::style::register_font("sans-serif", plotters::style::FontStyle::Normal, FONT)
            .is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(PlotError::Draw("the embedded font does not parse".into()))
    }
}

/// The SVG document of `v` (a matrix).
pub fn svg(v: &MetricValue, o: &PlotOptions) -> Result<String, PlotError> {
    let mut out = String::new();
    let root = plotters::prelude::SVGBackend::with_string(&mut out, o.size);
    chart(root, v, o)?;
    Ok(out)
}

/// The PNG of `v`: the chart of [`svg`] drawn by plotters' bitmap backend
/// into an RGB buffer and encoded by the `png` crate. The in-process
/// renderer replaced `rsvg-convert` (an install step for every user of
/// `.png`); resvg with text was measured and rejected (7 min 42 s to build
/// on the 2 shared cores), see bench/README.md.
pub fn png(v: &MetricValue, o: &PlotOptions) -> Result<Vec<u8>, PlotError> {
    let (w, h) = o.size;
    let mut rgb = vec![255u8; w as usize * h as usize * 3];
    chart(
        plotters::prelude::BitMapBackend::with_buffer(&mut rgb, o.size),
        v,
        o,
    )?;
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(png::Compression::High);
    let encode = |e: png::EncodingError| PlotError::Draw(format!("PNG encoding: {e}"));
    let mut writer = enc.write_header().map_err(encode)?;
    writer.write_image_data(&rgb).map_err(encode)?;
    writer.finish().map_err(encode)?;
    Ok(out)
}

/// Draws the chart of `v` on `backend` (any plotters backend: SVG or bitmap).
fn chart<DB: plotters::prelude::DrawingBackend>(
    backend: DB,
    v: &MetricValue,
    o: &PlotOptions,
) -> Result<(), PlotError> {
    use plotters::prelude::*;
    register_font()?;
    let all = match v {
        MetricValue::Matrix(m) => m,
        MetricValue::Vector(_) => return Err(PlotError::NotAMatrix("a vector (an instant query)")),
        MetricValue::Scalar(_) => return Err(PlotError::NotAMatrix("a scalar")),
    };
    let mean = |s: &Series| {
        let v: Vec<f64> = s
            .points
            .iter()
            .map(|p| p.1)
            .filter(|v| v.is_finite())
            .collect();
        if v.is_empty() {
            f64::NEG_INFINITY
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    let mut ranked: Vec<&Series> = all.iter().filter(|s| !s.points.is_empty()).collect();
    if ranked.is_empty() {
        return Err(PlotError::Empty);
    }
    ranked.sort_by(|a, b| mean(b).total_cmp(&mean(a)));
    ranked.truncate(PLOT_SERIES);
    let (common, own) = split_common(&ranked);
    let pts = || ranked.iter().flat_map(|s| s.points.iter());
    let t0 = pts().map(|p| p.0).min().unwrap();
    let t1 = pts().map(|p| p.0).max().unwrap().max(t0 + 1_000_000_000);
    // x is in minutes, hours or days from t0, so plotters' round ticks
    // land on round times (steps are aligned to the epoch).
    let unit_ns: i64 = match t1 - t0 {
        d if d <= 3 * 3_600_000_000_000 => 60_000_000_000,
        d if d <= 3 * 86_400_000_000_000 => 3_600_000_000_000,
        _ => 86_400_000_000_000,
    };
    let secs = move |ts: i64| (ts - t0) as f64 / unit_ns as f64;
    let finite = || pts().map(|p| p.1).filter(|v| v.is_finite());
    let mut lo = finite().fold(f64::INFINITY, f64::min).min(0.0);
    let mut hi = finite().fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() || !hi.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if hi <= lo {
        hi = lo + 1.0;
    }
    hi += (hi - lo) * 0.05;
    let draw = |e: &dyn std::fmt::Display| PlotError::Draw(e.to_string());
    {
        let root = backend.into_drawing_area();
        root.fill(&WHITE).map_err(|e| draw(&e))?;
        let title = if o.title.chars().count() > 110 {
            format!("{}…", o.title.chars().take(109).collect::<String>())
        } else {
            o.title.clone()
        };
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(80)
            .build_cartesian_2d(secs(t0)..secs(t1), lo..hi)
            .map_err(|e| draw(&e))?;
        let tz = o.tz.clone();
        let same_day = format_ts(t0, &tz, TsFormat::Rfc3339).get(..10)
            == format_ts(t1, &tz, TsFormat::Rfc3339).get(..10);
        let x_fmt = move |x: &f64| {
            let t = format_ts(t0 + (*x * unit_ns as f64) as i64, &tz, TsFormat::Rfc3339);
            // 2024-05-01T00:10:00Z → 00:10 within a day, else 05-01 00:10.
            match (same_day, t.get(11..16), t.get(5..10)) {
                (true, Some(hm), _) => hm.to_string(),
                (false, Some(hm), Some(md)) => format!("{md} {hm}"),
                _ => t,
            }
        };
        let unit = o.unit;
        let y_fmt = move |y: &f64| humanize(*y, unit);
        let zone = format_ts(t0, &o.tz, TsFormat::Rfc3339);
        let zone = if zone.ends_with('Z') {
            "UTC".to_string()
        } else {
            zone[19..].to_string()
        };
        let x_desc = if same_day {
            format!(
                "time ({zone}), {}",
                &format_ts(t0, &o.tz, TsFormat::Rfc3339)[..10]
            )
        } else {
            format!("time ({zone})")
        };
        let y_desc = match o.unit {
            Unit::None => "value",
            Unit::Bytes => "bytes",
            Unit::BytesPerSec => "bytes per second",
            Unit::PerSec => "per second",
        };
        chart
            .configure_mesh()
            .x_labels(8)
            .y_labels(6)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .x_desc(x_desc)
            .y_desc(y_desc)
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(|e| draw(&e))?;
        for (i, (s, name)) in ranked.iter().zip(&own).enumerate() {
            let (r, g, b) = COLORS[i % COLORS.len()];
            let color = RGBColor(r, g, b);
            let style = ShapeStyle::from(&color).stroke_width(2);
            // A gap (a step without a value, or a non-finite one) breaks the line.
            let step = s.points.windows(2).map(|w| w[1].0 - w[0].0).min();
            let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
            let mut last: Option<i64> = None;
            for &(t, v) in &s.points {
                let broken = !v.is_finite() || last.zip(step).is_some_and(|(l, st)| t - l > st);
                if broken && !runs.last().unwrap().is_empty() {
                    runs.push(Vec::new());
                }
                if v.is_finite() {
                    runs.last_mut().unwrap().push((secs(t), v));
                }
                last = Some(t);
            }
            let label = if name == "{}" && !common.is_empty() {
                common.to_string()
            } else {
                name.clone()
            };
            let mut first = true;
            for run in runs.into_iter().filter(|r| !r.is_empty()) {
                let series = chart
                    .draw_series(LineSeries::new(run, style))
                    .map_err(|e| draw(&e))?;
                if std::mem::take(&mut first) {
                    series
                        .label(label.clone())
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
                }
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .label_font(("sans-serif", 13))
            .draw()
            .map_err(|e| draw(&e))?;
        let mut notes = Vec::new();
        if !common.is_empty() {
            notes.push(format!("all series: {common}"));
        }
        if all.len() > ranked.len() {
            notes.push(format!(
                "{} of {} series shown (highest means)",
                ranked.len(),
                all.len()
            ));
        }
        if !notes.is_empty() {
            root.draw(&Text::new(
                notes.join("   "),
                (16, o.size.1 as i32 - 18),
                ("sans-serif", 12).into_font().color(&RGBColor(90, 90, 90)),
            ))
            .map_err(|e| draw(&e))?;
        }
        root.present().map_err(|e| draw(&e))?;
    }
    Ok(())
}
