//! Allocator tuning for training loops on the CPU backends.
//!
//! A training step allocates and frees the same few hundred tensor buffers every step, most
//! of them above glibc's mmap threshold (128 KiB, growing to at most 32 MiB). Each such
//! buffer is a fresh `mmap`: the kernel zeroes its pages on first touch and `munmap` hands
//! them back when the tensor drops, so every step pays page faults and page clearing again
//! (about a tenth of the step in the `train_step` profile, docs/perf.md). Raising the mmap
//! and trim thresholds keeps freed buffers in the heap for the next step to reuse.
//!
//! The cost is that the process keeps its peak heap instead of returning it to the system,
//! which is what a training or evaluation process wants and a long-lived service may not:
//! hence a function a binary calls, never something the library does behind a user's back.
//! ember's eval binaries and benches call it through
//! [`crate::eval::EvalRun::start`]; `EMBER_MALLOC_TUNE=0` turns it off.

/// Heap blocks up to this size come from the heap rather than a private `mmap`.
pub const MMAP_THRESHOLD: usize = 256 << 20;
/// The heap is trimmed back to the system only above this much free memory at its top.
pub const TRIM_THRESHOLD: usize = 1 << 30;

/// Keep freed buffers for reuse (see the module docs). Returns whether the allocator was
/// tuned: `false` off glibc, or when `EMBER_MALLOC_TUNE=0`. Safe to call more than once.
pub fn retain_freed_memory() -> bool {
    if std::env::var("EMBER_MALLOC_TUNE").is_ok_and(|v| v == "0") {
        return false;
    }
    tune()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune() -> bool {
    let as_int = |v: usize| libc::c_int::try_from(v).unwrap_or(libc::c_int::MAX);
    // SAFETY: mallopt only sets allocator parameters; it takes the arena lock itself and
    // is documented as callable at any time (glibc mallopt(3)).
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, as_int(MMAP_THRESHOLD)) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, as_int(TRIM_THRESHOLD)) == 1
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuning_is_accepted_and_allocation_still_works() {
        let tuned = retain_freed_memory();
        assert_eq!(tuned, cfg!(all(target_os = "linux", target_env = "gnu")));
        // A buffer above the default mmap threshold, freed and allocated again.
        for _ in 0..3 {
            let v = vec![1.0f32; 1 << 20];
            assert_eq!(v.iter().sum::<f32>(), (1 << 20) as f32);
        }
    }
}
