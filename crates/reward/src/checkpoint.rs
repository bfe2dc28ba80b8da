//! DPO on a user's checkpoint and preference file: the library side of
//! `eval-reward --model DIR --data FILE.jsonl`.
//!
//! Loads a Hugging Face causal LM folder (or any folder [`PretrainedLm::from_dir`] reads,
//! with its `tokenizer.json`), reads the JSONL ([`crate::data::read_preferences`]), splits it
//! into training and held-out pairs, caches the reference log-probabilities (the reference
//! is the starting model unless another folder is given), runs DPO with checkpoints under
//! the output folder, and reports the implicit reward model's accuracy before and after.

use crate::data::{PreferencePair, read_preferences, tokenize_pairs};
use crate::loss::{DpoConfig, Ties, implicit_rewards, preference_accuracy};
use crate::policy::{LogProbReduction, ReferenceCache, logprobs_of};
use crate::train::{Batching, Schedule, train_dpo};
use burn::module::Module;
use burn::prelude::*;
use ember_core::nn::LanguageModel;
use ember_core::pretrained::PretrainedLm;
use ember_core::pretrained::tokenizer::{AnyTokenizer, TextTokenizer};
use ember_core::seed::Seed;
use ember_core::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What to run; [`CheckpointDpo::new`] gives the documented defaults.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointDpo {
    /// The policy's starting checkpoint (a Hugging Face folder with `tokenizer.json`).
    pub model: PathBuf,
    /// The reference model's folder; `None`: the starting checkpoint (standard DPO).
    pub reference: Option<PathBuf>,
    /// The preference JSONL file.
    pub data: PathBuf,
    /// Share of the pairs held out for the accuracy after training (default 0.2; at least
    /// one pair on each side).
    pub heldout_fraction: f64,
    /// DPO settings (default β = 0.1, sigmoid).
    pub dpo: DpoConfig,
    /// Optimizer steps (default 50), batch 4 pairs, peak lr 1e-5 (AdamW, 10 % warm-up).
    pub schedule: Schedule,
    /// Tie convention of the reported accuracies (default: ties count ½).
    pub ties: Ties,
}

impl CheckpointDpo {
    /// Defaults (see the fields) for `model` and `data`.
    pub fn new(model: impl Into<PathBuf>, data: impl Into<PathBuf>) -> Self {
        Self {
            model: model.into(),
            reference: None,
            data: data.into(),
            heldout_fraction: 0.2,
            dpo: DpoConfig::default(),
            schedule: Schedule {
                steps: 50,
                batch: 4,
                lr: 1e-5,
                warmup: 5,
                seed: 0,
                eval_every: 10,
                grad_clip: 1.0,
            },
            ties: Ties::Half,
        }
    }

    /// Checks the fields (the error names the one at fault).
    pub fn validate(&self) -> Result<()> {
        if !(self.heldout_fraction > 0.0 && self.heldout_fraction < 1.0) {
            return Err(Error::InvalidInput(format!(
                "heldout_fraction must be in (0, 1), got {}",
                self.heldout_fraction
            )));
        }
        self.dpo.validate()?;
        self.schedule.validate()
    }
}

/// What [`CheckpointDpo::run`] measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointDpoResult {
    /// The settings it ran with.
    pub settings: CheckpointDpo,
    /// Training / held-out pairs.
    pub pairs: (usize, usize),
    /// Implicit-reward accuracy on the held-out pairs before training (every pair ties when
    /// the reference is the starting model).
    pub heldout_accuracy_before: f64,
    /// Implicit-reward accuracy on the training pairs after DPO.
    pub train_accuracy_after: f64,
    /// Implicit-reward accuracy on the held-out pairs after DPO.
    pub heldout_accuracy_after: f64,
    /// Mean implicit reward margin `r(y_w) − r(y_l)` on the held-out pairs after DPO.
    pub heldout_margin_after: f64,
}

impl CheckpointDpoResult {
    /// Writes `dpo_result.json` into `dir` and returns its path.
    pub fn write_report(&self, dir: impl AsRef<Path>) -> Result<PathBuf> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let path = dir.join("dpo_result.json");
        let json = serde_json::to_string_pretty(self)
            .map_err(|e| Error::InvalidInput(format!("serialising the result: {e}")))?;
        std::fs::write(&path, json).map_err(|e| Error::io(&path, e))?;
        Ok(path)
    }
}

fn accuracy(
    policy: &(impl LanguageModel + ?Sized),
    cache: &ReferenceCache,
    pairs: &[PreferencePair],
    run: &CheckpointDpo,
    pad: u32,
    device: &Device,
) -> Result<(f64, f64)> {
    let (c, r) = logprobs_of(policy, pairs, pad, 8, cache.reduction, device)?;
    let rc = implicit_rewards(&c, &cache.chosen, run.dpo.beta)?;
    let rr = implicit_rewards(&r, &cache.rejected, run.dpo.beta)?;
    let margin = rc.iter().zip(&rr).map(|(a, b)| a - b).sum::<f64>() / rc.len() as f64;
    Ok((preference_accuracy(&rc, &rr, run.ties)?, margin))
}

impl CheckpointDpo {
    /// Runs DPO on `device` (its autodiff form trains), checkpointing under `out/dpo`
    /// (resumed when a checkpoint is there).
    ///
    /// Errors: an unreadable checkpoint, tokenizer or data file (each naming the file), too
    /// few pairs to split, a pair longer than the model's context, invalid settings.
    pub fn run(&self, out: &Path, device: &Device) -> Result<CheckpointDpoResult> {
        self.validate()?;
        let tok = AnyTokenizer::from_dir(&self.model)?;
        let text = read_preferences(&self.data)?;
        let policy = PretrainedLm::from_dir(&self.model, device)?;
        if !policy.is_causal() {
            return Err(Error::InvalidInput(format!(
                "{}: DPO needs a causal language model",
                self.model.display()
            )));
        }
        let pairs = tokenize_pairs(&text, &tok, policy.max_len())?;
        let n_held = ((pairs.len() as f64 * self.heldout_fraction).round() as usize).max(1);
        if pairs.len() < n_held + 1 {
            return Err(Error::InvalidInput(format!(
                "{}: {} pairs cannot be split into training and held-out pairs",
                self.data.display(),
                pairs.len()
            )));
        }
        // A seeded shuffle, so the split does not follow the file's order.
        let mut order: Vec<usize> = (0..pairs.len()).collect();
        rand::seq::SliceRandom::shuffle(
            order.as_mut_slice(),
            &mut Seed::new(self.schedule.seed).derive("split").rng(),
        );
        let held: Vec<PreferencePair> = order[..n_held].iter().map(|&i| pairs[i].clone()).collect();
        let train: Vec<PreferencePair> =
            order[n_held..].iter().map(|&i| pairs[i].clone()).collect();
        let pad = tok.pad_token_id();
        let reduction = LogProbReduction::Sum;
        let (train_cache, held_cache) = {
            let reference = match &self.reference {
                Some(dir) => PretrainedLm::from_dir(dir, device)?,
                None => policy.clone(),
            };
            (
                ReferenceCache::compute(&reference, &train, pad, 8, reduction, device)?,
                ReferenceCache::compute(&reference, &held, pad, 8, reduction, device)?,
            )
        };
        let (before, _) = accuracy(&policy, &held_cache, &held, self, pad, device)?;
        let ad = device.clone().autodiff();
        let batching = Batching::of(&policy, pad);
        let trained = train_dpo(
            PretrainedLm::from_dir(&self.model, &ad)?,
            &train,
            &train_cache,
            &self.dpo,
            &self.schedule,
            batching,
            Some(&out.join("dpo")),
            &ad,
            |_, _| Ok(()),
        )?
        .valid();
        let (train_after, _) = accuracy(&trained, &train_cache, &train, self, pad, device)?;
        let (held_after, margin) = accuracy(&trained, &held_cache, &held, self, pad, device)?;
        Ok(CheckpointDpoResult {
            settings: self.clone(),
            pairs: (train.len(), held.len()),
            heldout_accuracy_before: before,
            train_accuracy_after: train_after,
            heldout_accuracy_after: held_after,
            heldout_margin_after: margin,
        })
    }
}

/// The tokenizer next to a model, for callers that tokenize themselves.
pub fn tokenizer_of(model: impl AsRef<Path>) -> Result<AnyTokenizer> {
    AnyTokenizer::from_dir(model)
}
