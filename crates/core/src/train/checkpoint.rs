//! Atomic checkpoints: `ckpt-<step>/{model.bpk, optim.bpk, state.json}` plus a `LATEST`
//! pointer. A checkpoint is written into a hidden temporary directory and renamed into place,
//! then `LATEST` is replaced by rename, so an interrupted write never leaves a half
//! checkpoint that `resume` would pick up.
//!
//! `state.json`, written last, records the size and CRC-32 of both tensor files and a CRC-32
//! of its own fields. Loading verifies all of them before anything is decoded, so a damaged
//! byte anywhere (CRC-32 detects every error burst up to 32 bits) or the two files swapped is
//! an error naming the file, never a silently different run.

use super::TrainConfig;
use crate::error::{Error, Result};
use burn::module::Module;
use burn::optim::{ModuleOptimizer, OptimizerRecord};
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const LATEST: &str = "LATEST";
/// Format 2 added file digests and the state's own checksum; format 1 is refused (it cannot
/// be verified).
const FORMAT: u32 = 2;
const MODEL_FILE: &str = "model.bpk";
const OPTIM_FILE: &str = "optim.bpk";

/// Size and CRC-32 of one checkpoint file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    /// Length in bytes.
    pub size: u64,
    /// CRC-32 (IEEE) of the contents, 8 hex digits.
    pub crc32: String,
}

impl FileDigest {
    fn of(bytes: &[u8]) -> Self {
        Self {
            size: bytes.len() as u64,
            crc32: format!("{:08x}", crc32fast::hash(bytes)),
        }
    }
}

/// The non-tensor state of a checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointState {
    /// Format version of this file.
    pub format: u32,
    /// Steps completed.
    pub step: usize,
    /// Host RNG: ChaCha8 seed (hex), stream and word position (decimal string: it is a u128).
    pub rng_seed: String,
    /// ChaCha8 stream id.
    pub rng_stream: u64,
    /// ChaCha8 word position.
    pub rng_word_pos: String,
    /// The training configuration, for the record.
    pub config: serde_json::Value,
    /// Digest of each tensor file, by file name.
    pub files: BTreeMap<String, FileDigest>,
    /// CRC-32 of the fields a resume uses (format, step, RNG, file digests), so damage to any
    /// of them is detected. `config` is for the record only and not covered: its floats need
    /// not survive a JSON round trip bit for bit.
    pub checksum: String,
}

impl CheckpointState {
    pub(crate) fn new(step: usize, rng: &ChaCha8Rng, cfg: &TrainConfig) -> Self {
        Self {
            format: FORMAT,
            step,
            rng_seed: rng.get_seed().iter().map(|b| format!("{b:02x}")).collect(),
            rng_stream: rng.get_stream(),
            rng_word_pos: rng.get_word_pos().to_string(),
            config: serde_json::to_value(cfg).unwrap_or(serde_json::Value::Null),
            files: BTreeMap::new(),
            checksum: String::new(),
        }
    }

    /// CRC-32 of the canonical JSON of the fields a resume uses (integers and strings only,
    /// which round-trip exactly).
    fn compute_checksum(&self) -> Result<String> {
        let covered = (
            self.format,
            self.step,
            &self.rng_seed,
            self.rng_stream,
            &self.rng_word_pos,
            &self.files,
        );
        let bytes = serde_json::to_vec(&covered)
            .map_err(|e| Error::Training(format!("encode checkpoint state: {e}")))?;
        Ok(format!("{:08x}", crc32fast::hash(&bytes)))
    }

    /// Rebuild the host RNG exactly where it was.
    pub fn rng(&self) -> Result<ChaCha8Rng> {
        let bad = |m: &str| Error::Training(format!("checkpoint RNG state: {m}"));
        // Checked as bytes first: slicing a string with multi-byte characters would panic.
        let hex = self.rng_seed.as_bytes();
        if hex.len() != 64 || !hex.iter().all(u8::is_ascii_hexdigit) {
            return Err(bad("seed must be 64 hex digits"));
        }
        let mut seed = [0u8; 32];
        for (b, pair) in seed.iter_mut().zip(hex.chunks_exact(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| bad("seed is not hex"))?;
            *b = u8::from_str_radix(pair, 16).map_err(|_| bad("seed is not hex"))?;
        }
        let mut rng = ChaCha8Rng::from_seed(seed);
        rng.set_stream(self.rng_stream);
        rng.set_word_pos(
            self.rng_word_pos
                .parse::<u128>()
                .map_err(|_| bad("word position is not an integer"))?,
        );
        Ok(rng)
    }
}

fn ckpt_name(step: usize) -> String {
    format!("ckpt-{step:08}")
}

/// Write a checkpoint atomically and prune old ones; returns its directory.
pub(crate) fn save<M: Module>(
    dir: &Path,
    model: &M,
    optim: &ModuleOptimizer,
    state: &CheckpointState,
    keep: usize,
) -> Result<PathBuf> {
    let mut state = state.clone();
    let name = ckpt_name(state.step);
    let final_dir = dir.join(&name);
    let tmp = dir.join(format!(".{name}.tmp"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    // Burn keeps a step's BatchNorm running-statistics update pending until the next forward
    // pass or `valid()`; without this sync a checkpoint at step s would hold the statistics of
    // step s − 1 and a resumed run would diverge (found by ember-proxy-fda's resume test).
    // `valid()` copies tensor handles, not data.
    let _ = model.valid();
    let rec_err = |what: &str, e: burn::store::RecordError| {
        Error::Training(format!(
            "writing {what} checkpoint in {}: {e:?}",
            tmp.display()
        ))
    };
    model
        .clone()
        .save_file(tmp.join(MODEL_FILE))
        .map_err(|e| rec_err("model", e))?;
    optim
        .to_record()
        .save(tmp.join(OPTIM_FILE))
        .map_err(|e| rec_err("optimizer", e))?;
    state.files.clear();
    for name in [MODEL_FILE, OPTIM_FILE] {
        let path = tmp.join(name);
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        state.files.insert(name.to_string(), FileDigest::of(&bytes));
    }
    state.checksum = state.compute_checksum()?;
    let json = serde_json::to_vec_pretty(&state)
        .map_err(|e| Error::Training(format!("encode checkpoint state: {e}")))?;
    write_synced(&tmp.join("state.json"), &json)?;
    if final_dir.exists() {
        std::fs::remove_dir_all(&final_dir).map_err(|e| Error::io(&final_dir, e))?;
    }
    std::fs::rename(&tmp, &final_dir).map_err(|e| Error::io(&final_dir, e))?;
    atomic_write(&dir.join(LATEST), name.as_bytes())?;
    prune(dir, keep.max(1))?;
    Ok(final_dir)
}

/// Write `bytes` to `path` via a synced temporary file and a rename.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    write_synced(&tmp, bytes)?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    f.write_all(bytes).map_err(|e| Error::io(path, e))?;
    f.sync_all().map_err(|e| Error::io(path, e))
}

fn prune(dir: &Path, keep: usize) -> Result<()> {
    let mut ckpts: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("ckpt-"))
        })
        .collect();
    ckpts.sort();
    let n = ckpts.len();
    for old in ckpts.into_iter().take(n.saturating_sub(keep)) {
        std::fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
    }
    Ok(())
}

/// The checkpoint `LATEST` points to in `dir`, if any.
pub fn latest_checkpoint(dir: &Path) -> Result<Option<PathBuf>> {
    let pointer = dir.join(LATEST);
    let name = match std::fs::read_to_string(&pointer) {
        Ok(s) => s.trim().to_string(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&pointer, e)),
    };
    // Only a plain `ckpt-<digits>` name: never a path that leaves the run directory.
    let well_formed = name
        .strip_prefix("ckpt-")
        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
    let path = dir.join(&name);
    if !well_formed || !path.is_dir() {
        return Err(Error::format(
            &pointer,
            format!("points to `{name}`, which is not a checkpoint directory"),
        ));
    }
    Ok(Some(path))
}

/// Read and verify a checkpoint's state and files, without decoding any tensor.
///
/// Returns the state and the verified bytes of the model and optimizer files, so nothing is
/// read twice and nothing can change between the check and the decode.
fn read_verified(ckpt: &Path) -> Result<(CheckpointState, Vec<u8>, Vec<u8>)> {
    let state_path = ckpt.join("state.json");
    let bytes = std::fs::read(&state_path).map_err(|e| Error::io(&state_path, e))?;
    // The format is checked first, so an older checkpoint gets a version error rather than a
    // missing-field one.
    let format = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("format").and_then(|f| f.as_u64()));
    if let Some(f) = format.filter(|&f| f != u64::from(FORMAT)) {
        return Err(Error::format(
            &state_path,
            format!(
                "checkpoint format {f} (this build reads {FORMAT}; format 1 had no checksums, start the run afresh)"
            ),
        ));
    }
    let state: CheckpointState = serde_json::from_slice(&bytes)
        .map_err(|e| Error::format(&state_path, format!("corrupt checkpoint state: {e}")))?;
    if state.checksum != state.compute_checksum()? {
        return Err(Error::format(
            &state_path,
            "corrupt checkpoint state: checksum mismatch (the file was changed after it was written)",
        ));
    }
    state.rng()?;
    let read = |name: &str| -> Result<Vec<u8>> {
        let path = ckpt.join(name);
        let want = state.files.get(name).ok_or_else(|| {
            Error::format(
                &state_path,
                format!("corrupt checkpoint state: no digest for {name}"),
            )
        })?;
        let meta = std::fs::metadata(&path).map_err(|e| Error::io(&path, e))?;
        if meta.len() != want.size {
            return Err(Error::format(
                &path,
                format!(
                    "{} bytes, the checkpoint recorded {}: the file is damaged or replaced",
                    meta.len(),
                    want.size
                ),
            ));
        }
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let got = FileDigest::of(&bytes);
        if got != *want {
            return Err(Error::format(
                &path,
                format!(
                    "CRC-32 {}, the checkpoint recorded {}: the file is damaged or replaced",
                    got.crc32, want.crc32
                ),
            ));
        }
        Ok(bytes)
    };
    let model = read(MODEL_FILE)?;
    let optim = read(OPTIM_FILE)?;
    Ok((state, model, optim))
}

/// Load model, optimizer and state from a checkpoint directory.
///
/// Everything is verified and decoded into new values before this returns; the caller swaps
/// them in only on success, so a failed load changes nothing.
pub(crate) fn load<M: Module>(
    ckpt: &Path,
    model: M,
    optim: ModuleOptimizer,
) -> Result<(M, ModuleOptimizer, CheckpointState, ChaCha8Rng)> {
    let (state, model_bytes, optim_bytes) = read_verified(ckpt)?;
    let rng = state.rng()?;
    let model_path = ckpt.join(MODEL_FILE);
    let model = ModuleRecord::from_bytes(Bytes::from_bytes_vec(model_bytes))
        .and_then(|record| model.try_load_record(record))
        .map_err(|e| Error::format(&model_path, format!("{e:?}")))?;
    let optim_path = ckpt.join(OPTIM_FILE);
    let record = OptimizerRecord::from_bytes(Bytes::from_bytes_vec(optim_bytes))
        .map_err(|e| Error::format(&optim_path, format!("{e:?}")))?;
    Ok((model, optim.load_record(record), state, rng))
}

/// Drop log lines past `step`, so a resumed run's log has no duplicates.
pub(crate) fn truncate_log(path: &Path, step: usize) -> Result<()> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(path, e)),
    };
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .ok()
                .and_then(|v| v.get("step").and_then(|s| s.as_u64()))
                .is_some_and(|s| s as usize <= step)
        })
        .collect();
    let mut out = kept.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    atomic_write(path, out.as_bytes())
}
