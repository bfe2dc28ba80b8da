//! A tiny wav2vec2/HuBERT-shaped encoder: a convolutional feature extractor over log-mel
//! frames (`Conv1d(k=5, stride 2) → GELU → Conv1d(k=3) → GELU → LayerNorm`, 100 Hz → 50 Hz,
//! like wav2vec 2.0's 20 ms frames) followed by ember-core's pre-LN [`Transformer`] on
//! continuous inputs (`vocab_size = 0`, [`TransformerInput::Embeddings`]).
//!
//! Pre-training (HuBERT iteration 1): masked positions of the conv features are replaced by
//! a learned mask embedding and the last layer predicts each masked frame's k-means cluster,
//! `L = Σ_{t∈M} −log softmax(W·h_t)[c_t] / |M|` ([`SslEncoder::pretrain_loss`]). Once trained
//! the encoder is frozen and [`SslEncoder::layers`] exposes every hidden state (the
//! Transformer's input plus each block's output).

use burn::module::Param;
use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig, PaddingConfig1d};
use burn::prelude::*;
use burn::tensor::activation::gelu;
use ember_core::loss::masked_cross_entropy;
use ember_core::nn::transformer::TransformerInput;
use ember_core::nn::{ForwardOptions, Transformer, TransformerConfig};
use ember_core::{Error, Result};

/// Encoder configuration.
#[derive(Config, Debug)]
pub struct SslEncoderConfig {
    /// Input log-mel bands.
    pub n_mels: usize,
    /// Model width.
    pub d_model: usize,
    /// Attention heads.
    pub n_heads: usize,
    /// Transformer blocks.
    pub n_layers: usize,
    /// Feed-forward width.
    pub d_ff: usize,
    /// Longest input in log-mel frames.
    pub max_frames: usize,
    /// k-means clusters predicted in pre-training.
    #[config(default = 32)]
    pub n_clusters: usize,
    /// Dropout inside the Transformer.
    #[config(default = 0.1)]
    pub dropout: f64,
}

/// See the module docs.
#[derive(Module, Debug)]
pub struct SslEncoder {
    conv1: Conv1d,
    conv2: Conv1d,
    norm: LayerNorm,
    transformer: Transformer,
    mask_emb: Param<Tensor<1>>,
    predictor: Linear,
    n_mels: usize,
    max_frames: usize,
}

/// Output frames for `t` input frames (stride 2, "same" padding): `⌈t/2⌉`.
pub fn output_frames(t: usize) -> usize {
    t.div_ceil(2)
}

impl SslEncoderConfig {
    /// Build the encoder on `device`.
    pub fn init(&self, device: &Device) -> SslEncoder {
        let tcfg = TransformerConfig::new(
            0,
            self.d_model,
            self.n_heads,
            self.n_layers,
            self.d_ff,
            output_frames(self.max_frames),
        )
        .with_causal(false)
        .with_lm_head(false)
        .with_dropout(self.dropout);
        SslEncoder {
            conv1: Conv1dConfig::new(self.n_mels, self.d_model, 5)
                .with_stride(2)
                .with_padding(PaddingConfig1d::Explicit(2, 2))
                .init(device),
            conv2: Conv1dConfig::new(self.d_model, self.d_model, 3)
                .with_padding(PaddingConfig1d::Explicit(1, 1))
                .init(device),
            norm: LayerNormConfig::new(self.d_model).init(device),
            transformer: tcfg.init(device),
            mask_emb: Param::from_tensor(Tensor::random(
                [self.d_model],
                burn::tensor::Distribution::Normal(0.0, 0.02),
                device,
            )),
            predictor: LinearConfig::new(self.d_model, self.n_clusters).init(device),
            n_mels: self.n_mels,
            max_frames: self.max_frames,
        }
    }
}

impl SslEncoder {
    /// Number of exposed layers (`n_layers + 1`).
    pub fn n_outputs(&self) -> usize {
        self.transformer.n_layers() + 1
    }

    /// Model width.
    pub fn d_model(&self) -> usize {
        self.transformer.d_model()
    }

    /// Conv features `[B, ⌈T/2⌉, d]` of log-mel input `[B, T, n_mels]`.
    pub fn features(&self, fbank: Tensor<3>) -> Result<Tensor<3>> {
        let [_, t, m] = fbank.dims();
        if m != self.n_mels {
            return Err(Error::Shape(format!(
                "encoder: input has {m} mel bands, the encoder expects {}",
                self.n_mels
            )));
        }
        if t == 0 || t > self.max_frames {
            return Err(Error::Shape(format!(
                "encoder: {t} frames outside 1..={}",
                self.max_frames
            )));
        }
        let x = gelu(self.conv1.forward(fbank.swap_dims(1, 2)));
        let x = gelu(self.conv2.forward(x));
        Ok(self.norm.forward(x.swap_dims(1, 2)))
    }

    /// Every hidden state, `n_layers + 1` tensors `[B, ⌈T/2⌉, d]`.
    pub fn layers(&self, fbank: Tensor<3>) -> Result<Vec<Tensor<3>>> {
        let x = self.features(fbank)?;
        Ok(self
            .transformer
            .forward_with(
                TransformerInput::Embeddings(x),
                ForwardOptions::hidden_states(),
            )?
            .hidden_states)
    }

    /// Masked cluster prediction loss. `mask: [B, T']` (true = masked), `targets: [B, T']`
    /// cluster ids, `T' = ⌈T/2⌉`.
    pub fn pretrain_loss(
        &self,
        fbank: Tensor<3>,
        mask: Tensor<2, Bool>,
        targets: Tensor<2, Int>,
    ) -> Result<Tensor<1>> {
        let x = self.features(fbank)?;
        let [b, t, d] = x.dims();
        if mask.dims() != [b, t] || targets.dims() != [b, t] {
            return Err(Error::Shape(format!(
                "pretrain: mask {:?} / targets {:?}, features are [{b}, {t}]",
                mask.dims(),
                targets.dims()
            )));
        }
        let m = mask.clone().float().reshape([b, t, 1]);
        let x = x * (m.clone().neg() + 1.0) + self.mask_emb.val().reshape([1, 1, d]) * m;
        let h = self
            .transformer
            .forward_with(TransformerInput::Embeddings(x), ForwardOptions::default())?
            .last_hidden;
        let c = self.predictor.weight.dims()[1];
        let logits = self.predictor.forward(h).reshape([b * t, c]);
        masked_cross_entropy(
            logits,
            targets.reshape([b * t]),
            mask.float().reshape([b * t]),
        )
    }
}
