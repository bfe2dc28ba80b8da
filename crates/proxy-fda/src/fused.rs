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

use crate::fda::NegWeight;
use ember_core::ops::dot8 as dot;
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

/// Gradients of the loss with respect to the inputs of the same names.
#[derive(Debug, Clone)]
pub(crate) struct Grads {
    pub z: Vec<f32>,
    pub e: Vec<f32>,
    pub wqk: Vec<f32>,
    pub bqk: Vec<f32>,
    pub wvo: Vec<f32>,
    pub bvo: Vec<f32>,
    pub w1: Vec<f32>,
    pub b1: Vec<f32>,
    pub w2: Vec<f32>,
    pub b2: Vec<f32>,
    /// Partial sums of the reverse pass through `u = h W_1 + b_1`, `h = t + ctx W_vo + b_vo`
    /// (folded into the gradients above by [`Grads::finish`]): `du` summed into the batch
    /// rows and set embeddings its tokens were built from, `Σ ctxᵀ du` and `Σ du`.
    du_rows: Vec<f32>,
    du_sets: Vec<f32>,
    ctx_du: Vec<f32>,
    du_sum: Vec<f32>,
}

impl Grads {
    fn zeros(dims: Dims) -> Self {
        let Dims { b, dp, n_p, .. } = dims;
        Self {
            z: vec![0.0; b * dp],
            e: vec![0.0; 2 * dp],
            wqk: vec![0.0; dp * dp],
            bqk: vec![0.0; dp],
            wvo: vec![0.0; dp * dp],
            bvo: vec![0.0; dp],
            w1: vec![0.0; dp * dp],
            b1: vec![0.0; dp],
            w2: vec![0.0; dp * n_p],
            b2: vec![0.0; n_p],
            du_rows: vec![0.0; b * dp],
            du_sets: vec![0.0; 2 * dp],
            ctx_du: vec![0.0; dp * dp],
            du_sum: vec![0.0; dp],
        }
    }

    fn fields_mut(&mut self) -> [&mut Vec<f32>; 14] {
        [
            &mut self.z,
            &mut self.e,
            &mut self.wqk,
            &mut self.bqk,
            &mut self.wvo,
            &mut self.bvo,
            &mut self.w1,
            &mut self.b1,
            &mut self.w2,
            &mut self.b2,
            &mut self.du_rows,
            &mut self.du_sets,
            &mut self.ctx_du,
            &mut self.du_sum,
        ]
    }

    /// Fold the partial sums into the gradients of `W_1`, `b_1`, `W_vo`, `b_vo`, `z`, `e`:
    /// with `dh = du W_1ᵀ` and `Σ_tokens t_aᵀ du_a = Zᵀ du_rows + Eᵀ du_sets`,
    ///
    /// * `∂W_1 = Zᵀ du_rows + Eᵀ du_sets + W_voᵀ Σ ctxᵀ du + b_voᵀ Σ du`, `∂b_1 = Σ du`;
    /// * `∂W_vo = (Σ ctxᵀ du) W_1ᵀ`, `∂b_vo = (Σ du) W_1ᵀ`;
    /// * the residual `t → h`: `∂z += du_rows W_1ᵀ`, `∂e += du_sets W_1ᵀ`.
    fn finish(&mut self, inp: &Inputs, prep: &Prepared) {
        let Dims { b, dp, .. } = inp.dims;
        let g = self;
        g.b1.copy_from_slice(&g.du_sum);
        gemm::<false>(&mut g.w1, true, dp, cols(inp.z, dp), b, &g.du_rows, dp);
        gemm::<false>(&mut g.w1, true, dp, cols(inp.e, dp), 2, &g.du_sets, dp);
        gemm::<false>(&mut g.w1, true, dp, cols(inp.wvo, dp), dp, &g.ctx_du, dp);
        gemm::<false>(&mut g.w1, true, dp, cols(inp.bvo, dp), 1, &g.du_sum, dp);
        gemm::<false>(&mut g.wvo, true, dp, rows(&g.ctx_du, dp), dp, &prep.w1t, dp);
        gemm::<false>(&mut g.bvo, true, 1, rows(&g.du_sum, dp), dp, &prep.w1t, dp);
        gemm::<false>(&mut g.z, true, b, rows(&g.du_rows, dp), dp, &prep.w1t, dp);
        gemm::<false>(&mut g.e, true, 2, rows(&g.du_sets, dp), dp, &prep.w1t, dp);
    }

    fn add(mut self, mut other: Self) -> Self {
        for (a, b) in self.fields_mut().into_iter().zip(other.fields_mut()) {
            a.iter_mut().zip(b.iter()).for_each(|(x, y)| *x += y);
        }
        self
    }
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
            part.loss = dispatch(
                inp,
                &tr,
                range,
                &mut part.pos,
                &mut part.neg,
                &mut part.grads,
            );
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

/// Run [`anchors`] compiled for the best vector extension this CPU has (the crate is built
/// for baseline x86-64, where these loops would run as 128-bit SSE).
fn dispatch(
    inp: &Inputs,
    tr: &Prepared,
    range: std::ops::Range<usize>,
    pos: &mut [f32],
    neg: &mut [f32],
    g: &mut Grads,
) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        let fma = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
        if fma && is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F, AVX2 and FMA (checked above).
            return unsafe { anchors_avx512(inp, tr, range, pos, neg, g) };
        }
        if fma {
            // SAFETY: the CPU supports AVX2 and FMA (checked above).
            return unsafe { anchors_avx2(inp, tr, range, pos, neg, g) };
        }
    }
    // AArch64's baseline (NEON) has fused multiply-add; elsewhere `mul_add` without the
    // instruction would be a library call per element.
    if cfg!(target_arch = "aarch64") {
        anchors::<true>(inp, tr, range, pos, neg, g)
    } else {
        anchors::<false>(inp, tr, range, pos, neg, g)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn anchors_avx512(
    inp: &Inputs,
    tr: &Prepared,
    range: std::ops::Range<usize>,
    pos: &mut [f32],
    neg: &mut [f32],
    g: &mut Grads,
) -> f64 {
    anchors::<true>(inp, tr, range, pos, neg, g)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn anchors_avx2(
    inp: &Inputs,
    tr: &Prepared,
    range: std::ops::Range<usize>,
    pos: &mut [f32],
    neg: &mut [f32],
    g: &mut Grads,
) -> f64 {
    anchors::<true>(inp, tr, range, pos, neg, g)
}

/// Products of the weights (and of the projected features) computed once per call.
///
/// With `h = t + ctx W_vo + b_vo` and `t_a = z_{j_a} + z_i + e_s`, the conv-1 input is
/// `u = h W_1 + b_1 = (Z W_1)_{j_a} + (Z W_1)_i + (E W_1)_s + ctx (W_vo W_1) + (b_vo W_1 + b_1)`:
/// one `[m, dp] × [dp, dp]` product per set instead of two (and, in reverse, see
/// [`Grads::finish`]).
struct Prepared {
    /// `Z W_1`, `[B, dp]`, and `E W_1`, `[2, dp]`.
    zw1: Vec<f32>,
    ew1: Vec<f32>,
    /// `W_vo W_1` and its transpose.
    wvo1: Vec<f32>,
    wvo1t: Vec<f32>,
    /// `b_vo W_1 + b_1`.
    bu: Vec<f32>,
    wqk: Vec<f32>,
    w1t: Vec<f32>,
    /// `[n_p, dp]`.
    w2: Vec<f32>,
}

impl Prepared {
    fn new(inp: &Inputs) -> Self {
        let Dims { b, dp, n_p, .. } = inp.dims;
        let mm = |x: &[f32], m: usize, w: &[f32]| {
            let mut o = vec![0.0; m * dp];
            gemm::<false>(&mut o, false, m, rows(x, dp), dp, w, dp);
            o
        };
        let wvo1 = mm(inp.wvo, dp, inp.w1);
        let mut bu = inp.b1.to_vec();
        gemm::<false>(&mut bu, true, 1, rows(inp.bvo, dp), dp, inp.w1, dp);
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

fn transpose(w: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0; rows * cols];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = w[r * cols + c];
        }
    }
    t
}

/// The activations of one set of one anchor, kept for the reverse pass.
struct SetCache {
    m: usize,
    /// `Σ_a du_a` of this set.
    du_sum: Vec<f32>,
    /// `m` rounded up to a multiple of 8: the row stride of the `[m, m]` buffers, so their
    /// products run on full vector tiles (the padding columns are never read).
    mp: usize,
    n: Vec<f32>,
    inv_sigma: Vec<f32>,
    q: Vec<f32>,
    /// The normalised tokens transposed, `[dp, m]`.
    nt: Vec<f32>,
    /// Attention `[m, m]`.
    p: Vec<f32>,
    ctx: Vec<f32>,
    /// GELU input, output and derivative.
    u: Vec<f32>,
    g: Vec<f32>,
    gp: Vec<f32>,
    /// Pooling weights `[n_p, m]`.
    a: Vec<f32>,
    /// Scratch of the reverse pass.
    d1: Vec<f32>,
    d2: Vec<f32>,
    dn: Vec<f32>,
    dmm: Vec<f32>,
    /// `∂L/∂A` as `[n_p, m]`, then the logits' gradient as `[m, n_p]`.
    dl: Vec<f32>,
    dlt: Vec<f32>,
}

impl SetCache {
    fn new(m: usize, dims: Dims) -> Self {
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

/// Per-anchor scratch of the loss, per set: the members' features `[m, d]`, pooled
/// proxies, their normalised values and gradients `[n_p, d]`, per-dimension statistics.
struct LossCache {
    xn: Vec<f32>,
    members: Vec<f32>,
    pooled: Vec<f32>,
    norm: Vec<f32>,
    p: Vec<f32>,
    dp: Vec<f32>,
    mean: Vec<f32>,
    coef: Vec<f32>,
}

const LN_EPS: f32 = 1e-5;
const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;

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
    let mut lc = LossCache {
        xn: vec![0.0; d],
        members: vec![0.0; kp.max(kn) * d],
        pooled: vec![0.0; n_p * d],
        norm: vec![0.0; n_p],
        p: vec![0.0; n_p * d],
        dp: vec![0.0; n_p * d],
        mean: vec![0.0; d],
        coef: vec![0.0; d],
    };
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

/// `y[..] += a · x[..]`.
#[inline(always)]
fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

/// `a · b + c`, fused where the CPU has FMA.
#[inline(always)]
fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

/// A strided row-major view: element `(r, k)` of the left operand is
/// `data[r · row + k · col]`, so transposed operands need no copy (their elements are
/// broadcast one at a time anyway).
#[derive(Clone, Copy)]
struct Lhs<'a> {
    data: &'a [f32],
    row: usize,
    col: usize,
}

/// `x` as a row-major `[·, k]` matrix.
#[inline(always)]
fn rows(data: &[f32], k: usize) -> Lhs<'_> {
    Lhs {
        data,
        row: k,
        col: 1,
    }
}

/// The transpose of a row-major `[k, ·]` matrix `data` with `r` columns.
#[inline(always)]
fn cols(data: &[f32], r: usize) -> Lhs<'_> {
    Lhs {
        data,
        row: 1,
        col: r,
    }
}

/// `out[r, c] (+)= Σ_kk x(r, kk) · w[kk, c]` for `r < m`, `c < n`, `kk < k`, with `out` and
/// `w` row-major (`add`: accumulate, else overwrite). Every matrix product of both passes
/// goes through this register-blocked kernel: tiles of 4 rows × 16 columns stay in
/// registers while `k` streams by.
#[inline(always)]
fn gemm<const FMA: bool>(
    out: &mut [f32],
    add: bool,
    m: usize,
    x: Lhs,
    k: usize,
    w: &[f32],
    n: usize,
) {
    let w = &w[..k * n];
    let out = &mut out[..m * n];
    if m == 0 || k == 0 {
        if !add {
            out.fill(0.0);
        }
        return;
    }
    // `gemm_tile` indexes `x` unchecked: every (r, kk) with r < m, kk < k must be in bounds
    assert!((m - 1) * x.row + (k - 1) * x.col < x.data.len());
    let mut r = 0;
    while r + 4 <= m {
        gemm_rows::<FMA, 4>(out, add, r, x, k, w, n);
        r += 4;
    }
    // the last 1–3 rows in one tile (a lone row's accumulators form too short a dependency
    // chain to hide the multiply-add latency)
    match m - r {
        3 => gemm_rows::<FMA, 3>(out, add, r, x, k, w, n),
        2 => gemm_rows::<FMA, 2>(out, add, r, x, k, w, n),
        1 => gemm_rows::<FMA, 1>(out, add, r, x, k, w, n),
        _ => {}
    }
}

#[inline(always)]
fn gemm_rows<const FMA: bool, const R: usize>(
    out: &mut [f32],
    add: bool,
    r0: usize,
    x: Lhs,
    k: usize,
    w: &[f32],
    n: usize,
) {
    let mut c = 0;
    while c + 16 <= n {
        gemm_tile::<FMA, R, 16>(out, add, r0, c, x, k, w, n);
        c += 16;
    }
    while c + 8 <= n {
        gemm_tile::<FMA, R, 8>(out, add, r0, c, x, k, w, n);
        c += 8;
    }
    while c + 4 <= n {
        gemm_tile::<FMA, R, 4>(out, add, r0, c, x, k, w, n);
        c += 4;
    }
    while c < n {
        gemm_tile::<FMA, R, 1>(out, add, r0, c, x, k, w, n);
        c += 1;
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn gemm_tile<const FMA: bool, const R: usize, const L: usize>(
    out: &mut [f32],
    add: bool,
    r0: usize,
    c: usize,
    x: Lhs,
    k: usize,
    w: &[f32],
    n: usize,
) {
    let mut acc = [[0.0f32; L]; R];
    if add {
        for (t, a) in acc.iter_mut().enumerate() {
            a.copy_from_slice(&out[(r0 + t) * n + c..(r0 + t) * n + c + L]);
        }
    }
    // Unchecked loads in the innermost loop (bounds checks and their index arithmetic cost
    // about as much as the multiply-adds here). SAFETY: `gemm` sliced `w` to `k · n` values
    // and `gemm_rows` keeps `c + L ≤ n`, so `kk · n + c + L ≤ k · n`; `gemm` asserted that
    // `(m − 1)·row + (k − 1)·col < x.data.len()`, and `r0 + t < m`, `kk < k`.
    let (xp, wp) = (x.data.as_ptr(), w.as_ptr());
    let mut x_off = [0usize; R];
    for (t, o) in x_off.iter_mut().enumerate() {
        *o = (r0 + t) * x.row;
    }
    for kk in 0..k {
        let wv = unsafe { &*(wp.add(kk * n + c) as *const [f32; L]) };
        for (a, &o) in acc.iter_mut().zip(&x_off) {
            let xv = unsafe { *xp.add(o + kk * x.col) };
            for l in 0..L {
                a[l] = madd::<FMA>(xv, wv[l], a[l]);
            }
        }
    }
    for (t, a) in acc.iter().enumerate() {
        out[(r0 + t) * n + c..(r0 + t) * n + c + L].copy_from_slice(a);
    }
}

/// `out[r] = bias + x[r] W` for the rows of `x: [m, k]`, `W: [k, n]`.
#[inline(always)]
fn linear_rows<const FMA: bool>(
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    out: &mut [f32],
    k: usize,
    n: usize,
) {
    let m = x.len() / k;
    for or in out[..m * n].chunks_exact_mut(n) {
        or.copy_from_slice(bias);
    }
    gemm::<FMA>(out, true, m, rows(x, k), k, w, n);
}

/// `e^x` for `x ≤ 88` (below −87.3 it returns ≈ 1e−38 instead of a denormal or 0):
/// range reduction to `[−ln2/2, ln2/2]` and a degree-6 Taylor polynomial (relative error
/// ≈ 1.2e−7). Branch-free and integer-cast-free (the rounding of `x log2 e` to an integer
/// `k` and `2^k` both go through the float's bits), so loops over it vectorise.
#[inline(always)]
fn exp_approx(x: f32) -> f32 {
    // 1.5 · 2^23: adding it rounds to an integer held in the low mantissa bits
    const SHIFTER: f32 = 12_582_912.0;
    let x = x.clamp(-87.3, 88.0);
    let shifted = x * std::f32::consts::LOG2_E + SHIFTER;
    let k = shifted - SHIFTER;
    let r = x - k * 0.693_145_75 - k * 1.428_606_8e-6;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // the integer k sits in the low bits of `shifted` (offset 0x4B40_0000); move it into
    // the exponent field of 2^k
    let ki = shifted.to_bits().wrapping_sub(0x4B40_0000);
    p * f32::from_bits(ki.wrapping_add(127) << 23)
}

/// `erf(x)` given `ex = e^{−x²}` (Abramowitz & Stegun 7.1.26: absolute error ≤ 1.5e−7 in exact
/// arithmetic, ≤ 5e−7 as evaluated here in f32).
#[inline(always)]
fn erf_with_exp(x: f32, ex: f32) -> f32 {
    let ax = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * ax);
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_8 + t * (-1.453_152 + t * 1.061_405_4))));
    (1.0 - poly * ex).copysign(x)
}

/// Softmax of `v` in place. The max and the sum run on eight lanes and the exponentials
/// in a loop of their own, so all three vectorise (rows here are 4 to 32 long, where a
/// sequential reduction's latency would dominate).
#[inline(always)]
fn softmax_in_place(v: &mut [f32]) {
    let mut lanes = [f32::NEG_INFINITY; 8];
    let (body, tail) = v.split_at(v.len() / 8 * 8);
    for ch in body.chunks_exact(8) {
        for l in 0..8 {
            lanes[l] = lanes[l].max(ch[l]);
        }
    }
    let mut mx = tail.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
    for l in lanes {
        mx = mx.max(l);
    }
    for x in v.iter_mut() {
        *x = exp_approx(*x - mx);
    }
    let inv = 1.0 / sum_lanes(v);
    for x in v.iter_mut() {
        *x *= inv;
    }
}

/// `Σ v` on eight lanes.
#[inline(always)]
fn sum_lanes(v: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (body, tail) = v.split_at(v.len() / 8 * 8);
    for ch in body.chunks_exact(8) {
        for l in 0..8 {
            lanes[l] += ch[l];
        }
    }
    let mut s = 0.0;
    for &x in tail {
        s += x;
    }
    for l in lanes {
        s += l;
    }
    s
}

#[inline(always)]
fn set_forward<const FMA: bool>(
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
    gemm::<FMA>(&mut c.p, false, m, rows(&c.q, dp), dp, &c.nt, mp);
    for row in c.p.chunks_exact_mut(mp) {
        softmax_in_place(&mut row[..m]);
    }
    gemm::<FMA>(&mut c.ctx, false, m, rows(&c.p, mp), m, &c.n, dp);
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
    gemm::<FMA>(&mut c.u, true, m, rows(&c.ctx, dp), dp, &prep.wvo1, dp);
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

/// The loss terms of anchor `i` (already scaled to their share of the batch mean); leaves
/// `∂L/∂A` in each set's `dl` (as `[n_p, m]`).
#[inline(always)]
fn anchor_loss<const FMA: bool>(
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
        gemm::<FMA>(pooled, false, n_p, rows(&c.a, m), m, xs, d);
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

#[inline(always)]
fn set_backward<const FMA: bool>(
    inp: &Inputs,
    tr: &Prepared,
    i: usize,
    idx: &[i64],
    s: usize,
    c: &mut SetCache,
    g: &mut Grads,
) {
    let Dims { dp, n_p, .. } = inp.dims;
    let m = c.m;
    // softmax over members: dl = A ⊙ (dA − Σ A dA), from [n_p, m] into d2 as [m, n_p]
    for k in 0..n_p {
        let (a, da) = (&c.a[k * m..(k + 1) * m], &c.dl[k * m..(k + 1) * m]);
        let sdot = dot(a, da);
        for j in 0..m {
            let v = a[j] * (da[j] - sdot);
            c.dlt[j * n_p + k] = v;
            g.b2[k] += v;
        }
    }
    // conv2: gW2 += gᵀ dl, gb2 += Σ dl (above), dg = dl W2ᵀ, then GELU: du = dg ⊙ GELU'(u)
    gemm::<FMA>(&mut g.w2, true, dp, cols(&c.g, dp), m, &c.dlt, n_p);
    gemm::<FMA>(&mut c.d1, false, m, rows(&c.dlt, n_p), n_p, &tr.w2, dp);
    for (d, gp) in c.d1[..m * dp].iter_mut().zip(&c.gp) {
        *d *= gp;
    }
    // u = (Z W_1)_j + (Z W_1)_i + (E W_1)_s + ctx W_vo1 + b_u: the weight gradients go
    // through partial sums (see `Grads::finish`); dctx = du W_vo1ᵀ (into d2)
    c.du_sum.fill(0.0);
    for (a, &j) in idx.iter().enumerate() {
        let du = &c.d1[a * dp..(a + 1) * dp];
        axpy(&mut c.du_sum, 1.0, du);
        axpy(
            &mut g.du_rows[j as usize * dp..(j as usize + 1) * dp],
            1.0,
            du,
        );
    }
    axpy(&mut g.du_rows[i * dp..(i + 1) * dp], 1.0, &c.du_sum);
    axpy(&mut g.du_sets[s * dp..(s + 1) * dp], 1.0, &c.du_sum);
    axpy(&mut g.du_sum, 1.0, &c.du_sum);
    gemm::<FMA>(&mut g.ctx_du, true, dp, cols(&c.ctx, dp), m, &c.d1, dp);
    gemm::<FMA>(&mut c.d2, false, m, rows(&c.d1, dp), dp, &tr.wvo1t, dp);
    // attention: dP = dctx Nᵀ, dS = P ⊙ (dP − Σ_b P dP) (in dmm)
    let mp = c.mp;
    gemm::<FMA>(&mut c.dmm, false, m, rows(&c.d2, dp), dp, &c.nt, mp);
    for (drow, prow) in c.dmm.chunks_exact_mut(mp).zip(c.p.chunks_exact(mp)) {
        let (drow, prow) = (&mut drow[..m], &prow[..m]);
        let sdot = dot(prow, drow);
        for (d, p) in drow.iter_mut().zip(prow) {
            *d = p * (*d - sdot);
        }
    }
    // values and keys are n: dn = Pᵀ dctx + dSᵀ q; queries: dq = dS N (into d1)
    gemm::<FMA>(&mut c.dn, false, m, cols(&c.p, mp), m, &c.d2, dp);
    gemm::<FMA>(&mut c.dn, true, m, cols(&c.dmm, mp), m, &c.q, dp);
    gemm::<FMA>(&mut c.d1, false, m, rows(&c.dmm, mp), m, &c.n, dp);
    // q = n W_qk + b_qk
    outer_acc::<FMA>(&c.n, &c.d1, &mut g.wqk, &mut g.bqk, m, dp);
    gemm::<FMA>(&mut c.dn, true, m, rows(&c.d1, dp), dp, &tr.wqk, dp);
    // layer norm: dt = inv_σ (dn − mean dn − n mean(dn ⊙ n)) (the residual's share of dt
    // is in `du_rows` / `du_sets`)
    let (zi_start, es_start) = (i * dp, s * dp);
    for (a, &j) in idx.iter().enumerate() {
        let n = &c.n[a * dp..(a + 1) * dp];
        let dn = &c.dn[a * dp..(a + 1) * dp];
        let mdn = sum_lanes(dn) / dp as f32;
        let mdnn = dot(dn, n) / dp as f32;
        let inv = c.inv_sigma[a];
        let dt = &mut c.d2[a * dp..(a + 1) * dp];
        for ((dt, dn), n) in dt.iter_mut().zip(dn).zip(n) {
            *dt = inv * (dn - mdn - n * mdnn);
        }
        let j = j as usize;
        axpy(&mut g.z[j * dp..(j + 1) * dp], 1.0, dt);
        axpy(&mut g.z[zi_start..zi_start + dp], 1.0, dt);
        axpy(&mut g.e[es_start..es_start + dp], 1.0, dt);
    }
}

/// `gW += xᵀ dy`, `gb += Σ_rows dy` for `x, dy: [m, k]` and `gW: [k, k]`.
#[inline(always)]
fn outer_acc<const FMA: bool>(
    x: &[f32],
    dy: &[f32],
    gw: &mut [f32],
    gb: &mut [f32],
    m: usize,
    k: usize,
) {
    for a in 0..m {
        axpy(gb, 1.0, &dy[a * k..(a + 1) * k]);
    }
    gemm::<FMA>(gw, true, k, cols(x, k), m, dy, k);
}

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

/// `a: [m, k] · b: [k, n]`, row-major.
fn matmul(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
    let mut o = vec![0.0; m * n];
    gemm::<false>(&mut o, false, m, rows(a, k), k, b, n);
    o
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
    gemm::<false>(&mut d_proj_w, false, d, cols(x, d), b, &g.z, dp);
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
    gemm::<false>(&mut d_wo, false, dp, cols(&f.av, dp), dp, &g.wvo, dp);
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

    #[test]
    fn exp_and_erf_approximations_are_accurate() {
        for i in -8000..=8000 {
            let x = i as f32 * 0.01;
            let e = exp_approx(x);
            let r = (x as f64).exp();
            assert!(
                ((e as f64 - r) / r).abs() < 5e-7,
                "exp({x}) = {e}, want {r}"
            );
        }
        for i in -800..=800 {
            let x = i as f32 * 0.01;
            let v = erf_with_exp(x, exp_approx(-x * x)) as f64;
            if x.abs() <= 3.5 {
                let r = erf_series(x as f64);
                assert!((v - r).abs() < 5e-7, "erf({x}) = {v}, want {r}");
            } else {
                // erfc(3.5) < 7.5e-7
                assert!((v - x.signum() as f64).abs() < 1e-6, "erf({x}) = {v}");
            }
        }
    }

    /// `erf` by its Maclaurin series in f64 (accurate to ~1e-11 for |x| ≤ 3.5): an
    /// independent reference for the test.
    fn erf_series(x: f64) -> f64 {
        let mut sum = 0.0;
        let mut term = x;
        let mut n = 0.0;
        while term.abs() > 1e-17 || n < 5.0 {
            sum += term / (2.0 * n + 1.0);
            n += 1.0;
            term *= -x * x / n;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }
}
