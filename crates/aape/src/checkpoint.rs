//! AAPE on your own CLIP checkpoint and data: a Hugging Face CLIP folder (`config.json`,
//! `model.safetensors`, `tokenizer.json`, optionally `preprocessor_config.json`), an
//! ImageFolder (`root/<class>/<image>`) and a CuPL prompt file (class name → prompts).
//!
//! The classes (sorted folder names) are split into base (the first half, rounded up) and
//! novel (the rest). The first `shots` images of each base class train the learners; the
//! other base images and every novel image are the test set. Zero-shot, CuPL, CoOp and AAPE
//! are compared on base, novel and their harmonic mean ([`CheckpointResult`]).

use crate::cupl::read_cupl;
use crate::dual::HfPromptTokenizer;
use crate::learners::{AapeConfig, ClassTextSpec, ClassTexts};
use crate::train::{Features, LearnConfig, LearnInputs, Method, train};
use burn::module::Module;
use burn::prelude::*;
use ember_core::data::image_folder::{ImageFolderConfig, read_image_folder};
use ember_core::pretrained::{Clip, ClipImageProcessor};
use ember_core::{Error, Result};
use std::path::{Path, PathBuf};

/// What to run; [`CheckpointAape::new`] gives the documented defaults.
#[derive(Debug, Clone)]
pub struct CheckpointAape {
    /// The CLIP checkpoint folder.
    pub model_dir: PathBuf,
    /// The ImageFolder root.
    pub data_dir: PathBuf,
    /// The CuPL prompt file.
    pub prompts: PathBuf,
    /// Training images per base class (default 16).
    pub shots: usize,
    /// Hand-crafted template, `{}` = class name (default "a photo of a {}.").
    pub template: String,
    /// Prompt-learning optimisation (default: 200 steps of 32, lr 2e-3, 4 context tokens
    /// initialised from "a photo of a").
    pub learn: LearnConfig,
    /// AAPE settings (default [`AapeConfig::default`]).
    pub aape: AapeConfig,
    /// Images per forward pass when encoding (default 32).
    pub chunk: usize,
}

impl CheckpointAape {
    /// The defaults above for these three inputs.
    pub fn new(
        model_dir: impl Into<PathBuf>,
        data_dir: impl Into<PathBuf>,
        prompts: impl Into<PathBuf>,
    ) -> Self {
        Self {
            model_dir: model_dir.into(),
            data_dir: data_dir.into(),
            prompts: prompts.into(),
            shots: 16,
            template: "a photo of a {}.".into(),
            learn: LearnConfig {
                steps: 200,
                batch: 32,
                lr: 2e-3,
                seed: 0,
                n_ctx: 4,
                ctx_init: Some("a photo of a".into()),
                checkpoint_every: 50,
            },
            aape: AapeConfig::default(),
            chunk: 32,
        }
    }
}

/// Accuracy of one method.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MethodResult {
    /// Method name.
    pub method: String,
    /// Accuracy on the base classes' test images (among base classes).
    pub base: f64,
    /// Accuracy on the novel classes' images (among novel classes).
    pub novel: f64,
    /// Harmonic mean of the two.
    pub hm: f64,
}

/// What [`CheckpointAape::run`] measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckpointResult {
    /// Base class names.
    pub base_classes: Vec<String>,
    /// Novel class names.
    pub novel_classes: Vec<String>,
    /// Training images.
    pub train_images: usize,
    /// Test images (base + novel).
    pub test_images: usize,
    /// One row per method.
    pub methods: Vec<MethodResult>,
}

/// Harmonic mean `2ab / (a + b)` (0 when both are 0).
pub fn harmonic_mean(a: f64, b: f64) -> f64 {
    if a + b > 0.0 {
        2.0 * a * b / (a + b)
    } else {
        0.0
    }
}

impl CheckpointResult {
    /// Write `dir/aape_result.json`.
    pub fn write_report(&self, dir: &Path) -> Result<PathBuf> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let path = dir.join("aape_result.json");
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::InvalidInput(format!("serialising the result: {e}")))?;
        std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
        Ok(path)
    }
}

impl CheckpointAape {
    /// Run everything; checkpoints of the learners go under `out`. Errors: unreadable or
    /// mismatched inputs (a class without prompts, fewer than two classes, a base class with
    /// no images left for testing), invalid settings.
    pub fn run(&self, out: &Path, device: &Device) -> Result<CheckpointResult> {
        if !self.template.contains("{}") {
            return Err(Error::Config(format!(
                "template {:?} has no {{}} for the class name",
                self.template
            )));
        }
        if self.shots == 0 {
            return Err(Error::Config("shots must be ≥ 1".into()));
        }
        self.learn.validate()?;
        self.aape.validate()?;
        let model = Clip::from_dir(&self.model_dir, device)?;
        let tok = HfPromptTokenizer::from_dir(&self.model_dir, &model)?;
        let cfg = ImageFolderConfig::clip(ClipImageProcessor::from_dir(&self.model_dir)?)?;
        let folder = read_image_folder(&self.data_dir, &cfg)?;
        let prompts = read_cupl(&self.prompts)?.for_classes(&folder.classes)?;
        let c = folder.classes.len();
        if c < 2 {
            return Err(Error::format(
                &self.data_dir,
                "base-to-novel needs at least two classes",
            ));
        }
        let nb = c.div_ceil(2);
        let (mut train_idx, mut base_test, mut novel_test) = (vec![], vec![], vec![]);
        let mut seen = vec![0usize; c];
        for (i, &y) in folder.labels.iter().enumerate() {
            if y >= nb {
                novel_test.push(i);
            } else if seen[y] < self.shots {
                seen[y] += 1;
                train_idx.push(i);
            } else {
                base_test.push(i);
            }
        }
        if base_test.is_empty() {
            return Err(Error::format(
                &self.data_dir,
                format!(
                    "no base-class images left for testing after {} shots per class",
                    self.shots
                ),
            ));
        }
        let feats = |idx: &[usize], offset: usize| -> Result<Features> {
            let sub = folder.subset(idx)?;
            let labels = sub.labels.iter().map(|&y| y - offset).collect();
            Features::encode(&model, &sub.pixels, sub.size, labels, self.chunk, device)
        };
        let train_f = feats(&train_idx, 0)?;
        let base_f = feats(&base_test, 0)?;
        let novel_f = feats(&novel_test, nb)?;
        let texts = |range: std::ops::Range<usize>| -> Result<ClassTexts> {
            let names: Vec<String> = folder.classes[range.clone()].to_vec();
            let templates: Vec<String> = names
                .iter()
                .map(|n| self.template.replace("{}", n))
                .collect();
            ClassTexts::build(
                &model,
                &tok,
                &ClassTextSpec {
                    names: &names,
                    templates: &templates,
                    descriptions: &prompts[range],
                    n_ctx: self.learn.n_ctx,
                },
                device,
            )
        };
        let base_t = texts(0..nb)?;
        let novel_t = texts(nb..c)?;
        let ad = device.clone().autodiff();
        let train_model = Clip::from_dir(&self.model_dir, &ad)?.freeze();
        let scale = model.logit_scale()?;
        let base_ad = base_t.to_device(&ad);
        let inputs = LearnInputs {
            model: &train_model,
            tok: &tok,
            texts: &base_ad,
            data: &train_f,
            scale,
        };
        let methods = [
            Method::ZeroShot,
            Method::Cupl,
            Method::CoOp {
                class_specific: false,
            },
            Method::Aape(self.aape.clone()),
        ];
        let mut rows = Vec::new();
        for (k, m) in methods.iter().enumerate() {
            let dir = out.join(format!("learner{k}"));
            let learned = train(m, &inputs, &self.learn, Some(&dir), &ad)?;
            let base = learned.accuracy(&model, &base_t, &base_f, scale, self.chunk, device)?;
            let novel = if novel_f.is_empty() {
                f64::NAN
            } else {
                learned.accuracy(&model, &novel_t, &novel_f, scale, self.chunk, device)?
            };
            rows.push(MethodResult {
                method: m.name(),
                base,
                novel,
                hm: harmonic_mean(base, novel),
            });
        }
        Ok(CheckpointResult {
            base_classes: folder.classes[..nb].to_vec(),
            novel_classes: folder.classes[nb..].to_vec(),
            train_images: train_f.len(),
            test_images: base_f.len() + novel_f.len(),
            methods: rows,
        })
    }
}
