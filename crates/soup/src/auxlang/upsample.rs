//! Clustered importance sampling of the auxiliary corpus (P6 §4.2, from CRISP): cluster the
//! auxiliary documents (k-means over document features), estimate the cluster histogram of a
//! small target-like *probe* set (real task questions, or synthetic ones: §4.3), and sample
//! auxiliary documents cluster-first by that histogram:
//!
//! ```text
//! w(c) = P(c | probe) / P(c | aux),   sampling c ~ P(c | probe), then a document of c uniformly
//! ```
//!
//! The paper embeds with multilingual SBERT and uses balanced k-means with 64 clusters; we use
//! the crate's bag-of-tokens featuriser and plain k-means (`crate::domains`), which is also
//! what Soup-of-Experts uses for its domains.

use crate::domains::{Featurizer, cluster_documents, domain_weights};
use crate::mixture::MixtureSampler;
use ember_core::cluster::KMeans;
use ember_core::{Error, Result};
use rand::Rng;

/// Auxiliary documents grouped by cluster, and the probe's cluster histogram.
#[derive(Debug, Clone)]
pub struct ClusterUpsampler {
    featurizer: Featurizer,
    kmeans: KMeans,
    sampler: MixtureSampler,
    aux_weights: Vec<f64>,
    probe_weights: Vec<f64>,
}

impl ClusterUpsampler {
    /// Cluster `aux` documents (token ids below `vocab`) into `k` clusters and weight them by
    /// the histogram of `probe`.
    ///
    /// Errors: empty `aux` or `probe`, fewer documents than `k`, or ids outside `vocab`.
    pub fn new(
        aux: &[Vec<u32>],
        probe: &[Vec<u32>],
        vocab: usize,
        k: usize,
        seed: u64,
    ) -> Result<Self> {
        if aux.is_empty() || probe.is_empty() {
            return Err(Error::InvalidInput(
                "cluster upsampling needs auxiliary and probe documents".into(),
            ));
        }
        let featurizer = Featurizer::new(vocab)?;
        let (kmeans, assign) = cluster_documents(&featurizer, aux, k, 25, seed)?;
        let mut groups = vec![Vec::new(); kmeans.k];
        for (doc, &c) in aux.iter().zip(&assign) {
            groups[c].push(doc.clone());
        }
        let sampler = MixtureSampler::new(groups)?;
        let aux_weights = sampler.natural_weights();
        let mut probe_weights = domain_weights(&featurizer, &kmeans, probe)?;
        // A probe cluster left empty by the final k-means assignment cannot be sampled: move
        // its mass to the rest (renormalise).
        let sizes = sampler.sizes();
        probe_weights
            .iter_mut()
            .zip(&sizes)
            .filter(|(_, n)| **n == 0)
            .for_each(|(w, _)| *w = 0.0);
        let total: f64 = probe_weights.iter().sum();
        if total <= 0.0 {
            return Err(Error::InvalidInput(
                "the probe set falls only in empty auxiliary clusters".into(),
            ));
        }
        probe_weights.iter_mut().for_each(|w| *w /= total);
        Ok(Self {
            featurizer,
            kmeans,
            sampler,
            aux_weights,
            probe_weights,
        })
    }

    /// `P(c | aux)`: each cluster's share of the auxiliary documents.
    pub fn aux_weights(&self) -> &[f64] {
        &self.aux_weights
    }

    /// `P(c | probe)`: the sampling distribution over clusters.
    pub fn probe_weights(&self) -> &[f64] {
        &self.probe_weights
    }

    /// Importance weights `w(c) = P(c | probe) / P(c | aux)` (0 for empty clusters).
    pub fn importance_weights(&self) -> Vec<f64> {
        self.probe_weights
            .iter()
            .zip(&self.aux_weights)
            .map(|(p, a)| if *a > 0.0 { p / a } else { 0.0 })
            .collect()
    }

    /// Cluster of a document (nearest centroid of its features).
    pub fn cluster_of(&self, doc: &[u32]) -> Result<usize> {
        Ok(self.kmeans.assign(&self.featurizer.features(&[doc])?)?[0])
    }

    /// `n` auxiliary documents drawn cluster-first by the probe histogram.
    pub fn sample<'a>(&'a self, n: usize, rng: &mut impl Rng) -> Result<Vec<&'a [u32]>> {
        Ok(self.sampler.sample(&self.probe_weights, n, rng)?.0)
    }
}
