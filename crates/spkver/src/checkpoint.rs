//! Speaker verification on your own checkpoint and data: a local Hugging Face wav2vec2 /
//! HuBERT / WavLM folder (loaded by [`SpeechEncoder::from_dir`]), a VoxCeleb-style wav tree
//! (`root/<speaker>/**/*.wav`) and a trial list (`label enroll.wav test.wav`, paths relative
//! to the tree's root).
//!
//! [`CheckpointSv::run`] does, in stages that are public on their own:
//! 1. [`CheckpointSv::read_inputs`]: the tree and the trial list; every trial utterance must
//!    be in the tree. The tree's speakers that no trial names are the **training** speakers
//!    of the heads (disjoint from the test speakers by construction).
//! 2. [`load_encoder`]: the encoder and its sample rate (`sampling_rate` of
//!    `preprocessor_config.json`, default 16 kHz). Audio is never resampled: a wav at
//!    another rate, or with more than one channel, is an error naming the file.
//! 3. [`encode_utterances`]: every utterance through the frozen encoder (utterances of equal
//!    length share a forward pass), every hidden state (`L + 1`, as `output_hidden_states`).
//! 4. Zero-shot: per hidden state, `[mean_t h ‖ std_t h]` ([`mean_std_vector`], the paper's
//!    zero-shot pooling) of the raw frames, cosine scoring of every trial, EER and minDCF
//!    (p = 0.01, 0.05) through `ember_core::metrics`; the best layer is the lowest EER.
//! 5. With [`HeadTraining`]: the crate's simplified head (weighted layer sum → statistics
//!    pooling → one linear layer) and the SUPERB x-vector baseline, trained with AM-softmax
//!    on crops of the training speakers' frozen layers (standardised per layer with
//!    training-set statistics), then scored on the same trials.
//!
//! [`CheckpointSvResult::write_report`] writes `report.json`, `report.md` and
//! `sv_layers.png` (EER and minDCF per hidden state, the heads' EER as flat lines). It is a
//! measurement: the report states no claims.
//!
//! ```no_run
//! use ember_spkver::checkpoint::{CheckpointSv, HeadTraining, report_header};
//! # fn main() -> ember_core::Result<()> {
//! let device = ember_core::backend::device_by_name("flex")?;
//! let mut job = CheckpointSv::new("models/wavlm-base-plus", "voxceleb1/wav", "voxceleb1/veri_test2.txt");
//! job.heads = Some(HeadTraining::default());
//! let res = job.run(&device)?;
//! println!("best layer {} EER {:.2}%", res.best_layer, res.layers[res.best_layer].eer * 100.0);
//! res.write_report(report_header("flex"), "ember-out/spkver-wavlm")?;
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::prelude::*;
use ember_core::pretrained::HfConfig;
use ember_core::pretrained::speech::{SpeechEncoder, waveform_batch};
#[cfg(feature = "eval")]
use ember_core::report::plot::{self, LinePlot, Series};
use ember_core::report::{Cell, Figure, Report, Table};
use ember_core::{Error, Result};
use indicatif::ProgressBar;

use crate::data::{TrialList, Utterance, read_trials, scan_speaker_tree};
use crate::features::{LayerFeatures, Standardizer, mean_std_vector};
use crate::heads::{SimpleHeadConfig, SpeakerHead, XVectorHeadConfig};
use crate::scoring::evaluate;
use crate::train::{HeadTrainConfig, train_head};
use crate::wav::read_wav;

/// Sample rate assumed when the checkpoint has no `preprocessor_config.json` (or no
/// `sampling_rate` in it).
pub const DEFAULT_SAMPLE_RATE: u32 = 16_000;
/// Default number of utterances per encoder forward pass (only equal lengths are batched).
pub const DEFAULT_BATCH: usize = 8;
/// `eval` field of the report.
pub const REPORT_EVAL: &str = "spkver-checkpoint";
/// Title of the report.
pub const REPORT_TITLE: &str = "Speaker verification on every layer of a pretrained speech encoder, zero-shot and with trained heads";

/// Sizes of head training (see [`HeadTraining::default`] for the defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct HeadTraining {
    /// Optimisation steps per head (default 400).
    pub steps: usize,
    /// Crops per step (default 32).
    pub batch: usize,
    /// Crop length in encoder frames (default 150: 3 s at the 20 ms frame rate of the
    /// released models). Training utterances shorter than this are not used.
    pub crop_frames: usize,
    /// Frames kept per training utterance (its centre; default 300). Memory is
    /// `utterances × (L + 1) × keep_frames × D × 4` bytes.
    pub keep_frames: usize,
    /// Use at most this many training utterances, spread over the speakers (default 2000).
    pub max_train_utterances: usize,
    /// Peak learning rate (default 1e-3).
    pub lr: f64,
    /// Embedding size of the simplified head (default 256).
    pub simple_emb: usize,
    /// x-vector TDNN width, last TDNN width and embedding size (default SUPERB's 512,
    /// 1500, 512).
    pub xvector: (usize, usize, usize),
}

impl Default for HeadTraining {
    fn default() -> Self {
        HeadTraining {
            steps: 400,
            batch: 32,
            crop_frames: 150,
            keep_frames: 300,
            max_train_utterances: 2000,
            lr: 1e-3,
            simple_emb: 256,
            xvector: (512, 1500, 512),
        }
    }
}

/// What to measure: a checkpoint folder, a wav tree and a trial list.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointSv {
    /// Hugging Face folder: `config.json`, `model.safetensors`, optionally
    /// `preprocessor_config.json`.
    pub model_dir: PathBuf,
    /// `root/<speaker>/**/*.wav`, mono, at the model's sample rate.
    pub wavs_dir: PathBuf,
    /// VoxCeleb-style trial list, utterances named relative to `wavs_dir`.
    pub trials_path: PathBuf,
    /// Use only the first `n` distinct trial utterances (trials naming others are dropped).
    /// Default: all.
    pub max_utterances: Option<usize>,
    /// Train and score the heads; `None` = zero-shot only.
    pub heads: Option<HeadTraining>,
    /// Utterances per forward pass (≥ 1).
    pub batch: usize,
    /// Seed of head initialisation and training.
    pub seed: u64,
    /// Progress bars on stderr (drawn only when stderr is a terminal).
    pub progress: bool,
}

/// The data of a run, as read and checked by [`CheckpointSv::read_inputs`].
#[derive(Debug, Clone, PartialEq)]
pub struct SvInputs {
    /// The trials kept (after `max_utterances`).
    pub trials: TrialList,
    /// Files of `trials.utterances`, in the same order.
    pub test_paths: Vec<PathBuf>,
    /// Distinct speakers of the trial utterances.
    pub n_test_speakers: usize,
    /// Trials dropped by `max_utterances`.
    pub dropped_trials: usize,
    /// Training utterances (speakers no trial names), possibly capped.
    pub train: Vec<Utterance>,
    /// Speaker index of each training utterance.
    pub train_labels: Vec<usize>,
    /// Distinct training speakers.
    pub n_train_speakers: usize,
}

/// EER and minDCF of one hidden state, zero-shot.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LayerSv {
    /// Hidden-state index: 0 = encoder input, `ℓ` = output of block `ℓ`.
    pub layer: usize,
    /// Equal error rate.
    pub eer: f64,
    /// Normalised minDCF at p_target = 0.01.
    pub min_dcf_01: f64,
    /// Normalised minDCF at p_target = 0.05.
    pub min_dcf_05: f64,
}

/// One trained head, scored on the trials.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HeadSv {
    /// `simplified SP` or `baseline x-vector`.
    pub name: String,
    /// Parameters of the head (layer weights included, classifier excluded).
    pub params: usize,
    /// Equal error rate.
    pub eer: f64,
    /// Normalised minDCF at p_target = 0.01.
    pub min_dcf_01: f64,
    /// Normalised minDCF at p_target = 0.05.
    pub min_dcf_05: f64,
    /// Learned `softmax(α)` over the hidden states.
    pub layer_weights: Vec<f64>,
    /// Last recorded training loss.
    pub final_loss: f64,
    /// Training seconds.
    pub train_s: f64,
}

/// What [`CheckpointSv::run`] measured.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointSvResult {
    /// The checkpoint folder.
    pub model_dir: PathBuf,
    /// The wav tree.
    pub wavs_dir: PathBuf,
    /// The trial list.
    pub trials_path: PathBuf,
    /// `model_type` from `config.json`.
    pub model_type: String,
    /// Transformer blocks (the result has `n_layers + 1` hidden states).
    pub n_layers: usize,
    /// Width of the hidden states.
    pub hidden_size: usize,
    /// Sample rate every wav had to have.
    pub sample_rate: u32,
    /// Trials scored.
    pub n_trials: usize,
    /// Of which target (same-speaker) trials.
    pub n_target: usize,
    /// Distinct trial utterances.
    pub n_test_utterances: usize,
    /// Their speakers.
    pub n_test_speakers: usize,
    /// Trials dropped by `max_utterances`.
    pub dropped_trials: usize,
    /// Training utterances used by the heads (0 without heads).
    pub n_train_utterances: usize,
    /// Training speakers (0 without heads).
    pub n_train_speakers: usize,
    /// Zero-shot, per hidden state.
    pub layers: Vec<LayerSv>,
    /// Index of the lowest zero-shot EER.
    pub best_layer: usize,
    /// The trained heads (empty if none were trained).
    pub heads: Vec<HeadSv>,
    /// Why no heads were trained, if so.
    pub heads_skipped: Option<String>,
    /// Seconds to load the model.
    pub load_s: f64,
    /// Seconds to encode and score the trial utterances.
    pub test_s: f64,
    /// Seconds to encode the training utterances and train the heads.
    pub heads_s: f64,
}

/// Loads the encoder in `dir` and the sample rate its inputs must have
/// (`preprocessor_config.json`'s `sampling_rate`, [`DEFAULT_SAMPLE_RATE`] without it).
/// A language-model folder is an error naming its `config.json`.
pub fn load_encoder(dir: impl AsRef<Path>, device: &Device) -> Result<(SpeechEncoder, u32)> {
    let dir = dir.as_ref();
    if !dir.join("config.json").is_file() {
        return Err(Error::io(
            dir.join("config.json"),
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "not a Hugging Face model folder (no config.json)",
            ),
        ));
    }
    let pre = dir.join("preprocessor_config.json");
    let rate = if pre.is_file() {
        let text = std::fs::read_to_string(&pre).map_err(|e| Error::io(&pre, e))?;
        let cfg = HfConfig::from_str(&text, &pre)?;
        match cfg.opt_size("sampling_rate")? {
            Some(r) if r > 0 && r <= u32::MAX as usize => r as u32,
            Some(r) => {
                return Err(Error::format(
                    &pre,
                    format!("sampling_rate {r} is not usable"),
                ));
            }
            None => DEFAULT_SAMPLE_RATE,
        }
    } else {
        DEFAULT_SAMPLE_RATE
    };
    Ok((SpeechEncoder::from_dir(dir, device)?, rate))
}

/// Runs every file of `paths` through the frozen `encoder` and hands each utterance's hidden
/// states (`[L + 1, T, D]`, full length) to `sink(index, features)`, in order. Files are
/// read `batch` at a time; files of equal length share a forward pass. Errors name the file:
/// a wav that is not mono or not at `rate` Hz, unreadable, or shorter than the encoder's
/// receptive field.
pub fn encode_utterances(
    encoder: &SpeechEncoder,
    rate: u32,
    paths: &[PathBuf],
    batch: usize,
    bar: &ProgressBar,
    device: &Device,
    mut sink: impl FnMut(usize, LayerFeatures) -> Result<()>,
) -> Result<()> {
    let batch = batch.max(1);
    let min = encoder.min_samples();
    for (c, chunk) in paths.chunks(batch).enumerate() {
        let mut audio = Vec::with_capacity(chunk.len());
        for p in chunk {
            let a = read_wav(p, rate)?;
            if a.len() < min {
                return Err(Error::format(
                    p,
                    format!(
                        "{} samples ({:.3} s) is shorter than the encoder's receptive field \
                         of {min} samples",
                        a.len(),
                        a.len() as f64 / rate as f64
                    ),
                ));
            }
            audio.push(a);
        }
        let mut by_len: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (i, a) in audio.iter().enumerate() {
            by_len.entry(a.len()).or_default().push(i);
        }
        let mut out: Vec<Option<LayerFeatures>> = vec![None; chunk.len()];
        for (n, group) in by_len {
            let samples: Vec<f32> = group.iter().flat_map(|&i| audio[i].clone()).collect();
            let x = waveform_batch(samples, &[group.len(), n], device)?;
            let hs = encoder
                .forward(x)
                .map_err(|e| Error::format(&chunk[group[0]], format!("encoder: {e}")))?
                .hidden_states;
            let l = hs.len();
            let [_, t, d] = hs[0].dims();
            let host = hs
                .into_iter()
                .map(ember_core::ops::to_host)
                .collect::<Result<Vec<_>>>()?;
            for (k, &i) in group.iter().enumerate() {
                let mut data = Vec::with_capacity(l * t * d);
                for h in &host {
                    data.extend_from_slice(&h[k * t * d..(k + 1) * t * d]);
                }
                out[i] = Some(LayerFeatures {
                    data,
                    n_layers: l,
                    n_frames: t,
                    dim: d,
                });
            }
        }
        for (i, f) in out.into_iter().enumerate() {
            let f = f.ok_or_else(|| Error::InvalidInput("utterance not encoded".into()))?;
            sink(c * batch + i, f)?;
            bar.inc(1);
        }
    }
    Ok(())
}

/// The centre `keep` frames of every layer of `f` (all of it if shorter).
pub fn centre_frames(f: &LayerFeatures, keep: usize) -> LayerFeatures {
    if f.n_frames <= keep {
        return f.clone();
    }
    let s = (f.n_frames - keep) / 2;
    let data = (0..f.n_layers)
        .flat_map(|l| f.slice(l, s, keep).iter().copied())
        .collect();
    LayerFeatures {
        data,
        n_layers: f.n_layers,
        n_frames: keep,
        dim: f.dim,
    }
}

fn progress_bar(show: bool, len: usize, label: &str) -> ProgressBar {
    ember_core::progress::bar(show, len as u64, label)
}

fn metrics_of(emb: &[Vec<f32>], trials: &TrialList, labels: &[bool]) -> Result<(f64, f64, f64)> {
    let m = evaluate(emb, &trials.pairs, labels)?;
    Ok((m.eer.eer, m.min_dcf[0].min_dcf, m.min_dcf[1].min_dcf))
}

/// A trained head on the inference device, ready to embed test utterances.
enum Trained {
    Simple(crate::heads::SimpleHead),
    XVector(crate::heads::XVectorHead),
}

impl Trained {
    fn embed(&self, f: &LayerFeatures, device: &Device) -> Result<Vec<f32>> {
        let x = f.to_tensor(device);
        let e = match self {
            Trained::Simple(h) => h.embed(x)?,
            Trained::XVector(h) => h.embed(x)?,
        };
        ember_core::ops::to_host(e)
    }
}

impl CheckpointSv {
    /// A zero-shot job with the defaults (all utterances, batch [`DEFAULT_BATCH`], seed 0,
    /// no heads, no progress).
    pub fn new(
        model_dir: impl Into<PathBuf>,
        wavs_dir: impl Into<PathBuf>,
        trials_path: impl Into<PathBuf>,
    ) -> Self {
        CheckpointSv {
            model_dir: model_dir.into(),
            wavs_dir: wavs_dir.into(),
            trials_path: trials_path.into(),
            max_utterances: None,
            heads: None,
            batch: DEFAULT_BATCH,
            seed: 0,
            progress: false,
        }
    }

    /// Reads the tree and the trial list (see the [module docs](self)). Errors: a trial
    /// utterance not in the tree (naming the trial list and the missing file), fewer than
    /// one target and one non-target trial after `max_utterances`, and bad settings.
    pub fn read_inputs(&self) -> Result<SvInputs> {
        if self.batch == 0 || self.max_utterances == Some(0) {
            return Err(Error::InvalidInput(
                "batch and max_utterances must be at least 1".into(),
            ));
        }
        let tree = scan_speaker_tree(&self.wavs_dir)?;
        let full = read_trials(&self.trials_path)?;
        let by_id: HashMap<&str, &Utterance> = tree.iter().map(|u| (u.id.as_str(), u)).collect();
        for (k, t) in full.trials.iter().enumerate() {
            for u in [&t.enroll, &t.test] {
                if !by_id.contains_key(u.as_str()) {
                    return Err(Error::format(
                        &self.trials_path,
                        format!(
                            "trial {} names {u:?}, which is not a .wav file under {} (expected {})",
                            k + 1,
                            self.wavs_dir.display(),
                            self.wavs_dir.join(u).display()
                        ),
                    ));
                }
            }
        }
        let keep = self.max_utterances.unwrap_or(usize::MAX);
        let kept: Vec<_> = full
            .trials
            .iter()
            .zip(&full.pairs)
            .filter(|(_, p)| p.0 < keep && p.1 < keep)
            .map(|(t, _)| t.clone())
            .collect();
        let dropped_trials = full.trials.len() - kept.len();
        let trials = TrialList::new(kept).map_err(|_| {
            Error::InvalidInput(format!(
                "no trial of {} remains with --max-utterances {keep}",
                self.trials_path.display()
            ))
        })?;
        let labels = trials.labels();
        if !labels.iter().any(|&t| t) || labels.iter().all(|&t| t) {
            return Err(Error::format(
                &self.trials_path,
                format!(
                    "EER needs both target and non-target trials; the {} trials used are all {}",
                    labels.len(),
                    if labels[0] { "target" } else { "non-target" }
                ),
            ));
        }
        let test: Vec<&Utterance> = trials
            .utterances
            .iter()
            .map(|u| by_id[u.as_str()])
            .collect();
        let test_speakers: BTreeSet<&str> = full
            .utterances
            .iter()
            .map(|u| by_id[u.as_str()].speaker.as_str())
            .collect();
        let n_test_speakers = test
            .iter()
            .map(|u| u.speaker.as_str())
            .collect::<BTreeSet<_>>()
            .len();
        // Training: every speaker of the tree no trial names, round-robin up to the cap.
        let mut per: BTreeMap<&str, Vec<&Utterance>> = BTreeMap::new();
        for u in &tree {
            if !test_speakers.contains(u.speaker.as_str()) {
                per.entry(u.speaker.as_str()).or_default().push(u);
            }
        }
        let cap = self.heads.as_ref().map_or(0, |h| h.max_train_utterances);
        let mut train = Vec::new();
        let mut train_labels = Vec::new();
        let mut round = 0;
        while train.len() < cap && per.values().any(|v| round < v.len()) {
            for (s, v) in per.values().enumerate() {
                if round < v.len() && train.len() < cap {
                    train.push(v[round].clone());
                    train_labels.push(s);
                }
            }
            round += 1;
        }
        Ok(SvInputs {
            test_paths: test.iter().map(|u| u.path.clone()).collect(),
            trials,
            n_test_speakers,
            dropped_trials,
            n_train_speakers: train_labels.iter().collect::<BTreeSet<_>>().len(),
            train,
            train_labels,
        })
    }

    /// Reads the inputs, loads the encoder and measures (see the [module docs](self)).
    /// Inputs are checked before the model is loaded.
    pub fn run(&self, device: &Device) -> Result<CheckpointSvResult> {
        let inputs = self.read_inputs()?;
        let t0 = Instant::now();
        let (encoder, rate) = load_encoder(&self.model_dir, device)?;
        let model_type = encoder.architecture().model_type().to_string();
        let load_s = t0.elapsed().as_secs_f64();
        if self.progress {
            eprintln!(
                "loaded {} ({model_type}, {} layers, width {}, {rate} Hz) in {load_s:.1}s; {} trials over {} utterances of {} speakers; {} training utterances of {} speakers",
                self.model_dir.display(),
                encoder.n_layers(),
                encoder.hidden_size(),
                inputs.trials.trials.len(),
                inputs.test_paths.len(),
                inputs.n_test_speakers,
                inputs.train.len(),
                inputs.n_train_speakers
            );
        }

        // Heads first, so test utterances are encoded once and never all held in memory.
        let t1 = Instant::now();
        let (trained, norm, heads_skipped) = self.train_heads(&encoder, rate, &inputs, device)?;
        let heads_s = t1.elapsed().as_secs_f64();

        let t2 = Instant::now();
        let n_h = encoder.n_layers() + 1;
        let n_test = inputs.test_paths.len();
        let mut zero_shot = vec![Vec::with_capacity(n_test); n_h];
        let mut head_emb = vec![Vec::with_capacity(n_test); trained.len()];
        let bar = progress_bar(self.progress, n_test, "trial utterances");
        encode_utterances(
            &encoder,
            rate,
            &inputs.test_paths,
            self.batch,
            &bar,
            device,
            |_, mut f| {
                for (l, z) in zero_shot.iter_mut().enumerate() {
                    z.push(mean_std_vector(&f, l));
                }
                if let Some(st) = &norm {
                    st.apply(&mut f)?;
                    for ((_, h), e) in trained.iter().zip(&mut head_emb) {
                        e.push(h.embed(&f, device)?);
                    }
                }
                Ok(())
            },
        )?;
        bar.finish_and_clear();
        let labels = inputs.trials.labels();
        let layers = zero_shot
            .iter()
            .enumerate()
            .map(|(layer, emb)| {
                let (eer, min_dcf_01, min_dcf_05) = metrics_of(emb, &inputs.trials, &labels)?;
                Ok(LayerSv {
                    layer,
                    eer,
                    min_dcf_01,
                    min_dcf_05,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let best_layer = layers
            .iter()
            .min_by(|a, b| a.eer.total_cmp(&b.eer))
            .map_or(0, |l| l.layer);
        let heads = trained
            .into_iter()
            .zip(&head_emb)
            .map(|((mut h, _), emb)| {
                (h.eer, h.min_dcf_01, h.min_dcf_05) = metrics_of(emb, &inputs.trials, &labels)?;
                Ok(h)
            })
            .collect::<Result<Vec<_>>>()?;
        let test_s = t2.elapsed().as_secs_f64();
        Ok(CheckpointSvResult {
            model_dir: self.model_dir.clone(),
            wavs_dir: self.wavs_dir.clone(),
            trials_path: self.trials_path.clone(),
            model_type,
            n_layers: encoder.n_layers(),
            hidden_size: encoder.hidden_size(),
            sample_rate: rate,
            n_trials: labels.len(),
            n_target: labels.iter().filter(|&&t| t).count(),
            n_test_utterances: n_test,
            n_test_speakers: inputs.n_test_speakers,
            dropped_trials: inputs.dropped_trials,
            n_train_utterances: if heads.is_empty() {
                0
            } else {
                inputs.train.len()
            },
            n_train_speakers: if heads.is_empty() {
                0
            } else {
                inputs.n_train_speakers
            },
            layers,
            best_layer,
            heads,
            heads_skipped,
            load_s,
            test_s,
            heads_s,
        })
    }

    /// Encodes the training utterances (centre `keep_frames`), standardises them and trains
    /// the simplified and x-vector heads. Returns the heads (metrics still empty), the
    /// standardiser for the test frames, or why heads were skipped.
    #[allow(clippy::type_complexity)]
    fn train_heads(
        &self,
        encoder: &SpeechEncoder,
        rate: u32,
        inputs: &SvInputs,
        device: &Device,
    ) -> Result<(Vec<(HeadSv, Trained)>, Option<Standardizer>, Option<String>)> {
        let Some(ht) = &self.heads else {
            return Ok((vec![], None, Some("not requested (zero-shot only)".into())));
        };
        if inputs.n_train_speakers < 2 {
            return Ok((
                vec![],
                None,
                Some(format!(
                    "the wav tree has {} speaker(s) that no trial names; the heads need at least 2 training speakers",
                    inputs.n_train_speakers
                )),
            ));
        }
        if ht.steps == 0 || ht.batch == 0 || ht.crop_frames == 0 {
            return Ok((
                vec![],
                None,
                Some("head training steps, batch or crop is 0".into()),
            ));
        }
        let paths: Vec<PathBuf> = inputs.train.iter().map(|u| u.path.clone()).collect();
        let mut feats = Vec::with_capacity(paths.len());
        let bar = progress_bar(self.progress, paths.len(), "training utterances");
        let keep = ht.keep_frames.max(ht.crop_frames);
        encode_utterances(encoder, rate, &paths, self.batch, &bar, device, |_, f| {
            feats.push(centre_frames(&f, keep));
            Ok(())
        })?;
        bar.finish_and_clear();
        let st = Standardizer::fit(&feats)?;
        feats.iter_mut().try_for_each(|f| st.apply(f))?;
        let (l, d) = (encoder.n_layers() + 1, encoder.hidden_size());
        let ns = inputs.n_train_speakers;
        let ad = device.clone().autodiff();
        ad.seed(self.seed);
        let all: Vec<usize> = (0..feats.len()).collect();
        let cfg = HeadTrainConfig {
            steps: ht.steps,
            batch: ht.batch,
            crop_frames: ht.crop_frames,
            lr: ht.lr,
            scale: 30.0,
            margin: 0.4,
            seed: self.seed,
            dir: None,
            resume: false,
            progress: self.progress,
        };
        let mut out = Vec::new();
        let t = Instant::now();
        let simple = SimpleHeadConfig::new(l, d, ht.simple_emb, ns).init(&ad);
        let (h, curve) = train_head(simple, &feats, &inputs.train_labels, &all, &cfg, &ad)?;
        let h = h.valid();
        out.push((
            head_row("simplified SP", &h, &curve, t)?,
            Trained::Simple(h),
        ));
        let t = Instant::now();
        let (hid, agg, emb) = ht.xvector;
        let xv = XVectorHeadConfig::new(l, d, hid, agg, emb, ns).init(&ad);
        let (h, curve) = train_head(xv, &feats, &inputs.train_labels, &all, &cfg, &ad)?;
        let h = h.valid();
        out.push((
            head_row("baseline x-vector", &h, &curve, t)?,
            Trained::XVector(h),
        ));
        if self.progress {
            for (h, _) in &out {
                eprintln!(
                    "  {:<18} {:>9} parameters, final loss {:.3}, {:.1}s",
                    h.name, h.params, h.final_loss, h.train_s
                );
            }
        }
        Ok((out, Some(st), None))
    }
}

fn head_row<H: SpeakerHead>(name: &str, h: &H, curve: &[(f64, f64)], t: Instant) -> Result<HeadSv> {
    let w = ember_core::ops::to_host(h.layer_weights().weights())?;
    Ok(HeadSv {
        name: name.into(),
        params: h.head_params(),
        eer: f64::NAN,
        min_dcf_01: f64::NAN,
        min_dcf_05: f64::NAN,
        layer_weights: w.into_iter().map(f64::from).collect(),
        final_loss: curve.last().map_or(f64::NAN, |c| c.1),
        train_s: t.elapsed().as_secs_f64(),
    })
}

/// A report for [`CheckpointSvResult::write_report`] with the eval name, title and device
/// filled in (add the seed with [`Report::with_seed`]).
pub fn report_header(device: &str) -> Report {
    Report::new(REPORT_EVAL, "P10", REPORT_TITLE)
        .with_device(device)
        .with_scale("checkpoint")
}

impl CheckpointSvResult {
    /// Adds the per-layer table, the heads' table, metrics and notes to `report`, draws
    /// `sv_layers.png`, writes `report.json` and `report.md` into `out` (created) and
    /// returns the path of `report.json`.
    #[cfg(feature = "eval")]
    pub fn write_report(&self, mut report: Report, out: impl AsRef<Path>) -> Result<PathBuf> {
        let out = out.as_ref();
        std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
        let mut t = Table::new(
            "Zero-shot speaker verification per hidden state (mean ‖ std over frames, cosine)",
            ["layer", "EER", "minDCF p=0.01", "minDCF p=0.05"],
        );
        for l in &self.layers {
            t.add_row(vec![
                Cell::from(l.layer as f64),
                Cell::from(l.eer),
                Cell::from(l.min_dcf_01),
                Cell::from(l.min_dcf_05),
            ]);
        }
        report.add_table(t);
        if !self.heads.is_empty() {
            let mut t = Table::new(
                "Heads trained on the frozen layers (AM-softmax s=30 m=0.4), cosine scoring",
                [
                    "head",
                    "parameters",
                    "EER",
                    "minDCF p=0.01",
                    "minDCF p=0.05",
                    "final loss",
                    "train s",
                ],
            );
            for h in &self.heads {
                t.add_row(vec![
                    Cell::from(h.name.as_str()),
                    Cell::from(h.params as f64),
                    Cell::from(h.eer),
                    Cell::from(h.min_dcf_01),
                    Cell::from(h.min_dcf_05),
                    Cell::from(h.final_loss),
                    Cell::from(h.train_s),
                ]);
            }
            report.add_table(t);
        }
        let best = &self.layers[self.best_layer];
        report.add_metric("n_layers", self.n_layers as f64);
        report.add_metric("hidden_size", self.hidden_size as f64);
        report.add_metric("sample_rate", self.sample_rate as f64);
        report.add_metric("trials", self.n_trials as f64);
        report.add_metric("target_trials", self.n_target as f64);
        report.add_metric("test_utterances", self.n_test_utterances as f64);
        report.add_metric("test_speakers", self.n_test_speakers as f64);
        report.add_metric("train_utterances", self.n_train_utterances as f64);
        report.add_metric("train_speakers", self.n_train_speakers as f64);
        report.add_metric("best_layer", best.layer as f64);
        report.add_metric("best_layer_eer", best.eer);
        report.add_metric("best_layer_min_dcf_01", best.min_dcf_01);
        report.add_metric("last_layer_eer", self.layers[self.layers.len() - 1].eer);
        for h in &self.heads {
            let key = if h.name.starts_with("simplified") {
                "simple"
            } else {
                "xvector"
            };
            report.add_metric(format!("eer_{key}"), h.eer);
            report.add_metric(format!("min_dcf_01_{key}"), h.min_dcf_01);
            report.add_metric(format!("params_{key}"), h.params as f64);
        }
        report.add_metric("load_seconds", self.load_s);
        report.add_metric("test_seconds", self.test_s);
        report.add_metric("heads_seconds", self.heads_s);

        let last = (self.layers.len() - 1) as f64;
        let mut series = vec![
            Series::new(
                "zero-shot EER",
                self.layers
                    .iter()
                    .map(|l| (l.layer as f64, l.eer))
                    .collect(),
            ),
            Series::new(
                "zero-shot minDCF(0.01)",
                self.layers
                    .iter()
                    .map(|l| (l.layer as f64, l.min_dcf_01))
                    .collect(),
            ),
        ];
        for h in &self.heads {
            series.push(Series::new(
                format!("{} EER (all layers)", h.name),
                vec![(0.0, h.eer), (last, h.eer)],
            ));
        }
        let file = "sv_layers.png";
        plot::line(
            out.join(file),
            &LinePlot {
                title: "Speaker verification per hidden state".into(),
                x_label: "hidden state (0 = encoder input)".into(),
                y_label: "EER / minDCF".into(),
                series,
                log_x: false,
            },
        )?;
        report.add_figure(Figure::new(
            "Zero-shot SV per layer",
            file,
            "EER and minDCF(0.01) of per-layer mean ‖ std pooled frozen features (cosine); the trained heads' EER drawn flat across layers",
        ));
        report.add_note(format!(
            "checkpoint {} (model_type {}, {} layers, width {}, {} Hz); wavs {}; trials {}: {} trials ({} target) over {} utterances of {} speakers{}",
            self.model_dir.display(),
            self.model_type,
            self.n_layers,
            self.hidden_size,
            self.sample_rate,
            self.wavs_dir.display(),
            self.trials_path.display(),
            self.n_trials,
            self.n_target,
            self.n_test_utterances,
            self.n_test_speakers,
            if self.dropped_trials > 0 {
                format!(", {} trials dropped by --max-utterances", self.dropped_trials)
            } else {
                String::new()
            }
        ));
        report.add_note(format!(
            "zero-shot: raw frames of each hidden state (0 = encoder input, {} = last), [mean ‖ std] over time, cosine; best layer {} (EER {:.2}%)",
            self.n_layers,
            best.layer,
            best.eer * 100.0
        ));
        match &self.heads_skipped {
            Some(why) => {
                report.add_note(format!("heads not trained: {why}"));
            }
            None => {
                report.add_note(format!(
                    "heads trained on {} utterances of {} speakers that no trial names (frames standardised per layer with their statistics), no model selection (last step); layer weights: {}",
                    self.n_train_utterances,
                    self.n_train_speakers,
                    self.heads
                        .iter()
                        .map(|h| format!(
                            "{} {:?}",
                            h.name,
                            h.layer_weights
                                .iter()
                                .map(|w| format!("{w:.3}"))
                                .collect::<Vec<_>>()
                        ))
                        .collect::<Vec<_>>()
                        .join("; ")
                ));
            }
        }
        report.add_note(
            "a measurement of this checkpoint, not a reproduction: no claims are checked",
        );
        report.set_elapsed(self.load_s + self.test_s + self.heads_s);
        Ok(report.write(out)?)
    }
}
