//! The proxy generator's forward pass, its loss and that loss's gradient, fused into one
//! host pass over the anchors (used by [`crate::ProxyGenerator::forward_with_loss`]).
//!
//! Why: at the eval's batch (`B = 32`, `d_p = 32`, `n_p = 4`) the generator is a few
//! million flops spread over some 300 tiny tensor ops (forward and backward); per-op
//! dispatch, allocation and autodiff bookkeeping cost more than the arithmetic. The
//! generator is gradient-isolated (it reads detached features and only its own loss trains
//! it), so its whole forward and backward can run here, anchor by anchor, in cache-sized
//! buffers, with the gradient handed back to autodiff at the folded parameters.
//!
//! The function is that of [`crate::ProxyGenerator::forward`] followed by
//! [`crate::proxy::proxy_generator_loss`] (tests compare values and every parameter
//! gradient). Per anchor `i` and set `s` with members `j_1..j_m` (the shapes of the module
//! docs of [`crate::proxy`]):
//!
//! ```text
//! t_a = z_{j_a} + z_i + e_s              n_a = (t_a − mean t_a) / sqrt(var t_a + ε)
//! q_a = n_a W_qk + b_qk                  P = softmax_b(q_a · n_b)
//! h_a = t_a + (Σ_b P_ab n_b) W_vo + b_vo u_a = h_a W_1 + b_1,  g_a = GELU(u_a)
//! l_a = g_a W_2 + b_2                    A_{k,a} = softmax_a(l_{a,k})
//! ```
//!
//! then the generator loss of the module docs of [`crate::proxy::proxy_generator_loss`] on
//! the pooled proxies `Σ_a A_{k,a} x̂_{j_a}`, and the reverse pass through all of it. `exp` and
//! `erf` are vectorisable polynomial approximations (relative error ≈ 1e-7, absolute
//! ≤ 5e-7 in f32), so results match the tensor path to float rounding, not bit for bit.
//!
//! Layout: this file holds the inputs, the loop over anchors and its dispatch (compiled for
//! the CPU's vector level through [`ember_core::host::simd`]); [`forward`] the products of
//! the weights computed once per call and the forward pass of one set, [`loss`] the loss of
//! one anchor and its gradient with respect to the pooling weights, [`backward`] the reverse
//! pass of one set and the gradient accumulators, [`fold`] the folding of the raw parameters
//! into the pass's inputs and back. The matrix products and the `exp` / `erf` / softmax
//! kernels are ember-core's ([`ember_core::host::gemm`], [`ember_core::host::math`]).

mod backward;
mod fold;
mod forward;
mod loss;

pub(crate) use backward::Grads;
pub(crate) use fold::{RawParams, fold, unfold};

use crate::fda::NegWeight;
use backward::set_backward;
use ember_core::host::simd;
use forward::{Prepared, SetCache, set_forward};
use loss::{LossCache, anchor_loss};
use rayon::prelude::*;

/// Sizes of one call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dims {
    /// Batch size.
    pub b: usize,
    /// Generator width.
    pub dp: usize,
    /// Proxies per set.
    pub n_p: usize,
    /// Feature width of the pre-trained features.
    pub d: usize,
}

/// The generator loss's scalars.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LossScalars {
    /// `1/τ`.
    pub t: f32,
    /// Logit bias.
    pub bias: f32,
    pub neg_weight: NegWeight,
    pub alpha: f32,
    pub gamma: f32,
}

/// Row-major host inputs. Weights are `[in, out]` (`y = x W + b`).
pub(crate) struct Inputs<'a> {
    pub dims: Dims,
    /// Projected features `[B, dp]`.
    pub z: &'a [f32],
    /// Set embeddings `[2, dp]` (positive first).
    pub e: &'a [f32],
    pub wqk: &'a [f32],
    pub bqk: &'a [f32],
    pub wvo: &'a [f32],
    pub bvo: &'a [f32],
    pub w1: &'a [f32],
    pub b1: &'a [f32],
    /// `[dp, n_p]`.
    pub w2: &'a [f32],
    pub b2: &'a [f32],
    /// Pre-trained features `[B, d]`.
    pub pre: &'a [f32],
    /// Member indices, row-major `[B, K]` and `[B, B − 1 − K]`.
    pub pos: &'a [i64],
    pub neg: &'a [i64],
    pub loss: LossScalars,
}

/// Result of [`run`].
pub(crate) struct Output {
    /// Pooling weights over the members, `[B, n_p, K]` and `[B, n_p, B − 1 − K]`.
    pub pos: Vec<f32>,
    pub neg: Vec<f32>,
    /// The generator loss.
    pub loss: f64,
    pub grads: Grads,
}

/// Forward, loss and backward over all anchors, split over the rayon pool.
pub(crate) fn run(inp: &Inputs) -> Output {
    let Dims { b, n_p, .. } = inp.dims;
    let (kp, kn) = (inp.pos.len() / b, inp.neg.len() / b);
    let tr = Prepared::new(inp);
    // a few chunks per thread, so that work stealing evens out a busy core
    let per = b.div_ceil((4 * rayon::current_num_threads()).clamp(1, b));
    let chunks = b.div_ceil(per);
    // chunks come back in order, so their weights concatenate into the batch's
    let parts: Vec<Output> = (0..chunks)
        .into_par_iter()
        .map(|c| {
            let range = c * per..((c + 1) * per).min(b);
            let mut part = Output {
                pos: vec![0.0; range.len() * n_p * kp],
                neg: vec![0.0; range.len() * n_p * kn],
                loss: 0.0,
                grads: Grads::zeros(inp.dims),
            };
            part.loss = simd::dispatch(Anchors {
                inp,
                tr: &tr,
                range,
                pos: &mut part.pos,
                neg: &mut part.neg,
                g: &mut part.grads,
            });
            part
        })
        .collect();
    let mut out = Output {
        pos: Vec::with_capacity(b * n_p * kp),
        neg: Vec::with_capacity(b * n_p * kn),
        loss: 0.0,
        grads: Grads::zeros(inp.dims),
    };
    for part in parts {
        out.pos.extend(part.pos);
        out.neg.extend(part.neg);
        out.loss += part.loss;
        out.grads = out.grads.add(part.grads);
    }
    out.grads.finish(inp, &tr);
    out
}

/// The anchors `range` of one call: the loop of [`run`], compiled for the CPU's vector level
/// by [`simd::dispatch`] (the crate is built for baseline x86-64, where these loops would run
/// as 128-bit SSE).
struct Anchors<'a> {
    inp: &'a Inputs<'a>,
    tr: &'a Prepared,
    range: std::ops::Range<usize>,
    pos: &'a mut [f32],
    neg: &'a mut [f32],
    g: &'a mut Grads,
}

impl simd::Kernel for Anchors<'_> {
    type Output = f64;
    #[inline(always)]
    fn run<const FMA: bool>(self) -> f64 {
        anchors::<FMA>(self.inp, self.tr, self.range, self.pos, self.neg, self.g)
    }
}

/// `FMA`: use fused multiply-adds (only where the CPU has them: elsewhere `mul_add` is a
/// library call).
#[inline(always)]
fn anchors<const FMA: bool>(
    inp: &Inputs,
    tr: &Prepared,
    range: std::ops::Range<usize>,
    pos_out: &mut [f32],
    neg_out: &mut [f32],
    g: &mut Grads,
) -> f64 {
    let dims = inp.dims;
    let Dims { b, n_p, d, .. } = dims;
    let (kp, kn) = (inp.pos.len() / b, inp.neg.len() / b);
    let mut sets = [SetCache::new(kp, dims), SetCache::new(kn, dims)];
    let mut lc = LossCache::new(n_p, d, kp.max(kn));
    let mut loss = 0.0f64;
    for (r, i) in range.enumerate() {
        let idx = [
            &inp.pos[i * kp..(i + 1) * kp],
            &inp.neg[i * kn..(i + 1) * kn],
        ];
        for s in 0..2 {
            set_forward::<FMA>(inp, tr, i, idx[s], s, &mut sets[s]);
        }
        pos_out[r * n_p * kp..(r + 1) * n_p * kp].copy_from_slice(&sets[0].a);
        neg_out[r * n_p * kn..(r + 1) * n_p * kn].copy_from_slice(&sets[1].a);
        loss += anchor_loss::<FMA>(inp, i, idx, &mut sets, &mut lc);
        for s in 0..2 {
            set_backward::<FMA>(inp, tr, i, idx[s], s, &mut sets[s], g);
        }
    }
    loss
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The portable build of the kernel (no FMA, no wide vectors: what CPUs without AVX2
    /// run) against the dispatched one on the same inputs. The dispatched one is checked
    /// against the tensor path in `tests/properties.rs`.
    #[test]
    fn portable_kernel_matches_the_dispatched_one() {
        let (b, dp, n_p, d, k) = (10, 20, 3, 6, 3);
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = |n: usize, scale: f32| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * scale
                })
                .collect()
        };
        let (z, e, pre) = (rnd(b * dp, 2.0), rnd(2 * dp, 0.1), rnd(b * d, 2.0));
        let (wqk, bqk, wvo, bvo) = (
            rnd(dp * dp, 0.5),
            rnd(dp, 0.2),
            rnd(dp * dp, 0.5),
            rnd(dp, 0.2),
        );
        let (w1, b1, w2, b2) = (
            rnd(dp * dp, 0.5),
            rnd(dp, 0.2),
            rnd(dp * n_p, 0.5),
            rnd(n_p, 0.2),
        );
        // neighbours of i: the next k indices (cyclically); the others are non-neighbours
        let mut pos = Vec::new();
        let mut neg = Vec::new();
        for i in 0..b {
            let nb: Vec<usize> = (1..=k).map(|o| (i + o) % b).collect();
            pos.extend(nb.iter().map(|&j| j as i64));
            neg.extend(
                (0..b)
                    .filter(|j| *j != i && !nb.contains(j))
                    .map(|j| j as i64),
            );
        }
        let inp = Inputs {
            dims: Dims { b, dp, n_p, d },
            z: &z,
            e: &e,
            wqk: &wqk,
            bqk: &bqk,
            wvo: &wvo,
            bvo: &bvo,
            w1: &w1,
            b1: &b1,
            w2: &w2,
            b2: &b2,
            pre: &pre,
            pos: &pos,
            neg: &neg,
            loss: LossScalars {
                t: 10.0,
                bias: -2.0,
                neg_weight: NegWeight::OneMinusSim,
                alpha: 1.0,
                gamma: 0.5,
            },
        };
        let fast = run(&inp);
        let prep = Prepared::new(&inp);
        let mut base = Output {
            pos: vec![0.0; b * n_p * k],
            neg: vec![0.0; b * n_p * (b - 1 - k)],
            loss: 0.0,
            grads: Grads::zeros(inp.dims),
        };
        base.loss = anchors::<false>(
            &inp,
            &prep,
            0..b,
            &mut base.pos,
            &mut base.neg,
            &mut base.grads,
        );
        base.grads.finish(&inp, &prep);
        let close = |a: &[f32], r: &[f32], what: &str| {
            let scale = r.iter().fold(1e-3f32, |m, x| m.max(x.abs()));
            for (x, y) in a.iter().zip(r) {
                assert!(
                    (x - y).abs() <= 1e-5 * scale,
                    "{what}: {x} vs {y} (scale {scale})"
                );
            }
        };
        close(&fast.pos, &base.pos, "positive weights");
        close(&fast.neg, &base.neg, "negative weights");
        assert!((fast.loss - base.loss).abs() <= 1e-6 * base.loss.abs().max(1.0));
        let (mut f, mut r) = (fast.grads, base.grads);
        // Gradients relative to the largest one: `b_2`'s is zero in exact arithmetic (a
        // constant shift of one proxy's member logits leaves its softmax unchanged), so
        // both builds hold rounding noise there.
        let global = r
            .fields_mut()
            .iter()
            .flat_map(|v| v.iter())
            .fold(0f32, |m, x| m.max(x.abs()));
        for (i, (a, b)) in f.fields_mut().into_iter().zip(r.fields_mut()).enumerate() {
            for (x, y) in a.iter().zip(b.iter()) {
                assert!(
                    (x - y).abs() <= 1e-5 * global,
                    "gradient field {i}: {x} vs {y}"
                );
            }
        }
        assert!(base.loss > 0.0 && r.wqk.iter().any(|v| *v != 0.0));
    }
}
