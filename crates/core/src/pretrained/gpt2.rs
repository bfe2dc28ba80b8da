//! GPT-2 from Hugging Face checkpoints (`model_type` `gpt2`).
//!
//! Pre-LN blocks with learned positions and fused `Conv1D` projections (weights stored
//! `[in, out]`, so no transpose):
//! ```text
//! x = E_tok[ids] + E_pos[pos]
//! q|k|v = LN_1(x) W_attn + b;  x = x + Attn(q, k, v) W_proj + b
//! m = gelu_new(LN_2(x) W_fc + b)          <- mlp_activations
//! x = x + m W_proj2 + b
//! logits = LN_f(x) E_tok^T
//! ```

use burn::nn::{Embedding, LayerNorm, Linear};
use burn::prelude::*;

use super::config::HfConfig;
use super::layers::{
    DecoderDims, DecoderStart, HfActivation, KvCache, attention_mask, conv1d, decoder_start, dense,
    embedding, finish_decoder, layer_norm, linear, merge_heads, run_blocks, sdpa, split_heads,
    tied_logits,
};
use super::weights::Weights;
use crate::error::Result;
use crate::nn::intervention::Site;
use crate::nn::transformer::{ForwardOptions, MlpCapture, TransformerInput, TransformerOutput};

/// Shape and options of GPT-2, read from `config.json`.
#[derive(Debug, Clone)]
pub struct Gpt2Config {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Width (`n_embd`).
    pub hidden_size: usize,
    /// Blocks (`n_layer`).
    pub num_layers: usize,
    /// Heads (`n_head`).
    pub num_heads: usize,
    /// MLP width (`n_inner`, default 4 × width).
    pub intermediate_size: usize,
    /// Position table size (`n_positions`).
    pub max_positions: usize,
    /// LayerNorm epsilon.
    pub layer_norm_eps: f64,
    /// MLP activation (`activation_function`).
    pub activation: HfActivation,
}

impl Gpt2Config {
    /// Read and validate the fields of `cfg`.
    pub fn from_hf(cfg: &HfConfig) -> Result<Self> {
        let hidden_size = cfg.size_any(&["n_embd", "hidden_size"])?;
        let num_heads = cfg.size_any(&["n_head", "num_attention_heads"])?;
        cfg.ensure(hidden_size.is_multiple_of(num_heads), || {
            format!("n_head {num_heads} must divide n_embd {hidden_size}")
        })?;
        cfg.ensure(
            !cfg.bool_or("scale_attn_by_inverse_layer_idx", false)?,
            || "scale_attn_by_inverse_layer_idx = true is not supported".into(),
        )?;
        cfg.ensure(cfg.bool_or("scale_attn_weights", true)?, || {
            "scale_attn_weights = false is not supported".into()
        })?;
        Ok(Self {
            vocab_size: cfg.size("vocab_size")?,
            hidden_size,
            num_layers: cfg.size_any(&["n_layer", "num_hidden_layers"])?,
            num_heads,
            intermediate_size: cfg.opt_size("n_inner")?.unwrap_or(4 * hidden_size),
            max_positions: cfg.size_any(&["n_positions", "max_position_embeddings"])?,
            layer_norm_eps: cfg.float_or(
                "layer_norm_epsilon",
                1e-5,
                |x| x > 0.0 && x < 1.0,
                "in (0, 1)",
            )?,
            activation: HfActivation::parse(
                &cfg.opt_string("activation_function")?
                    .unwrap_or("gelu_new".into()),
                cfg,
            )?,
        })
    }
}

/// One GPT-2 block.
#[derive(Module, Debug)]
pub struct Gpt2Layer {
    ln_1: LayerNorm,
    c_attn: Linear,
    c_proj: Linear,
    ln_2: LayerNorm,
    c_fc: Linear,
    mlp_proj: Linear,
}

/// GPT-2 with its (tied) LM head.
#[derive(Module, Debug)]
pub struct Gpt2 {
    wte: Embedding,
    wpe: Embedding,
    layers: Vec<Gpt2Layer>,
    ln_f: LayerNorm,
    lm_head: Option<Linear>,
    #[module(skip)]
    cfg: Gpt2Config,
}

impl Gpt2 {
    /// Build from `weights` (names with or without the `transformer.` prefix).
    pub fn load(c: Gpt2Config, w: &Weights, device: &Device) -> Result<Self> {
        let base = if w.contains("transformer.wte.weight") {
            "transformer."
        } else {
            ""
        };
        let (d, f, eps) = (c.hidden_size, c.intermediate_size, c.layer_norm_eps);
        let mut layers = Vec::with_capacity(c.num_layers);
        for i in 0..c.num_layers {
            let p = format!("{base}h.{i}");
            layers.push(Gpt2Layer {
                ln_1: layer_norm(w, &format!("{p}.ln_1"), d, eps, device)?,
                c_attn: conv1d(w, &format!("{p}.attn.c_attn"), d, 3 * d, device)?,
                c_proj: conv1d(w, &format!("{p}.attn.c_proj"), d, d, device)?,
                ln_2: layer_norm(w, &format!("{p}.ln_2"), d, eps, device)?,
                c_fc: conv1d(w, &format!("{p}.mlp.c_fc"), d, f, device)?,
                mlp_proj: conv1d(w, &format!("{p}.mlp.c_proj"), f, d, device)?,
            });
        }
        let lm_head = if w.contains("lm_head.weight") {
            Some(linear(w, "lm_head", d, c.vocab_size, false, device)?)
        } else {
            None
        };
        Ok(Self {
            wte: embedding(w, &format!("{base}wte.weight"), c.vocab_size, d, device)?,
            wpe: embedding(w, &format!("{base}wpe.weight"), c.max_positions, d, device)?,
            layers,
            ln_f: layer_norm(w, &format!("{base}ln_f"), d, eps, device)?,
            lm_head,
            cfg: c,
        })
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &Gpt2Config {
        &self.cfg
    }

    /// The input token embedding `[vocab, d]`.
    pub fn token_embedding(&self) -> Tensor<2> {
        self.wte.weight.val()
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
        } = decoder_start(input, &opts, &self.wte, dims, past)?;
        let d = c.hidden_size;
        let device = x.device();
        let pos = Tensor::<1, Int>::arange(past as i64..(past + t) as i64, &device).reshape([1, t]);
        let x = x + self.wpe.forward(pos);
        let h = c.num_heads;
        let mask = attention_mask(opts.pad_mask.as_ref(), b, h, t, past + t, true, &device);
        let scale = 1.0 / ((d / h) as f64).sqrt();
        let out = run_blocks(x, c.num_layers, &opts, &edits, |i, x, edit| {
            let l = &self.layers[i];
            let qkv = dense(&l.c_attn, l.ln_1.forward(x.clone()));
            let q = split_heads(qkv.clone().slice([0..b, 0..t, 0..d]), h);
            let k = split_heads(qkv.clone().slice([0..b, 0..t, d..2 * d]), h);
            let v = split_heads(qkv.slice([0..b, 0..t, 2 * d..3 * d]), h);
            let (k, v) = match cache.as_deref_mut() {
                Some(cache) => cache.update(i, k, v),
                None => (k, v),
            };
            let x = x + dense(&l.c_proj, merge_heads(sdpa(q, k, v, mask.clone(), scale)));
            let (pre, pre_kept) = edit.site(
                Site::MlpPre,
                dense(&l.c_fc, l.ln_2.forward(x.clone())),
                opts.mlp_pre,
            );
            let m = c.activation.forward(pre);
            let down = dense(&l.mlp_proj, edit.site(Site::MlpAct, m.clone(), false).0);
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
        let mut out = finish_decoder(out, |x| self.ln_f.forward(x));
        if opts.logits {
            out.logits = Some(match &self.lm_head {
                Some(head) => head.forward(out.last_hidden.clone()),
                None => tied_logits(out.last_hidden.clone(), self.wte.weight.val()),
            });
        }
        Ok(out)
    }
}
