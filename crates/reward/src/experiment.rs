//! The experiment behind `cargo xtask eval reward`: in the synthetic preference world
//! ([`crate::world`]), SFT a small causal Transformer, then train DPO (the implicit reward
//! model, DPORM) and an explicit Bradley-Terry reward model (EXRM) from that same start on
//! the same batches, and compare their preference accuracy in distribution and under the
//! five shifts, over several seeds.
//!
//! Stages, each callable on its own: [`prepare`] (data), [`train_seed`] (SFT, DPO, EXRM with
//! the pilot curves), [`evaluate`] (accuracies per setting), [`report`] (claims, tables,
//! figures).

use crate::data::PreferencePair;
use crate::loss::{DpoConfig, DpoKind, Ties, implicit_rewards, preference_accuracy};
use crate::policy::{LogProbReduction, ReferenceCache, logprobs_of};
use crate::reward_model::RewardModel;
use crate::train::{Batching, Schedule, train_dpo, train_exrm, train_sft};
use crate::world::{LabelledPair, PAD, Setting, World, WorldConfig};
use anyhow::{Context, Result};
use burn::module::Module;
use burn::prelude::*;
use ember_core::eval::{EvalRun, Plan, Scale, check};
use ember_core::nn::{Transformer, TransformerConfig};
use ember_core::report::plot::{self, BarChart, LinePlot, Series};
use ember_core::report::{Cell, Claim, Figure, Report, Table};
use ember_core::seed::Seed;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Sizes and hyper-parameters of the `reward` eval; defaults per scale, overridable with
/// `--config` / `--set`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RewardPlan {
    /// Independent repeats (world data, initialisation, batches), derived from `--seed`.
    pub seeds: usize,
    /// Concepts per topic in the world ([`WorldConfig::concepts`]; 12, not the spec's 6, so
    /// that chance repeats do not dominate the oracle: see the README's pilot).
    pub concepts: usize,
    /// Transformer width (4 heads, MLP 4×).
    pub d_model: usize,
    /// Transformer blocks.
    pub n_layers: usize,
    /// SFT examples (every topic and length request, both surface forms).
    pub sft_examples: usize,
    /// SFT optimizer steps.
    pub sft_steps: usize,
    /// SFT peak learning rate.
    pub sft_lr: f64,
    /// Examples (SFT) or pairs (DPO, EXRM) per step.
    pub batch: usize,
    /// Preference-training pairs (in-distribution domain).
    pub train_pairs: usize,
    /// Test pairs per setting (in distribution and each shift).
    pub test_pairs: usize,
    /// DPO and EXRM optimizer steps (the same for both).
    pub steps: usize,
    /// DPO peak learning rate.
    pub dpo_lr: f64,
    /// EXRM peak learning rate.
    pub exrm_lr: f64,
    /// DPO β.
    pub beta: f64,
    /// Steps between the pilot's training-accuracy measurements (and checkpoints).
    pub eval_every: usize,
    /// Training pairs on which training accuracy (the premise) is measured.
    pub fit_pairs: usize,
    /// How tied rewards count in accuracy (`half` or `wrong`); the other is reported too.
    pub ties: Ties,
}

impl Plan for RewardPlan {
    fn for_scale(scale: Scale) -> Self {
        match scale {
            Scale::Quick => RewardPlan {
                seeds: 3,
                concepts: 12,
                d_model: 48,
                n_layers: 2,
                sft_examples: 4000,
                sft_steps: 300,
                sft_lr: 3e-3,
                batch: 32,
                train_pairs: 2000,
                test_pairs: 300,
                steps: 400,
                dpo_lr: 1e-3,
                exrm_lr: 1e-3,
                beta: 0.1,
                eval_every: 50,
                fit_pairs: 300,
                ties: Ties::Half,
            },
            Scale::Full => RewardPlan {
                seeds: 3,
                concepts: 12,
                d_model: 64,
                n_layers: 3,
                sft_examples: 20000,
                sft_steps: 1500,
                sft_lr: 2e-3,
                batch: 64,
                train_pairs: 20000,
                test_pairs: 2000,
                steps: 1000,
                dpo_lr: 5e-4,
                exrm_lr: 5e-4,
                beta: 0.1,
                eval_every: 125,
                fit_pairs: 1000,
                ties: Ties::Half,
            },
        }
    }

    fn validate(&self) -> ember_core::Result<()> {
        check(self.seeds >= 1, "seeds", "must be at least 1")?;
        check(self.concepts >= 1, "concepts", "must be at least 1")?;
        check(
            self.d_model >= 4 && self.d_model.is_multiple_of(4),
            "d_model",
            "must be a positive multiple of 4 (4 heads)",
        )?;
        check(self.n_layers >= 1, "n_layers", "must be at least 1")?;
        check(self.sft_examples >= 1, "sft_examples", "must be at least 1")?;
        check(self.sft_steps >= 1, "sft_steps", "must be at least 1")?;
        for (key, lr) in [
            ("sft_lr", self.sft_lr),
            ("dpo_lr", self.dpo_lr),
            ("exrm_lr", self.exrm_lr),
        ] {
            check(lr.is_finite() && lr > 0.0, key, "must be positive")?;
        }
        check(self.batch >= 1, "batch", "must be at least 1")?;
        check(self.train_pairs >= 1, "train_pairs", "must be at least 1")?;
        check(self.test_pairs >= 1, "test_pairs", "must be at least 1")?;
        check(self.steps >= 1, "steps", "must be at least 1")?;
        check(
            self.beta.is_finite() && self.beta > 0.0,
            "beta",
            "must be positive",
        )?;
        check(
            self.eval_every >= 1 && self.eval_every <= self.steps.min(self.sft_steps),
            "eval_every",
            "must be in 1..=min(steps, sft_steps)",
        )?;
        check(
            self.fit_pairs >= 1 && self.fit_pairs <= self.train_pairs,
            "fit_pairs",
            "must be in 1..=train_pairs",
        )
    }
}

/// The premise's threshold: each model's training accuracy must reach this fraction of the
/// oracle's (fixed before the first run; see the README).
pub const PREMISE_FRACTION: f64 = 0.9;
/// Claim 1's threshold on the training-accuracy gap (fixed before the first run).
pub const FIT_GAP: f64 = 0.03;
/// The paper's mean and maximum accuracy drop of DPORM against EXRM over five shifts.
pub const PAPER_MEAN_DROP: f64 = 0.03;
/// See [`PAPER_MEAN_DROP`].
pub const PAPER_MAX_DROP: f64 = 0.07;

impl RewardPlan {
    /// The world this plan's experiment runs in: [`WorldConfig::default`] with the plan's
    /// number of concepts per topic.
    pub fn world(&self) -> ember_core::Result<World> {
        World::new(WorldConfig {
            concepts: self.concepts,
            ..WorldConfig::default()
        })
    }
}

/// The data of one seed: the SFT corpus, training pairs and one test set per setting.
#[derive(Debug, Clone)]
pub struct SeedData {
    /// `(prompt, response)` SFT examples.
    pub sft: Vec<(Vec<u32>, Vec<u32>)>,
    /// Preference-training pairs.
    pub train: Vec<LabelledPair>,
    /// Test pairs per setting, [`Setting::InDistribution`] first, then [`Setting::SHIFTS`].
    pub tests: Vec<(Setting, Vec<LabelledPair>)>,
}

/// Draws the data of one seed (every stream derived from `seed` by name).
pub fn prepare(world: &World, plan: &RewardPlan, seed: Seed) -> Result<SeedData> {
    let sft = world.sft_corpus(plan.sft_examples, &mut seed.derive("sft-data").rng());
    let id = world.domain(Setting::InDistribution);
    let train = world.pairs(&id, plan.train_pairs, &mut seed.derive("train-pairs").rng())?;
    let mut tests = Vec::new();
    for s in std::iter::once(Setting::InDistribution).chain(Setting::SHIFTS) {
        // The token shift maps the in-distribution test pairs themselves to form B.
        let stream = if s == Setting::Token {
            Setting::InDistribution
        } else {
            s
        };
        let rng = &mut seed.derive("test").derive(stream.name()).rng();
        tests.push((s, world.pairs(&world.domain(s), plan.test_pairs, rng)?));
    }
    Ok(SeedData { sft, train, tests })
}

fn pairs_of(l: &[LabelledPair]) -> Vec<PreferencePair> {
    l.iter().map(|p| p.pair.clone()).collect()
}

/// The trained models of one seed and the pilot's training-accuracy curves.
pub struct SeedModels {
    /// The SFT model: the reference and the start of both reward models.
    pub reference: Transformer,
    /// The DPO policy (its implicit reward is DPORM).
    pub policy: Transformer,
    /// The explicit reward model.
    pub exrm: RewardModel<Transformer>,
    /// `(step, DPORM accuracy, EXRM accuracy)` on the `fit_pairs` training pairs.
    pub curves: Vec<(f64, f64, f64)>,
}

/// DPORM rewards `(chosen, rejected)` of `pairs`.
fn dporm_rewards(
    policy: &Transformer,
    reference: &ReferenceCache,
    pairs: &[PreferencePair],
    beta: f64,
    device: &Device,
) -> ember_core::Result<(Vec<f64>, Vec<f64>)> {
    let (pc, pr) = logprobs_of(policy, pairs, PAD, 256, reference.reduction, device)?;
    Ok((
        implicit_rewards(&pc, &reference.chosen, beta)?,
        implicit_rewards(&pr, &reference.rejected, beta)?,
    ))
}

/// SFT, then DPO and EXRM from the SFT model on the same batches; checkpoints under `dir`
/// (resumed when present).
pub fn train_seed(
    world: &World,
    plan: &RewardPlan,
    data: &SeedData,
    seed: Seed,
    device: &Device,
    dir: &Path,
) -> Result<SeedModels> {
    let ad = device.clone().autodiff();
    seed.derive("init").seed_device(&ad);
    let cfg = TransformerConfig::new(
        world.vocab_size(),
        plan.d_model,
        4,
        plan.n_layers,
        4 * plan.d_model,
        world.max_len(),
    )
    .with_causal(true);
    let model = cfg.try_init(&ad)?;
    let batching = Batching::of(&model, PAD);
    let schedule = |steps: usize, lr: f64, label: &str| Schedule {
        steps,
        batch: plan.batch,
        lr,
        warmup: steps / 10,
        seed: seed.derive(label).value(),
        eval_every: plan.eval_every,
        grad_clip: 1.0,
    };
    let sft = train_sft(
        model,
        &data.sft,
        &schedule(plan.sft_steps, plan.sft_lr, "sft-batches"),
        batching,
        Some(&dir.join("sft")),
        &ad,
        |_, _| Ok(()),
    )?;
    let reference = sft.valid();

    let train = pairs_of(&data.train);
    let cache =
        ReferenceCache::compute(&reference, &train, PAD, 256, LogProbReduction::Sum, device)?;
    let fit: Vec<PreferencePair> = train[..plan.fit_pairs].to_vec();
    let fit_cache = ReferenceCache {
        chosen: cache.chosen[..plan.fit_pairs].to_vec(),
        rejected: cache.rejected[..plan.fit_pairs].to_vec(),
        reduction: cache.reduction,
    };
    let dpo = DpoConfig {
        beta: plan.beta,
        kind: DpoKind::Sigmoid,
        label_smoothing: 0.0,
    };
    // DPO and EXRM draw the same batches: one schedule seed. Curves are kept on disk beside
    // the checkpoints so a resumed run still has the points measured before the interruption.
    let mut dpo_curve = Curve::open(dir.join("dpo-curve.json"))?;
    let policy = train_dpo(
        sft.clone(),
        &train,
        &cache,
        &dpo,
        &schedule(plan.steps, plan.dpo_lr, "preference-batches"),
        batching,
        Some(&dir.join("dpo")),
        &ad,
        |step, m| {
            let (c, r) = dporm_rewards(&m.valid(), &fit_cache, &fit, plan.beta, device)?;
            dpo_curve.push(step, preference_accuracy(&c, &r, plan.ties)?)
        },
    )?
    .valid();

    seed.derive("head").seed_device(&ad);
    let rm = RewardModel::new(sft, &ad);
    let mut exrm_curve = Curve::open(dir.join("exrm-curve.json"))?;
    let exrm = train_exrm(
        rm,
        &train,
        &schedule(plan.steps, plan.exrm_lr, "preference-batches"),
        batching,
        Some(&dir.join("exrm")),
        &ad,
        |step, m| {
            let (c, r) = m.valid().score_pairs(&fit, PAD, 256, device)?;
            exrm_curve.push(step, preference_accuracy(&c, &r, plan.ties)?)
        },
    )?
    .valid();
    let curves = dpo_curve
        .points
        .iter()
        .zip(&exrm_curve.points)
        .map(|(&(s, d), &(_, e))| (s, d, e))
        .collect();
    Ok(SeedModels {
        reference,
        policy,
        exrm,
        curves,
    })
}

/// A training curve `(step, value)` persisted to a JSON file after every point.
struct Curve {
    path: std::path::PathBuf,
    points: Vec<(f64, f64)>,
}

impl Curve {
    fn open(path: std::path::PathBuf) -> ember_core::Result<Curve> {
        let points = match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map_err(|e| ember_core::Error::format(&path, e.to_string()))?,
            Err(_) => Vec::new(),
        };
        Ok(Curve { path, points })
    }

    fn push(&mut self, step: usize, value: f64) -> ember_core::Result<()> {
        self.points.retain(|p| p.0 < step as f64);
        self.points.push((step as f64, value));
        if let Some(parent) = self.path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| ember_core::Error::io(parent, e))?;
        }
        let json = serde_json::to_string(&self.points)
            .map_err(|e| ember_core::Error::InvalidInput(e.to_string()))?;
        std::fs::write(&self.path, json).map_err(|e| ember_core::Error::io(&self.path, e))
    }
}

/// Accuracies of the two reward models (and the oracle) on one set of pairs.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Accuracy {
    /// DPORM, ties by the plan's convention.
    pub dporm: f64,
    /// EXRM, ties by the plan's convention.
    pub exrm: f64,
    /// DPORM with the other tie convention.
    pub dporm_other_ties: f64,
    /// EXRM with the other tie convention.
    pub exrm_other_ties: f64,
    /// The oracle reward's agreement with the (noisy) labels: the ceiling.
    pub oracle: f64,
    /// The agreement of [`World::additive_proxy`] (the oracle without distinctness) with the
    /// labels: what a per-word additive scorer can reach.
    pub additive: f64,
}

/// Scores `pairs` with both reward models (reference log-probabilities computed here).
pub fn accuracy(
    world: &World,
    models: &SeedModels,
    pairs: &[LabelledPair],
    plan: &RewardPlan,
    device: &Device,
) -> Result<Accuracy> {
    let p = pairs_of(pairs);
    let cache = ReferenceCache::compute(
        &models.reference,
        &p,
        PAD,
        256,
        LogProbReduction::Sum,
        device,
    )?;
    let (dc, dr) = dporm_rewards(&models.policy, &cache, &p, plan.beta, device)?;
    let (ec, er) = models.exrm.score_pairs(&p, PAD, 256, device)?;
    let oc: Vec<f64> = pairs.iter().map(|l| l.r_chosen).collect();
    let or: Vec<f64> = pairs.iter().map(|l| l.r_rejected).collect();
    let additive = |y: fn(&PreferencePair) -> &Vec<u32>| {
        pairs
            .iter()
            .map(|l| world.additive_proxy(&l.pair.prompt, y(&l.pair)))
            .collect::<ember_core::Result<Vec<f64>>>()
    };
    let (ac, ar) = (additive(|p| &p.chosen)?, additive(|p| &p.rejected)?);
    let other = match plan.ties {
        Ties::Half => Ties::Wrong,
        Ties::Wrong => Ties::Half,
    };
    Ok(Accuracy {
        dporm: preference_accuracy(&dc, &dr, plan.ties)?,
        exrm: preference_accuracy(&ec, &er, plan.ties)?,
        dporm_other_ties: preference_accuracy(&dc, &dr, other)?,
        exrm_other_ties: preference_accuracy(&ec, &er, other)?,
        oracle: preference_accuracy(&oc, &or, plan.ties)?,
        additive: preference_accuracy(&ac, &ar, plan.ties)?,
    })
}

/// What one seed measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedResult {
    /// Accuracy on the `fit_pairs` training pairs (the premise).
    pub train: Accuracy,
    /// Accuracy per setting, in distribution first.
    pub settings: Vec<(Setting, Accuracy)>,
    /// The pilot curves `(step, DPORM, EXRM)` on the training pairs.
    pub curves: Vec<(f64, f64, f64)>,
}

/// Accuracies of one seed's models on the training subset and every test set.
pub fn evaluate(
    world: &World,
    models: &SeedModels,
    data: &SeedData,
    plan: &RewardPlan,
    device: &Device,
) -> Result<SeedResult> {
    let train = accuracy(world, models, &data.train[..plan.fit_pairs], plan, device)?;
    let mut settings = Vec::new();
    for (s, pairs) in &data.tests {
        settings.push((*s, accuracy(world, models, pairs, plan, device)?));
    }
    Ok(SeedResult {
        train,
        settings,
        curves: models.curves.clone(),
    })
}

/// Mean and sample standard deviation.
pub fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let sd = if v.len() > 1 {
        (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    (m, sd)
}

/// Runs the eval with `plan`; [`EvalRun::finish`] writes the report.
pub fn run(run: &EvalRun, plan: &RewardPlan) -> Result<Report> {
    let world = plan.world()?;
    let mut results = Vec::with_capacity(plan.seeds);
    for i in 0..plan.seeds {
        let seed = Seed::new(run.seed()).index(i as u64);
        let t0 = std::time::Instant::now();
        let data = prepare(&world, plan, seed)?;
        let dir = run.run_dir(&format!("seed{i}"))?;
        let models = train_seed(&world, plan, &data, seed, &run.device, &dir)
            .with_context(|| format!("training seed {i}"))?;
        let r = evaluate(&world, &models, &data, plan, &run.device)?;
        eprintln!(
            "seed {i}: train DPORM {:.3} EXRM {:.3} (oracle {:.3}); {:.0} s",
            r.train.dporm,
            r.train.exrm,
            r.train.oracle,
            t0.elapsed().as_secs_f64()
        );
        results.push(r);
    }
    report(run, plan, &results)
}

/// Drops `EXRM − DPORM` per shift (rows) and seed (columns).
fn drops(results: &[SeedResult]) -> Vec<(Setting, Vec<f64>)> {
    Setting::SHIFTS
        .iter()
        .map(|&s| {
            let d = results
                .iter()
                .map(|r| {
                    let a = r.settings.iter().find(|(x, _)| *x == s).map(|x| x.1);
                    a.map_or(f64::NAN, |a| a.exrm - a.dporm)
                })
                .collect();
            (s, d)
        })
        .collect()
}

/// A table row: setting, per-seed DPORM / EXRM / drop / oracle, other-tie means.
type Row = (String, Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>, f64, f64);

/// Claims, tables and figures from the per-seed results.
pub fn report(run: &EvalRun, plan: &RewardPlan, results: &[SeedResult]) -> Result<Report> {
    anyhow::ensure!(!results.is_empty(), "no seeds ran");
    let world = plan.world()?;
    let n = results.len() as f64;
    let se = |sd: f64| sd / n.sqrt();
    let mut rep = run.report("P9", "Implicit (DPO) vs explicit reward models under shift");

    // Premise (pilot): both fit the training preferences.
    let col = |f: &dyn Fn(&SeedResult) -> f64| results.iter().map(f).collect::<Vec<_>>();
    let (tr_d, _) = mean_sd(&col(&|r| r.train.dporm));
    let (tr_e, _) = mean_sd(&col(&|r| r.train.exrm));
    let (tr_o, _) = mean_sd(&col(&|r| r.train.oracle));
    let (tr_a, _) = mean_sd(&col(&|r| r.train.additive));
    let premise = tr_d >= PREMISE_FRACTION * tr_o && tr_e >= PREMISE_FRACTION * tr_o;
    rep.add_claim(
        Claim::new(
            "premise-both-fit",
            "Pilot: DPORM and EXRM both fit the training preferences",
            format!(
                "lower of the two training accuracies (mean over seeds); holds if both ≥ {PREMISE_FRACTION} × the oracle's"
            ),
            tr_d.min(tr_e),
            premise,
        )
        .baseline(PREMISE_FRACTION * tr_o, "0.9 × oracle accuracy on the same pairs")
        .detail(format!(
            "DPORM {tr_d:.3}, EXRM {tr_e:.3}, oracle {tr_o:.3}, additive proxy (oracle without distinctness) {tr_a:.3}"
        )),
    );

    // Claim 1: fit comparably.
    let gaps = col(&|r| r.train.dporm - r.train.exrm);
    let (gap, gap_sd) = mean_sd(&gaps);
    rep.add_claim(
        Claim::new(
            "fit-comparable",
            "DPORM fits the training preferences comparably to EXRM",
            format!("training accuracy DPORM − EXRM (mean over seeds); holds if |gap| ≤ {FIT_GAP}"),
            gap,
            gap.abs() <= FIT_GAP,
        )
        .baseline(0.0, "paper: comparable")
        .detail(format!("sd over seeds {gap_sd:.3}")),
    );

    // Claims 2 and 3: the drop under shift.
    let per_shift = drops(results);
    let seed_means: Vec<f64> = (0..results.len())
        .map(|i| per_shift.iter().map(|(_, d)| d[i]).sum::<f64>() / per_shift.len() as f64)
        .collect();
    let (mean_drop, mean_sd_) = mean_sd(&seed_means);
    rep.add_claim(
        Claim::new(
            "ood-mean-drop",
            "Across five shifts DPORM is less accurate than EXRM on average (paper: 3 %)",
            "mean over the five shifts of accuracy EXRM − DPORM, mean over seeds; holds if mean − standard error > 0",
            mean_drop,
            mean_drop - se(mean_sd_) > 0.0,
        )
        .baseline(PAPER_MEAN_DROP, "paper's mean drop")
        .detail(format!(
            "per seed {:?}; sd {mean_sd_:.3}",
            seed_means.iter().map(|x| (x * 1000.0).round() / 1000.0).collect::<Vec<_>>()
        )),
    );
    let stats: Vec<(Setting, f64, f64)> = per_shift
        .iter()
        .map(|(s, d)| {
            let (m, sd) = mean_sd(d);
            (*s, m, sd)
        })
        .collect();
    let (max_s, max_m, max_sd) = stats
        .iter()
        .copied()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .context("no shifts")?;
    rep.add_claim(
        Claim::new(
            "ood-max-drop",
            "The largest per-shift drop of DPORM against EXRM is positive (paper: 7 %)",
            "largest over the five shifts of the seed-mean accuracy EXRM − DPORM; holds if mean − standard error > 0",
            max_m,
            max_m - se(max_sd) > 0.0,
        )
        .baseline(PAPER_MAX_DROP, "paper's maximum drop")
        .detail(format!("at the {} shift, sd over seeds {max_sd:.3}", max_s.name())),
    );

    // Tables.
    let mut table = Table::new(
        format!(
            "Preference accuracy per setting (ties {}; mean ± sd over {} seeds)",
            match plan.ties {
                Ties::Half => "count ½",
                Ties::Wrong => "count wrong",
            },
            results.len()
        ),
        [
            "setting",
            "DPORM",
            "EXRM",
            "EXRM − DPORM",
            "oracle (ceiling)",
            "DPORM / EXRM, other tie rule",
        ],
    );
    let pm = |v: &[f64]| {
        let (m, sd) = mean_sd(v);
        format!("{m:.3} ± {sd:.3}")
    };
    let mut rows: Vec<Row> = vec![(
        "training pairs".into(),
        col(&|r| r.train.dporm),
        col(&|r| r.train.exrm),
        col(&|r| r.train.exrm - r.train.dporm),
        col(&|r| r.train.oracle),
        mean_sd(&col(&|r| r.train.dporm_other_ties)).0,
        mean_sd(&col(&|r| r.train.exrm_other_ties)).0,
    )];
    for (k, (s, _)) in results[0].settings.iter().enumerate() {
        let get = |f: &dyn Fn(&Accuracy) -> f64| {
            results
                .iter()
                .map(|r| f(&r.settings[k].1))
                .collect::<Vec<_>>()
        };
        rows.push((
            s.name().into(),
            get(&|a| a.dporm),
            get(&|a| a.exrm),
            get(&|a| a.exrm - a.dporm),
            get(&|a| a.oracle),
            mean_sd(&get(&|a| a.dporm_other_ties)).0,
            mean_sd(&get(&|a| a.exrm_other_ties)).0,
        ));
    }
    for (name, d, e, g, o, d2, e2) in &rows {
        table.add_row(vec![
            Cell::from(name.as_str()),
            Cell::from(pm(d)),
            Cell::from(pm(e)),
            Cell::from(pm(g)),
            Cell::from(pm(o)),
            Cell::from(format!("{d2:.3} / {e2:.3}")),
        ]);
        rep.add_metric(
            format!("acc_dporm_{}", name.replace(' ', "_")),
            mean_sd(d).0,
        );
        rep.add_metric(format!("acc_exrm_{}", name.replace(' ', "_")), mean_sd(e).0);
    }
    rep.add_table(table);
    rep.add_metric("acc_additive_proxy_training_pairs", tr_a);
    rep.add_metric("ood_mean_drop", mean_drop);
    rep.add_metric("ood_max_drop", max_m);

    // Figures.
    let out = run.out();
    let curves = &results[0].curves;
    let steps_max = curves.last().map_or(1.0, |c| c.0);
    plot::line(
        out.join("pilot.png"),
        &LinePlot {
            title: "Pilot: training-pair accuracy during DPO / EXRM training (seed 0)".into(),
            x_label: "step".into(),
            y_label: "accuracy on training pairs".into(),
            series: vec![
                Series::new("DPORM", curves.iter().map(|c| (c.0, c.1)).collect()),
                Series::new("EXRM", curves.iter().map(|c| (c.0, c.2)).collect()),
                Series::new(
                    "oracle (ceiling)",
                    vec![
                        (0.0, results[0].train.oracle),
                        (steps_max, results[0].train.oracle),
                    ],
                ),
            ],
            log_x: false,
        },
    )
    .context("plotting the pilot")?;
    rep.add_figure(Figure::new(
        "Pilot",
        "pilot.png",
        "Training-pair accuracy of both reward models against the oracle's ceiling",
    ));
    let groups: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    plot::bar(
        out.join("accuracy.png"),
        &BarChart {
            title: "Preference accuracy per setting (mean over seeds)".into(),
            y_label: "accuracy".into(),
            groups: groups.clone(),
            series: vec![
                (
                    "DPORM".into(),
                    rows.iter().map(|r| mean_sd(&r.1).0).collect(),
                ),
                (
                    "EXRM".into(),
                    rows.iter().map(|r| mean_sd(&r.2).0).collect(),
                ),
                (
                    "oracle".into(),
                    rows.iter().map(|r| mean_sd(&r.4).0).collect(),
                ),
            ],
        },
    )
    .context("plotting accuracies")?;
    rep.add_figure(Figure::new(
        "Accuracy per setting",
        "accuracy.png",
        "DPORM, EXRM and the oracle's agreement with the labels",
    ));
    plot::bar(
        out.join("drops.png"),
        &BarChart {
            title: "Accuracy drop EXRM − DPORM per shift".into(),
            y_label: "EXRM − DPORM".into(),
            groups: per_shift
                .iter()
                .map(|(s, _)| s.name().to_string())
                .collect(),
            series: (0..results.len())
                .map(|i| {
                    (
                        format!("seed {i}"),
                        per_shift.iter().map(|(_, d)| d[i]).collect(),
                    )
                })
                .collect(),
        },
    )
    .context("plotting drops")?;
    rep.add_figure(Figure::new(
        "Drop per shift",
        "drops.png",
        "Positive: DPORM less accurate than EXRM",
    ));
    rep.add_note(format!(
        "world: {} topics ({} in preference training) × {} concepts, vocab {}; model d={} L={}; SFT {} steps, DPO (β={}) and EXRM {} steps of {} pairs from {} training pairs; {} test pairs per setting",
        world.config().topics,
        world.train_topics().len(),
        world.config().concepts,
        world.vocab_size(),
        plan.d_model,
        plan.n_layers,
        plan.sft_steps,
        plan.beta,
        plan.steps,
        plan.batch,
        plan.train_pairs,
        plan.test_pairs
    ));
    std::fs::write(
        out.join("seeds.json"),
        serde_json::to_string_pretty(results).context("serialising the seeds")?,
    )
    .context("writing seeds.json")?;
    Ok(rep)
}
