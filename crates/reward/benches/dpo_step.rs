//! One DPO step (policy forward and backward over 32 pairs = 64 sequences of 19 tokens) with
//! the reference log-probabilities taken from the cache, against the same step recomputing
//! them with a reference forward pass, on every compiled CPU backend. The JAX peer of the
//! same step is `scripts/bench_dpo_jax.py` (same shapes); figures in `docs/perf.md`.
#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

use burn::module::Module;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ember_core::backend::{BackendKind, parity_devices};
use ember_core::nn::TransformerConfig;
use ember_reward::train::{dpo_step_loss, dpo_step_loss_recomputed};
use ember_reward::{DpoConfig, LogProbReduction, PairBatch, PreferencePair, ReferenceCache};

/// Pairs per step, prompt and response lengths, vocabulary, width, layers: the `reward`
/// eval's world (vocabulary 98) with a 64-wide, 2-layer policy.
const B: usize = 32;
const PROMPT: usize = 4;
const RESPONSE: usize = 15;
const V: usize = 98;
const D: usize = 64;
const L: usize = 2;

fn pairs() -> Vec<PreferencePair> {
    let id = |i: usize| (4 + (i * 7919) % (V - 4)) as u32;
    (0..B)
        .map(|p| PreferencePair {
            prompt: (0..PROMPT).map(|j| id(p * 101 + j)).collect(),
            chosen: (0..RESPONSE).map(|j| id(p * 103 + 17 * j + 1)).collect(),
            rejected: (0..RESPONSE).map(|j| id(p * 107 + 13 * j + 2)).collect(),
        })
        .collect()
}

fn bench_dpo(c: &mut Criterion) {
    let mut group = c.benchmark_group(format!(
        "dpo step d{D} L{L} {B} pairs T{}",
        PROMPT + RESPONSE
    ));
    group.sample_size(20);
    let tokens = 2 * B * (PROMPT + RESPONSE);
    group.throughput(Throughput::Elements(tokens as u64));
    for (kind, plain) in parity_devices() {
        if kind == BackendKind::Wgpu {
            continue;
        }
        let device = plain.clone().autodiff();
        device.seed(0);
        let cfg = TransformerConfig::new(V, D, 4, L, 4 * D, PROMPT + RESPONSE).with_causal(true);
        let policy = cfg.init(&device);
        let reference = policy.valid();
        let data = pairs();
        let cache = ReferenceCache::compute(&reference, &data, 0, B, LogProbReduction::Sum, &plain)
            .unwrap();
        let refs: Vec<&PreferencePair> = data.iter().collect();
        let batch = PairBatch::new(&refs, 0, PROMPT + RESPONSE, V, &device).unwrap();
        let idx: Vec<usize> = (0..B).collect();
        let dpo = DpoConfig::default();
        group.bench_function(format!("cached_reference/{kind}"), |b| {
            b.iter(|| {
                let loss = dpo_step_loss(&policy, &batch, &cache, &idx, &dpo, &device).unwrap();
                burn::optim::GradientsParams::from_grads(loss.backward(), &policy)
            })
        });
        // The reference as a frozen copy on the autodiff device (as TRL without
        // precompute_ref_log_probs): one more forward pass per step.
        let frozen = policy.clone().no_grad();
        group.bench_function(format!("recomputed_reference/{kind}"), |b| {
            b.iter(|| {
                let loss =
                    dpo_step_loss_recomputed(&policy, &frozen, &batch, LogProbReduction::Sum, &dpo)
                        .unwrap();
                burn::optim::GradientsParams::from_grads(loss.backward(), &policy)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_dpo);
criterion_main!(benches);
