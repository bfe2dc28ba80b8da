//! Figures for reports and papers: [`line()`] plots, [`heatmap`]s and grouped [`bar`] charts,
//! each written as a PNG **and** an SVG beside it (`loss.png` → `loss.svg`).
//!
//! * Series are told apart by colour *and* by line style and marker ([`LineStyle::auto`],
//!   [`Marker::auto`]), so ten curves stay readable in greyscale; both can be set per
//!   [`Series`].
//! * Uncertainty: per-point error bars or shaded bands ([`Series::with_error_bars`],
//!   [`Series::with_band`], [`Series::from_samples`] for mean ± std over seeds) and error bars
//!   on bars ([`BarOptions`]).
//! * The legend never covers data: it goes to the emptiest corner of the plot, or the y axis
//!   gets headroom for it, or it moves outside to the right (always when there are many
//!   series). [`Legend`] forces a placement.
//! * Axes whose values are all whole numbers (steps, layers, K) get whole-number ticks;
//!   [`Ticks::Integer`] forces them. Tick labels of an axis share their decimals.
//! * Bar value labels never collide: they run across a bar when they fit, rotated when not,
//!   and are dropped when even that would overlap something.
//!
//! The options live in [`LineOptions`] and [`BarOptions`], passed to [`line_with`] and
//! [`bar_with`]; [`line()`] and [`bar`] use the defaults.
//!
//! Every function validates its input first and returns [`Error::PlotData`] for data that
//! cannot be drawn (no series, no finite values, ragged rows, error lists of the wrong length,
//! ...) instead of panicking; rendering failures become [`Error::Plot`]. Text uses the DejaVu
//! Sans font embedded in this crate, so no system fonts are needed (PNG text is rasterised
//! by this crate, see the `backend` module; SVG text names DejaVu Sans with generic
//! fallbacks down to `sans-serif`). Images are [`WIDTH`]×[`HEIGHT`] pixels; the parent
//! directory of `path` is created if needed. A `path` ending in `.svg` writes only the SVG.

mod backend;
mod bars;
mod heat;
mod layout;
mod legend;
mod lines;

use std::fmt::Display;
use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, DefaultFormatting, KeyPointHint, ValueFormatter};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use self::backend::{Canvas, FONT_BYTES, text_width};
pub use self::bars::{bar, bar_with};
pub use self::heat::heatmap;
use self::layout::{
    AxisTicks, BarPx, LabelPx, Obstacle, corner_box, emptiest_corner, format_tick,
    is_integer_valued, label_orientation, label_reach, layout_bar_labels, nice_ticks,
};
pub use self::lines::{line, line_with};
use crate::{Error, Result};

/// Image width in pixels.
pub const WIDTH: u32 = 800;
/// Image height in pixels.
pub const HEIGHT: u32 = 500;

/// Font family: the embedded DejaVu Sans for PNGs; in SVGs a CSS list so any viewer finds
/// a sans-serif face.
const FONT: &str = "DejaVu Sans, Verdana, Arial, Helvetica, sans-serif";
const TITLE_SIZE: u32 = 24;
const LABEL_SIZE: u32 = 15;
const DESC_SIZE: u32 = 17;
const BAR_LABEL_SIZE: u32 = 12;

// Chart frame: margins and label areas around the plotting area, in pixels.
const MARGIN: u32 = 15;
const MARGIN_TOP: u32 = 6;
const X_AREA: u32 = 50;
const Y_AREA: u32 = 72;

// Legend box.
const LEGEND_ROW: f64 = 20.0;
const LEGEND_PAD: f64 = 6.0;
const LEGEND_SAMPLE: f64 = 34.0;
const LEGEND_MAX_TEXT: f64 = 230.0;
/// Gap between the legend box and the plot edges.
const LEGEND_INSET: f64 = 8.0;
/// Clearance kept between the legend box and any data.
const LEGEND_CLEAR: f64 = 4.0;
/// More series than this put the legend outside the plot.
const MAX_INSIDE: usize = 6;
/// Largest share of the plot height the legend may claim as headroom above the data.
const MAX_HEADROOM: f64 = 0.3;

/// More points than this get markers on a subset only (about [`MARKED_POINTS`]).
const ALL_MARKERS: usize = 40;
const MARKED_POINTS: usize = 12;
const MARKER_R: i32 = 4;

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
const GRID: RGBColor = RGBColor(225, 225, 225);
const LEGEND_BORDER: RGBColor = RGBColor(200, 200, 200);
const MISSING: RGBColor = RGBColor(200, 200, 200);
const ERROR_BAR: RGBColor = RGBColor(40, 40, 40);

/// The colour of the `i`-th series (cycles through 10 colours).
pub fn series_color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// How a series' points are joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LineStyle {
    /// A continuous line.
    Solid,
    /// Dashes (7 px on, 4 px off).
    Dashed,
    /// Dots (2 px on, 3 px off).
    Dotted,
    /// No line: markers only (a scatter plot).
    None,
}

impl LineStyle {
    /// The style of the `i`-th series when none is set: solid, dashed, dotted, repeating.
    /// Together with [`Marker::auto`] the first 15 series all differ in style or marker.
    pub fn auto(i: usize) -> Self {
        [LineStyle::Solid, LineStyle::Dashed, LineStyle::Dotted][i % 3]
    }
}

/// The symbol drawn at a series' points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Marker {
    /// A filled circle.
    Circle,
    /// A filled square.
    Square,
    /// A filled triangle, point up.
    Triangle,
    /// A filled diamond.
    Diamond,
    /// An × of two strokes.
    Cross,
    /// No marker (a series with one point still gets a circle, or it would be invisible).
    None,
}

impl Marker {
    /// The marker of the `i`-th series when none is set: circle, square, triangle, diamond,
    /// cross, repeating.
    pub fn auto(i: usize) -> Self {
        [
            Marker::Circle,
            Marker::Square,
            Marker::Triangle,
            Marker::Diamond,
            Marker::Cross,
        ][i % 5]
    }
}

/// How a series' per-point uncertainty ([`Series::errors`]) is drawn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum ErrorStyle {
    /// A vertical bar with caps at each point (at the marked points of long series).
    #[default]
    Bars,
    /// A translucent band in the series' colour between the lower and upper curves.
    Band,
}

/// One named curve of a [`LinePlot`].
///
/// `Series::new(name, points)` gives a curve with automatic colour, line style and marker
/// (by its position in [`LinePlot::series`]); the `with_*` methods add error bars or a band
/// and set the style explicitly.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    /// Legend label of the curve.
    pub name: String,
    /// `(x, y)` points, joined in this order (sort by `x` for an ordinary curve).
    pub points: Vec<(f64, f64)>,
    /// Uncertainty of each point as absolute `(lower y, upper y)`, e.g. mean ± std or the
    /// min..max over seeds: empty for none, else one entry per point. Non-finite entries
    /// draw nothing for that point.
    pub errors: Vec<(f64, f64)>,
    /// Whether [`errors`](Self::errors) are drawn as error bars or as a band.
    pub error_style: ErrorStyle,
    /// Line style; `None` picks [`LineStyle::auto`] of the series' position.
    pub line: Option<LineStyle>,
    /// Marker; `None` picks [`Marker::auto`] of the series' position.
    pub marker: Option<Marker>,
    /// Colour; `None` picks [`series_color`] of the series' position.
    pub color: Option<RGBColor>,
}

/// Mean and sample standard deviation (n − 1; 0 for one value) of the finite values, `None`
/// if there are none. The usual summary of a result over seeds.
pub fn mean_std(values: &[f64]) -> Option<(f64, f64)> {
    let v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    Some((mean, var.sqrt()))
}

impl Series {
    /// A series called `name` through `points`.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series {
            name: name.into(),
            points,
            ..Default::default()
        }
    }

    /// A series of means with ± one sample standard deviation as error bars, from
    /// `(x, values at x)` pairs, e.g. one value per seed. Non-finite values are ignored; an
    /// `x` without finite values is left out. Chain [`with_error_style`](Self::with_error_style)
    /// for a band.
    pub fn from_samples(
        name: impl Into<String>,
        samples: impl IntoIterator<Item = (f64, Vec<f64>)>,
    ) -> Self {
        let (points, errors) = samples
            .into_iter()
            .filter_map(|(x, v)| mean_std(&v).map(|(m, s)| ((x, m), (m - s, m + s))))
            .unzip();
        Series {
            name: name.into(),
            points,
            errors,
            ..Default::default()
        }
    }

    /// Symmetric error bars: point `i` spans `y ± err[i]` (give one per point; a NaN
    /// draws no bar).
    pub fn with_error_bars(self, err: impl IntoIterator<Item = f64>) -> Self {
        let errors = self.symmetric(err);
        self.with_error_range(errors)
    }

    /// Error bars from absolute `(lower y, upper y)` per point, e.g. min..max over seeds or
    /// a confidence interval.
    pub fn with_error_range(mut self, ranges: impl IntoIterator<Item = (f64, f64)>) -> Self {
        self.errors = ranges.into_iter().collect();
        self.error_style = ErrorStyle::Bars;
        self
    }

    /// A shaded band of `y ± err[i]` around the curve (one per point).
    pub fn with_band(self, err: impl IntoIterator<Item = f64>) -> Self {
        let errors = self.symmetric(err);
        self.with_band_range(errors)
    }

    /// A shaded band between absolute `(lower y, upper y)` per point.
    pub fn with_band_range(mut self, ranges: impl IntoIterator<Item = (f64, f64)>) -> Self {
        self.errors = ranges.into_iter().collect();
        self.error_style = ErrorStyle::Band;
        self
    }

    /// Draws the existing [`errors`](Self::errors) as bars or as a band.
    pub fn with_error_style(mut self, style: ErrorStyle) -> Self {
        self.error_style = style;
        self
    }

    /// Sets the line style ([`LineStyle::None`] for markers only).
    pub fn with_line(mut self, line: LineStyle) -> Self {
        self.line = Some(line);
        self
    }

    /// Sets the marker ([`Marker::None`] for a bare line).
    pub fn with_marker(mut self, marker: Marker) -> Self {
        self.marker = Some(marker);
        self
    }

    /// Sets the colour, e.g. `series_color(k)` to pair the curves of one method.
    pub fn with_color(mut self, color: RGBColor) -> Self {
        self.color = Some(color);
        self
    }

    /// `(y − e, y + e)` for point `i` and `err[i]`; keeps the length of `err` so a mismatch
    /// is reported when plotting.
    fn symmetric(&self, err: impl IntoIterator<Item = f64>) -> Vec<(f64, f64)> {
        err.into_iter()
            .enumerate()
            .map(|(i, e)| {
                let y = self.points.get(i).map_or(f64::NAN, |p| p.1);
                (y - e.abs(), y + e.abs())
            })
            .collect()
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
    /// The curves, styled by position ([`series_color`], [`LineStyle::auto`],
    /// [`Marker::auto`]) unless set on the series; at least one is required.
    pub series: Vec<Series>,
    /// Use a logarithmic x axis (points with `x <= 0` are then skipped).
    pub log_x: bool,
}

/// A plot corner, for [`Legend::Inside`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Corner {
    /// Top right.
    UpperRight,
    /// Top left.
    UpperLeft,
    /// Bottom right.
    LowerRight,
    /// Bottom left.
    LowerLeft,
}

impl Corner {
    /// All corners, in the order ties are broken.
    pub const ALL: [Corner; 4] = [
        Corner::UpperRight,
        Corner::UpperLeft,
        Corner::LowerRight,
        Corner::LowerLeft,
    ];
}

/// Where the legend goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Legend {
    /// Never over the data: the corner whose legend box covers no data (the emptiest
    /// corner); else, for a short legend, headroom added above the data for it; else outside
    /// to the right. More than 6 series always go outside.
    #[default]
    Auto,
    /// In this corner, even over data.
    Inside(Corner),
    /// To the right of the plot area.
    Outside,
    /// No legend.
    Hidden,
}

/// Tick placement of an axis.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Ticks {
    /// Whole-number ticks when every value on the axis is a whole number (steps, layers,
    /// K), ordinary ticks otherwise.
    #[default]
    Auto,
    /// Whole-number ticks only (no half steps), whatever the data.
    Integer,
    /// Ordinary ticks (1, 2, 2.5, 5 × 10ᵏ apart), even for whole-number data.
    Real,
}

/// Options of [`line_with`]; `LineOptions::default()` is what [`line()`] uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct LineOptions {
    /// Legend placement.
    pub legend: Legend,
    /// Ticks of the x axis (ignored on a logarithmic axis).
    pub x_ticks: Ticks,
    /// Ticks of the y axis.
    pub y_ticks: Ticks,
}

impl LineOptions {
    /// Sets the legend placement.
    pub fn with_legend(mut self, legend: Legend) -> Self {
        self.legend = legend;
        self
    }

    /// Sets the x axis ticks.
    pub fn with_x_ticks(mut self, ticks: Ticks) -> Self {
        self.x_ticks = ticks;
        self
    }

    /// Sets the y axis ticks.
    pub fn with_y_ticks(mut self, ticks: Ticks) -> Self {
        self.y_ticks = ticks;
        self
    }
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

/// Whether bars carry their values as text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum BarLabels {
    /// Labels when there are at most 24 bars.
    #[default]
    Auto,
    /// Labels on every bar that has room.
    Always,
    /// No labels.
    Never,
}

/// Options of [`bar_with`]; `BarOptions::default()` is what [`bar`] uses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BarOptions {
    /// Symmetric error bars, `value ± errors[series][group]`: empty for none, else one list
    /// per series (in [`BarChart::series`] order) with one entry per group; NaN draws none.
    pub errors: Vec<Vec<f64>>,
    /// Error bars from absolute `(lower, upper)` values, shaped like `errors`; give at most
    /// one of the two.
    pub error_ranges: Vec<Vec<(f64, f64)>>,
    /// Value labels on the bars.
    pub labels: BarLabels,
    /// Legend placement.
    pub legend: Legend,
    /// Ticks of the value axis.
    pub y_ticks: Ticks,
}

impl BarOptions {
    /// Sets symmetric error bars (`value ± e`), one list per series, one entry per group.
    pub fn with_errors(mut self, errors: Vec<Vec<f64>>) -> Self {
        self.errors = errors;
        self
    }

    /// Sets error bars from absolute `(lower, upper)` values.
    pub fn with_error_ranges(mut self, ranges: Vec<Vec<(f64, f64)>>) -> Self {
        self.error_ranges = ranges;
        self
    }

    /// Sets whether bars carry value labels.
    pub fn with_labels(mut self, labels: BarLabels) -> Self {
        self.labels = labels;
        self
    }

    /// Sets the legend placement.
    pub fn with_legend(mut self, legend: Legend) -> Self {
        self.legend = legend;
        self
    }

    /// Sets the value axis ticks.
    pub fn with_y_ticks(mut self, ticks: Ticks) -> Self {
        self.y_ticks = ticks;
        self
    }
}

// ---------------------------------------------------------------------------------------
// Rendering plumbing.

fn ensure_font() -> Result<(), String> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok()
            && backend::font_ok()
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

fn plot_err(path: &Path, message: impl Display) -> Error {
    Error::Plot {
        path: path.to_owned(),
        message: message.to_string(),
    }
}

/// Error text of a plotters call.
fn msg<E: Display>(e: E) -> String {
    e.to_string()
}

/// A figure that can draw itself on any plotters backend (PNG and SVG).
trait Figure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>;
}

/// The SVG written beside a figure's PNG: `path` with the extension `svg`.
pub fn svg_path(path: impl AsRef<Path>) -> PathBuf {
    path.as_ref().with_extension("svg")
}

fn is_svg(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("svg"))
}

/// Creates the parent directory, registers the font, and draws `fig` to `path` (PNG) and
/// its SVG sibling, turning a panic inside plotters into an error.
fn render(path: &Path, fig: &impl Figure) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    ensure_font().map_err(|m| plot_err(path, m))?;
    let svg = svg_path(path);
    let run = || -> Result<()> {
        if !is_svg(path) {
            let root =
                Canvas::raster(BitMapBackend::new(path, (WIDTH, HEIGHT))).into_drawing_area();
            fig.draw(&root).map_err(|m| plot_err(path, m))?;
            root.present().map_err(|e| plot_err(path, e))?;
        }
        let root = Canvas::vector(SVGBackend::new(&svg, (WIDTH, HEIGHT))).into_drawing_area();
        fig.draw(&root).map_err(|m| plot_err(&svg, m))?;
        root.present().map_err(|e| plot_err(&svg, e))
    };
    match catch_unwind(AssertUnwindSafe(run)) {
        Ok(result) => result,
        Err(_) => Err(plot_err(path, "plotters panicked")),
    }
}

/// Short tick labels for axes without a [`AxisTicks`] (log axes, colour bars): `0.25`,
/// `1200`, `1e5`; values within `span * 1e-9` of zero (rounding noise of the tick generator)
/// print as `0`.
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

/// Size in pixels of the plotting area of a chart built on an area of `area` pixels with
/// this module's margins and label areas.
fn plot_dims(area: (u32, u32)) -> (f64, f64) {
    (
        (area.0 as f64 - (2 * MARGIN + Y_AREA) as f64).max(1.0),
        (area.1 as f64 - (MARGIN_TOP + MARGIN + X_AREA) as f64).max(1.0),
    )
}

/// A 2-D chart on a drawing area.
type Chart<'a, DB, X, Y> = ChartContext<'a, DB, Cartesian2d<X, Y>>;

/// A chart on `area` with this module's frame.
fn chart_on<'a, DB: DrawingBackend, X: AsRangedCoord, Y: AsRangedCoord>(
    area: &'a DrawingArea<DB, Shift>,
    x: X,
    y: Y,
) -> Result<Chart<'a, DB, X::CoordDescType, Y::CoordDescType>, String> {
    ChartBuilder::on(area)
        .margin(MARGIN)
        .margin_top(MARGIN_TOP)
        .x_label_area_size(X_AREA)
        .y_label_area_size(Y_AREA)
        .build_cartesian_2d(x, y)
        .map_err(msg)
}

/// Tick targets for a plotting area of `w`×`h` pixels.
fn tick_targets((w, h): (f64, f64)) -> (usize, usize) {
    (
        ((w / 85.0) as usize).clamp(3, 10),
        ((h / 50.0) as usize).clamp(3, 10),
    )
}

/// A linear axis with precomputed ticks (the mesh draws labels at exactly these).
#[derive(Clone)]
struct NumAxis {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl NumAxis {
    fn new(range: &Range<f64>, ticks: &AxisTicks) -> Self {
        NumAxis {
            lo: range.start,
            hi: range.end,
            ticks: ticks.values.clone(),
        }
    }
}

impl Ranged for NumAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let t = (v - self.lo) / (self.hi - self.lo);
        limit.0 + (t * (limit.1 - limit.0) as f64).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.max_num_points() == 0 {
            Vec::new()
        } else {
            self.ticks
                .iter()
                .copied()
                .filter(|t| *t >= self.lo && *t <= self.hi)
                .collect()
        }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
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
        if hint.max_num_points() == 0 {
            return Vec::new();
        }
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

    #[test]
    fn auto_styles_differ_for_ten_series() {
        let styles: std::collections::HashSet<(LineStyle, Marker)> = (0..15)
            .map(|i| (LineStyle::auto(i), Marker::auto(i)))
            .collect();
        assert_eq!(styles.len(), 15);
    }

    #[test]
    fn samples_give_mean_and_std() {
        let s = Series::from_samples(
            "a",
            vec![
                (0.0, vec![1.0, 2.0, 3.0]),
                (1.0, vec![f64::NAN]),
                (2.0, vec![5.0]),
            ],
        );
        assert_eq!(s.points, vec![(0.0, 2.0), (2.0, 5.0)]);
        assert_eq!(s.errors, vec![(1.0, 3.0), (5.0, 5.0)]);
        let s = Series::new("b", vec![(0.0, 1.0), (1.0, 2.0)]).with_band(vec![0.5, -0.25]);
        assert_eq!(s.errors, vec![(0.5, 1.5), (1.75, 2.25)]);
        assert_eq!(s.error_style, ErrorStyle::Band);
    }

    #[test]
    fn plot_dims_match_plotters() {
        let mut buf = String::new();
        let root =
            Canvas::vector(SVGBackend::with_string(&mut buf, (WIDTH, HEIGHT))).into_drawing_area();
        ensure_font().unwrap();
        let body = root.titled("A title", (FONT, TITLE_SIZE)).unwrap();
        let chart = chart_on(&body, 0.0..1.0, 0.0..1.0).unwrap();
        let (w, h) = chart.plotting_area().dim_in_pixel();
        let (pw, ph) = plot_dims(body.dim_in_pixel());
        assert!(
            (w as f64 - pw).abs() <= 1.0 && (h as f64 - ph).abs() <= 1.0,
            "{w}x{h} vs {pw}x{ph}"
        );
    }
}
