//! `C = A Bᵀ` for row-major `A: [n, d]`, `B: [m, d]` (the Gram blocks of the text path).
//!
//! A register-blocked dot-product kernel (2 rows of A × 4 rows of B, 8 AVX2/FMA accumulators,
//! B tiled to stay in L2) selected at run time, with a portable fallback; rows of A are
//! spread over threads with rayon. Plain f32 arithmetic: results can differ from another
//! GEMM in the last bits, never in meaning.

use ember_core::ops::dot8 as dot;
use rayon::prelude::*;

const B_TILE: usize = 96;

/// `A Bᵀ` as a row-major `n × m` vector.
pub fn gram_nt(a: &[f32], b: &[f32], n: usize, m: usize, d: usize) -> Vec<f32> {
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
    let mut c = vec![0.0f32; n * m];
    if n == 0 || m == 0 {
        return c;
    }
    let fast = simd_level();
    // chunks of 2·k rows of A per task
    let rows_per_task = 16;
    c.par_chunks_mut(rows_per_task * m)
        .enumerate()
        .for_each(|(t, cc)| {
            let i0 = t * rows_per_task;
            let rows = cc.len() / m;
            for j0 in (0..m).step_by(B_TILE) {
                let j1 = (j0 + B_TILE).min(m);
                let mut i = 0;
                while i < rows {
                    let two = i + 1 < rows;
                    let mut j = j0;
                    while j < j1 {
                        let four = j + 4 <= j1;
                        if two && four {
                            let out = block(a, b, d, i0 + i, j, fast);
                            for r in 0..2 {
                                cc[(i + r) * m + j..(i + r) * m + j + 4].copy_from_slice(&out[r]);
                            }
                            j += 4;
                        } else {
                            for r in 0..if two { 2 } else { 1 } {
                                cc[(i + r) * m + j] = dot_at(
                                    &a[(i0 + i + r) * d..(i0 + i + r + 1) * d],
                                    &b[j * d..(j + 1) * d],
                                    fast,
                                );
                            }
                            j += 1;
                        }
                    }
                    i += 2;
                }
            }
        });
    c
}

#[inline]
fn block(a: &[f32], b: &[f32], d: usize, i: usize, j: usize, fast: u8) -> [[f32; 4]; 2] {
    #[cfg(target_arch = "x86_64")]
    if fast == 2 {
        // SAFETY: avx512f was detected at run time; indices are in bounds (checked by the
        // caller: i + 1 < n, j + 3 < m) and loads are unaligned.
        return unsafe { block_avx512(a, b, d, i, j) };
    } else if fast == 1 {
        // SAFETY: avx2 and fma were detected at run time; same bounds as above.
        return unsafe { block_avx2(a, b, d, i, j) };
    }
    let _ = fast;
    let mut out = [[0.0f32; 4]; 2];
    for (r, row) in out.iter_mut().enumerate() {
        for (s, v) in row.iter_mut().enumerate() {
            *v = dot(
                &a[(i + r) * d..(i + r + 1) * d],
                &b[(j + s) * d..(j + s + 1) * d],
            );
        }
    }
    out
}

/// The SIMD level [`gram_nt`] uses on this machine: 2 = AVX-512, 1 = AVX2 + FMA,
/// 0 = portable. Pass it to [`dot_at`] to reproduce one entry of `gram_nt` bit for bit.
pub fn simd_level() -> u8 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            2
        } else if std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
        {
            1
        } else {
            0
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    0
}

/// `⟨x, y⟩` with exactly the arithmetic (lane count, FMA, reduction order) of one entry of
/// [`gram_nt`] at SIMD `level` ([`simd_level`]), so that an entry recomputed on its own equals
/// the GEMM's: exact tie handling depends on it.
#[inline]
pub fn dot_at(x: &[f32], y: &[f32], level: u8) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    #[cfg(target_arch = "x86_64")]
    if level == 2 {
        // SAFETY: level 2 is only reported when avx512f was detected at run time.
        return unsafe { dot_avx512(x, y) };
    } else if level == 1 {
        // SAFETY: level 1 is only reported when avx2 and fma were detected at run time.
        return unsafe { dot_avx2(x, y) };
    }
    let _ = level;
    dot(x, y)
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

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn block_avx2(a: &[f32], b: &[f32], d: usize, i: usize, j: usize) -> [[f32; 4]; 2] {
    use std::arch::x86_64::*;
    let a0 = a[i * d..(i + 1) * d].as_ptr();
    let a1 = a[(i + 1) * d..(i + 2) * d].as_ptr();
    let bs = [
        b[j * d..(j + 1) * d].as_ptr(),
        b[(j + 1) * d..(j + 2) * d].as_ptr(),
        b[(j + 2) * d..(j + 3) * d].as_ptr(),
        b[(j + 3) * d..(j + 4) * d].as_ptr(),
    ];
    let mut acc = [[_mm256_setzero_ps(); 4]; 2];
    let full = d / 8 * 8;
    let mut k = 0;
    while k < full {
        // SAFETY: k + 8 ≤ d for every row pointer.
        unsafe {
            let x0 = _mm256_loadu_ps(a0.add(k));
            let x1 = _mm256_loadu_ps(a1.add(k));
            for s in 0..4 {
                let y = _mm256_loadu_ps(bs[s].add(k));
                acc[0][s] = _mm256_fmadd_ps(x0, y, acc[0][s]);
                acc[1][s] = _mm256_fmadd_ps(x1, y, acc[1][s]);
            }
        }
        k += 8;
    }
    let mut out = [[0.0f32; 4]; 2];
    for r in 0..2 {
        for s in 0..4 {
            let mut lanes = [0.0f32; 8];
            // SAFETY: `lanes` holds 8 floats.
            unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc[r][s]) };
            let mut v: f32 = lanes.iter().sum();
            let ar = if r == 0 { a0 } else { a1 };
            for kk in full..d {
                // SAFETY: kk < d.
                unsafe { v += *ar.add(kk) * *bs[s].add(kk) };
            }
            out[r][s] = v;
        }
    }
    out
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn block_avx512(a: &[f32], b: &[f32], d: usize, i: usize, j: usize) -> [[f32; 4]; 2] {
    use std::arch::x86_64::*;
    let a0 = a[i * d..(i + 1) * d].as_ptr();
    let a1 = a[(i + 1) * d..(i + 2) * d].as_ptr();
    let bs = [
        b[j * d..(j + 1) * d].as_ptr(),
        b[(j + 1) * d..(j + 2) * d].as_ptr(),
        b[(j + 2) * d..(j + 3) * d].as_ptr(),
        b[(j + 3) * d..(j + 4) * d].as_ptr(),
    ];
    let mut acc = [[_mm512_setzero_ps(); 4]; 2];
    let full = d / 16 * 16;
    let mut k = 0;
    while k < full {
        // SAFETY: k + 16 ≤ d for every row pointer.
        unsafe {
            let x0 = _mm512_loadu_ps(a0.add(k));
            let x1 = _mm512_loadu_ps(a1.add(k));
            for s in 0..4 {
                let y = _mm512_loadu_ps(bs[s].add(k));
                acc[0][s] = _mm512_fmadd_ps(x0, y, acc[0][s]);
                acc[1][s] = _mm512_fmadd_ps(x1, y, acc[1][s]);
            }
        }
        k += 16;
    }
    let mut out = [[0.0f32; 4]; 2];
    for r in 0..2 {
        for s in 0..4 {
            let mut v = _mm512_reduce_add_ps(acc[r][s]);
            let ar = if r == 0 { a0 } else { a1 };
            for kk in full..d {
                // SAFETY: kk < d.
                unsafe { v += *ar.add(kk) * *bs[s].add(kk) };
            }
            out[r][s] = v;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn matches_naive() {
        for (n, m, d) in [(1, 1, 1), (3, 5, 7), (17, 9, 19), (33, 130, 64)] {
            let a: Vec<f32> = (0..n * d).map(|i| ((i * 37) % 11) as f32 - 5.0).collect();
            let b: Vec<f32> = (0..m * d).map(|i| ((i * 53) % 13) as f32 - 6.0).collect();
            let c = super::gram_nt(&a, &b, n, m, d);
            for i in 0..n {
                for j in 0..m {
                    let want: f32 = (0..d).map(|k| a[i * d + k] * b[j * d + k]).sum();
                    assert_eq!(c[i * m + j], want, "({i},{j}) of {n}x{m}x{d}");
                    let lvl = super::simd_level();
                    let one = super::dot_at(&a[i * d..(i + 1) * d], &b[j * d..(j + 1) * d], lvl);
                    assert_eq!(c[i * m + j].to_bits(), one.to_bits());
                }
            }
        }
    }

    #[test]
    fn every_entry_equals_dot_at_bit_for_bit() {
        // non-integer values, so summation order matters; sizes cover the 2×4 blocks and
        // the edge columns/rows computed one by one
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        for (n, m, d) in [(7, 13, 37), (16, 9, 256), (5, 31, 300)] {
            let a: Vec<f32> = (0..n * d).map(|_| rnd()).collect();
            let b: Vec<f32> = (0..m * d).map(|_| rnd()).collect();
            let c = super::gram_nt(&a, &b, n, m, d);
            let lvl = super::simd_level();
            for i in 0..n {
                for j in 0..m {
                    let one = super::dot_at(&a[i * d..(i + 1) * d], &b[j * d..(j + 1) * d], lvl);
                    assert_eq!(
                        c[i * m + j].to_bits(),
                        one.to_bits(),
                        "({i},{j}) of {n}x{m}x{d}"
                    );
                }
            }
        }
    }
}
