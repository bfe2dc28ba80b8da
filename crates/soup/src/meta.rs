//! The meta-distribution `π` over domain weights that Soup-of-Experts training samples from
//! (spec §1.5; the paper's exact `π` is not known, so every part is a knob).
//!
//! A draw is, with probability `p_dense`, dense: `h ~ Dirichlet(β_dense · k · h_base)` (the
//! RegMix-style prior centred on the natural mixture); otherwise sparse: a support of `s`
//! domains drawn uniformly without replacement (`s` uniform over `support_sizes`), then
//! `h|support ~ Dirichlet(β · 1_s)`. `β = 1` is uniform on the sub-simplex.
//!
//! Optionally ([`MetaDistribution::with_empirical`]), with probability `p_empirical` a draw is
//! one of a bank of *specialist-like* histograms supplied by the caller, e.g. Algorithm 3
//! applied to coherent samples of the pretraining corpus: spec §1.5's component that puts
//! mass near the noisy, fairly dense `h_spe` seen at test time.

use ember_core::{Error, Result};
use rand::seq::index::sample;
use rand::{Rng, RngExt};
use rand_distr::{Distribution, Gamma};

/// Errors unless `h` is finite, non-negative and sums to 1 within 1e-4.
pub fn check_simplex(h: &[f64], what: &str) -> Result<()> {
    if h.is_empty() {
        return Err(Error::InvalidInput(format!("{what}: empty")));
    }
    if let Some(v) = h.iter().find(|v| !v.is_finite()) {
        return Err(Error::NonFinite(format!("{what}: contains {v}")));
    }
    if let Some(v) = h.iter().find(|v| **v < 0.0) {
        return Err(Error::InvalidInput(format!("{what}: negative entry {v}")));
    }
    let s: f64 = h.iter().sum();
    if (s - 1.0).abs() > 1e-4 {
        return Err(Error::InvalidInput(format!(
            "{what}: entries sum to {s}, not 1 (normalise the histogram first)"
        )));
    }
    Ok(())
}

/// The meta-distribution `π`. See the module docs.
#[derive(Debug, Clone, PartialEq)]
pub struct MetaDistribution {
    k: usize,
    support_sizes: Vec<usize>,
    beta: f64,
    p_dense: f64,
    beta_dense: f64,
    base: Vec<f64>,
    p_empirical: f64,
    empirical: Vec<Vec<f64>>,
}

fn dirichlet(alphas: &[f64], rng: &mut impl Rng) -> Vec<f64> {
    loop {
        let g: Vec<f64> = alphas
            .iter()
            .map(|&a| {
                if a > 0.0 {
                    Gamma::new(a, 1.0).map(|d| d.sample(rng)).unwrap_or(0.0)
                } else {
                    0.0
                }
            })
            .collect();
        let s: f64 = g.iter().sum();
        // Tiny shapes can underflow every draw to zero: draw again.
        if s > 0.0 && s.is_finite() {
            return g.into_iter().map(|v| v / s).collect();
        }
    }
}

impl MetaDistribution {
    /// Sparse draws only: support sizes (each in `1..=k`) and the Dirichlet concentration
    /// `β > 0` on the support.
    pub fn sparse(k: usize, support_sizes: &[usize], beta: f64) -> Result<Self> {
        if k == 0 {
            return Err(Error::InvalidInput("meta-distribution: k = 0".into()));
        }
        if support_sizes.is_empty() || support_sizes.iter().any(|&s| s == 0 || s > k) {
            return Err(Error::InvalidInput(format!(
                "meta-distribution: support sizes {support_sizes:?} must be in 1..={k}"
            )));
        }
        if !(beta > 0.0 && beta.is_finite()) {
            return Err(Error::InvalidInput(format!(
                "meta-distribution: β must be positive, got {beta}"
            )));
        }
        Ok(Self {
            k,
            support_sizes: support_sizes.to_vec(),
            beta,
            p_dense: 0.0,
            beta_dense: 1.0,
            base: vec![1.0 / k as f64; k],
            p_empirical: 0.0,
            empirical: Vec::new(),
        })
    }

    /// Add the dense component: with probability `p`, `h ~ Dirichlet(β_dense · k · base)`.
    pub fn with_dense(mut self, p: f64, beta_dense: f64, base: &[f64]) -> Result<Self> {
        if !(0.0..=1.0).contains(&p) {
            return Err(Error::InvalidInput(format!(
                "meta-distribution: p_dense must be in [0, 1], got {p}"
            )));
        }
        if !(beta_dense > 0.0 && beta_dense.is_finite()) {
            return Err(Error::InvalidInput(format!(
                "meta-distribution: β_dense must be positive, got {beta_dense}"
            )));
        }
        if base.len() != self.k {
            return Err(Error::Shape(format!(
                "meta-distribution: base has {} entries, k = {}",
                base.len(),
                self.k
            )));
        }
        check_simplex(base, "meta-distribution base mixture")?;
        self.p_dense = p;
        self.beta_dense = beta_dense;
        self.base = base.to_vec();
        Ok(self)
    }

    /// Add the empirical component: with probability `p` (checked after the dense
    /// component), `h` is a uniformly chosen member of `bank`.
    ///
    /// Errors: `p` outside `[0, 1]`, an empty bank with `p > 0`, or a member of the wrong
    /// length or not on the simplex.
    pub fn with_empirical(mut self, p: f64, bank: Vec<Vec<f64>>) -> Result<Self> {
        if !(0.0..=1.0).contains(&p) {
            return Err(Error::InvalidInput(format!(
                "meta-distribution: p_empirical must be in [0, 1], got {p}"
            )));
        }
        if p > 0.0 && bank.is_empty() {
            return Err(Error::InvalidInput(
                "meta-distribution: empirical component with an empty bank".into(),
            ));
        }
        for (i, h) in bank.iter().enumerate() {
            if h.len() != self.k {
                return Err(Error::Shape(format!(
                    "meta-distribution: bank member {i} has {} entries, k = {}",
                    h.len(),
                    self.k
                )));
            }
            check_simplex(h, "meta-distribution bank member")?;
        }
        self.p_empirical = p;
        self.empirical = bank;
        Ok(self)
    }

    /// The largest sparse support size.
    pub fn max_support(&self) -> usize {
        self.support_sizes.iter().copied().max().unwrap_or(0)
    }

    /// Number of domains.
    pub fn k(&self) -> usize {
        self.k
    }

    /// One draw `h ∈ Δ_k`.
    pub fn sample(&self, rng: &mut impl Rng) -> Vec<f64> {
        if self.p_dense > 0.0 && rng.random::<f64>() < self.p_dense {
            let alphas: Vec<f64> = self
                .base
                .iter()
                .map(|&b| self.beta_dense * self.k as f64 * b)
                .collect();
            return dirichlet(&alphas, rng);
        }
        if self.p_empirical > 0.0 && rng.random::<f64>() < self.p_empirical {
            return self.empirical[rng.random_range(0..self.empirical.len())].clone();
        }
        let s = self.support_sizes[rng.random_range(0..self.support_sizes.len())];
        let support = sample(rng, self.k, s);
        let w = dirichlet(&vec![self.beta; s], rng);
        let mut h = vec![0.0; self.k];
        for (i, d) in support.iter().enumerate() {
            h[d] = w[i];
        }
        h
    }
}
