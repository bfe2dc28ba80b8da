//! `cargo xtask eval core`: train ember-core's Transformer as a causal LM on synthlang; the
//! experiment is [`ember_core::experiment`].

use clap::Parser;
use ember_core::eval::{EvalArgs, EvalRun};
use ember_core::experiment::{self, CorePlan};

/// Train a causal Transformer LM on synthetic languages; report held-out loss vs n-gram
/// baselines and training throughput.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    eval: EvalArgs,
}

fn main() -> std::process::ExitCode {
    ember_core::eval::exit(|| {
        let cli = Cli::parse();
        let (run, plan) = EvalRun::start::<CorePlan>(&cli.eval, "core")?;
        let report = experiment::run(&run, &plan)?;
        run.finish(report)?;
        Ok(())
    })
}
