//! `cargo xtask eval spkver`: can the downstream model be removed for speaker verification on
//! self-supervised features? The experiment is [`ember_spkver::experiment`]; `--model` runs
//! the same measurements on your own checkpoint ([`ember_spkver::experiment::checkpoint`]).

use anyhow::Context;
use clap::Parser;
use ember_core::eval::{EvalArgs, EvalRun};
use ember_spkver::checkpoint::HeadTraining;
use ember_spkver::experiment::checkpoint::{self, CheckpointArgs};
use ember_spkver::experiment::{self, SpkverPlan};
use std::path::PathBuf;

/// Speaker verification with SSL features (paper P10): the SUPERB x-vector baseline vs the
/// simplified head on synthetic speakers and a tiny HuBERT-style encoder pre-trained here
/// (zero-shot per-layer scoring, data efficiency, log-mel control); or, with --model, on
/// your own checkpoint and VoxCeleb-style data.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    eval: EvalArgs,
    /// Instead of the synthetic eval: speaker verification on every layer of your own
    /// wav2vec2 / HuBERT / WavLM checkpoint, a local Hugging Face folder (config.json,
    /// model.safetensors, optionally preprocessor_config.json). Needs --wavs and --trials;
    /// writes report.json, report.md and sv_layers.png to --out.
    #[arg(long, value_name = "DIR", requires_all = ["wavs", "trials"])]
    model: Option<PathBuf>,
    /// With --model: VoxCeleb-style tree root/<speaker>/**/*.wav (mono, at the model's sample
    /// rate). Speakers no trial names train the heads.
    #[arg(long, value_name = "DIR", requires = "model")]
    wavs: Option<PathBuf>,
    /// With --model: trial list, `label enroll.wav test.wav` per line, paths relative to --wavs.
    #[arg(long, value_name = "FILE", requires = "model")]
    trials: Option<PathBuf>,
    /// With --model: use only the first N distinct trial utterances (default: all).
    #[arg(long, value_name = "N", requires = "model")]
    max_utterances: Option<usize>,
    /// With --model: head training steps; 0 = zero-shot only.
    #[arg(long, value_name = "N", default_value_t = HeadTraining::default().steps)]
    head_steps: usize,
    /// With --model: use at most N training utterances for the heads.
    #[arg(long, value_name = "N", default_value_t = HeadTraining::default().max_train_utterances)]
    max_train_utterances: usize,
}

fn main() -> std::process::ExitCode {
    ember_core::eval::exit(run)
}

/// The binary's body; errors are printed by [`ember_core::eval::exit`].
fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(model) = cli.model {
        let ck = CheckpointArgs {
            model,
            wavs: cli.wavs.context("--model needs --wavs")?,
            trials: cli.trials.context("--model needs --trials")?,
            max_utterances: cli.max_utterances,
            head_steps: cli.head_steps,
            max_train_utterances: cli.max_train_utterances,
        };
        checkpoint::run(&cli.eval, &ck)?;
        return Ok(());
    }
    let (run, plan) = EvalRun::start::<SpkverPlan>(&cli.eval, "spkver")?;
    let report = experiment::run(&run, &plan)?;
    run.finish(report)?;
    Ok(())
}
