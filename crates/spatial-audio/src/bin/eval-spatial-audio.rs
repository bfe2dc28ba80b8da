//! `cargo xtask eval spatial-audio`; the experiment is [`ember_spatial_audio::experiment`],
//! the user-data mode [`ember_spatial_audio::experiment::user_data`].

use clap::Parser;
use ember_core::eval::{EvalArgs, EvalRun};
use ember_spatial_audio::experiment::user_data::{self, UserDataPlan};
use ember_spatial_audio::experiment::{self, SpatialAudioPlan};
use std::path::PathBuf;

/// ELSA (Devnani et al., NeurIPS 2024), spatially-aware audio-text embeddings: procedural
/// sound events are rendered to first-order ambisonics in random shoebox rooms (image sources
/// plus a diffuse tail) and captioned with their direction, distance, room size and
/// reverberation. A two-branch audio encoder (log-mel + intensity vectors) trained with
/// InfoNCE and spatial heads is compared with a semantic-only baseline on mono retrieval,
/// spatial-caption retrieval and localisation (against the no-learning intensity-vector
/// estimate). Sizes: `--set KEY=VALUE` on the plan (`train_clips`, `steps`, `max_order`, ...).
///
/// With `--data DIR` it instead trains ELSA on your own clips: DIR holds `captions.csv`
/// (columns `file,caption`, file names relative to DIR) and the 4-channel FOA WAV files
/// (ACN/SN3D, 16 kHz) it names; files are split into training and held-out ones and
/// retrieval R@1/5/10 both ways on the held-out files goes to `--out`/report.json. Add
/// `--model DIR` to use a Hugging Face BERT-style encoder (config.json, model.safetensors,
/// tokenizer.json) as the text tower. That mode's plan keys: `steps`, `batch`, `lr`,
/// `clip_s`, `heldout_fraction`, `d_embed`, `max_tokens`, ...; `--resume` continues it.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    eval: EvalArgs,
    /// A folder with `captions.csv` (file,caption) and the FOA WAV files it names: train
    /// and evaluate on it instead of the reproduction.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// A Hugging Face text-encoder folder (BERT-style, with tokenizer.json) to use as the
    /// text tower with --data (default: ember's Transformer over the captions' words).
    #[arg(long, value_name = "DIR", requires = "data")]
    model: Option<PathBuf>,
}

fn main() -> std::process::ExitCode {
    ember_core::eval::exit(|| {
        let cli = Cli::parse();
        if let Some(data) = &cli.data {
            let (run, plan) = EvalRun::start::<UserDataPlan>(&cli.eval, "spatial-audio-user")?;
            let report = user_data::run(&run, &plan, data, cli.model.as_deref())?;
            run.finish(report)?;
            return Ok(());
        }
        let (run, plan) = EvalRun::start::<SpatialAudioPlan>(&cli.eval, "spatial-audio")?;
        let report = experiment::run(&run, &plan)?;
        run.finish(report)?;
        Ok(())
    })
}
