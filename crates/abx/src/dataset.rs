//! Items for the generic ABX engine: categorical labels plus a vector or a `[T, D]` frame
//! sequence per item.

use ember_core::{Error, Result};
use std::collections::HashMap;

/// A set of labelled items. Every item has one value per label column and `T ≥ 1` frames
/// of the common width `dim` (pooled items have `T = 1`).
#[derive(Debug, Clone)]
pub struct Dataset {
    columns: Vec<String>,
    codes: Vec<Vec<u32>>,
    vocab: Vec<Vec<String>>,
    index: Vec<HashMap<String, u32>>,
    dim: usize,
    feats: Vec<f32>,
    offsets: Vec<usize>,
}

impl Dataset {
    /// An empty dataset with the given label columns and feature width.
    pub fn new<S: AsRef<str>>(columns: &[S], dim: usize) -> Result<Self> {
        if columns.is_empty() {
            return Err(Error::InvalidInput(
                "a dataset needs at least one label column".into(),
            ));
        }
        if dim == 0 {
            return Err(Error::InvalidInput("feature width must be ≥ 1".into()));
        }
        let columns: Vec<String> = columns.iter().map(|c| c.as_ref().to_string()).collect();
        for (i, c) in columns.iter().enumerate() {
            if columns[..i].contains(c) {
                return Err(Error::InvalidInput(format!(
                    "label column {c:?} appears twice"
                )));
            }
        }
        let k = columns.len();
        Ok(Dataset {
            columns,
            codes: vec![Vec::new(); k],
            vocab: vec![Vec::new(); k],
            index: vec![HashMap::new(); k],
            dim,
            feats: Vec::new(),
            offsets: vec![0],
        })
    }

    /// Adds one item: one label per column and `frames.len() / dim ≥ 1` frames (row-major).
    pub fn push<S: AsRef<str>>(&mut self, labels: &[S], frames: &[f32]) -> Result<()> {
        let item = self.len();
        if labels.len() != self.columns.len() {
            return Err(Error::Shape(format!(
                "item {item}: {} labels for {} columns {:?}",
                labels.len(),
                self.columns.len(),
                self.columns
            )));
        }
        if frames.is_empty() || !frames.len().is_multiple_of(self.dim) {
            return Err(Error::Shape(format!(
                "item {item}: {} feature values is not a positive multiple of the width {}",
                frames.len(),
                self.dim
            )));
        }
        if frames.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite(format!(
                "item {item} has NaN or infinite features"
            )));
        }
        for (c, l) in labels.iter().enumerate() {
            let l = l.as_ref();
            let next = self.vocab[c].len() as u32;
            let code = *self.index[c].entry(l.to_string()).or_insert_with(|| next);
            if code == next {
                self.vocab[c].push(l.to_string());
            }
            self.codes[c].push(code);
        }
        self.feats.extend_from_slice(frames);
        self.offsets.push(self.feats.len() / self.dim);
        Ok(())
    }

    /// Pooled items: `labels[i]` and row `i` of the row-major `[n, dim]` matrix `vectors`.
    pub fn from_vectors<S: AsRef<str>>(
        columns: &[S],
        labels: &[Vec<String>],
        vectors: &[f32],
        dim: usize,
    ) -> Result<Self> {
        let mut ds = Dataset::new(columns, dim)?;
        if vectors.len() != labels.len() * dim {
            return Err(Error::Shape(format!(
                "{} label rows but {} values for width {dim}",
                labels.len(),
                vectors.len()
            )));
        }
        for (l, v) in labels.iter().zip(vectors.chunks_exact(dim)) {
            ds.push(l, v)?;
        }
        Ok(ds)
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// True when there are no items.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Feature width.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Label column names.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Index of a label column.
    pub fn column(&self, name: &str) -> Result<usize> {
        self.columns.iter().position(|c| c == name).ok_or_else(|| {
            Error::InvalidInput(format!(
                "no label column {name:?}; columns are {:?}",
                self.columns
            ))
        })
    }

    /// Integer codes of column `c`, one per item.
    pub fn codes(&self, c: usize) -> &[u32] {
        &self.codes[c]
    }

    /// The label string of code `code` in column `c`.
    pub fn label_name(&self, c: usize, code: u32) -> &str {
        &self.vocab[c][code as usize]
    }

    /// Frames of item `i` (row-major, `n_frames(i) × dim`).
    pub fn frames(&self, i: usize) -> &[f32] {
        &self.feats[self.offsets[i] * self.dim..self.offsets[i + 1] * self.dim]
    }

    /// Number of frames of item `i`.
    pub fn n_frames(&self, i: usize) -> usize {
        self.offsets[i + 1] - self.offsets[i]
    }

    pub(crate) fn feats_mut(&mut self) -> &mut Vec<f32> {
        &mut self.feats
    }
}
