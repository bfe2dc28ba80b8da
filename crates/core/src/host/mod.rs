//! Host compute shared by the paper crates: the CPU-feature dispatcher, matrix products on
//! host slices, vectorisable math, bf16 AMX tiles, and tensor-to-host conversion.
//!
//! One home, so that no paper crate carries its own GEMM, SIMD dispatcher or read-back error
//! mapping:
//!
//! * [`simd`]: the detected vector level ([`simd::level`], cached) and [`simd::dispatch`],
//!   which runs a [`simd::Kernel`] compiled for it;
//! * [`gemm`]: `A Bᵀ` Gram blocks whose entries equal a single-entry dot product bit for bit
//!   ([`gemm::gram_nt`], [`gemm::dot_at`]), and the small register-blocked products used
//!   inside dispatched kernels ([`gemm::matmul_into`]);
//! * [`math`]: `exp` / `erf` approximations, softmax, lane sums, `axpy`;
//! * [`erf`]: `libm::erff` and flex's exact GELU bit for bit, vectorised and on every core;
//! * [`exp`]: `f32::exp` (glibc's `expf`) over a slice bit for bit, vectorised and on every
//!   core;
//! * [`amx`]: bf16 Gram strips on Intel AMX tiles and their portable emulation;
//! * [`tensor`]: [`to_host`] / [`read_as`] with one error mapping, and [`check_finite`];
//! * [`alloc`]: [`alloc::retain_freed_memory`], the malloc tuning a training binary opts into.

pub mod alloc;
pub mod amx;
pub mod erf;
pub mod exp;
pub mod gemm;
pub mod math;
pub mod simd;
pub mod tensor;

pub use simd::Level;
pub use tensor::{HostFloat, check_finite, read_as, to_host, to_host_finite};
