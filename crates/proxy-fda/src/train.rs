//! Fine-tuning steps for [`ember_core::train::Trainer`]: the per-step losses of naive
//! fine-tuning, the linear-probe stage of LP-FT, L2-SP, LDIFS, FDA and Proxy-FDA (whose step
//! also trains the proxy generator), on class-balanced batches of an [`ImageFolder`].
//!
//! A step draws its batch from the trainer's host RNG (only through
//! [`ClassBalancedSampler::sample`]), so a run resumed from a checkpoint replays exactly the
//! batches of an uninterrupted one:
//!
//! ```no_run
//! # use burn::prelude::*;
//! # use ember_core::train::{TrainConfig, Trainer};
//! # use ember_proxy_fda::train::{FtData, FtModel, proxy_fda_step};
//! # use ember_proxy_fda::{FdaConfig, ProxyLossConfig};
//! # fn demo(model: FtModel, data: &FtData) -> ember_core::Result<()> {
//! let cfg = TrainConfig::new(800, 3e-3).with_checkpoint_every(Some(400));
//! let mut tr = Trainer::new(model, cfg, &data.ad).with_dir("runs/proxy-fda")?;
//! tr.resume()?; // no-op on a fresh directory
//! let (fda, gen_cfg) = (FdaConfig::default(), ProxyLossConfig::default());
//! tr.run(|m, rng, _| proxy_fda_step(m, data, 3.0, &fda, &gen_cfg, rng))?;
//! # Ok(()) }
//! ```

use crate::baselines::{l2sp_penalty, ldifs_penalty};
use crate::fda::{FdaConfig, fda_loss, proxy_fda_loss};
use crate::image_folder::ImageFolder;
use crate::knn::KnnGraph;
use crate::proxy::{ProxyGenerator, ProxyLossConfig, proxy_generator_loss};
use crate::sampler::ClassBalancedSampler;
use burn::nn::Linear;
use burn::prelude::*;
use ember_core::loss::cross_entropy;
use ember_core::nn::{CnnEncoder, ImageEncoder};
use ember_core::train::StepOutput;
use ember_core::{Error, Result};

/// The model being fine-tuned: the encoder (initialised from the pre-trained one), a new
/// classification head and, for Proxy-FDA, the proxy generator (trained jointly, by its own
/// loss only). All three live on the autodiff device; the generator is part of the
/// checkpoints. The encoder is any [`ImageEncoder`]: ember's [`CnnEncoder`] (the default) or
/// a loaded CLIP image tower.
#[derive(Module, Debug)]
pub struct FtModel<E: ImageEncoder = CnnEncoder> {
    /// Image encoder `f_θ`.
    pub enc: E,
    /// Head on the fine-tuning classes.
    pub head: Linear,
    /// Proxy generator (`Some` for Proxy-FDA; `gen` is a reserved word).
    pub gen_: Option<ProxyGenerator>,
}

/// What a fine-tuning step reads besides the model.
pub struct FtData<'a, E = CnnEncoder> {
    /// Fine-tuning images; their labels are the head's classes.
    pub images: &'a ImageFolder,
    /// Batch sampler over `images.labels`.
    pub sampler: &'a ClassBalancedSampler,
    /// The frozen pre-trained encoder `f_θ0`, on `device` (no autodiff), in inference mode.
    pub pre: &'a E,
    /// Device of `pre`.
    pub device: Device,
    /// The autodiff device the [`FtModel`] lives on.
    pub ad: Device,
    /// Pre-trained features of every fine-tuning image, computed once
    /// ([`PreFeatureCache::compute`]); `None` runs the frozen encoder on every batch. The
    /// images are not augmented, so the cache is exact and removes the frozen forward pass
    /// from every regularised step.
    pub pre_cache: Option<&'a PreFeatureCache>,
}

/// `f_θ0(x)` for every image of a set, row-major `[n, dim]` on the host.
#[derive(Debug, Clone)]
pub struct PreFeatureCache {
    values: Vec<f32>,
    n: usize,
    dim: usize,
}

impl PreFeatureCache {
    /// Run the frozen encoder over `images` in batches of `batch`.
    pub fn compute<E: ImageEncoder>(
        pre: &E,
        images: &ImageFolder,
        batch: usize,
        device: &Device,
    ) -> Result<Self> {
        let n = images.len();
        if n == 0 {
            return Err(Error::InvalidInput(
                "feature cache of an empty image set".into(),
            ));
        }
        let mut values = Vec::new();
        let idx: Vec<usize> = (0..n).collect();
        for chunk in idx.chunks(batch.max(1)) {
            let f = pre.encode(images.batch(chunk, device))?;
            values.extend(ember_core::host::tensor::read_as::<
                f32,
                2,
                burn::tensor::Float,
            >(f, "cached features")?);
        }
        let dim = values.len() / n;
        Ok(Self { values, n, dim })
    }

    /// From already computed features (`n × dim` row-major).
    pub fn from_rows(values: Vec<f32>, dim: usize) -> Result<Self> {
        if dim == 0 || values.is_empty() || !values.len().is_multiple_of(dim) {
            return Err(Error::Shape(format!(
                "feature cache: {} values are not whole rows of width {dim}",
                values.len()
            )));
        }
        let n = values.len() / dim;
        Ok(Self { values, n, dim })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.n
    }

    /// The features, row-major `[len, dim]`.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// Feature width.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Always false: a cache holds at least one image.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Rows `idx` as a constant `[idx.len(), dim]` tensor on `device`.
    pub fn rows(&self, idx: &[usize], device: &Device) -> Result<Tensor<2>> {
        let mut v = Vec::with_capacity(idx.len() * self.dim);
        for &i in idx {
            if i >= self.n {
                return Err(Error::InvalidInput(format!(
                    "feature cache holds {} images, index {i} requested",
                    self.n
                )));
            }
            v.extend_from_slice(&self.values[i * self.dim..(i + 1) * self.dim]);
        }
        Ok(
            Tensor::<1>::from_data(TensorData::new(v, [idx.len() * self.dim]), device)
                .reshape([idx.len(), self.dim]),
        )
    }
}

impl<E: ImageEncoder> FtData<'_, E> {
    /// Pre-trained features `f_θ0(x)` of the images at `idx`, moved to the autodiff device as a
    /// constant (no gradient).
    pub fn pre_features(&self, idx: &[usize]) -> Result<Tensor<2>> {
        if let Some(cache) = self.pre_cache {
            if cache.len() != self.images.len() {
                return Err(Error::Shape(format!(
                    "feature cache holds {} images, the fine-tuning set {}",
                    cache.len(),
                    self.images.len()
                )));
            }
            return cache.rows(idx, &self.ad);
        }
        let p = self.pre.encode(self.images.batch(idx, &self.device))?;
        Ok(Tensor::<2>::from_data(p.into_data(), &self.ad))
    }

    /// Labels of the images at `idx` (host side, checked).
    fn labels(&self, idx: &[usize]) -> Result<Vec<i64>> {
        idx.iter()
            .map(|&i| {
                self.images.labels.get(i).map(|&l| l as i64).ok_or_else(|| {
                    Error::InvalidInput(format!(
                        "sampler index {i} out of range for {} fine-tuning images",
                        self.images.len()
                    ))
                })
            })
            .collect()
    }

    /// `y` as an int tensor on the autodiff device.
    fn targets(&self, y: Vec<i64>) -> Tensor<1, Int> {
        let n = y.len();
        Tensor::<1, Int>::from_data(TensorData::new(y, [n]), &self.ad)
    }
}

/// The regulariser added to the fine-tuning cross-entropy, with its weight `λ`.
#[derive(Debug, Clone, Copy)]
pub enum Regularizer<'a> {
    /// Naive fine-tuning (and the second stage of LP-FT): cross-entropy only.
    None,
    /// L2-SP `λ Σ ‖θ − θ⁰‖²` over the encoder, against `reference` from
    /// [`crate::collect_params`] of the pre-trained encoder.
    L2Sp {
        /// Weight `λ`.
        lambda: f64,
        /// Pre-trained encoder tensors.
        reference: &'a [(Tensor<1>, bool)],
    },
    /// LDIFS `λ mean_i ‖f(x_i) − f⁰(x_i)‖²`.
    Ldifs {
        /// Weight `λ`.
        lambda: f64,
    },
    /// FDA `λ L_FDA` against the batch's pre-trained kNN graph.
    Fda {
        /// Weight `λ`.
        lambda: f64,
        /// FDA hyper-parameters.
        cfg: FdaConfig,
    },
    /// Proxy-FDA `λ L_ProxyFDA + L_proxy`: the generator's own loss is added unweighted.
    ProxyFda {
        /// Weight `λ` of the Proxy-FDA term.
        lambda: f64,
        /// FDA hyper-parameters.
        cfg: FdaConfig,
        /// Generator loss hyper-parameters.
        proxy: ProxyLossConfig,
    },
}

/// One fine-tuning step: draw a class-balanced batch with `rng`, return
/// `CE(head(f(x)), y) + regulariser` (see [`Regularizer`]) for [`Trainer::run`] /
/// [`Trainer::run_steps`].
///
/// Errors: a [`Regularizer::ProxyFda`] on a model without generator, the loss functions'
/// shape and configuration errors (e.g. `K` ≥ batch size).
///
/// [`Trainer::run`]: ember_core::train::Trainer::run
/// [`Trainer::run_steps`]: ember_core::train::Trainer::run_steps
pub fn finetune_step<E: ImageEncoder, R: rand::Rng>(
    m: &FtModel<E>,
    data: &FtData<E>,
    reg: &Regularizer,
    rng: &mut R,
) -> Result<StepOutput> {
    let idx = data.sampler.sample(rng);
    let y = data.labels(&idx)?; // checks the indices before `batch` would panic on them
    let x = data.images.batch(&idx, &data.ad);
    let f = m.enc.encode(x)?;
    let mut loss = cross_entropy(m.head.forward(f.clone()), data.targets(y))?;
    match *reg {
        Regularizer::None => {}
        Regularizer::L2Sp { lambda, reference } => {
            loss = loss + l2sp_penalty(&m.enc, reference)? * lambda
        }
        Regularizer::Ldifs { lambda } => {
            loss = loss + ldifs_penalty(f, data.pre_features(&idx)?)? * lambda
        }
        Regularizer::Fda { lambda, cfg } => {
            let g = KnnGraph::build(data.pre_features(&idx)?, cfg.k)?;
            loss = loss + fda_loss(f, &g, &cfg)? * lambda;
        }
        Regularizer::ProxyFda { lambda, cfg, proxy } => {
            let p = data.pre_features(&idx)?;
            let g = KnnGraph::build(p.clone(), cfg.k)?;
            let gen_ = m
                .gen_
                .as_ref()
                .ok_or_else(|| Error::InvalidInput("proxy generator missing".into()))?;
            let (proxies, lg) = if ember_core::backend::runs_on_host(&data.ad) {
                // the generator and its loss in one host pass (same values and gradients as
                // `forward` + `proxy_generator_loss`, a third of the cost on a CPU)
                gen_.forward_with_loss(f.clone(), p.clone(), &g, &cfg, &proxy)?
            } else {
                // on a GPU the host pass would read every input back: the tensor path
                let proxies = gen_.forward(f.clone(), &g)?;
                let lg = proxy_generator_loss(p.clone(), &g, &proxies, &cfg, &proxy)?;
                (proxies, lg)
            };
            let lp = proxy_fda_loss(f, p, &g, &proxies, &cfg)?;
            loss = loss + lp * lambda + lg;
        }
    }
    sync_running_stats(m);
    Ok(StepOutput::new(loss, idx.len()))
}

/// Fold the pending BatchNorm running-statistics updates of `module` (from this step's
/// training forward) into the stored values. Call it at the end of a [`Trainer`] step closure
/// whose model has BatchNorm layers; the fine-tuning steps here do.
///
/// Burn's `RunningState` keeps the newest update pending (per thread) until the next training
/// forward or a `valid()`, while records, and so `Trainer` checkpoints written after the
/// optimiser step, read only the stored value: without this, a checkpoint at step `s` holds
/// the running statistics of step `s − 1`, and a resumed run's statistics (not its trainable
/// weights) drift from an uninterrupted run's. Syncing early is numerically a no-op (the
/// pending value replaces the stored one either way); it costs a throw-away inference copy of
/// the module's tensor handles, no tensor data.
///
/// [`Trainer`]: ember_core::train::Trainer
pub fn sync_running_stats<M: Module>(module: &M) {
    let _ = module.valid();
}

/// Naive fine-tuning step: cross-entropy only ([`Regularizer::None`]).
pub fn naive_step<E: ImageEncoder, R: rand::Rng>(
    m: &FtModel<E>,
    data: &FtData<E>,
    rng: &mut R,
) -> Result<StepOutput> {
    finetune_step(m, data, &Regularizer::None, rng)
}

/// FDA step: `CE + λ L_FDA` with the kNN graph of the batch's pre-trained features
/// ([`Regularizer::Fda`]).
pub fn fda_step<E: ImageEncoder, R: rand::Rng>(
    m: &FtModel<E>,
    data: &FtData<E>,
    lambda: f64,
    cfg: &FdaConfig,
    rng: &mut R,
) -> Result<StepOutput> {
    finetune_step(m, data, &Regularizer::Fda { lambda, cfg: *cfg }, rng)
}

/// Proxy-FDA step: `CE + λ L_ProxyFDA + L_proxy` ([`Regularizer::ProxyFda`]). The generator
/// pools proxies from the fine-tuned features; its pooling weights are detached in
/// `L_ProxyFDA` and it learns only from `L_proxy`, so one optimiser step trains encoder, head
/// and generator together. `m.gen_` must be `Some`.
pub fn proxy_fda_step<E: ImageEncoder, R: rand::Rng>(
    m: &FtModel<E>,
    data: &FtData<E>,
    lambda: f64,
    cfg: &FdaConfig,
    proxy: &ProxyLossConfig,
    rng: &mut R,
) -> Result<StepOutput> {
    let reg = Regularizer::ProxyFda {
        lambda,
        cfg: *cfg,
        proxy: *proxy,
    };
    finetune_step(m, data, &reg, rng)
}

/// The linear-probe stage of LP-FT: cross-entropy of the head on the frozen pre-trained
/// features (the encoder gets no gradient).
pub fn linear_probe_step<E: ImageEncoder, R: rand::Rng>(
    m: &FtModel<E>,
    data: &FtData<E>,
    rng: &mut R,
) -> Result<StepOutput> {
    let idx = data.sampler.sample(rng);
    let y = data.labels(&idx)?;
    let f = data.pre_features(&idx)?;
    Ok(StepOutput::new(
        cross_entropy(m.head.forward(f), data.targets(y))?,
        idx.len(),
    ))
}
