//! PNG plots for reports: [`line()`], [`heatmap`] and grouped [`bar`] charts.
//!
//! Every function validates its input first and returns [`Error::PlotData`] for data that
//! cannot be drawn (no series, no finite values, ragged rows, ...) instead of panicking;
//! rendering failures become [`Error::Plot`]. Text uses the DejaVu Sans font embedded in this
//! crate, so no system fonts are needed. Images are [`WIDTH`]×[`HEIGHT`] pixels; the parent
//! directory of `path` is created if needed.

use std::fmt::Display;
use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, DefaultFormatting, KeyPointHint, ValueFormatter};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::{Error, Result};

/// Image width in pixels.
pub const WIDTH: u32 = 800;
/// Image height in pixels.
pub const HEIGHT: u32 = 500;

static FONT_BYTES: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");
const FONT: &str = "sans-serif";
const TITLE_SIZE: u32 = 24;
const LABEL_SIZE: u32 = 15;
const DESC_SIZE: u32 = 17;

/// Tableau 10.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];
const GRID_BOLD: RGBColor = RGBColor(215, 215, 215);
const GRID_LIGHT: RGBColor = RGBColor(238, 238, 238);
const MISSING: RGBColor = RGBColor(200, 200, 200);

/// The colour of the `i`-th series (cycles through 10 colours).
pub fn series_color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// One named curve of a [`LinePlot`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    /// Legend label of the curve.
    pub name: String,
    /// `(x, y)` points, joined in this order (sort by `x` for an ordinary curve).
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// A series called `name` through `points`.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series {
            name: name.into(),
            points,
        }
    }
}

/// A line plot with one legend entry per series. Non-finite points (and, with `log_x`,
/// points with `x <= 0`) are skipped; it is an error if nothing drawable is left.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinePlot {
    /// Caption drawn above the chart; also names the plot in [`Error::PlotData`].
    pub title: String,
    /// Description of the x axis.
    pub x_label: String,
    /// Description of the y axis.
    pub y_label: String,
    /// The curves, coloured by position with [`series_color`]; at least one is required.
    pub series: Vec<Series>,
    /// Use a logarithmic x axis (points with `x <= 0` are then skipped).
    pub log_x: bool,
}

/// A heatmap of `values[y][x]`; row 0 is drawn at the bottom (like a plot's y axis, not like
/// a matrix). Tick lists may be empty (indices are shown) or must match the data's shape.
/// Colours follow a viridis-like scale over `value_range` (default: the finite min..max);
/// values outside it are clamped and non-finite cells are grey. A colour bar shows the scale.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Heatmap {
    /// Caption drawn above the chart; also names the plot in [`Error::PlotData`].
    pub title: String,
    /// Description of the x axis (columns).
    pub x_label: String,
    /// Description of the y axis (rows).
    pub y_label: String,
    /// Column labels, left to right: empty (column indices are shown) or one per column.
    pub x_ticks: Vec<String>,
    /// Row labels, bottom to top: empty (row indices are shown) or one per row.
    pub y_ticks: Vec<String>,
    /// The cells as `values[y][x]`; every row must have the same, non-zero length.
    pub values: Vec<Vec<f64>>,
    /// Fixed `(lo, hi)` of the colour scale (finite, `lo < hi`); `None` uses the data's
    /// finite min..max.
    pub value_range: Option<(f64, f64)>,
    /// Write each cell's value in the cell.
    pub annotate: bool,
}

/// Grouped bars: one group per entry of `groups`, one bar per series in each group, and a
/// legend of the series. Every series needs one value per group; non-finite values leave a
/// gap.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BarChart {
    /// Caption drawn above the chart; also names the plot in [`Error::PlotData`].
    pub title: String,
    /// Description of the y (value) axis.
    pub y_label: String,
    /// Group labels along the x axis, one per group; at least one is required.
    pub groups: Vec<String>,
    /// `(legend name, values)` per series, with one value per entry of `groups`; bars are
    /// coloured by series position with [`series_color`].
    pub series: Vec<(String, Vec<f64>)>,
}

fn ensure_font() -> Result<(), String> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err("the embedded font could not be loaded".into())
    }
}

fn data_err(title: &str, reason: impl Into<String>) -> Error {
    Error::PlotData {
        title: title.to_owned(),
        reason: reason.into(),
    }
}

fn draw_err<E: Display>(path: &Path) -> impl Fn(E) -> Error + '_ {
    move |e| Error::Plot {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

/// Creates the parent directory, registers the font, and runs `draw`, turning a panic inside
/// plotters into an error.
fn render(path: &Path, draw: impl FnOnce() -> Result<()>) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    ensure_font().map_err(draw_err(path))?;
    match catch_unwind(AssertUnwindSafe(draw)) {
        Ok(result) => result,
        Err(_) => Err(Error::Plot {
            path: path.to_owned(),
            message: "plotters panicked".into(),
        }),
    }
}

/// Short tick labels: `0.25`, `1200`, `1e5`; values within `span * 1e-9` of zero (rounding
/// noise of the tick generator) print as `0`.
fn fmt_tick(v: f64, span: f64) -> String {
    if v == 0.0 || v.abs() < span.abs() * 1e-9 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        let s = format!("{v:.1e}");
        return s.replace(".0e", "e");
    }
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_owned()
}

/// Cell annotations: about 3 significant digits.
fn fmt_cell(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    let a = v.abs();
    if v == v.trunc() && a < 1e5 {
        format!("{v:.0}")
    } else if a >= 1e5 || (a < 0.01 && a > 0.0) {
        format!("{v:.0e}")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A padded linear range around `lo..hi`.
fn padded(lo: f64, hi: f64, frac: f64) -> Range<f64> {
    if hi > lo {
        let pad = (hi - lo) * frac;
        (lo - pad)..(hi + pad)
    } else {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        (lo - pad)..(hi + pad)
    }
}

fn min_max(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
}

/// A series after cleaning: (index for its colour, name, drawable points).
type Clean<'a> = (usize, &'a str, Vec<(f64, f64)>);

/// Draws a line plot to a PNG at `path`.
pub fn line(path: impl AsRef<Path>, plot: &LinePlot) -> Result<()> {
    let path = path.as_ref();
    let title = plot.title.as_str();
    if plot.series.is_empty() {
        return Err(data_err(title, "no series"));
    }
    let series: Vec<Clean<'_>> = plot
        .series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let pts = s
                .points
                .iter()
                .copied()
                .filter(|(x, y)| x.is_finite() && y.is_finite() && (!plot.log_x || *x > 0.0))
                .collect();
            (i, s.name.as_str(), pts)
        })
        .filter(|(_, _, pts): &Clean<'_>| !pts.is_empty())
        .collect();
    let all = || series.iter().flat_map(|(_, _, p)| p.iter().copied());
    let (Some((x_lo, x_hi)), Some((y_lo, y_hi))) =
        (min_max(all().map(|p| p.0)), min_max(all().map(|p| p.1)))
    else {
        let what = if plot.log_x {
            "no finite points with x > 0"
        } else {
            "no finite points"
        };
        return Err(data_err(title, what));
    };
    let y_range = padded(y_lo, y_hi, 0.05);
    let legend = legend_corner(
        &series,
        (x_lo, x_hi),
        (y_range.start, y_range.end),
        plot.log_x,
    );
    render(path, || {
        if plot.log_x {
            let (lo, hi) = if x_hi > x_lo {
                (x_lo, x_hi)
            } else {
                (x_lo / 2.0, x_hi * 2.0)
            };
            draw_line(path, plot, &series, (lo..hi).log_scale(), y_range, legend)
        } else {
            draw_line(
                path,
                plot,
                &series,
                padded(x_lo, x_hi, 0.02),
                y_range,
                legend,
            )
        }
    })
}

fn draw_line<X>(
    path: &Path,
    plot: &LinePlot,
    series: &[Clean<'_>],
    x_range: X,
    y_range: Range<f64>,
    legend: SeriesLabelPosition,
) -> Result<()>
where
    X: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
{
    let err = draw_err(path);
    let y_span = y_range.end - y_range.start;
    let x_range: X::CoordDescType = x_range.into();
    let x_span = {
        let r = x_range.range();
        if plot.log_x { 0.0 } else { r.end - r.start }
    };
    let root = BitMapBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(&err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(&plot.title, (FONT, TITLE_SIZE))
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(x_range, y_range)
        .map_err(&err)?;
    chart
        .configure_mesh()
        .x_desc(&plot.x_label)
        .y_desc(&plot.y_label)
        .label_style((FONT, LABEL_SIZE))
        .axis_desc_style((FONT, DESC_SIZE))
        .bold_line_style(GRID_BOLD)
        .light_line_style(GRID_LIGHT)
        .x_label_formatter(&|v| fmt_tick(*v, x_span))
        .y_label_formatter(&|v| fmt_tick(*v, y_span))
        .draw()
        .map_err(&err)?;
    for (i, name, points) in series {
        let color = series_color(*i);
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(&err)?
            .label(*name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        if points.len() <= 40 {
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(&err)?;
        }
    }
    chart
        .configure_series_labels()
        .position(legend)
        .background_style(WHITE.mix(0.85))
        .border_style(GRID_BOLD)
        .label_font((FONT, LABEL_SIZE))
        .draw()
        .map_err(&err)?;
    root.present().map_err(&err)
}

/// The plot corner whose legend-sized box covers the fewest data points (ties: upper right).
fn legend_corner(
    series: &[Clean<'_>],
    (x_lo, x_hi): (f64, f64),
    (y_lo, y_hi): (f64, f64),
    log_x: bool,
) -> SeriesLabelPosition {
    let tx = |x: f64| if log_x { x.ln() } else { x };
    let (a, b) = (tx(x_lo), tx(x_hi));
    let nx = |x: f64| if b > a { (tx(x) - a) / (b - a) } else { 0.5 };
    let ny = |y: f64| {
        if y_hi > y_lo {
            (y - y_lo) / (y_hi - y_lo)
        } else {
            0.5
        }
    };
    let longest = series
        .iter()
        .map(|(_, n, _)| n.chars().count())
        .max()
        .unwrap_or(0);
    let w = ((longest as f64 * 9.0 + 60.0) / 700.0).clamp(0.15, 0.6);
    let h = ((series.len() as f64 * 20.0 + 20.0) / 400.0).clamp(0.1, 0.8);
    // Sample along segments so lines crossing a corner count, not just their vertices.
    let mut samples = Vec::new();
    for (_, _, pts) in series {
        for pair in pts.windows(2) {
            let (p, q) = (
                (nx(pair[0].0), ny(pair[0].1)),
                (nx(pair[1].0), ny(pair[1].1)),
            );
            for k in 0..8 {
                let t = k as f64 / 8.0;
                samples.push((p.0 + t * (q.0 - p.0), p.1 + t * (q.1 - p.1)));
            }
        }
        if let Some(&(x, y)) = pts.last() {
            samples.push((nx(x), ny(y)));
        }
    }
    let corners = [
        (SeriesLabelPosition::UpperRight, 1.0 - w, 1.0 - h),
        (SeriesLabelPosition::UpperLeft, 0.0, 1.0 - h),
        (SeriesLabelPosition::LowerRight, 1.0 - w, 0.0),
        (SeriesLabelPosition::LowerLeft, 0.0, 0.0),
    ];
    let mut best = (usize::MAX, SeriesLabelPosition::UpperRight);
    for (pos, x0, y0) in corners {
        let hits = samples
            .iter()
            .filter(|(x, y)| {
                *x >= x0 - 0.02 && *x <= x0 + w + 0.02 && *y >= y0 - 0.02 && *y <= y0 + h + 0.02
            })
            .count();
        if hits < best.0 {
            best = (hits, pos);
        }
    }
    best.1
}

/// Viridis-like colour for `t` in `[0, 1]`.
pub fn viridis(t: f64) -> RGBColor {
    const STOPS: [(u8, u8, u8); 9] = [
        (68, 1, 84),
        (71, 44, 122),
        (59, 81, 139),
        (44, 113, 142),
        (33, 144, 141),
        (39, 173, 129),
        (92, 200, 99),
        (170, 220, 50),
        (253, 231, 37),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let pos = t * (STOPS.len() - 1) as f64;
    let i = (pos.floor() as usize).min(STOPS.len() - 2);
    let f = pos - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// A categorical axis over `0..n` with ticks at the cell centres `i + 0.5` (thinned to at most
/// ~20 labels). plotters' `with_key_points` cannot be used with label formatters.
#[derive(Clone)]
struct CentreAxis {
    n: usize,
}

impl Ranged for CentreAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let t = v / self.n as f64;
        limit.0 + (t * (limit.1 - limit.0) as f64).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        let max = hint.max_num_points().clamp(1, 20);
        let step = self.n.div_ceil(max).max(1);
        (0..self.n).step_by(step).map(|i| i as f64 + 0.5).collect()
    }

    fn range(&self) -> Range<f64> {
        0.0..self.n as f64
    }
}

fn tick_label(ticks: &[String], v: f64) -> String {
    let i = (v - 0.5).round().max(0.0) as usize;
    ticks.get(i).cloned().unwrap_or_else(|| i.to_string())
}

/// Draws a heatmap with a colour bar to a PNG at `path`.
pub fn heatmap(path: impl AsRef<Path>, plot: &Heatmap) -> Result<()> {
    let path = path.as_ref();
    let title = plot.title.as_str();
    let ny = plot.values.len();
    let nx = plot.values.first().map_or(0, Vec::len);
    if ny == 0 || nx == 0 {
        return Err(data_err(title, "no values"));
    }
    if let Some(r) = plot.values.iter().position(|r| r.len() != nx) {
        return Err(data_err(
            title,
            format!(
                "row {r} has {} values, row 0 has {nx}",
                plot.values[r].len()
            ),
        ));
    }
    if !plot.x_ticks.is_empty() && plot.x_ticks.len() != nx {
        return Err(data_err(
            title,
            format!("{} x ticks for {nx} columns", plot.x_ticks.len()),
        ));
    }
    if !plot.y_ticks.is_empty() && plot.y_ticks.len() != ny {
        return Err(data_err(
            title,
            format!("{} y ticks for {ny} rows", plot.y_ticks.len()),
        ));
    }
    let Some((d_lo, d_hi)) = min_max(plot.values.iter().flatten().copied()) else {
        return Err(data_err(title, "no finite values"));
    };
    let (lo, hi) = match plot.value_range {
        Some((lo, hi)) if lo.is_finite() && hi.is_finite() && lo < hi => (lo, hi),
        Some((lo, hi)) => return Err(data_err(title, format!("invalid value_range ({lo}, {hi})"))),
        None if d_hi > d_lo => (d_lo, d_hi),
        None => {
            let r = padded(d_lo, d_hi, 0.0);
            (r.start, r.end)
        }
    };
    render(path, || draw_heatmap(path, plot, nx, ny, lo, hi))
}

fn draw_heatmap(path: &Path, plot: &Heatmap, nx: usize, ny: usize, lo: f64, hi: f64) -> Result<()> {
    let err = draw_err(path);
    let root = BitMapBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(&err)?;
    let root = root.titled(&plot.title, (FONT, TITLE_SIZE)).map_err(&err)?;
    let (main, bar): (DrawingArea<_, Shift>, _) = root.split_horizontally(WIDTH - 100);

    let mut chart = ChartBuilder::on(&main)
        .margin(15)
        .margin_top(5)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(CentreAxis { n: nx }, CentreAxis { n: ny })
        .map_err(&err)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(&plot.x_label)
        .y_desc(&plot.y_label)
        .label_style((FONT, LABEL_SIZE))
        .axis_desc_style((FONT, DESC_SIZE))
        .x_label_formatter(&|v| tick_label(&plot.x_ticks, *v))
        .y_label_formatter(&|v| tick_label(&plot.y_ticks, *v))
        .draw()
        .map_err(&err)?;
    let scale = |v: f64| (v - lo) / (hi - lo);
    let cells = plot.values.iter().enumerate().flat_map(|(j, row)| {
        row.iter().enumerate().map(move |(i, &v)| {
            let color = if v.is_finite() {
                viridis(scale(v))
            } else {
                MISSING
            };
            Rectangle::new(
                [(i as f64, j as f64), (i as f64 + 1.0, j as f64 + 1.0)],
                color.filled(),
            )
        })
    });
    chart.draw_series(cells).map_err(&err)?;

    if plot.annotate {
        let (w, h) = chart.plotting_area().dim_in_pixel();
        let cell_px = (w as f64 / nx as f64).min(h as f64 * 2.5 / ny as f64);
        let size = (cell_px / 3.2).clamp(7.0, 16.0);
        if cell_px >= 14.0 {
            let texts = plot.values.iter().enumerate().flat_map(|(j, row)| {
                row.iter().enumerate().map(move |(i, &v)| {
                    let t = scale(v);
                    let color: &'static RGBColor = if v.is_finite() && t > 0.55 {
                        &BLACK
                    } else {
                        &WHITE
                    };
                    let style = TextStyle::from((FONT, size).into_font())
                        .color(color)
                        .pos(Pos::new(HPos::Center, VPos::Center));
                    Text::new(fmt_cell(v), (i as f64 + 0.5, j as f64 + 0.5), style)
                })
            });
            chart.draw_series(texts).map_err(&err)?;
        }
    }

    // Colour bar: same vertical margins and label area as the main chart so the two align.
    let mut cbar = ChartBuilder::on(&bar)
        .margin(15)
        .margin_top(5)
        .margin_left(0)
        .x_label_area_size(50)
        .right_y_label_area_size(60)
        .build_cartesian_2d(0f64..1f64, lo..hi)
        .map_err(&err)?;
    cbar.configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .label_style((FONT, LABEL_SIZE - 1))
        .y_label_formatter(&|v| fmt_tick(*v, hi - lo))
        .y_labels(6)
        .draw()
        .map_err(&err)?;
    const STEPS: usize = 128;
    let step = (hi - lo) / STEPS as f64;
    cbar.draw_series((0..STEPS).map(|k| {
        let a = lo + k as f64 * step;
        Rectangle::new(
            [(0.0, a), (1.0, a + step)],
            viridis((k as f64 + 0.5) / STEPS as f64).filled(),
        )
    }))
    .map_err(&err)?;
    root.present().map_err(&err)
}

/// Draws a grouped bar chart with a legend to a PNG at `path`.
pub fn bar(path: impl AsRef<Path>, plot: &BarChart) -> Result<()> {
    let path = path.as_ref();
    let title = plot.title.as_str();
    if plot.groups.is_empty() {
        return Err(data_err(title, "no groups"));
    }
    if plot.series.is_empty() {
        return Err(data_err(title, "no series"));
    }
    let ng = plot.groups.len();
    if let Some((name, v)) = plot.series.iter().find(|(_, v)| v.len() != ng) {
        return Err(data_err(
            title,
            format!("series `{name}` has {} values for {ng} groups", v.len()),
        ));
    }
    let Some((v_lo, v_hi)) = min_max(plot.series.iter().flat_map(|(_, v)| v.iter().copied()))
    else {
        return Err(data_err(title, "no finite values"));
    };
    let (lo, hi) = (v_lo.min(0.0), v_hi.max(0.0));
    let span = if hi > lo { hi - lo } else { 1.0 };
    // Headroom for value labels and the legend.
    let y_range = (if lo < 0.0 { lo - 0.08 * span } else { 0.0 })..(hi + 0.25 * span);
    render(path, || draw_bar(path, plot, y_range))
}

fn draw_bar(path: &Path, plot: &BarChart, y_range: Range<f64>) -> Result<()> {
    let err = draw_err(path);
    let y_span = y_range.end - y_range.start;
    let below_zero = y_range.start < 0.0;
    let ng = plot.groups.len();
    let ns = plot.series.len();
    let root = BitMapBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(&err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(&plot.title, (FONT, TITLE_SIZE))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(CentreAxis { n: ng }, y_range)
        .map_err(&err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .y_desc(&plot.y_label)
        .label_style((FONT, LABEL_SIZE))
        .axis_desc_style((FONT, DESC_SIZE))
        .bold_line_style(GRID_BOLD)
        .light_line_style(GRID_LIGHT)
        .x_label_formatter(&|v| tick_label(&plot.groups, *v))
        .y_label_formatter(&|v| fmt_tick(*v, y_span))
        .draw()
        .map_err(&err)?;
    if below_zero {
        chart
            .draw_series([PathElement::new(
                vec![(0.0, 0.0), (ng as f64, 0.0)],
                BLACK.stroke_width(1),
            )])
            .map_err(&err)?;
    }
    let width = 0.8 / ns as f64;
    let annotate = ng * ns <= 24;
    for (k, (name, values)) in plot.series.iter().enumerate() {
        let color = series_color(k);
        let x0 = |i: usize| i as f64 + 0.1 + k as f64 * width;
        let bars = values
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .map(|(i, &v)| {
                let mut r = Rectangle::new(
                    [(x0(i) + 0.01, 0.0), (x0(i) + width - 0.01, v)],
                    color.filled(),
                );
                r.set_margin(0, 0, 0, 0);
                r
            });
        chart
            .draw_series(bars)
            .map_err(&err)?
            .label(name.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled()));
        if annotate {
            let labels = values
                .iter()
                .enumerate()
                .filter(|(_, v)| v.is_finite())
                .map(|(i, &v)| {
                    let vpos = if v >= 0.0 { VPos::Bottom } else { VPos::Top };
                    let style = TextStyle::from((FONT, 12).into_font())
                        .color(&BLACK)
                        .pos(Pos::new(HPos::Center, vpos));
                    Text::new(fmt_cell(v), (x0(i) + width / 2.0, v), style)
                });
            chart.draw_series(labels).map_err(&err)?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(GRID_BOLD)
        .label_font((FONT, LABEL_SIZE))
        .draw()
        .map_err(&err)?;
    root.present().map_err(&err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_and_cells() {
        assert_eq!(fmt_tick(0.25, 1.0), "0.25");
        assert_eq!(fmt_tick(1200.0, 1.0), "1200");
        assert_eq!(fmt_tick(100000.0, 1.0), "1e5");
        assert_eq!(fmt_tick(-2.8e-17, 0.7), "0");
        assert_eq!(fmt_tick(1e-12, 0.0), "1e-12");
        assert_eq!(fmt_cell(0.1234), "0.12");
        assert_eq!(fmt_cell(12.34), "12.3");
        assert_eq!(fmt_cell(3.0), "3");
    }

    #[test]
    fn colormap_ends() {
        assert_eq!(viridis(0.0), RGBColor(68, 1, 84));
        assert_eq!(viridis(1.0), RGBColor(253, 231, 37));
        assert_eq!(viridis(f64::NAN), RGBColor(68, 1, 84));
    }
}
