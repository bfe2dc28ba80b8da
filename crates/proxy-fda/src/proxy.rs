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
//!
//! Implementation. [`ProxyGenerator::weights`] is this formula written out for one set
//! (masked `[B, B]` token grid, `Conv1d` layers); it is kept as the reference.
//! [`ProxyGenerator::forward`], which training uses, computes the same function of the same
//! parameters (equal up to float rounding, values and gradients; tested against `weights`)
//! with a fraction of the work:
//!
//! * only the member tokens of each set are computed (`K` per anchor for `X_i⁺`,
//!   `B − 1 − K` for `X_i⁻`, instead of `B` each): the masked ones never reach an output;
//! * the two 1-D convolutions with kernel 1 are implemented as the position-wise linears
//!   they are (a matmul on the `Conv1d` parameters, which keep their layout);
//! * the layer norm's affine map and the `q`/`k`/`v`/`o` products are folded into two
//!   `d_p × d_p` products;
//! * GELU is composed from elementwise ops whose backward needs no second `erf`.

use crate::fda::{FdaConfig, neg_weights};
use crate::fused;
use crate::knn::KnnGraph;
pub use crate::proxies::{Proxies, ProxySet};
use burn::module::Param;
use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::IndexingUpdateOp;
use burn::tensor::activation::{gelu, softmax, softplus};
use burn::tensor::module::linear;
use ember_core::host::to_host_finite;
use ember_core::ops::l2_normalize;
use ember_core::{Error, Result};

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
            norm: LayerNormConfig::new(dp).with_epsilon(LN_EPS).init(device),
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

impl ProxyGenerator {
    /// Proxies per set.
    pub fn n_p(&self) -> usize {
        self.n_p
    }

    /// Pooling weights over the members of `mask: [B, B]` (1 = member of anchor row's set),
    /// from features `x: [B, d]` (detached here) -> `[B, n_p, B]`.
    ///
    /// The reference formula for one set, written out as in the module docs (masked token
    /// grid, `Conv1d` layers); [`ProxyGenerator::forward`] computes both sets faster.
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
    ///
    /// Equal, up to float rounding, to [`ProxyGenerator::weights`] called once per set, but
    /// computed on the set members only and with the linear maps folded together (see the
    /// module docs).
    pub fn forward(&self, x: Tensor<2>, graph: &KnnGraph) -> Result<Proxies> {
        graph.check()?;
        let [b, _] = x.dims();
        if b != graph.b {
            return Err(Error::Shape(format!(
                "features have {b} rows, the kNN graph {}",
                graph.b
            )));
        }
        let device = x.device();
        let z = self.proj.forward(x.detach()); // [B, dp], shared by both sets
        let folded = self.folded();
        let members = Members::new(graph);
        Ok(Proxies {
            pos: self.members_pass(
                z.clone(),
                &folded,
                &members.pos,
                ProxySet::Positive,
                &device,
            ),
            neg: self.members_pass(z, &folded, &members.neg, ProxySet::Negative, &device),
        })
    }

    /// The pooling weights of both sets and the generator loss [`proxy_generator_loss`],
    /// computed together on the host (see the `fused` module): what a training step needs,
    /// for about a third of the cost of [`ProxyGenerator::forward`] followed by
    /// [`proxy_generator_loss`] at the eval's sizes.
    ///
    /// `x: [B, d]` are the features the generator pools (detached, as in `forward`), `pre`
    /// the pre-trained features of the loss. The returned proxies carry no gradient; the
    /// returned loss has the value of [`proxy_generator_loss`] and, on an autodiff device,
    /// back-propagates the same gradient into the generator's parameters (tested against the
    /// tensor path). Errors as [`ProxyGenerator::forward`] and [`proxy_generator_loss`],
    /// plus `n_p < 2` (the variance term needs two proxies) and non-finite inputs.
    pub fn forward_with_loss(
        &self,
        x: Tensor<2>,
        pre: Tensor<2>,
        graph: &KnnGraph,
        fda: &FdaConfig,
        cfg: &ProxyLossConfig,
    ) -> Result<(Proxies, Tensor<1>)> {
        fda.validate()?;
        graph.check()?;
        let [b, _] = x.dims();
        let [bp, d] = pre.dims();
        if b != graph.b || bp != b {
            return Err(Error::Shape(format!(
                "features have {b} rows, pre-trained features {bp}, the kNN graph {}",
                graph.b
            )));
        }
        if self.n_p < 2 {
            return Err(Error::InvalidInput(format!(
                "the generator loss's variance term needs n_p >= 2 proxies, got {}",
                self.n_p
            )));
        }
        let (dp, n_p) = (self.d_p, self.n_p);
        let device = x.device();
        let [_, d_x] = x.dims();
        let [d_in, _] = self.proj.weight.dims();
        if d_x != d_in {
            return Err(Error::Shape(format!(
                "features have width {d_x}, the generator expects {d_in}"
            )));
        }
        // Every float parameter, in `fused::unfold`'s order (the key bias included: it gets
        // a zero gradient, as on the tensor path).
        let missing = || {
            Error::InvalidInput("forward_with_loss needs every bias of the generator (as ProxyGeneratorConfig builds it)".into())
        };
        let bias = |b: &Option<Param<Tensor<1>>>| b.as_ref().map(|p| p.val()).ok_or_else(missing);
        let flat2 = |t: Tensor<2>| {
            let n = t.shape().num_elements();
            t.reshape([n])
        };
        let flat3 = |t: Tensor<3>| {
            let n = t.shape().num_elements();
            t.reshape([n])
        };
        let params: Vec<Tensor<1>> = vec![
            flat2(self.proj.weight.val()),
            bias(&self.proj.bias)?,
            flat2(self.set_emb.val()),
            self.norm.gamma.val(),
            bias(&self.norm.beta)?,
            flat2(self.q.weight.val()),
            bias(&self.q.bias)?,
            flat2(self.k.weight.val()),
            bias(&self.k.bias)?,
            flat2(self.v.weight.val()),
            bias(&self.v.bias)?,
            flat2(self.o.weight.val()),
            bias(&self.o.bias)?,
            flat3(self.conv1.weight.val()),
            bias(&self.conv1.bias)?,
            flat3(self.conv2.weight.val()),
            bias(&self.conv2.bias)?,
        ];
        let sizes: Vec<usize> = params.iter().map(|t| t.dims()[0]).collect();
        let flat = Tensor::cat(params, 0);
        let host = to_host_finite(flat.clone().detach(), "generator parameters")?;
        let x_host = to_host_finite(x.detach(), "features")?;
        let pre_host = to_host_finite(pre.detach(), "pre-trained features")?;
        let mut parts = Vec::with_capacity(sizes.len());
        let mut rest = host.as_slice();
        for &n in &sizes {
            let (a, r) = rest.split_at(n);
            parts.push(a);
            rest = r;
        }
        let raw = fused::RawParams {
            proj_w: parts[0],
            proj_b: parts[1],
            set_emb: parts[2],
            gamma: parts[3],
            beta: parts[4],
            wq: parts[5],
            bq: parts[6],
            wk: parts[7],
            wv: parts[9],
            bv: parts[10],
            wo: parts[11],
            bo: parts[12],
            conv1_w: parts[13],
            conv1_b: parts[14],
            conv2_w: parts[15],
            conv2_b: parts[16],
        };
        let folded = fused::fold(&raw, &x_host, b, d_x, dp, n_p);
        let members = Members::new(graph);
        let dims = fused::Dims { b, dp, n_p, d };
        let inputs = fused::Inputs {
            dims,
            z: &folded.z,
            e: raw.set_emb,
            wqk: &folded.wqk,
            bqk: &folded.bqk,
            wvo: &folded.wvo,
            bvo: &folded.bvo,
            w1: &folded.w1,
            b1: raw.conv1_b,
            w2: &folded.w2,
            b2: raw.conv2_b,
            pre: &pre_host,
            pos: &members.pos,
            neg: &members.neg,
            loss: fused::LossScalars {
                t: (1.0 / fda.tau) as f32,
                bias: fda.bias_value(graph) as f32,
                neg_weight: fda.neg_weight,
                alpha: cfg.alpha as f32,
                gamma: cfg.gamma as f32,
            },
        };
        let out = fused::run(&inputs);
        let grad: Vec<f32> = fused::unfold(&raw, &folded, &out.grads, &x_host, d_x, dims)
            .into_iter()
            .flatten()
            .collect();
        let n = grad.len();
        let grad = Tensor::<1>::from_data(TensorData::new(grad, [n]), &device);
        // Value `out.loss` (the difference is exactly zero), gradient `grad` at `flat`.
        let loss = ((flat.clone() - flat.detach()) * grad).sum() + out.loss;
        let dense = |w: &[f32], idx: &[i64]| {
            let m = idx.len() / b;
            let mut a = vec![0.0f32; b * n_p * b];
            for i in 0..b {
                for k in 0..n_p {
                    for (t, &j) in idx[i * m..(i + 1) * m].iter().enumerate() {
                        a[(i * n_p + k) * b + j as usize] = w[(i * n_p + k) * m + t];
                    }
                }
            }
            Tensor::<3>::from_data(TensorData::new(a, [b, n_p, b]), &device)
        };
        let proxies = Proxies {
            pos: dense(&out.pos, &members.pos),
            neg: dense(&out.neg, &members.neg),
        };
        Ok((proxies, loss))
    }

    /// The attention block's linear maps folded into two, for [`ProxyGenerator::members_pass`].
    ///
    /// With `n` the normalised tokens, `LN(t) = n ⊙ γ + β`, `q = LN(t) W_q + b_q` (likewise
    /// `k`, `v`) and `Σ_l a_jl = 1`:
    ///
    /// * `q_j · k_l / √d_p = (n_j W_qk + b_qk) · n_l + c_j`, with `W_qk = (γ⊙W_q)(γ⊙W_k)ᵀ/√d_p`,
    ///   `b_qk = (β W_q + b_q)(γ⊙W_k)ᵀ/√d_p`, and `c_j` constant over the keys `l`: the
    ///   softmax over `l` does not see it (nor does its gradient), so it is dropped;
    /// * `W_o(Σ_l a_jl v_l) + b_o = (Σ_l a_jl n_l) W_vo + b_vo`, with `W_vo = (γ⊙W_v) W_o`,
    ///   `b_vo = (β W_v + b_v) W_o + b_o`.
    ///
    /// So one `[·, d_p] × [d_p, d_p]` product gives the queries, the normalised tokens are
    /// the keys and the values, and one more product gives the attention output, instead of
    /// four products plus the layer norm's affine map, for the same function (up to float
    /// rounding) of the same parameters, which all get their gradients through the folded
    /// ones (except `b_k`, whose gradient is identically zero in exact arithmetic: it gets
    /// none).
    fn folded(&self) -> Folded {
        let dp = self.d_p;
        let gamma = self.norm.gamma.val().reshape([dp, 1]);
        let beta = self.norm.beta.as_ref().map(|b| b.val().reshape([1, dp]));
        // LN(t) W + b = n (γ⊙W) + (β W + b): weight [dp, dp] and bias [1, dp]
        let fold = |l: &Linear| {
            let w = l.weight.val();
            let b = add_opt(
                beta.clone().map(|bt| bt.matmul(w.clone())),
                l.bias.as_ref().map(|b| b.val().reshape([1, dp])),
            );
            (w * gamma.clone(), b)
        };
        let scale = 1.0 / (dp as f64).sqrt();
        let (wq, bq) = fold(&self.q);
        let (wk, _) = fold(&self.k);
        let (wv, bv) = fold(&self.v);
        let wk_t = wk.transpose();
        let wo = self.o.weight.val();
        let bo = self.o.bias.as_ref().map(|b| b.val().reshape([1, dp]));
        Folded {
            wqk: wq.matmul(wk_t.clone()) * scale,
            bqk: bq.map(|b| (b.matmul(wk_t) * scale).reshape([dp])),
            wvo: wv.matmul(wo.clone()),
            bvo: add_opt(bv.map(|b| b.matmul(wo)), bo).map(|b| b.reshape([dp])),
        }
    }

    /// The weights of one set from the projected features `z: [B, dp]`, computed on the
    /// `m` members of every anchor's set only (`idx`: row-major `[B, m]` member indices).
    ///
    /// In [`ProxyGenerator::weights`] a non-member token is masked out of every attention
    /// key set and every output (its weight is `exp(−1e9) = 0` and gets no gradient), and a
    /// member token attends to members only, so the members' outputs do not depend on the
    /// non-member tokens: this pass gathers the `m` member tokens of each anchor, runs the
    /// same layers on them unmasked (the attention's linear maps folded as in
    /// [`ProxyGenerator::folded`], the kernel-1 convolutions as the position-wise linears
    /// they are) and scatters the softmax weights back into the `[B, n_p, B]` layout.
    fn members_pass(
        &self,
        z: Tensor<2>,
        f: &Folded,
        idx: &[i64],
        set: ProxySet,
        device: &Device,
    ) -> Tensor<3> {
        let [b, dp] = z.dims();
        let m = idx.len() / b;
        let n_p = self.n_p;
        let e = self
            .set_emb
            .val()
            .narrow(0, if set == ProxySet::Positive { 0 } else { 1 }, 1)
            .reshape([1, 1, dp]);
        let gather = Tensor::<1, Int>::from_data(TensorData::new(idx.to_vec(), [b * m]), device);
        // tokens t[i, a] = z_{j_a} + z_i + e over the members j_a of anchor i
        let t = z.clone().select(0, gather).reshape([b, m, dp]) + z.reshape([b, 1, dp]) + e;
        let t = t.reshape([b * m, dp]);
        // the layer norm without its affine map (folded into the products)
        let c = t.clone() - t.clone().mean_dim(1);
        let var = (c.clone() * c.clone()).mean_dim(1);
        let n = c / (var + LN_EPS).sqrt();
        let q = linear(n.clone(), f.wqk.clone(), f.bqk.clone()).reshape([b, m, dp]);
        let n = n.reshape([b, m, dp]);
        let attn = softmax(q.matmul(n.clone().swap_dims(1, 2)), 2); // [B, m, m]
        let ctx = attn.matmul(n).reshape([b * m, dp]);
        let h = t + linear(ctx, f.wvo.clone(), f.bvo.clone()); // [B·m, dp]
        let logits = pointwise(&self.conv2, gelu_exact(pointwise(&self.conv1, h))); // [B·m, n_p]
        let w = softmax(logits.reshape([b, m, n_p]).swap_dims(1, 2), 2); // [B, n_p, m]
        let scatter: Vec<i64> = (0..b)
            .flat_map(|i| {
                let r = &idx[i * m..(i + 1) * m];
                (0..n_p).flat_map(move |_| r.iter().copied())
            })
            .collect();
        let scatter = Tensor::<3, Int>::from_data(TensorData::new(scatter, [b, n_p, m]), device);
        Tensor::zeros([b, n_p, b], device).scatter(2, scatter, w, IndexingUpdateOp::Add)
    }
}

/// Epsilon of the generator's layer norm.
const LN_EPS: f64 = 1e-5;

/// The folded attention maps of [`ProxyGenerator::folded`].
struct Folded {
    wqk: Tensor<2>,
    bqk: Option<Tensor<1>>,
    wvo: Tensor<2>,
    bvo: Option<Tensor<1>>,
}

fn add_opt(a: Option<Tensor<2>>, b: Option<Tensor<2>>) -> Option<Tensor<2>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a + b),
        (a, b) => a.or(b),
    }
}

/// Exact GELU, `x Φ(x) = ½ x (1 + erf(x/√2))`, from elementwise ops: the same values as
/// `gelu` (the same formula, in the same order), but a backward pass that reuses the
/// forward's `erf` and evaluates only `exp` (flex's fused `gelu` backward evaluates `erf`
/// again; this halves GELU's cost there).
fn gelu_exact<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    (x.clone() * 0.5) * ((x / core::f64::consts::SQRT_2).erf() + 1.0)
}

/// A kernel-1 `Conv1d` applied to `x: [N, C_in]` (one row per position) as the
/// position-wise linear it is: `y[l] = W[:, :, 0] x[l] + b` -> `[N, C_out]`.
fn pointwise(conv: &Conv1d, x: Tensor<2>) -> Tensor<2> {
    let [c_out, c_in, _] = conv.weight.dims();
    let w = conv.weight.val().reshape([c_out, c_in]).transpose(); // [C_in, C_out]
    linear(x, w, conv.bias.as_ref().map(|b| b.val()))
}

/// Row-major `[B, m]` member indices of both sets of a graph: `R_i` (`m = K`) and its
/// complement without `i` (`m = B − 1 − K`), each in increasing index order.
struct Members {
    pos: Vec<i64>,
    neg: Vec<i64>,
}

impl Members {
    fn new(graph: &KnnGraph) -> Self {
        let b = graph.b;
        let mut pos = Vec::with_capacity(b * graph.k);
        let mut neg = Vec::with_capacity(b * (b - 1 - graph.k));
        let mut is_nbr = vec![false; b];
        for (i, r) in graph.neighbours.iter().enumerate() {
            is_nbr.iter_mut().for_each(|f| *f = false);
            r.iter().for_each(|&j| is_nbr[j] = true);
            for (j, &f) in is_nbr.iter().enumerate() {
                if f {
                    pos.push(j as i64);
                } else if j != i {
                    neg.push(j as i64);
                }
            }
        }
        Self { pos, neg }
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
    let device = pre.device();
    let bias = fda.bias_value(graph);
    let t = 1.0 / fda.tau;
    // Both sets at once: columns `0..n_p` are the positive proxies, `n_p..2 n_p` the negative.
    let xn = l2_normalize(pre.clone(), 1, 1e-12).reshape([b, 1, d]);
    let pooled = proxies
        .both()
        .reshape([b * 2 * n_p, b])
        .matmul(pre)
        .reshape([b, 2 * n_p, d]);
    let p = l2_normalize(pooled, 2, 1e-12); // [B, 2 n_p, d]
    let c = (p.clone() * xn).sum_dim(2).reshape([b, 2 * n_p]);
    // z = +1 (positive) / −1 (negative): −log σ(z·logit) = softplus(−z·logit)
    let minus_z = Tensor::<1>::from_floats(
        &*(0..2 * n_p)
            .map(|k| if k < n_p { -1.0f32 } else { 1.0 })
            .collect::<Vec<_>>(),
        &device,
    )
    .reshape([1, 2 * n_p]);
    let ll = softplus((c.clone() * t + bias) * minus_z, 1.0);
    let c = c.detach();
    let w = Tensor::cat(
        vec![
            c.clone().narrow(1, 0, n_p).clamp_min(0.0),
            neg_weights(fda.neg_weight, c.narrow(1, n_p, n_p)),
        ],
        1,
    );
    // Each set's terms are means over equally many entries: their sum is twice the mean.
    let manifold = (ll * w).mean() * 2.0;
    let var = p.reshape([b, 2, n_p, d]).var(2).add_scalar(1e-4).sqrt(); // [B, 2, 1, d]
    let var_loss = (var.neg() + cfg.gamma).clamp_min(0.0).mean() * 2.0;
    Ok(manifold + var_loss * cfg.alpha)
}
