//! `cargo xtask eval soup`: does a Soup-of-Experts instantiate, for free, specialists that
//! beat a generic model of the same size? (paper P5, Ablin et al. 2025). The experiment is
//! [`ember_soup::experiment::soup`].

use clap::Parser;
use ember_core::eval::{EvalArgs, EvalRun};
use ember_soup::experiment::soup::{self, SoupPlan};

/// Soup-of-Experts vs generic and CRISP specialists on a synthetic multi-domain corpus
/// (paper P5): trains a generic model, soups with several expert counts and one CRISP
/// specialist per task on the same token budget, and checks that the soup's specialists
/// beat the generic model, cost milliseconds to instantiate and improve with more experts.
/// Writes report.json, report.md, plan.json and PNG plots to --out.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    eval: EvalArgs,
}

fn main() -> std::process::ExitCode {
    ember_core::eval::exit(run)
}

/// The binary's body; errors are printed by [`ember_core::eval::exit`].
fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let (run, plan) = EvalRun::start::<SoupPlan>(&cli.eval, "soup")?;
    let report = soup::run(&run, &plan)?;
    run.finish(report)?;
    Ok(())
}
