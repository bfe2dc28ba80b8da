//! bf16 Gram strips on Intel AMX tiles (Sapphire Rapids and later), with a portable emulation.
//!
//! A caller that only needs, for every Gram entry, which side of some threshold it falls on
//! (`ember-abx`'s meaning task) can compute the Gram blocks from bf16-rounded vectors first
//! and recompute in f32 only the entries too close to call. This module provides the bf16
//! half: [`Bf16Rows`] packs rows into the two layouts the tile instructions read (with the
//! rounding statistics an error bound needs), and [`strip`] computes 32 rows × all columns of
//! `A Bᵀ` with `TDPBF16PS` (bf16 products, f32 accumulation), about 650 GFLOP/s on one core
//! of a Sapphire Rapids against ~50–100 for an f32 AVX-512 GEMM. [`strip_portable`] computes
//! the same products in plain Rust so that logic built on them is tested on machines without
//! AMX.
//!
//! AMX needs the CPU flags AMX-TILE and AMX-BF16 and, on Linux, the tile-data permission
//! (`arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`, kernel ≥ 5.16); [`amx_available`]
//! checks both once per process. Set `EMBER_NO_AMX=1` to force callers onto their f32 path
//! (e.g. to benchmark it).

use crate::host::simd;
use rayon::prelude::*;
use std::sync::OnceLock;

/// Rows are packed in groups of this many (two 16-row tiles per kernel step): [`strip`]
/// computes one such group of rows of `A`.
pub const ROW_BLOCK: usize = 32;
/// Dims are packed in chunks of this many (one tile row holds 32 bf16).
const DIM_BLOCK: usize = 32;

/// Whether this process can run the AMX kernel (checked once): x86-64 Linux, CPU with
/// AMX-TILE and AMX-BF16, tile-data permission granted, and `EMBER_NO_AMX` unset.
pub fn amx_available() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| std::env::var_os("EMBER_NO_AMX").is_none() && detect())
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn detect() -> bool {
    use std::arch::x86_64::__cpuid_count;
    // SAFETY: the CPUID instruction exists on every x86-64 CPU; leaf 7 is read only when the
    // maximum leaf (leaf 0, EAX) says it exists.
    #[allow(unused_unsafe)]
    let (max_leaf, leaf7) = unsafe { (__cpuid_count(0, 0).eax, __cpuid_count(7, 0)) };
    if max_leaf < 7 {
        return false;
    }
    let amx_bf16 = leaf7.edx & (1 << 22) != 0;
    let amx_tile = leaf7.edx & (1 << 24) != 0;
    amx_bf16 && amx_tile && request_tile_permission()
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
fn detect() -> bool {
    false
}

/// `arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`: asks Linux to enable the 8 KiB
/// tile-data state for this process (all threads). Returns whether it was granted; older
/// kernels answer with an error and the caller falls back to f32.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn request_tile_permission() -> bool {
    const SYS_ARCH_PRCTL: i64 = 158;
    const ARCH_REQ_XCOMP_PERM: i64 = 0x1023;
    const XFEATURE_XTILEDATA: i64 = 18;
    let ret: i64;
    // SAFETY: a plain Linux syscall with integer arguments; it reads and writes no user
    // memory. `syscall` clobbers rcx and r11, declared below.
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") SYS_ARCH_PRCTL => ret,
            in("rdi") ARCH_REQ_XCOMP_PERM,
            in("rsi") XFEATURE_XTILEDATA,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret == 0
}

/// Round to the nearest bf16, ties to even (finite inputs).
#[inline]
pub fn to_bf16(x: f32) -> u16 {
    let b = x.to_bits();
    ((b + 0x7fff + ((b >> 16) & 1)) >> 16) as u16
}

/// The f32 value of a bf16.
#[inline]
pub fn from_bf16(h: u16) -> f32 {
    f32::from_bits((h as u32) << 16)
}

/// `n` rows of width `d` rounded to bf16, zero-padded to `n_pad` rows and `d_pad` dims
/// (multiples of 32), in the row-major layout of a tile's A operand and in the pair-
/// interleaved ("VNNI") layout of its B operand, with the rounding statistics the screen
/// needs for its error bound.
#[derive(Debug, Clone)]
pub struct Bf16Rows {
    /// Rows after padding (a multiple of [`ROW_BLOCK`]).
    pub n_pad: usize,
    /// Dims after padding (a multiple of 32).
    pub d_pad: usize,
    /// `[n_pad][d_pad]`.
    rows: Vec<u16>,
    /// `[n_pad / 16][d_pad / 32][16 pairs of dims][16 rows][2]`.
    vnni: Vec<u16>,
    /// `max_i ‖u_i − bf16(u_i)‖₂` (f64, exact up to f64 rounding).
    pub max_err: f64,
    /// `max_i ‖bf16(u_i)‖₂`.
    pub max_norm: f64,
    /// `max_i ‖u_i‖₂` of the f32 input rows.
    pub max_norm_f32: f64,
}

impl Bf16Rows {
    /// Packs `data: [n, d]` (row-major), 16 rows per parallel task.
    pub fn pack(data: &[f32], n: usize, d: usize) -> Self {
        assert_eq!(
            data.len(),
            n * d,
            "Bf16Rows::pack: {} values for {n}×{d}",
            data.len()
        );
        let n_pad = n.div_ceil(ROW_BLOCK) * ROW_BLOCK;
        let d_pad = d.div_ceil(DIM_BLOCK).max(1) * DIM_BLOCK;
        let kcs = d_pad / DIM_BLOCK;
        let mut rows = vec![0u16; n_pad * d_pad];
        let mut vnni = vec![0u16; n_pad * d_pad];
        let (max_err, max_norm, max_norm_f32) = rows
            .par_chunks_mut(16 * d_pad)
            .zip(vnni.par_chunks_mut(16 * d_pad))
            .enumerate()
            .map(|(g, (rows, vnni))| {
                let (mut max_err, mut max_norm, mut max_norm_f32) = (0.0f64, 0.0f64, 0.0f64);
                for c in 0..16 {
                    let i = g * 16 + c;
                    if i >= n {
                        break;
                    }
                    let row = &mut rows[c * d_pad..(c + 1) * d_pad];
                    let (err, norm, norm32) = round_row(&data[i * d..(i + 1) * d], row);
                    max_err = max_err.max(err);
                    max_norm = max_norm.max(norm);
                    max_norm_f32 = max_norm_f32.max(norm32);
                    // dims (2k, 2k + 1) of chunk kc go to pair-row k, column c of tile kc
                    for kc in 0..kcs {
                        for k in 0..16 {
                            let src = kc * DIM_BLOCK + 2 * k;
                            let dst = kc * 512 + (k * 16 + c) * 2;
                            vnni[dst] = row[src];
                            vnni[dst + 1] = row[src + 1];
                        }
                    }
                }
                (max_err, max_norm, max_norm_f32)
            })
            .reduce(
                || (0.0, 0.0, 0.0),
                |a, b| (a.0.max(b.0), a.1.max(b.1), a.2.max(b.2)),
            );
        Bf16Rows {
            n_pad,
            d_pad,
            rows,
            vnni,
            max_err,
            max_norm,
            max_norm_f32,
        }
    }
}

/// Rounds `x` to bf16 into `h[..x.len()]` and returns `(‖x − h‖, ‖h‖, ‖x‖)`, compiled for
/// the CPU's vector level (the crate itself targets baseline x86-64, where these loops stay
/// scalar).
fn round_row(x: &[f32], h: &mut [u16]) -> (f64, f64, f64) {
    simd::dispatch(RoundRow { x, h })
}

/// [`round_row`] as a [`simd::Kernel`]: the same operations in the same order at every
/// level, only vectorised.
struct RoundRow<'a> {
    x: &'a [f32],
    h: &'a mut [u16],
}

impl simd::Kernel for RoundRow<'_> {
    type Output = (f64, f64, f64);
    #[inline(always)]
    fn run<const FMA: bool>(self) -> (f64, f64, f64) {
        let (x, h) = (self.x, &mut self.h[..self.x.len()]);
        for (h, &v) in h.iter_mut().zip(x) {
            *h = to_bf16(v);
        }
        rounding_stats(x, h)
    }
}

/// `(‖x − h‖, ‖h‖, ‖x‖)` for a row `x` and its bf16 rounding `h`, in f64 with eight
/// independent sums per norm.
#[inline(always)]
fn rounding_stats(x: &[f32], h: &[u16]) -> (f64, f64, f64) {
    let (mut err, mut norm, mut norm32) = ([0.0f64; 8], [0.0f64; 8], [0.0f64; 8]);
    let (xc, hc) = (x.chunks_exact(8), h.chunks_exact(8));
    let (xr, hr) = (xc.remainder(), hc.remainder());
    for (xs, hs) in xc.zip(hc) {
        for l in 0..8 {
            let (x, r) = (xs[l] as f64, from_bf16(hs[l]) as f64);
            err[l] += (x - r) * (x - r);
            norm[l] += r * r;
            norm32[l] += x * x;
        }
    }
    for (l, (&x, &h)) in xr.iter().zip(hr).enumerate() {
        let (x, r) = (x as f64, from_bf16(h) as f64);
        err[l] += (x - r) * (x - r);
        norm[l] += r * r;
        norm32[l] += x * x;
    }
    let root = |v: [f64; 8]| v.iter().sum::<f64>().sqrt();
    (root(err), root(norm), root(norm32))
}

/// Tile configuration (palette 1): 64 bytes, read by `LDTILECFG`.
#[repr(C, align(64))]
struct TileConfig {
    palette: u8,
    start_row: u8,
    reserved: [u8; 14],
    colsb: [u16; 16],
    rows: [u8; 16],
}

/// `out[r · b.n_pad + j] = Σ_k bf16(a_{i0+r})_k bf16(b_j)_k` (f32 accumulation) for the 32
/// rows `i0..i0 + 32` of `a` and all `b.n_pad` rows of `b`, on AMX tiles.
///
/// # Safety
/// [`amx_available`] must have returned `true` in this process.
///
/// # Panics
/// If the widths differ, `i0` is not a row block of `a`, or `out` is shorter than
/// `32 · b.n_pad`.
pub unsafe fn strip(a: &Bf16Rows, b: &Bf16Rows, i0: usize, out: &mut [f32]) {
    assert_eq!(a.d_pad, b.d_pad, "amx::strip: widths differ");
    assert!(
        i0.is_multiple_of(ROW_BLOCK) && i0 + ROW_BLOCK <= a.n_pad,
        "amx::strip: bad row block {i0}"
    );
    assert!(
        out.len() >= ROW_BLOCK * b.n_pad,
        "amx::strip: output too short"
    );
    let (d_pad, m) = (a.d_pad, b.n_pad);
    let kcs = d_pad / DIM_BLOCK;
    // tmm0–3: 16×16 f32 accumulators; tmm4–5: 16 rows × 32 bf16 of A; tmm6–7: 16 dim pairs
    // × 16 columns of B. Every tile is 16 rows of 64 bytes.
    let mut cfg = TileConfig {
        palette: 1,
        start_row: 0,
        reserved: [0; 14],
        colsb: [0; 16],
        rows: [0; 16],
    };
    for t in 0..8 {
        cfg.colsb[t] = 64;
        cfg.rows[t] = 16;
    }
    let a_stride = d_pad * 2;
    let c_stride = m * 4;
    // SAFETY: AMX is enabled for this process (caller contract). Every tile load reads
    // 16 rows × 64 bytes: A rows `i0..i0+32` and dims `kc·32..kc·32+32` lie inside
    // `a.rows` (n_pad × d_pad); B tiles are whole 512-element blocks of `b.vnni`, with
    // `g + 1 < m / 16` because m is a multiple of 32. Every tile store writes 16 rows ×
    // 16 f32 at columns `g·16..g·16+32` of rows `0..32` of `out`, which holds 32·m floats.
    // The tile registers are not used by compiled Rust code, so their state carries from
    // one asm block to the next; the caller releases them ([`TileRelease`]). Configuring on
    // every call keeps this correct even if another strip ran (and released) in between.
    unsafe {
        std::arch::asm!("ldtilecfg [{}]", in(reg) &cfg as *const TileConfig, options(nostack));
        for g in (0..m / 16).step_by(2) {
            std::arch::asm!(
                "tilezero tmm0",
                "tilezero tmm1",
                "tilezero tmm2",
                "tilezero tmm3",
                options(nostack, nomem)
            );
            for kc in 0..kcs {
                let pa0 = a.rows.as_ptr().add(i0 * d_pad + kc * DIM_BLOCK);
                let pa1 = a.rows.as_ptr().add((i0 + 16) * d_pad + kc * DIM_BLOCK);
                let pb0 = b.vnni.as_ptr().add((g * kcs + kc) * 512);
                let pb1 = b.vnni.as_ptr().add(((g + 1) * kcs + kc) * 512);
                std::arch::asm!(
                    "tileloadd tmm4, [{a0} + {sa}*1]",
                    "tileloadd tmm5, [{a1} + {sa}*1]",
                    "tileloadd tmm6, [{b0} + {sb}*1]",
                    "tileloadd tmm7, [{b1} + {sb}*1]",
                    "tdpbf16ps tmm0, tmm4, tmm6",
                    "tdpbf16ps tmm1, tmm4, tmm7",
                    "tdpbf16ps tmm2, tmm5, tmm6",
                    "tdpbf16ps tmm3, tmm5, tmm7",
                    a0 = in(reg) pa0,
                    a1 = in(reg) pa1,
                    b0 = in(reg) pb0,
                    b1 = in(reg) pb1,
                    sa = in(reg) a_stride,
                    sb = in(reg) 64usize,
                    options(nostack, readonly),
                );
            }
            let pc = out.as_mut_ptr().add(g * 16);
            std::arch::asm!(
                "tilestored [{c0} + {sc}*1], tmm0",
                "tilestored [{c1} + {sc}*1], tmm1",
                "tilestored [{c2} + {sc}*1], tmm2",
                "tilestored [{c3} + {sc}*1], tmm3",
                c0 = in(reg) pc,
                c1 = in(reg) pc.add(16),
                c2 = in(reg) pc.add(16 * m),
                c3 = in(reg) pc.add(16 * m + 16),
                sc = in(reg) c_stride,
                options(nostack),
            );
        }
    }
}

/// Returns this thread's AMX tile state to the OS when dropped (`TILERELEASE`). [`strip`]
/// configures the tiles on every call but does not release them, so a run of strips on one
/// thread pays for the release once; hold one of these across such a run.
pub struct TileRelease(std::marker::PhantomData<*const ()>);

impl TileRelease {
    /// # Safety
    /// [`amx_available`] must have returned `true` in this process.
    pub unsafe fn new() -> Self {
        TileRelease(std::marker::PhantomData)
    }
}

impl Drop for TileRelease {
    fn drop(&mut self) {
        // SAFETY: constructed only when AMX is available (see `new`); releasing tiles that
        // were never configured is allowed.
        unsafe { std::arch::asm!("tilerelease", options(nostack, nomem)) };
    }
}

/// [`strip`] in plain Rust: the same bf16 products (exact in f32), accumulated in f32 in
/// dimension order. Same error bound, different last bits; for machines without AMX.
pub fn strip_portable(a: &Bf16Rows, b: &Bf16Rows, i0: usize, out: &mut [f32]) {
    assert_eq!(a.d_pad, b.d_pad, "amx::strip_portable: widths differ");
    assert!(i0.is_multiple_of(ROW_BLOCK) && i0 + ROW_BLOCK <= a.n_pad);
    let (d, m) = (a.d_pad, b.n_pad);
    for r in 0..ROW_BLOCK {
        let x = &a.rows[(i0 + r) * d..(i0 + r + 1) * d];
        for j in 0..m {
            let y = &b.rows[j * d..(j + 1) * d];
            out[r * m + j] = x
                .iter()
                .zip(y)
                .map(|(&p, &q)| from_bf16(p) * from_bf16(q))
                .fold(0.0f32, |s, v| s + v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(seed: u64, n: usize, d: usize) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..n * d)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
            })
            .collect()
    }

    #[test]
    fn bf16_rounding_is_nearest_even() {
        assert_eq!(from_bf16(to_bf16(1.0)), 1.0);
        // 1 + 2^-8 is halfway between bf16 1 and 1 + 2^-7: ties to even (1.0)
        assert_eq!(from_bf16(to_bf16(1.0 + 2f32.powi(-8))), 1.0);
        assert_eq!(
            from_bf16(to_bf16(1.0 + 3.0 * 2f32.powi(-8))),
            1.0 + 2f32.powi(-6)
        );
        assert_eq!(from_bf16(to_bf16(-0.15625)), -0.15625);
        for x in rows(3, 100, 1) {
            // 8 significant bits: unit roundoff 2⁻⁸
            assert!(((from_bf16(to_bf16(x)) - x) / x).abs() <= 2f32.powi(-8));
        }
    }

    #[test]
    fn packing_and_portable_strip_match_bf16_dot_products() {
        let (n, m, d) = (40, 50, 45);
        let (a, b) = (rows(1, n, d), rows(2, m, d));
        let (pa, pb) = (Bf16Rows::pack(&a, n, d), Bf16Rows::pack(&b, m, d));
        assert_eq!((pa.n_pad, pa.d_pad, pb.n_pad), (64, 64, 64));
        let mut out = vec![f32::NAN; ROW_BLOCK * pb.n_pad];
        for i0 in [0, 32] {
            strip_portable(&pa, &pb, i0, &mut out);
            let amx = amx_available().then(|| {
                let mut o = vec![f32::NAN; ROW_BLOCK * pb.n_pad];
                // SAFETY: AMX is available.
                unsafe {
                    let _release = TileRelease::new();
                    strip(&pa, &pb, i0, &mut o);
                }
                o
            });
            for r in 0..ROW_BLOCK {
                for j in 0..pb.n_pad {
                    let want: f64 = if i0 + r < n && j < m {
                        (0..d)
                            .map(|k| {
                                from_bf16(to_bf16(a[(i0 + r) * d + k])) as f64
                                    * from_bf16(to_bf16(b[j * d + k])) as f64
                            })
                            .sum()
                    } else {
                        0.0 // padding
                    };
                    let got = out[r * pb.n_pad + j] as f64;
                    assert!(
                        (got - want).abs() < 1e-5,
                        "portable ({r},{j}): {got} vs {want}"
                    );
                    if let Some(o) = &amx {
                        let got = o[r * pb.n_pad + j] as f64;
                        assert!((got - want).abs() < 1e-5, "amx ({r},{j}): {got} vs {want}");
                    }
                }
            }
        }
    }
}
