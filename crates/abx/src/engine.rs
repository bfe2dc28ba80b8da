//! The generic ABX engine in the ON / BY / ACROSS formalism (ZeroSpeech, fastabx).
//!
//! For a triplet (a, b, x) with `on(a) = on(x) ≠ on(b)`, `by(a) = by(b) = by(x)` and, with
//! ACROSS attributes, `across(a) = across(b) ≠ across(x)`, the ABX error of a cell C is
//!
//! `e_C = (1/|C|) Σ_{(a,b,x)∈C} [ 1(d(b,x) < d(a,x)) + ½·1(d(b,x) = d(a,x)) ]`
//!
//! ([`score`]). Without ACROSS the cell is symmetric: X = A and the pairs a = x are left out
//! (cells need |A| ≥ 2). The per-cell count uses sorted distance rows: for each x, sort
//! `d(x, B)` once and binary-search each `d(x, a)`, `O(|X|(|A| + |B|) log |B|)` instead of
//! `O(|X||A||B|)`, with exactly the same result, ties included.
//!
//! Aggregation ([`Score::collapse`]): mean over the values of each level in turn (by default
//! the BY attributes, then the ACROSS attributes), then mean over the (on(a), on(b)) pairs.

use crate::dataset::Dataset;
use crate::distance::Distance;
use ember_core::{Error, Result};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

/// Seeded subsampling of cells (ZeroSpeech: `max_size_group = 10`, `max_x_across = 5`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Subsample {
    /// Cap on |A|, |B| and |X| per cell (random subset).
    pub max_size_group: Option<usize>,
    /// Cap on the number of distinct ACROSS values of X per (A, B).
    pub max_x_across: Option<usize>,
    /// Seed of the subsampling.
    pub seed: u64,
}

impl Subsample {
    /// The ZeroSpeech 2021 settings: 10 items per group, 5 X-across values.
    pub fn zerospeech(seed: u64) -> Self {
        Subsample {
            max_size_group: Some(10),
            max_x_across: Some(5),
            seed,
        }
    }
}

/// An ABX task: which attribute is discriminated (ON), held fixed (BY) and varied between
/// A/B and X (ACROSS).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Task {
    /// ON attribute: a = x ≠ b.
    pub on: String,
    /// BY attributes: a = b = x.
    pub by: Vec<String>,
    /// ACROSS attributes: a = b ≠ x (on every listed attribute).
    pub across: Vec<String>,
    /// Subsampling.
    pub subsample: Subsample,
}

impl Task {
    /// `ON on`, no BY, no ACROSS, no subsampling.
    pub fn on(on: &str) -> Self {
        Task {
            on: on.into(),
            by: vec![],
            across: vec![],
            subsample: Subsample::default(),
        }
    }

    /// Adds BY attributes.
    pub fn by(mut self, cols: &[&str]) -> Self {
        self.by.extend(cols.iter().map(|s| s.to_string()));
        self
    }

    /// Adds ACROSS attributes.
    pub fn across(mut self, cols: &[&str]) -> Self {
        self.across.extend(cols.iter().map(|s| s.to_string()));
        self
    }

    /// Sets the subsampling.
    pub fn subsample(mut self, s: Subsample) -> Self {
        self.subsample = s;
        self
    }
}

/// One scored cell.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CellScore {
    /// ON value of A and X.
    pub a_on: String,
    /// ON value of B.
    pub b_on: String,
    /// BY values (in [`Task::by`] order).
    pub by: Vec<String>,
    /// ACROSS values of A and B (in [`Task::across`] order).
    pub a_across: Vec<String>,
    /// ACROSS values of X.
    pub x_across: Vec<String>,
    /// |A|, |B|, |X| after subsampling.
    pub sizes: [usize; 3],
    /// Number of triplets.
    pub n_triplets: u64,
    /// ABX error of the cell (ties ½).
    pub error: f64,
}

/// All cells of a task with their errors.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Score {
    /// The task.
    pub task: Task,
    /// The distance.
    pub distance: Distance,
    /// Per-cell detail.
    pub cells: Vec<CellScore>,
}

struct CellDef {
    by: Vec<u32>,
    a_on: u32,
    b_on: u32,
    a_across: Vec<u32>,
    x_across: Vec<u32>,
    a: Vec<usize>,
    b: Vec<usize>,
    x: Vec<usize>,
    symmetric: bool,
}

fn mix(mut h: u64, v: u64) -> u64 {
    // splitmix64 step on (h ^ v)
    h ^= v
        .wrapping_add(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(h << 6)
        .wrapping_add(h >> 2);
    let mut z = h.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn rng_for(seed: u64, parts: &[u64]) -> ChaCha8Rng {
    let h = parts.iter().fold(mix(0, seed), |h, &p| mix(h, p));
    ChaCha8Rng::seed_from_u64(h)
}

fn cap(v: &[usize], k: Option<usize>, rng: &mut ChaCha8Rng) -> Vec<usize> {
    match k {
        Some(k) if v.len() > k => {
            let mut w = v.to_vec();
            w.shuffle(rng);
            w.truncate(k);
            w.sort_unstable();
            w
        }
        _ => v.to_vec(),
    }
}

type Groups = BTreeMap<Vec<u32>, BTreeMap<u32, BTreeMap<Vec<u32>, Vec<usize>>>>;

fn build_cells(ds: &Dataset, task: &Task) -> Result<Vec<CellDef>> {
    let on = ds.column(&task.on)?;
    let by: Vec<usize> = task
        .by
        .iter()
        .map(|c| ds.column(c))
        .collect::<Result<_>>()?;
    let across: Vec<usize> = task
        .across
        .iter()
        .map(|c| ds.column(c))
        .collect::<Result<_>>()?;
    let mut seen = vec![on];
    for &c in by.iter().chain(&across) {
        if seen.contains(&c) {
            return Err(Error::InvalidInput(format!(
                "column {:?} is used twice among ON/BY/ACROSS",
                ds.columns()[c]
            )));
        }
        seen.push(c);
    }
    let mut groups: Groups = BTreeMap::new();
    for i in 0..ds.len() {
        let bk: Vec<u32> = by.iter().map(|&c| ds.codes(c)[i]).collect();
        let ak: Vec<u32> = across.iter().map(|&c| ds.codes(c)[i]).collect();
        groups
            .entry(bk)
            .or_default()
            .entry(ds.codes(on)[i])
            .or_default()
            .entry(ak)
            .or_default()
            .push(i);
    }
    let ss = task.subsample;
    let mut cells = Vec::new();
    for (bk, per_on) in &groups {
        let salt: Vec<u64> = bk.iter().map(|&v| v as u64).collect();
        for (&a_on, a_groups) in per_on {
            for (&b_on, b_groups) in per_on {
                if a_on == b_on {
                    continue;
                }
                if across.is_empty() {
                    let a_all = &a_groups[&Vec::new()];
                    let b_all = &b_groups[&Vec::new()];
                    if a_all.len() < 2 {
                        continue;
                    }
                    let mut key = salt.clone();
                    key.extend([a_on as u64, b_on as u64]);
                    let mut rng = rng_for(ss.seed, &key);
                    let a = cap(a_all, ss.max_size_group, &mut rng);
                    let b = cap(b_all, ss.max_size_group, &mut rng);
                    cells.push(CellDef {
                        by: bk.clone(),
                        a_on,
                        b_on,
                        a_across: vec![],
                        x_across: vec![],
                        x: a.clone(),
                        a,
                        b,
                        symmetric: true,
                    });
                    continue;
                }
                for (ak, a_items) in a_groups {
                    let Some(b_items) = b_groups.get(ak) else {
                        continue;
                    };
                    let xs: Vec<&Vec<u32>> = a_groups
                        .keys()
                        .filter(|xk| xk.iter().zip(ak).all(|(x, a)| x != a))
                        .collect();
                    let mut key = salt.clone();
                    key.extend([a_on as u64, b_on as u64]);
                    key.extend(ak.iter().map(|&v| v as u64));
                    let mut rng = rng_for(ss.seed, &key);
                    let xs: Vec<&Vec<u32>> = match ss.max_x_across {
                        Some(k) if xs.len() > k => {
                            let mut idx: Vec<usize> = (0..xs.len()).collect();
                            idx.shuffle(&mut rng);
                            idx.truncate(k);
                            idx.sort_unstable();
                            idx.into_iter().map(|i| xs[i]).collect()
                        }
                        _ => xs,
                    };
                    for xk in xs {
                        let mut k2 = key.clone();
                        k2.extend(xk.iter().map(|&v| v as u64 + (1 << 40)));
                        let mut rng = rng_for(ss.seed, &k2);
                        cells.push(CellDef {
                            by: bk.clone(),
                            a_on,
                            b_on,
                            a_across: ak.clone(),
                            x_across: xk.clone(),
                            a: cap(a_items, ss.max_size_group, &mut rng),
                            b: cap(b_items, ss.max_size_group, &mut rng),
                            x: cap(&a_groups[xk], ss.max_size_group, &mut rng),
                            symmetric: false,
                        });
                    }
                }
            }
        }
    }
    Ok(cells)
}

/// Error count (ties ½) and triplet count of one cell, with sorted rows of `d(x, B)`.
/// `dxa[i][j] = d(x_i, a_j)`, `dxb[i][k] = d(x_i, b_k)`; with `skip` the pairs
/// `x_i == a_j` (same item) are left out.
pub fn cell_counts(
    dxa: &[f64],
    dxb: &[f64],
    nx: usize,
    na: usize,
    nb: usize,
    skip: Option<&dyn Fn(usize, usize) -> bool>,
) -> (f64, u64) {
    let mut errors = 0.0f64;
    let mut n = 0u64;
    let mut row = Vec::with_capacity(nb);
    for i in 0..nx {
        row.clear();
        row.extend_from_slice(&dxb[i * nb..(i + 1) * nb]);
        row.sort_unstable_by(f64::total_cmp);
        for j in 0..na {
            if skip.is_some_and(|s| s(i, j)) {
                continue;
            }
            let d = dxa[i * na + j];
            let less = row.partition_point(|&v| v < d);
            let le = row.partition_point(|&v| v <= d);
            errors += less as f64 + 0.5 * (le - less) as f64;
            n += nb as u64;
        }
    }
    (errors, n)
}

/// Scores every cell of `task` on `ds` with `distance` (DTW for multi-frame items).
pub fn score(ds: &Dataset, task: &Task, distance: Distance) -> Result<Score> {
    if ds.is_empty() {
        return Err(Error::InvalidInput("ABX on an empty dataset".into()));
    }
    let defs = build_cells(ds, task)?;
    if defs.is_empty() {
        return Err(Error::InvalidInput(format!(
            "task ON {:?} BY {:?} ACROSS {:?} has no cell on this dataset (need ≥ 2 ON values{})",
            task.on,
            task.by,
            task.across,
            if task.across.is_empty() {
                " with ≥ 2 items each"
            } else {
                " sharing an ACROSS value, and a different ACROSS value for X"
            }
        )));
    }
    let mut prepared = ds.clone();
    let dim = ds.dim();
    distance.prepare(prepared.feats_mut(), dim)?;
    let prepared = &prepared;
    let cells: Vec<CellScore> = defs
        .par_iter()
        .map(|c| {
            let mut scratch = Vec::new();
            let (nx, na, nb) = (c.x.len(), c.a.len(), c.b.len());
            let mut dxa = Vec::with_capacity(nx * na);
            let mut dxb = Vec::with_capacity(nx * nb);
            for &x in &c.x {
                let fx = prepared.frames(x);
                for &a in &c.a {
                    dxa.push(if c.symmetric && a == x {
                        0.0
                    } else {
                        distance.item_prepared(fx, prepared.frames(a), dim, &mut scratch)
                    });
                }
                for &b in &c.b {
                    dxb.push(distance.item_prepared(fx, prepared.frames(b), dim, &mut scratch));
                }
            }
            let same = |i: usize, j: usize| c.x[i] == c.a[j];
            let skip: Option<&dyn Fn(usize, usize) -> bool> =
                if c.symmetric { Some(&same) } else { None };
            let (err, n) = cell_counts(&dxa, &dxb, nx, na, nb, skip);
            let names = |cols: &[String], codes: &[u32]| -> Vec<String> {
                cols.iter()
                    .zip(codes)
                    .map(|(col, &v)| {
                        let ci = ds.column(col).expect("checked column");
                        ds.label_name(ci, v).to_string()
                    })
                    .collect()
            };
            let on = ds.column(&task.on).expect("checked column");
            CellScore {
                a_on: ds.label_name(on, c.a_on).to_string(),
                b_on: ds.label_name(on, c.b_on).to_string(),
                by: names(&task.by, &c.by),
                a_across: names(&task.across, &c.a_across),
                x_across: names(&task.across, &c.x_across),
                sizes: [na, nb, nx],
                n_triplets: n,
                error: if n > 0 { err / n as f64 } else { f64::NAN },
            }
        })
        .filter(|c| c.n_triplets > 0)
        .collect();
    Ok(Score {
        task: task.clone(),
        distance,
        cells,
    })
}

impl Score {
    /// Hierarchical mean: for each level (a set of BY/ACROSS attribute names) in turn, average
    /// the cells that differ only in those attributes; finally average over what is left
    /// (the ON pairs and any attribute not collapsed).
    pub fn collapse(&self, levels: &[&[&str]]) -> Result<f64> {
        if self.cells.is_empty() {
            return Err(Error::InvalidInput("no cells to collapse".into()));
        }
        // dims: by..., across..., on-pair
        let mut names: Vec<String> = self.task.by.clone();
        names.extend(self.task.across.iter().cloned());
        let mut records: Vec<(Vec<String>, f64)> = self
            .cells
            .iter()
            .map(|c| {
                let mut k = c.by.clone();
                for (a, x) in c.a_across.iter().zip(&c.x_across) {
                    k.push(format!("{a}\u{1f}{x}"));
                }
                k.push(format!("{}\u{1f}{}", c.a_on, c.b_on));
                (k, c.error)
            })
            .collect();
        let mut alive: Vec<bool> = vec![true; names.len() + 1];
        for level in levels {
            let mut idx = Vec::new();
            for l in level.iter() {
                let i = names.iter().position(|n| n == l).ok_or_else(|| {
                    Error::InvalidInput(format!(
                        "collapse level {l:?} is not a BY or ACROSS attribute of the task ({names:?})"
                    ))
                })?;
                if !alive[i] {
                    return Err(Error::InvalidInput(format!(
                        "attribute {l:?} collapsed twice"
                    )));
                }
                alive[i] = false;
                idx.push(i);
            }
            let mut groups: BTreeMap<Vec<String>, (f64, usize)> = BTreeMap::new();
            for (k, v) in &records {
                let mut k2 = k.clone();
                for &i in &idx {
                    k2[i].clear();
                }
                let e = groups.entry(k2).or_insert((0.0, 0));
                e.0 += v;
                e.1 += 1;
            }
            records = groups
                .into_iter()
                .map(|(k, (s, n))| (k, s / n as f64))
                .collect();
        }
        Ok(records.iter().map(|r| r.1).sum::<f64>() / records.len() as f64)
    }

    /// The default aggregation: collapse each BY attribute (in task order), then each ACROSS
    /// attribute, then average over ON pairs.
    pub fn error(&self) -> Result<f64> {
        let levels: Vec<Vec<&str>> = self
            .task
            .by
            .iter()
            .chain(&self.task.across)
            .map(|s| vec![s.as_str()])
            .collect();
        let refs: Vec<&[&str]> = levels.iter().map(|v| v.as_slice()).collect();
        self.collapse(&refs)
    }

    /// Mean of the cell errors weighted by the number of triplets.
    pub fn weighted_error(&self) -> Result<f64> {
        let n: u64 = self.cells.iter().map(|c| c.n_triplets).sum();
        if n == 0 {
            return Err(Error::InvalidInput("no triplets".into()));
        }
        Ok(self
            .cells
            .iter()
            .map(|c| c.error * c.n_triplets as f64)
            .sum::<f64>()
            / n as f64)
    }

    /// Distinct ON pairs scored.
    pub fn on_pairs(&self) -> BTreeSet<(String, String)> {
        self.cells
            .iter()
            .map(|c| (c.a_on.clone(), c.b_on.clone()))
            .collect()
    }
}
