//! The embedding-space analysis of Paper 1: masked mean-pooled sentence embeddings per layer
//! (with or without an intervention), cross-lingual retrieval top-1 for every ordered
//! language pair, centroid distances, and same-language paraphrase retrieval.
//!
//! `e_i = (1/|real(i)|) Σ_{t ∈ real(i)} h_t`; retrieval ranks candidates by cosine and
//! counts a hit when the parallel sentence (same index) scores highest.

use crate::capture::pad_batch;
use burn::prelude::*;
use ember_core::metrics::recall_at_k_diagonal;
use ember_core::nn::{ForwardOptions, Intervention, LanguageModel, TransformerInput};
use ember_core::{Error, Result};

/// Sentence embeddings `[n, d]` (row-major) for each requested hidden-state index
/// (`0` = embeddings, `n_layers` = last layer; for decoders the last entry is after the final
/// norm, as transformers reports it).
pub fn embeddings<M: LanguageModel + ?Sized>(
    model: &M,
    sentences: &[Vec<u32>],
    pad: u32,
    layers: &[usize],
    intervention: Option<&Intervention>,
    batch_size: usize,
    device: &Device,
) -> Result<Vec<Vec<f32>>> {
    if batch_size == 0 || sentences.is_empty() || layers.is_empty() {
        return Err(Error::InvalidInput(
            "embeddings: need sentences, layers and batch_size > 0".into(),
        ));
    }
    if let Some(&l) = layers.iter().find(|&&l| l > model.n_layers()) {
        return Err(Error::InvalidInput(format!(
            "embeddings: hidden state {l}, the model has {} (+1)",
            model.n_layers()
        )));
    }
    let d = model.d_model();
    let mut out: Vec<Vec<f32>> = layers
        .iter()
        .map(|_| Vec::with_capacity(sentences.len() * d))
        .collect();
    for chunk in sentences.chunks(batch_size) {
        let (ids, mask, _) = pad_batch(chunk, pad, model.max_len(), device)?;
        let mut opts = ForwardOptions::hidden_states().with_pad_mask(mask.clone());
        if let Some(iv) = intervention {
            opts.intervention = Some(iv.clone());
        }
        let o = model.forward_with(TransformerInput::Tokens(ids), opts)?;
        for (k, &l) in layers.iter().enumerate() {
            let h = o.hidden_states[l].clone();
            out[k].extend(crate::capture::pool_tokens(
                h,
                &mask,
                crate::capture::Pooling::Mean,
            )?);
        }
    }
    Ok(out)
}

/// L2-normalises each row of `[n, d]` in place (zero rows stay zero).
pub fn normalize_rows(x: &mut [f32], d: usize) {
    for row in x.chunks_exact_mut(d) {
        let n = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        if n > 0.0 {
            row.iter_mut().for_each(|v| *v /= n);
        }
    }
}

/// Cosine similarity matrix `[nq, nc]` of two row sets.
pub fn cosine_matrix(q: &[f32], c: &[f32], d: usize) -> Result<Vec<f32>> {
    if d == 0
        || !q.len().is_multiple_of(d)
        || !c.len().is_multiple_of(d)
        || q.is_empty()
        || c.is_empty()
    {
        return Err(Error::Shape(format!(
            "cosine_matrix: {} and {} values are not non-empty multiples of d = {d}",
            q.len(),
            c.len()
        )));
    }
    ember_core::host::check_finite("cosine_matrix queries", q)?;
    ember_core::host::check_finite("cosine_matrix candidates", c)?;
    let (mut q, mut c) = (q.to_vec(), c.to_vec());
    normalize_rows(&mut q, d);
    normalize_rows(&mut c, d);
    Ok(ember_core::host::gemm::gram_nt(
        &q,
        &c,
        q.len() / d,
        c.len() / d,
        d,
    ))
}

/// Top-1 retrieval accuracy: query `i` hits when candidate `i` (its translation) has the
/// highest cosine (ties in the query's favour). `q` and `c` are `[n, d]`.
pub fn retrieval_top1(q: &[f32], c: &[f32], d: usize) -> Result<f64> {
    if q.len() != c.len() {
        return Err(Error::Shape(format!(
            "retrieval_top1: {} query values vs {} candidate values",
            q.len(),
            c.len()
        )));
    }
    let sim = cosine_matrix(q, c, d)?;
    let n = q.len() / d;
    Ok(recall_at_k_diagonal(&sim, n, 1)?.row_to_col)
}

/// Row mean of `[n, d]`.
pub fn centroid(x: &[f32], d: usize) -> Vec<f32> {
    let n = (x.len() / d).max(1);
    let mut c = vec![0.0f32; d];
    for row in x.chunks_exact(d) {
        for (a, b) in c.iter_mut().zip(row) {
            *a += b;
        }
    }
    c.iter_mut().for_each(|v| *v /= n as f32);
    c
}

/// Cosine distance `1 − cos(a, b)`.
pub fn cosine_distance(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    if na == 0.0 || nb == 0.0 {
        1.0
    } else {
        1.0 - dot / (na * nb)
    }
}

/// Per-language embeddings of a parallel set: `langs[l]` is `[n, d]`, row `i` of every
/// language being the same meaning.
#[derive(Debug, Clone, PartialEq)]
pub struct ParallelEmbeddings {
    /// Width.
    pub d: usize,
    /// Sentences per language.
    pub n: usize,
    /// One `[n, d]` block per language.
    pub langs: Vec<Vec<f32>>,
}

impl ParallelEmbeddings {
    /// Checks that every block is `[n, d]`.
    pub fn new(langs: Vec<Vec<f32>>, d: usize) -> Result<Self> {
        let n = langs.first().map_or(0, |l| l.len() / d.max(1));
        if d == 0 || n == 0 || langs.iter().any(|l| l.len() != n * d) {
            return Err(Error::Shape(format!(
                "parallel embeddings: every language must hold n x d values (d = {d})"
            )));
        }
        Ok(ParallelEmbeddings { d, n, langs })
    }

    /// `L × L` top-1 retrieval (row = query language, column = candidate language; the
    /// diagonal is NaN).
    pub fn retrieval_matrix(&self) -> Result<Vec<Vec<f64>>> {
        let l = self.langs.len();
        let mut m = vec![vec![f64::NAN; l]; l];
        for (q, row) in m.iter_mut().enumerate() {
            for (c, cell) in row.iter_mut().enumerate() {
                if q != c {
                    *cell = retrieval_top1(&self.langs[q], &self.langs[c], self.d)?;
                }
            }
        }
        Ok(m)
    }

    /// Mean pairwise cosine distance between the language centroids.
    pub fn mean_centroid_distance(&self) -> f64 {
        let cs: Vec<Vec<f32>> = self.langs.iter().map(|x| centroid(x, self.d)).collect();
        let mut s = 0.0;
        let mut k = 0;
        for i in 0..cs.len() {
            for j in i + 1..cs.len() {
                s += cosine_distance(&cs[i], &cs[j]);
                k += 1;
            }
        }
        if k == 0 { 0.0 } else { s / k as f64 }
    }
}
