//! Line plots: cleaning and styling the series, the legend decision, drawing.

use super::legend::*;
use super::*;

/// A series after cleaning and styling.
pub(super) struct Curve {
    name: String,
    color: RGBColor,
    line: LineStyle,
    marker: Marker,
    band: bool,
    /// Drawable points.
    points: Vec<(f64, f64)>,
    /// Finite `(lo, hi)` per point, `None` where there is none; empty for no errors.
    errors: Vec<Option<(f64, f64)>>,
}

impl Curve {
    /// Indices of the points that get a marker (and, with bars, an error bar).
    fn marked(&self, series_index: usize, n_series: usize) -> Vec<usize> {
        let n = self.points.len();
        if n <= ALL_MARKERS {
            return (0..n).collect();
        }
        let step = n as f64 / MARKED_POINTS as f64;
        let offset = step * (series_index % n_series.max(1)) as f64 / n_series.max(1) as f64;
        let mut v: Vec<usize> = (0..MARKED_POINTS)
            .map(|k| ((offset + k as f64 * step) as usize).min(n - 1))
            .collect();
        v.dedup();
        v
    }

    fn entry(&self) -> Entry {
        Entry {
            name: fit_text(&self.name),
            color: self.color,
            line: Some(self.line),
            marker: self.marker,
            band: self.band,
        }
    }
}

/// A line plot ready to draw: cleaned series, ranges and the axis choices.
pub(super) struct LineFig<'a> {
    plot: &'a LinePlot,
    opts: LineOptions,
    curves: Vec<Curve>,
    x: (f64, f64),
    y: (f64, f64),
    x_int: bool,
    y_int: bool,
    /// Ticks of a log x axis at the data's own x values, when they are few (a few-shot
    /// sweep 1, 2, 4, 8, 16 gets exactly those ticks instead of 1, 2, 5, 10).
    log_ticks: Option<Vec<f64>>,
}

/// At most this many distinct x values get their own ticks on a log axis.
const MAX_DATA_TICKS: usize = 12;

/// Consecutive data ticks on a log axis must differ by at least this factor, so their labels
/// never crowd (steps 100, 200, …, 1000 keep the default decades).
const MIN_TICK_RATIO: f64 = 1.5;

/// The distinct x values of a log axis, sorted, when there are 2 to [`MAX_DATA_TICKS`] of
/// them, each at least [`MIN_TICK_RATIO`] times the one before.
fn data_ticks(xs: impl Iterator<Item = f64>) -> Option<Vec<f64>> {
    let mut v: Vec<f64> = xs.collect();
    v.sort_by(f64::total_cmp);
    v.dedup_by(|a, b| (*a - *b).abs() <= 1e-9 * b.abs());
    let spaced = v.windows(2).all(|w| w[1] >= MIN_TICK_RATIO * w[0]);
    ((2..=MAX_DATA_TICKS).contains(&v.len()) && spaced).then_some(v)
}

/// Draws a line plot to a PNG at `path` and an SVG beside it, with default
/// [`LineOptions`].
pub fn line(path: impl AsRef<Path>, plot: &LinePlot) -> Result<()> {
    line_with(path, plot, &LineOptions::default())
}

/// Draws a line plot to a PNG at `path` and an SVG beside it.
pub fn line_with(path: impl AsRef<Path>, plot: &LinePlot, opts: &LineOptions) -> Result<()> {
    let path = path.as_ref();
    let fig = LineFig::new(plot, *opts)?;
    render(path, &fig)
}

impl<'a> LineFig<'a> {
    fn new(plot: &'a LinePlot, opts: LineOptions) -> Result<Self> {
        let title = plot.title.as_str();
        if plot.series.is_empty() {
            return Err(data_err(title, "no series"));
        }
        if let Some(s) = plot
            .series
            .iter()
            .find(|s| !s.errors.is_empty() && s.errors.len() != s.points.len())
        {
            return Err(data_err(
                title,
                format!(
                    "series `{}` has {} error ranges for {} points",
                    s.name,
                    s.errors.len(),
                    s.points.len()
                ),
            ));
        }
        let curves: Vec<Curve> = plot
            .series
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let keep = |&(x, y): &(f64, f64)| {
                    x.is_finite() && y.is_finite() && (!plot.log_x || x > 0.0)
                };
                let mut points = Vec::new();
                let mut errors = Vec::new();
                for (k, p) in s.points.iter().enumerate() {
                    if keep(p) {
                        points.push(*p);
                        if let Some(&(lo, hi)) = s.errors.get(k) {
                            errors.push(
                                (lo.is_finite() && hi.is_finite())
                                    .then(|| (lo.min(hi), lo.max(hi))),
                            );
                        }
                    }
                }
                let mut marker = s.marker.unwrap_or_else(|| Marker::auto(i));
                if points.len() == 1 && marker == Marker::None {
                    marker = Marker::Circle;
                }
                Curve {
                    name: s.name.clone(),
                    color: s.color.unwrap_or_else(|| series_color(i)),
                    line: s.line.unwrap_or_else(|| LineStyle::auto(i)),
                    marker,
                    band: s.error_style == ErrorStyle::Band,
                    points,
                    errors,
                }
            })
            .filter(|c| !c.points.is_empty())
            .collect();
        let xs = || curves.iter().flat_map(|c| c.points.iter().map(|p| p.0));
        let ys = || {
            curves.iter().flat_map(|c| {
                c.points
                    .iter()
                    .map(|p| p.1)
                    .chain(c.errors.iter().flatten().flat_map(|e| [e.0, e.1]))
            })
        };
        let (Some(x), Some(y)) = (min_max(xs()), min_max(ys())) else {
            let what = if plot.log_x {
                "no finite points with x > 0"
            } else {
                "no finite points"
            };
            return Err(data_err(title, what));
        };
        let int = |t: Ticks, values: &mut dyn Iterator<Item = f64>| match t {
            Ticks::Integer => true,
            Ticks::Real => false,
            Ticks::Auto => is_integer_valued(values),
        };
        let x_int = !plot.log_x && int(opts.x_ticks, &mut xs());
        let log_ticks = if plot.log_x { data_ticks(xs()) } else { None };
        let y_int = int(
            opts.y_ticks,
            &mut curves.iter().flat_map(|c| c.points.iter().map(|p| p.1)),
        );
        Ok(LineFig {
            plot,
            opts,
            curves,
            x,
            y,
            x_int,
            y_int,
            log_ticks,
        })
    }

    /// The x axis range (log axes: unpadded, widened when there is a single x).
    fn x_range(&self) -> Range<f64> {
        let (lo, hi) = self.x;
        if self.plot.log_x {
            if hi > lo {
                lo..hi
            } else {
                (lo / 2.0)..(hi * 2.0)
            }
        } else {
            padded(lo, hi, 0.02)
        }
    }

    fn y_range(&self) -> Range<f64> {
        padded(self.y.0, self.y.1, 0.05)
    }

    /// What the curves cover, in plot fractions, for axis ranges `xr`, `yr` on a plot of
    /// `dims` pixels.
    fn obstacles(&self, xr: &Range<f64>, yr: &Range<f64>, dims: (f64, f64)) -> Vec<Obstacle> {
        let log = self.plot.log_x;
        let tx = |x: f64| if log { x.ln() } else { x };
        let (a, b) = (tx(xr.start), tx(xr.end));
        let fx = |x: f64| if b > a { (tx(x) - a) / (b - a) } else { 0.5 };
        let fy = |y: f64| (y - yr.start) / (yr.end - yr.start);
        let (mx, my) = (
            (MARKER_R + 1) as f64 / dims.0,
            (MARKER_R + 1) as f64 / dims.1,
        );
        let n = self.curves.len();
        let mut obs = Vec::new();
        for (i, c) in self.curves.iter().enumerate() {
            if c.line != LineStyle::None {
                for w in c.points.windows(2) {
                    obs.push(Obstacle::Seg(
                        fx(w[0].0),
                        fy(w[0].1),
                        fx(w[1].0),
                        fy(w[1].1),
                    ));
                }
            }
            let marked = c.marked(i, n);
            if c.marker != Marker::None || c.line == LineStyle::None || c.points.len() == 1 {
                for &k in &marked {
                    let (x, y) = (fx(c.points[k].0), fy(c.points[k].1));
                    obs.push(Obstacle::Rect(x - mx, y - my, x + mx, y + my));
                }
            }
            if c.errors.is_empty() {
                continue;
            }
            if c.band {
                for k in 0..c.points.len() {
                    let Some((lo, hi)) = c.errors[k] else {
                        continue;
                    };
                    let x = fx(c.points[k].0);
                    obs.push(Obstacle::Seg(x, fy(lo), x, fy(hi)));
                    let Some(&Some((lo2, hi2))) = c.errors.get(k + 1) else {
                        continue;
                    };
                    let x2 = fx(c.points[k + 1].0);
                    obs.push(Obstacle::Seg(x, fy(lo), x2, fy(lo2)));
                    obs.push(Obstacle::Seg(x, fy(hi), x2, fy(hi2)));
                    // Interior verticals so a legend box inside the band counts too.
                    for j in 1..16 {
                        let t = j as f64 / 16.0;
                        let xx = x + t * (x2 - x);
                        let l = lo + t * (lo2 - lo);
                        let h = hi + t * (hi2 - hi);
                        obs.push(Obstacle::Seg(xx, fy(l), xx, fy(h)));
                    }
                }
            } else {
                for &k in &marked {
                    if let Some((lo, hi)) = c.errors[k] {
                        let x = fx(c.points[k].0);
                        obs.push(Obstacle::Seg(x, fy(lo), x, fy(hi)));
                    }
                }
            }
        }
        obs
    }
}

impl Figure for LineFig<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(msg)?;
        let body = root
            .titled(&self.plot.title, (FONT, TITLE_SIZE))
            .map_err(msg)?;
        let entries: Vec<Entry> = self.curves.iter().map(Curve::entry).collect();
        let lsize = legend_size(&entries);
        let dims = plot_dims(body.dim_in_pixel());
        let x_range = self.x_range();
        let base_y = self.y_range();
        let (placed, extra) =
            place_legend(self.opts.legend, entries.len(), lsize, dims, &|extra| {
                self.obstacles(&x_range, &with_headroom(base_y.clone(), extra), dims)
            });
        let y_range = with_headroom(base_y, extra);
        let main = if placed == Some(Placed::Outside) {
            let (w, _) = body.dim_in_pixel();
            body.split_horizontally(w.saturating_sub(outside_width(lsize.0)))
                .0
        } else {
            body
        };
        let dims = plot_dims(main.dim_in_pixel());
        let (tx, ty) = tick_targets(dims);
        let y_ticks = nice_ticks(y_range.start, y_range.end, ty, self.y_int);
        let y_axis = NumAxis::new(&y_range, &y_ticks);
        let legend = placed.map(|p| (p, entries.as_slice(), lsize));
        if self.plot.log_x {
            let fmt = |v: &f64| fmt_tick(*v, 0.0);
            match &self.log_ticks {
                Some(ticks) => self.draw_on(
                    root,
                    &main,
                    x_range.log_scale().with_key_points(ticks.clone()),
                    &fmt,
                    y_axis,
                    &y_ticks,
                    legend,
                ),
                None => self.draw_on(
                    root,
                    &main,
                    x_range.log_scale(),
                    &fmt,
                    y_axis,
                    &y_ticks,
                    legend,
                ),
            }
        } else {
            let x_ticks = nice_ticks(x_range.start, x_range.end, tx, self.x_int);
            let fmt = |v: &f64| format_tick(*v, &x_ticks);
            let x_axis = NumAxis::new(&x_range, &x_ticks);
            self.draw_on(root, &main, x_axis, &fmt, y_axis, &y_ticks, legend)
        }
    }
}

impl LineFig<'_> {
    #[allow(clippy::too_many_arguments)]
    fn draw_on<DB: DrawingBackend, X>(
        &self,
        root: &DrawingArea<DB, Shift>,
        main: &DrawingArea<DB, Shift>,
        x_axis: X,
        x_fmt: &dyn Fn(&f64) -> String,
        y_axis: NumAxis,
        y_ticks: &AxisTicks,
        legend: Option<(Placed, &[Entry], (f64, f64))>,
    ) -> Result<(), String>
    where
        X: AsRangedCoord<Value = f64>,
        X::CoordDescType: ValueFormatter<f64>,
    {
        let mut chart = chart_on(main, x_axis, y_axis)?;
        chart
            .configure_mesh()
            .x_desc(&self.plot.x_label)
            .y_desc(&self.plot.y_label)
            .label_style((FONT, LABEL_SIZE))
            .axis_desc_style((FONT, DESC_SIZE))
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .max_light_lines(0)
            .x_label_formatter(x_fmt)
            .y_label_formatter(&|v| format_tick(*v, y_ticks))
            .draw()
            .map_err(msg)?;
        let px = |p: (f64, f64)| chart.backend_coord(&p);
        let n = self.curves.len();
        // Bands first, under every line.
        for c in self
            .curves
            .iter()
            .filter(|c| c.band && !c.errors.is_empty())
        {
            let mut run: Vec<(f64, (f64, f64))> = Vec::new();
            let flush = |run: &mut Vec<(f64, (f64, f64))>| -> Result<(), String> {
                if run.len() >= 2 {
                    let mut poly: Vec<(i32, i32)> =
                        run.iter().map(|&(x, (_, hi))| px((x, hi))).collect();
                    poly.extend(run.iter().rev().map(|&(x, (lo, _))| px((x, lo))));
                    root.draw(&Polygon::new(poly, c.color.mix(0.2).filled()))
                        .map_err(msg)?;
                } else if let Some(&(x, (lo, hi))) = run.first() {
                    draw_error_bar(
                        root,
                        px((x, lo)).0,
                        (px((x, lo)).1, px((x, hi)).1),
                        3,
                        c.color,
                    )?;
                }
                run.clear();
                Ok(())
            };
            for (p, e) in c.points.iter().zip(&c.errors) {
                match e {
                    Some(e) => run.push((p.0, *e)),
                    None => flush(&mut run)?,
                }
            }
            flush(&mut run)?;
        }
        for (i, c) in self.curves.iter().enumerate() {
            let pts: Vec<(i32, i32)> = c.points.iter().map(|&p| px(p)).collect();
            draw_line_sample(root, &pts, c.line, c.color)?;
            let marked = c.marked(i, n);
            if !c.band && !c.errors.is_empty() {
                for &k in &marked {
                    if let Some((lo, hi)) = c.errors[k] {
                        let x = pts[k].0;
                        draw_error_bar(
                            root,
                            x,
                            (px((c.points[k].0, lo)).1, px((c.points[k].0, hi)).1),
                            4,
                            c.color,
                        )?;
                    }
                }
            }
            let marker = if c.line == LineStyle::None && c.marker == Marker::None {
                Marker::Circle
            } else {
                c.marker
            };
            for &k in &marked {
                draw_marker(root, pts[k], marker, c.color)?;
            }
        }
        if let Some((placed, entries, size)) = legend {
            let origin = legend_origin(placed, &chart.plotting_area().get_pixel_range(), size);
            draw_legend(root, entries, origin, size)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Zero-shot style: a curve low in the plot and a flat reference line at the very top
    /// (the legend used to sit on it). The legend must go somewhere with no data under it.
    #[test]
    fn legend_never_covers_data() {
        let plot = LinePlot {
            title: "t".into(),
            series: vec![
                Series::new(
                    "SSL encoder",
                    vec![
                        (0.0, 0.377),
                        (1.0, 0.380),
                        (2.0, 0.390),
                        (3.0, 0.378),
                        (4.0, 0.376),
                    ],
                ),
                Series::new("log-mel", vec![(0.0, 0.411), (4.0, 0.411)]),
            ],
            ..Default::default()
        };
        let fig = LineFig::new(&plot, LineOptions::default()).unwrap();
        let dims = plot_dims((WIDTH, HEIGHT - 40));
        let entries: Vec<Entry> = fig.curves.iter().map(Curve::entry).collect();
        let lsize = legend_size(&entries);
        let x_range = fig.x_range();
        let base = fig.y_range();
        let obs = |extra| fig.obstacles(&x_range, &with_headroom(base.clone(), extra), dims);
        let (placed, extra) = place_legend(Legend::Auto, 2, lsize, dims, &obs);
        let Some(Placed::Corner(c)) = placed else {
            panic!("expected a corner, got {placed:?}");
        };
        let size = (lsize.0 / dims.0, lsize.1 / dims.1);
        let b = corner_box(c, size, (LEGEND_INSET / dims.0, LEGEND_INSET / dims.1));
        assert!(
            obs(extra).iter().all(|o| !o.hits(b)),
            "{c:?} with headroom {extra}"
        );
        // Ten series always go outside.
        let (placed, _) = place_legend(Legend::Auto, 10, lsize, dims, &obs);
        assert_eq!(placed, Some(Placed::Outside));
        assert!(fig.x_int, "layers are integer-valued");
    }

    /// A few-shot sweep on a log axis gets its own x values as ticks (16 included); a dense
    /// sweep, or few values that would crowd, keep the default decades.
    #[test]
    fn log_axis_ticks_at_few_data_values() {
        let sweep = |xs: &[f64]| LinePlot {
            title: "t".into(),
            series: vec![
                Series::new("a", xs.iter().map(|&x| (x, x.ln())).collect()),
                Series::new("b", xs.iter().map(|&x| (x, 1.0)).collect()),
            ],
            log_x: true,
            ..Default::default()
        };
        let shots = sweep(&[1.0, 2.0, 4.0, 8.0, 16.0]);
        let fig = LineFig::new(&shots, LineOptions::default()).unwrap();
        assert_eq!(fig.log_ticks, Some(vec![1.0, 2.0, 4.0, 8.0, 16.0]));
        let dense: Vec<f64> = (1..=40).map(f64::from).collect();
        let dense = sweep(&dense);
        assert_eq!(
            LineFig::new(&dense, LineOptions::default())
                .unwrap()
                .log_ticks,
            None
        );
        let crowded = sweep(&[1.0, 100.0, 200.0, 300.0, 400.0]);
        assert_eq!(
            LineFig::new(&crowded, LineOptions::default())
                .unwrap()
                .log_ticks,
            None
        );
        let linear = LinePlot {
            log_x: false,
            ..shots.clone()
        };
        assert_eq!(
            LineFig::new(&linear, LineOptions::default())
                .unwrap()
                .log_ticks,
            None
        );
    }
}
