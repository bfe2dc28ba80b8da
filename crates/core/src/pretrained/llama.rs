//! Llama and Qwen2 decoders from Hugging Face checkpoints (`model_type` `llama`, `mistral`,
//! `qwen2`).
//!
//! Pre-norm blocks with RMSNorm, rotary positions (`rotate_half`), grouped-query attention
//! and a SwiGLU MLP:
//! ```text
//! h = RMS_1(x);  q, k, v = h W_q (+b), h W_k (+b), h W_v (+b)     (Qwen2: biases)
//! x = x + Attn(RoPE(q), RoPE(k), v) W_o
//! m = silu(RMS_2(x) W_gate) ⊙ RMS_2(x) W_up                        <- mlp_activations
//! x = x + m W_down
//! logits = RMS_f(x) W_lm    (W_lm = E_tok^T when tie_word_embeddings)
//! ```

use burn::nn::{Embedding, Linear, RmsNorm};
use burn::prelude::*;

use super::config::HfConfig;
use super::layers::{
    DecoderDims, DecoderStart, HfActivation, KvCache, Rope, attention_mask, decoder_start, dense,
    embedding, finish_decoder, linear, merge_heads, repeat_kv, rms_norm, run_blocks, sdpa,
    split_heads, tied_logits,
};
use super::weights::Weights;
use crate::error::Result;
use crate::nn::intervention::Site;
use crate::nn::transformer::{ForwardOptions, MlpCapture, TransformerInput, TransformerOutput};

/// Shape and options of a Llama-family decoder, read from `config.json`.
#[derive(Debug, Clone)]
pub struct LlamaConfig {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Width.
    pub hidden_size: usize,
    /// Blocks.
    pub num_layers: usize,
    /// Query heads.
    pub num_heads: usize,
    /// Key/value heads (grouped-query attention when fewer than `num_heads`).
    pub num_kv_heads: usize,
    /// Per-head width (`head_dim`, default `hidden_size / num_heads`).
    pub head_dim: usize,
    /// MLP width.
    pub intermediate_size: usize,
    /// Longest supported sequence.
    pub max_positions: usize,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// Gate activation (SiLU for every released model).
    pub activation: HfActivation,
    /// Biases on q/k/v (Qwen2 always; Llama with `attention_bias`).
    pub qkv_bias: bool,
    /// Bias on the output projection (Llama `attention_bias`).
    pub o_bias: bool,
    /// Biases in the MLP (`mlp_bias`).
    pub mlp_bias: bool,
    /// LM head shares the token embedding.
    pub tie_word_embeddings: bool,
    /// Rotary embedding.
    pub rope: Rope,
}

impl LlamaConfig {
    /// Read and validate the fields of `cfg`.
    pub fn from_hf(cfg: &HfConfig) -> Result<Self> {
        let model_type = cfg.model_type()?;
        let qwen = model_type == "qwen2";
        let hidden_size = cfg.size("hidden_size")?;
        let num_heads = cfg.size("num_attention_heads")?;
        let num_kv_heads = cfg.opt_size("num_key_value_heads")?.unwrap_or(num_heads);
        cfg.ensure(num_heads.is_multiple_of(num_kv_heads), || {
            format!(
                "num_key_value_heads {num_kv_heads} must divide num_attention_heads {num_heads}"
            )
        })?;
        let head_dim = match cfg.opt_size("head_dim")? {
            Some(d) => d,
            None => {
                cfg.ensure(hidden_size.is_multiple_of(num_heads), || {
                    format!("num_attention_heads {num_heads} must divide hidden_size {hidden_size}")
                })?;
                hidden_size / num_heads
            }
        };
        if qwen {
            cfg.ensure(!cfg.bool_or("use_sliding_window", false)?, || {
                "use_sliding_window = true is not supported".into()
            })?;
        }
        let attention_bias = cfg.bool_or("attention_bias", false)?;
        Ok(Self {
            vocab_size: cfg.size("vocab_size")?,
            hidden_size,
            num_layers: cfg.size("num_hidden_layers")?,
            num_heads,
            num_kv_heads,
            head_dim,
            intermediate_size: cfg.size("intermediate_size")?,
            max_positions: cfg.size("max_position_embeddings")?,
            rms_norm_eps: cfg.float_or(
                "rms_norm_eps",
                1e-6,
                |x| x > 0.0 && x < 1.0,
                "in (0, 1)",
            )?,
            activation: HfActivation::parse(
                &cfg.opt_string("hidden_act")?.unwrap_or("silu".into()),
                cfg,
            )?,
            qkv_bias: qwen || attention_bias,
            o_bias: !qwen && attention_bias,
            mlp_bias: cfg.bool_or("mlp_bias", false)?,
            tie_word_embeddings: cfg.bool_or("tie_word_embeddings", qwen)?,
            rope: Rope::from_config(cfg, head_dim)?,
        })
    }
}

/// One Llama block.
#[derive(Module, Debug)]
pub struct LlamaLayer {
    input_norm: RmsNorm,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    post_norm: RmsNorm,
    gate: Linear,
    up: Linear,
    down: Linear,
}

/// A Llama / Qwen2 decoder with its LM head.
#[derive(Module, Debug)]
pub struct Llama {
    embed: Embedding,
    layers: Vec<LlamaLayer>,
    norm: RmsNorm,
    lm_head: Option<Linear>,
    #[module(skip)]
    cfg: LlamaConfig,
}

impl Llama {
    /// Build from `weights` (names with or without the `model.` prefix).
    pub fn load(c: LlamaConfig, w: &Weights, device: &Device) -> Result<Self> {
        let base = if w.contains("model.embed_tokens.weight") {
            "model."
        } else {
            ""
        };
        let (d, f, hd) = (c.hidden_size, c.intermediate_size, c.head_dim);
        let eps = c.rms_norm_eps;
        let embed = embedding(
            w,
            &format!("{base}embed_tokens.weight"),
            c.vocab_size,
            d,
            device,
        )?;
        let mut layers = Vec::with_capacity(c.num_layers);
        for i in 0..c.num_layers {
            let p = format!("{base}layers.{i}");
            let lin = |n: &str, i: usize, o: usize, b: bool| {
                linear(w, &format!("{p}.{n}"), i, o, b, device)
            };
            layers.push(LlamaLayer {
                input_norm: rms_norm(w, &format!("{p}.input_layernorm"), d, eps, device)?,
                q: lin("self_attn.q_proj", d, c.num_heads * hd, c.qkv_bias)?,
                k: lin("self_attn.k_proj", d, c.num_kv_heads * hd, c.qkv_bias)?,
                v: lin("self_attn.v_proj", d, c.num_kv_heads * hd, c.qkv_bias)?,
                o: lin("self_attn.o_proj", c.num_heads * hd, d, c.o_bias)?,
                post_norm: rms_norm(w, &format!("{p}.post_attention_layernorm"), d, eps, device)?,
                gate: lin("mlp.gate_proj", d, f, c.mlp_bias)?,
                up: lin("mlp.up_proj", d, f, c.mlp_bias)?,
                down: lin("mlp.down_proj", f, d, c.mlp_bias)?,
            });
        }
        let norm = rms_norm(w, &format!("{base}norm"), d, eps, device)?;
        // Some tied checkpoints still store lm_head.weight; an untied one must.
        let lm_head = if c.tie_word_embeddings && !w.contains("lm_head.weight") {
            None
        } else {
            Some(linear(w, "lm_head", d, c.vocab_size, false, device)?)
        };
        Ok(Self {
            embed,
            layers,
            norm,
            lm_head,
            cfg: c,
        })
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &LlamaConfig {
        &self.cfg
    }

    /// The input token embedding `[vocab, d]`.
    pub fn token_embedding(&self) -> Tensor<2> {
        self.embed.weight.val()
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
        } = decoder_start(input, &opts, &self.embed, dims, past)?;
        let device = x.device();
        let (cos, sin) = c.rope.tables(past, t, &device);
        let (h, kvh, hd) = (c.num_heads, c.num_kv_heads, c.head_dim);
        let mask = attention_mask(opts.pad_mask.as_ref(), b, h, t, past + t, true, &device);
        let scale = 1.0 / (hd as f64).sqrt();
        let out = run_blocks(x, c.num_layers, &opts, &edits, |i, x, edit| {
            let l = &self.layers[i];
            let hn = l.input_norm.forward(x.clone());
            let q = c
                .rope
                .apply(split_heads(dense(&l.q, hn.clone()), h), &cos, &sin);
            let k = c
                .rope
                .apply(split_heads(dense(&l.k, hn.clone()), kvh), &cos, &sin);
            let v = split_heads(dense(&l.v, hn), kvh);
            let (k, v) = match cache.as_deref_mut() {
                Some(cache) => cache.update(i, k, v),
                None => (k, v),
            };
            let ctx = sdpa(
                q,
                repeat_kv(k, h / kvh),
                repeat_kv(v, h / kvh),
                mask.clone(),
                scale,
            );
            let x = x + dense(&l.o, merge_heads(ctx));
            let hn = l.post_norm.forward(x.clone());
            let (up, pre_kept) = edit.site(Site::MlpPre, dense(&l.up, hn.clone()), opts.mlp_pre);
            let m = c.activation.forward(dense(&l.gate, hn)) * up;
            let down = dense(&l.down, edit.site(Site::MlpAct, m.clone(), false).0);
            let (down, out_kept) = edit.site(Site::MlpOut, down, opts.mlp_out);
            let x = x + down;
            Ok((
                x,
                MlpCapture {
                    pre: pre_kept,
                    act: m,
                    out: out_kept,
                },
            ))
        })?;
        let mut out = finish_decoder(out, |x| self.norm.forward(x));
        if opts.logits {
            out.logits = Some(match &self.lm_head {
                Some(head) => head.forward(out.last_hidden.clone()),
                None => tied_logits(out.last_hidden.clone(), self.embed.weight.val()),
            });
        }
        Ok(out)
    }
}
