//! Domains as clusters of documents (spec §1.4): documents are featurised, clustered with
//! k-means, and a sample's domain weights are the histogram of its documents' nearest
//! centroids (`h_spe[c] = P(c | D_spe)`, the paper's Algorithm 3).
//!
//! The paper embeds documents with Sentence-BERT; offline we use a bag-of-tokens featuriser
//! (the spec's stand-in): unigram counts, square-rooted, L2-normalised, optionally
//! projected to a lower dimension by a seeded Gaussian random matrix.

use ember_core::cluster::{KMeans, KMeansInit};
use ember_core::{Error, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// Bag-of-tokens document features.
#[derive(Debug, Clone)]
pub struct Featurizer {
    vocab: usize,
    /// `[vocab, dim]` row-major, if projecting.
    projection: Option<Vec<f32>>,
    dim: usize,
}

impl Featurizer {
    /// Features of width `vocab` (no projection).
    pub fn new(vocab: usize) -> Result<Self> {
        if vocab == 0 {
            return Err(Error::InvalidInput("featurizer: vocab = 0".into()));
        }
        Ok(Self {
            vocab,
            projection: None,
            dim: vocab,
        })
    }

    /// Project to `dim` dimensions with a seeded Gaussian matrix (scaled by `1/√dim`).
    pub fn with_projection(mut self, dim: usize, seed: u64) -> Result<Self> {
        if dim == 0 {
            return Err(Error::InvalidInput(
                "featurizer: projection to 0 dimensions".into(),
            ));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let scale = 1.0 / (dim as f32).sqrt();
        self.projection = Some(
            (0..self.vocab * dim)
                .map(|_| {
                    let z: f32 = StandardNormal.sample(&mut rng);
                    z * scale
                })
                .collect(),
        );
        self.dim = dim;
        Ok(self)
    }

    /// Feature width.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Features of each document, `docs.len() × dim` row-major.
    ///
    /// Errors: an empty document or a token id outside the vocabulary.
    pub fn features<D: AsRef<[u32]>>(&self, docs: &[D]) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(docs.len() * self.dim);
        let mut counts = vec![0f32; self.vocab];
        for (i, doc) in docs.iter().enumerate() {
            let doc = doc.as_ref();
            if doc.is_empty() {
                return Err(Error::InvalidInput(format!(
                    "featurizer: document {i} is empty"
                )));
            }
            counts.iter_mut().for_each(|c| *c = 0.0);
            for &t in doc {
                let t = t as usize;
                if t >= self.vocab {
                    return Err(Error::InvalidInput(format!(
                        "featurizer: document {i} has token {t} >= vocab {}",
                        self.vocab
                    )));
                }
                counts[t] += 1.0;
            }
            let norm = counts.iter().sum::<f32>().sqrt(); // ‖√c‖₂ = √Σc
            let root: Vec<f32> = counts.iter().map(|c| c.sqrt() / norm).collect();
            match &self.projection {
                None => out.extend(root),
                Some(p) => {
                    let mut y = vec![0f32; self.dim];
                    for (t, &r) in root.iter().enumerate() {
                        if r != 0.0 {
                            let row = &p[t * self.dim..(t + 1) * self.dim];
                            y.iter_mut().zip(row).for_each(|(y, w)| *y += r * w);
                        }
                    }
                    out.extend(y);
                }
            }
        }
        Ok(out)
    }
}

/// Cluster documents into `k` domains: returns the k-means model and each document's domain.
pub fn cluster_documents<D: AsRef<[u32]>>(
    featurizer: &Featurizer,
    docs: &[D],
    k: usize,
    iters: usize,
    seed: u64,
) -> Result<(KMeans, Vec<usize>)> {
    let feats = featurizer.features(docs)?;
    let km = KMeans::fit(
        &feats,
        featurizer.dim(),
        k,
        iters,
        KMeansInit::PlusPlus,
        seed,
    )?;
    let assign = km.assign(&feats)?;
    Ok((km, assign))
}

/// Domain weights of a sample of documents: the normalised histogram of their nearest
/// centroids (Algorithm 3).
pub fn domain_weights<D: AsRef<[u32]>>(
    featurizer: &Featurizer,
    km: &KMeans,
    docs: &[D],
) -> Result<Vec<f64>> {
    if docs.is_empty() {
        return Err(Error::InvalidInput(
            "domain weights of an empty sample".into(),
        ));
    }
    km.histogram(&featurizer.features(docs)?)
}

/// Domain-weight histograms of coherent samples of a corpus, for the meta-distribution's
/// empirical component ([`crate::MetaDistribution::with_empirical`]): each is Algorithm 3
/// applied to a random anchor document and its `sample_size − 1` nearest neighbours (largest
/// dot product of features; the bag-of-token features are L2-normalised, so cosine). No
/// labels are used: the samples mimic a small specialist set drawn from one region of the
/// corpus.
///
/// `features` is `n × dim` row-major, `assign[i]` the domain of row `i` (of `k`).
pub fn coherent_sample_histograms(
    features: &[f32],
    dim: usize,
    assign: &[usize],
    k: usize,
    n_samples: usize,
    sample_size: usize,
    seed: u64,
) -> Result<Vec<Vec<f64>>> {
    use rand::RngExt;
    use rayon::prelude::*;
    if dim == 0 || features.len() != assign.len() * dim {
        return Err(Error::Shape(format!(
            "coherent samples: {} feature values for {} documents of width {dim}",
            features.len(),
            assign.len()
        )));
    }
    let n = assign.len();
    if sample_size == 0 || sample_size > n || k == 0 || assign.iter().any(|&c| c >= k) {
        return Err(Error::InvalidInput(format!(
            "coherent samples: need 1 <= sample_size ({sample_size}) <= documents ({n}) and domains < k ({k})"
        )));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let anchors: Vec<usize> = (0..n_samples).map(|_| rng.random_range(0..n)).collect();
    Ok(anchors
        .par_iter()
        .map(|&a| {
            let x = &features[a * dim..(a + 1) * dim];
            let mut sims: Vec<(f32, usize)> = features
                .chunks_exact(dim)
                .enumerate()
                .map(|(i, f)| (x.iter().zip(f).map(|(p, q)| p * q).sum(), i))
                .collect();
            sims.select_nth_unstable_by(sample_size - 1, |p, q| q.0.total_cmp(&p.0));
            let mut counts = vec![0usize; k];
            for &(_, i) in &sims[..sample_size] {
                counts[assign[i]] += 1;
            }
            counts
                .iter()
                .map(|&c| c as f64 / sample_size as f64)
                .collect()
        })
        .collect())
}
