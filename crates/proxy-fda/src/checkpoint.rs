//! Fine-tuning your own CLIP checkpoint on your own images: a local Hugging Face `clip` or
//! `clip_vision_model` folder (its image tower, loaded by [`ClipVisionModel::from_dir`]) and an
//! ImageFolder (`root/<class>/<image>`), fine-tuned with each [`FtMethod`] of the paper.
//!
//! [`CheckpointFt::run`] does, in stages that are public on their own:
//! 1. [`CheckpointFt::read_inputs`]: the images, preprocessed as the checkpoint's
//!    `preprocessor_config.json` says (CLIP's defaults without one). The test set is
//!    `test_dir` (same class folders) or, without one, a seeded stratified hold-out of
//!    `holdout` of each class. An optional `probe_dir` (any other labelled ImageFolder) measures
//!    forgetting as the paper does: a linear probe's accuracy on the frozen features before
//!    and after fine-tuning (trained on half of each class, scored on the other half).
//! 2. The frozen pre-trained tower's features of every image, computed once: the FDA and
//!    LDIFS targets, the hard-class-mining centroids and the "before" of every distance.
//! 3. Per method: a fresh copy of the tower plus a linear head (and the proxy generator for
//!    Proxy-FDA) trained on class-balanced batches through [`Trainer`] (checkpoints under
//!    `run_dir`, resumable), then test accuracy, the probe's Δ accuracy and the mean squared
//!    L2 distance between normalised pre-trained and fine-tuned features of the test images.
//!
//! [`CheckpointFtResult::write_report`] writes `report.json` and `report.md`. It is a
//! measurement: the report states no claims.
//!
//! ```no_run
//! use ember_proxy_fda::checkpoint::{CheckpointFt, report_header};
//! use ember_proxy_fda::FtMethod;
//! # fn main() -> ember_core::Result<()> {
//! let device = ember_core::backend::device_by_name("flex")?;
//! let mut job = CheckpointFt::new("models/clip-vit-base-patch32", "data/flowers/train");
//! job.test_dir = Some("data/flowers/test".into());
//! job.methods = vec![FtMethod::Naive, FtMethod::ProxyFda(1.0)];
//! let res = job.run(&device)?;
//! for m in &res.methods {
//!     println!("{}: {:.1}%", m.method, m.test_accuracy);
//! }
//! res.write_report(report_header("flex"), "ember-out/proxy-fda-clip")?;
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::nn::LinearConfig;
use burn::prelude::*;
use ember_core::nn::ImageEncoder;
use ember_core::pretrained::{ClipImageProcessor, ClipVisionModel};
use ember_core::report::{Cell, Report, Table};
use ember_core::seed::Seed;
use ember_core::train::{TrainConfig, Trainer};
use ember_core::{Error, Result};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::baselines::collect_params;
use crate::fda::FdaConfig;
use crate::forgetting::{LinearProbeConfig, linear_probe_accuracy, mean_sq_l2, normalize_rows};
use crate::image_folder::{ImageFolder, ImageFolderConfig, read_image_folder};
use crate::method::FtMethod;
use crate::proxy::{ProxyGeneratorConfig, ProxyLossConfig};
use crate::sampler::ClassBalancedSampler;
use crate::train::{FtData, FtModel, PreFeatureCache, finetune_step, linear_probe_step};

/// `eval` field of the report.
pub const REPORT_EVAL: &str = "proxy-fda-checkpoint";
/// Title of the report.
pub const REPORT_TITLE: &str =
    "Fine-tuning a pretrained CLIP image tower with FDA / Proxy-FDA and the baselines";

/// What to run: a checkpoint folder, an ImageFolder and the methods. [`CheckpointFt::new`]
/// fills in the defaults documented on each field.
#[derive(Debug, Clone)]
pub struct CheckpointFt {
    /// Hugging Face folder: `config.json` (`clip` or `clip_vision_model`),
    /// `model.safetensors`, optionally `preprocessor_config.json`.
    pub model_dir: PathBuf,
    /// Fine-tuning images, `root/<class>/<image>.{png,jpg,jpeg}`.
    pub data_dir: PathBuf,
    /// Test images with the same class folders; `None`: hold out part of `data_dir`.
    pub test_dir: Option<PathBuf>,
    /// Fraction of each class held out as the test set when `test_dir` is `None`
    /// (default 0.2; at least one image per class stays for training).
    pub holdout: f64,
    /// Another labelled ImageFolder whose linear-probe accuracy measures forgetting.
    pub probe_dir: Option<PathBuf>,
    /// Methods to run, in order (default: naive FT, LP-FT, FDA λ=1, Proxy-FDA λ=1).
    pub methods: Vec<FtMethod>,
    /// Optimisation steps per method (default 200; LP-FT adds `lp_steps` before them).
    pub steps: usize,
    /// Linear-probe steps of LP-FT's first stage (default 50).
    pub lp_steps: usize,
    /// Peak learning rate of fine-tuning (default 1e-5, the usual for fine-tuning CLIP with
    /// AdamW; LP-FT's second stage uses it too, its probe stage `head_lr`).
    pub lr: f64,
    /// Learning rate of LP-FT's linear-probe stage (default 1e-3).
    pub head_lr: f64,
    /// Classes per batch `m` (default 8, or the number of classes if fewer).
    pub classes_per_batch: usize,
    /// Images per class in a batch `n` (default 4).
    pub per_class: usize,
    /// FDA / Proxy-FDA settings (default [`FdaConfig::default`], K = 8, lowered to the batch
    /// size − 2 when the batch is smaller: the kNN graph needs a non-neighbour per row).
    pub fda: FdaConfig,
    /// Proxy generator loss settings.
    pub proxy: ProxyLossConfig,
    /// Images per forward pass when computing features (default 32).
    pub batch: usize,
    /// Where each method's training checkpoints go (`<run_dir>/<method>`), so an interrupted
    /// run resumes; `None`: no checkpoints.
    pub run_dir: Option<PathBuf>,
    /// Seed of the hold-out split, head initialisation and batch sampling (default 0).
    pub seed: u64,
    /// Progress bars on stderr (drawn only when stderr is a terminal).
    pub progress: bool,
}

impl CheckpointFt {
    /// A run with the defaults documented on the fields.
    pub fn new(model_dir: impl Into<PathBuf>, data_dir: impl Into<PathBuf>) -> Self {
        Self {
            model_dir: model_dir.into(),
            data_dir: data_dir.into(),
            test_dir: None,
            holdout: 0.2,
            probe_dir: None,
            methods: vec![
                FtMethod::Naive,
                FtMethod::LpFt,
                FtMethod::Fda(1.0),
                FtMethod::ProxyFda(1.0),
            ],
            steps: 200,
            lp_steps: 50,
            lr: 1e-5,
            head_lr: 1e-3,
            classes_per_batch: 8,
            per_class: 4,
            fda: FdaConfig::default(),
            proxy: ProxyLossConfig::default(),
            batch: 32,
            run_dir: None,
            seed: 0,
            progress: false,
        }
    }

    /// Check the settings before anything is read.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidInput(m));
        if self.methods.is_empty() {
            return bad("no fine-tuning method given".into());
        }
        if self.steps == 0 {
            return bad("steps must be ≥ 1".into());
        }
        if self.methods.contains(&FtMethod::LpFt) && self.lp_steps == 0 {
            return bad("LP-FT needs lp_steps ≥ 1".into());
        }
        for (name, lr) in [("lr", self.lr), ("head_lr", self.head_lr)] {
            if !(lr.is_finite() && lr > 0.0) {
                return bad(format!("{name} must be finite and > 0, got {lr}"));
            }
        }
        if self.test_dir.is_none() && !(self.holdout > 0.0 && self.holdout < 1.0) {
            return bad(format!(
                "holdout must be in (0, 1) without a test folder, got {}",
                self.holdout
            ));
        }
        if self.classes_per_batch < 2 || self.per_class == 0 {
            return bad(format!(
                "a batch needs ≥ 2 classes and ≥ 1 image per class, got {} × {}",
                self.classes_per_batch, self.per_class
            ));
        }
        if self.batch == 0 {
            return bad("feature batch must be ≥ 1".into());
        }
        self.fda.validate()
    }

    /// Read and split the images (stage 1).
    pub fn read_inputs(&self) -> Result<FtInputs> {
        self.validate()?;
        let processor = ClipImageProcessor::from_dir(&self.model_dir)?;
        let cfg = ImageFolderConfig::clip(processor)?;
        let all = read_image_folder(&self.data_dir, &cfg)?;
        let (train, test) = match &self.test_dir {
            Some(dir) => {
                let test = read_image_folder(dir, &cfg)?;
                if test.classes != all.classes {
                    return Err(Error::format(
                        dir,
                        format!(
                            "test classes {:?} differ from the fine-tuning classes {:?}",
                            test.classes, all.classes
                        ),
                    ));
                }
                (all, test)
            }
            None => {
                let (tr, te) = stratified_split(&all.labels, self.holdout, self.seed)?;
                (all.subset(&tr)?, all.subset(&te)?)
            }
        };
        if train.classes.len() < 2 {
            return Err(Error::format(
                &self.data_dir,
                "fine-tuning needs at least two class folders",
            ));
        }
        let probe = match &self.probe_dir {
            Some(dir) => {
                let p = read_image_folder(dir, &cfg)?;
                let (a, b) = stratified_split(
                    &p.labels,
                    0.5,
                    Seed::new(self.seed).derive("probe-split").value(),
                )?;
                Some((p.subset(&a)?, p.subset(&b)?))
            }
            None => None,
        };
        Ok(FtInputs { train, test, probe })
    }

    /// Run every stage (see the module docs).
    pub fn run(&self, device: &Device) -> Result<CheckpointFtResult> {
        let t0 = Instant::now();
        let inputs = self.read_inputs()?;
        let ad = device.clone().autodiff();
        let pre = ClipVisionModel::from_dir(&self.model_dir, device)?;
        let dim = pre.feature_dim();
        let side = pre.config().image_size;
        if inputs.train.size != side {
            return Err(Error::format(
                self.model_dir
                    .join(ember_core::pretrained::clip_image::PREPROCESSOR_FILE),
                format!(
                    "the processor crops images to {0}×{0}, the model takes {side}×{side}",
                    inputs.train.size
                ),
            ));
        }
        let load_s = t0.elapsed().as_secs_f64();

        let t1 = Instant::now();
        let cache = PreFeatureCache::compute(&pre, &inputs.train, self.batch, device)?;
        let pre_test = inputs.test.features(&pre, self.batch, device)?;
        let probe_before = match &inputs.probe {
            Some((a, b)) => Some(probe_accuracy(&pre, a, b, self.batch, device)?),
            None => None,
        };
        let n_classes = inputs.train.classes.len();
        let m = self.classes_per_batch.min(n_classes);
        let sampler = ClassBalancedSampler::new(&inputs.train.labels, m, self.per_class)?
            .with_hard_mining(cache.values(), dim)?;
        let batch_size = sampler.batch_size();
        let graph = self
            .methods
            .iter()
            .any(|m| matches!(m, FtMethod::Fda(_) | FtMethod::ProxyFda(_)));
        if graph && batch_size < 3 {
            return Err(Error::InvalidInput(format!(
                "FDA and Proxy-FDA need batches of at least 3 images for their kNN graph, got {batch_size}"
            )));
        }
        let mut fda = self.fda;
        fda.k = fda.k.min(batch_size.saturating_sub(2)).max(1);
        let pre_s = t1.elapsed().as_secs_f64();

        let l2sp_ref = collect_params(&pre);
        let data = FtData {
            images: &inputs.train,
            sampler: &sampler,
            pre: &pre,
            device: device.clone(),
            ad: ad.clone(),
            pre_cache: Some(&cache),
        };
        let mut methods = Vec::with_capacity(self.methods.len());
        for (i, &method) in self.methods.iter().enumerate() {
            let t = Instant::now();
            ad.seed(
                Seed::new(self.seed)
                    .derive("finetune-init")
                    .index(i as u64)
                    .value(),
            );
            let model = FtModel {
                enc: ClipVisionModel::from_dir(&self.model_dir, &ad)?,
                head: LinearConfig::new(dim, n_classes).init(&ad),
                gen_: method
                    .needs_generator()
                    .then(|| ProxyGeneratorConfig::new(dim).init(&ad)),
            };
            let (model, final_loss, steps_run) =
                self.train_one(model, method, &data, &fda, &l2sp_ref, &ad)?;
            let train_s = t.elapsed().as_secs_f64();
            let m = model.valid();
            let ft_test = inputs.test.features(&m.enc, self.batch, device)?;
            let acc = accuracy(&m, &inputs.test, self.batch, device)?;
            let drift = mean_sq_l2(
                &normalize_rows(&pre_test, dim),
                &normalize_rows(&ft_test, dim),
                dim,
            )?;
            let probe_after = match &inputs.probe {
                Some((a, b)) => Some(probe_accuracy(&m.enc, a, b, self.batch, device)?),
                None => None,
            };
            let row = MethodResult {
                method: method.label(),
                test_accuracy: 100.0 * acc,
                feature_drift: drift,
                probe_accuracy: probe_after.map(|p| 100.0 * p),
                delta_probe: probe_after.zip(probe_before).map(|(a, b)| 100.0 * (a - b)),
                final_loss,
                steps_run,
                train_s,
            };
            if self.progress {
                eprintln!(
                    "{}: test accuracy {:.1}%, feature drift {:.4}{}",
                    row.method,
                    row.test_accuracy,
                    row.feature_drift,
                    row.delta_probe
                        .map_or(String::new(), |d| format!(", probe Δ {d:+.1} points"))
                );
            }
            methods.push(row);
        }
        Ok(CheckpointFtResult {
            model_dir: self.model_dir.clone(),
            data_dir: self.data_dir.clone(),
            test_source: match &self.test_dir {
                Some(d) => d.display().to_string(),
                None => format!("{:.0}% of each class held out", 100.0 * self.holdout),
            },
            classes: inputs.train.classes.clone(),
            n_train: inputs.train.len(),
            n_test: inputs.test.len(),
            n_probe: inputs.probe.as_ref().map(|(a, b)| a.len() + b.len()),
            image_size: inputs.train.size,
            feature_dim: dim,
            batch_size,
            k: fda.k,
            steps: self.steps,
            lr: self.lr,
            probe_before: probe_before.map(|p| 100.0 * p),
            methods,
            load_s,
            pre_s,
        })
    }

    /// Train one method from the pre-trained tower; returns the model, the last loss and
    /// the steps this call ran (fewer than `steps` after a resume).
    fn train_one(
        &self,
        mut model: FtModel<ClipVisionModel>,
        method: FtMethod,
        data: &FtData<ClipVisionModel>,
        fda: &FdaConfig,
        l2sp_ref: &[(Tensor<1>, bool)],
        ad: &Device,
    ) -> Result<(FtModel<ClipVisionModel>, f64, usize)> {
        let dir = |stage: &str| {
            self.run_dir
                .as_ref()
                .map(|d| d.join(format!("{}{stage}", method.slug())))
        };
        if method == FtMethod::LpFt {
            let cfg = TrainConfig::new(self.lp_steps, self.head_lr)
                .with_seed(self.seed)
                .with_progress(self.progress)
                .with_label(format!("{} (probe)", method.label()));
            let mut tr = Trainer::new(model, cfg, ad);
            if let Some(d) = dir("-lp") {
                tr = tr.with_dir(d)?;
                tr.resume()?;
            }
            tr.run(|m, rng, _| linear_probe_step(m, data, rng))?;
            model = tr.into_model();
        }
        let cfg = TrainConfig::new(self.steps, self.lr)
            .with_warmup_steps(self.steps / 10)
            .with_checkpoint_every(Some(self.steps.div_ceil(2)))
            .with_seed(self.seed)
            .with_progress(self.progress)
            .with_label(method.label());
        let mut tr = Trainer::new(model, cfg, ad);
        if let Some(d) = dir("") {
            tr = tr.with_dir(d)?;
            tr.resume()?;
        }
        let reg = method.regularizer(fda, &self.proxy, l2sp_ref);
        let summary = tr.run(|m, rng, _| finetune_step(m, data, &reg, rng))?;
        Ok((tr.into_model(), summary.final_loss, summary.steps_run))
    }
}

/// The images of a run, as read by [`CheckpointFt::read_inputs`].
#[derive(Debug, Clone)]
pub struct FtInputs {
    /// Fine-tuning images.
    pub train: ImageFolder,
    /// Test images (same classes).
    pub test: ImageFolder,
    /// The probe folder split into its training and test halves.
    pub probe: Option<(ImageFolder, ImageFolder)>,
}

/// One method's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodResult {
    /// [`FtMethod::label`].
    pub method: String,
    /// Test accuracy of the fine-tuned tower and head, in percent.
    pub test_accuracy: f64,
    /// Mean squared L2 distance between the L2-normalised pre-trained and fine-tuned features
    /// of the test images (0: unchanged; 4: opposite).
    pub feature_drift: f64,
    /// Linear-probe accuracy on the probe folder after fine-tuning, in percent.
    pub probe_accuracy: Option<f64>,
    /// Probe accuracy after minus before, in points (negative: forgetting).
    pub delta_probe: Option<f64>,
    /// Loss of the last training step.
    pub final_loss: f64,
    /// Steps run by this call (fewer than configured after a resume).
    pub steps_run: usize,
    /// Wall time of training, seconds.
    pub train_s: f64,
}

/// What [`CheckpointFt::run`] measured.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointFtResult {
    /// The checkpoint folder.
    pub model_dir: PathBuf,
    /// The fine-tuning folder.
    pub data_dir: PathBuf,
    /// Where the test images came from.
    pub test_source: String,
    /// Class names (label order).
    pub classes: Vec<String>,
    /// Fine-tuning images.
    pub n_train: usize,
    /// Test images.
    pub n_test: usize,
    /// Probe images (both halves), if any.
    pub n_probe: Option<usize>,
    /// Side of the preprocessed images.
    pub image_size: usize,
    /// Width of the image features.
    pub feature_dim: usize,
    /// Images per batch.
    pub batch_size: usize,
    /// FDA's K as used.
    pub k: usize,
    /// Steps per method.
    pub steps: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Probe accuracy of the pre-trained tower, in percent.
    pub probe_before: Option<f64>,
    /// One row per method, in run order.
    pub methods: Vec<MethodResult>,
    /// Seconds to read the images and load the checkpoint.
    pub load_s: f64,
    /// Seconds for the pre-trained features.
    pub pre_s: f64,
}

/// A report for [`CheckpointFtResult::write_report`] with the eval name, title and device
/// filled in (add the seed with [`Report::with_seed`]).
pub fn report_header(device: &str) -> Report {
    Report::new(REPORT_EVAL, "P1", REPORT_TITLE)
        .with_device(device)
        .with_scale("checkpoint")
}

impl CheckpointFtResult {
    /// Adds the per-method table, metrics and notes to `report`, writes `report.json` and
    /// `report.md` into `out` (created) and returns the path of `report.json`.
    pub fn write_report(&self, mut report: Report, out: impl AsRef<Path>) -> Result<PathBuf> {
        let out = out.as_ref();
        std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
        let mut t = Table::new(
            "Fine-tuning methods on this checkpoint",
            [
                "method",
                "test accuracy %",
                "feature drift",
                "probe accuracy %",
                "Δ probe (points)",
                "final loss",
                "train s",
            ],
        );
        let opt = |v: Option<f64>| v.map_or(Cell::from("–"), Cell::from);
        for m in &self.methods {
            t.add_row(vec![
                Cell::from(m.method.as_str()),
                Cell::from(m.test_accuracy),
                Cell::from(m.feature_drift),
                opt(m.probe_accuracy),
                opt(m.delta_probe),
                Cell::from(m.final_loss),
                Cell::from(m.train_s),
            ]);
        }
        report.add_table(t);
        for m in &self.methods {
            let key = m.method.replace(['λ', '='], "").replace([' ', '-'], "_");
            let key = key.to_ascii_lowercase();
            report.add_metric(format!("test_accuracy_{key}"), m.test_accuracy);
            report.add_metric(format!("feature_drift_{key}"), m.feature_drift);
            if let Some(d) = m.delta_probe {
                report.add_metric(format!("delta_probe_{key}"), d);
            }
        }
        if let Some(p) = self.probe_before {
            report.add_metric("probe_accuracy_pretrained", p);
        }
        report.add_metric("train_images", self.n_train as f64);
        report.add_metric("test_images", self.n_test as f64);
        report.add_metric("classes", self.classes.len() as f64);
        report.add_metric("feature_dim", self.feature_dim as f64);
        report.add_metric("load_seconds", self.load_s);
        report.add_metric("pretrained_features_seconds", self.pre_s);
        report.add_note(format!(
            "checkpoint {}; images {} ({} classes, {} fine-tuning images at {}×{}); test: {} ({} images){}",
            self.model_dir.display(),
            self.data_dir.display(),
            self.classes.len(),
            self.n_train,
            self.image_size,
            self.image_size,
            self.test_source,
            self.n_test,
            match (self.n_probe, self.probe_before) {
                (Some(n), Some(p)) => format!(
                    "; probe folder: {n} images, pre-trained linear-probe accuracy {p:.1}%"
                ),
                _ => String::new(),
            }
        ));
        report.add_note(format!(
            "{} steps per method at peak lr {} (AdamW, warmup 10%, cosine), class-balanced batches of {} with hard class mining on the pre-trained features, FDA K = {}; no model selection (last step)",
            self.steps, self.lr, self.batch_size, self.k
        ));
        report.add_note(
            "a measurement of this checkpoint, not a reproduction: no claims are checked",
        );
        report.set_elapsed(
            self.load_s + self.pre_s + self.methods.iter().map(|m| m.train_s).sum::<f64>(),
        );
        Ok(report.write(out)?)
    }
}

/// Split indices per class: `frac` of each class (rounded, at least one, at most all but
/// one) to the second set, seeded. Errors: a class with a single image.
pub fn stratified_split(
    labels: &[usize],
    frac: f64,
    seed: u64,
) -> Result<(Vec<usize>, Vec<usize>)> {
    let n_classes = labels.iter().max().map_or(0, |&m| m + 1);
    let mut by_class = vec![Vec::new(); n_classes];
    for (i, &y) in labels.iter().enumerate() {
        by_class[y].push(i);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for (c, mut idx) in by_class.into_iter().enumerate() {
        if idx.len() < 2 {
            return Err(Error::InvalidInput(format!(
                "class {c} has {} image(s); splitting needs at least 2",
                idx.len()
            )));
        }
        idx.shuffle(&mut rng);
        let k = ((idx.len() as f64 * frac).round() as usize).clamp(1, idx.len() - 1);
        b.extend_from_slice(&idx[..k]);
        a.extend_from_slice(&idx[k..]);
    }
    a.sort_unstable();
    b.sort_unstable();
    Ok((a, b))
}

/// Accuracy of head ∘ encoder on `set`.
fn accuracy<E: ImageEncoder>(
    m: &FtModel<E>,
    set: &ImageFolder,
    batch: usize,
    device: &Device,
) -> Result<f64> {
    let idx: Vec<usize> = (0..set.len()).collect();
    let mut correct = 0usize;
    for chunk in idx.chunks(batch.max(1)) {
        let logits = m.head.forward(m.enc.encode(set.batch(chunk, device))?);
        let pred = logits.argmax(1);
        let pred =
            ember_core::host::tensor::read_as::<i64, 2, burn::tensor::Int>(pred, "predictions")?;
        correct += chunk
            .iter()
            .zip(pred)
            .filter(|(i, p)| set.labels[**i] as i64 == *p)
            .count();
    }
    Ok(correct as f64 / set.len().max(1) as f64)
}

/// Linear-probe accuracy of `enc`'s frozen features: trained on `train`, scored on `test`.
fn probe_accuracy<E: ImageEncoder>(
    enc: &E,
    train: &ImageFolder,
    test: &ImageFolder,
    batch: usize,
    device: &Device,
) -> Result<f64> {
    let d = enc.feature_dim();
    let a = train.features(enc, batch, device)?;
    let b = test.features(enc, batch, device)?;
    linear_probe_accuracy(
        &a,
        &train.labels,
        &b,
        &test.labels,
        d,
        &LinearProbeConfig::default(),
    )
}
