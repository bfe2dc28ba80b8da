//! GPT-NeoX / Pythia from Hugging Face checkpoints (`model_type` `gpt_neox`).
//!
//! Pre-LN blocks with a fused, head-interleaved q/k/v projection, partial rotary positions
//! and (by default) the parallel residual:
//! ```text
//! [q_h | k_h | v_h] per head = LN_1(x) W_qkv + b
//! a = Attn(RoPE_partial(q), RoPE_partial(k), v) W_o + b
//! m = gelu(LN_2(x) W_in + b)                   <- mlp_activations
//! x = x + a + m W_out + b                      (use_parallel_residual)
//! x = x + a;  x = x + MLP(LN_2(x))             (otherwise)
//! logits = LN_f(x) W_embed_out
//! ```

use burn::nn::{Embedding, LayerNorm, Linear};
use burn::prelude::*;

use super::config::HfConfig;
use super::layers::{
    DecoderDims, DecoderStart, HfActivation, KvCache, Rope, attention_mask, decoder_start, dense,
    embedding, finish_decoder, layer_norm, linear, merge_heads, run_blocks, sdpa, tied_logits,
};
use super::weights::Weights;
use crate::error::Result;
use crate::nn::intervention::Site;
use crate::nn::transformer::{ForwardOptions, MlpCapture, TransformerInput, TransformerOutput};

/// Shape and options of a GPT-NeoX decoder, read from `config.json`.
#[derive(Debug, Clone)]
pub struct NeoXConfig {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Width.
    pub hidden_size: usize,
    /// Blocks.
    pub num_layers: usize,
    /// Heads.
    pub num_heads: usize,
    /// MLP width.
    pub intermediate_size: usize,
    /// Longest supported sequence.
    pub max_positions: usize,
    /// LayerNorm epsilon.
    pub layer_norm_eps: f64,
    /// MLP activation.
    pub activation: HfActivation,
    /// `x + attn(LN_1 x) + mlp(LN_2 x)` instead of the sequential residual.
    pub parallel_residual: bool,
    /// Biases on the attention projections (`attention_bias`).
    pub attention_bias: bool,
    /// LM head shares the token embedding.
    pub tie_word_embeddings: bool,
    /// Partial rotary embedding.
    pub rope: Rope,
}

impl NeoXConfig {
    /// Read and validate the fields of `cfg`.
    pub fn from_hf(cfg: &HfConfig) -> Result<Self> {
        let hidden_size = cfg.size("hidden_size")?;
        let num_heads = cfg.size("num_attention_heads")?;
        cfg.ensure(hidden_size.is_multiple_of(num_heads), || {
            format!("num_attention_heads {num_heads} must divide hidden_size {hidden_size}")
        })?;
        // Older configs: `rotary_pct` / `rotary_emb_base` at the top level.
        let head_dim = hidden_size / num_heads;
        let rope = if cfg.has("rope_parameters") || !cfg.has("rotary_pct") {
            Rope::from_config(cfg, head_dim)?
        } else {
            let text = format!(
                "{{\"partial_rotary_factor\": {}, \"rope_theta\": {}}}",
                cfg.float_or("rotary_pct", 0.25, |x| x > 0.0 && x <= 1.0, "in (0, 1]")?,
                cfg.float_or("rotary_emb_base", 10_000.0, |x| x > 0.0, "> 0")?
            );
            Rope::from_config(&HfConfig::from_str(&text, cfg.path())?, head_dim)?
        };
        Ok(Self {
            vocab_size: cfg.size("vocab_size")?,
            hidden_size,
            num_layers: cfg.size("num_hidden_layers")?,
            num_heads,
            intermediate_size: cfg.size("intermediate_size")?,
            max_positions: cfg.size("max_position_embeddings")?,
            layer_norm_eps: cfg.float_or(
                "layer_norm_eps",
                1e-5,
                |x| x > 0.0 && x < 1.0,
                "in (0, 1)",
            )?,
            activation: HfActivation::parse(
                &cfg.opt_string("hidden_act")?.unwrap_or("gelu".into()),
                cfg,
            )?,
            parallel_residual: cfg.bool_or("use_parallel_residual", true)?,
            attention_bias: cfg.bool_or("attention_bias", true)?,
            tie_word_embeddings: cfg.bool_or("tie_word_embeddings", false)?,
            rope,
        })
    }
}

/// One GPT-NeoX block.
#[derive(Module, Debug)]
pub struct NeoXLayer {
    input_norm: LayerNorm,
    qkv: Linear,
    dense: Linear,
    post_norm: LayerNorm,
    h_to_4h: Linear,
    four_h_to_h: Linear,
}

/// A GPT-NeoX decoder with its LM head.
#[derive(Module, Debug)]
pub struct NeoX {
    embed_in: Embedding,
    layers: Vec<NeoXLayer>,
    final_norm: LayerNorm,
    embed_out: Option<Linear>,
    #[module(skip)]
    cfg: NeoXConfig,
}

impl NeoX {
    /// Build from `weights` (names with or without the `gpt_neox.` prefix).
    pub fn load(c: NeoXConfig, w: &Weights, device: &Device) -> Result<Self> {
        let base = if w.contains("gpt_neox.embed_in.weight") {
            "gpt_neox."
        } else {
            ""
        };
        let (d, f, eps, bias) = (
            c.hidden_size,
            c.intermediate_size,
            c.layer_norm_eps,
            c.attention_bias,
        );
        let mut layers = Vec::with_capacity(c.num_layers);
        for i in 0..c.num_layers {
            let p = format!("{base}layers.{i}");
            layers.push(NeoXLayer {
                input_norm: layer_norm(w, &format!("{p}.input_layernorm"), d, eps, device)?,
                qkv: linear(
                    w,
                    &format!("{p}.attention.query_key_value"),
                    d,
                    3 * d,
                    bias,
                    device,
                )?,
                dense: linear(w, &format!("{p}.attention.dense"), d, d, bias, device)?,
                post_norm: layer_norm(w, &format!("{p}.post_attention_layernorm"), d, eps, device)?,
                h_to_4h: linear(w, &format!("{p}.mlp.dense_h_to_4h"), d, f, true, device)?,
                four_h_to_h: linear(w, &format!("{p}.mlp.dense_4h_to_h"), f, d, true, device)?,
            });
        }
        let embed_out = if c.tie_word_embeddings && !w.contains("embed_out.weight") {
            None
        } else {
            Some(linear(w, "embed_out", d, c.vocab_size, false, device)?)
        };
        Ok(Self {
            embed_in: embedding(
                w,
                &format!("{base}embed_in.weight"),
                c.vocab_size,
                d,
                device,
            )?,
            layers,
            final_norm: layer_norm(w, &format!("{base}final_layer_norm"), d, eps, device)?,
            embed_out,
            cfg: c,
        })
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &NeoXConfig {
        &self.cfg
    }

    /// The input token embedding `[vocab, d]`.
    pub fn token_embedding(&self) -> Tensor<2> {
        self.embed_in.weight.val()
    }

    /// The forward pass, continuing from `cache` when given (positions start at its length).
    pub fn forward_cached(
        &self,
        input: TransformerInput,
        opts: ForwardOptions,
        mut cache: Option<&mut KvCache>,
    ) -> Result<TransformerOutput> {
        let c = &self.cfg;
        let past = cache.as_ref().map_or(0, |k| k.len());
        let dims = DecoderDims {
            vocab: c.vocab_size,
            hidden: c.hidden_size,
            layers: c.num_layers,
            d_ff: c.intermediate_size,
            max_positions: c.max_positions,
        };
        let DecoderStart {
            x,
            b,
            t,
            past,
            edits,
        } = decoder_start(input, &opts, &self.embed_in, dims, past)?;
        let d = c.hidden_size;
        let device = x.device();
        let h = c.num_heads;
        let hd = d / h;
        let (cos, sin) = c.rope.tables(past, t, &device);
        let mask = attention_mask(opts.pad_mask.as_ref(), b, h, t, past + t, true, &device);
        let scale = 1.0 / (hd as f64).sqrt();
        let out = run_blocks(x, c.num_layers, &opts, &edits, |i, x, edit| {
            let l = &self.layers[i];
            // [B, T, H, 3·hd] -> per-head q | k | v.
            let qkv = dense(&l.qkv, l.input_norm.forward(x.clone()))
                .reshape([b, t, h, 3 * hd])
                .swap_dims(1, 2);
            let part = |r: std::ops::Range<usize>| qkv.clone().slice([0..b, 0..h, 0..t, r]);
            let q = c.rope.apply(part(0..hd), &cos, &sin);
            let k = c.rope.apply(part(hd..2 * hd), &cos, &sin);
            let v = part(2 * hd..3 * hd);
            let (k, v) = match cache.as_deref_mut() {
                Some(cache) => cache.update(i, k, v),
                None => (k, v),
            };
            let a = dense(&l.dense, merge_heads(sdpa(q, k, v, mask.clone(), scale)));
            let mlp_in = if c.parallel_residual {
                x.clone()
            } else {
                x.clone() + a.clone()
            };
            let (pre, pre_kept) = edit.site(
                Site::MlpPre,
                dense(&l.h_to_4h, l.post_norm.forward(mlp_in.clone())),
                opts.mlp_pre,
            );
            let m = c.activation.forward(pre);
            let mlp = dense(&l.four_h_to_h, edit.site(Site::MlpAct, m.clone(), false).0);
            let (mlp, out_kept) = edit.site(Site::MlpOut, mlp, opts.mlp_out);
            let x = if c.parallel_residual {
                x + a + mlp
            } else {
                mlp_in + mlp
            };
            Ok((
                x,
                MlpCapture {
                    pre: pre_kept,
                    act: m,
                    out: out_kept,
                },
            ))
        })?;
        let mut out = finish_decoder(out, |x| self.final_norm.forward(x));
        if opts.logits {
            out.logits = Some(match &self.embed_out {
                Some(head) => head.forward(out.last_hidden.clone()),
                None => tied_logits(out.last_hidden.clone(), self.embed_in.weight.val()),
            });
        }
        Ok(out)
    }
}
