//! Exact meaning-task counts from a bf16 screen (the fast path of [`crate::text::meaning_abx`]).
//!
//! MD needs, per Gram entry `G[i, j] = ⟨a_i, b_j⟩` of unit rows, only its order against the
//! two diagonal entries `G[i, i]` (row `i`) and `G[j, j]` (column `j`). With `ã = bf16(a)`
//! and `e_a = a − ã`,
//!
//! `|⟨a, b⟩ − ⟨ã, b̃⟩| = |⟨e_a, b⟩ + ⟨ã, e_b⟩| ≤ ‖e_a‖‖b‖ + ‖ã‖‖e_b‖ =: δ`,
//!
//! and both f32 accumulations (the bf16 screen's and the f32 reference's) are off the real
//! sum by at most `γ_d Σ|x_k y_k|` with `γ_d = d·2⁻²⁴ / (1 − d·2⁻²⁴)`. So with
//! `β = δ + γ_d (‖a‖‖b‖ + ‖ã‖‖b̃‖) + slack`, an entry more than `β` above (below) a diagonal
//! value is above (below) it in f32 too, and only entries within `β` are recomputed in f32
//! with [`dot_at`], the arithmetic of one entry of [`gram_nt`] (both in
//! `ember_core::host::gemm`).
//! The counts therefore equal, bit for bit, those of the f32 Gram path, ties included.
//!
//! For unit rows and d = 256, `δ ≈ 0.0045`: a few entries per thousand are recomputed on
//! typical data. If a strip has too many (near-duplicate vectors), its remaining rows are
//! computed with the f32 GEMM instead, so the worst case costs about what the f32 path does.

use ember_core::host::Level;
use ember_core::host::amx::{
    Bf16Rows, ROW_BLOCK, TileRelease, amx_available, strip, strip_portable,
};
use ember_core::host::gemm::{dot_at, gram_nt};
use ember_core::host::simd;
use rayon::prelude::*;

/// (greater, equal) counts per row or column.
pub(crate) type Counts = Vec<(u32, u32)>;

/// Where the bf16 products come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Screen {
    /// AMX tiles ([`strip`]); requires [`amx_available`].
    Amx,
    /// Plain Rust ([`strip_portable`]): slow, for tests on machines without AMX.
    Portable,
}

impl Screen {
    /// AMX when this process can use it.
    pub fn best() -> Option<Screen> {
        amx_available().then_some(Screen::Amx)
    }
}

/// One language's unit rows in f32 and in bf16.
pub(crate) struct LangRows<'a> {
    /// `[n, d]` unit rows (f32).
    pub f32: &'a [f32],
    /// The same rows packed in bf16.
    pub bf16: Bf16Rows,
    /// `max_i ‖u_i‖₂` of the f32 rows.
    pub max_norm: f64,
}

impl<'a> LangRows<'a> {
    pub fn new(rows: &'a [f32], n: usize, d: usize) -> Self {
        let bf16 = Bf16Rows::pack(rows, n, d);
        LangRows {
            f32: rows,
            max_norm: bf16.max_norm_f32,
            bf16,
        }
    }
}

/// The screening margin `β` for Gram entries between `a` and `b` (see the module docs).
pub(crate) fn margin(a: &LangRows, b: &LangRows, d: usize) -> f32 {
    let gamma = |len: usize| {
        let nu = len as f64 * 2f64.powi(-24);
        nu / (1.0 - nu)
    };
    let delta = a.bf16.max_err * b.max_norm + a.bf16.max_norm * b.bf16.max_err;
    let acc = gamma(d) * a.max_norm * b.max_norm
        + gamma(a.bf16.d_pad) * a.bf16.max_norm * b.bf16.max_norm;
    // 1e-3 relative and 1e-6 absolute slack cover the f32 rounding of the thresholds
    // `G[i, i] ± β` and flushed bf16 subnormals.
    ((delta + acc) * (1.0 + 1e-3) + 1e-6) as f32
}

/// Row and column MD counts of the block `G = A Bᵀ` (as `md_counts` in `text.rs`, diagonal
/// excluded), exactly as the f32 Gram path would count them.
pub(crate) fn md_counts_screened(
    a: &LangRows,
    b: &LangRows,
    n: usize,
    d: usize,
    screen: Screen,
) -> (Counts, Counts) {
    md_counts_screened_opts(a, b, n, d, screen, true)
}

/// [`md_counts_screened`] with the AVX-512 sweep optionally disabled (tests).
fn md_counts_screened_opts(
    a: &LangRows,
    b: &LangRows,
    n: usize,
    d: usize,
    screen: Screen,
    simd_sweep: bool,
) -> (Counts, Counts) {
    let level = simd::level();
    let diag: Vec<f32> = (0..n)
        .map(|i| {
            dot_at(
                &a.f32[i * d..(i + 1) * d],
                &b.f32[i * d..(i + 1) * d],
                level,
            )
        })
        .collect();
    let beta = margin(a, b, d);
    let m = b.bf16.n_pad;
    let mut hi = vec![0.0f32; m];
    let mut lo = vec![0.0f32; m];
    for j in 0..n {
        hi[j] = diag[j] + beta;
        lo[j] = diag[j] - beta;
    }
    let ctx = Ctx {
        a,
        b,
        n,
        d,
        level,
        diag: &diag,
        hi: &hi,
        lo: &lo,
        screen,
        simd_sweep: simd_sweep && simd::avx512_popcnt(),
    };
    // a few contiguous runs of strips per thread: one accumulator (and strip buffer) each
    let strips: Vec<usize> = (0..a.bf16.n_pad / ROW_BLOCK).collect();
    let run = strips
        .len()
        .div_ceil(2 * rayon::current_num_threads())
        .max(1);
    let acc = strips
        .par_chunks(run)
        .map(|run| {
            let mut acc = Acc::new(n, m);
            // SAFETY: `Screen::Amx` is only constructed when `amx_available()` holds.
            let _release = (screen == Screen::Amx).then(|| unsafe { TileRelease::new() });
            for &s in run {
                ctx.strip(s * ROW_BLOCK, &mut acc);
            }
            acc
        })
        .reduce(|| Acc::new(n, m), Acc::merge);
    let cols = (0..n).map(|j| (acc.col_gt[j], acc.col_eq[j])).collect();
    (acc.rows, cols)
}

/// Per-thread accumulator: row counts (each row is written by one strip) and column counts
/// (summed over strips).
struct Acc {
    rows: Counts,
    col_gt: Vec<u32>,
    col_eq: Vec<u32>,
    buf: Vec<f32>,
}

impl Acc {
    fn new(n: usize, m: usize) -> Self {
        Acc {
            rows: vec![(0, 0); n],
            col_gt: vec![0; m],
            col_eq: vec![0; m],
            buf: Vec::new(),
        }
    }

    fn merge(mut self, other: Acc) -> Acc {
        for (x, y) in self.rows.iter_mut().zip(&other.rows) {
            x.0 += y.0;
            x.1 += y.1;
        }
        for (x, y) in self.col_gt.iter_mut().zip(&other.col_gt) {
            *x += y;
        }
        for (x, y) in self.col_eq.iter_mut().zip(&other.col_eq) {
            *x += y;
        }
        self
    }
}

struct Ctx<'a> {
    a: &'a LangRows<'a>,
    b: &'a LangRows<'a>,
    n: usize,
    d: usize,
    level: Level,
    diag: &'a [f32],
    hi: &'a [f32],
    lo: &'a [f32],
    screen: Screen,
    simd_sweep: bool,
}

impl Ctx<'_> {
    /// Counts of rows `i0..i0 + 32` (and their contribution to every column).
    fn strip(&self, i0: usize, acc: &mut Acc) {
        if i0 >= self.n {
            return;
        }
        let m = self.b.bf16.n_pad;
        acc.buf.resize(ROW_BLOCK * m, 0.0);
        match self.screen {
            // SAFETY: `Screen::Amx` is only constructed when `amx_available()` holds.
            Screen::Amx => unsafe { strip(&self.a.bf16, &self.b.bf16, i0, &mut acc.buf) },
            Screen::Portable => strip_portable(&self.a.bf16, &self.b.bf16, i0, &mut acc.buf),
        }
        let rows = ROW_BLOCK.min(self.n - i0);
        // beyond this many recomputed entries, the rest of the strip goes through the f32
        // GEMM: the screen is not paying off on this data
        let budget = rows * self.n / 8;
        let mut recomputed = 0usize;
        for r in 0..rows {
            if recomputed > budget {
                self.exact_rows(i0 + r, i0 + rows, acc);
                return;
            }
            let approx = &acc.buf[r * m..(r + 1) * m];
            let (gt, eq, redo) = self.sweep_row(i0 + r, approx, &mut acc.col_gt, &mut acc.col_eq);
            acc.rows[i0 + r] = (gt, eq);
            recomputed += redo;
        }
    }

    /// The exact f32 path for rows `i_start..i_end`: one GEMM, then plain comparisons.
    fn exact_rows(&self, i_start: usize, i_end: usize, acc: &mut Acc) {
        let (n, d) = (self.n, self.d);
        let g = gram_nt(
            &self.a.f32[i_start * d..i_end * d],
            &self.b.f32[..n * d],
            i_end - i_start,
            n,
            d,
        );
        for (r, row) in g.chunks_exact(n).enumerate() {
            let i = i_start + r;
            let di = self.diag[i];
            let (mut gt, mut eq) = (0u32, 0u32);
            for (j, &v) in row.iter().enumerate() {
                if j == i {
                    continue;
                }
                gt += (v > di) as u32;
                eq += (v == di) as u32;
                acc.col_gt[j] += (v > self.diag[j]) as u32;
                acc.col_eq[j] += (v == self.diag[j]) as u32;
            }
            acc.rows[i] = (gt, eq);
        }
    }

    /// One row of the screen: returns (row greater, row equal, entries recomputed) and adds
    /// the row's column counts.
    fn sweep_row(
        &self,
        i: usize,
        approx: &[f32],
        col_gt: &mut [u32],
        col_eq: &mut [u32],
    ) -> (u32, u32, usize) {
        #[cfg(target_arch = "x86_64")]
        if self.simd_sweep {
            // SAFETY: `simd_sweep` is set only when avx512f and popcnt were detected; all
            // slices have n_pad entries.
            return unsafe { self.sweep_row_avx512(i, approx, col_gt, col_eq) };
        }
        self.sweep_row_portable(i, approx, col_gt, col_eq)
    }

    /// Exact comparison of entry `(i, j)` in both directions.
    #[inline]
    fn recompute(&self, i: usize, j: usize, col_gt: &mut [u32], col_eq: &mut [u32]) -> (u32, u32) {
        let d = self.d;
        let v = dot_at(
            &self.a.f32[i * d..(i + 1) * d],
            &self.b.f32[j * d..(j + 1) * d],
            self.level,
        );
        col_gt[j] += (v > self.diag[j]) as u32;
        col_eq[j] += (v == self.diag[j]) as u32;
        ((v > self.diag[i]) as u32, (v == self.diag[i]) as u32)
    }

    fn sweep_row_portable(
        &self,
        i: usize,
        approx: &[f32],
        col_gt: &mut [u32],
        col_eq: &mut [u32],
    ) -> (u32, u32, usize) {
        let (hi_i, lo_i) = (self.hi[i], self.lo[i]);
        let (mut gt, mut eq, mut redo) = (0u32, 0u32, 0usize);
        for j in 0..self.n {
            if j == i {
                continue;
            }
            let v = approx[j];
            let row_sure = v > hi_i || v < lo_i;
            let col_sure = v > self.hi[j] || v < self.lo[j];
            if row_sure && col_sure {
                gt += (v > hi_i) as u32;
                col_gt[j] += (v > self.hi[j]) as u32;
            } else {
                let (g, e) = self.recompute(i, j, col_gt, col_eq);
                gt += g;
                eq += e;
                redo += 1;
            }
        }
        (gt, eq, redo)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,popcnt")]
    unsafe fn sweep_row_avx512(
        &self,
        i: usize,
        approx: &[f32],
        col_gt: &mut [u32],
        col_eq: &mut [u32],
    ) -> (u32, u32, usize) {
        use std::arch::x86_64::*;
        let m = self.b.bf16.n_pad;
        assert!(approx.len() >= m && col_gt.len() >= m && self.hi.len() >= m && self.lo.len() >= m);
        let hi_i = _mm512_set1_ps(self.hi[i]);
        let lo_i = _mm512_set1_ps(self.lo[i]);
        let one = _mm512_set1_epi32(1);
        let (mut gt, mut eq, mut redo) = (0u32, 0u32, 0usize);
        for j0 in (0..m).step_by(16) {
            if j0 >= self.n {
                break;
            }
            // lanes j < n, j ≠ i
            let mut valid: u16 = if self.n - j0 >= 16 {
                0xffff
            } else {
                (1u16 << (self.n - j0)) - 1
            };
            if (j0..j0 + 16).contains(&i) {
                valid &= !(1u16 << (i - j0));
            }
            // SAFETY: j0 + 16 ≤ m for every slice (asserted above); unaligned loads.
            let (v, hc, lc, cg) = unsafe {
                (
                    _mm512_loadu_ps(approx.as_ptr().add(j0)),
                    _mm512_loadu_ps(self.hi.as_ptr().add(j0)),
                    _mm512_loadu_ps(self.lo.as_ptr().add(j0)),
                    _mm512_loadu_si512(col_gt.as_ptr().add(j0) as *const __m512i),
                )
            };
            let row_hi = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v, hi_i);
            let row_lo = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(v, lo_i);
            let col_hi = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v, hc);
            let col_lo = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(v, lc);
            let sure = (row_hi | row_lo) & (col_hi | col_lo) & valid;
            gt += (row_hi & sure).count_ones();
            let cg = _mm512_mask_add_epi32(cg, col_hi & sure, cg, one);
            // SAFETY: as above.
            unsafe { _mm512_storeu_si512(col_gt.as_mut_ptr().add(j0) as *mut __m512i, cg) };
            let mut unsure = valid & !sure;
            while unsure != 0 {
                let j = j0 + unsure.trailing_zeros() as usize;
                unsure &= unsure - 1;
                let (g, e) = self.recompute(i, j, col_gt, col_eq);
                gt += g;
                eq += e;
                redo += 1;
            }
        }
        (gt, eq, redo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The f32 path's counts (`md_counts` of `text.rs` on a `gram_nt` block).
    fn exact(a: &[f32], b: &[f32], n: usize, d: usize) -> (Counts, Counts) {
        let g = gram_nt(a, b, n, n, d);
        let mut rows = vec![(0, 0); n];
        let mut cols = vec![(0, 0); n];
        for i in 0..n {
            for j in 0..n {
                if i == j {
                    continue;
                }
                let v = g[i * n + j];
                let (di, dj) = (g[i * n + i], g[j * n + j]);
                rows[i].0 += (v > di) as u32;
                rows[i].1 += (v == di) as u32;
                cols[j].0 += (v > dj) as u32;
                cols[j].1 += (v == dj) as u32;
            }
        }
        (rows, cols)
    }

    fn unit_rows(data: &mut [f32], d: usize) {
        for r in data.chunks_exact_mut(d) {
            let norm = r.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt();
            if norm > 0.0 {
                r.iter_mut().for_each(|v| *v = (*v as f64 / norm) as f32);
            }
        }
    }

    fn rnd(state: &mut u64) -> f32 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        (*state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }

    /// `(a, b)` unit rows: `shared + noise·uniform`, or tie-heavy {0, ±0.5} vectors. With a
    /// negative `noise`, every row shares one base vector (near-duplicates everywhere).
    fn case(seed: u64, n: usize, d: usize, noise: f32, ties: bool) -> (Vec<f32>, Vec<f32>) {
        let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let base: Vec<f32> = (0..d).map(|_| rnd(&mut s)).collect();
        let shared: Vec<f32> = if noise < 0.0 {
            base.iter().cycle().take(n * d).copied().collect()
        } else {
            (0..n * d).map(|_| rnd(&mut s)).collect()
        };
        let noise = noise.abs();
        let mut make = || -> Vec<f32> {
            let mut v: Vec<f32> = shared
                .iter()
                .map(|&x| {
                    if ties {
                        [0.0f32, 0.5, -0.5][((rnd(&mut s) + 0.5) * 2.999) as usize]
                    } else {
                        x + noise * rnd(&mut s)
                    }
                })
                .collect();
            unit_rows(&mut v, d);
            v
        };
        (make(), make())
    }

    #[test]
    fn screened_counts_equal_the_f32_path() {
        let mut screens = vec![Screen::Portable];
        screens.extend(Screen::best());
        // (n, d, noise, ties): typical, small noise (many near-ties: recompute), tiny noise
        // (near-duplicates: the strip falls back to the f32 GEMM), exact ties, odd sizes
        for (seed, (n, d, noise, ties)) in [
            (70, 48, 1.0, false),
            (70, 48, 1e-3, false),
            (64, 256, -1e-4, false),
            (50, 4, 0.0, true),
            (33, 37, 0.3, false),
            (2, 3, 1.0, false),
        ]
        .into_iter()
        .enumerate()
        {
            let (a, b) = case(seed as u64, n, d, noise, ties);
            let want = exact(&a, &b, n, d);
            let (ra, rb) = (LangRows::new(&a, n, d), LangRows::new(&b, n, d));
            for &screen in &screens {
                for simd in [true, false] {
                    let got = md_counts_screened_opts(&ra, &rb, n, d, screen, simd);
                    assert_eq!(
                        got, want,
                        "n={n} d={d} noise={noise} {screen:?} simd={simd}"
                    );
                }
            }
            if ties {
                assert!(want.0.iter().any(|c| c.1 > 0), "the tie case has ties");
            }
        }
    }

    #[test]
    fn margin_bounds_the_observed_bf16_error() {
        let (n, d) = (64, 256);
        let (a, b) = case(9, n, d, 1.0, false);
        let (ra, rb) = (LangRows::new(&a, n, d), LangRows::new(&b, n, d));
        let beta = margin(&ra, &rb, d) as f64;
        // about 2·2⁻⁸/√3 for unit rows
        assert!(beta > 1e-3 && beta < 5e-3, "{beta}");
        let mut buf = vec![0.0; ROW_BLOCK * rb.bf16.n_pad];
        let mut worst = 0.0f64;
        for i0 in (0..n).step_by(ROW_BLOCK) {
            strip_portable(&ra.bf16, &rb.bf16, i0, &mut buf);
            for r in 0..ROW_BLOCK {
                for j in 0..n {
                    let x = &a[(i0 + r) * d..(i0 + r + 1) * d];
                    let y = &b[j * d..(j + 1) * d];
                    let real: f64 = x.iter().zip(y).map(|(&p, &q)| p as f64 * q as f64).sum();
                    worst = worst.max((buf[r * rb.bf16.n_pad + j] as f64 - real).abs());
                }
            }
        }
        assert!(worst < beta, "observed {worst} ≥ margin {beta}");
    }
}
