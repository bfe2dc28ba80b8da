//! Heatmaps with a colour bar.

use super::*;

/// Draws a heatmap with a colour bar to a PNG at `path` and an SVG beside it.
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
    render(
        path,
        &HeatFig {
            plot,
            nx,
            ny,
            lo,
            hi,
        },
    )
}

pub(super) struct HeatFig<'a> {
    plot: &'a Heatmap,
    nx: usize,
    ny: usize,
    lo: f64,
    hi: f64,
}

impl Figure for HeatFig<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let HeatFig {
            plot,
            nx,
            ny,
            lo,
            hi,
        } = *self;
        root.fill(&WHITE).map_err(msg)?;
        let root = root.titled(&plot.title, (FONT, TITLE_SIZE)).map_err(msg)?;
        let (main, bar) = root.split_horizontally(WIDTH - 100);

        let mut chart = ChartBuilder::on(&main)
            .margin(15)
            .margin_top(5)
            .x_label_area_size(50)
            .y_label_area_size(80)
            .build_cartesian_2d(CentreAxis { n: nx }, CentreAxis { n: ny })
            .map_err(msg)?;
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
            .map_err(msg)?;
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
        chart.draw_series(cells).map_err(msg)?;

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
                chart.draw_series(texts).map_err(msg)?;
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
            .map_err(msg)?;
        cbar.configure_mesh()
            .disable_mesh()
            .disable_x_axis()
            .label_style((FONT, LABEL_SIZE - 1))
            .y_label_formatter(&|v| fmt_tick(*v, hi - lo))
            .y_labels(6)
            .draw()
            .map_err(msg)?;
        const STEPS: usize = 128;
        let step = (hi - lo) / STEPS as f64;
        cbar.draw_series((0..STEPS).map(|k| {
            let a = lo + k as f64 * step;
            Rectangle::new(
                [(0.0, a), (1.0, a + step)],
                viridis((k as f64 + 0.5) / STEPS as f64).filled(),
            )
        }))
        .map_err(msg)?;
        Ok(())
    }
}
