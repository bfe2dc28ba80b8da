//! Small host-side helpers shared by the modules.

use burn::prelude::*;
use ember_core::{Error, Result};

/// Read a float tensor to host memory as `f32`.
pub(crate) fn to_vec(t: &Tensor<2>) -> Result<Vec<f32>> {
    t.try_to_vec_as::<f32>()
        .map_err(|e| Error::InvalidInput(format!("cannot read tensor: {e:?}")))
}

/// Error unless every value is finite.
pub(crate) fn check_finite(what: &str, v: &[f32]) -> Result<()> {
    match v.iter().position(|x| !x.is_finite()) {
        None => Ok(()),
        Some(i) => Err(Error::NonFinite(format!("{what}: element {i} is {}", v[i]))),
    }
}

/// A `[rows, cols]` float tensor from a row-major host buffer.
pub(crate) fn tensor2(v: Vec<f32>, rows: usize, cols: usize, device: &Device) -> Tensor<2> {
    Tensor::<1>::from_data(TensorData::new(v, [rows * cols]), device).reshape([rows, cols])
}
