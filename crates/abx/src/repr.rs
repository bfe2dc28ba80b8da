//! Sentence representations: the masked mean of every layer's hidden states of an
//! ember-core [`Transformer`], `h̄_ℓ(s) = Σ_t k_t h_ℓ,t / Σ_t k_t` with `k_t = 1` on real,
//! non-special tokens (BOS/EOS/padding excluded by default), for `ℓ = 0` (embeddings) …
//! `n_layers`, and for any list of checkpoints.

use burn::prelude::*;
use ember_core::data::tokenizer::{Batch, Tokenizer};
use ember_core::nn::transformer::TransformerInput;
use ember_core::nn::{ForwardOptions, Transformer};
use ember_core::ops::masked_mean;
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
pub fn pool_layers(
    model: &Transformer,
    batch: &Batch,
    tok: &Tokenizer,
    pooling: Pooling,
    chunk: usize,
    device: &Device,
) -> Result<Vec<Vec<f32>>> {
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
            .map(|(r, m)| {
                r.iter()
                    .zip(m)
                    .map(|(&id, &real)| {
                        real && (pooling == Pooling::MeanAll || !tok.is_special(id))
                    })
                    .collect()
            })
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
            let v = masked_mean(h, keep_t.clone())
                .try_to_vec_as::<f32>()
                .map_err(|e| Error::Backend(format!("reading pooled states: {e:?}")))?;
            layers[l].extend(v);
        }
    }
    Ok(layers)
}

/// [`pool_layers`] for each `(label, model)` checkpoint.
pub fn pool_checkpoints(
    models: &[(String, Transformer)],
    batch: &Batch,
    tok: &Tokenizer,
    pooling: Pooling,
    device: &Device,
) -> Result<Vec<LayerReprs>> {
    models
        .iter()
        .map(|(label, m)| {
            Ok(LayerReprs {
                label: label.clone(),
                layers: pool_layers(m, batch, tok, pooling, 256, device)?,
                n: batch.ids.len(),
                dim: m.d_model(),
            })
        })
        .collect()
}
