//! The reverse pass of one set of one anchor ([`set_backward`]) and the gradient
//! accumulators ([`Grads`]), folded into the parameters' gradients once per call.

use super::forward::{Prepared, SetCache};
use super::{Dims, Inputs};
use ember_core::host::gemm::{Lhs, dot8 as dot, matmul_into};
use ember_core::host::math::{axpy, sum_lanes};

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
    pub(super) fn zeros(dims: Dims) -> Self {
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

    pub(super) fn fields_mut(&mut self) -> [&mut Vec<f32>; 14] {
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
    pub(super) fn finish(&mut self, inp: &Inputs, prep: &Prepared) {
        let Dims { b, dp, .. } = inp.dims;
        let g = self;
        g.b1.copy_from_slice(&g.du_sum);
        matmul_into::<false>(&mut g.w1, true, dp, Lhs::cols(inp.z, dp), b, &g.du_rows, dp);
        matmul_into::<false>(&mut g.w1, true, dp, Lhs::cols(inp.e, dp), 2, &g.du_sets, dp);
        matmul_into::<false>(
            &mut g.w1,
            true,
            dp,
            Lhs::cols(inp.wvo, dp),
            dp,
            &g.ctx_du,
            dp,
        );
        matmul_into::<false>(
            &mut g.w1,
            true,
            dp,
            Lhs::cols(inp.bvo, dp),
            1,
            &g.du_sum,
            dp,
        );
        matmul_into::<false>(
            &mut g.wvo,
            true,
            dp,
            Lhs::rows(&g.ctx_du, dp),
            dp,
            &prep.w1t,
            dp,
        );
        matmul_into::<false>(
            &mut g.bvo,
            true,
            1,
            Lhs::rows(&g.du_sum, dp),
            dp,
            &prep.w1t,
            dp,
        );
        matmul_into::<false>(
            &mut g.z,
            true,
            b,
            Lhs::rows(&g.du_rows, dp),
            dp,
            &prep.w1t,
            dp,
        );
        matmul_into::<false>(
            &mut g.e,
            true,
            2,
            Lhs::rows(&g.du_sets, dp),
            dp,
            &prep.w1t,
            dp,
        );
    }

    pub(super) fn add(mut self, mut other: Self) -> Self {
        for (a, b) in self.fields_mut().into_iter().zip(other.fields_mut()) {
            a.iter_mut().zip(b.iter()).for_each(|(x, y)| *x += y);
        }
        self
    }
}

#[inline(always)]
pub(super) fn set_backward<const FMA: bool>(
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
    matmul_into::<FMA>(&mut g.w2, true, dp, Lhs::cols(&c.g, dp), m, &c.dlt, n_p);
    matmul_into::<FMA>(&mut c.d1, false, m, Lhs::rows(&c.dlt, n_p), n_p, &tr.w2, dp);
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
    matmul_into::<FMA>(&mut g.ctx_du, true, dp, Lhs::cols(&c.ctx, dp), m, &c.d1, dp);
    matmul_into::<FMA>(&mut c.d2, false, m, Lhs::rows(&c.d1, dp), dp, &tr.wvo1t, dp);
    // attention: dP = dctx Nᵀ, dS = P ⊙ (dP − Σ_b P dP) (in dmm)
    let mp = c.mp;
    matmul_into::<FMA>(&mut c.dmm, false, m, Lhs::rows(&c.d2, dp), dp, &c.nt, mp);
    for (drow, prow) in c.dmm.chunks_exact_mut(mp).zip(c.p.chunks_exact(mp)) {
        let (drow, prow) = (&mut drow[..m], &prow[..m]);
        let sdot = dot(prow, drow);
        for (d, p) in drow.iter_mut().zip(prow) {
            *d = p * (*d - sdot);
        }
    }
    // values and keys are n: dn = Pᵀ dctx + dSᵀ q; queries: dq = dS N (into d1)
    matmul_into::<FMA>(&mut c.dn, false, m, Lhs::cols(&c.p, mp), m, &c.d2, dp);
    matmul_into::<FMA>(&mut c.dn, true, m, Lhs::cols(&c.dmm, mp), m, &c.q, dp);
    matmul_into::<FMA>(&mut c.d1, false, m, Lhs::rows(&c.dmm, mp), m, &c.n, dp);
    // q = n W_qk + b_qk
    outer_acc::<FMA>(&c.n, &c.d1, &mut g.wqk, &mut g.bqk, m, dp);
    matmul_into::<FMA>(&mut c.dn, true, m, Lhs::rows(&c.d1, dp), dp, &tr.wqk, dp);
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
    matmul_into::<FMA>(gw, true, k, Lhs::cols(x, k), m, dy, k);
}
