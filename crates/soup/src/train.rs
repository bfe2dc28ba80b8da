//! Training loops for the soup and its baselines, all through ember-core's [`Trainer`]
//! (AdamW, warmup + cosine, clipping, atomic checkpoints, exact resume):
//!
//! - [`train_soup`]: the paper's Algorithm 2. Each step samples `h ~ π`, instantiates
//!   `Θ(h) = S + Σ_j α_j(h) E_j`, draws one batch from `mix(h)` and backpropagates the LM loss
//!   into `S`, every `E_j` and the router `ω`. One `h` per step, shared by the whole batch.
//! - [`train_on_mixture`]: a plain model on a fixed mixture (the generic model on the natural
//!   mixture, a CRISP specialist on `mix(h_spe)`, fine-tuning on a specialist sample).
//!
//! Both draw batches from the trainer's RNG, so a resumed run replays the same batches.

use crate::meta::MetaDistribution;
use crate::mixture::MixtureSampler;
use crate::soe::SoupOfExperts;
use burn::prelude::*;
use ember_core::lm::{next_token_loss, token_batch};
use ember_core::nn::Transformer;
use ember_core::train::{RunSummary, StepOutput, TrainConfig, Trainer};
use ember_core::{Error, Result};
use rand_chacha::ChaCha8Rng;
use std::path::Path;

/// Optional checkpoint directory: resume from it if it holds a checkpoint.
fn trainer<M: burn::module::Module>(
    model: M,
    cfg: TrainConfig,
    device: &Device,
    dir: Option<&Path>,
) -> Result<Trainer<M>> {
    let mut t = Trainer::new(model, cfg, device);
    if let Some(dir) = dir {
        t = t.with_dir(dir)?;
        t.resume()?;
    }
    Ok(t)
}

/// Train a soup on `sampler`'s domains with `h ~ meta` per step (Algorithm 2). `device` must
/// be an autodiff device and the soup must live on it. Returns the trained soup.
pub fn train_soup(
    soup: SoupOfExperts,
    sampler: &MixtureSampler,
    meta: &MetaDistribution,
    batch: usize,
    cfg: TrainConfig,
    device: &Device,
    dir: Option<&Path>,
) -> Result<(SoupOfExperts, RunSummary)> {
    if meta.k() != sampler.k() || soup.n_domains() != sampler.k() {
        return Err(Error::Shape(format!(
            "soup has {} domains, meta-distribution {}, sampler {}",
            soup.n_domains(),
            meta.k(),
            sampler.k()
        )));
    }
    let mut t = trainer(soup, cfg, device, dir)?;
    let summary = t.run(|soup, rng, _| soup_step(soup, sampler, meta, batch, rng, device))?;
    Ok((t.into_model(), summary))
}

/// Train a plain LM on the fixed mixture `h` of `sampler`'s domains.
pub fn train_on_mixture(
    model: Transformer,
    sampler: &MixtureSampler,
    h: &[f64],
    batch: usize,
    cfg: TrainConfig,
    device: &Device,
    dir: Option<&Path>,
) -> Result<(Transformer, RunSummary)> {
    let mut t = trainer(model, cfg, device, dir)?;
    let summary = t.run(|model, rng, _| mixture_step(model, sampler, h, batch, rng, device))?;
    Ok((t.into_model(), summary))
}

/// The loss of one soup step (Algorithm 2): `h ~ π` (redrawn while it weights an empty
/// domain), `Θ(h)`, one batch from `mix(h)`. For custom loops around [`Trainer`].
pub fn soup_step(
    soup: &SoupOfExperts,
    sampler: &MixtureSampler,
    meta: &MetaDistribution,
    batch: usize,
    rng: &mut ChaCha8Rng,
    device: &Device,
) -> Result<StepOutput> {
    let sizes = sampler.sizes();
    let h = (0..1000)
        .map(|_| meta.sample(rng))
        .find(|h| h.iter().zip(&sizes).all(|(w, n)| *w == 0.0 || *n > 0))
        .ok_or_else(|| {
            Error::InvalidInput(
                "1000 draws of the meta-distribution all weighted an empty domain".into(),
            )
        })?;
    let (rows, _) = sampler.sample(&h, batch, rng)?;
    let model = soup.instantiate(&h)?;
    let x = token_batch(&rows, device)?;
    let items = x.dims()[0] * (x.dims()[1] - 1);
    Ok(StepOutput::new(next_token_loss(&model, x)?, items))
}

/// The loss of one plain-LM step on the fixed mixture `h`.
pub fn mixture_step(
    model: &Transformer,
    sampler: &MixtureSampler,
    h: &[f64],
    batch: usize,
    rng: &mut ChaCha8Rng,
    device: &Device,
) -> Result<StepOutput> {
    let (rows, _) = sampler.sample(h, batch, rng)?;
    let x = token_batch(&rows, device)?;
    let items = x.dims()[0] * (x.dims()[1] - 1);
    Ok(StepOutput::new(next_token_loss(model, x)?, items))
}
