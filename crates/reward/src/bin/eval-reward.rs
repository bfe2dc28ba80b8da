//! `cargo xtask eval reward`; the experiment is [`ember_reward::experiment`].

use clap::Parser;
use ember_core::eval::{EvalArgs, EvalRun};
use ember_reward::checkpoint::CheckpointDpo;
use ember_reward::experiment::{self, RewardPlan};
use std::path::PathBuf;

/// Implicit (DPO) versus explicit (Bradley-Terry) reward models (Lin et al., EMNLP Findings
/// 2024): in a synthetic preference world with a hidden reward rule, both are trained from
/// the same SFT model on the same pairs, and their preference accuracy is compared in
/// distribution and under five shifts (prompt, response generator, synonyms, length,
/// combined), over several seeds.
///
/// With `--model DIR --data FILE.jsonl` it instead runs DPO on your own causal-LM
/// checkpoint and preference file and reports the implicit reward's accuracy before and
/// after (written to `--out`/dpo_result.json).
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    eval: EvalArgs,
    /// A Hugging Face causal-LM folder (config.json, model.safetensors, tokenizer.json):
    /// run DPO on it instead of the reproduction.
    #[arg(long, value_name = "DIR", requires = "data")]
    model: Option<PathBuf>,
    /// Preference JSONL ({prompt, chosen, rejected}, strings or message lists) for --model.
    #[arg(long, value_name = "FILE", requires = "model")]
    data: Option<PathBuf>,
    /// Reference model folder for --model (default: the starting checkpoint).
    #[arg(long, value_name = "DIR", requires = "model")]
    reference: Option<PathBuf>,
    /// DPO steps for --model.
    #[arg(long, default_value_t = 50)]
    steps: usize,
    /// Peak learning rate for --model.
    #[arg(long, default_value_t = 1e-5)]
    lr: f64,
    /// DPO β for --model.
    #[arg(long, default_value_t = 0.1)]
    beta: f64,
}

fn main() -> std::process::ExitCode {
    ember_core::eval::exit(|| {
        let cli = Cli::parse();
        if let (Some(model), Some(data)) = (&cli.model, &cli.data) {
            let (_, device) = cli.eval.setup()?;
            let mut job = CheckpointDpo::new(model, data);
            job.reference = cli.reference.clone();
            job.dpo.beta = cli.beta;
            job.schedule.steps = cli.steps;
            job.schedule.warmup = cli.steps / 10;
            job.schedule.eval_every = cli.steps.clamp(1, 10);
            job.schedule.lr = cli.lr;
            job.schedule.seed = cli.eval.seed;
            let result = job.run(&cli.eval.out, &device)?;
            let path = result.write_report(&cli.eval.out)?;
            eprintln!(
                "DPO on {}: held-out implicit-reward accuracy {:.3} -> {:.3} (train {:.3}); {}",
                model.display(),
                result.heldout_accuracy_before,
                result.heldout_accuracy_after,
                result.train_accuracy_after,
                path.display()
            );
            return Ok(());
        }
        let (run, plan) = EvalRun::start::<RewardPlan>(&cli.eval, "reward")?;
        let report = experiment::run(&run, &plan)?;
        run.finish(report)?;
        Ok(())
    })
}
