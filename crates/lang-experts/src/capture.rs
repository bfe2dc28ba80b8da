//! Pooled unit responses: one forward pass per batch, every requested MLP site of every
//! layer pooled over the *real* tokens of each sentence (padding never counted), kept on the
//! host as one unit-major block per (layer, site).
//!
//! `z[m, i] = pool_{t ∈ real(i)} a[m, i, t]` with `pool` = max (the reference code's choice)
//! or mean. The token axis never leaves the device, so host memory is `units × sentences`
//! (10k units × 2k sentences = 80 MB) whatever the sentence length.

use burn::prelude::*;
use ember_core::nn::intervention::Site;
use ember_core::nn::{ForwardOptions, Intervention, LanguageModel, TransformerInput};
use ember_core::{Error, Result};
use serde::{Deserialize, Serialize};

/// How token responses become one sentence response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Pooling {
    /// Maximum over real tokens (ml-selfcond, ml-aura).
    #[default]
    Max,
    /// Mean over real tokens.
    Mean,
}

/// Which units to record and how to pool them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaptureConfig {
    /// Sites per layer. Default: `[MlpPre, MlpOut]`, the MLP linear outputs that ml-aura hooks
    /// (the spec's default expert set).
    pub sites: Vec<Site>,
    /// Layers to record (`None`: all).
    pub layers: Option<Vec<usize>>,
    /// Token pooling.
    pub pooling: Pooling,
    /// Sentences per forward pass (bounds device memory).
    pub batch_size: usize,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        CaptureConfig {
            sites: vec![Site::MlpPre, Site::MlpOut],
            layers: None,
            pooling: Pooling::Max,
            batch_size: 64,
        }
    }
}

/// One contiguous range of global unit ids: the units of one site of one layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitBlock {
    /// Layer index.
    pub layer: usize,
    /// Site inside the layer's MLP.
    pub site: Site,
    /// Global id of the block's first unit.
    pub offset: usize,
    /// Number of units.
    pub width: usize,
}

/// Maps global unit ids (the rows of every expertise table) to (layer, site, unit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitIndex {
    /// Blocks in id order.
    pub blocks: Vec<UnitBlock>,
}

impl UnitIndex {
    /// The units `cfg` records on `model`.
    pub fn new<M: LanguageModel + ?Sized>(model: &M, cfg: &CaptureConfig) -> Result<Self> {
        if cfg.sites.is_empty() {
            return Err(Error::InvalidInput("capture: no sites selected".into()));
        }
        let layers: Vec<usize> = match &cfg.layers {
            Some(l) => l.clone(),
            None => (0..model.n_layers()).collect(),
        };
        if layers.is_empty() {
            return Err(Error::InvalidInput("capture: no layers selected".into()));
        }
        let mut blocks = Vec::new();
        let mut offset = 0;
        for &layer in &layers {
            if layer >= model.n_layers() {
                return Err(Error::InvalidInput(format!(
                    "capture: layer {layer}, but the model has {} layers",
                    model.n_layers()
                )));
            }
            for &site in &cfg.sites {
                let width = site.width(model.d_ff(), model.d_model());
                blocks.push(UnitBlock {
                    layer,
                    site,
                    offset,
                    width,
                });
                offset += width;
            }
        }
        Ok(UnitIndex { blocks })
    }

    /// Total number of units.
    pub fn n_units(&self) -> usize {
        self.blocks.last().map_or(0, |b| b.offset + b.width)
    }

    /// `(block index, unit inside the block)` of global unit `id`.
    pub fn locate(&self, id: usize) -> Option<(usize, usize)> {
        let b = self.blocks.partition_point(|b| b.offset + b.width <= id);
        let blk = self.blocks.get(b)?;
        (id >= blk.offset).then_some((b, id - blk.offset))
    }
}

/// Pooled responses `[units, sentences]`, one unit-major block per [`UnitBlock`].
#[derive(Debug, Clone, PartialEq)]
pub struct Responses {
    /// The unit layout.
    pub index: UnitIndex,
    /// Number of sentences (columns).
    pub n_sentences: usize,
    /// Per block, row-major `[width, n_sentences]`.
    pub blocks: Vec<Vec<f32>>,
}

impl Responses {
    /// The responses of global unit `id` over all sentences.
    pub fn unit(&self, id: usize) -> Option<&[f32]> {
        let (b, u) = self.index.locate(id)?;
        let n = self.n_sentences;
        Some(&self.blocks[b][u * n..(u + 1) * n])
    }

    /// Responses restricted to the sentences `cols` (in that order), for reusing one pass
    /// with several label sets.
    pub fn select(&self, cols: &[usize]) -> Result<Responses> {
        let n = self.n_sentences;
        if let Some(&c) = cols.iter().find(|&&c| c >= n) {
            return Err(Error::InvalidInput(format!(
                "select: sentence {c} out of range 0..{n}"
            )));
        }
        let blocks = self
            .blocks
            .iter()
            .map(|b| {
                b.chunks_exact(n)
                    .flat_map(|row| cols.iter().map(move |&c| row[c]))
                    .collect()
            })
            .collect();
        Ok(Responses {
            index: self.index.clone(),
            n_sentences: cols.len(),
            blocks,
        })
    }
}

/// Right-pads `rows` with `pad` into `[B, T]` ids and a `[B, T]` padding mask (true = pad).
pub fn pad_batch(
    rows: &[Vec<u32>],
    pad: u32,
    max_len: usize,
    device: &Device,
) -> Result<(Tensor<2, Int>, Tensor<2, Bool>, Vec<usize>)> {
    if rows.is_empty() {
        return Err(Error::InvalidInput("empty batch of sentences".into()));
    }
    let t = rows.iter().map(Vec::len).max().unwrap_or(0);
    if let Some(i) = rows.iter().position(Vec::is_empty) {
        return Err(Error::InvalidInput(format!("sentence {i} has no tokens")));
    }
    if t > max_len {
        let i = rows.iter().position(|r| r.len() > max_len).unwrap_or(0);
        return Err(Error::Shape(format!(
            "sentence {i} has {} tokens, the model takes at most {max_len}",
            rows[i].len()
        )));
    }
    let b = rows.len();
    let mut ids = Vec::with_capacity(b * t);
    let mut mask = Vec::with_capacity(b * t);
    for r in rows {
        ids.extend(r.iter().map(|&x| x as i64));
        ids.extend(std::iter::repeat_n(pad as i64, t - r.len()));
        mask.extend(std::iter::repeat_n(false, r.len()));
        mask.extend(std::iter::repeat_n(true, t - r.len()));
    }
    let lens = rows.iter().map(Vec::len).collect();
    Ok((
        Tensor::<1, Int>::from_data(TensorData::new(ids, [b * t]), device).reshape([b, t]),
        Tensor::<1, Bool>::from_data(TensorData::new(mask, [b * t]), device).reshape([b, t]),
        lens,
    ))
}

/// Pools `[B, T, F]` over the real tokens (`pad`: `[B, T]`, true = padding) to host `[B, F]`.
pub fn pool_tokens(x: Tensor<3>, pad: &Tensor<2, Bool>, pooling: Pooling) -> Result<Vec<f32>> {
    let [b, t, f] = x.dims();
    let pad3 = pad.clone().reshape([b, t, 1]).expand([b, t, f]);
    let pooled = match pooling {
        Pooling::Max => x.mask_fill(pad3, f32::NEG_INFINITY).max_dim(1),
        Pooling::Mean => {
            let real = pad.clone().bool_not().float().reshape([b, t, 1]);
            let n = real.clone().sum_dim(1);
            (x * real).sum_dim(1) / n
        }
    };
    ember_core::host::to_host_finite(pooled.reshape([b, f]), "pooled responses")
}

/// Runs `model` over `sentences` (token ids, unpadded) in batches, under `intervention` if
/// given, and returns the pooled responses of every unit `cfg` selects.
///
/// Errors: an empty sentence list or sentence, a sentence longer than the model takes, a
/// layer out of range, non-finite activations.
pub fn collect<M: LanguageModel + ?Sized>(
    model: &M,
    sentences: &[Vec<u32>],
    pad: u32,
    cfg: &CaptureConfig,
    intervention: Option<&Intervention>,
    device: &Device,
) -> Result<Responses> {
    if cfg.batch_size == 0 {
        return Err(Error::InvalidInput("capture: batch_size is 0".into()));
    }
    if sentences.is_empty() {
        return Err(Error::InvalidInput("capture: no sentences".into()));
    }
    let index = UnitIndex::new(model, cfg)?;
    let n = sentences.len();
    let mut sentence_major: Vec<Vec<f32>> = index
        .blocks
        .iter()
        .map(|b| Vec::with_capacity(b.width * n))
        .collect();
    let want = |s: Site| cfg.sites.contains(&s);
    for (bi, chunk) in sentences.chunks(cfg.batch_size).enumerate() {
        let (ids, mask, _) = pad_batch(chunk, pad, model.max_len(), device).map_err(|e| {
            Error::InvalidInput(format!(
                "batch starting at sentence {}: {e}",
                bi * cfg.batch_size
            ))
        })?;
        let mut opts = ForwardOptions::default().with_pad_mask(mask.clone());
        opts.mlp_pre = want(Site::MlpPre);
        opts.mlp_activations = want(Site::MlpAct);
        opts.mlp_out = want(Site::MlpOut);
        if let Some(iv) = intervention {
            opts.intervention = Some(iv.clone());
        }
        let out = model.forward_with(TransformerInput::Tokens(ids), opts)?;
        for (k, blk) in index.blocks.iter().enumerate() {
            let src = match blk.site {
                Site::MlpPre => &out.mlp_pre,
                Site::MlpAct => &out.mlp_activations,
                Site::MlpOut => &out.mlp_out,
            };
            let x = src.get(blk.layer).cloned().ok_or_else(|| {
                Error::InvalidInput(format!(
                    "the model returned no {:?} capture for layer {}",
                    blk.site, blk.layer
                ))
            })?;
            sentence_major[k].extend(pool_tokens(x, &mask, cfg.pooling)?);
        }
    }
    let blocks = index
        .blocks
        .iter()
        .zip(sentence_major)
        .map(|(b, sm)| ember_core::host::gemm::transpose(&sm, n, b.width))
        .collect();
    Ok(Responses {
        index,
        n_sentences: n,
        blocks,
    })
}
