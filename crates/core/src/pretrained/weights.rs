//! Named tensors from Hugging Face safetensors files, looked up by name and checked by shape.
//!
//! A checkpoint folder holds `model.safetensors`, or shards listed in
//! `model.safetensors.index.json`. Files are memory-mapped and parsed by the `safetensors`
//! crate (the version `burn-store` uses); each tensor is converted to f32 when a module asks
//! for it, so f16 / bf16 / f64 checkpoints load as f32 and nothing is read twice.
//!
//! Why not `burn-store`'s `SafetensorsStore` + `load_from`: the architectures here are built
//! directly from their tensors (no random init that is then overwritten, which doubles load
//! time and peak memory on a 1B model), GPT-2's fused `Conv1D` and GPT-NeoX's interleaved
//! q/k/v need splitting that a key remapper cannot express, and every failure must name the
//! file *and* the tensor. [`Weights::tensor`] gives exactly that, candle-`VarBuilder` style.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};

use burn::module::{Param, ParamId};
use burn::prelude::*;
use memmap2::Mmap;
use safetensors::tensor::{Dtype, Metadata, SafeTensors, TensorInfo};

use crate::error::{Error, Result};

/// The single-file checkpoint name.
pub const SINGLE_FILE: &str = "model.safetensors";
/// The sharded checkpoint index name.
pub const INDEX_FILE: &str = "model.safetensors.index.json";

struct WeightFile {
    path: PathBuf,
    map: Mmap,
    /// Byte offset of the tensor data (after the 8-byte length and the JSON header).
    data_start: usize,
}

/// Read access to the tensors of one checkpoint (one file or all shards).
pub struct Weights {
    files: Vec<WeightFile>,
    /// Tensor name -> (file index, dtype, shape, byte range within the data section).
    index: BTreeMap<String, (usize, TensorInfo)>,
    /// Which module parameter each loaded tensor became (for `save_pretrained`).
    record: RefCell<Vec<SavedParam>>,
}

/// A checkpoint tensor and the module parameter it was loaded into, so a (fine-tuned) model
/// can be written back under the Hugging Face names and layouts.
#[derive(Debug, Clone)]
pub struct SavedParam {
    /// The Hugging Face tensor name.
    pub name: String,
    /// The Burn parameter holding it.
    pub id: ParamId,
    /// Stored transposed (PyTorch `nn.Linear` `[out, in]` vs Burn `[in, out]`).
    pub transposed: bool,
}

impl std::fmt::Debug for Weights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Weights")
            .field(
                "files",
                &self.files.iter().map(|w| &w.path).collect::<Vec<_>>(),
            )
            .field("tensors", &self.index.len())
            .finish()
    }
}

impl Weights {
    /// Open the checkpoint in `dir`: `model.safetensors.index.json` (sharded) if present,
    /// else `model.safetensors`.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let index = dir.join(INDEX_FILE);
        if index.is_file() {
            let text = std::fs::read_to_string(&index).map_err(|e| Error::io(&index, e))?;
            let parsed: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| Error::format(&index, format!("not valid JSON: {e}")))?;
            let map = parsed
                .get("weight_map")
                .and_then(|m| m.as_object())
                .ok_or_else(|| Error::format(&index, "no \"weight_map\" object"))?;
            let mut shards: Vec<String> = Vec::new();
            for (name, file) in map {
                let file = file.as_str().ok_or_else(|| {
                    Error::format(&index, format!("weight_map entry {name:?} is not a string"))
                })?;
                if file.contains('/') || file.contains('\\') || file == ".." {
                    return Err(Error::format(
                        &index,
                        format!("shard name {file:?} for {name:?} leaves the checkpoint folder"),
                    ));
                }
                if !shards.iter().any(|s| s == file) {
                    shards.push(file.to_string());
                }
            }
            if shards.is_empty() {
                return Err(Error::format(&index, "weight_map is empty"));
            }
            shards.sort();
            let paths: Vec<PathBuf> = shards.iter().map(|s| dir.join(s)).collect();
            let weights = Self::from_files(&paths)?;
            for (name, file) in map {
                let file = file.as_str().unwrap_or_default();
                match weights.index.get(name) {
                    Some((i, _)) if weights.files[*i].path == dir.join(file) => {}
                    Some((i, _)) => {
                        return Err(Error::format(
                            &index,
                            format!(
                                "tensor {name:?} is listed in {file:?} but found in {}",
                                weights.files[*i].path.display()
                            ),
                        ));
                    }
                    None => {
                        return Err(Error::format(
                            &index,
                            format!("tensor {name:?} is listed in {file:?} but missing there"),
                        ));
                    }
                }
            }
            return Ok(weights);
        }
        let single = dir.join(SINGLE_FILE);
        if !single.is_file() {
            return Err(Error::format(
                dir,
                format!("no {SINGLE_FILE} or {INDEX_FILE} in this folder"),
            ));
        }
        Self::from_files(&[single])
    }

    /// Open one or more safetensors files as one checkpoint (a name may occur only once).
    pub fn from_files(paths: &[PathBuf]) -> Result<Self> {
        let mut files = Vec::with_capacity(paths.len());
        let mut index = BTreeMap::new();
        for (fi, path) in paths.iter().enumerate() {
            let file = File::open(path).map_err(|e| Error::io(path, e))?;
            // SAFETY: the map is read-only and lives as long as `Weights`; a checkpoint
            // changed on disk while it is open is outside what any loader can defend against.
            let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
            // Full validation (header JSON, dtypes, offsets inside the file, no overlap).
            SafeTensors::deserialize(&map)
                .map_err(|e| Error::format(path, format!("not a valid safetensors file: {e}")))?;
            let (header_len, meta): (usize, Metadata) = SafeTensors::read_metadata(&map)
                .map_err(|e| Error::format(path, format!("not a valid safetensors file: {e}")))?;
            for (name, info) in meta.tensors() {
                if index.contains_key(&name) {
                    return Err(Error::format(
                        path,
                        format!("tensor {name:?} also occurs in an earlier shard"),
                    ));
                }
                index.insert(name, (fi, info.clone()));
            }
            files.push(WeightFile {
                path: path.clone(),
                map,
                data_start: 8 + header_len,
            });
        }
        Ok(Self {
            files,
            index,
            record: RefCell::new(Vec::new()),
        })
    }

    /// Whether a tensor of this name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// The stored shape of `name`, if present.
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.index.get(name).map(|(_, i)| i.shape.as_slice())
    }

    /// All tensor names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.index.keys().map(String::as_str)
    }

    /// The file that holds `name` (for error messages), or the first file.
    pub fn file_of(&self, name: &str) -> &Path {
        let i = self.index.get(name).map_or(0, |(i, _)| *i);
        self.files
            .get(i)
            .map_or(Path::new("<no file>"), |f| f.path.as_path())
    }

    /// The values of `name` as f32 on the host, checked against `shape`.
    ///
    /// Errors name the file and the tensor: missing, wrong shape, or an unsupported dtype.
    pub fn host(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let (fi, info) = self.index.get(name).ok_or_else(|| {
            Error::format(self.file_of(name), format!("tensor {name:?} is missing"))
        })?;
        let file = &self.files[*fi];
        if info.shape != shape {
            return Err(Error::format(
                &file.path,
                format!(
                    "tensor {name:?} has shape {:?}, the config implies {shape:?}",
                    info.shape
                ),
            ));
        }
        let (start, end) = info.data_offsets;
        let bytes = &file.map[file.data_start + start..file.data_start + end];
        let n: usize = shape.iter().product();
        let out: Vec<f32> = match info.dtype {
            Dtype::F32 => bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            Dtype::F16 => bytes
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            Dtype::BF16 => bytes
                .chunks_exact(2)
                .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            Dtype::F64 => bytes
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("chunk of 8")) as f32)
                .collect(),
            other => {
                return Err(Error::format(
                    &file.path,
                    format!("tensor {name:?} has dtype {other:?}; only F32, F16, BF16, F64 load"),
                ));
            }
        };
        // Drop the converted range from this process's resident set: the f32 copy is what
        // the model keeps, so peak memory stays near one copy of the checkpoint instead of
        // two (the pages stay in the OS page cache; a second read re-faults them).
        #[cfg(unix)]
        // SAFETY: a read-only, file-backed shared mapping; MADV_DONTNEED only releases
        // resident pages, and any later access reads the same bytes back from the file.
        unsafe {
            let _ = file.map.unchecked_advise_range(
                memmap2::UncheckedAdvice::DontNeed,
                file.data_start + start,
                end - start,
            );
        }
        if out.len() != n {
            return Err(Error::format(
                &file.path,
                format!(
                    "tensor {name:?} holds {} values, shape needs {n}",
                    out.len()
                ),
            ));
        }
        if let Some(i) = out.iter().position(|v| !v.is_finite()) {
            return Err(Error::format(
                &file.path,
                format!("tensor {name:?} has a non-finite value at flat index {i}"),
            ));
        }
        Ok(out)
    }

    /// An integer tensor (I64, I32, U8, ...; e.g. token ids saved beside reference outputs)
    /// as `(values, shape)`.
    pub fn host_ints(&self, name: &str) -> Result<(Vec<i64>, Vec<usize>)> {
        let (fi, info) = self.index.get(name).ok_or_else(|| {
            Error::format(self.file_of(name), format!("tensor {name:?} is missing"))
        })?;
        let file = &self.files[*fi];
        let (start, end) = info.data_offsets;
        let b = &file.map[file.data_start + start..file.data_start + end];
        let v: Vec<i64> = match info.dtype {
            Dtype::I64 => b
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect(),
            Dtype::I32 => b
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes")) as i64)
                .collect(),
            Dtype::I16 => b
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]) as i64)
                .collect(),
            Dtype::U8 => b.iter().map(|&x| x as i64).collect(),
            Dtype::I8 => b.iter().map(|&x| x as i8 as i64).collect(),
            Dtype::BOOL => b.iter().map(|&x| (x != 0) as i64).collect(),
            other => {
                return Err(Error::format(
                    &file.path,
                    format!("tensor {name:?} has dtype {other:?}, not an integer type"),
                ));
            }
        };
        Ok((v, info.shape.clone()))
    }

    /// `name` as a tensor on `device`, checked against `shape`.
    pub fn tensor<const D: usize>(
        &self,
        name: &str,
        shape: [usize; D],
        device: &Device,
    ) -> Result<Tensor<D>> {
        let v = self.host(name, &shape)?;
        Ok(Tensor::from_data(TensorData::new(v, shape), device))
    }

    /// A PyTorch `nn.Linear` weight `[out, in]` transposed to Burn's `[in, out]`.
    pub fn linear_weight(
        &self,
        name: &str,
        d_in: usize,
        d_out: usize,
        device: &Device,
    ) -> Result<Tensor<2>> {
        let w = self.host(name, &[d_out, d_in])?;
        Ok(Tensor::from_data(
            TensorData::new(transpose(&w, d_out, d_in), [d_in, d_out]),
            device,
        ))
    }

    /// `name` as a parameter on `device` (recorded for [`Weights::take_record`]).
    pub fn param<const D: usize>(
        &self,
        name: &str,
        shape: [usize; D],
        device: &Device,
    ) -> Result<Param<Tensor<D>>> {
        let p = Param::from_tensor(self.tensor(name, shape, device)?);
        self.record_param(name, p.id, false);
        Ok(p)
    }

    /// A PyTorch `nn.Linear` weight as a Burn `[in, out]` parameter (recorded as transposed).
    pub fn linear_param(
        &self,
        name: &str,
        d_in: usize,
        d_out: usize,
        device: &Device,
    ) -> Result<Param<Tensor<2>>> {
        let p = Param::from_tensor(self.linear_weight(name, d_in, d_out, device)?);
        self.record_param(name, p.id, true);
        Ok(p)
    }

    fn record_param(&self, name: &str, id: ParamId, transposed: bool) {
        self.record.borrow_mut().push(SavedParam {
            name: name.to_string(),
            id,
            transposed,
        });
    }

    /// The parameters loaded so far, in load order (emptied).
    pub fn take_record(&self) -> Vec<SavedParam> {
        std::mem::take(&mut self.record.borrow_mut())
    }

    /// Names present in the checkpoint that no module asked for (the caller passes what it
    /// used), for a warning or a strict check.
    pub fn unused<'a>(&'a self, used: &'a HashMap<String, ()>) -> Vec<&'a str> {
        self.names().filter(|n| !used.contains_key(*n)).collect()
    }
}

/// Row-major `[rows, cols]` -> `[cols, rows]`.
/// Blocked, so both sides stay in cache on the large matrices of a 1B model.
pub(crate) fn transpose(w: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    const B: usize = 32;
    let mut out = vec![0.0f32; w.len()];
    for r0 in (0..rows).step_by(B) {
        for c0 in (0..cols).step_by(B) {
            for r in r0..(r0 + B).min(rows) {
                for c in c0..(c0 + B).min(cols) {
                    out[c * rows + r] = w[r * cols + c];
                }
            }
        }
    }
    out
}

/// A set of named f32 tensors written as one safetensors file (Hugging Face names and
/// layouts), for round trips and for making real-size test checkpoints.
#[derive(Debug, Default)]
pub struct WeightsWriter {
    tensors: BTreeMap<String, (Vec<usize>, Vec<u8>)>,
}

impl WeightsWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add `values` (row-major, f32) under `name`.
    pub fn add(&mut self, name: impl Into<String>, shape: &[usize], values: &[f32]) -> Result<()> {
        let n: usize = shape.iter().product();
        if n != values.len() {
            return Err(Error::Shape(format!(
                "tensor with shape {shape:?} needs {n} values, got {}",
                values.len()
            )));
        }
        let mut bytes = Vec::with_capacity(values.len() * 4);
        for v in values {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        self.tensors.insert(name.into(), (shape.to_vec(), bytes));
        Ok(())
    }

    /// Add a tensor read back from `device`.
    pub fn add_tensor<const D: usize>(
        &mut self,
        name: impl Into<String>,
        t: Tensor<D>,
    ) -> Result<()> {
        let shape = t.dims();
        let v = crate::ops::to_host(t)?;
        self.add(name, &shape, &v)
    }

    /// Write the file atomically (a temporary file renamed into place).
    pub fn write(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = self
            .tensors
            .iter()
            .map(|(name, (shape, bytes))| {
                safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), bytes)
                    .map(|v| (name.clone(), v))
                    .map_err(|e| Error::format(path, format!("tensor {name:?}: {e}")))
            })
            .collect::<Result<_>>()?;
        let mut meta = HashMap::new();
        meta.insert("format".to_string(), "pt".to_string());
        let tmp = path.with_extension("safetensors.tmp");
        safetensors::serialize_to_file(views, Some(meta), &tmp)
            .map_err(|e| Error::format(&tmp, format!("writing safetensors: {e}")))?;
        // The safetensors writer creates its file owner-only; a checkpoint is meant to be
        // shared like any file `save_pretrained` writes.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644))
                .map_err(|e| Error::io(&tmp, e))?;
        }
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::transpose;

    #[test]
    fn blocked_transpose_matches_the_definition() {
        for (rows, cols) in [(1, 1), (3, 70), (65, 33), (40, 40)] {
            let w: Vec<f32> = (0..rows * cols).map(|i| i as f32).collect();
            let t = transpose(&w, rows, cols);
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(t[c * rows + r], w[r * cols + c]);
                }
            }
        }
    }
}
