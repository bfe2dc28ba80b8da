//! Global gradient-norm clipping (`torch.nn.utils.clip_grad_norm_` semantics).
//!
//! Burn's built-in `GradientClippingConfig::Norm` clips each tensor separately; the usual
//! recipe clips the norm of all gradients concatenated, which keeps their direction.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;

struct SumSquares<'a> {
    grads: &'a GradientsParams,
    acc: Option<Tensor<1>>,
}

impl ModuleVisitor for SumSquares<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            let s = g.powi_scalar(2).sum();
            self.acc = Some(match self.acc.take() {
                Some(a) => a + s,
                None => s,
            });
        }
    }
}

struct Scale<'a> {
    grads: &'a mut GradientsParams,
    factor: f64,
}

impl ModuleVisitor for Scale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.remove::<D>(param.id) {
            self.grads.register(param.id, g * self.factor);
        }
    }
}

/// The L2 norm of all gradients of `model`'s float parameters together.
pub fn global_grad_norm<M: Module>(model: &M, grads: &GradientsParams) -> f64 {
    let mut v = SumSquares { grads, acc: None };
    model.visit(&mut v);
    v.acc.map_or(0.0, |a| a.into_scalar::<f64>().sqrt())
}

/// Scale all gradients so their global norm is at most `max_norm`; returns the gradients and
/// the norm *before* clipping.
pub fn clip_global_norm<M: Module>(
    model: &M,
    mut grads: GradientsParams,
    max_norm: f64,
) -> (GradientsParams, f64) {
    let norm = global_grad_norm(model, &grads);
    if norm.is_finite() && norm > max_norm {
        let mut s = Scale {
            grads: &mut grads,
            factor: max_norm / (norm + 1e-6),
        };
        model.visit(&mut s);
    }
    (grads, norm)
}
