//! `cargo xtask eval lang-experts`; the experiment is [`ember_lang_experts::experiment`].

use clap::Parser;
use ember_core::eval::{EvalArgs, EvalRun};
use ember_lang_experts::checkpoint::CheckpointRun;
use ember_lang_experts::experiment::{self, LangExpertsPlan};
use std::path::PathBuf;

/// Language experts and concept experts (papers P3, P4). Babel: trains a small causal LM on
/// five synthetic languages, finds each language's expert MLP units (AUROC of max-pooled
/// responses), forces the target language's top-k experts to their mean and measures
/// cross-lingual retrieval top-1 for every ordered language pair, against random units and
/// same-language paraphrase retrieval. ConceptWorld: trains an LM on a synthetic taxonomy,
/// finds AP >= tau experts per concept, and compares expert-overlap similarity with simulated
/// human ratings (and the input-embedding cosine) and with the taxonomy (clustering ARI).
/// With --model and --flores, runs P3 on your checkpoint and parallel text instead.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    eval: EvalArgs,
    /// A Hugging Face model folder (config.json, model.safetensors, tokenizer.json).
    #[arg(long, requires = "flores")]
    model: Option<PathBuf>,
    /// A FLORES-style folder of parallel text (<lang>.devtest / .dev / .txt).
    #[arg(long, requires = "model")]
    flores: Option<PathBuf>,
    /// Comma-separated language codes of --flores.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "eng_Latn,spa_Latn,fra_Latn,deu_Latn"
    )]
    langs: Vec<String>,
    /// The language whose experts are forced.
    #[arg(long, default_value = "spa_Latn")]
    target: String,
    /// Number of experts to force.
    #[arg(long, default_value_t = 100)]
    k: usize,
    /// Sentences per language used to find the experts (the rest measure retrieval).
    #[arg(long, default_value_t = 100)]
    probe: usize,
}

fn main() -> std::process::ExitCode {
    ember_core::eval::exit(|| {
        let cli = Cli::parse();
        let (run, plan) = EvalRun::start::<LangExpertsPlan>(&cli.eval, "lang-experts")?;
        if let (Some(model), Some(flores)) = (&cli.model, &cli.flores) {
            let mut c = CheckpointRun::new(model, flores, cli.langs.clone(), &cli.target);
            c.k = cli.k;
            c.probe = cli.probe;
            c.seed = run.seed();
            let res = c.run(&run.device)?;
            let path = res.write_report(run.out())?;
            eprintln!("wrote {}", path.display());
            return Ok(());
        }
        let report = experiment::run(&run, &plan)?;
        run.finish(report)?;
        Ok(())
    })
}
