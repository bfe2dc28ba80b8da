//! `f32::exp` over a slice, vectorised, bit for bit what the platform's scalar `expf` returns.
//!
//! Why: Burn's flex backend and ember's host GELU derivative call `f32::exp` one element at a
//! time; in the Transformer's training step those calls were 6.5 % of the time (issue 21,
//! `docs/perf.md`). On x86-64 Linux, `f32::exp` is glibc's `expf`, which on a CPU with AVX2
//! and FMA is `__expf_fma`: Szabolcs Nagy's algorithm (ARM optimized-routines, glibc ≥ 2.27)
//! in double precision with a 32-entry table of `2^(i/32)`, compiled with fused
//! multiply-adds. [`exp_slice`] runs those same operations, in the same order and with the
//! same fused multiply-adds (read off the disassembly), on vectors; inputs outside the
//! table's range (`|x| ≳ 88`, infinities, NaN) go through the scalar `f32::exp` itself.
//!
//! Exactness is checked, not assumed: on first use a sample of 2^20 inputs spread over every
//! exponent is compared with `f32::exp`, and on any difference (another libm, another
//! `expf` variant, a CPU without FMA) [`exp_slice`] calls `f32::exp` per element instead.
//! A test compares every 61st `f32`; an `--ignored` one all 2^32.

use std::sync::OnceLock;

use crate::host::simd::{Kernel, Level, dispatch, level};

/// `__exp2f_data.tab`: `asuint64(2^(i/32)) − (i << 47)`, as glibc stores it.
const TAB: [u64; 32] = [
    0x3ff0000000000000,
    0x3fefd9b0d3158574,
    0x3fefb5586cf9890f,
    0x3fef9301d0125b51,
    0x3fef72b83c7d517b,
    0x3fef54873168b9aa,
    0x3fef387a6e756238,
    0x3fef1e9df51fdee1,
    0x3fef06fe0a31b715,
    0x3feef1a7373aa9cb,
    0x3feedea64c123422,
    0x3feece086061892d,
    0x3feebfdad5362a27,
    0x3feeb42b569d4f82,
    0x3feeab07dd485429,
    0x3feea47eb03a5585,
    0x3feea09e667f3bcd,
    0x3fee9f75e8ec5f74,
    0x3feea11473eb0187,
    0x3feea589994cce13,
    0x3feeace5422aa0db,
    0x3feeb737b0cdc5e5,
    0x3feec49182a3f090,
    0x3feed503b23e255d,
    0x3feee89f995ad3ad,
    0x3feeff76f2fb5e47,
    0x3fef199bdd85529c,
    0x3fef3720dcef9069,
    0x3fef5818dcfba487,
    0x3fef7c97337b9b5f,
    0x3fefa4afa2a490da,
    0x3fefd0765b6e4540,
];
/// `32 / ln 2` (`invln2_scaled`).
const INV_LN2_N: u64 = 0x40471547652b82fe;
/// `0x1.8p52`: adding it rounds to an integer held in the low mantissa bits (`shift`).
const SHIFT: u64 = 0x4338000000000000;
/// `poly_scaled`: the cubic for `2^(r/32)`, highest power first.
const C0: u64 = 0x3ebc6af84b912394;
const C1: u64 = 0x3f2ebfce50fac4f3;
const C2: u64 = 0x3f962e42ff0c52d6;
/// Inputs whose `(bits >> 20) & 0x7ff` exceeds this leave the table's range (`|x| ≥ 88`,
/// infinities, NaN) and take glibc's special-case code: the scalar call here.
const ABSTOP_LIMIT: u32 = 0x42a;

/// Elements per parallel task: large enough that rayon's overhead is small.
const CHUNK: usize = 1 << 14;

/// `__expf_fma`'s main path for one element (valid where `x` is in the table's range).
#[inline(always)]
fn expf_main(x: f32) -> f32 {
    let xd = x as f64;
    let inv_ln2_n = f64::from_bits(INV_LN2_N);
    let shift = f64::from_bits(SHIFT);
    let kd_shifted = inv_ln2_n.mul_add(xd, shift);
    let ki = kd_shifted.to_bits();
    let kd = kd_shifted - shift;
    let r = inv_ln2_n.mul_add(xd, -kd);
    let s = f64::from_bits(TAB[(ki & 31) as usize].wrapping_add(ki << 47));
    let z = f64::from_bits(C0).mul_add(r, f64::from_bits(C1));
    let r2 = r * r;
    let y = f64::from_bits(C2).mul_add(r, 1.0);
    let y = z.mul_add(r2, y);
    (y * s) as f32
}

/// Whether `x` leaves the main path (glibc's `abstop >= top12(88.0f)` test).
#[inline(always)]
fn is_special(x: f32) -> bool {
    (x.to_bits() >> 20) & 0x7ff > ABSTOP_LIMIT
}

/// The vectorised pass over one block, in place: the main path for every element, then the
/// scalar call for the few special ones (found from a copy of the inputs, since an output
/// may itself look special).
struct ExpInPlace<'a>(&'a mut [f32]);

impl Kernel for ExpInPlace<'_> {
    type Output = ();

    #[inline(always)]
    fn run<const FMA: bool>(self) {
        const SUB: usize = 64;
        for sub in self.0.chunks_mut(SUB) {
            let mut saved = [0.0f32; SUB];
            let saved = &mut saved[..sub.len()];
            saved.copy_from_slice(sub);
            let mut any_special = false;
            for (out, &x) in sub.iter_mut().zip(saved.iter()) {
                any_special |= is_special(x);
                *out = expf_main(x);
            }
            if any_special {
                for (out, &x) in sub.iter_mut().zip(saved.iter()) {
                    if is_special(x) {
                        *out = x.exp();
                    }
                }
            }
        }
    }
}

/// Whether [`exp_slice`] may use the vector path: the CPU has AVX2 and FMA (so glibc runs
/// `__expf_fma`) and a sample of 2^20 inputs agrees with `f32::exp` bit for bit.
fn vector_path_exact() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(|| {
        if level() < Level::Avx2 || !cfg!(all(target_os = "linux", target_env = "gnu")) {
            return false;
        }
        let step = (1u64 << 32) / (1 << 20) + 1;
        let xs: Vec<f32> = (0..(1u64 << 32))
            .step_by(step as usize)
            .map(|b| f32::from_bits(b as u32))
            .chain([0.0, -0.0, 88.0, -88.0, -103.5, 1e-30])
            .collect();
        let mut ys = xs.clone();
        for block in ys.chunks_mut(CHUNK) {
            dispatch(ExpInPlace(block));
        }
        xs.iter().zip(&ys).all(|(x, y)| same(x.exp(), *y))
    })
}

/// Bitwise equality, any NaN equal to any NaN.
fn same(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// [`exp_slice`] on the calling thread: for a caller that already splits its work across
/// cores (the GELU derivative's blocks).
pub fn exp_block(v: &mut [f32]) {
    if vector_path_exact() {
        dispatch(ExpInPlace(v));
    } else {
        for x in v {
            *x = x.exp();
        }
    }
}

/// `v[i] = v[i].exp()` for every element, bit for bit as `f32::exp`, vectorised and on every
/// core where [`vector_path_exact`] holds (otherwise the scalar call, still on every core).
pub fn exp_slice(v: &mut [f32]) {
    use rayon::prelude::*;
    if vector_path_exact() {
        v.par_chunks_mut(CHUNK)
            .for_each(|block| dispatch(ExpInPlace(block)));
    } else {
        v.par_chunks_mut(CHUNK).for_each(|block| {
            for x in block {
                *x = x.exp();
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sweep(step: u64) {
        let mut bad = 0u64;
        let mut first = None;
        let mut batch: Vec<f32> = Vec::with_capacity(1 << 20);
        let mut check = |xs: &mut Vec<f32>| {
            let mut ys = xs.clone();
            exp_slice(&mut ys);
            for (x, y) in xs.iter().zip(&ys) {
                if !same(x.exp(), *y) {
                    bad += 1;
                    first.get_or_insert(*x);
                }
            }
            xs.clear();
        };
        let mut bits = 0u64;
        while bits < (1u64 << 32) {
            batch.push(f32::from_bits(bits as u32));
            if batch.len() == batch.capacity() {
                check(&mut batch);
            }
            bits += step;
        }
        batch.extend([
            0.0,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            88.72284,
            88.72285,
            -103.27893,
            -103.972_08,
            -104.0,
            1e-30,
        ]);
        check(&mut batch);
        assert_eq!(bad, 0, "first mismatch at x = {first:?}");
    }

    #[test]
    fn exp_slice_matches_f32_exp_bit_for_bit() {
        sweep(61);
    }

    #[test]
    #[ignore = "sweeps all 2^32 floats"]
    fn exp_every_f32() {
        sweep(1);
    }

    #[test]
    fn vector_path_is_taken_where_glibc_runs_expf_fma() {
        if cfg!(all(target_os = "linux", target_env = "gnu")) && level() >= Level::Avx2 {
            assert!(vector_path_exact(), "the sample disagreed with f32::exp");
        }
    }
}
