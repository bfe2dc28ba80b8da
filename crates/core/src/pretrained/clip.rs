//! CLIP from local Hugging Face checkpoints (`model_type` `clip`, and `clip_vision_model`
//! for the image tower alone), candle-transformers style: every module built from its
//! tensors by Hugging Face name.
//!
//! ```text
//! image [B, C, S, S]
//!  -> conv P×P, stride P, no bias -> [B, G², D]            vision_model.embeddings.patch_embedding
//!  -> [class; patches] + positions [G² + 1, D]             .class_embedding, .position_embedding
//!  -> LN                                                    vision_model.pre_layrnorm (sic)
//!  -> L × pre-LN block: x += Attn(LN1 x); x += fc2(act(fc1(LN2 x)))   vision_model.encoder.layers.{i}
//!  = last_hidden_state; LN(x[:, 0]) = pooled               vision_model.post_layernorm
//!  -> Linear, no bias = image features                     visual_projection
//! ids [B, T]
//!  -> token + position embeddings                           text_model.embeddings.*
//!  -> L × causal pre-LN block                               text_model.encoder.layers.{i}
//!  -> LN = last_hidden_state                                text_model.final_layer_norm
//!  -> the row at the end-of-text token = pooled -> Linear, no bias   text_projection
//! logits_per_text = exp(logit_scale) · norm(text) · norm(image)ᵀ       logit_scale
//! ```
//!
//! Pooling follows transformers 5.x `CLIPTextTransformer.forward`: with `eos_token_id == 2`
//! (the original OpenAI configs) the position of the largest id in each row, otherwise the
//! first position whose id is `eos_token_id` (position 0 if the row has none, as there).
//! The text tower is causal, so right padding after the end-of-text token changes neither
//! the pooled output nor the hidden states before it.
//!
//! ```no_run
//! use ember_core::pretrained::clip::{Clip, ClipImageProcessor};
//! # fn main() -> ember_core::Result<()> {
//! let device = ember_core::backend::device_by_name("flex")?;
//! let model = Clip::from_dir("models/clip-vit-base-patch32", &device)?;
//! let proc = ClipImageProcessor::from_dir("models/clip-vit-base-patch32")?;
//! let img = ember_core::pretrained::clip::open_image("cat.jpg")?;
//! let pixels = proc.preprocess(&[img], &device)?;
//! let ids = burn::tensor::Tensor::<2, burn::tensor::Int>::from_data(
//!     [[49406i64, 320, 2368, 49407]], &device);
//! let out = model.forward(pixels, ids)?;
//! assert_eq!(out.logits_per_image.dims(), [1, 1]);
//! # Ok(()) }
//! ```

use std::path::Path;

use burn::module::Param;
use burn::nn::{Embedding, LayerNorm, Linear};
use burn::prelude::*;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;

pub use super::clip_image::{ClipImageProcessor, open_image};
use super::config::HfConfig;
use super::layers::{
    HfActivation, attention_mask, dense, embedding, host_ids, layer_norm, linear, merge_heads,
    sdpa, split_heads,
};
use super::weights::{SavedParam, Weights};
use super::{param_values, recorded_tensors, write_hf_dir};
use crate::error::{Error, Result};

/// Shape of a CLIP transformer tower (text or vision), read from its config section.
#[derive(Debug, Clone)]
pub struct ClipTowerConfig {
    /// Residual width.
    pub hidden_size: usize,
    /// MLP width.
    pub intermediate_size: usize,
    /// Transformer blocks.
    pub num_layers: usize,
    /// Attention heads.
    pub num_heads: usize,
    /// MLP activation (`quick_gelu` in the released models).
    pub hidden_act: HfActivation,
    /// Epsilon of every LayerNorm in the tower.
    pub layer_norm_eps: f64,
}

/// The text tower's configuration (`text_config`).
#[derive(Debug, Clone)]
pub struct ClipTextConfig {
    /// The transformer.
    pub tower: ClipTowerConfig,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Longest input (77 in the released models).
    pub max_positions: usize,
    /// The end-of-text id the pooled output is read at (2: legacy argmax pooling).
    pub eos_token_id: i64,
}

/// The image tower's configuration (`vision_config`).
#[derive(Debug, Clone)]
pub struct ClipVisionConfig {
    /// The transformer.
    pub tower: ClipTowerConfig,
    /// Input channels.
    pub num_channels: usize,
    /// Input side in pixels (square images).
    pub image_size: usize,
    /// Patch side in pixels.
    pub patch_size: usize,
}

impl ClipVisionConfig {
    /// Patches per side.
    pub fn grid(&self) -> usize {
        self.image_size / self.patch_size
    }
}

/// `prefix` + `key` (`prefix` is `""` or e.g. `"vision_config."`).
fn k(prefix: &str, key: &str) -> String {
    format!("{prefix}{key}")
}

impl ClipTowerConfig {
    /// Read the fields under `prefix`, with `CLIP{Text,Vision}Config`'s defaults.
    fn from_hf(cfg: &HfConfig, prefix: &str, defaults: [usize; 3]) -> Result<Self> {
        let size = |key: &str, d: usize| -> Result<usize> {
            Ok(cfg.opt_size(&k(prefix, key))?.unwrap_or(d))
        };
        let c = Self {
            hidden_size: size("hidden_size", defaults[0])?,
            intermediate_size: size("intermediate_size", defaults[1])?,
            num_layers: size("num_hidden_layers", 12)?,
            num_heads: size("num_attention_heads", defaults[2])?,
            hidden_act: HfActivation::parse(
                &cfg.opt_string(&k(prefix, "hidden_act"))?
                    .unwrap_or_else(|| "quick_gelu".into()),
                cfg,
            )?,
            layer_norm_eps: cfg.epsilon(&k(prefix, "layer_norm_eps"), 1e-5)?,
        };
        cfg.ensure(c.hidden_size.is_multiple_of(c.num_heads), || {
            format!(
                "{} {} must divide {} {}",
                k(prefix, "num_attention_heads"),
                c.num_heads,
                k(prefix, "hidden_size"),
                c.hidden_size
            )
        })?;
        Ok(c)
    }
}

impl ClipTextConfig {
    /// Read `text_config` (`prefix` `"text_config."`, or `""` for a `clip_text_model` file).
    pub fn from_hf(cfg: &HfConfig, prefix: &str) -> Result<Self> {
        Ok(Self {
            tower: ClipTowerConfig::from_hf(cfg, prefix, [512, 2048, 8])?,
            vocab_size: cfg.opt_size(&k(prefix, "vocab_size"))?.unwrap_or(49408),
            max_positions: cfg
                .opt_size(&k(prefix, "max_position_embeddings"))?
                .unwrap_or(77),
            eos_token_id: cfg.opt_int(&k(prefix, "eos_token_id"))?.unwrap_or(49407),
        })
    }
}

impl ClipVisionConfig {
    /// Read `vision_config` (`prefix` `"vision_config."`, or `""` for a `clip_vision_model`).
    pub fn from_hf(cfg: &HfConfig, prefix: &str) -> Result<Self> {
        let c = Self {
            tower: ClipTowerConfig::from_hf(cfg, prefix, [768, 3072, 12])?,
            num_channels: cfg.opt_size(&k(prefix, "num_channels"))?.unwrap_or(3),
            image_size: cfg.opt_size(&k(prefix, "image_size"))?.unwrap_or(224),
            patch_size: cfg.opt_size(&k(prefix, "patch_size"))?.unwrap_or(32),
        };
        cfg.ensure(c.image_size.is_multiple_of(c.patch_size), || {
            format!(
                "{} {} is not a multiple of {} {}",
                k(prefix, "image_size"),
                c.image_size,
                k(prefix, "patch_size"),
                c.patch_size
            )
        })?;
        Ok(c)
    }
}

/// `CLIPAttention`: q/k/v/out projections with bias, scale `head_dim^-0.5`.
#[derive(Module, Debug)]
pub struct ClipAttention {
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
}

/// `CLIPEncoderLayer`: pre-LN attention and MLP, each added to the residual stream.
#[derive(Module, Debug)]
pub struct ClipLayer {
    layer_norm1: LayerNorm,
    attn: ClipAttention,
    layer_norm2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
}

/// `CLIPEncoder`: the blocks of one tower.
#[derive(Module, Debug)]
pub struct ClipEncoder {
    layers: Vec<ClipLayer>,
    num_heads: usize,
    #[module(skip)]
    act: HfActivation,
}

impl ClipEncoder {
    fn load(w: &Weights, prefix: &str, c: &ClipTowerConfig, device: &Device) -> Result<Self> {
        let (d, f, eps) = (c.hidden_size, c.intermediate_size, c.layer_norm_eps);
        let layers = (0..c.num_layers)
            .map(|i| {
                let p = format!("{prefix}encoder.layers.{i}");
                let lin = |n: &str, a: usize, b: usize| {
                    linear(w, &format!("{p}.{n}"), a, b, true, device)
                };
                Ok(ClipLayer {
                    layer_norm1: layer_norm(w, &format!("{p}.layer_norm1"), d, eps, device)?,
                    attn: ClipAttention {
                        q: lin("self_attn.q_proj", d, d)?,
                        k: lin("self_attn.k_proj", d, d)?,
                        v: lin("self_attn.v_proj", d, d)?,
                        out: lin("self_attn.out_proj", d, d)?,
                    },
                    layer_norm2: layer_norm(w, &format!("{p}.layer_norm2"), d, eps, device)?,
                    fc1: lin("mlp.fc1", d, f)?,
                    fc2: lin("mlp.fc2", f, d)?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            layers,
            num_heads: c.num_heads,
            act: c.hidden_act,
        })
    }

    /// `L + 1` hidden states (the input, then each block's output; the last is the output).
    fn forward(&self, mut x: Tensor<3>, mask: Option<Tensor<4, Bool>>) -> Vec<Tensor<3>> {
        let h = self.num_heads;
        let mut states = Vec::with_capacity(self.layers.len() + 1);
        for l in &self.layers {
            states.push(x.clone());
            let a = l.layer_norm1.forward(x.clone());
            let [_, _, d] = a.dims();
            let q = split_heads(dense(&l.attn.q, a.clone()), h);
            let kk = split_heads(dense(&l.attn.k, a.clone()), h);
            let v = split_heads(dense(&l.attn.v, a), h);
            let ctx = sdpa(q, kk, v, mask.clone(), 1.0 / ((d / h) as f64).sqrt());
            x = x + dense(&l.attn.out, merge_heads(ctx));
            let m = l.layer_norm2.forward(x.clone());
            x = x + dense(&l.fc2, self.act.forward(dense(&l.fc1, m)));
        }
        states.push(x);
        states
    }
}

/// What the image tower returns for `[B, C, S, S]` pixels (`N = (S / P)² + 1` tokens).
#[derive(Debug, Clone)]
pub struct ClipVisionOutput {
    /// The encoder output `[B, N, D]` (transformers' `last_hidden_state`: no final norm).
    pub last_hidden_state: Tensor<3>,
    /// `post_layernorm` of the class token `[B, D]`.
    pub pooled: Tensor<2>,
    /// `L + 1` states `[B, N, D]`: the embeddings after `pre_layrnorm`, then each block.
    pub hidden_states: Vec<Tensor<3>>,
}

/// `CLIPVisionTransformer`: patch embedding, class token, positions, the encoder.
#[derive(Module, Debug)]
pub struct ClipVisionTransformer {
    patch_embedding: Param<Tensor<4>>,
    class_embedding: Param<Tensor<1>>,
    position_embedding: Param<Tensor<2>>,
    pre_layrnorm: LayerNorm,
    encoder: ClipEncoder,
    post_layernorm: LayerNorm,
    #[module(skip)]
    cfg: ClipVisionConfig,
}

impl ClipVisionTransformer {
    /// Load `vision_model.*` for `c`.
    pub fn load(c: ClipVisionConfig, w: &Weights, device: &Device) -> Result<Self> {
        let p = "vision_model.";
        let (d, eps, ps) = (c.tower.hidden_size, c.tower.layer_norm_eps, c.patch_size);
        let n_pos = c.grid() * c.grid() + 1;
        Ok(Self {
            patch_embedding: w.param(
                &format!("{p}embeddings.patch_embedding.weight"),
                [d, c.num_channels, ps, ps],
                device,
            )?,
            class_embedding: w.param(&format!("{p}embeddings.class_embedding"), [d], device)?,
            position_embedding: w.param(
                &format!("{p}embeddings.position_embedding.weight"),
                [n_pos, d],
                device,
            )?,
            pre_layrnorm: layer_norm(w, &format!("{p}pre_layrnorm"), d, eps, device)?,
            encoder: ClipEncoder::load(w, p, &c.tower, device)?,
            post_layernorm: layer_norm(w, &format!("{p}post_layernorm"), d, eps, device)?,
            cfg: c,
        })
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &ClipVisionConfig {
        &self.cfg
    }

    /// Pixels `[B, C, S, S]` must match the checkpoint's channels and size.
    pub fn check_pixels(&self, dims: [usize; 4]) -> Result<()> {
        let c = &self.cfg;
        let [b, ch, h, wd] = dims;
        if b == 0 || ch != c.num_channels || h != c.image_size || wd != c.image_size {
            return Err(Error::Shape(format!(
                "pixel batch is {dims:?}; the model takes [B ≥ 1, {}, {}, {}] (channels, height, width: resize and crop with ClipImageProcessor)",
                c.num_channels, c.image_size, c.image_size
            )));
        }
        Ok(())
    }

    /// Run on normalised pixels `[B, C, S, S]`.
    pub fn forward(&self, pixels: Tensor<4>) -> Result<ClipVisionOutput> {
        self.check_pixels(pixels.dims())?;
        let c = &self.cfg;
        let (b, d, g) = (pixels.dims()[0], c.tower.hidden_size, c.grid());
        let ps = c.patch_size;
        let patches = conv2d(
            pixels,
            self.patch_embedding.val(),
            None,
            ConvOptions::new([ps, ps], [0, 0], [1, 1], 1),
        ); // [B, D, G, G]
        let patches = patches.reshape([b, d, g * g]).swap_dims(1, 2);
        let cls = self
            .class_embedding
            .val()
            .reshape([1, 1, d])
            .expand([b, 1, d]);
        let x = Tensor::cat(vec![cls, patches], 1)
            + self.position_embedding.val().reshape([1, g * g + 1, d]);
        let x = self.pre_layrnorm.forward(x);
        let hidden_states = self.encoder.forward(x, None);
        let last = hidden_states.last().expect("L + 1 states").clone();
        let pooled = self
            .post_layernorm
            .forward(last.clone().slice([0..b, 0..1, 0..d]))
            .reshape([b, d]);
        Ok(ClipVisionOutput {
            last_hidden_state: last,
            pooled,
            hidden_states,
        })
    }
}

/// What the text tower returns for ids `[B, T]`.
#[derive(Debug, Clone)]
pub struct ClipTextOutput {
    /// After `final_layer_norm` `[B, T, D]` (transformers' `last_hidden_state`).
    pub last_hidden_state: Tensor<3>,
    /// The row of `last_hidden_state` at each sequence's end-of-text token `[B, D]`.
    pub pooled: Tensor<2>,
    /// `L + 1` encoder states `[B, T, D]` (the embeddings, then each block; the last one is
    /// before `final_layer_norm`, as transformers' `hidden_states`).
    pub hidden_states: Vec<Tensor<3>>,
}

/// `CLIPTextTransformer`: token + position embeddings, causal encoder, final norm.
#[derive(Module, Debug)]
pub struct ClipTextTransformer {
    token_embedding: Embedding,
    position_embedding: Param<Tensor<2>>,
    encoder: ClipEncoder,
    final_layer_norm: LayerNorm,
    #[module(skip)]
    cfg: ClipTextConfig,
}

impl ClipTextTransformer {
    /// Load `text_model.*` for `c`.
    pub fn load(c: ClipTextConfig, w: &Weights, device: &Device) -> Result<Self> {
        let p = "text_model.";
        let (d, eps) = (c.tower.hidden_size, c.tower.layer_norm_eps);
        Ok(Self {
            token_embedding: embedding(
                w,
                &format!("{p}embeddings.token_embedding.weight"),
                c.vocab_size,
                d,
                device,
            )?,
            position_embedding: w.param(
                &format!("{p}embeddings.position_embedding.weight"),
                [c.max_positions, d],
                device,
            )?,
            encoder: ClipEncoder::load(w, p, &c.tower, device)?,
            final_layer_norm: layer_norm(w, &format!("{p}final_layer_norm"), d, eps, device)?,
            cfg: c,
        })
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &ClipTextConfig {
        &self.cfg
    }

    /// The position each row is pooled at (see the module docs).
    pub fn eos_positions(&self, ids: &[i64], t: usize) -> Vec<usize> {
        ids.chunks(t)
            .map(|row| {
                if self.cfg.eos_token_id == 2 {
                    // torch.argmax: the first maximal value.
                    let max = row.iter().copied().max().unwrap_or(0);
                    row.iter().position(|&x| x == max).unwrap_or(0)
                } else {
                    row.iter()
                        .position(|&x| x == self.cfg.eos_token_id)
                        .unwrap_or(0)
                }
            })
            .collect()
    }

    /// Run on token ids `[B, T]`; `pad_mask` `[B, T]` (true = padding) blocks those keys as
    /// transformers' `attention_mask` does. Errors on ids outside the vocabulary, an empty
    /// batch or more than `max_position_embeddings` tokens.
    pub fn forward(
        &self,
        ids: Tensor<2, Int>,
        pad_mask: Option<Tensor<2, Bool>>,
    ) -> Result<ClipTextOutput> {
        let c = &self.cfg;
        let [b, t] = ids.dims();
        if b == 0 || t == 0 {
            return Err(Error::Shape(format!("empty token batch [{b}, {t}]")));
        }
        if t > c.max_positions {
            return Err(Error::Shape(format!(
                "{t} tokens per sequence, the text tower takes at most {} (max_position_embeddings)",
                c.max_positions
            )));
        }
        if let Some(m) = &pad_mask
            && m.dims() != [b, t]
        {
            return Err(Error::Shape(format!(
                "pad_mask is {:?}, the ids are [{b}, {t}]",
                m.dims()
            )));
        }
        let host = host_ids(&ids, c.vocab_size)?;
        let device = ids.device();
        let d = c.tower.hidden_size;
        let pos = self
            .position_embedding
            .val()
            .slice([0..t, 0..d])
            .reshape([1, t, d]);
        let x = self.token_embedding.forward(ids) + pos;
        let mask = attention_mask(pad_mask.as_ref(), b, c.tower.num_heads, t, t, true, &device);
        let hidden_states = self.encoder.forward(x, mask);
        let last = self
            .final_layer_norm
            .forward(hidden_states.last().expect("L + 1 states").clone());
        let rows: Vec<i64> = self
            .eos_positions(&host, t)
            .iter()
            .enumerate()
            .map(|(i, &p)| (i * t + p) as i64)
            .collect();
        let rows = Tensor::<1, Int>::from_data(TensorData::new(rows, [b]), &device);
        let pooled = last.clone().reshape([b * t, d]).select(0, rows);
        Ok(ClipTextOutput {
            last_hidden_state: last,
            pooled,
            hidden_states,
        })
    }
}

impl ClipTextTransformer {
    /// Token embeddings `[B, T, D]` of ids `[B, T]`, before positions are added: the input
    /// prompt learners (CoOp, CoCoOp) edit before [`ClipTextTransformer::forward_embeddings`].
    /// Errors on ids outside the vocabulary or an empty batch.
    pub fn token_embeddings(&self, ids: Tensor<2, Int>) -> Result<Tensor<3>> {
        let [b, t] = ids.dims();
        if b == 0 || t == 0 {
            return Err(Error::Shape(format!("empty token batch [{b}, {t}]")));
        }
        host_ids(&ids, self.cfg.vocab_size)?;
        Ok(self.token_embedding.forward(ids))
    }

    /// The causal encoder and final norm on already-embedded tokens `[B, T, D]` (positions
    /// are added here), pooled at `pool_at[b]` (the end-of-text position of each row, which
    /// the caller knows when it inserted learned tokens): `[B, D]`, the input of the text
    /// projection. With `x = token_embeddings(ids)` and `pool_at` = the end-of-text
    /// positions it equals [`ClipTextTransformer::forward`]'s `pooled`. Errors: a width
    /// other than the tower's, more tokens than `max_position_embeddings`, a pooling
    /// position out of range or a count other than `B`.
    pub fn forward_embeddings(&self, x: Tensor<3>, pool_at: &[usize]) -> Result<Tensor<2>> {
        let c = &self.cfg;
        let [b, t, d] = x.dims();
        if b == 0 || t == 0 {
            return Err(Error::Shape(format!(
                "empty embedding batch [{b}, {t}, {d}]"
            )));
        }
        if d != c.tower.hidden_size {
            return Err(Error::Shape(format!(
                "embeddings have width {d}, the text tower's is {}",
                c.tower.hidden_size
            )));
        }
        if t > c.max_positions {
            return Err(Error::Shape(format!(
                "{t} tokens per sequence, the text tower takes at most {} (max_position_embeddings)",
                c.max_positions
            )));
        }
        if pool_at.len() != b || pool_at.iter().any(|&p| p >= t) {
            return Err(Error::Shape(format!(
                "pooling positions {pool_at:?} for {b} rows of {t} tokens"
            )));
        }
        let device = x.device();
        let pos = self
            .position_embedding
            .val()
            .slice([0..t, 0..d])
            .reshape([1, t, d]);
        let mask = attention_mask(None, b, c.tower.num_heads, t, t, true, &device);
        let hidden_states = self.encoder.forward(x + pos, mask);
        let last = self
            .final_layer_norm
            .forward(hidden_states.last().expect("L + 1 states").clone());
        let rows: Vec<i64> = pool_at
            .iter()
            .enumerate()
            .map(|(i, &p)| (i * t + p) as i64)
            .collect();
        let rows = Tensor::<1, Int>::from_data(TensorData::new(rows, [b]), &device);
        Ok(last.reshape([b * t, d]).select(0, rows))
    }
}

/// Read a `clip` / `clip_vision_model` config, erroring on anything else.
fn clip_config(dir: &Path, accept_vision: bool) -> Result<(HfConfig, &'static str)> {
    let cfg = HfConfig::from_dir(dir)?;
    let mt = cfg.model_type()?;
    match mt.as_str() {
        "clip" => Ok((cfg, "vision_config.")),
        "clip_vision_model" if accept_vision => Ok((cfg, "")),
        other => Err(Error::format(
            cfg.path(),
            format!(
                "model_type {other:?} is not CLIP; this loader reads \"clip\"{}",
                if accept_vision {
                    " and \"clip_vision_model\""
                } else {
                    " (ClipVisionModel::from_dir also reads \"clip_vision_model\")"
                }
            ),
        )),
    }
}

/// The image tower with its projection (`CLIPVisionModelWithProjection`, or the image half
/// of a `CLIPModel`): a Burn [`Module`], so it can be fine-tuned (load it on
/// `device.autodiff()` to train).
#[derive(Module, Debug)]
pub struct ClipVisionModel {
    vision: ClipVisionTransformer,
    visual_projection: Option<Linear>,
}

impl ClipVisionModel {
    /// Load the image tower (and `visual_projection` when the file has it) from a `clip` or
    /// `clip_vision_model` checkpoint folder; text weights are not read.
    pub fn from_dir(dir: impl AsRef<Path>, device: &Device) -> Result<Self> {
        let dir = dir.as_ref();
        let (cfg, prefix) = clip_config(dir, true)?;
        let w = Weights::from_dir(dir)?;
        let c = ClipVisionConfig::from_hf(&cfg, prefix)?;
        let proj = if w.contains("visual_projection.weight") {
            Some(projection_dim(&cfg)?)
        } else {
            None
        };
        Self::load(c, proj, &w, device)
    }

    /// Build from opened weights; `projection` is the projection width, if any.
    pub fn load(
        c: ClipVisionConfig,
        projection: Option<usize>,
        w: &Weights,
        device: &Device,
    ) -> Result<Self> {
        let d = c.tower.hidden_size;
        Ok(Self {
            vision: ClipVisionTransformer::load(c, w, device)?,
            visual_projection: projection
                .map(|p| linear(w, "visual_projection", d, p, false, device))
                .transpose()?,
        })
    }

    /// The transformer.
    pub fn transformer(&self) -> &ClipVisionTransformer {
        &self.vision
    }

    /// The configuration.
    pub fn config(&self) -> &ClipVisionConfig {
        self.vision.config()
    }

    /// Width of [`ClipVisionModel::image_features`]: the projection's, or the tower's.
    pub fn embed_dim(&self) -> usize {
        self.visual_projection
            .as_ref()
            .map_or(self.config().tower.hidden_size, |l| l.weight.dims()[1])
    }

    /// The tower's outputs for normalised pixels `[B, C, S, S]`.
    pub fn forward(&self, pixels: Tensor<4>) -> Result<ClipVisionOutput> {
        self.vision.forward(pixels)
    }

    /// Image features `[B, E]` (`get_image_features`: projected pooled output, not
    /// normalised; the pooled output itself when the checkpoint has no projection).
    pub fn image_features(&self, pixels: Tensor<4>) -> Result<Tensor<2>> {
        Ok(self.project(self.vision.forward(pixels)?.pooled))
    }

    fn project(&self, pooled: Tensor<2>) -> Tensor<2> {
        match &self.visual_projection {
            Some(l) => l.forward(pooled),
            None => pooled,
        }
    }
}

/// Top-level `projection_dim` (CLIP's default 512).
fn projection_dim(cfg: &HfConfig) -> Result<usize> {
    Ok(cfg.opt_size("projection_dim")?.unwrap_or(512))
}

/// What [`Clip::forward`] returns (transformers' `CLIPOutput`).
#[derive(Debug, Clone)]
pub struct ClipOutput {
    /// L2-normalised projected text features `[B_t, E]`.
    pub text_embeds: Tensor<2>,
    /// L2-normalised projected image features `[B_i, E]`.
    pub image_embeds: Tensor<2>,
    /// `exp(logit_scale) · image_embeds · text_embedsᵀ` `[B_i, B_t]`.
    pub logits_per_image: Tensor<2>,
    /// Its transpose `[B_t, B_i]`.
    pub logits_per_text: Tensor<2>,
    /// The text tower's outputs.
    pub text: ClipTextOutput,
    /// The image tower's outputs.
    pub vision: ClipVisionOutput,
}

/// A loaded CLIP model (`CLIPModel`), with what it needs to be written back.
#[derive(Module, Debug)]
pub struct Clip {
    vision: ClipVisionModel,
    text: ClipTextTransformer,
    text_projection: Linear,
    /// `logit_scale` (a scalar in the file), `[1]` here.
    logit_scale: Param<Tensor<1>>,
    #[module(skip)]
    meta: ClipMeta,
}

#[derive(Debug, Clone)]
struct ClipMeta {
    config: HfConfig,
    params: Vec<SavedParam>,
}

/// L2-normalise the rows of `x` (`x / ‖x‖`, no epsilon, as `CLIPModel`).
pub fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let n = x.clone().powi_scalar(2).sum_dim(1).sqrt();
    x / n
}

impl Clip {
    /// Load the checkpoint in `dir` (`config.json` with `model_type` `clip`,
    /// `model.safetensors` or shards) onto `device`.
    pub fn from_dir(dir: impl AsRef<Path>, device: &Device) -> Result<Self> {
        let dir = dir.as_ref();
        let (cfg, _) = clip_config(dir, false)?;
        let w = Weights::from_dir(dir)?;
        Self::load(&cfg, &w, device)
    }

    /// Build from a parsed `clip` config and opened weights.
    pub fn load(cfg: &HfConfig, w: &Weights, device: &Device) -> Result<Self> {
        w.take_record();
        let vc = ClipVisionConfig::from_hf(cfg, "vision_config.")?;
        let tc = ClipTextConfig::from_hf(cfg, "text_config.")?;
        let e = projection_dim(cfg)?;
        let td = tc.tower.hidden_size;
        let vision = ClipVisionModel::load(vc, Some(e), w, device)?;
        let text = ClipTextTransformer::load(tc, w, device)?;
        let text_projection = linear(w, "text_projection", td, e, false, device)?;
        let scale = w.host("logit_scale", &[])?;
        let logit_scale =
            Param::from_tensor(Tensor::from_data(TensorData::new(scale, [1]), device));
        Ok(Self {
            vision,
            text,
            text_projection,
            logit_scale,
            meta: ClipMeta {
                config: cfg.clone(),
                params: w.take_record(),
            },
        })
    }

    /// The image tower with its projection.
    pub fn vision(&self) -> &ClipVisionModel {
        &self.vision
    }

    /// The image tower alone, e.g. to fine-tune it.
    pub fn into_vision(self) -> ClipVisionModel {
        self.vision
    }

    /// The text tower.
    pub fn text(&self) -> &ClipTextTransformer {
        &self.text
    }

    /// The `config.json` it was loaded from.
    pub fn config(&self) -> &HfConfig {
        &self.meta.config
    }

    /// Width of the joint embedding space (`projection_dim`).
    pub fn embed_dim(&self) -> usize {
        self.text_projection.weight.dims()[1]
    }

    /// Projected image features `[B, E]`, not normalised (`get_image_features`).
    pub fn image_features(&self, pixels: Tensor<4>) -> Result<Tensor<2>> {
        self.vision.image_features(pixels)
    }

    /// Projected text features `[B, E]`, not normalised (`get_text_features`).
    pub fn text_features(&self, ids: Tensor<2, Int>) -> Result<Tensor<2>> {
        Ok(self
            .text_projection
            .forward(self.text.forward(ids, None)?.pooled))
    }

    /// Projected text features `[B, E]`, not normalised, of already-embedded tokens
    /// `[B, T, D]` pooled at `pool_at` (see [`ClipTextTransformer::forward_embeddings`]): the
    /// text half of the dual-encoder contract prompt learners train through.
    pub fn text_features_from_embeddings(
        &self,
        x: Tensor<3>,
        pool_at: &[usize],
    ) -> Result<Tensor<2>> {
        Ok(self
            .text_projection
            .forward(self.text.forward_embeddings(x, pool_at)?))
    }

    /// `exp(logit_scale)`: the scale CLIP multiplies its cosine similarities by.
    pub fn logit_scale(&self) -> Result<f64> {
        Ok(crate::ops::to_host(self.logit_scale.val().exp())?[0] as f64)
    }

    /// `exp(logit_scale)` as a `[1, 1]` tensor.
    fn scale(&self) -> Tensor<2> {
        self.logit_scale.val().exp().reshape([1, 1])
    }

    /// Both towers and the similarity logits, as `CLIPModel.forward`.
    pub fn forward(&self, pixels: Tensor<4>, ids: Tensor<2, Int>) -> Result<ClipOutput> {
        self.forward_masked(pixels, ids, None)
    }

    /// [`Clip::forward`] with a text padding mask `[B_t, T]` (true = padding).
    pub fn forward_masked(
        &self,
        pixels: Tensor<4>,
        ids: Tensor<2, Int>,
        pad_mask: Option<Tensor<2, Bool>>,
    ) -> Result<ClipOutput> {
        let vision = self.vision.forward(pixels)?;
        let text = self.text.forward(ids, pad_mask)?;
        let image_embeds = l2_normalize(self.vision.project(vision.pooled.clone()));
        let text_embeds = l2_normalize(self.text_projection.forward(text.pooled.clone()));
        let logits_per_text =
            text_embeds.clone().matmul(image_embeds.clone().transpose()) * self.scale();
        Ok(ClipOutput {
            logits_per_image: logits_per_text.clone().transpose(),
            logits_per_text,
            text_embeds,
            image_embeds,
            text,
            vision,
        })
    }

    /// Write the model (e.g. after fine-tuning) to `dir` as a Hugging Face checkpoint:
    /// `config.json` and `model.safetensors` under the original names and layouts
    /// (`logit_scale` a scalar again).
    pub fn save_pretrained(&self, dir: impl AsRef<Path>) -> Result<()> {
        let values = param_values(self)?;
        let mut out = recorded_tensors(&self.meta.params, &values)?;
        let scale = crate::ops::to_host(self.logit_scale.val())?;
        out.add("logit_scale", &[], &scale)?;
        write_hf_dir(dir.as_ref(), &out, &self.meta.config)
    }
}
