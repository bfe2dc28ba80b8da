//! Tensors to host memory, and finiteness checks on host values.
//!
//! Every read-back in the workspace goes through [`read_as`] (or its float shorthand
//! [`to_host`]), so a backend failure always surfaces as the same [`Error::Backend`] naming
//! what was read, instead of a panic or a per-crate error kind.

use crate::error::{Error, Result};
use burn::prelude::*;
use burn::tensor::Element;
use burn::tensor::kind::Basic;

/// Reads a tensor of any kind (float, int, bool) back to the host as a flat row-major
/// `Vec<E>`, converting the element type if needed (`i64` ids, `bool` masks, `f32` values).
///
/// # Errors
/// [`Error::Backend`] naming `what` if the backend cannot read the tensor or convert it.
pub fn read_as<E: Element, const D: usize, K: Basic>(
    t: Tensor<D, K>,
    what: &str,
) -> Result<Vec<E>> {
    t.try_into_vec_as::<E>()
        .map_err(|e| Error::Backend(format!("reading {what} back to the host: {e}")))
}

/// Reads a float tensor back to the host as a flat row-major `Vec<f32>`.
///
/// # Errors
/// [`Error::Backend`] if the backend cannot read it (see [`read_as`]).
pub fn to_host<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    read_as::<f32, D, Float>(t, "a tensor")
}

/// Reads a float tensor back to the host and checks that every value is finite.
///
/// # Errors
/// [`Error::Backend`] if the read fails, [`Error::NonFinite`] naming `what` and the first bad
/// position otherwise (see [`check_finite`]).
pub fn to_host_finite<const D: usize>(t: Tensor<D>, what: &str) -> Result<Vec<f32>> {
    let v = read_as::<f32, D, Float>(t, what)?;
    check_finite(what, &v)?;
    Ok(v)
}

/// A host float type [`check_finite`] accepts (`f32`, `f64`).
pub trait HostFloat: Copy + std::fmt::Display {
    /// Neither NaN nor infinite.
    fn finite(self) -> bool;
}

impl HostFloat for f32 {
    fn finite(self) -> bool {
        self.is_finite()
    }
}

impl HostFloat for f64 {
    fn finite(self) -> bool {
        self.is_finite()
    }
}

/// `Err(NonFinite)` naming the first NaN or infinite position (`what[i] = NaN`), if any.
///
/// # Errors
/// [`Error::NonFinite`] at the first value that is not finite.
pub fn check_finite<T: HostFloat>(what: &str, v: &[T]) -> Result<()> {
    match v.iter().position(|x| !x.finite()) {
        None => Ok(()),
        Some(i) => Err(Error::NonFinite(format!("{what}[{i}] = {}", v[i]))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_kind_and_checks_finiteness() {
        let device = crate::backend::device(crate::backend::default_backend().unwrap()).unwrap();
        let f = Tensor::<2>::from_data([[1.0f32, 2.0], [3.0, 4.0]], &device);
        assert_eq!(to_host(f.clone()).unwrap(), vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!(to_host_finite(f, "x").unwrap().len(), 4);
        let ids = Tensor::<1, Int>::from_ints([3, 1, 2], &device);
        assert_eq!(read_as::<i64, 1, Int>(ids, "ids").unwrap(), vec![3, 1, 2]);
        let mask = Tensor::<1, Int>::from_ints([0, 5], &device).greater_elem(1);
        assert_eq!(
            read_as::<bool, 1, Bool>(mask, "mask").unwrap(),
            vec![false, true]
        );

        let bad = Tensor::<1>::from_data([0.0f32, f32::NAN], &device);
        match to_host_finite(bad, "features") {
            Err(Error::NonFinite(m)) => assert_eq!(m, "features[1] = NaN"),
            other => panic!("expected NonFinite, got {other:?}"),
        }
        assert!(check_finite("v", &[1.0f64, 2.0]).is_ok());
        assert!(matches!(
            check_finite("v", &[1.0f64, f64::INFINITY]),
            Err(Error::NonFinite(_))
        ));
    }
}
