//! Procedurally rendered attribute images for the reproduction: a coloured, textured shape
//! on a noisy background. Attributes: `shape` (8 classes; coarse group round 0–3 /
//! angular 4–7), `color` (6), `texture` (4: solid, stripes, dots, checker), `size` (uniform,
//! 3 bins). [`write_dataset`] writes an ImageFolder tree with one folder per shape and the
//! other attributes in the file name, so [`parse_attrs`] can recover every label after the
//! tree is read back with [`crate::read_image_folder`].

use ember_core::{Error, Result};
use image::{Rgb, RgbImage};
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};

/// Number of shapes, colours and textures.
pub const N_SHAPES: usize = 8;
/// Number of colours.
pub const N_COLORS: usize = 6;
/// Number of textures.
pub const N_TEXTURES: usize = 4;
/// Number of size bins.
pub const N_SIZE_BINS: usize = 3;

const COLORS: [[f32; 3]; N_COLORS] = [
    [0.9, 0.15, 0.15],
    [0.15, 0.8, 0.2],
    [0.2, 0.3, 0.95],
    [0.95, 0.85, 0.1],
    [0.85, 0.2, 0.85],
    [0.1, 0.85, 0.85],
];

/// The attributes of one image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Attrs {
    /// Shape `0..8`.
    pub shape: usize,
    /// Colour `0..6`.
    pub color: usize,
    /// Texture `0..4`.
    pub texture: usize,
    /// Size in `[0, 1)`.
    pub size: f32,
}

impl Attrs {
    /// A uniformly random attribute tuple.
    pub fn random<R: Rng>(rng: &mut R) -> Self {
        Self {
            shape: rng.random_range(0..N_SHAPES),
            color: rng.random_range(0..N_COLORS),
            texture: rng.random_range(0..N_TEXTURES),
            size: rng.random_range(0.0..1.0),
        }
    }

    /// Coarse shape group: 0 round, 1 angular.
    pub fn shape_group(&self) -> usize {
        self.shape / 4
    }

    /// Size bin `0..3`.
    pub fn size_bin(&self) -> usize {
        ((self.size * N_SIZE_BINS as f32) as usize).min(N_SIZE_BINS - 1)
    }
}

fn inside(shape: usize, u: f32, v: f32) -> bool {
    let r2 = u * u + v * v;
    match shape {
        0 => r2 <= 1.0,
        1 => (0.3..=1.0).contains(&r2),
        2 => u * u + (v / 0.55) * (v / 0.55) <= 1.0,
        3 => r2 <= 1.0 && v >= -0.05,
        4 => u.abs() <= 0.8 && v.abs() <= 0.8,
        5 => (-0.8..=0.8).contains(&v) && u.abs() <= 0.9 * (0.8 - v) / 1.6,
        6 => u.abs() + v.abs() <= 1.0,
        _ => (u.abs() <= 0.3 && v.abs() <= 0.9) || (v.abs() <= 0.3 && u.abs() <= 0.9),
    }
}

fn texture_on(texture: usize, x: usize, y: usize) -> bool {
    match texture {
        0 => true,
        1 => (y / 2).is_multiple_of(2),
        2 => !((1..=2).contains(&(x % 4)) && (1..=2).contains(&(y % 4))),
        _ => ((x / 3) + (y / 3)).is_multiple_of(2),
    }
}

/// Render `a` at `side × side` pixels with position jitter and noise from `rng`.
pub fn render<R: Rng>(a: &Attrs, side: u32, rng: &mut R) -> RgbImage {
    let s = side as f32;
    let radius = s * (0.22 + 0.22 * a.size);
    let jitter = s * 0.1;
    let cx = s / 2.0 + rng.random_range(-jitter..jitter);
    let cy = s / 2.0 + rng.random_range(-jitter..jitter);
    let base = COLORS[a.color];
    let shade: f32 = rng.random_range(0.85..1.0);
    let mut img = RgbImage::new(side, side);
    for y in 0..side as usize {
        for x in 0..side as usize {
            let u = (x as f32 + 0.5 - cx) / radius;
            let v = (cy - (y as f32 + 0.5)) / radius;
            let noise: f32 = rng.random_range(-0.06..0.06);
            let rgb = if inside(a.shape, u, v) {
                let k = if texture_on(a.texture, x, y) {
                    shade
                } else {
                    0.35 * shade
                };
                base.map(|c| c * k + noise)
            } else {
                let g = 0.12 + noise;
                [g, g, g]
            };
            img.put_pixel(
                x as u32,
                y as u32,
                Rgb(rgb.map(|c| (c.clamp(0.0, 1.0) * 255.0).round() as u8)),
            );
        }
    }
    img
}

/// File name carrying the non-folder attributes: `c{color}_t{texture}_z{size‰}_{index}.png`.
pub fn file_name(a: &Attrs, index: usize) -> String {
    format!(
        "c{}_t{}_z{:03}_{index:05}.png",
        a.color,
        a.texture,
        (a.size * 1000.0) as u32
    )
}

/// Recover the attributes of an image written by [`write_dataset`] from its path.
pub fn parse_attrs(path: &Path) -> Result<Attrs> {
    let bad = || {
        Error::format(
            path,
            "not a synth image name (shape_<k>/c<k>_t<k>_z<k>_<i>.png)",
        )
    };
    let folder = path
        .parent()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        .ok_or_else(bad)?;
    let shape = folder
        .strip_prefix("shape_")
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    let stem = path.file_stem().and_then(|s| s.to_str()).ok_or_else(bad)?;
    let parts: Vec<&str> = stem.split('_').collect();
    if parts.len() != 4 {
        return Err(bad());
    }
    let num = |p: &str, pre: char| p.strip_prefix(pre).and_then(|s| s.parse::<usize>().ok());
    let (color, texture, z) = (
        num(parts[0], 'c').ok_or_else(bad)?,
        num(parts[1], 't').ok_or_else(bad)?,
        num(parts[2], 'z').ok_or_else(bad)?,
    );
    if shape >= N_SHAPES || color >= N_COLORS || texture >= N_TEXTURES || z >= 1000 {
        return Err(bad());
    }
    Ok(Attrs {
        shape,
        color,
        texture,
        size: z as f32 / 1000.0 + 0.0005,
    })
}

/// Write `n` random images of side `side` under `root/shape_<k>/` (seeded); returns the
/// written paths.
pub fn write_dataset(root: &Path, n: usize, side: u32, seed: u64) -> Result<Vec<PathBuf>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut paths = Vec::with_capacity(n);
    for k in 0..N_SHAPES {
        let dir = root.join(format!("shape_{k}"));
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    }
    for i in 0..n {
        let mut a = Attrs::random(&mut rng);
        a.shape = i % N_SHAPES; // balanced shapes
        let img = render(&a, side, &mut rng);
        let p = root
            .join(format!("shape_{}", a.shape))
            .join(file_name(&a, i));
        img.save(&p)
            .map_err(|e| Error::format(&p, format!("cannot write PNG: {e}")))?;
        paths.push(p);
    }
    Ok(paths)
}
