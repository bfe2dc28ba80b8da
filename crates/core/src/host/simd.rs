//! The one CPU-feature dispatcher of the workspace: which vector extension this process uses
//! for host kernels, detected once, and a way to run a kernel compiled for it.
//!
//! The crates are built for baseline x86-64 (SSE2), where the host loops would run on 128-bit
//! vectors without fused multiply-add. [`level`] reports the best level this CPU has, and
//! [`dispatch`] runs a [`Kernel`] monomorphised inside a `#[target_feature]` function for that
//! level, so the compiler vectorises the kernel's (`#[inline(always)]`) body for it.
//!
//! `EMBER_SIMD=avx2` (or `portable`) caps the level for the whole process, e.g. to measure
//! on an AVX-512 machine what an AVX2-only one runs; it never raises it above the CPU's.

use std::sync::OnceLock;

/// A vector extension level, ordered from the baseline up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// No runtime-detected extension: the target's baseline (SSE2 on x86-64, NEON on
    /// AArch64).
    Portable,
    /// x86-64 AVX2 with FMA (256-bit vectors, fused multiply-add).
    Avx2,
    /// x86-64 AVX-512F (with AVX2 and FMA; 512-bit vectors).
    Avx512,
}

impl Level {
    /// Whether kernels at this level use fused multiply-adds: every x86-64 level above the
    /// baseline, and AArch64's baseline (NEON has them; elsewhere `f32::mul_add` without the
    /// instruction is a library call per element).
    pub fn fma(self) -> bool {
        self != Level::Portable || cfg!(target_arch = "aarch64")
    }
}

/// The best [`Level`] this CPU supports (capped by `EMBER_SIMD`, see the module docs),
/// detected once per process.
pub fn level() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        let cap = match std::env::var("EMBER_SIMD").as_deref() {
            Ok("portable") => Level::Portable,
            Ok("avx2") => Level::Avx2,
            _ => Level::Avx512,
        };
        detect().min(cap)
    })
}

#[cfg(target_arch = "x86_64")]
fn detect() -> Level {
    use std::arch::is_x86_feature_detected as has;
    let avx2 = has!("avx2") && has!("fma");
    if avx2 && has!("avx512f") {
        Level::Avx512
    } else if avx2 {
        Level::Avx2
    } else {
        Level::Portable
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn detect() -> Level {
    Level::Portable
}

/// Whether AVX-512F and POPCNT are both available (mask-counting sweeps), detected once.
pub fn avx512_popcnt() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static READY: OnceLock<bool> = OnceLock::new();
        *READY.get_or_init(|| {
            level() == Level::Avx512 && std::arch::is_x86_feature_detected!("popcnt")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// A host kernel that [`dispatch`] compiles for the CPU's [`Level`].
///
/// Implement [`Kernel::run`] with `#[inline(always)]` (and keep its callees
/// `#[inline(always)]`): it is then inlined into the `#[target_feature]` entry point of the
/// chosen level and vectorised for it. `FMA` says whether to use fused multiply-adds
/// ([`Level::fma`]), e.g. through [`crate::host::math::madd`].
pub trait Kernel {
    /// What the kernel returns.
    type Output;
    /// The kernel's body.
    fn run<const FMA: bool>(self) -> Self::Output;
}

/// Runs `kernel` compiled for this CPU's [`level`].
pub fn dispatch<K: Kernel>(kernel: K) -> K::Output {
    dispatch_at(level(), kernel)
}

/// Runs `kernel` compiled for `level`, or for the best supported level below it if this CPU
/// lacks `level` (tests compare levels with it).
pub fn dispatch_at<K: Kernel>(level: Level, kernel: K) -> K::Output {
    #[cfg(target_arch = "x86_64")]
    match level.min(self::level()) {
        // SAFETY: `self::level()` reported AVX-512F, AVX2 and FMA at run time.
        Level::Avx512 => return unsafe { run_avx512(kernel) },
        // SAFETY: `self::level()` reported AVX2 and FMA at run time.
        Level::Avx2 => return unsafe { run_avx2(kernel) },
        Level::Portable => {}
    }
    let _ = level;
    if Level::Portable.fma() {
        kernel.run::<true>()
    } else {
        kernel.run::<false>()
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn run_avx512<K: Kernel>(kernel: K) -> K::Output {
    kernel.run::<true>()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2<K: Kernel>(kernel: K) -> K::Output {
    kernel.run::<true>()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Sum<'a>(&'a [f32]);

    impl Kernel for Sum<'_> {
        type Output = (bool, f32);
        #[inline(always)]
        fn run<const FMA: bool>(self) -> (bool, f32) {
            (FMA, crate::host::math::sum_lanes(self.0))
        }
    }

    #[test]
    fn every_level_runs_and_agrees() {
        let v: Vec<f32> = (0..37).map(|i| i as f32 * 0.25 - 3.0).collect();
        let want = crate::host::math::sum_lanes(&v);
        for l in [Level::Portable, Level::Avx2, Level::Avx512] {
            let (fma, got) = dispatch_at(l, Sum(&v));
            assert_eq!(got.to_bits(), want.to_bits(), "{l:?}");
            assert_eq!(fma, l.min(level()).fma(), "{l:?}");
        }
        assert_eq!(dispatch(Sum(&v)).0, level().fma());
    }
}
