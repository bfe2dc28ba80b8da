//! Causal language-model plumbing shared by the crates that train LMs (core's eval, soup's
//! Soup-of-Experts and auxiliary-language reproductions): token windows, batches, the
//! next-token loss, held-out loss, and per-sequence log-likelihoods for cloze / multiple
//! choice scoring.
//!
//! A *window* is `seq + 1` token ids: the model reads `w[..seq]` and predicts `w[1..]`.

use crate::error::{Error, Result};
use crate::loss::masked_cross_entropy_seq;
use crate::nn::transformer::{ForwardOptions, TransformerInput};
use crate::nn::{LanguageModel, Transformer};
use burn::prelude::*;
use burn::tensor::activation::log_softmax;

/// Non-overlapping windows of `seq + 1` tokens cut from a stream (the tail that does not
/// fill a window is dropped).
pub fn windows(stream: &[u32], seq: usize) -> Vec<&[u32]> {
    stream.chunks_exact(seq + 1).collect()
}

/// Token ids `[B, T]` from equally long rows.
///
/// Errors: no rows, or rows of different lengths.
pub fn token_batch<R: AsRef<[u32]>>(rows: &[R], device: &Device) -> Result<Tensor<2, Int>> {
    let b = rows.len();
    let t = rows.first().map(|r| r.as_ref().len()).unwrap_or(0);
    if b == 0 || t == 0 {
        return Err(Error::InvalidInput("token_batch: empty batch".into()));
    }
    let mut ids = Vec::with_capacity(b * t);
    for (i, r) in rows.iter().enumerate() {
        let r = r.as_ref();
        if r.len() != t {
            return Err(Error::Shape(format!(
                "token_batch: row {i} has {} tokens, row 0 has {t}",
                r.len()
            )));
        }
        ids.extend(r.iter().map(|&x| x as i64));
    }
    Ok(Tensor::<1, Int>::from_data(TensorData::new(ids, [b * t]), device).reshape([b, t]))
}

/// Mean next-token cross-entropy (nats/token) of `model` on a batch of windows `[B, seq+1]`.
/// Differentiable: use it as the training loss.
pub fn next_token_loss(model: &Transformer, windows: Tensor<2, Int>) -> Result<Tensor<1>> {
    let [b, t1] = windows.dims();
    if t1 < 2 {
        return Err(Error::Shape(format!(
            "next_token_loss: windows need at least 2 tokens, got {t1}"
        )));
    }
    let seq = t1 - 1;
    let device = windows.device();
    let logits = model.logits(windows.clone().slice([0..b, 0..seq]), None)?;
    let keep =
        Tensor::<2, Bool>::from_data(TensorData::new(vec![true; b * seq], [b, seq]), &device);
    masked_cross_entropy_seq(logits, windows.slice([0..b, 1..t1]), keep)
}

/// Mean next-token cross-entropy (nats/token) over many windows, in batches of `batch`.
///
/// Errors: no windows, or windows of different lengths.
pub fn mean_loss<R: AsRef<[u32]>>(
    model: &Transformer,
    windows: &[R],
    batch: usize,
    device: &Device,
) -> Result<f64> {
    if windows.is_empty() {
        return Err(Error::InvalidInput("mean_loss: no windows".into()));
    }
    let mut total = 0.0;
    let mut count = 0usize;
    for chunk in windows.chunks(batch.max(1)) {
        let x = token_batch(chunk, device)?;
        let n = chunk.len() * (chunk[0].as_ref().len() - 1);
        let loss = next_token_loss(model, x)?.into_scalar::<f64>();
        total += loss * n as f64;
        count += n;
    }
    Ok(total / count as f64)
}

/// Sum of `log p(x_t | x_<t)` over the scored positions of each sequence, and the number of
/// scored tokens: for cloze / multiple-choice scoring (length-normalise by dividing).
///
/// `seqs[i]` is a full token sequence (at least 2 tokens, at most `max_len + 1`); positions
/// `t ≥ score_from[i]` are scored (`score_from ≥ 1`: the first token has no context).
/// Sequences are right-padded into batches of `batch`; causal attention keeps padding from
/// affecting the scored positions.
pub fn sequence_logprobs(
    model: &Transformer,
    seqs: &[Vec<u32>],
    score_from: &[usize],
    batch: usize,
    device: &Device,
) -> Result<Vec<(f64, usize)>> {
    if seqs.len() != score_from.len() {
        return Err(Error::Shape(format!(
            "sequence_logprobs: {} sequences, {} start positions",
            seqs.len(),
            score_from.len()
        )));
    }
    if !model.is_causal() {
        return Err(Error::InvalidInput(
            "sequence_logprobs needs a causal model".into(),
        ));
    }
    let vocab = crate::nn::LanguageModel::vocab_size(model);
    for (i, (s, &f)) in seqs.iter().zip(score_from).enumerate() {
        if s.len() < 2 || s.len() > model.max_len() + 1 || f == 0 || f >= s.len() {
            return Err(Error::InvalidInput(format!(
                "sequence_logprobs: sequence {i} has {} tokens and scores from {f}; need 2..={} tokens and 1 <= start < len",
                s.len(),
                model.max_len() + 1
            )));
        }
        // Inputs are checked by the model; the last token is only a target, so check all here.
        if let Some(&bad) = s.iter().find(|&&id| id as usize >= vocab) {
            return Err(Error::InvalidInput(format!(
                "sequence_logprobs: sequence {i} has token id {bad} outside 0..{vocab}"
            )));
        }
    }
    let mut out = Vec::with_capacity(seqs.len());
    for (chunk, starts) in seqs
        .chunks(batch.max(1))
        .zip(score_from.chunks(batch.max(1)))
    {
        let t = chunk.iter().map(Vec::len).max().unwrap_or(2) - 1;
        let b = chunk.len();
        let mut inputs = Vec::with_capacity(b * t);
        let mut targets = Vec::with_capacity(b * t);
        for s in chunk {
            for p in 0..t {
                inputs.push(s.get(p).copied().unwrap_or(0) as i64);
                targets.push(s.get(p + 1).copied().unwrap_or(0) as i64);
            }
        }
        let x =
            Tensor::<1, Int>::from_data(TensorData::new(inputs, [b * t]), device).reshape([b, t]);
        let y = Tensor::<1, Int>::from_data(TensorData::new(targets, [b * t]), device)
            .reshape([b, t, 1]);
        let logits = model.logits(x, None)?;
        let lp = crate::host::read_as::<f32, 1, Float>(
            log_softmax(logits, 2).gather(2, y).reshape([b * t]),
            "sequence_logprobs",
        )?;
        for (i, (s, &from)) in chunk.iter().zip(starts).enumerate() {
            // Target position p predicts token p + 1; score tokens from..len.
            let sum: f64 = (from - 1..s.len() - 1).map(|p| lp[i * t + p] as f64).sum();
            out.push((sum, s.len() - from));
        }
    }
    Ok(out)
}

/// Per-row `Σ_t log p(x_t | x_<t)` over the response positions: the quantity DPO's implicit
/// reward is built from. Differentiable (a tensor `[B]` on the model's device), and works
/// on any [`LanguageModel`] (ember's Transformer or a loaded checkpoint).
///
/// `ids: [B, T]` are prompt + response (right-padded); `response: [B, T]` is true at the
/// positions whose token is scored (position 0 has no context and must be false);
/// `pad_mask: [B, T]` is true at padding (padding must not be marked as response).
pub fn response_logprob_sum(
    model: &(impl LanguageModel + ?Sized),
    ids: Tensor<2, Int>,
    response: Tensor<2, Bool>,
    pad_mask: Option<Tensor<2, Bool>>,
) -> Result<Tensor<1>> {
    let [b, t] = ids.dims();
    if !model.is_causal() {
        return Err(Error::InvalidInput(
            "response_logprob_sum needs a causal model".into(),
        ));
    }
    if response.dims() != [b, t] {
        return Err(Error::Shape(format!(
            "response mask is {:?}, ids are [{b}, {t}]",
            response.dims()
        )));
    }
    if t < 2 {
        return Err(Error::Shape(format!(
            "response_logprob_sum: need at least 2 positions, got {t}"
        )));
    }
    let first = crate::host::read_as::<bool, 2, Bool>(
        response.clone().slice([0..b, 0..1]),
        "the response mask",
    )?;
    if first.iter().any(|&x| x) {
        return Err(Error::InvalidInput(
            "response mask marks position 0, which has no context to be scored from".into(),
        ));
    }
    let mut opts = ForwardOptions::logits();
    opts.pad_mask = pad_mask;
    let logits = model
        .forward_with(TransformerInput::Tokens(ids.clone()), opts)?
        .logits
        .ok_or_else(|| Error::InvalidInput("model returned no logits".into()))?;
    let v = logits.dims()[2];
    let lp = log_softmax(logits.slice([0..b, 0..t - 1, 0..v]), 2)
        .gather(2, ids.slice([0..b, 1..t]).reshape([b, t - 1, 1]))
        .reshape([b, t - 1]);
    let keep = response.slice([0..b, 1..t]).float();
    Ok((lp * keep).sum_dim(1).reshape([b]))
}

/// A response mask `[B, T]` for rows whose response occupies positions
/// `prompt_len[i]..len[i]` (the [`response_logprob_sum`] input).
pub fn response_mask(
    prompt_len: &[usize],
    len: &[usize],
    t: usize,
    device: &Device,
) -> Result<Tensor<2, Bool>> {
    if prompt_len.len() != len.len() || prompt_len.is_empty() {
        return Err(Error::Shape(format!(
            "response_mask: {} prompt lengths, {} lengths",
            prompt_len.len(),
            len.len()
        )));
    }
    let b = len.len();
    let mut m = vec![false; b * t];
    for (i, (&p, &l)) in prompt_len.iter().zip(len).enumerate() {
        if p == 0 || p > l || l > t {
            return Err(Error::InvalidInput(format!(
                "response_mask: row {i} has prompt length {p}, length {l}, width {t}; need 1 <= prompt <= length <= width"
            )));
        }
        m[i * t + p..i * t + l].iter_mut().for_each(|x| *x = true);
    }
    Ok(Tensor::from_data(TensorData::new(m, [b, t]), device))
}
