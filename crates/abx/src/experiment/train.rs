//! Data and training of the abx eval: unbalanced monolingual synthlang streams, a held-out
//! parallel evaluation set, MLM training with log-spaced checkpoints, and the ABX tasks plus
//! probes on every layer at each checkpoint.

use super::AbxPlan;
use crate::probe::RidgeProbe;
use crate::repr::{Pooling, pool_layers};
use crate::text::{ParallelEmbeddings, text_abx};
use anyhow::Result;
use burn::module::Module;
use burn::prelude::*;
use ember_core::data::synthlang::{SynthLang, SynthLangConfig};
use ember_core::data::tokenizer::{Batch, BatchOptions, MASK_ID, Tokenizer, TokenizerConfig};
use ember_core::eval::EvalRun;
use ember_core::loss::masked_cross_entropy_seq;
use ember_core::nn::{Transformer, TransformerConfig};
use ember_core::train::{StepOutput, TrainConfig, Trainer};
use rand::RngExt;
use std::time::Instant;

/// Exponent of the XLM-R-style smoothing of the language sampling probabilities.
pub const ALPHA: f64 = 0.3;

/// Everything the training and the analysis read: tokenizer, encoded streams, sampling
/// probabilities and the held-out parallel set.
pub struct Data {
    /// Language names (`l0`, `l1`, ...).
    pub names: Vec<String>,
    /// Training sentences per language.
    pub sizes: Vec<usize>,
    /// Tokenizer fit on the training streams.
    pub tok: Tokenizer,
    /// Padding / truncation of every batch.
    pub opts: BatchOptions,
    /// Probability of drawing each language's stream (α-smoothed sizes).
    pub probs: Vec<f64>,
    /// Encoded training sentences per language.
    pub encoded: Vec<Vec<Vec<u32>>>,
    /// The held-out parallel sentences, language-major (`langs × eval_n`).
    pub eval_batch: Batch,
    /// Tense class of every held-out sentence, in the order of `eval_batch`.
    pub tense: Vec<usize>,
}

/// One grid point (checkpoint × layer).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Point {
    /// Training step of the checkpoint.
    pub step: usize,
    /// Hidden state (0 = embeddings).
    pub layer: usize,
    /// Mean LD error over ordered language pairs.
    pub ld: f64,
    /// Mean MD error over ordered language pairs.
    pub md: f64,
    /// Lower end of the MD 95 % bootstrap CI.
    pub md_lo: f64,
    /// Upper end of the MD 95 % bootstrap CI.
    pub md_hi: f64,
    /// Lower end of the LD 95 % bootstrap CI.
    pub ld_lo: f64,
    /// Upper end of the LD 95 % bootstrap CI.
    pub ld_hi: f64,
    /// Mean top-1 translation retrieval accuracy of the MD task.
    pub top1: f64,
    /// Cross-lingual tense probe accuracy (fit on `l0`, mean over the other languages).
    pub probe: f64,
    /// `L × L` LD errors.
    pub ld_pairs: Vec<Vec<f64>>,
    /// `L × L` MD errors.
    pub md_pairs: Vec<Vec<f64>>,
}

/// What training and the per-checkpoint analysis produced.
pub struct Trained {
    /// Every analysed checkpoint × layer, in step order.
    pub grid: Vec<Point>,
    /// Pooled vectors of every layer at the last analysed checkpoint.
    pub final_layers: Vec<Vec<f32>>,
    /// (step, last-batch loss) at each checkpoint that trained.
    pub losses: Vec<(f64, f64)>,
    /// Parameters of the MLM.
    pub n_params: usize,
    /// Total training steps (the last checkpoint).
    pub total: usize,
    /// Seconds spent training.
    pub train_s: f64,
    /// Seconds spent analysing checkpoints.
    pub analysis_s: f64,
}

/// Builds the data: unbalanced monolingual streams (anchors on, code-switch knob) and a
/// held-out parallel evaluation set whose meanings never occur in training; fits the
/// tokenizer and saves it to `<out>/tokenizer.json`.
pub fn prepare(run: &EvalRun, plan: &AbxPlan) -> Result<Data> {
    let mut cfg = SynthLangConfig::graded(plan.langs, run.seed());
    cfg.code_switch_rate = plan.code_switch;
    let lang = SynthLang::new(cfg)?;
    let names = lang.language_names();
    let eval_set = lang.parallel(plan.eval_n, 7)?;
    let exclude = eval_set.meaning_set();
    let sizes: Vec<usize> = (0..plan.langs).map(|l| plan.largest >> l).collect();
    let corpora = lang.monolingual_corpora(&sizes, 1, Some(&exclude))?;
    let train_texts: Vec<String> = corpora.iter().flat_map(|c| c.texts()).collect();
    let tok = Tokenizer::fit(&train_texts, &TokenizerConfig::default())?;
    tok.save(run.out().join("tokenizer.json"))?;
    let opts = BatchOptions {
        max_len: plan.max_len,
        ..BatchOptions::default()
    };
    let w: Vec<f64> = sizes.iter().map(|&s| (s as f64).powf(ALPHA)).collect();
    let wsum: f64 = w.iter().sum();
    let probs: Vec<f64> = w.iter().map(|x| x / wsum).collect();
    let encoded: Vec<Vec<Vec<u32>>> = corpora
        .iter()
        .map(|c| c.texts().iter().map(|t| tok.encode(t)).collect())
        .collect();
    let mut eval_texts = Vec::new();
    let mut tense = Vec::new();
    for l in 0..plan.langs {
        eval_texts.extend(eval_set.texts(l));
        tense.extend(eval_set.meanings.iter().map(|m| m.tense as usize));
    }
    let eval_batch = tok.encode_batch(&eval_texts, &opts)?;
    Ok(Data {
        names,
        sizes,
        tok,
        opts,
        probs,
        encoded,
        eval_batch,
        tense,
    })
}

fn int2(rows: &[Vec<u32>], device: &Device) -> Tensor<2, Int> {
    let (b, t) = (rows.len(), rows[0].len());
    let v: Vec<i64> = rows
        .iter()
        .flat_map(|r| r.iter().map(|&x| x as i64))
        .collect();
    Tensor::<1, Int>::from_data(TensorData::new(v, [b * t]), device).reshape([b, t])
}

fn bool2(rows: &[Vec<bool>], device: &Device) -> Tensor<2, Bool> {
    let (b, t) = (rows.len(), rows[0].len());
    let v: Vec<bool> = rows.iter().flatten().copied().collect();
    Tensor::<1, Bool>::from_data(TensorData::new(v, [b * t]), device).reshape([b, t])
}

/// Trains the MLM (15 % masking, 80/10/10) up to each checkpoint of the plan in turn and
/// analyses every layer there; resumes from `<out>/run` with `--resume`.
pub fn train(run: &EvalRun, plan: &AbxPlan, data: &Data) -> Result<Trained> {
    let (tok, opts, probs, encoded) = (&data.tok, &data.opts, &data.probs, &data.encoded);
    let vocab = tok.vocab_size();
    let ad = run.device.clone().autodiff();
    ad.seed(run.seed());
    let mcfg = TransformerConfig::new(
        vocab,
        plan.d_model,
        4,
        plan.n_layers,
        4 * plan.d_model,
        plan.max_len,
    )
    .with_dropout(0.1);
    let model = mcfg.init(&ad);
    let n_params = model.num_params();
    let total = *plan.checkpoints.last().expect("checkpoints");
    let tcfg = TrainConfig::new(total, 1e-3)
        .with_warmup_steps(total / 10)
        .with_checkpoint_every(Some(50))
        .with_seed(run.seed())
        .with_label("abx MLM".into());
    let mut trainer = Trainer::new(model, tcfg, &ad).with_dir(run.run_dir("run")?)?;
    let resumed = trainer.resume()?;
    if resumed > 0 {
        eprintln!(
            "resumed from step {resumed} (earlier checkpoints are re-analysed from nothing: only later ones are measured)"
        );
    }
    let mut out = Trained {
        grid: Vec::new(),
        final_layers: Vec::new(),
        losses: Vec::new(),
        n_params,
        total,
        train_s: 0.0,
        analysis_s: 0.0,
    };
    for &ck in &plan.checkpoints {
        if ck < trainer.step() {
            continue;
        }
        let t0 = Instant::now();
        let todo = ck - trainer.step();
        if todo > 0 {
            let s = trainer.run_steps(todo, |m, rng, _| {
                let mut rows = Vec::with_capacity(plan.batch);
                for _ in 0..plan.batch {
                    let u: f64 = rng.random();
                    let mut l = 0;
                    let mut acc = probs[0];
                    while u > acc && l + 1 < probs.len() {
                        l += 1;
                        acc += probs[l];
                    }
                    let c = &encoded[l];
                    rows.push(c[rng.random_range(0..c.len())].clone());
                }
                let b = tok.pad_batch(rows, opts)?;
                // 15 % of real non-special tokens; 80 % [MASK], 10 % random, 10 % kept
                let mut input = b.ids.clone();
                let mut target_keep = vec![vec![false; input[0].len()]; input.len()];
                for (r, row) in input.iter_mut().enumerate() {
                    for (t, id) in row.iter_mut().enumerate() {
                        if !b.attention_mask[r][t]
                            || tok.is_special(*id)
                            || rng.random::<f64>() >= 0.15
                        {
                            continue;
                        }
                        target_keep[r][t] = true;
                        let u: f64 = rng.random();
                        if u < 0.8 {
                            *id = MASK_ID;
                        } else if u < 0.9 {
                            *id = rng.random_range(tok.n_special() as u32..vocab as u32);
                        }
                    }
                }
                let pad: Vec<Vec<bool>> = b
                    .attention_mask
                    .iter()
                    .map(|m| m.iter().map(|&x| !x).collect())
                    .collect();
                let logits = m.logits(int2(&input, &ad), Some(bool2(&pad, &ad)))?;
                let n_masked = target_keep.iter().flatten().filter(|&&k| k).count();
                let loss =
                    masked_cross_entropy_seq(logits, int2(&b.ids, &ad), bool2(&target_keep, &ad))?;
                Ok(StepOutput::new(loss, n_masked.max(1)))
            })?;
            out.losses.push((trainer.step() as f64, s.final_loss));
        }
        out.train_s += t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        let model = trainer.model().valid();
        let (pts, layers) = analyse(&model, ck, plan, data, run)?;
        out.analysis_s += t1.elapsed().as_secs_f64();
        eprintln!(
            "step {ck}: LD {:?}  MD {:?}",
            pts.iter()
                .map(|p| (p.ld * 1000.0).round() / 1000.0)
                .collect::<Vec<_>>(),
            pts.iter()
                .map(|p| (p.md * 1000.0).round() / 1000.0)
                .collect::<Vec<_>>()
        );
        out.grid.extend(pts);
        out.final_layers = layers;
    }
    Ok(out)
}

/// ABX + probes for every layer of one model at training step `step`; also returns the
/// pooled vectors of every layer.
pub fn analyse(
    model: &Transformer,
    step: usize,
    plan: &AbxPlan,
    data: &Data,
    run: &EvalRun,
) -> Result<(Vec<Point>, Vec<Vec<f32>>)> {
    let (names, n, tense) = (&data.names, plan.eval_n, &data.tense);
    let layers = pool_layers(
        model,
        &data.eval_batch,
        &data.tok,
        Pooling::MeanNoSpecials,
        200,
        &run.device,
    )?;
    let d = model.d_model();
    let mut pts = Vec::new();
    let bar = ember_core::progress::bar(true, layers.len() as u64, &format!("ABX at step {step}"));
    for (li, v) in layers.iter().enumerate() {
        bar.inc(1);
        let emb = ParallelEmbeddings::new(names.to_vec(), n, d, v.clone())?;
        let (ld, md) = text_abx(&emb)?;
        let ci_md = md.bootstrap(plan.bootstrap, run.seed())?;
        let ci_ld = ld.bootstrap(plan.bootstrap, run.seed())?;
        // cross-lingual probe: tense from the pooled vector, fit on language 0, test on others
        let probe = RidgeProbe::fit(&v[..n * d], d, &tense[..n], 3, 1e-2)?;
        let acc: f64 = (1..names.len())
            .map(|l| probe.accuracy(&v[l * n * d..(l + 1) * n * d], &tense[l * n..(l + 1) * n]))
            .sum::<f64>()
            / (names.len() - 1) as f64;
        pts.push(Point {
            step,
            layer: li,
            ld: ld.mean_error(),
            md: md.mean_error(),
            md_lo: ci_md.lo,
            md_hi: ci_md.hi,
            ld_lo: ci_ld.lo,
            ld_hi: ci_ld.hi,
            top1: md.mean_top1().unwrap_or(f64::NAN),
            probe: acc,
            ld_pairs: ld.matrix(),
            md_pairs: md.matrix(),
        });
    }
    bar.finish_and_clear();
    Ok((pts, layers))
}
