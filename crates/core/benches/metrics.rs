//! Criterion benches for `ember_core::metrics` at paper-scale sizes; compare with
//! `scripts/bench_sklearn.py` (numbers in docs/perf.md).
//!
//! `cargo bench -p ember-core --bench metrics`
#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use ember_core::metrics::{
    DcfParams, average_precision_batch, recall_at_k_diagonal, roc_auc_batch, verification_metrics,
};

/// Deterministic uniform `[0, 1)` floats (SplitMix64), so the bench needs no RNG crate.
struct SplitMix(u64);
impl SplitMix {
    fn next_f32(&mut self) -> f32 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// Scores for `n_units` units over `n` samples, where ~30% of samples are positive and each
/// unit is weakly selective for them.
fn unit_scores(n_units: usize, n: usize, rng: &mut SplitMix) -> (Vec<f32>, Vec<bool>) {
    let labels: Vec<bool> = (0..n).map(|_| rng.next_f32() < 0.3).collect();
    let mut scores = Vec::with_capacity(n_units * n);
    for u in 0..n_units {
        let shift = (u % 7) as f32 * 0.1;
        scores.extend(
            labels
                .iter()
                .map(|&l| rng.next_f32() + shift * l as u8 as f32),
        );
    }
    (scores, labels)
}

fn ranking(c: &mut Criterion) {
    let mut rng = SplitMix(1);
    let n = 2_000;
    let mut g = c.benchmark_group("ranking");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    for n_units in [2_000, 10_000] {
        let (scores, labels) = unit_scores(n_units, n, &mut rng);
        g.bench_function(format!("average_precision_batch/{n_units}x{n}"), |b| {
            b.iter(|| average_precision_batch(black_box(&scores), n_units, &labels))
        });
        g.bench_function(format!("roc_auc_batch/{n_units}x{n}"), |b| {
            b.iter(|| roc_auc_batch(black_box(&scores), n_units, &labels))
        });
    }
    g.finish();
}

fn verification(c: &mut Criterion) {
    let mut rng = SplitMix(2);
    let n = 1_000_000;
    let labels: Vec<bool> = (0..n).map(|_| rng.next_f32() < 0.1).collect();
    let scores: Vec<f32> = labels
        .iter()
        .map(|&l| rng.next_f32() + rng.next_f32() + l as u8 as f32)
        .collect();
    let params = [
        DcfParams::default(),
        DcfParams {
            p_target: 0.05,
            ..DcfParams::default()
        },
    ];
    let mut g = c.benchmark_group("verification");
    g.sample_size(20);
    g.bench_function("eer_min_dcf/1M", |b| {
        b.iter(|| verification_metrics(black_box(&scores), &labels, &params))
    });
    g.finish();
}

fn retrieval(c: &mut Criterion) {
    let mut rng = SplitMix(3);
    let n = 2_000;
    let sim: Vec<f32> = (0..n * n).map(|_| rng.next_f32()).collect();
    let mut g = c.benchmark_group("retrieval");
    g.sample_size(20);
    g.bench_function("recall_at_k_diagonal/2000x2000", |b| {
        b.iter(|| recall_at_k_diagonal(black_box(&sim), n, 5))
    });
    g.finish();
}

criterion_group!(benches, ranking, verification, retrieval);
criterion_main!(benches);
