//! Lloyd's k-means and nearest-centroid histograms, shared by the crates that cluster
//! features: HuBERT-style pseudo-labels (spkver), data domains and specialist domain weights
//! (soup, "Algorithm 3": `h_spe[c] = #{x ∈ D_spe : argmin_k ‖x − c_k‖² = c} / |D_spe|`).
//!
//! Lloyd iteration: `c_j ← mean{x : argmin_k ‖x − c_k‖² = j}`; an empty cluster keeps its
//! centroid (scikit-learn relocates it instead; the fixture test avoids empty clusters).
//! Ties go to the lowest centroid index, as in scikit-learn.

use crate::error::{Error, Result};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// How [`KMeans::fit`] picks its initial centroids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KMeansInit {
    /// `k` distinct random points.
    Random,
    /// k-means++ (Arthur & Vassilvitskii): each next centroid drawn with probability
    /// proportional to the squared distance to the nearest centroid chosen so far.
    #[default]
    PlusPlus,
}

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

fn check_rows(data: &[f32], dim: usize, what: &str) -> Result<usize> {
    if dim == 0 || !data.len().is_multiple_of(dim) {
        return Err(Error::Shape(format!(
            "{what}: {} values is not a whole number of {dim}-d rows",
            data.len()
        )));
    }
    if data.iter().any(|v| !v.is_finite()) {
        return Err(Error::NonFinite(format!("{what}: non-finite input")));
    }
    Ok(data.len() / dim)
}

fn sq_dist(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

impl KMeans {
    /// Fit on `data` (`n × dim` row-major) for `iters` Lloyd iterations from a seeded
    /// initialisation.
    ///
    /// Errors: `dim == 0` or `k == 0`, a length not divisible by `dim`, fewer than `k`
    /// points, or a non-finite value.
    pub fn fit(
        data: &[f32],
        dim: usize,
        k: usize,
        iters: usize,
        init: KMeansInit,
        seed: u64,
    ) -> Result<Self> {
        let n = check_rows(data, dim, "kmeans")?;
        if k == 0 || n < k {
            return Err(Error::InvalidInput(format!(
                "kmeans: {n} points, k = {k}; need 1 <= k <= points"
            )));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let picks = match init {
            KMeansInit::Random => {
                let mut picks: Vec<usize> = Vec::with_capacity(k);
                while picks.len() < k {
                    let i = rng.random_range(0..n);
                    if !picks.contains(&i) {
                        picks.push(i);
                    }
                }
                picks
            }
            KMeansInit::PlusPlus => {
                let row = |i: usize| &data[i * dim..(i + 1) * dim];
                let mut picks = vec![rng.random_range(0..n)];
                let mut d2: Vec<f64> = (0..n)
                    .map(|i| sq_dist(row(i), row(picks[0])) as f64)
                    .collect();
                while picks.len() < k {
                    let total: f64 = d2.iter().sum();
                    let next = if total <= 0.0 {
                        // Fewer distinct points than k: take any point not yet picked.
                        (0..n).find(|i| !picks.contains(i)).unwrap_or(0)
                    } else {
                        let mut u = rng.random::<f64>() * total;
                        let mut chosen = n - 1;
                        for (i, &w) in d2.iter().enumerate() {
                            if u < w {
                                chosen = i;
                                break;
                            }
                            u -= w;
                        }
                        chosen
                    };
                    picks.push(next);
                    for (i, d) in d2.iter_mut().enumerate() {
                        *d = d.min(sq_dist(row(i), row(next)) as f64);
                    }
                }
                picks
            }
        };
        let centroids = picks
            .iter()
            .flat_map(|&i| data[i * dim..(i + 1) * dim].iter().copied())
            .collect();
        Self::fit_from(data, dim, centroids, iters)
    }

    /// Lloyd iterations from given initial centroids (`k × dim` row-major).
    pub fn fit_from(data: &[f32], dim: usize, init: Vec<f32>, iters: usize) -> Result<Self> {
        check_rows(data, dim, "kmeans")?;
        let k = check_rows(&init, dim, "kmeans initial centroids")?;
        if k == 0 {
            return Err(Error::InvalidInput("kmeans: no initial centroids".into()));
        }
        let mut km = KMeans {
            centroids: init,
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
            let before = km.centroids.clone();
            for c in 0..k {
                if counts[c] > 0 {
                    for d in 0..dim {
                        km.centroids[c * dim + d] = (sums[c * dim + d] / counts[c] as f64) as f32;
                    }
                }
            }
            if before == km.centroids {
                break;
            }
        }
        Ok(km)
    }

    /// Nearest centroid of each row of `data`.
    pub fn assign(&self, data: &[f32]) -> Result<Vec<usize>> {
        check_rows(data, self.dim, "kmeans assign")?;
        Ok(data
            .par_chunks(self.dim)
            .map(|x| {
                let mut best = (f32::INFINITY, 0);
                for c in 0..self.k {
                    let d = sq_dist(x, &self.centroids[c * self.dim..(c + 1) * self.dim]);
                    if d < best.0 {
                        best = (d, c);
                    }
                }
                best.1
            })
            .collect())
    }

    /// Sum of squared distances of each row to its nearest centroid (scikit-learn's
    /// `inertia_`).
    pub fn inertia(&self, data: &[f32]) -> Result<f64> {
        let assign = self.assign(data)?;
        Ok(assign
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                sq_dist(
                    &data[i * self.dim..(i + 1) * self.dim],
                    &self.centroids[c * self.dim..(c + 1) * self.dim],
                ) as f64
            })
            .sum())
    }

    /// Normalised histogram of nearest centroids over the rows of `data` (length `k`, sums
    /// to 1): the domain weights of a sample.
    ///
    /// Errors: no rows, or a shape/NaN problem as in [`KMeans::assign`].
    pub fn histogram(&self, data: &[f32]) -> Result<Vec<f64>> {
        let assign = self.assign(data)?;
        if assign.is_empty() {
            return Err(Error::InvalidInput("kmeans histogram: no rows".into()));
        }
        let mut h = vec![0.0; self.k];
        for c in &assign {
            h[*c] += 1.0;
        }
        let n = assign.len() as f64;
        h.iter_mut().for_each(|v| *v /= n);
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blobs() -> (Vec<f32>, Vec<usize>) {
        let centres = [[0.0f32, 0.0], [10.0, 0.0], [0.0, 10.0]];
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut data = Vec::new();
        let mut labels = Vec::new();
        for i in 0..90 {
            let c = i % 3;
            data.push(centres[c][0] + rng.random::<f32>() - 0.5);
            data.push(centres[c][1] + rng.random::<f32>() - 0.5);
            labels.push(c);
        }
        (data, labels)
    }

    #[test]
    fn separates_blobs_and_is_seed_reproducible() {
        let (data, labels) = blobs();
        for init in [KMeansInit::Random, KMeansInit::PlusPlus] {
            let a = KMeans::fit(&data, 2, 3, 20, init, 7).unwrap();
            let b = KMeans::fit(&data, 2, 3, 20, init, 7).unwrap();
            assert_eq!(a, b);
            let assign = a.assign(&data).unwrap();
            // Same partition as the labels, up to renaming.
            for i in 0..labels.len() {
                for j in 0..labels.len() {
                    assert_eq!(labels[i] == labels[j], assign[i] == assign[j]);
                }
            }
        }
    }

    #[test]
    fn histogram_recovers_planted_weights() {
        let (data, labels) = blobs();
        let km = KMeans::fit(&data, 2, 3, 20, KMeansInit::PlusPlus, 3).unwrap();
        // Sample: 2/3 from blob 0, 1/3 from blob 2.
        let mut sample = Vec::new();
        let (mut n0, mut n2) = (0, 0);
        for (i, &l) in labels.iter().enumerate() {
            if (l == 0 && n0 < 20) || (l == 2 && n2 < 10) {
                sample.extend_from_slice(&data[i * 2..i * 2 + 2]);
                if l == 0 { n0 += 1 } else { n2 += 1 }
            }
        }
        let h = km.histogram(&sample).unwrap();
        let c0 = km.assign(&data[0..2]).unwrap()[0];
        let c2 = km.assign(&data[4..6]).unwrap()[0];
        assert!((h[c0] - 2.0 / 3.0).abs() < 1e-12 && (h[c2] - 1.0 / 3.0).abs() < 1e-12);
        assert!((h.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(KMeans::fit(&[1.0, 2.0, 3.0], 2, 1, 5, KMeansInit::Random, 0).is_err());
        assert!(KMeans::fit(&[1.0, 2.0], 2, 2, 5, KMeansInit::Random, 0).is_err());
        assert!(KMeans::fit(&[f32::NAN, 2.0], 2, 1, 5, KMeansInit::Random, 0).is_err());
        let km = KMeans::fit(&[0.0, 0.0, 1.0, 1.0], 2, 2, 5, KMeansInit::Random, 0).unwrap();
        assert!(km.histogram(&[]).is_err());
        assert!(km.assign(&[1.0]).is_err());
    }
}
