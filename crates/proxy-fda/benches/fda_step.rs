//! Per-step cost of fine-tuning a CnnEncoder (B = 32 images 32×32, 8 classes × 4) with naive
//! fine-tuning, LDIFS, FDA and Proxy-FDA: forward, backward and AdamW update, including the
//! frozen pre-trained forward that the regularisers need. The overhead over naive FT is the
//! figure the paper reports (+7–9% FDA, +17–21% Proxy-FDA). The `_cached` variants take the
//! pre-trained features from a cache computed once (`PreFeatureCache`), as the eval does.
//! Proxy-FDA runs the generator and its loss through the fused host pass
//! (`ProxyGenerator::forward_with_loss`), as `finetune_step` does.
//!
//! `finetune_step_b32` is the eval's encoder (channels 16/32/64, `d = 64`). The
//! `finetune_step_b32_c32-64-128` and `finetune_step_b32_c64-128-256` groups (naive, FDA and
//! Proxy-FDA with cached features only) repeat the measurement with wider encoders (`d = 128`,
//! `256`): the regularisers' extra work grows little with the encoder, so their relative
//! overhead shrinks as the encoder's step grows (the paper's figures are for a ViT-B).
//!
//! The `proxy_generator` group isolates the generator: its forward, loss and backward on a
//! `[32, 64]` batch, through the tensor path (`forward` + `proxy_generator_loss`) and the
//! fused host pass.
#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

use burn::prelude::*;
use criterion::{Criterion, criterion_group, criterion_main};
use ember_proxy_fda::proxy::proxy_generator_loss;
use ember_proxy_fda::*;

#[path = "step_common.rs"]
mod step_common;
use step_common::{Method as M, StepSetup};

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
    bench_generator(c);
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
    let setup = StepSetup::new(channels);
    let mut group = c.benchmark_group(group);
    group.sample_size(20);
    for &(name, m, cached) in methods {
        let (mut model, mut optim) = setup.model(m);
        group.bench_function(name, |b| {
            b.iter(|| model = setup.step(model.clone(), &mut optim, m, cached))
        });
    }
    group.finish();
}

/// The generator's forward, loss and backward alone, tensor path against fused host pass.
fn bench_generator(c: &mut Criterion) {
    let device = ember_core::backend::default_backend()
        .and_then(ember_core::backend::device)
        .unwrap();
    let ad = device.autodiff();
    ad.seed(0);
    let (b, d) = (32, 64);
    let normal = burn::tensor::Distribution::Normal(0.0, 1.0);
    let x = Tensor::<2>::random([b, d], normal, &ad).into_data();
    let pre = Tensor::<2>::random([b, d], normal, &ad).into_data();
    let gen_ = ProxyGeneratorConfig::new(d).init(&ad);
    let fda = FdaConfig::default();
    let cfg = ProxyLossConfig::default();
    let graph = KnnGraph::build(Tensor::<2>::from_data(pre.clone(), &ad), fda.k).unwrap();
    let mut group = c.benchmark_group("proxy_generator");
    group.sample_size(30);
    group.bench_function("tensor_path", |bch| {
        bch.iter(|| {
            let (x, p) = (
                Tensor::<2>::from_data(x.clone(), &ad),
                Tensor::<2>::from_data(pre.clone(), &ad),
            );
            let pr = gen_.forward(x, &graph).unwrap();
            proxy_generator_loss(p, &graph, &pr, &fda, &cfg)
                .unwrap()
                .backward()
        })
    });
    group.bench_function("fused_host", |bch| {
        bch.iter(|| {
            let (x, p) = (
                Tensor::<2>::from_data(x.clone(), &ad),
                Tensor::<2>::from_data(pre.clone(), &ad),
            );
            let (_, l) = gen_.forward_with_loss(x, p, &graph, &fda, &cfg).unwrap();
            l.backward()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
