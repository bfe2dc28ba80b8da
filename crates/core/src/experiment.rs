//! The experiment behind `cargo xtask eval core`: train ember-core's Transformer as a causal
//! LM on synthlang and check that it learns the languages' structure: held-out loss well
//! below the unigram cross-entropy (a model that knows token frequencies and nothing else),
//! plus throughput.

use crate::data::synthlang::{SynthLang, SynthLangConfig};
use crate::data::tokenizer::{Tokenizer, TokenizerConfig};
use crate::eval::{EvalRun, Scale, check};
use crate::lm::{mean_loss, next_token_loss, token_batch, windows};
use crate::nn::TransformerConfig;
use crate::report::plot::{self, LinePlot, Series};
use crate::report::{Cell, Claim, Figure, Report, Table};
use crate::train::{StepOutput, TrainConfig, Trainer};
use anyhow::{Context, Result};
use burn::module::Module;
use rand::RngExt;
use serde::{Deserialize, Serialize};

/// Sizes and schedule of the core eval; defaults per scale, overridable with `--config` /
/// `--set`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CorePlan {
    /// Number of synthetic languages (graded closeness).
    pub langs: usize,
    /// Training sentences of the largest language (language `l` gets `1/(l+1)` of it).
    pub train_sentences: usize,
    /// Held-out sentences, split evenly over the languages.
    pub heldout_sentences: usize,
    /// Transformer width (4 heads, d_ff = 4 d_model).
    pub d_model: usize,
    /// Transformer layers.
    pub n_layers: usize,
    /// Optimizer steps.
    pub steps: usize,
    /// Windows per batch.
    pub batch: usize,
    /// Tokens per window.
    pub seq: usize,
    /// Steps between held-out evaluations and checkpoints.
    pub eval_every: usize,
}

impl crate::eval::Plan for CorePlan {
    fn for_scale(scale: Scale) -> Self {
        match scale {
            Scale::Quick => CorePlan {
                langs: 3,
                train_sentences: 4000,
                heldout_sentences: 600,
                d_model: 64,
                n_layers: 2,
                steps: 400,
                batch: 32,
                seq: 32,
                eval_every: 50,
            },
            Scale::Full => CorePlan {
                langs: 4,
                train_sentences: 20000,
                heldout_sentences: 2000,
                d_model: 128,
                n_layers: 4,
                steps: 3000,
                batch: 32,
                seq: 64,
                eval_every: 250,
            },
        }
    }

    fn validate(&self) -> crate::Result<()> {
        check(self.langs >= 1, "langs", "must be at least 1")?;
        check(
            self.train_sentences >= self.langs,
            "train_sentences",
            "must be at least `langs`",
        )?;
        check(
            self.heldout_sentences >= self.langs,
            "heldout_sentences",
            "must be at least `langs`",
        )?;
        check(
            self.d_model >= 4 && self.d_model.is_multiple_of(4),
            "d_model",
            "must be a positive multiple of 4 (4 heads)",
        )?;
        check(self.n_layers >= 1, "n_layers", "must be at least 1")?;
        check(self.steps >= 1, "steps", "must be at least 1")?;
        check(self.batch >= 1, "batch", "must be at least 1")?;
        check(self.seq >= 2, "seq", "must be at least 2")?;
        check(self.eval_every >= 1, "eval_every", "must be at least 1")
    }
}

/// Token stream: sentences separated by EOS, so the LM also learns sentence boundaries.
fn stream(tok: &Tokenizer, texts: &[String]) -> Vec<u32> {
    let eos = tok.eos_id();
    let mut out = Vec::new();
    for t in texts {
        out.extend(tok.encode(t));
        out.push(eos);
    }
    out
}

/// Cross-entropy (nats/token) on `test` of add-one unigram and interpolated bigram models fit
/// on `train` (targets are every token after the first of each window, as for the LM).
fn ngram_baselines(train: &[u32], test: &[&[u32]], vocab: usize) -> (f64, f64, f64) {
    let mut uni = vec![1.0f64; vocab];
    let mut bi = std::collections::HashMap::<(u32, u32), f64>::new();
    let mut ctx = vec![0.0f64; vocab];
    for w in train.windows(2) {
        uni[w[1] as usize] += 1.0;
        *bi.entry((w[0], w[1])).or_default() += 1.0;
        ctx[w[0] as usize] += 1.0;
    }
    let total: f64 = uni.iter().sum();
    let p_uni = |t: u32| uni[t as usize] / total;
    let entropy = -uni
        .iter()
        .map(|&c| c / total)
        .map(|p| p * p.ln())
        .sum::<f64>();
    let lambda = 0.9; // bigram weight; unigram smooths unseen pairs
    let (mut ce_u, mut ce_b, mut n) = (0.0, 0.0, 0.0);
    for w in test {
        for pair in w.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            ce_u -= p_uni(b).ln();
            let c = ctx[a as usize];
            let p_bi = if c > 0.0 {
                bi.get(&(a, b)).copied().unwrap_or(0.0) / c
            } else {
                0.0
            };
            ce_b -= (lambda * p_bi + (1.0 - lambda) * p_uni(b)).ln();
            n += 1.0;
        }
    }
    (ce_u / n, ce_b / n, entropy)
}

/// Runs the core eval with `plan` and returns its report (written by [`EvalRun::finish`]).
pub fn run(run: &EvalRun, plan: &CorePlan) -> Result<Report> {
    let device = run.device.clone();
    let seed = run.seed();
    let out = run.out();

    // Data: unbalanced monolingual streams in `langs` graded languages; held-out sentences
    // come from an independent stream.
    let lang = SynthLang::new(SynthLangConfig::graded(plan.langs, seed))?;
    let sizes: Vec<usize> = (0..plan.langs)
        .map(|l| plan.train_sentences / (l + 1))
        .collect();
    let train_corpora = lang.monolingual_corpora(&sizes, 1, None)?;
    let held_sizes: Vec<usize> = vec![plan.heldout_sentences / plan.langs; plan.langs];
    let held_corpora = lang.monolingual_corpora(&held_sizes, 2, None)?;
    let train_texts: Vec<String> = train_corpora.iter().flat_map(|c| c.texts()).collect();
    let held_texts: Vec<String> = held_corpora.iter().flat_map(|c| c.texts()).collect();
    let tok = Tokenizer::fit(&train_texts, &TokenizerConfig::default())?;
    tok.save(out.join("tokenizer.json"))?;

    // Shuffle sentences so batches mix languages.
    let mut order: Vec<usize> = (0..train_texts.len()).collect();
    let mut rng = crate::seed::Seed::new(seed).seed_device(&device);
    rand::seq::SliceRandom::shuffle(order.as_mut_slice(), &mut rng);
    let shuffled: Vec<String> = order.iter().map(|&i| train_texts[i].clone()).collect();
    let train_stream = stream(&tok, &shuffled);
    let held_stream = stream(&tok, &held_texts);
    let train_wins = windows(&train_stream, plan.seq);
    let held_wins = windows(&held_stream, plan.seq);
    anyhow::ensure!(
        !train_wins.is_empty() && !held_wins.is_empty(),
        "corpus too small for seq {}",
        plan.seq
    );
    let vocab = tok.vocab_size();
    let (unigram_ce, bigram_ce, unigram_entropy) =
        ngram_baselines(&train_stream, &held_wins, vocab);
    eprintln!(
        "data: vocab {vocab}, {} train tokens, {} held-out windows; unigram CE {unigram_ce:.3}, bigram CE {bigram_ce:.3} nats",
        train_stream.len(),
        held_wins.len()
    );

    // Model and training.
    let ad = device.clone().autodiff();
    ad.seed(seed);
    let cfg = TransformerConfig::new(
        vocab,
        plan.d_model,
        4,
        plan.n_layers,
        4 * plan.d_model,
        plan.seq,
    )
    .with_causal(true)
    .with_dropout(0.1);
    let model = cfg.init(&ad);
    let n_params = model.num_params();
    let train_cfg = TrainConfig::new(plan.steps, 3e-3)
        .with_warmup_steps(plan.steps / 10)
        .with_checkpoint_every(Some(plan.eval_every))
        .with_seed(seed)
        .with_label("core LM".into());
    let mut trainer = Trainer::new(model, train_cfg, &ad).with_dir(run.run_dir("run")?)?;
    let resumed = trainer.resume()?;
    if resumed > 0 {
        eprintln!("resumed from step {resumed}");
    }
    let mut curve_train = Vec::new();
    let mut curve_held = Vec::new();
    let mut tokens_per_s = Vec::new();
    while !trainer.is_done() {
        let summary = trainer.run_steps(plan.eval_every, |m, rng, _| {
            let rows: Vec<&[u32]> = (0..plan.batch)
                .map(|_| train_wins[rng.random_range(0..train_wins.len())])
                .collect();
            let loss = next_token_loss(m, token_batch(&rows, &ad)?)?;
            let b = plan.batch;
            Ok(StepOutput::new(loss, b * plan.seq))
        })?;
        let step = trainer.step();
        let held = mean_loss(&trainer.model().valid(), &held_wins, 64, &device)?;
        curve_train.push((step as f64, summary.final_loss));
        curve_held.push((step as f64, held));
        if summary.steps_run > 0 {
            tokens_per_s.push(summary.items_per_s);
        }
    }
    let model = trainer.into_model().valid();
    let final_held = mean_loss(&model, &held_wins, 64, &device)?;
    let mut tps = tokens_per_s.clone();
    tps.sort_by(f64::total_cmp);
    let median_tps = tps.get(tps.len() / 2).copied().unwrap_or(f64::NAN);

    // Report.
    let threshold = 0.75;
    let ratio = final_held / unigram_ce;
    let mut report = run.report("core", "Transformer causal LM on synthlang");
    report.add_claim(
        Claim::new(
            "lm-beats-unigram",
            "A causal Transformer LM trained on synthlang reaches a held-out loss well below the unigram entropy",
            format!("held-out next-token cross-entropy (nats); holds if ≤ {threshold} × unigram cross-entropy"),
            final_held,
            ratio <= threshold,
        )
        .baseline(unigram_ce, "add-one unigram on held-out")
        .detail(format!(
            "ratio {ratio:.3}; interpolated bigram {bigram_ce:.3} nats; training-unigram entropy {unigram_entropy:.3} nats"
        )),
    );
    report.add_metric("heldout_loss_nats", final_held);
    report.add_metric("unigram_ce_nats", unigram_ce);
    report.add_metric("bigram_ce_nats", bigram_ce);
    report.add_metric("unigram_entropy_nats", unigram_entropy);
    report.add_metric("train_tokens_per_s_median", median_tps);
    report.add_metric("parameters", n_params as f64);
    report.add_metric("vocab", vocab as f64);
    report.add_metric("train_tokens", train_stream.len() as f64);
    let mut table = Table::new(
        "Held-out cross-entropy (nats/token)",
        ["model", "cross-entropy"],
    );
    table.add_row(vec![
        Cell::from("Transformer LM (ours)"),
        Cell::from(final_held),
    ]);
    table.add_row(vec![
        Cell::from("interpolated bigram"),
        Cell::from(bigram_ce),
    ]);
    table.add_row(vec![Cell::from("add-one unigram"), Cell::from(unigram_ce)]);
    report.add_table(table);
    let steps_max = plan.steps as f64;
    plot::line(
        out.join("loss.png"),
        &LinePlot {
            title: "Causal LM on synthlang".into(),
            x_label: "step".into(),
            y_label: "cross-entropy (nats/token)".into(),
            series: vec![
                Series::new("train (last batch)", curve_train),
                Series::new("held-out", curve_held),
                Series::new("unigram", vec![(0.0, unigram_ce), (steps_max, unigram_ce)]),
                Series::new("bigram", vec![(0.0, bigram_ce), (steps_max, bigram_ce)]),
            ],
            log_x: false,
        },
    )
    .context("plotting the loss curve")?;
    report.add_figure(Figure::new(
        "Loss curve",
        "loss.png",
        "Training and held-out loss against n-gram baselines",
    ));
    report.add_note(format!(
        "{} languages (graded closeness), {} training sentences (unbalanced 1/(l+1)), model d={} L={} ({n_params} parameters), {} steps of batch {}x{}",
        plan.langs, plan.train_sentences, plan.d_model, plan.n_layers, plan.steps, plan.batch, plan.seq
    ));
    eprintln!(
        "held-out {final_held:.3} vs unigram {unigram_ce:.3} nats (ratio {ratio:.3}); {median_tps:.0} tokens/s"
    );
    Ok(report)
}
