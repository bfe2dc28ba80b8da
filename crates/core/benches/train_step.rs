//! One Transformer LM training step (forward, backward, AdamW update) and one inference
//! forward on flex, at the size of the `core` eval's full scale.
//!
//! Peer: a PyTorch CPU step of the same model is the natural comparison (docs/perf.md).

use burn::prelude::*;
use criterion::{Criterion, criterion_group, criterion_main};
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

fn bench_train_step(c: &mut Criterion) {
    let device = Device::flex().autodiff();
    let cfg = TransformerConfig::new(V, 128, 4, 4, 512, T).with_causal(true);
    let model = cfg.init(&device);
    let x = batch(&device);
    let keep = Tensor::<2, Bool>::from_data(TensorData::new(vec![true; B * T], [B, T]), &device);
    let mut group = c.benchmark_group("transformer");
    group.sample_size(20);
    group.bench_function("train_step d128 L4 B16 T64 V512 (flex)", |b| {
        // A long-running trainer; each iteration runs exactly one more step.
        let mut trainer = Trainer::new(
            model.clone(),
            TrainConfig::new(usize::MAX, 1e-3)
                .with_progress(false)
                .with_log_every(usize::MAX),
            &device,
        );
        b.iter(|| {
            let mut once = false;
            trainer
                .run_steps(1, |m, _, _| {
                    once = true;
                    let logits = m.logits(x.clone().slice([0..B, 0..T]), None)?;
                    let loss = masked_cross_entropy_seq(
                        logits,
                        x.clone().slice([0..B, 1..T + 1]),
                        keep.clone(),
                    )?;
                    Ok(StepOutput::new(loss, B * T))
                })
                .unwrap();
            assert!(once);
        })
    });
    let inference = model.valid();
    let dev = Device::flex();
    let xi = batch(&dev).slice([0..B, 0..T]);
    group.bench_function("forward d128 L4 B16 T64 V512 (flex, no grad)", |b| {
        b.iter(|| inference.logits(xi.clone(), None).unwrap().into_data())
    });
    group.finish();
}

criterion_group!(benches, bench_train_step);
criterion_main!(benches);
