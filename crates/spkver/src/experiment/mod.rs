//! The experiment behind `cargo xtask eval spkver` (paper P10): can the downstream model be
//! removed for speaker verification on self-supervised features?
//!
//! Synthetic speakers (formant synthesiser) in three disjoint populations, a tiny
//! HuBERT-style encoder pre-trained here on the first, the SUPERB x-vector baseline vs the
//! simplified head trained on the second, zero-shot per-layer scoring, data efficiency and
//! the same heads on log-mel input, all scored on the third. Each stage is a function of its
//! own ([`stages`], [`heads`]) so a test can run the whole chain at a tiny [`SpkverPlan`].
//!
//! [`checkpoint`] holds the glue of the binary's other mode (`--model`): the same
//! measurements on a user's pretrained speech checkpoint and VoxCeleb-style data.

pub mod checkpoint;
pub mod heads;
mod report;
pub mod stages;

use anyhow::Result;
use ember_core::eval::{EvalRun, Scale, check};
use ember_core::report::Report;
use serde::{Deserialize, Serialize};

pub use heads::{HeadInputs, HeadTrainer, Outcome};
pub use stages::{Data, EspeakZeroShot, Frozen, Pretrained, Trials, ZeroShot};

/// EER tolerance of the "no worse than" rules, fixed before any run (absolute, in EER units).
pub const TOL: f64 = 0.005;

/// Sizes and schedules of the spkver eval; defaults per scale, overridable with `--config` /
/// `--set` (e.g. `--set head_steps=400`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpkverPlan {
    /// Speakers of the unlabelled pre-training population.
    pub pretrain_speakers: usize,
    /// Utterances per pre-training speaker.
    pub pretrain_utts: usize,
    /// Speakers the heads are trained on (the AM-softmax classes).
    pub train_speakers: usize,
    /// Utterances per training speaker (the data-efficiency fractions take the first ones).
    pub train_utts: usize,
    /// Unseen test speakers; every pair of their utterances is a trial.
    pub test_speakers: usize,
    /// Utterances per test speaker (≥ 2, so that there are target trials).
    pub test_utts: usize,
    /// Utterance duration range `[min, max]` in seconds, for every population.
    pub duration_s: (f32, f32),
    /// Encoder width (4 attention heads, d_ff = 4 d_model).
    pub d_model: usize,
    /// Encoder Transformer layers (the heads see `n_layers + 1` hidden states).
    pub n_layers: usize,
    /// Masked-prediction pre-training steps.
    pub pretrain_steps: usize,
    /// Utterance crops per pre-training step.
    pub pretrain_batch: usize,
    /// Pre-training crop length in log-mel frames.
    pub pretrain_crop: usize,
    /// Training steps of every head.
    pub head_steps: usize,
    /// Crops per head training step.
    pub head_batch: usize,
    /// Head crop length in log-mel frames (half of it in encoder frames for SSL input).
    pub crop_frames: usize,
    /// Training-data fractions of the simplified head (must include 0.6 and 1.0: claims C1
    /// and C2 read them).
    pub fractions_simple: Vec<f64>,
    /// Training-data fractions of the x-vector baseline (must include 1.0).
    pub fractions_base: Vec<f64>,
}

impl ember_core::eval::Plan for SpkverPlan {
    fn for_scale(scale: Scale) -> Self {
        match scale {
            Scale::Quick => SpkverPlan {
                pretrain_speakers: 30,
                pretrain_utts: 4,
                train_speakers: 40,
                train_utts: 10,
                test_speakers: 20,
                test_utts: 8,
                duration_s: (1.5, 2.5),
                d_model: 64,
                n_layers: 3,
                pretrain_steps: 150,
                pretrain_batch: 16,
                pretrain_crop: 100,
                head_steps: 200,
                head_batch: 32,
                crop_frames: 100,
                fractions_simple: vec![0.6, 1.0],
                fractions_base: vec![1.0],
            },
            Scale::Full => SpkverPlan {
                pretrain_speakers: 200,
                pretrain_utts: 8,
                train_speakers: 160,
                train_utts: 20,
                test_speakers: 40,
                test_utts: 20,
                duration_s: (1.5, 3.0),
                d_model: 64,
                n_layers: 4,
                pretrain_steps: 2000,
                pretrain_batch: 32,
                pretrain_crop: 150,
                head_steps: 1200,
                head_batch: 32,
                crop_frames: 150,
                fractions_simple: vec![0.2, 0.4, 0.6, 0.8, 1.0],
                fractions_base: vec![0.6, 1.0],
            },
        }
    }

    fn validate(&self) -> ember_core::Result<()> {
        check(
            self.pretrain_speakers >= 1,
            "pretrain_speakers",
            "must be at least 1",
        )?;
        check(
            self.pretrain_utts >= 1,
            "pretrain_utts",
            "must be at least 1",
        )?;
        check(
            self.train_speakers >= 2,
            "train_speakers",
            "must be at least 2 (the heads classify speakers)",
        )?;
        check(self.train_utts >= 1, "train_utts", "must be at least 1")?;
        check(
            self.test_speakers >= 2,
            "test_speakers",
            "must be at least 2 (non-target trials)",
        )?;
        check(
            self.test_utts >= 2,
            "test_utts",
            "must be at least 2 (target trials)",
        )?;
        let (lo, hi) = self.duration_s;
        check(
            lo.is_finite() && hi.is_finite() && lo > 0.0 && lo <= hi,
            "duration_s",
            format!("must be [min, max] seconds with 0 < min ≤ max, got [{lo}, {hi}]"),
        )?;
        check(
            self.d_model >= 4 && self.d_model.is_multiple_of(4),
            "d_model",
            "must be a positive multiple of 4 (4 heads)",
        )?;
        check(self.n_layers >= 1, "n_layers", "must be at least 1")?;
        check(
            self.pretrain_steps >= 1,
            "pretrain_steps",
            "must be at least 1",
        )?;
        check(
            self.pretrain_batch >= 1,
            "pretrain_batch",
            "must be at least 1",
        )?;
        check(
            self.pretrain_crop >= 2,
            "pretrain_crop",
            "must be at least 2 frames",
        )?;
        check(self.head_steps >= 1, "head_steps", "must be at least 1")?;
        check(self.head_batch >= 1, "head_batch", "must be at least 1")?;
        check(
            self.crop_frames >= 2,
            "crop_frames",
            "must be at least 2 frames (SSL crops are half of it)",
        )?;
        check_fractions(&self.fractions_simple, "fractions_simple", &[0.6, 1.0])?;
        check_fractions(&self.fractions_base, "fractions_base", &[1.0])
    }
}

/// Every fraction in (0, 1], and the ones the claims read present.
fn check_fractions(fracs: &[f64], key: &str, needed: &[f64]) -> ember_core::Result<()> {
    check(
        fracs.iter().all(|f| f.is_finite() && *f > 0.0 && *f <= 1.0),
        key,
        format!("must hold fractions in (0, 1], got {fracs:?}"),
    )?;
    for n in needed {
        check(
            fracs.iter().any(|f| (f - n).abs() < 1e-9),
            key,
            format!("must include {n} (the claims read it), got {fracs:?}"),
        )?;
    }
    Ok(())
}

/// Runs the spkver eval with `plan` and returns its report (written by [`EvalRun::finish`]).
pub fn run(run: &EvalRun, plan: &SpkverPlan) -> Result<Report> {
    let seed = run.seed();
    let device = &run.device;
    ember_core::backend::seed_everything(device, seed);

    // 1. Data: disjoint speaker populations (different seeds) for pre-training, training, test.
    let data = Data::synthesise(plan, seed)?;
    // 2. Self-supervised pre-training (HuBERT iteration 1: k-means of log-mel token frames).
    let ad = device.clone().autodiff();
    let ssl = Pretrained::train(run, plan, &data, &ad)?;
    // 3. Frozen features, once per utterance; standardised per layer with training stats.
    let frozen = Frozen::extract(&ssl.encoder, &data, device)?;
    // 4. Zero-shot: per-layer mean ‖ std pooling, cosine scoring.
    let zero_shot = ZeroShot::score(&frozen, &data.trials)?;
    // 4b. Optional: zero-shot on espeak-ng speakers (a different synthesiser), when installed.
    let espeak = EspeakZeroShot::score_if_installed(plan, seed, &data, &ssl, &frozen, device)?;
    // 5. Heads, then the embedding throughput.
    let outs = heads::train_all(run, plan, &data, &frozen, &ad)?;
    let utt_per_s = heads::embed_throughput(plan, &data, &ssl, &frozen, device)?;
    // 6. Claims, tables, figures.
    report::build(
        run,
        plan,
        &report::Measured {
            data: &data,
            ssl: &ssl,
            frozen: &frozen,
            zero_shot: &zero_shot,
            espeak: espeak.as_ref(),
            heads: &outs,
            utt_per_s,
        },
    )
}
