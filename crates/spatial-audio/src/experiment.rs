//! The experiment behind `cargo xtask eval spatial-audio`: in the synthetic world
//! ([`crate::world`]), train ELSA-lite (two-branch audio encoder, InfoNCE + spatial heads) and
//! a semantic-only baseline (the same model without the spatial branch, CLAP-like) on the same
//! clips and captions, then compare retrieval on mono clips with plain captions, retrieval on
//! spatial clips with spatial captions, and localisation from frozen embeddings against the
//! no-learning intensity-vector estimate.
//!
//! Stages, each callable on its own: [`prepare`] (clips, features, the pilot's intensity
//! estimates), [`train`] (one model through ember-core's `Trainer`, checkpointed and
//! resumable), [`evaluate`] (retrieval, probe), [`report`] (claims, tables, figures).
//! [`user_data`] runs the method on a user's FOA WAV files and captions instead.

pub mod user_data;

use crate::captions::words;
use crate::features::{FeatureConfig, FeatureExtractor};
use crate::foa::angle_deg;
use crate::model::{AudioEncoderConfig, AuxTargets, Elsa, elsa_loss};
use crate::world::{SpatialLabel, WorldConfig, make_clip};
use anyhow::{Context, Result};
use burn::module::Module;
use burn::prelude::*;
use ember_core::eval::{EvalRun, Plan, Scale, check};
use ember_core::nn::{Mlp, MlpConfig, Transformer, TransformerConfig};
use ember_core::ops::l2_normalize;
use ember_core::report::plot::{self, BarChart};
use ember_core::report::{Cell, Claim, Figure, Report, Table};
use ember_core::seed::Seed;
use ember_core::train::{StepOutput, TrainConfig, Trainer};
use rand::RngExt;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// Sizes and hyper-parameters of the `spatial-audio` eval; defaults per scale, overridable
/// with `--config` / `--set`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpatialAudioPlan {
    /// Training clips (spatial and mono mixed by `spatial_fraction`).
    pub train_clips: usize,
    /// Fraction of training clips rendered in a room with a spatial caption.
    pub spatial_fraction: f64,
    /// Spatial test clips (spatial captions; localisation).
    pub test_spatial: usize,
    /// Mono test clips (plain captions).
    pub test_mono: usize,
    /// Image-source order before the diffuse tail.
    pub max_order: usize,
    /// Optimizer steps of each model.
    pub steps: usize,
    /// Clips per step.
    pub batch: usize,
    /// Peak learning rate (AdamW, warm-up 10 %, cosine to 10 %).
    pub lr: f64,
    /// Weight of the auxiliary spatial losses.
    pub aux_weight: f64,
    /// Text Transformer width (4 heads).
    pub d_text: usize,
    /// Text Transformer blocks.
    pub text_layers: usize,
    /// Shared embedding width.
    pub d_embed: usize,
    /// Steps of the localisation probe (2-layer MLP on frozen audio embeddings).
    pub probe_steps: usize,
    /// Checkpoint every this many steps.
    pub checkpoint_every: usize,
}

impl Plan for SpatialAudioPlan {
    fn for_scale(scale: Scale) -> Self {
        match scale {
            Scale::Quick => SpatialAudioPlan {
                train_clips: 1200,
                spatial_fraction: 0.7,
                test_spatial: 200,
                test_mono: 140,
                max_order: 6,
                steps: 250,
                batch: 48,
                lr: 2e-3,
                aux_weight: 1.0,
                d_text: 64,
                text_layers: 2,
                d_embed: 64,
                probe_steps: 300,
                checkpoint_every: 125,
            },
            Scale::Full => SpatialAudioPlan {
                train_clips: 6000,
                spatial_fraction: 0.7,
                test_spatial: 600,
                test_mono: 280,
                max_order: 8,
                steps: 2000,
                batch: 64,
                lr: 1e-3,
                aux_weight: 1.0,
                d_text: 64,
                text_layers: 2,
                d_embed: 64,
                probe_steps: 600,
                checkpoint_every: 250,
            },
        }
    }

    fn validate(&self) -> ember_core::Result<()> {
        check(self.train_clips >= 8, "train_clips", "must be at least 8")?;
        check(
            self.spatial_fraction > 0.0 && self.spatial_fraction < 1.0,
            "spatial_fraction",
            "must be in (0, 1)",
        )?;
        check(self.test_spatial >= 4, "test_spatial", "must be at least 4")?;
        check(self.test_mono >= 4, "test_mono", "must be at least 4")?;
        check(self.max_order <= 30, "max_order", "must be at most 30")?;
        check(
            self.aux_weight.is_finite() && self.aux_weight >= 0.0,
            "aux_weight",
            "must be finite and ≥ 0",
        )?;
        check(self.probe_steps >= 1, "probe_steps", "must be at least 1")?;
        check_training(&TrainingKeys {
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

/// The model-size and training keys both plans (the reproduction and `--data`) share.
pub(crate) struct TrainingKeys {
    pub(crate) steps: usize,
    pub(crate) batch: usize,
    pub(crate) lr: f64,
    pub(crate) d_text: usize,
    pub(crate) text_layers: usize,
    pub(crate) d_embed: usize,
    pub(crate) checkpoint_every: usize,
}

/// One validation of [`TrainingKeys`], each error naming its plan key.
pub(crate) fn check_training(k: &TrainingKeys) -> ember_core::Result<()> {
    check(k.steps >= 1, "steps", "must be at least 1")?;
    check(k.batch >= 2, "batch", "must be at least 2 (contrastive)")?;
    check(k.lr.is_finite() && k.lr > 0.0, "lr", "must be positive")?;
    check(
        k.d_text >= 4 && k.d_text.is_multiple_of(4),
        "d_text",
        "must be a positive multiple of 4 (4 heads)",
    )?;
    check(k.text_layers >= 1, "text_layers", "must be at least 1")?;
    check(k.d_embed >= 2, "d_embed", "must be at least 2")?;
    check(
        k.checkpoint_every >= 1,
        "checkpoint_every",
        "must be at least 1",
    )
}

/// Claim 1's margin: ELSA's mean R@1 on mono retrieval may be at most this far below the
/// baseline's (fixed before the first run).
pub const MONO_MARGIN: f64 = 0.05;
/// Claim 2's gain: ELSA's mean R@1 on spatial retrieval must exceed the baseline's by at least
/// this (fixed before the first run).
pub const SPATIAL_GAIN: f64 = 0.05;
/// Claim 3's ratio: ELSA's probe error must be at most this fraction of the intensity-vector
/// estimate's (fixed before the first run).
pub const LOCALISATION_RATIO: f64 = 0.8;
/// The premise: the intensity-vector estimate's mean error must be at most this (half of the
/// 90° of a random direction).
pub const PREMISE_MAX_DEG: f64 = 45.0;
/// Longest caption in tokens.
pub const MAX_TOKENS: usize = 24;

/// One clip reduced to what training and evaluation need.
#[derive(Debug, Clone)]
pub struct Example {
    /// Normalised log-mel `[T, M]`.
    pub logmel: Vec<f32>,
    /// Intensity maps `[6, T, M]`.
    pub intensity: Vec<f32>,
    /// Sound kind.
    pub kind: usize,
    /// Spatial labels (`None`: mono).
    pub spatial: Option<SpatialLabel>,
    /// Training caption.
    pub caption: String,
    /// Canonical caption (evaluation).
    pub canonical: String,
    /// The intensity-vector direction estimate (spatial clips).
    pub iv_doa: Option<[f64; 3]>,
}

/// Word vocabulary: 0 is padding, 1 unknown.
#[derive(Debug, Clone)]
pub struct Vocab {
    ids: HashMap<String, u32>,
}

impl Vocab {
    /// Every word of `captions`, in first-seen order.
    pub fn build<'a>(captions: impl IntoIterator<Item = &'a str>) -> Self {
        let mut ids = HashMap::new();
        for c in captions {
            for w in words(c) {
                let n = ids.len() as u32 + 2;
                ids.entry(w).or_insert(n);
            }
        }
        Vocab { ids }
    }

    /// Size including padding and unknown.
    pub fn len(&self) -> usize {
        self.ids.len() + 2
    }

    /// Whether no word is known.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Ids of a caption, truncated to [`MAX_TOKENS`] (at least one token).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut v: Vec<u32> = words(text)
            .iter()
            .map(|w| *self.ids.get(w).unwrap_or(&1))
            .take(MAX_TOKENS)
            .collect();
        if v.is_empty() {
            v.push(1);
        }
        v
    }
}

/// Everything [`prepare`] makes.
#[derive(Debug, Clone)]
pub struct Data {
    /// Training clips.
    pub train: Vec<Example>,
    /// Spatial test clips.
    pub test_spatial: Vec<Example>,
    /// Mono test clips.
    pub test_mono: Vec<Example>,
    /// Frames and mel bands of every clip.
    pub shape: (usize, usize),
    /// Mean and standard deviation of distance and log floor area on the training clips.
    pub target_stats: [(f64, f64); 2],
    /// Word vocabulary.
    pub vocab: Vocab,
}

fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let m = v.iter().sum::<f64>() / n;
    let sd = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n).sqrt();
    (m, sd.max(1e-6))
}

/// Renders every clip (in parallel) and extracts features; every clip has its own seed.
pub fn prepare(plan: &SpatialAudioPlan, seed: Seed) -> Result<Data> {
    let world = WorldConfig {
        max_order: plan.max_order,
        ..WorldConfig::default()
    };
    let fx = FeatureExtractor::new(FeatureConfig::default())?;
    let n_spatial_train = (plan.train_clips as f64 * plan.spatial_fraction).round() as usize;
    let mut jobs: Vec<(u8, usize, bool)> = (0..plan.train_clips)
        .map(|i| (0, i, i < n_spatial_train))
        .collect();
    jobs.extend((0..plan.test_spatial).map(|i| (1, i, true)));
    jobs.extend((0..plan.test_mono).map(|i| (2, i, false)));
    let make = |&(set, i, spatial): &(u8, usize, bool)| -> ember_core::Result<(u8, Example)> {
        let name = ["train", "test-spatial", "test-mono"][set as usize];
        let clip = make_clip(&world, seed.derive(name).index(i as u64), spatial)?;
        let f = fx.extract(&clip.foa)?;
        let iv_doa = if spatial {
            fx.intensity_doa(&clip.foa)?
        } else {
            None
        };
        Ok((
            set,
            Example {
                logmel: f.logmel,
                intensity: f.intensity,
                kind: clip.kind,
                spatial: clip.spatial,
                caption: clip.caption,
                canonical: clip.canonical,
                iv_doa,
            },
        ))
    };
    let all: Vec<(u8, Example)> = jobs
        .par_iter()
        .map(make)
        .collect::<ember_core::Result<_>>()
        .context("rendering the clips")?;
    let n_samples = (world.clip_s * world.sample_rate as f64).round() as usize;
    let shape = (fx.n_frames(n_samples), fx.config().fbank.n_mels);
    let (mut train, mut test_spatial, mut test_mono) = (Vec::new(), Vec::new(), Vec::new());
    for (set, e) in all {
        match set {
            0 => train.push(e),
            1 => test_spatial.push(e),
            _ => test_mono.push(e),
        }
    }
    // Log-mel normalisation from the training clips.
    let vals: Vec<f64> = train
        .iter()
        .flat_map(|e| e.logmel.iter().map(|v| *v as f64))
        .collect();
    let (m, sd) = mean_sd(&vals);
    for e in train
        .iter_mut()
        .chain(&mut test_spatial)
        .chain(&mut test_mono)
    {
        e.logmel
            .iter_mut()
            .for_each(|v| *v = ((*v as f64 - m) / sd) as f32);
    }
    let labels: Vec<&SpatialLabel> = train.iter().filter_map(|e| e.spatial.as_ref()).collect();
    let dist: Vec<f64> = labels.iter().map(|l| l.attrs.distance_m).collect();
    let area: Vec<f64> = labels.iter().map(|l| l.attrs.floor_area_m2.ln()).collect();
    let vocab = Vocab::build(
        train
            .iter()
            .map(|e| e.caption.as_str())
            .chain(train.iter().map(|e| e.canonical.as_str())),
    );
    Ok(Data {
        train,
        test_spatial,
        test_mono,
        shape,
        target_stats: [mean_sd(&dist), mean_sd(&area)],
        vocab,
    })
}

/// Tensors of a batch.
pub struct Batch {
    /// `[B, 1, T, M]`.
    pub logmel: Tensor<4>,
    /// `[B, 6, T, M]`.
    pub intensity: Tensor<4>,
    /// `[B, L]` caption ids.
    pub ids: Tensor<2, Int>,
    /// `[B, L]`, true at padding.
    pub pad: Tensor<2, Bool>,
    /// Auxiliary targets.
    pub aux: AuxTargets,
}

/// Builds a batch of `examples[idx]`; `canonical` picks the evaluation captions.
pub fn batch(
    data: &Data,
    examples: &[Example],
    idx: &[usize],
    canonical: bool,
    device: &Device,
) -> Batch {
    let (t, m) = data.shape;
    let b = idx.len();
    let mut lm = Vec::with_capacity(b * t * m);
    let mut iv = Vec::with_capacity(b * 6 * t * m);
    let caps: Vec<Vec<u32>> = idx
        .iter()
        .map(|&i| {
            let e = &examples[i];
            data.vocab
                .encode(if canonical { &e.canonical } else { &e.caption })
        })
        .collect();
    let len = caps.iter().map(Vec::len).max().unwrap_or(1);
    let (mut ids, mut pad) = (Vec::with_capacity(b * len), Vec::with_capacity(b * len));
    let (mut dir, mut dist, mut area, mut mask) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let [(dm, ds), (am, asd)] = data.target_stats;
    for (k, &i) in idx.iter().enumerate() {
        let e = &examples[i];
        lm.extend_from_slice(&e.logmel);
        iv.extend_from_slice(&e.intensity);
        for j in 0..len {
            ids.push(*caps[k].get(j).unwrap_or(&0) as i64);
            pad.push(j >= caps[k].len());
        }
        match &e.spatial {
            Some(l) => {
                dir.extend(l.direction.iter().map(|v| *v as f32));
                dist.push(((l.attrs.distance_m - dm) / ds) as f32);
                area.push(((l.attrs.floor_area_m2.ln() - am) / asd) as f32);
                mask.push(1f32);
            }
            None => {
                dir.extend([1f32, 0.0, 0.0]);
                dist.push(0.0);
                area.push(0.0);
                mask.push(0.0);
            }
        }
    }
    Batch {
        logmel: Tensor::<1>::from_floats(lm.as_slice(), device).reshape([b, 1, t, m]),
        intensity: Tensor::<1>::from_floats(iv.as_slice(), device).reshape([b, 6, t, m]),
        ids: Tensor::<1, Int>::from_ints(ids.as_slice(), device).reshape([b, len]),
        pad: Tensor::<1, Bool>::from_bool(burn::tensor::TensorData::new(pad, [b * len]), device)
            .reshape([b, len]),
        aux: AuxTargets {
            direction: Tensor::<1>::from_floats(dir.as_slice(), device).reshape([b, 3]),
            distance: Tensor::from_floats(dist.as_slice(), device),
            log_area: Tensor::from_floats(area.as_slice(), device),
            mask: Tensor::from_floats(mask.as_slice(), device),
        },
    }
}

/// The model of the reproduction: ELSA-lite with ember's Transformer as the text tower.
pub type Model = Elsa<Transformer>;

/// Builds a fresh model (`spatial` false: the semantic-only baseline).
pub fn build(
    plan: &SpatialAudioPlan,
    vocab: usize,
    spatial: bool,
    device: &Device,
) -> Result<Model> {
    let text = TransformerConfig::new(
        vocab,
        plan.d_text,
        4,
        plan.text_layers,
        2 * plan.d_text,
        MAX_TOKENS,
    )
    .with_lm_head(false)
    .try_init(device)?;
    let audio = AudioEncoderConfig {
        spatial,
        d_embed: plan.d_embed,
        ..AudioEncoderConfig::default()
    };
    Ok(Elsa::new(&audio, text, device)?)
}

/// Trains one model (`spatial`: ELSA-lite, else the baseline) with checkpoints under `dir`,
/// resuming from the latest one there.
pub fn train(
    plan: &SpatialAudioPlan,
    data: &Data,
    spatial: bool,
    seed: Seed,
    device: &Device,
    dir: &Path,
) -> Result<Model> {
    let ad = device.clone().autodiff();
    let label = if spatial { "elsa" } else { "baseline" };
    seed.derive(label).derive("init").seed_device(&ad);
    let model = build(plan, data.vocab.len(), spatial, &ad)?;
    let cfg = TrainConfig::new(plan.steps, plan.lr)
        .with_warmup_steps(plan.steps / 10)
        .with_checkpoint_every(Some(plan.checkpoint_every))
        .with_seed(seed.derive(label).derive("batches").value())
        .with_label(label.into());
    let mut trainer = Trainer::try_new(model, cfg, &ad)?.with_dir(dir)?;
    trainer.resume()?;
    let n = data.train.len();
    let aux_weight = if spatial { plan.aux_weight } else { 0.0 };
    trainer.run(|m, rng, _| {
        let idx: Vec<usize> = (0..plan.batch).map(|_| rng.random_range(0..n)).collect();
        let b = batch(data, &data.train, &idx, false, &ad);
        let out = m.audio.forward(b.logmel, b.intensity)?;
        let text = m.embed_text(b.ids, b.pad)?;
        let parts = elsa_loss(&out, text, m.logit_scale.value(), &b.aux)?;
        let dirl = parts.direction.clone().into_scalar::<f64>();
        Ok(StepOutput::new(parts.total(aux_weight), plan.batch).with("direction", dirl))
    })?;
    Ok(trainer.into_model().valid())
}

/// L2-normalised audio embeddings of `ex[idx]` (row-major `[N, d]`) and direction-head
/// vectors.
pub fn embed_audio(
    model: &Model,
    data: &Data,
    ex: &[Example],
    idx: &[usize],
    device: &Device,
) -> Result<(Vec<f32>, Option<Vec<f32>>)> {
    let mut emb = Vec::new();
    let mut heads = Vec::new();
    for chunk in idx.chunks(128) {
        let b = batch(data, ex, chunk, true, device);
        let out = model.audio.forward(b.logmel, b.intensity)?;
        emb.extend(
            l2_normalize(out.embedding, 1, 1e-12)
                .into_data()
                .try_to_vec::<f32>()
                .map_err(|e| anyhow::anyhow!("{e:?}"))?,
        );
        if let Some(h) = out.heads {
            heads.extend(
                h.narrow(1, 0, 3)
                    .into_data()
                    .try_to_vec::<f32>()
                    .map_err(|e| anyhow::anyhow!("{e:?}"))?,
            );
        }
    }
    Ok((emb, (!heads.is_empty()).then_some(heads)))
}

/// `[B, L]` ids of token rows right-padded with 0 to the longest row, and the mask that is
/// true on the padding (the text encoders' convention).
fn padded_tensors(rows: &[Vec<u32>], device: &Device) -> (Tensor<2, Int>, Tensor<2, Bool>) {
    let len = rows.iter().map(Vec::len).max().unwrap_or(1);
    let b = rows.len();
    let ids: Vec<i64> = rows
        .iter()
        .flat_map(|c| (0..len).map(move |j| *c.get(j).unwrap_or(&0) as i64))
        .collect();
    let pad: Vec<bool> = rows
        .iter()
        .flat_map(|c| (0..len).map(move |j| j >= c.len()))
        .collect();
    (
        Tensor::<1, Int>::from_ints(ids.as_slice(), device).reshape([b, len]),
        Tensor::<1, Bool>::from_bool(burn::tensor::TensorData::new(pad, [b * len]), device)
            .reshape([b, len]),
    )
}

/// L2-normalised text embeddings of `captions`.
pub fn embed_text(
    model: &Model,
    data: &Data,
    captions: &[String],
    device: &Device,
) -> Result<Vec<f32>> {
    let mut out = Vec::new();
    for chunk in captions.chunks(128) {
        let caps: Vec<Vec<u32>> = chunk.iter().map(|c| data.vocab.encode(c)).collect();
        let (ids, pad) = padded_tensors(&caps, device);
        let e = model.embed_text(ids, pad)?;
        out.extend(
            l2_normalize(e, 1, 1e-12)
                .into_data()
                .try_to_vec::<f32>()
                .map_err(|e| anyhow::anyhow!("{e:?}"))?,
        );
    }
    Ok(out)
}

/// Recall@k both ways with equivalent captions: audio→text over the distinct captions (a hit
/// if the clip's own caption is in the top `k`), text→audio over the clips (a hit if any clip
/// carrying that caption is in the top `k`). `audio: [N, d]`, `text: [U, d]`, `caption_of[i]`
/// the caption index of clip `i`. Ties count in the query's favour.
pub fn equivalence_recall(
    audio: &[f32],
    text: &[f32],
    d: usize,
    caption_of: &[usize],
    k: usize,
) -> ember_core::Result<(f64, f64)> {
    let n = caption_of.len();
    let u = text.len() / d.max(1);
    if n == 0 || u == 0 || audio.len() != n * d || text.len() != u * d || k == 0 {
        return Err(ember_core::Error::Shape(format!(
            "equivalence_recall: {} audio values for {n} clips, {} text values, d {d}, k {k}",
            audio.len(),
            text.len()
        )));
    }
    if caption_of.iter().any(|&c| c >= u) {
        return Err(ember_core::Error::InvalidInput(
            "equivalence_recall: caption index out of range".into(),
        ));
    }
    let sim: Vec<f32> = (0..n)
        .flat_map(|i| {
            (0..u).map(move |j| {
                (0..d)
                    .map(|q| audio[i * d + q] * text[j * d + q])
                    .sum::<f32>()
            })
        })
        .collect();
    let a2t = ember_core::metrics::retrieval::recall_at_k(&sim, n, u, caption_of, k)?;
    let mut hits = 0usize;
    let mut queries = 0usize;
    for j in 0..u {
        let col: Vec<f32> = (0..n).map(|i| sim[i * u + j]).collect();
        let best = (0..n)
            .filter(|&i| caption_of[i] == j)
            .map(|i| col[i])
            .fold(f32::NEG_INFINITY, f32::max);
        if best == f32::NEG_INFINITY {
            continue;
        }
        queries += 1;
        if col.iter().filter(|&&s| s > best).count() < k {
            hits += 1;
        }
    }
    Ok((a2t, hits as f64 / queries.max(1) as f64))
}

/// Retrieval of one model on one test set: `[(a→t, t→a)]` at k = 1, 5, 10.
pub fn retrieval(
    model: &Model,
    data: &Data,
    ex: &[Example],
    device: &Device,
) -> Result<[(f64, f64); 3]> {
    let all: Vec<usize> = (0..ex.len()).collect();
    let (audio, _) = embed_audio(model, data, ex, &all, device)?;
    let mut captions: Vec<String> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let caption_of: Vec<usize> = ex
        .iter()
        .map(|e| {
            *index.entry(e.canonical.clone()).or_insert_with(|| {
                captions.push(e.canonical.clone());
                captions.len() - 1
            })
        })
        .collect();
    let text = embed_text(model, data, &captions, device)?;
    let d = audio.len() / ex.len();
    let mut out = [(0.0, 0.0); 3];
    for (o, k) in out.iter_mut().zip([1, 5, 10]) {
        *o = equivalence_recall(&audio, &text, d, &caption_of, k)?;
    }
    Ok(out)
}

/// Trains a 2-layer MLP probe (`1 − cos`) from frozen embeddings to the direction on the
/// spatial training clips and returns the per-clip angular error (degrees) on `test`.
pub fn probe_errors(
    train_emb: &[f32],
    train_dir: &[[f64; 3]],
    test_emb: &[f32],
    test_dir: &[[f64; 3]],
    steps: usize,
    seed: Seed,
    device: &Device,
) -> Result<Vec<f64>> {
    let ad = device.clone().autodiff();
    seed.derive("probe").seed_device(&ad);
    let n = train_dir.len();
    anyhow::ensure!(n > 0 && !test_dir.is_empty(), "probe: no spatial clips");
    let d = train_emb.len() / n;
    let probe: Mlp = MlpConfig::new(d, vec![64], 3).try_init(&ad)?;
    let x = Tensor::<1>::from_floats(train_emb, &ad).reshape([n, d]);
    let y: Vec<f32> = train_dir.iter().flatten().map(|v| *v as f32).collect();
    let y = Tensor::<1>::from_floats(y.as_slice(), &ad).reshape([n, 3]);
    let cfg = TrainConfig::new(steps, 3e-3)
        .with_seed(seed.derive("probe-batches").value())
        .with_label("probe".into());
    let mut trainer = Trainer::try_new(probe, cfg, &ad)?;
    let bs = n.min(128);
    trainer.run(|m, rng, _| {
        let idx: Vec<i64> = (0..bs).map(|_| rng.random_range(0..n) as i64).collect();
        let idx = Tensor::<1, Int>::from_ints(idx.as_slice(), &ad);
        let p = l2_normalize(m.forward(x.clone().select(0, idx.clone())), 1, 1e-6);
        let cos = (p * y.clone().select(0, idx)).sum_dim(1);
        Ok(StepOutput::new((cos.neg() + 1.0).mean(), bs))
    })?;
    let probe = trainer.into_model().valid();
    let m = test_dir.len();
    let p = probe.forward(Tensor::<1>::from_floats(test_emb, device).reshape([m, d]));
    let p = p
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok((0..m)
        .map(|i| {
            angle_deg(
                [p[3 * i] as f64, p[3 * i + 1] as f64, p[3 * i + 2] as f64],
                test_dir[i],
            )
        })
        .collect())
}

/// What one model measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelResult {
    /// Mono test, `(a→t, t→a)` at R@1, R@5, R@10.
    pub mono: [(f64, f64); 3],
    /// Spatial test, same layout.
    pub spatial: [(f64, f64); 3],
    /// Probe errors (degrees) on the spatial test clips.
    pub probe_errors: Vec<f64>,
    /// Direction-head errors (degrees), if the model has heads.
    pub head_errors: Option<Vec<f64>>,
}

/// Retrieval on both test sets and the localisation probe of one trained model.
pub fn evaluate(
    model: &Model,
    data: &Data,
    seed: Seed,
    plan: &SpatialAudioPlan,
    device: &Device,
) -> Result<ModelResult> {
    let mono = retrieval(model, data, &data.test_mono, device)?;
    let spatial = retrieval(model, data, &data.test_spatial, device)?;
    let tr: Vec<usize> = (0..data.train.len())
        .filter(|&i| data.train[i].spatial.is_some())
        .collect();
    let te: Vec<usize> = (0..data.test_spatial.len()).collect();
    let (tr_emb, _) = embed_audio(model, data, &data.train, &tr, device)?;
    let (te_emb, heads) = embed_audio(model, data, &data.test_spatial, &te, device)?;
    let dir = |v: &[Example]| -> Vec<[f64; 3]> {
        v.iter()
            .filter_map(|e| e.spatial.as_ref().map(|l| l.direction))
            .collect()
    };
    let test_dir = dir(&data.test_spatial);
    let train_dir: Vec<[f64; 3]> = tr
        .iter()
        .filter_map(|&i| data.train[i].spatial.as_ref().map(|l| l.direction))
        .collect();
    let probe_errors = probe_errors(
        &tr_emb,
        &train_dir,
        &te_emb,
        &test_dir,
        plan.probe_steps,
        seed,
        device,
    )?;
    let head_errors = heads.map(|h| {
        test_dir
            .iter()
            .enumerate()
            .map(|(i, t)| {
                angle_deg(
                    [h[3 * i] as f64, h[3 * i + 1] as f64, h[3 * i + 2] as f64],
                    *t,
                )
            })
            .collect()
    });
    Ok(ModelResult {
        mono,
        spatial,
        probe_errors,
        head_errors,
    })
}

/// Intensity-vector errors (degrees) of the spatial clips, with each clip's T60 target and
/// distance: the pilot.
pub fn iv_errors(ex: &[Example]) -> Vec<(f64, f64, f64)> {
    ex.iter()
        .filter_map(|e| {
            let l = e.spatial.as_ref()?;
            let err = e.iv_doa.map_or(90.0, |v| angle_deg(v, l.direction));
            Some((err, l.t60_target, l.attrs.distance_m))
        })
        .collect()
}

/// Runs the eval with `plan`; [`EvalRun::finish`] writes the report.
pub fn run(run: &EvalRun, plan: &SpatialAudioPlan) -> Result<Report> {
    let seed = Seed::new(run.seed());
    let t0 = std::time::Instant::now();
    let data = prepare(plan, seed.derive("data"))?;
    let t_data = t0.elapsed().as_secs_f64();
    eprintln!(
        "rendered {} + {} + {} clips in {t_data:.1} s",
        data.train.len(),
        data.test_spatial.len(),
        data.test_mono.len()
    );
    let t1 = std::time::Instant::now();
    let elsa = train(plan, &data, true, seed, &run.device, &run.run_dir("elsa")?)
        .context("training ELSA")?;
    let base = train(
        plan,
        &data,
        false,
        seed,
        &run.device,
        &run.run_dir("baseline")?,
    )
    .context("training the baseline")?;
    let t_train = t1.elapsed().as_secs_f64();
    let r_elsa = evaluate(&elsa, &data, seed.derive("elsa"), plan, &run.device)?;
    let r_base = evaluate(&base, &data, seed.derive("baseline"), plan, &run.device)?;
    let mut rep = report(run, plan, &data, &r_elsa, &r_base)?;
    rep.add_metric("time_render_s", t_data);
    rep.add_metric("time_train_s", t_train);
    Ok(rep)
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// Claims, tables and figures.
pub fn report(
    run: &EvalRun,
    plan: &SpatialAudioPlan,
    data: &Data,
    elsa: &ModelResult,
    base: &ModelResult,
) -> Result<Report> {
    let mut rep = run.report("P8", "ELSA: spatially-aware audio-text embeddings");
    // Pilot: the intensity-vector estimate on every spatial clip (train and test).
    let mut pilot = iv_errors(&data.train);
    pilot.extend(iv_errors(&data.test_spatial));
    let iv_all = mean(&pilot.iter().map(|p| p.0).collect::<Vec<_>>());
    let bin = |lo: f64, hi: f64, f: &dyn Fn(&(f64, f64, f64)) -> f64| {
        mean(
            &pilot
                .iter()
                .filter(|p| f(p) >= lo && f(p) < hi)
                .map(|p| p.0)
                .collect::<Vec<_>>(),
        )
    };
    let t60_bins = [(0.0, 0.4), (0.4, 0.8), (0.8, 10.0)];
    let dist_bins = [(0.0, 1.0), (1.0, 2.0), (2.0, 10.0)];
    let by_t60: Vec<f64> = t60_bins.iter().map(|b| bin(b.0, b.1, &|p| p.1)).collect();
    let by_dist: Vec<f64> = dist_bins.iter().map(|b| bin(b.0, b.1, &|p| p.2)).collect();
    rep.add_claim(
        Claim::new(
            "premise-iv-localises",
            "Pilot: the no-learning intensity-vector estimate localises simulated sources",
            format!("mean angular error (°) of the intensity-vector direction on every spatial clip; holds if ≤ {PREMISE_MAX_DEG}° (a random direction: 90°)"),
            iv_all,
            iv_all <= PREMISE_MAX_DEG,
        )
        .baseline(90.0, "random direction")
        .detail(format!(
            "by T60 <0.4/0.4–0.8/≥0.8 s: {:.1}/{:.1}/{:.1}°; by distance <1/1–2/≥2 m: {:.1}/{:.1}/{:.1}°",
            by_t60[0], by_t60[1], by_t60[2], by_dist[0], by_dist[1], by_dist[2]
        )),
    );
    let r1 = |r: &[(f64, f64); 3]| (r[0].0 + r[0].1) / 2.0;
    let (m_e, m_b) = (r1(&elsa.mono), r1(&base.mono));
    rep.add_claim(
        Claim::new(
            "mono-retrieval-kept",
            "On non-spatial retrieval ELSA stays within a small margin of the semantic-only baseline (paper: on par, +2.8 % R@1 vs LAION-CLAP)",
            format!("mean of audio→text and text→audio R@1 on mono clips with plain captions; holds if ELSA ≥ baseline − {MONO_MARGIN}"),
            m_e,
            m_e >= m_b - MONO_MARGIN,
        )
        .baseline(m_b, "semantic-only baseline")
        .detail(format!("R@10 ELSA {:.3} / baseline {:.3}", (elsa.mono[2].0 + elsa.mono[2].1) / 2.0, (base.mono[2].0 + base.mono[2].1) / 2.0)),
    );
    let (s_e, s_b) = (r1(&elsa.spatial), r1(&base.spatial));
    rep.add_claim(
        Claim::new(
            "spatial-retrieval-gain",
            "On spatial captions ELSA beats the semantic-only baseline clearly",
            format!("mean of audio→text and text→audio R@1 on spatial clips with spatial captions (equivalent captions count); holds if ELSA ≥ baseline + {SPATIAL_GAIN}"),
            s_e,
            s_e >= s_b + SPATIAL_GAIN,
        )
        .baseline(s_b, "semantic-only baseline")
        .detail(format!("R@10 ELSA {:.3} / baseline {:.3}", (elsa.spatial[2].0 + elsa.spatial[2].1) / 2.0, (base.spatial[2].0 + base.spatial[2].1) / 2.0)),
    );
    let iv_test = mean(
        &iv_errors(&data.test_spatial)
            .iter()
            .map(|p| p.0)
            .collect::<Vec<_>>(),
    );
    let pe = mean(&elsa.probe_errors);
    rep.add_claim(
        Claim::new(
            "localisation",
            "ELSA's embedding localises well below a no-learning intensity-vector estimate (paper: −11.6° vs SELDnet)",
            format!("mean angular error (°) of a 2-layer MLP probe on frozen ELSA embeddings, spatial test clips; holds if ≤ {LOCALISATION_RATIO} × the intensity-vector estimate's on the same clips"),
            pe,
            pe <= LOCALISATION_RATIO * iv_test,
        )
        .baseline(iv_test, "intensity-vector estimate (no learning)")
        .detail(format!(
            "ELSA direction head {:.1}°; probe on the baseline's embeddings {:.1}°",
            elsa.head_errors.as_deref().map_or(f64::NAN, mean),
            mean(&base.probe_errors)
        )),
    );

    let mut table = Table::new(
        "Retrieval (equivalent captions count as hits)",
        [
            "test set",
            "model",
            "A→T R@1",
            "A→T R@5",
            "A→T R@10",
            "T→A R@1",
            "T→A R@5",
            "T→A R@10",
        ],
    );
    for (set, pick) in [
        ("mono, plain captions", 0usize),
        ("spatial, spatial captions", 1),
    ] {
        for (name, r) in [("ELSA", elsa), ("baseline", base)] {
            let x = if pick == 0 { &r.mono } else { &r.spatial };
            let mut row = vec![Cell::from(set), Cell::from(name)];
            row.extend(x.iter().map(|p| Cell::from(format!("{:.3}", p.0))));
            row.extend(x.iter().map(|p| Cell::from(format!("{:.3}", p.1))));
            table.add_row(row);
            let key = format!(
                "{}_{}",
                if pick == 0 { "mono" } else { "spatial" },
                if name == "ELSA" { "elsa" } else { "baseline" }
            );
            for (k, p) in [1, 5, 10].iter().zip(x) {
                rep.add_metric(format!("{key}_a2t_r{k}"), p.0);
                rep.add_metric(format!("{key}_t2a_r{k}"), p.1);
            }
        }
    }
    rep.add_table(table);
    let mut loc = Table::new(
        "Localisation on the spatial test clips (mean angular error, °)",
        ["estimate", "error (°)"],
    );
    let rows = [
        ("intensity vectors, no learning", iv_test),
        ("ELSA embedding + MLP probe", pe),
        (
            "ELSA direction head",
            elsa.head_errors.as_deref().map_or(f64::NAN, mean),
        ),
        ("baseline embedding + MLP probe", mean(&base.probe_errors)),
    ];
    for (n, v) in rows {
        loc.add_row(vec![Cell::from(n), Cell::from(format!("{v:.1}"))]);
    }
    rep.add_table(loc);
    rep.add_metric("iv_error_deg_all", iv_all);
    rep.add_metric("iv_error_deg_test", iv_test);
    rep.add_metric("elsa_probe_error_deg", pe);
    rep.add_metric("baseline_probe_error_deg", mean(&base.probe_errors));

    let out = run.out();
    plot::bar(
        out.join("pilot.png"),
        &BarChart {
            title: "Pilot: intensity-vector direction error by T60 and distance".into(),
            y_label: "mean angular error (°)".into(),
            groups: vec![
                "T60 < 0.4 s".into(),
                "0.4–0.8 s".into(),
                "≥ 0.8 s".into(),
                "d < 1 m".into(),
                "1–2 m".into(),
                "≥ 2 m".into(),
            ],
            series: vec![(
                "intensity vectors".into(),
                by_t60.iter().chain(&by_dist).copied().collect(),
            )],
        },
    )
    .context("plotting the pilot")?;
    rep.add_figure(Figure::new(
        "Pilot",
        "pilot.png",
        "The no-learning intensity-vector estimate's error grows with reverberation and distance",
    ));
    plot::bar(
        out.join("retrieval.png"),
        &BarChart {
            title: "Mean R@1 (A→T, T→A)".into(),
            y_label: "R@1".into(),
            groups: vec!["mono, plain captions".into(), "spatial captions".into()],
            series: vec![
                ("ELSA".into(), vec![m_e, s_e]),
                ("semantic-only baseline".into(), vec![m_b, s_b]),
            ],
        },
    )
    .context("plotting retrieval")?;
    rep.add_figure(Figure::new(
        "Retrieval",
        "retrieval.png",
        "ELSA vs the semantic-only baseline",
    ));
    plot::bar(
        out.join("localisation.png"),
        &BarChart {
            title: "Localisation error on spatial test clips".into(),
            y_label: "mean angular error (°)".into(),
            // Short axis labels (the table keeps the long ones) so the four fit side by side.
            groups: vec![
                "intensity vectors".into(),
                "ELSA probe".into(),
                "ELSA head".into(),
                "baseline probe".into(),
            ],
            series: vec![("error".into(), rows.iter().map(|r| r.1).collect())],
        },
    )
    .context("plotting localisation")?;
    rep.add_figure(Figure::new(
        "Localisation",
        "localisation.png",
        "Mean angular error; a random direction gives 90°. Intensity vectors: the no-learning estimate; probe: an MLP on the frozen embedding; head: ELSA's own direction head",
    ));
    rep.add_note(format!(
        "{} training clips ({} spatial), {} spatial and {} mono test clips of 1 s at 16 kHz; {} sound kinds; {} distinct spatial test captions; vocabulary {}; {} steps of {} clips per model",
        data.train.len(),
        data.train.iter().filter(|e| e.spatial.is_some()).count(),
        data.test_spatial.len(),
        data.test_mono.len(),
        crate::sounds::n_kinds(),
        data.test_spatial.iter().map(|e| e.canonical.as_str()).collect::<std::collections::HashSet<_>>().len(),
        data.vocab.len(),
        plan.steps,
        plan.batch
    ));
    Ok(rep)
}
