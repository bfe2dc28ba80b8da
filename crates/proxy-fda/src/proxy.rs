//! The proxy generator of Proxy-FDA (§3.2): one attention layer and two 1-D convolutions
//! (~22k parameters at `d = 512`) that pool each anchor's neighbour set `X_i⁺` and
//! non-neighbour set `X_i⁻` into `n_p` proxies each, as convex combinations (softmax pooling
//! weights over the set members), plus its own loss.
//!
//! Reconstruction (the paper gives only the layer counts and size): for anchor `i` and set
//! `Σ ∈ {+, −}`, tokens `t_ij = P x_j + P x_i + e_Σ` (shared projection `P: d → d_p`, set
//! embedding `e_Σ`); one single-head self-attention over the member tokens (non-members
//! masked), `h = t + W_o Attn(t)`; `conv1d(d_p→d_p, 1) → GELU → conv1d(d_p→n_p, 1)` gives
//! `[n_p, B]` logits per anchor; a masked softmax over members gives `A_i ∈ Δ^{|Σ_i|}` per proxy.

use crate::fda::{FdaConfig, neg_weights};
use crate::knn::KnnGraph;
use burn::module::Param;
use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{gelu, softmax, softplus};
use ember_core::ops::l2_normalize;
use ember_core::{Error, Result};

/// Which set a proxy is pooled from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxySet {
    /// Neighbours `X_i⁺`.
    Positive,
    /// Non-neighbours `X_i⁻`.
    Negative,
}

/// Configuration of a [`ProxyGenerator`].
#[derive(Config, Debug)]
pub struct ProxyGeneratorConfig {
    /// Feature width `d`.
    pub d: usize,
    /// Generator width `d_p`.
    #[config(default = 32)]
    pub d_p: usize,
    /// Proxies per set `n_p`.
    #[config(default = 4)]
    pub n_p: usize,
}

impl ProxyGeneratorConfig {
    /// Build the generator on `device`.
    pub fn init(&self, device: &Device) -> ProxyGenerator {
        let dp = self.d_p;
        ProxyGenerator {
            proj: LinearConfig::new(self.d, dp).init(device),
            set_emb: Param::from_tensor(Tensor::random(
                [2, dp],
                burn::tensor::Distribution::Normal(0.0, 0.02),
                device,
            )),
            norm: LayerNormConfig::new(dp).init(device),
            q: LinearConfig::new(dp, dp).init(device),
            k: LinearConfig::new(dp, dp).init(device),
            v: LinearConfig::new(dp, dp).init(device),
            o: LinearConfig::new(dp, dp).init(device),
            conv1: Conv1dConfig::new(dp, dp, 1).init(device),
            conv2: Conv1dConfig::new(dp, self.n_p, 1).init(device),
            d_p: dp,
            n_p: self.n_p,
        }
    }
}

/// See the module docs.
#[derive(Module, Debug)]
pub struct ProxyGenerator {
    proj: Linear,
    set_emb: Param<Tensor<2>>,
    norm: LayerNorm,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    conv1: Conv1d,
    conv2: Conv1d,
    d_p: usize,
    n_p: usize,
}

/// Pooling weights of one batch: `A⁺, A⁻: [B, n_p, B]`, rows on the simplex over members.
#[derive(Debug, Clone)]
pub struct Proxies {
    /// Weights over the neighbour set.
    pub pos: Tensor<3>,
    /// Weights over the non-neighbour set.
    pub neg: Tensor<3>,
}

impl Proxies {
    /// Proxies per set.
    pub fn n_p(&self) -> usize {
        self.pos.dims()[1]
    }

    pub(crate) fn check(&self, b: usize) -> Result<()> {
        let [b1, n1, c1] = self.pos.dims();
        let [b2, n2, c2] = self.neg.dims();
        if b1 != b || c1 != b || [b2, n2, c2] != [b1, n1, c1] || n1 == 0 {
            return Err(Error::Shape(format!(
                "proxy weights {:?}/{:?} do not match a batch of {b}",
                self.pos.dims(),
                self.neg.dims()
            )));
        }
        Ok(())
    }

    /// Pool features `x: [B, d]` with the weights of `set` -> `[B, n_p, d]` (not normalised).
    pub fn pool(&self, set: ProxySet, x: Tensor<2>) -> Tensor<3> {
        let a = match set {
            ProxySet::Positive => self.pos.clone(),
            ProxySet::Negative => self.neg.clone(),
        };
        a.matmul(x.unsqueeze_dim::<3>(0))
    }
}

impl ProxyGenerator {
    /// Proxies per set.
    pub fn n_p(&self) -> usize {
        self.n_p
    }

    /// Pooling weights over the members of `mask: [B, B]` (1 = member of anchor row's set),
    /// from features `x: [B, d]` (detached here) -> `[B, n_p, B]`.
    pub fn weights(&self, x: Tensor<2>, mask: Tensor<2>, set: ProxySet) -> Tensor<3> {
        let [b, _] = x.dims();
        let dp = self.d_p;
        let z = self.proj.forward(x.detach()); // [B, dp]
        let e = self
            .set_emb
            .val()
            .narrow(0, if set == ProxySet::Positive { 0 } else { 1 }, 1)
            .reshape([1, 1, dp]);
        // tokens t[i, j] = z_j + z_i + e
        let t = z.clone().reshape([1, b, dp]) + z.reshape([b, 1, dp]) + e; // [B, B, dp]
        let h = self.norm.forward(t.clone());
        let (q, k, v) = (
            self.q.forward(h.clone()),
            self.k.forward(h.clone()),
            self.v.forward(h),
        );
        let key_mask = (mask.clone().neg() + 1.0).reshape([b, 1, b]) * -1e9;
        let scores = q.matmul(k.swap_dims(1, 2)) / (dp as f64).sqrt() + key_mask; // [B, B, B]
        let ctx = softmax(scores, 2).matmul(v);
        let h = t + self.o.forward(ctx); // [B, B(tokens), dp]
        let c = h.swap_dims(1, 2); // [B, dp, B]: tokens are the 1-D axis
        let logits = self.conv2.forward(gelu(self.conv1.forward(c))); // [B, n_p, B]
        let member = (mask.neg() + 1.0).reshape([b, 1, b]) * -1e9;
        softmax(logits + member, 2)
    }

    /// Pooling weights for both sets of `graph` from features `x: [B, d]`.
    pub fn forward(&self, x: Tensor<2>, graph: &KnnGraph) -> Result<Proxies> {
        let [b, _] = x.dims();
        if b != graph.b {
            return Err(Error::Shape(format!(
                "features have {b} rows, the kNN graph {}",
                graph.b
            )));
        }
        let (pos, neg, _) = graph.tensors(&x.device());
        Ok(Proxies {
            pos: self.weights(x.clone(), pos, ProxySet::Positive),
            neg: self.weights(x, neg, ProxySet::Negative),
        })
    }
}

/// Hyper-parameters of the generator loss `L_proxy = L_{P+} + L_{P−}`.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct ProxyLossConfig {
    /// Weight `α` of the variance term.
    pub alpha: f64,
    /// Target per-dimension standard deviation `γ` of an anchor's proxies (unit-norm space).
    pub gamma: f64,
}

impl Default for ProxyLossConfig {
    fn default() -> Self {
        Self {
            alpha: 1.0,
            gamma: 0.05,
        }
    }
}

/// The generator's loss, in the pre-trained space (features detached, so only the pooling
/// weights receive gradients): for each set,
///
/// * "stay on the manifold": `mean_{ik} −log σ(z (ŵ^p_{ik}/τ + b))` with `z = +1` for
///   positive proxies (they must still look like neighbours of `x̂_i`) and `z = −1` for negative
///   ones, weighted as the FDA pairs;
/// * variance: `α · mean_{i,d} max(0, γ − sqrt(Var_k p̂_{ikd} + 1e−4))` over the `n_p`
///   unit-norm proxies of each anchor (against collapse onto one member).
pub fn proxy_generator_loss(
    pre: Tensor<2>,
    graph: &KnnGraph,
    proxies: &Proxies,
    fda: &FdaConfig,
    cfg: &ProxyLossConfig,
) -> Result<Tensor<1>> {
    fda.validate()?;
    let [b, d] = pre.dims();
    if b != graph.b {
        return Err(Error::Shape(format!(
            "pre-trained features {b} rows, graph {}",
            graph.b
        )));
    }
    proxies.check(b)?;
    let pre = pre.detach();
    let n_p = proxies.n_p();
    let bias = fda.bias_value(graph);
    let t = 1.0 / fda.tau;
    let xn = l2_normalize(pre.clone(), 1, 1e-12).reshape([b, 1, d]);
    let mut total = Tensor::<1>::zeros([1], &pre.device());
    for set in [ProxySet::Positive, ProxySet::Negative] {
        let p = l2_normalize(proxies.pool(set, pre.clone()), 2, 1e-12); // [B, n_p, d]
        let c = (p.clone() * xn.clone()).sum_dim(2).reshape([b, n_p]);
        let logit = c.clone() * t + bias;
        let (ll, w) = match set {
            ProxySet::Positive => (softplus(logit.neg(), 1.0), c.detach().clamp_min(0.0)),
            ProxySet::Negative => (
                softplus(logit, 1.0),
                neg_weights(fda.neg_weight, c.detach()),
            ),
        };
        let manifold = (ll * w).mean();
        let var = p.var(1).add_scalar(1e-4).sqrt(); // [B, 1, d]
        let var_loss = (var.neg() + cfg.gamma).clamp_min(0.0).mean();
        total = total + manifold + var_loss * cfg.alpha;
    }
    Ok(total)
}
