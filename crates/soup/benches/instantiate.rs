//! Instantiation `Θ = S + Σ_j α_j E_j` is memory-bound: it moves `(n + 2)·p·4` bytes. The
//! peer is a plain memory copy moving the same number of bytes (`copy_from_slice` of
//! `(n + 2)·p / 2` floats: as many bytes read plus written). The Burn-graph path
//! (`SoupOfExperts::export`) is benched beside it.
#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

use burn::prelude::*;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ember_core::nn::TransformerConfig;
use ember_soup::{FrozenSoup, SoupConfig};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let device = Device::flex();
    device.seed(0);
    let n = 16;
    let k = 64;
    let base = TransformerConfig::new(256, 128, 4, 4, 512, 64).with_causal(true);
    let soup = SoupConfig::new(base, k, n)
        .with_expert_init_std(0.02)
        .init(&device)
        .unwrap();
    let frozen = FrozenSoup::new(&soup).unwrap();
    let h: Vec<f64> = (0..k).map(|i| if i < 4 { 0.25 } else { 0.0 }).collect();
    let alpha = frozen.coefficients(&h).unwrap();
    let p = frozen.n_params();
    let bytes = frozen.bytes_moved() as u64;
    eprintln!(
        "p = {p}, n = {n}, {:.1} MB moved per instantiation",
        bytes as f64 / 1e6
    );

    let mut g = c.benchmark_group("soup_instantiate");
    g.throughput(Throughput::Bytes(bytes));
    g.sample_size(30);
    let mut out = vec![0f32; p];
    g.bench_function(format!("frozen_bank_n{n}_p{p}"), |b| {
        b.iter(|| {
            frozen
                .instantiate_into(black_box(&alpha), &mut out)
                .unwrap()
        })
    });
    let m = (n + 2) * p / 2;
    let src = vec![1f32; m];
    let mut dst = vec![0f32; m];
    g.bench_function(format!("memcpy_same_bytes_{m}_floats"), |b| {
        b.iter(|| dst.copy_from_slice(black_box(&src)))
    });
    g.bench_function(format!("burn_export_n{n}_p{p}"), |b| {
        b.iter(|| black_box(soup.export(black_box(&h)).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
