//! The dual-encoder contract prompt learning runs on, and its two implementations: this
//! crate's small CLIP ([`crate::clip::SmallClip`]) and a loaded Hugging Face CLIP
//! ([`ember_core::pretrained::Clip`]).
//!
//! A prompt learner needs four things from a CLIP-style model: image features, the token
//! embeddings of a prompt (so it can splice learned context vectors in, as CoOp does), the
//! text features of embedded tokens pooled at the end-of-text position, and the logit
//! scale. Nothing else of the model is touched, and both towers stay frozen.

use burn::prelude::*;
use ember_core::pretrained::{Clip, HfTokenizer};
use ember_core::{Error, Result};

/// A CLIP-style dual encoder, as prompt learners see it. Features are not normalised; the
/// learners normalise them.
pub trait DualEncoder {
    /// Width of the joint embedding space.
    fn embed_dim(&self) -> usize;
    /// Width of the text tower's token embeddings (what learned context vectors are).
    fn token_dim(&self) -> usize;
    /// Longest token sequence the text tower takes.
    fn max_tokens(&self) -> usize;
    /// Image features `[B, E]` of preprocessed images `[B, 3, H, W]`.
    fn image_features(&self, images: Tensor<4>) -> Result<Tensor<2>>;
    /// Token embeddings `[B, T, token_dim]` of ids `[B, T]` (no positions).
    fn token_embeddings(&self, ids: Tensor<2, Int>) -> Result<Tensor<3>>;
    /// Text features `[B, E]` of embedded tokens `[B, T, token_dim]`, pooled at `eot[b]`.
    fn text_features_from_embeddings(&self, x: Tensor<3>, eot: &[usize]) -> Result<Tensor<2>>;
    /// The scale applied to cosine similarities (CLIP: `exp(logit_scale)`, at most 100).
    fn logit_scale(&self) -> Result<f64>;

    /// Text features `[B, E]` of ids `[B, T]` pooled at `eot[b]`.
    fn text_features(&self, ids: Tensor<2, Int>, eot: &[usize]) -> Result<Tensor<2>> {
        let x = self.token_embeddings(ids)?;
        self.text_features_from_embeddings(x, eot)
    }
}

impl DualEncoder for Clip {
    fn embed_dim(&self) -> usize {
        Clip::embed_dim(self)
    }
    fn token_dim(&self) -> usize {
        self.text().config().tower.hidden_size
    }
    fn max_tokens(&self) -> usize {
        self.text().config().max_positions
    }
    fn image_features(&self, images: Tensor<4>) -> Result<Tensor<2>> {
        Clip::image_features(self, images)
    }
    fn token_embeddings(&self, ids: Tensor<2, Int>) -> Result<Tensor<3>> {
        self.text().token_embeddings(ids)
    }
    fn text_features_from_embeddings(&self, x: Tensor<3>, eot: &[usize]) -> Result<Tensor<2>> {
        Clip::text_features_from_embeddings(self, x, eot)
    }
    fn logit_scale(&self) -> Result<f64> {
        Clip::logit_scale(self)
    }
}

/// Turns prompt text into token ids (without special tokens) and names the special ids a
/// prompt is framed with: `[bos] words… [eot]`, right-padded with `pad`.
pub trait PromptTokenizer {
    /// Ids of `text`, no special tokens. Errors on text the vocabulary cannot cover.
    fn encode_words(&self, text: &str) -> Result<Vec<i64>>;
    /// Start-of-text id.
    fn bos(&self) -> i64;
    /// End-of-text id (where the text tower pools).
    fn eot(&self) -> i64;
    /// Padding id (after the end-of-text token; the tower is causal, so it is never seen).
    fn pad(&self) -> i64;
}

/// A Hugging Face `tokenizer.json` with the start- and end-of-text ids of a CLIP config.
#[derive(Debug, Clone)]
pub struct HfPromptTokenizer {
    tok: HfTokenizer,
    bos: i64,
    eot: i64,
}

impl HfPromptTokenizer {
    /// Read `dir/tokenizer.json`; the special ids come from the model's
    /// `text_config.{bos,eos}_token_id`.
    pub fn from_dir(dir: impl AsRef<std::path::Path>, model: &Clip) -> Result<Self> {
        let tok = HfTokenizer::from_dir(dir.as_ref())?;
        let cfg = model.config();
        let id = |k: &str| -> Result<i64> {
            cfg.size(k).map(|v| v as i64).map_err(|e| {
                Error::InvalidInput(format!("the CLIP config needs {k} for prompts: {e}"))
            })
        };
        Ok(Self {
            tok,
            bos: id("text_config.bos_token_id")?,
            eot: id("text_config.eos_token_id")?,
        })
    }
}

impl PromptTokenizer for HfPromptTokenizer {
    fn encode_words(&self, text: &str) -> Result<Vec<i64>> {
        Ok(self
            .tok
            .encode(text, false)?
            .into_iter()
            .map(|i| i as i64)
            .collect())
    }
    fn bos(&self) -> i64 {
        self.bos
    }
    fn eot(&self) -> i64 {
        self.eot
    }
    fn pad(&self) -> i64 {
        self.eot
    }
}

/// Prompts framed and padded into one id matrix: `ids` `[N, T]` row-major, `eot[n]` the
/// end-of-text position of row `n`.
#[derive(Debug, Clone, PartialEq)]
pub struct FramedPrompts {
    /// Row-major ids `[N, T]`.
    pub ids: Vec<i64>,
    /// Rows `N`.
    pub rows: usize,
    /// Width `T`.
    pub width: usize,
    /// End-of-text position per row.
    pub eot: Vec<usize>,
}

impl FramedPrompts {
    /// `[bos] (n_slots placeholder ids) words… [eot]` per text, right-padded to the longest.
    /// The `n_slots` positions after `bos` are where learned context vectors go (CoOp); with
    /// `n_slots = 0` the prompts are plain. Errors: no texts, an empty text, or a prompt
    /// longer than `max_tokens`.
    pub fn frame(
        tok: &dyn PromptTokenizer,
        texts: &[String],
        n_slots: usize,
        max_tokens: usize,
    ) -> Result<Self> {
        if texts.is_empty() {
            return Err(Error::InvalidInput("no prompts to encode".into()));
        }
        let mut rows = Vec::with_capacity(texts.len());
        for t in texts {
            let w = tok.encode_words(t)?;
            if w.is_empty() {
                return Err(Error::InvalidInput(format!("prompt {t:?} has no tokens")));
            }
            let mut r = vec![tok.bos()];
            r.extend(std::iter::repeat_n(tok.pad(), n_slots));
            r.extend(w);
            r.push(tok.eot());
            if r.len() > max_tokens {
                return Err(Error::InvalidInput(format!(
                    "prompt {t:?} is {} tokens with its context, the text tower takes {max_tokens}",
                    r.len()
                )));
            }
            rows.push(r);
        }
        let width = rows.iter().map(Vec::len).max().unwrap_or(0);
        let eot = rows.iter().map(|r| r.len() - 1).collect();
        let mut ids = Vec::with_capacity(rows.len() * width);
        for r in &rows {
            ids.extend(r);
            ids.extend(std::iter::repeat_n(tok.pad(), width - r.len()));
        }
        Ok(Self {
            ids,
            rows: rows.len(),
            width,
            eot,
        })
    }

    /// The ids as a tensor `[N, T]`.
    pub fn tensor(&self, device: &Device) -> Tensor<2, Int> {
        Tensor::<1, Int>::from_data(TensorData::new(self.ids.clone(), [self.ids.len()]), device)
            .reshape([self.rows, self.width])
    }
}

/// Normalised text features `[N, E]` of `texts` (frozen, no context), `chunk` prompts per
/// forward pass.
pub fn encode_texts<M: DualEncoder + ?Sized>(
    model: &M,
    tok: &dyn PromptTokenizer,
    texts: &[String],
    chunk: usize,
    device: &Device,
) -> Result<Tensor<2>> {
    let mut parts = Vec::new();
    for c in texts.chunks(chunk.max(1)) {
        let f = FramedPrompts::frame(tok, c, 0, model.max_tokens())?;
        parts.push(crate::l2n(model.text_features(f.tensor(device), &f.eot)?));
    }
    Ok(Tensor::cat(parts, 0))
}
