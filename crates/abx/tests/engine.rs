//! The generic engine against an independent brute-force triplet enumeration, DTW against an
//! exhaustive search over warping paths, subsampling determinism, and bad input.

use ember_abx::{Dataset, Distance, Subsample, Task, dtw_normalized, score};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

/// Every monotone path from (0,0) to (n-1,m-1): (min total cost, its length).
fn brute_dtw(d: &[f64], n: usize, m: usize) -> (f64, usize) {
    #[allow(clippy::too_many_arguments)]
    fn go(
        d: &[f64],
        n: usize,
        m: usize,
        i: usize,
        j: usize,
        acc: f64,
        len: usize,
        best: &mut (f64, usize),
    ) {
        let acc = acc + d[i * m + j];
        let len = len + 1;
        if i == n - 1 && j == m - 1 {
            if acc < best.0 {
                *best = (acc, len);
            }
            return;
        }
        if i + 1 < n {
            go(d, n, m, i + 1, j, acc, len, best);
        }
        if j + 1 < m {
            go(d, n, m, i, j + 1, acc, len, best);
        }
        if i + 1 < n && j + 1 < m {
            go(d, n, m, i + 1, j + 1, acc, len, best);
        }
    }
    let mut best = (f64::INFINITY, 0);
    go(d, n, m, 0, 0, 0.0, 0, &mut best);
    best
}

#[test]
fn dtw_matches_exhaustive_path_search() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for n in 1..=4 {
        for m in 1..=5 {
            for _ in 0..20 {
                let d: Vec<f64> = (0..n * m).map(|_| rng.random::<f64>()).collect();
                let (cost, len) = brute_dtw(&d, n, m);
                let got = dtw_normalized(&d, n, m).unwrap();
                assert!(
                    (got - cost / len as f64).abs() < 1e-12,
                    "{n}x{m}: {got} vs {}",
                    cost / len as f64
                );
            }
        }
    }
}

#[test]
fn dtw_hand_worked() {
    // diagonal path of zeros
    assert_eq!(dtw_normalized(&[0.0, 1.0, 1.0, 0.0], 2, 2).unwrap(), 0.0);
    // a single row: every frame visited, cost 1+2+3 over 3 steps
    assert_eq!(dtw_normalized(&[1.0, 2.0, 3.0], 1, 3).unwrap(), 2.0);
    // 2x3: C = [[1,3,6],[3,2,3]] -> path (0,0),(1,1),(1,2): 3/3
    let d = [1.0, 2.0, 3.0, 2.0, 1.0, 1.0];
    assert!((dtw_normalized(&d, 2, 3).unwrap() - 1.0).abs() < 1e-15);
    assert!(dtw_normalized(&[], 0, 0).is_err());
    assert!(dtw_normalized(&[1.0, f64::NAN], 1, 2).is_err());
    assert!(dtw_normalized(&[1.0, 2.0], 2, 2).is_err());
}

#[test]
fn distances_hand_worked() {
    let c = Distance::Cosine.frame(&[1.0, 0.0], &[0.0, 2.0]).unwrap();
    assert!((c - 1.0).abs() < 1e-12);
    let a = Distance::Angular.frame(&[1.0, 0.0], &[-3.0, 0.0]).unwrap();
    assert!((a - 1.0).abs() < 1e-12);
    let a = Distance::Angular.frame(&[1.0, 0.0], &[1.0, 1.0]).unwrap();
    assert!((a - 0.25).abs() < 1e-7);
    assert_eq!(
        Distance::Euclidean.frame(&[0.0, 3.0], &[4.0, 0.0]).unwrap(),
        5.0
    );
    // symmetric KL of (1/2, 1/2) and (1/4, 3/4): ½ Σ (p−q)(ln p − ln q)
    let k = Distance::SymmetricKl
        .frame(&[1.0, 1.0], &[1.0, 3.0])
        .unwrap();
    let want = 0.5 * (0.25 * (0.5f64 / 0.25).ln() + (-0.25) * (0.5f64 / 0.75).ln());
    assert!((k - want).abs() < 1e-7, "{k} vs {want}");
    // null vector: maximal angular distance, 0 to another null vector
    assert_eq!(
        Distance::Angular.frame(&[0.0, 0.0], &[1.0, 0.0]).unwrap(),
        1.0
    );
    assert_eq!(
        Distance::Angular.frame(&[0.0, 0.0], &[0.0, 0.0]).unwrap(),
        0.0
    );
    assert!(
        Distance::SymmetricKl
            .frame(&[-1.0, 1.0], &[1.0, 1.0])
            .is_err()
    );
    assert!(Distance::Cosine.frame(&[1.0], &[1.0, 2.0]).is_err());
}

/// Random dataset: labels from small alphabets, items with 1..=3 frames (or 1 when pooled).
fn random_ds(seed: u64, n: usize, pooled: bool, quantised: bool) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut ds = Dataset::new(&["on", "by", "across"], 3).unwrap();
    for _ in 0..n {
        let t = if pooled { 1 } else { rng.random_range(1..=3) };
        let f: Vec<f32> = (0..3 * t)
            .map(|_| {
                if quantised {
                    rng.random_range(0..3) as f32 // many exact ties
                } else {
                    rng.random::<f32>() - 0.3
                }
            })
            .collect();
        let l = [
            format!("o{}", rng.random_range(0..3)),
            format!("b{}", rng.random_range(0..2)),
            format!("c{}", rng.random_range(0..3)),
        ];
        ds.push(&l, &f).unwrap();
    }
    ds
}

fn item_dist(ds: &Dataset, dist: Distance, a: usize, b: usize) -> f64 {
    let (fa, fb) = (ds.frames(a), ds.frames(b));
    let d = ds.dim();
    let (na, nb) = (fa.len() / d, fb.len() / d);
    let mut m = Vec::new();
    for i in 0..na {
        for j in 0..nb {
            m.push(
                dist.frame(&fa[i * d..(i + 1) * d], &fb[j * d..(j + 1) * d])
                    .unwrap(),
            );
        }
    }
    if na == 1 && nb == 1 {
        m[0]
    } else {
        // DTW itself is checked against exhaustive path search in `dtw_matches_exhaustive_path_search`;
        // with exact cost ties (quantised data) the backtracked length depends on the
        // tie-breaking order, so the engine's DTW is used here.
        dtw_normalized(&m, na, nb).unwrap()
    }
}

type Key = (String, String, Vec<String>, Vec<String>, Vec<String>);

/// Cells from a plain loop over every (a, b, x) of items.
fn brute_cells(ds: &Dataset, dist: Distance, use_by: bool, use_across: bool) -> BTreeMap<Key, f64> {
    let lab = |c: usize, i: usize| ds.label_name(c, ds.codes(c)[i]).to_string();
    let mut acc: BTreeMap<Key, (f64, f64)> = BTreeMap::new();
    let n = ds.len();
    for a in 0..n {
        for b in 0..n {
            for x in 0..n {
                if lab(0, a) != lab(0, x) || lab(0, a) == lab(0, b) {
                    continue;
                }
                if use_by && (lab(1, a) != lab(1, b) || lab(1, a) != lab(1, x)) {
                    continue;
                }
                if use_across {
                    if lab(2, a) != lab(2, b) || lab(2, a) == lab(2, x) {
                        continue;
                    }
                } else if a == x {
                    continue;
                }
                let dax = item_dist(ds, dist, a, x);
                let dbx = item_dist(ds, dist, b, x);
                let e = if dbx < dax {
                    1.0
                } else if dbx == dax {
                    0.5
                } else {
                    0.0
                };
                let by = if use_by { vec![lab(1, a)] } else { vec![] };
                let (aa, xa) = if use_across {
                    (vec![lab(2, a)], vec![lab(2, x)])
                } else {
                    (vec![], vec![])
                };
                let s = acc
                    .entry((lab(0, a), lab(0, b), by, aa, xa))
                    .or_insert((0.0, 0.0));
                s.0 += e;
                s.1 += 1.0;
            }
        }
    }
    acc.into_iter().map(|(k, (e, n))| (k, e / n)).collect()
}

#[test]
fn engine_equals_brute_force_triplet_loop() {
    for (seed, pooled, quantised) in [
        (3, true, false),
        (4, true, true),
        (5, false, false),
        (6, false, true),
    ] {
        let ds = random_ds(seed, 26, pooled, quantised);
        for dist in [Distance::Angular, Distance::Cosine, Distance::Euclidean] {
            for (use_by, use_across) in [(false, false), (true, false), (false, true), (true, true)]
            {
                let mut task = Task::on("on");
                if use_by {
                    task = task.by(&["by"]);
                }
                if use_across {
                    task = task.across(&["across"]);
                }
                let s = score(&ds, &task, dist).unwrap();
                let want = brute_cells(&ds, dist, use_by, use_across);
                let got: BTreeMap<Key, f64> = s
                    .cells
                    .iter()
                    .map(|c| {
                        (
                            (
                                c.a_on.clone(),
                                c.b_on.clone(),
                                c.by.clone(),
                                c.a_across.clone(),
                                c.x_across.clone(),
                            ),
                            c.error,
                        )
                    })
                    .collect();
                assert_eq!(
                    got.len(),
                    want.len(),
                    "cells differ ({seed} {dist:?} by={use_by} across={use_across})"
                );
                for (k, v) in &want {
                    let g = got[k];
                    assert!((g - v).abs() < 1e-12, "{k:?}: engine {g} brute {v}");
                }
                // aggregation: mean over BY then ACROSS then ON pairs
                let e = s.error().unwrap();
                assert!((0.0..=1.0).contains(&e));
            }
        }
    }
}

#[test]
fn collapse_is_hierarchical_mean() {
    let ds = random_ds(9, 40, true, false);
    let task = Task::on("on").by(&["by"]).across(&["across"]);
    let s = score(&ds, &task, Distance::Euclidean).unwrap();
    // by hand: mean over by per (on pair, across pair), then over across per on pair, then mean
    let mut l1: BTreeMap<(String, String, String, String), Vec<f64>> = BTreeMap::new();
    for c in &s.cells {
        l1.entry((
            c.a_on.clone(),
            c.b_on.clone(),
            c.a_across[0].clone(),
            c.x_across[0].clone(),
        ))
        .or_default()
        .push(c.error);
    }
    let mut l2: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    for (k, v) in l1 {
        l2.entry((k.0, k.1))
            .or_default()
            .push(v.iter().sum::<f64>() / v.len() as f64);
    }
    let v: Vec<f64> = l2
        .values()
        .map(|v| v.iter().sum::<f64>() / v.len() as f64)
        .collect();
    let want = v.iter().sum::<f64>() / v.len() as f64;
    assert!((s.error().unwrap() - want).abs() < 1e-12);
    assert!(s.collapse(&[&["nope"]]).is_err());
    assert!(s.weighted_error().unwrap() > 0.0);
}

#[test]
fn subsampling_is_seeded_and_capped() {
    let ds = random_ds(11, 120, true, false);
    let ss = Subsample {
        max_size_group: Some(4),
        max_x_across: Some(1),
        seed: 7,
    };
    let task = Task::on("on").by(&["by"]).across(&["across"]).subsample(ss);
    let a = score(&ds, &task, Distance::Angular).unwrap();
    let b = score(&ds, &task, Distance::Angular).unwrap();
    assert_eq!(a.cells, b.cells);
    assert!(a.cells.iter().all(|c| c.sizes.iter().all(|&s| s <= 4)));
    // one X-across value per (by, a_on, b_on, a_across)
    let mut seen = std::collections::HashSet::new();
    for c in &a.cells {
        assert!(seen.insert((
            c.by.clone(),
            c.a_on.clone(),
            c.b_on.clone(),
            c.a_across.clone()
        )));
    }
    let other = score(
        &ds,
        &task.clone().subsample(Subsample { seed: 8, ..ss }),
        Distance::Angular,
    )
    .unwrap();
    assert_ne!(a.cells, other.cells);
}

#[test]
fn bad_input_is_a_clear_error() {
    let mut ds = Dataset::new(&["on"], 2).unwrap();
    assert!(ds.push(&["a"], &[1.0, f32::NAN]).is_err());
    assert!(ds.push(&["a"], &[1.0, 2.0, 3.0]).is_err());
    assert!(ds.push(&["a", "b"], &[1.0, 2.0]).is_err());
    assert!(ds.push(&["a"], &[]).is_err());
    assert!(Dataset::new(&["x", "x"], 2).is_err());
    assert!(Dataset::new::<&str>(&[], 2).is_err());
    assert!(score(&ds, &Task::on("on"), Distance::Cosine).is_err()); // empty
    ds.push(&["a"], &[1.0, 0.0]).unwrap();
    ds.push(&["b"], &[0.0, 1.0]).unwrap();
    let err = score(&ds, &Task::on("on"), Distance::Cosine)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no cell"), "{err}");
    let err = score(&ds, &Task::on("nope"), Distance::Cosine)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no label column"), "{err}");
    assert!(score(&ds, &Task::on("on").by(&["on"]), Distance::Cosine).is_err());
}
