//! The training loop's contracts: resume after an interruption gives the same final weights
//! as an uninterrupted run; a non-finite loss stops the run with a clear error and leaves
//! the last good checkpoint intact; corrupt checkpoints are reported, not panicked on.

use burn::module::Module;
use burn::prelude::*;
use ember_core::loss::masked_cross_entropy_seq;
use ember_core::nn::{Transformer, TransformerConfig};
use ember_core::train::{StepOutput, TrainConfig, Trainer, latest_checkpoint};
use rand::RngExt;
use std::path::PathBuf;

/// Burn's backend RNG is process-global and the test harness runs tests on parallel threads:
/// tests that seed it hold this lock so they do not draw from each other's streams.
static RNG_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
    RNG_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ember-train-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn model(device: &Device) -> Transformer {
    device.seed(3);
    TransformerConfig::new(17, 16, 2, 2, 32, 8)
        .with_causal(true)
        .with_dropout(0.1)
        .init(device)
}

fn cfg(steps: usize) -> TrainConfig {
    TrainConfig::new(steps, 1e-2)
        .with_warmup_steps(3)
        .with_checkpoint_every(Some(5))
        .with_progress(false)
        .with_seed(11)
}

/// One LM step on a random batch drawn from the trainer's RNG.
fn lm_step(
    model: &Transformer,
    rng: &mut rand_chacha::ChaCha8Rng,
    device: &Device,
) -> ember_core::Result<StepOutput> {
    let ids: Vec<i64> = (0..4 * 8).map(|_| rng.random_range(0..17)).collect();
    let x = Tensor::<1, Int>::from_data(TensorData::new(ids, [32]), device).reshape([4, 8]);
    let logits = model.logits(x.clone().slice([0..4, 0..7]), None)?;
    let targets = x.slice([0..4, 1..8]);
    let keep = Tensor::<2, Bool>::from_data(TensorData::new(vec![true; 28], [4, 7]), device);
    Ok(StepOutput::new(
        masked_cross_entropy_seq(logits, targets, keep)?,
        28,
    ))
}

fn weights(m: &Transformer) -> Vec<f32> {
    // Compare through the embedding and the logits of a fixed input: covers every layer.
    let d = m.devices()[0].clone();
    let x = Tensor::<1, Int>::arange(0..8, &d).reshape([1, 8]);
    let mut v: Vec<f32> = m
        .valid()
        .logits(x, None)
        .unwrap()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    v.extend(
        m.token_embedding()
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap(),
    );
    v
}

#[test]
fn resume_after_interruption_gives_identical_weights() {
    let _guard = rng_lock();
    let device = Device::flex().autodiff();

    let full_dir = tmpdir("full");
    let mut full = Trainer::new(model(&device), cfg(20), &device)
        .with_dir(&full_dir)
        .unwrap();
    full.run(|m, rng, _| lm_step(m, rng, &device)).unwrap();
    let reference = weights(full.model());

    // Interrupted at step 12: the closure fails, as a kill would stop the process; the
    // last checkpoint is step 10.
    let dir = tmpdir("resume");
    let mut first = Trainer::new(model(&device), cfg(20), &device)
        .with_dir(&dir)
        .unwrap();
    let err = first
        .run(|m, rng, step| {
            if step == 12 {
                return Err(ember_core::Error::Training("simulated interruption".into()));
            }
            lm_step(m, rng, &device)
        })
        .unwrap_err();
    assert!(err.to_string().contains("simulated"));
    drop(first);

    let mut second = Trainer::new(model(&device), cfg(20), &device)
        .with_dir(&dir)
        .unwrap();
    assert_eq!(second.resume().unwrap(), 10);
    second.run(|m, rng, _| lm_step(m, rng, &device)).unwrap();
    let resumed = weights(second.model());

    assert_eq!(reference.len(), resumed.len());
    let max_diff = reference
        .iter()
        .zip(&resumed)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(
        max_diff <= 1e-6,
        "resumed run differs from uninterrupted run by {max_diff}"
    );

    // The log has one record per logged step, no duplicates from the interrupted part.
    let log = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    let steps: Vec<u64> = log
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["step"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(steps, vec![10, 20]);
}

#[test]
fn nan_loss_stops_with_clear_error_and_keeps_last_checkpoint() {
    let _guard = rng_lock();
    let device = Device::flex().autodiff();
    let dir = tmpdir("nan");
    let mut t = Trainer::new(model(&device), cfg(20), &device)
        .with_dir(&dir)
        .unwrap();
    let err = t
        .run(|m, rng, step| {
            let out = lm_step(m, rng, &device)?;
            if step == 7 {
                return Ok(StepOutput::new(out.loss * f32::NAN, 28));
            }
            Ok(out)
        })
        .unwrap_err()
        .to_string();
    assert!(err.contains("non-finite loss"), "{err}");
    assert!(err.contains("step 8"), "{err}");
    assert!(err.contains("ckpt-00000005"), "{err}");
    assert_eq!(t.step(), 7, "the NaN step must not update the model");
    // The checkpoint on disk is the step-5 one and loads.
    let latest = latest_checkpoint(&dir).unwrap().unwrap();
    assert!(latest.ends_with("ckpt-00000005"));
    let mut again = Trainer::new(model(&device), cfg(20), &device)
        .with_dir(&dir)
        .unwrap();
    assert_eq!(again.resume().unwrap(), 5);
}

#[test]
fn corrupt_checkpoint_is_an_error() {
    let _guard = rng_lock();
    let device = Device::flex().autodiff();
    let dir = tmpdir("corrupt");
    let mut t = Trainer::new(model(&device), cfg(5), &device)
        .with_dir(&dir)
        .unwrap();
    t.run(|m, rng, _| lm_step(m, rng, &device)).unwrap();
    let ckpt = latest_checkpoint(&dir).unwrap().unwrap();
    std::fs::write(ckpt.join("state.json"), b"{not json").unwrap();
    let mut again = Trainer::new(model(&device), cfg(5), &device)
        .with_dir(&dir)
        .unwrap();
    let err = again.resume().unwrap_err().to_string();
    assert!(err.contains("corrupt checkpoint state"), "{err}");

    std::fs::write(dir.join("LATEST"), b"elsewhere").unwrap();
    let err = latest_checkpoint(&dir).unwrap_err().to_string();
    assert!(err.contains("not a checkpoint directory"), "{err}");
}

#[test]
fn training_reduces_loss() {
    let _guard = rng_lock();
    let device = Device::flex().autodiff();
    let mut t = Trainer::new(model(&device), cfg(60).with_checkpoint_every(None), &device);
    // A learnable task: next token = current + 1 (mod 17).
    let summary = t
        .run(|m, rng, _| {
            let starts: Vec<i64> = (0..4).map(|_| rng.random_range(0..17)).collect();
            let ids: Vec<i64> = starts
                .iter()
                .flat_map(|&s| (0..8).map(move |i| (s + i) % 17))
                .collect();
            let x =
                Tensor::<1, Int>::from_data(TensorData::new(ids, [32]), &device).reshape([4, 8]);
            let logits = m.logits(x.clone().slice([0..4, 0..7]), None)?;
            let keep =
                Tensor::<2, Bool>::from_data(TensorData::new(vec![true; 28], [4, 7]), &device);
            Ok(StepOutput::new(
                masked_cross_entropy_seq(logits, x.slice([0..4, 1..8]), keep)?,
                28,
            ))
        })
        .unwrap();
    assert!(
        summary.final_loss < 1.0,
        "loss after 60 steps: {}",
        summary.final_loss
    );
}

/// A finished 5-step run with its checkpoint; returns the run directory and the checkpoint.
fn checkpointed_run(name: &str, device: &Device) -> (PathBuf, PathBuf) {
    let dir = tmpdir(name);
    let mut t = Trainer::new(model(device), cfg(5), device)
        .with_dir(&dir)
        .unwrap();
    t.run(|m, rng, _| lm_step(m, rng, device)).unwrap();
    let ckpt = latest_checkpoint(&dir).unwrap().unwrap();
    (dir, ckpt)
}

/// Resumes a fresh trainer from `dir`; on error, checks that the trainer is unchanged.
fn resume_fails(dir: &std::path::Path, device: &Device) -> String {
    let mut t = Trainer::new(model(device), cfg(5), device)
        .with_dir(dir)
        .unwrap();
    let before = weights(t.model());
    let err = t.resume().map(|s| format!("resumed at step {s}"));
    let err = match err {
        Ok(s) => panic!("resume succeeded on a damaged checkpoint: {s}"),
        Err(e) => e.to_string(),
    };
    assert_eq!(t.step(), 0, "a failed resume changed the step");
    assert_eq!(
        weights(t.model()),
        before,
        "a failed resume changed the model"
    );
    err
}

#[test]
fn every_single_byte_corruption_or_a_swap_is_detected_and_changes_nothing() {
    let _guard = rng_lock();
    let device = Device::flex().autodiff();
    let (dir, ckpt) = checkpointed_run("bytes", &device);
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(5);
    let mut tried = 0;
    for name in ["model.bpk", "optim.bpk"] {
        let path = ckpt.join(name);
        let good = std::fs::read(&path).unwrap();
        // The header, the tail, and random positions in between.
        let mut positions: Vec<usize> = (0..64).chain(good.len() - 64..good.len()).collect();
        positions.extend((0..120).map(|_| rng.random_range(0..good.len())));
        for at in positions {
            let mut bad = good.clone();
            bad[at] ^= rng.random_range(1..=255u8);
            std::fs::write(&path, &bad).unwrap();
            let err = resume_fails(&dir, &device);
            assert!(err.contains(name), "byte {at} of {name}: {err}");
            tried += 1;
        }
        std::fs::write(&path, &good).unwrap();
    }
    // The two files swapped.
    let (m, o) = (ckpt.join("model.bpk"), ckpt.join("optim.bpk"));
    let (mb, ob) = (std::fs::read(&m).unwrap(), std::fs::read(&o).unwrap());
    std::fs::write(&m, &ob).unwrap();
    std::fs::write(&o, &mb).unwrap();
    let err = resume_fails(&dir, &device);
    assert!(err.contains("damaged or replaced"), "{err}");
    std::fs::write(&m, &mb).unwrap();
    std::fs::write(&o, &ob).unwrap();
    assert_eq!(tried, 2 * (128 + 120));
    // Restored, it resumes.
    let mut t = Trainer::new(model(&device), cfg(5), &device)
        .with_dir(&dir)
        .unwrap();
    assert_eq!(t.resume().unwrap(), 5);
}

#[test]
fn damaged_state_is_detected_before_anything_is_loaded() {
    let _guard = rng_lock();
    let device = Device::flex().autodiff();
    let (dir, ckpt) = checkpointed_run("state", &device);
    let path = ckpt.join("state.json");
    let good = std::fs::read_to_string(&path).unwrap();

    // A different step with the file still valid JSON: caught by the state's checksum.
    let edited = good.replacen("\"step\": 5", "\"step\": 4", 1);
    assert_ne!(edited, good);
    std::fs::write(&path, &edited).unwrap();
    let err = resume_fails(&dir, &device);
    assert!(err.contains("checksum mismatch"), "{err}");

    // Non-ASCII characters in the RNG seed used to panic on byte slicing.
    let v: serde_json::Value = serde_json::from_str(&good).unwrap();
    let mut state: ember_core::train::CheckpointState = serde_json::from_value(v).unwrap();
    state.rng_seed = "é".repeat(32);
    let err = state.rng().unwrap_err().to_string();
    assert!(err.contains("64 hex digits"), "{err}");

    // A format-1 checkpoint (no digests) is refused with a version error.
    std::fs::write(&path, good.replacen("\"format\": 2", "\"format\": 1", 1)).unwrap();
    let err = resume_fails(&dir, &device);
    assert!(err.contains("checkpoint format 1"), "{err}");
    std::fs::write(&path, &good).unwrap();
}

#[test]
fn latest_may_not_leave_the_run_directory() {
    let _guard = rng_lock();
    let device = Device::flex().autodiff();
    let (dir, _ckpt) = checkpointed_run("escape", &device);
    // A real checkpoint directory outside the run directory, reachable through `..`.
    let (other, _) = checkpointed_run("escape-other", &device);
    let outside = format!(
        "../{}/ckpt-00000005",
        other.file_name().unwrap().to_str().unwrap()
    );
    assert!(dir.join(&outside).is_dir());
    for pointer in [
        outside.as_str(),
        "ckpt-00000005/../ckpt-00000005",
        "/tmp",
        "ckpt-",
    ] {
        std::fs::write(dir.join("LATEST"), pointer).unwrap();
        let err = latest_checkpoint(&dir).unwrap_err().to_string();
        assert!(
            err.contains("not a checkpoint directory"),
            "{pointer}: {err}"
        );
    }
}
