//! A trained soup frozen into host memory for serving many specialists: the shared vector
//! `S ∈ ℝᵖ` and the experts `E ∈ ℝⁿˣᵖ` flattened in the base model's parameter order.
//!
//! Instantiation `Θ = S + Σ_j α_j E_j` reads `(n + 1)·p` floats and writes `p`: it is
//! memory-bound, so [`FrozenSoup::instantiate_into`] streams the bank once in cache-sized
//! chunks (one pass over `S`, then one AXPY per expert while the output chunk is still in L1),
//! in parallel over chunks. `docs/perf.md` compares it with a plain copy of the same bytes.

use crate::soe::SoupOfExperts;
use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;
use ember_core::nn::Transformer;
use ember_core::{Error, Result};
use rayon::prelude::*;

/// Floats per parallel work item.
const CHUNK: usize = 64 * 1024;
/// Floats per inner block (8 KiB of output: stays in L1 while the experts stream past).
const SUB_CHUNK: usize = 2 * 1024;

/// The soup's bank as flat host vectors. See the module docs.
#[derive(Debug)]
pub struct FrozenSoup {
    soup: SoupOfExperts,
    shared: Vec<f32>,
    /// Expert-major: expert `j` is `experts[j·p .. (j+1)·p]`.
    experts: Vec<f32>,
    p: usize,
    n: usize,
}

fn to_vec<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    ember_core::host::tensor::read_as::<f32, D, burn::tensor::Float>(t, "a parameter")
}

/// Collects every float parameter, flattened, in visiting order.
#[derive(Default)]
struct Flatten {
    values: Vec<f32>,
    error: Option<Error>,
}

impl burn::module::ModuleVisitor for Flatten {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        match to_vec(param.val()) {
            Ok(v) => self.values.extend(v),
            Err(e) => self.error = Some(e),
        }
    }
}

/// Replaces every float parameter, in visiting order, with the next slice of a flat vector.
struct LoadFlat<'a> {
    values: &'a [f32],
    offset: usize,
    device: Device,
}

impl ModuleMapper for LoadFlat<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let dims: [usize; D] = param.val().dims();
        let numel: usize = dims.iter().product();
        let slice = self.values[self.offset..self.offset + numel].to_vec();
        self.offset += numel;
        Param::from_tensor(
            Tensor::<1>::from_data(TensorData::new(slice, [numel]), &self.device).reshape(dims),
        )
    }
}

impl FrozenSoup {
    /// Copy a (trained) soup's bank to host memory.
    pub fn new(soup: &SoupOfExperts) -> Result<Self> {
        let soup = soup.valid();
        let mut flat = Flatten::default();
        soup.shared().visit(&mut flat);
        if let Some(e) = flat.error {
            return Err(e);
        }
        let shared = flat.values;
        let p = shared.len();
        let n = soup.n_experts();
        let mut per_tensor = Vec::with_capacity(soup.n_tensors());
        for i in 0..soup.n_tensors() {
            let e = soup.expert_tensor(i).expect("index in range");
            let numel = e.dims()[1];
            per_tensor.push((numel, to_vec(e)?));
        }
        let mut experts = Vec::with_capacity(n * p);
        for j in 0..n {
            for (numel, values) in &per_tensor {
                experts.extend_from_slice(&values[j * numel..(j + 1) * numel]);
            }
        }
        if experts.len() != n * p {
            return Err(Error::Shape(format!(
                "expert bank holds {} values, expected n·p = {}",
                experts.len(),
                n * p
            )));
        }
        Ok(Self {
            soup,
            shared,
            experts,
            p,
            n,
        })
    }

    /// Parameters of one instantiated model, `p`.
    pub fn n_params(&self) -> usize {
        self.p
    }

    /// Number of experts, `n`.
    pub fn n_experts(&self) -> usize {
        self.n
    }

    /// Bytes read and written by one instantiation: `(n + 2)·p·4`.
    pub fn bytes_moved(&self) -> usize {
        (self.n + 2) * self.p * std::mem::size_of::<f32>()
    }

    /// Coefficients `α(h)` through the soup's router.
    pub fn coefficients(&self, h: &[f64]) -> Result<Vec<f32>> {
        to_vec(self.soup.coefficients(h)?)
    }

    /// `out = S + Σ_j alpha_j E_j` (flat, base-model parameter order).
    ///
    /// Errors: `alpha` not of length `n`, non-finite, or `out` not of length `p`.
    pub fn instantiate_into(&self, alpha: &[f32], out: &mut [f32]) -> Result<()> {
        if alpha.len() != self.n || out.len() != self.p {
            return Err(Error::Shape(format!(
                "instantiate: alpha has {} entries (want {}), out has {} (want {})",
                alpha.len(),
                self.n,
                out.len(),
                self.p
            )));
        }
        if alpha.iter().any(|a| !a.is_finite()) {
            return Err(Error::NonFinite(
                "instantiate: non-finite coefficient".into(),
            ));
        }
        let p = self.p;
        out.par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(c, block)| {
                // Sub-chunks small enough that the output stays in L1 across all expert passes;
                // experts are fused four at a time so each pass over the output does 4 AXPYs.
                for (sc, o) in block.chunks_mut(SUB_CHUNK).enumerate() {
                    let start = c * CHUNK + sc * SUB_CHUNK;
                    let len = o.len();
                    o.copy_from_slice(&self.shared[start..start + len]);
                    let expert = |j: usize| &self.experts[j * p + start..j * p + start + len];
                    let mut j = 0;
                    while j + 4 <= alpha.len() {
                        let (a0, a1, a2, a3) = (alpha[j], alpha[j + 1], alpha[j + 2], alpha[j + 3]);
                        let (e0, e1, e2, e3) =
                            (expert(j), expert(j + 1), expert(j + 2), expert(j + 3));
                        for i in 0..len {
                            o[i] += a0 * e0[i] + a1 * e1[i] + a2 * e2[i] + a3 * e3[i];
                        }
                        j += 4;
                    }
                    for (jj, &a) in alpha.iter().enumerate().skip(j) {
                        o.iter_mut().zip(expert(jj)).for_each(|(o, e)| *o += a * e);
                    }
                }
            });
        Ok(())
    }

    /// The flat specialist for domain weights `h`.
    pub fn instantiate(&self, h: &[f64]) -> Result<Vec<f32>> {
        let alpha = self.coefficients(h)?;
        let mut out = vec![0.0; self.p];
        self.instantiate_into(&alpha, &mut out)?;
        Ok(out)
    }

    /// Load a flat parameter vector (e.g. from [`FrozenSoup::instantiate`]) into a standalone
    /// base model on `device`.
    pub fn to_transformer(&self, flat: &[f32], device: &Device) -> Result<Transformer> {
        if flat.len() != self.p {
            return Err(Error::Shape(format!(
                "flat parameters have {} values, the base model has {}",
                flat.len(),
                self.p
            )));
        }
        let mut loader = LoadFlat {
            values: flat,
            offset: 0,
            device: device.clone(),
        };
        Ok(self.soup.shared().clone().map(&mut loader))
    }

    /// [`FrozenSoup::instantiate`] then [`FrozenSoup::to_transformer`].
    pub fn export(&self, h: &[f64], device: &Device) -> Result<Transformer> {
        let flat = self.instantiate(h)?;
        self.to_transformer(&flat, device)
    }
}
