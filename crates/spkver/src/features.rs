//! Cached frozen features: per utterance, every layer's frames `[L, T, D]`, extracted once.

use crate::encoder::SslEncoder;
use crate::fbank::Features;
use burn::prelude::*;
use ember_core::{Error, Result};

/// One utterance's multi-layer features, row-major `[L, T, D]`.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerFeatures {
    /// Values, layer after layer, frame after frame.
    pub data: Vec<f32>,
    /// Layers `L`.
    pub n_layers: usize,
    /// Frames `T`.
    pub n_frames: usize,
    /// Width `D`.
    pub dim: usize,
}

impl LayerFeatures {
    /// Wrap a log-mel matrix as a single layer.
    pub fn from_fbank(f: &Features) -> Self {
        LayerFeatures {
            data: f.data.clone(),
            n_layers: 1,
            n_frames: f.n_frames,
            dim: f.dim,
        }
    }

    /// Frames `start..start+len` of layer `l`.
    pub fn slice(&self, l: usize, start: usize, len: usize) -> &[f32] {
        let o = (l * self.n_frames + start) * self.dim;
        &self.data[o..o + len * self.dim]
    }

    /// A `[1, L, T, D]` tensor of the whole utterance.
    pub fn to_tensor(&self, device: &Device) -> Tensor<4> {
        Tensor::<1>::from_data(
            TensorData::new(self.data.clone(), [self.data.len()]),
            device,
        )
        .reshape([1, self.n_layers, self.n_frames, self.dim])
    }
}

/// Per-layer, per-dimension mean and std over every frame of `feats` (no labels used).
#[derive(Debug, Clone, PartialEq)]
pub struct Standardizer {
    /// `[L·D]` means.
    pub mean: Vec<f32>,
    /// `[L·D]` standard deviations (floored at 1e-5).
    pub std: Vec<f32>,
    /// Layers.
    pub n_layers: usize,
    /// Width.
    pub dim: usize,
}

impl Standardizer {
    /// Fit on `feats` (all with the same `L` and `D`).
    pub fn fit(feats: &[LayerFeatures]) -> Result<Self> {
        let first = feats
            .first()
            .ok_or_else(|| Error::InvalidInput("standardizer: no utterances".into()))?;
        let (l, d) = (first.n_layers, first.dim);
        let mut sum = vec![0f64; l * d];
        let mut sq = vec![0f64; l * d];
        let mut n = 0usize;
        for f in feats {
            if f.n_layers != l || f.dim != d {
                return Err(Error::Shape(format!(
                    "standardizer: utterance has [{}, _, {}], expected [{l}, _, {d}]",
                    f.n_layers, f.dim
                )));
            }
            n += f.n_frames;
            for li in 0..l {
                for row in f.slice(li, 0, f.n_frames).chunks(d) {
                    for (j, &v) in row.iter().enumerate() {
                        sum[li * d + j] += v as f64;
                        sq[li * d + j] += (v as f64) * (v as f64);
                    }
                }
            }
        }
        if n == 0 {
            return Err(Error::InvalidInput("standardizer: no frames".into()));
        }
        let mean: Vec<f64> = sum.iter().map(|s| s / n as f64).collect();
        let std = sq
            .iter()
            .zip(&mean)
            .map(|(s, m)| ((s / n as f64 - m * m).max(0.0).sqrt() as f32).max(1e-5))
            .collect();
        Ok(Standardizer {
            mean: mean.iter().map(|&m| m as f32).collect(),
            std,
            n_layers: l,
            dim: d,
        })
    }

    /// Standardise `f` in place.
    pub fn apply(&self, f: &mut LayerFeatures) -> Result<()> {
        if f.n_layers != self.n_layers || f.dim != self.dim {
            return Err(Error::Shape("standardizer: layer/width mismatch".into()));
        }
        let (t, d) = (f.n_frames, f.dim);
        for li in 0..f.n_layers {
            for row in f.data[li * t * d..(li + 1) * t * d].chunks_mut(d) {
                for (j, v) in row.iter_mut().enumerate() {
                    *v = (*v - self.mean[li * d + j]) / self.std[li * d + j];
                }
            }
        }
        Ok(())
    }
}

/// Run the frozen encoder once per utterance (log-mel input, already normalised) and keep
/// every layer (one utterance per forward pass, so lengths may differ).
pub fn extract_layers(
    encoder: &SslEncoder,
    fbanks: &[Features],
    device: &Device,
) -> Result<Vec<LayerFeatures>> {
    let l = encoder.n_outputs();
    let d = encoder.d_model();
    let mut out = Vec::with_capacity(fbanks.len());
    for f in fbanks {
        let x = Tensor::<1>::from_data(TensorData::new(f.data.clone(), [f.data.len()]), device)
            .reshape([1, f.n_frames, f.dim]);
        let layers = encoder.layers(x)?;
        let t = layers[0].dims()[1];
        let mut data = Vec::with_capacity(l * t * d);
        for h in layers {
            data.extend(ember_core::host::read_as::<f32, 3, Float>(
                h,
                "encoder output",
            )?);
        }
        out.push(LayerFeatures {
            data,
            n_layers: l,
            n_frames: t,
            dim: d,
        });
    }
    Ok(out)
}

/// Zero-shot utterance vectors of layer `l`: `[mean_t h ‖ std_t h]` (population std).
pub fn mean_std_vector(f: &LayerFeatures, l: usize) -> Vec<f32> {
    let d = f.dim;
    let t = f.n_frames.max(1) as f64;
    let mut sum = vec![0f64; d];
    let mut sq = vec![0f64; d];
    for row in f.slice(l, 0, f.n_frames).chunks(d) {
        for j in 0..d {
            sum[j] += row[j] as f64;
            sq[j] += (row[j] as f64).powi(2);
        }
    }
    let mean: Vec<f64> = sum.iter().map(|s| s / t).collect();
    let std = sq
        .iter()
        .zip(&mean)
        .map(|(s, m)| (s / t - m * m).max(0.0).sqrt());
    mean.iter()
        .map(|&m| m as f32)
        .chain(std.map(|s| s as f32))
        .collect()
}
