//! Training: SFT warm start, DPO with cached reference log-probabilities, and the explicit
//! reward model with the Bradley-Terry loss, all through ember-core's [`Trainer`] (atomic
//! checkpoints, exact resume, progress bar). DPO and EXRM runs with the same
//! [`Schedule::seed`] draw the same batches.

use crate::data::PreferencePair;
use crate::loss::{DpoConfig, PairLogProbs, dpo_loss};
use crate::policy::{LogProbReduction, PairBatch, ReferenceCache, pair_logprobs, sft_loss};
use crate::reward_model::RewardModel;
use burn::module::{Module, ModuleDisplay};
use burn::prelude::*;
use ember_core::nn::LanguageModel;
use ember_core::train::{StepOutput, TrainConfig, Trainer};
use ember_core::{Error, Result};
use rand::RngExt;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Optimisation schedule of one training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// Optimizer steps.
    pub steps: usize,
    /// Examples (pairs, or sequences for SFT) per step, drawn uniformly with replacement.
    pub batch: usize,
    /// Peak learning rate (AdamW without weight decay, cosine decay to 10 %).
    pub lr: f64,
    /// Linear warm-up steps.
    pub warmup: usize,
    /// Seed of the batch draws.
    pub seed: u64,
    /// Call the evaluation hook every this many steps (and at the end).
    pub eval_every: usize,
    /// Gradient-norm clip.
    pub grad_clip: f64,
}

impl Schedule {
    /// Checks every field (the error names it).
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidInput(format!("Schedule: {m}")));
        if self.steps == 0 || self.batch == 0 || self.eval_every == 0 {
            return bad("steps, batch and eval_every must be at least 1".into());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!("lr must be positive, got {}", self.lr));
        }
        if self.warmup > self.steps {
            return bad("warmup longer than the run".into());
        }
        if !(self.grad_clip.is_finite() && self.grad_clip > 0.0) {
            return bad("grad_clip must be positive".into());
        }
        Ok(())
    }

    fn config(&self, label: &str) -> TrainConfig {
        TrainConfig::new(self.steps, self.lr)
            .with_warmup_steps(self.warmup)
            .with_min_lr_ratio(0.1)
            .with_weight_decay(0.0)
            .with_grad_clip(Some(self.grad_clip))
            .with_checkpoint_every(Some(self.eval_every))
            .with_seed(self.seed)
            .with_label(label.into())
    }
}

/// The generic loop: `loss(model, indices)` gives one step's loss and item count for a batch
/// of example indices in `0..n`; `hook(step, model)` runs every `eval_every` steps. With
/// `dir`, checkpoints go there and an interrupted run resumes from the latest one.
#[allow(clippy::too_many_arguments)]
pub fn fit<M, F, H>(
    model: M,
    schedule: &Schedule,
    label: &str,
    n: usize,
    dir: Option<&Path>,
    device: &Device,
    mut loss: F,
    mut hook: H,
) -> Result<M>
where
    M: Module,
    F: FnMut(&M, &[usize]) -> Result<(Tensor<1>, usize)>,
    H: FnMut(usize, &M) -> Result<()>,
{
    schedule.validate()?;
    if n == 0 {
        return Err(Error::InvalidInput(format!(
            "{label}: no training examples"
        )));
    }
    let mut trainer = Trainer::try_new(model, schedule.config(label), device)?;
    if let Some(d) = dir {
        trainer = trainer.with_dir(d)?;
        trainer.resume()?;
    }
    while !trainer.is_done() {
        trainer.run_steps(schedule.eval_every, |m, rng, _| {
            let idx: Vec<usize> = (0..schedule.batch)
                .map(|_| rng.random_range(0..n))
                .collect();
            let (l, items) = loss(m, &idx)?;
            Ok(StepOutput::new(l, items))
        })?;
        hook(trainer.step(), trainer.model())?;
    }
    Ok(trainer.into_model())
}

/// Shared inputs of the three trainers: padding id, model length limit and vocabulary.
#[derive(Debug, Clone, Copy)]
pub struct Batching {
    /// Padding id.
    pub pad_id: u32,
    /// Longest sequence the model takes.
    pub max_len: usize,
    /// Vocabulary size (ids are checked against it).
    pub vocab: usize,
}

impl Batching {
    /// The batching of `model`'s limits with `pad_id`.
    pub fn of(model: &(impl LanguageModel + ?Sized), pad_id: u32) -> Self {
        Self {
            pad_id,
            max_len: model.max_len(),
            vocab: model.vocab_size(),
        }
    }

    fn pairs(&self, pairs: &[PreferencePair], idx: &[usize], device: &Device) -> Result<PairBatch> {
        let refs: Vec<&PreferencePair> = idx.iter().map(|&i| &pairs[i]).collect();
        PairBatch::new(&refs, self.pad_id, self.max_len, self.vocab, device)
    }
}

/// Supervised fine-tuning on `(prompt, response)` examples: mean NLL of the response tokens.
#[allow(clippy::too_many_arguments)]
pub fn train_sft<M, H>(
    model: M,
    data: &[(Vec<u32>, Vec<u32>)],
    schedule: &Schedule,
    batching: Batching,
    dir: Option<&Path>,
    device: &Device,
    hook: H,
) -> Result<M>
where
    M: Module + LanguageModel,
    H: FnMut(usize, &M) -> Result<()>,
{
    // An SFT example is a pair whose rejected side is never batched (PairBatch::sequences).
    let pairs: Vec<PreferencePair> = data
        .iter()
        .map(|(p, r)| PreferencePair {
            prompt: p.clone(),
            chosen: r.clone(),
            rejected: r[..1].to_vec(),
        })
        .collect();
    fit(
        model,
        schedule,
        "SFT",
        pairs.len(),
        dir,
        device,
        |m, idx| {
            let refs: Vec<&PreferencePair> = idx.iter().map(|&i| &pairs[i]).collect();
            let b = PairBatch::sequences(
                &refs,
                batching.pad_id,
                batching.max_len,
                batching.vocab,
                device,
            )?;
            let tokens = b.response_len.iter().sum();
            Ok((sft_loss(m, &b)?, tokens))
        },
        hook,
    )
}

/// DPO on `pairs`, with the reference log-probabilities taken from `cache` (computed once
/// with [`ReferenceCache::compute`]; index `i` of the cache belongs to `pairs[i]`).
#[allow(clippy::too_many_arguments)]
pub fn train_dpo<M, H>(
    policy: M,
    pairs: &[PreferencePair],
    cache: &ReferenceCache,
    dpo: &DpoConfig,
    schedule: &Schedule,
    batching: Batching,
    dir: Option<&Path>,
    device: &Device,
    hook: H,
) -> Result<M>
where
    M: Module + LanguageModel,
    H: FnMut(usize, &M) -> Result<()>,
{
    dpo.validate()?;
    if cache.len() != pairs.len() {
        return Err(Error::Shape(format!(
            "reference cache holds {} pairs, the data {}",
            cache.len(),
            pairs.len()
        )));
    }
    fit(
        policy,
        schedule,
        "DPO",
        pairs.len(),
        dir,
        device,
        |m, idx| {
            let b = batching.pairs(pairs, idx, device)?;
            let loss = dpo_step_loss(m, &b, cache, idx, dpo, device)?;
            Ok((loss, b.response_len.iter().sum()))
        },
        hook,
    )
}

/// One DPO loss with cached reference log-probabilities (the hot path the bench measures).
pub fn dpo_step_loss(
    policy: &(impl LanguageModel + ?Sized),
    batch: &PairBatch,
    cache: &ReferenceCache,
    idx: &[usize],
    dpo: &DpoConfig,
    device: &Device,
) -> Result<Tensor<1>> {
    let (pc, pr) = pair_logprobs(policy, batch, cache.reduction)?;
    let (rc, rr) = cache.gather(idx, device)?;
    dpo_loss(
        PairLogProbs {
            policy_chosen: pc,
            policy_rejected: pr,
            ref_chosen: rc,
            ref_rejected: rr,
        },
        dpo,
    )
}

/// One DPO loss recomputing the reference log-probabilities with a forward pass of
/// `reference` (no gradient flows into it): the uncached baseline of the bench.
pub fn dpo_step_loss_recomputed(
    policy: &(impl LanguageModel + ?Sized),
    reference: &(impl LanguageModel + ?Sized),
    batch: &PairBatch,
    reduction: LogProbReduction,
    dpo: &DpoConfig,
) -> Result<Tensor<1>> {
    let (pc, pr) = pair_logprobs(policy, batch, reduction)?;
    let (rc, rr) = pair_logprobs(reference, batch, reduction)?;
    dpo_loss(
        PairLogProbs {
            policy_chosen: pc,
            policy_rejected: pr,
            ref_chosen: rc.detach(),
            ref_rejected: rr.detach(),
        },
        dpo,
    )
}

/// The explicit reward model on `pairs` with the Bradley-Terry loss.
#[allow(clippy::too_many_arguments)]
pub fn train_exrm<M, H>(
    model: RewardModel<M>,
    pairs: &[PreferencePair],
    schedule: &Schedule,
    batching: Batching,
    dir: Option<&Path>,
    device: &Device,
    hook: H,
) -> Result<RewardModel<M>>
where
    M: Module + LanguageModel + ModuleDisplay,
    H: FnMut(usize, &RewardModel<M>) -> Result<()>,
{
    fit(
        model,
        schedule,
        "EXRM",
        pairs.len(),
        dir,
        device,
        |m, idx| {
            let b = batching.pairs(pairs, idx, device)?;
            Ok((m.loss(&b)?, b.response_len.iter().sum()))
        },
        hook,
    )
}
