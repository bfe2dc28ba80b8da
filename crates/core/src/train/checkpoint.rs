//! Atomic checkpoints: `ckpt-<step>/{model.bpk, optim.bpk, state.json}` plus a `LATEST`
//! pointer. A checkpoint is written into a hidden temporary directory and renamed into place,
//! then `LATEST` is replaced by rename, so an interrupted write never leaves a half
//! checkpoint that `resume` would pick up.

use super::TrainConfig;
use crate::error::{Error, Result};
use burn::module::Module;
use burn::optim::{ModuleOptimizer, OptimizerRecord};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

const LATEST: &str = "LATEST";
const FORMAT: u32 = 1;

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
        }
    }

    /// Rebuild the host RNG exactly where it was.
    pub fn rng(&self) -> Result<ChaCha8Rng> {
        let bad = |m: &str| Error::Training(format!("checkpoint RNG state: {m}"));
        if self.rng_seed.len() != 64 {
            return Err(bad("seed must be 64 hex digits"));
        }
        let mut seed = [0u8; 32];
        for (i, b) in seed.iter_mut().enumerate() {
            *b = u8::from_str_radix(&self.rng_seed[2 * i..2 * i + 2], 16)
                .map_err(|_| bad("seed is not hex"))?;
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
        .save_file(tmp.join("model.bpk"))
        .map_err(|e| rec_err("model", e))?;
    optim
        .to_record()
        .save(tmp.join("optim.bpk"))
        .map_err(|e| rec_err("optimizer", e))?;
    let json = serde_json::to_vec_pretty(state)
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
    let path = dir.join(&name);
    if !name.starts_with("ckpt-") || !path.is_dir() {
        return Err(Error::format(
            &pointer,
            format!("points to `{name}`, which is not a checkpoint directory"),
        ));
    }
    Ok(Some(path))
}

/// Load model, optimizer and state from a checkpoint directory.
pub(crate) fn load<M: Module>(
    ckpt: &Path,
    model: M,
    optim: ModuleOptimizer,
    _cfg: &TrainConfig,
) -> Result<(M, ModuleOptimizer, CheckpointState)> {
    let state_path = ckpt.join("state.json");
    let bytes = std::fs::read(&state_path).map_err(|e| Error::io(&state_path, e))?;
    let state: CheckpointState = serde_json::from_slice(&bytes)
        .map_err(|e| Error::format(&state_path, format!("corrupt checkpoint state: {e}")))?;
    if state.format != FORMAT {
        return Err(Error::format(
            &state_path,
            format!(
                "checkpoint format {} (this build reads {FORMAT})",
                state.format
            ),
        ));
    }
    let model = model
        .try_load_file(ckpt.join("model.bpk"))
        .map_err(|e| Error::format(ckpt.join("model.bpk"), format!("{e:?}")))?;
    let record = OptimizerRecord::load(ckpt.join("optim.bpk"))
        .map_err(|e| Error::format(ckpt.join("optim.bpk"), format!("{e:?}")))?;
    Ok((model, optim.load_record(record), state))
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
