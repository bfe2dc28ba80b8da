//! The ELSA-lite model: a two-branch audio encoder (a semantic CNN on the `W` log-mel, a
//! spatial branch of two CNNs on the active and reactive intensity maps with a bottleneck),
//! fused by an MLP into one embedding; a text tower behind the [`TextEncoder`] trait (any
//! [`LanguageModel`] qualifies: ember's Transformer or a loaded Hugging Face encoder) with an
//! MLP projection; symmetric InfoNCE with a learnable temperature plus auxiliary spatial heads
//! (direction as a unit vector with `1 − cos`, distance and log floor area with MSE on
//! z-scored targets).

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use ember_core::loss::{LogitScale, info_nce};
use ember_core::nn::transformer::{ForwardOptions, TransformerInput};
use ember_core::nn::{CnnEncoder, CnnEncoderConfig, LanguageModel, Mlp, MlpConfig};
use ember_core::ops::l2_normalize;
use ember_core::{Error, Result};
use serde::{Deserialize, Serialize};

/// A text tower: token ids and a padding mask in, one vector per caption out.
///
/// Implemented for every [`LanguageModel`] (mean of the final hidden states over the
/// non-padding tokens), so a pretrained checkpoint loaded through `ember_core::pretrained`
/// plugs in unchanged.
pub trait TextEncoder {
    /// `[B, T]` ids and `[B, T]` mask (true at padding) to `[B, width]`.
    fn encode_text(&self, ids: Tensor<2, Int>, pad: Tensor<2, Bool>) -> Result<Tensor<2>>;
    /// Width of [`TextEncoder::encode_text`]'s output.
    fn text_width(&self) -> usize;
}

impl<M: LanguageModel> TextEncoder for M {
    fn encode_text(&self, ids: Tensor<2, Int>, pad: Tensor<2, Bool>) -> Result<Tensor<2>> {
        let [b, t] = ids.dims();
        if pad.dims() != [b, t] {
            return Err(Error::Shape(format!(
                "text: pad mask {:?} does not match ids [{b}, {t}]",
                pad.dims()
            )));
        }
        let out = self.forward_with(
            TransformerInput::Tokens(ids),
            ForwardOptions::default().with_pad_mask(pad.clone()),
        )?;
        let keep = pad.bool_not().float().reshape([b, t, 1]);
        let n = keep.clone().sum_dim(1).clamp_min(1.0).reshape([b, 1]);
        let d = self.d_model();
        Ok((out.last_hidden * keep).sum_dim(1).reshape([b, d]) / n)
    }

    fn text_width(&self) -> usize {
        self.d_model()
    }
}

/// Sizes of the audio encoder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioEncoderConfig {
    /// Channels of the semantic CNN's stride-2 stages.
    pub semantic_channels: Vec<usize>,
    /// Width of the semantic vector.
    pub d_semantic: usize,
    /// Build the spatial branch (false: the semantic-only, CLAP-like baseline).
    pub spatial: bool,
    /// Channels of each spatial CNN's stages.
    pub spatial_channels: Vec<usize>,
    /// Output width of each spatial CNN (active, reactive).
    pub d_spatial_branch: usize,
    /// Width of the spatial bottleneck (ELSA: 44) that the heads read.
    pub d_bottleneck: usize,
    /// Hidden width of the fusion MLP.
    pub d_hidden: usize,
    /// Width of the shared audio–text embedding.
    pub d_embed: usize,
}

impl Default for AudioEncoderConfig {
    /// The quick-scale sizes.
    fn default() -> Self {
        AudioEncoderConfig {
            semantic_channels: vec![16, 32, 64],
            d_semantic: 96,
            spatial: true,
            spatial_channels: vec![16, 32, 32],
            d_spatial_branch: 48,
            d_bottleneck: 16,
            d_hidden: 128,
            d_embed: 64,
        }
    }
}

impl AudioEncoderConfig {
    /// Checks every width is positive.
    pub fn validate(&self) -> Result<()> {
        let widths = [
            self.d_semantic,
            self.d_spatial_branch,
            self.d_bottleneck,
            self.d_hidden,
            self.d_embed,
        ];
        if widths.contains(&0)
            || self.semantic_channels.is_empty()
            || self.semantic_channels.contains(&0)
            || self.spatial_channels.is_empty()
            || self.spatial_channels.contains(&0)
        {
            return Err(Error::Config(format!(
                "AudioEncoderConfig: every width must be positive: {self:?}"
            )));
        }
        Ok(())
    }

    /// Builds the encoder on `device`.
    pub fn init(&self, device: &Device) -> Result<AudioEncoder> {
        self.validate()?;
        let semantic = CnnEncoderConfig::new(self.d_semantic)
            .with_in_channels(1)
            .with_channels(self.semantic_channels.clone())
            .try_init(device)?;
        let spatial = if self.spatial {
            let cnn = || {
                CnnEncoderConfig::new(self.d_spatial_branch)
                    .with_in_channels(3)
                    .with_channels(self.spatial_channels.clone())
                    .try_init(device)
            };
            Some(SpatialBranch {
                active: cnn()?,
                reactive: cnn()?,
                mlp: MlpConfig::new(2 * self.d_spatial_branch, vec![32], self.d_bottleneck)
                    .try_init(device)?,
                heads: LinearConfig::new(self.d_bottleneck, 5).init(device),
                lift: LinearConfig::new(self.d_bottleneck, self.d_bottleneck * 4).init(device),
            })
        } else {
            None
        };
        let d_in = self.d_semantic
            + if self.spatial {
                4 * self.d_bottleneck
            } else {
                0
            };
        Ok(AudioEncoder {
            semantic,
            spatial,
            fuse: MlpConfig::new(d_in, vec![self.d_hidden], self.d_embed).try_init(device)?,
        })
    }
}

/// The spatial-attributes branch: CNNs on the active and reactive intensity maps, an MLP to
/// the bottleneck, the heads, and the lift into the fusion (ELSA: ELU, Linear 44→192).
#[derive(Module, Debug)]
pub struct SpatialBranch {
    /// CNN on the active intensity `[B, 3, T, M]`.
    pub active: CnnEncoder,
    /// CNN on the reactive intensity `[B, 3, T, M]`.
    pub reactive: CnnEncoder,
    /// Concatenated branch outputs to the bottleneck.
    pub mlp: Mlp,
    /// Bottleneck to `[direction x, y, z, distance, log area]`.
    pub heads: Linear,
    /// Bottleneck (after ELU) to the fusion input.
    pub lift: Linear,
}

/// The two-branch audio encoder.
#[derive(Module, Debug)]
pub struct AudioEncoder {
    /// CNN on the `W` log-mel `[B, 1, T, M]`.
    pub semantic: CnnEncoder,
    /// The spatial branch (absent in the semantic-only baseline).
    pub spatial: Option<SpatialBranch>,
    /// Concatenation to the embedding.
    pub fuse: Mlp,
}

/// What the audio encoder gives for a batch.
#[derive(Debug, Clone)]
pub struct AudioOutput {
    /// `[B, d_embed]`, not normalised.
    pub embedding: Tensor<2>,
    /// `[B, 5]` head outputs (direction `x, y, z`, z-scored distance, z-scored log area);
    /// `None` without a spatial branch.
    pub heads: Option<Tensor<2>>,
}

impl AudioEncoder {
    /// `logmel: [B, 1, T, M]`, `intensity: [B, 6, T, M]` (active `x, y, z`, reactive
    /// `x, y, z`).
    pub fn forward(&self, logmel: Tensor<4>, intensity: Tensor<4>) -> Result<AudioOutput> {
        let [b, c, t, m] = logmel.dims();
        if c != 1 {
            return Err(Error::Shape(format!(
                "audio: log-mel needs 1 channel, got {c}"
            )));
        }
        if intensity.dims() != [b, 6, t, m] {
            return Err(Error::Shape(format!(
                "audio: intensity is {:?}, expected [{b}, 6, {t}, {m}]",
                intensity.dims()
            )));
        }
        let sem = self.semantic.forward(logmel);
        let Some(sp) = &self.spatial else {
            return Ok(AudioOutput {
                embedding: self.fuse.forward(sem),
                heads: None,
            });
        };
        let a = sp.active.forward(intensity.clone().narrow(1, 0, 3));
        let r = sp.reactive.forward(intensity.narrow(1, 3, 3));
        let z = sp.mlp.forward(Tensor::cat(vec![a, r], 1));
        let heads = sp.heads.forward(z.clone());
        let lifted = sp.lift.forward(burn::tensor::activation::elu(z, 1.0));
        Ok(AudioOutput {
            embedding: self.fuse.forward(Tensor::cat(vec![sem, lifted], 1)),
            heads: Some(heads),
        })
    }
}

/// Audio encoder, text tower `T`, text projection and temperature.
#[derive(Module, Debug)]
pub struct Elsa<T: Module> {
    /// The audio encoder.
    pub audio: AudioEncoder,
    /// The text tower.
    pub text: T,
    /// Text width to the shared embedding.
    pub text_proj: Mlp,
    /// CLIP temperature `ln(scale)`, initialised at `ln(1/0.07)`, `exp ≤ 100`.
    pub logit_scale: LogitScale,
}

impl<T: Module + TextEncoder> Elsa<T> {
    /// Wraps a text tower with a fresh audio encoder and projection.
    pub fn new(audio: &AudioEncoderConfig, text: T, device: &Device) -> Result<Self> {
        let text_proj = MlpConfig::new(text.text_width(), vec![audio.d_hidden], audio.d_embed)
            .try_init(device)?;
        Ok(Elsa {
            audio: audio.init(device)?,
            text,
            text_proj,
            logit_scale: LogitScale::new(0.07, 100.0, device),
        })
    }

    /// Text embeddings `[B, d_embed]` (not normalised).
    pub fn embed_text(&self, ids: Tensor<2, Int>, pad: Tensor<2, Bool>) -> Result<Tensor<2>> {
        Ok(self.text_proj.forward(self.text.encode_text(ids, pad)?))
    }
}

/// Auxiliary targets of a batch; `mask` is 1 for spatial clips (the heads are not trained on
/// mono clips).
#[derive(Debug, Clone)]
pub struct AuxTargets {
    /// Unit direction vectors `[B, 3]` (`x` front, `y` left, `z` up).
    pub direction: Tensor<2>,
    /// z-scored distance `[B]`.
    pub distance: Tensor<1>,
    /// z-scored log floor area `[B]`.
    pub log_area: Tensor<1>,
    /// `[B]`, 1.0 where the clip is spatial.
    pub mask: Tensor<1>,
}

/// The loss terms of one batch (each `[1]`).
#[derive(Debug, Clone)]
pub struct LossParts {
    /// Symmetric InfoNCE.
    pub contrastive: Tensor<1>,
    /// Masked mean `1 − cos(pred, true)` of the direction head.
    pub direction: Tensor<1>,
    /// Masked MSE of the distance and area heads (summed).
    pub regression: Tensor<1>,
}

impl LossParts {
    /// `contrastive + w·(direction + regression)`.
    pub fn total(&self, aux_weight: f64) -> Tensor<1> {
        self.contrastive.clone() + (self.direction.clone() + self.regression.clone()) * aux_weight
    }
}

/// The training loss of one batch: InfoNCE on the embeddings plus, when `heads` is given, the
/// masked auxiliary losses.
pub fn elsa_loss(
    audio: &AudioOutput,
    text: Tensor<2>,
    logit_scale: Tensor<1>,
    targets: &AuxTargets,
) -> Result<LossParts> {
    let contrastive = info_nce(audio.embedding.clone(), text, logit_scale)?;
    let device = contrastive.device();
    let Some(h) = &audio.heads else {
        let zero = Tensor::<1>::zeros([1], &device);
        return Ok(LossParts {
            contrastive,
            direction: zero.clone(),
            regression: zero,
        });
    };
    let [b, _] = h.dims();
    if targets.direction.dims() != [b, 3] || targets.mask.dims() != [b] {
        return Err(Error::Shape(format!(
            "aux targets: direction {:?} / mask {:?} for a batch of {b}",
            targets.direction.dims(),
            targets.mask.dims()
        )));
    }
    let denom = targets.mask.clone().sum().clamp_min(1.0);
    let dir = l2_normalize(h.clone().narrow(1, 0, 3), 1, 1e-6);
    let cos = (dir * targets.direction.clone()).sum_dim(1).reshape([b]);
    let direction = ((cos.neg() + 1.0) * targets.mask.clone()).sum() / denom.clone();
    let dd = h.clone().narrow(1, 3, 1).reshape([b]) - targets.distance.clone();
    let da = h.clone().narrow(1, 4, 1).reshape([b]) - targets.log_area.clone();
    let regression = ((dd.powi_scalar(2) + da.powi_scalar(2)) * targets.mask.clone()).sum() / denom;
    Ok(LossParts {
        contrastive,
        direction,
        regression,
    })
}
