//! GELU for ember's networks: on flex, the host kernel of [`crate::host::erf`], bit for bit
//! what Burn's flex `gelu` and `gelu_backward` return, several times faster; elsewhere Burn's
//! own op.
//!
//! Why: flex evaluates GELU one scalar `libm::erff` at a time, which was the largest cost of
//! the Transformer's forward pass and a sixth of its training step (issue 21,
//! `docs/perf.md`). Burn 0.22 offers no custom op on a runtime-dispatched `Device`, so the
//! fast path is built from public tensor operations:
//!
//! * without a gradient to track, `gelu(x)` is computed on the host and returned as a
//!   constant tensor;
//! * with one, the host pass also gives `g = Φ(x) + x·φ(x)` (the factor flex's backward
//!   multiplies the incoming gradient by), and the result is `gelu(x) + (x − x̄)·g`, with `x̄`
//!   an untracked copy of `x`: its value is `gelu(x)` exactly (`x − x̄` is `+0`), and the
//!   gradient reaching `x` is `grad · g`, exactly flex's `gelu_backward`.
//!
//! So every number ember computes is unchanged (the Transformer's tests compare both paths
//! bit for bit). GPUs (wgpu) and ndarray keep Burn's op: a host round trip would stall a GPU,
//! and ndarray's own GELU rounds differently.

use burn::prelude::*;
use burn::tensor::{DType, TensorData};

use crate::host::erf;

/// `x · Φ(x)` with the exact erf (`gelu` in PyTorch and Hugging Face configs), element-wise.
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let device = x.device();
    if !on_flex(&device) || x.dtype() != DType::F32 {
        return burn::tensor::activation::gelu(x);
    }
    let shape = x.shape();
    let Ok(data) = x.clone().try_into_data() else {
        return burn::tensor::activation::gelu(x);
    };
    let Ok(xs) = data.as_slice::<f32>() else {
        return burn::tensor::activation::gelu(x);
    };
    let mut y = vec![0.0f32; xs.len()];
    if !x.is_tracked() {
        erf::gelu_slice(xs, &mut y);
        return Tensor::from_data(TensorData::new(y, shape), &device);
    }
    let mut slope = vec![0.0f32; xs.len()];
    erf::gelu_and_derivative(xs, &mut y, &mut slope);
    let untracked_x = Tensor::<D>::from_data(data, &device);
    let y = Tensor::<D>::from_data(TensorData::new(y, shape.clone()), &device);
    let slope = Tensor::<D>::from_data(TensorData::new(slope, shape), &device);
    y + (x - untracked_x) * slope
}

/// Set to `0` to make [`gelu`] call Burn's op on flex too (to compare the two paths).
pub const HOST_GELU_ENV: &str = "EMBER_HOST_GELU";

/// Whether `device` is flex (with or without autodiff), the backend whose GELU
/// [`crate::host::erf`] reproduces bit for bit, and the host path is not switched off.
fn on_flex(device: &Device) -> bool {
    #[cfg(feature = "flex")]
    {
        static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *ON.get_or_init(|| std::env::var(HOST_GELU_ENV).as_deref() != Ok("0"))
            && device.clone().without_autodiff() == Device::flex()
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = device;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{BackendKind, device};

    fn input(device: &Device) -> Tensor<2> {
        let v: Vec<f32> = (0..64 * 300)
            .map(|i| ((i * 7919) % 20011) as f32 / 20011.0 * 12.0 - 6.0)
            .collect();
        Tensor::from_data(TensorData::new(v, [64, 300]), device)
    }

    fn bits<const D: usize>(t: Tensor<D>) -> Vec<u32> {
        t.into_data()
            .try_to_vec::<f32>()
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect()
    }

    #[test]
    fn forward_and_gradient_equal_burns_gelu_bit_for_bit_on_flex() {
        let Ok(dev) = device(BackendKind::Flex) else {
            return;
        };
        assert!(on_flex(&dev) && on_flex(&dev.clone().autodiff()));
        let x = input(&dev);
        assert_eq!(
            bits(gelu(x.clone())),
            bits(burn::tensor::activation::gelu(x))
        );

        let ad = dev.autodiff();
        let grad_of = |fast: bool| {
            let x = input(&ad).require_grad();
            let w = input(&ad).sin();
            let y = if fast {
                gelu(x.clone())
            } else {
                burn::tensor::activation::gelu(x.clone())
            };
            let value = bits(y.clone());
            let grads = (y * w).sum().backward();
            (value, bits(x.grad(&grads).unwrap()))
        };
        let (fast_y, fast_dx) = grad_of(true);
        let (burn_y, burn_dx) = grad_of(false);
        assert_eq!(fast_y, burn_y, "forward on autodiff");
        assert_eq!(fast_dx, burn_dx, "gradient");
    }
}
