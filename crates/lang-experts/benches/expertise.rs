//! The hot paths of expert finding: per-unit AP/AUROC over a layer (2k units × 2k sentences,
//! the size `scripts/bench_lang_experts_sklearn.py` times for scikit-learn's per-unit loop),
//! the full expertise table at 10k units (AP, AUROC, positive mean/median, negative mean),
//! pooled capture end to end, and the intervened forward pass against the plain one.
#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

use burn::prelude::*;
use criterion::{Criterion, criterion_group, criterion_main};
use ember_core::metrics::{average_precision_batch, roc_auc_batch};
use ember_core::nn::intervention::Site;
use ember_core::nn::{ForwardOptions, Intervention, TransformerConfig, TransformerInput, UnitEdit};
use ember_lang_experts::capture::{CaptureConfig, collect};
use ember_lang_experts::expertise::score_block;

/// The same data as the Python peer: 30 % positives, unit-dependent separation, f32.
fn data(units: usize, n: usize) -> (Vec<f32>, Vec<bool>) {
    let mut s = 0x2545_f491_4f6c_dd1du64;
    let mut u = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let labels: Vec<bool> = (0..n).map(|_| u() < 0.3).collect();
    let scores = (0..units)
        .flat_map(|k| {
            let sep = 0.1 * (k % 7) as f64;
            labels.iter().map(|&l| (0.0, sep, l)).collect::<Vec<_>>()
        })
        .map(|(_, sep, l)| (u() + if l { sep } else { 0.0 }) as f32)
        .collect();
    (scores, labels)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("expertise");
    g.sample_size(10);
    let (s, l) = data(2000, 2000);
    g.bench_function("ap 2k units x 2k sentences", |b| {
        b.iter(|| average_precision_batch(&s, 2000, &l).unwrap())
    });
    g.bench_function("auroc 2k units x 2k sentences", |b| {
        b.iter(|| roc_auc_batch(&s, 2000, &l).unwrap())
    });
    let (s10, l10) = data(10_000, 2000);
    g.bench_function("expertise table 10k units x 2k sentences", |b| {
        b.iter(|| score_block(&s10, 10_000, &l10).unwrap())
    });
    g.finish();

    let dev = ember_core::backend::device_by_name("flex").unwrap();
    dev.seed(1);
    // 2 layers x (4608 pre + 512 out) = 10,240 units
    let big = TransformerConfig::new(200, 512, 8, 2, 4608, 24)
        .with_causal(true)
        .init(&dev);
    let sents: Vec<Vec<u32>> = (0..256)
        .map(|i| {
            (0..16)
                .map(|j| ((i * 31 + j * 7) % 199 + 1) as u32)
                .collect()
        })
        .collect();
    let mut g = c.benchmark_group("capture");
    g.sample_size(10);
    g.bench_function("collect 10k units x 32 sentences x 8 tokens (flex)", |b| {
        b.iter(|| collect(&big, &sents, 0, &CaptureConfig::default(), None, &dev).unwrap())
    });
    g.finish();

    let m = TransformerConfig::new(500, 64, 4, 2, 256, 32)
        .with_causal(true)
        .init(&dev);
    let ids: Vec<i64> = (0..64 * 24).map(|i| (i * 13 % 499 + 1) as i64).collect();
    let x = Tensor::<1, Int>::from_data(TensorData::new(ids, [64 * 24]), &dev).reshape([64, 24]);
    let mut iv = Intervention::new();
    for u in (0..256).step_by(10) {
        iv = iv.with_at(Site::MlpPre, 0, u, UnitEdit::Set(1.0)).with_at(
            Site::MlpPre,
            1,
            u,
            UnitEdit::Set(1.0),
        );
    }
    for u in (0..64).step_by(10) {
        iv = iv.with_at(Site::MlpOut, 1, u, UnitEdit::Set(0.5));
    }
    let mut g = c.benchmark_group("forward d64 L2 64x24 (flex)");
    g.sample_size(30);
    let run = |opts: ForwardOptions| {
        let o = m
            .forward_with(TransformerInput::Tokens(x.clone()), opts)
            .unwrap();
        o.last_hidden.into_data()
    };
    g.bench_function("plain", |b| b.iter(|| run(ForwardOptions::hidden_states())));
    g.bench_function("intervened (5% of units, pre + out)", |b| {
        b.iter(|| run(ForwardOptions::hidden_states().with_intervention(iv.clone())))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
