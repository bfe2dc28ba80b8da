//! The experiment behind `cargo xtask eval abx`: train a small MLM on synthlang monolingual
//! streams, then measure language discrimination (LD: ON language ACROSS meaning) and
//! meaning discrimination (MD: ON meaning ACROSS language) of every layer at log-spaced
//! checkpoints, with retrieval and a cross-lingual linear probe as probing analogues, and
//! random / shuffled controls.
//!
//! [`run`] is the synthetic eval (stages: [`train::prepare`] the data, [`train::train`] the
//! MLM and analyse each checkpoint, [`report::build`] the claims, tables and figures);
//! [`run_checkpoint`] is the binary's `--model` mode, the text ABX tasks on a user's
//! pretrained checkpoint through [`crate::checkpoint`].

pub mod report;
pub mod train;

use crate::checkpoint::{self, CheckpointAbx};
use anyhow::Result;
use ember_core::eval::{EvalArgs, EvalRun, Scale, check};
use ember_core::report::Report;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Sizes and schedule of the abx eval; defaults per scale, overridable with `--config` /
/// `--set` (e.g. `--set code_switch=0.1`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AbxPlan {
    /// Number of synthetic languages (`graded` closeness; `l0` is the largest).
    pub langs: usize,
    /// Training sentences of the largest language; language `l` gets `largest >> l`
    /// (unbalanced streams, as in multilingual pretraining).
    pub largest: usize,
    /// Held-out parallel meanings the ABX tasks and probes are measured on (never seen in
    /// training).
    pub eval_n: usize,
    /// Transformer width (4 heads, d_ff = 4 d_model).
    pub d_model: usize,
    /// Transformer blocks; hidden states are the embeddings plus one per block.
    pub n_layers: usize,
    /// Training steps at which every layer is analysed, increasing; the last one is the
    /// length of training.
    pub checkpoints: Vec<usize>,
    /// Sentences per MLM batch.
    pub batch: usize,
    /// Tokens per sentence (special tokens included); longer sentences are cut.
    pub max_len: usize,
    /// Code-switch rate of the monolingual streams (abx-spkver §5.1 ρ_cs), in [0, 1].
    pub code_switch: f64,
    /// Bootstrap resamples of the 95 % confidence intervals over sentences.
    pub bootstrap: usize,
}

impl ember_core::eval::Plan for AbxPlan {
    fn for_scale(scale: Scale) -> Self {
        match scale {
            Scale::Quick => AbxPlan {
                langs: 4,
                largest: 6000,
                eval_n: 200,
                d_model: 64,
                n_layers: 4,
                checkpoints: vec![0, 12, 40, 120, 400, 1500],
                batch: 32,
                max_len: 24,
                code_switch: 0.05,
                bootstrap: 200,
            },
            Scale::Full => AbxPlan {
                langs: 6,
                largest: 40000,
                eval_n: 400,
                d_model: 64,
                n_layers: 4,
                checkpoints: vec![0, 25, 50, 100, 200, 400, 800, 1600, 3200, 4000],
                batch: 64,
                max_len: 32,
                code_switch: 0.05,
                bootstrap: 1000,
            },
        }
    }

    fn validate(&self) -> ember_core::Result<()> {
        check(
            (2..=32).contains(&self.langs),
            "langs",
            "must be between 2 and 32 (the tasks compare language pairs)",
        )?;
        check(
            self.largest >> (self.langs - 1) >= 1,
            "largest",
            "must be at least 2^(langs-1), so that every language has a sentence",
        )?;
        check(
            self.eval_n >= 2,
            "eval_n",
            "must be at least 2 (ABX needs another meaning)",
        )?;
        check(
            self.d_model >= 4 && self.d_model.is_multiple_of(4),
            "d_model",
            "must be a positive multiple of 4 (4 heads)",
        )?;
        check(self.n_layers >= 1, "n_layers", "must be at least 1")?;
        check(
            self.checkpoints.len() >= 2 && self.checkpoints.windows(2).all(|w| w[0] < w[1]),
            "checkpoints",
            "must list at least two strictly increasing steps",
        )?;
        check(self.batch >= 1, "batch", "must be at least 1")?;
        check(
            self.max_len >= 3,
            "max_len",
            "must be at least 3 (BOS, a word, EOS)",
        )?;
        check(
            self.code_switch.is_finite() && (0.0..=1.0).contains(&self.code_switch),
            "code_switch",
            "must be in [0, 1]",
        )?;
        check(self.bootstrap >= 1, "bootstrap", "must be at least 1")
    }
}

/// Runs the abx eval with `plan` and returns its report (written by [`EvalRun::finish`]).
pub fn run(run: &EvalRun, plan: &AbxPlan) -> Result<Report> {
    let data = train::prepare(run, plan)?;
    let trained = train::train(run, plan, &data)?;
    report::build(run, plan, &data, &trained)
}

/// The binary's `--model` mode: runs `job` (progress on stderr) on the device of `args`,
/// prints LD / MD / top-1 per layer and writes `report.json`, `report.md` and the plots
/// into `args.out`; returns the path of `report.json`. No plan: the job's fields are the
/// settings.
pub fn run_checkpoint(args: &EvalArgs, job: &CheckpointAbx) -> Result<PathBuf> {
    let (kind, device) = args.setup()?;
    let res = job.run(&device)?;
    for l in &res.layers {
        eprintln!(
            "layer {}: LD {:.3}  MD {:.3}  top-1 {:.3}",
            l.layer, l.ld, l.md, l.md_top1
        );
    }
    let header = checkpoint::report_header(kind.name()).with_seed(args.seed);
    let path = res.write_report(header, &args.out)?;
    eprintln!("report {}", path.display());
    Ok(path)
}
