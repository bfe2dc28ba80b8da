//! The experiment behind `cargo xtask eval aux-lang`: the offline reproduction of paper P6
//! (auxiliary-language data for a data-constrained target language; spec §5.2) on a
//! synthetic fact world.
//!
//! Builds a fact world, an auxiliary language A (all facts) and a target language T (a small
//! corpus stating only a quarter of the facts, mixed in at a fixed 5% of training windows so
//! that it is seen ≈ 20 times), trains tiny causal Transformer LMs on target-only and
//! bilingual mixtures, and measures QA_T: T-language multiple-choice accuracy on facts that
//! only A states. Three claims are checked, each with a rule fixed before any run:
//!
//! * (4) adding A helps a close T (level C0) more than a far T (level C3): QA_T gain over
//!   target-only at C0 > at C3;
//! * (5) better auxiliary data helps T: QA_T with high-quality A (filler q = 0.2) > with
//!   low-quality A (q = 0.8), at C0;
//! * (6) a larger model overfits the scarce T data: its T-validation loss rises ≥ 0.01 nats
//!   above its minimum by the end, or ends above the small model's while its T-training loss
//!   is below the small model's.
//!
//! Each arm checkpoints in `<out>/<arm>/`; with `--resume` an interrupted arm continues
//! bit for bit and a finished one is read back from its `result.json`.

use crate::auxlang::{
    BilingualPair, Closeness, CorpusConfig, FactSet, FactWorld, FactWorldConfig, MixSampler,
    QaItem, qa_accuracy, qa_items,
};
use anyhow::{Context, Result};
use burn::module::Module;
use ember_core::eval::{EvalRun, Plan, Scale, check};
use ember_core::lm::{mean_loss, next_token_loss, token_batch, windows};
use ember_core::nn::{Transformer, TransformerConfig};
use ember_core::report::plot::{self, BarChart, LinePlot, Series};
use ember_core::report::{Cell, Claim, Figure, Report, Table};
use ember_core::seed::Seed;
use ember_core::train::{StepOutput, TrainConfig, Trainer};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

/// Attention heads of every model.
const HEADS: usize = 4;
/// Windows per batch when measuring T losses.
const EVAL_BATCH: usize = 64;
/// Questions per batch when scoring QA.
const QA_BATCH: usize = 256;

/// Shape and learning rate of one model size.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelSpec {
    /// Width (a multiple of the 4 heads).
    pub d_model: usize,
    /// Transformer layers.
    pub layers: usize,
    /// Feed-forward width.
    pub d_ff: usize,
    /// Peak learning rate.
    pub lr: f64,
}

/// Sizes and schedule of the aux-lang eval; defaults per scale, overridable with `--config`
/// / `--set` (e.g. `--set large.d_model=128`, `--set 'extra_levels=["C1"]'`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuxLangPlan {
    /// The fact world and its documents. `world.seed` must stay 0: the world is drawn from
    /// `--seed`.
    pub world: FactWorldConfig,
    /// Fraction of the facts the T corpus states (stratified per entity).
    pub target_fact_fraction: f64,
    /// Filler probability of high-quality A.
    pub q_high: f64,
    /// Filler probability of low-quality A.
    pub q_low: f64,
    /// Filler probability of the T corpus.
    pub q_target: f64,
    /// Share of training windows drawn from T in bilingual runs.
    pub target_ratio: f64,
    /// Passes over the T corpus a bilingual run makes (sets the T corpus size).
    pub target_passes: f64,
    /// T validation windows (also the T-training windows the curves measure).
    pub val_windows: usize,
    /// Training steps of every arm.
    pub steps: usize,
    /// Windows per batch.
    pub batch: usize,
    /// Tokens per window, after the first (windows have `seq + 1` tokens).
    pub seq: usize,
    /// Steps between T-loss evaluations (checkpoints every 4 of them).
    pub eval_every: usize,
    /// The small model (every arm but one).
    pub small: ModelSpec,
    /// The large model (C0 bilingual, high-quality A; claim 6).
    pub large: ModelSpec,
    /// Closeness levels beyond C0 and C3 to train target-only and bilingual arms for.
    pub extra_levels: Vec<Closeness>,
    /// Whether every level (not only C0) gets a low-quality-A arm.
    pub low_quality_all_levels: bool,
}

impl Plan for AuxLangPlan {
    fn for_scale(scale: Scale) -> Self {
        match scale {
            Scale::Quick => AuxLangPlan {
                world: FactWorldConfig {
                    n_topics: 6,
                    entities_per_topic: 8,
                    n_relations: 4,
                    values_per_relation: 8,
                    n_function_words: 12,
                    filler_branching: 3,
                    filler_len: (2, 5),
                    doc_sentences: (4, 8),
                    seed: 0,
                },
                target_fact_fraction: 0.25,
                q_high: 0.2,
                q_low: 0.8,
                q_target: 0.5,
                target_ratio: 0.05,
                target_passes: 20.0,
                val_windows: 64,
                steps: 1200,
                batch: 16,
                seq: 32,
                eval_every: 50,
                small: ModelSpec {
                    d_model: 32,
                    layers: 2,
                    d_ff: 128,
                    lr: 6e-3,
                },
                large: ModelSpec {
                    d_model: 64,
                    layers: 2,
                    d_ff: 256,
                    lr: 4e-3,
                },
                extra_levels: vec![],
                low_quality_all_levels: false,
            },
            Scale::Full => AuxLangPlan {
                world: FactWorldConfig {
                    n_topics: 8,
                    entities_per_topic: 12,
                    n_relations: 4,
                    values_per_relation: 10,
                    n_function_words: 16,
                    filler_branching: 3,
                    filler_len: (3, 6),
                    doc_sentences: (8, 16),
                    seed: 0,
                },
                target_fact_fraction: 0.25,
                q_high: 0.2,
                q_low: 0.8,
                q_target: 0.5,
                target_ratio: 0.05,
                target_passes: 20.0,
                val_windows: 128,
                steps: 3000,
                batch: 16,
                seq: 32,
                eval_every: 100,
                small: ModelSpec {
                    d_model: 64,
                    layers: 2,
                    d_ff: 256,
                    lr: 4e-3,
                },
                large: ModelSpec {
                    d_model: 128,
                    layers: 4,
                    d_ff: 512,
                    lr: 2.7e-3,
                },
                extra_levels: vec![Closeness::C1, Closeness::C2],
                low_quality_all_levels: true,
            },
        }
    }

    fn validate(&self) -> ember_core::Result<()> {
        let w = &self.world;
        for (key, v) in [
            ("world.n_topics", w.n_topics),
            ("world.entities_per_topic", w.entities_per_topic),
            ("world.n_relations", w.n_relations),
            ("world.n_function_words", w.n_function_words),
            ("world.filler_branching", w.filler_branching),
        ] {
            check(v >= 1, key, "must be at least 1")?;
        }
        check(
            w.values_per_relation >= 2,
            "world.values_per_relation",
            "must be at least 2 (multiple choice needs distractors)",
        )?;
        check(
            w.filler_branching <= w.n_function_words,
            "world.filler_branching",
            "must not exceed `world.n_function_words`",
        )?;
        check(
            w.filler_len.0 >= 1 && w.filler_len.0 <= w.filler_len.1,
            "world.filler_len",
            "must be a range [lo, hi] with 1 ≤ lo ≤ hi",
        )?;
        check(
            w.doc_sentences.0 >= 1 && w.doc_sentences.0 <= w.doc_sentences.1,
            "world.doc_sentences",
            "must be a range [lo, hi] with 1 ≤ lo ≤ hi",
        )?;
        check(
            w.seed == 0,
            "world.seed",
            "must be 0: the world is drawn from --seed",
        )?;
        w.validate()
            .map_err(|e| ember_core::Error::Config(format!("`world`: {e}")))?;
        check(
            self.target_fact_fraction > 0.0 && self.target_fact_fraction < 1.0,
            "target_fact_fraction",
            "must be in (0, 1): T states some facts and A alone states the rest",
        )?;
        for (key, q) in [
            ("q_high", self.q_high),
            ("q_low", self.q_low),
            ("q_target", self.q_target),
        ] {
            check((0.0..=1.0).contains(&q), key, "must be in [0, 1]")?;
        }
        check(
            self.q_high != self.q_low,
            "q_low",
            "must differ from `q_high` (claim 5 compares them)",
        )?;
        check(
            self.target_ratio > 0.0 && self.target_ratio < 1.0,
            "target_ratio",
            "must be in (0, 1)",
        )?;
        check(
            self.target_passes.is_finite() && self.target_passes > 0.0,
            "target_passes",
            "must be a positive number",
        )?;
        check(self.val_windows >= 1, "val_windows", "must be at least 1")?;
        check(self.steps >= 1, "steps", "must be at least 1")?;
        check(self.batch >= 1, "batch", "must be at least 1")?;
        check(self.seq >= 1, "seq", "must be at least 1")?;
        check(self.eval_every >= 1, "eval_every", "must be at least 1")?;
        for (name, m) in [("small", &self.small), ("large", &self.large)] {
            check(
                m.d_model >= HEADS && m.d_model.is_multiple_of(HEADS),
                &format!("{name}.d_model"),
                format!("must be a positive multiple of {HEADS} (the heads)"),
            )?;
            check(
                m.layers >= 1,
                &format!("{name}.layers"),
                "must be at least 1",
            )?;
            check(m.d_ff >= 1, &format!("{name}.d_ff"), "must be at least 1")?;
            check(
                m.lr.is_finite() && m.lr > 0.0,
                &format!("{name}.lr"),
                "must be a positive number",
            )?;
        }
        let mut seen = vec![Closeness::C0, Closeness::C3];
        for &l in &self.extra_levels {
            check(
                !seen.contains(&l),
                "extra_levels",
                format!("lists {} twice (C0 and C3 are always run)", l.name()),
            )?;
            seen.push(l);
        }
        Ok(())
    }
}

/// Model size of an arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Size {
    /// [`AuxLangPlan::small`].
    Small,
    /// [`AuxLangPlan::large`].
    Large,
}

/// One training run.
#[derive(Debug, Clone)]
pub struct Arm {
    /// Run name, e.g. `C0-bi-high`; also its directory under `--out`.
    pub name: String,
    /// Closeness of T to A.
    pub level: Closeness,
    /// `None`: target-only; `Some(q)`: bilingual with A of filler probability q.
    pub aux_q: Option<f64>,
    /// Model size.
    pub size: Size,
}

/// The measured outcome of an arm (saved as `result.json` in its run directory).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArmResult {
    /// The arm's name.
    pub name: String,
    /// Model parameters.
    pub params: usize,
    /// T-language QA accuracy on facts only A states.
    pub qa_t: f64,
    /// Its binomial standard error.
    pub qa_t_se: f64,
    /// A-language QA accuracy on the same facts.
    pub qa_a: f64,
    /// Questions.
    pub qa_n: usize,
    /// Accuracy of guessing.
    pub chance: f64,
    /// (step, T-validation loss).
    pub t_val: Vec<(f64, f64)>,
    /// (step, T-training loss).
    pub t_train: Vec<(f64, f64)>,
    /// Passes over the A windows.
    pub epochs_aux: f64,
    /// Passes over the T windows.
    pub epochs_target: f64,
    /// Share of draws from T.
    pub target_share: f64,
    /// Wall seconds of the arm.
    pub seconds: f64,
    /// Median training throughput (tokens/s).
    pub tokens_per_s: f64,
}

impl ArmResult {
    /// Last T-validation loss.
    pub fn val_final(&self) -> f64 {
        self.t_val.last().map(|p| p.1).unwrap_or(f64::NAN)
    }

    /// (step, loss) of the lowest T-validation loss.
    pub fn val_min(&self) -> (f64, f64) {
        self.t_val
            .iter()
            .copied()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((f64::NAN, f64::NAN))
    }

    /// Last T-training loss.
    pub fn train_final(&self) -> f64 {
        self.t_train.last().map(|p| p.1).unwrap_or(f64::NAN)
    }
}

/// Partial curves of an interrupted arm.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Curves {
    t_val: Vec<(f64, f64)>,
    t_train: Vec<(f64, f64)>,
}

/// Per closeness level: the language pair and its rendered token streams.
pub struct LevelData {
    /// A and T at this level.
    pub pair: BilingualPair,
    /// High-quality A corpus.
    pub a_high: Vec<u32>,
    /// Low-quality A corpus.
    pub a_low: Vec<u32>,
    /// T training corpus.
    pub t_train: Vec<u32>,
    /// T validation corpus.
    pub t_val: Vec<u32>,
    /// T-language questions on facts only A states.
    pub qa_t: Vec<QaItem>,
    /// A-language questions on the same facts.
    pub qa_a: Vec<QaItem>,
}

/// All the data of a run, drawn from `--seed`.
pub struct AuxData {
    /// The fact world.
    pub world: FactWorld,
    /// Facts the T corpus states.
    pub target_facts: FactSet,
    /// Closeness levels, closest first (C0, the plan's extra levels, C3).
    pub levels: Vec<Closeness>,
    /// Per level name (`C0`..`C3`).
    pub by_level: BTreeMap<&'static str, LevelData>,
}

fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(v)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The world, the T fact set, the four corpora (T train and validation, A high and low
/// quality) and, per closeness level, the language pair, its token streams and QA items.
pub fn build_data(plan: &AuxLangPlan, seed: u64) -> Result<AuxData> {
    let root = Seed::new(seed);
    let world = FactWorld::new(FactWorldConfig {
        seed,
        ..plan.world.clone()
    })?;
    let target_facts = FactSet::stratified(
        &world,
        plan.target_fact_fraction,
        root.derive("target-facts").value(),
    )?;
    let aux_only = target_facts.complement();
    let all = FactSet::all(&world);
    let tokens_total = plan.steps * plan.batch * (plan.seq + 1);
    // T corpus sized for `target_passes` passes at the bilingual ratio; A for about one pass.
    let t_symbols = (plan.target_ratio * tokens_total as f64 / plan.target_passes).ceil() as usize;
    let a_symbols = ((1.0 - plan.target_ratio) * tokens_total as f64).ceil() as usize;
    let t_docs = world.documents(
        &CorpusConfig::new(
            plan.q_target,
            t_symbols,
            root.derive("target-train-corpus").value(),
        ),
        &target_facts,
    )?;
    let v_docs = world.documents(
        &CorpusConfig::new(
            plan.q_target,
            plan.val_windows * (plan.seq + 1),
            root.derive("target-val-corpus").value(),
        ),
        &target_facts,
    )?;
    let a_hi_docs = world.documents(
        &CorpusConfig::new(
            plan.q_high,
            a_symbols,
            root.derive("aux-high-corpus").value(),
        ),
        &all,
    )?;
    let a_lo_docs = world.documents(
        &CorpusConfig::new(plan.q_low, a_symbols, root.derive("aux-low-corpus").value()),
        &all,
    )?;
    let mut levels = vec![Closeness::C0];
    levels.extend(plan.extra_levels.iter().copied());
    levels.push(Closeness::C3);
    let mut by_level = BTreeMap::new();
    for &level in &levels {
        let pair = BilingualPair::new(
            &world,
            &level.config(),
            root.derive("language-pair").value(),
        )?;
        let qa_t = qa_items(&world, pair.target(), &aux_only, None, seed)?;
        let qa_a = qa_items(&world, pair.aux(), &aux_only, None, seed)?;
        by_level.insert(
            level.name(),
            LevelData {
                a_high: pair.aux().stream(&a_hi_docs),
                a_low: pair.aux().stream(&a_lo_docs),
                t_train: pair.target().stream(&t_docs),
                t_val: pair.target().stream(&v_docs),
                qa_t,
                qa_a,
                pair,
            },
        );
    }
    let c0 = &by_level["C0"];
    eprintln!(
        "data: {} facts, T states {} ({:.0}%); A {} tokens, T {} tokens ({} windows), T-val {} tokens; vocab C0 {} C3 {}",
        world.n_facts(),
        target_facts.len(),
        100.0 * target_facts.fraction(),
        c0.a_high.len(),
        c0.t_train.len(),
        c0.t_train.len() / (plan.seq + 1),
        c0.t_val.len(),
        c0.pair.vocab_size(),
        by_level["C3"].pair.vocab_size()
    );
    Ok(AuxData {
        world,
        target_facts,
        levels,
        by_level,
    })
}

/// The arms: per level target-only and bilingual with high-quality A; bilingual with
/// low-quality A at C0 (every level if `low_quality_all_levels`); the large model on C0
/// bilingual high-quality.
pub fn arms(plan: &AuxLangPlan, levels: &[Closeness]) -> Vec<Arm> {
    let mut arms = Vec::new();
    for &level in levels {
        arms.push(Arm {
            name: format!("{}-target-only", level.name()),
            level,
            aux_q: None,
            size: Size::Small,
        });
        arms.push(Arm {
            name: format!("{}-bi-high", level.name()),
            level,
            aux_q: Some(plan.q_high),
            size: Size::Small,
        });
        if level == Closeness::C0 || plan.low_quality_all_levels {
            arms.push(Arm {
                name: format!("{}-bi-low", level.name()),
                level,
                aux_q: Some(plan.q_low),
                size: Size::Small,
            });
        }
    }
    arms.push(Arm {
        name: "C0-bi-high-large".into(),
        level: Closeness::C0,
        aux_q: Some(plan.q_high),
        size: Size::Large,
    });
    arms
}

/// Trains one arm (or, with `--resume`, continues it or reads back its finished result) and
/// measures it.
pub fn run_arm(
    run: &EvalRun,
    plan: &AuxLangPlan,
    arm: &Arm,
    data: &LevelData,
) -> Result<ArmResult> {
    let device = &run.device;
    let seed = run.seed();
    let dir = run.run_dir(&arm.name)?;
    if run.args.resume
        && let Some(done) = read_json::<ArmResult>(&dir.join("result.json"))
    {
        eprintln!("{}: already finished (resumed)", arm.name);
        return Ok(done);
    }
    let started = Instant::now();
    let aux_stream = match arm.aux_q {
        Some(q) if q == plan.q_low => &data.a_low,
        _ => &data.a_high,
    };
    let a_wins = windows(aux_stream, plan.seq);
    let t_wins = windows(&data.t_train, plan.seq);
    let v_wins = windows(&data.t_val, plan.seq);
    anyhow::ensure!(
        !a_wins.is_empty() && !t_wins.is_empty() && !v_wins.is_empty(),
        "{}: a corpus is shorter than one window of {} tokens",
        arm.name,
        plan.seq + 1
    );
    let ratio = if arm.aux_q.is_some() {
        plan.target_ratio
    } else {
        1.0
    };
    let mut sampler = MixSampler::with_target_ratio(a_wins.len(), t_wins.len(), ratio, seed)?;
    let sources = [a_wins, t_wins.clone()];

    let spec = match arm.size {
        Size::Small => &plan.small,
        Size::Large => &plan.large,
    };
    let ad = device.clone().autodiff();
    ad.seed(seed);
    let cfg = TransformerConfig::new(
        data.pair.vocab_size(),
        spec.d_model,
        HEADS,
        spec.layers,
        spec.d_ff,
        plan.seq,
    )
    .with_causal(true);
    let model = cfg.try_init(&ad)?;
    let params = model.num_params();
    let train_cfg = TrainConfig::new(plan.steps, spec.lr)
        .with_warmup_steps(plan.steps / 10)
        .with_checkpoint_every(Some(plan.eval_every * 4))
        .with_seed(seed)
        .with_label(arm.name.clone());
    let mut trainer = Trainer::new(model, train_cfg, &ad).with_dir(&dir)?;
    let resumed = trainer.resume()?;
    let curve_path = dir.join("curves.json");
    let mut curves = Curves::default();
    if resumed > 0 {
        eprintln!("{}: resumed from step {resumed}", arm.name);
        sampler.skip((resumed * plan.batch) as u64);
        if let Some(c) = read_json::<Curves>(&curve_path) {
            curves.t_val = c
                .t_val
                .into_iter()
                .filter(|p| p.0 <= resumed as f64)
                .collect();
            curves.t_train = c
                .t_train
                .into_iter()
                .filter(|p| p.0 <= resumed as f64)
                .collect();
        }
    }
    let t_train_eval: Vec<&[u32]> = t_wins.iter().copied().take(plan.val_windows).collect();
    let eval_curves = |m: &Transformer, step: usize, curves: &mut Curves| -> Result<()> {
        let v = mean_loss(m, &v_wins, EVAL_BATCH, device)?;
        let t = mean_loss(m, &t_train_eval, EVAL_BATCH, device)?;
        curves.t_val.push((step as f64, v));
        curves.t_train.push((step as f64, t));
        Ok(())
    };
    if resumed == 0 {
        eval_curves(&trainer.model().valid(), 0, &mut curves)?;
    }
    let mut tps = Vec::new();
    while !trainer.is_done() {
        let summary = trainer.run_steps(plan.eval_every, |m, _rng, _step| {
            let rows: Vec<&[u32]> = sampler
                .batch(plan.batch)
                .into_iter()
                .map(|(s, i)| sources[s][i])
                .collect();
            let loss = next_token_loss(m, token_batch(&rows, &ad)?)?;
            Ok(StepOutput::new(loss, plan.batch * plan.seq))
        })?;
        if summary.steps_run > 0 {
            tps.push(summary.items_per_s);
        }
        eval_curves(&trainer.model().valid(), trainer.step(), &mut curves)?;
        write_json(&curve_path, &curves)?;
    }
    let model = trainer.into_model().valid();
    let qa_t = qa_accuracy(&model, &data.qa_t, QA_BATCH, device)?;
    let qa_a = qa_accuracy(&model, &data.qa_a, QA_BATCH, device)?;
    let usage = sampler.usage();
    tps.sort_by(f64::total_cmp);
    let result = ArmResult {
        name: arm.name.clone(),
        params,
        qa_t: qa_t.accuracy,
        qa_t_se: qa_t.std_err(),
        qa_a: qa_a.accuracy,
        qa_n: qa_t.n,
        chance: qa_t.chance,
        t_val: curves.t_val,
        t_train: curves.t_train,
        epochs_aux: usage[0].epochs,
        epochs_target: usage[1].epochs,
        target_share: usage[1].share,
        seconds: started.elapsed().as_secs_f64(),
        tokens_per_s: tps.get(tps.len() / 2).copied().unwrap_or(f64::NAN),
    };
    write_json(&dir.join("result.json"), &result)?;
    eprintln!(
        "{}: QA_T {:.3} QA_A {:.3} (chance {:.3}); T-val final {:.3} min {:.3}; T epochs {:.1}; {:.1} s",
        arm.name,
        result.qa_t,
        result.qa_a,
        result.chance,
        result.val_final(),
        result.val_min().1,
        result.epochs_target,
        result.seconds
    );
    Ok(result)
}

/// Runs the aux-lang eval with `plan` and returns its report (written by
/// [`EvalRun::finish`]).
pub fn run(run: &EvalRun, plan: &AuxLangPlan) -> Result<Report> {
    let data = build_data(plan, run.seed())?;
    let arms = arms(plan, &data.levels);
    let mut results: BTreeMap<String, ArmResult> = BTreeMap::new();
    for arm in &arms {
        let r = run_arm(run, plan, arm, &data.by_level[arm.level.name()])?;
        results.insert(arm.name.clone(), r);
    }
    build_report(run, plan, &data, &arms, &results)
}

/// Claims (rules fixed before running), tables, metrics, figures and notes.
fn build_report(
    run: &EvalRun,
    plan: &AuxLangPlan,
    data: &AuxData,
    arms: &[Arm],
    results: &BTreeMap<String, ArmResult>,
) -> Result<Report> {
    let out = run.out();
    let levels = &data.levels;
    let c0 = &data.by_level["C0"];
    let r = |name: &str| -> Result<&ArmResult> {
        results
            .get(name)
            .with_context(|| format!("no arm `{name}`"))
    };
    let mut report = run.report(
        "P6",
        "Auxiliary-language data for a data-constrained target language",
    );
    let gain = |lvl: &str| -> Result<f64> {
        Ok(r(&format!("{lvl}-bi-high"))?.qa_t - r(&format!("{lvl}-target-only"))?.qa_t)
    };
    let (g_close, g_far) = (gain("C0")?, gain("C3")?);
    let (c0_hi, c0_t, c3_hi, c3_t) = (
        r("C0-bi-high")?,
        r("C0-target-only")?,
        r("C3-bi-high")?,
        r("C3-target-only")?,
    );
    let se_diff = (c0_hi.qa_t_se.powi(2)
        + c0_t.qa_t_se.powi(2)
        + c3_hi.qa_t_se.powi(2)
        + c3_t.qa_t_se.powi(2))
    .sqrt();
    report.add_claim(
        Claim::new(
            "4-close-gains-more",
            "Auxiliary-language data helps a close target language more than a distant one",
            "QA_T gain of bilingual (5% T + high-quality A) over target-only, at C0 (dialect); holds if > the gain at C3 (far)",
            g_close,
            g_close > g_far,
        )
        .baseline(g_far, "gain at C3")
        .detail(format!(
            "C0: {:.3} vs {:.3} target-only; C3: {:.3} vs {:.3}; difference {:.3} ± {:.3} (binomial SE, {} questions, chance {:.3})",
            c0_hi.qa_t,
            c0_t.qa_t,
            c3_hi.qa_t,
            c3_t.qa_t,
            g_close - g_far,
            se_diff,
            c0_hi.qa_n,
            c0_hi.chance
        )),
    );
    let (hq, lq) = (c0_hi, r("C0-bi-low")?);
    report.add_claim(
        Claim::new(
            "5-quality-helps-target",
            "Better (information-rich) auxiliary data improves the target language",
            format!(
                "QA_T at C0 with high-quality A (filler q = {}); holds if > with low-quality A (q = {})",
                plan.q_high, plan.q_low
            ),
            hq.qa_t,
            hq.qa_t > lq.qa_t,
        )
        .baseline(lq.qa_t, "low-quality A")
        .detail(format!(
            "difference {:.3} ± {:.3} (binomial SE); QA_A {:.3} (high) vs {:.3} (low)",
            hq.qa_t - lq.qa_t,
            (hq.qa_t_se.powi(2) + lq.qa_t_se.powi(2)).sqrt(),
            hq.qa_a,
            lq.qa_a
        )),
    );
    let (large, small) = (r("C0-bi-high-large")?, c0_hi);
    let (l_min_step, l_min) = large.val_min();
    let (s_min_step, s_min) = small.val_min();
    let turns_up = large.val_final() - l_min >= 0.01;
    let ends_worse =
        large.val_final() > small.val_final() && large.train_final() < small.train_final();
    report.add_claim(
        Claim::new(
            "6-large-overfits",
            "A larger model overfits the scarce target data",
            "final T-validation loss (nats/token) of the large model; holds if it is ≥ 0.01 above its own minimum, or above the small model's final loss while its T-training loss is below the small model's",
            large.val_final(),
            turns_up || ends_worse,
        )
        .baseline(small.val_final(), "small model's final T-val loss")
        .detail(format!(
            "large ({} params): min {:.4} at step {}, final {:.4}, T-train final {:.4}; small ({} params): min {:.4} at step {}, final {:.4}, T-train final {:.4}; T passes {:.1}; turns up: {turns_up}, ends worse while fitting T better: {ends_worse}",
            large.params,
            l_min,
            l_min_step,
            large.val_final(),
            large.train_final(),
            small.params,
            s_min,
            s_min_step,
            small.val_final(),
            small.train_final(),
            large.epochs_target
        )),
    );

    // Tables, metrics, figures.
    let mut table = Table::new(
        "Runs",
        [
            "run",
            "params",
            "QA_T",
            "QA_A",
            "T-val final",
            "T-val min",
            "T-train final",
            "T share",
            "T passes",
            "A passes",
            "seconds",
        ],
    );
    for arm in arms {
        let a = r(&arm.name)?;
        table.add_row(vec![
            Cell::from(&a.name),
            Cell::from(a.params),
            Cell::from(a.qa_t),
            Cell::from(a.qa_a),
            Cell::from(a.val_final()),
            Cell::from(a.val_min().1),
            Cell::from(a.train_final()),
            Cell::from(a.target_share),
            Cell::from(a.epochs_target),
            Cell::from(a.epochs_aux),
            Cell::from(a.seconds),
        ]);
    }
    report.add_table(table);
    let mut gains = Table::new(
        "QA_T by closeness (facts stated only in A)",
        [
            "level",
            "measured overlap",
            "vocab",
            "target-only",
            "bi, high-quality A",
            "bi, low-quality A",
            "gain (high)",
        ],
    );
    for &level in levels {
        let n = level.name();
        let low = results
            .get(&format!("{n}-bi-low"))
            .map(|a| a.qa_t)
            .unwrap_or(f64::NAN);
        let d = &data.by_level[n];
        gains.add_row(vec![
            Cell::from(format!("{n} ({})", level.label())),
            Cell::from(d.pair.measured_overlap()),
            Cell::from(d.pair.vocab_size()),
            Cell::from(r(&format!("{n}-target-only"))?.qa_t),
            Cell::from(r(&format!("{n}-bi-high"))?.qa_t),
            Cell::from(low),
            Cell::from(gain(n)?),
        ]);
    }
    report.add_table(gains);
    for a in results.values() {
        report.add_metric(format!("{}_qa_t", a.name), a.qa_t);
        report.add_metric(format!("{}_qa_a", a.name), a.qa_a);
        report.add_metric(format!("{}_tval_final", a.name), a.val_final());
    }
    let world = &data.world;
    report.add_metric("chance", small.chance);
    report.add_metric("qa_questions", small.qa_n as f64);
    report.add_metric("facts", world.n_facts() as f64);
    report.add_metric("target_facts", data.target_facts.len() as f64);
    report.add_metric("aux_tokens", c0.a_high.len() as f64);
    report.add_metric("target_tokens", c0.t_train.len() as f64);
    report.add_metric("small_tokens_per_s", small.tokens_per_s);
    report.add_metric("large_tokens_per_s", large.tokens_per_s);

    plot::line(
        out.join("t_val_curves.png"),
        &LinePlot {
            title: "T loss, C0 bilingual (5% T, high-quality A)".into(),
            x_label: "step".into(),
            y_label: "cross-entropy (nats/token)".into(),
            series: vec![
                Series::new("small: T-val", small.t_val.clone()),
                Series::new("large: T-val", large.t_val.clone()),
                Series::new("small: T-train", small.t_train.clone()),
                Series::new("large: T-train", large.t_train.clone()),
            ],
            log_x: false,
        },
    )
    .context("plotting T-validation curves")?;
    report.add_figure(Figure::new(
        "T-validation curves",
        "t_val_curves.png",
        "T-validation and T-training loss of the small and large model (claim 6)",
    ));
    // The same T-validation curves from a quarter of training on, where an upturn is visible.
    let tail = |c: &[(f64, f64)]| -> Vec<(f64, f64)> {
        c.iter()
            .copied()
            .filter(|p| p.0 >= plan.steps as f64 / 4.0)
            .collect()
    };
    plot::line(
        out.join("t_val_zoom.png"),
        &LinePlot {
            title: "T-validation loss after 25% of training, C0 bilingual".into(),
            x_label: "step".into(),
            y_label: "cross-entropy (nats/token)".into(),
            series: vec![
                Series::new(
                    format!("small ({} params)", small.params),
                    tail(&small.t_val),
                ),
                Series::new(
                    format!("large ({} params)", large.params),
                    tail(&large.t_val),
                ),
            ],
            log_x: false,
        },
    )
    .context("plotting T-validation tails")?;
    report.add_figure(Figure::new(
        "T-validation curves (zoom)",
        "t_val_zoom.png",
        "T-validation loss of the small and large model from 25% of training on (claim 6: an upturn is overfitting)",
    ));
    let t_only = c0_t;
    plot::line(
        out.join("repetition.png"),
        &LinePlot {
            title: "T loss at C0: target-only vs bilingual (small model)".into(),
            x_label: "step".into(),
            y_label: "cross-entropy (nats/token)".into(),
            series: vec![
                Series::new(
                    format!("target-only: T-val ({:.0} passes)", t_only.epochs_target),
                    t_only.t_val.clone(),
                ),
                Series::new("target-only: T-train", t_only.t_train.clone()),
                Series::new(
                    format!("bilingual: T-val ({:.0} passes)", small.epochs_target),
                    small.t_val.clone(),
                ),
                Series::new("bilingual: T-train", small.t_train.clone()),
            ],
            log_x: false,
        },
    )
    .context("plotting repetition curves")?;
    report.add_figure(Figure::new(
        "Repetition",
        "repetition.png",
        "Training on the scarce T corpus alone repeats it hundreds of times and overfits; the 5% mixture repeats it about 20 times",
    ));
    let groups: Vec<String> = levels
        .iter()
        .map(|l| format!("{} ({})", l.name(), l.label()))
        .collect();
    let series_for = |suffix: &str| -> Vec<f64> {
        levels
            .iter()
            .map(|l| {
                results
                    .get(&format!("{}-{suffix}", l.name()))
                    .map(|a| a.qa_t)
                    .unwrap_or(f64::NAN)
            })
            .collect()
    };
    plot::bar(
        out.join("qa_t.png"),
        &BarChart {
            title: "QA_T on facts stated only in A".into(),
            y_label: "accuracy".into(),
            groups,
            series: vec![
                ("target-only".into(), series_for("target-only")),
                ("bi, high-quality A".into(), series_for("bi-high")),
                ("bi, low-quality A".into(), series_for("bi-low")),
                ("chance".into(), vec![small.chance; levels.len()]),
            ],
        },
    )
    .context("plotting QA_T bars")?;
    report.add_figure(Figure::new(
        "QA_T by closeness",
        "qa_t.png",
        "T-language multiple-choice accuracy on facts only A states (claims 4 and 5)",
    ));
    let wc = world.config();
    report.add_note(format!(
        "World: {} topics x {} entities, {} relations x {} values ({} facts); T states {:.0}% of facts (stratified per entity), T filler q = {}; A covers all facts.",
        wc.n_topics,
        wc.entities_per_topic,
        wc.n_relations,
        wc.values_per_relation,
        world.n_facts(),
        100.0 * data.target_facts.fraction(),
        plan.q_target
    ));
    report.add_note(format!(
        "Training: {} steps of {} windows x {} tokens; bilingual runs draw {}% of windows from T (≈{} passes over {} T tokens); target-only runs draw only T. Small model d={} L={} (lr {}), large d={} L={} (lr {}); AdamW, warmup 10%, cosine to 10%, clip 1.0, no dropout.",
        plan.steps,
        plan.batch,
        plan.seq + 1,
        100.0 * plan.target_ratio,
        plan.target_passes,
        c0.t_train.len(),
        plan.small.d_model,
        plan.small.layers,
        plan.small.lr,
        plan.large.d_model,
        plan.large.layers,
        plan.large.lr
    ));
    Ok(report)
}
