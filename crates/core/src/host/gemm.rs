//! Matrix products on host slices (row-major `f32`).
//!
//! Two kinds, for two uses:
//!
//! * [`gram_nt`]: `C = A Bᵀ` for large `A`, `B` (the Gram blocks of `ember-abx`'s text path),
//!   a dot-product kernel whose every entry equals, bit for bit, [`dot_at`] of its two rows at
//!   the same [`Level`]. Callers that recompute single entries (exact tie handling) rely on
//!   that.
//! * [`matmul_into`] and its wrappers ([`matmul`], [`linear_rows`]): small products (tens of
//!   rows and columns) inside a [`Kernel`](crate::host::simd::Kernel), register-blocked and
//!   `#[inline(always)]` so that they are compiled for the dispatched level.
//!
//! Plain f32 arithmetic throughout: results can differ from another GEMM in the last bits,
//! never in meaning.

use crate::host::math::madd;
use crate::host::simd::{Level, level};
use rayon::prelude::*;

/// `Σ x_i y_i` over host slices (the shorter length), on eight partial sums so the loop
/// vectorises; the partial sums are added in lane order, then the tail. [`dot_at`] at
/// [`Level::Portable`] is this function, so code that needs a fixed summation order relies on
/// it. `#[inline(always)]` so that it picks up the target features of the caller it inlines
/// into.
#[inline(always)]
pub fn dot8(x: &[f32], y: &[f32]) -> f32 {
    let n = x.len().min(y.len());
    let (x, y) = (&x[..n], &y[..n]);
    let mut acc = [0.0f32; 8];
    let (xc, xr) = x.split_at(n / 8 * 8);
    let (yc, yr) = y.split_at(xc.len());
    for (p, q) in xc.chunks_exact(8).zip(yc.chunks_exact(8)) {
        for k in 0..8 {
            acc[k] += p[k] * q[k];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (p, q) in xr.iter().zip(yr) {
        s += p * q;
    }
    s
}

// ---------------------------------------------------------------------------------------
// Gram blocks: C = A Bᵀ
// ---------------------------------------------------------------------------------------

/// Bytes of `A` rows per parallel task of [`gram_nt`]: the rows stay in L1 while the rows of
/// `B` stream by, four at a time, each group of four reused from L1 by every row block.
const A_STRIP_BYTES: usize = 16 << 10;

/// `A Bᵀ` as a row-major `n × m` vector, for row-major `A: [n, d]`, `B: [m, d]`.
///
/// Entry `(i, j)` equals `dot_at(a_i, b_j, level())` bit for bit: at [`Level::Avx512`] and
/// [`Level::Avx2`] each of the 16 (8) vector lanes accumulates the products of the dims
/// congruent to it with fused multiply-adds in dim order, the lanes are added in a fixed
/// order and the leftover dims (`d mod 16`, `d mod 8`) one by one. Blocks of 4 × 4 entries
/// (AVX-512; 2 × 4 on AVX2) keep their accumulators in registers and reduce their lanes
/// together, with the same additions as the single-entry reduction. Rows of `A` are spread
/// over threads with rayon.
///
/// # Panics
/// If `a` or `b` does not hold `n · d` (`m · d`) values.
pub fn gram_nt(a: &[f32], b: &[f32], n: usize, m: usize, d: usize) -> Vec<f32> {
    gram_nt_at(level(), a, b, n, m, d)
}

/// [`gram_nt`] at a given level (at most the CPU's: a higher one is lowered to
/// [`level`]). Tests compare the levels with it.
pub fn gram_nt_at(level: Level, a: &[f32], b: &[f32], n: usize, m: usize, d: usize) -> Vec<f32> {
    assert_eq!(
        a.len(),
        n * d,
        "gram_nt: A has {} values, not {n}×{d}",
        a.len()
    );
    assert_eq!(
        b.len(),
        m * d,
        "gram_nt: B has {} values, not {m}×{d}",
        b.len()
    );
    let level = level.min(self::level());
    let mut c = vec![0.0f32; n * m];
    if n == 0 || m == 0 {
        return c;
    }
    // a multiple of 4 rows (the register blocks), 4 to 64
    let rows_per_task = (A_STRIP_BYTES / (4 * d.max(1)) / 4 * 4).clamp(4, 64);
    c.par_chunks_mut(rows_per_task * m)
        .enumerate()
        .for_each(|(t, cc)| {
            let i0 = t * rows_per_task;
            let rows = cc.len() / m;
            gram_strip(level, &a[i0 * d..(i0 + rows) * d], b, d, rows, m, cc);
        });
    c
}

/// Rows `0..rows` of `A Bᵀ` (`a` holds just those rows) into `c` (row stride `m`): columns
/// in groups of the register block's width, every row block of the strip against each group.
fn gram_strip(level: Level, a: &[f32], b: &[f32], d: usize, rows: usize, m: usize, c: &mut [f32]) {
    // rows and columns per register block at this level
    let (br, bc) = match level {
        Level::Avx512 => (4, 4),
        Level::Avx2 => (2, 4),
        Level::Portable => (1, 1),
    };
    let full_rows = rows / br * br;
    let full_cols = m / bc * bc;
    for j in (0..full_cols).step_by(bc) {
        for i in (0..full_rows).step_by(br) {
            block(level, a, b, d, i, j, m, c);
        }
    }
    // the edges, one entry at a time
    let one = |r: usize, j: usize| dot_at(&a[r * d..(r + 1) * d], &b[j * d..(j + 1) * d], level);
    for r in 0..full_rows {
        for j in full_cols..m {
            c[r * m + j] = one(r, j);
        }
    }
    for r in full_rows..rows {
        for j in 0..m {
            c[r * m + j] = one(r, j);
        }
    }
}

/// One register block of [`gram_strip`] at `level` (`level` is not `Portable`).
#[allow(clippy::too_many_arguments)]
#[inline]
fn block(
    level: Level,
    a: &[f32],
    b: &[f32],
    d: usize,
    i: usize,
    j: usize,
    m: usize,
    c: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    match level {
        Level::Avx512 => {
            let out = {
                // SAFETY: `gram_nt_at` lowered `level` to one this CPU supports (AVX-512F);
                // the caller checked that rows i..i+4 of A and j..j+4 of B exist, and
                // `block_avx512` indexes them through checked slices.
                unsafe { block_avx512(a, b, d, i, j) }
            };
            for (r, row) in out.iter().enumerate() {
                c[(i + r) * m + j..(i + r) * m + j + 4].copy_from_slice(row);
            }
            return;
        }
        Level::Avx2 => {
            // SAFETY: as above, with AVX2 and FMA; rows i..i+2 of A, j..j+4 of B.
            let out = unsafe { block_avx2(a, b, d, i, j) };
            for (r, row) in out.iter().enumerate() {
                c[(i + r) * m + j..(i + r) * m + j + 4].copy_from_slice(row);
            }
            return;
        }
        Level::Portable => {}
    }
    let _ = (level, m);
    c[i * m + j] = dot8(&a[i * d..(i + 1) * d], &b[j * d..(j + 1) * d]);
}

/// `⟨x, y⟩` with exactly the arithmetic (lane count, FMA, reduction order) of one entry of
/// [`gram_nt`] at `level` (pass [`level()`] to reproduce [`gram_nt`]), so that an entry
/// recomputed on its own equals the GEMM's: exact tie handling depends on it. A level this
/// CPU lacks is lowered to the CPU's.
#[inline]
pub fn dot_at(x: &[f32], y: &[f32], level: Level) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    #[cfg(target_arch = "x86_64")]
    match level.min(self::level()) {
        // SAFETY: the CPU supports AVX-512F (`self::level()` detected it).
        Level::Avx512 => return unsafe { dot_avx512(x, y) },
        // SAFETY: the CPU supports AVX2 and FMA (`self::level()` detected them).
        Level::Avx2 => return unsafe { dot_avx2(x, y) },
        Level::Portable => {}
    }
    let _ = level;
    dot8(x, y)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn dot_avx512(x: &[f32], y: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let d = x.len().min(y.len());
    let full = d / 16 * 16;
    let mut acc = _mm512_setzero_ps();
    let mut k = 0;
    while k < full {
        // SAFETY: k + 16 ≤ d for both slices.
        unsafe {
            acc = _mm512_fmadd_ps(
                _mm512_loadu_ps(x.as_ptr().add(k)),
                _mm512_loadu_ps(y.as_ptr().add(k)),
                acc,
            );
        }
        k += 16;
    }
    let mut v = _mm512_reduce_add_ps(acc);
    for kk in full..d {
        v += x[kk] * y[kk];
    }
    v
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(x: &[f32], y: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let d = x.len().min(y.len());
    let full = d / 8 * 8;
    let mut acc = _mm256_setzero_ps();
    let mut k = 0;
    while k < full {
        // SAFETY: k + 8 ≤ d for both slices.
        unsafe {
            acc = _mm256_fmadd_ps(
                _mm256_loadu_ps(x.as_ptr().add(k)),
                _mm256_loadu_ps(y.as_ptr().add(k)),
                acc,
            );
        }
        k += 8;
    }
    let mut lanes = [0.0f32; 8];
    // SAFETY: `lanes` holds 8 floats.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc) };
    let mut v: f32 = lanes.iter().sum();
    for kk in full..d {
        v += x[kk] * y[kk];
    }
    v
}

/// Entries `(i + r, j + s)`, `r, s < 4`, as [`dot_avx512`] computes each: 16 zmm
/// accumulators, then the lanes of all 16 reduced at once with the additions of
/// `_mm512_reduce_add_ps` (halves 16 → 8 → 4, then lanes (0 + 2) + (1 + 3)).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn block_avx512(a: &[f32], b: &[f32], d: usize, i: usize, j: usize) -> [[f32; 4]; 4] {
    use std::arch::x86_64::*;
    let ap = [
        a[i * d..(i + 1) * d].as_ptr(),
        a[(i + 1) * d..(i + 2) * d].as_ptr(),
        a[(i + 2) * d..(i + 3) * d].as_ptr(),
        a[(i + 3) * d..(i + 4) * d].as_ptr(),
    ];
    let bp = [
        b[j * d..(j + 1) * d].as_ptr(),
        b[(j + 1) * d..(j + 2) * d].as_ptr(),
        b[(j + 2) * d..(j + 3) * d].as_ptr(),
        b[(j + 3) * d..(j + 4) * d].as_ptr(),
    ];
    // acc[4s + r]: entry (r, s)
    let mut acc = [_mm512_setzero_ps(); 16];
    let full = d / 16 * 16;
    let mut k = 0;
    while k < full {
        // SAFETY: k + 16 ≤ d for every row pointer (each points at a row of d values).
        unsafe {
            let x = [
                _mm512_loadu_ps(ap[0].add(k)),
                _mm512_loadu_ps(ap[1].add(k)),
                _mm512_loadu_ps(ap[2].add(k)),
                _mm512_loadu_ps(ap[3].add(k)),
            ];
            for s in 0..4 {
                let y = _mm512_loadu_ps(bp[s].add(k));
                for r in 0..4 {
                    acc[4 * s + r] = _mm512_fmadd_ps(x[r], y, acc[4 * s + r]);
                }
            }
        }
        k += 16;
    }
    // 16 → 8 lanes: v[l] + v[l + 8], two accumulators per register
    let mut h8 = [_mm512_setzero_ps(); 8];
    for (p, h) in h8.iter_mut().enumerate() {
        let (u, v) = (acc[2 * p], acc[2 * p + 1]);
        *h = _mm512_add_ps(
            _mm512_shuffle_f32x4::<0x44>(u, v),
            _mm512_shuffle_f32x4::<0xEE>(u, v),
        );
    }
    // 8 → 4 lanes: four accumulators per register, one per 128-bit unit
    let mut h4 = [_mm512_setzero_ps(); 4];
    for (q, h) in h4.iter_mut().enumerate() {
        let (u, v) = (h8[2 * q], h8[2 * q + 1]);
        *h = _mm512_add_ps(
            _mm512_shuffle_f32x4::<0x88>(u, v),
            _mm512_shuffle_f32x4::<0xDD>(u, v),
        );
    }
    // 4 → 2 lanes: (l0 + l2, l1 + l3) per accumulator
    let h2 = [
        _mm512_add_ps(
            _mm512_shuffle_ps::<0x44>(h4[0], h4[1]),
            _mm512_shuffle_ps::<0xEE>(h4[0], h4[1]),
        ),
        _mm512_add_ps(
            _mm512_shuffle_ps::<0x44>(h4[2], h4[3]),
            _mm512_shuffle_ps::<0xEE>(h4[2], h4[3]),
        ),
    ];
    // 2 → 1: lane 4u + t holds accumulator 4t + u, i.e. entry (r = u, s = t)
    let sum = _mm512_add_ps(
        _mm512_shuffle_ps::<0x88>(h2[0], h2[1]),
        _mm512_shuffle_ps::<0xDD>(h2[0], h2[1]),
    );
    let mut out = [[0.0f32; 4]; 4];
    // SAFETY: `out` holds 16 contiguous floats, row r at 4r.
    unsafe { _mm512_storeu_ps(out.as_mut_ptr() as *mut f32, sum) };
    if full < d {
        for (r, row) in out.iter_mut().enumerate() {
            for (s, v) in row.iter_mut().enumerate() {
                for kk in full..d {
                    // SAFETY: kk < d.
                    unsafe { *v += *ap[r].add(kk) * *bp[s].add(kk) };
                }
            }
        }
    }
    out
}

/// Entries `(i + r, j + s)`, `r < 2`, `s < 4`, as [`dot_avx2`] computes each: 8 ymm
/// accumulators, transposed so that one register holds lane `l` of all eight, then added
/// lane after lane (`((l0 + l1) + l2) + …`, the order of the single-entry sum).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn block_avx2(a: &[f32], b: &[f32], d: usize, i: usize, j: usize) -> [[f32; 4]; 2] {
    use std::arch::x86_64::*;
    let ap = [
        a[i * d..(i + 1) * d].as_ptr(),
        a[(i + 1) * d..(i + 2) * d].as_ptr(),
    ];
    let bp = [
        b[j * d..(j + 1) * d].as_ptr(),
        b[(j + 1) * d..(j + 2) * d].as_ptr(),
        b[(j + 2) * d..(j + 3) * d].as_ptr(),
        b[(j + 3) * d..(j + 4) * d].as_ptr(),
    ];
    // acc[4r + s]: entry (r, s)
    let mut acc = [_mm256_setzero_ps(); 8];
    let full = d / 8 * 8;
    let mut k = 0;
    while k < full {
        // SAFETY: k + 8 ≤ d for every row pointer.
        unsafe {
            let x0 = _mm256_loadu_ps(ap[0].add(k));
            let x1 = _mm256_loadu_ps(ap[1].add(k));
            for s in 0..4 {
                let y = _mm256_loadu_ps(bp[s].add(k));
                acc[s] = _mm256_fmadd_ps(x0, y, acc[s]);
                acc[4 + s] = _mm256_fmadd_ps(x1, y, acc[4 + s]);
            }
        }
        k += 8;
    }
    // 8 × 8 transpose: t[l] holds lane l of acc[0..8]
    let t0 = _mm256_unpacklo_ps(acc[0], acc[1]);
    let t1 = _mm256_unpackhi_ps(acc[0], acc[1]);
    let t2 = _mm256_unpacklo_ps(acc[2], acc[3]);
    let t3 = _mm256_unpackhi_ps(acc[2], acc[3]);
    let t4 = _mm256_unpacklo_ps(acc[4], acc[5]);
    let t5 = _mm256_unpackhi_ps(acc[4], acc[5]);
    let t6 = _mm256_unpacklo_ps(acc[6], acc[7]);
    let t7 = _mm256_unpackhi_ps(acc[6], acc[7]);
    let s0 = _mm256_shuffle_ps::<0x44>(t0, t2);
    let s1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
    let s2 = _mm256_shuffle_ps::<0x44>(t1, t3);
    let s3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
    let s4 = _mm256_shuffle_ps::<0x44>(t4, t6);
    let s5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
    let s6 = _mm256_shuffle_ps::<0x44>(t5, t7);
    let s7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
    let lane = [
        _mm256_permute2f128_ps::<0x20>(s0, s4),
        _mm256_permute2f128_ps::<0x20>(s1, s5),
        _mm256_permute2f128_ps::<0x20>(s2, s6),
        _mm256_permute2f128_ps::<0x20>(s3, s7),
        _mm256_permute2f128_ps::<0x31>(s0, s4),
        _mm256_permute2f128_ps::<0x31>(s1, s5),
        _mm256_permute2f128_ps::<0x31>(s2, s6),
        _mm256_permute2f128_ps::<0x31>(s3, s7),
    ];
    let mut sum = lane[0];
    for l in &lane[1..] {
        sum = _mm256_add_ps(sum, *l);
    }
    let mut out = [[0.0f32; 4]; 2];
    // SAFETY: `out` holds 8 contiguous floats, row r at 4r.
    unsafe { _mm256_storeu_ps(out.as_mut_ptr() as *mut f32, sum) };
    if full < d {
        for (r, row) in out.iter_mut().enumerate() {
            for (s, v) in row.iter_mut().enumerate() {
                for kk in full..d {
                    // SAFETY: kk < d.
                    unsafe { *v += *ap[r].add(kk) * *bp[s].add(kk) };
                }
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Small products inside dispatched kernels
// ---------------------------------------------------------------------------------------

/// A strided row-major view used as the left operand of [`matmul_into`]: element `(r, k)`
/// is `data[r · row + k · col]`, so transposed operands need no copy (their elements are
/// broadcast one at a time anyway).
#[derive(Debug, Clone, Copy)]
pub struct Lhs<'a> {
    /// The values.
    pub data: &'a [f32],
    /// Stride between rows.
    pub row: usize,
    /// Stride between columns.
    pub col: usize,
}

impl<'a> Lhs<'a> {
    /// `data` as a row-major `[·, k]` matrix.
    #[inline(always)]
    pub fn rows(data: &'a [f32], k: usize) -> Self {
        Lhs {
            data,
            row: k,
            col: 1,
        }
    }

    /// The transpose of a row-major `[k, ·]` matrix `data` with `r` columns.
    #[inline(always)]
    pub fn cols(data: &'a [f32], r: usize) -> Self {
        Lhs {
            data,
            row: 1,
            col: r,
        }
    }
}

/// `out[r, c] (+)= Σ_kk x(r, kk) · w[kk, c]` for `r < m`, `c < n`, `kk < k`, with `out` and
/// `w` row-major (`add`: accumulate, else overwrite). A register-blocked kernel for small
/// products: tiles of 4 rows × 16 columns stay in registers while `k` streams by. `FMA`:
/// fused multiply-adds ([`crate::host::simd::Level::fma`]).
///
/// # Panics
/// If `out`, `w` or `x` is too short for the sizes.
#[inline(always)]
pub fn matmul_into<const FMA: bool>(
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
    // `tile` indexes `x` unchecked: every (r, kk) with r < m, kk < k must be in bounds
    assert!((m - 1) * x.row + (k - 1) * x.col < x.data.len());
    let mut r = 0;
    while r + 4 <= m {
        tile_rows::<FMA, 4>(out, add, r, x, k, w, n);
        r += 4;
    }
    // the last 1–3 rows in one tile (a lone row's accumulators form too short a dependency
    // chain to hide the multiply-add latency)
    match m - r {
        3 => tile_rows::<FMA, 3>(out, add, r, x, k, w, n),
        2 => tile_rows::<FMA, 2>(out, add, r, x, k, w, n),
        1 => tile_rows::<FMA, 1>(out, add, r, x, k, w, n),
        _ => {}
    }
}

#[inline(always)]
fn tile_rows<const FMA: bool, const R: usize>(
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
        tile::<FMA, R, 16>(out, add, r0, c, x, k, w, n);
        c += 16;
    }
    while c + 8 <= n {
        tile::<FMA, R, 8>(out, add, r0, c, x, k, w, n);
        c += 8;
    }
    while c + 4 <= n {
        tile::<FMA, R, 4>(out, add, r0, c, x, k, w, n);
        c += 4;
    }
    while c < n {
        tile::<FMA, R, 1>(out, add, r0, c, x, k, w, n);
        c += 1;
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn tile<const FMA: bool, const R: usize, const L: usize>(
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
    // about as much as the multiply-adds here). SAFETY: `matmul_into` sliced `w` to `k · n`
    // values and `tile_rows` keeps `c + L ≤ n`, so `kk · n + c + L ≤ k · n`; `matmul_into`
    // asserted that `(m − 1)·row + (k − 1)·col < x.data.len()`, and `r0 + t < m`, `kk < k`.
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

/// `out[r] = bias + x[r] W` for the rows of `x: [m, k]`, `W: [k, n]` (`m = x.len() / k`).
#[inline(always)]
pub fn linear_rows<const FMA: bool>(
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
    matmul_into::<FMA>(out, true, m, Lhs::rows(x, k), k, w, n);
}

/// `a: [m, k] · b: [k, n]`, row-major, without fused multiply-adds (the same bits on every
/// CPU).
pub fn matmul(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
    let mut o = vec![0.0; m * n];
    matmul_into::<false>(&mut o, false, m, Lhs::rows(a, k), k, b, n);
    o
}

/// The transpose of a row-major `[rows, cols]` matrix.
pub fn transpose(w: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0; rows * cols];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = w[r * cols + c];
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rnd_vec(state: &mut u64, len: usize) -> Vec<f32> {
        (0..len)
            .map(|_| {
                *state ^= *state << 13;
                *state ^= *state >> 7;
                *state ^= *state << 17;
                (*state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
            })
            .collect()
    }

    #[test]
    fn gram_matches_naive() {
        for (n, m, d) in [(1, 1, 1), (3, 5, 7), (17, 9, 19), (33, 130, 64)] {
            let a: Vec<f32> = (0..n * d).map(|i| ((i * 37) % 11) as f32 - 5.0).collect();
            let b: Vec<f32> = (0..m * d).map(|i| ((i * 53) % 13) as f32 - 6.0).collect();
            let c = gram_nt(&a, &b, n, m, d);
            for i in 0..n {
                for j in 0..m {
                    let want: f32 = (0..d).map(|k| a[i * d + k] * b[j * d + k]).sum();
                    assert_eq!(c[i * m + j], want, "({i},{j}) of {n}x{m}x{d}");
                    let lvl = level();
                    let one = dot_at(&a[i * d..(i + 1) * d], &b[j * d..(j + 1) * d], lvl);
                    assert_eq!(c[i * m + j].to_bits(), one.to_bits());
                }
            }
        }
    }

    /// Non-integer values, so summation order matters; sizes cover the register blocks,
    /// the edge rows and columns computed one by one, dims with and without a tail, and
    /// several parallel strips. Every level this CPU has is checked.
    #[test]
    fn every_entry_equals_dot_at_bit_for_bit() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for (n, m, d) in [
            (7, 13, 37),
            (16, 9, 256),
            (5, 31, 300),
            (21, 263, 16),
            (9, 11, 8),
            (6, 6, 3),
        ] {
            let a = rnd_vec(&mut state, n * d);
            let b = rnd_vec(&mut state, m * d);
            for lvl in [Level::Portable, Level::Avx2, Level::Avx512] {
                let c = gram_nt_at(lvl, &a, &b, n, m, d);
                for i in 0..n {
                    for j in 0..m {
                        let one = dot_at(&a[i * d..(i + 1) * d], &b[j * d..(j + 1) * d], lvl);
                        assert_eq!(
                            c[i * m + j].to_bits(),
                            one.to_bits(),
                            "({i},{j}) of {n}x{m}x{d} at {lvl:?}"
                        );
                    }
                }
            }
        }
    }

    /// The AVX-512 and AVX2 dot products against their definitions written out in scalar
    /// code: lanes accumulated with fused multiply-adds, then reduced in the documented
    /// order, then the tail.
    #[test]
    fn dot_at_follows_its_documented_arithmetic() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for d in [1, 8, 15, 16, 17, 64, 300] {
            let x = rnd_vec(&mut state, d);
            let y = rnd_vec(&mut state, d);
            let lanes = |w: usize| {
                let mut acc = vec![0.0f32; w];
                let full = d / w * w;
                for k in 0..full {
                    acc[k % w] = x[k].mul_add(y[k], acc[k % w]);
                }
                (acc, full)
            };
            let tail = |mut v: f32, full: usize| {
                for k in full..d {
                    v += x[k] * y[k];
                }
                v
            };
            let (l16, f16) = lanes(16);
            let h8: Vec<f32> = (0..8).map(|i| l16[i] + l16[i + 8]).collect();
            let h4: Vec<f32> = (0..4).map(|i| h8[i] + h8[i + 4]).collect();
            let want16 = tail((h4[0] + h4[2]) + (h4[1] + h4[3]), f16);
            let (l8, f8) = lanes(8);
            let want8 = tail(l8.iter().fold(-0.0f32, |s, v| s + v), f8);
            if level() >= Level::Avx512 {
                assert_eq!(dot_at(&x, &y, Level::Avx512).to_bits(), want16.to_bits());
            }
            if level() >= Level::Avx2 {
                assert_eq!(dot_at(&x, &y, Level::Avx2).to_bits(), want8.to_bits());
            }
            assert_eq!(
                dot_at(&x, &y, Level::Portable).to_bits(),
                dot8(&x, &y).to_bits()
            );
        }
    }

    #[test]
    fn small_products_match_naive() {
        let mut state = 7u64;
        for (m, k, n) in [(1, 1, 1), (3, 5, 7), (4, 16, 16), (9, 20, 37), (6, 0, 3)] {
            let a = rnd_vec(&mut state, m * k);
            let b = rnd_vec(&mut state, k * n);
            let c = matmul(&a, &b, m, k, n);
            for r in 0..m {
                for col in 0..n {
                    let want: f32 = (0..k).map(|t| a[r * k + t] * b[t * n + col]).sum();
                    assert!((c[r * n + col] - want).abs() < 1e-5, "({r},{col})");
                }
            }
            // the transpose of aᵀ through a strided view gives the same product
            let at = transpose(&a, m, k);
            let mut c2 = vec![1.0; m * n];
            matmul_into::<false>(&mut c2, false, m, Lhs::cols(&at, m), k, &b, n);
            assert_eq!(c, c2);
            let bias = rnd_vec(&mut state, n);
            let mut lin = vec![0.0; m * n];
            if k > 0 {
                linear_rows::<false>(&a, &b, &bias, &mut lin, k, n);
                for r in 0..m {
                    for col in 0..n {
                        let want = c[r * n + col] + bias[col];
                        assert!((lin[r * n + col] - want).abs() < 1e-5);
                    }
                }
            }
        }
    }
}
