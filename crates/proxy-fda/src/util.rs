//! Small host-side helpers shared by the modules.

use burn::prelude::*;
use ember_core::Result;

/// Read a float tensor to host memory as `f32` (ember-core's one conversion).
pub(crate) fn to_vec(t: &Tensor<2>) -> Result<Vec<f32>> {
    ember_core::host::to_host(t.clone())
}

/// Error unless every value is finite (ember-core's check).
pub(crate) use ember_core::host::check_finite;

/// A `[rows, cols]` float tensor from a row-major host buffer.
pub(crate) fn tensor2(v: Vec<f32>, rows: usize, cols: usize, device: &Device) -> Tensor<2> {
    Tensor::<1>::from_data(TensorData::new(v, [rows * cols]), device).reshape([rows, cols])
}
