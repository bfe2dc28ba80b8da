//! Feature Distribution Alignment (FDA) and Proxy-FDA losses (Proxy-FDA §3.1–3.2).
//!
//! For anchor `i` of a batch of `B`, with fine-tuned cosines `S_ij = cos(x_i, x_j)` and the
//! kNN graph `R_i` of the frozen pre-trained space:
//!
//! `L_FDA^i = 1/(M−1) Σ_{j≠i} w_ij · −log σ(z_ij · (S_ij/τ + b))`
//!
//! with `z_ij = +1, w_ij = max(ŝ_ij, 0)` for neighbours `j ∈ R_i` (pulled together in
//! proportion to their pre-trained closeness) and `z_ij = −1, w_ij = ` [`NegWeight`] for the
//! others (pushed apart); `L_FDA = mean_i L_FDA^i`. This is
//! [`ember_core::loss::weighted_pairwise_sigmoid`] with `t = 1/τ`. Proxy-FDA appends the
//! generated proxies as extra columns (`M = B + 2 n_p`), see [`proxy_fda_loss`].

use crate::knn::KnnGraph;
use crate::proxy::Proxies;
use burn::prelude::*;
use ember_core::loss::weighted_pairwise_sigmoid;
use ember_core::ops::{cosine_matrix, l2_normalize};
use ember_core::{Error, Result};

/// Weight of a non-neighbour pair (the paper only says it is "a negative value"; the sign
/// lives in the label `z = −1` here, the magnitude is chosen by this enum).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum NegWeight {
    /// A constant magnitude (SigLIP's label −1 when 1.0). The default.
    Const(f64),
    /// `max(ŝ_ij, 0)`: formerly similar non-neighbours are pushed hardest.
    PreSim,
    /// `1 − ŝ_ij` (clamped to `[0, 2]`): dissimilar pairs are pushed hardest.
    OneMinusSim,
}

/// The logit bias `b` in `σ(z (S/τ + b))`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Bias {
    /// A fixed value.
    Fixed(f64),
    /// Per batch `b = −s̄_K / τ`, where `s̄_K` is the mean pre-trained cosine of the `K`-th
    /// neighbour: a pair at the neighbourhood boundary sits at `σ = ½`.
    Calibrated,
}

/// Hyper-parameters of the FDA loss.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct FdaConfig {
    /// Neighbours per anchor `K` (the paper uses `K > n`, the samples per class).
    pub k: usize,
    /// Temperature `τ` (`t = 1/τ`).
    pub tau: f64,
    /// Logit bias.
    pub bias: Bias,
    /// Magnitude of the non-neighbour weights.
    pub neg_weight: NegWeight,
}

impl Default for FdaConfig {
    fn default() -> Self {
        Self {
            k: 8,
            tau: 0.1,
            bias: Bias::Calibrated,
            neg_weight: NegWeight::Const(1.0),
        }
    }
}

impl FdaConfig {
    /// Check the values.
    pub fn validate(&self) -> Result<()> {
        if !(self.tau.is_finite() && self.tau > 0.0) {
            return Err(Error::InvalidInput(format!(
                "temperature must be > 0, got {}",
                self.tau
            )));
        }
        if let Bias::Fixed(b) = self.bias
            && !b.is_finite()
        {
            return Err(Error::NonFinite(format!("bias {b}")));
        }
        if let NegWeight::Const(c) = self.neg_weight
            && !(c.is_finite() && c >= 0.0)
        {
            return Err(Error::InvalidInput(format!(
                "non-neighbour weight must be finite and >= 0, got {c}"
            )));
        }
        Ok(())
    }

    /// The bias value for this batch's graph.
    pub fn bias_value(&self, graph: &KnnGraph) -> f64 {
        match self.bias {
            Bias::Fixed(b) => b,
            Bias::Calibrated => -graph.mean_kth_sim() / self.tau,
        }
    }
}

/// Magnitude of non-neighbour weights for pre-trained cosines `s` (elementwise).
pub(crate) fn neg_weights(mode: NegWeight, s: Tensor<2>) -> Tensor<2> {
    match mode {
        NegWeight::Const(c) => s.zeros_like() + c,
        NegWeight::PreSim => s.clamp_min(0.0),
        NegWeight::OneMinusSim => (s.neg() + 1.0).clamp(0.0, 2.0),
    }
}

/// `(z, w)` for the real-sample columns: labels ±1 (0 on the diagonal) and weights.
fn real_labels_weights(
    cfg: &FdaConfig,
    graph: &KnnGraph,
    device: &Device,
) -> (Tensor<2>, Tensor<2>) {
    let (pos, neg, sim) = graph.tensors(device);
    let z = pos.clone() - neg.clone();
    let w = pos * sim.clone().clamp_min(0.0) + neg * neg_weights(cfg.neg_weight, sim);
    (z, w)
}

fn check_ft(ft: &Tensor<2>, graph: &KnnGraph) -> Result<()> {
    let [b, _] = ft.dims();
    if b != graph.b {
        return Err(Error::Shape(format!(
            "fine-tuned features have {b} rows, the kNN graph {}",
            graph.b
        )));
    }
    if graph.k != graph.neighbours.first().map_or(0, Vec::len) {
        return Err(Error::InvalidInput("corrupt kNN graph".into()));
    }
    Ok(())
}

/// FDA loss of fine-tuned features `ft: [B, d]` (differentiable) against the pre-trained
/// kNN `graph` of the same batch -> `[1]`. See the module docs for the formula.
pub fn fda_loss(ft: Tensor<2>, graph: &KnnGraph, cfg: &FdaConfig) -> Result<Tensor<1>> {
    cfg.validate()?;
    check_ft(&ft, graph)?;
    let bias = Tensor::<1>::from_floats([cfg.bias_value(graph) as f32], &ft.device());
    fda_loss_with_bias(ft, graph, cfg, bias)
}

/// [`fda_loss`] with an explicit (e.g. learnable) bias tensor `b: [1]`.
pub fn fda_loss_with_bias(
    ft: Tensor<2>,
    graph: &KnnGraph,
    cfg: &FdaConfig,
    bias: Tensor<1>,
) -> Result<Tensor<1>> {
    cfg.validate()?;
    check_ft(&ft, graph)?;
    let device = ft.device();
    let b = graph.b;
    let s = cosine_matrix(ft.clone(), ft);
    let (z, w) = real_labels_weights(cfg, graph, &device);
    let t = Tensor::<1>::from_floats([(1.0 / cfg.tau) as f32], &device);
    weighted_pairwise_sigmoid(s, z, w / (b - 1) as f64, t, bias)
}

/// Proxy-FDA loss: [`fda_loss`] over the real columns plus `n_p` positive and `n_p`
/// negative proxies per anchor.
///
/// `ft: [B, d]` fine-tuned features (differentiable), `pre: [B, d]` pre-trained features
/// (detached here), `proxies`: the generator's pooling weights (detached here, so the encoder
/// gets gradients through the pooled `x_j` and the generator only through its own loss).
/// Proxy columns: `z = +1, w = max(ŵ^{p+}, 0)` with `ŵ^{p+}_{ik} = cos(x̂_i, Σ_j A⁺_{ikj} x̂_j)`
/// and `z = −1, w = NegWeight(ŵ^{p−})`; the fine-tuned column value is
/// `cos(x_i, Σ_j A_{ikj} x_j)`. Every row is averaged over its `B − 1 + 2 n_p` columns.
pub fn proxy_fda_loss(
    ft: Tensor<2>,
    pre: Tensor<2>,
    graph: &KnnGraph,
    proxies: &Proxies,
    cfg: &FdaConfig,
) -> Result<Tensor<1>> {
    cfg.validate()?;
    check_ft(&ft, graph)?;
    let [b, d] = ft.dims();
    if pre.dims() != [b, d] {
        return Err(Error::Shape(format!(
            "pre-trained features {:?}, expected {:?}",
            pre.dims(),
            [b, d]
        )));
    }
    proxies.check(b)?;
    let device = ft.device();
    let n_p = proxies.n_p();
    let pre = pre.detach();
    let s = cosine_matrix(ft.clone(), ft.clone());
    let (z, w) = real_labels_weights(cfg, graph, &device);
    let mut sims = vec![s];
    let mut zs = vec![z];
    let mut ws = vec![w];
    for (a, positive) in [(&proxies.pos, true), (&proxies.neg, false)] {
        let a = a.clone().detach();
        let s_ft = anchor_proxy_cos(ft.clone(), a.clone());
        let s_pre = anchor_proxy_cos(pre.clone(), a);
        let (zz, ww) = if positive {
            (s_pre.ones_like(), s_pre.clamp_min(0.0))
        } else {
            (s_pre.ones_like().neg(), neg_weights(cfg.neg_weight, s_pre))
        };
        sims.push(s_ft);
        zs.push(zz);
        ws.push(ww);
    }
    let s = Tensor::cat(sims, 1);
    let z = Tensor::cat(zs, 1);
    let w = Tensor::cat(ws, 1) / (b - 1 + 2 * n_p) as f64;
    let t = Tensor::<1>::from_floats([(1.0 / cfg.tau) as f32], &device);
    let bias = Tensor::<1>::from_floats([cfg.bias_value(graph) as f32], &device);
    weighted_pairwise_sigmoid(s, z, w, t, bias)
}

/// `cos(x_i, Σ_j A_{ikj} x_j)` for `x: [B, d]`, `a: [B, n_p, B]` -> `[B, n_p]`.
pub(crate) fn anchor_proxy_cos(x: Tensor<2>, a: Tensor<3>) -> Tensor<2> {
    let [b, d] = x.dims();
    let [_, n_p, _] = a.dims();
    let p = l2_normalize(a.matmul(x.clone().unsqueeze_dim::<3>(0)), 2, 1e-12); // [B, n_p, d]
    let xn = l2_normalize(x, 1, 1e-12).reshape([b, 1, d]);
    (p * xn).sum_dim(2).reshape([b, n_p])
}
