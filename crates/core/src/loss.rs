//! Losses shared by the paper crates, each a plain function of tensors so it runs on every
//! backend and differentiates through Burn's autodiff. Reductions are means unless stated.
//! Every function checks shapes and returns [`Error::Shape`] rather than panicking.
//!
//! | loss | used by | definition |
//! |---|---|---|
//! | [`masked_cross_entropy`] | LM/MLM training | `Σ_i m_i · −log softmax(z_i)[y_i] / Σ_i m_i` |
//! | [`info_nce`] | CLIP-style contrastive (ELSA, AAPE) | `½[CE(s·A Bᵀ, I) + CE(s·B Aᵀ, I)]`, rows L2-normalised, `s = exp(t)` |
//! | [`weighted_pairwise_sigmoid`] | SigLIP, Proxy-FDA | `−Σ_ij w_ij log σ(z_ij (t·S_ij + b)) / N` |
//! | [`am_softmax`], [`aam_softmax`] | speaker verification | CE on `s(cos θ_y − m)` / `s·cos(θ_y + m)` |
//! | [`bradley_terry`] | reward models, DPO | `−mean log σ(β (r_c − r_r))` |

use crate::error::{Error, Result};
use crate::ops::{check_ids, l2_normalize};
use burn::module::Param;
use burn::prelude::*;
use burn::tensor::activation::{log_sigmoid, log_softmax};

fn shape_err(what: &str, got: impl std::fmt::Debug, want: impl std::fmt::Debug) -> Error {
    Error::Shape(format!("{what}: got {got:?}, expected {want:?}"))
}

/// Per-row negative log-likelihood `−log softmax(logits)[target]` -> `[N]`.
fn nll_rows(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    let n = targets.dims()[0];
    let lp = log_softmax(logits, 1);
    lp.gather(1, targets.reshape([n, 1])).reshape([n]).neg()
}

/// Mean cross-entropy of `logits: [N, C]` against class ids `targets: [N]`.
pub fn cross_entropy(logits: Tensor<2>, targets: Tensor<1, Int>) -> Result<Tensor<1>> {
    let [n, c] = logits.dims();
    if targets.dims() != [n] {
        return Err(shape_err("targets", targets.dims(), [n]));
    }
    check_ids(&targets, c, "target class")?;
    Ok(nll_rows(logits, targets).mean())
}

/// Masked cross-entropy: `Σ_i m_i · nll_i / max(Σ_i m_i, 1)` -> `[1]`.
///
/// `logits: [N, V]`, `targets: [N]` (every id must be a valid class, including at masked
/// positions: use the pad id there), `mask: [N]` with 1.0 where the position counts. An
/// all-zero mask gives 0 (a sum over no tokens), not NaN.
pub fn masked_cross_entropy(
    logits: Tensor<2>,
    targets: Tensor<1, Int>,
    mask: Tensor<1>,
) -> Result<Tensor<1>> {
    let [n, c] = logits.dims();
    if targets.dims() != [n] {
        return Err(shape_err("targets", targets.dims(), [n]));
    }
    if mask.dims() != [n] {
        return Err(shape_err("mask", mask.dims(), [n]));
    }
    check_ids(&targets, c, "target id")?;
    let nll = nll_rows(logits, targets);
    let denom = mask.clone().sum().clamp_min(1.0);
    Ok((nll * mask).sum() / denom)
}

/// [`masked_cross_entropy`] for sequences: `logits: [B, T, V]`, `targets: [B, T]`,
/// `keep: [B, T]` (true where the token counts).
pub fn masked_cross_entropy_seq(
    logits: Tensor<3>,
    targets: Tensor<2, Int>,
    keep: Tensor<2, Bool>,
) -> Result<Tensor<1>> {
    let [b, t, v] = logits.dims();
    if targets.dims() != [b, t] {
        return Err(shape_err("targets", targets.dims(), [b, t]));
    }
    if keep.dims() != [b, t] {
        return Err(shape_err("keep mask", keep.dims(), [b, t]));
    }
    masked_cross_entropy(
        logits.reshape([b * t, v]),
        targets.reshape([b * t]),
        keep.float().reshape([b * t]),
    )
}

/// Symmetric InfoNCE (CLIP): `a, b: [N, D]` paired by row, `logit_scale: [1]` is `t` with
/// scale `exp(t)` (CLIP initialises `t = ln(1/0.07)` and clamps `exp(t) ≤ 100`; see
/// [`LogitScale`]).
pub fn info_nce(a: Tensor<2>, b: Tensor<2>, logit_scale: Tensor<1>) -> Result<Tensor<1>> {
    let [n, d] = a.dims();
    if b.dims() != [n, d] {
        return Err(shape_err("b", b.dims(), [n, d]));
    }
    if logit_scale.dims() != [1] {
        return Err(shape_err("logit_scale", logit_scale.dims(), [1]));
    }
    let device = a.device();
    let scale = logit_scale.exp().reshape([1, 1]);
    let logits = l2_normalize(a, 1, 1e-12).matmul(l2_normalize(b, 1, 1e-12).transpose()) * scale;
    let targets = Tensor::<1, Int>::arange(0..n as i64, &device);
    let ab = nll_rows(logits.clone(), targets.clone()).mean();
    let ba = nll_rows(logits.transpose(), targets).mean();
    Ok((ab + ba) / 2.0)
}

/// A learnable CLIP temperature stored as `t = ln(scale)`.
#[derive(Module, Debug)]
pub struct LogitScale {
    /// `ln(scale)`, shape `[1]`.
    pub log_scale: Param<Tensor<1>>,
    /// Upper bound on `exp(t)` (CLIP: 100).
    pub max_scale: f64,
}

impl LogitScale {
    /// Start at `scale = 1 / temperature` (CLIP: temperature 0.07).
    pub fn new(temperature: f64, max_scale: f64, device: &Device) -> Self {
        let t = (1.0 / temperature).ln() as f32;
        Self {
            log_scale: Param::from_tensor(Tensor::from_floats([t], device)),
            max_scale,
        }
    }

    /// `t`, clamped so that `exp(t) ≤ max_scale`, shape `[1]`.
    pub fn value(&self) -> Tensor<1> {
        self.log_scale.val().clamp_max(self.max_scale.ln())
    }
}

/// Weighted pairwise sigmoid loss (SigLIP with per-pair weights):
/// `−Σ_ij w_ij · log σ(z_ij · (t·S_ij + b)) / N`.
///
/// `sim: [N, M]` similarities, `z: [N, M]` labels in {+1, −1}, `w: [N, M]` non-negative
/// weights, `t`, `b`: scale and bias, shape `[1]` (learnable or constant).
pub fn weighted_pairwise_sigmoid(
    sim: Tensor<2>,
    z: Tensor<2>,
    w: Tensor<2>,
    t: Tensor<1>,
    b: Tensor<1>,
) -> Result<Tensor<1>> {
    let [n, m] = sim.dims();
    if z.dims() != [n, m] {
        return Err(shape_err("labels z", z.dims(), [n, m]));
    }
    if w.dims() != [n, m] {
        return Err(shape_err("weights w", w.dims(), [n, m]));
    }
    if t.dims() != [1] || b.dims() != [1] {
        return Err(shape_err("t/b", (t.dims(), b.dims()), ([1], [1])));
    }
    let logits = sim * t.reshape([1, 1]) + b.reshape([1, 1]);
    let ll = log_sigmoid(z * logits);
    Ok((w * ll).sum().neg() / n as f64)
}

fn margin_checks(cos: &Tensor<2>, labels: &Tensor<1, Int>) -> Result<usize> {
    let [n, c] = cos.dims();
    if labels.dims() != [n] {
        return Err(shape_err("labels", labels.dims(), [n]));
    }
    check_ids(labels, c, "class label")?;
    Ok(n)
}

/// Additive-margin softmax (AM-softmax / CosFace): CE over `s·(cos − m·onehot(y))`.
///
/// `cos: [N, C]` cosines between normalised embeddings and class weights (see
/// [`CosineClassifier`]); VoxCeleb recipes use `s = 30`, `m = 0.2..0.4`.
pub fn am_softmax(cos: Tensor<2>, labels: Tensor<1, Int>, s: f64, m: f64) -> Result<Tensor<1>> {
    margin_checks(&cos, &labels)?;
    let [_, c] = cos.dims();
    let onehot = labels.clone().one_hot::<2>(c).float();
    Ok(nll_rows((cos - onehot * m) * s, labels).mean())
}

/// Additive-angular-margin softmax (AAM / ArcFace, no easy-margin): CE over
/// `s·cos(θ + m·onehot(y))`, with `cos` clamped to `[−1+1e−7, 1−1e−7]` before `acos`.
pub fn aam_softmax(cos: Tensor<2>, labels: Tensor<1, Int>, s: f64, m: f64) -> Result<Tensor<1>> {
    margin_checks(&cos, &labels)?;
    let [_, c] = cos.dims();
    let onehot = labels.clone().one_hot::<2>(c).float();
    let cos = cos.clamp(-1.0 + 1e-7, 1.0 - 1e-7);
    // cos(θ + m) = cos θ cos m − sin θ sin m, with sin θ = sqrt(1 − cos²θ) ≥ 0 on [0, π].
    let sin = (cos.clone().powi_scalar(2).neg() + 1.0)
        .clamp_min(0.0)
        .sqrt();
    let target = cos.clone() * m.cos() - sin * m.sin();
    let logits = cos.clone() + (target - cos) * onehot;
    Ok(nll_rows(logits * s, labels).mean())
}

/// Bradley–Terry preference loss `−mean log σ(β (r_chosen − r_rejected))`.
pub fn bradley_terry(chosen: Tensor<1>, rejected: Tensor<1>, beta: f64) -> Result<Tensor<1>> {
    if chosen.dims() != rejected.dims() {
        return Err(shape_err("rejected", rejected.dims(), chosen.dims()));
    }
    Ok(log_sigmoid((chosen - rejected) * beta).mean().neg())
}

/// Cosine logits against learnable class weights, the head for [`am_softmax`]/[`aam_softmax`].
#[derive(Module, Debug)]
pub struct CosineClassifier {
    /// Class weights `[n_classes, d]`.
    pub weight: Param<Tensor<2>>,
}

impl CosineClassifier {
    /// `n_classes` weights of width `d`, Xavier-normal initialised.
    pub fn new(d: usize, n_classes: usize, device: &Device) -> Self {
        let std = (2.0 / (d + n_classes) as f64).sqrt();
        let w = Tensor::random(
            [n_classes, d],
            burn::tensor::Distribution::Normal(0.0, std),
            device,
        );
        Self {
            weight: Param::from_tensor(w),
        }
    }

    /// `x: [N, d] -> [N, n_classes]` cosines.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        l2_normalize(x, 1, 1e-12).matmul(l2_normalize(self.weight.val(), 1, 1e-12).transpose())
    }
}
