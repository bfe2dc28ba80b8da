//! The drawing backend every figure goes through: a thin wrapper of plotters' PNG or SVG
//! backend that measures text with the embedded font and, for PNGs, rasterises it itself.
//!
//! Why: plotters 0.3.7's `ab_glyph` text drawing places each glyph's bitmap at the pen
//! position and ignores the glyph's left side bearing (`px_bounds().min.x`). Glyphs with a
//! large bearing, the digit "1" above all, are drawn shifted left into their predecessor and
//! leave a gap after them ("-1 2.4", "1 0"). Any proportional font has such glyphs (tabular
//! digits give "1" a wide box), so swapping fonts cannot fix it; placing every glyph at its
//! outline bounds does. Glyphs are positioned at fractional pen positions with the font's
//! kerning, and the anchor (left/centre/right, top/centre/bottom) and the 90° rotations
//! follow plotters' conventions. SVGs keep `<text>` elements (the viewer lays them out); only
//! their font size is corrected to the font's em size.

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, GlyphId, PxScale, ScaleFont, point};
use plotters::prelude::DrawingBackend;
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind, FontFamily,
    FontStyle, FontTransform,
};

/// The embedded font (DejaVu Sans, see `crates/report/fonts/LICENSE-DejaVu.txt`).
pub(crate) static FONT_BYTES: &[u8] = include_bytes!("../../fonts/DejaVuSans.ttf");

fn font() -> Option<&'static FontRef<'static>> {
    static FONT: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    FONT.get_or_init(|| FontRef::try_from_slice(FONT_BYTES).ok())
        .as_ref()
}

/// Whether the embedded font parses (checked once before drawing).
pub(crate) fn font_ok() -> bool {
    font().is_some()
}

/// Text metrics in pixels at a pixel height (`ascent - descent`) of `size`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Metrics {
    /// Advance width of the whole string, kerning included.
    pub width: f32,
    /// Height of the font's ascender above the baseline.
    pub ascent: f32,
    /// Depth of the descender below the baseline (negative).
    pub descent: f32,
    /// Height of a capital letter / digit above the baseline (for visual centring).
    pub cap: f32,
}

/// Measures `text` at pixel height `size` with the embedded font.
pub(crate) fn measure(text: &str, size: f64) -> Option<Metrics> {
    let f = font()?;
    let sf = f.as_scaled(PxScale::from(size as f32));
    let mut width = 0.0;
    let mut prev: Option<GlyphId> = None;
    for id in text.chars().map(|c| sf.glyph_id(c)) {
        if let Some(p) = prev {
            width += sf.kern(p, id);
        }
        width += sf.h_advance(id);
        prev = Some(id);
    }
    let cap = sf
        .outline_glyph(sf.scaled_glyph('H'))
        .map_or(sf.ascent() * 0.72, |g| -g.px_bounds().min.y);
    Some(Metrics {
        width,
        ascent: sf.ascent(),
        descent: sf.descent(),
        cap,
    })
}

/// Width in pixels of `text` at pixel height `size` (0 if the font cannot be read).
pub(crate) fn text_width(text: &str, size: f64) -> f64 {
    measure(text, size).map_or(0.0, |m| m.width as f64)
}

fn font_error<E: std::error::Error + Send + Sync>() -> DrawingErrorKind<E> {
    DrawingErrorKind::FontError(Box::new(std::io::Error::other(
        "the embedded font could not be loaded",
    )))
}

/// A plotters backend with the text handling described in the module docs.
pub(crate) struct Canvas<B> {
    inner: B,
    /// Rasterise text here (PNG) instead of handing it to the inner backend (SVG).
    raster: bool,
}

impl<B> Canvas<B> {
    /// A PNG-style canvas: text is rasterised by this wrapper.
    pub(crate) fn raster(inner: B) -> Self {
        Canvas {
            inner,
            raster: true,
        }
    }

    /// An SVG-style canvas: text stays text.
    pub(crate) fn vector(inner: B) -> Self {
        Canvas {
            inner,
            raster: false,
        }
    }
}

/// A text style whose size is scaled so that plotters' SVG backend (which writes
/// `font-size = size / 1.24`) emits the embedded font's em size.
struct SvgText<'a, S> {
    style: &'a S,
    scale: f64,
}

impl<S: BackendTextStyle> BackendTextStyle for SvgText<'_, S> {
    type FontError = S::FontError;

    fn color(&self) -> BackendColor {
        self.style.color()
    }

    fn size(&self) -> f64 {
        self.style.size() * self.scale
    }

    fn transform(&self) -> FontTransform {
        self.style.transform()
    }

    fn style(&self) -> FontStyle {
        self.style.style()
    }

    fn anchor(&self) -> plotters_backend::text_anchor::Pos {
        self.style.anchor()
    }

    fn family(&self) -> FontFamily<'_> {
        self.style.family()
    }

    fn layout_box(&self, text: &str) -> Result<((i32, i32), (i32, i32)), Self::FontError> {
        self.style.layout_box(text)
    }

    fn draw<E, DrawFunc: FnMut(i32, i32, BackendColor) -> Result<(), E>>(
        &self,
        text: &str,
        pos: BackendCoord,
        draw: DrawFunc,
    ) -> Result<Result<(), E>, Self::FontError> {
        self.style.draw(text, pos, draw)
    }
}

/// `1.24 × units_per_em / (ascent − descent)`: the SVG size factor of [`SvgText`].
fn svg_size_scale() -> f64 {
    font()
        .and_then(|f| {
            let upem = f.units_per_em()?;
            let h = f.ascent_unscaled() - f.descent_unscaled();
            (h > 0.0).then(|| 1.24 * upem as f64 / h as f64)
        })
        .unwrap_or(1.0)
}

impl<B: DrawingBackend> DrawingBackend for Canvas<B> {
    type ErrorType = B::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.present()
    }

    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        color: BackendColor,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.fill_polygon(vert, style)
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.blit_bitmap(pos, size, src)
    }

    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> Result<(u32, u32), DrawingErrorKind<Self::ErrorType>> {
        let m = measure(text, style.size()).ok_or_else(font_error)?;
        Ok((
            m.width.ceil().max(0.0) as u32,
            (m.ascent - m.descent).ceil().max(0.0) as u32,
        ))
    }

    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        if !self.raster {
            static SCALE: OnceLock<f64> = OnceLock::new();
            let scale = *SCALE.get_or_init(svg_size_scale);
            return self.inner.draw_text(text, &SvgText { style, scale }, pos);
        }
        let color = style.color();
        if color.alpha == 0.0 || text.is_empty() {
            return Ok(());
        }
        let f = font().ok_or_else(font_error)?;
        let m = measure(text, style.size()).ok_or_else(font_error)?;
        let sf = f.as_scaled(PxScale::from(style.size() as f32));
        let anchor = style.anchor();
        let x0 = match anchor.h_pos {
            HPos::Left => 0.0,
            HPos::Center => -m.width / 2.0,
            HPos::Right => -m.width,
        };
        // Baseline relative to the anchor point (y down).
        let baseline = match anchor.v_pos {
            VPos::Top => m.ascent,
            VPos::Center => m.cap / 2.0,
            VPos::Bottom => m.descent,
        };
        let trans = style.transform();
        let (w, h) = self.get_size();
        let mut pixels: Vec<(i32, i32, f32)> = Vec::new();
        let mut caret = x0;
        let mut prev: Option<GlyphId> = None;
        for id in text.chars().map(|c| sf.glyph_id(c)) {
            if let Some(p) = prev {
                caret += sf.kern(p, id);
            }
            let glyph = id.with_scale_and_position(sf.scale(), point(caret, baseline));
            if let Some(outline) = f.outline_glyph(glyph) {
                let b = outline.px_bounds();
                let (bx, by) = (b.min.x as i32, b.min.y as i32);
                outline.draw(|x, y, c| {
                    if c > 0.0 {
                        let (tx, ty) = trans.transform(bx + x as i32, by + y as i32);
                        pixels.push((pos.0 + tx, pos.1 + ty, c.min(1.0)));
                    }
                });
            }
            caret += sf.h_advance(id);
            prev = Some(id);
        }
        for (x, y, c) in pixels {
            if x >= 0 && y >= 0 && x < w as i32 && y < h as i32 {
                let color = BackendColor {
                    alpha: color.alpha * c as f64,
                    rgb: color.rgb,
                };
                self.inner.draw_pixel((x, y), color)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use plotters::prelude::*;

    use super::*;

    const W: u32 = 260;
    const H: u32 = 30;
    const FAMILY: &str = "ember-test-dejavu";

    /// Renders `text` at `size` px into an RGB buffer, with this crate's renderer (`fixed`) or
    /// plotters' own ab_glyph text drawing.
    fn render(text: &str, size: u32, fixed: bool) -> Vec<u8> {
        plotters::style::register_font(FAMILY, FontStyle::Normal, FONT_BYTES)
            .ok()
            .expect("font registers");
        let mut buf = vec![255u8; (W * H * 3) as usize];
        {
            let style = (FAMILY, size).into_font().color(&BLACK);
            if fixed {
                let root = Canvas::raster(BitMapBackend::with_buffer(&mut buf, (W, H)))
                    .into_drawing_area();
                root.draw_text(text, &style, (4, 6)).unwrap();
                root.present().unwrap();
            } else {
                let root = BitMapBackend::with_buffer(&mut buf, (W, H)).into_drawing_area();
                root.draw_text(text, &style, (4, 6)).unwrap();
                root.present().unwrap();
            }
        }
        if let Some(dir) = std::env::var_os("EMBER_PLOT_DEMO") {
            let stem: String = text.chars().filter(char::is_ascii_digit).take(4).collect();
            let name = format!(
                "text_{stem}_{}_{size}px.png",
                if fixed { "after" } else { "before" }
            );
            let path = std::path::Path::new(&dir).join(name);
            // Upscale 4× (nearest) so the gaps are visible.
            let k = 4u32;
            let root = BitMapBackend::new(&path, (W * k, H * k)).into_drawing_area();
            for y in 0..H {
                for x in 0..W {
                    let i = ((y * W + x) * 3) as usize;
                    let c = RGBColor(buf[i], buf[i + 1], buf[i + 2]);
                    let (x0, y0) = ((x * k) as i32, (y * k) as i32);
                    root.draw(&Rectangle::new(
                        [(x0, y0), (x0 + k as i32, y0 + k as i32)],
                        c.filled(),
                    ))
                    .unwrap();
                }
            }
            root.present().unwrap();
        }
        buf
    }

    /// Ink per column (any pixel darker than 160).
    fn ink_columns(buf: &[u8]) -> Vec<bool> {
        (0..W)
            .map(|x| (0..H).any(|y| buf[((y * W + x) * 3) as usize] < 160))
            .collect()
    }

    /// Separate runs of inked columns: one per digit when no two glyphs touch.
    fn ink_runs(buf: &[u8]) -> usize {
        let ink = ink_columns(buf);
        ink.windows(2).filter(|w| w[1] && !w[0]).count() + usize::from(ink[0])
    }

    #[test]
    fn digits_are_evenly_spaced() {
        let mut plotters_touching = false;
        for size in [12, 15, 24] {
            // Every digit stands apart with the fixed renderer ...
            assert_eq!(ink_runs(&render("0123456789", size, true)), 10, "{size}px");
            // ... while plotters' drawing (no side bearings) glues some together ("01",
            // "56", "78") and leaves the gap after "1".
            plotters_touching |= ink_runs(&render("0123456789", size, false)) < 10;
        }
        assert!(plotters_touching);
        let _ = render("-12.4  10  0.330.11", 15, false);
        let _ = render("-12.4  10  0.330.11", 15, true);
    }

    #[test]
    fn text_starts_at_its_side_bearing_and_measures_like_plotters() {
        // Left-anchored "1": ink starts right of the anchor by the glyph's side bearing.
        let ink = ink_columns(&render("1", 24, true));
        let first = ink.iter().position(|&b| b).unwrap() as i32;
        assert!(first >= 4 + 2, "ink of '1' starts at column {first}");
        // Width agrees with plotters' own layout (sum of advances and kerning).
        let m = measure("0.330.11", 12.0).unwrap();
        assert!((m.width - text_width("0.330.11", 12.0) as f32).abs() < 1e-3);
        assert!(m.cap > 0.0 && m.ascent > m.cap && m.descent < 0.0);
    }
}
