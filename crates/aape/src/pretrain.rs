//! Contrastive pre-training of the small CLIP on rendered images and generated captions
//! (every class, base and novel, as CLIP's web data covers both), through ember-core's
//! [`Trainer`] so a long run checkpoints and resumes.

use crate::clip::{SmallClip, SmallClipConfig};
use crate::dual::{FramedPrompts, PromptTokenizer};
use crate::world::{AttrWorld, Domain, Images};
use burn::module::Module;
use burn::prelude::*;
use ember_core::seed::Seed;
use ember_core::train::{StepOutput, TrainConfig, Trainer};
use ember_core::{Error, Result};
use rand::RngExt;
use std::path::Path;

/// Settings of [`pretrain`].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PretrainConfig {
    /// Model sizes.
    pub model: SmallClipConfig,
    /// Rendered images per class.
    pub images_per_class: usize,
    /// Optimiser steps.
    pub steps: usize,
    /// Image-caption pairs per step.
    pub batch: usize,
    /// Peak learning rate (AdamW, warm-up 5 %, cosine decay).
    pub lr: f64,
}

impl PretrainConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        self.model.validate()?;
        if self.images_per_class == 0 || self.steps == 0 || self.batch < 2 {
            return Err(Error::Config(
                "PretrainConfig: images_per_class and steps must be ≥ 1, batch ≥ 2".into(),
            ));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(Error::Config(format!(
                "PretrainConfig: lr must be positive, got {}",
                self.lr
            )));
        }
        Ok(())
    }
}

/// A pre-trained small CLIP: the training copy (autodiff device, frozen) and the inference
/// copy, plus the final contrastive loss.
pub struct Pretrained {
    /// Frozen copy on the autodiff device (prompt learners backpropagate through its text
    /// tower).
    pub train_model: SmallClip,
    /// Inference copy.
    pub model: SmallClip,
    /// Contrastive loss of the last step.
    pub final_loss: f64,
}

/// Pre-train on `world` (seeded by `seed`); `device` is the inference device (training runs
/// on its autodiff variant); with `dir`, checkpoints go there and a run resumes.
pub fn pretrain(
    world: &AttrWorld,
    cfg: &PretrainConfig,
    seed: Seed,
    dir: Option<&Path>,
    device: &Device,
) -> Result<Pretrained> {
    cfg.validate()?;
    let tok = world.tokenizer();
    if cfg.model.vocab_size < tok.vocab_size() {
        return Err(Error::Config(format!(
            "vocab_size {} is smaller than the world's {}",
            cfg.model.vocab_size,
            tok.vocab_size()
        )));
    }
    let ad = device.clone().autodiff();
    let mut rng = seed.derive("pretrain-model").seed_device(&ad);
    let model = cfg.model.init(&ad)?;
    let classes: Vec<usize> = (0..world.config().classes).collect();
    let mut data_rng = seed.derive("pretrain-images").rng();
    let images: Images = world.render(
        &classes,
        cfg.images_per_class,
        Domain::InDistribution,
        &mut data_rng,
    );
    let s = images.side;
    let per = 3 * s * s;
    let n = images.len();
    let tc = TrainConfig::new(cfg.steps, cfg.lr)
        .with_warmup_steps(cfg.steps / 20)
        .with_weight_decay(0.01)
        .with_checkpoint_every(Some(cfg.steps.div_ceil(4)))
        .with_seed(seed.derive("pretrain-batches").value())
        .with_progress(false)
        .with_label("pretrain".into());
    let mut trainer = Trainer::try_new(model, tc, &ad)?;
    if let Some(d) = dir {
        trainer = trainer.with_dir(d)?;
        trainer.resume()?;
    }
    let mut last = f64::NAN;
    let summary = trainer.run(|m, step_rng, _| {
        let mut idx: Vec<usize> = Vec::with_capacity(cfg.batch);
        while idx.len() < cfg.batch.min(n) {
            let i = step_rng.random_range(0..n);
            if !idx.contains(&i) {
                idx.push(i);
            }
        }
        let mut px = Vec::with_capacity(idx.len() * per);
        let mut caps = Vec::with_capacity(idx.len());
        for &i in &idx {
            px.extend_from_slice(&images.pixels[i * per..(i + 1) * per]);
            caps.push(world.caption(images.labels[i], &images.present[i], step_rng));
        }
        let x = Tensor::<1>::from_data(TensorData::new(px, [idx.len() * per]), &ad).reshape([
            idx.len(),
            3,
            s,
            s,
        ]);
        let f = FramedPrompts::frame(&tok as &dyn PromptTokenizer, &caps, 0, cfg.model.max_tokens)?;
        let loss = m.contrastive_loss(x, f.tensor(&ad), &f.eot)?;
        let _ = m.valid(); // fold BatchNorm running statistics before a checkpoint
        Ok(StepOutput::new(loss, idx.len()))
    })?;
    last = if summary.steps_run > 0 {
        summary.final_loss
    } else {
        last
    };
    let trained = trainer.into_model();
    let model = trained.valid();
    let train_model = trained.freeze();
    let _ = &mut rng;
    Ok(Pretrained {
        train_model,
        model,
        final_loss: last,
    })
}
