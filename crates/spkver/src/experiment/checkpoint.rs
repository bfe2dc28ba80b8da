//! The binary's `--model` mode: speaker verification on every layer of a user's pretrained
//! wav2vec2 / HuBERT / WavLM checkpoint and their VoxCeleb-style data, through
//! [`crate::checkpoint::CheckpointSv`]. A measurement, not a reproduction: no plan, no claims.

use crate::checkpoint::{self, CheckpointSv, HeadTraining};
use anyhow::Result;
use ember_core::eval::EvalArgs;
use std::path::PathBuf;

/// What the `--model` mode is asked to run (the binary's flags).
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointArgs {
    /// Local Hugging Face folder (`config.json`, `model.safetensors`, optionally
    /// `preprocessor_config.json`).
    pub model: PathBuf,
    /// `root/<speaker>/**/*.wav`, mono, at the model's sample rate.
    pub wavs: PathBuf,
    /// Trial list, `label enroll.wav test.wav` per line, relative to `wavs`.
    pub trials: PathBuf,
    /// Use only the first N distinct trial utterances (`None`: all).
    pub max_utterances: Option<usize>,
    /// Head training steps; 0 = zero-shot only.
    pub head_steps: usize,
    /// Use at most this many training utterances for the heads.
    pub max_train_utterances: usize,
}

impl CheckpointArgs {
    /// The job these flags describe, seeded with `seed`, with progress bars on.
    pub fn job(&self, seed: u64) -> CheckpointSv {
        let mut job = CheckpointSv::new(&self.model, &self.wavs, &self.trials);
        job.max_utterances = self.max_utterances;
        job.seed = seed;
        job.progress = true;
        job.heads = (self.head_steps > 0).then(|| HeadTraining {
            steps: self.head_steps,
            max_train_utterances: self.max_train_utterances,
            ..HeadTraining::default()
        });
        job
    }
}

/// Runs the job on the device `args` names, logs every layer's and head's EER and writes
/// `report.json`, `report.md` and `sv_layers.png` to `args.out`; returns the report's path.
/// `--config` and `--set` are refused: they change the synthetic eval's plan, not this mode.
pub fn run(args: &EvalArgs, ck: &CheckpointArgs) -> Result<PathBuf> {
    anyhow::ensure!(
        args.config.is_none() && args.overrides.is_empty(),
        "--config and --set change the synthetic eval's plan; they do not apply with --model"
    );
    let (kind, device) = args.setup()?;
    let res = ck.job(args.seed).run(&device)?;
    for l in &res.layers {
        eprintln!(
            "layer {:>2}: EER {:.2}%  minDCF(0.01) {:.3}",
            l.layer,
            l.eer * 100.0,
            l.min_dcf_01
        );
    }
    for h in &res.heads {
        eprintln!(
            "{}: EER {:.2}%  minDCF(0.01) {:.3}",
            h.name,
            h.eer * 100.0,
            h.min_dcf_01
        );
    }
    let header = checkpoint::report_header(kind.name()).with_seed(args.seed);
    let path = res.write_report(header, &args.out)?;
    eprintln!("report {}", path.display());
    Ok(path)
}
