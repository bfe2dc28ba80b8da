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
use crate::proxies::Proxies;
use crate::util::tensor2;
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
    let m = b + 2 * n_p;
    // `cosine_matrix(ft, ft)`, normalising once (the anchors of the proxy columns too)
    let ftn = l2_normalize(ft.clone(), 1, 1e-12);
    let s = ftn.clone().matmul(ftn.clone().transpose());
    // Both proxy sets at once: columns `0..n_p` positive, `n_p..2 n_p` negative.
    let a = proxies.both().detach();
    let s_ft = anchor_proxy_cos(ft, ftn, a.clone()); // [B, 2 n_p]
    let pre = pre.detach();
    let s_pre = anchor_proxy_cos(pre.clone(), l2_normalize(pre, 1, 1e-12), a);
    let (z, w) = labels_weights_host(cfg, graph, n_p);
    let z = tensor2(z, b, m, &device);
    let w_p = Tensor::cat(
        vec![
            s_pre.clone().narrow(1, 0, n_p).clamp_min(0.0),
            neg_weights(cfg.neg_weight, s_pre.narrow(1, n_p, n_p)),
        ],
        1,
    );
    let s = Tensor::cat(vec![s, s_ft], 1);
    let w = Tensor::cat(vec![tensor2(w, b, b, &device), w_p], 1) / (m - 1) as f64;
    let t = Tensor::<1>::from_floats([(1.0 / cfg.tau) as f32], &device);
    let bias = Tensor::<1>::from_floats([cfg.bias_value(graph) as f32], &device);
    weighted_pairwise_sigmoid(s, z, w, t, bias)
}

/// [`real_labels_weights`] on the host (the same `f32` values), with the labels of `n_p`
/// positive and `n_p` negative proxy columns appended: `z: [B, B + 2 n_p]`, `w: [B, B]`.
fn labels_weights_host(cfg: &FdaConfig, graph: &KnnGraph, n_p: usize) -> (Vec<f32>, Vec<f32>) {
    let b = graph.b;
    let m = b + 2 * n_p;
    let pos = graph.pos_mask();
    let neg_w = |s: f32| match cfg.neg_weight {
        NegWeight::Const(c) => c as f32,
        NegWeight::PreSim => s.max(0.0),
        NegWeight::OneMinusSim => (1.0 - s).clamp(0.0, 2.0),
    };
    let mut z = vec![0.0f32; b * m];
    let mut w = vec![0.0f32; b * b];
    for i in 0..b {
        for j in 0..b {
            let ij = i * b + j;
            let s = graph.sim[ij];
            if pos[ij] > 0.0 {
                z[i * m + j] = 1.0;
                w[ij] = s.max(0.0);
            } else if i != j {
                z[i * m + j] = -1.0;
                w[ij] = neg_w(s);
            }
        }
        z[i * m + b..i * m + b + n_p].fill(1.0);
        z[i * m + b + n_p..(i + 1) * m].fill(-1.0);
    }
    (z, w)
}

/// `cos(x_i, Σ_j A_{ikj} x_j)` for `x: [B, d]` with its normalised rows `xn`, and
/// `a: [B, n, B]` -> `[B, n]` (the pooling as one `[B·n, B] × [B, d]` product).
pub(crate) fn anchor_proxy_cos(x: Tensor<2>, xn: Tensor<2>, a: Tensor<3>) -> Tensor<2> {
    let [b, d] = x.dims();
    let [_, n, _] = a.dims();
    let p = a.reshape([b * n, b]).matmul(x).reshape([b, n, d]);
    let p = l2_normalize(p, 2, 1e-12);
    (p * xn.reshape([b, 1, d])).sum_dim(2).reshape([b, n])
}
