//! Shared machinery for threshold sweeps (AP, AUROC, EER, minDCF).
//!
//! Each (score, label) pair is packed into one `u64`: an order-preserving encoding of the
//! `f32` score in the high bits and the label in bit 0. Sorting plain `u64`s is several times
//! faster than sorting `(f32, bool)` tuples with a comparator, and equal scores end up adjacent,
//! so the sweep can group ties by distinct threshold exactly like scikit-learn's
//! `_binary_clf_curve`. `-0.0` is folded into `+0.0` so that they tie, as they do in NumPy.

use crate::error::{Error, Result, ensure};

/// Counts of positive and negative labels.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ClassCounts {
    pub pos: u64,
    pub neg: u64,
}

/// Class counts; `Err` when `labels` is empty or holds a single class (the metric is undefined,
/// and scikit-learn raises or warns).
pub(crate) fn class_counts(metric: &str, labels: &[bool]) -> Result<ClassCounts> {
    ensure!(!labels.is_empty(), "{metric}: empty input");
    let pos = labels.iter().filter(|&&l| l).count() as u64;
    let neg = labels.len() as u64 - pos;
    ensure!(
        pos > 0 && neg > 0,
        "{metric}: labels hold a single class ({pos} positive, {neg} negative); \
         the metric needs both"
    );
    Ok(ClassCounts { pos, neg })
}

/// Order-preserving map from a finite `f32` to `u32` (`a < b` iff `key(a) < key(b)`).
#[inline]
fn f32_key(s: f32) -> u32 {
    // `-0.0 + 0.0 == +0.0`, so both zeros get one key.
    let b = (s + 0.0).to_bits();
    if b & 0x8000_0000 != 0 {
        !b
    } else {
        b | 0x8000_0000
    }
}

/// Packs a finite `score` and its `label` into one key: sorting keys ascending sorts by score
/// (the two zeros tie) with equal scores adjacent, which is what a threshold sweep needs.
/// For kernels outside ember-core that sweep their own rows (e.g. several metrics from one
/// sort); non-finite scores must be rejected before.
#[inline]
pub fn pack_score(score: f32, label: bool) -> u64 {
    ((f32_key(score) as u64) << 1) | label as u64
}

/// The score of a key made by [`pack_score`] (`-0.0` comes back as `+0.0`).
#[inline]
pub fn unpack_score(key: u64) -> f32 {
    key_f32((key >> 1) as u32)
}

/// Inverse of [`f32_key`].
#[inline]
pub(crate) fn key_f32(k: u32) -> f32 {
    if k & 0x8000_0000 != 0 {
        f32::from_bits(k & 0x7fff_ffff)
    } else {
        f32::from_bits(!k)
    }
}

/// Fills `keys` with packed (score, label) pairs, sorted ascending.
/// Returns the index of the first non-finite score as `Err(index)`.
pub(crate) fn fill_sorted_keys(
    scores: &[f32],
    labels: &[bool],
    keys: &mut Vec<u64>,
    parallel: bool,
) -> std::result::Result<(), usize> {
    keys.clear();
    keys.reserve(scores.len());
    for (i, (&s, &l)) in scores.iter().zip(labels).enumerate() {
        if !s.is_finite() {
            return Err(i);
        }
        keys.push(pack_score(s, l));
    }
    if parallel {
        use rayon::slice::ParallelSliceMut;
        keys.par_sort_unstable();
    } else {
        keys.sort_unstable();
    }
    Ok(())
}

/// [`fill_sorted_keys`] for a single score vector, with errors as [`Error`].
pub(crate) fn sorted_keys(metric: &str, scores: &[f32], labels: &[bool]) -> Result<Vec<u64>> {
    let mut keys = Vec::new();
    fill_sorted_keys(scores, labels, &mut keys, scores.len() >= 1 << 16)
        .map_err(|i| Error::NonFinite(format!("{metric}: scores[{i}] = {}", scores[i])))?;
    Ok(keys)
}

/// Calls `f(threshold, positives, negatives)` once per distinct score, from the highest score
/// down, with the number of positive and negative samples having exactly that score; `keys`
/// are [`pack_score`] keys sorted ascending.
#[inline]
pub fn for_each_threshold(keys: &[u64], mut f: impl FnMut(f32, u64, u64)) {
    let mut i = keys.len();
    while i > 0 {
        let k = keys[i - 1] >> 1;
        let mut pos = 0u64;
        let mut n = 0u64;
        while i > 0 && keys[i - 1] >> 1 == k {
            pos += keys[i - 1] & 1;
            n += 1;
            i -= 1;
        }
        f(key_f32(k as u32), pos, n - pos);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_preserves_order_and_roundtrips() {
        let xs = [
            f32::MIN,
            -1.5,
            -f32::MIN_POSITIVE,
            -0.0,
            0.0,
            1e-40,
            1.0,
            f32::MAX,
        ];
        for w in xs.windows(2) {
            assert!(f32_key(w[0]) <= f32_key(w[1]), "{w:?}");
        }
        assert_eq!(f32_key(-0.0), f32_key(0.0));
        for &x in &xs {
            assert_eq!(key_f32(f32_key(x)), x + 0.0);
            for l in [false, true] {
                assert_eq!(unpack_score(pack_score(x, l)), x + 0.0);
                assert_eq!(pack_score(x, l) & 1, l as u64);
            }
        }
    }
}
