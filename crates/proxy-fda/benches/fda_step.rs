//! Per-step cost of fine-tuning a CnnEncoder (B = 32 images 32×32, 8 classes × 4) with naive
//! fine-tuning, LDIFS, FDA and Proxy-FDA: forward, backward and AdamW update, including the
//! frozen pre-trained forward that the regularisers need. The overhead over naive FT is the
//! figure the paper reports (+7–9% FDA, +17–21% Proxy-FDA). The `_cached` variants take the
//! pre-trained features from a cache computed once (`PreFeatureCache`), as the eval does.
//!
//! `finetune_step_b32` is the eval's encoder (channels 16/32/64, `d = 64`). The
//! `finetune_step_b32_c32-64-128` and `finetune_step_b32_c64-128-256` groups (naive, FDA and
//! Proxy-FDA with cached features only) repeat the measurement with wider encoders (`d = 128`,
//! `256`): the regularisers' extra work grows little with the encoder, so their relative
//! overhead shrinks as the encoder's step grows (the paper's figures are for a ViT-B).

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamWConfig, GradientsParams};
use burn::prelude::*;
use criterion::{Criterion, criterion_group, criterion_main};
use ember_core::loss::cross_entropy;
use ember_core::nn::{CnnEncoder, CnnEncoderConfig};
use ember_proxy_fda::proxy::proxy_generator_loss;
use ember_proxy_fda::*;

#[derive(Module, Debug)]
struct Ft {
    enc: CnnEncoder,
    head: Linear,
    gen_: Option<ProxyGenerator>,
}

#[derive(Clone, Copy)]
enum M {
    Naive,
    Ldifs,
    Fda,
    ProxyFda,
}

fn bench(c: &mut Criterion) {
    let all = [
        ("naive", M::Naive, false),
        ("ldifs", M::Ldifs, false),
        ("fda", M::Fda, false),
        ("proxy_fda", M::ProxyFda, false),
        ("ldifs_cached", M::Ldifs, true),
        ("fda_cached", M::Fda, true),
        ("proxy_fda_cached", M::ProxyFda, true),
    ];
    let sweep = [
        ("naive", M::Naive, false),
        ("fda_cached", M::Fda, true),
        ("proxy_fda_cached", M::ProxyFda, true),
    ];
    bench_size(c, "finetune_step_b32", vec![16, 32, 64], &all);
    bench_size(c, "finetune_step_b32_c32-64-128", vec![32, 64, 128], &sweep);
    bench_size(
        c,
        "finetune_step_b32_c64-128-256",
        vec![64, 128, 256],
        &sweep,
    );
}

/// One group: the methods of `methods` with a `CnnEncoder` of `channels` (`d` = the last).
fn bench_size(c: &mut Criterion, group: &str, channels: Vec<usize>, methods: &[(&str, M, bool)]) {
    let device = ember_core::backend::default_backend()
        .and_then(ember_core::backend::device)
        .unwrap();
    let ad = device.clone().autodiff();
    ad.seed(0);
    let d = *channels.last().unwrap();
    let enc_cfg = CnnEncoderConfig::new(d).with_channels(channels);
    let pre = enc_cfg.init(&device);
    let path = std::env::temp_dir().join(format!("pfda-bench-pre-{d}.bpk"));
    pre.clone().save_file(&path).unwrap();
    let pre = pre.valid();
    let x_host = Tensor::<4>::random(
        [32, 3, 32, 32],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    )
    .into_data();
    let y: Vec<i64> = (0..32).map(|i| i / 4).collect();
    let fda = FdaConfig {
        k: 8,
        ..Default::default()
    };
    let mut group = c.benchmark_group(group);
    group.sample_size(20);
    // The frozen features of the batch, computed once: what `PreFeatureCache` gives the
    // eval (no augmentation, so the cache is exact).
    let p_cached = pre
        .forward(Tensor::<4>::from_data(x_host.clone(), &device))
        .into_data();
    for &(name, m, cached) in methods {
        let gen_ = matches!(m, M::ProxyFda).then(|| ProxyGeneratorConfig::new(d).init(&ad));
        let mut model = Ft {
            enc: enc_cfg.init(&ad).load_file(&path),
            head: LinearConfig::new(d, 8).init(&ad),
            gen_,
        };
        let mut optim = AdamWConfig::new().init();
        group.bench_function(name, |b| {
            b.iter(|| {
                let x = Tensor::<4>::from_data(x_host.clone(), &ad);
                let yt = Tensor::<1, Int>::from_data(TensorData::new(y.clone(), [32]), &ad);
                let f = model.enc.forward(x);
                let mut loss = cross_entropy(model.head.forward(f.clone()), yt).unwrap();
                if !matches!(m, M::Naive) {
                    let p = if cached {
                        Tensor::<2>::from_data(p_cached.clone(), &ad)
                    } else {
                        let p = pre.forward(Tensor::<4>::from_data(x_host.clone(), &device));
                        Tensor::<2>::from_data(p.into_data(), &ad)
                    };
                    match m {
                        M::Ldifs => loss = loss + ldifs_penalty(f, p).unwrap(),
                        M::Fda => {
                            let g = KnnGraph::build(p, 8).unwrap();
                            loss = loss + fda_loss(f, &g, &fda).unwrap();
                        }
                        M::ProxyFda => {
                            let g = KnnGraph::build(p.clone(), 8).unwrap();
                            let pr = model.gen_.as_ref().unwrap().forward(f.clone(), &g).unwrap();
                            loss = loss
                                + proxy_fda_loss(f, p.clone(), &g, &pr, &fda).unwrap()
                                + proxy_generator_loss(
                                    p,
                                    &g,
                                    &pr,
                                    &fda,
                                    &ProxyLossConfig::default(),
                                )
                                .unwrap();
                        }
                        M::Naive => {}
                    }
                }
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                model = optim.step(1e-3, model.clone(), grads);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
