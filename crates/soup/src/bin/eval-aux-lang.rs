//! `cargo xtask eval aux-lang`: the offline reproduction of paper P6 (auxiliary-language
//! data for a data-constrained target language; spec §5.2) on a synthetic fact world. The
//! experiment is [`ember_soup::experiment::aux_lang`].

use clap::Parser;
use ember_core::eval::{EvalArgs, EvalRun};
use ember_soup::experiment::aux_lang::{self, AuxLangPlan};

/// Train tiny causal LMs on synthetic bilingual fact corpora (auxiliary language A + scarce
/// target language T) and check paper P6's claims: auxiliary data helps close languages more
/// than far ones, better auxiliary data helps the target, and a larger model overfits the
/// scarce target data. Writes report.json, report.md, plan.json and PNG plots to --out.
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
    let (run, plan) = EvalRun::start::<AuxLangPlan>(&cli.eval, "aux-lang")?;
    let report = aux_lang::run(&run, &plan)?;
    run.finish(report)?;
    Ok(())
}
