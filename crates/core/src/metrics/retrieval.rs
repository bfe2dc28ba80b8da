//! Recall@k for cross-modal retrieval (image↔text, audio↔text) from a similarity matrix.

use rayon::prelude::*;

use super::{check_finite_f32, check_same_len};
use crate::error::{Error, Result, ensure};

/// Recall@k in both directions of a square similarity matrix.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RecallPair {
    /// Rows as queries, columns as candidates (e.g. image → text).
    pub row_to_col: f64,
    /// Columns as queries, rows as candidates (e.g. text → image).
    pub col_to_row: f64,
}

fn check_matrix(m: &str, sim: &[f32], n_rows: usize, n_cols: usize, k: usize) -> Result<()> {
    ensure!(
        n_rows > 0 && n_cols > 0,
        "{m}: empty matrix ({n_rows} x {n_cols})"
    );
    ensure!(k >= 1, "{m}: k must be >= 1");
    let expected = n_rows
        .checked_mul(n_cols)
        .ok_or_else(|| Error::Shape(format!("{m}: n_rows * n_cols overflows")))?;
    if sim.len() != expected {
        return Err(Error::Shape(format!(
            "{m}: sim has {} values, expected {n_rows} x {n_cols} = {expected}",
            sim.len()
        )));
    }
    check_finite_f32(m, sim)
}

/// Fraction of rows `i` whose correct column `targets[i]` is in the top `k` of row `i` of the
/// row-major `[n_rows, n_cols]` matrix `sim` (higher = more similar).
///
/// Ties are resolved in the query's favour: row `i` is a hit iff strictly fewer than `k`
/// columns score strictly higher than `sim[i, targets[i]]`. (Implementations that take
/// `argsort(...)[:k]` break ties by index instead, which only differs on exact ties.)
/// `k >= n_cols` always hits.
///
/// Errors: empty matrix, `k == 0`, wrong `sim`/`targets` length, a target `>= n_cols`, or a
/// NaN/inf similarity.
pub fn recall_at_k(
    sim: &[f32],
    n_rows: usize,
    n_cols: usize,
    targets: &[usize],
    k: usize,
) -> Result<f64> {
    const M: &str = "recall_at_k";
    check_matrix(M, sim, n_rows, n_cols, k)?;
    check_same_len("recall_at_k: targets vs n_rows", targets.len(), n_rows)?;
    if let Some(i) = targets.iter().position(|&t| t >= n_cols) {
        return Err(Error::InvalidInput(format!(
            "{M}: targets[{i}] = {} is out of range for {n_cols} columns",
            targets[i]
        )));
    }
    let hits = sim
        .par_chunks_exact(n_cols)
        .zip(targets.par_iter())
        .filter(|(row, t)| {
            let s = row[**t];
            row.iter().filter(|&&x| x > s).count() < k
        })
        .count();
    Ok(hits as f64 / n_rows as f64)
}

/// Recall@k both ways on a square `[n, n]` matrix whose diagonal holds the matching pairs
/// (the usual CLIP evaluation): `row_to_col` is [`recall_at_k`] with `targets[i] = i`, and
/// `col_to_row` the same on the transpose, computed without materialising it. Same tie rule
/// and errors as [`recall_at_k`].
pub fn recall_at_k_diagonal(sim: &[f32], n: usize, k: usize) -> Result<RecallPair> {
    const M: &str = "recall_at_k_diagonal";
    check_matrix(M, sim, n, n, k)?;
    let row_hits = sim
        .par_chunks_exact(n)
        .enumerate()
        .filter(|(i, row)| {
            let s = row[*i];
            row.iter().filter(|&&x| x > s).count() < k
        })
        .count();
    // Column j: count rows i with sim[i, j] > sim[j, j]; accumulate row by row (cache-friendly).
    let diag: Vec<f32> = (0..n).map(|j| sim[j * n + j]).collect();
    let above = sim
        .par_chunks_exact(n)
        .fold(
            || vec![0u32; n],
            |mut acc, row| {
                for ((a, &x), &d) in acc.iter_mut().zip(row).zip(&diag) {
                    *a += (x > d) as u32;
                }
                acc
            },
        )
        .reduce(
            || vec![0u32; n],
            |mut a, b| {
                for (x, y) in a.iter_mut().zip(b) {
                    *x += y;
                }
                a
            },
        );
    let col_hits = above.iter().filter(|&&c| (c as usize) < k).count();
    Ok(RecallPair {
        row_to_col: row_hits as f64 / n as f64,
        col_to_row: col_hits as f64 / n as f64,
    })
}
