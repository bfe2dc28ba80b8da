//! Expertise of every unit for one concept, and expert sets.
//!
//! A concept is a label vector over the pooled sentences (`true` = the sentence is in N⁺).
//! Per unit: AP (`Σ_n (R_n − R_{n−1}) P_n`, scikit-learn's `average_precision_score`) and
//! AUROC (the Mann–Whitney probability, ties ½), tie-exact and bit-identical to ember-core's
//! batched kernels but sharing one sort per unit, plus the forcing statistics of the positive
//! responses (mean, median) and the negative mean. Selection is global over all captured layers and sites (ml-selfcond).

use crate::capture::{Responses, UnitIndex};
use ember_core::metrics::{for_each_threshold, pack_score, unpack_score};
use ember_core::{Error, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Which score ranks the units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Metric {
    /// Average precision (ml-selfcond, Paper 2); chance = prevalence.
    Ap,
    /// Area under the ROC curve (ml-aura, Paper 1); chance = 0.5.
    #[default]
    Auroc,
}

/// One unit's expertise and forcing statistics for a concept.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct UnitStats {
    /// Average precision.
    pub ap: f64,
    /// ROC AUC.
    pub auroc: f64,
    /// Mean pooled response over N⁺ (Paper 1's forcing value).
    pub pos_mean: f32,
    /// Median pooled response over N⁺ (ml-selfcond's `on_p50`; mean of the two middle values
    /// for an even count, as NumPy).
    pub pos_median: f32,
    /// Mean pooled response over N⁻ (`off_mean`).
    pub neg_mean: f32,
}

impl UnitStats {
    /// The score of `metric`.
    pub fn score(&self, metric: Metric) -> f64 {
        match metric {
            Metric::Ap => self.ap,
            Metric::Auroc => self.auroc,
        }
    }
}

/// Expertise of every captured unit for one concept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Expertise {
    /// The unit layout (global ids index `units`).
    pub index: UnitIndex,
    /// Per global unit id.
    pub units: Vec<UnitStats>,
    /// Number of positive sentences.
    pub n_pos: usize,
    /// Number of negative sentences.
    pub n_neg: usize,
}

/// Stats of one unit-major block `[n_units, n]` against `labels` (`n` = `labels.len()`).
///
/// One sort per unit serves all three order statistics: the (score, label) pairs are packed
/// into `u64` keys exactly as ember-core's ranking kernels pack them, sorted once, swept once
/// from the top for AP and AUROC together (the same integer counts and the same `f64`
/// operations in the same order as `average_precision_batch` / `roc_auc_batch`, so the values
/// are bit-identical), and the positive median is read off the same sorted keys. The means are
/// summed in sentence order as before. Units run in parallel (rayon), one key buffer per
/// thread.
///
/// Errors: empty or single-class labels, a shape mismatch, a non-finite response (naming the
/// unit).
pub fn score_block(scores: &[f32], n_units: usize, labels: &[bool]) -> Result<Vec<UnitStats>> {
    const M: &str = "score_block";
    if labels.is_empty() {
        return Err(Error::InvalidInput(format!("{M}: empty input")));
    }
    let n = labels.len();
    let n_pos = labels.iter().filter(|&&l| l).count();
    let n_neg = n - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return Err(Error::InvalidInput(format!(
            "{M}: labels hold a single class ({n_pos} positive, {n_neg} negative); the metric needs both"
        )));
    }
    if n_units == 0 {
        return Err(Error::InvalidInput(format!("{M}: n_units is 0")));
    }
    let expected = n_units
        .checked_mul(n)
        .ok_or_else(|| Error::Shape(format!("{M}: n_units * n_samples overflows")))?;
    if scores.len() != expected {
        return Err(Error::Shape(format!(
            "{M}: scores has {} values, expected n_units * n_samples = {n_units} * {n} = {expected}",
            scores.len()
        )));
    }
    scores
        .par_chunks_exact(n)
        .enumerate()
        .map_init(
            || (Vec::with_capacity(n), Vec::new()),
            |(keys, pos): &mut (Vec<u64>, Vec<f32>), (unit, row)| {
                keys.clear();
                pos.clear();
                let mut neg_sum = 0.0f64;
                for (i, (&s, &l)) in row.iter().zip(labels).enumerate() {
                    if !s.is_finite() {
                        return Err(Error::NonFinite(format!(
                            "{M}: unit {unit}, sample {i}: score {s}"
                        )));
                    }
                    keys.push(pack_score(s, l));
                    if l {
                        pos.push(s);
                    } else {
                        neg_sum += s as f64;
                    }
                }
                keys.sort_unstable();
                let (ap, auroc) = ap_auroc_from_sorted(keys, n_pos as u64, n_neg as u64);
                let mean = pos.iter().map(|&x| x as f64).sum::<f64>() / pos.len() as f64;
                Ok(UnitStats {
                    ap,
                    auroc,
                    pos_mean: mean as f32,
                    pos_median: median_from_sorted(keys, n_pos),
                    neg_mean: (neg_sum / n_neg as f64) as f32,
                })
            },
        )
        .collect()
}

/// AP and AUROC from packed keys sorted ascending, in one sweep over the distinct scores from
/// the highest down (ties move together, as scikit-learn's `_binary_clf_curve`). AP:
/// `Σ (ΔTP / P) · TP / (TP + FP)`; AUROC: each negative counts the positives strictly above it
/// plus half of those tied with it (twice the area is an integer).
fn ap_auroc_from_sorted(keys: &[u64], n_pos: u64, n_neg: u64) -> (f64, f64) {
    let p = n_pos as f64;
    let (mut tp, mut fp) = (0u64, 0u64);
    let mut ap = 0.0f64;
    let mut twice_area = 0u128;
    for_each_threshold(keys, |_, dpos, dneg| {
        twice_area += dneg as u128 * (2 * tp as u128 + dpos as u128);
        tp += dpos;
        fp += dneg;
        if dpos > 0 {
            ap += (dpos as f64 / p) * (tp as f64 / (tp + fp) as f64);
        }
    });
    (ap, twice_area as f64 / (2.0 * n_pos as f64 * n_neg as f64))
}

/// The positives' median (NumPy's convention) read off the sorted keys: the `n_pos / 2`-th
/// positive in ascending order, averaged with the one below it for an even count. Equal to
/// [`median`] of the positive responses (a zero may come back as `+0.0` where [`median`] gives
/// `-0.0`; they compare equal).
fn median_from_sorted(keys: &[u64], n_pos: usize) -> f32 {
    let hi_rank = n_pos / 2;
    let (mut lo, mut seen) = (f32::NAN, 0usize);
    for &k in keys {
        if k & 1 == 1 {
            let v = unpack_score(k);
            if seen == hi_rank {
                return if n_pos % 2 == 1 {
                    v
                } else {
                    ((lo as f64 + v as f64) / 2.0) as f32
                };
            }
            lo = v;
            seen += 1;
        }
    }
    f32::NAN
}

/// Median with NumPy's convention (mean of the two middle values); `v` is reordered.
pub fn median(v: &mut [f32]) -> f32 {
    let n = v.len();
    if n == 0 {
        return f32::NAN;
    }
    let cmp = |a: &f32, b: &f32| a.total_cmp(b);
    let (_, hi, _) = v.select_nth_unstable_by(n / 2, cmp);
    let hi = *hi;
    if n % 2 == 1 {
        hi
    } else {
        let lo = v[..n / 2].iter().copied().fold(f32::NEG_INFINITY, f32::max);
        ((lo as f64 + hi as f64) / 2.0) as f32
    }
}

impl Expertise {
    /// Scores every unit of `responses` against `labels` (one per sentence), block by block.
    pub fn compute(responses: &Responses, labels: &[bool]) -> Result<Self> {
        if labels.len() != responses.n_sentences {
            return Err(Error::Shape(format!(
                "expertise: {} labels for {} sentences",
                labels.len(),
                responses.n_sentences
            )));
        }
        let n_pos = labels.iter().filter(|&&l| l).count();
        if n_pos == 0 || n_pos == labels.len() {
            return Err(Error::InvalidInput(format!(
                "expertise: the concept needs positive and negative sentences ({n_pos} of {} positive)",
                labels.len()
            )));
        }
        let mut units = Vec::with_capacity(responses.index.n_units());
        for (blk, data) in responses.index.blocks.iter().zip(&responses.blocks) {
            let s = score_block(data, blk.width, labels).map_err(|e| {
                Error::InvalidInput(format!("layer {} {:?}: {e}", blk.layer, blk.site))
            })?;
            units.extend(s);
        }
        Ok(Expertise {
            index: responses.index.clone(),
            units,
            n_pos,
            n_neg: labels.len() - n_pos,
        })
    }

    /// Global top-`k` unit ids by `metric`, best first (ties by lower id).
    pub fn top_k(&self, metric: Metric, k: usize) -> Vec<usize> {
        let mut ids: Vec<usize> = (0..self.units.len()).collect();
        let key = |&i: &usize| (std::cmp::Reverse(OrdF64(self.units[i].score(metric))), i);
        let k = k.min(ids.len());
        if k == 0 {
            return Vec::new();
        }
        if k < ids.len() {
            ids.select_nth_unstable_by_key(k - 1, key);
            ids.truncate(k);
        }
        ids.sort_unstable_by_key(key);
        ids
    }

    /// Units with `metric >= tau` (Paper 2's `E_c(τ)`).
    pub fn threshold(&self, metric: Metric, tau: f64) -> ExpertSet {
        ExpertSet::from_ids(
            self.units.len(),
            (0..self.units.len()).filter(|&i| self.units[i].score(metric) >= tau),
        )
    }

    /// Chance level of `metric`: the prevalence for AP, ½ for AUROC.
    pub fn chance(&self, metric: Metric) -> f64 {
        match metric {
            Metric::Ap => self.n_pos as f64 / (self.n_pos + self.n_neg) as f64,
            Metric::Auroc => 0.5,
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
struct OrdF64(f64);
impl Eq for OrdF64 {}
impl PartialOrd for OrdF64 {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for OrdF64 {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&o.0)
    }
}

/// A set of unit ids as a bitset, for fast Jaccard overlaps between concepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpertSet {
    n_units: usize,
    words: Vec<u64>,
}

impl ExpertSet {
    /// The set of `ids` over a universe of `n_units` (ids beyond it are ignored).
    pub fn from_ids(n_units: usize, ids: impl IntoIterator<Item = usize>) -> Self {
        let mut words = vec![0u64; n_units.div_ceil(64)];
        for i in ids.into_iter().filter(|&i| i < n_units) {
            words[i / 64] |= 1 << (i % 64);
        }
        ExpertSet { n_units, words }
    }

    /// Number of units in the set.
    pub fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }

    /// Member ids in increasing order.
    pub fn ids(&self) -> Vec<usize> {
        (0..self.n_units)
            .filter(|&i| self.words[i / 64] >> (i % 64) & 1 == 1)
            .collect()
    }

    /// `|A ∩ B| / |A ∪ B|`; 0 when both are empty (no shared evidence). Errors when the
    /// universes differ.
    pub fn jaccard(&self, other: &ExpertSet) -> Result<f64> {
        if self.n_units != other.n_units {
            return Err(Error::Shape(format!(
                "jaccard: sets over {} and {} units",
                self.n_units, other.n_units
            )));
        }
        let (mut inter, mut union) = (0u64, 0u64);
        for (a, b) in self.words.iter().zip(&other.words) {
            inter += (a & b).count_ones() as u64;
            union += (a | b).count_ones() as u64;
        }
        Ok(if union == 0 {
            0.0
        } else {
            inter as f64 / union as f64
        })
    }
}

/// The `C × C` Jaccard matrix of expert sets, row-major.
pub fn jaccard_matrix(sets: &[ExpertSet]) -> Result<Vec<f64>> {
    let c = sets.len();
    let mut m = vec![0.0; c * c];
    for i in 0..c {
        for j in i..c {
            let v = sets[i].jaccard(&sets[j])?;
            m[i * c + j] = v;
            m[j * c + i] = v;
        }
    }
    Ok(m)
}
