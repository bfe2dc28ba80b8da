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

criterion_group!(benches, bench_transformer);
criterion_main!(benches);
