//! Hot paths: embedding extraction (log-mel → frozen encoder → simplified head, and the
//! x-vector baseline) in utterances/s, and EER + minDCF over 1M trials through
//! `ember_core::metrics::verification_metrics` (also benched in ember-core's `metrics`).
#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ember_spkver::SslEncoderConfig;
use ember_spkver::fbank::{Fbank, FbankConfig};
use ember_spkver::features::extract_layers;
use ember_spkver::heads::{SimpleHeadConfig, XVectorHeadConfig};
use ember_spkver::scoring::dcf_points;
use ember_spkver::synth::{CorpusConfig, generate_corpus};
use ember_spkver::train::embed_all;
use rand::{RngExt, SeedableRng};

fn bench(c: &mut Criterion) {
    let device = ember_core::backend::resolve_device(None).unwrap().1;
    let corpus = generate_corpus(&CorpusConfig {
        speakers: 4,
        utts_per_speaker: 4,
        duration_s: (2.0, 2.0),
        snr_db: (20.0, 20.0),
        sample_rate: 16_000,
        seed: 0,
    })
    .unwrap();
    let fb = Fbank::new(FbankConfig::default()).unwrap();
    let n = corpus.audio.len() as u64;
    let mut g = c.benchmark_group("embed");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n));
    g.bench_function("fbank_16x2s", |b| {
        b.iter(|| {
            corpus
                .audio
                .iter()
                .map(|a| fb.compute(a).unwrap().n_frames)
                .sum::<usize>()
        })
    });
    let feats: Vec<_> = corpus
        .audio
        .iter()
        .map(|a| fb.compute(a).unwrap())
        .collect();
    let enc = SslEncoderConfig::new(40, 64, 4, 3, 256, 256).init(&device);
    let simple = SimpleHeadConfig::new(4, 64, 64, 10).init(&device);
    let xvec = XVectorHeadConfig::new(4, 64, 128, 384, 128, 10).init(&device);
    g.bench_function("encoder_simple_16x2s", |b| {
        b.iter(|| {
            let l = extract_layers(&enc, &feats, &device).unwrap();
            embed_all(&simple, &l, &device).unwrap().len()
        })
    });
    let layers = extract_layers(&enc, &feats, &device).unwrap();
    g.bench_function("head_simple_16x2s", |b| {
        b.iter(|| embed_all(&simple, &layers, &device).unwrap().len())
    });
    g.bench_function("head_xvector_16x2s", |b| {
        b.iter(|| embed_all(&xvec, &layers, &device).unwrap().len())
    });
    g.finish();

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let m = 1_000_000;
    let labels: Vec<bool> = (0..m).map(|i| i % 20 == 0).collect();
    let scores: Vec<f32> = labels
        .iter()
        .map(|&t| rng.random::<f32>() + if t { 0.5 } else { 0.0 })
        .collect();
    let mut g = c.benchmark_group("eer");
    g.sample_size(10);
    g.throughput(Throughput::Elements(m as u64));
    g.bench_function("verification_metrics_1M", |b| {
        b.iter(|| {
            ember_core::metrics::verification_metrics(&scores, &labels, &dcf_points())
                .unwrap()
                .eer
                .eer
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
