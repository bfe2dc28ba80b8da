//! The one contract every paper method runs on: ember's own [`Transformer`] and every
//! pretrained architecture in [`crate::pretrained`] implement [`LanguageModel`].
//!
//! A method that needs per-layer hidden states, MLP neuron activations or interventions
//! (ABX, expert neurons, retrieval, DPO log-probabilities) takes `&impl LanguageModel` (or
//! `&dyn LanguageModel`) and so runs unchanged on a trained-here model or on XLM-R / Llama.

use burn::prelude::*;

use crate::error::Result;
use crate::nn::transformer::{ForwardOptions, Transformer, TransformerInput, TransformerOutput};

/// A language model that exposes its internals (see the module docs).
///
/// Conventions of [`TransformerOutput`] for every implementor:
/// - `hidden_states` has `n_layers + 1` entries, index 0 being the embedding output;
/// - `mlp_activations[i]` is the input of layer `i`'s MLP down-projection (the "neurons"),
///   recorded *before* the intervention of that layer;
/// - an [`crate::nn::Intervention`] edits exactly those units, `a' = a·scale + shift`.
pub trait LanguageModel {
    /// Number of blocks.
    fn n_layers(&self) -> usize;
    /// Residual-stream width.
    fn d_model(&self) -> usize;
    /// MLP units per layer (the width of `mlp_activations`).
    fn d_ff(&self) -> usize;
    /// Vocabulary size (0 if the model takes only embeddings).
    fn vocab_size(&self) -> usize;
    /// Whether attention is causal (a decoder LM) rather than bidirectional.
    fn is_causal(&self) -> bool;
    /// The longest input sequence the position encoding supports.
    fn max_len(&self) -> usize;
    /// The input token embedding matrix `[vocab, d_model]`, if any.
    fn token_embedding(&self) -> Option<Tensor<2>>;
    /// The full forward pass with optional hidden states, MLP activations, interventions
    /// and logits.
    fn forward_with(
        &self,
        input: TransformerInput,
        opts: ForwardOptions,
    ) -> Result<TransformerOutput>;
}

impl LanguageModel for Transformer {
    fn n_layers(&self) -> usize {
        Transformer::n_layers(self)
    }
    fn d_model(&self) -> usize {
        Transformer::d_model(self)
    }
    fn d_ff(&self) -> usize {
        Transformer::d_ff(self)
    }
    fn vocab_size(&self) -> usize {
        Transformer::token_embedding(self).map_or(0, |e| e.dims()[0])
    }
    fn is_causal(&self) -> bool {
        Transformer::is_causal(self)
    }
    fn max_len(&self) -> usize {
        Transformer::max_len(self)
    }
    fn token_embedding(&self) -> Option<Tensor<2>> {
        Transformer::token_embedding(self)
    }
    fn forward_with(
        &self,
        input: TransformerInput,
        opts: ForwardOptions,
    ) -> Result<TransformerOutput> {
        Transformer::forward_with(self, input, opts)
    }
}
