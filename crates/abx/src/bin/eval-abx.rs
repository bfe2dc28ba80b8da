//! `cargo xtask eval abx`: train a small MLM on synthlang monolingual streams, then measure
//! language discrimination (LD) and meaning discrimination (MD) of every layer at log-spaced
//! checkpoints; the experiment is [`ember_abx::experiment`]. With `--model`, the text ABX
//! tasks on every layer of your own checkpoint instead
//! ([`ember_abx::experiment::run_checkpoint`]).

use anyhow::Context;
use clap::Parser;
use ember_abx::checkpoint::CheckpointAbx;
use ember_abx::experiment::{self, AbxPlan};
use ember_core::eval::{EvalArgs, EvalRun};
use std::path::PathBuf;

/// ABX form/meaning discrimination over training of a small multilingual MLM, or on every
/// layer of your own checkpoint with --model.
///
/// Plan keys for --config / --set (e.g. `--set code_switch=0.1`): langs, largest, eval_n,
/// d_model, n_layers, checkpoints, batch, max_len, code_switch, bootstrap; the resolved plan
/// is written to <out>/plan.json.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    eval: EvalArgs,
    /// Instead of the synthetic eval: run the text ABX tasks on every layer of your own
    /// checkpoint, a local Hugging Face folder (config.json, model.safetensors, tokenizer.json;
    /// BERT/RoBERTa/XLM-R/CamemBERT, GPT-2, Llama/Mistral/Qwen2, GPT-NeoX). Needs --flores and
    /// --langs; writes report.json, report.md and plots to --out.
    #[arg(long, value_name = "DIR", requires_all = ["flores", "langs"])]
    model: Option<PathBuf>,
    /// FLORES-style folder for --model: one file per language ({lang}.devtest, .dev or .txt),
    /// line i of every file translating line i of the others.
    #[arg(long, value_name = "DIR", requires = "model")]
    flores: Option<PathBuf>,
    /// Languages for --model, comma-separated file-name codes (at least two), e.g.
    /// eng_Latn,deu_Latn,fra_Latn.
    #[arg(long, value_delimiter = ',', requires = "model")]
    langs: Vec<String>,
    /// With --model: use only the first N sentences of every language (default: all).
    #[arg(long, value_name = "N", requires = "model")]
    max_sentences: Option<usize>,
    /// With --model: truncate sentences to N tokens, special tokens included (default:
    /// min(model max length, 128)).
    #[arg(long, value_name = "N", requires = "model")]
    max_tokens: Option<usize>,
}

fn main() -> std::process::ExitCode {
    ember_core::eval::exit(run)
}

/// The binary's body; errors are printed by [`ember_core::eval::exit`].
fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(model) = &cli.model {
        let flores = cli.flores.clone().context("--model needs --flores")?;
        let job = CheckpointAbx {
            max_sentences: cli.max_sentences,
            max_tokens: cli.max_tokens,
            progress: true,
            ..CheckpointAbx::new(model, flores, cli.langs.clone())
        };
        experiment::run_checkpoint(&cli.eval, &job)?;
        return Ok(());
    }
    let (run, plan) = EvalRun::start::<AbxPlan>(&cli.eval, "abx")?;
    let report = experiment::run(&run, &plan)?;
    run.finish(report)?;
    Ok(())
}
