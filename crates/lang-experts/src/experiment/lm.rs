//! The small causal LM both reproductions train: ember-core's Transformer on random windows
//! of a token stream, through ember-core's Trainer (atomic checkpoints, `--resume`).

use super::LangExpertsPlan;
use anyhow::Result;
use burn::module::Module;
use ember_core::eval::EvalRun;
use ember_core::lm::{next_token_loss, token_batch};
use ember_core::nn::{Transformer, TransformerConfig};
use ember_core::train::{StepOutput, TrainConfig, Trainer};
use rand::RngExt;

/// A trained model and its training summary.
pub struct TrainedLm {
    /// The model (no autodiff).
    pub model: Transformer,
    /// Parameters.
    pub n_params: usize,
    /// Final training loss (nats/token).
    pub final_loss: f64,
    /// Seconds spent training.
    pub train_s: f64,
    /// The step training resumed from (0: a fresh run).
    pub resumed_from: usize,
}

/// The model configuration of the plan for a vocabulary of `vocab` tokens.
pub fn model_config(plan: &LangExpertsPlan, vocab: usize) -> TransformerConfig {
    TransformerConfig::new(
        vocab,
        plan.d_model,
        plan.heads,
        plan.n_layers,
        4 * plan.d_model,
        plan.max_len,
    )
    .with_causal(true)
    .with_lm_head(true)
    .with_tie_embeddings(true)
}

/// Trains a causal LM for `steps` on random `plan.seq + 1` windows of `stream`; checkpoints
/// under `<out>/<name>` and resumes from there with `--resume`.
pub fn train(
    run: &EvalRun,
    plan: &LangExpertsPlan,
    name: &str,
    vocab: usize,
    stream: &[u32],
    steps: usize,
) -> Result<TrainedLm> {
    let seq = plan.seq;
    anyhow::ensure!(
        stream.len() > seq + 1,
        "{name}: the training stream has {} tokens, fewer than one window",
        stream.len()
    );
    let ad = run.device.clone().autodiff();
    ad.seed(ember_core::seed::Seed::new(run.seed()).derive(name).value());
    let model = model_config(plan, vocab).init(&ad);
    let n_params = model.num_params();
    let tcfg = TrainConfig::new(steps, plan.lr)
        .with_warmup_steps(steps / 10)
        .with_checkpoint_every(Some(plan.checkpoint_every))
        .with_seed(run.seed())
        .with_label(format!("{name} LM"));
    let mut trainer = Trainer::new(model, tcfg, &ad).with_dir(run.run_dir(name)?)?;
    let resumed_from = trainer.resume()?;
    let t0 = std::time::Instant::now();
    let batch = plan.batch;
    let summary = trainer.run(|m, rng, _| {
        let rows: Vec<&[u32]> = (0..batch)
            .map(|_| {
                let s = rng.random_range(0..stream.len() - seq - 1);
                &stream[s..s + seq + 1]
            })
            .collect();
        let loss = next_token_loss(m, token_batch(&rows, &ad)?)?;
        Ok(StepOutput::new(loss, batch * seq))
    })?;
    Ok(TrainedLm {
        model: trainer.model().valid(),
        n_params,
        final_loss: summary.final_loss,
        train_s: t0.elapsed().as_secs_f64(),
        resumed_from,
    })
}
