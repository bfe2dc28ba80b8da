//! The Soup-of-Experts (Ablin et al., 2025): shared parameters `S`, `n` experts `E_j` of the
//! same shape, and an MLP `φ_ω` from domain weights `h ∈ Δ_k` to coefficients `α ∈ ℝⁿ`.
//! The model for `h` is one dense Transformer with
//!
//! ```text
//! Θ(h) = S + Σ_j α_j(h) · E_j,      α(h) = norm(φ_ω(h))
//! ```
//!
//! applied to every parameter tensor of the base model. [`SoupOfExperts::instantiate`] builds
//! `Θ(h)` inside the autodiff graph (gradients reach `S`, every `E_j` and `ω`);
//! [`SoupOfExperts::export`] builds it as a standalone [`Transformer`] with leaf parameters
//! that can be saved, served or fine-tuned without the soup.
//!
//! Storage: for each base tensor of shape `σ`, the shared value lives in the base
//! Transformer and the experts in one `[n, numel(σ)]` parameter, so `Σ_j α_j E_j` is a
//! `[1, n] × [n, numel]` product per tensor.

use crate::meta::check_simplex;
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::activation::softmax;
use ember_core::nn::{Mlp, MlpConfig, Transformer, TransformerConfig};
use ember_core::{Error, Result};
use serde::{Deserialize, Serialize};

/// How the router's raw outputs become coefficients `α`. The paper's choice is not known
/// (spec §1.2, reconstructed), so it is a knob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum AlphaNorm {
    /// `α = φ(h)`: unconstrained linear output (default; our reading of the paper).
    #[default]
    None,
    /// `α = softmax(φ(h))`: a convex combination of the experts.
    Softmax,
    /// `α = φ(h) / Σ_j |φ(h)_j|`.
    L1,
}

/// Configuration of a [`SoupOfExperts`].
#[derive(Config, Debug)]
pub struct SoupConfig {
    /// The base model every instantiation has the shape of.
    pub base: TransformerConfig,
    /// Number of domains `k` (length of `h`).
    pub n_domains: usize,
    /// Number of experts `n`.
    pub n_experts: usize,
    /// Hidden widths of the router MLP `φ_ω` (GELU between layers).
    #[config(default = "vec![64]")]
    pub router_hidden: Vec<usize>,
    /// Normalisation of the coefficients.
    #[config(default = "AlphaNorm::None")]
    pub alpha_norm: AlphaNorm,
    /// Standard deviation of the experts' normal initialisation. `0` (default) starts every
    /// instantiation at `Θ = S`; the experts move from the second step on, because
    /// `∂L/∂E_j = α_j ∂L/∂Θ ≠ 0` (spec §1.2, reconstructed).
    #[config(default = 0.0)]
    pub expert_init_std: f64,
}

impl SoupConfig {
    /// Build the soup on `device`.
    ///
    /// Errors: an invalid base config, or `n_domains` / `n_experts` of zero.
    pub fn init(&self, device: &Device) -> Result<SoupOfExperts> {
        self.base.validate()?;
        if self.n_domains == 0 || self.n_experts == 0 {
            return Err(Error::InvalidInput(format!(
                "soup needs at least one domain and one expert (got k = {}, n = {})",
                self.n_domains, self.n_experts
            )));
        }
        let shared = self.base.init(device);
        let mut sizes = ParamSizes::default();
        shared.visit(&mut sizes);
        let experts = sizes
            .numels
            .iter()
            .map(|&numel| {
                let shape = [self.n_experts, numel];
                let value = if self.expert_init_std > 0.0 {
                    Tensor::<2>::random(
                        shape,
                        burn::tensor::Distribution::Normal(0.0, self.expert_init_std),
                        device,
                    )
                } else {
                    Tensor::<2>::zeros(shape, device)
                };
                Param::from_tensor(value)
            })
            .collect();
        let router =
            MlpConfig::new(self.n_domains, self.router_hidden.clone(), self.n_experts).init(device);
        Ok(SoupOfExperts {
            shared,
            experts,
            router,
            n_domains: self.n_domains,
            n_experts: self.n_experts,
            alpha_norm: match self.alpha_norm {
                AlphaNorm::None => 0,
                AlphaNorm::Softmax => 1,
                AlphaNorm::L1 => 2,
            },
        })
    }
}

/// Shared parameters, experts and router. See the module docs.
#[derive(Module, Debug)]
pub struct SoupOfExperts {
    shared: Transformer,
    experts: Vec<Param<Tensor<2>>>,
    router: Mlp,
    n_domains: usize,
    n_experts: usize,
    /// `AlphaNorm` as 0/1/2 (module fields must be modules or primitives).
    alpha_norm: u8,
}

/// Collects the element count of every float parameter, in visiting order.
#[derive(Default)]
struct ParamSizes {
    numels: Vec<usize>,
}

impl ModuleVisitor for ParamSizes {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.numels.push(param.lazy_shape().num_elements());
    }
}

/// Replaces each float parameter, in visiting order, by `base + delta` (graph kept).
struct AddDeltas {
    deltas: Vec<Tensor<1>>,
    next: usize,
}

impl ModuleMapper for AddDeltas {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, base, mapper) = param.consume();
        let dims: [usize; D] = base.dims();
        let delta = self.deltas[self.next].clone().reshape(dims);
        self.next += 1;
        // `from_mapped_value` keeps the computed (non-leaf) tensor as is, so autodiff flows
        // from Θ back to S, E and ω.
        Param::from_mapped_value(id, base + delta, mapper)
    }
}

/// Turns every float parameter into a detached leaf (trainable again on an autodiff device).
struct Detach;

impl ModuleMapper for Detach {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (_, value, _) = param.consume();
        Param::from_tensor(value.detach())
    }
}

impl SoupOfExperts {
    /// Number of domains `k`.
    pub fn n_domains(&self) -> usize {
        self.n_domains
    }

    /// Number of experts `n`.
    pub fn n_experts(&self) -> usize {
        self.n_experts
    }

    /// Coefficient normalisation.
    pub fn alpha_norm(&self) -> AlphaNorm {
        match self.alpha_norm {
            1 => AlphaNorm::Softmax,
            2 => AlphaNorm::L1,
            _ => AlphaNorm::None,
        }
    }

    /// The shared parameters `S` as a base model.
    pub fn shared(&self) -> &Transformer {
        &self.shared
    }

    /// Parameters of one instantiated model (`p`).
    pub fn base_params(&self) -> usize {
        self.shared.num_params()
    }

    /// Parameters of the whole bank: `(n + 1)·p` plus the router.
    pub fn bank_params(&self) -> usize {
        self.num_params()
    }

    /// The experts of base tensor `i` (in visiting order) as `[n, numel]`.
    pub fn expert_tensor(&self, i: usize) -> Option<Tensor<2>> {
        self.experts.get(i).map(Param::val)
    }

    /// Number of base tensors.
    pub fn n_tensors(&self) -> usize {
        self.experts.len()
    }

    /// Coefficients for a batch of domain weights: `h: [M, k] -> α: [M, n]`.
    pub fn coefficients_batch(&self, h: Tensor<2>) -> Result<Tensor<2>> {
        let [_, k] = h.dims();
        if k != self.n_domains {
            return Err(Error::Shape(format!(
                "domain weights have {k} entries, the soup has {} domains",
                self.n_domains
            )));
        }
        let raw = self.router.forward(h);
        Ok(match self.alpha_norm() {
            AlphaNorm::None => raw,
            AlphaNorm::Softmax => softmax(raw, 1),
            AlphaNorm::L1 => {
                let denom = raw.clone().abs().sum_dim(1).clamp_min(1e-12);
                raw / denom
            }
        })
    }

    /// Coefficients `α(h)` (`[n]`) for one vector of domain weights.
    ///
    /// Errors: `h` of the wrong length, negative or non-finite entries, or not summing to 1
    /// (within 1e-4).
    pub fn coefficients(&self, h: &[f64]) -> Result<Tensor<1>> {
        self.check_h(h)?;
        let device = self.device();
        let h = Tensor::<1>::from_data(
            TensorData::new(h.iter().map(|&v| v as f32).collect(), [h.len()]),
            &device,
        );
        Ok(self
            .coefficients_batch(h.reshape([1, self.n_domains]))?
            .reshape([self.n_experts]))
    }

    fn check_h(&self, h: &[f64]) -> Result<()> {
        if h.len() != self.n_domains {
            return Err(Error::Shape(format!(
                "domain weights have {} entries, the soup has {} domains",
                h.len(),
                self.n_domains
            )));
        }
        check_simplex(h, "domain weights")
    }

    fn device(&self) -> Device {
        self.shared
            .token_embedding()
            .map(|t| t.device())
            .or_else(|| self.experts.first().map(|e| e.val().device()))
            .expect("a soup always has parameters")
    }

    /// `Θ = S + Σ_j α_j E_j` for explicit coefficients `alpha: [n]`, inside the autodiff graph.
    pub fn instantiate_alpha(&self, alpha: Tensor<1>) -> Result<Transformer> {
        if alpha.dims() != [self.n_experts] {
            return Err(Error::Shape(format!(
                "coefficients are {:?}, the soup has {} experts",
                alpha.dims(),
                self.n_experts
            )));
        }
        let a = alpha.reshape([1, self.n_experts]);
        let deltas = self
            .experts
            .iter()
            .map(|e| {
                let e = e.val();
                let numel = e.dims()[1];
                a.clone().matmul(e).reshape([numel])
            })
            .collect();
        let mut mapper = AddDeltas { deltas, next: 0 };
        Ok(self.shared.clone().map(&mut mapper))
    }

    /// The model for domain weights `h`, inside the autodiff graph: train through it.
    pub fn instantiate(&self, h: &[f64]) -> Result<Transformer> {
        let alpha = self.coefficients(h)?;
        self.instantiate_alpha(alpha)
    }

    /// The model for `h` as a standalone [`Transformer`] on the soup's device, with detached
    /// leaf parameters: save it, serve it, or fine-tune it (on an autodiff device) like any
    /// other model. Its forward pass equals the soup's forward at `h`.
    pub fn export(&self, h: &[f64]) -> Result<Transformer> {
        Ok(self.instantiate(h)?.map(&mut Detach))
    }
}
