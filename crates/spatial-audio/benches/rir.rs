//! Criterion benches of the hot paths, beside pyroomacoustics
//! (`scripts/bench_spatial_audio_pra.py`, same rooms): image-source RIRs of a 6 × 5 × 3 m
//! room at 16 kHz, order 8, 4 omnidirectional receivers; and end-to-end FOA rendering of a
//! 1 s clip in a reverberant room (images to order 6 + diffuse tail with T60 0.6 s, FFT
//! convolution of the four channels).
#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

use criterion::{Criterion, criterion_group, criterion_main};
use ember_spatial_audio::conv::convolve_channels;
use ember_spatial_audio::room::{Shoebox, SimConfig, TailConfig, foa_rir, omni_rirs};
use rand::SeedableRng;
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let room = Shoebox::uniform([6.0, 5.0, 3.0], 0.35);
    let src = [2.0, 1.5, 1.0];
    let mics = [
        [3.5, 3.0, 1.6],
        [3.6, 3.0, 1.6],
        [3.5, 3.1, 1.6],
        [3.6, 3.1, 1.6],
    ];
    let cfg = SimConfig::default(); // order 8, 81 taps, 16 kHz
    c.bench_function("ism_order8_4mics_6x5x3_16k", |b| {
        b.iter(|| omni_rirs(black_box(&room), src, &mics, &cfg).unwrap())
    });
    let tail = TailConfig {
        t60: 0.6,
        mixing_time: None,
        length: 0.72,
        fade: 0.005,
    };
    let sim6 = SimConfig {
        max_order: 6,
        ..SimConfig::default()
    };
    let x: Vec<f32> = (0..16000)
        .map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0)
        .collect();
    c.bench_function("foa_render_1s_t60_0.6", |b| {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        b.iter(|| {
            let rir = foa_rir(&room, src, mics[0], &sim6, Some(&tail), &mut rng).unwrap();
            convolve_channels(black_box(&x), &rir.channels, Some(16000)).unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
