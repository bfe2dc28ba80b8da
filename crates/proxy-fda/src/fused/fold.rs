//! The generator's raw parameters folded into the inputs of the fused pass ([`fold`]), and
//! the pass's gradients unfolded back onto the raw parameters ([`unfold`]).

use super::{Dims, Grads};
use ember_core::host::gemm::{Lhs, dot8 as dot, matmul, matmul_into, transpose};
use ember_core::host::math::axpy;

/// The generator's raw parameters, row-major on the host, Burn's layouts: `Linear`
/// weights `[in, out]`, `Conv1d` weights `[out, in, 1]`.
pub(crate) struct RawParams<'a> {
    pub proj_w: &'a [f32],
    pub proj_b: &'a [f32],
    pub set_emb: &'a [f32],
    pub gamma: &'a [f32],
    pub beta: &'a [f32],
    pub wq: &'a [f32],
    pub bq: &'a [f32],
    pub wk: &'a [f32],
    pub wv: &'a [f32],
    pub bv: &'a [f32],
    pub wo: &'a [f32],
    pub bo: &'a [f32],
    pub conv1_w: &'a [f32],
    pub conv1_b: &'a [f32],
    pub conv2_w: &'a [f32],
    pub conv2_b: &'a [f32],
}

/// What [`fold`] computes from [`RawParams`] and the features: the inputs of [`run`], and
/// the intermediate products its reverse pass needs.
pub(crate) struct Folded {
    pub z: Vec<f32>,
    pub wqk: Vec<f32>,
    pub bqk: Vec<f32>,
    pub wvo: Vec<f32>,
    pub bvo: Vec<f32>,
    pub w1: Vec<f32>,
    pub w2: Vec<f32>,
    /// `γ ⊙ W_q`, `γ ⊙ W_k` (rows scaled), `γ ⊙ W_v`.
    aq: Vec<f32>,
    ak: Vec<f32>,
    av: Vec<f32>,
    /// `β W_q + b_q`, `β W_v + b_v`.
    bq1: Vec<f32>,
    bv1: Vec<f32>,
}

/// `diag(γ) W` for `W: [dp, n]`.
fn scale_rows(gamma: &[f32], w: &[f32], n: usize) -> Vec<f32> {
    w.chunks_exact(n)
        .zip(gamma)
        .flat_map(|(r, &g)| r.iter().map(move |v| v * g))
        .collect()
}

/// The projection `z = x W_p + b_p`, the kernel-1 convolutions as `[in, out]` matrices and
/// the attention maps folded as in `ProxyGenerator::folded` (`LN(t) W + b = n (γ ⊙ W) +
/// (β W + b)`; `W_qk = (γ⊙W_q)(γ⊙W_k)ᵀ/√d_p`, `b_qk = (β W_q + b_q)(γ⊙W_k)ᵀ/√d_p`, `W_vo =
/// (γ⊙W_v) W_o`, `b_vo = (β W_v + b_v) W_o + b_o`; the key bias drops out of the softmax).
pub(crate) fn fold(
    raw: &RawParams,
    x: &[f32],
    b: usize,
    d: usize,
    dp: usize,
    n_p: usize,
) -> Folded {
    let s = 1.0 / (dp as f32).sqrt();
    let mut z = matmul(x, raw.proj_w, b, d, dp);
    for r in z.chunks_exact_mut(dp) {
        axpy(r, 1.0, raw.proj_b);
    }
    let (aq, ak, av) = (
        scale_rows(raw.gamma, raw.wq, dp),
        scale_rows(raw.gamma, raw.wk, dp),
        scale_rows(raw.gamma, raw.wv, dp),
    );
    let akt = transpose(&ak, dp, dp);
    let mut wqk = matmul(&aq, &akt, dp, dp, dp);
    wqk.iter_mut().for_each(|v| *v *= s);
    let mut bq1 = matmul(raw.beta, raw.wq, 1, dp, dp);
    axpy(&mut bq1, 1.0, raw.bq);
    let mut bqk = matmul(&bq1, &akt, 1, dp, dp);
    bqk.iter_mut().for_each(|v| *v *= s);
    let wvo = matmul(&av, raw.wo, dp, dp, dp);
    let mut bv1 = matmul(raw.beta, raw.wv, 1, dp, dp);
    axpy(&mut bv1, 1.0, raw.bv);
    let mut bvo = matmul(&bv1, raw.wo, 1, dp, dp);
    axpy(&mut bvo, 1.0, raw.bo);
    Folded {
        z,
        wqk,
        bqk,
        wvo,
        bvo,
        w1: transpose(raw.conv1_w, dp, dp),
        w2: transpose(raw.conv2_w, n_p, dp),
        aq,
        ak,
        av,
        bq1,
        bv1,
    }
}

/// Gradients of the raw parameters, in the order of [`RawParams`] (the key bias, which
/// gets none, sits between `wk` and `wv`: `[proj_w, proj_b, set_emb, gamma, beta, wq, bq,
/// wk, bk, wv, bv, wo, bo, conv1_w, conv1_b, conv2_w, conv2_b]`).
pub(crate) fn unfold(
    raw: &RawParams,
    f: &Folded,
    g: &Grads,
    x: &[f32],
    d: usize,
    dims: Dims,
) -> Vec<Vec<f32>> {
    let Dims { b, dp, n_p, .. } = dims;
    let s = 1.0 / (dp as f32).sqrt();
    // z = x W_p + b_p
    let mut d_proj_w = vec![0.0; d * dp];
    matmul_into::<false>(&mut d_proj_w, false, d, Lhs::cols(x, d), b, &g.z, dp);
    let mut d_proj_b = vec![0.0; dp];
    for r in g.z.chunks_exact(dp) {
        axpy(&mut d_proj_b, 1.0, r);
    }
    // W_qk = s A_q A_kᵀ, b_qk = s b_q1 A_kᵀ
    let mut d_aq = matmul(&g.wqk, &f.ak, dp, dp, dp);
    let mut d_ak = matmul(&transpose(&g.wqk, dp, dp), &f.aq, dp, dp, dp);
    for (c, row) in d_ak.chunks_exact_mut(dp).enumerate() {
        axpy(row, g.bqk[c], &f.bq1);
    }
    let mut d_bq1 = matmul(&g.bqk, &f.ak, 1, dp, dp);
    for v in d_aq
        .iter_mut()
        .chain(d_ak.iter_mut())
        .chain(d_bq1.iter_mut())
    {
        *v *= s;
    }
    // W_vo = A_v W_o, b_vo = b_v1 W_o + b_o
    let wot = transpose(raw.wo, dp, dp);
    let d_av = matmul(&g.wvo, &wot, dp, dp, dp);
    let mut d_wo = vec![0.0; dp * dp];
    matmul_into::<false>(&mut d_wo, false, dp, Lhs::cols(&f.av, dp), dp, &g.wvo, dp);
    for (r, row) in d_wo.chunks_exact_mut(dp).enumerate() {
        axpy(row, f.bv1[r], &g.bvo);
    }
    let d_bv1 = matmul(&g.bvo, &wot, 1, dp, dp);
    // A = γ ⊙ W (rows), b_1 = β W + b
    let mut d_gamma = vec![0.0; dp];
    let mut d_beta = vec![0.0; dp];
    let mut unscale = |d_a: &[f32], w: &[f32], d_b1: Option<&[f32]>| {
        let mut d_w = scale_rows(raw.gamma, d_a, dp);
        for r in 0..dp {
            let (da, wr) = (&d_a[r * dp..(r + 1) * dp], &w[r * dp..(r + 1) * dp]);
            d_gamma[r] += dot(da, wr);
            if let Some(db) = d_b1 {
                d_beta[r] += dot(db, wr);
                axpy(&mut d_w[r * dp..(r + 1) * dp], raw.beta[r], db);
            }
        }
        d_w
    };
    let d_wq = unscale(&d_aq, raw.wq, Some(&d_bq1));
    let d_wk = unscale(&d_ak, raw.wk, None);
    let d_wv = unscale(&d_av, raw.wv, Some(&d_bv1));
    vec![
        d_proj_w,
        d_proj_b,
        g.e.clone(),
        d_gamma,
        d_beta,
        d_wq,
        d_bq1,
        d_wk,
        vec![0.0; dp],
        d_wv,
        d_bv1,
        d_wo,
        g.bvo.clone(),
        transpose(&g.w1, dp, dp),
        g.b1.clone(),
        transpose(&g.w2, dp, n_p),
        g.b2.clone(),
    ]
}
