//! Response log-probabilities of a causal LM on preference pairs: batching (chosen and
//! rejected rows in one forward pass, as TRL's `concatenated_forward`), the differentiable
//! policy log-probabilities, the SFT loss, and the reference log-probabilities computed once
//! per example and cached.
//!
//! Everything takes `&impl LanguageModel`: ember's Transformer and a loaded Hugging Face
//! checkpoint alike.

use crate::data::PreferencePair;
use burn::prelude::*;
use ember_core::lm::{response_logprob_sum, response_mask};
use ember_core::nn::LanguageModel;
use ember_core::{Error, Result};
use serde::{Deserialize, Serialize};

/// How a response's per-token log-probabilities are reduced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LogProbReduction {
    /// `Σ_t log p(y_t | x, y_<t)` (DPO; OpenRLHF's IPO).
    #[default]
    Sum,
    /// The sum divided by the number of response tokens (TRL's IPO).
    Mean,
}

/// A padded batch of `B` pairs as `2B` rows: rows `0..B` are `prompt ++ chosen`, rows
/// `B..2B` are `prompt ++ rejected`.
#[derive(Debug, Clone)]
pub struct PairBatch {
    /// Token ids `[2B, T]`, right-padded.
    pub ids: Tensor<2, Int>,
    /// True at the scored (response) positions `[2B, T]`.
    pub response: Tensor<2, Bool>,
    /// True at padding `[2B, T]`.
    pub pad: Tensor<2, Bool>,
    /// One-hot `[2B, T]` float mask of each row's last token (where the explicit reward
    /// model reads its scalar).
    pub last: Tensor<2>,
    /// Response tokens per row (`2B`).
    pub response_len: Vec<usize>,
    /// Number of pairs `B`.
    pub pairs: usize,
}

impl PairBatch {
    /// Pads `pairs` with `pad_id` into one batch on `device`.
    ///
    /// Errors: no pairs, an invalid pair, a sequence longer than `max_len`, or an id at or
    /// above `vocab` (when `vocab > 0`).
    pub fn new(
        pairs: &[&PreferencePair],
        pad_id: u32,
        max_len: usize,
        vocab: usize,
        device: &Device,
    ) -> Result<PairBatch> {
        Self::check(pairs, max_len, vocab)?;
        let b = pairs.len();
        let mut rows: Vec<(&[u32], &[u32])> = Vec::with_capacity(2 * b);
        rows.extend(
            pairs
                .iter()
                .map(|p| (p.prompt.as_slice(), p.chosen.as_slice())),
        );
        rows.extend(
            pairs
                .iter()
                .map(|p| (p.prompt.as_slice(), p.rejected.as_slice())),
        );
        Self::from_rows(&rows, b, pad_id, device)
    }

    fn check(pairs: &[&PreferencePair], max_len: usize, vocab: usize) -> Result<()> {
        if pairs.is_empty() {
            return Err(Error::InvalidInput("PairBatch: no pairs".into()));
        }
        for (i, p) in pairs.iter().enumerate() {
            p.validate()
                .map_err(|e| Error::InvalidInput(format!("pair {i}: {e}")))?;
            if p.max_len() > max_len {
                return Err(Error::InvalidInput(format!(
                    "pair {i} has {} tokens, the model takes at most {max_len}",
                    p.max_len()
                )));
            }
            if vocab > 0
                && let Some(&bad) = p
                    .prompt
                    .iter()
                    .chain(&p.chosen)
                    .chain(&p.rejected)
                    .find(|&&id| id as usize >= vocab)
            {
                return Err(Error::InvalidInput(format!(
                    "pair {i} has token id {bad} outside the vocabulary 0..{vocab}"
                )));
            }
        }
        Ok(())
    }

    /// The chosen sequences of `pairs` only (`B` rows, for SFT: [`sft_loss`]); `pairs` is
    /// `B`, and the rejected responses are ignored.
    ///
    /// Errors: as [`PairBatch::new`].
    pub fn sequences(
        pairs: &[&PreferencePair],
        pad_id: u32,
        max_len: usize,
        vocab: usize,
        device: &Device,
    ) -> Result<PairBatch> {
        Self::check(pairs, max_len, vocab)?;
        let rows: Vec<(&[u32], &[u32])> = pairs
            .iter()
            .map(|p| (p.prompt.as_slice(), p.chosen.as_slice()))
            .collect();
        Self::from_rows(&rows, pairs.len(), pad_id, device)
    }

    fn from_rows(
        rows: &[(&[u32], &[u32])],
        b: usize,
        pad_id: u32,
        device: &Device,
    ) -> Result<PairBatch> {
        let t = rows
            .iter()
            .map(|(p, r)| p.len() + r.len())
            .max()
            .unwrap_or(2);
        let t = t.max(2);
        let n = rows.len();
        let mut ids = vec![pad_id as i64; n * t];
        let mut pad = vec![true; n * t];
        let mut last = vec![0f32; n * t];
        let mut prompt_len = Vec::with_capacity(n);
        let mut len = Vec::with_capacity(n);
        let mut response_len = Vec::with_capacity(n);
        for (i, (p, r)) in rows.iter().enumerate() {
            for (j, &id) in p.iter().chain(r.iter()).enumerate() {
                ids[i * t + j] = id as i64;
                pad[i * t + j] = false;
            }
            let l = p.len() + r.len();
            last[i * t + l - 1] = 1.0;
            prompt_len.push(p.len());
            len.push(l);
            response_len.push(r.len());
        }
        Ok(PairBatch {
            ids: Tensor::<1, Int>::from_data(TensorData::new(ids, [n * t]), device).reshape([n, t]),
            response: response_mask(&prompt_len, &len, t, device)?,
            pad: Tensor::from_data(TensorData::new(pad, [n, t]), device),
            last: Tensor::<1>::from_data(TensorData::new(last, [n * t]), device).reshape([n, t]),
            response_len,
            pairs: b,
        })
    }
}

/// Differentiable response log-probabilities `(chosen [B], rejected [B])` of `model` on
/// `batch`, one forward pass over the `2B` rows.
pub fn pair_logprobs(
    model: &(impl LanguageModel + ?Sized),
    batch: &PairBatch,
    reduction: LogProbReduction,
) -> Result<(Tensor<1>, Tensor<1>)> {
    let b = batch.pairs;
    if batch.response_len.len() != 2 * b {
        return Err(Error::InvalidInput(
            "pair_logprobs needs a batch of pairs (PairBatch::new), not of sequences".into(),
        ));
    }
    let mut lp = response_logprob_sum(
        model,
        batch.ids.clone(),
        batch.response.clone(),
        Some(batch.pad.clone()),
    )?;
    if reduction == LogProbReduction::Mean {
        let n: Vec<f32> = batch.response_len.iter().map(|&n| n as f32).collect();
        lp = lp / Tensor::<1>::from_data(TensorData::new(n, [2 * b]), &batch.ids.device());
    }
    Ok((lp.clone().narrow(0, 0, b), lp.narrow(0, b, b)))
}

/// Mean negative log-likelihood per response token over every row of `batch` (build it
/// with [`PairBatch::sequences`]): the SFT loss (prompt tokens are context, not targets).
pub fn sft_loss(model: &(impl LanguageModel + ?Sized), batch: &PairBatch) -> Result<Tensor<1>> {
    let lp = response_logprob_sum(
        model,
        batch.ids.clone(),
        batch.response.clone(),
        Some(batch.pad.clone()),
    )?;
    let tokens: usize = batch.response_len.iter().sum();
    Ok(lp.sum().neg() / tokens as f64)
}

/// Host copies of a 1-d tensor as `f64`.
pub fn to_f64(t: Tensor<1>, what: &str) -> Result<Vec<f64>> {
    let v = ember_core::host::to_host_finite(t, what)?;
    Ok(v.into_iter().map(f64::from).collect())
}

/// Response log-probabilities `(chosen, rejected)` of every pair, computed in batches of
/// `batch` without gradients (pass a model on a non-autodiff device).
pub fn logprobs_of(
    model: &(impl LanguageModel + ?Sized),
    pairs: &[PreferencePair],
    pad_id: u32,
    batch: usize,
    reduction: LogProbReduction,
    device: &Device,
) -> Result<(Vec<f64>, Vec<f64>)> {
    if pairs.is_empty() {
        return Err(Error::InvalidInput("logprobs_of: no pairs".into()));
    }
    let (mut c, mut r) = (
        Vec::with_capacity(pairs.len()),
        Vec::with_capacity(pairs.len()),
    );
    for chunk in pairs.chunks(batch.max(1)) {
        let refs: Vec<&PreferencePair> = chunk.iter().collect();
        let pb = PairBatch::new(&refs, pad_id, model.max_len(), model.vocab_size(), device)?;
        let (lc, lr) = pair_logprobs(model, &pb, reduction)?;
        c.extend(to_f64(lc, "chosen log-probabilities")?);
        r.extend(to_f64(lr, "rejected log-probabilities")?);
    }
    Ok((c, r))
}

/// Reference-model log-probabilities of a fixed set of pairs, computed once (the reference
/// is frozen) and looked up by example index in every DPO step (TRL's
/// `precompute_ref_log_probs`).
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceCache {
    /// `log π_ref(y_w|x)` per pair.
    pub chosen: Vec<f64>,
    /// `log π_ref(y_l|x)` per pair.
    pub rejected: Vec<f64>,
    /// The reduction the values were computed with.
    pub reduction: LogProbReduction,
}

impl ReferenceCache {
    /// Scores every pair with `reference` (in batches of `batch`, no gradients).
    pub fn compute(
        reference: &(impl LanguageModel + ?Sized),
        pairs: &[PreferencePair],
        pad_id: u32,
        batch: usize,
        reduction: LogProbReduction,
        device: &Device,
    ) -> Result<ReferenceCache> {
        let (chosen, rejected) = logprobs_of(reference, pairs, pad_id, batch, reduction, device)?;
        Ok(ReferenceCache {
            chosen,
            rejected,
            reduction,
        })
    }

    /// Number of cached pairs.
    pub fn len(&self) -> usize {
        self.chosen.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.chosen.is_empty()
    }

    /// The cached `(chosen [B], rejected [B])` of the pairs at `indices`, as tensors.
    ///
    /// Errors: an index past the cache.
    pub fn gather(&self, indices: &[usize], device: &Device) -> Result<(Tensor<1>, Tensor<1>)> {
        let n = indices.len();
        let mut c = Vec::with_capacity(n);
        let mut r = Vec::with_capacity(n);
        for &i in indices {
            if i >= self.len() {
                return Err(Error::InvalidInput(format!(
                    "reference cache holds {} pairs, asked for index {i}",
                    self.len()
                )));
            }
            c.push(self.chosen[i] as f32);
            r.push(self.rejected[i] as f32);
        }
        Ok((
            Tensor::from_data(TensorData::new(c, [n]), device),
            Tensor::from_data(TensorData::new(r, [n]), device),
        ))
    }
}
