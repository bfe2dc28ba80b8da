//! The dense Gram path against a brute-force triplet loop (exact, ties included) and against
//! the generic ON/BY/ACROSS engine; bootstrap intervals; bad input.

use burn::prelude::*;
use ember_abx::text::{
    Blocks, Grams, MdKernel, ParallelEmbeddings, TextAbx, TextTask, meaning_abx, meaning_abx_with,
    text_abx,
};
use ember_abx::{Distance, Task, score};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn device() -> Device {
    ember_core::backend::device_by_name("flex").unwrap()
}

fn random_emb(seed: u64, l: usize, n: usize, d: usize, tie_heavy: bool) -> ParallelEmbeddings {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let shared: Vec<f32> = (0..n * d).map(|_| rng.random::<f32>() - 0.5).collect();
    let mut data = Vec::new();
    for _ in 0..l {
        for m in 0..n {
            for k in 0..d {
                if tie_heavy {
                    // entries in {0, ±0.5} on 4 dims with two nonzeros: unit-free but
                    // dot products exact in f32, many ties
                    data.push([0.0f32, 0.5, -0.5][rng.random_range(0..3)]);
                } else {
                    data.push(shared[m * d + k] + 0.8 * (rng.random::<f32>() - 0.5));
                }
            }
        }
    }
    ParallelEmbeddings::new((0..l).map(|i| format!("L{i}")).collect(), n, d, data).unwrap()
}

/// LD and MD by explicit enumeration of every (A, B, X) triplet from the item labels, with
/// similarities read from the same Gram (so the comparison is exact).
fn brute(g: &Grams, l: usize, n: usize, task: TextTask) -> Vec<Vec<f64>> {
    // items: (lang, meaning)
    let items: Vec<(usize, usize)> = (0..l).flat_map(|a| (0..n).map(move |m| (a, m))).collect();
    let mut err = vec![vec![0.0; l]; l];
    let mut cnt = vec![vec![0.0; l]; l];
    for &a in &items {
        for &b in &items {
            for &x in &items {
                let (on_ok, across_ok, key) = match task {
                    // ON language: a.lang = x.lang != b.lang; ACROSS meaning: a.m = b.m != x.m
                    TextTask::Language => (
                        a.0 == x.0 && a.0 != b.0,
                        a.1 == b.1 && a.1 != x.1,
                        (a.0, b.0),
                    ),
                    // ON meaning: a.m = x.m != b.m; ACROSS language: a.lang = b.lang != x.lang
                    TextTask::Meaning => (
                        a.1 == x.1 && a.1 != b.1,
                        a.0 == b.0 && a.0 != x.0,
                        (a.0, x.0),
                    ),
                };
                if !(on_ok && across_ok) {
                    continue;
                }
                let sax = g.sim(a.0, a.1, x.0, x.1);
                let sbx = g.sim(b.0, b.1, x.0, x.1);
                err[key.0][key.1] += if sbx > sax {
                    1.0
                } else if sbx == sax {
                    0.5
                } else {
                    0.0
                };
                cnt[key.0][key.1] += 1.0;
            }
        }
    }
    for i in 0..l {
        for j in 0..l {
            err[i][j] = if i == j {
                f64::NAN
            } else {
                err[i][j] / cnt[i][j]
            };
        }
    }
    err
}

#[test]
fn gram_path_equals_brute_force_exactly_ties_included() {
    for (seed, tie_heavy, d) in [(1, false, 8), (2, true, 4)] {
        let (l, n) = (3, 9);
        let emb = random_emb(seed, l, n, d, tie_heavy);
        let g = Grams::compute(&emb, Blocks::All).unwrap();
        for task in [TextTask::Language, TextTask::Meaning] {
            let fast = TextAbx::compute(&g, &emb.langs, task).unwrap().matrix();
            let slow = brute(&g, l, n, task);
            for i in 0..l {
                for j in 0..l {
                    if i != j {
                        assert_eq!(
                            fast[i][j], slow[i][j],
                            "{task:?} ({i},{j}) tie_heavy={tie_heavy}"
                        );
                    }
                }
            }
        }
        if tie_heavy {
            // the tie-heavy case really has ties: some error is not a multiple of 1/(n(n-1))
            let md = TextAbx::compute(&g, &emb.langs, TextTask::Meaning).unwrap();
            let unit = 1.0 / (n * (n - 1)) as f64;
            assert!(
                md.pairs
                    .iter()
                    .any(|p| ((p.error / unit) - (p.error / unit).round()).abs() > 0.25)
            );
        }
    }
}

#[test]
fn meaning_only_path_equals_full_path() {
    let emb = random_emb(3, 4, 30, 16, false);
    let (_, md) = text_abx(&emb).unwrap();
    let md2 = meaning_abx(&emb).unwrap();
    for (a, b) in md.pairs.iter().zip(&md2.pairs) {
        assert_eq!((a.l1, a.l2), (b.l1, b.l2));
        assert_eq!(a.error, b.error);
        assert_eq!(a.top1, b.top1);
    }
}

#[test]
fn every_md_kernel_gives_the_same_counts() {
    // the bf16 screen (AMX where available, else its portable emulation) against the f32
    // Gram path: identical errors, per-meaning errors and top-1, ties included
    for (seed, l, n, d, tie_heavy) in [
        (11, 3, 45, 40, false),
        (12, 3, 20, 4, true),
        (13, 2, 70, 300, false),
    ] {
        let emb = random_emb(seed, l, n, d, tie_heavy);
        let f32_path = meaning_abx_with(&emb, MdKernel::F32).unwrap();
        for kernel in [MdKernel::Bf16Screen, MdKernel::Auto] {
            let other = meaning_abx_with(&emb, kernel).unwrap();
            for (a, b) in f32_path.pairs.iter().zip(&other.pairs) {
                assert_eq!((a.l1, a.l2), (b.l1, b.l2));
                assert_eq!(a.per_m, b.per_m, "{kernel:?} seed {seed}");
                assert_eq!(a.top1, b.top1);
            }
        }
    }
}

#[test]
fn generic_engine_equals_fast_path_on_text_tasks() {
    let emb = random_emb(4, 3, 14, 6, false);
    let (ld, md) = text_abx(&emb).unwrap();
    let ds = emb.to_dataset().unwrap();
    for dist in [Distance::Cosine, Distance::Angular] {
        let s_ld = score(&ds, &Task::on("language").across(&["meaning"]), dist).unwrap();
        let s_md = score(&ds, &Task::on("meaning").across(&["language"]), dist).unwrap();
        assert!(
            (s_ld.error().unwrap() - ld.mean_error()).abs() < 1e-9,
            "{} vs {}",
            s_ld.error().unwrap(),
            ld.mean_error()
        );
        assert!(
            (s_md.error().unwrap() - md.mean_error()).abs() < 1e-9,
            "{} vs {}",
            s_md.error().unwrap(),
            md.mean_error()
        );
        // per pair too: LD cells keyed by (a_on, b_on) = (L1, L2)
        for p in &ld.pairs {
            let (a, b) = (&emb.langs[p.l1], &emb.langs[p.l2]);
            let cells: Vec<f64> = s_ld
                .cells
                .iter()
                .filter(|c| &c.a_on == a && &c.b_on == b)
                .map(|c| c.error)
                .collect();
            let e = cells.iter().sum::<f64>() / cells.len() as f64;
            assert!((e - p.error).abs() < 1e-9);
        }
    }
}

#[test]
fn controls_random_is_chance_and_top1_matches_rank() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let (l, n, d) = (3, 200, 32);
    let data: Vec<f32> = (0..l * n * d).map(|_| rng.random::<f32>() - 0.5).collect();
    let emb =
        ParallelEmbeddings::new((0..l).map(|i| format!("L{i}")).collect(), n, d, data).unwrap();
    let (ld, md) = text_abx(&emb).unwrap();
    assert!((ld.mean_error() - 0.5).abs() < 0.03, "{}", ld.mean_error());
    assert!((md.mean_error() - 0.5).abs() < 0.03, "{}", md.mean_error());
    let ci = md.bootstrap(200, 0).unwrap();
    assert!(ci.lo <= ci.mean && ci.mean <= ci.hi && ci.hi - ci.lo < 0.1);
    // identical languages: MD error 0, top-1 1; LD: A and B identical -> every triplet a tie
    let one: Vec<f32> = (0..n * d).map(|_| rng.random::<f32>() - 0.5).collect();
    let same = ParallelEmbeddings::new(
        vec!["a".into(), "b".into()],
        n,
        d,
        [one.clone(), one].concat(),
    )
    .unwrap();
    let (ld, md) = text_abx(&same).unwrap();
    assert_eq!(md.mean_error(), 0.0);
    assert_eq!(md.mean_top1(), Some(1.0));
    assert_eq!(ld.mean_error(), 0.5);
}

#[test]
fn bad_input() {
    assert!(ParallelEmbeddings::new(vec!["a".into()], 3, 2, vec![0.0; 6]).is_err());
    assert!(ParallelEmbeddings::new(vec!["a".into(), "b".into()], 1, 2, vec![0.0; 4]).is_err());
    assert!(ParallelEmbeddings::new(vec!["a".into(), "b".into()], 2, 2, vec![0.0; 7]).is_err());
    let mut v = vec![0.1; 8];
    v[5] = f32::NAN;
    let e = ParallelEmbeddings::new(vec!["a".into(), "b".into()], 2, 2, v)
        .unwrap_err()
        .to_string();
    assert!(e.contains("non-finite"), "{e}");
    // the language task needs within-language blocks
    let emb = random_emb(6, 2, 5, 3, false);
    let g = Grams::compute(&emb, Blocks::Cross).unwrap();
    assert!(TextAbx::compute(&g, &emb.langs, TextTask::Language).is_err());
}

#[test]
fn burn_matmul_grams_equal_the_native_kernel() {
    let emb = random_emb(7, 3, 40, 24, false);
    let a = TextAbx::compute(
        &Grams::compute(&emb, Blocks::Cross).unwrap(),
        &emb.langs,
        TextTask::Meaning,
    )
    .unwrap();
    let g = Grams::compute_on_device(&emb, Blocks::Cross, &device()).unwrap();
    let b = TextAbx::compute(&g, &emb.langs, TextTask::Meaning).unwrap();
    for (p, q) in a.pairs.iter().zip(&b.pairs) {
        assert!((p.error - q.error).abs() < 1e-12);
    }
}
