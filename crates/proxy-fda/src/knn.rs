//! The batch kNN graph in the frozen pre-trained feature space (Proxy-FDA §3.1, step 1).
//!
//! `ŝ_ij = cos(x̂_i, x̂_j)`; `R_i` = the `K` largest `ŝ_ij` with `j ≠ i` (ties broken by the
//! lower index). Built on the host from detached features: no gradient flows through it.

use crate::util::{check_finite, tensor2, to_vec};
use burn::prelude::*;
use ember_core::ops::cosine_matrix;
use ember_core::{Error, Result};

/// The kNN graph of one batch: neighbour sets and the pre-trained cosines.
#[derive(Debug, Clone)]
pub struct KnnGraph {
    /// Batch size `B`.
    pub b: usize,
    /// Neighbours per anchor `K`.
    pub k: usize,
    /// Row-major `[B, B]` pre-trained cosines `ŝ_ij`.
    pub sim: Vec<f32>,
    /// `neighbours[i]` = `R_i`, sorted by decreasing `ŝ_ij`.
    pub neighbours: Vec<Vec<usize>>,
}

impl KnnGraph {
    /// Build the graph from pre-trained features `pre: [B, d]` (any device; read detached).
    ///
    /// Errors: `K = 0`, `K > B − 2` (every anchor needs at least one non-neighbour), non-finite
    /// features.
    pub fn build(pre: Tensor<2>, k: usize) -> Result<Self> {
        let [b, _] = pre.dims();
        let sim = cosine_matrix(pre.clone().detach(), pre.detach());
        let sim = to_vec(&sim)?;
        Self::from_sim(sim, b, k)
    }

    /// Build the graph from a row-major `[B, B]` similarity matrix.
    pub fn from_sim(sim: Vec<f32>, b: usize, k: usize) -> Result<Self> {
        if sim.len() != b * b {
            return Err(Error::Shape(format!(
                "similarity matrix has {} values, expected {b}x{b}",
                sim.len()
            )));
        }
        if k == 0 || k + 2 > b {
            return Err(Error::InvalidInput(format!(
                "kNN graph needs 1 <= K <= B - 2 (got K = {k}, B = {b})"
            )));
        }
        check_finite("pre-trained similarities", &sim)?;
        let neighbours = (0..b)
            .map(|i| {
                let row = &sim[i * b..(i + 1) * b];
                let mut idx: Vec<usize> = (0..b).filter(|&j| j != i).collect();
                idx.sort_by(|&x, &y| row[y].total_cmp(&row[x]).then(x.cmp(&y)));
                idx.truncate(k);
                idx
            })
            .collect();
        Ok(Self {
            b,
            k,
            sim,
            neighbours,
        })
    }

    /// Check the invariants `build` establishes, for graphs built or edited by hand (the
    /// fields are public): `B × B` similarities, `1 ≤ K ≤ B − 2`, and `B` neighbour lists of
    /// `K` distinct indices `< B`, none the anchor itself.
    pub fn check(&self) -> Result<()> {
        let (b, k) = (self.b, self.k);
        let bad = |why: String| Err(Error::InvalidInput(format!("corrupt kNN graph: {why}")));
        if self.sim.len() != b * b || self.neighbours.len() != b {
            return bad(format!(
                "{} similarities and {} neighbour lists for B = {b}",
                self.sim.len(),
                self.neighbours.len()
            ));
        }
        if k == 0 || k + 2 > b {
            return bad(format!("K = {k} for B = {b}"));
        }
        let mut seen = vec![usize::MAX; b];
        for (i, r) in self.neighbours.iter().enumerate() {
            if r.len() != k {
                return bad(format!("anchor {i} has {} neighbours, K = {k}", r.len()));
            }
            for &j in r {
                if j >= b || j == i || seen[j] == i {
                    return bad(format!(
                        "anchor {i}: neighbour {j} out of range, self or repeated"
                    ));
                }
                seen[j] = i;
            }
        }
        Ok(())
    }

    /// Row-major `[B, B]` neighbour indicator (1 for `j ∈ R_i`).
    pub fn pos_mask(&self) -> Vec<f32> {
        let mut m = vec![0.0; self.b * self.b];
        for (i, r) in self.neighbours.iter().enumerate() {
            for &j in r {
                m[i * self.b + j] = 1.0;
            }
        }
        m
    }

    /// Row-major `[B, B]` non-neighbour indicator (1 for `j ∉ R_i, j ≠ i`).
    pub fn neg_mask(&self) -> Vec<f32> {
        let pos = self.pos_mask();
        (0..self.b * self.b)
            .map(|ij| {
                let (i, j) = (ij / self.b, ij % self.b);
                if i == j || pos[ij] > 0.0 { 0.0 } else { 1.0 }
            })
            .collect()
    }

    /// The mean over anchors of the `K`-th neighbour's pre-trained cosine (for
    /// [`crate::Bias::Calibrated`]).
    pub fn mean_kth_sim(&self) -> f64 {
        let s: f64 = self
            .neighbours
            .iter()
            .enumerate()
            .map(|(i, r)| self.sim[i * self.b + r[self.k - 1]] as f64)
            .sum();
        s / self.b as f64
    }

    /// `[B, B]` tensors `(pos_mask, neg_mask, sim)` on `device`.
    pub fn tensors(&self, device: &Device) -> (Tensor<2>, Tensor<2>, Tensor<2>) {
        (
            tensor2(self.pos_mask(), self.b, self.b, device),
            tensor2(self.neg_mask(), self.b, self.b, device),
            tensor2(self.sim.clone(), self.b, self.b, device),
        )
    }

    /// Jaccard overlap of the neighbour sets of two graphs over the same batch, averaged over
    /// anchors (a cheap structure-preservation metric).
    pub fn jaccard(&self, other: &KnnGraph) -> Result<f64> {
        if self.b != other.b {
            return Err(Error::Shape(format!(
                "graphs over different batches ({} vs {})",
                self.b, other.b
            )));
        }
        let mut total = 0.0;
        for (a, c) in self.neighbours.iter().zip(&other.neighbours) {
            let inter = a.iter().filter(|x| c.contains(x)).count() as f64;
            let union = (a.len() + c.len()) as f64 - inter;
            total += inter / union.max(1.0);
        }
        Ok(total / self.b as f64)
    }
}
