//! Training loops (through ember-core's [`Trainer`]: AdamW, warmup + cosine, checkpoints,
//! resume) for the encoder's self-supervised pre-training and for the heads, plus
//! once-per-utterance embedding extraction.

use crate::encoder::SslEncoder;
use crate::fbank::Features;
use crate::features::LayerFeatures;
use crate::heads::SpeakerHead;
use burn::prelude::*;
use ember_core::cluster::KMeans;
use ember_core::train::{StepOutput, TrainConfig, Trainer};
use ember_core::{Error, Result};
use rand::RngExt;
use std::path::PathBuf;

/// Token-rate frames for k-means targets: the mean of the two log-mel frames under each
/// encoder output frame (`⌈T/2⌉ × n_mels`, row-major).
pub fn token_frames(f: &Features) -> Vec<f32> {
    let t_out = f.n_frames.div_ceil(2);
    let mut out = Vec::with_capacity(t_out * f.dim);
    for t in 0..t_out {
        let a = f.frame(2 * t);
        let b = if 2 * t + 1 < f.n_frames {
            f.frame(2 * t + 1)
        } else {
            a
        };
        out.extend(a.iter().zip(b).map(|(x, y)| 0.5 * (x + y)));
    }
    out
}

/// Cluster ids of every encoder output frame of every utterance.
pub fn cluster_targets(fbanks: &[Features], km: &KMeans) -> Result<Vec<Vec<u32>>> {
    fbanks
        .iter()
        .map(|f| {
            Ok(km
                .assign(&token_frames(f))?
                .into_iter()
                .map(|c| c as u32)
                .collect())
        })
        .collect()
}

/// Settings of the masked-prediction pre-training.
#[derive(Debug, Clone)]
pub struct PretrainConfig {
    /// Optimisation steps.
    pub steps: usize,
    /// Utterance crops per step.
    pub batch: usize,
    /// Crop length in log-mel frames (even).
    pub crop_frames: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Probability that a frame starts a masked span.
    pub mask_prob: f64,
    /// Masked span length in encoder frames.
    pub mask_span: usize,
    /// Seed.
    pub seed: u64,
    /// Checkpoint/log directory and whether to resume from it.
    pub dir: Option<PathBuf>,
    /// Resume from `dir`.
    pub resume: bool,
    /// Draw the trainer's progress bar on stderr (hidden when stderr is not a terminal).
    pub progress: bool,
}

/// Pre-train `encoder` (built on an autodiff device `device`) on `fbanks` with cluster
/// `targets`; returns the trained encoder and the loss curve `(step, loss)`.
pub fn pretrain_encoder(
    encoder: SslEncoder,
    fbanks: &[Features],
    targets: &[Vec<u32>],
    cfg: &PretrainConfig,
    device: &Device,
) -> Result<(SslEncoder, Vec<(f64, f64)>)> {
    if fbanks.len() != targets.len() {
        return Err(Error::Shape(format!(
            "pretrain: {} utterances but {} target sequences",
            fbanks.len(),
            targets.len()
        )));
    }
    let crop = cfg.crop_frames & !1;
    let usable: Vec<usize> = (0..fbanks.len())
        .filter(|&i| fbanks[i].n_frames >= crop)
        .collect();
    if usable.is_empty() || crop == 0 {
        return Err(Error::InvalidInput(format!(
            "pretrain: no utterance has ≥ {crop} frames"
        )));
    }
    let tc = crop / 2;
    let mut trainer = make_trainer(
        encoder,
        cfg.steps,
        cfg.lr,
        Some(1.0),
        cfg.seed,
        "ssl pretrain",
        &cfg.dir,
        cfg.progress,
        device,
    )?;
    if cfg.resume {
        trainer.resume()?;
    }
    let mut curve = Vec::new();
    let m = fbanks[0].dim;
    trainer.run(|enc, rng, step| {
        let mut x = Vec::with_capacity(cfg.batch * crop * m);
        let mut mask = Vec::with_capacity(cfg.batch * tc);
        let mut tg = Vec::with_capacity(cfg.batch * tc);
        for _ in 0..cfg.batch {
            let i = usable[rng.random_range(0..usable.len())];
            let f = &fbanks[i];
            let s = rng.random_range(0..=(f.n_frames - crop) / 2) * 2;
            x.extend_from_slice(&f.data[s * m..(s + crop) * m]);
            tg.extend(targets[i][s / 2..s / 2 + tc].iter().map(|&c| c as i64));
            let mut mk = vec![false; tc];
            for t in 0..tc {
                if rng.random::<f64>() < cfg.mask_prob {
                    mk[t..(t + cfg.mask_span).min(tc)]
                        .iter_mut()
                        .for_each(|v| *v = true);
                }
            }
            if !mk.iter().any(|&v| v) {
                mk[rng.random_range(0..tc)] = true;
            }
            mask.extend(mk);
        }
        let b = cfg.batch;
        let xt = Tensor::<1>::from_data(TensorData::new(x, [b * crop * m]), device)
            .reshape([b, crop, m]);
        let mt =
            Tensor::<1, Bool>::from_data(TensorData::new(mask, [b * tc]), device).reshape([b, tc]);
        let tt =
            Tensor::<1, Int>::from_data(TensorData::new(tg, [b * tc]), device).reshape([b, tc]);
        let loss = enc.pretrain_loss(xt, mt, tt)?;
        if step % 10 == 0 {
            curve.push((step as f64, loss.clone().into_scalar::<f64>()));
        }
        Ok(StepOutput::new(loss, b * tc))
    })?;
    Ok((trainer.into_model(), curve))
}

#[allow(clippy::too_many_arguments)]
fn make_trainer<M: Module>(
    model: M,
    steps: usize,
    lr: f64,
    clip: Option<f64>,
    seed: u64,
    label: &str,
    dir: &Option<PathBuf>,
    progress: bool,
    device: &Device,
) -> Result<Trainer<M>> {
    let tc = TrainConfig::new(steps, lr)
        .with_warmup_steps(steps / 10)
        .with_weight_decay(0.0)
        .with_grad_clip(clip)
        .with_checkpoint_every(Some((steps / 2).max(1)))
        .with_seed(seed)
        .with_progress(progress)
        .with_label(label.to_owned());
    let t = Trainer::new(model, tc, device);
    match dir {
        Some(d) => t.with_dir(d),
        None => Ok(t),
    }
}

/// Settings of head training.
#[derive(Debug, Clone)]
pub struct HeadTrainConfig {
    /// Optimisation steps.
    pub steps: usize,
    /// Crops per step.
    pub batch: usize,
    /// Crop length in frames.
    pub crop_frames: usize,
    /// Peak learning rate (Adam).
    pub lr: f64,
    /// AM-softmax scale.
    pub scale: f64,
    /// AM-softmax margin.
    pub margin: f64,
    /// Seed.
    pub seed: u64,
    /// Checkpoint/log directory.
    pub dir: Option<PathBuf>,
    /// Resume from `dir`.
    pub resume: bool,
    /// Draw the trainer's progress bar on stderr (hidden when stderr is not a terminal).
    pub progress: bool,
}

/// Train `head` (on autodiff `device`) with AM-softmax on random crops of `feats`
/// (utterances `subset`, speaker ids `labels[i] < n_speakers`). Returns the head and the
/// loss curve.
pub fn train_head<H: SpeakerHead>(
    head: H,
    feats: &[LayerFeatures],
    labels: &[usize],
    subset: &[usize],
    cfg: &HeadTrainConfig,
    device: &Device,
) -> Result<(H, Vec<(f64, f64)>)> {
    if feats.len() != labels.len() {
        return Err(Error::Shape(format!(
            "train_head: {} utterances, {} labels",
            feats.len(),
            labels.len()
        )));
    }
    let crop = cfg.crop_frames.max(head.min_frames());
    let usable: Vec<usize> = subset
        .iter()
        .copied()
        .filter(|&i| i < feats.len() && feats[i].n_frames >= crop)
        .collect();
    if usable.is_empty() {
        return Err(Error::InvalidInput(format!(
            "train_head: no training utterance with ≥ {crop} frames"
        )));
    }
    let (l, d) = (feats[usable[0]].n_layers, feats[usable[0]].dim);
    let mut trainer = make_trainer(
        head,
        cfg.steps,
        cfg.lr,
        Some(1000.0),
        cfg.seed,
        "head",
        &cfg.dir,
        cfg.progress,
        device,
    )?;
    if cfg.resume {
        trainer.resume()?;
    }
    let mut curve = Vec::new();
    trainer.run(|h, rng, step| {
        let b = cfg.batch;
        let mut x = Vec::with_capacity(b * l * crop * d);
        let mut y = Vec::with_capacity(b);
        for _ in 0..b {
            let i = usable[rng.random_range(0..usable.len())];
            let f = &feats[i];
            let s = rng.random_range(0..=f.n_frames - crop);
            for li in 0..l {
                x.extend_from_slice(f.slice(li, s, crop));
            }
            y.push(labels[i] as i64);
        }
        let xt = Tensor::<1>::from_data(TensorData::new(x, [b * l * crop * d]), device)
            .reshape([b, l, crop, d]);
        let yt = Tensor::<1, Int>::from_data(TensorData::new(y, [b]), device);
        let loss = h.loss(xt, yt, cfg.scale, cfg.margin)?;
        if step % 10 == 0 {
            curve.push((step as f64, loss.clone().into_scalar::<f64>()));
        }
        Ok(StepOutput::new(loss, b))
    })?;
    Ok((trainer.into_model(), curve))
}

/// Embed every utterance once (full length) with a head on a plain (inference) device.
pub fn embed_all<H: SpeakerHead>(
    head: &H,
    feats: &[LayerFeatures],
    device: &Device,
) -> Result<Vec<Vec<f32>>> {
    feats
        .iter()
        .map(|f| {
            let e = head.embed(f.to_tensor(device))?;
            ember_core::host::read_as::<f32, 2, Float>(e, "an embedding")
        })
        .collect()
}
