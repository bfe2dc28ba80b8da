//! A pre-LN Transformer that serves as a bidirectional encoder (masked LM) or a causal
//! decoder (LM), written once for every backend.
//!
//! Every paper crate that studies representations needs the same three things from its
//! model: each layer's hidden states (ABX, retrieval, probes), the MLP neurons'
//! post-nonlinearity activations (expert neurons), and a way to edit those neurons during
//! the forward pass (interventions). [`Transformer::forward_with`] provides all three;
//! [`Transformer::logits`] is the fast path for training.
//!
//! Block (pre-LN, GPT-2 / BERT-pre-LN style):
//! ```text
//! x = x + Dropout(Attn(LN1(x)))
//! a = act(LN2(x) W_up + b_up)          <- recorded, then edited by the intervention
//! x = x + Dropout(a W_down + b_down)
//! ```
//! Output: `LN_f(x)`, and logits `LN_f(x) E^T` with a tied head (or a separate Linear).

use super::activation::gelu;
use crate::error::{Error, Result};
use crate::nn::intervention::{Intervention, LayerEdit, Site};
use burn::module::Param;
use burn::nn::{
    Dropout, DropoutConfig, Embedding, EmbeddingConfig, Initializer, LayerNorm, LayerNormConfig,
    Linear, LinearConfig,
};
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use serde::{Deserialize, Serialize};

/// The MLP nonlinearity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Activation {
    /// GELU (tanh-free, erf form), as in BERT/GPT-2/XLM-R.
    Gelu,
    /// ReLU.
    Relu,
}

/// Configuration of a [`Transformer`].
#[derive(Config, Debug)]
pub struct TransformerConfig {
    /// Vocabulary size. `0` builds no token embedding and no LM head: the model then takes
    /// continuous inputs through [`TransformerInput::Embeddings`] (speech/audio encoders).
    pub vocab_size: usize,
    /// Model width.
    pub d_model: usize,
    /// Attention heads; must divide `d_model`.
    pub n_heads: usize,
    /// Number of blocks.
    pub n_layers: usize,
    /// MLP hidden width (number of "neurons" per layer).
    pub d_ff: usize,
    /// Maximum sequence length (learned position embeddings).
    pub max_len: usize,
    /// Causal (decoder, LM) if true; bidirectional (encoder, MLM) if false.
    #[config(default = false)]
    pub causal: bool,
    /// Dropout on the embeddings and on both residual branches. Active only on an autodiff device.
    #[config(default = 0.0)]
    pub dropout: f64,
    /// Build an LM head (`vocab_size > 0` required).
    #[config(default = true)]
    pub lm_head: bool,
    /// Tie the LM head to the token embedding (logits = h E^T).
    #[config(default = true)]
    pub tie_embeddings: bool,
    /// MLP nonlinearity.
    #[config(default = "Activation::Gelu")]
    pub activation: Activation,
    /// Standard deviation of the normal init of embeddings and linear weights (GPT-2: 0.02).
    #[config(default = 0.02)]
    pub init_std: f64,
    /// LayerNorm epsilon.
    #[config(default = 1e-5)]
    pub norm_eps: f64,
}

impl TransformerConfig {
    /// Check the configuration for inconsistencies.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidInput(m));
        if self.d_model == 0 || self.n_heads == 0 || self.n_layers == 0 || self.d_ff == 0 {
            return bad(format!(
                "d_model, n_heads, n_layers and d_ff must be positive (got {}, {}, {}, {})",
                self.d_model, self.n_heads, self.n_layers, self.d_ff
            ));
        }
        if !self.d_model.is_multiple_of(self.n_heads) {
            return bad(format!(
                "n_heads ({}) must divide d_model ({})",
                self.n_heads, self.d_model
            ));
        }
        if self.max_len == 0 {
            return bad("max_len must be positive".into());
        }
        if self.lm_head && self.vocab_size == 0 {
            return bad("lm_head needs vocab_size > 0".into());
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("dropout must be in [0, 1), got {}", self.dropout));
        }
        Ok(())
    }

    /// Build the model on `device`.
    ///
    /// # Panics
    /// With [`TransformerConfig::validate`]'s message on an invalid configuration; use
    /// [`TransformerConfig::try_init`] where the configuration comes from a user.
    pub fn init(&self, device: &Device) -> Transformer {
        if let Err(e) = self.validate() {
            panic!("invalid TransformerConfig: {e}");
        }
        let init = Initializer::Normal {
            mean: 0.0,
            std: self.init_std,
        };
        let linear = |i: usize, o: usize| {
            LinearConfig::new(i, o)
                .with_initializer(init.clone())
                .init(device)
        };
        let tok = (self.vocab_size > 0).then(|| {
            EmbeddingConfig::new(self.vocab_size, self.d_model)
                .with_initializer(init.clone())
                .init(device)
        });
        let pos = EmbeddingConfig::new(self.max_len, self.d_model)
            .with_initializer(init.clone())
            .init(device);
        let layers = (0..self.n_layers)
            .map(|_| Block {
                norm_attn: LayerNormConfig::new(self.d_model)
                    .with_epsilon(self.norm_eps)
                    .init(device),
                query: linear(self.d_model, self.d_model),
                key: linear(self.d_model, self.d_model),
                value: linear(self.d_model, self.d_model),
                out: linear(self.d_model, self.d_model),
                norm_mlp: LayerNormConfig::new(self.d_model)
                    .with_epsilon(self.norm_eps)
                    .init(device),
                up: linear(self.d_model, self.d_ff),
                down: linear(self.d_ff, self.d_model),
                dropout: DropoutConfig::new(self.dropout).init(),
                n_heads: self.n_heads,
                relu: self.activation == Activation::Relu,
            })
            .collect();
        let head = (self.lm_head && !self.tie_embeddings && self.vocab_size > 0)
            .then(|| linear(self.d_model, self.vocab_size));
        Transformer {
            tok,
            pos,
            layers,
            norm_final: LayerNormConfig::new(self.d_model)
                .with_epsilon(self.norm_eps)
                .init(device),
            head,
            dropout: DropoutConfig::new(self.dropout).init(),
            causal: self.causal,
            lm_head: self.lm_head,
            max_len: self.max_len,
            d_model: self.d_model,
            d_ff: self.d_ff,
        }
    }

    /// [`TransformerConfig::init`] after [`TransformerConfig::validate`].
    pub fn try_init(&self, device: &Device) -> Result<Transformer> {
        self.validate()?;
        Ok(self.init(device))
    }
}

/// One pre-LN block: self-attention and an MLP, each on a residual branch.
#[derive(Module, Debug)]
pub struct Block {
    norm_attn: LayerNorm,
    query: Linear,
    key: Linear,
    value: Linear,
    out: Linear,
    norm_mlp: LayerNorm,
    up: Linear,
    down: Linear,
    dropout: Dropout,
    n_heads: usize,
    relu: bool,
}

impl Block {
    /// `x: [B, T, D]`, `mask: [B, H, T, T]` (true = blocked). Returns the new residual stream
    /// and the MLP captures *before* each site's edit: the post-nonlinearity activations
    /// `[B, T, d_ff]` always, the pre-activation and down-projection outputs when `keep`
    /// (`(pre, out)`) asks.
    fn forward(
        &self,
        x: Tensor<3>,
        mask: Option<Tensor<4, Bool>>,
        causal: bool,
        edit: &LayerEdit,
        keep: (bool, bool),
    ) -> (Tensor<3>, MlpCapture) {
        let [b, t, d] = x.dims();
        let h = self.n_heads;
        let dh = d / h;
        let normed = self.norm_attn.forward(x.clone());
        let heads = |lin: &Linear| {
            lin.forward(normed.clone())
                .reshape([b, t, h, dh])
                .swap_dims(1, 2)
        };
        let (q, k, v) = (heads(&self.query), heads(&self.key), heads(&self.value));
        let ctx = attention(
            q,
            k,
            v,
            mask,
            None,
            AttentionModuleOptions {
                scale: None,
                softcap: None,
                is_causal: causal,
            },
        );
        let ctx = ctx.swap_dims(1, 2).reshape([b, t, d]);
        let x = x + self.dropout.forward(self.out.forward(ctx));

        let (pre, pre_kept) = edit.site(
            Site::MlpPre,
            self.up.forward(self.norm_mlp.forward(x.clone())),
            keep.0,
        );
        let act = if self.relu { relu(pre) } else { gelu(pre) };
        let edited = match &edit.act {
            Some(e) => e.apply(act.clone()),
            None => act.clone(),
        };
        let (out, out_kept) = edit.site(Site::MlpOut, self.down.forward(edited), keep.1);
        let x = x + self.dropout.forward(out);
        (
            x,
            MlpCapture {
                pre: pre_kept,
                act,
                out: out_kept,
            },
        )
    }
}

/// What one block's MLP recorded, each *before* the edit of its own site.
#[derive(Debug, Clone)]
pub struct MlpCapture {
    /// [`Site::MlpPre`] `[B, T, d_ff]`, if asked for.
    pub pre: Option<Tensor<3>>,
    /// [`Site::MlpAct`] `[B, T, d_ff]`.
    pub act: Tensor<3>,
    /// [`Site::MlpOut`] `[B, T, d_model]`, if asked for.
    pub out: Option<Tensor<3>>,
}

/// Input to [`Transformer::forward_with`].
#[derive(Debug, Clone)]
pub enum TransformerInput {
    /// Token ids `[B, T]`.
    Tokens(Tensor<2, Int>),
    /// Already-embedded inputs `[B, T, d_model]` (position embeddings are still added).
    Embeddings(Tensor<3>),
}

/// What [`Transformer::forward_with`] should compute and apply.
#[derive(Debug, Clone, Default)]
pub struct ForwardOptions {
    /// `[B, T]`, true at padding positions; padded keys are never attended to.
    pub pad_mask: Option<Tensor<2, Bool>>,
    /// Return every layer's hidden states.
    pub hidden_states: bool,
    /// Return every layer's MLP activations (post-nonlinearity, pre-intervention).
    pub mlp_activations: bool,
    /// Edit MLP units during the pass.
    pub intervention: Option<Intervention>,
    /// Compute LM logits (needs an LM head).
    pub logits: bool,
    /// Return every layer's MLP pre-activations ([`Site::MlpPre`], before its edit).
    pub mlp_pre: bool,
    /// Return every layer's MLP down-projection outputs ([`Site::MlpOut`], before its edit).
    pub mlp_out: bool,
}

impl ForwardOptions {
    /// Logits only.
    pub fn logits() -> Self {
        Self {
            logits: true,
            ..Self::default()
        }
    }

    /// Every layer's hidden states, no logits.
    pub fn hidden_states() -> Self {
        Self {
            hidden_states: true,
            ..Self::default()
        }
    }

    /// Set the padding mask.
    pub fn with_pad_mask(mut self, mask: Tensor<2, Bool>) -> Self {
        self.pad_mask = Some(mask);
        self
    }

    /// Set the intervention plan.
    pub fn with_intervention(mut self, plan: Intervention) -> Self {
        self.intervention = Some(plan);
        self
    }

    /// Also return MLP activations.
    pub fn with_mlp_activations(mut self) -> Self {
        self.mlp_activations = true;
        self
    }

    /// Also return hidden states.
    pub fn with_hidden_states(mut self) -> Self {
        self.hidden_states = true;
        self
    }

    /// Also compute logits.
    pub fn with_logits(mut self) -> Self {
        self.logits = true;
        self
    }

    /// Also return MLP pre-activations ([`Site::MlpPre`]).
    pub fn with_mlp_pre(mut self) -> Self {
        self.mlp_pre = true;
        self
    }

    /// Also return MLP down-projection outputs ([`Site::MlpOut`]).
    pub fn with_mlp_out(mut self) -> Self {
        self.mlp_out = true;
        self
    }
}

/// What [`Transformer::forward_with`] returns.
#[derive(Debug, Clone)]
pub struct TransformerOutput {
    /// Final normalised states `[B, T, d_model]`.
    pub last_hidden: Tensor<3>,
    /// `n_layers + 1` tensors `[B, T, d_model]`: index 0 is the embedding output, index `i`
    /// the residual stream after block `i` (before the final norm). Empty unless requested.
    pub hidden_states: Vec<Tensor<3>>,
    /// `n_layers` tensors `[B, T, d_ff]` of post-nonlinearity MLP activations, before any
    /// intervention of that layer. Empty unless requested.
    pub mlp_activations: Vec<Tensor<3>>,
    /// `[B, T, vocab]` if requested.
    pub logits: Option<Tensor<3>>,
    /// `n_layers` tensors `[B, T, d_ff]` of MLP pre-activations (the up projection's output),
    /// before that site's edit. Empty unless requested.
    pub mlp_pre: Vec<Tensor<3>>,
    /// `n_layers` tensors `[B, T, d_model]` of MLP down-projection outputs, before that site's
    /// edit. Empty unless requested.
    pub mlp_out: Vec<Tensor<3>>,
}

/// A pre-LN Transformer encoder/decoder with learned positions. See the module docs.
#[derive(Module, Debug)]
pub struct Transformer {
    tok: Option<Embedding>,
    pos: Embedding,
    layers: Vec<Block>,
    norm_final: LayerNorm,
    head: Option<Linear>,
    dropout: Dropout,
    causal: bool,
    lm_head: bool,
    max_len: usize,
    d_model: usize,
    d_ff: usize,
}

impl Transformer {
    /// Number of blocks.
    pub fn n_layers(&self) -> usize {
        self.layers.len()
    }

    /// Model width.
    pub fn d_model(&self) -> usize {
        self.d_model
    }

    /// MLP units per layer.
    pub fn d_ff(&self) -> usize {
        self.d_ff
    }

    /// Maximum sequence length.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Whether attention is causal.
    pub fn is_causal(&self) -> bool {
        self.causal
    }

    /// The token embedding matrix `[vocab, d_model]`, if the model has one.
    pub fn token_embedding(&self) -> Option<Tensor<2>> {
        self.tok.as_ref().map(|e| e.weight.val())
    }

    /// Logits `[B, T, vocab]` for token ids `[B, T]`; the training fast path.
    pub fn logits(
        &self,
        tokens: Tensor<2, Int>,
        pad_mask: Option<Tensor<2, Bool>>,
    ) -> Result<Tensor<3>> {
        let mut opts = ForwardOptions::logits();
        opts.pad_mask = pad_mask;
        let out = self.forward_with(TransformerInput::Tokens(tokens), opts)?;
        out.logits
            .ok_or_else(|| Error::InvalidInput("model has no LM head".into()))
    }

    /// The full forward pass with optional hidden states, MLP activations and interventions.
    pub fn forward_with(
        &self,
        input: TransformerInput,
        opts: ForwardOptions,
    ) -> Result<TransformerOutput> {
        let x = match input {
            TransformerInput::Tokens(ids) => {
                let tok = self.tok.as_ref().ok_or_else(|| {
                    Error::InvalidInput(
                        "model was built with vocab_size = 0; pass embeddings".into(),
                    )
                })?;
                self.check_len(ids.dims()[1])?;
                crate::ops::check_ids(&ids, tok.weight.dims()[0], "token id")?;
                tok.forward(ids)
            }
            TransformerInput::Embeddings(x) => {
                let [_, t, d] = x.dims();
                if d != self.d_model {
                    return Err(Error::Shape(format!(
                        "embeddings have width {d}, model d_model is {}",
                        self.d_model
                    )));
                }
                self.check_len(t)?;
                x
            }
        };
        let [b, t, _] = x.dims();
        let device = x.device();
        if let Some(m) = &opts.pad_mask
            && m.dims() != [b, t]
        {
            return Err(Error::Shape(format!(
                "pad_mask is {:?}, input is [{b}, {t}]",
                m.dims()
            )));
        }
        if opts.logits && !self.lm_head {
            return Err(Error::InvalidInput(
                "logits requested but the model has no LM head".into(),
            ));
        }
        let edits = match &opts.intervention {
            Some(plan) if !plan.is_empty() => {
                plan.validate_sites(self.layers.len(), self.d_ff, self.d_model)?;
                plan.compile_layers(self.layers.len(), self.d_ff, self.d_model, 0, t, &device)
            }
            _ => vec![LayerEdit::default(); self.layers.len()],
        };

        let positions = Tensor::<1, Int>::arange(0..t as i64, &device).reshape([1, t]);
        let mut x = self.dropout.forward(x + self.pos.forward(positions));
        let h = self.layers.first().map_or(1, |l| l.n_heads);
        let mask = opts
            .pad_mask
            .as_ref()
            .map(|m| m.clone().reshape([b, 1, 1, t]).expand([b, h, t, t]));

        let mut hidden_states = Vec::new();
        let mut mlp_activations = Vec::new();
        let (mut mlp_pre, mut mlp_out) = (Vec::new(), Vec::new());
        if opts.hidden_states {
            hidden_states.push(x.clone());
        }
        for (layer, edit) in self.layers.iter().zip(edits.iter()) {
            let (next, cap) = layer.forward(
                x,
                mask.clone(),
                self.causal,
                edit,
                (opts.mlp_pre, opts.mlp_out),
            );
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
        let last_hidden = self.norm_final.forward(x);
        let logits = opts.logits.then(|| self.project(last_hidden.clone()));
        Ok(TransformerOutput {
            last_hidden,
            hidden_states,
            mlp_activations,
            logits,
            mlp_pre,
            mlp_out,
        })
    }

    fn check_len(&self, t: usize) -> Result<()> {
        if t == 0 || t > self.max_len {
            return Err(Error::Shape(format!(
                "sequence length {t} outside 1..={}",
                self.max_len
            )));
        }
        Ok(())
    }

    /// `[B, T, D] -> [B, T, V]` through the tied embedding or the separate head.
    fn project(&self, h: Tensor<3>) -> Tensor<3> {
        let [b, t, d] = h.dims();
        match (&self.head, &self.tok) {
            (Some(head), _) => head.forward(h),
            (None, Some(tok)) => {
                let w: Tensor<2> = tok.weight.val();
                let v = w.dims()[0];
                h.reshape([b * t, d])
                    .matmul(w.transpose())
                    .reshape([b, t, v])
            }
            (None, None) => unreachable!("validate() requires vocab_size > 0 for an LM head"),
        }
    }

    /// Replace the token embedding (e.g. to share it with another model).
    pub fn set_token_embedding(&mut self, weight: Tensor<2>) -> Result<()> {
        let tok = self
            .tok
            .as_mut()
            .ok_or_else(|| Error::InvalidInput("model has no token embedding".into()))?;
        let want = tok.weight.dims();
        if weight.dims() != want {
            return Err(Error::Shape(format!(
                "embedding is {:?}, expected {want:?}",
                weight.dims()
            )));
        }
        tok.weight = Param::from_tensor(weight);
        Ok(())
    }
}
