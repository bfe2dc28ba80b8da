//! Pure layout decisions of the plots, kept apart from drawing so tests can check them
//! without looking at pixels: tick positions, which legend corner is empty, where bar value
//! labels go.

use super::Corner;

/// Tick positions of a linear axis and the decimals that print every one of them alike.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AxisTicks {
    /// Tick values, ascending, inside the axis range.
    pub values: Vec<f64>,
    /// Distance between neighbouring ticks.
    pub step: f64,
    /// Decimals that show every tick exactly (`0.375` and `0.380`, not `0.375` and `0.38`).
    pub decimals: usize,
}

/// Whether every value is a whole number (steps, layers, K, counts): such an axis gets no
/// half-step ticks. Empty input is not integer-valued.
pub(crate) fn is_integer_valued(values: impl IntoIterator<Item = f64>) -> bool {
    let mut any = false;
    for v in values {
        if !v.is_finite() || v.abs() >= 1e15 || (v - v.round()).abs() > 1e-9 {
            return false;
        }
        any = true;
    }
    any
}

/// "Nice" ticks (1, 2, 2.5, 5 × 10^k apart) covering `lo..=hi` with at most `target` ticks;
/// with `integer`, the step is a whole number ≥ 1 so no tick falls between two integers.
pub(crate) fn nice_ticks(lo: f64, hi: f64, target: usize, integer: bool) -> AxisTicks {
    let target = target.max(2) as f64;
    let span = if hi > lo { hi - lo } else { lo.abs().max(1.0) };
    let raw = span / target;
    let mag = 10f64.powf(raw.log10().floor());
    let mut step = 10.0 * mag;
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        let s = m * mag;
        if integer && (s < 1.0 || (s - s.round()).abs() > 1e-9) {
            continue;
        }
        if span / s <= target {
            step = s;
            break;
        }
    }
    if integer {
        step = step.max(1.0).round();
    }
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    let mut values: Vec<f64> = (first..=last.max(first))
        .map(|k| {
            let v = k as f64 * step;
            if v.abs() < step * 1e-9 { 0.0 } else { v }
        })
        .filter(|v| *v >= lo - step * 1e-9 && *v <= hi + step * 1e-9)
        .collect();
    if values.is_empty() {
        values.push(if integer {
            ((lo + hi) / 2.0).round()
        } else {
            (lo + hi) / 2.0
        });
    }
    let mut decimals = 0;
    while decimals < 10 {
        let scaled = step * 10f64.powi(decimals as i32);
        if (scaled - scaled.round()).abs() < 1e-6 * scaled.max(1.0) {
            break;
        }
        decimals += 1;
    }
    AxisTicks {
        values,
        step,
        decimals,
    }
}

/// A tick label with the axis' common decimals; scientific notation for very large or tiny
/// magnitudes.
pub(crate) fn format_tick(v: f64, ticks: &AxisTicks) -> String {
    if v == 0.0 || v.abs() < ticks.step * 1e-9 {
        return "0".into();
    }
    let largest = ticks.values.iter().fold(0f64, |m, t| m.max(t.abs()));
    if largest >= 1e5 || ticks.step < 1e-4 {
        let s = format!("{v:.1e}");
        return s.replace(".0e", "e");
    }
    format!("{v:.*}", ticks.decimals)
}

/// Something drawn in the plot area, in plot fractions (x right, y up, the area is `0..1`²).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Obstacle {
    /// A line segment from `(x0, y0)` to `(x1, y1)`.
    Seg(f64, f64, f64, f64),
    /// An axis-aligned box `x0..x1` × `y0..y1`.
    Rect(f64, f64, f64, f64),
}

/// An axis-aligned box `(x0, y0, x1, y1)` with `x0 <= x1`, `y0 <= y1`.
pub(crate) type Bounds = (f64, f64, f64, f64);

fn rects_overlap(a: Bounds, b: Bounds) -> bool {
    a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3
}

/// Whether the segment `p`–`q` touches the box (Liang–Barsky clipping).
fn seg_hits(p: (f64, f64), q: (f64, f64), r: Bounds) -> bool {
    let (dx, dy) = (q.0 - p.0, q.1 - p.1);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (num, den) in [
        (p.0 - r.0, -dx),
        (r.2 - p.0, dx),
        (p.1 - r.1, -dy),
        (r.3 - p.1, dy),
    ] {
        if den == 0.0 {
            if num < 0.0 {
                return false;
            }
        } else {
            let t = num / den;
            if den < 0.0 {
                t0 = t0.max(t);
            } else {
                t1 = t1.min(t);
            }
            if t0 > t1 {
                return false;
            }
        }
    }
    true
}

impl Obstacle {
    /// Whether this obstacle touches the box.
    pub(crate) fn hits(&self, r: Bounds) -> bool {
        match *self {
            Obstacle::Seg(x0, y0, x1, y1) => seg_hits((x0, y0), (x1, y1), r),
            Obstacle::Rect(x0, y0, x1, y1) => {
                rects_overlap((x0.min(x1), y0.min(y1), x0.max(x1), y0.max(y1)), r)
            }
        }
    }
}

/// Where a legend box of `size` (plot fractions) sits in `corner`, `inset` (fractions) from
/// the plot edges.
pub(crate) fn corner_box(corner: Corner, size: (f64, f64), inset: (f64, f64)) -> Bounds {
    let (w, h) = size;
    let (mx, my) = inset;
    let (x0, y0) = match corner {
        Corner::UpperRight => (1.0 - mx - w, 1.0 - my - h),
        Corner::UpperLeft => (mx, 1.0 - my - h),
        Corner::LowerRight => (1.0 - mx - w, my),
        Corner::LowerLeft => (mx, my),
    };
    (x0, y0, x0 + w, y0 + h)
}

/// How many obstacles a legend box of `size` would cover in each corner (the box is grown by
/// `pad` on every side first, so the legend keeps a gap to the data). Order: upper right,
/// upper left, lower right, lower left.
pub(crate) fn corner_hits(
    obstacles: &[Obstacle],
    size: (f64, f64),
    inset: (f64, f64),
    pad: (f64, f64),
) -> [(Corner, usize); 4] {
    Corner::ALL.map(|c| {
        let b = corner_box(c, size, inset);
        let b = (b.0 - pad.0, b.1 - pad.1, b.2 + pad.0, b.3 + pad.1);
        (c, obstacles.iter().filter(|o| o.hits(b)).count())
    })
}

/// The corner whose legend box covers the fewest obstacles (ties go to the first of upper
/// right, upper left, lower right, lower left) and how many it covers.
pub(crate) fn emptiest_corner(
    obstacles: &[Obstacle],
    size: (f64, f64),
    inset: (f64, f64),
    pad: (f64, f64),
) -> (Corner, usize) {
    let hits = corner_hits(obstacles, size, inset, pad);
    let mut best = hits[0];
    for h in &hits[1..] {
        if h.1 < best.1 {
            best = *h;
        }
    }
    best
}

/// One bar in pixels (y grows downwards): `x0..x1` wide, from the zero line `base` to
/// `end`, the pixel of its value (or of its error bar's far end).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct BarPx {
    /// Left edge.
    pub x0: f64,
    /// Right edge.
    pub x1: f64,
    /// Pixel row of the zero line.
    pub base: f64,
    /// Pixel row of the bar's far end (its value or its error bar's tip, whichever is
    /// farther from zero).
    pub end: f64,
}

/// Where a bar's value label goes, in pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LabelPx {
    /// The box the text covers: `(x0, y0, x1, y1)`.
    pub bounds: Bounds,
    /// The text runs bottom to top (rotated), for bars narrower than their label.
    pub vertical: bool,
}

/// Gap between a bar's end and its label, in pixels.
pub(crate) const LABEL_GAP: f64 = 3.0;

/// How bar labels are oriented: across when every label fits its bar, rotated when the
/// text height does, none when not even that fits. `sizes` are the labels' `(width, height)`.
pub(crate) fn label_orientation(bars: &[BarPx], sizes: &[(f64, f64)]) -> Option<bool> {
    let narrowest = bars
        .iter()
        .map(|b| b.x1 - b.x0)
        .fold(f64::INFINITY, f64::min);
    let widest = sizes.iter().map(|s| s.0).fold(0.0, f64::max);
    let tallest = sizes.iter().map(|s| s.1).fold(0.0, f64::max);
    if widest <= narrowest + 2.0 {
        Some(false)
    } else if tallest <= narrowest + 2.0 {
        Some(true)
    } else {
        None
    }
}

/// How far (pixels) a label reaches past its bar's end: the gap plus its extent along y.
pub(crate) fn label_reach(sizes: &[(f64, f64)], vertical: bool) -> f64 {
    let ext = sizes
        .iter()
        .map(|s| if vertical { s.0 } else { s.1 })
        .fold(0.0, f64::max);
    ext + LABEL_GAP + 2.0
}

/// Value labels of bars: beyond each bar's end (above positive bars, below negative ones),
/// across or rotated (see [`label_orientation`]). A label that would overlap another label,
/// any bar, or leave `top..bottom` is dropped, so the labels never collide.
pub(crate) fn layout_bar_labels(
    bars: &[BarPx],
    sizes: &[(f64, f64)],
    top: f64,
    bottom: f64,
) -> Vec<Option<LabelPx>> {
    let Some(vertical) = label_orientation(bars, sizes) else {
        return vec![None; bars.len()];
    };
    let mut placed: Vec<Option<LabelPx>> = Vec::with_capacity(bars.len());
    for (bar, &(w, h)) in bars.iter().zip(sizes) {
        let (bw, bh) = if vertical { (h, w) } else { (w, h) };
        let cx = (bar.x0 + bar.x1) / 2.0;
        let up = bar.end <= bar.base;
        let (y0, y1) = if up {
            (bar.end - LABEL_GAP - bh, bar.end - LABEL_GAP)
        } else {
            (bar.end + LABEL_GAP, bar.end + LABEL_GAP + bh)
        };
        let bounds = (cx - bw / 2.0, y0, cx + bw / 2.0, y1);
        let inside = y0 >= top && y1 <= bottom;
        let hits_label = placed
            .iter()
            .flatten()
            .any(|l| rects_overlap(l.bounds, bounds));
        let hits_bar = bars.iter().any(|b| {
            let r = (b.x0, b.base.min(b.end), b.x1, b.base.max(b.end));
            rects_overlap(r, bounds)
        });
        placed.push((inside && !hits_label && !hits_bar).then_some(LabelPx { bounds, vertical }));
    }
    placed
}

/// Whether two label boxes overlap (for tests and callers that add their own text).
#[cfg(test)]
pub(crate) fn overlap(a: Bounds, b: Bounds) -> bool {
    rects_overlap(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_data_gets_integer_ticks() {
        assert!(is_integer_valued([0.0, 1.0, 2.0, 3.0, 4.0]));
        assert!(!is_integer_valued([0.0, 0.5]));
        assert!(!is_integer_valued(std::iter::empty()));
        // Layers 0..4 (padded by 2 %): without the integer rule the step would be 0.5.
        let t = nice_ticks(-0.08, 4.08, 10, false);
        assert_eq!(t.step, 0.5);
        let t = nice_ticks(-0.08, 4.08, 10, true);
        assert_eq!(t.values, vec![0.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!(t.decimals, 0);
        assert_eq!(format_tick(3.0, &t), "3");
        // Two integer points: still whole ticks, never 0.25 steps.
        let t = nice_ticks(0.98, 2.02, 10, true);
        assert_eq!(t.values, vec![1.0, 2.0]);
        // A wide integer range keeps ordinary nice steps.
        let t = nice_ticks(0.0, 2000.0, 8, true);
        assert_eq!(t.step, 250.0);
        // A tiny range still has one tick.
        let t = nice_ticks(3.2, 3.4, 8, true);
        assert_eq!(t.values, vec![3.0]);
    }

    #[test]
    fn tick_labels_share_decimals() {
        let t = nice_ticks(0.374, 0.412, 8, false);
        assert_eq!(t.step, 0.005);
        let labels: Vec<String> = t.values.iter().map(|&v| format_tick(v, &t)).collect();
        assert!(labels.contains(&"0.380".to_string()), "{labels:?}");
        assert!(labels.iter().all(|l| l.len() == 5), "{labels:?}");
        let t = nice_ticks(-0.7, 0.7, 8, false);
        assert!(t.values.contains(&0.0));
        assert_eq!(format_tick(0.0, &t), "0");
        let t = nice_ticks(0.0, 3e5, 6, false);
        assert_eq!(format_tick(1e5, &t), "1e5");
        let t = nice_ticks(0.0, 1.0, 4, false);
        assert_eq!(t.step, 0.25);
        assert_eq!(format_tick(0.5, &t), "0.50");
    }

    #[test]
    fn segments_and_boxes() {
        let r = (0.4, 0.4, 0.6, 0.6);
        assert!(Obstacle::Seg(0.0, 0.0, 1.0, 1.0).hits(r));
        assert!(!Obstacle::Seg(0.0, 0.9, 1.0, 0.9).hits(r));
        assert!(Obstacle::Seg(0.5, 0.5, 0.5, 0.5).hits(r));
        assert!(!Obstacle::Seg(0.0, 0.0, 0.3, 0.35).hits(r));
        assert!(Obstacle::Rect(0.55, 0.0, 0.7, 0.45).hits(r));
        assert!(!Obstacle::Rect(0.61, 0.0, 0.7, 1.0).hits(r));
    }

    #[test]
    fn legend_goes_to_the_emptiest_corner() {
        let size = (0.3, 0.2);
        let inset = (0.01, 0.01);
        let pad = (0.01, 0.01);
        // A curve falling from upper left to lower right, plus a flat line along the bottom:
        // only the upper right is empty.
        let mut obs: Vec<Obstacle> = (0..20)
            .map(|i| {
                let (a, b) = (i as f64 / 20.0, (i + 1) as f64 / 20.0);
                Obstacle::Seg(a, 1.0 - a, b, 1.0 - b)
            })
            .collect();
        obs.push(Obstacle::Seg(0.0, 0.05, 1.0, 0.05));
        let hits = corner_hits(&obs, size, inset, pad);
        assert_eq!(hits[0], (Corner::UpperRight, 0));
        assert!(hits[1].1 > 0 && hits[2].1 > 0 && hits[3].1 > 0, "{hits:?}");
        assert_eq!(
            emptiest_corner(&obs, size, inset, pad),
            (Corner::UpperRight, 0)
        );

        // Rising curve along the diagonal and a line across the top: lower right is empty.
        let mut obs: Vec<Obstacle> = (0..20)
            .map(|i| {
                let (a, b) = (i as f64 / 20.0, (i + 1) as f64 / 20.0);
                Obstacle::Seg(a, a, b, b)
            })
            .collect();
        obs.push(Obstacle::Seg(0.0, 0.97, 1.0, 0.97));
        assert_eq!(
            emptiest_corner(&obs, size, inset, pad),
            (Corner::LowerRight, 0)
        );

        // Everything crowded: the corner with the fewest hits wins, and it is not empty.
        let obs: Vec<Obstacle> = (0..10)
            .flat_map(|i| {
                let y = i as f64 / 9.0;
                [Obstacle::Seg(0.0, y, 1.0, y)]
            })
            .chain([Obstacle::Seg(0.0, 0.9, 0.2, 0.95)])
            .collect();
        let (_, n) = emptiest_corner(&obs, size, inset, pad);
        assert!(n > 0);
        let (c, _) = emptiest_corner(&obs, size, inset, pad);
        assert_ne!(c, Corner::UpperLeft);
    }

    fn two_bars(a: f64, b: f64) -> (Vec<BarPx>, Vec<(f64, f64)>) {
        // Two adjacent 22 px bars with close values (0.33 and 0.11 on a 0..0.5 axis over
        // 400 px), labels "0.33" / "0.11" about 24 px wide at 12 px: the "0.330.11" case.
        let px = |v: f64| 420.0 - v / 0.5 * 400.0;
        let bars = vec![
            BarPx {
                x0: 100.0,
                x1: 122.0,
                base: px(0.0),
                end: px(a),
            },
            BarPx {
                x0: 122.0,
                x1: 144.0,
                base: px(0.0),
                end: px(b),
            },
        ];
        (bars, vec![(24.5, 12.0), (24.0, 12.0)])
    }

    #[test]
    fn close_bar_labels_never_collide() {
        for (a, b) in [(0.33, 0.11), (0.33, 0.33), (0.0, 0.0), (0.11, 0.33)] {
            let (bars, sizes) = two_bars(a, b);
            let labels = layout_bar_labels(&bars, &sizes, 0.0, 440.0);
            let shown: Vec<LabelPx> = labels.iter().flatten().copied().collect();
            assert_eq!(shown.len(), 2, "both labels fit rotated: {labels:?}");
            assert!(shown.iter().all(|l| l.vertical));
            assert!(!overlap(shown[0].bounds, shown[1].bounds), "{shown:?}");
            for (l, bar) in shown.iter().zip(&bars) {
                // Inside its own bar's column, above its end.
                assert!(l.bounds.0 >= bar.x0 - 1.0 && l.bounds.2 <= bar.x1 + 1.0);
                assert!(l.bounds.3 <= bar.end);
            }
        }
        // Wide bars: labels run across.
        let bars = [
            BarPx {
                x0: 0.0,
                x1: 60.0,
                base: 400.0,
                end: 100.0,
            },
            BarPx {
                x0: 60.0,
                x1: 120.0,
                base: 400.0,
                end: 110.0,
            },
        ];
        let labels = layout_bar_labels(&bars, &[(24.0, 12.0); 2], 0.0, 400.0);
        assert!(labels.iter().all(|l| l.is_some_and(|l| !l.vertical)));
        assert!(!overlap(
            labels[0].unwrap().bounds,
            labels[1].unwrap().bounds
        ));
        // Bars too narrow even for rotated text: no labels at all.
        let bars = [BarPx {
            x0: 0.0,
            x1: 6.0,
            base: 400.0,
            end: 100.0,
        }];
        assert_eq!(
            layout_bar_labels(&bars, &[(24.0, 12.0)], 0.0, 400.0),
            vec![None]
        );
        // A label with no room above the plot top is dropped.
        let bars = [BarPx {
            x0: 0.0,
            x1: 60.0,
            base: 400.0,
            end: 5.0,
        }];
        assert_eq!(
            layout_bar_labels(&bars, &[(24.0, 12.0)], 0.0, 400.0),
            vec![None]
        );
        // Negative bars put the label below their end.
        let bars = [BarPx {
            x0: 0.0,
            x1: 60.0,
            base: 100.0,
            end: 300.0,
        }];
        let l = layout_bar_labels(&bars, &[(24.0, 12.0)], 0.0, 400.0)[0].unwrap();
        assert!(l.bounds.1 >= 300.0);
    }

    #[test]
    fn labels_that_would_overlap_are_dropped() {
        // Horizontal labels wider than their bars would overlap: the layout rotates them;
        // with labels forced into one spot, the second is dropped.
        let bars = [
            BarPx {
                x0: 0.0,
                x1: 30.0,
                base: 400.0,
                end: 200.0,
            },
            BarPx {
                x0: 0.0,
                x1: 30.0,
                base: 400.0,
                end: 200.0,
            },
        ];
        let labels = layout_bar_labels(&bars, &[(20.0, 12.0); 2], 0.0, 400.0);
        assert!(labels[0].is_some());
        assert!(labels[1].is_none());
    }
}
