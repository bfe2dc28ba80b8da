//! The small CLIP of the reproduction: ember-core's [`CnnEncoder`] as the image tower, its
//! causal [`Transformer`] as the text tower pooled at the end-of-text token, a text
//! projection and a learnable logit scale, pre-trained contrastively with ember-core's
//! symmetric InfoNCE ([`ember_core::loss::info_nce`]).

use crate::dual::DualEncoder;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use ember_core::loss::{LogitScale, info_nce};
use ember_core::nn::{
    CnnEncoder, CnnEncoderConfig, ForwardOptions, Transformer, TransformerConfig, TransformerInput,
};
use ember_core::{Error, Result};

/// Sizes of a [`SmallClip`].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SmallClipConfig {
    /// Text vocabulary size.
    pub vocab_size: usize,
    /// Joint embedding width.
    pub embed_dim: usize,
    /// Text tower width (4 heads).
    pub text_width: usize,
    /// Text tower blocks.
    pub text_layers: usize,
    /// Longest prompt in tokens.
    pub max_tokens: usize,
    /// Channels of the image tower's conv stages.
    pub channels: Vec<usize>,
}

impl SmallClipConfig {
    /// Checks every size before anything is built.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(format!("SmallClipConfig: {m}")));
        if self.vocab_size < 4 {
            return bad(format!("vocab_size must be ≥ 4, got {}", self.vocab_size));
        }
        if self.embed_dim == 0 || self.text_layers == 0 || self.max_tokens < 3 {
            return bad("embed_dim, text_layers must be ≥ 1 and max_tokens ≥ 3".into());
        }
        if self.text_width < 4 || !self.text_width.is_multiple_of(4) {
            return bad(format!(
                "text_width must be a positive multiple of 4 (4 heads), got {}",
                self.text_width
            ));
        }
        if self.channels.is_empty() || self.channels.contains(&0) {
            return bad(format!(
                "channels must be non-empty and positive, got {:?}",
                self.channels
            ));
        }
        Ok(())
    }

    /// Build the model on `device` (validated first).
    pub fn init(&self, device: &Device) -> Result<SmallClip> {
        self.validate()?;
        let text = TransformerConfig::new(
            self.vocab_size,
            self.text_width,
            4,
            self.text_layers,
            4 * self.text_width,
            self.max_tokens,
        )
        .with_causal(true)
        .with_lm_head(false)
        .try_init(device)?;
        Ok(SmallClip {
            image: CnnEncoderConfig::new(self.embed_dim)
                .with_channels(self.channels.clone())
                .try_init(device)?,
            text,
            text_proj: LinearConfig::new(self.text_width, self.embed_dim)
                .with_bias(false)
                .init(device),
            scale: LogitScale::new(0.07, 100.0, device),
        })
    }
}

/// A CLIP-style dual encoder: images `[B, 3, S, S]` and prompts `[B, T]` into one space.
#[derive(Module, Debug)]
pub struct SmallClip {
    /// Image tower.
    pub image: CnnEncoder,
    /// Causal text tower (no LM head).
    pub text: Transformer,
    /// Text projection into the joint space.
    pub text_proj: Linear,
    /// Learnable temperature.
    pub scale: LogitScale,
}

impl SmallClip {
    /// Contrastive loss of a batch of images and their captions (`ids` `[B, T]`, pooled at
    /// `eot`): symmetric InfoNCE with the learned scale.
    pub fn contrastive_loss(
        &self,
        images: Tensor<4>,
        ids: Tensor<2, Int>,
        eot: &[usize],
    ) -> Result<Tensor<1>> {
        let img = self.image.forward(images);
        let txt = DualEncoder::text_features(self, ids, eot)?;
        info_nce(img, txt, self.scale.value())
    }
}

impl DualEncoder for SmallClip {
    fn embed_dim(&self) -> usize {
        self.text_proj.weight.dims()[1]
    }
    fn token_dim(&self) -> usize {
        self.text.d_model()
    }
    fn max_tokens(&self) -> usize {
        self.text.max_len()
    }
    fn image_features(&self, images: Tensor<4>) -> Result<Tensor<2>> {
        Ok(self.image.forward(images))
    }
    fn token_embeddings(&self, ids: Tensor<2, Int>) -> Result<Tensor<3>> {
        let w = self
            .text
            .token_embedding()
            .ok_or_else(|| Error::InvalidInput("text tower has no token embedding".into()))?;
        let [vocab, d] = w.dims();
        ember_core::ops::check_ids(&ids, vocab, "token id")?;
        let [b, t] = ids.dims();
        Ok(w.select(0, ids.reshape([b * t])).reshape([b, t, d]))
    }
    fn text_features_from_embeddings(&self, x: Tensor<3>, eot: &[usize]) -> Result<Tensor<2>> {
        let [b, t, d] = x.dims();
        if eot.len() != b || eot.iter().any(|&p| p >= t) {
            return Err(Error::Shape(format!(
                "pooling positions {eot:?} for {b} rows of {t} tokens"
            )));
        }
        let out = self
            .text
            .forward_with(TransformerInput::Embeddings(x), ForwardOptions::default())?;
        let rows: Vec<i64> = eot
            .iter()
            .enumerate()
            .map(|(i, &p)| (i * t + p) as i64)
            .collect();
        let device = out.last_hidden.device();
        let rows = Tensor::<1, Int>::from_data(TensorData::new(rows, [b]), &device);
        let pooled = out.last_hidden.reshape([b * t, d]).select(0, rows);
        Ok(self.text_proj.forward(pooled))
    }
    fn logit_scale(&self) -> Result<f64> {
        Ok(ember_core::ops::to_host(self.scale.value().exp())?[0] as f64)
    }
}
