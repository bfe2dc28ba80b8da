//! The products of the weights computed once per call ([`Prepared`]) and the forward pass
//! of one set of one anchor ([`set_forward`]), keeping its activations ([`SetCache`]).

use super::{Dims, Inputs};
use ember_core::host::gemm::{Lhs, dot8 as dot, linear_rows, matmul_into, transpose};
use ember_core::host::math::{erf_with_exp, exp_approx, softmax_in_place, sum_lanes};

/// Products of the weights (and of the projected features) computed once per call.
///
/// With `h = t + ctx W_vo + b_vo` and `t_a = z_{j_a} + z_i + e_s`, the conv-1 input is
/// `u = h W_1 + b_1 = (Z W_1)_{j_a} + (Z W_1)_i + (E W_1)_s + ctx (W_vo W_1) + (b_vo W_1 + b_1)`:
/// one `[m, dp] × [dp, dp]` product per set instead of two (and, in reverse, see
/// [`Grads::finish`]).
pub(super) struct Prepared {
    /// `Z W_1`, `[B, dp]`, and `E W_1`, `[2, dp]`.
    pub(super) zw1: Vec<f32>,
    pub(super) ew1: Vec<f32>,
    /// `W_vo W_1` and its transpose.
    pub(super) wvo1: Vec<f32>,
    pub(super) wvo1t: Vec<f32>,
    /// `b_vo W_1 + b_1`.
    pub(super) bu: Vec<f32>,
    pub(super) wqk: Vec<f32>,
    pub(super) w1t: Vec<f32>,
    /// `[n_p, dp]`.
    pub(super) w2: Vec<f32>,
}

impl Prepared {
    pub(super) fn new(inp: &Inputs) -> Self {
        let Dims { b, dp, n_p, .. } = inp.dims;
        let mm = |x: &[f32], m: usize, w: &[f32]| {
            let mut o = vec![0.0; m * dp];
            matmul_into::<false>(&mut o, false, m, Lhs::rows(x, dp), dp, w, dp);
            o
        };
        let wvo1 = mm(inp.wvo, dp, inp.w1);
        let mut bu = inp.b1.to_vec();
        matmul_into::<false>(&mut bu, true, 1, Lhs::rows(inp.bvo, dp), dp, inp.w1, dp);
        Self {
            zw1: mm(inp.z, b, inp.w1),
            ew1: mm(inp.e, 2, inp.w1),
            wvo1t: transpose(&wvo1, dp, dp),
            wvo1,
            bu,
            wqk: transpose(inp.wqk, dp, dp),
            w1t: transpose(inp.w1, dp, dp),
            w2: transpose(inp.w2, dp, n_p),
        }
    }
}

/// The activations of one set of one anchor, kept for the reverse pass.
pub(super) struct SetCache {
    pub(super) m: usize,
    /// `Σ_a du_a` of this set.
    pub(super) du_sum: Vec<f32>,
    /// `m` rounded up to a multiple of 8: the row stride of the `[m, m]` buffers, so their
    /// products run on full vector tiles (the padding columns are never read).
    pub(super) mp: usize,
    pub(super) n: Vec<f32>,
    pub(super) inv_sigma: Vec<f32>,
    pub(super) q: Vec<f32>,
    /// The normalised tokens transposed, `[dp, m]`.
    pub(super) nt: Vec<f32>,
    /// Attention `[m, m]`.
    pub(super) p: Vec<f32>,
    pub(super) ctx: Vec<f32>,
    /// GELU input, output and derivative.
    pub(super) u: Vec<f32>,
    pub(super) g: Vec<f32>,
    pub(super) gp: Vec<f32>,
    /// Pooling weights `[n_p, m]`.
    pub(super) a: Vec<f32>,
    /// Scratch of the reverse pass.
    pub(super) d1: Vec<f32>,
    pub(super) d2: Vec<f32>,
    pub(super) dn: Vec<f32>,
    pub(super) dmm: Vec<f32>,
    /// `∂L/∂A` as `[n_p, m]`, then the logits' gradient as `[m, n_p]`.
    pub(super) dl: Vec<f32>,
    pub(super) dlt: Vec<f32>,
}

impl SetCache {
    pub(super) fn new(m: usize, dims: Dims) -> Self {
        let Dims { dp, n_p, .. } = dims;
        let v = |n: usize| vec![0.0f32; n];
        let mp = m.div_ceil(8) * 8;
        Self {
            m,
            du_sum: v(dp),
            mp,
            n: v(m * dp),
            inv_sigma: v(m),
            q: v(m * dp),
            nt: v(mp * dp),
            p: v(m * mp),
            ctx: v(m * dp),
            u: v(m * dp),
            g: v(m * dp),
            gp: v(m * dp),
            a: v(n_p * m),
            d1: v(m * dp),
            d2: v(m * dp),
            dn: v(m * dp),
            dmm: v(m * mp),
            dl: v(m * n_p),
            dlt: v(m * n_p),
        }
    }
}

const LN_EPS: f32 = 1e-5;
const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;

#[inline(always)]
pub(super) fn set_forward<const FMA: bool>(
    inp: &Inputs,
    prep: &Prepared,
    i: usize,
    idx: &[i64],
    s: usize,
    c: &mut SetCache,
) {
    let Dims { dp, n_p, .. } = inp.dims;
    let m = c.m;
    let zi = &inp.z[i * dp..(i + 1) * dp];
    let es = &inp.e[s * dp..(s + 1) * dp];
    // tokens t_a = z_j + z_i + e_s and their layer norm (without the affine map, folded
    // into the products)
    for (a, &j) in idx.iter().enumerate() {
        let zj = &inp.z[j as usize * dp..(j as usize + 1) * dp];
        let n = &mut c.n[a * dp..(a + 1) * dp];
        for (((n, zj), zi), es) in n.iter_mut().zip(zj).zip(zi).zip(es) {
            *n = zj + zi + es;
        }
        let mean = sum_lanes(n) / dp as f32;
        for x in n.iter_mut() {
            *x -= mean;
        }
        let var = dot(n, n) / dp as f32;
        let inv = 1.0 / (var + LN_EPS).sqrt();
        c.inv_sigma[a] = inv;
        for x in n.iter_mut() {
            *x *= inv;
        }
    }
    // attention with the folded maps: q = n W_qk + b_qk, keys and values = n
    linear_rows::<FMA>(&c.n[..m * dp], inp.wqk, inp.bqk, &mut c.q, dp, dp);
    // scores S = Q Nᵀ (through Nᵀ, [dp, m]), softmax per row, ctx = P N
    let mp = c.mp;
    for a in 0..m {
        for k in 0..dp {
            c.nt[k * mp + a] = c.n[a * dp + k];
        }
    }
    matmul_into::<FMA>(&mut c.p, false, m, Lhs::rows(&c.q, dp), dp, &c.nt, mp);
    for row in c.p.chunks_exact_mut(mp) {
        softmax_in_place(&mut row[..m]);
    }
    matmul_into::<FMA>(&mut c.ctx, false, m, Lhs::rows(&c.p, mp), m, &c.n, dp);
    // u = h W_1 + b_1 with h = t + ctx W_vo + b_vo, through the products of `Prepared`
    let (zw1i, ew1s) = (
        &prep.zw1[i * dp..(i + 1) * dp],
        &prep.ew1[s * dp..(s + 1) * dp],
    );
    for (a, &j) in idx.iter().enumerate() {
        let zw1j = &prep.zw1[j as usize * dp..(j as usize + 1) * dp];
        let u = &mut c.u[a * dp..(a + 1) * dp];
        for ((((u, x), y), e), b) in u.iter_mut().zip(zw1j).zip(zw1i).zip(ew1s).zip(&prep.bu) {
            *u = x + y + e + b;
        }
    }
    matmul_into::<FMA>(&mut c.u, true, m, Lhs::rows(&c.ctx, dp), dp, &prep.wvo1, dp);
    // g = GELU(u) (exact form), gp = GELU'(u)
    for ((u, g), gp) in c.u.iter().zip(c.g.iter_mut()).zip(c.gp.iter_mut()) {
        let x = u * std::f32::consts::FRAC_1_SQRT_2;
        let ex = exp_approx(-x * x);
        let cdf = 0.5 * (1.0 + erf_with_exp(x, ex));
        *g = u * cdf;
        *gp = cdf + u * ex * FRAC_1_SQRT_2PI;
    }
    // logits l = g W_2 + b_2 ([m, n_p]), then a softmax over the members per proxy
    linear_rows::<FMA>(&c.g, inp.w2, inp.b2, &mut c.dlt, dp, n_p);
    for k in 0..n_p {
        let row = &mut c.a[k * m..(k + 1) * m];
        for (a, r) in row.iter_mut().enumerate() {
            *r = c.dlt[a * n_p + k];
        }
        softmax_in_place(row);
    }
}
