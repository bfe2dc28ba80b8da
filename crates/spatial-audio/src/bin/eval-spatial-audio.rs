//! `cargo xtask eval spatial-audio`; the experiment is [`ember_spatial_audio::experiment`].

use clap::Parser;
use ember_core::eval::{EvalArgs, EvalRun};
use ember_spatial_audio::experiment::{self, SpatialAudioPlan};

/// ELSA (Devnani et al., NeurIPS 2024), spatially-aware audio-text embeddings: procedural
/// sound events are rendered to first-order ambisonics in random shoebox rooms (image sources
/// plus a diffuse tail) and captioned with their direction, distance, room size and
/// reverberation. A two-branch audio encoder (log-mel + intensity vectors) trained with
/// InfoNCE and spatial heads is compared with a semantic-only baseline on mono retrieval,
/// spatial-caption retrieval and localisation (against the no-learning intensity-vector
/// estimate). Sizes: `--set KEY=VALUE` on the plan (`train_clips`, `steps`, `max_order`, ...).
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    eval: EvalArgs,
}

fn main() -> std::process::ExitCode {
    ember_core::eval::exit(|| {
        let cli = Cli::parse();
        let (run, plan) = EvalRun::start::<SpatialAudioPlan>(&cli.eval, "spatial-audio")?;
        let report = experiment::run(&run, &plan)?;
        run.finish(report)?;
        Ok(())
    })
}
