//! The loss of one anchor (both sets) and its gradient with respect to the pooling weights.

use super::forward::SetCache;
use super::{Dims, Inputs};
use crate::fda::NegWeight;
use ember_core::host::gemm::{Lhs, dot8 as dot, matmul_into};
use ember_core::host::math::axpy;

/// Per-anchor scratch of the loss, per set: the members' features `[m, d]`, pooled
/// proxies, their normalised values and gradients `[n_p, d]`, per-dimension statistics.
pub(super) struct LossCache {
    xn: Vec<f32>,
    members: Vec<f32>,
    pooled: Vec<f32>,
    norm: Vec<f32>,
    p: Vec<f32>,
    dp: Vec<f32>,
    mean: Vec<f32>,
    coef: Vec<f32>,
}

impl LossCache {
    pub(super) fn new(n_p: usize, d: usize, max_members: usize) -> Self {
        Self {
            xn: vec![0.0; d],
            members: vec![0.0; max_members * d],
            pooled: vec![0.0; n_p * d],
            norm: vec![0.0; n_p],
            p: vec![0.0; n_p * d],
            dp: vec![0.0; n_p * d],
            mean: vec![0.0; d],
            coef: vec![0.0; d],
        }
    }
}

/// The loss terms of anchor `i` (already scaled to their share of the batch mean); leaves
/// `∂L/∂A` in each set's `dl` (as `[n_p, m]`).
#[inline(always)]
pub(super) fn anchor_loss<const FMA: bool>(
    inp: &Inputs,
    i: usize,
    idx: [&[i64]; 2],
    sets: &mut [SetCache; 2],
    lc: &mut LossCache,
) -> f64 {
    let Dims { b, n_p, d, .. } = inp.dims;
    let ls = inp.loss;
    let xi = &inp.pre[i * d..(i + 1) * d];
    let xnorm = dot(xi, xi).sqrt().max(1e-12);
    for (o, x) in lc.xn.iter_mut().zip(xi) {
        *o = x / xnorm;
    }
    let mut manifold = 0.0f64;
    let mut hinge = 0.0f64;
    let w_manifold = 1.0 / (b * n_p) as f32;
    let w_var = ls.alpha / (b * d) as f32;
    let denom = (n_p - 1) as f32;
    for s in 0..2 {
        let c = &mut sets[s];
        let m = c.m;
        // the members' features, gathered: X_s [m, d]; pooled U = A X_s [n_p, d]
        let xs = &mut lc.members[..m * d];
        for (a, &j) in idx[s].iter().enumerate() {
            xs[a * d..(a + 1) * d].copy_from_slice(&inp.pre[j as usize * d..(j as usize + 1) * d]);
        }
        let (pooled, p) = (&mut lc.pooled[..n_p * d], &mut lc.p[..n_p * d]);
        matmul_into::<FMA>(pooled, false, n_p, Lhs::rows(&c.a, m), m, xs, d);
        let dp = &mut lc.dp[..n_p * d];
        dp.fill(0.0);
        for k in 0..n_p {
            let (u, pk) = (&pooled[k * d..(k + 1) * d], &mut p[k * d..(k + 1) * d]);
            let norm = dot(u, u).sqrt().max(1e-12);
            lc.norm[k] = norm;
            for (p, u) in pk.iter_mut().zip(u) {
                *p = u / norm;
            }
            let cos = dot(pk, &lc.xn);
            // −log σ(z (cos/τ + b)) = softplus(−z (cos/τ + b)), z = +1 / −1
            let mz = if s == 0 { -1.0 } else { 1.0 };
            let arg = (cos * ls.t + ls.bias) * mz;
            let (sp, dsp) = if arg > 20.0 {
                (arg as f64, 1.0)
            } else {
                let e = (arg as f64).exp();
                (e.ln_1p(), (e / (1.0 + e)) as f32)
            };
            let w = if s == 0 {
                cos.max(0.0)
            } else {
                match ls.neg_weight {
                    NegWeight::Const(v) => v as f32,
                    NegWeight::PreSim => cos.max(0.0),
                    NegWeight::OneMinusSim => (1.0 - cos).clamp(0.0, 2.0),
                }
            };
            manifold += sp * w as f64;
            axpy(
                &mut dp[k * d..(k + 1) * d],
                w * w_manifold * dsp * mz * ls.t,
                &lc.xn,
            );
        }
        // variance hinge over the n_p proxies of this set, per dimension
        let (mean, coef) = (&mut lc.mean[..d], &mut lc.coef[..d]);
        mean.fill(0.0);
        for k in 0..n_p {
            axpy(mean, 1.0 / n_p as f32, &p[k * d..(k + 1) * d]);
        }
        coef.fill(0.0);
        for k in 0..n_p {
            for ((v, x), mu) in coef.iter_mut().zip(&p[k * d..(k + 1) * d]).zip(mean.iter()) {
                *v += (x - mu) * (x - mu);
            }
        }
        // coef becomes ∂L/∂(p_k − mean) / (p_k − mean): −w_var / sd · 1/(n_p − 1) where the
        // hinge is active, else 0
        for v in coef.iter_mut() {
            let sd = (*v / denom + 1e-4).sqrt();
            if ls.gamma - sd > 0.0 {
                hinge += (ls.gamma - sd) as f64;
                *v = -w_var / sd / denom;
            } else {
                *v = 0.0;
            }
        }
        for k in 0..n_p {
            let (g, pk) = (&mut dp[k * d..(k + 1) * d], &p[k * d..(k + 1) * d]);
            for (((g, x), mu), cf) in g.iter_mut().zip(pk).zip(mean.iter()).zip(coef.iter()) {
                *g += cf * (x - mu);
            }
        }
        // back through the normalisation and the pooling: ∂L/∂A_{k,a} = ∂L/∂u_k · x̂_{j_a}
        for k in 0..n_p {
            let (pk, g) = (&p[k * d..(k + 1) * d], &mut dp[k * d..(k + 1) * d]);
            if lc.norm[k] > 1e-12 {
                let pd = dot(pk, g);
                let inv = 1.0 / lc.norm[k];
                for (g, p) in g.iter_mut().zip(pk) {
                    *g = (*g - p * pd) * inv;
                }
            } else {
                for g in g.iter_mut() {
                    *g *= 1e12;
                }
            }
            for a in 0..m {
                c.dl[k * m + a] = dot(g, &xs[a * d..(a + 1) * d]);
            }
        }
    }
    manifold * w_manifold as f64 + hinge * w_var as f64
}
