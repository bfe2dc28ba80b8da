//! BERT and (XLM-)RoBERTa encoders with their masked-LM head, from Hugging Face checkpoints
//! (`model_type` `bert`, `roberta`, `xlm-roberta`, `camembert`).
//!
//! Post-LN blocks:
//! ```text
//! x = LN_emb(E_tok[ids] + E_pos[pos] + E_type[0])
//! a = LN_1(x + Attn(x) W_o)
//! m = act(a W_in + b_in)                 <- mlp_activations, then the intervention
//! x = LN_2(a + m W_out + b_out)
//! logits = LN_h(act(x W_h)) E_tok^T + b  (the MLM head, tied to the token embedding)
//! ```
//! RoBERTa-family positions start at `padding_idx + 1` and skip padding tokens
//! (`create_position_ids_from_input_ids` in transformers).

use burn::nn::{Embedding, LayerNorm, Linear};
use burn::prelude::*;

use super::config::HfConfig;
use super::layers::{
    HfActivation, attention_mask, dense, embedding, layer_norm, linear, merge_heads, sdpa,
    split_heads,
};
use super::weights::Weights;
use crate::error::{Error, Result};
use crate::nn::intervention::Site;
use crate::nn::transformer::{ForwardOptions, TransformerInput, TransformerOutput};

/// Shape and options of a BERT-family encoder, read from `config.json`.
#[derive(Debug, Clone)]
pub struct BertConfig {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Width.
    pub hidden_size: usize,
    /// Blocks.
    pub num_layers: usize,
    /// Attention heads.
    pub num_heads: usize,
    /// MLP width.
    pub intermediate_size: usize,
    /// Position table size.
    pub max_positions: usize,
    /// Token-type table size.
    pub type_vocab_size: usize,
    /// LayerNorm epsilon.
    pub layer_norm_eps: f64,
    /// MLP activation.
    pub activation: HfActivation,
    /// RoBERTa-style positions (offset by `pad_token_id + 1`, padding skipped).
    pub roberta_positions: bool,
    /// Padding token id.
    pub pad_token_id: usize,
}

impl BertConfig {
    /// Read and validate the fields of `cfg`.
    pub fn from_hf(cfg: &HfConfig) -> Result<Self> {
        let model_type = cfg.model_type()?;
        let roberta = matches!(model_type.as_str(), "roberta" | "xlm-roberta" | "camembert");
        let c = Self {
            vocab_size: cfg.size("vocab_size")?,
            hidden_size: cfg.size("hidden_size")?,
            num_layers: cfg.size("num_hidden_layers")?,
            num_heads: cfg.size("num_attention_heads")?,
            intermediate_size: cfg.size("intermediate_size")?,
            max_positions: cfg.size("max_position_embeddings")?,
            type_vocab_size: cfg.opt_size("type_vocab_size")?.unwrap_or(2),
            layer_norm_eps: cfg.float_or(
                "layer_norm_eps",
                1e-12,
                |x| x > 0.0 && x < 1.0,
                "in (0, 1)",
            )?,
            activation: HfActivation::parse(
                &cfg.opt_string("hidden_act")?.unwrap_or("gelu".into()),
                cfg,
            )?,
            roberta_positions: roberta,
            pad_token_id: cfg
                .opt_int("pad_token_id")?
                .unwrap_or(if roberta { 1 } else { 0 })
                .max(0) as usize,
        };
        cfg.ensure(c.hidden_size.is_multiple_of(c.num_heads), || {
            format!(
                "num_attention_heads {} must divide hidden_size {}",
                c.num_heads, c.hidden_size
            )
        })?;
        cfg.ensure(c.pad_token_id < c.vocab_size, || {
            format!(
                "pad_token_id {} outside the vocabulary {}",
                c.pad_token_id, c.vocab_size
            )
        })?;
        if c.roberta_positions {
            cfg.ensure(c.max_positions > c.pad_token_id + 1, || {
                "max_position_embeddings leaves no room after the RoBERTa offset".into()
            })?;
        }
        Ok(c)
    }
}

/// One post-LN encoder block.
#[derive(Module, Debug)]
pub struct BertLayer {
    query: Linear,
    key: Linear,
    value: Linear,
    attn_out: Linear,
    attn_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    out_norm: LayerNorm,
}

/// The masked-LM head: dense → act → LayerNorm → tied decoder + bias.
#[derive(Module, Debug)]
pub struct MlmHead {
    dense: Linear,
    norm: LayerNorm,
    /// Separate decoder `[d, vocab]` when the checkpoint stores one; else the embedding.
    decoder: Option<Linear>,
    bias: burn::module::Param<Tensor<1>>,
}

/// A BERT / XLM-R encoder with its MLM head.
#[derive(Module, Debug)]
pub struct Bert {
    word: Embedding,
    position: Embedding,
    token_type: Embedding,
    emb_norm: LayerNorm,
    layers: Vec<BertLayer>,
    head: Option<MlmHead>,
    #[module(skip)]
    cfg: BertConfigState,
}

/// The config fields the forward pass needs, kept on the module.
#[derive(Debug, Clone)]
struct BertConfigState {
    c: BertConfig,
}

impl Bert {
    /// Build from `weights` (names with or without the `bert.` / `roberta.` prefix).
    pub fn load(c: BertConfig, w: &Weights, device: &Device) -> Result<Self> {
        let base = ["bert.", "roberta.", ""]
            .into_iter()
            .find(|p| w.contains(&format!("{p}embeddings.word_embeddings.weight")))
            .ok_or_else(|| {
                Error::format(
                    w.file_of(""),
                    "tensor \"embeddings.word_embeddings.weight\" (with or without a bert./roberta. prefix) is missing",
                )
            })?;
        let d = c.hidden_size;
        let eps = c.layer_norm_eps;
        let e = |n: &str| format!("{base}embeddings.{n}");
        let word = embedding(w, &e("word_embeddings.weight"), c.vocab_size, d, device)?;
        let position = embedding(
            w,
            &e("position_embeddings.weight"),
            c.max_positions,
            d,
            device,
        )?;
        let token_type = embedding(
            w,
            &e("token_type_embeddings.weight"),
            c.type_vocab_size,
            d,
            device,
        )?;
        let emb_norm = layer_norm(w, &e("LayerNorm"), d, eps, device)?;
        let mut layers = Vec::with_capacity(c.num_layers);
        for i in 0..c.num_layers {
            let p = format!("{base}encoder.layer.{i}");
            let f = c.intermediate_size;
            layers.push(BertLayer {
                query: linear(w, &format!("{p}.attention.self.query"), d, d, true, device)?,
                key: linear(w, &format!("{p}.attention.self.key"), d, d, true, device)?,
                value: linear(w, &format!("{p}.attention.self.value"), d, d, true, device)?,
                attn_out: linear(
                    w,
                    &format!("{p}.attention.output.dense"),
                    d,
                    d,
                    true,
                    device,
                )?,
                attn_norm: layer_norm(
                    w,
                    &format!("{p}.attention.output.LayerNorm"),
                    d,
                    eps,
                    device,
                )?,
                intermediate: linear(w, &format!("{p}.intermediate.dense"), d, f, true, device)?,
                output: linear(w, &format!("{p}.output.dense"), f, d, true, device)?,
                out_norm: layer_norm(w, &format!("{p}.output.LayerNorm"), d, eps, device)?,
            });
        }
        // BERT: cls.predictions.*; RoBERTa: lm_head.*. A base-model checkpoint has neither.
        let head = if w.contains("cls.predictions.transform.dense.weight") {
            Some((
                "cls.predictions.transform.dense",
                "cls.predictions.transform.LayerNorm",
                "cls.predictions.decoder",
                "cls.predictions.bias",
            ))
        } else if w.contains("lm_head.dense.weight") {
            Some((
                "lm_head.dense",
                "lm_head.layer_norm",
                "lm_head.decoder",
                "lm_head.bias",
            ))
        } else {
            None
        };
        let head = match head {
            None => None,
            Some((dense, norm, decoder, bias)) => {
                let bias_name = if w.contains(bias) {
                    bias.to_string()
                } else {
                    format!("{decoder}.bias")
                };
                let decoder = if w.contains(&format!("{decoder}.weight")) {
                    Some(linear(w, decoder, d, c.vocab_size, false, device)?)
                } else {
                    None
                };
                Some(MlmHead {
                    dense: linear(w, dense, d, d, true, device)?,
                    norm: layer_norm(w, norm, d, eps, device)?,
                    decoder,
                    bias: w.param(&bias_name, [c.vocab_size], device)?,
                })
            }
        };
        Ok(Self {
            word,
            position,
            token_type,
            emb_norm,
            layers,
            head,
            cfg: BertConfigState { c },
        })
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &BertConfig {
        &self.cfg.c
    }

    /// Whether the checkpoint carried an MLM head (logits available).
    pub fn has_lm_head(&self) -> bool {
        self.head.is_some()
    }

    /// The input token embedding `[vocab, d]`.
    pub fn token_embedding(&self) -> Tensor<2> {
        self.word.weight.val()
    }

    /// Position ids for `ids` (host copy) as the reference computes them.
    fn positions(&self, ids: Option<&[i64]>, b: usize, t: usize) -> Vec<i64> {
        let c = &self.cfg.c;
        let pad = c.pad_token_id as i64;
        match (c.roberta_positions, ids) {
            (false, _) => (0..b).flat_map(|_| 0..t as i64).collect(),
            (true, Some(ids)) => {
                let mut out = Vec::with_capacity(b * t);
                for row in ids.chunks(t) {
                    let mut count = 0;
                    for &id in row {
                        if id != pad {
                            count += 1;
                            out.push(count + pad);
                        } else {
                            out.push(pad);
                        }
                    }
                }
                out
            }
            (true, None) => (0..b)
                .flat_map(|_| (0..t as i64).map(|p| p + pad + 1))
                .collect(),
        }
    }

    /// See [`crate::nn::LanguageModel::forward_with`].
    pub fn forward_with(
        &self,
        input: TransformerInput,
        opts: ForwardOptions,
    ) -> Result<TransformerOutput> {
        let c = &self.cfg.c;
        let (x, host_ids, b, t, device) = match input {
            TransformerInput::Tokens(ids) => {
                let [b, t] = ids.dims();
                let device = ids.device();
                let host = super::layers::host_ids(&ids, c.vocab_size)?;
                (self.word.forward(ids), Some(host), b, t, device)
            }
            TransformerInput::Embeddings(x) => {
                let [b, t, d] = x.dims();
                if d != c.hidden_size {
                    return Err(Error::Shape(format!(
                        "embeddings have width {d}, the model {}",
                        c.hidden_size
                    )));
                }
                let device = x.device();
                (x, None, b, t, device)
            }
        };
        super::layers::check_forward(
            &opts,
            b,
            t,
            c.num_layers,
            c.intermediate_size,
            self.head.is_some(),
        )?;
        let pos = self.positions(host_ids.as_deref(), b, t);
        let max_pos = pos.iter().copied().max().unwrap_or(0);
        if t == 0 || max_pos as usize >= c.max_positions {
            return Err(Error::Shape(format!(
                "sequence length {t} needs position {max_pos}, the model has {} positions",
                c.max_positions
            )));
        }
        let pos =
            Tensor::<1, Int>::from_data(TensorData::new(pos, [b * t]), &device).reshape([b, t]);
        let types = Tensor::<2, Int>::zeros([b, t], &device);
        let mut x = self
            .emb_norm
            .forward(x + self.position.forward(pos) + self.token_type.forward(types));
        let edits = super::layers::compile_layer_edits(
            &opts,
            (c.num_layers, c.intermediate_size, c.hidden_size),
            0,
            t,
            &device,
        )?;
        let h = c.num_heads;
        let mask = attention_mask(opts.pad_mask.as_ref(), b, h, t, t, false, &device);
        let scale = 1.0 / ((c.hidden_size / h) as f64).sqrt();
        let mut out = TransformerOutput {
            last_hidden: x.clone(),
            hidden_states: Vec::new(),
            mlp_activations: Vec::new(),
            logits: None,
            mlp_pre: Vec::new(),
            mlp_out: Vec::new(),
        };
        if opts.hidden_states {
            out.hidden_states.push(x.clone());
        }
        for (layer, edit) in self.layers.iter().zip(&edits) {
            let q = split_heads(dense(&layer.query, x.clone()), h);
            let k = split_heads(dense(&layer.key, x.clone()), h);
            let v = split_heads(dense(&layer.value, x.clone()), h);
            let ctx = merge_heads(sdpa(q, k, v, mask.clone(), scale));
            let a = layer.attn_norm.forward(x + dense(&layer.attn_out, ctx));
            let (pre, pre_kept) = edit.site(
                Site::MlpPre,
                dense(&layer.intermediate, a.clone()),
                opts.mlp_pre,
            );
            out.mlp_pre.extend(pre_kept);
            let m = c.activation.forward(pre);
            if opts.mlp_activations {
                out.mlp_activations.push(m.clone());
            }
            let m = edit.site(Site::MlpAct, m, false).0;
            let (o, out_kept) = edit.site(Site::MlpOut, dense(&layer.output, m), opts.mlp_out);
            out.mlp_out.extend(out_kept);
            x = layer.out_norm.forward(a + o);
            if opts.hidden_states {
                out.hidden_states.push(x.clone());
            }
        }
        if opts.logits {
            let head = self.head.as_ref().expect("checked by check_forward");
            let hd = head
                .norm
                .forward(c.activation.forward(head.dense.forward(x.clone())));
            let logits = match &head.decoder {
                Some(dec) => dec.forward(hd),
                None => {
                    let [b, t, d] = hd.dims();
                    hd.reshape([b * t, d])
                        .matmul(self.word.weight.val().transpose())
                        .reshape([b, t, c.vocab_size])
                }
            };
            out.logits = Some(logits + head.bias.val().reshape([1, 1, c.vocab_size]));
        }
        out.last_hidden = x;
        Ok(out)
    }
}
