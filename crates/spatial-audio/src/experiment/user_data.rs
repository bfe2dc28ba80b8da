//! ELSA on a user's data: the library side of `eval-spatial-audio --data DIR [--model DIR]`.
//!
//! `DIR` holds `captions.csv` (`file,caption`, read with [`crate::io::read_captions`]; file
//! names are relative to `DIR`) and the 4-channel FOA WAV files it names (read with
//! [`crate::io::read_foa_wav`] at the front end's rate, 16 kHz). Clips are cut or zero-padded
//! to `clip_s` seconds; a file named on several rows keeps every caption for training and its
//! first one for evaluation. Files (not rows) are split into training and held-out clips; the
//! model (two-branch audio encoder + text tower, InfoNCE) trains through ember-core's
//! `Trainer` under `<out>/user` (so `--resume` continues it) and reports retrieval R@1/5/10
//! both ways on the held-out clips. The text tower is ember's Transformer over the training
//! captions' words, or, with `--model DIR`, a loaded Hugging Face encoder (BERT-style, any
//! folder `PretrainedLm::from_dir` reads, with its `tokenizer.json`) fine-tuned end to end.
//! Localisation is not reported: the CSV carries no directions.

use super::{MAX_TOKENS, Vocab, equivalence_recall, padded_tensors};
use crate::features::{FeatureConfig, FeatureExtractor};
use crate::io::{read_captions, read_foa_wav};
use crate::model::{AudioEncoderConfig, AuxTargets, Elsa, TextEncoder, elsa_loss};
use anyhow::{Context, Result, bail, ensure};
use burn::module::Module;
use burn::prelude::*;
use ember_core::eval::{EvalRun, Plan, Scale, check};
use ember_core::nn::{LanguageModel, TransformerConfig};
use ember_core::ops::l2_normalize;
use ember_core::pretrained::PretrainedLm;
use ember_core::pretrained::tokenizer::{AnyTokenizer, TextTokenizer};
use ember_core::report::{Cell, Claim, Report, Table};
use ember_core::seed::Seed;
use ember_core::train::{StepOutput, TrainConfig, Trainer};
use rand::RngExt;
use rand::seq::SliceRandom;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The caption file expected inside `--data DIR`.
pub const CAPTIONS_FILE: &str = "captions.csv";

/// Settings of the user-data mode; defaults per scale, overridable with `--set`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserDataPlan {
    /// Share of the files held out for retrieval (at least 2 held out, 2 for training).
    pub heldout_fraction: f64,
    /// Seconds of each clip used (longer clips are cut, shorter ones zero-padded).
    pub clip_s: f64,
    /// Optimizer steps.
    pub steps: usize,
    /// Clips per step (capped at the training clips).
    pub batch: usize,
    /// Peak learning rate (AdamW, warm-up 10 %, cosine to 10 %).
    pub lr: f64,
    /// Width of ember's text Transformer (4 heads; unused with `--model`).
    pub d_text: usize,
    /// Blocks of ember's text Transformer (unused with `--model`).
    pub text_layers: usize,
    /// Shared embedding width.
    pub d_embed: usize,
    /// Longest caption in tokens (also capped by the loaded model's positions).
    pub max_tokens: usize,
    /// Checkpoint every this many steps.
    pub checkpoint_every: usize,
}

impl Plan for UserDataPlan {
    fn for_scale(scale: Scale) -> Self {
        let steps = match scale {
            Scale::Quick => 200,
            Scale::Full => 2000,
        };
        UserDataPlan {
            heldout_fraction: 0.2,
            clip_s: 4.0,
            steps,
            batch: 32,
            lr: 1e-3,
            d_text: 64,
            text_layers: 2,
            d_embed: 64,
            max_tokens: MAX_TOKENS,
            checkpoint_every: 100,
        }
    }

    fn validate(&self) -> ember_core::Result<()> {
        check(
            self.heldout_fraction > 0.0 && self.heldout_fraction < 1.0,
            "heldout_fraction",
            "must be in (0, 1)",
        )?;
        check(
            self.clip_s.is_finite() && self.clip_s >= 0.05 && self.clip_s <= 60.0,
            "clip_s",
            "must be in [0.05, 60] seconds",
        )?;
        check(self.max_tokens >= 1, "max_tokens", "must be at least 1")?;
        super::check_training(&super::TrainingKeys {
            steps: self.steps,
            batch: self.batch,
            lr: self.lr,
            d_text: self.d_text,
            text_layers: self.text_layers,
            d_embed: self.d_embed,
            checkpoint_every: self.checkpoint_every,
        })
    }
}

/// One audio file with its captions.
#[derive(Debug, Clone)]
pub struct UserClip {
    /// The file.
    pub file: PathBuf,
    /// Normalised log-mel `[T, M]`.
    pub logmel: Vec<f32>,
    /// Intensity maps `[6, T, M]`.
    pub intensity: Vec<f32>,
    /// Every caption of the file (the first one is used for evaluation).
    pub captions: Vec<String>,
}

/// A user's data set after reading, feature extraction and the split.
#[derive(Debug, Clone)]
pub struct UserData {
    /// Training clips.
    pub train: Vec<UserClip>,
    /// Held-out clips.
    pub heldout: Vec<UserClip>,
    /// Frames and mel bands of every clip.
    pub shape: (usize, usize),
}

/// Reads `dir/captions.csv` and every file it names, extracts features and splits the files
/// (shuffled with `seed`). Errors name the file at fault: a missing caption file or audio
/// file, a WAV that is not 4-channel 16 kHz, or too few files to split.
pub fn load(dir: &Path, plan: &UserDataPlan, seed: Seed) -> Result<UserData> {
    ensure!(
        dir.is_dir(),
        "--data {}: not a folder (expected a folder holding {CAPTIONS_FILE} and the FOA WAV files it names)",
        dir.display()
    );
    let csv = dir.join(CAPTIONS_FILE);
    ensure!(
        csv.is_file(),
        "{}: no caption file (expected `{CAPTIONS_FILE}` with the columns file,caption)",
        csv.display()
    );
    let rows = read_captions(&csv)?;
    let mut order: Vec<PathBuf> = Vec::new();
    let mut caps: HashMap<PathBuf, Vec<String>> = HashMap::new();
    for (i, r) in rows.iter().enumerate() {
        if !r.file.is_file() {
            bail!(
                "{}: line {} names {}, which does not exist",
                csv.display(),
                i + 2,
                r.file.display()
            );
        }
        caps.entry(r.file.clone())
            .or_insert_with(|| {
                order.push(r.file.clone());
                Vec::new()
            })
            .push(r.caption.clone());
    }
    let n = order.len();
    ensure!(
        n >= 4,
        "{}: {n} distinct audio files; at least 4 are needed (2 to train, 2 held out)",
        csv.display()
    );
    let fx = FeatureExtractor::new(FeatureConfig::default())?;
    let rate = fx.config().fbank.sample_rate;
    let n_samples = (plan.clip_s * rate as f64).round() as usize;
    let shape = (fx.n_frames(n_samples), fx.config().fbank.n_mels);
    ensure!(
        shape.0 >= 1,
        "clip_s {} s is shorter than one analysis frame",
        plan.clip_s
    );
    let mut clips: Vec<UserClip> = order
        .par_iter()
        .map(|file| -> Result<UserClip> {
            let mut foa = read_foa_wav(file, rate)?;
            for ch in &mut foa {
                ch.resize(n_samples, 0.0);
            }
            let f = fx
                .extract(&foa)
                .with_context(|| format!("features of {}", file.display()))?;
            Ok(UserClip {
                file: file.clone(),
                logmel: f.logmel,
                intensity: f.intensity,
                captions: caps[file].clone(),
            })
        })
        .collect::<Result<_>>()?;
    clips.shuffle(&mut seed.derive("split").rng());
    let n_held = ((n as f64 * plan.heldout_fraction).round() as usize).clamp(2, n - 2);
    let train = clips.split_off(n_held);
    let mut heldout = clips;
    // Log-mel normalisation from the training clips.
    let vals: Vec<f64> = train
        .iter()
        .flat_map(|c| c.logmel.iter().map(|v| *v as f64))
        .collect();
    let m = vals.iter().sum::<f64>() / vals.len().max(1) as f64;
    let sd = (vals.iter().map(|x| (x - m).powi(2)).sum::<f64>() / vals.len().max(1) as f64)
        .sqrt()
        .max(1e-6);
    let mut train = train;
    for c in train.iter_mut().chain(&mut heldout) {
        c.logmel
            .iter_mut()
            .for_each(|v| *v = ((*v as f64 - m) / sd) as f32);
    }
    Ok(UserData {
        train,
        heldout,
        shape,
    })
}

/// Turns captions into token ids for the text tower in use.
pub enum Captioner {
    /// ember's word vocabulary of the training captions (with ember's Transformer).
    Words(Vocab),
    /// The loaded checkpoint's tokenizer; ids must stay below `vocab`.
    Tokenizer {
        /// The tokenizer next to the checkpoint.
        tok: AnyTokenizer,
        /// The checkpoint's vocabulary size.
        vocab: usize,
        /// Longest sequence kept.
        max_len: usize,
    },
}

impl Captioner {
    /// Ids of `text` (at least one token).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        match self {
            Captioner::Words(v) => Ok(v.encode(text)),
            Captioner::Tokenizer {
                tok,
                vocab,
                max_len,
            } => {
                let mut ids = tok.encode_text(text)?;
                ids.truncate(*max_len);
                if let Some(bad) = ids.iter().find(|&&i| i as usize >= *vocab) {
                    bail!(
                        "the tokenizer gives id {bad} for {text:?}, beyond the model's vocabulary of {vocab}: the tokenizer.json does not belong to this checkpoint"
                    );
                }
                if ids.is_empty() {
                    ids.push(tok.pad_token_id());
                }
                Ok(ids)
            }
        }
    }

    /// `[B, L]` ids and padding mask of `captions`.
    pub fn batch(
        &self,
        captions: &[&str],
        device: &Device,
    ) -> Result<(Tensor<2, Int>, Tensor<2, Bool>)> {
        let caps: Vec<Vec<u32>> = captions
            .iter()
            .map(|c| self.encode(c))
            .collect::<Result<_>>()?;
        Ok(padded_tensors(&caps, device))
    }
}

fn audio_batch(data: &UserData, clips: &[&UserClip], device: &Device) -> (Tensor<4>, Tensor<4>) {
    let (t, m) = data.shape;
    let b = clips.len();
    let lm: Vec<f32> = clips
        .iter()
        .flat_map(|c| c.logmel.iter().copied())
        .collect();
    let iv: Vec<f32> = clips
        .iter()
        .flat_map(|c| c.intensity.iter().copied())
        .collect();
    (
        Tensor::<1>::from_floats(lm.as_slice(), device).reshape([b, 1, t, m]),
        Tensor::<1>::from_floats(iv.as_slice(), device).reshape([b, 6, t, m]),
    )
}

/// Trains `model` (already on the autodiff form of `device`) on the training clips with
/// checkpoints under `dir` (resumed when one is there); InfoNCE only, since the CSV carries
/// no spatial labels.
pub fn train<T: Module + burn::module::ModuleDisplay + TextEncoder>(
    model: Elsa<T>,
    captioner: &Captioner,
    data: &UserData,
    plan: &UserDataPlan,
    seed: Seed,
    device: &Device,
    dir: &Path,
) -> Result<Elsa<T>> {
    let ad = device.clone().autodiff();
    let cfg = TrainConfig::new(plan.steps, plan.lr)
        .with_warmup_steps(plan.steps / 10)
        .with_checkpoint_every(Some(plan.checkpoint_every))
        .with_seed(seed.derive("batches").value())
        .with_label("elsa-user".into());
    let mut trainer = Trainer::try_new(model, cfg, &ad)?.with_dir(dir)?;
    trainer.resume()?;
    let n = data.train.len();
    let bs = plan.batch.min(n);
    trainer.run(|m, rng, _| {
        // Distinct clips per batch: a repeated clip would be its own negative.
        let mut idx: Vec<usize> = (0..n).collect();
        idx.shuffle(rng);
        idx.truncate(bs);
        let clips: Vec<&UserClip> = idx.iter().map(|&i| &data.train[i]).collect();
        let caps: Vec<&str> = clips
            .iter()
            .map(|c| c.captions[rng.random_range(0..c.captions.len())].as_str())
            .collect();
        let (lm, iv) = audio_batch(data, &clips, &ad);
        let (ids, pad) = captioner
            .batch(&caps, &ad)
            .map_err(|e| ember_core::Error::InvalidInput(format!("{e:#}")))?;
        let out = m.audio.forward(lm, iv)?;
        let text = m.embed_text(ids, pad)?;
        let aux = AuxTargets {
            direction: Tensor::<2>::zeros([bs, 3], &ad),
            distance: Tensor::zeros([bs], &ad),
            log_area: Tensor::zeros([bs], &ad),
            mask: Tensor::zeros([bs], &ad),
        };
        let parts = elsa_loss(&out, text, m.logit_scale.value(), &aux)?;
        Ok(StepOutput::new(parts.total(0.0), bs))
    })?;
    Ok(trainer.into_model().valid())
}

fn rows(t: Tensor<2>) -> Result<Vec<f32>> {
    l2_normalize(t, 1, 1e-12)
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("{e:?}"))
}

/// Retrieval on the held-out clips, `[(a→t, t→a)]` at k = 1, 5, 10 (identical captions
/// count as hits, as in [`equivalence_recall`]), and the number of distinct captions.
pub fn retrieval<T: Module + TextEncoder>(
    model: &Elsa<T>,
    captioner: &Captioner,
    data: &UserData,
    device: &Device,
) -> Result<([(f64, f64); 3], usize)> {
    let mut audio = Vec::new();
    for chunk in data.heldout.chunks(64) {
        let clips: Vec<&UserClip> = chunk.iter().collect();
        let (lm, iv) = audio_batch(data, &clips, device);
        audio.extend(rows(model.audio.forward(lm, iv)?.embedding)?);
    }
    let mut captions: Vec<&str> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    let caption_of: Vec<usize> = data
        .heldout
        .iter()
        .map(|c| {
            *index.entry(c.captions[0].as_str()).or_insert_with(|| {
                captions.push(c.captions[0].as_str());
                captions.len() - 1
            })
        })
        .collect();
    let mut text = Vec::new();
    for chunk in captions.chunks(64) {
        let (ids, pad) = captioner.batch(chunk, device)?;
        text.extend(rows(model.embed_text(ids, pad)?)?);
    }
    let d = audio.len() / data.heldout.len();
    let mut out = [(0.0, 0.0); 3];
    for (o, k) in out.iter_mut().zip([1, 5, 10]) {
        *o = equivalence_recall(&audio, &text, d, &caption_of, k)?;
    }
    Ok((out, captions.len()))
}

/// Trains and evaluates on the user's data in `data_dir`, with ember's Transformer as the
/// text tower, or the checkpoint in `model_dir` (its `tokenizer.json` beside it).
pub fn run(
    run: &EvalRun,
    plan: &UserDataPlan,
    data_dir: &Path,
    model_dir: Option<&Path>,
) -> Result<Report> {
    let seed = Seed::new(run.seed());
    let data = load(data_dir, plan, seed.derive("data"))?;
    eprintln!(
        "read {} training and {} held-out files from {}",
        data.train.len(),
        data.heldout.len(),
        data_dir.display()
    );
    let ad = run.device.clone().autodiff();
    seed.derive("init").seed_device(&ad);
    let audio = AudioEncoderConfig {
        d_embed: plan.d_embed,
        ..AudioEncoderConfig::default()
    };
    let dir = run.run_dir("user")?;
    let (r, u, tower) = match model_dir {
        None => {
            let vocab = Vocab::build(
                data.train
                    .iter()
                    .flat_map(|c| c.captions.iter().map(String::as_str)),
            );
            let text = TransformerConfig::new(
                vocab.len(),
                plan.d_text,
                4,
                plan.text_layers,
                2 * plan.d_text,
                MAX_TOKENS.max(plan.max_tokens),
            )
            .with_lm_head(false)
            .try_init(&ad)?;
            let cap = Captioner::Words(vocab);
            let model = train(
                Elsa::new(&audio, text, &ad)?,
                &cap,
                &data,
                plan,
                seed,
                &run.device,
                &dir,
            )?;
            let (r, u) = retrieval(&model, &cap, &data, &run.device)?;
            (
                r,
                u,
                "ember Transformer (word vocabulary of the training captions)".to_string(),
            )
        }
        Some(m) => {
            let tok = AnyTokenizer::from_dir(m)
                .with_context(|| format!("--model {}: loading its tokenizer", m.display()))?;
            let lm = PretrainedLm::from_dir(m, &ad)
                .with_context(|| format!("--model {}: loading the checkpoint", m.display()))?;
            let cap = Captioner::Tokenizer {
                tok,
                vocab: lm.vocab_size(),
                max_len: plan.max_tokens.min(lm.max_len()),
            };
            let model = train(
                Elsa::new(&audio, lm, &ad)?,
                &cap,
                &data,
                plan,
                seed,
                &run.device,
                &dir,
            )?;
            let (r, u) = retrieval(&model, &cap, &data, &run.device)?;
            (r, u, format!("loaded checkpoint {}", m.display()))
        }
    };
    let mut rep = run.report("P8", "ELSA on user data: held-out audio-text retrieval");
    let mean_r1 = (r[0].0 + r[0].1) / 2.0;
    let chance = 1.0 / u as f64;
    rep.add_claim(
        Claim::new(
            "user-retrieval-above-chance",
            "The trained embedding retrieves held-out clips and captions better than chance",
            "mean of audio→text and text→audio R@1 on the held-out files; holds if above chance (1 / distinct held-out captions)",
            mean_r1,
            mean_r1 > chance,
        )
        .baseline(chance, "chance"),
    );
    let mut table = Table::new(
        "Held-out retrieval (identical captions count as hits)",
        ["direction", "R@1", "R@5", "R@10"],
    );
    for (name, key, pick) in [("audio → text", "a2t", 0usize), ("text → audio", "t2a", 1)] {
        let v: Vec<f64> = r
            .iter()
            .map(|p| if pick == 0 { p.0 } else { p.1 })
            .collect();
        let mut row = vec![Cell::from(name)];
        row.extend(v.iter().map(|x| Cell::from(format!("{x:.3}"))));
        table.add_row(row);
        for (k, x) in [1, 5, 10].iter().zip(&v) {
            rep.add_metric(format!("user_{key}_r{k}"), *x);
        }
    }
    rep.add_table(table);
    rep.add_note(format!(
        "data {}: {} training and {} held-out files ({} distinct held-out captions), {:.2} s per clip; text tower: {tower}; {} steps of {} clips; localisation not measured (no directions in the caption file)",
        data_dir.display(),
        data.train.len(),
        data.heldout.len(),
        u,
        plan.clip_s,
        plan.steps,
        plan.batch.min(data.train.len())
    ));
    Ok(rep)
}
