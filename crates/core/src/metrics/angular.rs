//! Angular error between predicted and true direction vectors (gaze, head pose, normals).

use super::{check_finite_f32, check_same_len};
use crate::error::{Result, ensure};

/// Angle in degrees between each row of `pred` and `target` (row-major `[n, dim]`). Rows are
/// L2-normalised inside, in `f64`. Mathematically this is the usual
/// `degrees(arccos(clip(sum(p̂ * t̂, axis=1), -1, 1)))`, but it is evaluated as
/// `2·atan2(‖p̂ − t̂‖, ‖p̂ + t̂‖)` (Kahan), which is accurate to ~1e-14° everywhere: the clamped
/// `acos` loses up to ~1e-6° near 0° and 180°, where a 1-ulp error in the cosine moves the
/// angle by `sqrt(2·ulp)`. Parallel vectors give exactly 0, antiparallel exactly 180, never NaN.
///
/// Errors: `dim == 0`, empty input, lengths that differ or are not a multiple of `dim`,
/// NaN/inf, or a zero-length vector (its direction is undefined).
pub fn angular_error_deg(pred: &[f32], target: &[f32], dim: usize) -> Result<Vec<f64>> {
    const M: &str = "angular_error_deg";
    ensure!(dim > 0, "{M}: dim is 0");
    check_same_len(
        "angular_error_deg: pred vs target",
        pred.len(),
        target.len(),
    )?;
    ensure!(!pred.is_empty(), "{M}: empty input");
    ensure!(
        pred.len().is_multiple_of(dim),
        "{M}: length {} is not a multiple of dim {dim}",
        pred.len()
    );
    check_finite_f32("angular_error_deg: pred", pred)?;
    check_finite_f32("angular_error_deg: target", target)?;
    pred.chunks_exact(dim)
        .zip(target.chunks_exact(dim))
        .enumerate()
        .map(|(i, (p, t))| {
            let norm = |v: &[f32]| {
                v.iter()
                    .map(|&a| (a as f64) * (a as f64))
                    .sum::<f64>()
                    .sqrt()
            };
            let (np, nt) = (norm(p), norm(t));
            // Norms are finite and >= 0 here, so `!= 0.0` means "> 0".
            ensure!(np != 0.0, "{M}: pred row {i} is the zero vector");
            ensure!(nt != 0.0, "{M}: target row {i} is the zero vector");
            let (mut diff, mut sum) = (0.0f64, 0.0f64);
            for (&a, &b) in p.iter().zip(t) {
                let (a, b) = (a as f64 / np, b as f64 / nt);
                diff += (a - b) * (a - b);
                sum += (a + b) * (a + b);
            }
            Ok((2.0 * diff.sqrt().atan2(sum.sqrt())).to_degrees())
        })
        .collect()
}

/// Mean of [`angular_error_deg`] over rows, with the same errors.
pub fn mean_angular_error_deg(pred: &[f32], target: &[f32], dim: usize) -> Result<f64> {
    let e = angular_error_deg(pred, target, dim)?;
    Ok(e.iter().sum::<f64>() / e.len() as f64)
}
