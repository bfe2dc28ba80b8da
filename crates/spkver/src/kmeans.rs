//! Lloyd's k-means (HuBERT iteration-1 targets): `c_j ← mean{x : argmin_k ‖x − c_k‖² = j}`.

use ember_core::{Error, Result};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// Fitted centroids, `k × dim` row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct KMeans {
    /// Centroids, row-major.
    pub centroids: Vec<f32>,
    /// Number of clusters.
    pub k: usize,
    /// Vector width.
    pub dim: usize,
}

impl KMeans {
    /// Fit on `data` (`n × dim` row-major) with centroids initialised from `k` distinct random
    /// points, for `iters` Lloyd iterations. An empty cluster keeps its centroid.
    ///
    /// Errors: `dim == 0`, a length not divisible by `dim`, fewer than `k` points, or NaN.
    pub fn fit(data: &[f32], dim: usize, k: usize, iters: usize, seed: u64) -> Result<Self> {
        if dim == 0 || k == 0 || !data.len().is_multiple_of(dim) {
            return Err(Error::InvalidInput(format!(
                "kmeans: {} values is not a whole number of {dim}-d rows (k = {k})",
                data.len()
            )));
        }
        let n = data.len() / dim;
        if n < k {
            return Err(Error::InvalidInput(format!("kmeans: {n} points < k = {k}")));
        }
        if data.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite("kmeans: non-finite input".into()));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut picks: Vec<usize> = Vec::with_capacity(k);
        while picks.len() < k {
            let i = rng.random_range(0..n);
            if !picks.contains(&i) {
                picks.push(i);
            }
        }
        let mut km = KMeans {
            centroids: picks
                .iter()
                .flat_map(|&i| data[i * dim..(i + 1) * dim].iter().copied())
                .collect(),
            k,
            dim,
        };
        for _ in 0..iters {
            let assign = km.assign(data)?;
            let mut sums = vec![0f64; k * dim];
            let mut counts = vec![0usize; k];
            for (i, &c) in assign.iter().enumerate() {
                counts[c] += 1;
                for d in 0..dim {
                    sums[c * dim + d] += data[i * dim + d] as f64;
                }
            }
            for c in 0..k {
                if counts[c] > 0 {
                    for d in 0..dim {
                        km.centroids[c * dim + d] = (sums[c * dim + d] / counts[c] as f64) as f32;
                    }
                }
            }
        }
        Ok(km)
    }

    /// Nearest centroid of each row of `data`.
    pub fn assign(&self, data: &[f32]) -> Result<Vec<usize>> {
        if !data.len().is_multiple_of(self.dim) {
            return Err(Error::Shape(format!(
                "kmeans: {} values is not a whole number of {}-d rows",
                data.len(),
                self.dim
            )));
        }
        Ok(data
            .par_chunks(self.dim)
            .map(|x| {
                let mut best = (f32::INFINITY, 0);
                for c in 0..self.k {
                    let cen = &self.centroids[c * self.dim..(c + 1) * self.dim];
                    let d: f32 = x.iter().zip(cen).map(|(a, b)| (a - b) * (a - b)).sum();
                    if d < best.0 {
                        best = (d, c);
                    }
                }
                best.1
            })
            .collect())
    }
}
