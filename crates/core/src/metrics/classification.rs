//! Classification accuracy.

use super::check_same_len;
use crate::error::{Result, ensure};

/// Fraction of positions where `pred[i] == target[i]`, like
/// `sklearn.metrics.accuracy_score(target, pred)` on label vectors.
///
/// Errors: empty input, or `pred` and `target` of different lengths.
pub fn accuracy(pred: &[usize], target: &[usize]) -> Result<f64> {
    check_same_len("accuracy: pred vs target", pred.len(), target.len())?;
    ensure!(!pred.is_empty(), "accuracy: empty input");
    let hits = pred.iter().zip(target).filter(|(p, t)| p == t).count();
    Ok(hits as f64 / pred.len() as f64)
}
