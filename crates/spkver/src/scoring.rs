//! Cosine scoring of trials over once-computed embeddings, and EER/minDCF via ember-core.

use ember_core::metrics::{DcfParams, VerificationMetrics, verification_metrics};
use ember_core::{Error, Result};

/// L2-normalise every embedding. A zero vector stays zero (its cosine with anything is 0, as
/// in scikit-learn's `normalize`). Errors on an empty set, ragged widths or a non-finite value.
pub fn normalize(emb: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
    let d = emb
        .first()
        .ok_or_else(|| Error::InvalidInput("scoring: no embeddings".into()))?
        .len();
    emb.iter()
        .enumerate()
        .map(|(i, e)| {
            if e.len() != d {
                return Err(Error::Shape(format!(
                    "scoring: embedding {i} has width {}, expected {d}",
                    e.len()
                )));
            }
            if e.iter().any(|v| !v.is_finite()) {
                return Err(Error::NonFinite(format!("scoring: embedding {i}")));
            }
            let n = e.iter().map(|v| v * v).sum::<f32>().sqrt();
            Ok(e.iter()
                .map(|v| if n > 0.0 { v / n } else { 0.0 })
                .collect())
        })
        .collect()
}

/// `cos(e_a, e_b)` for each `(a, b)` in `pairs`, each embedding normalised once.
pub fn cosine_scores(emb: &[Vec<f32>], pairs: &[(usize, usize)]) -> Result<Vec<f32>> {
    let e = normalize(emb)?;
    pairs
        .iter()
        .map(|&(a, b)| {
            if a >= e.len() || b >= e.len() {
                return Err(Error::InvalidInput(format!(
                    "scoring: trial ({a}, {b}) out of range for {} embeddings",
                    e.len()
                )));
            }
            Ok(e[a].iter().zip(&e[b]).map(|(x, y)| x * y).sum())
        })
        .collect()
}

/// Every unordered pair of distinct utterances, with label `speaker[a] == speaker[b]`.
pub fn all_pairs_trials(speakers: &[usize]) -> (Vec<(usize, usize)>, Vec<bool>) {
    let mut pairs = Vec::new();
    let mut labels = Vec::new();
    for a in 0..speakers.len() {
        for b in a + 1..speakers.len() {
            pairs.push((a, b));
            labels.push(speakers[a] == speakers[b]);
        }
    }
    (pairs, labels)
}

/// minDCF operating points reported: `p_target` 0.01 and 0.05, unit costs.
pub fn dcf_points() -> [DcfParams; 2] {
    [
        DcfParams {
            p_target: 0.01,
            c_miss: 1.0,
            c_fa: 1.0,
        },
        DcfParams {
            p_target: 0.05,
            c_miss: 1.0,
            c_fa: 1.0,
        },
    ]
}

/// Cosine-score the trials and return EER and minDCF (p = 0.01, 0.05).
pub fn evaluate(
    emb: &[Vec<f32>],
    pairs: &[(usize, usize)],
    labels: &[bool],
) -> Result<VerificationMetrics> {
    let scores = cosine_scores(emb, pairs)?;
    verification_metrics(&scores, labels, &dcf_points())
}
