//! One Transformer LM training step (forward, backward, AdamW update) and one inference
//! forward, at the size of the `core` eval's full scale, on every compiled CPU backend:
//! flex against ndarray (the card's CPU backend) is the peer comparison. wgpu is skipped
//! here: on lavapipe it measures a software rasteriser, not a GPU.
#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

use burn::prelude::*;
use criterion::{Criterion, criterion_group, criterion_main};
use ember_core::backend::{BackendKind, parity_devices};
use ember_core::loss::masked_cross_entropy_seq;
use ember_core::nn::TransformerConfig;
use ember_core::train::{StepOutput, TrainConfig, Trainer};

const B: usize = 16;
const T: usize = 64;
const V: usize = 512;

fn batch(device: &Device) -> Tensor<2, Int> {
    let ids: Vec<i64> = (0..B * (T + 1)).map(|i| ((i * 7919) % V) as i64).collect();
    Tensor::<1, Int>::from_data(TensorData::new(ids, [B * (T + 1)]), device).reshape([B, T + 1])
}

fn bench_transformer(c: &mut Criterion) {
    // As every ember eval binary does (docs/perf.md: about 10% of a step otherwise).
    ember_core::host::alloc::retain_freed_memory();
    let mut group = c.benchmark_group("transformer d128 L4 B16 T64 V512");
    group.sample_size(10);
    for (kind, plain) in parity_devices() {
        if kind == BackendKind::Wgpu {
            continue;
        }
        let device = plain.clone().autodiff();
        let cfg = TransformerConfig::new(V, 128, 4, 4, 512, T).with_causal(true);
        let model = cfg.init(&device);
        let x = batch(&device);
        let keep =
            Tensor::<2, Bool>::from_data(TensorData::new(vec![true; B * T], [B, T]), &device);
        let mut trainer = Trainer::new(
            model.clone(),
            TrainConfig::new(usize::MAX, 1e-3)
                .with_progress(false)
                .with_log_every(usize::MAX),
            &device,
        );
        group.bench_function(format!("train_step/{kind}"), |b| {
            b.iter(|| {
                trainer
                    .run_steps(1, |m, _, _| {
                        let logits = m.logits(x.clone().slice([0..B, 0..T]), None)?;
                        let loss = masked_cross_entropy_seq(
                            logits,
                            x.clone().slice([0..B, 1..T + 1]),
                            keep.clone(),
                        )?;
                        Ok(StepOutput::new(loss, B * T))
                    })
                    .expect("training step")
            })
        });
        let inference = model.valid();
        let xi = batch(&plain).slice([0..B, 0..T]);
        group.bench_function(format!("forward/{kind}"), |b| {
            b.iter(|| {
                inference
                    .logits(xi.clone(), None)
                    .expect("forward")
                    .into_data()
            })
        });
    }
    group.finish();
}

/// The step's pieces at the step's shapes, forward and backward on flex, each timed alone
/// (the loss is `sum(piece(x) * g)` for a fixed `g`, so the gradient flowing back is a
/// dense tensor as inside the step, not the broadcast scalar of a plain `sum`):
/// where the step's time goes (docs/perf.md, next to `scripts/bench_train_step_jax.py
/// --ops`, which times the same pieces under `jax.jit`). Per step the model runs each of
/// GELU, attention and the two LayerNorms 4 times, the final LayerNorm and the
/// cross-entropy once. GELU is timed both as Burn's flex op and as ember's host kernel
/// (`ember_core::nn::activation::gelu`, which the Transformer calls).
fn bench_step_pieces(c: &mut Criterion) {
    ember_core::host::alloc::retain_freed_memory();
    let mut group = c.benchmark_group("step pieces fwd+bwd, flex");
    group.sample_size(20);
    let device = ember_core::backend::device(BackendKind::Flex)
        .expect("flex device")
        .autodiff();
    let n = B * T;
    let dist = burn::tensor::Distribution::Normal(0.0, 1.0);
    let leaf = |shape: Vec<usize>| Tensor::<2>::random(shape, dist, &device).require_grad();
    let x_ff = leaf(vec![n, 512]);
    let g_ff = Tensor::<2>::random([n, 512], dist, &device);
    // Burn's flex op, and ember's host kernel that the Transformer uses (same bits).
    group.bench_function("gelu [1024, 512]", |b| {
        b.iter(|| {
            let y = burn::tensor::activation::gelu(x_ff.clone());
            (y * g_ff.clone()).sum().backward()
        })
    });
    group.bench_function("gelu [1024, 512], ember", |b| {
        b.iter(|| {
            let y = ember_core::nn::activation::gelu(x_ff.clone());
            (y * g_ff.clone()).sum().backward()
        })
    });
    let x_plain = x_ff.clone().inner();
    group.bench_function("gelu forward only [1024, 512]", |b| {
        b.iter(|| burn::tensor::activation::gelu(x_plain.clone()).into_data())
    });
    group.bench_function("gelu forward only [1024, 512], ember", |b| {
        b.iter(|| ember_core::nn::activation::gelu(x_plain.clone()).into_data())
    });
    let qkv: Vec<Tensor<4>> = (0..3)
        .map(|_| Tensor::<4>::random([B, 4, T, 32], dist, &device).require_grad())
        .collect();
    let g_att = Tensor::<4>::random([B, 4, T, 32], dist, &device);
    group.bench_function("causal attention [16, 4, 64, 32]", |b| {
        b.iter(|| {
            let y = burn::tensor::module::attention(
                qkv[0].clone(),
                qkv[1].clone(),
                qkv[2].clone(),
                None,
                None,
                burn::tensor::ops::AttentionModuleOptions {
                    scale: None,
                    softcap: None,
                    is_causal: true,
                },
            );
            (y * g_att.clone()).sum().backward()
        })
    });
    let norm = burn::nn::LayerNormConfig::new(128).init(&device);
    let x_d = leaf(vec![n, 128]);
    let g_d = Tensor::<2>::random([n, 128], dist, &device);
    group.bench_function("layer norm [1024, 128]", |b| {
        b.iter(|| (norm.forward(x_d.clone()) * g_d.clone()).sum().backward())
    });
    let w_up = leaf(vec![128, 512]);
    group.bench_function("matmul [1024, 128] x [128, 512]", |b| {
        b.iter(|| {
            (x_d.clone().matmul(w_up.clone()) * g_ff.clone())
                .sum()
                .backward()
        })
    });
    let logits = leaf(vec![n, V]);
    let targets = batch(&device).slice([0..B, 1..T + 1]).reshape([n]);
    let mask = Tensor::<1>::ones([n], &device);
    group.bench_function("cross-entropy [1024, 512]", |b| {
        b.iter(|| {
            ember_core::loss::masked_cross_entropy(logits.clone(), targets.clone(), mask.clone())
                .expect("cross-entropy")
                .backward()
        })
    });
    group.finish();
}

/// `exp` over the step's logits shape: flex's op (one `f32::exp` call per element), the same
/// scalar call in a plain loop, and ember's vectorised `host::exp` (bit for bit the same).
fn bench_exp(c: &mut Criterion) {
    let mut group = c.benchmark_group("exp [1024, 512]");
    group.sample_size(30);
    let device = ember_core::backend::device(BackendKind::Flex).expect("flex device");
    let dist = burn::tensor::Distribution::Normal(0.0, 3.0);
    let x = Tensor::<2>::random([B * T, 512], dist, &device);
    let host: Vec<f32> = x.clone().into_data().try_to_vec::<f32>().expect("f32 data");
    group.bench_function("flex exp op", |b| b.iter(|| x.clone().exp().into_data()));
    group.bench_function("f32::exp loop, one thread", |b| {
        b.iter(|| host.iter().map(|v| v.exp()).collect::<Vec<f32>>())
    });
    group.bench_function("ember host::exp::exp_slice", |b| {
        b.iter(|| {
            let mut v = host.clone();
            ember_core::host::exp::exp_slice(&mut v);
            v
        })
    });
    group.finish();
}

criterion_group!(benches, bench_transformer, bench_step_pieces, bench_exp);
criterion_main!(benches);
