//! A closed-form ridge linear probe (the paper's probing analogue): one-hot targets,
//! `W = (XᵀX + λI)⁻¹ XᵀY` on features with a bias column, prediction `argmax_c (x W)_c`.

use ember_core::{Error, Result};

/// A fitted probe.
#[derive(Debug, Clone)]
pub struct RidgeProbe {
    w: Vec<f64>, // (d + 1) × c
    d: usize,
    c: usize,
}

impl RidgeProbe {
    /// Fits on `x` (`[n, d]` row-major) with labels `y < n_classes`.
    pub fn fit(x: &[f32], d: usize, y: &[usize], n_classes: usize, lambda: f64) -> Result<Self> {
        let n = y.len();
        if n == 0 || d == 0 || x.len() != n * d {
            return Err(Error::Shape(format!(
                "probe: {} values for {n} rows × {d}",
                x.len()
            )));
        }
        if y.iter().any(|&v| v >= n_classes) {
            return Err(Error::InvalidInput("probe: label out of range".into()));
        }
        if x.iter().any(|v| !v.is_finite()) || lambda.is_nan() || lambda < 0.0 {
            return Err(Error::NonFinite("probe features or lambda".into()));
        }
        let p = d + 1;
        let mut a = vec![0.0f64; p * p];
        let mut b = vec![0.0f64; p * n_classes];
        let mut row = vec![0.0f64; p];
        for (i, &yi) in y.iter().enumerate() {
            row[..d]
                .iter_mut()
                .zip(&x[i * d..(i + 1) * d])
                .for_each(|(r, &v)| *r = v as f64);
            row[d] = 1.0;
            for r in 0..p {
                for c in 0..p {
                    a[r * p + c] += row[r] * row[c];
                }
                b[r * n_classes + yi] += row[r];
            }
        }
        for r in 0..d {
            a[r * p + r] += lambda;
        }
        a[d * p + d] += 1e-9;
        let w = solve_spd(&mut a, &mut b, p, n_classes)?;
        Ok(RidgeProbe { w, d, c: n_classes })
    }

    /// Predicted classes for `x` (`[n, d]`).
    pub fn predict(&self, x: &[f32]) -> Vec<usize> {
        x.chunks_exact(self.d)
            .map(|r| {
                let mut best = (f64::NEG_INFINITY, 0);
                for c in 0..self.c {
                    let mut s = self.w[self.d * self.c + c];
                    for (k, &v) in r.iter().enumerate() {
                        s += v as f64 * self.w[k * self.c + c];
                    }
                    if s > best.0 {
                        best = (s, c);
                    }
                }
                best.1
            })
            .collect()
    }

    /// Accuracy on `(x, y)`.
    pub fn accuracy(&self, x: &[f32], y: &[usize]) -> f64 {
        let p = self.predict(x);
        p.iter().zip(y).filter(|(a, b)| a == b).count() as f64 / y.len().max(1) as f64
    }
}

/// Solves `A W = B` for symmetric positive-definite `A` (`p × p`) by Cholesky.
fn solve_spd(a: &mut [f64], b: &mut [f64], p: usize, k: usize) -> Result<Vec<f64>> {
    for j in 0..p {
        let mut s = a[j * p + j];
        for t in 0..j {
            s -= a[j * p + t] * a[j * p + t];
        }
        if s <= 0.0 {
            return Err(Error::InvalidInput(
                "probe: normal matrix is not positive definite (use λ > 0)".into(),
            ));
        }
        let l = s.sqrt();
        a[j * p + j] = l;
        for i in j + 1..p {
            let mut s = a[i * p + j];
            for t in 0..j {
                s -= a[i * p + t] * a[j * p + t];
            }
            a[i * p + j] = s / l;
        }
    }
    for c in 0..k {
        for i in 0..p {
            let mut s = b[i * k + c];
            for t in 0..i {
                s -= a[i * p + t] * b[t * k + c];
            }
            b[i * k + c] = s / a[i * p + i];
        }
        for i in (0..p).rev() {
            let mut s = b[i * k + c];
            for t in i + 1..p {
                s -= a[t * p + i] * b[t * k + c];
            }
            b[i * k + c] = s / a[i * p + i];
        }
    }
    Ok(b.to_vec())
}
