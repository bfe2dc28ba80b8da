//! wav2vec 2.0 and HuBERT speech encoders from Hugging Face checkpoints (`model_type`
//! `wav2vec2`, `hubert`). The two share one layout, told apart by configuration; WavLM
//! reuses all of it and adds its gated relative position bias ([`super::wavlm`]).
//!
//! ```text
//! waveform [B, N]
//!  -> conv_l (stride s_l) -> norm_l -> act, l = 0..       feature_extractor.conv_layers.{l}
//!     norm: "group": GroupNorm(C, C) on layer 0 only; "layer": LayerNorm over channels, all layers
//!  -> [B, T, C] -> LayerNorm = extract_features            feature_projection.layer_norm
//!  -> Linear(C, D)                                          feature_projection.projection
//!  -> x + act(conv_pos(x)), grouped, kernel K, weight norm g·v/‖v‖  encoder.pos_conv_embed
//!  post-LN (do_stable_layer_norm = false):
//!     x = LN(x); hs[0] = x;  a = LN_1(x + Attn(x)); x = LN_2(a + FF(a))    encoder.layers.{i}
//!  pre-LN (true):
//!     hs[0] = x;  a = x + Attn(LN_1(x)); x = a + FF(LN_2(a));  hs[L] = LN(x) (encoder.layer_norm)
//! ```
//! `hs` is transformers' `output_hidden_states`: `L + 1` entries, the last one equal to
//! `last_hidden_state`.

use burn::module::{Param, ParamId};
use burn::nn::{LayerNorm, Linear};
use burn::prelude::*;
use burn::tensor::module::{attention, conv1d};
use burn::tensor::ops::{AttentionModuleOptions, ConvOptions};

use super::config::HfConfig;
use super::layers::{HfActivation, dense, layer_norm, linear, merge_heads, split_heads};
use super::speech::{SpeechArchitecture, SpeechOutput};
use super::wavlm::{RelPosGate, RelPositionBias};
use super::weights::Weights;
use crate::error::{Error, Result};

/// Normalisation inside the conv feature encoder (`feat_extract_norm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatExtractNorm {
    /// `group`: per-channel GroupNorm after the first conv only (base models).
    Group,
    /// `layer`: LayerNorm over channels after every conv (large / stable-layer-norm models).
    Layer,
}

/// Shape and options of a wav2vec2 / HuBERT / WavLM encoder, read from `config.json`.
#[derive(Debug, Clone)]
pub struct Wav2Vec2Config {
    /// Which family (HuBERT may drop the projection's layer norm; WavLM adds its bias).
    pub arch: SpeechArchitecture,
    /// Output channels of each feature-encoder conv.
    pub conv_dim: Vec<usize>,
    /// Kernel of each feature-encoder conv.
    pub conv_kernel: Vec<usize>,
    /// Stride of each feature-encoder conv.
    pub conv_stride: Vec<usize>,
    /// Whether the feature-encoder convs have a bias.
    pub conv_bias: bool,
    /// Norm in the feature encoder.
    pub feat_extract_norm: FeatExtractNorm,
    /// Activation of the feature encoder and the positional conv.
    pub feat_extract_activation: HfActivation,
    /// Transformer width.
    pub hidden_size: usize,
    /// Transformer blocks.
    pub num_layers: usize,
    /// Attention heads.
    pub num_heads: usize,
    /// MLP width.
    pub intermediate_size: usize,
    /// MLP activation.
    pub hidden_act: HfActivation,
    /// LayerNorm epsilon of the projection and the transformer.
    pub layer_norm_eps: f64,
    /// Kernel of the positional conv.
    pub num_conv_pos_embeddings: usize,
    /// Groups of the positional conv.
    pub num_conv_pos_embedding_groups: usize,
    /// Pre-LN blocks and a final LayerNorm (`true`) or post-LN blocks (`false`).
    pub do_stable_layer_norm: bool,
    /// LayerNorm before the feature projection (always for wav2vec2 / WavLM).
    pub feat_proj_layer_norm: bool,
    /// WavLM relative-position buckets.
    pub num_buckets: usize,
    /// WavLM largest bucketed distance.
    pub max_bucket_distance: usize,
}

impl Wav2Vec2Config {
    /// Read and validate the fields of `cfg` for `arch`.
    pub fn from_hf(cfg: &HfConfig, arch: SpeechArchitecture) -> Result<Self> {
        let conv_dim = cfg.size_list("conv_dim")?;
        let conv_kernel = cfg.size_list("conv_kernel")?;
        let conv_stride = cfg.size_list("conv_stride")?;
        cfg.ensure(
            conv_kernel.len() == conv_dim.len() && conv_stride.len() == conv_dim.len(),
            || {
                format!(
                    "conv_dim, conv_kernel, conv_stride must have one entry per conv layer, got {}, {}, {}",
                    conv_dim.len(),
                    conv_kernel.len(),
                    conv_stride.len()
                )
            },
        )?;
        if let Some(n) = cfg.opt_size("num_feat_extract_layers")? {
            cfg.ensure(n == conv_dim.len(), || {
                format!(
                    "num_feat_extract_layers {n} disagrees with conv_dim ({} entries)",
                    conv_dim.len()
                )
            })?;
        }
        let feat_extract_norm = match cfg.opt_string("feat_extract_norm")?.as_deref() {
            None | Some("group") => FeatExtractNorm::Group,
            Some("layer") => FeatExtractNorm::Layer,
            Some(other) => {
                return Err(Error::format(
                    cfg.path(),
                    format!("feat_extract_norm {other:?} is not supported (group, layer)"),
                ));
            }
        };
        let act = |key: &str| {
            HfActivation::parse(&cfg.opt_string(key)?.unwrap_or_else(|| "gelu".into()), cfg)
        };
        let c = Self {
            arch,
            conv_bias: cfg.bool_or("conv_bias", false)?,
            feat_extract_norm,
            feat_extract_activation: act("feat_extract_activation")?,
            hidden_size: cfg.size("hidden_size")?,
            num_layers: cfg.size("num_hidden_layers")?,
            num_heads: cfg.size("num_attention_heads")?,
            intermediate_size: cfg.size("intermediate_size")?,
            hidden_act: act("hidden_act")?,
            layer_norm_eps: cfg.epsilon("layer_norm_eps", 1e-5)?,
            num_conv_pos_embeddings: cfg.opt_size("num_conv_pos_embeddings")?.unwrap_or(128),
            num_conv_pos_embedding_groups: cfg
                .opt_size("num_conv_pos_embedding_groups")?
                .unwrap_or(16),
            do_stable_layer_norm: cfg.bool_or("do_stable_layer_norm", false)?,
            feat_proj_layer_norm: arch != SpeechArchitecture::Hubert
                || cfg.bool_or("feat_proj_layer_norm", true)?,
            num_buckets: cfg.opt_size("num_buckets")?.unwrap_or(320),
            max_bucket_distance: cfg.opt_size("max_bucket_distance")?.unwrap_or(800),
            conv_dim,
            conv_kernel,
            conv_stride,
        };
        cfg.ensure(c.hidden_size.is_multiple_of(c.num_heads), || {
            format!(
                "num_attention_heads {} must divide hidden_size {}",
                c.num_heads, c.hidden_size
            )
        })?;
        cfg.ensure(
            c.hidden_size
                .is_multiple_of(c.num_conv_pos_embedding_groups),
            || {
                format!(
                    "num_conv_pos_embedding_groups {} must divide hidden_size {}",
                    c.num_conv_pos_embedding_groups, c.hidden_size
                )
            },
        )?;
        // Variants whose extra modules are not implemented: refuse rather than run a
        // different network.
        cfg.ensure(!cfg.bool_or("conv_pos_batch_norm", false)?, || {
            "conv_pos_batch_norm = true (batch-norm positional conv) is not supported".into()
        })?;
        cfg.ensure(!cfg.bool_or("add_adapter", false)?, || {
            "add_adapter = true (the adapter after the encoder) is not supported".into()
        })?;
        if arch == SpeechArchitecture::WavLm {
            cfg.ensure(
                c.num_buckets >= 4 && c.max_bucket_distance > c.num_buckets / 4,
                || {
                    format!(
                        "num_buckets {} must be ≥ 4 and max_bucket_distance {} above num_buckets / 4",
                        c.num_buckets, c.max_bucket_distance
                    )
                },
            )?;
        }
        Ok(c)
    }

    /// Frames the conv feature encoder makes of `num_samples` samples (0 if too short),
    /// as transformers' `_get_feat_extract_output_lengths`.
    pub fn num_frames(&self, num_samples: usize) -> usize {
        self.conv_kernel
            .iter()
            .zip(&self.conv_stride)
            .fold(
                num_samples,
                |n, (&k, &s)| if n < k { 0 } else { (n - k) / s + 1 },
            )
    }

    /// A batch of `b` waveforms of `n` samples must be non-empty and give one frame.
    pub fn check_samples(&self, b: usize, n: usize) -> Result<()> {
        if b == 0 {
            return Err(Error::Shape(format!("empty waveform batch [{b}, {n}]")));
        }
        let min = self.min_samples();
        if n < min {
            return Err(Error::Shape(format!(
                "waveforms of {n} samples are too short: the conv feature encoder (kernels {:?}, strides {:?}) needs at least {min} samples for one frame",
                self.conv_kernel, self.conv_stride
            )));
        }
        Ok(())
    }

    /// The fewest samples that give one frame.
    pub fn min_samples(&self) -> usize {
        self.conv_kernel
            .iter()
            .zip(&self.conv_stride)
            .rev()
            .fold(1, |n, (&k, &s)| (n - 1) * s + k)
    }
}

/// GroupNorm with one group per channel over `[B, C, T]` (normalises each channel over time).
#[derive(Module, Debug)]
pub struct ChannelNorm {
    gamma: Param<Tensor<1>>,
    beta: Param<Tensor<1>>,
    eps: f64,
}

impl ChannelNorm {
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [c] = self.gamma.dims();
        let (var, mean) = x.clone().var_mean_bias(2);
        (x - mean) / (var + self.eps).sqrt() * self.gamma.val().reshape([1, c, 1])
            + self.beta.val().reshape([1, c, 1])
    }
}

/// One conv of the feature encoder.
#[derive(Module, Debug)]
pub struct FeatureConv {
    weight: Param<Tensor<3>>,
    bias: Option<Param<Tensor<1>>>,
    group_norm: Option<ChannelNorm>,
    layer_norm: Option<LayerNorm>,
    stride: usize,
}

impl FeatureConv {
    fn forward(&self, x: Tensor<3>, act: HfActivation) -> Tensor<3> {
        let x = conv1d(
            x,
            self.weight.val(),
            self.bias.as_ref().map(|b| b.val()),
            ConvOptions::new([self.stride], [0], [1], 1),
        );
        let x = match (&self.group_norm, &self.layer_norm) {
            (Some(g), _) => g.forward(x),
            (None, Some(ln)) => ln.forward(x.swap_dims(1, 2)).swap_dims(1, 2),
            (None, None) => x,
        };
        act.forward(x)
    }
}

/// How the positional conv's weight is stored, so `save_pretrained` writes it back alike.
#[derive(Debug, Clone)]
pub enum PosConvWeight {
    /// One `weight` tensor (weight norm already removed).
    Plain(String),
    /// Weight norm over dim 2: magnitude `g` `[1, 1, K]` and direction `v` `[D, D/G, K]`
    /// (`weight_g` / `weight_v`, or `parametrizations.weight.original0` / `original1`).
    WeightNorm {
        /// The magnitude's name.
        g: String,
        /// The direction's name.
        v: String,
    },
}

/// The convolutional positional embedding (grouped conv, "same" padding, activation).
///
/// A weight-normed checkpoint keeps its parametrisation: `weight` holds the direction `v`
/// `[D, D/G, K]` and `magnitude` the `g` `[1, 1, K]`, and the forward pass computes
/// `w = g · v / ‖v‖` (the norm over all dims but the kernel position, as
/// `weight_norm(conv, dim=2)`), as PyTorch does. So fine-tuning trains `g` and `v` as the
/// original does, and `save_pretrained` writes back exactly the tensors it read.
#[derive(Module, Debug)]
pub struct PosConv {
    weight: Param<Tensor<3>>,
    magnitude: Option<Param<Tensor<3>>>,
    bias: Param<Tensor<1>>,
    kernel: usize,
    groups: usize,
}

impl PosConv {
    /// Load `{prefix}.weight` or its weight-norm pair (`weight_g` / `weight_v`, or
    /// `parametrizations.weight.original0` / `original1`). Errors: a direction that is all
    /// zero at some kernel position (the norm would divide by zero).
    fn load(
        w: &Weights,
        prefix: &str,
        d: usize,
        groups: usize,
        kernel: usize,
        device: &Device,
    ) -> Result<(Self, PosConvWeight)> {
        let shape = [d, d / groups, kernel];
        let pairs = [
            (
                "parametrizations.weight.original0",
                "parametrizations.weight.original1",
            ),
            ("weight_g", "weight_v"),
        ];
        let (weight, magnitude, source) = match pairs.iter().find(|(g, v)| {
            w.contains(&format!("{prefix}.{g}")) || w.contains(&format!("{prefix}.{v}"))
        }) {
            Some((g, v)) => {
                let (g, v) = (format!("{prefix}.{g}"), format!("{prefix}.{v}"));
                let gv = w.host(&g, &[1, 1, kernel])?;
                let vv = w.host(&v, &shape)?;
                if let Some(k) = zero_kernel_position(&vv, kernel) {
                    return Err(Error::format(
                        w.file_of(&v),
                        format!(
                            "tensor {v:?} is all zero at kernel position {k}: weight norm undefined"
                        ),
                    ));
                }
                let t = |data: Vec<f32>, s: [usize; 3]| {
                    Param::from_tensor(Tensor::from_data(TensorData::new(data, s), device))
                };
                (
                    t(vv, shape),
                    Some(t(gv, [1, 1, kernel])),
                    PosConvWeight::WeightNorm { g, v },
                )
            }
            None => {
                let name = format!("{prefix}.weight");
                (
                    w.param(&name, shape, device)?,
                    None,
                    PosConvWeight::Plain(name),
                )
            }
        };
        let conv = Self {
            weight,
            magnitude,
            bias: w.param(&format!("{prefix}.bias"), [d], device)?,
            kernel,
            groups,
        };
        Ok((conv, source))
    }

    /// The ids of the weight (`v` when weight-normed) and of the magnitude `g`, if any.
    pub(crate) fn weight_ids(&self) -> (ParamId, Option<ParamId>) {
        (self.weight.id, self.magnitude.as_ref().map(|m| m.id))
    }

    /// The conv kernel: `weight`, or `g · v / ‖v‖`.
    fn kernel_weight(&self) -> Tensor<3> {
        let v = self.weight.val();
        match &self.magnitude {
            None => v,
            Some(g) => {
                let norm = v.clone().powf_scalar(2.0).sum_dim(0).sum_dim(1).sqrt();
                v * (g.val() / norm)
            }
        }
    }

    /// `[B, T, D]` -> `act(conv(x))` `[B, T, D]`.
    fn forward(&self, x: Tensor<3>, act: HfActivation) -> Tensor<3> {
        let [_, t, _] = x.dims();
        let y = conv1d(
            x.swap_dims(1, 2),
            self.kernel_weight(),
            Some(self.bias.val()),
            ConvOptions::new([1], [self.kernel / 2], [1], self.groups),
        );
        // An even kernel yields one frame too many; transformers drops the last.
        let [b, d, _] = y.dims();
        act.forward(y.slice([0..b, 0..d, 0..t])).swap_dims(1, 2)
    }
}

/// The first kernel position where `v` (row-major `[.., .., K]`) is all zero, if any.
fn zero_kernel_position(v: &[f32], kernel: usize) -> Option<usize> {
    let mut nonzero = vec![false; kernel];
    for (i, x) in v.iter().enumerate() {
        nonzero[i % kernel] |= *x != 0.0;
    }
    nonzero.iter().position(|&n| !n)
}

/// Self-attention with q/k/v/out projections (all with bias) and an optional additive bias.
#[derive(Module, Debug)]
pub struct SpeechAttention {
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
}

impl SpeechAttention {
    fn forward(&self, x: Tensor<3>, h: usize, bias: Option<Tensor<4>>) -> Tensor<3> {
        let [_, _, d] = x.dims();
        let q = split_heads(dense(&self.q, x.clone()), h);
        let k = split_heads(dense(&self.k, x.clone()), h);
        let v = split_heads(dense(&self.v, x), h);
        let ctx = attention(
            q,
            k,
            v,
            None,
            bias,
            AttentionModuleOptions {
                scale: Some(1.0 / ((d / h) as f64).sqrt()),
                softcap: None,
                is_causal: false,
            },
        );
        dense(&self.out, merge_heads(ctx))
    }
}

/// One transformer block (post-LN or pre-LN by configuration).
#[derive(Module, Debug)]
pub struct EncoderLayer {
    attention: SpeechAttention,
    layer_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    final_layer_norm: LayerNorm,
    /// WavLM's per-layer gate on the shared relative position bias.
    gate: Option<RelPosGate>,
}

impl EncoderLayer {
    fn forward(&self, x: Tensor<3>, c: &Wav2Vec2Config, rel_bias: Option<&Tensor<4>>) -> Tensor<3> {
        let h = c.num_heads;
        let ff = |a: Tensor<3>| {
            dense(
                &self.output,
                c.hidden_act.forward(dense(&self.intermediate, a)),
            )
        };
        let attn_in = if c.do_stable_layer_norm {
            self.layer_norm.forward(x.clone())
        } else {
            x.clone()
        };
        let bias = match (&self.gate, rel_bias) {
            (Some(g), Some(b)) => Some(g.gated_bias(attn_in.clone(), h, b)),
            _ => None,
        };
        let a = x + self.attention.forward(attn_in, h, bias);
        if c.do_stable_layer_norm {
            let f = self.final_layer_norm.forward(a.clone());
            a + ff(f)
        } else {
            let a = self.layer_norm.forward(a);
            self.final_layer_norm.forward(a.clone() + ff(a))
        }
    }
}

/// A wav2vec2 / HuBERT / WavLM encoder (the `*Model` of transformers, no task head).
#[derive(Module, Debug)]
pub struct Wav2Vec2 {
    convs: Vec<FeatureConv>,
    proj_norm: Option<LayerNorm>,
    projection: Linear,
    pos_conv: PosConv,
    encoder_norm: LayerNorm,
    layers: Vec<EncoderLayer>,
    rel_bias: Option<RelPositionBias>,
    #[module(skip)]
    cfg: Wav2Vec2Config,
}

impl Wav2Vec2 {
    /// Build from `weights` (names with or without the `wav2vec2.` / `hubert.` / `wavlm.`
    /// prefix of task-head checkpoints). Also returns how the positional conv was stored.
    pub fn load(c: Wav2Vec2Config, w: &Weights, device: &Device) -> Result<(Self, PosConvWeight)> {
        let base = [c.arch.model_type(), ""]
            .into_iter()
            .map(|p| if p.is_empty() { String::new() } else { format!("{p}.") })
            .find(|p| w.contains(&format!("{p}feature_projection.projection.weight")))
            .ok_or_else(|| {
                Error::format(
                    w.file_of(""),
                    format!(
                        "tensor \"feature_projection.projection.weight\" (with or without a {}. prefix) is missing",
                        c.arch.model_type()
                    ),
                )
            })?;
        let mut convs = Vec::with_capacity(c.conv_dim.len());
        let mut c_in = 1;
        for (l, ((&c_out, &k), &s)) in c
            .conv_dim
            .iter()
            .zip(&c.conv_kernel)
            .zip(&c.conv_stride)
            .enumerate()
        {
            let p = format!("{base}feature_extractor.conv_layers.{l}");
            let norm = format!("{p}.layer_norm");
            let (group_norm, layer_norm) = match c.feat_extract_norm {
                FeatExtractNorm::Group if l == 0 => (
                    Some(ChannelNorm {
                        gamma: w.param(&format!("{norm}.weight"), [c_out], device)?,
                        beta: w.param(&format!("{norm}.bias"), [c_out], device)?,
                        eps: 1e-5,
                    }),
                    None,
                ),
                FeatExtractNorm::Group => (None, None),
                // nn.LayerNorm(out) with its default eps, not the config's.
                FeatExtractNorm::Layer => (None, Some(layer_norm(w, &norm, c_out, 1e-5, device)?)),
            };
            convs.push(FeatureConv {
                weight: w.param(&format!("{p}.conv.weight"), [c_out, c_in, k], device)?,
                bias: if c.conv_bias {
                    Some(w.param(&format!("{p}.conv.bias"), [c_out], device)?)
                } else {
                    None
                },
                group_norm,
                layer_norm,
                stride: s,
            });
            c_in = c_out;
        }
        let (d, f, eps) = (c.hidden_size, c.intermediate_size, c.layer_norm_eps);
        let proj_norm = if c.feat_proj_layer_norm {
            Some(layer_norm(
                w,
                &format!("{base}feature_projection.layer_norm"),
                c_in,
                eps,
                device,
            )?)
        } else {
            None
        };
        let projection = linear(
            w,
            &format!("{base}feature_projection.projection"),
            c_in,
            d,
            true,
            device,
        )?;
        let (pos_conv, pos_source) = PosConv::load(
            w,
            &format!("{base}encoder.pos_conv_embed.conv"),
            d,
            c.num_conv_pos_embedding_groups,
            c.num_conv_pos_embeddings,
            device,
        )?;
        let encoder_norm = layer_norm(w, &format!("{base}encoder.layer_norm"), d, eps, device)?;
        let wavlm = c.arch == SpeechArchitecture::WavLm;
        let mut layers = Vec::with_capacity(c.num_layers);
        for i in 0..c.num_layers {
            let p = format!("{base}encoder.layers.{i}");
            let a = format!("{p}.attention");
            layers.push(EncoderLayer {
                attention: SpeechAttention {
                    q: linear(w, &format!("{a}.q_proj"), d, d, true, device)?,
                    k: linear(w, &format!("{a}.k_proj"), d, d, true, device)?,
                    v: linear(w, &format!("{a}.v_proj"), d, d, true, device)?,
                    out: linear(w, &format!("{a}.out_proj"), d, d, true, device)?,
                },
                layer_norm: layer_norm(w, &format!("{p}.layer_norm"), d, eps, device)?,
                intermediate: linear(
                    w,
                    &format!("{p}.feed_forward.intermediate_dense"),
                    d,
                    f,
                    true,
                    device,
                )?,
                output: linear(
                    w,
                    &format!("{p}.feed_forward.output_dense"),
                    f,
                    d,
                    true,
                    device,
                )?,
                final_layer_norm: layer_norm(w, &format!("{p}.final_layer_norm"), d, eps, device)?,
                gate: if wavlm {
                    Some(RelPosGate::load(
                        w,
                        &a,
                        c.num_heads,
                        d / c.num_heads,
                        device,
                    )?)
                } else {
                    None
                },
            });
        }
        // WavLM: only layer 0 holds the bucket table; its bias is shared by every layer.
        let rel_bias = if wavlm {
            Some(RelPositionBias::load(
                w,
                &format!("{base}encoder.layers.0.attention.rel_attn_embed.weight"),
                c.num_buckets,
                c.num_heads,
                c.max_bucket_distance,
                device,
            )?)
        } else {
            None
        };
        Ok((
            Self {
                convs,
                proj_norm,
                projection,
                pos_conv,
                encoder_norm,
                layers,
                rel_bias,
                cfg: c,
            },
            pos_source,
        ))
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &Wav2Vec2Config {
        &self.cfg
    }

    /// The ids of the positional conv's weight (`v` when weight-normed) and magnitude `g`.
    pub(crate) fn pos_conv_weight_ids(&self) -> (ParamId, Option<ParamId>) {
        self.pos_conv.weight_ids()
    }

    /// Run on raw (already normalised, if the checkpoint expects it) waveforms `[B, N]`.
    /// Errors on an empty batch or waveforms too short for one frame; finiteness is
    /// checked by [`super::speech::SpeechEncoder::forward`].
    pub fn forward(&self, waveforms: Tensor<2>) -> Result<SpeechOutput> {
        let c = &self.cfg;
        let [b, n] = waveforms.dims();
        c.check_samples(b, n)?;
        let mut x = waveforms.reshape([b, 1, n]);
        for conv in &self.convs {
            x = conv.forward(x, c.feat_extract_activation);
        }
        let feats = x.swap_dims(1, 2);
        let extract_features = match &self.proj_norm {
            Some(ln) => ln.forward(feats),
            None => feats,
        };
        let x = self.projection.forward(extract_features.clone());
        let (hidden_states, last_hidden_state) = self.encode(x);
        Ok(SpeechOutput {
            extract_features,
            hidden_states,
            last_hidden_state,
        })
    }

    /// The transformer encoder on projected features `[B, T, D]`.
    fn encode(&self, x: Tensor<3>) -> (Vec<Tensor<3>>, Tensor<3>) {
        let c = &self.cfg;
        let pos = self.pos_conv.forward(x.clone(), c.feat_extract_activation);
        let mut x = x + pos;
        if !c.do_stable_layer_norm {
            x = self.encoder_norm.forward(x);
        }
        let [b, t, _] = x.dims();
        let rel_bias = self.rel_bias.as_ref().map(|r| {
            let h = c.num_heads;
            r.forward(t, &x.device())
                .reshape([1, h, t, t])
                .expand([b, h, t, t])
        });
        let mut hidden_states = Vec::with_capacity(c.num_layers + 1);
        for layer in &self.layers {
            hidden_states.push(x.clone());
            x = layer.forward(x, c, rel_bias.as_ref());
        }
        if c.do_stable_layer_norm {
            x = self.encoder_norm.forward(x);
        }
        hidden_states.push(x.clone());
        (hidden_states, x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_norm_is_applied_over_the_kernel_dim() {
        // v [2, 1, 2]: column k=0 is (3, 4) (norm 5), k=1 is (0, 2) (norm 2).
        // ember's default backend (a CPU one), not Burn's `Device::default()`, which prefers
        // wgpu when it is compiled in and would claim the wgpu service for this process.
        let device = crate::backend::device(crate::backend::default_backend().unwrap()).unwrap();
        let p = |d: Vec<f32>, s: [usize; 3]| {
            Param::from_tensor(Tensor::from_data(TensorData::new(d, s), &device))
        };
        let conv = PosConv {
            weight: p(vec![3.0, 0.0, 4.0, 2.0], [2, 1, 2]),
            magnitude: Some(p(vec![10.0, 1.0], [1, 1, 2])),
            bias: Param::from_tensor(Tensor::zeros([2], &device)),
            kernel: 2,
            groups: 1,
        };
        let w = crate::host::to_host(conv.kernel_weight()).unwrap();
        assert_eq!(w, vec![6.0, 0.0, 8.0, 1.0]);
        assert_eq!(zero_kernel_position(&[0.0, 1.0, 0.0, 1.0], 2), Some(0));
        assert_eq!(zero_kernel_position(&[3.0, 0.0, 4.0, 2.0], 2), None);
    }
}
