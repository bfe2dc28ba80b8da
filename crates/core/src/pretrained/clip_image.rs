//! CLIP image preprocessing as transformers' `CLIPImageProcessor` does it, through the
//! `image` crate: convert to RGB, resize the shortest edge to `size` (bicubic), centre crop
//! `crop_size`, rescale by 1/255, normalise with the mean / std, channels first.
//!
//! The one known difference: PIL's bicubic resampling rounds to 8 bits between its
//! horizontal and vertical passes and uses fixed-point weights, the `image` crate's
//! Catmull-Rom filter (the same a = −0.5 cubic, widened alike when downscaling) keeps the
//! intermediate in f32. On smooth images the output is identical; on random noise, hard
//! edges and upscaled images single pixels differ by up to ≈ 10 8-bit levels (0.15 after
//! normalisation), the mean by ≈ 0.3 levels (measured against PIL in
//! `tests/hf/clip.rs::clip_preprocessing_is_close_to_pil`; `scripts/gen_clip_preprocess.py`).

use std::path::Path;

use burn::prelude::*;
use image::DynamicImage;
use image::imageops::FilterType;

use super::config::HfConfig;
use crate::error::{Error, Result};

/// The preprocessing file `save_pretrained` writes beside the model.
pub const PREPROCESSOR_FILE: &str = "preprocessor_config.json";

/// `CLIPImageProcessor`'s settings (defaults: the released CLIP models').
#[derive(Debug, Clone, PartialEq)]
pub struct ClipImageProcessor {
    /// Target of the shortest edge (`size.shortest_edge`), if resizing.
    pub shortest_edge: Option<u32>,
    /// `(height, width)` of the centre crop, if cropping.
    pub crop: Option<(u32, u32)>,
    /// Resampling filter (`resample`: 3 bicubic, 2 bilinear, 0 nearest).
    pub filter: FilterType,
    /// Multiplier applied to the 8-bit values (`rescale_factor`), if rescaling.
    pub rescale: Option<f64>,
    /// Per-channel mean and std (`image_mean`, `image_std`), if normalising.
    pub normalize: Option<([f64; 3], [f64; 3])>,
}

/// CLIP's `OPENAI_CLIP_MEAN`.
pub const CLIP_MEAN: [f64; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
/// CLIP's `OPENAI_CLIP_STD`.
pub const CLIP_STD: [f64; 3] = [0.268_629_54, 0.261_302_58, 0.275_777_11];

impl Default for ClipImageProcessor {
    fn default() -> Self {
        Self {
            shortest_edge: Some(224),
            crop: Some((224, 224)),
            filter: FilterType::CatmullRom,
            rescale: Some(1.0 / 255.0),
            normalize: Some((CLIP_MEAN, CLIP_STD)),
        }
    }
}

/// Open an image file (PNG or JPEG), naming the file on failure.
pub fn open_image(path: impl AsRef<Path>) -> Result<DynamicImage> {
    let path = path.as_ref();
    image::open(path).map_err(|e| match e {
        image::ImageError::IoError(io) => Error::io(path, io),
        other => Error::format(path, format!("not a readable image: {other}")),
    })
}

impl ClipImageProcessor {
    /// Read `dir/preprocessor_config.json` when present, else CLIP's defaults.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let path = dir.as_ref().join(PREPROCESSOR_FILE);
        if !path.is_file() {
            return Ok(Self::default());
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        Self::from_config(&HfConfig::from_str(&text, path)?)
    }

    /// Parse a preprocessor config (missing keys take `CLIPImageProcessor`'s defaults).
    pub fn from_config(cfg: &HfConfig) -> Result<Self> {
        let d = Self::default();
        let size = if cfg.has("size.shortest_edge") {
            cfg.size("size.shortest_edge")?
        } else if cfg.has("size.height") || cfg.has("size.width") {
            return Err(Error::format(
                cfg.path(),
                "size {height, width} (resize to a fixed size) is not supported; CLIP resizes the shortest edge",
            ));
        } else {
            cfg.opt_size("size")?.unwrap_or(224)
        };
        let crop = if cfg.has("crop_size.height") || cfg.has("crop_size.width") {
            (cfg.size("crop_size.height")?, cfg.size("crop_size.width")?)
        } else {
            let s = cfg.opt_size("crop_size")?.unwrap_or(224);
            (s, s)
        };
        let filter = match cfg.opt_int("resample")?.unwrap_or(3) {
            3 => FilterType::CatmullRom,
            2 => FilterType::Triangle,
            0 => FilterType::Nearest,
            other => {
                return Err(Error::format(
                    cfg.path(),
                    format!("resample {other} is not supported (3 bicubic, 2 bilinear, 0 nearest)"),
                ));
            }
        };
        let rescale = cfg.float_or("rescale_factor", 1.0 / 255.0, |x| x > 0.0, "> 0")?;
        let mean = cfg.opt_float_list("image_mean", 3)?;
        let std = cfg.opt_float_list("image_std", 3)?;
        if let Some(s) = &std {
            cfg.ensure(s.iter().all(|&x| x > 0.0), || {
                format!("image_std must be positive, got {s:?}")
            })?;
        }
        let three = |v: Option<Vec<f64>>, def: [f64; 3]| v.map_or(def, |v| [v[0], v[1], v[2]]);
        let (dm, ds) = d.normalize.expect("defaults normalise");
        Ok(Self {
            shortest_edge: cfg.bool_or("do_resize", true)?.then_some(size as u32),
            crop: cfg
                .bool_or("do_center_crop", true)?
                .then_some((crop.0 as u32, crop.1 as u32)),
            filter,
            rescale: cfg.bool_or("do_rescale", true)?.then_some(rescale),
            normalize: cfg
                .bool_or("do_normalize", true)?
                .then(|| (three(mean, dm), three(std, ds))),
        })
    }

    /// The resized, cropped 8-bit RGB image (before rescaling and normalisation).
    pub fn resize_and_crop(&self, img: &DynamicImage) -> Result<image::RgbImage> {
        let rgb = img.to_rgb8();
        let (w, h) = rgb.dimensions();
        if w == 0 || h == 0 {
            return Err(Error::InvalidInput(format!("empty image ({w}×{h})")));
        }
        let rgb = match self.shortest_edge {
            Some(s) => {
                // transformers' get_resize_output_image_size(default_to_square=False).
                let (short, long) = (w.min(h) as f64, w.max(h) as f64);
                let new_long = (s as f64 * long / short) as u32;
                let (nw, nh) = if w <= h { (s, new_long) } else { (new_long, s) };
                image::imageops::resize(&rgb, nw, nh, self.filter)
            }
            None => rgb,
        };
        match self.crop {
            Some((ch, cw)) => {
                let (w, h) = rgb.dimensions();
                if ch > h || cw > w {
                    return Err(Error::InvalidInput(format!(
                        "a {w}×{h} image (after resizing) is smaller than the {cw}×{ch} crop"
                    )));
                }
                let (top, left) = ((h - ch) / 2, (w - cw) / 2);
                Ok(image::imageops::crop_imm(&rgb, left, top, cw, ch).to_image())
            }
            None => Ok(rgb),
        }
    }

    /// One image's pixel values, channels first (`3 × h × w`, row-major), with its
    /// `(width, height)` after resizing and cropping: the host-side half of
    /// [`ClipImageProcessor::preprocess`], for readers that stack images themselves.
    pub fn chw(&self, img: &DynamicImage) -> Result<(Vec<f32>, (u32, u32))> {
        let rgb = self.resize_and_crop(img)?;
        let (w, h) = rgb.dimensions();
        let n = w as usize * h as usize;
        let raw = rgb.into_raw();
        let mut out = Vec::with_capacity(3 * n);
        for c in 0..3 {
            out.extend((0..n).map(|p| self.value(raw[p * 3 + c], c)));
        }
        Ok((out, (w, h)))
    }

    /// Pixel values `[B, 3, H, W]` for `images` (all must come out the same size: crop, or
    /// give images of one shape).
    pub fn preprocess(&self, images: &[DynamicImage], device: &Device) -> Result<Tensor<4>> {
        if images.is_empty() {
            return Err(Error::InvalidInput("no images to preprocess".into()));
        }
        let mut out = Vec::new();
        let mut dims = None;
        for (i, img) in images.iter().enumerate() {
            let (px, (w, h)) = self.chw(img)?;
            match dims {
                None => dims = Some((w, h)),
                Some(d) if d != (w, h) => {
                    return Err(Error::Shape(format!(
                        "image {i} comes out {w}×{h}, image 0 {}×{}: turn on the centre crop",
                        d.0, d.1
                    )));
                }
                _ => {}
            }
            out.extend(px);
        }
        let (w, h) = dims.expect("at least one image");
        Ok(Tensor::from_data(
            TensorData::new(out, [images.len(), 3, h as usize, w as usize]),
            device,
        ))
    }

    /// One 8-bit value of channel `c` as transformers computes it: rescaled in float64
    /// then cast to float32, normalised in float32.
    fn value(&self, v: u8, c: usize) -> f32 {
        let x = match self.rescale {
            Some(r) => (v as f64 * r) as f32,
            None => v as f32,
        };
        match &self.normalize {
            Some((m, s)) => (x - m[c] as f32) / s[c] as f32,
            None => x,
        }
    }
}
