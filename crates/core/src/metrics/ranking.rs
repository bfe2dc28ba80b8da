//! Average precision and ROC AUC with exact tie handling, for one score vector or batched over
//! many units (e.g. every neuron's activation over a set of sentences, with one shared label
//! vector "sentence is in language L").
//!
//! Both sweep the distinct thresholds from the highest score down, so tied scores move
//! together, exactly as scikit-learn's `_binary_clf_curve` does. Counts are integers and the
//! accumulation is in `f64`.

use rayon::prelude::*;

use super::check_same_len;
use super::sweep::{ClassCounts, class_counts, fill_sorted_keys, for_each_threshold, sorted_keys};
use crate::error::{Error, Result, ensure};

/// Average precision, exactly `sklearn.metrics.average_precision_score(labels, scores)`:
/// `AP = Σ_k (R_k − R_{k−1}) · P_k` over distinct thresholds `k` in decreasing order (no
/// interpolation), where `P_k`/`R_k` are precision/recall when predicting positive every
/// sample scoring `>=` threshold `k`. Tied scores form one step.
///
/// Errors: empty input, length mismatch, a NaN/inf score, or labels of a single class
/// (scikit-learn returns 0 with a warning for no positives, and a trivial 1 for no negatives;
/// both are almost always a bug in the caller's labels).
pub fn average_precision(scores: &[f32], labels: &[bool]) -> Result<f64> {
    const M: &str = "average_precision";
    check_same_len(
        "average_precision: scores vs labels",
        scores.len(),
        labels.len(),
    )?;
    let counts = class_counts(M, labels)?;
    let keys = sorted_keys(M, scores, labels)?;
    Ok(ap_from_sorted(&keys, counts))
}

/// ROC AUC, exactly `sklearn.metrics.roc_auc_score(labels, scores)`: the trapezoid area under
/// the ROC curve over distinct thresholds, which equals the Mann–Whitney statistic
/// `P(score⁺ > score⁻) + ½·P(score⁺ = score⁻)` (ties count one half). Computed from integer
/// counts, so it is exact up to one final division.
///
/// Errors: empty input, length mismatch, a NaN/inf score, or labels of a single class
/// (scikit-learn raises `ValueError`).
pub fn roc_auc(scores: &[f32], labels: &[bool]) -> Result<f64> {
    const M: &str = "roc_auc";
    check_same_len("roc_auc: scores vs labels", scores.len(), labels.len())?;
    let counts = class_counts(M, labels)?;
    let keys = sorted_keys(M, scores, labels)?;
    Ok(auc_from_sorted(&keys, counts))
}

/// [`average_precision`] for each of `n_units` rows of the row-major `[n_units, n_samples]`
/// matrix `scores`, all against the same `labels` (`n_samples` = `labels.len()`).
/// Units run in parallel (rayon); each thread reuses one sort buffer.
///
/// Errors: as [`average_precision`]; `scores.len() != n_units * labels.len()`; a unit with a
/// NaN/inf score is named in the error (if several are, any one of them).
pub fn average_precision_batch(
    scores: &[f32],
    n_units: usize,
    labels: &[bool],
) -> Result<Vec<f64>> {
    batch(
        "average_precision_batch",
        scores,
        n_units,
        labels,
        ap_from_sorted,
    )
}

/// [`roc_auc`] for each of `n_units` rows of the row-major `[n_units, n_samples]` matrix
/// `scores`, all against the same `labels`. Parallel over units like
/// [`average_precision_batch`], with the same errors.
pub fn roc_auc_batch(scores: &[f32], n_units: usize, labels: &[bool]) -> Result<Vec<f64>> {
    batch("roc_auc_batch", scores, n_units, labels, auc_from_sorted)
}

fn batch(
    metric: &str,
    scores: &[f32],
    n_units: usize,
    labels: &[bool],
    f: fn(&[u64], ClassCounts) -> f64,
) -> Result<Vec<f64>> {
    ensure!(n_units > 0, "{metric}: n_units is 0");
    let counts = class_counts(metric, labels)?;
    let n = labels.len();
    let expected = n_units
        .checked_mul(n)
        .ok_or_else(|| Error::Shape(format!("{metric}: n_units * n_samples overflows")))?;
    if scores.len() != expected {
        return Err(Error::Shape(format!(
            "{metric}: scores has {} values, expected n_units * n_samples = {n_units} * {n} = {expected}",
            scores.len()
        )));
    }
    scores
        .par_chunks_exact(n)
        .enumerate()
        .map_init(
            || Vec::with_capacity(n),
            |keys, (unit, row)| {
                fill_sorted_keys(row, labels, keys, false).map_err(|i| {
                    Error::NonFinite(format!(
                        "{metric}: unit {unit}, sample {i}: score {}",
                        row[i]
                    ))
                })?;
                Ok(f(keys, counts))
            },
        )
        .collect()
}

/// AP from packed keys sorted ascending (see `sweep`).
fn ap_from_sorted(keys: &[u64], counts: ClassCounts) -> f64 {
    let p = counts.pos as f64;
    let (mut tp, mut fp) = (0u64, 0u64);
    let mut ap = 0.0f64;
    for_each_threshold(keys, |_, dpos, dneg| {
        tp += dpos;
        fp += dneg;
        if dpos > 0 {
            ap += (dpos as f64 / p) * (tp as f64 / (tp + fp) as f64);
        }
    });
    ap
}

/// AUROC from packed keys sorted ascending: each negative contributes the positives scored
/// strictly above it plus half of those tied with it. Twice the area is an integer.
fn auc_from_sorted(keys: &[u64], counts: ClassCounts) -> f64 {
    let mut tp = 0u128;
    let mut twice_area = 0u128;
    for_each_threshold(keys, |_, dpos, dneg| {
        twice_area += dneg as u128 * (2 * tp + dpos as u128);
        tp += dpos as u128;
    });
    twice_area as f64 / (2.0 * counts.pos as f64 * counts.neg as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_checked() {
        // sklearn: average_precision_score([0,0,1,1],[0.1,0.4,0.35,0.8]) = 0.8333...
        let s = [0.1, 0.4, 0.35, 0.8];
        let l = [false, false, true, true];
        assert!((average_precision(&s, &l).unwrap() - 5.0 / 6.0).abs() < 1e-15);
        assert!((roc_auc(&s, &l).unwrap() - 0.75).abs() < 1e-15);
        // All tied: AUC 0.5, AP = prevalence.
        let s = [0.3; 4];
        assert_eq!(roc_auc(&s, &l).unwrap(), 0.5);
        assert_eq!(average_precision(&s, &l).unwrap(), 0.5);
    }

    #[test]
    fn batch_names_bad_unit() {
        let l = [false, true];
        let s = [0.1, 0.2, 0.3, f32::NAN];
        let e = roc_auc_batch(&s, 2, &l).unwrap_err().to_string();
        assert!(e.contains("unit 1"), "{e}");
    }
}
