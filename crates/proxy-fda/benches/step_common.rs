//! The fine-tuning step shared by `benches/fda_step.rs` and `examples/step_overhead.rs`:
#![allow(dead_code)] // shared by a bench and an example, each uses a subset
//! a `CnnEncoder` + linear head on one fixed batch (B = 32 images 32×32, 8 classes × 4),
//! forward, the method's loss, backward and an AdamW update, as `finetune_step` runs them.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use ember_core::loss::cross_entropy;
use ember_core::nn::{CnnEncoder, CnnEncoderConfig};
use ember_proxy_fda::*;

/// Encoder, head and (for Proxy-FDA) generator.
#[derive(Module, Debug)]
pub struct Ft {
    enc: CnnEncoder,
    head: Linear,
    gen_: Option<ProxyGenerator>,
}

/// The fine-tuning methods the step can run.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Method {
    /// Plain fine-tuning: cross-entropy only; the frozen encoder is not used.
    Naive,
    /// Cross-entropy + `ldifs_penalty` between the fine-tuned and pre-trained features.
    Ldifs,
    /// Cross-entropy + `fda_loss` over the k-NN graph of the pre-trained features.
    Fda,
    /// Cross-entropy + `proxy_fda_loss` with proxies from the `ProxyGenerator` (fused
    /// `forward_with_loss`), plus the generator's own loss.
    ProxyFda,
}

/// One batch, a frozen pre-trained encoder and its features of the batch.
pub struct StepSetup {
    enc_cfg: CnnEncoderConfig,
    pre_path: std::path::PathBuf,
    pre: CnnEncoder,
    x: TensorData,
    y: Vec<i64>,
    /// The frozen features of the batch, computed once: what `PreFeatureCache` gives the
    /// eval (no augmentation, so the cache is exact).
    p_cached: TensorData,
    fda: FdaConfig,
    device: Device,
    ad: Device,
}

impl StepSetup {
    /// A random encoder with `channels` (`d` = the last) saved as the pre-trained one.
    pub fn new(channels: Vec<usize>) -> Self {
        let device = ember_core::backend::default_backend()
            .and_then(ember_core::backend::device)
            .unwrap();
        let ad = device.clone().autodiff();
        ad.seed(0);
        let d = *channels.last().unwrap();
        let enc_cfg = CnnEncoderConfig::new(d).with_channels(channels.clone());
        let pre = enc_cfg.init(&device);
        let tag = channels.iter().map(usize::to_string).collect::<Vec<_>>();
        let pre_path = std::env::temp_dir().join(format!(
            "pfda-step-pre-{}-{}.bpk",
            tag.join("-"),
            std::process::id()
        ));
        pre.clone().save_file(&pre_path).unwrap();
        let pre = pre.valid();
        let x = Tensor::<4>::random(
            [32, 3, 32, 32],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &device,
        )
        .into_data();
        let p_cached = pre
            .forward(Tensor::<4>::from_data(x.clone(), &device))
            .into_data();
        Self {
            enc_cfg,
            pre_path,
            pre,
            x,
            y: (0..32).map(|i| i / 4).collect(),
            p_cached,
            fda: FdaConfig {
                k: 8,
                ..Default::default()
            },
            device,
            ad,
        }
    }

    /// A fresh model (encoder initialised from the pre-trained one) and optimiser.
    pub fn model(&self, m: Method) -> (Ft, ModuleOptimizer) {
        let d = self.enc_cfg.d_out;
        let gen_ = (m == Method::ProxyFda).then(|| ProxyGeneratorConfig::new(d).init(&self.ad));
        let model = Ft {
            enc: self.enc_cfg.init(&self.ad).load_file(&self.pre_path),
            head: LinearConfig::new(d, 8).init(&self.ad),
            gen_,
        };
        (model, AdamWConfig::new().init())
    }

    /// One step of method `m`; `cached`: take the pre-trained features from the cache
    /// instead of running the frozen encoder.
    pub fn step(&self, model: Ft, optim: &mut ModuleOptimizer, m: Method, cached: bool) -> Ft {
        let ad = &self.ad;
        let x = Tensor::<4>::from_data(self.x.clone(), ad);
        let yt = Tensor::<1, Int>::from_data(TensorData::new(self.y.clone(), [32]), ad);
        let f = model.enc.forward(x);
        let mut loss = cross_entropy(model.head.forward(f.clone()), yt).unwrap();
        if m != Method::Naive {
            let p = if cached {
                Tensor::<2>::from_data(self.p_cached.clone(), ad)
            } else {
                let x = Tensor::<4>::from_data(self.x.clone(), &self.device);
                Tensor::<2>::from_data(self.pre.forward(x).into_data(), ad)
            };
            let fda = &self.fda;
            match m {
                Method::Ldifs => loss = loss + ldifs_penalty(f, p).unwrap(),
                Method::Fda => {
                    let g = KnnGraph::build(p, fda.k).unwrap();
                    loss = loss + fda_loss(f, &g, fda).unwrap();
                }
                Method::ProxyFda => {
                    let g = KnnGraph::build(p.clone(), fda.k).unwrap();
                    let gen_ = model.gen_.as_ref().unwrap();
                    let cfg = ProxyLossConfig::default();
                    let (pr, lg) = gen_
                        .forward_with_loss(f.clone(), p.clone(), &g, fda, &cfg)
                        .unwrap();
                    loss = loss + proxy_fda_loss(f, p, &g, &pr, fda).unwrap() + lg;
                }
                Method::Naive => {}
            }
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        optim.step(1e-3, model, grads)
    }
}
