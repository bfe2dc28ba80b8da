//! Sampling a batch from `mix(h) = Σ_i h_i D_i` (the paper's Algorithm 1): for each row draw a
//! domain `i ~ Categorical(h)` through an alias table (O(k) to build, O(1) per draw), then a
//! sequence uniformly from `D_i`.
//!
//! Sequences are drawn with replacement from the caller's RNG, so the data stream is a pure
//! function of the RNG state: a run resumed from a checkpoint (which restores the RNG)
//! replays exactly the batches of an uninterrupted run.

use crate::meta::check_simplex;
use ember_core::{Error, Result};
use rand::{Rng, RngExt};

/// Walker/Vose alias table for O(1) categorical draws.
#[derive(Debug, Clone)]
pub struct AliasTable {
    prob: Vec<f64>,
    alias: Vec<usize>,
}

impl AliasTable {
    /// Build from non-negative weights (not necessarily normalised).
    ///
    /// Errors: empty, negative or non-finite weights, or all weights zero.
    pub fn new(weights: &[f64]) -> Result<Self> {
        let n = weights.len();
        if n == 0 {
            return Err(Error::InvalidInput("alias table: no weights".into()));
        }
        if weights.iter().any(|w| !w.is_finite() || *w < 0.0) {
            return Err(Error::InvalidInput(
                "alias table: weights must be finite and non-negative".into(),
            ));
        }
        let total: f64 = weights.iter().sum();
        if total <= 0.0 {
            return Err(Error::InvalidInput(
                "alias table: all weights are zero".into(),
            ));
        }
        let mut scaled: Vec<f64> = weights.iter().map(|w| w * n as f64 / total).collect();
        let mut prob = vec![1.0; n];
        let mut alias: Vec<usize> = (0..n).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) =
            (0..n).partition(|&i| scaled[i] < 1.0);
        while let (Some(s), Some(l)) = (small.pop(), large.last().copied()) {
            prob[s] = scaled[s];
            alias[s] = l;
            scaled[l] -= 1.0 - scaled[s];
            if scaled[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // Leftovers are 1 up to rounding.
        Ok(Self { prob, alias })
    }

    /// Number of categories.
    pub fn len(&self) -> usize {
        self.prob.len()
    }

    /// Always false: a table has at least one category.
    pub fn is_empty(&self) -> bool {
        self.prob.is_empty()
    }

    /// One draw.
    pub fn sample(&self, rng: &mut impl Rng) -> usize {
        let i = rng.random_range(0..self.prob.len());
        if rng.random::<f64>() < self.prob[i] {
            i
        } else {
            self.alias[i]
        }
    }
}

/// Sequences grouped by domain, and batches drawn from mixtures of the domains.
#[derive(Debug, Clone)]
pub struct MixtureSampler {
    domains: Vec<Vec<Vec<u32>>>,
}

impl MixtureSampler {
    /// `domains[i]` holds the sequences (e.g. LM windows) of domain `i`. Empty domains are
    /// allowed but must get zero weight.
    ///
    /// Errors: no domains, or every domain empty.
    pub fn new(domains: Vec<Vec<Vec<u32>>>) -> Result<Self> {
        if domains.is_empty() || domains.iter().all(Vec::is_empty) {
            return Err(Error::InvalidInput("mixture sampler: no sequences".into()));
        }
        Ok(Self { domains })
    }

    /// Number of domains `k`.
    pub fn k(&self) -> usize {
        self.domains.len()
    }

    /// Sequences per domain.
    pub fn sizes(&self) -> Vec<usize> {
        self.domains.iter().map(Vec::len).collect()
    }

    /// The natural mixture: each domain weighted by its share of the sequences.
    pub fn natural_weights(&self) -> Vec<f64> {
        let total: usize = self.domains.iter().map(Vec::len).sum();
        self.domains
            .iter()
            .map(|d| d.len() as f64 / total as f64)
            .collect()
    }

    /// `batch` sequences from `mix(h)`, and the domain each came from.
    ///
    /// Errors: `h` not on the simplex, of the wrong length, or with weight on an empty domain.
    pub fn sample<'a>(
        &'a self,
        h: &[f64],
        batch: usize,
        rng: &mut impl Rng,
    ) -> Result<(Vec<&'a [u32]>, Vec<usize>)> {
        if h.len() != self.k() {
            return Err(Error::Shape(format!(
                "mixture weights have {} entries, sampler has {} domains",
                h.len(),
                self.k()
            )));
        }
        check_simplex(h, "mixture weights")?;
        if let Some(i) = (0..self.k()).find(|&i| h[i] > 0.0 && self.domains[i].is_empty()) {
            return Err(Error::InvalidInput(format!(
                "mixture weights put {} on domain {i}, which has no sequences",
                h[i]
            )));
        }
        let table = AliasTable::new(h)?;
        let mut rows = Vec::with_capacity(batch);
        let mut which = Vec::with_capacity(batch);
        for _ in 0..batch {
            let d = table.sample(rng);
            let seqs = &self.domains[d];
            rows.push(seqs[rng.random_range(0..seqs.len())].as_slice());
            which.push(d);
        }
        Ok((rows, which))
    }
}
