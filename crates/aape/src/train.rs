//! Training and evaluating the prompt learners on cached image features (the image tower is
//! frozen and there is no augmentation, so features are computed once), through
//! ember-core's [`Trainer`] (AdamW, cosine schedule, atomic checkpoints, resume).

use crate::dual::{DualEncoder, PromptTokenizer};
use crate::learners::{
    Aape, AapeConfig, ClassTexts, CoCoOp, CoOp, cosine_logits, init_context, kgcoop_penalty, l2n,
};
use burn::module::Module;
use burn::prelude::*;
use ember_core::loss::cross_entropy;
use ember_core::train::{StepOutput, TrainConfig, Trainer};
use ember_core::{Error, Result};
use rand::RngExt;
use std::path::Path;

/// Normalised image features with labels (indices into one [`ClassTexts`]).
#[derive(Debug, Clone)]
pub struct Features {
    /// Row-major `[N, E]`.
    pub feats: Vec<f32>,
    /// Label per row.
    pub labels: Vec<usize>,
    /// Width `E`.
    pub dim: usize,
}

impl Features {
    /// Features of image batches through `model` (inference device), `chunk` images per pass.
    /// `pixels` is row-major `[N, 3, S, S]`. Errors: a pixel count that is not a whole
    /// number of images, non-finite features, a label count that does not match.
    pub fn encode<M: DualEncoder + ?Sized>(
        model: &M,
        pixels: &[f32],
        side: usize,
        labels: Vec<usize>,
        chunk: usize,
        device: &Device,
    ) -> Result<Self> {
        let per = 3 * side * side;
        if per == 0 || !pixels.len().is_multiple_of(per) || pixels.len() / per != labels.len() {
            return Err(Error::Shape(format!(
                "{} pixel values for {} images of 3×{side}×{side}",
                pixels.len(),
                labels.len()
            )));
        }
        let mut feats = Vec::with_capacity(labels.len() * model.embed_dim());
        for c in pixels.chunks(per * chunk.max(1)) {
            let n = c.len() / per;
            let x = Tensor::<1>::from_data(TensorData::new(c.to_vec(), [c.len()]), device)
                .reshape([n, 3, side, side]);
            feats.extend(ember_core::host::to_host_finite(
                l2n(model.image_features(x)?),
                "image features",
            )?);
        }
        Ok(Self {
            feats,
            labels,
            dim: model.embed_dim(),
        })
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The rows at `idx` as a tensor `[B, E]` and their labels.
    pub fn batch(&self, idx: &[usize], device: &Device) -> (Tensor<2>, Vec<usize>) {
        let e = self.dim;
        let mut v = Vec::with_capacity(idx.len() * e);
        for &i in idx {
            v.extend_from_slice(&self.feats[i * e..(i + 1) * e]);
        }
        (
            Tensor::<1>::from_data(TensorData::new(v, [idx.len() * e]), device)
                .reshape([idx.len(), e]),
            idx.iter().map(|&i| self.labels[i]).collect(),
        )
    }

    /// The rows whose flag is set.
    pub fn filter(&self, keep: &[bool]) -> Self {
        let e = self.dim;
        let mut out = Self {
            feats: Vec::new(),
            labels: Vec::new(),
            dim: e,
        };
        for (i, _) in keep.iter().enumerate().filter(|(_, k)| **k) {
            out.feats.extend_from_slice(&self.feats[i * e..(i + 1) * e]);
            out.labels.push(self.labels[i]);
        }
        out
    }
}

/// Optimisation settings of prompt learning.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LearnConfig {
    /// Optimiser steps.
    pub steps: usize,
    /// Images per step.
    pub batch: usize,
    /// Peak learning rate (AdamW, cosine decay, no weight decay).
    pub lr: f64,
    /// Seed of the batch sampler.
    pub seed: u64,
    /// Context tokens of CoOp / CoCoOp / KgCoOp.
    pub n_ctx: usize,
    /// Text whose token embeddings initialise the context (when it has `n_ctx` tokens).
    pub ctx_init: Option<String>,
    /// Checkpoint every this many steps when a directory is given.
    pub checkpoint_every: usize,
}

impl LearnConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(format!("LearnConfig: {m}")));
        if self.steps == 0 || self.batch == 0 || self.checkpoint_every == 0 {
            return bad("steps, batch and checkpoint_every must be ≥ 1".into());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!("lr must be positive, got {}", self.lr));
        }
        if self.n_ctx == 0 {
            return bad("n_ctx must be ≥ 1".into());
        }
        Ok(())
    }

    fn trainer(&self, label: &str) -> TrainConfig {
        TrainConfig::new(self.steps, self.lr)
            .with_weight_decay(0.0)
            .with_min_lr_ratio(0.0)
            .with_grad_clip(Some(5.0))
            .with_checkpoint_every(Some(self.checkpoint_every))
            .with_seed(self.seed)
            .with_progress(false)
            .with_label(label.into())
    }
}

/// A prompt-learning method.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Hand-crafted template, no training.
    ZeroShot,
    /// Mean of the class descriptions, no training (needs descriptions at test time).
    Cupl,
    /// Learned context, shared or class-specific.
    CoOp {
        /// One context per class instead of a shared one.
        class_specific: bool,
    },
    /// Learned context plus an image-conditioned meta-net.
    CoCoOp,
    /// CoOp with KgCoOp's penalty toward the hand-crafted features.
    KgCoOp {
        /// Weight `w` of `1 − cos` (KgCoOp's script: 8).
        weight: f64,
    },
    /// Aggregate-and-adapted prompt embedding.
    Aape(AapeConfig),
}

impl Method {
    /// Short name for tables.
    pub fn name(&self) -> String {
        match self {
            Method::ZeroShot => "zero-shot".into(),
            Method::Cupl => "CuPL (descriptions)".into(),
            Method::CoOp { class_specific } => {
                if *class_specific {
                    "CoOp (class-specific)".into()
                } else {
                    "CoOp".into()
                }
            }
            Method::CoCoOp => "CoCoOp".into(),
            Method::KgCoOp { .. } => "KgCoOp".into(),
            Method::Aape(c) => format!(
                "AAPE ({}, λ={}{})",
                match c.aggregation {
                    crate::learners::Aggregation::Attention => "attention",
                    crate::learners::Aggregation::Mean => "mean",
                },
                c.lambda,
                match c.combiner {
                    crate::learners::Combiner::ResidualConcatProj => "",
                    crate::learners::Combiner::Additive => ", additive",
                }
            ),
        }
    }
}

/// A trained (or training-free) learner, on the device it was moved to.
#[derive(Debug)]
pub enum Learned {
    /// Template weights.
    ZeroShot,
    /// Description-mean weights.
    Cupl,
    /// CoOp or KgCoOp context.
    CoOp(Box<CoOp>),
    /// CoCoOp context and meta-net.
    CoCoOp(Box<CoCoOp>),
    /// AAPE generator, combination (and the aggregator, unused at test time).
    Aape(Box<Aape>),
}

impl Learned {
    /// Logits `[B, C]` of image features `f` over `texts`' classes.
    pub fn logits<M: DualEncoder + ?Sized>(
        &self,
        model: &M,
        texts: &ClassTexts,
        f: Tensor<2>,
        scale: f64,
    ) -> Result<Tensor<2>> {
        match self {
            Learned::ZeroShot => Ok(cosine_logits(f, texts.template.clone(), scale)),
            Learned::Cupl => Ok(cosine_logits(f, texts.cupl_weights(), scale)),
            Learned::CoOp(m) => Ok(cosine_logits(f, m.class_weights(model, texts)?, scale)),
            Learned::CoCoOp(m) => m.logits(model, texts, f, scale),
            Learned::Aape(m) => Ok(m.logits(f, texts.template.clone(), scale)),
        }
    }

    /// Top-1 accuracy on `data` (labels into `texts`), `chunk` images per pass.
    pub fn accuracy<M: DualEncoder + ?Sized>(
        &self,
        model: &M,
        texts: &ClassTexts,
        data: &Features,
        scale: f64,
        chunk: usize,
        device: &Device,
    ) -> Result<f64> {
        if data.is_empty() {
            return Err(Error::InvalidInput("no images to evaluate".into()));
        }
        let c = texts.len();
        let mut correct = 0usize;
        let idx: Vec<usize> = (0..data.len()).collect();
        for part in idx.chunks(chunk.max(1)) {
            let (f, y) = data.batch(part, device);
            let logits =
                ember_core::host::to_host_finite(self.logits(model, texts, f, scale)?, "logits")?;
            for (row, &yy) in logits.chunks(c).zip(&y) {
                let pred = row
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map_or(0, |x| x.0);
                correct += usize::from(pred == yy);
            }
        }
        Ok(correct as f64 / data.len() as f64)
    }
}

/// Everything one training run needs: the frozen model and texts on the autodiff device,
/// the tokenizer (for the context initialisation) and the few-shot features.
pub struct LearnInputs<'a, M: DualEncoder + ?Sized> {
    /// Frozen dual encoder on the autodiff device.
    pub model: &'a M,
    /// Its tokenizer.
    pub tok: &'a dyn PromptTokenizer,
    /// Training classes' texts on the autodiff device.
    pub texts: &'a ClassTexts,
    /// Few-shot training features.
    pub data: &'a Features,
    /// The model's logit scale.
    pub scale: f64,
}

fn run_trainer<Mo: Module, F>(
    model: Mo,
    cfg: &LearnConfig,
    label: &str,
    n: usize,
    dir: Option<&Path>,
    device: &Device,
    mut loss: F,
) -> Result<Mo>
where
    F: FnMut(&Mo, &[usize]) -> Result<Tensor<1>>,
{
    let mut trainer = Trainer::try_new(model, cfg.trainer(label), device)?;
    if let Some(d) = dir {
        trainer = trainer.with_dir(d)?;
        trainer.resume()?;
    }
    let batch = cfg.batch.min(n);
    trainer.run(|m, rng, _| {
        let idx: Vec<usize> = (0..batch).map(|_| rng.random_range(0..n)).collect();
        Ok(StepOutput::new(loss(m, &idx)?, idx.len()))
    })?;
    Ok(trainer.into_model())
}

/// Train `method` on `inputs` (everything on the autodiff `device`); with `dir`, checkpoints
/// go there and an interrupted run resumes. The result is moved to `out_device` (the
/// inference device). Errors: no training data, invalid settings, a NaN loss.
pub fn train<M: DualEncoder + ?Sized>(
    method: &Method,
    inputs: &LearnInputs<M>,
    cfg: &LearnConfig,
    dir: Option<&Path>,
    device: &Device,
) -> Result<Learned> {
    cfg.validate()?;
    let data = inputs.data;
    let n = data.len();
    if n == 0 {
        return Err(Error::InvalidInput("no training images".into()));
    }
    if data.dim != inputs.model.embed_dim() {
        return Err(Error::Shape(format!(
            "features of width {}, the model embeds into {}",
            data.dim,
            inputs.model.embed_dim()
        )));
    }
    if let Some(&y) = data.labels.iter().find(|&&y| y >= inputs.texts.len()) {
        return Err(Error::InvalidInput(format!(
            "label {y} out of range for {} training classes",
            inputs.texts.len()
        )));
    }
    let (model, texts, scale) = (inputs.model, inputs.texts, inputs.scale);
    let targets = |y: &[usize]| {
        Tensor::<1, Int>::from_data(
            TensorData::new(y.iter().map(|&v| v as i64).collect(), [y.len()]),
            device,
        )
    };
    let ctx0 = || {
        init_context(
            model,
            inputs.tok,
            cfg.ctx_init.as_deref(),
            cfg.n_ctx,
            device,
        )
    };
    Ok(match method {
        Method::ZeroShot => Learned::ZeroShot,
        Method::Cupl => Learned::Cupl,
        Method::CoOp { class_specific } => {
            let m = CoOp::new(ctx0()?, class_specific.then_some(texts.len()));
            let m = run_trainer(m, cfg, "coop", n, dir, device, |m, idx| {
                let (f, y) = data.batch(idx, device);
                let w = m.class_weights(model, texts)?;
                cross_entropy(cosine_logits(f, w, scale), targets(&y))
            })?;
            Learned::CoOp(Box::new(m.valid()))
        }
        Method::KgCoOp { weight } => {
            let m = CoOp::new(ctx0()?, None);
            let w8 = *weight;
            let m = run_trainer(m, cfg, "kgcoop", n, dir, device, |m, idx| {
                let (f, y) = data.batch(idx, device);
                let w = m.class_weights(model, texts)?;
                let ce = cross_entropy(cosine_logits(f, w.clone(), scale), targets(&y))?;
                Ok(ce + kgcoop_penalty(w, texts.template.clone()) * w8)
            })?;
            Learned::CoOp(Box::new(m.valid()))
        }
        Method::CoCoOp => {
            let m = CoCoOp::new(ctx0()?, model.embed_dim(), device);
            let m = run_trainer(m, cfg, "cocoop", n, dir, device, |m, idx| {
                let (f, y) = data.batch(idx, device);
                cross_entropy(m.logits(model, texts, f, scale)?, targets(&y))
            })?;
            Learned::CoCoOp(Box::new(m.valid()))
        }
        Method::Aape(c) => {
            let m = c.init(model.embed_dim(), device)?;
            let (lambda, temp) = (c.lambda, c.reward_temperature);
            let m = run_trainer(m, cfg, "aape", n, dir, device, |m, idx| {
                let (f, y) = data.batch(idx, device);
                let l = m.losses(f, &y, texts, scale, temp)?;
                Ok(l.task + l.distill * lambda + l.reward)
            })?;
            Learned::Aape(Box::new(m.valid()))
        }
    })
}
