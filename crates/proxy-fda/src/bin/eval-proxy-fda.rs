//! `cargo xtask eval proxy-fda`: concept forgetting when fine-tuning a small pre-trained CNN
//! with naive FT, LP-FT, L2-SP, LDIFS, FDA, Proxy-FDA and WiSE-FT; or, with `--model`, the
//! same methods on your own CLIP checkpoint. The experiment is
//! [`ember_proxy_fda::experiment`].

use anyhow::Context;
use clap::Parser;
use ember_core::eval::{EvalArgs, EvalRun};
use ember_proxy_fda::FtMethod;
use ember_proxy_fda::checkpoint::CheckpointFt;
use ember_proxy_fda::experiment::{self, ProxyFdaPlan};
use std::path::PathBuf;

/// Proxy-FDA against concept forgetting. By default: render synthetic images (shapes ×
/// colours × textures × sizes), pre-train a small CNN on colour, texture, size and coarse
/// shape, fine-tune it on the fine shape with naive FT, LP-FT, L2-SP, LDIFS, FDA, Proxy-FDA
/// (λ grids) and WiSE-FT, and report fine-tuning accuracy, forgetting (Δ linear-probe accuracy
/// on the prior tasks), OT and L2 feature distances and the paper's three claims. Sizes are
/// plan keys: side, n_pre, n_ft, n_probe, pre_steps, ft_steps, lp_steps, seeds, lambdas
/// (`--set ft_steps=100`).
///
/// With --model DIR --data DIR: fine-tune the image tower of your own CLIP checkpoint on your
/// images with each --method instead, and report test accuracy, feature drift and (with
/// --probe) forgetting; no claims are judged.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    eval: EvalArgs,
    /// Instead of the synthetic eval: fine-tune the image tower of your own CLIP checkpoint, a
    /// local Hugging Face folder (config.json of a `clip` or `clip_vision_model`,
    /// model.safetensors, optionally preprocessor_config.json), on --data with each --method;
    /// writes report.json and report.md to --out.
    #[arg(long, value_name = "DIR", requires = "data")]
    model: Option<PathBuf>,
    /// With --model: fine-tuning images, root/<class>/<image>.{png,jpg,jpeg}.
    #[arg(long, value_name = "DIR", requires = "model")]
    data: Option<PathBuf>,
    /// With --model: test images with the same class folders (default: hold out --holdout of
    /// each class of --data).
    #[arg(long, value_name = "DIR", requires = "model")]
    test: Option<PathBuf>,
    /// With --model and no --test: fraction of each class held out for testing.
    #[arg(long, value_name = "F", default_value_t = 0.2)]
    holdout: f64,
    /// With --model: another labelled ImageFolder; its linear-probe accuracy before and after
    /// fine-tuning measures forgetting.
    #[arg(long, value_name = "DIR", requires = "model")]
    probe: Option<PathBuf>,
    /// With --model: methods to run, repeatable: naive, lp-ft, l2sp=λ, ldifs=λ, fda=λ,
    /// proxy-fda=λ (default: naive, lp-ft, fda=1, proxy-fda=1).
    #[arg(long = "method", value_name = "M")]
    methods: Vec<FtMethod>,
    /// With --model: fine-tuning steps per method.
    #[arg(long, value_name = "N", default_value_t = 200)]
    steps: usize,
    /// With --model: peak learning rate of fine-tuning.
    #[arg(long, value_name = "LR", default_value_t = 1e-5)]
    lr: f64,
    /// With --model: classes per batch × images per class.
    #[arg(long, value_name = "M", default_value_t = 8)]
    classes_per_batch: usize,
    /// With --model: images per class in a batch.
    #[arg(long, value_name = "N", default_value_t = 4)]
    per_class: usize,
}

fn main() -> std::process::ExitCode {
    ember_core::eval::exit(run)
}

/// The binary's body; errors are printed by [`ember_core::eval::exit`].
fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(model) = cli.model {
        let data = cli.data.context("--model needs --data")?;
        let mut job = CheckpointFt {
            test_dir: cli.test,
            holdout: cli.holdout,
            probe_dir: cli.probe,
            steps: cli.steps,
            lr: cli.lr,
            classes_per_batch: cli.classes_per_batch,
            per_class: cli.per_class,
            progress: true,
            ..CheckpointFt::new(model, data)
        };
        if !cli.methods.is_empty() {
            job.methods = cli.methods;
        }
        experiment::run_checkpoint(&cli.eval, &job)?;
        return Ok(());
    }
    let (run, plan) = EvalRun::start::<ProxyFdaPlan>(&cli.eval, "proxy-fda")?;
    let report = experiment::run(&run, &plan)?;
    run.finish(report)?;
    Ok(())
}
