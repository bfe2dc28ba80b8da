//! DPO objectives (sigmoid, conservative / label-smoothed, IPO), the implicit reward and
//! preference accuracy with a tie convention.
//!
//! With `h = (log π(y_w|x) − log π_ref(y_w|x)) − (log π(y_l|x) − log π_ref(y_l|x))`:
//!
//! | kind | loss per pair |
//! |---|---|
//! | [`DpoKind::Sigmoid`] (Rafailov et al.; cDPO with `label_smoothing = ε > 0`) | `−(1−ε) log σ(βh) − ε log σ(−βh)` |
//! | [`DpoKind::Ipo`] (Azar et al.) | `(h − 1/(2β))²` |
//!
//! as TRL's `DPOTrainer` (`loss_type="sigmoid"` / `"ipo"`, `label_smoothing`) and OpenRLHF's
//! `DPOLoss` compute them on whatever log-probabilities they are given (TRL feeds IPO the
//! per-token mean, OpenRLHF the sum; [`crate::policy::LogProbReduction`] selects).

use burn::prelude::*;
use burn::tensor::activation::log_sigmoid;
use ember_core::{Error, Result};
use serde::{Deserialize, Serialize};

/// Which DPO objective.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DpoKind {
    /// The logistic (Bradley-Terry) DPO loss; `label_smoothing > 0` is conservative DPO.
    Sigmoid,
    /// Identity preference optimisation: squared distance of `h` to `1/(2β)`.
    Ipo,
}

/// Settings of the DPO loss.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DpoConfig {
    /// Inverse temperature β of the implicit reward (TRL's default 0.1).
    pub beta: f64,
    /// The objective.
    pub kind: DpoKind,
    /// Probability ε that a label is flipped (conservative DPO); sigmoid only, in `[0, 0.5)`.
    pub label_smoothing: f64,
}

impl Default for DpoConfig {
    fn default() -> Self {
        Self {
            beta: 0.1,
            kind: DpoKind::Sigmoid,
            label_smoothing: 0.0,
        }
    }
}

impl DpoConfig {
    /// Checks β > 0 (finite) and `label_smoothing` in `[0, 0.5)` (and 0 for IPO).
    pub fn validate(&self) -> Result<()> {
        if !(self.beta.is_finite() && self.beta > 0.0) {
            return Err(Error::InvalidInput(format!(
                "DPO beta must be positive and finite, got {}",
                self.beta
            )));
        }
        if !(0.0..0.5).contains(&self.label_smoothing) {
            return Err(Error::InvalidInput(format!(
                "DPO label_smoothing must be in [0, 0.5), got {}",
                self.label_smoothing
            )));
        }
        if self.kind == DpoKind::Ipo && self.label_smoothing != 0.0 {
            return Err(Error::InvalidInput(
                "label_smoothing applies to the sigmoid loss only (IPO has none)".into(),
            ));
        }
        Ok(())
    }
}

/// Policy and reference log-probabilities of a batch of pairs, each `[B]`.
#[derive(Debug, Clone)]
pub struct PairLogProbs {
    /// `log π(y_w|x)` (differentiable when it comes from the policy on an autodiff device).
    pub policy_chosen: Tensor<1>,
    /// `log π(y_l|x)`.
    pub policy_rejected: Tensor<1>,
    /// `log π_ref(y_w|x)` (constants).
    pub ref_chosen: Tensor<1>,
    /// `log π_ref(y_l|x)`.
    pub ref_rejected: Tensor<1>,
}

/// The mean DPO loss over the batch (see the module docs), a `[1]` tensor.
///
/// Errors: an invalid config, or the four inputs not all of one shape `[B]` with `B ≥ 1`.
pub fn dpo_loss(lp: PairLogProbs, cfg: &DpoConfig) -> Result<Tensor<1>> {
    cfg.validate()?;
    let d = lp.policy_chosen.dims();
    for (name, t) in [
        ("policy_rejected", &lp.policy_rejected),
        ("ref_chosen", &lp.ref_chosen),
        ("ref_rejected", &lp.ref_rejected),
    ] {
        if t.dims() != d {
            return Err(Error::Shape(format!(
                "dpo_loss: {name} is {:?}, policy_chosen is {d:?}",
                t.dims()
            )));
        }
    }
    if d[0] == 0 {
        return Err(Error::InvalidInput("dpo_loss: empty batch".into()));
    }
    let h = (lp.policy_chosen - lp.ref_chosen) - (lp.policy_rejected - lp.ref_rejected);
    let per = match cfg.kind {
        DpoKind::Sigmoid => {
            let eps = cfg.label_smoothing;
            let z = h * cfg.beta;
            let pos = log_sigmoid(z.clone()).neg() * (1.0 - eps);
            if eps > 0.0 {
                pos + log_sigmoid(z.neg()).neg() * eps
            } else {
                pos
            }
        }
        DpoKind::Ipo => (h - 1.0 / (2.0 * cfg.beta)).powi_scalar(2),
    };
    Ok(per.mean())
}

/// The implicit reward `r = β (log π(y|x) − log π_ref(y|x))` of each response.
///
/// Errors: length mismatch, non-finite values, or β not positive.
pub fn implicit_rewards(policy: &[f64], reference: &[f64], beta: f64) -> Result<Vec<f64>> {
    if !(beta.is_finite() && beta > 0.0) {
        return Err(Error::InvalidInput(format!(
            "beta must be positive and finite, got {beta}"
        )));
    }
    if policy.len() != reference.len() {
        return Err(Error::Shape(format!(
            "implicit_rewards: {} policy and {} reference log-probabilities",
            policy.len(),
            reference.len()
        )));
    }
    policy
        .iter()
        .zip(reference)
        .enumerate()
        .map(|(i, (&p, &r))| {
            if p.is_finite() && r.is_finite() {
                Ok(beta * (p - r))
            } else {
                Err(Error::InvalidInput(format!(
                    "implicit_rewards: log-probability {i} is not finite ({p}, {r})"
                )))
            }
        })
        .collect()
}

/// How a pair whose two rewards are equal counts in [`preference_accuracy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ties {
    /// Strict `>`: a tie is wrong (TRL's and OpenRLHF's `rewards/accuracies`; every pair
    /// ties at DPO's start, so accuracy starts at 0).
    Wrong,
    /// A tie counts ½ (a coin flip; `princeton-pli/exrm-vs-imrm`).
    Half,
}

/// Fraction of pairs with `chosen > rejected`, ties counted by `ties`.
///
/// Errors: no pairs, length mismatch, or a NaN reward.
pub fn preference_accuracy(chosen: &[f64], rejected: &[f64], ties: Ties) -> Result<f64> {
    if chosen.len() != rejected.len() {
        return Err(Error::Shape(format!(
            "preference_accuracy: {} chosen and {} rejected rewards",
            chosen.len(),
            rejected.len()
        )));
    }
    if chosen.is_empty() {
        return Err(Error::InvalidInput("preference_accuracy: no pairs".into()));
    }
    let mut score = 0.0;
    for (i, (&c, &r)) in chosen.iter().zip(rejected).enumerate() {
        if c.is_nan() || r.is_nan() {
            return Err(Error::InvalidInput(format!(
                "preference_accuracy: reward of pair {i} is NaN"
            )));
        }
        score += if c > r {
            1.0
        } else if c == r {
            match ties {
                Ties::Wrong => 0.0,
                Ties::Half => 0.5,
            }
        } else {
            0.0
        };
    }
    Ok(score / chosen.len() as f64)
}
