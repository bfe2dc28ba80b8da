//! `cargo xtask eval aape`; the experiment is [`ember_aape::experiment`].

use clap::Parser;
use ember_aape::checkpoint::CheckpointAape;
use ember_aape::experiment::{self, AapePlan};
use ember_core::eval::{EvalArgs, EvalRun};
use std::path::PathBuf;

/// AAPE (aggregate-and-adapted prompt embeddings, NeurIPS 2024) against zero-shot, CuPL,
/// CoOp, CoCoOp and KgCoOp: a small CLIP is pre-trained on procedural attribute images, each
/// class gets noisy natural-language descriptions, and the prompt learners are trained on
/// few-shot base classes and scored on base, novel (harmonic mean) and a shifted test set,
/// with the λ = 0 and mean-aggregation ablations, over several seeds.
///
/// With `--model DIR --data FOLDER --prompts FILE.json` it instead runs zero-shot, CuPL,
/// CoOp and AAPE on your own CLIP checkpoint, ImageFolder and CuPL prompt file (first half
/// of the classes base, the rest novel) and writes `--out`/aape_result.json.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    eval: EvalArgs,
    /// A Hugging Face CLIP folder (config.json, model.safetensors, tokenizer.json).
    #[arg(long, value_name = "DIR", requires_all = ["data", "prompts"])]
    model: Option<PathBuf>,
    /// An ImageFolder (root/<class>/<image>) for --model.
    #[arg(long, value_name = "FOLDER", requires = "model")]
    data: Option<PathBuf>,
    /// A CuPL prompt file (class name -> list of descriptions) for --model.
    #[arg(long, value_name = "FILE", requires = "model")]
    prompts: Option<PathBuf>,
    /// Training images per base class for --model.
    #[arg(long, default_value_t = 16)]
    shots: usize,
    /// Prompt-learning steps for --model.
    #[arg(long, default_value_t = 200)]
    steps: usize,
}

fn main() -> std::process::ExitCode {
    ember_core::eval::exit(|| {
        let cli = Cli::parse();
        if let (Some(model), Some(data), Some(prompts)) = (&cli.model, &cli.data, &cli.prompts) {
            let (_, device) = cli.eval.setup()?;
            let mut job = CheckpointAape::new(model, data, prompts);
            job.shots = cli.shots;
            job.learn.steps = cli.steps;
            job.learn.checkpoint_every = cli.steps.div_ceil(4).max(1);
            job.learn.seed = cli.eval.seed;
            let result = job.run(&cli.eval.out, &device)?;
            let path = result.write_report(&cli.eval.out)?;
            for m in &result.methods {
                eprintln!(
                    "{:<24} base {:.3} novel {:.3} HM {:.3}",
                    m.method, m.base, m.novel, m.hm
                );
            }
            eprintln!("{}", path.display());
            return Ok(());
        }
        let (run, plan) = EvalRun::start::<AapePlan>(&cli.eval, "aape")?;
        let report = experiment::run(&run, &plan)?;
        run.finish(report)?;
        Ok(())
    })
}
