//! P3 on a user's checkpoint and parallel text: a Hugging Face folder (`config.json`,
//! `model.safetensors`, `tokenizer.json`) and a FLORES-style folder (`<lang>.dev`,
//! `<lang>.devtest`, ... one sentence per line, line i parallel across languages).
//!
//! The first `probe` sentences of each language find the target language's experts (AUROC,
//! max pooling, global top-k); the rest measure cross-lingual retrieval before and after
//! forcing them, and under the random control.

use crate::analysis::{ParallelEmbeddings, embeddings};
use crate::capture::{CaptureConfig, Pooling, collect};
use crate::expertise::{Expertise, Metric};
use crate::intervene::{ForceValue, force_experts, random_control};
use burn::prelude::*;
use ember_core::data::flores::read_flores;
use ember_core::nn::LanguageModel;
use ember_core::nn::intervention::Site;
use ember_core::pretrained::{HfTokenizer, PretrainedLm};
use ember_core::{Error, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Settings of a checkpoint run, with documented defaults.
#[derive(Debug, Clone)]
pub struct CheckpointRun {
    /// Hugging Face model folder (with `tokenizer.json`).
    pub model_dir: PathBuf,
    /// FLORES-style folder.
    pub data_dir: PathBuf,
    /// Language codes (file stems), at least 2.
    pub langs: Vec<String>,
    /// The language whose experts are forced.
    pub target: String,
    /// Number of experts (default 100, P3's Bloom setting).
    pub k: usize,
    /// Sites (default `MlpPre` + `MlpOut`).
    pub sites: Vec<Site>,
    /// Pooling (default max).
    pub pooling: Pooling,
    /// Forcing value (default mean).
    pub force: ForceValue,
    /// Sentences per language used to find experts (default 100); the rest are the test set.
    pub probe: usize,
    /// Sentences longer than this many tokens are dropped from every language (default 128).
    pub max_tokens: usize,
    /// Seed of the random control.
    pub seed: u64,
}

impl CheckpointRun {
    /// Settings with the defaults above.
    pub fn new(
        model_dir: impl Into<PathBuf>,
        data_dir: impl Into<PathBuf>,
        langs: Vec<String>,
        target: &str,
    ) -> Self {
        CheckpointRun {
            model_dir: model_dir.into(),
            data_dir: data_dir.into(),
            langs,
            target: target.into(),
            k: 100,
            sites: vec![Site::MlpPre, Site::MlpOut],
            pooling: Pooling::Max,
            force: ForceValue::Mean,
            probe: 100,
            max_tokens: 128,
            seed: 0,
        }
    }

    /// Loads everything and runs the analysis.
    pub fn run(&self, device: &Device) -> Result<CheckpointResult> {
        if self.langs.len() < 2 {
            return Err(Error::InvalidInput(
                "checkpoint run: need at least 2 languages".into(),
            ));
        }
        let t = self
            .langs
            .iter()
            .position(|l| *l == self.target)
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "target {} is not among the languages {:?}",
                    self.target, self.langs
                ))
            })?;
        let model = PretrainedLm::from_dir(&self.model_dir, device)?;
        let tok = HfTokenizer::from_dir(&self.model_dir)?;
        let langs: Vec<&str> = self.langs.iter().map(String::as_str).collect();
        let text = read_flores(&self.data_dir, &langs)?;
        let max = self.max_tokens.min(model.max_len());
        let mut enc: Vec<Vec<Vec<u32>>> = Vec::new();
        for l in &langs {
            let lines = text
                .get(l)
                .ok_or_else(|| Error::InvalidInput(format!("no text for {l}")))?;
            enc.push(
                lines
                    .iter()
                    .map(|s| tok.encode(s, false))
                    .collect::<Result<_>>()?,
            );
        }
        let n_all = enc[0].len();
        let keep: Vec<usize> = (0..n_all)
            .filter(|&i| enc.iter().all(|e| !e[i].is_empty() && e[i].len() <= max))
            .collect();
        if keep.len() < self.probe + 2 {
            return Err(Error::InvalidInput(format!(
                "{}: only {} usable parallel sentences, need probe ({}) + 2",
                self.data_dir.display(),
                keep.len(),
                self.probe
            )));
        }
        let pad = tok.fill_id();
        let probe: Vec<Vec<u32>> = enc
            .iter()
            .flat_map(|e| keep[..self.probe].iter().map(|&i| e[i].clone()))
            .collect();
        let test: Vec<Vec<Vec<u32>>> = enc
            .iter()
            .map(|e| keep[self.probe..].iter().map(|&i| e[i].clone()).collect())
            .collect();
        let cap = CaptureConfig {
            sites: self.sites.clone(),
            layers: None,
            pooling: self.pooling,
            batch_size: 16,
        };
        let resp = collect(&model, &probe, pad, &cap, None, device)?;
        let n = self.probe;
        let labels: Vec<bool> = (0..probe.len()).map(|i| i / n == t).collect();
        let ex = Expertise::compute(&resp, &labels)?;
        let top = ex.top_k(Metric::Auroc, self.k);
        let iv = force_experts(&ex, &top, self.force)?;
        let rv = random_control(&ex, &top, self.force, self.seed)?;
        let last = model.n_layers();
        let mut mats = Vec::new();
        for cond in [None, Some(&iv), Some(&rv)] {
            let mut per = Vec::new();
            for s in &test {
                per.push(embeddings(&model, s, pad, &[last], cond, 16, device)?.remove(0));
            }
            mats.push(ParallelEmbeddings::new(per, model.d_model())?.retrieval_matrix()?);
        }
        let random = mats.pop().unwrap_or_default();
        let post = mats.pop().unwrap_or_default();
        let pre = mats.pop().unwrap_or_default();
        Ok(CheckpointResult {
            langs: self.langs.clone(),
            target: self.target.clone(),
            k: top.len(),
            mean_expert_auroc: top.iter().map(|&i| ex.units[i].auroc).sum::<f64>()
                / top.len().max(1) as f64,
            n_probe: n,
            n_test: test[0].len(),
            pre,
            post,
            random,
        })
    }
}

/// Retrieval top-1 matrices (query row, candidate column) of a checkpoint run.
#[derive(Debug, Clone, Serialize)]
pub struct CheckpointResult {
    /// Languages.
    pub langs: Vec<String>,
    /// Target language.
    pub target: String,
    /// Experts forced.
    pub k: usize,
    /// Mean AUROC of the experts.
    pub mean_expert_auroc: f64,
    /// Probe sentences per language.
    pub n_probe: usize,
    /// Test sentences per language.
    pub n_test: usize,
    /// Before.
    pub pre: Vec<Vec<f64>>,
    /// Forcing the experts.
    pub post: Vec<Vec<f64>>,
    /// Random control.
    pub random: Vec<Vec<f64>>,
}

impl CheckpointResult {
    /// Writes `<dir>/checkpoint_result.json`; returns its path.
    pub fn write_report(&self, dir: impl AsRef<Path>) -> Result<PathBuf> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let p = dir.join("checkpoint_result.json");
        let s =
            serde_json::to_string_pretty(self).map_err(|e| Error::InvalidInput(e.to_string()))?;
        std::fs::write(&p, s).map_err(|e| Error::io(&p, e))?;
        Ok(p)
    }
}
