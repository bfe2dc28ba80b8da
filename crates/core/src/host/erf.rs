//! `erf` bit for bit as `libm::erff`, and the exact-erf GELU and its derivative bit for bit as
//! Burn's flex backend computes them, in loops that vectorise and run on every core.
//!
//! Flex evaluates GELU one element at a time through `libm::erff` (FreeBSD's `s_erff.c`,
//! whose `|x| ≥ 1.25` branch calls `expf` twice), which made GELU the largest cost of the
//! Transformer's forward pass (issue 21, `docs/perf.md`). Here each of libm's three branches
//! is a branch-free function, the elements of a block are sorted into the branch they take,
//! and each branch runs as a vectorised loop over its own elements. Every element goes
//! through the same IEEE operations in the same order as in libm, hence the same bits
//! (checked over every `f32` in a test). No fused
//! multiply-add is ever formed: Rust does not contract `a * b + c`, so the result does not
//! depend on the vector level the kernel is compiled for.

// The coefficients are libm's (FreeBSD's), digit for digit, so that each rounds to the same
// f32 as there.
#![allow(clippy::excessive_precision)]

use rayon::prelude::*;

use crate::host::exp::exp_block;
use crate::host::simd::{Kernel, dispatch};

const ERX: f32 = 8.450_629_115e-1;
const EFX8: f32 = 1.027_033_329;
const PP0: f32 = 1.283_791_661_3e-1;
const PP1: f32 = -3.250_420_987_6e-1;
const PP2: f32 = -2.848_174_981_8e-2;
const PP3: f32 = -5.770_270_247_0e-3;
const PP4: f32 = -2.376_301_745_2e-5;
const QQ1: f32 = 3.979_172_110_6e-1;
const QQ2: f32 = 6.502_225_250_0e-2;
const QQ3: f32 = 5.081_306_211_7e-3;
const QQ4: f32 = 1.324_947_370_4e-4;
const QQ5: f32 = -3.960_228_241_3e-6;
const PA0: f32 = -2.362_118_568_3e-3;
const PA1: f32 = 4.148_561_060_4e-1;
const PA2: f32 = -3.722_078_800_2e-1;
const PA3: f32 = 3.183_466_196_1e-1;
const PA4: f32 = -1.108_946_949_2e-1;
const PA5: f32 = 3.547_830_507_2e-2;
const PA6: f32 = -2.166_375_517_8e-3;
const QA1: f32 = 1.064_208_820_5e-1;
const QA2: f32 = 5.403_979_420_7e-1;
const QA3: f32 = 7.182_865_589_9e-2;
const QA4: f32 = 1.261_712_163_7e-1;
const QA5: f32 = 1.363_708_358_3e-2;
const QA6: f32 = 1.198_450_010_3e-2;
const RA0: f32 = -9.864_944_033_3e-3;
const RA1: f32 = -6.938_585_639_0e-1;
const RA2: f32 = -1.055_862_617_5e1;
const RA3: f32 = -6.237_533_187_9e1;
const RA4: f32 = -1.623_966_674_8e2;
const RA5: f32 = -1.846_050_872_8e2;
const RA6: f32 = -8.128_743_743_9e1;
const RA7: f32 = -9.814_329_147_3;
const SA1: f32 = 1.965_127_182_0e1;
const SA2: f32 = 1.376_577_606_2e2;
const SA3: f32 = 4.345_658_874_5e2;
const SA4: f32 = 6.453_872_680_7e2;
const SA5: f32 = 4.290_081_481_9e2;
const SA6: f32 = 1.086_350_021_4e2;
const SA7: f32 = 6.570_249_557_5;
const SA8: f32 = -6.042_441_353_2e-2;
const RB0: f32 = -9.864_943_102_0e-3;
const RB1: f32 = -7.992_832_660_7e-1;
const RB2: f32 = -1.775_795_555_1e1;
const RB3: f32 = -1.606_363_830_6e2;
const RB4: f32 = -6.375_664_672_9e2;
const RB5: f32 = -1.025_095_092_8e3;
const RB6: f32 = -4.835_191_955_6e2;
const SB1: f32 = 3.033_806_037_9e1;
const SB2: f32 = 3.257_925_109_9e2;
const SB3: f32 = 1.536_729_614_3e3;
const SB4: f32 = 3.199_858_154_3e3;
const SB5: f32 = 2.553_050_293_0e3;
const SB6: f32 = 4.745_285_339_4e2;
const SB7: f32 = -2.244_095_230_1e1;

const LN2_HI: f32 = 6.931_457_519_5e-1;
const LN2_LO: f32 = 1.428_606_765_3e-6;
const INV_LN2: f32 = 1.442_695_021_6;
const P1: f32 = 1.666_662_544_0e-1;
const P2: f32 = -2.766_733_290_6e-3;

/// `libm::expf` for `|x| < 87.33` (FreeBSD's `e_expf.c` without its overflow and underflow
/// branches), which is every argument [`erff`] passes it on a path it selects.
///
/// The integer `k` of the range reduction stays a float (`trunc` for libm's `as i32`, exact
/// below 2^24) and `2^k` is built from the bits of `k + 2^23 + 127`, so that no float-to-int
/// conversion breaks the loop's vectorisation.
#[inline(always)]
fn expf_in_range(x: f32) -> f32 {
    let bits = x.to_bits();
    let hx = bits & 0x7fff_ffff;
    let neg = bits >> 31 != 0;
    // libm's `as i32` truncation, kept in float (exact: |k| < 2^24 wherever it is selected)
    let k_far = (INV_LN2 * x + if neg { -0.5 } else { 0.5 }).trunc();
    let k_near = if neg { -1.0 } else { 1.0 };
    let reduce = hx > 0x3eb1_7218;
    let k = if !reduce {
        0.0
    } else if hx > 0x3f85_1592 {
        k_far
    } else {
        k_near
    };
    let hi_reduced = x - k * LN2_HI;
    let lo_reduced = k * LN2_LO;
    let (hi, lo, r) = if reduce {
        (hi_reduced, lo_reduced, hi_reduced - lo_reduced)
    } else {
        (x, 0.0, x)
    };
    let rr = r * r;
    let c = r - rr * (P1 + rr * P2);
    let y = 1.0 + (r * c / (2.0 - c) - lo + hi);
    // scalbnf(y, k) = y · 2^k, exact: y · 2^k is a normal number for every k reached here
    let biased_exponent = (k + (8_388_608.0 + 127.0))
        .to_bits()
        .wrapping_sub(0x4b00_0000);
    let scaled = y * f32::from_bits(biased_exponent << 23);
    let scaled = if k == 0.0 { y } else { scaled };
    if hx > 0x3900_0000 { scaled } else { 1.0 + x }
}

/// libm's `|x| < 0.84375` branch: `x + x·R(x²)/S(x²)`, below 2^-28 a scaled linear term.
#[inline(always)]
fn erf_near_zero(x: f32) -> f32 {
    let ix = x.to_bits() & 0x7fff_ffff;
    let z = x * x;
    let r = PP0 + z * (PP1 + z * (PP2 + z * (PP3 + z * PP4)));
    let s = 1.0 + z * (QQ1 + z * (QQ2 + z * (QQ3 + z * (QQ4 + z * QQ5))));
    let near_zero = x + x * (r / s);
    let tiny = 0.125 * (8.0 * x + EFX8 * x);
    if ix < 0x3180_0000 { tiny } else { near_zero }
}

/// libm's `0.84375 ≤ |x| < 1.25` branch: `±(1 − erfc(|x|))` with
/// `erfc(|x|) = 1 − erx − P(|x|−1)/Q(|x|−1)`.
#[inline(always)]
fn erf_mid(x: f32) -> f32 {
    let bits = x.to_bits();
    let ax = f32::from_bits(bits & 0x7fff_ffff);
    let s = ax - 1.0;
    let p = PA0 + s * (PA1 + s * (PA2 + s * (PA3 + s * (PA4 + s * (PA5 + s * PA6)))));
    let q = 1.0 + s * (QA1 + s * (QA2 + s * (QA3 + s * (QA4 + s * (QA5 + s * QA6)))));
    let magnitude = 1.0 - (1.0 - ERX - p / q);
    if bits >> 31 != 0 {
        -magnitude
    } else {
        magnitude
    }
}

/// libm's branches for `|x| ≥ 1.25`: `±(1 − erfc(|x|))` with
/// `erfc(|x|) = exp(−z² − 0.5625) · exp((z − |x|)(z + |x|) + R/S) / |x|` below 6, `±(1 − 2^-120)`
/// from 6, and the values at ±∞ and NaN.
#[inline(always)]
fn erf_far(x: f32) -> f32 {
    let bits = x.to_bits();
    let ix = bits & 0x7fff_ffff;
    let neg = bits >> 31 != 0;
    let ax = f32::from_bits(ix);
    let s = 1.0 / (ax * ax);
    let ra = RA0 + s * (RA1 + s * (RA2 + s * (RA3 + s * (RA4 + s * (RA5 + s * (RA6 + s * RA7))))));
    let sa = 1.0
        + s * (SA1
            + s * (SA2 + s * (SA3 + s * (SA4 + s * (SA5 + s * (SA6 + s * (SA7 + s * SA8)))))));
    let rb = RB0 + s * (RB1 + s * (RB2 + s * (RB3 + s * (RB4 + s * (RB5 + s * RB6)))));
    let sb = 1.0 + s * (SB1 + s * (SB2 + s * (SB3 + s * (SB4 + s * (SB5 + s * (SB6 + s * SB7))))));
    let (rr, ss) = if ix < 0x4036_db6d { (ra, sa) } else { (rb, sb) };
    let zt = f32::from_bits(ix & 0xffff_e000);
    let erfc =
        expf_in_range(-zt * zt - 0.5625) * expf_in_range((zt - ax) * (zt + ax) + rr / ss) / ax;
    let magnitude = if ix < 0x40c0_0000 {
        1.0 - erfc
    } else {
        1.0 - f32::from_bits(0x0380_0000)
    };
    let finite = if neg { -magnitude } else { magnitude };
    let not_finite = 1.0 - 2.0 * (if neg { 1.0 } else { 0.0 }) + 1.0 / x;
    if ix >= 0x7f80_0000 {
        not_finite
    } else {
        finite
    }
}

/// Which of libm's branches `x` takes: near zero, middle, or far (see [`erff`]).
#[inline(always)]
fn branch(x: f32) -> (bool, bool) {
    let ix = x.to_bits() & 0x7fff_ffff;
    ((0x3f58_0000..0x3fa0_0000).contains(&ix), ix >= 0x3fa0_0000)
}

/// `erf(x)`, bit for bit `libm::erff(x)` for every `f32` (NaN in, NaN out). Each branch
/// function is branch-free, so loops over one branch vectorise (see [`erf_block`]).
#[inline(always)]
pub fn erff(x: f32) -> f32 {
    match branch(x) {
        (_, true) => erf_far(x),
        (true, _) => erf_mid(x),
        _ => erf_near_zero(x),
    }
}

/// Elements per block of [`erf_block`]: its index and value buffers live on the stack.
const BLOCK: usize = 1024;

/// `v[i] = erf(v[i])` for a block of at most [`BLOCK`] values, each bit for bit [`erff`].
///
/// The far branch costs five divisions and two `exp`, the others one division, so evaluating
/// all three for every element (as [`erff`] does) wastes most of the work on GELU's inputs,
/// which are mostly near zero. Instead the indices of the middle and far elements are
/// compacted (branch-free), each branch runs vectorised over its own gathered values only,
/// and the results are scattered back over the near-zero pass.
#[inline(always)]
fn erf_block(v: &mut [f32]) {
    debug_assert!(v.len() <= BLOCK);
    let mut mid_at = [0u16; BLOCK];
    let mut far_at = [0u16; BLOCK];
    let (mut n_mid, mut n_far) = (0usize, 0usize);
    for (i, &x) in v.iter().enumerate() {
        let (mid, far) = branch(x);
        mid_at[n_mid] = i as u16;
        far_at[n_far] = i as u16;
        n_mid += mid as usize;
        n_far += far as usize;
    }
    let mut mid = [0f32; BLOCK];
    let mut far = [0f32; BLOCK];
    for (m, &i) in mid[..n_mid].iter_mut().zip(&mid_at[..n_mid]) {
        *m = v[i as usize];
    }
    for (f, &i) in far[..n_far].iter_mut().zip(&far_at[..n_far]) {
        *f = v[i as usize];
    }
    for m in &mut mid[..n_mid] {
        *m = erf_mid(*m);
    }
    for f in &mut far[..n_far] {
        *f = erf_far(*f);
    }
    for x in v.iter_mut() {
        *x = erf_near_zero(*x);
    }
    for (&m, &i) in mid[..n_mid].iter().zip(&mid_at[..n_mid]) {
        v[i as usize] = m;
    }
    for (&f, &i) in far[..n_far].iter().zip(&far_at[..n_far]) {
        v[i as usize] = f;
    }
}

/// Elements per parallel task: below this a slice runs on one thread.
const CHUNK: usize = 1 << 14;

/// `1 + erf(x/√2)` into `out`, the factor GELU and its derivative both start from.
struct OnePlusErfInto<'a> {
    x: &'a [f32],
    out: &'a mut [f32],
}

impl Kernel for OnePlusErfInto<'_> {
    type Output = ();
    #[inline(always)]
    fn run<const FMA: bool>(self) {
        for (out, x) in self.out.chunks_mut(BLOCK).zip(self.x.chunks(BLOCK)) {
            for (o, &x) in out.iter_mut().zip(x) {
                *o = x / std::f32::consts::SQRT_2;
            }
            erf_block(out);
            for o in out.iter_mut() {
                *o += 1.0;
            }
        }
    }
}

/// `y = gelu(x) = 0.5 · x · (1 + erf(x/√2))` element-wise, bit for bit as flex's `gelu`
/// (same operations in the same order), on every core.
///
/// # Panics
/// If the slices differ in length (a caller bug, not user data).
pub fn gelu_slice(x: &[f32], y: &mut [f32]) {
    assert_eq!(
        x.len(),
        y.len(),
        "gelu_slice: input and output lengths differ"
    );
    y.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(y, x)| {
            dispatch(OnePlusErfInto { x, out: y });
            for (y, &x) in y.iter_mut().zip(x) {
                *y *= 0.5 * x;
            }
        });
}

/// `(gelu(x), gelu'(x))` element-wise, each bit for bit as flex computes `gelu` and the
/// factor `Φ(x) + x·φ(x)` that its `gelu_backward` multiplies the incoming gradient by.
///
/// `φ` goes through the platform's `expf` exactly as flex calls it, here vectorised by
/// [`crate::host::exp::exp_slice`] (bit for bit `f32::exp`).
///
/// # Panics
/// If the slices differ in length (a caller bug, not user data).
pub fn gelu_and_derivative(x: &[f32], y: &mut [f32], dy: &mut [f32]) {
    assert!(
        x.len() == y.len() && x.len() == dy.len(),
        "gelu_and_derivative: input and output lengths differ"
    );
    let inv_sqrt_2pi: f32 = 1.0 / (2.0 * std::f32::consts::PI).sqrt();
    y.par_chunks_mut(CHUNK)
        .zip(dy.par_chunks_mut(CHUNK))
        .zip(x.par_chunks(CHUNK))
        .for_each(|((y, dy), x)| {
            dispatch(OnePlusErfInto { x, out: dy });
            // y holds exp(−x²/2) until the last loop overwrites it with gelu(x).
            for (e, &x) in y.iter_mut().zip(x) {
                *e = -0.5 * x * x;
            }
            exp_block(y);
            for ((y, d), &x) in y.iter_mut().zip(dy.iter_mut()).zip(x) {
                let t = *d;
                let pdf = inv_sqrt_2pi * *y;
                *y = 0.5 * x * t;
                let cdf = 0.5 * t;
                *d = cdf + x * pdf;
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every 61st bit pattern of f32 (70 million values, all exponents and signs) plus the
    /// specials; `cargo test -- --ignored erff_every_f32` sweeps all 2^32.
    fn sweep(step: u64) {
        let mut bad = 0u64;
        let mut first = None;
        let mut bits: u64 = 0;
        let mut batch_x = Vec::with_capacity(1 << 16);
        let mut batch_y = vec![0f32; 1 << 16];
        let mut check = |xs: &Vec<f32>, ys: &mut Vec<f32>| {
            ys.resize(xs.len(), 0.0);
            gelu_slice(xs, ys);
            for (&x, &g) in xs.iter().zip(ys.iter()) {
                let e = libm::erff(x);
                let ok_erf = erff(x).to_bits() == e.to_bits() || (e.is_nan() && erff(x).is_nan());
                let want_g = 0.5 * x * (1.0 + libm::erff(x / std::f32::consts::SQRT_2));
                let ok_g = g.to_bits() == want_g.to_bits() || (want_g.is_nan() && g.is_nan());
                if !(ok_erf && ok_g) {
                    bad += 1;
                    first.get_or_insert(x);
                }
            }
        };
        while bits < (1u64 << 32) {
            batch_x.push(f32::from_bits(bits as u32));
            if batch_x.len() == batch_x.capacity() {
                check(&batch_x, &mut batch_y);
                batch_x.clear();
            }
            bits += step;
        }
        batch_x.extend([
            0.0,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            1e-30,
            6.0,
        ]);
        check(&batch_x, &mut batch_y);
        assert_eq!(bad, 0, "first mismatch at x = {first:?}");
    }

    #[test]
    fn erff_and_gelu_match_libm_bit_for_bit() {
        sweep(61);
    }

    #[test]
    #[ignore = "sweeps all 2^32 floats (about a minute in release)"]
    fn erff_every_f32() {
        sweep(1);
    }

    #[test]
    fn derivative_matches_flex_formula_bit_for_bit() {
        let x: Vec<f32> = (0..100_003)
            .map(|i| (i as f32 - 50_000.0) * 1.7e-4)
            .chain([0.0, -0.0, 9.0, -9.0, 1e-9])
            .collect();
        let (mut y, mut d) = (vec![0.0; x.len()], vec![0.0; x.len()]);
        gelu_and_derivative(&x, &mut y, &mut d);
        let inv_sqrt_2pi: f32 = 1.0 / (2.0 * std::f32::consts::PI).sqrt();
        for i in 0..x.len() {
            let v = x[i];
            let cdf = 0.5 * (1.0 + libm::erff(v / std::f32::consts::SQRT_2));
            let pdf = inv_sqrt_2pi * (-0.5 * v * v).exp();
            let want_y = 0.5 * v * (1.0 + libm::erff(v / std::f32::consts::SQRT_2));
            assert_eq!(y[i].to_bits(), want_y.to_bits(), "gelu({v})");
            assert_eq!(d[i].to_bits(), (cdf + v * pdf).to_bits(), "gelu'({v})");
        }
    }
}
