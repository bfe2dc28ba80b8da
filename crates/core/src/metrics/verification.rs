//! Speaker-verification metrics: equal error rate (EER) and normalised minimum detection cost
//! (minDCF), from one sort and one sweep over the trial scores (O(N log N) time, O(N) memory).
//!
//! Convention: a trial is accepted when `score >= threshold`; `labels[i]` is true for a target
//! (same-speaker) trial. Operating points are the ROC points of every distinct score plus the
//! "reject everything" point (FPR = 0, TPR = 0), as in `sklearn.metrics.roc_curve`.

use super::check_same_len;
use super::sweep::{ClassCounts, class_counts, for_each_threshold, sorted_keys};
use crate::error::{Result, ensure};

/// How the EER is read off the ROC curve. The two differ by up to one ROC step: three points
/// of EER with nine target trials, negligible with thousands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EerConvention {
    /// The exact crossing of the ROC polyline with FNR = FPR (see [`eer`]); the value of the
    /// `brentq` + `interp1d` recipe. ember's default: it does not depend on how finely the
    /// curve is sampled.
    #[default]
    Interpolated,
    /// The ROC point nearest the crossing, as `voxceleb_trainer`'s `tuneThresholdfromScore`
    /// computes it: `fpr, tpr, thr = sklearn.metrics.roc_curve(labels, scores)` (with its
    /// default `drop_intermediate=True`), `i = nanargmin(|fnr − fpr|)` (first on ties),
    /// EER = `max(fpr[i], fnr[i])`, threshold `thr[i]`.
    NearestRocPoint,
}

/// Equal error rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Eer {
    /// The rate (in `[0, 1]`) where false-accept and false-reject rates are equal.
    pub eer: f64,
    /// [`EerConvention::Interpolated`]: the score threshold of the first ROC point (from high
    /// to low thresholds) at which the false-reject rate is `<=` the false-accept rate, the
    /// upper end of the bracketing segment. [`EerConvention::NearestRocPoint`]: the threshold
    /// of the chosen point (`f32::INFINITY` for the reject-all point, as sklearn's `inf`).
    pub threshold: f32,
}

/// Detection-cost parameters (NIST SRE / VoxCeleb).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DcfParams {
    /// Prior probability of a target trial.
    pub p_target: f64,
    /// Cost of a miss (rejected target trial).
    pub c_miss: f64,
    /// Cost of a false alarm (accepted non-target trial).
    pub c_fa: f64,
}

impl Default for DcfParams {
    /// The VoxCeleb convention: `p_target = 0.01`, `c_miss = c_fa = 1`.
    fn default() -> Self {
        Self {
            p_target: 0.01,
            c_miss: 1.0,
            c_fa: 1.0,
        }
    }
}

/// Normalised minimum detection cost.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MinDcf {
    /// `min_t DCF(t) / min(c_miss·p_target, c_fa·(1 − p_target))`.
    pub min_dcf: f64,
    /// The threshold attaining it (the highest one if several do); `f32::INFINITY` when
    /// rejecting every trial is optimal.
    pub threshold: f32,
}

/// EER and one minDCF per requested [`DcfParams`], from a single sweep.
#[derive(Clone, Debug, PartialEq)]
pub struct VerificationMetrics {
    /// Equal error rate.
    pub eer: Eer,
    /// One entry per `DcfParams` passed, in order.
    pub min_dcf: Vec<MinDcf>,
}

/// Equal error rate, the point where the false-accept rate (FPR) and the false-reject rate
/// (FNR = 1 − TPR) cross.
///
/// Exactly: take the ROC curve as the polyline through `(FPR, TPR)` at every distinct
/// threshold (plus `(0, 0)`), find the first segment, going from high to low thresholds, whose
/// end satisfies `FNR <= FPR` (tested in exact integer arithmetic), and return the `FPR` where
/// that segment meets the line `TPR = 1 − FPR`. This is the value of the common recipe
/// `fpr, tpr, _ = roc_curve(labels, scores); brentq(lambda x: 1 - x - interp1d(fpr, tpr)(x), 0, 1)`
/// (up to brentq's `xtol`, about 1e-12). On a vertical segment (tied scores adding only targets)
/// the EER is that segment's FPR, on a horizontal one `1 − TPR`.
///
/// Errors: empty input, length mismatch, a NaN/inf score, or a single class.
pub fn eer(scores: &[f32], labels: &[bool]) -> Result<Eer> {
    Ok(verification_metrics(scores, labels, &[])?.eer)
}

/// [`eer`] under an explicit [`EerConvention`]. Errors as [`eer`].
pub fn eer_with(scores: &[f32], labels: &[bool], convention: EerConvention) -> Result<Eer> {
    match convention {
        EerConvention::Interpolated => eer(scores, labels),
        EerConvention::NearestRocPoint => {
            const M: &str = "verification";
            check_same_len("verification: scores vs labels", scores.len(), labels.len())?;
            let counts = class_counts(M, labels)?;
            let keys = sorted_keys(M, scores, labels)?;
            Ok(nearest_roc_point(&keys, counts))
        }
    }
}

/// The EER at the ROC point nearest FNR = FPR, computed as scikit-learn and NumPy do: the
/// points are `roc_curve`'s (intermediate points of equal steps dropped, `(0, 0)` prepended),
/// rates are `count / total` in f64, and the first minimum of `|fnr − fpr|` wins.
fn nearest_roc_point(keys: &[u64], c: ClassCounts) -> Eer {
    // Cumulative (threshold, tp, fp) at every distinct threshold, high to low.
    let mut steps: Vec<(f32, u64, u64)> = Vec::new();
    let (mut tp, mut fp) = (0u64, 0u64);
    for_each_threshold(keys, |thr, dpos, dneg| {
        tp += dpos;
        fp += dneg;
        steps.push((thr, tp, fp));
    });
    // sklearn's drop_intermediate: keep the ends and every point where the second difference
    // of fps or tps is non-zero.
    let n = steps.len();
    let kept = (0..n).filter(|&i| {
        if i == 0 || i + 1 == n {
            return true;
        }
        let d2 = |f: fn(&(f32, u64, u64)) -> u64| {
            f(&steps[i + 1]) as i128 - 2 * f(&steps[i]) as i128 + f(&steps[i - 1]) as i128
        };
        d2(|s| s.2) != 0 || d2(|s| s.1) != 0
    });
    let (np, nn) = (c.pos as f64, c.neg as f64);
    let point = |thr: f32, tp: u64, fp: u64| {
        let fpr = fp as f64 / nn;
        let fnr = 1.0 - tp as f64 / np;
        ((fnr - fpr).abs(), fpr.max(fnr), thr)
    };
    let mut best = point(f32::INFINITY, 0, 0);
    for i in kept {
        let (thr, tp, fp) = steps[i];
        let p = point(thr, tp, fp);
        if p.0 < best.0 {
            best = p;
        }
    }
    Eer {
        eer: best.1,
        threshold: best.2,
    }
}

/// Normalised minDCF as in NIST SRE, Kaldi's `compute_min_dcf.py` and SpeechBrain:
/// `min_t [c_miss·p_target·P_miss(t) + c_fa·(1 − p_target)·P_fa(t)] / min(c_miss·p_target,
/// c_fa·(1 − p_target))`, minimised over every distinct score `t` (accept `score >= t`) and
/// the reject-all point.
///
/// Errors: as [`eer`], and `p_target` outside `(0, 1)` or a cost that is not finite and `> 0`.
pub fn min_dcf(scores: &[f32], labels: &[bool], params: DcfParams) -> Result<MinDcf> {
    let m = verification_metrics(scores, labels, &[params])?;
    Ok(m.min_dcf[0])
}

/// [`eer`] and [`min_dcf`] for every entry of `params`, from one sort and one sweep.
pub fn verification_metrics(
    scores: &[f32],
    labels: &[bool],
    params: &[DcfParams],
) -> Result<VerificationMetrics> {
    const M: &str = "verification";
    for p in params {
        ensure!(
            p.p_target > 0.0 && p.p_target < 1.0,
            "{M}: p_target must be in (0, 1), got {}",
            p.p_target
        );
        ensure!(
            p.c_miss.is_finite() && p.c_miss > 0.0 && p.c_fa.is_finite() && p.c_fa > 0.0,
            "{M}: costs must be finite and > 0, got c_miss {} c_fa {}",
            p.c_miss,
            p.c_fa
        );
    }
    check_same_len("verification: scores vs labels", scores.len(), labels.len())?;
    let counts = class_counts(M, labels)?;
    let keys = sorted_keys(M, scores, labels)?;
    Ok(sweep(&keys, counts, params))
}

fn sweep(keys: &[u64], c: ClassCounts, params: &[DcfParams]) -> VerificationMetrics {
    let (np, nn) = (c.pos as f64, c.neg as f64);
    // Reject-all point: P_miss = 1, P_fa = 0.
    let mut best: Vec<(f64, f32)> = params
        .iter()
        .map(|p| (p.c_miss * p.p_target, f32::INFINITY))
        .collect();
    let (mut tp, mut fp) = (0u64, 0u64);
    let mut eer: Option<Eer> = None;
    for_each_threshold(keys, |thr, dpos, dneg| {
        let (tp0, fp0) = (tp, fp);
        tp += dpos;
        fp += dneg;
        // FNR <= FPR  <=>  (P − tp)·N <= fp·P, exact in integers.
        if eer.is_none() && (c.pos - tp) as u128 * c.neg as u128 <= fp as u128 * c.pos as u128 {
            let (x0, y0) = (fp0 as f64 / nn, tp0 as f64 / np);
            let (x1, y1) = (fp as f64 / nn, tp as f64 / np);
            let s = (1.0 - x0 - y0) / ((x1 - x0) + (y1 - y0));
            eer = Some(Eer {
                eer: x0 + s * (x1 - x0),
                threshold: thr,
            });
        }
        let p_miss = (c.pos - tp) as f64 / np;
        let p_fa = fp as f64 / nn;
        for (p, b) in params.iter().zip(best.iter_mut()) {
            let cost = p.c_miss * p.p_target * p_miss + p.c_fa * (1.0 - p.p_target) * p_fa;
            if cost < b.0 {
                *b = (cost, thr);
            }
        }
    });
    VerificationMetrics {
        // The last point (accept all) always satisfies FNR = 0 <= FPR = 1, so the sweep sets it;
        // the fallback only keeps this branch-free of panics.
        eer: eer.unwrap_or(Eer {
            eer: 0.5,
            threshold: f32::NEG_INFINITY,
        }),
        min_dcf: params
            .iter()
            .zip(best)
            .map(|(p, (cost, threshold))| MinDcf {
                min_dcf: cost / (p.c_miss * p.p_target).min(p.c_fa * (1.0 - p.p_target)),
                threshold,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separable_and_inverted() {
        let l = [false, false, true, true];
        let e = eer(&[0.1, 0.2, 0.8, 0.9], &l).unwrap();
        assert_eq!(e.eer, 0.0);
        assert_eq!(e.threshold, 0.8);
        let e = eer(&[0.9, 0.8, 0.2, 0.1], &l).unwrap();
        assert_eq!(e.eer, 1.0);
        let d = min_dcf(&[0.1, 0.2, 0.8, 0.9], &l, DcfParams::default()).unwrap();
        assert_eq!(d.min_dcf, 0.0);
    }

    #[test]
    fn all_tied() {
        let l = [false, true, false, true];
        let e = eer(&[0.5; 4], &l).unwrap();
        assert!((e.eer - 0.5).abs() < 1e-15);
        // Reject-all costs p_target / p_target = 1; accept-all costs (1 - p)/p > 1.
        let d = min_dcf(&[0.5; 4], &l, DcfParams::default()).unwrap();
        assert_eq!(d.min_dcf, 1.0);
        assert_eq!(d.threshold, f32::INFINITY);
    }
}
