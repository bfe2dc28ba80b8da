//! The text ABX tasks on your own checkpoint: a local Hugging Face folder
//! (`config.json` + `model.safetensors` + `tokenizer.json`, any architecture
//! [`PretrainedLm`] loads) and a FLORES-style folder of parallel text, every layer.
//!
//! [`CheckpointAbx::run`] reads the parallel sentences of the chosen languages, tokenizes
//! them with the checkpoint's own tokenizer (special tokens added as `transformers` does,
//! truncated to `max_tokens`), pools every hidden state with the masked mean of
//! [`pool_layers`] (padding and the tokenizer's special tokens excluded, see
//! [`hf_special_ids`]) and runs language discrimination (LD: ON language, ACROSS meaning)
//! and meaning discrimination (MD: ON meaning, ACROSS language) with [`text_abx`] on each
//! layer. [`CheckpointAbxResult::write_report`] writes `report.json`, `report.md`, a line
//! plot across layers and per-pair heatmaps. It is a measurement: the report states no
//! claims.
//!
//! ```no_run
//! use ember_abx::checkpoint::{CheckpointAbx, report_header};
//! # fn main() -> ember_core::Result<()> {
//! let device = ember_core::backend::device_by_name("flex")?;
//! let job = CheckpointAbx::new(
//!     "models/xlm-roberta-base",
//!     "flores200_dataset/devtest",
//!     ["eng_Latn", "deu_Latn", "fra_Latn"],
//! );
//! let res = job.run(&device)?;
//! for l in &res.layers {
//!     println!("layer {}: LD {:.3} MD {:.3}", l.layer, l.ld, l.md);
//! }
//! res.write_report(report_header("flex"), "ember-out/abx-xlmr")?;
//! # Ok(()) }
//! ```
//!
//! This module also holds the report helpers the `eval-abx` binary shares
//! ([`layer_labels`], [`plot_pair_heatmap`]).

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::prelude::*;
use ember_core::data::flores::{FloresLayout, ParallelText, list_languages, read_flores_with};
use ember_core::nn::LanguageModel;
use ember_core::pretrained::PretrainedLm;
use ember_core::pretrained::tokenizer::{EncodeOptions, EncodedBatch, HfTokenizer, TOKENIZER_FILE};
#[cfg(feature = "eval")]
use ember_core::report::plot::{self, Heatmap, LinePlot, Series};
use ember_core::report::{Cell, Figure, Report, Table};
use ember_core::{Error, Result};

use crate::repr::{
    LayerReprs, Pooling, SpecialIds, batch_from_encoded, hf_special_ids, keep_mask, pool_layers,
};
use crate::text::{ParallelEmbeddings, text_abx};

/// Default truncation: at most this many tokens per sentence (special tokens included),
/// and never more than the model's `max_len`.
pub const DEFAULT_MAX_TOKENS: usize = 128;
/// Default number of sentences per forward pass.
pub const DEFAULT_BATCH: usize = 16;
/// `eval` field of the report.
pub const REPORT_EVAL: &str = "abx-checkpoint";
/// Title of the report.
pub const REPORT_TITLE: &str =
    "ABX discrimination of form and meaning on every layer of a pretrained checkpoint";

/// What to measure: a checkpoint folder, a FLORES-style folder and the languages.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointAbx {
    /// Hugging Face folder: `config.json`, `model.safetensors` (or a sharded index) and
    /// `tokenizer.json`.
    pub model_dir: PathBuf,
    /// One file per language, line `i` of every file translating line `i` of the others
    /// (file names from `layout`).
    pub flores_dir: PathBuf,
    /// Language codes (file names without the extension), at least two.
    pub langs: Vec<String>,
    /// Use only the first `n` sentences of every language (≥ 2). Default: all.
    pub max_sentences: Option<usize>,
    /// Truncate every sentence to this many tokens, special tokens included (they are
    /// kept). Default: `min(model.max_len(), DEFAULT_MAX_TOKENS)`; larger than the model's
    /// `max_len` is an error.
    pub max_tokens: Option<usize>,
    /// Sentences per forward pass (≥ 1). Sentences are grouped by length, so little
    /// padding is computed.
    pub batch: usize,
    /// Which tokens enter the mean.
    pub pooling: Pooling,
    /// How language codes map to file names. Default `{lang}.devtest`, `.dev`, `.txt`.
    pub layout: FloresLayout,
    /// Print progress to stderr.
    pub progress: bool,
}

/// LD and MD of one hidden state.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LayerAbx {
    /// Hidden-state index: 0 = embeddings, `ℓ` = output of block `ℓ`.
    pub layer: usize,
    /// Mean LD error over ordered language pairs (0.5 = chance).
    pub ld: f64,
    /// Mean MD error over ordered language pairs (0.5 = chance).
    pub md: f64,
    /// Mean top-1 translation retrieval accuracy of the MD task.
    pub md_top1: f64,
    /// `L × L` LD errors, row = A's language (NaN on the diagonal).
    pub ld_pairs: Vec<Vec<f64>>,
    /// `L × L` MD errors, row = A/B's language, column = X's (NaN on the diagonal).
    pub md_pairs: Vec<Vec<f64>>,
}

/// What [`CheckpointAbx::run`] measured.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointAbxResult {
    /// The checkpoint folder.
    pub model_dir: PathBuf,
    /// The parallel-text folder.
    pub flores_dir: PathBuf,
    /// `model_type` from `config.json`.
    pub model_type: String,
    /// Blocks (the result has `n_layers + 1` layers).
    pub n_layers: usize,
    /// Residual width.
    pub d_model: usize,
    /// Languages, in the order of the pair matrices.
    pub langs: Vec<String>,
    /// Parallel sentences per language.
    pub n_sentences: usize,
    /// Truncation used.
    pub max_tokens: usize,
    /// Sentences that were longer than `max_tokens` and cut.
    pub n_truncated: usize,
    /// Mean tokens per sentence after truncation (special tokens included).
    pub mean_tokens: f64,
    /// Pooling used.
    pub pooling: Pooling,
    /// The ids excluded from the mean under [`Pooling::MeanNoSpecials`].
    pub special_ids: Vec<u32>,
    /// Per hidden state, embeddings first.
    pub layers: Vec<LayerAbx>,
    /// The pooled vectors: `pooled.layers[ℓ]` is `[L·n, d_model]`, language-major (row
    /// `l·n + i` is sentence `i` of `langs[l]`).
    pub pooled: LayerReprs,
    /// Seconds to load the model and tokenizer.
    pub load_s: f64,
    /// Seconds to tokenize and pool.
    pub pool_s: f64,
    /// Seconds for the ABX tasks.
    pub abx_s: f64,
}

impl CheckpointAbx {
    /// A job with the defaults: every sentence, default truncation, batch
    /// [`DEFAULT_BATCH`], [`Pooling::MeanNoSpecials`], the default [`FloresLayout`].
    pub fn new<S: Into<String>>(
        model_dir: impl Into<PathBuf>,
        flores_dir: impl Into<PathBuf>,
        langs: impl IntoIterator<Item = S>,
    ) -> Self {
        CheckpointAbx {
            model_dir: model_dir.into(),
            flores_dir: flores_dir.into(),
            langs: langs.into_iter().map(Into::into).collect(),
            max_sentences: None,
            max_tokens: None,
            batch: DEFAULT_BATCH,
            pooling: Pooling::default(),
            layout: FloresLayout::default(),
            progress: false,
        }
    }

    /// Checks the parameters alone (no file is read): ≥ 2 distinct, non-empty languages,
    /// `max_sentences ≥ 2`, `max_tokens ≥ 1`, `batch ≥ 1`.
    pub fn validate(&self) -> Result<()> {
        if self.langs.len() < 2 {
            return Err(Error::InvalidInput(format!(
                "text ABX needs at least 2 languages, got {} ({:?})",
                self.langs.len(),
                self.langs
            )));
        }
        for (i, l) in self.langs.iter().enumerate() {
            if l.trim().is_empty() {
                return Err(Error::InvalidInput("empty language code".into()));
            }
            if self.langs[..i].contains(l) {
                return Err(Error::InvalidInput(format!(
                    "language {l:?} is listed twice"
                )));
            }
        }
        if let Some(n) = self.max_sentences
            && n < 2
        {
            return Err(Error::InvalidInput(format!(
                "max_sentences must be at least 2 (the ABX tasks compare sentences), got {n}"
            )));
        }
        if self.max_tokens == Some(0) {
            return Err(Error::InvalidInput("max_tokens must be at least 1".into()));
        }
        if self.batch == 0 {
            return Err(Error::InvalidInput("batch must be at least 1".into()));
        }
        Ok(())
    }

    /// The parallel sentences, validated: every language has a file, the files have the
    /// same number of lines, at least two sentences remain after `max_sentences`.
    pub fn read_text(&self) -> Result<ParallelText> {
        self.validate()?;
        let dir = &self.flores_dir;
        if !dir.is_dir() {
            return Err(Error::io(
                dir,
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "FLORES-style folder not found (expected one file per language)",
                ),
            ));
        }
        let exists = |l: &str| {
            self.layout
                .patterns
                .iter()
                .any(|p| dir.join(p.replacen("{lang}", l, 1)).is_file())
        };
        let missing: Vec<&str> = self
            .langs
            .iter()
            .map(String::as_str)
            .filter(|l| !exists(l))
            .collect();
        if !missing.is_empty() {
            let found = list_languages(dir, &self.layout).unwrap_or_default();
            return Err(Error::InvalidInput(format!(
                "language(s) {missing:?} not found in {} (file names tried: {:?}); languages \
                 there: {}",
                dir.display(),
                self.layout.patterns,
                if found.is_empty() {
                    "none".to_string()
                } else {
                    found.join(", ")
                }
            )));
        }
        let refs: Vec<&str> = self.langs.iter().map(String::as_str).collect();
        let mut text = read_flores_with(dir, &refs, &self.layout)?;
        if let Some(n) = self.max_sentences {
            for lines in &mut text.lines {
                lines.truncate(n);
            }
        }
        if text.len() < 2 {
            return Err(Error::InvalidInput(format!(
                "text ABX needs at least 2 parallel sentences, {} has {}",
                dir.display(),
                text.len()
            )));
        }
        Ok(text)
    }

    /// Loads the checkpoint and its tokenizer, pools every layer and runs LD and MD on each
    /// (see the [module docs](self)). Parameters and text are checked before the model is
    /// loaded.
    pub fn run(&self, device: &Device) -> Result<CheckpointAbxResult> {
        let text = self.read_text()?;
        let tok_path = self.model_dir.join(TOKENIZER_FILE);
        if !tok_path.is_file() {
            return Err(Error::io(
                &tok_path,
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!(
                        "the checkpoint folder has no {TOKENIZER_FILE}: save the tokenizer \
                         next to the model (tokenizer.save_pretrained(dir) in transformers)"
                    ),
                ),
            ));
        }
        let t0 = Instant::now();
        let tok = HfTokenizer::from_dir(&self.model_dir)?;
        let model = PretrainedLm::from_dir(&self.model_dir, device)?;
        let model_type = model.config().model_type()?;
        let load_s = t0.elapsed().as_secs_f64();
        if self.progress {
            eprintln!(
                "loaded {} ({model_type}, {} layers, d_model {}) in {load_s:.1}s",
                self.model_dir.display(),
                model.n_layers(),
                model.d_model()
            );
        }
        let specials = hf_special_ids(&tok);
        let t1 = Instant::now();
        let (pooled, stats) = self.pool(&model, &tok, &specials, &text, device)?;
        let pool_s = t1.elapsed().as_secs_f64();

        let t2 = Instant::now();
        let (n, d) = (text.len(), model.d_model());
        let layers = pooled
            .layers
            .iter()
            .enumerate()
            .map(|(layer, v)| {
                let emb = ParallelEmbeddings::new(self.langs.clone(), n, d, v.clone())?;
                let (ld, md) = text_abx(&emb)?;
                Ok(LayerAbx {
                    layer,
                    ld: ld.mean_error(),
                    md: md.mean_error(),
                    md_top1: md.mean_top1().unwrap_or(f64::NAN),
                    ld_pairs: ld.matrix(),
                    md_pairs: md.matrix(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let abx_s = t2.elapsed().as_secs_f64();
        Ok(CheckpointAbxResult {
            model_dir: self.model_dir.clone(),
            flores_dir: self.flores_dir.clone(),
            model_type,
            n_layers: model.n_layers(),
            d_model: d,
            langs: self.langs.clone(),
            n_sentences: n,
            max_tokens: stats.max_tokens,
            n_truncated: stats.n_truncated,
            mean_tokens: stats.mean_tokens,
            pooling: self.pooling,
            special_ids: specials.into_iter().collect(),
            layers,
            pooled,
            load_s,
            pool_s,
            abx_s,
        })
    }

    /// Tokenizes every sentence (language-major), checks the ids fit the model and every
    /// sentence keeps a token, then pools in length-sorted batches.
    fn pool<M: LanguageModel + ?Sized>(
        &self,
        model: &M,
        tok: &HfTokenizer,
        specials: &(impl SpecialIds + ?Sized),
        text: &ParallelText,
        device: &Device,
    ) -> Result<(LayerReprs, TokenStats)> {
        let max_tokens = match self.max_tokens {
            Some(m) if m > model.max_len() => {
                return Err(Error::InvalidInput(format!(
                    "max_tokens {m} exceeds the model's maximum sequence length {}",
                    model.max_len()
                )));
            }
            Some(m) => m,
            None => model.max_len().min(DEFAULT_MAX_TOKENS),
        };
        let n = text.len();
        let texts: Vec<&str> = text.lines.iter().flatten().map(String::as_str).collect();
        let opts = EncodeOptions {
            max_len: None,
            ..EncodeOptions::default()
        };
        let mut enc = tok.encode_batch(&texts, &opts)?;
        let long: Vec<usize> = (0..enc.len())
            .filter(|&i| enc.lengths[i] > max_tokens)
            .collect();
        if !long.is_empty() {
            let cut = tok.encode_batch(
                &long.iter().map(|&i| texts[i]).collect::<Vec<_>>(),
                &EncodeOptions {
                    max_len: Some(max_tokens),
                    ..EncodeOptions::default()
                },
            )?;
            for (&i, ids) in long.iter().zip(cut.ids) {
                enc.lengths[i] = ids.len();
                enc.ids[i] = ids;
            }
        }
        let where_ = |i: usize| {
            let s = &texts[i];
            let short: String = s.chars().take(60).collect();
            format!(
                "sentence {} of {:?} ({short:?}{})",
                i % n + 1,
                text.langs[i / n],
                if short.len() < s.len() { "…" } else { "" }
            )
        };
        let vocab = model.vocab_size();
        for (i, ids) in enc.ids.iter().enumerate() {
            if let Some(&id) = ids.iter().find(|&&id| id as usize >= vocab) {
                return Err(Error::InvalidInput(format!(
                    "{}: the tokenizer gave id {id} but the model's vocabulary has {vocab} \
                     entries (is {} the tokenizer of this model?)",
                    where_(i),
                    tok.path().display()
                )));
            }
        }
        let keep = keep_mask(&batch_from_encoded(&enc), specials, self.pooling);
        if let Some(i) = keep.iter().position(|k| !k.iter().any(|&x| x)) {
            return Err(Error::InvalidInput(format!(
                "{} has no token to pool (empty, or only special tokens)",
                where_(i)
            )));
        }

        let total = enc.len();
        let mut order: Vec<usize> = (0..total).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(enc.lengths[i]));
        let d = model.d_model();
        let n_h = model.n_layers() + 1;
        let mut layers = vec![vec![0.0f32; total * d]; n_h];
        let mut done = 0;
        for rows in order.chunks(self.batch) {
            let chunk = EncodedBatch {
                ids: rows.iter().map(|&i| enc.ids[i].clone()).collect(),
                lengths: rows.iter().map(|&i| enc.lengths[i]).collect(),
                pad_id: enc.pad_id,
            };
            let pooled = pool_layers(
                model,
                &batch_from_encoded(&chunk),
                specials,
                self.pooling,
                rows.len(),
                device,
            )?;
            for (dst, src) in layers.iter_mut().zip(&pooled) {
                for (k, &i) in rows.iter().enumerate() {
                    dst[i * d..(i + 1) * d].copy_from_slice(&src[k * d..(k + 1) * d]);
                }
            }
            done += rows.len();
            if self.progress {
                eprint!("\rpooled {done}/{total} sentences");
            }
        }
        if self.progress {
            eprintln!();
        }
        let stats = TokenStats {
            max_tokens,
            n_truncated: long.len(),
            mean_tokens: enc.lengths.iter().sum::<usize>() as f64 / total as f64,
        };
        Ok((
            LayerReprs {
                label: self.model_dir.display().to_string(),
                layers,
                n: total,
                dim: d,
            },
            stats,
        ))
    }
}

struct TokenStats {
    max_tokens: usize,
    n_truncated: usize,
    mean_tokens: f64,
}

/// A report for [`CheckpointAbxResult::write_report`] with the eval name, title and
/// device filled in (add the seed or elapsed time with the `with_*` builders).
pub fn report_header(device: &str) -> Report {
    Report::new(REPORT_EVAL, "P2", REPORT_TITLE)
        .with_device(device)
        .with_scale("checkpoint")
}

/// The hidden states to draw pair heatmaps for: first (embeddings), middle and last.
pub fn heatmap_layers(n_layers: usize) -> Vec<usize> {
    let mut v = vec![0, n_layers.div_ceil(2), n_layers];
    v.dedup();
    v
}

impl CheckpointAbxResult {
    /// Adds the per-layer table, metrics, a line plot of LD / MD / top-1 across layers
    /// (`abx_layers.png`) and LD and MD pair heatmaps of the [`heatmap_layers`]
    /// (`ld_pairs_layer{ℓ}.png`, `md_pairs_layer{ℓ}.png`) to `report`, writes the PNGs,
    /// `report.json` and `report.md` into `out` (created) and returns the path of
    /// `report.json`. The elapsed time is set to load + pooling + ABX seconds.
    #[cfg(feature = "eval")]
    pub fn write_report(&self, mut report: Report, out: impl AsRef<Path>) -> Result<PathBuf> {
        let out = out.as_ref();
        std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
        let labels = layer_labels(self.layers.len());
        let mut t = Table::new(
            "ABX error per hidden state (mean over ordered language pairs; ties ½; 0.5 = chance) and MD top-1 retrieval",
            ["layer", "hidden state", "LD error", "MD error", "MD top-1"],
        );
        for (p, label) in self.layers.iter().zip(&labels) {
            t.add_row(vec![
                Cell::from(p.layer as f64),
                Cell::from(label.clone()),
                Cell::from(p.ld),
                Cell::from(p.md),
                Cell::from(p.md_top1),
            ]);
        }
        report.add_table(t);

        let best_md = self
            .layers
            .iter()
            .min_by(|a, b| a.md.total_cmp(&b.md))
            .ok_or_else(|| Error::InvalidInput("no layers to report".into()))?;
        let best_ld = self
            .layers
            .iter()
            .min_by(|a, b| a.ld.total_cmp(&b.ld))
            .ok_or_else(|| Error::InvalidInput("no layers to report".into()))?;
        let last = &self.layers[self.layers.len() - 1];
        report.add_metric("n_layers", self.n_layers as f64);
        report.add_metric("d_model", self.d_model as f64);
        report.add_metric("languages", self.langs.len() as f64);
        report.add_metric("sentences_per_language", self.n_sentences as f64);
        report.add_metric("mean_tokens_per_sentence", self.mean_tokens);
        report.add_metric("truncated_sentences", self.n_truncated as f64);
        report.add_metric("best_md_layer", best_md.layer as f64);
        report.add_metric("best_md_error", best_md.md);
        report.add_metric("best_ld_layer", best_ld.layer as f64);
        report.add_metric("best_ld_error", best_ld.ld);
        report.add_metric("last_layer_ld_error", last.ld);
        report.add_metric("last_layer_md_error", last.md);
        report.add_metric("last_layer_md_top1", last.md_top1);
        report.add_metric("load_seconds", self.load_s);
        report.add_metric("pool_seconds", self.pool_s);
        report.add_metric("abx_seconds", self.abx_s);

        let x = |f: fn(&LayerAbx) -> f64| -> Vec<(f64, f64)> {
            self.layers.iter().map(|p| (p.layer as f64, f(p))).collect()
        };
        let file = "abx_layers.png";
        plot::line(
            out.join(file),
            &LinePlot {
                title: "Text ABX across layers".into(),
                x_label: "hidden state (0 = embeddings)".into(),
                y_label: "ABX error / top-1 accuracy".into(),
                series: vec![
                    Series::new("LD error", x(|p| p.ld)),
                    Series::new("MD error", x(|p| p.md)),
                    Series::new("MD top-1", x(|p| p.md_top1)),
                ],
                log_x: false,
            },
        )?;
        report.add_figure(Figure::new(
            "LD and MD across layers",
            file,
            "mean ABX error over ordered language pairs per hidden state (lower = better discrimination; 0.5 = chance), and top-1 translation retrieval",
        ));
        for l in heatmap_layers(self.n_layers) {
            let p = &self.layers[l];
            let name = &labels[l];
            for (file, title, mat, what) in [
                (
                    format!("ld_pairs_layer{l}.png"),
                    format!("LD error per ordered pair (row = A's language), {name}"),
                    &p.ld_pairs,
                    "language discrimination",
                ),
                (
                    format!("md_pairs_layer{l}.png"),
                    format!("MD error per ordered pair (row = A/B's language), {name}"),
                    &p.md_pairs,
                    "meaning discrimination",
                ),
            ] {
                plot_pair_heatmap(out.join(&file), &title, &self.langs, mat.clone())?;
                report.add_figure(Figure::new(
                    title,
                    file,
                    format!("{what}: per-pair ABX errors at hidden state {l} ({name})"),
                ));
            }
        }
        report.add_note(format!(
            "checkpoint {} (model_type {}, {} layers, d_model {}); parallel text {} ({}), {} sentences per language, truncated to {} tokens ({} cut), {:.1} tokens per sentence on average",
            self.model_dir.display(),
            self.model_type,
            self.n_layers,
            self.d_model,
            self.flores_dir.display(),
            self.langs.join(", "),
            self.n_sentences,
            self.max_tokens,
            self.n_truncated,
            self.mean_tokens
        ));
        report.add_note(format!(
            "sentence vectors: {} (excluded ids: {:?}); cosine similarity; LD = ON language ACROSS meaning, MD = ON meaning ACROSS language, each averaged over ordered language pairs",
            self.pooling.describe(),
            self.special_ids
        ));
        report.add_note(
            "a measurement of this checkpoint, not a reproduction: no claims are checked",
        );
        report.set_elapsed(self.load_s + self.pool_s + self.abx_s);
        Ok(report.write(out)?)
    }
}

/// Row labels of per-layer plots: `emb` for the embeddings, then `L1` … `L{n−1}`.
pub fn layer_labels(n_hidden: usize) -> Vec<String> {
    (0..n_hidden)
        .map(|l| {
            if l == 0 {
                "emb".into()
            } else {
                format!("L{l}")
            }
        })
        .collect()
}

#[cfg(feature = "eval")]
/// An `L × L` heatmap of per-pair ABX errors (rows = first language, columns = second:
/// B for LD, X for MD) on the fixed colour range 0..0.5, annotated.
pub fn plot_pair_heatmap(
    path: impl AsRef<Path>,
    title: &str,
    langs: &[String],
    values: Vec<Vec<f64>>,
) -> Result<()> {
    plot::heatmap(
        path,
        &Heatmap {
            title: title.into(),
            x_label: "second language (B for LD, X for MD)".into(),
            y_label: "first language".into(),
            x_ticks: langs.to_vec(),
            y_ticks: langs.to_vec(),
            values,
            value_range: Some((0.0, 0.5)),
            annotate: true,
        },
    )?;
    Ok(())
}
