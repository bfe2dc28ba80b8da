//! Mixing a scarce target corpus with an auxiliary corpus at a fixed ratio, with repetition
//! accounting (spec §5.2 "Data constraint", §6.2 hot path 1).
//!
//! [`MixSampler`] draws training windows from several sources. The source of each draw
//! follows *smooth weighted round-robin*: every draw adds each source's weight to its credit,
//! the source with the most credit is drawn and pays 1. After `k` draws each source has
//! been drawn `k·wᵢ` times up to less than one draw per source, so a 5% target ratio is
//! exactly 5% at every batch boundary, not 5% in expectation. Within a source, windows are
//! read in a fresh random permutation per *epoch* (pass over the source), so the number of
//! passes ([`MixSampler::epochs`]) is the repetition the paper controls with its ratio
//! (≈ 20 passes over the German data). The whole stream is a pure function of (sources,
//! seed, number of draws): [`MixSampler::skip`] fast-forwards it when a run resumes.

use ember_core::seed::Seed;
use ember_core::{Error, Result};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

/// One source of a [`MixSampler`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MixSource {
    /// Name shown in reports (`"aux"`, `"target"`).
    pub name: String,
    /// Number of windows it holds.
    pub len: usize,
    /// Relative weight (normalised over sources); 0 means never drawn.
    pub weight: f64,
}

impl MixSource {
    /// A source of `len` windows drawn with relative weight `weight`.
    pub fn new(name: impl Into<String>, len: usize, weight: f64) -> Self {
        Self {
            name: name.into(),
            len,
            weight,
        }
    }
}

/// How much of one source a sampler has used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceUsage {
    /// Source name.
    pub name: String,
    /// Windows it holds.
    pub windows: usize,
    /// Windows drawn from it so far.
    pub draws: u64,
    /// Its share of all draws.
    pub share: f64,
    /// Passes over it: `draws / windows`.
    pub epochs: f64,
}

/// Fixed-ratio, repetition-counting window sampler. See the module docs.
#[derive(Debug, Clone)]
pub struct MixSampler {
    sources: Vec<MixSource>,
    weights: Vec<f64>,
    credit: Vec<f64>,
    draws: Vec<u64>,
    total: u64,
    seed: u64,
    /// Per source: the epoch whose permutation is cached, and the permutation.
    perms: Vec<(u64, Vec<usize>)>,
}

impl MixSampler {
    /// A sampler over `sources`.
    ///
    /// Errors: no sources; a negative or non-finite weight; all weights zero; a source with
    /// positive weight and no windows.
    pub fn new(sources: Vec<MixSource>, seed: u64) -> Result<Self> {
        if sources.is_empty() {
            return Err(Error::InvalidInput("MixSampler: no sources".into()));
        }
        for s in &sources {
            if !s.weight.is_finite() || s.weight < 0.0 {
                return Err(Error::InvalidInput(format!(
                    "MixSampler: source `{}` has weight {}; weights must be finite and >= 0",
                    s.name, s.weight
                )));
            }
            if s.weight > 0.0 && s.len == 0 {
                return Err(Error::InvalidInput(format!(
                    "MixSampler: source `{}` has weight {} but no windows",
                    s.name, s.weight
                )));
            }
        }
        let sum: f64 = sources.iter().map(|s| s.weight).sum();
        if sum <= 0.0 {
            return Err(Error::InvalidInput(
                "MixSampler: all source weights are zero".into(),
            ));
        }
        let weights = sources.iter().map(|s| s.weight / sum).collect();
        let n = sources.len();
        Ok(Self {
            sources,
            weights,
            credit: vec![0.0; n],
            draws: vec![0; n],
            total: 0,
            seed,
            perms: vec![(u64::MAX, Vec::new()); n],
        })
    }

    /// Two sources, `aux` (index 0) and `target` (index 1), with the target drawn for a
    /// fraction `target_ratio` of windows (e.g. 0.05). `target_ratio = 1` is target-only,
    /// `0` auxiliary-only.
    ///
    /// Errors: `target_ratio` outside `[0, 1]`, or as [`MixSampler::new`].
    pub fn with_target_ratio(
        aux_windows: usize,
        target_windows: usize,
        target_ratio: f64,
        seed: u64,
    ) -> Result<Self> {
        if !(0.0..=1.0).contains(&target_ratio) {
            return Err(Error::InvalidInput(format!(
                "MixSampler: target ratio must be in [0, 1], got {target_ratio}"
            )));
        }
        Self::new(
            vec![
                MixSource::new("aux", aux_windows, 1.0 - target_ratio),
                MixSource::new("target", target_windows, target_ratio),
            ],
            seed,
        )
    }

    /// The next draw: (source index, window index within the source).
    pub fn next_draw(&mut self) -> (usize, usize) {
        let mut best = 0;
        for (i, w) in self.weights.iter().enumerate() {
            self.credit[i] += w;
            if self.credit[i] > self.credit[best] {
                best = i;
            }
        }
        self.credit[best] -= 1.0;
        let n = self.draws[best];
        self.draws[best] += 1;
        self.total += 1;
        let len = self.sources[best].len;
        let epoch = n / len as u64;
        let pos = (n % len as u64) as usize;
        if self.perms[best].0 != epoch {
            let mut rng = Seed::new(self.seed)
                .derive("epoch-permutation")
                .index(best as u64)
                .index(epoch)
                .rng();
            let mut perm: Vec<usize> = (0..len).collect();
            perm.shuffle(&mut rng);
            self.perms[best] = (epoch, perm);
        }
        (best, self.perms[best].1[pos])
    }

    /// `n` draws.
    pub fn batch(&mut self, n: usize) -> Vec<(usize, usize)> {
        (0..n).map(|_| self.next_draw()).collect()
    }

    /// Advance by `n` draws without returning them (to resume a run at a step).
    pub fn skip(&mut self, n: u64) {
        for _ in 0..n {
            self.next_draw();
        }
    }

    /// Draws made so far.
    pub fn total_draws(&self) -> u64 {
        self.total
    }

    /// Draws per source.
    pub fn draws(&self) -> &[u64] {
        &self.draws
    }

    /// Passes over each source (`draws / windows`; 0 for an empty source).
    pub fn epochs(&self) -> Vec<f64> {
        self.sources
            .iter()
            .zip(&self.draws)
            .map(|(s, &d)| {
                if s.len == 0 {
                    0.0
                } else {
                    d as f64 / s.len as f64
                }
            })
            .collect()
    }

    /// Usage of every source so far.
    pub fn usage(&self) -> Vec<SourceUsage> {
        let epochs = self.epochs();
        self.sources
            .iter()
            .zip(&self.draws)
            .zip(epochs)
            .map(|((s, &d), e)| SourceUsage {
                name: s.name.clone(),
                windows: s.len,
                draws: d,
                share: d as f64 / self.total.max(1) as f64,
                epochs: e,
            })
            .collect()
    }
}
