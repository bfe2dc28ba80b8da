//! Hot paths of ember-abx.
//!
//! * `dense_md_5x1000x256`: the meaning task (ON meaning, ACROSS language) for all 20
//!   ordered pairs of 5 languages × 1000 sentences × 256 dims, as `meaning_abx` runs it
//!   (`MdKernel::Auto`: the bf16 AMX screen where the CPU has AMX, else the f32 path).
//!   NumPy peer: `scripts/bench_abx_numpy.py`.
//! * `dense_md_5x1000x256_f32`: the same with `MdKernel::F32`: row normalisation, Gram
//!   blocks (`ember_core::host::gemm::gram_nt`, one GEMM per block, `L(L−1)/2` blocks), one
//!   sweep per block for both directions. Run with `EMBER_SIMD=avx2` to measure what an
//!   AVX2-only CPU runs (NumPy peer: `OPENBLAS_CORETYPE=Haswell`).
//! * `engine_frames_10k`: the generic engine on a speech-like set of 10k items (5–15 frames
//!   of 32 dims, 20 phones × 10 speakers), ON phone BY speaker, DTW with angular frame
//!   distance, `max_size_group = 5`.
//! * `gram_nt_1000x1000x256`: one Gram block of the meaning task alone
//!   (`ember_core::host::gemm::gram_nt`, 0.51 GFLOP).
//! * `engine_pooled_10k`: the same items mean-pooled (one frame: no DTW), no subsampling cap
//!   on X = A (50 items per group).
#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

use criterion::{Criterion, criterion_group, criterion_main};
use ember_abx::text::{MdKernel, ParallelEmbeddings, meaning_abx, meaning_abx_with};
use ember_abx::{Dataset, Distance, Subsample, Task, score};
use ember_core::host::gemm::gram_nt;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;

fn dense(c: &mut Criterion) {
    let (l, n, d) = (5, 1000, 256);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let shared: Vec<f32> = (0..n * d).map(|_| rng.random::<f32>() - 0.5).collect();
    let mut data = Vec::with_capacity(l * n * d);
    for _ in 0..l {
        for v in &shared {
            data.push(v + 1.5 * (rng.random::<f32>() - 0.5));
        }
    }
    let emb =
        ParallelEmbeddings::new((0..l).map(|i| format!("L{i}")).collect(), n, d, data).unwrap();
    let mut g = c.benchmark_group("abx");
    g.sample_size(20);
    g.bench_function("dense_md_5x1000x256", |b| {
        b.iter(|| black_box(meaning_abx(&emb).unwrap().mean_error()))
    });
    g.bench_function("dense_md_5x1000x256_f32", |b| {
        b.iter(|| black_box(meaning_abx_with(&emb, MdKernel::F32).unwrap().mean_error()))
    });
    g.finish();
}

#[allow(clippy::needless_range_loop)]
fn speech_like(pooled: bool) -> Dataset {
    let (phones, speakers, per, d) = (20, 10, 50, 32);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let proto: Vec<Vec<f32>> = (0..phones)
        .map(|_| (0..d).map(|_| rng.random::<f32>() - 0.5).collect())
        .collect();
    let spk: Vec<Vec<f32>> = (0..speakers)
        .map(|_| (0..d).map(|_| 0.5 * (rng.random::<f32>() - 0.5)).collect())
        .collect();
    let mut ds = Dataset::new(&["phone", "speaker"], d).unwrap();
    for s in 0..speakers {
        for p in 0..phones {
            for _ in 0..per {
                let t = rng.random_range(5..=15);
                let mut f = Vec::with_capacity(t * d);
                for _ in 0..t {
                    for k in 0..d {
                        f.push(proto[p][k] + spk[s][k] + 0.6 * (rng.random::<f32>() - 0.5));
                    }
                }
                if pooled {
                    let mut m = vec![0.0f32; d];
                    for fr in f.chunks_exact(d) {
                        m.iter_mut().zip(fr).for_each(|(a, b)| *a += b / t as f32);
                    }
                    f = m;
                }
                ds.push(&[format!("p{p}"), format!("s{s}")], &f).unwrap();
            }
        }
    }
    ds
}

fn engine(c: &mut Criterion) {
    let frames = speech_like(false);
    let pooled = speech_like(true);
    assert_eq!(frames.len(), 10_000);
    let mut g = c.benchmark_group("abx");
    g.sample_size(10);
    let task = Task::on("phone").by(&["speaker"]).subsample(Subsample {
        max_size_group: Some(5),
        max_x_across: None,
        seed: 0,
    });
    g.bench_function("engine_frames_10k", |b| {
        b.iter(|| {
            black_box(
                score(&frames, &task, Distance::Angular)
                    .unwrap()
                    .error()
                    .unwrap(),
            )
        })
    });
    let task = Task::on("phone").by(&["speaker"]);
    g.bench_function("engine_pooled_10k", |b| {
        b.iter(|| {
            black_box(
                score(&pooled, &task, Distance::Angular)
                    .unwrap()
                    .error()
                    .unwrap(),
            )
        })
    });
    g.finish();
}

fn gram(c: &mut Criterion) {
    let (n, d) = (1000, 256);
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let a: Vec<f32> = (0..n * d).map(|_| rng.random::<f32>() - 0.5).collect();
    let b: Vec<f32> = (0..n * d).map(|_| rng.random::<f32>() - 0.5).collect();
    let mut g = c.benchmark_group("abx");
    g.sample_size(20);
    g.bench_function("gram_nt_1000x1000x256", |bch| {
        bch.iter(|| black_box(gram_nt(&a, &b, n, n, d)))
    });
    g.finish();
}

criterion_group!(benches, dense, engine, gram);
criterion_main!(benches);
