//! Frame distances and dynamic time warping.
//!
//! * cosine `d = 1 − ⟨â, b̂⟩`, angular `d = arccos(clamp(⟨â, b̂⟩, −1, 1)) / π` on L2-normalised
//!   frames (a zero frame sits at maximal distance from every non-zero frame and at 0 from
//!   another zero frame, the fastabx null-vector convention);
//! * euclidean `d = ‖a − b‖₂`;
//! * symmetric KL `d = ½ (KL(p‖q) + KL(q‖p))` on frames read as probability vectors
//!   (non-negative, renormalised to sum 1, entries floored at 1e-12 inside the logarithm);
//! * DTW with steps (i−1, j), (i−1, j−1), (i, j−1), cost normalised by the length of the
//!   backtracked path, as in Libri-Light / ZeroSpeech 2021 and torchdtw.

use ember_core::{Error, Result};

/// Distance between two frames (or two pooled vectors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Distance {
    /// `1 − cos(a, b)`.
    Cosine,
    /// `arccos(cos(a, b)) / π` (fastabx's default); same ordering as cosine.
    Angular,
    /// `‖a − b‖₂`.
    Euclidean,
    /// `½ (KL(p‖q) + KL(q‖p))` for probability-like frames.
    SymmetricKl,
}

const KL_FLOOR: f64 = 1e-12;

impl Distance {
    /// Name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Distance::Cosine => "cosine",
            Distance::Angular => "angular",
            Distance::Euclidean => "euclidean",
            Distance::SymmetricKl => "symmetric-kl",
        }
    }

    /// Rewrites frames of width `dim` in place into the form [`Distance::frame_prepared`]
    /// expects: unit rows for cosine/angular (zero rows stay zero), rows summing to 1 for
    /// symmetric KL (negative entries or an all-zero row are errors), unchanged for
    /// euclidean. Non-finite values are errors.
    pub fn prepare(self, frames: &mut [f32], dim: usize) -> Result<()> {
        if dim == 0 || !frames.len().is_multiple_of(dim) {
            return Err(Error::Shape(format!(
                "{} values is not a whole number of frames of width {dim}",
                frames.len()
            )));
        }
        if let Some(i) = frames.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite(format!(
                "frame {} has a non-finite value",
                i / dim
            )));
        }
        match self {
            Distance::Euclidean => {}
            Distance::Cosine | Distance::Angular => {
                for row in frames.chunks_exact_mut(dim) {
                    let norm = row
                        .iter()
                        .map(|&v| (v as f64) * (v as f64))
                        .sum::<f64>()
                        .sqrt();
                    if norm > 0.0 {
                        row.iter_mut().for_each(|v| *v = (*v as f64 / norm) as f32);
                    }
                }
            }
            Distance::SymmetricKl => {
                for (r, row) in frames.chunks_exact_mut(dim).enumerate() {
                    if row.iter().any(|&v| v < 0.0) {
                        return Err(Error::InvalidInput(format!(
                            "symmetric KL needs non-negative frames; frame {r} has a negative entry"
                        )));
                    }
                    let s: f64 = row.iter().map(|&v| v as f64).sum();
                    if s <= 0.0 {
                        return Err(Error::InvalidInput(format!(
                            "symmetric KL needs frames with positive mass; frame {r} sums to 0"
                        )));
                    }
                    row.iter_mut().for_each(|v| *v = (*v as f64 / s) as f32);
                }
            }
        }
        Ok(())
    }

    /// Distance between two frames already passed through [`Distance::prepare`].
    #[inline]
    pub fn frame_prepared(self, a: &[f32], b: &[f32]) -> f64 {
        match self {
            Distance::Cosine | Distance::Angular => {
                let mut dot = 0.0f64;
                let (mut na, mut nb) = (false, false);
                for (&x, &y) in a.iter().zip(b) {
                    dot += x as f64 * y as f64;
                    na |= x != 0.0;
                    nb |= y != 0.0;
                }
                if !na || !nb {
                    // null-vector convention: maximal distance unless both are null
                    let max = if self == Distance::Cosine { 2.0 } else { 1.0 };
                    return if na == nb { 0.0 } else { max };
                }
                let c = dot.clamp(-1.0, 1.0);
                if self == Distance::Cosine {
                    1.0 - c
                } else {
                    c.acos() / std::f64::consts::PI
                }
            }
            Distance::Euclidean => a
                .iter()
                .zip(b)
                .map(|(&x, &y)| {
                    let d = x as f64 - y as f64;
                    d * d
                })
                .sum::<f64>()
                .sqrt(),
            Distance::SymmetricKl => {
                let mut s = 0.0;
                for (&p, &q) in a.iter().zip(b) {
                    let (p, q) = ((p as f64).max(KL_FLOOR), (q as f64).max(KL_FLOOR));
                    s += (p - q) * (p.ln() - q.ln());
                }
                0.5 * s
            }
        }
    }

    /// Distance between two raw frames (prepared on the fly; for one-off use and tests).
    pub fn frame(self, a: &[f32], b: &[f32]) -> Result<f64> {
        if a.len() != b.len() || a.is_empty() {
            return Err(Error::Shape(format!(
                "frames of width {} and {}",
                a.len(),
                b.len()
            )));
        }
        let (mut a, mut b) = (a.to_vec(), b.to_vec());
        let dim = a.len();
        self.prepare(&mut a, dim)?;
        self.prepare(&mut b, dim)?;
        Ok(self.frame_prepared(&a, &b))
    }

    /// Distance between two prepared items of `na` and `nb` frames of width `dim`: the frame
    /// distance when both have one frame, else [`dtw_normalized`] over the frame distances.
    pub fn item_prepared(self, a: &[f32], b: &[f32], dim: usize, scratch: &mut Vec<f64>) -> f64 {
        let (na, nb) = (a.len() / dim, b.len() / dim);
        if na == 1 && nb == 1 {
            return self.frame_prepared(a, b);
        }
        scratch.clear();
        scratch.reserve(na * nb);
        for fa in a.chunks_exact(dim) {
            for fb in b.chunks_exact(dim) {
                scratch.push(self.frame_prepared(fa, fb));
            }
        }
        dtw_normalized_unchecked(scratch, na, nb)
    }
}

/// DTW cost of the frame-distance matrix `dist` (`n × m`, row-major) divided by the length
/// of the backtracked optimal path (Libri-Light `dtw.pyx`, torchdtw):
///
/// `C[i,j] = d[i,j] + min(C[i−1,j], C[i−1,j−1], C[i,j−1])`, result `C[n−1,m−1] / |path|`.
pub fn dtw_normalized(dist: &[f64], n: usize, m: usize) -> Result<f64> {
    if n == 0 || m == 0 || dist.len() != n * m {
        return Err(Error::Shape(format!(
            "DTW needs an n×m matrix with n, m ≥ 1; got {} values for {n}×{m}",
            dist.len()
        )));
    }
    if dist.iter().any(|v| !v.is_finite()) {
        return Err(Error::NonFinite("DTW distance matrix".into()));
    }
    Ok(dtw_normalized_unchecked(dist, n, m))
}

fn dtw_normalized_unchecked(dist: &[f64], n: usize, m: usize) -> f64 {
    let mut c = vec![0.0f64; n * m];
    c[0] = dist[0];
    for i in 1..n {
        c[i * m] = dist[i * m] + c[(i - 1) * m];
    }
    for j in 1..m {
        c[j] = dist[j] + c[j - 1];
    }
    for i in 1..n {
        for j in 1..m {
            let up = c[(i - 1) * m + j];
            let diag = c[(i - 1) * m + j - 1];
            let left = c[i * m + j - 1];
            c[i * m + j] = dist[i * m + j] + up.min(diag).min(left);
        }
    }
    // Backtrack: prefer the diagonal, then up, then left on ties (torchdtw's order).
    let (mut i, mut j) = (n - 1, m - 1);
    let mut len = 1usize;
    while i > 0 && j > 0 {
        let up = c[(i - 1) * m + j];
        let diag = c[(i - 1) * m + j - 1];
        let left = c[i * m + j - 1];
        if diag <= up && diag <= left {
            i -= 1;
            j -= 1;
        } else if up <= left {
            i -= 1;
        } else {
            j -= 1;
        }
        len += 1;
    }
    len += i + j;
    c[n * m - 1] / len as f64
}
