//! The dense Gram fast path for the text ABX tasks of the paper, over pooled sentence vectors
//! of a parallel corpus (`s_m^L`: meaning `m` in language `L`, every (m, L) present once).
//!
//! Rows are L2-normalised once; `G_{L1L2}[i, j] = ⟨ŝ_i^{L1}, ŝ_j^{L2}⟩` ([`Grams`]). With ties ½:
//!
//! * language discrimination, ON language ACROSS meaning (A = s_m^{L1}, B = s_m^{L2},
//!   X = s_{m'}^{L1}, m' ≠ m):
//!   `LD(L1, L2) = 1/(n(n−1)) Σ_m Σ_{m'≠m} [1(G_{L1L2}[m', m] > G_{L1L1}[m', m]) + ½·1(=)]`
//!   ([`TextAbx::compute`], `ld`);
//! * meaning discrimination, ON meaning ACROSS language (A = s_m^{L1}, B = s_{m'}^{L1},
//!   X = s_m^{L2}):
//!   `MD(L1 → L2) = 1/(n(n−1)) Σ_m Σ_{m'≠m} [1(G_{L2L1}[m, m'] > G_{L2L1}[m, m]) + ½·1(=)]`
//!   ([`TextAbx::compute`], `md`), the mean normalised rank of the translation, so top-1
//!   retrieval comes from the same pass.
//!
//! `G_{L2L1} = G_{L1L2}ᵀ`, so one block serves MD in both directions (rows and columns
//! compared with the diagonal in one sweep): the meaning task needs `L(L−1)/2` GEMMs of
//! `n × d × n`, not `L(L−1)`.

use burn::prelude::*;
use ember_core::host::gemm::gram_nt;
use ember_core::host::{read_as, simd};
use ember_core::{Error, Result};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::collections::HashMap;

/// Pooled vectors of a parallel corpus: `L` languages × `n` meanings × `dim`, row-major
/// (`data[(l·n + m)·dim ..]` is meaning `m` in language `l`).
#[derive(Debug, Clone, PartialEq)]
pub struct ParallelEmbeddings {
    /// Language names.
    pub langs: Vec<String>,
    /// Sentences (meanings) per language.
    pub n: usize,
    /// Vector width.
    pub dim: usize,
    /// `[L, n, dim]` values.
    pub data: Vec<f32>,
}

impl ParallelEmbeddings {
    /// Checks shapes (≥ 2 languages, ≥ 2 meanings, `data.len() = L·n·dim`) and finiteness.
    pub fn new(langs: Vec<String>, n: usize, dim: usize, data: Vec<f32>) -> Result<Self> {
        if langs.len() < 2 {
            return Err(Error::InvalidInput(format!(
                "text ABX needs ≥ 2 languages, got {}",
                langs.len()
            )));
        }
        if n < 2 {
            return Err(Error::InvalidInput(format!(
                "text ABX needs ≥ 2 parallel sentences, got {n}"
            )));
        }
        let expected = langs
            .len()
            .checked_mul(n)
            .and_then(|ln| ln.checked_mul(dim));
        if dim == 0 || expected != Some(data.len()) {
            return Err(Error::Shape(format!(
                "{} values for {} languages × {n} sentences × {dim} dims",
                data.len(),
                langs.len()
            )));
        }
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            let row = i / dim;
            return Err(Error::NonFinite(format!(
                "sentence {} of language {:?} has a non-finite value",
                row % n,
                langs[row / n]
            )));
        }
        Ok(ParallelEmbeddings {
            langs,
            n,
            dim,
            data,
        })
    }

    /// Number of languages.
    pub fn n_langs(&self) -> usize {
        self.langs.len()
    }

    /// Vector of meaning `m` in language `l`.
    pub fn row(&self, l: usize, m: usize) -> &[f32] {
        let o = (l * self.n + m) * self.dim;
        &self.data[o..o + self.dim]
    }

    /// The same vectors with rows L2-normalised (zero rows stay zero; rows in parallel).
    pub fn normalized(&self) -> Self {
        let d = self.dim;
        let mut data = vec![0.0f32; self.data.len()];
        data.par_chunks_mut(d * 64)
            .zip(self.data.par_chunks(d * 64))
            .for_each(|(dst, src)| {
                for (o, x) in dst.chunks_exact_mut(d).zip(src.chunks_exact(d)) {
                    normalize_row(x, o);
                }
            });
        ParallelEmbeddings {
            langs: self.langs.clone(),
            n: self.n,
            dim: d,
            data,
        }
    }

    /// The items as a generic [`Dataset`](crate::Dataset) with columns `language`, `meaning`.
    pub fn to_dataset(&self) -> Result<crate::Dataset> {
        let mut ds = crate::Dataset::new(&["language", "meaning"], self.dim)?;
        for (l, name) in self.langs.iter().enumerate() {
            for m in 0..self.n {
                ds.push(&[name.clone(), format!("m{m}")], self.row(l, m))?;
            }
        }
        Ok(ds)
    }
}

/// `out = x / ‖x‖₂` (norm in f64; a zero row stays zero). Every path of this module
/// normalises with this function, so all of them see the same f32 unit rows. Compiled for the
/// CPU's vector level ([`simd::dispatch`]): the same operations in the same order, so the same
/// bits, only vectorised.
fn normalize_row(x: &[f32], out: &mut [f32]) {
    simd::dispatch(NormalizeRow { x, out })
}

struct NormalizeRow<'a> {
    x: &'a [f32],
    out: &'a mut [f32],
}

impl simd::Kernel for NormalizeRow<'_> {
    type Output = ();
    #[inline(always)]
    fn run<const FMA: bool>(self) {
        let (x, out) = (self.x, self.out);
        // eight independent sums (vectorised; one f64 accumulator is latency-bound)
        let mut acc = [0.0f64; 8];
        let chunks = x.chunks_exact(8);
        let tail: f64 = chunks
            .remainder()
            .iter()
            .map(|&v| (v as f64) * (v as f64))
            .sum();
        for c in chunks {
            for (a, &v) in acc.iter_mut().zip(c) {
                *a += (v as f64) * (v as f64);
            }
        }
        let norm = (acc.iter().sum::<f64>() + tail).sqrt();
        let inv = if norm > 0.0 { 1.0 / norm } else { 0.0 };
        for (o, &v) in out.iter_mut().zip(x) {
            *o = (v as f64 * inv) as f32;
        }
    }
}

/// Which Gram blocks to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocks {
    /// Off-diagonal blocks only (the meaning task).
    Cross,
    /// Also the within-language blocks (needed by the language task).
    All,
}

/// Cosine Gram blocks `G_{L1L2}` for `L1 ≤ L2` (row-major `n × n`).
#[derive(Debug, Clone)]
pub struct Grams {
    n: usize,
    blocks: HashMap<(usize, usize), Vec<f32>>,
}

impl Grams {
    /// Normalises the rows and computes each block `E_{L1} E_{L2}ᵀ` with ember-core's CPU
    /// kernel ([`ember_core::host::gemm::gram_nt`]), straight into its own buffer.
    pub fn compute(emb: &ParallelEmbeddings, blocks: Blocks) -> Result<Self> {
        let e = emb.normalized();
        let (n, d, l) = (emb.n, emb.dim, emb.n_langs());
        let lang = |k: usize| &e.data[k * n * d..(k + 1) * n * d];
        let mut out = HashMap::new();
        for l1 in 0..l {
            let first = if blocks == Blocks::All { l1 } else { l1 + 1 };
            for l2 in first..l {
                out.insert((l1, l2), gram_nt(lang(l1), lang(l2), n, n, d));
            }
        }
        Ok(Grams { n, blocks: out })
    }

    /// Like [`Grams::compute`] with Burn's matmul on `device` (e.g. a GPU): one product per
    /// language (`E_{L1} [E_{L1}; …; E_{L}]ᵀ`), cut into blocks.
    pub fn compute_on_device(
        emb: &ParallelEmbeddings,
        blocks: Blocks,
        device: &Device,
    ) -> Result<Self> {
        Self::compute_with(emb, blocks, |a, b, n, k, d| {
            let at = Tensor::<2>::from_data(TensorData::new(a.to_vec(), [n, d]), device);
            let bt = Tensor::<2>::from_data(TensorData::new(b.to_vec(), [k, d]), device);
            read_as::<f32, 2, Float>(at.matmul(bt.transpose()), "the Gram block")
        })
    }

    fn compute_with(
        emb: &ParallelEmbeddings,
        blocks: Blocks,
        gemm: impl Fn(&[f32], &[f32], usize, usize, usize) -> Result<Vec<f32>>,
    ) -> Result<Self> {
        let e = emb.normalized();
        let (n, d, l) = (emb.n, emb.dim, emb.n_langs());
        let mut out = HashMap::new();
        for l1 in 0..l {
            let first = if blocks == Blocks::All { l1 } else { l1 + 1 };
            if first >= l {
                continue;
            }
            let rows = &e.data[l1 * n * d..(l1 + 1) * n * d];
            let cols = &e.data[first * n * d..l * n * d];
            let k = l - first;
            let v = gemm(rows, cols, n, k * n, d)?;
            for (t, l2) in (first..l).enumerate() {
                let mut blk = vec![0.0f32; n * n];
                for i in 0..n {
                    blk[i * n..(i + 1) * n]
                        .copy_from_slice(&v[i * k * n + t * n..i * k * n + (t + 1) * n]);
                }
                out.insert((l1, l2), blk);
            }
        }
        Ok(Grams { n, blocks: out })
    }

    /// Gram blocks computed by the caller (for tests and other similarity functions):
    /// `blocks[(l1, l2)]` for `l1 ≤ l2`, each `n × n`.
    pub fn from_blocks(n: usize, blocks: HashMap<(usize, usize), Vec<f32>>) -> Result<Self> {
        for (k, b) in &blocks {
            if k.0 > k.1 || b.len() != n * n {
                return Err(Error::Shape(format!(
                    "Gram block {k:?} must have l1 ≤ l2 and {n}×{n} values, has {}",
                    b.len()
                )));
            }
        }
        Ok(Grams { n, blocks })
    }

    /// Sentences per language.
    pub fn n(&self) -> usize {
        self.n
    }

    /// `⟨ŝ_i^{l1}, ŝ_j^{l2}⟩` (panics if the block was not computed).
    pub fn sim(&self, l1: usize, i: usize, l2: usize, j: usize) -> f32 {
        if l1 <= l2 {
            self.blocks[&(l1, l2)][i * self.n + j]
        } else {
            self.blocks[&(l2, l1)][j * self.n + i]
        }
    }

    fn block(&self, l1: usize, l2: usize) -> Result<&[f32]> {
        self.blocks.get(&(l1, l2)).map(|v| v.as_slice()).ok_or_else(|| {
            Error::InvalidInput(format!(
                "Gram block ({l1}, {l2}) was not computed (use Blocks::All for the language task)"
            ))
        })
    }
}

/// Per-sentence errors of one ordered pair and task: `per_m[m]` is the error of the triplets
/// whose A (LD) or X (MD) is meaning `m`, averaged over the n−1 choices of m'.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PairResult {
    /// First language (A's language; for MD, the candidates' language).
    pub l1: usize,
    /// Second language (B's language for LD; X's language for MD).
    pub l2: usize,
    /// Mean error over all n(n−1) triplets.
    pub error: f64,
    /// Per-meaning errors.
    pub per_m: Vec<f64>,
    /// For MD: fraction of X whose translation is strictly the most similar candidate.
    pub top1: Option<f64>,
}

/// Which text task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TextTask {
    /// Language discrimination: ON language, ACROSS meaning.
    Language,
    /// Meaning discrimination: ON meaning, ACROSS language.
    Meaning,
}

/// All ordered pairs of one task.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TextAbx {
    /// The task.
    pub task: TextTask,
    /// Languages.
    pub langs: Vec<String>,
    /// One entry per ordered pair (l1 ≠ l2), in row-major order.
    pub pairs: Vec<PairResult>,
}

/// A bootstrap percentile interval.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Interval {
    /// Point estimate.
    pub mean: f64,
    /// 2.5 % quantile.
    pub lo: f64,
    /// 97.5 % quantile.
    pub hi: f64,
}

impl TextAbx {
    /// Computes the task for every ordered language pair from the Gram blocks.
    pub fn compute(grams: &Grams, langs: &[String], task: TextTask) -> Result<Self> {
        let l = langs.len();
        let n = grams.n;
        if l < 2 || n < 2 {
            return Err(Error::InvalidInput(
                "text ABX needs ≥ 2 languages and ≥ 2 sentences".into(),
            ));
        }
        let denom = (n - 1) as f64;
        let mut pairs: Vec<PairResult> = Vec::with_capacity(l * (l - 1));
        match task {
            TextTask::Meaning => {
                // one sweep per unordered block gives both directions
                let keys: Vec<(usize, usize)> = (0..l)
                    .flat_map(|a| (a + 1..l).map(move |b| (a, b)))
                    .collect();
                let res: Vec<Result<[PairResult; 2]>> = keys
                    .par_iter()
                    .map(|&(a, b)| {
                        let g = grams.block(a, b)?;
                        let (row, col) = md_counts(g, n);
                        // rows of G_ab: X in a, candidates in b => MD(b -> a)
                        Ok(md_pair_results(row, col, a, b))
                    })
                    .collect();
                for r in res {
                    pairs.extend(r?);
                }
            }
            TextTask::Language => {
                for l1 in 0..l {
                    for l2 in 0..l {
                        if l1 == l2 {
                            continue;
                        }
                        let within = grams.block(l1, l1)?;
                        let _ = grams.block(l1.min(l2), l1.max(l2))?;
                        let per_m: Vec<f64> = (0..n)
                            .into_par_iter()
                            .map(|m| {
                                let mut e = 0.0;
                                for mp in 0..n {
                                    if mp == m {
                                        continue;
                                    }
                                    let ax = within[mp * n + m];
                                    let bx = grams.sim(l1, mp, l2, m);
                                    if bx > ax {
                                        e += 1.0;
                                    } else if bx == ax {
                                        e += 0.5;
                                    }
                                }
                                e / denom
                            })
                            .collect();
                        pairs.push(PairResult {
                            l1,
                            l2,
                            error: per_m.iter().sum::<f64>() / n as f64,
                            per_m,
                            top1: None,
                        });
                    }
                }
            }
        }
        pairs.sort_by_key(|p| (p.l1, p.l2));
        Ok(TextAbx {
            task,
            langs: langs.to_vec(),
            pairs,
        })
    }

    /// Mean error over ordered pairs.
    pub fn mean_error(&self) -> f64 {
        self.pairs.iter().map(|p| p.error).sum::<f64>() / self.pairs.len() as f64
    }

    /// Mean top-1 retrieval accuracy over ordered pairs (meaning task only).
    pub fn mean_top1(&self) -> Option<f64> {
        let v: Option<Vec<f64>> = self.pairs.iter().map(|p| p.top1).collect();
        v.map(|v| v.iter().sum::<f64>() / v.len() as f64)
    }

    /// `L × L` matrix of pair errors (NaN on the diagonal), row = l1.
    pub fn matrix(&self) -> Vec<Vec<f64>> {
        let l = self.langs.len();
        let mut m = vec![vec![f64::NAN; l]; l];
        for p in &self.pairs {
            m[p.l1][p.l2] = p.error;
        }
        m
    }

    /// Bootstrap over sentences: resample meanings with replacement `resamples` times and
    /// take the 2.5/97.5 % quantiles of the mean error over pairs.
    pub fn bootstrap(&self, resamples: usize, seed: u64) -> Result<Interval> {
        if resamples == 0 {
            return Err(Error::InvalidInput("bootstrap needs ≥ 1 resample".into()));
        }
        let n = self.pairs[0].per_m.len();
        let per_m: Vec<f64> = (0..n)
            .map(|m| self.pairs.iter().map(|p| p.per_m[m]).sum::<f64>() / self.pairs.len() as f64)
            .collect();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut means: Vec<f64> = (0..resamples)
            .map(|_| (0..n).map(|_| per_m[rng.random_range(0..n)]).sum::<f64>() / n as f64)
            .collect();
        means.sort_by(f64::total_cmp);
        let q = |p: f64| means[((p * (resamples - 1) as f64).round() as usize).min(resamples - 1)];
        Ok(Interval {
            mean: self.mean_error(),
            lo: q(0.025),
            hi: q(0.975),
        })
    }
}

/// The two MD results of block `G_ab` from its (greater, equal) counts: rows (X in `a`,
/// candidates in `b`) give MD(b → a), columns give MD(a → b).
fn md_pair_results(rows: Counts, cols: Counts, a: usize, b: usize) -> [PairResult; 2] {
    let mk = |counts: Counts, l1, l2| {
        let n = counts.len();
        let denom = (n - 1) as f64;
        let per_m: Vec<f64> = counts
            .iter()
            .map(|&(gt, eq)| (gt as f64 + 0.5 * eq as f64) / denom)
            .collect();
        let top1 = counts.iter().filter(|c| c.0 == 0 && c.1 == 0).count() as f64 / n as f64;
        PairResult {
            l1,
            l2,
            error: per_m.iter().sum::<f64>() / n as f64,
            per_m,
            top1: Some(top1),
        }
    };
    [mk(rows, b, a), mk(cols, a, b)]
}

/// One sweep over an `n × n` block: per row `i`, (#j≠i with G[i,j] > G[i,i], #=), and per
/// column `j`, (#i≠j with G[i,j] > G[j,j], #=).
/// (greater, equal) counts per row or column.
type Counts = Vec<(u32, u32)>;

fn md_counts(g: &[f32], n: usize) -> (Counts, Counts) {
    let diag: Vec<f32> = (0..n).map(|i| g[i * n + i]).collect();
    let mut col_gt = vec![0u32; n];
    let mut col_eq = vec![0u32; n];
    let mut rows = Vec::with_capacity(n);
    for i in 0..n {
        let r = &g[i * n..(i + 1) * n];
        let di = diag[i];
        let (mut gt, mut eq) = (0u32, 0u32);
        for (j, ((&v, &dj), (cg, ce))) in r
            .iter()
            .zip(&diag)
            .zip(col_gt.iter_mut().zip(col_eq.iter_mut()))
            .enumerate()
        {
            let _ = j;
            gt += (v > di) as u32;
            eq += (v == di) as u32;
            *cg += (v > dj) as u32;
            *ce += (v == dj) as u32;
        }
        rows.push((gt, eq - 1)); // the diagonal equals itself
    }
    let cols = col_gt
        .into_iter()
        .zip(col_eq)
        .map(|(g, e)| (g, e - 1))
        .collect();
    (rows, cols)
}

/// Both tasks from one set of embeddings: Gram blocks, then LD and MD.
pub fn text_abx(emb: &ParallelEmbeddings) -> Result<(TextAbx, TextAbx)> {
    let grams = Grams::compute(emb, Blocks::All)?;
    Ok((
        TextAbx::compute(&grams, &emb.langs, TextTask::Language)?,
        TextAbx::compute(&grams, &emb.langs, TextTask::Meaning)?,
    ))
}

/// How [`meaning_abx_with`] computes the Gram blocks. Every choice gives the same counts,
/// bit for bit (ties included); they differ in speed only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum MdKernel {
    /// [`MdKernel::Bf16Screen`] on AMX when this process can use it
    /// ([`ember_core::host::amx::amx_available`]), else [`MdKernel::F32`].
    #[default]
    Auto,
    /// f32 Gram blocks from the crate's GEMM ([`Grams::compute`]).
    F32,
    /// bf16 Gram strips (AMX tiles if available, else a slow portable emulation), with the
    /// entries too close to a diagonal value to call recomputed in f32 ([`crate::screen`]).
    Bf16Screen,
}

/// The meaning task only (`L(L−1)/2` Gram blocks): the benchmarked path
/// ([`MdKernel::Auto`]).
pub fn meaning_abx(emb: &ParallelEmbeddings) -> Result<TextAbx> {
    meaning_abx_with(emb, MdKernel::Auto)
}

/// The meaning task with an explicit [`MdKernel`].
pub fn meaning_abx_with(emb: &ParallelEmbeddings, kernel: MdKernel) -> Result<TextAbx> {
    use crate::screen::{LangRows, Screen, md_counts_screened};
    let screen = match kernel {
        MdKernel::Auto => Screen::best(),
        MdKernel::F32 => None,
        MdKernel::Bf16Screen => Some(Screen::best().unwrap_or(Screen::Portable)),
    };
    let Some(screen) = screen else {
        let grams = Grams::compute(emb, Blocks::Cross)?;
        return TextAbx::compute(&grams, &emb.langs, TextTask::Meaning);
    };
    let e = emb.normalized();
    let (n, d, l) = (emb.n, emb.dim, emb.n_langs());
    let rows: Vec<LangRows> = (0..l)
        .map(|k| LangRows::new(&e.data[k * n * d..(k + 1) * n * d], n, d))
        .collect();
    let mut pairs = Vec::with_capacity(l * (l - 1));
    for a in 0..l {
        for b in a + 1..l {
            let (row, col) = md_counts_screened(&rows[a], &rows[b], n, d, screen);
            pairs.extend(md_pair_results(row, col, a, b));
        }
    }
    pairs.sort_by_key(|p| (p.l1, p.l2));
    Ok(TextAbx {
        task: TextTask::Meaning,
        langs: emb.langs.clone(),
        pairs,
    })
}
