//! `cargo xtask eval abx`: train a small MLM on synthlang monolingual streams, then measure
//! language discrimination (LD: ON language ACROSS meaning) and meaning discrimination (MD:
//! ON meaning ACROSS language) of every layer at log-spaced checkpoints, with retrieval and a
//! cross-lingual linear probe as probing analogues, and random / shuffled controls.

use anyhow::{Context, Result};
use burn::module::Module;
use burn::prelude::*;
use clap::Parser;
use ember_abx::checkpoint::{self, CheckpointAbx, layer_labels, plot_pair_heatmap};
use ember_abx::probe::RidgeProbe;
use ember_abx::repr::{Pooling, pool_layers};
use ember_abx::text::{ParallelEmbeddings, text_abx};
use ember_core::data::synthlang::{SynthLang, SynthLangConfig};
use ember_core::data::tokenizer::{BatchOptions, MASK_ID, Tokenizer, TokenizerConfig};
use ember_core::eval::{EvalArgs, Scale};
use ember_core::loss::masked_cross_entropy_seq;
use ember_core::metrics::spearman;
use ember_core::nn::{Transformer, TransformerConfig};
use ember_core::report::plot::{self, Heatmap, LinePlot, Series};
use ember_core::report::{Cell, Claim, Figure, Table};
use ember_core::train::{StepOutput, TrainConfig, Trainer};
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// ABX form/meaning discrimination over training of a small multilingual MLM.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    eval: EvalArgs,
    /// Code-switch rate of the monolingual streams (abx-spkver §5.1 ρ_cs).
    #[arg(long)]
    code_switch: Option<f64>,
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

/// `--model`: the text ABX tasks on a local checkpoint, through `ember_abx::checkpoint`.
fn run_checkpoint(cli: &Cli, model: &Path) -> Result<()> {
    let (kind, device) = cli.eval.setup()?;
    let flores = cli.flores.clone().context("--model needs --flores")?;
    let mut job = CheckpointAbx::new(model, flores, cli.langs.clone());
    job.max_sentences = cli.max_sentences;
    job.max_tokens = cli.max_tokens;
    job.progress = true;
    let res = job.run(&device)?;
    for l in &res.layers {
        eprintln!(
            "layer {}: LD {:.3}  MD {:.3}  top-1 {:.3}",
            l.layer, l.ld, l.md, l.md_top1
        );
    }
    let header = checkpoint::report_header(kind.name()).with_seed(cli.eval.seed);
    let path = res.write_report(header, &cli.eval.out)?;
    eprintln!("report {}", path.display());
    Ok(())
}

struct Plan {
    langs: usize,
    largest: usize,
    eval_n: usize,
    d_model: usize,
    n_layers: usize,
    checkpoints: Vec<usize>,
    batch: usize,
    max_len: usize,
    code_switch: f64,
    bootstrap: usize,
}

impl Plan {
    fn for_scale(scale: Scale) -> Self {
        match scale {
            Scale::Quick => Plan {
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
            Scale::Full => Plan {
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
}

/// One grid point (checkpoint × layer).
#[derive(Debug, Clone, serde::Serialize)]
struct Point {
    step: usize,
    layer: usize,
    ld: f64,
    md: f64,
    md_lo: f64,
    md_hi: f64,
    ld_lo: f64,
    ld_hi: f64,
    top1: f64,
    probe: f64,
    ld_pairs: Vec<Vec<f64>>,
    md_pairs: Vec<Vec<f64>>,
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

/// ABX + probes for every layer of one model.
#[allow(clippy::too_many_arguments)]
fn analyse(
    model: &Transformer,
    step: usize,
    batch: &ember_core::data::tokenizer::Batch,
    tok: &Tokenizer,
    names: &[String],
    n: usize,
    tense: &[usize],
    plan: &Plan,
    seed: u64,
    device: &Device,
) -> Result<(Vec<Point>, Vec<Vec<f32>>)> {
    let layers = pool_layers(model, batch, tok, Pooling::MeanNoSpecials, 200, device)?;
    let d = model.d_model();
    let mut pts = Vec::new();
    for (li, v) in layers.iter().enumerate() {
        let emb = ParallelEmbeddings::new(names.to_vec(), n, d, v.clone())?;
        let (ld, md) = text_abx(&emb)?;
        let ci_md = md.bootstrap(plan.bootstrap, seed)?;
        let ci_ld = ld.bootstrap(plan.bootstrap, seed)?;
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
    Ok((pts, layers))
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    if let Some(model) = &cli.model {
        return run_checkpoint(&cli, model);
    }
    let args = &cli.eval;
    let started = Instant::now();
    let (kind, device) = args.start("abx")?;
    let mut plan = Plan::for_scale(args.scale);
    if let Some(cs) = cli.code_switch {
        plan.code_switch = cs;
    }

    // --- data: unbalanced monolingual streams (anchors on, code-switch knob), held-out
    // parallel evaluation set whose meanings never occur in training.
    let mut cfg = SynthLangConfig::graded(plan.langs, args.seed);
    cfg.code_switch_rate = plan.code_switch;
    let lang = SynthLang::new(cfg)?;
    let names = lang.language_names();
    let eval_set = lang.parallel(plan.eval_n, 7)?;
    let exclude = eval_set.meaning_set();
    let sizes: Vec<usize> = (0..plan.langs).map(|l| plan.largest >> l).collect();
    let corpora = lang.monolingual_corpora(&sizes, 1, Some(&exclude))?;
    let train_texts: Vec<String> = corpora.iter().flat_map(|c| c.texts()).collect();
    let tok = Tokenizer::fit(&train_texts, &TokenizerConfig::default())?;
    tok.save(args.out.join("tokenizer.json"))?;
    let opts = BatchOptions {
        max_len: plan.max_len,
        ..BatchOptions::default()
    };
    // XLM-R-style exponent smoothing (α = 0.3) of the language sampling probabilities
    let alpha = 0.3;
    let w: Vec<f64> = sizes.iter().map(|&s| (s as f64).powf(alpha)).collect();
    let wsum: f64 = w.iter().sum();
    let probs: Vec<f64> = w.iter().map(|x| x / wsum).collect();
    let encoded: Vec<Vec<Vec<u32>>> = corpora
        .iter()
        .map(|c| c.texts().iter().map(|t| tok.encode(t)).collect())
        .collect();
    let n = plan.eval_n;
    let mut eval_texts = Vec::new();
    let mut tense = Vec::new();
    for l in 0..plan.langs {
        eval_texts.extend(eval_set.texts(l));
        tense.extend(eval_set.meanings.iter().map(|m| m.tense as usize));
    }
    let eval_batch = tok.encode_batch(&eval_texts, &opts)?;

    // --- model and MLM training with log-spaced checkpoints
    let vocab = tok.vocab_size();
    let ad = device.clone().autodiff();
    ad.seed(args.seed);
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
        .with_seed(args.seed)
        .with_label("abx MLM".into());
    let mut trainer = Trainer::new(model, tcfg, &ad).with_dir(args.run_dir("run")?)?;
    let resumed = trainer.resume()?;
    if resumed > 0 {
        eprintln!(
            "resumed from step {resumed} (earlier checkpoints are re-analysed from nothing: only later ones are measured)"
        );
    }
    let mut grid: Vec<Point> = Vec::new();
    let mut final_layers = Vec::new();
    let mut train_s = 0.0;
    let mut analysis_s = 0.0;
    let mut losses = Vec::new();
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
                let b = tok.pad_batch(rows, &opts)?;
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
            losses.push((trainer.step() as f64, s.final_loss));
        }
        train_s += t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        let model = trainer.model().valid();
        let (pts, layers) = analyse(
            &model,
            ck,
            &eval_batch,
            &tok,
            &names,
            n,
            &tense,
            &plan,
            args.seed,
            &device,
        )?;
        analysis_s += t1.elapsed().as_secs_f64();
        eprintln!(
            "step {ck}: LD {:?}  MD {:?}",
            pts.iter()
                .map(|p| (p.ld * 1000.0).round() / 1000.0)
                .collect::<Vec<_>>(),
            pts.iter()
                .map(|p| (p.md * 1000.0).round() / 1000.0)
                .collect::<Vec<_>>()
        );
        grid.extend(pts);
        final_layers = layers;
    }
    let steps: Vec<usize> = plan
        .checkpoints
        .iter()
        .copied()
        .filter(|s| grid.iter().any(|p| p.step == *s))
        .collect();
    anyhow::ensure!(
        steps.len() >= 2,
        "need at least two analysed checkpoints (resume after the end?)"
    );
    let n_h = plan.n_layers + 1;
    let at = |s: usize, l: usize| {
        grid.iter()
            .find(|p| p.step == s && p.layer == l)
            .expect("grid point")
    };
    let upper: Vec<usize> = (0..n_h).filter(|&l| l > plan.n_layers / 2).collect();
    let lower: Vec<usize> = (0..n_h).filter(|&l| l <= plan.n_layers / 2).collect();
    let mean_over = |s: usize, ls: &[usize], f: &dyn Fn(&Point) -> f64| {
        ls.iter().map(|&l| f(at(s, l))).sum::<f64>() / ls.len() as f64
    };
    let (first, last) = (steps[0], *steps.last().expect("steps"));

    // --- claim 1: LD in the deeper layers declines; ends strongest in the lower layers
    let ld_deep_first = mean_over(first, &upper, &|p| p.ld);
    let ld_deep_last = mean_over(last, &upper, &|p| p.ld);
    let ld_low_last = mean_over(last, &lower, &|p| p.ld);
    let c1a = ld_deep_last - ld_deep_first >= 0.02;
    let c1b = ld_low_last < ld_deep_last;
    // --- claim 2: MD improves over training and is best in the deeper layers
    let md_deep_first = mean_over(first, &upper, &|p| p.md);
    let md_deep_last = mean_over(last, &upper, &|p| p.md);
    let best_md_layer = (0..n_h)
        .min_by(|&a, &b| at(last, a).md.total_cmp(&at(last, b).md))
        .expect("layers");
    let c2a = md_deep_first - md_deep_last >= 0.05;
    let c2b = upper.contains(&best_md_layer);

    // --- claim 3: controls at the final checkpoint
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed ^ 0xabc);
    let d = plan.d_model;
    let rand_feats: Vec<f32> = (0..plan.langs * n * d)
        .map(|_| rng.random::<f32>() - 0.5)
        .collect();
    let (rld, rmd) = text_abx(&ParallelEmbeddings::new(names.clone(), n, d, rand_feats)?)?;
    let (rand_ld, rand_md) = (rld.mean_error(), rmd.mean_error());
    let mut shuf_md = Vec::new();
    let mut shuf_dld = Vec::new();
    let mut shuf_rows = Vec::new();
    for (li, v) in final_layers.iter().enumerate() {
        let mut data = v.clone();
        for l in 1..plan.langs {
            let mut perm: Vec<usize> = (0..n).collect();
            perm.shuffle(&mut rng);
            let src = v[l * n * d..(l + 1) * n * d].to_vec();
            for (m, &p) in perm.iter().enumerate() {
                data[(l * n + m) * d..(l * n + m + 1) * d]
                    .copy_from_slice(&src[p * d..(p + 1) * d]);
            }
        }
        let (sld, smd) = text_abx(&ParallelEmbeddings::new(names.clone(), n, d, data)?)?;
        let p = at(last, li);
        shuf_md.push(smd.mean_error());
        shuf_dld.push((sld.mean_error() - p.ld).abs());
        shuf_rows.push((li, p.ld, sld.mean_error(), p.md, smd.mean_error()));
    }
    let shuf_md_mean = shuf_md.iter().sum::<f64>() / shuf_md.len() as f64;
    let shuf_dld_max = shuf_dld.iter().cloned().fold(0.0, f64::max);
    let c3 = (rand_ld - 0.5).abs() <= 0.03
        && (rand_md - 0.5).abs() <= 0.03
        && (shuf_md_mean - 0.5).abs() <= 0.05
        && shuf_dld_max <= 0.05;

    // --- probing analogues: correlations over the checkpoint × layer grid
    let md_score: Vec<f64> = grid.iter().map(|p| 1.0 - p.md).collect();
    let ld_score: Vec<f64> = grid.iter().map(|p| 1.0 - p.ld).collect();
    let top1: Vec<f64> = grid.iter().map(|p| p.top1).collect();
    let probe: Vec<f64> = grid.iter().map(|p| p.probe).collect();
    let rho_md_top1 = spearman(&md_score, &top1).unwrap_or(f64::NAN);
    let rho_md_probe = spearman(&md_score, &probe).unwrap_or(f64::NAN);
    let rho_ld_probe = spearman(&ld_score, &probe).unwrap_or(f64::NAN);
    let rho_ld_md = spearman(&ld_score, &md_score).unwrap_or(f64::NAN);

    // --- report
    let mut report = args.report(
        kind,
        "abx",
        "P2",
        "ABX discrimination of form and meaning in a small multilingual MLM",
    );
    report.add_claim(
        Claim::new(
            "ld-declines-lower-layers",
            "Language discrimination in the deeper layers declines over training and ends strongest in the lower layers",
            format!(
                "mean LD error of the upper layers ({upper:?}) at the last checkpoint; holds if it rose by ≥ 0.02 from step {first} AND the lower layers ({lower:?}) end with a lower mean LD error than the upper ones"
            ),
            ld_deep_last,
            c1a && c1b,
        )
        .baseline(ld_deep_first, format!("upper-layer LD error at step {first}"))
        .detail(format!("rise {:+.3} (≥0.02: {c1a}); final lower-layer LD error {ld_low_last:.3} vs upper {ld_deep_last:.3} ({c1b})", ld_deep_last - ld_deep_first)),
    );
    report.add_claim(
        Claim::new(
            "md-improves-deeper-layers",
            "Meaning discrimination improves over training and is best in the deeper layers",
            format!(
                "mean MD error of the upper layers ({upper:?}) at the last checkpoint; holds if it fell by ≥ 0.05 from step {first} AND the layer with the lowest MD error at the last checkpoint is an upper layer"
            ),
            md_deep_last,
            c2a && c2b,
        )
        .baseline(md_deep_first, format!("upper-layer MD error at step {first}"))
        .detail(format!("drop {:.3} (≥0.05: {c2a}); best layer {best_md_layer} ({c2b}); 95% CI of the best layer [{:.3}, {:.3}]", md_deep_first - md_deep_last, at(last, best_md_layer).md_lo, at(last, best_md_layer).md_hi)),
    );
    report.add_claim(
        Claim::new(
            "controls",
            "Random features give ABX error ≈ 0.5; shuffling the meaning alignment breaks MD but not LD",
            "holds if random-feature LD and MD errors are within 0.03 of 0.5, the shuffled-alignment MD error (mean over layers, last checkpoint) is within 0.05 of 0.5, and no layer's LD error moves by more than 0.05 under the shuffle",
            shuf_md_mean,
            c3,
        )
        .baseline(0.5, "chance")
        .detail(format!("random LD {rand_ld:.3}, random MD {rand_md:.3}; shuffled MD {shuf_md_mean:.3}; max |ΔLD| {shuf_dld_max:.3}")),
    );
    report.add_metric("spearman_md_score_vs_top1", rho_md_top1);
    report.add_metric("spearman_md_score_vs_probe", rho_md_probe);
    report.add_metric("spearman_ld_score_vs_probe", rho_ld_probe);
    report.add_metric("spearman_ld_score_vs_md_score", rho_ld_md);
    report.add_metric("random_ld_error", rand_ld);
    report.add_metric("random_md_error", rand_md);
    report.add_metric("parameters", n_params as f64);
    report.add_metric("train_seconds", train_s);
    report.add_metric("analysis_seconds", analysis_s);

    let mut t = Table::new(
        "ABX error per checkpoint × layer (ties ½; 95 % bootstrap CI over sentences), retrieval top-1 and cross-lingual tense probe",
        [
            "step",
            "layer",
            "LD error",
            "LD CI",
            "MD error",
            "MD CI",
            "top-1",
            "probe acc",
        ],
    );
    for p in &grid {
        t.add_row(vec![
            Cell::from(p.step as f64),
            Cell::from(p.layer as f64),
            Cell::from(p.ld),
            Cell::from(format!("[{:.3}, {:.3}]", p.ld_lo, p.ld_hi)),
            Cell::from(p.md),
            Cell::from(format!("[{:.3}, {:.3}]", p.md_lo, p.md_hi)),
            Cell::from(p.top1),
            Cell::from(p.probe),
        ]);
    }
    report.add_table(t);
    let mut t = Table::new(
        "Shuffled meaning alignment at the last checkpoint (languages 1.. permuted)",
        [
            "layer",
            "LD error",
            "LD shuffled",
            "MD error",
            "MD shuffled",
        ],
    );
    for (l, a, b, c, e) in shuf_rows {
        t.add_row(vec![
            Cell::from(l as f64),
            Cell::from(a),
            Cell::from(b),
            Cell::from(c),
            Cell::from(e),
        ]);
    }
    report.add_table(t);

    let xt: Vec<String> = steps.iter().map(|s| s.to_string()).collect();
    let yt = layer_labels(n_h);
    for (file, title, f) in [
        (
            "ld_heatmap.png",
            "Language discrimination: ABX error (ON language, ACROSS meaning)",
            (|p: &Point| p.ld) as fn(&Point) -> f64,
        ),
        (
            "md_heatmap.png",
            "Meaning discrimination: ABX error (ON meaning, ACROSS language)",
            |p: &Point| p.md,
        ),
    ] {
        let values: Vec<Vec<f64>> = (0..n_h)
            .map(|l| steps.iter().map(|&s| f(at(s, l))).collect())
            .collect();
        plot::heatmap(
            args.out.join(file),
            &Heatmap {
                title: title.into(),
                x_label: "training step".into(),
                y_label: "layer".into(),
                x_ticks: xt.clone(),
                y_ticks: yt.clone(),
                values,
                value_range: Some((0.0, 0.5)),
                annotate: true,
            },
        )
        .with_context(|| format!("plotting {file}"))?;
        report.add_figure(Figure::new(title, file, "rows: hidden state (emb = embeddings); columns: checkpoints; lower = better discrimination"));
    }
    for (file, title, mat) in [
        (
            "ld_pairs_last.png",
            format!(
                "LD error per ordered pair (row = A's language), step {last}, layer {}",
                plan.n_layers
            ),
            at(last, plan.n_layers).ld_pairs.clone(),
        ),
        (
            "md_pairs_last.png",
            format!(
                "MD error per ordered pair (row = A/B's language), step {last}, layer {}",
                plan.n_layers
            ),
            at(last, plan.n_layers).md_pairs.clone(),
        ),
    ] {
        plot_pair_heatmap(args.out.join(file), &title, &names, mat)?;
        report.add_figure(Figure::new(
            title,
            file,
            "per-pair errors at the last checkpoint, last layer",
        ));
    }
    let series = |f: fn(&Point) -> f64, l: usize, name: &str| {
        Series::new(
            format!("{name} L{l}"),
            steps
                .iter()
                .map(|&s| ((s.max(1)) as f64, f(at(s, l))))
                .collect(),
        )
    };
    let mut s = Vec::new();
    for l in 0..n_h {
        s.push(series(|p| 1.0 - p.md, l, "MD score"));
    }
    for l in 0..n_h {
        s.push(series(|p| p.top1, l, "top-1"));
    }
    plot::line(
        args.out.join("md_vs_retrieval.png"),
        &LinePlot {
            title: "MD score (1 − error) and top-1 retrieval per layer".into(),
            x_label: "step (0 drawn at 1)".into(),
            y_label: "score".into(),
            series: s,
            log_x: true,
        },
    )?;
    report.add_figure(Figure::new(
        "MD vs retrieval",
        "md_vs_retrieval.png",
        "the probing analogue tracks MD",
    ));
    plot::line(
        args.out.join("loss.png"),
        &LinePlot {
            title: "MLM loss (last batch)".into(),
            x_label: "step".into(),
            y_label: "masked CE (nats)".into(),
            series: vec![Series::new("train", losses)],
            log_x: false,
        },
    )?;
    report.add_figure(Figure::new(
        "MLM loss",
        "loss.png",
        "training loss at each checkpoint",
    ));
    report.add_note(format!(
        "{} synthlang languages (graded closeness, anchors on, code-switch rate {}), monolingual streams of {:?} sentences sampled with α = {alpha}; MLM d={} layers={} ({n_params} parameters), {} steps of batch {}; evaluation: {} held-out parallel meanings; cosine on mean-pooled states (BOS/EOS excluded); probe: ridge (λ=1e-2) for tense fit on {} and tested on the other languages",
        plan.langs, plan.code_switch, sizes, plan.d_model, plan.n_layers, total, plan.batch, n, names[0]
    ));
    report = report.with_elapsed(started.elapsed().as_secs_f64());
    let path = report.write(&args.out)?;
    eprintln!(
        "claims: LD {} MD {} controls {}; ρ(MD,top1) {rho_md_top1:.2} ρ(MD,probe) {rho_md_probe:.2} ρ(LD,MD) {rho_ld_md:.2}; train {train_s:.0}s analysis {analysis_s:.0}s; report {}",
        c1a && c1b,
        c2a && c2b,
        c3,
        path.display()
    );
    Ok(())
}
