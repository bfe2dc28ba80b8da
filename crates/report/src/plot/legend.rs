//! The legend: its size, where it goes (never over data), and how its rows and the
//! series' lines, markers and error bars are drawn.

use super::*;

/// Where the legend ended up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Placed {
    Corner(Corner),
    Outside,
}

/// One legend row.
pub(super) struct Entry {
    pub(super) name: String,
    pub(super) color: RGBColor,
    /// `None` for a bar (a filled square).
    pub(super) line: Option<LineStyle>,
    pub(super) marker: Marker,
    pub(super) band: bool,
}

/// `name`, shortened with "…" to fit [`LEGEND_MAX_TEXT`].
pub(super) fn fit_text(name: &str) -> String {
    if text_width(name, LABEL_SIZE as f64) <= LEGEND_MAX_TEXT {
        return name.to_owned();
    }
    let mut chars: Vec<char> = name.chars().collect();
    while !chars.is_empty() {
        chars.pop();
        let t: String = chars.iter().collect::<String>() + "…";
        if text_width(&t, LABEL_SIZE as f64) <= LEGEND_MAX_TEXT {
            return t;
        }
    }
    "…".into()
}

/// Pixel size of the legend box of `entries`.
pub(super) fn legend_size(entries: &[Entry]) -> (f64, f64) {
    let text = entries
        .iter()
        .map(|e| text_width(&e.name, LABEL_SIZE as f64))
        .fold(0.0, f64::max);
    (
        2.0 * LEGEND_PAD + LEGEND_SAMPLE + 6.0 + text + 2.0,
        2.0 * LEGEND_PAD + entries.len() as f64 * LEGEND_ROW,
    )
}

/// Space taken right of the plot by an outside legend of width `w`.
pub(super) fn outside_width(w: f64) -> u32 {
    (w + 14.0).ceil() as u32
}

/// The decision of [`Legend::Auto`] (and the forced ones) given the obstacles a y range
/// produces. `obstacles(extra)` returns what is drawn when `extra` (a fraction of the plot
/// height) is added above the data for headroom. Returns the placement and the headroom
/// used.
pub(super) fn place_legend(
    mode: Legend,
    n_entries: usize,
    legend: (f64, f64),
    plot: (f64, f64),
    obstacles: &dyn Fn(f64) -> Vec<Obstacle>,
) -> (Option<Placed>, f64) {
    match mode {
        Legend::Hidden => (None, 0.0),
        Legend::Outside => (Some(Placed::Outside), 0.0),
        Legend::Inside(c) => (Some(Placed::Corner(c)), 0.0),
        Legend::Auto => {
            if n_entries > MAX_INSIDE || legend.0 + 2.0 * LEGEND_INSET > plot.0 * 0.6 {
                return (Some(Placed::Outside), 0.0);
            }
            let size = (legend.0 / plot.0, legend.1 / plot.1);
            let inset = (LEGEND_INSET / plot.0, LEGEND_INSET / plot.1);
            let pad = (LEGEND_CLEAR / plot.0, LEGEND_CLEAR / plot.1);
            let (c, hits) = emptiest_corner(&obstacles(0.0), size, inset, pad);
            if hits == 0 {
                return (Some(Placed::Corner(c)), 0.0);
            }
            let extra = (legend.1 + LEGEND_INSET + 2.0 * LEGEND_CLEAR) / plot.1;
            if extra <= MAX_HEADROOM {
                let (c, hits) = emptiest_corner(&obstacles(extra), size, inset, pad);
                if hits == 0 {
                    return (Some(Placed::Corner(c)), extra);
                }
            }
            (Some(Placed::Outside), 0.0)
        }
    }
}

/// `range` grown at the top so that it ends `extra` (a fraction of the new height) above
/// its old end.
pub(super) fn with_headroom(range: Range<f64>, extra: f64) -> Range<f64> {
    if extra <= 0.0 {
        return range;
    }
    let span = range.end - range.start;
    range.start..range.start + span / (1.0 - extra)
}

pub(super) fn draw_line_sample<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    pts: &[(i32, i32)],
    style: LineStyle,
    color: RGBColor,
) -> Result<(), String> {
    if pts.len() < 2 {
        return Ok(());
    }
    let stroke = color.stroke_width(2);
    match style {
        LineStyle::Solid => root
            .draw(&PathElement::new(pts.to_vec(), stroke))
            .map_err(msg),
        LineStyle::Dashed => root
            .draw(&DashedPathElement::new(pts.iter().copied(), 7, 4, stroke))
            .map_err(msg),
        LineStyle::Dotted => root
            .draw(&DashedPathElement::new(pts.iter().copied(), 2, 3, stroke))
            .map_err(msg),
        LineStyle::None => Ok(()),
    }
}

pub(super) fn draw_marker<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    (x, y): (i32, i32),
    marker: Marker,
    color: RGBColor,
) -> Result<(), String> {
    let r = MARKER_R;
    let fill = color.filled();
    match marker {
        Marker::Circle => root.draw(&Circle::new((x, y), r, fill)),
        Marker::Square => root.draw(&Rectangle::new(
            [(x - r + 1, y - r + 1), (x + r - 1, y + r - 1)],
            fill,
        )),
        Marker::Triangle => root.draw(&Polygon::new(
            vec![(x, y - r - 1), (x + r + 1, y + r), (x - r - 1, y + r)],
            fill,
        )),
        Marker::Diamond => root.draw(&Polygon::new(
            vec![(x, y - r - 1), (x + r, y), (x, y + r + 1), (x - r, y)],
            fill,
        )),
        Marker::Cross => {
            let st = color.stroke_width(2);
            root.draw(&PathElement::new(vec![(x - r, y - r), (x + r, y + r)], st))
                .and_then(|_| {
                    root.draw(&PathElement::new(vec![(x - r, y + r), (x + r, y - r)], st))
                })
        }
        Marker::None => Ok(()),
    }
    .map_err(msg)
}

/// A vertical error bar with caps from pixel row `y0` to `y1` at column `x`.
pub(super) fn draw_error_bar<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    x: i32,
    (y0, y1): (i32, i32),
    cap: i32,
    color: RGBColor,
) -> Result<(), String> {
    let st = color.stroke_width(1);
    root.draw(&PathElement::new(vec![(x, y0), (x, y1)], st))
        .map_err(msg)?;
    for y in [y0, y1] {
        root.draw(&PathElement::new(vec![(x - cap, y), (x + cap, y)], st))
            .map_err(msg)?;
    }
    Ok(())
}

/// Draws the legend box with its top-left corner at `(x, y)` pixels.
pub(super) fn draw_legend<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    entries: &[Entry],
    (x, y): (f64, f64),
    (w, h): (f64, f64),
) -> Result<(), String> {
    let (x, y) = (x.round() as i32, y.round() as i32);
    let (w, h) = (w.round() as i32, h.round() as i32);
    root.draw(&Rectangle::new(
        [(x, y), (x + w, y + h)],
        WHITE.mix(0.92).filled(),
    ))
    .map_err(msg)?;
    root.draw(&Rectangle::new([(x, y), (x + w, y + h)], LEGEND_BORDER))
        .map_err(msg)?;
    let text = TextStyle::from((FONT, LABEL_SIZE).into_font())
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    for (k, e) in entries.iter().enumerate() {
        let cy = y + (LEGEND_PAD + LEGEND_ROW * (k as f64 + 0.5)).round() as i32;
        let sx0 = x + LEGEND_PAD as i32;
        let sx1 = sx0 + LEGEND_SAMPLE as i32;
        let mid = (sx0 + sx1) / 2;
        match e.line {
            None => {
                root.draw(&Rectangle::new(
                    [(mid - 7, cy - 6), (mid + 7, cy + 6)],
                    e.color.filled(),
                ))
                .map_err(msg)?;
            }
            Some(line) => {
                if e.band {
                    root.draw(&Rectangle::new(
                        [(sx0, cy - 6), (sx1, cy + 6)],
                        e.color.mix(0.22).filled(),
                    ))
                    .map_err(msg)?;
                }
                draw_line_sample(root, &[(sx0, cy), (sx1, cy)], line, e.color)?;
                draw_marker(root, (mid, cy), e.marker, e.color)?;
            }
        }
        root.draw(&Text::new(e.name.clone(), (sx1 + 6, cy), text.clone()))
            .map_err(msg)?;
    }
    Ok(())
}

/// Top-left pixel of the legend box for `placed`, given the plotting area's pixel ranges.
pub(super) fn legend_origin(
    placed: Placed,
    (xr, yr): &(Range<i32>, Range<i32>),
    (w, h): (f64, f64),
) -> (f64, f64) {
    let (pw, ph) = ((xr.end - xr.start) as f64, (yr.end - yr.start) as f64);
    match placed {
        Placed::Outside => (xr.end as f64 + 12.0, yr.start as f64),
        Placed::Corner(c) => {
            let b = corner_box(c, (w / pw, h / ph), (LEGEND_INSET / pw, LEGEND_INSET / ph));
            // Fractions are y-up; pixels y-down.
            (
                xr.start as f64 + b.0 * pw,
                yr.start as f64 + (1.0 - b.3) * ph,
            )
        }
    }
}
