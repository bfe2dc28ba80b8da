//! Small tensor helpers used across crates.

use burn::prelude::*;

/// Divide each slice along `dim` by its L2 norm (with `eps` against division by zero).
pub fn l2_normalize<const D: usize>(x: Tensor<D>, dim: usize, eps: f64) -> Tensor<D> {
    let norm = x.clone().powi_scalar(2).sum_dim(dim).sqrt().clamp_min(eps);
    x / norm
}

/// All-pairs cosine similarity of the rows of `a: [N, D]` and `b: [M, D]` -> `[N, M]`.
pub fn cosine_matrix(a: Tensor<2>, b: Tensor<2>) -> Tensor<2> {
    l2_normalize(a, 1, 1e-12).matmul(l2_normalize(b, 1, 1e-12).transpose())
}

/// Masked mean over the sequence axis: `x: [B, T, D]`, `keep: [B, T]` (true = real token)
/// -> `[B, D]`. Rows with no kept position give zeros.
pub fn masked_mean(x: Tensor<3>, keep: Tensor<2, Bool>) -> Tensor<2> {
    let [b, t, d] = x.dims();
    let w = keep.float().reshape([b, t, 1]);
    let sum = (x * w.clone()).sum_dim(1).reshape([b, d]);
    let count = w.sum_dim(1).reshape([b, 1]).clamp_min(1.0);
    sum / count
}

/// Reads a float tensor back to the host (the one conversion lives in [`crate::host`]).
pub use crate::host::to_host;

/// Checks that every id in `ids` indexes a table of `n` rows (`0 <= id < n`).
///
/// Backends panic (CPU) or read out of bounds silently (GPU) on an id outside the table, so
/// every public entry that gathers by user-supplied ids or class labels calls this first. One
/// read-back of the minimum and maximum, computed on the device.
pub fn check_ids<const D: usize>(ids: &Tensor<D, Int>, n: usize, what: &str) -> crate::Result<()> {
    if ids.shape().num_elements() == 0 {
        return Ok(());
    }
    let flat = ids.clone().flatten::<1>(0, D - 1);
    let range = Tensor::cat(vec![flat.clone().min(), flat.max()], 0);
    let v = crate::host::read_as::<i64, 1, Int>(range, what)?;
    let (lo, hi) = (v[0], v[1]);
    if lo < 0 || hi as u64 >= n as u64 {
        let bad = if lo < 0 { lo } else { hi };
        return Err(crate::Error::InvalidInput(format!(
            "{what} {bad} outside 0..{n}"
        )));
    }
    Ok(())
}
