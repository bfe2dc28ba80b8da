//! Grouped bar charts: error bars, collision-free value labels, the legend decision.

use super::legend::*;
use super::*;

/// Draws a grouped bar chart with a legend to a PNG at `path` and an SVG beside it, with
/// default [`BarOptions`].
pub fn bar(path: impl AsRef<Path>, plot: &BarChart) -> Result<()> {
    bar_with(path, plot, &BarOptions::default())
}

/// Draws a grouped bar chart (with error bars, label and legend options) to a PNG at `path`
/// and an SVG beside it.
pub fn bar_with(path: impl AsRef<Path>, plot: &BarChart, opts: &BarOptions) -> Result<()> {
    let path = path.as_ref();
    let fig = BarFig::new(plot, opts)?;
    render(path, &fig)
}

/// A bar's value label: its text and its `(width, height)` in pixels.
type BarLabel = (String, (f64, f64));

/// A bar chart ready to draw.
pub(super) struct BarFig<'a> {
    plot: &'a BarChart,
    opts: &'a BarOptions,
    /// `errors[k][i]`: finite `(lo, hi)` of series `k` in group `i`, or `None`.
    errors: Vec<Vec<Option<(f64, f64)>>>,
    /// Label text and `(width, height)` per series and group (`None` for gaps).
    labels: Vec<Vec<Option<BarLabel>>>,
    lo: f64,
    hi: f64,
    y_int: bool,
}

/// Bar geometry for one layout attempt.
pub(super) struct BarGeom {
    y_range: Range<f64>,
    /// `(series, group, bar in frame pixels)` of every finite bar.
    bars: Vec<(usize, usize, BarPx)>,
    /// Labels of `bars`, same order.
    labels: Vec<Option<LabelPx>>,
}

impl<'a> BarFig<'a> {
    fn new(plot: &'a BarChart, opts: &'a BarOptions) -> Result<Self> {
        let title = plot.title.as_str();
        if plot.groups.is_empty() {
            return Err(data_err(title, "no groups"));
        }
        if plot.series.is_empty() {
            return Err(data_err(title, "no series"));
        }
        let ng = plot.groups.len();
        let ns = plot.series.len();
        if let Some((name, v)) = plot.series.iter().find(|(_, v)| v.len() != ng) {
            return Err(data_err(
                title,
                format!("series `{name}` has {} values for {ng} groups", v.len()),
            ));
        }
        if !opts.errors.is_empty() && !opts.error_ranges.is_empty() {
            return Err(data_err(title, "give errors or error_ranges, not both"));
        }
        let shape_err = |what: &str, rows: &[usize]| -> Result<()> {
            if rows.is_empty() {
                return Ok(());
            }
            if rows.len() != ns {
                return Err(data_err(
                    title,
                    format!("{what} has {} lists for {ns} series", rows.len()),
                ));
            }
            if let Some(k) = rows.iter().position(|&n| n != ng) {
                return Err(data_err(
                    title,
                    format!("{what}[{k}] has {} entries for {ng} groups", rows[k]),
                ));
            }
            Ok(())
        };
        shape_err(
            "errors",
            &opts.errors.iter().map(Vec::len).collect::<Vec<_>>(),
        )?;
        shape_err(
            "error_ranges",
            &opts.error_ranges.iter().map(Vec::len).collect::<Vec<_>>(),
        )?;
        let errors: Vec<Vec<Option<(f64, f64)>>> = (0..ns)
            .map(|k| {
                (0..ng)
                    .map(|i| {
                        let v = plot.series[k].1[i];
                        let (lo, hi) = if let Some(e) = opts.errors.get(k) {
                            (v - e[i].abs(), v + e[i].abs())
                        } else if let Some(r) = opts.error_ranges.get(k) {
                            r[i]
                        } else {
                            return None;
                        };
                        (v.is_finite() && lo.is_finite() && hi.is_finite())
                            .then(|| (lo.min(hi), lo.max(hi)))
                    })
                    .collect()
            })
            .collect();
        let values = || plot.series.iter().flat_map(|(_, v)| v.iter().copied());
        let Some((v_lo, v_hi)) = min_max(values()) else {
            return Err(data_err(title, "no finite values"));
        };
        let (e_lo, e_hi) = min_max(errors.iter().flatten().flatten().flat_map(|e| [e.0, e.1]))
            .unwrap_or((v_lo, v_hi));
        let show = match opts.labels {
            BarLabels::Never => false,
            BarLabels::Always => true,
            BarLabels::Auto => ng * ns <= 24,
        };
        let labels = plot
            .series
            .iter()
            .map(|(_, vals)| {
                vals.iter()
                    .map(|&v| {
                        (show && v.is_finite()).then(|| {
                            let t = fmt_cell(v);
                            let w = text_width(&t, BAR_LABEL_SIZE as f64);
                            (t, (w, BAR_LABEL_SIZE as f64))
                        })
                    })
                    .collect()
            })
            .collect();
        let y_int = match opts.y_ticks {
            Ticks::Integer => true,
            Ticks::Real => false,
            Ticks::Auto => is_integer_valued(values().filter(|v| v.is_finite())),
        };
        Ok(BarFig {
            plot,
            opts,
            errors,
            labels,
            lo: v_lo.min(e_lo).min(0.0),
            hi: v_hi.max(e_hi).max(0.0),
            y_int,
        })
    }

    fn ns(&self) -> usize {
        self.plot.series.len()
    }

    fn ng(&self) -> usize {
        self.plot.groups.len()
    }

    /// Left and right x (data units, group `i` spans `i..i+1`) of bar `k` in group `i`.
    fn bar_x(&self, k: usize, i: usize) -> (f64, f64) {
        let width = 0.8 / self.ns() as f64;
        let x0 = i as f64 + 0.1 + k as f64 * width;
        (x0 + 0.01, x0 + width - 0.01)
    }

    /// The far end of bar `k` in group `i`: its value or its error bar's tip, whichever is
    /// farther from zero.
    fn bar_end(&self, k: usize, i: usize) -> f64 {
        let v = self.plot.series[k].1[i];
        match self.errors[k][i] {
            Some((_, hi)) if v >= 0.0 => v.max(hi),
            Some((lo, _)) => v.min(lo),
            None => v,
        }
    }

    fn label_sizes(&self, bars: &[(usize, usize, BarPx)]) -> Vec<(f64, f64)> {
        bars.iter()
            .map(|&(k, i, _)| self.labels[k][i].as_ref().map_or((0.0, 0.0), |l| l.1))
            .collect()
    }

    /// Bars and labels on a plot of `dims` pixels, with `extra` (fraction of the plot height)
    /// of headroom above everything.
    fn geometry(&self, dims: (f64, f64), extra: f64) -> BarGeom {
        let (pw, ph) = dims;
        let ng = self.ng() as f64;
        // Room for labels beyond the bar ends, decided from the bar width alone.
        let bar_w = pw / ng * (0.8 / self.ns() as f64 - 0.02);
        let sizes: Vec<(f64, f64)> = self
            .labels
            .iter()
            .flatten()
            .flatten()
            .map(|l| l.1)
            .collect();
        let reach = if sizes.is_empty() {
            0.0
        } else {
            let probe = [BarPx {
                x0: 0.0,
                x1: bar_w,
                base: 0.0,
                end: 0.0,
            }];
            match label_orientation(&probe, &sizes) {
                Some(vertical) => label_reach(&sizes, vertical),
                None => 0.0,
            }
        };
        let has_pos = self.hi > 0.0;
        let has_neg = self.lo < 0.0;
        let ft = if has_pos { (reach + 4.0) / ph } else { 0.0 }.max(0.03);
        let fb = if has_neg { (reach + 4.0) / ph } else { 0.0 };
        let (ft, fb) = (ft.min(0.4), fb.min(0.4));
        let span = if self.hi > self.lo {
            self.hi - self.lo
        } else {
            1.0
        };
        let total = span / (1.0 - ft - fb);
        let range = (self.lo - fb * total)..(self.hi + ft * total);
        let y_range = with_headroom(range, extra);
        let (ylo, yhi) = (y_range.start, y_range.end);
        let fx = |x: f64| x / ng * pw;
        let fy = |y: f64| (yhi - y) / (yhi - ylo) * ph;
        let mut bars = Vec::new();
        for k in 0..self.ns() {
            for i in 0..self.ng() {
                if !self.plot.series[k].1[i].is_finite() {
                    continue;
                }
                let (x0, x1) = self.bar_x(k, i);
                bars.push((
                    k,
                    i,
                    BarPx {
                        x0: fx(x0),
                        x1: fx(x1),
                        base: fy(0.0),
                        end: fy(self.bar_end(k, i)),
                    },
                ));
            }
        }
        let labels = self.layout_labels(&bars, 0.0, ph);
        BarGeom {
            y_range,
            bars,
            labels,
        }
    }

    fn layout_labels(
        &self,
        bars: &[(usize, usize, BarPx)],
        top: f64,
        bottom: f64,
    ) -> Vec<Option<LabelPx>> {
        let with_label: Vec<usize> = (0..bars.len())
            .filter(|&j| self.labels[bars[j].0][bars[j].1].is_some())
            .collect();
        let px: Vec<BarPx> = with_label.iter().map(|&j| bars[j].2).collect();
        let sizes = self.label_sizes(&with_label.iter().map(|&j| bars[j]).collect::<Vec<_>>());
        // Bars without labels still block labels.
        let mut all = px.clone();
        all.extend(
            (0..bars.len())
                .filter(|j| !with_label.contains(j))
                .map(|j| bars[j].2),
        );
        let mut all_sizes = sizes.clone();
        all_sizes.resize(all.len(), (0.0, 0.0));
        let placed = layout_bar_labels(&all, &all_sizes, top, bottom);
        let mut out = vec![None; bars.len()];
        for (n, &j) in with_label.iter().enumerate() {
            out[j] = placed[n];
        }
        out
    }

    fn obstacles(geom: &BarGeom, dims: (f64, f64)) -> Vec<Obstacle> {
        let (pw, ph) = dims;
        let fx = |x: f64| x / pw;
        let fy = |y: f64| 1.0 - y / ph;
        let mut obs: Vec<Obstacle> = geom
            .bars
            .iter()
            .map(|(_, _, b)| Obstacle::Rect(fx(b.x0), fy(b.base), fx(b.x1), fy(b.end)))
            .collect();
        obs.extend(geom.labels.iter().flatten().map(|l| {
            let (x0, y0, x1, y1) = l.bounds;
            Obstacle::Rect(fx(x0), fy(y1), fx(x1), fy(y0))
        }));
        obs
    }

    fn entries(&self) -> Vec<Entry> {
        self.plot
            .series
            .iter()
            .enumerate()
            .map(|(k, (name, _))| Entry {
                name: fit_text(name),
                color: series_color(k),
                line: None,
                marker: Marker::None,
                band: false,
            })
            .collect()
    }
}

impl Figure for BarFig<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(msg)?;
        let body = root
            .titled(&self.plot.title, (FONT, TITLE_SIZE))
            .map_err(msg)?;
        let entries = self.entries();
        let lsize = legend_size(&entries);
        let dims = plot_dims(body.dim_in_pixel());
        let (placed, extra) =
            place_legend(self.opts.legend, entries.len(), lsize, dims, &|extra| {
                Self::obstacles(&self.geometry(dims, extra), dims)
            });
        let main = if placed == Some(Placed::Outside) {
            let (w, _) = body.dim_in_pixel();
            body.split_horizontally(w.saturating_sub(outside_width(lsize.0)))
                .0
        } else {
            body
        };
        let dims = plot_dims(main.dim_in_pixel());
        let geom = self.geometry(dims, extra);
        let y_range = geom.y_range.clone();
        let (_, ty) = tick_targets(dims);
        let y_ticks = nice_ticks(y_range.start, y_range.end, ty, self.y_int);
        let ng = self.ng();
        let mut chart = chart_on(
            &main,
            CentreAxis { n: ng },
            NumAxis::new(&y_range, &y_ticks),
        )?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .y_desc(&self.plot.y_label)
            .label_style((FONT, LABEL_SIZE))
            .axis_desc_style((FONT, DESC_SIZE))
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .max_light_lines(0)
            .x_label_formatter(&|v| tick_label(&self.plot.groups, *v))
            .y_label_formatter(&|v| format_tick(*v, &y_ticks))
            .draw()
            .map_err(msg)?;
        let px = |p: (f64, f64)| chart.backend_coord(&p);
        if y_range.start < 0.0 {
            root.draw(&PathElement::new(
                vec![px((0.0, 0.0)), px((ng as f64, 0.0))],
                BLACK.stroke_width(1),
            ))
            .map_err(msg)?;
        }
        // Bars and error bars in real pixels.
        let mut real: Vec<(usize, usize, BarPx)> = Vec::new();
        for &(k, i, _) in &geom.bars {
            let (x0, x1) = self.bar_x(k, i);
            let v = self.plot.series[k].1[i];
            let (a, b) = (px((x0, 0.0)), px((x1, v)));
            let mut r = Rectangle::new([a, b], series_color(k).filled());
            r.set_margin(0, 0, 0, 0);
            root.draw(&r).map_err(msg)?;
            if let Some((lo, hi)) = self.errors[k][i] {
                let cx = (a.0 + b.0) / 2;
                let cap = ((b.0 - a.0).abs() / 4).clamp(2, 6);
                draw_error_bar(root, cx, (px((x0, lo)).1, px((x0, hi)).1), cap, ERROR_BAR)?;
            }
            let end = px((x0, self.bar_end(k, i))).1 as f64;
            real.push((
                k,
                i,
                BarPx {
                    x0: a.0 as f64,
                    x1: b.0 as f64,
                    base: a.1 as f64,
                    end,
                },
            ));
        }
        // Labels, laid out again on the real pixels so they cannot collide.
        let (_, yr) = chart.plotting_area().get_pixel_range();
        let labels = self.layout_labels(&real, yr.start as f64, yr.end as f64);
        for (&(k, i, _), label) in real.iter().zip(&labels) {
            let (Some(l), Some((text, _))) = (label, &self.labels[k][i]) else {
                continue;
            };
            let (x0, _, x1, y1) = l.bounds;
            let cx = ((x0 + x1) / 2.0).round() as i32;
            let style = TextStyle::from((FONT, BAR_LABEL_SIZE).into_font()).color(&BLACK);
            let (pos, style) = if l.vertical {
                // Reads bottom to top, starting at the box's bottom.
                (
                    (cx, y1.round() as i32),
                    style
                        .transform(FontTransform::Rotate270)
                        .pos(Pos::new(HPos::Left, VPos::Center)),
                )
            } else {
                (
                    (cx, y1.round() as i32),
                    style.pos(Pos::new(HPos::Center, VPos::Bottom)),
                )
            };
            root.draw(&Text::new(text.clone(), pos, style))
                .map_err(msg)?;
        }
        if let Some(placed) = placed {
            let origin = legend_origin(placed, &chart.plotting_area().get_pixel_range(), lsize);
            draw_legend(root, &entries, origin, lsize)?;
        }
        Ok(())
    }
}
