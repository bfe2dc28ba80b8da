//! Baselines the paper compares against: L2-SP (weight-space L2 to the pre-trained weights),
//! LDIFS (feature-space L2 to the pre-trained features) and WiSE-FT (weight interpolation).
//! Naive fine-tuning and LP-FT (linear probe, then full fine-tuning) are training schedules:
//! their steps are in [`crate::train`], the schedules in the eval binary.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use ember_core::{Error, Result};

struct Collect {
    out: Vec<(Tensor<1>, bool)>,
}

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val();
        let n = t.shape().num_elements();
        let trainable = t.is_require_grad();
        self.out.push((t.reshape([n]), trainable));
    }
}

/// Every float tensor of `module` (parameters and running statistics), flattened, in visit
/// order, with whether it requires a gradient.
pub fn collect_params<M: Module>(module: &M) -> Vec<(Tensor<1>, bool)> {
    let mut v = Collect { out: Vec::new() };
    module.visit(&mut v);
    v.out
}

/// L2-SP: `Σ_l ‖θ_l − θ⁰_l‖²` over the trainable tensors of `model`, against the detached
/// tensors `reference` of the pre-trained model (from [`collect_params`], same module type).
pub fn l2sp_penalty<M: Module>(model: &M, reference: &[(Tensor<1>, bool)]) -> Result<Tensor<1>> {
    let cur = collect_params(model);
    if cur.len() != reference.len() {
        return Err(Error::Shape(format!(
            "model has {} tensors, reference {}",
            cur.len(),
            reference.len()
        )));
    }
    let mut total: Option<Tensor<1>> = None;
    for (i, ((t, trainable), (r, _))) in cur.into_iter().zip(reference).enumerate() {
        if t.dims() != r.dims() {
            return Err(Error::Shape(format!(
                "tensor {i}: {:?} vs reference {:?}",
                t.dims(),
                r.dims()
            )));
        }
        if !trainable {
            continue;
        }
        let r = r.clone().detach().to_device(&t.device());
        let sq = (t - r).powi_scalar(2).sum();
        total = Some(match total {
            Some(acc) => acc + sq,
            None => sq,
        });
    }
    total.ok_or_else(|| Error::InvalidInput("model has no trainable tensors".into()))
}

/// LDIFS: `mean_i ‖f(x_i) − f⁰(x_i)‖²` between fine-tuned features `ft: [B, d]` and
/// pre-trained features `pre: [B, d]` (detached).
pub fn ldifs_penalty(ft: Tensor<2>, pre: Tensor<2>) -> Result<Tensor<1>> {
    if ft.dims() != pre.dims() {
        return Err(Error::Shape(format!(
            "features {:?} vs pre-trained {:?}",
            ft.dims(),
            pre.dims()
        )));
    }
    let [b, _] = ft.dims();
    if b == 0 {
        return Err(Error::InvalidInput("empty batch".into()));
    }
    Ok((ft - pre.detach()).powi_scalar(2).sum_dim(1).mean())
}

struct Interp {
    other: std::vec::IntoIter<(Tensor<1>, bool)>,
    alpha: f64,
    err: Option<String>,
}

impl ModuleMapper for Interp {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some((o, _)) = self.other.next() else {
            self.err
                .get_or_insert_with(|| "fine-tuned model has fewer tensors".into());
            return param;
        };
        let alpha = self.alpha;
        let mut bad = None;
        let p = param.map(|t| {
            let shape = t.shape();
            if shape.num_elements() != o.dims()[0] {
                bad = Some(format!("tensor of {shape:?} vs {:?}", o.dims()));
                return t;
            }
            let o = o.reshape(shape).to_device(&t.device());
            t * (1.0 - alpha) + o * alpha
        });
        if let Some(b) = bad {
            self.err.get_or_insert(b);
        }
        p
    }
}

/// WiSE-FT: `θ = (1 − α) θ⁰ + α θ¹`, tensor by tensor (running statistics included), returned
/// as a copy of `pre`'s structure. `α = 0` gives `pre`, `α = 1` gives `ft`.
pub fn wise_ft<M: Module>(pre: &M, ft: &M, alpha: f64) -> Result<M> {
    if !(0.0..=1.0).contains(&alpha) {
        return Err(Error::InvalidInput(format!(
            "alpha must be in [0, 1], got {alpha}"
        )));
    }
    let other = collect_params(ft);
    let n = other.len();
    if n != collect_params(pre).len() {
        return Err(Error::Shape(
            "models have different numbers of tensors".into(),
        ));
    }
    let mut m = Interp {
        other: other.into_iter(),
        alpha,
        err: None,
    };
    let out = pre.clone().map(&mut m);
    match m.err {
        Some(e) => Err(Error::Shape(format!("WiSE-FT: {e}"))),
        None => Ok(out),
    }
}
