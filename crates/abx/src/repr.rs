//! Sentence representations: the masked mean of every layer's hidden states of any
//! [`LanguageModel`] (ember-core's own [`Transformer`](ember_core::nn::Transformer) or a
//! pretrained checkpoint), `h̄_ℓ(s) = Σ_t k_t h_ℓ,t / Σ_t k_t` with `k_t = 1` on real,
//! non-special tokens (BOS/EOS/padding excluded by default), for `ℓ = 0` (embeddings) …
//! `n_layers`, and for any list of checkpoints.
//!
//! Which ids count as special is a [`SpecialIds`]: ember's [`Tokenizer`] (its special and
//! tag ids), or a set of ids such as [`hf_special_ids`] of a Hugging Face tokenizer.

use std::collections::{BTreeSet, HashSet};

use burn::prelude::*;
use ember_core::data::tokenizer::{Batch, Tokenizer};
use ember_core::host::read_as;
use ember_core::nn::transformer::TransformerInput;
use ember_core::nn::{ForwardOptions, LanguageModel};
use ember_core::ops::masked_mean;
use ember_core::pretrained::tokenizer::{EncodedBatch, HfTokenizer};
use ember_core::{Error, Result};

/// Pooled vectors of one model: `layers[ℓ]` is `[n, d_model]` row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerReprs {
    /// Label (e.g. the training step).
    pub label: String,
    /// One `[n, d]` matrix per hidden state (embeddings first).
    pub layers: Vec<Vec<f32>>,
    /// Rows.
    pub n: usize,
    /// Width.
    pub dim: usize,
}

/// Which tokens enter the mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pooling {
    /// Real tokens except the tokenizer's specials (BOS, EOS, language tags...): the default.
    #[default]
    MeanNoSpecials,
    /// Every real (non-padding) token.
    MeanAll,
}

impl Pooling {
    /// A short description for reports.
    pub fn describe(self) -> &'static str {
        match self {
            Pooling::MeanNoSpecials => "mean over real tokens, special tokens excluded",
            Pooling::MeanAll => "mean over every real (non-padding) token",
        }
    }
}

/// The token ids that [`Pooling::MeanNoSpecials`] leaves out of the mean.
pub trait SpecialIds {
    /// Whether `id` is a special token.
    fn is_special_id(&self, id: u32) -> bool;
}

/// ember's word tokenizer: [`Tokenizer::is_special`] (specials and language tags).
impl SpecialIds for Tokenizer {
    fn is_special_id(&self, id: u32) -> bool {
        self.is_special(id)
    }
}

impl SpecialIds for BTreeSet<u32> {
    fn is_special_id(&self, id: u32) -> bool {
        self.contains(&id)
    }
}

impl SpecialIds for HashSet<u32> {
    fn is_special_id(&self, id: u32) -> bool {
        self.contains(&id)
    }
}

impl SpecialIds for [u32] {
    fn is_special_id(&self, id: u32) -> bool {
        self.contains(&id)
    }
}

/// The special ids of a Hugging Face tokenizer: every added token marked `special`
/// (`<s>`, `</s>`, `<pad>`, `<unk>`, `[CLS]`, `<|endoftext|>`, ...; like ember's
/// [`Tokenizer::is_special`], the unknown token counts as special), the resolved pad / BOS /
/// EOS ids, and the tokens the post-processor adds (found from the special-tokens mask of a
/// probe encoding, for files whose template names tokens outside `added_tokens`).
pub fn hf_special_ids(tok: &HfTokenizer) -> BTreeSet<u32> {
    let inner = tok.inner();
    let mut ids: BTreeSet<u32> = inner
        .get_added_tokens_decoder()
        .iter()
        .filter(|(_, t)| t.special)
        .map(|(&id, _)| id)
        .collect();
    ids.extend(
        [tok.pad_id(), tok.bos_id(), tok.eos_id()]
            .into_iter()
            .flatten(),
    );
    // The load-time probe already encoded this text without panicking; an error (a
    // tokenizer that cannot encode it) just adds nothing.
    if let Ok(enc) = inner.encode("a", true) {
        ids.extend(
            enc.get_ids()
                .iter()
                .zip(enc.get_special_tokens_mask())
                .filter(|(_, m)| **m == 1)
                .map(|(&id, _)| id),
        );
    }
    ids
}

/// An ember [`Batch`] (right-padded ids, attention mask, lengths) from a Hugging Face
/// [`EncodedBatch`], for [`pool_layers`]. `n_truncated` is left at 0 (the encoder does not
/// report it).
pub fn batch_from_encoded(enc: &EncodedBatch) -> Batch {
    let width = enc.width();
    Batch {
        ids: enc.padded_ids(),
        attention_mask: enc
            .lengths
            .iter()
            .map(|&n| (0..width).map(|i| i < n).collect())
            .collect(),
        lengths: enc.lengths.clone(),
        n_truncated: 0,
    }
}

/// Per row of `batch`, the positions that enter the mean: real tokens, minus the specials
/// under [`Pooling::MeanNoSpecials`].
pub fn keep_mask<S: SpecialIds + ?Sized>(
    batch: &Batch,
    specials: &S,
    pooling: Pooling,
) -> Vec<Vec<bool>> {
    batch
        .ids
        .iter()
        .zip(&batch.attention_mask)
        .map(|(r, m)| keep_row(r, m, specials, pooling))
        .collect()
}

fn keep_row<S: SpecialIds + ?Sized>(
    ids: &[u32],
    real: &[bool],
    specials: &S,
    pooling: Pooling,
) -> Vec<bool> {
    ids.iter()
        .zip(real)
        .map(|(&id, &real)| real && (pooling == Pooling::MeanAll || !specials.is_special_id(id)))
        .collect()
}

fn to_int(rows: &[Vec<u32>], device: &Device) -> Tensor<2, Int> {
    let (b, t) = (rows.len(), rows[0].len());
    let ids: Vec<i64> = rows
        .iter()
        .flat_map(|r| r.iter().map(|&x| x as i64))
        .collect();
    Tensor::<1, Int>::from_data(TensorData::new(ids, [b * t]), device).reshape([b, t])
}

fn to_bool(rows: &[Vec<bool>], device: &Device) -> Tensor<2, Bool> {
    let (b, t) = (rows.len(), rows[0].len());
    let v: Vec<bool> = rows.iter().flatten().copied().collect();
    Tensor::<1, Bool>::from_data(TensorData::new(v, [b * t]), device).reshape([b, t])
}

/// Mean-pooled hidden states of every layer for the padded `batch`, processed in chunks of
/// `chunk` rows on `device` (`model` must live there; use `model.valid()` after training).
/// `specials` decides which ids [`Pooling::MeanNoSpecials`] excludes: ember's [`Tokenizer`],
/// or e.g. [`hf_special_ids`] for a pretrained checkpoint. A row with no kept token pools
/// to zeros.
pub fn pool_layers<M, S>(
    model: &M,
    batch: &Batch,
    specials: &S,
    pooling: Pooling,
    chunk: usize,
    device: &Device,
) -> Result<Vec<Vec<f32>>>
where
    M: LanguageModel + ?Sized,
    S: SpecialIds + ?Sized,
{
    let n = batch.ids.len();
    if n == 0 {
        return Err(Error::InvalidInput("no sentences to pool".into()));
    }
    if batch.attention_mask.len() != n {
        return Err(Error::Shape(
            "batch ids and attention mask differ in rows".into(),
        ));
    }
    if batch.ids[0].len() > model.max_len() {
        return Err(Error::Shape(format!(
            "batch width {} exceeds the model's max_len {}",
            batch.ids[0].len(),
            model.max_len()
        )));
    }
    let d = model.d_model();
    let mut layers = vec![Vec::with_capacity(n * d); model.n_layers() + 1];
    for start in (0..n).step_by(chunk.max(1)) {
        let end = (start + chunk.max(1)).min(n);
        let ids = &batch.ids[start..end];
        let att = &batch.attention_mask[start..end];
        let keep: Vec<Vec<bool>> = ids
            .iter()
            .zip(att)
            .map(|(r, m)| keep_row(r, m, specials, pooling))
            .collect();
        let pad: Vec<Vec<bool>> = att
            .iter()
            .map(|m| m.iter().map(|&r| !r).collect())
            .collect();
        let out = model.forward_with(
            TransformerInput::Tokens(to_int(ids, device)),
            ForwardOptions::hidden_states().with_pad_mask(to_bool(&pad, device)),
        )?;
        let keep_t = to_bool(&keep, device);
        for (l, h) in out.hidden_states.into_iter().enumerate() {
            let v = read_as::<f32, 2, Float>(masked_mean(h, keep_t.clone()), "pooled states")?;
            layers[l].extend(v);
        }
    }
    Ok(layers)
}

/// [`pool_layers`] for each `(label, model)` checkpoint.
pub fn pool_checkpoints<M, S>(
    models: &[(String, M)],
    batch: &Batch,
    specials: &S,
    pooling: Pooling,
    device: &Device,
) -> Result<Vec<LayerReprs>>
where
    M: LanguageModel,
    S: SpecialIds + ?Sized,
{
    models
        .iter()
        .map(|(label, m)| {
            Ok(LayerReprs {
                label: label.clone(),
                layers: pool_layers(m, batch, specials, pooling, 256, device)?,
                n: batch.ids.len(),
                dim: m.d_model(),
            })
        })
        .collect()
}
