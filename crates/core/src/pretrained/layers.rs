//! Pieces every pretrained architecture shares: modules built from named tensors, the
//! Hugging Face activations, rotary embeddings (`rotate_half` convention, partial), grouped
//! key/value heads, attention masks and the key/value cache.

use crate::nn::activation::gelu;
use burn::nn::{Embedding, LayerNorm, LayerNormConfig, Linear, RmsNorm, RmsNormConfig};
use burn::prelude::*;
use burn::tensor::activation::{gelu_approximate, relu, sigmoid, silu};
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;

use super::config::HfConfig;
use super::weights::Weights;
use crate::error::{Error, Result};
use crate::nn::intervention::LayerEdit;
use crate::nn::transformer::{ForwardOptions, MlpCapture, TransformerInput, TransformerOutput};

/// A Hugging Face `hidden_act` / `activation_function`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HfActivation {
    /// `gelu`: the exact erf form.
    Gelu,
    /// `gelu_new`, `gelu_pytorch_tanh`, `gelu_fast`: the tanh approximation.
    GeluTanh,
    /// `quick_gelu`: `x σ(1.702 x)` (CLIP).
    QuickGelu,
    /// `relu`.
    Relu,
    /// `silu` / `swish`.
    Silu,
}

impl HfActivation {
    /// Parse the name used in `config.json`.
    pub fn parse(name: &str, cfg: &HfConfig) -> Result<Self> {
        Ok(match name {
            "gelu" => Self::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Self::GeluTanh,
            "quick_gelu" => Self::QuickGelu,
            "relu" => Self::Relu,
            "silu" | "swish" => Self::Silu,
            other => {
                return Err(Error::format(
                    cfg.path(),
                    format!(
                        "activation {other:?} is not supported (gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, quick_gelu, relu, silu)"
                    ),
                ));
            }
        })
    }

    /// Apply element-wise.
    pub fn forward<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Self::Gelu => gelu(x),
            Self::GeluTanh => gelu_approximate(x),
            Self::QuickGelu => x.clone() * sigmoid(x * 1.702),
            Self::Relu => relu(x),
            Self::Silu => silu(x),
        }
    }
}

/// `nn.Linear` `{prefix}.weight` `[out, in]` (+ `{prefix}.bias`) as a Burn [`Linear`].
pub fn linear(
    w: &Weights,
    prefix: &str,
    d_in: usize,
    d_out: usize,
    bias: bool,
    device: &Device,
) -> Result<Linear> {
    let weight = w.linear_param(&format!("{prefix}.weight"), d_in, d_out, device)?;
    let bias = if bias {
        Some(w.param(&format!("{prefix}.bias"), [d_out], device)?)
    } else {
        None
    };
    Ok(Linear { weight, bias })
}

/// `l(x)` for `[B, T, D]` as one `[B·T, D] × [D, N]` matmul. Burn keeps a batched linear
/// in its batched form when `T` is a multiple of 32 (`MatmulTransformPolicy`), which packs and
/// streams the weight once per sequence; folding the batch into the rows does it once per
/// call (the reshapes are views of a contiguous tensor).
pub fn dense(l: &Linear, x: Tensor<3>) -> Tensor<3> {
    let [b, t, d] = x.dims();
    let y = l.forward(x.reshape([b * t, d]));
    let n = y.dims()[1];
    y.reshape([b, t, n])
}

/// A GPT-2 `Conv1D` (`weight [in, out]`, `bias [out]`, stored untransposed) as a [`Linear`].
pub fn conv1d(
    w: &Weights,
    prefix: &str,
    d_in: usize,
    d_out: usize,
    device: &Device,
) -> Result<Linear> {
    Ok(Linear {
        weight: w.param(&format!("{prefix}.weight"), [d_in, d_out], device)?,
        bias: Some(w.param(&format!("{prefix}.bias"), [d_out], device)?),
    })
}

/// `nn.LayerNorm` `{prefix}.weight` / `.bias` (older BERT files: `.gamma` / `.beta`).
pub fn layer_norm(
    w: &Weights,
    prefix: &str,
    d: usize,
    eps: f64,
    device: &Device,
) -> Result<LayerNorm> {
    let (g, b) = if w.contains(&format!("{prefix}.gamma")) {
        ("gamma", "beta")
    } else {
        ("weight", "bias")
    };
    let mut ln = LayerNormConfig::new(d).with_epsilon(eps).init(device);
    ln.gamma = w.param(&format!("{prefix}.{g}"), [d], device)?;
    ln.beta = Some(w.param(&format!("{prefix}.{b}"), [d], device)?);
    Ok(ln)
}

/// Llama-style RMSNorm `{prefix}.weight`.
pub fn rms_norm(w: &Weights, prefix: &str, d: usize, eps: f64, device: &Device) -> Result<RmsNorm> {
    let mut n = RmsNormConfig::new(d).with_epsilon(eps).init(device);
    n.gamma = w.param(&format!("{prefix}.weight"), [d], device)?;
    Ok(n)
}

/// `nn.Embedding` `{name}` `[n, d]`.
pub fn embedding(
    w: &Weights,
    name: &str,
    n: usize,
    d: usize,
    device: &Device,
) -> Result<Embedding> {
    Ok(Embedding {
        weight: w.param(name, [n, d], device)?,
    })
}

/// Token ids `[B, T]` read to the host and checked against the vocabulary before any
/// gather (an id out of range would otherwise panic inside the backend).
pub fn host_ids(ids: &Tensor<2, Int>, vocab: usize) -> Result<Vec<i64>> {
    let v = crate::host::read_as::<i64, 2, Int>(ids.clone(), "token ids")?;
    if let Some(bad) = v.iter().find(|&&x| x < 0 || x as u64 >= vocab as u64) {
        return Err(Error::InvalidInput(format!(
            "token id {bad} outside the vocabulary 0..{vocab}"
        )));
    }
    Ok(v)
}

/// The checks every architecture makes on [`ForwardOptions`] before running.
pub fn check_forward(
    opts: &ForwardOptions,
    b: usize,
    t: usize,
    n_layers: usize,
    d_ff: usize,
    has_head: bool,
) -> Result<()> {
    if b == 0 || t == 0 {
        return Err(Error::Shape(format!("empty input [{b}, {t}]")));
    }
    if let Some(m) = &opts.pad_mask
        && m.dims() != [b, t]
    {
        return Err(Error::Shape(format!(
            "pad_mask is {:?}, input is [{b}, {t}]",
            m.dims()
        )));
    }
    if opts.logits && !has_head {
        return Err(Error::InvalidInput(
            "logits requested but the checkpoint has no LM head".into(),
        ));
    }
    if let Some(plan) = &opts.intervention {
        plan.validate(n_layers, d_ff)?;
    }
    Ok(())
}

/// The intervention of `opts` compiled to one optional affine edit per layer.
pub fn compile_edits(
    opts: &ForwardOptions,
    n_layers: usize,
    d_ff: usize,
    device: &Device,
) -> Result<Vec<Option<(Tensor<1>, Tensor<1>)>>> {
    Ok(match &opts.intervention {
        Some(plan) if !plan.is_empty() => {
            plan.validate(n_layers, d_ff)?;
            plan.compile(n_layers, d_ff, device)
        }
        _ => vec![None; n_layers],
    })
}

/// The intervention of `opts` compiled to one [`LayerEdit`] per layer (every [`Site`]), for a
/// call covering absolute positions `past..past + t`.
///
/// [`Site`]: crate::nn::intervention::Site
pub fn compile_layer_edits(
    opts: &ForwardOptions,
    widths: (usize, usize, usize),
    past: usize,
    t: usize,
    device: &Device,
) -> Result<Vec<LayerEdit>> {
    let (n_layers, d_ff, d_model) = widths;
    Ok(match &opts.intervention {
        Some(plan) if !plan.is_empty() => {
            plan.validate_sites(n_layers, d_ff, d_model)?;
            plan.compile_layers(n_layers, d_ff, d_model, past, t, device)
        }
        _ => vec![LayerEdit::default(); n_layers],
    })
}

/// Rotary position embedding, `rotate_half` convention (Llama, Qwen2, GPT-NeoX), applied to
/// the first `rot_dims` of each head (GPT-NeoX's partial rotary).
#[derive(Debug, Clone)]
pub struct Rope {
    inv_freq: Vec<f32>,
    rot_dims: usize,
}

impl Rope {
    /// Read `rope_theta` / `rope_parameters` (types `default`, `linear`, `llama3`) and
    /// `partial_rotary_factor` for heads of width `head_dim`.
    pub fn from_config(cfg: &HfConfig, head_dim: usize) -> Result<Self> {
        let pos = |x: f64| x > 0.0;
        let params = if cfg.has("rope_parameters") {
            "rope_parameters."
        } else if cfg.has("rope_scaling") {
            "rope_scaling."
        } else {
            ""
        };
        let theta_key = if cfg.has(&format!("{params}rope_theta")) {
            format!("{params}rope_theta")
        } else {
            "rope_theta".to_string()
        };
        let theta = cfg.float_or(&theta_key, 10_000.0, pos, "> 0")?;
        let partial_key = if cfg.has(&format!("{params}partial_rotary_factor")) {
            format!("{params}partial_rotary_factor")
        } else {
            "partial_rotary_factor".to_string()
        };
        let partial = cfg.float_or(&partial_key, 1.0, |x| x > 0.0 && x <= 1.0, "in (0, 1]")?;
        let rot_dims = ((head_dim as f64) * partial) as usize;
        cfg.ensure(rot_dims >= 2 && rot_dims.is_multiple_of(2), || {
            format!("rotary dims {rot_dims} (head_dim {head_dim} × {partial}) must be even and ≥ 2")
        })?;
        let mut inv_freq: Vec<f32> = (0..rot_dims / 2)
            .map(|i| (1.0 / theta.powf(2.0 * i as f64 / rot_dims as f64)) as f32)
            .collect();
        let kind = if params.is_empty() {
            "default".to_string()
        } else {
            cfg.opt_string(&format!("{params}rope_type"))?
                .or(cfg.opt_string(&format!("{params}type"))?)
                .unwrap_or_else(|| "default".into())
        };
        match kind.as_str() {
            "default" => {}
            "linear" => {
                let f = cfg.float_or(&format!("{params}factor"), 1.0, pos, "> 0")?;
                inv_freq.iter_mut().for_each(|x| *x /= f as f32);
            }
            "llama3" => {
                // transformers' `_compute_llama3_parameters`.
                let f = cfg.float_or(&format!("{params}factor"), 8.0, pos, "> 0")?;
                let low = cfg.float_or(&format!("{params}low_freq_factor"), 1.0, pos, "> 0")?;
                let high = cfg.float_or(&format!("{params}high_freq_factor"), 4.0, pos, "> 0")?;
                let orig = cfg.float_or(
                    &format!("{params}original_max_position_embeddings"),
                    8192.0,
                    pos,
                    "> 0",
                )?;
                cfg.ensure(high > low, || {
                    "high_freq_factor must exceed low_freq_factor".into()
                })?;
                let low_wl = orig / low;
                let high_wl = orig / high;
                for x in inv_freq.iter_mut() {
                    let wl = 2.0 * std::f64::consts::PI / *x as f64;
                    let v = *x as f64;
                    *x = if wl > low_wl {
                        (v / f) as f32
                    } else if wl < high_wl {
                        v as f32
                    } else {
                        let s = (orig / wl - low) / (high - low);
                        ((1.0 - s) * v / f + s * v) as f32
                    };
                }
            }
            other => {
                return Err(Error::format(
                    cfg.path(),
                    format!("rope type {other:?} is not supported (default, linear, llama3)"),
                ));
            }
        }
        Ok(Self { inv_freq, rot_dims })
    }

    /// `(cos, sin)` `[1, 1, T, rot_dims]` for positions `start..start + t`.
    pub fn tables(&self, start: usize, t: usize, device: &Device) -> (Tensor<4>, Tensor<4>) {
        let half = self.inv_freq.len();
        let mut cos = Vec::with_capacity(t * self.rot_dims);
        let mut sin = Vec::with_capacity(t * self.rot_dims);
        for p in start..start + t {
            // emb = cat(freqs, freqs), as transformers builds it.
            for _ in 0..2 {
                for &f in &self.inv_freq {
                    // f32 product like transformers (inv_freq float32 × position float32).
                    let a = (p as f32) * f;
                    cos.push(a.cos());
                    sin.push(a.sin());
                }
            }
        }
        debug_assert_eq!(cos.len(), t * 2 * half);
        let shape = [1, 1, t, self.rot_dims];
        (
            Tensor::from_data(TensorData::new(cos, shape), device),
            Tensor::from_data(TensorData::new(sin, shape), device),
        )
    }

    /// Rotate `x: [B, H, T, head_dim]` (the first `rot_dims` channels; the rest pass through).
    pub fn apply(&self, x: Tensor<4>, cos: &Tensor<4>, sin: &Tensor<4>) -> Tensor<4> {
        let [b, h, t, dh] = x.dims();
        let r = self.rot_dims;
        let (rot, pass) = if r < dh {
            (
                x.clone().slice([0..b, 0..h, 0..t, 0..r]),
                Some(x.slice([0..b, 0..h, 0..t, r..dh])),
            )
        } else {
            (x, None)
        };
        let x1 = rot.clone().slice([0..b, 0..h, 0..t, 0..r / 2]);
        let x2 = rot.clone().slice([0..b, 0..h, 0..t, r / 2..r]);
        let rotated = Tensor::cat(vec![x2.neg(), x1], 3);
        let out = rot * cos.clone() + rotated * sin.clone();
        match pass {
            Some(p) => Tensor::cat(vec![out, p], 3),
            None => out,
        }
    }
}

/// `[B, H_kv, T, D]` -> `[B, H_kv * rep, T, D]`, each key/value head repeated `rep` times
/// in place (grouped-query attention, `repeat_kv` in transformers).
pub fn repeat_kv(x: Tensor<4>, rep: usize) -> Tensor<4> {
    if rep == 1 {
        return x;
    }
    let [b, h, t, d] = x.dims();
    x.reshape([b, h, 1, t, d])
        .expand([b, h, rep, t, d])
        .reshape([b, h * rep, t, d])
}

/// Per-layer cached keys and values `[B, H_kv, T_past, D]` for incremental decoding.
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    layers: Vec<Option<(Tensor<4>, Tensor<4>)>>,
}

impl KvCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of cached positions.
    pub fn len(&self) -> usize {
        self.layers
            .iter()
            .flatten()
            .next()
            .map_or(0, |(k, _)| k.dims()[2])
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Append this step's `k`, `v` for `layer` and return the full keys and values.
    pub(crate) fn update(
        &mut self,
        layer: usize,
        k: Tensor<4>,
        v: Tensor<4>,
    ) -> (Tensor<4>, Tensor<4>) {
        if self.layers.len() <= layer {
            self.layers.resize(layer + 1, None);
        }
        let (k, v) = match self.layers[layer].take() {
            Some((pk, pv)) => (Tensor::cat(vec![pk, k], 2), Tensor::cat(vec![pv, v], 2)),
            None => (k, v),
        };
        self.layers[layer] = Some((k.clone(), v.clone()));
        (k, v)
    }
}

/// Attention mask `[B, H, T_q, T_k]` (true = blocked) for queries at positions
/// `past..past + t_q` over keys `0..t_k`, from a key padding mask `[B, T_k]` (true = pad)
/// and causality. `None` when nothing is blocked, so the fast path applies.
pub fn attention_mask(
    pad_mask: Option<&Tensor<2, Bool>>,
    b: usize,
    h: usize,
    t_q: usize,
    t_k: usize,
    causal: bool,
    device: &Device,
) -> Option<Tensor<4, Bool>> {
    let past = t_k - t_q;
    let causal_mask = (causal && t_q > 1).then(|| {
        let mut m = vec![false; t_q * t_k];
        for i in 0..t_q {
            for j in past + i + 1..t_k {
                m[i * t_k + j] = true;
            }
        }
        Tensor::<2, Bool>::from_data(TensorData::new(m, [t_q, t_k]), device)
            .reshape([1, 1, t_q, t_k])
            .expand([b, h, t_q, t_k])
    });
    let pad = pad_mask.map(|m| m.clone().reshape([b, 1, 1, t_k]).expand([b, h, t_q, t_k]));
    match (causal_mask, pad) {
        (Some(c), Some(p)) => Some(c.bool_or(p)),
        (Some(c), None) => Some(c),
        (None, Some(p)) => Some(p),
        (None, None) => None,
    }
}

/// Scaled dot-product attention over `[B, H, T, D]` heads with an optional mask.
pub fn sdpa(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    mask: Option<Tensor<4, Bool>>,
    scale: f64,
) -> Tensor<4> {
    attention(
        q,
        k,
        v,
        mask,
        None,
        AttentionModuleOptions {
            scale: Some(scale),
            softcap: None,
            is_causal: false,
        },
    )
}

/// An MLP edit compiled from an [`crate::nn::Intervention`]: `a' = a * scale + shift`.
pub fn apply_edit(act: Tensor<3>, edit: Option<&(Tensor<1>, Tensor<1>)>) -> Tensor<3> {
    match edit {
        Some((scale, shift)) => {
            let f = scale.dims()[0];
            act * scale.clone().reshape([1, 1, f]) + shift.clone().reshape([1, 1, f])
        }
        None => act,
    }
}

/// `[B, T, H * D]` -> `[B, H, T, D]`.
pub fn split_heads(x: Tensor<3>, h: usize) -> Tensor<4> {
    let [b, t, hd] = x.dims();
    x.reshape([b, t, h, hd / h]).swap_dims(1, 2)
}

/// `[B, H, T, D]` -> `[B, T, H * D]`.
pub fn merge_heads(x: Tensor<4>) -> Tensor<3> {
    let [b, h, t, d] = x.dims();
    x.swap_dims(1, 2).reshape([b, t, h * d])
}

/// The block loop every architecture shares: records hidden states and MLP captures as
/// [`ForwardOptions`] asks, hands each block its compiled edit, and returns the output
/// skeleton with the final residual stream in `last_hidden`.
///
/// `block(i, x, edit)` returns `(x_next, captures)`; a block fills `captures.pre` / `.out`
/// when `opts.mlp_pre` / `opts.mlp_out` ask (see [`LayerEdit::site`]).
pub fn run_blocks(
    mut x: Tensor<3>,
    n_layers: usize,
    opts: &ForwardOptions,
    edits: &[LayerEdit],
    mut block: impl FnMut(usize, Tensor<3>, &LayerEdit) -> Result<(Tensor<3>, MlpCapture)>,
) -> Result<TransformerOutput> {
    let mut hidden_states = Vec::new();
    let mut mlp_activations = Vec::new();
    let (mut mlp_pre, mut mlp_out) = (Vec::new(), Vec::new());
    if opts.hidden_states {
        hidden_states.push(x.clone());
    }
    let none = LayerEdit::default();
    for i in 0..n_layers {
        let (next, cap) = block(i, x, edits.get(i).unwrap_or(&none))?;
        x = next;
        if opts.hidden_states {
            hidden_states.push(x.clone());
        }
        if opts.mlp_activations {
            mlp_activations.push(cap.act);
        }
        mlp_pre.extend(cap.pre);
        mlp_out.extend(cap.out);
    }
    Ok(TransformerOutput {
        last_hidden: x,
        hidden_states,
        mlp_activations,
        logits: None,
        mlp_pre,
        mlp_out,
    })
}

/// Apply a decoder's final norm the way transformers reports it: `last_hidden` and the last
/// entry of `hidden_states` are both *after* the final norm.
pub fn finish_decoder(
    mut out: TransformerOutput,
    norm: impl Fn(Tensor<3>) -> Tensor<3>,
) -> TransformerOutput {
    out.last_hidden = norm(out.last_hidden);
    if let Some(last) = out.hidden_states.last_mut() {
        *last = out.last_hidden.clone();
    }
    out
}

/// Logits `[B, T, V]` through a tied embedding `[V, D]`.
pub fn tied_logits(h: Tensor<3>, embedding: Tensor<2>) -> Tensor<3> {
    let [b, t, d] = h.dims();
    let v = embedding.dims()[0];
    h.reshape([b * t, d])
        .matmul(embedding.transpose())
        .reshape([b, t, v])
}

/// Positions `past..past + t` must fit the model; a padding mask applies only to a call
/// without cached positions (incremental decoding of padded batches is not supported).
pub fn check_positions(
    past: usize,
    t: usize,
    max_positions: usize,
    has_pad_mask: bool,
) -> Result<()> {
    if past + t > max_positions {
        return Err(Error::Shape(format!(
            "positions up to {} requested, the model supports {max_positions}",
            past + t
        )));
    }
    if past > 0 && has_pad_mask {
        return Err(Error::InvalidInput(
            "a pad_mask cannot be combined with a non-empty KV cache".into(),
        ));
    }
    Ok(())
}

/// What every decoder's forward pass starts from, once its input is checked.
pub struct DecoderStart {
    /// Embedded input `[B, T, D]` (positions not yet added).
    pub x: Tensor<3>,
    /// Batch size.
    pub b: usize,
    /// New positions.
    pub t: usize,
    /// Cached positions before them.
    pub past: usize,
    /// The compiled intervention, one edit per layer.
    pub edits: Vec<LayerEdit>,
}

/// Sizes a decoder checks its input against.
pub struct DecoderDims {
    /// Vocabulary size.
    pub vocab: usize,
    /// Residual width.
    pub hidden: usize,
    /// Blocks.
    pub layers: usize,
    /// MLP width.
    pub d_ff: usize,
    /// Position limit.
    pub max_positions: usize,
}

/// The shared prologue of the decoders: check ids against the vocabulary (then embed them)
/// or the width of given embeddings, the options, and the positions after `past`.
pub fn decoder_start(
    input: TransformerInput,
    opts: &ForwardOptions,
    embed: &Embedding,
    dims: DecoderDims,
    past: usize,
) -> Result<DecoderStart> {
    let x = match input {
        TransformerInput::Tokens(ids) => {
            host_ids(&ids, dims.vocab)?;
            embed.forward(ids)
        }
        TransformerInput::Embeddings(x) => x,
    };
    let [b, t, d] = x.dims();
    if d != dims.hidden {
        return Err(Error::Shape(format!(
            "embeddings have width {d}, the model {}",
            dims.hidden
        )));
    }
    check_forward(opts, b, t, dims.layers, dims.d_ff, true)?;
    check_positions(past, t, dims.max_positions, opts.pad_mask.is_some())?;
    let edits = compile_layer_edits(
        opts,
        (dims.layers, dims.d_ff, dims.hidden),
        past,
        t,
        &x.device(),
    )?;
    Ok(DecoderStart {
        x,
        b,
        t,
        past,
        edits,
    })
}
