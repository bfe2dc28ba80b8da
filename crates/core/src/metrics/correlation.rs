//! Pearson and Spearman correlation (e.g. model similarity vs human judgements), and average
//! ranks.

use super::{check_finite_f64, check_same_len};
use crate::error::{Error, Result, ensure};

fn check_pair(m: &str, x: &[f64], y: &[f64]) -> Result<()> {
    check_same_len(&format!("{m}: x vs y"), x.len(), y.len())?;
    ensure!(x.len() >= 2, "{m}: need at least 2 pairs, got {}", x.len());
    check_finite_f64(&format!("{m}: x"), x)?;
    check_finite_f64(&format!("{m}: y"), y)?;
    ensure!(
        x.iter().any(|&v| v != x[0]),
        "{m}: x is constant, correlation is undefined"
    );
    ensure!(
        y.iter().any(|&v| v != y[0]),
        "{m}: y is constant, correlation is undefined"
    );
    Ok(())
}

/// Pearson's r, like `scipy.stats.pearsonr(x, y).statistic`: centred (two-pass) sums in `f64`
/// of the deviations scaled by their maximum (so no overflow), clipped to `[-1, 1]`.
///
/// Errors: length mismatch, fewer than 2 pairs, NaN/inf, a constant input (SciPy warns and
/// returns NaN), or values so large that their sum overflows `f64`.
pub fn pearson(x: &[f64], y: &[f64]) -> Result<f64> {
    check_pair("pearson", x, y)?;
    pearson_unchecked(x, y)
}

fn pearson_unchecked(x: &[f64], y: &[f64]) -> Result<f64> {
    let (dx, dy) = (scaled_deviations(x)?, scaled_deviations(y)?);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (&a, &b) in dx.iter().zip(&dy) {
        sxy += a * b;
        sxx += a * a;
        syy += b * b;
    }
    Ok((sxy / (sxx.sqrt() * syy.sqrt())).clamp(-1.0, 1.0))
}

/// `(x - mean) / max|x - mean|`: in `[-1, 1]`, so the sums of squares cannot overflow even for
/// values near `f64::MAX` (r is scale-invariant). `Err` if the mean or a deviation overflows.
/// Needs a non-constant `x`.
fn scaled_deviations(x: &[f64]) -> Result<Vec<f64>> {
    let mean = x.iter().sum::<f64>() / x.len() as f64;
    let scale = x.iter().fold(0.0f64, |m, &v| m.max((v - mean).abs()));
    if !(mean.is_finite() && scale.is_finite()) {
        return Err(Error::NonFinite(format!(
            "correlation: values too large, the mean or a deviation overflows f64 (mean {mean})"
        )));
    }
    Ok(x.iter().map(|&v| (v - mean) / scale).collect())
}

/// Spearman's rho, like `scipy.stats.spearmanr(x, y).statistic`: Pearson's r of the average
/// ranks ([`rankdata`]), so ties get the mean of the ranks they span.
///
/// Errors: as [`pearson`] (a constant input has constant ranks).
pub fn spearman(x: &[f64], y: &[f64]) -> Result<f64> {
    check_pair("spearman", x, y)?;
    pearson_unchecked(&rankdata(x), &rankdata(y))
}

/// 1-based ranks with ties averaged, like `scipy.stats.rankdata(x, method="average")`.
///
/// Unlike SciPy (which returns all-NaN when `x` holds a NaN), NaNs are ranked after `+inf`
/// and tied with each other; `-0.0` ties with `0.0`. Never fails; empty in, empty out.
pub fn rankdata(x: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    let key = |v: f64| if v.is_nan() { f64::NAN } else { v + 0.0 };
    idx.sort_unstable_by(|&a, &b| key(x[a]).total_cmp(&key(x[b])));
    let same = |a: f64, b: f64| a == b || (a.is_nan() && b.is_nan());
    let mut ranks = vec![0.0; x.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i + 1;
        while j < idx.len() && same(x[idx[j]], x[idx[i]]) {
            j += 1;
        }
        // Positions i..j (0-based) share ranks i+1..=j, whose mean is (i + 1 + j) / 2.
        let r = (i + 1 + j) as f64 / 2.0;
        for &k in &idx[i..j] {
            ranks[k] = r;
        }
        i = j;
    }
    ranks
}
