//! An ImageFolder reader: `root/<class>/<image>.{png,jpg,jpeg}`, classes in sorted folder-name
//! order, images in sorted file-name order, decoded with the `image` crate, resized to
//! `size × size` (bilinear, aspect ratio not kept), scaled to `[0, 1]` and normalised per
//! channel `(v − mean_c) / std_c`, stored CHW. For a pretrained CLIP tower,
//! [`ImageFolderConfig::clip`] preprocesses as CLIP's processor does instead (shortest edge,
//! centre crop, CLIP's mean and std).
//!
//! Reading a tree the user points at:
//! - the format is taken from the file's content (a JPEG named `.png` is read as JPEG);
//! - decoding is limited ([`ImageFolderConfig::max_side`], [`ImageFolderConfig::max_decode_bytes`]):
//!   an image declaring more is an error naming the file, checked before its pixels are
//!   allocated;
//! - symbolic links are followed; a dangling or cyclic link where a class folder or an image
//!   would be read is an error naming it, as is an image entry that is not a regular file
//!   (FIFO, device); other non-image entries are ignored;
//! - the walk is exactly two levels deep (`root/<class>/<file>`), so a link cycle cannot make
//!   it recurse.

use crate::nn::ImageEncoder;
use crate::pretrained::ClipImageProcessor;
use crate::{Error, Result};
use burn::prelude::*;
use std::path::{Path, PathBuf};

/// Settings of [`read_image_folder`].
#[derive(Debug, Clone)]
pub struct ImageFolderConfig {
    /// Output side length.
    pub size: u32,
    /// Per-channel mean (RGB) subtracted after scaling to `[0, 1]`.
    pub mean: [f32; 3],
    /// Per-channel standard deviation (RGB).
    pub std: [f32; 3],
    /// Largest width or height an image may declare (default 16384).
    pub max_side: u32,
    /// Most bytes the decoder may allocate for one image (default 256 MiB).
    pub max_decode_bytes: u64,
    /// When set, replaces the resize and `mean`/`std` above: the processor's resize, centre
    /// crop and normalisation (see [`ImageFolderConfig::clip`]).
    pub processor: Option<ClipImageProcessor>,
}

impl ImageFolderConfig {
    /// `size × size`, mean 0.5 and std 0.25 per channel, images up to 16384 pixels a side and
    /// 256 MiB decoded.
    pub fn new(size: u32) -> Self {
        Self {
            size,
            mean: [0.5; 3],
            std: [0.25; 3],
            max_side: 16_384,
            max_decode_bytes: 256 << 20,
            processor: None,
        }
    }

    /// Images as a CLIP checkpoint expects them: `processor`'s resize of the shortest edge,
    /// centre crop and normalisation (read it with `ClipImageProcessor::from_dir` from the
    /// checkpoint folder). Errors: a processor without a square centre crop, since the images
    /// of a folder must come out one size.
    pub fn clip(processor: ClipImageProcessor) -> Result<Self> {
        match processor.crop {
            Some((h, w)) if h == w && h > 0 => Ok(Self {
                processor: Some(processor),
                ..Self::new(h)
            }),
            other => Err(Error::InvalidInput(format!(
                "an ImageFolder needs a processor with a square centre crop, got {other:?}"
            ))),
        }
    }
}

/// A decoded ImageFolder.
#[derive(Debug, Clone)]
pub struct ImageFolder {
    /// Class (folder) names, sorted; a label is an index into this.
    pub classes: Vec<String>,
    /// Source paths, one per image.
    pub paths: Vec<PathBuf>,
    /// Label per image.
    pub labels: Vec<usize>,
    /// `[N, 3, size, size]` row-major pixels.
    pub pixels: Vec<f32>,
    /// Side length.
    pub size: usize,
}

impl ImageFolder {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Features of every image through `enc` (inference: pass a model without autodiff),
    /// `batch` images per forward pass, row-major `[len, D]` on the host.
    pub fn features<E: ImageEncoder>(
        &self,
        enc: &E,
        batch: usize,
        device: &Device,
    ) -> Result<Vec<f32>> {
        let idx: Vec<usize> = (0..self.len()).collect();
        let mut out = Vec::with_capacity(self.len() * enc.feature_dim());
        for chunk in idx.chunks(batch.max(1)) {
            out.extend(crate::ops::to_host(enc.encode(self.batch(chunk, device))?)?);
        }
        Ok(out)
    }

    /// The images at `idx` (in that order) as a folder of their own, with the same classes.
    /// Errors: an index out of range.
    pub fn subset(&self, idx: &[usize]) -> Result<ImageFolder> {
        let per = 3 * self.size * self.size;
        let mut out = ImageFolder {
            classes: self.classes.clone(),
            paths: Vec::with_capacity(idx.len()),
            labels: Vec::with_capacity(idx.len()),
            pixels: Vec::with_capacity(idx.len() * per),
            size: self.size,
        };
        for &i in idx {
            if i >= self.len() {
                return Err(Error::InvalidInput(format!(
                    "image index {i} out of range for {} images",
                    self.len()
                )));
            }
            out.paths.push(self.paths[i].clone());
            out.labels.push(self.labels[i]);
            out.pixels
                .extend_from_slice(&self.pixels[i * per..(i + 1) * per]);
        }
        Ok(out)
    }

    /// The images at `idx` as a `[len, 3, size, size]` tensor.
    pub fn batch(&self, idx: &[usize], device: &Device) -> Tensor<4> {
        let s = self.size;
        let per = 3 * s * s;
        let mut v = Vec::with_capacity(idx.len() * per);
        for &i in idx {
            v.extend_from_slice(&self.pixels[i * per..(i + 1) * per]);
        }
        Tensor::<1>::from_data(TensorData::new(v, [idx.len() * per]), device).reshape([
            idx.len(),
            3,
            s,
            s,
        ])
    }
}

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .map(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
        .unwrap_or(false)
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .map(|e| e.map(|e| e.path()).map_err(|e| Error::io(dir, e)))
        .collect::<Result<_>>()?;
    v.sort();
    Ok(v)
}

/// Metadata of `p` with symbolic links followed; a dangling or cyclic link is an error.
fn resolved(p: &Path) -> Result<std::fs::Metadata> {
    std::fs::metadata(p).map_err(|e| {
        if p.symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink())
        {
            Error::format(p, format!("dangling or cyclic symbolic link ({e})"))
        } else {
            Error::io(p, e)
        }
    })
}

fn decode(f: &Path, cfg: &ImageFolderConfig) -> Result<image::DynamicImage> {
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(cfg.max_side);
    limits.max_image_height = Some(cfg.max_side);
    limits.max_alloc = Some(cfg.max_decode_bytes);
    let mut reader = image::ImageReader::open(f)
        .map_err(|e| Error::io(f, e))?
        .with_guessed_format()
        .map_err(|e| Error::io(f, e))?;
    reader.limits(limits);
    reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => Error::format(
            f,
            format!(
                "image exceeds the decoding limits ({} pixels a side, {} bytes): {e}",
                cfg.max_side, cfg.max_decode_bytes
            ),
        ),
        e => Error::format(f, format!("cannot decode image: {e}")),
    })
}

/// Read an ImageFolder tree. Errors: a missing root, no class folders, a class folder without
/// images, an undecodable image or one over the decoding limits (named in the error), a
/// dangling or cyclic symbolic link, an image entry that is not a regular file, a zero size or
/// std.
pub fn read_image_folder(root: impl AsRef<Path>, cfg: &ImageFolderConfig) -> Result<ImageFolder> {
    let root = root.as_ref();
    let s = cfg.size as usize;
    let per_image = s.checked_mul(s).and_then(|p| p.checked_mul(3));
    if cfg.size == 0 || per_image.is_none() {
        return Err(Error::InvalidInput(format!(
            "image size must be > 0 and 3·size² must fit in memory, got {}",
            cfg.size
        )));
    }
    if cfg.std.iter().any(|s| !(s.is_finite() && *s > 0.0))
        || cfg.mean.iter().any(|m| !m.is_finite())
    {
        return Err(Error::InvalidInput(format!(
            "bad normalisation {:?}/{:?}",
            cfg.mean, cfg.std
        )));
    }
    let mut class_dirs = Vec::new();
    for p in sorted_entries(root)? {
        if resolved(&p)?.is_dir() {
            class_dirs.push(p);
        }
    }
    if class_dirs.is_empty() {
        return Err(Error::format(root, "no class folders"));
    }
    let mut out = ImageFolder {
        classes: Vec::new(),
        paths: Vec::new(),
        labels: Vec::new(),
        pixels: Vec::new(),
        size: s,
    };
    for (label, dir) in class_dirs.iter().enumerate() {
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| Error::format(dir, "class folder name is not UTF-8"))?;
        out.classes.push(name.to_string());
        let mut files = Vec::new();
        for p in sorted_entries(dir)?.into_iter().filter(|p| is_image(p)) {
            let meta = resolved(&p)?;
            if meta.is_file() {
                files.push(p);
            } else if !meta.is_dir() {
                return Err(Error::format(&p, "not a regular file"));
            }
        }
        if files.is_empty() {
            return Err(Error::format(dir, "class folder has no PNG/JPEG images"));
        }
        for f in files {
            let img = decode(&f, cfg)?;
            match &cfg.processor {
                Some(p) => {
                    let (px, dims) = p.chw(&img).map_err(|e| Error::format(&f, e.to_string()))?;
                    if dims != (cfg.size, cfg.size) {
                        return Err(Error::format(
                            &f,
                            format!(
                                "preprocessed to {}×{}, the folder's images are {s}×{s}",
                                dims.0, dims.1
                            ),
                        ));
                    }
                    out.pixels.extend(px);
                }
                None => {
                    let img = img
                        .resize_exact(cfg.size, cfg.size, image::imageops::FilterType::Triangle)
                        .to_rgb8();
                    for c in 0..3 {
                        for y in 0..s {
                            for x in 0..s {
                                let v = img.get_pixel(x as u32, y as u32)[c] as f32 / 255.0;
                                out.pixels.push((v - cfg.mean[c]) / cfg.std[c]);
                            }
                        }
                    }
                }
            }
            out.paths.push(f);
            out.labels.push(label);
        }
    }
    Ok(out)
}
