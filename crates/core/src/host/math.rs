//! Scalar and short-vector math for host kernels: `exp` and `erf` approximations that
//! vectorise, a softmax, lane-wise sums, `axpy`.
//!
//! Every function is `#[inline(always)]`, so it is compiled with the target features of the
//! kernel it is inlined into (see [`crate::host::simd`]); none changes its arithmetic with the
//! level (no reassociation: lane sums add their lanes in a fixed order).

/// `y[..] += a · x[..]`.
#[inline(always)]
pub fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

/// `a · b + c`, fused where `FMA` (use it only where the CPU has the instruction:
/// [`crate::host::simd::Level::fma`]).
#[inline(always)]
pub fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

/// `e^x` for `x ≤ 88` (below −87.3 it returns ≈ 1e−38 instead of a denormal or 0):
/// range reduction to `[−ln2/2, ln2/2]` and a degree-6 Taylor polynomial (relative error
/// ≈ 1.2e−7). Branch-free and integer-cast-free (the rounding of `x log2 e` to an integer
/// `k` and `2^k` both go through the float's bits), so loops over it vectorise.
#[inline(always)]
pub fn exp_approx(x: f32) -> f32 {
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
pub fn erf_with_exp(x: f32, ex: f32) -> f32 {
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
pub fn softmax_in_place(v: &mut [f32]) {
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
pub fn sum_lanes(v: &[f32]) -> f32 {
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

#[cfg(test)]
mod tests {
    use super::*;

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
